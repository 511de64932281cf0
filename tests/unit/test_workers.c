/*
** test_workers.c: the kernel thread pool: every task runs exactly once,
** workers_wait returns only after its own batch is done, one thread runs
** tasks inline, several batches from several threads share the pool, a
** worker asleep wakes for new work (spinning first or not), and the
** submitter takes a task of its own (workers_share) only when more are
** queued than the others can start.
*/
#include "../testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "kernels/workers.h"

typedef struct counted {
  atomic_int runs;
  pthread_t ran_on;
  int slow;                  /* sleep this many microseconds first */
  atomic_int *finished;      /* counts finished tasks, if set */
} counted;

static void count_task(void *arg){
  counted *c = arg;
  if( c->slow ){
    struct timespec ts = { 0, c->slow * 1000L };
    nanosleep(&ts, 0);
  }
  c->ran_on = pthread_self();
  atomic_fetch_add(&c->runs, 1);
  if( c->finished ) atomic_fetch_add(c->finished, 1);
}

/* n tasks in one batch; each must have run exactly once by the wait. */
static void run_batch(int n, int slow){
  counted *tasks = calloc((size_t)n, sizeof *tasks);
  atomic_int finished = 0;
  workers_batch batch = { 0 };
  for(int i = 0; i < n; i++){
    tasks[i].slow = (i % 7 == 0) ? slow : 0;
    tasks[i].finished = &finished;
    workers_submit(&batch, count_task, &tasks[i]);
  }
  workers_wait(&batch);
  ck_assert_int_eq(atomic_load(&finished), n);
  for(int i = 0; i < n; i++) ck_assert_int_eq(atomic_load(&tasks[i].runs), 1);
  ck_assert_int_eq(atomic_load(&batch.pending), 0);
  free(tasks);
}

START_TEST(test_one_thread_runs_inline){
  workers_set_threads(1);
  ck_assert_int_eq(workers_threads(), 1);
  counted c = { 0 };
  workers_batch batch = { 0 };
  workers_submit(&batch, count_task, &c);
  /* Done before the wait: it ran on this thread, at once. */
  ck_assert_int_eq(atomic_load(&c.runs), 1);
  ck_assert(pthread_equal(c.ran_on, pthread_self()));
  workers_wait(&batch);
}
END_TEST

START_TEST(test_every_task_once){
  for(int threads = 1; threads <= 4; threads++){
    workers_set_threads(threads);
    run_batch(1, 0);
    run_batch(1000, 0);
    run_batch(300, 200);       /* more than the queue holds, some slow */
  }
  workers_set_threads(1);
}
END_TEST

START_TEST(test_empty_batch){
  workers_set_threads(2);
  workers_batch batch = { 0 };
  workers_wait(&batch);
  workers_set_threads(1);
}
END_TEST

/* Tasks that take a while: the waiter must not return early, and with
** two threads some must run off the submitting thread. */
START_TEST(test_wait_waits){
  workers_set_threads(2);
  enum { N = 16 };
  counted tasks[N] = { 0 };
  workers_batch batch = { 0 };
  for(int i = 0; i < N; i++){
    tasks[i].slow = 2000;
    workers_submit(&batch, count_task, &tasks[i]);
  }
  workers_wait(&batch);
  int elsewhere = 0;
  for(int i = 0; i < N; i++){
    ck_assert_int_eq(atomic_load(&tasks[i].runs), 1);
    elsewhere += !pthread_equal(tasks[i].ran_on, pthread_self());
  }
  ck_assert_msg(elsewhere > 0, "no task ran on a worker");
  workers_set_threads(1);
}
END_TEST

static void *submitter(void *unused){
  (void)unused;
  for(int round = 0; round < 20; round++) run_batch(200, round % 5 == 0 ? 100 : 0);
  return 0;
}

START_TEST(test_batches_from_several_threads){
  workers_set_threads(3);
  pthread_t t[3];
  for(int i = 0; i < 3; i++) ck_assert_int_eq(pthread_create(&t[i], 0, submitter, 0), 0);
  for(int i = 0; i < 3; i++) pthread_join(t[i], 0);
  workers_set_threads(1);
}
END_TEST

/* After the count is lowered, the parked workers take nothing. */
START_TEST(test_lowered_count_parks_workers){
  workers_set_threads(4);
  run_batch(100, 0);
  workers_set_threads(1);
  enum { N = 50 };
  counted tasks[N] = { 0 };
  workers_batch batch = { 0 };
  for(int i = 0; i < N; i++) workers_submit(&batch, count_task, &tasks[i]);
  workers_wait(&batch);
  for(int i = 0; i < N; i++) ck_assert(pthread_equal(tasks[i].ran_on, pthread_self()));
}
END_TEST

/* A worker that went to sleep, idle past its spin, wakes for the next
** task: the submitter leaves the task to it and only watches. */
START_TEST(test_sleeping_worker_wakes){
  workers_set_threads(2);
  run_batch(10, 0);
  struct timespec idle = { 0, 20 * 1000000L }, tick = { 0, 1000000L };
  nanosleep(&idle, 0);
  counted task = { 0 };
  workers_batch batch = { 0 };
  workers_submit(&batch, count_task, &task);
  for(int ms = 0; ms < 5000 && atomic_load(&task.runs) == 0; ms++) nanosleep(&tick, 0);
  workers_wait(&batch);
  ck_assert_int_eq(atomic_load(&task.runs), 1);
  ck_assert(!pthread_equal(task.ran_on, pthread_self()));
  workers_set_threads(1);
}
END_TEST

/* With the spin off (a step that streams tiles) every idle thread sleeps
** at once: batch after batch, each must still wake a worker and end, no
** wake lost between a worker's last look at the queue and its sleep. */
START_TEST(test_no_spin_sleeps_and_wakes){
  workers_set_spin(0);
  for(int threads = 2; threads <= 3; threads++){
    workers_set_threads(threads);
    for(int round = 0; round < 200; round++) run_batch(1 + round % 9, round % 10 == 0 ? 100 : 0);
  }
  workers_set_spin(1);
  workers_set_threads(1);
}
END_TEST

/* Holds the thread that runs it until opened. */
typedef struct gate {
  atomic_int started, open;
} gate;

static void gate_task(void *arg){
  gate *g = arg;
  struct timespec tick = { 0, 100000L };
  atomic_store(&g->started, 1);
  while( !atomic_load(&g->open) ) nanosleep(&tick, 0);
}

/* With the one worker held by a gate, a queued task stays queued until a
** second one joins it; then workers_share runs the older here. */
START_TEST(test_share_takes_only_a_surplus){
  workers_set_threads(2);
  gate g = { 0 };
  counted older = { 0 }, newer = { 0 };
  workers_batch batch = { 0 };
  struct timespec tick = { 0, 1000000L };
  workers_submit(&batch, gate_task, &g);
  for(int ms = 0; ms < 5000 && !atomic_load(&g.started); ms++) nanosleep(&tick, 0);
  ck_assert_msg(atomic_load(&g.started), "the worker never took the gate");
  workers_submit(&batch, count_task, &older);
  workers_share();
  ck_assert_int_eq(atomic_load(&older.runs), 0);
  workers_submit(&batch, count_task, &newer);
  ck_assert_int_eq(atomic_load(&older.runs), 0);
  workers_share();
  ck_assert_int_eq(atomic_load(&older.runs), 1);
  ck_assert(pthread_equal(older.ran_on, pthread_self()));
  ck_assert_int_eq(atomic_load(&newer.runs), 0);
  atomic_store(&g.open, 1);
  workers_wait(&batch);
  ck_assert_int_eq(atomic_load(&newer.runs), 1);
  workers_set_threads(1);
}
END_TEST

static Suite *workers_suite(void){
  Suite *s = suite_create("workers");
  TCase *tc = tcase_create("pool");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_one_thread_runs_inline);
  tcase_add_test(tc, test_no_spin_sleeps_and_wakes);
  tcase_add_test(tc, test_every_task_once);
  tcase_add_test(tc, test_empty_batch);
  tcase_add_test(tc, test_wait_waits);
  tcase_add_test(tc, test_batches_from_several_threads);
  tcase_add_test(tc, test_lowered_count_parks_workers);
  tcase_add_test(tc, test_sleeping_worker_wakes);
  tcase_add_test(tc, test_share_takes_only_a_surplus);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(workers_suite)
