/*
** tokenize.c: the model's tokenizer from SQL.
**
**   SELECT tokenize('Hello world');            -- '[9707,1879]'
**   SELECT tokenize('<|im_start|>user', 1);    -- special tokens parsed
**   SELECT detokenize('[9707,1879]');          -- 'Hello world'
**   SELECT pos, id, piece FROM tokens('Hello world');
**   SELECT token_text(9707);                   -- 'Hello'
**
** tokenize gives no BOS or EOS: the ids of the text alone, as Hugging
** Face's encode(add_special_tokens=False) and llama.cpp's tokenizer tests.
** piece and token_text are the bytes a token stands for, as TEXT.
*/
#include "extension.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static const tokenizer *fn_tokenizer(sqlite3_context *ctx){
  session *s = sqlite3_user_data(ctx);
  if( s->model == 0 ) sqlite3_result_error(ctx, s->open_error, -1);
  return s->model ? s->model->tokenizer : 0;
}

/* Encode into a sqlite3_malloc'd array; the count in *n, or NULL after an
** error has been set on ctx. */
static int *encode(sqlite3_context *ctx, const tokenizer *t, sqlite3_value *text,
                   int special, int *n){
  char err[256];
  const char *s = (const char*)sqlite3_value_text(text);
  size_t len = (size_t)sqlite3_value_bytes(text);
  int count = tokenizer_encode(t, s ? s : "", len, special, 0, 0, err, sizeof err);
  int *ids = count >= 0 ? sqlite3_malloc64((uint64_t)(count + 1) * sizeof *ids) : 0;
  if( count < 0 ){
    sqlite3_result_error(ctx, err, -1);
    return 0;
  }
  if( ids == 0 ){
    sqlite3_result_error_nomem(ctx);
    return 0;
  }
  tokenizer_encode(t, s ? s : "", len, special, ids, count, err, sizeof err);
  *n = count;
  return ids;
}

static void tokenize_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const tokenizer *t = fn_tokenizer(ctx);
  if( t == 0 || sqlite3_value_type(argv[0]) == SQLITE_NULL ) return;
  int n, special = argc > 1 && sqlite3_value_int(argv[1]);
  int *ids = encode(ctx, t, argv[0], special, &n);
  if( ids == 0 ) return;
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_appendchar(out, 1, '[');
  for(int i = 0; i < n; i++) sqlite3_str_appendf(out, i ? ",%d" : "%d", ids[i]);
  sqlite3_str_appendchar(out, 1, ']');
  sqlite3_free(ids);
  char *json = sqlite3_str_finish(out);
  if( json == 0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, json, -1, sqlite3_free);
}

/* Parse "[1, 2, 3]" into ids; the count, or -1 if it is not such an array. */
static int ids_parse(const char *json, int **ids){
  int n = 0, cap = 16;
  const char *p = json;
  *ids = sqlite3_malloc64((uint64_t)cap * sizeof **ids);
  while( *p == ' ' || *p == '\n' || *p == '\t' ) p++;
  if( *ids == 0 || *p++ != '[' ) return -1;
  for(;;){
    while( *p == ' ' || *p == '\n' || *p == '\t' ) p++;
    if( *p == ']' && n == 0 ){ p++; break; }
    char *end;
    long id = strtol(p, &end, 10);
    if( end == p || id < 0 || id > 0x7fffffff ) return -1;
    if( n == cap ){
      int *grown = sqlite3_realloc64(*ids, (uint64_t)(cap *= 2) * sizeof **ids);
      if( grown == 0 ) return -1;
      *ids = grown;
    }
    (*ids)[n++] = (int)id;
    p = end;
    while( *p == ' ' || *p == '\n' || *p == '\t' ) p++;
    if( *p == ']' ){ p++; break; }
    if( *p++ != ',' ) return -1;
  }
  while( *p == ' ' || *p == '\n' || *p == '\t' ) p++;
  return *p ? -1 : n;
}

static void detokenize_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const tokenizer *t = fn_tokenizer(ctx);
  const char *json = (const char*)sqlite3_value_text(argv[0]);
  if( t == 0 || json == 0 ) return;
  int *ids = 0;
  int n = ids_parse(json, &ids);
  if( n < 0 ){
    sqlite3_free(ids);
    sqlite3_result_error(ctx, "detokenize: expected a JSON array of token ids", -1);
    return;
  }
  sqlite3_str *out = sqlite3_str_new(0);
  int prev = -1;
  for(int i = 0; i < n; i++){
    const char *piece;
    int len = tokenizer_decode_piece(t, prev, ids[i], &piece);
    if( len < 0 ){
      char *msg = sqlite3_mprintf("detokenize: no token %d (the vocabulary has %d)",
                                  ids[i], tokenizer_vocab_size(t));
      sqlite3_result_error(ctx, msg, -1);
      sqlite3_free(msg);
      sqlite3_free(ids);
      sqlite3_free(sqlite3_str_finish(out));
      return;
    }
    sqlite3_str_append(out, piece, len);
    prev = ids[i];
  }
  sqlite3_free(ids);
  int len = sqlite3_str_length(out);
  sqlite3_result_text(ctx, sqlite3_str_finish(out), len, sqlite3_free);
}

static void token_text_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const tokenizer *t = fn_tokenizer(ctx);
  if( t == 0 || sqlite3_value_type(argv[0]) != SQLITE_INTEGER ) return;
  /* in 64 bits: token 2^32 is no token, not token 0 */
  sqlite3_int64 id = sqlite3_value_int64(argv[0]);
  if( id < 0 || id >= tokenizer_vocab_size(t) ) return;
  const char *piece;
  size_t len;
  float score;
  token_kind kind;
  if( tokenizer_token(t, (int)id, &piece, &len, &score, &kind) == 0 ){
    sqlite3_result_text(ctx, piece, (int)len, SQLITE_TRANSIENT);
  }
}

/* ---- tokens(text [, special]): one row per token ------------------------ */

typedef struct tokens_cursor {
  sqlite3_vtab_cursor base;
  session *session;
  int *ids;
  int n, i;
} tokens_cursor;

typedef struct tokens_vtab {
  sqlite3_vtab base;
  session *session;
} tokens_vtab;

/* xConnect */
static int tokens_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err){
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(pos INTEGER, id INTEGER, piece TEXT,"
                                " text HIDDEN, special HIDDEN)");
  if( rc != SQLITE_OK ) return rc;
  tokens_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = aux;
  *out = &v->base;
  return SQLITE_OK;
}

/* xDisconnect */
static int tokens_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* xBestIndex: idxNum 1 = text given (argv[0]), 2 = special given too. */
static int tokens_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  int text = -1, special = -1;
  for(int i = 0; i < info->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if( c->op != SQLITE_INDEX_CONSTRAINT_EQ || c->iColumn < 3 ) continue;
    if( !c->usable ) return SQLITE_CONSTRAINT;
    if( c->iColumn == 3 ) text = i; else special = i;
  }
  if( text < 0 ){
    sqlite3_free(vtab->zErrMsg);
    vtab->zErrMsg = sqlite3_mprintf("tokens: give the text, as in tokens('Hello')");
    return SQLITE_ERROR;
  }
  info->aConstraintUsage[text].argvIndex = 1;
  info->aConstraintUsage[text].omit = 1;
  info->idxNum = 1;
  if( special >= 0 ){
    info->aConstraintUsage[special].argvIndex = 2;
    info->aConstraintUsage[special].omit = 1;
    info->idxNum = 3;
  }
  info->estimatedCost = 100;
  return SQLITE_OK;
}

/* xOpen */
static int tokens_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  tokens_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->session = ((tokens_vtab*)vtab)->session;
  *out = &c->base;
  return SQLITE_OK;
}

/* xClose */
static int tokens_close(sqlite3_vtab_cursor *cur){
  tokens_cursor *c = (tokens_cursor*)cur;
  sqlite3_free(c->ids);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* xFilter */
static int tokens_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                         int argc, sqlite3_value **argv){
  tokens_cursor *c = (tokens_cursor*)cur;
  model *m = session_model(c->session, &cur->pVtab->zErrMsg);
  if( m == 0 ) return SQLITE_ERROR;
  const char *text = (const char*)sqlite3_value_text(argv[0]);
  size_t len = (size_t)sqlite3_value_bytes(argv[0]);
  int special = (plan & 2) && sqlite3_value_int(argv[1]);
  char err[256];
  sqlite3_free(c->ids);
  c->ids = 0;
  c->n = c->i = 0;
  if( text == 0 ) return SQLITE_OK;
  int count = tokenizer_encode(m->tokenizer, text, len, special, 0, 0, err, sizeof err);
  if( count < 0 ){
    cur->pVtab->zErrMsg = sqlite3_mprintf("tokens: %s", err);
    return SQLITE_ERROR;
  }
  c->ids = sqlite3_malloc64((uint64_t)(count + 1) * sizeof *c->ids);
  if( c->ids == 0 ) return SQLITE_NOMEM;
  c->n = tokenizer_encode(m->tokenizer, text, len, special, c->ids, count, err, sizeof err);
  return SQLITE_OK;
}

/* xNext */
static int tokens_next(sqlite3_vtab_cursor *cur){
  ((tokens_cursor*)cur)->i++;
  return SQLITE_OK;
}

/* xEof */
static int tokens_eof(sqlite3_vtab_cursor *cur){
  tokens_cursor *c = (tokens_cursor*)cur;
  return c->i >= c->n;
}

/* xColumn: piece is the token's own bytes, not trimmed as decode trims. */
static int tokens_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  tokens_cursor *c = (tokens_cursor*)cur;
  const char *piece;
  size_t len;
  float score;
  token_kind kind;
  switch( col ){
    case 0: sqlite3_result_int(ctx, c->i); break;
    case 1: sqlite3_result_int(ctx, c->ids[c->i]); break;
    case 2:
      tokenizer_token(c->session->model->tokenizer, c->ids[c->i], &piece, &len, &score, &kind);
      sqlite3_result_text(ctx, piece, (int)len, SQLITE_TRANSIENT);
      break;
  }
  return SQLITE_OK;
}

/* xRowid */
static int tokens_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  *rowid = ((tokens_cursor*)cur)->i;
  return SQLITE_OK;
}

static sqlite3_module tokens_module = {
  .xConnect = tokens_connect,
  .xBestIndex = tokens_best_index,
  .xDisconnect = tokens_disconnect,
  .xOpen = tokens_open,
  .xClose = tokens_close,
  .xFilter = tokens_filter,
  .xNext = tokens_next,
  .xEof = tokens_eof,
  .xColumn = tokens_column,
  .xRowid = tokens_rowid,
};

int tokenize_register(sqlite3 *db, session *s){
  int rc = sqlite3_create_module(db, "tokens", &tokens_module, s);
  const struct { const char *name; int n_args; void (*fn)(sqlite3_context*, int, sqlite3_value**); } fns[] = {
    { "tokenize", 1, tokenize_fn },
    { "tokenize", 2, tokenize_fn },
    { "detokenize", 1, detokenize_fn },
    { "token_text", 1, token_text_fn },
  };
  for(size_t i = 0; rc == SQLITE_OK && i < sizeof fns / sizeof fns[0]; i++){
    rc = sqlite3_create_function(db, fns[i].name, fns[i].n_args,
                                 SQLITE_UTF8 | SQLITE_DETERMINISTIC, s, fns[i].fn, 0, 0);
  }
  return rc;
}
