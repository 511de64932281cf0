/*
** tokenizer_load.c: build a tokenizer from the files models ship with.
**
**   tokenizer_load_llama2c("tok512.bin", 512, err, n)      llama2.c
**   tokenizer_load_gguf(g, err, n)                         GGUF metadata
**   tokenizer_load_hf("Qwen2.5-0.5B-Instruct/", err, n)   Hugging Face
**
** `tensql import` calls these and stores the result in the model
** database's vocab and merge tables; tests call them directly.
**
** Every format spells pieces its own way, and all of them are turned into
** the raw bytes the piece stands for (see tokenizer.h):
**   - SentencePiece writes a space as "▁" (U+2581) and a byte as "<0xHH>";
**   - GPT-2 byte-level BPE writes each byte as one code point (bytes that are
**     printable Latin-1 as themselves, the others as U+0100 upwards, so a
**     space is "Ġ"); its merges are spelled the same way.
** Control and added tokens ("<s>", "<|im_start|>") are written as they
** appear in text and are kept as they are.
**
** Hugging Face JSON is read with SQLite's JSON1 functions (hf_json.h).
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "format/file.h"
#include "format/gguf.h"
#include "format/hf_json.h"
#include "tokenizer.h"

static void load_error(char *err, size_t err_len, const char *fmt, ...){
  if( !err || err_len == 0 ) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

/* ---- piece spellings ------------------------------------------------------ */

/* A growable byte buffer for converted pieces. */
typedef struct load_buf {
  char *p;
  size_t len, cap;
} load_buf;

static int load_buf_put(load_buf *b, const char *s, size_t n){
  if( b->len + n > b->cap ){
    size_t cap = b->cap ? b->cap : 64;
    while( cap < b->len + n ) cap *= 2;
    char *p = realloc(b->p, cap);
    if( !p ) return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

static int load_hex_digit(char c){
  if( c >= '0' && c <= '9' ) return c - '0';
  if( c >= 'A' && c <= 'F' ) return c - 'A' + 10;
  if( c >= 'a' && c <= 'f' ) return c - 'a' + 10;
  return -1;
}

/* "<0xHH>" -> the byte, else -1. */
static int load_byte_piece(const char *s, size_t len){
  if( len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' ) return -1;
  int hi = load_hex_digit(s[3]), lo = load_hex_digit(s[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* SentencePiece: "▁" -> " " (the loader's only other change is byte tokens). */
static int load_spm_piece(load_buf *b, const char *s, size_t len){
  b->len = 0;
  for(size_t i = 0; i < len; ){
    if( i + 3 <= len && memcmp(s + i, "\xE2\x96\x81", 3) == 0 ){
      if( load_buf_put(b, " ", 1) ) return -1;
      i += 3;
    }else{
      if( load_buf_put(b, s + i, 1) ) return -1;
      i++;
    }
  }
  return 0;
}

void tokenizer_bytes_to_unicode(unsigned char bytes[256], unsigned code_points[256]){
  int n = 0, k = 0;
  for(int pass = 0; pass < 2; pass++){
    for(int b = 0; b < 256; b++){
      int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      if( printable != (pass == 0) ) continue;
      bytes[k] = (unsigned char)b;
      code_points[k++] = printable ? (unsigned)b : 256u + (unsigned)n++;
    }
  }
}

/* GPT-2's bytes_to_unicode, inverted: code point -> byte, or -1. */
typedef struct load_byte_level {
  short byte_of[256 + 68];
} load_byte_level;

static void load_byte_level_init(load_byte_level *m){
  unsigned char bytes[256];
  unsigned code_points[256];
  tokenizer_bytes_to_unicode(bytes, code_points);
  for(int c = 0; c < 256 + 68; c++) m->byte_of[c] = -1;
  for(int i = 0; i < 256; i++) m->byte_of[code_points[i]] = bytes[i];
}

/* One code point of one or two bytes of UTF-8 at s (all the map uses lie
** below U+0144); returns its length, 0 if the bytes are no such code point. */
static size_t load_utf8_decode(const unsigned char *s, size_t n, unsigned *cp){
  if( s[0] < 0x80 ){ *cp = s[0]; return 1; }
  if( (s[0] & 0xE0) == 0xC0 && n >= 2 && (s[1] & 0xC0) == 0x80 ){
    *cp = (unsigned)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    return *cp >= 0x80 ? 2 : 0;
  }
  return 0;
}

/* Byte-level spelling -> raw bytes; -1 if a character is not in the map. */
static int load_byte_level_piece(const load_byte_level *m, load_buf *b,
                                 const char *s, size_t len){
  b->len = 0;
  for(size_t i = 0; i < len; ){
    unsigned cp;
    size_t n = load_utf8_decode((const unsigned char *)s + i, len - i, &cp);
    if( n == 0 || cp >= 256 + 68 || m->byte_of[cp] < 0 ) return -1;
    char byte = (char)m->byte_of[cp];
    if( load_buf_put(b, &byte, 1) ) return -1;
    i += n;
  }
  return 0;
}

/* A merge line "left right": the split is the first space after the first
** byte (as llama.cpp reads it).  Both sides are converted from byte-level. */
static int load_bpe_merge(tokenizer *t, const load_byte_level *m, load_buf *lb,
                          load_buf *rb, const char *s, size_t len){
  const char *space = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
  if( !space ) return -1;
  size_t left_len = (size_t)(space - s);
  if( load_byte_level_piece(m, lb, s, left_len) ) return -1;
  if( load_byte_level_piece(m, rb, space + 1, len - left_len - 1) ) return -1;
  return tokenizer_add_merge(t, lb->p ? lb->p : "", lb->len, rb->p ? rb->p : "", rb->len);
}

/* ---- llama2.c tokenizer.bin ----------------------------------------------- */

/* Reads little-endian fields of tokenizer.bin with bounds checks. */
typedef struct load_reader {
  const unsigned char *p;
  size_t len, at;
} load_reader;

static int load_read_u32(load_reader *r, uint32_t *v){
  if( r->len - r->at < 4 ) return -1;
  const unsigned char *p = r->p + r->at;
  *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  r->at += 4;
  return 0;
}

/* llama2.c's export: id 0 is <unk>, 1 and 2 are BOS and EOS written as
** "\n<s>\n" and "\n</s>\n", "<0xHH>" are byte tokens, the rest are pieces
** with "▁" already replaced by a space. */
static int load_llama2c_token(tokenizer *t, int id, const char *s, size_t len,
                              float score){
  int byte = load_byte_piece(s, len);
  if( id == 0 ) return tokenizer_add_token(t, "<unk>", 5, score, TOKEN_UNKNOWN);
  if( id == 1 ) return tokenizer_add_token(t, "<s>", 3, score, TOKEN_CONTROL);
  if( id == 2 ) return tokenizer_add_token(t, "</s>", 4, score, TOKEN_CONTROL);
  if( byte >= 0 ){
    char c = (char)byte;
    return tokenizer_add_token(t, &c, 1, score, TOKEN_BYTE);
  }
  return tokenizer_add_token(t, s, len, score, TOKEN_NORMAL);
}

static int load_llama2c_tokens(tokenizer *t, load_reader *r, int vocab_size,
                               const char *path, char *err, size_t err_len){
  uint32_t max_len;
  if( load_read_u32(r, &max_len) ){
    load_error(err, err_len, "%s: no header", path);
    return -1;
  }
  for(int id = 0; id < vocab_size; id++){
    uint32_t score_bits, len;
    size_t at = r->at;
    if( load_read_u32(r, &score_bits) || load_read_u32(r, &len)
     || len > r->len - r->at ){
      load_error(err, err_len, "%s: token %d at offset %zu runs past the end "
                 "of the file (vocab_size %d too large?)", path, id, at, vocab_size);
      return -1;
    }
    float score;
    memcpy(&score, &score_bits, 4);
    if( load_llama2c_token(t, id, (const char *)r->p + r->at, len, score) ){
      load_error(err, err_len, "%s: out of memory at token %d", path, id);
      return -1;
    }
    r->at += len;
  }
  return 0;
}

tokenizer *tokenizer_load_llama2c(const char *path, int vocab_size,
                                  char *err, size_t err_len){
  if( vocab_size < 3 ){
    load_error(err, err_len, "%s: vocab_size %d is too small", path, vocab_size);
    return NULL;
  }
  size_t len;
  char *buf = file_read_all(path, &len, err, err_len);
  if( !buf ) return NULL;
  tokenizer *t = tokenizer_new(TOKENIZER_SPM, NULL);
  load_reader r = { (const unsigned char *)buf, len, 0 };
  int rc = !t ? -1 : load_llama2c_tokens(t, &r, vocab_size, path, err, err_len);
  free(buf);
  if( rc == 0 ){
    tokenizer_set_special(t, 1, 2, 1);
    rc = tokenizer_finish(t, err, err_len);
  }
  if( rc ){
    if( !t ) load_error(err, err_len, "out of memory");
    tokenizer_free(t);
    return NULL;
  }
  return t;
}

/* ---- GGUF ----------------------------------------------------------------- */

/* The value of integer key `name`, or dflt if absent or not an integer. */
static int64_t load_gguf_int(const gguf *g, const char *name, int64_t dflt){
  int64_t i = gguf_find_key(g, name), v;
  if( i < 0 || gguf_kv_int(g, (uint64_t)i, &v) ) return dflt;
  return v;
}

/* The index of array key `name` holding `want` elements (any count if want
** is 0) and its count; -1 if absent, -2 with err if it is another shape. */
static int64_t load_gguf_array(const gguf *g, const char *name, uint64_t want,
                               uint64_t *count, char *err, size_t err_len){
  int64_t i = gguf_find_key(g, name);
  gguf_type type;
  if( i < 0 ) return -1;
  if( gguf_arr_info(g, (uint64_t)i, &type, count) || (want && *count != want) ){
    load_error(err, err_len, "GGUF %s: expected an array of %llu elements",
               name, (unsigned long long)want);
    return -2;
  }
  return i;
}

/* One GGUF token, converted from its family's spelling. */
static int load_gguf_token(tokenizer *t, const load_byte_level *m, load_buf *b,
                           gguf_str s, float score, token_kind kind){
  int byte = load_byte_piece(s.ptr, s.len);
  if( kind == TOKEN_BYTE && byte >= 0 ){
    char c = (char)byte;
    return tokenizer_add_token(t, &c, 1, score, kind);
  }
  if( kind == TOKEN_NORMAL || (kind == TOKEN_USER_DEFINED
                               && tokenizer_kind_of(t) == TOKENIZER_SPM) ){
    int rc = tokenizer_kind_of(t) == TOKENIZER_SPM
           ? load_spm_piece(b, s.ptr, s.len)
           : load_byte_level_piece(m, b, s.ptr, s.len);
    if( rc ) return -1;
    return tokenizer_add_token(t, b->p ? b->p : "", b->len, score, kind);
  }
  return tokenizer_add_token(t, s.ptr, s.len, score, kind);
}

static int load_gguf_tokens(tokenizer *t, const gguf *g, char *err, size_t err_len){
  uint64_t n, n2;
  int64_t tokens = load_gguf_array(g, "tokenizer.ggml.tokens", 0, &n, err, err_len);
  if( tokens == -1 ) load_error(err, err_len, "GGUF has no tokenizer.ggml.tokens");
  if( tokens < 0 ) return -1;
  if( n > INT32_MAX / 2 ){
    load_error(err, err_len, "GGUF tokenizer.ggml.tokens: %llu tokens is too many",
               (unsigned long long)n);
    return -1;
  }
  int64_t scores = load_gguf_array(g, "tokenizer.ggml.scores", n, &n2, err, err_len);
  int64_t types = load_gguf_array(g, "tokenizer.ggml.token_type", n, &n2, err, err_len);
  if( scores == -2 || types == -2 ) return -1;
  load_byte_level m;
  load_byte_level_init(&m);
  load_buf b = {0};
  int rc = 0;
  for(uint64_t id = 0; rc == 0 && id < n; id++){
    gguf_str s;
    double score = 0;
    int64_t type = TOKEN_NORMAL;
    if( gguf_arr_string(g, (uint64_t)tokens, id, &s)
     || (scores >= 0 && gguf_arr_float(g, (uint64_t)scores, id, &score))
     || (types >= 0 && gguf_arr_int(g, (uint64_t)types, id, &type)) ){
      load_error(err, err_len, "GGUF token %llu: wrong element type",
                 (unsigned long long)id);
      rc = -1;
    }else if( type < TOKEN_NORMAL || type > TOKEN_BYTE ){
      load_error(err, err_len, "GGUF token %llu: unknown token_type %lld",
                 (unsigned long long)id, (long long)type);
      rc = -1;
    }else if( load_gguf_token(t, &m, &b, s, (float)score, (token_kind)type) ){
      load_error(err, err_len, "GGUF token %llu (\"%.*s\") is not a valid %s piece",
                 (unsigned long long)id, (int)(s.len > 40 ? 40 : s.len), s.ptr,
                 tokenizer_kind_of(t) == TOKENIZER_SPM ? "SentencePiece" : "byte-level");
      rc = -1;
    }
  }
  free(b.p);
  return rc;
}

static int load_gguf_merges(tokenizer *t, const gguf *g, char *err, size_t err_len){
  uint64_t n;
  int64_t merges = load_gguf_array(g, "tokenizer.ggml.merges", 0, &n, err, err_len);
  if( merges == -1 ) return 0;
  if( merges < 0 ) return -1;
  load_byte_level m;
  load_byte_level_init(&m);
  load_buf lb = {0}, rb = {0};
  int rc = 0;
  for(uint64_t i = 0; rc == 0 && i < n; i++){
    gguf_str s;
    if( gguf_arr_string(g, (uint64_t)merges, i, &s)
     || load_bpe_merge(t, &m, &lb, &rb, s.ptr, s.len) ){
      load_error(err, err_len, "GGUF merge %llu is not \"left right\" in byte-level "
                 "spelling", (unsigned long long)i);
      rc = -1;
    }
  }
  free(lb.p);
  free(rb.p);
  return rc;
}

/* The tokenizer kind and pre-tokenizer a GGUF names; NULL with err if tensql
** has neither. */
static tokenizer *load_gguf_new(const gguf *g, char *err, size_t err_len){
  char *model = gguf_get_string_dup(g, "tokenizer.ggml.model");
  char *pre = gguf_get_string_dup(g, "tokenizer.ggml.pre");
  tokenizer *t = NULL;
  if( !model ){
    load_error(err, err_len, "GGUF has no tokenizer.ggml.model");
  }else if( strcmp(model, "llama") == 0 ){
    t = tokenizer_new(TOKENIZER_SPM, NULL);
  }else if( strcmp(model, "gpt2") == 0 ){
    t = tokenizer_new(TOKENIZER_BPE, pre);
    if( !t ){
      load_error(err, err_len, "GGUF tokenizer.ggml.pre \"%s\" is not supported "
                 "(gpt-2, qwen2)", pre ? pre : "(none)");
    }
  }else{
    load_error(err, err_len, "GGUF tokenizer.ggml.model \"%s\" is not supported "
               "(llama, gpt2)", model);
  }
  free(model);
  free(pre);
  return t;
}

tokenizer *tokenizer_load_gguf(const struct gguf *g, char *err, size_t err_len){
  tokenizer *t = load_gguf_new(g, err, err_len);
  if( !t ) return NULL;
  int spm = tokenizer_kind_of(t) == TOKENIZER_SPM;
  if( load_gguf_tokens(t, g, err, err_len) || load_gguf_merges(t, g, err, err_len) ){
    tokenizer_free(t);
    return NULL;
  }
  /* llama.cpp's defaults when a key is absent: SPM adds BOS and the dummy
  ** prefix, BPE neither. */
  tokenizer_set_special(t, (int)load_gguf_int(g, "tokenizer.ggml.bos_token_id", -1),
                        (int)load_gguf_int(g, "tokenizer.ggml.eos_token_id", -1),
                        (int)load_gguf_int(g, "tokenizer.ggml.add_bos_token", spm));
  tokenizer_set_add_space_prefix(t,
    (int)load_gguf_int(g, "tokenizer.ggml.add_space_prefix", spm));
  if( tokenizer_finish(t, err, err_len) ){
    tokenizer_free(t);
    return NULL;
  }
  return t;
}

/* ---- Hugging Face ----------------------------------------------------------- */

/* Ids from LOAD_HF_MAX_ID up are refused: the vocab below is as long as
** its largest id, so one stray id of 10^9 in a small file would cost
** gigabytes.  Real vocabularies stop near 262,144 (Gemma 3); llama2.c
** checkpoints may have 2^22 tokens too (import_llama2c.c). */
#define LOAD_HF_MAX_ID (1 << 22)

/* The vocab gathered from the JSON files, by id, before the tokenizer is
** built (ids arrive in any order; gaps become unused tokens). */
typedef struct load_hf_vocab {
  char **piece;              /* malloc'd, raw bytes */
  size_t *len;
  token_kind *kind;
  int n, cap;
} load_hf_vocab;

static void load_hf_vocab_free(load_hf_vocab *v){
  for(int i = 0; i < v->n; i++) free(v->piece[i]);
  free(v->piece);
  free(v->len);
  free(v->kind);
}

static int load_hf_vocab_set(load_hf_vocab *v, int64_t id, const char *s,
                             size_t len, token_kind kind){
  if( id < 0 || id >= LOAD_HF_MAX_ID ) return -1;
  if( id >= v->cap ){
    int cap = v->cap ? v->cap : 1024;
    while( cap <= id ) cap *= 2;
    char **p = realloc(v->piece, (size_t)cap * sizeof *p);
    if( p ) v->piece = p;
    size_t *l = realloc(v->len, (size_t)cap * sizeof *l);
    if( l ) v->len = l;
    token_kind *k = realloc(v->kind, (size_t)cap * sizeof *k);
    if( k ) v->kind = k;
    if( !p || !l || !k ) return -1;
    v->cap = cap;
  }
  for(; v->n <= id; v->n++){
    v->piece[v->n] = NULL;
    v->len[v->n] = 0;
    v->kind[v->n] = TOKEN_UNUSED;
  }
  char *copy = malloc(len + 1);
  if( !copy ) return -1;
  memcpy(copy, s, len);
  free(v->piece[id]);
  v->piece[id] = copy;
  v->len[id] = len;
  v->kind[id] = kind;
  return 0;
}

/* What the loader has open: the JSON connection and converted-piece buffers. */
typedef struct load_hf {
  const char *dir;
  hf_json *json;
  load_byte_level map;
  load_buf a, b;
  load_hf_vocab vocab;
  char *config;              /* tokenizer_config.json text, or NULL */
  char *err;
  size_t err_len;
} load_hf;

static char *load_hf_path(const load_hf *h, const char *name){
  size_t n = strlen(h->dir) + strlen(name) + 2;
  char *p = malloc(n);
  if( p ) snprintf(p, n, "%s/%s", h->dir, name);
  return p;
}

static int load_hf_exists(const load_hf *h, const char *name){
  char *p = load_hf_path(h, name);
  FILE *f = p ? fopen(p, "rb") : NULL;
  free(p);
  if( f ) fclose(f);
  return f != NULL;
}

/* Read dir/name, or NULL with err. */
static char *load_hf_file(load_hf *h, const char *name, size_t *len){
  char *p = load_hf_path(h, name);
  char *text = p ? file_read_all(p, len, h->err, h->err_len) : NULL;
  free(p);
  return text;
}

/* Run `sql` over the JSON text of file (hf_json_query); NULL with err. */
static sqlite3_stmt *load_hf_query(load_hf *h, const char *sql, const char *json,
                                   const char *file){
  sqlite3_stmt *st = hf_json_query(h->json, sql, json, -1);
  if( !st ){
    load_error(h->err, h->err_len, "%s/%s: %s", h->dir, file, hf_json_error(h->json));
  }
  return st;
}

/* Finish a query loop: 0 if it ran to the end, else -1 with err. */
static int load_hf_done(load_hf *h, sqlite3_stmt *st, int rc, const char *file){
  if( rc != SQLITE_DONE && rc != SQLITE_ROW ){
    load_error(h->err, h->err_len, "%s/%s: %s", h->dir, file, hf_json_error(h->json));
  }
  hf_json_done(h->json, st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* Vocab entries {"piece": id, ...} at `path` of json, in byte-level spelling. */
static int load_hf_vocab_object(load_hf *h, const char *json, const char *path,
                                const char *file){
  sqlite3_stmt *st = load_hf_query(h,
    "SELECT key, value FROM json_each(?1, ?2) WHERE type = 'integer'", json, file);
  if( !st ) return -1;
  sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
  int rc;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    const char *s = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    int64_t id = sqlite3_column_int64(st, 1);
    if( load_byte_level_piece(&h->map, &h->a, s, len)
     || load_hf_vocab_set(&h->vocab, id, h->a.p ? h->a.p : "", h->a.len, TOKEN_NORMAL) ){
      load_error(h->err, h->err_len, "%s/%s: vocab entry \"%.40s\" (id %lld) is "
                 "not a byte-level piece with an id below %d", h->dir, file, s,
                 (long long)id, LOAD_HF_MAX_ID);
      hf_json_done(h->json, st);
      return -1;
    }
  }
  if( h->vocab.n == 0 && rc == SQLITE_DONE ){
    load_error(h->err, h->err_len, "%s/%s: no vocab at %s", h->dir, file, path);
    hf_json_done(h->json, st);
    return -1;
  }
  return load_hf_done(h, st, rc, file);
}

/* Added tokens as written: special ones are control tokens, the others
** user-defined.  `sql` yields (id, content, special). */
static int load_hf_added(load_hf *h, const char *sql, const char *json,
                         const char *file){
  sqlite3_stmt *st = load_hf_query(h, sql, json, file);
  if( !st ) return -1;
  int rc;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    int64_t id = sqlite3_column_int64(st, 0);
    const char *s = (const char *)sqlite3_column_text(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    token_kind kind = sqlite3_column_int(st, 2) ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
    if( sqlite3_column_type(st, 0) != SQLITE_INTEGER || !s
     || load_hf_vocab_set(&h->vocab, id, s, len, kind) ){
      load_error(h->err, h->err_len, "%s/%s: bad added token id %lld",
                 h->dir, file, (long long)id);
      hf_json_done(h->json, st);
      return -1;
    }
  }
  return load_hf_done(h, st, rc, file);
}

/* merges.txt: one "left right" per line; only a first line starting with
** "#version" is a header (96 Qwen merges start with '#'). */
static int load_hf_merges_txt(load_hf *h, tokenizer *t){
  size_t len;
  char *text = load_hf_file(h, "merges.txt", &len);
  if( !text ) return -1;
  int rc = 0, line_no = 0;
  for(char *line = text; rc == 0 && line < text + len; line_no++){
    char *end = memchr(line, '\n', (size_t)(text + len - line));
    if( !end ) end = text + len;
    size_t n = (size_t)(end - line);
    if( n > 0 && line[n - 1] == '\r' ) n--;
    int header = line_no == 0 && n >= 8 && memcmp(line, "#version", 8) == 0;
    if( n > 0 && !header && load_bpe_merge(t, &h->map, &h->a, &h->b, line, n) ){
      load_error(h->err, h->err_len, "%s/merges.txt line %d is not \"left right\" "
                 "in byte-level spelling", h->dir, line_no + 1);
      rc = -1;
    }
    line = end + 1;
  }
  free(text);
  return rc;
}

/* tokenizer.json merges: "left right" strings, or [left, right] pairs in
** files written by tokenizers >= 0.20. */
static int load_hf_merges_json(load_hf *h, tokenizer *t, const char *json){
  sqlite3_stmt *st = load_hf_query(h,
    "SELECT CASE type WHEN 'array' THEN json_extract(value, '$[0]') || ' ' || "
    "json_extract(value, '$[1]') ELSE value END "
    "FROM json_each(?1, '$.model.merges')", json, "tokenizer.json");
  if( !st ) return -1;
  int rc, i = 0;
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    const char *s = (const char *)sqlite3_column_text(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if( !s || load_bpe_merge(t, &h->map, &h->a, &h->b, s, n) ){
      load_error(h->err, h->err_len, "%s/tokenizer.json merge %d is not a byte-level "
                 "pair", h->dir, i);
      hf_json_done(h->json, st);
      return -1;
    }
    i++;
  }
  return load_hf_done(h, st, rc, "tokenizer.json");
}

/* The Split regex of Qwen2's tokenizer.json, as JSON1 decodes it. */
static const char load_hf_qwen2_regex[] =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Which pre-tokenizer a tokenizer.json describes: a ByteLevel that splits
** with GPT-2's regex, or a Sequence of Qwen2's Split and a ByteLevel. */
static const char *load_hf_json_pre(load_hf *h, const char *json){
  char *type = hf_json_text(h->json, json, -1, "$.pre_tokenizer.type");
  char *regex = hf_json_text(h->json, json, -1,
    "$.pre_tokenizer.pretokenizers[0].pattern.Regex");
  char *second = hf_json_text(h->json, json, -1,
    "$.pre_tokenizer.pretokenizers[1].type");
  const char *pre = NULL;
  int use_regex = 1;
  hf_json_bool(h->json, json, -1, "$.pre_tokenizer.use_regex", &use_regex);
  if( type && strcmp(type, "ByteLevel") == 0 && use_regex ) pre = "gpt2";
  if( type && strcmp(type, "Sequence") == 0 && regex && second
   && strcmp(regex, load_hf_qwen2_regex) == 0 && strcmp(second, "ByteLevel") == 0 ){
    pre = "qwen2";
  }
  if( !pre ){
    load_error(h->err, h->err_len, "%s/tokenizer.json: pre-tokenizer %s%s%.60s is not "
               "supported (GPT-2 ByteLevel, Qwen2 Split + ByteLevel)", h->dir,
               type ? type : "(none)", regex ? " with regex " : "", regex ? regex : "");
  }
  free(type);
  free(regex);
  free(second);
  return pre;
}

/* Which pre-tokenizer vocab.json + merges.txt need, from the tokenizer class
** in tokenizer_config.json (GPT-2's when there is none). */
static const char *load_hf_class_pre(load_hf *h){
  char *cls = h->config ? hf_json_text(h->json, h->config, -1, "$.tokenizer_class") : NULL;
  const char *pre = NULL;
  if( !cls || strncmp(cls, "GPT2Tokenizer", 13) == 0 ) pre = "gpt2";
  else if( strncmp(cls, "Qwen2Tokenizer", 14) == 0 ) pre = "qwen2";
  else{
    load_error(h->err, h->err_len, "%s/tokenizer_config.json: tokenizer_class \"%s\" "
               "is not supported (GPT2Tokenizer, Qwen2Tokenizer)", h->dir, cls);
  }
  free(cls);
  return pre;
}

/* A byte-level BPE model; no normaliser but NFC, which tensql skips (see
** tokenizer.h). */
static int load_hf_check_model(load_hf *h, const char *json){
  char *type = hf_json_text(h->json, json, -1, "$.model.type");
  char *norm = hf_json_text(h->json, json, -1, "$.normalizer.type");
  int ok = type && strcmp(type, "BPE") == 0;
  if( !ok ){
    load_error(h->err, h->err_len, "%s/tokenizer.json: model type %s is not "
               "supported (byte-level BPE)", h->dir, type ? type : "(none)");
  }else if( norm && strcmp(norm, "NFC") != 0 ){
    load_error(h->err, h->err_len, "%s/tokenizer.json: normalizer %s is not "
               "supported (none, NFC)", h->dir, norm);
    ok = 0;
  }
  free(type);
  free(norm);
  return ok ? 0 : -1;
}

static const char load_hf_added_json_sql[] =
  "SELECT json_extract(value, '$.id'), json_extract(value, '$.content'), "
  "json_extract(value, '$.special') FROM json_each(?1, '$.added_tokens')";
static const char load_hf_added_config_sql[] =
  "SELECT CAST(key AS INTEGER), json_extract(value, '$.content'), "
  "json_extract(value, '$.special') FROM json_each(?1, '$.added_tokens_decoder')";

/* Read the vocab and added tokens; return the pre-tokenizer name. */
static const char *load_hf_read_vocab(load_hf *h, char **tokenizer_json){
  size_t len;
  const char *pre = NULL;
  if( load_hf_exists(h, "tokenizer.json") ){
    char *json = load_hf_file(h, "tokenizer.json", &len);
    if( !json || load_hf_check_model(h, json) || !(pre = load_hf_json_pre(h, json))
     || load_hf_vocab_object(h, json, "$.model.vocab", "tokenizer.json")
     || load_hf_added(h, load_hf_added_json_sql, json, "tokenizer.json") ){
      free(json);
      return NULL;
    }
    *tokenizer_json = json;
  }else{
    char *json = load_hf_file(h, "vocab.json", &len);
    pre = json ? load_hf_class_pre(h) : NULL;
    if( pre && load_hf_vocab_object(h, json, "$", "vocab.json") ) pre = NULL;
    free(json);
    if( !pre ) return NULL;
  }
  if( h->config && load_hf_added(h, load_hf_added_config_sql, h->config,
                                 "tokenizer_config.json") ) return NULL;
  return pre;
}

int tokenizer_hf_special_id(hf_json *j, const tokenizer *t,
                            const char *tokenizer_config, const char *config,
                            const char *which, int *id, char *err, size_t err_len){
  char path[64];
  hf_json_value v;
  *id = -1;
  snprintf(path, sizeof path, "$.%s_token.content", which);
  char *s = hf_json_text(j, tokenizer_config, -1, path);
  if( !s ){
    snprintf(path, sizeof path, "$.%s_token", which);
    s = hf_json_text(j, tokenizer_config, -1, path);
  }
  if( s ) *id = tokenizer_find(t, s, strlen(s));
  free(s);
  if( *id >= 0 ) return 0;
  snprintf(path, sizeof path, "$.%s_token_id", which);
  hf_json_get(j, config, -1, path, &v);
  if( strcmp(v.type, "array") == 0 ){
    snprintf(path, sizeof path, "$.%s_token_id[0]", which);
    hf_json_get(j, config, -1, path, &v);
  }
  free(v.text);
  if( strcmp(v.type, "integer") != 0 ) return 0;
  if( v.integer < 0 || v.integer >= tokenizer_vocab_size(t) ){
    load_error(err, err_len, "%s_token_id %lld is not in the vocabulary",
               which, (long long)v.integer);
    return -1;
  }
  *id = (int)v.integer;
  return 0;
}

static void load_hf_specials(load_hf *h, tokenizer *t){
  if( !h->config ) return;
  hf_json_value v;   /* a number or true, as SQLite reads it as an integer */
  hf_json_get(h->json, h->config, -1, "$.add_bos_token", &v);
  free(v.text);
  int bos, eos;   /* from tokenizer_config.json alone, which cannot fail */
  tokenizer_hf_special_id(h->json, t, h->config, NULL, "bos", &bos, NULL, 0);
  tokenizer_hf_special_id(h->json, t, h->config, NULL, "eos", &eos, NULL, 0);
  tokenizer_set_special(t, bos, eos, v.integer != 0);
}

static tokenizer *load_hf_build(load_hf *h, const char *pre, const char *json){
  tokenizer *t = tokenizer_new(TOKENIZER_BPE, pre);
  int rc = t ? 0 : -1;
  for(int id = 0; rc == 0 && id < h->vocab.n; id++){
    const char *p = h->vocab.piece[id];
    rc = tokenizer_add_token(t, p ? p : "", h->vocab.len[id], 0, h->vocab.kind[id]);
  }
  if( rc ) load_error(h->err, h->err_len, "%s: out of memory", h->dir);
  if( rc == 0 ) rc = json ? load_hf_merges_json(h, t, json) : load_hf_merges_txt(h, t);
  if( rc == 0 ){
    load_hf_specials(h, t);
    rc = tokenizer_finish(t, h->err, h->err_len);
  }
  if( rc ){
    tokenizer_free(t);
    return NULL;
  }
  return t;
}

tokenizer *tokenizer_load_hf(const char *dir, char *err, size_t err_len){
  load_hf h = { .dir = dir, .err = err, .err_len = err_len };
  load_byte_level_init(&h.map);
  char msg[256];
  if( (h.json = hf_json_open(msg, sizeof msg)) == NULL ){
    load_error(err, err_len, "%s: %s", dir, msg);
    return NULL;
  }
  size_t len;
  char *json = NULL;
  tokenizer *t = NULL;
  const char *pre = NULL;
  int has_config = load_hf_exists(&h, "tokenizer_config.json");
  if( has_config ) h.config = load_hf_file(&h, "tokenizer_config.json", &len);
  if( !has_config || h.config ) pre = load_hf_read_vocab(&h, &json);
  if( pre ) t = load_hf_build(&h, pre, json);
  free(json);
  free(h.config);
  free(h.a.p);
  free(h.b.p);
  load_hf_vocab_free(&h.vocab);
  hf_json_close(h.json);
  return t;
}
