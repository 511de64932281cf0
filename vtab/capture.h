/*
** capture.h: recording activations while generate runs.
**
**   SELECT text FROM generate WHERE prompt = 'Once upon a time'
**      AND capture = 'blk.*.resid,logits';
**   SELECT pos, layer, tensor_norm(data) FROM activation
**    WHERE run_id = (SELECT max(run_id) FROM activation) AND name LIKE '%.resid';
**
** Every activation whose name matches one of the comma-separated GLOB
** patterns is stored, one row per position (prompt positions included), in
** the table activation(run_id, pos, layer, name, shape, data): the
** model's main database gets one unless a table of that name is already
** visible (in temp, or in an attached database).  data is a float32 BLOB,
** shape a JSON array.  Names:
**
**   blk.N.resid         the residual stream after block N
**   blk.N.q, .k, .v     the projections (q and k after RoPE; k and v as
**                       the cache holds them)
**   blk.N.attn_weights  the attention weights, [heads][positions so far]
**   blk.N.attn_out      the attention block's output (after Wo)
**   blk.N.ffn_out       the feed-forward block's output
**   blk.N.h, .gate, .up, .g, .attn   the other activations of the block
**   final_norm          the residual stream after the output norm
**   logits              row i predicts token i + 1
**
** Each capture is an INSERT ... SELECT run right after the program
** statement that last writes the activation in its layer; rows are
** written out as they are made, never held.
*/
#ifndef TENSQL_CAPTURE_H
#define TENSQL_CAPTURE_H

#include "extension.h"

typedef struct capture capture;

/* Plan the captures matching `patterns` for the program statements
** `sql[0..n)` with their layers; prepares the INSERTs.  NULL with *err on
** error, or if nothing matches (so a typo does not pass silently). */
capture *capture_plan(sqlite3 *db, const char *patterns, int n,
                      const char *const *sql, const int *layers, char **err);

/* Run the captures that follow statement i. */
int capture_after(capture *c, int i, char **err);

/* The run id this capture writes. */
int64_t capture_run_id(const capture *c);

void capture_free(capture *c);

#endif
