/*
** tensor.c: the dtype table.  Every other module asks here how large a row
** of a given dtype is, so adding a dtype starts with one line below.
*/
#include "tensor.h"

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

int tensor_dtype_block(tensor_dtype dtype){
  const struct dtype_info *d = dtype_find(dtype);
  return d ? d->block : 1;
}

size_t tensor_row_bytes(tensor_dtype dtype, uint64_t cols){
  const struct dtype_info *d = dtype_find(dtype);
  if( d == 0 || cols == 0 || cols % (uint64_t)d->block ) return 0;
  uint64_t blocks = cols / (uint64_t)d->block;
  if( blocks > SIZE_MAX / (uint64_t)d->block_bytes ) return 0;
  return (size_t)(blocks * (uint64_t)d->block_bytes);
}
