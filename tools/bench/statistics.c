/*
** statistics.c: what the repeats of one configuration come to.  Medians,
** minima and maxima skip NaN, the mark of a repeat that measured nothing;
** bench_summarize() derives, once, every figure the reports print, and
** bench_disk_limit() the speed the disk allows.
**
**   bench_summary s;
**   bench_summarize(r, &s);      s.decode is the median decode tok/s, ...
*/
#include "bench_internal.h"

#include <math.h>
#include <stdlib.h>

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

void bench_summarize(const bench_result *r, bench_summary *s){
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
  double disk = bench_median(r->disk_bytes_per_second, n);
  s->disk = disk / 1e9;
  s->disk_min = bench_min(r->disk_bytes_per_second, n) / 1e9;
  s->disk_max = bench_max(r->disk_bytes_per_second, n) / 1e9;
  s->disk_limit = bench_disk_limit(disk, s->disk_read, s->bytes_read);
  s->disk_efficiency = s->decode / s->disk_limit;
  s->read_per_token = s->disk_read > 0 ? s->disk_read : s->bytes_read;
  s->read_optimum = bench_read_optimum(r->model_bytes, r->budget_bytes, r->state_bytes);
  s->read_ratio = s->read_per_token / s->read_optimum;
}

double bench_read_optimum(int64_t model_bytes, int64_t budget_bytes, int64_t state_bytes){
  if( budget_bytes <= 0 || model_bytes <= 0 || state_bytes < 0 ) return NAN;
  double optimum = (double)model_bytes - (double)(budget_bytes - state_bytes);
  return optimum > 0 ? optimum : NAN;
}

double bench_disk_limit(double disk_bytes_per_second, double disk_read_per_token,
                        double bytes_read_per_token){
  double per_token = disk_read_per_token > 0 ? disk_read_per_token : bytes_read_per_token;
  if( !(disk_bytes_per_second > 0) || !(per_token > 0) ) return NAN;
  return disk_bytes_per_second / per_token;
}
