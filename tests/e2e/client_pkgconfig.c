/*
** client_pkgconfig.c: the smallest C program that uses an installed
** libtensql, as README.md's C section says to write one.  Built by
** tests/test_pkgconfig.sh with `cc client_pkgconfig.c $(pkg-config --cflags
** --libs tensql)` against a staged `make install`.
**
**   client_pkgconfig stories260K.db
**
** prints the greedy continuation of "Once upon a time", 20 tokens, and a
** newline; on an error, the message on stderr and exit code 1.
*/
#include <stdio.h>
#include <tensql.h>

int main(int argc, char **argv){
  if( argc != 2 ){
    fprintf(stderr, "usage: %s model.db\n", argv[0]);
    return 2;
  }
  sqlite3 *db;
  sqlite3_stmt *st = 0;
  int rc = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, 0);
  if( rc == SQLITE_OK ) rc = tensql_register(db);
  if( rc == SQLITE_OK ){
    rc = sqlite3_prepare_v2(db, "SELECT group_concat(text, '') FROM generate"
                                " WHERE prompt = 'Once upon a time' AND max_tokens = 20",
                            -1, &st, 0);
  }
  if( rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW ){
    const unsigned char *text = sqlite3_column_text(st, 0);
    printf("%s\n", text ? (const char *)text : "");
    rc = SQLITE_OK;
  }
  if( rc != SQLITE_OK ) fprintf(stderr, "%s: %s\n", argv[1], sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : 1;
}
