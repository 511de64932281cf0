/*
** bench_internal.h: what the files of tools/bench/ tell each other; the
** CLI and the tests use bench.h.
**
**   host.c    /proc and cgroup files, the page cache, the CPUs a run is held to
**   cgroup.c  the memory cgroup each worker runs in (v1, or v2)
*/
#ifndef TENSQL_BENCH_INTERNAL_H
#define TENSQL_BENCH_INTERNAL_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "bench.h"

/* ---- host.c: the machine -------------------------------------------------- */

/* snprintf for messages and paths: cuts to len; -1 if it had to. */
__attribute__((format(printf, 3, 4)))
int bench_format(char *out, size_t len, const char *format, ...);

/* The number after "key" in a "key value" file such as /proc/self/status
** or /proc/self/io; -1 if absent or unreadable. */
int64_t host_proc_value(const char *path, const char *key);
/* A file holding one number (cgroup files); -1 if unreadable. */
int64_t host_file_number(const char *path);
/* Write text to an existing file (cgroup and /proc files).  0, or -1 with errno. */
int host_file_write(const char *path, const char *text);
/* Drop the OS page cache, so that what follows reads from disk; quietly
** nothing unless root. */
void host_drop_page_cache(void);
/* Whether a run of `threads` threads is held to some of the CPUs this
** process may use (fewer threads than CPUs): then *held is its set, the
** first `threads` of them, and *allowed the whole. */
int host_run_cpus(int threads, cpu_set_t *held, cpu_set_t *allowed);
/* The held CPUs as a list ("1", "0,2"), or "" if the run is not held. */
void host_run_cpus_text(int threads, char *out, size_t size);

/* ---- cgroup.c: a memory cgroup per worker --------------------------------- */

/* Where the peak memory, page cache included, is measured: a child group
** of the process's own memory cgroup, v1 if the memory controller is
** mounted as v1, else v2 if the unified hierarchy has it. */
typedef struct cgroup_env {
  int kind;                  /* 0 none, 1 v1, 2 v2 */
  char parent[512];          /* the process's own memory cgroup */
  char why[512];             /* kind 0: why there is none */
} cgroup_env;

void cgroup_detect(cgroup_env *cg);
/* Create a child group `dir` with an optional limit.  0, or -1 with why. */
int cgroup_create(const cgroup_env *cg, char *dir, size_t len, int64_t limit,
                  char *why, size_t why_len);
/* Move process pid into the group.  0, or -1 with errno. */
int cgroup_enter(const char *dir, pid_t pid);
/* The group's peak memory, page cache included; -1 if unreadable. */
int64_t cgroup_peak(int kind, const char *dir);
/* OOM kills in the group: v1 memory.oom_control, v2 memory.events. */
int64_t cgroup_oom_kills(int kind, const char *dir);
/* rmdir, once the group's last process is reaped (the kernel may take a
** moment to notice). */
void cgroup_remove(const char *dir);

#endif
