/*
** model_writer.c: the writer behind `tensql import`.  It lays a model out as
** sql/schema.sql describes (meta, tensor, tile, vocab, merge, program) in a
** temporary file and renames it into place on commit, so a reader never
** sees half a model.
**
** Tiles hold whole rows, in their dtype's tile layout (tensor.h): a tile
** is tile_rows x cols, with tile_rows chosen so a tile is about tile_bytes.
** Large tiles keep the SQL layer's per-tile cost small
** (docs/ARCHITECTURE.md, "The cost of the SQL layer"), and a kernel thread's hand-offs few: decode of
** Qwen2.5-0.5B ran 1.055x faster with 1 MiB tiles than with 256 KiB on 1
** thread and 1.067x on 2 (medians of 6-8 paired runs).
*/
#include "model_writer.h"
#include "database.h"
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "kernels/kernels.h"
#include "kernels/quants.h"
#include "program.h"
#include "tokenizer/tokenizer.h"

#define DEFAULT_TILE_BYTES (1024 * 1024)

extern const char sql_text_schema[];

struct model_writer {
  sqlite3 *db;
  char *path;              /* the final name */
  char *tmp_path;          /* where we write until commit */
  sqlite3_stmt *put_tile;
  int64_t next_tile;       /* id of the next tile row */
  int64_t next_tensor;
  size_t tile_bytes;
  model_progress_fn progress;
  void *progress_ctx;
  uint64_t bytes_done, bytes_total;
  char err[512];
};

static int writer_fail(model_writer *w, const char *fmt, ...){
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->err, sizeof w->err, fmt, ap);
  va_end(ap);
  return -1;
}

static int writer_sql_fail(model_writer *w, const char *what){
  return writer_fail(w, "%s: %s: %s", w->tmp_path, what, sqlite3_errmsg(w->db));
}

static int writer_exec(model_writer *w, const char *sql){
  char *msg = 0;
  if( sqlite3_exec(w->db, sql, 0, 0, &msg) != SQLITE_OK ){
    writer_fail(w, "%s: %s", w->tmp_path, msg ? msg : "SQL error");
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static int writer_setup(model_writer *w){
  if( database_open(w->tmp_path, &w->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0) != SQLITE_OK ){
    return writer_fail(w, "cannot create %s: %s", w->tmp_path,
                       w->db ? sqlite3_errmsg(w->db) : "out of memory");
  }
  /* The temporary file is thrown away on any failure, so its journal
  ** stays in memory (a defensive connection may not turn it off):
  ** atomicity comes from the rename at commit. */
  if( writer_exec(w, "PRAGMA page_size=65536; PRAGMA journal_mode=MEMORY;"
                     "PRAGMA synchronous=OFF; BEGIN;") ) return -1;
  if( writer_exec(w, sql_text_schema) ) return -1;
  if( sqlite3_prepare_v2(w->db,
        "INSERT INTO tile(id, tensor_id, tile_row, tile_col, checksum, data)"
        " VALUES (?1, ?2, ?3, 0, ?4, ?5)", -1, &w->put_tile, 0) != SQLITE_OK ){
    return writer_sql_fail(w, "prepare");
  }
  return 0;
}

void model_writer_temp_path(const char *path, char *out, size_t out_len){
  snprintf(out, out_len, "%s.tmp-%ld", path, (long)getpid());
}

model_writer *model_writer_open(const char *path, char *err, size_t err_len){
  model_writer *w = calloc(1, sizeof *w);
  if( w == 0 ){
    snprintf(err, err_len, "out of memory");
    return 0;
  }
  w->path = strdup(path);
  w->tmp_path = malloc(strlen(path) + 32);
  if( w->path == 0 || w->tmp_path == 0 ){
    snprintf(err, err_len, "out of memory");
    model_writer_abort(w);
    return 0;
  }
  model_writer_temp_path(path, w->tmp_path, strlen(path) + 32);
  w->tile_bytes = DEFAULT_TILE_BYTES;
  w->next_tile = 1;
  w->next_tensor = 1;
  unlink(w->tmp_path);
  if( writer_setup(w) ){
    snprintf(err, err_len, "%s", w->err);
    model_writer_abort(w);
    return 0;
  }
  return w;
}

void model_writer_progress(model_writer *w, model_progress_fn fn, void *ctx,
                           uint64_t total_bytes){
  w->progress = fn;
  w->progress_ctx = ctx;
  w->bytes_total = total_bytes;
}

void model_writer_tile_bytes(model_writer *w, size_t bytes){
  w->tile_bytes = bytes ? bytes : DEFAULT_TILE_BYTES;
}

const char *model_writer_error(const model_writer *w){
  return w->err;
}

/* ---- metadata ------------------------------------------------------------ */

static sqlite3_stmt *meta_statement(model_writer *w, const char *key){
  sqlite3_stmt *st = 0;
  if( sqlite3_prepare_v2(w->db, "INSERT OR REPLACE INTO meta(key, value)"
                         " VALUES (?1, ?2)", -1, &st, 0) != SQLITE_OK ){
    writer_sql_fail(w, "meta");
    return 0;
  }
  sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
  return st;
}

static int meta_finish(model_writer *w, sqlite3_stmt *st, const char *key){
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ) return writer_sql_fail(w, key);
  return 0;
}

int model_writer_meta_text(model_writer *w, const char *key, const char *value){
  sqlite3_stmt *st = meta_statement(w, key);
  if( st == 0 ) return -1;
  sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
  return meta_finish(w, st, key);
}

int model_writer_meta_int(model_writer *w, const char *key, int64_t value){
  sqlite3_stmt *st = meta_statement(w, key);
  if( st == 0 ) return -1;
  sqlite3_bind_int64(st, 2, value);
  return meta_finish(w, st, key);
}

int model_writer_meta_float(model_writer *w, const char *key, double value){
  sqlite3_stmt *st = meta_statement(w, key);
  if( st == 0 ) return -1;
  sqlite3_bind_double(st, 2, value);
  return meta_finish(w, st, key);
}

/* ---- tensors ------------------------------------------------------------- */

/* Convert one row of n elements from src to dst dtype through floats. */
static void convert_row(tensor_dtype src_dtype, const void *src,
                        tensor_dtype dst_dtype, void *dst, size_t n,
                        float *scratch){
  kernel_dequantize(src_dtype, src, scratch, n);
  switch( dst_dtype ){
    case TENSOR_F32:
      memcpy(dst, scratch, n * sizeof(float));
      break;
    case TENSOR_F16:
      for(size_t i = 0; i < n; i++) ((uint16_t*)dst)[i] = kernel_f32_to_f16(scratch[i]);
      break;
    case TENSOR_BF16:
      for(size_t i = 0; i < n; i++) ((uint16_t*)dst)[i] = kernel_f32_to_bf16(scratch[i]);
      break;
    case TENSOR_Q8_0:
      kernel_quantize_q8_0(scratch, dst, n);
      break;
    case TENSOR_Q4_0:
      quant_quantize_q4_0(scratch, dst, n);
      break;
    default:      /* no other type is a target (import_dtype_writable) */
      break;
  }
}

static int tensor_insert(model_writer *w, const char *name, tensor_dtype dtype,
                         int n_dims, const uint64_t *shape, uint64_t rows,
                         uint64_t cols, uint64_t tile_rows, uint64_t n_tiles){
  char shape_json[128];
  int k = snprintf(shape_json, sizeof shape_json, "[");
  for(int i = 0; i < n_dims; i++){
    k += snprintf(shape_json + k, sizeof shape_json - (size_t)k, "%s%llu",
                  i ? "," : "", (unsigned long long)shape[i]);
  }
  snprintf(shape_json + k, sizeof shape_json - (size_t)k, "]");
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(w->db,
      "INSERT INTO tensor(id, name, dtype, shape, rows, cols, tile_rows,"
      " tile_cols, first_tile, n_tiles) VALUES (?,?,?,?,?,?,?,?,?,?)", -1, &st, 0);
  if( rc != SQLITE_OK ) return writer_sql_fail(w, name);
  sqlite3_bind_int64(st, 1, w->next_tensor);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, tensor_dtype_name(dtype), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, shape_json, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, (int64_t)rows);
  sqlite3_bind_int64(st, 6, (int64_t)cols);
  sqlite3_bind_int64(st, 7, (int64_t)tile_rows);
  sqlite3_bind_int64(st, 8, (int64_t)cols);
  sqlite3_bind_int64(st, 9, w->next_tile);
  sqlite3_bind_int64(st, 10, (int64_t)n_tiles);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if( rc == SQLITE_CONSTRAINT ) return writer_fail(w, "tensor %s appears twice", name);
  if( rc != SQLITE_DONE ) return writer_sql_fail(w, name);
  return 0;
}

static int tile_insert(model_writer *w, uint64_t tile_row, const void *data,
                       size_t bytes){
  sqlite3_stmt *st = w->put_tile;
  sqlite3_reset(st);
  sqlite3_bind_int64(st, 1, w->next_tile);
  sqlite3_bind_int64(st, 2, w->next_tensor);
  sqlite3_bind_int64(st, 3, (int64_t)tile_row);
  sqlite3_bind_int64(st, 4, (int64_t)XXH3_64bits(data, bytes));
  sqlite3_bind_blob64(st, 5, data, bytes, SQLITE_STATIC);
  if( sqlite3_step(st) != SQLITE_DONE ) return writer_sql_fail(w, "tile");
  w->next_tile++;
  return 0;
}

/* Rows per tile: whole rows filling about tile_bytes, a whole number of
** Q8_0 groups when there are enough rows, so that only a tensor's last
** tile has a padded group. */
static uint64_t tile_rows_for(const model_writer *w, uint64_t rows, size_t row_bytes){
  uint64_t t = w->tile_bytes / row_bytes;
  if( t >= TENSOR_Q8_0_GROUP ) t -= t % TENSOR_Q8_0_GROUP;
  if( t == 0 ) t = 1;
  return t < rows ? t : rows;
}

/* Rows are converted into `rows_buf` when the dtype changes, then laid out
** as a tile into `tile_buf` when the layout is not plain rows (Q8_0). */
static int tensor_tiles(model_writer *w, uint64_t rows, uint64_t cols,
                        uint64_t tile_rows, tensor_dtype src_dtype,
                        const uint8_t *src, tensor_dtype dst_dtype){
  size_t src_row = tensor_row_bytes(src_dtype, cols);
  size_t dst_row = tensor_row_bytes(dst_dtype, cols);
  int convert = src_dtype != dst_dtype, pack = dst_dtype == TENSOR_Q8_0;
  uint8_t *rows_buf = convert ? malloc(tile_rows * dst_row) : 0;
  uint8_t *tile_buf = pack ? malloc(tensor_tile_bytes(dst_dtype, tile_rows, cols)) : 0;
  float *scratch = convert ? malloc(cols * sizeof(float)) : 0;
  int rc = 0;
  if( (convert && (rows_buf == 0 || scratch == 0)) || (pack && tile_buf == 0) ){
    rc = writer_fail(w, "out of memory");
  }
  for(uint64_t r0 = 0; rc == 0 && r0 < rows; r0 += tile_rows){
    uint64_t n = rows - r0 < tile_rows ? rows - r0 : tile_rows;
    const uint8_t *tile = src + r0 * src_row;
    if( convert ){
      for(uint64_t i = 0; i < n; i++){
        convert_row(src_dtype, tile + i * src_row, dst_dtype, rows_buf + i * dst_row, cols, scratch);
      }
      tile = rows_buf;
    }
    if( pack ){
      tensor_tile_pack(dst_dtype, tile, n, cols, tile_buf);
      tile = tile_buf;
    }
    rc = tile_insert(w, r0 / tile_rows, tile, tensor_tile_bytes(dst_dtype, n, cols));
    w->bytes_done += n * src_row;
    if( w->progress ) w->progress(w->progress_ctx, w->bytes_done, w->bytes_total);
  }
  free(rows_buf);
  free(tile_buf);
  free(scratch);
  return rc;
}

int model_writer_tensor(model_writer *w, const char *name, int n_dims,
                        const uint64_t *shape, tensor_dtype src_dtype,
                        const void *src, tensor_dtype dst_dtype){
  if( n_dims < 1 || n_dims > 4 ){
    return writer_fail(w, "tensor %s: %d dimensions (1 to 4 supported)", name, n_dims);
  }
  uint64_t cols = shape[n_dims - 1], rows = 1;
  for(int i = 0; i < n_dims - 1; i++){
    if( shape[i] == 0 || rows > UINT64_MAX / shape[i] ){
      return writer_fail(w, "tensor %s: bad shape", name);
    }
    rows *= shape[i];
  }
  size_t src_row = tensor_row_bytes(src_dtype, cols);
  size_t dst_row = tensor_row_bytes(dst_dtype, cols);
  if( src_row == 0 || dst_row == 0 ){
    return writer_fail(w, "tensor %s: %llu columns cannot be stored as %s",
                       name, (unsigned long long)cols,
                       tensor_dtype_name(src_row ? dst_dtype : src_dtype));
  }
  int64_t bad = quant_bad_block(src_dtype, src, rows * cols);
  if( bad >= 0 ){
    return writer_fail(w, "tensor %s: block %lld has a scale that is NaN or infinite",
                       name, (long long)bad);
  }
  uint64_t tile_rows = tile_rows_for(w, rows, dst_row);
  uint64_t n_tiles = (rows + tile_rows - 1) / tile_rows;
  if( tensor_insert(w, name, dst_dtype, n_dims, shape, rows, cols, tile_rows, n_tiles) ) return -1;
  if( tensor_tiles(w, rows, cols, tile_rows, src_dtype, src, dst_dtype) ) return -1;
  w->next_tensor++;
  return 0;
}

/* ---- tokenizer ----------------------------------------------------------- */

static int vocab_insert(model_writer *w, const struct tokenizer *t){
  sqlite3_stmt *st = 0;
  if( sqlite3_prepare_v2(w->db, "INSERT INTO vocab(id, piece, score, kind)"
                         " VALUES (?,?,?,?)", -1, &st, 0) != SQLITE_OK ){
    return writer_sql_fail(w, "vocab");
  }
  int rc = 0;
  for(int id = 0; rc == 0 && id < tokenizer_vocab_size(t); id++){
    const char *piece; size_t len; float score; token_kind kind;
    tokenizer_token(t, id, &piece, &len, &score, &kind);
    sqlite3_reset(st);
    sqlite3_bind_int(st, 1, id);
    sqlite3_bind_blob64(st, 2, len ? piece : "", len, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, score);
    sqlite3_bind_int(st, 4, (int)kind);
    if( sqlite3_step(st) != SQLITE_DONE ) rc = writer_sql_fail(w, "vocab");
  }
  sqlite3_finalize(st);
  return rc;
}

static int merges_insert(model_writer *w, const struct tokenizer *t){
  sqlite3_stmt *st = 0;
  if( sqlite3_prepare_v2(w->db, "INSERT INTO merge(rank, left, right)"
                         " VALUES (?,?,?)", -1, &st, 0) != SQLITE_OK ){
    return writer_sql_fail(w, "merge");
  }
  int rc = 0;
  for(int rank = 0; rc == 0 && rank < tokenizer_merge_count(t); rank++){
    const char *l, *r; size_t ll, rl;
    tokenizer_merge(t, rank, &l, &ll, &r, &rl);
    sqlite3_reset(st);
    sqlite3_bind_int(st, 1, rank);
    sqlite3_bind_blob64(st, 2, l, ll, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 3, r, rl, SQLITE_STATIC);
    if( sqlite3_step(st) != SQLITE_DONE ) rc = writer_sql_fail(w, "merge");
  }
  sqlite3_finalize(st);
  return rc;
}

int model_writer_tokenizer(model_writer *w, const struct tokenizer *t){
  if( vocab_insert(w, t) || merges_insert(w, t) ) return -1;
  if( model_writer_meta_text(w, "tokenizer.ggml.model",
        tokenizer_kind_of(t) == TOKENIZER_SPM ? "llama" : "gpt2") ) return -1;
  if( tokenizer_kind_of(t) == TOKENIZER_BPE
   && model_writer_meta_text(w, "tokenizer.ggml.pre", tokenizer_pre(t)) ) return -1;
  if( tokenizer_bos(t) >= 0
   && model_writer_meta_int(w, "tokenizer.ggml.bos_token_id", tokenizer_bos(t)) ) return -1;
  if( tokenizer_eos(t) >= 0
   && model_writer_meta_int(w, "tokenizer.ggml.eos_token_id", tokenizer_eos(t)) ) return -1;
  if( model_writer_meta_int(w, "tokenizer.ggml.add_space_prefix", tokenizer_add_space_prefix(t)) ) return -1;
  return model_writer_meta_int(w, "tokenizer.ggml.add_bos_token", tokenizer_add_bos(t));
}

/* ---- commit -------------------------------------------------------------- */

static int sync_path(const char *path, int flags){
  int fd = open(path, flags);
  if( fd < 0 ) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

static int writer_finish_db(model_writer *w){
  if( model_writer_meta_text(w, "format", "tensql") ) return -1;
  if( model_writer_meta_int(w, "format_version", MODEL_FORMAT_VERSION) ) return -1;
  if( program_write(w->db, w->err, sizeof w->err) ) return -1;
  sqlite3_finalize(w->put_tile);
  w->put_tile = 0;
  if( writer_exec(w, "COMMIT") ) return -1;
  if( sqlite3_close(w->db) != SQLITE_OK ) return writer_sql_fail(w, "close");
  w->db = 0;
  return 0;
}

/* Remove what killed imports to path left: the files of its directory
** named exactly "<basename of path>.tmp-<pid>" whose process no longer
** exists (kill(pid, 0) fails with ESRCH).  A live process's file, another
** import's now, or ours, is left alone; a pid reused since only keeps a
** stale file longer. */
static void stale_temps_remove(const char *path){
  char *dir_copy = strdup(path), *base_copy = strdup(path);
  const char *dir = dir_copy ? dirname(dir_copy) : 0;
  const char *base = base_copy ? basename(base_copy) : 0;
  DIR *d = dir ? opendir(dir) : 0;
  size_t base_len = base ? strlen(base) : 0;
  for(struct dirent *e; d && (e = readdir(d)) != 0; ){
    const char *pid_text = e->d_name + base_len + 5;
    if( strncmp(e->d_name, base, base_len) || strncmp(e->d_name + base_len, ".tmp-", 5)
     || pid_text[0] == 0 || strlen(pid_text) > 9 || strspn(pid_text, "0123456789") != strlen(pid_text) ){
      continue;
    }
    pid_t pid = (pid_t)atol(pid_text);
    if( pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH ) continue;
    char *stale = malloc(strlen(dir) + strlen(e->d_name) + 2);
    if( stale == 0 ) continue;
    sprintf(stale, "%s/%s", dir, e->d_name);
    unlink(stale);
    free(stale);
  }
  if( d ) closedir(d);
  free(dir_copy);
  free(base_copy);
}

int model_writer_commit(model_writer *w){
  int rc = writer_finish_db(w);
  if( rc == 0 && sync_path(w->tmp_path, O_RDONLY) ){
    rc = writer_fail(w, "fsync %s: %s", w->tmp_path, strerror(errno));
  }
  if( rc == 0 && rename(w->tmp_path, w->path) ){
    rc = writer_fail(w, "rename %s to %s: %s", w->tmp_path, w->path, strerror(errno));
  }
  if( rc == 0 ){
    char *dir = strdup(w->path);
    if( dir ) sync_path(dirname(dir), O_RDONLY | O_DIRECTORY);
    free(dir);
    stale_temps_remove(w->path);
  }
  if( rc == 0 ){
    free(w->path);
    free(w->tmp_path);
    free(w);
    return 0;
  }
  return -1;
}

void model_writer_abort(model_writer *w){
  if( w == 0 ) return;
  sqlite3_finalize(w->put_tile);
  sqlite3_close(w->db);
  if( w->tmp_path ) unlink(w->tmp_path);
  free(w->path);
  free(w->tmp_path);
  free(w);
}
