/*
** state_tables.c: the tables through which the forward pass reads and
** writes a running model's state (src/memory/state.h).
**
**   act(name, data, rows, cols, tile HIDDEN)  activations; INSERT writes
**       one (or one column tile of one), SELECT reads whole matrices
**   kv(layer, name, data, positions)          the KV cache; INSERT stores
**       the step's rows of layer's 'k' or 'v', SELECT returns all cached rows
**   step(i, pos, token, logits)               the positions of this step;
**       logits = 1 where the step's logits are wanted
**   head(head, kv_head)                       the attention heads
**
**   SELECT name, rows, cols, tensor_norm(data) FROM act;
**   SELECT positions FROM kv WHERE layer = 0 AND name = 'k';
**
** act and kv live in the temp schema, so that writing them never opens a
** write transaction on the model file.  `data` is a BLOB of float32 values
** handed out without copying (SQLITE_STATIC): it stays valid until the
** activation is written again.
*/
#include "extension.h"

#include <stdio.h>
#include <string.h>

typedef struct state_vtab {
  sqlite3_vtab base;
  session *session;
  int kind;                /* which table: TABLE_ACT ... */
} state_vtab;

enum { TABLE_ACT, TABLE_KV, TABLE_STEP, TABLE_HEAD };

static const char *const table_schema[] = {
  "CREATE TABLE x(name TEXT, data BLOB, rows INTEGER, cols INTEGER, tile HIDDEN INTEGER)",
  "CREATE TABLE x(layer INTEGER, name TEXT, data BLOB, positions INTEGER)",
  "CREATE TABLE x(i INTEGER, pos INTEGER, token INTEGER, logits INTEGER)",
  "CREATE TABLE x(head INTEGER, kv_head INTEGER)",
};

/* Rows are picked with = on column 0 (act's name, kv's layer, step's i,
** head's head) and, for kv, on its name too. */
#define KV_NAME_COLUMN 1

typedef struct state_cursor {
  sqlite3_vtab_cursor base;
  int64_t row, end;        /* rows [row, end) of the table's enumeration */
} state_cursor;

static int state_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **err, int kind){
  session *s = aux;
  if( session_model(s, err) == 0 ) return SQLITE_ERROR;
  int rc = sqlite3_declare_vtab(db, table_schema[kind]);
  if( rc != SQLITE_OK ) return rc;
  state_vtab *v = sqlite3_malloc(sizeof *v);
  if( v == 0 ) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->session = s;
  v->kind = kind;
  *out = &v->base;
  return SQLITE_OK;
}

static int act_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                       sqlite3_vtab **out, char **err){
  return state_connect(db, aux, argc, argv, out, err, TABLE_ACT);
}
static int kv_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **err){
  return state_connect(db, aux, argc, argv, out, err, TABLE_KV);
}
static int step_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err){
  return state_connect(db, aux, argc, argv, out, err, TABLE_STEP);
}
static int head_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err){
  return state_connect(db, aux, argc, argv, out, err, TABLE_HEAD);
}

/* xDisconnect / xDestroy */
static int state_disconnect(sqlite3_vtab *vtab){
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* Rows are enumerated by a number: act's index in state->acts; kv's
** layer*2 + (name == 'v'); step's i; head's head. */
static int64_t table_rows(const state_vtab *v){
  const state *st = v->session->state;
  switch( v->kind ){
    case TABLE_ACT: return st->n_acts;
    case TABLE_KV: return 2 * (int64_t)st->n_layers;
    case TABLE_STEP: return st->n;
    default: return v->session->model->params.n_heads;
  }
}

/* xBestIndex: idxNum bit 1 = first key column given (argv[0]), bit 2 =
** kv's name given too (argv[1]).  With every key given, the scan is one row,
** which lets a join keep the order of the other side. */
static int state_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info){
  state_vtab *v = (state_vtab*)vtab;
  int first = -1, second = -1;
  for(int i = 0; i < info->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if( !c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ ) continue;
    if( c->iColumn == 0 ) first = i;
    if( v->kind == TABLE_KV && c->iColumn == KV_NAME_COLUMN ) second = i;
  }
  if( first < 0 ) second = -1;   /* kv's name narrows only within a layer */
  int argv = 1;
  info->idxNum = 0;
  if( first >= 0 ){
    info->aConstraintUsage[first].argvIndex = argv++;
    info->aConstraintUsage[first].omit = 1;
    info->idxNum |= 1;
  }
  if( second >= 0 ){
    info->aConstraintUsage[second].argvIndex = argv++;
    info->aConstraintUsage[second].omit = 1;
    info->idxNum |= 2;
  }
  int unique = v->kind == TABLE_KV ? info->idxNum == 3 : info->idxNum == 1;
  info->estimatedRows = unique ? 1 : 25;
  info->estimatedCost = unique ? 1 : 25;
  if( unique ) info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  if( info->nOrderBy == 1 && info->aOrderBy[0].iColumn == 0 && !info->aOrderBy[0].desc
   && v->kind != TABLE_ACT ){
    info->orderByConsumed = 1;
  }
  return SQLITE_OK;
}

/* xOpen */
static int state_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out){
  state_cursor *c = sqlite3_malloc(sizeof *c);
  if( c == 0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

/* xClose */
static int state_close(sqlite3_vtab_cursor *cur){
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* The enumeration number a key value picks, or -1 for none. */
static int64_t key_row(const state_vtab *v, sqlite3_value *key, sqlite3_value *kv_name){
  state *st = v->session->state;
  if( v->kind == TABLE_ACT ){
    const char *name = (const char*)sqlite3_value_text(key);
    state_act *a = name ? state_act_find(st, name) : 0;
    return a ? a - st->acts : -1;
  }
  if( sqlite3_value_type(key) != SQLITE_INTEGER ) return -1;
  int64_t k = sqlite3_value_int64(key);
  if( v->kind != TABLE_KV ) return k;
  if( k < 0 || k >= st->n_layers ) return -1;   /* and k * 2 cannot overflow */
  const char *name = kv_name ? (const char*)sqlite3_value_text(kv_name) : 0;
  if( name == 0 ) return k * 2;            /* caller widens to both names */
  if( strcmp(name, "k") && strcmp(name, "v") ) return -1;
  return k * 2 + (name[0] == 'v');
}

/* xFilter */
static int state_filter(sqlite3_vtab_cursor *cur, int plan, const char *unused,
                        int argc, sqlite3_value **argv){
  state_cursor *c = (state_cursor*)cur;
  state_vtab *v = (state_vtab*)cur->pVtab;
  int64_t n = table_rows(v);
  c->row = 0;
  c->end = n;
  if( plan & 1 ){
    int64_t r = key_row(v, argv[0], (plan & 2) ? argv[1] : 0);
    int width = v->kind == TABLE_KV && !(plan & 2) ? 2 : 1;
    c->row = r < 0 || r >= n ? n : r;
    c->end = c->row + width < n ? c->row + width : n;
  }
  return SQLITE_OK;
}

/* xNext */
static int state_next(sqlite3_vtab_cursor *cur){
  ((state_cursor*)cur)->row++;
  return SQLITE_OK;
}

/* xEof */
static int state_eof(sqlite3_vtab_cursor *cur){
  state_cursor *c = (state_cursor*)cur;
  return c->row < 0 || c->row >= c->end;
}

static void act_column(state *st, int64_t row, sqlite3_context *ctx, int col){
  state_act *a = &st->acts[row];
  switch( col ){
    case 0: sqlite3_result_text(ctx, a->name, -1, SQLITE_STATIC); break;
    case 1:
      sqlite3_result_blob64(ctx, state_act_data(a), (uint64_t)(a->rows * a->cols) * sizeof(float),
                            SQLITE_STATIC);
      break;
    case 2: sqlite3_result_int64(ctx, a->rows); break;
    case 3: sqlite3_result_int64(ctx, a->cols); break;
    case 4: sqlite3_result_int(ctx, 0); break;
  }
}

static void kv_column(state *st, int64_t row, sqlite3_context *ctx, int col){
  int layer = (int)(row / 2);
  int is_v = (int)(row % 2);
  switch( col ){
    case 0: sqlite3_result_int(ctx, layer); break;
    case 1: sqlite3_result_text(ctx, is_v ? "v" : "k", 1, SQLITE_STATIC); break;
    case 2: {
      const float *d = is_v ? st->kv[layer].v : st->kv[layer].k;
      uint64_t bytes = (uint64_t)(st->kv_len * st->kv_dim) * sizeof(float);
      if( d && bytes ) sqlite3_result_blob64(ctx, d, bytes, SQLITE_STATIC);
      break;
    }
    case 3: sqlite3_result_int64(ctx, st->kv_len); break;
  }
}

/* xColumn */
static int state_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col){
  state_cursor *c = (state_cursor*)cur;
  state_vtab *v = (state_vtab*)cur->pVtab;
  state *st = v->session->state;
  const model_params *p = &v->session->model->params;
  switch( v->kind ){
    case TABLE_ACT: act_column(st, c->row, ctx, col); break;
    case TABLE_KV: kv_column(st, c->row, ctx, col); break;
    case TABLE_STEP: {
      int64_t wants_logits = st->all_logits || c->row == st->n - 1;
      int64_t values[4] = { c->row, st->pos0 + c->row, st->tokens[c->row], wants_logits };
      sqlite3_result_int64(ctx, values[col]);
      break;
    }
    case TABLE_HEAD:
      sqlite3_result_int64(ctx, col == 0 ? c->row : c->row / (p->n_heads / p->n_kv_heads));
      break;
  }
  return SQLITE_OK;
}

/* xRowid */
static int state_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid){
  *rowid = ((state_cursor*)cur)->row;
  return SQLITE_OK;
}

static int update_fail(sqlite3_vtab *vtab, const char *msg){
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = sqlite3_mprintf("%s", msg);
  return SQLITE_ERROR;
}

static int integer_or_null(sqlite3_value *v){
  int64_t x;
  return sql_integer(v, &x) >= 0;
}

/* xUpdate: INSERT only.  act: (name, data, rows, cols, tile), rows
** defaulting to the step's positions; kv: (layer, name, data, positions).
** cols and positions are ignored on input. */
static int state_update(sqlite3_vtab *vtab, int argc, sqlite3_value **argv,
                        sqlite3_int64 *rowid){
  state_vtab *v = (state_vtab*)vtab;
  char err[256];
  if( argc == 1 || sqlite3_value_type(argv[0]) != SQLITE_NULL ){
    return update_fail(vtab, "act and kv take INSERT only");
  }
  state *st = v->session->state;
  if( v->kind == TABLE_ACT ){
    const char *name = (const char*)sqlite3_value_text(argv[2]);
    if( name == 0 || sqlite3_value_type(argv[3]) != SQLITE_BLOB ){
      return update_fail(vtab, "act: INSERT needs a name and a BLOB of float32 data"
                                " (a NULL here often means SQLite sorted or materialised a pointer)");
    }
    if( !integer_or_null(argv[4]) || !integer_or_null(argv[6]) ){
      return update_fail(vtab, "act: rows and tile must be integers (or left out)");
    }
    if( state_act_write(st, name, sqlite3_value_int64(argv[4]), sqlite3_value_int64(argv[6]),
                        sqlite3_value_blob(argv[3]),
                        (size_t)sqlite3_value_bytes(argv[3]), err, sizeof err) ){
      return update_fail(vtab, err);
    }
    return SQLITE_OK;
  }
  const char *name = (const char*)sqlite3_value_text(argv[3]);
  if( sqlite3_value_type(argv[2]) != SQLITE_INTEGER || name == 0 || strlen(name) != 1
   || sqlite3_value_type(argv[4]) != SQLITE_BLOB ){
    return update_fail(vtab, "kv: INSERT needs (layer, 'k' or 'v', data BLOB)");
  }
  if( state_kv_write(st, sqlite3_value_int64(argv[2]), name[0], sqlite3_value_blob(argv[4]),
                     (size_t)sqlite3_value_bytes(argv[4]), err, sizeof err) ){
    return update_fail(vtab, err);
  }
  return SQLITE_OK;
}

#define STATE_MODULE(connect, create, update) { \
  .xCreate = create, .xConnect = connect, .xBestIndex = state_best_index, \
  .xDisconnect = state_disconnect, .xDestroy = state_disconnect, \
  .xOpen = state_open, .xClose = state_close, .xFilter = state_filter, \
  .xNext = state_next, .xEof = state_eof, .xColumn = state_column, \
  .xRowid = state_rowid, .xUpdate = update }

static sqlite3_module act_module = STATE_MODULE(act_connect, act_connect, state_update);
static sqlite3_module kv_module = STATE_MODULE(kv_connect, kv_connect, state_update);
static sqlite3_module step_module = STATE_MODULE(step_connect, 0, 0);
static sqlite3_module head_module = STATE_MODULE(head_connect, 0, 0);

int state_tables_register(sqlite3 *db, session *s){
  if( s->model == 0 ) return SQLITE_OK;
  int rc = sqlite3_create_module(db, "tensql_act", &act_module, s);
  if( rc == SQLITE_OK ) rc = sqlite3_create_module(db, "tensql_kv", &kv_module, s);
  if( rc == SQLITE_OK ) rc = sqlite3_create_module(db, "step", &step_module, s);
  if( rc == SQLITE_OK ) rc = sqlite3_create_module(db, "head", &head_module, s);
  return rc == SQLITE_OK ? state_tables_create(db) : rc;
}

int state_tables_create(sqlite3 *db){
  return sqlite3_exec(db, "CREATE VIRTUAL TABLE IF NOT EXISTS temp.act USING tensql_act;"
                          "CREATE VIRTUAL TABLE IF NOT EXISTS temp.kv USING tensql_kv;", 0, 0, 0);
}
