/*
** quants.h: the GGUF block types that tiles keep as GGUF has them, row
** after row and block after block (tensor.h): Q4_0, Q4_1, Q5_0, Q5_1 and
** IQ4_NL, 32 values a block, and the k-quants Q2_K, Q3_K, Q4_K, Q5_K and
** Q6_K, 256.  kernels.c calls these; they
** are what `tensor_values` shows of such a tensor and what `matmul`
** multiplies by.
**
**   quant_dequantize(TENSOR_Q4_0, row, out, cols);      row -> floats
**   kernel_input_prepare(&in, TENSOR_Q6_K, x, n, cols); X quantized for it
**   y = quant_row_dot(&in, row, i);                      W[row] . X[i]
**
** A product quantizes the activation row the way llama.cpp does for the
** weight's type (its vec_dot_type): to Q8_0 for Q4_0, Q5_0 and IQ4_NL, to
** Q8_1 for Q4_1 and Q5_1 (Q8_0's values and scales, and each block's sum
** times its scale, as f16), and to Q8_K for the k-quants.  The sums over
** a block are exact integers, so tensql's logits follow llama.cpp's.
*/
#ifndef TENSQL_QUANTS_H
#define TENSQL_QUANTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

/* The f16 at p (a block's scale or minimum), as a float.  Blocks are
** addressed through byte pointers: their sizes leave scales unaligned. */
static inline float quant_f16_at(const uint8_t *p){
  uint16_t h;
  memcpy(&h, p, 2);
  return kernel_f16_to_f32(h);
}

/* IQ4_NL's 16 levels, a non-linear 4-bit code (ggml's kvalues_iq4nl). */
static const int8_t quant_iq4nl_values[16] = {
  -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113
};

/* Where a legacy block's parts lie, by type (quants.c draws them); the
** portable decoder and the AVX2 one (kernels_avx2.c) both read it. */
typedef struct legacy_layout {
  int bytes;        /* of a block */
  int min_at;       /* offset of the f16 m, or -1 */
  int high_at;      /* offset of qh[4], or -1 */
  int codes_at;     /* offset of qs[16] */
  int offset;       /* subtracted from a code: 8, 16 or 0 */
} legacy_layout;

static inline legacy_layout legacy_layout_of(tensor_dtype dtype){
  switch( dtype ){
    case TENSOR_Q4_1: return (legacy_layout){ 20, 2, -1, 4, 0 };
    case TENSOR_Q5_0: return (legacy_layout){ 22, -1, 2, 6, 16 };
    case TENSOR_Q5_1: return (legacy_layout){ 24, 2, 4, 8, 0 };
    case TENSOR_IQ4_NL: return (legacy_layout){ 18, -1, -1, 2, 0 };
    default: return (legacy_layout){ 18, -1, -1, 2, 8 };     /* Q4_0 */
  }
}

/* Where a k-quant super-block's d (and dmin, or -1) lie, and its size;
** each decoder knows where its codes and scales lie. */
typedef struct k_layout { int bytes, d_at, dmin_at; } k_layout;

static inline k_layout k_layout_of(tensor_dtype dtype){
  switch( dtype ){
    case TENSOR_Q2_K: return (k_layout){ 84, 80, 82 };
    case TENSOR_Q3_K: return (k_layout){ 110, 108, -1 };
    case TENSOR_Q4_K: return (k_layout){ 144, 0, 2 };
    case TENSOR_Q5_K: return (k_layout){ 176, 0, 2 };
    default: return (k_layout){ 210, 208, -1 };                 /* Q6_K */
  }
}

/* The 8 scales and 8 minimums of a Q4_K or Q5_K super-block, six bits
** each, packed in its 12 bytes at q: ggml's get_scale_min_k4 for every j,
** shuffled all at once as its AVX2 code does (one j at a time, they cost
** a tenth of a decode step).  Scale and minimum j < 4 are the low six
** bits of q[j] and q[j + 4]; for j >= 4 the nibbles of q[j + 4] take the
** top two bits of q[j - 4] and q[j] on top. */
static inline void quant_k4_scales_mins(const uint8_t *q, uint8_t scales[8], uint8_t mins[8]){
  uint32_t u[3];
  memcpy(u, q, 12);
  const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
  const uint32_t s[2] = { u[0] & low6, (u[2] & low4) | (((u[0] >> 6) & low2) << 4) };
  const uint32_t m[2] = { u[1] & low6, ((u[2] >> 4) & low4) | (((u[1] >> 6) & low2) << 4) };
  memcpy(scales, s, 8);
  memcpy(mins, m, 8);
}

/* How a type's products quantize the activation. */
typedef enum quant_activation {
  QUANT_ACT_F32,             /* not quantized: f32, f16 and bf16 weights */
  QUANT_ACT_Q8_0,
  QUANT_ACT_Q8_1,
  QUANT_ACT_Q8_K
} quant_activation;

quant_activation quant_activation_of(tensor_dtype dtype);

/* Whether dtype is one of this file's types. */
int quant_is_block_type(tensor_dtype dtype);

/* Decode n values (whole blocks) of a row of one of this file's types, in
** the order of ggml's dequantize_row_*: the same floats, bit for bit. */
void quant_dequantize(tensor_dtype dtype, const void *row, float *out, size_t n);

/* Quantize n floats (n a multiple of 32) to Q4_0 blocks, bit-identical to
** ggml's quantize_row_q4_0_ref (llama-quantize's Q4_0 without an
** importance matrix): per block, with max the value of largest magnitude,
** d = max / -8 as f16, and each code min(15, (int8_t)(x / d + 8.5)). */
void quant_quantize_q4_0(const float *x, void *blocks, size_t n);

/* Quantize n floats (n a multiple of 256) to Q8_K as ggml's
** quantize_row_q8_K_ref does: per block, with max the value of largest
** magnitude, iscale = -127 / max, q = nearest(x * iscale) (at most 127)
** and d = 1 / iscale (all 0 for a block of zeros).  values gets n int8,
** scales n/256 floats. */
void quant_quantize_q8_k(const float *x, int8_t *values, float *scales, size_t n);

/* The first of the blocks holding n values at data, of any block type
** (Q8_0 too), whose scale or minimum is NaN or infinite, or -1 if none is
** (or dtype has no blocks).  Such a block would turn every product it
** enters into NaN: the importer refuses it, naming the tensor. */
int64_t quant_bad_block(tensor_dtype dtype, const void *data, uint64_t n);

/* W[row] . X[i] for a weight row of in->weight_dtype, one of this file's
** types, against activation row i of in. */
float quant_row_dot(const kernel_input *in, const void *row, size_t i);

#endif
