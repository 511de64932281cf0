/*
** workers.c: the kernel thread pool (see workers.h).
**
** One queue for the process, under one mutex: tasks are whole weight tiles
** (tens of microseconds of work each), so the lock is taken a few thousand
** times per token and is never the bottleneck.  Spinners read the atomic
** copy of the queue length instead of the lock.
*/
#include "workers.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define MAX_THREADS 64
#define QUEUE_SIZE 256
/* How long an idle thread spins before it sleeps. */
#define SPIN_NS 50000

typedef struct task {
  workers_task_fn fn;
  void *arg;
  workers_batch *batch;
} task;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_queued = PTHREAD_COND_INITIALIZER;
static pthread_cond_t batch_done = PTHREAD_COND_INITIALIZER;
/* Under lock: */
static task queue[QUEUE_SIZE];
static int queue_head, queue_count;
static int sleeping_workers, sleeping_waiters;
static int threads_started = 1;            /* the submitting thread counts */
/* Atomics: */
static atomic_int queued;                  /* queue_count, for spinners */
static atomic_int threads_wanted = 1;

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

/* Pop the oldest task (lock held). */
static task queue_pop(void){
  task t = queue[queue_head];
  queue_head = (queue_head + 1) % QUEUE_SIZE;
  queue_count--;
  atomic_store(&queued, queue_count);
  return t;
}

static void queue_push(task t){
  queue[(queue_head + queue_count) % QUEUE_SIZE] = t;
  queue_count++;
  atomic_store(&queued, queue_count);
}

/* Run t and count it finished; wake waiters when its batch empties.  The
** batch is not touched after its last task is counted, since the waiter
** may free it at once. */
static void task_run(task t){
  t.fn(t.arg);
  if( atomic_fetch_sub(&t.batch->pending, 1) == 1 ){
    pthread_mutex_lock(&lock);
    if( sleeping_waiters ) pthread_cond_broadcast(&batch_done);
    pthread_mutex_unlock(&lock);
  }
}

/* Spin until *value is nonzero (want_zero 0) or zero (want_zero 1), or
** SPIN_NS pass.  The clock is read every 64 pauses: reading it costs more
** than a pause on these virtual machines. */
static void spin_on(atomic_int *value, int want_zero){
  uint64_t start = now_ns();
  for(unsigned i = 1; (atomic_load(value) == 0) != want_zero; i++){
    if( i % 64 == 0 && now_ns() - start > SPIN_NS ) return;
    cpu_relax();
  }
}

/* Worker `index` (1, 2, ...) takes tasks while the wanted thread count
** includes it; a lowered count parks the workers above it. */
static void *worker_main(void *arg){
  const int index = (int)(intptr_t)arg;
  for(;;){
    spin_on(&queued, 0);
    pthread_mutex_lock(&lock);
    while( queue_count == 0 || index >= workers_threads() ){
      sleeping_workers++;
      pthread_cond_wait(&work_queued, &lock);
      sleeping_workers--;
    }
    task t = queue_pop();
    pthread_mutex_unlock(&lock);
    task_run(t);
  }
  return 0;
}

/* Start workers up to the wanted count (lock held).  A failed start leaves
** fewer threads, which only costs speed: the submitter runs what is left. */
static void workers_start(int want){
  while( threads_started < want ){
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, worker_main, (void*)(intptr_t)threads_started);
    pthread_attr_destroy(&attr);
    if( rc ) break;
    threads_started++;
  }
}

void workers_submit(workers_batch *b, workers_task_fn fn, void *arg){
  int threads = workers_threads();
  if( threads == 1 ){
    fn(arg);
    return;
  }
  atomic_fetch_add(&b->pending, 1);
  task t = { fn, arg, b };
  pthread_mutex_lock(&lock);
  workers_start(threads);
  if( queue_count == QUEUE_SIZE ){
    pthread_mutex_unlock(&lock);
    task_run(t);
    return;
  }
  queue_push(t);
  /* A signal could wake only a parked worker: wake all when some are. */
  if( sleeping_workers && threads_started > threads ) pthread_cond_broadcast(&work_queued);
  else if( sleeping_workers ) pthread_cond_signal(&work_queued);
  /* More tasks waiting than the other threads can start: this thread takes
  ** the oldest, so that it computes its share between the SQL it runs. */
  int take = queue_count >= threads;
  if( take ) t = queue_pop();
  pthread_mutex_unlock(&lock);
  if( take ) task_run(t);
}

/* Run one queued task, if any; nonzero if one ran. */
static int help_once(void){
  if( atomic_load(&queued) == 0 ) return 0;
  pthread_mutex_lock(&lock);
  int any = queue_count > 0;
  task t;
  if( any ) t = queue_pop();
  pthread_mutex_unlock(&lock);
  if( any ) task_run(t);
  return any;
}

void workers_wait(workers_batch *b){
  while( help_once() ){}
  /* The rest of b is running on other threads. */
  spin_on(&b->pending, 1);
  pthread_mutex_lock(&lock);
  while( atomic_load(&b->pending) > 0 ){
    sleeping_waiters++;
    pthread_cond_wait(&batch_done, &lock);
    sleeping_waiters--;
  }
  pthread_mutex_unlock(&lock);
}
