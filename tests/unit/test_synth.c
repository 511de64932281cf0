/*
** test_synth.c: synthetic GGUF models (tools/synth.c).  The tiny preset is
** written and read back with the GGUF reader (shapes, types, metadata,
** value ranges), is the same across dtypes and runs for one seed, imports
** and generates through SQL; the real Qwen2.5 tokenizer survives the trip
** through GGUF (encodes as the Hugging Face loader does); bad options fail
** with a message and leave no file.  The forward pass itself is checked
** against an independent PyTorch reference by tests/test_qwen2.sh.
*/
#include "../testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"
#include "import/import.h"
#include "kernels/kernels.h"
#include "kernels/tensor.h"
#include "synth.h"
#include "tensql.h"
#include "tokenizer/tokenizer.h"

#define QWEN_DIR SHARED("tokenizers/qwen2.5")
#define VOCAB 151936

static void write_tiny(const char *path, int dtype, uint64_t seed, const char *tokenizer_dir){
  char err[512];
  synth_options opt = { .preset = "tiny", .out = path, .dtype = dtype, .seed = seed,
                        .tokenizer_dir = tokenizer_dir };
  ck_assert_msg(synth_write(&opt, err, sizeof err) == 0, "%s", err);
}

static gguf *open_ok(const char *path){
  char err[512];
  gguf *g = gguf_open(path, err, sizeof err);
  ck_assert_msg(g != NULL, "%s", err);
  return g;
}

static int64_t key_int(const gguf *g, const char *key){
  int64_t i = gguf_find_key(g, key), v = -1;
  ck_assert_msg(i >= 0, "no key %s", key);
  ck_assert_msg(gguf_kv_int(g, (uint64_t)i, &v) == 0, "%s is not an integer", key);
  return v;
}

static double key_float(const gguf *g, const char *key){
  int64_t i = gguf_find_key(g, key);
  double v = 0;
  ck_assert_msg(i >= 0, "no key %s", key);
  ck_assert_int_eq(gguf_kv_type(g, (uint64_t)i), GGUF_FLOAT32);
  ck_assert_int_eq(gguf_kv_float(g, (uint64_t)i, &v), 0);
  return v;
}

static void key_str_eq(const gguf *g, const char *key, const char *want){
  char *s = gguf_get_string_dup(g, key);
  ck_assert_msg(s != NULL, "no string key %s", key);
  ck_assert_str_eq(s, want);
  free(s);
}

static void key_u32(const gguf *g, const char *key, int64_t want){
  int64_t i = gguf_find_key(g, key);
  ck_assert_msg(i >= 0, "no key %s", key);
  ck_assert_msg(gguf_kv_type(g, (uint64_t)i) == GGUF_UINT32, "%s is not a uint32", key);
  ck_assert_int_eq(key_int(g, key), want);
}

static const gguf_tensor *tensor_ok(const gguf *g, const char *name, uint64_t ne0,
                                    uint64_t ne1, uint32_t type){
  const gguf_tensor *t = gguf_find_tensor(g, name);
  ck_assert_msg(t != NULL, "no tensor %s", name);
  ck_assert_msg(t->ne[0] == ne0 && t->n_dims == (ne1 ? 2u : 1u) && (!ne1 || t->ne[1] == ne1),
                "%s: ne %llu x %llu, dims %u", name, (unsigned long long)t->ne[0],
                (unsigned long long)t->ne[1], t->n_dims);
  ck_assert_msg(t->type == type, "%s: type %u, expected %u", name, t->type, type);
  return t;
}

/* Every tensor of the tiny preset, as llama.cpp names and shapes qwen2's. */
static void check_tiny_tensors(const gguf *g, uint32_t wtype){
  ck_assert_int_eq(gguf_tensor_count(g), 1 + 2 * 12 + 1);
  tensor_ok(g, "token_embd.weight", 64, VOCAB, wtype);
  for(int l = 0; l < 2; l++){
    char name[64];
#define T(s, ne0, ne1, type) (snprintf(name, sizeof name, "blk.%d." s, l), tensor_ok(g, name, ne0, ne1, type))
    T("attn_norm.weight", 64, 0, TENSOR_F32);
    T("attn_q.weight", 64, 64, wtype);
    T("attn_q.bias", 64, 0, TENSOR_F32);
    T("attn_k.weight", 64, 32, wtype);
    T("attn_k.bias", 32, 0, TENSOR_F32);
    T("attn_v.weight", 64, 32, wtype);
    T("attn_v.bias", 32, 0, TENSOR_F32);
    T("attn_output.weight", 64, 64, wtype);
    T("ffn_norm.weight", 64, 0, TENSOR_F32);
    T("ffn_gate.weight", 64, 128, wtype);
    T("ffn_up.weight", 64, 128, wtype);
    T("ffn_down.weight", 128, 64, wtype);
#undef T
  }
  tensor_ok(g, "output_norm.weight", 64, 0, TENSOR_F32);
  ck_assert_ptr_null(gguf_find_tensor(g, "output.weight"));   /* tied */
}

static const float *f32_data(const gguf_tensor *t){
  ck_assert_int_eq(t->type, TENSOR_F32);
  return (const float *)t->data;
}

START_TEST(test_tiny_f32){
  const char *path = test_tmp_path("synth_tiny_f32.gguf");
  write_tiny(path, TENSOR_F32, 7, NULL);
  gguf *g = open_ok(path);
  ck_assert_int_eq(gguf_version(g), 3);
  ck_assert_int_eq(gguf_alignment(g), 32);
  key_str_eq(g, "general.architecture", "qwen2");
  key_u32(g, "qwen2.block_count", 2);
  key_u32(g, "qwen2.context_length", 512);
  key_u32(g, "qwen2.embedding_length", 64);
  key_u32(g, "qwen2.feed_forward_length", 128);
  key_u32(g, "qwen2.attention.head_count", 4);
  key_u32(g, "qwen2.attention.head_count_kv", 2);
  ck_assert_double_eq_tol(key_float(g, "qwen2.rope.freq_base"), 1e6, 1e-3);
  ck_assert_double_eq_tol(key_float(g, "qwen2.attention.layer_norm_rms_epsilon"), 1e-6, 1e-12);
  key_u32(g, "general.file_type", 0);
  check_tiny_tensors(g, TENSOR_F32);

  /* the minimal tokenizer: byte tokens in GPT-2 order, Qwen's specials */
  key_str_eq(g, "tokenizer.ggml.model", "gpt2");
  key_str_eq(g, "tokenizer.ggml.pre", "qwen2");
  gguf_type type;
  uint64_t n;
  int64_t k = gguf_find_key(g, "tokenizer.ggml.tokens");
  ck_assert_int_eq(gguf_arr_info(g, (uint64_t)k, &type, &n), 0);
  ck_assert_int_eq(type, GGUF_STRING);
  ck_assert_int_eq(n, VOCAB);
  gguf_str s;
  gguf_arr_string(g, (uint64_t)k, 0, &s);
  ck_assert(s.len == 1 && s.ptr[0] == '!');
  gguf_arr_string(g, (uint64_t)k, 220, &s);
  ck_assert(s.len == 2 && memcmp(s.ptr, "\xC4\xA0", 2) == 0);   /* "Ġ", the space */
  gguf_arr_string(g, (uint64_t)k, 151645, &s);
  ck_assert(s.len == 10 && memcmp(s.ptr, "<|im_end|>", 10) == 0);
  key_u32(g, "tokenizer.ggml.eos_token_id", 151645);
  key_u32(g, "tokenizer.ggml.bos_token_id", 151643);
  ck_assert_int_eq(key_int(g, "tokenizer.ggml.add_bos_token"), 0);
  char err[256];
  tokenizer *t = tokenizer_load_gguf(g, err, sizeof err);
  ck_assert_msg(t != NULL, "%s", err);
  int ids[16];
  ck_assert_int_eq(tokenizer_encode(t, "hi !", 4, 0, ids, 16, err, sizeof err), 4);
  ck_assert_int_eq(ids[0], 'h' - 33);
  ck_assert_int_eq(ids[2], 220);
  ck_assert_int_eq(ids[3], 0);
  ck_assert_int_eq(tokenizer_encode(t, "<|im_end|>", 10, 1, ids, 16, err, sizeof err), 1);
  ck_assert_int_eq(ids[0], 151645);
  tokenizer_free(t);

  /* values: matrices uniform with std 1/sqrt(row length), norms near 1 */
  const float *w = f32_data(gguf_find_tensor(g, "blk.1.ffn_down.weight"));
  double sum = 0, sq = 0, bound = sqrt(3.0 / 128);
  for(int i = 0; i < 64 * 128; i++){
    ck_assert(fabs(w[i]) <= bound);
    sum += w[i];
    sq += (double)w[i] * w[i];
  }
  ck_assert_double_le(fabs(sum / (64 * 128)), 0.01);
  ck_assert_double_eq_tol(sqrt(sq / (64 * 128)), 1 / sqrt(128.0), 0.005);
  const float *norm = f32_data(gguf_find_tensor(g, "output_norm.weight"));
  for(int i = 0; i < 64; i++) ck_assert(norm[i] >= 0.75f && norm[i] < 1.25f);
  const float *bias = f32_data(gguf_find_tensor(g, "blk.0.attn_k.bias"));
  for(int i = 0; i < 32; i++) ck_assert(bias[i] >= -0.5f && bias[i] < 0.5f);
  gguf_close(g);
}
END_TEST

static int files_equal(const char *a, const char *b){
  char cmd[2200];
  snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
  return system(cmd) == 0;
}

/* One seed gives one file, and the same values whatever the dtype. */
START_TEST(test_seed_and_dtypes){
  char f32[1024], again[1024], other[1024], f16[1024], q8[1024];
  snprintf(f32, sizeof f32, "%s", test_tmp_path("synth_s3_f32.gguf"));
  snprintf(again, sizeof again, "%s", test_tmp_path("synth_s3_again.gguf"));
  snprintf(other, sizeof other, "%s", test_tmp_path("synth_s4_f32.gguf"));
  snprintf(f16, sizeof f16, "%s", test_tmp_path("synth_s3_f16.gguf"));
  snprintf(q8, sizeof q8, "%s", test_tmp_path("synth_s3_q8.gguf"));
  write_tiny(f32, TENSOR_F32, 3, NULL);
  write_tiny(again, TENSOR_F32, 3, NULL);
  write_tiny(other, TENSOR_F32, 4, NULL);
  write_tiny(f16, TENSOR_F16, 3, NULL);
  write_tiny(q8, TENSOR_Q8_0, 3, NULL);
  ck_assert(files_equal(f32, again));
  ck_assert(!files_equal(f32, other));

  gguf *a = open_ok(f32), *h = open_ok(f16), *q = open_ok(q8);
  check_tiny_tensors(h, TENSOR_F16);
  check_tiny_tensors(q, TENSOR_Q8_0);
  key_u32(h, "general.file_type", 1);
  key_u32(q, "general.file_type", 7);
  for(uint64_t i = 0; i < gguf_tensor_count(a); i++){
    const gguf_tensor *ta = gguf_tensor_at(a, i);
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)ta->name.len, ta->name.ptr);
    const gguf_tensor *th = gguf_find_tensor(h, name), *tq = gguf_find_tensor(q, name);
    const float *x = f32_data(ta);
    uint64_t cols = ta->ne[0], rows = ta->n_dims == 2 ? ta->ne[1] : 1;
    if( ta->n_dims == 1 ){
      ck_assert(th->size == ta->size && memcmp(th->data, ta->data, ta->size) == 0);
      ck_assert(tq->size == ta->size && memcmp(tq->data, ta->data, ta->size) == 0);
      continue;
    }
    float *row = malloc(cols * sizeof *row);
    size_t hb = tensor_row_bytes(TENSOR_F16, cols), qb = tensor_row_bytes(TENSOR_Q8_0, cols);
    for(uint64_t r = 0; r < rows; r += rows > 64 ? 997 : 1){
      const float *xr = x + r * cols;
      kernel_dequantize(TENSOR_F16, th->data + r * hb, row, cols);
      for(uint64_t c = 0; c < cols; c++){
        ck_assert_msg(row[c] == kernel_f16_to_f32(kernel_f32_to_f16(xr[c])), "%s f16", name);
      }
      kernel_dequantize(TENSOR_Q8_0, tq->data + r * qb, row, cols);
      for(uint64_t c = 0; c < cols; c++){
        float amax = 0;
        for(uint64_t j = c / 32 * 32; j < c / 32 * 32 + 32; j++) amax = fmaxf(amax, fabsf(xr[j]));
        ck_assert_msg(fabsf(row[c] - xr[c]) <= amax / 127 * 0.57f + 1e-7f, "%s q8_0 [%llu][%llu]",
                      name, (unsigned long long)r, (unsigned long long)c);
      }
    }
    free(row);
  }
  gguf_close(a);
  gguf_close(h);
  gguf_close(q);
}
END_TEST

static int generate_count(const char *db_path, const char *where){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
  ck_assert_int_eq(tensql_register(db), SQLITE_OK);
  char *sql = sqlite3_mprintf("SELECT token FROM generate WHERE %s", where);
  sqlite3_stmt *st;
  ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, 0) == SQLITE_OK, "%s", sqlite3_errmsg(db));
  int n = 0, rc;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    int id = sqlite3_column_int(st, 0);
    ck_assert(id >= 0 && id < VOCAB);
    n++;
  }
  ck_assert_msg(rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_free(sql);
  sqlite3_close(db);
  return n;
}

/* The synthetic model imports and runs: the q8_0 file as it is, and the
** f32 file quantized at import. */
START_TEST(test_import_and_generate){
  char gguf_path[1024], db_path[1024], err[512];
  snprintf(gguf_path, sizeof gguf_path, "%s", test_tmp_path("synth_gen.gguf"));
  snprintf(db_path, sizeof db_path, "%s", test_tmp_path("synth_gen.db"));
  write_tiny(gguf_path, TENSOR_Q8_0, 11, NULL);
  import_options opt = { .dtype = -1 };
  ck_assert_msg(import_model(gguf_path, db_path, &opt, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(generate_count(db_path, "prompt = 'hello' AND max_tokens = 5"), 5);
  write_tiny(gguf_path, TENSOR_F32, 11, NULL);
  opt.dtype = TENSOR_Q8_0;
  ck_assert_msg(import_model(gguf_path, db_path, &opt, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(generate_count(db_path, "prompt = 'hello' AND max_tokens = 5"), 5);
}
END_TEST

/* Layer 0's program statements that write act q, and that read a bias. */
static void layer0_program(const char *db_path, int64_t *q_writes, int64_t *bias_reads){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, 0), SQLITE_OK);
  *q_writes = query_int(db, "SELECT count(*) FROM program WHERE layer = 0"
                            " AND sql LIKE '%INSERT INTO act(name, data) VALUES (''q''%'");
  *bias_reads = query_int(db, "SELECT count(*) FROM program WHERE layer = 0"
                              " AND sql LIKE '%.bias\"%'");
  sqlite3_close(db);
}

/* The template's @if-tensor and @unless-tensor pick one q, k and v
** statement each: with the biases for qwen2 (the tiny preset), without
** for llama (stories260K). */
START_TEST(test_program_follows_biases){
  char err[512];
  const char *gguf_path = test_tmp_path("synth_prog.gguf"), *qwen = test_tmp_path("synth_prog.db");
  const char *llama = test_tmp_path("synth_prog_llama.db");
  write_tiny(gguf_path, TENSOR_Q8_0, 3, NULL);
  import_options opt = { .dtype = -1 };
  ck_assert_msg(import_model(gguf_path, qwen, &opt, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.gguf"), llama, &opt,
                             err, sizeof err) == 0, "%s", err);
  int64_t q_writes, bias_reads;
  layer0_program(qwen, &q_writes, &bias_reads);
  ck_assert_int_eq(q_writes, 1);
  ck_assert_int_eq(bias_reads, 3);
  layer0_program(llama, &q_writes, &bias_reads);
  ck_assert_int_eq(q_writes, 1);
  ck_assert_int_eq(bias_reads, 0);
}
END_TEST

/* The real Qwen2.5 tokenizer written into GGUF as llama.cpp's converter
** writes it, read back by tokenizer_load_gguf: the same pieces, merges and
** encodings as tokenizer_load_hf gives from the Hugging Face files. */
START_TEST(test_qwen_tokenizer_round_trip){
  const char *path = test_tmp_path("synth_qwen_tok.gguf");
  write_tiny(path, TENSOR_F32, 1, QWEN_DIR);
  gguf *g = open_ok(path);
  char err[512];
  tokenizer *hf = tokenizer_load_hf(QWEN_DIR, err, sizeof err);
  ck_assert_msg(hf != NULL, "%s", err);
  tokenizer *gt = tokenizer_load_gguf(g, err, sizeof err);
  ck_assert_msg(gt != NULL, "%s", err);

  key_str_eq(g, "tokenizer.ggml.model", "gpt2");
  key_str_eq(g, "tokenizer.ggml.pre", "qwen2");
  key_u32(g, "tokenizer.ggml.eos_token_id", 151645);      /* <|im_end|> */
  key_u32(g, "tokenizer.ggml.padding_token_id", 151643);  /* <|endoftext|> */
  key_u32(g, "tokenizer.ggml.bos_token_id", 151643);      /* config.json */
  ck_assert_int_eq(key_int(g, "tokenizer.ggml.add_bos_token"), 0);
  char *tmpl = gguf_get_string_dup(g, "tokenizer.chat_template");
  ck_assert_ptr_nonnull(tmpl);
  ck_assert_ptr_nonnull(strstr(tmpl, "You are Qwen, created by Alibaba Cloud."));
  free(tmpl);

  /* pieces: byte-level spelling in the file, raw bytes once loaded */
  int64_t k = gguf_find_key(g, "tokenizer.ggml.tokens");
  int64_t kt = gguf_find_key(g, "tokenizer.ggml.token_type");
  gguf_str s;
  int64_t type;
  gguf_arr_string(g, (uint64_t)k, 9707, &s);
  ck_assert(s.len == 5 && memcmp(s.ptr, "Hello", 5) == 0);
  gguf_arr_string(g, (uint64_t)k, 1879, &s);
  ck_assert(s.len == 7 && memcmp(s.ptr, "\xC4\xA0world", 7) == 0);
  gguf_arr_string(g, (uint64_t)k, 151665, &s);
  ck_assert(s.len == 11 && memcmp(s.ptr, "[PAD151665]", 11) == 0);
  gguf_arr_int(g, (uint64_t)kt, 151665, &type);
  ck_assert_int_eq(type, TOKEN_UNUSED);
  gguf_arr_string(g, (uint64_t)k, 151935, &s);
  ck_assert(s.len == 11 && memcmp(s.ptr, "[PAD151935]", 11) == 0);
  gguf_arr_int(g, (uint64_t)kt, 151644, &type);
  ck_assert_int_eq(type, TOKEN_CONTROL);                 /* <|im_start|>: special */
  gguf_arr_int(g, (uint64_t)kt, 151657, &type);
  ck_assert_int_eq(type, TOKEN_USER_DEFINED);            /* <tool_call>: not special */
  gguf_arr_int(g, (uint64_t)kt, 151659, &type);
  ck_assert_int_eq(type, TOKEN_CONTROL);                 /* <|fim_prefix|>: looks special */

  ck_assert_int_eq(tokenizer_vocab_size(gt), VOCAB);
  ck_assert_int_eq(tokenizer_vocab_size(hf), 151665);
  for(int id = 0; id < 151665; id++){
    const char *a, *b;
    size_t la, lb;
    float sa, sb;
    token_kind ka, kb;
    tokenizer_token(hf, id, &a, &la, &sa, &ka);
    tokenizer_token(gt, id, &b, &lb, &sb, &kb);
    ck_assert_msg(la == lb && memcmp(a, b, la) == 0, "token %d differs", id);
    if( !(id >= 151659 && id <= 151664) ) ck_assert_msg(ka == kb, "token %d kind %d != %d", id, ka, kb);
  }
  ck_assert_int_eq(tokenizer_merge_count(gt), 151387);
  ck_assert_int_eq(tokenizer_merge_count(hf), 151387);
  for(int r = 0; r < 151387; r += 1013){
    const char *al, *ar, *bl, *br;
    size_t all, arl, bll, brl;
    tokenizer_merge(hf, r, &al, &all, &ar, &arl);
    tokenizer_merge(gt, r, &bl, &bll, &br, &brl);
    ck_assert(all == bll && arl == brl && memcmp(al, bl, all) == 0 && memcmp(ar, br, arl) == 0);
  }

  static const char *texts[] = {
    "Hello, world!", "hello world", " leading and  double  spaces\n\n\ttabs",
    "Numbers 1234567890 and 3.14159", "caf\xC3\xA9 na\xC3\xAFve r\xC3\xA9sum\xC3\xA9",
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",
    "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 end", "don't won't I'll we've",
    "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n",
    "<tool_call>{\"name\": \"f\"}</tool_call>",
    "def f(x):\n    return x * 2  # comment\n",
  };
  for(size_t i = 0; i < sizeof texts / sizeof texts[0]; i++){
    for(int special = 0; special <= 1; special++){
      int a[256], b[256];
      int na = tokenizer_encode(hf, texts[i], strlen(texts[i]), special, a, 256, err, sizeof err);
      int nb = tokenizer_encode(gt, texts[i], strlen(texts[i]), special, b, 256, err, sizeof err);
      ck_assert_msg(na == nb && na > 0 && na <= 256, "'%s' (special %d): %d vs %d ids",
                    texts[i], special, na, nb);
      for(int j = 0; j < na; j++) ck_assert_msg(a[j] == b[j], "'%s' id %d: %d vs %d", texts[i], j, a[j], b[j]);
    }
  }
  /* the reference vector: "Hello, world!" */
  int ids[8];
  ck_assert_int_eq(tokenizer_encode(gt, "Hello, world!", 13, 0, ids, 8, err, sizeof err), 4);
  ck_assert(ids[0] == 9707 && ids[1] == 11 && ids[2] == 1879 && ids[3] == 0);
  tokenizer_free(hf);
  tokenizer_free(gt);
  gguf_close(g);
}
END_TEST

static int exists(const char *path){
  struct stat st;
  return stat(path, &st) == 0;
}

/* No "NAME.tmp-" file left beside NAME in dir. */
static void no_temp_left(const char *dir, const char *name){
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s.tmp-", name);
  struct dirent *e;
  while( (e = readdir(d)) != NULL ){
    ck_assert_msg(strncmp(e->d_name, prefix, strlen(prefix)) != 0, "left behind: %s", e->d_name);
  }
  closedir(d);
}

static void expect_failure(synth_options opt, const char *needle){
  char err[512] = "";
  ck_assert_int_eq(synth_write(&opt, err, sizeof err), -1);
  ck_assert_msg(strstr(err, needle) != NULL, "'%s' lacks '%s'", err, needle);
  if( opt.out ) ck_assert_msg(!exists(opt.out) || strcmp(opt.out, BUILD_DIR "/tests/tmp") == 0,
                              "%s was written", opt.out);
}

START_TEST(test_bad_options){
  const char *out = test_tmp_path("synth_bad.gguf");
  unlink(out);
  synth_options opt = { .preset = "tiny", .out = out, .dtype = TENSOR_F32 };
  synth_options o = opt;
  o.preset = "qwen9-1t";
  expect_failure(o, "unknown preset 'qwen9-1t'");
  o = opt;
  o.preset = NULL;
  expect_failure(o, "unknown preset");
  o = opt;
  o.dtype = TENSOR_BF16;
  expect_failure(o, "bf16");
  o = opt;
  o.out = NULL;
  expect_failure(o, "no output");
  o = opt;
  o.out = "/nonexistent-dir/x.gguf";
  expect_failure(o, "/nonexistent-dir/x.gguf");
  o = opt;
  o.tokenizer_dir = "/nonexistent-tokenizer";
  expect_failure(o, "nonexistent-tokenizer");
  /* a directory in the way: the rename fails and the temporary goes */
  o = opt;
  o.out = BUILD_DIR "/tests/tmp";
  expect_failure(o, "tests/tmp");
  ck_assert(exists(BUILD_DIR "/tests/tmp"));
  no_temp_left(BUILD_DIR "/tests", "tmp");
  no_temp_left(BUILD_DIR "/tests/tmp", "synth_bad.gguf");
}
END_TEST

/* synth_command with its usage and messages sent to /dev/null. */
static int run_cli(int argc, char **argv){
  fflush(stdout);
  fflush(stderr);
  int out = dup(1), err = dup(2), null = open("/dev/null", O_WRONLY);
  dup2(null, 1);
  dup2(null, 2);
  optind = 0;   /* glibc: start getopt afresh */
  int rc = synth_command(argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(out, 1);
  dup2(err, 2);
  close(out);
  close(err);
  close(null);
  return rc;
}

START_TEST(test_cli){
  char out[1024];
  snprintf(out, sizeof out, "%s", test_tmp_path("synth_cli.gguf"));
  unlink(out);
  char *help[] = { "synth", "--help", NULL };
  ck_assert_int_eq(run_cli(2, help), 0);
  char *no_out[] = { "synth", "--preset", "tiny", NULL };
  ck_assert_int_eq(run_cli(3, no_out), 2);
  char *bad_preset[] = { "synth", "--preset", "huge", "-o", out, NULL };
  ck_assert_int_eq(run_cli(5, bad_preset), 2);
  char *bad_dtype[] = { "synth", "--preset", "tiny", "-o", out, "--dtype", "q4_0", NULL };
  ck_assert_int_eq(run_cli(7, bad_dtype), 2);
  char *bad_seed[] = { "synth", "--preset", "tiny", "-o", out, "--seed", "x", NULL };
  ck_assert_int_eq(run_cli(7, bad_seed), 2);
  char *extra[] = { "synth", "--preset", "tiny", "-o", out, "stray", NULL };
  ck_assert_int_eq(run_cli(6, extra), 2);
  ck_assert(!exists(out));
  char *unwritable[] = { "synth", "--preset", "tiny", "-o", "/nonexistent-dir/x.gguf", NULL };
  ck_assert_int_eq(run_cli(5, unwritable), 1);
  char *good[] = { "synth", "--preset", "tiny", "-o", out, "--dtype", "f16", "--seed", "5", NULL };
  ck_assert_int_eq(run_cli(9, good), 0);
  gguf *g = open_ok(out);
  check_tiny_tensors(g, TENSOR_F16);
  gguf_close(g);
}
END_TEST

static Suite *synth_suite(void){
  Suite *s = suite_create("synth");
  TCase *tc = tcase_create("synth");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_tiny_f32);
  tcase_add_test(tc, test_seed_and_dtypes);
  tcase_add_test(tc, test_import_and_generate);
  tcase_add_test(tc, test_program_follows_biases);
  tcase_add_test(tc, test_qwen_tokenizer_round_trip);
  tcase_add_test(tc, test_bad_options);
  tcase_add_test(tc, test_cli);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(synth_suite)
