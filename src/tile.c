/*
** tile.c: the tile manager (see tile.h).
**
** Tile ids are dense (1..n, sql/schema.sql), so residency is an array
** indexed by id.  Checksums are read once at open, which keeps a load to
** one sqlite3_blob_read plus one XXH3 pass.  A mutex guards the table so
** that several connections and threads share one manager.
*/
#include "tile.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct tile_slot {
  tile t;                 /* t.data is NULL when not resident */
  uint64_t checksum;      /* expected XXH3-64 of the payload */
  int pins;
} tile_slot;

struct tile_manager {
  sqlite3 *db;            /* read-only, private to the manager */
  pthread_mutex_t lock;
  int64_t n_tiles;
  tile_slot *slots;       /* indexed by tile id; slot 0 unused */
  tile_stats stats;
};

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
  if( tm->slots == 0 ){
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
  }
  sqlite3_finalize(st);
  return 0;
}

tile_manager *tile_manager_open(const char *path, char *err, size_t err_len){
  tile_manager *tm = calloc(1, sizeof *tm);
  if( tm == 0 ){
    snprintf(err, err_len, "out of memory");
    return 0;
  }
  pthread_mutex_init(&tm->lock, 0);
  if( sqlite3_open_v2(path, &tm->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, 0) != SQLITE_OK ){
    snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(tm->db));
    tile_manager_close(tm);
    return 0;
  }
  /* Tiles are cached by the manager itself; SQLite's page cache only
  ** needs to hold the b-tree pages on the way to a blob. */
  sqlite3_exec(tm->db, "PRAGMA cache_size=-1024", 0, 0, 0);
  if( slots_load(tm, err, err_len) ){
    tile_manager_close(tm);
    return 0;
  }
  return tm;
}

void tile_manager_close(tile_manager *tm){
  if( tm == 0 ) return;
  for(int64_t i = 1; tm->slots && i <= tm->n_tiles; i++) free((void*)tm->slots[i].t.data);
  free(tm->slots);
  sqlite3_close(tm->db);
  pthread_mutex_destroy(&tm->lock);
  free(tm);
}

/* "blk.3.ffn_up.weight tile (12,0)": where a bad tile lives, for errors. */
static void tile_describe(tile_manager *tm, int64_t id, char *out, size_t len){
  sqlite3_stmt *st = 0;
  snprintf(out, len, "tile %lld", (long long)id);
  sqlite3_prepare_v2(tm->db, "SELECT t.name, x.tile_row, x.tile_col FROM tile x"
                     " JOIN tensor t ON t.id = x.tensor_id WHERE x.id = ?", -1, &st, 0);
  sqlite3_bind_int64(st, 1, id);
  if( sqlite3_step(st) == SQLITE_ROW ){
    snprintf(out, len, "%s tile (%lld,%lld)", (const char*)sqlite3_column_text(st, 0),
             (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
  }
  sqlite3_finalize(st);
}

/* The blob is closed after each read: an open blob is an open read
** transaction, which would lock out anyone editing the model (UPDATE
** program ...) for as long as the manager lives. */
static int blob_read(tile_manager *tm, int64_t id, void *buf, size_t bytes){
  sqlite3_blob *blob = 0;
  int rc = sqlite3_blob_open(tm->db, "main", "tile", "data", id, 0, &blob);
  if( rc == SQLITE_OK ){
    rc = (size_t)sqlite3_blob_bytes(blob) != bytes ? SQLITE_CORRUPT
       : sqlite3_blob_read(blob, buf, (int)bytes, 0);
  }
  sqlite3_blob_close(blob);
  return rc;
}

/* Called with the lock held. */
static int slot_load(tile_manager *tm, tile_slot *s, char *err, size_t err_len){
  char where[256];
  void *buf = malloc(s->t.bytes ? s->t.bytes : 1);
  if( buf == 0 ){
    snprintf(err, err_len, "out of memory loading tile %lld", (long long)s->t.id);
    return -1;
  }
  int rc = blob_read(tm, s->t.id, buf, s->t.bytes);
  if( rc == SQLITE_OK && XXH3_64bits(buf, s->t.bytes) != s->checksum ) rc = -1;
  if( rc != SQLITE_OK ){
    tile_describe(tm, s->t.id, where, sizeof where);
    snprintf(err, err_len, rc == -1 ? "checksum mismatch in %s" : "cannot read %s: %s",
             where, sqlite3_errstr(rc));
    free(buf);
    return -1;
  }
  s->t.data = buf;
  tm->stats.misses++;
  tm->stats.bytes_read += s->t.bytes;
  tm->stats.resident_bytes += s->t.bytes;
  if( tm->stats.resident_bytes > tm->stats.peak_resident_bytes ){
    tm->stats.peak_resident_bytes = tm->stats.resident_bytes;
  }
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
  if( s->t.data ) tm->stats.hits++;
  else if( slot_load(tm, s, err, err_len) ) t = 0;
  if( t ) s->pins++;
  pthread_mutex_unlock(&tm->lock);
  return t;
}

void tile_manager_unpin(tile_manager *tm, const tile *t){
  pthread_mutex_lock(&tm->lock);
  tm->slots[t->id].pins--;
  pthread_mutex_unlock(&tm->lock);
}

void tile_manager_drop_all(tile_manager *tm){
  pthread_mutex_lock(&tm->lock);
  for(int64_t i = 1; i <= tm->n_tiles; i++){
    tile_slot *s = &tm->slots[i];
    if( s->t.data && s->pins == 0 ){
      free((void*)s->t.data);
      s->t.data = 0;
      tm->stats.resident_bytes -= s->t.bytes;
    }
  }
  pthread_mutex_unlock(&tm->lock);
}

void tile_manager_stats(tile_manager *tm, tile_stats *out){
  pthread_mutex_lock(&tm->lock);
  *out = tm->stats;
  pthread_mutex_unlock(&tm->lock);
}
