/*
** fuzz_llama2c.c: libFuzzer harness for the llama2.c importer: the
** checkpoint reader (import_llama2c) and the tokenizer.bin reader
** (tokenizer_load_llama2c).
**
**   ./configure CC=clang --enable-fuzzers && make tests/fuzz/fuzz_llama2c
**   mkdir -p /tmp/fuzz/llama2c && S=../shared/models/stories260K
**   (head -c 4124 $S/stories260K.bin; printf -- '--tokenizer.bin--'; cat $S/tok512.bin) \
**     > /tmp/fuzz/llama2c/stories260K
**   (head -c 28 $S/stories260K.bin; printf -- '--tokenizer.bin--'; head -c 600 $S/tok512.bin) \
**     > /tmp/fuzz/llama2c/header-only
**   ./tests/fuzz/fuzz_llama2c -max_len=16384 /tmp/fuzz/llama2c
**
** An input is a checkpoint, then the marker "--tokenizer.bin--", then a
** tokenizer.bin (none if the marker is missing).  Both go to files in a
** temporary directory of the process (the loaders take paths), removed at
** exit.  The tokenizer is loaded on its own first, with the vocab size the
** checkpoint's header gives, and walked: every token read back, a text
** encoded and decoded.  Then the pair is imported into a model database.
**
** A checkpoint must be exactly as long as its header promises, which a
** fuzzer never guesses, so when the importer's message says that the
** header "promises N bytes" and N is at most FUZZ_MAX_CHECKPOINT, the
** checkpoint is cut or padded to N bytes (repeating its float data) and
** imported again.  A seed then only needs the header and a few floats.
** (A change to that message costs coverage, not correctness.)
**
** Invariants, abort() when broken: a refused input comes with a message
** and leaves no file behind, neither the database nor the writer's
** temporary file (import.h); an accepted one gives a database that
** model_open opens.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import/import.h"
#include "import/model_writer.h"
#include "model.h"
#include "tokenizer/tokenizer.h"

#define FUZZ_MARKER "--tokenizer.bin--"
#define FUZZ_HEADER 28                    /* seven int32 */
#define FUZZ_MAX_CHECKPOINT (4u << 20)

static char fuzz_dir[64];
static char fuzz_checkpoint[128], fuzz_tokenizer[128], fuzz_out[128];

static void require(int ok){
  if( !ok ) abort();
}

static void fuzz_cleanup(void){
  char temp[256];
  model_writer_temp_path(fuzz_out, temp, sizeof temp);
  unlink(fuzz_checkpoint);
  unlink(fuzz_tokenizer);
  unlink(fuzz_out);
  unlink(temp);
  rmdir(fuzz_dir);
}

static void fuzz_init(void){
  snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz_llama2c.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  require(mkdtemp(fuzz_dir) != NULL);
  snprintf(fuzz_checkpoint, sizeof fuzz_checkpoint, "%s/model.bin", fuzz_dir);
  snprintf(fuzz_tokenizer, sizeof fuzz_tokenizer, "%s/tokenizer.bin", fuzz_dir);
  snprintf(fuzz_out, sizeof fuzz_out, "%s/model.db", fuzz_dir);
  atexit(fuzz_cleanup);
}

static void fuzz_write(const char *path, const uint8_t *data, size_t size){
  FILE *f = fopen(path, "wb");
  require(f != NULL);
  require(size == 0 || fwrite(data, 1, size, f) == size);
  require(fclose(f) == 0);
}

/* The checkpoint cut or padded to n bytes: the header, then its float
** data repeated (zeros if it has none). */
static void fuzz_write_sized(const uint8_t *data, size_t size, size_t n){
  uint8_t *buf = calloc(n, 1);
  require(buf != NULL && size >= FUZZ_HEADER && n >= FUZZ_HEADER);
  memcpy(buf, data, FUZZ_HEADER);
  size_t body = size - FUZZ_HEADER;
  for(size_t at = FUZZ_HEADER; body && at < n; at += body){
    memcpy(buf + at, data + FUZZ_HEADER, at + body <= n ? body : n - at);
  }
  fuzz_write(fuzz_checkpoint, buf, n);
  free(buf);
}

/* Every token read back, and a text (the input's first bytes, then a
** fixed one) encoded: ids in range, each decoding without error. */
static void fuzz_walk_tokenizer(const tokenizer *t, int vocab,
                                const uint8_t *data, size_t size){
  char err[256];
  int ids[512];
  require(tokenizer_vocab_size(t) == vocab);
  for(int id = 0; id < vocab; id++){
    const char *piece;
    size_t len;
    token_kind kind;
    require(tokenizer_token(t, id, &piece, &len, NULL, &kind) == 0);
    require(len == 0 || piece != NULL);
  }
  require(tokenizer_token(t, vocab, &(const char *){ 0 }, &(size_t){ 0 }, NULL,
                          &(token_kind){ 0 }) == -1);
  const char *texts[2] = { (const char *)data, "Once upon a time, \xE2\x96\x81 <s>\xFF" };
  size_t lens[2] = { size < 64 ? size : 64, strlen(texts[1]) };
  for(int k = 0; k < 2; k++){
    for(int special = 0; special < 2; special++){
      int n = tokenizer_encode(t, texts[k], lens[k], special, ids, 512, err, sizeof err);
      require(n >= 0 && n <= 512);
      for(int i = 0; i < n; i++){
        const char *out;
        require(ids[i] >= 0 && ids[i] < vocab);
        require(tokenizer_decode_piece(t, i ? ids[i - 1] : -1, ids[i], &out) >= 0);
      }
    }
  }
}

/* Import the files; on success the database must open, on failure nothing
** may be left.  Returns the header's promised size when the importer
** refused the checkpoint's length, else 0. */
static size_t fuzz_import(void){
  char err[512] = "", temp[256];
  import_options opt = { .tokenizer_path = fuzz_tokenizer, .dtype = -1 };
  model_writer *w = model_writer_open(fuzz_out, err, sizeof err);
  require(w != NULL);
  if( import_llama2c(fuzz_checkpoint, &opt, w, err, sizeof err) == 0
   && model_writer_commit(w) == 0 ){
    model *m = model_open(fuzz_out, err, sizeof err);
    if( m == NULL ){
      fprintf(stderr, "fuzz_llama2c: imported, but model_open says: %s\n", err);
      abort();
    }
    model_release(m);
    require(unlink(fuzz_out) == 0);
    return 0;
  }
  if( err[0] == 0 ) snprintf(err, sizeof err, "%s", model_writer_error(w));
  model_writer_abort(w);
  model_writer_temp_path(fuzz_out, temp, sizeof temp);
  require(err[0] != 0);
  require(access(fuzz_out, F_OK) != 0 && access(temp, F_OK) != 0);
  const char *promise = strstr(err, "promises ");
  unsigned long long n = 0;
  if( promise && sscanf(promise, "promises %llu", &n) == 1 ) return (size_t)n;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  char err[256];
  if( fuzz_dir[0] == 0 ) fuzz_init();
  const uint8_t *marker = memmem(data, size, FUZZ_MARKER, strlen(FUZZ_MARKER));
  size_t ckpt_len = marker ? (size_t)(marker - data) : size;
  const uint8_t *tok = marker ? marker + strlen(FUZZ_MARKER) : data + size;
  size_t tok_len = (size_t)(data + size - tok);
  fuzz_write(fuzz_checkpoint, data, ckpt_len);
  fuzz_write(fuzz_tokenizer, tok, tok_len);

  int32_t vocab = 512;
  if( ckpt_len >= FUZZ_HEADER ) memcpy(&vocab, data + 20, 4);
  if( vocab < 0 && vocab != INT32_MIN ) vocab = -vocab;
  tokenizer *t = vocab <= (1 << 22) ? tokenizer_load_llama2c(fuzz_tokenizer, vocab, err, sizeof err)
                                    : NULL;
  if( t ){
    fuzz_walk_tokenizer(t, vocab, data, size);
    tokenizer_free(t);
  }

  size_t promised = fuzz_import();
  if( promised && promised != ckpt_len && promised <= FUZZ_MAX_CHECKPOINT
   && ckpt_len >= FUZZ_HEADER ){
    fuzz_write_sized(data, ckpt_len, promised);
    fuzz_import();
  }
  return 0;
}
