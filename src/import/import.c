/*
** import.c: `tensql import SRC -o OUT.db`.  Recognises the source format,
** opens an atomic model writer on OUT.db and hands it to the importer for
** that format; the writer's commit renames the finished file into place.
*/
#include "import.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "kernels/tensor.h"

int import_target_dtype(const import_options *opt, int n_dims, uint64_t cols,
                        int src_dtype){
  if( n_dims < 2 ) return TENSOR_F32;
  if( opt->dtype < 0 || tensor_row_bytes((tensor_dtype)opt->dtype, cols) == 0 ) return src_dtype;
  return opt->dtype;
}

typedef int (*importer_fn)(const char *, const import_options *,
                           model_writer *, char *, size_t);

/* A directory is a Hugging Face model; "GGUF" magic is GGUF; anything else
** may be a llama2.c checkpoint, which has no magic of its own. */
static importer_fn importer_for(const char *src, char *err, size_t err_len){
  struct stat st;
  if( stat(src, &st) ){
    snprintf(err, err_len, "%s: no such file or directory", src);
    return 0;
  }
  if( S_ISDIR(st.st_mode) ) return import_hf;
  FILE *f = fopen(src, "rb");
  char magic[4] = {0};
  if( f == 0 ){
    snprintf(err, err_len, "%s: cannot open", src);
    return 0;
  }
  size_t n = fread(magic, 1, 4, f);
  fclose(f);
  if( n == 4 && memcmp(magic, "GGUF", 4) == 0 ) return import_gguf;
  return import_llama2c;
}

int import_dtype_writable(int dtype){
  return dtype == TENSOR_F32 || dtype == TENSOR_F16 || dtype == TENSOR_BF16
      || dtype == TENSOR_Q8_0 || dtype == TENSOR_Q4_0;
}

int import_model(const char *src, const char *out, const import_options *opt,
                 char *err, size_t err_len){
  if( opt->dtype >= 0 && !import_dtype_writable(opt->dtype) ){
    const char *name = tensor_dtype_name(opt->dtype);
    snprintf(err, err_len, "import converts to f32, f16, bf16, q8_0 or q4_0, not %s",
             name ? name : "an unknown dtype");
    return -1;
  }
  importer_fn importer = importer_for(src, err, err_len);
  if( importer == 0 ) return -1;
  model_writer *w = model_writer_open(out, err, err_len);
  if( w == 0 ) return -1;
  model_writer_tile_bytes(w, opt->tile_bytes);
  if( importer(src, opt, w, err, err_len) ){
    model_writer_abort(w);
    return -1;
  }
  if( model_writer_commit(w) ){
    snprintf(err, err_len, "%s", model_writer_error(w));
    model_writer_abort(w);
    return -1;
  }
  return 0;
}

/* Hash the source file in 1 MiB reads, so provenance costs no memory. */
static int file_xxh3(const char *path, uint64_t *hash){
  FILE *f = fopen(path, "rb");
  if( f == 0 ) return -1;
  XXH3_state_t *state = XXH3_createState();
  static char buf[1 << 20];
  size_t n;
  XXH3_64bits_reset(state);
  while( (n = fread(buf, 1, sizeof buf, f)) > 0 ) XXH3_64bits_update(state, buf, n);
  int rc = ferror(f) ? -1 : 0;
  *hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  fclose(f);
  return rc;
}

int import_source_meta(model_writer *w, const char *path, const char *format,
                       char *err, size_t err_len){
  uint64_t hash;
  char hex[17];
  if( file_xxh3(path, &hash) ){
    snprintf(err, err_len, "%s: read error", path);
    return -1;
  }
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
  if( model_writer_meta_text(w, "source.file", path)
   || model_writer_meta_text(w, "source.format", format)
   || model_writer_meta_text(w, "source.xxh3", hex) ){
    snprintf(err, err_len, "%s", model_writer_error(w));
    return -1;
  }
  return 0;
}
