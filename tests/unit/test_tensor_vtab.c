/*
** test_tensor_vtab.c: tensors as eponymous tables, the `tensors` directory
** and tensor_values, on stories260K imported with small tiles; the query
** plan of a GROUP BY tile_row (no sorter); checksum failures; and loading
** the real tensql.so into a connection.
*/
#include "../testutil.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "import/import.h"
#include "tensql.h"

#define STORIES_BIN SHARED("models/stories260K/stories260K.bin")
#define TOK512 SHARED("models/stories260K/tok512.bin")

static const char *model_path;

static void setup_model(void){
  char err[512];
  static char path[1024];
  snprintf(path, sizeof path, "%s", test_tmp_path("vtab.db"));
  import_options opt = { .dtype = -1, .tokenizer_path = TOK512, .tile_bytes = 4096 };
  ck_assert_msg(import_model(STORIES_BIN, path, &opt, err, sizeof err) == 0, "%s", err);
  model_path = path;
}

static sqlite3 *open_model(const char *path){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(tensql_register(db), SQLITE_OK);
  return db;
}

static double query_double(sqlite3 *db, const char *sql){
  sqlite3_stmt *st;
  ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, 0) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
  double v = sqlite3_column_double(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* All of EXPLAIN QUERY PLAN's detail lines, joined. */
static void query_plan(sqlite3 *db, const char *sql, char *out, size_t len){
  char *eqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, eqp, -1, &st, 0), SQLITE_OK);
  out[0] = 0;
  while( sqlite3_step(st) == SQLITE_ROW ){
    strncat(out, (const char*)sqlite3_column_text(st, 3), len - strlen(out) - 2);
    strcat(out, "\n");
  }
  sqlite3_finalize(st);
  sqlite3_free(eqp);
}

START_TEST(test_tensor_table_scan){
  sqlite3 *db = open_model(model_path);
  /* ffn_down is 64 x 172 f32: 5 rows per 4 KiB tile, 13 tiles */
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\""), 13);
  ck_assert_int_eq(query_int(db, "SELECT sum(length(bytes)) FROM \"blk.0.ffn_down.weight\""), 64 * 172 * 4);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE tile_row = 3"), 1);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE tile_row >= 3 AND tile_row < 5"), 2);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE tile_row > 11"), 1);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE tile_row IN (1, 4, 99)"), 2);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE tile_col = 1"), 0);
  /* row 63 is in the last tile, 12 */
  ck_assert_int_eq(query_int(db, "SELECT tile_row FROM \"blk.0.ffn_down.weight\" WHERE row = 63"), 12);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE row = 64"), 0);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE tile_row = 9223372036854775807"), 0);
  /* rows come out in order */
  ck_assert_int_eq(query_int(db, "SELECT group_concat(tile_row) = '0,1,2,3,4,5,6,7,8,9,10,11,12'"
                                 " FROM \"blk.0.ffn_down.weight\""), 1);
  sqlite3_close(db);
}
END_TEST

/* row, tile_row and tile_col take integers, with the columns' INTEGER
** affinity ('4' is 4, 4.0 is 4); anything else is an error, not the row
** it reads as (`row = 'abc'` gave row 0's tile); negative and huge values
** match nothing. */
START_TEST(test_constraints_are_integers){
  sqlite3 *db = open_model(model_path);
  const char *t = "\"blk.0.ffn_down.weight\"";
  const char *bad[][2] = {
    { "row = 'abc'", "blk.0.ffn_down.weight: row must be an integer, not 'abc'" },
    { "row = 1.5", "row must be an integer, not '1.5'" },
    { "row = x'00'", "row must be an integer" },
    { "tile_row = 'abc'", "tile_row must be an integer, not 'abc'" },
    { "tile_row > 2.5", "tile_row must be an integer" },
    { "tile_col = 'x'", "tile_col must be an integer" },
    { "row = 1e300", "row must be an integer" },
  };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++){
    char *sql = sqlite3_mprintf("SELECT count(*) FROM %s WHERE %s", t, bad[i][0]), *err = 0;
    ck_assert_int_ne(sqlite3_exec(db, sql, 0, 0, &err), SQLITE_OK);
    ck_assert_msg(err && strstr(err, bad[i][1]), "%s: '%s' lacks '%s'", sql, err, bad[i][1]);
    sqlite3_free(err);
    sqlite3_free(sql);
  }
  ck_assert_int_eq(query_int(db, "SELECT tile_row FROM \"blk.0.ffn_down.weight\" WHERE row = '63'"), 12);
  ck_assert_int_eq(query_int(db, "SELECT tile_row FROM \"blk.0.ffn_down.weight\" WHERE row = 63.0"), 12);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE row = -1"), 0);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\""
                                 " WHERE row = -9223372036854775808"), 0);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\""
                                 " WHERE row = 9223372036854775807"), 0);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\""
                                 " WHERE tile_row < -9223372036854775808"), 0);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.0.ffn_down.weight\" WHERE row = NULL"), 0);
  /* tensor_values' tile argument likewise: 'abc' was tile 0 */
  char *err = 0;
  ck_assert_int_ne(sqlite3_exec(db, "SELECT count(*) FROM tensor_values('blk.0.ffn_down.weight', 'abc')",
                                0, 0, &err), SQLITE_OK);
  ck_assert_msg(err && strstr(err, "has tiles 0 to"), "%s", err);
  sqlite3_free(err);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM tensor_values('blk.0.ffn_down.weight', '1')"),
                   query_int(db, "SELECT count(*) FROM tensor_values('blk.0.ffn_down.weight', 1)"));
  sqlite3_close(db);
}
END_TEST

START_TEST(test_group_by_needs_no_sorter){
  sqlite3 *db = open_model(model_path);
  char plan[2048];
  const char *sql = "SELECT tile_row, count(*) FROM \"blk.0.attn_q.weight\" GROUP BY tile_row";
  query_plan(db, sql, plan, sizeof plan);
  ck_assert_msg(strstr(plan, "TEMP B-TREE") == 0, "plan uses a sorter:\n%s", plan);
  query_plan(db, "SELECT * FROM \"blk.0.attn_q.weight\" ORDER BY tile_row, tile_col", plan, sizeof plan);
  ck_assert_msg(strstr(plan, "TEMP B-TREE") == 0, "plan uses a sorter:\n%s", plan);
  query_plan(db, "SELECT * FROM \"blk.0.attn_q.weight\" ORDER BY tile_row DESC", plan, sizeof plan);
  ck_assert_msg(strstr(plan, "TEMP B-TREE") != 0, "descending order must be sorted:\n%s", plan);
  sqlite3_close(db);
}
END_TEST

START_TEST(test_tensors_directory){
  sqlite3 *db = open_model(model_path);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM tensors"), 47);
  ck_assert_int_eq(query_int(db, "SELECT rows * cols FROM tensors WHERE name = 'token_embd.weight'"), 512 * 64);
  ck_assert_int_eq(query_int(db, "SELECT shape = '[172,64]' FROM tensors WHERE name = 'blk.4.ffn_up.weight'"), 1);
  ck_assert_int_eq(query_int(db, "SELECT sum(bytes) FROM tensors"), 264128L * 4 - 4096 * 4);
  sqlite3_close(db);
}
END_TEST

/* max |w| of layer 0's wq, computed here from stories260K.bin directly. */
static double bin_wq0_max_abs(void){
  FILE *f = fopen(STORIES_BIN, "rb");
  float *w = malloc(64 * 64 * sizeof(float));
  fseek(f, (7 + 512 * 64 + 5 * 64) * 4, SEEK_SET);
  ck_assert(fread(w, sizeof(float), 64 * 64, f) == 64 * 64);
  fclose(f);
  double m = 0;
  for(int i = 0; i < 64 * 64; i++) if( fabs(w[i]) > m ) m = fabs(w[i]);
  free(w);
  return m;
}

START_TEST(test_tensor_values){
  sqlite3 *db = open_model(model_path);
  double expect = bin_wq0_max_abs();
  ck_assert_double_eq(query_double(db, "SELECT max(abs(value)) FROM tensor_values('blk.0.attn_q.weight')"), expect);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM tensor_values('blk.0.attn_q.weight')"), 64 * 64);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM tensor_values('blk.0.ffn_down.weight', 12)"), 4 * 172);
  ck_assert_int_eq(query_int(db, "SELECT min(row) FROM tensor_values('blk.0.ffn_down.weight', 12)"), 60);
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT * FROM tensor_values('nope')", -1, &st, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ERROR);
  ck_assert_msg(strstr(sqlite3_errmsg(db), "no tensor nope") != 0, "%s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  ck_assert_int_ne(sqlite3_prepare_v2(db, "SELECT * FROM tensor_values", -1, &st, 0), SQLITE_OK);
  sqlite3_close(db);
}
END_TEST

START_TEST(test_checksum_mismatch){
  const char *copy = test_tmp_path("corrupt.db");
  test_copy_file(model_path, copy);
  sqlite3 *raw;
  sqlite3_stmt *get, *put;
  sqlite3_open(copy, &raw);
  /* flip one byte of tile (3,0) of blk.1.ffn_up.weight, keeping its checksum */
  const char *where = " WHERE tensor_id = (SELECT id FROM tensor WHERE name = 'blk.1.ffn_up.weight')"
                      " AND tile_row = 3";
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT data FROM tile%s", where);
  ck_assert_int_eq(sqlite3_prepare_v2(raw, sql, -1, &get, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(get), SQLITE_ROW);
  int n = sqlite3_column_bytes(get, 0);
  unsigned char *data = malloc((size_t)n);
  memcpy(data, sqlite3_column_blob(get, 0), (size_t)n);
  sqlite3_finalize(get);
  data[100] ^= 1;
  snprintf(sql, sizeof sql, "UPDATE tile SET data = ?%s", where);
  ck_assert_int_eq(sqlite3_prepare_v2(raw, sql, -1, &put, 0), SQLITE_OK);
  sqlite3_bind_blob(put, 1, data, n, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(put), SQLITE_DONE);
  ck_assert_int_eq(sqlite3_changes(raw), 1);
  sqlite3_finalize(put);
  free(data);
  sqlite3_close(raw);
  sqlite3 *db = open_model(copy);
  sqlite3_stmt *st;
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"blk.1.ffn_up.weight\" WHERE tile_row = 2 AND length(bytes) > 0"), 1);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT length(bytes) FROM \"blk.1.ffn_up.weight\"", -1, &st, 0), SQLITE_OK);
  int rc, rows = 0;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ) rows++;
  ck_assert_int_eq(rc, SQLITE_ERROR);
  ck_assert_int_eq(rows, 3);
  ck_assert_msg(strstr(sqlite3_errmsg(db), "checksum mismatch in blk.1.ffn_up.weight tile (3,0)"),
                "%s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
}
END_TEST

START_TEST(test_not_a_model_connection){
  sqlite3 *db = open_model(":memory:");
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT * FROM tensors", -1, &st, 0), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ERROR);
  ck_assert_msg(strstr(sqlite3_errmsg(db), "not a tensql model"), "%s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
}
END_TEST

/* The loadable extension, as the sqlite3 shell and Python load it. */
START_TEST(test_load_extension){
  sqlite3 *db;
  char *err = 0;
  ck_assert_int_eq(sqlite3_open(model_path, &db), SQLITE_OK);
  sqlite3_enable_load_extension(db, 1);
  int rc = sqlite3_load_extension(db, BUILD_DIR "/.libs/tensql.so", 0, &err);
  ck_assert_msg(rc == SQLITE_OK, "%s", err ? err : "");
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM \"output_norm.weight\""), 1);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM tensor_values('output_norm.weight')"), 64);
  sqlite3_close(db);
}
END_TEST

static Suite *vtab_suite(void){
  Suite *s = suite_create("tensor_vtab");
  TCase *tc = tcase_create("tables");
  tcase_add_unchecked_fixture(tc, setup_model, 0);
  tcase_add_test(tc, test_tensor_table_scan);
  tcase_add_test(tc, test_constraints_are_integers);
  tcase_add_test(tc, test_group_by_needs_no_sorter);
  tcase_add_test(tc, test_tensors_directory);
  tcase_add_test(tc, test_tensor_values);
  tcase_add_test(tc, test_checksum_mismatch);
  tcase_add_test(tc, test_not_a_model_connection);
  tcase_add_test(tc, test_load_extension);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(vtab_suite)
