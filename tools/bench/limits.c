/*
** limits.c: the memory rules `tensql bench` runs by, as pure functions,
** so that tests can check them without a machine to fill.
**
**   bench_cgroup_limit(o, budget)           the limit of a run at budget
**   bench_cap_check(limit, budget, overhead, why, len)
**                                           refuse a limit too small, before the run
**   bench_probe_size(probe, budget, limit, room)
**                                           the bandwidth probe's buffer
**
** Why a cap check: a limit below the budget plus what tensql holds beyond
** it would show up as the worker killed by its cgroup's OOM killer, part
** way into a sweep, and read as a verdict on the engine.  The harness
** refuses such a configuration before it generates anything (harness.c:
** once before forking with the overhead's fixed part, once more with what
** the opened model really charged), and goes on with the others.
*/
#include "bench_internal.h"

#include "memory/budget.h"

int64_t bench_cgroup_limit(const bench_options *o, int64_t budget){
  if( !o->cgroup_limit_plus ) return o->cgroup_limit;
  return budget > 0 ? budget + o->cgroup_limit : 0;
}

int bench_cap_check(int64_t limit, int64_t budget, int64_t overhead, char *why, size_t len){
  if( limit <= 0 || budget <= 0 || limit >= budget + overhead ) return 0;
  char l[32], b[32], v[32];
  budget_format((uint64_t)limit, l, sizeof l);
  budget_format((uint64_t)budget, b, sizeof b);
  budget_format((uint64_t)(overhead > 0 ? overhead : 0), v, sizeof v);
  bench_format(why, len, "cgroup limit %s is below budget %s plus tensql's overhead of ~%s;"
               " not run (give a larger --cgroup-limit, or +SIZE)", l, b, v);
  return -1;
}

int64_t bench_probe_size(int64_t probe_bytes, int64_t budget, int64_t limit, int64_t room){
  int64_t size = probe_bytes > 0 ? probe_bytes : 0;
  if( budget > 0 && budget < size ) size = budget;
  if( limit > 0 && limit - BENCH_PROBE_MARGIN < size ) size = limit - BENCH_PROBE_MARGIN;
  if( room >= 0 && room - BENCH_PROBE_MARGIN < size ) size = room - BENCH_PROBE_MARGIN;
  return size > 0 ? size : 0;
}
