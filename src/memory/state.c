/*
** state.c: activations and KV cache of a running model (see state.h).
*/
#include "state.h"

#include "budget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

state *state_new(int n_layers, int64_t kv_dim, int64_t max_positions){
  state *s = calloc(1, sizeof *s);
  if( s == 0 ) return 0;
  s->n_layers = n_layers;
  s->kv_dim = kv_dim;
  s->kv_max = max_positions;
  s->kv = calloc((size_t)n_layers, sizeof *s->kv);
  if( s->kv == 0 ){
    free(s);
    return 0;
  }
  return s;
}

/* Bring the budget's count of our bytes up to date. */
static void state_account(state *s){
  int64_t now = (int64_t)state_bytes(s);
  budget_charge(now - s->charged);
  s->charged = now;
}

void state_free(state *s){
  if( s == 0 ) return;
  budget_charge(-s->charged);
  for(int i = 0; i < s->n_acts; i++) free(s->acts[i].data);
  for(int i = 0; i < s->n_layers; i++){
    free(s->kv[i].k);
    free(s->kv[i].v);
  }
  free(s->kv);
  free(s->history);
  free(s->tokens);
  free(s->scratch);
  free(s);
}

void state_reset(state *s){
  s->kv_len = 0;
  s->cached = 0;
  s->n = 0;
  s->pos0 = 0;
}

int64_t state_reuse(state *s, const int *ids, int64_t n){
  int64_t same = 0;
  while( same < s->cached && same < n - 1 && s->history[same] == ids[same] ) same++;
  s->kv_len = s->cached = same;
  return same;
}

/* Grow every layer's cache to hold `need` positions, doubling. */
static int kv_reserve(state *s, int64_t need){
  if( need <= s->kv_capacity ) return 0;
  int64_t cap = s->kv_capacity ? s->kv_capacity : 16;
  while( cap < need ) cap *= 2;
  if( cap > s->kv_max ) cap = s->kv_max;
  size_t bytes = (size_t)cap * (size_t)s->kv_dim * sizeof(float);
  for(int i = 0; i < s->n_layers; i++){
    float *k = realloc(s->kv[i].k, bytes);
    if( k ) s->kv[i].k = k;
    float *v = realloc(s->kv[i].v, bytes);
    if( v ) s->kv[i].v = v;
    if( k == 0 || v == 0 ) return -1;
  }
  int *history = realloc(s->history, (size_t)cap * sizeof *history);
  if( history == 0 ) return -1;
  s->history = history;
  s->kv_capacity = cap;
  return 0;
}

int state_step(state *s, int64_t pos0, const int *tokens, int64_t n){
  if( n <= 0 || pos0 < 0 || pos0 + n > s->kv_max ) return -1;
  if( n > s->tokens_cap ){
    int *t = realloc(s->tokens, (size_t)n * sizeof *t);
    if( t == 0 ) return -1;
    s->tokens = t;
    s->tokens_cap = n;
  }
  if( kv_reserve(s, pos0 + n) ) return -1;
  memcpy(s->tokens, tokens, (size_t)n * sizeof *tokens);
  memcpy(s->history + pos0, tokens, (size_t)n * sizeof *tokens);
  s->n = n;
  s->pos0 = pos0;
  if( s->cached > pos0 ) s->cached = pos0;
  state_account(s);
  return 0;
}

void state_step_done(state *s){
  s->cached = s->pos0 + s->n;
}

state_act *state_act_find(state *s, const char *name){
  for(int i = 0; i < s->n_acts; i++){
    if( strcmp(s->acts[i].name, name) == 0 ) return &s->acts[i];
  }
  return 0;
}

static state_act *act_slot(state *s, const char *name, char *err, size_t err_len){
  state_act *a = state_act_find(s, name);
  if( a ) return a;
  if( s->n_acts == STATE_MAX_ACTS || strlen(name) >= STATE_NAME_LEN ){
    snprintf(err, err_len, "act: no room for activation '%s' (at most %d names"
             " of under %d bytes)", name, STATE_MAX_ACTS, STATE_NAME_LEN);
    return 0;
  }
  a = &s->acts[s->n_acts++];
  memset(a, 0, sizeof *a);
  snprintf(a->name, sizeof a->name, "%s", name);
  return a;
}

/* Make a the first version of an [n][cols] matrix, reusing its buffer;
** it holds no columns yet. */
static int act_restart(state_act *a, int64_t n, int64_t cols){
  if( a->capacity < n * cols ){
    float *d = realloc(a->data, (size_t)(n * cols) * sizeof(float));
    if( d == 0 ) return -1;
    a->data = d;
    a->capacity = n * cols;
  }
  a->rows = n;
  a->stride = cols;
  a->cols = 0;
  return 0;
}

/* Widen a to columns [0, col0 + w), of which the caller writes [col0,
** col0 + w) next: what it holds stays, the columns between are zeroed.
** Rows are `stride` floats apart, and the stride at least doubles when it
** grows, so a matrix written tile by tile is copied O(1) times, not once
** per tile (the logits of a grouped product come in hundreds of tiles). */
static int act_widen(state_act *a, int64_t col0, int64_t w){
  int64_t cols = col0 + w;
  if( cols <= a->cols ) return 0;
  if( cols > a->stride ){
    /* realloc, not malloc + free: freeing a large block makes glibc raise
    ** its mmap threshold, after which freed activations stay resident.
    ** Rows move last first, as the stride only grows. */
    int64_t stride = cols > 2 * a->stride ? cols : 2 * a->stride;
    float *d = realloc(a->data, (size_t)(a->rows * stride) * sizeof(float));
    if( d == 0 ) return -1;
    for(int64_t r = a->rows - 1; r > 0; r--){
      memmove(d + r * stride, d + r * a->stride, (size_t)a->cols * sizeof(float));
    }
    a->data = d;
    a->stride = stride;
    a->capacity = a->rows * stride;
  }
  for(int64_t r = 0; col0 > a->cols && r < a->rows; r++){
    memset(a->data + r * a->stride + a->cols, 0, (size_t)(col0 - a->cols) * sizeof(float));
  }
  a->cols = cols;
  return 0;
}

const float *state_act_data(state_act *a){
  if( a->stride != a->cols ){
    for(int64_t r = 1; r < a->rows; r++){
      memmove(a->data + r * a->cols, a->data + r * a->stride, (size_t)a->cols * sizeof(float));
    }
    a->stride = a->cols;
  }
  return a->data;
}

int state_act_write(state *s, const char *name, int64_t rows, int64_t tile,
                    const float *data, size_t bytes, char *err, size_t err_len){
  int64_t n = rows ? rows : s->n;
  size_t floats = bytes / sizeof(float);
  /* n is checked against floats before it divides them: rows comes from
  ** SQL, and a huge one made n * sizeof(float) wrap to 0. */
  if( n <= 0 || tile < 0 || bytes == 0 || bytes % sizeof(float)
   || (uint64_t)n > floats || floats % (size_t)n ){
    snprintf(err, err_len, "act: '%s' must be a float32 matrix of %lld rows"
             " (one per position of the step, unless rows says otherwise), got %zu bytes",
             name, (long long)n, bytes);
    return -1;
  }
  int64_t w = (int64_t)(floats / (size_t)n);
  state_act *a = state_act_find(s, name);
  int fresh = a == 0 || tile == 0 || tile <= a->last_tile || a->rows != n;
  int64_t tile_width = fresh ? w : a->tile_width;
  /* The tile ends at column tile * tile_width + w, which must not pass
  ** STATE_MAX_COLS (tile too comes from SQL). */
  if( w > STATE_MAX_COLS || tile > (STATE_MAX_COLS - w) / tile_width ){
    snprintf(err, err_len, "act: tile %lld of '%s', %lld columns wide, would pass the"
             " %lld columns an activation may have", (long long)tile, name,
             (long long)w, (long long)STATE_MAX_COLS);
    return -1;
  }
  if( a == 0 && (a = act_slot(s, name, err, err_len)) == 0 ) return -1;
  if( fresh ){
    a->tile_width = w;
    if( act_restart(a, n, (tile + 1) * w) ) goto oom;
  }
  int64_t col0 = tile * a->tile_width;
  if( act_widen(a, col0, w) ) goto oom;
  for(int64_t r = 0; r < n; r++){
    memcpy(a->data + r * a->stride + col0, data + r * w, (size_t)w * sizeof(float));
  }
  a->last_tile = tile;
  state_account(s);
  return 0;
oom:
  snprintf(err, err_len, "act: out of memory for '%s' (%lld rows of %lld columns)", name,
           (long long)n, (long long)(tile * a->tile_width + w));
  return -1;
}

int state_kv_write(state *s, int64_t layer, char which, const float *data,
                   size_t bytes, char *err, size_t err_len){
  if( layer < 0 || layer >= s->n_layers ){
    snprintf(err, err_len, "kv: no layer %lld (the model has %d)", (long long)layer, s->n_layers);
    return -1;
  }
  if( which != 'k' && which != 'v' ){
    snprintf(err, err_len, "kv: no cache '%c'; a layer caches 'k' and 'v'", which);
    return -1;
  }
  if( s->n <= 0 ){
    snprintf(err, err_len, "kv: no step is running, so there are no positions to store");
    return -1;
  }
  if( bytes != (size_t)(s->n * s->kv_dim) * sizeof(float) ){
    snprintf(err, err_len, "kv: layer %lld '%c' must be [%lld][%lld] floats",
             (long long)layer, which, (long long)s->n, (long long)s->kv_dim);
    return -1;
  }
  float *cache = which == 'k' ? s->kv[layer].k : s->kv[layer].v;
  memcpy(cache + s->pos0 * s->kv_dim, data, bytes);
  s->kv_len = s->pos0 + s->n;
  return 0;
}

void state_scratch_open(state *s){
  s->scratch_open = 1;
  s->scratch_used = s->scratch_need = 0;
}

/* Kernels store floats with vector loads and stores: 64-byte lines. */
#define SCRATCH_ALIGN 64

float *state_scratch(state *s, int64_t floats){
  size_t bytes = ((size_t)floats * sizeof(float) + SCRATCH_ALIGN - 1) & ~(size_t)(SCRATCH_ALIGN - 1);
  if( !s->scratch_open || floats <= 0 ) return 0;
  s->scratch_need += bytes;
  if( s->scratch_used + bytes > s->scratch_size ) return 0;
  float *p = (float *)(s->scratch + s->scratch_used);
  s->scratch_used += bytes;
  return p;
}

int state_scratch_holds(const state *s, const void *p){
  const char *c = p;
  return s->scratch && c >= s->scratch && c < s->scratch + s->scratch_size;
}

static int within(const void *p, size_t bytes, const void *base, size_t size){
  const char *c = p, *b = base;
  return b && c >= b && bytes <= size && (size_t)(c - b) <= size - bytes;
}

int state_holds(const state *s, const void *p, size_t bytes){
  if( within(p, bytes, s->scratch, s->scratch_size) ) return 1;
  for(int i = 0; i < s->n_acts; i++){
    const state_act *a = &s->acts[i];
    if( within(p, bytes, a->data, (size_t)a->capacity * sizeof(float)) ) return 1;
  }
  size_t kv_bytes = (size_t)(s->kv_capacity * s->kv_dim) * sizeof(float);
  for(int l = 0; l < s->n_layers; l++){
    if( within(p, bytes, s->kv[l].k, kv_bytes) || within(p, bytes, s->kv[l].v, kv_bytes) ){
      return 1;
    }
  }
  return 0;
}

void state_scratch_close(state *s){
  s->scratch_open = 0;
  if( s->scratch_need <= s->scratch_size ) return;
  /* free, then allocate: what the old buffer held is not needed */
  free(s->scratch);
  s->scratch = aligned_alloc(SCRATCH_ALIGN, s->scratch_need);
  s->scratch_size = s->scratch ? s->scratch_need : 0;
  state_account(s);
}

size_t state_bytes(const state *s){
  size_t bytes = (size_t)(2 * s->n_layers * s->kv_capacity * s->kv_dim) * sizeof(float)
               + (size_t)s->kv_capacity * sizeof(int) + s->scratch_size;
  for(int i = 0; i < s->n_acts; i++) bytes += (size_t)s->acts[i].capacity * sizeof(float);
  return bytes;
}
