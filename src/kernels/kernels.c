/*
** kernels.c: the portable kernels, and the switch that sends the heavy ones
** (matmul, Q8_0 quantization, the exponentials) to kernels_avx2.c, and the
** Q8_0 matmul to kernels_avx512.c, when the CPU allows.
**
** The SQL functions in vtab/ call the kernel_* functions of kernels.h; every
** public function lives here and decides, on each call, which path runs.
** The scalar code is both the fallback for other CPUs and the readable
** statement of what each kernel computes: the other paths must agree with
** it to float rounding (tests/test_kernels.c runs every test on every
** path).  rmsnorm and rope are scalar only: next to the matmuls they cost
** nothing.
*/
#if HAVE_X86_KERNELS
#include <cpuid.h>
#endif

#include "kernels.h"
#include "kernels_internal.h"
#include "quants.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- choosing a code path ---------------------------------------------- */

/* -1 until kernels_init() has asked the CPU, then the best path it runs. */
static atomic_int cpu_isa = -1;
static atomic_int isa_limit = KERNELS_AVX512;

void kernels_init(void){
  if( atomic_load_explicit(&cpu_isa, memory_order_relaxed) >= 0 ) return;
  int isa = KERNELS_SCALAR;
#if HAVE_X86_KERNELS
  __builtin_cpu_init();
  /* The builtin's checks include the OS saving the YMM and ZMM registers
  ** (XGETBV).  F16C is read from CPUID leaf 1 directly, because clang's
  ** __builtin_cpu_supports does not know "f16c". */
  unsigned eax, ebx, ecx = 0, edx;
  int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
  if( __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c ){
    isa = KERNELS_AVX2;
    if( __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
     && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") ){
      isa = KERNELS_AVX512;
    }
  }
#endif
  atomic_store_explicit(&cpu_isa, isa, memory_order_relaxed);
}

/* The path to run: the CPU's best, within the limit.  Called by every
** dispatching kernel, so forgetting kernels_init() is safe. */
static kernel_isa isa(void){
  kernels_init();
  int cpu = atomic_load_explicit(&cpu_isa, memory_order_relaxed);
  int most = atomic_load_explicit(&isa_limit, memory_order_relaxed);
  return (kernel_isa)(cpu < most ? cpu : most);
}

#if HAVE_X86_KERNELS
static int use_avx2(void){
  return isa() >= KERNELS_AVX2;
}
#endif

const char *kernels_isa(void){
  static const char *const names[] = { "scalar", "avx2", "avx512-vnni" };
  return names[isa()];
}

kernel_isa kernels_limit(kernel_isa most){
  atomic_store_explicit(&isa_limit, most, memory_order_relaxed);
  return isa();
}


/* ---- Q8_0 ---------------------------------------------------------------- */

void kernel_quantize_q8_0(const float *x, void *blocks, size_t n){
#if HAVE_X86_KERNELS
  if( use_avx2() ){ kernels_avx2_quantize_q8_0(x, blocks, n, 0); return; }
#endif
  uint8_t *block = blocks;
  for(size_t b = 0; b < n / TENSOR_Q8_0_BLOCK; b++){
    /* Written as ggml writes it (MAX(amax, fabsf(v)), amax / 127, 1/d,
    ** roundf), because the point is bit-identical blocks. */
    float amax = 0.0f;
    for(int j = 0; j < TENSOR_Q8_0_BLOCK; j++){
      float a = fabsf(x[j]);
      amax = amax > a ? amax : a;
    }
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    uint16_t d_bits = kernel_f32_to_f16(d);
    memcpy(block, &d_bits, 2);
    for(int j = 0; j < TENSOR_Q8_0_BLOCK; j++){
      block[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
    x += TENSOR_Q8_0_BLOCK;
    block += TENSOR_Q8_0_BYTES;
  }
}

void kernel_dequantize(tensor_dtype dtype, const void *row, float *out, size_t n){
  switch( dtype ){
    case TENSOR_F32:
      memcpy(out, row, n * sizeof(float));
      break;
    case TENSOR_F16: {
      const uint16_t *h = row;
      for(size_t i = 0; i < n; i++) out[i] = kernel_f16_to_f32(h[i]);
      break;
    }
    case TENSOR_BF16: {
      const uint16_t *h = row;
      for(size_t i = 0; i < n; i++) out[i] = kernel_bf16_to_f32(h[i]);
      break;
    }
    case TENSOR_Q8_0: {
      const uint8_t *block = row;
      for(size_t i = 0; i < n; i += TENSOR_Q8_0_BLOCK, block += TENSOR_Q8_0_BYTES){
        const float d = kernel_f16_to_f32(q8_0_scale_bits(block));
        const int8_t *q = q8_0_values(block);
        for(int j = 0; j < TENSOR_Q8_0_BLOCK; j++) out[i + j] = q[j] * d;
      }
      break;
    }
    default:
      quant_dequantize(dtype, row, out, n);
      break;
  }
}

void kernel_dequantize_tile_row(tensor_dtype dtype, const void *tile, size_t cols, size_t r,
                                float *out){
  if( dtype != TENSOR_Q8_0 ){
    kernel_dequantize(dtype, (const uint8_t *)tile + r * tensor_row_bytes(dtype, cols), out, cols);
    return;
  }
  for(size_t b = 0; b < cols / TENSOR_Q8_0_BLOCK; b++){
    uint8_t block[TENSOR_Q8_0_BYTES];
    tensor_tile_q8_0_block(tile, cols, r, b, block);
    kernel_dequantize(TENSOR_Q8_0, block, out + b * TENSOR_Q8_0_BLOCK, TENSOR_Q8_0_BLOCK);
  }
}

/* ---- matmul ------------------------------------------------------------ */

static float dot_f32(const float *w, const float *x, size_t n){
  float sum = 0.0f;
  for(size_t c = 0; c < n; c++) sum += w[c] * x[c];
  return sum;
}

static float dot_f16(const uint16_t *w, const float *x, size_t n){
  float sum = 0.0f;
  for(size_t c = 0; c < n; c++) sum += kernel_f16_to_f32(w[c]) * x[c];
  return sum;
}

static float dot_bf16(const uint16_t *w, const float *x, size_t n){
  float sum = 0.0f;
  for(size_t c = 0; c < n; c++) sum += kernel_bf16_to_f32(w[c]) * x[c];
  return sum;
}

static float dot_row(tensor_dtype dtype, const void *row, const float *x, size_t n){
  if( dtype == TENSOR_F16 ) return dot_f16(row, x, n);
  if( dtype == TENSOR_BF16 ) return dot_bf16(row, x, n);
  return dot_f32(row, x, n);
}

void kernel_matmul(tensor_dtype dtype, const void *w, size_t rows, size_t cols,
                   const float *x, size_t x_stride, size_t n,
                   float *y, size_t y_stride, int accumulate){
  const size_t row_bytes = tensor_row_bytes(dtype, cols);
#if HAVE_X86_KERNELS
  if( use_avx2() ){
    kernels_avx2_matmul(dtype, w, rows, cols, row_bytes, x, x_stride, n, y, y_stride, accumulate);
    return;
  }
#endif
  for(size_t r = 0; r < rows; r++){
    /* One weight row stays in L1 while it meets all n activation rows, so W
    ** is read from memory once whatever n is. */
    const void *row = (const char *)w + r * row_bytes;
    for(size_t i = 0; i < n; i++){
      float sum = dot_row(dtype, row, x + i * x_stride, cols);
      float *out = y + i * y_stride + r;
      *out = accumulate ? *out + sum : sum;
    }
  }
}

/* ---- Q8_0 matmul -------------------------------------------------------- */

/* Row k of a group's block (tensor.h) against an activation block's
** values: the exact integer dot. */
static int32_t q8_0_block_dot(const uint8_t *group_block, size_t k, const int8_t *x){
  const int8_t *w = (const int8_t *)group_block + 2 * TENSOR_Q8_0_GROUP + 4 * k;
  int32_t sum = 0;
  for(size_t c = 0; c < TENSOR_Q8_0_BLOCK; c++){
    sum += w[(c / 4) * 4 * TENSOR_Q8_0_GROUP + c % 4] * x[c];
  }
  return sum;
}

static float q8_0_row_dot(const kernel_input *in, const uint8_t *group, size_t k, size_t i){
  const size_t blocks = in->cols / TENSOR_Q8_0_BLOCK;
  const uint8_t *x = (const uint8_t *)in->xq + i * in->xq_stride;
  float acc = 0.0f;
  for(size_t b = 0; b < blocks; b++){
    const uint8_t *group_block = group + b * TENSOR_Q8_0_GROUP_BYTES;
    const float dw = kernel_f16_to_f32(q8_0_scale_bits(group_block + 2 * k));
    const int32_t dot = q8_0_block_dot(group_block, k, q8_0_values(x + b * TENSOR_Q8_0_BYTES));
    acc = fmaf(dw * in->xd[i * blocks + b], (float)dot, acc);
  }
  return acc;
}

static void matmul_q8_0(const kernel_input *in, const void *w, size_t rows,
                        float *y, size_t y_stride){
#if HAVE_X86_KERNELS
  if( isa() == KERNELS_AVX512 ){ kernels_avx512_matmul_q8_0(in, w, rows, y, y_stride); return; }
  if( isa() == KERNELS_AVX2 ){ kernels_avx2_matmul_q8_0(in, w, rows, y, y_stride); return; }
#endif
  for(size_t r = 0; r < rows; r++){
    const uint8_t *group = tensor_q8_0_group(w, in->cols, r);
    for(size_t i = 0; i < in->n; i++){
      y[i * y_stride + r] = q8_0_row_dot(in, group, r % TENSOR_Q8_0_GROUP, i);
    }
  }
}

/* An activation row to Q8_0 as llama.cpp quantizes activations at run
** time on x86 (ggml-cpu's quantize_row_q8_0 and _q8_1, AVX2 or AVX): the
** scale d = amax/127 kept as f16, as in kernel_quantize_q8_0, but each
** value x * (127 / amax) rounded half to even, where the reference (which
** weights go through) multiplies by 1/d and rounds half away from zero.
** The two part now and then by one step, and one such step moved kq-tiny's
** logits by 0.05 from llama.cpp's (tests/e2e/test_kquants.c). */
static void quantize_activation_q8_0(const float *x, uint8_t *blocks, size_t n){
#if HAVE_X86_KERNELS
  if( use_avx2() ){ kernels_avx2_quantize_q8_0(x, blocks, n, 1); return; }
#endif
  for(size_t b = 0; b < n / TENSOR_Q8_0_BLOCK; b++, x += TENSOR_Q8_0_BLOCK){
    uint8_t *block = blocks + b * TENSOR_Q8_0_BYTES;
    float amax = 0.0f;
    for(int j = 0; j < TENSOR_Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    const uint16_t h = kernel_f32_to_f16(amax / 127.f);
    memcpy(block, &h, 2);
    for(int j = 0; j < TENSOR_Q8_0_BLOCK; j++) block[2 + j] = (uint8_t)(int8_t)nearbyintf(x[j] * id);
  }
}

/* Q8_1's s of a block: its sum times the f32 scale amax/127, rounded to
** f16 as ggml keeps it. */
static float q8_1_sum_scale(const float *x, int32_t sum){
  float amax = 0.0f;
  for(int j = 0; j < TENSOR_Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
  return kernel_f16_to_f32(kernel_f32_to_f16(amax / 127.f * (float)sum));
}

/* X as Q8_0 blocks, their scales and sums, and for Q8_1 (q8_1: 1) each
** block's s. */
static int input_q8_0(kernel_input *in, int q8_1){
  const size_t n = in->n, cols = in->cols, blocks = cols / TENSOR_Q8_0_BLOCK;
  in->xq_stride = tensor_row_bytes(TENSOR_Q8_0, cols);
  /* the tables after the blocks start on a 64-byte boundary */
  const size_t blocks_bytes = (n * in->xq_stride + 63) & ~(size_t)63;
  const size_t table = sizeof *in->xd + sizeof *in->xsum + (q8_1 ? sizeof *in->xs : 0);
  in->xq = malloc(blocks_bytes + n * blocks * table);
  if( in->xq == 0 ) return -1;
  in->xd = (float *)((char *)in->xq + blocks_bytes);
  in->xsum = (int32_t *)(in->xd + n * blocks);
  if( q8_1 ) in->xs = (float *)(in->xsum + n * blocks);
  for(size_t r = 0; r < n; r++){
    uint8_t *row = (uint8_t *)in->xq + r * in->xq_stride;
    quantize_activation_q8_0(in->x + r * cols, row, cols);
    for(size_t b = 0; b < blocks; b++){
      const uint8_t *block = row + b * TENSOR_Q8_0_BYTES;
      int32_t sum = 0;
      for(size_t c = 0; c < TENSOR_Q8_0_BLOCK; c++) sum += q8_0_values(block)[c];
      in->xd[r * blocks + b] = kernel_f16_to_f32(q8_0_scale_bits(block));
      in->xsum[r * blocks + b] = sum;
      if( q8_1 ){
        in->xs[r * blocks + b] = q8_1_sum_scale(in->x + r * cols + b * TENSOR_Q8_0_BLOCK, sum);
      }
    }
  }
  return 0;
}

/* X as Q8_K: 256 int8 a block and one f32 scale, and the sum of every 16
** values (ggml's bsums), which the k-quants' minimums multiply. */
static int input_q8_k(kernel_input *in){
  const size_t n = in->n, cols = in->cols;
  in->xq_stride = cols;
  const size_t values_bytes = (n * cols + 63) & ~(size_t)63;
  in->xq = malloc(values_bytes + n * (cols / 256) * sizeof *in->xd + n * (cols / 16) * sizeof *in->xsum);
  if( in->xq == 0 ) return -1;
  in->xd = (float *)((char *)in->xq + values_bytes);
  in->xsum = (int32_t *)(in->xd + n * (cols / 256));
  for(size_t r = 0; r < n; r++){
    const int8_t *values = (const int8_t *)in->xq + r * cols;
    quant_quantize_q8_k(in->x + r * cols, (int8_t *)values, in->xd + r * (cols / 256), cols);
    for(size_t g = 0; g < cols / 16; g++){
      int32_t sum = 0;
      for(int j = 0; j < 16; j++) sum += values[16 * g + j];
      in->xsum[r * (cols / 16) + g] = sum;
    }
  }
  return 0;
}

int kernel_input_prepare(kernel_input *in, tensor_dtype weight_dtype,
                         const float *x, size_t n, size_t cols){
  *in = (kernel_input){ .weight_dtype = weight_dtype, .n = n, .cols = cols, .x = x };
  switch( quant_activation_of(weight_dtype) ){
    case QUANT_ACT_Q8_0: return input_q8_0(in, 0);
    case QUANT_ACT_Q8_1: return input_q8_0(in, 1);
    case QUANT_ACT_Q8_K: return input_q8_k(in);
    default: return 0;
  }
}

void kernel_input_free(kernel_input *in){
  free(in->xq);
  in->xq = 0;
}

/* The block types of quants.h, row after row. */
static void matmul_blocks(const kernel_input *in, const void *w, size_t rows,
                          float *y, size_t y_stride){
#if HAVE_X86_KERNELS
  const tensor_dtype dtype = in->weight_dtype;
  if( use_avx2() && quant_activation_of(dtype) != QUANT_ACT_Q8_K ){
    kernels_avx2_matmul_legacy(in, w, rows, y, y_stride);
    return;
  }
  if( use_avx2() && (dtype == TENSOR_Q4_K || dtype == TENSOR_Q5_K || dtype == TENSOR_Q6_K) ){
    kernels_avx2_matmul_k(in, w, rows, y, y_stride);
    return;
  }
#endif
  const size_t row_bytes = tensor_row_bytes(in->weight_dtype, in->cols);
  for(size_t r = 0; r < rows; r++){
    const uint8_t *row = (const uint8_t *)w + r * row_bytes;
    for(size_t i = 0; i < in->n; i++) y[i * y_stride + r] = quant_row_dot(in, row, i);
  }
}

void kernel_matmul_input(const kernel_input *in, const void *w, size_t rows,
                         float *y, size_t y_stride){
  if( in->weight_dtype == TENSOR_Q8_0 ) matmul_q8_0(in, w, rows, y, y_stride);
  else if( in->xq ) matmul_blocks(in, w, rows, y, y_stride);
  else kernel_matmul(in->weight_dtype, w, rows, in->cols, in->x, in->cols, in->n, y, y_stride, 0);
}

/* ---- the O(d) kernels ------------------------------------------------ */

void kernel_rmsnorm(float *out, const float *x, const float *weight,
                    size_t d, float eps){
  /* A double sum keeps the mean exact enough whatever d is; it costs
  ** nothing next to the matmul that follows. */
  double sum_squares = 0.0;
  for(size_t i = 0; i < d; i++) sum_squares += (double)x[i] * x[i];
  const float inv_rms = (float)(1.0 / sqrt(sum_squares / (double)d + eps));
  for(size_t i = 0; i < d; i++) out[i] = x[i] * inv_rms * weight[i];
}

void kernel_rope_rotation(float *rot, size_t head_dim, int64_t pos, float theta){
  const size_t half = head_dim / 2;
  for(size_t i = 0; i < half; i++){
    /* The angle in double: in float, pos * freq already errs by ~pos * 6e-8
    ** radians, 2e-3 at pos 32768. */
    const double freq = pow((double)theta, -2.0 * (double)i / (double)head_dim);
    const double angle = (double)pos * freq;
    rot[i] = (float)cos(angle);
    rot[half + i] = (float)sin(angle);
  }
}

void kernel_rope(float *x, size_t n_heads, size_t head_dim, const float *rot,
                 rope_style style){
  const size_t half = head_dim / 2;
  for(size_t i = 0; i < half; i++){
    const float cos_a = rot[i], sin_a = rot[half + i];
    for(size_t h = 0; h < n_heads; h++){
      float *head = x + h * head_dim;
      float *a, *b;
      if( style == ROPE_ADJACENT ){ a = &head[2 * i]; b = &head[2 * i + 1]; }
      else                        { a = &head[i];     b = &head[i + half]; }
      const float x0 = *a, x1 = *b;
      *a = x0 * cos_a - x1 * sin_a;
      *b = x0 * sin_a + x1 * cos_a;
    }
  }
}

void kernel_softmax(float *x, size_t n){
  if( n == 0 ) return;
#if HAVE_X86_KERNELS
  if( use_avx2() ){ kernels_avx2_softmax(x, n); return; }
#endif
  /* Subtracting the max keeps every exponent <= 0: no overflow. */
  float max = x[0];
  for(size_t i = 1; i < n; i++) if( x[i] > max ) max = x[i];
  double sum = 0.0;
  for(size_t i = 0; i < n; i++){
    x[i] = expf(x[i] - max);
    sum += x[i];
  }
  const float inv_sum = (float)(1.0 / sum);
  for(size_t i = 0; i < n; i++) x[i] *= inv_sum;
}

void kernel_silu_mul(float *out, const float *gate, const float *up, size_t n){
#if HAVE_X86_KERNELS
  if( use_avx2() ){ kernels_avx2_silu_mul(out, gate, up, n); return; }
#endif
  for(size_t i = 0; i < n; i++){
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

void kernel_attend(float *out, const float *q, const float *k, const float *v,
                   size_t kv_stride, size_t n_ctx, size_t head_dim,
                   float *scores){
#if HAVE_X86_KERNELS
  if( use_avx2() ){
    kernels_avx2_attend(out, q, k, v, kv_stride, n_ctx, head_dim, scores);
    return;
  }
#endif
  const float scale = 1.0f / sqrtf((float)head_dim);
  for(size_t t = 0; t < n_ctx; t++){
    scores[t] = dot_f32(q, k + t * kv_stride, head_dim) * scale;
  }
  kernel_softmax(scores, n_ctx);
  memset(out, 0, head_dim * sizeof(float));
  for(size_t t = 0; t < n_ctx; t++){
    const float *v_t = v + t * kv_stride;
    for(size_t c = 0; c < head_dim; c++) out[c] += scores[t] * v_t[c];
  }
}
