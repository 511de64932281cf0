/*
** capture.c: activation capture for generate (see capture.h).
*/
#include "capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct capture_point {
  int after;                 /* program statement index */
  sqlite3_stmt *insert;
} capture_point;

struct capture {
  sqlite3 *db;
  int64_t run_id;
  capture_point *points;
  int n_points;
};

/* What a program statement writes into table `into` ("INSERT INTO act" or
** "INSERT INTO kv"): the first quoted name after its VALUES or SELECT, or 0
** if it writes none there.  Copies it into name. */
static int written(const char *sql, const char *into, char *name, size_t len){
  const char *p = strstr(sql, into);
  if( p == 0 ) return 0;
  const char *values = strstr(p, "VALUES"), *select = strstr(p, "SELECT");
  if( values && (select == 0 || values < select) ) p = values;
  else if( select ) p = select;
  const char *q = strchr(p, '\'');
  const char *end = q ? strchr(q + 1, '\'') : 0;
  if( end == 0 || (size_t)(end - q - 1) >= len ) return 0;
  snprintf(name, len, "%.*s", (int)(end - q - 1), q + 1);
  return 1;
}

static int written_act(const char *sql, char *name, size_t len){
  return written(sql, "INSERT INTO act", name, len);
}

static int written_kv(const char *sql, char *name, size_t len){
  return written(sql, "INSERT INTO kv", name, len);
}

/* The name a user captures an activation by. */
static void public_name(int layer, const char *act, char *out, size_t len){
  static const struct { const char *act, *alias; } aliases[] = {
    { "x", "resid" }, { "o", "attn_out" }, { "f", "ffn_out" },
  };
  if( layer < 0 ){
    snprintf(out, len, "%s", strcmp(act, "h") == 0 ? "final_norm" : act);
    return;
  }
  for(size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++){
    if( strcmp(act, aliases[i].act) == 0 ){
      snprintf(out, len, "blk.%d.%s", layer, aliases[i].alias);
      return;
    }
  }
  snprintf(out, len, "blk.%d.%s", layer, act);
}

static int matches(const char *patterns, const char *name){
  char *copy = strdup(patterns);
  int hit = 0;
  for(char *save = 0, *p = strtok_r(copy, ", ", &save); p && !hit; p = strtok_r(0, ", ", &save)){
    hit = sqlite3_strglob(p, name) == 0;
  }
  free(copy);
  return hit;
}

static int capture_add(capture *c, int after, const char *sql, int layer,
                       const char *name, const char *act, char **err){
  sqlite3_stmt *st = 0;
  if( sqlite3_prepare_v2(c->db, sql, -1, &st, 0) != SQLITE_OK ){
    *err = sqlite3_mprintf("capture %s: %s", name, sqlite3_errmsg(c->db));
    return -1;
  }
  capture_point *grown = sqlite3_realloc64(c->points, (uint64_t)(c->n_points + 1) * sizeof *grown);
  if( grown == 0 ){
    sqlite3_finalize(st);
    return -1;
  }
  c->points = grown;
  sqlite3_bind_int64(st, 1, c->run_id);
  sqlite3_bind_int(st, 2, layer);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, act, -1, SQLITE_TRANSIENT);
  c->points[c->n_points++] = (capture_point){ after, st };
  return 0;
}

/* One position's row of an activation, or the attention weights. */
static const char *const capture_row_sql =
  "INSERT INTO activation(run_id, pos, layer, name, shape, data)"
  " SELECT ?1, s.pos, nullif(?2, -1), ?3, json_array(a.cols), row_of(a.data, s.i)"
  " FROM act a, step s WHERE a.name = ?4";
static const char *const capture_weights_sql =
  "INSERT INTO activation(run_id, pos, layer, name, shape, data)"
  " SELECT ?1, s.pos, ?2, ?3, json_array((SELECT count(*) FROM head), s.pos + 1),"
  " attention_weights(q.data, k.data, s.i)"
  " FROM act q, kv k, step s WHERE q.name = 'q' AND k.layer = ?2 AND k.name = 'k'";

/* One position's row of the cache a statement wrote, k as cached (after
** RoPE): row pos of all the cached rows. */
static const char *const capture_cache_sql =
  "INSERT INTO activation(run_id, pos, layer, name, shape, data)"
  " SELECT ?1, s.pos, ?2, ?3, json_array(length(c.data) / 4 / c.positions),"
  " substr(c.data, s.pos * (length(c.data) / c.positions) + 1, length(c.data) / c.positions)"
  " FROM kv c, step s WHERE c.layer = ?2 AND c.name = ?4";

static int table_ready(sqlite3 *db, int64_t *run_id, char **err){
  if( sqlite3_exec(db, "SELECT 1 FROM activation LIMIT 0", 0, 0, 0) != SQLITE_OK
   && sqlite3_exec(db, "CREATE TABLE main.activation(run_id INTEGER, pos INTEGER,"
                       " layer INTEGER, name TEXT, shape TEXT, data BLOB)", 0, 0, 0) != SQLITE_OK ){
    *err = sqlite3_mprintf("capture: cannot create table activation: %s", sqlite3_errmsg(db));
    return -1;
  }
  sqlite3_stmt *st = 0;
  sqlite3_prepare_v2(db, "SELECT coalesce(max(run_id), 0) + 1 FROM activation", -1, &st, 0);
  *run_id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
  sqlite3_finalize(st);
  return 0;
}

/* Is statement i the last to write act name in its layer? */
static int last_write(int n, const char *const *sql, const int *layers, int i, const char *act){
  char other[32];
  for(int j = i + 1; j < n && layers[j] == layers[i]; j++){
    if( written_act(sql[j], other, sizeof other) && strcmp(other, act) == 0 ) return 0;
  }
  return 1;
}

/* Does statement i's layer write `name` into the cache?  Then the cache's
** row is what blk.N.k (or .v) captures, also in programs imported before
** k and v went straight there, which still pass them through act. */
static int layer_caches(int n, const char *const *sql, const int *layers, int i,
                        const char *name){
  char other[32];
  for(int j = 0; j < n; j++){
    if( layers[j] == layers[i] && written_kv(sql[j], other, sizeof other)
     && strcmp(other, name) == 0 ) return 1;
  }
  return 0;
}

/* The capture points of statement i: what it writes that patterns name. */
static int plan_statement(capture *c, const char *patterns, int n, const char *const *sql,
                          const int *layers, int i, char **err){
  char act[32], name[64];
  if( layers[i] >= 0 && written_kv(sql[i], act, sizeof act) ){
    public_name(layers[i], act, name, sizeof name);
    return matches(patterns, name) ? capture_add(c, i, capture_cache_sql, layers[i], name, act, err) : 0;
  }
  if( !written_act(sql[i], act, sizeof act) || !last_write(n, sql, layers, i, act)
   || (layers[i] >= 0 && layer_caches(n, sql, layers, i, act)) ) return 0;
  public_name(layers[i], act, name, sizeof name);
  if( matches(patterns, name) && capture_add(c, i, capture_row_sql, layers[i], name, act, err) ){
    return -1;
  }
  if( layers[i] < 0 || strcmp(act, "attn") != 0 ) return 0;
  snprintf(name, sizeof name, "blk.%d.attn_weights", layers[i]);
  return matches(patterns, name) ? capture_add(c, i, capture_weights_sql, layers[i], name, act, err) : 0;
}

capture *capture_plan(sqlite3 *db, const char *patterns, int n,
                      const char *const *sql, const int *layers, char **err){
  capture *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return 0;
  memset(c, 0, sizeof *c);
  c->db = db;
  if( table_ready(db, &c->run_id, err) ){
    capture_free(c);
    return 0;
  }
  for(int i = 0; i < n; i++){
    if( plan_statement(c, patterns, n, sql, layers, i, err) ) goto fail;
  }
  if( c->n_points == 0 ){
    *err = sqlite3_mprintf("capture: no activation matches '%s' (names are like"
                           " blk.0.resid, blk.3.attn_weights, final_norm, logits)", patterns);
    goto fail;
  }
  return c;
fail:
  capture_free(c);
  return 0;
}

int capture_after(capture *c, int i, char **err){
  for(int k = 0; k < c->n_points; k++){
    if( c->points[k].after != i ) continue;
    sqlite3_stmt *st = c->points[k].insert;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if( rc != SQLITE_DONE ){
      *err = sqlite3_mprintf("capture: %s", sqlite3_errmsg(c->db));
      return rc;
    }
  }
  return SQLITE_OK;
}

int64_t capture_run_id(const capture *c){
  return c->run_id;
}

void capture_free(capture *c){
  if( c == 0 ) return;
  for(int k = 0; k < c->n_points; k++) sqlite3_finalize(c->points[k].insert);
  sqlite3_free(c->points);
  sqlite3_free(c);
}
