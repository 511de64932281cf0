/*
** tensor_values.c: a table-valued function that unnests a tensor, or one
** tile of it, into (row, col, value) rows of floats, dequantizing as it goes;
** or the floats of an activation blob.
**
**   SELECT max(abs(value)) FROM tensor_values('blk.0.attn_q.weight');
**   SELECT col, value FROM tensor_values('token_embd.weight', 3) WHERE row = 200;
**
** The first argument names a tensor; the optional second is a tile_row.
** Tiles are pinned one at a time, so unnesting a large tensor holds only
** one tile and one dequantized row.
**
** The source may instead be an activation, a BLOB of float32: its floats
** come out one by one as (row = 0, col = i, value), i from 0, whatever the
** activation's shape (the blob does not say it).
**
**   SELECT col AS i, value FROM tensor_values((SELECT data FROM act WHERE name = 'x'));
**
** A blob is copied at xFilter and needs no model; it takes no tile
** argument, and its length must be a multiple of 4.
*/
#include "extension.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

enum { VAL_ROW, VAL_COL, VAL_VALUE, VAL_SOURCE, VAL_TILE };

typedef struct values_cursor {
  sqlite3_vtab_cursor base;
  session *session;
  const model_tensor *tensor;  /* NULL when the source is a blob */
  float *blob;                 /* the source blob's floats, copied */
  int64_t blob_count;          /* floats in blob; col runs over them */
  int64_t tile_row, end_tile;  /* tiles still to visit: [tile_row, end_tile) */
  const tile *tile;            /* pinned while we walk its rows */
  int64_t row, row_end;        /* absolute rows of the current tile */
  int64_t col;
  float *values;               /* the current row, dequantized */
} values_cursor;

typedef struct values_vtab {
  sqlite3_vtab base;
  session *session;
} values_vtab;

/* xConnect */
static int values_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err){
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(row INTEGER, col INTEGER,"
                                " value REAL, source HIDDEN, tile HIDDEN)");
  if( rc != SQLITE_OK ) return rc;
  values_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = aux;
  *out = &v->base;
  return SQLITE_OK;
}

/* xDisconnect */
static int values_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* xBestIndex: idxNum 1 = source given (argv[0]), 2 = tile given (next). */
static int values_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  int source = -1, tile = -1;
  for(int i = 0; i < info->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if( c->op != SQLITE_INDEX_CONSTRAINT_EQ ) continue;
    if( !c->usable ) return SQLITE_CONSTRAINT;
    if( c->iColumn == VAL_SOURCE ) source = i;
    if( c->iColumn == VAL_TILE ) tile = i;
  }
  if( source < 0 ){
    sqlite3_free(vtab->zErrMsg);
    vtab->zErrMsg = sqlite3_mprintf("tensor_values: name a tensor, as in"
                                    " tensor_values('output_norm.weight'),"
                                    " or give a float32 blob");
    return SQLITE_ERROR;
  }
  info->aConstraintUsage[source].argvIndex = 1;
  info->aConstraintUsage[source].omit = 1;
  info->idxNum = 1;
  if( tile >= 0 ){
    info->aConstraintUsage[tile].argvIndex = 2;
    info->aConstraintUsage[tile].omit = 1;
    info->idxNum |= 2;
  }
  info->estimatedCost = 1e6;
  return SQLITE_OK;
}

/* xOpen */
static int values_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  values_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->session = ((values_vtab*)vtab)->session;
  *out = &c->base;
  return SQLITE_OK;
}

static void values_unpin(values_cursor *c){
  if( c->tile ) tile_manager_unpin(c->session->model->tiles, c->tile);
  c->tile = 0;
}

/* xClose */
static int values_close(sqlite3_vtab_cursor *cur){
  values_cursor *c = (values_cursor*)cur;
  values_unpin(c);
  sqlite3_free(c->values);
  sqlite3_free(c->blob);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int values_fail(values_cursor *c, char *msg){
  sqlite3_vtab *v = c->base.pVtab;
  sqlite3_free(v->zErrMsg);
  v->zErrMsg = msg;
  return SQLITE_ERROR;
}

static void row_decode(values_cursor *c){
  const model_tensor *t = c->tensor;
  int64_t local = c->row - c->tile_row * t->tile_rows;
  kernel_dequantize_tile_row(t->dtype, c->tile->data, (size_t)t->cols, (size_t)local, c->values);
  c->col = 0;
}

/* Move to the first row of the next tile that has one; pins it. */
static int tile_enter(values_cursor *c){
  const model_tensor *t = c->tensor;
  char err[256];
  values_unpin(c);
  if( c->tile_row >= c->end_tile ) return SQLITE_OK;
  c->tile = tile_manager_pin(c->session->model->tiles, t->first_tile + c->tile_row, err, sizeof err);
  if( c->tile == 0 ) return values_fail(c, sqlite3_mprintf("%s", err));
  c->row = c->tile_row * t->tile_rows;
  c->row_end = c->row + t->tile_rows < t->rows ? c->row + t->tile_rows : t->rows;
  row_decode(c);
  return SQLITE_OK;
}

/* The source blob's floats into the cursor: rows (0, i, value). */
static int blob_enter(values_cursor *c, int plan, sqlite3_value *source){
  int64_t bytes = sqlite3_value_bytes(source);
  if( plan & 2 ){
    return values_fail(c, sqlite3_mprintf("tensor_values: a tile applies to a"
                                          " tensor name, not to a blob"));
  }
  if( bytes % (int64_t)sizeof(float) ){
    return values_fail(c, sqlite3_mprintf("tensor_values: a BLOB of float32 has a"
                       " multiple of 4 bytes, this one %lld", (long long)bytes));
  }
  c->blob = sqlite3_malloc64(bytes > 0 ? (uint64_t)bytes : 1);
  if( c->blob == 0 ) return SQLITE_NOMEM;
  if( bytes > 0 ) memcpy(c->blob, sqlite3_value_blob(source), (size_t)bytes);
  c->blob_count = bytes / (int64_t)sizeof(float);
  c->row = 0;
  c->col = 0;
  return SQLITE_OK;
}

/* xFilter */
static int values_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                         int argc, sqlite3_value **argv){
  values_cursor *c = (values_cursor*)cur;
  values_unpin(c);
  c->tensor = 0;
  sqlite3_free(c->blob);
  c->blob = 0;
  if( sqlite3_value_type(argv[0]) == SQLITE_BLOB ) return blob_enter(c, plan, argv[0]);
  model *m = session_model(c->session, &cur->pVtab->zErrMsg);
  if( m == 0 ) return SQLITE_ERROR;
  const char *name = (const char*)sqlite3_value_text(argv[0]);
  c->tensor = name ? model_find_tensor(m, name) : 0;
  if( c->tensor == 0 ){
    return values_fail(c, sqlite3_mprintf("tensor_values: no tensor %s", name ? name : "NULL"));
  }
  c->tile_row = 0;
  c->end_tile = c->tensor->n_tiles;
  if( plan & 2 ){
    int64_t tile = -1;
    if( sql_integer(argv[1], &tile) != 1 || tile < 0 || tile >= c->tensor->n_tiles ){
      return values_fail(c, sqlite3_mprintf("tensor_values: %s has tiles 0 to %lld",
                         name, (long long)c->tensor->n_tiles - 1));
    }
    c->tile_row = tile;
    c->end_tile = tile + 1;
  }
  sqlite3_free(c->values);
  c->values = sqlite3_malloc64((uint64_t)c->tensor->cols * sizeof(float));
  if( c->values == 0 ) return SQLITE_NOMEM;
  return tile_enter(c);
}

/* xNext: col, then row, then tile; a blob's floats in order. */
static int values_next(sqlite3_vtab_cursor *cur){
  values_cursor *c = (values_cursor*)cur;
  if( c->blob ){
    c->col++;
    return SQLITE_OK;
  }
  if( ++c->col < c->tensor->cols ) return SQLITE_OK;
  if( ++c->row < c->row_end ){
    row_decode(c);
    return SQLITE_OK;
  }
  c->tile_row++;
  return tile_enter(c);
}

/* xEof */
static int values_eof(sqlite3_vtab_cursor *cur){
  values_cursor *c = (values_cursor*)cur;
  if( c->blob ) return c->col >= c->blob_count;
  return c->tile == 0;
}

/* xColumn */
static int values_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  values_cursor *c = (values_cursor*)cur;
  if( c->blob ){
    switch( col ){
      case VAL_ROW: sqlite3_result_int64(ctx, 0); break;
      case VAL_COL: sqlite3_result_int64(ctx, c->col); break;
      case VAL_VALUE: sqlite3_result_double(ctx, c->blob[c->col]); break;
      case VAL_SOURCE:
        sqlite3_result_blob64(ctx, c->blob, (uint64_t)c->blob_count * sizeof(float),
                              SQLITE_TRANSIENT);
        break;
      case VAL_TILE: break;   /* NULL: a blob has no tiles */
    }
    return SQLITE_OK;
  }
  switch( col ){
    case VAL_ROW: sqlite3_result_int64(ctx, c->row); break;
    case VAL_COL: sqlite3_result_int64(ctx, c->col); break;
    case VAL_VALUE: sqlite3_result_double(ctx, c->values[c->col]); break;
    case VAL_SOURCE: sqlite3_result_text(ctx, c->tensor->name, -1, SQLITE_STATIC); break;
    case VAL_TILE: sqlite3_result_int64(ctx, c->tile_row); break;
  }
  return SQLITE_OK;
}

/* xRowid */
static int values_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  values_cursor *c = (values_cursor*)cur;
  *rowid = c->blob ? c->col : c->row * c->tensor->cols + c->col;
  return SQLITE_OK;
}

static sqlite3_module values_module = {
  .xConnect = values_connect,
  .xBestIndex = values_best_index,
  .xDisconnect = values_disconnect,
  .xOpen = values_open,
  .xClose = values_close,
  .xFilter = values_filter,
  .xNext = values_next,
  .xEof = values_eof,
  .xColumn = values_column,
  .xRowid = values_rowid,
};

int tensor_values_register(sqlite3 *db, session *s){
  return sqlite3_create_module(db, "tensor_values", &values_module, s);
}
