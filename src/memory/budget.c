/*
** budget.c: the numbers behind budget.h, as atomics so that tile managers,
** prefetch threads and runs on any thread can read and charge them.
*/
#include "budget.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t budget_bytes;
static _Atomic int policy = POLICY_OPT;
static _Atomic int prefetch = 1;
static _Atomic int64_t tile_bytes;
static _Atomic int64_t other_bytes;

void budget_set(uint64_t bytes){ budget_bytes = bytes; }
uint64_t budget_get(void){ return budget_bytes; }
void budget_set_policy(budget_policy p){ policy = (int)p; }
budget_policy budget_get_policy(void){ return (budget_policy)policy; }
/* Indexed by budget_policy. */
static const char *const policy_names[] = { "opt", "lru", "os" };

const char *budget_policy_name(budget_policy p){ return policy_names[p]; }

int budget_policy_parse(const char *name){
  for(int p = 0; name && p < (int)(sizeof policy_names / sizeof policy_names[0]); p++){
    if( strcmp(name, policy_names[p]) == 0 ) return p;
  }
  return -1;
}

void budget_set_prefetch(int on){ prefetch = on != 0; }
int budget_get_prefetch(void){ return prefetch; }
void budget_tiles_add(int64_t delta){ tile_bytes += delta; }
uint64_t budget_tiles(void){ return (uint64_t)tile_bytes; }
void budget_charge(int64_t delta){ other_bytes += delta; }
uint64_t budget_other(void){ return (uint64_t)other_bytes; }

int64_t budget_parse(const char *text){
  char *end;
  if( text == 0 ) return -1;
  double v = strtod(text, &end);
  if( end == text || v < 0 ) return -1;
  while( isspace((unsigned char)*end) ) end++;
  double unit = 1;
  switch( toupper((unsigned char)*end) ){
    case 'K': unit = 1024.0; end++; break;
    case 'M': unit = 1024.0 * 1024; end++; break;
    case 'G': unit = 1024.0 * 1024 * 1024; end++; break;
    case 'T': unit = 1024.0 * 1024 * 1024 * 1024; end++; break;
  }
  if( toupper((unsigned char)*end) == 'B' ) end++;
  if( *end || v * unit > 9e18 ) return -1;
  return (int64_t)(v * unit);
}

void budget_format(uint64_t bytes, char *out, int len){
  const char *units[] = { "B", "KB", "MB", "GB", "TB" };
  double v = (double)bytes;
  int u = 0;
  while( v >= 1024 && u < 4 ){ v /= 1024; u++; }
  snprintf(out, (size_t)len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}
