/*
** test_tile_layout.c: where tiles lie in the file, checked against SQLite
** itself.  The databases here are made with plain SQL, not by tensql's
** importer, in the shape of table tile, with blobs of the sizes real
** models have (biases, norms, 64 KiB-page tiles up to 1 MiB) and with
** other page sizes and reserved bytes; every tile read as a run and
** gathered must equal what sqlite3_blob_read returns for it, and so must
** one whose head was kept from before and whose run alone was read.  A chain
** that is not on consecutive pages must be caught by the gather.
*/
#include "../testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory/tile_layout.h"

static const int tile_sizes[] = { 512, 3584, 8000, 65000, 121856, 258048, 487424, 1035776 };
#define N_SIZES (int)(sizeof tile_sizes / sizeof tile_sizes[0])

static uint8_t tile_byte(int64_t id, size_t i){ return (uint8_t)(id * 131 + i * 7 + (i >> 9)); }

/* A database of table tile with n rows, row id of tile_sizes[id % N_SIZES]
** bytes, in pages of page_size with `reserved` bytes kept at each page's
** end. */
static const char *tile_db(const char *name, int page_size, int reserved, int n){
  const char *path = test_tmp_path(name);
  unlink(path);
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  char sql[256];
  snprintf(sql, sizeof sql, "PRAGMA page_size = %d", page_size);
  ck_assert_int_eq(sqlite3_exec(db, sql, 0, 0, 0), SQLITE_OK);
  if( reserved ){
    ck_assert_int_eq(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserved),
                     SQLITE_OK);
  }
  ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE tile(id INTEGER PRIMARY KEY, tensor_id INTEGER,"
                   " tile_row INTEGER, tile_col INTEGER, checksum INTEGER, data BLOB); BEGIN",
                   0, 0, 0), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "INSERT INTO tile VALUES (?, 1, ?, 0, ?, ?)", -1, &st, 0);
  for(int64_t id = 1; id <= n; id++){
    size_t bytes = (size_t)tile_sizes[id % N_SIZES];
    uint8_t *blob = malloc(bytes);
    for(size_t i = 0; i < bytes; i++) blob[i] = tile_byte(id, i);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, id - 1);
    sqlite3_bind_int64(st, 3, id * 1000003);   /* any width the record may give it */
    sqlite3_bind_blob(st, 4, blob, (int)bytes, SQLITE_TRANSIENT);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
    free(blob);
  }
  sqlite3_finalize(st);
  ck_assert_int_eq(sqlite3_exec(db, "COMMIT", 0, 0, 0), SQLITE_OK);
  sqlite3_close(db);
  return path;
}

typedef struct opened { int fd; tile_layout l; size_t *bytes; int64_t n; } opened;

static int page_read(void *ctx, int64_t pgno, uint8_t *page){
  const opened *o = ctx;
  ssize_t n = pread(o->fd, page, o->l.page_size, (pgno - 1) * (int64_t)o->l.page_size);
  return n == (ssize_t)o->l.page_size ? 0 : -1;
}

/* The layout of the database at path, as the tile manager finds it. */
static void layout_open(opened *o, const char *path){
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, 0), SQLITE_OK);
  o->n = query_int(db, "SELECT max(id) FROM tile");
  int64_t root = query_int(db, "SELECT rootpage FROM sqlite_schema WHERE name = 'tile'");
  int column = (int)query_int(db, "SELECT cid FROM pragma_table_info('tile') WHERE name = 'data'");
  o->bytes = calloc((size_t)o->n + 1, sizeof *o->bytes);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "SELECT id, length(data) FROM tile", -1, &st, 0);
  while( sqlite3_step(st) == SQLITE_ROW ){
    o->bytes[sqlite3_column_int64(st, 0)] = (size_t)sqlite3_column_int64(st, 1);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  o->fd = open(path, O_RDONLY);
  uint8_t header[100];
  ck_assert_int_eq(pread(o->fd, header, 100, 0), 100);
  layout_source src = { page_read, o, 0, 0, 0 };
  ck_assert_int_eq(tile_layout_header(header, &src.page_size, &src.usable), 0);
  struct stat sb;
  fstat(o->fd, &sb);
  src.pages = sb.st_size / src.page_size;
  o->l.page_size = src.page_size;   /* for page_read, before the walk sets it */
  char err[256];
  ck_assert_msg(tile_layout_read(&o->l, &src, root, column, o->bytes, o->n, err, sizeof err) == 0,
                "%s", err);
}

static void layout_close(opened *o){
  tile_layout_free(&o->l);
  free(o->bytes);
  close(o->fd);
}

/* Tile id read as tile_layout_run says and gathered, in a buffer of its
** span; -1 if the gather refused it. */
static int run_read(const opened *o, int64_t id, uint8_t **out){
  const tile_place *p = &o->l.places[id];
  tile_run r = tile_layout_run(&o->l, p);
  ck_assert_int_eq(r.head_at % 4096, 0);
  ck_assert_int_eq(r.at % 4096, 0);
  ck_assert_uint_le(r.span, o->bytes[id] + 3 * 4096 + (o->l.page_size - o->l.usable + 4) * p->n_pages);
  uint8_t *buf = calloc(1, r.span);
  ck_assert_int_eq(pread(o->fd, buf, r.head_bytes, r.head_at), (ssize_t)r.head_bytes);
  ck_assert_int_eq(pread(o->fd, buf + r.offset, r.bytes, r.at), (ssize_t)r.bytes);
  *out = buf;
  return tile_layout_gather(&o->l, p, buf, 0);
}

/* Every tile is placed, and reads back as SQLite reads it. */
static void check_every_tile(const char *path){
  opened o;
  layout_open(&o, path);
  sqlite3 *db;
  sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, 0);
  for(int64_t id = 1; id <= o.n; id++){
    ck_assert_msg(o.l.places[id].head_at != 0, "%s: tile %lld not placed", path, (long long)id);
    uint8_t *buf;
    ck_assert_int_eq(run_read(&o, id, &buf), 0);
    sqlite3_blob *blob;
    ck_assert_int_eq(sqlite3_blob_open(db, "main", "tile", "data", id, 0, &blob), SQLITE_OK);
    uint8_t *want = malloc(o.bytes[id]);
    sqlite3_blob_read(blob, want, (int)o.bytes[id], 0);
    sqlite3_blob_close(blob);
    ck_assert_msg(memcmp(buf, want, o.bytes[id]) == 0, "%s: tile %lld (%zu bytes) differs",
                  path, (long long)id, o.bytes[id]);
    /* again with the head kept in place from before: only the run is read */
    const tile_place *p = &o.l.places[id];
    tile_run r = tile_layout_run(&o.l, p);
    memset(buf, 0, r.span);
    memcpy(buf, want, p->head_bytes);
    ck_assert_int_eq(pread(o.fd, buf + r.offset, r.bytes, r.at), (ssize_t)r.bytes);
    ck_assert_int_eq(tile_layout_gather(&o.l, p, buf, 1), 0);
    ck_assert_msg(memcmp(buf, want, o.bytes[id]) == 0, "%s: tile %lld differs, head kept",
                  path, (long long)id);
    free(want);
    free(buf);
  }
  sqlite3_close(db);
  layout_close(&o);
}

START_TEST(test_64k_pages){
  check_every_tile(tile_db("layout64k.db", 65536, 0, 40));
}
END_TEST

START_TEST(test_4k_pages){
  check_every_tile(tile_db("layout4k.db", 4096, 0, 24));
}
END_TEST

START_TEST(test_reserved_bytes){
  check_every_tile(tile_db("layout_reserved.db", 65536, 40, 24));
}
END_TEST

/* A b-tree several levels deep: small pages, many rows. */
START_TEST(test_deep_btree){
  check_every_tile(tile_db("layout_deep.db", 4096, 0, 600));
}
END_TEST

/* Pages of 1 KiB cannot be read with 4 KiB-aligned direct reads: the walk
** says so, and the tile manager reads through SQLite. */
START_TEST(test_small_pages_refused){
  const char *path = tile_db("layout1k.db", 1024, 0, 4);
  opened o = { 0 };
  o.fd = open(path, O_RDONLY);
  uint8_t header[100];
  ck_assert_int_eq(pread(o.fd, header, 100, 0), 100);
  layout_source src = { page_read, &o, 0, 0, 100 };
  ck_assert_int_eq(tile_layout_header(header, &src.page_size, &src.usable), 0);
  size_t bytes[5] = { 0 };
  char err[256];
  ck_assert_int_eq(tile_layout_read(&o.l, &src, 2, 5, bytes, 4, err, sizeof err), -1);
  ck_assert_str_eq(err, "pages too small for direct reads");
  close(o.fd);
}
END_TEST

START_TEST(test_wal_header_refused){
  const char *path = tile_db("layout_wal.db", 65536, 0, 2);
  sqlite3 *db;
  sqlite3_open(path, &db);
  sqlite3_exec(db, "PRAGMA journal_mode = WAL", 0, 0, 0);
  sqlite3_close(db);
  uint8_t header[100];
  int fd = open(path, O_RDONLY);
  ck_assert_int_eq(pread(fd, header, 100, 0), 100);
  close(fd);
  uint32_t size, usable;
  ck_assert_int_eq(tile_layout_header(header, &size, &usable), -1);
  memcpy(header, "SQLite format 2", 16);
  header[18] = header[19] = 1;
  ck_assert_int_eq(tile_layout_header(header, &size, &usable), -1);
}
END_TEST

/* A chain whose next-page numbers do not run on consecutive pages: the
** gather refuses it rather than return another tile's bytes. */
START_TEST(test_broken_chain_refused){
  const char *path = tile_db("layout_chain.db", 65536, 0, 8);
  opened o;
  layout_open(&o, path);
  int64_t id = 7;   /* 1035776 bytes: 16 overflow pages */
  ck_assert_uint_ge(o.l.places[id].n_pages, 3);
  int64_t second = o.l.places[id].first_page + 1;
  uint8_t *buf;
  ck_assert_int_eq(run_read(&o, id, &buf), 0);
  free(buf);
  layout_close(&o);
  /* the first overflow page now says the chain goes on elsewhere */
  int fd = open(path, O_WRONLY);
  uint8_t next[4] = { 0, 0, 0, 2 };
  ck_assert_int_eq(pwrite(fd, next, 4, (second - 2) * 65536), 4);
  close(fd);
  layout_open(&o, path);
  ck_assert_int_eq(run_read(&o, id, &buf), -1);
  free(buf);
  layout_close(&o);
}
END_TEST

static Suite *tile_layout_suite(void){
  Suite *s = suite_create("tile_layout");
  TCase *tc = tcase_create("layout");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_64k_pages);
  tcase_add_test(tc, test_4k_pages);
  tcase_add_test(tc, test_reserved_bytes);
  tcase_add_test(tc, test_deep_btree);
  tcase_add_test(tc, test_small_pages_refused);
  tcase_add_test(tc, test_wal_header_refused);
  tcase_add_test(tc, test_broken_chain_refused);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(tile_layout_suite)
