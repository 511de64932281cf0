/*
** test_tile.c: the tile manager's memory budget, eviction and prefetch.
**
** The policy tests drive a real tile manager over a model of equal-sized
** tiles and compare its misses with a brute-force Bélády simulation written
** here: at each miss with a full cache, evict the resident tile whose next
** use in the rest of the trace is furthest away.  With prefetch on, the
** tiles read may exceed that by a window per step, and the bytes read from
** the disk (/proc/self/io) stay those of the tiles loaded.  The end-to-end
** tests run stories260K under half its size in budget.
**
** The I/O tests check how tiles come off the disk: as runs of pages with
** O_DIRECT, leaving nothing in the OS page cache; through SQLite where the
** pages are not where the b-tree walk put them (a WAL file, an edited or
** VACUUMed file, a chain on scattered pages); buffered where the file
** system refuses O_DIRECT; and with a clear error, naming the tensor and
** tile, when the file is cut short.  Their reference for a tile's bytes is
** the data the test wrote, and SQLite's own blob read.
*/
#include "../testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "import/import.h"
#include "import/model_writer.h"
#include "memory/budget.h"
#include "memory/tile.h"
#include "tensql.h"

#define TILE_BYTES 256           /* one row of 64 floats */
#define BIG_TILE_BYTES (64 << 10) /* slower to load than to pin */

/* Adds tensor `name` of n_tiles tiles of rows of 64 floats, tile_bytes
** of them per tile. */
static void tile_tensor(model_writer *w, const char *name, int n_tiles, int tile_bytes){
  int rows = n_tiles * (tile_bytes / TILE_BYTES);
  model_writer_tile_bytes(w, (size_t)tile_bytes);
  float *data = calloc((size_t)rows * 64, sizeof(float));
  for(int i = 0; i < rows * 64; i++) data[i] = (float)i;
  uint64_t shape[2] = { (uint64_t)rows, 64 };
  ck_assert_int_eq(model_writer_tensor(w, name, 2, shape, TENSOR_F32, data, TENSOR_F32), 0);
  free(data);
}

/* A database of tensors big_tiles tiles of big_bytes ("t"), then, if
** small_tiles, small_tiles of small_bytes ("s"): tile ids in that order. */
static const char *tiles_model(int big_tiles, int big_bytes, int small_tiles, int small_bytes){
  static char path[1024];
  char err[256];
  snprintf(path, sizeof path, "%s", test_tmp_path("tiles.db"));
  model_writer *w = model_writer_open(path, err, sizeof err);
  ck_assert_msg(w != 0, "%s", err);
  model_writer_meta_text(w, "general.architecture", "llama");
  model_writer_meta_int(w, "llama.block_count", 1);
  tile_tensor(w, "t", big_tiles, big_bytes);
  if( small_tiles ) tile_tensor(w, "s", small_tiles, small_bytes);
  ck_assert_msg(model_writer_commit(w) == 0, "%s", model_writer_error(w));
  return path;
}

/* A database with one tensor of rows of 64 floats, tile_bytes of them per
** tile. */
static const char *tile_model(int n_tiles, int tile_bytes){
  return tiles_model(n_tiles, tile_bytes, 0, 0);
}

/* Bélády by brute force over trace[0..len), with room for `slots` tiles;
** misses counted among the first `until` accesses (the rest is future the
** simulation may look at, as the manager looks at the next cycle). */
static int opt_misses(const int64_t *trace, int len, int slots, int until){
  int64_t *cache = calloc((size_t)slots, sizeof *cache);
  int used = 0, misses = 0;
  for(int i = 0; i < until; i++){
    int hit = 0;
    for(int k = 0; k < used; k++) if( cache[k] == trace[i] ) hit = 1;
    if( hit ) continue;
    misses++;
    if( used < slots ){ cache[used++] = trace[i]; continue; }
    int victim = 0, furthest = -1;
    for(int k = 0; k < used; k++){
      int next = len;   /* never again */
      for(int j = i + 1; j < len; j++) if( trace[j] == cache[k] ){ next = j; break; }
      if( next > furthest ){ furthest = next; victim = k; }
    }
    cache[victim] = trace[i];
  }
  free(cache);
  return misses;
}

static void pin_step(tile_manager *tm, const int64_t *step, int len){
  char err[256];
  tile_manager_begin_step(tm, 0);
  for(int i = 0; i < len; i++){
    const tile *t = tile_manager_pin(tm, step[i], err, sizeof err);
    ck_assert_msg(t != 0, "%s", err);
    tile_manager_unpin(tm, t);
  }
  tile_manager_end_step(tm);
}

/* Record one step of pins with no budget, start cold, then replay it
** `cycles` times within `slots` tiles of tile_bytes: the tiles the manager
** read, on demand (misses) and in all (reads). */
typedef struct replay_counts { uint64_t misses, reads, prefetch_hits; } replay_counts;
static replay_counts manager_replay(tile_manager *tm, const int64_t *step, int len,
                                    int tile_bytes, int slots, int cycles){
  budget_set(0);
  tile_manager_reset_schedules(tm);
  pin_step(tm, step, len);
  tile_manager_drop_all(tm);
  budget_set((uint64_t)slots * (uint64_t)tile_bytes);
  tile_stats before, after;
  tile_manager_stats(tm, &before);
  for(int c = 0; c < cycles; c++) pin_step(tm, step, len);
  tile_manager_stats(tm, &after);
  budget_set(0);
  replay_counts n = { after.misses - before.misses,
                      (after.bytes_read - before.bytes_read) / (uint64_t)tile_bytes,
                      after.prefetch_hits - before.prefetch_hits };
  return n;
}

static uint64_t manager_misses(tile_manager *tm, const int64_t *step, int len,
                               int slots, int cycles){
  return manager_replay(tm, step, len, TILE_BYTES, slots, cycles).misses;
}

static tile_manager *open_manager(int n_tiles, int tile_bytes){
  char err[256];
  budget_set_prefetch(0);
  budget_set_policy(POLICY_OPT);
  tile_manager *tm = tile_manager_open(tile_model(n_tiles, tile_bytes), err, sizeof err);
  ck_assert_msg(tm != 0, "%s", err);
  return tm;
}

static int belady(const int64_t *step, int len, int slots, int cycles){
  int total = len * (cycles + 1);
  int64_t *trace = malloc((size_t)total * sizeof *trace);
  for(int i = 0; i < total; i++) trace[i] = step[i % len];
  int misses = opt_misses(trace, total, slots, len * cycles);
  free(trace);
  return misses;
}

static uint64_t rng_next(uint64_t *x){
  *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17;
  return *x;
}

START_TEST(test_random_traces_match_belady){
  tile_manager *tm = open_manager(40, TILE_BYTES);
  uint64_t rng = 88172645463325252ull;
  for(int trial = 0; trial < 25; trial++){
    int len = 30 + (int)(rng_next(&rng) % 120);
    int slots = 3 + (int)(rng_next(&rng) % 30);
    int64_t step[160];
    for(int i = 0; i < len; i++) step[i] = 1 + (int64_t)(rng_next(&rng) % 40);
    uint64_t got = manager_misses(tm, step, len, slots, 3);
    int expect = belady(step, len, slots, 3);
    ck_assert_msg(got == (uint64_t)expect, "trial %d (len %d, %d slots): %llu misses, Belady %d",
                  trial, len, slots, (unsigned long long)got, expect);
  }
  tile_manager_close(tm);
}
END_TEST

/* A cyclic scan of M = 60 tiles with room for B: OPT reads M - B per cycle
** (within one tile), LRU reads all M. */
START_TEST(test_cyclic_opt_and_lru){
  tile_manager *tm = open_manager(60, TILE_BYTES);
  int64_t step[60];
  for(int i = 0; i < 60; i++) step[i] = i + 1;
  const int cycles = 5;
  for(int slots = 5; slots < 60; slots += 11){
    uint64_t got = manager_misses(tm, step, 60, slots, cycles);
    ck_assert_int_eq(got, (uint64_t)belady(step, 60, slots, cycles));
    /* after the cold first cycle, each cycle misses M - B (+1) */
    uint64_t steady = (got - 60) / (cycles - 1);
    ck_assert_msg(steady >= (uint64_t)(60 - slots) && steady <= (uint64_t)(60 - slots + 1),
                  "%d slots: %llu misses per cycle", slots, (unsigned long long)steady);
    budget_set_policy(POLICY_LRU);
    uint64_t lru = manager_misses(tm, step, 60, slots, cycles);
    budget_set_policy(POLICY_OPT);
    ck_assert_int_eq(lru, 60 * cycles);
  }
  tile_manager_close(tm);
}
END_TEST

/* A cyclic scan that does not fit: the tiles that stream are spread along
** the step, as many as do not fit beside the readers' window and one tile
** in use, so that the disk reads all through the step (Bélády's rule alone
** streamed the step's last tiles in one run, the disk idle before them).
** Without prefetch, the whole budget holds tiles and a cycle misses M - B,
** as OPT does, never two pins in a row, and reloads the missed tiles
** without their heads (8 KB of each 256 KB tile here), which they kept;
** with prefetch, the readers read the marked tiles ahead of their pins.
** begin_step says whether the step streams (the workers sleep if so). */
/* Pin and unpin tile id: the misses and bytes read that took. */
static tile_stats pin_once(tile_manager *tm, int64_t id){
  char err[256];
  tile_stats before, after;
  tile_manager_stats(tm, &before);
  const tile *t = tile_manager_pin(tm, id, err, sizeof err);
  ck_assert_msg(t != 0, "%s", err);
  tile_manager_unpin(tm, t);
  tile_manager_stats(tm, &after);
  after.misses -= before.misses;
  after.bytes_read -= before.bytes_read;
  return after;
}

START_TEST(test_streaming_tiles_are_spread){
  enum { M = 60, KEPT = 40, CYCLES = 3, BYTES = 256 << 10 };
  const uint64_t slack = TILE_PREFETCH_BYTES + (uint64_t)BYTES;
  tile_manager *tm = open_manager(M, BYTES);
  int64_t step[M];
  for(int i = 0; i < M; i++) step[i] = i + 1;
  int longest = 0;
  uint64_t steady = 0, steady_bytes = 0;
  manager_replay(tm, step, M, BYTES, 1, 0);   /* records the schedule */
  budget_set(KEPT * (uint64_t)BYTES + slack);
  uint64_t fits = budget_get() / BYTES;
  for(int c = 0; c < CYCLES; c++){
    ck_assert_int_eq(tile_manager_begin_step(tm, 0), 1);    /* it streams */
    int run = 0;
    for(int i = 0; i < M; i++){
      tile_stats loads = pin_once(tm, step[i]);
      run = loads.misses ? run + 1 : 0;
      if( c == CYCLES - 1 ) steady += loads.misses;
      if( c == CYCLES - 1 ) steady_bytes += loads.bytes_read;
      if( c == CYCLES - 1 && run > longest ) longest = run;
    }
    tile_manager_end_step(tm);
  }
  ck_assert_msg(steady <= M - fits + 1, "%llu misses a cycle, %llu tiles fit",
                (unsigned long long)steady, (unsigned long long)fits);
  ck_assert_msg(longest <= 1, "%d misses in a row", longest);
  ck_assert_msg(steady > 0 && steady_bytes <= steady * (uint64_t)(BYTES - 8000),
                "%llu bytes for %llu misses", (unsigned long long)steady_bytes,
                (unsigned long long)steady);
  budget_set_prefetch(1);
  tile_stats before, after;
  tile_manager_stats(tm, &before);
  for(int c = 0; c < CYCLES; c++) pin_step(tm, step, M);
  tile_manager_stats(tm, &after);
  budget_set_prefetch(0);
  ck_assert_uint_gt(after.prefetch_hits, before.prefetch_hits);
  ck_assert_msg(after.bytes_read - before.bytes_read <= CYCLES * (M - KEPT + 1) * (uint64_t)BYTES,
                "%llu bytes read in %d cycles",
                (unsigned long long)(after.bytes_read - before.bytes_read), CYCLES);
  budget_set(0);
  ck_assert_int_eq(tile_manager_begin_step(tm, 0), 0);      /* all fit: none stream */
  tile_manager_end_step(tm);
  tile_manager_close(tm);
}
END_TEST

/* Only large tiles stream while they carry enough bytes: a small tile
** read each step costs the disk a whole request for a few KiB.  Big and
** small tiles alternate; the budget keeps all the small ones and half
** the big ones (and, with no reading ahead, the window holds more), and
** in the steady state no small tile is read. */
START_TEST(test_small_tiles_do_not_stream){
  enum { N = 40, BIG = 256 << 10, SMALL = 4 << 10, CYCLES = 3 };
  char err[256];
  budget_set_prefetch(0);
  budget_set_policy(POLICY_OPT);
  tile_manager *tm = tile_manager_open(tiles_model(N, BIG, N, SMALL), err, sizeof err);
  ck_assert_msg(tm != 0, "%s", err);
  int64_t step[2 * N];
  for(int i = 0; i < N; i++){
    step[2 * i] = i + 1;
    step[2 * i + 1] = N + i + 1;
  }
  manager_replay(tm, step, 2 * N, BIG, 1, 0);   /* records the schedule */
  budget_set(N / 2 * (uint64_t)BIG + N * (uint64_t)SMALL + TILE_PREFETCH_BYTES + BIG);
  uint64_t small_misses = 0, big_misses = 0;
  for(int c = 0; c < CYCLES; c++){
    ck_assert_int_eq(tile_manager_begin_step(tm, 0), 1);    /* it streams */
    for(int i = 0; i < 2 * N; i++){
      uint64_t misses = pin_once(tm, step[i]).misses;
      if( c == CYCLES - 1 && step[i] > N ) small_misses += misses;
      if( c == CYCLES - 1 && step[i] <= N ) big_misses += misses;
    }
    tile_manager_end_step(tm);
  }
  ck_assert_msg(small_misses == 0, "%llu small tiles read in a step",
                (unsigned long long)small_misses);
  ck_assert_msg(big_misses > 0 && big_misses <= N / 2 + 1,
                "%llu big tiles read in a step", (unsigned long long)big_misses);
  budget_set(0);
  tile_manager_close(tm);
}
END_TEST

/* Prefetch reads ahead without reading more than OPT alone: at most one
** window more per step (the tiles it holds ahead, and the one under the
** cursor).  Loads of 64 KB tiles are slower than pins, so the pins catch up
** with the prefetcher and wait for the tile it is reading, which it used to
** evict as soon as it had read it (the cursor stood on it, so by the
** schedule it looked used already). */
START_TEST(test_prefetch_reads_what_opt_reads){
  enum { M = 200, CYCLES = 5 };
  tile_manager *tm = open_manager(M, BIG_TILE_BYTES);
  int64_t step[M];
  for(int i = 0; i < M; i++) step[i] = i + 1;
  for(int slots = 40; slots < M; slots += 50){
    replay_counts alone = manager_replay(tm, step, M, BIG_TILE_BYTES, slots, CYCLES);
    budget_set_prefetch(1);
    replay_counts ahead = manager_replay(tm, step, M, BIG_TILE_BYTES, slots, CYCLES);
    budget_set_prefetch(0);
    ck_assert_msg(ahead.prefetch_hits > 0, "%d slots: nothing was prefetched", slots);
    ck_assert_msg(ahead.reads <= alone.reads + CYCLES * (TILE_PREFETCH_WINDOW + 1),
                  "%d slots: %llu tiles read with prefetch, %llu without", slots,
                  (unsigned long long)ahead.reads, (unsigned long long)alone.reads);
  }
  tile_manager_close(tm);
}
END_TEST

/* With every tile resident there is nothing to read ahead: pins must not
** wake the prefetch thread to find that out (each wake is a futex call and
** a context switch on the cores the kernels use). */
START_TEST(test_prefetcher_sleeps_when_all_resident){
  enum { M = 100 };
  tile_manager *tm = open_manager(M, TILE_BYTES);
  int64_t step[M];
  for(int i = 0; i < M; i++) step[i] = i + 1;
  budget_set(0);
  budget_set_prefetch(1);
  pin_step(tm, step, M);        /* records the schedule, loads every tile */
  tile_stats before, after;
  tile_manager_stats(tm, &before);
  for(int c = 0; c < 5; c++) pin_step(tm, step, M);
  tile_manager_stats(tm, &after);
  budget_set_prefetch(0);
  ck_assert_uint_eq(after.misses, before.misses);
  ck_assert_msg(after.prefetch_wakes == before.prefetch_wakes,
                "%llu wakes over 5 steps of resident tiles",
                (unsigned long long)(after.prefetch_wakes - before.prefetch_wakes));
  tile_manager_close(tm);
}
END_TEST

/* Closing while the prefetch thread reads a tile that fails its checksum
** must not hang: close's wake-up comes while the thread reads without the
** lock, so the thread has to look at `stopping` again before it waits
** (fuzz_model_db hung so on a damaged database).  It is a race: each round
** records a step, then pins its first tile, which sets the thread reading
** the next (1 MB, damaged), and closes at once. */
START_TEST(test_close_while_prefetch_fails){
  enum { M = 4 };
  const char *path = tile_model(M, 1 << 20);
  char err[256];
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, "UPDATE tile SET checksum = checksum + 1 WHERE id > 1",
                                0, 0, 0), SQLITE_OK);
  sqlite3_close(db);
  budget_set(0);
  budget_set_prefetch(1);
  for(int round = 0; round < 100; round++){
    tile_manager *tm = tile_manager_open(path, err, sizeof err);
    ck_assert_msg(tm != 0, "%s", err);
    tile_manager_begin_step(tm, 0);
    for(int64_t id = 1; id <= M; id++){
      const tile *t = tile_manager_pin(tm, id, err, sizeof err);
      ck_assert((t != 0) == (id == 1));
      if( t ) tile_manager_unpin(tm, t);
    }
    tile_manager_end_step(tm);
    tile_manager_begin_step(tm, 0);
    tile_manager_unpin(tm, tile_manager_pin(tm, 1, err, sizeof err));
    tile_manager_end_step(tm);
    tile_manager_close(tm);
  }
  budget_set_prefetch(0);
}
END_TEST

/* read_bytes of /proc/self/io: what this process read from the disk. */
static int64_t disk_read_bytes(void){
  return test_proc_number("/proc/self/io", "read_bytes:");
}

/* Loads read from the disk what they load and little more: no kernel
** read-ahead of the tiles that follow on disk, which OPT keeps resident
** or evicts before their use.  Tiles of 252 KB lie as the real model's
** do, a leaf page and three overflow pages of 64 KB each, one after the
** other; the pages a load reads are 1.6% more than the tile. */
START_TEST(test_loads_read_only_their_tiles){
  enum { M = 60, BYTES = 252 << 10 };
  tile_manager *tm = open_manager(M, BYTES);
  int64_t step[M];
  for(int i = 0; i < M; i++) step[i] = i + 1;
  for(int prefetch = 0; prefetch < 2; prefetch++){
    budget_set_prefetch(prefetch);
    tile_stats before, after;
    tile_manager_stats(tm, &before);
    int64_t disk = disk_read_bytes();
    manager_replay(tm, step, M, BYTES, M / 2, 4);
    disk = disk_read_bytes() - disk;
    tile_manager_stats(tm, &after);
    double loaded = (double)(after.bytes_read - before.bytes_read);
    ck_assert_msg(disk <= 1.1 * loaded, "prefetch %d: %lld bytes from disk for %.0f loaded",
                  prefetch, (long long)disk, loaded);
  }
  budget_set_prefetch(0);
  tile_manager_close(tm);
}
END_TEST

START_TEST(test_pins_are_never_evicted){
  tile_manager *tm = open_manager(8, TILE_BYTES);
  char err[256];
  budget_set(3 * TILE_BYTES);
  const tile *held[3];
  for(int i = 0; i < 3; i++){
    held[i] = tile_manager_pin(tm, i + 1, err, sizeof err);
    ck_assert_ptr_nonnull(held[i]);
  }
  /* no room and nothing unpinned: the clear error, not an eviction */
  ck_assert_ptr_null(tile_manager_pin(tm, 4, err, sizeof err));
  ck_assert_msg(strstr(err, "memory budget of 768 B is too small: this step needs at least 1.0 KB"),
                "%s", err);
  tile_manager_unpin(tm, held[0]);
  const tile *t4 = tile_manager_pin(tm, 4, err, sizeof err);
  ck_assert_msg(t4 != 0, "%s", err);
  /* the pinned tiles are intact: row r holds 64r .. 64r + 63 */
  for(int i = 1; i < 3; i++){
    const float *f = held[i]->data;
    ck_assert_float_eq(f[0], (float)(64 * i));
    ck_assert_float_eq(f[63], (float)(64 * i + 63));
  }
  tile_manager_unpin(tm, held[1]);
  tile_manager_unpin(tm, held[2]);
  tile_manager_unpin(tm, t4);
  budget_set(0);
  tile_manager_close(tm);
}
END_TEST

/* transparent_hugepage is "always" or "madvise", not "never". */
static int huge_pages_allowed(void){
  char line[128] = "";
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if( f && fgets(line, sizeof line, f) == 0 ) line[0] = 0;
  if( f ) fclose(f);
  return line[0] && strstr(line, "[never]") == 0;
}

/* Whether /proc/self/smaps gives the mapping that holds p the VmFlags
** flag ("hg": huge pages asked for, "nh": refused). */
static int mapping_has_flag(const void *p, const char *flag){
  char line[512], want[8];
  int in = 0, found = 0;
  snprintf(want, sizeof want, " %s", flag);
  FILE *f = fopen("/proc/self/smaps", "r");
  while( f && fgets(line, sizeof line, f) ){
    unsigned long lo, hi;
    if( sscanf(line, "%lx-%lx ", &lo, &hi) == 2 ) in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
    else if( in && strncmp(line, "VmFlags:", 8) == 0 ) found = strstr(line, want) != 0;
  }
  if( f ) fclose(f);
  return found;
}

/* Where tile id lives while it is resident. */
static const void *tile_home(tile_manager *tm, int64_t id){
  char err[256];
  tile_manager_begin_step(tm, 0);
  const tile *t = tile_manager_pin(tm, id, err, sizeof err);
  ck_assert_msg(t != 0, "%s", err);
  const void *home = t->data;
  tile_manager_unpin(tm, t);
  tile_manager_end_step(tm);
  return home;
}

/* With no budget the tiles live in huge pages, where the kernel has them
** (transparent_hugepage not "never"); setting a budget gives their memory
** back at once, huge pages and all, not just the tiles' own 4 KiB pages. */
START_TEST(test_budget_returns_huge_pages){
  enum { M = 36, BYTES = 252 << 10 };
  tile_manager *tm = open_manager(M, BYTES);
  int64_t step[M];
  for(int i = 0; i < M; i++) step[i] = i + 1;
  int64_t rss0 = test_proc_number("/proc/self/status", "VmRSS:");
  int64_t huge0 = test_proc_number("/proc/self/smaps_rollup", "AnonHugePages:");
  pin_step(tm, step, M);
  int64_t rss1 = test_proc_number("/proc/self/status", "VmRSS:");
  int64_t huge1 = test_proc_number("/proc/self/smaps_rollup", "AnonHugePages:");
  const void *home = tile_home(tm, 1);
  ck_assert_int_ge(rss1 - rss0, M * (BYTES >> 10));
  if( huge_pages_allowed() ){
    ck_assert_msg(huge1 - huge0 >= M * (BYTES >> 10) / 2, "%lld KiB of huge pages",
                  (long long)(huge1 - huge0));
    ck_assert(mapping_has_flag(home, "hg"));
  }
  budget_set(2 * BYTES);
  tile_manager_budget_changed(tm);
  if( huge_pages_allowed() ) ck_assert(mapping_has_flag(home, "nh"));
  int64_t rss2 = test_proc_number("/proc/self/status", "VmRSS:");
  int64_t huge2 = test_proc_number("/proc/self/smaps_rollup", "AnonHugePages:");
  int64_t slack = 256;
#ifdef __SANITIZE_ADDRESS__
  /* the shadow of the tiles stays, and ASan's allocator keeps some of its
  ** own (seen: 1.7 MB for 8.9 MB of tiles) */
  slack += (rss1 - rss0) / 4;
#endif
  ck_assert_msg(rss2 - rss0 <= slack && huge2 == huge0, "%lld KiB still resident, %lld KiB huge",
                (long long)(rss2 - rss0), (long long)(huge2 - huge0));
  budget_set(0);
  tile_manager_close(tm);
}
END_TEST

START_TEST(test_budget_parse){
  ck_assert_int_eq(budget_parse("300M"), 300LL << 20);
  ck_assert_int_eq(budget_parse("1.5G"), 3LL << 29);
  ck_assert_int_eq(budget_parse("64k"), 64 << 10);
  ck_assert_int_eq(budget_parse("123456"), 123456);
  ck_assert_int_eq(budget_parse("2GB"), 2LL << 30);
  ck_assert_int_eq(budget_parse("lots"), -1);
  ck_assert_int_eq(budget_parse("-5M"), -1);
  ck_assert_int_eq(budget_parse("5X"), -1);
}
END_TEST

/* ---- how tiles come off the disk ------------------------------------------------ */

enum { IO_TILES = 12, IO_BYTES = 252 << 10 };

/* Pin every tile of tile_model(IO_TILES, IO_BYTES) in order and check its
** floats, row r of the tensor holding 64r .. 64r + 63; the first error, or
** "" when all read right. */
static const char *pin_all_checked(tile_manager *tm){
  static char err[512];
  int per_tile = IO_BYTES / 4;
  err[0] = 0;
  tile_manager_begin_step(tm, 0);
  for(int64_t id = 1; id <= IO_TILES && !err[0]; id++){
    const tile *t = tile_manager_pin(tm, id, err, sizeof err);
    if( t == 0 ) break;
    const float *f = t->data;
    for(int i = 0; i < per_tile && !err[0]; i += 997){
      if( f[i] != (float)((id - 1) * per_tile + i) ){
        snprintf(err, sizeof err, "tile %lld float %d is %g", (long long)id, i, f[i]);
      }
    }
    tile_manager_unpin(tm, t);
  }
  tile_manager_end_step(tm);
  return err;
}

/* Whether this file system takes O_DIRECT. */
static int direct_allowed(const char *path){
  int fd = open(path, O_RDONLY | O_DIRECT);
  if( fd >= 0 ) close(fd);
  return fd >= 0;
}

/* Pages of the file at path in the OS page cache. */
static int64_t cached_pages(const char *path){
  int fd = open(path, O_RDONLY);
  struct stat st;
  fstat(fd, &st);
  size_t page = (size_t)sysconf(_SC_PAGESIZE), n = ((size_t)st.st_size + page - 1) / page;
  void *map = mmap(0, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  unsigned char *in = malloc(n);
  int64_t cached = 0;
  if( map != MAP_FAILED && mincore(map, (size_t)st.st_size, in) == 0 ){
    for(size_t i = 0; i < n; i++) cached += in[i] & 1;
  }
  free(in);
  if( map != MAP_FAILED ) munmap(map, (size_t)st.st_size);
  close(fd);
  return cached;
}

/* Dirty pages are not dropped: they are written first. */
static void cache_drop(const char *path){
  int fd = open(path, O_RDONLY);
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

static tile_manager *io_manager(const char *path, tile_stats *stats){
  char err[256];
  tile_manager *tm = tile_manager_open(path, err, sizeof err);
  ck_assert_msg(tm != 0, "%s", err);
  if( stats ) tile_manager_stats(tm, stats);
  return tm;
}

/* Under a budget the tiles are read as runs with O_DIRECT: right, through
** no SQLite read, and leaving none of the file in the page cache (the
** writer's pages are dropped first). */
START_TEST(test_runs_skip_the_page_cache){
  const char *path = tile_model(IO_TILES, IO_BYTES);
  cache_drop(path);
  tile_stats st;
  tile_manager *tm = io_manager(path, &st);
  ck_assert_str_eq(tile_io_name(st.io), direct_allowed(path) ? "direct" : "buffered");
  budget_set(4 * IO_BYTES);
  for(int round = 0; round < 3; round++) ck_assert_str_eq(pin_all_checked(tm), "");
  tile_manager_stats(tm, &st);
  ck_assert_uint_ge(st.bytes_read / IO_BYTES, 2 * IO_TILES);
  ck_assert_uint_eq(st.sqlite_reads, 0);
  int64_t cached = cached_pages(path);
  ck_assert_msg(cached <= 8, "%lld pages of the model file in the page cache", (long long)cached);
  budget_set(0);
  tile_manager_close(tm);
}
END_TEST

/* A database in WAL mode, with a tile's new bytes still in the -wal file:
** every tile is read through SQLite, which sees them. */
START_TEST(test_wal_reads_through_sqlite){
  const char *path = tile_model(IO_TILES, IO_BYTES);
  sqlite3 *writer;
  ck_assert_int_eq(sqlite3_open(path, &writer), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(writer, "PRAGMA journal_mode = WAL;"
                   " UPDATE tile SET tile_row = tile_row WHERE id = 3", 0, 0, 0), SQLITE_OK);
  tile_stats st;
  tile_manager *tm = io_manager(path, &st);
  ck_assert_str_eq(tile_io_name(st.io), "sqlite");
  ck_assert_str_eq(pin_all_checked(tm), "");
  tile_manager_stats(tm, &st);
  ck_assert_uint_eq(st.sqlite_reads, IO_TILES);
  tile_manager_close(tm);
  sqlite3_exec(writer, "PRAGMA journal_mode = DELETE", 0, 0, 0);
  sqlite3_close(writer);
}
END_TEST

/* Tile 5 rewritten with SQL (its floats negated, the checksum to match),
** then the file VACUUMed: both times every tile reads as SQLite has it. */
START_TEST(test_edited_and_vacuumed_files){
  const char *path = tile_model(IO_TILES, IO_BYTES);
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  float *f = malloc(IO_BYTES);
  int per_tile = IO_BYTES / 4;
  for(int i = 0; i < per_tile; i++) f[i] = -(float)(4 * per_tile + i);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "UPDATE tile SET data = ?1, checksum = ?2 WHERE id = 5", -1, &st, 0);
  sqlite3_bind_blob(st, 1, f, IO_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (int64_t)XXH3_64bits(f, IO_BYTES));
  ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  for(int vacuumed = 0; vacuumed < 2; vacuumed++){
    if( vacuumed ) ck_assert_int_eq(sqlite3_exec(db, "VACUUM", 0, 0, 0), SQLITE_OK);
    tile_stats stats;
    tile_manager *tm = io_manager(path, 0);
    char err[256];
    tile_manager_begin_step(tm, 0);
    const tile *t = tile_manager_pin(tm, 5, err, sizeof err);
    ck_assert_msg(t != 0, "%s", err);
    ck_assert_int_eq(memcmp(t->data, f, IO_BYTES), 0);
    tile_manager_unpin(tm, t);
    tile_manager_end_step(tm);
    tile_manager_stats(tm, &stats);
    /* after VACUUM every chain is in order again */
    if( vacuumed ) ck_assert_uint_eq(stats.sqlite_reads, 0);
    tile_manager_close(tm);
  }
  free(f);
  sqlite3_close(db);
}
END_TEST

/* Whether the overflow pages of tile id, in chain order as SQLite's dbstat
** lists them, are consecutive.  dbstat names a page by its path from the
** root, "/001/000+000002" for the third overflow page of the first cell of
** the second leaf; the cells with overflow pages, in path order, are tiles
** 1, 2, ... while every tile up to id has such pages. */
static int chain_consecutive(sqlite3 *db, int64_t id){
  char sql[512];
  snprintf(sql, sizeof sql, "WITH o AS (SELECT pageno, path, substr(path, 1, instr(path, '+')) cell"
           " FROM dbstat WHERE name = 'tile' AND pagetype = 'overflow')"
           " SELECT pageno FROM o WHERE cell = (SELECT DISTINCT cell FROM o ORDER BY cell"
           " LIMIT 1 OFFSET %lld) ORDER BY path", (long long)(id - 1));
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, 0), SQLITE_OK);
  int64_t last = -1, n = 0, consecutive = 1;
  while( sqlite3_step(st) == SQLITE_ROW ){
    int64_t page = sqlite3_column_int64(st, 0);
    if( last >= 0 && page != last + 1 ) consecutive = 0;
    last = page;
    n++;
  }
  sqlite3_finalize(st);
  ck_assert_msg(n > 1, "no overflow chain found for tile %lld", (long long)id);
  return (int)consecutive;
}

/* Tile 2 deleted and written again, twice its size of pages free in the
** middle of the file after tile 1 shrank: SQLite puts its new chain on the
** free pages and at the end, not in order.  The gather sees it, and the
** tile is read through SQLite, right. */
START_TEST(test_scattered_chain_falls_back){
  const char *path = tile_model(4, IO_BYTES);
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, "CREATE TEMP TABLE saved AS SELECT * FROM tile WHERE id = 2;"
                   " DELETE FROM tile WHERE id = 2;"
                   " UPDATE tile SET data = zeroblob(1000), checksum = 0 WHERE id = 4;"
                   " INSERT INTO tile SELECT * FROM saved", 0, 0, 0), SQLITE_OK);
  ck_assert_msg(!chain_consecutive(db, 2), "the test needs tile 2's chain scattered");
  sqlite3_close(db);
  tile_stats st;
  tile_manager *tm = io_manager(path, 0);
  char err[256];
  tile_manager_begin_step(tm, 0);
  const tile *t = tile_manager_pin(tm, 2, err, sizeof err);
  ck_assert_msg(t != 0, "%s", err);
  const float *f = t->data;
  int per_tile = IO_BYTES / 4;
  ck_assert_float_eq(f[0], (float)per_tile);
  ck_assert_float_eq(f[per_tile - 1], (float)(2 * per_tile - 1));
  tile_manager_unpin(tm, t);
  tile_manager_end_step(tm);
  tile_manager_stats(tm, &st);
  ck_assert_uint_eq(st.sqlite_reads, 1);
  tile_manager_close(tm);
}
END_TEST

/* The file cut short after the manager opened it: the load says which
** tensor and tile, and that the file ends too soon; the tiles before the
** cut still read. */
START_TEST(test_truncated_file_names_the_tile){
  const char *path = tile_model(IO_TILES, IO_BYTES);
  tile_manager *tm = io_manager(path, 0);
  struct stat sb;
  stat(path, &sb);
  ck_assert_int_eq(truncate(path, sb.st_size - 3 * IO_BYTES), 0);
  const char *err = pin_all_checked(tm);
  ck_assert_msg(strstr(err, "cannot read t tile (") && strstr(err, "truncated"), "%s", err);
  char again[512];
  tile_manager_begin_step(tm, 0);
  const tile *t = tile_manager_pin(tm, 1, again, sizeof again);
  ck_assert_msg(t != 0, "%s", again);
  tile_manager_unpin(tm, t);
  tile_manager_end_step(tm);
  tile_manager_close(tm);
}
END_TEST

/* ramfs refuses O_DIRECT: the runs are read buffered, and dropped from the
** page cache after.  Needs root, to mount it. */
START_TEST(test_buffered_where_direct_is_refused){
  if( geteuid() != 0 ) return;
  const char *dir = test_tmp_path("ramfs");
  mkdir(dir, 0755);
  ck_assert_msg(mount("none", dir, "ramfs", 0, 0) == 0, "mount ramfs: %s", strerror(errno));
  char path[1100];
  snprintf(path, sizeof path, "%s/tiles.db", dir);
  test_copy_file(tile_model(IO_TILES, IO_BYTES), path);
  tile_stats st;
  tile_manager *tm = io_manager(path, &st);
  ck_assert_str_eq(tile_io_name(st.io), "buffered");
  budget_set(4 * IO_BYTES);
  for(int round = 0; round < 2; round++) ck_assert_str_eq(pin_all_checked(tm), "");
  tile_manager_stats(tm, &st);
  ck_assert_uint_eq(st.sqlite_reads, 0);
  budget_set(0);
  tile_manager_close(tm);
  umount(dir);
}
END_TEST

/* Under POLICY_OS tensql keeps only the tiles in use, and the file stays in
** the OS page cache, which is now the cache. */
START_TEST(test_os_policy_leaves_caching_to_the_os){
  const char *path = tile_model(IO_TILES, IO_BYTES);
  cache_drop(path);
  tile_manager *tm = io_manager(path, 0);
  budget_set_policy(POLICY_OS);
  ck_assert_str_eq(pin_all_checked(tm), "");
  tile_stats st;
  tile_manager_stats(tm, &st);
  budget_set_policy(POLICY_OPT);
  ck_assert_uint_le(st.resident_bytes, IO_BYTES);
  int64_t pages = cached_pages(path), want = IO_TILES * (int64_t)IO_BYTES / sysconf(_SC_PAGESIZE);
  ck_assert_msg(pages >= want, "%lld pages cached, want %lld", (long long)pages, (long long)want);
  tile_manager_close(tm);
}
END_TEST

/* ---- stories260K within half its size -------------------------------------- */

static char stories_db[1024];

static void stories_setup(void){
  char err[512];
  import_options opt = { .dtype = -1, .tokenizer_path = SHARED("models/stories260K/tok512.bin"),
                         .tile_bytes = 4096 };
  snprintf(stories_db, sizeof stories_db, "%s", test_tmp_path("tile_stories.db"));
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.bin"), stories_db, &opt,
                             err, sizeof err) == 0, "%s", err);
}

static void greedy_text(sqlite3 *db, char *out, size_t len){
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT group_concat(token, ' ') FROM generate"
                   " WHERE prompt = '' AND max_tokens = 60", -1, &st, 0), SQLITE_OK);
  ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s", sqlite3_errmsg(db));
  snprintf(out, len, "%s", (const char*)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
}

START_TEST(test_stories_half_budget){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(stories_db, &db), SQLITE_OK);
  ck_assert_int_eq(tensql_register(db), SQLITE_OK);
  budget_set_prefetch(0);
  char free_run[4096], budget_run[4096];
  greedy_text(db, free_run, sizeof free_run);
  int64_t model_bytes = query_int(db, "SELECT sum(bytes) FROM tensors");
  int64_t budget = model_bytes / 2;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT tensql_budget(%lld)", (long long)budget);
  query_int(db, sql);
  greedy_text(db, budget_run, sizeof budget_run);   /* records the schedule under budget */
  ck_assert_str_eq(budget_run, free_run);
  int64_t read0 = query_int(db, "SELECT bytes_read FROM tile_stats");
  greedy_text(db, budget_run, sizeof budget_run);
  ck_assert_str_eq(budget_run, free_run);
  int64_t read = query_int(db, "SELECT bytes_read FROM tile_stats") - read0;
  int64_t other = query_int(db, "SELECT other_bytes FROM tile_stats");
  int64_t peak = query_int(db, "SELECT peak_total_bytes FROM tile_stats");
  /* 60 one-position steps: BOS, then 59 of the 60 tokens (the last is
  ** not fed back) */
  double per_step = (double)read / 60.0;
  double expect = (double)(model_bytes - (budget - other));
  ck_assert_msg(per_step > 0.95 * expect && per_step < 1.05 * expect,
                "read %.0f bytes per step, model %lld - (budget %lld - state %lld) = %.0f",
                per_step, (long long)model_bytes, (long long)budget, (long long)other, expect);
  ck_assert_int_le(peak, budget);
  query_int(db, "SELECT tensql_budget(0)");
  budget_set_prefetch(1);
  sqlite3_close(db);
}
END_TEST

/* A tile whose checksum no longer matches: generate stops with an error
** naming the tensor and tile, and the connection goes on working: the
** next query runs, and the next generate says the same. */
START_TEST(test_stories_bad_tile_stops_generate){
  char path[1100];
  snprintf(path, sizeof path, "%s", test_tmp_path("tile_stories_bad.db"));
  test_copy_file(stories_db, path);
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, "UPDATE tile SET checksum = checksum + 1 WHERE id ="
                   " (SELECT first_tile + 1 FROM tensor WHERE name = 'blk.0.ffn_up.weight')",
                   0, 0, 0), SQLITE_OK);
  ck_assert_int_eq(tensql_register(db), SQLITE_OK);
  for(int round = 0; round < 2; round++){
    char *msg = 0;
    int rc = sqlite3_exec(db, "SELECT token FROM generate WHERE prompt = 'Once' AND max_tokens = 4",
                          0, 0, &msg);
    ck_assert_int_ne(rc, SQLITE_OK);
    ck_assert_msg(msg && strstr(msg, "checksum mismatch in blk.0.ffn_up.weight tile ("), "%s", msg);
    sqlite3_free(msg);
    ck_assert_int_eq(query_int(db, "SELECT 41 + 1"), 42);
    ck_assert_int_gt(query_int(db, "SELECT count(*) FROM tensors"), 0);
  }
  sqlite3_close(db);
}
END_TEST

static Suite *tile_suite(void){
  Suite *s = suite_create("tile");
  TCase *tc = tcase_create("policy");
  tcase_add_test(tc, test_random_traces_match_belady);
  tcase_add_test(tc, test_cyclic_opt_and_lru);
  tcase_add_test(tc, test_streaming_tiles_are_spread);
  tcase_add_test(tc, test_small_tiles_do_not_stream);
  tcase_add_test(tc, test_prefetch_reads_what_opt_reads);
  tcase_add_test(tc, test_prefetcher_sleeps_when_all_resident);
  tcase_add_test(tc, test_close_while_prefetch_fails);
  tcase_add_test(tc, test_loads_read_only_their_tiles);
  tcase_add_test(tc, test_pins_are_never_evicted);
  tcase_add_test(tc, test_budget_returns_huge_pages);
  tcase_add_test(tc, test_budget_parse);
  suite_add_tcase(s, tc);
  TCase *io = tcase_create("io");
  tcase_add_test(io, test_runs_skip_the_page_cache);
  tcase_add_test(io, test_wal_reads_through_sqlite);
  tcase_add_test(io, test_edited_and_vacuumed_files);
  tcase_add_test(io, test_scattered_chain_falls_back);
  tcase_add_test(io, test_truncated_file_names_the_tile);
  tcase_add_test(io, test_buffered_where_direct_is_refused);
  tcase_add_test(io, test_os_policy_leaves_caching_to_the_os);
  suite_add_tcase(s, io);
  TCase *e2e = tcase_create("stories260K");
  tcase_add_unchecked_fixture(e2e, stories_setup, 0);
  tcase_set_timeout(e2e, 120);
  tcase_add_test(e2e, test_stories_half_budget);
  tcase_add_test(e2e, test_stories_bad_tile_stops_generate);
  suite_add_tcase(s, e2e);
  return s;
}

TEST_MAIN(tile_suite)
