/*
** synth.c: synthetic GGUF models with random weights and real shapes (see
** synth.h).
**
**   tensql synth --preset qwen2.5-0.5b -o synth.gguf --dtype q8_0 --seed 1
**   tensql synth --preset tiny -o tiny.gguf --tokenizer-dir ../shared/tokenizers/qwen2.5
**
** How it works: the metadata and the tensor-info table are built in memory
** (a few MB, mostly the vocabulary), then the tensor data is generated one
** row at a time and streamed to a temporary file, which is renamed over the
** output at the end.  Nothing the size of a tensor is ever held: the
** 0.5B preset writes ~528 MB at q8_0 from a ~30 KB row buffer.
**
** Values, from one splitmix64 stream in file order (so the same seed gives
** the same f32 values whatever the dtype; f16 and q8_0 round them):
**   weight matrices (and token_embd)  uniform, std 1/sqrt(row length),
**                                     so every projection keeps unit scale
**   norm weights                      uniform in [0.75, 1.25)
**   q/k/v biases                      uniform in [-0.5, 0.5)
** Activations stay O(1) through any number of layers, logits have a
** standard deviation near 1, and attention is far from uniform, so a
** wrong RoPE or mask shows in the logits.
**
** Sections: presets, output buffer, GGUF metadata, tokenizer, tensors,
** synth_write, CLI.
*/
#include "synth.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format/file.h"
#include "format/gguf.h"
#include "format/hf_json.h"
#include "kernels/kernels.h"
#include "kernels/tensor.h"
#include "tokenizer/tokenizer.h"

/* ---- presets --------------------------------------------------------------- */

static const synth_preset synth_presets[] = {
  /* Qwen2.5-0.5B(-Instruct): config.json of ../shared/tokenizers/qwen2.5 */
  { "qwen2.5-0.5b", "qwen2", 151936, 896, 24, 14, 2, 4864, 32768, 1e6, 1e-6, 1, 1 },
  /* Qwen2.5-1.5B: every width a multiple of 256, so a k-quant file of it
  ** holds k-quants only (llama.cpp falls back to legacy types for 896) */
  { "qwen2.5-1.5b", "qwen2", 151936, 1536, 28, 12, 2, 8960, 32768, 1e6, 1e-6, 1, 1 },
  /* The same family, small enough for tests; the real vocabulary size */
  { "tiny", "qwen2", 151936, 64, 2, 4, 2, 128, 512, 1e6, 1e-6, 1, 1 },
};
#define SYNTH_N_PRESETS (int)(sizeof synth_presets / sizeof synth_presets[0])

const synth_preset *synth_preset_find(const char *name){
  for(int i = 0; name && i < SYNTH_N_PRESETS; i++){
    if( strcmp(synth_presets[i].name, name) == 0 ) return &synth_presets[i];
  }
  return NULL;
}

/* ---- output buffer: GGUF's little-endian encoding ----------------------------- */

/* A growable byte buffer; on out of memory it sets failed and drops
** further writes, so callers check once at the end. */
typedef struct synth_buf {
  unsigned char *p;
  size_t len, cap;
  int failed;
} synth_buf;

static void buf_put(synth_buf *b, const void *data, size_t n){
  if( b->failed ) return;
  if( b->len + n > b->cap ){
    size_t cap = b->cap ? b->cap : 1 << 16;
    while( cap < b->len + n ) cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if( p == NULL ){
      b->failed = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void buf_u32(synth_buf *b, uint32_t v){
  unsigned char le[4] = { (unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
  buf_put(b, le, 4);
}

static void buf_u64(synth_buf *b, uint64_t v){
  buf_u32(b, (uint32_t)v);
  buf_u32(b, (uint32_t)(v >> 32));
}

static void buf_f32(synth_buf *b, float f){
  uint32_t bits;
  memcpy(&bits, &f, 4);
  buf_u32(b, bits);
}

/* A GGUF string: u64 length, then the bytes (no NUL). */
static void buf_str(synth_buf *b, const char *s, size_t n){
  buf_u64(b, n);
  buf_put(b, s, n);
}

/* ---- GGUF metadata ----------------------------------------------------------- */

/* The key-value section, built before the header that counts it. */
typedef struct synth_meta {
  synth_buf kv;
  uint64_t count;
} synth_meta;

static void meta_key(synth_meta *m, const char *key, gguf_type type){
  buf_str(&m->kv, key, strlen(key));
  buf_u32(&m->kv, (uint32_t)type);
  m->count++;
}

static void meta_u32(synth_meta *m, const char *key, uint32_t v){
  meta_key(m, key, GGUF_UINT32);
  buf_u32(&m->kv, v);
}

static void meta_f32(synth_meta *m, const char *key, float v){
  meta_key(m, key, GGUF_FLOAT32);
  buf_f32(&m->kv, v);
}

static void meta_bool(synth_meta *m, const char *key, int v){
  unsigned char byte = v ? 1 : 0;
  meta_key(m, key, GGUF_BOOL);
  buf_put(&m->kv, &byte, 1);
}

static void meta_str(synth_meta *m, const char *key, const char *v){
  meta_key(m, key, GGUF_STRING);
  buf_str(&m->kv, v, strlen(v));
}

/* An array header; the caller writes `len` elements of `type` next. */
static void meta_array(synth_meta *m, const char *key, gguf_type type, uint64_t len){
  meta_key(m, key, GGUF_ARRAY);
  buf_u32(&m->kv, (uint32_t)type);
  buf_u64(&m->kv, len);
}

/* llama.cpp's general.file_type (enum llama_ftype) for the weights' dtype. */
static uint32_t file_type_of(int dtype){
  switch( dtype ){
    case TENSOR_F16: return 1;     /* MOSTLY_F16 */
    case TENSOR_Q8_0: return 7;    /* MOSTLY_Q8_0 */
    default: return 0;             /* ALL_F32 */
  }
}

/* The model's hyper-parameters, under the keys llama.cpp's converter uses
** for qwen2 (Qwen2Model.set_gguf_parameters). */
static void meta_model(synth_meta *m, const synth_preset *p, const synth_options *opt){
  char key[128], name[128];
  snprintf(name, sizeof name, "tensql synth %s (seed %" PRIu64 ")", p->name, opt->seed);
  meta_str(m, "general.architecture", p->arch);
  meta_str(m, "general.type", "model");
  meta_str(m, "general.name", name);
#define ARCH_KEY(k) (snprintf(key, sizeof key, "%s." k, p->arch), key)
  meta_u32(m, ARCH_KEY("block_count"), (uint32_t)p->n_layers);
  meta_u32(m, ARCH_KEY("context_length"), (uint32_t)p->context);
  meta_u32(m, ARCH_KEY("embedding_length"), (uint32_t)p->dim);
  meta_u32(m, ARCH_KEY("feed_forward_length"), (uint32_t)p->ffn);
  meta_u32(m, ARCH_KEY("attention.head_count"), (uint32_t)p->n_heads);
  meta_u32(m, ARCH_KEY("attention.head_count_kv"), (uint32_t)p->n_kv_heads);
  meta_f32(m, ARCH_KEY("rope.freq_base"), (float)p->rope_theta);
  meta_f32(m, ARCH_KEY("attention.layer_norm_rms_epsilon"), (float)p->rms_eps);
#undef ARCH_KEY
  meta_u32(m, "general.file_type", file_type_of(opt->dtype));
  meta_u32(m, "general.quantization_version", 2);
}

/* ---- tokenizer ----------------------------------------------------------------- */

/* GPT-2's bytes_to_unicode (tokenizer.h): the code point byte b is spelled
** as in byte-level BPE vocabularies, and the order of the 256 single-byte
** tokens at the start of GPT-2's and Qwen's vocabularies. */
typedef struct byte_level {
  unsigned code_of[256];
  unsigned char byte_at[256];   /* vocabulary order */
} byte_level;

static void byte_level_init(byte_level *m){
  unsigned code_points[256];
  tokenizer_bytes_to_unicode(m->byte_at, code_points);
  for(int i = 0; i < 256; i++) m->code_of[m->byte_at[i]] = code_points[i];
}

/* Append the byte-level spelling of raw bytes (UTF-8 of the mapped code
** points, each below U+0800). */
static void byte_level_spell(const byte_level *m, synth_buf *b, const char *s, size_t n){
  for(size_t i = 0; i < n; i++){
    unsigned cp = m->code_of[(unsigned char)s[i]];
    unsigned char u[2];
    if( cp < 0x80 ){
      u[0] = (unsigned char)cp;
      buf_put(b, u, 1);
    }else{
      u[0] = (unsigned char)(0xC0 | cp >> 6);
      u[1] = (unsigned char)(0x80 | (cp & 0x3F));
      buf_put(b, u, 2);
    }
  }
}

/* A GGUF string element in byte-level spelling. */
static void meta_byte_level_str(synth_meta *m, const byte_level *bl, synth_buf *tmp,
                                const char *s, size_t n){
  tmp->len = 0;
  byte_level_spell(bl, tmp, s, n);
  buf_str(&m->kv, tmp->p ? (const char *)tmp->p : "", tmp->len);
  if( tmp->failed ) m->kv.failed = 1;
}

/* Qwen2's ChatML specials, at Qwen2.5's ids when the vocabulary reaches
** them, else right after the byte tokens. */
static const char *const synth_specials[3] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };
#define QWEN_ENDOFTEXT 151643

static const char synth_chatml_template[] =
  "{% for message in messages %}"
  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
  "{% endfor %}"
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* The minimal tokenizer: 256 byte tokens in GPT-2 order, the three ChatML
** specials (CONTROL), and filler "<|synth_N|>" tokens (NORMAL, so that a
** generated one shows as text) up to the vocabulary size.  No merges:
** text encodes byte by byte. */
static int meta_tokenizer_minimal(synth_meta *m, int vocab, char *err, size_t err_len){
  if( vocab < 256 + 3 ){
    snprintf(err, err_len, "vocabulary of %d tokens is too small for the byte tokens", vocab);
    return -1;
  }
  byte_level bl;
  byte_level_init(&bl);
  int first_special = vocab > QWEN_ENDOFTEXT + 2 ? QWEN_ENDOFTEXT : 256;
  synth_buf tmp = {0};
  meta_str(m, "tokenizer.ggml.model", "gpt2");
  meta_str(m, "tokenizer.ggml.pre", "qwen2");
  meta_array(m, "tokenizer.ggml.tokens", GGUF_STRING, (uint64_t)vocab);
  for(int id = 0; id < vocab; id++){
    char filler[32];
    if( id < 256 ){
      char byte = (char)bl.byte_at[id];
      meta_byte_level_str(m, &bl, &tmp, &byte, 1);
    }else if( id >= first_special && id < first_special + 3 ){
      const char *s = synth_specials[id - first_special];
      buf_str(&m->kv, s, strlen(s));
    }else{
      int n = snprintf(filler, sizeof filler, "<|synth_%d|>", id);
      buf_str(&m->kv, filler, (size_t)n);
    }
  }
  free(tmp.p);
  meta_array(m, "tokenizer.ggml.token_type", GGUF_INT32, (uint64_t)vocab);
  for(int id = 0; id < vocab; id++){
    int special = id >= first_special && id < first_special + 3;
    buf_u32(&m->kv, (uint32_t)(special ? TOKEN_CONTROL : TOKEN_NORMAL));
  }
  meta_array(m, "tokenizer.ggml.merges", GGUF_STRING, 0);
  meta_u32(m, "tokenizer.ggml.eos_token_id", (uint32_t)first_special + 2);
  meta_u32(m, "tokenizer.ggml.padding_token_id", (uint32_t)first_special);
  meta_u32(m, "tokenizer.ggml.bos_token_id", (uint32_t)first_special);
  meta_bool(m, "tokenizer.ggml.add_bos_token", 0);
  meta_str(m, "tokenizer.chat_template", synth_chatml_template);
  return 0;
}

/* tokenizer_config.json and config.json of a Hugging Face directory, read
** with SQLite's JSON functions, as llama.cpp's gguf.SpecialVocab reads
** them. */
typedef struct hf_config {
  hf_json *json;
  char *tokenizer_config;   /* file text, or NULL if absent */
  char *config;
} hf_config;

/* dir/name's text into *text, NULL if there is no such file; -1 with a
** message in err if it is there but cannot be read. */
static int hf_config_file(const char *dir, const char *name, char **text,
                          char *err, size_t err_len){
  char path[4096], msg[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  *text = file_read_all(path, NULL, msg, sizeof msg);
  if( *text || errno == ENOENT ) return 0;
  snprintf(err, err_len, "%s", msg);
  return -1;
}

/* llama.cpp's does_token_look_special: added tokens that are not marked
** special but read like control tokens become CONTROL. */
static int token_looks_special(const char *s, size_t n){
  static const char *const exact[] = { "<pad>", "<mask>", "<2mass>", "[@BOS@]" };
  for(size_t i = 0; i < sizeof exact / sizeof exact[0]; i++){
    if( n == strlen(exact[i]) && memcmp(s, exact[i], n) == 0 ) return 1;
  }
#define HAS(pre, post) (n >= strlen(pre) + strlen(post) && memcmp(s, pre, strlen(pre)) == 0 \
                        && memcmp(s + n - strlen(post), post, strlen(post)) == 0)
  return HAS("<|", "|>") || HAS("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || HAS("<unused", ">");
#undef HAS
}

/* A Hugging Face tokenizer, written as convert_hf_to_gguf.py's
** _set_vocab_gpt2 writes it: normal tokens in byte-level spelling, added
** tokens as their text (CONTROL if special or special-looking, else
** USER_DEFINED), "[PADn]" UNUSED tokens up to the model's vocabulary,
** merges as "left right" in byte-level spelling, then the special ids,
** add_bos_token and the chat template from the JSON files. */
static int meta_tokenizer_hf(synth_meta *m, const char *dir, int vocab,
                             char *err, size_t err_len){
  tokenizer *t = tokenizer_load_hf(dir, err, err_len);
  if( t == NULL ) return -1;
  int n = tokenizer_vocab_size(t), rc = -1;
  hf_config c = {0};
  if( tokenizer_kind_of(t) != TOKENIZER_BPE ){
    snprintf(err, err_len, "%s: not a byte-level BPE tokenizer", dir);
    goto done;
  }
  if( n > vocab ){
    snprintf(err, err_len, "%s: %d tokens do not fit the model's vocabulary of %d",
             dir, n, vocab);
    goto done;
  }
  if( (c.json = hf_json_open(err, err_len)) == NULL ) goto done;
  if( hf_config_file(dir, "tokenizer_config.json", &c.tokenizer_config, err, err_len)
   || hf_config_file(dir, "config.json", &c.config, err, err_len) ){
    goto done;
  }

  byte_level bl;
  byte_level_init(&bl);
  synth_buf tmp = {0};
  meta_str(m, "tokenizer.ggml.model", "gpt2");
  meta_str(m, "tokenizer.ggml.pre", tokenizer_pre(t));
  meta_array(m, "tokenizer.ggml.tokens", GGUF_STRING, (uint64_t)vocab);
  token_kind *kinds = malloc((size_t)vocab * sizeof *kinds);
  if( kinds == NULL ){
    snprintf(err, err_len, "out of memory");
    goto done;
  }
  for(int id = 0; id < vocab; id++){
    const char *piece;
    size_t len;
    float score;
    token_kind kind = TOKEN_UNUSED;
    if( id >= n ){
      char pad[32];
      int k = snprintf(pad, sizeof pad, "[PAD%d]", id);
      buf_str(&m->kv, pad, (size_t)k);
    }else{
      tokenizer_token(t, id, &piece, &len, &score, &kind);
      if( kind == TOKEN_NORMAL ){
        meta_byte_level_str(m, &bl, &tmp, piece, len);
      }else{
        if( kind == TOKEN_USER_DEFINED && token_looks_special(piece, len) ) kind = TOKEN_CONTROL;
        buf_str(&m->kv, piece, len);
      }
    }
    kinds[id] = kind;
  }
  meta_array(m, "tokenizer.ggml.token_type", GGUF_INT32, (uint64_t)vocab);
  for(int id = 0; id < vocab; id++) buf_u32(&m->kv, (uint32_t)kinds[id]);
  free(kinds);

  int n_merges = tokenizer_merge_count(t);
  meta_array(m, "tokenizer.ggml.merges", GGUF_STRING, (uint64_t)n_merges);
  for(int r = 0; r < n_merges; r++){
    const char *left, *right;
    size_t left_len, right_len;
    tokenizer_merge(t, r, &left, &left_len, &right, &right_len);
    tmp.len = 0;
    byte_level_spell(&bl, &tmp, left, left_len);
    buf_put(&tmp, " ", 1);
    byte_level_spell(&bl, &tmp, right, right_len);
    buf_str(&m->kv, (const char *)tmp.p, tmp.len);
    if( tmp.failed ) m->kv.failed = 1;
  }
  free(tmp.p);

  static const struct { const char *role, *key; } specials[] = {
    { "bos", "tokenizer.ggml.bos_token_id" },
    { "eos", "tokenizer.ggml.eos_token_id" },
    { "unk", "tokenizer.ggml.unknown_token_id" },
    { "pad", "tokenizer.ggml.padding_token_id" },
  };
  for(size_t i = 0; i < sizeof specials / sizeof specials[0]; i++){
    int id;
    char msg[256];
    if( tokenizer_hf_special_id(c.json, t, c.tokenizer_config, c.config,
                                specials[i].role, &id, msg, sizeof msg) ){
      snprintf(err, err_len, "%s/config.json: %s", dir, msg);
      goto done;
    }
    if( id >= 0 ) meta_u32(m, specials[i].key, (uint32_t)id);
  }
  int add;
  if( hf_json_bool(c.json, c.tokenizer_config, -1, "$.add_bos_token", &add) ){
    meta_bool(m, "tokenizer.ggml.add_bos_token", add);
  }
  if( hf_json_bool(c.json, c.tokenizer_config, -1, "$.add_eos_token", &add) ){
    meta_bool(m, "tokenizer.ggml.add_eos_token", add);
  }
  char *chat_template = hf_json_text(c.json, c.tokenizer_config, -1, "$.chat_template");
  if( chat_template ) meta_str(m, "tokenizer.chat_template", chat_template);
  free(chat_template);
  rc = 0;

done:
  free(c.tokenizer_config);
  free(c.config);
  hf_json_close(c.json);
  tokenizer_free(t);
  return rc;
}

/* ---- tensors ------------------------------------------------------------------- */

typedef enum synth_fill { FILL_MATRIX, FILL_NORM, FILL_BIAS } synth_fill;

/* One tensor of the file: GGUF's ne[0] = cols (the row length), ne[1] =
** rows for a matrix; a 1-D tensor is one row. */
typedef struct synth_tensor {
  char name[64];
  int n_dims;
  uint64_t rows, cols;
  int type;              /* tensor_dtype */
  synth_fill fill;
  uint64_t offset;       /* from the start of the data section */
  uint64_t size;         /* bytes */
} synth_tensor;

#define SYNTH_ALIGNMENT 32

static uint64_t align_up(uint64_t n){
  return (n + SYNTH_ALIGNMENT - 1) / SYNTH_ALIGNMENT * SYNTH_ALIGNMENT;
}

static void tensor_add(synth_tensor *ts, int *n, const char *name, int n_dims,
                       uint64_t rows, uint64_t cols, int dtype, synth_fill fill){
  synth_tensor *t = &ts[(*n)++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->n_dims = n_dims;
  t->rows = rows;
  t->cols = cols;
  /* As llama.cpp: 1-D tensors stay f32, and so does a matrix whose rows are
  ** not whole q8_0 blocks. */
  t->type = n_dims == 1 || tensor_row_bytes((tensor_dtype)dtype, cols) == 0 ? TENSOR_F32 : dtype;
  t->fill = fill;
  t->size = rows * tensor_row_bytes((tensor_dtype)t->type, cols);
  t->offset = *n > 1 ? align_up(ts[*n - 2].offset + ts[*n - 2].size) : 0;
}

/* The tensors of a qwen2 model, in the order llama.cpp writes them. */
static synth_tensor *tensors_of(const synth_preset *p, int dtype, int *count){
  int kv_dim = p->dim / p->n_heads * p->n_kv_heads;
  synth_tensor *ts = calloc((size_t)(3 + 12 * p->n_layers), sizeof *ts);
  if( ts == NULL ) return NULL;
  int n = 0;
  char name[64];
  tensor_add(ts, &n, "token_embd.weight", 2, (uint64_t)p->vocab, (uint64_t)p->dim, dtype, FILL_MATRIX);
  for(int l = 0; l < p->n_layers; l++){
#define BLK(s) (snprintf(name, sizeof name, "blk.%d." s, l), name)
    tensor_add(ts, &n, BLK("attn_norm.weight"), 1, 1, (uint64_t)p->dim, dtype, FILL_NORM);
    tensor_add(ts, &n, BLK("attn_q.weight"), 2, (uint64_t)p->dim, (uint64_t)p->dim, dtype, FILL_MATRIX);
    if( p->qkv_bias ) tensor_add(ts, &n, BLK("attn_q.bias"), 1, 1, (uint64_t)p->dim, dtype, FILL_BIAS);
    tensor_add(ts, &n, BLK("attn_k.weight"), 2, (uint64_t)kv_dim, (uint64_t)p->dim, dtype, FILL_MATRIX);
    if( p->qkv_bias ) tensor_add(ts, &n, BLK("attn_k.bias"), 1, 1, (uint64_t)kv_dim, dtype, FILL_BIAS);
    tensor_add(ts, &n, BLK("attn_v.weight"), 2, (uint64_t)kv_dim, (uint64_t)p->dim, dtype, FILL_MATRIX);
    if( p->qkv_bias ) tensor_add(ts, &n, BLK("attn_v.bias"), 1, 1, (uint64_t)kv_dim, dtype, FILL_BIAS);
    tensor_add(ts, &n, BLK("attn_output.weight"), 2, (uint64_t)p->dim, (uint64_t)p->dim, dtype, FILL_MATRIX);
    tensor_add(ts, &n, BLK("ffn_norm.weight"), 1, 1, (uint64_t)p->dim, dtype, FILL_NORM);
    tensor_add(ts, &n, BLK("ffn_gate.weight"), 2, (uint64_t)p->ffn, (uint64_t)p->dim, dtype, FILL_MATRIX);
    tensor_add(ts, &n, BLK("ffn_up.weight"), 2, (uint64_t)p->ffn, (uint64_t)p->dim, dtype, FILL_MATRIX);
    tensor_add(ts, &n, BLK("ffn_down.weight"), 2, (uint64_t)p->dim, (uint64_t)p->ffn, dtype, FILL_MATRIX);
#undef BLK
  }
  tensor_add(ts, &n, "output_norm.weight", 1, 1, (uint64_t)p->dim, dtype, FILL_NORM);
  if( !p->tied ){
    tensor_add(ts, &n, "output.weight", 2, (uint64_t)p->vocab, (uint64_t)p->dim, dtype, FILL_MATRIX);
  }
  *count = n;
  return ts;
}

static void tensor_infos(synth_buf *b, const synth_tensor *ts, int n){
  for(int i = 0; i < n; i++){
    const synth_tensor *t = &ts[i];
    buf_str(b, t->name, strlen(t->name));
    buf_u32(b, (uint32_t)t->n_dims);
    buf_u64(b, t->cols);
    if( t->n_dims == 2 ) buf_u64(b, t->rows);
    buf_u32(b, (uint32_t)t->type);
    buf_u64(b, t->offset);
  }
}

/* splitmix64: one stream for the whole file. */
static uint64_t splitmix64(uint64_t *state){
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1), 24 bits. */
static float uniform_pm1(uint64_t *state){
  return (float)(splitmix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static void fill_row(const synth_tensor *t, uint64_t *state, float *row){
  float scale = t->fill == FILL_MATRIX ? sqrtf(3.0f / (float)t->cols)
              : t->fill == FILL_NORM ? 0.25f : 0.5f;
  float center = t->fill == FILL_NORM ? 1.0f : 0.0f;
  for(uint64_t c = 0; c < t->cols; c++) row[c] = center + scale * uniform_pm1(state);
}

/* ---- synth_write --------------------------------------------------------------- */

/* The temporary file being written, for synth_command's signal handler. */
static char synth_temp[4096];

/* Write the whole file to f.  Returns 0, or an errno value. */
static int write_file(FILE *f, const synth_meta *m, const synth_buf *infos,
                      const synth_tensor *ts, int n, const synth_options *opt){
  synth_buf head = {0};
  buf_put(&head, "GGUF", 4);
  buf_u32(&head, 3);
  buf_u64(&head, (uint64_t)n);
  buf_u64(&head, m->count);
  if( head.failed ) return ENOMEM;
  size_t header_len = head.len + m->kv.len + infos->len;
  int ok = fwrite(head.p, 1, head.len, f) == head.len
        && fwrite(m->kv.p, 1, m->kv.len, f) == m->kv.len
        && fwrite(infos->p, 1, infos->len, f) == infos->len;
  free(head.p);
  static const char zeros[SYNTH_ALIGNMENT];
  uint64_t at = header_len, data_start = align_up(header_len);
  uint64_t widest = 0, state = opt->seed;
  for(int i = 0; i < n; i++) if( ts[i].cols > widest ) widest = ts[i].cols;
  float *row = malloc(widest * sizeof *row);
  unsigned char *out = malloc(widest * sizeof(float));
  if( row == NULL || out == NULL ) ok = 0;
  for(int i = 0; ok && i < n; i++){
    const synth_tensor *t = &ts[i];
    uint64_t pad = data_start + t->offset - at;
    ok = fwrite(zeros, 1, (size_t)pad, f) == pad;
    at += pad;
    size_t row_bytes = tensor_row_bytes((tensor_dtype)t->type, t->cols);
    for(uint64_t r = 0; ok && r < t->rows; r++){
      fill_row(t, &state, row);
      if( t->type == TENSOR_F32 ){
        memcpy(out, row, row_bytes);
      }else if( t->type == TENSOR_F16 ){
        for(uint64_t c = 0; c < t->cols; c++){
          uint16_t h = kernel_f32_to_f16(row[c]);
          memcpy(out + 2 * c, &h, 2);
        }
      }else{
        kernel_quantize_q8_0(row, out, t->cols);
      }
      ok = fwrite(out, 1, row_bytes, f) == row_bytes;
      at += row_bytes;
    }
  }
  /* The file ends with the last tensor padded to the alignment, as ggml
  ** writes it. */
  uint64_t pad = align_up(at) - at;
  if( ok ) ok = fwrite(zeros, 1, (size_t)pad, f) == pad;
  int e = ok ? 0 : (errno ? errno : EIO);
  if( row == NULL || out == NULL ) e = ENOMEM;
  free(row);
  free(out);
  return e;
}

static int options_check(const synth_options *opt, const synth_preset **preset,
                         char *err, size_t err_len){
  *preset = synth_preset_find(opt->preset);
  if( *preset == NULL ){
    int k = snprintf(err, err_len, "unknown preset '%s'; presets:", opt->preset ? opt->preset : "(none)");
    for(int i = 0; i < SYNTH_N_PRESETS && k > 0 && (size_t)k < err_len; i++){
      k += snprintf(err + k, err_len - (size_t)k, " %s", synth_presets[i].name);
    }
    return -1;
  }
  if( opt->dtype != TENSOR_F32 && opt->dtype != TENSOR_F16 && opt->dtype != TENSOR_Q8_0 ){
    snprintf(err, err_len, "dtype %s is not one synth writes (f32, f16, q8_0)",
             tensor_dtype_name(opt->dtype) ? tensor_dtype_name(opt->dtype) : "(unknown)");
    return -1;
  }
  if( opt->out == NULL || opt->out[0] == 0 ){
    snprintf(err, err_len, "no output path");
    return -1;
  }
  return 0;
}

int synth_write(const synth_options *opt, char *err, size_t err_len){
  const synth_preset *p;
  if( options_check(opt, &p, err, err_len) ) return -1;
  kernels_init();
  synth_meta m = {0};
  synth_buf infos = {0};
  int n = 0, rc = -1, fd = -1;
  FILE *f = NULL;
  char temp[4096];
  synth_tensor *ts = tensors_of(p, opt->dtype, &n);
  meta_model(&m, p, opt);
  int tok = opt->tokenizer_dir
          ? meta_tokenizer_hf(&m, opt->tokenizer_dir, p->vocab, err, err_len)
          : meta_tokenizer_minimal(&m, p->vocab, err, err_len);
  if( tok ) goto done;
  if( ts ) tensor_infos(&infos, ts, n);
  if( ts == NULL || m.kv.failed || infos.failed ){
    snprintf(err, err_len, "out of memory");
    goto done;
  }

  /* The temporary file sits beside out, so that rename is atomic. */
  if( snprintf(temp, sizeof temp, "%s.tmp-XXXXXX", opt->out) >= (int)sizeof temp ){
    snprintf(err, err_len, "%s: path too long", opt->out);
    goto done;
  }
  fd = mkstemp(temp);
  if( fd < 0 ){
    snprintf(err, err_len, "cannot create %s: %s", opt->out, strerror(errno));
    goto done;
  }
  snprintf(synth_temp, sizeof synth_temp, "%s", temp);
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  f = fdopen(fd, "wb");
  if( f == NULL ){
    snprintf(err, err_len, "%s: %s", temp, strerror(errno));
    close(fd);
    unlink(temp);
    goto done;
  }
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  int e = write_file(f, &m, &infos, ts, n, opt);
  if( e == 0 && fflush(f) ) e = errno ? errno : EIO;
  if( e == 0 && fsync(fileno(f)) ) e = errno;
  if( fclose(f) && e == 0 ) e = errno ? errno : EIO;
  if( e == 0 && rename(temp, opt->out) ) e = errno;
  if( e ){
    snprintf(err, err_len, "writing %s: %s", opt->out, strerror(e));
    unlink(temp);
  }else{
    rc = 0;
  }

done:
  synth_temp[0] = 0;
  free(ts);
  free(m.kv.p);
  free(infos.p);
  return rc;
}

/* ---- CLI ------------------------------------------------------------------------- */

/* Ctrl-C while writing: remove the half-written temporary file. */
static void synth_interrupted(int sig){
  if( synth_temp[0] ) unlink(synth_temp);
  signal(sig, SIG_DFL);
  raise(sig);
}

static int synth_usage(FILE *f){
  fprintf(f,
    "usage: tensql synth --preset NAME -o OUT.gguf [--dtype f32|f16|q8_0] [--seed S]\n"
    "                    [--tokenizer-dir DIR]\n"
    "  Writes a GGUF model with random weights and the shapes of a preset, for\n"
    "  benchmarks and tests.  --dtype is the weight matrices' type (default q8_0;\n"
    "  norms and biases are f32).  --tokenizer-dir takes a Hugging Face tokenizer\n"
    "  (tokenizer.json or vocab.json + merges.txt, tokenizer_config.json);\n"
    "  without it the vocabulary is byte tokens and fillers.\n"
    "  presets:\n");
  for(int i = 0; i < SYNTH_N_PRESETS; i++){
    const synth_preset *p = &synth_presets[i];
    fprintf(f, "    %-13s %s, vocab %d, dim %d, %d layers, %d/%d heads, ffn %d\n",
            p->name, p->arch, p->vocab, p->dim, p->n_layers, p->n_heads,
            p->n_kv_heads, p->ffn);
  }
  return f == stdout ? 0 : 2;
}

int synth_command(int argc, char **argv){
  static const struct option options[] = {
    { "preset", required_argument, 0, 'p' },
    { "output", required_argument, 0, 'o' },
    { "dtype", required_argument, 0, 'd' },
    { "seed", required_argument, 0, 's' },
    { "tokenizer-dir", required_argument, 0, 't' },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 }
  };
  synth_options opt = { .dtype = TENSOR_Q8_0, .seed = 1 };
  int c;
  char *end;
  while( (c = getopt_long(argc, argv, "p:o:d:s:t:h", options, 0)) != -1 ){
    switch( c ){
      case 'p': opt.preset = optarg; break;
      case 'o': opt.out = optarg; break;
      case 't': opt.tokenizer_dir = optarg; break;
      case 'd':
        opt.dtype = tensor_dtype_from_name(optarg);
        if( opt.dtype != TENSOR_F32 && opt.dtype != TENSOR_F16 && opt.dtype != TENSOR_Q8_0 ){
          fprintf(stderr, "tensql synth: dtype '%s' is not f32, f16 or q8_0\n", optarg);
          return 2;
        }
        break;
      case 's':
        errno = 0;
        opt.seed = strtoull(optarg, &end, 10);
        if( errno || *end || optarg[0] == 0 || optarg[0] == '-' ){
          fprintf(stderr, "tensql synth: seed '%s' is not a non-negative integer\n", optarg);
          return 2;
        }
        break;
      case 'h': return synth_usage(stdout);
      default: return synth_usage(stderr);
    }
  }
  if( opt.preset == NULL || opt.out == NULL || optind != argc ) return synth_usage(stderr);
  if( synth_preset_find(opt.preset) == NULL ){
    fprintf(stderr, "tensql synth: unknown preset '%s'\n", opt.preset);
    return synth_usage(stderr);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  signal(SIGINT, synth_interrupted);
  signal(SIGTERM, synth_interrupted);
  char err[1024];
  int rc = synth_write(&opt, err, sizeof err);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if( rc ){
    fprintf(stderr, "tensql synth: %s\n", err);
    return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  struct stat st;
  double mb = stat(opt.out, &st) == 0 ? (double)st.st_size / 1e6 : 0;
  fprintf(stderr, "wrote %s: %s, %s, seed %" PRIu64 ", %.1f MB in %.2f s\n", opt.out,
          opt.preset, tensor_dtype_name(opt.dtype), opt.seed, mb,
          (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
  return 0;
}
