/*
** runner.h: running the model's program.  The statements of the program
** table are prepared once per connection and checked, then every step
** binds nothing and steps each of them in order.
*/
#ifndef TENSQL_RUNNER_H
#define TENSQL_RUNNER_H

#include "extension.h"

typedef struct runner runner;

/* Prepare (or re-prepare, if the program table changed) the session's
** program.  Returns SQLITE_OK or an error code with *err set (sqlite3_malloc). */
int runner_ready(session *s, char **err);

/* Run one step: n positions from pos0 with the given tokens.  Afterwards
** runner_logits gives the logits of the step's last position. */
int runner_step(session *s, int64_t pos0, const int *tokens, int64_t n, char **err);

/* The logits the last step left in act 'logits' (its last row), and their
** count; NULL if there are none. */
const float *runner_logits(session *s, int64_t *count);

/* Capture the activations matching patterns in the following steps (see
** capture.h); NULL patterns stop capturing.  Returns the run id, or -1
** with *err. */
int64_t runner_capture(session *s, const char *patterns, char **err);

/* Statements per step. */
int runner_statements(const session *s);

void runner_free(runner *r);

#endif
