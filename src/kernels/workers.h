/*
** workers.h: a small pool of threads for the kernels' heavy work.
**
**   SELECT tensql_threads(2);   -- threads for the kernels (1 = no pool)
**
** SQLite runs a statement on one thread; the pool is how a step uses more
** than one core while the forward pass stays a sequence of statements.
** The matmul aggregate hands each weight tile to the pool as a task from
** its xStep and waits once, in xFinal, for the whole product: the kernels
** compute while SQLite walks the join to the next tile.  The thread that
** submits takes a share of the tasks itself (workers_share), and helps
** while it waits.
**
** A task always runs whole on one thread, so results do not depend on the
** thread count.  Idle workers spin for up to 0.3 ms (longer than the gaps
** between the products of a decode step), then sleep on a condition
** variable, so an idle process burns no CPU.
*/
#ifndef TENSQL_WORKERS_H
#define TENSQL_WORKERS_H

#include <stdatomic.h>

/* The tasks one caller waits for together.  Zero-initialise it. */
typedef struct workers_batch {
  atomic_int pending;        /* submitted and not yet finished */
} workers_batch;

typedef void (*workers_task_fn)(void *arg);

/* Run fn(arg) as part of batch b: on the calling thread at once when the
** pool has one thread, otherwise queued for the next free thread.  arg must
** stay valid until workers_wait(b) returns. */
void workers_submit(workers_batch *b, workers_task_fn fn, void *arg);

/* Run the oldest queued task on the calling thread when more are queued
** than the other threads can start, so that the submitter computes its
** share between the SQL it runs.  Call it once the tasks that belong
** together are queued: taking one between a tile's parts kept the rest of
** the tile from the idle threads for a whole task (in one of Qwen2.5-0.5B's
** swiglu products, 33 us of 209 idle on a thread). */
void workers_share(void);

/* Return when every task of b has finished, running queued tasks (of any
** batch) meanwhile. */
void workers_wait(workers_batch *b);

/* Whether an idle thread spins a while before it sleeps (on, the
** default) or sleeps at once.  A step that streams tiles from disk turns
** it off (vtab/runner.c): its pins wait for reads often, and a worker
** spinning then holds a CPU that the tile readers and the kernel's I/O
** completions need.  Qwen2.5-0.5B at a 380M budget, 2 threads on 2 vCPUs:
** decode 5-13% faster without the spin (four runs side by side). */
void workers_set_spin(int on);

/* Threads used for tasks, the submitting one included; 1 to 64.  The
** default is 1; `tensql bench --threads` measures what more buys. */
void workers_set_threads(int n);
int workers_threads(void);

#endif
