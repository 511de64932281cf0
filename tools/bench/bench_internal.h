/*
** bench_internal.h: what the files of tools/bench/ tell each other; the
** CLI and the tests use bench.h.  bench.c's header comment maps the files.
**
**   bench.c  -> harness_measure(o, cg, r, n)    measure n configurations side by side
**   harness.c forks; the child runs worker_main(), and they talk in
**            CMD_* bytes one way and worker_msg records the other;
**            limits.c's rules say what may run and how large the probe is
**   report.c  <- bench_summarize() (statistics.c) for every figure it prints
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
/* The group's memory now, page cache included (v1 memory.usage_in_bytes,
** v2 memory.current); -1 if unreadable. */
int64_t cgroup_usage(int kind, const char *dir);
/* What is left under this process's own group's limit (v1: the tightest
** of its ancestors'), less what it holds that the kernel could not simply
** drop (inactive file pages it can); -1 if it has no limit or cg no kind. */
int64_t cgroup_room(const cgroup_env *cg);
/* OOM kills in the group: v1 memory.oom_control, v2 memory.events. */
int64_t cgroup_oom_kills(int kind, const char *dir);
/* rmdir, once the group's last process is reaped (the kernel may take a
** moment to notice). */
void cgroup_remove(const char *dir);

/* ---- worker.c: the child that measures, and how the harness talks to it ---- */

/* One configuration to measure. */
typedef struct bench_config {
  int64_t budget;
  bench_variant variant;
} bench_config;

/* Child to parent, one message per write (smaller than PIPE_BUF, so whole). */
enum { MSG_OPENED = 1, MSG_READY, MSG_REPEAT, MSG_DONE, MSG_ERROR };
typedef struct worker_msg {
  int kind;
  /* OPENED: nothing; the harness reads what the worker's cgroup holds */
  /* READY */
  int threads, threads_available;
  int64_t statements, model_bytes, weight_bytes, prompt_tokens;
  bench_weights weights[BENCH_MAX_TYPES];
  int n_weight_types;
  char io[16];               /* tile_stats.io, or "" if the engine has no such column */
  /* REPEAT */
  double prefill_tok_s, decode_tok_s, bytes_read_per_token, disk_read_per_token, hit_rate;
  int64_t decode_tokens;
  /* DONE */
  int64_t peak_rss, budget_peak, state_bytes;
  char text[1024];           /* ERROR: why; READY: a warning or "" */
} worker_msg;

/* Parent to child: one byte.  START opens the model (-> MSG_OPENED), WARM
** warms up (-> MSG_READY), GO runs a repeat, QUIT asks for the peaks.  A
** worker the harness refuses after START gets end-of-file instead of WARM. */
enum { CMD_START = 's', CMD_WARM = 'w', CMD_GO = 'g', CMD_QUIT = 'q' };

/* tensql's memory beyond its budget that the opened model does not show
** yet: a step's buffers, the prompt's connection, the threads' stacks and
** arenas.  The cap check adds it to what the worker's cgroup holds once
** the model is open (before forking, it is the whole estimate).  Measured:
** see docs/bench.md, "The cap check". */
#define BENCH_STEP_MARGIN (8ll << 20)

/* The child's whole life, reading commands from fd in and writing
** messages to fd out: never returns. */
__attribute__((noreturn))
void worker_main(const bench_options *o, const bench_config *cfg, int in, int out);

/* ---- harness.c: the conductor --------------------------------------------- */

/* Measure the n (at most 8) configurations in r side by side, each in a
** worker process of its own (and its own cgroup when cg has a kind): the
** disk probe first, then one repeat of each in turn, the bandwidth probe
** before each.  Fills r in; a failed or refused configuration has its
** error set. */
void harness_measure(const bench_options *o, const cgroup_env *cg, bench_result *r, int n);
/* SIGINT and SIGTERM: kill the workers, remove their groups, and die of sig. */
void harness_interrupted(int sig);

/* ---- statistics.c: the figures of a result -------------------------------- */

/* The figures reports are made of, derived once from a result. */
typedef struct bench_summary {
  double prefill, prefill_min, prefill_max, decode, decode_min, decode_max;
  double bytes_read, disk_read, hit_rate;
  double probe, probe_min, probe_max, probe_1t, probe_nt;   /* GB/s */
  double efficiency;
  double disk, disk_min, disk_max;  /* the disk probe's GB/s around the repeats:
                               ** median, least, most */
  double read_per_token;       /* bytes from disk per decode token: disk_read when it
                               ** counted any, else bytes_read (bench_disk_limit's) */
  double disk_limit;           /* decode tok/s the disk allows; NaN if nothing is read */
  double disk_efficiency;      /* decode / disk_limit */
  double read_optimum;         /* M - B': model bytes less the budget's room for
                               ** tiles (budget - KV cache and activations);
                               ** NaN with no budget */
  double read_ratio;           /* read_per_token / read_optimum */
} bench_summary;

void bench_summarize(const bench_result *r, bench_summary *s);

/* ---- report.c: what is printed and written -------------------------------- */

/* One configuration, for a reader (without --json). */
void report_text(FILE *f, const bench_result *r);
/* A sweep's table in Markdown, a row per configuration, failures noted below. */
void report_markdown(FILE *f, const bench_result *r, int n);
/* PREFIX.tsv, PREFIX.md and, for two budgets or more, PREFIX.gp and .png
** (gnuplot run in PREFIX's directory).  0, or 1 after a message. */
int report_sweep(const bench_options *o, const bench_result *r, int n, int argc, char **argv);

#endif
