/*
** sandbox.h: the connection a model's program runs on.
**
** A model database is downloaded data, and its program is SQL written by
** whoever made the file.  So the program never runs on the caller's
** connection, which may hold the sqlite3 shell's readfile() and edit(),
** extension loading, attached databases and TEMP triggers.  It runs on a
** private in-memory connection that holds only tensql's tables and
** functions, where an authorizer admits reads of the tensor tables, step,
** head, act and kv, writes to temp.act and temp.kv, tensql's functions and
** SQLite's pure built-ins, and nothing else; and where each statement
** stops after SANDBOX_STATEMENT_LIMIT virtual-machine instructions.
*/
#ifndef TENSQL_SANDBOX_H
#define TENSQL_SANDBOX_H

#include "extension.h"

typedef struct sandbox sandbox;

/* The bound on one program statement, in SQLite virtual-machine
** instructions.  Qwen2.5-0.5B's largest statement takes about 5,000 in a
** prefill of 500 positions; a runaway one takes this many in about half a
** second. */
#define SANDBOX_STATEMENT_LIMIT 100000000

/* Open the sandbox of session s, with tensql's tables and functions on
** it.  NULL with *err (sqlite3_malloc) on failure. */
sandbox *sandbox_open(session *s, char **err);
void sandbox_close(sandbox *sb);

/* The sandbox's connection, to prepare more checks of what it accepted. */
sqlite3 *sandbox_db(sandbox *sb);

/* Prepare one program statement (one only) in the sandbox.  SQLITE_OK, or
** an error with *why (sqlite3_malloc): with SQLITE_AUTH, what the statement
** touches that the sandbox refuses; else SQLite's own message. */
int sandbox_prepare(sandbox *sb, const char *sql, sqlite3_stmt **st, char **why);

/* Run st to completion under the instruction bound.  A statement that
** exceeds it, or that runs while the caller interrupts its own connection
** (sqlite3_interrupt: Ctrl-C in the shell), stops with SQLITE_INTERRUPT and
** *why says which.  caller_probe is any statement of the caller's
** connection: stepping it is how an interrupt there is seen. */
int sandbox_run(sandbox *sb, sqlite3_stmt *st, sqlite3_stmt *caller_probe, char **why);

#endif
