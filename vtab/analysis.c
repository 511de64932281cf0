/*
** analysis.c: SQL functions for looking into activations, for research.
** An activation is a BLOB of float32, an [n][width] matrix row-major: the
** data of an `act` row after a generate, or one position's vector from a
** capture table.
**
**   SELECT tensor_norm(data) FROM act WHERE name = 'x';
**   SELECT tensor_dot(a.data, b.data) FROM act a, act b
**    WHERE a.name = 'q' AND b.name = 'attn';
**   SELECT tensor_topk(data, 3) FROM act WHERE name = 'logits';
**     -- [{"index": 432, "value": 11.2}, {"index": 298, "value": 9.8}, ...]
**   SELECT logit_lens(data) FROM act WHERE name = 'x';
**     -- [{"token": 432, "text": ",", "logit": 11.2}, ...]
**   SELECT col, value FROM tensor_values((SELECT data FROM act WHERE name = 'x'));
**     -- the floats one by one (tensor_values.c)
**
**   tensor_norm(a)         L2 norm of all of a's floats (REAL)
**   tensor_dot(a, b)       sum of a[i] * b[i]; a and b the same length
**   tensor_topk(a, k)      the k largest floats of a, largest first, ties
**                          by lower index; fewer if a has fewer than k
**   logit_lens(x [, k])    what the model would predict from residual x:
**                          the final RMSNorm (output_norm.weight, the
**                          model's eps) and the output matrix (output.weight,
**                          or token_embd.weight when tied), top k tokens
**                          (default 5).  x is one vector of the model's dim,
**                          or rows of dim, of which the last is used.
**
** How it works: the first three are loops over the blob; sums are in double.
** logit_lens computes exactly what the program's @final statements do for
** one row, with the same kernels, so its logits are the model's logits when
** x is the final residual stream.  It pins the output matrix one tile at a
** time through the tile manager, so it stays inside the memory budget like
** the forward pass (it holds one tile, plus dim and vocab floats).
**
** Limits and conventions: a NULL argument gives NULL.  A non-BLOB, or a
** BLOB whose length is not a multiple of 4, is an error naming the
** function, as is k < 1 or k not an integer.  The blob's bytes need not be
** aligned.  JSON numbers are printed with 9 significant digits, enough to
** give back the same float32; infinities are written 9e999 and -9e999 (as
** SQLite's JSON functions do) and a NaN as null; NaNs rank below every
** number.  Token text is the piece's bytes as a JSON string; a byte that
** is not part of valid UTF-8 (one half of a character split over byte
** tokens) is written as U+FFFD, so "token" is the exact answer.
*/
#include "extension.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tokenizer/tokenizer.h"

/* ---- arguments ------------------------------------------------------------ */

/* A float32 blob argument, which may be unaligned: read it with float_at. */
typedef struct float_blob {
  const unsigned char *bytes;
  int64_t count;
} float_blob;

static float float_at(const float_blob *b, int64_t i){
  float f;
  memcpy(&f, b->bytes + i * (int64_t)sizeof f, sizeof f);
  return f;
}

static const char *type_name(int type){
  switch( type ){
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT: return "a real";
    case SQLITE_TEXT: return "text";
    case SQLITE_NULL: return "NULL";
    default: return "a blob";
  }
}

/* Argument v as floats: 1, or 0 if it is NULL (the result stays NULL), or
** -1 after setting the error. */
static int arg_floats(sqlite3_context *ctx, sqlite3_value *v, const char *fn,
                      float_blob *out){
  int type = sqlite3_value_type(v);
  if( type == SQLITE_NULL ) return 0;
  if( type != SQLITE_BLOB ){
    sql_error(ctx, "%s: expected a BLOB of float32, got %s", fn, type_name(type));
    return -1;
  }
  int64_t bytes = sqlite3_value_bytes(v);
  if( bytes % (int64_t)sizeof(float) ){
    sql_error(ctx, "%s: a BLOB of float32 has a multiple of 4 bytes, this one %lld",
             fn, (long long)bytes);
    return -1;
  }
  out->bytes = sqlite3_value_blob(v);
  out->count = bytes / (int64_t)sizeof(float);
  return 1;
}

/* Argument v as k >= 1: 1, 0 if NULL, -1 after setting the error. */
static int arg_k(sqlite3_context *ctx, sqlite3_value *v, const char *fn, int64_t *k){
  int known = sql_integer(v, k);
  if( known == 0 ) return 0;
  if( known < 0 || *k < 1 ){
    sql_error(ctx, "%s: k must be an integer of at least 1", fn);
    return -1;
  }
  return 1;
}

/* ---- tensor_norm, tensor_dot ---------------------------------------------- */

static void norm_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  float_blob a;
  if( arg_floats(ctx, argv[0], "tensor_norm", &a) <= 0 ) return;
  double sum = 0;
  for(int64_t i = 0; i < a.count; i++){
    double x = float_at(&a, i);
    sum += x * x;
  }
  sqlite3_result_double(ctx, sqrt(sum));
}

static void dot_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  float_blob a, b;
  int ra = arg_floats(ctx, argv[0], "tensor_dot", &a);
  if( ra < 0 ) return;
  int rb = arg_floats(ctx, argv[1], "tensor_dot", &b);
  if( ra == 0 || rb <= 0 ) return;
  if( a.count != b.count ){
    sql_error(ctx, "tensor_dot: lengths differ: %lld and %lld floats",
             (long long)a.count, (long long)b.count);
    return;
  }
  double sum = 0;
  for(int64_t i = 0; i < a.count; i++) sum += (double)float_at(&a, i) * float_at(&b, i);
  sqlite3_result_double(ctx, sum);
}

/* ---- top k ------------------------------------------------------------------ */

typedef struct ranked {
  int64_t index;
  float value;
} ranked;

/* 1 if a ranks before b: larger value first, numbers before NaNs, then the
** lower index.  Indices are distinct, so this is a total order. */
static int ranks_before(const ranked *a, const ranked *b){
  int a_nan = isnan(a->value), b_nan = isnan(b->value);
  if( a_nan != b_nan ) return b_nan;
  if( !a_nan && a->value != b->value ) return a->value > b->value;
  return a->index < b->index;
}

static int ranked_compare(const void *x, const void *y){
  const ranked *a = x, *b = y;
  if( a->index == b->index ) return 0;
  return ranks_before(a, b) ? -1 : 1;
}

/* heap[0] is the entry that ranks last of the k kept. */
static void heap_sift_down(ranked *heap, int64_t k, int64_t i){
  for(;;){
    int64_t last = i, l = 2 * i + 1, r = l + 1;
    if( l < k && ranks_before(&heap[last], &heap[l]) ) last = l;
    if( r < k && ranks_before(&heap[last], &heap[r]) ) last = r;
    if( last == i ) return;
    ranked t = heap[i];
    heap[i] = heap[last];
    heap[last] = t;
    i = last;
  }
}

/* The top min(k, n) of the n values value(i, arg), in rank order, into a
** sqlite3_malloc'd array (count in *kept); NULL when out of memory. */
static ranked *top_k(float (*value)(const void *, int64_t), const void *arg,
                     int64_t n, int64_t k, int64_t *kept){
  if( k > n ) k = n;
  ranked *heap = sqlite3_malloc64((uint64_t)(k > 0 ? k : 1) * sizeof *heap);
  if( heap == 0 ) return 0;
  for(int64_t i = 0; i < k; i++) heap[i] = (ranked){ i, value(arg, i) };
  for(int64_t i = k / 2 - 1; i >= 0; i--) heap_sift_down(heap, k, i);
  for(int64_t i = k; i < n; i++){
    ranked r = { i, value(arg, i) };
    if( ranks_before(&r, &heap[0]) ){
      heap[0] = r;
      heap_sift_down(heap, k, 0);
    }
  }
  qsort(heap, (size_t)k, sizeof *heap, ranked_compare);
  *kept = k;
  return heap;
}

static float blob_value(const void *arg, int64_t i){
  return float_at(arg, i);
}

static float array_value(const void *arg, int64_t i){
  return ((const float*)arg)[i];
}

/* ---- JSON output -------------------------------------------------------------- */

static void json_number(sqlite3_str *out, float v){
  if( isnan(v) ) sqlite3_str_appendall(out, "null");
  else if( isinf(v) ) sqlite3_str_appendall(out, v > 0 ? "9e999" : "-9e999");
  else sqlite3_str_appendf(out, "%.9g", (double)v);
}

/* Length of the valid UTF-8 character at p (n bytes left), or 0. */
static size_t utf8_char_length(const unsigned char *p, size_t n){
  size_t len;
  uint32_t c;
  if( p[0] < 0x80 ) return 1;
  else if( p[0] >= 0xC2 && p[0] <= 0xDF ){ len = 2; c = p[0] & 0x1F; }
  else if( p[0] >= 0xE0 && p[0] <= 0xEF ){ len = 3; c = p[0] & 0x0F; }
  else if( p[0] >= 0xF0 && p[0] <= 0xF4 ){ len = 4; c = p[0] & 0x07; }
  else return 0;
  if( len > n ) return 0;
  for(size_t i = 1; i < len; i++){
    if( (p[i] & 0xC0) != 0x80 ) return 0;
    c = c << 6 | (p[i] & 0x3F);
  }
  /* overlong, surrogate or beyond U+10FFFF */
  if( (len == 3 && c < 0x800) || (len == 4 && c < 0x10000)
   || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF ) return 0;
  return len;
}

static void json_string(sqlite3_str *out, const char *text, size_t len){
  const unsigned char *p = (const unsigned char*)text;
  sqlite3_str_appendchar(out, 1, '"');
  for(size_t i = 0; i < len; ){
    unsigned char c = p[i];
    size_t n = utf8_char_length(p + i, len - i);
    if( n == 0 ){
      sqlite3_str_appendall(out, "\\ufffd");
      i++;
      continue;
    }
    if( c == '"' || c == '\\' ) sqlite3_str_appendf(out, "\\%c", c);
    else if( c == '\n' ) sqlite3_str_appendall(out, "\\n");
    else if( c == '\t' ) sqlite3_str_appendall(out, "\\t");
    else if( c == '\r' ) sqlite3_str_appendall(out, "\\r");
    else if( c < 0x20 ) sqlite3_str_appendf(out, "\\u%04x", c);
    else sqlite3_str_append(out, (const char*)p + i, (int)n);
    i += n;
  }
  sqlite3_str_appendchar(out, 1, '"');
}

static void result_json(sqlite3_context *ctx, sqlite3_str *out){
  int rc = sqlite3_str_errcode(out);
  char *json = sqlite3_str_finish(out);
  if( rc != SQLITE_OK || json == 0 ){
    sqlite3_free(json);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, json, -1, sqlite3_free);
}

static void topk_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  float_blob a;
  int64_t k, kept;
  int ra = arg_floats(ctx, argv[0], "tensor_topk", &a);
  if( ra < 0 ) return;
  int rk = arg_k(ctx, argv[1], "tensor_topk", &k);
  if( ra == 0 || rk <= 0 ) return;
  ranked *top = top_k(blob_value, &a, a.count, k, &kept);
  if( top == 0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_appendchar(out, 1, '[');
  for(int64_t i = 0; i < kept; i++){
    sqlite3_str_appendf(out, "%s{\"index\": %lld, \"value\": ", i ? ", " : "",
                        (long long)top[i].index);
    json_number(out, top[i].value);
    sqlite3_str_appendchar(out, 1, '}');
  }
  sqlite3_str_appendchar(out, 1, ']');
  sqlite3_free(top);
  result_json(ctx, out);
}

/* ---- logit_lens ----------------------------------------------------------- */

/* The norm weight as dim floats into w; 0, or -1 after setting the error. */
static int final_norm_weight(sqlite3_context *ctx, model *m, float *w){
  const model_tensor *t = model_find_tensor(m, "output_norm.weight");
  int64_t dim = m->params.dim;
  if( t == 0 || t->rows != 1 || t->cols != dim || t->n_tiles != 1 ){
    sql_error(ctx, "logit_lens: the model has no output_norm.weight vector of %lld",
             (long long)dim);
    return -1;
  }
  char err[256];
  const tile *tile = tile_manager_pin(m->tiles, t->first_tile, err, sizeof err);
  if( tile == 0 ){
    sql_error(ctx, "logit_lens: %s", err);
    return -1;
  }
  kernel_dequantize_tile_row(t->dtype, tile->data, (size_t)dim, 0, w);
  tile_manager_unpin(m->tiles, tile);
  return 0;
}

/* logits = W h for the output matrix W, one tile pinned at a time, with
** the arithmetic of the forward pass's matmul (kernel_input); 0, or
** -1 after setting the error. */
static int output_matvec(sqlite3_context *ctx, model *m, const model_tensor *w,
                         const float *h, float *logits){
  kernel_input x;
  if( kernel_input_prepare(&x, w->dtype, h, 1, (size_t)w->cols) ){
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  int rc = 0;
  for(int64_t tile_row = 0; tile_row < w->n_tiles; tile_row++){
    char err[256];
    const tile *tile = tile_manager_pin(m->tiles, w->first_tile + tile_row, err, sizeof err);
    if( tile == 0 ){
      sql_error(ctx, "logit_lens: %s", err);
      rc = -1;
      break;
    }
    int64_t rows = model_tile_rows(w, tile_row);
    kernel_matmul_input(&x, tile->data, (size_t)rows, logits + tile_row * w->tile_rows, (size_t)rows);
    tile_manager_unpin(m->tiles, tile);
  }
  kernel_input_free(&x);
  return rc;
}

static void logit_lens_json(sqlite3_context *ctx, const tokenizer *tok,
                            const ranked *top, int64_t kept){
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_appendchar(out, 1, '[');
  for(int64_t i = 0; i < kept; i++){
    const char *piece;
    size_t len;
    sqlite3_str_appendf(out, "%s{\"token\": %lld, \"text\": ", i ? ", " : "",
                        (long long)top[i].index);
    /* an output row past the tokenizer's vocabulary (padding) has no text */
    if( tokenizer_token(tok, (int)top[i].index, &piece, &len, 0, 0) == 0 ){
      json_string(out, piece, len);
    }else{
      sqlite3_str_appendall(out, "null");
    }
    sqlite3_str_appendall(out, ", \"logit\": ");
    json_number(out, top[i].value);
    sqlite3_str_appendchar(out, 1, '}');
  }
  sqlite3_str_appendchar(out, 1, ']');
  result_json(ctx, out);
}

static void logit_lens_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  session *s = sqlite3_user_data(ctx);
  float_blob x;
  int64_t k = 5, kept;
  int rx = arg_floats(ctx, argv[0], "logit_lens", &x);
  if( rx < 0 ) return;
  int rk = argc > 1 ? arg_k(ctx, argv[1], "logit_lens", &k) : 1;
  if( rx == 0 || rk <= 0 ) return;
  model *m = session_model(s, 0);
  if( m == 0 ){
    sql_error(ctx, "logit_lens: %s", s->open_error);
    return;
  }
  int64_t dim = m->params.dim;
  if( x.count == 0 || x.count % dim ){
    sql_error(ctx, "logit_lens: expected a residual-stream vector of %lld floats (the"
             " model's dim), or rows of them; got %lld floats",
             (long long)dim, (long long)x.count);
    return;
  }
  const model_tensor *w = model_find_tensor(m, "output.weight");
  if( w == 0 ) w = model_find_tensor(m, "token_embd.weight");
  if( w == 0 || w->cols != dim || w->tile_cols != w->cols ){
    sql_error(ctx, "logit_lens: the model has no output matrix of %lld columns"
             " (output.weight or token_embd.weight) in tiles of whole rows", (long long)dim);
    return;
  }
  float *h = sqlite3_malloc64((uint64_t)dim * sizeof(float));
  float *norm = sqlite3_malloc64((uint64_t)dim * sizeof(float));
  float *logits = sqlite3_malloc64((uint64_t)w->rows * sizeof(float));
  ranked *top = 0;
  if( h == 0 || norm == 0 || logits == 0 ){
    sqlite3_result_error_nomem(ctx);
    goto done;
  }
  /* the last row; copied, as the blob need not be aligned */
  memcpy(h, x.bytes + (x.count - dim) * (int64_t)sizeof(float), (size_t)dim * sizeof(float));
  if( final_norm_weight(ctx, m, norm) ) goto done;
  kernel_rmsnorm(h, h, norm, (size_t)dim, m->params.rms_eps);
  if( output_matvec(ctx, m, w, h, logits) ) goto done;
  top = top_k(array_value, logits, w->rows, k, &kept);
  if( top == 0 ){
    sqlite3_result_error_nomem(ctx);
    goto done;
  }
  logit_lens_json(ctx, m->tokenizer, top, kept);
done:
  sqlite3_free(top);
  sqlite3_free(logits);
  sqlite3_free(norm);
  sqlite3_free(h);
}

/* ---- registration -------------------------------------------------------- */

#define PURE (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)

static const struct analysis_function {
  const char *name;
  int n_args;
  int flags;
  void (*fn)(sqlite3_context *, int, sqlite3_value **);
} analysis_functions[] = {
  { "tensor_norm", 1, PURE, norm_fn },
  { "tensor_dot", 2, PURE, dot_fn },
  { "tensor_topk", 2, PURE, topk_fn },
  /* reads the model's weights: the same for one model, so not "pure" */
  { "logit_lens", 1, SQLITE_UTF8, logit_lens_fn },
  { "logit_lens", 2, SQLITE_UTF8, logit_lens_fn },
};

int analysis_register(sqlite3 *db, session *s){
  int rc = SQLITE_OK;
  for(size_t i = 0; rc == SQLITE_OK && i < sizeof analysis_functions / sizeof analysis_functions[0]; i++){
    const struct analysis_function *f = &analysis_functions[i];
    rc = sqlite3_create_function(db, f->name, f->n_args, f->flags, s, f->fn, 0, 0);
  }
  return rc;
}
