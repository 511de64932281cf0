/*
** cli.c: the `tensql` command.
**
**   tensql import SRC -o OUT.db [--dtype f32|f16|bf16|q8_0] [--tokenizer T]
**   tensql info MODEL.db
**
** Each command is a function below, listed in the `commands` table with
** its one-line help.  Exit codes: 0 success, 1 failure, 2 usage error.
*/
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "import.h"
#include "model.h"
#include "tensor.h"
#include "tensql.h"
#include "tokenizer.h"

#define EXIT_USAGE 2

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

static double now_seconds(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_show(void *ctx, uint64_t done, uint64_t total){
  progress_bar *bar = ctx;
  int percent = total ? (int)(done * 100 / total) : 0;
  if( percent == bar->last_percent ) return;
  bar->last_percent = percent;
  int filled = percent * 40 / 100;
  double mb = done / 1e6, secs = now_seconds() - bar->started;
  fprintf(stderr, "\r[%.*s%*s] %3d%%  %.1f MB  %.1f MB/s", filled,
          "########################################", 40 - filled, "",
          percent, mb, secs > 0 ? mb / secs : 0.0);
}

static int usage_import(void){
  fprintf(stderr,
    "usage: tensql import SRC -o OUT.db [--dtype f32|f16|bf16|q8_0] [--tokenizer FILE]\n"
    "  SRC is a GGUF file, a llama2.c checkpoint (with --tokenizer tokenizer.bin),\n"
    "  or a Hugging Face model directory.  --dtype converts the weight matrices.\n");
  return EXIT_USAGE;
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
        if( opt.dtype < 0 ){
          fprintf(stderr, "tensql import: unknown dtype '%s'\n", optarg);
          return EXIT_USAGE;
        }
        break;
      default: return usage_import();
    }
  }
  if( out == 0 || optind != argc - 1 ) return usage_import();
  progress_bar bar = { now_seconds(), -1 };
  if( isatty(2) ){
    opt.progress = progress_show;
    opt.progress_ctx = &bar;
  }
  model_db_temp_path(out, import_temp, sizeof import_temp);
  signal(SIGINT, import_interrupted);
  signal(SIGTERM, import_interrupted);
  char err[1024];
  int rc = import_model(argv[optind], out, &opt, err, sizeof err);
  if( opt.progress ) fprintf(stderr, "\n");
  if( rc ){
    fprintf(stderr, "tensql import: %s\n", err);
    return 1;
  }
  fprintf(stderr, "imported %s -> %s in %.2f s\n", argv[optind], out, now_seconds() - bar.started);
  return 0;
}

/* ---- info ----------------------------------------------------------------- */

static void info_dtypes(const model *m){
  int64_t bytes[32] = {0};
  int count[32] = {0};
  for(int i = 0; i < m->n_tensors; i++){
    const model_tensor *t = &m->tensors[i];
    count[t->dtype]++;
    bytes[t->dtype] += t->rows * (int64_t)tensor_row_bytes(t->dtype, (uint64_t)t->cols);
  }
  printf("tensors       %d:", m->n_tensors);
  for(int d = 0; d < 32; d++){
    if( count[d] ) printf(" %d %s (%.1f MB)", count[d], tensor_dtype_name(d), bytes[d] / 1e6);
  }
  printf("\n");
}

static int cmd_info(int argc, char **argv){
  if( argc != 2 || argv[1][0] == '-' ){
    fprintf(stderr, "usage: tensql info MODEL.db\n");
    return EXIT_USAGE;
  }
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
  free(source);
  model_release(m);
  return 0;
}

/* ---- dispatch ------------------------------------------------------------- */

static const struct command {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
  { "import", cmd_import, "turn a GGUF, llama2.c or Hugging Face model into a model database" },
  { "info", cmd_info, "show a model database's architecture, tensors and tokenizer" },
};

static int usage(FILE *f){
  fprintf(f, "usage: tensql COMMAND [ARGS]   (tensql COMMAND --help for more)\n\n");
  for(size_t i = 0; i < sizeof commands / sizeof commands[0]; i++){
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
  }
  return f == stdout ? 0 : EXIT_USAGE;
}

int main(int argc, char **argv){
  if( argc < 2 ) return usage(stderr);
  if( strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ) return usage(stdout);
  for(size_t i = 0; i < sizeof commands / sizeof commands[0]; i++){
    if( strcmp(argv[1], commands[i].name) == 0 ) return commands[i].fn(argc - 1, argv + 1);
  }
  fprintf(stderr, "tensql: unknown command '%s'\n", argv[1]);
  return usage(stderr);
}
