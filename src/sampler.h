/*
** sampler.h: choosing the next token from logits, as llama2.c's run.c
** does, so that a seeded run reproduces run.c's output token for token:
** greedy at temperature 0; otherwise softmax(logits / T), optionally cut to
** the top k and to the nucleus top_p, sampled with run.c's xorshift RNG.
*/
#ifndef TENSQL_SAMPLER_H
#define TENSQL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sampler {
  size_t vocab;
  float temperature;       /* 0 = greedy */
  int top_k;               /* 0 = off */
  float top_p;             /* <= 0 or >= 1 = off */
  uint64_t rng;            /* run.c's rng_state */
  float *probs;            /* scratch of vocab */
  struct sampler_candidate { float p; int id; } *candidates;
} sampler;

int sampler_init(sampler *s, size_t vocab, float temperature, int top_k,
                 float top_p, uint64_t seed);
void sampler_free(sampler *s);

/* The next token from logits (left unchanged). */
int sampler_sample(sampler *s, const float *logits);

/* The log-probability of token id under softmax(logits).  A pass of exp
** over the whole vocabulary (1.5 ms for Qwen's 151936), so generate makes
** it only when its logprob column is read. */
float sampler_logprob(const sampler *s, const float *logits, int id);

#endif
