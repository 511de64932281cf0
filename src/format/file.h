/*
** file.h: a whole file read into memory, for the small files a model
** ships beside its weights (config.json, tokenizer.json, merges.txt,
** model.safetensors.index.json, a llama2.c tokenizer.bin) and the text
** `tensql perplexity` scores.
**
**   size_t len;
**   char *text = file_read_all("dir/config.json", &len, err, sizeof err);
**   if( text == NULL && errno == ENOENT ) ...      an optional file is absent
**
** Weights are never read this way: GGUF and safetensors files are mapped.
*/
#ifndef TENSQL_FILE_H
#define TENSQL_FILE_H

#include <stddef.h>

/* The bytes of the file at path, with a NUL after them that *len (when
** len is not NULL) does not count, so a text file is also a C string.
** The caller frees it.  Reads to the end of the file, so a pipe or a
** file in /proc reads whole too.  NULL on failure, with "PATH: reason" in
** err ("dir/config.json: No such file or directory") and errno still
** saying why (ENOENT for a missing file). */
char *file_read_all(const char *path, size_t *len, char *err, size_t err_len);

#endif
