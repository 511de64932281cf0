/*
** tokenizer.h: text to token ids and back, for the two families tensql runs.
**
**   TOKENIZER_SPM  SentencePiece-style BPE by piece score (Llama, llama2.c,
**                  GGUF tokenizer.ggml.model = "llama"): dummy-prefix space,
**                  byte fallback to <0xHH> tokens.
**   TOKENIZER_BPE  byte-level BPE by merge rank (GPT-2, Qwen2; GGUF "gpt2"),
**                  after the family's pre-tokenizer split.
**
** Pieces are held as the raw bytes they decode to: an SPM "▁" is a space, a
** GPT-2 byte-level "Ġ" is byte 0x20.  Loaders convert on the way in, so the
** model database, the SQL functions and decode all see real text.
**
** Built by a loader (GGUF metadata, llama2.c tokenizer.bin, Hugging Face
** files) or from the model database's vocab/merge tables, via
** tokenizer_new + tokenizer_add_* + tokenizer_finish.
*/
#ifndef TENSQL_TOKENIZER_H
#define TENSQL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef enum tokenizer_kind { TOKENIZER_SPM = 1, TOKENIZER_BPE = 2 } tokenizer_kind;

/* Token kinds, numbered as GGUF's tokenizer.ggml.token_type. */
typedef enum token_kind {
  TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3,
  TOKEN_USER_DEFINED = 4, TOKEN_UNUSED = 5, TOKEN_BYTE = 6
} token_kind;

typedef struct tokenizer tokenizer;

/* `pre` names the BPE pre-tokenizer split: "gpt2" (or GGUF's "gpt-2"),
** "qwen2".  Ignored for SPM.  NULL if pre is unknown. */
tokenizer *tokenizer_new(tokenizer_kind kind, const char *pre);
void tokenizer_free(tokenizer *t);

/* Add token `id` (ids must be added 0,1,2,... in order). */
int tokenizer_add_token(tokenizer *t, const char *piece, size_t len,
                        float score, token_kind kind);
/* Add the next merge (rank = number of merges added before). */
int tokenizer_add_merge(tokenizer *t, const char *left, size_t left_len,
                        const char *right, size_t right_len);
/* Build lookup structures; after this the tokenizer is read-only and may be
** shared by threads.  A BPE vocab must have a piece for every single byte.
** Merges whose sides or result are not pieces are kept but never apply.
** Returns 0, or -1 with a message in err. */
int tokenizer_finish(tokenizer *t, char *err, size_t err_len);

tokenizer_kind tokenizer_kind_of(const tokenizer *t);
const char *tokenizer_pre(const tokenizer *t);
int tokenizer_vocab_size(const tokenizer *t);
int tokenizer_merge_count(const tokenizer *t);
/* Token `id`'s piece, score and kind; -1 if id is out of range. */
int tokenizer_token(const tokenizer *t, int id, const char **piece,
                    size_t *len, float *score, token_kind *kind);
int tokenizer_merge(const tokenizer *t, int rank, const char **left,
                    size_t *left_len, const char **right, size_t *right_len);
/* Exact piece lookup, -1 if absent (also before tokenizer_finish).  Where
** several tokens spell the same bytes (an SPM byte token and a normal
** piece), the normal piece wins. */
int tokenizer_find(const tokenizer *t, const char *piece, size_t len);

/* Bytes the tokenizer holds on the heap (tables at their allocated size).
** It lives as long as its model and outside the memory budget: this is
** its share of the overhead above the budget. */
size_t tokenizer_memory(const tokenizer *t);

/* Special ids, -1 where the vocab has none.  Set after the tokens are
** added (out-of-range ids become -1); add_bos needs a bos. */
void tokenizer_set_special(tokenizer *t, int bos, int eos, int add_bos);
int tokenizer_bos(const tokenizer *t);
int tokenizer_eos(const tokenizer *t);
int tokenizer_add_bos(const tokenizer *t);

/* SPM only: whether encode prepends a dummy space (GGUF's
** tokenizer.ggml.add_space_prefix; on by default for SPM, always off for
** BPE). */
void tokenizer_set_add_space_prefix(tokenizer *t, int on);
int tokenizer_add_space_prefix(const tokenizer *t);

/* Encode `text` (len bytes, need not be valid UTF-8) without BOS/EOS, as
** llama.cpp's llama_tokenize(add_special=false) and Hugging Face's
** encode(add_special_tokens=False) do.
**
** Special tokens: if parse_special, control tokens written in the text
** (e.g. "<|im_start|>") become their ids; otherwise they are plain text.
** User-defined tokens (Hugging Face added tokens that are not special,
** e.g. Qwen's "<tool_call>") always become their ids, as in both
** references.  Matching is leftmost, longest first.  The text between
** special tokens is encoded piece by piece; SPM gives every such fragment
** a dummy-prefix space (llama.cpp's rule).
**
** Invalid UTF-8 never fails: a byte that is not part of a valid UTF-8
** character becomes its byte token (SPM: <0xHH>, else <unk>), or in BPE
** part of a pre-token of such bytes merged as usual; either way it decodes
** back to the same byte.  (Hugging Face cannot receive such text;
** llama.cpp turns it into U+FFFD.)  No Unicode normalisation is applied.
**
** Writes at most cap ids to ids and returns the total count (which may exceed
** cap: call again with more room), or -1 with a message in err. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len,
                     int parse_special, int *ids, int cap,
                     char *err, size_t err_len);

/* The bytes token `id` contributes to text when it follows token `prev`
** (-1 at the start): byte tokens become their byte; control, unknown and
** unused tokens contribute nothing; with the dummy prefix on (SPM), a
** normal or byte piece loses its leading space at the start and after a
** control, unknown or user-defined token (so after BOS), where encode put
** that space.  Returns the length and sets *out; -1 if id is out of range.
**
** Round trip: for any bytes x, concatenating decode_piece over
** encode(x, parse_special=0) gives x back.  With parse_special=1 the text
** of each control or unknown token in the output goes missing, nothing
** else. */
int tokenizer_decode_piece(const tokenizer *t, int prev, int id,
                           const char **out);

/* GPT-2's bytes_to_unicode, the byte-level BPE alphabet: byte bytes[i] is
** spelled as code point code_points[i].  bytes lists the printable
** Latin-1 bytes first, which stand for themselves, then the other 68 in
** order, numbered from U+0100 (so a space is "Ġ", U+0120).  That is also
** the order of the 256 single-byte tokens that open GPT-2's and Qwen's
** vocabularies. */
void tokenizer_bytes_to_unicode(unsigned char bytes[256], unsigned code_points[256]);

/* Loaders.  Each returns a finished tokenizer or NULL with err. */
/* llama2.c tokenizer.bin (SPM): vocab_size comes from the model header.
** Ids 0, 1, 2 are <unk>, BOS <s> and EOS </s>; BOS is added. */
tokenizer *tokenizer_load_llama2c(const char *path, int vocab_size,
                                  char *err, size_t err_len);
/* GGUF metadata tokenizer.ggml.*: model "llama" (SPM) or "gpt2" (BPE with
** pre "gpt-2" or "qwen2"); tokens, scores, token_type, merges, bos/eos ids,
** add_bos_token and add_space_prefix (llama.cpp's defaults when absent). */
struct gguf;
tokenizer *tokenizer_load_gguf(const struct gguf *g, char *err, size_t err_len);
/* Hugging Face, byte-level BPE: a directory holding tokenizer.json (GPT-2's
** ByteLevel or Qwen2's Split pre-tokenizer), or vocab.json + merges.txt
** (pre-tokenizer from tokenizer_config.json's tokenizer_class, GPT2Tokenizer
** or Qwen2Tokenizer); optionally tokenizer_config.json for added tokens
** (special ones become control tokens, the others user-defined), bos_token,
** eos_token and add_bos_token.  Other tokenizers are refused by name. */
tokenizer *tokenizer_load_hf(const char *dir, char *err, size_t err_len);
/* The id in t of special token `which` ("bos", "eos", "unk", "pad"), found
** as llama.cpp's gguf.SpecialVocab finds it: tokenizer_config.json's
** {which}_token (a string, or an object with "content"), else config.json's
** {which}_token_id (an integer, or a list whose first element is used).
** Either JSON text may be NULL (no such file).  *id is -1 if neither names
** a token of t.  Returns -1 with err ("eos_token_id 600 is not in the
** vocabulary") if config.json names an id that t does not have. */
struct hf_json;
int tokenizer_hf_special_id(struct hf_json *j, const tokenizer *t,
                            const char *tokenizer_config, const char *config,
                            const char *which, int *id, char *err, size_t err_len);

#endif
