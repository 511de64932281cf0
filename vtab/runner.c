/*
** runner.c: prepares the program's statements and runs a step (runner.h).
**
** The program is read from the caller's connection (so an edit made there,
** committed or not, is what runs) and prepared in the session's sandbox
** (sandbox.h), which refuses any statement that reaches beyond the model.
** Before a statement is accepted its query plan is checked too: a plan that
** sorts ("USE TEMP B-TREE") or materialises a subquery would turn tile
** pointers into NULLs (docs/ARCHITECTURE.md), so such a statement is
** refused with the plan line that offends, rather than failing mid-run.
*/
#include "runner.h"

#include "capture.h"
#include "clock.h"
#include "kernels/workers.h"
#include "sandbox.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

struct runner {
  capture *capture;            /* NULL unless activations are captured */
  int n;
  sqlite3_stmt **statements;  /* in the sandbox; steps and layers: session.profile */
  uint64_t program_hash;       /* of all the program's text, to notice edits */
  sqlite3_stmt *caller_probe;  /* SELECT 1 on the caller's connection: see sandbox_run */
};

void runner_free(runner *r){
  if( r == 0 ) return;
  capture_free(r->capture);
  sqlite3_finalize(r->caller_probe);
  for(int i = 0; i < r->n; i++) sqlite3_finalize(r->statements[i]);
  sqlite3_free(r->statements);
  sqlite3_free(r);
}

/* ---- the profile ---------------------------------------------------------- */

/* The step, layer, text and times of each statement.  The times outlive
** the runner (freed after every generate query), so the session keeps the
** profile until the program changes. */
struct runner_profile {
  int n;
  int *steps, *layers;
  char **sql;
  runner_time *times;
};

void runner_profile_free(runner_profile *p){
  if( p == 0 ) return;
  for(int i = 0; i < p->n; i++) sqlite3_free(p->sql[i]);
  sqlite3_free(p->sql);
  sqlite3_free(p->steps);
  sqlite3_free(p->layers);
  sqlite3_free(p->times);
  sqlite3_free(p);
}

/* An empty profile with room for count statements. */
static runner_profile *profile_new(int count){
  runner_profile *p = sqlite3_malloc(sizeof *p);
  if( p == 0 ) return 0;
  memset(p, 0, sizeof *p);
  p->steps = sqlite3_malloc64((uint64_t)count * sizeof *p->steps);
  p->layers = sqlite3_malloc64((uint64_t)count * sizeof *p->layers);
  p->sql = sqlite3_malloc64((uint64_t)count * sizeof *p->sql);
  p->times = sqlite3_malloc64((uint64_t)count * sizeof *p->times);
  if( !p->steps || !p->layers || !p->sql || !p->times ){
    runner_profile_free(p);
    return 0;
  }
  memset(p->times, 0, (size_t)count * sizeof *p->times);
  return p;
}

const runner_time *runner_statement(const session *s, int i, int *step, int *layer,
                                    const char **sql){
  const runner_profile *p = s->profile;
  if( p == 0 || i < 0 || i >= p->n ) return 0;
  *step = p->steps[i];
  *layer = p->layers[i];
  *sql = p->sql[i];
  return &p->times[i];
}

/* NULL if the plan is acceptable, else the offending plan line. */
static char *plan_problem(sqlite3 *db, const char *sql){
  char *eqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
  sqlite3_stmt *st = 0;
  char *problem = 0;
  if( eqp && sqlite3_prepare_v2(db, eqp, -1, &st, 0) == SQLITE_OK ){
    while( problem == 0 && sqlite3_step(st) == SQLITE_ROW ){
      const char *line = (const char*)sqlite3_column_text(st, 3);
      if( line && (strstr(line, "USE TEMP B-TREE") || strstr(line, "MATERIALIZE")) ){
        problem = sqlite3_mprintf("%s", line);
      }
    }
  }
  sqlite3_finalize(st);
  sqlite3_free(eqp);
  return problem;
}

/* Prepare one statement of the program in the sandbox and, when
** check_plan, check its plan.  SQLITE_OK, or an error with *problem saying
** why the statement is refused (sqlite3_malloc). */
static int statement_prepare(session *s, const char *sql, int check_plan, sqlite3_stmt **st,
                             char **problem){
  char *why = 0;
  int rc = sandbox_prepare(s->sandbox, sql, st, &why);
  if( rc != SQLITE_OK ){
    *problem = rc == SQLITE_AUTH ? sqlite3_mprintf("is refused: %s", why)
                                 : sqlite3_mprintf("does not prepare: %s", why);
    sqlite3_free(why);
    return rc;
  }
  char *line = check_plan ? plan_problem(sandbox_db(s->sandbox), sql) : 0;
  if( line ){
    *problem = sqlite3_mprintf("would sort or materialise (%s), which drops tile pointers;"
                               " rewrite it so the tensor table's order is used", line);
    sqlite3_free(line);
    sqlite3_finalize(*st);
    *st = 0;
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

char *runner_check(session *s, const char *sql){
  char *err = 0, *problem = 0;
  sqlite3_stmt *st = 0;
  if( runner_sandbox(s, &err) != SQLITE_OK ) return err;
  statement_prepare(s, sql, 1, &st, &problem);
  sqlite3_finalize(st);
  return problem;
}

/* "program step S (layer L)" + sep + text, sqlite3_malloc'd; statements
** outside the layers have no layer to name. */
static char *step_message(int step, int layer, const char *sep, const char *text){
  return layer >= 0 ? sqlite3_mprintf("program step %d (layer %d)%s%s", step, layer, sep, text)
                    : sqlite3_mprintf("program step %d%s%s", step, sep, text);
}

/* Prepare one statement; when p is not NULL (a new program), check its
** plan and note its step, layer and text there.  A program seen before
** was checked then, and asking its plans again took as long as preparing
** it: 10 ms a query for Qwen2.5-0.5B's 460 statements. */
static int runner_add(runner *r, runner_profile *p, session *s, int step, int layer,
                      const char *sql, char **err){
  sqlite3_stmt *st = 0;
  char *problem = 0;
  int rc = statement_prepare(s, sql, p != 0, &st, &problem);
  if( rc != SQLITE_OK ){
    *err = step_message(step, layer, " ", problem);
    sqlite3_free(problem);
    return rc;
  }
  r->statements[r->n++] = st;
  if( p == 0 ) return SQLITE_OK;
  p->steps[p->n] = step;
  p->layers[p->n] = layer;
  p->sql[p->n] = sqlite3_mprintf("%s", sqlite3_sql(st));
  return p->sql[p->n++] ? SQLITE_OK : SQLITE_NOMEM;
}

/* Hash of the program's text, and its row count. */
static int program_scan(sqlite3 *db, uint64_t *hash, int *count){
  sqlite3_stmt *st = 0;
  XXH3_state_t *h = XXH3_createState();
  XXH3_64bits_reset(h);
  *count = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT sql FROM main.program ORDER BY step", -1, &st, 0);
  while( rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW ){
    XXH3_64bits_update(h, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0) + 1);
    (*count)++;
  }
  sqlite3_finalize(st);
  *hash = XXH3_64bits_digest(h);
  XXH3_freeState(h);
  return rc;
}

static int runner_build(session *s, int count, uint64_t hash, char **err){
  runner *r = sqlite3_malloc(sizeof *r);
  if( r == 0 ) return SQLITE_NOMEM;
  memset(r, 0, sizeof *r);
  r->program_hash = hash;
  r->statements = sqlite3_malloc64((uint64_t)count * sizeof *r->statements);
  /* A different program pins tiles in a different order, and takes its
  ** own time: it gets a profile of its own. */
  int fresh = hash != s->program_hash || s->profile == 0;
  runner_profile *p = fresh ? profile_new(count) : 0;
  if( r->statements == 0 || (fresh && p == 0)
   || sqlite3_prepare_v2(s->db, "SELECT 1", -1, &r->caller_probe, 0) != SQLITE_OK ){
    runner_free(r);
    return SQLITE_NOMEM;
  }
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(s->db, "SELECT step, coalesce(layer, -1), sql FROM main.program"
                              " ORDER BY step", -1, &st, 0);
  while( rc == SQLITE_OK && r->n < count && sqlite3_step(st) == SQLITE_ROW ){
    rc = runner_add(r, p, s, sqlite3_column_int(st, 0), sqlite3_column_int(st, 1),
                    (const char*)sqlite3_column_text(st, 2), err);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_OK ){
    runner_profile_free(p);
    runner_free(r);
    return rc;
  }
  if( fresh ){
    runner_profile_free(s->profile);
    s->profile = p;
    tile_manager_reset_schedules(s->model->tiles);
  }
  runner_free(s->runner);
  s->runner = r;
  s->program_hash = hash;
  return SQLITE_OK;
}

int runner_sandbox(session *s, char **err){
  if( s->sandbox == 0 ) s->sandbox = sandbox_open(s, err);
  return s->sandbox ? SQLITE_OK : SQLITE_ERROR;
}

int runner_ready(session *s, char **err){
  uint64_t hash;
  int count;
  if( runner_sandbox(s, err) != SQLITE_OK ) return SQLITE_ERROR;
  if( program_scan(s->db, &hash, &count) != SQLITE_OK || count == 0 ){
    *err = sqlite3_mprintf("this model has no program table");
    return SQLITE_ERROR;
  }
  if( s->runner && s->runner->program_hash == hash ) return SQLITE_OK;
  return runner_build(s, count, hash, err);
}

int runner_step(session *s, int64_t pos0, const int *tokens, int64_t n, char **err){
  runner *r = s->runner;
  if( state_step(s->state, pos0, tokens, n) ){
    *err = sqlite3_mprintf("cannot run positions %lld..%lld: the context holds %lld",
                           (long long)pos0, (long long)(pos0 + n - 1), (long long)s->state->kv_max);
    return SQLITE_ERROR;
  }
  runner_profile *p = s->profile;
  tile_manager *tiles = s->model->tiles;
  workers_set_spin(!tile_manager_begin_step(tiles, n > 1));
  for(int i = 0; i < r->n; i++){
    double start = clock_seconds();
    char *why = 0;
    state_scratch_open(s->state);
    int rc = sandbox_run(s->sandbox, r->statements[i], r->caller_probe, &why);
    state_scratch_close(s->state);
    p->times[i].calls[n > 1]++;
    p->times[i].seconds[n > 1] += clock_seconds() - start;
    if( rc != SQLITE_OK ){
      tile_manager_end_step(tiles);
      *err = step_message(p->steps[i], p->layers[i], ": ", why);
      sqlite3_free(why);
      return rc;
    }
    if( r->capture && (rc = capture_after(r->capture, i, err)) != SQLITE_OK ){
      tile_manager_end_step(tiles);
      return rc;
    }
  }
  tile_manager_end_step(tiles);
  state_step_done(s->state);
  return SQLITE_OK;
}

int64_t runner_capture(session *s, const char *patterns, char **err){
  runner *r = s->runner;
  capture_free(r->capture);
  r->capture = 0;
  s->state->all_logits = patterns != 0;
  if( patterns == 0 ) return 0;
  const runner_profile *p = s->profile;
  r->capture = capture_plan(s->db, patterns, r->n, (const char *const *)p->sql, p->layers, err);
  return r->capture ? capture_run_id(r->capture) : -1;
}

const float *runner_logits(session *s, int64_t *count){
  state_act *a = state_act_find(s->state, "logits");
  if( a == 0 || a->rows == 0 ) return 0;
  *count = a->cols;
  return state_act_data(a) + (a->rows - 1) * a->cols;
}
