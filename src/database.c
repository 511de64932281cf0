/*
** database.c: every connection tensql opens itself (database.h).
*/
#include "database.h"

int database_open(const char *path, sqlite3 **db, int flags, const char *vfs){
  int rc = sqlite3_open_v2(path, db, flags, vfs);
  if( rc == SQLITE_OK ) rc = sqlite3_db_config(*db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int*)0);
  if( rc == SQLITE_OK ) rc = sqlite3_db_config(*db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int*)0);
  return rc;
}

int64_t database_int(sqlite3 *db, const char *sql, int64_t fallback){
  sqlite3_stmt *st = 0;
  int64_t v = fallback;
  if( sqlite3_prepare_v2(db, sql, -1, &st, 0) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW
   && sqlite3_column_type(st, 0) != SQLITE_NULL ) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}
