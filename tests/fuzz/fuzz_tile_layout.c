/*
** fuzz_tile_layout.c: libFuzzer harness for tile_layout, the walk of
** table tile's b-tree that finds where each tile lies in a model file.
**
**   ./configure CC=clang --enable-fuzzers && make tests/fuzz/fuzz_tile_layout
**   mkdir -p /tmp/fuzz/layout && cd /tmp/fuzz/layout
**   for n in 12 160; do sqlite3 seed$n.db "PRAGMA page_size = 4096;
**     CREATE TABLE tile(id INTEGER PRIMARY KEY, tensor_id, tile_row, tile_col, checksum, data);
**     WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
**     INSERT INTO tile SELECT i, 1, i, 0, i * 1000003,
**       randomblob(CASE WHEN $n > 12 THEN 512 ELSE 512 + (i % 4) * 6000 END) FROM k"; done
**   cd - && ./tests/fuzz/fuzz_tile_layout -max_len=131072 /tmp/fuzz/layout
**
** (seed12.db: one leaf of cells that spill onto overflow pages; seed160.db:
** an interior page over leaves.)
**
** The input is the file: its header gives the page size (4096 if it is
** not a header), the root is page 2 as in a database whose first table is
** tile, and tile id has the size the seeds give it.
** Every tile placed is then read as tile_layout_run says, from the input,
** and gathered.  Invariants, abort() when broken: a placed tile's reads
** lie inside the file and are 4096-aligned, its span is within the bound
** tile_layout.h gives, and a gather writes only inside that span (ASan).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory/tile_layout.h"

#define N_TILES 160

static void require(int ok){ if( !ok ) abort(); }

typedef struct image { const uint8_t *data; size_t size; uint32_t page_size; } image;

static int page_read(void *ctx, int64_t pgno, uint8_t *page){
  const image *im = ctx;
  size_t at = (size_t)(pgno - 1) * im->page_size;
  if( at + im->page_size > im->size ) return -1;
  memcpy(page, im->data + at, im->page_size);
  return 0;
}

static void read_placed(const image *im, const tile_layout *l, const size_t *bytes, int64_t id){
  const tile_place *p = &l->places[id];
  tile_run r = tile_layout_run(l, p);
  require(r.head_at % 4096 == 0 && r.at % 4096 == 0 && r.offset % 4096 == 0);
  require(r.span <= bytes[id] + 3 * 4096 + (size_t)(l->page_size - l->usable + 4) * p->n_pages);
  require(r.head_at >= 0 && (size_t)r.head_at + r.head_bytes <= im->size);
  require(r.at >= 0 && (size_t)r.at + r.bytes <= im->size);
  uint8_t *buf = malloc(r.span);
  memcpy(buf, im->data + r.head_at, r.head_bytes);
  memcpy(buf + r.offset, im->data + r.at, r.bytes);
  tile_layout_gather(l, p, buf, 0);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  image im = { data, size, 4096 };
  layout_source src = { page_read, &im, 4096, 4096, 0 };
  if( size < 100 || tile_layout_header(data, &src.page_size, &src.usable) ){
    src.page_size = src.usable = 4096;
  }
  im.page_size = src.page_size;
  src.pages = (int64_t)(size / src.page_size);
  size_t bytes[N_TILES + 1];
  for(int id = 0; id <= N_TILES; id++) bytes[id] = 512 + (id % 4) * 6000;
  tile_layout l;
  char err[256];
  if( tile_layout_read(&l, &src, 2, 5, bytes, N_TILES, err, sizeof err) ){
    require(err[0] != 0);
    return 0;
  }
  for(int64_t id = 1; id <= N_TILES; id++){
    if( l.places[id].head_at ) read_placed(&im, &l, bytes, id);
  }
  tile_layout_free(&l);
  return 0;
}
