/*
** test_generate_stories.c: the forward pass in SQL on stories260K, against
** llama2.c run.c's reference outputs in ../shared (vectors/SOURCE.md):
** greedy token ids with and without a prompt, a seeded top-p sample, the
** logits of positions 0-3, prefill against step-by-step decoding, a head
** ablated by editing the program, and the errors generate must give.
*/
#include "../testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

#include "import/import.h"
#include "tensql.h"

#define VECTORS(f) SHARED("models/stories260K/vectors/" f)

static char bin_db[1024], gguf_db[1024], hf_db[1024];

static void setup_models(void){
  char err[512];
  import_options opt = { .dtype = -1, .tokenizer_path = SHARED("models/stories260K/tok512.bin") };
  snprintf(bin_db, sizeof bin_db, "%s", test_tmp_path("gen_bin.db"));
  snprintf(gguf_db, sizeof gguf_db, "%s", test_tmp_path("gen_gguf.db"));
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.bin"), bin_db, &opt, err, sizeof err) == 0, "%s", err);
  /* the Hugging Face copy ships no tokenizer: tok512 comes along */
  snprintf(hf_db, sizeof hf_db, "%s", test_tmp_path("gen_hf.db"));
  ck_assert_msg(import_model(SHARED("models/stories260K/hf"), hf_db, &opt, err, sizeof err) == 0, "%s", err);
  opt.tokenizer_path = 0;
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.gguf"), gguf_db, &opt, err, sizeof err) == 0, "%s", err);
}

static sqlite3 *open_model(const char *path){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(tensql_register(db), SQLITE_OK);
  return db;
}

/* Whitespace-separated integers of a reference file. */
static int read_ids(const char *path, int *ids, int cap){
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != 0, "%s", path);
  int n = 0;
  while( n < cap && fscanf(f, "%d", &ids[n]) == 1 ) n++;
  fclose(f);
  return n;
}

/* The token column of a generate query. */
static int generate_ids(sqlite3 *db, const char *where, int *ids, int cap){
  char *sql = sqlite3_mprintf("SELECT token FROM generate WHERE %s", where);
  sqlite3_stmt *st;
  ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, 0) == SQLITE_OK, "%s", sqlite3_errmsg(db));
  int n = 0, rc;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW && n < cap ) ids[n++] = sqlite3_column_int(st, 0);
  ck_assert_msg(rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_free(sql);
  return n;
}

static void check_greedy(const char *path){
  int ref[300], got[300];
  int n_ref = read_ids(VECTORS("greedy_t0.tokens.txt"), ref, 300);
  ck_assert_int_eq(n_ref, 257);
  sqlite3 *db = open_model(path);
  int n = generate_ids(db, "prompt = '' AND max_tokens = 256", got, 300);
  ck_assert_int_eq(n, 256);
  for(int i = 0; i < n; i++) ck_assert_msg(got[i] == ref[i + 1], "token %d: %d != %d", i, got[i], ref[i + 1]);
  sqlite3_close(db);
}

START_TEST(test_greedy_bin){ check_greedy(bin_db); }
END_TEST

START_TEST(test_greedy_gguf){ check_greedy(gguf_db); }
END_TEST

/* HF's rotate-half q/k are permuted back at import: same tokens. */
START_TEST(test_greedy_hf){ check_greedy(hf_db); }
END_TEST

START_TEST(test_greedy_prompt){
  int ref[100], got[100];
  int n_ref = read_ids(VECTORS("greedy_t0_n64_prompt.tokens.txt"), ref, 100);
  ck_assert_int_eq(n_ref, 65);   /* BOS, 11 prompt ids, 53 generated */
  sqlite3 *db = open_model(gguf_db);
  int n = generate_ids(db, "prompt = 'Lily and Tim went to the park.' AND max_tokens = 53", got, 100);
  ck_assert_int_eq(n, 53);
  for(int i = 0; i < n; i++) ck_assert_int_eq(got[i], ref[i + 12]);
  sqlite3_close(db);
}
END_TEST

START_TEST(test_seeded_sample){
  int ref[300], got[300];
  int n_ref = read_ids(VECTORS("sample_t1.0_p0.9_s133742.tokens.txt"), ref, 300);
  sqlite3 *db = open_model(bin_db);
  int n = generate_ids(db, "prompt = '' AND temperature = 1.0 AND top_p = 0.9"
                           " AND seed = 133742 AND max_tokens = 256", got, 300);
  /* run.c stops when it samples BOS; generate stops there too */
  ck_assert_int_eq(n, n_ref - 1);
  for(int i = 0; i < n; i++) ck_assert_msg(got[i] == ref[i + 1], "token %d: %d != %d", i, got[i], ref[i + 1]);
  sqlite3_close(db);
}
END_TEST

/* The blob of the one row `sql` selects (NULL bound to ?1 and ?2 unless
** given), copied into out; returns its bytes. */
static int query_blob(sqlite3 *db, const char *sql, const void *a, const void *b, int bytes,
                      void *out, int cap){
  sqlite3_stmt *st;
  ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, 0) == SQLITE_OK, "%s", sqlite3_errmsg(db));
  if( a ) sqlite3_bind_blob(st, 1, a, bytes, SQLITE_STATIC);
  if( b ) sqlite3_bind_blob(st, 2, b, bytes, SQLITE_STATIC);
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
  int n = sqlite3_column_bytes(st, 0);
  ck_assert_int_le(n, cap);
  memcpy(out, sqlite3_column_blob(st, 0), (size_t)n);
  sqlite3_finalize(st);
  return n;
}

/* The logits the last step left in act, after a generate of max_tokens k:
** those of position k - 1. */
static int last_logits(sqlite3 *db, const char *where, float *out, int cap){
  int ids[600];
  generate_ids(db, where, ids, 600);
  return query_blob(db, "SELECT data FROM act WHERE name = 'logits'", 0, 0, 0,
                    out, cap * (int)sizeof(float)) / (int)sizeof(float);
}

START_TEST(test_logits_pos0_3){
  FILE *f = fopen(VECTORS("greedy_t0.logits_pos0-3.txt"), "r");
  ck_assert_ptr_nonnull(f);
  sqlite3 *db = open_model(gguf_db);
  float got[512];
  for(int pos = 0; pos < 4; pos++){
    int ref_pos, input;
    ck_assert_int_eq(fscanf(f, "%d %d", &ref_pos, &input), 2);
    ck_assert_int_eq(ref_pos, pos);
    char where[64];
    snprintf(where, sizeof where, "prompt = '' AND max_tokens = %d", pos + 1);
    ck_assert_int_eq(last_logits(db, where, got, 512), 512);
    double worst = 0;
    for(int i = 0; i < 512; i++){
      float ref;
      ck_assert_int_eq(fscanf(f, "%f", &ref), 1);
      if( fabs(got[i] - ref) > worst ) worst = fabs(got[i] - ref);
    }
    ck_assert_msg(worst < 1e-4, "pos %d: logits differ by %g", pos, worst);
  }
  fclose(f);
  sqlite3_close(db);
}
END_TEST

/* "Once upon a" is BOS 403 407 261, the reference's first four inputs: its
** prefill must give position 3's logits as four decode steps do. */
START_TEST(test_prefill_equals_steps){
  sqlite3 *db = open_model(bin_db);
  float prefill[512], steps[512];
  last_logits(db, "prompt = 'Once upon a' AND max_tokens = 1", prefill, 512);
  last_logits(db, "prompt = '' AND max_tokens = 4", steps, 512);
  double worst = 0;
  for(int i = 0; i < 512; i++) if( fabs(prefill[i] - steps[i]) > worst ) worst = fabs(prefill[i] - steps[i]);
  ck_assert_msg(worst < 1e-5, "prefill and steps differ by %g", worst);
  /* and over a longer prompt: 11 prompt tokens, then decoding */
  last_logits(db, "prompt = 'Lily and Tim went to the park. They saw' AND max_tokens = 1", prefill, 512);
  last_logits(db, "prompt = 'Lily and Tim went to the park.' AND max_tokens = 3", steps, 512);
  worst = 0;
  for(int i = 0; i < 512; i++) if( fabs(prefill[i] - steps[i]) > worst ) worst = fabs(prefill[i] - steps[i]);
  ck_assert_msg(worst < 1e-5, "prefill and steps differ by %g", worst);
  sqlite3_close(db);
}
END_TEST

static void exec_ok(sqlite3 *db, const char *sql){
  char *err = 0;
  ck_assert_msg(sqlite3_exec(db, sql, 0, 0, &err) == SQLITE_OK, "%s: %s", sql, err ? err : "");
}

/* A copy of the model database `db` under tests' tmp/name, opened: for
** tests that edit the program. */
static sqlite3 *open_copy(const char *db, const char *name){
  char copy[1024];
  snprintf(copy, sizeof copy, "%s", test_tmp_path(name));
  test_copy_file(db, copy);
  return open_model(copy);
}

/* Editing the program changes the model: leave out head 3 of layer 0. */
START_TEST(test_ablate_head){
  sqlite3 *db = open_copy(gguf_db, "ablate.db");
  float before[512], after[512];
  last_logits(db, "prompt = 'Once upon a time' AND max_tokens = 1", before, 512);
  exec_ok(db, "UPDATE program SET sql = replace(sql, 'AND v.layer = 0 AND v.name = ''v''',"
              " 'AND v.layer = 0 AND v.name = ''v'' AND h.head <> 3') WHERE layer = 0 AND sql LIKE '%attention(%'");
  ck_assert_int_eq(sqlite3_changes(db), 1);
  last_logits(db, "prompt = 'Once upon a time' AND max_tokens = 1", after, 512);
  double diff = 0;
  for(int i = 0; i < 512; i++) diff += fabs(before[i] - after[i]);
  ck_assert_msg(diff > 1e-2, "ablating a head changed nothing (%g)", diff);
  sqlite3_close(db);
}
END_TEST

static void expect_error(sqlite3 *db, const char *where, const char *needle){
  char *sql = sqlite3_mprintf("SELECT token FROM generate WHERE %s", where);
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, 0);
  if( rc == SQLITE_OK ){
    while( (rc = sqlite3_step(st)) == SQLITE_ROW ){}
    sqlite3_finalize(st);
  }
  ck_assert_msg(rc != SQLITE_DONE && rc != SQLITE_OK, "%s succeeded", sql);
  ck_assert_msg(strstr(sqlite3_errmsg(db), needle), "%s: '%s' lacks '%s'", sql, sqlite3_errmsg(db), needle);
  sqlite3_free(sql);
}

START_TEST(test_bad_arguments){
  sqlite3 *db = open_model(bin_db);
  expect_error(db, "prompt = NULL", "prompt must be text");
  expect_error(db, "prompt = 42", "prompt must be text");
  expect_error(db, "max_tokens = 3", "needs a prompt");
  expect_error(db, "prompt = 'a' AND temperature = -1", "temperature");
  expect_error(db, "prompt = 'a' AND temperature = 'hot'", "temperature");
  expect_error(db, "prompt = 'a' AND top_p = 1.5", "top_p");
  expect_error(db, "prompt = 'a' AND top_k = -2", "top_k");
  expect_error(db, "prompt = 'a' AND max_tokens = -1", "max_tokens");
  expect_error(db, "prompt = 'a' AND max_tokens = 2.5", "max_tokens");
  expect_error(db, "prompt = 'a' AND chat = 7", "chat");
  /* 600 words of one token each: beyond the 512-position context */
  char *long_prompt = sqlite3_mprintf("prompt = (WITH RECURSIVE r(n, s) AS (SELECT 0, ''"
      " UNION ALL SELECT n + 1, s || ' the' FROM r WHERE n < 600) SELECT s FROM r WHERE n = 600)");
  expect_error(db, long_prompt, "the context holds 512");
  sqlite3_free(long_prompt);
  sqlite3_close(db);
}
END_TEST

/* The program can leave act without logits of the vocabulary's size:
** generate says so.  The message once passed the size as %zu to
** sqlite3_mprintf, which reads %z as a string to free: each of these
** crashed the process. */
START_TEST(test_no_logits){
  const char *edits[][2] = {
    { "UPDATE program SET sql = 'SELECT 1/0'", "no logits of 512 values" },
    { "DELETE FROM vocab WHERE id > 100", "no logits of 101 values" },
  };
  for(size_t i = 0; i < sizeof edits / sizeof edits[0]; i++){
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", test_tmp_path("no_logits.db"));
    test_copy_file(bin_db, copy);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(copy, &db), SQLITE_OK);
    exec_ok(db, edits[i][0]);
    sqlite3_close(db);
    db = open_model(copy);
    expect_error(db, "prompt = '' AND max_tokens = 2", edits[i][1]);
    sqlite3_close(db);
  }
}
END_TEST

/* act's rows and tile, and kv's layer, come from SQL: sizes made of them
** are checked, not wrapped (tile 2^63 - 1 segfaulted; 2^58 - 1 wrote
** before the activation's buffer; layer 2^32 was layer 0). */
START_TEST(test_state_tables_refuse){
  sqlite3 *db = open_model(bin_db);
  const char *bad[][2] = {
    { "INSERT INTO act(name, rows, tile, data) VALUES ('zz', 1, 9223372036854775807, zeroblob(256))",
      "tile 9223372036854775807 of 'zz', 64 columns wide, would pass" },
    { "INSERT INTO act(name, rows, tile, data) VALUES ('zz', 1, 288230376151711743, zeroblob(256))",
      "would pass the 2147483647 columns" },
    { "INSERT INTO act(name, rows, data) VALUES ('zz', 4611686018427387904, zeroblob(256))",
      "float32 matrix of 4611686018427387904 rows" },
    { "INSERT INTO act(name, rows, data) VALUES ('zz', 'abc', zeroblob(256))",
      "rows and tile must be integers" },
    { "INSERT INTO act(name, rows, tile, data) VALUES ('zz', 1, 1.5, zeroblob(256))",
      "rows and tile must be integers" },
    { "INSERT INTO kv(layer, name, data) VALUES (4294967296, 'k', zeroblob(256))",
      "no layer 4294967296 (the model has 5)" },
  };
  exec_ok(db, "INSERT INTO act(name, rows, tile, data) VALUES ('zz', 1, 0, zeroblob(256))");
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++){
    char *err = 0;
    ck_assert_int_ne(sqlite3_exec(db, bad[i][0], 0, 0, &err), SQLITE_OK);
    ck_assert_msg(err && strstr(err, bad[i][1]), "%s: '%s' lacks '%s'", bad[i][0], err, bad[i][1]);
    sqlite3_free(err);
  }
  ck_assert_int_eq(query_int(db, "SELECT cols FROM act WHERE name = 'zz'"), 64);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM kv WHERE layer = 9223372036854775807"), 0);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM kv WHERE layer = -9223372036854775807"
                                 " AND name = 'v'"), 0);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM kv WHERE layer = 4"), 2);
  sqlite3_close(db);
}
END_TEST

/* The kernels' row, token and position arguments come from SQL: each is
** checked, with its value and the bound in the message.  embed of token
** 999999 said "out of memory" (outside a step it sized a buffer of 0
** rows first); a text row or token read as 0; a position near 2^63
** overflowed; token_text(2^32) was token 0. */
START_TEST(test_kernel_arguments){
  sqlite3 *db = open_model(bin_db);
  const char *bad[][2] = {
    { "SELECT embed(data, 999999, 0) FROM \"token_embd.weight\"",
      "embed: token 999999 is not in the vocabulary of 512 tokens (token_embd.weight)" },
    { "SELECT embed(data, -1, 0) FROM \"token_embd.weight\"", "token -1 is not in the vocabulary" },
    { "SELECT embed(data, 'abc', 0) FROM \"token_embd.weight\"", "embed: the token must be an integer" },
    { "SELECT embed(data, 5, 0) FROM \"token_embd.weight\"", "embed: row 0 is outside the step, of 0 positions" },
    { "SELECT gather_rows(x'0000803f', 'abc')", "gather_rows: the row must be an integer" },
    { "SELECT row_of(x'0000803f', 0.5)", "row_of: the row must be an integer" },
  };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++){
    char *err = 0;
    ck_assert_int_ne(sqlite3_exec(db, bad[i][0], 0, 0, &err), SQLITE_OK);
    ck_assert_msg(err && strstr(err, bad[i][1]), "%s: '%s' lacks '%s'", bad[i][0], err, bad[i][1]);
    sqlite3_free(err);
  }
  ck_assert_int_eq(query_int(db, "SELECT token_text(4294967296) IS NULL"), 1);
  ck_assert_int_eq(query_int(db, "SELECT token_text(-1) IS NULL"), 1);
  sqlite3_close(db);
  /* rope's position, and attention's head, inside a step */
  const char *edits[][3] = {
    { "replace(sql, '(SELECT pos FROM step WHERE i = 0)', '9223372036854775807')",
      "sql LIKE '%rope(%'", "rope: 4 rows from position 9223372036854775807 do not fit the context of 512" },
    { "replace(sql, 'h.head)', '''abc'')')", "sql LIKE '%attention(%'",
      "attention: head must be an integer" },
  };
  for(size_t i = 0; i < sizeof edits / sizeof edits[0]; i++){
    db = open_copy(bin_db, "kernel_arguments.db");
    char *edit = sqlite3_mprintf("UPDATE program SET sql = %s WHERE %s", edits[i][0], edits[i][1]);
    exec_ok(db, edit);
    ck_assert_int_gt(sqlite3_changes(db), 0);
    expect_error(db, "prompt = 'Once upon a' AND max_tokens = 1", edits[i][2]);
    sqlite3_free(edit);
    sqlite3_close(db);
  }
}
END_TEST

/* Where the call to a format function `fn` at text starts its format
** string (after skip_args commas), the C-only size modifiers that SQLite's
** printf reads otherwise (%z is "string to free"; h, j, t and L it does
** not know), counted; each is printed with file and line. */
static int bad_sqlite_formats(const char *file, const char *text, const char *fn, int skip_args){
  int bad = 0;
  size_t fn_len = strlen(fn);
  for(const char *at = strstr(text, fn); at; at = strstr(at + 1, fn)){
    const char *c = at + fn_len;
    if( (at > text && (isalnum((unsigned char)at[-1]) || at[-1] == '_')) ) continue;
    while( *c == ' ' ) c++;
    if( *c != '(' ) continue;
    int depth = 0, args = 0;
    for(c++; *c && depth >= 0; c++){
      if( *c == '(' ) depth++;
      else if( *c == ')' ) depth--;
      else if( *c == ',' && depth == 0 ) args++;
      else if( *c == '\'' ){ c++; if( *c == '\\' ) c++; c++; }
      else if( *c == '"' ){
        for(c++; *c && *c != '"'; c++){
          if( *c == '\\' ){ c++; continue; }
          if( *c != '%' || args != skip_args ) continue;
          const char *spec = c + 1;
          spec += strspn(spec, "-+ #0!,");
          spec += strspn(spec, "0123456789*.");
          if( *spec && strchr("hzjtL", *spec) ){
            int line = 1;
            for(const char *l = text; l < c; l++) line += *l == '\n';
            fprintf(stderr, "%s:%d: %s reads '%%%c' as SQLite does, not as printf\n",
                    file, line, fn, *spec);
            bad++;
          }
          if( *spec == '%' ) c = spec;
        }
      }
    }
  }
  return bad;
}

/* The .c files under dir and its folders: how many, and how many bad
** SQLite formats they hold. */
static void scan_formats(const char *dir, int *files, int *bad){
  static const struct { const char *fn; int skip_args; } fns[] = {
    { "sqlite3_mprintf", 0 }, { "sqlite3_vmprintf", 0 }, { "sqlite3_snprintf", 2 },
    { "sqlite3_vsnprintf", 2 }, { "sqlite3_str_appendf", 1 }, { "sql_error", 1 },
  };
  DIR *d = opendir(dir);
  ck_assert_msg(d != 0, "%s", dir);
  for(struct dirent *e; (e = readdir(d)) != 0; ){
    size_t len = strlen(e->d_name);
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if( e->d_type == DT_DIR && e->d_name[0] != '.' ){
      scan_formats(path, files, bad);
      continue;
    }
    if( len < 3 || strcmp(e->d_name + len - 2, ".c") ) continue;
    char *text = test_read_file(path, 0);
    for(size_t i = 0; i < sizeof fns / sizeof fns[0]; i++){
      *bad += bad_sqlite_formats(path, text, fns[i].fn, fns[i].skip_args);
    }
    free(text);
    (*files)++;
  }
  closedir(d);
}

/* Every format handed to SQLite's printf in src/, vtab/ and tools/ uses
** SQLite's specifiers: no %zu, %jd, %hhd... (size_t goes as (long long)
** with %lld). */
START_TEST(test_sqlite_formats){
  int bad = 0, files = 0;
  scan_formats(SRC_DIR "/src", &files, &bad);
  scan_formats(SRC_DIR "/vtab", &files, &bad);
  scan_formats(SRC_DIR "/tools", &files, &bad);
  ck_assert_int_gt(files, 40);
  ck_assert_msg(bad == 0, "%d formats with printf-only specifiers (see stderr)", bad);
}
END_TEST

/* tensor_add adds matrices of one shape, and a bias row to each row of a
** step's matrix; anything else is an error, never a silent broadcast. */
START_TEST(test_tensor_add_shapes){
  sqlite3 *db = open_model(bin_db);
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT hex(tensor_add(x'0000803f', x'00000040'))",
                                      -1, &st, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_str_eq((const char*)sqlite3_column_text(st, 0), "00004040");   /* 1 + 2 = 3 */
  sqlite3_finalize(st);
  const char *bad[][2] = {
    { "SELECT tensor_add(x'0000803f0000803f', x'0000803f')", "b must have a's shape" },
    { "SELECT tensor_add(x'0000803f', x'0000803f0000803f')", "b must have a's shape" },
    { "SELECT tensor_add(x'0000803f', NULL)", "b must be a BLOB of float32" },
    { "SELECT tensor_add(x'0000803f00', x'0000803f00')", "expected a float32 matrix" },
  };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++){
    char *err = 0;
    ck_assert_int_ne(sqlite3_exec(db, bad[i][0], 0, 0, &err), SQLITE_OK);
    ck_assert_msg(err && strstr(err, bad[i][1]), "%s: '%s' lacks '%s'", bad[i][0], err, bad[i][1]);
    sqlite3_free(err);
  }
  sqlite3_close(db);
}
END_TEST

/* swiglu gives exactly silu_mul of the two matmuls, on 1 and 2 threads,
** over tensors of several tiles; tiles that are not twins are refused.
** The tiles are 64 rows of the 172: with 2 threads the products of gate
** and up alone split their last tile between the threads. */
START_TEST(test_swiglu){
  char path[1024], err[512];
  snprintf(path, sizeof path, "%s", test_tmp_path("swiglu.db"));
  import_options opt = { .dtype = -1, .tile_bytes = 16384,
                         .tokenizer_path = SHARED("models/stories260K/tok512.bin") };
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.bin"), path, &opt, err, sizeof err) == 0, "%s", err);
  sqlite3 *db = open_model(path);
  int ids[4];
  ck_assert_int_eq(generate_ids(db, "prompt = 'Once' AND max_tokens = 1", ids, 4), 1);
  static float fused[2][1024], gate[1024], up[1024], apart[1024];
  int bytes = 0;
  for(int threads = 1; threads <= 2; threads++){
    char set[64];
    snprintf(set, sizeof set, "SELECT tensql_threads(%d)", threads);
    exec_ok(db, set);
    bytes = query_blob(db, "SELECT swiglu(g.data, u.data, h.data)"
                       " FROM \"blk.0.ffn_gate.weight\" g"
                       " JOIN \"blk.0.ffn_up.weight\" u ON u.tile_row = g.tile_row"
                       " CROSS JOIN act h ON h.name = 'h'", 0, 0, 0, fused[threads - 1], sizeof gate);
  }
  query_blob(db, "SELECT matmul(w.data, h.data) FROM \"blk.0.ffn_gate.weight\" w"
             " CROSS JOIN act h ON h.name = 'h'", 0, 0, 0, gate, sizeof gate);
  query_blob(db, "SELECT matmul(w.data, h.data) FROM \"blk.0.ffn_up.weight\" w"
             " CROSS JOIN act h ON h.name = 'h'", 0, 0, 0, up, sizeof up);
  ck_assert_int_eq(query_blob(db, "SELECT silu_mul(?1, ?2)", gate, up, bytes, apart, sizeof apart), bytes);
  ck_assert_int_eq(bytes, 172 * (int)sizeof(float));
  ck_assert(memcmp(fused[0], apart, (size_t)bytes) == 0);
  ck_assert(memcmp(fused[1], apart, (size_t)bytes) == 0);
  const char *bad[] = {
    "SELECT swiglu(g.data, u.data, h.data) FROM \"blk.0.ffn_gate.weight\" g"
    " JOIN \"blk.0.ffn_up.weight\" u ON u.tile_row = g.tile_row + 1 CROSS JOIN act h ON h.name = 'h'",
    "SELECT swiglu(g.data, u.data, h.data) FROM \"blk.0.ffn_gate.weight\" g"
    " JOIN \"blk.0.attn_q.weight\" u ON u.tile_row = g.tile_row CROSS JOIN act h ON h.name = 'h'",
  };
  for(int i = 0; i < 2; i++){
    char *msg = 0;
    ck_assert_int_ne(sqlite3_exec(db, bad[i], 0, 0, &msg), SQLITE_OK);
    ck_assert_msg(msg && strstr(msg, "gate and up must be tensors of one shape"), "%s", msg);
    sqlite3_free(msg);
  }
  sqlite3_close(db);
}
END_TEST

/* attention as written out here, for stories260K (8 query heads, 4 KV
** heads of 8): n query rows at the last n of t positions. */
static void attention_by_hand(const float *q, const float *k, const float *v, int n, int t,
                              float *out){
  enum { HEADS = 8, KV_HEADS = 4, HD = 8, Q = HEADS * HD, KV = KV_HEADS * HD };
  for(int r = 0; r < n; r++){
    for(int h = 0; h < HEADS; h++){
      int kvh = h / (HEADS / KV_HEADS), seen = t - n + r + 1;
      double score[64], most = -INFINITY, sum = 0;
      for(int j = 0; j < seen; j++){
        score[j] = 0;
        for(int c = 0; c < HD; c++) score[j] += (double)q[r * Q + h * HD + c] * k[j * KV + kvh * HD + c];
        score[j] /= sqrt((double)HD);
        if( score[j] > most ) most = score[j];
      }
      for(int j = 0; j < seen; j++) sum += score[j] = exp(score[j] - most);
      for(int c = 0; c < HD; c++){
        double o = 0;
        for(int j = 0; j < seen; j++) o += score[j] / sum * v[j * KV + kvh * HD + c];
        out[r * Q + h * HD + c] = (float)o;
      }
    }
  }
}

/* attention on 1 and 2 threads gives the same bits, whether q, k and v
** are the rows act and kv hold (the heads of a KV head one task for the
** kernel threads) or a value made in the query (substr copies q: attended
** at once), and agrees with attention written out here.  So do heads left
** out (their group never fills), given twice (the second replaces the
** first), or some at once and some as tasks within one group. */
START_TEST(test_attention_threads){
  sqlite3 *db = open_model(bin_db);
  int ids[8];
  ck_assert_int_eq(generate_ids(db, "prompt = 'Once upon a time' AND max_tokens = 5", ids, 8), 5);
  static float q[64 * 64], k[64 * 32], v[64 * 32], want[64 * 64], got[64 * 64], first[2][64 * 64];
  int q_bytes = query_blob(db, "SELECT data FROM act WHERE name = 'q'", 0, 0, 0, q, sizeof q);
  int kv_bytes = query_blob(db, "SELECT data FROM kv WHERE layer = 0 AND name = 'k'", 0, 0, 0, k, sizeof k);
  ck_assert_int_eq(query_blob(db, "SELECT data FROM kv WHERE layer = 0 AND name = 'v'", 0, 0, 0, v, sizeof v),
                   kv_bytes);
  int n = q_bytes / (64 * (int)sizeof(float)), t = kv_bytes / (32 * (int)sizeof(float));
  ck_assert_int_ge(t, 9);
  attention_by_hand(q, k, v, n, t, want);
  /* q's argument, more of the FROM, more of the WHERE, and a head left out */
  const struct { const char *q, *from, *where; int absent; } query[] = {
    { "q.data", "", "", -1 },
    { "substr(q.data, 1)", "", "", -1 },
    { "q.data", "", " AND h.head <> 3", 3 },
    { "q.data", ", (SELECT 1 UNION ALL SELECT 2) twice", "", -1 },
    { "CASE WHEN h.head % 3 THEN q.data ELSE substr(q.data, 1) END", "", "", -1 },
  };
  for(int threads = 1; threads <= 2; threads++){
    char set[64];
    snprintf(set, sizeof set, "SELECT tensql_threads(%d)", threads);
    exec_ok(db, set);
    for(int i = 0; i < (int)(sizeof query / sizeof query[0]); i++){
      char *sql = sqlite3_mprintf("SELECT attention(%s, k.data, v.data, h.head)"
                                  " FROM head h, act q, kv k, kv v%s WHERE q.name = 'q'"
                                  " AND k.layer = 0 AND k.name = 'k' AND v.layer = 0 AND v.name = 'v'%s",
                                  query[i].q, query[i].from, query[i].where);
      ck_assert_int_eq(query_blob(db, sql, 0, 0, 0, got, sizeof got), q_bytes);
      sqlite3_free(sql);
      /* the same bits as query 0 (or 2, with a head out) on one thread */
      int ref = query[i].absent >= 0;
      if( threads == 1 && (i == 0 || i == 2) ) memcpy(first[ref], got, (size_t)q_bytes);
      ck_assert_msg(memcmp(got, first[ref], (size_t)q_bytes) == 0, "query %d, %d threads", i, threads);
      for(int j = 0; j < q_bytes / (int)sizeof(float); j++){
        int absent = (j % 64) / 8 == query[i].absent;
        ck_assert_close(got[j], absent ? 0.0f : want[j], 1e-5);
      }
    }
  }
  sqlite3_close(db);
}
END_TEST

/* A program step that would sort tile pointers is refused by name. */
START_TEST(test_sorting_step_refused){
  sqlite3 *db = open_copy(bin_db, "sorted.db");
  exec_ok(db, "UPDATE program SET sql = replace(sql, 'ON h.name = ''h''));',"
              " 'ON h.name = ''h'' GROUP BY w.tile_row + 0));')"
              " WHERE step = (SELECT min(step) FROM program WHERE sql LIKE '%matmul(%')");
  ck_assert_int_eq(sqlite3_changes(db), 1);
  expect_error(db, "prompt = 'a'", "would sort or materialise");
  sqlite3_close(db);
}
END_TEST

/* Capturing changes nothing, and row i of the logits capture predicts
** token i + 1. */
START_TEST(test_capture){
  sqlite3 *db = open_copy(bin_db, "capture.db");
  int plain[40], captured[40];
  int n = generate_ids(db, "prompt = 'Once upon a time' AND max_tokens = 12", plain, 40);
  int m = generate_ids(db, "prompt = 'Once upon a time' AND max_tokens = 12"
                           " AND capture = 'blk.*.resid,logits,blk.1.attn_weights,blk.2.k,blk.2.v'",
                   captured, 40);
  ck_assert_int_eq(n, m);
  for(int i = 0; i < n; i++) ck_assert_int_eq(plain[i], captured[i]);
  /* BOS + 4 prompt tokens + 11 fed-back tokens = 16 positions */
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT pos) FROM activation"
                   " WHERE name LIKE 'blk.%.resid'", -1, &st, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(st, 0), 5 * 16);
  ck_assert_int_eq(sqlite3_column_int(st, 1), 16);
  sqlite3_finalize(st);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT pos, data FROM activation WHERE name = 'logits'"
                   " AND pos >= 4 ORDER BY pos", -1, &st, 0), SQLITE_OK);
  int rows = 0;
  while( sqlite3_step(st) == SQLITE_ROW ){
    int pos = sqlite3_column_int(st, 0);
    const float *l = sqlite3_column_blob(st, 1);
    ck_assert_int_eq(sqlite3_column_bytes(st, 1), 512 * 4);
    int best = 0;
    for(int i = 1; i < 512; i++) if( l[i] > l[best] ) best = i;
    ck_assert_int_eq(best, captured[pos - 4]);
    rows++;
  }
  ck_assert_int_eq(rows, 12);
  sqlite3_finalize(st);
  /* each head's weights over positions 0..pos sum to 1 */
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT pos, shape, data FROM activation"
                   " WHERE name = 'blk.1.attn_weights'", -1, &st, 0), SQLITE_OK);
  while( sqlite3_step(st) == SQLITE_ROW ){
    int pos = sqlite3_column_int(st, 0);
    const float *w = sqlite3_column_blob(st, 2);
    ck_assert_int_eq(sqlite3_column_bytes(st, 2), 8 * (pos + 1) * 4);
    for(int h = 0; h < 8; h++){
      double sum = 0;
      for(int t = 0; t <= pos; t++) sum += w[h * (pos + 1) + t];
      ck_assert_double_eq_tol(sum, 1.0, 1e-5);
    }
  }
  sqlite3_finalize(st);
  /* k and v go straight into the cache: each position's captured row (4
  ** KV heads of 8) is the cache's row at that position when the run is over */
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM activation a, kv c"
                                 " WHERE a.name = 'blk.2.' || c.name AND c.layer = 2 AND a.shape = '[32]'"
                                 " AND a.data = substr(c.data, a.pos * 128 + 1, 128)"), 2 * 16);
  expect_error(db, "prompt = 'a' AND capture = 'nothing.like.this'", "no activation matches");
  sqlite3_close(db);
}
END_TEST

/* A program imported before k and v went straight into the cache writes
** act 'k' too: blk.N.k is still the cache's row, once per position. */
START_TEST(test_capture_cache_wins){
  sqlite3 *db = open_copy(bin_db, "capture_old.db");
  exec_ok(db, "UPDATE program SET step = -step");
  exec_ok(db, "UPDATE program SET step = -step * 10");
  exec_ok(db, "INSERT INTO program(step, layer, sql) SELECT step - 5, 2,"
              " 'INSERT INTO act(name, data) VALUES (''k'', (SELECT matmul(w.data, h.data)"
              " FROM \"blk.2.attn_k.weight\" w CROSS JOIN act h ON h.name = ''h''));'"
              " FROM program WHERE layer = 2 AND sql LIKE 'INSERT INTO kv%''k''%'");
  int ids[40];
  generate_ids(db, "prompt = 'Once upon a time' AND max_tokens = 12 AND capture = 'blk.2.k'", ids, 40);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM activation"), 16);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM activation a, kv c WHERE c.layer = 2"
                                 " AND c.name = 'k' AND a.data = substr(c.data, a.pos * 128 + 1, 128)"), 16);
  sqlite3_close(db);
}
END_TEST

/* A prompt that extends the last one reuses the cached positions and gets
** the logits a fresh connection computes. */
START_TEST(test_kv_cache_reuse){
  sqlite3 *warm = open_model(bin_db), *fresh = open_model(bin_db);
  float reused[512], computed[512];
  last_logits(warm, "prompt = 'Lily and Tim went to the park.' AND max_tokens = 1", reused, 512);
  last_logits(warm, "prompt = 'Lily and Tim went to the park. They saw a big' AND max_tokens = 1",
              reused, 512);
  last_logits(fresh, "prompt = 'Lily and Tim went to the park. They saw a big' AND max_tokens = 1",
              computed, 512);
  double worst = 0;
  for(int i = 0; i < 512; i++) if( fabs(reused[i] - computed[i]) > worst ) worst = fabs(reused[i] - computed[i]);
  ck_assert_msg(worst < 1e-5, "reused cache differs by %g", worst);
  sqlite3_close(warm);
  sqlite3_close(fresh);
}
END_TEST

/* PRAGMA temp_store and DROP TABLE drop temp.act and temp.kv; the next
** generate makes them again, and leaves its state there. */
START_TEST(test_state_tables_return){
  sqlite3 *db = open_copy(bin_db, "temp_store.db");
  int ids[8];
  ck_assert_int_eq(sqlite3_exec(db, "PRAGMA temp_store = MEMORY", 0, 0, 0), SQLITE_OK);
  ck_assert_int_eq(generate_ids(db, "prompt = 'Once' AND max_tokens = 2", ids, 8), 2);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM act WHERE name = 'logits'"), 1);
  ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE temp.act; DROP TABLE temp.kv", 0, 0, 0), SQLITE_OK);
  ck_assert_int_eq(generate_ids(db, "prompt = 'Once' AND max_tokens = 2 AND capture = 'logits'",
                                ids, 8), 2);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM activation WHERE name = 'logits'"), 3);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM kv WHERE layer = 0"), 2);
  sqlite3_close(db);
}
END_TEST

/* program_profile: empty before the first step, then one row per program
** statement, in order, each run once per step of its kind and timed; an
** edited program starts over. */
START_TEST(test_program_profile){
  sqlite3 *db = open_model(gguf_db);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM program_profile"), 0);
  /* a 4-token prompt with BOS (one prefill step), then 5 decode steps */
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM generate"
                                 " WHERE prompt = 'Once upon a time' AND max_tokens = 6"), 6);
  int64_t statements = query_int(db, "SELECT count(*) FROM program");
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM program_profile p JOIN program USING (step)"
                                 " WHERE p.sql = rtrim(program.sql, char(10)) AND p.layer IS program.layer"
                                 " AND p.prefill_calls = 1 AND p.decode_calls = 5"
                                 " AND p.prefill_seconds > 0 AND p.decode_seconds > 0"), statements);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM program_profile"), statements);
  exec_ok(db, "UPDATE program SET sql = replace(sql, 'SELECT', 'SELECT ') WHERE step = 1");
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM generate"
                                 " WHERE prompt = 'Once upon a time' AND max_tokens = 2"), 2);
  ck_assert_int_eq(query_int(db, "SELECT sum(decode_calls) FROM program_profile"), statements);
  sqlite3_close(db);
}
END_TEST

static Suite *generate_suite(void){
  Suite *s = suite_create("generate_stories");
  TCase *tc = tcase_create("reference");
  tcase_add_unchecked_fixture(tc, setup_models, 0);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_greedy_bin);
  tcase_add_test(tc, test_greedy_gguf);
  tcase_add_test(tc, test_greedy_hf);
  tcase_add_test(tc, test_greedy_prompt);
  tcase_add_test(tc, test_seeded_sample);
  tcase_add_test(tc, test_logits_pos0_3);
  tcase_add_test(tc, test_prefill_equals_steps);
  tcase_add_test(tc, test_ablate_head);
  tcase_add_test(tc, test_bad_arguments);
  tcase_add_test(tc, test_no_logits);
  tcase_add_test(tc, test_state_tables_refuse);
  tcase_add_test(tc, test_kernel_arguments);
  tcase_add_test(tc, test_sqlite_formats);
  tcase_add_test(tc, test_tensor_add_shapes);
  tcase_add_test(tc, test_swiglu);
  tcase_add_test(tc, test_attention_threads);
  tcase_add_test(tc, test_sorting_step_refused);
  tcase_add_test(tc, test_capture);
  tcase_add_test(tc, test_capture_cache_wins);
  tcase_add_test(tc, test_kv_cache_reuse);
  tcase_add_test(tc, test_program_profile);
  tcase_add_test(tc, test_state_tables_return);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(generate_suite)
