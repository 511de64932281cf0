/*
** sampler.c: next-token choice (see sampler.h).  The steps and their order
** follow llama2.c's run.c exactly (greedy argmax; temperature; softmax; one
** random float; multinomial or top-p), because the reference outputs in
** ../shared were made by it.  top_k, which run.c lacks, cuts the candidate
** list before top-p.
*/
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sampler_init(sampler *s, size_t vocab, float temperature, int top_k,
                 float top_p, uint64_t seed){
  memset(s, 0, sizeof *s);
  s->vocab = vocab;
  s->temperature = temperature;
  s->top_k = top_k;
  s->top_p = top_p;
  s->rng = seed;
  s->probs = malloc(vocab * sizeof *s->probs);
  s->candidates = malloc(vocab * sizeof *s->candidates);
  return s->probs && s->candidates ? 0 : -1;
}

void sampler_free(sampler *s){
  free(s->probs);
  free(s->candidates);
}

/* run.c's random_u32 / random_f32: xorshift64* */
static uint32_t random_u32(uint64_t *state){
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

static float random_f32(uint64_t *state){
  return (random_u32(state) >> 8) / 16777216.0f;
}

static void softmax(float *x, size_t n){
  float max = x[0], sum = 0;
  for(size_t i = 1; i < n; i++) if( x[i] > max ) max = x[i];
  for(size_t i = 0; i < n; i++){
    x[i] = expf(x[i] - max);
    sum += x[i];
  }
  for(size_t i = 0; i < n; i++) x[i] /= sum;
}

static int argmax(const float *x, size_t n){
  size_t best = 0;
  for(size_t i = 1; i < n; i++) if( x[i] > x[best] ) best = i;
  return (int)best;
}

static int sample_multinomial(const float *probs, size_t n, float coin){
  float cdf = 0;
  for(size_t i = 0; i < n; i++){
    cdf += probs[i];
    if( coin < cdf ) return (int)i;
  }
  return (int)n - 1;
}

static int candidate_desc(const void *a, const void *b){
  const struct sampler_candidate *x = a, *y = b;
  return x->p > y->p ? -1 : x->p < y->p ? 1 : 0;
}

/* Keep the candidates run.c keeps (p >= (1 - top_p) / (n - 1)), sorted by
** probability, then at most top_k of them, then the smallest prefix whose
** mass exceeds top_p; sample within it. */
static int sample_cut(sampler *s, float coin){
  size_t n = 0;
  float cutoff = s->top_p > 0 && s->top_p < 1 ? (1.0f - s->top_p) / (float)(s->vocab - 1) : 0;
  for(size_t i = 0; i < s->vocab; i++){
    if( s->probs[i] >= cutoff ){
      s->candidates[n].id = (int)i;
      s->candidates[n++].p = s->probs[i];
    }
  }
  qsort(s->candidates, n, sizeof *s->candidates, candidate_desc);
  if( s->top_k > 0 && (size_t)s->top_k < n ) n = (size_t)s->top_k;
  float mass = 0;
  size_t last = n - 1;
  for(size_t i = 0; i < n; i++){
    mass += s->candidates[i].p;
    if( s->top_p > 0 && s->top_p < 1 && mass > s->top_p ){
      last = i;
      break;
    }
  }
  if( !(s->top_p > 0 && s->top_p < 1) ){
    mass = 0;
    for(size_t i = 0; i <= last; i++) mass += s->candidates[i].p;
  }
  float r = coin * mass, cdf = 0;
  for(size_t i = 0; i <= last; i++){
    cdf += s->candidates[i].p;
    if( r < cdf ) return s->candidates[i].id;
  }
  return s->candidates[last].id;
}

float sampler_logprob(const sampler *s, const float *logits, int id){
  float max = logits[0];
  double sum = 0;
  for(size_t i = 1; i < s->vocab; i++) if( logits[i] > max ) max = logits[i];
  for(size_t i = 0; i < s->vocab; i++) sum += exp((double)(logits[i] - max));
  return (float)((double)(logits[id] - max) - log(sum));
}

int sampler_sample(sampler *s, const float *logits){
  int id;
  if( s->temperature == 0 ){
    id = argmax(logits, s->vocab);
  }else{
    for(size_t i = 0; i < s->vocab; i++) s->probs[i] = logits[i] / s->temperature;
    softmax(s->probs, s->vocab);
    float coin = random_f32(&s->rng);
    int cut = (s->top_p > 0 && s->top_p < 1) || s->top_k > 0;
    id = cut ? sample_cut(s, coin) : sample_multinomial(s->probs, s->vocab, coin);
  }
  return id;
}
