/*
** budget.h: the process-wide memory budget and how it is spent.
**
** One budget covers every resident tile of every model the process has
** open, the KV caches and the activations.  Tile managers evict to stay
** inside it; state.c charges what runs hold.  From SQL:
**
**   SELECT tensql_budget('300M');   -- set; '0' = no budget
**   SELECT tensql_budget();         -- bytes, or 0
**   SELECT tensql_policy('lru');    -- 'opt' (default), 'lru' or 'os'
**   SELECT tensql_prefetch(0);      -- 1 (default) or 0; OPT only
**
** 'os' hands the memory to the operating system, for comparison: tensql
** keeps only the tiles in use and reads through the OS page cache, which
** the kernel then manages as it would a memory-mapped model.
*/
#ifndef TENSQL_BUDGET_H
#define TENSQL_BUDGET_H

#include <stdint.h>

typedef enum budget_policy { POLICY_OPT = 0, POLICY_LRU = 1, POLICY_OS = 2 } budget_policy;

/* "opt", "lru", "os"; and back: the policy so named, or -1. */
const char *budget_policy_name(budget_policy p);
int budget_policy_parse(const char *name);

void budget_set(uint64_t bytes);
uint64_t budget_get(void);
void budget_set_policy(budget_policy p);
budget_policy budget_get_policy(void);
void budget_set_prefetch(int on);
int budget_get_prefetch(void);

/* Bytes of tiles resident (or being loaded), across all tile managers. */
void budget_tiles_add(int64_t delta);
uint64_t budget_tiles(void);
/* Bytes held by runs: KV caches and activations. */
void budget_charge(int64_t delta);
uint64_t budget_other(void);

/* "300M", "1.5G", "64K", "123456" -> bytes; -1 if not a size. */
int64_t budget_parse(const char *text);
/* "1.5 GB", "300 MB", ... into out. */
void budget_format(uint64_t bytes, char *out, int len);

#endif
