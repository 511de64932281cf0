/*
** fuzz_safetensors.c: libFuzzer harness for the safetensors reader.
**
**   ./configure CC=clang --enable-fuzzers && make tests/fuzz/fuzz_safetensors
**   mkdir -p corpus && cp ../shared/models/stories260K/hf/model.safetensors corpus/
**   ./tests/fuzz/fuzz_safetensors corpus -max_total_time=600
**
** Each input is parsed as a whole file.  When the parser accepts it, every
** tensor is walked: its name looked up again, and the first and last byte
** of its data read, so ASan catches any tensor the checks let point outside
** the input.
*/
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  char err[256];
  safetensors *st = safetensors_parse(data, size, "fuzz", err, sizeof(err));
  if( st == 0 ) return 0;
  volatile uint8_t sink = 0;
  for(size_t i = 0; i < safetensors_count(st); i++){
    const safetensors_tensor *t = safetensors_tensor_at(st, i);
    if( safetensors_find(st, t->name) != t ) __builtin_trap();
    if( t->n_dims < 0 || t->n_dims > SAFETENSORS_MAX_DIMS ) __builtin_trap();
    sink ^= (uint8_t)strlen(t->name) ^ (uint8_t)strlen(t->dtype_name);
    if( t->size ) sink ^= t->data[0] ^ t->data[t->size - 1];
  }
  (void)sink;
  safetensors_close(st);
  return 0;
}
