/*
** disk.h: how fast this machine's disk gives a file, read cold.
**
**   disk_probe d;
**   if( disk_read_bandwidth("model.db", 1ll << 30, 0, &d) == 0 )
**     printf("%.2f GB/s%s\n", d.bytes_per_second / 1e9, d.direct ? "" : " (buffered)");
**
** `tensql bench` runs it once per budget, right after dropping the page
** cache, on the model file itself: the disk limit of a configuration is
** this rate over the bytes a decode token reads (bench_disk_limit).  It
** reads with O_DIRECT, so nothing goes through the page cache: its 4 MiB of
** buffers are all it costs, under any budget or cgroup limit, and it leaves
** no cache behind to warm the runs that follow.
**
** The requests are large and several are in flight (DISK_REQUEST bytes,
** DISK_IN_FLIGHT at a time, a thread each taking the next request of the
** file), the way a disk gives its best: on a virtual machine of this
** project's kind 1 MiB requests read 1.8 GB/s where 64 KiB ones read 0.64.
**
** A file system that refuses O_DIRECT (EINVAL: tmpfs before Linux 6.6,
** ramfs, some network file systems) is read buffered instead, with the
** file's cached pages dropped before and after (POSIX_FADV_DONTNEED);
** `direct` says which, and `why` why.
*/
#ifndef TENSQL_DISK_H
#define TENSQL_DISK_H

#include <stdint.h>

#define DISK_REQUEST (1 << 20)
#define DISK_IN_FLIGHT 4

typedef struct disk_probe {
  double bytes_per_second;
  int64_t bytes;              /* read */
  int direct;                 /* 1: O_DIRECT; 0: buffered */
  char why[256];              /* direct 0: why not; on failure: what failed */
} disk_probe;

/* Read the first max_bytes of the file at path (all of it if shorter)
** and time it.  buffered forces the buffered path (tests: the fallback).
** 0, or -1 with the reason in out->why. */
int disk_read_bandwidth(const char *path, int64_t max_bytes, int buffered, disk_probe *out);

#endif
