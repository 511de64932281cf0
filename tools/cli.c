/*
** cli.c: the `tensql` command.
**
**   tensql import SRC -o OUT.db [--dtype f32|f16|bf16|q8_0] [--tokenizer T]
**   tensql info MODEL.db
**   tensql chat MODEL.db [-n N] [--temp T] ...
**   tensql synth --preset qwen2.5-0.5b|tiny -o OUT.gguf [--dtype f32|f16|q8_0] [--seed S]
**   tensql run MODEL.db -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]
**              [--chat] [--threads N] [--budget SIZE] [--policy opt|lru|os] [--no-prefetch]
**
** Each command is a function below, listed in the `commands` table with
** its one-line help.  Exit codes: 0 success, 1 failure, 2 usage error.
*/
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "clock.h"
#include "database.h"
#include "import/import.h"
#include "kernels/tensor.h"
#include "kernels/workers.h"
#include "memory/budget.h"
#include "model.h"
#include "options.h"
#include "perplexity.h"
#include "synth.h"
#include "tensql.h"
#include "tokenizer/tokenizer.h"

/* ---- import --------------------------------------------------------------- */

static char import_temp[4096];

/* Ctrl-C during an import: remove the half-written temporary file. */
static void import_interrupted(int sig){
  if( import_temp[0] ) unlink(import_temp);
  signal(sig, SIG_DFL);
  raise(sig);
}

typedef struct progress_bar {
  double started;
  int last_percent;
} progress_bar;

static void progress_show(void *ctx, uint64_t done, uint64_t total){
  progress_bar *bar = ctx;
  int percent = total ? (int)(done * 100 / total) : 0;
  if( percent == bar->last_percent ) return;
  bar->last_percent = percent;
  int filled = percent * 40 / 100;
  double mb = done / 1e6, secs = clock_seconds() - bar->started;
  fprintf(stderr, "\r[%.*s%*s] %3d%%  %.1f MB  %.1f MB/s", filled,
          "########################################", 40 - filled, "",
          percent, mb, secs > 0 ? mb / secs : 0.0);
}

static int usage_import(FILE *f){
  fprintf(f,
    "usage: tensql import SRC -o OUT.db [--dtype f32|f16|bf16|q8_0] [--tokenizer FILE]\n"
    "  SRC is a GGUF file, a llama2.c checkpoint (with --tokenizer tokenizer.bin),\n"
    "  or a Hugging Face model directory.  --dtype converts the weight matrices.\n");
  return f == stdout ? 0 : EXIT_USAGE;
}

static int cmd_import(int argc, char **argv){
  static const struct option options[] = {
    { "output", required_argument, 0, 'o' },
    { "dtype", required_argument, 0, 'd' },
    { "tokenizer", required_argument, 0, 't' },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 }
  };
  import_options opt = { .dtype = -1 };
  const char *out = 0;
  int c;
  while( (c = getopt_long(argc, argv, "o:d:t:h", options, 0)) != -1 ){
    switch( c ){
      case 'o': out = optarg; break;
      case 't': opt.tokenizer_path = optarg; break;
      case 'd':
        opt.dtype = tensor_dtype_from_name(optarg);
        if( opt.dtype < 0 || !import_dtype_writable(opt.dtype) ){
          fprintf(stderr, "tensql import: --dtype takes f32, f16, bf16, q8_0 or q4_0, not '%s'\n",
                  optarg);
          return EXIT_USAGE;
        }
        break;
      default: return usage_import(stderr);
    }
  }
  if( out == 0 || optind != argc - 1 ) return usage_import(stderr);
  progress_bar bar = { clock_seconds(), -1 };
  if( isatty(2) ){
    opt.progress = progress_show;
    opt.progress_ctx = &bar;
  }
  model_writer_temp_path(out, import_temp, sizeof import_temp);
  signal(SIGINT, import_interrupted);
  signal(SIGTERM, import_interrupted);
  char err[1024];
  int rc = import_model(argv[optind], out, &opt, err, sizeof err);
  if( opt.progress ) fprintf(stderr, "\n");
  if( rc ){
    fprintf(stderr, "tensql import: %s\n", err);
    return 1;
  }
  fprintf(stderr, "imported %s -> %s in %.2f s\n", argv[optind], out, clock_seconds() - bar.started);
  return 0;
}

/* ---- info ----------------------------------------------------------------- */

/* Tensors by type, with their bytes and bits a weight, then all of them:
** "tensors 290: 121 f32 (0.3 MB, 32.00 bits), 132 q5_0 (...)". */
static void info_dtypes(const model *m){
  int64_t bytes[32] = {0}, weights[32] = {0}, all_bytes = 0, all_weights = 0;
  int count[32] = {0};
  for(int i = 0; i < m->n_tensors; i++){
    const model_tensor *t = &m->tensors[i];
    int64_t b = t->rows * (int64_t)tensor_row_bytes(t->dtype, (uint64_t)t->cols);
    count[t->dtype]++;
    bytes[t->dtype] += b;
    weights[t->dtype] += t->rows * t->cols;
    all_bytes += b;
    all_weights += t->rows * t->cols;
  }
  printf("tensors       %d:", m->n_tensors);
  for(int d = 0, first = 1; d < 32; d++){
    if( count[d] == 0 ) continue;
    printf("%s %d %s (%.1f MB, %.2f bits a weight)", first ? "" : ",", count[d],
           tensor_dtype_name(d), bytes[d] / 1e6, 8.0 * (double)bytes[d] / (double)weights[d]);
    first = 0;
  }
  printf("\nweights       %.1f MB, %.2f bits a weight\n", all_bytes / 1e6,
         all_weights ? 8.0 * (double)all_bytes / (double)all_weights : 0.0);
}

/* The program's length, and each statement the sandbox would refuse
** (program_check).  Returns how many it would refuse, or -1. */
static int info_program(const char *path){
  sqlite3 *db = 0;
  sqlite3_stmt *st = 0;
  int refused = -1;
  if( database_open(path, &db, SQLITE_OPEN_READONLY, 0) == SQLITE_OK
   && tensql_register(db) == SQLITE_OK
   && sqlite3_prepare_v2(db, "SELECT count(*) FROM program", -1, &st, 0) == SQLITE_OK
   && sqlite3_step(st) == SQLITE_ROW ){
    printf("program       %lld statements per step (SELECT sql FROM program)\n",
           (long long)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    st = 0;
    if( sqlite3_prepare_v2(db, "SELECT step, layer, problem FROM program_check", -1, &st, 0)
        == SQLITE_OK ) refused = 0;
  }
  while( refused >= 0 && sqlite3_step(st) == SQLITE_ROW ){
    if( refused++ == 0 ) printf("refused       the program will not run:\n");
    int step = sqlite3_column_int(st, 0), layer = sqlite3_column_int(st, 1);
    const char *problem = (const char*)sqlite3_column_text(st, 2);
    if( sqlite3_column_type(st, 1) == SQLITE_NULL ) printf("  step %d %s\n", step, problem);
    else printf("  step %d (layer %d) %s\n", step, layer, problem);
  }
  if( refused < 0 ) fprintf(stderr, "tensql info: %s: %s\n", path, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return refused;
}

static int usage_info(FILE *f){
  fprintf(f, "usage: tensql info MODEL.db\n"
             "  Architecture, hyper-parameters, tensors by dtype, tokenizer, chat template\n"
             "  and the program's length.  Lists each program statement that tensql\n"
             "  would refuse to run, and then exits with 1.\n");
  return f == stdout ? 0 : EXIT_USAGE;
}

static int cmd_info(int argc, char **argv){
  if( argc != 2 || argv[1][0] == '-' ) return usage_info(stderr);
  char err[512];
  model *m = model_open(argv[1], err, sizeof err);
  if( m == 0 ){
    fprintf(stderr, "tensql info: %s\n", err);
    return 1;
  }
  const model_params *p = &m->params;
  char *source = model_meta_text(m, "source.file");
  printf("model         %s\n", m->path);
  printf("source        %s\n", source ? source : "?");
  printf("architecture  %s: %d layers, dim %d, ffn %d, %d heads / %d kv heads,"
         " head %d, context %d\n", p->arch, p->n_layers, p->dim, p->hidden_dim,
         p->n_heads, p->n_kv_heads, p->head_dim, p->context_length);
  printf("rope          theta %g, %s; rms eps %g\n", p->rope_theta,
         p->rope == ROPE_HALVES ? "halves" : "adjacent pairs", p->rms_eps);
  info_dtypes(m);
  printf("tokenizer     %s, %d tokens, %d merges\n",
         tokenizer_kind_of(m->tokenizer) == TOKENIZER_SPM ? "sentencepiece (scores)" : "byte-level BPE",
         tokenizer_vocab_size(m->tokenizer), tokenizer_merge_count(m->tokenizer));
  printf("chat template %s\n", m->chat_template ? "yes" : "none");
  int refused = info_program(m->path);
  free(source);
  model_release(m);
  return refused == 0 ? 0 : 1;
}

/* ---- run ------------------------------------------------------------------- */

typedef struct run_options {
  const char *model, *prompt;
  engine_options engine;      /* threads 0 = run_default_threads() */
  int64_t max_tokens;         /* -1 = until the context is full */
  double temperature, top_p;
  int64_t top_k, seed;
  int chat;
} run_options;

static int usage_run(FILE *f){
  fprintf(f,
    "usage: tensql run [MODEL.db] -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P]\n"
    "                  [--seed S] [--chat] [--threads N] [--budget SIZE] [--policy opt|lru|os]\n"
    "                  [--no-prefetch]\n"
    "  Prints the prompt and its continuation as it is generated, then speed and\n"
    "  memory figures on stderr.  Without MODEL.db, the embedded fortunes model.\n"
    "  --temp 0 (the default) is greedy.  --budget\n"
    "  (300M, 1.5G, ...) bounds tiles, KV cache and activations together.\n"
    "  --threads defaults to the CPUs this process may use, at most 8.\n");
  return f == stdout ? 0 : EXIT_USAGE;
}

/* Kernel threads when --threads is not given: the CPUs this process may
** run on, at most RUN_DEFAULT_THREADS_MAX.  Decode streams the weights, so
** it gains while there is memory bandwidth left to take: on the 2 vCPUs of
** our test machines, 2 threads decode Qwen2.5-0.5B Q8_0 1.5-2.2x faster than
** 1 (median 1.8 over 12 paired benches), and about as fast under a budget,
** where disk reads bound both.  More than 8 was never measured.  (The
** extension keeps 1, as a library in someone else's process should.) */
#define RUN_DEFAULT_THREADS_MAX 8

static int run_default_threads(void){
  cpu_set_t allowed;
  if( sched_getaffinity(0, sizeof allowed, &allowed) ) return 1;
  int n = CPU_COUNT(&allowed);
  return n < 1 ? 1 : n > RUN_DEFAULT_THREADS_MAX ? RUN_DEFAULT_THREADS_MAX : n;
}

/* The model to run when none is named: the embedded fortunes model, built
** by `make` in the build directory and installed in the package data. */
static const char *default_model(void){
  return access("fortunes.db", R_OK) == 0 ? "fortunes.db" : PKGDATADIR "/fortunes.db";
}

static int run_parse(int argc, char **argv, run_options *o){
  static const struct option options[] = {
    { "prompt", required_argument, 0, 'p' }, { "tokens", required_argument, 0, 'n' },
    { "temp", required_argument, 0, 't' }, { "top-k", required_argument, 0, 'k' },
    { "top-p", required_argument, 0, 'P' }, { "seed", required_argument, 0, 's' },
    { "chat", no_argument, 0, 'c' }, OPTIONS_ENGINE_LONG,
    { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
  };
  *o = (run_options){ .prompt = "", .max_tokens = -1, .top_p = 1, .seed = (int64_t)time(0) };
  int c;
  char *end = "";
  while( (c = getopt_long(argc, argv, "p:n:t:k:P:s:ch", options, 0)) != -1 ){
    switch( c ){
      case 'p': o->prompt = optarg; break;
      case 'n': o->max_tokens = strtoll(optarg, &end, 10); break;
      case 't': o->temperature = strtod(optarg, &end); break;
      case 'k': o->top_k = strtoll(optarg, &end, 10); break;
      case 'P': o->top_p = strtod(optarg, &end); break;
      case 's': o->seed = strtoll(optarg, &end, 10); break;
      case 'c': o->chat = 1; break;
      default:
        if( options_engine(&o->engine, c, optarg, 64, 0) > 0 ) continue;
        return -1;
    }
    if( strchr("ntkPs", c) && *end ) return -1;
  }
  if( optind == argc ){
    o->model = default_model();
    return 0;
  }
  if( optind != argc - 1 ) return -1;
  o->model = argv[optind];
  return 0;
}

/* Open the model with tensql on the connection; NULL after a message. */
static sqlite3 *run_open(const char *path, const char *who){
  sqlite3 *db = 0;
  char err[512];
  model *m = model_open(path, err, sizeof err);
  if( m == 0 ){
    fprintf(stderr, "%s: %s\n", who, err);
    return 0;
  }
  model_release(m);
  if( database_open(path, &db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK
   || tensql_register(db) != SQLITE_OK ){
    fprintf(stderr, "%s: %s: %s\n", who, path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return 0;
  }
  return db;
}

static sqlite3_stmt *run_prepare(sqlite3 *db, const run_options *o){
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT text FROM generate WHERE prompt = ?1"
      " AND max_tokens = ?2 AND temperature = ?3 AND top_k = ?4"
      " AND top_p = ?5 AND seed = ?6 AND chat = ?7", -1, &st, 0);
  if( rc != SQLITE_OK ) return 0;
  sqlite3_bind_text(st, 1, o->prompt, -1, SQLITE_STATIC);
  /* no limit but the context, which generate enforces */
  sqlite3_bind_int64(st, 2, o->max_tokens >= 0 ? o->max_tokens : INT32_MAX);
  sqlite3_bind_double(st, 3, o->temperature);
  sqlite3_bind_int64(st, 4, o->top_k);
  sqlite3_bind_double(st, 5, o->top_p);
  sqlite3_bind_int64(st, 6, o->seed);
  sqlite3_bind_int(st, 7, o->chat);
  return st;
}

static int64_t prompt_token_count(sqlite3 *db, const run_options *o){
  sqlite3_stmt *st = 0;
  int64_t n = -1;
  sqlite3_prepare_v2(db, "SELECT json_array_length(tokenize(?1, ?2))", -1, &st, 0);
  sqlite3_bind_text(st, 1, o->prompt, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, o->chat);
  if( sqlite3_step(st) == SQLITE_ROW ) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

/* Stream the rows of generate to stdout; the first row's time splits
** prefill from decode. */
static int run_stream(sqlite3 *db, sqlite3_stmt *st, const run_options *o){
  double start = clock_seconds(), first = 0;
  int64_t rows = 0;
  int rc;
  if( !o->chat ) fputs(o->prompt, stdout);
  fflush(stdout);
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    if( rows++ == 0 ) first = clock_seconds();
    fwrite(sqlite3_column_text(st, 0), 1, (size_t)sqlite3_column_bytes(st, 0), stdout);
    fflush(stdout);
  }
  printf("\n");
  if( rc != SQLITE_DONE ){
    fprintf(stderr, "tensql run: %s\n", sqlite3_errmsg(db));
    return 1;
  }
  double end = clock_seconds();
  int64_t prompt = prompt_token_count(db, o);
  if( rows == 0 ) first = end;
  fprintf(stderr, "prefill: %lld tokens in %.1f ms (%.1f tok/s); decode: %lld tokens"
          " at %.1f tok/s; kernel threads: %d\n", (long long)prompt, (first - start) * 1e3,
          prompt / (first - start), (long long)(rows > 1 ? rows - 1 : 0),
          rows > 1 ? (rows - 1) / (end - first) : 0.0, workers_threads());
  return 0;
}

/* One line: what the tile manager did. */
static void run_memory_summary(sqlite3 *db){
  sqlite3_stmt *st = 0;
  sqlite3_prepare_v2(db, "SELECT hits, misses, prefetch_hits, bytes_read, evictions,"
                     " peak_total_bytes, budget, policy FROM tile_stats", -1, &st, 0);
  if( sqlite3_step(st) == SQLITE_ROW ){
    char peak[32], budget[32], read[32];
    budget_format((uint64_t)sqlite3_column_int64(st, 5), peak, sizeof peak);
    budget_format((uint64_t)sqlite3_column_int64(st, 6), budget, sizeof budget);
    budget_format((uint64_t)sqlite3_column_int64(st, 3), read, sizeof read);
    fprintf(stderr, "memory: peak %s of budget %s (%s); read %s; %lld hits, %lld misses,"
            " %lld prefetched, %lld evictions\n", peak,
            sqlite3_column_int64(st, 6) ? budget : "none", sqlite3_column_text(st, 7), read,
            sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
            sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 4));
  }
  sqlite3_finalize(st);
}

/* The engine options of run and chat, set before the model opens. */
static void engine_apply(const engine_options *e){
  budget_set((uint64_t)e->budget);
  budget_set_policy((budget_policy)e->policy);
  budget_set_prefetch(!e->no_prefetch);
  workers_set_threads(e->threads ? e->threads : run_default_threads());
}

static int cmd_run(int argc, char **argv){
  run_options o;
  if( run_parse(argc, argv, &o) ) return usage_run(stderr);
  engine_apply(&o.engine);
  sqlite3 *db = run_open(o.model, "tensql run");
  if( db == 0 ) return 1;
  sqlite3_stmt *st = run_prepare(db, &o);
  int rc = st ? run_stream(db, st, &o) : 1;
  if( st == 0 ) fprintf(stderr, "tensql run: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  if( rc == 0 ) run_memory_summary(db);
  sqlite3_close(db);
  return rc;
}

/* ---- chat ------------------------------------------------------------------ */

static int usage_chat(FILE *f){
  fprintf(f,
    "usage: tensql chat MODEL.db [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]\n"
    "                   [--threads N] [--budget SIZE] [--policy opt|lru|os] [--no-prefetch]\n"
    "  An interactive conversation in the model's chat template, one line per turn\n"
    "  (end with Ctrl-D).  The KV cache is kept between turns: earlier turns are\n"
    "  not computed again.\n");
  return f == stdout ? 0 : EXIT_USAGE;
}

/* conversation + {"role": role, "content": content}, as JSON text. */
static char *chat_append(sqlite3 *db, const char *conversation, const char *role,
                         const char *content){
  sqlite3_stmt *st = 0;
  char *out = 0;
  sqlite3_prepare_v2(db, "SELECT json_insert(?1, '$[#]', json_object('role', ?2, 'content', ?3))",
                     -1, &st, 0);
  sqlite3_bind_text(st, 1, conversation, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, content, -1, SQLITE_STATIC);
  if( sqlite3_step(st) == SQLITE_ROW ) out = strdup((const char*)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return out;
}

/* One assistant turn, streamed; returns the reply (malloc'd) or NULL. */
static char *chat_turn(sqlite3 *db, run_options *o, const char *conversation){
  o->prompt = conversation;
  o->chat = 1;
  sqlite3_stmt *st = run_prepare(db, o);
  if( st == 0 ) return 0;
  size_t len = 0, cap = 256;
  char *reply = malloc(cap);
  int rc;
  while( reply && (rc = sqlite3_step(st)) == SQLITE_ROW ){
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if( len + n + 1 > cap && (reply = realloc(reply, cap = 2 * (len + n + 1))) == 0 ) break;
    memcpy(reply + len, sqlite3_column_text(st, 0), n);
    len += n;
    fwrite(sqlite3_column_text(st, 0), 1, n, stdout);
    fflush(stdout);
  }
  printf("\n");
  if( reply == 0 || rc != SQLITE_DONE ){
    fprintf(stderr, "tensql chat: %s\n", sqlite3_errmsg(db));
    free(reply);
    reply = 0;
  }else{
    reply[len] = 0;
  }
  sqlite3_finalize(st);
  return reply;
}

static int cmd_chat(int argc, char **argv){
  run_options o;
  if( run_parse(argc, argv, &o) ) return usage_chat(stderr);
  engine_apply(&o.engine);
  sqlite3 *db = run_open(o.model, "tensql chat");
  if( db == 0 ) return 1;
  char *conversation = strdup("[]"), line[8192];
  int interactive = isatty(0), rc = 0;
  while( conversation ){
    if( interactive ){ printf("> "); fflush(stdout); }
    if( fgets(line, sizeof line, stdin) == 0 ) break;
    line[strcspn(line, "\n")] = 0;
    if( line[0] == 0 ) continue;
    char *asked = chat_append(db, conversation, "user", line);
    char *reply = asked ? chat_turn(db, &o, asked) : 0;
    free(conversation);
    conversation = reply ? chat_append(db, asked, "assistant", reply) : 0;
    if( reply == 0 ) rc = 1;
    free(asked);
    free(reply);
  }
  free(conversation);
  sqlite3_close(db);
  return rc;
}

/* ---- dispatch ------------------------------------------------------------- */

/* usage is NULL for commands that answer --help themselves. */
static const struct command {
  const char *name;
  int (*fn)(int, char **);
  int (*usage)(FILE *);
  const char *help;
} commands[] = {
  { "import", cmd_import, usage_import, "turn a GGUF, llama2.c or Hugging Face model into a model database" },
  { "info", cmd_info, usage_info, "show a model database's architecture, tensors and tokenizer" },
  { "run", cmd_run, usage_run, "generate text from a prompt, streamed as it is decoded" },
  { "chat", cmd_chat, usage_chat, "talk with an instruct model, turn by turn, keeping the KV cache" },
  { "synth", synth_command, 0, "write a GGUF model with random weights and a preset's shapes" },
  { "perplexity", perplexity_command, perplexity_usage, "score a text file: the model's perplexity on it" },
  { "bench", bench_command, bench_usage, "measure prefill and decode speed, memory and bytes read" },
};

static int usage(FILE *f){
  fprintf(f, "usage: tensql COMMAND [ARGS]   (tensql COMMAND --help for more)\n\n");
  for(size_t i = 0; i < sizeof commands / sizeof commands[0]; i++){
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
  }
  return f == stdout ? 0 : EXIT_USAGE;
}

int main(int argc, char **argv){
  if( argc < 2 ) return usage(stderr);
  if( strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ) return usage(stdout);
  for(size_t i = 0; i < sizeof commands / sizeof commands[0]; i++){
    if( strcmp(argv[1], commands[i].name) ) continue;
    int help = argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0);
    if( help && commands[i].usage ) return commands[i].usage(stdout);
    return commands[i].fn(argc - 1, argv + 1);
  }
  fprintf(stderr, "tensql: unknown command '%s'\n", argv[1]);
  return usage(stderr);
}
