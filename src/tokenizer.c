/*
** tokenizer.c: text to token ids and back (the contract is tokenizer.h).
**
** A model database's vocab and merge tables, a GGUF file or a Hugging Face
** directory fill a tokenizer through tokenizer_add_*; tokenizer_finish then
** builds the lookup tables, and from there on encode and decode only read,
** so one tokenizer serves every connection and thread.  The SQL face
** (`generate`) calls tokenizer_encode on prompts and tokenizer_decode_piece
** on each generated token.
**
** How it works:
**   - Every piece is stored as the raw bytes it stands for.  A hash table
**     maps those bytes to an id, preferring ordinary pieces over byte,
**     control and other tokens that spell the same bytes.
**   - Special and added tokens are cut out of the text first (leftmost,
**     longest match, as Hugging Face's added-token matcher does); the text
**     between them is encoded on its own.
**   - SPM (llama.cpp's llm_tokenizer_spm, llama2.c's encode): the fragment,
**     with a dummy-prefix space, is split into UTF-8 characters; a heap
**     repeatedly merges the adjacent pair whose concatenation is the piece
**     with the highest score (leftmost on ties); characters that are no
**     piece become <0xHH> byte tokens.  The fragment is first cut where no
**     merge can cross (see tokenizer_spm_fragment), so heaps stay small.
**   - BPE (GPT-2, Qwen2): a PCRE2 regex splits the fragment into
**     pre-tokens; inside each, bytes start as single-byte pieces and a heap
**     applies the merge of lowest rank (leftmost on ties) until none applies.
**   - Long texts repeat words: an encode call caches the ids of short
**     chunks (pre-tokens, SPM segments) it has already encoded.
**
** Limits: no Unicode normalisation (Qwen2's Hugging Face tokenizer applies
** NFC first; llama.cpp does not, and neither do we).  Inputs of INT_MAX
** bytes or more are refused.
*/
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <xxhash.h>

#include "tokenizer.h"

/* ---- the tokenizer ------------------------------------------------------- */

typedef struct tokenizer_entry {
  uint32_t offset;           /* of the piece in tokenizer.text */
  uint32_t len;
  float score;
  token_kind kind;
} tokenizer_entry;

typedef struct tokenizer_merge_entry {
  uint32_t left_offset, left_len;   /* in tokenizer.text */
  uint32_t right_offset, right_len;
} tokenizer_merge_entry;

/* Open-addressing slot of the piece table; id -1 marks an empty slot. */
typedef struct tokenizer_piece_slot {
  uint32_t hash;
  int32_t id;
} tokenizer_piece_slot;

/* A hash table keyed by a pair of 32-bit values (first << 32 | second);
** UINT64_MAX marks an empty slot.  BPE keys merges by (left id, right id);
** SPM keeps the set of adjacent characters (first, second) seen inside
** pieces, with rank and result unused. */
typedef struct tokenizer_pair_slot {
  uint64_t key;
  int32_t rank;
  int32_t result;            /* id of the merged piece */
} tokenizer_pair_slot;

typedef struct tokenizer_pair_table {
  tokenizer_pair_slot *slots;
  uint64_t mask, count;
} tokenizer_pair_table;

/* A token that encode cuts out of the text before the SPM/BPE pass. */
typedef struct tokenizer_special {
  int32_t id;
  uint32_t len;
  unsigned char first;       /* first byte of the piece */
  int always;                /* user-defined: matched even without parse_special */
} tokenizer_special;

struct tokenizer {
  tokenizer_kind kind;
  const char *pre;           /* "gpt2", "qwen2" or NULL (SPM) */
  int finished;

  char *text;                /* every piece and merge side, back to back */
  size_t text_len, text_cap;
  tokenizer_entry *tokens;
  int n_tokens, tokens_cap;
  tokenizer_merge_entry *merges;
  int n_merges, merges_cap;

  int bos, eos, add_bos;
  int unk;                   /* first TOKEN_UNKNOWN, or -1 */
  int add_space_prefix;      /* SPM: encode prepends a dummy space */

  /* Built by tokenizer_finish. */
  tokenizer_piece_slot *pieces;
  uint32_t pieces_mask;
  tokenizer_pair_table merges_by_pair;  /* BPE */
  tokenizer_pair_table joins;          /* SPM: see tokenizer_spm_segment */
  int byte_token[256];       /* SPM: the <0xHH> token; BPE: the 1-byte piece */
  tokenizer_special *specials;   /* sorted by first byte, then longest first */
  int n_specials;
  int special_first[257];    /* specials starting with byte b: [first[b], first[b+1]) */
  int has_always_special;
  pcre2_code *split;         /* BPE pre-tokenizer */
  pcre2_match_context *split_limits;
};

static void tokenizer_error(char *err, size_t err_len, const char *fmt, ...){
  if( !err || err_len == 0 ) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

/* The pre-tokenizer regexes, written as in Hugging Face's tokenizer.json
** except that \s is spelled out as Unicode White_Space (the set Oniguruma,
** which Hugging Face uses, gives \s): PCRE2's \s also takes U+180E. */
#define WS "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}"
static const char tokenizer_regex_gpt2[] =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+"
  "|[" WS "]+(?![^" WS "])|[" WS "]+";
static const char tokenizer_regex_qwen2[] =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
  "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+"
  "|[" WS "]+(?![^" WS "])|[" WS "]+";
#undef WS

static const char *tokenizer_pre_regex(const char *pre, const char **name){
  if( !pre ) return NULL;
  if( strcmp(pre, "gpt2") == 0 || strcmp(pre, "gpt-2") == 0 ){
    *name = "gpt2";
    return tokenizer_regex_gpt2;
  }
  if( strcmp(pre, "qwen2") == 0 ){
    *name = "qwen2";
    return tokenizer_regex_qwen2;
  }
  return NULL;
}

tokenizer *tokenizer_new(tokenizer_kind kind, const char *pre){
  const char *name = NULL;
  if( kind != TOKENIZER_SPM && kind != TOKENIZER_BPE ) return NULL;
  if( kind == TOKENIZER_BPE && !tokenizer_pre_regex(pre, &name) ) return NULL;
  tokenizer *t = calloc(1, sizeof *t);
  if( !t ) return NULL;
  t->kind = kind;
  t->pre = name;
  t->bos = t->eos = t->unk = -1;
  t->add_space_prefix = kind == TOKENIZER_SPM;
  return t;
}

void tokenizer_free(tokenizer *t){
  if( !t ) return;
  free(t->text);
  free(t->tokens);
  free(t->merges);
  free(t->pieces);
  free(t->merges_by_pair.slots);
  free(t->joins.slots);
  free(t->specials);
  pcre2_code_free(t->split);
  pcre2_match_context_free(t->split_limits);
  free(t);
}

/* Append bytes to the text arena; returns the offset or -1. */
static int64_t tokenizer_text_append(tokenizer *t, const char *s, size_t len){
  if( len > UINT32_MAX - t->text_len ) return -1;
  if( t->text_len + len > t->text_cap ){
    size_t cap = t->text_cap ? t->text_cap : 4096;
    while( cap < t->text_len + len ) cap *= 2;
    char *p = realloc(t->text, cap);
    if( !p ) return -1;
    t->text = p;
    t->text_cap = cap;
  }
  if( len ) memcpy(t->text + t->text_len, s, len);
  t->text_len += len;
  return (int64_t)(t->text_len - len);
}

/* Grow an array of `size`-byte elements so it holds one more. */
static int tokenizer_grow(void **arr, int *cap, int n, size_t size){
  if( n < *cap ) return 0;
  if( n >= INT_MAX / 2 ) return -1;
  int c = *cap ? *cap * 2 : 1024;
  void *p = realloc(*arr, (size_t)c * size);
  if( !p ) return -1;
  *arr = p;
  *cap = c;
  return 0;
}

int tokenizer_add_token(tokenizer *t, const char *piece, size_t len,
                        float score, token_kind kind){
  if( t->finished || kind < TOKEN_NORMAL || kind > TOKEN_BYTE ) return -1;
  if( tokenizer_grow((void **)&t->tokens, &t->tokens_cap, t->n_tokens,
                     sizeof *t->tokens) ) return -1;
  int64_t off = tokenizer_text_append(t, piece, len);
  if( off < 0 ) return -1;
  t->tokens[t->n_tokens++] = (tokenizer_entry){ (uint32_t)off, (uint32_t)len,
                                                score, kind };
  return 0;
}

int tokenizer_add_merge(tokenizer *t, const char *left, size_t left_len,
                        const char *right, size_t right_len){
  if( t->finished || t->kind != TOKENIZER_BPE ) return -1;
  if( tokenizer_grow((void **)&t->merges, &t->merges_cap, t->n_merges,
                     sizeof *t->merges) ) return -1;
  int64_t l = tokenizer_text_append(t, left, left_len);
  if( l < 0 ) return -1;
  int64_t r = tokenizer_text_append(t, right, right_len);
  if( r < 0 ) return -1;
  t->merges[t->n_merges++] = (tokenizer_merge_entry){
    (uint32_t)l, (uint32_t)left_len, (uint32_t)r, (uint32_t)right_len };
  return 0;
}

/* ---- piece table: raw bytes -> id ---------------------------------------- */

static uint32_t tokenizer_hash(const char *s, size_t len){
  return (uint32_t)XXH3_64bits(s, len);
}

/* Which of two tokens spelling the same bytes a lookup returns: ordinary
** pieces first (they are what merges produce), then by kind, then lowest id. */
static int tokenizer_kind_rank(token_kind k){
  switch( k ){
    case TOKEN_NORMAL: return 0;
    case TOKEN_USER_DEFINED: return 1;
    case TOKEN_CONTROL: return 2;
    case TOKEN_UNKNOWN: return 3;
    case TOKEN_BYTE: return 4;
    default: return 5;
  }
}

static int tokenizer_piece_equal(const tokenizer *t, int id, const char *s,
                                 size_t len){
  const tokenizer_entry *e = &t->tokens[id];
  return e->len == len && memcmp(t->text + e->offset, s, len) == 0;
}

/* The slot holding `s`, or the empty slot where it would go. */
static tokenizer_piece_slot *tokenizer_piece_slot_of(const tokenizer *t,
                                                     const char *s, size_t len,
                                                     uint32_t h){
  uint32_t i = h & t->pieces_mask;
  for(;;){
    tokenizer_piece_slot *slot = &t->pieces[i];
    if( slot->id < 0 ) return slot;
    if( slot->hash == h && tokenizer_piece_equal(t, slot->id, s, len) ) return slot;
    i = (i + 1) & t->pieces_mask;
  }
}

static int tokenizer_lookup(const tokenizer *t, const char *s, size_t len){
  return tokenizer_piece_slot_of(t, s, len, tokenizer_hash(s, len))->id;
}

/* The id of an ordinary piece spelling s, or -1: what SPM and BPE may
** produce from text. */
static int tokenizer_lookup_normal(const tokenizer *t, const char *s, size_t len){
  int id = tokenizer_lookup(t, s, len);
  if( id < 0 ) return -1;
  token_kind k = t->tokens[id].kind;
  return k == TOKEN_NORMAL || k == TOKEN_USER_DEFINED ? id : -1;
}

static uint32_t tokenizer_table_size(uint64_t n){
  uint64_t cap = 16;
  while( cap < 2 * n ) cap *= 2;
  return cap > UINT32_MAX / 2 ? 0 : (uint32_t)cap;
}

static int tokenizer_build_pieces(tokenizer *t){
  uint32_t cap = tokenizer_table_size((uint64_t)t->n_tokens);
  if( !cap || !(t->pieces = malloc(cap * sizeof *t->pieces)) ) return -1;
  t->pieces_mask = cap - 1;
  for(uint32_t i = 0; i < cap; i++) t->pieces[i].id = -1;
  for(int id = 0; id < t->n_tokens; id++){
    const tokenizer_entry *e = &t->tokens[id];
    if( e->kind == TOKEN_UNUSED ) continue;
    uint32_t h = tokenizer_hash(t->text + e->offset, e->len);
    tokenizer_piece_slot *slot =
      tokenizer_piece_slot_of(t, t->text + e->offset, e->len, h);
    if( slot->id >= 0 && tokenizer_kind_rank(t->tokens[slot->id].kind)
                         <= tokenizer_kind_rank(e->kind) ) continue;
    slot->hash = h;
    slot->id = id;
  }
  return 0;
}

/* ---- pair tables ---------------------------------------------------------- */

static uint64_t tokenizer_pair_key(uint32_t first, uint32_t second){
  return (uint64_t)first << 32 | second;
}

static uint64_t tokenizer_pair_hash(uint64_t key){
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ULL;
  return key ^ (key >> 33);
}

static const tokenizer_pair_slot *tokenizer_pair_find(const tokenizer_pair_table *p,
                                                      uint64_t key){
  uint64_t i = tokenizer_pair_hash(key) & p->mask;
  for(;;){
    const tokenizer_pair_slot *slot = &p->slots[i];
    if( slot->key == key ) return slot;
    if( slot->key == UINT64_MAX ) return NULL;
    i = (i + 1) & p->mask;
  }
}

static int tokenizer_pair_resize(tokenizer_pair_table *p, uint64_t cap){
  tokenizer_pair_table next = { malloc(cap * sizeof *next.slots), cap - 1, 0 };
  if( !next.slots ) return -1;
  for(uint64_t i = 0; i < cap; i++) next.slots[i].key = UINT64_MAX;
  for(uint64_t i = 0; p->slots && i <= p->mask; i++){
    const tokenizer_pair_slot *old = &p->slots[i];
    if( old->key == UINT64_MAX ) continue;
    uint64_t j = tokenizer_pair_hash(old->key) & next.mask;
    while( next.slots[j].key != UINT64_MAX ) j = (j + 1) & next.mask;
    next.slots[j] = *old;
    next.count++;
  }
  free(p->slots);
  *p = next;
  return 0;
}

/* Insert unless present (a repeated merge keeps its first rank). */
static int tokenizer_pair_insert(tokenizer_pair_table *p, uint64_t key, int rank,
                                 int result){
  if( (p->count + 1) * 2 > (p->slots ? p->mask + 1 : 0)
   && tokenizer_pair_resize(p, p->slots ? 2 * (p->mask + 1) : 1024) ) return -1;
  uint64_t i = tokenizer_pair_hash(key) & p->mask;
  while( p->slots[i].key != UINT64_MAX ){
    if( p->slots[i].key == key ) return 0;
    i = (i + 1) & p->mask;
  }
  p->slots[i] = (tokenizer_pair_slot){ key, rank, result };
  p->count++;
  return 0;
}

/* Merges whose sides or result are not ordinary pieces can never apply (a
** Hugging Face file with such a merge fails to load there); they keep their
** rank so tokenizer_merge still lists every merge added. */
static int tokenizer_build_merges(tokenizer *t){
  char *joined = NULL;
  size_t joined_cap = 0;
  int rc = tokenizer_pair_resize(&t->merges_by_pair, 1024);
  for(int rank = 0; rc == 0 && rank < t->n_merges; rank++){
    const tokenizer_merge_entry *m = &t->merges[rank];
    int left = tokenizer_lookup_normal(t, t->text + m->left_offset, m->left_len);
    int right = tokenizer_lookup_normal(t, t->text + m->right_offset, m->right_len);
    if( left < 0 || right < 0 ) continue;
    size_t n = (size_t)m->left_len + m->right_len;
    if( n > joined_cap ){
      char *p = realloc(joined, n);
      if( !p ){ rc = -1; break; }
      joined = p;
      joined_cap = n;
    }
    memcpy(joined, t->text + m->left_offset, m->left_len);
    memcpy(joined + m->left_len, t->text + m->right_offset, m->right_len);
    int result = tokenizer_lookup_normal(t, joined, n);
    if( result >= 0 ){
      rc = tokenizer_pair_insert(&t->merges_by_pair,
                                 tokenizer_pair_key((uint32_t)left, (uint32_t)right),
                                 rank, result);
    }
  }
  free(joined);
  return rc;
}

/* Length of the valid UTF-8 character at s, or 0 if the bytes there are
** not one (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t tokenizer_utf8_len(const unsigned char *s, size_t n){
  unsigned char c = s[0];
  if( c < 0x80 ) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if( c >= 0xC2 && c <= 0xDF ) len = 2;
  else if( c >= 0xE0 && c <= 0xEF ){
    len = 3;
    if( c == 0xE0 ) lo = 0xA0;
    if( c == 0xED ) hi = 0x9F;
  }else if( c >= 0xF0 && c <= 0xF4 ){
    len = 4;
    if( c == 0xF0 ) lo = 0x90;
    if( c == 0xF4 ) hi = 0x8F;
  }else return 0;
  if( n < len || s[1] < lo || s[1] > hi ) return 0;
  for(size_t i = 2; i < len; i++) if( s[i] < 0x80 || s[i] > 0xBF ) return 0;
  return len;
}

/* SPM's unit: one valid UTF-8 character, or one byte that is not part of
** one.  Returns its length and sets *key to its bytes packed into 32 bits
** (unique: a lone byte >= 0x80 packs to a value no character does). */
static size_t tokenizer_spm_char(const char *s, size_t n, uint32_t *key){
  size_t len = tokenizer_utf8_len((const unsigned char *)s, n);
  if( len == 0 ) len = 1;
  *key = 0;
  for(size_t i = 0; i < len; i++) *key |= (uint32_t)(unsigned char)s[i] << (8 * i);
  return len;
}

/* Every pair of adjacent characters inside a piece SPM can produce. */
static int tokenizer_build_joins(tokenizer *t){
  if( tokenizer_pair_resize(&t->joins, 1024) ) return -1;
  for(int id = 0; id < t->n_tokens; id++){
    const tokenizer_entry *e = &t->tokens[id];
    if( e->kind != TOKEN_NORMAL && e->kind != TOKEN_USER_DEFINED ) continue;
    const char *s = t->text + e->offset;
    uint32_t prev, next;
    size_t at = tokenizer_spm_char(s, e->len, &prev);
    while( at < e->len ){
      at += tokenizer_spm_char(s + at, e->len - at, &next);
      if( tokenizer_pair_insert(&t->joins, tokenizer_pair_key(prev, next), 0, 0) ) return -1;
      prev = next;
    }
  }
  return 0;
}

/* ---- finishing: lookups, byte tokens, specials, pre-tokenizer ------------- */

static int tokenizer_build_bytes(tokenizer *t, char *err, size_t err_len){
  for(int b = 0; b < 256; b++) t->byte_token[b] = -1;
  for(int id = 0; id < t->n_tokens; id++){
    const tokenizer_entry *e = &t->tokens[id];
    int want = t->kind == TOKENIZER_SPM ? TOKEN_BYTE : TOKEN_NORMAL;
    if( (int)e->kind != want || e->len != 1 ) continue;
    unsigned char b = (unsigned char)t->text[e->offset];
    if( t->byte_token[b] < 0 ) t->byte_token[b] = id;
  }
  if( t->kind == TOKENIZER_SPM ) return 0;
  /* Byte-level BPE spells every text through single bytes. */
  for(int b = 0; b < 256; b++){
    if( t->byte_token[b] < 0 ){
      tokenizer_error(err, err_len,
                      "byte-level BPE vocab has no token for byte 0x%02X", b);
      return -1;
    }
  }
  return 0;
}

static int tokenizer_special_cmp(const void *a, const void *b){
  const tokenizer_special *x = a, *y = b;
  if( x->first != y->first ) return x->first < y->first ? -1 : 1;
  if( x->len != y->len ) return x->len > y->len ? -1 : 1;
  return x->id - y->id;
}

/* Control, unknown and user-defined tokens are matched in the text, as in
** llama.cpp's tokenizer_st_partition: user-defined ones always (Hugging
** Face's non-special added tokens), the others only with parse_special. */
static int tokenizer_build_specials(tokenizer *t){
  t->specials = malloc(((size_t)t->n_tokens + 1) * sizeof *t->specials);
  if( !t->specials ) return -1;
  for(int id = 0; id < t->n_tokens; id++){
    const tokenizer_entry *e = &t->tokens[id];
    if( e->kind == TOKEN_UNKNOWN && t->unk < 0 ) t->unk = id;
    if( e->len == 0 ) continue;
    if( e->kind != TOKEN_CONTROL && e->kind != TOKEN_UNKNOWN
     && e->kind != TOKEN_USER_DEFINED ) continue;
    t->specials[t->n_specials++] = (tokenizer_special){
      id, e->len, (unsigned char)t->text[e->offset], e->kind == TOKEN_USER_DEFINED };
    t->has_always_special |= e->kind == TOKEN_USER_DEFINED;
  }
  qsort(t->specials, (size_t)t->n_specials, sizeof *t->specials,
        tokenizer_special_cmp);
  int s = 0;
  for(int b = 0; b < 256; b++){
    t->special_first[b] = s;
    while( s < t->n_specials && t->specials[s].first == b ) s++;
  }
  t->special_first[256] = s;
  return 0;
}

static int tokenizer_build_split(tokenizer *t, char *err, size_t err_len){
  const char *name = NULL;
  const char *regex = tokenizer_pre_regex(t->pre, &name);
  int code;
  PCRE2_SIZE at;
  t->split = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                           &code, &at, NULL);
  if( !t->split ){
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    tokenizer_error(err, err_len, "%s pre-tokenizer regex at offset %zu: %s",
                    name, (size_t)at, (char *)msg);
    return -1;
  }
  /* Without JIT (unsupported CPU) the interpreter gives the same splits. */
  pcre2_jit_compile(t->split, PCRE2_JIT_COMPLETE);
  /* A run of n spaces costs about n backtracking steps ([\s]*[\r\n]+ tries
  ** every shorter prefix), so PCRE2's default limit of 10 million would fail
  ** texts with 10 MB of whitespace in a row. */
  t->split_limits = pcre2_match_context_create(NULL);
  if( !t->split_limits ){
    tokenizer_error(err, err_len, "out of memory for the %s pre-tokenizer", name);
    return -1;
  }
  pcre2_set_match_limit(t->split_limits, UINT32_MAX);
  return 0;
}

int tokenizer_finish(tokenizer *t, char *err, size_t err_len){
  if( t->finished ) return 0;
  if( t->n_tokens == 0 ){
    tokenizer_error(err, err_len, "tokenizer has no tokens");
    return -1;
  }
  if( tokenizer_build_pieces(t) || tokenizer_build_specials(t) ){
    tokenizer_error(err, err_len, "out of memory for %d tokens", t->n_tokens);
    return -1;
  }
  if( tokenizer_build_bytes(t, err, err_len) ) return -1;
  if( t->kind == TOKENIZER_SPM && tokenizer_build_joins(t) ){
    tokenizer_error(err, err_len, "out of memory for %d tokens", t->n_tokens);
    return -1;
  }
  if( t->kind == TOKENIZER_BPE ){
    if( tokenizer_build_merges(t) ){
      tokenizer_error(err, err_len, "out of memory for %d merges", t->n_merges);
      return -1;
    }
    if( tokenizer_build_split(t, err, err_len) ) return -1;
  }
  t->finished = 1;
  return 0;
}

/* ---- accessors ------------------------------------------------------------ */

tokenizer_kind tokenizer_kind_of(const tokenizer *t){ return t->kind; }
const char *tokenizer_pre(const tokenizer *t){ return t->pre; }
int tokenizer_vocab_size(const tokenizer *t){ return t->n_tokens; }
int tokenizer_merge_count(const tokenizer *t){ return t->n_merges; }

int tokenizer_token(const tokenizer *t, int id, const char **piece,
                    size_t *len, float *score, token_kind *kind){
  if( id < 0 || id >= t->n_tokens ) return -1;
  const tokenizer_entry *e = &t->tokens[id];
  if( piece ) *piece = t->text + e->offset;
  if( len ) *len = e->len;
  if( score ) *score = e->score;
  if( kind ) *kind = e->kind;
  return 0;
}

int tokenizer_merge(const tokenizer *t, int rank, const char **left,
                    size_t *left_len, const char **right, size_t *right_len){
  if( rank < 0 || rank >= t->n_merges ) return -1;
  const tokenizer_merge_entry *m = &t->merges[rank];
  if( left ) *left = t->text + m->left_offset;
  if( left_len ) *left_len = m->left_len;
  if( right ) *right = t->text + m->right_offset;
  if( right_len ) *right_len = m->right_len;
  return 0;
}

int tokenizer_find(const tokenizer *t, const char *piece, size_t len){
  if( !t->finished ){
    for(int id = 0; id < t->n_tokens; id++){
      if( tokenizer_piece_equal(t, id, piece, len) ) return id;
    }
    return -1;
  }
  return tokenizer_lookup(t, piece, len);
}

void tokenizer_set_special(tokenizer *t, int bos, int eos, int add_bos){
  t->bos = bos >= 0 && bos < t->n_tokens ? bos : -1;
  t->eos = eos >= 0 && eos < t->n_tokens ? eos : -1;
  t->add_bos = add_bos && t->bos >= 0;
}
int tokenizer_bos(const tokenizer *t){ return t->bos; }
int tokenizer_eos(const tokenizer *t){ return t->eos; }
int tokenizer_add_bos(const tokenizer *t){ return t->add_bos; }

void tokenizer_set_add_space_prefix(tokenizer *t, int on){
  t->add_space_prefix = t->kind == TOKENIZER_SPM && on;
}
int tokenizer_add_space_prefix(const tokenizer *t){ return t->add_space_prefix; }

/* ---- encoding: shared parts ----------------------------------------------- */

/* Encoding a chunk (a BPE pre-token, an SPM segment) depends on its bytes
** alone, and long texts repeat the same words, so an encode call remembers
** the ids of the short chunks it has seen.  The cache belongs to the call:
** the tokenizer itself stays read-only. */
#define TOKENIZER_CACHE_SLOTS 4096      /* a power of two */
#define TOKENIZER_CACHE_BYTES 22
#define TOKENIZER_CACHE_IDS 8
#define TOKENIZER_CACHE_AFTER 64        /* chunks seen before a call makes one */

typedef struct tokenizer_cache_slot {
  uint8_t len;               /* 0: empty */
  uint8_t n_ids;
  char bytes[TOKENIZER_CACHE_BYTES];
  int32_t ids[TOKENIZER_CACHE_IDS];
} tokenizer_cache_slot;

/* Where ids go: the first cap are stored, all are counted.  The ids of the
** chunk being encoded are also kept in `chunk`, for the cache. */
typedef struct tokenizer_out {
  int *ids;
  int cap;
  int n;
  int32_t chunk[TOKENIZER_CACHE_IDS];
  int n_chunk;
} tokenizer_out;

static void tokenizer_emit(tokenizer_out *out, int id){
  if( out->n < out->cap ) out->ids[out->n] = id;
  out->n++;
  if( out->n_chunk < TOKENIZER_CACHE_IDS ) out->chunk[out->n_chunk] = id;
  out->n_chunk++;
}

/* A run of text bytes in a merge chain. */
typedef struct tokenizer_symbol {
  int32_t prev, next;        /* neighbours in the chain, -1 at the ends */
  uint32_t start, len;       /* bytes of the text; len 0 once merged away */
  int32_t id;                /* BPE: the piece these bytes are */
} tokenizer_symbol;

/* A candidate merge of symbols left and right, taken smallest key first,
** then leftmost.  It is stale once either symbol's length changed (symbols
** only grow or die), which size detects. */
typedef struct tokenizer_bigram {
  uint32_t key;              /* BPE: rank; SPM: see tokenizer_spm_key */
  int32_t left, right;
  uint32_t size;
  int32_t result;            /* the merged piece */
} tokenizer_bigram;

/* Scratch memory one encode call reuses across fragments and pre-tokens. */
typedef struct tokenizer_work {
  tokenizer_symbol *symbols;
  size_t symbols_cap;
  tokenizer_bigram *heap;
  size_t heap_len, heap_cap;
  char *buf;                 /* SPM: the fragment with its dummy prefix */
  size_t buf_cap;
  pcre2_match_data *match;
  tokenizer_cache_slot *cache;   /* NULL until TOKENIZER_CACHE_AFTER chunks */
  int n_chunks;
} tokenizer_work;

static void tokenizer_work_free(tokenizer_work *w){
  free(w->symbols);
  free(w->heap);
  free(w->buf);
  free(w->cache);
  pcre2_match_data_free(w->match);
}

/* Emit a known chunk's ids and return NULL; else return the slot where
** tokenizer_cache_put may keep them (NULL if the chunk is not cached). */
static tokenizer_cache_slot *tokenizer_cache_get(tokenizer_work *w, const char *s,
                                                 size_t len, tokenizer_out *out,
                                                 int *hit){
  *hit = 0;
  out->n_chunk = 0;
  if( !w->cache && ++w->n_chunks == TOKENIZER_CACHE_AFTER ){
    w->cache = calloc(TOKENIZER_CACHE_SLOTS, sizeof *w->cache);
  }
  if( !w->cache || len > TOKENIZER_CACHE_BYTES ) return NULL;
  tokenizer_cache_slot *slot =
    &w->cache[XXH3_64bits(s, len) & (TOKENIZER_CACHE_SLOTS - 1)];
  if( slot->len != len || memcmp(slot->bytes, s, len) != 0 ) return slot;
  for(int i = 0; i < slot->n_ids; i++) tokenizer_emit(out, slot->ids[i]);
  *hit = 1;
  return NULL;
}

static void tokenizer_cache_put(tokenizer_cache_slot *slot, const char *s,
                                size_t len, const tokenizer_out *out){
  if( !slot || out->n_chunk > TOKENIZER_CACHE_IDS ) return;
  slot->len = (uint8_t)len;
  slot->n_ids = (uint8_t)out->n_chunk;
  memcpy(slot->bytes, s, len);
  memcpy(slot->ids, out->chunk, (size_t)out->n_chunk * sizeof *out->chunk);
}

static int tokenizer_reserve(void **p, size_t *cap, size_t n, size_t size){
  if( n <= *cap ) return 0;
  size_t c = *cap ? *cap : 64;
  while( c < n ) c *= 2;
  void *q = realloc(*p, c * size);
  if( !q ) return -1;
  *p = q;
  *cap = c;
  return 0;
}

static int tokenizer_bigram_before(const tokenizer_bigram *a,
                                   const tokenizer_bigram *b){
  return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static int tokenizer_heap_push(tokenizer_work *w, tokenizer_bigram g){
  if( tokenizer_reserve((void **)&w->heap, &w->heap_cap, w->heap_len + 1,
                        sizeof *w->heap) ) return -1;
  size_t i = w->heap_len++;
  while( i > 0 ){
    size_t parent = (i - 1) / 2;
    if( !tokenizer_bigram_before(&g, &w->heap[parent]) ) break;
    w->heap[i] = w->heap[parent];
    i = parent;
  }
  w->heap[i] = g;
  return 0;
}

static tokenizer_bigram tokenizer_heap_pop(tokenizer_work *w){
  tokenizer_bigram top = w->heap[0];
  tokenizer_bigram last = w->heap[--w->heap_len];
  size_t i = 0, n = w->heap_len;
  for(;;){
    size_t c = 2 * i + 1;
    if( c >= n ) break;
    if( c + 1 < n && tokenizer_bigram_before(&w->heap[c + 1], &w->heap[c]) ) c++;
    if( !tokenizer_bigram_before(&w->heap[c], &last) ) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if( n ) w->heap[i] = last;
  return top;
}

/* Apply the merges the heap holds to the chain; try_pair(left, right) pushes
** the candidate for two neighbours, if any. */
typedef int (*tokenizer_try_pair_fn)(const tokenizer *t, tokenizer_work *w,
                                     int left, int right);

static int tokenizer_merge_chain(const tokenizer *t, tokenizer_work *w,
                                 tokenizer_try_pair_fn try_pair){
  while( w->heap_len > 0 ){
    tokenizer_bigram g = tokenizer_heap_pop(w);
    tokenizer_symbol *l = &w->symbols[g.left], *r = &w->symbols[g.right];
    if( l->len == 0 || r->len == 0 || l->len + r->len != g.size ) continue;
    l->id = g.result;
    l->len += r->len;
    r->len = 0;
    l->next = r->next;
    if( r->next >= 0 ) w->symbols[r->next].prev = g.left;
    if( l->prev >= 0 && try_pair(t, w, l->prev, g.left) ) return -1;
    if( l->next >= 0 && try_pair(t, w, g.left, l->next) ) return -1;
  }
  return 0;
}

/* ---- SPM: merges by piece score ------------------------------------------------ */

/* Heap key of a piece score: higher scores first.  The bits of a float
** order like integers once negative values are flipped. */
static uint32_t tokenizer_spm_key(float score){
  uint32_t u;
  if( score == 0 ) score = 0;     /* -0 ties with 0, as a float compare does */
  memcpy(&u, &score, 4);
  u = u & 0x80000000u ? ~u : u | 0x80000000u;
  return ~u;
}

static int tokenizer_spm_try_bigram(const tokenizer *t, tokenizer_work *w,
                                    int left, int right){
  const tokenizer_symbol *l = &w->symbols[left], *r = &w->symbols[right];
  uint32_t size = l->len + r->len;
  int id = tokenizer_lookup_normal(t, w->buf + l->start, size);
  if( id < 0 ) return 0;
  tokenizer_bigram g = { tokenizer_spm_key(t->tokens[id].score), left, right, size, id };
  return tokenizer_heap_push(w, g);
}

/* A final symbol: its piece, else its bytes as byte tokens (else <unk>). */
static int tokenizer_spm_emit(const tokenizer *t, const char *s, size_t len,
                              tokenizer_out *out, char *err, size_t err_len){
  int id = tokenizer_lookup_normal(t, s, len);
  if( id >= 0 ){
    tokenizer_emit(out, id);
    return 0;
  }
  for(size_t i = 0; i < len; i++){
    int b = t->byte_token[(unsigned char)s[i]];
    if( b < 0 ) b = t->unk;
    if( b < 0 ){
      tokenizer_error(err, err_len, "byte 0x%02X has no token and the vocab "
                      "has no <unk>", (unsigned char)s[i]);
      return -1;
    }
    tokenizer_emit(out, b);
  }
  return 0;
}

/* Split w->buf[0..len) into chained characters; returns their count. */
static int tokenizer_spm_chars(tokenizer_work *w, size_t len){
  int n = 0;
  for(size_t at = 0; at < len; n++){
    uint32_t key;
    size_t c = tokenizer_spm_char(w->buf + at, len - at, &key);
    w->symbols[n] = (tokenizer_symbol){ n - 1, -1, (uint32_t)at, (uint32_t)c, -1 };
    if( n > 0 ) w->symbols[n - 1].next = n;
    at += c;
  }
  return n;
}

/* Encode one segment: the dummy space if `prefix`, then s[0..len). */
static int tokenizer_spm_segment(const tokenizer *t, tokenizer_work *w, int prefix,
                                 const char *s, size_t len, tokenizer_out *out,
                                 char *err, size_t err_len){
  size_t n_text = len + (prefix != 0);
  if( tokenizer_reserve((void **)&w->buf, &w->buf_cap, n_text, 1)
   || tokenizer_reserve((void **)&w->symbols, &w->symbols_cap, n_text,
                        sizeof *w->symbols) ) goto oom;
  if( prefix ) w->buf[0] = ' ';
  memcpy(w->buf + (prefix != 0), s, len);
  int hit;
  tokenizer_cache_slot *slot = tokenizer_cache_get(w, w->buf, n_text, out, &hit);
  if( hit ) return 0;
  int n = tokenizer_spm_chars(w, n_text);
  w->heap_len = 0;
  for(int i = 1; i < n; i++){
    if( tokenizer_spm_try_bigram(t, w, i - 1, i) ) goto oom;
  }
  if( tokenizer_merge_chain(t, w, tokenizer_spm_try_bigram) ) goto oom;
  for(int i = 0; i >= 0; i = w->symbols[i].next){
    const tokenizer_symbol *sym = &w->symbols[i];
    if( tokenizer_spm_emit(t, w->buf + sym->start, sym->len, out, err, err_len) ) return -1;
  }
  tokenizer_cache_put(slot, w->buf, n_text, out);
  return 0;
oom:
  tokenizer_error(err, err_len, "out of memory encoding %zu bytes", n_text);
  return -1;
}

/* One fragment of text between special tokens.  Every fragment follows the
** start of the text or a special token, and llama.cpp gives each of them
** the dummy prefix.
**
** llama.cpp runs one heap over the whole fragment.  Here the fragment is cut
** where two neighbouring characters never sit side by side inside a piece
** (t->joins): no merge can cross such a cut, and within a segment the heap
** order is the same, so the result is identical, while memory and heaps
** stay the size of a segment (about a word). */
static int tokenizer_spm_fragment(const tokenizer *t, tokenizer_work *w,
                                  const char *s, size_t len,
                                  tokenizer_out *out, char *err, size_t err_len){
  int prefix = t->add_space_prefix;
  uint32_t prev = ' ';
  int have_prev = prefix;
  size_t from = 0;
  for(size_t at = 0; at < len; ){
    uint32_t key;
    size_t c = tokenizer_spm_char(s + at, len - at, &key);
    if( have_prev && !tokenizer_pair_find(&t->joins, tokenizer_pair_key(prev, key)) ){
      if( tokenizer_spm_segment(t, w, prefix, s + from, at - from, out, err, err_len) ) return -1;
      prefix = 0;
      from = at;
    }
    prev = key;
    have_prev = 1;
    at += c;
  }
  return tokenizer_spm_segment(t, w, prefix, s + from, len - from, out, err, err_len);
}

/* ---- BPE: pre-tokenizer split, then merges by rank inside each piece ------- */

static int tokenizer_bpe_try_pair(const tokenizer *t, tokenizer_work *w,
                                  int left, int right){
  const tokenizer_symbol *l = &w->symbols[left], *r = &w->symbols[right];
  const tokenizer_pair_slot *p = tokenizer_pair_find(&t->merges_by_pair,
    tokenizer_pair_key((uint32_t)l->id, (uint32_t)r->id));
  if( !p ) return 0;
  tokenizer_bigram g = { (uint32_t)p->rank, left, right, l->len + r->len, p->result };
  return tokenizer_heap_push(w, g);
}

/* One pre-token: starts as one symbol per byte. */
static int tokenizer_bpe_word(const tokenizer *t, tokenizer_work *w,
                              const char *s, size_t len, tokenizer_out *out){
  if( len == 1 ){
    tokenizer_emit(out, t->byte_token[(unsigned char)s[0]]);
    return 0;
  }
  int hit;
  tokenizer_cache_slot *slot = tokenizer_cache_get(w, s, len, out, &hit);
  if( hit ) return 0;
  if( tokenizer_reserve((void **)&w->symbols, &w->symbols_cap, len,
                        sizeof *w->symbols) ) return -1;
  int n = (int)len;
  w->heap_len = 0;
  for(int i = 0; i < n; i++){
    w->symbols[i] = (tokenizer_symbol){ i - 1, i + 1 < n ? i + 1 : -1, (uint32_t)i, 1,
                                        t->byte_token[(unsigned char)s[i]] };
    if( i > 0 && tokenizer_bpe_try_pair(t, w, i - 1, i) ) return -1;
  }
  if( tokenizer_merge_chain(t, w, tokenizer_bpe_try_pair) ) return -1;
  for(int i = 0; i >= 0; i = w->symbols[i].next) tokenizer_emit(out, w->symbols[i].id);
  tokenizer_cache_put(slot, s, len, out);
  return 0;
}

/* Bytes the regex cannot match (invalid UTF-8: PCRE2_MATCH_INVALID_UTF
** never matches them) form a pre-token of their own, so they still encode,
** as byte pieces or merges of them, and decode back unchanged. */
static int tokenizer_bpe_fragment(const tokenizer *t, tokenizer_work *w,
                                  const char *s, size_t len, tokenizer_out *out,
                                  char *err, size_t err_len){
  if( !w->match && !(w->match = pcre2_match_data_create_from_pattern(t->split, NULL)) ) goto oom;
  size_t at = 0;
  while( at < len ){
    int rc = pcre2_match(t->split, (PCRE2_SPTR)s, len, at, 0, w->match,
                         t->split_limits);
    size_t from = len, to = len;
    if( rc >= 0 ){
      /* Neither regex can match the empty string, so to > from. */
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->match);
      from = ov[0];
      to = ov[1];
    }else if( rc != PCRE2_ERROR_NOMATCH ){
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      tokenizer_error(err, err_len, "%s pre-tokenizer at byte %zu: %s",
                      t->pre, at, (char *)msg);
      return -1;
    }
    if( from > at && tokenizer_bpe_word(t, w, s + at, from - at, out) ) goto oom;
    if( to > from && tokenizer_bpe_word(t, w, s + from, to - from, out) ) goto oom;
    at = to;
  }
  return 0;
oom:
  tokenizer_error(err, err_len, "out of memory encoding %zu bytes", len);
  return -1;
}

/* ---- encode: special tokens, then the family's pass on what lies between -- */

/* The special token starting at s (longest first), or -1. */
static int tokenizer_special_at(const tokenizer *t, const char *s, size_t len,
                                int parse_special){
  unsigned char b = (unsigned char)s[0];
  for(int i = t->special_first[b]; i < t->special_first[b + 1]; i++){
    const tokenizer_special *sp = &t->specials[i];
    if( !parse_special && !sp->always ) continue;
    if( sp->len <= len
     && memcmp(t->text + t->tokens[sp->id].offset, s, sp->len) == 0 ) return sp->id;
  }
  return -1;
}

static int tokenizer_fragment(const tokenizer *t, tokenizer_work *w,
                              const char *s, size_t len,
                              tokenizer_out *out, char *err, size_t err_len){
  if( len == 0 ) return 0;
  if( t->kind == TOKENIZER_SPM ){
    return tokenizer_spm_fragment(t, w, s, len, out, err, err_len);
  }
  return tokenizer_bpe_fragment(t, w, s, len, out, err, err_len);
}

static int tokenizer_encode_text(const tokenizer *t, tokenizer_work *w,
                                 const char *text, size_t len, int parse_special,
                                 tokenizer_out *out, char *err, size_t err_len){
  int scan = t->n_specials > 0 && (parse_special || t->has_always_special);
  size_t start = 0;
  for(size_t i = 0; scan && i < len; ){
    int id = tokenizer_special_at(t, text + i, len - i, parse_special);
    if( id < 0 ){ i++; continue; }
    if( tokenizer_fragment(t, w, text + start, i - start, out, err, err_len) ) return -1;
    tokenizer_emit(out, id);
    i += t->tokens[id].len;
    start = i;
  }
  return tokenizer_fragment(t, w, text + start, len - start, out, err, err_len);
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len,
                     int parse_special, int *ids, int cap,
                     char *err, size_t err_len){
  if( !t->finished ){
    tokenizer_error(err, err_len, "tokenizer_encode before tokenizer_finish");
    return -1;
  }
  if( len >= INT_MAX ){
    tokenizer_error(err, err_len, "text of %zu bytes is too long to encode", len);
    return -1;
  }
  tokenizer_out out = { .ids = ids, .cap = cap > 0 ? cap : 0 };
  tokenizer_work w = {0};
  int rc = tokenizer_encode_text(t, &w, text, len, parse_special, &out, err, err_len);
  tokenizer_work_free(&w);
  return rc ? -1 : out.n;
}

/* ---- decode ---------------------------------------------------------------- */

int tokenizer_decode_piece(const tokenizer *t, int prev, int id,
                           const char **out){
  if( id < 0 || id >= t->n_tokens ) return -1;
  const tokenizer_entry *e = &t->tokens[id];
  const char *s = t->text + e->offset;
  size_t len = e->len;
  if( e->kind == TOKEN_CONTROL || e->kind == TOKEN_UNKNOWN || e->kind == TOKEN_UNUSED ){
    len = 0;
  }else if( t->add_space_prefix && len > 0 && s[0] == ' '
          && (e->kind == TOKEN_NORMAL || e->kind == TOKEN_BYTE) ){
    /* Undo the dummy prefix encode put at the start and after specials. */
    int boundary = prev < 0 || prev >= t->n_tokens
                || (t->tokens[prev].kind != TOKEN_NORMAL
                    && t->tokens[prev].kind != TOKEN_BYTE);
    if( boundary ){ s++; len--; }
  }
  *out = s;
  return (int)len;
}
