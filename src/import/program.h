/*
** program.h: the forward pass as SQL.  sql/llama.sql is a template; at
** import it is instantiated for the model (its layers, its tensors) into
** the `program` table, one statement per row:
**
**   SELECT step, layer, sql FROM program ORDER BY step;
*/
#ifndef TENSQL_PROGRAM_H
#define TENSQL_PROGRAM_H

#include <stddef.h>

struct sqlite3;

/* Write the program for the architecture in meta into the program table of
** db (a model database being written).  Returns 0, or -1 with err. */
int program_write(struct sqlite3 *db, char *err, size_t err_len);

/* The same from the template text given, in sql/llama.sql's form. */
int program_write_template(struct sqlite3 *db, const char *text, char *err, size_t err_len);

#endif
