/*
** sqlite_api.h: how vtab/ reaches SQLite.  The same sources build twice:
** into libtensql, linked against libsqlite3 like any program, and into the
** loadable extension tensql.so (TENSQL_LOADABLE), which must call SQLite
** through the host's sqlite3_api_routines table so that it works inside
** whatever SQLite loaded it.
*/
#ifndef TENSQL_SQLITE_API_H
#define TENSQL_SQLITE_API_H

#ifdef TENSQL_LOADABLE
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#else
#include <sqlite3.h>
#endif

#endif
