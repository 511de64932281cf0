/*
** generate.c: text generation as a table-valued function.
**
**   SELECT token, text, pos, logprob FROM generate
**    WHERE prompt = 'Once upon a time' AND max_tokens = 50;
**
** Hidden columns (all but prompt optional):
**   prompt       the text to continue (TEXT)
**   max_tokens   tokens to generate; default: until the context is full
**   temperature  0 (default) is greedy; otherwise sample softmax(logits/T)
**   top_k        keep the k most likely tokens (0 = all)
**   top_p        keep the smallest set of tokens with mass > p (1 = all)
**   seed         the sampler's seed; the same seed gives the same output
**   chat         1: wrap the prompt in the model's chat template; the
**                prompt may also be a JSON array of {"role", "content"}
**                messages, a whole conversation
**   capture      store matching activations in table activation, e.g.
**                'blk.*.resid,logits' (vtab/capture.h lists the names)
**
** Each row is one generated token, produced when it is decoded: the
** prefill runs the whole prompt as one step in xFilter, and each xNext runs
** one decode step.  `text` is what the token adds to the output; a UTF-8
** character split across tokens comes out whole, in the row of the token
** that completes it.  Generation stops at end-of-sequence (and at BOS for
** a llama2.c checkpoint, as its run.c does), after
** max_tokens, or when the context is full.  Positions the connection's KV
** cache already holds for the prompt (a chat's earlier turns) are reused,
** not computed again; `SELECT tensql_reset()` forgets them.
*/
#include "extension.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner.h"
#include "sampler.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

enum { GEN_TOKEN, GEN_TEXT, GEN_POS, GEN_LOGPROB, GEN_PROMPT, GEN_MAX_TOKENS,
       GEN_TEMPERATURE, GEN_TOP_K, GEN_TOP_P, GEN_SEED, GEN_CHAT, GEN_CAPTURE, GEN_COLUMNS };
#define GEN_FIRST_HIDDEN GEN_PROMPT

typedef struct generate_vtab {
  sqlite3_vtab base;
  session *session;
} generate_vtab;

typedef struct generate_cursor {
  sqlite3_vtab_cursor base;
  session *session;
  sampler sampler;
  int sampling;              /* sampler initialised */
  int token, prev;           /* the current row's token and the one before */
  int64_t pos;               /* position of the current row's token */
  float logprob;
  int logprob_known;         /* logprob is the current row's (made when read) */
  int64_t produced, max_tokens;
  int done;
  char text[64];             /* the current row's text */
  int text_len;
  char held[8];              /* an incomplete UTF-8 character, held back */
  int held_len;
  int owns_state;            /* this cursor runs the session's state */
  int capturing;             /* a savepoint holds the captured rows */
} generate_cursor;

/* xConnect */
static int generate_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                            sqlite3_vtab **out, char **err){
  session *s = aux;
  if( session_model(s, err) == 0 ) return SQLITE_ERROR;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(token INTEGER, text TEXT, pos INTEGER,"
      " logprob REAL, prompt HIDDEN, max_tokens HIDDEN, temperature HIDDEN, top_k HIDDEN,"
      " top_p HIDDEN, seed HIDDEN, chat HIDDEN, capture HIDDEN)");
  if( rc != SQLITE_OK ) return rc;
  generate_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = s;
  *out = &v->base;
  return SQLITE_OK;
}

/* xDisconnect */
static int generate_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* xBestIndex: idxNum has bit (col - GEN_FIRST_HIDDEN) set for each hidden
** column given with =; argv holds their values in column order. */
static int generate_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  int slot[GEN_COLUMNS];
  int plan = 0;
  for(int i = 0; i < GEN_COLUMNS; i++) slot[i] = -1;
  for(int i = 0; i < info->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if( c->iColumn < GEN_FIRST_HIDDEN || c->op != SQLITE_INDEX_CONSTRAINT_EQ ) continue;
    if( !c->usable ) return SQLITE_CONSTRAINT;
    slot[c->iColumn] = i;
    plan |= 1 << (c->iColumn - GEN_FIRST_HIDDEN);
  }
  if( slot[GEN_PROMPT] < 0 ){
    sqlite3_free(vtab->zErrMsg);
    vtab->zErrMsg = sqlite3_mprintf("generate needs a prompt: SELECT text FROM generate"
                                    " WHERE prompt = 'Once upon a time'");
    return SQLITE_ERROR;
  }
  int argv = 1;
  for(int col = GEN_FIRST_HIDDEN; col < GEN_COLUMNS; col++){
    if( slot[col] < 0 ) continue;
    info->aConstraintUsage[slot[col]].argvIndex = argv++;
    info->aConstraintUsage[slot[col]].omit = 1;
  }
  info->idxNum = plan;
  info->estimatedCost = 1e9;
  info->estimatedRows = 256;
  return SQLITE_OK;
}

/* xOpen */
static int generate_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  generate_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->session = ((generate_vtab*)vtab)->session;
  *out = &c->base;
  return SQLITE_OK;
}

/* xClose.  The runner is made per query and freed here: it holds
** statements of the caller's connection (the interrupt probe, a capture's
** inserts), a connection cannot close while statements of its own are
** open, and SQLite gives an extension no later hook before it checks. */
static int generate_close(sqlite3_vtab_cursor *cur){
  generate_cursor *c = (generate_cursor*)cur;
  if( c->sampling ) sampler_free(&c->sampler);
  if( c->capturing ){
    /* the captured rows commit with the savepoint */
    sqlite3_exec(c->session->db, "RELEASE tensql_capture", 0, 0, 0);
    c->session->state->all_logits = 0;
  }
  if( c->owns_state ){
    runner_free(c->session->runner);
    c->session->runner = 0;
    c->session->busy = 0;
  }
  sqlite3_free(c);
  return SQLITE_OK;
}

static int cursor_fail(generate_cursor *c, char *msg){
  sqlite3_vtab *v = c->base.pVtab;
  sqlite3_free(v->zErrMsg);
  v->zErrMsg = msg;
  return SQLITE_ERROR;
}

/* ---- arguments ------------------------------------------------------------ */

typedef struct generate_args {
  const char *prompt;
  int prompt_len;
  int64_t max_tokens;
  double temperature, top_p;
  int64_t top_k, seed;
  int chat;
  const char *capture;
} generate_args;

/* Read the hidden-column values into a, rejecting nonsense with a message. */
static char *args_read(int plan, sqlite3_value **argv, const model *m, generate_args *a){
  sqlite3_value *arg[GEN_COLUMNS] = {0};
  int k = 0;
  for(int col = GEN_FIRST_HIDDEN; col < GEN_COLUMNS; col++){
    if( plan & (1 << (col - GEN_FIRST_HIDDEN)) ) arg[col] = argv[k++];
  }
  if( sqlite3_value_type(arg[GEN_PROMPT]) != SQLITE_TEXT ){
    return sqlite3_mprintf("generate: prompt must be text");
  }
  a->prompt = (const char*)sqlite3_value_text(arg[GEN_PROMPT]);
  a->prompt_len = sqlite3_value_bytes(arg[GEN_PROMPT]);
  a->max_tokens = m->params.context_length;
  a->temperature = 0;
  a->top_p = 1;
  a->top_k = 0;
  a->seed = (int64_t)time(0);
  a->chat = 0;
  struct { int col; const char *name; int is_int; double lo, hi; } checks[] = {
    { GEN_MAX_TOKENS, "max_tokens", 1, 0, 1e12 },
    { GEN_TEMPERATURE, "temperature", 0, 0, 100 },
    { GEN_TOP_K, "top_k", 1, 0, m->params.vocab_size },
    { GEN_TOP_P, "top_p", 0, 0, 1 },
    { GEN_SEED, "seed", 1, -9.3e18, 9.3e18 },
    { GEN_CHAT, "chat", 1, 0, 1 },
  };
  for(size_t i = 0; i < sizeof checks / sizeof checks[0]; i++){
    sqlite3_value *v = arg[checks[i].col];
    if( v == 0 ) continue;
    int type = sqlite3_value_numeric_type(v);
    double x = sqlite3_value_double(v);
    if( (type != SQLITE_INTEGER && (checks[i].is_int || type != SQLITE_FLOAT))
     || !(x >= checks[i].lo && x <= checks[i].hi) ){
      return sqlite3_mprintf("generate: %s must be a%s number from %g to %g",
                             checks[i].name, checks[i].is_int ? "n integer" : "",
                             checks[i].lo, checks[i].hi);
    }
  }
  if( arg[GEN_MAX_TOKENS] ) a->max_tokens = sqlite3_value_int64(arg[GEN_MAX_TOKENS]);
  if( arg[GEN_TEMPERATURE] ) a->temperature = sqlite3_value_double(arg[GEN_TEMPERATURE]);
  if( arg[GEN_TOP_K] ) a->top_k = sqlite3_value_int64(arg[GEN_TOP_K]);
  if( arg[GEN_TOP_P] ) a->top_p = sqlite3_value_double(arg[GEN_TOP_P]);
  if( arg[GEN_SEED] ) a->seed = sqlite3_value_int64(arg[GEN_SEED]);
  if( arg[GEN_CHAT] ) a->chat = sqlite3_value_int(arg[GEN_CHAT]);
  if( arg[GEN_CAPTURE] ){
    a->capture = (const char*)sqlite3_value_text(arg[GEN_CAPTURE]);
    if( sqlite3_value_type(arg[GEN_CAPTURE]) != SQLITE_TEXT ){
      return sqlite3_mprintf("generate: capture must be text, such as 'blk.*.resid,logits'");
    }
  }
  return 0;
}

/* chat = 1 with a prompt that is a JSON array of messages, as in
** '[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},
**   {"role":"user","content":"And then?"}]': a whole conversation.  The
** messages live in *store (sqlite3_free it); returns their count, or -1. */
static int chat_messages(sqlite3 *db, const char *json, chat_message **out,
                         char **store, char **err){
  sqlite3_stmt *st = 0;
  int n = 0, rc = sqlite3_prepare_v2(db, "SELECT json_extract(value, '$.role'),"
      " json_extract(value, '$.content') FROM json_each(?1)", -1, &st, 0);
  sqlite3_str *text = sqlite3_str_new(0);
  sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
  while( rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW ){
    const char *role = (const char*)sqlite3_column_text(st, 0);
    const char *content = (const char*)sqlite3_column_text(st, 1);
    if( role == 0 ){ rc = SQLITE_ERROR; break; }
    sqlite3_str_append(text, role, (int)strlen(role) + 1);
    sqlite3_str_append(text, content ? content : "", (int)strlen(content ? content : "") + 1);
    n++;
  }
  if( rc == SQLITE_OK && sqlite3_errcode(db) != SQLITE_OK && sqlite3_errcode(db) != SQLITE_DONE
   && sqlite3_errcode(db) != SQLITE_ROW ) rc = SQLITE_ERROR;
  sqlite3_finalize(st);
  *store = sqlite3_str_finish(text);
  *out = sqlite3_malloc64((uint64_t)(n ? n : 1) * sizeof **out);
  if( rc != SQLITE_OK || n == 0 || *store == 0 || *out == 0 ){
    *err = sqlite3_mprintf("generate: a chat prompt starting with [ must be a JSON array of"
                           " {\"role\": ..., \"content\": ...} messages");
    return -1;
  }
  const char *p = *store;
  for(int i = 0; i < n; i++){
    (*out)[i].role = p;
    p += strlen(p) + 1;
    (*out)[i].content = p;
    p += strlen(p) + 1;
  }
  return n;
}

/* The prompt text to tokenize: the prompt itself, or with chat = 1 the
** prompt (one user turn, or a JSON array of messages) in the model's chat
** template.  Returns a sqlite3_malloc'd string, or NULL with *err. */
static char *prompt_text(session *s, const generate_args *a, int *len, char **err){
  const model *m = s->model;
  if( !a->chat ){
    *len = a->prompt_len;
    char *copy = sqlite3_malloc(a->prompt_len + 1);
    if( copy ) memcpy(copy, a->prompt, (size_t)a->prompt_len + 1);
    return copy;
  }
  chat_template tpl;
  char msg[256];
  if( m->chat_template == 0 ){
    *err = sqlite3_mprintf("generate: chat = 1, but this model has no chat template");
    return 0;
  }
  if( chat_template_detect(m->chat_template, &tpl, msg, sizeof msg) ){
    *err = sqlite3_mprintf("generate: %s", msg);
    return 0;
  }
  chat_message turn = { "user", a->prompt }, *messages = &turn;
  char *store = 0;
  int n_messages = 1;
  if( a->prompt[0] == '[' ){
    n_messages = chat_messages(s->db, a->prompt, &messages, &store, err);
    if( n_messages < 0 ){
      sqlite3_free(store);
      sqlite3_free(messages);
      return 0;
    }
  }
  size_t n;
  char *text = chat_render(&tpl, messages, n_messages, 1, &n, msg, sizeof msg);
  if( messages != &turn ) sqlite3_free(messages);
  sqlite3_free(store);
  if( text == 0 ){
    *err = sqlite3_mprintf("generate: %s", msg);
    return 0;
  }
  char *copy = sqlite3_malloc64(n + 1);
  if( copy ) memcpy(copy, text, n + 1);
  free(text);
  *len = (int)n;
  return copy;
}

/* The prompt as token ids (BOS first if the model wants one): a
** sqlite3_malloc'd array, or NULL with *err.  Special tokens are parsed
** only in the chat template's own markers. */
static int *prompt_tokens(session *s, const generate_args *a, int64_t *n, char **err){
  const tokenizer *t = s->model->tokenizer;
  char msg[256];
  int len;
  char *text = prompt_text(s, a, &len, err);
  if( text == 0 ) return 0;
  int bos = tokenizer_add_bos(t) && tokenizer_bos(t) >= 0;
  int count = tokenizer_encode(t, text, (size_t)len, a->chat, 0, 0, msg, sizeof msg);
  int *ids = count >= 0 ? sqlite3_malloc64((uint64_t)(count + 1) * sizeof *ids) : 0;
  if( count < 0 ) *err = sqlite3_mprintf("generate: %s", msg);
  if( ids ){
    if( bos ) ids[0] = tokenizer_bos(t);
    tokenizer_encode(t, text, (size_t)len, a->chat, ids + bos, count, msg, sizeof msg);
    *n = count + bos;
  }
  sqlite3_free(text);
  if( ids && *n == 0 ){
    *err = sqlite3_mprintf("generate: the prompt is empty and this model has no BOS token");
    sqlite3_free(ids);
    return 0;
  }
  return ids;
}

/* ---- decoding ------------------------------------------------------------- */

/* Bytes a UTF-8 lead byte announces; 0 for a continuation or invalid byte. */
static int utf8_length(unsigned char b){
  if( b < 0x80 ) return 1;
  if( (b & 0xE0) == 0xC0 ) return 2;
  if( (b & 0xF0) == 0xE0 ) return 3;
  if( (b & 0xF8) == 0xF0 ) return 4;
  return 0;
}

/* How many trailing bytes of buf[0..n) start a character that is not yet
** complete (and so should be held for the next token). */
static int utf8_incomplete_tail(const char *buf, int n){
  for(int back = 1; back <= 3 && back <= n; back++){
    unsigned char b = (unsigned char)buf[n - back];
    if( (b & 0xC0) == 0x80 ) continue;
    int need = utf8_length(b);
    return need > back ? back : 0;
  }
  return 0;
}

/* Set the row's text: held bytes + the token's piece, minus any
** incomplete character at the end, which is held for the next row. */
static void cursor_text(generate_cursor *c){
  const char *piece;
  int len = tokenizer_decode_piece(c->session->model->tokenizer, c->prev, c->token, &piece);
  if( len < 0 ) len = 0;
  if( len > (int)sizeof c->text - c->held_len ) len = (int)sizeof c->text - c->held_len;
  memcpy(c->text, c->held, (size_t)c->held_len);
  memcpy(c->text + c->held_len, piece, (size_t)len);
  int total = c->held_len + len;
  int tail = c->token == tokenizer_eos(c->session->model->tokenizer) ? 0 : utf8_incomplete_tail(c->text, total);
  c->held_len = tail;
  memcpy(c->held, c->text + total - tail, (size_t)tail);
  c->text_len = total - tail;
}

/* The last step's logits for the last position, or NULL when act holds
** none of the vocabulary's size. */
static const float *cursor_logits(generate_cursor *c){
  int64_t count = 0;
  const float *logits = runner_logits(c->session, &count);
  return logits && (size_t)count == c->sampler.vocab ? logits : 0;
}

/* Sample the token that follows the last step's logits into the row. */
static int cursor_sample(generate_cursor *c){
  const float *logits = cursor_logits(c);
  if( logits == 0 ){
    return cursor_fail(c, sqlite3_mprintf("generate: the program left no logits of %lld"
                                          " values in act", (long long)c->sampler.vocab));
  }
  c->prev = c->token;
  c->token = sampler_sample(&c->sampler, logits);
  c->logprob_known = 0;
  const tokenizer *t = c->session->model->tokenizer;
  if( c->token == tokenizer_eos(t)
   || (c->session->model->stops_at_bos && c->token == tokenizer_bos(t)) ) c->done = 1;
  else cursor_text(c);
  return SQLITE_OK;
}

/* Start capturing: one savepoint around the whole run, so that rows are
** not committed one statement at a time. */
static int capture_begin(generate_cursor *c, const char *patterns, char **err){
  session *s = c->session;
  if( !c->capturing ){
    if( sqlite3_exec(s->db, "SAVEPOINT tensql_capture", 0, 0, 0) != SQLITE_OK ){
      *err = sqlite3_mprintf("generate: capture: %s", sqlite3_errmsg(s->db));
      return SQLITE_ERROR;
    }
    c->capturing = 1;
  }
  return runner_capture(s, patterns, err) < 0 ? SQLITE_ERROR : SQLITE_OK;
}

/* xFilter: prefill the prompt, then sample the first token. */
static int generate_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                           int argc, sqlite3_value **argv){
  generate_cursor *c = (generate_cursor*)cur;
  session *s = c->session;
  generate_args a = {0};
  char *err = args_read(plan, argv, s->model, &a);
  if( err ) return cursor_fail(c, err);
  if( s->busy && !c->owns_state ){
    return cursor_fail(c, sqlite3_mprintf("generate: this connection is already generating;"
                                          " finish that query first"));
  }
  s->busy = c->owns_state = 1;
  if( state_tables_create(s->db) != SQLITE_OK ){
    return cursor_fail(c, sqlite3_mprintf("generate: cannot create temp.act and temp.kv"
                                          " again: %s", sqlite3_errmsg(s->db)));
  }
  if( c->sampling ) sampler_free(&c->sampler);
  c->sampling = 1;
  if( sampler_init(&c->sampler, (size_t)s->model->params.vocab_size, (float)a.temperature,
                   (int)a.top_k, (float)a.top_p, (uint64_t)a.seed) ) return SQLITE_NOMEM;
  int64_t n = 0;
  int *ids = prompt_tokens(s, &a, &n, &err);
  if( ids == 0 ) return err ? cursor_fail(c, err) : SQLITE_NOMEM;
  if( n >= s->model->params.context_length ){
    sqlite3_free(ids);
    return cursor_fail(c, sqlite3_mprintf("generate: the prompt is %lld tokens; the context"
                       " holds %d", (long long)n, s->model->params.context_length));
  }
  uint64_t program = s->program_hash;
  int rc = runner_ready(s, &err);
  /* Positions the KV cache already holds for this prompt (the earlier
  ** turns of a chat) are not computed again; a capture sees them all. */
  int64_t reused = 0;
  if( a.capture || program != s->program_hash ) state_reset(s->state);
  else reused = state_reuse(s->state, ids, n);
  if( rc == SQLITE_OK && a.capture ) rc = capture_begin(c, a.capture, &err);
  if( rc == SQLITE_OK ) rc = runner_step(s, reused, ids + reused, n - reused, &err);
  c->token = ids[n - 1];
  sqlite3_free(ids);
  if( rc != SQLITE_OK ) return cursor_fail(c, err);
  c->pos = n;
  c->produced = 0;
  c->held_len = 0;
  c->max_tokens = a.max_tokens;
  c->done = a.max_tokens == 0;
  return c->done ? SQLITE_OK : cursor_sample(c);
}

/* xNext: decode the current token and sample the one after it. */
static int generate_next(sqlite3_vtab_cursor *cur){
  generate_cursor *c = (generate_cursor*)cur;
  session *s = c->session;
  c->produced++;
  if( c->produced >= c->max_tokens || c->pos + 1 >= s->model->params.context_length ){
    c->done = 1;
    return SQLITE_OK;
  }
  char *err = 0;
  int rc = runner_step(s, c->pos, &c->token, 1, &err);
  if( rc != SQLITE_OK ) return cursor_fail(c, err);
  c->pos++;
  return cursor_sample(c);
}

/* xEof */
static int generate_eof(sqlite3_vtab_cursor *cur){
  return ((generate_cursor*)cur)->done;
}

/* The current row's logprob, from the logits it was sampled from: they
** stay in act until the next row's step. */
static int cursor_logprob(generate_cursor *c, sqlite3_context *ctx){
  if( !c->logprob_known ){
    const float *logits = cursor_logits(c);
    if( logits == 0 ){
      sqlite3_result_error(ctx, "generate: the logits of this row are gone", -1);
      return SQLITE_ERROR;
    }
    c->logprob = sampler_logprob(&c->sampler, logits, c->token);
    c->logprob_known = 1;
  }
  sqlite3_result_double(ctx, c->logprob);
  return SQLITE_OK;
}

/* xColumn */
static int generate_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  generate_cursor *c = (generate_cursor*)cur;
  switch( col ){
    case GEN_TOKEN: sqlite3_result_int(ctx, c->token); break;
    case GEN_TEXT: sqlite3_result_text(ctx, c->text, c->text_len, SQLITE_TRANSIENT); break;
    case GEN_POS: sqlite3_result_int64(ctx, c->pos); break;
    case GEN_LOGPROB: return cursor_logprob(c, ctx);
  }
  return SQLITE_OK;
}

/* xRowid */
static int generate_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  *rowid = ((generate_cursor*)cur)->produced;
  return SQLITE_OK;
}

static sqlite3_module generate_module = {
  .xConnect = generate_connect,
  .xBestIndex = generate_best_index,
  .xDisconnect = generate_disconnect,
  .xOpen = generate_open,
  .xClose = generate_close,
  .xFilter = generate_filter,
  .xNext = generate_next,
  .xEof = generate_eof,
  .xColumn = generate_column,
  .xRowid = generate_rowid,
};

/* tensql_reset(): forget the connection's KV cache, so that the next
** generate computes its whole prompt (a new conversation; a fair prefill
** measurement). */
static void reset_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  session *s = sqlite3_user_data(ctx);
  if( s->busy ){
    sqlite3_result_error(ctx, "tensql_reset: a generate query is running on this connection", -1);
    return;
  }
  if( s->state ) state_reset(s->state);
  sqlite3_result_null(ctx);
}

/* Registered without a model too, so that a query says why there is none. */
int generate_register(sqlite3 *db, session *s){
  int rc = sqlite3_create_module(db, "generate", &generate_module, s);
  if( rc == SQLITE_OK ) rc = sqlite3_create_function(db, "tensql_reset", 0, SQLITE_UTF8, s, reset_fn, 0, 0);
  return rc;
}
