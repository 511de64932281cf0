/*
** tensor.c: the dtype table and the tile layouts.  Every other module asks
** here how large a row or a tile of a given dtype is and where a row of a
** tile lies, so adding a dtype starts with one line below.
*/
#include "tensor.h"

#include <string.h>
#include <strings.h>

static const struct dtype_info {
  int code;
  const char *name;
  int block;        /* elements per block */
  int block_bytes;  /* bytes per block */
} dtype_table[] = {
  { TENSOR_F32,  "f32",  1, 4 },
  { TENSOR_F16,  "f16",  1, 2 },
  { TENSOR_BF16, "bf16", 1, 2 },
  { TENSOR_Q8_0, "q8_0", TENSOR_Q8_0_BLOCK, TENSOR_Q8_0_BYTES },
  { TENSOR_Q4_0, "q4_0", 32, 18 },
  { TENSOR_Q4_1, "q4_1", 32, 20 },
  { TENSOR_Q5_0, "q5_0", 32, 22 },
  { TENSOR_Q5_1, "q5_1", 32, 24 },
  { TENSOR_IQ4_NL, "iq4_nl", 32, 18 },
  { TENSOR_Q2_K, "q2_k", 256, 84 },
  { TENSOR_Q3_K, "q3_k", 256, 110 },
  { TENSOR_Q4_K, "q4_k", 256, 144 },
  { TENSOR_Q5_K, "q5_k", 256, 176 },
  { TENSOR_Q6_K, "q6_k", 256, 210 },
};

static const struct dtype_info *dtype_find(int code){
  for(size_t i = 0; i < sizeof(dtype_table)/sizeof(dtype_table[0]); i++){
    if( dtype_table[i].code == code ) return &dtype_table[i];
  }
  return 0;
}

int tensor_dtype_known(int code){
  return dtype_find(code) != 0;
}

const char *tensor_dtype_name(int code){
  const struct dtype_info *d = dtype_find(code);
  return d ? d->name : 0;
}

int tensor_dtype_from_name(const char *name){
  for(size_t i = 0; i < sizeof(dtype_table)/sizeof(dtype_table[0]); i++){
    if( strcasecmp(dtype_table[i].name, name) == 0 ) return dtype_table[i].code;
  }
  return -1;
}

size_t tensor_row_bytes(tensor_dtype dtype, uint64_t cols){
  const struct dtype_info *d = dtype_find(dtype);
  if( d == 0 || cols == 0 || cols % (uint64_t)d->block ) return 0;
  uint64_t blocks = cols / (uint64_t)d->block;
  if( blocks > SIZE_MAX / (uint64_t)d->block_bytes ) return 0;
  return (size_t)(blocks * (uint64_t)d->block_bytes);
}

size_t tensor_tile_bytes(tensor_dtype dtype, uint64_t rows, uint64_t cols){
  size_t row_bytes = tensor_row_bytes(dtype, cols);
  if( dtype == TENSOR_Q8_0 ){
    rows = (rows + TENSOR_Q8_0_GROUP - 1) / TENSOR_Q8_0_GROUP * TENSOR_Q8_0_GROUP;
  }
  if( row_bytes == 0 || rows > SIZE_MAX / row_bytes ) return 0;
  return (size_t)rows * row_bytes;
}

/* Where value c of row k of a group's block lies, from the block's start:
** 4 values of a row side by side, then the next row's 4. */
static size_t q8_0_value_offset(size_t k, size_t c){
  return 2 * TENSOR_Q8_0_GROUP + (c / 4) * 4 * TENSOR_Q8_0_GROUP + 4 * k + c % 4;
}

/* Block b of row k of a group, from GGUF's 34 bytes to its place in the
** group, and back. */
static void q8_0_block_pack(const uint8_t *block, uint8_t *group_block, size_t k){
  memcpy(group_block + 2 * k, block, 2);
  for(size_t c = 0; c < TENSOR_Q8_0_BLOCK; c++) group_block[q8_0_value_offset(k, c)] = block[2 + c];
}

static void q8_0_block_unpack(const uint8_t *group_block, size_t k, uint8_t *block){
  memcpy(block, group_block + 2 * k, 2);
  for(size_t c = 0; c < TENSOR_Q8_0_BLOCK; c++) block[2 + c] = group_block[q8_0_value_offset(k, c)];
}

void tensor_tile_pack(tensor_dtype dtype, const void *src, size_t rows, size_t cols,
                      void *dst){
  const size_t row_bytes = tensor_row_bytes(dtype, cols);
  if( dtype != TENSOR_Q8_0 ){
    memcpy(dst, src, rows * row_bytes);
    return;
  }
  const size_t blocks = cols / TENSOR_Q8_0_BLOCK;
  memset(dst, 0, tensor_tile_bytes(dtype, rows, cols));
  for(size_t r = 0; r < rows; r++){
    uint8_t *group = (uint8_t *)tensor_q8_0_group(dst, cols, r);
    const uint8_t *row = (const uint8_t *)src + r * row_bytes;
    for(size_t b = 0; b < blocks; b++){
      q8_0_block_pack(row + b * TENSOR_Q8_0_BYTES, group + b * TENSOR_Q8_0_GROUP_BYTES,
                      r % TENSOR_Q8_0_GROUP);
    }
  }
}

void tensor_tile_q8_0_block(const void *tile, size_t cols, size_t r, size_t b, void *block){
  q8_0_block_unpack(tensor_q8_0_group(tile, cols, r) + b * TENSOR_Q8_0_GROUP_BYTES,
                    r % TENSOR_Q8_0_GROUP, block);
}
