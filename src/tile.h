/*
** tile.h: the tile manager.  It owns every tile buffer in the process,
** reads tiles from a model database on demand, checks each one's XXH3-64
** checksum as it comes off disk, and keeps it resident while anything
** holds a pin on it.
**
** From SQL the manager is invisible: a tensor table's `data` column pins
** the tile under the cursor and the pin is released when the cursor moves
** on (vtab/tensor_vtab.c).
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
** read error. */
const tile *tile_manager_pin(tile_manager *tm, int64_t id, char *err, size_t err_len);
void tile_manager_unpin(tile_manager *tm, const tile *t);

/* Drop every unpinned resident tile, so the next pin reads from disk. */
void tile_manager_drop_all(tile_manager *tm);

typedef struct tile_stats {
  uint64_t hits, misses, bytes_read, resident_bytes, peak_resident_bytes;
} tile_stats;
void tile_manager_stats(tile_manager *tm, tile_stats *out);

#endif
