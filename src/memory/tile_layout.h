/*
** tile_layout.h: where each tile's bytes lie in the model database file,
** so that the tile manager can read a tile as one run of pages, with large
** direct reads, instead of page by page through SQLite.  Not used from
** SQL.
**
** A row of `tile` whose payload exceeds what a b-tree leaf cell holds
** keeps its first bytes in the leaf cell (the tile's "head") and the rest
** on a chain of overflow pages, each starting with the number of the next.
** The importer writes each chain on consecutive pages.  tile_layout_read
** walks the table's b-tree once, at open, and notes where each head lies
** and where each chain starts; tile_layout_run says which bytes of the
** file to read for a tile (the head, then the run of pages: one request
** where they adjoin, else two) and where in its buffer, and
** tile_layout_gather moves the payload out of what was read, in place,
** checking each page's next-page number.  Where the pages are not where expected, the
** tile is read through SQLite; its checksum guards every load either way.
*/
#ifndef TENSQL_TILE_LAYOUT_H
#define TENSQL_TILE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* Reads page pgno (1-based) of the file into page (page_size bytes):
** 0, or -1 if it cannot. */
typedef int (*layout_page_reader)(void *ctx, int64_t pgno, uint8_t *page);

/* Where one tile lies.  head_at 0: not known, read it through SQLite (a
** cell that did not parse, or a chain that was not where assumed). */
typedef struct tile_place {
  int64_t head_at;        /* file offset of its bytes in the leaf cell */
  uint32_t head_bytes;    /* how many there are: all of a small tile's */
  int64_t first_page;     /* its first overflow page, if any */
  uint32_t n_pages;       /* overflow pages holding the rest, assumed consecutive */
  uint32_t last_bytes;    /* its bytes on the last of them */
} tile_place;

typedef struct tile_layout {
  uint32_t page_size, usable;   /* usable: page_size less the reserved bytes */
  int64_t n_tiles;
  tile_place *places;           /* indexed by tile id, 1..n_tiles */
} tile_layout;

/* The page size and usable size from the file's first 100 bytes.  -1 if
** they are not a database header or the file is in WAL mode, where the
** newest pages may be in the -wal file, not at their place in this one. */
int tile_layout_header(const uint8_t header[100], uint32_t *page_size, uint32_t *usable);

/* The file as tile_layout_read sees it. */
typedef struct layout_source {
  layout_page_reader read;
  void *ctx;
  uint32_t page_size, usable;   /* from tile_layout_header */
  int64_t pages;                /* pages in the file */
} layout_source;

/* Walk the b-tree of table `tile` (root page `root`) and place the tiles
** 1..n_tiles, whose sizes are tile_bytes[id]; the blob is the record's
** last column, number data_column.  Returns 0, or -1 with a message when
** the walk itself fails (a page unreadable, a loop, not a table b-tree,
** pages smaller than 4096 bytes);
** a cell that does not parse only leaves its tile unplaced.  Free with
** tile_layout_free. */
int tile_layout_read(tile_layout *l, const layout_source *src, int64_t root, int data_column,
                     const size_t *tile_bytes, int64_t n_tiles, char *err, size_t err_len);
void tile_layout_free(tile_layout *l);

/* What to read for a placed tile, all of it aligned to 4096 bytes in the
** file and in the buffer (tile_layout_read places no tiles in a file of
** smaller pages): the
** head's `head_bytes` from `head_at` into the buffer at 0, and the run's
** `bytes` from `at` into the buffer at `offset`, which is head_bytes.
** When head_at + head_bytes == at, that is one read (always, for a tile
** with no overflow pages: bytes is 0).  The buffer must
** hold `span` bytes, at most tile bytes + 3 * 4096 + (page_size - usable
** + 4) * n_pages. */
typedef struct tile_run {
  int64_t head_at, at;
  size_t head_bytes, bytes, offset, span;
} tile_run;
tile_run tile_layout_run(const tile_layout *l, const tile_place *p);

/* With the run read into buf as tile_layout_run says: put the tile's
** bytes at buf[0 .. tile bytes).  head_in_place: the head is at buf[0 ..
** head_bytes) already, and was not read.  -1 if a page's next-page number
** says the chain is not on consecutive pages (buf is then garbage). */
int tile_layout_gather(const tile_layout *l, const tile_place *p, uint8_t *buf, int head_in_place);

#endif
