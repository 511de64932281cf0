/*
** extension.h: what the SQL face shares between its files: the per-
** connection session, the pointer types that pass tiles between tables and
** kernels, and the registration hooks of each file.
*/
#ifndef TENSQL_EXTENSION_H
#define TENSQL_EXTENSION_H

#include "memory/state.h"
#include "memory/tile.h"
#include "model.h"
#include "sqlite_api.h"

/* A weight tile as it travels from a tensor table's `data` column to a
** kernel, by sqlite3_result_pointer with type TILE_POINTER.  Owned by the
** tensor-table cursor; valid until the cursor moves on. */
#define TILE_POINTER "tensql_tile"
typedef struct tile_ref {
  const model_tensor *tensor;
  int64_t tile_row;
  int64_t rows;              /* rows in this tile (the last may be short) */
  const tile *tile;          /* pinned */
} tile_ref;

struct runner;
struct runner_profile;
struct sandbox;

/* One per connection that loaded tensql: the model of its main database
** (NULL if that is not a model), the state of the running sequence, and
** the prepared program. */
typedef struct session {
  sqlite3 *db;
  model *model;
  char open_error[256];      /* why model is NULL */
  state *state;              /* NULL when model is NULL */
  struct sandbox *sandbox;   /* the program's connection, opened by its first use */
  struct runner *runner;     /* prepared while a generate query runs */
  struct runner_profile *profile;  /* time per statement (program_profile) */
  uint64_t program_hash;     /* of the program the tile schedules follow */
  int busy;                  /* a generate query owns state and runner */
  float *rope;               /* rope(): the rotations of rope_rows positions from rope_pos */
  int64_t rope_pos, rope_rows;
} session;

/* Set a formatted error as the result of an SQL function. */
void sql_error(sqlite3_context *ctx, const char *fmt, ...);

/* Value v from SQL as an integer into *x: 1, 0 for NULL, or -1 for
** anything else.  INTEGER affinity applies first ('42' is 42, 2.0 is 2):
** 'abc' or 1.5 read by sqlite3_value_int64 would quietly be 0 or 1. */
int sql_integer(sqlite3_value *v, int64_t *x);

/* The model of the session, or NULL after setting an error on ctx/vtab. */
model *session_model(session *s, char **vtab_err);

int tensor_vtab_register(sqlite3 *db, session *s);
int tensor_values_register(sqlite3 *db, session *s);
int state_tables_register(sqlite3 *db, session *s);
/* Create temp.act and temp.kv again if they are gone (PRAGMA temp_store
** and DROP TABLE drop them), so that a generate leaves its state there. */
int state_tables_create(sqlite3 *db);
int kernel_functions_register(sqlite3 *db, session *s);
int kernel_threads_register(sqlite3 *db, session *s);
int generate_register(sqlite3 *db, session *s);
int logprobs_register(sqlite3 *db, session *s);
int tokenize_register(sqlite3 *db, session *s);
int memory_register(sqlite3 *db, session *s);
int analysis_register(sqlite3 *db, session *s);
int profile_register(sqlite3 *db, session *s);
int program_check_register(sqlite3 *db, session *s);

#endif
