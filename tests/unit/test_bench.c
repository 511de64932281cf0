/*
** test_bench.c: the benchmark command (tools/bench/) and the bandwidth
** probe (tools/bench/probe.c), in everything that does not depend on a clock:
** option parsing (and the engine options it shares with `tensql run`,
** tools/options.c), size lists and variants, `--cgroup-limit +SIZE`, the
** cap check, the probe's size and the disk limit as pure functions,
** medians, the shape and keys of the JSON line, the probe giving a
** positive rate and leaving nothing resident, the disk probe reading the
** whole file direct and buffered, and a whole `bench --json`, `bench
** --sweep` (with the OS variant) and a refused cap on stories260K producing
** well-formed output.  No assertion is about speed: performance is
** measured by the command, not by tests.
*/
#include "../testutil.h"

#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/disk.h"
#include "bench/probe.h"
#include "import/import.h"
#include "options.h"

#define MIB (1024ll * 1024)

/* ---- the engine options, shared with `tensql run` (tools/options.c) ------- */

START_TEST(test_options_count){
  ck_assert_int_eq(options_count("8", 1, 64), 8);
  ck_assert_int_eq(options_count("1", 1, 64), 1);
  ck_assert_int_eq(options_count("64", 1, 64), 64);
  ck_assert_int_eq(options_count("65", 1, 64), -1);
  ck_assert_int_eq(options_count("0", 1, 64), -1);
  ck_assert_int_eq(options_count("-2", 1, 64), -1);
  ck_assert_int_eq(options_count("8x", 1, 64), -1);
  ck_assert_int_eq(options_count("", 1, 64), -1);
  ck_assert_int_eq(options_count("x", 1, 64), -1);
  ck_assert_int_eq(options_count("4294967297", 1, 64), -1);          /* 2^32 + 1: no wrap to 1 */
  ck_assert_int_eq(options_count("99999999999999999999", 1, 64), -1); /* overflows a long */
}
END_TEST

START_TEST(test_options_policy){
  ck_assert_int_eq(budget_policy_parse("opt"), POLICY_OPT);
  ck_assert_int_eq(budget_policy_parse("lru"), POLICY_LRU);
  ck_assert_int_eq(budget_policy_parse("os"), POLICY_OS);
  ck_assert_int_eq(budget_policy_parse("OS"), -1);
  ck_assert_int_eq(budget_policy_parse("LRU"), -1);
  ck_assert_int_eq(budget_policy_parse("lru "), -1);
  ck_assert_int_eq(budget_policy_parse(""), -1);
  ck_assert_int_eq(budget_policy_parse("fifo"), -1);
  /* the names go to tensql_policy() as they are */
  for(int p = POLICY_OPT; p <= POLICY_OS; p++){
    ck_assert_int_eq(budget_policy_parse(budget_policy_name(p)), p);
  }
}
END_TEST

START_TEST(test_options_engine){
  engine_options o = {0};
  const char *bad = 0;
  /* not an engine option: nothing taken, nothing touched */
  ck_assert_int_eq(options_engine(&o, 'p', "3", 64, &bad), 0);
  ck_assert_int_eq(options_engine(&o, '?', 0, 64, &bad), 0);
  ck_assert_ptr_null(bad);
  ck_assert_int_eq(o.budget, 0);
  ck_assert_int_eq(o.threads, 0);

  ck_assert_int_eq(options_engine(&o, OPTION_BUDGET, "300M", 64, &bad), 1);
  ck_assert_int_eq(o.budget, 300 * MIB);
  ck_assert_int_eq(options_engine(&o, OPTION_POLICY, "lru", 64, &bad), 1);
  ck_assert_int_eq(o.policy, POLICY_LRU);
  ck_assert_int_eq(options_engine(&o, OPTION_POLICY, "os", 64, &bad), 1);
  ck_assert_int_eq(o.policy, POLICY_OS);
  ck_assert_int_eq(options_engine(&o, OPTION_POLICY, "opt", 64, &bad), 1);
  ck_assert_int_eq(o.policy, POLICY_OPT);
  ck_assert_int_eq(options_engine(&o, OPTION_NO_PREFETCH, 0, 64, &bad), 1);
  ck_assert_int_eq(o.no_prefetch, 1);
  ck_assert_int_eq(options_engine(&o, OPTION_THREADS, "64", 64, &bad), 1);
  ck_assert_int_eq(o.threads, 64);
  ck_assert_ptr_null(bad);                        /* set only for a bad value */

  /* bad values, each named for the message */
  ck_assert_int_eq(options_engine(&o, OPTION_BUDGET, "lots", 64, &bad), -1);
  ck_assert_str_eq(bad, "--budget");
  ck_assert_int_eq(options_engine(&o, OPTION_BUDGET, "-5", 64, &bad), -1);
  ck_assert_str_eq(bad, "--budget");
  ck_assert_int_eq(options_engine(&o, OPTION_POLICY, "fifo", 64, &bad), -1);
  ck_assert_str_eq(bad, "--policy");
  ck_assert_int_eq(options_engine(&o, OPTION_THREADS, "65", 64, &bad), -1);
  ck_assert_str_eq(bad, "--threads");
  ck_assert_int_eq(options_engine(&o, OPTION_THREADS, "65", 1024, &bad), 1);   /* the caller's bound */
  ck_assert_int_eq(o.threads, 65);
  ck_assert_int_eq(options_engine(&o, OPTION_THREADS, "0", 64, 0), -1);        /* bad may be NULL */
}
END_TEST

/* ---- options ---------------------------------------------------------------- */

static int parse(bench_options *o, int argc, ...){
  static char *argv[64];
  va_list ap;
  va_start(ap, argc);
  for(int i = 0; i < argc; i++) argv[i] = va_arg(ap, char*);
  va_end(ap);
  argv[argc] = 0;
  return bench_parse(argc, argv, o);
}

START_TEST(test_parse_defaults){
  bench_options o;
  ck_assert_int_eq(parse(&o, 2, "bench", "m.db"), 0);
  ck_assert_str_eq(o.model, "m.db");
  ck_assert_int_eq(o.prompt_tokens, 64);
  ck_assert_int_eq(o.gen_tokens, 64);
  ck_assert_int_eq(o.repeat, 5);
  ck_assert_int_eq(o.engine.threads, 0);
  ck_assert_int_eq(o.engine.budget, 0);
  ck_assert_int_eq(o.engine.policy, POLICY_OPT);
  ck_assert_int_eq(o.engine.no_prefetch, 0);
  ck_assert_int_eq(o.json, 0);
  ck_assert_int_eq(o.cgroup_limit, 0);
  ck_assert_int_eq(o.cgroup_limit_plus, 0);
  ck_assert_int_eq(o.n_sweep, 0);
  ck_assert_ptr_null(o.out);
  ck_assert_int_eq(o.probe_bytes, 512 * MIB);
  ck_assert_int_eq(o.keep_cache, 0);
  /* a sweep compares OPT with prefetch, LRU and the OS unless told otherwise */
  ck_assert_int_eq(o.n_variants, 3);
  ck_assert_str_eq(bench_variant_name(o.variants[0]), "opt+prefetch");
  ck_assert_str_eq(bench_variant_name(o.variants[1]), "lru");
  ck_assert_str_eq(bench_variant_name(o.variants[2]), "os");
}
END_TEST

START_TEST(test_parse_all){
  bench_options o;
  /* the model may come before, between or after the options */
  ck_assert_int_eq(parse(&o, 22, "bench", "--prompt-tokens", "16", "--gen-tokens", "8",
                         "--threads", "2", "m.db", "--budget", "280M", "--policy", "lru",
                         "--no-prefetch", "--repeat", "3", "--json", "--cgroup-limit", "320M",
                         "--probe-size", "64M", "--out", "docs/x"), 0);
  ck_assert_str_eq(o.model, "m.db");
  ck_assert_int_eq(o.prompt_tokens, 16);
  ck_assert_int_eq(o.gen_tokens, 8);
  ck_assert_int_eq(o.engine.threads, 2);
  ck_assert_int_eq(o.engine.budget, 280 * MIB);
  ck_assert_int_eq(o.engine.policy, POLICY_LRU);
  ck_assert_int_eq(o.engine.no_prefetch, 1);
  ck_assert_int_eq(o.repeat, 3);
  ck_assert_int_eq(o.json, 1);
  ck_assert_int_eq(o.cgroup_limit, 320 * MIB);
  ck_assert_int_eq(o.probe_bytes, 64 * MIB);
  ck_assert_str_eq(o.out, "docs/x");

  ck_assert_int_eq(parse(&o, 4, "bench", "--sweep", "150M,250M,350M,600M", "m.db"), 0);
  ck_assert_int_eq(o.n_sweep, 4);
  ck_assert_int_eq(o.sweep[0], 150 * MIB);
  ck_assert_int_eq(o.sweep[3], 600 * MIB);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--policy", "opt"), 0);
  ck_assert_int_eq(o.engine.policy, POLICY_OPT);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--threads", "1024"), 0);   /* bench's bound */
  ck_assert_int_eq(o.engine.threads, 1024);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--thr", "3"), 0);         /* GNU abbreviation */
  ck_assert_int_eq(o.engine.threads, 3);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--probe-size", "0"), 0);
  ck_assert_int_eq(o.probe_bytes, 0);
  ck_assert_int_eq(parse(&o, 3, "bench", "--keep-cache", "m.db"), 0);
  ck_assert_int_eq(o.keep_cache, 1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--policy", "os"), 0);
  ck_assert_int_eq(o.engine.policy, POLICY_OS);
  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--sweep", "1G", "--variants", "lru+prefetch,os,opt"), 0);
  ck_assert_int_eq(o.n_variants, 3);
  ck_assert_str_eq(bench_variant_name(o.variants[0]), "lru+prefetch");
  ck_assert_str_eq(bench_variant_name(o.variants[2]), "opt");
}
END_TEST

/* --cgroup-limit +SIZE: each budget's limit is the budget plus SIZE; a
** plain SIZE is every run's limit, as before. */
START_TEST(test_cgroup_limit_plus){
  bench_options o;
  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--sweep", "160M,220M,280M,380M",
                         "--cgroup-limit", "+40M"), 0);
  ck_assert_int_eq(o.cgroup_limit_plus, 1);
  ck_assert_int_eq(o.cgroup_limit, 40 * MIB);
  static const int64_t want[] = { 200, 260, 320, 420 };
  for(int i = 0; i < 4; i++) ck_assert_int_eq(bench_cgroup_limit(&o, o.sweep[i]), want[i] * MIB);
  ck_assert_int_eq(bench_cgroup_limit(&o, 0), 0);            /* no budget to add to */

  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--sweep", "160M,220M", "--cgroup-limit", "320M"), 0);
  ck_assert_int_eq(o.cgroup_limit_plus, 0);
  ck_assert_int_eq(bench_cgroup_limit(&o, 160 * MIB), 320 * MIB);
  ck_assert_int_eq(bench_cgroup_limit(&o, 0), 320 * MIB);    /* the OS variant's too */

  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--budget", "280M", "--cgroup-limit", "+1.5G"), 0);
  ck_assert_int_eq(bench_cgroup_limit(&o, o.engine.budget), 280 * MIB + 1536 * MIB);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--cgroup-limit", "0"), 0);
  ck_assert_int_eq(bench_cgroup_limit(&o, 280 * MIB), 0);

  /* +SIZE needs a budget to add to, and must be one size */
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--cgroup-limit", "+40M"), -1);
  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--budget", "1G", "--cgroup-limit", "+"), -1);
  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--budget", "1G", "--cgroup-limit", "++40M"), -1);
  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--budget", "1G", "--cgroup-limit", "+-40M"), -1);
  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--budget", "1G", "--cgroup-limit", "+40Q"), -1);
  ck_assert_int_eq(parse(&o, 6, "bench", "m.db", "--budget", "1G", "--cgroup-limit", "40M+"), -1);
}
END_TEST

START_TEST(test_variants){
  bench_variant v[BENCH_MAX_VARIANTS];
  ck_assert_int_eq(bench_parse_variants("opt+prefetch,opt,lru+prefetch,lru,os", v, BENCH_MAX_VARIANTS), 5);
  ck_assert_int_eq(v[0].policy, POLICY_OPT);
  ck_assert_int_eq(v[0].prefetch, 1);
  ck_assert_int_eq(v[3].policy, POLICY_LRU);
  ck_assert_int_eq(v[3].prefetch, 0);
  ck_assert_int_eq(v[4].policy, POLICY_OS);
  ck_assert_int_eq(v[4].prefetch, 0);
  static const char *const names[] = { "opt+prefetch", "opt", "lru+prefetch", "lru", "os" };
  for(int i = 0; i < 5; i++) ck_assert_str_eq(bench_variant_name(v[i]), names[i]);
  ck_assert_int_eq(bench_parse_variants("os", v, BENCH_MAX_VARIANTS), 1);
  ck_assert_int_eq(bench_parse_variants("", v, BENCH_MAX_VARIANTS), -1);
  ck_assert_int_eq(bench_parse_variants(0, v, BENCH_MAX_VARIANTS), -1);
  ck_assert_int_eq(bench_parse_variants("lru,", v, BENCH_MAX_VARIANTS), -1);
  ck_assert_int_eq(bench_parse_variants(",lru", v, BENCH_MAX_VARIANTS), -1);
  ck_assert_int_eq(bench_parse_variants("lru,lru", v, BENCH_MAX_VARIANTS), -1);   /* twice */
  ck_assert_int_eq(bench_parse_variants("fifo", v, BENCH_MAX_VARIANTS), -1);
  ck_assert_int_eq(bench_parse_variants("op", v, BENCH_MAX_VARIANTS), -1);        /* no prefixes */
  ck_assert_int_eq(bench_parse_variants("opt,lru,os", v, 2), -1);                 /* more than max */
}
END_TEST

/* ---- the rules, as pure functions ------------------------------------------------ */

START_TEST(test_cap_check){
  char why[300] = "";
  /* the example: 200M is below 190M plus ~24M */
  ck_assert_int_eq(bench_cap_check(200 * MIB, 190 * MIB, 24 * MIB, why, sizeof why), -1);
  ck_assert_msg(strstr(why, "cgroup limit 200.0 MB is below budget 190.0 MB plus tensql's overhead"
                            " of ~24.0 MB") != 0, "%s", why);
  ck_assert_int_eq(bench_cap_check(214 * MIB, 190 * MIB, 24 * MIB, why, sizeof why), 0);  /* just fits */
  ck_assert_int_eq(bench_cap_check(214 * MIB - 1, 190 * MIB, 24 * MIB, why, sizeof why), -1);
  ck_assert_int_eq(bench_cap_check(100 * MIB, 190 * MIB, 0, why, sizeof why), -1);        /* below the budget */
  /* no limit, or no budget (the OS variant), always passes */
  ck_assert_int_eq(bench_cap_check(0, 190 * MIB, 24 * MIB, why, sizeof why), 0);
  ck_assert_int_eq(bench_cap_check(1 * MIB, 0, 24 * MIB, why, sizeof why), 0);
}
END_TEST

START_TEST(test_probe_size){
  const int64_t probe = 512 * MIB, margin = BENCH_PROBE_MARGIN;
  ck_assert_int_eq(bench_probe_size(probe, 0, 0, -1), probe);              /* nothing to keep to */
  ck_assert_int_eq(bench_probe_size(probe, 280 * MIB, 0, -1), 280 * MIB);  /* the budget */
  ck_assert_int_eq(bench_probe_size(probe, 280 * MIB, 300 * MIB, -1), 300 * MIB - margin);  /* the limit */
  ck_assert_int_eq(bench_probe_size(probe, 0, 320 * MIB, -1), 320 * MIB - margin);
  ck_assert_int_eq(bench_probe_size(probe, 280 * MIB, 1024 * MIB, 100 * MIB), 100 * MIB - margin);  /* room */
  ck_assert_int_eq(bench_probe_size(64 * MIB, 280 * MIB, 320 * MIB, 1024 * MIB), 64 * MIB);  /* --probe-size */
  ck_assert_int_eq(bench_probe_size(probe, 0, 0, margin / 2), 0);        /* no room: no probe */
  ck_assert_int_eq(bench_probe_size(0, 280 * MIB, 0, -1), 0);            /* --probe-size 0 */
}
END_TEST

START_TEST(test_disk_limit){
  /* 2 GB/s over 250 MB a token: 8 tok/s; /proc/self/io's count first */
  ck_assert_double_eq_tol(bench_disk_limit(2e9, 250e6, 400e6), 8, 1e-9);
  ck_assert_double_eq_tol(bench_disk_limit(2e9, 0, 400e6), 5, 1e-9);      /* it counted nothing */
  ck_assert_double_eq_tol(bench_disk_limit(2e9, NAN, 400e6), 5, 1e-9);    /* or is unknown */
  ck_assert(isnan(bench_disk_limit(2e9, 0, 0)));                          /* the model fits */
  ck_assert(isnan(bench_disk_limit(2e9, NAN, NAN)));
  ck_assert(isnan(bench_disk_limit(NAN, 250e6, 250e6)));                  /* no disk probe */
  ck_assert(isnan(bench_disk_limit(-1, 250e6, 250e6)));
}
END_TEST

/* M - B': the model less the budget's room for tiles. */
START_TEST(test_read_optimum){
  ck_assert_double_eq_tol(bench_read_optimum(525000000, 400000000, 8000000), 133000000, 1e-3);
  ck_assert(isnan(bench_read_optimum(525000000, 0, 8000000)));           /* no budget */
  ck_assert(isnan(bench_read_optimum(525000000, 600000000, 8000000)));   /* the model fits */
  ck_assert(isnan(bench_read_optimum(525000000, 400000000, -1)));        /* state unknown */
  ck_assert(isnan(bench_read_optimum(-1, 400000000, 8000000)));
}
END_TEST

START_TEST(test_parse_errors){
  bench_options o;
  ck_assert_int_eq(parse(&o, 1, "bench"), -1);                                 /* no model */
  ck_assert_int_eq(parse(&o, 3, "bench", "a.db", "b.db"), -1);                 /* two */
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--repeat", "0"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--repeat", "1000"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--gen-tokens", "12x"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--prompt-tokens", "-3"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--threads", "0"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--threads", "1025"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--threads", "2x"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--policy", "fifo"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--budget", "lots"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--cgroup-limit", "-1M"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--sweep", "150M,,250M"), -1);
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--variants", "opt,fifo"), -1);
  ck_assert_int_eq(parse(&o, 3, "bench", "m.db", "--frobnicate"), -1);
  ck_assert_int_eq(parse(&o, 3, "bench", "m.db", "--budget"), -1);           /* no value */
  ck_assert_int_eq(parse(&o, 3, "bench", "m.db", "--help"), -1);
  /* and it still parses after failures (getopt state is reset) */
  ck_assert_int_eq(parse(&o, 4, "bench", "m.db", "--repeat", "2"), 0);
  ck_assert_int_eq(o.repeat, 2);
}
END_TEST

START_TEST(test_sizes){
  int64_t v[BENCH_MAX_SWEEP];
  ck_assert_int_eq(bench_parse_sizes("150M,250M,350M,600M", v, BENCH_MAX_SWEEP), 4);
  ck_assert_int_eq(v[0], 150 * MIB);
  ck_assert_int_eq(v[1], 250 * MIB);
  ck_assert_int_eq(v[2], 350 * MIB);
  ck_assert_int_eq(v[3], 600 * MIB);
  ck_assert_int_eq(bench_parse_sizes("1.5G", v, BENCH_MAX_SWEEP), 1);
  ck_assert_int_eq(v[0], 1536 * MIB);
  ck_assert_int_eq(bench_parse_sizes("64K,123456", v, BENCH_MAX_SWEEP), 2);
  ck_assert_int_eq(v[0], 65536);
  ck_assert_int_eq(v[1], 123456);
  ck_assert_int_eq(bench_parse_sizes("", v, BENCH_MAX_SWEEP), -1);
  ck_assert_int_eq(bench_parse_sizes(0, v, BENCH_MAX_SWEEP), -1);
  ck_assert_int_eq(bench_parse_sizes(",", v, BENCH_MAX_SWEEP), -1);
  ck_assert_int_eq(bench_parse_sizes("150M,", v, BENCH_MAX_SWEEP), -1);
  ck_assert_int_eq(bench_parse_sizes("150Q", v, BENCH_MAX_SWEEP), -1);
  ck_assert_int_eq(bench_parse_sizes("1M,2M,3M", v, 2), -1);     /* more than max */
}
END_TEST

/* ---- statistics ------------------------------------------------------------------ */

START_TEST(test_median){
  double odd[] = { 5, 1, 3 }, even[] = { 4, 1, 3, 2 }, holes[] = { NAN, 7, NAN, 1, 4 };
  double none[] = { NAN, NAN };
  ck_assert_double_eq(bench_median(odd, 3), 3);
  ck_assert_double_eq(bench_median(even, 4), 2.5);
  ck_assert_double_eq(bench_median(holes, 5), 4);        /* NaN = not measured: skipped */
  ck_assert_double_eq(bench_min(holes, 5), 1);
  ck_assert_double_eq(bench_max(holes, 5), 7);
  ck_assert_double_eq(bench_median(odd, 1), 5);
  ck_assert(isnan(bench_median(none, 2)));
  ck_assert(isnan(bench_min(none, 2)));
  ck_assert(isnan(bench_max(odd, 0)));
  /* the input is left as it was */
  ck_assert_double_eq(odd[0], 5);
  ck_assert_double_eq(even[0], 4);
}
END_TEST

/* ---- JSON --------------------------------------------------------------------------- */

static void result_fill(bench_result *r){
  memset(r, 0, sizeof *r);
  r->model = "dir/\"quoted\"\n.db";
  r->budget_bytes = r->sweep_budget = 280 * MIB;
  r->variant = (bench_variant){ POLICY_LRU, 0 };
  r->threads = 2;
  r->cgroup_limit = 0;
  r->n_repeat = 3;
  double prefill[] = { 100, 120, 110 }, decode[] = { 6, 5, 7 };
  for(int k = 0; k < BENCH_MAX_REPEAT; k++){
    r->prefill_tok_s[k] = r->decode_tok_s[k] = r->bytes_read_per_token[k] = NAN;
    r->disk_read_per_token[k] = r->hit_rate[k] = NAN;
    r->probe[k] = r->probe_1t[k] = r->probe_nt[k] = NAN;
  }
  for(int k = 0; k < 3; k++){
    r->prefill_tok_s[k] = prefill[k];
    r->decode_tok_s[k] = decode[k];
    r->bytes_read_per_token[k] = 250e6;
    r->disk_read_per_token[k] = 240e6;
    r->hit_rate[k] = 0.5;
    r->probe[k] = 10e9;
    r->probe_1t[k] = 9e9;
    r->probe_nt[k] = 10e9;
  }
  r->probe_nt_threads = 2;
  r->prompt_tokens = 64;
  r->decode_tokens = 15;
  r->peak_rss_bytes = 300000000;
  r->peak_charged_bytes = -1;            /* no cgroup: null */
  r->opened_charged_bytes = -1;
  r->cgroup = 0;
  r->probe_bytes = 280 * MIB;
  double disk[] = { 1.5e9, 2.5e9, 2e9 };   /* the probes around each repeat */
  for(int k = 0; k < 3; k++) r->disk_bytes_per_second[k] = disk[k];
  r->disk_direct = 1;
  strcpy(r->io, "direct");
  r->budget_peak_bytes = 290000000;
  r->statements_per_step = 460;
  r->model_bytes = 525120000;
  r->weight_bytes_per_token = 500000000;
  r->n_weight_types = 2;
  r->weights[0] = (bench_weights){ "q8_0", 340000000, 320000000 };   /* 8.5 bits */
  r->weights[1] = (bench_weights){ "q5_0", 165000000, 240000000 };   /* 5.5 bits */
  r->error = 0;
}

/* json_type of key in the JSON text: NULL if the key is missing. */
static char *json_type_of(sqlite3 *db, const char *json, const char *key){
  sqlite3_stmt *st;
  char path[128];
  snprintf(path, sizeof path, "$.%s", key);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT json_type(?1, ?2)", -1, &st, 0), SQLITE_OK);
  sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
  char *type = 0;
  if( sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) ){
    type = strdup((const char*)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  return type;
}

static double json_number(sqlite3 *db, const char *json, const char *key){
  sqlite3_stmt *st;
  char path[128];
  snprintf(path, sizeof path, "$.%s", key);
  sqlite3_prepare_v2(db, "SELECT json_extract(?1, ?2)", -1, &st, 0);
  sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
  double v = NAN;
  if( sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ){
    v = sqlite3_column_double(st, 0);
  }
  sqlite3_finalize(st);
  return v;
}

static void assert_key(sqlite3 *db, const char *json, const char *key, const char *type){
  char *t = json_type_of(db, json, key);
  ck_assert_msg(t != 0, "key %s missing from %s", key, json);
  ck_assert_msg(strcmp(t, type) == 0 || (strcmp(type, "real") == 0 && strcmp(t, "integer") == 0),
                "key %s is %s, expected %s", key, t, type);
  free(t);
}

/* The keys the issue asks for, and their JSON types when known. */
static const struct { const char *key, *type; } required_keys[] = {
  { "decode_tok_s", "real" }, { "decode_tok_s_min", "real" }, { "decode_tok_s_max", "real" },
  { "prefill_tok_s", "real" }, { "prefill_tok_s_min", "real" }, { "prefill_tok_s_max", "real" },
  { "peak_rss_bytes", "integer" }, { "peak_charged_bytes", "null" },
  { "bytes_read_per_token", "real" }, { "hit_rate", "real" },
  { "statements_per_step", "integer" }, { "probe_gb_s", "real" }, { "threads", "integer" },
  { "budget_bytes", "integer" }, { "policy", "text" }, { "prefetch", "false" },
  { "model_bytes", "integer" }, { "weight_bytes_per_token", "integer" },
  { "efficiency", "real" }, { "disk_read_bytes_per_token", "real" }, { "cgroup", "null" },
  { "prompt_tokens", "integer" }, { "decode_tokens", "integer" }, { "error", "null" },
  { "opened_charged_bytes", "null" }, { "probe_bytes", "integer" },
  { "sweep_budget_bytes", "integer" }, { "disk_gb_s", "real" }, { "disk_gb_s_min", "real" },
  { "disk_gb_s_max", "real" }, { "disk_direct", "true" },
  { "disk_limit_tok_s", "real" }, { "disk_efficiency", "real" }, { "io", "text" },
};

START_TEST(test_json_shape){
  bench_result r;
  result_fill(&r);
  char *json = bench_json(&r);
  ck_assert_ptr_nonnull(json);
  ck_assert_ptr_null(strchr(json, '\n'));        /* one object per line */
  sqlite3 *db;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  sqlite3_stmt *valid;
  sqlite3_prepare_v2(db, "SELECT json_valid(?1) AND json_type(?1) = 'object'", -1, &valid, 0);
  sqlite3_bind_text(valid, 1, json, -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(valid), SQLITE_ROW);
  ck_assert_msg(sqlite3_column_int(valid, 0) == 1, "not a JSON object: %s", json);
  sqlite3_finalize(valid);
  for(size_t i = 0; i < sizeof required_keys / sizeof required_keys[0]; i++){
    assert_key(db, json, required_keys[i].key, required_keys[i].type);
  }
  ck_assert_double_eq(json_number(db, json, "decode_tok_s"), 6);
  ck_assert_double_eq(json_number(db, json, "decode_tok_s_min"), 5);
  ck_assert_double_eq(json_number(db, json, "decode_tok_s_max"), 7);
  ck_assert_double_eq(json_number(db, json, "prefill_tok_s"), 110);
  ck_assert_double_eq(json_number(db, json, "probe_gb_s"), 10);
  ck_assert_double_eq(json_number(db, json, "threads"), 2);
  ck_assert_double_eq(json_number(db, json, "budget_bytes"), 280 * MIB);
  /* efficiency = decode tok/s x weight bytes per token / probe bytes/s */
  ck_assert_double_eq_tol(json_number(db, json, "efficiency"), 6 * 500e6 / 10e9, 1e-6);
  /* disk limit = the repeats' median disk bytes/s / disk bytes read per
  ** token; decode against it */
  ck_assert_double_eq_tol(json_number(db, json, "disk_gb_s"), 2, 1e-6);
  ck_assert_double_eq_tol(json_number(db, json, "disk_gb_s_min"), 1.5, 1e-6);
  ck_assert_double_eq_tol(json_number(db, json, "disk_gb_s_max"), 2.5, 1e-6);
  ck_assert_double_eq_tol(json_number(db, json, "disk_limit_tok_s"), 2e9 / 240e6, 1e-4);
  ck_assert_double_eq_tol(json_number(db, json, "disk_efficiency"), 6 / (2e9 / 240e6), 1e-4);
  /* bits a weight: 8 x bytes / weights, by type and over all */
  ck_assert_double_eq_tol(json_number(db, json, "bits_per_weight"), 8 * 505e6 / 560e6, 1e-5);
  ck_assert_double_eq_tol(json_number(db, json, "weights_by_type[0].bits_per_weight"), 8.5, 1e-6);
  ck_assert_double_eq_tol(json_number(db, json, "weights_by_type[1].bits_per_weight"), 5.5, 1e-6);
  ck_assert_double_eq(json_number(db, json, "weights_by_type[1].bytes_per_token"), 165e6);
  ck_assert_ptr_nonnull(strstr(json, "\"weights_by_type\":[{\"type\":\"q8_0\""));
  char *policy = 0;
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "SELECT json_extract(?1, '$.policy'), json_extract(?1, '$.model')", -1, &st, 0);
  sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  policy = strdup((const char*)sqlite3_column_text(st, 0));
  ck_assert_str_eq((const char*)sqlite3_column_text(st, 1), "dir/\"quoted\"\n.db");
  sqlite3_finalize(st);
  ck_assert_str_eq(policy, "lru");
  free(policy);
  assert_key(db, json, "cpus", "null");           /* not held */
  free(json);
  strcpy(r.cpus, "0,2");
  json = bench_json(&r);
  ck_assert_ptr_nonnull(strstr(json, "\"cpus\":\"0,2\""));
  free(json);

  /* nothing measured: still valid JSON, the figures null */
  result_fill(&r);
  for(int k = 0; k < 3; k++) r.decode_tok_s[k] = r.probe[k] = NAN;
  r.peak_charged_bytes = 123;
  r.cgroup = "v1";
  r.error = "killed by the OOM killer";
  json = bench_json(&r);
  assert_key(db, json, "decode_tok_s", "null");
  assert_key(db, json, "efficiency", "null");
  assert_key(db, json, "probe_gb_s", "null");
  assert_key(db, json, "peak_charged_bytes", "integer");
  assert_key(db, json, "cgroup", "text");
  assert_key(db, json, "error", "text");
  assert_key(db, json, "disk_efficiency", "null");        /* no decode */
  free(json);

  /* the model fits: nothing read, so no disk limit; no disk probe, no io column */
  result_fill(&r);
  for(int k = 0; k < 3; k++) r.bytes_read_per_token[k] = r.disk_read_per_token[k] = 0;
  for(int k = 0; k < 3; k++) r.disk_bytes_per_second[k] = NAN;
  r.disk_direct = -1;
  r.io[0] = 0;
  json = bench_json(&r);
  assert_key(db, json, "disk_limit_tok_s", "null");
  assert_key(db, json, "disk_efficiency", "null");
  assert_key(db, json, "disk_gb_s", "null");
  assert_key(db, json, "disk_direct", "null");
  assert_key(db, json, "io", "null");
  free(json);

  /* the OS variant: policy 'os', no budget, its row's budget kept */
  result_fill(&r);
  r.variant = (bench_variant){ POLICY_OS, 0 };
  r.budget_bytes = 0;
  r.disk_direct = 0;
  json = bench_json(&r);
  ck_assert_ptr_nonnull(strstr(json, "\"policy\":\"os\",\"prefetch\":false"));
  ck_assert_double_eq(json_number(db, json, "budget_bytes"), 0);
  ck_assert_double_eq(json_number(db, json, "sweep_budget_bytes"), 280 * MIB);
  assert_key(db, json, "disk_direct", "false");
  free(json);
  sqlite3_close(db);
}
END_TEST

/* ---- the probe ----------------------------------------------------------------------- */

START_TEST(test_probe_positive){
  double one = probe_read_bandwidth(8 << 20, 1, 2);
  ck_assert_msg(one > 0, "probe on 1 thread gave %g", one);
  for(int threads = 2; threads <= 3; threads++){
    double rate = probe_read_bandwidth(4 << 20, threads, 1);
    ck_assert_msg(rate > 0, "threads %d: %g", threads, rate);
  }
  /* an odd size is trimmed to whole slices, not overrun */
  ck_assert(probe_read_bandwidth((1 << 20) + 77, 3, 1) > 0);
  ck_assert(probe_read_bandwidth(16, 1, 1) < 0);
  ck_assert(probe_uses_avx2() == 0 || probe_uses_avx2() == 1);
}
END_TEST

/* Four streams side by side must still read every word once: a slip in
** their offsets would read less (and report more bandwidth) unseen. */
START_TEST(test_probe_sums_every_word){
  const size_t most = 48 * PROBE_UNIT;
  uint64_t *buf = aligned_alloc(64, most);
  ck_assert_ptr_nonnull(buf);
  for(size_t i = 0; i < most / 8; i++) buf[i] = (i + 1) * 0x9e3779b97f4a7c15u;
  for(size_t bytes = PROBE_UNIT; bytes <= most; bytes += PROBE_UNIT){
    uint64_t want = 0;
    for(size_t i = 0; i < bytes / 8; i++) want += buf[i];
    for(int avx2 = 0; avx2 <= probe_uses_avx2(); avx2++){
      ck_assert_msg(probe_sum(buf, bytes, avx2) == want, "%zu bytes, avx2 %d", bytes, avx2);
    }
  }
  free(buf);
}
END_TEST

/* Resident bytes of this process (VmRSS). */
static long long rss_bytes(void){
  return test_proc_number("/proc/self/status", "VmRSS:") * 1024;
}

/* bench probes in the conductor, between the worker's runs: its buffer
** must be gone afterwards, or a probe in the worker's process would count
** in the peak memory the worker reports. */
START_TEST(test_probe_leaves_nothing_resident){
  const size_t bytes = 64 << 20;
  long long before = rss_bytes(), slack = 4 << 20;
#ifdef __SANITIZE_ADDRESS__
  slack += bytes / 8;   /* the buffer's shadow can stay (seen: 9.3 MB in all) */
#endif
  ck_assert(probe_read_bandwidth(bytes, 2, 1) > 0);
  long long grown = rss_bytes() - before;
  ck_assert_msg(before > 0 && grown < slack, "RSS grew by %lld bytes", grown);
}
END_TEST

/* ---- the disk probe ----------------------------------------------------------------- */

/* A file of `bytes` bytes of a pattern at path. */
static void write_file(const char *path, size_t bytes){
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  char block[4096];
  for(size_t i = 0; i < sizeof block; i++) block[i] = (char)(i * 7);
  for(size_t done = 0; done < bytes; ){
    size_t n = bytes - done < sizeof block ? bytes - done : sizeof block;
    ck_assert_int_eq(write(fd, block, n), (ssize_t)n);
    done += n;
  }
  ck_assert_int_eq(close(fd), 0);
}

/* Every byte once, whether the end falls on a request, a block or neither,
** and whichever reader takes the last request; direct where the file
** system allows, buffered when forced (the fallback's path). */
START_TEST(test_disk_probe){
  const char *path = test_tmp_path("bench_disk_probe.bin");
  static const size_t sizes[] = { 0, 1, 4096, DISK_REQUEST, 5 * DISK_REQUEST + 12345 };
  for(size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++){
    write_file(path, sizes[i]);
    for(int buffered = 0; buffered <= 1; buffered++){
      disk_probe d;
      ck_assert_msg(disk_read_bandwidth(path, 1ll << 30, buffered, &d) == 0, "%zu bytes: %s", sizes[i], d.why);
      ck_assert_int_eq(d.bytes, (int64_t)sizes[i]);
      ck_assert(d.bytes_per_second >= 0);
      if( buffered ) ck_assert_int_eq(d.direct, 0);
      else ck_assert_msg(d.direct || strstr(d.why, "O_DIRECT"), "neither direct nor said why: %s", d.why);
    }
  }
  /* the first max_bytes only */
  disk_probe d;
  ck_assert_int_eq(disk_read_bandwidth(path, 2 * DISK_REQUEST + 100, 0, &d), 0);
  ck_assert_int_eq(d.bytes, 2 * DISK_REQUEST + 100);
  unlink(path);
  ck_assert_int_eq(disk_read_bandwidth(path, 1ll << 30, 0, &d), -1);
  ck_assert_msg(strstr(d.why, "bench_disk_probe.bin") != 0, "%s", d.why);     /* names the file */
}
END_TEST

/* ---- the command, end to end on stories260K (no timing asserted) -------------------- */

static const char *stories_db(void){
  static char path[1024];
  char err[512];
  snprintf(path, sizeof path, "%s", test_tmp_path("bench_stories260K.db"));
  unlink(path);
  import_options opt = { .dtype = -1 };
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.gguf"), path, &opt,
                             err, sizeof err) == 0, "%s", err);
  return path;
}

/* Run bench_command with stdout into out_path; its exit code. */
static int run_bench(const char *out_path, int argc, char **argv){
  fflush(stdout);
  int saved = dup(1);
  int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  dup2(fd, 1);
  close(fd);
  int rc = bench_command(argc, argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  return rc;
}

START_TEST(test_command_json){
  const char *model = stories_db();
  const char *out = test_tmp_path("bench_out.jsonl");
  char *argv[] = { "bench", (char*)model, "--json", "--repeat", "2", "--prompt-tokens", "8",
                   "--gen-tokens", "5", "--probe-size", "1M", "--keep-cache", 0 };
  ck_assert_int_eq(run_bench(out, 12, argv), 0);
  char *text = test_read_file(out, 0);
  char *nl = strchr(text, '\n');
  ck_assert_ptr_nonnull(nl);
  ck_assert_msg(nl[1] == 0, "one line expected: %s", text);
  *nl = 0;
  sqlite3 *db;
  sqlite3_open(":memory:", &db);
  for(size_t i = 0; i < sizeof required_keys / sizeof required_keys[0]; i++){
    char *t = json_type_of(db, text, required_keys[i].key);
    ck_assert_msg(t != 0, "key %s missing from %s", required_keys[i].key, text);
    free(t);
  }
  assert_key(db, text, "error", "null");
  ck_assert_double_eq(json_number(db, text, "prompt_tokens"), 8);
  ck_assert_double_eq(json_number(db, text, "repeat"), 2);
  ck_assert(json_number(db, text, "decode_tok_s") > 0);
  ck_assert(json_number(db, text, "prefill_tok_s") > 0);
  ck_assert(json_number(db, text, "statements_per_step") > 0);
  ck_assert(json_number(db, text, "peak_rss_bytes") > 0);
  ck_assert(json_number(db, text, "probe_gb_s") > 0);
  double weights = json_number(db, text, "weight_bytes_per_token");
  double all = json_number(db, text, "model_bytes");
  ck_assert(weights > 0 && weights <= all);
  /* the same weights by type: f32 (4 bytes a weight) here, as one type */
  ck_assert_double_eq(json_number(db, text, "weights_by_type[0].bytes_per_token"), weights);
  ck_assert_double_eq_tol(json_number(db, text, "bits_per_weight"), 32, 1e-9);
  ck_assert_ptr_null(json_type_of(db, text, "weights_by_type[1]"));
  /* no budget: after the warm-up every tile is resident */
  ck_assert_double_eq(json_number(db, text, "bytes_read_per_token"), 0);
  ck_assert_double_eq(json_number(db, text, "hit_rate"), 1);
  /* one thread: held to the first CPU this process may use, if it may use
  ** two or more */
  ck_assert_double_eq(json_number(db, text, "threads"), 1);
  cpu_set_t allowed;
  ck_assert_int_eq(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  if( CPU_COUNT(&allowed) > 1 ){
    int first = 0;
    while( !CPU_ISSET(first, &allowed) ) first++;
    char want[32];
    snprintf(want, sizeof want, "\"cpus\":\"%d\"", first);
    ck_assert_msg(strstr(text, want) != 0, "%s not in %s", want, text);
  }else{
    assert_key(db, text, "cpus", "null");
  }
  sqlite3_close(db);
  free(text);
}
END_TEST

START_TEST(test_command_sweep){
  const char *model = stories_db();
  const char *out = test_tmp_path("bench_sweep.jsonl");
  char prefix[1024];
  snprintf(prefix, sizeof prefix, "%s", test_tmp_path("bench_sweep"));
  char *argv[] = { "bench", (char*)model, "--json", "--repeat", "1", "--prompt-tokens", "4",
                   "--gen-tokens", "3", "--probe-size", "0", "--sweep", "600K,2M",
                   "--out", prefix, "--keep-cache", "--cgroup-limit", "+40M", 0 };
  ck_assert_int_eq(run_bench(out, 18, argv), 0);
  char *text = test_read_file(out, 0);
  int lines = 0;
  for(char *p = text; *p; p++) lines += *p == '\n';
  ck_assert_int_eq(lines, 6);                     /* 2 budgets x 3 variants */
  ck_assert_ptr_nonnull(strstr(text, "\"policy\":\"lru\",\"prefetch\":false"));
  ck_assert_ptr_nonnull(strstr(text, "\"policy\":\"opt\",\"prefetch\":true"));
  /* the OS variant: no budget, under its row's limit (whether or not the
  ** engine has the policy yet: then its line carries the error) */
  ck_assert_ptr_nonnull(strstr(text, "\"budget_bytes\":0,\"sweep_budget_bytes\":614400,"
                                     "\"policy\":\"os\",\"prefetch\":false"));
  ck_assert_ptr_nonnull(strstr(text, "\"probe_gb_s\":null"));   /* --probe-size 0 */
  ck_assert_ptr_nonnull(strstr(text, "\"disk_direct\":"));
  char path[1100];
  struct stat st;
  snprintf(path, sizeof path, "%s.tsv", prefix);
  ck_assert_int_eq(stat(path, &st), 0);
  char *tsv = test_read_file(path, 0);
  ck_assert(strncmp(tsv, "budget_bytes\tpolicy\tprefetch\tdecode_tok_s", 41) == 0);
  ck_assert_ptr_nonnull(strstr(tsv, "\tdisk_gb_s\tdisk_direct\tdisk_limit_tok_s\tdisk_efficiency\t"));
  lines = 0;
  for(char *p = tsv; *p; p++) lines += *p == '\n';
  ck_assert_int_eq(lines, 7);
  snprintf(path, sizeof path, "%s.md", prefix);
  ck_assert_int_eq(stat(path, &st), 0);
  char *md = test_read_file(path, 0);
  ck_assert_ptr_nonnull(strstr(md, "| budget MiB | variant | cgroup limit MiB |"));
  ck_assert_ptr_nonnull(strstr(md, "| disk limit tok/s | of disk limit |"));
  ck_assert_ptr_nonnull(strstr(md, "| os (no budget) |"));
  snprintf(path, sizeof path, "%s.gp", prefix);
  ck_assert_int_eq(stat(path, &st), 0);
  char *gp = test_read_file(path, 0);
  ck_assert_ptr_nonnull(strstr(gp, "title 'OS (page cache)'"));
  ck_assert_ptr_nonnull(strstr(gp, "title 'OPT + prefetch: disk limit'"));
  free(text);
  free(tsv);
  free(md);
  free(gp);
}
END_TEST

/* A limit too small for the budget is refused before the run, with the
** reason as the error, never found by the OOM killer; where no memory
** cgroup can be made the limit is not applied, so neither is the check. */
START_TEST(test_command_cap_refused){
  const char *model = stories_db();
  const char *out = test_tmp_path("bench_cap.jsonl");
  char *argv[] = { "bench", (char*)model, "--json", "--repeat", "1", "--prompt-tokens", "4",
                   "--gen-tokens", "3", "--probe-size", "0", "--budget", "2M",
                   "--cgroup-limit", "+1M", "--keep-cache", 0 };
  int rc = run_bench(out, 15, argv);
  char *text = test_read_file(out, 0);
  sqlite3 *db;
  sqlite3_open(":memory:", &db);
  char *error = json_type_of(db, text, "error");
  ck_assert_ptr_nonnull(error);
  if( strcmp(error, "null") == 0 ){
    assert_key(db, text, "cgroup", "null");
    ck_assert_int_eq(rc, 0);
  }else{
    ck_assert_int_eq(rc, 1);                       /* its only configuration failed */
    ck_assert_msg(strstr(text, "cgroup limit 3.0 MB is below budget 2.0 MB plus tensql's overhead")
                  != 0, "%s", text);
    ck_assert_ptr_null(strstr(text, "OOM"));
    assert_key(db, text, "decode_tok_s", "null");
    ck_assert_double_eq(json_number(db, text, "cgroup_limit_bytes"), 3 * MIB);
  }
  free(error);
  sqlite3_close(db);
  free(text);
}
END_TEST

static Suite *bench_suite(void){
  Suite *s = suite_create("bench");
  TCase *tc = tcase_create("bench");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_options_count);
  tcase_add_test(tc, test_options_policy);
  tcase_add_test(tc, test_options_engine);
  tcase_add_test(tc, test_parse_defaults);
  tcase_add_test(tc, test_parse_all);
  tcase_add_test(tc, test_parse_errors);
  tcase_add_test(tc, test_sizes);
  tcase_add_test(tc, test_cgroup_limit_plus);
  tcase_add_test(tc, test_variants);
  tcase_add_test(tc, test_cap_check);
  tcase_add_test(tc, test_probe_size);
  tcase_add_test(tc, test_disk_limit);
  tcase_add_test(tc, test_read_optimum);
  tcase_add_test(tc, test_median);
  tcase_add_test(tc, test_json_shape);
  tcase_add_test(tc, test_probe_positive);
  tcase_add_test(tc, test_probe_sums_every_word);
  tcase_add_test(tc, test_probe_leaves_nothing_resident);
  tcase_add_test(tc, test_disk_probe);
  tcase_add_test(tc, test_command_json);
  tcase_add_test(tc, test_command_sweep);
  tcase_add_test(tc, test_command_cap_refused);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(bench_suite)
