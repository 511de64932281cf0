/*
** bench.h: `tensql bench`, the benchmark command, and the pieces of it
** that tests can check without a clock: option parsing, size lists,
** medians and the JSON line.
**
**   tensql bench MODEL.db [--prompt-tokens 64] [--gen-tokens 64] [--threads N]
**                [--budget SIZE] [--policy opt|lru] [--no-prefetch] [--repeat R]
**                [--json] [--cgroup-limit SIZE] [--sweep SIZES] [--out PREFIX]
**                [--probe-size SIZE] [--keep-cache]
**
** What each figure means is documented at the top of bench.c and in
** docs/bench.md.
*/
#ifndef TENSQL_BENCH_H
#define TENSQL_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "options.h"

#define BENCH_MAX_SWEEP 32
#define BENCH_MAX_REPEAT 100

typedef struct bench_options {
  const char *model;
  int prompt_tokens;           /* tokens of the prefill step (BOS included) */
  int gen_tokens;              /* generate's max_tokens */
  engine_options engine;       /* --budget, --policy, --no-prefetch, --threads */
  int repeat;
  int json;
  int64_t cgroup_limit;        /* bytes; 0 = no limit (the group still measures) */
  int n_sweep;                 /* budgets to sweep; 0 = a single measurement */
  int64_t sweep[BENCH_MAX_SWEEP];
  const char *out;             /* sweep: prefix of the .tsv/.md/.gp/.png files */
  int64_t probe_bytes;         /* bandwidth probe buffer; 0 = no probe */
  int keep_cache;              /* do not drop the OS page cache before a budget */
} bench_options;

/* Parse argv (argv[0] = "bench") into o.  Returns 0, or -1 after a message
** on stderr naming the bad option. */
int bench_parse(int argc, char **argv, bench_options *o);

/* "150M,250M,1.5G" -> up to max sizes in out; the count, or -1 if the
** list is empty, too long or has an item that is not a size. */
int bench_parse_sizes(const char *list, int64_t *out, int max);

/* Median, minimum and maximum of the n values that are not NaN (NaN for
** all three if there are none).  v is not changed. */
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);
double bench_max(const double *v, int n);

/* What one configuration (budget, policy, prefetch) measured.  Per-repeat
** arrays hold NaN where a figure is unknown; counts are -1 when unknown. */
typedef struct bench_result {
  const char *model;
  int64_t budget_bytes;        /* 0 = no budget */
  int policy_lru, prefetch;
  int threads;                 /* threads the kernels ran on */
  char cpus[64];               /* the CPUs the run was held to ("1", "0,2"); "": all */
  int64_t cgroup_limit;        /* 0 = none */
  int n_repeat;
  double prefill_tok_s[BENCH_MAX_REPEAT], decode_tok_s[BENCH_MAX_REPEAT];
  double bytes_read_per_token[BENCH_MAX_REPEAT];   /* tile_stats.bytes_read */
  double disk_read_per_token[BENCH_MAX_REPEAT];    /* /proc/self/io read_bytes */
  double hit_rate[BENCH_MAX_REPEAT];
  double probe[BENCH_MAX_REPEAT];      /* bytes/s at `threads` threads */
  double probe_1t[BENCH_MAX_REPEAT];   /* bytes/s on one thread */
  double probe_nt[BENCH_MAX_REPEAT];   /* bytes/s on probe_nt_threads */
  int probe_nt_threads;
  int64_t prompt_tokens, decode_tokens;
  int64_t peak_rss_bytes;      /* VmHWM */
  int64_t peak_charged_bytes;  /* the cgroup's peak, page cache included */
  const char *cgroup;          /* "v1", "v2" or NULL: which measured it */
  int64_t budget_peak_bytes;   /* tile_stats.peak_total_bytes */
  int64_t statements_per_step, model_bytes, weight_bytes_per_token;
  const char *error;           /* NULL, or why this configuration failed */
} bench_result;

/* One JSON object, no newline, for r; malloc'd (NULL if out of memory).
** Keys: decode_tok_s, prefill_tok_s (medians) and their _min and _max,
** peak_rss_bytes, peak_charged_bytes, bytes_read_per_token, hit_rate,
** statements_per_step, probe_gb_s, threads, budget_bytes, policy,
** prefetch, model_bytes, weight_bytes_per_token, efficiency and more
** (see report.c and docs/bench.md); unknown figures are null. */
char *bench_json(const bench_result *r);

/* The command: returns the process exit code (0, 1 failure, 2 usage). */
int bench_command(int argc, char **argv);
/* The usage text, to f; returns the exit code (0 for stdout, 2 else). */
int bench_usage(FILE *f);

#endif
