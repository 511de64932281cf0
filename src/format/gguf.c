/*
** gguf.c: the GGUF reader (versions 2 and 3, little-endian).
**
** How it is used: `tensql import model.gguf` opens the file with gguf_open,
** reads hyper-parameters and the tokenizer through gguf_kv_* / gguf_arr_*,
** and copies each tensor's bytes from gguf_tensor_at(g, i)->data into
** tiles.  Nothing is copied out of the file: keys, strings and tensor data
** point into the mapped image, which lives until gguf_close.
**
** How it works: one pass over the image checks every length, count and
** offset against the bytes that remain before it is used (a count is
** compared by division before anything is multiplied by it, so nothing
** overflows), and records for each key the offset of its value.  Fixed-size array elements are then found by
** arithmetic; string-array elements through an offset table built during the
** same pass, one entry per string actually read, so it is bounded by the file
** size.  Keys and tensor names are sorted once, which both finds duplicates
** in O(n log n) whatever the names are and serves gguf_find_key.
**
** Choices where the spec is silent:
** - n_dims must be 1..4 and every dimension nonzero: an empty weight has no
**   use here, and llama.cpp's own reader divides by ne[i].
** - The element count must fit in int64, as ggml's ne does.
** - Tensor offsets must be multiples of general.alignment, but need not be
**   packed one after another, and tensors may overlap (llama.cpp insists on
**   packing; nothing here depends on it).
** - general.alignment, when present, must be a uint32 power of two.
** - A file without tensors may end before the padded start of its data
**   section: llama.cpp's vocab-only files do.
** - Arrays of arrays are validated up to GGUF_MAX_NESTING deep; their
**   elements are not exposed.
*/
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NESTING 8

/* The fewest bytes a key-value pair or a tensor info can take.  Counts read
** from the header are checked against these before anything is allocated. */
#define GGUF_MIN_KV_BYTES 13           /* key length 8, type 4, 1-byte value */
#define GGUF_MIN_TENSOR_INFO_BYTES 32  /* name length 8, n_dims 4, one
                                          dimension 8, type 4, offset 8 */

/* ---- ggml tensor types ------------------------------------------------- */

/* Elements per block and bytes per block for every type ggml defines, from
** ggml.c's type_traits and the block structs in ggml-common.h.  Codes 4, 5,
** 31-33 and 36-38 were removed from ggml and are unknown here as there. */
static const struct ggml_type_info {
  const char *name;
  uint32_t block;
  uint32_t bytes;
} ggml_types[] = {
  [0]  = { "f32",     1,   4 },   [1]  = { "f16",     1,   2 },
  [2]  = { "q4_0",    32,  18 },  [3]  = { "q4_1",    32,  20 },
  [6]  = { "q5_0",    32,  22 },  [7]  = { "q5_1",    32,  24 },
  [8]  = { "q8_0",    32,  34 },  [9]  = { "q8_1",    32,  36 },
  [10] = { "q2_K",    256, 84 },  [11] = { "q3_K",    256, 110 },
  [12] = { "q4_K",    256, 144 }, [13] = { "q5_K",    256, 176 },
  [14] = { "q6_K",    256, 210 }, [15] = { "q8_K",    256, 292 },
  [16] = { "iq2_xxs", 256, 66 },  [17] = { "iq2_xs",  256, 74 },
  [18] = { "iq3_xxs", 256, 98 },  [19] = { "iq1_s",   256, 50 },
  [20] = { "iq4_nl",  32,  18 },  [21] = { "iq3_s",   256, 110 },
  [22] = { "iq2_s",   256, 82 },  [23] = { "iq4_xs",  256, 136 },
  [24] = { "i8",      1,   1 },   [25] = { "i16",     1,   2 },
  [26] = { "i32",     1,   4 },   [27] = { "i64",     1,   8 },
  [28] = { "f64",     1,   8 },   [29] = { "iq1_m",   256, 56 },
  [30] = { "bf16",    1,   2 },   [34] = { "tq1_0",   256, 54 },
  [35] = { "tq2_0",   256, 66 },  [39] = { "mxfp4",   32,  17 },
  [40] = { "nvfp4",   64,  36 },  [41] = { "q1_0",    128, 18 },
  [42] = { "q2_0",    64,  18 },
};

static const struct ggml_type_info *ggml_type_lookup(uint32_t type){
  if( type >= sizeof ggml_types / sizeof ggml_types[0] ) return NULL;
  return ggml_types[type].name ? &ggml_types[type] : NULL;
}

const char *gguf_ggml_type_name(uint32_t type){
  const struct ggml_type_info *info = ggml_type_lookup(type);
  return info ? info->name : NULL;
}

/* ---- metadata value types ---------------------------------------------- */

/* size: bytes of a fixed-size value; min: the fewest bytes any value of the
** type takes (a string is at least its length, an array its header). */
static const struct value_type_info {
  const char *name;
  uint8_t size;
  uint8_t min;
} value_types[] = {
  [GGUF_UINT8]  = { "uint8",  1, 1 },  [GGUF_INT8]    = { "int8",    1, 1 },
  [GGUF_UINT16] = { "uint16", 2, 2 },  [GGUF_INT16]   = { "int16",   2, 2 },
  [GGUF_UINT32] = { "uint32", 4, 4 },  [GGUF_INT32]   = { "int32",   4, 4 },
  [GGUF_FLOAT32]= { "float32",4, 4 },  [GGUF_BOOL]    = { "bool",    1, 1 },
  [GGUF_STRING] = { "string", 0, 8 },  [GGUF_ARRAY]   = { "array",   0, 12 },
  [GGUF_UINT64] = { "uint64", 8, 8 },  [GGUF_INT64]   = { "int64",   8, 8 },
  [GGUF_FLOAT64]= { "float64",8, 8 },
};

/* ---- the parsed file --------------------------------------------------- */

typedef struct gguf_kv {
  gguf_str key;
  gguf_type type;
  gguf_type elem_type;    /* arrays: type of the elements */
  uint64_t n;             /* arrays: element count */
  uint64_t value;         /* offset of the scalar, or of array element 0 */
  uint64_t first_string;  /* string arrays: index of element 0 in strings */
} gguf_kv;

/* A name and the index of the key or tensor that has it; sorted by name. */
typedef struct name_entry {
  gguf_str name;
  uint64_t index;
} name_entry;

struct gguf {
  const uint8_t *buf;       /* the image; owned by the caller of gguf_parse */
  uint64_t len;
  void *map;                /* set by gguf_open: the mapping gguf_close drops */
  size_t map_len;
  uint32_t version;
  uint64_t alignment;
  uint64_t data_start;      /* offset of the data section */
  uint64_t n_kv;
  gguf_kv *kv;
  name_entry *kv_by_name;
  uint64_t n_tensors;
  gguf_tensor *tensors;
  name_entry *tensors_by_name;
  uint64_t *strings;        /* offsets of the length fields of every element
                               of every top-level string array */
  uint64_t n_strings, cap_strings;
};

/* ---- reading with bounds checks ---------------------------------------- */

typedef struct reader {
  const uint8_t *buf;
  uint64_t len, pos;
  const char *path;         /* for messages; NULL for an image in memory */
  char where[160];          /* what is being read: "key 12 ('general.name')" */
  int in_strings;           /* reading a string array's elements: */
  uint64_t string_index;    /* which one, for messages */
  char *err;
  size_t err_len;
} reader;

static void write_error(char *err, size_t err_len, const char *fmt, ...){
  va_list ap;
  if( !err || err_len == 0 ) return;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

/* Report "gguf: [path: ]where: message" and return -1. */
static int fail(reader *r, const char *fmt, ...){
  char msg[320], element[48] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if( r->in_strings ){
    snprintf(element, sizeof element, "element %" PRIu64 ": ", r->string_index);
  }
  write_error(r->err, r->err_len, "gguf: %s%s%s: %s%s", r->path ? r->path : "",
              r->path ? ": " : "", r->where, element, msg);
  return -1;
}

/* A name as it can be shown in a message: at most 60 bytes, with anything
** unprintable (a hostile file chooses its names) replaced by '?'. */
static void printable(gguf_str s, char *out, size_t out_len){
  size_t n = s.len < out_len - 4 ? (size_t)s.len : out_len - 4;
  for( size_t i = 0; i < n; i++ ){
    unsigned char c = (unsigned char)s.ptr[i];
    out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  strcpy(out + n, s.len > n ? "..." : "");
}

static void describe(reader *r, const char *kind, uint64_t i, gguf_str name){
  char shown[64];
  printable(name, shown, sizeof shown);
  snprintf(r->where, sizeof r->where, "%s %" PRIu64 " ('%s')", kind, i, shown);
}

static uint64_t remaining(const reader *r){
  return r->len - r->pos;
}

static int need(reader *r, uint64_t n, const char *what){
  if( n <= remaining(r) ) return 0;
  return fail(r, "truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64
              ", %" PRIu64 " remain", what, n, r->pos, remaining(r));
}

static uint16_t le16(const uint8_t *p){
  return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p){
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
       | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p){
  return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int read_u32(reader *r, const char *what, uint32_t *out){
  if( need(r, 4, what) ) return -1;
  *out = le32(r->buf + r->pos);
  r->pos += 4;
  return 0;
}

static int read_u64(reader *r, const char *what, uint64_t *out){
  if( need(r, 8, what) ) return -1;
  *out = le64(r->buf + r->pos);
  r->pos += 8;
  return 0;
}

static int read_string(reader *r, const char *what, gguf_str *out){
  uint64_t n;
  if( remaining(r) < 8 ){
    return fail(r, "truncated: %s length needs 8 bytes at offset %" PRIu64
                ", %" PRIu64 " remain", what, r->pos, remaining(r));
  }
  n = le64(r->buf + r->pos);
  r->pos += 8;
  if( n > remaining(r) ){
    return fail(r, "%s length %" PRIu64 " at offset %" PRIu64 " exceeds the %"
                PRIu64 " bytes left in the file", what, n, r->pos - 8,
                remaining(r));
  }
  out->ptr = (const char *)r->buf + r->pos;
  out->len = n;
  r->pos += n;
  return 0;
}

static int read_value_type(reader *r, const char *what, gguf_type *out){
  uint32_t code;
  if( read_u32(r, what, &code) ) return -1;
  if( code > GGUF_FLOAT64 ) return fail(r, "unknown %s %" PRIu32, what, code);
  *out = (gguf_type)code;
  return 0;
}

/* ---- metadata ------------------------------------------------------------ */

static int remember_string(gguf *g, reader *r, uint64_t offset){
  if( g->n_strings == g->cap_strings ){
    uint64_t cap = g->cap_strings ? 2 * g->cap_strings : 1024;
    uint64_t *grown = realloc(g->strings, cap * sizeof *grown);
    if( !grown ) return fail(r, "out of memory for the string index");
    g->strings = grown;
    g->cap_strings = cap;
  }
  g->strings[g->n_strings++] = offset;
  return 0;
}

static int read_elements(gguf *g, reader *r, gguf_type type, uint64_t n,
                         int depth, int indexed);

static int read_strings(gguf *g, reader *r, uint64_t n, int indexed){
  r->in_strings = 1;
  for( uint64_t j = 0; j < n; j++ ){
    gguf_str s;
    uint64_t at = r->pos;
    r->string_index = j;
    if( read_string(r, "string", &s) ) return -1;
    if( indexed && remember_string(g, r, at) ) return -1;
  }
  r->in_strings = 0;
  return 0;
}

static int read_array_header(reader *r, gguf_type *type, uint64_t *n){
  if( read_value_type(r, "array element type", type) ) return -1;
  return read_u64(r, "array length", n);
}

static int read_nested_arrays(gguf *g, reader *r, uint64_t n, int depth){
  if( depth >= GGUF_MAX_NESTING ){
    return fail(r, "arrays nested more than %d deep", GGUF_MAX_NESTING);
  }
  for( uint64_t j = 0; j < n; j++ ){
    gguf_type type = GGUF_UINT8;
    uint64_t m = 0;
    if( read_array_header(r, &type, &m) ) return -1;
    if( read_elements(g, r, type, m, depth + 1, 0) ) return -1;
  }
  return 0;
}

static int check_bools(reader *r, uint64_t n){
  for( uint64_t j = 0; j < n; j++ ){
    uint8_t b = r->buf[r->pos + j];
    if( b > 1 ){
      return fail(r, "bool at offset %" PRIu64 " is %u, not 0 or 1",
                  r->pos + j, b);
    }
  }
  return 0;
}

/* Check n array elements of one type at the cursor and step over them.
** `indexed` records where each string starts, for the top-level arrays that
** accessors expose. */
static int read_elements(gguf *g, reader *r, gguf_type type, uint64_t n,
                         int depth, int indexed){
  const struct value_type_info *info = &value_types[type];
  if( n > remaining(r) / info->min ){
    return fail(r, "array length %" PRIu64 " exceeds file size (%s elements "
                "take at least %u bytes each, %" PRIu64 " bytes remain)",
                n, info->name, info->min, remaining(r));
  }
  if( type == GGUF_STRING ) return read_strings(g, r, n, indexed);
  if( type == GGUF_ARRAY ) return read_nested_arrays(g, r, n, depth);
  if( type == GGUF_BOOL && check_bools(r, n) ) return -1;
  r->pos += n * info->size;
  return 0;
}

static int read_scalar(reader *r, gguf_type type){
  const struct value_type_info *info = &value_types[type];
  gguf_str s;
  if( type == GGUF_STRING ) return read_string(r, "string value", &s);
  if( need(r, info->size, info->name) ) return -1;
  if( type == GGUF_BOOL && check_bools(r, 1) ) return -1;
  r->pos += info->size;
  return 0;
}

static int read_kv(gguf *g, reader *r, uint64_t i){
  gguf_kv *kv = &g->kv[i];
  snprintf(r->where, sizeof r->where, "key %" PRIu64, i);
  if( read_string(r, "key", &kv->key) ) return -1;
  describe(r, "key", i, kv->key);
  if( read_value_type(r, "value type", &kv->type) ) return -1;
  if( kv->type != GGUF_ARRAY ){
    kv->value = r->pos;
    return read_scalar(r, kv->type);
  }
  if( read_array_header(r, &kv->elem_type, &kv->n) ) return -1;
  kv->value = r->pos;
  kv->first_string = g->n_strings;
  return read_elements(g, r, kv->elem_type, kv->n, 1, 1);
}

/* ---- names: duplicates and lookup ---------------------------------------- */

static int compare_str(gguf_str a, gguf_str b){
  uint64_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.ptr, b.ptr, (size_t)n) : 0;
  if( c ) return c;
  return (a.len > b.len) - (a.len < b.len);
}

static int compare_entries(const void *a, const void *b){
  const name_entry *x = a, *y = b;
  int c = compare_str(x->name, y->name);
  if( c ) return c;
  return (x->index > y->index) - (x->index < y->index);
}

/* Sort the n entries by name and refuse a name that appears twice. */
static int sort_names(reader *r, name_entry *entries, uint64_t n,
                      const char *kind){
  qsort(entries, (size_t)n, sizeof *entries, compare_entries);
  for( uint64_t i = 1; i < n; i++ ){
    if( compare_str(entries[i - 1].name, entries[i].name) == 0 ){
      describe(r, kind, entries[i].index, entries[i].name);
      return fail(r, "duplicate %s name, first used by %s %" PRIu64,
                  kind, kind, entries[i - 1].index);
    }
  }
  return 0;
}

static const name_entry *find_name(const name_entry *entries, uint64_t n,
                                   const char *name){
  gguf_str wanted = { name, strlen(name) };
  uint64_t lo = 0, hi = n;
  while( lo < hi ){
    uint64_t mid = lo + (hi - lo) / 2;
    int c = compare_str(entries[mid].name, wanted);
    if( c == 0 ) return &entries[mid];
    if( c < 0 ) lo = mid + 1; else hi = mid;
  }
  return NULL;
}

/* ---- header, metadata, tensor infos, data -------------------------------- */

static int read_version(gguf *g, reader *r){
  uint32_t v, swapped;
  if( read_u32(r, "version", &v) ) return -1;
  g->version = v;
  if( v == 2 || v == 3 ) return 0;
  swapped = (v >> 24) | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | v << 24;
  if( swapped == 2 || swapped == 3 ){
    return fail(r, "unsupported version %" PRIu32 ": this is a big-endian "
                "GGUF file, and only little-endian files are read", v);
  }
  return fail(r, "unsupported version %" PRIu32 " (only versions 2 and 3 "
              "are read)", v);
}

static int read_header(gguf *g, reader *r){
  char magic[8];
  strcpy(r->where, "header");
  if( need(r, 4, "magic") ) return -1;
  if( memcmp(r->buf, "GGUF", 4) != 0 ){
    gguf_str found = { (const char *)r->buf, 4 };
    printable(found, magic, sizeof magic);
    return fail(r, "bad magic '%s', expected 'GGUF'", magic);
  }
  r->pos = 4;
  if( read_version(g, r) ) return -1;
  if( read_u64(r, "tensor_count", &g->n_tensors) ) return -1;
  return read_u64(r, "kv_count", &g->n_kv);
}

/* Refuse counts the rest of the file cannot hold, before allocating. */
static int check_counts(gguf *g, reader *r){
  uint64_t room = remaining(r);
  if( g->n_kv > room / GGUF_MIN_KV_BYTES ){
    return fail(r, "kv_count %" PRIu64 " cannot fit in the %" PRIu64
                " bytes after the header", g->n_kv, room);
  }
  room -= g->n_kv * GGUF_MIN_KV_BYTES;
  if( g->n_tensors > room / GGUF_MIN_TENSOR_INFO_BYTES ){
    return fail(r, "tensor_count %" PRIu64 " cannot fit in the %" PRIu64
                " bytes after the header and %" PRIu64 " keys",
                g->n_tensors, remaining(r), g->n_kv);
  }
  return 0;
}

static int read_alignment(gguf *g, reader *r){
  const name_entry *e = find_name(g->kv_by_name, g->n_kv, "general.alignment");
  const gguf_kv *kv;
  uint32_t a;
  g->alignment = GGUF_DEFAULT_ALIGNMENT;
  if( !e ) return 0;
  kv = &g->kv[e->index];
  describe(r, "key", e->index, kv->key);
  if( kv->type != GGUF_UINT32 ){
    return fail(r, "alignment must be a uint32, not %s",
                value_types[kv->type].name);
  }
  a = le32(g->buf + kv->value);
  if( a == 0 || (a & (a - 1)) != 0 ){
    return fail(r, "alignment %" PRIu32 " is not a power of two", a);
  }
  g->alignment = a;
  return 0;
}

static int read_metadata(gguf *g, reader *r){
  g->kv = calloc((size_t)g->n_kv + 1, sizeof *g->kv);
  g->kv_by_name = calloc((size_t)g->n_kv + 1, sizeof *g->kv_by_name);
  if( !g->kv || !g->kv_by_name ) return fail(r, "out of memory for the keys");
  for( uint64_t i = 0; i < g->n_kv; i++ ){
    if( read_kv(g, r, i) ) return -1;
    g->kv_by_name[i].name = g->kv[i].key;
    g->kv_by_name[i].index = i;
  }
  if( sort_names(r, g->kv_by_name, g->n_kv, "key") ) return -1;
  return read_alignment(g, r);
}

/* The tensor's byte size from its shape and type, refusing overflow and
** partial blocks. */
static int size_tensor(reader *r, gguf_tensor *t){
  const struct ggml_type_info *info = ggml_type_lookup(t->type);
  uint64_t elements = t->ne[0], blocks;
  if( !info ) return fail(r, "unknown ggml type %" PRIu32, t->type);
  if( t->ne[0] % info->block != 0 ){
    return fail(r, "row length %" PRIu64 " is not a multiple of the %s "
                "block size %" PRIu32, t->ne[0], info->name, info->block);
  }
  blocks = t->ne[0] / info->block;
  for( int d = 1; d < GGUF_MAX_DIMS; d++ ){
    if( elements > (uint64_t)INT64_MAX / t->ne[d] ){
      return fail(r, "shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %"
                  PRIu64 "] has more than 2^63-1 elements",
                  t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
    }
    elements *= t->ne[d];
    blocks *= t->ne[d];
  }
  if( blocks > UINT64_MAX / info->bytes ){
    return fail(r, "%" PRIu64 " %s blocks overflow a 64-bit byte size",
                blocks, info->name);
  }
  t->size = blocks * info->bytes;
  return 0;
}

static int read_tensor_info(reader *r, gguf_tensor *t, uint64_t i){
  snprintf(r->where, sizeof r->where, "tensor %" PRIu64, i);
  if( read_string(r, "tensor name", &t->name) ) return -1;
  describe(r, "tensor", i, t->name);
  if( read_u32(r, "n_dims", &t->n_dims) ) return -1;
  if( t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS ){
    return fail(r, "n_dims %" PRIu32 " is not between 1 and %d",
                t->n_dims, GGUF_MAX_DIMS);
  }
  for( int d = 0; d < GGUF_MAX_DIMS; d++ ) t->ne[d] = 1;
  for( uint32_t d = 0; d < t->n_dims; d++ ){
    if( read_u64(r, "dimension", &t->ne[d]) ) return -1;
    if( t->ne[d] == 0 ) return fail(r, "dimension %" PRIu32 " is 0", d);
  }
  if( read_u32(r, "ggml type", &t->type) ) return -1;
  if( read_u64(r, "data offset", &t->offset) ) return -1;
  return size_tensor(r, t);
}

static int read_tensor_infos(gguf *g, reader *r){
  g->tensors = calloc((size_t)g->n_tensors + 1, sizeof *g->tensors);
  g->tensors_by_name = calloc((size_t)g->n_tensors + 1,
                              sizeof *g->tensors_by_name);
  if( !g->tensors || !g->tensors_by_name ){
    return fail(r, "out of memory for the tensor infos");
  }
  for( uint64_t i = 0; i < g->n_tensors; i++ ){
    if( read_tensor_info(r, &g->tensors[i], i) ) return -1;
    g->tensors_by_name[i].name = g->tensors[i].name;
    g->tensors_by_name[i].index = i;
  }
  return sort_names(r, g->tensors_by_name, g->n_tensors, "tensor");
}

/* Turn a tensor's offset into one from the start of the file, once the data
** section's start is known, and check its bytes exist. */
static int place_tensor(gguf *g, reader *r, gguf_tensor *t, uint64_t i){
  uint64_t start;
  describe(r, "tensor", i, t->name);
  if( t->offset % g->alignment != 0 ){
    return fail(r, "data offset %" PRIu64 " is not a multiple of the "
                "alignment %" PRIu64, t->offset, g->alignment);
  }
  if( g->data_start > g->len || t->offset > g->len - g->data_start
   || t->size > g->len - g->data_start - t->offset ){
    return fail(r, "data (%" PRIu64 " bytes at offset %" PRIu64 " of the "
                "data section at %" PRIu64 ") runs past the end of the file "
                "(%" PRIu64 " bytes)", t->size, t->offset, g->data_start,
                g->len);
  }
  start = g->data_start + t->offset;
  t->offset = start;
  t->data = g->buf + start;
  return 0;
}

static int place_tensors(gguf *g, reader *r){
  uint64_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
  /* pos <= len, and a file cannot be within an alignment of 2^64 */
  g->data_start = r->pos + pad;
  for( uint64_t i = 0; i < g->n_tensors; i++ ){
    if( place_tensor(g, r, &g->tensors[i], i) ) return -1;
  }
  return 0;
}

static gguf *parse(const uint8_t *buf, uint64_t len, const char *path,
                   char *err, size_t err_len){
  reader r = { .buf = buf, .len = buf ? len : 0, .path = path,
               .err = err, .err_len = err_len };
  gguf *g = calloc(1, sizeof *g);
  if( !g ){
    strcpy(r.where, "parse");
    fail(&r, "out of memory");
    return NULL;
  }
  g->buf = buf;
  g->len = r.len;
  if( read_header(g, &r) || check_counts(g, &r) || read_metadata(g, &r)
   || read_tensor_infos(g, &r) || place_tensors(g, &r) ){
    gguf_close(g);
    return NULL;
  }
  if( err && err_len ) err[0] = 0;
  return g;
}

/* ---- public: opening and closing ----------------------------------------- */

gguf *gguf_parse(const uint8_t *buf, size_t len, char *err, size_t err_len){
  return parse(buf, len, NULL, err, err_len);
}

gguf *gguf_open(const char *path, char *err, size_t err_len){
  gguf *g = NULL;
  void *map = NULL;
  size_t size = 0;
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if( fd < 0 ){
    write_error(err, err_len, "gguf: %s: %s", path, strerror(errno));
    return NULL;
  }
  if( fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ){
    write_error(err, err_len, "gguf: %s: not a regular file", path);
    goto done;
  }
  size = (size_t)st.st_size;
  if( size > 0 ){
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if( map == MAP_FAILED ){
      write_error(err, err_len, "gguf: %s: mmap of %zu bytes failed: %s",
                  path, size, strerror(errno));
      map = NULL;
      goto done;
    }
  }
  g = parse(map, size, path, err, err_len);
  if( g ){
    g->map = map;
    g->map_len = size;
    map = NULL;
  }
done:
  if( map ) munmap(map, size);
  close(fd);
  return g;
}

void gguf_close(gguf *g){
  if( !g ) return;
  if( g->map ) munmap(g->map, g->map_len);
  free(g->kv);
  free(g->kv_by_name);
  free(g->tensors);
  free(g->tensors_by_name);
  free(g->strings);
  free(g);
}

uint32_t gguf_version(const gguf *g){
  return g->version;
}

uint64_t gguf_alignment(const gguf *g){
  return g->alignment;
}

/* ---- public: metadata ---------------------------------------------------- */

uint64_t gguf_kv_count(const gguf *g){
  return g->n_kv;
}

static const gguf_kv *kv_at(const gguf *g, uint64_t i){
  return i < g->n_kv ? &g->kv[i] : NULL;
}

gguf_str gguf_kv_key(const gguf *g, uint64_t i){
  const gguf_kv *kv = kv_at(g, i);
  gguf_str none = { NULL, 0 };
  return kv ? kv->key : none;
}

gguf_type gguf_kv_type(const gguf *g, uint64_t i){
  const gguf_kv *kv = kv_at(g, i);
  return kv ? kv->type : (gguf_type)-1;
}

int64_t gguf_find_key(const gguf *g, const char *name){
  const name_entry *e = find_name(g->kv_by_name, g->n_kv, name);
  return e ? (int64_t)e->index : -1;
}

/* The conversions shared by scalars and array elements: p points at a value
** of type t that parsing has already bounds-checked. */
static int value_int(gguf_type t, const uint8_t *p, int64_t *out){
  int8_t i8; int16_t i16; int32_t i32; int64_t i64;
  uint16_t u16; uint32_t u32; uint64_t u64;
  switch( t ){
    case GGUF_BOOL:
    case GGUF_UINT8:  *out = p[0]; return 0;
    case GGUF_INT8:   memcpy(&i8, p, 1); *out = i8; return 0;
    case GGUF_UINT16: *out = le16(p); return 0;
    case GGUF_INT16:  u16 = le16(p); memcpy(&i16, &u16, 2); *out = i16; return 0;
    case GGUF_UINT32: *out = le32(p); return 0;
    case GGUF_INT32:  u32 = le32(p); memcpy(&i32, &u32, 4); *out = i32; return 0;
    case GGUF_INT64:  u64 = le64(p); memcpy(&i64, &u64, 8); *out = i64; return 0;
    case GGUF_UINT64:
      u64 = le64(p);
      if( u64 > INT64_MAX ) return -1;
      *out = (int64_t)u64;
      return 0;
    default: return -1;
  }
}

static int value_uint64(gguf_type t, const uint8_t *p, uint64_t *out){
  int64_t v;
  if( t == GGUF_UINT64 ){
    *out = le64(p);
    return 0;
  }
  if( value_int(t, p, &v) != 0 || v < 0 ) return -1;
  *out = (uint64_t)v;
  return 0;
}

static int value_float(gguf_type t, const uint8_t *p, double *out){
  float f; double d;
  uint32_t u32; uint64_t u64;
  if( t == GGUF_FLOAT32 ){
    u32 = le32(p);
    memcpy(&f, &u32, 4);
    *out = f;
    return 0;
  }
  if( t == GGUF_FLOAT64 ){
    u64 = le64(p);
    memcpy(&d, &u64, 8);
    *out = d;
    return 0;
  }
  return -1;
}

static const uint8_t *scalar_at(const gguf *g, uint64_t i, gguf_type *type){
  const gguf_kv *kv = kv_at(g, i);
  if( !kv || kv->type == GGUF_ARRAY ) return NULL;
  *type = kv->type;
  return g->buf + kv->value;
}

int gguf_kv_int(const gguf *g, uint64_t i, int64_t *out){
  gguf_type t;
  const uint8_t *p = scalar_at(g, i, &t);
  return p ? value_int(t, p, out) : -1;
}

int gguf_kv_uint64(const gguf *g, uint64_t i, uint64_t *out){
  gguf_type t;
  const uint8_t *p = scalar_at(g, i, &t);
  return p ? value_uint64(t, p, out) : -1;
}

int gguf_kv_float(const gguf *g, uint64_t i, double *out){
  gguf_type t;
  const uint8_t *p = scalar_at(g, i, &t);
  return p ? value_float(t, p, out) : -1;
}

/* A string's length field is at `offset`, its bytes follow. */
static gguf_str string_at(const gguf *g, uint64_t offset){
  gguf_str s = { (const char *)g->buf + offset + 8, le64(g->buf + offset) };
  return s;
}

int gguf_kv_string(const gguf *g, uint64_t i, gguf_str *out){
  gguf_type t;
  const uint8_t *p = scalar_at(g, i, &t);
  if( !p || t != GGUF_STRING ) return -1;
  *out = string_at(g, (uint64_t)(p - g->buf));
  return 0;
}

int gguf_arr_info(const gguf *g, uint64_t i, gguf_type *type, uint64_t *len){
  const gguf_kv *kv = kv_at(g, i);
  if( !kv || kv->type != GGUF_ARRAY ) return -1;
  *type = kv->elem_type;
  *len = kv->n;
  return 0;
}

/* Element j of array i, if it exists and has a fixed size. */
static const uint8_t *element_at(const gguf *g, uint64_t i, uint64_t j,
                                 gguf_type *type){
  const gguf_kv *kv = kv_at(g, i);
  if( !kv || kv->type != GGUF_ARRAY || j >= kv->n ) return NULL;
  if( value_types[kv->elem_type].size == 0 ) return NULL;
  *type = kv->elem_type;
  return g->buf + kv->value + j * value_types[kv->elem_type].size;
}

int gguf_arr_int(const gguf *g, uint64_t i, uint64_t j, int64_t *out){
  gguf_type t;
  const uint8_t *p = element_at(g, i, j, &t);
  return p ? value_int(t, p, out) : -1;
}

int gguf_arr_float(const gguf *g, uint64_t i, uint64_t j, double *out){
  gguf_type t;
  const uint8_t *p = element_at(g, i, j, &t);
  return p ? value_float(t, p, out) : -1;
}

int gguf_arr_string(const gguf *g, uint64_t i, uint64_t j, gguf_str *out){
  const gguf_kv *kv = kv_at(g, i);
  if( !kv || kv->type != GGUF_ARRAY || kv->elem_type != GGUF_STRING
   || j >= kv->n ){
    return -1;
  }
  *out = string_at(g, g->strings[kv->first_string + j]);
  return 0;
}

char *gguf_get_string_dup(const gguf *g, const char *key){
  gguf_str s;
  char *copy;
  int64_t i = gguf_find_key(g, key);
  if( i < 0 || gguf_kv_string(g, (uint64_t)i, &s) != 0 ) return NULL;
  copy = malloc((size_t)s.len + 1);
  if( !copy ) return NULL;
  memcpy(copy, s.ptr, (size_t)s.len);
  copy[s.len] = 0;
  return copy;
}

/* ---- public: tensors ----------------------------------------------------- */

uint64_t gguf_tensor_count(const gguf *g){
  return g->n_tensors;
}

const gguf_tensor *gguf_tensor_at(const gguf *g, uint64_t i){
  return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name){
  const name_entry *e = find_name(g->tensors_by_name, g->n_tensors, name);
  return e ? &g->tensors[e->index] : NULL;
}
