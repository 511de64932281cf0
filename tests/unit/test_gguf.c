/*
** test_gguf.c: the GGUF reader, on llama.cpp's real files and on a small
** GGUF written by hand here, whole and broken in every way the reader must
** refuse.
**
** Expected values never come from the reader itself.  For the real files
** they are well-known facts (GPT-2: 50257 tokens, 50000 merges; Llama SPM:
** 32000 tokens) or were printed by this independent python3 struct reader:
**
**   import struct, sys
**   b = open(sys.argv[1], 'rb').read(); p = 4
**   def rd(f):
**       global p; v = struct.unpack_from('<' + f, b, p)[0]
**       p += struct.calcsize(f); return v
**   def s(): n = rd('Q'); global p; p += n; return b[p - n:p]
**   F = {0:'B',1:'b',2:'H',3:'h',4:'I',5:'i',6:'f',7:'?',10:'Q',11:'q',12:'d'}
**   def val(t):
**       if t == 8: return s()
**       if t == 9: et = rd('I'); return [val(et) for _ in range(rd('Q'))]
**       return rd(F[t])
**   ver, nt, nkv = rd('I'), rd('Q'), rd('Q')
**   kv = {s(): val(rd('I')) for _ in range(nkv)}
**   ti = [(s(), [rd('Q') for _ in range(rd('I'))], rd('I'), rd('Q'))
**         for _ in range(nt)]
**   data_start = (p + 31) // 32 * 32   # no general.alignment in these files
**
** The synthetic file's values are known because this file writes them.
*/
#include "format/gguf.h"
#include "../testutil.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static int str_is(gguf_str s, const char *want){
  return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static int64_t key_index(const gguf *g, const char *name){
  int64_t i = gguf_find_key(g, name);
  ck_assert_msg(i >= 0, "key %s missing", name);
  return i;
}

static int64_t key_int(const gguf *g, const char *name){
  int64_t v = 0;
  ck_assert_int_eq(gguf_kv_int(g, (uint64_t)key_index(g, name), &v), 0);
  return v;
}

static double key_float(const gguf *g, const char *name){
  double v = 0;
  ck_assert_int_eq(gguf_kv_float(g, (uint64_t)key_index(g, name), &v), 0);
  return v;
}

static uint64_t array_length(const gguf *g, const char *name, gguf_type want){
  gguf_type t;
  uint64_t n = 0;
  ck_assert_int_eq(gguf_arr_info(g, (uint64_t)key_index(g, name), &t, &n), 0);
  ck_assert_int_eq(t, want);
  return n;
}

static int array_string_is(const gguf *g, const char *name, uint64_t j,
                           const char *want){
  gguf_str s;
  if( gguf_arr_string(g, (uint64_t)key_index(g, name), j, &s) ) return 0;
  return str_is(s, want);
}

static int64_t array_int(const gguf *g, const char *name, uint64_t j){
  int64_t v = 0;
  ck_assert_int_eq(gguf_arr_int(g, (uint64_t)key_index(g, name), j, &v), 0);
  return v;
}

static double array_float(const gguf *g, const char *name, uint64_t j){
  double v = 0;
  ck_assert_int_eq(gguf_arr_float(g, (uint64_t)key_index(g, name), j, &v), 0);
  return v;
}

static gguf *open_shared(const char *path){
  char err[512] = "";
  gguf *g = gguf_open(path, err, sizeof err);
  ck_assert_msg(g != NULL, "%s", err);
  return g;
}

/* ---- llama.cpp's vocab-only files ---------------------------------------- */

START_TEST(test_vocab_gpt2){
  gguf *g = open_shared(SHARED("tokenizers/llama.cpp-vectors/ggml-vocab-gpt-2.gguf"));
  char *model = gguf_get_string_dup(g, "tokenizer.ggml.model");
  const char *tokens = "tokenizer.ggml.tokens";
  /* header and counts: python script */
  ck_assert_uint_eq(gguf_version(g), 3);
  ck_assert_uint_eq(gguf_kv_count(g), 16);
  ck_assert_uint_eq(gguf_tensor_count(g), 0);
  ck_assert_uint_eq(gguf_alignment(g), 32);
  ck_assert(str_is(gguf_kv_key(g, 0), "general.architecture"));
  ck_assert_str_eq(model, "gpt2");
  free(model);
  /* GPT-2's vocabulary: 50257 tokens, 50000 merges; <|endoftext|> is last */
  ck_assert_uint_eq(array_length(g, tokens, GGUF_STRING), 50257);
  ck_assert_uint_eq(array_length(g, "tokenizer.ggml.merges", GGUF_STRING), 50000);
  ck_assert(array_string_is(g, tokens, 0, "!"));
  ck_assert(array_string_is(g, tokens, 259, "in"));
  ck_assert(array_string_is(g, tokens, 300, "\xc4\xa0l"));        /* "Ġl" */
  ck_assert(array_string_is(g, tokens, 50256, "<|endoftext|>"));
  ck_assert(array_string_is(g, "tokenizer.ggml.merges", 0, "\xc4\xa0 t"));
  ck_assert(array_string_is(g, "tokenizer.ggml.merges", 49999, "\xc4\xa0g azed"));
  /* token types (int32): 1 normal, 3 control; python script */
  ck_assert_uint_eq(array_length(g, "tokenizer.ggml.token_type", GGUF_INT32), 50257);
  ck_assert_int_eq(array_int(g, "tokenizer.ggml.token_type", 0), 1);
  ck_assert_int_eq(array_int(g, "tokenizer.ggml.token_type", 50256), 3);
  ck_assert_int_eq(key_int(g, "tokenizer.ggml.bos_token_id"), 50256);
  ck_assert_int_eq(key_int(g, "gpt2.context_length"), 1024);
  ck_assert(key_float(g, "gpt2.attention.layer_norm_epsilon") == (double)1e-5f);
  gguf_close(g);
}
END_TEST

START_TEST(test_vocab_llama_spm){
  gguf *g = open_shared(SHARED("tokenizers/llama.cpp-vectors/ggml-vocab-llama-spm.gguf"));
  const char *tokens = "tokenizer.ggml.tokens", *scores = "tokenizer.ggml.scores";
  const char *types = "tokenizer.ggml.token_type";
  gguf_str model;
  /* python script */
  ck_assert_uint_eq(gguf_version(g), 3);
  ck_assert_uint_eq(gguf_kv_count(g), 22);
  ck_assert_uint_eq(gguf_tensor_count(g), 0);
  ck_assert_int_eq(gguf_kv_string(g, (uint64_t)key_index(g, "tokenizer.ggml.model"), &model), 0);
  ck_assert(str_is(model, "llama"));
  /* Llama 2's SentencePiece vocabulary: 32000 pieces */
  ck_assert_uint_eq(array_length(g, tokens, GGUF_STRING), 32000);
  ck_assert_uint_eq(array_length(g, scores, GGUF_FLOAT32), 32000);
  ck_assert_uint_eq(array_length(g, types, GGUF_INT32), 32000);
  ck_assert(array_string_is(g, tokens, 0, "<unk>"));
  ck_assert(array_string_is(g, tokens, 1, "<s>"));
  ck_assert(array_string_is(g, tokens, 3, "<0x00>"));
  ck_assert(array_string_is(g, tokens, 29871, "\xe2\x96\x81"));    /* "▁" */
  ck_assert(array_string_is(g, tokens, 31999, "\xe7\xbb\x99"));
  /* scores and types: python script; the Llama 2 tokenizer.bin agrees
     (id 259 "▁▁" has -1e9, the last id -31740) */
  ck_assert(array_float(g, scores, 0) == 0.0);
  ck_assert(array_float(g, scores, 259) == -1e9);
  ck_assert(array_float(g, scores, 1000) == -741.0);
  ck_assert(array_float(g, scores, 31999) == -31740.0);
  ck_assert_int_eq(array_int(g, types, 0), 2);     /* unknown */
  ck_assert_int_eq(array_int(g, types, 1), 3);     /* control */
  ck_assert_int_eq(array_int(g, types, 3), 6);     /* byte */
  ck_assert_int_eq(array_int(g, types, 1000), 1);  /* normal */
  ck_assert_int_eq(key_int(g, "tokenizer.ggml.add_bos_token"), 1);  /* bool */
  ck_assert_int_eq(key_int(g, "tokenizer.ggml.add_eos_token"), 0);
  ck_assert_int_eq(key_int(g, "llama.vocab_size"), 32000);
  gguf_close(g);
}
END_TEST

/* ---- stories260K: GGUF against the llama2.c checkpoint ------------------- */

static void check_shape(const gguf_tensor *t, uint32_t n_dims, uint64_t ne0,
                        uint64_t ne1){
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(t->n_dims, n_dims);
  ck_assert_uint_eq(t->ne[0], ne0);
  ck_assert_uint_eq(t->ne[1], ne1);
  ck_assert_uint_eq(t->type, 0);                       /* f32 */
  ck_assert_uint_eq(t->size, ne0 * ne1 * 4);
}

START_TEST(test_stories260k){
  gguf *g = open_shared(SHARED("models/stories260K/stories260K.gguf"));
  size_t bin_len;
  uint8_t *bin = (uint8_t *)test_read_file(SHARED("models/stories260K/stories260K.bin"), &bin_len);
  const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
  const gguf_tensor *q0 = gguf_find_tensor(g, "blk.0.attn_q.weight");
  const gguf_tensor *last;
  /* SOURCE.md: v3, 19 keys, 48 tensors all F32 (5 layers x 9 + 3) */
  ck_assert_uint_eq(gguf_version(g), 3);
  ck_assert_uint_eq(gguf_kv_count(g), 19);
  ck_assert_uint_eq(gguf_tensor_count(g), 48);
  for( uint64_t i = 0; i < 48; i++ ) ck_assert_uint_eq(gguf_tensor_at(g, i)->type, 0);
  ck_assert_ptr_null(gguf_tensor_at(g, 48));
  ck_assert_uint_eq(array_length(g, "tokenizer.ggml.tokens", GGUF_STRING), 512);
  ck_assert_int_eq(key_int(g, "llama.embedding_length"), 64);
  /* shapes: dim 64, hidden 172, vocab 512, kv_dim 32 (bin header) */
  check_shape(emb, 2, 64, 512);
  check_shape(gguf_tensor_at(g, 1), 1, 64, 1);
  ck_assert(str_is(gguf_tensor_at(g, 1)->name, "output_norm.weight"));
  check_shape(q0, 2, 64, 64);
  check_shape(gguf_find_tensor(g, "blk.0.attn_k.weight"), 2, 64, 32);
  check_shape(gguf_find_tensor(g, "blk.4.ffn_down.weight"), 2, 172, 64);
  ck_assert_ptr_null(gguf_find_tensor(g, "blk.5.ffn_down.weight"));
  /* placement: python script (data section at 14176); the last tensor
     (blk.4.ffn_norm.weight) ends exactly at the end of the file */
  ck_assert_uint_eq(emb->offset, 14176);
  last = gguf_tensor_at(g, 47);
  ck_assert(str_is(last->name, "blk.4.ffn_norm.weight"));
  ck_assert_uint_eq(last->offset + last->size, 1185376);
  /* README.md layout: 7 int32, then token_embedding[512][64], rms_att[5][64],
     wq[5][64][64]; the GGUF holds the same floats bit for bit */
  ck_assert_uint_eq(bin_len, 1056540);
  ck_assert_int_eq(memcmp(emb->data, bin + 28, 512 * 64 * 4), 0);
  ck_assert_int_eq(memcmp(q0->data, bin + 28 + 4 * (512 * 64 + 5 * 64), 64 * 64 * 4), 0);
  free(bin);
  gguf_close(g);
}
END_TEST

/* ---- a GGUF written by hand ---------------------------------------------- */

typedef struct image {
  uint8_t *bytes;
  size_t len, cap;
} image;

/* Where the fields that the broken-file tests change were written. */
typedef struct landmarks {
  size_t arch_string_len;    /* length of the string value of key 0 */
  size_t key1_type;          /* value type of key 1 (uint8) */
  size_t bool_value;
  size_t int_array_len;      /* element count of t.arr.i32 */
  size_t string_array_len;   /* element count of t.arr.str */
  size_t string_element_len; /* length of t.arr.str element 2 */
  size_t alignment_type, alignment_value;
  size_t n_dims1, ne0_1, type1, offset1;   /* tensor 1's info */
} landmarks;

static void put(image *im, const void *p, size_t n){
  if( im->len + n > im->cap ){
    im->cap = 2 * (im->len + n);
    im->bytes = realloc(im->bytes, im->cap);
  }
  memcpy(im->bytes + im->len, p, n);
  im->len += n;
}

static void put_uint(image *im, uint64_t v, int width){
  for( int i = 0; i < width; i++ ){
    uint8_t b = (uint8_t)(v >> 8 * i);
    put(im, &b, 1);
  }
}

static void put_f32(image *im, float f){
  uint32_t u;
  memcpy(&u, &f, 4);
  put_uint(im, u, 4);
}

static void put_f64(image *im, double d){
  uint64_t u;
  memcpy(&u, &d, 8);
  put_uint(im, u, 8);
}

static void put_str(image *im, const char *s){
  put_uint(im, strlen(s), 8);
  put(im, s, strlen(s));
}

static void put_key(image *im, const char *key, gguf_type type){
  put_str(im, key);
  put_uint(im, type, 4);
}

static void put_array(image *im, const char *key, gguf_type elem, uint64_t n){
  put_key(im, key, GGUF_ARRAY);
  put_uint(im, elem, 4);
  put_uint(im, n, 8);
}

static void patch_uint(image *im, size_t at, uint64_t v, int width){
  for( int i = 0; i < width; i++ ) im->bytes[at + i] = (uint8_t)(v >> 8 * i);
}

/* Options that make the hand-written file differ from the valid sample. */
typedef struct sample_options {
  int duplicate_key;           /* write t.u8 twice */
  const char *tensor1_name;    /* default "blk.0.q8" */
} sample_options;

#define SAMPLE_KEYS 19
#define SAMPLE_ALIGNMENT 64

/* Every value type as a scalar; arrays of ints, floats, bools, strings,
** nothing, and arrays of arrays; then tensor 0 (f32 [4, 3]) and tensor 1
** (q8_0 [64, 2]), whose data ends exactly at the end of the file. */
static void write_metadata(image *im, landmarks *at, int duplicate_key){
  put_key(im, "general.architecture", GGUF_STRING);
  at->arch_string_len = im->len;
  put_str(im, "llama");
  at->key1_type = im->len + 8 + strlen("t.u8");
  put_key(im, "t.u8", GGUF_UINT8);      put_uint(im, 200, 1);
  put_key(im, duplicate_key ? "t.u8" : "t.i8", GGUF_INT8); put_uint(im, (uint8_t)-5, 1);
  put_key(im, "t.u16", GGUF_UINT16);    put_uint(im, 60000, 2);
  put_key(im, "t.i16", GGUF_INT16);     put_uint(im, (uint16_t)-30000, 2);
  put_key(im, "t.u32", GGUF_UINT32);    put_uint(im, 4000000000u, 4);
  put_key(im, "t.i32", GGUF_INT32);     put_uint(im, (uint32_t)-2000000000, 4);
  put_key(im, "t.f32", GGUF_FLOAT32);   put_f32(im, 1.5f);
  put_key(im, "t.bool", GGUF_BOOL);
  at->bool_value = im->len;             put_uint(im, 1, 1);
  put_key(im, "t.u64", GGUF_UINT64);    put_uint(im, (1ull << 63) + 5, 8);
  put_key(im, "t.i64", GGUF_INT64);     put_uint(im, (uint64_t)-9000000000000000000ll, 8);
  put_key(im, "t.f64", GGUF_FLOAT64);   put_f64(im, -2.25);
  put_array(im, "t.arr.i32", GGUF_INT32, 3);
  at->int_array_len = im->len - 8;
  put_uint(im, 1, 4); put_uint(im, (uint32_t)-2, 4); put_uint(im, 3, 4);
  put_array(im, "t.arr.str", GGUF_STRING, 3);
  at->string_array_len = im->len - 8;
  put_str(im, "a"); put_str(im, "");
  at->string_element_len = im->len;
  put_str(im, "hello");
  put_array(im, "t.arr.f32", GGUF_FLOAT32, 2);
  put_f32(im, 0.5f); put_f32(im, -1.0f);
  put_array(im, "t.arr.nested", GGUF_ARRAY, 2);
  put_uint(im, GGUF_UINT8, 4); put_uint(im, 2, 8); put_uint(im, 1, 1); put_uint(im, 2, 1);
  put_uint(im, GGUF_STRING, 4); put_uint(im, 1, 8); put_str(im, "x");
  put_array(im, "t.arr.empty", GGUF_UINT64, 0);
  put_array(im, "t.arr.bool", GGUF_BOOL, 3);
  put_uint(im, 0, 1); put_uint(im, 1, 1); put_uint(im, 1, 1);
  put_key(im, "general.alignment", GGUF_UINT32);
  at->alignment_type = im->len - 4;
  at->alignment_value = im->len;
  put_uint(im, SAMPLE_ALIGNMENT, 4);
}

static void write_tensor_info(image *im, const char *name, uint32_t n_dims,
                              const uint64_t *ne, uint32_t type, uint64_t offset){
  put_str(im, name);
  put_uint(im, n_dims, 4);
  for( uint32_t d = 0; d < n_dims; d++ ) put_uint(im, ne[d], 8);
  put_uint(im, type, 4);
  put_uint(im, offset, 8);
}

static void pad(image *im, size_t alignment){
  while( im->len % alignment ) put_uint(im, 0, 1);
}

/* Tensor data: byte k of the data section is k & 0xff. */
static void write_data(image *im, size_t n){
  for( size_t k = 0; k < n; k++ ) put_uint(im, k & 0xff, 1);
}

static image build_sample(sample_options opt, landmarks *at){
  image im = { 0 };
  landmarks ignored;
  uint64_t ne0[2] = { 4, 3 }, ne1[2] = { 64, 2 };
  if( !at ) at = &ignored;
  put(&im, "GGUF", 4);
  put_uint(&im, 3, 4);
  put_uint(&im, 2, 8);                 /* tensor_count */
  put_uint(&im, SAMPLE_KEYS, 8);       /* kv_count */
  write_metadata(&im, at, opt.duplicate_key);
  write_tensor_info(&im, "tok.weight", 2, ne0, 0, 0);
  at->n_dims1 = im.len + 8 + strlen(opt.tensor1_name ? opt.tensor1_name : "blk.0.q8");
  at->ne0_1 = at->n_dims1 + 4;
  at->type1 = at->ne0_1 + 16;
  at->offset1 = at->type1 + 4;
  /* tensor 0 takes 48 bytes; tensor 1 starts at the next multiple of 64 */
  write_tensor_info(&im, opt.tensor1_name ? opt.tensor1_name : "blk.0.q8",
                    2, ne1, 8, SAMPLE_ALIGNMENT);
  pad(&im, SAMPLE_ALIGNMENT);
  write_data(&im, SAMPLE_ALIGNMENT + 2 * 2 * 34);
  return im;
}

static image valid_sample(landmarks *at){
  sample_options opt = { 0 };
  return build_sample(opt, at);
}

START_TEST(test_sample_values){
  image im = valid_sample(NULL);
  char err[512] = "";
  gguf *g = gguf_parse(im.bytes, im.len, err, sizeof err);
  const gguf_tensor *t0, *t1;
  int64_t v;
  uint64_t u;
  double d;
  gguf_str s;
  gguf_type type;
  ck_assert_msg(g != NULL, "%s", err);
  ck_assert_uint_eq(gguf_version(g), 3);
  ck_assert_uint_eq(gguf_alignment(g), SAMPLE_ALIGNMENT);
  ck_assert_uint_eq(gguf_kv_count(g), SAMPLE_KEYS);
  ck_assert(str_is(gguf_kv_key(g, 1), "t.u8"));
  ck_assert_int_eq(gguf_kv_type(g, 1), GGUF_UINT8);
  ck_assert_ptr_null(gguf_kv_key(g, SAMPLE_KEYS).ptr);
  /* scalars of every type, with the conversions the header promises */
  ck_assert_int_eq(key_int(g, "t.u8"), 200);
  ck_assert_int_eq(key_int(g, "t.i8"), -5);
  ck_assert_int_eq(key_int(g, "t.u16"), 60000);
  ck_assert_int_eq(key_int(g, "t.i16"), -30000);
  ck_assert_int_eq(key_int(g, "t.u32"), 4000000000);
  ck_assert_int_eq(key_int(g, "t.i32"), -2000000000);
  ck_assert_int_eq(key_int(g, "t.bool"), 1);
  ck_assert(key_int(g, "t.i64") == -9000000000000000000ll);
  ck_assert_int_eq(gguf_kv_int(g, (uint64_t)key_index(g, "t.u64"), &v), -1);
  ck_assert_int_eq(gguf_kv_uint64(g, (uint64_t)key_index(g, "t.u64"), &u), 0);
  ck_assert(u == (1ull << 63) + 5);
  ck_assert_int_eq(gguf_kv_uint64(g, (uint64_t)key_index(g, "t.u32"), &u), 0);
  ck_assert_uint_eq(u, 4000000000u);
  ck_assert_int_eq(gguf_kv_uint64(g, (uint64_t)key_index(g, "t.i8"), &u), -1);
  ck_assert(key_float(g, "t.f32") == 1.5);
  ck_assert(key_float(g, "t.f64") == -2.25);
  ck_assert_int_eq(gguf_kv_float(g, (uint64_t)key_index(g, "t.u8"), &d), -1);
  ck_assert_int_eq(gguf_kv_int(g, (uint64_t)key_index(g, "t.f32"), &v), -1);
  ck_assert_int_eq(gguf_kv_string(g, (uint64_t)key_index(g, "t.u8"), &s), -1);
  ck_assert_int_eq(gguf_kv_int(g, (uint64_t)key_index(g, "t.arr.i32"), &v), -1);
  ck_assert_int_eq(gguf_arr_info(g, (uint64_t)key_index(g, "t.u8"), &type, &u), -1);
  ck_assert_int_eq(gguf_find_key(g, "t.missing"), -1);
  /* arrays */
  ck_assert_uint_eq(array_length(g, "t.arr.i32", GGUF_INT32), 3);
  ck_assert_int_eq(array_int(g, "t.arr.i32", 1), -2);
  ck_assert_int_eq(array_int(g, "t.arr.i32", 2), 3);
  ck_assert_int_eq(gguf_arr_int(g, (uint64_t)key_index(g, "t.arr.i32"), 3, &v), -1);
  ck_assert_int_eq(gguf_arr_string(g, (uint64_t)key_index(g, "t.arr.i32"), 0, &s), -1);
  ck_assert_uint_eq(array_length(g, "t.arr.str", GGUF_STRING), 3);
  ck_assert(array_string_is(g, "t.arr.str", 0, "a"));
  ck_assert(array_string_is(g, "t.arr.str", 1, ""));
  ck_assert(array_string_is(g, "t.arr.str", 2, "hello"));
  ck_assert(!array_string_is(g, "t.arr.str", 3, ""));
  ck_assert_int_eq(gguf_arr_int(g, (uint64_t)key_index(g, "t.arr.str"), 0, &v), -1);
  ck_assert(array_float(g, "t.arr.f32", 1) == -1.0);
  ck_assert_uint_eq(array_length(g, "t.arr.nested", GGUF_ARRAY), 2);
  ck_assert_int_eq(gguf_arr_int(g, (uint64_t)key_index(g, "t.arr.nested"), 0, &v), -1);
  ck_assert_uint_eq(array_length(g, "t.arr.empty", GGUF_UINT64), 0);
  ck_assert_int_eq(array_int(g, "t.arr.bool", 1), 1);
  /* tensors: offsets are from the start of the file */
  ck_assert_uint_eq(gguf_tensor_count(g), 2);
  t0 = gguf_find_tensor(g, "tok.weight");
  t1 = gguf_find_tensor(g, "blk.0.q8");
  ck_assert_ptr_eq(t0, gguf_tensor_at(g, 0));
  ck_assert_ptr_eq(t1, gguf_tensor_at(g, 1));
  ck_assert_uint_eq(t0->size, 4 * 3 * 4);
  ck_assert_uint_eq(t1->size, 2 * 2 * 34);
  ck_assert_uint_eq(t1->ne[2], 1);
  ck_assert_uint_eq(t0->offset % SAMPLE_ALIGNMENT, 0);
  ck_assert_uint_eq(t1->offset, t0->offset + SAMPLE_ALIGNMENT);
  ck_assert_uint_eq(t1->offset + t1->size, im.len);
  ck_assert_ptr_eq(t1->data, im.bytes + t1->offset);
  ck_assert_uint_eq(t0->data[5], 5);
  ck_assert_uint_eq(t1->data[0], SAMPLE_ALIGNMENT);
  ck_assert_ptr_null(gguf_find_tensor(g, "blk.0"));
  gguf_close(g);
  free(im.bytes);
}
END_TEST

START_TEST(test_open_sample){
  image im = valid_sample(NULL);
  const char *path = test_tmp_path("sample.gguf");
  char err[512] = "";
  gguf *g;
  test_write_file(path, im.bytes, im.len);
  g = gguf_open(path, err, sizeof err);
  ck_assert_msg(g != NULL, "%s", err);
  ck_assert_uint_eq(gguf_tensor_count(g), 2);
  {
    char *arch = gguf_get_string_dup(g, "general.architecture");
    ck_assert_str_eq(arch, "llama");
    free(arch);
  }
  ck_assert_ptr_null(gguf_get_string_dup(g, "t.u8"));
  gguf_close(g);
  free(im.bytes);
}
END_TEST

START_TEST(test_open_errors){
  char err[512] = "";
  const char *empty = test_tmp_path("empty.gguf");
  FILE *f = fopen(empty, "wb");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_ptr_null(gguf_open("/nonexistent/x.gguf", err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.gguf: No such file"));
  ck_assert_ptr_null(gguf_open(empty, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "empty.gguf: header: truncated: magic"));
  ck_assert_ptr_null(gguf_open(SHARED("models"), err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

/* ---- broken files -------------------------------------------------------- */

/* Parse the image; it must be refused with a message containing `want`. */
static void expect_refused(const image *im, const char *want){
  char err[512] = "";
  gguf *g = gguf_parse(im->bytes, im->len, err, sizeof err);
  ck_assert_msg(g == NULL, "accepted a file that should fail with '%s'", want);
  ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

START_TEST(test_every_truncation){
  image im = valid_sample(NULL);
  for( size_t n = 0; n < im.len; n++ ){
    char err[512] = "";
    gguf *g = gguf_parse(im.bytes, n, err, sizeof err);
    ck_assert_msg(g == NULL, "accepted a prefix of %zu bytes", n);
    ck_assert_msg(strstr(err, "truncated") || strstr(err, "exceeds")
                  || strstr(err, "cannot fit") || strstr(err, "past the end"),
                  "prefix %zu: unexpected error '%s'", n, err);
  }
  free(im.bytes);
}
END_TEST

/* Patch one field of a valid sample and expect `want` in the error. */
static void expect_patch_refused(size_t landmarks_offset, uint64_t value,
                                 int width, const char *want){
  landmarks at;
  image im = valid_sample(&at);
  size_t where = *(size_t *)((char *)&at + landmarks_offset);
  patch_uint(&im, where, value, width);
  expect_refused(&im, want);
  free(im.bytes);
}

/* Patch the header at a fixed offset. */
static void expect_header_refused(size_t where, uint64_t value, int width,
                                  const char *want){
  image im = valid_sample(NULL);
  patch_uint(&im, where, value, width);
  expect_refused(&im, want);
  free(im.bytes);
}

#define AT(field) offsetof(landmarks, field)

START_TEST(test_bad_header){
  expect_header_refused(0, 'G' | 'G' << 8 | 'M' << 16 | 'L' << 24, 4,
                        "header: bad magic 'GGML', expected 'GGUF'");
  expect_header_refused(4, 1, 4, "unsupported version 1 (only versions 2 and 3");
  expect_header_refused(4, 4, 4, "unsupported version 4");
  expect_header_refused(4, 3u << 24, 4, "big-endian");
  expect_header_refused(16, UINT64_MAX, 8,
                        "kv_count 18446744073709551615 cannot fit");
  expect_header_refused(8, 1ull << 40, 8, "tensor_count 1099511627776 cannot fit");
  {
    /* one byte short of even the magic */
    image im = valid_sample(NULL);
    im.len = 3;
    expect_refused(&im, "truncated: magic needs 4 bytes at offset 0, 3 remain");
    /* no room for a message is no reason to crash */
    ck_assert_ptr_null(gguf_parse(im.bytes, im.len, NULL, 0));
    free(im.bytes);
  }
  {
    char err[512] = "";
    ck_assert_ptr_null(gguf_parse(NULL, 0, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "truncated: magic"));
  }
}
END_TEST

START_TEST(test_bad_metadata){
  expect_patch_refused(AT(arch_string_len), UINT64_MAX, 8,
                       "key 0 ('general.architecture'): string value length "
                       "18446744073709551615");
  expect_patch_refused(AT(int_array_len), UINT64_MAX, 8,
                       "key 12 ('t.arr.i32'): array length 18446744073709551615 "
                       "exceeds file size");
  expect_patch_refused(AT(string_array_len), 1ull << 40, 8,
                       "key 13 ('t.arr.str'): array length 1099511627776 exceeds");
  expect_patch_refused(AT(string_element_len), 1ull << 40, 8,
                       "key 13 ('t.arr.str'): element 2: string length 1099511627776");
  expect_patch_refused(AT(key1_type), 13, 4, "key 1 ('t.u8'): unknown value type 13");
  expect_patch_refused(AT(bool_value), 2, 1, "key 8 ('t.bool'): bool at offset");
  expect_patch_refused(AT(alignment_value), 0, 4, "alignment 0 is not a power of two");
  expect_patch_refused(AT(alignment_value), 3, 4, "alignment 3 is not a power of two");
  expect_patch_refused(AT(alignment_type), GGUF_INT32, 4,
                       "('general.alignment'): alignment must be a uint32, not int32");
  {
    sample_options opt = { .duplicate_key = 1 };
    image im = build_sample(opt, NULL);
    expect_refused(&im, "key 2 ('t.u8'): duplicate key name, first used by key 1");
    free(im.bytes);
  }
}
END_TEST

START_TEST(test_bad_tensors){
  expect_patch_refused(AT(n_dims1), 5, 4,
                       "tensor 1 ('blk.0.q8'): n_dims 5 is not between 1 and 4");
  expect_patch_refused(AT(n_dims1), 0, 4, "n_dims 0 is not between 1 and 4");
  expect_patch_refused(AT(type1), 999, 4, "tensor 1 ('blk.0.q8'): unknown ggml type 999");
  expect_patch_refused(AT(type1), 31, 4, "unknown ggml type 31");   /* removed from ggml */
  expect_patch_refused(AT(ne0_1), 33, 8,
                       "row length 33 is not a multiple of the q8_0 block size 32");
  expect_patch_refused(AT(ne0_1), 0, 8, "dimension 0 is 0");
  expect_patch_refused(AT(ne0_1), 1ull << 62, 8, "more than 2^63-1 elements");
  expect_patch_refused(AT(offset1), 1ull << 20, 8,
                       "tensor 1 ('blk.0.q8'): data (136 bytes at offset 1048576");
  expect_patch_refused(AT(offset1), UINT64_MAX - 63, 8, "runs past the end of the file");
  expect_patch_refused(AT(offset1), SAMPLE_ALIGNMENT + 32, 8,
                       "data offset 96 is not a multiple of the alignment 64");
  {
    sample_options opt = { .tensor1_name = "tok.weight" };
    image im = build_sample(opt, NULL);
    expect_refused(&im, "tensor 1 ('tok.weight'): duplicate tensor name, "
                   "first used by tensor 0");
    free(im.bytes);
  }
}
END_TEST

/* A file whose only key holds arrays nested `depth` deep. */
static image nested_arrays(int depth){
  image im = { 0 };
  put(&im, "GGUF", 4);
  put_uint(&im, 2, 4);
  put_uint(&im, 0, 8);
  put_uint(&im, 1, 8);
  put_array(&im, "deep", GGUF_ARRAY, 1);
  for( int d = 2; d < depth; d++ ){ put_uint(&im, GGUF_ARRAY, 4); put_uint(&im, 1, 8); }
  put_uint(&im, GGUF_UINT8, 4);
  put_uint(&im, 1, 8);
  put_uint(&im, 7, 1);
  return im;
}

START_TEST(test_nesting){
  image ok = nested_arrays(8), deep = nested_arrays(9);
  char err[512] = "";
  gguf *g = gguf_parse(ok.bytes, ok.len, err, sizeof err);
  ck_assert_msg(g != NULL, "%s", err);
  ck_assert_uint_eq(gguf_version(g), 2);
  gguf_close(g);
  expect_refused(&deep, "key 0 ('deep'): arrays nested more than 8 deep");
  free(ok.bytes);
  free(deep.bytes);
}
END_TEST

/* ---- every ggml type ----------------------------------------------------- */

/* Block geometry from the block structs in llama.cpp's ggml-common.h (field
** by field: a half is 2 bytes, QK_K is 256), not from the reader's table. */
static const struct { uint32_t code; const char *name; uint32_t block, bytes; }
ggml_blocks[] = {
  { 0, "f32", 1, 4 },               { 1, "f16", 1, 2 },
  { 2, "q4_0", 32, 2 + 16 },        { 3, "q4_1", 32, 2 * 2 + 16 },
  { 6, "q5_0", 32, 2 + 4 + 16 },    { 7, "q5_1", 32, 2 * 2 + 4 + 16 },
  { 8, "q8_0", 32, 2 + 32 },        { 9, "q8_1", 32, 2 * 2 + 32 },
  { 10, "q2_K", 256, 16 + 64 + 2 * 2 },
  { 11, "q3_K", 256, 32 + 64 + 12 + 2 },
  { 12, "q4_K", 256, 2 * 2 + 12 + 128 },
  { 13, "q5_K", 256, 2 * 2 + 12 + 32 + 128 },
  { 14, "q6_K", 256, 128 + 64 + 16 + 2 },
  { 15, "q8_K", 256, 4 + 256 + 16 * 2 },
  { 16, "iq2_xxs", 256, 2 + 32 * 2 },
  { 17, "iq2_xs", 256, 2 + 32 * 2 + 8 },
  { 18, "iq3_xxs", 256, 2 + 3 * 32 },
  { 19, "iq1_s", 256, 2 + 32 + 8 * 2 },
  { 20, "iq4_nl", 32, 2 + 16 },
  { 21, "iq3_s", 256, 2 + 64 + 8 + 32 + 4 },
  { 22, "iq2_s", 256, 2 + 64 + 8 + 8 },
  { 23, "iq4_xs", 256, 2 + 2 + 4 + 128 },
  { 24, "i8", 1, 1 }, { 25, "i16", 1, 2 }, { 26, "i32", 1, 4 },
  { 27, "i64", 1, 8 }, { 28, "f64", 1, 8 },
  { 29, "iq1_m", 256, 32 + 16 + 8 },
  { 30, "bf16", 1, 2 },
  { 34, "tq1_0", 256, (256 - 4 * 4) / 5 + 4 + 2 },
  { 35, "tq2_0", 256, 64 + 2 },
  { 39, "mxfp4", 32, 1 + 16 },
  { 40, "nvfp4", 64, 4 + 32 },
  { 41, "q1_0", 128, 2 + 16 },
  { 42, "q2_0", 64, 2 + 16 },
};

/* A file with one tensor of `type`, shape [ne0, 3], and room for its data. */
static image one_tensor(uint32_t type, uint64_t ne0, size_t data_bytes){
  image im = { 0 };
  uint64_t ne[2] = { ne0, 3 };
  put(&im, "GGUF", 4);
  put_uint(&im, 3, 4);
  put_uint(&im, 1, 8);
  put_uint(&im, 0, 8);
  write_tensor_info(&im, "w", 2, ne, type, 0);
  pad(&im, 32);
  write_data(&im, data_bytes);
  return im;
}

START_TEST(test_ggml_types){
  size_t n = sizeof ggml_blocks / sizeof ggml_blocks[0];
  size_t k = 0;
  for( uint32_t code = 0; code < 50; code++ ){
    char err[512] = "", want[64];
    if( k < n && ggml_blocks[k].code == code ){
      uint32_t block = ggml_blocks[k].block, bytes = ggml_blocks[k].bytes;
      image im = one_tensor(code, 2 * block, 6 * bytes);
      gguf *g = gguf_parse(im.bytes, im.len, err, sizeof err);
      ck_assert_msg(g != NULL, "type %u: %s", code, err);
      ck_assert_uint_eq(gguf_tensor_at(g, 0)->size, 6 * bytes);
      ck_assert_str_eq(gguf_ggml_type_name(code), ggml_blocks[k].name);
      gguf_close(g);
      free(im.bytes);
      if( block > 1 ){
        im = one_tensor(code, block + 1, 6 * bytes);
        expect_refused(&im, "is not a multiple of the");
        free(im.bytes);
      }
      k++;
    }else{
      image im = one_tensor(code, 256, 4096);
      snprintf(want, sizeof want, "unknown ggml type %u", code);
      expect_refused(&im, want);
      ck_assert_ptr_null(gguf_ggml_type_name(code));
      free(im.bytes);
    }
  }
  ck_assert_uint_eq(k, n);
  ck_assert_ptr_null(gguf_ggml_type_name(UINT32_MAX));
}
END_TEST

static Suite *gguf_suite(void){
  Suite *s = suite_create("gguf");
  TCase *real = tcase_create("real files");
  TCase *sample = tcase_create("hand-written");
  TCase *broken = tcase_create("broken");
  tcase_add_test(real, test_vocab_gpt2);
  tcase_add_test(real, test_vocab_llama_spm);
  tcase_add_test(real, test_stories260k);
  tcase_add_test(sample, test_sample_values);
  tcase_add_test(sample, test_open_sample);
  tcase_add_test(sample, test_ggml_types);
  tcase_add_test(sample, test_nesting);
  tcase_add_test(broken, test_open_errors);
  tcase_add_test(broken, test_every_truncation);
  tcase_add_test(broken, test_bad_header);
  tcase_add_test(broken, test_bad_metadata);
  tcase_add_test(broken, test_bad_tensors);
  suite_add_tcase(s, real);
  suite_add_tcase(s, sample);
  suite_add_tcase(s, broken);
  return s;
}

TEST_MAIN(gguf_suite)
