/*
** model_file.h: the model database as the tile manager reads it.  Its
** connections open the file through the "tensql-tile" VFS, which reads
** without the kernel's read-ahead, drops what it read from the OS page
** cache, and notes which bytes of the file a read covered (model_file.c
** says why).  Not used from SQL.
*/
#ifndef TENSQL_MODEL_FILE_H
#define TENSQL_MODEL_FILE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_FILE_VFS "tensql-tile"

/* A byte range of the file. */
typedef struct file_extent { int64_t at, bytes; } file_extent;

typedef struct model_file model_file;

/* Open path read-only through the VFS (registering it on first use); an
** SQLite result code, *db set as sqlite3_open_v2 sets it. */
int model_file_connect(const char *path, sqlite3 **db);

/* The model file under a connection opened by model_file_connect. */
model_file *model_file_get(sqlite3 *db);

/* Ask the kernel for an extent in one request, clear first of any
** read-ahead mark another descriptor left in it. */
void extent_ask(model_file *f, file_extent e);

/* Reads of f from here on: `asked` was asked for (its pages are wanted),
** and the span covered starts empty. */
void extent_track(model_file *f, file_extent asked);

/* What the reads since extent_track covered, if it is one tile's bytes
** together (at most two 64 KiB pages more than tile_bytes); otherwise
** empty, as when b-tree pages were read on the way. */
file_extent extent_seen(model_file *f, size_t tile_bytes);

#endif
