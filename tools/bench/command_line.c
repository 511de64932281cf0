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
**
** --cgroup-limit +40M is relative: each budget's limit is that budget plus
** 40M (bench_cgroup_limit, limits.c), so it needs --budget or --sweep.
** --variants names what a sweep runs at each budget, by
** bench_variant_name()'s names; by default OPT with prefetch, LRU and the
** OS: tensql at its best and at its plainest against the page cache, in
** three workers rather than five, so a sweep takes 3/5 of the time.
*/
#include "bench_internal.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "memory/budget.h"
#include "options.h"

/* A sweep's variants unless --variants: OPT + prefetch, LRU, the OS. */
static const bench_variant default_variants[] = {
  { POLICY_OPT, 1 }, { POLICY_LRU, 0 }, { POLICY_OS, 0 }
};

int bench_usage(FILE *f){
  fprintf(f,
    "usage: tensql bench MODEL.db [--prompt-tokens 64] [--gen-tokens 64] [--threads N]\n"
    "                    [--budget SIZE] [--policy opt|lru|os] [--no-prefetch] [--repeat R]\n"
    "                    [--json] [--cgroup-limit [+]SIZE] [--sweep SIZES] [--variants LIST]\n"
    "                    [--out PREFIX] [--probe-size SIZE] [--keep-cache]\n"
    "  Prefill and decode speed (median, min, max over R repeats), peak RSS, peak\n"
    "  memory charged to a cgroup of its own (page cache included), bytes read per\n"
    "  decode token, tile hit rate, memory bandwidth probed between repeats, and\n"
    "  the disk's speed, probed cold before each budget, with the decode speed it\n"
    "  allows.  --cgroup-limit +40M caps each run at its budget + 40M; a limit too\n"
    "  small for the budget is refused before the run.  --sweep 150M,250M runs, at\n"
    "  each budget, the variants of --variants (default opt+prefetch,lru,os; also\n"
    "  opt, lru+prefetch; os runs with no budget under the budget's cgroup limit)\n"
    "  and writes PREFIX.tsv, PREFIX.md and a gnuplot plot PREFIX.png (PREFIX\n"
    "  defaults to budget_sweep).  --probe-size 0 skips the bandwidth probe.  As\n"
    "  root the OS page cache is dropped before each budget, unless --keep-cache.\n");
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

/* Indexed by policy * 2 + prefetch. */
static const char *const variant_names[] = {
  "opt", "opt+prefetch", "lru", "lru+prefetch", "os", "os+prefetch"
};

const char *bench_variant_name(bench_variant v){
  int i = v.policy * 2 + (v.prefetch != 0);
  return i >= 0 && i < (int)(sizeof variant_names / sizeof variant_names[0]) ? variant_names[i] : "?";
}

int bench_parse_variants(const char *list, bench_variant *out, int max){
  int n = 0;
  if( list == 0 || *list == 0 ) return -1;
  for(const char *p = list;;){
    size_t len = strcspn(p, ",");
    int found = -1;
    for(int i = 0; i < (int)(sizeof variant_names / sizeof variant_names[0]); i++){
      if( strlen(variant_names[i]) == len && strncmp(p, variant_names[i], len) == 0 ) found = i;
    }
    if( found < 0 || n == max ) return -1;
    bench_variant v = { found / 2, found % 2 };
    for(int k = 0; k < n; k++) if( out[k].policy == v.policy && out[k].prefetch == v.prefetch ) return -1;
    out[n++] = v;
    if( p[len] == 0 ) return n;
    p += len + 1;
  }
}

/* --cgroup-limit SIZE or +SIZE into o.  0, or -1 if it is not a size. */
static int parse_cgroup_limit(const char *text, bench_options *o){
  o->cgroup_limit_plus = text[0] == '+';
  o->cgroup_limit = budget_parse(text + o->cgroup_limit_plus);
  /* budget_parse takes a sign of its own, so "++40M" or "+-1M" must not pass */
  if( o->cgroup_limit_plus && (text[1] == '+' || text[1] == '-') ) return -1;
  return o->cgroup_limit < 0 ? -1 : 0;
}

int bench_parse(int argc, char **argv, bench_options *o){
  static const struct option options[] = {
    { "prompt-tokens", required_argument, 0, 'p' }, { "gen-tokens", required_argument, 0, 'n' },
    OPTIONS_ENGINE_LONG,
    { "repeat", required_argument, 0, 'r' }, { "json", no_argument, 0, 'j' },
    { "cgroup-limit", required_argument, 0, 'c' }, { "sweep", required_argument, 0, 's' },
    { "out", required_argument, 0, 'o' }, { "probe-size", required_argument, 0, 'P' },
    { "keep-cache", no_argument, 0, 'K' }, { "variants", required_argument, 0, 'V' },
    { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
  };
  *o = (bench_options){ .prompt_tokens = 64, .gen_tokens = 64, .repeat = 5,
                        .probe_bytes = 512ll << 20 };
  o->n_variants = (int)(sizeof default_variants / sizeof default_variants[0]);
  memcpy(o->variants, default_variants, sizeof default_variants);
  optind = 0;              /* GNU getopt: start over, whoever parsed before */
  opterr = 0;
  int c;
  while( (c = getopt_long(argc, argv, "h", options, 0)) != -1 ){
    const char *bad = 0;
    switch( c ){
      case 'p': if( (o->prompt_tokens = options_count(optarg, 1, 1 << 20)) < 0 ) bad = "--prompt-tokens"; break;
      case 'n': if( (o->gen_tokens = options_count(optarg, 1, 1 << 20)) < 0 ) bad = "--gen-tokens"; break;
      case 'r': if( (o->repeat = options_count(optarg, 1, BENCH_MAX_REPEAT)) < 0 ) bad = "--repeat"; break;
      case 'c': if( parse_cgroup_limit(optarg, o) ) bad = "--cgroup-limit"; break;
      case 'P': if( (o->probe_bytes = budget_parse(optarg)) < 0 ) bad = "--probe-size"; break;
      case 's':
        if( (o->n_sweep = bench_parse_sizes(optarg, o->sweep, BENCH_MAX_SWEEP)) < 0 ) bad = "--sweep";
        break;
      case 'V':
        if( (o->n_variants = bench_parse_variants(optarg, o->variants, BENCH_MAX_VARIANTS)) < 0 ){
          bad = "--variants";
        }
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
  if( o->cgroup_limit_plus && o->n_sweep == 0 && o->engine.budget == 0 ){
    fprintf(stderr, "tensql bench: --cgroup-limit +SIZE adds to a budget: give --budget or --sweep\n");
    return -1;
  }
  return 0;
}

