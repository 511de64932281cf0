/*
** database.h: how tensql opens an SQLite connection of its own, and a
** one-number query on it.
**
** A model database comes from anywhere, so every connection tensql opens
** itself (to read a model, to write one, or to parse JSON in memory) is
** opened here, with SQLite's settings for untrusted content
** (sqlite.org/security.html): SQLITE_DBCONFIG_DEFENSIVE on, so no SQL can
** corrupt the file, and SQLITE_DBCONFIG_TRUSTED_SCHEMA off, so the file's
** own views and triggers cannot call functions with side effects.
** Extension loading stays off, as sqlite3_open_v2 leaves it.
*/
#ifndef TENSQL_DATABASE_H
#define TENSQL_DATABASE_H

#include <sqlite3.h>
#include <stdint.h>

/* sqlite3_open_v2 with those settings.  Returns its result code; *db is
** set as sqlite3_open_v2 sets it, so the caller closes it either way. */
int database_open(const char *path, sqlite3 **db, int flags, const char *vfs);

/* The integer in the first column of the first row of sql, or fallback
** when there is none (an error, no row, NULL). */
int64_t database_int(sqlite3 *db, const char *sql, int64_t fallback);

#endif
