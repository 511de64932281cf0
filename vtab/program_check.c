/*
** program_check.c: the statements of a model's program that tensql would
** refuse to run, and why, found without running any of them.
**
**   SELECT step, layer, problem FROM program_check;
**   -- 3|0|is refused: it calls readfile(), which is not a tensql function
**   --      or one of SQLite's pure built-ins
**
** One row per refused statement of `program`; no rows means the program
** would run.  `generate` refuses a model whose program has any such row
** before running a statement of it.  A statement is refused if the
** sandbox refuses it (vtab/sandbox.h: anything beyond the tensor tables,
** step, head, act and kv, and tensql's and SQLite's pure functions), if it
** does not prepare, or if its query plan would sort or materialise tile
** pointers.  `tensql info` prints these rows.
*/
#include "extension.h"

#include <string.h>

#include "runner.h"

enum { CHECK_STEP, CHECK_LAYER, CHECK_PROBLEM, CHECK_SQL };

typedef struct check_vtab {
  sqlite3_vtab base;
  session *session;
} check_vtab;

typedef struct check_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *program;     /* on the caller's connection: the rows to check */
  char *problem;             /* the current row's; NULL at the end */
  int64_t rowid;
} check_cursor;

/* xConnect */
static int check_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **err){
  session *s = aux;
  if( session_model(s, err) == 0 ) return SQLITE_ERROR;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(step INTEGER, layer INTEGER,"
                                    " problem TEXT, sql TEXT)");
  if( rc != SQLITE_OK ) return rc;
  check_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = s;
  *out = &v->base;
  return SQLITE_OK;
}

/* xDisconnect */
static int check_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* xBestIndex: one plan, a full scan in program order. */
static int check_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  info->estimatedCost = 1e6;
  return SQLITE_OK;
}

/* xOpen */
static int check_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  check_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

/* xClose */
static int check_close(sqlite3_vtab_cursor *cur){
  check_cursor *c = (check_cursor*)cur;
  sqlite3_finalize(c->program);
  sqlite3_free(c->problem);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* xNext: on to the next statement the sandbox refuses. */
static int check_next(sqlite3_vtab_cursor *cur){
  check_cursor *c = (check_cursor*)cur;
  session *s = ((check_vtab*)cur->pVtab)->session;
  sqlite3_free(c->problem);
  c->problem = 0;
  int rc = SQLITE_DONE;
  while( c->problem == 0 && (rc = sqlite3_step(c->program)) == SQLITE_ROW ){
    c->problem = runner_check(s, (const char*)sqlite3_column_text(c->program, CHECK_SQL));
  }
  c->rowid++;
  return c->problem || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* xFilter */
static int check_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                        int argc, sqlite3_value **argv){
  check_cursor *c = (check_cursor*)cur;
  session *s = ((check_vtab*)cur->pVtab)->session;
  sqlite3_finalize(c->program);
  c->program = 0;
  c->rowid = 0;
  /* the columns in the table's order, so that xColumn can pass them on */
  if( sqlite3_prepare_v2(s->db, "SELECT step, layer, NULL, sql FROM main.program ORDER BY step",
                         -1, &c->program, 0) != SQLITE_OK ){
    sqlite3_free(cur->pVtab->zErrMsg);
    cur->pVtab->zErrMsg = sqlite3_mprintf("program_check: %s", sqlite3_errmsg(s->db));
    return SQLITE_ERROR;
  }
  return check_next(cur);
}

/* xEof */
static int check_eof(sqlite3_vtab_cursor *cur){
  return ((check_cursor*)cur)->problem == 0;
}

/* xColumn */
static int check_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  check_cursor *c = (check_cursor*)cur;
  if( col == CHECK_PROBLEM ) sqlite3_result_text(ctx, c->problem, -1, SQLITE_TRANSIENT);
  else sqlite3_result_value(ctx, sqlite3_column_value(c->program, col));
  return SQLITE_OK;
}

/* xRowid */
static int check_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  *rowid = ((check_cursor*)cur)->rowid;
  return SQLITE_OK;
}

static sqlite3_module check_module = {
  .xConnect = check_connect,       /* eponymous only: no xCreate */
  .xBestIndex = check_best_index,
  .xDisconnect = check_disconnect,
  .xOpen = check_open,
  .xClose = check_close,
  .xFilter = check_filter,
  .xNext = check_next,
  .xEof = check_eof,
  .xColumn = check_column,
  .xRowid = check_rowid,
};

int program_check_register(sqlite3 *db, session *s){
  if( s->model == 0 ) return SQLITE_OK;
  return sqlite3_create_module(db, "program_check", &check_module, s);
}
