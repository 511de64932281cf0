/*
** hf_json.c: JSON through a private in-memory SQLite connection (see
** hf_json.h).
**
** Every query binds the document as ?1.  Prepared statements are kept in
** a small table and handed out again for the same SQL once the last user
** gave theirs back (hf_json_done); one still in use is never handed out
** twice, so a walk can run inside another walk of the same SQL.  Past
** HF_JSON_KEPT statements, the extra ones are finalized when done.
*/
#include "hf_json.h"
#include "database.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HF_JSON_KEPT 16

struct hf_json {
  sqlite3 *db;
  struct {
    sqlite3_stmt *stmt;   /* NULL: a free slot */
    int in_use;           /* handed out and not yet done */
  } kept[HF_JSON_KEPT];
};

/* The type and the value at ?2, NULL for both if ?1 is not JSON (where
** json_type would fail the statement). */
static const char hf_json_get_sql[] =
  "SELECT CASE WHEN json_valid(?1) THEN json_type(?1, ?2) END,"
  " CASE WHEN json_valid(?1) THEN json_extract(?1, ?2) END";
static const char hf_json_each_sql[] =
  "SELECT key, type, atom, value FROM json_each(?1, ?2)";

hf_json *hf_json_open(char *err, size_t err_len){
  hf_json *j = calloc(1, sizeof(*j));
  if( j == NULL || database_open(":memory:", &j->db, SQLITE_OPEN_READWRITE, NULL)
                   != SQLITE_OK ){
    if( err && err_len ){
      snprintf(err, err_len, "cannot open SQLite for JSON: %s",
               j && j->db ? sqlite3_errmsg(j->db) : "out of memory");
    }
    hf_json_close(j);
    return NULL;
  }
  return j;
}

void hf_json_close(hf_json *j){
  if( j == NULL ) return;
  for(int i = 0; i < HF_JSON_KEPT; i++) sqlite3_finalize(j->kept[i].stmt);
  sqlite3_close(j->db);
  free(j);
}

const char *hf_json_error(hf_json *j){
  return sqlite3_errmsg(j->db);
}

sqlite3_stmt *hf_json_query(hf_json *j, const char *sql, const char *doc,
                            int64_t len){
  sqlite3_stmt *s = NULL;
  int slot = -1;
  for(int i = 0; i < HF_JSON_KEPT && s == NULL; i++){
    if( j->kept[i].stmt && !j->kept[i].in_use
     && strcmp(sqlite3_sql(j->kept[i].stmt), sql) == 0 ){
      s = j->kept[i].stmt;
      slot = i;
    }
  }
  if( s == NULL ){
    if( sqlite3_prepare_v2(j->db, sql, -1, &s, NULL) != SQLITE_OK ) return NULL;
    /* Keep it in a free slot, else in place of one not in use. */
    for(int i = 0; i < HF_JSON_KEPT && slot < 0; i++){
      if( j->kept[i].stmt == NULL ) slot = i;
    }
    for(int i = 0; i < HF_JSON_KEPT && slot < 0; i++){
      if( !j->kept[i].in_use ) slot = i;
    }
    if( slot >= 0 ){
      sqlite3_finalize(j->kept[slot].stmt);
      j->kept[slot].stmt = s;
    }
  }
  if( slot >= 0 ) j->kept[slot].in_use = 1;
  if( len < 0 ) sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
  else sqlite3_bind_text64(s, 1, doc, (sqlite3_uint64)len, SQLITE_STATIC, SQLITE_UTF8);
  return s;
}

int hf_json_done(hf_json *j, sqlite3_stmt *s){
  if( s == NULL ) return SQLITE_OK;
  int rc = sqlite3_reset(s);
  sqlite3_clear_bindings(s);   /* the document may be freed now */
  for(int i = 0; i < HF_JSON_KEPT; i++){
    if( j->kept[i].stmt == s ){
      j->kept[i].in_use = 0;
      return rc;
    }
  }
  sqlite3_finalize(s);
  return rc;
}

sqlite3_stmt *hf_json_each(hf_json *j, const char *doc, int64_t len,
                           const char *path){
  sqlite3_stmt *s = hf_json_query(j, hf_json_each_sql, doc, len);
  if( s ) sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
  return s;
}

void hf_json_get(hf_json *j, const char *doc, int64_t len, const char *path,
                 hf_json_value *v){
  memset(v, 0, sizeof(*v));
  sqlite3_stmt *s = hf_json_query(j, hf_json_get_sql, doc, len);
  if( s == NULL ) return;
  sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
  if( sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) ){
    snprintf(v->type, sizeof(v->type), "%s", (const char *)sqlite3_column_text(s, 0));
    v->integer = sqlite3_column_int64(s, 1);
    v->real = sqlite3_column_double(s, 1);
    if( strcmp(v->type, "text") == 0 ){
      /* Every byte: a JSON string may hold \u0000 (kept by newer SQLite). */
      const char *text = (const char *)sqlite3_column_text(s, 1);
      size_t n = (size_t)sqlite3_column_bytes(s, 1);
      if( text && (v->text = malloc(n + 1)) != NULL ) memcpy(v->text, text, n + 1);
      if( v->text == NULL ) v->type[0] = 0;
    }
  }
  hf_json_done(j, s);
}

char *hf_json_text(hf_json *j, const char *doc, int64_t len, const char *path){
  hf_json_value v;
  hf_json_get(j, doc, len, path, &v);
  return v.text;
}

int hf_json_bool(hf_json *j, const char *doc, int64_t len, const char *path,
                 int *out){
  hf_json_value v;
  hf_json_get(j, doc, len, path, &v);
  free(v.text);
  if( strcmp(v.type, "true") != 0 && strcmp(v.type, "false") != 0 ) return 0;
  *out = v.type[0] == 't';
  return 1;
}
