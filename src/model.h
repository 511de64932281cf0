/*
** model.h: an open model database, as the SQL face and the CLI see it: its
** hyper-parameters, its tensors, its tokenizer and the tile manager that
** serves its tiles.
**
** One `model` exists per database file per process, shared by every
** connection that opens it (model_open returns the same object with one
** more reference), so they share one tile manager and one budget.
*/
#ifndef TENSQL_MODEL_H
#define TENSQL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kernels/tensor.h"

/* The format version of a model database (meta 'format_version'), which
** the writer writes and model_open insists on.  2: Q8_0 tiles interleave
** 16 rows (tensor.h). */
#define MODEL_FORMAT_VERSION 2

struct tile_manager;
struct tokenizer;

typedef struct model_tensor {
  char *name;
  tensor_dtype dtype;
  int64_t id;
  int64_t rows, cols;
  int64_t tile_rows, tile_cols;
  int64_t first_tile, n_tiles;
  char *shape;            /* JSON array, outermost first */
} model_tensor;

/* The hyper-parameters the forward pass needs, read from meta under the
** architecture's GGUF keys. */
typedef struct model_params {
  char arch[16];          /* "llama" or "qwen2" */
  int n_layers, dim, hidden_dim, n_heads, n_kv_heads, head_dim, vocab_size;
  int context_length;
  float rms_eps, rope_theta;
  rope_style rope;
} model_params;

typedef struct model {
  char *path;
  model_params params;
  int n_tensors;
  model_tensor *tensors;
  struct tokenizer *tokenizer;
  struct tile_manager *tiles;
  char *chat_template;    /* NULL if the model has none */
  int stops_at_bos;       /* generation ends at BOS as well as EOS: a llama2.c
                          ** checkpoint, whose run.c ends a story at BOS;
                          ** GGUF and Hugging Face models go on past it, as
                          ** llama.cpp and transformers do */
  int refs;               /* guarded by the registry lock in model.c */
} model;

/* 1 if tensql has an SQL program for architecture arch (GGUF's
** general.architecture: "llama", "qwen2"); else 0, with "unknown
** architecture 'gpt2'; tensql runs llama and qwen2" in err (err may be
** NULL).  The importers and model_open ask the same table. */
int model_arch_known(const char *arch, char *err, size_t err_len);

/* Open (or share) the model at path.  NULL with a message in err if the
** file is not a tensql model database of a supported version. */
model *model_open(const char *path, char *err, size_t err_len);
void model_release(model *m);

const model_tensor *model_find_tensor(const model *m, const char *name);

/* Rows of tile tile_row of t (the last tile may be short), and its bytes
** in t's tile layout: model_open checks every tile against these. */
int64_t model_tile_rows(const model_tensor *t, int64_t tile_row);
size_t model_tile_bytes(const model_tensor *t, int64_t tile_row);

/* The value of meta(key) as text; NULL if absent.  Caller frees. */
char *model_meta_text(const model *m, const char *key);

#endif
