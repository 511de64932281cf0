/*
** test_program.c: the program template (src/import/program.c): statements
** end where SQLite says they are complete, however many there are, the
** layer block repeats per layer, @if-tensor and @unless-tensor choose, and
** a template that ends mid-statement is an error.
*/
#include "import/program.h"
#include "../testutil.h"

/* A model database's tables as program_write needs them: 2 layers of
** llama, and the tensors named. */
static sqlite3 *model_tables(const char *tensors){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  char *sql = sqlite3_mprintf(
      "CREATE TABLE meta(key PRIMARY KEY, value);"
      "CREATE TABLE tensor(name);"
      "CREATE TABLE program(step INTEGER PRIMARY KEY, layer, sql);"
      "INSERT INTO meta VALUES ('general.architecture', 'llama'), ('llama.block_count', 2);"
      "INSERT INTO tensor SELECT value FROM json_each('%q');", tensors);
  ck_assert_int_eq(sqlite3_exec(db, sql, 0, 0, 0), SQLITE_OK);
  sqlite3_free(sql);
  return db;
}

/* The program's rows as "step|layer|sql" lines. */
static char *program_rows(sqlite3 *db){
  sqlite3_stmt *st;
  sqlite3_str *out = sqlite3_str_new(0);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT step, coalesce(layer, '-'), sql FROM program"
                                          " ORDER BY step", -1, &st, 0), SQLITE_OK);
  while( sqlite3_step(st) == SQLITE_ROW ){
    sqlite3_str_appendf(out, "%d|%s|%s", sqlite3_column_int(st, 0), sqlite3_column_text(st, 1),
                        sqlite3_column_text(st, 2));
  }
  sqlite3_finalize(st);
  return sqlite3_str_finish(out);
}

START_TEST(test_statements_end_where_complete){
  sqlite3 *db = model_tables("[\"blk.1.bias\"]");
  const char *tpl =
    "-- dropped: a blank line follows\n"
    "\n"
    "-- kept with the statement;\n"
    "SELECT 'a;\n"
    "b;';\n"
    "-- @layer\n"
    "SELECT {L},\n"
    "\n"
    "  'x';\n"
    "-- @if-tensor blk.{L}.bias\n"
    "SELECT 'bias {L}';\n"
    "-- @final\n"
    "SELECT 'out';";
  char err[256] = "";
  ck_assert_msg(program_write_template(db, tpl, err, sizeof err) == 0, "%s", err);
  char *rows = program_rows(db);
  ck_assert_str_eq(rows,
    "1|-|-- kept with the statement;\nSELECT 'a;\nb;';\n"
    "2|0|SELECT 0,\n\n  'x';\n"
    "3|1|SELECT 1,\n\n  'x';\n"
    "4|1|SELECT 'bias 1';\n"
    "5|-|SELECT 'out';\n");
  sqlite3_free(rows);
  sqlite3_close(db);
}
END_TEST

/* The old parser kept 64 statements and dropped the rest in silence. */
START_TEST(test_no_limit_on_statements){
  sqlite3 *db = model_tables("[]");
  sqlite3_str *tpl = sqlite3_str_new(0);
  for(int i = 0; i < 200; i++) sqlite3_str_appendf(tpl, "SELECT %d;\n", i);
  char *text = sqlite3_str_finish(tpl), err[256] = "";
  ck_assert_msg(program_write_template(db, text, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM program"), 200);
  ck_assert_int_eq(query_int(db, "SELECT max(step) FROM program WHERE sql = 'SELECT 199;\n'"), 200);
  sqlite3_free(text);
  sqlite3_close(db);
}
END_TEST

START_TEST(test_unfinished_statement){
  sqlite3 *db = model_tables("[]");
  char err[256] = "";
  ck_assert_int_eq(program_write_template(db, "SELECT 1;\nSELECT 'no end'\n", err, sizeof err), -1);
  ck_assert_str_eq(err, "program: the template's last statement has no ';':\nSELECT 'no end'\n");
  sqlite3_close(db);
}
END_TEST

/* Without its tables the database cannot take a program: the message says
** why, where the old code stepped statements that never prepared. */
START_TEST(test_missing_program_table){
  sqlite3 *db = model_tables("[]");
  ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE program", 0, 0, 0), SQLITE_OK);
  char err[256] = "";
  ck_assert_int_eq(program_write_template(db, "SELECT 1;\n", err, sizeof err), -1);
  ck_assert_str_eq(err, "program: no such table: program");
  sqlite3_close(db);
}
END_TEST

static Suite *program_suite(void){
  Suite *s = suite_create("program");
  TCase *tc = tcase_create("template");
  tcase_add_test(tc, test_statements_end_where_complete);
  tcase_add_test(tc, test_no_limit_on_statements);
  tcase_add_test(tc, test_unfinished_statement);
  tcase_add_test(tc, test_missing_program_table);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(program_suite)
