/*
** profile.c: where a step's time goes, statement by statement.
**
**   SELECT step, layer, decode_seconds / decode_calls * 1e6 AS us, sql
**     FROM program_profile ORDER BY decode_seconds DESC LIMIT 10;
**
** program_profile has one row per statement of the prepared program (a
** row of the `program` table): step, layer (NULL outside the layers), decode_calls and decode_seconds (steps
** of one position), prefill_calls and prefill_seconds (steps of several),
** and sql.  The clock runs from the first step of the program on this
** connection, and starts over when the program is edited.
*/
#include "extension.h"

#include <string.h>

#include "runner.h"

enum { COL_STEP, COL_LAYER, COL_DECODE_CALLS, COL_DECODE_SECONDS,
       COL_PREFILL_CALLS, COL_PREFILL_SECONDS, COL_SQL };

typedef struct profile_vtab {
  sqlite3_vtab base;
  session *session;
} profile_vtab;

typedef struct profile_cursor {
  sqlite3_vtab_cursor base;
  int i;                       /* the statement under the cursor */
} profile_cursor;

/* xConnect */
static int profile_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                           sqlite3_vtab **out, char **err){
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(step INTEGER, layer INTEGER,"
                                " decode_calls INTEGER, decode_seconds REAL,"
                                " prefill_calls INTEGER, prefill_seconds REAL, sql TEXT)");
  if( rc != SQLITE_OK ) return rc;
  profile_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = aux;
  *out = &v->base;
  return SQLITE_OK;
}

/* xDisconnect */
static int profile_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* xBestIndex: a full scan, always. */
static int profile_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  info->estimatedCost = 1000;
  info->estimatedRows = 500;
  return SQLITE_OK;
}

/* xOpen */
static int profile_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  profile_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

/* xClose */
static int profile_close(sqlite3_vtab_cursor *cur){
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* xFilter */
static int profile_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                          int argc, sqlite3_value **argv){
  ((profile_cursor*)cur)->i = 0;
  return SQLITE_OK;
}

/* xNext */
static int profile_next(sqlite3_vtab_cursor *cur){
  ((profile_cursor*)cur)->i++;
  return SQLITE_OK;
}

/* xEof */
static int profile_eof(sqlite3_vtab_cursor *cur){
  const session *s = ((profile_vtab*)cur->pVtab)->session;
  int step, layer;
  const char *sql;
  return runner_statement(s, ((profile_cursor*)cur)->i, &step, &layer, &sql) == 0;
}

/* xColumn */
static int profile_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  const session *s = ((profile_vtab*)cur->pVtab)->session;
  int step, layer;
  const char *sql;
  const runner_time *t = runner_statement(s, ((profile_cursor*)cur)->i, &step, &layer, &sql);
  if( t == 0 ) return SQLITE_OK;
  switch( col ){
    case COL_STEP:            sqlite3_result_int(ctx, step); break;
    case COL_LAYER:           if( layer >= 0 ) sqlite3_result_int(ctx, layer); break;
    case COL_DECODE_CALLS:    sqlite3_result_int64(ctx, t->calls[0]); break;
    case COL_DECODE_SECONDS:  sqlite3_result_double(ctx, t->seconds[0]); break;
    case COL_PREFILL_CALLS:   sqlite3_result_int64(ctx, t->calls[1]); break;
    case COL_PREFILL_SECONDS: sqlite3_result_double(ctx, t->seconds[1]); break;
    case COL_SQL:             sqlite3_result_text(ctx, sql, -1, SQLITE_TRANSIENT); break;
  }
  return SQLITE_OK;
}

/* xRowid */
static int profile_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  *rowid = ((profile_cursor*)cur)->i;
  return SQLITE_OK;
}

static sqlite3_module profile_module = {
  .xConnect = profile_connect,
  .xBestIndex = profile_best_index,
  .xDisconnect = profile_disconnect,
  .xOpen = profile_open,
  .xClose = profile_close,
  .xFilter = profile_filter,
  .xNext = profile_next,
  .xEof = profile_eof,
  .xColumn = profile_column,
  .xRowid = profile_rowid,
};

int profile_register(sqlite3 *db, session *s){
  return sqlite3_create_module(db, "program_profile", &profile_module, s);
}
