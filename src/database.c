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
