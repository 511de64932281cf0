/*
** cgroup.c: the memory cgroup a bench worker runs in, so that its peak
** memory is measured with the page cache it causes, and can be capped.
**
**   cgroup_env cg;
**   cgroup_detect(&cg);                       once: v1, v2, or why neither
**   cgroup_create(&cg, dir, ..., limit, ...)  a child group, with memory.limit_in_bytes / memory.max
**   cgroup_enter(dir, pid)                    the worker's pid into its cgroup.procs
**   cgroup_peak(cg.kind, dir)                 memory.max_usage_in_bytes / memory.peak
**   cgroup_usage(cg.kind, dir)                memory.usage_in_bytes / memory.current
**   cgroup_room(&cg)                          what is left under this process's own limit
**   cgroup_oom_kills(cg.kind, dir)            did the group's OOM killer strike?
**   cgroup_remove(dir)                        once the worker is reaped
**
** The group is a child of this process's own memory cgroup (its path from
** /proc/self/cgroup, the hierarchy's mount point from /proc/self/mounts).
** cgroup v1 is used when the memory controller is mounted as v1; else v2,
** if this process's group can hand the memory controller down to children
** and has memory.peak (Linux 5.19+).  The worker, not this process, is
** moved in, so nothing has to move back.
*/
#include "bench_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- finding this process's group ------------------------------------------------- */

/* The mount point of a cgroup hierarchy: type "cgroup" with option `opt`,
** or type "cgroup2" (opt NULL).  0, or -1 if not mounted. */
static int cgroup_mount(const char *opt, char *out, size_t len){
  FILE *f = fopen("/proc/self/mounts", "r");
  if( f == 0 ) return -1;
  char dev[256], dir[512], type[64], opts[512];
  int found = -1;
  while( found && fscanf(f, "%255s %511s %63s %511s %*d %*d", dev, dir, type, opts) == 4 ){
    if( opt == 0 && strcmp(type, "cgroup2") == 0 ) found = 0;
    if( opt && strcmp(type, "cgroup") == 0 ){
      for(char *o = strtok(opts, ","); o; o = strtok(0, ",")){
        if( strcmp(o, opt) == 0 ) found = 0;
      }
    }
    if( found == 0 ) bench_format(out, len, "%s", dir);
  }
  fclose(f);
  return found;
}

/* This process's path in the hierarchy whose controller list is `ctl`
** (v1: a list containing "memory"; v2: the empty list of line "0::"). */
static int cgroup_own_path(int v2, char *out, size_t len){
  FILE *f = fopen("/proc/self/cgroup", "r");
  if( f == 0 ) return -1;
  char line[1024];
  int found = -1;
  while( found && fgets(line, sizeof line, f) ){
    line[strcspn(line, "\n")] = 0;
    char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : 0;
    if( path == 0 ) continue;
    *path++ = 0;
    ctl++;
    if( v2 ){
      if( *ctl == 0 ) found = 0;
    }else{
      for(char *c = strtok(ctl, ","); c; c = strtok(0, ",")){
        if( strcmp(c, "memory") == 0 ) found = 0;
      }
    }
    if( found == 0 ) bench_format(out, len, "%s", path);
  }
  fclose(f);
  return found;
}

/* This process's group under the hierarchy mounted at `mount`: the mount
** point itself when the process is in the root group. */
static void cgroup_own_dir(const char *mount, int v2, char *out, size_t len){
  char own[512];
  if( cgroup_own_path(v2, own, sizeof own) ) bench_format(own, sizeof own, "/");
  bench_format(out, len, "%s%s", mount, strcmp(own, "/") ? own : "");
}

static int is_dir(const char *path){
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* cgroup v1: this process's memory group, if it is writable.  0, or -1
** with why there is none. */
static int cgroup_detect_v1(cgroup_env *cg, char *why, size_t why_len){
  char mount[512], path[1100];
  if( cgroup_mount("memory", mount, sizeof mount) ){
    bench_format(why, why_len, "no cgroup v1 memory hierarchy is mounted");
    return -1;
  }
  cgroup_own_dir(mount, 0, path, sizeof path);
  if( !is_dir(path) ) bench_format(path, sizeof path, "%s", mount);  /* a cgroup namespace */
  if( access(path, W_OK) ){
    bench_format(why, why_len, "cgroup v1 memory group %s is not writable (%s)",
                 path, strerror(errno));
    return -1;
  }
  cg->kind = 1;
  bench_format(cg->parent, sizeof cg->parent, "%s", path);
  return 0;
}

/* cgroup v2: this process's group, if it has the memory controller and
** can hand it down to children.  Else cg->why says why neither v1 (v1_why)
** nor v2 can measure. */
static void cgroup_detect_v2(cgroup_env *cg, const char *v1_why){
  char mount[512], path[1100], file[1200], controllers[512] = "";
  if( cgroup_mount(0, mount, sizeof mount) ){
    bench_format(cg->why, sizeof cg->why, "%s, and no cgroup v2 hierarchy is mounted", v1_why);
    return;
  }
  cgroup_own_dir(mount, 1, path, sizeof path);
  bench_format(file, sizeof file, "%s/cgroup.controllers", path);
  FILE *f = fopen(file, "r");
  if( f ){
    if( fgets(controllers, sizeof controllers, f) == 0 ) controllers[0] = 0;
    fclose(f);
  }
  if( strstr(controllers, "memory") == 0 ){
    bench_format(cg->why, sizeof cg->why, "%s; the cgroup v2 hierarchy at %s has no memory"
                 " controller (it has: %.*s)", v1_why, mount,
                 (int)strcspn(controllers, "\n"), controllers[0] ? controllers : "none");
    return;
  }
  /* children get the memory controller only if this group hands it down,
  ** which v2 refuses for a non-root group that has processes */
  bench_format(file, sizeof file, "%s/cgroup.subtree_control", path);
  if( host_file_write(file, "+memory") ){
    bench_format(cg->why, sizeof cg->why, "%s; cgroup v2: cannot enable memory for children"
                 " of %s (%s)", v1_why, path, strerror(errno));
    return;
  }
  cg->kind = 2;
  bench_format(cg->parent, sizeof cg->parent, "%s", path);
}

void cgroup_detect(cgroup_env *cg){
  char v1_why[256] = "";
  memset(cg, 0, sizeof *cg);
  if( cgroup_detect_v1(cg, v1_why, sizeof v1_why) ) cgroup_detect_v2(cg, v1_why);
}

/* ---- a worker's group ------------------------------------------------------------- */

int cgroup_create(const cgroup_env *cg, char *dir, size_t len, int64_t limit,
                  char *why, size_t why_len){
  static int serial;
  if( bench_format(dir, len, "%s/tensql-bench-%d-%d", cg->parent, (int)getpid(), serial++) ){
    bench_format(why, why_len, "the cgroup path %s/... is too long", cg->parent);
    return -1;
  }
  if( mkdir(dir, 0755) ){
    bench_format(why, why_len, "cannot create cgroup %s: %s", dir, strerror(errno));
    return -1;
  }
  char file[700], text[32];
  if( cg->kind == 2 ){
    bench_format(file, sizeof file, "%s/memory.peak", dir);
    if( access(file, R_OK) ){
      bench_format(why, why_len, "cgroup v2 has no memory.peak here (Linux < 5.19)");
      rmdir(dir);
      return -1;
    }
  }
  if( limit > 0 ){
    bench_format(file, sizeof file, "%s/%s", dir, cg->kind == 1 ? "memory.limit_in_bytes" : "memory.max");
    bench_format(text, sizeof text, "%lld", (long long)limit);
    if( host_file_write(file, text) ){
      bench_format(why, why_len, "cannot write %s: %s", file, strerror(errno));
      rmdir(dir);
      return -1;
    }
  }
  return 0;
}

int cgroup_enter(const char *dir, pid_t pid){
  char file[700], text[32];
  bench_format(file, sizeof file, "%s/cgroup.procs", dir);
  bench_format(text, sizeof text, "%d", (int)pid);
  return host_file_write(file, text);
}

int64_t cgroup_peak(int kind, const char *dir){
  char file[700];
  bench_format(file, sizeof file, "%s/%s", dir, kind == 1 ? "memory.max_usage_in_bytes" : "memory.peak");
  return host_file_number(file);
}

int64_t cgroup_usage(int kind, const char *dir){
  char file[700];
  bench_format(file, sizeof file, "%s/%s", dir, kind == 1 ? "memory.usage_in_bytes" : "memory.current");
  return host_file_number(file);
}

int64_t cgroup_oom_kills(int kind, const char *dir){
  char file[700];
  bench_format(file, sizeof file, "%s/%s", dir, kind == 1 ? "memory.oom_control" : "memory.events");
  return host_proc_value(file, "oom_kill");
}

void cgroup_remove(const char *dir){
  for(int i = 0; i < 100 && rmdir(dir) && errno == EBUSY; i++) usleep(10000);
}

/* ---- this process's own group ---------------------------------------------------- */

/* Limits this high mean none (v1 writes 2^63 rounded down to a page). */
#define NO_LIMIT (1ll << 60)

int64_t cgroup_room(const cgroup_env *cg){
  char file[700];
  int64_t limit, inactive;
  if( cg->kind == 0 ) return -1;
  if( cg->kind == 1 ){
    bench_format(file, sizeof file, "%s/memory.stat", cg->parent);
    limit = host_proc_value(file, "hierarchical_memory_limit");
    inactive = host_proc_value(file, "total_inactive_file");
  }else{
    bench_format(file, sizeof file, "%s/memory.max", cg->parent);
    limit = host_file_number(file);          /* "max": unreadable as a number, so -1 */
    bench_format(file, sizeof file, "%s/memory.stat", cg->parent);
    inactive = host_proc_value(file, "inactive_file");
  }
  int64_t usage = cgroup_usage(cg->kind, cg->parent);
  if( limit < 0 || limit >= NO_LIMIT || usage < 0 ) return -1;
  if( inactive > 0 ) usage -= inactive < usage ? inactive : usage;
  return limit > usage ? limit - usage : 0;
}
