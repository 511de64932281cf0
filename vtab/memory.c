/*
** memory.c: the memory budget and the tile manager, from SQL.
**
**   SELECT tensql_budget('300M');   -- the process-wide budget; '0' = none;
**                                   -- also starts tile_stats' peaks over
**   SELECT tensql_budget();         -- the budget in bytes (0 = none)
**   SELECT tensql_policy('lru');    -- eviction: 'opt' (Bélády, default), 'lru',
**                                   -- or 'os' (the OS page cache caches)
**   SELECT tensql_prefetch(0);      -- read-ahead thread on (1) or off (0)
**   SELECT * FROM tile_stats;       -- one row of counters for this model
**
** tile_stats: hits, misses, prefetch_hits, prefetch_wakes, bytes_read, evictions,
** resident_bytes, peak_resident_bytes, peak_total_bytes (tiles plus KV
** cache and activations), other_bytes (KV cache and activations now),
** schedule_length (tiles a decode step pins), budget, sqlite_reads (tiles
** read through SQLite rather than as a run of pages), policy, prefetch,
** io ('direct': runs of pages with O_DIRECT; 'buffered': the file system
** refused O_DIRECT; 'sqlite': every tile through SQLite, as in WAL mode).
*/
#include "extension.h"

#include <string.h>

#include "memory/budget.h"

static void budget_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  if( argc == 1 ){
    int64_t bytes = sqlite3_value_type(argv[0]) == SQLITE_INTEGER
                  ? sqlite3_value_int64(argv[0])
                  : budget_parse((const char*)sqlite3_value_text(argv[0]));
    if( bytes < 0 ){
      sqlite3_result_error(ctx, "tensql_budget: expected a size such as '300M', '1.5G'"
                                " or a number of bytes (0 = no budget)", -1);
      return;
    }
    budget_set((uint64_t)bytes);
    session *s = sqlite3_user_data(ctx);
    if( s->model ) tile_manager_budget_changed(s->model->tiles);
  }
  sqlite3_result_int64(ctx, (int64_t)budget_get());
}

static void policy_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  if( argc == 1 ){
    int policy = budget_policy_parse((const char*)sqlite3_value_text(argv[0]));
    if( policy < 0 ){
      sqlite3_result_error(ctx, "tensql_policy: 'opt', 'lru' or 'os'", -1);
      return;
    }
    budget_set_policy((budget_policy)policy);
  }
  sqlite3_result_text(ctx, budget_policy_name(budget_get_policy()), -1, SQLITE_STATIC);
}

static void prefetch_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  if( argc == 1 ) budget_set_prefetch(sqlite3_value_int(argv[0]));
  sqlite3_result_int(ctx, budget_get_prefetch());
}

/* ---- tile_stats ---------------------------------------------------------- */

static const char *const stat_columns[] = {
  "hits", "misses", "prefetch_hits", "prefetch_wakes", "bytes_read", "evictions",
  "resident_bytes", "peak_resident_bytes", "peak_total_bytes", "other_bytes",
  "schedule_length", "budget", "sqlite_reads", "policy", "prefetch", "io"
};
#define N_STAT_COLUMNS (int)(sizeof stat_columns / sizeof stat_columns[0])

typedef struct stats_vtab {
  sqlite3_vtab base;
  session *session;
} stats_vtab;

typedef struct stats_cursor {
  sqlite3_vtab_cursor base;
  int done;
  tile_stats stats;
} stats_cursor;

/* xConnect */
static int stats_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **err){
  session *s = aux;
  if( session_model(s, err) == 0 ) return SQLITE_ERROR;
  sqlite3_str *schema = sqlite3_str_new(0);
  sqlite3_str_appendall(schema, "CREATE TABLE x(");
  for(int i = 0; i < N_STAT_COLUMNS; i++){
    sqlite3_str_appendf(schema, "%s%s", i ? ", " : "", stat_columns[i]);
  }
  sqlite3_str_appendall(schema, ")");
  char *sql = sqlite3_str_finish(schema);
  int rc = sql ? sqlite3_declare_vtab(db, sql) : SQLITE_NOMEM;
  sqlite3_free(sql);
  if( rc != SQLITE_OK ) return rc;
  stats_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = s;
  *out = &v->base;
  return SQLITE_OK;
}

/* xDisconnect */
static int stats_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* xBestIndex: one row, nothing to choose. */
static int stats_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  info->estimatedCost = 1;
  info->estimatedRows = 1;
  return SQLITE_OK;
}

/* xOpen */
static int stats_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  stats_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

/* xClose */
static int stats_close(sqlite3_vtab_cursor *cur){
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* xFilter: a snapshot of the counters. */
static int stats_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                        int argc, sqlite3_value **argv){
  stats_cursor *c = (stats_cursor*)cur;
  stats_vtab *v = (stats_vtab*)cur->pVtab;
  tile_manager_stats(v->session->model->tiles, &c->stats);
  c->done = 0;
  return SQLITE_OK;
}

/* xNext */
static int stats_next(sqlite3_vtab_cursor *cur){
  ((stats_cursor*)cur)->done = 1;
  return SQLITE_OK;
}

/* xEof */
static int stats_eof(sqlite3_vtab_cursor *cur){
  return ((stats_cursor*)cur)->done;
}

/* xColumn */
static int stats_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  const tile_stats *t = &((stats_cursor*)cur)->stats;
  const uint64_t values[] = {
    t->hits, t->misses, t->prefetch_hits, t->prefetch_wakes, t->bytes_read, t->evictions,
    t->resident_bytes, t->peak_resident_bytes, t->peak_total_bytes, budget_other(),
    t->schedule_length, budget_get(), t->sqlite_reads
  };
  if( col < (int)(sizeof values / sizeof values[0]) ){
    sqlite3_result_int64(ctx, (int64_t)values[col]);
  }else if( strcmp(stat_columns[col], "policy") == 0 ){
    sqlite3_result_text(ctx, budget_policy_name(budget_get_policy()), -1, SQLITE_STATIC);
  }else if( strcmp(stat_columns[col], "io") == 0 ){
    sqlite3_result_text(ctx, tile_io_name(t->io), -1, SQLITE_STATIC);
  }else{
    sqlite3_result_int(ctx, budget_get_prefetch());
  }
  return SQLITE_OK;
}

/* xRowid */
static int stats_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  *rowid = 1;
  return SQLITE_OK;
}

static sqlite3_module stats_module = {
  .xConnect = stats_connect,
  .xBestIndex = stats_best_index,
  .xDisconnect = stats_disconnect,
  .xOpen = stats_open,
  .xClose = stats_close,
  .xFilter = stats_filter,
  .xNext = stats_next,
  .xEof = stats_eof,
  .xColumn = stats_column,
  .xRowid = stats_rowid,
};

int memory_register(sqlite3 *db, session *s){
  const struct { const char *name; int n_args; void (*fn)(sqlite3_context*, int, sqlite3_value**); } fns[] = {
    { "tensql_budget", 0, budget_fn }, { "tensql_budget", 1, budget_fn },
    { "tensql_policy", 0, policy_fn }, { "tensql_policy", 1, policy_fn },
    { "tensql_prefetch", 0, prefetch_fn }, { "tensql_prefetch", 1, prefetch_fn },
  };
  int rc = SQLITE_OK;
  for(size_t i = 0; rc == SQLITE_OK && i < sizeof fns / sizeof fns[0]; i++){
    rc = sqlite3_create_function(db, fns[i].name, fns[i].n_args, SQLITE_UTF8, s, fns[i].fn, 0, 0);
  }
  if( rc == SQLITE_OK && s->model ) rc = sqlite3_create_module(db, "tile_stats", &stats_module, s);
  return rc;
}
