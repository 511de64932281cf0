/*
** sandbox.c: the connection a model's program runs on (sandbox.h).
**
** The program's statements are prepared and stepped here, never on the
** caller's connection.  A caller sees what the sandbox refuses as an error
** naming the program step, before the model runs a single statement:
**
**   SELECT text FROM generate WHERE prompt = 'Hi';
**   -- Error: program step 3 is refused: it calls readfile(), which is not a
**   --   tensql function or one of SQLite's pure built-ins
**
** and `SELECT step, layer, problem FROM program_check` lists every such row
** of a model without running it.
**
** How it works.  The sandbox is an in-memory database, so a program that
** got past every check would still find no file to write.  On it:
**   - the tensor tables, step, head, temp.act and temp.kv (with the
**     session of the caller, so both connections see one model and state),
**     and tensql's kernel and analysis functions;
**   - SQLITE_DBCONFIG_DEFENSIVE on, TRUSTED_SCHEMA and extension loading
**     off, no attached databases;
**   - an authorizer, consulted while a statement is prepared, which admits
**     reads of those tables, INSERT into temp.act and temp.kv, the
**     functions registered on this connection (tensql's: nothing else can
**     register one here) and SQLite's pure built-ins, and refuses all else:
**     ATTACH, PRAGMA, DDL, triggers, transactions, recursive CTEs, other
**     writes and other functions;
**   - a progress handler, which stops a statement after
**     SANDBOX_STATEMENT_LIMIT instructions, or when the caller's own
**     connection is interrupted.
*/
#include "sandbox.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The progress handler runs every SANDBOX_TICK instructions. */
#define SANDBOX_TICK 10000

enum { STOP_NONE, STOP_LIMIT, STOP_CALLER };

struct sandbox {
  sqlite3 *db;               /* in-memory; owns nothing of the session */
  session *session;
  char **functions;          /* names registered here, so tensql's */
  int n_functions;
  char denied[200];          /* why the authorizer refused: its first reason */
  int64_t ticks;             /* progress-handler calls in this statement */
  int stop;                  /* why the statement was stopped: STOP_... */
  sqlite3_stmt *caller_probe;
};

/* ---- the authorizer ----------------------------------------------------- */

/* SQLite's built-in functions that compute a value from their arguments
** and nothing else (no clock, no randomness, no files, no connection
** state), sorted for bsearch. */
static const char *const pure_builtins[] = {
  "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "avg",
  "ceil", "ceiling", "char", "coalesce", "cos", "cosh", "count", "degrees",
  "exp", "floor", "format", "glob", "group_concat", "hex", "ifnull", "iif",
  "instr", "json", "json_array", "json_array_length", "json_extract",
  "json_group_array", "json_group_object", "json_insert", "json_object",
  "json_patch", "json_quote", "json_remove", "json_replace", "json_set",
  "json_type", "json_valid", "length", "like", "likelihood", "likely", "ln",
  "log", "log10", "log2", "lower", "ltrim", "max", "min", "mod", "nullif",
  "pi", "pow", "power", "printf", "quote", "radians", "replace", "round",
  "rtrim", "sign", "sin", "sinh", "sqrt", "substr", "substring", "sum", "tan",
  "tanh", "total", "trim", "trunc", "typeof", "unicode", "unlikely", "upper",
};

static int name_compare(const void *key, const void *entry){
  return sqlite3_stricmp(key, *(const char *const *)entry);
}

static int function_allowed(const sandbox *sb, const char *name){
  if( bsearch(name, pure_builtins, sizeof pure_builtins / sizeof pure_builtins[0],
              sizeof pure_builtins[0], name_compare) ) return 1;
  for(int i = 0; i < sb->n_functions; i++){
    if( sqlite3_stricmp(name, sb->functions[i]) == 0 ) return 1;
  }
  return 0;
}

/* By name alone: the sandbox holds no other tables of these names (its
** main database is in memory, and the program can neither attach nor
** create one), and SQLite names no schema for a table whose columns a
** statement does not use. */
static int table_readable(const sandbox *sb, const char *table){
  static const char *const state_tables[] = { "step", "head", "act", "kv" };
  for(size_t i = 0; i < sizeof state_tables / sizeof state_tables[0]; i++){
    if( strcmp(table, state_tables[i]) == 0 ) return 1;
  }
  return model_find_tensor(sb->session->model, table) != 0;
}

static int table_writable(const char *table, const char *schema){
  return schema && strcmp(schema, "temp") == 0 && (strcmp(table, "act") == 0 || strcmp(table, "kv") == 0);
}

/* What an authorizer action does, for the message. */
static const char *action_name(int action){
  switch( action ){
    case SQLITE_ATTACH: return "attaches a database";
    case SQLITE_DETACH: return "detaches a database";
    case SQLITE_PRAGMA: return "runs a PRAGMA";
    case SQLITE_TRANSACTION: case SQLITE_SAVEPOINT: return "controls transactions";
    case SQLITE_CREATE_TEMP_TRIGGER: case SQLITE_CREATE_TRIGGER: return "creates a trigger";
    case SQLITE_UPDATE: return "updates a table";
    case SQLITE_DELETE: return "deletes from a table";
    case SQLITE_RECURSIVE: return "uses a recursive common table expression, which may never end";
    case SQLITE_ANALYZE: case SQLITE_REINDEX: return "maintains the database";
    default: return "changes the schema";
  }
}

/* Refuse, remembering why.  SQLite asks no more once one is refused. */
static int deny(sandbox *sb, const char *fmt, ...){
  if( sb->denied[0] == 0 ){
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sb->denied, sizeof sb->denied, fmt, ap);
    va_end(ap);
  }
  return SQLITE_DENY;
}

/* xAuth: called by SQLite while it prepares a statement here. */
static int sandbox_authorize(void *arg, int action, const char *a, const char *b,
                             const char *schema, const char *trigger){
  sandbox *sb = arg;
  if( a && sqlite3_strnicmp(a, "sqlite_", 7) == 0 ){
    return deny(sb, "it reads or writes SQLite's schema");
  }
  switch( action ){
    case SQLITE_SELECT: return SQLITE_OK;
    case SQLITE_READ:
      return table_readable(sb, a) ? SQLITE_OK : deny(sb, "it reads table %s", a);
    case SQLITE_INSERT:
      return table_writable(a, schema) ? SQLITE_OK
           : deny(sb, "it writes to table %s; a program writes only act and kv", a);
    case SQLITE_FUNCTION:
      return function_allowed(sb, b) ? SQLITE_OK
           : deny(sb, "it calls %s(), which is not a tensql function or one of SQLite's"
                      " pure built-ins", b);
    default:
      return deny(sb, "it %s", action_name(action));
  }
}

/* ---- the bound on a statement ------------------------------------------- */

static int sandbox_progress(void *arg){
  sandbox *sb = arg;
  if( ++sb->ticks > SANDBOX_STATEMENT_LIMIT / SANDBOX_TICK ){
    sb->stop = STOP_LIMIT;
    return 1;
  }
  /* An interrupted connection fails every statement it steps while its
  ** running statement (the generate query) is active. */
  if( sb->caller_probe ){
    int rc = sqlite3_step(sb->caller_probe);
    sqlite3_reset(sb->caller_probe);
    if( rc == SQLITE_INTERRUPT ){
      sb->stop = STOP_CALLER;
      return 1;
    }
  }
  return 0;
}

int sandbox_run(sandbox *sb, sqlite3_stmt *st, sqlite3_stmt *caller_probe, char **why){
  sb->ticks = 0;
  sb->stop = STOP_NONE;
  sb->caller_probe = caller_probe;
  int rc;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){}
  sqlite3_reset(st);
  sb->caller_probe = 0;
  if( rc == SQLITE_DONE ) return SQLITE_OK;
  if( sb->stop == STOP_LIMIT ){
    *why = sqlite3_mprintf("stopped after %d instructions, the bound on one statement",
                           SANDBOX_STATEMENT_LIMIT);
  }else if( sb->stop == STOP_CALLER ){
    *why = sqlite3_mprintf("interrupted");
  }else{
    *why = sqlite3_mprintf("%s", sqlite3_errmsg(sb->db));
  }
  return rc;
}

/* Whether text holds nothing but spaces, comments and semicolons. */
static int only_comments(const char *text){
  while( *text ){
    if( *text == ';' || *text == ' ' || *text == '\t' || *text == '\n' || *text == '\r' ){
      text++;
    }else if( text[0] == '-' && text[1] == '-' ){
      text += strcspn(text, "\n");
    }else if( text[0] == '/' && text[1] == '*' && strstr(text + 2, "*/") ){
      text = strstr(text + 2, "*/") + 2;
    }else{
      return 0;
    }
  }
  return 1;
}

int sandbox_prepare(sandbox *sb, const char *sql, sqlite3_stmt **st, char **why){
  const char *tail = 0;
  sb->denied[0] = 0;
  *st = 0;
  int rc = sqlite3_prepare_v2(sb->db, sql ? sql : "", -1, st, &tail);
  if( rc == SQLITE_OK && (*st == 0 || !only_comments(tail)) ){
    *why = sqlite3_mprintf(*st ? "it holds more than one statement" : "it holds no statement");
    sqlite3_finalize(*st);
    *st = 0;
    return SQLITE_ERROR;
  }
  if( rc == SQLITE_OK ) return SQLITE_OK;
  *why = sqlite3_mprintf("%s", sb->denied[0] ? sb->denied : sqlite3_errmsg(sb->db));
  return sb->denied[0] ? SQLITE_AUTH : rc;
}

/* ---- opening ------------------------------------------------------------ */

/* The functions registered on the sandbox, which can only be tensql's. */
static int functions_read(sandbox *sb){
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(sb->db, "SELECT DISTINCT name FROM pragma_function_list"
                              " WHERE builtin = 0", -1, &st, 0);
  while( rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW ){
    char **grown = sqlite3_realloc64(sb->functions, (uint64_t)(sb->n_functions + 1) * sizeof *grown);
    char *name = sqlite3_mprintf("%s", sqlite3_column_text(st, 0));
    if( grown ) sb->functions = grown;
    if( grown == 0 || name == 0 ){
      sqlite3_free(name);
      rc = SQLITE_NOMEM;
      break;
    }
    sb->functions[sb->n_functions++] = name;
  }
  sqlite3_finalize(st);
  return rc;
}

/* Make SQLite set up every eponymous table now: the tensor tables, step
** and head, and the likes of tensors and json_each, which the program may
** not read.  A statement's first use of one otherwise adds SQLite's own
** write of its schema table to that statement, which the authorizer would
** refuse before it saw what the statement reads. */
static int eponymous_tables_init(sandbox *sb){
  sqlite3_stmt *modules = 0;
  int rc = sqlite3_prepare_v2(sb->db, "SELECT name FROM pragma_module_list", -1, &modules, 0);
  while( rc == SQLITE_OK && sqlite3_step(modules) == SQLITE_ROW ){
    char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\"", sqlite3_column_text(modules, 0));
    sqlite3_stmt *st = 0;
    if( sql == 0 ) rc = SQLITE_NOMEM;
    else sqlite3_prepare_v2(sb->db, sql, -1, &st, 0);   /* some need arguments: no matter */
    sqlite3_finalize(st);
    sqlite3_free(sql);
  }
  sqlite3_finalize(modules);
  return rc;
}

/* Settings that hold whatever the program says: SQLite's own advice for
** SQL from an untrusted source (sqlite.org/security.html). */
static int sandbox_harden(sqlite3 *db){
  int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int*)0);
  if( rc == SQLITE_OK ) rc = sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int*)0);
  if( rc == SQLITE_OK ) rc = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int*)0);
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
  return rc;
}

sandbox *sandbox_open(session *s, char **err){
  sandbox *sb = sqlite3_malloc(sizeof *sb);
  if( sb == 0 ) return 0;
  memset(sb, 0, sizeof *sb);
  sb->session = s;
  int rc = sqlite3_open_v2(":memory:", &sb->db, SQLITE_OPEN_READWRITE, 0);
  if( rc == SQLITE_OK ) rc = sandbox_harden(sb->db);
  if( rc == SQLITE_OK ) rc = tensor_vtab_register(sb->db, s);
  if( rc == SQLITE_OK ) rc = state_tables_register(sb->db, s);
  if( rc == SQLITE_OK ) rc = kernel_functions_register(sb->db, s);
  if( rc == SQLITE_OK ) rc = analysis_register(sb->db, s);
  if( rc == SQLITE_OK ) rc = functions_read(sb);
  if( rc == SQLITE_OK ) rc = eponymous_tables_init(sb);
  if( rc != SQLITE_OK ){
    *err = sqlite3_mprintf("cannot open the program's sandbox: %s",
                           sb->db ? sqlite3_errmsg(sb->db) : sqlite3_errstr(rc));
    sandbox_close(sb);
    return 0;
  }
  sqlite3_set_authorizer(sb->db, sandbox_authorize, sb);
  sqlite3_progress_handler(sb->db, SANDBOX_TICK, sandbox_progress, sb);
  return sb;
}

sqlite3 *sandbox_db(sandbox *sb){
  return sb->db;
}

void sandbox_close(sandbox *sb){
  if( sb == 0 ) return;
  sqlite3_close(sb->db);
  for(int i = 0; i < sb->n_functions; i++) sqlite3_free(sb->functions[i]);
  sqlite3_free(sb->functions);
  sqlite3_free(sb);
}
