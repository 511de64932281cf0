/*
** hf_json.h: the JSON of Hugging Face files (config.json, tokenizer.json,
** tokenizer_config.json, model.safetensors.index.json, a safetensors
** header), read with SQLite's JSON1 functions.
**
**   hf_json *j = hf_json_open(err, sizeof err);
**   hf_json_value v;
**   hf_json_get(j, config, -1, "$.num_hidden_layers", &v);
**       v.type "integer", v.integer 24; v.type "" if absent or not JSON
**   sqlite3_stmt *s = hf_json_each(j, header, len, "$");
**   while( sqlite3_step(s) == SQLITE_ROW ) ...   key, type, atom, value
**   hf_json_done(j, s);
**   hf_json_close(j);
**
** How it works: one private in-memory connection (database.h) runs
** json_type, json_extract and json_each, so no hand-written JSON parser
** sits between a hostile file and tensql.  A document is bound as text of
** `len` bytes (need not be NUL-terminated), or up to its NUL when len is
** negative; a NULL document (a file that is not there) has no values.
** Statements are kept and reused, so a walk per tensor of a safetensors
** header does not prepare SQL each time; walks may nest.  One hf_json is
** used by one thread at a time.
*/
#ifndef TENSQL_HF_JSON_H
#define TENSQL_HF_JSON_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hf_json hf_json;

/* A connection, or NULL with a message in err. */
hf_json *hf_json_open(char *err, size_t err_len);
/* Finalizes every statement, done or not.  NULL is a no-op. */
void hf_json_close(hf_json *j);

/* One value of a document. */
typedef struct hf_json_value {
  char type[8];     /* as json_type names it: "null", "true", "false",
                    ** "integer", "real", "text", "array", "object"; ""
                    ** when the path is absent or the document not JSON */
  int64_t integer;  /* the value read as an integer (0 if it is none) */
  double real;      /* ... and as a double */
  char *text;       /* a malloc'd copy when type is "text", else NULL;
                    ** the caller frees it */
} hf_json_value;

/* The value at path (a JSON path: "$.model.vocab", "$.eos_token_id[0]"). */
void hf_json_get(hf_json *j, const char *doc, int64_t len, const char *path,
                 hf_json_value *v);
/* The text at path, malloc'd; NULL if absent or not a string. */
char *hf_json_text(hf_json *j, const char *doc, int64_t len, const char *path);
/* 1 if the value at path is JSON true or false (into *out), else 0. */
int hf_json_bool(hf_json *j, const char *doc, int64_t len, const char *path,
                 int *out);

/* The members of the object (or elements of the array) at path, as rows
** of json_each's key, type, atom and value, in document order. */
sqlite3_stmt *hf_json_each(hf_json *j, const char *doc, int64_t len,
                           const char *path);
/* Any query over one document: sql reads it as ?1 (and may bind more
** parameters from ?2 on).  NULL if sql does not prepare. */
sqlite3_stmt *hf_json_query(hf_json *j, const char *sql, const char *doc,
                            int64_t len);
/* Hand back a statement from hf_json_each or hf_json_query, stepped to
** its end or not.  Returns the result of its last step if that was an
** error (its message is hf_json_error's until the next call), else
** SQLITE_OK. */
int hf_json_done(hf_json *j, sqlite3_stmt *s);
/* The message of the last error on the connection. */
const char *hf_json_error(hf_json *j);

#endif
