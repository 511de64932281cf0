/*
** perplexity.c: `tensql perplexity MODEL.db FILE [--ctx N]`, how well a
** model predicts a text.
**
**   $ tensql perplexity fortunes.db model/fortunes/validation.txt
**   validation.txt: perplexity 9.8123 (2.28363 nats/token over 35141 tokens, 139 windows of 256)
**
** The text is tokenized as the `logprobs` table tokenizes (BOS first if the
** model adds one; special tokens written in the text, such as
** <|endoftext|> between documents, are parsed), then cut into windows of
** the context length (or --ctx) that overlap by one token, so that every
** token after the first is predicted exactly once, from the tokens before
** it in its window.  Each window is one query:
**
**   SELECT sum(logprob), count(*) FROM logprobs WHERE tokens = '[...]'
**
** which runs the model's SQL program over the window in one prefill step.
** Perplexity is exp of the mean negative log-likelihood.  model/train.py
** computes the same quantity with PyTorch.
*/
#include "perplexity.h"
#include "clock.h"
#include "database.h"

#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/file.h"
#include "model.h"
#include "tensql.h"
#include "tokenizer/tokenizer.h"

#include "options.h"

int perplexity_usage(FILE *f){
  fprintf(f,
    "usage: tensql perplexity MODEL.db FILE [--ctx N]\n"
    "  Prints the model's perplexity on FILE's text, scored in windows of N\n"
    "  tokens (default: the model's context) that overlap by one token.\n");
  return f == stdout ? 0 : EXIT_USAGE;
}

/* The text's ids, BOS first if the model adds one: malloc'd, *n of them;
** NULL after a message. */
static int *perplexity_tokenize(const tokenizer *t, const char *text, size_t len, int64_t *n){
  char msg[256];
  int bos = tokenizer_add_bos(t) && tokenizer_bos(t) >= 0;
  int count = tokenizer_encode(t, text, len, 1, 0, 0, msg, sizeof msg);
  int *ids = count >= 0 ? malloc(((size_t)count + 1) * sizeof *ids) : 0;
  if( ids == 0 ){
    fprintf(stderr, "tensql perplexity: %s\n", count < 0 ? msg : "out of memory");
    return 0;
  }
  if( bos ) ids[0] = tokenizer_bos(t);
  tokenizer_encode(t, text, len, 1, ids + bos, count, msg, sizeof msg);
  *n = count + bos;
  return ids;
}

/* ids[0..n) as a JSON array, into buf (which holds 12 bytes per id + 3). */
static void perplexity_json(const int *ids, int64_t n, char *buf){
  char *p = buf;
  *p++ = '[';
  for(int64_t i = 0; i < n; i++) p += sprintf(p, i ? ",%d" : "%d", ids[i]);
  *p++ = ']';
  *p = 0;
}

typedef struct perplexity_run {
  sqlite3 *db;
  sqlite3_stmt *window;      /* sum(logprob), count(*) of one window */
  double nll;                /* summed over the windows so far */
  int64_t predicted;         /* tokens scored so far */
  int windows;
} perplexity_run;

/* Score ids[0..n) as one window. */
static int perplexity_window(perplexity_run *r, const int *ids, int64_t n, char *json){
  perplexity_json(ids, n, json);
  sqlite3_bind_text(r->window, 1, json, -1, SQLITE_STATIC);
  int rc = sqlite3_step(r->window);
  if( rc == SQLITE_ROW ){
    r->nll -= sqlite3_column_double(r->window, 0);
    r->predicted += sqlite3_column_int64(r->window, 1);
    r->windows++;
    rc = sqlite3_step(r->window);
  }
  sqlite3_reset(r->window);
  if( rc != SQLITE_DONE ){
    fprintf(stderr, "tensql perplexity: window %d: %s\n", r->windows + 1, sqlite3_errmsg(r->db));
    return -1;
  }
  return 0;
}

/* Score every window of ctx tokens; stride ctx - 1. */
static int perplexity_score(perplexity_run *r, const int *ids, int64_t n, int ctx){
  char *json = malloc((size_t)ctx * 12 + 3);
  if( json == 0 ) return -1;
  int64_t total = n > 1 ? (n - 2) / (ctx - 1) + 1 : 0;
  int progress = isatty(2), rc = 0;
  for(int64_t start = 0; rc == 0 && start < n - 1; start += ctx - 1){
    int64_t len = n - start < ctx ? n - start : ctx;
    rc = perplexity_window(r, ids + start, len, json);
    if( rc == 0 && progress ){
      fprintf(stderr, "\r[%d/%lld] perplexity %.4f", r->windows, (long long)total,
              exp(r->nll / (double)r->predicted));
    }
  }
  if( progress ) fprintf(stderr, "\n");
  free(json);
  return rc;
}

int perplexity_command(int argc, char **argv){
  static const struct option options[] = {
    { "ctx", required_argument, 0, 'c' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
  };
  long ctx = 0;
  char *end = "";
  int c;
  optind = 1;
  while( (c = getopt_long(argc, argv, "c:h", options, 0)) != -1 ){
    if( c != 'c' ) return perplexity_usage(stderr);
    ctx = strtol(optarg, &end, 10);
    if( *end || ctx < 2 ) return perplexity_usage(stderr);
  }
  if( optind != argc - 2 ) return perplexity_usage(stderr);
  const char *path = argv[optind], *file = argv[optind + 1];
  char err[512];
  model *m = model_open(path, err, sizeof err);
  if( m == 0 ){
    fprintf(stderr, "tensql perplexity: %s\n", err);
    return 1;
  }
  if( ctx == 0 || ctx > m->params.context_length ) ctx = m->params.context_length;
  size_t len = 0;
  int64_t n = 0;
  int *ids = 0;
  char *text = file_read_all(file, &len, err, sizeof err);
  if( text == 0 ) fprintf(stderr, "tensql perplexity: %s\n", err);
  if( text ) ids = perplexity_tokenize(m->tokenizer, text, len, &n);
  free(text);
  perplexity_run r = {0};
  int rc = ids ? 0 : 1;
  if( rc == 0 && n < 2 ){
    fprintf(stderr, "tensql perplexity: %s has fewer than two tokens\n", file);
    rc = 1;
  }
  if( rc == 0 && (database_open(path, &r.db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK
   || tensql_register(r.db) != SQLITE_OK
   || sqlite3_prepare_v2(r.db, "SELECT sum(logprob), count(*) FROM logprobs WHERE tokens = ?1",
                         -1, &r.window, 0) != SQLITE_OK) ){
    fprintf(stderr, "tensql perplexity: %s: %s\n", path, sqlite3_errmsg(r.db));
    rc = 1;
  }
  double start = clock_seconds();
  if( rc == 0 && perplexity_score(&r, ids, n, (int)ctx) ) rc = 1;
  double secs = clock_seconds() - start;
  if( rc == 0 ){
    const char *name = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    double mean = r.nll / (double)r.predicted;
    printf("%s: perplexity %.4f (%.5f nats/token over %lld tokens, %d windows of %ld)\n",
           name, exp(mean), mean, (long long)r.predicted, r.windows, ctx);
    fprintf(stderr, "scored %lld tokens in %.1f s (%.0f tok/s)\n", (long long)n, secs,
            secs > 0 ? n / secs : 0.0);
  }
  sqlite3_finalize(r.window);
  sqlite3_close(r.db);
  free(ids);
  model_release(m);
  return rc;
}
