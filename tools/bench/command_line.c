/*
** command_line.c: `tensql bench`'s command line, argv to a bench_options.
**
**   bench_options o;
**   if( bench_parse(argc, argv, &o) ) return bench_usage(stderr);
**
** The engine's options (--budget, --policy, --no-prefetch, --threads) are
** tools/options.c's, spelled as `tensql run` spells them; the rest are
** bench's own.  A bad value is named on stderr ("tensql bench: bad value
** 'fifo' for --policy") before the usage.
*/
#include "bench_internal.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "memory/budget.h"
#include "options.h"

int bench_usage(FILE *f){
  fprintf(f,
    "usage: tensql bench MODEL.db [--prompt-tokens 64] [--gen-tokens 64] [--threads N]\n"
    "                    [--budget SIZE] [--policy opt|lru] [--no-prefetch] [--repeat R]\n"
    "                    [--json] [--cgroup-limit SIZE] [--sweep SIZES] [--out PREFIX]\n"
    "                    [--probe-size SIZE] [--keep-cache]\n"
    "  Prefill and decode speed (median, min, max over R repeats), peak RSS, peak\n"
    "  memory charged to a cgroup of its own (page cache included), bytes read per\n"
    "  decode token, tile hit rate, and memory bandwidth probed between repeats.\n"
    "  --sweep 150M,250M runs OPT and LRU, with and without prefetch, at each\n"
    "  budget and writes PREFIX.tsv, PREFIX.md and a gnuplot plot PREFIX.png\n"
    "  (PREFIX defaults to budget_sweep).  --probe-size 0 skips the probe.  As root\n"
    "  the OS page cache is dropped before each budget, unless --keep-cache.\n");
  return f == stdout ? 0 : EXIT_USAGE;
}

int bench_parse_sizes(const char *list, int64_t *out, int max){
  int n = 0;
  if( list == 0 || *list == 0 ) return -1;
  const char *p = list;
  for(;;){
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char item[64];
    if( len == 0 || len >= sizeof item || n == max ) return -1;
    memcpy(item, p, len);
    item[len] = 0;
    int64_t bytes = budget_parse(item);
    if( bytes < 0 ) return -1;
    out[n++] = bytes;
    if( comma == 0 ) return n;
    p = comma + 1;
  }
}

int bench_parse(int argc, char **argv, bench_options *o){
  static const struct option options[] = {
    { "prompt-tokens", required_argument, 0, 'p' }, { "gen-tokens", required_argument, 0, 'n' },
    OPTIONS_ENGINE_LONG,
    { "repeat", required_argument, 0, 'r' }, { "json", no_argument, 0, 'j' },
    { "cgroup-limit", required_argument, 0, 'c' }, { "sweep", required_argument, 0, 's' },
    { "out", required_argument, 0, 'o' }, { "probe-size", required_argument, 0, 'P' },
    { "keep-cache", no_argument, 0, 'K' },
    { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
  };
  *o = (bench_options){ .prompt_tokens = 64, .gen_tokens = 64, .repeat = 5,
                        .probe_bytes = 512ll << 20 };
  optind = 0;              /* GNU getopt: start over, whoever parsed before */
  opterr = 0;
  int c;
  while( (c = getopt_long(argc, argv, "h", options, 0)) != -1 ){
    const char *bad = 0;
    switch( c ){
      case 'p': if( (o->prompt_tokens = options_count(optarg, 1, 1 << 20)) < 0 ) bad = "--prompt-tokens"; break;
      case 'n': if( (o->gen_tokens = options_count(optarg, 1, 1 << 20)) < 0 ) bad = "--gen-tokens"; break;
      case 'r': if( (o->repeat = options_count(optarg, 1, BENCH_MAX_REPEAT)) < 0 ) bad = "--repeat"; break;
      case 'c': if( (o->cgroup_limit = budget_parse(optarg)) < 0 ) bad = "--cgroup-limit"; break;
      case 'P': if( (o->probe_bytes = budget_parse(optarg)) < 0 ) bad = "--probe-size"; break;
      case 's':
        if( (o->n_sweep = bench_parse_sizes(optarg, o->sweep, BENCH_MAX_SWEEP)) < 0 ) bad = "--sweep";
        break;
      case 'j': o->json = 1; break;
      case 'K': o->keep_cache = 1; break;
      case 'o': o->out = optarg; break;
      case 'h': return -1;
      default:
        if( options_engine(&o->engine, c, optarg, 1024, &bad) ) break;   /* taken, or bad */
        fprintf(stderr, "tensql bench: unknown option or missing value: %s\n",
                optind > 0 && optind <= argc ? argv[optind - 1] : "?");
        return -1;
    }
    if( bad ){
      fprintf(stderr, "tensql bench: bad value '%s' for %s\n", optarg, bad);
      return -1;
    }
  }
  /* GNU getopt has moved the operands to the end: the model may come anywhere */
  if( optind != argc - 1 ){
    fprintf(stderr, "tensql bench: %s\n", optind == argc ? "which model? tensql bench MODEL.db ..."
                                                          : "one model at a time");
    return -1;
  }
  o->model = argv[optind];
  return 0;
}

