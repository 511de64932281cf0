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
** How it works: every configuration runs in a child process of its own, a
** fresh state for the process-wide budget, a fresh VmHWM, and a cgroup that
** holds nothing else.  The parent creates the cgroup (a child of its own
** memory cgroup), forks, moves the child in, and then conducts: the child
** opens the model, sets tensql_budget(), tensql_policy(), tensql_prefetch()
** (and tensql_threads() if the engine has it), runs a warm-up generate that
** records the prefill and decode schedules, and waits (the benchmark's own
** queries, for the prompt and the figures of the model, run on a connection
** closed before the warm-up); for each repeat the parent runs the probe
** while the children sleep, then lets one child run one generate.  The
** probe's buffer lives in the parent, outside the children's cgroups, and
** is unmapped before the child runs.  The configurations of one budget
** (the four variants of a sweep) run side by side, one repeat of each in
** turn, so the machine's swings fall on all of them alike: compare them by
** ratios within a run.
** Before each budget the OS page cache is dropped when running as root
** (unless --keep-cache).  The child, not this process, joins the group,
** so nothing has to move back: the group is removed once it has exited.
** When the children are done, the parent reads the cgroup's peak and
** removes the group; a child killed by the cgroup's OOM killer is reported
** as such and the others go on.
**
** Sections: options, statistics, JSON, the worker (child), the conductor
** (parent), reports and plots, the command.  The cgroup code is cgroup.c;
** /proc, the page cache and the CPUs are host.c; bench_internal.h declares
** them.
*/
#include "bench.h"
#include "bench_internal.h"
#include "clock.h"
#include "database.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memory/budget.h"
#include "model.h"
#include "options.h"
#include "probe.h"
#include "tensql.h"
#include "tokenizer/tokenizer.h"

/* ---- options ------------------------------------------------------------------ */

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

/* ---- statistics ------------------------------------------------------------------ */

static int compare_double(const void *a, const void *b){
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* The n values that are not NaN, sorted, into out; their count. */
static int sorted_values(const double *v, int n, double *out){
  int k = 0;
  for(int i = 0; i < n; i++) if( !isnan(v[i]) ) out[k++] = v[i];
  qsort(out, (size_t)k, sizeof *out, compare_double);
  return k;
}

double bench_median(const double *v, int n){
  double s[BENCH_MAX_REPEAT];
  if( n > BENCH_MAX_REPEAT ) n = BENCH_MAX_REPEAT;
  int k = sorted_values(v, n, s);
  if( k == 0 ) return NAN;
  return k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
}

double bench_min(const double *v, int n){
  double s[BENCH_MAX_REPEAT];
  if( n > BENCH_MAX_REPEAT ) n = BENCH_MAX_REPEAT;
  return sorted_values(v, n, s) ? s[0] : NAN;
}

double bench_max(const double *v, int n){
  double s[BENCH_MAX_REPEAT];
  if( n > BENCH_MAX_REPEAT ) n = BENCH_MAX_REPEAT;
  int k = sorted_values(v, n, s);
  return k ? s[k - 1] : NAN;
}

/* The figures reports are made of, derived once from a result. */
typedef struct bench_summary {
  double prefill, prefill_min, prefill_max, decode, decode_min, decode_max;
  double bytes_read, disk_read, hit_rate;
  double probe, probe_min, probe_max, probe_1t, probe_nt;   /* GB/s */
  double efficiency;
} bench_summary;

static void summarize(const bench_result *r, bench_summary *s){
  int n = r->n_repeat;
  s->prefill = bench_median(r->prefill_tok_s, n);
  s->prefill_min = bench_min(r->prefill_tok_s, n);
  s->prefill_max = bench_max(r->prefill_tok_s, n);
  s->decode = bench_median(r->decode_tok_s, n);
  s->decode_min = bench_min(r->decode_tok_s, n);
  s->decode_max = bench_max(r->decode_tok_s, n);
  s->bytes_read = bench_median(r->bytes_read_per_token, n);
  s->disk_read = bench_median(r->disk_read_per_token, n);
  s->hit_rate = bench_median(r->hit_rate, n);
  s->probe = bench_median(r->probe, n) / 1e9;
  s->probe_min = bench_min(r->probe, n) / 1e9;
  s->probe_max = bench_max(r->probe, n) / 1e9;
  s->probe_1t = bench_median(r->probe_1t, n) / 1e9;
  s->probe_nt = bench_median(r->probe_nt, n) / 1e9;
  s->efficiency = r->weight_bytes_per_token > 0 && s->probe > 0
                ? s->decode * (double)r->weight_bytes_per_token / (s->probe * 1e9) : NAN;
}

/* ---- JSON ------------------------------------------------------------------------- */

static void json_number(FILE *f, const char *key, double v){
  if( isnan(v) || isinf(v) ) fprintf(f, ",\"%s\":null", key);
  else fprintf(f, ",\"%s\":%.6g", key, v);
}

static void json_count(FILE *f, const char *key, int64_t v){
  if( v < 0 ) fprintf(f, ",\"%s\":null", key);
  else fprintf(f, ",\"%s\":%lld", key, (long long)v);
}

static void json_string(FILE *f, const char *key, const char *s){
  fprintf(f, ",\"%s\":", key);
  if( s == 0 ){
    fputs("null", f);
    return;
  }
  fputc('"', f);
  for(const unsigned char *p = (const unsigned char*)s; *p; p++){
    if( *p == '"' || *p == '\\' ) fprintf(f, "\\%c", *p);
    else if( *p < 0x20 ) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

char *bench_json(const bench_result *r){
  char *text = 0;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if( f == 0 ) return 0;
  bench_summary s;
  summarize(r, &s);
  fprintf(f, "{\"decode_tok_s\":");
  if( isnan(s.decode) ) fputs("null", f);
  else fprintf(f, "%.6g", s.decode);
  json_number(f, "decode_tok_s_min", s.decode_min);
  json_number(f, "decode_tok_s_max", s.decode_max);
  json_number(f, "prefill_tok_s", s.prefill);
  json_number(f, "prefill_tok_s_min", s.prefill_min);
  json_number(f, "prefill_tok_s_max", s.prefill_max);
  json_count(f, "peak_rss_bytes", r->peak_rss_bytes);
  json_count(f, "peak_charged_bytes", r->peak_charged_bytes);
  json_string(f, "cgroup", r->cgroup);
  json_count(f, "cgroup_limit_bytes", r->cgroup_limit > 0 ? r->cgroup_limit : -1);
  json_count(f, "budget_peak_bytes", r->budget_peak_bytes);
  json_number(f, "bytes_read_per_token", s.bytes_read);
  json_number(f, "disk_read_bytes_per_token", s.disk_read);
  json_number(f, "hit_rate", s.hit_rate);
  json_count(f, "statements_per_step", r->statements_per_step);
  json_number(f, "probe_gb_s", s.probe);
  json_number(f, "probe_gb_s_min", s.probe_min);
  json_number(f, "probe_gb_s_max", s.probe_max);
  json_number(f, "probe_1t_gb_s", s.probe_1t);
  json_number(f, "probe_nt_gb_s", s.probe_nt);
  json_count(f, "probe_nt_threads", r->probe_nt_threads);
  json_count(f, "threads", r->threads);
  json_string(f, "cpus", r->cpus[0] ? r->cpus : 0);
  json_count(f, "budget_bytes", r->budget_bytes);
  json_string(f, "policy", r->policy_lru ? "lru" : "opt");
  fprintf(f, ",\"prefetch\":%s", r->prefetch ? "true" : "false");
  json_count(f, "model_bytes", r->model_bytes);
  json_count(f, "weight_bytes_per_token", r->weight_bytes_per_token);
  json_number(f, "efficiency", s.efficiency);
  json_count(f, "prompt_tokens", r->prompt_tokens);
  json_count(f, "decode_tokens", r->decode_tokens);
  json_count(f, "repeat", r->n_repeat);
  json_string(f, "model", r->model);
  json_string(f, "error", r->error);
  fputc('}', f);
  if( fclose(f) ){
    free(text);
    return 0;
  }
  return text;
}

/* ---- the worker (child) -------------------------------------------------------------- */

/* One configuration to measure. */
typedef struct bench_config {
  int64_t budget;
  int lru, prefetch;
} bench_config;

/* Child to parent, one message per write (smaller than PIPE_BUF, so whole). */
enum { MSG_READY = 1, MSG_REPEAT, MSG_DONE, MSG_ERROR };
typedef struct worker_msg {
  int kind;
  /* READY */
  int threads, threads_available;
  int64_t statements, model_bytes, weight_bytes, prompt_tokens;
  /* REPEAT */
  double prefill_tok_s, decode_tok_s, bytes_read_per_token, disk_read_per_token, hit_rate;
  int64_t decode_tokens;
  /* DONE */
  int64_t peak_rss, budget_peak;
  char text[1024];           /* ERROR: why; READY: a warning or "" */
} worker_msg;

/* Parent to child: one byte. */
enum { CMD_START = 's', CMD_GO = 'g', CMD_QUIT = 'q' };

typedef struct worker_state {
  sqlite3 *db;
  sqlite3_stmt *generate;    /* pos FROM generate; ?1 prompt, ?2 max_tokens */
  sqlite3_stmt *stats;       /* hits, misses, bytes_read FROM tile_stats */
  char *prompt;              /* sqlite3_malloc'd; bound to generate */
} worker_state;

static int64_t query_int(sqlite3 *db, const char *sql, int64_t fallback){
  sqlite3_stmt *st = 0;
  int64_t v = fallback;
  if( sqlite3_prepare_v2(db, sql, -1, &st, 0) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW
   && sqlite3_column_type(st, 0) != SQLITE_NULL ) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Text of exactly `target` tokens: a run of one repeated word cut to
** target tokens and decoded, checked by tokenizing it again.  NULL if no
** filler gives exactly target. */
static char *prompt_of_tokens(sqlite3 *db, int target){
  static const char *const fillers[] = { " the", " hello", " a", "x", " 1" };
  sqlite3_stmt *cut = 0, *count = 0;
  char *found = 0;
  if( sqlite3_prepare_v2(db, "SELECT detokenize((SELECT json_group_array(value) FROM"
        " (SELECT value FROM json_each(tokenize(?1)) LIMIT ?2)))", -1, &cut, 0)
   || sqlite3_prepare_v2(db, "SELECT json_array_length(tokenize(?1))", -1, &count, 0) ){
    goto done;
  }
  for(size_t f = 0; found == 0 && f < sizeof fillers / sizeof fillers[0]; f++){
    sqlite3_str *s = sqlite3_str_new(0);
    for(int i = 0; i < target + 8; i++) sqlite3_str_appendall(s, fillers[f]);
    char *run = sqlite3_str_finish(s);
    if( run == 0 ) break;
    sqlite3_bind_text(cut, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_int(cut, 2, target);
    if( sqlite3_step(cut) == SQLITE_ROW ){
      const char *text = (const char*)sqlite3_column_text(cut, 0);
      sqlite3_bind_text(count, 1, text, -1, SQLITE_STATIC);
      if( text && sqlite3_step(count) == SQLITE_ROW && sqlite3_column_int(count, 0) == target ){
        found = sqlite3_mprintf("%s", text);
      }
      sqlite3_reset(count);
    }
    sqlite3_reset(cut);
    sqlite3_free(run);
  }
done:
  sqlite3_finalize(cut);
  sqlite3_finalize(count);
  return found;
}

typedef struct tile_counts { int64_t hits, misses, bytes_read, disk_read; } tile_counts;

static void snapshot(worker_state *w, tile_counts *c){
  c->hits = c->misses = c->bytes_read = -1;
  if( sqlite3_step(w->stats) == SQLITE_ROW ){
    c->hits = sqlite3_column_int64(w->stats, 0);
    c->misses = sqlite3_column_int64(w->stats, 1);
    c->bytes_read = sqlite3_column_int64(w->stats, 2);
  }
  sqlite3_reset(w->stats);
  c->disk_read = host_proc_value("/proc/self/io", "read_bytes");
}

/* One generate of max_tokens from the prompt, timed.  Returns 0, or -1
** with the message in m->text. */
static int worker_generate(worker_state *w, int max_tokens, worker_msg *m){
  tile_counts first = {0}, last = {0};
  /* generate reuses the KV cache of a prompt it has seen: forget it, or
  ** every repeat after the first would prefill one position. */
  sqlite3_exec(w->db, "SELECT tensql_reset()", 0, 0, 0);
  sqlite3_bind_text(w->generate, 1, w->prompt, -1, SQLITE_STATIC);
  sqlite3_bind_int(w->generate, 2, max_tokens);
  int64_t rows = 0, positions = 0;
  double t0 = clock_seconds(), t1 = 0, t_last = 0;
  int rc;
  while( (rc = sqlite3_step(w->generate)) == SQLITE_ROW ){
    t_last = clock_seconds();
    if( rows++ == 0 ){
      t1 = t_last;
      positions = sqlite3_column_int64(w->generate, 0);
      snapshot(w, &first);
    }else{
      snapshot(w, &last);
    }
  }
  sqlite3_reset(w->generate);
  if( rc != SQLITE_DONE ){
    bench_format(m->text, sizeof m->text, "generate: %s", sqlite3_errmsg(w->db));
    return -1;
  }
  m->prompt_tokens = positions;
  m->decode_tokens = rows > 0 ? rows - 1 : 0;
  m->prefill_tok_s = rows ? positions / (t1 - t0) : NAN;
  m->decode_tok_s = m->bytes_read_per_token = m->disk_read_per_token = m->hit_rate = NAN;
  if( rows > 1 ){
    double n = (double)(rows - 1);
    m->decode_tok_s = n / (t_last - t1);
    if( first.bytes_read >= 0 && last.bytes_read >= 0 ){
      m->bytes_read_per_token = (last.bytes_read - first.bytes_read) / n;
      int64_t pins = (last.hits - first.hits) + (last.misses - first.misses);
      if( pins > 0 ) m->hit_rate = (double)(last.hits - first.hits) / (double)pins;
    }
    if( first.disk_read >= 0 && last.disk_read >= 0 ){
      m->disk_read_per_token = (last.disk_read - first.disk_read) / n;
    }
  }
  return 0;
}

/* The benchmark's own queries, on a connection of their own that is closed
** before the measured runs: what they leave allocated (4 MB on
** Qwen2.5-0.5B) would count in the worker's peak memory.  Sets the program
** and weight figures of m; returns the prompt of `target` tokens, or NULL. */
static char *worker_describe(const char *model, int target, worker_msg *m){
  sqlite3 *db = 0;
  char *prompt = 0;
  m->statements = m->model_bytes = m->weight_bytes = -1;
  if( database_open(model, &db, SQLITE_OPEN_READONLY, 0) == SQLITE_OK
   && tensql_register(db) == SQLITE_OK ){
    m->statements = query_int(db, "SELECT count(*) FROM program", -1);
    m->model_bytes = query_int(db, "SELECT sum(bytes) FROM tensors", -1);
    m->weight_bytes = query_int(db,
        "SELECT sum(t.bytes) FROM tensors t WHERE EXISTS (SELECT 1 FROM program p"
        " WHERE instr(p.sql, 'matmul(') AND instr(p.sql, '\"' || t.name || '\"'))", -1);
    prompt = prompt_of_tokens(db, target);
  }
  sqlite3_close(db);
  return prompt;
}

/* Open the model with the configuration set, build the prompt and warm
** up.  0, or -1 with the message in m->text. */
static int worker_setup(const bench_options *o, const bench_config *cfg, worker_state *w,
                        worker_msg *m){
  char err[512];
  /* generate adds BOS itself when the model wants one */
  model *shared = model_open(o->model, err, sizeof err);
  if( shared == 0 ){
    bench_format(m->text, sizeof m->text, "%s", err);
    return -1;
  }
  int bos = tokenizer_add_bos(shared->tokenizer) && tokenizer_bos(shared->tokenizer) >= 0;
  if( database_open(o->model, &w->db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK
   || tensql_register(w->db) != SQLITE_OK ){
    bench_format(m->text, sizeof m->text, "%s: %s", o->model, sqlite3_errmsg(w->db));
    model_release(shared);
    return -1;
  }
  model_release(shared);   /* the connection holds its own reference */
  sqlite3 *db = w->db;

  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT tensql_budget(?1), tensql_policy(?2), tensql_prefetch(?3)",
                              -1, &st, 0);
  if( rc == SQLITE_OK ){
    sqlite3_bind_int64(st, 1, cfg->budget);
    sqlite3_bind_text(st, 2, cfg->lru ? "lru" : "opt", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, cfg->prefetch);
    rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_OK ){
    bench_format(m->text, sizeof m->text, "setting the budget: %s", sqlite3_errmsg(db));
    return -1;
  }

  /* threads: through tensql_threads() when the engine has a worker pool */
  m->threads = 1;
  m->threads_available = 0;
  st = 0;
  if( sqlite3_prepare_v2(db, o->engine.threads ? "SELECT tensql_threads(?1)" : "SELECT tensql_threads()",
                         -1, &st, 0) == SQLITE_OK ){
    if( o->engine.threads ) sqlite3_bind_int(st, 1, o->engine.threads);
    if( sqlite3_step(st) == SQLITE_ROW ){
      m->threads_available = 1;
      m->threads = sqlite3_column_int(st, 0) > 0 ? sqlite3_column_int(st, 0) : 1;
    }else{
      bench_format(m->text, sizeof m->text, "tensql_threads(%d): %s", o->engine.threads, sqlite3_errmsg(db));
      sqlite3_finalize(st);
      return -1;
    }
  }
  sqlite3_finalize(st);
  /* before the kernels' threads start, since they take this thread's CPUs */
  cpu_set_t held, allowed;
  if( host_run_cpus(m->threads, &held, &allowed) ) sched_setaffinity(0, sizeof held, &held);

  int target = o->prompt_tokens - bos;
  if( target < 1 ){
    bench_format(m->text, sizeof m->text, "--prompt-tokens %d leaves no room after BOS", o->prompt_tokens);
    return -1;
  }
  w->prompt = worker_describe(o->model, target, m);
  if( w->prompt == 0 ){
    bench_format(m->text, sizeof m->text, "cannot build a prompt of exactly %d tokens", target);
    return -1;
  }
  if( sqlite3_prepare_v2(db, "SELECT pos FROM generate WHERE prompt = ?1 AND max_tokens = ?2"
                         " AND temperature = 0 AND seed = 0", -1, &w->generate, 0)
   || sqlite3_prepare_v2(db, "SELECT hits, misses, bytes_read FROM tile_stats", -1, &w->stats, 0) ){
    bench_format(m->text, sizeof m->text, "%s", sqlite3_errmsg(db));
    return -1;
  }
  /* Warm-up: records the prefill and decode schedules (the first step of
  ** each kind), so the measured steps follow them. */
  worker_msg warm = {0};
  if( worker_generate(w, 2, &warm) ){
    bench_format(m->text, sizeof m->text, "warm-up: %s", warm.text);
    return -1;
  }
  m->prompt_tokens = warm.prompt_tokens;
  if( warm.prompt_tokens != o->prompt_tokens ){
    bench_format(m->text, sizeof m->text, "the prompt came to %lld positions, not %d",
             (long long)warm.prompt_tokens, o->prompt_tokens);
  }
  return 0;
}

static int send_msg(int fd, const worker_msg *m){
  return write(fd, m, sizeof *m) == (ssize_t)sizeof *m ? 0 : -1;
}

/* The child's whole life: never returns. */
static void worker_main(const bench_options *o, const bench_config *cfg, int in, int out){
  worker_state w = {0};
  worker_msg m = {0};
  char cmd = 0;
  /* wait until the parent has moved this process into its cgroup */
  if( read(in, &cmd, 1) != 1 || cmd != CMD_START ) _exit(1);
  m.kind = worker_setup(o, cfg, &w, &m) ? MSG_ERROR : MSG_READY;
  send_msg(out, &m);
  while( m.kind != MSG_ERROR && read(in, &cmd, 1) == 1 && cmd == CMD_GO ){
    memset(&m, 0, sizeof m);
    m.kind = worker_generate(&w, o->gen_tokens, &m) ? MSG_ERROR : MSG_REPEAT;
    send_msg(out, &m);
  }
  if( m.kind != MSG_ERROR ){
    memset(&m, 0, sizeof m);
    m.kind = MSG_DONE;
    m.budget_peak = query_int(w.db, "SELECT peak_total_bytes FROM tile_stats", -1);
    int64_t kb = host_proc_value("/proc/self/status", "VmHWM");
    m.peak_rss = kb >= 0 ? kb * 1024 : -1;
    send_msg(out, &m);
  }
  sqlite3_finalize(w.generate);
  sqlite3_finalize(w.stats);
  sqlite3_free(w.prompt);
  sqlite3_close(w.db);
  _exit(0);
}

/* ---- the conductor (parent) ------------------------------------------------------------ */

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

static void bench_interrupted(int sig){
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

/* Fork the worker for r's configuration, in a cgroup of its own, and wait
** for it to be warm. */
static void worker_start(const bench_options *o, const cgroup_env *cg, worker *w, bench_result *r){
  int down[2], up[2];
  char why[700];
  memset(w, 0, sizeof *w);
  w->r = r;
  w->pid = -1;
  w->to = w->from = -1;
  if( cg->kind ){
    if( cgroup_create(cg, w->cgroup, sizeof w->cgroup, o->cgroup_limit, why, sizeof why) ){
      fprintf(stderr, "tensql bench: %s; peak charged memory will be null\n", why);
      w->cgroup[0] = 0;
    }
  }
  if( pipe(down) ){
    fail(w, "cannot make a pipe");
    return;
  }
  if( pipe(up) ){
    close(down[0]);
    close(down[1]);
    fail(w, "cannot make a pipe");
    return;
  }
  bench_config cfg = { r->budget_bytes, r->policy_lru, r->prefetch };
  fflush(0);
  w->pid = fork();
  if( w->pid == 0 ){
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
    worker_main(o, &cfg, down[0], up[1]);
  }
  close(down[0]);
  close(up[1]);
  w->to = down[1];
  w->from = up[0];
  if( w->pid < 0 ){
    fail(w, "cannot fork");
    return;
  }
  live_workers[n_live_workers++] = w;
  if( w->cgroup[0] && cgroup_enter(w->cgroup, w->pid) ){
    fprintf(stderr, "tensql bench: cannot move the worker into %s: %s\n", w->cgroup, strerror(errno));
    rmdir(w->cgroup);
    w->cgroup[0] = 0;
  }
  r->cgroup = w->cgroup[0] ? (cg->kind == 1 ? "v1" : "v2") : 0;
  char cmd = CMD_START;
  worker_msg m;
  if( write(w->to, &cmd, 1) != 1 || read_msg(w, &m) ){
    fail(w, "the worker died while warming up");
    return;
  }
  if( m.kind == MSG_ERROR ){
    fail(w, m.text);
    return;
  }
  w->alive = 1;
  r->threads = m.threads;
  host_run_cpus_text(r->threads, r->cpus, sizeof r->cpus);
  r->statements_per_step = m.statements;
  r->model_bytes = m.model_bytes;
  r->weight_bytes_per_token = m.weight_bytes;
  r->prompt_tokens = m.prompt_tokens;
  static int threads_said;
  if( o->engine.threads > 1 && !m.threads_available && !threads_said++ ){
    fprintf(stderr, "tensql bench: threading is not available (this engine has no"
            " tensql_threads()); running on 1 thread\n");
  }
  if( m.text[0] ) fprintf(stderr, "tensql bench: %s\n", m.text);
}

/* Bytes/s at `threads` threads, or NAN. */
static double probe_at(const bench_options *o, int threads){
  double rate = probe_read_bandwidth((size_t)o->probe_bytes, threads, 3);
  return rate > 0 ? rate : NAN;
}

/* The probe before a repeat, at 1 thread, the worker's threads and all
** CPUs; the first two on the run's CPUs when it is held to some. */
static void probe_before(const bench_options *o, bench_result *r, int k){
  r->probe[k] = r->probe_1t[k] = r->probe_nt[k] = NAN;
  if( o->probe_bytes <= 0 ) return;
  int all = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if( all < 1 ) all = 1;
  cpu_set_t held, allowed;
  int hold = host_run_cpus(r->threads, &held, &allowed)
          && sched_setaffinity(0, sizeof held, &held) == 0;
  r->probe_1t[k] = probe_at(o, 1);
  r->probe[k] = r->threads == 1 ? r->probe_1t[k] : probe_at(o, r->threads);
  if( hold ) sched_setaffinity(0, sizeof allowed, &allowed);
  r->probe_nt[k] = r->threads == all ? r->probe[k] : probe_at(o, all);
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

/* Measure n configurations side by side: one repeat of each in turn, the
** probe before each. */
static void bench_group(const bench_options *o, const cgroup_env *cg, bench_result *r, int n){
  worker w[MAX_WORKERS];
  if( !o->keep_cache ) host_drop_page_cache();
  n_live_workers = 0;
  for(int i = 0; i < n; i++) worker_start(o, cg, &w[i], &r[i]);
  for(int k = 0; k < o->repeat; k++){
    for(int i = 0; i < n; i++){
      if( !w[i].alive ) continue;
      worker_msg m;
      char cmd = CMD_GO;
      probe_before(o, &r[i], k);
      if( write(w[i].to, &cmd, 1) != 1 || read_msg(&w[i], &m) ){
        fail(&w[i], "the worker died");
        continue;
      }
      if( m.kind == MSG_ERROR ){
        fail(&w[i], m.text);
        continue;
      }
      r[i].prefill_tok_s[k] = m.prefill_tok_s;
      r[i].decode_tok_s[k] = m.decode_tok_s;
      r[i].bytes_read_per_token[k] = m.bytes_read_per_token;
      r[i].disk_read_per_token[k] = m.disk_read_per_token;
      r[i].hit_rate[k] = m.hit_rate;
      r[i].decode_tokens = m.decode_tokens;
      r[i].n_repeat = k + 1;
    }
  }
  for(int i = 0; i < n; i++){
    worker_msg m;
    char cmd = CMD_QUIT;
    if( w[i].alive && write(w[i].to, &cmd, 1) == 1 && read_msg(&w[i], &m) == 0
     && m.kind == MSG_DONE ){
      r[i].peak_rss_bytes = m.peak_rss;
      r[i].budget_peak_bytes = m.budget_peak;
    }
    worker_finish(cg, &w[i]);
  }
  n_live_workers = 0;
}

/* ---- reports and plots -------------------------------------------------------------- */

static const char *variant_name(const bench_result *r){
  static const char *const names[] = { "opt", "opt+prefetch", "lru", "lru+prefetch" };
  return names[r->policy_lru * 2 + r->prefetch];
}

static double mib(double bytes){ return bytes / (1024.0 * 1024.0); }

/* "12.3" or "-" */
static const char *fmt(char *buf, size_t len, const char *format, double v){
  if( isnan(v) ) bench_format(buf, len, "-");
  else bench_format(buf, len, format, v);
  return buf;
}

static void report_text(FILE *f, const bench_result *r){
  bench_summary s;
  char a[32], b[32], c[32], d[32];
  summarize(r, &s);
  if( r->budget_bytes ) budget_format((uint64_t)r->budget_bytes, a, sizeof a);
  fprintf(f, "%s, budget %s, %s, %d thread%s, %d repeats\n", r->model,
          r->budget_bytes ? a : "none",
          variant_name(r), r->threads, r->threads == 1 ? "" : "s", r->n_repeat);
  if( r->error ) fprintf(f, "  FAILED: %s\n", r->error);
  fprintf(f, "  prefill  %3lld tokens  %s tok/s (min %s, max %s)\n", (long long)r->prompt_tokens,
          fmt(a, sizeof a, "%.2f", s.prefill), fmt(b, sizeof b, "%.2f", s.prefill_min),
          fmt(c, sizeof c, "%.2f", s.prefill_max));
  fprintf(f, "  decode   %3lld tokens  %s tok/s (min %s, max %s)\n", (long long)r->decode_tokens,
          fmt(a, sizeof a, "%.2f", s.decode), fmt(b, sizeof b, "%.2f", s.decode_min),
          fmt(c, sizeof c, "%.2f", s.decode_max));
  fprintf(f, "  reads    %s MiB/token from tiles, %s MiB/token from disk; hit rate %s\n",
          fmt(a, sizeof a, "%.1f", mib(s.bytes_read)), fmt(b, sizeof b, "%.1f", mib(s.disk_read)),
          fmt(c, sizeof c, "%.3f", s.hit_rate));
  fprintf(f, "  memory   peak RSS %s MiB; peak charged %s MiB (%s%s%s); budget peak %s MiB\n",
          fmt(a, sizeof a, "%.1f", r->peak_rss_bytes >= 0 ? mib((double)r->peak_rss_bytes) : NAN),
          fmt(b, sizeof b, "%.1f", r->peak_charged_bytes >= 0 ? mib((double)r->peak_charged_bytes) : NAN),
          r->cgroup ? "cgroup " : "no cgroup", r->cgroup ? r->cgroup : "",
          r->cgroup_limit ? fmt(c, sizeof c, ", limit %.0f MiB", mib((double)r->cgroup_limit)) : "",
          fmt(d, sizeof d, "%.1f", r->budget_peak_bytes >= 0 ? mib((double)r->budget_peak_bytes) : NAN));
  fprintf(f, "  program  %lld statements per step; %s MiB of weights per token (%s MiB of tensors)\n",
          (long long)r->statements_per_step,
          fmt(a, sizeof a, "%.1f", mib((double)r->weight_bytes_per_token)),
          fmt(b, sizeof b, "%.1f", mib((double)r->model_bytes)));
  fprintf(f, "  probe    %s GB/s at %d thread%s%s%s (1 thread %s, %d threads %s); efficiency %s\n",
          fmt(a, sizeof a, "%.1f", s.probe), r->threads, r->threads == 1 ? "" : "s",
          r->cpus[0] ? (strchr(r->cpus, ',') ? " on CPUs " : " on CPU ") : "", r->cpus,
          fmt(b, sizeof b, "%.1f", s.probe_1t), r->probe_nt_threads, fmt(c, sizeof c, "%.1f", s.probe_nt),
          fmt(d, sizeof d, "%.3f", s.efficiency));
}

/* Decode tok/s of LRU without prefetch at r's budget, for ratios. */
static double lru_decode(const bench_result *all, int n, const bench_result *r){
  for(int i = 0; i < n; i++){
    if( all[i].budget_bytes == r->budget_bytes && all[i].policy_lru && !all[i].prefetch ){
      return bench_median(all[i].decode_tok_s, all[i].n_repeat);
    }
  }
  return NAN;
}

static void table_markdown(FILE *f, const bench_result *r, int n){
  fprintf(f, "| budget MiB | policy | decode tok/s | min-max | x LRU | prefill tok/s | MiB read/token"
             " | disk MiB/token | hit rate | peak RSS MiB | peak charged MiB | probe GB/s | efficiency |\n");
  fprintf(f, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for(int i = 0; i < n; i++){
    bench_summary s;
    char v[12][32];
    summarize(&r[i], &s);
    double ratio = s.decode / lru_decode(r, n, &r[i]);
    if( isnan(s.decode_min) ) bench_format(v[1], 32, "-");
    else bench_format(v[1], 32, "%.2f-%.2f", s.decode_min, s.decode_max);
    fprintf(f, "| %.4g | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            mib((double)r[i].budget_bytes), variant_name(&r[i]),
            fmt(v[0], 32, "%.2f", s.decode), v[1], fmt(v[3], 32, "%.2f", ratio),
            fmt(v[4], 32, "%.1f", s.prefill), fmt(v[5], 32, "%.1f", mib(s.bytes_read)),
            fmt(v[6], 32, "%.1f", mib(s.disk_read)), fmt(v[7], 32, "%.3f", s.hit_rate),
            fmt(v[8], 32, "%.0f", r[i].peak_rss_bytes >= 0 ? mib((double)r[i].peak_rss_bytes) : NAN),
            fmt(v[9], 32, "%.0f", r[i].peak_charged_bytes >= 0 ? mib((double)r[i].peak_charged_bytes) : NAN),
            fmt(v[10], 32, "%.1f", s.probe), fmt(v[11], 32, "%.3f", s.efficiency));
  }
  int notes = 0;
  for(int i = 0; i < n; i++){
    if( r[i].error == 0 ) continue;
    fprintf(f, "%s- %.4g MiB, %s failed: %s\n", notes++ ? "" : "\n", mib((double)r[i].budget_bytes),
            variant_name(&r[i]), r[i].error);
  }
}

static void table_tsv(FILE *f, const bench_result *r, int n){
  fprintf(f, "budget_bytes\tpolicy\tprefetch\tdecode_tok_s\tdecode_tok_s_min\tdecode_tok_s_max"
             "\tprefill_tok_s\tprefill_tok_s_min\tprefill_tok_s_max\tbytes_read_per_token"
             "\tdisk_read_bytes_per_token\thit_rate\tpeak_rss_bytes\tpeak_charged_bytes"
             "\tprobe_gb_s\tefficiency\terror\n");
  for(int i = 0; i < n; i++){
    bench_summary s;
    summarize(&r[i], &s);
    fprintf(f, "%lld\t%s\t%d\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t%.0f\t%.0f\t%.4f\t%lld\t%lld\t%.3g\t%.4g\t%s\n",
            (long long)r[i].budget_bytes, r[i].policy_lru ? "lru" : "opt", r[i].prefetch,
            s.decode, s.decode_min, s.decode_max, s.prefill, s.prefill_min, s.prefill_max,
            s.bytes_read, s.disk_read, s.hit_rate, (long long)r[i].peak_rss_bytes,
            (long long)r[i].peak_charged_bytes, s.probe, s.efficiency, r[i].error ? r[i].error : "");
  }
}

/* The gnuplot script, data inline, so `gnuplot NAME.gp` in its directory
** redraws NAME.png. */
static void plot_script(FILE *f, const char *name, const bench_result *r, int n, const char *title){
  static const int order[][2] = { { 0, 1 }, { 0, 0 }, { 1, 1 }, { 1, 0 } };   /* lru, prefetch */
  static const char *const labels[] = { "OPT + prefetch", "OPT", "LRU + prefetch", "LRU" };
  fprintf(f, "# %s.gp: written by tensql bench --sweep; run `gnuplot %s.gp` here to redraw %s.png\n",
          name, name, name);
  for(int v = 0; v < 4; v++){
    fprintf(f, "$v%d << EOD\n# budget_MiB decode_tok_s min max MiB_read_per_token\n", v);
    for(int i = 0; i < n; i++){
      if( r[i].policy_lru != order[v][0] || r[i].prefetch != order[v][1] ) continue;
      bench_summary s;
      summarize(&r[i], &s);
      if( isnan(s.decode) ) continue;
      fprintf(f, "%.4g %.4g %.4g %.4g %.2f\n", mib((double)r[i].budget_bytes), s.decode,
              s.decode_min, s.decode_max, mib(s.bytes_read));
    }
    fprintf(f, "EOD\n");
  }
  double weights = 0;
  for(int i = 0; i < n; i++) weights = fmax(weights, mib((double)r[i].weight_bytes_per_token));
  fprintf(f, "set terminal pngcairo size 1100,440 font 'sans,10'\n"
             "set output '%s.png'\n"
             "set termoption noenhanced\n"
             "set multiplot layout 1,2 title \"%s\"\n"
             "set grid\nset key top left\nset xlabel 'budget (MiB)'\n"
             "set logscale y\nset ylabel 'decode tokens/s, log scale (median; bars: min-max)'\n"
             "plot", name, title);
  for(int v = 0; v < 4; v++){
    fprintf(f, "%s $v%d using 1:2:3:4 with yerrorlines lw 2 title '%s'", v ? "," : "", v, labels[v]);
  }
  fprintf(f, "\nunset logscale y\nset yrange [0:*]\n"
             "set ylabel 'MiB read per decode token'\nset key top right\n"
             "W = %.2f\nplot", weights);
  for(int v = 0; v < 4; v++){
    fprintf(f, "%s $v%d using 1:5 with linespoints lw 2 title '%s'", v ? "," : "", v, labels[v]);
  }
  fprintf(f, ", (W - x > 0 ? W - x : 0) with lines dt 2 lc 'black' title 'optimum: weights - budget'\n"
             "unset multiplot\n");
}

/* Run gnuplot on dir/name.gp in dir.  0, or -1. */
static int run_gnuplot(const char *dir, const char *gp){
  pid_t pid = fork();
  if( pid == 0 ){
    int null = open("/dev/null", O_WRONLY);
    if( null >= 0 ) dup2(null, 1);
    if( chdir(dir) == 0 ) execlp("gnuplot", "gnuplot", gp, (char*)0);
    _exit(127);
  }
  int status;
  if( pid < 0 || waitpid(pid, &status, 0) < 0 ) return -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* PREFIX.tsv, PREFIX.md and, for two budgets or more, PREFIX.gp and .png. */
static int write_sweep(const bench_options *o, const bench_result *r, int n, int argc, char **argv){
  const char *prefix = o->out ? o->out : "budget_sweep";
  const bench_result *ok = r;          /* one that ran, for the figures all share */
  for(int i = 0; i < n; i++) if( r[i].error == 0 ){ ok = &r[i]; break; }
  char dir[1024], path[1100], title[512];
  const char *slash = strrchr(prefix, '/');
  const char *name = slash ? slash + 1 : prefix;
  bench_format(dir, sizeof dir, "%.*s", slash ? (int)(slash - prefix) : 1, slash ? prefix : ".");
  if( dir[0] == 0 ) bench_format(dir, sizeof dir, "/");
  bench_format(title, sizeof title, "%s: %lld-token prompt, %d generated, %d repeats, %d thread%s%s",
           o->model, (long long)o->prompt_tokens, o->gen_tokens, o->repeat, ok->threads,
           ok->threads == 1 ? "" : "s", o->cgroup_limit ? ", cgroup limit" : "");

  bench_format(path, sizeof path, "%s.tsv", prefix);
  FILE *f = fopen(path, "w");
  if( f == 0 ) goto fail;
  table_tsv(f, r, n);
  if( fclose(f) ) goto fail;

  bench_format(path, sizeof path, "%s.md", prefix);
  if( (f = fopen(path, "w")) == 0 ) goto fail;
  time_t now = time(0);
  char date[64];
  strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
  fprintf(f, "# Memory budget sweep\n\nDecode speed and bytes read per decode token against the"
             " memory budget, for Belady's OPT and LRU eviction, each with and without the"
             " prefetch thread.  Written by `tensql bench` on %s; regenerate with"
             " `docs/make_plots.sh`.\n\n", date);
  fprintf(f, "- command: `tensql");
  for(int i = 0; i < argc; i++) fprintf(f, " %s", argv[i]);
  fprintf(f, "`\n- model: `%s`, %.1f MiB of tensors; a decode step streams %.1f MiB of"
             " weights (every tensor a `matmul` statement names; tied embeddings once)\n",
          o->model, mib((double)ok->model_bytes), mib((double)ok->weight_bytes_per_token));
  fprintf(f, "- %lld-token prompt, %d tokens generated (%lld decode steps timed), median of %d"
             " repeats; kernels on %d thread%s; %ld CPUs\n",
          (long long)ok->prompt_tokens, o->gen_tokens, (long long)ok->decode_tokens, o->repeat,
          ok->threads, ok->threads == 1 ? "" : "s", sysconf(_SC_NPROCESSORS_ONLN));
  fprintf(f, "- peak charged: the cgroup (%s) the measuring process ran in, page cache"
             " included%s\n", ok->cgroup ? ok->cgroup : "none available",
          o->cgroup_limit ? "; the group's limit was set too" : "");
  if( o->cgroup_limit ) fprintf(f, "- cgroup limit: %.0f MiB\n", mib((double)o->cgroup_limit));
  fprintf(f, "- the variants of one budget ran side by side, one repeat of each in turn, with"
             " the bandwidth probe before each; compare them by the `x LRU` ratio\n\n");
  if( o->n_sweep > 1 ) fprintf(f, "![decode tok/s and MiB read per token against the budget](%s.png)\n\n", name);
  table_markdown(f, r, n);
  if( fclose(f) ) goto fail;

  if( o->n_sweep > 1 ){
    bench_format(path, sizeof path, "%s.gp", prefix);
    if( (f = fopen(path, "w")) == 0 ) goto fail;
    plot_script(f, name, r, n, title);
    if( fclose(f) ) goto fail;
    bench_format(path, sizeof path, "%s.gp", name);
    if( run_gnuplot(dir, path) ){
      fprintf(stderr, "tensql bench: gnuplot failed or is not installed; %s.gp is written,"
              " %s.png is not\n", prefix, prefix);
    }
  }
  fprintf(stderr, "tensql bench: wrote %s.tsv, %s.md%s\n", prefix, prefix,
          o->n_sweep > 1 ? ", .gp and .png" : "");
  return 0;
fail:
  fprintf(stderr, "tensql bench: cannot write %s: %s\n", path, strerror(errno));
  return 1;
}

/* ---- the command ----------------------------------------------------------------------- */

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
  signal(SIGINT, bench_interrupted);
  signal(SIGTERM, bench_interrupted);

  /* a sweep: the four variants at each budget; else the one asked for */
  int per_group = o.n_sweep ? 4 : 1, groups = o.n_sweep ? o.n_sweep : 1;
  bench_result *all = calloc((size_t)(per_group * groups), sizeof *all);
  if( all == 0 ) return 1;
  static const int variants[4][2] = { { 0, 1 }, { 0, 0 }, { 1, 1 }, { 1, 0 } };  /* lru, prefetch */
  int failed = 0;
  for(int g = 0; g < groups; g++){
    bench_result *r = all + g * per_group;
    if( o.n_sweep ){
      for(int v = 0; v < 4; v++) result_init(&r[v], &o, o.sweep[g], variants[v][0], variants[v][1]);
    }else{
      result_init(r, &o, o.engine.budget, o.engine.policy_lru, !o.engine.no_prefetch);
    }
    bench_group(&o, &cg, r, per_group);
    for(int i = 0; i < per_group; i++){
      report(&o, &r[i]);
      if( r[i].error ) failed++;
    }
  }
  int rc = failed == per_group * groups ? 1 : 0;
  if( o.n_sweep ){
    if( !o.json ){
      printf("\n");
      table_markdown(stdout, all, per_group * groups);
    }
    if( write_sweep(&o, all, per_group * groups, argc, argv) ) rc = 1;
  }
  for(int i = 0; i < per_group * groups; i++) free((char*)all[i].error);
  free(all);
  return rc;
}
