/*
** tensor.h: the element types tensql stores and how many bytes a row takes.
**
** A tensor is a matrix of `rows` x `cols` elements of one dtype, stored
** row-major.  Higher-rank tensors from a model file are flattened to that
** shape: cols is the innermost dimension.  The dtype codes are GGUF's own
** ggml_type numbers, so a GGUF tensor type maps to a dtype without a table.
*/
#ifndef TENSQL_TENSOR_H
#define TENSQL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum tensor_dtype {
  TENSOR_F32 = 0,
  TENSOR_F16 = 1,
  TENSOR_Q8_0 = 8,
  TENSOR_BF16 = 30
} tensor_dtype;

/* A Q8_0 block: 32 int8 values sharing one f16 scale (GGUF's block_q8_0). */
#define TENSOR_Q8_0_BLOCK 32
#define TENSOR_Q8_0_BYTES 34

/* 1 if code names a dtype tensql stores. */
int tensor_dtype_known(int code);

/* "f32", "f16", "bf16", "q8_0"; NULL for an unknown code. */
const char *tensor_dtype_name(int code);

/* The dtype called `name` (case-insensitive), or -1. */
int tensor_dtype_from_name(const char *name);

/* Elements per block: 32 for Q8_0, 1 otherwise. */
int tensor_dtype_block(tensor_dtype dtype);

/* Bytes of one row of `cols` elements, or 0 if cols is not a whole number of
** blocks or the size would overflow. */
size_t tensor_row_bytes(tensor_dtype dtype, uint64_t cols);

#endif
