/*
** import_hf.c: import a Hugging Face model directory into a model database.
**
**   tensql import Qwen2.5-0.5B-Instruct/ -o qwen.db
**   tensql import stories260K/hf/ --tokenizer tok512.bin -o stories.db
**
** The directory holds config.json, the weights (model.safetensors, or
** shards listed by model.safetensors.index.json), and the tokenizer
** (tokenizer.json, or vocab.json + merges.txt, with tokenizer_config.json);
** a llama2.c tokenizer.bin given as --tokenizer replaces the last.
** LlamaForCausalLM and Qwen2ForCausalLM are imported; anything else is
** refused by name.
**
** Everything is renamed to GGUF's vocabulary, as llama.cpp's
** convert_hf_to_gguf.py does it, so a model imported from HF and the same
** model imported from GGUF give the same database:
**   - config.json becomes meta keys (llama.block_count, ...);
**   - tensors get GGUF names (model.layers.3.mlp.up_proj.weight becomes
**     blk.3.ffn_up.weight);
**   - for llama, the rows of q_proj and k_proj are permuted from HF's
**     rotate-half RoPE layout to the adjacent-pair layout of GGUF and
**     llama2.c.  Qwen2 keeps the halves: llama.cpp runs it with NEOX RoPE.
** Everything is checked (architecture, shapes, dtypes, that each layer is
** complete, that no tensor is left unexplained) before anything is written.
*/
#include "import.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/file.h"
#include "format/hf_json.h"
#include "format/safetensors.h"
#include "tokenizer/tokenizer.h"

/* ---- the import in progress ------------------------------------------- */

enum hf_arch { HF_LLAMA = 1, HF_QWEN2 = 2 };

/* config.json's hyper-parameters, under GGUF's names. */
typedef struct hf_hparams {
  enum hf_arch arch;
  const char *arch_name;      /* "llama" or "qwen2": the meta key prefix */
  int64_t n_vocab, n_embd, n_layer, n_ff, n_ctx;
  int64_t n_head, n_head_kv, head_dim;
  double rope_theta, rms_eps;
  int tied;                   /* tie_word_embeddings: output = token_embd */
} hf_hparams;

typedef struct hf_import {
  const char *dir;
  const import_options *opt;
  model_writer *w;
  char *err;
  size_t err_len;
  hf_json *json;              /* reads config.json and tokenizer_config.json */
  char *config, *config_path; /* config.json's text and path */
  char *tok_config;           /* tokenizer_config.json's text, or NULL */
  hf_hparams hp;
  safetensors *st;
  struct hf_item *items;      /* the tensors to write, in forward order */
  size_t n_items;
  tokenizer *tok;
} hf_import;

static int hf_error(hf_import *h, const char *fmt, ...){
  if( h->err && h->err_len ){
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->err, h->err_len, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static char *hf_path(const char *dir, const char *file){
  size_t n = strlen(dir) + strlen(file) + 2;
  char *p = malloc(n);
  if( p ) snprintf(p, n, "%s/%s", dir, file);
  return p;
}

/* Read DIR/file as NUL-terminated text into *out.  A missing optional file
** leaves *out NULL and succeeds. */
static int hf_slurp(hf_import *h, const char *file, int required, char **out){
  char msg[512];
  char *path = hf_path(h->dir, file);
  *out = path ? file_read_all(path, 0, msg, sizeof(msg)) : 0;
  int missing = path && *out == 0 && errno == ENOENT;
  free(path);
  if( *out || (missing && !required) ) return 0;
  return path ? hf_error(h, "%s", msg) : hf_error(h, "%s: out of memory", h->dir);
}

/* ---- config.json's values ---------------------------------------------- */

/* config.json's `key` into *v (its text freed): 1 when present, 0 when
** absent and the caller has a default, an error when absent without one. */
static int hf_config_lookup(hf_import *h, const char *key, int has_default, hf_json_value *v){
  char path[64];
  snprintf(path, sizeof(path), "$.%s", key);
  hf_json_get(h->json, h->config, -1, path, v);
  free(v->text);
  if( v->type[0] ) return 1;
  return has_default ? 0 : hf_error(h, "%s: %s is missing", h->config_path, key);
}

/* config.json's integer `key`: > 0 and small enough for any shape
** arithmetic; dflt if absent, or an error if dflt is not > 0. */
static int hf_config_int(hf_import *h, const char *key, int64_t dflt, int64_t *out){
  hf_json_value v;
  int found = hf_config_lookup(h, key, dflt > 0, &v);
  if( found <= 0 ){
    if( found == 0 ) *out = dflt;
    return found;
  }
  if( strcmp(v.type, "integer") != 0 || v.integer <= 0 || v.integer > INT32_MAX ){
    return hf_error(h, "%s: %s is not a positive integer", h->config_path, key);
  }
  *out = v.integer;
  return 0;
}

/* config.json's number `key`: finite and > 0; dflt as for hf_config_int. */
static int hf_config_float(hf_import *h, const char *key, double dflt, double *out){
  hf_json_value v;
  int found = hf_config_lookup(h, key, dflt > 0, &v);
  if( found <= 0 ){
    if( found == 0 ) *out = dflt;
    return found;
  }
  int number = strcmp(v.type, "real") == 0 || strcmp(v.type, "integer") == 0;
  if( !number || !(v.real > 0) || !isfinite(v.real) ){
    return hf_error(h, "%s: %s is not a positive number", h->config_path, key);
  }
  *out = v.real;
  return 0;
}

/* ---- config.json ------------------------------------------------------ */

static int hf_read_arch(hf_import *h){
  static const struct { const char *hf; enum hf_arch arch; const char *name; }
  archs[] = {
    { "LlamaForCausalLM", HF_LLAMA, "llama" },
    { "Qwen2ForCausalLM", HF_QWEN2, "qwen2" },
  };
  hf_json_value v;
  hf_json_get(h->json, h->config, -1, "$", &v);
  if( strcmp(v.type, "object") != 0 ){
    return hf_error(h, "%s: %s", h->config_path,
                    v.type[0] ? "not a JSON object" : "not valid JSON");
  }
  hf_json_get(h->json, h->config, -1, "$.architectures[0]", &v);
  if( v.text == 0 ){
    return hf_error(h, "%s: no architectures list", h->config_path);
  }
  for(size_t i = 0; i < sizeof(archs)/sizeof(archs[0]); i++){
    if( strcmp(v.text, archs[i].hf) == 0 ){
      h->hp.arch = archs[i].arch;
      h->hp.arch_name = archs[i].name;
    }
  }
  if( h->hp.arch == 0 ){
    hf_error(h, "%s: architecture %s is not supported (tensql imports "
             "LlamaForCausalLM and Qwen2ForCausalLM)", h->config_path, v.text);
  }
  free(v.text);
  return h->hp.arch ? 0 : -1;
}

/* Settings that would change the forward pass in ways tensql does not run
** are refused rather than silently ignored. */
static int hf_check_unsupported(hf_import *h){
  hf_json_value v;
  hf_json_get(h->json, h->config, -1, "$.hidden_act", &v);
  if( v.type[0] && (v.text == 0 || strcmp(v.text, "silu") != 0) ){
    hf_error(h, "%s: hidden_act %s is not supported (only silu)",
             h->config_path, v.text ? v.text : v.type);
    free(v.text);
    return -1;
  }
  free(v.text);
  hf_json_get(h->json, h->config, -1, "$.rope_scaling", &v);
  free(v.text);
  if( v.type[0] && strcmp(v.type, "null") != 0 ){
    hf_json_get(h->json, h->config, -1, "$.rope_scaling.rope_type", &v);
    if( v.text == 0 ) hf_json_get(h->json, h->config, -1, "$.rope_scaling.type", &v);
    hf_error(h, "%s: rope_scaling (type %s) is not supported", h->config_path,
             v.text ? v.text : "unknown");
    free(v.text);
    return -1;
  }
  return 0;
}

static int hf_read_hparams(hf_import *h){
  hf_hparams *hp = &h->hp;
  hf_json_value v;
  if( hf_read_arch(h) || hf_check_unsupported(h)
   || hf_config_int(h, "vocab_size", -1, &hp->n_vocab)
   || hf_config_int(h, "hidden_size", -1, &hp->n_embd)
   || hf_config_int(h, "num_hidden_layers", -1, &hp->n_layer)
   || hf_config_int(h, "intermediate_size", -1, &hp->n_ff)
   || hf_config_int(h, "max_position_embeddings", -1, &hp->n_ctx)
   || hf_config_int(h, "num_attention_heads", -1, &hp->n_head)
   || hf_config_int(h, "num_key_value_heads", hp->n_head, &hp->n_head_kv)
   || hf_config_int(h, "head_dim", hp->n_embd / hp->n_head, &hp->head_dim)
   || hf_config_float(h, "rope_theta", 10000.0, &hp->rope_theta)
   || hf_config_float(h, "rms_norm_eps", -1, &hp->rms_eps) ){
    return -1;
  }
  if( hp->head_dim % 2 || hp->n_head % hp->n_head_kv ){
    return hf_error(h, "%s: head_dim %lld must be even and num_attention_heads "
                    "%lld a multiple of num_key_value_heads %lld",
                    h->config_path, (long long)hp->head_dim,
                    (long long)hp->n_head, (long long)hp->n_head_kv);
  }
  hf_json_get(h->json, h->config, -1, "$.tie_word_embeddings", &v);
  free(v.text);
  hp->tied = strcmp(v.type, "true") == 0;
  return 0;
}

/* ---- meta ------------------------------------------------------------- */

/* Meta keys under the architecture's prefix: "llama.block_count". */
static int hf_meta_int(hf_import *h, const char *key, int64_t value){
  char full[128];
  snprintf(full, sizeof(full), "%s.%s", h->hp.arch_name, key);
  return model_writer_meta_int(h->w, full, value);
}

static int hf_meta_float(hf_import *h, const char *key, double value){
  char full[128];
  snprintf(full, sizeof(full), "%s.%s", h->hp.arch_name, key);
  return model_writer_meta_float(h->w, full, value);
}

/* The keys llama.cpp's converter writes, plus the head sizes and RoPE
** dimension that llama.cpp would otherwise derive. */
static int hf_write_hparams(hf_import *h){
  const hf_hparams *hp = &h->hp;
  if( model_writer_meta_text(h->w, "general.architecture", hp->arch_name)
   || hf_meta_int(h, "context_length", hp->n_ctx)
   || hf_meta_int(h, "embedding_length", hp->n_embd)
   || hf_meta_int(h, "block_count", hp->n_layer)
   || hf_meta_int(h, "feed_forward_length", hp->n_ff)
   || hf_meta_int(h, "attention.head_count", hp->n_head)
   || hf_meta_int(h, "attention.head_count_kv", hp->n_head_kv)
   || hf_meta_int(h, "attention.key_length", hp->head_dim)
   || hf_meta_int(h, "attention.value_length", hp->head_dim)
   || hf_meta_int(h, "rope.dimension_count", hp->head_dim)
   || hf_meta_float(h, "rope.freq_base", hp->rope_theta)
   || hf_meta_float(h, "attention.layer_norm_rms_epsilon", hp->rms_eps)
   || hf_meta_int(h, "vocab_size", hp->n_vocab) ){
    return hf_error(h, "%s: %s", h->dir, model_writer_error(h->w));
  }
  return 0;
}

/* general.name: the directory's last component, as llama.cpp names it. */
static int hf_write_name(hf_import *h){
  size_t end = strlen(h->dir);
  while( end > 1 && h->dir[end-1] == '/' ) end--;
  size_t start = end;
  while( start > 0 && h->dir[start-1] != '/' ) start--;
  char name[256];
  snprintf(name, sizeof(name), "%.*s", (int)(end - start), h->dir + start);
  if( model_writer_meta_text(h->w, "general.name", name) ){
    return hf_error(h, "%s: %s", h->dir, model_writer_error(h->w));
  }
  return 0;
}

/* ---- tensor names ----------------------------------------------------- */

/* Dimensions a tensor's shape is checked against. */
enum hf_dim { DIM_NONE, DIM_VOCAB, DIM_EMBD, DIM_Q, DIM_KV, DIM_FF };
/* Which head count llama's RoPE permutation groups the rows by. */
enum hf_rope { ROPE_NONE, ROPE_Q, ROPE_K };
/* Architecture masks; REQ_UNTIED: required unless tie_word_embeddings. */
#define HF_BOTH (HF_LLAMA | HF_QWEN2)
#define REQ_UNTIED 4

typedef struct hf_name {
  const char *hf;        /* per-layer entries: after "model.layers.N." */
  const char *gguf;      /* per-layer entries: after "blk.N." */
  enum hf_dim rows, cols;  /* cols DIM_NONE: 1-D of `rows` elements */
  enum hf_rope rope;
  int archs;             /* the architectures that have this tensor */
  int required;          /* ... that must have it */
} hf_name;

static const hf_name hf_model_names[] = {
  { "model.embed_tokens.weight", "token_embd.weight", DIM_VOCAB, DIM_EMBD, ROPE_NONE, HF_BOTH, HF_BOTH },
  { "model.norm.weight", "output_norm.weight", DIM_EMBD, DIM_NONE, ROPE_NONE, HF_BOTH, HF_BOTH },
  { "lm_head.weight", "output.weight", DIM_VOCAB, DIM_EMBD, ROPE_NONE, HF_BOTH, REQ_UNTIED },
};

static const hf_name hf_layer_names[] = {
  { "input_layernorm.weight", "attn_norm.weight", DIM_EMBD, DIM_NONE, ROPE_NONE, HF_BOTH, HF_BOTH },
  { "self_attn.q_proj.weight", "attn_q.weight", DIM_Q, DIM_EMBD, ROPE_Q, HF_BOTH, HF_BOTH },
  { "self_attn.q_proj.bias", "attn_q.bias", DIM_Q, DIM_NONE, ROPE_Q, HF_BOTH, HF_QWEN2 },
  { "self_attn.k_proj.weight", "attn_k.weight", DIM_KV, DIM_EMBD, ROPE_K, HF_BOTH, HF_BOTH },
  { "self_attn.k_proj.bias", "attn_k.bias", DIM_KV, DIM_NONE, ROPE_K, HF_BOTH, HF_QWEN2 },
  { "self_attn.v_proj.weight", "attn_v.weight", DIM_KV, DIM_EMBD, ROPE_NONE, HF_BOTH, HF_BOTH },
  { "self_attn.v_proj.bias", "attn_v.bias", DIM_KV, DIM_NONE, ROPE_NONE, HF_BOTH, HF_QWEN2 },
  { "self_attn.o_proj.weight", "attn_output.weight", DIM_EMBD, DIM_Q, ROPE_NONE, HF_BOTH, HF_BOTH },
  { "self_attn.o_proj.bias", "attn_output.bias", DIM_EMBD, DIM_NONE, ROPE_NONE, HF_LLAMA, 0 },
  { "post_attention_layernorm.weight", "ffn_norm.weight", DIM_EMBD, DIM_NONE, ROPE_NONE, HF_BOTH, HF_BOTH },
  { "mlp.gate_proj.weight", "ffn_gate.weight", DIM_FF, DIM_EMBD, ROPE_NONE, HF_BOTH, HF_BOTH },
  { "mlp.up_proj.weight", "ffn_up.weight", DIM_FF, DIM_EMBD, ROPE_NONE, HF_BOTH, HF_BOTH },
  { "mlp.down_proj.weight", "ffn_down.weight", DIM_EMBD, DIM_FF, ROPE_NONE, HF_BOTH, HF_BOTH },
};

#define HF_N_MODEL (sizeof(hf_model_names)/sizeof(hf_model_names[0]))
#define HF_N_LAYER (sizeof(hf_layer_names)/sizeof(hf_layer_names[0]))

/* A tensor to write.  `order` puts them in the order the forward pass reads
** them (embedding, layer 0, 1, ..., final norm, output), so tiles that are
** used together sit together in the file. */
typedef struct hf_item {
  const safetensors_tensor *t;
  const hf_name *map;
  int64_t layer;          /* -1 for model-level tensors */
  uint64_t order;
} hf_item;

static int64_t hf_dim_value(const hf_hparams *hp, enum hf_dim d){
  switch( d ){
    case DIM_VOCAB: return hp->n_vocab;
    case DIM_EMBD:  return hp->n_embd;
    case DIM_Q:     return hp->n_head * hp->head_dim;
    case DIM_KV:    return hp->n_head_kv * hp->head_dim;
    case DIM_FF:    return hp->n_ff;
    default:        return 0;
  }
}

/* "model.layers.N.rest" -> N and rest; N in decimal without leading zeros,
** so that each layer has one spelling. */
static const char *hf_layer_of(const char *name, int64_t *layer){
  static const char prefix[] = "model.layers.";
  const char *p = name + sizeof(prefix) - 1;
  if( strncmp(name, prefix, sizeof(prefix) - 1) != 0 ) return 0;
  if( p[0] < '0' || p[0] > '9' || (p[0] == '0' && p[1] != '.') ) return 0;
  int64_t n = 0;
  for(; *p >= '0' && *p <= '9'; p++){
    if( n > 100000 ) return 0;
    n = n * 10 + (*p - '0');
  }
  if( *p != '.' ) return 0;
  *layer = n;
  return p + 1;
}

/* Find t's entry in the name tables, or fail naming it.  *skip is set for
** tensors that carry nothing to import. */
static int hf_map_name(hf_import *h, const safetensors_tensor *t, hf_item *it,
                       int *skip){
  const char *rest = hf_layer_of(t->name, &it->layer);
  const hf_name *table = rest ? hf_layer_names : hf_model_names;
  size_t n = rest ? HF_N_LAYER : HF_N_MODEL;
  if( rest == 0 ){
    rest = t->name;
    it->layer = -1;
  }
  /* Older checkpoints store RoPE's inverse frequencies, which config.json
  ** already determines; a tied model's lm_head copy is ignored, as in HF. */
  *skip = (it->layer >= 0 && strcmp(rest, "self_attn.rotary_emb.inv_freq") == 0)
       || (h->hp.tied && strcmp(t->name, "lm_head.weight") == 0);
  it->map = 0;
  for(size_t i = 0; i < n && !*skip; i++){
    if( strcmp(table[i].hf, rest) == 0 && (table[i].archs & h->hp.arch) ){
      it->map = &table[i];
      it->order = it->layer >= 0 ? 1 + (uint64_t)it->layer * HF_N_LAYER + i
                : i == 0 ? 0 : (uint64_t)h->hp.n_layer * HF_N_LAYER + i;
    }
  }
  if( !*skip && it->map == 0 ){
    return hf_error(h, "%s: tensor '%s' is not part of a %s model", t->file,
                    t->name, h->hp.arch_name);
  }
  if( it->layer >= h->hp.n_layer ){
    return hf_error(h, "%s: tensor '%s' is beyond num_hidden_layers %lld",
                    t->file, t->name, (long long)h->hp.n_layer);
  }
  it->t = t;
  return 0;
}

/* The shape and dtype must be what config.json implies. */
static int hf_check_tensor(hf_import *h, const hf_item *it){
  const safetensors_tensor *t = it->t;
  int64_t rows = hf_dim_value(&h->hp, it->map->rows);
  int64_t cols = hf_dim_value(&h->hp, it->map->cols);
  int want_dims = cols ? 2 : 1;
  if( t->n_dims != want_dims || t->shape[0] != (uint64_t)rows
   || (cols && t->shape[1] != (uint64_t)cols) ){
    char got[200] = "", want[64];
    for(int d = 0; d < t->n_dims; d++){
      size_t k = strlen(got);
      snprintf(got + k, sizeof(got) - k, "%s%llu", d ? ", " : "",
               (unsigned long long)t->shape[d]);
    }
    if( cols ) snprintf(want, sizeof(want), "%lld, %lld", (long long)rows, (long long)cols);
    else snprintf(want, sizeof(want), "%lld", (long long)rows);
    return hf_error(h, "%s: tensor '%s' has shape [%s], but config.json "
                    "implies [%s]", t->file, t->name, got, want);
  }
  if( t->dtype < 0 ){
    return hf_error(h, "%s: tensor '%s' has dtype %s; tensql imports F32, "
                    "F16 and BF16", t->file, t->name, t->dtype_name);
  }
  return 0;
}

/* Every tensor the architecture requires must be there. */
static int hf_check_complete(hf_import *h, const unsigned char *seen){
  int need = h->hp.arch | (h->hp.tied ? 0 : REQ_UNTIED);
  for(size_t i = 0; i < HF_N_MODEL; i++){
    if( (hf_model_names[i].required & need) && !seen[i] ){
      return hf_error(h, "%s: tensor %s is missing", h->dir, hf_model_names[i].hf);
    }
  }
  for(int64_t l = 0; l < h->hp.n_layer; l++){
    for(size_t i = 0; i < HF_N_LAYER; i++){
      if( (hf_layer_names[i].required & h->hp.arch)
       && !seen[HF_N_MODEL + (size_t)l * HF_N_LAYER + i] ){
        return hf_error(h, "%s: tensor model.layers.%lld.%s is missing",
                        h->dir, (long long)l, hf_layer_names[i].hf);
      }
    }
  }
  return 0;
}

static int hf_cmp_order(const void *a, const void *b){
  uint64_t x = ((const hf_item *)a)->order, y = ((const hf_item *)b)->order;
  return x < y ? -1 : x > y;
}

/* Map, check and order every tensor of the checkpoint. */
static int hf_plan_tensors(hf_import *h){
  size_t n = safetensors_count(h->st);
  size_t n_seen = HF_N_MODEL + (size_t)h->hp.n_layer * HF_N_LAYER;
  unsigned char *seen = calloc(n_seen, 1);
  h->items = calloc(n + 1, sizeof(hf_item));
  if( seen == 0 || h->items == 0 ){
    free(seen);
    return hf_error(h, "%s: out of memory", h->dir);
  }
  int rc = 0, skip;
  for(size_t i = 0; i < n && rc == 0; i++){
    hf_item *it = &h->items[h->n_items];
    rc = hf_map_name(h, safetensors_tensor_at(h->st, i), it, &skip);
    if( rc || skip ) continue;
    rc = hf_check_tensor(h, it);
    size_t k = (size_t)(it->map - (it->layer >= 0 ? hf_layer_names : hf_model_names));
    seen[it->layer >= 0 ? HF_N_MODEL + (size_t)it->layer * HF_N_LAYER + k : k] = 1;
    h->n_items++;
  }
  if( rc == 0 ) rc = hf_check_complete(h, seen);
  free(seen);
  if( rc == 0 ) qsort(h->items, h->n_items, sizeof(hf_item), hf_cmp_order);
  return rc;
}

/* ---- tensor data ------------------------------------------------------ */

/* llama.cpp's permute(w, n_head, n_head_kv) from convert_hf_to_gguf.py:
** w.reshape(n_head, 2, head_dim/2, ...).swapaxes(1, 2).reshape(w.shape).
** Within each head, HF pairs row i with row i + head_dim/2 for RoPE
** (rotate_half); GGUF and llama2.c pair rows 2i and 2i+1.  So GGUF row
** 2i + j of a head is HF row j*head_dim/2 + i.  Rows are moved whole, so
** this works for any dtype, and for a bias (rows of one element). */
static void hf_rope_permute(uint8_t *dst, const uint8_t *src, uint64_t rows,
                            size_t row_bytes, int64_t n_head){
  uint64_t head_dim = rows / (uint64_t)n_head, half = head_dim / 2;
  for(uint64_t hd = 0; hd < (uint64_t)n_head; hd++){
    const uint8_t *s = src + hd * head_dim * row_bytes;
    uint8_t *d = dst + hd * head_dim * row_bytes;
    for(uint64_t i = 0; i < half; i++){
      for(uint64_t j = 0; j < 2; j++){
        memcpy(d + (2*i + j) * row_bytes, s + (j*half + i) * row_bytes, row_bytes);
      }
    }
  }
}

static int hf_write_tensor(hf_import *h, const hf_item *it){
  const safetensors_tensor *t = it->t;
  char name[96];
  if( it->layer >= 0 ){
    snprintf(name, sizeof(name), "blk.%lld.%s", (long long)it->layer, it->map->gguf);
  }else{
    snprintf(name, sizeof(name), "%s", it->map->gguf);
  }
  size_t elem = t->dtype == TENSOR_F32 ? 4 : 2;
  const void *src = t->data;
  uint8_t *copy = 0;
  int permute = h->hp.arch == HF_LLAMA && it->map->rope != ROPE_NONE;
  /* The writer reads elements in place: hand it an aligned copy when the
  ** file's header length left the data unaligned. */
  if( permute || (uintptr_t)t->data % elem ){
    if( (copy = malloc(t->size ? t->size : 1)) == 0 ){
      return hf_error(h, "%s: out of memory for tensor '%s'", t->file, t->name);
    }
    if( permute ){
      hf_rope_permute(copy, t->data, t->shape[0], t->size / t->shape[0],
                      it->map->rope == ROPE_Q ? h->hp.n_head : h->hp.n_head_kv);
    }else{
      memcpy(copy, t->data, t->size);
    }
    src = copy;
  }
  int dst = import_target_dtype(h->opt, t->n_dims, t->shape[t->n_dims - 1], t->dtype);
  int rc = model_writer_tensor(h->w, name, t->n_dims, t->shape,
                               (tensor_dtype)t->dtype, src, (tensor_dtype)dst);
  free(copy);
  if( rc ){
    return hf_error(h, "%s: tensor '%s' (as %s): %s", t->file, t->name, name,
                    model_writer_error(h->w));
  }
  return 0;
}

static int hf_write_tensors(hf_import *h){
  if( h->opt->progress ){
    uint64_t total = 0;
    for(size_t i = 0; i < h->n_items; i++) total += h->items[i].t->size;
    model_writer_progress(h->w, h->opt->progress, h->opt->progress_ctx, total);
  }
  for(size_t i = 0; i < h->n_items; i++){
    if( hf_write_tensor(h, &h->items[i]) ) return -1;
  }
  return 0;
}

/* ---- tokenizer -------------------------------------------------------- */

static int hf_load_tokenizer(hf_import *h){
  char msg[512] = "";
  if( h->opt->tokenizer_path ){
    h->tok = tokenizer_load_llama2c(h->opt->tokenizer_path, (int)h->hp.n_vocab,
                                    msg, sizeof(msg));
  }else{
    h->tok = tokenizer_load_hf(h->dir, msg, sizeof(msg));
  }
  if( h->tok == 0 ) return hf_error(h, "%s: tokenizer: %s", h->dir, msg);
  if( tokenizer_vocab_size(h->tok) > h->hp.n_vocab ){
    return hf_error(h, "%s: the tokenizer has %d tokens but vocab_size is %lld",
                    h->dir, tokenizer_vocab_size(h->tok), (long long)h->hp.n_vocab);
  }
  return 0;
}

/* The id of special token `which` ("bos", "eos"), -1 if the files name
** none (tokenizer_hf_special_id). */
static int hf_special_id(hf_import *h, const char *which, int *id){
  char msg[256];
  if( tokenizer_hf_special_id(h->json, h->tok, h->tok_config, h->config, which,
                              id, msg, sizeof(msg)) ){
    return hf_error(h, "%s: %s", h->config_path, msg);
  }
  return 0;
}

/* tokenizer_config.json's chat_template: a string, or a list of
** {"name", "template"} of which "default" is the one; else the newer
** separate file chat_template.jinja.  NULL if there is none. */
static char *hf_chat_template(hf_import *h){
  char *text = 0;
  if( h->tok_config ){
    sqlite3_stmt *s = hf_json_query(h->json,
      "SELECT CASE json_type(?1, '$.chat_template')"
      " WHEN 'text' THEN json_extract(?1, '$.chat_template')"
      " WHEN 'array' THEN (SELECT json_extract(value, '$.template')"
      "   FROM json_each(?1, '$.chat_template')"
      "   WHERE json_extract(value, '$.name') = 'default') END", h->tok_config, -1);
    if( s && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) ){
      text = strdup((const char *)sqlite3_column_text(s, 0));
    }
    hf_json_done(h->json, s);
  }
  if( text == 0 && hf_slurp(h, "chat_template.jinja", 0, &text) ) text = 0;
  return text;
}

/* The special ids and add_bos_token go into the tokenizer, and from there
** into meta (tokenizer.ggml.bos_token_id, ...) through the writer. */
static int hf_write_tokenizer(hf_import *h){
  int bos, eos, add_bos = tokenizer_kind_of(h->tok) == TOKENIZER_SPM;
  if( hf_special_id(h, "bos", &bos) || hf_special_id(h, "eos", &eos) ) return -1;
  hf_json_bool(h->json, h->tok_config, -1, "$.add_bos_token", &add_bos);
  /* Where the files name no id, keep what the tokenizer loader found. */
  tokenizer_set_special(h->tok, bos >= 0 ? bos : tokenizer_bos(h->tok),
                        eos >= 0 ? eos : tokenizer_eos(h->tok), add_bos);
  char *template = hf_chat_template(h);
  int rc = model_writer_tokenizer(h->w, h->tok);
  if( rc == 0 && template ) rc = model_writer_meta_text(h->w, "tokenizer.chat_template", template);
  free(template);
  if( rc ) return hf_error(h, "%s: tokenizer: %s", h->dir, model_writer_error(h->w));
  return 0;
}

/* ---- the import ------------------------------------------------------- */

/* Provenance: the weights file, or for a sharded model its index. */
static int hf_write_source(hf_import *h){
  return import_source_meta(h->w, safetensors_label(h->st), "hf", h->err,
                            h->err_len);
}

static void hf_import_free(hf_import *h){
  hf_json_close(h->json);
  free(h->config);
  free(h->config_path);
  free(h->tok_config);
  free(h->items);
  safetensors_close(h->st);
  tokenizer_free(h->tok);
}

/* Read and check everything, so that nothing is written for a model that
** cannot be imported. */
static int hf_prepare(hf_import *h){
  char msg[512];
  if( (h->config_path = hf_path(h->dir, "config.json")) == 0 ){
    return hf_error(h, "%s: out of memory", h->dir);
  }
  if( hf_slurp(h, "config.json", 1, &h->config)
   || hf_slurp(h, "tokenizer_config.json", 0, &h->tok_config)
   || (h->json = hf_json_open(h->err, h->err_len)) == 0 || hf_read_hparams(h) ){
    return -1;
  }
  if( (h->st = safetensors_open_model(h->dir, msg, sizeof(msg))) == 0 ){
    return hf_error(h, "%s", msg);
  }
  return hf_plan_tensors(h) || hf_load_tokenizer(h) ? -1 : 0;
}

int import_hf(const char *dir, const import_options *opt, model_writer *w,
              char *err, size_t err_len){
  hf_import h;
  memset(&h, 0, sizeof(h));
  h.dir = dir;
  h.opt = opt;
  h.w = w;
  h.err = err;
  h.err_len = err_len;
  int rc = hf_prepare(&h);
  if( rc == 0 ) rc = hf_write_name(&h) || hf_write_hparams(&h)
                  || hf_write_tensors(&h) || hf_write_tokenizer(&h)
                  || hf_write_source(&h) ? -1 : 0;
  hf_import_free(&h);
  return rc;
}
