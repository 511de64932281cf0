/*
** test_safetensors.c: the safetensors reader and the Hugging Face importer.
**
** "parse" checks the reader on the real stories260K HF checkpoint (names,
** shapes and bytes against the llama2.c stories260K.bin it was converted
** from) and on hand-made files: every prefix of a small file, and one
** broken header per check the reader makes, each with its error message.
** "import" runs import_hf into a model database and reads the tiles back:
** q/k of stories260K must come out in llama2.c's row order, bit for bit,
** which is the independent check of the RoPE permutation, and every tensor
** must equal the one imported from llama.cpp's stories260K.gguf; small
** synthetic llama and qwen2 models check biases, sharding and tokenizer
** metadata.
*/
#include "../testutil.h"

#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/safetensors.h"
#include "import/import.h"
#include "import/model_writer.h"
#include "kernels/tensor.h"

#define HF_DIR SHARED("models/stories260K/hf")

/* ---- helpers: files ---------------------------------------------------- */

static void write_text(const char *dir, const char *file, const char *text){
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  test_write_file(path, text, strlen(text));
}

/* A fresh empty directory under tests/tmp. */
static const char *fresh_dir(const char *name){
  const char *dir = test_tmp_path(name);
  char cmd[1200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  return dir;
}

/* A safetensors image: length, `json` padded with spaces to `pad` more
** bytes, then data_len bytes counting up from 1. */
static uint8_t *make_st(const char *json, size_t pad, size_t data_len, size_t *len){
  size_t n = strlen(json) + pad;
  *len = 8 + n + data_len;
  uint8_t *buf = malloc(*len + 1);
  for(int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
  memcpy(buf + 8, json, strlen(json));
  memset(buf + 8 + strlen(json), ' ', pad);
  for(size_t i = 0; i < data_len; i++) buf[8 + n + i] = (uint8_t)(i + 1);
  return buf;
}

/* Parse `json` + data_len bytes; expect failure with `want` in the error. */
static void expect_bad(const char *json, size_t data_len, const char *want){
  size_t len;
  char err[512] = "";
  uint8_t *buf = make_st(json, 0, data_len, &len);
  safetensors *st = safetensors_parse(buf, len, "bad.st", err, sizeof(err));
  ck_assert_msg(st == 0, "accepted %s", json);
  ck_assert_msg(strstr(err, want) != 0, "for %s: error '%s' lacks '%s'",
                json, err, want);
  ck_assert_msg(strncmp(err, "bad.st: ", 8) == 0 || strstr(err, "bad.st"),
                "error '%s' does not name the file", err);
  free(buf);
}

/* ---- helpers: stories260K.bin (llama2.c layout, see shared/README.md) --- */

enum { DIM = 64, HIDDEN = 172, LAYERS = 5, HEADS = 8, KV_HEADS = 4,
       VOCAB = 512, KV_DIM = 32 };

typedef struct llama2c {
  uint8_t *file;
  const float *emb, *wq, *wk, *wv, *w1;   /* [layer][rows][cols] */
} llama2c;

static void llama2c_load(llama2c *m){
  size_t len;
  m->file = (uint8_t *)test_read_file(SHARED("models/stories260K/stories260K.bin"), &len);
  int32_t hdr[7];
  memcpy(hdr, m->file, sizeof(hdr));
  int32_t want[7] = { DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, 512 };
  for(int i = 0; i < 7; i++) ck_assert_int_eq(hdr[i], want[i]);
  const float *p = (const float *)(m->file + 28);
  m->emb = p;  p += VOCAB * DIM;
  p += LAYERS * DIM;                      /* rms_att */
  m->wq = p;   p += LAYERS * DIM * DIM;
  m->wk = p;   p += LAYERS * KV_DIM * DIM;
  m->wv = p;   p += LAYERS * KV_DIM * DIM;
  p += LAYERS * DIM * DIM;                /* wo */
  p += LAYERS * DIM;                      /* rms_ffn */
  m->w1 = p;
}

/* ---- parse: the real checkpoint ----------------------------------------- */

static void expect_tensor(const safetensors *st, const char *name, int n_dims,
                          uint64_t d0, uint64_t d1){
  const safetensors_tensor *t = safetensors_find(st, name);
  ck_assert_msg(t != 0, "%s missing", name);
  ck_assert_str_eq(t->name, name);
  ck_assert_str_eq(t->dtype_name, "F32");
  ck_assert_int_eq(t->dtype, TENSOR_F32);
  ck_assert_int_eq(t->n_dims, n_dims);
  ck_assert_uint_eq(t->shape[0], d0);
  if( n_dims == 2 ) ck_assert_uint_eq(t->shape[1], d1);
  ck_assert_uint_eq(t->size, 4 * d0 * (n_dims == 2 ? d1 : 1));
}

START_TEST(test_stories_tensors){
  char err[512];
  safetensors *st = safetensors_open(HF_DIR "/model.safetensors", err, sizeof(err));
  ck_assert_msg(st != 0, "%s", err);
  /* SOURCE.md: 47 tensors, embedding + final norm + 9 per layer, no lm_head. */
  ck_assert_uint_eq(safetensors_count(st), 2 + 9 * LAYERS);
  expect_tensor(st, "model.embed_tokens.weight", 2, VOCAB, DIM);
  expect_tensor(st, "model.norm.weight", 1, DIM, 0);
  for(int l = 0; l < LAYERS; l++){
    static const struct { const char *name; int n_dims; uint64_t d0, d1; } per[] = {
      { "input_layernorm.weight", 1, DIM, 0 },
      { "post_attention_layernorm.weight", 1, DIM, 0 },
      { "self_attn.q_proj.weight", 2, DIM, DIM },
      { "self_attn.k_proj.weight", 2, KV_DIM, DIM },
      { "self_attn.v_proj.weight", 2, KV_DIM, DIM },
      { "self_attn.o_proj.weight", 2, DIM, DIM },
      { "mlp.gate_proj.weight", 2, HIDDEN, DIM },
      { "mlp.up_proj.weight", 2, HIDDEN, DIM },
      { "mlp.down_proj.weight", 2, DIM, HIDDEN },
    };
    for(size_t i = 0; i < sizeof(per)/sizeof(per[0]); i++){
      char name[128];
      snprintf(name, sizeof(name), "model.layers.%d.%s", l, per[i].name);
      expect_tensor(st, name, per[i].n_dims, per[i].d0, per[i].d1);
    }
  }
  ck_assert_ptr_null(safetensors_find(st, "lm_head.weight"));
  ck_assert_ptr_null(safetensors_find(st, "__metadata__"));
  /* Iteration is in name order. */
  for(size_t i = 1; i < safetensors_count(st); i++){
    ck_assert(strcmp(safetensors_tensor_at(st, i-1)->name,
                     safetensors_tensor_at(st, i)->name) < 0);
  }
  ck_assert_ptr_null(safetensors_tensor_at(st, safetensors_count(st)));
  safetensors_close(st);
}
END_TEST

/* Tensors the conversion copied unchanged equal llama2.c's arrays. */
START_TEST(test_stories_bytes){
  char err[512];
  llama2c m;
  llama2c_load(&m);
  safetensors *st = safetensors_open_model(HF_DIR, err, sizeof(err));
  ck_assert_msg(st != 0, "%s", err);
  const safetensors_tensor *t = safetensors_find(st, "model.embed_tokens.weight");
  ck_assert(memcmp(t->data, m.emb, sizeof(float) * VOCAB * DIM) == 0);
  t = safetensors_find(st, "model.layers.3.self_attn.v_proj.weight");
  ck_assert(memcmp(t->data, m.wv + 3 * KV_DIM * DIM, t->size) == 0);
  t = safetensors_find(st, "model.layers.4.mlp.gate_proj.weight");
  ck_assert(memcmp(t->data, m.w1 + 4 * HIDDEN * DIM, t->size) == 0);
  /* q is stored permuted (HF rotate-half), so it must differ. */
  t = safetensors_find(st, "model.layers.0.self_attn.q_proj.weight");
  ck_assert(memcmp(t->data, m.wq, t->size) != 0);
  safetensors_close(st);
  free(m.file);
}
END_TEST

/* ---- parse: hand-made files --------------------------------------------- */

/* Two tensors, an odd header length (so data is unaligned) and metadata. */
static const char small_json[] =
  "{\"__metadata__\":{\"format\":\"pt\"},"
  "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]},"
  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
  "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[12,20]},"
  "\"z\":{\"dtype\":\"U8\",\"shape\":[0,3],\"data_offsets\":[20,20]}}";

START_TEST(test_small_file){
  size_t len;
  char err[512];
  uint8_t *buf = make_st(small_json, 3, 20, &len);
  safetensors *st = safetensors_parse(buf, len, "small.st", err, sizeof(err));
  ck_assert_msg(st != 0, "%s", err);
  ck_assert_uint_eq(safetensors_count(st), 4);
  const safetensors_tensor *a = safetensors_tensor_at(st, 0);
  ck_assert_str_eq(a->name, "a");
  ck_assert_str_eq(a->file, "small.st");
  ck_assert_str_eq(safetensors_label(st), "small.st");
  ck_assert_int_eq(a->dtype, TENSOR_F32);
  ck_assert_uint_eq(a->size, 8);
  ck_assert_ptr_eq(a->data, buf + 8 + strlen(small_json) + 3);
  ck_assert_uint_eq(a->data[0], 1);
  const safetensors_tensor *b = safetensors_find(st, "b");
  ck_assert_int_eq(b->dtype, TENSOR_BF16);
  ck_assert_int_eq(b->n_dims, 2);
  ck_assert_uint_eq(b->data[0], 9);
  const safetensors_tensor *s = safetensors_find(st, "s");
  ck_assert_str_eq(s->dtype_name, "I64");
  ck_assert_int_eq(s->dtype, -1);
  ck_assert_int_eq(s->n_dims, 0);   /* a scalar: one element */
  ck_assert_uint_eq(s->size, 8);
  ck_assert_uint_eq(safetensors_find(st, "z")->size, 0);
  ck_assert_ptr_null(safetensors_find(st, "c"));
  safetensors_close(st);
  free(buf);
}
END_TEST

START_TEST(test_every_prefix){
  size_t len;
  char err[512];
  uint8_t *buf = make_st(small_json, 3, 20, &len);
  for(size_t n = 0; n < len; n++){
    uint8_t *copy = malloc(n + 1);   /* exact size, so ASan sees overreads */
    memcpy(copy, buf, n);
    err[0] = 0;
    safetensors *st = safetensors_parse(copy, n, "cut.st", err, sizeof(err));
    ck_assert_msg(st == 0, "prefix of %zu bytes accepted", n);
    ck_assert_msg(strncmp(err, "cut.st: ", 8) == 0, "prefix %zu: '%s'", n, err);
    const char *want = n < 8 ? "too short"
                     : n < 8 + strlen(small_json) + 3 ? "runs past the end of the file"
                     : "run past the end of the data section";
    ck_assert_msg(strstr(err, want), "prefix %zu: '%s' lacks '%s'", n, err, want);
    free(copy);
  }
  safetensors *st = safetensors_parse(buf, len, "whole.st", err, sizeof(err));
  ck_assert_msg(st != 0, "%s", err);
  safetensors_close(st);
  free(buf);
}
END_TEST

START_TEST(test_bad_headers){
#define T(body) "{\"a\":{" body "}}"
#define F32_2 "\"dtype\":\"F32\",\"shape\":[2]"
  expect_bad("not json", 0, "header is not valid JSON");
  expect_bad("{\"a\":", 0, "header is not valid JSON");
  expect_bad("[1,2]", 0, "header is JSON but not an object");
  expect_bad("{\"a\":5}", 0, "header entry 'a' is not an object");
  expect_bad(T("\"shape\":[2],\"data_offsets\":[0,8]"), 8, "tensor 'a': dtype is missing");
  expect_bad(T("\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]"), 8, "tensor 'a': dtype is not a string");
  expect_bad(T("\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, "tensor 'a': unknown dtype 'F99'");
  expect_bad(T("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 8, "tensor 'a': shape is missing");
  expect_bad(T("\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), 8, "shape is not an array");
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), 8, "shape holds a negative number");
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]"), 8, "shape holds something other than an integer");
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), 8, "other than an integer");
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,8]"), 8, "other than an integer below 2^63");
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]"), 4, "shape is too long");
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]"), 8, "shape overflows");
  expect_bad(T("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]"), 8, "shape overflows");
  expect_bad(T(F32_2), 8, "tensor 'a': data_offsets is missing");
  expect_bad(T(F32_2 ",\"data_offsets\":{}"), 8, "data_offsets is not an array");
  expect_bad(T(F32_2 ",\"data_offsets\":[0]"), 8, "data_offsets has fewer than 2 numbers");
  expect_bad(T(F32_2 ",\"data_offsets\":[0,8,9]"), 8, "data_offsets is too long");
  expect_bad(T(F32_2 ",\"data_offsets\":[-8,0]"), 8, "data_offsets holds a negative number");
  expect_bad(T(F32_2 ",\"data_offsets\":[8,0]"), 8, "data_offsets [8, 0] end before they begin");
  expect_bad(T(F32_2 ",\"data_offsets\":[0,4]"), 8, "data_offsets [0, 4] do not span the tensor's size (F32 of this shape takes 8 bytes");
  expect_bad(T(F32_2 ",\"data_offsets\":[0,8]"), 4, "bad.st: tensor 'a': data_offsets [0, 8] run past the end of the data section (F32 of this shape takes 8 bytes; the data section has 4)");
  expect_bad(T(F32_2 ",\"data_offsets\":[0,8]"), 12, "4 bytes after the last tensor's data");
  expect_bad(T(F32_2 ",\"data_offsets\":[4,12]"), 12, "data bytes [0, 4) belong to no tensor (before 'a')");
  expect_bad("{\"a\":{" F32_2 ",\"data_offsets\":[0,8]},"
             "\"b\":{" F32_2 ",\"data_offsets\":[4,12]}}", 12,
             "tensor 'b' at [4, 12) overlaps tensor 'a', which ends at 8");
  expect_bad("{\"a\":{" F32_2 ",\"data_offsets\":[0,8]},"
             "\"a\":{" F32_2 ",\"data_offsets\":[8,16]}}", 16,
             "tensor 'a' appears twice");
  expect_bad("{\"__metadata__\":{\"format\":1}}", 0, "__metadata__ 'format' is not a string");
  expect_bad("{\"__metadata__\":[]}", 0, "header entry '__metadata__' is not an object");
  expect_bad("{\"a\\u0000b\":{" F32_2 ",\"data_offsets\":[0,8]}}", 8, "bad.st: header contains a NUL");
  expect_bad("{\"a\\\\u0000b\":{" F32_2 ",\"data_offsets\":[0,8]}}", 12, "4 bytes after");
#undef T
#undef F32_2
  /* Sizes in the 8-byte prefix. */
  char err[512];
  uint8_t huge[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}' };
  ck_assert_ptr_null(safetensors_parse(huge, sizeof(huge), "big.st", err, sizeof(err)));
  ck_assert_msg(strstr(err, "big.st: header length 18446744073709551615 runs past"
                       " the end of the file (16 bytes)"), "%s", err);
  uint8_t nul[12] = { 4, 0, 0, 0, 0, 0, 0, 0, '{', 0, '}', ' ' };
  ck_assert_ptr_null(safetensors_parse(nul, sizeof(nul), "nul.st", err, sizeof(err)));
  ck_assert_msg(strstr(err, "nul.st: header contains a NUL"), "%s", err);
  ck_assert_ptr_null(safetensors_open(SHARED("models/stories260K/hf/none.safetensors"), err, sizeof(err)));
  ck_assert_msg(strstr(err, "none.safetensors: No such file"), "%s", err);
}
END_TEST

/* ---- parse: sharded ----------------------------------------------------- */

static const char shard1[] =
  "{\"x.a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
static const char shard2[] =
  "{\"x.b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
  "\"x.c\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[4,6]}}";

static const char *write_shards(const char *name, const char *index){
  const char *dir = fresh_dir(name);
  char path[1024];
  size_t len;
  uint8_t *buf = make_st(shard1, 0, 8, &len);
  snprintf(path, sizeof(path), "%s/model-00001-of-00002.safetensors", dir);
  test_write_file(path, buf, len);
  free(buf);
  buf = make_st(shard2, 5, 6, &len);
  snprintf(path, sizeof(path), "%s/model-00002-of-00002.safetensors", dir);
  test_write_file(path, buf, len);
  free(buf);
  if( index ) write_text(dir, "model.safetensors.index.json", index);
  return dir;
}

#define INDEX(map) "{\"metadata\":{\"total_size\":14},\"weight_map\":{" map "}}"
#define S1 "\"model-00001-of-00002.safetensors\""
#define S2 "\"model-00002-of-00002.safetensors\""

START_TEST(test_sharded){
  char err[512];
  const char *dir = write_shards("st_shards",
      INDEX("\"x.a\":" S1 ",\"x.b\":" S2 ",\"x.c\":" S2));
  safetensors *st = safetensors_open_model(dir, err, sizeof(err));
  ck_assert_msg(st != 0, "%s", err);
  ck_assert_uint_eq(safetensors_count(st), 3);
  ck_assert_str_eq(safetensors_tensor_at(st, 0)->name, "x.a");
  const safetensors_tensor *c = safetensors_find(st, "x.c");
  ck_assert_int_eq(c->dtype, TENSOR_F16);
  ck_assert_uint_eq(c->data[0], 5);
  ck_assert(strstr(c->file, "model-00002-of-00002.safetensors"));
  ck_assert(strstr(safetensors_find(st, "x.a")->file, "model-00001-of-00002"));
  ck_assert(strstr(safetensors_label(st), "st_shards/model.safetensors.index.json"));
  safetensors_close(st);
}
END_TEST

static void expect_bad_index(const char *index, const char *want){
  char err[512] = "";
  const char *dir = write_shards("st_bad_index", index);
  safetensors *st = safetensors_open_model(dir, err, sizeof(err));
  ck_assert_msg(st == 0, "accepted %s", index);
  ck_assert_msg(strstr(err, want), "for %s: '%s' lacks '%s'", index, err, want);
}

START_TEST(test_bad_index){
  expect_bad_index(0, "neither model.safetensors nor model.safetensors.index.json");
  expect_bad_index("{", "model.safetensors.index.json: no weight_map object");
  expect_bad_index("{\"weight_map\":[]}", "no weight_map object");
  expect_bad_index(INDEX(""), "weight_map is empty");
  expect_bad_index(INDEX("\"x.a\":" S2), "weight_map puts 'x.a' in "
                   "model-00002-of-00002.safetensors, which does not hold it");
  expect_bad_index(INDEX("\"x.q\":" S1), "weight_map puts 'x.q' in");
  expect_bad_index(INDEX("\"x.a\":\"../model-00001-of-00002.safetensors\""),
                   "weight_map entry 'x.a' is not a file name in the model directory");
  expect_bad_index(INDEX("\"x.a\":7"), "weight_map entry 'x.a' is not a file name");
  expect_bad_index(INDEX("\"x.a\":\"gone.safetensors\""), "gone.safetensors: No such file");
  /* The same tensor in two shards. */
  char err[512];
  const char *dir = write_shards("st_dup_shards", INDEX("\"x.a\":" S1 ",\"x.b\":" S2));
  size_t len;
  uint8_t *buf = make_st(shard1, 0, 8, &len);
  char path[1024];
  snprintf(path, sizeof(path), "%s/model-00002-of-00002.safetensors", dir);
  test_write_file(path, buf, len);
  free(buf);
  write_text(dir, "model.safetensors.index.json", INDEX("\"x.a\":" S1 ",\"y\":" S2));
  ck_assert_ptr_null(safetensors_open_model(dir, err, sizeof(err)));
  ck_assert_msg(strstr(err, "tensor 'x.a' appears twice (in "), "%s", err);
}
END_TEST

/* ---- import: reading the model database back ---------------------------- */

/* Tensor `name` of the database as floats (f32 or bf16 tiles), reassembled
** from its tiles; NULL if absent.  *n gets the element count. */
static float *db_tensor(sqlite3 *db, const char *name, size_t *n){
  sqlite3_stmt *s;
  ck_assert_int_eq(sqlite3_prepare_v2(db,
    "SELECT t.dtype, t.rows, t.cols, t.tile_rows, t.tile_cols,"
    " l.tile_row, l.tile_col, l.data FROM tensor t JOIN tile l"
    " ON l.tensor_id = t.id WHERE t.name = ?1", -1, &s, 0), SQLITE_OK);
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  float *out = 0;
  while( sqlite3_step(s) == SQLITE_ROW ){
    const char *dtype = (const char *)sqlite3_column_text(s, 0);
    int64_t rows = sqlite3_column_int64(s, 1), cols = sqlite3_column_int64(s, 2);
    int64_t tr = sqlite3_column_int64(s, 3), tc = sqlite3_column_int64(s, 4);
    int64_t r0 = sqlite3_column_int64(s, 5) * tr, c0 = sqlite3_column_int64(s, 6) * tc;
    int64_t nr = rows - r0 < tr ? rows - r0 : tr, nc = cols - c0 < tc ? cols - c0 : tc;
    int bf16 = strcmp(dtype, "bf16") == 0;
    ck_assert_msg(bf16 || strcmp(dtype, "f32") == 0, "%s is %s", name, dtype);
    ck_assert_int_eq(sqlite3_column_bytes(s, 7), nr * nc * (bf16 ? 2 : 4));
    const uint8_t *data = sqlite3_column_blob(s, 7);
    if( out == 0 ){
      *n = (size_t)(rows * cols);
      out = calloc(*n, sizeof(float));
    }
    for(int64_t r = 0; r < nr; r++){
      for(int64_t c = 0; c < nc; c++){
        uint32_t bits = 0;
        if( bf16 ){
          uint16_t h;
          memcpy(&h, data + 2 * (r * nc + c), 2);
          bits = (uint32_t)h << 16;
        }else{
          memcpy(&bits, data + 4 * (r * nc + c), 4);
        }
        memcpy(&out[(r0 + r) * cols + c0 + c], &bits, 4);
      }
    }
  }
  sqlite3_finalize(s);
  return out;
}

static sqlite3_stmt *db_meta(sqlite3 *db, const char *key){
  sqlite3_stmt *s;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1",
                                      -1, &s, 0), SQLITE_OK);
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  ck_assert_msg(sqlite3_step(s) == SQLITE_ROW, "meta %s missing", key);
  return s;
}

static int64_t meta_int(sqlite3 *db, const char *key){
  sqlite3_stmt *s = db_meta(db, key);
  int64_t v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

static double meta_float(sqlite3 *db, const char *key){
  sqlite3_stmt *s = db_meta(db, key);
  double v = sqlite3_column_double(s, 0);
  sqlite3_finalize(s);
  return v;
}

static void expect_meta_text(sqlite3 *db, const char *key, const char *prefix){
  sqlite3_stmt *s = db_meta(db, key);
  const char *v = (const char *)sqlite3_column_text(s, 0);
  ck_assert_msg(v && strncmp(v, prefix, strlen(prefix)) == 0,
                "meta %s = '%s', want '%s...'", key, v ? v : "NULL", prefix);
  sqlite3_finalize(s);
}

/* Import dir into out (a fresh path); returns the open database, or NULL
** with the importer's message in err. */
static sqlite3 *import_dir(const char *dir, const char *tok, const char *out,
                           char *err, size_t err_len){
  import_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.dtype = -1;
  opt.tokenizer_path = tok;
  unlink(out);
  model_writer *w = model_writer_open(out, err, err_len);
  ck_assert_msg(w != 0, "%s", err);
  if( import_hf(dir, &opt, w, err, err_len) ){
    model_writer_abort(w);
    ck_assert_int_ne(access(out, F_OK), 0);
    return 0;
  }
  ck_assert_msg(model_writer_commit(w) == 0, "commit failed");
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, 0), SQLITE_OK);
  return db;
}

/* ---- import: stories260K ------------------------------------------------ */

START_TEST(test_import_stories){
  char err[512];
  llama2c m;
  llama2c_load(&m);
  sqlite3 *db = import_dir(HF_DIR, SHARED("models/stories260K/tok512.bin"),
                           test_tmp_path("stories_hf.db"), err, sizeof(err));
  ck_assert_msg(db != 0, "%s", err);
  expect_meta_text(db, "general.architecture", "llama");
  expect_meta_text(db, "general.name", "hf");
  expect_meta_text(db, "source.format", "hf");
  expect_meta_text(db, "source.file", HF_DIR "/model.safetensors");
  expect_meta_text(db, "source.xxh3", "");
  ck_assert_int_eq(meta_int(db, "llama.block_count"), LAYERS);
  ck_assert_int_eq(meta_int(db, "llama.embedding_length"), DIM);
  ck_assert_int_eq(meta_int(db, "llama.feed_forward_length"), HIDDEN);
  ck_assert_int_eq(meta_int(db, "llama.attention.head_count"), HEADS);
  ck_assert_int_eq(meta_int(db, "llama.attention.head_count_kv"), KV_HEADS);
  ck_assert_int_eq(meta_int(db, "llama.rope.dimension_count"), DIM / HEADS);
  ck_assert_int_eq(meta_int(db, "llama.context_length"), 512);
  ck_assert_int_eq(meta_int(db, "llama.vocab_size"), VOCAB);
  ck_assert(meta_float(db, "llama.rope.freq_base") == 10000.0);
  ck_assert(fabs(meta_float(db, "llama.attention.layer_norm_rms_epsilon") - 1e-5) < 1e-12);
  ck_assert_int_eq(meta_int(db, "tokenizer.ggml.bos_token_id"), 1);
  ck_assert_int_eq(meta_int(db, "tokenizer.ggml.eos_token_id"), 2);

  size_t n;
  float *emb = db_tensor(db, "token_embd.weight", &n);
  ck_assert_uint_eq(n, VOCAB * DIM);
  ck_assert(memcmp(emb, m.emb, n * sizeof(float)) == 0);
  free(emb);
  /* Tied: the output layer is the embedding, so there is no output.weight. */
  ck_assert_ptr_null(db_tensor(db, "output.weight", &n));
  for(int l = 0; l < LAYERS; l++){
    char name[64];
    snprintf(name, sizeof(name), "blk.%d.attn_q.weight", l);
    float *q = db_tensor(db, name, &n);
    ck_assert_uint_eq(n, DIM * DIM);
    ck_assert_msg(memcmp(q, m.wq + l * DIM * DIM, n * 4) == 0, "%s != wq", name);
    free(q);
    snprintf(name, sizeof(name), "blk.%d.attn_k.weight", l);
    float *k = db_tensor(db, name, &n);
    ck_assert_uint_eq(n, KV_DIM * DIM);
    ck_assert_msg(memcmp(k, m.wk + l * KV_DIM * DIM, n * 4) == 0, "%s != wk", name);
    free(k);
    snprintf(name, sizeof(name), "blk.%d.attn_v.weight", l);
    float *v = db_tensor(db, name, &n);
    ck_assert_msg(memcmp(v, m.wv + l * KV_DIM * DIM, n * 4) == 0, "%s != wv", name);
    free(v);
  }
  sqlite3_close(db);
  free(m.file);
}
END_TEST

/* GGUF's stories260K was converted by llama.cpp's tools, so the same model
** imported from it must give the same bytes in every tensor. */
START_TEST(test_import_matches_gguf){
  char err[512];
  import_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.dtype = -1;
  const char *gguf_db = test_tmp_path("stories_gguf.db");
  unlink(gguf_db);
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.gguf"), gguf_db,
                             &opt, err, sizeof(err)) == 0, "%s", err);
  sqlite3 *db = import_dir(HF_DIR, SHARED("models/stories260K/tok512.bin"),
                           test_tmp_path("stories_hf2.db"), err, sizeof(err));
  ck_assert_msg(db != 0, "%s", err);
  char attach[1200];
  snprintf(attach, sizeof(attach), "ATTACH '%s' AS g", gguf_db);
  ck_assert_int_eq(sqlite3_exec(db, attach, 0, 0, 0), SQLITE_OK);
  sqlite3_stmt *s;
  ck_assert_int_eq(sqlite3_prepare_v2(db,
    "SELECT count(DISTINCT ta.name), count(*) - total(a.data = b.data"
    " AND ta.dtype = tb.dtype AND ta.shape = tb.shape) FROM main.tensor ta"
    " JOIN main.tile a ON a.tensor_id = ta.id"
    " JOIN g.tensor tb ON tb.name = ta.name"
    " JOIN g.tile b ON b.tensor_id = tb.id AND b.tile_row = a.tile_row"
    " AND b.tile_col = a.tile_col", -1, &s, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(s, 0), 2 + 9 * LAYERS);  /* all matched */
  ck_assert_int_eq(sqlite3_column_int(s, 1), 0);                /* tiles differing */
  sqlite3_finalize(s);
  sqlite3_close(db);
}
END_TEST

/* ---- import: synthetic models ------------------------------------------- */

/* A tiny model: hidden 8, 2 heads of 4, 1 KV head, FFN 12, 2 layers.
** Element e of the k-th tensor written holds synth_value(k, e), distinct
** within a tensor of up to 1000 (f32) or 2048 (bf16) elements, so where each
** element lands after the import is visible in its value. */
typedef struct synth {
  const char *arch;      /* "LlamaForCausalLM" / "Qwen2ForCausalLM" */
  int vocab, biases, shards, bf16, tied;
  int bos, eos;          /* config.json's ids (eos written as a list) */
} synth;

enum { S_EMBD = 8, S_HEADS = 2, S_KV = 1, S_HEAD_DIM = 4, S_FF = 12, S_LAYERS = 2 };

typedef struct synth_tensor { char name[96]; uint64_t rows, cols; } synth_tensor;

/* In bf16, as raw bits: finite normal numbers with all 8 mantissa bits
** used, so the value is exact in bf16 and in f32. */
static uint16_t synth_bf16(int k, uint64_t e){
  return (uint16_t)(0x3C00 + ((uint64_t)k * 37 + e) % 0x800);
}

static float synth_value(const synth *m, int k, uint64_t e){
  if( !m->bf16 ) return (float)(k * 1000 + (int)(e % 1000));
  uint32_t bits = (uint32_t)synth_bf16(k, e) << 16;
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

static int synth_tensors(const synth *m, synth_tensor *t){
  int n = 0;
#define ADD(r, c, ...) (snprintf(t[n].name, 96, __VA_ARGS__), t[n].rows = (r), t[n].cols = (c), n++)
  ADD(m->vocab, S_EMBD, "model.embed_tokens.weight");
  for(int l = 0; l < S_LAYERS; l++){
    ADD(S_EMBD, 0, "model.layers.%d.input_layernorm.weight", l);
    ADD(S_HEADS * S_HEAD_DIM, S_EMBD, "model.layers.%d.self_attn.q_proj.weight", l);
    ADD(S_KV * S_HEAD_DIM, S_EMBD, "model.layers.%d.self_attn.k_proj.weight", l);
    ADD(S_KV * S_HEAD_DIM, S_EMBD, "model.layers.%d.self_attn.v_proj.weight", l);
    if( m->biases ){
      ADD(S_HEADS * S_HEAD_DIM, 0, "model.layers.%d.self_attn.q_proj.bias", l);
      ADD(S_KV * S_HEAD_DIM, 0, "model.layers.%d.self_attn.k_proj.bias", l);
      ADD(S_KV * S_HEAD_DIM, 0, "model.layers.%d.self_attn.v_proj.bias", l);
    }
    ADD(S_EMBD, S_HEADS * S_HEAD_DIM, "model.layers.%d.self_attn.o_proj.weight", l);
    ADD(S_EMBD, 0, "model.layers.%d.post_attention_layernorm.weight", l);
    ADD(S_FF, S_EMBD, "model.layers.%d.mlp.gate_proj.weight", l);
    ADD(S_FF, S_EMBD, "model.layers.%d.mlp.up_proj.weight", l);
    ADD(S_EMBD, S_FF, "model.layers.%d.mlp.down_proj.weight", l);
  }
  ADD(S_EMBD, 0, "model.norm.weight");
  if( !m->tied ) ADD(m->vocab, S_EMBD, "lm_head.weight");
#undef ADD
  return n;
}

/* Write tensors [from, to) of t as one safetensors file. */
static void synth_write_file(const synth *m, const synth_tensor *t, int from,
                             int to, const char *path){
  size_t esz = m->bf16 ? 2 : 4, cap = 1 << 16, off = 0, hlen = 1;
  char *json = malloc(cap);
  strcpy(json, "{");
  for(int k = from; k < to; k++){
    uint64_t count = t[k].rows * (t[k].cols ? t[k].cols : 1);
    char shape[64];
    if( t[k].cols ) snprintf(shape, sizeof(shape), "%llu,%llu",
                             (unsigned long long)t[k].rows, (unsigned long long)t[k].cols);
    else snprintf(shape, sizeof(shape), "%llu", (unsigned long long)t[k].rows);
    hlen += (size_t)snprintf(json + hlen, cap - hlen,
      "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}",
      k > from ? "," : "", t[k].name, m->bf16 ? "BF16" : "F32", shape, off,
      off + count * esz);
    off += count * esz;
  }
  strcpy(json + hlen++, "}");
  size_t len;
  uint8_t *buf = make_st(json, (8 - hlen % 8) % 8, off, &len);
  uint8_t *data = buf + len - off;
  for(int k = from; k < to; k++){
    uint64_t count = t[k].rows * (t[k].cols ? t[k].cols : 1);
    for(uint64_t e = 0; e < count; e++){
      if( m->bf16 ){
        uint16_t h = synth_bf16(k, e);
        memcpy(data, &h, 2);
      }else{
        float v = synth_value(m, k, e);
        memcpy(data, &v, 4);
      }
      data += esz;
    }
  }
  test_write_file(path, buf, len);
  free(buf);
  free(json);
}

static const char *synth_write(const char *name, const synth *m, synth_tensor *t,
                               int *n){
  const char *dir = fresh_dir(name);
  char path[1024], config[2048];
  *n = synth_tensors(m, t);
  snprintf(config, sizeof(config),
    "{\"architectures\":[\"%s\"],\"hidden_size\":%d,\"num_hidden_layers\":%d,"
    "\"num_attention_heads\":%d,\"num_key_value_heads\":%d,"
    "\"intermediate_size\":%d,\"max_position_embeddings\":64,"
    "\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,\"vocab_size\":%d,"
    "\"tie_word_embeddings\":%s,\"bos_token_id\":%d,\"eos_token_id\":[%d],"
    "\"hidden_act\":\"silu\",\"rope_scaling\":null}",
    m->arch, S_EMBD, S_LAYERS, S_HEADS, S_KV, S_FF, m->vocab,
    m->tied ? "true" : "false", m->bos, m->eos);
  write_text(dir, "config.json", config);
  if( !m->shards ){
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    synth_write_file(m, t, 0, *n, path);
    return dir;
  }
  /* Two shards, split mid-layer, and the index naming them. */
  char *index = malloc(1 << 14);
  size_t len = (size_t)sprintf(index, "{\"weight_map\":{");
  for(int k = 0; k < *n; k++){
    len += (size_t)sprintf(index + len, "%s\"%s\":\"part%d.safetensors\"",
                           k ? "," : "", t[k].name, k < *n / 2 ? 1 : 2);
  }
  strcpy(index + len, "}}");
  write_text(dir, "model.safetensors.index.json", index);
  free(index);
  snprintf(path, sizeof(path), "%s/part1.safetensors", dir);
  synth_write_file(m, t, 0, *n / 2, path);
  snprintf(path, sizeof(path), "%s/part2.safetensors", dir);
  synth_write_file(m, t, *n / 2, *n, path);
  return dir;
}

static int synth_index(const synth_tensor *t, int n, const char *name){
  for(int k = 0; k < n; k++) if( strcmp(t[k].name, name) == 0 ) return k;
  ck_abort_msg("no synthetic tensor %s", name);
  return -1;
}

/* Row r of db tensor `gguf` must be row perm[r % len] + (r / len) * len of
** synthetic tensor `hf` (a permutation repeating every len rows). */
static void expect_rows(sqlite3 *db, const char *gguf, const synth *m,
                        const synth_tensor *t, int n, const char *hf,
                        const int *perm, int len){
  int k = synth_index(t, n, hf);
  uint64_t cols = t[k].cols ? t[k].cols : 1;
  size_t count;
  float *v = db_tensor(db, gguf, &count);
  ck_assert_msg(v != 0, "%s missing", gguf);
  ck_assert_uint_eq(count, t[k].rows * cols);
  /* One assertion at the end: Check records every ck_assert it passes. */
  uint64_t bad = count;
  float want = 0;
  for(uint64_t i = 0; i < count && bad == count; i++){
    uint64_t r = i / cols, c = i % cols;
    uint64_t src = (uint64_t)perm[r % (uint64_t)len] + r / (uint64_t)len * (uint64_t)len;
    want = synth_value(m, k, src * cols + c);
    if( v[i] != want ) bad = i;
  }
  ck_assert_msg(bad == count, "%s[%llu][%llu] = %g, want %g", gguf,
                (unsigned long long)(bad / cols), (unsigned long long)(bad % cols),
                bad < count ? v[bad] : 0, want);
  free(v);
}

/* llama with q/k biases: within each head of 4 rows, GGUF row 2i+j is HF
** row 2j+i, i.e. rows 0,2,1,3; the bias moves with its row. */
START_TEST(test_import_llama_biases){
  static const int rope[4] = { 0, 2, 1, 3 }, same[1] = { 0 };
  synth m = { "LlamaForCausalLM", VOCAB, 1, 0, 0, 0, 1, 2 };
  synth_tensor t[64];
  int n;
  char err[512];
  const char *dir = synth_write("synth_llama", &m, t, &n);
  sqlite3 *db = import_dir(dir, SHARED("models/stories260K/tok512.bin"),
                           test_tmp_path("synth_llama.db"), err, sizeof(err));
  ck_assert_msg(db != 0, "%s", err);
  ck_assert(meta_float(db, "llama.rope.freq_base") == 1e6);
  ck_assert_int_eq(meta_int(db, "tokenizer.ggml.add_bos_token"), 1);
  expect_rows(db, "blk.1.attn_q.weight", &m, t, n, "model.layers.1.self_attn.q_proj.weight", rope, 4);
  expect_rows(db, "blk.1.attn_q.bias", &m, t, n, "model.layers.1.self_attn.q_proj.bias", rope, 4);
  expect_rows(db, "blk.0.attn_k.weight", &m, t, n, "model.layers.0.self_attn.k_proj.weight", rope, 4);
  expect_rows(db, "blk.0.attn_k.bias", &m, t, n, "model.layers.0.self_attn.k_proj.bias", rope, 4);
  expect_rows(db, "blk.0.attn_v.bias", &m, t, n, "model.layers.0.self_attn.v_proj.bias", same, 1);
  expect_rows(db, "blk.0.attn_output.weight", &m, t, n, "model.layers.0.self_attn.o_proj.weight", same, 1);
  expect_rows(db, "blk.1.ffn_down.weight", &m, t, n, "model.layers.1.mlp.down_proj.weight", same, 1);
  expect_rows(db, "output.weight", &m, t, n, "lm_head.weight", same, 1);
  expect_rows(db, "output_norm.weight", &m, t, n, "model.norm.weight", same, 1);
  sqlite3_close(db);
}
END_TEST

/* qwen2, sharded, bf16, with the real Qwen2.5 tokenizer files: no
** permutation, biases kept, special ids and the chat template copied. */
START_TEST(test_import_qwen2){
  static const int same[1] = { 0 };
  synth m = { "Qwen2ForCausalLM", 151936, 1, 1, 1, 1, 151643, 151643 };
  synth_tensor t[64];
  int n;
  char err[512], path[1024];
  const char *dir = synth_write("synth_qwen2", &m, t, &n);
  static const char *tok_files[] = { "vocab.json", "merges.txt", "tokenizer_config.json" };
  for(int i = 0; i < 3; i++){
    snprintf(path, sizeof(path), "%s/%s", dir, tok_files[i]);
    char src[1024];
    snprintf(src, sizeof(src), "%s/%s", SHARED("tokenizers/qwen2.5"), tok_files[i]);
    ck_assert_int_eq(symlink(src, path), 0);
  }
  sqlite3 *db = import_dir(dir, 0, test_tmp_path("synth_qwen2.db"), err, sizeof(err));
  ck_assert_msg(db != 0, "%s", err);
  expect_meta_text(db, "general.architecture", "qwen2");
  ck_assert_int_eq(meta_int(db, "qwen2.attention.head_count_kv"), S_KV);
  ck_assert_int_eq(meta_int(db, "qwen2.vocab_size"), 151936);
  ck_assert(meta_float(db, "qwen2.rope.freq_base") == 1e6);
  ck_assert(fabs(meta_float(db, "qwen2.attention.layer_norm_rms_epsilon") - 1e-6) < 1e-15);
  /* tokenizer_config.json: bos_token null, so config.json's bos_token_id;
  ** its eos_token "<|im_end|>" wins over config.json's eos_token_id. */
  ck_assert_int_eq(meta_int(db, "tokenizer.ggml.bos_token_id"), 151643);
  ck_assert_int_eq(meta_int(db, "tokenizer.ggml.eos_token_id"), 151645);
  ck_assert_int_eq(meta_int(db, "tokenizer.ggml.add_bos_token"), 0);
  expect_meta_text(db, "tokenizer.chat_template", "{%- if tools %}");
  expect_rows(db, "token_embd.weight", &m, t, n, "model.embed_tokens.weight", same, 1);
  expect_rows(db, "blk.0.attn_q.weight", &m, t, n, "model.layers.0.self_attn.q_proj.weight", same, 1);
  expect_rows(db, "blk.1.attn_q.bias", &m, t, n, "model.layers.1.self_attn.q_proj.bias", same, 1);
  expect_rows(db, "blk.1.attn_k.weight", &m, t, n, "model.layers.1.self_attn.k_proj.weight", same, 1);
  expect_rows(db, "blk.1.attn_k.bias", &m, t, n, "model.layers.1.self_attn.k_proj.bias", same, 1);
  size_t count;
  ck_assert_ptr_null(db_tensor(db, "output.weight", &count));
  sqlite3_close(db);
}
END_TEST

/* ---- import: refusals ---------------------------------------------------- */

/* stories260K's config.json with `patch` applied as by json_patch (a key
** set to null is removed); the caller frees it. */
static char *stories_config(const char *patch){
  char *base = test_read_file(HF_DIR "/config.json", 0);
  sqlite3 *db;
  sqlite3_stmt *s;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT json_patch(?1, ?2)", -1, &s, 0), SQLITE_OK);
  sqlite3_bind_text(s, 1, base, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, patch, -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
  char *config = strdup((const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(db);
  free(base);
  return config;
}

/* A directory with the stories260K weights and config.json holding
** `config` (none if NULL); the import must fail with `want`. */
static void expect_import_error(const char *config, const char *want){
  char err[512] = "", path[1024];
  const char *dir = fresh_dir("hf_bad");
  if( config ) write_text(dir, "config.json", config);
  snprintf(path, sizeof(path), "%s/model.safetensors", dir);
  ck_assert_int_eq(symlink(HF_DIR "/model.safetensors", path), 0);
  sqlite3 *db = import_dir(dir, SHARED("models/stories260K/tok512.bin"),
                           test_tmp_path("hf_bad.db"), err, sizeof(err));
  ck_assert_msg(db == 0, "imported with config %s", config ? config : "(none)");
  ck_assert_msg(strstr(err, want), "error '%s' lacks '%s'", err, want);
}

static void expect_patch_error(const char *patch, const char *want){
  char *config = stories_config(patch);
  expect_import_error(config, want);
  free(config);
}

START_TEST(test_import_errors){
  expect_import_error(0, "hf_bad/config.json: No such file");
  expect_import_error("{", "config.json: not valid JSON");
  expect_import_error("[]", "config.json: not a JSON object");
  expect_import_error("{}", "config.json: no architectures list");
  expect_patch_error("{\"architectures\":[\"GPT2LMHeadModel\"]}",
                     "config.json: architecture GPT2LMHeadModel is not supported");
  expect_patch_error("{\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
                     "rope_scaling (type llama3) is not supported");
  expect_patch_error("{\"hidden_act\":\"gelu\"}", "hidden_act gelu is not supported");
  expect_patch_error("{\"vocab_size\":-3}", "vocab_size is not a positive integer");
  expect_patch_error("{\"rms_norm_eps\":\"small\"}", "rms_norm_eps is not a positive number");
  expect_patch_error("{\"hidden_size\":null}", "config.json: hidden_size is missing");
  expect_patch_error("{\"num_key_value_heads\":3}", "a multiple of num_key_value_heads 3");
  expect_patch_error("{\"num_hidden_layers\":6}",
                     "tensor model.layers.5.input_layernorm.weight is missing");
  expect_patch_error("{\"num_hidden_layers\":4}", "is beyond num_hidden_layers 4");
  expect_patch_error("{\"intermediate_size\":170}",
                     "tensor 'model.layers.0.mlp.down_proj.weight' has shape [64, 172],"
                     " but config.json implies [64, 170]");
  expect_patch_error("{\"tie_word_embeddings\":false}", "tensor lm_head.weight is missing");
  expect_patch_error("{\"architectures\":[\"Qwen2ForCausalLM\"]}",
                     "tensor model.layers.0.self_attn.q_proj.bias is missing");
  expect_patch_error("{\"eos_token_id\":600}", "eos_token_id 600 is not in the vocabulary");
}
END_TEST

/* Tensors the importer cannot place or store. */
START_TEST(test_import_bad_tensors){
  char err[512] = "", path[1024];
  const char *dir = fresh_dir("hf_bad_tensor");
  char *config = stories_config("{\"num_hidden_layers\":1,\"vocab_size\":2,"
                                 "\"hidden_size\":2,\"head_dim\":null,"
                                 "\"num_attention_heads\":1,\"num_key_value_heads\":1}");
  write_text(dir, "config.json", config);
  free(config);
  size_t len;
  uint8_t *buf = make_st("{\"model.layers.0.mlp.gate_proj.weight\":{\"dtype\":\"I32\","
                         "\"shape\":[172,2],\"data_offsets\":[0,1376]}}", 0, 1376, &len);
  snprintf(path, sizeof(path), "%s/model.safetensors", dir);
  test_write_file(path, buf, len);
  free(buf);
  ck_assert_ptr_null(import_dir(dir, 0, test_tmp_path("hf_bad_tensor.db"), err, sizeof(err)));
  ck_assert_msg(strstr(err, "model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight'"
                       " has dtype I32; tensql imports F32, F16 and BF16"), "%s", err);
  buf = make_st("{\"model.layers.0.mlp.gate.weight\":{\"dtype\":\"F32\","
                "\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, &len);
  test_write_file(path, buf, len);
  free(buf);
  ck_assert_ptr_null(import_dir(dir, 0, test_tmp_path("hf_bad_tensor.db"), err, sizeof(err)));
  ck_assert_msg(strstr(err, "tensor 'model.layers.0.mlp.gate.weight' is not part of a "
                       "llama model"), "%s", err);
}
END_TEST

static Suite *safetensors_suite(void){
  Suite *s = suite_create("safetensors");
  TCase *parse = tcase_create("parse");
  tcase_add_test(parse, test_stories_tensors);
  tcase_add_test(parse, test_stories_bytes);
  tcase_add_test(parse, test_small_file);
  tcase_add_test(parse, test_every_prefix);
  tcase_add_test(parse, test_bad_headers);
  tcase_add_test(parse, test_sharded);
  tcase_add_test(parse, test_bad_index);
  suite_add_tcase(s, parse);
  TCase *import = tcase_create("import");
  tcase_set_timeout(import, 60);   /* loads the 151k-token Qwen2 vocabulary */
  tcase_add_test(import, test_import_stories);
  tcase_add_test(import, test_import_matches_gguf);
  tcase_add_test(import, test_import_llama_biases);
  tcase_add_test(import, test_import_qwen2);
  tcase_add_test(import, test_import_errors);
  tcase_add_test(import, test_import_bad_tensors);
  suite_add_tcase(s, import);
  return s;
}

TEST_MAIN(safetensors_suite)
