/*
** tensor_vtab.c: every tensor of the model is an eponymous virtual table
** named after it, and the table `tensors` lists them all.
**
**   SELECT name, dtype, shape, n_tiles FROM tensors;
**   SELECT tile_row, tile_col, length(bytes) FROM "blk.0.attn_q.weight";
**   SELECT data FROM "token_embd.weight" WHERE row = 42;  -- the tile holding row 42
**
** Columns of a tensor table:
**   tile_row, tile_col  the tile's position (tiles hold whole rows, so
**                       tile_col is 0)
**   data                the tile, as a pointer of type "tensql_tile" for the
**                       kernels (matmul, embed, ...); NULL to anything else
**   bytes               the tile's payload as a BLOB (a copy, for looking)
**   row                 hidden: `row = N` selects the tile holding row N
**
** How it works: xFilter walks tile_row over the range the constraints
** allow, in ascending order, so `ORDER BY tile_row` and `GROUP BY tile_row`
** need no sorter (the plan is checked in tests).  The payload is pinned in
** the tile manager only when `data` or `bytes` is read, and unpinned when
** the cursor moves on: a scan holds at most one tile.
*/
#include "extension.h"

#include <stdlib.h>
#include <string.h>

enum { COL_TILE_ROW, COL_TILE_COL, COL_DATA, COL_BYTES, COL_ROW };

/* idxNum bits, each taking the next argv slot in this order. */
enum {
  PLAN_ROW_EQ = 1,      /* tile_row = ? */
  PLAN_ROW_GE = 2,      /* tile_row >= ? */
  PLAN_ROW_GT = 4,      /* tile_row > ? */
  PLAN_ROW_LE = 8,      /* tile_row <= ? */
  PLAN_ROW_LT = 16,     /* tile_row < ? */
  PLAN_COL_EQ = 32,     /* tile_col = ? */
  PLAN_CONTAINS = 64    /* row = ? */
};

typedef struct tensor_vtab {
  sqlite3_vtab base;
  session *session;
  const model_tensor *tensor;
} tensor_vtab;

typedef struct tensor_cursor {
  sqlite3_vtab_cursor base;
  int64_t tile_row, end;       /* current and one past the last */
  int64_t contains_row;        /* the `row` constraint, or -1 */
  tile_ref ref;                /* ref.tile != NULL while pinned */
  char err[256];
} tensor_cursor;

/* xConnect: the module's name is the tensor's name. */
static int tensor_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err){
  session *s = aux;
  model *m = session_model(s, err);
  if( m == 0 ) return SQLITE_ERROR;
  const model_tensor *t = model_find_tensor(m, argv[0]);
  if( t == 0 ){
    *err = sqlite3_mprintf("no tensor %s in this model", argv[0]);
    return SQLITE_ERROR;
  }
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(tile_row INTEGER, tile_col INTEGER,"
                                " data, bytes BLOB, row HIDDEN INTEGER)");
  if( rc != SQLITE_OK ) return rc;
  tensor_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = s;
  v->tensor = t;
  *out = &v->base;
  return SQLITE_OK;
}

/* xDisconnect */
static int tensor_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

static int plan_bit(int column, int op){
  if( column == COL_TILE_ROW ){
    switch( op ){
      case SQLITE_INDEX_CONSTRAINT_EQ: return PLAN_ROW_EQ;
      case SQLITE_INDEX_CONSTRAINT_GE: return PLAN_ROW_GE;
      case SQLITE_INDEX_CONSTRAINT_GT: return PLAN_ROW_GT;
      case SQLITE_INDEX_CONSTRAINT_LE: return PLAN_ROW_LE;
      case SQLITE_INDEX_CONSTRAINT_LT: return PLAN_ROW_LT;
    }
  }
  if( column == COL_TILE_COL && op == SQLITE_INDEX_CONSTRAINT_EQ ) return PLAN_COL_EQ;
  if( column == COL_ROW && op == SQLITE_INDEX_CONSTRAINT_EQ ) return PLAN_CONTAINS;
  return 0;
}

/* Rows come out in (tile_row, tile_col) order, so an ORDER BY that asks for
** exactly that, ascending, is already satisfied. */
static int order_consumed(const sqlite3_index_info *info){
  for(int i = 0; i < info->nOrderBy; i++){
    const struct sqlite3_index_orderby *o = &info->aOrderBy[i];
    int expected = i == 0 ? COL_TILE_ROW : COL_TILE_COL;
    if( o->desc || o->iColumn != expected || i > 1 ) return 0;
  }
  return 1;
}

/* xBestIndex: idxNum is the set of PLAN_ bits used; each used constraint
** gets the next argvIndex in bit order, which is the order xFilter reads. */
static int tensor_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  int slot_of[7] = {-1, -1, -1, -1, -1, -1, -1}, plan = 0;
  for(int i = 0; i < info->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    /* `row` has a value only when given: a plan that would scan with a
    ** join on row still unknown must be rejected, not given NULLs. */
    if( c->iColumn == COL_ROW && !c->usable ) return SQLITE_CONSTRAINT;
    int bit = c->usable ? plan_bit(c->iColumn, c->op) : 0;
    if( bit == 0 || (plan & bit) ) continue;
    plan |= bit;
    slot_of[__builtin_ctz((unsigned)bit)] = i;
  }
  int argv = 1;
  for(int b = 0; b < 7; b++){
    if( slot_of[b] < 0 ) continue;
    info->aConstraintUsage[slot_of[b]].argvIndex = argv++;
    info->aConstraintUsage[slot_of[b]].omit = 1;
  }
  tensor_vtab *v = (tensor_vtab*)vtab;
  int64_t n = v->tensor->n_tiles;
  if( plan & (PLAN_ROW_EQ | PLAN_CONTAINS) ){
    info->estimatedRows = 1;
    info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  }else{
    info->estimatedRows = (plan & (PLAN_ROW_GE | PLAN_ROW_GT | PLAN_ROW_LE | PLAN_ROW_LT)) ? n / 2 + 1 : n;
  }
  info->estimatedCost = (double)info->estimatedRows;
  info->idxNum = plan;
  info->orderByConsumed = order_consumed(info);
  return SQLITE_OK;
}

/* xOpen */
static int tensor_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  tensor_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->ref.tensor = ((tensor_vtab*)vtab)->tensor;
  *out = &c->base;
  return SQLITE_OK;
}

static void cursor_unpin(tensor_cursor *c){
  if( c->ref.tile == 0 ) return;
  tensor_vtab *v = (tensor_vtab*)c->base.pVtab;
  tile_manager_unpin(v->session->model->tiles, c->ref.tile);
  c->ref.tile = 0;
}

/* xClose */
static int tensor_close(sqlite3_vtab_cursor *cur){
  cursor_unpin((tensor_cursor*)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* The column each PLAN_ bit constrains, by bit number. */
static const char *const plan_column[7] = {
  "tile_row", "tile_row", "tile_row", "tile_row", "tile_row", "tile_col", "row"
};

/* xFilter: turn the constraints of idxNum into the range [tile_row, end).
** Values are clamped: a negative or huge row or tile_row matches nothing,
** and a value that is not an integer is an error. */
static int tensor_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                         int argc, sqlite3_value **argv){
  tensor_cursor *c = (tensor_cursor*)cur;
  const model_tensor *t = c->ref.tensor;
  int64_t lo = 0, hi = t->n_tiles;
  int k = 0;
  cursor_unpin(c);
  c->contains_row = -1;
  for(int b = 0; b < 7; b++){
    if( !(plan & (1 << b)) ) continue;
    int64_t x = 0;
    int known = sql_integer(argv[k++], &x);   /* NULL matches nothing */
    if( known < 0 ){
      sqlite3_vtab *vtab = cur->pVtab;
      sqlite3_free(vtab->zErrMsg);
      vtab->zErrMsg = sqlite3_mprintf("%s: %s must be an integer, not '%.40s'", t->name,
                                      plan_column[b], sqlite3_value_text(argv[k - 1]));
      return SQLITE_ERROR;
    }
    /* Clamp so that x + 1 cannot overflow; the range stays the same. */
    if( x < -1 ) x = -1;
    if( x > t->rows ) x = t->rows;
    int is_null = known == 0;
    switch( 1 << b ){
      case PLAN_ROW_EQ: if( x > lo ) lo = x; if( x + 1 < hi ) hi = x + 1; break;
      case PLAN_ROW_GE: if( x > lo ) lo = x; break;
      case PLAN_ROW_GT: if( x + 1 > lo ) lo = x + 1; break;
      case PLAN_ROW_LE: if( x + 1 < hi ) hi = x + 1; break;
      case PLAN_ROW_LT: if( x < hi ) hi = x; break;
      case PLAN_COL_EQ: if( x != 0 ) hi = lo; break;
      case PLAN_CONTAINS:
        if( x < 0 || x >= t->rows ){ hi = lo; break; }
        c->contains_row = x;
        if( x / t->tile_rows > lo ) lo = x / t->tile_rows;
        if( x / t->tile_rows + 1 < hi ) hi = x / t->tile_rows + 1;
        break;
    }
    if( is_null ) hi = lo;   /* a comparison with NULL matches nothing */
  }
  c->tile_row = lo;
  c->end = hi > lo ? hi : lo;
  return SQLITE_OK;
}

/* xNext: the pin of the tile we leave is released here. */
static int tensor_next(sqlite3_vtab_cursor *cur){
  tensor_cursor *c = (tensor_cursor*)cur;
  cursor_unpin(c);
  c->tile_row++;
  return SQLITE_OK;
}

/* xEof */
static int tensor_eof(sqlite3_vtab_cursor *cur){
  tensor_cursor *c = (tensor_cursor*)cur;
  return c->tile_row >= c->end;
}

static int cursor_pin(tensor_cursor *c){
  if( c->ref.tile ) return SQLITE_OK;
  tensor_vtab *v = (tensor_vtab*)c->base.pVtab;
  const model_tensor *t = c->ref.tensor;
  c->ref.tile_row = c->tile_row;
  c->ref.rows = model_tile_rows(t, c->tile_row);
  c->ref.tile = tile_manager_pin(v->session->model->tiles, t->first_tile + c->tile_row,
                                 c->err, sizeof c->err);
  if( c->ref.tile == 0 ){
    sqlite3_free(v->base.zErrMsg);
    v->base.zErrMsg = sqlite3_mprintf("%s", c->err);
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

/* xColumn */
static int tensor_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  tensor_cursor *c = (tensor_cursor*)cur;
  switch( col ){
    case COL_TILE_ROW: sqlite3_result_int64(ctx, c->tile_row); return SQLITE_OK;
    case COL_TILE_COL: sqlite3_result_int(ctx, 0); return SQLITE_OK;
    case COL_ROW:
      if( c->contains_row >= 0 ) sqlite3_result_int64(ctx, c->contains_row);
      return SQLITE_OK;
  }
  int rc = cursor_pin(c);
  if( rc != SQLITE_OK ) return rc;
  if( col == COL_DATA ){
    sqlite3_result_pointer(ctx, &c->ref, TILE_POINTER, 0);
  }else{
    sqlite3_result_blob64(ctx, c->ref.tile->data, c->ref.tile->bytes, SQLITE_TRANSIENT);
  }
  return SQLITE_OK;
}

/* xRowid: the tile's id in the database. */
static int tensor_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  tensor_cursor *c = (tensor_cursor*)cur;
  *rowid = c->ref.tensor->first_tile + c->tile_row;
  return SQLITE_OK;
}

static sqlite3_module tensor_module = {
  .iVersion = 0,
  .xCreate = 0,                  /* eponymous only: no CREATE VIRTUAL TABLE */
  .xConnect = tensor_connect,
  .xBestIndex = tensor_best_index,
  .xDisconnect = tensor_disconnect,
  .xDestroy = tensor_disconnect,
  .xOpen = tensor_open,
  .xClose = tensor_close,
  .xFilter = tensor_filter,
  .xNext = tensor_next,
  .xEof = tensor_eof,
  .xColumn = tensor_column,
  .xRowid = tensor_rowid,
};

/* ---- tensors: the directory ------------------------------------------- */

/*
**   SELECT name, dtype, shape, rows, cols, tile_rows, tile_cols, n_tiles,
**          bytes FROM tensors;
*/
enum { DIR_NAME, DIR_DTYPE, DIR_SHAPE, DIR_ROWS, DIR_COLS, DIR_TILE_ROWS,
       DIR_TILE_COLS, DIR_N_TILES, DIR_BYTES };

typedef struct directory_cursor {
  sqlite3_vtab_cursor base;
  const model *model;
  int i;
} directory_cursor;

typedef struct directory_vtab {
  sqlite3_vtab base;
  session *session;
} directory_vtab;

/* xConnect */
static int directory_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                             sqlite3_vtab **out, char **err){
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(name TEXT, dtype TEXT, shape TEXT,"
      " rows INTEGER, cols INTEGER, tile_rows INTEGER, tile_cols INTEGER,"
      " n_tiles INTEGER, bytes INTEGER)");
  if( rc != SQLITE_OK ) return rc;
  directory_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = aux;
  *out = &v->base;
  return SQLITE_OK;
}

/* xBestIndex: a full scan of a short list. */
static int directory_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  info->estimatedCost = 100;
  return SQLITE_OK;
}

/* xOpen */
static int directory_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  directory_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

/* xClose */
static int directory_close(sqlite3_vtab_cursor *cur){
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* xFilter: fails on a connection whose main database is not a model. */
static int directory_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                            int argc, sqlite3_value **argv){
  directory_cursor *c = (directory_cursor*)cur;
  directory_vtab *v = (directory_vtab*)cur->pVtab;
  c->model = session_model(v->session, &v->base.zErrMsg);
  c->i = 0;
  return c->model ? SQLITE_OK : SQLITE_ERROR;
}

/* xNext */
static int directory_next(sqlite3_vtab_cursor *cur){
  ((directory_cursor*)cur)->i++;
  return SQLITE_OK;
}

/* xEof */
static int directory_eof(sqlite3_vtab_cursor *cur){
  directory_cursor *c = (directory_cursor*)cur;
  return c->model == 0 || c->i >= c->model->n_tensors;
}

/* xColumn */
static int directory_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  directory_cursor *c = (directory_cursor*)cur;
  const model_tensor *t = &c->model->tensors[c->i];
  switch( col ){
    case DIR_NAME: sqlite3_result_text(ctx, t->name, -1, SQLITE_STATIC); break;
    case DIR_DTYPE: sqlite3_result_text(ctx, tensor_dtype_name(t->dtype), -1, SQLITE_STATIC); break;
    case DIR_SHAPE: sqlite3_result_text(ctx, t->shape, -1, SQLITE_STATIC); break;
    case DIR_ROWS: sqlite3_result_int64(ctx, t->rows); break;
    case DIR_COLS: sqlite3_result_int64(ctx, t->cols); break;
    case DIR_TILE_ROWS: sqlite3_result_int64(ctx, t->tile_rows); break;
    case DIR_TILE_COLS: sqlite3_result_int64(ctx, t->tile_cols); break;
    case DIR_N_TILES: sqlite3_result_int64(ctx, t->n_tiles); break;
    case DIR_BYTES:
      sqlite3_result_int64(ctx, (int64_t)((size_t)(t->n_tiles - 1) * model_tile_bytes(t, 0)
                                          + model_tile_bytes(t, t->n_tiles - 1)));
      break;
  }
  return SQLITE_OK;
}

/* xRowid */
static int directory_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  directory_cursor *c = (directory_cursor*)cur;
  *rowid = c->model->tensors[c->i].id;
  return SQLITE_OK;
}

static sqlite3_module directory_module = {
  .xConnect = directory_connect,
  .xBestIndex = directory_best_index,
  .xDisconnect = tensor_disconnect,
  .xDestroy = tensor_disconnect,
  .xOpen = directory_open,
  .xClose = directory_close,
  .xFilter = directory_filter,
  .xNext = directory_next,
  .xEof = directory_eof,
  .xColumn = directory_column,
  .xRowid = directory_rowid,
};

int tensor_vtab_register(sqlite3 *db, session *s){
  int rc = sqlite3_create_module(db, "tensors", &directory_module, s);
  for(int i = 0; rc == SQLITE_OK && s->model && i < s->model->n_tensors; i++){
    rc = sqlite3_create_module(db, s->model->tensors[i].name, &tensor_module, s);
  }
  return rc;
}
