/*
** host.c: what `tensql bench` reads from, and does to, the machine it runs
** on: numbers in /proc and cgroup files, the OS page cache, and the CPUs a
** run is held to.  Used by the worker (VmHWM, read_bytes), the cgroup code
** (its files) and the harness (the page cache, the CPUs).
*/
#include "bench_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bench_format(char *out, size_t len, const char *format, ...){
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(out, len, format, ap);
  va_end(ap);
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ---- files ------------------------------------------------------------------------ */

int64_t host_proc_value(const char *path, const char *key){
  FILE *f = fopen(path, "r");
  if( f == 0 ) return -1;
  char line[256];
  size_t klen = strlen(key);
  int64_t v = -1;
  while( fgets(line, sizeof line, f) ){
    if( strncmp(line, key, klen) == 0 && (line[klen] == ':' || line[klen] == ' ') ){
      v = strtoll(line + klen + 1, 0, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

int64_t host_file_number(const char *path){
  FILE *f = fopen(path, "r");
  if( f == 0 ) return -1;
  long long v = -1;
  if( fscanf(f, "%lld", &v) != 1 ) v = -1;
  fclose(f);
  return v;
}

int host_file_write(const char *path, const char *text){
  int fd = open(path, O_WRONLY);
  if( fd < 0 ) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* ---- the page cache --------------------------------------------------------------- */

void host_drop_page_cache(void){
  static int warned;
  if( geteuid() != 0 ) return;
  sync();
  if( host_file_write("/proc/sys/vm/drop_caches", "3") && !warned ){
    fprintf(stderr, "tensql bench: cannot drop the page cache (%s); measurements may start warm\n",
            strerror(errno));
    warned = 1;
  }
}

/* ---- CPUs ------------------------------------------------------------------------- */

/* The cores of these virtual machines differ.  Each pinned, one thread
** decoded at 40 tok/s on CPU 0 and 48 on CPU 1, and probed 26 and 30
** GB/s; left to the scheduler, the probe (in this process) and the decode
** (in a child) fell on different cores, and one-thread efficiency swung
** from 0.62 to 1.03 with the draw.  So a run of fewer threads than this
** process may use CPUs is held to the first `threads` of them, its probe
** and its decode alike. */
int host_run_cpus(int threads, cpu_set_t *held, cpu_set_t *allowed){
  if( sched_getaffinity(0, sizeof *allowed, allowed) || threads >= CPU_COUNT(allowed) ) return 0;
  CPU_ZERO(held);
  for(int cpu = 0, n = 0; n < threads && cpu < CPU_SETSIZE; cpu++){
    if( CPU_ISSET(cpu, allowed) ){
      CPU_SET(cpu, held);
      n++;
    }
  }
  return 1;
}

void host_run_cpus_text(int threads, char *out, size_t size){
  cpu_set_t held, allowed;
  size_t len = 0;
  out[0] = 0;
  if( !host_run_cpus(threads, &held, &allowed) ) return;
  for(int cpu = 0; cpu < CPU_SETSIZE && len + 12 < size; cpu++){
    if( CPU_ISSET(cpu, &held) ) len += (size_t)snprintf(out + len, size - len, "%s%d", len ? "," : "", cpu);
  }
}
