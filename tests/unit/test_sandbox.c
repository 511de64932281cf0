/*
** test_sandbox.c: the program's sandbox (vtab/sandbox.c) on stories260K:
** what program_check admits and refuses, that a refused program runs no
** statement at all, the bound on a runaway statement, and that the
** caller's connection (its functions, authorizer, open transaction) is
** neither reached nor changed.  The hostile models through the shell,
** Python and the CLI are tests/test_hostile.sh.
*/
#include "../testutil.h"

#include "import/import.h"
#include "tensql.h"

static char model_db[1024];

static void setup_model(void){
  char err[512];
  import_options opt = { .dtype = -1 };
  snprintf(model_db, sizeof model_db, "%s", test_tmp_path("sandbox.db"));
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.gguf"), model_db, &opt,
                             err, sizeof err) == 0, "%s", err);
}

static sqlite3 *open_model(void){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(model_db, &db), SQLITE_OK);
  ck_assert_int_eq(tensql_register(db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, "BEGIN", 0, 0, 0), SQLITE_OK);   /* edits roll back */
  return db;
}

static void set_step(sqlite3 *db, int step, const char *sql){
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE program SET sql = ?1 WHERE step = ?2", -1, &st, 0),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, sql, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, step);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

/* What program_check says of sql as program step 1: NULL if nothing
** (sqlite3_free the result). */
static char *problem_of(sqlite3 *db, const char *sql){
  set_step(db, 1, sql);
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT problem FROM program_check", -1, &st, 0), SQLITE_OK);
  char *problem = 0;
  int rc = sqlite3_step(st);
  if( rc == SQLITE_ROW ) problem = sqlite3_mprintf("%s", sqlite3_column_text(st, 0));
  else ck_assert_msg(rc == SQLITE_DONE, "%s", sqlite3_errmsg(db));
  ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);   /* only step 1 was changed */
  sqlite3_finalize(st);
  return problem;
}

/* The error of a two-token generate, which must fail. */
static char *generate_error(sqlite3 *db){
  int rc = sqlite3_exec(db, "SELECT count(*) FROM generate WHERE prompt = 'Once' AND max_tokens = 2",
                        0, 0, 0);
  ck_assert_int_ne(rc, SQLITE_OK);
  return sqlite3_mprintf("%s", sqlite3_errmsg(db));
}

START_TEST(test_imported_program_passes){
  sqlite3 *db = open_model();
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM program_check"), 0);
  sqlite3_close(db);
}
END_TEST

/* SQLite's pure built-ins, from each end of the sandbox's sorted list and
** between, and tensql's functions, are admitted. */
START_TEST(test_pure_functions_admitted){
  static const char *const calls[] = {
    "abs(-1)", "acos(1)", "avg(1)", "ceil(1.5)", "coalesce(NULL, 1)", "count(*)", "exp(1)",
    "group_concat('a')", "iif(1, 2, 3)", "json_extract('[1]', '$[0]')",
    "json_group_object('a', 1)", "likely(1)", "log10(10)", "lower('A')", "max(1, 2)",
    "nullif(1, 2)", "printf('%d', 1)", "round(1.5)", "sqrt(4)", "substr('ab', 1)",
    "total(1)", "typeof(1)", "unicode('a')", "unlikely(1)", "upper('a')",
    "tensor_norm(w.data)",
  };
  sqlite3 *db = open_model();
  for(size_t i = 0; i < sizeof calls / sizeof calls[0]; i++){
    char *sql = sqlite3_mprintf("INSERT INTO act(name, data) SELECT 'x', %s"
                                " FROM \"token_embd.weight\" w", calls[i]);
    char *problem = problem_of(db, sql);
    ck_assert_msg(problem == 0, "%s: %s", calls[i], problem);
    sqlite3_free(sql);
  }
  sqlite3_close(db);
}
END_TEST

START_TEST(test_refused){
  static const struct { const char *sql, *problem; } cases[] = {
    { "SELECT random()", "is refused: it calls random(), which is not a tensql function" },
    { "SELECT date('now')", "is refused: it calls date()" },
    { "SELECT sqlite_version()", "is refused: it calls sqlite_version()" },
    { "SELECT changes()", "is refused: it calls changes()" },
    { "SELECT zeroblob(1000000000)", "is refused: it calls zeroblob()" },
    { "SELECT load_extension('x')", "is refused: it calls load_extension()" },
    { "SELECT readfile('/etc/passwd')", "does not prepare: no such function: readfile" },
    { "SELECT tensql_threads(8)", "does not prepare: no such function: tensql_threads" },
    { "SELECT tensql_budget('1G')", "does not prepare: no such function: tensql_budget" },
    { "ATTACH 'x.db' AS x", "is refused: it attaches a database" },
    { "PRAGMA writable_schema = 1", "is refused: it runs a PRAGMA" },
    { "BEGIN", "is refused: it controls transactions" },
    { "SAVEPOINT s", "is refused: it controls transactions" },
    { "CREATE TEMP TABLE t(x)", "is refused: it reads or writes SQLite's schema" },
    { "INSERT INTO act(name, data) SELECT 'x', value FROM json_each('[1]')",
      "is refused: it reads table json_each" },
    { "INSERT INTO step VALUES (0, 0, 0, 0)", "is refused: it writes to table step" },
    { "UPDATE act SET name = 'y'", "is refused: it updates a table" },
    { "DELETE FROM kv", "is refused: it deletes from a table" },
    { "SELECT * FROM sqlite_master", "is refused: it reads or writes SQLite's schema" },
    { "SELECT * FROM tensors", "is refused: it reads table tensors" },
    { "SELECT * FROM meta", "does not prepare: no such table: meta" },
    { "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT max(i) FROM c",
      "is refused: it uses a recursive common table expression" },
    { "SELECT 1; SELECT 2", "does not prepare: it holds more than one statement" },
    { "-- a comment only", "does not prepare: it holds no statement" },
  };
  sqlite3 *db = open_model();
  for(size_t i = 0; i < sizeof cases / sizeof cases[0]; i++){
    char *problem = problem_of(db, cases[i].sql);
    ck_assert_msg(problem && strstr(problem, cases[i].problem) == problem, "%s: %s",
                  cases[i].sql, problem ? problem : "admitted");
    sqlite3_free(problem);
  }
  sqlite3_close(db);
}
END_TEST

/* A refused statement anywhere stops the model before its first
** statement runs; the message names the step and layer. */
START_TEST(test_refused_program_runs_nothing){
  sqlite3 *db = open_model();
  set_step(db, 30, "ATTACH 'x.db' AS x");
  char *err = generate_error(db);
  ck_assert_str_eq(err, "program step 30 (layer 2) is refused: it attaches a database");
  sqlite3_free(err);
  ck_assert_int_eq(query_int(db, "SELECT count(*) FROM act"), 0);
  sqlite3_close(db);
}
END_TEST

START_TEST(test_runaway_statement_bounded){
  sqlite3 *db = open_model();
  set_step(db, 1, "INSERT INTO act(name, data) SELECT 'x', count(*)"
                  " FROM head a, head b, head c, head d, head e, head f, head g, head h, head i");
  char *err = generate_error(db);
  ck_assert_str_eq(err, "program step 1: stopped after 100000000 instructions, the bound on one"
                        " statement");
  sqlite3_free(err);
  sqlite3_close(db);
}
END_TEST

static void spy_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3_result_int(ctx, 1);
}

static int authorizer_calls;
static int count_calls(void *arg, int action, const char *a, const char *b, const char *c,
                       const char *d){
  authorizer_calls++;
  return SQLITE_OK;
}

/* The program does not see the caller's own functions, and the caller's
** authorizer stays where the caller put it. */
START_TEST(test_caller_connection_untouched){
  sqlite3 *db = open_model();
  ck_assert_int_eq(sqlite3_create_function(db, "spy", 0, SQLITE_UTF8, 0, spy_fn, 0, 0), SQLITE_OK);
  sqlite3_set_authorizer(db, count_calls, 0);
  char *problem = problem_of(db, "INSERT INTO act(name, data) SELECT 'x', spy()");
  ck_assert_str_eq(problem, "does not prepare: no such function: spy");
  sqlite3_free(problem);
  set_step(db, 1, "INSERT INTO act(name, data) SELECT 'x', embed(w.data, s.token, s.i)"
                  " FROM step s JOIN \"token_embd.weight\" w ON w.row = s.token");
  ck_assert_int_eq(sqlite3_exec(db, "SELECT count(*) FROM generate WHERE prompt = 'Once'"
                                    " AND max_tokens = 2", 0, 0, 0), SQLITE_OK);
  int before = authorizer_calls;
  ck_assert_int_eq(query_int(db, "SELECT 1"), 1);
  ck_assert_int_gt(authorizer_calls, before);
  sqlite3_set_authorizer(db, 0, 0);
  sqlite3_close(db);
}
END_TEST

static Suite *sandbox_suite(void){
  Suite *s = suite_create("sandbox");
  TCase *tc = tcase_create("program");
  tcase_add_unchecked_fixture(tc, setup_model, 0);
  tcase_add_test(tc, test_imported_program_passes);
  tcase_add_test(tc, test_pure_functions_admitted);
  tcase_add_test(tc, test_refused);
  tcase_add_test(tc, test_refused_program_runs_nothing);
  tcase_add_test(tc, test_runaway_statement_bounded);
  tcase_add_test(tc, test_caller_connection_untouched);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(sandbox_suite)
