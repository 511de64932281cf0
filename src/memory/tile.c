/*
** tile.c: the tile manager (see tile.h).
**
** Tile ids are dense (1..n, sql/schema.sql), so residency is an array of
** slots indexed by id, plus a list of the resident ids to choose victims
** from.  Checksums are read once at open, and so is where each tile lies
** in the file (tile_layout.h), which keeps a load to one direct read of
** its run of pages, a gather and one XXH3 pass.
**
** Threads: one mutex guards every slot, the schedule and the counters.  A
** pin that misses reads the tile while holding it (the pinning thread
** waits for that tile anyway); the reader threads read without it, after
** marking the slot `loading` and reserving its bytes, so no tile is read
** twice at once and the budget is never exceeded.  Checksums of what the
** readers bring in are computed on their threads, not the kernels'.
*/
#include "tile.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "budget.h"
#include "database.h"
#include "model_file.h"
#include "schedule.h"
#include "tile_layout.h"

/* Pins between wakes of idle readers. */
#define PREFETCH_WAKE_PINS 4

typedef struct tile_slot {
  tile t;                 /* t.data is NULL when not resident */
  uint64_t checksum;      /* expected XXH3-64 of the payload */
  atomic_int pins;        /* a first pin is taken under lock; see tile_manager_hold */
  int loading;            /* a reader thread is reading it */
  int prefetched;         /* brought in ahead of use, not yet used */
  int64_t resident_at;    /* index in resident[], or -1 */
  uint64_t last_use;      /* for LRU */
  size_t home;            /* offset of its bytes in the homes mapping */
  int streams;            /* marked to stream (stream_marks): evicted first */
  uint32_t head_kept;     /* not resident, but its head is, at its home's start */
  uint64_t seen;          /* stream_marks' pass that last saw it */
  int64_t tensor_id, row, col;   /* what it is, for errors */
} tile_slot;

/* A tensor's name, for errors: read at open, so that a file that has gone
** bad since can still be told about. */
typedef struct tensor_name { int64_t id; char *name; } tensor_name;

/* A connection to read tiles through SQLite with, the lock its users hold,
** and whether the homes are huge pages (read under the manager's lock). */
typedef struct tile_reader { sqlite3 *db; pthread_mutex_t *lock; int huge; } tile_reader;

struct tile_manager {
  sqlite3 *db;            /* read-only, used under lock */
  sqlite3 *readers_db;    /* the reader threads', used under readers_db_lock */
  pthread_mutex_t readers_db_lock;
  tile_layout layout;     /* where tiles lie; no places: all through SQLite */
  int budget_fd;          /* runs under a budget: O_DIRECT when direct */
  int os_fd;              /* runs under POLICY_OS, through the page cache */
  int direct;
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a load finished, or the cursor moved */
  int64_t n_tiles;
  tile_slot *slots;       /* indexed by tile id; slot 0 unused */
  tensor_name *tensors;   /* by id, ascending */
  int64_t n_tensors;
  int64_t *resident;      /* ids of resident tiles */
  int64_t n_resident;
  schedule schedules[2];  /* decode, prefill */
  int active;             /* which schedule the running step follows */
  int recording;
  int64_t cursor;         /* position of the last pin on the schedule */
  uint64_t clock;
  pthread_t readers[TILE_READERS];
  int n_readers, stopping;
  int readers_idle;       /* waiting for the cursor to move */
  int pins_unseen;        /* pins since the readers were last woken */
  uint64_t clean_at;      /* evictions when a reader last found all resident, */
  int64_t clean_cursor;   /* and the cursor then */
  int64_t ahead_bytes;    /* of tiles loading or read ahead and not used yet */
  int marks_on;           /* stream_marks marked tiles for this step */
  int64_t window_bytes;   /* how far ahead the readers may read (stream_marks) */
  uint64_t marks_pass;
  size_t largest_tile;
  uint8_t *map, *homes;   /* the reserved mapping; homes = its first huge page */
  size_t map_bytes, homes_bytes;
  int homes_huge;         /* huge pages asked for (no budget) */
  tile_stats stats;
};

/* ---- tile homes ---------------------------------------------------------- */

/* Every tile has a fixed home in one mapping reserved at open: the tiles
** in id order, each home starting on a page.  A load fills the home and an
** eviction gives its pages back (MADV_DONTNEED), so a freed tile leaves
** the process at once.  (malloc would keep freed tiles in per-thread
** arenas and raise its mmap threshold after each large free, and RSS would
** drift far above the budget.)
**
** The homes of a tensor's tiles follow one another, so a matmul streams
** one run of memory, not tiles scattered wherever mmap put them.  With no
** budget nothing is evicted, and the mapping asks for transparent huge
** pages, which spare a decode step's stream the TLB misses of 4 KiB pages
** (a Q8_0 kernel microbenchmark went from 0.87 to 0.89 of a streaming
** read).  Under a budget it must not: one tile's first touch would fault
** in a whole 2 MiB page, past the budget. */
#define HUGE_PAGE (2u << 20)

static size_t page_round(size_t bytes){
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return (bytes + page - 1) / page * page;
}

/* Where tile id lies in the file, or NULL: read it through SQLite. */
static tile_place *place_of(const tile_manager *tm, int64_t id){
  tile_place *p = tm->layout.places ? &tm->layout.places[id] : 0;
  return p && p->head_at ? p : 0;
}

/* The pages a tile's home spans: its bytes, or for a tile read as a run,
** the run as it is read in before the gather (tile_layout_run), which
** holds a few KiB more. */
static size_t home_bytes(const tile_manager *tm, const tile_slot *s){
  size_t bytes = s->t.bytes;
  const tile_place *p = place_of(tm, s->t.id);
  if( p ){
    tile_run r = tile_layout_run(&tm->layout, p);
    if( r.span > bytes ) bytes = r.span;
  }
  return page_round(bytes);
}

static int homes_map(tile_manager *tm){
  size_t total = 0;
  for(int64_t i = 1; i <= tm->n_tiles; i++){
    tm->slots[i].home = total;
    total += home_bytes(tm, &tm->slots[i]);
  }
  /* reserved, not committed: only loaded tiles become memory */
  tm->map_bytes = total + HUGE_PAGE;
  void *p = mmap(0, tm->map_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if( p == MAP_FAILED ) return -1;
  tm->map = p;
  tm->homes = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  tm->homes_bytes = total;
  return 0;
}

static uint8_t *tile_home(tile_manager *tm, const tile_slot *s){
  return tm->homes + s->home;
}

static void home_release(tile_manager *tm, const tile_slot *s){
  madvise(tile_home(tm, s), home_bytes(tm, s), MADV_DONTNEED);
}

/* After a gather, the pages of the home past the tile's own go back,
** unless they are part of huge pages (no budget), which that would split. */
static void home_trim(tile_manager *tm, const tile_slot *s, int huge){
  size_t own = page_round(s->t.bytes), all = home_bytes(tm, s);
  if( all > own && !huge ) madvise(tile_home(tm, s) + own, all - own, MADV_DONTNEED);
}

/* The pages of a home, made real in one call before a load fills it.
** Under a budget every load refills pages an eviction gave back, and
** faulting them in one by one as the copy touched them cost the
** reader more than the copy: decode 10-20% faster with this
** (Qwen2.5-0.5B, budgets 150M-350M, 1 and 2 threads, tokens alternating
** in one process).  A kernel before Linux 5.14 refuses the advice, and
** the copy faults the pages in as before. */
static void home_populate(tile_manager *tm, const tile_slot *s){
#ifdef MADV_POPULATE_WRITE
  madvise(tile_home(tm, s), home_bytes(tm, s), MADV_POPULATE_WRITE);
#endif
}

/* ---- opening ------------------------------------------------------------- */

static void tensor_names_load(tile_manager *tm){
  sqlite3_stmt *st = 0;
  int64_t n = database_int(tm->db, "SELECT count(*) FROM tensor", 0);
  tm->tensors = n > 0 ? calloc((size_t)n, sizeof *tm->tensors) : 0;
  if( tm->tensors == 0 ) return;
  sqlite3_prepare_v2(tm->db, "SELECT id, name FROM tensor ORDER BY id", -1, &st, 0);
  while( tm->n_tensors < n && sqlite3_step(st) == SQLITE_ROW ){
    const char *name = (const char*)sqlite3_column_text(st, 1);
    tm->tensors[tm->n_tensors].id = sqlite3_column_int64(st, 0);
    tm->tensors[tm->n_tensors++].name = strdup(name ? name : "?");
  }
  sqlite3_finalize(st);
}

static const char *tensor_name_of(const tile_manager *tm, int64_t id){
  int64_t lo = 0, hi = tm->n_tensors - 1;
  while( lo <= hi ){
    int64_t mid = (lo + hi) / 2;
    if( tm->tensors[mid].id == id ) return tm->tensors[mid].name;
    if( tm->tensors[mid].id < id ) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

static int slots_load(tile_manager *tm, char *err, size_t err_len){
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(tm->db, "SELECT max(id), count(*) FROM tile", -1, &st, 0);
  if( rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW ){
    tm->n_tiles = sqlite3_column_int64(st, 0);
    if( tm->n_tiles != sqlite3_column_int64(st, 1) ) rc = SQLITE_CORRUPT;
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_OK ){
    snprintf(err, err_len, "tile table unreadable or ids not dense: %s", sqlite3_errmsg(tm->db));
    return -1;
  }
  tm->slots = calloc((size_t)tm->n_tiles + 1, sizeof *tm->slots);
  tm->resident = calloc((size_t)tm->n_tiles + 1, sizeof *tm->resident);
  if( tm->slots == 0 || tm->resident == 0 ){
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  sqlite3_prepare_v2(tm->db, "SELECT id, checksum, length(data), tensor_id, tile_row, tile_col"
                     " FROM tile", -1, &st, 0);
  while( sqlite3_step(st) == SQLITE_ROW ){
    int64_t id = sqlite3_column_int64(st, 0);
    if( id < 1 || id > tm->n_tiles ) continue;
    tile_slot *s = &tm->slots[id];
    s->t.id = id;
    s->checksum = (uint64_t)sqlite3_column_int64(st, 1);
    s->t.bytes = (size_t)sqlite3_column_int64(st, 2);
    s->tensor_id = sqlite3_column_int64(st, 3);
    s->row = sqlite3_column_int64(st, 4);
    s->col = sqlite3_column_int64(st, 5);
    s->resident_at = -1;
    if( s->t.bytes > tm->largest_tile ) tm->largest_tile = s->t.bytes;
  }
  sqlite3_finalize(st);
  tensor_names_load(tm);
  for(int k = 0; k < 2; k++) schedule_init(&tm->schedules[k], tm->n_tiles);
  return 0;
}

/* A read-only connection with a small page cache: tiles are cached by the
** manager, SQLite only needs the b-tree pages on the way to a blob. */
static sqlite3 *connection_open(const char *path, char *err, size_t err_len){
  sqlite3 *db = 0;
  if( model_file_connect(path, &db) != SQLITE_OK ){
    snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return 0;
  }
  sqlite3_exec(db, "PRAGMA cache_size=-1024", 0, 0, 0);
  return db;
}

const char *tile_io_name(tile_io io){
  static const char *const names[] = { "direct", "buffered", "sqlite" };
  return names[io];
}

/* ---- where the tiles lie ----------------------------------------------------- */

typedef struct page_source { int fd; uint32_t page_size; } page_source;

static int page_read(void *ctx, int64_t pgno, uint8_t *page){
  const page_source *ps = ctx;
  char ignored[256];
  return model_file_read(ps->fd, page, ps->page_size, (pgno - 1) * (int64_t)ps->page_size, 1,
                         ignored, sizeof ignored);
}

/* The walk of table tile's b-tree, from the file's header on, reading
** through os_fd. */
static void layout_walk(tile_manager *tm, int64_t file_bytes){
  uint8_t header[100];
  char err[256];
  layout_source src = { page_read, 0, 0, 0, 0 };
  if( model_file_read(tm->os_fd, header, sizeof header, 0, 1, err, sizeof err) ) return;
  if( tile_layout_header(header, &src.page_size, &src.usable) ) return;
  page_source ps = { tm->os_fd, src.page_size };
  src.ctx = &ps;
  src.pages = file_bytes / src.page_size;
  int64_t root = database_int(tm->db, "SELECT rootpage FROM sqlite_schema"
                              " WHERE type = 'table' AND name = 'tile'", 0);
  int64_t column = database_int(tm->db, "SELECT cid FROM pragma_table_info('tile')"
                                " WHERE name = 'data'", -1);
  size_t *bytes = calloc((size_t)tm->n_tiles + 1, sizeof *bytes);
  if( bytes == 0 || column < 0 ){
    free(bytes);
    return;
  }
  for(int64_t i = 1; i <= tm->n_tiles; i++) bytes[i] = tm->slots[i].t.bytes;
  tile_layout_read(&tm->layout, &src, root, (int)column, bytes, tm->n_tiles, err, sizeof err);
  free(bytes);
}

/* Where the tiles lie in the file, if its pages are where SQLite's b-tree
** says: not so in WAL mode, where the newest pages may be in the -wal
** file.  Otherwise, or if the walk fails, every tile is read through
** SQLite. */
static void layout_open(tile_manager *tm, const char *path){
  tm->budget_fd = model_file_open_direct(path, &tm->direct);
  tm->os_fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if( tm->budget_fd < 0 || tm->os_fd < 0 || fstat(tm->os_fd, &st) ) return;
  /* The walk's pages are dropped as they are read, and the kernel must not
  ** read ahead of them meanwhile. */
  posix_fadvise(tm->os_fd, 0, 0, POSIX_FADV_RANDOM);
  layout_walk(tm, (int64_t)st.st_size);
  posix_fadvise(tm->os_fd, 0, 0, POSIX_FADV_NORMAL);
}

static void *reader_main(void *arg);
static void homes_follow_budget(tile_manager *tm);
static void head_lost(tile_slot *s);
static void prefetch_used(tile_manager *tm, tile_slot *s);

tile_manager *tile_manager_open(const char *path, char *err, size_t err_len){
  tile_manager *tm = calloc(1, sizeof *tm);
  if( tm == 0 ){
    snprintf(err, err_len, "out of memory");
    return 0;
  }
  tm->budget_fd = tm->os_fd = -1;
  pthread_mutex_init(&tm->lock, 0);
  pthread_mutex_init(&tm->readers_db_lock, 0);
  pthread_cond_init(&tm->changed, 0);
  tm->db = connection_open(path, err, err_len);
  if( tm->db ) tm->readers_db = connection_open(path, err, err_len);
  if( tm->readers_db == 0 || slots_load(tm, err, err_len) ){
    tile_manager_close(tm);
    return 0;
  }
  layout_open(tm, path);
  if( homes_map(tm) ){
    snprintf(err, err_len, "cannot reserve address space for the tiles");
    tile_manager_close(tm);
    return 0;
  }
  tm->homes_huge = -1;
  tm->window_bytes = TILE_PREFETCH_BYTES;
  homes_follow_budget(tm);
  while( tm->n_readers < TILE_READERS
      && pthread_create(&tm->readers[tm->n_readers], 0, reader_main, tm) == 0 ){
    tm->n_readers++;
  }
  return tm;
}

void tile_manager_close(tile_manager *tm){
  if( tm == 0 ) return;
  pthread_mutex_lock(&tm->lock);
  tm->stopping = 1;
  pthread_cond_broadcast(&tm->changed);
  pthread_mutex_unlock(&tm->lock);
  for(int i = 0; i < tm->n_readers; i++) pthread_join(tm->readers[i], 0);
  for(int64_t i = 1; tm->slots && i <= tm->n_tiles; i++){
    if( tm->slots[i].t.data ) budget_tiles_add(-(int64_t)tm->slots[i].t.bytes);
    head_lost(&tm->slots[i]);
  }
  tile_layout_free(&tm->layout);
  if( tm->budget_fd >= 0 ) close(tm->budget_fd);
  if( tm->os_fd >= 0 ) close(tm->os_fd);
  if( tm->map ) munmap(tm->map, tm->map_bytes);
  for(int k = 0; k < 2; k++) schedule_free(&tm->schedules[k]);
  for(int64_t i = 0; i < tm->n_tensors; i++) free(tm->tensors[i].name);
  free(tm->tensors);
  free(tm->slots);
  free(tm->resident);
  sqlite3_close(tm->db);
  sqlite3_close(tm->readers_db);
  pthread_cond_destroy(&tm->changed);
  pthread_mutex_destroy(&tm->readers_db_lock);
  pthread_mutex_destroy(&tm->lock);
  free(tm);
}

/* ---- reading --------------------------------------------------------------- */

/* "blk.3.ffn_up.weight tile (12,0)": where a bad tile lives, for errors. */
static void tile_describe(const tile_manager *tm, const tile_slot *s, char *out, size_t len){
  const char *name = tensor_name_of(tm, s->tensor_id);
  if( name ) snprintf(out, len, "%s tile (%lld,%lld)", name, (long long)s->row, (long long)s->col);
  else snprintf(out, len, "tile %lld", (long long)s->t.id);
}

/* Read tile s through SQLite into buf: an SQLite result code.  The blob is
** closed after each read: an open blob is an open read transaction, which
** would lock out anyone editing the model (UPDATE program ...) for as
** long as we live. */
static int blob_read(sqlite3 *db, const tile_slot *s, void *buf){
  sqlite3_blob *blob = 0;
  int rc = sqlite3_blob_open(db, "main", "tile", "data", s->t.id, 0, &blob);
  if( rc == SQLITE_OK ){
    rc = (size_t)sqlite3_blob_bytes(blob) != s->t.bytes ? SQLITE_CORRUPT
       : sqlite3_blob_read(blob, buf, (int)s->t.bytes, 0);
  }
  sqlite3_blob_close(blob);
  return rc;
}

/* Read tile s as its run of pages into buf, and gather it: 0; 1 if its
** pages are not where the layout says; -1 with why in err.  Under a budget
** the read is direct (or buffered and dropped); under POLICY_OS it goes
** through the page cache and stays there.  A head kept in buf is not read
** again. */
static int run_read(tile_manager *tm, const tile_slot *s, uint8_t *buf, int head_kept,
                    char *err, size_t len){
  const tile_place *p = place_of(tm, s->t.id);
  tile_run r = tile_layout_run(&tm->layout, p);
  int os = budget_get_policy() == POLICY_OS;
  int fd = os ? tm->os_fd : tm->budget_fd, drop = !os && !tm->direct;
  if( head_kept ){
    if( model_file_read(fd, buf + r.offset, r.bytes, r.at, drop, err, len) ) return -1;
  }else if( r.head_at + (int64_t)r.head_bytes == r.at ){
    if( model_file_read(fd, buf, r.head_bytes + r.bytes, r.head_at, drop, err, len) ) return -1;
  }else if( model_file_read(fd, buf, r.head_bytes, r.head_at, drop, err, len)
         || model_file_read(fd, buf + r.offset, r.bytes, r.at, drop, err, len) ){
    return -1;
  }
  return tile_layout_gather(&tm->layout, p, buf, head_kept) ? 1 : 0;
}

static int checksum_ok(const tile_slot *s, const void *buf){
  return XXH3_64bits(buf, s->t.bytes) == s->checksum;
}

/* Read and verify one tile into its home: as a run if it has a place,
** else (or if the run is not what it should be) through SQLite, on r.db
** under r.lock.  A tile whose run failed its checksum but reads well
** through SQLite (the file changed since open) loses its place, as does
** one whose pages were not on consecutive pages.  head_kept: s's head is
** at its home's start already.  Returns 0 (read as a run), 1 (through
** SQLite), or -1 with the message, naming the tile, in err and the home
** given back, head and all. */
static int tile_read(tile_manager *tm, tile_reader r, tile_slot *s, int head_kept,
                     char *err, size_t len){
  uint8_t *buf = tile_home(tm, s);
  char why[192] = "";
  home_populate(tm, s);
  int rc = place_of(tm, s->t.id) ? run_read(tm, s, buf, head_kept, why, sizeof why) : 1;
  if( rc == 0 && checksum_ok(s, buf) ){
    home_trim(tm, s, r.huge);
    return 0;
  }
  int sqlite_rc = SQLITE_OK;
  if( rc >= 0 ){
    if( r.lock ) pthread_mutex_lock(r.lock);
    sqlite_rc = blob_read(r.db, s, buf);
    if( r.lock ) pthread_mutex_unlock(r.lock);
    if( sqlite_rc == SQLITE_OK && checksum_ok(s, buf) ){
      home_trim(tm, s, r.huge);
      if( place_of(tm, s->t.id) ) tm->layout.places[s->t.id].head_at = 0;
      return 1;
    }
  }
  char where[256];
  tile_describe(tm, s, where, sizeof where);
  if( rc < 0 ) snprintf(err, len, "cannot read %s: %s", where, why);
  else if( sqlite_rc == SQLITE_OK ) snprintf(err, len, "checksum mismatch in %s", where);
  else snprintf(err, len, "cannot read %s: %s", where, sqlite3_errstr(sqlite_rc));
  home_release(tm, s);
  return -1;
}

/* ---- residency (lock held) ------------------------------------------------ */

static void resident_add(tile_manager *tm, tile_slot *s){
  s->t.data = tile_home(tm, s);
  s->resident_at = tm->n_resident;
  tm->resident[tm->n_resident++] = s->t.id;
  tm->stats.resident_bytes += s->t.bytes;
  if( tm->stats.resident_bytes > tm->stats.peak_resident_bytes ){
    tm->stats.peak_resident_bytes = tm->stats.resident_bytes;
  }
  uint64_t total = budget_tiles() + budget_other();
  if( total > tm->stats.peak_total_bytes ) tm->stats.peak_total_bytes = total;
}

/* The bytes a load of s brings in: all of it, less a head kept. */
static size_t load_bytes(const tile_slot *s){
  return s->t.bytes - s->head_kept;
}

/* The home of s was given back whole, a kept head with it. */
static void head_lost(tile_slot *s){
  budget_tiles_add(-(int64_t)s->head_kept);
  s->head_kept = 0;
}

/* A kept head of s is given back. */
static void head_forget(tile_manager *tm, tile_slot *s){
  if( s->head_kept ) madvise(tile_home(tm, s), page_round(s->head_kept), MADV_DONTNEED);
  head_lost(s);
}

/* An evicted tile marked to stream keeps its head (the part of it in its
** b-tree cell, tile_layout.h): the tile comes back every step, and its
** head would cost the disk a second, small request each time, beside the
** run of its pages.  Qwen2.5-0.5B's heads are 33 KB on average, 53 KB at
** the median; with them read each time, decode at 380M ran at 11 tok/s,
** with them kept at 15.  The head stays charged to the budget, and
** stream_marks counts it as resident. */
static void evict(tile_manager *tm, tile_slot *s){
  int64_t last = tm->resident[--tm->n_resident];
  tm->resident[s->resident_at] = last;
  tm->slots[last].resident_at = s->resident_at;
  s->resident_at = -1;
  const tile_place *p = place_of(tm, s->t.id);
  uint32_t keep = s->streams && p && p->n_pages ? p->head_bytes : 0;
  size_t kept_pages = page_round(keep), home = home_bytes(tm, s);
  if( keep ) madvise(tile_home(tm, s) + kept_pages, home - kept_pages, MADV_DONTNEED);
  else home_release(tm, s);
  s->head_kept = keep;
  s->t.data = 0;
  if( s->prefetched ) tm->ahead_bytes -= (int64_t)s->t.bytes;
  s->prefetched = 0;
  tm->stats.resident_bytes -= s->t.bytes;
  tm->stats.evictions++;
  budget_tiles_add(-(int64_t)(s->t.bytes - keep));
}

static void evict_unpinned(tile_manager *tm){
  for(int64_t i = tm->n_resident - 1; i >= 0; i--){
    tile_slot *s = &tm->slots[tm->resident[i]];
    if( s->pins == 0 ) evict(tm, s);
  }
}

/* Huge pages exactly when there is no budget and tiles stay (lock held).  Going under a
** budget, every unpinned tile goes: a huge page that keeps one tile mapped
** stays charged whole until the kernel gets round to splitting it.  (Only
** whole huge pages inside the homes are huge, so none reaches past them.) */
static void homes_follow_budget(tile_manager *tm){
  int huge = budget_get() == 0 && budget_get_policy() != POLICY_OS;
  if( huge == tm->homes_huge ) return;
  tm->homes_huge = huge;
  if( !huge ) evict_unpinned(tm);
  madvise(tm->homes, tm->homes_bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

static const schedule *active_schedule(const tile_manager *tm){
  return &tm->schedules[tm->active];
}

/* ---- which tiles stream ------------------------------------------------------
**
** On a step that pins each tile once, every set of resident tiles that
** fills the budget reads the same bytes a step, M - B': all the others,
** once each.  Bélády's rule alone picks the set by the order in which the
** first step filled the budget: the tiles pinned first stay, and the last
** ones (the output matrix, the last layers) stream one after another at
** the step's end, while the disk idled through the layers before.  So
** before each step the manager marks tiles to stream, as many bytes as do
** not fit, spread evenly along the schedule, and evicts among the marked
** tiles first, by Bélády's rule; the readers bring the next marked tiles
** in while the kernels compute on the resident ones between them.  The
** room left for the marked tiles is the readers' window (tile.h), with
** one tile's more for the tile in use.  A schedule that pins tiles more
** than once (more than 1% of its pins) is not such a step, and gets
** Bélády's rule as it is. */

/* The bytes of s that stream when it does: all but a head it keeps. */
static size_t stream_bytes(const tile_manager *tm, const tile_slot *s){
  const tile_place *p = place_of(tm, s->t.id);
  return s->t.bytes - (p && p->n_pages ? p->head_bytes : 0);
}

/* Mark tiles of at least `least` streaming bytes, spread evenly along
** the schedule, share of those bytes in all. */
static void marks_spread(tile_manager *tm, double share, size_t least){
  const schedule *s = active_schedule(tm);
  uint64_t pass = ++tm->marks_pass;
  double due = 0;
  for(int64_t k = 0; k < s->len; k++){
    tile_slot *slot = &tm->slots[s->ids[k]];
    if( slot->seen == pass ) continue;
    slot->seen = pass;
    size_t bytes = stream_bytes(tm, slot);
    if( bytes == 0 || bytes < least ) continue;
    due += share * (double)bytes;
    if( due >= 0.5 * (double)bytes ){
      slot->streams = 1;
      due -= (double)bytes;
    }
  }
  tm->marks_on = 1;
}

/* Under OPT and a budget the step's tiles exceed, mark those that stream:
** enough of their bytes that the rest, with the marked tiles' heads, fits
** beside the window.  Only large tiles stream, at least half the largest,
** while they are enough: the small ones (norms, biases, Qwen2.5's k and v
** projections) would each cost the disk a request for a few KiB, and
** spread by bytes alone they were marked nearly all, 270 reads a token
** at 380M where 150 large ones carry the same bytes. */
static void marks_compute(tile_manager *tm){
  const schedule *s = active_schedule(tm);
  if( budget_get() == 0 || budget_get_policy() != POLICY_OPT || !s->ready ) return;
  uint64_t total = 0, streamable = 0, large = 0, pass = ++tm->marks_pass;
  size_t least = tm->largest_tile / 2;
  int64_t repeats = 0;
  for(int64_t k = 0; k < s->len; k++){
    tile_slot *slot = &tm->slots[s->ids[k]];
    if( slot->seen == pass ){ repeats++; continue; }
    slot->seen = pass;
    size_t bytes = stream_bytes(tm, slot);
    total += slot->t.bytes;
    streamable += bytes;
    if( bytes >= least ) large += bytes;
  }
  int64_t deficit = (int64_t)total - ((int64_t)budget_get() - (int64_t)budget_other());
  int64_t ahead = deficit / TILE_PREFETCH_SHARE;
  if( ahead < TILE_PREFETCH_BYTES ) ahead = TILE_PREFETCH_BYTES;
  if( ahead > TILE_PREFETCH_MOST ) ahead = TILE_PREFETCH_MOST;
  /* The tile in use needs room too, but while the kernels wait for the
  ** next tile none is in use, and its room carries one more read: 3
  ** reads in flight became 4 at 380M, and decode went from 0.72 of the
  ** disk limit to 0.82-0.87 for the same bytes read.  When a tile is in
  ** use, the budget keeps the readers from reading into its room. */
  tm->window_bytes = ahead + (int64_t)tm->largest_tile;
  int64_t room = (int64_t)budget_get() - (int64_t)budget_other() - tm->window_bytes;
  if( repeats * 100 > s->len || (int64_t)total <= room || streamable == 0 ) return;
  double need = (double)((int64_t)total - (room > 0 ? room : 0));
  if( need <= (double)large ) marks_spread(tm, need / (double)large, least);
  else marks_spread(tm, need / (double)streamable, 0);
}

/* The marks for the step to come; a tile no longer marked gives back a
** head it kept (but one loading now: its load ends with it resident). */
static void stream_marks(tile_manager *tm){
  for(int64_t i = 1; i <= tm->n_tiles; i++) tm->slots[i].streams = 0;
  tm->marks_on = 0;
  tm->window_bytes = TILE_PREFETCH_BYTES;
  marks_compute(tm);
  for(int64_t i = 1; i <= tm->n_tiles; i++){
    tile_slot *s = &tm->slots[i];
    if( s->head_kept && !s->streams && !s->loading ) head_forget(tm, s);
  }
}

/* The unpinned resident tile to evict by the policy, or -1 if none:
** under OPT a marked one if there is one (only such, if only_marked), the
** one needed furthest away; without a recorded schedule (the first step)
** LRU stands in. */
static int64_t choose_victim(tile_manager *tm, int64_t *distance, int only_marked){
  const schedule *s = active_schedule(tm);
  int use_lru = budget_get_policy() == POLICY_LRU || !s->ready;
  int64_t best = -1, best_key = -1;
  int best_streams = 0;
  uint64_t oldest = UINT64_MAX;
  for(int64_t i = 0; i < tm->n_resident; i++){
    tile_slot *slot = &tm->slots[tm->resident[i]];
    if( slot->pins || (only_marked && tm->marks_on && !slot->streams) ) continue;
    if( use_lru ){
      if( slot->last_use < oldest ){ oldest = slot->last_use; best = slot->t.id; }
      continue;
    }
    int64_t d = schedule_next_use(s, slot->t.id, tm->cursor);
    if( slot->streams > best_streams || (slot->streams == best_streams && d > best_key) ){
      best_key = d;
      best = slot->t.id;
      best_streams = slot->streams;
    }
  }
  *distance = use_lru ? SCHEDULE_NEVER : best_key;
  return best;
}

static int over_budget(uint64_t need){
  uint64_t budget = budget_get();
  return budget && budget_tiles() + budget_other() + need > budget;
}

static int budget_too_small(tile_manager *tm, size_t need, char *err, size_t err_len){
  uint64_t pinned = 0;
  for(int64_t i = 0; i < tm->n_resident; i++){
    const tile_slot *s = &tm->slots[tm->resident[i]];
    if( s->pins || s->loading ) pinned += s->t.bytes;
  }
  char b[32], min[32], p[32], o[32];
  budget_format(budget_get(), b, sizeof b);
  budget_format(pinned + need + budget_other(), min, sizeof min);
  budget_format(pinned + need, p, sizeof p);
  budget_format(budget_other(), o, sizeof o);
  snprintf(err, err_len, "memory budget of %s is too small: this step needs at least %s"
           " (%s of tiles in use at once, %s of KV cache and activations)", b, min, p, o);
  return -1;
}

/* Room for need more bytes.  Under POLICY_OS the OS page cache is the
** cache: every unpinned tile goes. */
static int make_room(tile_manager *tm, size_t need, char *err, size_t err_len){
  if( budget_get_policy() == POLICY_OS ) evict_unpinned(tm);
  while( over_budget(need) ){
    int64_t distance;
    int64_t victim = choose_victim(tm, &distance, 0);
    if( victim < 0 ) return budget_too_small(tm, need, err, err_len);
    evict(tm, &tm->slots[victim]);
  }
  return 0;
}

/* ---- pinning ---------------------------------------------------------------- */

/* Whether a reader's last scan, which found the window after the
** cursor all resident, still holds: nothing was evicted since, and the
** cursor has not moved half a window on, bringing unscanned tiles near.
** (Evictions alone were not enough: under a budget that keeps all but a
** few tiles, the cursor walked up to the missing ones with the readers
** asleep, and the pins read them themselves.) */
static int window_known_resident(const tile_manager *tm){
  const schedule *s = active_schedule(tm);
  int64_t moved = s->len ? (tm->cursor - tm->clean_cursor + s->len) % s->len : 0;
  return tm->clean_at == tm->stats.evictions + 1 && moved < TILE_PREFETCH_WINDOW / 2;
}

/* Whether the readers can have work at all.  With every tile resident
** (no budget, or one the model fits in) they have none until an eviction;
** waking them to find that out cost 4% of a 2-thread decode step in futex
** calls and context switches. */
static int prefetch_wanted(const tile_manager *tm){
  /* Reading ahead needs to know which tiles are needed later than the
  ** one it brings in: under LRU there is no such knowledge, so no prefetch
  ** (it evicted tiles needed next and doubled the reads).  Under POLICY_OS
  ** the kernel's read-ahead is the prefetch. */
  if( !budget_get_prefetch() || budget_get_policy() != POLICY_OPT ) return 0;
  return tm->n_resident < tm->n_tiles;
}

/* Whether a scan of the window could find a tile to read ahead. */
static int prefetch_may_find_work(const tile_manager *tm){
  return prefetch_wanted(tm) && !window_known_resident(tm);
}

static void readers_wake(tile_manager *tm){
  tm->stats.prefetch_wakes++;
  pthread_cond_broadcast(&tm->changed);
}

static void schedule_note(tile_manager *tm, int64_t id){
  schedule *s = &tm->schedules[tm->active];
  if( tm->recording ) schedule_record(s, id);
  else tm->cursor = schedule_advance(s, tm->cursor, id);
  tm->slots[id].last_use = ++tm->clock;
  /* Wake the readers only if they may have work, and not on every pin:
  ** a wake costs a context switch, and a step pins thousands of tiles. */
  if( tm->readers_idle && prefetch_may_find_work(tm)
   && ++tm->pins_unseen >= PREFETCH_WAKE_PINS ){
    tm->pins_unseen = 0;
    readers_wake(tm);
  }
}

static int slot_load(tile_manager *tm, tile_slot *s, char *err, size_t err_len){
  size_t need = load_bytes(s);
  if( make_room(tm, need, err, err_len) ) return -1;
  tile_reader own = { tm->db, 0, tm->homes_huge };
  int how = tile_read(tm, own, s, s->head_kept != 0, err, err_len);
  if( how < 0 ){
    head_lost(s);
    return -1;
  }
  tm->stats.sqlite_reads += (uint64_t)how;
  budget_tiles_add((int64_t)need);
  s->head_kept = 0;
  resident_add(tm, s);
  tm->stats.misses++;
  tm->stats.bytes_read += need;
  return 0;
}

const tile *tile_manager_pin(tile_manager *tm, int64_t id, char *err, size_t err_len){
  if( id < 1 || id > tm->n_tiles ){
    snprintf(err, err_len, "no tile %lld in this model", (long long)id);
    return 0;
  }
  tile_slot *s = &tm->slots[id];
  const tile *t = &s->t;
  pthread_mutex_lock(&tm->lock);
  schedule_note(tm, id);
  /* Pinned before it is resident: the cursor already stands on it, so by
  ** the schedule it looks used (next use a step away), and a reader
  ** finishing it while we wait would make it its next victim. */
  s->pins++;
  while( s->loading ) pthread_cond_wait(&tm->changed, &tm->lock);
  if( s->t.data ){
    tm->stats.hits++;
    if( s->prefetched ) prefetch_used(tm, s);
  }else if( slot_load(tm, s, err, err_len) ){
    s->pins--;
    t = 0;
  }
  pthread_mutex_unlock(&tm->lock);
  return t;
}

/* Holds and unpins need no lock: a hold is taken on a pinned tile, so it
** never makes an unpinned tile pinned behind the back of an eviction
** (which reads pins under lock), and a tile whose last pin goes may be
** evicted from then on.  Kernel threads unpin thousands of tiles a step,
** and the lock is the thread running SQL's. */
void tile_manager_hold(tile_manager *tm, const tile *t){
  atomic_fetch_add_explicit(&tm->slots[t->id].pins, 1, memory_order_relaxed);
}

void tile_manager_unpin(tile_manager *tm, const tile *t){
  atomic_fetch_sub_explicit(&tm->slots[t->id].pins, 1, memory_order_release);
}

int tile_manager_begin_step(tile_manager *tm, int prefill){
  pthread_mutex_lock(&tm->lock);
  /* The KV cache may have grown since the last step: give room back.
  ** (If it alone exceeds the budget, the step's first pin says so.) */
  char ignored[8];
  make_room(tm, 0, ignored, sizeof ignored);
  homes_follow_budget(tm);
  tm->active = prefill ? 1 : 0;
  schedule *s = &tm->schedules[tm->active];
  tm->recording = !s->ready;
  if( tm->recording ) schedule_clear(s);
  stream_marks(tm);
  tm->cursor = -1;
  tm->clean_at = 0;       /* a new step: its window is not scanned yet */
  if( prefetch_wanted(tm) ) readers_wake(tm);
  int streams = tm->marks_on;
  pthread_mutex_unlock(&tm->lock);
  return streams;
}

void tile_manager_end_step(tile_manager *tm){
  pthread_mutex_lock(&tm->lock);
  if( tm->recording ){
    schedule_finish(&tm->schedules[tm->active]);
    tm->recording = 0;
  }
  pthread_mutex_unlock(&tm->lock);
}

void tile_manager_reset_schedules(tile_manager *tm){
  pthread_mutex_lock(&tm->lock);
  for(int k = 0; k < 2; k++) schedule_clear(&tm->schedules[k]);
  tm->recording = 0;
  pthread_mutex_unlock(&tm->lock);
}

void tile_manager_drop_all(tile_manager *tm){
  pthread_mutex_lock(&tm->lock);
  evict_unpinned(tm);
  pthread_mutex_unlock(&tm->lock);
}

void tile_manager_budget_changed(tile_manager *tm){
  char ignored[8];
  pthread_mutex_lock(&tm->lock);
  make_room(tm, 0, ignored, sizeof ignored);
  homes_follow_budget(tm);
  tm->stats.peak_resident_bytes = tm->stats.resident_bytes;
  tm->stats.peak_total_bytes = budget_tiles() + budget_other();
  pthread_mutex_unlock(&tm->lock);
}

void tile_manager_stats(tile_manager *tm, tile_stats *out){
  pthread_mutex_lock(&tm->lock);
  *out = tm->stats;
  out->schedule_length = (uint64_t)tm->schedules[0].len;
  out->io = tm->layout.places == 0 ? TILE_IO_SQLITE
          : tm->direct ? TILE_IO_DIRECT : TILE_IO_BUFFERED;
  pthread_mutex_unlock(&tm->lock);
}

/* ---- reading ahead ------------------------------------------------------------ */

/* The next tile within the window after the cursor that is neither
** resident nor loading, and how far ahead it is; -1 if none, -2 if the
** readers hold their window's bytes ahead already. */
static int64_t prefetch_target(tile_manager *tm, int64_t *distance){
  const schedule *s = active_schedule(tm);
  for(int64_t k = 1; k <= s->len && k <= TILE_PREFETCH_WINDOW; k++){
    int64_t id = s->ids[(tm->cursor + k + s->len) % s->len];
    const tile_slot *slot = &tm->slots[id];
    if( slot->t.data || slot->loading ) continue;
    if( tm->ahead_bytes > 0 && tm->ahead_bytes + (int64_t)slot->t.bytes > tm->window_bytes ){
      return -2;
    }
    *distance = k;
    return id;
  }
  return -1;
}

/* Make room for target (needed `distance` pins from now) by evicting only
** marked tiles (when there are marks) needed later than it.  Returns 0 if
** there is room. */
static int prefetch_room(tile_manager *tm, const tile_slot *target, int64_t distance){
  while( over_budget(target->t.bytes) ){
    int64_t victim_distance;
    int64_t victim = choose_victim(tm, &victim_distance, 1);
    if( victim < 0 || victim_distance <= distance ) return -1;
    evict(tm, &tm->slots[victim]);
  }
  return 0;
}

/* Load slot ahead of its use.  Lock held on entry and exit, released while
** reading. */
static int prefetch_load(tile_manager *tm, tile_slot *slot){
  size_t need = load_bytes(slot);
  int head_kept = slot->head_kept != 0;
  slot->loading = 1;
  budget_tiles_add((int64_t)need);
  tm->ahead_bytes += (int64_t)slot->t.bytes;
  tile_reader shared = { tm->readers_db, &tm->readers_db_lock, tm->homes_huge };
  pthread_mutex_unlock(&tm->lock);
  char err[256];
  int how = tile_read(tm, shared, slot, head_kept, err, sizeof err);
  pthread_mutex_lock(&tm->lock);
  slot->loading = 0;
  if( how >= 0 ){
    slot->head_kept = 0;
    resident_add(tm, slot);
    slot->prefetched = 1;
    tm->stats.bytes_read += need;
    tm->stats.sqlite_reads += (uint64_t)how;
  }else{
    /* the pin that needs it will read it again and report the error */
    budget_tiles_add(-(int64_t)need);
    head_lost(slot);
    tm->ahead_bytes -= (int64_t)slot->t.bytes;
  }
  pthread_cond_broadcast(&tm->changed);
  return how < 0 ? -1 : 0;
}

/* A tile read ahead is used: it no longer counts as ahead, which may let
** an idle reader go on. */
static void prefetch_used(tile_manager *tm, tile_slot *s){
  tm->stats.prefetch_hits++;
  tm->ahead_bytes -= (int64_t)s->t.bytes;
  s->prefetched = 0;
  if( tm->readers_idle ) readers_wake(tm);
}

/* One read ahead, lock held on entry and exit.  Returns 0 if it loaded a
** tile, -1 if there is nothing it may do now. */
static int prefetch_one(tile_manager *tm){
  const schedule *s = active_schedule(tm);
  if( tm->recording || !s->ready || s->len == 0 ) return -1;
  if( !prefetch_may_find_work(tm) ) return -1;
  int64_t distance;
  int64_t id = prefetch_target(tm, &distance);
  if( id == -1 ){
    tm->clean_at = tm->stats.evictions + 1;
    tm->clean_cursor = tm->cursor;
  }
  if( id < 0 ) return -1;
  tile_slot *slot = &tm->slots[id];
  if( prefetch_room(tm, slot, distance) ) return -1;
  return prefetch_load(tm, slot);
}

/* A reader thread: sleeps until a pin moves the cursor, then reads ahead
** as far as the budget and the window allow.  TILE_READERS of them keep
** that many reads in flight. */
static void *reader_main(void *arg){
  tile_manager *tm = arg;
  pthread_mutex_lock(&tm->lock);
  while( !tm->stopping ){
    /* prefetch_one may drop the lock to read, and close may stop us then:
    ** its broadcast has come and gone, so look again before waiting. */
    if( prefetch_one(tm) == 0 || tm->stopping ) continue;
    tm->readers_idle++;
    pthread_cond_wait(&tm->changed, &tm->lock);
    tm->readers_idle--;
  }
  pthread_mutex_unlock(&tm->lock);
  return 0;
}
