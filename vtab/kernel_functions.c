/*
** kernel_functions.c: the arithmetic of the forward pass as SQL functions.
** Activations are BLOBs of float32, [n][width] with one row per position;
** weights arrive as tile pointers from a tensor table's `data` column.
**
**   matmul(w.data, x)           aggregate: x W^T for the tiles of a group,
**                               [n][rows of those tiles]
**   swiglu(g.data, u.data, x)   aggregate: silu(x G^T) * (x U^T), for the
**                               tiles of G and U joined on tile_row
**   embed(w.data, token, i)     aggregate: row i = embedding of token
**   rmsnorm(x, w.data)          x / rms(x) * w, row by row
**   tensor_add(a, b)            a + b, or a + b on each row when b is one row
**   rope(x, pos)                rotary embedding, row r at position pos + r
**   attention(q, k, v, head)    aggregate over heads: causal softmax(q k^T) v
**   silu_mul(g, u)              silu(g) * u
**   gather_rows(x, i)           aggregate: the rows i of x, in order
**   row_of(x, i)                row i of x (for capture)
**   attention_weights(q, k, i)  row i's attention weights, every head
**
** and, on the caller's connection only (not in the program's sandbox):
**
**   tensql_threads([n])         the kernel threads, process-wide
**
** Shapes, head size, RoPE theta and style and RMS epsilon come from the
** model of the connection.  A NULL where a tile is expected is an error,
** never a silent zero: it means SQLite sorted or materialised the join.
*/
#include "extension.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/workers.h"

static session *fn_session(sqlite3_context *ctx){
  return sqlite3_user_data(ctx);
}

/* The tile in argument v, or NULL after setting the error. */
static const tile_ref *arg_tile(sqlite3_context *ctx, sqlite3_value *v, const char *fn){
  const tile_ref *t = sqlite3_value_pointer(v, TILE_POINTER);
  if( t == 0 ){
    sql_error(ctx, "%s: expected a tile from a tensor table's data column, got %s"
             " (a sorter or materialised subquery drops tile pointers; see README)",
             fn, sqlite3_value_type(v) == SQLITE_NULL ? "NULL" : "another value");
  }
  return t;
}

/* Argument v as a float32 matrix of `cols` columns: returns its row count,
** or -1 after setting the error. */
static int64_t arg_matrix(sqlite3_context *ctx, sqlite3_value *v, int64_t cols,
                          const float **data, const char *fn){
  int64_t bytes = sqlite3_value_bytes(v);
  if( sqlite3_value_type(v) != SQLITE_BLOB || cols <= 0 || bytes == 0
   || bytes % (cols * (int64_t)sizeof(float)) ){
    sql_error(ctx, "%s: expected a float32 matrix of %lld columns, got %lld bytes",
             fn, (long long)cols, (long long)bytes);
    return -1;
  }
  *data = sqlite3_value_blob(v);
  return bytes / (cols * (int64_t)sizeof(float));
}

/* Whether argument v, a row, position or head number from SQL, is an
** integer; otherwise sets the error.  ('abc' or 1.5 read as an integer
** would quietly pick row 0 or 1.) */
static int arg_integer(sqlite3_context *ctx, sqlite3_value *v, const char *fn, const char *what){
  int64_t x;
  if( sql_integer(v, &x) == 1 ) return 1;
  sql_error(ctx, "%s: %s must be an integer", fn, what);
  return 0;
}

/* Room for a result: the running statement's scratch (state.h), or the
** heap when no program statement is running or the scratch is full. */
static float *output_alloc(sqlite3_context *ctx, int64_t floats){
  float *out = state_scratch(fn_session(ctx)->state, floats);
  return out ? out : sqlite3_malloc64((uint64_t)floats * sizeof(float));
}

static float *result_buffer(sqlite3_context *ctx, int64_t floats){
  float *out = output_alloc(ctx, floats);
  if( out == 0 ) sqlite3_result_error_nomem(ctx);
  return out;
}

/* Scratch lives until the statement ends, so SQLite may keep pointing at
** it (SQLITE_STATIC) and copies nothing. */
static void result_matrix(sqlite3_context *ctx, float *data, int64_t floats){
  int scratch = state_scratch_holds(fn_session(ctx)->state, data);
  sqlite3_result_blob64(ctx, data, (uint64_t)floats * sizeof(float),
                        scratch ? SQLITE_STATIC : sqlite3_free);
}

/* ---- matmul ------------------------------------------------------------- */

/* matmul(w.data, x) over a run of consecutive tiles of W (a whole tensor,
** or the tiles of one group) gives x W^T for their rows.  Each xStep hands
** its tile to the worker pool and returns, so SQLite walks the join to the
** next tile while the kernels compute; xFinal waits once for all of them.
** The activation is read at the first tile: it is the same x for every
** tile of a product (the join pairs each tile with one act row).
**
** For Q8_0 weights x is quantized to Q8_0 once, at the first tile, and the
** products are integer dot products, as llama.cpp does: each x moves by up
** to 1/254 of its block's largest value, and the kernel does about 1.4x
** less work per weight byte, which is what lets decode keep up with memory
** and lets prefill, which is arithmetic-bound, go faster. */

/* A share of the product: some rows of one tile, run by whichever thread
** the pool picks; the tile carries an extra pin until the task has run.
** Every output row is computed alone, so how tiles are cut into tasks
** never changes a result. */
typedef struct matmul_task {
  const kernel_input *x;
  tile_manager *tiles;
  const tile *tile, *up;   /* up: swiglu's tile of U; NULL in a matmul */
  size_t at;               /* where the task's first row starts in its tiles */
  int64_t rows;
  float *y, *y_up;
  int64_t y_stride;
} matmul_task;

typedef struct matmul_acc {
  float *out;              /* [n][cap]; each tile's rows at its column offset */
  float *up;               /* swiglu: x U^T, laid out as out; NULL in a matmul */
  int64_t n, width, cap;
  int64_t next_tile;
  float *x_copy;           /* unquantized x: SQLite may free it after the first xStep */
  kernel_input x;
  int64_t parts;           /* tasks per tile */
  int64_t last_parts;      /* tasks for the tensor's last tile */
  matmul_task *tasks;      /* parts per tile that can follow the first */
  int64_t n_tasks;
  workers_batch batch;
} matmul_acc;

/* With several threads, a product of fewer tiles than threads (q, k, v and
** o of Qwen2.5-0.5B are one tile each) is cut into parts, so that each
** thread has one; parts keep at least this many rows.  Cutting finer, to
** even out the threads' last tasks, cost more than it saved: at 4 tasks a
** thread the 128-row k took 10.4 us on 2 threads against 6.5 us at 1.
** A swiglu task reads a tile of each of its `twins` tensors, so its tiles
** are cut in two with several threads: tasks stay about a tile's bytes.
** Whole, the threads ended the 5 tile pairs of Qwen2.5-0.5B's FFN 3 to 2,
** one computing a pair alone (2 threads: decode 1.02x the three
** statements' speed, against 1.07x cut in two). */
#define MATMUL_MIN_PART_ROWS 16

/* want parts of a tile of `rows` rows, or as many as keep
** MATMUL_MIN_PART_ROWS rows each (at least 1). */
static int64_t matmul_parts_within(int64_t want, int64_t rows){
  int64_t most = rows / MATMUL_MIN_PART_ROWS;
  return want < most ? want : most > 1 ? most : 1;
}

static int64_t matmul_parts(const model_tensor *t, int64_t tiles, int twins){
  int threads = workers_threads();
  if( threads == 1 ) return 1;
  return matmul_parts_within((threads + tiles - 1) / tiles * twins, t->tile_rows);
}

/* The parts of a product's last tile, of `rows` rows: at least one a
** thread when the product has several tiles, so that the threads end
** together.  Whole, the last of the 5 tiles of Qwen2.5-0.5B's FFN down
** product went to one thread after the other had finished: 3 tiles
** against 2, a fifth of the product idle on one thread. */
static int64_t matmul_last_parts(int64_t parts, int64_t rows){
  int64_t threads = workers_threads();
  return parts >= threads ? parts : matmul_parts_within(threads, rows);
}

static void matmul_task_run(void *arg){
  const matmul_task *k = arg;
  const char *w = k->tile->data;
  kernel_matmul_input(k->x, w + k->at, (size_t)k->rows, k->y, (size_t)k->y_stride);
  tile_manager_unpin(k->tiles, k->tile);
  if( k->up == 0 ) return;
  const char *u = k->up->data;
  kernel_matmul_input(k->x, u + k->at, (size_t)k->rows, k->y_up, (size_t)k->y_stride);
  tile_manager_unpin(k->tiles, k->up);
  for(size_t r = 0; r < k->x->n; r++){
    float *g = k->y + r * (size_t)k->y_stride;
    kernel_silu_mul(g, g, k->y_up + r * (size_t)k->y_stride, (size_t)k->rows);
  }
}

/* Size everything at the first tile, so that nothing a task touches moves:
** the output reaches at most to the tensor's last row. */
static int matmul_begin(sqlite3_context *ctx, matmul_acc *acc, const tile_ref *w,
                        const tile_ref *up, const float *x, int64_t n){
  const model_tensor *t = w->tensor;
  size_t x_bytes = (size_t)(n * t->cols) * sizeof(float);
  int64_t tiles = t->n_tiles - w->tile_row;
  acc->n = n;
  acc->next_tile = w->tile_row;
  acc->cap = t->rows - w->tile_row * t->tile_rows;
  acc->parts = matmul_parts(t, tiles, up ? 2 : 1);
  acc->last_parts = matmul_last_parts(acc->parts, t->rows - (t->n_tiles - 1) * t->tile_rows);
  acc->out = output_alloc(ctx, n * acc->cap);
  if( up ) acc->up = sqlite3_malloc64((uint64_t)(n * acc->cap) * sizeof(float));
  acc->tasks = sqlite3_malloc64((uint64_t)((tiles - 1) * acc->parts + acc->last_parts)
                                * sizeof *acc->tasks);
  if( acc->out == 0 || acc->tasks == 0 || (up && acc->up == 0) ) return -1;
  if( kernel_input_prepare(&acc->x, t->dtype, x, (size_t)n, (size_t)t->cols) ) return -1;
  if( acc->x.xq ) return 0;
  acc->x_copy = sqlite3_malloc64(x_bytes);
  if( acc->x_copy == 0 ) return -1;
  memcpy(acc->x_copy, x, x_bytes);
  acc->x.x = acc->x_copy;
  return 0;
}

/* Hand tile w (and swiglu's up, its twin in U) to the pool in acc->parts
** tasks (acc->last_parts for the last tile) of whole 16-row groups (a
** Q8_0 tile's unit, tensor.h; any dtype's rows may start there). */
static void matmul_submit(matmul_acc *acc, tile_manager *tiles, const tile_ref *w,
                          const tile_ref *up){
  size_t row_bytes = tensor_row_bytes(w->tensor->dtype, (uint64_t)w->tensor->cols);
  const int64_t group = TENSOR_Q8_0_GROUP, groups = (w->rows + group - 1) / group;
  const int64_t parts = w->tile_row + 1 < w->tensor->n_tiles ? acc->parts : acc->last_parts;
  for(int64_t p = 0; p < parts; p++){
    int64_t r0 = groups * p / parts * group, r1 = groups * (p + 1) / parts * group;
    if( r1 > w->rows ) r1 = w->rows;
    if( r0 >= r1 ) continue;
    matmul_task *k = &acc->tasks[acc->n_tasks++];
    *k = (matmul_task){ &acc->x, tiles, w->tile, up ? up->tile : 0, (size_t)r0 * row_bytes,
                        r1 - r0, acc->out + acc->width + r0,
                        up ? acc->up + acc->width + r0 : 0, acc->cap };
    tile_manager_hold(tiles, w->tile);
    if( up ) tile_manager_hold(tiles, up->tile);
    workers_submit(&acc->batch, matmul_task_run, k);
  }
  workers_share();
  acc->width += w->rows;
  acc->next_tile++;
}

/* xStep of matmul and swiglu: w is a tile of the product, up its twin in
** U for swiglu (NULL for matmul), x the activation. */
static void product_step(sqlite3_context *ctx, const tile_ref *w, const tile_ref *up,
                         sqlite3_value *x_arg, const char *fn){
  matmul_acc *acc = sqlite3_aggregate_context(ctx, sizeof *acc);
  if( acc == 0 ) return;
  const float *x;
  int64_t n = arg_matrix(ctx, x_arg, w->tensor->cols, &x, fn);
  if( n < 0 ) return;
  if( acc->out == 0 && matmul_begin(ctx, acc, w, up, x, n) ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if( w->tile_row != acc->next_tile || n != acc->n ){
    sql_error(ctx, "%s: the tiles of a product must be consecutive, with one"
                  " activation (a tensor table joined with one act row)", fn);
    return;
  }
  matmul_submit(acc, fn_session(ctx)->model->tiles, w, up);
}

static void matmul_step(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const tile_ref *w = arg_tile(ctx, argv[0], "matmul");
  if( w ) product_step(ctx, w, 0, argv[1], "matmul");
}

/* swiglu(g.data, u.data, x): the FFN's gate and up products and SiLU in
** one pass, each task computing both for its rows.  Apart, they were three
** statements, and each product ended with one thread computing alone. */
static void swiglu_step(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const tile_ref *g = arg_tile(ctx, argv[0], "swiglu");
  const tile_ref *u = g ? arg_tile(ctx, argv[1], "swiglu") : 0;
  if( u == 0 ) return;
  const model_tensor *gt = g->tensor, *ut = u->tensor;
  if( gt->rows != ut->rows || gt->cols != ut->cols || gt->dtype != ut->dtype
   || gt->tile_rows != ut->tile_rows || g->tile_row != u->tile_row ){
    sql_error(ctx, "swiglu: gate and up must be tensors of one shape and dtype,"
                  " their tables joined on tile_row");
    return;
  }
  product_step(ctx, g, u, argv[2], "swiglu");
}

static void product_final(sqlite3_context *ctx){
  matmul_acc *acc = sqlite3_aggregate_context(ctx, 0);
  if( acc == 0 ) return;
  workers_wait(&acc->batch);
  sqlite3_free(acc->tasks);
  sqlite3_free(acc->up);
  sqlite3_free(acc->x_copy);
  kernel_input_free(&acc->x);
  if( acc->out == 0 ) return;
  for(int64_t r = 1; r < acc->n && acc->width < acc->cap; r++){
    memmove(acc->out + r * acc->width, acc->out + r * acc->cap,
            (size_t)acc->width * sizeof(float));
  }
  result_matrix(ctx, acc->out, acc->n * acc->width);
  acc->out = 0;
}

/* ---- embed ---------------------------------------------------------------- */

typedef struct embed_acc {
  float *out;              /* [n][dim] */
  int64_t n, dim;
} embed_acc;

static void embed_step(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  embed_acc *acc = sqlite3_aggregate_context(ctx, sizeof *acc);
  const tile_ref *w = arg_tile(ctx, argv[0], "embed");
  if( acc == 0 || w == 0 ) return;
  int64_t token = sqlite3_value_int64(argv[1]), i = sqlite3_value_int64(argv[2]);
  int64_t n = fn_session(ctx)->state->n;
  /* token and i come from SQL: each is checked before it sizes or places
  ** anything (outside a step n is 0, and the buffer would be empty) */
  if( !arg_integer(ctx, argv[1], "embed", "the token") || !arg_integer(ctx, argv[2], "embed", "the row") ){
    return;
  }
  if( token < 0 || token >= w->tensor->rows ){
    sql_error(ctx, "embed: token %lld is not in the vocabulary of %lld tokens (%s)",
              (long long)token, (long long)w->tensor->rows, w->tensor->name);
    return;
  }
  if( i < 0 || i >= n ){
    sql_error(ctx, "embed: row %lld is outside the step, of %lld positions", (long long)i,
              (long long)n);
    return;
  }
  int64_t local = token - w->tile_row * w->tensor->tile_rows;
  if( local < 0 || local >= w->rows ){
    sql_error(ctx, "embed: token %lld is not in tile %lld of %s (join the table on"
              " row = token)", (long long)token, (long long)w->tile_row, w->tensor->name);
    return;
  }
  if( acc->out == 0 ){
    acc->n = n;
    acc->dim = w->tensor->cols;
    acc->out = sqlite3_malloc64((uint64_t)(acc->n * acc->dim) * sizeof(float));
    if( acc->out == 0 ){ sqlite3_result_error_nomem(ctx); return; }
  }
  kernel_dequantize_tile_row(w->tensor->dtype, w->tile->data, (size_t)acc->dim, (size_t)local,
                             acc->out + i * acc->dim);
}

static void embed_final(sqlite3_context *ctx){
  embed_acc *acc = sqlite3_aggregate_context(ctx, 0);
  if( acc == 0 || acc->out == 0 ) return;
  result_matrix(ctx, acc->out, acc->n * acc->dim);
  acc->out = 0;
}

/* ---- row-wise functions -------------------------------------------------- */

/* A small weight vector (norm or bias) as floats; NULL after an error. */
static float *tile_vector(sqlite3_context *ctx, const tile_ref *w, int64_t d, const char *fn){
  if( w->tensor->rows != 1 || w->tensor->cols != d ){
    sql_error(ctx, "%s: %s is not a vector of %lld", fn, w->tensor->name, (long long)d);
    return 0;
  }
  float *v = sqlite3_malloc64((uint64_t)d * sizeof(float));
  if( v == 0 ){ sqlite3_result_error_nomem(ctx); return 0; }
  kernel_dequantize_tile_row(w->tensor->dtype, w->tile->data, (size_t)d, 0, v);
  return v;
}

static void rmsnorm_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const tile_ref *w = arg_tile(ctx, argv[1], "rmsnorm");
  if( w == 0 ) return;
  int64_t d = w->tensor->cols;
  const float *x;
  int64_t n = arg_matrix(ctx, argv[0], d, &x, "rmsnorm");
  float *weight = n < 0 ? 0 : tile_vector(ctx, w, d, "rmsnorm");
  float *out = weight ? result_buffer(ctx, n * d) : 0;
  if( out ){
    float eps = fn_session(ctx)->model->params.rms_eps;
    for(int64_t r = 0; r < n; r++) kernel_rmsnorm(out + r * d, x + r * d, weight, (size_t)d, eps);
    result_matrix(ctx, out, n * d);
  }
  sqlite3_free(weight);
}

/* The width of tensor_add's rows: a bias tile's, or b's whole length when
** b has a's shape (one long row) or is one row of a matrix with the
** step's rows; 0 when b is neither. */
static int64_t add_width(sqlite3_context *ctx, sqlite3_value *a, sqlite3_value *b,
                         const tile_ref *bt){
  if( bt ) return bt->tensor->cols;
  int64_t a_bytes = sqlite3_value_bytes(a), b_bytes = sqlite3_value_bytes(b);
  int64_t rows = fn_session(ctx)->state->n;
  if( b_bytes == a_bytes || (rows > 1 && b_bytes * rows == a_bytes) ){
    return b_bytes / (int64_t)sizeof(float);
  }
  return 0;
}

/* tensor_add(a, b): b is a matrix of a's shape, or one row (a bias, as a
** vector tile or a BLOB) added to each row of a. */
static void add_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const tile_ref *bt = sqlite3_value_pointer(argv[1], TILE_POINTER);
  int64_t d = add_width(ctx, argv[0], argv[1], bt);
  if( d == 0 ){
    sql_error(ctx, sqlite3_value_type(argv[1]) == SQLITE_BLOB
                   ? "tensor_add: b must have a's shape, or be one row of it (a bias)"
                   : "tensor_add: b must be a BLOB of float32 or a tensor's data");
    return;
  }
  const float *a, *b;
  float *bias = 0;
  int64_t n = arg_matrix(ctx, argv[0], d, &a, "tensor_add");
  if( n < 0 ) return;
  if( bt ){
    b = bias = tile_vector(ctx, bt, d, "tensor_add");
  }else if( arg_matrix(ctx, argv[1], d, &b, "tensor_add") != 1 ){
    return;
  }
  float *out = b ? result_buffer(ctx, n * d) : 0;
  if( out ){
    for(int64_t r = 0; r < n; r++){
      for(int64_t c = 0; c < d; c++) out[r * d + c] = a[r * d + c] + b[c];
    }
    result_matrix(ctx, out, n * d);
  }
  sqlite3_free(bias);
}

/* The rotations of positions pos .. pos + n - 1, head_dim floats each
** (kernel_rope_rotation).  The session keeps the last ones: every layer's
** q and k rotate at the same positions, and working out the angles (pow,
** cos and sin in double) took 1-3 us a call, longer than the rotation. */
static const float *rope_rotations(session *s, int64_t pos, int64_t n){
  const model_params *p = &s->model->params;
  if( s->rope && s->rope_pos == pos && s->rope_rows == n ) return s->rope;
  float *rot = sqlite3_realloc64(s->rope, (uint64_t)(n * p->head_dim) * sizeof(float));
  if( rot == 0 ) return 0;
  for(int64_t r = 0; r < n; r++){
    kernel_rope_rotation(rot + r * p->head_dim, (size_t)p->head_dim, pos + r, p->rope_theta);
  }
  s->rope = rot;
  s->rope_pos = pos;
  s->rope_rows = n;
  return rot;
}

static void rope_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const model_params *p = &fn_session(ctx)->model->params;
  int64_t bytes = sqlite3_value_bytes(argv[0]);
  int64_t n = fn_session(ctx)->state->n;
  int64_t width = n > 0 ? bytes / (int64_t)sizeof(float) / n : 0;
  if( width % p->head_dim ) width = 0;
  const float *x;
  n = arg_matrix(ctx, argv[0], width, &x, "rope");
  if( n < 0 || !arg_integer(ctx, argv[1], "rope", "the position") ) return;
  /* the positions pos .. pos + n - 1 lie in the context, and their sum
  ** cannot overflow */
  int64_t pos = sqlite3_value_int64(argv[1]);
  if( pos < 0 || pos > p->context_length - n ){
    sql_error(ctx, "rope: %lld rows from position %lld do not fit the context of %d",
              (long long)n, (long long)pos, p->context_length);
    return;
  }
  const float *rot = rope_rotations(fn_session(ctx), pos, n);
  float *out = rot ? result_buffer(ctx, n * width) : 0;
  if( out == 0 ){
    if( rot == 0 ) sqlite3_result_error_nomem(ctx);
    return;
  }
  memcpy(out, x, (size_t)(n * width) * sizeof(float));
  for(int64_t r = 0; r < n; r++){
    kernel_rope(out + r * width, (size_t)(width / p->head_dim), (size_t)p->head_dim,
                rot + r * p->head_dim, p->rope);
  }
  result_matrix(ctx, out, n * width);
}

static void silu_mul_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  int64_t bytes = sqlite3_value_bytes(argv[0]);
  if( sqlite3_value_bytes(argv[1]) != bytes || bytes % 4 || bytes == 0 ){
    sqlite3_result_error(ctx, "silu_mul: gate and up must be float32 matrices of one shape", -1);
    return;
  }
  int64_t count = bytes / 4;
  float *out = result_buffer(ctx, count);
  if( out == 0 ) return;
  kernel_silu_mul(out, sqlite3_value_blob(argv[0]), sqlite3_value_blob(argv[1]), (size_t)count);
  result_matrix(ctx, out, count);
}

/* gather_rows(x, i): aggregate; the rows i of x (one row per position of
** the step), in the order given. */
typedef struct gather_acc {
  float *out;
  int64_t rows, cap, width;
} gather_acc;

static void gather_step(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  gather_acc *acc = sqlite3_aggregate_context(ctx, sizeof *acc);
  int64_t n = fn_session(ctx)->state->n;
  int64_t width = n > 0 ? sqlite3_value_bytes(argv[0]) / (int64_t)sizeof(float) / n : 0;
  const float *x;
  if( acc == 0 || !arg_integer(ctx, argv[1], "gather_rows", "the row")
   || arg_matrix(ctx, argv[0], width, &x, "gather_rows") < 0 ) return;
  int64_t i = sqlite3_value_int64(argv[1]);
  if( i < 0 || i >= n ){
    sql_error(ctx, "gather_rows: row %lld is outside the step", (long long)i);
    return;
  }
  if( acc->rows == acc->cap ){
    int64_t cap = acc->cap ? acc->cap * 2 : 1;
    float *out = sqlite3_realloc64(acc->out, (uint64_t)(cap * width) * sizeof(float));
    if( out == 0 ){ sqlite3_result_error_nomem(ctx); return; }
    acc->out = out;
    acc->cap = cap;
  }
  acc->width = width;
  memcpy(acc->out + acc->rows++ * width, x + i * width, (size_t)width * sizeof(float));
}

static void gather_final(sqlite3_context *ctx){
  gather_acc *acc = sqlite3_aggregate_context(ctx, 0);
  if( acc == 0 || acc->out == 0 ) return;
  result_matrix(ctx, acc->out, acc->rows * acc->width);
  acc->out = 0;
}

/* ---- attention ------------------------------------------------------------ */

/* attention(q, k, v, head) steps once per query head.  The query heads
** of one KV head are a task for the kernel threads, as a tile is in
** matmul: they read the same keys and values, which one thread then
** brings in once.  Heads are independent, each computed alone by the same
** code, so the threads never change a result.  A task reads q, k and v
** after its xStep returns, which is safe only for memory that stays put
** until the statement ends (state_holds: act, the KV cache, the scratch);
** anything else, say a value computed in the query, is attended at once
** on this thread.
**
** A task a head (Qwen2.5-0.5B: 14 heads of 2 KV heads) sent both threads
** through both KV heads' keys and values, cold after the weights went by:
** the group tasks made decode 1.3-1.5% faster on 2 threads (400 tokens,
** alternating with the head tasks in one process). */

/* One query head's attention, set up by its xStep. */
typedef struct attention_head {
  float *out;              /* the head's columns of row 0 of the result */
  const float *q, *k, *v;  /* the head's columns of q, its KV head's of k and v */
  int64_t n, pos0;         /* query rows, and the position of the first */
  int64_t q_width, kv_dim, head_dim;
  float *scores;           /* scratch of pos0 + n floats */
} attention_head;

/* The heads of one KV head that are set up and not yet computed.  A full
** group goes to the pool; the heads of one that never fills (a WHERE left
** some out) are computed in xFinal. */
typedef struct attention_group {
  const attention_head *heads;   /* the statement's, by number */
  int64_t *pending, n;     /* the numbers of the group's heads to compute */
  int running;             /* handed to the pool: wait before changing it */
} attention_group;

typedef struct attention_acc {
  float *out;              /* [n][n_heads * head_dim], zero for absent heads */
  float *scores;           /* [n_heads][t] */
  attention_head *heads;   /* [n_heads] */
  attention_group *groups; /* [n_kv_heads] */
  int64_t *pending;        /* [n_heads]: the groups' lists, side by side */
  int64_t n, t;
  const void *held[3];     /* the last q, k and v that state_holds vouched for */
  workers_batch batch;
} attention_acc;

static void attention_head_run(const attention_head *a){
  for(int64_t r = 0; r < a->n; r++){
    /* causal: the query at position pos0 + r sees keys 0 .. pos0 + r */
    kernel_attend(a->out + r * a->q_width, a->q + r * a->q_width, a->k, a->v,
                  (size_t)a->kv_dim, (size_t)(a->pos0 + r + 1), (size_t)a->head_dim,
                  a->scores);
  }
}

static void attention_group_run(void *arg){
  const attention_group *g = arg;
  for(int64_t i = 0; i < g->n; i++) attention_head_run(&g->heads[g->pending[i]]);
}

static int attention_begin(sqlite3_context *ctx, attention_acc *acc, int64_t n, int64_t t){
  const model_params *p = &fn_session(ctx)->model->params;
  int64_t q_width = p->n_heads * p->head_dim, per_group = p->n_heads / p->n_kv_heads;
  acc->n = n;
  acc->t = t;
  acc->out = output_alloc(ctx, n * q_width);
  acc->scores = sqlite3_malloc64((uint64_t)(p->n_heads * t) * sizeof(float));
  acc->heads = sqlite3_malloc64((uint64_t)p->n_heads * sizeof *acc->heads);
  acc->groups = sqlite3_malloc64((uint64_t)p->n_kv_heads * sizeof *acc->groups);
  acc->pending = sqlite3_malloc64((uint64_t)p->n_heads * sizeof *acc->pending);
  /* empty groups, for xFinal, whatever failed */
  if( acc->groups ) memset(acc->groups, 0, (size_t)p->n_kv_heads * sizeof *acc->groups);
  if( acc->out == 0 || acc->scores == 0 || acc->heads == 0 || acc->groups == 0
   || acc->pending == 0 ) return -1;
  memset(acc->out, 0, (size_t)(n * q_width) * sizeof(float));
  for(int64_t g = 0; g < p->n_kv_heads; g++){
    acc->groups[g] = (attention_group){ acc->heads, acc->pending + g * per_group, 0, 0 };
  }
  return 0;
}

/* Free head, of group g, to be set up again: a running group is waited
** for first, and then holds nothing; a pending earlier setting of head is
** dropped, as the row the join gives last wins, as on one thread. */
static void attention_group_drop(attention_acc *acc, attention_group *g, int64_t head){
  if( g->running ){
    workers_wait(&acc->batch);
    g->running = 0;
    g->n = 0;
  }
  int64_t i = 0;
  while( i < g->n && g->pending[i] != head ) i++;
  if( i < g->n ) g->pending[i] = g->pending[--g->n];
}

/* Whether a task may read q, k and v after this xStep: the same blobs as
** the step before, or blobs the state holds in place. */
static int attention_deferrable(sqlite3_context *ctx, attention_acc *acc, sqlite3_value **argv){
  if( workers_threads() == 1 ) return 0;
  const state *st = fn_session(ctx)->state;
  for(int i = 0; i < 3; i++){
    const void *blob = sqlite3_value_blob(argv[i]);
    if( blob == acc->held[i] ) continue;
    if( !state_holds(st, blob, (size_t)sqlite3_value_bytes(argv[i])) ) return 0;
    acc->held[i] = blob;
  }
  return 1;
}

static void attention_step(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  attention_acc *acc = sqlite3_aggregate_context(ctx, sizeof *acc);
  const model_params *p = &fn_session(ctx)->model->params;
  int64_t hd = p->head_dim, q_width = p->n_heads * hd, kv_dim = p->n_kv_heads * hd;
  const float *q, *k, *v;
  if( acc == 0 ) return;
  int64_t n = arg_matrix(ctx, argv[0], q_width, &q, "attention");
  int64_t t = n < 0 ? -1 : arg_matrix(ctx, argv[1], kv_dim, &k, "attention");
  int64_t tv = t < 0 ? -1 : arg_matrix(ctx, argv[2], kv_dim, &v, "attention");
  int64_t head = sqlite3_value_int64(argv[3]);
  if( tv < 0 || !arg_integer(ctx, argv[3], "attention", "head") ) return;
  if( tv != t || t < n || head < 0 || head >= p->n_heads ){
    sqlite3_result_error(ctx, "attention: k and v must cache at least the step's"
                              " positions, and head must be a query head", -1);
    return;
  }
  if( acc->out && (n != acc->n || t != acc->t) ){
    sqlite3_result_error(ctx, "attention: every head must get q, k and v of the same shapes", -1);
    return;
  }
  if( acc->out == 0 && attention_begin(ctx, acc, n, t) ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  int64_t per_group = p->n_heads / p->n_kv_heads, kv_head = head / per_group;
  attention_group *g = &acc->groups[kv_head];
  attention_group_drop(acc, g, head);
  attention_head *a = &acc->heads[head];
  *a = (attention_head){ acc->out + head * hd, q + head * hd, k + kv_head * hd, v + kv_head * hd,
                         n, t - n, q_width, kv_dim, hd, acc->scores + head * t };
  if( !attention_deferrable(ctx, acc, argv) ){
    attention_head_run(a);
    return;
  }
  g->pending[g->n++] = head;
  if( g->n == per_group ){
    g->running = 1;
    workers_submit(&acc->batch, attention_group_run, g);
    workers_share();
  }
}

static void attention_final(sqlite3_context *ctx){
  attention_acc *acc = sqlite3_aggregate_context(ctx, 0);
  if( acc == 0 ) return;
  const model_params *p = &fn_session(ctx)->model->params;
  for(int64_t g = 0; acc->groups && g < p->n_kv_heads; g++){
    if( !acc->groups[g].running ) attention_group_run(&acc->groups[g]);
  }
  workers_wait(&acc->batch);
  sqlite3_free(acc->scores);
  sqlite3_free(acc->heads);
  sqlite3_free(acc->groups);
  sqlite3_free(acc->pending);
  if( acc->out == 0 ) return;
  result_matrix(ctx, acc->out, acc->n * p->n_heads * p->head_dim);
  acc->out = 0;
}

/* ---- for capture ------------------------------------------------------------ */

/* row_of(x, i): row i of x, which has one row per position of the step. */
static void row_of_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  int64_t n = fn_session(ctx)->state->n;
  int64_t i = sqlite3_value_int64(argv[1]);
  int64_t bytes = sqlite3_value_bytes(argv[0]);
  if( !arg_integer(ctx, argv[1], "row_of", "the row") ) return;
  if( sqlite3_value_type(argv[0]) != SQLITE_BLOB || n <= 0 || bytes % n || i < 0 || i >= n ){
    sql_error(ctx, "row_of: expected a matrix with one row per position and a row in the step");
    return;
  }
  const char *x = sqlite3_value_blob(argv[0]);
  sqlite3_result_blob64(ctx, x + i * (bytes / n), (uint64_t)(bytes / n), SQLITE_TRANSIENT);
}

/* attention_weights(q, k, i): for row i of q, every head's attention over
** the cached keys, [heads][positions up to row i's]. */
static void attention_weights_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const model_params *p = &fn_session(ctx)->model->params;
  int64_t hd = p->head_dim, q_width = p->n_heads * hd, kv_dim = p->n_kv_heads * hd;
  const float *q, *k;
  int64_t n = arg_matrix(ctx, argv[0], q_width, &q, "attention_weights");
  int64_t t = n < 0 ? -1 : arg_matrix(ctx, argv[1], kv_dim, &k, "attention_weights");
  int64_t i = sqlite3_value_int64(argv[2]);
  if( t < 0 || !arg_integer(ctx, argv[2], "attention_weights", "the row") ) return;
  if( i < 0 || i >= n || t < n ){
    sql_error(ctx, "attention_weights: row %lld is outside the step", (long long)i);
    return;
  }
  int64_t ctx_len = t - n + i + 1;
  float *out = result_buffer(ctx, p->n_heads * ctx_len);
  if( out == 0 ) return;
  float scale = 1.0f / sqrtf((float)hd);
  for(int64_t h = 0; h < p->n_heads; h++){
    const float *qh = q + i * q_width + h * hd;
    const float *kh = k + h / (p->n_heads / p->n_kv_heads) * hd;
    float *w = out + h * ctx_len;
    for(int64_t s = 0; s < ctx_len; s++){
      float dot = 0;
      for(int64_t d = 0; d < hd; d++) dot += qh[d] * kh[s * kv_dim + d];
      w[s] = dot * scale;
    }
    kernel_softmax(w, (size_t)ctx_len);
  }
  result_matrix(ctx, out, p->n_heads * ctx_len);
}

/* ---- registration ------------------------------------------------------- */

static const struct kernel_function {
  const char *name;
  int n_args;
  void (*scalar)(sqlite3_context *, int, sqlite3_value **);
  void (*step)(sqlite3_context *, int, sqlite3_value **);
  void (*final)(sqlite3_context *);
} kernel_functions[] = {
  { "matmul", 2, 0, matmul_step, product_final },
  { "swiglu", 3, 0, swiglu_step, product_final },
  { "embed", 3, 0, embed_step, embed_final },
  { "attention", 4, 0, attention_step, attention_final },
  { "rmsnorm", 2, rmsnorm_fn, 0, 0 },
  { "tensor_add", 2, add_fn, 0, 0 },
  { "rope", 2, rope_fn, 0, 0 },
  { "silu_mul", 2, silu_mul_fn, 0, 0 },
  { "gather_rows", 2, 0, gather_step, gather_final },
  { "row_of", 2, row_of_fn, 0, 0 },
  { "attention_weights", 3, attention_weights_fn, 0, 0 },
};

/* tensql_threads([n]): the kernel threads, process-wide.  Registered on
** the caller's connection only, not in the program's sandbox: a program
** computes, it does not set the machine up. */
static void threads_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  if( argc == 1 ){
    int64_t n = sqlite3_value_int64(argv[0]);
    if( sqlite3_value_numeric_type(argv[0]) != SQLITE_INTEGER || n < 1 || n > 64 ){
      sqlite3_result_error(ctx, "tensql_threads: a number of threads from 1 to 64", -1);
      return;
    }
    workers_set_threads((int)n);
  }
  sqlite3_result_int(ctx, workers_threads());
}

int kernel_threads_register(sqlite3 *db, session *s){
  int rc = SQLITE_OK;
  for(int n_args = 0; rc == SQLITE_OK && n_args <= 1; n_args++){
    rc = sqlite3_create_function(db, "tensql_threads", n_args, SQLITE_UTF8, s, threads_fn, 0, 0);
  }
  return rc;
}

int kernel_functions_register(sqlite3 *db, session *s){
  if( s->model == 0 ) return SQLITE_OK;
  int rc = SQLITE_OK;
  for(size_t i = 0; rc == SQLITE_OK && i < sizeof kernel_functions / sizeof kernel_functions[0]; i++){
    const struct kernel_function *f = &kernel_functions[i];
    rc = sqlite3_create_function(db, f->name, f->n_args, SQLITE_UTF8,
                                 s, f->scalar, f->step, f->final);
  }
  return rc;
}
