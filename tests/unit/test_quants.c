/*
** test_quants.c: the block types GGUF files hold beyond Q8_0 (quants.h),
** against llama.cpp's own files in ../shared/models/kquants (SOURCE.md):
**
** - dequantization: the first two rows of three tensors of each file (Q4_0,
**   Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K), as gguf-py dequantized them,
**   equal ours bit for bit;
** - the product: each row of those tensors against an activation row is
**   the f32 product of the dequantized row within the bound that the
**   activation's rounding allows (each value moves by at most half a step
**   of its block's scale), on every code path;
** - every code path gives the same bits, on rows of any length;
** - Q4_0 quantization from floats equals llama-quantize's, byte for byte;
** - Q8_K quantization keeps each value within half a step of its scale
**   and gives the largest magnitude -127;
** - a scale or minimum that is NaN or infinite is found in its block.
*/
#include "../testutil.h"

#include <math.h>
#include <string.h>

#include "format/gguf.h"
#include "kernels/kernels.h"
#include "kernels/quants.h"

#define KQ(f) SHARED("models/kquants/" f)

/* The files, and the type of their blk.0.ffn_up (the file's base type;
** ffn_down is Q3_K in q2_k and Q4_K in q3_k_m, SOURCE.md). */
static const struct { const char *file; tensor_dtype dtype; } typed_files[] = {
  { "q4_0", TENSOR_Q4_0 }, { "q4_1", TENSOR_Q4_1 }, { "q5_0", TENSOR_Q5_0 },
  { "q5_1", TENSOR_Q5_1 }, { "iq4_nl", TENSOR_IQ4_NL }, { "q2_k", TENSOR_Q2_K },
  { "q3_k_m", TENSOR_Q3_K }, { "q4_k_m", TENSOR_Q4_K }, { "q5_k_m", TENSOR_Q5_K },
  { "q6_k", TENSOR_Q6_K },
};
static const char *const tensors[] = {
  "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "token_embd.weight"
};

/* The raw rows of a tensor of a kq-tiny file: its data, dtype and row length. */
typedef struct raw_tensor {
  gguf *g;
  const uint8_t *data;
  tensor_dtype dtype;
  size_t cols;
} raw_tensor;

static raw_tensor raw_open(const char *type, const char *name){
  char path[512], err[256];
  snprintf(path, sizeof path, KQ("kq-tiny-%s.gguf"), type);
  raw_tensor r = { gguf_open(path, err, sizeof err), 0, 0, 0 };
  ck_assert_msg(r.g != 0, "%s: %s", path, err);
  const gguf_tensor *t = gguf_find_tensor(r.g, name);
  ck_assert_msg(t != 0, "%s: no %s", path, name);
  r.data = t->data;
  r.dtype = (tensor_dtype)t->type;
  r.cols = (size_t)t->ne[0];
  return r;
}

/* gguf-py's first two rows of tensor `name` of kq-tiny-<type>.gguf. */
static float *reference_rows(const char *type, const char *name, size_t cols){
  char path[512];
  snprintf(path, sizeof path, KQ("kq-tiny-%s.%s.rows01.f32"), type, name);
  float *rows = malloc(2 * cols * sizeof *rows);
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != 0, "%s", path);
  ck_assert_uint_eq(fread(rows, sizeof *rows, 2 * cols, f), 2 * cols);
  fclose(f);
  return rows;
}

START_TEST(test_dequantize_as_gguf_py){
  const char *type = typed_files[_i].file;
  for(size_t k = 0; k < sizeof tensors / sizeof tensors[0]; k++){
    raw_tensor t = raw_open(type, tensors[k]);
    if( k == 0 ) ck_assert_int_eq(t.dtype, typed_files[_i].dtype);
    float *want = reference_rows(type, tensors[k], t.cols), got[768];
    size_t row_bytes = tensor_row_bytes(t.dtype, t.cols);
    ck_assert_uint_gt(row_bytes, 0);
    for(size_t r = 0; r < 2; r++){
      kernel_dequantize(t.dtype, t.data + r * row_bytes, got, t.cols);
      for(size_t c = 0; c < t.cols; c++){
        ck_assert_msg(memcmp(&got[c], &want[r * t.cols + c], 4) == 0, "%s %s row %zu col %zu: %.9g != %.9g",
                      type, tensors[k], r, c, got[c], want[r * t.cols + c]);
      }
    }
    free(want);
    gguf_close(t.g);
  }
}
END_TEST

/* The next of a linear congruential sequence: plenty for test data. */
static unsigned next_random(unsigned *seed){
  return *seed = *seed * 1103515245u + 12345u;
}

/* An activation row with a spread of magnitudes, a zero block among them. */
static void activation(float *x, size_t n, unsigned seed){
  for(size_t c = 0; c < n; c++){
    next_random(&seed);
    x[c] = ((float)(seed >> 8 & 0xffff) / 32768.0f - 1.0f) * (1.0f + (float)(c % 97) / 10.0f);
  }
  for(size_t c = 32; c < 64 && c < n; c++) x[c] = 0.0f;
}

/* The product on every path: within the activation's rounding of the
** dequantized row's f32 product.  Each x moves by at most half a step,
** step = amax / 127 with amax the largest |x| of its block (32 values a
** block; 256 for the k-quants), plus the f16 rounding of the Q8_0 scale,
** amax / 2048; so |error| <= sum |w_c| * amax_c * (1/254 + 1/2048).  For
** Q8_1 the block's m multiplies the sum of the block's values times the
** unrounded scale, itself rounded to f16, while code * d_w multiplies
** the rounded scale: so |m| and |code * d_w|, each at most the block's
** largest |w| (m is the block's least value), take up to another
** amax / 2048 per value, and |sum| / 2048.  And the sums' own rounding. */
START_TEST(test_product_within_the_activation_rounding){
  const char *type = typed_files[_i].file;
  for(int path = KERNELS_SCALAR; path <= KERNELS_AVX512; path++){
    kernels_limit((kernel_isa)path);
    for(size_t k = 0; k < sizeof tensors / sizeof tensors[0]; k++){
      raw_tensor t = raw_open(type, tensors[k]);
      const size_t block = quant_activation_of(t.dtype) == QUANT_ACT_Q8_K ? 256 : 32;
      float x[2 * 768], w[768], y[2 * 2];
      activation(x, 2 * t.cols, (unsigned)(k + 1));
      kernel_input in;
      ck_assert_int_eq(kernel_input_prepare(&in, t.dtype, x, 2, t.cols), 0);
      kernel_matmul_input(&in, t.data, 2, y, 2);
      for(size_t r = 0; r < 2; r++){
        kernel_dequantize(t.dtype, t.data + r * tensor_row_bytes(t.dtype, t.cols), w, t.cols);
        for(size_t i = 0; i < 2; i++){
          const float *xi = x + i * t.cols;
          double exact = 0, bound = 0;
          for(size_t b = 0; b < t.cols; b += block){
            double amax = 0, wmax = 0, xsum = 0;
            for(size_t c = b; c < b + block; c++){
              amax = fmax(amax, fabs(xi[c]));
              wmax = fmax(wmax, fabs(w[c]));
              xsum += xi[c];
            }
            for(size_t c = b; c < b + block; c++){
              exact += (double)w[c] * xi[c];
              bound += fabs(w[c]) * amax * (1.0 / 254 + 1.0 / 2048) + fabs(w[c] * xi[c]) * 1e-5;
            }
            if( quant_activation_of(t.dtype) == QUANT_ACT_Q8_1 ){
              bound += wmax * (2 * (double)block * amax + fabs(xsum)) / 2048;
            }
          }
          ck_assert_msg(fabs(y[i * 2 + r] - exact) <= bound + 1e-6, "%s %s path %d row %zu x %zu:"
                        " %.7g vs %.7g (bound %.3g)", type, tensors[k], path, r, i,
                        y[i * 2 + r], exact, bound);
        }
      }
      kernel_input_free(&in);
      gguf_close(t.g);
    }
  }
  kernels_limit(KERNELS_AVX512);
}
END_TEST

/* Every path sums a row's blocks as the same integers in the same order:
** the same bits on each (kernels_internal.h). */
START_TEST(test_paths_agree_to_the_bit){
  const char *type = typed_files[_i].file;
  for(size_t k = 0; k < sizeof tensors / sizeof tensors[0]; k++){
    raw_tensor t = raw_open(type, tensors[k]);
    float x[3 * 768], y[3][3 * 8];
    activation(x, 3 * t.cols, (unsigned)(k + 5));
    for(size_t n = 1; n <= 3; n += 2){            /* decode, prefill */
      memset(y, 0, sizeof y);
      for(int path = KERNELS_SCALAR; path <= KERNELS_AVX512; path++){
        kernels_limit((kernel_isa)path);
        kernel_input in;
        ck_assert_int_eq(kernel_input_prepare(&in, t.dtype, x, n, t.cols), 0);
        kernel_matmul_input(&in, t.data, 8, y[path], 8);
        kernel_input_free(&in);
      }
      kernels_limit(KERNELS_AVX512);
      for(int path = KERNELS_AVX2; path <= KERNELS_AVX512; path++){
        ck_assert_msg(memcmp(y[path], y[KERNELS_SCALAR], sizeof y[0]) == 0, "%s %s: path %d, %zu rows",
                      type, tensors[k], path, n);
      }
    }
    gguf_close(t.g);
  }
}
END_TEST

/* Rows longer than prefill unpacks on the stack (16384 values) take the
** AVX2 code's other prefill path: the same bits again.  Random blocks,
** their scales made sane (random f16 bits can be NaN). */
START_TEST(test_long_rows_agree_to_the_bit){
  static const struct { tensor_dtype dtype; int block, bytes, scales[2]; } cases[] = {
    { TENSOR_Q5_1, 32, 24, { 0, 2 } },
    { TENSOR_Q4_K, 256, 144, { 0, 2 } },
    { TENSOR_Q5_K, 256, 176, { 0, 2 } },
    { TENSOR_Q6_K, 256, 210, { 208, -1 } },
  };
  for(size_t k = 0; k < sizeof cases / sizeof cases[0]; k++){
    const size_t cols = 16384 + 256, rows = 3, n = 3;
    const size_t row_bytes = cols / (size_t)cases[k].block * (size_t)cases[k].bytes;
    uint8_t *w = malloc(rows * row_bytes);
    float *x = malloc(n * cols * sizeof *x), y[3][3 * 3];
    unsigned seed = 99;
    for(size_t b = 0; b < rows * row_bytes; b++) w[b] = (uint8_t)(next_random(&seed) >> 16);
    for(size_t b = 0; b < rows * row_bytes; b += (size_t)cases[k].bytes){
      const uint16_t scale = 0x2a00;                     /* 0.046875 */
      for(int j = 0; j < 2; j++) if( cases[k].scales[j] >= 0 ) memcpy(w + b + cases[k].scales[j], &scale, 2);
    }
    activation(x, n * cols, 3);
    for(int path = KERNELS_SCALAR; path <= KERNELS_AVX512; path++){
      kernels_limit((kernel_isa)path);
      kernel_input in;
      ck_assert_int_eq(kernel_input_prepare(&in, cases[k].dtype, x, n, cols), 0);
      kernel_matmul_input(&in, w, rows, y[path], rows);
      kernel_input_free(&in);
    }
    kernels_limit(KERNELS_AVX512);
    for(int path = KERNELS_AVX2; path <= KERNELS_AVX512; path++){
      ck_assert_msg(memcmp(y[path], y[KERNELS_SCALAR], sizeof y[0]) == 0, "%s: path %d",
                    tensor_dtype_name(cases[k].dtype), path);
    }
    free(w);
    free(x);
  }
}
END_TEST

/* Q4_0 from floats equals llama-quantize's Q4_0 (no importance matrix)
** to the byte: every Q4_0 tensor of kq-tiny-q4_0.gguf against the same
** tensor of kq-tiny-f16.gguf, its f16 values widened and quantized. */
START_TEST(test_q4_0_as_llama_quantize){
  char err[256];
  gguf *q = gguf_open(KQ("kq-tiny-q4_0.gguf"), err, sizeof err), *f = gguf_open(KQ("kq-tiny-f16.gguf"), err, sizeof err);
  ck_assert_msg(q && f, "%s", err);
  int compared = 0;
  for(uint64_t t = 0; t < gguf_tensor_count(q); t++){
    const gguf_tensor *want = gguf_tensor_at(q, t);
    if( want->type != TENSOR_Q4_0 ) continue;
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)want->name.len, want->name.ptr);
    const gguf_tensor *src = gguf_find_tensor(f, name);
    ck_assert_msg(src && src->type == TENSOR_F16, "%s", name);
    const size_t n = (size_t)(src->size / 2);
    float *x = malloc(n * sizeof *x);
    uint8_t *got = malloc(want->size);
    kernel_dequantize(TENSOR_F16, src->data, x, n);
    quant_quantize_q4_0(x, got, n);
    ck_assert_uint_eq(n / 32 * 18, want->size);
    ck_assert_msg(memcmp(got, want->data, want->size) == 0, "%s differs", name);
    free(x);
    free(got);
    compared++;
  }
  ck_assert_int_eq(compared, 15);
  gguf_close(q);
  gguf_close(f);
}
END_TEST

START_TEST(test_q8_k_quantization){
  float x[512];
  int8_t q[512];
  float d[2];
  activation(x, 512, 7);
  x[300] = -40.0f;                     /* block 1's largest, negative */
  memset(x, 0, 256 * sizeof *x);       /* block 0: zeros */
  quant_quantize_q8_k(x, q, d, 512);
  ck_assert(d[0] == 0.0f);
  for(int c = 0; c < 256; c++) ck_assert_int_eq(q[c], 0);
  ck_assert_int_eq(q[300], -127);      /* the largest magnitude: -127 */
  ck_assert(d[1] > 0);
  for(int c = 256; c < 512; c++){
    ck_assert_msg(fabsf(q[c] * d[1] - x[c]) <= fabsf(d[1]) / 2 * 1.0001f, "value %d: %d * %g vs %g",
                  c, q[c], d[1], x[c]);
  }
}
END_TEST

/* A scale or minimum that is NaN or infinite is found, in the block that
** holds it; finite ones are not. */
START_TEST(test_bad_scales_found){
  static const struct { const char *file; int block_bytes, at; uint16_t bits; } cases[] = {
    { "q4_1", 20, 2, 0x7c00 },           /* m: +infinity */
    { "q4_0", 18, 0, 0x7e00 },           /* d: NaN */
    { "q6_k", 210, 208, 0xfc00 },        /* d: -infinity */
    { "q4_k_m", 144, 2, 0x7c01 },        /* dmin: NaN */
  };
  for(size_t k = 0; k < sizeof cases / sizeof cases[0]; k++){
    raw_tensor t = raw_open(cases[k].file, "blk.0.ffn_up.weight");
    size_t bytes = 4 * tensor_row_bytes(t.dtype, t.cols);
    uint8_t *copy = malloc(bytes);
    memcpy(copy, t.data, bytes);
    ck_assert_int_eq(quant_bad_block(t.dtype, copy, 4 * t.cols), -1);
    const int block = quant_activation_of(t.dtype) == QUANT_ACT_Q8_K ? 1 : 3;
    memcpy(copy + block * cases[k].block_bytes + cases[k].at, &cases[k].bits, 2);
    ck_assert_int_eq(quant_bad_block(t.dtype, copy, 4 * t.cols), block);
    free(copy);
    gguf_close(t.g);
  }
  ck_assert_int_eq(quant_bad_block(TENSOR_F32, "\xff\xff\xff\xff", 1), -1);
}
END_TEST

static Suite *quants_suite(void){
  Suite *s = suite_create("quants");
  TCase *tc = tcase_create("kq-tiny");
  const int n = (int)(sizeof typed_files / sizeof typed_files[0]);
  tcase_add_loop_test(tc, test_dequantize_as_gguf_py, 0, n);
  tcase_add_loop_test(tc, test_product_within_the_activation_rounding, 0, n);
  tcase_add_loop_test(tc, test_paths_agree_to_the_bit, 0, n);
  tcase_add_test(tc, test_q8_k_quantization);
  tcase_add_test(tc, test_q4_0_as_llama_quantize);
  tcase_add_test(tc, test_long_rows_agree_to_the_bit);
  tcase_add_test(tc, test_bad_scales_found);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(quants_suite)
