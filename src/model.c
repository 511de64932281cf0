/*
** model.c: opening a model database for reading (see model.h).  Checks that
** the file is a tensql model of this format version, reads the tensor
** directory and the hyper-parameters, rebuilds the tokenizer from the vocab
** and merge tables, and opens the tile manager.
*/
#include "model.h"
#include "database.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory/tile.h"
#include "tokenizer/tokenizer.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static model **registry;
static int registry_len;

/* The value of meta(key) in a statement stepped onto it, or NULL if there
** is no such key (or it is NULL).  The caller finalizes. */
static sqlite3_stmt *meta_value(sqlite3 *db, const char *key){
  sqlite3_stmt *st = 0;
  sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, 0);
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if( sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ) return st;
  sqlite3_finalize(st);
  return 0;
}

static int64_t meta_int(sqlite3 *db, const char *key, int64_t fallback){
  sqlite3_stmt *st = meta_value(db, key);
  int64_t v = st ? sqlite3_column_int64(st, 0) : fallback;
  sqlite3_finalize(st);
  return v;
}

static char *meta_text(sqlite3 *db, const char *key){
  sqlite3_stmt *st = meta_value(db, key);
  char *v = st ? strdup((const char*)sqlite3_column_text(st, 0)) : 0;
  sqlite3_finalize(st);
  return v;
}

/* meta(key) as a number into *v, which keeps its value (the default) when
** the key is absent or NULL.  The value may be an integer, a real or the
** text of a number, finite, and whole for `whole`; a
** hand-edited 'abc' is refused naming the key, where reading it as 0
** gave a model that ran and produced garbage. */
static int meta_number(sqlite3 *db, const char *key, int whole, double *v,
                       char *err, size_t err_len){
  sqlite3_stmt *st = meta_value(db, key);
  if( st == 0 ) return 0;
  int type = sqlite3_column_type(st, 0);
  double x = sqlite3_column_double(st, 0);
  int ok = type == SQLITE_INTEGER || type == SQLITE_FLOAT;
  if( type == SQLITE_TEXT ){
    const char *text = (const char*)sqlite3_column_text(st, 0);
    char *end;
    x = strtod(text, &end);
    ok = end != text && *end == 0;
  }
  ok = ok && isfinite(x) && (!whole || x == floor(x));
  if( ok ){
    *v = x;
  }else{
    const char *text = (const char*)sqlite3_column_text(st, 0);
    snprintf(err, err_len, "meta %s is '%.40s', not %s", key, text ? text : "",
             whole ? "a whole number" : "a number");
  }
  sqlite3_finalize(st);
  return ok ? 0 : -1;
}

/* The hyper-parameter ARCH.key of meta (meta_number of "ARCH.key"). */
static int arch_number(sqlite3 *db, const char *arch, const char *key, int whole, double *v,
                       char *err, size_t err_len){
  char full[128];
  snprintf(full, sizeof full, "%s.%s", arch, key);
  return meta_number(db, full, whole, v, err, err_len);
}

/* ARCH.key as an int, into *out (which holds the default); -1 with err
** when it is not a whole number in int's range. */
static int arch_int(sqlite3 *db, const char *arch, const char *key, int *out,
                    char *err, size_t err_len){
  double v = *out;
  if( arch_number(db, arch, key, 1, &v, err, err_len) ) return -1;
  if( v < INT_MIN || v > INT_MAX ){
    snprintf(err, err_len, "meta %s.%s is %.0f, out of range", arch, key, v);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* A token id of meta as an int: any id outside int's range (GGUF's
** 0xFFFFFFFF for none, say) is none, -1. */
static int token_id(double id){
  return id >= 0 && id < INT_MAX ? (int)id : -1;
}

/* ARCH.key as a float, into *out (which holds the default). */
static int arch_float(sqlite3 *db, const char *arch, const char *key, float *out,
                      char *err, size_t err_len){
  double v = *out;
  if( arch_number(db, arch, key, 0, &v, err, err_len) ) return -1;
  *out = (float)v;
  return 0;
}

/* The architectures there is an SQL program for, and how each rotates
** (llama.cpp's convention: llama rotates adjacent pairs, qwen2 halves). */
static const struct model_arch {
  const char *name;
  rope_style rope;
} model_archs[] = {
  { "llama", ROPE_ADJACENT },
  { "qwen2", ROPE_HALVES },
};
#define MODEL_N_ARCHS (sizeof(model_archs) / sizeof(model_archs[0]))

static const struct model_arch *model_arch_find(const char *arch){
  for(size_t i = 0; arch && i < MODEL_N_ARCHS; i++){
    if( strcmp(model_archs[i].name, arch) == 0 ) return &model_archs[i];
  }
  return 0;
}

int model_arch_known(const char *arch, char *err, size_t err_len){
  if( model_arch_find(arch) ) return 1;
  if( err && err_len ){
    /* "...; tensql runs llama, qwen2 and gemma3" */
    size_t n = (size_t)snprintf(err, err_len, "unknown architecture '%s'; tensql runs",
                                arch ? arch : "(none)");
    for(size_t i = 0; i < MODEL_N_ARCHS && n < err_len; i++){
      const char *sep = i == 0 ? " " : i + 1 == MODEL_N_ARCHS ? " and " : ", ";
      n += (size_t)snprintf(err + n, err_len - n, "%s%s", sep, model_archs[i].name);
    }
  }
  return 0;
}

static int params_read(sqlite3 *db, model_params *p, char *err, size_t err_len){
  char *arch = meta_text(db, "general.architecture");
  if( !model_arch_known(arch, err, err_len) ){
    free(arch);
    return -1;
  }
  snprintf(p->arch, sizeof p->arch, "%s", arch);
  free(arch);
  p->n_layers = p->dim = p->hidden_dim = p->n_heads = p->context_length = 0;
  p->rms_eps = 1e-5f;
  p->rope_theta = 10000.0f;
  if( arch_int(db, p->arch, "block_count", &p->n_layers, err, err_len)
   || arch_int(db, p->arch, "embedding_length", &p->dim, err, err_len)
   || arch_int(db, p->arch, "feed_forward_length", &p->hidden_dim, err, err_len)
   || arch_int(db, p->arch, "attention.head_count", &p->n_heads, err, err_len) ) return -1;
  p->n_kv_heads = p->n_heads;
  if( arch_int(db, p->arch, "attention.head_count_kv", &p->n_kv_heads, err, err_len)
   || arch_int(db, p->arch, "context_length", &p->context_length, err, err_len)
   || arch_float(db, p->arch, "attention.layer_norm_rms_epsilon", &p->rms_eps, err, err_len)
   || arch_float(db, p->arch, "rope.freq_base", &p->rope_theta, err, err_len) ) return -1;
  p->rope = model_arch_find(p->arch)->rope;
  if( p->n_layers <= 0 || p->dim <= 0 || p->n_heads <= 0 || p->n_kv_heads <= 0
   || p->dim % p->n_heads || p->n_heads % p->n_kv_heads || p->context_length <= 0
   || !(p->rms_eps >= 0) || !(p->rope_theta > 0) ){
    snprintf(err, err_len, "inconsistent hyper-parameters for %s", p->arch);
    return -1;
  }
  p->head_dim = p->dim / p->n_heads;
  return 0;
}

int64_t model_tile_rows(const model_tensor *t, int64_t tile_row){
  int64_t rows = t->rows - tile_row * t->tile_rows;
  return rows < t->tile_rows ? rows : t->tile_rows;
}

size_t model_tile_bytes(const model_tensor *t, int64_t tile_row){
  return tensor_tile_bytes(t->dtype, (uint64_t)model_tile_rows(t, tile_row), (uint64_t)t->cols);
}

/* Kernels read a tile's whole layout without looking at its length, so
** every tile must be there and exactly that long: a database of another
** layout or a damaged one is refused here, not read out of bounds. */
static int tiles_check(sqlite3 *db, const model_tensor *t, char *err, size_t err_len){
  sqlite3_stmt *st = 0;
  sqlite3_prepare_v2(db, "SELECT id - ?1, length(data) FROM tile WHERE id BETWEEN ?1 AND ?2"
                     " ORDER BY id", -1, &st, 0);
  sqlite3_bind_int64(st, 1, t->first_tile);
  sqlite3_bind_int64(st, 2, t->first_tile + t->n_tiles - 1);
  int64_t seen = 0;
  int rc = 0;
  while( rc == 0 && sqlite3_step(st) == SQLITE_ROW ){
    int64_t tile_row = sqlite3_column_int64(st, 0), bytes = sqlite3_column_int64(st, 1);
    size_t want = model_tile_bytes(t, tile_row);
    if( tile_row != seen++ || want == 0 || (size_t)bytes != want ){
      snprintf(err, err_len, "tensor %s: tile %lld holds %lld bytes where its rows take %zu"
               " (a damaged file, or one written by another tensql: re-import it)",
               t->name, (long long)tile_row, (long long)bytes, want);
      rc = -1;
    }
  }
  sqlite3_finalize(st);
  if( rc == 0 && seen != t->n_tiles ){
    snprintf(err, err_len, "tensor %s: %lld of its %lld tiles are missing", t->name,
             (long long)(t->n_tiles - seen), (long long)t->n_tiles);
    rc = -1;
  }
  return rc;
}

static int tensors_read(sqlite3 *db, model *m, char *err, size_t err_len){
  sqlite3_stmt *st = 0;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM tensor", -1, &st, 0);
  sqlite3_step(st);
  m->n_tensors = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  m->tensors = calloc((size_t)m->n_tensors + 1, sizeof *m->tensors);
  if( m->tensors == 0 ) return -1;
  sqlite3_prepare_v2(db, "SELECT id, name, dtype, rows, cols, tile_rows, tile_cols,"
                     " first_tile, n_tiles, shape FROM tensor ORDER BY id", -1, &st, 0);
  int i = 0, rc = 0, step = SQLITE_DONE;
  while( rc == 0 && i < m->n_tensors && (step = sqlite3_step(st)) == SQLITE_ROW ){
    model_tensor *t = &m->tensors[i++];
    const char *name = (const char*)sqlite3_column_text(st, 1);
    const char *shape = (const char*)sqlite3_column_text(st, 9);
    t->id = sqlite3_column_int64(st, 0);
    if( name == 0 || shape == 0 ){
      snprintf(err, err_len, "tensor %lld has no name or shape", (long long)t->id);
      rc = -1;
      break;
    }
    t->name = strdup(name);
    int dtype = tensor_dtype_from_name((const char*)sqlite3_column_text(st, 2));
    t->rows = sqlite3_column_int64(st, 3);
    t->cols = sqlite3_column_int64(st, 4);
    t->tile_rows = sqlite3_column_int64(st, 5);
    t->tile_cols = sqlite3_column_int64(st, 6);
    t->first_tile = sqlite3_column_int64(st, 7);
    t->n_tiles = sqlite3_column_int64(st, 8);
    t->shape = strdup(shape);
    if( t->name == 0 || t->shape == 0 ){
      snprintf(err, err_len, "out of memory");
      rc = -1;
    }else if( dtype < 0 || t->rows <= 0 || t->tile_rows <= 0 || t->tile_cols != t->cols
     || t->n_tiles != (t->rows - 1) / t->tile_rows + 1 ){   /* rows + tile_rows could overflow */
      snprintf(err, err_len, "tensor %s: bad dtype or tile geometry", t->name);
      rc = -1;
    }
    t->dtype = (tensor_dtype)dtype;
    if( rc == 0 ) rc = tiles_check(db, t, err, err_len);
  }
  /* Every entry must be filled: count(*) may read an index that a damaged
  ** table does not match. */
  if( rc == 0 && i < m->n_tensors ){
    snprintf(err, err_len, "the tensor table holds %d rows, not %d: %s", i,
             m->n_tensors, step == SQLITE_DONE ? "a damaged file" : sqlite3_errmsg(db));
    rc = -1;
  }
  sqlite3_finalize(st);
  return rc;
}

static tokenizer *tokenizer_read(sqlite3 *db, char *err, size_t err_len){
  char *model_kind = meta_text(db, "tokenizer.ggml.model");
  char *pre = meta_text(db, "tokenizer.ggml.pre");
  tokenizer_kind kind = model_kind && strcmp(model_kind, "gpt2") == 0 ? TOKENIZER_BPE : TOKENIZER_SPM;
  tokenizer *t = tokenizer_new(kind, pre ? pre : "gpt2");
  free(model_kind);
  free(pre);
  if( t == 0 ){
    snprintf(err, err_len, "unknown tokenizer in meta");
    return 0;
  }
  sqlite3_stmt *st = 0;
  int rc = 0, err_set = 0;
  /* A token's id is its place in the vocabulary: the ids must run 0, 1,
  ** 2, ... (a gap shifted every later token, and the text came out
  ** garbled). */
  int64_t expect = 0;
  sqlite3_prepare_v2(db, "SELECT id, piece, score, kind FROM vocab ORDER BY id", -1, &st, 0);
  while( rc == 0 && sqlite3_step(st) == SQLITE_ROW ){
    if( sqlite3_column_type(st, 0) != SQLITE_INTEGER || sqlite3_column_int64(st, 0) != expect ){
      const char *id = (const char*)sqlite3_column_text(st, 0);
      snprintf(err, err_len, "vocab: token ids must run 0, 1, 2, ... without gaps or"
               " repeats, but id %.40s comes where %lld should", id ? id : "NULL",
               (long long)expect);
      err_set = rc = -1;
      break;
    }
    expect++;
    rc = tokenizer_add_token(t, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                             (float)sqlite3_column_double(st, 2), (token_kind)sqlite3_column_int(st, 3));
  }
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "SELECT left, right FROM merge ORDER BY rank", -1, &st, 0);
  while( rc == 0 && sqlite3_step(st) == SQLITE_ROW ){
    rc = tokenizer_add_merge(t, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                             sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
  }
  sqlite3_finalize(st);
  double bos = -1, eos = -1, add_bos = 1, add_space_prefix = 1;
  if( rc == 0
   && (meta_number(db, "tokenizer.ggml.bos_token_id", 1, &bos, err, err_len)
    || meta_number(db, "tokenizer.ggml.eos_token_id", 1, &eos, err, err_len)
    || meta_number(db, "tokenizer.ggml.add_bos_token", 1, &add_bos, err, err_len)
    || meta_number(db, "tokenizer.ggml.add_space_prefix", 1, &add_space_prefix, err, err_len)) ){
    err_set = rc = -1;
  }
  tokenizer_set_special(t, token_id(bos), token_id(eos), add_bos != 0);
  tokenizer_set_add_space_prefix(t, add_space_prefix != 0);
  if( rc || tokenizer_finish(t, err, err_len) ){
    if( rc && !err_set ) snprintf(err, err_len, "bad vocab or merge table");
    tokenizer_free(t);
    return 0;
  }
  return t;
}

/* A model database holds tables only.  tensql reads `program` and writes
** `activation` on the caller's connection, where a view or trigger that
** came with the file would run its SQL with whatever that connection has
** (the sqlite3 shell's writefile(), say).  So a file with any is refused. */
static int schema_check(sqlite3 *db, const char *path, char *err, size_t err_len){
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT type, name FROM sqlite_schema"
                              " WHERE type IN ('view', 'trigger') LIMIT 1", -1, &st, 0);
  if( rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW ){
    snprintf(err, err_len, "%s holds %s %s: a tensql model database holds tables only,"
             " as the SQL of a view or trigger would run on the caller's connection",
             path, sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
  }else if( rc != SQLITE_DONE ){
    snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int format_check(sqlite3 *db, const char *path, char *err, size_t err_len){
  char *format = meta_text(db, "format");
  int64_t version = meta_int(db, "format_version", -1);
  int ok = format && strcmp(format, "tensql") == 0;
  free(format);
  if( !ok ){
    snprintf(err, err_len, "%s is not a tensql model database", path);
    return -1;
  }
  if( version != MODEL_FORMAT_VERSION ){
    snprintf(err, err_len, "%s: model format version %lld, this tensql reads %d"
             " (re-import the model with this tensql)",
             path, (long long)version, MODEL_FORMAT_VERSION);
    return -1;
  }
  return 0;
}

/* Opening reads the meta, tensor, vocab and merge tables through the OS
** page cache, and the kernel reads ahead of them (up to read_ahead_kb, 8 MB
** on the test machine): megabytes of the file that nothing reads again,
** yet charged to this process next to its budget for as long as the kernel
** keeps them.  Tiles come later, through the tile manager, which drops what
** it reads. */
static void page_cache_drop(const char *path){
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if( fd < 0 ) return;
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

static int model_load(model *m, char *err, size_t err_len){
  sqlite3 *db = 0;
  int rc = -1;
  if( database_open(m->path, &db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK ){
    snprintf(err, err_len, "%s: %s", m->path, sqlite3_errmsg(db));
  }else if( sqlite3_exec(db, "SELECT 1 FROM meta, tensor, tile, vocab, merge LIMIT 0", 0, 0, 0) != SQLITE_OK ){
    snprintf(err, err_len, "%s is not a tensql model database", m->path);
  }else if( schema_check(db, m->path, err, err_len) == 0
         && format_check(db, m->path, err, err_len) == 0
         && params_read(db, &m->params, err, err_len) == 0
         && tensors_read(db, m, err, err_len) == 0 ){
    m->params.vocab_size = 0;
    m->tokenizer = tokenizer_read(db, err, err_len);
    m->chat_template = meta_text(db, "tokenizer.chat_template");
    char *format = meta_text(db, "source.format");
    m->stops_at_bos = format && strcmp(format, "llama2c") == 0;
    free(format);
    if( m->tokenizer ){
      m->params.vocab_size = tokenizer_vocab_size(m->tokenizer);
      m->tiles = tile_manager_open(m->path, err, err_len);
      rc = m->tiles ? 0 : -1;
    }
  }
  sqlite3_close(db);
  page_cache_drop(m->path);
  return rc;
}

static void model_free(model *m){
  for(int i = 0; m->tensors && i < m->n_tensors; i++){
    free(m->tensors[i].name);
    free(m->tensors[i].shape);
  }
  free(m->tensors);
  tokenizer_free(m->tokenizer);
  tile_manager_close(m->tiles);
  free(m->chat_template);
  free(m->path);
  free(m);
}

model *model_open(const char *path, char *err, size_t err_len){
  char *real = realpath(path, 0);
  if( real == 0 ){
    snprintf(err, err_len, "%s: no such file", path);
    return 0;
  }
  pthread_mutex_lock(&registry_lock);
  for(int i = 0; i < registry_len; i++){
    if( strcmp(registry[i]->path, real) == 0 ){
      model *m = registry[i];
      m->refs++;
      pthread_mutex_unlock(&registry_lock);
      free(real);
      return m;
    }
  }
  model *m = calloc(1, sizeof *m);
  model **grown = realloc(registry, (size_t)(registry_len + 1) * sizeof *registry);
  if( m == 0 || grown == 0 ){
    pthread_mutex_unlock(&registry_lock);
    free(m);
    free(real);
    snprintf(err, err_len, "out of memory");
    return 0;
  }
  registry = grown;
  m->path = real;
  m->refs = 1;
  if( model_load(m, err, err_len) ){
    model_free(m);
    m = 0;
  }else{
    registry[registry_len++] = m;
  }
  pthread_mutex_unlock(&registry_lock);
  return m;
}

void model_release(model *m){
  if( m == 0 ) return;
  pthread_mutex_lock(&registry_lock);
  if( --m->refs == 0 ){
    for(int i = 0; i < registry_len; i++){
      if( registry[i] == m ) registry[i] = registry[--registry_len];
    }
    if( registry_len == 0 ){
      free(registry);
      registry = 0;
    }
    model_free(m);
  }
  pthread_mutex_unlock(&registry_lock);
}

const model_tensor *model_find_tensor(const model *m, const char *name){
  for(int i = 0; i < m->n_tensors; i++){
    if( strcmp(m->tensors[i].name, name) == 0 ) return &m->tensors[i];
  }
  return 0;
}

char *model_meta_text(const model *m, const char *key){
  sqlite3 *db = 0;
  char *v = 0;
  if( database_open(m->path, &db, SQLITE_OPEN_READONLY, 0) == SQLITE_OK ){
    v = meta_text(db, key);
  }
  sqlite3_close(db);
  return v;
}
