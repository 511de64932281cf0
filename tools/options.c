/*
** options.c: the engine options that `run`, `chat` and `bench` share
** (--budget, --policy, --no-prefetch, --threads), and the number parsing
** their own options use.  See options.h for how a command takes them.
**
** Sizes are budget_parse()'s ("300M", "1.5G", "123456").  Nothing here
** prints: each command words its own message (bench names the option and
** the value, run prints its usage), so the two keep theirs.
*/
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory/budget.h"

int options_count(const char *text, int lo, int hi){
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if( end == text || *end || errno || v < lo || v > hi ) return -1;
  return (int)v;
}

/* 1 if the value was good; else -1, naming the option in *bad. */
static int accepted(int good, const char *option, const char **bad){
  if( good ) return 1;
  if( bad ) *bad = option;
  return -1;
}

int options_engine(engine_options *o, int c, const char *arg, int max_threads, const char **bad){
  switch( c ){
    case OPTION_BUDGET:
      o->budget = budget_parse(arg);
      return accepted(o->budget >= 0, "--budget", bad);
    case OPTION_POLICY:
      o->policy = budget_policy_parse(arg);
      return accepted(o->policy >= 0, "--policy", bad);
    case OPTION_NO_PREFETCH:
      o->no_prefetch = 1;
      return 1;
    case OPTION_THREADS:
      o->threads = options_count(arg, 1, max_threads);
      return accepted(o->threads >= 0, "--threads", bad);
    default:
      return 0;
  }
}
