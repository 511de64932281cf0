/*
** state.h: what a running model holds besides its weights: the positions of
** the current step, the named activations, and the KV cache.  One state per
** connection; the SQL tables `step`, `act` and `kv` (vtab/state_tables.c)
** are windows onto it, and generate (vtab/generate.c) drives it.
**
** Every activation is an [n][width] float32 matrix, one row per position of
** the step.  The KV cache holds, per layer, [positions][kv_dim] matrices
** of keys and values, grown as positions are used.
*/
#ifndef TENSQL_STATE_H
#define TENSQL_STATE_H

#include <stddef.h>
#include <stdint.h>

#define STATE_MAX_ACTS 32
#define STATE_NAME_LEN 32
/* The widest activation (columns; a row of it is 8 GiB), far past any
** model's, so that sizes computed from act's rows and tile cannot
** overflow. */
#define STATE_MAX_COLS INT32_MAX

typedef struct state_act {
  char name[STATE_NAME_LEN];
  float *data;             /* rows of cols floats, stride apart; owned */
  int64_t rows, cols, stride;
  int64_t capacity;        /* floats allocated */
  int64_t last_tile;       /* highest column tile written in this version */
  int64_t tile_width;      /* width of the tiles of this version */
} state_act;

typedef struct state_kv {
  float *k, *v;            /* [capacity][kv_dim] */
} state_kv;

typedef struct state {
  /* The step: n positions starting at pos0, their tokens. */
  int64_t n, pos0;
  int *tokens;
  int64_t tokens_cap;
  int all_logits;          /* logits for every position, not just the last */
  /* Activations by name. */
  state_act acts[STATE_MAX_ACTS];
  int n_acts;
  /* KV cache: n_layers of them, each capacity rows. */
  int n_layers;
  int64_t kv_dim, kv_capacity, kv_max, kv_len;
  state_kv *kv;
  int *history;            /* [kv_capacity]: the token at each cached position */
  int64_t cached;          /* positions whose KV entries every layer holds */
  int64_t charged;         /* bytes charged to the memory budget */
  /* Scratch for the results of the statement being run (state_scratch). */
  char *scratch;
  size_t scratch_size, scratch_used, scratch_need;
  int scratch_open;
} state;

state *state_new(int n_layers, int64_t kv_dim, int64_t max_positions);
void state_free(state *s);

/* Begin a step of n positions at pos0 with the given tokens; when it has
** run through every layer, state_step_done. */
int state_step(state *s, int64_t pos0, const int *tokens, int64_t n);
void state_step_done(state *s);

/* Forget all positions (a new sequence). */
void state_reset(state *s);

/* How many leading tokens of ids[0..n) the KV cache already holds, at
** most n - 1 so that a step remains to give logits; the cache is cut back
** to them (the rest of it no longer applies). */
int64_t state_reuse(state *s, const int *ids, int64_t n);

state_act *state_act_find(state *s, const char *name);
/* The activation as a packed [rows][cols] matrix (packing it if a tiled
** write left its rows further apart). */
const float *state_act_data(state_act *a);
/* Write column tile `tile` of activation `name` with data [rows][w] (rows
** is the step's n when 0; w is taken from bytes): tile 0, or a tile not above the last one written, starts a
** new version of the matrix; tile k lands at columns [k*W, k*W + w) where W
** is the width of the version's first tile, and columns no tile wrote stay
** zero.  Returns 0, or -1 with err. */
int state_act_write(state *s, const char *name, int64_t rows, int64_t tile,
                    const float *data, size_t bytes, char *err, size_t err_len);

/* Store rows [pos0, pos0+n) of layer's keys or values (which = 'k'/'v').
** layer is 64 bits wide, as SQL gives it: one past int's range is no
** layer, not the one it would truncate to. */
int state_kv_write(state *s, int64_t layer, char which, const float *data,
                   size_t bytes, char *err, size_t err_len);

/* Scratch for the matrices the kernels return while one statement of the
** program runs.  A statement's result blob is copied twice on its way to
** act (a scalar subquery's register, then the VALUES row), unless it is
** SQLITE_STATIC; and fresh megabytes from malloc cost a page fault per 4
** KiB.  So between state_scratch_open and state_scratch_close (around one
** statement, while nothing but SQLite refers to what it returned) results
** come from one buffer, handed out front to back and taken back whole at
** close.  state_scratch returns NULL when the scratch is closed or full;
** the buffer then grows at close to what the statement asked for, so the
** next step finds room. */
void state_scratch_open(state *s);
float *state_scratch(state *s, int64_t floats);
int state_scratch_holds(const state *s, const void *p);
void state_scratch_close(state *s);

/* Whether the bytes [p, p + bytes) lie in memory the state keeps in place
** until the running statement ends: an activation, the KV cache, or the
** scratch.  Kernel threads may read such memory after the SQL function
** that was handed it has returned. */
int state_holds(const state *s, const void *p, size_t bytes);

/* Bytes held by activations, the KV cache and the scratch (all charged to
** the process's memory budget, budget.h). */
size_t state_bytes(const state *s);

#endif
