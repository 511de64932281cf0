/*
** quants.c: the GGUF block types kept block for block (see quants.h).
**
** The layouts are ggml's (ggml-common.h): little-endian, scales f16, and
** a value's code read as ggml's dequantize_row_* reads it:
**
**   type    bytes  block                       value j of the block
**   Q4_0    18     d, qs[16]                   ((qs[j % 16] >> 4*(j/16)) & 15) - 8, times d
**   Q4_1    20     d, m, qs[16]                (the same nibble) times d, plus m
**   Q5_0    22     d, qh[4], qs[16]            (nibble | bit j of qh << 4) - 16, times d
**   Q5_1    24     d, m, qh[4], qs[16]         (nibble | bit j of qh << 4) times d, plus m
**   IQ4_NL  18     d, qs[16]                   iq4nl_values[nibble] times d
**   Q6_K    210    ql[128], qh[64], sc[16], d  see q6_k_codes; d * sc[j/16] * code
**
** A product sums code x activation code over each block as an exact
** integer, then adds it in, scaled, as the Q8_0 product does (kernels.c):
** acc = fma(d_w * d_x, sum, acc), and for Q4_1 and Q5_1 fma(m, s_x, acc).
*/
#include "quants.h"

#include <math.h>
#include <string.h>

#define QK 32                      /* values in a legacy block */
#define QK_K 256                   /* values in a k-quant super-block */

/* IQ4_NL's 16 levels, a non-linear 4-bit code (ggml's kvalues_iq4nl). */
static const int8_t iq4nl_values[16] = {
  -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113
};

static float f16_at(const uint8_t *p){
  uint16_t h;
  memcpy(&h, p, 2);
  return kernel_f16_to_f32(h);
}

quant_activation quant_activation_of(tensor_dtype dtype){
  switch( dtype ){
    case TENSOR_Q4_0: case TENSOR_Q5_0: case TENSOR_Q8_0: case TENSOR_IQ4_NL:
      return QUANT_ACT_Q8_0;
    case TENSOR_Q4_1: case TENSOR_Q5_1:
      return QUANT_ACT_Q8_1;
    case TENSOR_Q6_K:
      return QUANT_ACT_Q8_K;
    default:
      return QUANT_ACT_F32;
  }
}

int quant_is_block_type(tensor_dtype dtype){
  return dtype != TENSOR_Q8_0 && quant_activation_of(dtype) != QUANT_ACT_F32;
}

/* ---- the 32-value blocks ------------------------------------------------ */

/* Where a legacy block's parts lie, by type. */
typedef struct legacy_layout {
  int bytes;        /* of a block */
  int min_at;       /* offset of the f16 m, or -1 */
  int high_at;      /* offset of qh[4], or -1 */
  int codes_at;     /* offset of qs[16] */
  int offset;       /* subtracted from a code: 8, 16 or 0 */
} legacy_layout;

static legacy_layout legacy_layout_of(tensor_dtype dtype){
  switch( dtype ){
    case TENSOR_Q4_1: return (legacy_layout){ 20, 2, -1, 4, 0 };
    case TENSOR_Q5_0: return (legacy_layout){ 22, -1, 2, 6, 16 };
    case TENSOR_Q5_1: return (legacy_layout){ 24, 2, 4, 8, 0 };
    case TENSOR_IQ4_NL: return (legacy_layout){ 18, -1, -1, 2, 0 };
    default: return (legacy_layout){ 18, -1, -1, 2, 8 };     /* Q4_0 */
  }
}

/* The 32 codes of a legacy block, signed as they multiply d. */
static void legacy_codes(tensor_dtype dtype, legacy_layout l, const uint8_t *block,
                         int8_t code[QK]){
  const uint8_t *qs = block + l.codes_at;
  uint32_t high = 0;
  if( l.high_at >= 0 ) memcpy(&high, block + l.high_at, 4);
  for(int j = 0; j < QK; j++){
    int c = (qs[j % 16] >> (4 * (j / 16))) & 15;
    if( l.high_at >= 0 ) c |= (int)((high >> j) & 1) << 4;
    code[j] = (int8_t)(dtype == TENSOR_IQ4_NL ? iq4nl_values[c] : c - l.offset);
  }
}

static void legacy_dequantize(tensor_dtype dtype, const uint8_t *row, float *out, size_t n){
  const legacy_layout l = legacy_layout_of(dtype);
  for(size_t b = 0; b < n / QK; b++, row += l.bytes, out += QK){
    int8_t code[QK];
    legacy_codes(dtype, l, row, code);
    const float d = f16_at(row);
    if( l.min_at < 0 ){
      for(int j = 0; j < QK; j++) out[j] = code[j] * d;
    }else{
      const float m = f16_at(row + l.min_at);
      for(int j = 0; j < QK; j++) out[j] = code[j] * d + m;
    }
  }
}

static float legacy_row_dot(const kernel_input *in, const uint8_t *row, size_t i){
  const legacy_layout l = legacy_layout_of(in->weight_dtype);
  const size_t blocks = in->cols / QK;
  const uint8_t *x = (const uint8_t *)in->xq + i * in->xq_stride;
  float acc = 0.0f;
  for(size_t b = 0; b < blocks; b++, row += l.bytes){
    int8_t code[QK];
    legacy_codes(in->weight_dtype, l, row, code);
    const int8_t *xv = (const int8_t *)(x + b * TENSOR_Q8_0_BYTES + 2);
    int32_t sum = 0;
    for(int j = 0; j < QK; j++) sum += code[j] * xv[j];
    acc = fmaf(f16_at(row) * in->xd[i * blocks + b], (float)sum, acc);
    if( l.min_at >= 0 ) acc = fmaf(f16_at(row + l.min_at), in->xs[i * blocks + b], acc);
  }
  return acc;
}

/* ---- Q6_K ----------------------------------------------------------------- */

#define Q6_K_BYTES 210
#define Q6_K_HIGH 128              /* qh[64] after ql[128] */
#define Q6_K_SCALES 192            /* int8 sc[16] */
#define Q6_K_D 208

/* The 256 codes (-32..31) of a block.  A half of 128 values takes 64
** bytes of ql and 32 of qh; value l + 32q of a half (q = 0..3) takes the
** low (q < 2) or high nibble of ql[l + 32 * (q & 1)], and bits 2q, 2q+1 of
** qh[l].  Value j's scale is sc[j / 16]. */
static void q6_k_codes(const uint8_t *block, int8_t code[QK_K]){
  for(int half = 0; half < 2; half++){
    const uint8_t *ql = block + 64 * half, *qh = block + Q6_K_HIGH + 32 * half;
    for(int q = 0; q < 4; q++){
      for(int l = 0; l < 32; l++){
        const int low = (ql[l + 32 * (q & 1)] >> (4 * (q / 2))) & 15;
        code[128 * half + 32 * q + l] = (int8_t)((low | ((qh[l] >> (2 * q)) & 3) << 4) - 32);
      }
    }
  }
}

static void q6_k_dequantize(const uint8_t *row, float *out, size_t n){
  for(size_t b = 0; b < n / QK_K; b++, row += Q6_K_BYTES, out += QK_K){
    int8_t code[QK_K];
    q6_k_codes(row, code);
    const float d = f16_at(row + Q6_K_D);
    const int8_t *sc = (const int8_t *)(row + Q6_K_SCALES);
    for(int j = 0; j < QK_K; j++) out[j] = d * sc[j / 16] * code[j];
  }
}

static float q6_k_row_dot(const kernel_input *in, const uint8_t *row, size_t i){
  const size_t blocks = in->cols / QK_K;
  const int8_t *x = (const int8_t *)in->xq + i * in->xq_stride;
  float acc = 0.0f;
  for(size_t b = 0; b < blocks; b++, row += Q6_K_BYTES, x += QK_K){
    int8_t code[QK_K];
    q6_k_codes(row, code);
    const int8_t *sc = (const int8_t *)(row + Q6_K_SCALES);
    int32_t sum = 0;
    for(int s = 0; s < QK_K / 16; s++){
      int32_t part = 0;
      for(int j = 16 * s; j < 16 * s + 16; j++) part += code[j] * x[j];
      sum += sc[s] * part;
    }
    acc = fmaf(f16_at(row + Q6_K_D) * in->xd[i * blocks + b], (float)sum, acc);
  }
  return acc;
}

/* ---- Q8_K ----------------------------------------------------------------- */

/* ggml's nearest_int: round half to even through the float adder, for
** |v| < 2^22. */
static int nearest_int(float v){
  float shifted = v + 12582912.f;
  int32_t bits;
  memcpy(&bits, &shifted, 4);
  return (bits & 0x007fffff) - 0x00400000;
}

void quant_quantize_q8_k(const float *x, int8_t *values, float *scales, size_t n){
  for(size_t b = 0; b < n / QK_K; b++, x += QK_K, values += QK_K){
    float max = 0.0f, amax = 0.0f;
    for(int j = 0; j < QK_K; j++){
      if( fabsf(x[j]) > amax ){ amax = fabsf(x[j]); max = x[j]; }
    }
    if( amax == 0.0f ){
      scales[b] = 0.0f;
      memset(values, 0, QK_K);
      continue;
    }
    const float iscale = -127.f / max;
    for(int j = 0; j < QK_K; j++){
      int v = nearest_int(iscale * x[j]);
      values[j] = (int8_t)(v < 127 ? v : 127);
    }
    scales[b] = 1 / iscale;
  }
}

/* ---- by type ---------------------------------------------------------------- */

int64_t quant_bad_block(tensor_dtype dtype, const void *data, uint64_t n){
  if( quant_activation_of(dtype) == QUANT_ACT_F32 ) return -1;
  int bytes = TENSOR_Q8_0_BYTES, values = QK, scale_at = 0, min_at = -1;
  if( dtype == TENSOR_Q6_K ){
    bytes = Q6_K_BYTES;
    values = QK_K;
    scale_at = Q6_K_D;
  }else if( dtype != TENSOR_Q8_0 ){
    const legacy_layout l = legacy_layout_of(dtype);
    bytes = l.bytes;
    min_at = l.min_at;
  }
  const uint8_t *block = data;
  for(uint64_t b = 0; b < n / (uint64_t)values; b++, block += bytes){
    if( !isfinite(f16_at(block + scale_at)) ) return (int64_t)b;
    if( min_at >= 0 && !isfinite(f16_at(block + min_at)) ) return (int64_t)b;
  }
  return -1;
}

void quant_dequantize(tensor_dtype dtype, const void *row, float *out, size_t n){
  if( dtype == TENSOR_Q6_K ) q6_k_dequantize(row, out, n);
  else legacy_dequantize(dtype, row, out, n);
}

float quant_row_dot(const kernel_input *in, const void *row, size_t i){
  if( in->weight_dtype == TENSOR_Q6_K ) return q6_k_row_dot(in, row, i);
  return legacy_row_dot(in, row, i);
}
