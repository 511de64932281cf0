/*
** tile.h: the tile manager.  It owns every tile buffer in the process,
** reads tiles from a model database on demand, checks each one's XXH3-64
** checksum as it comes off disk, keeps it resident while anything holds a
** pin on it, and keeps the process inside the memory budget (budget.h).
**
** When a load needs room it evicts an unpinned tile: under the default
** policy, the one whose next use on the recorded schedule (schedule.h) is
** furthest away (Bélády's OPT); under POLICY_LRU the least recently used;
** under POLICY_OS every unpinned tile, leaving the caching to the OS page
** cache.  Under OPT the tiles that do not fit are marked, spread along
** the step, and evicted first (tile.c says why).  Reader threads read
** ahead along the schedule into free budget while the kernels compute,
** several tiles in flight, evicting only marked tiles needed later than
** the ones they bring in.  A tile is read as one run of its pages, with
** O_DIRECT, into memory the manager owns (tile_layout.h, model_file.h);
** where that cannot be done, through SQLite's blob API on the manager's
** own connections.  Either way (but under POLICY_OS) nothing stays in the
** OS page cache, so the budget is what the process really holds, and the
** disk reads what the tiles need.
**
** From SQL the manager is invisible: a tensor table's `data` column pins
** the tile under the cursor and the pin is released when the cursor moves
** on (vtab/tensor_vtab.c); `tile_stats` shows its counters.
*/
#ifndef TENSQL_TILE_H
#define TENSQL_TILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tile_manager tile_manager;

/* A resident tile.  data stays valid and unchanged while the tile is
** pinned. */
typedef struct tile {
  int64_t id;            /* tile.id in the database */
  const void *data;
  size_t bytes;
} tile;

/* Open the manager for the model database at path, with its own read-only
** connection.  Returns NULL with a message in err. */
tile_manager *tile_manager_open(const char *path, char *err, size_t err_len);
void tile_manager_close(tile_manager *tm);

/* Pin tile `id`, reading it if it is not resident.  Returns NULL with a
** message naming the tensor and tile position on a checksum mismatch or
** read error, or saying how much budget would be needed. */
const tile *tile_manager_pin(tile_manager *tm, int64_t id, char *err, size_t err_len);
void tile_manager_unpin(tile_manager *tm, const tile *t);
/* One more pin on a tile already pinned, for work that outlives the first
** pin (a kernel task computing after the cursor moved on).  It is not a
** use: the schedule and the counters do not see it.  Released by
** tile_manager_unpin. */
void tile_manager_hold(tile_manager *tm, const tile *t);

/* How far ahead on the schedule the readers read: at most this many pins,
** and a window of tiles loading or read and not used yet.  What they hold
** ahead takes room OPT would keep other tiles in, so a step reads that
** much more than OPT alone (tile.c leaves the window, and one tile in use,
** to the tiles that stream; while the kernels wait, that tile's room
** carries one more read).  So the window is a share of what a step
** must read, 1/TILE_PREFETCH_SHARE of it, between TILE_PREFETCH_BYTES and
** TILE_PREFETCH_MOST: 3 MiB keeps three reads of Qwen2.5-0.5B's 1 MiB
** tiles in flight, four while the kernels wait; at 380M (a step reads
** 134 MB) 4 MiB and two tiles read 1.056 of that, 3 MiB and one tile
** 1.044; lower budgets, which read more, afford more, and decode ran up
** to 10% faster with 8 MiB.  TILE_READERS:
** 4 ran 10-20% faster than 2, and as fast as 8. */
#define TILE_PREFETCH_WINDOW 32
#define TILE_PREFETCH_BYTES (3 << 20)
#define TILE_PREFETCH_MOST (8 << 20)
#define TILE_PREFETCH_SHARE 40
#define TILE_READERS 4

/* A step of the forward pass begins / ends.  The first step of each kind
** (decode: one position; prefill: several) records the schedule; the
** following ones follow it.  Prefill has its own schedule because its
** embedding lookups differ.  begin returns 1 if the step streams tiles
** from disk (its tiles exceed the budget, and tiles are marked to stream),
** else 0. */
int tile_manager_begin_step(tile_manager *tm, int prefill);
void tile_manager_end_step(tile_manager *tm);
/* Forget the recorded schedules (the program changed); the next steps
** record them again. */
void tile_manager_reset_schedules(tile_manager *tm);

/* Evict every unpinned tile, so that what follows starts cold; the
** schedules are kept. */
void tile_manager_drop_all(tile_manager *tm);

/* How the manager reads this model's tiles: as runs of pages with
** O_DIRECT; as runs, buffered (the file system refused O_DIRECT); or all
** through SQLite (a WAL file, or pages it could not place). */
typedef enum tile_io { TILE_IO_DIRECT, TILE_IO_BUFFERED, TILE_IO_SQLITE } tile_io;
const char *tile_io_name(tile_io io);

typedef struct tile_stats {
  uint64_t hits, misses, prefetch_hits, bytes_read, evictions;
  uint64_t prefetch_wakes;   /* times a reader thread was woken */
  uint64_t sqlite_reads;     /* tiles read through SQLite, not as a run */
  uint64_t resident_bytes, peak_resident_bytes, peak_total_bytes;
  uint64_t schedule_length;
  tile_io io;
} tile_stats;
void tile_manager_stats(tile_manager *tm, tile_stats *out);
/* The budget changed: evict down to it, and start the peaks over (a new
** budget, a new measurement). */
void tile_manager_budget_changed(tile_manager *tm);

#endif
