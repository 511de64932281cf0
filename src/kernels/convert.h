/*
** convert.h: f16 and bf16 to and from f32, as every kernel file needs them.
**
** Static inline, so that the ISA-specific kernel libraries (kernels_avx2.c,
** kernels_avx512.c) use them without calling back into kernels.c.
** f32 -> f16 and f32 -> bf16 round to nearest even, with subnormals; f16
** overflows to inf from 65520 up.  A NaN stays a NaN and keeps the top bits
** of its payload, so every one of the 65536 f16 values survives
** f16 -> f32 -> f16 unchanged.
*/
#ifndef TENSQL_CONVERT_H
#define TENSQL_CONVERT_H

#include <stdint.h>
#include <string.h>

static inline uint32_t f32_bits(float f){ uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f32_from_bits(uint32_t u){ float f; memcpy(&f, &u, 4); return f; }

static inline float kernel_f16_to_f32(uint16_t h){
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  if( exponent == 0x1f ){                        /* inf, or NaN with payload */
    return f32_from_bits(sign | 0x7f800000 | mantissa << 13);
  }
  if( exponent == 0 ){                           /* zero or subnormal: m * 2^-24 */
    float magnitude = (float)mantissa * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  /* Rebias the exponent from 15 to 127. */
  return f32_from_bits(sign | (exponent + 112) << 23 | mantissa << 13);
}

static inline uint16_t kernel_f32_to_f16(float f){
  uint32_t u = f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  uint32_t magnitude = u & 0x7fffffff;
  if( magnitude > 0x7f800000 ){
    /* NaN: keep the payload's top 10 bits, but never let them all be zero,
    ** which would spell inf. */
    uint32_t payload = (magnitude >> 13) & 0x3ff;
    return sign | 0x7c00 | (payload ? payload : 0x200);
  }
  if( magnitude >= 0x477ff000 ) return sign | 0x7c00;  /* >= 65520 rounds to inf */
  if( magnitude >= 0x38800000 ){                       /* normal f16: >= 2^-14 */
    /* Rebias 127 -> 15, then round the 13 dropped bits to nearest even; a
    ** carry out of the mantissa correctly bumps the exponent. */
    uint32_t rebiased = magnitude - 0x38000000;
    rebiased += 0xfff + ((rebiased >> 13) & 1);
    return sign | (uint16_t)(rebiased >> 13);
  }
  /* Subnormal f16: the result is round(|f| / 2^-24), at most 1024 (which is
  ** the bit pattern of the smallest normal).  |f| = m * 2^(e-150), so
  ** |f| / 2^-24 = m >> (126 - e). */
  uint32_t exponent = magnitude >> 23;
  if( exponent < 102 ) return sign;                    /* below 2^-25: zero */
  uint32_t mantissa = (magnitude & 0x7fffff) | 0x800000;
  uint32_t shift = 126 - exponent;                     /* 14..24 */
  uint32_t quotient = mantissa >> shift;
  uint32_t remainder = mantissa & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if( remainder > half || (remainder == half && (quotient & 1)) ) quotient++;
  return sign | (uint16_t)quotient;
}

static inline float kernel_bf16_to_f32(uint16_t h){
  return f32_from_bits((uint32_t)h << 16);
}

static inline uint16_t kernel_f32_to_bf16(float f){
  uint32_t u = f32_bits(f);
  if( (u & 0x7fffffff) > 0x7f800000 ){
    /* NaN: truncating could leave an all-zero mantissa (inf); set the
    ** quiet bit instead. */
    return (uint16_t)((u >> 16) | 0x40);
  }
  /* Round to nearest even on the 16 dropped bits; overflow carries into
  ** the exponent and lands on inf, as it should. */
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

#endif
