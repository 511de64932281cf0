/*
** fuzz_tokenizer.c: libFuzzer harness for the tokenizers.
**
**   ./configure CC=clang --enable-fuzzers && make tests/fuzz/fuzz_tokenizer
**   mkdir -p build/corpus && ./tests/fuzz/fuzz_tokenizer build/corpus -max_total_time=600
**
** Every input, arbitrary bytes, is encoded by the real Qwen2.5 tokenizer
** (byte-level BPE, Hugging Face files), the Llama SPM vocab (GGUF) and
** tok512 (llama2.c), with and without special-token parsing.  Besides
** "never crash", it checks the round trip tokenizer.h promises for any
** bytes: decoding gives the input back, except that with parse_special the
** control tokens decode to nothing, so there their own text is put back.
** A long repetition of each input also runs, to reach the chunk cache.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

static tokenizer *fuzz_tokenizers[3];

static void fuzz_load(void){
  char err[256] = "";
  gguf *g = gguf_open(SHARED("tokenizers/llama.cpp-vectors/ggml-vocab-llama-spm.gguf"),
                      err, sizeof err);
  fuzz_tokenizers[0] = tokenizer_load_hf(SHARED("tokenizers/qwen2.5"), err, sizeof err);
  fuzz_tokenizers[1] = g ? tokenizer_load_gguf(g, err, sizeof err) : NULL;
  fuzz_tokenizers[2] = tokenizer_load_llama2c(SHARED("models/stories260K/tok512.bin"),
                                              512, err, sizeof err);
  gguf_close(g);
  for(int i = 0; i < 3; i++){
    if( !fuzz_tokenizers[i] ){
      fprintf(stderr, "fuzz_tokenizer: cannot load tokenizer %d: %s\n", i, err);
      abort();
    }
  }
}

/* Text the ids stand for, with control tokens spelled out; SIZE_MAX if it
** would not fit in cap bytes. */
static size_t fuzz_render(const tokenizer *t, const int *ids, int n, char *out,
                          size_t cap){
  size_t at = 0;
  for(int i = 0; i < n; i++){
    const char *p;
    size_t len;
    token_kind kind;
    tokenizer_token(t, ids[i], &p, &len, NULL, &kind);
    if( kind != TOKEN_CONTROL && kind != TOKEN_UNKNOWN ){
      int k = tokenizer_decode_piece(t, i ? ids[i - 1] : -1, ids[i], &p);
      if( k < 0 ) abort();
      len = (size_t)k;
    }
    if( len > cap - at ) return SIZE_MAX;
    memcpy(out + at, p, len);
    at += len;
  }
  return at;
}

static void fuzz_one(const tokenizer *t, const uint8_t *data, size_t size,
                     int parse_special){
  char err[256];
  int n = tokenizer_encode(t, (const char *)data, size, parse_special, NULL, 0,
                           err, sizeof err);
  if( n < 0 ){
    fprintf(stderr, "encode failed: %s\n", err);
    abort();
  }
  int *ids = malloc(((size_t)n + 1) * sizeof *ids);
  char *text = malloc(size + 1);
  if( !ids || !text ) abort();
  if( tokenizer_encode(t, (const char *)data, size, parse_special, ids, n,
                       err, sizeof err) != n ) abort();
  size_t len = fuzz_render(t, ids, n, text, size);
  if( len != size || memcmp(text, data, size) != 0 ){
    fprintf(stderr, "round trip failed (%s, parse_special %d): %zu bytes in\n",
            tokenizer_pre(t) ? tokenizer_pre(t) : "spm", parse_special, size);
    abort();
  }
  free(ids);
  free(text);
}

/* The input repeated to 2 KiB or more: enough chunks that encode turns on
** its chunk cache, which shorter inputs never reach. */
static uint8_t *fuzz_repeat(const uint8_t *data, size_t size, size_t *out_len){
  size_t reps = 2048 / size + 1;
  uint8_t *rep = malloc(size * reps);
  if( !rep ) abort();
  for(size_t i = 0; i < reps; i++) memcpy(rep + i * size, data, size);
  *out_len = size * reps;
  return rep;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  if( !fuzz_tokenizers[0] ) fuzz_load();
  size_t rep_len = 0;
  uint8_t *rep = size ? fuzz_repeat(data, size, &rep_len) : NULL;
  for(int i = 0; i < 3; i++){
    fuzz_one(fuzz_tokenizers[i], data, size, 0);
    fuzz_one(fuzz_tokenizers[i], data, size, 1);
    if( rep ) fuzz_one(fuzz_tokenizers[i], rep, rep_len, 1);
  }
  free(rep);
  return 0;
}
