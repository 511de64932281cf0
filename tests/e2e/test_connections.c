/*
** test_connections.c: connections that come and go on many threads at
** once.  8 threads each run 50 rounds of: open the stories260K model, load
** tensql (tensql_register, or sqlite3_load_extension of tensql.so),
** generate 2 tokens, close; no other connection stays open, so the last
** close of a round may be the process's last while other threads are
** loading tensql.  What is process-wide (the model registry, the
** tensql-tile VFS, the kernel thread pool, the memory budget) must live
** through that.
**
** Built twice: as a plain test, and as test_connections_tsan, with tensql
** compiled into it under ThreadSanitizer (Makefile.am).  The TSan build
** runs the tensql_register test only: tensql.so is not instrumented.
*/
#include "../testutil.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>

#include "import/import.h"
#include "tensql.h"

#define THREADS 8
#define ROUNDS 50

static char model_db[1024];

static void setup_model(void){
  char err[512];
  import_options opt = { .dtype = -1, .tokenizer_path = SHARED("models/stories260K/tok512.bin") };
  snprintf(model_db, sizeof model_db, "%s", test_tmp_path("connections.db"));
  ck_assert_msg(import_model(SHARED("models/stories260K/stories260K.bin"), model_db, &opt,
                             err, sizeof err) == 0, "%s", err);
}

typedef struct round_result {
  int load_extension;      /* load tensql.so rather than tensql_register */
  int kernel_threads;      /* set with tensql_threads, or 0 to leave it */
  int rounds;              /* rounds that ran to the end */
  char err[512];           /* the first failure */
} round_result;

/* One round; 0, or -1 with r->err. */
static int connection_round(round_result *r){
  sqlite3 *db = 0;
  sqlite3_stmt *st = 0;
  char *msg = 0;
  int tokens = 0, rc = sqlite3_open_v2(model_db, &db, SQLITE_OPEN_READONLY, 0);
  if( rc == SQLITE_OK && r->load_extension ){
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, (int*)0);
    rc = sqlite3_load_extension(db, BUILD_DIR "/.libs/tensql", 0, &msg);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int*)0);
  }else if( rc == SQLITE_OK ){
    rc = tensql_register(db);
  }
  /* Half the threads want 2 kernel threads: the pool is the process's. */
  if( rc == SQLITE_OK && r->kernel_threads ){
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT tensql_threads(%d)", r->kernel_threads);
    rc = sqlite3_exec(db, sql, 0, 0, 0);
  }
  if( rc == SQLITE_OK ){
    rc = sqlite3_prepare_v2(db, "SELECT token FROM generate WHERE prompt = 'Once upon a time'"
                            " AND max_tokens = 2", -1, &st, 0);
  }
  while( rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW ){
    tokens++;
    rc = SQLITE_OK;
  }
  if( rc == SQLITE_DONE && tokens != 2 ){
    snprintf(r->err, sizeof r->err, "%d tokens, not 2", tokens);
    rc = SQLITE_ERROR;
  }else if( rc != SQLITE_DONE ){
    snprintf(r->err, sizeof r->err, "%s", msg ? msg : db ? sqlite3_errmsg(db) : "no memory");
  }
  sqlite3_finalize(st);
  sqlite3_free(msg);
  sqlite3_close(db);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void *connection_thread(void *arg){
  round_result *r = arg;
  while( r->rounds < ROUNDS && connection_round(r) == 0 ) r->rounds++;
  return 0;
}

static void run_threads(int load_extension){
  pthread_t threads[THREADS];
  round_result results[THREADS];
  memset(results, 0, sizeof results);
  for(int i = 0; i < THREADS; i++){
    results[i].load_extension = load_extension;
    results[i].kernel_threads = i % 2 ? 2 : 0;
    ck_assert_int_eq(pthread_create(&threads[i], 0, connection_thread, &results[i]), 0);
  }
  for(int i = 0; i < THREADS; i++) pthread_join(threads[i], 0);
  for(int i = 0; i < THREADS; i++){
    ck_assert_msg(results[i].rounds == ROUNDS, "thread %d: round %d: %s", i,
                  results[i].rounds, results[i].err);
  }
}

START_TEST(test_register_on_threads){
  run_threads(0);
}
END_TEST

#ifndef TEST_TSAN
/* SQLite unloads an extension when the last connection that loaded it
** closes; tensql.so is marked to stay (-z nodelete), as its VFS stays in
** SQLite's list and its kernel threads keep running.  Unloaded, the
** threads crashed within a few runs: a reload's VFS registration walked
** the list into the unmapped copy.  The first check fails every time. */
START_TEST(test_load_extension_on_threads){
  round_result one = { .load_extension = 1 };
  ck_assert_msg(connection_round(&one) == 0, "%s", one.err);
  void *still = dlopen(BUILD_DIR "/.libs/tensql.so", RTLD_NOW | RTLD_NOLOAD);
  ck_assert_msg(still != 0, "tensql.so was unloaded when its connection closed");
  dlclose(still);
  run_threads(1);
}
END_TEST
#endif

static Suite *connections_suite(void){
  Suite *s = suite_create("connections");
  TCase *tc = tcase_create("threads");
  tcase_add_unchecked_fixture(tc, setup_model, 0);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_register_on_threads);
#ifndef TEST_TSAN
  tcase_add_test(tc, test_load_extension_on_threads);
#endif
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(connections_suite)
