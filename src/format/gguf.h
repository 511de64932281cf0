/*
** gguf.h: a reader for GGUF files (versions 2 and 3), as written by
** llama.cpp's converters.  tensql only reads GGUF when importing a model
** (`tensql import model.gguf -o model.db`) or in tests; a running model
** reads its own database instead.
**
** The reader validates everything before it hands anything out: every
** length, count, offset and size is checked against the bytes that exist,
** so a truncated or hostile file gives an error message, never a wild read.
*/
#ifndef TENSQL_GGUF_H
#define TENSQL_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* GGUF metadata value types, numbered as in the spec. */
typedef enum gguf_type {
  GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3,
  GGUF_UINT32 = 4, GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_BOOL = 7,
  GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
  GGUF_FLOAT64 = 12
} gguf_type;

typedef struct gguf gguf;

/* A string inside the file: not NUL-terminated. */
typedef struct gguf_str {
  const char *ptr;
  uint64_t len;
} gguf_str;

typedef struct gguf_tensor {
  gguf_str name;
  uint32_t n_dims;          /* 1..4 */
  uint64_t ne[4];           /* ne[0] is the innermost (contiguous) dim;
                               each >= 1 (a 0 is refused), 1 past n_dims */
  uint32_t type;            /* ggml_type code, see tensor.h */
  uint64_t offset;          /* from the start of the file */
  uint64_t size;            /* bytes */
  const uint8_t *data;      /* points into the buffer */
} gguf_tensor;

/* Parse a whole GGUF image held in memory (`buf` must outlive the result).
** On error returns NULL and writes a message to err. */
gguf *gguf_parse(const uint8_t *buf, size_t len, char *err, size_t err_len);

/* Map a file and parse it. */
gguf *gguf_open(const char *path, char *err, size_t err_len);

void gguf_close(gguf *g);

uint32_t gguf_version(const gguf *g);
uint64_t gguf_alignment(const gguf *g);

/* Metadata: keys are indexed 0..n-1 in file order.  An index out of range
** gives an empty key (ptr NULL), type (gguf_type)-1, and -1 from the value
** accessors below. */
uint64_t gguf_kv_count(const gguf *g);
gguf_str gguf_kv_key(const gguf *g, uint64_t i);
gguf_type gguf_kv_type(const gguf *g, uint64_t i);
/* Index of key `name`, or -1. */
int64_t gguf_find_key(const gguf *g, const char *name);

/* Scalar values.  Integers of any width and bool convert to int64 (a uint64
** above INT64_MAX fails); floats to double.  These return 0 on success and
** -1 if the value is not of a compatible type. */
int gguf_kv_int(const gguf *g, uint64_t i, int64_t *out);
int gguf_kv_uint64(const gguf *g, uint64_t i, uint64_t *out);
int gguf_kv_float(const gguf *g, uint64_t i, double *out);
int gguf_kv_string(const gguf *g, uint64_t i, gguf_str *out);

/* Arrays: element type and length; elements read with the same conversions.
** Nested arrays are parsed and validated but their elements are not exposed
** (gguf_arr_type returns GGUF_ARRAY). */
int gguf_arr_info(const gguf *g, uint64_t i, gguf_type *type, uint64_t *len);
int gguf_arr_int(const gguf *g, uint64_t i, uint64_t j, int64_t *out);
int gguf_arr_float(const gguf *g, uint64_t i, uint64_t j, double *out);
int gguf_arr_string(const gguf *g, uint64_t i, uint64_t j, gguf_str *out);

/* Tensors in file order. */
uint64_t gguf_tensor_count(const gguf *g);
const gguf_tensor *gguf_tensor_at(const gguf *g, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name);

/* The ggml name of a tensor type ("q4_K", "f32", ...), or NULL if the code is
** not one ggml defines.  The parser knows every ggml type's block size, so a
** file with types tensql cannot store still parses and the importer can name
** the type it refuses. */
const char *gguf_ggml_type_name(uint32_t type);

/* Convenience: the string value of `key` copied into a new NUL-terminated
** malloc'd string, or NULL if absent or not a string. */
char *gguf_get_string_dup(const gguf *g, const char *key);

#endif
