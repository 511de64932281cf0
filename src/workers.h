/*
** workers.h: a small pool of threads that share the arithmetic of one
** kernel call: a matrix product splits its rows, and every thread runs the
** same code on its own rows, so results do not depend on the thread count.
**
**   SELECT tensql_threads(2);   -- threads for the kernels (1 = no pool)
**
** SQLite runs a statement on one thread; the pool is how a step uses more
** than one core while the forward pass stays a sequence of statements.
** Idle workers spin briefly (the next tile's work usually follows within
** microseconds), then sleep on a condition variable, so an idle process
** burns no CPU.
*/
#ifndef TENSQL_WORKERS_H
#define TENSQL_WORKERS_H

/* Run fn(ctx, part, parts) for part = 0 .. parts-1 on parts threads (the
** caller runs part 0) and return when all are done. */
typedef void (*workers_fn)(void *ctx, int part, int parts);
void workers_run(workers_fn fn, void *ctx);

/* Threads used by workers_run, the caller included; 1 to 64.  The default
** is 1: a second thread pays for itself only on an otherwise idle machine
** (measured with `tensql bench --threads`). */
void workers_set_threads(int n);
int workers_threads(void);

#endif
