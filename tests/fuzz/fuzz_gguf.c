/*
** fuzz_gguf.c: libFuzzer harness for the GGUF reader.
**
**   ./configure CC=clang --enable-fuzzers && make tests/fuzz/fuzz_gguf
**   ./tests/fuzz/fuzz_gguf -max_len=65536 corpus/
**
** Each input is parsed with gguf_parse.  A refused input must come with a
** message.  An accepted one is walked through every accessor: every key,
** every array element, every tensor, and every name is looked up again, so
** that AddressSanitizer sees each byte the reader hands out, and the
** invariants the importer relies on are checked (abort() reports a finding).
** The first row of every tensor of a block type tensql stores is decoded
** (kernel_dequantize) and its blocks' scales are checked (quant_bad_block),
** so that the block decoders of every type meet arbitrary bytes.
** A good seed corpus: the small GGUFs in ../shared and tests/tmp/sample.gguf,
** which `make check` writes.
*/
#include "format/gguf.h"
#include "kernels/kernels.h"
#include "kernels/quants.h"

#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;   /* keeps the reads from being optimised away */

static void require(int ok){
  if( !ok ) abort();
}

static void touch(gguf_str s){
  if( s.len == 0 ) return;
  sink += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
}

/* The name as a C string, or NULL if it holds a NUL (lookup cannot find it). */
static char *c_string(gguf_str s){
  char *c;
  if( memchr(s.ptr, 0, (size_t)s.len) ) return NULL;
  c = malloc((size_t)s.len + 1);
  require(c != NULL);
  memcpy(c, s.ptr, (size_t)s.len);
  c[s.len] = 0;
  return c;
}

static void walk_array(const gguf *g, uint64_t i){
  gguf_type type;
  uint64_t n;
  require(gguf_arr_info(g, i, &type, &n) == 0);
  for( uint64_t j = 0; j < n; j++ ){
    int64_t v;
    double d;
    gguf_str s;
    if( gguf_arr_int(g, i, j, &v) == 0 ) sink += (uint64_t)v;
    if( gguf_arr_float(g, i, j, &d) == 0 ) sink += (uint64_t)(d == d);
    if( gguf_arr_string(g, i, j, &s) == 0 ) touch(s);
    else require(type != GGUF_STRING);
  }
  require(gguf_arr_int(g, i, n, &(int64_t){ 0 }) != 0);
}

static void walk_key(const gguf *g, uint64_t i){
  gguf_str key = gguf_kv_key(g, i), s;
  char *name = c_string(key);
  int64_t v;
  uint64_t u;
  double d;
  touch(key);
  if( name ){
    char *dup = gguf_get_string_dup(g, name);
    require(gguf_find_key(g, name) == (int64_t)i);
    require((dup != NULL) == (gguf_kv_type(g, i) == GGUF_STRING));
    free(dup);
    free(name);
  }
  if( gguf_kv_type(g, i) == GGUF_ARRAY ){
    walk_array(g, i);
    return;
  }
  if( gguf_kv_int(g, i, &v) == 0 ) sink += (uint64_t)v;
  if( gguf_kv_uint64(g, i, &u) == 0 ) sink += u;
  if( gguf_kv_float(g, i, &d) == 0 ) sink += (uint64_t)(d == d);
  if( gguf_kv_string(g, i, &s) == 0 ) touch(s);
  else require(gguf_kv_type(g, i) != GGUF_STRING);
}

/* Decode the first row of a tensor of a block type tensql stores (their
** decoders read bytes, at any alignment), and check its rows' scales. */
static void decode_first_row(const gguf_tensor *t){
  const tensor_dtype type = (tensor_dtype)t->type;
  uint64_t cols = t->ne[0];
  if( !quant_is_block_type(type) && type != TENSOR_Q8_0 ) return;
  size_t row_bytes = tensor_row_bytes(type, cols);
  if( row_bytes == 0 || row_bytes > t->size || cols > (1u << 16) ) return;
  float *row = malloc(cols * sizeof *row);
  require(row != NULL);
  kernel_dequantize(type, t->data, row, cols);
  sink += (uint64_t)(row[0] == row[0]);
  sink += (uint64_t)quant_bad_block(type, t->data, t->size / row_bytes * cols);
  free(row);
}

static void walk_tensor(const gguf *g, const uint8_t *buf, size_t len,
                        uint64_t i){
  const gguf_tensor *t = gguf_tensor_at(g, i);
  char *name = c_string(t->name);
  touch(t->name);
  require(t->n_dims >= 1 && t->n_dims <= 4);
  require(gguf_ggml_type_name(t->type) != NULL);
  require(t->offset <= len && t->size <= len - t->offset);
  require(t->data == buf + t->offset);
  require(t->offset % gguf_alignment(g) == 0);
  if( t->size ) sink += t->data[0] + t->data[t->size - 1];
  decode_first_row(t);
  if( name ){
    require(gguf_find_tensor(g, name) == t);
    free(name);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  char err[512] = "";
  gguf *g = gguf_parse(data, size, err, sizeof err);
  if( !g ){
    require(strncmp(err, "gguf: ", 6) == 0);
    return 0;
  }
  require(gguf_version(g) == 2 || gguf_version(g) == 3);
  for( uint64_t i = 0; i < gguf_kv_count(g); i++ ) walk_key(g, i);
  for( uint64_t i = 0; i < gguf_tensor_count(g); i++ ){
    walk_tensor(g, data, size, i);
  }
  require(gguf_tensor_at(g, gguf_tensor_count(g)) == NULL);
  gguf_close(g);
  return 0;
}
