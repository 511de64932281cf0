/*
** model_writer.h: writing a tensql model database, atomically.
**
** An importer opens a writer on the final path, adds metadata, tensors and
** the tokenizer, and commits.  Until the commit everything goes to a hidden
** temporary file beside the target ("OUT.db.tmp-PID"), which the commit
** renames over OUT.db in one step; an abort, an error or a crash leaves no
** file that looks like a model.  A killed import leaves its OUT.db.tmp-PID
** behind: the next commit to OUT.db removes every such file whose process
** PID no longer exists.  The schema is sql/schema.sql.
*/
#ifndef TENSQL_MODEL_WRITER_H
#define TENSQL_MODEL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/tensor.h"

struct tokenizer;
typedef struct model_writer model_writer;

/* Called as tensors are written, with bytes done so far and the total given
** to model_writer_expect (0 if unknown). */
typedef void (*model_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* The temporary file a writer for path uses until its commit, so that a
** signal handler can remove it. */
void model_writer_temp_path(const char *path, char *out, size_t out_len);

model_writer *model_writer_open(const char *path, char *err, size_t err_len);
void model_writer_progress(model_writer *w, model_progress_fn fn, void *ctx,
                           uint64_t total_bytes);
/* Target tile size in bytes (default 1 MiB); tiles hold whole rows. */
void model_writer_tile_bytes(model_writer *w, size_t bytes);

int model_writer_meta_text(model_writer *w, const char *key, const char *value);
int model_writer_meta_int(model_writer *w, const char *key, int64_t value);
int model_writer_meta_float(model_writer *w, const char *key, double value);

/* Add tensor `name` whose source data is `src` in src_dtype, shape given
** outermost first (the last dimension is the row length).  It is stored as
** dst_dtype: equal dtypes copy block for block, otherwise each row is
** converted (F32/F16/BF16 <-> each other, any of them -> Q8_0 with ggml's
** rounding, Q8_0 -> F32/F16/BF16). */
int model_writer_tensor(model_writer *w, const char *name, int n_dims,
                        const uint64_t *shape, tensor_dtype src_dtype,
                        const void *src, tensor_dtype dst_dtype);

int model_writer_tokenizer(model_writer *w, const struct tokenizer *t);

/* Finish: write the program for meta('general.architecture'), sync and
** rename into place.  On success w is freed; on failure read
** model_writer_error(w), then call model_writer_abort(w). */
int model_writer_commit(model_writer *w);
/* Remove the temporary file.  Frees w. */
void model_writer_abort(model_writer *w);

/* The last error message of w. */
const char *model_writer_error(const model_writer *w);

#endif
