/*
** import.h: turn a model file into a tensql model database.
**
**   tensql import model.gguf -o model.db [--dtype q8_0]
**   tensql import stories.bin --tokenizer tok512.bin -o model.db
**   tensql import hf-model-dir/ -o model.db
**
** The source format is recognised from the path: a directory is a Hugging
** Face model, a file starting with "GGUF" is GGUF, anything else is tried as
** a llama2.c checkpoint (which has no magic).
*/
#ifndef TENSQL_IMPORT_H
#define TENSQL_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "model_writer.h"

typedef struct import_options {
  const char *tokenizer_path;  /* llama2.c tokenizer.bin, for .bin sources */
  int dtype;                   /* -1 keeps the source dtype; else tensor_dtype
                               ** for the 2-D weight matrices (norms and biases
                               ** stay f32) */
  size_t tile_bytes;           /* 0 = default */
  model_progress_fn progress;  /* may be NULL */
  void *progress_ctx;
} import_options;

/* Whether import can convert weights to dtype (--dtype): f32, f16, bf16,
** q8_0 and q4_0, each rounded as ggml's reference quantizer rounds.  The
** other block types are stored only as a GGUF file has them. */
int import_dtype_writable(int dtype);

/* Import src into out.  Returns 0, or -1 with a message in err; on error no
** file is left at out. */
int import_model(const char *src, const char *out, const import_options *opt,
                 char *err, size_t err_len);

/* Each source format's importer fills an open writer.  They share the
** naming of tensors (GGUF's: token_embd.weight, blk.N.attn_q.weight, ...)
** and of metadata (GGUF's keys: general.architecture, llama.block_count,
** ...), so everything downstream sees one vocabulary. */
int import_gguf(const char *src, const import_options *opt, model_writer *w,
                char *err, size_t err_len);
int import_llama2c(const char *src, const import_options *opt, model_writer *w,
                   char *err, size_t err_len);
int import_hf(const char *dir, const import_options *opt, model_writer *w,
              char *err, size_t err_len);

/* The dtype a tensor is stored as: opt->dtype for 2-D weights, f32 for 1-D
** tensors (norms, biases), the source dtype when opt->dtype is -1 or when
** rows of `cols` cannot be stored in opt->dtype (q8_0 needs multiples of
** 32, as in llama.cpp, which also keeps such tensors unquantized). */
int import_target_dtype(const import_options *opt, int n_dims, uint64_t cols,
                        int src_dtype);

/* Record where the model came from: meta source.file, source.format and
** source.xxh3 (XXH3-64 of the file, hex). */
int import_source_meta(model_writer *w, const char *path, const char *format,
                       char *err, size_t err_len);

#endif
