/*
** bench.c: `tensql bench`, how fast a model runs and what it costs in memory.
**
**   tensql bench model.db --repeat 5 --json
**   tensql bench model.db --budget 280M --cgroup-limit 320M --policy lru --no-prefetch
**   tensql bench model.db --sweep 150M,250M,350M,600M --out docs/budget_sweep
**   tensql bench model.db --sweep 160M,220M,280M,380M --cgroup-limit +40M
**
** For one configuration (budget, policy, prefetch) it prints, over R
** repeats of `SELECT pos FROM generate WHERE prompt = ? AND max_tokens = ?
** AND temperature = 0`:
**   prefill tok/s   prompt tokens / time from the query's first step to the
**                   first row (the prefill step and the first sample); the
**                   prompt is built to be exactly --prompt-tokens tokens
**   decode tok/s    rows after the first / time from the first row to the last
**                   (both as median, min and max over the repeats)
**   bytes read per decode token   tile_stats.bytes_read over the same decode
**                   window / its tokens; disk_read_bytes_per_token is the
**                   same from /proc/self/io read_bytes (what really came
**                   off the disk, prefetch thread included)
**   hit rate        tile_stats hits / (hits + misses) over the decode window
**   statements per step   SELECT count(*) FROM program
**   peak RSS        VmHWM of the measuring process
**   peak charged    the peak of the process's own memory cgroup, page cache
**                   included: cgroup v1 memory.max_usage_in_bytes, or v2
**                   memory.peak; --cgroup-limit also caps it (memory.
**                   limit_in_bytes / memory.max)
**   weight bytes per token   bytes of every tensor that a statement calling
**                   matmul() names: what a decode step must stream.  Tied
**                   embeddings count once, as the output matrix (the embed()
**                   lookup reads one row)
**   probe           streaming-read bandwidth (probe.h), measured right before
**                   each model repeat; efficiency = decode tok/s x weight
**                   bytes per token / probe bytes/s (1 = decode runs at the
**                   speed of memory)
**   cpus            the CPUs a run of fewer threads than CPUs is held to,
**                   its probe and its decode alike (see host_run_cpus)
**   disk            the model file read cold, with large O_DIRECT requests
**                   several at a time (disk.h), before each budget; the disk
**                   limit = its bytes/s / bytes read from disk per decode
**                   token, and disk efficiency = decode tok/s / that limit
**                   (1 = decode runs at the speed of the disk)
**
** A sweep runs, at each budget, the variants of --variants: by default OPT
** with prefetch, LRU, and "the OS": tensql with policy 'os' and no budget,
** under the same cgroup limit as its budget's row, so that the kernel's
** page cache manages the memory, as it does for llama.cpp with mmap.
**
** The files of tools/bench/, one job each:
**   bench.c          this command: the configurations, a report as each is done
**   command_line.c   the command line, argv -> bench_options
**   harness.c        the conductor: a worker process per configuration, the
**                    probes, the results collected
**   worker.c         the worker: opens the model, runs the timed generates
**   limits.c         each run's cgroup limit, the cap check, the probe's size
**   cgroup.c         the memory cgroup each worker runs in (v1, or v2)
**   host.c           /proc and cgroup files, the page cache, the CPUs a run is held to
**   statistics.c     median, min and max over the repeats; the derived figures
**   report.c         the JSON line, the text, and a sweep's tables and gnuplot plot
**   probe.c          the memory bandwidth probe
**   disk.c           the disk probe
** bench.h is the face the CLI and the tests see; bench_internal.h is what
** the files tell each other.
*/
#include "bench.h"
#include "bench_internal.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* r for variant v at a row's budget: the OS variant runs with none, under
** the same cgroup limit as the row. */
static void result_init(bench_result *r, const bench_options *o, int64_t budget, bench_variant v){
  memset(r, 0, sizeof *r);
  r->model = o->model;
  r->sweep_budget = budget;
  r->budget_bytes = v.policy == POLICY_OS && o->n_sweep ? 0 : budget;
  r->variant = v;
  r->threads = 1;
  r->cgroup_limit = bench_cgroup_limit(o, budget);
  r->disk_direct = -1;
  r->prompt_tokens = r->decode_tokens = -1;
  r->peak_rss_bytes = r->peak_charged_bytes = r->opened_charged_bytes = r->budget_peak_bytes = -1;
  r->state_bytes = -1;
  r->statements_per_step = r->model_bytes = r->weight_bytes_per_token = -1;
  for(int k = 0; k < BENCH_MAX_REPEAT; k++){
    r->prefill_tok_s[k] = r->decode_tok_s[k] = r->bytes_read_per_token[k] = NAN;
    r->disk_read_per_token[k] = r->hit_rate[k] = NAN;
    r->probe[k] = r->probe_1t[k] = r->probe_nt[k] = NAN;
    r->disk_bytes_per_second[k] = NAN;
  }
}

static void report(const bench_options *o, const bench_result *r){
  if( o->json ){
    char *line = bench_json(r);
    if( line ) printf("%s\n", line);
    free(line);
  }else{
    report_text(stdout, r);
  }
  fflush(stdout);
}


/* The configurations of budget group g, initialized into r: a sweep's
** variants at its g-th budget, or the one the options ask for. */
static void group_init(const bench_options *o, int g, bench_result *r){
  if( o->n_sweep == 0 ){
    bench_variant v = { o->engine.policy, !o->engine.no_prefetch };
    result_init(r, o, o->engine.budget, v);
    return;
  }
  for(int v = 0; v < o->n_variants; v++) result_init(&r[v], o, o->sweep[g], o->variants[v]);
}

/* A sweep's OS variant with no limit runs with all the memory it wants:
** say so, since it then compares nothing. */
static void note_os_unlimited(const bench_options *o, const cgroup_env *cg){
  int os = 0;
  for(int v = 0; v < o->n_variants; v++) os |= o->variants[v].policy == POLICY_OS;
  if( o->n_sweep && os && (o->cgroup_limit == 0 || cg->kind == 0) ){
    fprintf(stderr, "tensql bench: the OS variant runs with no budget and no cgroup limit:"
            " as much page cache as it wants; give --cgroup-limit to compare\n");
  }
}

int bench_command(int argc, char **argv){
  bench_options o;
  if( bench_parse(argc, argv, &o) ) return bench_usage(stderr);
  if( access(o.model, R_OK) ){
    fprintf(stderr, "tensql bench: %s: %s\n", o.model, strerror(errno));
    return 1;
  }
  cgroup_env cg;
  cgroup_detect(&cg);
  if( cg.kind == 0 ){
    fprintf(stderr, "tensql bench: peak charged memory will be null: %s\n", cg.why);
    if( o.cgroup_limit ) fprintf(stderr, "tensql bench: --cgroup-limit is not applied\n");
  }
  note_os_unlimited(&o, &cg);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, harness_interrupted);
  signal(SIGTERM, harness_interrupted);

  /* a sweep: its variants at each budget; else the one asked for */
  int per_group = o.n_sweep ? o.n_variants : 1, groups = o.n_sweep ? o.n_sweep : 1, n = per_group * groups;
  bench_result *all = calloc((size_t)n, sizeof *all);
  if( all == 0 ) return 1;
  int failed = 0;
  for(int g = 0; g < groups; g++){
    bench_result *r = all + g * per_group;
    group_init(&o, g, r);
    harness_measure(&o, &cg, r, per_group);
    for(int i = 0; i < per_group; i++){
      report(&o, &r[i]);
      if( r[i].error ) failed++;
    }
  }
  int rc = failed == n ? 1 : 0;
  if( o.n_sweep ){
    if( !o.json ){
      printf("\n");
      report_markdown(stdout, all, n);
    }
    if( report_sweep(&o, all, n, argc, argv) ) rc = 1;
  }
  for(int i = 0; i < n; i++) free((char*)all[i].error);
  free(all);
  return rc;
}
