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

#include "kernels.h"

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
