/*
** workers.c: the kernel thread pool (see workers.h).
**
** A job is published by bumping `generation`; each worker runs its part of
** the current job and counts itself done.  Workers started for a larger
** thread count than now in use simply skip jobs.  One job runs at a time
** (run_lock), since SQLite connections on several threads may call in.
*/
#include "workers.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define MAX_THREADS 64
/* How long an idle worker spins before it sleeps. */
#define SPIN_NS 50000

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static atomic_int threads_wanted = 1;
static int threads_started = 1;            /* the caller counts as one */
static _Atomic unsigned long generation;
static atomic_int remaining;               /* parts of the job not yet done */
static atomic_int sleepers;
static workers_fn job_fn;
static void *job_ctx;
static int job_parts;

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

/* Spin, then sleep, until the generation moves past `seen`. */
static unsigned long wait_for_job(unsigned long seen){
  uint64_t start = now_ns();
  unsigned long g;
  while( (g = atomic_load(&generation)) == seen ){
    if( now_ns() - start < SPIN_NS ){ cpu_relax(); continue; }
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add(&sleepers, 1);
    while( (g = atomic_load(&generation)) == seen ) pthread_cond_wait(&wake, &sleep_lock);
    atomic_fetch_sub(&sleepers, 1);
    pthread_mutex_unlock(&sleep_lock);
  }
  return g;
}

/* The generation each worker was started in: a job published after the
** start must run even if the thread was slow to begin. */
static unsigned long started_in[MAX_THREADS];

static void *worker_main(void *arg){
  int part = (int)(long)arg;
  unsigned long seen = started_in[part];
  for(;;){
    seen = wait_for_job(seen);
    if( part < job_parts ){
      job_fn(job_ctx, part, job_parts);
      atomic_fetch_sub(&remaining, 1);
    }
  }
  return 0;
}

int workers_threads(void){
  return atomic_load(&threads_wanted);
}

void workers_set_threads(int n){
  atomic_store(&threads_wanted, n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n);
}

/* Start workers up to the wanted count (run_lock held).  A failed start
** leaves fewer threads, which only costs speed. */
static int workers_start(int want){
  while( threads_started < want ){
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started_in[threads_started] = atomic_load(&generation);
    int rc = pthread_create(&t, &attr, worker_main, (void*)(long)threads_started);
    pthread_attr_destroy(&attr);
    if( rc ) break;
    threads_started++;
  }
  return want < threads_started ? want : threads_started;
}

void workers_run(workers_fn fn, void *ctx){
  int parts = workers_threads();
  if( parts == 1 ){
    fn(ctx, 0, 1);
    return;
  }
  pthread_mutex_lock(&run_lock);
  parts = workers_start(parts);
  job_fn = fn;
  job_ctx = ctx;
  job_parts = parts;
  atomic_store(&remaining, parts - 1);
  atomic_fetch_add(&generation, 1);
  if( atomic_load(&sleepers) ){
    pthread_mutex_lock(&sleep_lock);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&sleep_lock);
  }
  fn(ctx, 0, parts);
  /* The other parts are as long as ours: spin, but yield the core if a
  ** worker has been descheduled (a busy machine). */
  uint64_t start = now_ns();
  while( atomic_load(&remaining) > 0 ){
    if( now_ns() - start < SPIN_NS ) cpu_relax();
    else sched_yield();
  }
  pthread_mutex_unlock(&run_lock);
}
