/*
** bench.h: `tensql bench`, the benchmark command, and the pieces of it
** that tests can check without a clock: option parsing, size lists,
** medians and the JSON line.
**
**   tensql bench MODEL.db [--prompt-tokens 64] [--gen-tokens 64] [--threads N]
**                [--budget SIZE] [--policy opt|lru|os] [--no-prefetch] [--repeat R]
**                [--json] [--cgroup-limit [+]SIZE] [--sweep SIZES] [--variants LIST]
**                [--out PREFIX] [--probe-size SIZE] [--keep-cache]
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
#define BENCH_MAX_VARIANTS 5

/* A way of running the engine that a sweep compares at each budget: an
** eviction policy (budget_policy, memory/budget.h) with the prefetch thread on
** or off.  The OS variant runs with no budget, under its budget's cgroup
** limit, so that the kernel's page cache manages the memory. */
typedef struct bench_variant {
  int policy;
  int prefetch;
} bench_variant;

typedef struct bench_options {
  const char *model;
  int prompt_tokens;           /* tokens of the prefill step (BOS included) */
  int gen_tokens;              /* generate's max_tokens */
  engine_options engine;       /* --budget, --policy, --no-prefetch, --threads */
  int repeat;
  int json;
  int64_t cgroup_limit;        /* bytes; 0 = no limit (the group still measures) */
  int cgroup_limit_plus;       /* --cgroup-limit +SIZE: each budget's limit is
                               ** the budget + cgroup_limit (bench_cgroup_limit) */
  int n_sweep;                 /* budgets to sweep; 0 = a single measurement */
  int64_t sweep[BENCH_MAX_SWEEP];
  int n_variants;              /* what a sweep runs at each budget (--variants) */
  bench_variant variants[BENCH_MAX_VARIANTS];
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

/* "opt+prefetch,lru,os" -> up to max variants in out; the count, or -1 if
** the list is empty, too long, repeats one or names an unknown one.  The
** names are bench_variant_name()'s: opt+prefetch, opt, lru+prefetch, lru, os. */
int bench_parse_variants(const char *list, bench_variant *out, int max);
/* "opt+prefetch", "lru", "os", ...: the policy's name, "+prefetch" when the
** prefetch thread is on (the OS variant runs without it). */
const char *bench_variant_name(bench_variant v);

/* ---- the rules bench runs by, as pure functions ------------------------------ */

/* The cgroup limit of a run at `budget` (0 = none): --cgroup-limit SIZE as
** given, or budget + SIZE for --cgroup-limit +SIZE (0 if there is no
** budget to add to); 0 = no limit. */
int64_t bench_cgroup_limit(const bench_options *o, int64_t budget);

/* Whether a cgroup limit leaves room for a budget and tensql's overhead
** beyond it (memory the budget does not count: the connection, the
** tokenizer, threads, a step's buffers).  0, or -1 with why in why ("cgroup
** limit 200.0 MB is below budget 190.0 MB plus tensql's overhead of
** ~24.0 MB").  No limit, or no budget, always passes: the OS variant runs
** with none under a limit on purpose. */
int bench_cap_check(int64_t limit, int64_t budget, int64_t overhead, char *why, size_t len);

/* The bandwidth probe's buffer: --probe-size, cut to the budget (when
** there is one), to the cgroup limit less BENCH_PROBE_MARGIN (when there
** is one), and to what is left under bench's own cgroup less the margin
** (room; -1 = unknown or unlimited).  The probe runs in bench's own process,
** so if bench itself runs under a cap it must fit beside the workers.
** 0 = no probe. */
#define BENCH_PROBE_MARGIN (32ll << 20)
int64_t bench_probe_size(int64_t probe_bytes, int64_t budget, int64_t limit, int64_t room);

/* Decode tokens per second the disk allows: its bytes per second over the
** bytes a token reads.  Those are /proc/self/io's (disk_read_per_token)
** when it counted any, else the tile manager's (bytes_read_per_token).
** NaN when either is unknown, or when nothing is read (the model fits). */
/* M - B': the bytes a decode step must read at the least, model_bytes
** less the budget's room for tiles (budget_bytes - state_bytes); NaN with
** no budget, or when the model fits. */
double bench_read_optimum(int64_t model_bytes, int64_t budget_bytes, int64_t state_bytes);

double bench_disk_limit(double disk_bytes_per_second, double disk_read_per_token,
                        double bytes_read_per_token);

/* Median, minimum and maximum of the n values that are not NaN (NaN for
** all three if there are none).  v is not changed. */
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);
double bench_max(const double *v, int n);

/* The weights a step multiplies by, of one type (`tensors`): their bytes
** and how many weights they hold, so bits a weight = 8 * bytes / count. */
#define BENCH_MAX_TYPES 8
typedef struct bench_weights { char type[12]; int64_t bytes, count; } bench_weights;

/* What one configuration (budget, policy, prefetch) measured.  Per-repeat
** arrays hold NaN where a figure is unknown; counts are -1 when unknown. */
typedef struct bench_result {
  const char *model;
  int64_t budget_bytes;        /* 0 = no budget */
  int64_t sweep_budget;        /* the budget of its row: budget_bytes, or for the
                               ** OS variant (no budget) the one whose limit it shares */
  bench_variant variant;
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
  int64_t probe_bytes;         /* the probe's buffer (bench_probe_size); 0 = none */
  double disk_bytes_per_second[BENCH_MAX_REPEAT];  /* the disk probes' around each
                               ** repeat (their mean); NaN if none */
  int disk_direct;             /* 1: it read with O_DIRECT, 0: buffered; -1 unknown */
  char io[16];                 /* tile_stats.io: "direct", "buffered", "sqlite"; "": unknown */
  int64_t prompt_tokens, decode_tokens;
  int64_t peak_rss_bytes;      /* VmHWM */
  int64_t peak_charged_bytes;  /* the cgroup's peak, page cache included */
  int64_t opened_charged_bytes;  /* what the cgroup held once the model was open,
                               ** before the warm-up: the cap check's measure */
  const char *cgroup;          /* "v1", "v2" or NULL: which measured it */
  int64_t budget_peak_bytes;   /* tile_stats.peak_total_bytes */
  int64_t state_bytes;         /* tile_stats.other_bytes after the last repeat: KV cache
                               ** and activations, the part of the budget not for tiles */
  int64_t statements_per_step, model_bytes, weight_bytes_per_token;
  bench_weights weights[BENCH_MAX_TYPES];   /* by type, most bytes first */
  int n_weight_types;
  const char *error;           /* NULL, or why this configuration failed */
} bench_result;

/* One JSON object, no newline, for r; malloc'd (NULL if out of memory).
** Keys: decode_tok_s, prefill_tok_s (medians) and their _min and _max,
** peak_rss_bytes, peak_charged_bytes, bytes_read_per_token, hit_rate,
** statements_per_step, probe_gb_s, threads, budget_bytes, policy,
** prefetch, model_bytes, weight_bytes_per_token, efficiency, disk_gb_s,
** disk_limit_tok_s, disk_efficiency and more (see report.c and
** docs/bench.md); unknown figures are null. */
char *bench_json(const bench_result *r);

/* The command: returns the process exit code (0, 1 failure, 2 usage). */
int bench_command(int argc, char **argv);
/* The usage text, to f; returns the exit code (0 for stdout, 2 else). */
int bench_usage(FILE *f);

#endif
