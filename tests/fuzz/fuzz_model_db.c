/*
** fuzz_model_db.c: libFuzzer harness for opening a model database, as a
** client does: sqlite3_open, tensql_register, then what `tensql info`
** shows and two steps of generate.
**
**   ./configure CC=clang --enable-fuzzers && make tests/fuzz/fuzz_model_db tensql
**   ./tensql import ../shared/models/stories260K/stories260K.gguf -o /tmp/fuzz/stories.db
**   mkdir -p /tmp/fuzz/model_db && printf '' > /tmp/fuzz/model_db/unchanged
**   TENSQL_FUZZ_MODEL=/tmp/fuzz/stories.db ./tests/fuzz/fuzz_model_db -max_len=256 \
**     -len_control=0 /tmp/fuzz/model_db
**
** It runs some 25 inputs a second (each opens the model and generates), so
** -len_control=0 lets inputs hold several patches from the start.
**
** A good seed corpus besides the empty input (the database unchanged): one
** patch in each table's pages, found with
**   sqlite3 /tmp/fuzz/stories.db "SELECT name, pageno, pgoffset FROM dbstat"
** e.g. printf '\003\000\002\002\000\007' > /tmp/fuzz/model_db/tensor-cells
** (offset 0x020003: with 64 KB pages, the cell count of page 3, the tensor
** table, cut to 7), and patches of meta values, tensor names and shapes,
** program SQL and tile bytes (grep -boa finds their offsets).
**
** The input is not a database but a list of patches to the real one named
** by TENSQL_FUZZ_MODEL (read once): records of a 3-byte little-endian
** offset (taken modulo the file's size), a length byte and that many
** bytes, applied in order; a short last record is dropped.  So mutations
** stay small, and the file stays mostly a valid model database, with its
** tiles' checksums, vocab, program and meta each a few bytes from being
** wrong.  The patched copy is written to one temporary directory per
** process (its journal files removed before each run, the directory at
** exit) and opened read-write, as the sqlite3 shell opens it.
**
** Any SQL error is fine: the harness steps every statement to its end and
** reads every column, and ignores the codes.  A crash, a hang or a
** sanitizer report is a finding.  Invariant, abort() when broken: a
** failed model_open says why.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "model.h"
#include "tensql.h"
#include "tokenizer/tokenizer.h"

static uint8_t *fuzz_base, *fuzz_copy;   /* the database, and a patched copy */
static size_t fuzz_size;
static char fuzz_dir[64], fuzz_db[128];
static volatile uint64_t sink;           /* keeps the reads from being optimised away */

static const char *const fuzz_sql[] = {
  "SELECT key, value FROM meta",
  "SELECT name, dtype, shape, rows, cols, tile_rows, tile_cols, n_tiles, bytes FROM tensors",
  "SELECT count(*) FROM program",
  ("SELECT tensql_model(), token_text(1), tokenize('Once upon a time'),"
   " detokenize('[403,407,261,378]')"),
  "SELECT tile_row, tile_col, length(bytes) FROM \"token_embd.weight\"",
  "SELECT token FROM generate WHERE prompt = 'Once upon' AND max_tokens = 2",
};

static void require(int ok){
  if( !ok ) abort();
}

static void fuzz_remove_db(void){
  static const char *const suffix[] = { "", "-journal", "-wal", "-shm" };
  char path[160];
  for(int i = 0; i < 4; i++){
    snprintf(path, sizeof path, "%s%s", fuzz_db, suffix[i]);
    unlink(path);
  }
}

static void fuzz_cleanup(void){
  fuzz_remove_db();
  rmdir(fuzz_dir);
}

/* Before the first input, so that a missing model stops the run plainly
** rather than as a finding. */
int LLVMFuzzerInitialize(int *argc, char ***argv){
  const char *path = getenv("TENSQL_FUZZ_MODEL");
  if( path == NULL || path[0] == 0 ){
    fprintf(stderr, "fuzz_model_db: set TENSQL_FUZZ_MODEL to a small model database, e.g.\n"
            "  ./tensql import ../shared/models/stories260K/stories260K.gguf -o /tmp/fuzz/stories.db\n"
            "  TENSQL_FUZZ_MODEL=/tmp/fuzz/stories.db ./tests/fuzz/fuzz_model_db CORPUS\n");
    exit(2);
  }
  FILE *f = fopen(path, "rb");
  long n = -1;
  if( f && fseek(f, 0, SEEK_END) == 0 ) n = ftell(f);
  if( n > 0 && fseek(f, 0, SEEK_SET) == 0 ) fuzz_base = malloc((size_t)n);
  if( fuzz_base == NULL || fread(fuzz_base, 1, (size_t)n, f) != (size_t)n ){
    fprintf(stderr, "fuzz_model_db: cannot read TENSQL_FUZZ_MODEL=%s\n", path);
    exit(2);
  }
  fclose(f);
  fuzz_size = (size_t)n;
  fuzz_copy = malloc(fuzz_size);
  require(fuzz_copy != NULL);
  snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz_model_db.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  require(mkdtemp(fuzz_dir) != NULL);
  snprintf(fuzz_db, sizeof fuzz_db, "%s/model.db", fuzz_dir);
  atexit(fuzz_cleanup);
  return 0;
}

/* The base database with the input's patches, written to fuzz_db. */
static void fuzz_write_patched(const uint8_t *data, size_t size){
  memcpy(fuzz_copy, fuzz_base, fuzz_size);
  for(size_t at = 0; at + 4 <= size; ){
    size_t offset = ((size_t)data[at] | (size_t)data[at + 1] << 8
                     | (size_t)data[at + 2] << 16) % fuzz_size;
    size_t len = data[at + 3];
    at += 4;
    if( len > size - at ) break;
    memcpy(fuzz_copy + offset, data + at,
           len < fuzz_size - offset ? len : fuzz_size - offset);
    at += len;
  }
  fuzz_remove_db();
  FILE *f = fopen(fuzz_db, "wb");
  require(f != NULL);
  require(fwrite(fuzz_copy, 1, fuzz_size, f) == fuzz_size);
  require(fclose(f) == 0);
}

/* What `tensql info` reads, through model_open as it does. */
static void fuzz_info(void){
  char err[512] = "";
  model *m = model_open(fuzz_db, err, sizeof err);
  if( m == NULL ){
    require(err[0] != 0);
    return;
  }
  char *source = model_meta_text(m, "source.file");
  sink += source ? (uint8_t)source[0] : 0;
  free(source);
  for(int i = 0; i < m->n_tensors; i++){
    const model_tensor *t = &m->tensors[i];
    sink += (uint64_t)t->dtype + (uint8_t)t->name[0] + (uint8_t)t->shape[0];
    require(model_find_tensor(m, t->name) != NULL);
  }
  sink += (uint64_t)tokenizer_vocab_size(m->tokenizer)
        + (uint64_t)tokenizer_merge_count(m->tokenizer) + (m->chat_template != NULL);
  model_release(m);
}

static void fuzz_query(sqlite3 *db, const char *sql){
  sqlite3_stmt *st = NULL;
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ) return;
  while( sqlite3_step(st) == SQLITE_ROW ){
    for(int c = 0; c < sqlite3_column_count(st); c++){
      const uint8_t *p = sqlite3_column_blob(st, c);
      int n = sqlite3_column_bytes(st, c);
      if( p && n > 0 ) sink += p[0] + p[n - 1];
    }
  }
  sqlite3_finalize(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  fuzz_write_patched(data, size);
  fuzz_info();
  sqlite3 *db = NULL;
  if( sqlite3_open_v2(fuzz_db, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK
   && tensql_register(db) == SQLITE_OK ){
    for(size_t i = 0; i < sizeof fuzz_sql / sizeof fuzz_sql[0]; i++){
      fuzz_query(db, fuzz_sql[i]);
    }
  }
  sqlite3_close(db);
  return 0;
}
