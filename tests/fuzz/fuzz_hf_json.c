/*
** fuzz_hf_json.c: libFuzzer harness for the Hugging Face JSON readers: the
** config.json reader of the importer (import_hf.c) and the tokenizer
** loader's tokenizer.json, vocab.json + merges.txt and
** tokenizer_config.json (tokenizer_load_hf).
**
**   ./configure CC=clang --enable-fuzzers && make tests/fuzz/fuzz_hf_json
**   mkdir -p /tmp/fuzz/hf_json && cd /tmp/fuzz/hf_json
**   S=/work/shared F=/work/main/model/fortunes     # ../shared and model/fortunes
**   (printf 0; cat $S/models/stories260K/hf/config.json) > config-stories260K
**   (printf 0; cat $F/config.json; printf '\0'; cat $F/tokenizer_config.json) > config-fortunes
**   (printf 2; cat $F/vocab.json; printf '\0'; cat $F/tokenizer_config.json; printf '\0';
**    cat $F/merges.txt) > vocab-fortunes
**   (printf 1; jq -c '.model.vocab |= with_entries(select(.value < 300))
**     | .model.vocab as $v | .model.merges |= map(select((if type == "array" then .
**       else split(" ") end) as [$l, $r] | $v[$l] and $v[$r] and $v[$l + $r]))
**     | .added_tokens |= (.[:6] | map(.id = 300 + .id % 100))'
**     $S/tokenizers/qwen3/tokenizer.json) > tokenizer-qwen3
**   cd - && ./tests/fuzz/fuzz_hf_json -max_len=65536 /tmp/fuzz/hf_json
**
** The first byte of an input chooses what the rest is ('0' + n, or any
** byte n mod 3); the rest is split at NUL bytes into files, the last
** taking all that is left (NULs included).  An empty or missing part is a
** missing file.
**   0  config.json, tokenizer_config.json, chat_template.jinja: imported
**      (import_hf) beside stories260K's model.safetensors, with tok512.bin
**      as the tokenizer, into a model database
**   1  tokenizer.json, tokenizer_config.json: tokenizer_load_hf
**   2  vocab.json, tokenizer_config.json, merges.txt: tokenizer_load_hf
** The files live in a temporary directory of the process, emptied before
** each input and removed at exit.  The real tokenizer.json files are
** megabytes, too big to mutate; the jq above keeps Qwen3's first 300
** pieces (the byte-level alphabet and more), the merges among them and
** six added tokens: 4.6 KB.
**
** Invariants, abort() when broken: a refused input comes with a message;
** a refused import leaves no file, and an accepted one opens with
** model_open; a loaded tokenizer reads back every token and merge, and
** gives any bytes back from their ids (the round trip of tokenizer.h).
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

#define STORIES SHARED_DIR "/models/stories260K"

static const char *const fuzz_files[3][3] = {
  { "config.json", "tokenizer_config.json", "chat_template.jinja" },
  { "tokenizer.json", "tokenizer_config.json", NULL },
  { "vocab.json", "tokenizer_config.json", "merges.txt" },
};
/* Every name a run may leave in the directory, for the cleanup. */
static const char *const fuzz_names[] = {
  "config.json", "tokenizer_config.json", "chat_template.jinja", "tokenizer.json",
  "vocab.json", "merges.txt", "model.db",
};

static char fuzz_dir[64];

static void require(int ok){
  if( !ok ) abort();
}

static void fuzz_path(char *out, size_t n, const char *name){
  snprintf(out, n, "%s/%s", fuzz_dir, name);
}

static void fuzz_empty_dir(void){
  char path[128], temp[256];
  for(size_t i = 0; i < sizeof fuzz_names / sizeof fuzz_names[0]; i++){
    fuzz_path(path, sizeof path, fuzz_names[i]);
    unlink(path);
  }
  model_writer_temp_path(path, temp, sizeof temp);
  unlink(temp);
}

static void fuzz_cleanup(void){
  char path[128];
  fuzz_empty_dir();
  fuzz_path(path, sizeof path, "model.safetensors");
  unlink(path);
  rmdir(fuzz_dir);
}

static void fuzz_init(void){
  char path[128];
  snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz_hf_json.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  require(mkdtemp(fuzz_dir) != NULL);
  fuzz_path(path, sizeof path, "model.safetensors");
  require(symlink(STORIES "/hf/model.safetensors", path) == 0);
  atexit(fuzz_cleanup);
}

static void fuzz_write(const char *name, const uint8_t *data, size_t size){
  char path[128];
  fuzz_path(path, sizeof path, name);
  FILE *f = fopen(path, "wb");
  require(f != NULL);
  require(fwrite(data, 1, size, f) == size);
  require(fclose(f) == 0);
}

/* Write the parts of data, split at NULs, as the files of `mode`. */
static void fuzz_write_parts(int mode, const uint8_t *data, size_t size){
  for(int i = 0; i < 3 && fuzz_files[mode][i]; i++){
    int last = i == 2 || fuzz_files[mode][i + 1] == NULL;
    const uint8_t *nul = last ? NULL : memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    if( len ) fuzz_write(fuzz_files[mode][i], data, len);
    data += len + (nul != NULL);
    size -= len + (nul != NULL);
  }
}

/* Concatenated decode_piece of ids, checked against text. */
static void fuzz_round_trip(const tokenizer *t, const char *text, size_t len){
  char err[256];
  int ids[1024];
  int n = tokenizer_encode(t, text, len, 0, ids, 1024, err, sizeof err);
  require(n >= 0 && n <= 1024);
  size_t at = 0;
  for(int i = 0; i < n; i++){
    const char *p;
    int k = tokenizer_decode_piece(t, i ? ids[i - 1] : -1, ids[i], &p);
    require(k >= 0 && (size_t)k <= len - at && memcmp(p, text + at, (size_t)k) == 0);
    at += (size_t)k;
  }
  if( at != len ){
    fprintf(stderr, "fuzz_hf_json: round trip gave %zu of %zu bytes\n", at, len);
    abort();
  }
  require(tokenizer_encode(t, text, len, 1, ids, 1024, err, sizeof err) >= 0);
}

static void fuzz_walk_tokenizer(const tokenizer *t, const uint8_t *data, size_t size){
  static const char text[] = "Hello world, <|im_start|>user\n\xFF\xE4\xBD\xA0 42 <s>";
  int vocab = tokenizer_vocab_size(t);
  for(int id = 0; id < vocab; id++){
    const char *piece;
    size_t len;
    require(tokenizer_token(t, id, &piece, &len, NULL, NULL) == 0);
    require(len == 0 || piece != NULL);
  }
  for(int r = 0; r < tokenizer_merge_count(t); r++){
    const char *l, *rt;
    size_t ll, rl;
    require(tokenizer_merge(t, r, &l, &ll, &rt, &rl) == 0);
  }
  require(tokenizer_bos(t) < vocab && tokenizer_eos(t) < vocab);
  fuzz_round_trip(t, text, sizeof text - 1);
  fuzz_round_trip(t, (const char *)data, size < 256 ? size : 256);
}

static void fuzz_import(void){
  char err[512] = "", out[128], temp[256];
  import_options opt = { .tokenizer_path = STORIES "/tok512.bin", .dtype = -1 };
  fuzz_path(out, sizeof out, "model.db");
  if( import_model(fuzz_dir, out, &opt, err, sizeof err) == 0 ){
    model *m = model_open(out, err, sizeof err);
    if( m == NULL ){
      fprintf(stderr, "fuzz_hf_json: imported, but model_open says: %s\n", err);
      abort();
    }
    model_release(m);
    return;
  }
  model_writer_temp_path(out, temp, sizeof temp);
  require(err[0] != 0);
  require(access(out, F_OK) != 0 && access(temp, F_OK) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  if( size == 0 ) return 0;
  if( fuzz_dir[0] == 0 ) fuzz_init();
  fuzz_empty_dir();
  int mode = (data[0] >= '0' ? data[0] - '0' : data[0]) % 3;
  fuzz_write_parts(mode, data + 1, size - 1);
  if( mode == 0 ){
    fuzz_import();
    return 0;
  }
  char err[512] = "";
  tokenizer *t = tokenizer_load_hf(fuzz_dir, err, sizeof err);
  if( t == NULL ){
    require(err[0] != 0);
    return 0;
  }
  fuzz_walk_tokenizer(t, data + 1, size - 1);
  tokenizer_free(t);
  return 0;
}
