/*
** options.h: what the `tensql` commands share on their command lines.
**
**   return f == stdout ? 0 : EXIT_USAGE;    -- the end of every usage function
**
** Every command exits 0 on success, 1 on failure and EXIT_USAGE (2) when
** its command line is wrong, after printing its usage on stderr.
*/
#ifndef TENSQL_OPTIONS_H
#define TENSQL_OPTIONS_H

#define EXIT_USAGE 2

#endif
