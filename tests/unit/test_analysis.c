/*
** test_analysis.c: the activation-analysis functions (vtab/analysis.c) and
** tensor_values over a blob.  tensor_norm, tensor_dot and tensor_topk are
** checked on constructed blobs against sums and a selection computed here
** in C; logit_lens of the final residual stream after a generate must give
** the model's own logits (act 'logits'), on stories260K (output.weight, one
** tile) and on the synthetic tiny Qwen2 (tied token_embd.weight in Q8_0,
** many tiles, under a memory budget of a few tiles).  Bad input gives
** errors that name the function; NULL gives NULL.
*/
#include "../testutil.h"

#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "import/import.h"
#include "kernels/tensor.h"
#include "synth.h"
#include "tensql.h"

static char stories_db[1024], tiny_db[1024];

static void setup_models(void){
  char err[512];
  import_options opt = { .dtype = -1 };
  snprintf(stories_db, sizeof stories_db, "%s", test_tmp_path("analysis_stories.db"));
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.gguf"), stories_db, &opt,
                             err, sizeof err) == 0, "%s", err);
  char gguf[1024];
  snprintf(gguf, sizeof gguf, "%s", test_tmp_path("analysis_tiny.gguf"));
  snprintf(tiny_db, sizeof tiny_db, "%s", test_tmp_path("analysis_tiny.db"));
  synth_options so = { .preset = "tiny", .out = gguf, .dtype = TENSOR_Q8_0, .seed = 11 };
  ck_assert_msg(synth_write(&so, err, sizeof err) == 0, "%s", err);
  opt.tile_bytes = 256 << 10;     /* the tied output in many tiles */
  ck_assert_msg(import_model(gguf, tiny_db, &opt, err, sizeof err) == 0, "%s", err);
}

static sqlite3 *open_db(const char *path){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(tensql_register(db), SQLITE_OK);
  return db;
}

/* Prepare sql and bind blobs a (and b, if given) to ?1 and ?2. */
static sqlite3_stmt *prepare_blobs(sqlite3 *db, const char *sql, const void *a, int a_bytes,
                                   const void *b, int b_bytes){
  sqlite3_stmt *st;
  ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, 0) == SQLITE_OK, "%s: %s", sql,
                sqlite3_errmsg(db));
  if( a ) ck_assert_int_eq(sqlite3_bind_blob(st, 1, a, a_bytes, SQLITE_TRANSIENT), SQLITE_OK);
  if( b ) ck_assert_int_eq(sqlite3_bind_blob(st, 2, b, b_bytes, SQLITE_TRANSIENT), SQLITE_OK);
  return st;
}

static double query_double(sqlite3 *db, const char *sql, const void *a, int a_bytes,
                           const void *b, int b_bytes){
  sqlite3_stmt *st = prepare_blobs(db, sql, a, a_bytes, b, b_bytes);
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
  ck_assert_int_eq(sqlite3_column_type(st, 0), SQLITE_FLOAT);
  double v = sqlite3_column_double(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* The one text value sql returns (NULL for NULL), sqlite3_malloc'd. */
static char *query_text(sqlite3 *db, const char *sql, const void *a, int a_bytes){
  sqlite3_stmt *st = prepare_blobs(db, sql, a, a_bytes, 0, 0);
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
  const char *t = (const char*)sqlite3_column_text(st, 0);
  char *out = t ? sqlite3_mprintf("%s", t) : 0;
  sqlite3_finalize(st);
  return out;
}

static int query_is_null(sqlite3 *db, const char *sql){
  sqlite3_stmt *st = prepare_blobs(db, sql, 0, 0, 0, 0);
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
  int null = sqlite3_column_type(st, 0) == SQLITE_NULL;
  sqlite3_finalize(st);
  return null;
}

/* sql (blob a bound to ?1) fails with a message containing want. */
static void expect_error(sqlite3 *db, const char *sql, const void *a, int a_bytes,
                         const char *want){
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, 0);
  if( rc == SQLITE_OK ){
    if( a ) sqlite3_bind_blob(st, 1, a, a_bytes, SQLITE_TRANSIENT);
    while( (rc = sqlite3_step(st)) == SQLITE_ROW ){}
    sqlite3_finalize(st);
  }
  ck_assert_msg(rc != SQLITE_DONE && rc != SQLITE_OK, "%s: no error", sql);
  ck_assert_msg(strstr(sqlite3_errmsg(db), want) != 0, "%s: error \"%s\" lacks \"%s\"", sql,
                sqlite3_errmsg(db), want);
}

/* Deterministic values in [-4, 4), some repeated so that topk sees ties. */
static void fill(float *x, int n, uint32_t seed){
  uint32_t s = seed;
  for(int i = 0; i < n; i++){
    s = s * 1664525u + 1013904223u;
    x[i] = (float)((int)(s >> 20) - 2048) / 512.0f;
  }
}

/* ---- tensor_norm, tensor_dot ------------------------------------------------- */

START_TEST(test_norm){
  sqlite3 *db = open_db(":memory:");
  enum { N = 1000 };
  float x[N];
  fill(x, N, 1);
  double sum = 0;
  for(int i = 0; i < N; i++) sum += (double)x[i] * x[i];
  double got = query_double(db, "SELECT tensor_norm(?)", x, sizeof x, 0, 0);
  ck_assert_double_eq_tol(got, sqrt(sum), 1e-9 * sqrt(sum));
  float three_four[2] = { 3, -4 };
  ck_assert_double_eq(query_double(db, "SELECT tensor_norm(?)", three_four, 8, 0, 0), 5.0);
  ck_assert_double_eq(query_double(db, "SELECT tensor_norm(x'')", 0, 0, 0, 0), 0.0);
  /* a blob that starts at an odd address: substr of one byte on */
  unsigned char shifted[1 + sizeof x];
  shifted[0] = 0x55;
  memcpy(shifted + 1, x, sizeof x);
  got = query_double(db, "SELECT tensor_norm(substr(?, 2))", shifted, sizeof shifted, 0, 0);
  ck_assert_double_eq_tol(got, sqrt(sum), 1e-9 * sqrt(sum));
  sqlite3_close(db);
}
END_TEST

START_TEST(test_dot){
  sqlite3 *db = open_db(":memory:");
  enum { N = 777 };
  float a[N], b[N];
  fill(a, N, 2);
  fill(b, N, 3);
  double dot = 0, aa = 0;
  for(int i = 0; i < N; i++){
    dot += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
  }
  double got = query_double(db, "SELECT tensor_dot(?1, ?2)", a, sizeof a, b, sizeof b);
  ck_assert_double_eq_tol(got, dot, 1e-9 * fabs(dot) + 1e-12);
  got = query_double(db, "SELECT tensor_dot(?1, ?1) - tensor_norm(?1) * tensor_norm(?1)",
                     a, sizeof a, 0, 0);
  ck_assert_double_eq_tol(got, 0, 1e-9 * aa);
  ck_assert_double_eq(query_double(db, "SELECT tensor_dot(x'', x'')", 0, 0, 0, 0), 0.0);
  expect_error(db, "SELECT tensor_dot(?1, substr(?1, 5))", a, sizeof a,
               "tensor_dot: lengths differ: 777 and 776 floats");
  sqlite3_close(db);
}
END_TEST

/* ---- tensor_topk --------------------------------------------------------------- */

/* The k best of x by repeated selection (largest value, lower index first). */
static int reference_topk(const float *x, int n, int k, int *index){
  char *taken = calloc((size_t)n, 1);
  if( k > n ) k = n;
  for(int j = 0; j < k; j++){
    int best = -1;
    for(int i = 0; i < n; i++){
      if( !taken[i] && (best < 0 || x[i] > x[best]) ) best = i;
    }
    taken[best] = 1;
    index[j] = best;
  }
  free(taken);
  return k;
}

/* tensor_topk(x, k) parsed back through SQLite's JSON: indices and values. */
static int topk_rows(sqlite3 *db, const float *x, int n, int k, int *index, double *value){
  sqlite3_stmt *st = prepare_blobs(db, "SELECT json_extract(value, '$.index'),"
                                       " json_extract(value, '$.value')"
                                       " FROM json_each(tensor_topk(?1, ?2)) ORDER BY key",
                                   x, n * (int)sizeof(float), 0, 0);
  sqlite3_bind_int(st, 2, k);
  int rows = 0, rc;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    index[rows] = sqlite3_column_int(st, 0);
    value[rows] = sqlite3_column_double(st, 1);
    rows++;
  }
  ck_assert_msg(rc == SQLITE_DONE, "%s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return rows;
}

START_TEST(test_topk){
  sqlite3 *db = open_db(":memory:");
  enum { N = 3000 };
  static float x[N];
  static int want[N], got[N];
  static double value[N];
  fill(x, N, 4);   /* 4096 levels over 3000 values: ties are certain */
  int ks[] = { 1, 5, 64, N, N + 10 };
  for(size_t t = 0; t < sizeof ks / sizeof ks[0]; t++){
    int n_want = reference_topk(x, N, ks[t], want);
    int n_got = topk_rows(db, x, N, ks[t], got, value);
    ck_assert_int_eq(n_got, n_want);
    for(int j = 0; j < n_got; j++){
      ck_assert_msg(got[j] == want[j], "k=%d rank %d: index %d, want %d", ks[t], j, got[j], want[j]);
      /* 9 significant digits give the float back exactly */
      ck_assert_msg((float)value[j] == x[want[j]], "rank %d: %.9g != %.9g", j, value[j], x[want[j]]);
    }
  }
  /* the text itself, with a tie, the infinities and a NaN (last) */
  float odd[6] = { 1.0f, NAN, -INFINITY, INFINITY, 1.0f, -0.25f };
  char *json = query_text(db, "SELECT tensor_topk(?, 6)", odd, sizeof odd);
  ck_assert_str_eq(json, "[{\"index\": 3, \"value\": 9e999}, {\"index\": 0, \"value\": 1},"
                         " {\"index\": 4, \"value\": 1}, {\"index\": 5, \"value\": -0.25},"
                         " {\"index\": 2, \"value\": -9e999}, {\"index\": 1, \"value\": null}]");
  sqlite3_free(json);
  json = query_text(db, "SELECT tensor_topk(?, 2)", odd, sizeof odd);
  ck_assert_str_eq(json, "[{\"index\": 3, \"value\": 9e999}, {\"index\": 0, \"value\": 1}]");
  sqlite3_free(json);
  json = query_text(db, "SELECT tensor_topk(x'', 3)", 0, 0);
  ck_assert_str_eq(json, "[]");
  sqlite3_free(json);
  expect_error(db, "SELECT tensor_topk(?, 0)", x, 16, "tensor_topk: k must be an integer of at least 1");
  expect_error(db, "SELECT tensor_topk(?, -3)", x, 16, "tensor_topk: k must be");
  expect_error(db, "SELECT tensor_topk(?, 2.5)", x, 16, "tensor_topk: k must be");
  expect_error(db, "SELECT tensor_topk(?, 'two')", x, 16, "tensor_topk: k must be");
  sqlite3_close(db);
}
END_TEST

/* ---- tensor_values over a blob ------------------------------------------------- */

START_TEST(test_tensor_values_blob){
  sqlite3 *db = open_db(stories_db);
  enum { N = 300 };
  float x[N];
  fill(x, N, 5);
  sqlite3_stmt *st = prepare_blobs(db, "SELECT row, col, value FROM tensor_values(?)",
                                   x, sizeof x, 0, 0);
  int n = 0, rc;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    ck_assert_int_eq(sqlite3_column_int(st, 0), 0);
    ck_assert_int_eq(sqlite3_column_int(st, 1), n);
    ck_assert((float)sqlite3_column_double(st, 2) == x[n]);
    n++;
  }
  ck_assert_int_eq(rc, SQLITE_DONE);
  ck_assert_int_eq(n, N);
  sqlite3_finalize(st);
  /* the floats again, summed by SQL */
  double sum = 0;
  for(int i = 0; i < N; i++) sum += x[i];
  double got = query_double(db, "SELECT sum(value) FROM tensor_values(?)", x, sizeof x, 0, 0);
  ck_assert_double_eq_tol(got, sum, 1e-9);
  got = query_double(db, "SELECT 1.0 * count(*) FROM tensor_values(x'')", 0, 0, 0, 0);
  ck_assert_double_eq(got, 0.0);
  /* an activation of the model, and the tensor-name path as before */
  char *text = query_text(db, "SELECT count(*) FROM generate WHERE prompt = 'Once' AND max_tokens = 1", 0, 0);
  sqlite3_free(text);
  got = query_double(db, "SELECT 1.0 * count(*) FROM tensor_values((SELECT data FROM act"
                         " WHERE name = 'x'))", 0, 0, 0, 0);
  double floats = query_double(db, "SELECT length(data) / 4.0 FROM act WHERE name = 'x'", 0, 0, 0, 0);
  ck_assert_double_eq(got, floats);
  got = query_double(db, "SELECT 1.0 * count(*) FROM tensor_values('output_norm.weight')", 0, 0, 0, 0);
  ck_assert_double_eq(got, 64.0);
  expect_error(db, "SELECT * FROM tensor_values(x'0000803f00')", 0, 0,
               "tensor_values: a BLOB of float32 has a multiple of 4 bytes, this one 5");
  expect_error(db, "SELECT * FROM tensor_values(?, 0)", x, 8, "a tile applies to a tensor name");
  expect_error(db, "SELECT * FROM tensor_values('no.such.weight')", 0, 0, "no tensor no.such.weight");
  sqlite3_close(db);
}
END_TEST

/* ---- errors and NULLs ---------------------------------------------------------- */

START_TEST(test_bad_input){
  sqlite3 *db = open_db(":memory:");
  ck_assert(query_is_null(db, "SELECT tensor_norm(NULL)"));
  ck_assert(query_is_null(db, "SELECT tensor_dot(NULL, x'0000803f')"));
  ck_assert(query_is_null(db, "SELECT tensor_dot(x'0000803f', NULL)"));
  ck_assert(query_is_null(db, "SELECT tensor_topk(NULL, 3)"));
  ck_assert(query_is_null(db, "SELECT tensor_topk(x'0000803f', NULL)"));
  ck_assert(query_is_null(db, "SELECT logit_lens(NULL)"));
  ck_assert(query_is_null(db, "SELECT logit_lens(NULL, 3)"));
  expect_error(db, "SELECT tensor_norm('abc')", 0, 0, "tensor_norm: expected a BLOB of float32, got text");
  expect_error(db, "SELECT tensor_norm(1.5)", 0, 0, "tensor_norm: expected a BLOB of float32, got a real");
  expect_error(db, "SELECT tensor_norm(x'0000803f00')", 0, 0,
               "tensor_norm: a BLOB of float32 has a multiple of 4 bytes, this one 5");
  expect_error(db, "SELECT tensor_dot(x'0000803f', 7)", 0, 0,
               "tensor_dot: expected a BLOB of float32, got an integer");
  expect_error(db, "SELECT tensor_dot(x'000080', x'0000803f')", 0, 0, "tensor_dot: a BLOB of float32");
  expect_error(db, "SELECT tensor_topk('x', 1)", 0, 0, "tensor_topk: expected a BLOB");
  expect_error(db, "SELECT tensor_topk(x'00', 1)", 0, 0, "tensor_topk: a BLOB of float32");
  expect_error(db, "SELECT logit_lens(x'00')", 0, 0, "logit_lens: a BLOB of float32");
  expect_error(db, "SELECT logit_lens(42)", 0, 0, "logit_lens: expected a BLOB");
  /* no model behind this connection: logit_lens says why */
  expect_error(db, "SELECT logit_lens(x'0000803f')", 0, 0, "logit_lens: the main database is not a file");
  sqlite3_close(db);

  db = open_db(stories_db);
  float x[64 * 2 + 1] = { 0 };
  expect_error(db, "SELECT logit_lens(?)", x, 4 * 63,
               "logit_lens: expected a residual-stream vector of 64 floats (the model's dim),"
               " or rows of them; got 63 floats");
  expect_error(db, "SELECT logit_lens(?)", x, 4 * 129, "got 129 floats");
  expect_error(db, "SELECT logit_lens(x'')", 0, 0, "got 0 floats");
  expect_error(db, "SELECT logit_lens(?, 0)", x, 4 * 64, "logit_lens: k must be an integer of at least 1");
  expect_error(db, "SELECT logit_lens(?, 'five')", x, 4 * 64, "logit_lens: k must be");
  sqlite3_close(db);
}
END_TEST

/* ---- logit_lens ---------------------------------------------------------------- */

/* The last row of act's logits after a generate; its length in *n. */
static float *act_floats(sqlite3 *db, const char *name, int *n){
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT data FROM act WHERE name = ?", -1, &st, 0), SQLITE_OK);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "no act %s", name);
  *n = sqlite3_column_bytes(st, 0) / 4;
  float *out = malloc((size_t)*n * 4);
  memcpy(out, sqlite3_column_blob(st, 0), (size_t)*n * 4);
  sqlite3_finalize(st);
  return out;
}

static int generate_one(sqlite3 *db, const char *prompt){
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT token FROM generate WHERE prompt = ?"
                                          " AND max_tokens = 1", -1, &st, 0), SQLITE_OK);
  sqlite3_bind_text(st, 1, prompt, -1, SQLITE_STATIC);
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s", sqlite3_errmsg(db));
  int token = sqlite3_column_int(st, 0);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  return token;
}

static int argmax(const float *x, int n){
  int best = 0;
  for(int i = 1; i < n; i++) if( x[i] > x[best] ) best = i;
  return best;
}

/* logit_lens(x, k) against the real logits: same ranking as a selection over
** logits, each logit within 1e-4.  Returns the entries' count. */
static int check_lens(sqlite3 *db, const float *x, int x_floats, int k, const float *logits,
                      int vocab){
  int *want = malloc((size_t)vocab * sizeof *want);
  int n_want = reference_topk(logits, vocab, k, want);
  sqlite3_stmt *st = prepare_blobs(db, "SELECT json_extract(value, '$.token'),"
                                       " json_extract(value, '$.logit')"
                                       " FROM json_each(logit_lens(?1, ?2)) ORDER BY key",
                                   x, x_floats * 4, 0, 0);
  sqlite3_bind_int(st, 2, k);
  int rows = 0, rc;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    int token = sqlite3_column_int(st, 0);
    double logit = sqlite3_column_double(st, 1);
    ck_assert_int_lt(rows, n_want);
    ck_assert_msg(token >= 0 && token < vocab, "token %d", token);
    ck_assert_msg(fabs(logit - logits[token]) < 1e-4, "token %d: lens %.9g, model %.9g",
                  token, logit, logits[token]);
    /* the same ranking, where the logits are not within rounding of a tie */
    if( token != want[rows] ){
      ck_assert_msg(fabs(logits[token] - logits[want[rows]]) < 1e-4, "rank %d: token %d, want %d",
                    rows, token, want[rows]);
    }
    rows++;
  }
  ck_assert_msg(rc == SQLITE_DONE, "%s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  ck_assert_int_eq(rows, n_want);
  free(want);
  return rows;
}

static int all_ascii(const unsigned char *s, int n){
  for(int i = 0; i < n; i++) if( s[i] >= 0x80 ) return 0;
  return 1;
}

START_TEST(test_logit_lens_stories){
  sqlite3 *db = open_db(stories_db);
  int token = generate_one(db, "Once upon a time");
  /* llama2.c's greedy run: 'Once upon a time' (403 407 261 378), then 432 */
  ck_assert_int_eq(token, 432);
  int x_floats, vocab;
  float *x = act_floats(db, "x", &x_floats);
  float *logits = act_floats(db, "logits", &vocab);
  ck_assert_int_eq(vocab, 512);
  ck_assert_int_eq(x_floats % 64, 0);
  ck_assert_int_eq(argmax(logits, vocab), token);

  /* every token, from the whole x (the last row counts) */
  ck_assert_int_eq(check_lens(db, x, x_floats, vocab, logits, vocab), vocab);
  /* the last row alone; k past the vocabulary gives the vocabulary */
  check_lens(db, x + x_floats - 64, 64, 1000, logits, vocab);
  check_lens(db, x + x_floats - 64, 64, 1, logits, vocab);

  char *top5 = query_text(db, "SELECT logit_lens(data) FROM act WHERE name = 'x'", 0, 0);
  char *top5k = query_text(db, "SELECT logit_lens(data, 5) FROM act WHERE name = 'x'", 0, 0);
  ck_assert_str_eq(top5, top5k);
  ck_assert_msg(strncmp(top5, "[{\"token\": 432, \"text\": ", 24) == 0, "%s", top5);
  sqlite3_free(top5);
  sqlite3_free(top5k);

  /* the texts: valid JSON strings equal to token_text, U+FFFD for a byte
  ** that is not UTF-8 on its own */
  sqlite3_stmt *st = prepare_blobs(db, "SELECT json_extract(j.value, '$.token'),"
                                       " json_extract(j.value, '$.text'), token_text(json_extract(j.value, '$.token'))"
                                       " FROM json_each(logit_lens(?1, 512)) j", x, x_floats * 4, 0, 0);
  int rows = 0, ascii = 0, replaced = 0;
  while( sqlite3_step(st) == SQLITE_ROW ){
    const unsigned char *text = sqlite3_column_text(st, 1);
    const unsigned char *piece = sqlite3_column_text(st, 2);
    int piece_len = sqlite3_column_bytes(st, 2);
    ck_assert(text != 0 && piece != 0);
    if( all_ascii(piece, piece_len) ){
      ck_assert_msg(strcmp((const char*)text, (const char*)piece) == 0, "token %d: \"%s\" != \"%s\"",
                    sqlite3_column_int(st, 0), text, piece);
      ascii++;
    }else if( strstr((const char*)text, "\xEF\xBF\xBD") ){
      replaced++;
    }
    rows++;
  }
  sqlite3_finalize(st);
  ck_assert_int_eq(rows, 512);
  ck_assert_int_gt(ascii, 250);
  ck_assert_int_gt(replaced, 100);   /* byte tokens <0x80> .. <0xFF> */
  char *quoted = query_text(db, "SELECT json_valid(logit_lens(?1, 512))", x, x_floats * 4);
  ck_assert_str_eq(quoted, "1");
  sqlite3_free(quoted);
  free(x);
  free(logits);
  sqlite3_close(db);
}
END_TEST

/* Tied output (token_embd.weight, Q8_0) over many tiles, under a budget
** that holds only a few of them: each tile is pinned, used and let go. */
START_TEST(test_logit_lens_tied_tiles){
  sqlite3 *db = open_db(tiny_db);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM tensors WHERE name = 'output.weight'"), 0);
  int64_t n_tiles = query_int(db, "SELECT n_tiles FROM tensors WHERE name = 'token_embd.weight'");
  int64_t tile_bytes = query_int(db, "SELECT max(length(data)) FROM tile WHERE tensor_id ="
                                     " (SELECT id FROM tensor WHERE name = 'token_embd.weight')");
  ck_assert_int_gt(n_tiles, 10);
  int token = generate_one(db, "Hello");
  int x_floats, vocab;
  float *x = act_floats(db, "x", &x_floats);
  float *logits = act_floats(db, "logits", &vocab);
  ck_assert_int_eq(vocab, 151936);
  ck_assert_int_eq(argmax(logits, vocab), token);

  int64_t other = query_int(db, "SELECT other_bytes FROM tile_stats");
  int64_t budget = other + 3 * tile_bytes;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT tensql_budget(%lld)", (long long)budget);
  ck_assert_int_eq(query_int(db, sql), budget);
  int64_t evictions = query_int(db, "SELECT evictions FROM tile_stats");
  ck_assert_int_eq(check_lens(db, x, x_floats, 20, logits, vocab), 20);
  ck_assert_int_le(query_int(db, "SELECT peak_total_bytes FROM tile_stats"), budget);
  ck_assert_int_gt(query_int(db, "SELECT evictions FROM tile_stats"), evictions + n_tiles - 4);
  free(x);
  free(logits);
  sqlite3_close(db);
}
END_TEST

static Suite *analysis_suite(void){
  Suite *s = suite_create("analysis");
  TCase *tc = tcase_create("analysis");
  tcase_add_unchecked_fixture(tc, setup_models, 0);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_norm);
  tcase_add_test(tc, test_dot);
  tcase_add_test(tc, test_topk);
  tcase_add_test(tc, test_tensor_values_blob);
  tcase_add_test(tc, test_bad_input);
  tcase_add_test(tc, test_logit_lens_stories);
  tcase_add_test(tc, test_logit_lens_tied_tiles);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(analysis_suite)
