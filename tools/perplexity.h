/*
** perplexity.h: the `tensql perplexity` command.
**
**   tensql perplexity MODEL.db FILE [--ctx N]
**
** Prints the model's perplexity on the text of FILE: exp of the mean
** negative log-likelihood of its tokens.  argv[0] is "perplexity"; returns
** the process exit code (0, 1 failure, 2 usage).
*/
#ifndef TENSQL_PERPLEXITY_H
#define TENSQL_PERPLEXITY_H

#include <stdio.h>

int perplexity_command(int argc, char **argv);
/* The usage text, to f; returns the exit code (0 for stdout, 2 else). */
int perplexity_usage(FILE *f);

#endif
