/*
** runner.h: running the model's program.  The statements of the program
** table are prepared once per connection and checked, then every step
** binds nothing and steps each of them in order.
*/
#ifndef TENSQL_RUNNER_H
#define TENSQL_RUNNER_H

#include "extension.h"

typedef struct runner runner;
typedef struct runner_profile runner_profile;

/* Open the session's sandbox (sandbox.h) if it has none yet.  SQLITE_OK
** or an error with *err (sqlite3_malloc). */
int runner_sandbox(session *s, char **err);

/* Why the sandbox refuses one statement of a program (sqlite3_malloc'd),
** or NULL if it would run it. */
char *runner_check(session *s, const char *sql);

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

/* Time spent in a statement of the program since the session first ran
** it, by kind of step: [0] decode (one position), [1] prefill (several). */
typedef struct runner_time {
  int64_t calls[2];
  double seconds[2];
} runner_time;

/* The session's profile (session.profile): statement i, counted from 0 in
** program order, gives its program step, layer (-1 outside the layers),
** text and times; NULL past the end or before the first step. */
const runner_time *runner_statement(const session *s, int i, int *step, int *layer,
                                    const char **sql);

void runner_free(runner *r);
void runner_profile_free(runner_profile *p);

#endif
