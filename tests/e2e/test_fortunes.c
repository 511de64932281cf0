/*
** test_fortunes.c: tensql's default model, model/fortunes (trained by
** model/train.py), against PyTorch's own outputs for the same weights in
** model/fortunes/reference_logits.json: for each reference prompt the
** token ids, the logits of the last position (within 1e-4), and the greedy
** continuation; and the perplexity of model/fortunes/validation.txt, which
** the logprobs table must give as PyTorch did (within 1%; in practice far
** closer).
*/
#include "../testutil.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

#include "import/import.h"
#include "tensql.h"

/* SRC_DIR comes from Makefile.am: the top source directory. */
#define FORTUNES(f) SRC_DIR "/model/fortunes/" f

static char db_path[1024];
static char *reference;      /* reference_logits.json's text */

static void setup_model(void){
  char err[512];
  import_options opt = { .dtype = -1 };
  snprintf(db_path, sizeof db_path, "%s", test_tmp_path("fortunes.db"));
  ck_assert_msg(import_model(FORTUNES(""), db_path, &opt, err, sizeof err) == 0, "%s", err);
  reference = test_read_file(FORTUNES("reference_logits.json"), 0);
}

static void teardown_model(void){
  free(reference);
}

static sqlite3 *open_model(void){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
  ck_assert_int_eq(tensql_register(db), SQLITE_OK);
  return db;
}

/* The numbers of a JSON array: at `path` of the reference when json is
** NULL, else of json itself.  Returns how many (at most cap are kept). */
static int json_numbers(sqlite3 *db, const char *json, const char *path, double *out, int cap){
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT value FROM json_each(?1, ?2)", -1, &st, 0),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, json ? json : reference, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
  int n = 0;
  while( sqlite3_step(st) == SQLITE_ROW ){
    if( n < cap ) out[n] = sqlite3_column_double(st, 0);
    n++;
  }
  sqlite3_finalize(st);
  return n;
}

/* A value at `path` of the reference, as text (caller frees) or a number. */
static char *reference_text(sqlite3 *db, const char *path){
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT json_extract(?1, ?2)", -1, &st, 0), SQLITE_OK);
  sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  const char *s = (const char *)sqlite3_column_text(st, 0);
  ck_assert_msg(s != 0, "reference_logits.json has no %s", path);
  char *copy = strdup(s);
  sqlite3_finalize(st);
  return copy;
}

static double reference_number(sqlite3 *db, const char *path){
  char *s = reference_text(db, path);
  double x = atof(s);
  free(s);
  return x;
}

/* Reference prompt k: its text (caller frees), and the numbers of its
** `field` (ids, logits, greedy) into out, at most cap; *count says how many. */
static char *reference_prompt(sqlite3 *db, int k, const char *field, double *out, int cap,
                              int *count){
  char path[64];
  snprintf(path, sizeof path, "$.prompts[%d].%s", k, field);
  *count = json_numbers(db, 0, path, out, cap);
  snprintf(path, sizeof path, "$.prompts[%d].prompt", k);
  return reference_text(db, path);
}

static int reference_prompts(sqlite3 *db){
  double unused[1];
  int n = json_numbers(db, 0, "$.prompts", unused, 0);
  ck_assert_int_ge(n, 3);
  return n;
}

/* tensql's tokenization of each prompt, after BOS, is PyTorch's. */
START_TEST(test_tokenize){
  sqlite3 *db = open_model();
  int n = reference_prompts(db);
  double bos = reference_number(db, "$.prompts[0].ids[0]");
  for(int k = 0; k < n; k++){
    double ref[512], got[512];
    int n_ref;
    char *prompt = reference_prompt(db, k, "ids", ref, 512, &n_ref);
    ck_assert_int_eq(ref[0], bos);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT tokenize(?1)", -1, &st, 0), SQLITE_OK);
    sqlite3_bind_text(st, 1, prompt, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int n_got = json_numbers(db, (const char *)sqlite3_column_text(st, 0), "$", got, 512);
    sqlite3_finalize(st);
    ck_assert_msg(n_got == n_ref - 1, "%s: %d tokens, PyTorch's %d", prompt, n_got, n_ref - 1);
    for(int i = 0; i < n_got; i++){
      ck_assert_msg(got[i] == ref[i + 1], "%s: token %d is %g, PyTorch's %g", prompt, i,
                    got[i], ref[i + 1]);
    }
    free(prompt);
  }
  /* the model's BOS, which generate puts first, is the reference's */
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key ="
                   " 'tokenizer.ggml.bos_token_id'", -1, &st, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(st, 0), (int)bos);
  sqlite3_finalize(st);
  sqlite3_close(db);
}
END_TEST

/* The logits of each prompt's last position, after a prefill, are
** PyTorch's within 1e-4. */
START_TEST(test_logits){
  for(int k = 0; ; k++){
    sqlite3 *db = open_model();
    if( k >= reference_prompts(db) ){
      sqlite3_close(db);
      break;
    }
    static double ref[4096];
    int vocab;
    char *prompt = reference_prompt(db, k, "logits", ref, 4096, &vocab);
    ck_assert_int_gt(vocab, 0);
    ck_assert_int_le(vocab, 4096);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT token FROM generate WHERE prompt = ?1"
                     " AND max_tokens = 1", -1, &st, 0), SQLITE_OK);
    sqlite3_bind_text(st, 1, prompt, -1, SQLITE_STATIC);
    while( sqlite3_step(st) == SQLITE_ROW ){}
    ck_assert_msg(sqlite3_finalize(st) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT data FROM act WHERE name = 'logits'",
                     -1, &st, 0), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_bytes(st, 0) / 4;
    ck_assert_int_ge(n, vocab);
    /* the last row: the last position's logits */
    const float *got = (const float *)sqlite3_column_blob(st, 0) + (n - vocab);
    double worst = 0;
    int at = 0;
    for(int i = 0; i < vocab; i++){
      if( fabs(got[i] - ref[i]) > worst ){
        worst = fabs(got[i] - ref[i]);
        at = i;
      }
    }
    ck_assert_msg(worst < 1e-4, "%s: logit %d is %g, PyTorch's %g", prompt, at, got[at], ref[at]);
    sqlite3_finalize(st);
    free(prompt);
    sqlite3_close(db);
  }
}
END_TEST

/* Greedy decoding gives PyTorch's greedy tokens (generate stops at the
** end-of-text token and does not return it). */
START_TEST(test_greedy){
  sqlite3 *db = open_model();
  int n = reference_prompts(db);
  double eos = reference_number(db, "$.prompts[0].ids[0]");
  for(int k = 0; k < n; k++){
    double ref[256];
    int n_ref;
    char *prompt = reference_prompt(db, k, "greedy", ref, 256, &n_ref);
    int ends = n_ref > 0 && ref[n_ref - 1] == eos;
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT token FROM generate WHERE prompt = ?1"
                     " AND max_tokens = ?2", -1, &st, 0), SQLITE_OK);
    sqlite3_bind_text(st, 1, prompt, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, n_ref);
    int i = 0;
    while( sqlite3_step(st) == SQLITE_ROW ){
      ck_assert_msg(i < n_ref - ends, "%s: tensql goes on after PyTorch's end", prompt);
      ck_assert_msg(sqlite3_column_int(st, 0) == ref[i], "%s: greedy token %d is %d,"
                    " PyTorch's %g", prompt, i, sqlite3_column_int(st, 0), ref[i]);
      i++;
    }
    ck_assert_msg(sqlite3_finalize(st) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    ck_assert_msg(i == n_ref - ends, "%s: %d greedy tokens, PyTorch's %d", prompt, i, n_ref - ends);
    free(prompt);
  }
  sqlite3_close(db);
}
END_TEST

/* logprobs over validation.txt, in the windows tensql perplexity uses,
** gives the perplexity PyTorch reported: same token count, within 1%. */
START_TEST(test_validation_perplexity){
  sqlite3 *db = open_model();
  char *text = test_read_file(FORTUNES("validation.txt"), 0);
  int ctx = (int)reference_number(db, "$.validation.ctx");
  double ref_ppl = reference_number(db, "$.validation.perplexity");
  double ref_tokens = reference_number(db, "$.validation.tokens");
  /* the file's ids, BOS first, as the logprobs table tokenizes text */
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT json_group_array(id) FROM (SELECT ?2 AS id"
                   " UNION ALL SELECT value FROM json_each(tokenize(?1, 1)))", -1, &st, 0), SQLITE_OK);
  sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, (int)reference_number(db, "$.prompts[0].ids[0]"));
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  char *ids_json = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  static double ids[200000];
  int n = json_numbers(db, ids_json, "$", ids, 200000);
  ck_assert_int_le(n, 200000);
  ck_assert_msg(n - 1 == ref_tokens, "validation.txt: %d tokens after BOS, PyTorch's %g", n - 1, ref_tokens);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT sum(logprob), count(*) FROM logprobs"
                   " WHERE tokens = ?1", -1, &st, 0), SQLITE_OK);
  char *window = malloc((size_t)ctx * 12 + 3);
  double nll = 0;
  long scored = 0;
  for(int start = 0; start < n - 1; start += ctx - 1){
    int len = n - start < ctx ? n - start : ctx;
    char *p = window;
    *p++ = '[';
    for(int i = 0; i < len; i++) p += sprintf(p, i ? ",%d" : "%d", (int)ids[start + i]);
    strcpy(p, "]");
    sqlite3_bind_text(st, 1, window, -1, SQLITE_STATIC);
    ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "window at %d: %s", start, sqlite3_errmsg(db));
    nll -= sqlite3_column_double(st, 0);
    scored += sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  ck_assert_int_eq(scored, n - 1);
  double ppl = exp(nll / scored);
  ck_assert_msg(fabs(ppl - ref_ppl) < 0.01 * ref_ppl, "perplexity %.5f, PyTorch's %.5f", ppl, ref_ppl);
  free(window);
  free(ids_json);
  free(text);
  sqlite3_close(db);
}
END_TEST

/* logprobs on text: BOS first, one row per later token, log-probabilities
** <= 0; and `predicted` is where greedy decoding goes. */
START_TEST(test_logprobs_text){
  sqlite3 *db = open_model();
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*), min(pos), max(logprob),"
                   " json_array_length(tokenize(?1)) FROM logprobs WHERE text = ?1", -1, &st, 0),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, "A fool and his money are soon parted.", -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(st, 0), sqlite3_column_int(st, 3));
  ck_assert_int_eq(sqlite3_column_int(st, 1), 1);
  ck_assert(sqlite3_column_double(st, 2) <= 0);
  sqlite3_finalize(st);
  /* BOS, the prompt and greedy's first token: the last row's prediction is
  ** that token, at the logprob generate reports */
  int greedy = -1;
  double greedy_logprob = 0;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT token, logprob FROM generate WHERE prompt ="
                   " 'The best way to' AND max_tokens = 1", -1, &st, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  greedy = sqlite3_column_int(st, 0);
  greedy_logprob = sqlite3_column_double(st, 1);
  sqlite3_finalize(st);
  int bos = (int)reference_number(db, "$.prompts[0].ids[0]");
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT token, predicted, logprob FROM logprobs WHERE tokens ="
           " '[%d,' || substr(tokenize('The best way to'), 2, length(tokenize('The best way to'))"
           " - 2) || ',%d]' ORDER BY pos DESC LIMIT 1", bos, greedy);
  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, 0), SQLITE_OK);
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s", sqlite3_errmsg(db));
  ck_assert_int_eq(sqlite3_column_int(st, 0), greedy);
  ck_assert_int_eq(sqlite3_column_int(st, 1), greedy);
  ck_assert_msg(fabs(sqlite3_column_double(st, 2) - greedy_logprob) < 1e-4, "logprob %g,"
                " generate's %g", sqlite3_column_double(st, 2), greedy_logprob);
  sqlite3_finalize(st);
  sqlite3_close(db);
}
END_TEST

/* Errors: no input, two inputs, bad ids, too long. */
START_TEST(test_logprobs_errors){
  sqlite3 *db = open_model();
  const char *bad[] = {
    "SELECT * FROM logprobs",
    "SELECT * FROM logprobs WHERE text = 'a' AND tokens = '[1]'",
    "SELECT * FROM logprobs WHERE tokens = '[1, 99999]'",
    "SELECT * FROM logprobs WHERE tokens = '[1, 2'",
    "SELECT * FROM logprobs WHERE tokens = 'not json'",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)"
    " SELECT * FROM logprobs WHERE tokens = (SELECT json_group_array(1) FROM n)",
  };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++){
    char *err = 0;
    int rc = sqlite3_exec(db, bad[i], 0, 0, &err);
    ck_assert_msg(rc != SQLITE_OK, "%s succeeded", bad[i]);
    ck_assert_msg(err && strstr(err, "logprobs"), "%s: %s", bad[i], err ? err : "no message");
    sqlite3_free(err);
  }
  sqlite3_close(db);
}
END_TEST

static Suite *fortunes_suite(void){
  Suite *s = suite_create("fortunes");
  TCase *tc = tcase_create("reference");
  tcase_add_unchecked_fixture(tc, setup_model, teardown_model);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_tokenize);
  tcase_add_test(tc, test_logits);
  tcase_add_test(tc, test_greedy);
  tcase_add_test(tc, test_validation_perplexity);
  tcase_add_test(tc, test_logprobs_text);
  tcase_add_test(tc, test_logprobs_errors);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(fortunes_suite)
