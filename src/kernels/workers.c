/*
** workers.c: the kernel thread pool (see workers.h).
**
** One queue for the process, a bounded ring that threads push to and take
** from without a lock (Vyukov's multi-producer multi-consumer queue: each
** slot carries a sequence number that says whose turn it is).  A decode
** step hands the pool a few thousand tasks of a few microseconds each, from
** 460 statements; with a mutex around the queue the two threads met on it
** so often that a token cost hundreds of futex calls, which on a virtual
** machine are microseconds each.  The mutex and condition variables serve
** only sleep: a thread takes the mutex when someone sleeps or is about to.
*/
#include "workers.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MAX_THREADS 64
#define QUEUE_SIZE 256                     /* a power of two */
/* How long an idle thread spins before it sleeps: longer than the serial
** stretches of a decode step (attention and the statements around it,
** 70-100 us), so that the worker is awake for the product that follows.
** At 50 us it slept there, and the output projection after attention took
** 42 us instead of 26 (2 threads, Qwen2.5-0.5B). */
#define SPIN_NS 300000

typedef struct task {
  workers_task_fn fn;
  void *arg;
  workers_batch *batch;
} task;

/* A slot's turn is queue position turn + its index: position p may be
** pushed into slot p % QUEUE_SIZE when turn + index == p, and taken when
** it is p + 1.  Storing the turn less the index lets the zeroed slots start
** as "free for positions 0 .. QUEUE_SIZE - 1". */
typedef struct slot {
  atomic_size_t turn;
  task t;
} slot;

static slot queue[QUEUE_SIZE];
static atomic_size_t push_pos, take_pos;

/* Sleeping, and waking sleepers, under lock: */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_queued = PTHREAD_COND_INITIALIZER;
static pthread_cond_t batch_done = PTHREAD_COND_INITIALIZER;
/* Atomics: */
static atomic_int threads_started = 1;     /* the submitting thread counts */
static atomic_int sleeping_workers, sleeping_waiters;
static atomic_int threads_wanted = 1;
static atomic_uint spin_ns = SPIN_NS;      /* workers_set_spin */

static uint64_t now_ns(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void){
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

int workers_threads(void){
  return atomic_load(&threads_wanted);
}

void workers_set_threads(int n){
  atomic_store(&threads_wanted, n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n);
}

/* How far slot s's turn is from position pos: 0 when it is pos's turn. */
static ptrdiff_t slot_lag(slot *s, size_t pos){
  size_t index = (size_t)(s - queue);
  return (ptrdiff_t)(atomic_load_explicit(&s->turn, memory_order_acquire) + index - pos);
}

/* Make it position pos's turn at slot s, publishing what s holds. */
static void slot_pass(slot *s, size_t pos){
  atomic_store_explicit(&s->turn, pos - (size_t)(s - queue), memory_order_release);
}

/* Claim the next position of *next whose slot has reached turn position
** + ahead (0 to push, 1 to take); NULL if that slot is still behind (the
** queue is full, or empty).  *pos gets the position claimed. */
static slot *queue_claim(atomic_size_t *next, size_t ahead, size_t *pos){
  *pos = atomic_load_explicit(next, memory_order_relaxed);
  for(;;){
    slot *s = &queue[*pos % QUEUE_SIZE];
    ptrdiff_t lag = slot_lag(s, *pos + ahead);
    if( lag < 0 ) return 0;
    if( lag > 0 ){
      *pos = atomic_load_explicit(next, memory_order_relaxed);
    }else if( atomic_compare_exchange_weak(next, pos, *pos + 1) ){
      return s;
    }
  }
}

/* Append t; 0 when the queue is full. */
static int queue_push(task t){
  size_t pos;
  slot *s = queue_claim(&push_pos, 0, &pos);
  if( s == 0 ) return 0;
  s->t = t;
  slot_pass(s, pos + 1);
  return 1;
}

/* Take the oldest task into *t; 0 when the queue is empty. */
static int queue_take(task *t){
  size_t pos;
  slot *s = queue_claim(&take_pos, 1, &pos);
  if( s == 0 ) return 0;
  *t = s->t;
  slot_pass(s, pos + QUEUE_SIZE);
  return 1;
}

/* Tasks pushed and not yet taken (a moment's view). */
static size_t queue_length(void){
  size_t pushed = atomic_load(&push_pos), taken = atomic_load(&take_pos);
  return pushed > taken ? pushed - taken : 0;
}

/* Run t and count it finished; wake waiters when its batch empties.  The
** batch is not touched after its last task is counted, since the waiter
** may free it at once.  A waiter counts itself sleeping before it looks at
** pending, and this thread looks at the count after pending: one of the
** two sees the other (both are sequentially consistent), so no wakeup is
** lost. */
static void task_run(task t){
  t.fn(t.arg);
  if( atomic_fetch_sub(&t.batch->pending, 1) == 1 && atomic_load(&sleeping_waiters) ){
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&batch_done);
    pthread_mutex_unlock(&lock);
  }
}

/* Spin until ready(arg) or SPIN_NS pass; returns whether ready.  The clock
** is read every 64 pauses: reading it costs more than a pause on these
** virtual machines. */
static int spin_until(int (*ready)(const void *), const void *arg){
  uint64_t start = now_ns();
  for(unsigned i = 1; !ready(arg); i++){
    if( i % 64 == 0 && now_ns() - start > atomic_load_explicit(&spin_ns, memory_order_relaxed) ){
      return 0;
    }
    cpu_relax();
  }
  return 1;
}

/* Whether worker *index has a task to take: one is queued, and the wanted
** thread count includes the worker. */
static int work_for(const void *index){
  return queue_length() > 0 && *(const int *)index < workers_threads();
}

static int batch_finished(const void *b){
  return atomic_load(&((workers_batch *)b)->pending) == 0;
}

/* Worker `index` (1, 2, ...) takes tasks while the wanted thread count
** includes it; a lowered count parks the workers above it.  It counts
** itself sleeping before its last look at the queue, as waiters do. */
static void *worker_main(void *arg){
  const int index = (int)(intptr_t)arg;
  for(;;){
    task t;
    if( index < workers_threads() && queue_take(&t) ){
      task_run(t);
      continue;
    }
    if( spin_until(work_for, &index) ) continue;
    pthread_mutex_lock(&lock);
    atomic_fetch_add(&sleeping_workers, 1);
    while( !work_for(&index) ) pthread_cond_wait(&work_queued, &lock);
    atomic_fetch_sub(&sleeping_workers, 1);
    pthread_mutex_unlock(&lock);
  }
  return 0;
}

/* Start workers up to the wanted count.  A failed start leaves fewer
** threads, which only costs speed: the submitter runs what is left. */
static void workers_start(int want){
  pthread_mutex_lock(&lock);
  while( threads_started < want ){
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, worker_main, (void*)(intptr_t)threads_started);
    pthread_attr_destroy(&attr);
    if( rc ) break;
    atomic_fetch_add(&threads_started, 1);
  }
  pthread_mutex_unlock(&lock);
}

/* Wake a sleeping worker for a new task.  A signal could wake only a
** parked worker: wake all when some are parked. */
static void workers_wake(int threads){
  pthread_mutex_lock(&lock);
  if( atomic_load(&threads_started) > threads ) pthread_cond_broadcast(&work_queued);
  else pthread_cond_signal(&work_queued);
  pthread_mutex_unlock(&lock);
}

void workers_submit(workers_batch *b, workers_task_fn fn, void *arg){
  int threads = workers_threads();
  if( threads == 1 ){
    fn(arg);
    return;
  }
  if( atomic_load(&threads_started) < threads ) workers_start(threads);
  atomic_fetch_add(&b->pending, 1);
  task t = { fn, arg, b };
  if( !queue_push(t) ){
    task_run(t);
    return;
  }
  if( atomic_load(&sleeping_workers) ) workers_wake(threads);
}

void workers_set_spin(int on){
  atomic_store(&spin_ns, on ? SPIN_NS : 0);
}

void workers_share(void){
  task t;
  if( queue_length() >= (size_t)workers_threads() && queue_take(&t) ) task_run(t);
}

void workers_wait(workers_batch *b){
  task t;
  while( queue_take(&t) ) task_run(t);
  /* The rest of b is running on other threads. */
  if( spin_until(batch_finished, b) ) return;
  pthread_mutex_lock(&lock);
  atomic_fetch_add(&sleeping_waiters, 1);
  while( !batch_finished(b) ) pthread_cond_wait(&batch_done, &lock);
  atomic_fetch_sub(&sleeping_waiters, 1);
  pthread_mutex_unlock(&lock);
}
