/*
** safetensors.c: the safetensors reader declared in safetensors.h.
**
** Used by import_hf.c, which opens a Hugging Face model directory with
** safetensors_open_model and copies each tensor into the model database.
**
** How it works: the file is mapped read-only; the JSON header is read with
** SQLite's JSON1 functions (json_each, json_type) through hf_json.h, so no
** hand-written JSON parser sits between a hostile file and the tensor
** table.  Each tensor's fields are checked as they are read;
** then tensors are sorted by name (to find duplicates and to look up by
** bisection) and, separately, by offset (to check that they tile the data
** section exactly).  Tensor data is never copied.
*/
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "hf_json.h"
#include "kernels/tensor.h"

/* The reference implementation refuses larger headers; so do we, which
** also bounds what a hostile file can make us allocate. */
#define SAFETENSORS_MAX_HEADER 100000000u

struct safetensors {
  safetensors_tensor *tensors;  /* count of them, sorted by name */
  size_t count;
  char *label;                  /* file path or caller's label; owned */
  void *map;                    /* the mapping, when opened from a file */
  size_t map_len;
  safetensors **shards;         /* when opened from an index: the shards,
                                ** which own the names and mappings that
                                ** `tensors` points into */
  size_t n_shards;
};

/* ---- errors ----------------------------------------------------------- */

static void safetensors_error(char *err, size_t err_len, const char *fmt, ...){
  if( err == 0 || err_len == 0 ) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

/* ---- dtypes ----------------------------------------------------------- */

/* The safetensors dtypes whose elements are whole bytes.  Sub-byte types
** (F4, F6_*) are refused as unknown: tensql has no use for them. */
static const struct safetensors_dtype {
  const char *name;
  int bytes;
  int tensor_dtype;  /* -1: readable but not a dtype tensql stores */
} safetensors_dtypes[] = {
  { "F32", 4, TENSOR_F32 },  { "F16", 2, TENSOR_F16 },
  { "BF16", 2, TENSOR_BF16 }, { "F64", 8, -1 },
  { "I64", 8, -1 },  { "U64", 8, -1 },  { "I32", 4, -1 },  { "U32", 4, -1 },
  { "I16", 2, -1 },  { "U16", 2, -1 },  { "I8", 1, -1 },   { "U8", 1, -1 },
  { "BOOL", 1, -1 }, { "F8_E5M2", 1, -1 }, { "F8_E4M3", 1, -1 },
  { "F8_E8M0", 1, -1 },
};

static const struct safetensors_dtype *safetensors_dtype_find(const char *name){
  for(size_t i = 0; i < sizeof(safetensors_dtypes)/sizeof(safetensors_dtypes[0]); i++){
    if( strcmp(safetensors_dtypes[i].name, name) == 0 ) return &safetensors_dtypes[i];
  }
  return 0;
}

/* Read the array at `path` of `json` as non-negative integers; at most max
** of them.  Returns the count, or -1 with a reason in why. */
static int safetensors_json_uints(hf_json *j, const char *json, size_t len,
                                  const char *path, uint64_t *out, int max,
                                  const char **why){
  int n = 0, rc = SQLITE_NOMEM;
  sqlite3_stmt *s = hf_json_each(j, json, (int64_t)len, path);
  while( s && (rc = sqlite3_step(s)) == SQLITE_ROW ){
    const char *type = (const char *)sqlite3_column_text(s, 1);
    /* An integer beyond int64 comes back as type "integer" but a REAL atom. */
    if( type == 0 || strcmp(type, "integer") != 0
     || sqlite3_column_type(s, 2) != SQLITE_INTEGER ){
      *why = "holds something other than an integer below 2^63";
      n = -1; break;
    }
    if( sqlite3_column_int64(s, 2) < 0 ){
      *why = "holds a negative number";
      n = -1; break;
    }
    if( n == max ){
      *why = "is too long";
      n = -1; break;
    }
    out[n++] = (uint64_t)sqlite3_column_int64(s, 2);
  }
  if( n >= 0 && rc != SQLITE_DONE ){
    *why = "cannot be read";
    n = -1;
  }
  hf_json_done(j, s);
  return n;
}

/* ---- one tensor ------------------------------------------------------- */

/* What reading one header needs at hand.  `entry` is the JSON text of the
** header member being read. */
typedef struct safetensors_reader {
  hf_json *j;
  const char *label;
  const uint8_t *data;      /* the data section ... */
  uint64_t data_len;        /* ... and its length */
  const char *entry;
  size_t entry_len;
  char *err;
  size_t err_len;
} safetensors_reader;

static int safetensors_read_dtype(safetensors_reader *r, safetensors_tensor *t){
  hf_json_value v;
  hf_json_get(r->j, r->entry, (int64_t)r->entry_len, "$.dtype", &v);
  if( v.text == 0 ){
    safetensors_error(r->err, r->err_len, "%s: tensor '%s': dtype is %s",
                      r->label, t->name, v.type[0] ? "not a string" : "missing");
    return -1;
  }
  const struct safetensors_dtype *dt = safetensors_dtype_find(v.text);
  if( dt == 0 ){
    safetensors_error(r->err, r->err_len, "%s: tensor '%s': unknown dtype '%s'",
                      r->label, t->name, v.text);
  }
  free(v.text);
  if( dt == 0 ) return -1;
  t->dtype_name = dt->name;
  t->dtype = dt->tensor_dtype;
  t->size = (uint64_t)dt->bytes;   /* the shape multiplies it up */
  return 0;
}

/* The JSON type at path of the member being read ("" if absent). */
static void safetensors_kind(safetensors_reader *r, const char *path, char *kind,
                             size_t kind_len){
  hf_json_value v;
  hf_json_get(r->j, r->entry, (int64_t)r->entry_len, path, &v);
  free(v.text);
  snprintf(kind, kind_len, "%s", v.type);
}

static int safetensors_read_shape(safetensors_reader *r, safetensors_tensor *t){
  char kind[16];
  const char *why = "";
  safetensors_kind(r, "$.shape", kind, sizeof(kind));
  if( strcmp(kind, "array") != 0 ){
    safetensors_error(r->err, r->err_len, "%s: tensor '%s': shape is %s",
                      r->label, t->name, kind[0] ? "not an array" : "missing");
    return -1;
  }
  t->n_dims = safetensors_json_uints(r->j, r->entry, r->entry_len, "$.shape",
                                     t->shape, SAFETENSORS_MAX_DIMS, &why);
  if( t->n_dims < 0 ){
    safetensors_error(r->err, r->err_len, "%s: tensor '%s': shape %s (at most "
                      "%d dimensions of non-negative integers)", r->label,
                      t->name, why, SAFETENSORS_MAX_DIMS);
    return -1;
  }
  /* The element count times the element size must fit in 64 bits. */
  for(int d = 0; d < t->n_dims; d++){
    if( t->shape[d] != 0 && t->size > UINT64_MAX / t->shape[d] ){
      safetensors_error(r->err, r->err_len, "%s: tensor '%s': shape overflows "
                        "64 bits of bytes", r->label, t->name);
      return -1;
    }
    t->size *= t->shape[d];
  }
  return 0;
}

/* data_offsets [begin, end) must span exactly t->size bytes of the data
** section. */
static int safetensors_read_offsets(safetensors_reader *r, safetensors_tensor *t){
  char kind[16];
  const char *why = "";
  uint64_t off[2];
  safetensors_kind(r, "$.data_offsets", kind, sizeof(kind));
  int n = -1;
  if( strcmp(kind, "array") != 0 ){
    why = kind[0] ? "is not an array" : "is missing";
  }else{
    n = safetensors_json_uints(r->j, r->entry, r->entry_len, "$.data_offsets",
                               off, 2, &why);
    if( n >= 0 && n < 2 ) why = "has fewer than 2 numbers";
  }
  if( n != 2 ){
    safetensors_error(r->err, r->err_len, "%s: tensor '%s': data_offsets %s "
                      "(want [begin, end])", r->label, t->name, why);
    return -1;
  }
  why = off[1] < off[0] ? "end before they begin"
      : off[1] - off[0] != t->size ? "do not span the tensor's size"
      : off[1] > r->data_len ? "run past the end of the data section" : 0;
  if( why ){
    safetensors_error(r->err, r->err_len, "%s: tensor '%s': data_offsets [%llu, "
                      "%llu] %s (%s of this shape takes %llu bytes; the data "
                      "section has %llu)", r->label, t->name,
                      (unsigned long long)off[0], (unsigned long long)off[1], why,
                      t->dtype_name, (unsigned long long)t->size,
                      (unsigned long long)r->data_len);
    return -1;
  }
  t->data = r->data + off[0];
  return 0;
}

/* ---- the whole header ------------------------------------------------- */

/* __metadata__ is a flat object of strings. */
static int safetensors_check_metadata(safetensors_reader *r){
  int ok = 1;
  sqlite3_stmt *s = hf_json_each(r->j, r->entry, (int64_t)r->entry_len, "$");
  if( s == 0 ){
    safetensors_error(r->err, r->err_len, "%s: __metadata__ cannot be read: %s",
                      r->label, hf_json_error(r->j));
    return -1;
  }
  while( ok && sqlite3_step(s) == SQLITE_ROW ){
    const char *type = (const char *)sqlite3_column_text(s, 1);
    if( type == 0 || strcmp(type, "text") != 0 ){
      safetensors_error(r->err, r->err_len, "%s: __metadata__ '%s' is not a "
                        "string", r->label, (const char *)sqlite3_column_text(s, 0));
      ok = 0;
    }
  }
  hf_json_done(r->j, s);
  return ok ? 0 : -1;
}

/* Grow st->tensors by one zeroed entry. */
static safetensors_tensor *safetensors_add(safetensors *st, size_t *cap){
  if( st->count == *cap ){
    size_t n = *cap ? *cap * 2 : 16;
    safetensors_tensor *p = realloc(st->tensors, n * sizeof(*p));
    if( p == 0 ) return 0;
    st->tensors = p;
    *cap = n;
  }
  safetensors_tensor *t = &st->tensors[st->count++];
  memset(t, 0, sizeof(*t));
  return t;
}

/* The header member the walk m stands on: __metadata__ or a tensor. */
static int safetensors_read_member(safetensors *st, safetensors_reader *r,
                                   sqlite3_stmt *m, size_t *cap){
  const char *key = (const char *)sqlite3_column_text(m, 0);
  const char *type = (const char *)sqlite3_column_text(m, 1);
  r->entry = (const char *)sqlite3_column_text(m, 3);
  r->entry_len = (size_t)sqlite3_column_bytes(m, 3);
  if( key == 0 || type == 0 || r->entry == 0 ){
    safetensors_error(r->err, r->err_len, "%s: header cannot be read", r->label);
    return -1;
  }
  if( strcmp(type, "object") != 0 ){
    safetensors_error(r->err, r->err_len, "%s: header entry '%s' is not an "
                      "object", r->label, key);
    return -1;
  }
  if( strcmp(key, "__metadata__") == 0 ) return safetensors_check_metadata(r);
  safetensors_tensor *t = safetensors_add(st, cap);
  char *name = t ? strdup(key) : 0;
  if( name == 0 ){
    safetensors_error(r->err, r->err_len, "%s: out of memory", r->label);
    return -1;
  }
  t->name = name;
  t->file = st->label;
  return safetensors_read_dtype(r, t) || safetensors_read_shape(r, t)
      || safetensors_read_offsets(r, t) ? -1 : 0;
}

static int safetensors_read_header(safetensors *st, safetensors_reader *r,
                                   const char *header, size_t header_len){
  hf_json_value v;
  size_t cap = 0;
  int step = SQLITE_NOMEM, rc = 0;
  hf_json_get(r->j, header, (int64_t)header_len, "$", &v);
  free(v.text);
  if( strcmp(v.type, "object") != 0 ){
    safetensors_error(r->err, r->err_len, "%s: header is %s", r->label,
                      v.type[0] ? "JSON but not an object" : "not valid JSON");
    return -1;
  }
  sqlite3_stmt *m = hf_json_each(r->j, header, (int64_t)header_len, "$");
  while( rc == 0 && m && (step = sqlite3_step(m)) == SQLITE_ROW ){
    rc = safetensors_read_member(st, r, m, &cap);
  }
  if( rc == 0 && step != SQLITE_DONE ){
    safetensors_error(r->err, r->err_len, "%s: header cannot be read: %s",
                      r->label, hf_json_error(r->j));
    rc = -1;
  }
  hf_json_done(r->j, m);
  return rc;
}

/* ---- ordering checks -------------------------------------------------- */

static int safetensors_cmp_name(const void *a, const void *b){
  return strcmp(((const safetensors_tensor *)a)->name,
                ((const safetensors_tensor *)b)->name);
}

static int safetensors_cmp_data(const void *a, const void *b){
  const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
  const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
  if( x->data != y->data ) return x->data < y->data ? -1 : 1;
  if( x->size != y->size ) return x->size < y->size ? -1 : 1;
  return 0;
}

/* Sort by name and refuse a name given twice. */
static int safetensors_sort(safetensors *st, char *err, size_t err_len){
  if( st->count > 1 ){
    qsort(st->tensors, st->count, sizeof(st->tensors[0]), safetensors_cmp_name);
  }
  for(size_t i = 1; i < st->count; i++){
    const safetensors_tensor *a = &st->tensors[i-1], *b = &st->tensors[i];
    if( strcmp(a->name, b->name) == 0 ){
      safetensors_error(err, err_len, "tensor '%s' appears twice (in %s and %s)",
                        a->name, a->file, b->file);
      return -1;
    }
  }
  return 0;
}

/* The tensors must cover the data section exactly, each byte once: an
** overlap would alias two tensors, and a gap could hide another file
** format (a polyglot). */
static int safetensors_check_layout(safetensors *st, const uint8_t *data,
                                    uint64_t data_len, char *err, size_t err_len){
  const safetensors_tensor **by_data = malloc((st->count + 1) * sizeof(*by_data));
  if( by_data == 0 ){
    safetensors_error(err, err_len, "%s: out of memory", st->label);
    return -1;
  }
  for(size_t i = 0; i < st->count; i++) by_data[i] = &st->tensors[i];
  if( st->count > 1 ) qsort(by_data, st->count, sizeof(*by_data), safetensors_cmp_data);
  uint64_t expect = 0;
  int rc = 0;
  for(size_t i = 0; i < st->count && rc == 0; i++){
    const safetensors_tensor *t = by_data[i];
    uint64_t begin = (uint64_t)(t->data - data);
    if( begin < expect ){
      safetensors_error(err, err_len, "%s: tensor '%s' at [%llu, %llu) overlaps "
                        "tensor '%s', which ends at %llu", st->label, t->name,
                        (unsigned long long)begin,
                        (unsigned long long)(begin + t->size), by_data[i-1]->name,
                        (unsigned long long)expect);
      rc = -1;
    }else if( begin > expect ){
      safetensors_error(err, err_len, "%s: data bytes [%llu, %llu) belong to no "
                        "tensor (before '%s')", st->label,
                        (unsigned long long)expect, (unsigned long long)begin,
                        t->name);
      rc = -1;
    }
    expect = begin + t->size;
  }
  if( rc == 0 && expect != data_len ){
    safetensors_error(err, err_len, "%s: %llu bytes after the last tensor's data",
                      st->label, (unsigned long long)(data_len - expect));
    rc = -1;
  }
  free(by_data);
  return rc;
}

/* ---- public: one file ------------------------------------------------- */

/* SQLite reads a NUL byte as the end of the text, and cuts a decoded
** string at an escaped one ("a\u0000b" becomes "a"), so either would let
** the header say something other than what we read.  No safetensors header
** needs one. */
static int safetensors_has_nul(const char *header, size_t n){
  if( memchr(header, 0, n) ) return 1;
  for(size_t i = 0; i + 1 < n; i++){
    if( header[i] != '\\' ) continue;
    if( header[i+1] == 'u' && i + 5 < n && memcmp(header + i + 2, "0000", 4) == 0 ){
      return 1;
    }
    i++;  /* skip the escaped character, which may be a backslash */
  }
  return 0;
}

safetensors *safetensors_parse(const uint8_t *buf, size_t len,
                               const char *label, char *err, size_t err_len){
  if( len < 8 ){
    safetensors_error(err, err_len, "%s: %zu bytes, too short for a "
                      "safetensors header", label, len);
    return 0;
  }
  uint64_t n = 0;
  for(int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
  if( n > len - 8 ){
    safetensors_error(err, err_len, "%s: header length %llu runs past the end "
                      "of the file (%zu bytes)", label, (unsigned long long)n, len);
    return 0;
  }
  if( n > SAFETENSORS_MAX_HEADER ){
    safetensors_error(err, err_len, "%s: header length %llu is over the limit "
                      "of %u", label, (unsigned long long)n, SAFETENSORS_MAX_HEADER);
    return 0;
  }
  const char *header = (const char *)buf + 8;
  if( safetensors_has_nul(header, (size_t)n) ){
    safetensors_error(err, err_len, "%s: header contains a NUL", label);
    return 0;
  }
  safetensors *st = calloc(1, sizeof(*st));
  if( st == 0 || (st->label = strdup(label)) == 0 ){
    safetensors_error(err, err_len, "%s: out of memory", label);
    free(st);
    return 0;
  }
  safetensors_reader r;
  memset(&r, 0, sizeof(r));
  r.label = st->label;
  r.data = buf + 8 + n;
  r.data_len = len - 8 - n;
  r.err = err;
  r.err_len = err_len;
  if( (r.j = hf_json_open(err, err_len)) == 0 ){
    safetensors_close(st);
    return 0;
  }
  int rc = safetensors_read_header(st, &r, header, (size_t)n);
  hf_json_close(r.j);
  if( rc || safetensors_sort(st, err, err_len)
   || safetensors_check_layout(st, r.data, r.data_len, err, err_len) ){
    safetensors_close(st);
    return 0;
  }
  return st;
}

safetensors *safetensors_open(const char *path, char *err, size_t err_len){
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if( fd < 0 ){
    safetensors_error(err, err_len, "%s: %s", path, strerror(errno));
    return 0;
  }
  struct stat sb;
  if( fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ){
    safetensors_error(err, err_len, "%s: not a regular file", path);
    close(fd);
    return 0;
  }
  size_t len = (size_t)sb.st_size;
  if( len < 8 ){  /* mmap of 0 bytes fails; report it as the parser would */
    close(fd);
    return safetensors_parse((const uint8_t *)"", len, path, err, err_len);
  }
  void *map = mmap(0, len, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if( map == MAP_FAILED ){
    safetensors_error(err, err_len, "%s: cannot map: %s", path, strerror(errno));
    return 0;
  }
  safetensors *st = safetensors_parse(map, len, path, err, err_len);
  if( st == 0 ){
    munmap(map, len);
    return 0;
  }
  st->map = map;
  st->map_len = len;
  return st;
}

void safetensors_close(safetensors *st){
  if( st == 0 ) return;
  if( st->shards ){
    for(size_t i = 0; i < st->n_shards; i++) safetensors_close(st->shards[i]);
    free(st->shards);
  }else{
    for(size_t i = 0; i < st->count; i++) free((char *)st->tensors[i].name);
  }
  free(st->tensors);
  free(st->label);
  if( st->map ) munmap(st->map, st->map_len);
  free(st);
}

const char *safetensors_label(const safetensors *st){
  return st->label;
}

size_t safetensors_count(const safetensors *st){
  return st->count;
}

const safetensors_tensor *safetensors_tensor_at(const safetensors *st, size_t i){
  return i < st->count ? &st->tensors[i] : 0;
}

const safetensors_tensor *safetensors_find(const safetensors *st, const char *name){
  safetensors_tensor key;
  key.name = name;
  return bsearch(&key, st->tensors, st->count, sizeof(st->tensors[0]),
                 safetensors_cmp_name);
}

/* ---- public: a model directory ---------------------------------------- */

static char *safetensors_path(const char *dir, const char *file){
  size_t n = strlen(dir) + strlen(file) + 2;
  char *p = malloc(n);
  if( p ) snprintf(p, n, "%s/%s", dir, file);
  return p;
}

/* A shard is named by a plain file name inside the model directory. */
static int safetensors_shard_name_ok(const char *file){
  return file[0] != 0 && strchr(file, '/') == 0 && strcmp(file, ".") != 0
      && strcmp(file, "..") != 0;
}

/* The shards an index names, and which shard each tensor is in. */
typedef struct safetensors_index {
  char **files;        /* distinct shard file names, in first-seen order */
  size_t n_files;
  char **names;        /* weight_map keys ... */
  size_t *file_of;     /* ... and the index into files of each */
  size_t n_names;
} safetensors_index;

static void safetensors_index_free(safetensors_index *x){
  for(size_t i = 0; i < x->n_files; i++) free(x->files[i]);
  for(size_t i = 0; i < x->n_names; i++) free(x->names[i]);
  free(x->files);
  free(x->names);
  free(x->file_of);
}

/* Record weight_map entry name -> file. */
static int safetensors_index_add(safetensors_index *x, const char *name,
                                 const char *file, size_t cap){
  size_t f = 0;
  while( f < x->n_files && strcmp(x->files[f], file) != 0 ) f++;
  if( f == x->n_files ){
    if( (x->files[f] = strdup(file)) == 0 ) return -1;
    x->n_files++;
  }
  if( x->n_names == cap || (x->names[x->n_names] = strdup(name)) == 0 ) return -1;
  x->file_of[x->n_names++] = f;
  return 0;
}

static int safetensors_index_read(safetensors_index *x, const char *path,
                                  char *err, size_t err_len){
  hf_json *j = 0;
  hf_json_value v;
  sqlite3_stmt *m = 0;
  size_t len, cap = 0;
  int rc = -1, step = SQLITE_NOMEM;
  memset(x, 0, sizeof(*x));
  char *text = file_read_all(path, &len, err, err_len);
  if( text == 0 ) return -1;
  if( (j = hf_json_open(err, err_len)) == 0 ){
    free(text);
    return -1;
  }
  hf_json_get(j, text, (int64_t)len, "$.weight_map", &v);
  free(v.text);
  if( strcmp(v.type, "object") != 0 ){
    safetensors_error(err, err_len, "%s: no weight_map object", path);
    goto done;
  }
  /* Size the arrays from the member count, so adding never reallocates. */
  m = hf_json_each(j, text, (int64_t)len, "$.weight_map");
  while( m && sqlite3_step(m) == SQLITE_ROW ) cap++;
  hf_json_done(j, m);
  m = 0;
  x->files = calloc(cap + 1, sizeof(char *));
  x->names = calloc(cap + 1, sizeof(char *));
  x->file_of = calloc(cap + 1, sizeof(size_t));
  if( x->files == 0 || x->names == 0 || x->file_of == 0 ){
    safetensors_error(err, err_len, "%s: out of memory", path);
    goto done;
  }
  m = hf_json_each(j, text, (int64_t)len, "$.weight_map");
  while( m && (step = sqlite3_step(m)) == SQLITE_ROW ){
    const char *name = (const char *)sqlite3_column_text(m, 0);
    const char *type = (const char *)sqlite3_column_text(m, 1);
    const char *file = (const char *)sqlite3_column_text(m, 2);
    if( name == 0 || type == 0 || strcmp(type, "text") != 0 || file == 0
     || !safetensors_shard_name_ok(file) ){
      safetensors_error(err, err_len, "%s: weight_map entry '%s' is not a file "
                        "name in the model directory", path, name ? name : "?");
      goto done;
    }
    if( safetensors_index_add(x, name, file, cap) ){
      safetensors_error(err, err_len, "%s: out of memory", path);
      goto done;
    }
  }
  if( step != SQLITE_DONE || x->n_names == 0 ){
    safetensors_error(err, err_len, "%s: weight_map is %s", path,
                      step != SQLITE_DONE ? "unreadable" : "empty");
    goto done;
  }
  rc = 0;
done:
  hf_json_done(j, m);
  hf_json_close(j);
  free(text);
  if( rc ) safetensors_index_free(x);
  return rc;
}

/* Gather the shards' tensors into st, and check them against the index. */
static int safetensors_merge(safetensors *st, const safetensors_index *x,
                             const char *index_path, char *err, size_t err_len){
  size_t total = 0;
  for(size_t i = 0; i < st->n_shards; i++) total += st->shards[i]->count;
  st->tensors = malloc((total + 1) * sizeof(st->tensors[0]));
  if( st->tensors == 0 ){
    safetensors_error(err, err_len, "%s: out of memory", index_path);
    return -1;
  }
  for(size_t i = 0; i < st->n_shards; i++){
    const safetensors *s = st->shards[i];
    memcpy(st->tensors + st->count, s->tensors, s->count * sizeof(s->tensors[0]));
    st->count += s->count;
  }
  if( safetensors_sort(st, err, err_len) ) return -1;
  for(size_t i = 0; i < x->n_names; i++){
    const safetensors_tensor *t = safetensors_find(st, x->names[i]);
    const safetensors *want = st->shards[x->file_of[i]];
    if( t == 0 || t->file != want->label ){
      safetensors_error(err, err_len, "%s: weight_map puts '%s' in %s, which "
                        "does not hold it", index_path, x->names[i],
                        x->files[x->file_of[i]]);
      return -1;
    }
  }
  return 0;
}

static safetensors *safetensors_open_index(const char *dir, const char *index_path,
                                           char *err, size_t err_len){
  safetensors_index x;
  if( safetensors_index_read(&x, index_path, err, err_len) ) return 0;
  safetensors *st = calloc(1, sizeof(*st));
  if( st == 0 || (st->label = strdup(index_path)) == 0
   || (st->shards = calloc(x.n_files, sizeof(safetensors *))) == 0 ){
    safetensors_error(err, err_len, "%s: out of memory", index_path);
    safetensors_close(st);
    safetensors_index_free(&x);
    return 0;
  }
  int rc = 0;
  for(size_t i = 0; i < x.n_files && rc == 0; i++){
    char *path = safetensors_path(dir, x.files[i]);
    st->shards[i] = path ? safetensors_open(path, err, err_len) : 0;
    if( st->shards[i] ) st->n_shards++;
    else rc = -1;
    free(path);
  }
  if( rc == 0 ) rc = safetensors_merge(st, &x, index_path, err, err_len);
  safetensors_index_free(&x);
  if( rc ){
    safetensors_close(st);
    return 0;
  }
  return st;
}

safetensors *safetensors_open_model(const char *dir, char *err, size_t err_len){
  char *single = safetensors_path(dir, "model.safetensors");
  char *index = safetensors_path(dir, "model.safetensors.index.json");
  safetensors *st = 0;
  if( single == 0 || index == 0 ){
    safetensors_error(err, err_len, "%s: out of memory", dir);
  }else if( access(single, F_OK) == 0 ){
    st = safetensors_open(single, err, err_len);
  }else if( access(index, F_OK) == 0 ){
    st = safetensors_open_index(dir, index, err, err_len);
  }else{
    safetensors_error(err, err_len, "%s: neither model.safetensors nor "
                      "model.safetensors.index.json is there", dir);
  }
  free(single);
  free(index);
  return st;
}
