/*
** quants.c: the GGUF block types kept block for block (see quants.h).
**
** The layouts are ggml's (ggml-common.h): little-endian, scales f16, and
** a value's code read as ggml's dequantize_row_* reads it.  Legacy blocks
** of 32 values:
**
**   type    bytes  block                       value j of the block
**   Q4_0    18     d, qs[16]                   ((qs[j % 16] >> 4*(j/16)) & 15) - 8, times d
**   Q4_1    20     d, m, qs[16]                (the same nibble) times d, plus m
**   Q5_0    22     d, qh[4], qs[16]            (nibble | bit j of qh << 4) - 16, times d
**   Q5_1    24     d, m, qh[4], qs[16]         (nibble | bit j of qh << 4) times d, plus m
**   IQ4_NL  18     d, qs[16]                   quant_iq4nl_values[nibble] times d
**
** and the k-quants' super-blocks of 256, in sub-blocks of 16 or 32 values
** with a scale (and for some a minimum) of a few bits each, times the f16
** d (and dmin): Q2_K (84 bytes), Q3_K (110), Q4_K (144), Q5_K (176) and
** Q6_K (210); each one's decoder below says where its bits lie.
**
** A product sums code x activation code as exact integers, and adds
** them, scaled, into 8 float lanes as ggml's AVX2 code does
** (legacy_row_dot, k_lanes_row_dot).
*/
#include "quants.h"
#include "kernels_internal.h"

#include <math.h>
#include <string.h>

#define QK 32                      /* values in a legacy block */
#define QK_K 256                   /* values in a k-quant super-block */

quant_activation quant_activation_of(tensor_dtype dtype){
  switch( dtype ){
    case TENSOR_Q4_0: case TENSOR_Q5_0: case TENSOR_Q8_0: case TENSOR_IQ4_NL:
      return QUANT_ACT_Q8_0;
    case TENSOR_Q4_1: case TENSOR_Q5_1:
      return QUANT_ACT_Q8_1;
    case TENSOR_Q2_K: case TENSOR_Q3_K: case TENSOR_Q4_K: case TENSOR_Q5_K: case TENSOR_Q6_K:
      return QUANT_ACT_Q8_K;
    default:
      return QUANT_ACT_F32;
  }
}

int quant_is_block_type(tensor_dtype dtype){
  return dtype != TENSOR_Q8_0 && quant_activation_of(dtype) != QUANT_ACT_F32;
}

/* ---- the 32-value blocks ------------------------------------------------ */

/* The 32 codes of a legacy block, signed as they multiply d.  Written as
** whole-block passes without branches inside, which the compiler turns
** into vector code: value by value it was half of a Q5_0 model's decode. */
static void legacy_codes(tensor_dtype dtype, legacy_layout l, const uint8_t *block,
                         int8_t code[QK]){
  const uint8_t *qs = block + l.codes_at;
  for(int j = 0; j < QK / 2; j++){
    code[j] = (int8_t)(qs[j] & 15);
    code[j + QK / 2] = (int8_t)(qs[j] >> 4);
  }
  if( l.high_at >= 0 ){
    /* bit k of qh's byte i is value 8i + k's 16: each byte spread to 8
    ** bytes of 0 or 16, 8 values at a time */
    for(int i = 0; i < 4; i++){
      uint64_t bits = (block[l.high_at + i] * 0x0101010101010101ull) & 0x8040201008040201ull;
      uint64_t sixteens = ((bits + 0x7f7f7f7f7f7f7f7full) & 0x8080808080808080ull) >> 3, low;
      memcpy(&low, code + 8 * i, 8);
      low |= sixteens;
      memcpy(code + 8 * i, &low, 8);
    }
  }
  if( dtype == TENSOR_IQ4_NL ){
    for(int j = 0; j < QK; j++) code[j] = quant_iq4nl_values[code[j]];
  }else{
    for(int j = 0; j < QK; j++) code[j] = (int8_t)(code[j] - l.offset);
  }
}

static void legacy_dequantize(tensor_dtype dtype, const uint8_t *row, float *out, size_t n){
  const legacy_layout l = legacy_layout_of(dtype);
  for(size_t b = 0; b < n / QK; b++, row += l.bytes, out += QK){
    int8_t code[QK];
    legacy_codes(dtype, l, row, code);
    const float d = quant_f16_at(row);
    if( l.min_at < 0 ){
      for(int j = 0; j < QK; j++) out[j] = code[j] * d;
    }else{
      const float m = quant_f16_at(row + l.min_at);
      for(int j = 0; j < QK; j++) out[j] = code[j] * d + m;
    }
  }
}

/* The 8 lanes' sum, in the order of ggml's hsum_float_8 and of
** kernels_avx2.c: lanes j and j + 4, then those 0 + 2 and 1 + 3, then the
** two. */
static float lanes_sum(const float a[8]){
  const float r0 = a[4] + a[0], r1 = a[5] + a[1], r2 = a[6] + a[2], r3 = a[7] + a[3];
  return (r0 + r2) + (r1 + r3);
}

/* As ggml's AVX2 ggml_vec_dot_q4_0_q8_0 and its kin: 8 float lanes, lane
** j of a block adding d_w * d_x * (the exact sum of its values 4j..4j+3),
** and for Q4_1 and Q5_1 m * s_x summed apart. */
static float legacy_row_dot(const kernel_input *in, const uint8_t *row, size_t i){
  const legacy_layout l = legacy_layout_of(in->weight_dtype);
  const size_t blocks = in->cols / QK;
  const uint8_t *x = (const uint8_t *)in->xq + i * in->xq_stride;
  float lanes[8] = { 0 }, mins = 0.0f;
  for(size_t b = 0; b < blocks; b++, row += l.bytes){
    int8_t code[QK];
    legacy_codes(in->weight_dtype, l, row, code);
    const int8_t *xv = q8_0_values(x + b * TENSOR_Q8_0_BYTES);
    const float d = quant_f16_at(row) * in->xd[i * blocks + b];
    for(int j = 0; j < 8; j++){
      int32_t part = 0;
      for(int c = 4 * j; c < 4 * j + 4; c++) part += code[c] * xv[c];
      lanes[j] = fmaf(d, (float)part, lanes[j]);
    }
    if( l.min_at >= 0 ) mins += quant_f16_at(row + l.min_at) * in->xs[i * blocks + b];
  }
  return lanes_sum(lanes) + mins;
}

/* ---- the k-quants: super-blocks of 256 ------------------------------------- */

/* A super-block decoded: each value's code, and per sub-block (16 or 32
** values) its scale and, for the types with one, its minimum.  A value
** is (d * scale) * code - (dmin * min), ggml's order. */
typedef struct kblock {
  int8_t code[QK_K];
  int16_t scale[16];
  uint8_t min[16];
  int sub;                         /* values a sub-block: 16 or 32 */
  int has_min;                     /* Q2_K, Q4_K, Q5_K */
  float d, dmin;
} kblock;

static void k4_scales(const uint8_t *q, kblock *k){
  uint8_t scales[8];
  quant_k4_scales_mins(q, scales, k->min);
  for(int j = 0; j < 8; j++) k->scale[j] = scales[j];
}

/* Q2_K (scales[16], qs[64], d, dmin): a value's 2 bits are bits 2j of
** qs[32 * half + l] (half = v / 128, j = (v % 128) / 32, l = v % 32), its
** sub-block of 16 takes scale and minimum from the nibbles of scales[]. */
static void q2_k_decode(const uint8_t *b, kblock *k){
  for(int v = 0; v < QK_K; v++){
    k->code[v] = (int8_t)((b[16 + 32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3);
  }
  for(int s = 0; s < 16; s++){
    k->scale[s] = b[s] & 15;
    k->min[s] = b[s] >> 4;
  }
}

/* Q3_K (hmask[32], qs[64], scales[12], d): Q2_K's 2 bits, less 4 where bit
** 4 * half + j of hmask[l] is clear; 16 six-bit scales, less 32. */
static void q3_k_decode(const uint8_t *b, kblock *k){
  for(int v = 0; v < QK_K; v++){
    const int half = v / 128, j = (v % 128) / 32, l = v % 32;
    const int low = (b[32 + 32 * half + l] >> (2 * j)) & 3;
    k->code[v] = (int8_t)(low - ((b[l] >> (4 * half + j)) & 1 ? 0 : 4));
  }
  const uint8_t *sc = b + 96;
  for(int s = 0; s < 16; s++){
    const int low = s < 8 ? sc[s] & 15 : sc[s - 8] >> 4;
    const int high = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
    k->scale[s] = (int16_t)((low | high << 4) - 32);
  }
}

/* Q4_K (d, dmin, scales[12], qs[128]): sub-block s of 32 takes the low
** (s even) or high nibbles of qs[32 * (s / 2) ..]. */
static void q4_k_decode(const uint8_t *b, kblock *k){
  for(int v = 0; v < QK_K; v++){
    const int s = v / 32;
    k->code[v] = (int8_t)((b[16 + 32 * (s / 2) + v % 32] >> (4 * (s % 2))) & 15);
  }
  k4_scales(b + 4, k);
}

/* Q5_K (d, dmin, scales[12], qh[32], qs[128]): Q4_K's nibble, plus 16 where
** bit s of qh[v % 32] is set. */
static void q5_k_decode(const uint8_t *b, kblock *k){
  for(int v = 0; v < QK_K; v++){
    const int s = v / 32;
    const int low = (b[48 + 32 * (s / 2) + v % 32] >> (4 * (s % 2))) & 15;
    k->code[v] = (int8_t)(low | ((b[16 + v % 32] >> s) & 1) << 4);
  }
  k4_scales(b + 4, k);
}

/* Q6_K (ql[128], qh[64], scales[16], d): a half of 128 values takes 64
** bytes of ql and 32 of qh; value l + 32q of a half (q = 0..3) takes the
** low (q < 2) or high nibble of ql[l + 32 * (q & 1)], and bits 2q, 2q+1 of
** qh[l], less 32. */
static void q6_k_decode(const uint8_t *b, kblock *k){
  for(int half = 0; half < 2; half++){
    const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
    for(int q = 0; q < 4; q++){
      for(int l = 0; l < 32; l++){
        const int low = (ql[l + 32 * (q & 1)] >> (4 * (q / 2))) & 15;
        k->code[128 * half + 32 * q + l] = (int8_t)((low | ((qh[l] >> (2 * q)) & 3) << 4) - 32);
      }
    }
  }
  for(int s = 0; s < 16; s++) k->scale[s] = ((const int8_t *)(b + 192))[s];
}

static void k_decode(tensor_dtype dtype, const uint8_t *b, kblock *k){
  const k_layout l = k_layout_of(dtype);
  k->d = quant_f16_at(b + l.d_at);
  k->has_min = l.dmin_at >= 0;
  k->dmin = k->has_min ? quant_f16_at(b + l.dmin_at) : 0.0f;
  k->sub = dtype == TENSOR_Q4_K || dtype == TENSOR_Q5_K ? 32 : 16;
  switch( dtype ){
    case TENSOR_Q2_K: q2_k_decode(b, k); break;
    case TENSOR_Q3_K: q3_k_decode(b, k); break;
    case TENSOR_Q4_K: q4_k_decode(b, k); break;
    case TENSOR_Q5_K: q5_k_decode(b, k); break;
    default: q6_k_decode(b, k); break;
  }
}

static void k_dequantize(tensor_dtype dtype, const uint8_t *row, float *out, size_t n){
  const int bytes = k_layout_of(dtype).bytes;
  for(size_t b = 0; b < n / QK_K; b++, row += bytes, out += QK_K){
    kblock k;
    k_decode(dtype, row, &k);
    for(int s = 0; s < QK_K / k.sub; s++){
      const float dl = k.d * k.scale[s], ml = k.dmin * k.min[s];
      for(int v = s * k.sub; v < (s + 1) * k.sub; v++){
        out[v] = k.has_min ? dl * k.code[v] - ml : dl * k.code[v];
      }
    }
  }
}

/* A k-quant row as ggml's AVX2 ggml_vec_dot_q4_K_q8_K and _q6_K_q8_K add
** theirs, and kernels_avx2.c with them: per super-block 8 int32 lanes,
** lane j the exact sum of scale * code * x over the values whose place in
** their 32 is 4j .. 4j+3; 8 float lanes adding d_w * d_x times those,
** summed at the end as lanes_sum; the minimums (Q2_K, Q4_K, Q5_K) in 4
** lanes apart, lane t adding -d_x * dmin * (each minimum of values 64t ..
** 64t+63 times its x sum), summed (0 + 2) + (1 + 3).  Q5_K's AVX2 product
** sums as Q4_K's, and Q2_K and Q3_K, which have none, sum the same way. */
static float k_lanes_row_dot(const kernel_input *in, const uint8_t *row, size_t i){
  const tensor_dtype dtype = in->weight_dtype;
  const int bytes = k_layout_of(dtype).bytes;
  const size_t blocks = in->cols / QK_K;
  const int8_t *x = (const int8_t *)in->xq + i * in->xq_stride;
  float lanes[8] = { 0 }, min_lanes[4] = { 0 };
  for(size_t b = 0; b < blocks; b++, row += bytes, x += QK_K){
    kblock k;
    k_decode(dtype, row, &k);
    int32_t part[8] = { 0 };
    for(int v = 0; v < QK_K; v++) part[(v % 32) / 4] += k.scale[v / k.sub] * k.code[v] * x[v];
    const float dx = in->xd[i * blocks + b];
    for(int j = 0; j < 8; j++) lanes[j] = fmaf(dx * k.d, (float)part[j], lanes[j]);
    if( !k.has_min ) continue;
    const int32_t *sum16 = in->xsum + i * (in->cols / 16) + b * (QK_K / 16);
    for(int t = 0; t < 4; t++){
      int32_t prod = 0;
      for(int g = 4 * t; g < 4 * t + 4; g++) prod += k.min[g * 16 / k.sub] * sum16[g];
      min_lanes[t] = fmaf(-dx * k.dmin, (float)prod, min_lanes[t]);
    }
  }
  return lanes_sum(lanes) + ((min_lanes[0] + min_lanes[2]) + (min_lanes[1] + min_lanes[3]));
}

/* ---- Q4_0 from floats ---------------------------------------------------- */

void quant_quantize_q4_0(const float *x, void *blocks, size_t n){
  uint8_t *block = blocks;
  for(size_t b = 0; b < n / QK; b++, x += QK, block += 18){
    float amax = 0.0f, max = 0.0f;
    for(int j = 0; j < QK; j++){
      if( amax < fabsf(x[j]) ){ amax = fabsf(x[j]); max = x[j]; }
    }
    const float d = max / -8, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = kernel_f32_to_f16(d);
    memcpy(block, &h, 2);
    for(int j = 0; j < QK / 2; j++){
      /* ggml's (int8_t)(v + 8.5f): truncation, as v + 8.5 >= 0.5 */
      const int lo = (int8_t)(x[j] * id + 8.5f), hi = (int8_t)(x[j + QK / 2] * id + 8.5f);
      block[2 + j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
    }
  }
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
  const quant_activation act = quant_activation_of(dtype);
  if( act == QUANT_ACT_F32 ) return -1;
  int bytes = TENSOR_Q8_0_BYTES, values = QK, scale_at = 0, min_at = -1;
  if( act == QUANT_ACT_Q8_K ){
    const k_layout l = k_layout_of(dtype);
    bytes = l.bytes;
    values = QK_K;
    scale_at = l.d_at;
    min_at = l.dmin_at;
  }else if( dtype != TENSOR_Q8_0 ){
    const legacy_layout l = legacy_layout_of(dtype);
    bytes = l.bytes;
    min_at = l.min_at;
  }
  const uint8_t *block = data;
  for(uint64_t b = 0; b < n / (uint64_t)values; b++, block += bytes){
    if( !isfinite(quant_f16_at(block + scale_at)) ) return (int64_t)b;
    if( min_at >= 0 && !isfinite(quant_f16_at(block + min_at)) ) return (int64_t)b;
  }
  return -1;
}

void quant_dequantize(tensor_dtype dtype, const void *row, float *out, size_t n){
  if( quant_activation_of(dtype) == QUANT_ACT_Q8_K ) k_dequantize(dtype, row, out, n);
  else legacy_dequantize(dtype, row, out, n);
}

float quant_row_dot(const kernel_input *in, const void *row, size_t i){
  if( quant_activation_of(in->weight_dtype) == QUANT_ACT_Q8_K ) return k_lanes_row_dot(in, row, i);
  return legacy_row_dot(in, row, i);
}
