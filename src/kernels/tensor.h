/*
** tensor.h: the element types tensql stores and how many bytes a row takes.
**
** A tensor is a matrix of `rows` x `cols` elements of one dtype, stored
** row-major.  Higher-rank tensors from a model file are flattened to that
** shape: cols is the innermost dimension.  The dtype codes are GGUF's own
** ggml_type numbers, so a GGUF tensor type maps to a dtype without a table.
**
** A tile holds whole rows.  f32, f16 and bf16 tiles are those rows back to
** back, and so are tiles of the other block types (Q4_0, Q4_1, Q5_0, Q5_1,
** IQ4_NL and the k-quants Q2_K to Q6_K: GGUF's blocks as they are,
** quants.h).  Q8_0 tiles
** interleave them, 16 rows to a group, so that a matmul
** reads one stream and one 64-byte load gives 4 values of each of 16 rows:
**
**   group g (rows 16g .. 16g+15), block b (columns 32b .. 32b+31), 544 bytes:
**     16 f16 scales, row 0 first                                 32 bytes
**     for j in 0..7: for row k in 0..15: q[k][32b + 4j .. +3]    512 bytes
**
** Groups follow each other, block b of a group at (g * blocks + b) * 544:
** the same 34 bytes per 32 values as GGUF's row-major blocks, whose values
** are copied, not re-quantized.  A last group of fewer than 16 rows is
** padded with zero rows.
*/
#ifndef TENSQL_TENSOR_H
#define TENSQL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum tensor_dtype {
  TENSOR_F32 = 0,
  TENSOR_F16 = 1,
  TENSOR_Q4_0 = 2,
  TENSOR_Q4_1 = 3,
  TENSOR_Q5_0 = 6,
  TENSOR_Q5_1 = 7,
  TENSOR_Q8_0 = 8,
  TENSOR_Q2_K = 10,
  TENSOR_Q3_K = 11,
  TENSOR_Q4_K = 12,
  TENSOR_Q5_K = 13,
  TENSOR_Q6_K = 14,
  TENSOR_IQ4_NL = 20,
  TENSOR_BF16 = 30
} tensor_dtype;

/* A Q8_0 block: 32 int8 values sharing one f16 scale (GGUF's block_q8_0). */
#define TENSOR_Q8_0_BLOCK 32
#define TENSOR_Q8_0_BYTES 34
/* Rows per interleaved group of a Q8_0 tile, and the bytes of one block of
** a group. */
#define TENSOR_Q8_0_GROUP 16
#define TENSOR_Q8_0_GROUP_BYTES (TENSOR_Q8_0_GROUP * TENSOR_Q8_0_BYTES)

/* 1 if code names a dtype tensql stores. */
int tensor_dtype_known(int code);

/* "f32", "f16", "bf16", "q8_0", "q4_0", ...; NULL for an unknown code. */
const char *tensor_dtype_name(int code);

/* The dtype called `name` (case-insensitive), or -1. */
int tensor_dtype_from_name(const char *name);

/* Bytes of one row of `cols` elements, or 0 if cols is not a whole number of
** blocks or the size would overflow. */
size_t tensor_row_bytes(tensor_dtype dtype, uint64_t cols);

/* Bytes of a tile of `rows` rows (a Q8_0 tile's last group padded), or 0
** as tensor_row_bytes. */
size_t tensor_tile_bytes(tensor_dtype dtype, uint64_t rows, uint64_t cols);

/* Lays out `rows` rows, row-major in dtype's row encoding at src, as a
** tile at dst (tensor_tile_bytes long). */
void tensor_tile_pack(tensor_dtype dtype, const void *src, size_t rows, size_t cols,
                      void *dst);

/* The group of a Q8_0 tile of `cols` columns that holds row r. */
static inline const uint8_t *tensor_q8_0_group(const void *tile, size_t cols, size_t r){
  return (const uint8_t *)tile + r / TENSOR_Q8_0_GROUP * (cols / TENSOR_Q8_0_BLOCK) * TENSOR_Q8_0_GROUP_BYTES;
}

/* Block b of row r of a Q8_0 tile of `cols` columns, gathered into GGUF's
** 34 bytes at block. */
void tensor_tile_q8_0_block(const void *tile, size_t cols, size_t r, size_t b, void *block);

#endif
