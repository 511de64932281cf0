/*
** worker.c: the child process that measures one configuration of `tensql
** bench` (a budget, a policy, prefetch on or off) and reports to the
** harness through a pipe (the protocol is in bench_internal.h).
**
**   parent                          worker_main(o, cfg, in, out)
**   CMD_START  (it is in its cgroup)  opens the model, sets the budget, policy,
**                                     prefetch and threads       -> MSG_OPENED
**              (the parent checks the cgroup's limit against what it holds now)
**   CMD_WARM                          builds the prompt, warms up,
**                                     reads tile_stats.io        -> MSG_READY
**   CMD_GO     (once per repeat)      one timed generate         -> MSG_REPEAT
**   CMD_QUIT                          VmHWM, the budget's peak   -> MSG_DONE
**   any failure                                                  -> MSG_ERROR
**   end of file (refused, or the parent is gone)                  exits
**
** A repeat is `SELECT pos FROM generate WHERE prompt = ? AND max_tokens = ?
** AND temperature = 0`: prefill is timed from the first step to the first
** row, decode from the first row to the last, and tile_stats and
** /proc/self/io are read at both ends of the decode window.
*/
#include "bench_internal.h"
#include "clock.h"
#include "database.h"

#include <math.h>
#include <sched.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "options.h"
#include "tensql.h"
#include "tokenizer/tokenizer.h"

typedef struct worker_state {
  sqlite3 *db;
  sqlite3_stmt *generate;    /* pos FROM generate; ?1 prompt, ?2 max_tokens */
  sqlite3_stmt *stats;       /* hits, misses, bytes_read FROM tile_stats */
  char *prompt;              /* sqlite3_malloc'd; bound to generate */
} worker_state;

/* Text of exactly `target` tokens: a run of one repeated word cut to
** target tokens and decoded, checked by tokenizing it again.  NULL if no
** filler gives exactly target. */
static char *prompt_of_tokens(sqlite3 *db, int target){
  static const char *const fillers[] = { " the", " hello", " a", "x", " 1" };
  sqlite3_stmt *cut = 0, *count = 0;
  char *found = 0;
  if( sqlite3_prepare_v2(db, "SELECT detokenize((SELECT json_group_array(value) FROM"
        " (SELECT value FROM json_each(tokenize(?1)) LIMIT ?2)))", -1, &cut, 0)
   || sqlite3_prepare_v2(db, "SELECT json_array_length(tokenize(?1))", -1, &count, 0) ){
    goto done;
  }
  for(size_t f = 0; found == 0 && f < sizeof fillers / sizeof fillers[0]; f++){
    sqlite3_str *s = sqlite3_str_new(0);
    for(int i = 0; i < target + 8; i++) sqlite3_str_appendall(s, fillers[f]);
    char *run = sqlite3_str_finish(s);
    if( run == 0 ) break;
    sqlite3_bind_text(cut, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_int(cut, 2, target);
    if( sqlite3_step(cut) == SQLITE_ROW ){
      const char *text = (const char*)sqlite3_column_text(cut, 0);
      sqlite3_bind_text(count, 1, text, -1, SQLITE_STATIC);
      if( text && sqlite3_step(count) == SQLITE_ROW && sqlite3_column_int(count, 0) == target ){
        found = sqlite3_mprintf("%s", text);
      }
      sqlite3_reset(count);
    }
    sqlite3_reset(cut);
    sqlite3_free(run);
  }
done:
  sqlite3_finalize(cut);
  sqlite3_finalize(count);
  return found;
}

typedef struct tile_counts { int64_t hits, misses, bytes_read, disk_read; } tile_counts;

static void snapshot(worker_state *w, tile_counts *c){
  c->hits = c->misses = c->bytes_read = -1;
  if( sqlite3_step(w->stats) == SQLITE_ROW ){
    c->hits = sqlite3_column_int64(w->stats, 0);
    c->misses = sqlite3_column_int64(w->stats, 1);
    c->bytes_read = sqlite3_column_int64(w->stats, 2);
  }
  sqlite3_reset(w->stats);
  c->disk_read = host_proc_value("/proc/self/io", "read_bytes");
}

/* One generate of max_tokens from the prompt, timed.  Returns 0, or -1
** with the message in m->text. */
static int worker_generate(worker_state *w, int max_tokens, worker_msg *m){
  tile_counts first = {0}, last = {0};
  /* generate reuses the KV cache of a prompt it has seen: forget it, or
  ** every repeat after the first would prefill one position. */
  sqlite3_exec(w->db, "SELECT tensql_reset()", 0, 0, 0);
  sqlite3_bind_text(w->generate, 1, w->prompt, -1, SQLITE_STATIC);
  sqlite3_bind_int(w->generate, 2, max_tokens);
  int64_t rows = 0, positions = 0;
  double t0 = clock_seconds(), t1 = 0, t_last = 0;
  int rc;
  while( (rc = sqlite3_step(w->generate)) == SQLITE_ROW ){
    t_last = clock_seconds();
    if( rows++ == 0 ){
      t1 = t_last;
      positions = sqlite3_column_int64(w->generate, 0);
      snapshot(w, &first);
    }else{
      snapshot(w, &last);
    }
  }
  sqlite3_reset(w->generate);
  if( rc != SQLITE_DONE ){
    bench_format(m->text, sizeof m->text, "generate: %s", sqlite3_errmsg(w->db));
    return -1;
  }
  m->prompt_tokens = positions;
  m->decode_tokens = rows > 0 ? rows - 1 : 0;
  m->prefill_tok_s = rows ? positions / (t1 - t0) : NAN;
  m->decode_tok_s = m->bytes_read_per_token = m->disk_read_per_token = m->hit_rate = NAN;
  if( rows > 1 ){
    double n = (double)(rows - 1);
    m->decode_tok_s = n / (t_last - t1);
    if( first.bytes_read >= 0 && last.bytes_read >= 0 ){
      m->bytes_read_per_token = (last.bytes_read - first.bytes_read) / n;
      int64_t pins = (last.hits - first.hits) + (last.misses - first.misses);
      if( pins > 0 ) m->hit_rate = (double)(last.hits - first.hits) / (double)pins;
    }
    if( first.disk_read >= 0 && last.disk_read >= 0 ){
      m->disk_read_per_token = (last.disk_read - first.disk_read) / n;
    }
  }
  return 0;
}

/* The tensors a step multiplies by: those a matmul( in the program names. */
#define MATMUL_TENSORS " FROM tensors t WHERE EXISTS (SELECT 1 FROM program p" \
  " WHERE instr(p.sql, 'matmul(') AND instr(p.sql, '\"' || t.name || '\"'))"

/* m's weights by type, most bytes first; none if the engine's `tensors`
** has no dtype. */
static void weights_by_type(sqlite3 *db, worker_msg *m){
  sqlite3_stmt *st = 0;
  m->n_weight_types = 0;
  if( sqlite3_prepare_v2(db, "SELECT t.dtype, sum(t.bytes), sum(t.rows * t.cols)" MATMUL_TENSORS
                         " GROUP BY 1 ORDER BY 2 DESC", -1, &st, 0) != SQLITE_OK ) return;
  while( m->n_weight_types < BENCH_MAX_TYPES && sqlite3_step(st) == SQLITE_ROW ){
    bench_weights *w = &m->weights[m->n_weight_types++];
    const char *type = (const char*)sqlite3_column_text(st, 0);
    bench_format(w->type, sizeof w->type, "%s", type ? type : "?");
    w->bytes = sqlite3_column_int64(st, 1);
    w->count = sqlite3_column_int64(st, 2);
  }
  sqlite3_finalize(st);
}

/* The benchmark's own queries, on a connection of their own that is closed
** before the measured runs: what they leave allocated (4 MB on
** Qwen2.5-0.5B) would count in the worker's peak memory.  Sets the program
** and weight figures of m; returns the prompt of `target` tokens, or NULL. */
static char *worker_describe(const char *model, int target, worker_msg *m){
  sqlite3 *db = 0;
  char *prompt = 0;
  m->statements = m->model_bytes = m->weight_bytes = -1;
  if( database_open(model, &db, SQLITE_OPEN_READONLY, 0) == SQLITE_OK
   && tensql_register(db) == SQLITE_OK ){
    m->statements = database_int(db, "SELECT count(*) FROM program", -1);
    m->model_bytes = database_int(db, "SELECT sum(bytes) FROM tensors", -1);
    m->weight_bytes = database_int(db, "SELECT sum(t.bytes)" MATMUL_TENSORS, -1);
    weights_by_type(db, m);
    prompt = prompt_of_tokens(db, target);
  }
  sqlite3_close(db);
  return prompt;
}

/* Open the model as generate will see it; *bos is whether the model adds
** BOS to a prompt.  0, or -1 with the message in m->text. */
static int worker_open(const char *path, worker_state *w, int *bos, worker_msg *m){
  char err[512];
  /* generate adds BOS itself when the model wants one */
  model *shared = model_open(path, err, sizeof err);
  if( shared == 0 ){
    bench_format(m->text, sizeof m->text, "%s", err);
    return -1;
  }
  *bos = tokenizer_add_bos(shared->tokenizer) && tokenizer_bos(shared->tokenizer) >= 0;
  if( database_open(path, &w->db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK
   || tensql_register(w->db) != SQLITE_OK ){
    bench_format(m->text, sizeof m->text, "%s: %s", path, sqlite3_errmsg(w->db));
    model_release(shared);
    return -1;
  }
  model_release(shared);   /* the connection holds its own reference */
  return 0;
}

/* The configuration, through tensql_budget(), tensql_policy() (by name:
** 'opt', 'lru' or 'os') and tensql_prefetch().  0, or -1 with the message
** in m->text. */
static int worker_configure(const bench_config *cfg, worker_state *w, worker_msg *m){
  sqlite3_stmt *st = 0;
  const char *policy = budget_policy_name(cfg->variant.policy);
  int rc = sqlite3_prepare_v2(w->db, "SELECT tensql_budget(?1), tensql_policy(?2), tensql_prefetch(?3)",
                              -1, &st, 0);
  if( rc == SQLITE_OK ){
    sqlite3_bind_int64(st, 1, cfg->budget);
    sqlite3_bind_text(st, 2, policy, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, cfg->variant.prefetch);
    rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_OK ){
    bench_format(m->text, sizeof m->text, "setting budget, policy '%s' and prefetch: %s",
                 policy, sqlite3_errmsg(w->db));
    return -1;
  }
  return 0;
}

/* How the tile manager reads tiles (tile_stats.io: 'direct', 'buffered' or
** 'sqlite') into io; "" when the engine has no such column. */
static void worker_io(worker_state *w, char *io, size_t len){
  sqlite3_stmt *st = 0;
  io[0] = 0;
  if( sqlite3_prepare_v2(w->db, "SELECT io FROM tile_stats", -1, &st, 0) == SQLITE_OK
   && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT ){
    bench_format(io, len, "%s", (const char*)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
}

/* The kernels' threads, through tensql_threads() when the engine has a
** worker pool (m->threads, m->threads_available), and this process held to
** the run's CPUs.  0, or -1 with the message in m->text. */
static int worker_threads(const bench_options *o, worker_state *w, worker_msg *m){
  int threads = o->engine.threads;
  sqlite3_stmt *st = 0;
  m->threads = 1;
  m->threads_available = 0;
  if( sqlite3_prepare_v2(w->db, threads ? "SELECT tensql_threads(?1)" : "SELECT tensql_threads()",
                         -1, &st, 0) == SQLITE_OK ){
    if( threads ) sqlite3_bind_int(st, 1, threads);
    if( sqlite3_step(st) == SQLITE_ROW ){
      m->threads_available = 1;
      m->threads = sqlite3_column_int(st, 0) > 0 ? sqlite3_column_int(st, 0) : 1;
    }else{
      bench_format(m->text, sizeof m->text, "tensql_threads(%d): %s", threads, sqlite3_errmsg(w->db));
      sqlite3_finalize(st);
      return -1;
    }
  }
  sqlite3_finalize(st);
  /* before the kernels' threads start, since they take this thread's CPUs */
  cpu_set_t held, allowed;
  if( host_run_cpus(m->threads, &held, &allowed) ) sched_setaffinity(0, sizeof held, &held);
  return 0;
}

/* The prompt of --prompt-tokens tokens (BOS included), the program and
** weight figures, and the measured statements.  0, or -1 with the message
** in m->text. */
static int worker_prepare(const bench_options *o, worker_state *w, int bos, worker_msg *m){
  int target = o->prompt_tokens - bos;
  if( target < 1 ){
    bench_format(m->text, sizeof m->text, "--prompt-tokens %d leaves no room after BOS", o->prompt_tokens);
    return -1;
  }
  w->prompt = worker_describe(o->model, target, m);
  if( w->prompt == 0 ){
    bench_format(m->text, sizeof m->text, "cannot build a prompt of exactly %d tokens", target);
    return -1;
  }
  if( sqlite3_prepare_v2(w->db, "SELECT pos FROM generate WHERE prompt = ?1 AND max_tokens = ?2"
                         " AND temperature = 0 AND seed = 0", -1, &w->generate, 0)
   || sqlite3_prepare_v2(w->db, "SELECT hits, misses, bytes_read FROM tile_stats", -1, &w->stats, 0) ){
    bench_format(m->text, sizeof m->text, "%s", sqlite3_errmsg(w->db));
    return -1;
  }
  return 0;
}

/* Warm-up: records the prefill and decode schedules (the first step of
** each kind), so the measured steps follow them.  0, or -1 with the
** message in m->text; a prompt of other than --prompt-tokens positions is
** a warning in m->text. */
static int worker_warm_up(const bench_options *o, worker_state *w, worker_msg *m){
  worker_msg warm = {0};
  if( worker_generate(w, 2, &warm) ){
    bench_format(m->text, sizeof m->text, "warm-up: %s", warm.text);
    return -1;
  }
  m->prompt_tokens = warm.prompt_tokens;
  if( warm.prompt_tokens != o->prompt_tokens ){
    bench_format(m->text, sizeof m->text, "the prompt came to %lld positions, not %d",
                 (long long)warm.prompt_tokens, o->prompt_tokens);
  }
  return 0;
}

/* CMD_START: the model open and configured, as the cap check measures
** it.  0, or -1 with the message in m->text. */
static int worker_setup(const bench_options *o, const bench_config *cfg, worker_state *w,
                        int *bos, worker_msg *m){
  return worker_open(o->model, w, bos, m) || worker_configure(cfg, w, m)
      || worker_threads(o, w, m) ? -1 : 0;
}

/* CMD_WARM: everything else before the first repeat.  0, or -1 with the
** message in m->text. */
static int worker_warm(const bench_options *o, worker_state *w, int bos, worker_msg *m){
  if( worker_prepare(o, w, bos, m) || worker_warm_up(o, w, m) ) return -1;
  worker_io(w, m->io, sizeof m->io);
  return 0;
}

static int send_msg(int fd, const worker_msg *m){
  return write(fd, m, sizeof *m) == (ssize_t)sizeof *m ? 0 : -1;
}

/* The child's whole life: never returns. */
void worker_main(const bench_options *o, const bench_config *cfg, int in, int out){
  worker_state w = {0};
  worker_msg m = {0};
  char cmd = 0;
  int bos = 0;
  /* wait until the parent has moved this process into its cgroup */
  if( read(in, &cmd, 1) != 1 || cmd != CMD_START ) _exit(1);
  m.kind = worker_setup(o, cfg, &w, &bos, &m) ? MSG_ERROR : MSG_OPENED;
  send_msg(out, &m);
  /* the parent may refuse the limit now: then it sends nothing more */
  if( m.kind == MSG_OPENED && (read(in, &cmd, 1) != 1 || cmd != CMD_WARM) ) m.kind = MSG_ERROR;
  if( m.kind == MSG_OPENED ){          /* m keeps the threads worker_setup found */
    m.kind = worker_warm(o, &w, bos, &m) ? MSG_ERROR : MSG_READY;
    send_msg(out, &m);
  }
  while( m.kind != MSG_ERROR && read(in, &cmd, 1) == 1 && cmd == CMD_GO ){
    memset(&m, 0, sizeof m);
    m.kind = worker_generate(&w, o->gen_tokens, &m) ? MSG_ERROR : MSG_REPEAT;
    send_msg(out, &m);
  }
  if( m.kind != MSG_ERROR && cmd == CMD_QUIT ){
    memset(&m, 0, sizeof m);
    m.kind = MSG_DONE;
    m.budget_peak = database_int(w.db, "SELECT peak_total_bytes FROM tile_stats", -1);
    m.state_bytes = database_int(w.db, "SELECT other_bytes FROM tile_stats", -1);
    int64_t kb = host_proc_value("/proc/self/status", "VmHWM");
    m.peak_rss = kb >= 0 ? kb * 1024 : -1;
    send_msg(out, &m);
  }
  sqlite3_finalize(w.generate);
  sqlite3_finalize(w.stats);
  sqlite3_free(w.prompt);
  sqlite3_close(w.db);
  _exit(0);
}
