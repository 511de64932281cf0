/*
** kernels.h: the arithmetic of a transformer, as plain loops over floats and
** quantized rows.  The SQL functions in vtab/ call these; nothing here knows
** about SQLite, tiles or the schedule.
**
** Matrices are row-major.  A weight W has `rows` rows of `cols` elements in
** its dtype's encoding (see tensor.h); an activation X has n rows of floats
** with a row stride.  kernels_init() picks AVX2/FMA code paths when the CPU
** has them, and the portable scalar code otherwise; both give results that
** agree to float rounding.
*/
#ifndef TENSQL_KERNELS_H
#define TENSQL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* Detect CPU features once; safe to call many times. */
void kernels_init(void);
/* "avx2" or "scalar": the path in use. */
const char *kernels_isa(void);
/* Force the scalar path (tests compare both); 1 = scalar, 0 = best. */
void kernels_force_scalar(int on);

/* Conversions.  f32 -> f16 and f32 -> bf16 round to nearest even, with
** subnormals; f16 overflows to inf from 65520 up.  A NaN stays a NaN and
** keeps the top bits of its payload, so every one of the 65536 f16 values
** survives f16 -> f32 -> f16 unchanged. */
float kernel_f16_to_f32(uint16_t h);
uint16_t kernel_f32_to_f16(float f);
float kernel_bf16_to_f32(uint16_t h);
uint16_t kernel_f32_to_bf16(float f);

/* Quantize n floats (n a multiple of 32) to Q8_0 blocks, bit-identical to
** ggml's quantize_row_q8_0_ref: per block d = amax/127, id = d ? 1/d : 0,
** q = roundf(x*id), d stored as f16 (round to nearest even). */
void kernel_quantize_q8_0(const float *x, void *blocks, size_t n);

/* Decode n elements of a row in dtype to floats. */
void kernel_dequantize(tensor_dtype dtype, const void *row, float *out, size_t n);

/* Y[i][r] (+)= sum_c W[r][c] * X[i][c] for i < n, r < rows.
** accumulate = 0 overwrites Y, 1 adds to it.  Strides count floats: X[i]
** starts at x + i*x_stride, Y[i] at y + i*y_stride.  W is rows x cols in
** dtype, rows packed back to back (row r at r * tensor_row_bytes(cols)).
** n = 1 is a matrix-vector product, streaming W once; for n > 1 every block
** of W rows is read from memory once and applied to all n rows of X.  The
** activations stay f32, so the only rounding is the f32 sums'.  Y must not
** overlap W or X.
** Speed: the AVX2 code walks W in groups of 4 rows and prefetches the next
** group as one linear stream, so W streams fastest when it holds whole
** rows back to back, 4k of them (a tile of full rows, not a column slice). */
void kernel_matmul(tensor_dtype dtype, const void *w, size_t rows, size_t cols,
                   const float *x, size_t x_stride, size_t n,
                   float *y, size_t y_stride, int accumulate);

/* The same product with the activations quantized to Q8_0 too, as
** llama.cpp does: W is Q8_0, XQ holds n rows of cols/32 Q8_0 blocks made by
** kernel_quantize_q8_0, row i at (char *)xq + i*xq_stride bytes.  Each
** block pair is an exact integer dot product scaled by d_w*d_x: about 1.4x
** less work per weight byte than kernel_matmul on Q8_0, which pays where
** arithmetic rather than memory is the limit (prefill, cached weights).
** But each x moves by up to amax/254 of its block, so results differ
** slightly from kernel_matmul.  cols is a multiple of 32; Y and accumulate
** as above. */
void kernel_matmul_q8_0_q8_0(const void *w, size_t rows, size_t cols,
                             const void *xq, size_t xq_stride, size_t n,
                             float *y, size_t y_stride, int accumulate);

/* An activation matrix X (n rows of cols floats) made ready for products
** with weights of one dtype, the way the forward pass multiplies: for Q8_0
** weights X is quantized to Q8_0 once and every product is the integer
** kernel_matmul_q8_0_q8_0; for other dtypes X is used as it is (it must
** then outlive the input). */
typedef struct kernel_input {
  tensor_dtype weight_dtype;
  size_t n, cols;
  const float *x;
  void *xq;                  /* owned; NULL unless weight_dtype is Q8_0 */
  size_t xq_stride;
} kernel_input;

/* Returns 0, or -1 when out of memory. */
int kernel_input_prepare(kernel_input *in, tensor_dtype weight_dtype,
                         const float *x, size_t n, size_t cols);
void kernel_input_free(kernel_input *in);
/* Y[i][r] = W[r] . X[i] for the rows of W (weight_dtype, in->cols). */
void kernel_matmul_input(const kernel_input *in, const void *w, size_t rows,
                         float *y, size_t y_stride);

/* out = x * weight / sqrt(mean(x^2) + eps), d elements; out may be x. */
void kernel_rmsnorm(float *out, const float *x, const float *weight,
                    size_t d, float eps);

/* Rotary position embedding on one row holding n_heads heads of head_dim.
** adjacent: rotate pairs (2i, 2i+1), as llama2.c and GGUF llama.
** halves:   rotate pairs (i, i + head_dim/2), as Hugging Face and NEOX.
** Angle for pair i is pos * theta^(-2i/head_dim). */
typedef enum rope_style { ROPE_ADJACENT = 0, ROPE_HALVES = 1 } rope_style;
void kernel_rope(float *x, size_t n_heads, size_t head_dim, int64_t pos,
                 float theta, rope_style style);

/* In-place softmax of n values; -INFINITY entries (masked) get 0. */
void kernel_softmax(float *x, size_t n);

/* out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g); out may be
** gate or up. */
void kernel_silu_mul(float *out, const float *gate, const float *up, size_t n);

/* One attention head for one query row:
** out[head_dim] = sum_t softmax_t(q·k_t / sqrt(head_dim)) v_t over t < n_ctx,
** where k_t = k + t*kv_stride and likewise v.  scores is scratch of n_ctx
** floats and holds the attention weights afterwards.  out must not overlap
** q, k or v. */
void kernel_attend(float *out, const float *q, const float *k, const float *v,
                   size_t kv_stride, size_t n_ctx, size_t head_dim,
                   float *scores);

#endif
