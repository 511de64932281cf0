/*
** file.c: file_read_all, a whole file into memory (see file.h).
**
** How it works: stdio reads until end of file into a buffer sized from
** fstat, grown by doubling when the file turns out longer (a pipe, a file
** in /proc, one being appended to), so its size is never trusted for
** anything but a first guess.
*/
#include "file.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* "PATH: reason" into err, errno left as it was. */
static void file_error(char *err, size_t err_len, const char *path, int error){
  if( err && err_len ) snprintf(err, err_len, "%s: %s", path, strerror(error));
  errno = error;
}

char *file_read_all(const char *path, size_t *len, char *err, size_t err_len){
  FILE *f = fopen(path, "rb");
  if( f == NULL ){
    file_error(err, err_len, path, errno);
    return NULL;
  }
  /* Room for the file, its NUL and one byte more, so that a file of the
  ** size fstat gave is read in one pass that ends at end of file. */
  struct stat sb;
  size_t cap = 4096, n = 0;
  if( fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)
   && (uint64_t)sb.st_size < SIZE_MAX / 2 - 2 ){
    cap = (size_t)sb.st_size + 2;
  }
  char *buf = malloc(cap);
  int error = buf ? 0 : ENOMEM;
  while( error == 0 ){
    errno = 0;
    n += fread(buf + n, 1, cap - n - 1, f);
    if( ferror(f) ){
      error = errno ? errno : EIO;
    }else if( feof(f) ){
      break;
    }else if( n == cap - 1 ){
      char *bigger = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
      if( bigger == NULL ){
        error = ENOMEM;
      }else{
        buf = bigger;
        cap *= 2;
      }
    }
  }
  fclose(f);
  if( error ){
    free(buf);
    file_error(err, err_len, path, error);
    return NULL;
  }
  buf[n] = 0;
  if( len ) *len = n;
  return buf;
}
