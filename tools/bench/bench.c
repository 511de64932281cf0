/*
** bench.c: `tensql bench`, how fast a model runs and what it costs in memory.
**
**   tensql bench model.db --repeat 5 --json
**   tensql bench model.db --budget 280M --cgroup-limit 320M --policy lru --no-prefetch
**   tensql bench model.db --sweep 150M,250M,350M,600M --out docs/budget_sweep
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
**
** The files of tools/bench/, one job each:
**   bench.c          this command: the configurations, a report as each is done
**   command_line.c   the command line, argv -> bench_options
**   harness.c        the conductor: a worker process per configuration, the
**                    probe between repeats, the results collected
**   worker.c         the worker: opens the model, runs the timed generates
**   cgroup.c         the memory cgroup each worker runs in (v1, or v2)
**   host.c           /proc and cgroup files, the page cache, the CPUs a run is held to
**   statistics.c     median, min and max over the repeats; the derived figures
**   report.c         the JSON line, the text, and a sweep's tables and gnuplot plot
**   probe.c          the memory bandwidth probe
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

static void result_init(bench_result *r, const bench_options *o, int64_t budget, int lru, int prefetch){
  memset(r, 0, sizeof *r);
  r->model = o->model;
  r->budget_bytes = budget;
  r->policy_lru = lru;
  r->prefetch = prefetch;
  r->threads = 1;
  r->cgroup_limit = o->cgroup_limit;
  r->prompt_tokens = r->decode_tokens = -1;
  r->peak_rss_bytes = r->peak_charged_bytes = r->budget_peak_bytes = -1;
  r->statements_per_step = r->model_bytes = r->weight_bytes_per_token = -1;
  for(int k = 0; k < BENCH_MAX_REPEAT; k++){
    r->prefill_tok_s[k] = r->decode_tok_s[k] = r->bytes_read_per_token[k] = NAN;
    r->disk_read_per_token[k] = r->hit_rate[k] = NAN;
    r->probe[k] = r->probe_1t[k] = r->probe_nt[k] = NAN;
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
** four variants (OPT and LRU, with and without prefetch) at its g-th
** budget, or the one the options ask for. */
static void group_init(const bench_options *o, int g, bench_result *r){
  static const int variants[4][2] = { { 0, 1 }, { 0, 0 }, { 1, 1 }, { 1, 0 } };  /* lru, prefetch */
  if( o->n_sweep == 0 ){
    result_init(r, o, o->engine.budget, o->engine.policy_lru, !o->engine.no_prefetch);
    return;
  }
  for(int v = 0; v < 4; v++) result_init(&r[v], o, o->sweep[g], variants[v][0], variants[v][1]);
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
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, harness_interrupted);
  signal(SIGTERM, harness_interrupted);

  /* a sweep: the four variants at each budget; else the one asked for */
  int per_group = o.n_sweep ? 4 : 1, groups = o.n_sweep ? o.n_sweep : 1, n = per_group * groups;
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
