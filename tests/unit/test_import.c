/*
** test_import.c: `tensql import` end to end on stories260K, from GGUF and
** from llama2.c, checked against the raw float32 arrays of stories260K.bin
** (whose layout, in ../shared/README.md, this test walks by itself); and
** every way an import must fail cleanly, leaving no file behind.
*/
#include "../testutil.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "import/import.h"
#include "kernels/tensor.h"
#include "model.h"

#define STORIES_GGUF SHARED("models/stories260K/stories260K.gguf")
#define STORIES_BIN SHARED("models/stories260K/stories260K.bin")
#define TOK512 SHARED("models/stories260K/tok512.bin")

/* The float offset and count of a tensor inside stories260K.bin, from the
** llama2.c layout: the arrays of all layers lie back to back, type by type. */
typedef struct bin_slice { const char *fmt; long per_layer; } bin_slice;

static long bin_offset(const char *name, long *count){
  const int dim = 64, hidden = 172, L = 5, kv_dim = 32, vocab = 512;
  bin_slice order[] = {
    { "blk.%d.attn_norm.weight", dim }, { "blk.%d.attn_q.weight", dim * dim },
    { "blk.%d.attn_k.weight", kv_dim * dim }, { "blk.%d.attn_v.weight", kv_dim * dim },
    { "blk.%d.attn_output.weight", dim * dim }, { "blk.%d.ffn_norm.weight", dim },
    { "blk.%d.ffn_gate.weight", hidden * dim }, { "blk.%d.ffn_down.weight", dim * hidden },
    { "blk.%d.ffn_up.weight", hidden * dim },
  };
  long at = 7;   /* header ints count as floats */
  if( strcmp(name, "token_embd.weight") == 0 || strcmp(name, "output.weight") == 0 ){
    *count = vocab * dim;
    return at;
  }
  at += vocab * dim;
  for(size_t k = 0; k < sizeof order / sizeof order[0]; k++){
    for(int layer = 0; layer < L; layer++){
      char buf[64];
      snprintf(buf, sizeof buf, order[k].fmt, layer);
      if( strcmp(buf, name) == 0 ){
        *count = order[k].per_layer;
        return at + layer * order[k].per_layer;
      }
    }
    at += L * order[k].per_layer;
  }
  ck_assert_str_eq(name, "output_norm.weight");
  *count = dim;
  return at;
}

/* Every tensor's tiles, concatenated in tile order, equal the .bin slice. */
static int check_tensors_against_bin(const char *db_path){
  size_t bin_len;
  unsigned char *bin = (unsigned char *)test_read_file(STORIES_BIN, &bin_len);
  sqlite3 *db;
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db,
    "SELECT t.name, t.dtype, x.data FROM tile x JOIN tensor t ON t.id = x.tensor_id"
    " ORDER BY t.id, x.tile_row", -1, &st, 0), SQLITE_OK);
  char current[128] = "";
  long expect_at = 0, expect_end = 0, count;
  int tensors = 0;
  while( sqlite3_step(st) == SQLITE_ROW ){
    const char *name = (const char*)sqlite3_column_text(st, 0);
    ck_assert_str_eq((const char*)sqlite3_column_text(st, 1), "f32");
    if( strcmp(name, current) ){
      ck_assert_int_eq(expect_at, expect_end);   /* previous tensor complete */
      snprintf(current, sizeof current, "%s", name);
      expect_at = bin_offset(name, &count) * 4;
      expect_end = expect_at + count * 4;
      tensors++;
    }
    int n = sqlite3_column_bytes(st, 2);
    ck_assert_int_le(expect_at + n, expect_end);
    ck_assert_msg(memcmp(sqlite3_column_blob(st, 2), bin + expect_at, (size_t)n) == 0,
                  "tensor %s differs from stories260K.bin", name);
    expect_at += n;
  }
  ck_assert_int_eq(expect_at, expect_end);
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(bin);
  return tensors;
}

static int import_small_tiles(const char *src, const char *out, const char *tok,
                              char *err, size_t err_len){
  import_options opt = { .dtype = -1, .tokenizer_path = tok, .tile_bytes = 4096 };
  return import_model(src, out, &opt, err, err_len);
}

START_TEST(test_gguf_tiles_reassemble){
  char err[512];
  const char *out = test_tmp_path("stories_gguf.db");
  ck_assert_msg(import_small_tiles(STORIES_GGUF, out, 0, err, sizeof err) == 0, "%s", err);
  /* 48 tensors: embedding, 9 per layer x 5, output_norm, output (SOURCE.md) */
  ck_assert_int_eq(check_tensors_against_bin(out), 48);
}
END_TEST

START_TEST(test_llama2c_tiles_reassemble){
  char err[512];
  const char *out = test_tmp_path("stories_bin.db");
  ck_assert_msg(import_small_tiles(STORIES_BIN, out, TOK512, err, sizeof err) == 0, "%s", err);
  /* The classifier is shared with the embedding, so no output.weight. */
  ck_assert_int_eq(check_tensors_against_bin(out), 47);
}
END_TEST

START_TEST(test_model_metadata){
  char err[512];
  const char *out = test_tmp_path("stories_meta.db");
  ck_assert_msg(import_small_tiles(STORIES_BIN, out, TOK512, err, sizeof err) == 0, "%s", err);
  model *m = model_open(out, err, sizeof err);
  ck_assert_msg(m != 0, "%s", err);
  /* The header of stories260K.bin: (64, 172, 5, 8, 4, 512, 512). */
  ck_assert_str_eq(m->params.arch, "llama");
  ck_assert_int_eq(m->params.dim, 64);
  ck_assert_int_eq(m->params.hidden_dim, 172);
  ck_assert_int_eq(m->params.n_layers, 5);
  ck_assert_int_eq(m->params.n_heads, 8);
  ck_assert_int_eq(m->params.n_kv_heads, 4);
  ck_assert_int_eq(m->params.context_length, 512);
  ck_assert_int_eq(m->params.vocab_size, 512);
  const model_tensor *t = model_find_tensor(m, "blk.2.ffn_down.weight");
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->rows, 64);
  ck_assert_int_eq(t->cols, 172);
  ck_assert_int_eq(t->tile_rows, 5);   /* 4096 / (172 * 4) = 5 whole rows */
  ck_assert_int_eq(t->n_tiles, 13);
  char *format = model_meta_text(m, "source.format");
  ck_assert_str_eq(format, "llama2c");
  free(format);
  model_release(m);
}
END_TEST

/* q8_0 conversion at import must round exactly as ggml: each block's scale
** is amax/127 stored as f16, each value round(x / scale). */
START_TEST(test_q8_0_conversion){
  char err[512];
  const char *out = test_tmp_path("stories_q8.db");
  import_options opt = { .dtype = TENSOR_Q8_0 };
  ck_assert_msg(import_model(STORIES_GGUF, out, &opt, err, sizeof err) == 0, "%s", err);
  size_t bin_len;
  unsigned char *bin = (unsigned char *)test_read_file(STORIES_BIN, &bin_len);
  sqlite3 *db;
  sqlite3_stmt *st;
  sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, 0);
  sqlite3_prepare_v2(db, "SELECT t.dtype, x.data FROM tile x JOIN tensor t ON t.id = x.tensor_id"
                     " WHERE t.name = 'blk.0.attn_q.weight' AND x.tile_row = 0", -1, &st, 0);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_str_eq((const char*)sqlite3_column_text(st, 0), "q8_0");
  const unsigned char *q = sqlite3_column_blob(st, 1);
  long count;
  const float *x = (const float*)(bin + 4 * bin_offset("blk.0.attn_q.weight", &count));
  for(int b = 0; b < 2; b++){        /* the first two blocks of row 0 */
    float amax = 0;
    for(int i = 0; i < 32; i++) if( fabsf(x[32*b+i]) > amax ) amax = fabsf(x[32*b+i]);
    float d = amax / 127;
    unsigned char block[34];     /* tiles interleave rows (tensor.h) */
    tensor_tile_q8_0_block(q, 64, 0, (size_t)b, block);
    for(int i = 0; i < 32; i++){
      int expect = (int)roundf(x[32*b+i] / d);
      ck_assert_int_eq((signed char)block[2 + i], expect);
    }
  }
  sqlite3_finalize(st);
  /* norms stay f32 */
  sqlite3_prepare_v2(db, "SELECT dtype FROM tensor WHERE name = 'output_norm.weight'", -1, &st, 0);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_str_eq((const char*)sqlite3_column_text(st, 0), "f32");
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(bin);
}
END_TEST

/* A killed import leaves OUT.tmp-PID.  The next import to OUT removes the
** ones whose process is gone, and nothing else: not a live process's
** (the test runner's, here), nor names that only look alike. */
START_TEST(test_stale_temps_removed){
  char err[512], path[1024], out[1024];
  snprintf(out, sizeof out, "%s", test_tmp_path("stale.db"));
  int64_t pid_max = test_proc_number("/proc/sys/kernel/pid_max", "");
  ck_assert_int_gt(pid_max, 0);
  long dead = (long)pid_max + 1;              /* no process has it */
  char names[6][64];
  snprintf(names[0], 64, "stale.db.tmp-%ld", dead);                 /* removed */
  snprintf(names[1], 64, "stale.db.tmp-%ld", (long)getppid());      /* alive */
  snprintf(names[2], 64, "stale.db.tmp-%ldx", dead);
  snprintf(names[3], 64, "stale.db.tmp-");
  snprintf(names[4], 64, "other.db.tmp-%ld", dead);
  snprintf(names[5], 64, "stale.db2.tmp-%ld", dead);
  for(int i = 0; i < 6; i++) test_write_file(test_tmp_path(names[i]), "junk", 4);
  import_options opt = { .dtype = -1, .tokenizer_path = TOK512 };
  ck_assert_msg(import_model(STORIES_BIN, out, &opt, err, sizeof err) == 0, "%s", err);
  snprintf(path, sizeof path, "%s", test_tmp_path(names[0]));
  ck_assert_msg(access(path, F_OK) != 0, "%s is still there", path);
  for(int i = 1; i < 6; i++){
    snprintf(path, sizeof path, "%s", test_tmp_path(names[i]));
    ck_assert_msg(access(path, F_OK) == 0, "%s was removed", path);
    unlink(path);
  }
  ck_assert_int_eq(access(out, F_OK), 0);
}
END_TEST

/* ---- bad input --------------------------------------------------------- */

/* No file named like the output, nor its temporary, may exist. */
static void assert_nothing_left(const char *out){
  ck_assert_msg(access(out, F_OK) != 0, "%s exists after a failed import", out);
  char tmp[1024];
  model_writer_temp_path(out, tmp, sizeof tmp);
  ck_assert_msg(access(tmp, F_OK) != 0, "%s left behind", tmp);
}

static void expect_import_error(const char *src, const char *tok, const char *needle){
  char err[512] = "";
  const char *out = test_tmp_path("bad.db");
  unlink(out);
  import_options opt = { .dtype = -1, .tokenizer_path = tok };
  ck_assert_int_ne(import_model(src, out, &opt, err, sizeof err), 0);
  ck_assert_msg(strstr(err, needle) != 0, "error '%s' lacks '%s'", err, needle);
  assert_nothing_left(out);
}

/* Write a copy of stories260K.gguf with `patch` applied at the first place
** `after` occurs, plus skip bytes. */
static const char *gguf_patched(const char *name, const char *after, size_t skip,
                                const void *patch, size_t patch_len){
  size_t len;
  unsigned char *buf = (unsigned char *)test_read_file(STORIES_GGUF, &len);
  unsigned char *at = memmem(buf, len, after, strlen(after));
  ck_assert_ptr_nonnull(at);
  memcpy(at + strlen(after) + skip, patch, patch_len);
  const char *path = test_tmp_path(name);
  test_write_file(path, buf, len);
  free(buf);
  return path;
}

START_TEST(test_truncated_gguf){
  size_t len;
  unsigned char *buf = (unsigned char *)test_read_file(STORIES_GGUF, &len);
  char path[1024];
  snprintf(path, sizeof path, "%s", test_tmp_path("truncated.gguf"));
  size_t cuts[] = { 3, 10, 100, 2000, len / 2, len - 1 };
  for(size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++){
    test_write_file(path, buf, cuts[i]);
    expect_import_error(path, 0, cuts[i] < 4 ? "not a GGUF or llama2.c" : "gguf");
  }
  free(buf);
}
END_TEST

START_TEST(test_wrong_magic_and_version){
  size_t len;
  unsigned char *buf = (unsigned char *)test_read_file(STORIES_GGUF, &len);
  char path[1024];
  snprintf(path, sizeof path, "%s", test_tmp_path("magic.gguf"));
  memcpy(buf, "GGUX", 4);
  test_write_file(path, buf, len);
  expect_import_error(path, TOK512, "not a llama2.c checkpoint");
  memcpy(buf, "GGUF", 4);
  buf[4] = 7;   /* version 7 */
  test_write_file(path, buf, len);
  expect_import_error(path, 0, "version");
  free(buf);
}
END_TEST

START_TEST(test_unknown_architecture){
  /* general.architecture's value: u32 type 8, u64 length 5, "llama" */
  const char *path = gguf_patched("mamba.gguf", "general.architecture", 12, "mamba", 5);
  expect_import_error(path, 0, "mamba.gguf: unknown architecture 'mamba'; tensql runs llama and qwen2");
  char err[64];
  ck_assert_int_eq(model_arch_known("llama", err, sizeof err), 1);
  ck_assert_int_eq(model_arch_known("qwen2", NULL, 0), 1);
  ck_assert_int_eq(model_arch_known("Llama", NULL, 0), 0);
  ck_assert_int_eq(model_arch_known(NULL, NULL, 0), 0);
  /* A short buffer is cut, not overrun. */
  memset(err, 'x', sizeof err);
  ck_assert_int_eq(model_arch_known("a-very-long-architecture-name", err, 40), 0);
  ck_assert_uint_eq(strlen(err), 39);
  ck_assert_int_eq(err[41], 'x');
}
END_TEST

START_TEST(test_unknown_tensor_type){
  /* output_norm.weight: u32 n_dims 1, u64 ne0 64, then u32 type -> 9
  ** (q8_1, ggml's activation type, which no file stores) */
  uint32_t q8_1 = 9;
  const char *path = gguf_patched("q8_1.gguf", "output_norm.weight", 12, &q8_1, 4);
  expect_import_error(path, 0, "tensor output_norm.weight has type q8_1");
}
END_TEST

/* --dtype names a type import cannot write: refused before anything is
** read or written. */
START_TEST(test_unwritable_dtype){
  char err[512] = "";
  const char *out = test_tmp_path("q4_0_target.db");
  unlink(out);
  import_options opt = { .dtype = TENSOR_Q6_K };
  ck_assert_int_ne(import_model(STORIES_GGUF, out, &opt, err, sizeof err), 0);
  ck_assert_str_eq(err, "import converts to f32, f16, bf16, q8_0 or q4_0, not q6_k");
  assert_nothing_left(out);
}
END_TEST

START_TEST(test_tensor_out_of_bounds){
  uint64_t offset = (uint64_t)1 << 40;
  const char *path = gguf_patched("oob.gguf", "output_norm.weight", 16, &offset, 8);
  expect_import_error(path, 0, "output_norm.weight");
}
END_TEST

START_TEST(test_bad_llama2c){
  size_t len;
  unsigned char *buf = (unsigned char *)test_read_file(STORIES_BIN, &len);
  char path[1024];
  snprintf(path, sizeof path, "%s", test_tmp_path("short.bin"));
  test_write_file(path, buf, len - 100);
  expect_import_error(path, TOK512, "truncated llama2.c checkpoint");
  int32_t absurd = -5;   /* n_layers */
  memcpy(buf + 8, &absurd, 4);
  test_write_file(path, buf, len);
  expect_import_error(path, TOK512, "header value 2 is -5");
  free(buf);
  expect_import_error(STORIES_BIN, 0, "--tokenizer");
  expect_import_error(STORIES_BIN, "/nonexistent/tok.bin", "tok.bin");
  expect_import_error("/nonexistent/model.gguf", 0, "no such file");
}
END_TEST

START_TEST(test_not_a_model){
  char err[512];
  const char *path = test_tmp_path("plain.db");
  unlink(path);
  sqlite3 *db;
  sqlite3_open(path, &db);
  sqlite3_exec(db, "CREATE TABLE t(x); CREATE TABLE meta(key, value);", 0, 0, 0);
  sqlite3_close(db);
  ck_assert_ptr_null(model_open(path, err, sizeof err));
  ck_assert_msg(strstr(err, "not a tensql model") != 0, "%s", err);
  ck_assert_ptr_null(model_open(STORIES_GGUF, err, sizeof err));
  ck_assert_msg(strstr(err, "not a tensql model") != 0, "%s", err);
}
END_TEST

/* A copy of stories260K's database with `sql` applied to it: model_open
** must refuse it with a message holding `want`. */
static void expect_open_error(const char *sql, const char *want){
  char err[512];
  const char *path = test_tmp_path("damaged.db");
  import_options opt = { .dtype = TENSOR_Q8_0 };
  ck_assert_msg(import_model(STORIES_GGUF, path, &opt, err, sizeof err) == 0, "%s", err);
  sqlite3 *db;
  sqlite3_open(path, &db);
  ck_assert_int_eq(sqlite3_exec(db, sql, 0, 0, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_changes(db), 1);
  sqlite3_close(db);
  ck_assert_ptr_null(model_open(path, err, sizeof err));
  ck_assert_msg(strstr(err, want) != 0, "%s", err);
}

/* Kernels read a whole tile without looking at its length: a tile that
** is short (its checksum made to match) or missing is refused at open, as
** is a database of the row-major Q8_0 layout of format version 1. */
START_TEST(test_damaged_tiles){
  expect_open_error("UPDATE tile SET data = substr(data, 1, 1000),"
                    " checksum = 0 WHERE id = (SELECT first_tile FROM tensor"
                    " WHERE name = 'blk.0.attn_q.weight')",
                    "tensor blk.0.attn_q.weight: tile 0 holds 1000 bytes where its rows take 4352");
  expect_open_error("DELETE FROM tile WHERE id = (SELECT first_tile FROM tensor"
                    " WHERE name = 'blk.4.ffn_down.weight')",
                    "tensor blk.4.ffn_down.weight: 1 of its 1 tiles are missing");
  expect_open_error("UPDATE meta SET value = 1 WHERE key = 'format_version'",
                    "model format version 1, this tensql reads 2 (re-import");
}
END_TEST

/* A tensor table that SQLite reads without complaint can still be
** damaged (fuzz_model_db found both): a row without a name, and a table
** page whose cell count is cut, so that a scan ends before the rows
** count(*) finds in the name index.  Either is refused, not opened with
** empty entries. */
START_TEST(test_damaged_tensor_table){
  expect_open_error("CREATE TABLE t AS SELECT * FROM tensor; DROP TABLE tensor;"
                    " CREATE TABLE tensor(id INTEGER PRIMARY KEY, name, dtype, shape, rows,"
                    " cols, tile_rows, tile_cols, first_tile, n_tiles);"
                    " INSERT INTO tensor SELECT * FROM t; DROP TABLE t;"
                    " UPDATE tensor SET name = NULL WHERE id = 2",
                    "tensor 2 has no name or shape");
  char err[512];
  const char *path = test_tmp_path("damaged.db");
  import_options opt = { .dtype = TENSOR_Q8_0 };
  ck_assert_msg(import_model(STORIES_GGUF, path, &opt, err, sizeof err) == 0, "%s", err);
  sqlite3 *db;
  sqlite3_open(path, &db);
  int64_t page = query_int(db, "PRAGMA page_size");
  int64_t root = query_int(db, "SELECT rootpage FROM sqlite_schema WHERE name = 'tensor'");
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM tensor"), 48);
  sqlite3_close(db);
  FILE *f = fopen(path, "r+b");
  unsigned char header[5];
  ck_assert(f != 0 && fseek(f, (long)((root - 1) * page), SEEK_SET) == 0);
  ck_assert(fread(header, 1, 5, f) == 5 && header[0] == 0x0D);   /* one leaf page */
  ck_assert(fseek(f, (long)((root - 1) * page + 3), SEEK_SET) == 0);
  ck_assert(fwrite("\0\7", 1, 2, f) == 2);   /* 7 cells of 48 */
  fclose(f);
  ck_assert_ptr_null(model_open(path, err, sizeof err));
  ck_assert_msg(strstr(err, "the tensor table holds 7 rows, not 48") != 0, "%s", err);
}
END_TEST

/* Token ids are places in the vocabulary: a gap, an id repeated, or ids
** that start above 0 shifted every later token and the text came out
** garbled; now the model is refused at open, naming the id.  A
** hyper-parameter in meta that is not a number was read as 0, and an
** epsilon of 'abc' ran; now it is refused, naming the key. */
START_TEST(test_bad_vocab_and_meta){
  /* model_open names the architecture as the importer does (model_arch_known). */
  expect_open_error("UPDATE meta SET value = 'gpt2' WHERE key = 'general.architecture'",
                    "unknown architecture 'gpt2'; tensql runs llama and qwen2");
  expect_open_error("DELETE FROM meta WHERE key = 'general.architecture'",
                    "unknown architecture '(none)'");
  expect_open_error("DELETE FROM vocab WHERE id = 100",
                    "vocab: token ids must run 0, 1, 2, ... without gaps or repeats,"
                    " but id 101 comes where 100 should");
  expect_open_error("INSERT INTO vocab VALUES (100000, 'x', 0, 1)",
                    "id 100000 comes where 512 should");
  expect_open_error("DELETE FROM vocab WHERE id = 0", "id 1 comes where 0 should");
  expect_open_error("CREATE TABLE v AS SELECT * FROM vocab; DROP TABLE vocab;"
                    " CREATE TABLE vocab(id, piece BLOB, score REAL, kind INTEGER);"
                    " INSERT INTO vocab SELECT * FROM v; DROP TABLE v;"
                    " INSERT INTO vocab VALUES (7, 'x', 0, 1)", "id 7 comes where 8 should");
  expect_open_error("UPDATE meta SET value = 'abc' WHERE key = 'llama.attention.layer_norm_rms_epsilon'",
                    "meta llama.attention.layer_norm_rms_epsilon is 'abc', not a number");
  const char *whole[] = { "block_count", "embedding_length", "feed_forward_length",
                          "attention.head_count", "attention.head_count_kv", "context_length" };
  for(size_t i = 0; i < sizeof whole / sizeof whole[0]; i++){
    char sql[256], want[256];
    snprintf(sql, sizeof sql, "UPDATE meta SET value = '12abc' WHERE key = 'llama.%s'", whole[i]);
    snprintf(want, sizeof want, "meta llama.%s is '12abc', not a whole number", whole[i]);
    expect_open_error(sql, want);
  }
  expect_open_error("UPDATE meta SET value = 2.5 WHERE key = 'llama.block_count'",
                    "meta llama.block_count is '2.5', not a whole number");
  expect_open_error("UPDATE meta SET value = 4294967301 WHERE key = 'llama.block_count'",
                    "meta llama.block_count is 4294967301, out of range");
  expect_open_error("INSERT INTO meta VALUES ('llama.rope.freq_base', x'00')",
                    "meta llama.rope.freq_base is");
  expect_open_error("INSERT INTO meta VALUES ('llama.rope.freq_base', -1)",
                    "inconsistent hyper-parameters");
  expect_open_error("UPDATE meta SET value = 'one' WHERE key = 'tokenizer.ggml.bos_token_id'",
                    "meta tokenizer.ggml.bos_token_id is 'one', not a whole number");
  /* numbers written as text, as a hand edit in the shell leaves them, are numbers */
  char err[512];
  const char *path = test_tmp_path("damaged.db");
  import_options opt = { .dtype = TENSOR_Q8_0 };
  ck_assert_msg(import_model(STORIES_GGUF, path, &opt, err, sizeof err) == 0, "%s", err);
  sqlite3 *db;
  sqlite3_open(path, &db);
  ck_assert_int_eq(sqlite3_exec(db, "UPDATE meta SET value = '1e-5' WHERE key ="
                                " 'llama.attention.layer_norm_rms_epsilon';"
                                " UPDATE meta SET value = '5' WHERE key = 'llama.block_count';"
                                " INSERT INTO meta VALUES ('llama.rope.freq_base', '10000.0')",
                                0, 0, 0), SQLITE_OK);
  sqlite3_close(db);
  model *m = model_open(path, err, sizeof err);
  ck_assert_msg(m != 0, "%s", err);
  ck_assert_int_eq(m->params.n_layers, 5);
  ck_assert_float_eq(m->params.rms_eps, 1e-5f);
  ck_assert_float_eq(m->params.rope_theta, 10000.0f);
  model_release(m);
}
END_TEST

static Suite *import_suite(void){
  Suite *s = suite_create("import");
  TCase *tc = tcase_create("stories260K");
  tcase_add_test(tc, test_gguf_tiles_reassemble);
  tcase_add_test(tc, test_llama2c_tiles_reassemble);
  tcase_add_test(tc, test_model_metadata);
  tcase_add_test(tc, test_q8_0_conversion);
  tcase_add_test(tc, test_stale_temps_removed);
  suite_add_tcase(s, tc);
  TCase *bad = tcase_create("bad input");
  tcase_add_test(bad, test_truncated_gguf);
  tcase_add_test(bad, test_unwritable_dtype);
  tcase_add_test(bad, test_wrong_magic_and_version);
  tcase_add_test(bad, test_unknown_architecture);
  tcase_add_test(bad, test_unknown_tensor_type);
  tcase_add_test(bad, test_tensor_out_of_bounds);
  tcase_add_test(bad, test_bad_llama2c);
  tcase_add_test(bad, test_not_a_model);
  tcase_add_test(bad, test_damaged_tiles);
  tcase_add_test(bad, test_bad_vocab_and_meta);
  tcase_add_test(bad, test_damaged_tensor_table);
  suite_add_tcase(s, bad);
  return s;
}

TEST_MAIN(import_suite)
