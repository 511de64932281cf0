/*
** options.h: what the `tensql` commands share on their command lines.
**
**   tensql run MODEL.db --budget 300M --policy lru --no-prefetch --threads 2
**   tensql bench MODEL.db --budget 280M --policy lru --no-prefetch --threads 2
**
** The engine's settings (memory budget, eviction policy, prefetch, kernel
** threads) are spelled the same in `run`, `chat` and `bench`, and parsed
** here once.  A command puts OPTIONS_ENGINE_LONG in its getopt_long table
** and, in the default case of its switch on getopt_long's answer, hands
** the option to options_engine():
**
**   default:
**     if( options_engine(&o->engine, c, optarg, 64, &bad) > 0 ) continue;
**     ...an unknown option, or a bad value of the option *bad names...
**
** Every command exits 0 on success, 1 on failure and EXIT_USAGE (2) when
** its command line is wrong, after printing its usage on stderr.
*/
#ifndef TENSQL_OPTIONS_H
#define TENSQL_OPTIONS_H

#include <stdint.h>

#include "memory/budget.h"

#define EXIT_USAGE 2

/* The engine's settings, as given; zero for what was not. */
typedef struct engine_options {
  int64_t budget;             /* --budget SIZE, bytes; 0 = no budget */
  int policy;                 /* --policy opt|lru|os: a budget_policy; OPT if not given */
  int no_prefetch;            /* --no-prefetch */
  int threads;                /* --threads N; 0 = not given */
} engine_options;

/* getopt_long's values for the engine options: above every character, so
** that no short option can stand for one. */
enum { OPTION_BUDGET = 0x100, OPTION_POLICY, OPTION_NO_PREFETCH, OPTION_THREADS };

/* Their rows of a getopt_long table. */
#define OPTIONS_ENGINE_LONG \
  { "budget", required_argument, 0, OPTION_BUDGET }, \
  { "policy", required_argument, 0, OPTION_POLICY }, \
  { "no-prefetch", no_argument, 0, OPTION_NO_PREFETCH }, \
  { "threads", required_argument, 0, OPTION_THREADS }

/* Take getopt_long's option c, with its argument arg, into o.  Returns 1
** if c is an engine option and its value is good, 0 if c is none of them
** (o untouched), and -1 if the value is bad: a size budget_parse() refuses,
** a policy other than "opt", "lru" or "os", or threads outside 1..max_threads;
** *bad (if bad is not NULL) then names the option ("--threads") for the
** caller's message. */
int options_engine(engine_options *o, int c, const char *arg, int max_threads, const char **bad);

/* A whole decimal number in [lo, hi] ("8", not "8x", "", or one that
** overflows a long), or -1. */
int options_count(const char *text, int lo, int hi);


#endif
