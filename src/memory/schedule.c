/*
** schedule.c: recording a step's tile order and answering "when is this
** tile needed next?" (see schedule.h).  Uses are indexed per tile id, so a
** next-use query is a short search in that id's own list.
*/
#include "schedule.h"

#include <stdlib.h>
#include <string.h>

/* How far ahead an unexpected pin may be found on the schedule before it
** counts as off-schedule. */
#define ADVANCE_WINDOW 64

void schedule_init(schedule *s, int64_t n_tiles){
  memset(s, 0, sizeof *s);
  s->n_tiles = n_tiles;
}

void schedule_free(schedule *s){
  free(s->ids);
  free(s->first);
  free(s->uses);
  memset(s, 0, sizeof *s);
}

void schedule_clear(schedule *s){
  s->len = 0;
  s->ready = 0;
}

int schedule_record(schedule *s, int64_t id){
  if( id < 1 || id > s->n_tiles ) return -1;
  if( s->len == s->cap ){
    int64_t cap = s->cap ? 2 * s->cap : 1024;
    int64_t *ids = realloc(s->ids, (size_t)cap * sizeof *ids);
    if( ids == 0 ) return -1;
    s->ids = ids;
    s->cap = cap;
  }
  s->ids[s->len++] = id;
  return 0;
}

int schedule_finish(schedule *s){
  free(s->first);
  free(s->uses);
  s->first = calloc((size_t)s->n_tiles + 2, sizeof *s->first);
  s->uses = malloc(((size_t)s->len + 1) * sizeof *s->uses);
  if( s->first == 0 || s->uses == 0 ) return -1;
  /* counting sort of positions by id: first[id] .. first[id + 1] */
  for(int64_t i = 0; i < s->len; i++) s->first[s->ids[i] + 1]++;
  for(int64_t id = 1; id <= s->n_tiles + 1; id++) s->first[id] += s->first[id - 1];
  int64_t *fill = malloc(((size_t)s->n_tiles + 1) * sizeof *fill);
  if( fill == 0 ) return -1;
  memcpy(fill, s->first, ((size_t)s->n_tiles + 1) * sizeof *fill);
  for(int64_t i = 0; i < s->len; i++) s->uses[fill[s->ids[i]]++] = i;
  free(fill);
  s->ready = 1;
  return 0;
}

/* The first use of id strictly after pos, or -1 (binary search). */
static int64_t use_after(const schedule *s, int64_t id, int64_t pos){
  int64_t lo = s->first[id], hi = s->first[id + 1];
  while( lo < hi ){
    int64_t mid = lo + (hi - lo) / 2;
    if( s->uses[mid] <= pos ) lo = mid + 1; else hi = mid;
  }
  return lo < s->first[id + 1] ? s->uses[lo] : -1;
}

int64_t schedule_next_use(const schedule *s, int64_t id, int64_t pos){
  if( !s->ready || id < 1 || id > s->n_tiles || s->first[id] == s->first[id + 1] ){
    return SCHEDULE_NEVER;
  }
  int64_t next = use_after(s, id, pos);
  if( next >= 0 ) return next - pos;
  return s->uses[s->first[id]] + s->len - pos;   /* in the next step */
}

int64_t schedule_advance(const schedule *s, int64_t pos, int64_t id){
  if( !s->ready || s->len == 0 ) return pos;
  int64_t d = schedule_next_use(s, id, pos);
  if( d == SCHEDULE_NEVER || d > ADVANCE_WINDOW ) return pos;
  return (pos + d) % s->len;
}
