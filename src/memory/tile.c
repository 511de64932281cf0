/*
** tile.c: the tile manager (see tile.h).
**
** Tile ids are dense (1..n, sql/schema.sql), so residency is an array of
** slots indexed by id, plus a list of the resident ids to choose victims
** from.  Checksums are read once at open, which keeps a load to one
** sqlite3_blob_read plus one XXH3 pass.
**
** Threads: one mutex guards every slot, the schedule and the counters.  A
** pin that misses reads the tile while holding it (the pinning thread
** waits for that tile anyway); the prefetch thread reads without it, on
** its own connection, after marking the slot `loading` and reserving its
** bytes, so both never read one tile twice and never exceed the budget.
**
** Both connections open the model through the "tensql-tile" VFS
** (model_file.h),
** which reads without the kernel's read-ahead and drops what it read from
** the OS page cache: the bytes that come off the disk are the pages of the
** tiles loaded, and the page cache holds at most the two runs of tiles
** asked for ahead of their loads (RUN_BYTES).
*/
#include "tile.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "budget.h"
#include "model_file.h"
#include "schedule.h"

/* Pins between wakes of an idle prefetcher. */
#define PREFETCH_WAKE_PINS 4

/* A load asks the kernel in one request for its tile and the tiles the
** schedule loads next while they follow on disk, up to this many bytes
** (run_ask): the disk serves 1 MiB requests about twice as fast as the
** 64 KiB page reads SQLite makes.  The prefetcher asks for the next run
** while it reads one, so the disk always has a request; what is asked
** waits in the page cache until loaded, so at most two runs are asked at
** a time, which bounds what the page cache holds beyond the budget. */
#define RUN_BYTES (1 << 20)

typedef struct tile_slot {
  tile t;                 /* t.data is NULL when not resident */
  uint64_t checksum;      /* expected XXH3-64 of the payload */
  atomic_int pins;        /* a first pin is taken under lock; see tile_manager_hold */
  int loading;            /* the prefetcher is reading it */
  int prefetched;         /* brought in ahead of use, not yet used */
  int64_t resident_at;    /* index in resident[], or -1 */
  uint64_t last_use;      /* for LRU */
  file_extent extent;     /* where its load reads the file; learned on the first */
  size_t home;            /* offset of its bytes in the homes mapping */
  int asked;              /* its extent was asked of the kernel, not read yet */
} tile_slot;

struct tile_manager {
  sqlite3 *db;            /* read-only, used under lock */
  sqlite3 *prefetch_db;   /* the prefetch thread's own connection */
  model_file *file, *prefetch_file;   /* their model files */
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a load finished, or the cursor moved */
  int64_t n_tiles;
  tile_slot *slots;       /* indexed by tile id; slot 0 unused */
  int64_t *resident;      /* ids of resident tiles */
  int64_t n_resident;
  schedule schedules[2];  /* decode, prefill */
  int active;             /* which schedule the running step follows */
  int recording;
  int64_t cursor;         /* position of the last pin on the schedule */
  uint64_t clock;
  pthread_t prefetcher;
  int prefetcher_running, stopping;
  int prefetcher_idle;    /* waiting for the cursor to move */
  int pins_unseen;        /* pins since the prefetcher was last woken */
  uint64_t clean_at;      /* evictions when the prefetcher last found all resident, */
  int64_t clean_cursor;   /* and the cursor then */
  int64_t asked_bytes;    /* of extents asked of the kernel and not loaded yet */
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

static int homes_map(tile_manager *tm){
  size_t total = 0;
  for(int64_t i = 1; i <= tm->n_tiles; i++){
    tm->slots[i].home = total;
    total += page_round(tm->slots[i].t.bytes);
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

static void *tile_home(tile_manager *tm, const tile_slot *s){
  return tm->homes + s->home;
}

static void home_release(tile_manager *tm, const tile_slot *s){
  madvise(tile_home(tm, s), page_round(s->t.bytes), MADV_DONTNEED);
}

/* The pages of a home, made real in one call before a load fills it.
** Under a budget every load refills pages an eviction gave back, and
** faulting them in one by one as the copy touched them cost the
** prefetcher more than the copy: decode 10-20% faster with this
** (Qwen2.5-0.5B, budgets 150M-350M, 1 and 2 threads, tokens alternating
** in one process).  A kernel before Linux 5.14 refuses the advice, and
** the copy faults the pages in as before. */
static void home_populate(tile_manager *tm, const tile_slot *s){
#ifdef MADV_POPULATE_WRITE
  madvise(tile_home(tm, s), page_round(s->t.bytes), MADV_POPULATE_WRITE);
#endif
}

/* ---- opening ------------------------------------------------------------- */

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
  sqlite3_prepare_v2(tm->db, "SELECT id, checksum, length(data) FROM tile", -1, &st, 0);
  while( sqlite3_step(st) == SQLITE_ROW ){
    int64_t id = sqlite3_column_int64(st, 0);
    if( id < 1 || id > tm->n_tiles ) continue;
    tm->slots[id].t.id = id;
    tm->slots[id].checksum = (uint64_t)sqlite3_column_int64(st, 1);
    tm->slots[id].t.bytes = (size_t)sqlite3_column_int64(st, 2);
    tm->slots[id].resident_at = -1;
  }
  sqlite3_finalize(st);
  for(int k = 0; k < 2; k++) schedule_init(&tm->schedules[k], tm->n_tiles);
  if( homes_map(tm) ){
    snprintf(err, err_len, "cannot reserve address space for the tiles");
    return -1;
  }
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

static void *prefetch_main(void *arg);
static void homes_follow_budget(tile_manager *tm);

tile_manager *tile_manager_open(const char *path, char *err, size_t err_len){
  tile_manager *tm = calloc(1, sizeof *tm);
  if( tm == 0 ){
    snprintf(err, err_len, "out of memory");
    return 0;
  }
  pthread_mutex_init(&tm->lock, 0);
  pthread_cond_init(&tm->changed, 0);
  tm->db = connection_open(path, err, err_len);
  if( tm->db ) tm->prefetch_db = connection_open(path, err, err_len);
  if( tm->prefetch_db ){
    tm->file = model_file_get(tm->db);
    tm->prefetch_file = model_file_get(tm->prefetch_db);
  }
  if( tm->prefetch_file == 0 || tm->file == 0 || slots_load(tm, err, err_len) ){
    tile_manager_close(tm);
    return 0;
  }
  tm->homes_huge = -1;
  homes_follow_budget(tm);
  tm->prefetcher_running = pthread_create(&tm->prefetcher, 0, prefetch_main, tm) == 0;
  return tm;
}

void tile_manager_close(tile_manager *tm){
  if( tm == 0 ) return;
  if( tm->prefetcher_running ){
    pthread_mutex_lock(&tm->lock);
    tm->stopping = 1;
    pthread_cond_broadcast(&tm->changed);
    pthread_mutex_unlock(&tm->lock);
    pthread_join(tm->prefetcher, 0);
  }
  for(int64_t i = 1; tm->slots && i <= tm->n_tiles; i++){
    if( tm->slots[i].t.data ) budget_tiles_add(-(int64_t)tm->slots[i].t.bytes);
  }
  if( tm->map ) munmap(tm->map, tm->map_bytes);
  for(int k = 0; k < 2; k++) schedule_free(&tm->schedules[k]);
  free(tm->slots);
  free(tm->resident);
  sqlite3_close(tm->db);
  sqlite3_close(tm->prefetch_db);
  pthread_cond_destroy(&tm->changed);
  pthread_mutex_destroy(&tm->lock);
  free(tm);
}

/* ---- reading --------------------------------------------------------------- */

/* "blk.3.ffn_up.weight tile (12,0)": where a bad tile lives, for errors. */
static void tile_describe(sqlite3 *db, int64_t id, char *out, size_t len){
  sqlite3_stmt *st = 0;
  snprintf(out, len, "tile %lld", (long long)id);
  sqlite3_prepare_v2(db, "SELECT t.name, x.tile_row, x.tile_col FROM tile x"
                     " JOIN tensor t ON t.id = x.tensor_id WHERE x.id = ?", -1, &st, 0);
  sqlite3_bind_int64(st, 1, id);
  if( sqlite3_step(st) == SQLITE_ROW ){
    snprintf(out, len, "%s tile (%lld,%lld)", (const char*)sqlite3_column_text(st, 0),
             (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
  }
  sqlite3_finalize(st);
}

/* Read and verify one tile, on connection db whose model file is f, into
** its home; 0, or -1 with the message in err and the home given back.
** *seen gets the extent the reads covered.  A known extent
** was asked for (run_ask) before the read.  The blob is closed after each
** read: an open blob is an open read transaction, which would lock out
** anyone editing the model (UPDATE program ...) for as long as we live. */
static int tile_read(tile_manager *tm, sqlite3 *db, model_file *f, const tile_slot *s,
                     file_extent *seen, char *err, size_t err_len){
  sqlite3_blob *blob = 0;
  void *buf = tile_home(tm, s);
  home_populate(tm, s);
  extent_track(f, s->extent);
  int rc = sqlite3_blob_open(db, "main", "tile", "data", s->t.id, 0, &blob);
  if( rc == SQLITE_OK ){
    rc = (size_t)sqlite3_blob_bytes(blob) != s->t.bytes ? SQLITE_CORRUPT
       : sqlite3_blob_read(blob, buf, (int)s->t.bytes, 0);
  }
  sqlite3_blob_close(blob);
  *seen = extent_seen(f, s->t.bytes);
  if( rc == SQLITE_OK && XXH3_64bits(buf, s->t.bytes) == s->checksum ) return 0;
  char where[256];
  tile_describe(db, s->t.id, where, sizeof where);
  if( rc == SQLITE_OK ) snprintf(err, err_len, "checksum mismatch in %s", where);
  else snprintf(err, err_len, "cannot read %s: %s", where, sqlite3_errstr(rc));
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

static void evict(tile_manager *tm, tile_slot *s){
  int64_t last = tm->resident[--tm->n_resident];
  tm->resident[s->resident_at] = last;
  tm->slots[last].resident_at = s->resident_at;
  s->resident_at = -1;
  home_release(tm, s);
  s->t.data = 0;
  s->prefetched = 0;
  tm->stats.resident_bytes -= s->t.bytes;
  tm->stats.evictions++;
  budget_tiles_add(-(int64_t)s->t.bytes);
}

static void evict_unpinned(tile_manager *tm){
  for(int64_t i = tm->n_resident - 1; i >= 0; i--){
    tile_slot *s = &tm->slots[tm->resident[i]];
    if( s->pins == 0 ) evict(tm, s);
  }
}

/* Huge pages exactly when there is no budget (lock held).  Going under a
** budget, every unpinned tile goes: a huge page that keeps one tile mapped
** stays charged whole until the kernel gets round to splitting it.  (Only
** whole huge pages inside the homes are huge, so none reaches past them.) */
static void homes_follow_budget(tile_manager *tm){
  int huge = budget_get() == 0;
  if( huge == tm->homes_huge ) return;
  tm->homes_huge = huge;
  if( !huge ) evict_unpinned(tm);
  madvise(tm->homes, tm->homes_bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

static const schedule *active_schedule(const tile_manager *tm){
  return &tm->schedules[tm->active];
}

/* The extent to ask the kernel for before loading s, which stands at
** `pos` on the schedule: its own, then (with prefetch on: asking early is
** reading ahead) that of each next tile on the schedule while it is to be
** loaded and starts where the run ends on disk, up to RUN_BYTES.  Empty if
** s was asked for already or its extent is not known yet (its first
** load). */
static file_extent run_ask(tile_manager *tm, tile_slot *s, int64_t pos){
  file_extent run = { 0, 0 };
  if( s->asked || s->extent.bytes == 0 ) return run;
  run = s->extent;
  s->asked = 1;
  tm->asked_bytes += run.bytes;
  const schedule *sc = active_schedule(tm);
  if( !budget_get_prefetch() || tm->recording || !sc->ready ) return run;
  if( pos < 0 || sc->ids[pos] != s->t.id ) return run;
  for(int64_t k = 1; k < sc->len && run.bytes < RUN_BYTES; k++){
    tile_slot *u = &tm->slots[sc->ids[(pos + k) % sc->len]];
    if( u->t.data || u->loading || u->asked || u->extent.at != run.at + run.bytes ) break;
    run.bytes += u->extent.bytes;
    u->asked = 1;
    tm->asked_bytes += u->extent.bytes;
  }
  return run;
}

/* The prefetcher is about to read slot at `pos`, asked for already: the
** run after it, from the next tile in the window still to be asked for,
** unless two runs are asked already. */
static file_extent run_next(tile_manager *tm, int64_t pos){
  file_extent none = { 0, 0 };
  const schedule *sc = active_schedule(tm);
  if( tm->asked_bytes >= 2 * RUN_BYTES ) return none;
  for(int64_t k = 1; k <= TILE_PREFETCH_WINDOW && k < sc->len; k++){
    int64_t at = (pos + k) % sc->len;
    tile_slot *u = &tm->slots[sc->ids[at]];
    if( u->t.data == 0 && !u->loading && !u->asked ) return run_ask(tm, u, at);
  }
  return none;
}

/* The step follows another schedule: what was asked for along the old
** one may not be loaded soon, so it no longer counts as asked (its pages
** stay in the page cache until read or reclaimed). */
static void asked_forget(tile_manager *tm){
  for(int64_t i = 1; i <= tm->n_tiles; i++) tm->slots[i].asked = 0;
  tm->asked_bytes = 0;
}

/* A load of s ended: what was asked for it is read, and its extent is
** known from now on. */
static void load_noted(tile_manager *tm, tile_slot *s, file_extent seen){
  if( s->asked ) tm->asked_bytes -= s->extent.bytes;
  s->asked = 0;
  if( s->extent.bytes == 0 ) s->extent = seen;
}

/* The unpinned resident tile to evict by the policy, or -1 if none.  Under
** OPT without a recorded schedule (the first step) LRU stands in. */
static int64_t choose_victim(tile_manager *tm, int64_t *distance){
  const schedule *s = active_schedule(tm);
  int use_lru = budget_get_policy() == POLICY_LRU || !s->ready;
  int64_t best = -1, best_key = -1;
  uint64_t oldest = UINT64_MAX;
  for(int64_t i = 0; i < tm->n_resident; i++){
    tile_slot *slot = &tm->slots[tm->resident[i]];
    if( slot->pins ) continue;
    if( use_lru ){
      if( slot->last_use < oldest ){ oldest = slot->last_use; best = slot->t.id; }
    }else{
      int64_t d = schedule_next_use(s, slot->t.id, tm->cursor);
      if( d > best_key ){ best_key = d; best = slot->t.id; }
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

static int make_room(tile_manager *tm, size_t need, char *err, size_t err_len){
  while( over_budget(need) ){
    int64_t distance;
    int64_t victim = choose_victim(tm, &distance);
    if( victim < 0 ) return budget_too_small(tm, need, err, err_len);
    evict(tm, &tm->slots[victim]);
  }
  return 0;
}

/* ---- pinning ---------------------------------------------------------------- */

/* Whether the prefetcher's last scan, which found the window after the
** cursor all resident, still holds: nothing was evicted since, and the
** cursor has not moved half a window on, bringing unscanned tiles near.
** (Evictions alone were not enough: under a budget that keeps all but a
** few tiles, the cursor walked up to the missing ones with the prefetcher
** asleep, and the pins read them themselves.) */
static int window_known_resident(const tile_manager *tm){
  const schedule *s = active_schedule(tm);
  int64_t moved = s->len ? (tm->cursor - tm->clean_cursor + s->len) % s->len : 0;
  return tm->clean_at == tm->stats.evictions + 1 && moved < TILE_PREFETCH_WINDOW / 2;
}

/* Whether the prefetcher can have work at all.  With every tile resident
** (no budget, or one the model fits in) it has none until an eviction;
** waking it to find that out cost 4% of a 2-thread decode step in futex
** calls and context switches. */
static int prefetch_wanted(const tile_manager *tm){
  /* Reading ahead needs to know which tiles are needed later than the
  ** one it brings in: under LRU there is no such knowledge, so no prefetch
  ** (it evicted tiles needed next and doubled the reads). */
  if( !budget_get_prefetch() || budget_get_policy() == POLICY_LRU ) return 0;
  return tm->n_resident < tm->n_tiles;
}

/* Whether a scan of the window could find a tile to read ahead. */
static int prefetch_may_find_work(const tile_manager *tm){
  return prefetch_wanted(tm) && !window_known_resident(tm);
}

static void prefetcher_wake(tile_manager *tm){
  tm->stats.prefetch_wakes++;
  pthread_cond_broadcast(&tm->changed);
}

static void schedule_note(tile_manager *tm, int64_t id){
  schedule *s = &tm->schedules[tm->active];
  if( tm->recording ) schedule_record(s, id);
  else tm->cursor = schedule_advance(s, tm->cursor, id);
  tm->slots[id].last_use = ++tm->clock;
  /* Wake the prefetcher only if it may have work, and not on every pin:
  ** a wake costs a context switch, and a step pins thousands of tiles. */
  if( tm->prefetcher_idle && prefetch_may_find_work(tm)
   && ++tm->pins_unseen >= PREFETCH_WAKE_PINS ){
    tm->pins_unseen = 0;
    prefetcher_wake(tm);
  }
}

static int slot_load(tile_manager *tm, tile_slot *s, char *err, size_t err_len){
  if( make_room(tm, s->t.bytes, err, err_len) ) return -1;
  file_extent seen;
  extent_ask(tm->file, run_ask(tm, s, tm->cursor));
  int rc = tile_read(tm, tm->db, tm->file, s, &seen, err, err_len);
  load_noted(tm, s, seen);
  if( rc ) return -1;
  budget_tiles_add((int64_t)s->t.bytes);
  resident_add(tm, s);
  tm->stats.misses++;
  tm->stats.bytes_read += s->t.bytes;
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
  ** the schedule it looks used (next use a step away), and a prefetcher
  ** finishing it while we wait would make it its next victim. */
  s->pins++;
  while( s->loading ) pthread_cond_wait(&tm->changed, &tm->lock);
  if( s->t.data ){
    tm->stats.hits++;
    if( s->prefetched ) tm->stats.prefetch_hits++;
    s->prefetched = 0;
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

void tile_manager_begin_step(tile_manager *tm, int prefill){
  pthread_mutex_lock(&tm->lock);
  /* The KV cache may have grown since the last step: give room back.
  ** (If it alone exceeds the budget, the step's first pin says so.) */
  char ignored[8];
  make_room(tm, 0, ignored, sizeof ignored);
  homes_follow_budget(tm);
  if( tm->active != (prefill ? 1 : 0) ) asked_forget(tm);
  tm->active = prefill ? 1 : 0;
  schedule *s = &tm->schedules[tm->active];
  tm->recording = !s->ready;
  if( tm->recording ) schedule_clear(s);
  tm->cursor = -1;
  tm->clean_at = 0;       /* a new step: its window is not scanned yet */
  if( prefetch_wanted(tm) ) prefetcher_wake(tm);
  pthread_mutex_unlock(&tm->lock);
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
  asked_forget(tm);
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
  pthread_mutex_unlock(&tm->lock);
}

/* ---- prefetch ---------------------------------------------------------------- */

/* The next tile within the window after the cursor that is neither
** resident nor loading, and how far ahead it is; -1 if none. */
static int64_t prefetch_target(tile_manager *tm, int64_t *distance){
  const schedule *s = active_schedule(tm);
  for(int64_t k = 1; k <= s->len && k <= TILE_PREFETCH_WINDOW; k++){
    int64_t id = s->ids[(tm->cursor + k + s->len) % s->len];
    const tile_slot *slot = &tm->slots[id];
    if( slot->t.data == 0 && !slot->loading ){
      *distance = k;
      return id;
    }
  }
  return -1;
}

/* Make room for target (needed `distance` pins from now) by evicting only
** tiles needed later than it.  Returns 0 if there is room. */
static int prefetch_room(tile_manager *tm, const tile_slot *target, int64_t distance){
  while( over_budget(target->t.bytes) ){
    int64_t victim_distance;
    int64_t victim = choose_victim(tm, &victim_distance);
    if( victim < 0 || victim_distance <= distance ) return -1;
    evict(tm, &tm->slots[victim]);
  }
  return 0;
}

/* Load slot, which stands at `pos` on the schedule, ahead of its use.
** Lock held on entry and exit, released while reading. */
static int prefetch_load(tile_manager *tm, tile_slot *slot, int64_t pos){
  slot->loading = 1;
  budget_tiles_add((int64_t)slot->t.bytes);
  file_extent run = slot->asked ? run_next(tm, pos) : run_ask(tm, slot, pos), seen;
  pthread_mutex_unlock(&tm->lock);
  char err[256];
  extent_ask(tm->prefetch_file, run);
  int rc = tile_read(tm, tm->prefetch_db, tm->prefetch_file, slot, &seen, err, sizeof err);
  pthread_mutex_lock(&tm->lock);
  slot->loading = 0;
  load_noted(tm, slot, seen);
  if( rc == 0 ){
    resident_add(tm, slot);
    slot->prefetched = 1;
    tm->stats.bytes_read += slot->t.bytes;
  }else{
    /* the pin that needs it will read it again and report the error */
    budget_tiles_add(-(int64_t)slot->t.bytes);
  }
  pthread_cond_broadcast(&tm->changed);
  return rc;
}

/* One prefetch, lock held on entry and exit.  Returns 0 if it loaded a
** tile, -1 if there is nothing it may do now. */
static int prefetch_one(tile_manager *tm){
  const schedule *s = active_schedule(tm);
  if( tm->recording || !s->ready || s->len == 0 ) return -1;
  if( !prefetch_may_find_work(tm) ) return -1;
  int64_t distance;
  int64_t id = prefetch_target(tm, &distance);
  if( id < 0 ){
    tm->clean_at = tm->stats.evictions + 1;
    tm->clean_cursor = tm->cursor;
    return -1;
  }
  tile_slot *slot = &tm->slots[id];
  if( prefetch_room(tm, slot, distance) ) return -1;
  return prefetch_load(tm, slot, (tm->cursor + distance + s->len) % s->len);
}

/* The prefetch thread: sleeps until a pin moves the cursor, then reads
** ahead as far as the budget allows. */
static void *prefetch_main(void *arg){
  tile_manager *tm = arg;
  pthread_mutex_lock(&tm->lock);
  while( !tm->stopping ){
    /* prefetch_one may drop the lock to read, and close may stop us then:
    ** its broadcast has come and gone, so look again before waiting. */
    if( prefetch_one(tm) == 0 || tm->stopping ) continue;
    tm->prefetcher_idle = 1;
    pthread_cond_wait(&tm->changed, &tm->lock);
    tm->prefetcher_idle = 0;
  }
  pthread_mutex_unlock(&tm->lock);
  return 0;
}
