/*
** synth.h: synthetic models.  Writes a valid GGUF v3 file with random
** weights and exactly the shapes of a preset, for benchmarks and tests:
** speed and memory depend on shapes, not values.
**
**   tensql synth --preset qwen2.5-0.5b -o qwen-synth.gguf --dtype q8_0
**   tensql import qwen-synth.gguf -o qwen-synth.db
**
** The file is what llama.cpp's converter writes for a qwen2 model: the same
** metadata keys and types, tensor names, shapes and dtypes (2-D weights in
** the chosen dtype, norms and biases f32), so llama.cpp can load it too.
** The values come from one seeded PRNG stream in file order, the same for
** every dtype: the same seed gives the same f32 values, then rounded.
**
** The tokenizer is either a minimal byte-level one (256 byte tokens, then
** filler tokens "<|synth_N|>" and Qwen's three ChatML specials at Qwen's
** ids, no merges) or, with tokenizer_dir, a real Hugging Face tokenizer
** such as ../shared/tokenizers/qwen2.5, written as llama.cpp's
** convert_hf_to_gguf.py writes it and padded to the preset's vocabulary
** with "[PADn]" tokens of type UNUSED.
*/
#ifndef TENSQL_SYNTH_H
#define TENSQL_SYNTH_H

#include <stddef.h>
#include <stdint.h>

/* A model's shapes and hyper-parameters. */
typedef struct synth_preset {
  const char *name;         /* "qwen2.5-0.5b", "tiny" */
  const char *arch;         /* GGUF general.architecture: "qwen2" */
  int vocab;                /* embedding rows */
  int dim;                  /* hidden size */
  int n_layers;
  int n_heads, n_kv_heads;  /* head_dim = dim / n_heads */
  int ffn;                  /* feed-forward hidden size */
  int context;
  double rope_theta, rms_eps;
  int qkv_bias;             /* q, k and v projections have biases */
  int tied;                 /* no output.weight: logits use token_embd */
} synth_preset;

/* The preset called name, or NULL. */
const synth_preset *synth_preset_find(const char *name);

typedef struct synth_options {
  const char *preset;         /* a preset name */
  const char *out;            /* the GGUF file to write */
  int dtype;                  /* TENSOR_F32, TENSOR_F16 or TENSOR_Q8_0: the
                              ** 2-D weights' type */
  uint64_t seed;
  const char *tokenizer_dir;  /* a Hugging Face tokenizer directory, or NULL
                              ** for the minimal byte-level tokenizer */
} synth_options;

/* Write the model.  The file is written to a temporary file beside out and
** renamed over it at the end, so an error leaves no file at out (and no
** temporary).  Returns 0, or -1 with a message in err. */
int synth_write(const synth_options *opt, char *err, size_t err_len);

/* The CLI: tensql synth --preset NAME -o OUT.gguf [--dtype f32|f16|q8_0]
** [--seed S] [--tokenizer-dir DIR].  argv[0] is "synth".  Exit code 0 on
** success, 1 on failure, 2 on a usage error. */
int synth_command(int argc, char **argv);

#endif
