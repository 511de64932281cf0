/*
** kernels_internal.h: what kernels.c, kernels_avx2.c and kernels_avx512.c
** share.
**
** kernels.c owns the public API (kernels.h) and the choice of code path.
** kernels_avx2.c is the only file compiled with -mavx2 -mfma -mf16c, and
** kernels_avx512.c the only one compiled for AVX-512 VNNI; their functions
** may be called only after kernels_init() has seen that the CPU runs those
** instructions, otherwise they raise SIGILL.  Each one has the same
** contract as the public function of the same name in kernels.h.
*/
#ifndef TENSQL_KERNELS_INTERNAL_H
#define TENSQL_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

/* A Q8_0 block is an f16 scale followed by 32 int8 values (GGUF's
** block_q8_0, 34 bytes).  Blocks are addressed through byte pointers,
** because a 34-byte stride leaves every other scale only 2-byte aligned. */
static inline uint16_t q8_0_scale_bits(const uint8_t *block){
  uint16_t d;
  memcpy(&d, block, 2);
  return d;
}
static inline const int8_t *q8_0_values(const uint8_t *block){
  return (const int8_t *)(block + 2);
}

/* Decode (one activation row) takes `groups` whole groups side by side,
** block b of each in turn, each group's sums kept apart in their usual
** order (the same bits).  Several streams at once pull more bandwidth from
** one core than a single one, on every CPU measured so far (an AVX2 EPYC,
** kernels_avx2.c; an AVX-512 Xeon, kernels_avx512.c).  lockstep(in,
** group, y) does `groups` groups from `group`; this returns the rows it
** covered, from row 0, and the caller does the rest a group at a time. */
typedef void q8_0_lockstep_fn(const kernel_input *in, const uint8_t *group, float *y);

static inline size_t q8_0_decode_lockstep(const kernel_input *in, const void *w, size_t rows,
                                          float *y, size_t groups, q8_0_lockstep_fn *lockstep){
  if( in->n != 1 ) return 0;
  const size_t step = groups * TENSOR_Q8_0_GROUP;
  size_t r0 = 0;
  for(; r0 + step <= rows; r0 += step) lockstep(in, tensor_q8_0_group(w, in->cols, r0), y + r0);
  return r0;
}

/* kernel_quantize_q8_0 (activation 0), or an activation row as llama.cpp
** quantizes it at run time on x86 (activation 1, kernels.c). */
void kernels_avx2_quantize_q8_0(const float *x, void *blocks, size_t n, int activation);

/* row_bytes: tensor_row_bytes(dtype, cols), which lives in tensor.c, as
** the ISA libraries call nothing in the portable one. */
void kernels_avx2_matmul(tensor_dtype dtype, const void *w, size_t rows,
                         size_t cols, size_t row_bytes, const float *x, size_t x_stride,
                         size_t n, float *y, size_t y_stride, int accumulate);

void kernels_avx2_softmax(float *x, size_t n);
void kernels_avx2_silu_mul(float *out, const float *gate, const float *up, size_t n);
void kernels_avx2_attend(float *out, const float *q, const float *k, const float *v,
                         size_t kv_stride, size_t n_ctx, size_t head_dim, float *scores);

/* Y[i][r] = W[r] . X[i] for a Q8_0 tile W (tensor.h's layout) of `rows`
** rows and the Q8_0 activations of in; what kernel_matmul_input does for
** Q8_0 weights. */
void kernels_avx2_matmul_q8_0(const kernel_input *in, const void *w, size_t rows,
                              float *y, size_t y_stride);
void kernels_avx512_matmul_q8_0(const kernel_input *in, const void *w, size_t rows,
                                float *y, size_t y_stride);

/* The same for a tile of a legacy block type (Q4_0, Q4_1, Q5_0, Q5_1,
** IQ4_NL: quants.h), rows back to back: each row summed in 8 float lanes
** as ggml's AVX2 code sums it, the same bits as quants.c's portable
** legacy_row_dot. */
void kernels_avx2_matmul_legacy(const kernel_input *in, const void *w, size_t rows,
                                float *y, size_t y_stride);
/* The same for Q4_K, Q5_K and Q6_K, the k-quants of Q4_K_M and Q5_K_M
** files. */
void kernels_avx2_matmul_k(const kernel_input *in, const void *w, size_t rows,
                           float *y, size_t y_stride);

#endif
