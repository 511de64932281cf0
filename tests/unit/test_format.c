/*
** test_format.c: the small readers under src/format/ that the importers,
** the tokenizer loader and the tools share: file_read_all (file.h) and,
** in the second case, hf_json (hf_json.h).  gguf and safetensors have
** their own test programs.
*/
#include "format/file.h"
#include "format/hf_json.h"
#include "../testutil.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- file_read_all -------------------------------------------------------- */

/* Every byte, NULs inside included, and one NUL after them. */
START_TEST(test_file_read_bytes){
  const char *path = test_tmp_path("format_bytes.bin");
  const char bytes[] = "{\"a\": 1}\0tail\n";
  test_write_file(path, bytes, sizeof bytes - 1);
  char err[256] = "";
  size_t len = 99;
  char *got = file_read_all(path, &len, err, sizeof err);
  ck_assert_msg(got != NULL, "%s", err);
  ck_assert_uint_eq(len, sizeof bytes - 1);
  ck_assert(memcmp(got, bytes, len) == 0);
  ck_assert_int_eq(got[len], 0);
  free(got);
  /* len may be NULL: a text file is a C string. */
  got = file_read_all(path, NULL, err, sizeof err);
  ck_assert_str_eq(got, "{\"a\": 1}");
  free(got);
}
END_TEST

START_TEST(test_file_read_empty){
  const char *path = test_tmp_path("format_empty.txt");
  test_write_file(path, "", 0);
  size_t len = 99;
  char *got = file_read_all(path, &len, NULL, 0);
  ck_assert_ptr_nonnull(got);
  ck_assert_uint_eq(len, 0);
  ck_assert_int_eq(got[0], 0);
  free(got);
}
END_TEST

/* The message names the path and the reason, and errno tells a missing
** file from others. */
START_TEST(test_file_read_errors){
  char err[256] = "", want[300];
  const char *missing = test_tmp_path("format_no_such_file.json");
  unlink(missing);
  errno = 0;
  ck_assert_ptr_null(file_read_all(missing, NULL, err, sizeof err));
  ck_assert_int_eq(errno, ENOENT);
  snprintf(want, sizeof want, "%s: No such file or directory", missing);
  ck_assert_str_eq(err, want);

  const char *dir = test_tmp_path("format_a_directory");
  mkdir(dir, 0700);
  errno = 0;
  ck_assert_ptr_null(file_read_all(dir, NULL, err, sizeof err));
  ck_assert_int_eq(errno, EISDIR);
  snprintf(want, sizeof want, "%s: Is a directory", dir);
  ck_assert_str_eq(err, want);

  /* A short err buffer is cut, not overrun; none at all is allowed. */
  char tiny[8];
  memset(tiny, 'x', sizeof tiny);
  ck_assert_ptr_null(file_read_all(missing, NULL, tiny, sizeof tiny));
  ck_assert_int_eq(tiny[sizeof tiny - 1], 0);
  ck_assert_ptr_null(file_read_all(missing, NULL, NULL, 0));
  ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* A file whose size stat does not know: /proc, and a pipe that brings
** more than the first guess of a buffer. */
START_TEST(test_file_read_unsized){
  size_t len = 0;
  char err[256] = "";
  char *status = file_read_all("/proc/self/status", &len, err, sizeof err);
  ck_assert_msg(status != NULL, "%s", err);
  ck_assert_uint_gt(len, 0);
  ck_assert_uint_eq(strlen(status), len);
  ck_assert_ptr_nonnull(strstr(status, "VmRSS:"));
  free(status);

  const char *fifo = test_tmp_path("format_fifo");
  unlink(fifo);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  enum { N = 100000 };
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if( child == 0 ){
    FILE *f = fopen(fifo, "wb");
    for(int i = 0; f && i < N; i++) fputc('a' + i % 26, f);
    _exit(f && fclose(f) == 0 ? 0 : 1);
  }
  char *got = file_read_all(fifo, &len, err, sizeof err);
  int wstatus;
  waitpid(child, &wstatus, 0);
  unlink(fifo);
  ck_assert_msg(got != NULL, "%s", err);
  ck_assert_uint_eq(len, N);
  for(int i = 0; i < N; i++) ck_assert_int_eq(got[i], 'a' + i % 26);
  ck_assert_int_eq(got[N], 0);
  free(got);
}
END_TEST

/* ---- hf_json ---------------------------------------------------------------- */

static hf_json *json_open(void){
  char err[256] = "";
  hf_json *j = hf_json_open(err, sizeof err);
  ck_assert_msg(j != NULL, "%s", err);
  return j;
}

static const char config[] =
  "{\"n\": 24, \"eps\": 1e-06, \"name\": \"qwen2\", \"tied\": true, \"bias\": false,"
  " \"scaling\": null, \"ids\": [151643, 151645], \"rope\": {\"type\": \"yarn\"},"
  " \"esc\": \"\\u00e9\\n\\\"\"}";

START_TEST(test_json_get){
  hf_json *j = json_open();
  static const struct { const char *path, *type; } want[] = {
    { "$.n", "integer" }, { "$.eps", "real" }, { "$.name", "text" },
    { "$.tied", "true" }, { "$.bias", "false" }, { "$.scaling", "null" },
    { "$.ids", "array" }, { "$.rope", "object" }, { "$", "object" },
    { "$.absent", "" }, { "$.ids[7]", "" }, { "$.rope.type.deeper", "" },
  };
  for(size_t i = 0; i < sizeof want / sizeof want[0]; i++){
    hf_json_value v;
    hf_json_get(j, config, -1, want[i].path, &v);
    ck_assert_msg(strcmp(v.type, want[i].type) == 0, "%s: type '%s', want '%s'",
                  want[i].path, v.type, want[i].type);
    ck_assert_int_eq(v.text != NULL, strcmp(want[i].type, "text") == 0);
    free(v.text);
  }
  hf_json_value v;
  hf_json_get(j, config, -1, "$.n", &v);
  ck_assert_int_eq(v.integer, 24);
  hf_json_get(j, config, -1, "$.eps", &v);
  ck_assert_double_eq(v.real, 1e-06);
  hf_json_get(j, config, -1, "$.ids[1]", &v);
  ck_assert_int_eq(v.integer, 151645);
  /* A string comes back unescaped, as UTF-8. */
  hf_json_get(j, config, -1, "$.esc", &v);
  ck_assert_str_eq(v.text, "\xC3\xA9\n\"");
  free(v.text);
  char *name = hf_json_text(j, config, -1, "$.name");
  ck_assert_str_eq(name, "qwen2");
  free(name);
  ck_assert_ptr_null(hf_json_text(j, config, -1, "$.n"));
  ck_assert_ptr_null(hf_json_text(j, config, -1, "$.absent"));
  hf_json_close(j);
}
END_TEST

/* A document that is not JSON, is cut short, or is not there has no
** values (json_type would fail the query). */
START_TEST(test_json_not_json){
  hf_json *j = json_open();
  hf_json_value v;
  static const char *const bad[] = { "", "{", "{\"a\": }", "not json", "{\"a\": 1} x" };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++){
    hf_json_get(j, bad[i], -1, "$", &v);
    ck_assert_msg(v.type[0] == 0, "'%s' read as %s", bad[i], v.type);
  }
  hf_json_get(j, NULL, -1, "$.n", &v);
  ck_assert_str_eq(v.type, "");
  /* len bytes of a longer text: the first seven are the document. */
  const char *padded = "{\"a\":1}, and more";
  hf_json_get(j, padded, 7, "$.a", &v);
  ck_assert_str_eq(v.type, "integer");
  ck_assert_int_eq(v.integer, 1);
  hf_json_get(j, padded, -1, "$.a", &v);
  ck_assert_str_eq(v.type, "");
  hf_json_get(j, padded, 6, "$.a", &v);
  ck_assert_str_eq(v.type, "");
  hf_json_close(j);
}
END_TEST

START_TEST(test_json_bool){
  hf_json *j = json_open();
  int b = 7;
  ck_assert_int_eq(hf_json_bool(j, config, -1, "$.tied", &b), 1);
  ck_assert_int_eq(b, 1);
  ck_assert_int_eq(hf_json_bool(j, config, -1, "$.bias", &b), 1);
  ck_assert_int_eq(b, 0);
  /* Anything else leaves *out alone: a default stands. */
  b = 7;
  ck_assert_int_eq(hf_json_bool(j, config, -1, "$.n", &b), 0);
  ck_assert_int_eq(hf_json_bool(j, config, -1, "$.scaling", &b), 0);
  ck_assert_int_eq(hf_json_bool(j, config, -1, "$.absent", &b), 0);
  ck_assert_int_eq(hf_json_bool(j, NULL, -1, "$.tied", &b), 0);
  ck_assert_int_eq(b, 7);
  hf_json_close(j);
}
END_TEST

/* Members in document order; a walk inside a walk of the same SQL, as the
** safetensors reader walks a shape inside the header. */
START_TEST(test_json_each){
  hf_json *j = json_open();
  const char *doc = "{\"x\": [3, 4], \"y\": [], \"z\": [5]}";
  char seen[64] = "";
  sqlite3_stmt *outer = hf_json_each(j, doc, -1, "$");
  ck_assert_ptr_nonnull(outer);
  while( sqlite3_step(outer) == SQLITE_ROW ){
    strcat(seen, (const char *)sqlite3_column_text(outer, 0));
    ck_assert_str_eq((const char *)sqlite3_column_text(outer, 1), "array");
    const char *member = (const char *)sqlite3_column_text(outer, 3);
    sqlite3_stmt *inner = hf_json_each(j, member, sqlite3_column_bytes(outer, 3), "$");
    ck_assert_ptr_nonnull(inner);
    ck_assert_ptr_ne(inner, outer);
    while( sqlite3_step(inner) == SQLITE_ROW ){
      char n[16];
      snprintf(n, sizeof n, "%lld", (long long)sqlite3_column_int64(inner, 2));
      strcat(seen, n);
    }
    ck_assert_int_eq(hf_json_done(j, inner), SQLITE_OK);
  }
  ck_assert_int_eq(hf_json_done(j, outer), SQLITE_OK);
  ck_assert_str_eq(seen, "x34yz5");
  /* The statement is kept, and handed out again once done. */
  sqlite3_stmt *again = hf_json_each(j, doc, -1, "$.x");
  ck_assert_ptr_eq(again, outer);
  ck_assert_int_eq(sqlite3_step(again), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(again, 2), 3);
  hf_json_done(j, again);
  hf_json_close(j);
}
END_TEST

START_TEST(test_json_query){
  hf_json *j = json_open();
  sqlite3_stmt *s = hf_json_query(j, "SELECT count(*) FROM json_each(?1, ?2)"
                                     " WHERE type = 'integer'", config, -1);
  ck_assert_ptr_nonnull(s);
  sqlite3_bind_text(s, 2, "$.ids", -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(s, 0), 2);
  ck_assert_int_eq(hf_json_done(j, s), SQLITE_OK);
  /* SQL that does not prepare, and a step that fails: both say why. */
  ck_assert_ptr_null(hf_json_query(j, "SELECT * FROM no_such_table", config, -1));
  ck_assert_str_eq(hf_json_error(j), "no such table: no_such_table");
  s = hf_json_query(j, "SELECT json_extract(?1, '$.a')", "{broken", -1);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(sqlite3_step(s), SQLITE_ERROR);
  ck_assert_int_eq(hf_json_done(j, s), SQLITE_ERROR);
  ck_assert_ptr_nonnull(strstr(hf_json_error(j), "malformed JSON"));
  ck_assert_int_eq(hf_json_done(j, NULL), SQLITE_OK);
  hf_json_close(j);
}
END_TEST

/* More statements in use at once than are kept: each still runs, and
** those past the table are finalized when done (ASan sees a leak or a
** double finalize). */
START_TEST(test_json_many){
  hf_json *j = json_open();
  enum { N = 40 };
  sqlite3_stmt *s[N];
  for(int i = 0; i < N; i++){
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT json_extract(?1, '$.ids[0]') + %d", i);
    s[i] = hf_json_query(j, sql, config, -1);
    ck_assert_ptr_nonnull(s[i]);
  }
  for(int i = 0; i < N; i++){
    ck_assert_int_eq(sqlite3_step(s[i]), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(s[i], 0), 151643 + i);
  }
  for(int i = 0; i < N; i++) ck_assert_int_eq(hf_json_done(j, s[i]), SQLITE_OK);
  /* Two walks of the same SQL over different documents, then some left
  ** undone: hf_json_close finalizes them. */
  sqlite3_stmt *a = hf_json_each(j, "[1]", -1, "$"), *b = hf_json_each(j, "[2]", -1, "$");
  ck_assert_int_eq(sqlite3_step(a), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_step(b), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_int(a, 2), 1);
  ck_assert_int_eq(sqlite3_column_int(b, 2), 2);
  hf_json_close(j);
  hf_json_close(NULL);
}
END_TEST

static Suite *format_suite(void){
  Suite *s = suite_create("format");
  TCase *file = tcase_create("file");
  tcase_add_test(file, test_file_read_bytes);
  tcase_add_test(file, test_file_read_empty);
  tcase_add_test(file, test_file_read_errors);
  tcase_add_test(file, test_file_read_unsized);
  suite_add_tcase(s, file);
  TCase *json = tcase_create("hf_json");
  tcase_add_test(json, test_json_get);
  tcase_add_test(json, test_json_not_json);
  tcase_add_test(json, test_json_bool);
  tcase_add_test(json, test_json_each);
  tcase_add_test(json, test_json_query);
  tcase_add_test(json, test_json_many);
  suite_add_tcase(s, json);
  return s;
}

TEST_MAIN(format_suite)
