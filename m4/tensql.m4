# tensql's own configure switches.

# --enable-sanitizers: build everything with AddressSanitizer and UBSan, so
# that `make check` doubles as a memory-safety run.
AC_DEFUN([TENSQL_SANITIZERS], [
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers], [build with -fsanitize=address,undefined])],
    [], [enable_sanitizers=no])
  SANITIZE_CFLAGS=
  SANITIZE_LDFLAGS=
  AS_IF([test "x$enable_sanitizers" = xyes], [
    SANITIZE_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
    SANITIZE_LDFLAGS="-fsanitize=address,undefined"
  ])
  AM_CONDITIONAL([SANITIZERS], [test "x$enable_sanitizers" = xyes])
])

# --enable-fuzzers: build the libFuzzer harnesses in tests/fuzz (needs clang).
# The library is instrumented too, so that the fuzzer sees coverage and the
# sanitizers see bugs inside the parsers, not just in the harness.
AC_DEFUN([TENSQL_FUZZERS], [
  AC_ARG_ENABLE([fuzzers],
    [AS_HELP_STRING([--enable-fuzzers], [build libFuzzer harnesses (CC=clang)])],
    [], [enable_fuzzers=no])
  AS_IF([test "x$enable_fuzzers" = xyes], [
    SANITIZE_CFLAGS="$SANITIZE_CFLAGS -g -O1 -fsanitize=fuzzer-no-link,address,undefined"
    SANITIZE_LDFLAGS="$SANITIZE_LDFLAGS -fsanitize=address,undefined"
  ])
  AM_CONDITIONAL([FUZZERS], [test "x$enable_fuzzers" = xyes])
])

# Threads for the tile prefetcher and the kernel worker pool.
AC_DEFUN([AX_PTHREAD_LITE], [
  AC_SEARCH_LIBS([pthread_create], [pthread], [],
    [AC_MSG_ERROR([tensql needs POSIX threads])])
])
