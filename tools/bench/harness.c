/*
** harness.c: the conductor of `tensql bench`.  It measures the
** configurations of one budget side by side, each in a worker process of
** its own (worker.c), and collects what they report into bench_results.
**
**   harness_measure(&o, &cg, r, n);    r[0..n-1]: one configuration each, filled in
**
** Why a process per configuration: the budget is process-wide and VmHWM
** only grows, so each configuration needs a fresh process, and a memory
** cgroup that holds nothing else (cgroup.c) to measure its peak with the
** page cache.  The harness creates the group, forks, moves the worker in,
** lets it open the model, and checks that the group's limit leaves room
** for the budget plus what the opened model holds and a step will add
** (bench_cap_check, limits.c): a limit too small is refused then, before
** anything is generated, rather than found by the OOM killer.  Then the
** worker warms up (its own queries, for the prompt and the figures of the
** model, run on a connection closed before the warm-up).  Then, for each
** repeat, it runs the bandwidth probe (probe.h) while the workers sleep on
** their pipes, and lets one worker run one generate; the configurations
** take turns, one repeat each, so the machine's swings fall on all of them
** alike: compare them by ratios within a run.  The probe's buffer lives
** here, outside the workers' cgroups, and is unmapped before a worker
** runs; its size keeps to the budget and the limits (bench_probe_size).
** Before each budget the OS page cache is dropped when running as root
** (unless --keep-cache), and the disk probe (disk.h) reads the model file
** cold; it reads it again after every repeat.  When the workers are done
** it reads each group's peak and removes the group; a worker killed by
** its cgroup's OOM killer is reported as such and the others go on.
*/
#include "bench_internal.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "disk.h"
#include "memory/budget.h"
#include "probe.h"

typedef struct worker {
  pid_t pid;
  int to, from;              /* pipes: commands out, messages in */
  char cgroup[600];          /* "" if not in a group of its own */
  int alive;                 /* ready, and has not failed */
  bench_result *r;
} worker;

/* For the signal handler: children to kill and groups to remove. */
#define MAX_WORKERS 8
static worker *live_workers[MAX_WORKERS];
static volatile sig_atomic_t n_live_workers;

void harness_interrupted(int sig){
  for(int i = 0; i < n_live_workers; i++){
    worker *w = live_workers[i];
    if( w->pid > 0 ){
      kill(w->pid, SIGKILL);
      waitpid(w->pid, 0, 0);
    }
    if( w->cgroup[0] ) rmdir(w->cgroup);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static int read_msg(worker *w, worker_msg *m){
  size_t got = 0;
  while( got < sizeof *m ){
    ssize_t n = read(w->from, (char*)m + got, sizeof *m - got);
    if( n < 0 && errno == EINTR ) continue;
    if( n <= 0 ) return -1;
    got += (size_t)n;
  }
  return 0;
}

static void fail(worker *w, const char *why){
  if( w->r->error == 0 ) w->r->error = strdup(why);
  w->alive = 0;
}

/* Send the worker cmd and read its answer into m.  0, or -1 after fail():
** with `died` if it is gone, with its own message if it answered MSG_ERROR. */
static int worker_ask(worker *w, char cmd, worker_msg *m, const char *died){
  if( write(w->to, &cmd, 1) != 1 || read_msg(w, m) ){
    fail(w, died);
    return -1;
  }
  if( m->kind == MSG_ERROR ){
    fail(w, m->text);
    return -1;
  }
  return 0;
}

/* The worker's side of fork(): never returns. */
static void worker_child(const bench_options *o, const bench_config *cfg, int down[2], int up[2]){
  close(down[1]);
  close(up[0]);
  /* the other workers' pipes are the parent's business: a worker must
  ** see end-of-file when the parent goes */
  for(int i = 0; i < n_live_workers; i++){
    close(live_workers[i]->to);
    close(live_workers[i]->from);
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  worker_main(o, cfg, down[0], up[1]);
}

/* Fork the worker for w->r's configuration, and move it into w->cgroup
** (when there is one).  0, or -1 after fail(). */
static int worker_spawn(const bench_options *o, worker *w){
  int down[2], up[2];
  if( pipe(down) ){
    fail(w, "cannot make a pipe");
    return -1;
  }
  if( pipe(up) ){
    close(down[0]);
    close(down[1]);
    fail(w, "cannot make a pipe");
    return -1;
  }
  bench_config cfg = { w->r->budget_bytes, w->r->variant };
  fflush(0);
  w->pid = fork();
  if( w->pid == 0 ) worker_child(o, &cfg, down, up);
  close(down[0]);
  close(up[1]);
  w->to = down[1];
  w->from = up[0];
  if( w->pid < 0 ){
    fail(w, "cannot fork");
    return -1;
  }
  live_workers[n_live_workers++] = w;
  if( w->cgroup[0] && cgroup_enter(w->cgroup, w->pid) ){
    fprintf(stderr, "tensql bench: cannot move the worker into %s: %s\n", w->cgroup, strerror(errno));
    rmdir(w->cgroup);
    w->cgroup[0] = 0;
  }
  return 0;
}

/* Refuse r's configuration, before it runs, for why: said on stderr now,
** and kept as its error. */
static void refuse(bench_result *r, const char *why){
  char budget[32];
  budget_format((uint64_t)r->sweep_budget, budget, sizeof budget);
  fprintf(stderr, "tensql bench: %s, %s: %s\n", r->sweep_budget ? budget : "no budget",
          bench_variant_name(r->variant), why);
  if( r->error == 0 ) r->error = strdup(why);
}

/* Let the worker open the model, and check its cgroup's limit against the
** budget plus what the group holds now and BENCH_STEP_MARGIN.  0, or -1
** after fail(): the worker died, or the limit is too small. */
static int worker_opened(const cgroup_env *cg, worker *w){
  worker_msg m;
  char why[300];
  if( worker_ask(w, CMD_START, &m, "the worker died while opening the model") ) return -1;
  int64_t held = w->cgroup[0] ? cgroup_usage(cg->kind, w->cgroup) : -1;
  w->r->opened_charged_bytes = held;
  if( held < 0 ) return 0;
  if( bench_cap_check(w->r->cgroup_limit, w->r->budget_bytes, held + BENCH_STEP_MARGIN, why, sizeof why) ){
    refuse(w->r, why);
    fail(w, why);
    return -1;
  }
  return 0;
}

/* The tiles' I/O, as tile_stats.io says; a notice when a run under a
** budget does not read them directly, once per kind. */
static void note_io(const bench_result *r){
  static char said[16];
  if( r->budget_bytes <= 0 || r->io[0] == 0 || strcmp(r->io, "direct") == 0 ) return;
  if( strcmp(said, r->io) == 0 ) return;
  bench_format(said, sizeof said, "%s", r->io);
  fprintf(stderr, "tensql bench: tiles are read with '%s' I/O, not 'direct'%s\n", r->io,
          strcmp(r->io, "buffered") == 0 ? ": the file system refused O_DIRECT"
          : strcmp(r->io, "sqlite") == 0 ? ": through sqlite3_blob_read (a WAL file, or tiles"
                                          " not where the layout says)" : "");
}

/* Let the worker warm up: then it is alive, and r holds what it said of
** the model. */
static void worker_ready(const bench_options *o, worker *w){
  bench_result *r = w->r;
  worker_msg m;
  if( worker_ask(w, CMD_WARM, &m, "the worker died while warming up") ) return;
  w->alive = 1;
  r->threads = m.threads;
  host_run_cpus_text(r->threads, r->cpus, sizeof r->cpus);
  r->statements_per_step = m.statements;
  r->model_bytes = m.model_bytes;
  r->weight_bytes_per_token = m.weight_bytes;
  r->n_weight_types = m.n_weight_types;
  memcpy(r->weights, m.weights, sizeof r->weights);
  r->prompt_tokens = m.prompt_tokens;
  bench_format(r->io, sizeof r->io, "%s", m.io);
  static int threads_said;
  if( o->engine.threads > 1 && !m.threads_available && !threads_said++ ){
    fprintf(stderr, "tensql bench: threading is not available (this engine has no"
            " tensql_threads()); running on 1 thread\n");
  }
  if( m.text[0] ) fprintf(stderr, "tensql bench: %s\n", m.text);
  note_io(r);
}

/* Fork the worker for r's configuration, in a cgroup of its own, and wait
** for it to be warm; unless the group's limit is too small for the budget,
** which is refused before the fork if even BENCH_STEP_MARGIN does not fit. */
static void worker_start(const bench_options *o, const cgroup_env *cg, worker *w, bench_result *r){
  char why[700];
  memset(w, 0, sizeof *w);
  w->r = r;
  w->pid = -1;
  w->to = w->from = -1;
  if( cg->kind && cgroup_create(cg, w->cgroup, sizeof w->cgroup, r->cgroup_limit, why, sizeof why) ){
    fprintf(stderr, "tensql bench: %s; peak charged memory will be null\n", why);
    w->cgroup[0] = 0;
  }
  if( w->cgroup[0] && bench_cap_check(r->cgroup_limit, r->budget_bytes, BENCH_STEP_MARGIN, why, sizeof why) ){
    refuse(r, why);
    cgroup_remove(w->cgroup);
    w->cgroup[0] = 0;
    return;
  }
  if( worker_spawn(o, w) ) return;
  r->cgroup = w->cgroup[0] ? (cg->kind == 1 ? "v1" : "v2") : 0;
  if( worker_opened(cg, w) == 0 ) worker_ready(o, w);
}

/* Bytes/s at `threads` threads, or NAN. */
static double probe_at(const bench_result *r, int threads){
  double rate = probe_read_bandwidth((size_t)r->probe_bytes, threads, 3);
  return rate > 0 ? rate : NAN;
}

/* The probe before a repeat, at 1 thread, the worker's threads and all
** CPUs; the first two on the run's CPUs when it is held to some. */
static void probe_before(bench_result *r, int k){
  r->probe[k] = r->probe_1t[k] = r->probe_nt[k] = NAN;
  if( r->probe_bytes <= 0 ) return;
  int all = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if( all < 1 ) all = 1;
  cpu_set_t held, allowed;
  int hold = host_run_cpus(r->threads, &held, &allowed)
          && sched_setaffinity(0, sizeof held, &held) == 0;
  r->probe_1t[k] = probe_at(r, 1);
  r->probe[k] = r->threads == 1 ? r->probe_1t[k] : probe_at(r, r->threads);
  if( hold ) sched_setaffinity(0, sizeof allowed, &allowed);
  r->probe_nt[k] = r->threads == all ? r->probe[k] : probe_at(r, all);
  r->probe_nt_threads = all;
}

/* Reap the worker and collect what its cgroup saw. */
static void worker_finish(const cgroup_env *cg, worker *w){
  int status = 0;
  if( w->to >= 0 ) close(w->to);
  if( w->from >= 0 ) close(w->from);
  w->to = w->from = -1;
  if( w->pid > 0 ){
    while( waitpid(w->pid, &status, 0) < 0 && errno == EINTR ){}
  }
  if( w->pid > 0 && WIFSIGNALED(status) ){
    char why[300];
    int64_t kills = w->cgroup[0] ? cgroup_oom_kills(cg->kind, w->cgroup) : -1;
    if( kills > 0 ){
      char limit[32];
      budget_format((uint64_t)w->r->cgroup_limit, limit, sizeof limit);
      bench_format(why, sizeof why, "killed by the OOM killer of its cgroup (limit %s)", limit);
    }else{
      bench_format(why, sizeof why, "killed by signal %d", WTERMSIG(status));
    }
    free((char*)w->r->error);
    w->r->error = strdup(why);
  }
  if( w->cgroup[0] ){
    w->r->peak_charged_bytes = cgroup_peak(cg->kind, w->cgroup);
    cgroup_remove(w->cgroup);
    w->cgroup[0] = 0;
  }
  w->pid = -1;
}

/* Repeat k: the probe, then one generate of the worker's. */
static void worker_repeat(worker *w, int k){
  bench_result *r = w->r;
  worker_msg m;
  probe_before(r, k);
  if( worker_ask(w, CMD_GO, &m, "the worker died") ) return;
  r->prefill_tok_s[k] = m.prefill_tok_s;
  r->decode_tok_s[k] = m.decode_tok_s;
  r->bytes_read_per_token[k] = m.bytes_read_per_token;
  r->disk_read_per_token[k] = m.disk_read_per_token;
  r->hit_rate[k] = m.hit_rate;
  r->decode_tokens = m.decode_tokens;
  r->n_repeat = k + 1;
}

/* Ask a live worker for its peaks; it exits after the answer. */
static void worker_quit(worker *w){
  worker_msg m;
  char cmd = CMD_QUIT;
  if( w->alive && write(w->to, &cmd, 1) == 1 && read_msg(w, &m) == 0 && m.kind == MSG_DONE ){
    w->r->peak_rss_bytes = m.peak_rss;
    w->r->budget_peak_bytes = m.budget_peak;
    w->r->state_bytes = m.state_bytes;
  }
}

/* The disk's bytes/s now, by the disk probe on the model file; NaN if it
** failed.  *direct: 1 O_DIRECT, 0 buffered, -1 failed. */
static double disk_now(const bench_options *o, int *direct){
  static int said;
  disk_probe d;
  int rc = disk_read_bandwidth(o->model, 1ll << 30, 0, &d);
  if( rc && !said++ ) fprintf(stderr, "tensql bench: the disk probe failed: %s\n", d.why);
  else if( !rc && !d.direct && !said++ ){
    fprintf(stderr, "tensql bench: the disk probe read buffered, not with O_DIRECT (%s),"
            " after dropping the file's cached pages where the file system can\n", d.why);
  }
  *direct = rc ? -1 : d.direct;
  return rc ? NAN : d.bytes_per_second;
}

/* One repeat of w, with the disk probed after it: the repeat's disk
** figure is the mean of the probes on either side, so the disk limit a
** repeat is held to is the disk's of those seconds (a virtual disk's
** rate swings by a third within a minute).  A buffered probe drops the
** file's cached pages, which the OS variant's next repeat would miss: it
** runs once, before the budget, and stands for every repeat. */
static void repeat_between_probes(const bench_options *o, worker *w, int k,
                                  double *disk, int *direct){
  double before = *disk;
  worker_repeat(w, k);
  if( *direct > 0 ) *disk = disk_now(o, direct);
  w->r->disk_bytes_per_second[k] = (before + *disk) / 2;
  w->r->disk_direct = *direct;
}

/* The bandwidth probe's buffer for a budget's configurations, once they
** are warm (so what is left under bench's own cgroup counts them). */
static void probe_size(const bench_options *o, const cgroup_env *cg, bench_result *r, int n){
  static int64_t said = -1;
  int64_t size = bench_probe_size(o->probe_bytes, r[0].sweep_budget, r[0].cgroup_limit,
                                  cgroup_room(cg));
  if( size < o->probe_bytes && size != said ){
    char a[32], b[32];
    budget_format((uint64_t)size, a, sizeof a);
    budget_format((uint64_t)o->probe_bytes, b, sizeof b);
    fprintf(stderr, "tensql bench: the bandwidth probe reads %s, not --probe-size %s: it keeps"
            " to the budget and the cgroup limits\n", a, b);
    said = size;
  }
  for(int i = 0; i < n; i++) r[i].probe_bytes = size;
}

void harness_measure(const bench_options *o, const cgroup_env *cg, bench_result *r, int n){
  worker w[MAX_WORKERS];
  if( !o->keep_cache ) host_drop_page_cache();
  int direct;
  double disk = disk_now(o, &direct);    /* cold: before any worker reads */
  n_live_workers = 0;
  for(int i = 0; i < n; i++) worker_start(o, cg, &w[i], &r[i]);
  probe_size(o, cg, r, n);
  for(int k = 0; k < o->repeat; k++){
    for(int i = 0; i < n; i++){
      if( w[i].alive ) repeat_between_probes(o, &w[i], k, &disk, &direct);
    }
  }
  for(int i = 0; i < n; i++){
    worker_quit(&w[i]);
    worker_finish(cg, &w[i]);
  }
  n_live_workers = 0;
}
