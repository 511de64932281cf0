/*
** testutil.h: what every Check test program shares: the path of ../shared,
** a scratch directory, whole files and their copies, one-integer queries,
** numbers from /proc, and a main() that runs one suite.
*/
#ifndef TENSQL_TESTUTIL_H
#define TENSQL_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SHARED_DIR and BUILD_DIR come from Makefile.am. */
#define SHARED(path) SHARED_DIR "/" path

/* got is within tol of want. */
#define ck_assert_close(got, want, tol) \
  ck_assert_msg(fabs((double)(got) - (double)(want)) <= (tol), "%s = %.9g, want %.9g", #got, (double)(got), (double)(want))

/* A fresh scratch file path under the build directory's tests/tmp. */
static inline const char *test_tmp_path(const char *name){
  static char buf[4][1024];
  static int k;
  char *p = buf[k++ & 3];
  if( system("mkdir -p " BUILD_DIR "/tests/tmp") != 0 ) return 0;
  snprintf(p, 1024, BUILD_DIR "/tests/tmp/%s", name);
  return p;
}

/* The whole file at path with a NUL after it (not counted in *len, when
** len is not NULL); fails the test when it cannot be read.  free() it. */
static inline char *test_read_file(const char *path, size_t *len){
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  ck_assert_msg(buf && fread(buf, 1, (size_t)n, f) == (size_t)n, "cannot read %s", path);
  fclose(f);
  buf[n] = 0;
  if( len ) *len = (size_t)n;
  return buf;
}

/* len bytes written to the file at path, made or emptied first; fails
** the test when it cannot be written. */
static inline void test_write_file(const char *path, const void *bytes, size_t len){
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  int ok = fwrite(bytes, 1, len, f) == len;
  ck_assert_msg(fclose(f) == 0 && ok, "cannot write %s", path);
}

/* A copy of the file at from, written to to; fails the test when it
** cannot be made. */
static inline void test_copy_file(const char *from, const char *to){
  size_t len;
  char *bytes = test_read_file(from, &len);
  test_write_file(to, bytes, len);
  free(bytes);
}

/* The integer in the first column of the first row of sql; fails the test
** when there is no row. */
static inline int64_t query_int(sqlite3 *db, const char *sql){
  sqlite3_stmt *st;
  ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, 0) == SQLITE_OK, "%s: %s", sql,
                sqlite3_errmsg(db));
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* The number after `key` on its line of a /proc file ("VmRSS:" in
** /proc/self/status, say), or -1. */
static inline int64_t test_proc_number(const char *path, const char *key){
  char line[256];
  int64_t v = -1;
  size_t n = strlen(key);
  FILE *f = fopen(path, "r");
  while( f && fgets(line, sizeof line, f) ){
    if( strncmp(line, key, n) == 0 ) v = strtoll(line + n, 0, 10);
  }
  if( f ) fclose(f);
  return v;
}

#define TEST_MAIN(suite_fn) \
  int main(void){ \
    SRunner *sr = srunner_create(suite_fn()); \
    srunner_run_all(sr, CK_NORMAL); \
    int failed = srunner_ntests_failed(sr); \
    srunner_free(sr); \
    return failed ? EXIT_FAILURE : EXIT_SUCCESS; \
  }

#endif
