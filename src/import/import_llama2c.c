/*
** import_llama2c.c: Karpathy's llama2.c checkpoints (the legacy, version-0
** export: seven int32 hyper-parameters, then float32 arrays), imported as a
** `llama` model under GGUF's tensor names.  The file carries no tokenizer, so
** `--tokenizer tokenizer.bin` is required.
**
** The format has no magic, so the header is checked hard: every count must
** be positive and consistent, and the file size must match the arrays the
** header promises exactly (with or without the optional classifier).
*/
#include "import.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/tensor.h"
#include "tokenizer/tokenizer.h"

typedef struct llama2c_config {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} llama2c_config;

/* Sizes in floats of each array, computed in 64 bits from checked values. */
typedef struct llama2c_layout {
  uint64_t embed, attn_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3, out_norm,
           freq, wcls, total;
  int shared_classifier;
} llama2c_layout;

/* Limits far above any real model, low enough that every size below fits
** in 64 bits without overflow checks. */
static const int32_t config_limit[7] = {
  1 << 16, 1 << 18, 1 << 10, 1 << 12, 1 << 12, 1 << 22, 1 << 22
};

static int config_check(const llama2c_config *c, char *err, size_t err_len){
  const int32_t *v = &c->dim;
  for(int i = 0; i < 7; i++){
    int32_t x = i == 5 && v[i] < 0 && v[i] != INT32_MIN ? -v[i] : v[i];
    if( x <= 0 || x > config_limit[i] ){
      snprintf(err, err_len, "not a llama2.c checkpoint: header value %d is %d", i, v[i]);
      return -1;
    }
  }
  if( c->dim % c->n_heads || c->n_heads % c->n_kv_heads || (c->dim / c->n_heads) % 2 ){
    snprintf(err, err_len, "not a llama2.c checkpoint: dim %d, %d heads, %d kv heads"
             " do not divide", c->dim, c->n_heads, c->n_kv_heads);
    return -1;
  }
  return 0;
}

static void layout_of(const llama2c_config *c, llama2c_layout *l){
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers;
  uint64_t head = dim / (uint64_t)c->n_heads, kv_dim = head * (uint64_t)c->n_kv_heads;
  uint64_t vocab = (uint64_t)(c->vocab_size < 0 ? -(int64_t)c->vocab_size : c->vocab_size);
  l->shared_classifier = c->vocab_size > 0;
  l->embed = vocab * dim;
  l->attn_norm = L * dim;
  l->wq = L * dim * dim;
  l->wk = L * kv_dim * dim;
  l->wv = L * kv_dim * dim;
  l->wo = L * dim * dim;
  l->ffn_norm = L * dim;
  l->w1 = L * hidden * dim;
  l->w2 = L * dim * hidden;
  l->w3 = L * hidden * dim;
  l->out_norm = dim;
  l->freq = (uint64_t)c->seq_len * head;   /* real and imaginary halves */
  l->wcls = l->shared_classifier ? 0 : vocab * dim;
  l->total = l->embed + l->attn_norm + l->wq + l->wk + l->wv + l->wo + l->ffn_norm
           + l->w1 + l->w2 + l->w3 + l->out_norm + l->freq + l->wcls;
}

static int meta_write(model_writer *w, const llama2c_config *c){
  int32_t vocab = c->vocab_size < 0 ? -c->vocab_size : c->vocab_size;
  struct { const char *key; int64_t value; } ints[] = {
    { "llama.context_length", c->seq_len },
    { "llama.embedding_length", c->dim },
    { "llama.block_count", c->n_layers },
    { "llama.feed_forward_length", c->hidden_dim },
    { "llama.attention.head_count", c->n_heads },
    { "llama.attention.head_count_kv", c->n_kv_heads },
    { "llama.rope.dimension_count", c->dim / c->n_heads },
    { "llama.vocab_size", vocab },
  };
  if( model_writer_meta_text(w, "general.architecture", "llama") ) return -1;
  for(size_t i = 0; i < sizeof ints / sizeof ints[0]; i++){
    if( model_writer_meta_int(w, ints[i].key, ints[i].value) ) return -1;
  }
  /* run.c's constants. */
  if( model_writer_meta_float(w, "llama.rope.freq_base", 10000.0) ) return -1;
  return model_writer_meta_float(w, "llama.attention.layer_norm_rms_epsilon", 1e-5);
}

/* Write one per-layer family ("blk.%d.attn_q.weight") whose L arrays lie
** back to back at *at; advances *at past them. */
static int layers_write(model_writer *w, const llama2c_config *c, const float **at,
                        const char *fmt, int n_dims, uint64_t rows, uint64_t cols,
                        const import_options *opt){
  char name[64];
  uint64_t shape[2] = { rows, cols };
  for(int layer = 0; layer < c->n_layers; layer++){
    snprintf(name, sizeof name, fmt, layer);
    if( model_writer_tensor(w, name, n_dims, n_dims == 1 ? shape + 1 : shape,
          TENSOR_F32, *at, import_target_dtype(opt, n_dims, cols, TENSOR_F32)) ) return -1;
    *at += rows * cols;
  }
  return 0;
}

static int tensors_write(model_writer *w, const llama2c_config *c,
                         const float *f, const import_options *opt){
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
  uint64_t kv_dim = dim / (uint64_t)c->n_heads * (uint64_t)c->n_kv_heads;
  uint64_t vocab = (uint64_t)(c->vocab_size < 0 ? -(int64_t)c->vocab_size : c->vocab_size);
  uint64_t embed_shape[2] = { vocab, dim };
  int f32 = TENSOR_F32;
  if( model_writer_tensor(w, "token_embd.weight", 2, embed_shape, TENSOR_F32, f,
        import_target_dtype(opt, 2, dim, f32)) ) return -1;
  const float *at = f + vocab * dim;
  if( layers_write(w, c, &at, "blk.%d.attn_norm.weight", 1, 1, dim, opt)
   || layers_write(w, c, &at, "blk.%d.attn_q.weight", 2, dim, dim, opt)
   || layers_write(w, c, &at, "blk.%d.attn_k.weight", 2, kv_dim, dim, opt)
   || layers_write(w, c, &at, "blk.%d.attn_v.weight", 2, kv_dim, dim, opt)
   || layers_write(w, c, &at, "blk.%d.attn_output.weight", 2, dim, dim, opt)
   || layers_write(w, c, &at, "blk.%d.ffn_norm.weight", 1, 1, dim, opt)
   || layers_write(w, c, &at, "blk.%d.ffn_gate.weight", 2, hidden, dim, opt)
   || layers_write(w, c, &at, "blk.%d.ffn_down.weight", 2, dim, hidden, opt)
   || layers_write(w, c, &at, "blk.%d.ffn_up.weight", 2, hidden, dim, opt) ) return -1;
  if( model_writer_tensor(w, "output_norm.weight", 1, &dim, TENSOR_F32, at, TENSOR_F32) ) return -1;
  at += dim + (uint64_t)c->seq_len * (dim / (uint64_t)c->n_heads);
  if( c->vocab_size > 0 ) return 0;
  return model_writer_tensor(w, "output.weight", 2, embed_shape, TENSOR_F32, at,
                             import_target_dtype(opt, 2, dim, f32));
}

static int llama2c_fill(const char *src, const uint8_t *map, size_t size,
                        const import_options *opt, model_writer *w,
                        char *err, size_t err_len){
  llama2c_config c;
  llama2c_layout l;
  if( size < sizeof c ){
    snprintf(err, err_len, "%s: not a GGUF or llama2.c file (%zu bytes)", src, size);
    return -1;
  }
  memcpy(&c, map, sizeof c);
  if( config_check(&c, err, err_len) ) return -1;
  layout_of(&c, &l);
  if( l.total > (size - sizeof c) / 4 ){
    snprintf(err, err_len, "%s: truncated llama2.c checkpoint: the header promises"
             " %llu bytes, the file has %zu", src,
             (unsigned long long)(l.total * 4 + sizeof c), size);
    return -1;
  }
  if( (size - sizeof c) / 4 != l.total || (size - sizeof c) % 4 ){
    snprintf(err, err_len, "%s: not a llama2.c checkpoint: %zu bytes, the header"
             " promises %llu", src, size, (unsigned long long)(l.total * 4 + sizeof c));
    return -1;
  }
  if( opt->tokenizer_path == 0 ){
    snprintf(err, err_len, "%s: llama2.c checkpoints carry no tokenizer;"
             " pass --tokenizer tokenizer.bin", src);
    return -1;
  }
  int vocab = c.vocab_size < 0 ? -c.vocab_size : c.vocab_size;
  tokenizer *tok = tokenizer_load_llama2c(opt->tokenizer_path, vocab, err, err_len);
  if( tok == 0 ) return -1;
  int rc = model_writer_tokenizer(w, tok);
  tokenizer_free(tok);
  model_writer_progress(w, opt->progress, opt->progress_ctx, l.total * 4);
  if( rc || meta_write(w, &c) || tensors_write(w, &c, (const float*)(map + sizeof c), opt) ){
    snprintf(err, err_len, "%s", model_writer_error(w));
    return -1;
  }
  return import_source_meta(w, src, "llama2c", err, err_len);
}

int import_llama2c(const char *src, const import_options *opt, model_writer *w,
                   char *err, size_t err_len){
  int fd = open(src, O_RDONLY);
  struct stat st;
  if( fd < 0 || fstat(fd, &st) ){
    snprintf(err, err_len, "%s: cannot open", src);
    if( fd >= 0 ) close(fd);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  void *map = size ? mmap(0, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  close(fd);
  if( map == MAP_FAILED ){
    snprintf(err, err_len, "%s: not a GGUF or llama2.c file (%zu bytes)", src, size);
    return -1;
  }
  int rc = llama2c_fill(src, map, size, opt, w, err, err_len);
  munmap(map, size);
  return rc;
}
