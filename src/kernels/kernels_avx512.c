/*
** kernels_avx512.c: the Q8_0 matmul with AVX-512 VNNI, the instruction
** (vpdpbusd) that multiplies 64 byte pairs and adds them in fours to 16
** int32 lanes: one instruction where AVX2 needs four.
**
** Only this file is compiled with -mavx512f -mavx512bw -mavx512vl
** -mavx512vnni (Makefile.am, libkernels_avx512.la), and kernels.c calls it
** only after kernels_init() found those instructions.
**
** The tile layout (tensor.h) makes this direct.  One 64-byte load of a
** group's block holds 4 values of each of 16 rows; vpdpbusd against the
** activation's 4 values broadcast to every lane adds them to row k's dot
** in lane k.  Eight such steps make the block's exact integer dot for the
** 16 rows, with no horizontal sums; one convert, one scale and one FMA then
** serve all 16.  vpdpbusd multiplies unsigned by signed bytes, so the
** weights are flipped to w + 128 (an XOR) and the lane starts at
** -128 * sum(x) of the block, which the flip adds back.
**
** Decode streams four groups' blocks side by side, once, in order
** (groups_lockstep), and a tile's last groups one at a time (group_one).
** A single read is left to the hardware prefetcher: no software prefetch
** ahead of it (NTA or T0, 0.5 to 16 KiB ahead) made decode faster; NTA
** 16 KiB, once the choice here, made it 6-8% slower on 2 threads, and 5%
** slower on 1 and 2 under a budget that keeps every tile; on an AMD EPYC,
** T0 1-2 KiB ahead here as well as in groups_lockstep was 5-10% slower
** than neither (Qwen2.5-0.5B, tokens alternating between the two in one
** process).  The four reads side by side are another matter
** (groups_lockstep).  Prefill keeps a block's 8 weight vectors in
** registers while ACTS activation rows meet them.  Each output is
** fma(d_w * d_x, (float)dot, acc) block after block, as in kernels_avx2.c
** and the scalar code, so every path gives the same bits.
*/
#include "kernels_internal.h"

#include <immintrin.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define ACTS 8   /* activation rows per pass over a group's blocks in prefill */

/* The 4 values of an activation block from column 4j, in every lane. */
ALWAYS_INLINE __m512i x_values4(const uint8_t *x_block, int j){
  int32_t v;
  memcpy(&v, q8_0_values(x_block) + 4 * j, 4);
  return _mm512_set1_epi32(v);
}

/* The 8 vectors of a group's block, flipped to unsigned. */
ALWAYS_INLINE void group_block_load(const uint8_t *group_block, __m512i w[8]){
  const __m512i flip = _mm512_set1_epi8((char)0x80);
#pragma GCC unroll 8
  for(int j = 0; j < 8; j++){
    w[j] = _mm512_xor_si512(_mm512_loadu_si512(group_block + 2 * TENSOR_Q8_0_GROUP + 64 * j), flip);
  }
}

/* acc + (d_w d_x) (W . X) for the 16 rows of w against block b of activation i. */
ALWAYS_INLINE __m512 block_step(const kernel_input *in, size_t i, size_t b, const __m512i w[8],
                                __m512 dw, __m512 acc){
  const size_t blocks = in->cols / TENSOR_Q8_0_BLOCK;
  const uint8_t *x_block = (const uint8_t *)in->xq + i * in->xq_stride + b * TENSOR_Q8_0_BYTES;
  /* Two chains, so that each vpdpbusd waits on the one before last */
  __m512i dot[2] = { _mm512_set1_epi32(-128 * in->xsum[i * blocks + b]), _mm512_setzero_si512() };
#pragma GCC unroll 8
  for(int j = 0; j < 8; j++) dot[j & 1] = _mm512_dpbusd_epi32(dot[j & 1], w[j], x_values4(x_block, j));
  return _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(in->xd[i * blocks + b])),
                         _mm512_cvtepi32_ps(_mm512_add_epi32(dot[0], dot[1])), acc);
}

ALWAYS_INLINE __m512 group_block_scales(const uint8_t *group_block){
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)group_block));
}

/* The rows of group g (live of them) against activations i .. i + count - 1,
** count <= ACTS; a short batch repeats its last activation and drops it. */
static void group_batch(const kernel_input *in, const uint8_t *group, size_t live,
                        size_t i, size_t count, float *y, size_t y_stride){
  const size_t blocks = in->cols / TENSOR_Q8_0_BLOCK;
  __m512 acc[ACTS];
#pragma GCC unroll 8
  for(int a = 0; a < ACTS; a++) acc[a] = _mm512_setzero_ps();
  for(size_t b = 0; b < blocks; b++){
    const uint8_t *group_block = group + b * TENSOR_Q8_0_GROUP_BYTES;
    __m512i w[8];
    group_block_load(group_block, w);
    const __m512 dw = group_block_scales(group_block);
#pragma GCC unroll 8
    for(size_t a = 0; a < ACTS; a++){
      acc[a] = block_step(in, i + (a < count ? a : count - 1), b, w, dw, acc[a]);
    }
  }
  const __mmask16 rows = (__mmask16)((1u << live) - 1);
  for(size_t a = 0; a < count; a++) _mm512_mask_storeu_ps(y + (i + a) * y_stride, rows, acc[a]);
}

/* Decode: one activation, so nothing is worth keeping in registers; each
** block's vectors go straight from the load to vpdpbusd. */
static void group_one(const kernel_input *in, const uint8_t *group, size_t live, float *y){
  const size_t blocks = in->cols / TENSOR_Q8_0_BLOCK;
  __m512 acc = _mm512_setzero_ps();
  for(size_t b = 0; b < blocks; b++){
    const uint8_t *group_block = group + b * TENSOR_Q8_0_GROUP_BYTES;
    __m512i w[8];
    group_block_load(group_block, w);
    acc = block_step(in, 0, b, w, group_block_scales(group_block), acc);
  }
  _mm512_mask_storeu_ps(y, (__mmask16)((1u << live) - 1), acc);
}

/* Decode of LOCKSTEP whole groups side by side (kernels_internal.h,
** q8_0_decode_lockstep), whatever the row length.  Qwen2.5-0.5B decode,
** tokens alternating between two ways in one process:
** - AMD EPYC, ffn_down only (4864 columns, 82 KiB a group): 4.2% faster
**   on 1 thread, 3.3% on 2; 2, 3, 6 or 8 groups did alike.  Side by side,
**   each activation block is read once for four groups and four streams
**   are in flight; which of the two counts was not told apart.  On the
**   896-column tensors (15 KiB a group) it was then 3.6% slower, before
**   the prefetch below; with it, short rows there are unmeasured.
** - Intel Xeon (Sapphire Rapids family), every tensor side by side
**   against long rows only: 13% faster on 1 thread, 10-13% on 2; 8 groups
**   were 2-5% slower than 4.
**
** Four streams at once are more than the hardware prefetcher keeps ahead
** of: a T0 prefetch LOCKSTEP_AHEAD bytes ahead in each made decode 2%
** faster on 1 and on 2 threads on the EPYC (0.5, 4 KiB and NTA gained
** 0.5-1%), and 5-8% on the Xeon (1 KiB alike, 4 KiB 1-2% worse). */
#define LOCKSTEP 4
#define LOCKSTEP_AHEAD 2048

static void groups_lockstep(const kernel_input *in, const uint8_t *group, float *y){
  const size_t blocks = in->cols / TENSOR_Q8_0_BLOCK;
  const size_t group_bytes = blocks * TENSOR_Q8_0_GROUP_BYTES;
  __m512 acc[LOCKSTEP];
#pragma GCC unroll 4
  for(int g = 0; g < LOCKSTEP; g++) acc[g] = _mm512_setzero_ps();
  for(size_t b = 0; b < blocks; b++){
#pragma GCC unroll 4
    for(int g = 0; g < LOCKSTEP; g++){
      const uint8_t *group_block = group + g * group_bytes + b * TENSOR_Q8_0_GROUP_BYTES;
#pragma GCC unroll 9
      for(int line = 0; line < TENSOR_Q8_0_GROUP_BYTES; line += 64){
        _mm_prefetch((const char *)group_block + LOCKSTEP_AHEAD + line, _MM_HINT_T0);
      }
      __m512i w[8];
      group_block_load(group_block, w);
      acc[g] = block_step(in, 0, b, w, group_block_scales(group_block), acc[g]);
    }
  }
#pragma GCC unroll 4
  for(int g = 0; g < LOCKSTEP; g++) _mm512_storeu_ps(y + g * TENSOR_Q8_0_GROUP, acc[g]);
}

void kernels_avx512_matmul_q8_0(const kernel_input *in, const void *w, size_t rows,
                                float *y, size_t y_stride){
  size_t r0 = q8_0_decode_lockstep(in, w, rows, y, LOCKSTEP, groups_lockstep);
  for(; r0 < rows; r0 += TENSOR_Q8_0_GROUP){
    const uint8_t *group = tensor_q8_0_group(w, in->cols, r0);
    const size_t live = rows - r0 < TENSOR_Q8_0_GROUP ? rows - r0 : TENSOR_Q8_0_GROUP;
    if( in->n == 1 ){
      group_one(in, group, live, y + r0);
      continue;
    }
    for(size_t i = 0; i < in->n; i += ACTS){
      group_batch(in, group, live, i, in->n - i < ACTS ? in->n - i : ACTS, y + r0, y_stride);
    }
  }
}
