/*
** logprobs.c: how likely the model finds a text, token by token, as a
** table-valued function.
**
**   SELECT pos, token, logprob, predicted FROM logprobs
**    WHERE text = 'A fool and his money are soon parted.';
**   SELECT exp(-avg(logprob)) AS perplexity FROM logprobs WHERE tokens = '[1023, 32, 3]';
**
** Hidden columns (give exactly one):
**   text     the text to score: tokenized as generate tokenizes a prompt
**            (BOS first if the model adds one), except that special tokens
**            written in the text (<|endoftext|>, <|im_start|>) are parsed,
**            as Hugging Face's tokenizers parse them
**   tokens   the token ids to score, as a JSON array of integers
**
** One row per position after the first: pos (1, 2, ...), the token there,
** logprob = log P(token | the tokens before it), natural log, and
** predicted = the token the model found most likely there (what greedy
** decoding would have chosen).  The first token has no row: nothing
** predicts it.
**
** How it works: the whole sequence runs as one prefill step of the model's
** program, with the step table's `logits` column set for every position, so
** the program's last statements leave a logits row per position in act;
** xFilter turns them into log-probabilities and the rows are read from that
** array.  The sequence must fit the context; `tensql perplexity` cuts a long
** text into windows (tools/perplexity.c).  The logits of a step take
** positions x vocabulary float32 values of memory.
*/
#include "extension.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "tokenizer/tokenizer.h"

enum { LP_POS, LP_TOKEN, LP_LOGPROB, LP_PREDICTED, LP_TEXT, LP_TOKENS, LP_COLUMNS };
#define LP_FIRST_HIDDEN LP_TEXT

typedef struct logprobs_vtab {
  sqlite3_vtab base;
  session *session;
} logprobs_vtab;

typedef struct logprobs_cursor {
  sqlite3_vtab_cursor base;
  int *ids;                  /* the scored sequence; sqlite3_malloc'd */
  double *logprob;           /* [n]: logprob[i] of ids[i], i >= 1 */
  int *predicted;            /* [n]: argmax of the logits before position i */
  int64_t n;                 /* positions in the sequence */
  int64_t i;                 /* the current row's position */
} logprobs_cursor;

/* xConnect */
static int logprobs_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                            sqlite3_vtab **out, char **err){
  session *s = aux;
  if( session_model(s, err) == 0 ) return SQLITE_ERROR;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(pos INTEGER, token INTEGER, logprob REAL,"
                                " predicted INTEGER, text HIDDEN, tokens HIDDEN)");
  if( rc != SQLITE_OK ) return rc;
  logprobs_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = s;
  *out = &v->base;
  return SQLITE_OK;
}

/* xDisconnect */
static int logprobs_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* xBestIndex: idxNum is LP_TEXT or LP_TOKENS, whichever hidden column is
** given with =; argv[0] holds its value. */
static int logprobs_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  int slot = -1, column = 0, given = 0;
  for(int i = 0; i < info->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if( c->iColumn < LP_FIRST_HIDDEN || c->op != SQLITE_INDEX_CONSTRAINT_EQ ) continue;
    if( !c->usable ) return SQLITE_CONSTRAINT;
    slot = i;
    column = c->iColumn;
    given++;
  }
  if( given != 1 ){
    sqlite3_free(vtab->zErrMsg);
    vtab->zErrMsg = sqlite3_mprintf("logprobs needs one of text or tokens: SELECT logprob"
                                    " FROM logprobs WHERE text = 'Once upon a time'");
    return SQLITE_ERROR;
  }
  info->aConstraintUsage[slot].argvIndex = 1;
  info->aConstraintUsage[slot].omit = 1;
  info->idxNum = column;
  info->estimatedCost = 1e9;
  info->estimatedRows = 256;
  /* Rows come out in pos order. */
  if( info->nOrderBy == 1 && info->aOrderBy[0].iColumn == LP_POS && !info->aOrderBy[0].desc ){
    info->orderByConsumed = 1;
  }
  return SQLITE_OK;
}

/* xOpen */
static int logprobs_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  logprobs_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

static void cursor_clear(logprobs_cursor *c){
  sqlite3_free(c->ids);
  sqlite3_free(c->logprob);
  sqlite3_free(c->predicted);
  c->ids = 0;
  c->logprob = 0;
  c->predicted = 0;
  c->n = c->i = 0;
}

/* xClose */
static int logprobs_close(sqlite3_vtab_cursor *cur){
  cursor_clear((logprobs_cursor*)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int cursor_fail(logprobs_cursor *c, char *msg){
  sqlite3_vtab *v = c->base.pVtab;
  sqlite3_free(v->zErrMsg);
  v->zErrMsg = msg;
  return SQLITE_ERROR;
}

/* ---- the sequence ---------------------------------------------------------- */

/* The ids of a JSON array of integers, each in [0, vocab): *n of them in
** c->ids, or an error message. */
static char *parse_tokens(logprobs_cursor *c, const char *json, int vocab){
  const char *p = json;
  int64_t cap = 64;
  c->ids = sqlite3_malloc64((uint64_t)cap * sizeof *c->ids);
  if( c->ids == 0 ) return sqlite3_mprintf("logprobs: out of memory");
  while( *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ) p++;
  if( *p++ != '[' ) return sqlite3_mprintf("logprobs: tokens must be a JSON array of token ids");
  for(;;){
    while( *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ) p++;
    if( *p == ']' && c->n == 0 ){ p++; break; }
    char *end;
    long long id = strtoll(p, &end, 10);
    if( end == p || id < 0 || id >= vocab ){
      return sqlite3_mprintf("logprobs: tokens[%lld] is not a token id (0 to %d)",
                             (long long)c->n, vocab - 1);
    }
    if( c->n == cap ){
      int *more = sqlite3_realloc64(c->ids, (uint64_t)(cap *= 2) * sizeof *more);
      if( more == 0 ) return sqlite3_mprintf("logprobs: out of memory");
      c->ids = more;
    }
    c->ids[c->n++] = (int)id;
    p = end;
    while( *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ) p++;
    if( *p == ']' ){ p++; break; }
    if( *p++ != ',' ) return sqlite3_mprintf("logprobs: tokens must be a JSON array of token ids");
  }
  while( *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ) p++;
  return *p ? sqlite3_mprintf("logprobs: text after the tokens array") : 0;
}

/* The ids of text: BOS if the model adds one, then the text with special
** tokens parsed. */
static char *tokenize_text(logprobs_cursor *c, const tokenizer *t, const char *text, int len){
  char msg[256];
  int bos = tokenizer_add_bos(t) && tokenizer_bos(t) >= 0;
  int count = tokenizer_encode(t, text, (size_t)len, 1, 0, 0, msg, sizeof msg);
  if( count < 0 ) return sqlite3_mprintf("logprobs: %s", msg);
  c->ids = sqlite3_malloc64((uint64_t)(count + 1) * sizeof *c->ids);
  if( c->ids == 0 ) return sqlite3_mprintf("logprobs: out of memory");
  if( bos ) c->ids[0] = tokenizer_bos(t);
  tokenizer_encode(t, text, (size_t)len, 1, c->ids + bos, count, msg, sizeof msg);
  c->n = count + bos;
  return 0;
}

/* ---- scoring ----------------------------------------------------------------- */

/* Run the sequence as one step with logits at every position, and keep
** the log-probability of each next token.  The program runs as generate
** runs it, on the session's state, which this leaves holding the
** sequence's KV cache. */
static char *score(logprobs_cursor *c, session *s){
  char *err = 0;
  int64_t vocab = s->model->params.vocab_size;
  c->logprob = sqlite3_malloc64((uint64_t)c->n * sizeof *c->logprob);
  c->predicted = sqlite3_malloc64((uint64_t)c->n * sizeof *c->predicted);
  if( c->logprob == 0 || c->predicted == 0 ) return sqlite3_mprintf("logprobs: out of memory");
  if( s->busy ){
    return sqlite3_mprintf("logprobs: this connection is generating; finish that query first");
  }
  s->busy = 1;
  int all_logits = s->state->all_logits;
  s->state->all_logits = 1;
  int rc = runner_ready(s, &err);
  state_reset(s->state);
  if( rc == SQLITE_OK ) rc = runner_step(s, 0, c->ids, c->n, &err);
  s->state->all_logits = all_logits;
  /* Statements are finalized before xFilter returns, so nothing of the
  ** program outlives this query (see generate_close). */
  runner_free(s->runner);
  s->runner = 0;
  s->busy = 0;
  if( rc != SQLITE_OK ) return err ? err : sqlite3_mprintf("logprobs: %s", sqlite3_errstr(rc));
  state_act *a = state_act_find(s->state, "logits");
  if( a == 0 || a->rows != c->n || a->cols != vocab ){
    return sqlite3_mprintf("logprobs: the program left no logits of %lld x %lld values in act",
                           (long long)c->n, (long long)vocab);
  }
  /* log softmax of row i-1, at ids[i] */
  const float *logits = state_act_data(a);
  for(int64_t i = 1; i < c->n; i++){
    const float *row = logits + (i - 1) * vocab;
    int64_t best = 0;
    for(int64_t k = 1; k < vocab; k++) if( row[k] > row[best] ) best = k;
    double sum = 0;
    for(int64_t k = 0; k < vocab; k++) sum += exp((double)row[k] - row[best]);
    c->logprob[i] = (double)row[c->ids[i]] - row[best] - log(sum);
    c->predicted[i] = (int)best;
  }
  return 0;
}

/* xFilter: tokenize (or parse) the input and score it all. */
static int logprobs_filter(sqlite3_vtab_cursor *cur, int column, const char *unused,
                           int argc, sqlite3_value **argv){
  logprobs_cursor *c = (logprobs_cursor*)cur;
  session *s = ((logprobs_vtab*)cur->pVtab)->session;
  const model *m = s->model;
  cursor_clear(c);
  char *err = 0;
  if( sqlite3_value_type(argv[0]) != SQLITE_TEXT ){
    return cursor_fail(c, sqlite3_mprintf("logprobs: %s must be text",
                                          column == LP_TEXT ? "text" : "tokens"));
  }
  const char *in = (const char*)sqlite3_value_text(argv[0]);
  if( column == LP_TOKENS ) err = parse_tokens(c, in, m->params.vocab_size);
  else err = tokenize_text(c, m->tokenizer, in, sqlite3_value_bytes(argv[0]));
  if( err == 0 && c->n > m->params.context_length ){
    err = sqlite3_mprintf("logprobs: the sequence is %lld tokens; the context holds %d",
                          (long long)c->n, m->params.context_length);
  }
  if( err == 0 && c->n > 0 ) err = score(c, s);
  if( err ){
    cursor_clear(c);
    return cursor_fail(c, err);
  }
  c->i = 1;
  return SQLITE_OK;
}

/* xNext */
static int logprobs_next(sqlite3_vtab_cursor *cur){
  ((logprobs_cursor*)cur)->i++;
  return SQLITE_OK;
}

/* xEof */
static int logprobs_eof(sqlite3_vtab_cursor *cur){
  logprobs_cursor *c = (logprobs_cursor*)cur;
  return c->i >= c->n;
}

/* xColumn */
static int logprobs_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  logprobs_cursor *c = (logprobs_cursor*)cur;
  switch( col ){
    case LP_POS: sqlite3_result_int64(ctx, c->i); break;
    case LP_TOKEN: sqlite3_result_int(ctx, c->ids[c->i]); break;
    case LP_LOGPROB: sqlite3_result_double(ctx, c->logprob[c->i]); break;
    case LP_PREDICTED: sqlite3_result_int(ctx, c->predicted[c->i]); break;
  }
  return SQLITE_OK;
}

/* xRowid */
static int logprobs_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  *rowid = ((logprobs_cursor*)cur)->i;
  return SQLITE_OK;
}

static sqlite3_module logprobs_module = {
  .xConnect = logprobs_connect,       /* eponymous: no xCreate */
  .xBestIndex = logprobs_best_index,
  .xDisconnect = logprobs_disconnect,
  .xOpen = logprobs_open,
  .xClose = logprobs_close,
  .xFilter = logprobs_filter,
  .xNext = logprobs_next,
  .xEof = logprobs_eof,
  .xColumn = logprobs_column,
  .xRowid = logprobs_rowid,
};

/* Registered without a model too, so that a query says why there is none. */
int logprobs_register(sqlite3 *db, session *s){
  return sqlite3_create_module(db, "logprobs", &logprobs_module, s);
}
