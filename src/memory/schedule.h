/*
** schedule.h: the order in which one step of the forward pass touches
** tiles, and the eviction choices that order makes possible.
**
** Every step runs the same statements, and each statement scans its
** tensors in (tile_row, tile_col) order, so the tiles a step pins come in
** the same order every time (only embedding lookups depend on the tokens).
** The tile manager records that order on a step, and from then on knows the
** future: Bélády's rule evicts the tile whose next use is furthest away.
** On the cyclic walk of a decode step that keeps a fixed part of the model
** resident and re-reads only the rest, where LRU re-reads everything.
*/
#ifndef TENSQL_SCHEDULE_H
#define TENSQL_SCHEDULE_H

#include <stdint.h>

#define SCHEDULE_NEVER INT64_MAX

typedef struct schedule {
  int64_t *ids;             /* tile ids in the order one step pins them */
  int64_t len, cap;
  int64_t n_tiles;          /* ids are 1..n_tiles */
  int64_t *first;           /* [n_tiles + 2]: where each id's uses start in uses */
  int64_t *uses;            /* positions of each id's uses, ascending */
  int ready;                /* recorded and indexed */
} schedule;

void schedule_init(schedule *s, int64_t n_tiles);
void schedule_free(schedule *s);
/* Forget the recording (a new one starts). */
void schedule_clear(schedule *s);
/* Append a pin to the recording. */
int schedule_record(schedule *s, int64_t id);
/* Index the recording; after this the schedule answers next-use queries. */
int schedule_finish(schedule *s);

/* How many positions after `pos` (the position of the pin being served)
** tile id is used next, wrapping around to the next step; SCHEDULE_NEVER
** if the step never uses it. */
int64_t schedule_next_use(const schedule *s, int64_t id, int64_t pos);

/* Where the pin of `id` stands in the step, given that the previous pin
** stood at `pos` (-1 at the start): the next position whose tile is id, if
** it comes soon; otherwise pos again (an off-schedule pin, such as an
** embedding row that depends on the token). */
int64_t schedule_advance(const schedule *s, int64_t pos, int64_t id);

#endif
