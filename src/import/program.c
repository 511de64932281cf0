/*
** program.c: instantiates the forward-pass template sql/llama.sql (see the
** comment at its top for the directives) into a model database's program
** table.  Both llama and qwen2 use it: qwen2 differs only by its q/k/v
** biases, which take the statements under `@if-tensor` instead of those
** under `@unless-tensor`, and by RoPE style and constants, which the
** kernels read from the model's metadata.
*/
#include "program.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char sql_text_llama[];

enum section { SECTION_FIRST, SECTION_LAYER, SECTION_FINAL };

typedef struct program_writer {
  sqlite3 *db;
  sqlite3_stmt *insert;
  sqlite3_stmt *has_tensor;
  int n_layers;
  const char *output;          /* the logits matrix's table */
  int step;
  char *err;
  size_t err_len;
} program_writer;

/* Replace {L} and {output} in text; returns a sqlite3_malloc'd string. */
static char *instantiate(const program_writer *p, const char *text, int layer){
  sqlite3_str *out = sqlite3_str_new(0);
  for(const char *c = text; *c; c++){
    if( strncmp(c, "{L}", 3) == 0 ){
      sqlite3_str_appendf(out, "%d", layer);
      c += 2;
    }else if( strncmp(c, "{output}", 8) == 0 ){
      sqlite3_str_appendall(out, p->output);
      c += 7;
    }else{
      sqlite3_str_appendchar(out, 1, *c);
    }
  }
  return sqlite3_str_finish(out);
}

static int tensor_exists(const program_writer *p, const char *name){
  sqlite3_reset(p->has_tensor);
  sqlite3_bind_text(p->has_tensor, 1, name, -1, SQLITE_TRANSIENT);
  return sqlite3_step(p->has_tensor) == SQLITE_ROW;
}

/* Emit one template statement for one layer (or -1 outside the layer
** block), unless its condition fails: cond is a tensor name (@if-tensor),
** or one after '!' (@unless-tensor). */
static int statement_emit(program_writer *p, const char *text, const char *cond,
                          int layer){
  if( cond[0] ){
    int negated = cond[0] == '!';
    char *name = instantiate(p, cond + negated, layer);
    if( name == 0 ) return -1;
    int keep = tensor_exists(p, name) != negated;
    sqlite3_free(name);
    if( !keep ) return 0;
  }
  char *sql = instantiate(p, text, layer);
  if( sql == 0 ) return -1;
  sqlite3_reset(p->insert);
  sqlite3_bind_int(p->insert, 1, ++p->step);
  if( layer >= 0 ) sqlite3_bind_int(p->insert, 2, layer);
  else sqlite3_bind_null(p->insert, 2);
  sqlite3_bind_text(p->insert, 3, sql, -1, sqlite3_free);
  if( sqlite3_step(p->insert) != SQLITE_DONE ){
    snprintf(p->err, p->err_len, "program: %s", sqlite3_errmsg(p->db));
    return -1;
  }
  return 0;
}

/* A parsed template statement: its text (comments included) and section. */
typedef struct template_statement {
  char *text;
  char cond[128];
  enum section section;
} template_statement;

/* The template's statements, as many as it holds. */
typedef struct template {
  template_statement *statements;
  int n, cap;
} template;

static void template_free(template *t){
  for(int i = 0; i < t->n; i++) sqlite3_free(t->statements[i].text);
  sqlite3_free(t->statements);
}

static int template_add(template *t, const char *text, const char *cond, enum section section){
  if( t->n == t->cap ){
    int cap = t->cap ? 2 * t->cap : 32;
    template_statement *grown = sqlite3_realloc64(t->statements, (uint64_t)cap * sizeof *grown);
    if( grown == 0 ) return -1;
    t->statements = grown;
    t->cap = cap;
  }
  template_statement *s = &t->statements[t->n];
  s->text = sqlite3_mprintf("%s", text);
  snprintf(s->cond, sizeof s->cond, "%s", cond);
  s->section = section;
  return s->text ? (t->n++, 0) : -1;
}

/* Split the template into statements, each ending where SQLite says one
** is complete (sqlite3_complete: a semicolon outside strings and
** comments).  Comment lines directly above a statement stay with it; a
** blank line before the statement's SQL begins drops them.  Returns 0, or
** -1 with err. */
static int template_parse(const char *src, template *t, char *err, size_t err_len){
  enum section section = SECTION_FIRST;
  sqlite3_str *cur = sqlite3_str_new(0);
  char cond[128] = "";
  int has_sql = 0, rc = 0;
  while( *src && rc == 0 ){
    const char *eol = strchr(src, '\n');
    size_t len = eol ? (size_t)(eol - src) : strlen(src);
    if( strncmp(src, "-- @layer", 9) == 0 ) section = SECTION_LAYER;
    else if( strncmp(src, "-- @final", 9) == 0 ) section = SECTION_FINAL;
    else if( strncmp(src, "-- @if-tensor ", 14) == 0 ){
      snprintf(cond, sizeof cond, "%.*s", (int)(len - 14), src + 14);
    }else if( strncmp(src, "-- @unless-tensor ", 18) == 0 ){
      snprintf(cond, sizeof cond, "!%.*s", (int)(len - 18), src + 18);
    }else if( len == 0 && !has_sql ){
      sqlite3_str_reset(cur);
    }else{
      sqlite3_str_appendf(cur, "%.*s\n", (int)len, src);
      has_sql |= strncmp(src, "--", 2) != 0 && len > 0;
      if( has_sql && sqlite3_complete(sqlite3_str_value(cur)) ){
        rc = template_add(t, sqlite3_str_value(cur), cond, section);
        cond[0] = 0;
        has_sql = 0;
        sqlite3_str_reset(cur);
      }
    }
    src += len + (eol ? 1 : 0);
  }
  if( rc == 0 && has_sql ){
    snprintf(err, err_len, "program: the template's last statement has no ';':\n%s",
             sqlite3_str_value(cur));
    rc = -1;
  }else if( rc ){
    snprintf(err, err_len, "program: out of memory");
  }
  sqlite3_free(sqlite3_str_finish(cur));
  return rc;
}

static int program_emit_all(program_writer *p, const template *tpl){
  const template_statement *t = tpl->statements;
  int n = tpl->n;
  int rc = 0;
  for(int i = 0; rc == 0 && i < n; i++){
    if( t[i].section == SECTION_FIRST ) rc = statement_emit(p, t[i].text, t[i].cond, -1);
  }
  for(int layer = 0; layer < p->n_layers; layer++){
    for(int i = 0; rc == 0 && i < n; i++){
      if( t[i].section == SECTION_LAYER ) rc = statement_emit(p, t[i].text, t[i].cond, layer);
    }
  }
  for(int i = 0; rc == 0 && i < n; i++){
    if( t[i].section == SECTION_FINAL ) rc = statement_emit(p, t[i].text, t[i].cond, -1);
  }
  return rc;
}

static int meta_int(sqlite3 *db, const char *sql){
  sqlite3_stmt *st = 0;
  int v = -1;
  sqlite3_prepare_v2(db, sql, -1, &st, 0);
  if( sqlite3_step(st) == SQLITE_ROW ) v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

int program_write(sqlite3 *db, char *err, size_t err_len){
  return program_write_template(db, sql_text_llama, err, err_len);
}

int program_write_template(sqlite3 *db, const char *text, char *err, size_t err_len){
  program_writer p = { .db = db, .err = err, .err_len = err_len };
  p.n_layers = meta_int(db, "SELECT value FROM meta WHERE key ="
                        " (SELECT value FROM meta WHERE key = 'general.architecture')"
                        " || '.block_count'");
  if( p.n_layers <= 0 ){
    snprintf(err, err_len, "program: the model's block_count is missing");
    return -1;
  }
  template t = {0};
  int rc = -1;
  if( sqlite3_prepare_v2(db, "INSERT INTO program(step, layer, sql) VALUES (?,?,?)", -1,
                         &p.insert, 0) != SQLITE_OK
   || sqlite3_prepare_v2(db, "SELECT 1 FROM tensor WHERE name = ?", -1, &p.has_tensor, 0)
      != SQLITE_OK ){
    snprintf(err, err_len, "program: %s", sqlite3_errmsg(db));
  }else if( template_parse(text, &t, err, err_len) == 0 ){
    p.output = tensor_exists(&p, "output.weight") ? "output.weight" : "token_embd.weight";
    rc = program_emit_all(&p, &t);
  }
  template_free(&t);
  sqlite3_finalize(p.insert);
  sqlite3_finalize(p.has_tensor);
  return rc;
}
