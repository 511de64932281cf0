/*
** extension.c: the entry point.  `.load tensql` in the sqlite3 shell, or
** sqlite3_load_extension(db, "tensql", 0, &err), or tensql_register(db) from
** a program linked with libtensql, registers everything below on a
** connection.  If the connection's main database is a tensql model, each of
** its tensors also becomes an eponymous table named after it.
**
** The SQL surface, table by table:
*/
#include "extension.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "runner.h"
#include "sandbox.h"
#include "tensql.h"

#ifdef TENSQL_LOADABLE
SQLITE_EXTENSION_INIT1
#endif

static const struct registration {
  const char *what;
  int (*fn)(sqlite3 *, session *);
} registrations[] = {
  { "tensor tables, tensors", tensor_vtab_register },
  { "tensor_values", tensor_values_register },
  { "act, kv, step, head", state_tables_register },
  { "kernels: matmul, rmsnorm, rope, attention, ...", kernel_functions_register },
  { "tensql_threads", kernel_threads_register },
  { "generate, tensql_reset", generate_register },
  { "logprobs", logprobs_register },
  { "tokenize, detokenize, tokens, token_text", tokenize_register },
  { "tensql_budget, tensql_policy, tensql_prefetch, tile_stats", memory_register },
  { "tensor_norm, tensor_dot, tensor_topk, logit_lens", analysis_register },
  { "program_profile", profile_register },
  { "program_check", program_check_register },
};

void sql_error(sqlite3_context *ctx, const char *fmt, ...){
  va_list ap;
  va_start(ap, fmt);
  char *msg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  sqlite3_result_error(ctx, msg ? msg : "out of memory", -1);
  sqlite3_free(msg);
}

int sql_integer(sqlite3_value *v, int64_t *x){
  int type = sqlite3_value_numeric_type(v);
  if( type == SQLITE_NULL ) return 0;
  if( type == SQLITE_INTEGER ){
    *x = sqlite3_value_int64(v);
    return 1;
  }
  double d = sqlite3_value_double(v);
  if( type != SQLITE_FLOAT || !(d >= -9.2e18 && d <= 9.2e18) || d != (double)(int64_t)d ) return -1;
  *x = (int64_t)d;
  return 1;
}

model *session_model(session *s, char **vtab_err){
  if( s->model == 0 && vtab_err ){
    sqlite3_free(*vtab_err);
    *vtab_err = sqlite3_mprintf("%s", s->open_error);
  }
  return s->model;
}

static void session_free(void *p){
  session *s = p;
  runner_free(s->runner);
  runner_profile_free(s->profile);
  sandbox_close(s->sandbox);
  state_free(s->state);
  model_release(s->model);
  sqlite3_free(s->rope);
  sqlite3_free(s);
}

/* Open the main database as a model, if it is one.  A connection to an
** empty or foreign database still gets the functions; the tables that
** need a model then say why there is none. */
static void session_open_model(session *s){
  const char *path = sqlite3_db_filename(s->db, "main");
  if( path == 0 || path[0] == 0 ){
    snprintf(s->open_error, sizeof s->open_error,
             "the main database is not a file, so not a tensql model");
    return;
  }
  s->model = model_open(path, s->open_error, sizeof s->open_error);
  if( s->model == 0 ) return;
  const model_params *p = &s->model->params;
  s->state = state_new(p->n_layers, (int64_t)p->n_kv_heads * p->head_dim, p->context_length);
  if( s->state == 0 ){
    model_release(s->model);
    s->model = 0;
    snprintf(s->open_error, sizeof s->open_error, "out of memory");
  }
}

/* tensql_model(): the path of the model this connection runs, or NULL. */
static void model_path_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  session *s = sqlite3_user_data(ctx);
  if( s->model ) sqlite3_result_text(ctx, s->model->path, -1, SQLITE_TRANSIENT);
}

int tensql_register(sqlite3 *db){
  session *s = sqlite3_malloc(sizeof *s);
  if( s == 0 ) return SQLITE_NOMEM;
  memset(s, 0, sizeof *s);
  s->db = db;
  kernels_init();
  session_open_model(s);
  /* The session lives as long as the connection: SQLite frees it through
  ** this function's destructor when the connection closes. */
  int rc = sqlite3_create_function_v2(db, "tensql_model", 0, SQLITE_UTF8, s,
                                      model_path_fn, 0, 0, session_free);
  if( rc != SQLITE_OK ){
    session_free(s);
    return rc;
  }
  for(size_t i = 0; rc == SQLITE_OK && i < sizeof registrations / sizeof registrations[0]; i++){
    rc = registrations[i].fn(db, s);
  }
  return rc;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_tensql_init(sqlite3 *db, char **err, const sqlite3_api_routines *api){
#ifdef TENSQL_LOADABLE
  SQLITE_EXTENSION_INIT2(api);
#else
  (void)api;
#endif
  int rc = tensql_register(db);
  if( rc != SQLITE_OK && err ) *err = sqlite3_mprintf("tensql: %s", sqlite3_errstr(rc));
  return rc;
}
