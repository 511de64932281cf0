/*
** model_file.c: the model database read as the tile manager needs it (see
** model_file.h): the "tensql-tile" VFS.
**
** "tensql-tile" is the default VFS with another read for the main database
** file.  A tile is its b-tree leaf page and then its overflow pages, a
** sequential run to which the kernel answers with read-ahead of up to
** read_ahead_kb (8 MiB on the test machine) of the tiles that follow on
** disk.  Those are resident already (OPT keeps them) or due much later,
** and dropping the page cache throws them away unused, to be read again:
** disk reads came to 2-4x the tile bytes.  Read-ahead belongs to an open
** file, not to the inode, so each file gets a descriptor of its own with
** POSIX_FADV_RANDOM, and the reads go through it; SQLite's descriptor
** still does the locking.
**
** A read drops its range from the OS page cache (POSIX_FADV_DONTNEED acts
** on the inode) before and after.  After: the page cache charged to the
** process keeps none of it, only the partial pages at range ends, among
** them the 16 header bytes SQLite re-reads at each transaction.  Before:
** a page that another descriptor read ahead (a connection reading the
** schema or the vocabulary) may carry the kernel's read-ahead mark, and
** reading a marked page starts asynchronous read-ahead even on a
** POSIX_FADV_RANDOM file, which then chains from window to window.
**
** The manager asks the kernel for what it is about to load in larger
** requests (extent_ask, below); a read inside the extent marked `asked`
** wants those pages and does not drop them first.  The file also notes the
** span its reads cover, which is how the manager learns a tile's extent.
**
** model_file lives after the default VFS's file, in the szOsFile bytes
** SQLite allocates for each file. */
#include "model_file.h"
#include "database.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

struct model_file {
  sqlite3_io_methods methods;       /* the default file's, with xRead, xClose ours */
  const sqlite3_io_methods *base;   /* the default file's methods */
  int fd;                           /* read-ahead off */
  file_extent asked;                /* asked for already: no drop before reading */
  int64_t span_lo, span_hi;         /* what the reads since extent_track covered */
};

static sqlite3_vfs *model_vfs_base;   /* the default VFS, which does the rest */
static sqlite3_vfs model_vfs;         /* a copy of it with xOpen ours */
static size_t model_file_offset;      /* where model_file starts in a file */
static pthread_once_t model_vfs_once = PTHREAD_ONCE_INIT;

static model_file *model_file_of(sqlite3_file *f){
  return (model_file*)((char*)f + model_file_offset);
}

static int model_file_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off){
  model_file *m = model_file_of(f);
  char *p = buf;
  size_t left = (size_t)n;
  ssize_t got = 1;
  if( off < m->asked.at || off + n > m->asked.at + m->asked.bytes ){
    posix_fadvise(m->fd, off, n, POSIX_FADV_DONTNEED);
  }
  while( left > 0 && got != 0 ){
    got = pread(m->fd, p, left, off + (p - (char*)buf));
    if( got < 0 && errno != EINTR ) return SQLITE_IOERR_READ;
    if( got > 0 ){ p += got; left -= (size_t)got; }
  }
  posix_fadvise(m->fd, off, n, POSIX_FADV_DONTNEED);
  /* Page 1 (the header SQLite re-reads at each transaction, the schema)
  ** is no tile's; pages are at least 512 bytes. */
  if( off >= 512 && off < m->span_lo ) m->span_lo = off;
  if( off >= 512 && off + n > m->span_hi ) m->span_hi = off + n;
  if( left == 0 ) return SQLITE_OK;
  memset(p, 0, left);   /* as SQLite's own read does past the end */
  return SQLITE_IOERR_SHORT_READ;
}

static int model_file_close(sqlite3_file *f){
  model_file *m = model_file_of(f);
  close(m->fd);
  return m->base->xClose(f);
}

static int model_file_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
                           int flags, int *out_flags){
  int rc = model_vfs_base->xOpen(model_vfs_base, name, f, flags, out_flags);
  if( rc != SQLITE_OK || f->pMethods == 0 || !(flags & SQLITE_OPEN_MAIN_DB) ) return rc;
  model_file *m = model_file_of(f);
  memset(m, 0, sizeof *m);
  m->fd = open(name, O_RDONLY | O_CLOEXEC);
  if( m->fd < 0 ){
    f->pMethods->xClose(f);
    f->pMethods = 0;
    return SQLITE_CANTOPEN;
  }
  posix_fadvise(m->fd, 0, 0, POSIX_FADV_RANDOM);
  m->base = f->pMethods;
  m->methods = *f->pMethods;
  m->methods.xRead = model_file_read;
  m->methods.xClose = model_file_close;
  f->pMethods = &m->methods;
  return rc;
}

/* The copy keeps the default's pAppData, so its other methods work when
** called with the copy. */
static void model_vfs_register(void){
  model_vfs_base = sqlite3_vfs_find(0);
  model_vfs = *model_vfs_base;
  model_vfs.zName = MODEL_FILE_VFS;
  model_vfs.pNext = 0;
  model_file_offset = ((size_t)model_vfs_base->szOsFile + 15) & ~(size_t)15;
  model_vfs.szOsFile = (int)(model_file_offset + sizeof(model_file));
  model_vfs.xOpen = model_file_open;
  sqlite3_vfs_register(&model_vfs, 0);
}

int model_file_connect(const char *path, sqlite3 **db){
  pthread_once(&model_vfs_once, model_vfs_register);
  return database_open(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, MODEL_FILE_VFS);
}

model_file *model_file_get(sqlite3 *db){
  sqlite3_file *f = 0;
  sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f);
  return f ? model_file_of(f) : 0;
}

void extent_ask(model_file *f, file_extent e){
  if( e.bytes == 0 ) return;
  posix_fadvise(f->fd, e.at, e.bytes, POSIX_FADV_DONTNEED);
  posix_fadvise(f->fd, e.at, e.bytes, POSIX_FADV_WILLNEED);
}

void extent_track(model_file *f, file_extent asked){
  f->asked = asked;
  f->span_lo = INT64_MAX;
  f->span_hi = 0;
}

/* What the reads since extent_track covered, if it is one tile's bytes
** together: at most two pages of at most 64 KiB (the rest of the leaf page
** the tile may share, the end of its last overflow page) more than the
** tile.  Otherwise (b-tree pages on the way) nothing is learned. */
file_extent extent_seen(model_file *f, size_t tile_bytes){
  file_extent e = { 0, 0 };
  int64_t most = (int64_t)tile_bytes + 2 * 65536;
  f->asked = e;
  if( f->span_hi > f->span_lo && f->span_hi - f->span_lo <= most ){
    e.at = f->span_lo;
    e.bytes = f->span_hi - f->span_lo;
  }
  return e;
}
