/*
** kernels_avx2.c: AVX2/FMA/F16C versions of the heavy kernels: matmul for
** f32, f16 and bf16 weights, the Q8_0 integer matmul, Q8_0 quantization,
** and the exponentials of softmax, SiLU and attention.
**
** Only this file is compiled with -mavx2 -mfma -mf16c (Makefile.am,
** libkernels_avx2.la), and kernels.c calls it only after kernels_init()
** found those instructions; the contracts are in kernels.h.
**
** How the dense matmuls go.  They walk W in groups of 4 rows; a group
** kernel computes the 4 rows' dot products with one or two activation
** rows, decoding weights to f32 in registers, never to memory.  Each
** activation load serves 4 rows, and the 4-8 accumulator chains hide the
** FMA latency.  For n > 1 a group meets every activation row, two at a
** time, before the next group is loaded: W is read from memory once per
** call.  Rows past the end of W or X are handled by repeating the last one
** and dropping its sums, so no kernel has a row tail.
**
** Decode is memory-bound, and the access pattern matters more than the
** arithmetic.  Four rows read side by side are four short streams, too
** short for the hardware prefetcher, so while the first pass works on
** this group it prefetches the next one linearly, 4 bytes ahead for every
** byte consumed per row.  Q8_0 tiles need none of that: their rows are
** interleaved at import (tensor.h), one stream.
*/
#include "kernels_internal.h"
#include "quants.h"

#include <immintrin.h>
#include <math.h>

#define GROUP_ROWS 4       /* weight rows per pass */
#define CACHE_LINE 64
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---- helpers -------------------------------------------------------------- */

/* The four horizontal sums of a, b, c, d. */
ALWAYS_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d){
  __m256 ab = _mm256_hadd_ps(a, b);
  __m256 cd = _mm256_hadd_ps(c, d);
  __m256 abcd = _mm256_hadd_ps(ab, cd);
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* Prefetches [p, p + bytes).  Called on consecutive spans, so one
** prefetch per 64 bytes touches every line. */
ALWAYS_INLINE void prefetch_span(const char *p, size_t bytes){
  for(size_t offset = 0; offset < bytes; offset += CACHE_LINE) _mm_prefetch(p + offset, _MM_HINT_T0);
}

/* ---- Q8_0 quantization ------------------------------------------------------ */

/* roundf(): to nearest, ties away from zero.  _mm256_round_ps has no such
** mode, so truncate and step one away from zero when the dropped fraction
** (exact, as |v| < 2^23) is at least one half. */
ALWAYS_INLINE __m256 round_half_away(__m256 v){
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 truncated = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  __m256 fraction = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, truncated));
  __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(sign_bit, v));
  __m256 away = _mm256_cmp_ps(fraction, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm256_add_ps(truncated, _mm256_and_ps(away, step));
}

void kernels_avx2_quantize_q8_0(const float *x, void *blocks, size_t n, int activation){
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  uint8_t *block = blocks;
  for(size_t b = 0; b < n / TENSOR_Q8_0_BLOCK; b++){
    __m256 v[4];
    __m256 amax8 = _mm256_setzero_ps();
#pragma GCC unroll 4
    for(int j = 0; j < 4; j++){
      v[j] = _mm256_loadu_ps(x + 8 * j);
      amax8 = _mm256_max_ps(amax8, _mm256_andnot_ps(sign_bit, v[j]));
    }
    __m128 amax4 = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
    amax4 = _mm_max_ps(amax4, _mm_movehl_ps(amax4, amax4));
    amax4 = _mm_max_ss(amax4, _mm_movehdup_ps(amax4));
    /* The scalar steps of ggml's reference, so the blocks are identical;
    ** or of ggml-cpu's run-time quantize_row_q8_0 for an activation. */
    const float amax = _mm_cvtss_f32(amax4), d = amax / 127;
    const float id = activation ? (amax != 0.0f ? 127.0f / amax : 0.0f) : d ? 1.0f / d : 0.0f;
    uint16_t d_bits = kernel_f32_to_f16(d);
    memcpy(block, &d_bits, 2);

    __m256i q[4];
#pragma GCC unroll 4
    for(int j = 0; j < 4; j++){
      const __m256 scaled = _mm256_mul_ps(v[j], _mm256_set1_ps(id));
      /* cvtps rounds half to even, as the run-time form does */
      q[j] = _mm256_cvtps_epi32(activation ? scaled : round_half_away(scaled));
    }
    /* Pack 4 x 8 int32 to 32 int8 (|q| <= 127, so no saturation); packs
    ** interleaves the 128-bit lanes, and the permute restores the order. */
    __m256i q16a = _mm256_packs_epi32(q[0], q[1]);
    __m256i q16b = _mm256_packs_epi32(q[2], q[3]);
    __m256i q8 = _mm256_packs_epi16(q16a, q16b);
    q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(block + 2), q8);
    x += TENSOR_Q8_0_BLOCK;
    block += TENSOR_Q8_0_BYTES;
  }
}

/* ---- the matmul driver -------------------------------------------------------- */

/* A group kernel: sums[a][k] = W[k] . X[a] for the 4 rows w[k] of a group
** and nx (1 or 2) activation rows x[a] of floats.  When next is not NULL
** it prefetches the next group, which starts there, GROUP_ROWS bytes ahead
** for each byte it consumes in a row. */
typedef void group_kernel(const uint8_t *const w[GROUP_ROWS], const void *const x[2],
                          size_t nx, size_t cols, const char *next,
                          float sums[2][GROUP_ROWS]);

static void matmul_by_groups(group_kernel *kernel, const void *w, size_t row_bytes,
                             size_t rows, size_t cols,
                             const void *x, size_t x_stride_bytes, size_t n,
                             float *y, size_t y_stride, int accumulate){
  const uint8_t *w_bytes = w, *x_bytes = x;
  for(size_t r0 = 0; r0 < rows; r0 += GROUP_ROWS){
    size_t count = rows - r0 < GROUP_ROWS ? rows - r0 : GROUP_ROWS;
    const uint8_t *group[GROUP_ROWS];
    for(size_t k = 0; k < GROUP_ROWS; k++){
      group[k] = w_bytes + (r0 + (k < count ? k : count - 1)) * row_bytes;
    }
    /* Only a whole next group is prefetched, so no address leaves W; and
    ** only in the first pass, as later passes find this group in cache. */
    const char *next = r0 + 2 * GROUP_ROWS <= rows
                     ? (const char *)(w_bytes + (r0 + GROUP_ROWS) * row_bytes) : 0;
    for(size_t i = 0; i < n; i += 2){
      const size_t nx = n - i < 2 ? 1 : 2;
      const void *xs[2] = { x_bytes + i * x_stride_bytes,
                            nx == 2 ? x_bytes + (i + 1) * x_stride_bytes : 0 };
      float sums[2][GROUP_ROWS];
      kernel(group, xs, nx, cols, i == 0 ? next : 0, sums);
      for(size_t a = 0; a < nx; a++){
        float *y_row = y + (i + a) * y_stride + r0;
        for(size_t k = 0; k < count; k++){
          y_row[k] = accumulate ? y_row[k] + sums[a][k] : sums[a][k];
        }
      }
    }
  }
}

/* ---- F32 / F16 / BF16 ------------------------------------------------------- */

/* Elements c..c+7 of a row as floats. */
ALWAYS_INLINE __m256 dense_load8(tensor_dtype dtype, const uint8_t *row, size_t c){
  if( dtype == TENSOR_F32 ) return _mm256_loadu_ps((const float *)row + c);
  __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + c));
  if( dtype == TENSOR_F16 ) return _mm256_cvtph_ps(h);
  /* bf16 is the top half of an f32. */
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

ALWAYS_INLINE float dense_load1(tensor_dtype dtype, const uint8_t *row, size_t c){
  if( dtype == TENSOR_F32 ) return ((const float *)row)[c];
  uint16_t h = ((const uint16_t *)row)[c];
  return dtype == TENSOR_F16 ? _cvtsh_ss(h) : kernel_bf16_to_f32(h);
}

/* The group kernel for dense rows, 8 columns a step, then a scalar tail.
** dtype and nx are constants wherever this is inlined. */
ALWAYS_INLINE void dense_group(tensor_dtype dtype, const uint8_t *const w[GROUP_ROWS],
                               const void *const x[2], size_t nx, size_t cols,
                               const char *next, float sums[2][GROUP_ROWS]){
  const size_t element_bytes = dtype == TENSOR_F32 ? 4 : 2;
  const float *xf[2] = { x[0], x[1] };
  __m256 acc[2][GROUP_ROWS];
  for(size_t a = 0; a < nx; a++){
    for(int k = 0; k < GROUP_ROWS; k++) acc[a][k] = _mm256_setzero_ps();
  }
  size_t c = 0;
  for(; c + 8 <= cols; c += 8){
    if( next ) prefetch_span(next + GROUP_ROWS * element_bytes * c, GROUP_ROWS * element_bytes * 8);
#pragma GCC unroll 4
    for(int k = 0; k < GROUP_ROWS; k++){
      __m256 wv = dense_load8(dtype, w[k], c);
#pragma GCC unroll 2
      for(size_t a = 0; a < nx; a++){
        acc[a][k] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xf[a] + c), acc[a][k]);
      }
    }
  }
  for(size_t a = 0; a < nx; a++){
    _mm_storeu_ps(sums[a], hsum4(acc[a][0], acc[a][1], acc[a][2], acc[a][3]));
  }
  for(; c < cols; c++){
    for(int k = 0; k < GROUP_ROWS; k++){
      float wc = dense_load1(dtype, w[k], c);
      for(size_t a = 0; a < nx; a++) sums[a][k] += wc * xf[a][c];
    }
  }
}

/* One instance per dtype and activation count, so that each inner loop is
** compiled for its constants. */
static void f32_group(const uint8_t *const w[GROUP_ROWS], const void *const x[2], size_t nx,
                      size_t cols, const char *next, float sums[2][GROUP_ROWS]){
  if( nx == 2 ) dense_group(TENSOR_F32, w, x, 2, cols, next, sums);
  else          dense_group(TENSOR_F32, w, x, 1, cols, next, sums);
}
static void f16_group(const uint8_t *const w[GROUP_ROWS], const void *const x[2], size_t nx,
                      size_t cols, const char *next, float sums[2][GROUP_ROWS]){
  if( nx == 2 ) dense_group(TENSOR_F16, w, x, 2, cols, next, sums);
  else          dense_group(TENSOR_F16, w, x, 1, cols, next, sums);
}
static void bf16_group(const uint8_t *const w[GROUP_ROWS], const void *const x[2], size_t nx,
                       size_t cols, const char *next, float sums[2][GROUP_ROWS]){
  if( nx == 2 ) dense_group(TENSOR_BF16, w, x, 2, cols, next, sums);
  else          dense_group(TENSOR_BF16, w, x, 1, cols, next, sums);
}

void kernels_avx2_matmul(tensor_dtype dtype, const void *w, size_t rows,
                         size_t cols, size_t row_bytes, const float *x, size_t x_stride,
                         size_t n, float *y, size_t y_stride, int accumulate){
  group_kernel *kernel = dtype == TENSOR_F16 ? f16_group
                       : dtype == TENSOR_BF16 ? bf16_group : f32_group;
  matmul_by_groups(kernel, w, row_bytes, rows, cols,
                   x, x_stride * sizeof(float), n, y, y_stride, accumulate);
}

/* ---- Q8_0 ------------------------------------------------------------------- */

/* A Q8_0 tile interleaves 16 rows (tensor.h), so a 32-byte load holds 4
** values of each of 8 rows: half h of a group's block is rows 8h .. 8h+7.
** Against the activation's 4 values broadcast to every lane, maddubs and
** madd give row k's 4 products summed in lane k, exactly, with no
** horizontal sums.  maddubs multiplies unsigned by signed bytes, so |w|
** meets x with w's sign (|w| <= 128 and |x| <= 127, our quantizer's range,
** keep a pair inside int16).  One convert, one scale and one FMA then serve
** 8 rows.  Each output is fma(d_w * d_x, (float)dot, acc), block after
** block, as in the scalar code and kernels_avx512.c: the same bits. */

/* Activation rows a pass over a group meets in prefill: they share the
** weight loads and |w|.  4 rows' integer sums take 8 of the 16 registers,
** leaving room for a weight vector, |w| and the broadcasts; their float
** sums go through the stack once a block.
** 1088 x 896 tiles against 64 activation rows (a microbenchmark, AMD EPYC
** Zen 3) went 7% faster than with 2. */
#define ACTS 4

/* Row 8h + k's exact dot with activation block x in lane k, for nx (1 to
** ACTS) activations x[a], halves h of the group's block.  The sums go in
** order, each pinned to its register: left to reassociate them, GCC built
** trees of all 8 terms and spilled their parts to the stack, which cost
** decode 4-13% and prefill 1-2%. */
ALWAYS_INLINE void q8_0_group_block_dots(const uint8_t *group_block, const uint8_t *const x[ACTS],
                                         size_t nx, __m256i dot[ACTS][2]){
  const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 4
  for(size_t a = 0; a < nx; a++) dot[a][0] = dot[a][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
  for(int j = 0; j < 8; j++){
    __m256i xv[ACTS];
#pragma GCC unroll 4
    for(size_t a = 0; a < nx; a++){
      int32_t v;
      memcpy(&v, q8_0_values(x[a]) + 4 * j, 4);
      xv[a] = _mm256_set1_epi32(v);
    }
#pragma GCC unroll 2
    for(int h = 0; h < 2; h++){
      const __m256i w = _mm256_loadu_si256((const __m256i *)(group_block + 2 * TENSOR_Q8_0_GROUP
                                                              + 64 * j + 32 * h));
      const __m256i aw = _mm256_sign_epi8(w, w);
#pragma GCC unroll 4
      for(size_t a = 0; a < nx; a++){
        __m256i pairs = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv[a], w));
        dot[a][h] = _mm256_add_epi32(dot[a][h], _mm256_madd_epi16(pairs, ones));
        __asm__("" : "+x"(dot[a][h]));
      }
    }
  }
}

/* acc[h] += (d_w * d_x) dot[h] for the rows of half h of a group's
** block, d_x the activation block's scale. */
ALWAYS_INLINE void q8_0_block_fma(const uint8_t *group_block, const __m256i dot[2], float d_x,
                                  __m256 acc[2]){
#pragma GCC unroll 2
  for(int h = 0; h < 2; h++){
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(group_block + 16 * h)));
    acc[h] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(d_x)),
                             _mm256_cvtepi32_ps(dot[h]), acc[h]);
  }
}

/* The live rows of a group against activations i and i + nx - 1. */
ALWAYS_INLINE void q8_0_group_n(const kernel_input *in, const uint8_t *group, size_t live,
                                size_t i, size_t nx, float *y, size_t y_stride){
  const size_t blocks = in->cols / TENSOR_Q8_0_BLOCK;
  __m256 acc[ACTS][2];
#pragma GCC unroll 4
  for(size_t a = 0; a < nx; a++) acc[a][0] = acc[a][1] = _mm256_setzero_ps();
  for(size_t b = 0; b < blocks; b++){
    const uint8_t *group_block = group + b * TENSOR_Q8_0_GROUP_BYTES;
    const uint8_t *x[ACTS];
#pragma GCC unroll 4
    for(size_t a = 0; a < nx; a++){
      x[a] = (const uint8_t *)in->xq + (i + a) * in->xq_stride + b * TENSOR_Q8_0_BYTES;
    }
    __m256i dot[ACTS][2];
    q8_0_group_block_dots(group_block, x, nx, dot);
#pragma GCC unroll 4
    for(size_t a = 0; a < nx; a++){
      q8_0_block_fma(group_block, dot[a], in->xd[(i + a) * blocks + b], acc[a]);
    }
  }
#pragma GCC unroll 4
  for(size_t a = 0; a < nx; a++){
    float lanes[TENSOR_Q8_0_GROUP];
    _mm256_storeu_ps(lanes, acc[a][0]);
    _mm256_storeu_ps(lanes + 8, acc[a][1]);
    memcpy(y + (i + a) * y_stride, lanes, live * sizeof(float));
  }
}

/* Decode of LOCKSTEP whole groups side by side (kernels_internal.h,
** q8_0_decode_lockstep), whatever the row length.  On an AMD EPYC with
** AVX2 and no AVX-512 (Zen 3), one group at a time streamed Q8_0 tiles at
** about 0.75 of the bandwidth probe's rate, 2 groups side by side at
** about 0.85 and 4 at about 0.95; 8 was slower again, and a software
** prefetch ahead of 2 streams made them slower.  (A microbenchmark
** of 500 MB of 1088 x 896 tiles, kernels alternating chunk by chunk.)
** On an Intel Xeon with this path forced, a T0 prefetch 2 KiB ahead of
** each of the 4 streams, as kernels_avx512.c does, made decode 7-8%
** faster on 1 and 2 threads (tokens alternating in one process); on the
** EPYC it is untried with 4 streams, so it is not done here. */
#define LOCKSTEP 4

static void q8_0_groups_lockstep(const kernel_input *in, const uint8_t *group, float *y){
  const size_t blocks = in->cols / TENSOR_Q8_0_BLOCK;
  const size_t group_bytes = blocks * TENSOR_Q8_0_GROUP_BYTES;
  __m256 acc[LOCKSTEP][2];
  for(int g = 0; g < LOCKSTEP; g++) acc[g][0] = acc[g][1] = _mm256_setzero_ps();
  for(size_t b = 0; b < blocks; b++){
    const uint8_t *x[ACTS] = { (const uint8_t *)in->xq + b * TENSOR_Q8_0_BYTES };
#pragma GCC unroll 4
    for(int g = 0; g < LOCKSTEP; g++){
      const uint8_t *group_block = group + g * group_bytes + b * TENSOR_Q8_0_GROUP_BYTES;
      __m256i dot[ACTS][2];
      q8_0_group_block_dots(group_block, x, 1, dot);
      q8_0_block_fma(group_block, dot[0], in->xd[b], acc[g]);
    }
  }
  for(int g = 0; g < LOCKSTEP; g++){
    _mm256_storeu_ps(y + g * TENSOR_Q8_0_GROUP, acc[g][0]);
    _mm256_storeu_ps(y + g * TENSOR_Q8_0_GROUP + 8, acc[g][1]);
  }
}

void kernels_avx2_matmul_q8_0(const kernel_input *in, const void *w, size_t rows,
                              float *y, size_t y_stride){
  size_t r0 = q8_0_decode_lockstep(in, w, rows, y, LOCKSTEP, q8_0_groups_lockstep);
  for(; r0 < rows; r0 += TENSOR_Q8_0_GROUP){
    const uint8_t *group = tensor_q8_0_group(w, in->cols, r0);
    const size_t live = rows - r0 < TENSOR_Q8_0_GROUP ? rows - r0 : TENSOR_Q8_0_GROUP;
    /* The group stays in L1/L2 for the next ACTS activations; nx is a
    ** constant in each call, so that its loops unroll. */
    for(size_t i = 0; i < in->n; i += ACTS){
      switch( in->n - i >= ACTS ? ACTS : in->n - i ){
        case 1: q8_0_group_n(in, group, live, i, 1, y + r0, y_stride); break;
        case 2: q8_0_group_n(in, group, live, i, 2, y + r0, y_stride); break;
        case 3: q8_0_group_n(in, group, live, i, 3, y + r0, y_stride); break;
        default: q8_0_group_n(in, group, live, i, ACTS, y + r0, y_stride); break;
      }
    }
  }
}

/* ---- exp, softmax, SiLU, attention ------------------------------------------ */

/* e^x, 8 at a time, to about 2 ulp: x = n ln2 + r with |r| <= ln2/2, a
** degree-6 polynomial for e^r (Cephes' expf), then 2^n built in the
** exponent bits.  Beyond the range of a float it gives inf and 0, as expf
** does, so masked (-inf) scores weigh exactly nothing. */
ALWAYS_INLINE __m256 exp8(__m256 x){
  const __m256 max_arg = _mm256_set1_ps(88.3762626647949f);
  const __m256 min_arg = _mm256_set1_ps(-87.3365447505531f);
  const __m256 over = _mm256_cmp_ps(x, max_arg, _CMP_GT_OQ);
  const __m256 under = _mm256_cmp_ps(x, min_arg, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, min_arg), max_arg);
  __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f),
                                             _mm256_set1_ps(0.5f)));
  /* r = x - n ln2, with ln2 in two parts so that n * ln2_hi is exact */
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n),
                                                    _mm256_set1_epi32(127)), 23);
  __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  e = _mm256_blendv_ps(e, _mm256_set1_ps(__builtin_inff()), over);
  return _mm256_andnot_ps(under, e);
}

ALWAYS_INLINE float hsum8(__m256 v){
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* The tails (n % 8 values) go through exp8 too, loaded into a zeroed
** vector, so every value gets the same arithmetic. */
ALWAYS_INLINE __m256 load_tail(const float *x, size_t count, float fill){
  float lanes[8];
  for(size_t i = 0; i < 8; i++) lanes[i] = i < count ? x[i] : fill;
  return _mm256_loadu_ps(lanes);
}

ALWAYS_INLINE void store_tail(float *x, __m256 v, size_t count){
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  memcpy(x, lanes, count * sizeof(float));
}

void kernels_avx2_softmax(float *x, size_t n){
  __m256 max8 = _mm256_set1_ps(-__builtin_inff());
  size_t i = 0;
  for(; i + 8 <= n; i += 8) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(x + i));
  max8 = _mm256_max_ps(max8, load_tail(x + i, n - i, -__builtin_inff()));
  float lanes[8], max = -__builtin_inff();
  _mm256_storeu_ps(lanes, max8);
  for(int k = 0; k < 8; k++) if( lanes[k] > max ) max = lanes[k];
  const __m256 shift = _mm256_set1_ps(max);
  __m256 sum8 = _mm256_setzero_ps();
  for(i = 0; i + 8 <= n; i += 8){
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), shift));
    _mm256_storeu_ps(x + i, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  __m256 tail = exp8(_mm256_sub_ps(load_tail(x + i, n - i, -__builtin_inff()), shift));
  store_tail(x + i, tail, n - i);
  const __m256 inv = _mm256_set1_ps((float)(1.0 / hsum8(_mm256_add_ps(sum8, tail))));
  for(i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  for(; i < n; i++) x[i] *= _mm256_cvtss_f32(inv);
}

ALWAYS_INLINE __m256 silu_mul8(__m256 g, __m256 u){
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u);
}

void kernels_avx2_silu_mul(float *out, const float *gate, const float *up, size_t n){
  size_t i = 0;
  for(; i + 8 <= n; i += 8){
    _mm256_storeu_ps(out + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  }
  if( i < n ){
    store_tail(out + i, silu_mul8(load_tail(gate + i, n - i, 0), load_tail(up + i, n - i, 0)), n - i);
  }
}

static float dot_avx2(const float *a, const float *b, size_t n){
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for(; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float sum = hsum8(acc);
  for(; i < n; i++) sum += a[i] * b[i];
  return sum;
}

/* The dot products of q with 8 keys, n floats each (n a multiple of 8).
** Their sums are independent, so the FMAs overlap: one key at a time, each
** FMA waited on the one before, and a head's scores over 100 positions
** took longer than its weighted sum. */
static __m256 dot8_keys(const float *q, const float *k, size_t kv_stride, size_t n){
  __m256 acc[8];
  for(int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
  for(size_t i = 0; i < n; i += 8){
    const __m256 q8 = _mm256_loadu_ps(q + i);
#pragma GCC unroll 8
    for(int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(q8, _mm256_loadu_ps(k + j * kv_stride + i), acc[j]);
  }
  /* lanes 0-3 of s0123 hold halves of keys 0-3's sums, lanes 4-7 the
  ** other halves; s4567 likewise for keys 4-7 */
  __m256 s0123 = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
  __m256 s4567 = _mm256_hadd_ps(_mm256_hadd_ps(acc[4], acc[5]), _mm256_hadd_ps(acc[6], acc[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20),
                       _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

/* y += a * x */
static void axpy_avx2(float *y, float a, const float *x, size_t n){
  const __m256 a8 = _mm256_set1_ps(a);
  size_t i = 0;
  for(; i + 8 <= n; i += 8){
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a8, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for(; i < n; i++) y[i] += a * x[i];
}

/* out[0..64) = sum_t scores[t] v_t[0..64), the sums held in registers
** across t.  Added in memory (axpy_avx2), each position's sum waited on
** the store of the one before: 14 heads over 62 positions took 13.3 us in
** a microbenchmark, 7.3 us this way (18 and 11 with the cache cold). */
static void weighted_sum64(float *out, const float *scores, const float *v,
                           size_t kv_stride, size_t n_ctx){
  __m256 acc[8];
  for(int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
  for(size_t t = 0; t < n_ctx; t++){
    const __m256 s = _mm256_set1_ps(scores[t]);
    const float *v_t = v + t * kv_stride;
#pragma GCC unroll 8
    for(int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(s, _mm256_loadu_ps(v_t + 8 * j), acc[j]);
  }
  for(int j = 0; j < 8; j++) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

void kernels_avx2_attend(float *out, const float *q, const float *k, const float *v,
                         size_t kv_stride, size_t n_ctx, size_t head_dim, float *scores){
  const float scale = 1.0f / sqrtf((float)head_dim);
  size_t t = 0;
  if( head_dim % 8 == 0 ){
    for(; t + 8 <= n_ctx; t += 8){
      __m256 dots = dot8_keys(q, k + t * kv_stride, kv_stride, head_dim);
      _mm256_storeu_ps(scores + t, _mm256_mul_ps(dots, _mm256_set1_ps(scale)));
    }
  }
  for(; t < n_ctx; t++) scores[t] = dot_avx2(q, k + t * kv_stride, head_dim) * scale;
  kernels_avx2_softmax(scores, n_ctx);
  size_t c = 0;
  for(; c + 64 <= head_dim; c += 64) weighted_sum64(out + c, scores, v + c, kv_stride, n_ctx);
  if( c == head_dim ) return;
  memset(out + c, 0, (head_dim - c) * sizeof(float));
  for(t = 0; t < n_ctx; t++) axpy_avx2(out + c, scores[t], v + t * kv_stride + c, head_dim - c);
}

/* ---- the legacy block types (quants.h) ------------------------------------ */

/* 32 bytes, byte j 0xff where bit j of the 4 bytes at p is set (ggml's
** bytes_from_bits_32). */
ALWAYS_INLINE __m256i bytes_from_bits(const uint8_t *p){
  uint32_t bits;
  memcpy(&bits, p, 4);
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  return _mm256_cmpeq_epi8(_mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)),
                           _mm256_set1_epi64x(-1));
}

/* A legacy block's 32 codes, signed as they multiply d: quants.c's
** legacy_codes, 32 at once. */
ALWAYS_INLINE __m256i legacy_codes_avx2(tensor_dtype dtype, legacy_layout l, const uint8_t *block){
  const __m128i qs = _mm_loadu_si128((const __m128i *)(block + l.codes_at));
  const __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs),
                                         _mm256_set1_epi8(15));
  if( dtype == TENSOR_IQ4_NL ){
    const __m128i levels = _mm_loadu_si128((const __m128i *)quant_iq4nl_values);
    return _mm256_shuffle_epi8(_mm256_set_m128i(levels, levels), codes);
  }
  __m256i c = codes;
  if( l.high_at >= 0 ){
    c = _mm256_or_si256(c, _mm256_and_si256(bytes_from_bits(block + l.high_at), _mm256_set1_epi8(16)));
  }
  return _mm256_sub_epi8(c, _mm256_set1_epi8((char)l.offset));
}

/* The exact sums of 32 products of int8 codes and int8 values, 4 to a
** lane: |code| times value with code's sign, pairs to int16 (at most
** 2 * 127 * 127), then to int32. */
ALWAYS_INLINE __m256i dot_i8_lanes(__m256i codes, __m256i x){
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(codes, codes), _mm256_sign_epi8(x, codes));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

/* ggml's hsum_float_8: lanes j and j + 4, then 0 + 2 and 1 + 3, then the
** two (quants.c's lanes_sum). */
ALWAYS_INLINE float hsum_f32(__m256 v){
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

/* Rows of activations met by each unpacked block at once (prefill of a
** row too long for legacy_prefill, and the k-quants). */
#define LEGACY_ROWS 8

/* A legacy row's sums so far, as quants.c's legacy_row_dot: 8 float
** lanes, and Q4_1's and Q5_1's m * s apart. */
typedef struct legacy_sums { __m256 acc; float mins; } legacy_sums;

/* Block b of a legacy row (its codes, d and m) against activation row i,
** added into s. */
ALWAYS_INLINE void legacy_sums_add(legacy_sums *s, const kernel_input *in, legacy_layout l,
                                   __m256i codes, float dw, float m, size_t i, size_t b){
  const size_t blocks = in->cols / 32;
  const uint8_t *x = (const uint8_t *)in->xq + i * in->xq_stride + b * TENSOR_Q8_0_BYTES;
  const __m256i sums = dot_i8_lanes(codes, _mm256_loadu_si256((const __m256i *)q8_0_values(x)));
  s->acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * in->xd[i * blocks + b]), _mm256_cvtepi32_ps(sums), s->acc);
  if( l.min_at >= 0 ) s->mins += m * in->xs[i * blocks + b];
}

/* A legacy block's m, or 0 for the types without one. */
ALWAYS_INLINE float legacy_min(legacy_layout l, const uint8_t *block){
  return l.min_at >= 0 ? quant_f16_at(block + l.min_at) : 0.0f;
}

/* Activation rows i0 .. i0 + nx - 1 against legacy row `row`. */
ALWAYS_INLINE void legacy_rows(const kernel_input *in, tensor_dtype dtype, legacy_layout l,
                               const uint8_t *row, size_t i0, size_t nx, float *y,
                               size_t y_stride){
  legacy_sums s[LEGACY_ROWS];
  for(size_t k = 0; k < nx; k++) s[k] = (legacy_sums){ _mm256_setzero_ps(), 0.0f };
  for(size_t b = 0; b < in->cols / 32; b++, row += l.bytes){
    const __m256i codes = legacy_codes_avx2(dtype, l, row);
    const float dw = quant_f16_at(row), m = legacy_min(l, row);
    for(size_t k = 0; k < nx; k++) legacy_sums_add(&s[k], in, l, codes, dw, m, i0 + k, b);
  }
  for(size_t k = 0; k < nx; k++) y[(i0 + k) * y_stride] = hsum_f32(s[k].acc) + s[k].mins;
}

/* One activation row (decode) against `rows` legacy rows of a type known
** at compile time, so that the block's unpacking has no branches and the
** lanes stay in a register: legacy_rows for nx = 1. */
ALWAYS_INLINE void legacy_decode(const kernel_input *in, tensor_dtype dtype, const void *w,
                                 size_t rows, float *y){
  const legacy_layout l = legacy_layout_of(dtype);
  const uint8_t *row = w;
  for(size_t r = 0; r < rows; r++){
    legacy_sums s = { _mm256_setzero_ps(), 0.0f };
    for(size_t b = 0; b < in->cols / 32; b++, row += l.bytes){
      legacy_sums_add(&s, in, l, legacy_codes_avx2(dtype, l, row), quant_f16_at(row),
                      legacy_min(l, row), 0, b);
    }
    y[r] = hsum_f32(s.acc) + s.mins;
  }
}

/* Blocks of a row that prefill unpacks on the stack at once: rows of up
** to 16384 values (a longer row goes through legacy_rows). */
#define ROW_BLOCKS 512

/* Prefill: `rows` legacy rows of a type known at compile time, each
** unpacked whole once, then met by every activation row in turn with
** its lanes in a register: legacy_rows's additions, in its order. */
ALWAYS_INLINE void legacy_prefill(const kernel_input *in, tensor_dtype dtype, const void *w,
                                  size_t rows, float *y, size_t y_stride){
  const legacy_layout l = legacy_layout_of(dtype);
  const size_t blocks = in->cols / 32;
  __m256i codes[ROW_BLOCKS];
  float dw[ROW_BLOCKS], m[ROW_BLOCKS];
  const uint8_t *row = w;
  for(size_t r = 0; r < rows; r++){
    for(size_t b = 0; b < blocks; b++, row += l.bytes){
      codes[b] = legacy_codes_avx2(dtype, l, row);
      dw[b] = quant_f16_at(row);
      m[b] = legacy_min(l, row);
    }
    for(size_t i = 0; i < in->n; i++){
      legacy_sums s = { _mm256_setzero_ps(), 0.0f };
      for(size_t b = 0; b < blocks; b++) legacy_sums_add(&s, in, l, codes[b], dw[b], m[b], i, b);
      y[i * y_stride + r] = hsum_f32(s.acc) + s.mins;
    }
  }
}

/* Decode goes through legacy_decode and prefill through legacy_prefill,
** one copy of each a type. */
void kernels_avx2_matmul_legacy(const kernel_input *in, const void *w, size_t rows,
                                float *y, size_t y_stride){
  const tensor_dtype dtype = in->weight_dtype;
  if( in->n == 1 ){
    switch( dtype ){
      case TENSOR_Q4_1: legacy_decode(in, TENSOR_Q4_1, w, rows, y); return;
      case TENSOR_Q5_0: legacy_decode(in, TENSOR_Q5_0, w, rows, y); return;
      case TENSOR_Q5_1: legacy_decode(in, TENSOR_Q5_1, w, rows, y); return;
      case TENSOR_IQ4_NL: legacy_decode(in, TENSOR_IQ4_NL, w, rows, y); return;
      default: legacy_decode(in, TENSOR_Q4_0, w, rows, y); return;
    }
  }
  if( in->cols / 32 <= ROW_BLOCKS ){
    switch( dtype ){
      case TENSOR_Q4_1: legacy_prefill(in, TENSOR_Q4_1, w, rows, y, y_stride); return;
      case TENSOR_Q5_0: legacy_prefill(in, TENSOR_Q5_0, w, rows, y, y_stride); return;
      case TENSOR_Q5_1: legacy_prefill(in, TENSOR_Q5_1, w, rows, y, y_stride); return;
      case TENSOR_IQ4_NL: legacy_prefill(in, TENSOR_IQ4_NL, w, rows, y, y_stride); return;
      default: legacy_prefill(in, TENSOR_Q4_0, w, rows, y, y_stride); return;
    }
  }
  const legacy_layout l = legacy_layout_of(dtype);
  const size_t row_bytes = in->cols / 32 * (size_t)l.bytes;
  for(size_t r = 0; r < rows; r++){
    const uint8_t *row = (const uint8_t *)w + r * row_bytes;
    for(size_t i0 = 0; i0 < in->n; i0 += LEGACY_ROWS){
      const size_t nx = in->n - i0 < LEGACY_ROWS ? in->n - i0 : LEGACY_ROWS;
      legacy_rows(in, dtype, l, row, i0, nx, y + r, y_stride);
    }
  }
}

/* ---- Q4_K, Q5_K and Q6_K (quants.h) ------------------------------------------ */
/* A Q4_K, Q5_K or Q6_K super-block unpacked for the products: its scales
** as int16, the minimum of each 32 (Q4_K, Q5_K), d and dmin, and for
** prefill the codes 32 at a time as unsigned bytes (Q6_K's taken as code
** + 32).  Scales: Q4_K's and Q5_K's 8 in each 128-bit half; Q6_K's 16 (two
** a 32), the even ones in the low half and the odd ones in the high. */
typedef struct k_unpacked {
  __m256i code[8], scales;
  int32_t min[8];
  float d, dmin;
} k_unpacked;

/* The codes of the j-th 32 values of a super-block: decode takes them
** from the block as it uses them, prefill unpacks all eight once. */
ALWAYS_INLINE __m256i k_code(const uint8_t *block, tensor_dtype dtype, int j){
  const __m256i m4 = _mm256_set1_epi8(15);
  if( dtype == TENSOR_Q6_K ){
    const int half = j / 4, q = j % 4;
    const __m256i low = _mm256_loadu_si256((const __m256i *)(block + 64 * half + 32 * (q & 1)));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(block + 128 + 32 * half));
    const __m256i nibble = _mm256_and_si256(q < 2 ? low : _mm256_srli_epi16(low, 4), m4);
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * q), _mm256_set1_epi8(3));
    return _mm256_or_si256(nibble, _mm256_slli_epi16(high, 4));
  }
  /* Q4_K's nibbles; Q5_K's after its 32 bytes of high bits, each with
  ** bit j of its byte of qh on top */
  const uint8_t *qs = block + (dtype == TENSOR_Q5_K ? 48 : 16);
  const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
  __m256i code = _mm256_and_si256(j & 1 ? _mm256_srli_epi16(q, 4) : q, m4);
  if( dtype == TENSOR_Q5_K ){
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(block + 16));
    const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(qh, j), _mm256_set1_epi8(1));
    code = _mm256_or_si256(code, _mm256_slli_epi16(bit, 4));
  }
  return code;
}

/* The scales, minimums, d and dmin of super-block `block`. */
ALWAYS_INLINE void k_unpack_scales(const uint8_t *block, tensor_dtype dtype, k_unpacked *k){
  const k_layout l = k_layout_of(dtype);
  if( dtype == TENSOR_Q6_K ){
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m128i sc = _mm_loadu_si128((const __m128i *)(block + 192));
    k->scales = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, even_odd));
  }else{
    uint8_t scales[8], mins[8];
    quant_k4_scales_mins(block + 4, scales, mins);
    k->scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)scales)));
    for(int j = 0; j < 8; j++) k->min[j] = mins[j];
  }
  k->d = quant_f16_at(block + l.d_at);
  k->dmin = l.dmin_at >= 0 ? quant_f16_at(block + l.dmin_at) : 0.0f;
}

/* The scale of each value of the j-th 32, as int16: word j of each half
** of k->scales, broadcast in its half. */
ALWAYS_INLINE __m256i k_scale(const k_unpacked *k, int j){
  return _mm256_shuffle_epi8(k->scales, _mm256_set1_epi16((short)(2 * j | (2 * j + 1) << 8)));
}

/* Super-block `block` unpacked whole, for prefill. */
ALWAYS_INLINE void k_unpack(const uint8_t *block, tensor_dtype dtype, k_unpacked *k){
  k_unpack_scales(block, dtype, k);
#pragma GCC unroll 8
  for(int j = 0; j < 8; j++) k->code[j] = k_code(block, dtype, j);
}

/* One 32 of a super-block added into the 8 int32 lanes: scale * code . x
** (maddubs, less 32 * x for Q6_K, whose codes went in as code + 32, then
** madd with the scales), lane j the values at 4j .. 4j+3 of the 32. */
ALWAYS_INLINE __m256i k_lane_step(__m256i acc, __m256i code, __m256i scale, const int8_t *x,
                                  int q6){
  const __m256i xv = _mm256_loadu_si256((const __m256i *)x);
  __m256i p16 = _mm256_maddubs_epi16(code, xv);
  if( q6 ) p16 = _mm256_sub_epi16(p16, _mm256_maddubs_epi16(_mm256_set1_epi8(32), xv));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, scale));
}

/* Over a super-block, its 32s in order, as quants.c's k_lanes_row_dot:
** from the codes unpacked (prefill), or from the block (decode). */
ALWAYS_INLINE __m256i k_lanes(const k_unpacked *k, const int8_t *x, int q6){
  __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 8
  for(int j = 0; j < 8; j++) acc = k_lane_step(acc, k->code[j], k_scale(k, j), x + 32 * j, q6);
  return acc;
}

ALWAYS_INLINE __m256i k_block_lanes(const k_unpacked *k, const uint8_t *block, tensor_dtype dtype,
                                    const int8_t *x){
  __m256i acc = _mm256_setzero_si256();
  /* unrolled, so that each 32's place in the block is a constant: with j
  ** a variable, its branches and shifts took a third of decode */
#pragma GCC unroll 8
  for(int j = 0; j < 8; j++){
    acc = k_lane_step(acc, k_code(block, dtype, j), k_scale(k, j), x + 32 * j, dtype == TENSOR_Q6_K);
  }
  return acc;
}

/* The 4 minimum lanes of Q4_K and Q5_K, as quants.c's. */
ALWAYS_INLINE __m128 k_min_lanes(const k_unpacked *k, const int32_t *sum16, float dmin_dx, __m128 acc){
  float prods[4];
  for(int t = 0; t < 4; t++){
    prods[t] = (float)(k->min[2 * t] * (sum16[4 * t] + sum16[4 * t + 1])
                     + k->min[2 * t + 1] * (sum16[4 * t + 2] + sum16[4 * t + 3]));
  }
  return _mm_fmadd_ps(_mm_set1_ps(dmin_dx), _mm_loadu_ps(prods), acc);
}

/* A row's sums so far: 8 float lanes, and the 4 minimum lanes of Q4_K
** and Q5_K. */
typedef struct k_sums { __m256 acc; __m128 acc_min; } k_sums;

/* Super-block b (unpacked as u, its integer lanes against activation row
** i in `lanes`) added into s. */
ALWAYS_INLINE void k_sums_add(k_sums *s, const kernel_input *in, const k_unpacked *u,
                              __m256i lanes, size_t i, size_t b, int q6){
  const float dx = in->xd[i * (in->cols / 256) + b];
  s->acc = _mm256_fmadd_ps(_mm256_set1_ps(dx * u->d), _mm256_cvtepi32_ps(lanes), s->acc);
  if( !q6 ) s->acc_min = k_min_lanes(u, in->xsum + i * (in->cols / 16) + 16 * b, -dx * u->dmin, s->acc_min);
}

ALWAYS_INLINE float k_sums_total(k_sums s){
  __m128 m = _mm_add_ps(s.acc_min, _mm_movehl_ps(s.acc_min, s.acc_min));
  m = _mm_add_ss(m, _mm_movehdup_ps(m));
  return hsum_f32(s.acc) + _mm_cvtss_f32(m);
}

/* Activation row i's codes for super-block b. */
ALWAYS_INLINE const int8_t *k_x(const kernel_input *in, size_t i, size_t b){
  return (const int8_t *)in->xq + i * in->xq_stride + 256 * b;
}

/* Decode: the one activation row against one Q4_K, Q5_K or Q6_K row, the
** codes taken from each block as they are used. */
ALWAYS_INLINE float k_decode_row(const kernel_input *in, tensor_dtype dtype, const uint8_t *row){
  const int bytes = k_layout_of(dtype).bytes;
  k_sums s = { _mm256_setzero_ps(), _mm_setzero_ps() };
  for(size_t b = 0; b < in->cols / 256; b++, row += bytes){
    k_unpacked u;
    k_unpack_scales(row, dtype, &u);
    k_sums_add(&s, in, &u, k_block_lanes(&u, row, dtype, k_x(in, 0, b)), 0, b, dtype == TENSOR_Q6_K);
  }
  return k_sums_total(s);
}

/* Activation rows i0 .. i0 + nx - 1 against one row, for rows too long
** for k_prefill: each super-block unpacked once for the nx rows. */
ALWAYS_INLINE void k_rows(const kernel_input *in, tensor_dtype dtype, const uint8_t *row,
                          size_t i0, size_t nx, float *y, size_t y_stride){
  const int bytes = k_layout_of(dtype).bytes, q6 = dtype == TENSOR_Q6_K;
  k_sums s[LEGACY_ROWS];
  for(size_t k = 0; k < nx; k++) s[k] = (k_sums){ _mm256_setzero_ps(), _mm_setzero_ps() };
  for(size_t b = 0; b < in->cols / 256; b++, row += bytes){
    k_unpacked u;
    k_unpack(row, dtype, &u);
    for(size_t k = 0; k < nx; k++){
      k_sums_add(&s[k], in, &u, k_lanes(&u, k_x(in, i0 + k, b), q6), i0 + k, b, q6);
    }
  }
  for(size_t k = 0; k < nx; k++) y[(i0 + k) * y_stride] = k_sums_total(s[k]);
}

/* Super-blocks of a row that prefill unpacks on the stack at once: rows of
** up to 16384 values (a longer row goes through k_rows). */
#define ROW_SUPERBLOCKS 64

/* Prefill: each k-quant row unpacked whole once, then met by every
** activation row in turn, its lanes in registers: k_rows's additions, in
** its order. */
ALWAYS_INLINE void k_prefill(const kernel_input *in, tensor_dtype dtype, const void *w,
                             size_t rows, float *y, size_t y_stride){
  const int bytes = k_layout_of(dtype).bytes, q6 = dtype == TENSOR_Q6_K;
  const size_t blocks = in->cols / 256;
  k_unpacked u[ROW_SUPERBLOCKS];
  const uint8_t *row = w;
  for(size_t r = 0; r < rows; r++){
    for(size_t b = 0; b < blocks; b++, row += bytes) k_unpack(row, dtype, &u[b]);
    for(size_t i = 0; i < in->n; i++){
      k_sums s = { _mm256_setzero_ps(), _mm_setzero_ps() };
      for(size_t b = 0; b < blocks; b++){
        k_sums_add(&s, in, &u[b], k_lanes(&u[b], k_x(in, i, b), q6), i, b, q6);
      }
      y[i * y_stride + r] = k_sums_total(s);
    }
  }
}

/* Decode and prefill: one copy of each a type, its branches folded. */
void kernels_avx2_matmul_k(const kernel_input *in, const void *w, size_t rows,
                           float *y, size_t y_stride){
  const tensor_dtype dtype = in->weight_dtype;
  if( in->n > 1 && in->cols / 256 <= ROW_SUPERBLOCKS ){
    switch( dtype ){
      case TENSOR_Q4_K: k_prefill(in, TENSOR_Q4_K, w, rows, y, y_stride); return;
      case TENSOR_Q5_K: k_prefill(in, TENSOR_Q5_K, w, rows, y, y_stride); return;
      default: k_prefill(in, TENSOR_Q6_K, w, rows, y, y_stride); return;
    }
  }
  const size_t row_bytes = in->cols / 256 * (size_t)k_layout_of(dtype).bytes;
  for(size_t r = 0; r < rows; r++){
    const uint8_t *row = (const uint8_t *)w + r * row_bytes;
    if( in->n == 1 ){
      switch( dtype ){
        case TENSOR_Q4_K: y[r] = k_decode_row(in, TENSOR_Q4_K, row); break;
        case TENSOR_Q5_K: y[r] = k_decode_row(in, TENSOR_Q5_K, row); break;
        default: y[r] = k_decode_row(in, TENSOR_Q6_K, row); break;
      }
      continue;
    }
    for(size_t i0 = 0; i0 < in->n; i0 += LEGACY_ROWS){
      const size_t nx = in->n - i0 < LEGACY_ROWS ? in->n - i0 : LEGACY_ROWS;
      k_rows(in, dtype, row, i0, nx, y + r, y_stride);
    }
  }
}
