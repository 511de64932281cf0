/*
** test_format.c: the small readers under src/format/ that the importers,
** the tokenizer loader and the tools share: file_read_all (file.h) and,
** in the second case, hf_json (hf_json.h).  gguf and safetensors have
** their own test programs.
*/
#include "format/file.h"
#include "../testutil.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- file_read_all -------------------------------------------------------- */

static void write_file(const char *path, const char *bytes, size_t n){
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
  fclose(f);
}

/* Every byte, NULs inside included, and one NUL after them. */
START_TEST(test_file_read_bytes){
  const char *path = test_tmp_path("format_bytes.bin");
  const char bytes[] = "{\"a\": 1}\0tail\n";
  write_file(path, bytes, sizeof bytes - 1);
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
  write_file(path, "", 0);
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

static Suite *format_suite(void){
  Suite *s = suite_create("format");
  TCase *file = tcase_create("file");
  tcase_add_test(file, test_file_read_bytes);
  tcase_add_test(file, test_file_read_empty);
  tcase_add_test(file, test_file_read_errors);
  tcase_add_test(file, test_file_read_unsized);
  suite_add_tcase(s, file);
  return s;
}

TEST_MAIN(format_suite)
