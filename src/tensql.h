/*
** tensql.h: the public C interface of libtensql.
**
**   sqlite3 *db;
**   sqlite3_open("model.db", &db);
**   tensql_register(db);      // tensor tables, generate, kernels ...
**   // SELECT token, text FROM generate WHERE prompt = 'Once upon a time'
**
** Everything else is SQL; see README.md.  Build with
** `cc app.c $(pkg-config --cflags --libs tensql)`.
*/
#ifndef TENSQL_H
#define TENSQL_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Register tensql's tables and functions on db.  If db's main database is
** a tensql model, its tensors become tables too.  Returns an SQLite code. */
int tensql_register(sqlite3 *db);

/* The entry point of the loadable extension tensql.so, which
** sqlite3_load_extension() calls.  libtensql does not export it: a program
** linked with libtensql calls tensql_register. */
int sqlite3_tensql_init(sqlite3 *db, char **err, const struct sqlite3_api_routines *api);

#ifdef __cplusplus
}
#endif

#endif
