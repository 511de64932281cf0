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
** Memory: the tokenizer lives as long as its model, outside the memory
** budget, so it is kept small (tokenizer_memory says how small: 6.4 MiB for
** Qwen2's 151,936 tokens and 151,387 merges).  Pieces lie back to back in
** one byte array; a token costs a 4-byte offset and a 1-byte kind, plus a
** 4-byte score only in vocabs that have scores.  A merge is three token
** ids; merge text is kept only for the rare side that no token spells.
** The piece and merge tables hold ids, not copies of keys, and are at most
** two thirds full.
**
** Limits: no Unicode normalisation (Qwen2's Hugging Face tokenizer applies
** NFC first; llama.cpp does not, and neither do we).  Inputs of INT_MAX
** bytes or more are refused, and so are vocabs of 4 GB of piece text.
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

/* Strings back to back: string i is bytes[at[i] .. at[i + 1]). */
typedef struct tokenizer_strings {
  char *bytes;
  size_t bytes_cap;
  uint32_t *at;              /* n + 1 offsets once a string is added */
  size_t at_cap;
  int n;
} tokenizer_strings;

/* Merge rank r joins pieces `left` and `right` into `result`.  A side is a
** token id, or -1 - k for extra string k when no token spells it. */
typedef struct tokenizer_rule {
  int32_t left, right;
  int32_t result;            /* -1: the merge never applies */
} tokenizer_rule;

/* A set of pairs of 32-bit values (first << 32 | second), open addressing;
** UINT64_MAX marks an empty slot.  SPM keeps in it the adjacent characters
** seen inside pieces. */
typedef struct tokenizer_pair_set {
  uint64_t *slots;
  uint64_t mask, count;
} tokenizer_pair_set;

/* A token that encode cuts out of the text before the SPM/BPE pass. */
typedef struct tokenizer_special {
  int32_t id;
  uint32_t len;
  unsigned char first;       /* first byte of the piece */
  int always;                /* user-defined: matched even without parse_special */
} tokenizer_special;

/* Free slot of the id tables (pieces, pairs). */
#define TOKENIZER_EMPTY UINT32_MAX

/* A slot of the merge table: the rank of a merge that applies, and the high
** bits of its key's hash, so that probing past other keys does not have to
** read their rules. */
typedef struct tokenizer_pair_slot {
  uint32_t rank;             /* TOKENIZER_EMPTY: free */
  uint32_t tag;
} tokenizer_pair_slot;

struct tokenizer {
  tokenizer_kind kind;
  const char *pre;           /* "gpt2", "qwen2" or NULL (SPM) */
  int finished;

  tokenizer_strings vocab;   /* string id is token id's piece */
  uint8_t *kinds;            /* token_kind by id */
  size_t kinds_cap;
  float *scores;             /* by id; NULL while every score is 0 (BPE) */
  size_t scores_cap;
  uint32_t *pieces;          /* piece bytes -> id, kept up to date by add_token */
  uint32_t pieces_mask, pieces_count;

  tokenizer_rule *rules;     /* by merge rank */
  size_t rules_cap;
  int n_merges;
  tokenizer_strings extra;   /* merge sides no token spells */

  int bos, eos, add_bos;
  int unk;                   /* first TOKEN_UNKNOWN, or -1 */
  int add_space_prefix;      /* SPM: encode prepends a dummy space */

  /* Built by tokenizer_finish. */
  tokenizer_pair_slot *pairs;    /* BPE: the merges that apply, by (left, right) */
  uint32_t pairs_mask;
  tokenizer_pair_set joins;  /* SPM: see tokenizer_spm_segment */
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

static int tokenizer_pieces_resize(tokenizer *t, uint32_t cap);

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
  if( tokenizer_pieces_resize(t, 1024) ){
    free(t);
    return NULL;
  }
  return t;
}

static void tokenizer_strings_free(tokenizer_strings *s){
  free(s->bytes);
  free(s->at);
}

void tokenizer_free(tokenizer *t){
  if( !t ) return;
  tokenizer_strings_free(&t->vocab);
  tokenizer_strings_free(&t->extra);
  free(t->kinds);
  free(t->scores);
  free(t->pieces);
  free(t->rules);
  free(t->pairs);
  free(t->joins.slots);
  free(t->specials);
  pcre2_code_free(t->split);
  pcre2_match_context_free(t->split_limits);
  free(t);
}

/* ---- storage ---------------------------------------------------------------- */

/* Grow *p, an array of `size`-byte elements, to hold at least n. */
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

/* Append a string; returns its index, or -1. */
static int tokenizer_strings_add(tokenizer_strings *s, const char *bytes, size_t len){
  size_t used = s->n ? s->at[s->n] : 0;
  if( s->n >= INT_MAX / 2 || len > UINT32_MAX - used ) return -1;
  if( tokenizer_reserve((void **)&s->at, &s->at_cap, (size_t)s->n + 2, sizeof *s->at)
   || tokenizer_reserve((void **)&s->bytes, &s->bytes_cap, used + len, 1) ) return -1;
  if( len ) memcpy(s->bytes + used, bytes, len);
  if( s->n == 0 ) s->at[0] = 0;
  s->at[s->n + 1] = (uint32_t)(used + len);
  return s->n++;
}

/* Give back what doubling reserved beyond the final n elements. */
static void tokenizer_shrink(void **p, size_t *cap, size_t n, size_t size){
  if( n == 0 || n >= *cap ) return;
  void *q = realloc(*p, n * size);
  if( !q ) return;
  *p = q;
  *cap = n;
}

static void tokenizer_strings_shrink(tokenizer_strings *s){
  if( s->n == 0 ) return;
  tokenizer_shrink((void **)&s->bytes, &s->bytes_cap, s->at[s->n], 1);
  tokenizer_shrink((void **)&s->at, &s->at_cap, (size_t)s->n + 1, sizeof *s->at);
}

static const char *tokenizer_strings_get(const tokenizer_strings *s, int i,
                                         size_t *len){
  *len = s->at[i + 1] - s->at[i];
  return s->bytes ? s->bytes + s->at[i] : "";   /* none yet: every string is empty */
}

static const char *tokenizer_piece(const tokenizer *t, int id, size_t *len){
  return tokenizer_strings_get(&t->vocab, id, len);
}

static token_kind tokenizer_kind_at(const tokenizer *t, int id){
  return (token_kind)t->kinds[id];
}

static float tokenizer_score(const tokenizer *t, int id){
  return t->scores ? t->scores[id] : 0;
}

/* Vocabs without scores (byte-level BPE) never allocate them. */
static int tokenizer_set_score(tokenizer *t, int id, float score){
  if( score == 0 && !t->scores ) return 0;
  size_t had = t->scores_cap;
  if( tokenizer_reserve((void **)&t->scores, &t->scores_cap, (size_t)id + 1,
                        sizeof *t->scores) ) return -1;
  if( had == 0 ) memset(t->scores, 0, (size_t)id * sizeof *t->scores);
  t->scores[id] = score;
  return 0;
}

static size_t tokenizer_strings_memory(const tokenizer_strings *s){
  return s->bytes_cap + s->at_cap * sizeof *s->at;
}

size_t tokenizer_memory(const tokenizer *t){
  return sizeof *t + tokenizer_strings_memory(&t->vocab)
       + tokenizer_strings_memory(&t->extra) + t->kinds_cap
       + t->scores_cap * sizeof *t->scores
       + ((size_t)t->pieces_mask + 1) * sizeof *t->pieces
       + t->rules_cap * sizeof *t->rules
       + (t->pairs ? ((size_t)t->pairs_mask + 1) * sizeof *t->pairs : 0)
       + (t->joins.slots ? (t->joins.mask + 1) * sizeof *t->joins.slots : 0)
       + (size_t)t->n_specials * sizeof *t->specials;
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

static int tokenizer_piece_equal(const tokenizer *t, uint32_t id, const char *s,
                                 size_t len){
  size_t n;
  const char *p = tokenizer_piece(t, (int)id, &n);
  return n == len && memcmp(p, s, len) == 0;
}

/* The slot holding the id that spells s, or the free slot where it would go. */
static uint32_t *tokenizer_piece_slot(const tokenizer *t, const char *s, size_t len){
  uint32_t i = tokenizer_hash(s, len) & t->pieces_mask;
  for(;;){
    uint32_t *slot = &t->pieces[i];
    if( *slot == TOKENIZER_EMPTY || tokenizer_piece_equal(t, *slot, s, len) ) return slot;
    i = (i + 1) & t->pieces_mask;
  }
}

static int tokenizer_lookup(const tokenizer *t, const char *s, size_t len){
  uint32_t id = *tokenizer_piece_slot(t, s, len);
  return id == TOKENIZER_EMPTY ? -1 : (int)id;
}

/* The id of an ordinary piece spelling s, or -1: what SPM and BPE may
** produce from text. */
static int tokenizer_lookup_normal(const tokenizer *t, const char *s, size_t len){
  int id = tokenizer_lookup(t, s, len);
  if( id < 0 ) return -1;
  token_kind k = tokenizer_kind_at(t, id);
  return k == TOKEN_NORMAL || k == TOKEN_USER_DEFINED ? id : -1;
}

/* Enter token id unless a token it does not outrank spells the same bytes. */
static void tokenizer_piece_put(tokenizer *t, int id){
  token_kind kind = tokenizer_kind_at(t, id);
  if( kind == TOKEN_UNUSED ) return;
  size_t len;
  const char *s = tokenizer_piece(t, id, &len);
  uint32_t *slot = tokenizer_piece_slot(t, s, len);
  if( *slot == TOKENIZER_EMPTY ) t->pieces_count++;
  else if( tokenizer_kind_rank(tokenizer_kind_at(t, (int)*slot))
           <= tokenizer_kind_rank(kind) ) return;
  *slot = (uint32_t)id;
}

/* Rebuild the piece table with cap slots (a power of two).  realloc, not
** malloc and free: freeing a large block raises glibc's mmap threshold, and
** the heap then keeps what later large blocks (activations) leave behind. */
static int tokenizer_pieces_resize(tokenizer *t, uint32_t cap){
  uint32_t *slots = realloc(t->pieces, (size_t)cap * sizeof *slots);
  if( !slots ) return -1;
  memset(slots, 0xff, (size_t)cap * sizeof *slots);
  t->pieces = slots;
  t->pieces_mask = cap - 1;
  t->pieces_count = 0;
  for(int id = 0; id < t->vocab.n; id++) tokenizer_piece_put(t, id);
  return 0;
}

/* Whether a table of cap slots may take one more entry: at most two thirds
** full keeps linear probing short. */
static int tokenizer_has_room(uint64_t count, uint64_t cap){
  return (count + 1) * 3 <= cap * 2;
}

/* ---- adding tokens and merges --------------------------------------------- */

int tokenizer_add_token(tokenizer *t, const char *piece, size_t len,
                        float score, token_kind kind){
  if( t->finished || kind < TOKEN_NORMAL || kind > TOKEN_BYTE ) return -1;
  uint32_t cap = t->pieces_mask + 1;
  if( !tokenizer_has_room(t->pieces_count, cap)
   && (cap > UINT32_MAX / 4 || tokenizer_pieces_resize(t, 2 * cap)) ) return -1;
  int id = t->vocab.n;
  if( tokenizer_reserve((void **)&t->kinds, &t->kinds_cap, (size_t)id + 1, 1)
   || tokenizer_set_score(t, id, score)
   || tokenizer_strings_add(&t->vocab, piece, len) < 0 ) return -1;
  t->kinds[id] = (uint8_t)kind;
  tokenizer_piece_put(t, id);
  return 0;
}

/* A merge side: the token spelling s, else a new extra string. */
static int tokenizer_side(tokenizer *t, const char *s, size_t len, int32_t *side){
  int id = tokenizer_lookup(t, s, len);
  if( id >= 0 ){
    *side = id;
    return 0;
  }
  int k = tokenizer_strings_add(&t->extra, s, len);
  *side = -1 - k;
  return k < 0 ? -1 : 0;
}

static const char *tokenizer_side_bytes(const tokenizer *t, int32_t side, size_t *len){
  if( side >= 0 ) return tokenizer_piece(t, side, len);
  return tokenizer_strings_get(&t->extra, -1 - side, len);
}

int tokenizer_add_merge(tokenizer *t, const char *left, size_t left_len,
                        const char *right, size_t right_len){
  if( t->finished || t->kind != TOKENIZER_BPE || t->n_merges >= INT_MAX / 2 ) return -1;
  if( tokenizer_reserve((void **)&t->rules, &t->rules_cap, (size_t)t->n_merges + 1,
                        sizeof *t->rules) ) return -1;
  tokenizer_rule *r = &t->rules[t->n_merges];
  r->result = -1;
  if( tokenizer_side(t, left, left_len, &r->left)
   || tokenizer_side(t, right, right_len, &r->right) ) return -1;
  t->n_merges++;
  return 0;
}

/* ---- merge rules ------------------------------------------------------------ */

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

static uint64_t tokenizer_merge_hash(int left, int right){
  return tokenizer_pair_hash(tokenizer_pair_key((uint32_t)left, (uint32_t)right));
}

/* The slot of the merge of pieces (left, right), whose key hashes to h, or
** the free slot where it would go. */
static tokenizer_pair_slot *tokenizer_pair_slot_of(const tokenizer *t, int left,
                                                  int right, uint64_t h){
  uint32_t tag = (uint32_t)(h >> 32);
  for(uint64_t i = h;; i++){
    tokenizer_pair_slot *slot = &t->pairs[i & t->pairs_mask];
    if( slot->rank == TOKENIZER_EMPTY ) return slot;
    if( slot->tag != tag ) continue;
    const tokenizer_rule *r = &t->rules[slot->rank];
    if( r->left == left && r->right == right ) return slot;
  }
}

/* The rank of the merge that applies to pieces (left, right), or -1. */
static int tokenizer_pair_rank(const tokenizer *t, int left, int right){
  uint32_t rank = tokenizer_pair_slot_of(t, left, right,
                                         tokenizer_merge_hash(left, right))->rank;
  return rank == TOKENIZER_EMPTY ? -1 : (int)rank;
}

/* Point rule r's sides at the ordinary pieces spelling them (tokens added
** after the merge count too) and find the piece they make: 1 if the merge
** applies, 0 if not, -1 if out of memory.  `joined` is scratch space. */
static int tokenizer_rule_resolve(const tokenizer *t, tokenizer_rule *r,
                                  char **joined, size_t *joined_cap){
  size_t ll, rl;
  const char *l = tokenizer_side_bytes(t, r->left, &ll);
  const char *rt = tokenizer_side_bytes(t, r->right, &rl);
  int left = tokenizer_lookup_normal(t, l, ll);
  int right = tokenizer_lookup_normal(t, rt, rl);
  if( left < 0 || right < 0 ) return 0;
  if( tokenizer_reserve((void **)joined, joined_cap, ll + rl + 1, 1) ) return -1;
  memcpy(*joined, l, ll);
  memcpy(*joined + ll, rt, rl);
  r->left = left;
  r->right = right;
  r->result = tokenizer_lookup_normal(t, *joined, ll + rl);
  return r->result >= 0;
}

/* How many merges apply, or -1 if out of memory. */
static int64_t tokenizer_resolve_rules(tokenizer *t){
  char *joined = NULL;
  size_t joined_cap = 0;
  int64_t applies = 0;
  for(int rank = 0; rank < t->n_merges && applies >= 0; rank++){
    int rc = tokenizer_rule_resolve(t, &t->rules[rank], &joined, &joined_cap);
    applies = rc < 0 ? -1 : applies + rc;
  }
  free(joined);
  return applies;
}

static uint32_t tokenizer_table_size(uint64_t n){
  uint64_t cap = 16;
  while( !tokenizer_has_room(n, cap) ) cap *= 2;
  return cap > UINT32_MAX / 2 ? 0 : (uint32_t)cap;
}

/* Merges whose sides or result are not ordinary pieces can never apply (a
** Hugging Face file with such a merge fails to load there); they keep their
** rank so tokenizer_merge still lists every merge added.  A repeated merge
** keeps its first rank. */
static int tokenizer_build_pairs(tokenizer *t){
  int64_t applies = tokenizer_resolve_rules(t);
  uint32_t cap = applies < 0 ? 0 : tokenizer_table_size((uint64_t)applies);
  if( !cap || !(t->pairs = malloc((size_t)cap * sizeof *t->pairs)) ) return -1;
  memset(t->pairs, 0xff, (size_t)cap * sizeof *t->pairs);
  t->pairs_mask = cap - 1;
  for(int rank = 0; rank < t->n_merges; rank++){
    const tokenizer_rule *r = &t->rules[rank];
    if( r->result < 0 ) continue;
    uint64_t h = tokenizer_merge_hash(r->left, r->right);
    tokenizer_pair_slot *slot = tokenizer_pair_slot_of(t, r->left, r->right, h);
    if( slot->rank != TOKENIZER_EMPTY ) continue;
    slot->rank = (uint32_t)rank;
    slot->tag = (uint32_t)(h >> 32);
  }
  return 0;
}

/* ---- SPM joins: adjacent characters inside pieces --------------------------- */

static int tokenizer_pair_set_has(const tokenizer_pair_set *p, uint64_t key){
  uint64_t i = tokenizer_pair_hash(key) & p->mask;
  for(;;){
    if( p->slots[i] == key ) return 1;
    if( p->slots[i] == UINT64_MAX ) return 0;
    i = (i + 1) & p->mask;
  }
}

static int tokenizer_pair_set_resize(tokenizer_pair_set *p, uint64_t cap){
  tokenizer_pair_set next = { malloc(cap * sizeof *next.slots), cap - 1, 0 };
  if( !next.slots ) return -1;
  memset(next.slots, 0xff, cap * sizeof *next.slots);
  for(uint64_t i = 0; p->slots && i <= p->mask; i++){
    uint64_t key = p->slots[i];
    if( key == UINT64_MAX ) continue;
    uint64_t j = tokenizer_pair_hash(key) & next.mask;
    while( next.slots[j] != UINT64_MAX ) j = (j + 1) & next.mask;
    next.slots[j] = key;
    next.count++;
  }
  free(p->slots);
  *p = next;
  return 0;
}

static int tokenizer_pair_set_add(tokenizer_pair_set *p, uint64_t key){
  if( !tokenizer_has_room(p->count, p->mask + 1)
   && tokenizer_pair_set_resize(p, 2 * (p->mask + 1)) ) return -1;
  uint64_t i = tokenizer_pair_hash(key) & p->mask;
  while( p->slots[i] != UINT64_MAX ){
    if( p->slots[i] == key ) return 0;
    i = (i + 1) & p->mask;
  }
  p->slots[i] = key;
  p->count++;
  return 0;
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

/* Every pair of adjacent characters inside a piece SPM can produce. */
static int tokenizer_build_joins(tokenizer *t){
  if( tokenizer_pair_set_resize(&t->joins, 1024) ) return -1;
  for(int id = 0; id < t->vocab.n; id++){
    token_kind kind = tokenizer_kind_at(t, id);
    if( kind != TOKEN_NORMAL && kind != TOKEN_USER_DEFINED ) continue;
    size_t len;
    const char *s = tokenizer_piece(t, id, &len);
    uint32_t prev, next;
    size_t at = tokenizer_spm_char(s, len, &prev);
    while( at < len ){
      at += tokenizer_spm_char(s + at, len - at, &next);
      if( tokenizer_pair_set_add(&t->joins, tokenizer_pair_key(prev, next)) ) return -1;
      prev = next;
    }
  }
  return 0;
}

/* ---- finishing: byte tokens, specials, pre-tokenizer ----------------------- */

static int tokenizer_build_bytes(tokenizer *t, char *err, size_t err_len){
  token_kind want = t->kind == TOKENIZER_SPM ? TOKEN_BYTE : TOKEN_NORMAL;
  for(int b = 0; b < 256; b++) t->byte_token[b] = -1;
  for(int id = 0; id < t->vocab.n; id++){
    size_t len;
    const char *s = tokenizer_piece(t, id, &len);
    if( tokenizer_kind_at(t, id) != want || len != 1 ) continue;
    if( t->byte_token[(unsigned char)s[0]] < 0 ) t->byte_token[(unsigned char)s[0]] = id;
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
static int tokenizer_is_special(const tokenizer *t, int id){
  size_t len;
  token_kind kind = tokenizer_kind_at(t, id);
  tokenizer_piece(t, id, &len);
  return len > 0 && (kind == TOKEN_CONTROL || kind == TOKEN_UNKNOWN
                     || kind == TOKEN_USER_DEFINED);
}

static int tokenizer_build_specials(tokenizer *t){
  int n = 0;
  for(int id = 0; id < t->vocab.n; id++) n += tokenizer_is_special(t, id);
  t->specials = malloc(((size_t)n + 1) * sizeof *t->specials);
  if( !t->specials ) return -1;
  for(int id = 0; id < t->vocab.n; id++){
    token_kind kind = tokenizer_kind_at(t, id);
    if( kind == TOKEN_UNKNOWN && t->unk < 0 ) t->unk = id;
    if( !tokenizer_is_special(t, id) ) continue;
    size_t len;
    const char *s = tokenizer_piece(t, id, &len);
    t->specials[t->n_specials++] = (tokenizer_special){
      id, (uint32_t)len, (unsigned char)s[0], kind == TOKEN_USER_DEFINED };
    t->has_always_special |= kind == TOKEN_USER_DEFINED;
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
  if( t->vocab.n == 0 ){
    tokenizer_error(err, err_len, "tokenizer has no tokens");
    return -1;
  }
  if( tokenizer_build_specials(t) ){
    tokenizer_error(err, err_len, "out of memory for %d tokens", t->vocab.n);
    return -1;
  }
  if( tokenizer_build_bytes(t, err, err_len) ) return -1;
  if( t->kind == TOKENIZER_SPM && tokenizer_build_joins(t) ){
    tokenizer_error(err, err_len, "out of memory for %d tokens", t->vocab.n);
    return -1;
  }
  if( t->kind == TOKENIZER_BPE ){
    if( tokenizer_build_pairs(t) ){
      tokenizer_error(err, err_len, "out of memory for %d merges", t->n_merges);
      return -1;
    }
    if( tokenizer_build_split(t, err, err_len) ) return -1;
  }
  tokenizer_strings_shrink(&t->vocab);
  tokenizer_strings_shrink(&t->extra);
  tokenizer_shrink((void **)&t->kinds, &t->kinds_cap, (size_t)t->vocab.n, 1);
  tokenizer_shrink((void **)&t->scores, &t->scores_cap, (size_t)t->vocab.n,
                   sizeof *t->scores);
  tokenizer_shrink((void **)&t->rules, &t->rules_cap, (size_t)t->n_merges,
                   sizeof *t->rules);
  t->finished = 1;
  return 0;
}

/* ---- accessors ------------------------------------------------------------ */

tokenizer_kind tokenizer_kind_of(const tokenizer *t){ return t->kind; }
const char *tokenizer_pre(const tokenizer *t){ return t->pre; }
int tokenizer_vocab_size(const tokenizer *t){ return t->vocab.n; }
int tokenizer_merge_count(const tokenizer *t){ return t->n_merges; }

int tokenizer_token(const tokenizer *t, int id, const char **piece,
                    size_t *len, float *score, token_kind *kind){
  if( id < 0 || id >= t->vocab.n ) return -1;
  size_t n;
  const char *p = tokenizer_piece(t, id, &n);
  if( piece ) *piece = p;
  if( len ) *len = n;
  if( score ) *score = tokenizer_score(t, id);
  if( kind ) *kind = tokenizer_kind_at(t, id);
  return 0;
}

int tokenizer_merge(const tokenizer *t, int rank, const char **left,
                    size_t *left_len, const char **right, size_t *right_len){
  if( rank < 0 || rank >= t->n_merges ) return -1;
  size_t ll, rl;
  const char *l = tokenizer_side_bytes(t, t->rules[rank].left, &ll);
  const char *r = tokenizer_side_bytes(t, t->rules[rank].right, &rl);
  if( left ) *left = l;
  if( left_len ) *left_len = ll;
  if( right ) *right = r;
  if( right_len ) *right_len = rl;
  return 0;
}

int tokenizer_find(const tokenizer *t, const char *piece, size_t len){
  return tokenizer_lookup(t, piece, len);
}


void tokenizer_set_special(tokenizer *t, int bos, int eos, int add_bos){
  t->bos = bos >= 0 && bos < t->vocab.n ? bos : -1;
  t->eos = eos >= 0 && eos < t->vocab.n ? eos : -1;
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
  tokenizer_bigram g = { tokenizer_spm_key(tokenizer_score(t, id)), left, right, size, id };
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
    if( have_prev && !tokenizer_pair_set_has(&t->joins, tokenizer_pair_key(prev, key)) ){
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
  int rank = tokenizer_pair_rank(t, l->id, r->id);
  if( rank < 0 ) return 0;
  tokenizer_bigram g = { (uint32_t)rank, left, right, l->len + r->len,
                         t->rules[rank].result };
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
    size_t n;
    if( sp->len <= len
     && memcmp(tokenizer_piece(t, sp->id, &n), s, sp->len) == 0 ) return sp->id;
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
    size_t n;
    tokenizer_piece(t, id, &n);
    tokenizer_emit(out, id);
    i += n;
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
  if( id < 0 || id >= t->vocab.n ) return -1;
  size_t len;
  const char *s = tokenizer_piece(t, id, &len);
  token_kind kind = tokenizer_kind_at(t, id);
  if( kind == TOKEN_CONTROL || kind == TOKEN_UNKNOWN || kind == TOKEN_UNUSED ){
    len = 0;
  }else if( t->add_space_prefix && len > 0 && s[0] == ' '
          && (kind == TOKEN_NORMAL || kind == TOKEN_BYTE) ){
    /* Undo the dummy prefix encode put at the start and after specials. */
    int boundary = prev < 0 || prev >= t->vocab.n
                || (tokenizer_kind_at(t, prev) != TOKEN_NORMAL
                    && tokenizer_kind_at(t, prev) != TOKEN_BYTE);
    if( boundary ){ s++; len--; }
  }
  *out = s;
  return (int)len;
}
