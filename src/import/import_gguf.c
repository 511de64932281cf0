/*
** import_gguf.c: GGUF (v2, v3) to model database.  Scalar metadata is kept
** under its GGUF key, the tokenizer arrays become the vocab and merge
** tables, and tensors are copied block for block (or converted with
** --dtype).  Every tensor's type is checked before anything is written, so
** a file with a type tensql cannot store fails at once, naming it.
*/
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "model.h"
#include "kernels/tensor.h"
#include "tokenizer/tokenizer.h"

/* Copy one scalar key; arrays are skipped (the tokenizer's are read by the
** tokenizer loader, and no forward pass needs the others). */
static int meta_copy(model_writer *w, const gguf *g, uint64_t i){
  gguf_str key = gguf_kv_key(g, i);
  char *name = strndup(key.ptr, key.len);
  int rc = 0;
  int64_t iv; double fv; gguf_str sv;
  if( name == 0 ) return -1;
  switch( gguf_kv_type(g, i) ){
    case GGUF_ARRAY:
      break;
    case GGUF_STRING: {
      gguf_kv_string(g, i, &sv);
      char *text = strndup(sv.ptr, sv.len);
      rc = text ? model_writer_meta_text(w, name, text) : -1;
      free(text);
      break;
    }
    case GGUF_FLOAT32: case GGUF_FLOAT64:
      gguf_kv_float(g, i, &fv);
      rc = model_writer_meta_float(w, name, fv);
      break;
    default:
      if( gguf_kv_int(g, i, &iv) == 0 ) rc = model_writer_meta_int(w, name, iv);
      else if( gguf_kv_float(g, i, &fv) == 0 ) rc = model_writer_meta_float(w, name, fv);
      break;
  }
  free(name);
  return rc;
}

static int check_tensor_types(const gguf *g, char *err, size_t err_len){
  for(uint64_t i = 0; i < gguf_tensor_count(g); i++){
    const gguf_tensor *t = gguf_tensor_at(g, i);
    if( !tensor_dtype_known((int)t->type) ){
      const char *type = gguf_ggml_type_name(t->type);
      snprintf(err, err_len, "tensor %.*s has type %s; tensql stores f32, f16, bf16,"
               " q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl and q2_k to q6_k", (int)t->name.len,
               t->name.ptr, type ? type : "?");
      return -1;
    }
  }
  return 0;
}

static int tensor_copy(model_writer *w, const gguf_tensor *t,
                       const import_options *opt){
  uint64_t shape[4];
  char *name = strndup(t->name.ptr, t->name.len);
  if( name == 0 ) return -1;
  /* GGUF lists dimensions innermost first; the database outermost first. */
  for(uint32_t d = 0; d < t->n_dims; d++) shape[d] = t->ne[t->n_dims - 1 - d];
  int rc = model_writer_tensor(w, name, (int)t->n_dims, shape, t->type, t->data,
                               import_target_dtype(opt, (int)t->n_dims, t->ne[0], (int)t->type));
  free(name);
  return rc;
}

static int gguf_fill(const char *src, const gguf *g, const import_options *opt,
                     model_writer *w, char *err, size_t err_len){
  char *arch = gguf_get_string_dup(g, "general.architecture"), msg[256];
  int known = model_arch_known(arch, msg, sizeof msg);
  if( !known ) snprintf(err, err_len, "%s: %s", src, msg);
  free(arch);
  if( !known || check_tensor_types(g, err, err_len) ) return -1;
  tokenizer *tok = tokenizer_load_gguf(g, err, err_len);
  if( tok == 0 ) return -1;
  int rc = model_writer_tokenizer(w, tok);
  tokenizer_free(tok);
  for(uint64_t i = 0; rc == 0 && i < gguf_kv_count(g); i++) rc = meta_copy(w, g, i);
  uint64_t total = 0;
  for(uint64_t i = 0; i < gguf_tensor_count(g); i++) total += gguf_tensor_at(g, i)->size;
  model_writer_progress(w, opt->progress, opt->progress_ctx, total);
  for(uint64_t i = 0; rc == 0 && i < gguf_tensor_count(g); i++){
    rc = tensor_copy(w, gguf_tensor_at(g, i), opt);
  }
  if( rc ){
    snprintf(err, err_len, "%s", model_writer_error(w));
    return -1;
  }
  return import_source_meta(w, src, "gguf", err, err_len);
}

int import_gguf(const char *src, const import_options *opt, model_writer *w,
                char *err, size_t err_len){
  gguf *g = gguf_open(src, err, err_len);
  if( g == 0 ) return -1;
  int rc = gguf_fill(src, g, opt, w, err, err_len);
  gguf_close(g);
  return rc;
}
