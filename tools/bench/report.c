/*
** report.c: what `tensql bench` prints and writes.
**
**   bench_json(r)                   one JSON line per configuration (--json)
**   report_text(stdout, r)          the same figures for a reader
**   report_markdown(f, all, n)      a sweep's table, one row per budget and variant
**   report_sweep(o, all, n, ...)    PREFIX.tsv, PREFIX.md and, for two budgets or
**                                   more, PREFIX.gp (gnuplot, data inline) and PREFIX.png
**
** Every figure comes from bench_summarize() (statistics.c); an unknown one
** is null in JSON and "-" in the tables.  The JSON keys are listed in
** docs/bench.md; change them there too.
*/
#include "bench_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "disk.h"
#include "memory/budget.h"

/* ---- JSON ------------------------------------------------------------------------- */

static void json_number(FILE *f, const char *key, double v){
  if( isnan(v) || isinf(v) ) fprintf(f, ",\"%s\":null", key);
  else fprintf(f, ",\"%s\":%.6g", key, v);
}

static void json_count(FILE *f, const char *key, int64_t v){
  if( v < 0 ) fprintf(f, ",\"%s\":null", key);
  else fprintf(f, ",\"%s\":%lld", key, (long long)v);
}

static void json_bool(FILE *f, const char *key, int v){
  fprintf(f, ",\"%s\":%s", key, v < 0 ? "null" : v ? "true" : "false");
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

/* Bits a weight of w, or NaN. */
static double bits_per_weight(const bench_weights *w){
  return w->count > 0 ? 8.0 * (double)w->bytes / (double)w->count : NAN;
}

/* The weights of all types together. */
static bench_weights weights_total(const bench_result *r){
  bench_weights all = { "all", 0, 0 };
  for(int i = 0; i < r->n_weight_types; i++){
    all.bytes += r->weights[i].bytes;
    all.count += r->weights[i].count;
  }
  return all;
}

/* "weights_by_type":[{"type":"q5_0","bytes_per_token":N,"bits_per_weight":X},...] */
static void json_weights(FILE *f, const bench_result *r){
  bench_weights all = weights_total(r);
  json_number(f, "bits_per_weight", bits_per_weight(&all));
  fprintf(f, ",\"weights_by_type\":[");
  for(int i = 0; i < r->n_weight_types; i++){
    fprintf(f, "%s{\"type\":\"%s\"", i ? "," : "", r->weights[i].type);
    json_count(f, "bytes_per_token", r->weights[i].bytes);
    json_number(f, "bits_per_weight", bits_per_weight(&r->weights[i]));
    fputc('}', f);
  }
  fputc(']', f);
}

char *bench_json(const bench_result *r){
  char *text = 0;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if( f == 0 ) return 0;
  bench_summary s;
  bench_summarize(r, &s);
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
  json_count(f, "opened_charged_bytes", r->opened_charged_bytes);
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
  json_count(f, "probe_bytes", r->probe_bytes);
  json_count(f, "budget_bytes", r->budget_bytes);
  json_count(f, "sweep_budget_bytes", r->sweep_budget);
  json_string(f, "policy", budget_policy_name(r->variant.policy));
  json_bool(f, "prefetch", r->variant.prefetch);
  json_count(f, "model_bytes", r->model_bytes);
  json_count(f, "weight_bytes_per_token", r->weight_bytes_per_token);
  json_weights(f, r);
  json_number(f, "efficiency", s.efficiency);
  json_number(f, "disk_gb_s", s.disk);
  json_number(f, "disk_gb_s_min", s.disk_min);
  json_number(f, "disk_gb_s_max", s.disk_max);
  json_bool(f, "disk_direct", r->disk_direct);
  json_number(f, "disk_limit_tok_s", s.disk_limit);
  json_number(f, "disk_efficiency", s.disk_efficiency);
  json_count(f, "state_bytes", r->state_bytes);
  json_number(f, "optimal_read_bytes_per_token", s.read_optimum);
  json_number(f, "read_ratio", s.read_ratio);
  json_string(f, "io", r->io[0] ? r->io : 0);
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

/* ---- text and tables -------------------------------------------------------------- */

static const char *variant_name(const bench_result *r){
  return bench_variant_name(r->variant);
}

/* A variant as the plot's key names it. */
static const char *variant_label(bench_variant v){
  static const char *const labels[] = {
    "OPT", "OPT + prefetch", "LRU", "LRU + prefetch", "OS (page cache)", "OS (page cache) + prefetch"
  };
  int i = v.policy * 2 + (v.prefetch != 0);
  return i >= 0 && i < (int)(sizeof labels / sizeof labels[0]) ? labels[i] : "?";
}

static double mib(double bytes){ return bytes / (1024.0 * 1024.0); }

/* "12.3" or "-" */
static const char *fmt(char *buf, size_t len, const char *format, double v){
  if( isnan(v) ) bench_format(buf, len, "-");
  else bench_format(buf, len, format, v);
  return buf;
}

/* "  weights  5.23 bits a weight: q5_0 165.1 MiB (5.50 bits), q8_0 ...",
** or nothing if the types are unknown. */
static void text_weights(FILE *f, const bench_result *r){
  if( r->n_weight_types == 0 ) return;
  bench_weights all = weights_total(r);
  fprintf(f, "  weights  %.2f bits a weight:", bits_per_weight(&all));
  for(int i = 0; i < r->n_weight_types; i++){
    fprintf(f, "%s %s %.1f MiB (%.2f bits)", i ? "," : "", r->weights[i].type,
            mib((double)r->weights[i].bytes), bits_per_weight(&r->weights[i]));
  }
  fputc('\n', f);
}

void report_text(FILE *f, const bench_result *r){
  bench_summary s;
  char a[32], b[32], c[32], d[32], e[32];
  bench_summarize(r, &s);
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
  fprintf(f, "  memory   peak RSS %s MiB; peak charged %s MiB (%s%s%s); budget peak %s MiB;"
             " opened %s MiB\n",
          fmt(a, sizeof a, "%.1f", r->peak_rss_bytes >= 0 ? mib((double)r->peak_rss_bytes) : NAN),
          fmt(b, sizeof b, "%.1f", r->peak_charged_bytes >= 0 ? mib((double)r->peak_charged_bytes) : NAN),
          r->cgroup ? "cgroup " : "no cgroup", r->cgroup ? r->cgroup : "",
          r->cgroup_limit ? fmt(c, sizeof c, ", limit %.0f MiB", mib((double)r->cgroup_limit)) : "",
          fmt(d, sizeof d, "%.1f", r->budget_peak_bytes >= 0 ? mib((double)r->budget_peak_bytes) : NAN),
          fmt(e, sizeof e, "%.1f", r->opened_charged_bytes >= 0 ? mib((double)r->opened_charged_bytes) : NAN));
  fprintf(f, "  program  %lld statements per step; %s MiB of weights per token (%s MiB of tensors)\n",
          (long long)r->statements_per_step,
          fmt(a, sizeof a, "%.1f", mib((double)r->weight_bytes_per_token)),
          fmt(b, sizeof b, "%.1f", mib((double)r->model_bytes)));
  text_weights(f, r);
  fprintf(f, "  probe    %s GB/s at %d thread%s%s%s (1 thread %s, %d threads %s); efficiency %s\n",
          fmt(a, sizeof a, "%.1f", s.probe), r->threads, r->threads == 1 ? "" : "s",
          r->cpus[0] ? (strchr(r->cpus, ',') ? " on CPUs " : " on CPU ") : "", r->cpus,
          fmt(b, sizeof b, "%.1f", s.probe_1t), r->probe_nt_threads, fmt(c, sizeof c, "%.1f", s.probe_nt),
          fmt(d, sizeof d, "%.3f", s.efficiency));
  fprintf(f, "  disk     %s GB/s%s; limit %s tok/s at %s MiB/token (%s of M - B'), decode at %s of it;"
             " tiles read %s\n",
          fmt(a, sizeof a, "%.2f", s.disk),
          r->disk_direct == 0 ? " (buffered: no O_DIRECT)" : r->disk_direct > 0 ? " (O_DIRECT)" : "",
          fmt(b, sizeof b, "%.2f", s.disk_limit), fmt(c, sizeof c, "%.1f", mib(s.read_per_token)),
          fmt(e, sizeof e, "%.3f", s.read_ratio), fmt(d, sizeof d, "%.2f", s.disk_efficiency), r->io[0] ? r->io : "(not reported)");
}

/* Decode tok/s of LRU without prefetch at r's budget, for ratios. */
static double lru_decode(const bench_result *all, int n, const bench_result *r){
  for(int i = 0; i < n; i++){
    if( all[i].sweep_budget == r->sweep_budget && all[i].variant.policy == POLICY_LRU
     && !all[i].variant.prefetch ){
      return bench_median(all[i].decode_tok_s, all[i].n_repeat);
    }
  }
  return NAN;
}

/* "opt+prefetch", or "os (no budget)" for a row whose run had none. */
static const char *row_variant(const bench_result *r, char *buf, size_t len){
  if( r->budget_bytes == 0 && r->sweep_budget > 0 ) bench_format(buf, len, "%s (no budget)", variant_name(r));
  else bench_format(buf, len, "%s", variant_name(r));
  return buf;
}

void report_markdown(FILE *f, const bench_result *r, int n){
  fprintf(f, "| budget MiB | variant | cgroup limit MiB | decode tok/s | min-max | x LRU"
             " | disk limit tok/s | of disk limit | prefill tok/s | MiB read/token | disk MiB/token"
             " | ÷ (M − B′) | hit rate | peak RSS MiB | peak charged MiB | probe GB/s | efficiency"
             " | disk GB/s |\n");
  fprintf(f, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for(int i = 0; i < n; i++){
    bench_summary s;
    char v[18][40];
    bench_summarize(&r[i], &s);
    double ratio = s.decode / lru_decode(r, n, &r[i]);
    if( isnan(s.decode_min) ) bench_format(v[1], 40, "-");
    else bench_format(v[1], 40, "%.2f-%.2f", s.decode_min, s.decode_max);
    fprintf(f, "| %.4g | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            mib((double)r[i].sweep_budget), row_variant(&r[i], v[2], 40),
            fmt(v[12], 40, "%.0f", r[i].cgroup_limit > 0 ? mib((double)r[i].cgroup_limit) : NAN),
            fmt(v[0], 40, "%.2f", s.decode), v[1], fmt(v[3], 40, "%.2f", ratio),
            fmt(v[13], 40, "%.2f", s.disk_limit), fmt(v[14], 40, "%.2f", s.disk_efficiency),
            fmt(v[4], 40, "%.1f", s.prefill), fmt(v[5], 40, "%.1f", mib(s.bytes_read)),
            fmt(v[6], 40, "%.1f", mib(s.disk_read)), fmt(v[16], 40, "%.3f", s.read_ratio),
            fmt(v[7], 40, "%.3f", s.hit_rate),
            fmt(v[8], 40, "%.0f", r[i].peak_rss_bytes >= 0 ? mib((double)r[i].peak_rss_bytes) : NAN),
            fmt(v[9], 40, "%.0f", r[i].peak_charged_bytes >= 0 ? mib((double)r[i].peak_charged_bytes) : NAN),
            fmt(v[10], 40, "%.1f", s.probe), fmt(v[11], 40, "%.3f", s.efficiency),
            fmt(v[15], 40, r[i].disk_direct == 0 ? "%.2f (buffered)" : "%.2f", s.disk));
  }
  int notes = 0;
  for(int i = 0; i < n; i++){
    if( r[i].error == 0 ) continue;
    fprintf(f, "%s- %.4g MiB, %s failed: %s\n", notes++ ? "" : "\n", mib((double)r[i].sweep_budget),
            variant_name(&r[i]), r[i].error);
  }
}

static void table_tsv(FILE *f, const bench_result *r, int n){
  fprintf(f, "budget_bytes\tpolicy\tprefetch\tdecode_tok_s\tdecode_tok_s_min\tdecode_tok_s_max"
             "\tprefill_tok_s\tprefill_tok_s_min\tprefill_tok_s_max\tbytes_read_per_token"
             "\tdisk_read_bytes_per_token\thit_rate\tpeak_rss_bytes\tpeak_charged_bytes"
             "\tprobe_gb_s\tefficiency\tsweep_budget_bytes\tcgroup_limit_bytes\tdisk_gb_s"
             "\tdisk_direct\tdisk_limit_tok_s\tdisk_efficiency\tread_ratio\tio\terror\n");
  for(int i = 0; i < n; i++){
    bench_summary s;
    bench_summarize(&r[i], &s);
    fprintf(f, "%lld\t%s\t%d\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t%.0f\t%.0f\t%.4f\t%lld\t%lld\t%.3g\t%.4g"
               "\t%lld\t%lld\t%.3g\t%d\t%.4g\t%.4g\t%.4g\t%s\t%s\n",
            (long long)r[i].budget_bytes, budget_policy_name(r[i].variant.policy), r[i].variant.prefetch,
            s.decode, s.decode_min, s.decode_max, s.prefill, s.prefill_min, s.prefill_max,
            s.bytes_read, s.disk_read, s.hit_rate, (long long)r[i].peak_rss_bytes,
            (long long)r[i].peak_charged_bytes, s.probe, s.efficiency,
            (long long)r[i].sweep_budget, (long long)r[i].cgroup_limit, s.disk, r[i].disk_direct,
            s.disk_limit, s.disk_efficiency, s.read_ratio, r[i].io[0] ? r[i].io : "-",
            r[i].error ? r[i].error : "");
  }
}


/* ---- the plot --------------------------------------------------------------------- */

/* The gnuplot script, data inline, so `gnuplot NAME.gp` in its directory
** redraws NAME.png.  Left: decode tok/s of each variant against its row's
** budget, and beside each, dashed in its colour, the disk limit of its
** reads; right: bytes read from disk per decode token. */
static void plot_script(FILE *f, const char *name, const bench_options *o, const bench_result *r,
                        int n, const char *title){
  fprintf(f, "# %s.gp: written by tensql bench --sweep; run `gnuplot %s.gp` here to redraw %s.png\n",
          name, name, name);
  for(int v = 0; v < o->n_variants; v++){
    fprintf(f, "$v%d << EOD\n# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s\n", v);
    for(int i = 0; i < n; i++){
      if( r[i].variant.policy != o->variants[v].policy || r[i].variant.prefetch != o->variants[v].prefetch ) continue;
      bench_summary s;
      bench_summarize(&r[i], &s);
      if( isnan(s.decode) ) continue;
      fprintf(f, "%.4g %.4g %.4g %.4g %.2f %.4g\n", mib((double)r[i].sweep_budget), s.decode,
              s.decode_min, s.decode_max, mib(s.read_per_token), s.disk_limit);
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
  for(int v = 0; v < o->n_variants; v++){
    const char *label = variant_label(o->variants[v]);
    fprintf(f, "%s $v%d using 1:2:3:4 with yerrorlines lw 2 lc %d title '%s',"
               " $v%d using 1:6 with linespoints dt 2 pt 6 lc %d title '%s: disk limit'",
            v ? "," : "", v, v + 1, label, v, v + 1, label);
  }
  fprintf(f, "\nunset logscale y\nset yrange [0:*]\n"
             "set ylabel 'MiB read from disk per decode token'\nset key top right\n"
             "W = %.2f\nplot", weights);
  for(int v = 0; v < o->n_variants; v++){
    fprintf(f, "%s $v%d using 1:5 with linespoints lw 2 lc %d title '%s'", v ? "," : "", v, v + 1,
            variant_label(o->variants[v]));
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


/* ---- the sweep's files ------------------------------------------------------------ */

/* What every file of a sweep is written from. */
typedef struct sweep_report {
  const bench_options *o;
  const bench_result *r;       /* n results, one per budget and variant */
  int n;
  const bench_result *ok;      /* one that ran, for the figures all share */
  int argc;
  char **argv;                 /* the command, for the .md */
  const char *prefix;          /* --out, or budget_sweep */
  const char *name;            /* prefix after its last '/' */
  char dir[1024];              /* prefix before it, where gnuplot runs */
  char title[512];             /* the plot's */
} sweep_report;

static void sweep_init(sweep_report *s, const bench_options *o, const bench_result *r, int n,
                       int argc, char **argv){
  s->o = o;
  s->r = r;
  s->n = n;
  s->argc = argc;
  s->argv = argv;
  s->prefix = o->out ? o->out : "budget_sweep";
  s->ok = r;
  for(int i = 0; i < n; i++) if( r[i].error == 0 ){ s->ok = &r[i]; break; }
  const char *slash = strrchr(s->prefix, '/');
  s->name = slash ? slash + 1 : s->prefix;
  bench_format(s->dir, sizeof s->dir, "%.*s", slash ? (int)(slash - s->prefix) : 1, slash ? s->prefix : ".");
  if( s->dir[0] == 0 ) bench_format(s->dir, sizeof s->dir, "/");
  char size[32], limit[64] = "";
  if( o->cgroup_limit ){
    budget_format((uint64_t)o->cgroup_limit, size, sizeof size);
    bench_format(limit, sizeof limit, ", cgroup limit %s%s", o->cgroup_limit_plus ? "budget + " : "", size);
  }
  bench_format(s->title, sizeof s->title, "%s: %lld-token prompt, %d generated, %d repeats, %d thread%s%s",
               o->model, (long long)o->prompt_tokens, o->gen_tokens, o->repeat, s->ok->threads,
               s->ok->threads == 1 ? "" : "s", limit);
}

static void sweep_tsv(FILE *f, const sweep_report *s){
  table_tsv(f, s->r, s->n);
}

/* "1.71-1.84", the disk probe's GB/s over the budgets and repeats, or "-". */
static const char *disk_range(const bench_result *r, int n, char *out, size_t len){
  double lo = NAN, hi = NAN;
  for(int i = 0; i < n; i++){
    double least = bench_min(r[i].disk_bytes_per_second, r[i].n_repeat) / 1e9;
    double most = bench_max(r[i].disk_bytes_per_second, r[i].n_repeat) / 1e9;
    if( isnan(least) ) continue;
    lo = isnan(lo) ? least : fmin(lo, least);
    hi = isnan(hi) ? most : fmax(hi, most);
  }
  if( isnan(lo) ) bench_format(out, len, "-");
  else if( hi - lo < 0.005 ) bench_format(out, len, "%.2f", lo);
  else bench_format(out, len, "%.2f-%.2f", lo, hi);
  return out;
}

/* PREFIX.md: how the sweep ran, then the table. */
static void sweep_markdown(FILE *f, const sweep_report *s){
  const bench_options *o = s->o;
  const bench_result *ok = s->ok;
  time_t now = time(0);
  char date[64], limit[64];
  strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
  fprintf(f, "# Memory budget sweep\n\nDecode speed and bytes read per decode token against the"
             " memory budget, for");
  for(int v = 0; v < o->n_variants; v++){
    fprintf(f, "%s%s", v == 0 ? " " : v + 1 < o->n_variants ? ", " : " and ", variant_label(o->variants[v]));
  }
  fprintf(f, ", with the decode speed the disk allows.  Written by `tensql bench` on %s;"
             " regenerate with `docs/make_plots.sh`.\n\n", date);
  fprintf(f, "- command: `tensql");
  for(int i = 0; i < s->argc; i++) fprintf(f, " %s", s->argv[i]);
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
  if( o->cgroup_limit && o->cgroup_limit_plus ){
    fprintf(f, "- cgroup limit: each budget + %.0f MiB (its row's column)\n", mib((double)o->cgroup_limit));
  }else if( o->cgroup_limit ){
    fprintf(f, "- cgroup limit: %.0f MiB\n", mib((double)o->cgroup_limit));
  }
  for(int v = 0; v < o->n_variants; v++){
    if( o->variants[v].policy != POLICY_OS ) continue;
    fprintf(f, "- OS (page cache): tensql with policy 'os' and no budget, under its row's cgroup"
               " limit: it holds only the tiles pinned at the moment and reads through the page"
               " cache, which the kernel manages and the cgroup charges\n");
  }
  fprintf(f, "- disk: the model file read in %d KiB requests, %d in flight, %s, before each"
             " budget (the page cache dropped) and %s: %s GB/s; a repeat's disk figure is the"
             " mean of the probes either side of it, `disk GB/s` their median; disk limit = that"
             " / MiB read from disk per decode token, and `of disk limit` is decode tok/s / disk"
             " limit\n",
          DISK_REQUEST >> 10, DISK_IN_FLIGHT,
          ok->disk_direct == 0 ? "buffered (the file system refused O_DIRECT)" : "with O_DIRECT",
          ok->disk_direct == 0 ? "only then" : "after every repeat",
          disk_range(s->r, s->n, limit, sizeof limit));
  fprintf(f, "- the variants of one budget ran side by side, one repeat of each in turn, with"
             " the bandwidth probe before each; compare them by the `x LRU` ratio\n\n");
  if( o->n_sweep > 1 ) fprintf(f, "![decode tok/s and MiB read per token against the budget](%s.png)\n\n", s->name);
  report_markdown(f, s->r, s->n);
}

static void sweep_plot(FILE *f, const sweep_report *s){
  plot_script(f, s->name, s->o, s->r, s->n, s->title);
}

/* Write PREFIX.ext with write_body, its path in path.  0, or -1 with errno. */
static int sweep_file(const sweep_report *s, const char *ext,
                      void (*write_body)(FILE *, const sweep_report *), char *path, size_t len){
  bench_format(path, len, "%s.%s", s->prefix, ext);
  FILE *f = fopen(path, "w");
  if( f == 0 ) return -1;
  write_body(f, s);
  return fclose(f) ? -1 : 0;
}

int report_sweep(const bench_options *o, const bench_result *r, int n, int argc, char **argv){
  sweep_report s;
  char path[1100];
  sweep_init(&s, o, r, n, argc, argv);
  if( sweep_file(&s, "tsv", sweep_tsv, path, sizeof path)
   || sweep_file(&s, "md", sweep_markdown, path, sizeof path)
   || (o->n_sweep > 1 && sweep_file(&s, "gp", sweep_plot, path, sizeof path)) ){
    fprintf(stderr, "tensql bench: cannot write %s: %s\n", path, strerror(errno));
    return 1;
  }
  if( o->n_sweep > 1 ){
    bench_format(path, sizeof path, "%s.gp", s.name);
    if( run_gnuplot(s.dir, path) ){
      fprintf(stderr, "tensql bench: gnuplot failed or is not installed; %s.gp is written,"
              " %s.png is not\n", s.prefix, s.prefix);
    }
  }
  fprintf(stderr, "tensql bench: wrote %s.tsv, %s.md%s\n", s.prefix, s.prefix,
          o->n_sweep > 1 ? ", .gp and .png" : "");
  return 0;
}
