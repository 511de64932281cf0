/*
** safetensors.h: a reader for Hugging Face safetensors files.
**
** tensql reads safetensors only when importing a Hugging Face model
** (`tensql import hf-model-dir/ -o model.db`, see import_hf.c); a running
** model reads its own database instead.
**
** A file is an 8-byte little-endian header length N, N bytes of JSON
**
**   {"__metadata__": {"format": "pt"},
**    "model.norm.weight": {"dtype": "F32", "shape": [64],
**                          "data_offsets": [0, 256]}, ...}
**
** and then the data section; offsets count from its first byte.  The
** reader checks everything before handing anything out: the header length
** against the file, the JSON, every field's type, that each tensor's
** offsets span exactly dtype size x shape bytes inside the data section,
** and that the tensors tile the data section with no overlap and no gap
** (as the reference implementation requires).  Errors name the file and
** the tensor.
**
** A model too large for one file is split into shards listed by
** model.safetensors.index.json ({"weight_map": {tensor: shard file}});
** safetensors_open_model opens either form and presents one tensor list.
*/
#ifndef TENSQL_SAFETENSORS_H
#define TENSQL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* Tensors of higher rank are refused. */
#define SAFETENSORS_MAX_DIMS 8

typedef struct safetensors safetensors;

typedef struct safetensors_tensor {
  const char *name;        /* NUL-terminated; contains no NUL */
  const char *dtype_name;  /* as in the header: "F32", "BF16", "I64", ... */
  int dtype;               /* tensor_dtype for F32/F16/BF16, else -1 */
  int n_dims;              /* 0 (a scalar) .. SAFETENSORS_MAX_DIMS */
  uint64_t shape[SAFETENSORS_MAX_DIMS];  /* outermost first */
  const uint8_t *data;     /* into the mapping; may be unaligned, since
                           ** N need not be a multiple of 8 */
  uint64_t size;           /* bytes = element size x product of shape */
  const char *file;        /* the file it came from, for messages */
} safetensors_tensor;

/* Parse a safetensors image held in memory; `buf` must outlive the
** result.  `label` names it in error messages and in tensor.file.
** On error returns NULL and writes a message to err. */
safetensors *safetensors_parse(const uint8_t *buf, size_t len,
                               const char *label, char *err, size_t err_len);

/* Map the file at `path` read-only and parse it. */
safetensors *safetensors_open(const char *path, char *err, size_t err_len);

/* Open a Hugging Face model directory's weights: DIR/model.safetensors, or
** else every shard named in DIR/model.safetensors.index.json, each once.
** Every weight_map entry must be found in the shard it names, and no
** tensor may appear in two shards. */
safetensors *safetensors_open_model(const char *dir, char *err,
                                    size_t err_len);

/* Unmaps and frees; tensors handed out become invalid.  NULL is a no-op. */
void safetensors_close(safetensors *st);

/* The path st was opened from (for a sharded model, the index), or the
** label given to safetensors_parse. */
const char *safetensors_label(const safetensors *st);

/* Tensors are indexed 0..count-1 in name order. */
size_t safetensors_count(const safetensors *st);
const safetensors_tensor *safetensors_tensor_at(const safetensors *st,
                                                size_t i);
/* The tensor called `name`, or NULL. */
const safetensors_tensor *safetensors_find(const safetensors *st,
                                           const char *name);

#endif
