/*
** disk.c: the disk probe (see disk.h): a file read cold with large
** requests, several in flight, timed.
**
**   disk_probe d;
**   disk_read_bandwidth(path, 1ll << 30, 0, &d);    d.bytes_per_second, d.direct
**
** How it works: DISK_IN_FLIGHT threads, each with a DISK_REQUEST buffer of
** its own (posix_memalign'd, as O_DIRECT wants), take the next request's
** offset from a shared counter and pread it, until the end.  So the file
** is read front to back, about DISK_IN_FLIGHT requests at a time, and
** the disk always has the next ones queued.  The clock runs from the
** threads' release to the last one's end.
**
** O_DIRECT is tried first.  A file system that refuses it, at open or at
** the first read (EINVAL), is read buffered; its cached pages of the file
** are dropped before, so the read is cold without root, and after, so the
** probe leaves nothing in the page cache of a cgroup-limited run.
*/
#include "disk.h"
#include "clock.h"
#include "memory/model_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the readers share: the file and the next request's offset. */
typedef struct disk_file {
  int fd;
  int64_t end;                /* bytes to read */
  atomic_llong next;          /* offset of the next request */
  pthread_mutex_t lock;
  pthread_cond_t go;
  int released;               /* 1: start; guarded by lock */
} disk_file;

/* One request in flight: a thread and its buffer. */
typedef struct disk_reader {
  disk_file *file;
  void *buffer;               /* DISK_REQUEST bytes, 4096-aligned */
  int64_t bytes;              /* read by this thread */
  int error;                  /* errno of a failed read, or 0 */
  pthread_t thread;
} disk_reader;

/* Read [at, at + DISK_REQUEST) into the buffer, short only at the end of
** the file; the bytes of it below file->end, or -1 with r->error. */
static int64_t read_request(disk_reader *r, int64_t at){
  ssize_t got = model_file_pread(r->file->fd, r->buffer, DISK_REQUEST, at);
  if( got < 0 ){
    r->error = errno;
    return -1;
  }
  int64_t left = r->file->end - at;
  return (int64_t)got < left ? (int64_t)got : left;
}

static void *reader_main(void *arg){
  disk_reader *r = arg;
  disk_file *f = r->file;
  pthread_mutex_lock(&f->lock);
  while( !f->released ) pthread_cond_wait(&f->go, &f->lock);
  pthread_mutex_unlock(&f->lock);
  for(;;){
    int64_t at = atomic_fetch_add(&f->next, DISK_REQUEST);
    if( at >= f->end ) break;
    int64_t n = read_request(r, at);
    if( n < 0 ) break;
    r->bytes += n;
    if( n < DISK_REQUEST && at + n < f->end ) break;   /* the file ended early */
  }
  return 0;
}

/* One timed pass over f with DISK_IN_FLIGHT readers.  Seconds, or -1 with
** errno (a reader's error, or why a thread or buffer could not be had). */
static double timed_pass(disk_file *f, int64_t *bytes){
  disk_reader r[DISK_IN_FLIGHT];
  int started = 0, error = 0;
  memset(r, 0, sizeof r);
  for(int i = 0; i < DISK_IN_FLIGHT; i++){
    r[i].file = f;
    if( (error = posix_memalign(&r[i].buffer, 4096, DISK_REQUEST)) != 0 ) break;
    if( (error = pthread_create(&r[i].thread, 0, reader_main, &r[i])) != 0 ) break;
    started++;
  }
  double t0 = clock_seconds();
  pthread_mutex_lock(&f->lock);
  f->released = 1;
  if( started < DISK_IN_FLIGHT ) atomic_store(&f->next, f->end);  /* readers: stop at once */
  pthread_cond_broadcast(&f->go);
  pthread_mutex_unlock(&f->lock);
  *bytes = 0;
  for(int i = 0; i < started; i++){
    pthread_join(r[i].thread, 0);
    *bytes += r[i].bytes;
    if( r[i].error && error == 0 ) error = r[i].error;
  }
  double seconds = clock_seconds() - t0;
  for(int i = 0; i < DISK_IN_FLIGHT; i++) free(r[i].buffer);
  errno = error;
  return error ? -1 : seconds;
}

/* Open path and time a pass, direct or buffered.  0, or -1 with errno. */
static int probe_file(const char *path, int64_t max_bytes, int direct, disk_probe *out){
  disk_file f = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER };
  f.fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
  if( f.fd < 0 ) return -1;
  off_t size = lseek(f.fd, 0, SEEK_END);
  f.end = size < 0 ? 0 : (int64_t)size < max_bytes ? (int64_t)size : max_bytes;
  atomic_init(&f.next, 0);
  if( !direct ) posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED);
  double seconds = timed_pass(&f, &out->bytes);
  int saved = errno;
  if( !direct ) posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED);
  close(f.fd);
  errno = saved;
  if( seconds < 0 ) return -1;
  out->bytes_per_second = seconds > 0 ? (double)out->bytes / seconds : -1;
  return 0;
}

int disk_read_bandwidth(const char *path, int64_t max_bytes, int buffered, disk_probe *out){
  memset(out, 0, sizeof *out);
  out->bytes_per_second = -1;
  out->direct = !buffered;
  if( out->direct && probe_file(path, max_bytes, 1, out) == 0 ) return 0;
  if( out->direct ){
    if( errno != EINVAL ){
      snprintf(out->why, sizeof out->why, "%s: %s", path, strerror(errno));
      return -1;
    }
    snprintf(out->why, sizeof out->why, "%s: the file system refuses O_DIRECT", path);
    out->direct = 0;
  }else{
    snprintf(out->why, sizeof out->why, "buffered reads were asked for");
  }
  if( probe_file(path, max_bytes, 0, out) ){
    snprintf(out->why, sizeof out->why, "%s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}
