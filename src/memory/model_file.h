/*
** model_file.h: the model database as the tile manager reads it: through
** SQLite, on connections that open the file through the "tensql-tile"
** VFS, which reads without the kernel's read-ahead and drops what it read
** from the OS page cache (model_file.c says why); and around SQLite, with
** large direct reads of a tile's pages (tile_layout.h).  Not used from
** SQL.
*/
#ifndef TENSQL_MODEL_FILE_H
#define TENSQL_MODEL_FILE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MODEL_FILE_VFS "tensql-tile"

/* Open path read-only through the VFS (registering it on first use); an
** SQLite result code, *db set as sqlite3_open_v2 sets it. */
int model_file_connect(const char *path, sqlite3 **db);

/* Open path for reads around SQLite: with O_DIRECT (*direct = 1) where the
** file system allows it; else buffered, with read-ahead off (*direct =
** 0).  A descriptor, or -1. */
int model_file_open_direct(const char *path, int *direct);

/* pread until n bytes or the end of the file: the bytes read, or -1 with
** errno (EINTR is retried). */
ssize_t model_file_pread(int fd, void *buf, size_t n, int64_t off);

/* Read n bytes at off into buf: 0, or -1 with why in err: the system's
** error, or where the file ends if it ends first (a truncated file).
** drop: give the pages back to the OS page cache afterwards. */
int model_file_read(int fd, void *buf, size_t n, int64_t off, int drop, char *err, size_t err_len);

#endif
