/*
** tile_layout.c: where each tile lies in the model database file (see
** tile_layout.h).
**
** The file format is SQLite's (sqlite.org/fileformat2.html): a table
** b-tree of interior pages (type 5: child page numbers and keys) over
** leaf pages (type 13: cells of payload size, rowid, the payload's local
** part and, when the payload is larger, the first overflow page).  How
** much of a payload is local follows from the payload size alone ("Cell
** Payload Overflow Pages"); a record is a header of serial types, then
** the columns.  Every number read from the file is checked against the
** page it lies in before use: a file that is not what it seems leaves
** tiles unplaced, to be read through SQLite, which knows what to say.
*/
#include "tile_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAYOUT_MAX_DEPTH 20   /* a b-tree of 64 KiB pages this deep would hold more than any file */
#define ALIGN 4096            /* direct reads: offsets, sizes and buffers */

#define PAGE_INTERIOR 5
#define PAGE_LEAF 13

static uint32_t be16(const uint8_t *p){ return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p){
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static size_t align_up(size_t n, size_t a){ return (n + a - 1) / a * a; }

/* An SQLite varint at p, before end: its bytes, or 0 if it runs past end. */
static int varint(const uint8_t *p, const uint8_t *end, uint64_t *v){
  uint64_t x = 0;
  for(int i = 0; i < 9; i++){
    if( p + i >= end ) return 0;
    if( i == 8 ){ *v = x << 8 | p[i]; return 9; }
    x = x << 7 | (p[i] & 0x7f);
    if( (p[i] & 0x80) == 0 ){ *v = x; return i + 1; }
  }
  return 0;
}

int tile_layout_header(const uint8_t h[100], uint32_t *page_size, uint32_t *usable){
  if( memcmp(h, "SQLite format 3", 16) != 0 ) return -1;
  uint32_t size = be16(h + 16) == 1 ? 65536 : be16(h + 16);
  if( size < 512 || (size & (size - 1)) != 0 ) return -1;
  if( h[18] != 1 || h[19] != 1 ) return -1;   /* 2: WAL */
  if( size - h[20] < 480 ) return -1;
  *page_size = size;
  *usable = size - h[20];
  return 0;
}

/* ---- one leaf cell ------------------------------------------------------- */

/* Bytes of a table-leaf payload of p bytes kept in the cell itself. */
static uint64_t local_bytes(uint64_t p, uint32_t usable){
  uint64_t most = usable - 35, least = (usable - 12) * 32 / 255 - 23;
  if( p <= most ) return p;
  uint64_t k = least + (p - least) % (usable - 4);
  return k <= most ? k : least;
}

static uint64_t serial_bytes(uint64_t type){
  static const uint8_t fixed[12] = { 0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0 };
  return type < 12 ? fixed[type] : (type - 12) / 2;
}

/* Where the blob of column `column`, which must be the record's last and
** `bytes` long, starts in a record whose first `local` bytes are at rec;
** 0 if the record says otherwise. */
static uint64_t blob_offset(const uint8_t *rec, uint64_t local, int column, size_t bytes,
                            uint64_t payload){
  uint64_t header, type = 0, at;
  int n = varint(rec, rec + local, &header);
  if( n == 0 || header > local ) return 0;
  at = header;
  const uint8_t *p = rec + n, *end = rec + header;
  for(int c = 0; c <= column; c++){
    int k = varint(p, end, &type);
    if( k == 0 ) return 0;
    p += k;
    if( c < column ) at += serial_bytes(type);
  }
  if( p != end || type < 12 || type % 2 || serial_bytes(type) != bytes ) return 0;
  return at + bytes == payload ? at : 0;
}

typedef struct walk {
  tile_layout *l;
  const layout_source *src;
  int data_column;
  const size_t *tile_bytes;
  int64_t visited;
} walk;

/* Place the tile in the leaf cell at page[at..usable) of page pgno, if it
** is one. */
static void cell_place(walk *w, int64_t pgno, const uint8_t *page, uint32_t at){
  tile_layout *l = w->l;
  const uint8_t *end = page + l->usable, *p = page + at;
  uint64_t payload, rowid;
  int n = varint(p, end, &payload);
  int k = n ? varint(p + n, end, &rowid) : 0;
  if( k == 0 || rowid < 1 || rowid > (uint64_t)l->n_tiles ) return;
  p += n + k;
  tile_place *t = &l->places[rowid];
  size_t bytes = w->tile_bytes[rowid];
  uint64_t local = local_bytes(payload, l->usable);
  int spills = local < payload;
  if( t->head_at || (uint64_t)(end - p) < local + 4 * spills ) return;
  uint64_t data = blob_offset(p, local, w->data_column, bytes, payload);
  if( data == 0 || data > local ) return;
  uint64_t first = spills ? be32(p + local) : 0, rest = payload - local, room = l->usable - 4;
  uint64_t pages = (rest + room - 1) / room;
  if( spills && (first < 2 || first + pages - 1 > (uint64_t)w->src->pages) ) return;
  t->head_at = (pgno - 1) * (int64_t)l->page_size + (p - page) + (int64_t)data;
  t->head_bytes = (uint32_t)(local - data);
  t->n_pages = (uint32_t)pages;
  t->last_bytes = spills ? (uint32_t)(rest - (pages - 1) * room) : 0;
  t->first_page = (int64_t)first;
}

/* ---- the b-tree ------------------------------------------------------------ */

static int walk_page(walk *w, int64_t pgno, int depth, uint8_t *page, char *err, size_t len);

static int walk_children(walk *w, uint8_t *page, uint32_t hdr, uint32_t cells,
                         int depth, char *err, size_t len){
  const tile_layout *l = w->l;
  int64_t *child = malloc(((size_t)cells + 1) * sizeof *child);
  if( child == 0 ){ snprintf(err, len, "out of memory"); return -1; }
  for(uint32_t i = 0; i < cells; i++){
    uint32_t at = be16(page + hdr + 12 + 2 * i);
    child[i] = at + 4 <= l->usable ? be32(page + at) : 0;
  }
  child[cells] = be32(page + hdr + 8);
  int rc = 0;
  for(uint32_t i = 0; i <= cells && rc == 0; i++){
    rc = walk_page(w, child[i], depth + 1, page, err, len);
  }
  free(child);
  return rc;
}

/* Walk the subtree at pgno, reading its pages into page (reused: a parent
** has taken what it needs from it before its children are read). */
static int walk_page(walk *w, int64_t pgno, int depth, uint8_t *page, char *err, size_t len){
  const layout_source *src = w->src;
  if( pgno < 1 || pgno > src->pages || depth > LAYOUT_MAX_DEPTH || ++w->visited > src->pages ){
    snprintf(err, len, "table tile: b-tree page %lld out of place", (long long)pgno);
    return -1;
  }
  if( src->read(src->ctx, pgno, page) ){
    snprintf(err, len, "table tile: cannot read page %lld", (long long)pgno);
    return -1;
  }
  uint32_t hdr = pgno == 1 ? 100 : 0, usable = w->l->usable;
  uint32_t type = page[hdr], cells = be16(page + hdr + 3);
  uint32_t head = type == PAGE_INTERIOR ? 12 : 8;
  if( (type != PAGE_INTERIOR && type != PAGE_LEAF) || hdr + head + 2 * cells > usable ){
    snprintf(err, len, "table tile: page %lld is not a table b-tree page", (long long)pgno);
    return -1;
  }
  if( type == PAGE_INTERIOR ) return walk_children(w, page, hdr, cells, depth, err, len);
  for(uint32_t i = 0; i < cells; i++){
    uint32_t at = be16(page + hdr + 8 + 2 * i);
    if( at >= hdr + head + 2 * cells && at < usable ) cell_place(w, pgno, page, at);
  }
  return 0;
}

int tile_layout_read(tile_layout *l, const layout_source *src, int64_t root, int data_column,
                     const size_t *tile_bytes, int64_t n_tiles, char *err, size_t err_len){
  memset(l, 0, sizeof *l);
  l->page_size = src->page_size;
  l->usable = src->usable;
  l->n_tiles = n_tiles;
  l->places = calloc((size_t)n_tiles + 1, sizeof *l->places);
  uint8_t *page = malloc(src->page_size);
  walk w = { l, src, data_column, tile_bytes, 0 };
  int rc = -1;
  if( l->places == 0 || page == 0 ) snprintf(err, err_len, "out of memory");
  else if( src->page_size < ALIGN ) snprintf(err, err_len, "pages too small for direct reads");
  else rc = walk_page(&w, root, 0, page, err, err_len);
  free(page);
  if( rc ) tile_layout_free(l);
  return rc;
}

void tile_layout_free(tile_layout *l){
  free(l->places);
  memset(l, 0, sizeof *l);
}

/* ---- reading a tile --------------------------------------------------------- */

tile_run tile_layout_run(const tile_layout *l, const tile_place *p){
  tile_run r;
  size_t skip = (size_t)(p->head_at % ALIGN);
  r.head_at = p->head_at - (int64_t)skip;
  r.head_bytes = p->head_bytes ? align_up(skip + p->head_bytes, ALIGN) : 0;
  r.at = p->n_pages ? (p->first_page - 1) * (int64_t)l->page_size
                    : r.head_at + (int64_t)r.head_bytes;
  r.bytes = p->n_pages ? (size_t)(p->n_pages - 1) * l->page_size
                         + align_up(4 + (size_t)p->last_bytes, ALIGN) : 0;
  r.offset = r.head_bytes;
  r.span = r.offset + r.bytes;
  return r;
}

/* The head sits at buf + head_at % 4096; it goes to buf[0 ..).  Page i of
** the run sits at buf + offset + i * page_size, its payload after the
** 4-byte next-page number; it goes to buf + head + i * (usable - 4).
** Every destination lies before its source, and ends before the next
** source begins, so moving the head and then the pages in order is
** safe. */
int tile_layout_gather(const tile_layout *l, const tile_place *p, uint8_t *buf, int head_in_place){
  tile_run r = tile_layout_run(l, p);
  if( !head_in_place ) memmove(buf, buf + p->head_at % ALIGN, p->head_bytes);
  uint8_t *to = buf + p->head_bytes;
  for(uint32_t i = 0; i < p->n_pages; i++){
    const uint8_t *page = buf + r.offset + (size_t)i * l->page_size;
    int last = i + 1 == p->n_pages;
    if( be32(page) != (last ? 0 : (uint64_t)p->first_page + i + 1) ) return -1;
    size_t n = last ? p->last_bytes : l->usable - 4;
    memmove(to, page + 4, n);
    to += n;
  }
  return 0;
}
