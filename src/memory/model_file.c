/*
** model_file.c: the model database read as the tile manager needs it (see
** model_file.h).
**
** Around SQLite: a tile whose pages are where tile_layout.h expects them
** is read in one request of its run of pages, with O_DIRECT, into memory
** the tile manager owns.  Direct reads do not go through the OS page
** cache, so nothing is charged to the process behind the budget's back
** and nothing needs dropping; the disk serves 1 MiB requests about three
** times as fast as the 64 KiB page reads SQLite makes.  A file system that
** refuses O_DIRECT (ramfs, some network file systems) gets buffered reads
** with read-ahead off, and each read drops its pages.  The reads are
** plain preads on the tile manager's reader threads, several in flight,
** not io_uring: on the disk of docs/ fio gave both the same speed for 1
** MiB direct reads (io_uring at depth 1 and 4: 2.1 and 1.95-2.4 GB/s;
** pread on 1 and 4 threads: 1.8 and 1.9-2.1 GB/s, alternating runs), and
** threads need no other library.
**
** Through SQLite, for the tiles read that way (small ones, a WAL file, a
** chain not where expected): "tensql-tile" is the default VFS with another
** read for the main database file.  A tile is its b-tree leaf page and
** then its overflow pages, a sequential run to which the kernel would
** answer with read-ahead of up to read_ahead_kb (8 MiB on the test
** machine) of the tiles that follow on disk, which OPT keeps resident or
** needs much later.  Read-ahead belongs to an open file, not to the inode,
** so each file gets a descriptor of its own with POSIX_FADV_RANDOM, and the
** reads go through it; SQLite's descriptor still does the locking.  A read
** drops its range from the OS page cache (POSIX_FADV_DONTNEED acts on the
** inode) before and after.  After: the page cache charged to the process
** keeps none of it, only the partial pages at range ends, among them the
** 16 header bytes SQLite re-reads at each transaction.  Before: a page
** that another descriptor read ahead (a connection reading the schema or
** the vocabulary) may carry the kernel's read-ahead mark, and reading a
** marked page starts asynchronous read-ahead even on a POSIX_FADV_RANDOM
** file, which then chains from window to window.
**
** model_file lives after the default VFS's file, in the szOsFile bytes
** SQLite allocates for each file. */
#include "model_file.h"
#include "database.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct model_file {
  sqlite3_io_methods methods;       /* the default file's, with xRead, xClose ours */
  const sqlite3_io_methods *base;   /* the default file's methods */
  int fd;                           /* read-ahead off */
} model_file;

static sqlite3_vfs *model_vfs_base;   /* the default VFS, which does the rest */
static sqlite3_vfs model_vfs;         /* a copy of it with xOpen ours */
static size_t model_file_offset;      /* where model_file starts in a file */
static pthread_once_t model_vfs_once = PTHREAD_ONCE_INIT;

static model_file *model_file_of(sqlite3_file *f){
  return (model_file*)((char*)f + model_file_offset);
}

ssize_t model_file_pread(int fd, void *buf, size_t n, int64_t off){
  size_t got = 0;
  while( got < n ){
    ssize_t k = pread(fd, (char*)buf + got, n - got, off + (int64_t)got);
    if( k < 0 && errno == EINTR ) continue;
    if( k < 0 ) return -1;
    if( k == 0 ) break;
    got += (size_t)k;
  }
  return (ssize_t)got;
}

static int model_file_xread(sqlite3_file *f, void *buf, int n, sqlite3_int64 off){
  model_file *m = model_file_of(f);
  posix_fadvise(m->fd, off, n, POSIX_FADV_DONTNEED);
  ssize_t got = model_file_pread(m->fd, buf, (size_t)n, off);
  posix_fadvise(m->fd, off, n, POSIX_FADV_DONTNEED);
  if( got < 0 ) return SQLITE_IOERR_READ;
  if( got == n ) return SQLITE_OK;
  memset((char*)buf + got, 0, (size_t)(n - got));   /* as SQLite's own read does past the end */
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
  m->methods.xRead = model_file_xread;
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

int model_file_open_direct(const char *path, int *direct){
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
  *direct = fd >= 0;
  if( fd < 0 && errno == EINVAL ){
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if( fd >= 0 ) posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  }
  return fd;
}

int model_file_read(int fd, void *buf, size_t n, int64_t off, int drop, char *err, size_t err_len){
  ssize_t got = model_file_pread(fd, buf, n, off);
  int why = errno;
  if( drop ) posix_fadvise(fd, off, (off_t)n, POSIX_FADV_DONTNEED);
  if( got == (ssize_t)n ) return 0;
  if( got < 0 ) snprintf(err, err_len, "%s at byte %lld", strerror(why), (long long)off);
  else snprintf(err, err_len, "the file ends at byte %lld, before the end of its pages at byte"
                " %lld (truncated?)", (long long)(off + got), (long long)(off + (int64_t)n));
  return -1;
}
