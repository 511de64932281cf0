/*
** test_kernels.c: the kernels of kernels.h against references written here,
** independently: bit patterns worked out by hand, and naive double-precision
** loops.  No kernel is ever compared with itself or with another kernel.
**
** Every test is a loop test run three times: _i = 0 forces the scalar
** path, _i = 1 allows AVX2 and _i = 2 AVX-512 VNNI where the CPU has them,
** so every path meets the same references.
*/
#include "kernels/kernels.h"
#include "../testutil.h"

#include <math.h>
#include <string.h>

/* ---- shared helpers -------------------------------------------------------- */

static void choose_path(int i){
  kernels_init();
  kernels_limit((kernel_isa)i);
}

/* splitmix64: the same numbers on every run. */
static uint64_t rng_state;
static uint64_t rng_next(void){
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* Uniform in [-1, 1). */
static float rng_uniform(void){
  return (float)((double)(rng_next() >> 11) * 0x1p-53 * 2.0 - 1.0);
}

static float bits_to_f32(uint32_t u){ float f; memcpy(&f, &u, 4); return f; }
static uint32_t f32_to_bits(float f){ uint32_t u; memcpy(&u, &f, 4); return u; }

/* IEEE half precision read from the definition. */
static double ref_f16_value(uint16_t h){
  int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double magnitude;
  if( exponent == 0x1f ) magnitude = mantissa ? NAN : INFINITY;
  else if( exponent == 0 ) magnitude = ldexp(mantissa, -24);
  else magnitude = ldexp(1024 + mantissa, exponent - 25);
  return sign ? -magnitude : magnitude;
}

/* The f16 nearest to a finite v, ties to the even pattern, found by binary
** search over the positive patterns (ordered like their values). */
static uint16_t ref_f32_to_f16(float v){
  double a = fabs((double)v);
  uint16_t sign = signbit(v) ? 0x8000 : 0;
  if( a >= 65520.0 ) return sign | 0x7c00;
  unsigned lo = 0, hi = 0x7bff;              /* value(lo) <= a < value(hi + 1) */
  while( lo < hi ){
    unsigned mid = (lo + hi + 1) / 2;
    if( ref_f16_value((uint16_t)mid) <= a ) lo = mid; else hi = mid - 1;
  }
  double below = ref_f16_value((uint16_t)lo), above = ref_f16_value((uint16_t)(lo + 1));
  unsigned pick = lo;
  if( a - below > above - a || (a - below == above - a && (lo & 1)) ) pick = lo + 1;
  return sign | (uint16_t)pick;
}

/* ggml's quantize_row_q8_0_ref, restated: d = amax/127, id = d ? 1/d : 0,
** q = roundf(x*id), d stored as f16. */
static void ref_quantize_q8_0(const float *x, uint8_t *out, size_t n){
  for(size_t b = 0; b < n / 32; b++, x += 32, out += 34){
    float amax = 0.0f;
    for(int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t h = ref_f32_to_f16(d);
    out[0] = h & 0xff;
    out[1] = h >> 8;
    for(int j = 0; j < 32; j++) out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
  }
}

/* An activation row as llama.cpp quantizes it at run time on x86
** (ggml-cpu's quantize_row_q8_0 with AVX2), restated: d = amax/127 as f16,
** q = x * (127/amax) rounded half to even. */
static void ref_quantize_activation(const float *x, uint8_t *out, size_t n){
  for(size_t b = 0; b < n / 32; b++, x += 32, out += 34){
    float amax = 0.0f;
    for(int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    uint16_t h = ref_f32_to_f16(amax / 127.0f);
    out[0] = h & 0xff;
    out[1] = h >> 8;
    for(int j = 0; j < 32; j++) out[2 + j] = (uint8_t)(int8_t)rintf(x[j] * id);
  }
}

/* Element c of a row in dtype, in double. */
static double ref_element(tensor_dtype dtype, const void *row, size_t c){
  const uint8_t *bytes = row;
  switch( dtype ){
    case TENSOR_F32: return ((const float *)row)[c];
    case TENSOR_F16: return ref_f16_value(((const uint16_t *)row)[c]);
    case TENSOR_BF16: return bits_to_f32((uint32_t)((const uint16_t *)row)[c] << 16);
    case TENSOR_Q8_0: {
      const uint8_t *block = bytes + (c / 32) * 34;
      double d = ref_f16_value((uint16_t)(block[0] | block[1] << 8));
      return d * (int8_t)block[2 + c % 32];
    }
  }
  return NAN;
}

/* Encodes floats as a row of dtype with the test's own encoders.  How each
** value is rounded does not matter: references read the row, not v. */
static void make_row(tensor_dtype dtype, const float *v, size_t cols, void *row){
  switch( dtype ){
    case TENSOR_F32: memcpy(row, v, cols * sizeof(float)); break;
    case TENSOR_F16:
      for(size_t c = 0; c < cols; c++) ((uint16_t *)row)[c] = ref_f32_to_f16(v[c]);
      break;
    case TENSOR_BF16:   /* truncated to the top 16 bits */
      for(size_t c = 0; c < cols; c++) ((uint16_t *)row)[c] = (uint16_t)(f32_to_bits(v[c]) >> 16);
      break;
    case TENSOR_Q8_0: ref_quantize_q8_0(v, row, cols); break;
  }
}

/* ---- dispatch ----------------------------------------------------------------- */

START_TEST(test_dispatch){
  choose_path(_i);
  int avx2 = 0, avx512 = 0;   /* no path but the portable one off x86-64 */
#if HAVE_X86_KERNELS
  __builtin_cpu_init();
  avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
      && __builtin_cpu_supports("f16c");
  avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
  const char *want = _i == 2 && avx512 ? "avx512-vnni" : _i >= 1 && avx2 ? "avx2" : "scalar";
  ck_assert_str_eq(kernels_isa(), want);
}
END_TEST

/* ---- conversions ---------------------------------------------------------- */

START_TEST(test_f16_known){
  choose_path(_i);
  ck_assert_float_eq(kernel_f16_to_f32(0x3c00), 1.0f);
  ck_assert_float_eq(kernel_f16_to_f32(0xc000), -2.0f);
  ck_assert_float_eq(kernel_f16_to_f32(0x7bff), 65504.0f);
  ck_assert_float_eq(kernel_f16_to_f32(0x0001), 0x1p-24f);   /* smallest subnormal */
  ck_assert_float_eq(kernel_f16_to_f32(0x03ff), 1023 * 0x1p-24f);
  ck_assert_float_eq(kernel_f16_to_f32(0x0400), 0x1p-14f);   /* smallest normal */
  ck_assert(signbit(kernel_f16_to_f32(0x8000)) && kernel_f16_to_f32(0x8000) == 0.0f);
  ck_assert(isinf(kernel_f16_to_f32(0x7c00)) && kernel_f16_to_f32(0x7c00) > 0);
  ck_assert(isinf(kernel_f16_to_f32(0xfc00)) && kernel_f16_to_f32(0xfc00) < 0);
  ck_assert(isnan(kernel_f16_to_f32(0x7e00)));

  ck_assert_uint_eq(kernel_f32_to_f16(1.0f), 0x3c00);
  ck_assert_uint_eq(kernel_f32_to_f16(-2.0f), 0xc000);
  ck_assert_uint_eq(kernel_f32_to_f16(65504.0f), 0x7bff);
  ck_assert_uint_eq(kernel_f32_to_f16(65519.99f), 0x7bff);
  ck_assert_uint_eq(kernel_f32_to_f16(65520.0f), 0x7c00);    /* tie goes to even: inf */
  ck_assert_uint_eq(kernel_f32_to_f16(1e10f), 0x7c00);
  ck_assert_uint_eq(kernel_f32_to_f16(-INFINITY), 0xfc00);
  ck_assert_uint_eq(kernel_f32_to_f16(0x1p-24f), 0x0001);
  ck_assert_uint_eq(kernel_f32_to_f16(0x1p-25f), 0x0000);    /* tie between 0 and 1 unit */
  ck_assert_uint_eq(kernel_f32_to_f16(0x1.8p-25f), 0x0001);
  ck_assert_uint_eq(kernel_f32_to_f16(0x1.8p-24f), 0x0002);  /* 1.5 units: tie to 2 */
  ck_assert_uint_eq(kernel_f32_to_f16(0x1.4p-23f), 0x0002);  /* 2.5 units: tie to 2 */
  ck_assert_uint_eq(kernel_f32_to_f16(0x1.ffcp-15f), 0x0400); /* 1023.5 units: up to normal */
  ck_assert_uint_eq(kernel_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie: stays even */
  ck_assert_uint_eq(kernel_f32_to_f16(1.0f + 0x1.8p-10f), 0x3c02); /* tie: up to even */
  ck_assert_uint_eq(kernel_f32_to_f16(1e-10f), 0x0000);
  ck_assert_uint_eq(kernel_f32_to_f16(-1e-10f), 0x8000);
  uint16_t nan = kernel_f32_to_f16(NAN);
  ck_assert((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
  /* A NaN whose payload is only in the low 13 bits must not become inf. */
  uint16_t low_nan = kernel_f32_to_f16(bits_to_f32(0x7f800001));
  ck_assert((low_nan & 0x7c00) == 0x7c00 && (low_nan & 0x3ff) != 0);
}
END_TEST

START_TEST(test_f16_all_values){
  choose_path(_i);
  for(uint32_t h = 0; h < 65536; h++){
    float f = kernel_f16_to_f32((uint16_t)h);
    double expected = ref_f16_value((uint16_t)h);
    if( isnan(expected) ) ck_assert_msg(isnan(f), "0x%04x", h);
    else ck_assert_msg((double)f == expected && !signbit(f) == !signbit(expected), "0x%04x", h);
    ck_assert_msg(kernel_f32_to_f16(f) == h, "round trip of 0x%04x", h);
  }
}
END_TEST

START_TEST(test_f16_rounding){
  choose_path(_i);
  rng_state = 1;
  for(int t = 0; t < 200000; t++){
    /* Magnitudes from 2^-27 to 2^17: subnormal, normal and overflowing. */
    float v = ldexpf(rng_uniform(), (int)(rng_next() % 45) - 27);
    ck_assert_msg(kernel_f32_to_f16(v) == ref_f32_to_f16(v), "%a", (double)v);
  }
}
END_TEST

START_TEST(test_bf16){
  choose_path(_i);
  ck_assert_float_eq(kernel_bf16_to_f32(0x3f80), 1.0f);
  ck_assert_float_eq(kernel_bf16_to_f32(0xc040), -3.0f);
  ck_assert_uint_eq(kernel_f32_to_bf16(1.0f), 0x3f80);
  ck_assert_uint_eq(kernel_f32_to_bf16(bits_to_f32(0x3f808000)), 0x3f80);  /* tie: even */
  ck_assert_uint_eq(kernel_f32_to_bf16(bits_to_f32(0x3f818000)), 0x3f82);  /* tie: even */
  ck_assert_uint_eq(kernel_f32_to_bf16(bits_to_f32(0x3f808001)), 0x3f81);
  ck_assert_uint_eq(kernel_f32_to_bf16(bits_to_f32(0x3f807fff)), 0x3f80);
  ck_assert_uint_eq(kernel_f32_to_bf16(bits_to_f32(0x00010000)), 0x0001);  /* subnormal */
  ck_assert_uint_eq(kernel_f32_to_bf16(3.4028235e38f), 0x7f80);   /* FLT_MAX rounds to inf */
  ck_assert_uint_eq(kernel_f32_to_bf16(-INFINITY), 0xff80);
  uint16_t nan = kernel_f32_to_bf16(bits_to_f32(0x7f800001));
  ck_assert((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0);
  for(uint32_t h = 0; h < 65536; h++){
    float f = kernel_bf16_to_f32((uint16_t)h);
    ck_assert_uint_eq(f32_to_bits(f), h << 16);
    if( !isnan(f) ) ck_assert_msg(kernel_f32_to_bf16(f) == h, "0x%04x", h);
  }
}
END_TEST

/* ---- Q8_0 ------------------------------------------------------------------- */

START_TEST(test_q8_0_known){
  choose_path(_i);
  float x[96];
  uint8_t blocks[3 * 34];
  /* Block 0: j - 16.  d = 16/127 -> f16 0x3008, id = 7.9375; -8 and 8 land
  ** on -63.5 and 63.5, which round away from zero. */
  static const int8_t q0[32] = {
    -127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48, -40, -32, -24, -16, -8,
    0, 8, 16, 24, 32, 40, 48, 56, 64, 71, 79, 87, 95, 103, 111, 119 };
  for(int j = 0; j < 32; j++) x[j] = (float)(j - 16);
  /* Block 1: all zero, so d = 0 and id = 0. */
  for(int j = 32; j < 64; j++) x[j] = 0.0f;
  /* Block 2: amax 127 gives d = 1, so q = roundf(x) and the ties show. */
  static const float v2[8] = { 127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, 0.49999997f, -126.5f };
  static const int8_t q2[8] = { 127, 3, -3, 1, -1, 2, 0, -127 };
  for(int j = 64; j < 96; j++) x[j] = j < 72 ? v2[j - 64] : 0.0f;

  kernel_quantize_q8_0(x, blocks, 96);
  ck_assert_uint_eq(blocks[0] | blocks[1] << 8, 0x3008);
  for(int j = 0; j < 32; j++) ck_assert_int_eq((int8_t)blocks[2 + j], q0[j]);
  for(int j = 0; j < 34; j++) ck_assert_uint_eq(blocks[34 + j], 0);
  ck_assert_uint_eq(blocks[68] | blocks[69] << 8, 0x3c00);
  for(int j = 0; j < 8; j++) ck_assert_int_eq((int8_t)blocks[70 + j], q2[j]);

  float out[96];
  kernel_dequantize(TENSOR_Q8_0, blocks, out, 96);
  ck_assert_float_eq(out[0], -127 * 0.1259765625f);    /* 0x3008 = 0.1259765625 */
  ck_assert_float_eq(out[64 + 1], 3.0f);
}
END_TEST

START_TEST(test_q8_0_random){
  choose_path(_i);
  enum { N = 32 * 64 };
  static float x[N], out[N];
  static uint8_t got[N / 32 * 34], want[N / 32 * 34];
  rng_state = 2;
  for(int scale = -12; scale <= 12; scale += 3){
    for(int i = 0; i < N; i++) x[i] = ldexpf(rng_uniform(), scale);
    x[5] = 0.0f;
    kernel_quantize_q8_0(x, got, N);
    ref_quantize_q8_0(x, want, N);
    ck_assert_msg(memcmp(got, want, sizeof got) == 0, "scale 2^%d", scale);

    /* |x - q*d16| <= d/2 + 127*|d - d16|: half a step, plus what storing d
    ** as f16 costs the largest q. */
    kernel_dequantize(TENSOR_Q8_0, got, out, N);
    for(int b = 0; b < N / 32; b++){
      /* in floats, then widened (exact): a float-to-double max reduction
      ** crashes Debian 12's aarch64 cross gcc at -O2 (vect_transform_reduction) */
      float block_max = 0;
      for(int j = 0; j < 32; j++) block_max = fmaxf(block_max, fabsf(x[32 * b + j]));
      double amax = block_max;
      double d = (float)(amax / 127), d16 = ref_f16_value((uint16_t)(got[34 * b] | got[34 * b + 1] << 8));
      double bound = d / 2 + 127 * fabs(d - d16) + 1e-6 * d;
      for(int j = 0; j < 32; j++){
        ck_assert_msg(fabs(x[32 * b + j] - out[32 * b + j]) <= bound, "block %d elt %d", b, j);
      }
    }
  }
}
END_TEST

START_TEST(test_dequantize){
  choose_path(_i);
  enum { N = 64 };
  static const tensor_dtype dtypes[] = { TENSOR_F32, TENSOR_F16, TENSOR_BF16, TENSOR_Q8_0 };
  float v[N], out[N];
  uint8_t row[N * 4];
  rng_state = 3;
  for(int i = 0; i < N; i++) v[i] = 10.0f * rng_uniform();
  for(size_t t = 0; t < 4; t++){
    make_row(dtypes[t], v, N, row);
    kernel_dequantize(dtypes[t], row, out, N);
    for(int i = 0; i < N; i++){
      ck_assert_msg((double)out[i] == ref_element(dtypes[t], row, (size_t)i), "dtype %d elt %d", dtypes[t], i);
    }
  }
}
END_TEST

/* ---- matmul ------------------------------------------------------------- */

/* What the references read: W's rows and X's rows, each row-major in a
** dtype (X as f32 rows, or as the Q8_0 rows a kernel multiplies). */
typedef struct product_ref {
  tensor_dtype w_dtype;
  const uint8_t *w;
  size_t w_row_bytes;
  tensor_dtype x_dtype;
  const uint8_t *x;
  size_t x_row_bytes;
} product_ref;

/* Y (n rows, y_stride apart), written over y0, against a double loop:
** within 1e-5 of sum |w x| (float sums of a few hundred terms), y0 added
** when accumulating, and the stride padding of Y left alone. */
static void check_product(const product_ref *ref, size_t rows, size_t cols, size_t n,
                          const float *y, const float *y0, size_t y_stride, int accumulate){
  for(size_t i = 0; i < n; i++){
    for(size_t r = 0; r < y_stride; r++){
      float got = y[i * y_stride + r];
      if( r >= rows ){
        ck_assert_msg(got == y0[i * y_stride + r], "stride padding written at %zu,%zu", i, r);
        continue;
      }
      double sum = 0, magnitude = 0;
      for(size_t c = 0; c < cols; c++){
        double term = ref_element(ref->w_dtype, ref->w + r * ref->w_row_bytes, c)
                    * ref_element(ref->x_dtype, ref->x + i * ref->x_row_bytes, c);
        sum += term;
        magnitude += fabs(term);
      }
      if( accumulate ){
        sum += y0[i * y_stride + r];
        magnitude += fabs(y0[i * y_stride + r]);
      }
      ck_assert_msg(fabs(got - sum) <= 1e-5 * magnitude + 1e-30,
                    "w dtype %d rows %zu cols %zu n %zu acc %d: y[%zu][%zu] = %.9g, want %.9g",
                    ref->w_dtype, rows, cols, n, accumulate, i, r, got, sum);
    }
  }
}

/* One dense matmul case: Y (+)= W X with padded strides. */
static void check_matmul(tensor_dtype dtype, size_t rows, size_t cols, size_t n, int accumulate){
  const size_t row_bytes = tensor_row_bytes(dtype, cols);
  const size_t x_stride = cols + 3, y_stride = rows + 5;
  float *wv = malloc(cols * sizeof(float));
  uint8_t *w = malloc(rows * row_bytes);
  float *x = malloc(n * x_stride * sizeof(float));
  float *y = malloc(n * y_stride * sizeof(float));
  float *y0 = malloc(n * y_stride * sizeof(float));

  for(size_t r = 0; r < rows; r++){
    for(size_t c = 0; c < cols; c++) wv[c] = rng_uniform() * (1.0f + (float)(c % 7));
    make_row(dtype, wv, cols, w + r * row_bytes);
  }
  for(size_t i = 0; i < n * x_stride; i++) x[i] = rng_uniform();
  for(size_t i = 0; i < n * y_stride; i++) y0[i] = y[i] = rng_uniform();

  kernel_matmul(dtype, w, rows, cols, x, x_stride, n, y, y_stride, accumulate);

  product_ref ref = { dtype, w, row_bytes, TENSOR_F32, (const uint8_t *)x, x_stride * sizeof(float) };
  check_product(&ref, rows, cols, n, y, y0, y_stride, accumulate);
  free(wv); free(w); free(x); free(y); free(y0);
}

static const size_t matmul_n[] = { 1, 3, 17 };
static const size_t matmul_rows[] = { 1, 7, 33 };

static void check_matmul_dtype(tensor_dtype dtype){
  static const size_t cols[] = { 1, 13, 64, 259 };
  for(size_t a = 0; a < 3; a++)
    for(size_t b = 0; b < 3; b++)
      for(size_t c = 0; c < 4; c++)
        for(int accumulate = 0; accumulate < 2; accumulate++)
          check_matmul(dtype, matmul_rows[b], cols[c], matmul_n[a], accumulate);
}

START_TEST(test_matmul_f32){ choose_path(_i); rng_state = 10; check_matmul_dtype(TENSOR_F32); }
END_TEST
START_TEST(test_matmul_f16){ choose_path(_i); rng_state = 11; check_matmul_dtype(TENSOR_F16); }
END_TEST
START_TEST(test_matmul_bf16){ choose_path(_i); rng_state = 12; check_matmul_dtype(TENSOR_BF16); }
END_TEST

/* A Q8_0 tile of `rows` random rows (row-major blocks in rows_out, the
** tile laid out by tensor_tile_pack, which test_tensor checks) and n
** activation rows of cols floats. */
typedef struct q8_0_case {
  size_t rows, cols, n;
  uint8_t *w_rows, *tile;
  float *x;
} q8_0_case;

static q8_0_case q8_0_case_make(size_t rows, size_t cols, size_t n){
  q8_0_case k = { rows, cols, n, 0, 0, 0 };
  const size_t row_bytes = tensor_row_bytes(TENSOR_Q8_0, cols);
  float *v = malloc(cols * sizeof(float));
  k.w_rows = malloc(rows * row_bytes);
  k.tile = malloc(tensor_tile_bytes(TENSOR_Q8_0, rows, cols));
  k.x = malloc(n * cols * sizeof(float));
  for(size_t r = 0; r < rows; r++){
    for(size_t c = 0; c < cols; c++) v[c] = rng_uniform() * (1.0f + (float)(c % 7));
    make_row(TENSOR_Q8_0, v, cols, k.w_rows + r * row_bytes);
  }
  if( rows > 2 ){
    /* -128 is outside ggml's quantizer range but legal in a file. */
    k.w_rows[row_bytes + 2] = 0x80;
    k.w_rows[2 * row_bytes + 2 + 31] = 0x80;
  }
  tensor_tile_pack(TENSOR_Q8_0, k.w_rows, rows, cols, k.tile);
  for(size_t i = 0; i < n * cols; i++) k.x[i] = rng_uniform();
  free(v);
  return k;
}

static void q8_0_case_free(q8_0_case *k){
  free(k->w_rows); free(k->tile); free(k->x);
}

/* Y = W X through kernel_input, against W's rows and X quantized by the
** test's own restatement of llama.cpp's run-time quantizer: the integer
** dots are exact, so only the float sums differ. */
static void check_matmul_q8_0(size_t rows, size_t cols, size_t n){
  q8_0_case k = q8_0_case_make(rows, cols, n);
  const size_t row_bytes = tensor_row_bytes(TENSOR_Q8_0, cols), y_stride = rows + 5;
  uint8_t *xq = malloc(n * row_bytes);
  float *y = malloc(n * y_stride * sizeof(float)), *y0 = malloc(n * y_stride * sizeof(float));
  for(size_t i = 0; i < n; i++) ref_quantize_activation(k.x + i * cols, xq + i * row_bytes, cols);
  for(size_t i = 0; i < n * y_stride; i++) y0[i] = y[i] = rng_uniform();

  kernel_input in;
  ck_assert_int_eq(kernel_input_prepare(&in, TENSOR_Q8_0, k.x, n, cols), 0);
  kernel_matmul_input(&in, k.tile, rows, y, y_stride);
  kernel_input_free(&in);

  product_ref ref = { TENSOR_Q8_0, k.w_rows, row_bytes, TENSOR_Q8_0, xq, row_bytes };
  check_product(&ref, rows, cols, n, y, y0, y_stride, 0);
  free(xq); free(y); free(y0);
  q8_0_case_free(&k);
}

START_TEST(test_matmul_q8_0){
  static const size_t cols[] = { 32, 96, 896 };
  choose_path(_i);
  rng_state = 14;
  for(size_t a = 0; a < 3; a++)
    for(size_t b = 0; b < 3; b++)
      for(size_t c = 0; c < 3; c++) check_matmul_q8_0(matmul_rows[b], cols[c], matmul_n[a]);
  /* several groups and a short last one; more activation rows than a
  ** kernel's batch */
  check_matmul_q8_0(53, 96, 70);
  check_matmul_q8_0(16, 32 * 257, 3);
  /* decode of short rows, 4 groups side by side on AVX2 and the rest one
  ** by one */
  check_matmul_q8_0(75, 96, 1);
}
END_TEST

/* W X for every activation row at once, as one Q8_0 product. */
static float *q8_0_product(const q8_0_case *k, const float *x, size_t n){
  float *y = malloc(n * k->rows * sizeof(float));
  kernel_input in;
  ck_assert_int_eq(kernel_input_prepare(&in, TENSOR_Q8_0, x, n, k->cols), 0);
  kernel_matmul_input(&in, k->tile, k->rows, y, k->rows);
  kernel_input_free(&in);
  return y;
}

/* A token's product is the same bits whether it is one activation row
** (decode) or one of many (prefill), and whichever rows of the tile a task
** computes. */
static void check_decode_is_prefill(size_t rows, size_t cols, size_t n){
  q8_0_case k = q8_0_case_make(rows, cols, n);
  float *all = q8_0_product(&k, k.x, n);
  for(size_t i = 0; i < n; i++){
    float *one = q8_0_product(&k, k.x + i * cols, 1);
    ck_assert_msg(memcmp(one, all + i * rows, rows * sizeof(float)) == 0,
                  "cols %zu: activation row %zu differs", cols, i);
    free(one);
  }
  q8_0_case head = k;
  head.rows = 16;
  float *part = q8_0_product(&head, k.x, n);
  for(size_t i = 0; i < n; i++){
    ck_assert_msg(memcmp(part + i * 16, all + i * rows, 16 * sizeof(float)) == 0,
                  "cols %zu: the first group alone differs at row %zu", cols, i);
  }
  free(part);
  free(all);
  q8_0_case_free(&k);
}

START_TEST(test_matmul_q8_0_decode_is_prefill){
  choose_path(_i);
  rng_state = 15;
  check_decode_is_prefill(43, 896, 35);
  check_decode_is_prefill(20, 32 * 257, 5);
  /* rows long enough for decode to take groups side by side (kernels_avx2.c,
  ** kernels_avx512.c), and a group and a short one left over */
  check_decode_is_prefill(91, 32 * 65, 3);
  /* short rows, which AVX2 decode takes side by side too; prefill passes
  ** of 4 activation rows and one of 2 */
  check_decode_is_prefill(75, 96, 6);
}
END_TEST

/* Every path gives the same bits (kernels.h), so greedy output does not
** depend on the machine's instruction set: the products of this path and
** of the scalar code, compared. */
static void check_paths_agree(size_t rows, size_t cols, size_t n, int path){
  q8_0_case k = q8_0_case_make(rows, cols, n);
  choose_path(0);
  float *scalar = q8_0_product(&k, k.x, k.n);
  choose_path(path);
  float *got = q8_0_product(&k, k.x, k.n);
  ck_assert_msg(memcmp(scalar, got, k.n * k.rows * sizeof(float)) == 0,
                "%s differs from scalar (%zu x %zu, %zu activations)", kernels_isa(), rows, cols, n);
  free(scalar); free(got);
  q8_0_case_free(&k);
}

START_TEST(test_matmul_q8_0_paths_agree){
  rng_state = 16;
  check_paths_agree(37, 32 * 29, 11, _i);
  check_paths_agree(91, 32 * 65, 1, _i);   /* decode of long rows */
  check_paths_agree(75, 96, 1, _i);        /* and of short ones */
}
END_TEST

/* ---- the O(d) kernels ----------------------------------------------------- */

START_TEST(test_rmsnorm){
  choose_path(_i);
  enum { D = 896 };
  static float x[D], weight[D], out[D];
  rng_state = 20;
  for(int i = 0; i < D; i++){ x[i] = 3.0f * rng_uniform(); weight[i] = rng_uniform(); }
  double ss = 0;
  for(int i = 0; i < D; i++) ss += (double)x[i] * x[i];
  double inv_rms = 1.0 / sqrt(ss / D + 1e-6);
  kernel_rmsnorm(out, x, weight, D, 1e-6f);
  for(int i = 0; i < D; i++) ck_assert_close(out[i], x[i] * inv_rms * weight[i], 1e-6);
  /* In place. */
  float expected0 = out[0];
  kernel_rmsnorm(x, x, weight, D, 1e-6f);
  ck_assert_float_eq(x[0], expected0);
}
END_TEST

static void check_rope(rope_style style, size_t n_heads, size_t head_dim, int64_t pos, float theta){
  float x[4 * 128], before[4 * 128];
  float rot[128];
  for(size_t i = 0; i < n_heads * head_dim; i++) before[i] = x[i] = rng_uniform();
  kernel_rope_rotation(rot, head_dim, pos, theta);
  kernel_rope(x, n_heads, head_dim, rot, style);
  for(size_t h = 0; h < n_heads; h++){
    for(size_t i = 0; i < head_dim / 2; i++){
      double angle = (double)pos * pow(theta, -2.0 * (double)i / (double)head_dim);
      size_t a = style == ROPE_ADJACENT ? 2 * i : i;
      size_t b = style == ROPE_ADJACENT ? 2 * i + 1 : i + head_dim / 2;
      const float *in = before + h * head_dim;
      double want_a = in[a] * cos(angle) - in[b] * sin(angle);
      double want_b = in[a] * sin(angle) + in[b] * cos(angle);
      ck_assert_close(x[h * head_dim + a], want_a, 1e-6);
      ck_assert_close(x[h * head_dim + b], want_b, 1e-6);
    }
  }
}

START_TEST(test_rope){
  choose_path(_i);
  rng_state = 21;
  for(int style = 0; style < 2; style++){
    check_rope((rope_style)style, 3, 64, 0, 10000.0f);
    check_rope((rope_style)style, 3, 64, 1, 10000.0f);
    check_rope((rope_style)style, 2, 64, 12345, 1e6f);
    check_rope((rope_style)style, 4, 128, 32767, 500000.0f);
    check_rope((rope_style)style, 1, 8, 7, 10000.0f);
  }
  /* The two styles touch different pairs: head_dim 4, pos 1, theta 1 makes
  ** both angles 1 radian; (1,0,0,0) becomes (cos, sin, 0, 0) or
  ** (cos, 0, sin, 0). */
  float adjacent[4] = { 1, 0, 0, 0 }, halves[4] = { 1, 0, 0, 0 }, rot[4];
  kernel_rope_rotation(rot, 4, 1, 1.0f);
  kernel_rope(adjacent, 1, 4, rot, ROPE_ADJACENT);
  kernel_rope(halves, 1, 4, rot, ROPE_HALVES);
  ck_assert_close(adjacent[1], sin(1.0), 1e-7);
  ck_assert_close(adjacent[2], 0.0, 0);
  ck_assert_close(halves[1], 0.0, 0);
  ck_assert_close(halves[2], sin(1.0), 1e-7);
}
END_TEST

START_TEST(test_softmax){
  choose_path(_i);
  float x[100];
  double e[100], sum = 0;
  rng_state = 22;
  for(int i = 0; i < 100; i++){ x[i] = 5.0f * rng_uniform(); e[i] = exp(x[i]); sum += e[i]; }
  kernel_softmax(x, 100);
  double total = 0;
  for(int i = 0; i < 100; i++){ ck_assert_close(x[i], e[i] / sum, 1e-7); total += x[i]; }
  ck_assert_close(total, 1.0, 1e-6);

  /* exp(1000) overflows; the softmax must not. */
  float big[3] = { 1000.0f, 1001.0f, 999.0f };
  kernel_softmax(big, 3);
  double z = exp(-1.0) + 1.0 + exp(-2.0);
  ck_assert_close(big[0], exp(-1.0) / z, 1e-7);
  ck_assert_close(big[1], 1.0 / z, 1e-7);
  ck_assert_close(big[2], exp(-2.0) / z, 1e-7);

  float masked[3] = { 0.5f, -INFINITY, 0.5f };
  kernel_softmax(masked, 3);
  ck_assert_float_eq(masked[1], 0.0f);
  ck_assert_close(masked[0], 0.5, 1e-7);
}
END_TEST

START_TEST(test_silu_mul){
  choose_path(_i);
  float gate[64], up[64], out[64];
  rng_state = 23;
  for(int i = 0; i < 64; i++){ gate[i] = 8.0f * rng_uniform(); up[i] = rng_uniform(); }
  gate[0] = -200.0f;   /* e^200 overflows f32: the product must still be (-)0 */
  gate[1] = 200.0f;
  kernel_silu_mul(out, gate, up, 64);
  for(int i = 0; i < 64; i++){
    double g = gate[i];
    ck_assert_close(out[i], g / (1.0 + exp(-g)) * up[i], 1e-6 * (1 + fabs(g)));
  }
  ck_assert(out[0] == 0.0f);
}
END_TEST

/* Head sizes of 8 (stories260K), 64 (Qwen2.5) and 136 (64-float blocks
** and a tail). */
START_TEST(test_attend){
  choose_path(_i);
  enum { MAX_DIM = 136, STRIDE = 2 * MAX_DIM + 3, MAX_CTX = 37 };
  static float q[MAX_DIM], k[MAX_CTX * STRIDE], v[MAX_CTX * STRIDE];
  float out[MAX_DIM], scores[MAX_CTX];
  rng_state = 24;
  for(int i = 0; i < MAX_DIM; i++) q[i] = 2.0f * rng_uniform();
  for(int i = 0; i < MAX_CTX * STRIDE; i++){ k[i] = rng_uniform(); v[i] = rng_uniform(); }
  static const size_t contexts[] = { 1, 5, MAX_CTX }, dims[] = { 8, 64, MAX_DIM };
  for(int c = 0; c < 9; c++){
    size_t n_ctx = contexts[c % 3], head_dim = dims[c / 3];
    double weight[MAX_CTX], max = -INFINITY, sum = 0;
    for(size_t t = 0; t < n_ctx; t++){
      double dot = 0;
      for(size_t j = 0; j < head_dim; j++) dot += (double)q[j] * k[t * STRIDE + j];
      weight[t] = dot / sqrt((double)head_dim);
      max = fmax(max, weight[t]);
    }
    for(size_t t = 0; t < n_ctx; t++){ weight[t] = exp(weight[t] - max); sum += weight[t]; }
    kernel_attend(out, q, k, v, STRIDE, n_ctx, head_dim, scores);
    for(size_t j = 0; j < head_dim; j++){
      double want = 0;
      for(size_t t = 0; t < n_ctx; t++) want += weight[t] / sum * v[t * STRIDE + j];
      ck_assert_close(out[j], want, 1e-6);
    }
    for(size_t t = 0; t < n_ctx; t++) ck_assert_close(scores[t], weight[t] / sum, 1e-6);
  }
}
END_TEST

static Suite *kernels_suite(void){
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("kernels");
  /* Each loop test runs with _i = 0 (scalar) and _i = 1 (best path). */
  tcase_add_loop_test(tc, test_dispatch, 0, 3);
  tcase_add_loop_test(tc, test_f16_known, 0, 3);
  tcase_add_loop_test(tc, test_f16_all_values, 0, 3);
  tcase_add_loop_test(tc, test_f16_rounding, 0, 3);
  tcase_add_loop_test(tc, test_bf16, 0, 3);
  tcase_add_loop_test(tc, test_q8_0_known, 0, 3);
  tcase_add_loop_test(tc, test_q8_0_random, 0, 3);
  tcase_add_loop_test(tc, test_dequantize, 0, 3);
  tcase_add_loop_test(tc, test_matmul_f32, 0, 3);
  tcase_add_loop_test(tc, test_matmul_f16, 0, 3);
  tcase_add_loop_test(tc, test_matmul_bf16, 0, 3);
  tcase_add_loop_test(tc, test_matmul_q8_0, 0, 3);
  tcase_add_loop_test(tc, test_matmul_q8_0_decode_is_prefill, 0, 3);
  tcase_add_loop_test(tc, test_matmul_q8_0_paths_agree, 0, 3);
  tcase_add_loop_test(tc, test_rmsnorm, 0, 3);
  tcase_add_loop_test(tc, test_rope, 0, 3);
  tcase_add_loop_test(tc, test_softmax, 0, 3);
  tcase_add_loop_test(tc, test_silu_mul, 0, 3);
  tcase_add_loop_test(tc, test_attend, 0, 3);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(kernels_suite)
