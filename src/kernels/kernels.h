/*
** kernels.h: the arithmetic of a transformer, as plain loops over floats and
** quantized rows.  The SQL functions in vtab/ call these; nothing here knows
** about SQLite, tiles or the schedule.
**
** A weight W is a tile of `rows` rows of `cols` elements in its dtype's
** layout (tensor.h); an activation X has n rows of floats with a row
** stride.  kernels_init() picks AVX-512 VNNI or AVX2/FMA code paths when
** the CPU has them, and the portable scalar code otherwise; all give
** results that agree to float rounding, and the Q8_0 matmul gives the same
** bits on every path.
*/
#ifndef TENSQL_KERNELS_H
#define TENSQL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "convert.h"   /* kernel_f16_to_f32 and the other conversions */
#include "tensor.h"

/* Detect CPU features once; safe to call many times. */
void kernels_init(void);
/* The code paths, each using the ones before it for what it lacks. */
typedef enum kernel_isa { KERNELS_SCALAR, KERNELS_AVX2, KERNELS_AVX512 } kernel_isa;
/* "avx512-vnni", "avx2" or "scalar": the path in use. */
const char *kernels_isa(void);
/* Use no path past `most` (tests run each path); returns the path now in
** use, which is lower where the CPU lacks `most`. */
kernel_isa kernels_limit(kernel_isa most);


/* Quantize n floats (n a multiple of 32) to Q8_0 blocks, bit-identical to
** ggml's quantize_row_q8_0_ref: per block d = amax/127, id = d ? 1/d : 0,
** q = roundf(x*id), d stored as f16 (round to nearest even). */
void kernel_quantize_q8_0(const float *x, void *blocks, size_t n);

/* Decode n elements of a row in dtype to floats. */
void kernel_dequantize(tensor_dtype dtype, const void *row, float *out, size_t n);

/* Decode row r of a tile (tensor.h's layout) of `cols` columns. */
void kernel_dequantize_tile_row(tensor_dtype dtype, const void *tile, size_t cols, size_t r,
                                float *out);

/* Y[i][r] (+)= sum_c W[r][c] * X[i][c] for i < n, r < rows, for f32, f16
** and bf16 weights (Q8_0 weights multiply through kernel_input, below).
** accumulate = 0 overwrites Y, 1 adds to it.  Strides count floats: X[i]
** starts at x + i*x_stride, Y[i] at y + i*y_stride.  W's rows are packed
** back to back (row r at r * tensor_row_bytes(cols)).  n = 1 is a
** matrix-vector product, streaming W once; for n > 1 every block of W rows
** is read from memory once and applied to all n rows of X.  The
** activations stay f32, so the only rounding is the f32 sums'.  Y must not
** overlap W or X. */
void kernel_matmul(tensor_dtype dtype, const void *w, size_t rows, size_t cols,
                   const float *x, size_t x_stride, size_t n,
                   float *y, size_t y_stride, int accumulate);

/* An activation matrix X (n rows of cols floats) made ready for products
** with weights of one dtype, the way the forward pass multiplies.  For
** Q8_0 weights X is quantized to Q8_0 once, as llama.cpp does at run time
** on x86 (kernels.c: like kernel_quantize_q8_0, but times 127/amax and
** rounded half to even), and each block pair is an exact integer dot
** product scaled by d_w * d_x: far less work per weight byte than f32,
** which pays where arithmetic rather than memory is the limit (prefill,
** cached weights).  Each x moves by up to amax/254 of its block.  The
** other block types quantize X as llama.cpp does for them (quants.h):
** Q8_0 again, Q8_1 (Q8_0 with each block's sum times its scale, xs) or
** Q8_K (256 int8 a block, one f32 scale).  For f32, f16 and bf16 X is
** used as it is (it must then outlive the input). */
typedef struct kernel_input {
  tensor_dtype weight_dtype;
  size_t n, cols;
  const float *x;
  /* Quantized weights only (NULL otherwise), all in one allocation: */
  void *xq;                  /* row i at xq + i*xq_stride: cols/32 Q8_0 blocks,
                             ** or for Q8_K cols int8 */
  size_t xq_stride;
  float *xd;                 /* each block's scale as f32, [n][blocks] */
  int32_t *xsum;             /* Q8_0, Q8_1: each block's sum of its 32 values;
                             ** Q8_K: each 16 values' sum, [n][cols/16] */
  float *xs;                 /* Q8_1: each block's sum times its scale, as the
                             ** f16 ggml keeps; NULL otherwise */
} kernel_input;

/* Returns 0, or -1 when out of memory. */
int kernel_input_prepare(kernel_input *in, tensor_dtype weight_dtype,
                         const float *x, size_t n, size_t cols);
void kernel_input_free(kernel_input *in);
/* Y[i][r] = W[r] . X[i] for the `rows` rows of a tile W of weight_dtype
** and in->cols columns.  For Q8_0 the sum over blocks goes
** acc = fma(d_w * d_x, (float)dot, acc), block after block, on every code
** path, so a row's result never depends on the path, on the tile's other
** rows or on the other activation rows: decode and prefill agree to the
** bit. */
void kernel_matmul_input(const kernel_input *in, const void *w, size_t rows,
                         float *y, size_t y_stride);

/* out = x * weight / sqrt(mean(x^2) + eps), d elements; out may be x. */
void kernel_rmsnorm(float *out, const float *x, const float *weight,
                    size_t d, float eps);

/* Rotary position embedding, in two parts: the rotation at a position,
** then its application to a row.  The rotation is the same for every head
** and every layer at that position, so a caller can keep it.
** kernel_rope_rotation: pair i's angle is pos * theta^(-2i/head_dim);
** rot[i] gets its cosine and rot[head_dim/2 + i] its sine (head_dim floats).
** kernel_rope: rotate one row holding n_heads heads of head_dim by rot.
** adjacent: rotate pairs (2i, 2i+1), as llama2.c and GGUF llama.
** halves:   rotate pairs (i, i + head_dim/2), as Hugging Face and NEOX. */
typedef enum rope_style { ROPE_ADJACENT = 0, ROPE_HALVES = 1 } rope_style;
void kernel_rope_rotation(float *rot, size_t head_dim, int64_t pos, float theta);
void kernel_rope(float *x, size_t n_heads, size_t head_dim, const float *rot,
                 rope_style style);

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
