/*
** test_tokenizer.c: both tokenizer families against independent references.
**
**   - llama.cpp's vectors (the .inp/.out files in llama.cpp-vectors, made by
**     Hugging Face's tokenizers) for Qwen2 (the real Qwen2.5 files, loaded
**     as a Hugging Face directory and again as a tokenizer.json built from
**     them), Llama SPM (the vocab-only GGUF, and the same vocab as llama2.c's
**     tokenizer.bin) and GPT-2 (vocab-only GGUF);
**   - llama2.c run.c's encode of tok512 (models/stories260K/vectors);
**   - Qwen2.5 ids with special tokens (tokenizers/qwen2.5, see its SOURCE.md).
** Every vector also checks that decoding gives the input back.  The rest
** tests behaviour tokenizer.h promises: special-token parsing, invalid
** UTF-8, the dummy-prefix rule of decode, the add API, loader errors, and
** how much memory a loaded tokenizer holds.
*/
#include "format/gguf.h"
#include "format/hf_json.h"
#include "../testutil.h"
#include "tokenizer/tokenizer.h"

#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#define VECTORS "tokenizers/llama.cpp-vectors/"

static tokenizer *qwen, *qwen_json, *spm, *gpt2, *tok512;

/* ---- helpers ---------------------------------------------------------------- */

static void write_file(const char *path, const char *text){
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

/* Encode into a malloc'd array (*n ids), checking the count-then-fill
** contract of tokenizer_encode on the way. */
static int *encode(const tokenizer *t, const char *s, size_t len, int special,
                   int *n){
  char err[256] = "";
  int count = tokenizer_encode(t, s, len, special, NULL, 0, err, sizeof err);
  ck_assert_msg(count >= 0, "encode failed: %s", err);
  int *ids = malloc(((size_t)count + 1) * sizeof *ids);
  ck_assert_int_eq(tokenizer_encode(t, s, len, special, ids, count, err, sizeof err), count);
  *n = count;
  return ids;
}

/* Concatenated decode_piece of ids[0..n), as a malloc'd string. */
static char *decode(const tokenizer *t, const int *ids, int n, size_t *len){
  size_t cap = 64, at = 0;
  char *out = malloc(cap);
  int bad = -1;
  /* Check records every assertion, so one per id would dominate the run. */
  for(int i = 0; i < n; i++){
    const char *p;
    int k = tokenizer_decode_piece(t, i ? ids[i - 1] : -1, ids[i], &p);
    if( k < 0 ){ bad = ids[i]; k = 0; }
    while( at + (size_t)k + 1 > cap ) out = realloc(out, cap *= 2);
    memcpy(out + at, p, (size_t)k);
    at += (size_t)k;
  }
  out[at] = 0;
  ck_assert_msg(bad < 0, "decode_piece refused id %d", bad);
  *len = at;
  return out;
}

static void assert_round_trip(const tokenizer *t, const char *s, size_t len,
                              const int *ids, int n){
  size_t got_len;
  char *got = decode(t, ids, n, &got_len);
  ck_assert_msg(got_len == len && memcmp(got, s, len) == 0,
                "decode(encode(\"%.*s\")) gave \"%s\"", (int)len, s, got);
  free(got);
}

static void assert_ids(const int *got, int n_got, const int *want, int n_want,
                       const char *what){
  char g[512] = "", w[512] = "";
  for(int i = 0; i < n_got && strlen(g) < 480; i++) sprintf(g + strlen(g), " %d", got[i]);
  for(int i = 0; i < n_want && strlen(w) < 480; i++) sprintf(w + strlen(w), " %d", want[i]);
  ck_assert_msg(n_got == n_want && memcmp(got, want, (size_t)n_got * sizeof *got) == 0,
                "%s: got%s, want%s", what, g, w);
}

/* Run one llama.cpp .inp/.out pair; returns the number of vectors. */
static int check_llama_cpp_vectors(const tokenizer *t, const char *name){
  char path[512];
  static const char sep[] = "\n__ggml_vocab_test__\n";
  snprintf(path, sizeof path, SHARED(VECTORS "%s.inp"), name);
  size_t inp_len;
  char *inp = test_read_file(path, &inp_len);
  snprintf(path, sizeof path, SHARED(VECTORS "%s.out"), name);
  char *out = test_read_file(path, NULL);
  char *line = out, *text = inp;
  int count = 0;
  while( text < inp + inp_len ){
    char *end = strstr(text, sep);
    ck_assert_ptr_nonnull(end);
    char *eol = strchr(line, '\n');
    ck_assert_ptr_nonnull(eol);
    *eol = 0;
    int want[256], n_want = 0;
    for(char *p = line; *p; ){
      char *next;
      want[n_want++] = (int)strtol(p, &next, 10);
      if( next == p ){ n_want--; break; }
      p = next;
    }
    int n;
    int *ids = encode(t, text, (size_t)(end - text), 0, &n);
    char what[300];
    snprintf(what, sizeof what, "%s vector %d \"%.*s\"", name, count,
             (int)(end - text > 200 ? 200 : end - text), text);
    assert_ids(ids, n, want, n_want, what);
    assert_round_trip(t, text, (size_t)(end - text), ids, n);
    free(ids);
    count++;
    text = end + strlen(sep);
    line = eol + 1;
  }
  free(inp);
  free(out);
  return count;
}

/* A JSON-lines file of {"text", "ids"[, "kind"]}, read with SQLite's JSON1:
** calls fn(text, len, ids, n) per line; returns the number of lines. */
typedef void (*jsonl_fn)(const tokenizer *t, const char *text, size_t len,
                         const int *ids, int n);

static int for_each_jsonl(const char *path, const tokenizer *t, jsonl_fn fn){
  sqlite3 *db;
  sqlite3_stmt *st, *ids_st;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT json_extract(?1, '$.text')",
                                      -1, &st, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT value FROM json_each(?1, '$.ids')",
                                      -1, &ids_st, NULL), SQLITE_OK);
  char *all = test_read_file(path, NULL);
  int count = 0;
  for(char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")){
    int want[512], n = 0;
    sqlite3_bind_text(ids_st, 1, line, -1, SQLITE_STATIC);
    while( sqlite3_step(ids_st) == SQLITE_ROW ) want[n++] = sqlite3_column_int(ids_st, 0);
    sqlite3_reset(ids_st);
    sqlite3_bind_text(st, 1, line, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    fn(t, (const char *)sqlite3_column_text(st, 0),
       (size_t)sqlite3_column_bytes(st, 0), want, n);
    sqlite3_reset(st);
    count++;
  }
  free(all);
  sqlite3_finalize(st);
  sqlite3_finalize(ids_st);
  sqlite3_close(db);
  return count;
}

/* ---- loading (once, before the forked tests) ---------------------------------- */

static tokenizer *load_gguf_file(const char *path){
  char err[256] = "";
  gguf *g = gguf_open(path, err, sizeof err);
  ck_assert_msg(g != NULL, "%s: %s", path, err);
  tokenizer *t = tokenizer_load_gguf(g, err, sizeof err);
  ck_assert_msg(t != NULL, "%s: %s", path, err);
  gguf_close(g);
  return t;
}

/* A tokenizer.json in the shape Hugging Face writes (model.vocab,
** model.merges as [left, right] pairs, added_tokens, Qwen2's pre-tokenizer),
** built from the Qwen2.5 vocab.json, merges.txt and tokenizer_config.json. */
static const char *write_qwen_tokenizer_json(void){
  const char *dir = test_tmp_path("qwen_tokenizer_json");
  char cmd[1200], path[1100];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  char *vocab = test_read_file(SHARED("tokenizers/qwen2.5/vocab.json"), NULL);
  char *merges = test_read_file(SHARED("tokenizers/qwen2.5/merges.txt"), NULL);
  char *config = test_read_file(SHARED("tokenizers/qwen2.5/tokenizer_config.json"), NULL);
  sqlite3 *db;
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE m(rank INTEGER PRIMARY KEY, l, r)",
                                NULL, NULL, NULL), SQLITE_OK);
  sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  sqlite3_prepare_v2(db, "INSERT INTO m(l, r) VALUES(?1, ?2)", -1, &st, NULL);
  for(char *line = strtok(merges, "\n"); line; line = strtok(NULL, "\n")){
    char *space = strchr(line + 1, ' ');
    ck_assert_ptr_nonnull(space);
    sqlite3_bind_text(st, 1, line, (int)(space - line), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, space + 1, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  static const char sql[] =
    "SELECT json_object("
    " 'version', '1.0',"
    " 'added_tokens', (SELECT json_group_array(json_object('id', CAST(key AS INTEGER),"
    "   'content', json_extract(value, '$.content'), 'single_word', json('false'),"
    "   'special', json(CASE WHEN json_extract(value, '$.special') THEN 'true' ELSE 'false' END)))"
    "   FROM json_each(?2, '$.added_tokens_decoder')),"
    " 'normalizer', json_object('type', 'NFC'),"
    " 'pre_tokenizer', json_object('type', 'Sequence', 'pretokenizers', json_array("
    "   json_object('type', 'Split', 'pattern', json_object('Regex', ?3),"
    "               'behavior', 'Isolated', 'invert', json('false')),"
    "   json_object('type', 'ByteLevel', 'add_prefix_space', json('false'),"
    "               'trim_offsets', json('false'), 'use_regex', json('false')))),"
    " 'model', json_object('type', 'BPE', 'dropout', NULL, 'unk_token', NULL,"
    "   'vocab', json(?1),"
    "   'merges', (SELECT json_group_array(json_array(l, r)) FROM (SELECT l, r FROM m ORDER BY rank))))";
  static const char regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_text(st, 1, vocab, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, config, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, regex, -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  write_file(path, (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(vocab);
  free(merges);
  free(config);
  return dir;
}

static void load_all(void){
  char err[256] = "";
  qwen = tokenizer_load_hf(SHARED("tokenizers/qwen2.5"), err, sizeof err);
  ck_assert_msg(qwen != NULL, "qwen2.5: %s", err);
  qwen_json = tokenizer_load_hf(write_qwen_tokenizer_json(), err, sizeof err);
  ck_assert_msg(qwen_json != NULL, "qwen tokenizer.json: %s", err);
  spm = load_gguf_file(SHARED(VECTORS "ggml-vocab-llama-spm.gguf"));
  gpt2 = load_gguf_file(SHARED(VECTORS "ggml-vocab-gpt-2.gguf"));
  tok512 = tokenizer_load_llama2c(SHARED("models/stories260K/tok512.bin"), 512,
                                  err, sizeof err);
  ck_assert_msg(tok512 != NULL, "tok512: %s", err);
}

static void free_all(void){
  tokenizer_free(qwen);
  tokenizer_free(qwen_json);
  tokenizer_free(spm);
  tokenizer_free(gpt2);
  tokenizer_free(tok512);
}

/* ---- reference vectors ------------------------------------------------------- */

START_TEST(test_qwen2_vectors){
  int n = check_llama_cpp_vectors(qwen, "ggml-vocab-qwen2.gguf");
  ck_assert_int_eq(n, 46);
  printf("qwen2 (vocab.json + merges.txt): %d vectors\n", n);
}
END_TEST

START_TEST(test_qwen2_tokenizer_json_vectors){
  int n = check_llama_cpp_vectors(qwen_json, "ggml-vocab-qwen2.gguf");
  ck_assert_int_eq(n, 46);
  printf("qwen2 (tokenizer.json): %d vectors\n", n);
}
END_TEST

START_TEST(test_llama_spm_vectors){
  int n = check_llama_cpp_vectors(spm, "ggml-vocab-llama-spm.gguf");
  ck_assert_int_eq(n, 46);
  printf("llama-spm (GGUF): %d vectors\n", n);
}
END_TEST

START_TEST(test_gpt2_vectors){
  int n = check_llama_cpp_vectors(gpt2, "ggml-vocab-gpt-2.gguf");
  ck_assert_int_eq(n, 46);
  printf("gpt-2 (GGUF): %d vectors\n", n);
}
END_TEST

/* The same Llama 2 vocab as llama2.c's tokenizer.bin gives the same ids. */
START_TEST(test_llama2_tokenizer_bin_vectors){
  char err[256] = "";
  tokenizer *t = tokenizer_load_llama2c(SHARED("tokenizers/llama2-spm/tokenizer.bin"),
                                        32000, err, sizeof err);
  ck_assert_msg(t != NULL, "%s", err);
  int n = check_llama_cpp_vectors(t, "ggml-vocab-llama-spm.gguf");
  ck_assert_int_eq(n, 46);
  printf("llama-spm (llama2.c tokenizer.bin): %d vectors\n", n);
  tokenizer_free(t);
}
END_TEST

/* run.c encodes with BOS; without EOS. */
static void check_tok512(const tokenizer *t, const char *text, size_t len,
                         const int *want, int n_want){
  int n;
  int *ids = encode(t, text, len, 0, &n);
  int *with_bos = malloc(((size_t)n + 1) * sizeof *with_bos);
  with_bos[0] = tokenizer_bos(t);
  memcpy(with_bos + 1, ids, (size_t)n * sizeof *ids);
  assert_ids(with_bos, n + 1, want, n_want, text);
  assert_round_trip(t, text, len, with_bos, n + 1);
  free(ids);
  free(with_bos);
}

START_TEST(test_tok512_vectors){
  ck_assert_int_eq(tokenizer_bos(tok512), 1);
  ck_assert_int_eq(tokenizer_add_bos(tok512), 1);
  int n = for_each_jsonl(SHARED("models/stories260K/vectors/tok512_encode_vectors.jsonl"),
                         tok512, check_tok512);
  ck_assert_int_eq(n, 11);
  printf("tok512 (llama2.c): %d vectors\n", n);
}
END_TEST

/* HF's encode matches special tokens; so does parse_special. */
static void check_qwen_special(const tokenizer *t, const char *text, size_t len,
                               const int *want, int n_want){
  int n;
  int *ids = encode(t, text, len, 1, &n);
  assert_ids(ids, n, want, n_want, text);
  free(ids);
}

START_TEST(test_qwen25_encode_vectors){
  int n = for_each_jsonl(SHARED("tokenizers/qwen2.5/qwen2.5_encode_vectors.jsonl"),
                         qwen, check_qwen_special);
  ck_assert_int_eq(n, 5);
  printf("qwen2.5 encode vectors (parse_special): %d vectors\n", n);
}
END_TEST

/* ---- special tokens ------------------------------------------------------------ */

START_TEST(test_special_parsing){
  static const char text[] = "<|im_start|>";
  int n;
  int *ids = encode(qwen, text, strlen(text), 1, &n);
  int want[] = { 151644 };
  assert_ids(ids, n, want, 1, "with parse_special");
  free(ids);
  ids = encode(qwen, text, strlen(text), 0, &n);
  ck_assert_int_gt(n, 1);
  for(int i = 0; i < n; i++) ck_assert_int_lt(ids[i], 151643);
  assert_round_trip(qwen, text, strlen(text), ids, n);
  free(ids);
  ck_assert_int_eq(tokenizer_find(qwen, text, strlen(text)), 151644);
  ck_assert_int_eq(tokenizer_eos(qwen), 151645);
  ck_assert_int_eq(tokenizer_bos(qwen), -1);
  ck_assert_int_eq(tokenizer_add_bos(qwen), 0);
}
END_TEST

/* Qwen's "<tool_call>" is an added token that is not special: HF and
** llama.cpp match it even without special parsing, and it decodes as text. */
START_TEST(test_user_defined_always_matched){
  static const char text[] = "a<tool_call>b";
  for(int special = 0; special <= 1; special++){
    int n;
    int *ids = encode(qwen, text, strlen(text), special, &n);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[1], 151657);
    assert_round_trip(qwen, text, strlen(text), ids, n);
    free(ids);
  }
}
END_TEST

/* Control tokens decode to nothing; the text between them keeps its bytes.
** SPM gives each fragment after a special token a dummy prefix, which
** decode drops again. */
START_TEST(test_special_decode){
  static const char text[] = "<s>Hi</s> there";
  int n;
  int *ids = encode(spm, text, strlen(text), 1, &n);
  ck_assert_int_ge(n, 4);
  ck_assert_int_eq(ids[0], 1);
  size_t len;
  char *s = decode(spm, ids, n, &len);
  ck_assert_str_eq(s, "Hi there");
  free(s);
  free(ids);
  ids = encode(qwen, "<|im_end|>\nx", 12, 1, &n);
  s = decode(qwen, ids, n, &len);
  ck_assert_str_eq(s, "\nx");
  free(s);
  free(ids);
}
END_TEST

/* ---- decode rules -------------------------------------------------------------- */

START_TEST(test_spm_leading_space){
  const char *p;
  int hello = tokenizer_find(spm, " Hello", 6);
  ck_assert_int_ge(hello, 0);
  ck_assert_int_eq(tokenizer_decode_piece(spm, -1, hello, &p), 5);
  ck_assert_int_eq(memcmp(p, "Hello", 5), 0);
  ck_assert_int_eq(tokenizer_decode_piece(spm, tokenizer_bos(spm), hello, &p), 5);
  ck_assert_int_eq(tokenizer_decode_piece(spm, hello, hello, &p), 6);
  ck_assert_int_eq(memcmp(p, " Hello", 6), 0);
  /* Byte tokens are their byte; BOS contributes nothing. */
  ck_assert_int_eq(tokenizer_decode_piece(spm, hello, 3 + 0x0A, &p), 1);
  ck_assert_int_eq(p[0], '\n');
  ck_assert_int_eq(tokenizer_decode_piece(spm, -1, 1, &p), 0);
  ck_assert_int_eq(tokenizer_decode_piece(spm, -1, 32000, &p), -1);
  /* BPE has no dummy prefix. */
  int space_hello = tokenizer_find(qwen, " Hello", 6);
  ck_assert_int_eq(tokenizer_decode_piece(qwen, -1, space_hello, &p), 6);
}
END_TEST

/* ---- invalid UTF-8 -------------------------------------------------------------- */

static const struct { const char *s; size_t len; } invalid_utf8[] = {
  { "\xff", 1 }, { "\xc3", 1 }, { "a\x80" "b", 3 }, { "\xe2\x82", 2 },
  { "\xed\xa0\x80", 3 }, { "\xc0\xaf", 2 }, { "\xf4\x90\x80\x80", 4 },
  { "Hello \xff\xfe world\xc3", 15 }, { "caf\xc3\xa9\xe9 \xf0\x9f\xa6", 11 },
  { "\x00" "a\x00", 3 }, { "   \xff   ", 7 }, { "<|im_start|>\xff", 13 },
};

START_TEST(test_invalid_utf8_round_trips){
  const tokenizer *all[] = { qwen, spm, gpt2, tok512 };
  for(size_t k = 0; k < sizeof all / sizeof *all; k++){
    for(size_t i = 0; i < sizeof invalid_utf8 / sizeof *invalid_utf8; i++){
      int n;
      int *ids = encode(all[k], invalid_utf8[i].s, invalid_utf8[i].len, 0, &n);
      assert_round_trip(all[k], invalid_utf8[i].s, invalid_utf8[i].len, ids, n);
      free(ids);
    }
  }
}
END_TEST

/* An invalid byte becomes its byte token: SPM <0xHH> after the dummy
** prefix, BPE the byte-level piece for that byte. */
START_TEST(test_invalid_utf8_byte_tokens){
  int n;
  int *ids = encode(tok512, "\xff", 1, 0, &n);
  int want[] = { tokenizer_find(tok512, " ", 1), 3 + 0xFF };
  assert_ids(ids, n, want, 2, "tok512 \\xff");
  free(ids);
  ids = encode(qwen, "a\xff", 2, 0, &n);
  int want_qwen[] = { tokenizer_find(qwen, "a", 1), tokenizer_find(qwen, "\xff", 1) };
  assert_ids(ids, n, want_qwen, 2, "qwen a\\xff");
  free(ids);
}
END_TEST

/* Long runs stress the heaps and PCRE2's backtracking (\s+(?!\S)). */
START_TEST(test_long_runs){
  size_t len = 1 << 18;
  char *text = malloc(len);
  const char fill[] = { ' ', 'a', '\n', '7', '!' };
  const tokenizer *all[] = { qwen, spm, gpt2 };
  for(size_t f = 0; f < sizeof fill; f++){
    memset(text, fill[f], len);
    text[len - 1] = 'x';
    for(size_t k = 0; k < sizeof all / sizeof *all; k++){
      int n;
      int *ids = encode(all[k], text, len, 0, &n);
      ck_assert_int_gt(n, 0);
      assert_round_trip(all[k], text, len, ids, n);
      free(ids);
    }
  }
  free(text);
}
END_TEST

/* ---- building from pieces (what the model database reader does) ------------------ */

static tokenizer *rebuild(const tokenizer *src){
  tokenizer *t = tokenizer_new(tokenizer_kind_of(src), tokenizer_pre(src));
  ck_assert_ptr_nonnull(t);
  for(int id = 0; id < tokenizer_vocab_size(src); id++){
    const char *p; size_t len; float score; token_kind kind;
    ck_assert_int_eq(tokenizer_token(src, id, &p, &len, &score, &kind), 0);
    ck_assert_int_eq(tokenizer_add_token(t, p, len, score, kind), 0);
  }
  for(int r = 0; r < tokenizer_merge_count(src); r++){
    const char *l, *rt; size_t ll, rl;
    ck_assert_int_eq(tokenizer_merge(src, r, &l, &ll, &rt, &rl), 0);
    ck_assert_int_eq(tokenizer_add_merge(t, l, ll, rt, rl), 0);
  }
  tokenizer_set_special(t, tokenizer_bos(src), tokenizer_eos(src), tokenizer_add_bos(src));
  tokenizer_set_add_space_prefix(t, tokenizer_add_space_prefix(src));
  char err[256];
  ck_assert_msg(tokenizer_finish(t, err, sizeof err) == 0, "%s", err);
  return t;
}

/* A long text is encoded with the per-call chunk cache on; a short one
** without.  "Hello world, this is a test.\n" repeated splits into the same
** chunks each time (BPE: ".\n" is one pre-token; SPM: "\nH" is in no piece,
** so the text is cut there), so the long text must give the short one's ids
** again and again -- for SPM, without the dummy prefix after the first. */
static void check_repeated(const tokenizer *t, const tokenizer *t_no_prefix){
  static const char unit[] = "Hello world, this is a test.\n";
  enum { REPS = 300 };
  size_t unit_len = strlen(unit);
  char *text = malloc(unit_len * REPS);
  for(int i = 0; i < REPS; i++) memcpy(text + i * unit_len, unit, unit_len);
  int n_first, n_rest, n;
  int *first = encode(t, unit, unit_len, 0, &n_first);
  int *rest = encode(t_no_prefix, unit, unit_len, 0, &n_rest);
  int *all = encode(t, text, unit_len * REPS, 0, &n);
  ck_assert_int_eq(n, n_first + (REPS - 1) * n_rest);
  ck_assert_int_eq(memcmp(all, first, (size_t)n_first * sizeof *all), 0);
  for(int i = 0; i < REPS - 1; i++){
    ck_assert_int_eq(memcmp(all + n_first + i * n_rest, rest,
                            (size_t)n_rest * sizeof *all), 0);
  }
  assert_round_trip(t, text, unit_len * REPS, all, n);
  free(first);
  free(rest);
  free(all);
  free(text);
}

START_TEST(test_long_text_cache){
  check_repeated(qwen, qwen);
  check_repeated(gpt2, gpt2);
  tokenizer *spm_no_prefix = rebuild(spm);
  tokenizer_set_add_space_prefix(spm_no_prefix, 0);
  ck_assert_int_eq(tokenizer_add_space_prefix(spm_no_prefix), 0);
  check_repeated(spm, spm_no_prefix);
  tokenizer_free(spm_no_prefix);
}
END_TEST

START_TEST(test_rebuild_from_pieces){
  tokenizer *t = rebuild(qwen);
  ck_assert_int_eq(tokenizer_vocab_size(t), 151665);
  ck_assert_int_eq(tokenizer_merge_count(t), 151387);
  ck_assert_str_eq(tokenizer_pre(t), "qwen2");
  ck_assert_int_eq(check_llama_cpp_vectors(t, "ggml-vocab-qwen2.gguf"), 46);
  tokenizer_free(t);
  t = rebuild(spm);
  ck_assert_int_eq(check_llama_cpp_vectors(t, "ggml-vocab-llama-spm.gguf"), 46);
  tokenizer_free(t);
}
END_TEST

START_TEST(test_pieces_are_raw_bytes){
  const char *p; size_t len; token_kind kind;
  /* GPT-2 "Ġthe" is " the"; SPM "▁the" is " the"; <0x0A> is "\n". */
  ck_assert_int_eq(tokenizer_find(gpt2, " the", 4), 262);
  ck_assert_int_eq(tokenizer_find(spm, " the", 4), 278);
  ck_assert_int_eq(tokenizer_token(spm, 3 + 0x0A, &p, &len, NULL, &kind), 0);
  ck_assert(len == 1 && p[0] == '\n' && kind == TOKEN_BYTE);
  /* A normal piece wins the lookup over a byte token for the same byte. */
  ck_assert_int_ne(tokenizer_find(spm, "a", 1), 3 + 'a');
  ck_assert_int_eq(tokenizer_token(tok512, 1, &p, &len, NULL, &kind), 0);
  ck_assert(len == 3 && memcmp(p, "<s>", 3) == 0 && kind == TOKEN_CONTROL);
  /* GPT-2: 50257 tokens, 50000 merges, <|endoftext|> control. */
  ck_assert_int_eq(tokenizer_vocab_size(gpt2), 50257);
  ck_assert_int_eq(tokenizer_merge_count(gpt2), 50000);
  ck_assert_int_eq(tokenizer_token(gpt2, 50256, &p, &len, NULL, &kind), 0);
  ck_assert(kind == TOKEN_CONTROL);
  /* Qwen: the 96 merges that start with '#' are all there. */
  ck_assert_int_eq(tokenizer_merge_count(qwen), 151387);
}
END_TEST

/* A byte-level BPE vocab of the 256 single bytes, then `extra` pieces. */
static tokenizer *byte_level(const char *const *extra, int n_extra){
  tokenizer *t = tokenizer_new(TOKENIZER_BPE, "gpt2");
  for(int b = 0; b < 256; b++){
    char c = (char)b;
    ck_assert_int_eq(tokenizer_add_token(t, &c, 1, 0, TOKEN_NORMAL), 0);
  }
  for(int i = 0; i < n_extra; i++){
    ck_assert_int_eq(tokenizer_add_token(t, extra[i], strlen(extra[i]), 0,
                                         TOKEN_NORMAL), 0);
  }
  return t;
}

static void assert_merge(const tokenizer *t, int rank, const char *left,
                         const char *right){
  const char *l, *r; size_t ll, rl;
  ck_assert_int_eq(tokenizer_merge(t, rank, &l, &ll, &r, &rl), 0);
  ck_assert_msg(ll == strlen(left) && memcmp(l, left, ll) == 0
                && rl == strlen(right) && memcmp(r, right, rl) == 0,
                "merge %d is \"%.*s\" \"%.*s\"", rank, (int)ll, l, (int)rl, r);
}

/* Merges are kept as token ids; a side no token spells keeps its text. */
START_TEST(test_merges_keep_their_text){
  static const char *const pieces[] = { "ab", "abc" };
  tokenizer *t = byte_level(pieces, 2);
  char err[256] = "";
  ck_assert_int_eq(tokenizer_add_merge(t, "a", 1, "b", 1), 0);
  ck_assert_int_eq(tokenizer_add_merge(t, "x", 1, "yz", 2), 0);     /* "yz": no token */
  ck_assert_int_eq(tokenizer_add_merge(t, "c", 1, "d", 1), 0);      /* "cd" comes later */
  ck_assert_int_eq(tokenizer_add_merge(t, "ab", 2, "c", 1), 0);
  ck_assert_int_eq(tokenizer_add_merge(t, "a", 1, "b", 1), 0);      /* repeated */
  ck_assert_int_eq(tokenizer_add_token(t, "cd", 2, 0, TOKEN_NORMAL), 0);
  ck_assert_int_eq(tokenizer_find(t, "cd", 2), 258);                /* before finish */
  ck_assert_int_eq(tokenizer_finish(t, err, sizeof err), 0);
  ck_assert_int_eq(tokenizer_merge_count(t), 5);
  assert_merge(t, 0, "a", "b");
  assert_merge(t, 1, "x", "yz");
  assert_merge(t, 2, "c", "d");
  assert_merge(t, 3, "ab", "c");
  assert_merge(t, 4, "a", "b");
  int ids[8];
  /* "abcd": a+b (rank 0) and c+d (rank 2) before ab+c (rank 3) */
  ck_assert_int_eq(tokenizer_encode(t, "abcd", 4, 0, ids, 8, err, sizeof err), 2);
  ck_assert(ids[0] == 256 && ids[1] == 258);
  ck_assert_int_eq(tokenizer_encode(t, "abc", 3, 0, ids, 8, err, sizeof err), 1);
  ck_assert_int_eq(ids[0], 257);
  ck_assert_int_eq(tokenizer_encode(t, "xyz", 3, 0, ids, 8, err, sizeof err), 3);
  tokenizer_free(t);
}
END_TEST

/* A merge side may be empty (a merges.txt line "a " reads so; found by
** fuzz_hf_json): while no other side needs bytes, the extra strings have
** none allocated, and their text is still "". */
START_TEST(test_merge_with_empty_side){
  static const char *const pieces[] = { "ab" };
  tokenizer *t = byte_level(pieces, 1);
  char err[256] = "";
  int ids[4];
  ck_assert_int_eq(tokenizer_add_merge(t, "a", 1, "", 0), 0);
  ck_assert_int_eq(tokenizer_add_merge(t, "a", 1, "b", 1), 0);
  ck_assert_int_eq(tokenizer_finish(t, err, sizeof err), 0);
  assert_merge(t, 0, "a", "");
  ck_assert_int_eq(tokenizer_encode(t, "ab", 2, 0, ids, 4, err, sizeof err), 1);
  ck_assert_int_eq(ids[0], 256);
  tokenizer_free(t);
}
END_TEST

/* The tokenizer lives outside the memory budget, as long as its model:
** Qwen2's 151,665 tokens and 151,387 merges fit in a few megabytes,
** whether loaded from files or rebuilt from pieces as the model database
** reader does. */
START_TEST(test_memory_is_small){
  size_t loaded = tokenizer_memory(qwen);
  tokenizer *t = rebuild(qwen);
  size_t rebuilt = tokenizer_memory(t);
  tokenizer_free(t);
  ck_assert_msg(loaded < 7u << 20 && rebuilt < 7u << 20,
                "qwen2.5 tokenizer holds %zu bytes loaded, %zu rebuilt", loaded, rebuilt);
  ck_assert_uint_lt(tokenizer_memory(tok512), 64u << 10);
}
END_TEST

START_TEST(test_output_capacity){
  static const char text[] = "Hello world, hello tokenizer";
  int all[64], few[3];
  char err[128];
  int n = tokenizer_encode(qwen, text, strlen(text), 0, all, 64, err, sizeof err);
  ck_assert_int_gt(n, 3);
  ck_assert_int_eq(tokenizer_encode(qwen, text, strlen(text), 0, few, 3, err, sizeof err), n);
  ck_assert_int_eq(memcmp(all, few, sizeof few), 0);
  ck_assert_int_eq(tokenizer_encode(spm, "", 0, 0, all, 64, err, sizeof err), 0);
}
END_TEST

/* ---- API and loader errors --------------------------------------------------------- */

START_TEST(test_api_errors){
  char err[256] = "";
  ck_assert_ptr_null(tokenizer_new(TOKENIZER_BPE, "llama3"));
  ck_assert_ptr_null(tokenizer_new(TOKENIZER_BPE, NULL));
  tokenizer *t = tokenizer_new(TOKENIZER_BPE, "gpt-2");
  ck_assert_str_eq(tokenizer_pre(t), "gpt2");
  tokenizer_free(t);
  t = tokenizer_new(TOKENIZER_BPE, "gpt2");
  ck_assert_int_eq(tokenizer_add_token(t, "a", 1, 0, TOKEN_NORMAL), 0);
  ck_assert_int_eq(tokenizer_encode(t, "a", 1, 0, NULL, 0, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "before tokenizer_finish"));
  ck_assert_int_eq(tokenizer_finish(t, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "no token for byte 0x00"));
  tokenizer_free(t);
  t = tokenizer_new(TOKENIZER_SPM, NULL);
  ck_assert_int_eq(tokenizer_add_merge(t, "a", 1, "b", 1), -1);
  ck_assert_int_eq(tokenizer_finish(t, err, sizeof err), -1);
  tokenizer_free(t);
}
END_TEST

START_TEST(test_spm_without_byte_tokens){
  char err[256] = "";
  tokenizer *t = tokenizer_new(TOKENIZER_SPM, NULL);
  tokenizer_add_token(t, "<unk>", 5, 0, TOKEN_UNKNOWN);
  tokenizer_add_token(t, " ", 1, -1, TOKEN_NORMAL);
  tokenizer_add_token(t, "a", 1, -2, TOKEN_NORMAL);
  ck_assert_int_eq(tokenizer_finish(t, err, sizeof err), 0);
  int ids[8];
  ck_assert_int_eq(tokenizer_encode(t, "ab", 2, 0, ids, 8, err, sizeof err), 3);
  ck_assert(ids[0] == 1 && ids[1] == 2 && ids[2] == 0);
  tokenizer_free(t);
  t = tokenizer_new(TOKENIZER_SPM, NULL);
  tokenizer_add_token(t, "a", 1, 0, TOKEN_NORMAL);
  ck_assert_int_eq(tokenizer_finish(t, err, sizeof err), 0);
  ck_assert_int_eq(tokenizer_encode(t, "b", 1, 0, ids, 8, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "byte 0x20 has no token"));
  tokenizer_free(t);
}
END_TEST

START_TEST(test_loader_errors){
  char err[256] = "";
  ck_assert_ptr_null(tokenizer_load_llama2c("/nonexistent/tok.bin", 512, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/tok.bin"));
  ck_assert_ptr_null(tokenizer_load_llama2c(SHARED("models/stories260K/tok512.bin"),
                                            100000, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "runs past the end"));
  ck_assert_ptr_null(tokenizer_load_hf("/nonexistent", err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/vocab.json"));

  const char *dir = test_tmp_path("hf_unsupported");
  char cmd[1200], path[1100];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []},"
             " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
             "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{N}{1,3}\"}},"
             "{\"type\": \"ByteLevel\"}]}}");
  ck_assert_ptr_null(tokenizer_load_hf(dir, err, sizeof err));
  ck_assert_msg(strstr(err, "not supported") && strstr(err, "\\p{N}{1,3}"), "%s", err);
  write_file(path, "{\"model\": {\"type\": \"Unigram\"}}");
  ck_assert_ptr_null(tokenizer_load_hf(dir, err, sizeof err));
  ck_assert_msg(strstr(err, "model type Unigram is not supported"), "%s", err);
  write_file(path, "{\"model\": {\"type\": \"BPE\"}, \"normalizer\": {\"type\": \"Lowercase\"}}");
  ck_assert_ptr_null(tokenizer_load_hf(dir, err, sizeof err));
  ck_assert_msg(strstr(err, "normalizer Lowercase is not supported"), "%s", err);
  write_file(path, "{\"model\": {\"type\": \"BPE\"}, \"pre_tokenizer\": "
             "{\"type\": \"ByteLevel\", \"use_regex\": false}}");
  ck_assert_ptr_null(tokenizer_load_hf(dir, err, sizeof err));
  ck_assert_msg(strstr(err, "pre-tokenizer ByteLevel is not supported"), "%s", err);
  write_file(path, "not json");
  ck_assert_ptr_null(tokenizer_load_hf(dir, err, sizeof err));
  ck_assert_msg(strstr(err, "tokenizer.json"), "%s", err);
  /* An id of 10^9 would size the vocab arrays at gigabytes (fuzz_hf_json). */
  write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1000000000},"
             " \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
  ck_assert_ptr_null(tokenizer_load_hf(dir, err, sizeof err));
  ck_assert_msg(strstr(err, "(id 1000000000) is not a byte-level piece with an id below"),
                "%s", err);
  snprintf(cmd, sizeof cmd, "rm '%s'", path);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
  write_file(path, "{\"tokenizer_class\": \"LlamaTokenizer\"}");
  snprintf(path, sizeof path, "%s/vocab.json", dir);
  write_file(path, "{}");
  ck_assert_ptr_null(tokenizer_load_hf(dir, err, sizeof err));
  ck_assert_msg(strstr(err, "tokenizer_class \"LlamaTokenizer\" is not supported"), "%s", err);
}
END_TEST

/* A GGUF v3 image with no tensors and string keys only. */
static size_t gguf_strings(uint8_t *buf, const char *const *kv, int n_kv){
  size_t at = 0;
  uint32_t version = 3, type_string = 8;
  uint64_t n_tensors = 0, n = (uint64_t)n_kv;
  memcpy(buf, "GGUF", 4); at += 4;
  memcpy(buf + at, &version, 4); at += 4;
  memcpy(buf + at, &n_tensors, 8); at += 8;
  memcpy(buf + at, &n, 8); at += 8;
  for(int i = 0; i < 2 * n_kv; i++){
    uint64_t len = strlen(kv[i]);
    memcpy(buf + at, &len, 8); at += 8;
    memcpy(buf + at, kv[i], len); at += len;
    if( i % 2 == 0 ){ memcpy(buf + at, &type_string, 4); at += 4; }
  }
  return at;
}

static void assert_gguf_refused(const char *const *kv, int n_kv, const char *needle){
  static uint8_t buf[4096];
  char err[256] = "";
  size_t len = gguf_strings(buf, kv, n_kv);
  gguf *g = gguf_parse(buf, len, err, sizeof err);
  ck_assert_msg(g != NULL, "%s", err);
  ck_assert_ptr_null(tokenizer_load_gguf(g, err, sizeof err));
  ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
  gguf_close(g);
}

START_TEST(test_gguf_refused){
  const char *bert[] = { "tokenizer.ggml.model", "bert" };
  assert_gguf_refused(bert, 1, "tokenizer.ggml.model \"bert\" is not supported");
  const char *llama3[] = { "tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "llama-bpe" };
  assert_gguf_refused(llama3, 2, "tokenizer.ggml.pre \"llama-bpe\" is not supported");
  const char *no_tokens[] = { "tokenizer.ggml.model", "llama" };
  assert_gguf_refused(no_tokens, 1, "no tokenizer.ggml.tokens");
  const char *none[] = { "general.name", "x" };
  assert_gguf_refused(none, 1, "no tokenizer.ggml.model");
}
END_TEST

/* GPT-2's bytes_to_unicode, written out again here: byte b's character. */
static unsigned byte_level_char(int b){
  if( (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ) return (unsigned)b;
  int n = 0;
  for(int c = 0; c < b; c++){
    if( !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174) ) n++;
  }
  return 256u + (unsigned)n;
}

/* The engine's bytes_to_unicode agrees with the one written out above,
** and lists each byte once: printable ones first, in order. */
START_TEST(test_bytes_to_unicode){
  unsigned char bytes[256];
  unsigned code_points[256];
  int seen[256] = {0};
  tokenizer_bytes_to_unicode(bytes, code_points);
  for(int i = 0; i < 256; i++){
    ck_assert_uint_eq(code_points[i], byte_level_char(bytes[i]));
    ck_assert_int_eq(seen[bytes[i]]++, 0);
    if( i > 0 ) ck_assert_uint_gt(code_points[i], code_points[i - 1]);
  }
  ck_assert_int_eq(bytes[0], '!');
  ck_assert_int_eq(bytes[188], 0);
  ck_assert_uint_eq(code_points[188], 0x100);
  ck_assert_uint_eq(code_points[255], 0x143);
}
END_TEST

/* Append the JSON string for byte-level spellings of `bytes`. */
static void json_byte_level(char *out, const char *bytes){
  char *p = out + strlen(out);
  *p++ = '"';
  for(const unsigned char *b = (const unsigned char *)bytes; *b; b++){
    unsigned c = byte_level_char(*b);
    if( c == '"' || c == '\\' ) *p++ = '\\';
    if( c < 0x80 ) *p++ = (char)c;
    else{ *p++ = (char)(0xC0 | c >> 6); *p++ = (char)(0x80 | (c & 0x3F)); }
  }
  *p++ = '"';
  *p = 0;
}

/* A small GPT-2-style tokenizer.json: ByteLevel pre-tokenizer, merges as
** "left right" strings, byte b has id b. */
START_TEST(test_hf_tokenizer_json_gpt2_style){
  static char json[16384];
  strcpy(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
  for(int b = 0; b < 256; b++){
    char one[2] = { (char)b, 0 };
    if( b == 0 ){ strcat(json, "\"\u0100\": 0, "); continue; }
    json_byte_level(json, one);
    sprintf(json + strlen(json), ": %d, ", b);
  }
  strcat(json, "\"\u0120t\": 256, \"he\": 257, \"\u0120the\": 258},"
         " \"merges\": [\"\u0120 t\", \"h e\", \"\u0120t he\"]},"
         " \"added_tokens\": [{\"id\": 259, \"content\": \"<|endoftext|>\","
         " \"special\": true}],"
         " \"normalizer\": null,"
         " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
         " \"use_regex\": true}}");
  const char *dir = test_tmp_path("hf_gpt2_style");
  char cmd[1200], path[1100], err[256] = "";
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  write_file(path, json);
  tokenizer *t = tokenizer_load_hf(dir, err, sizeof err);
  ck_assert_msg(t != NULL, "%s", err);
  ck_assert_str_eq(tokenizer_pre(t), "gpt2");
  ck_assert_int_eq(tokenizer_vocab_size(t), 260);
  static const char text[] = " the then<|endoftext|>";
  int n;
  int *ids = encode(t, text, strlen(text), 1, &n);
  int want[] = { 258, 258, 'n', 259 };
  assert_ids(ids, n, want, 4, text);
  free(ids);
  tokenizer_free(t);
}
END_TEST

/* Special ids as llama.cpp's SpecialVocab finds them: the token that
** tokenizer_config.json names, else config.json's id, first of a list;
** an id past the vocabulary is an error, not a silent -1. */
START_TEST(test_hf_special_id){
  static const char *const pieces[] = { "<s>", "</s>" };   /* ids 256, 257 */
  tokenizer *t = byte_level(pieces, 2);
  char err[128];
  hf_json *j = hf_json_open(err, sizeof err);
  ck_assert_msg(j != NULL, "%s", err);
  static const struct {
    const char *tokenizer_config, *config, *which;
    int rc, id;
    const char *err;
  } cases[] = {
    { "{\"bos_token\": \"<s>\"}", NULL, "bos", 0, 256, "" },
    { "{\"eos_token\": {\"content\": \"</s>\", \"special\": true}}", NULL, "eos", 0, 257, "" },
    { "{\"eos_token\": \"</s>\"}", "{\"eos_token_id\": 3}", "eos", 0, 257, "" },
    { "{\"eos_token\": \"<none>\"}", "{\"eos_token_id\": 3}", "eos", 0, 3, "" },
    { NULL, "{\"eos_token_id\": [257, 2]}", "eos", 0, 257, "" },
    { "{\"bos_token\": null}", "{\"bos_token_id\": null}", "bos", 0, -1, "" },
    { NULL, "{\"pad_token_id\": \"7\"}", "pad", 0, -1, "" },
    { NULL, NULL, "unk", 0, -1, "" },
    { "not json", "{\"unk_token_id\": 0}", "unk", 0, 0, "" },
    { NULL, "{\"eos_token_id\": 258}", "eos", -1, -1,
      "eos_token_id 258 is not in the vocabulary" },
    { NULL, "{\"eos_token_id\": [-1]}", "eos", -1, -1,
      "eos_token_id -1 is not in the vocabulary" },
  };
  for(size_t i = 0; i < sizeof cases / sizeof cases[0]; i++){
    int id = 99;
    err[0] = 0;
    int rc = tokenizer_hf_special_id(j, t, cases[i].tokenizer_config, cases[i].config,
                                     cases[i].which, &id, err, sizeof err);
    ck_assert_msg(rc == cases[i].rc && id == cases[i].id && strcmp(err, cases[i].err) == 0,
                  "case %zu: rc %d id %d err '%s'", i, rc, id, err);
  }
  hf_json_close(j);
  tokenizer_free(t);
}
END_TEST

static Suite *tokenizer_suite(void){
  Suite *s = suite_create("tokenizer");
  /* One case, so the tokenizers load once for all the forked tests. */
  TCase *ref = tcase_create("tokenizer");
  TCase *behaviour = ref;
  tcase_add_unchecked_fixture(ref, load_all, free_all);
  tcase_set_timeout(ref, 120);
  tcase_add_test(ref, test_qwen2_vectors);
  tcase_add_test(ref, test_qwen2_tokenizer_json_vectors);
  tcase_add_test(ref, test_llama_spm_vectors);
  tcase_add_test(ref, test_gpt2_vectors);
  tcase_add_test(ref, test_llama2_tokenizer_bin_vectors);
  tcase_add_test(ref, test_tok512_vectors);
  tcase_add_test(ref, test_qwen25_encode_vectors);
  tcase_add_test(behaviour, test_special_parsing);
  tcase_add_test(behaviour, test_user_defined_always_matched);
  tcase_add_test(behaviour, test_special_decode);
  tcase_add_test(behaviour, test_spm_leading_space);
  tcase_add_test(behaviour, test_invalid_utf8_round_trips);
  tcase_add_test(behaviour, test_invalid_utf8_byte_tokens);
  tcase_add_test(behaviour, test_long_runs);
  tcase_add_test(behaviour, test_long_text_cache);
  tcase_add_test(behaviour, test_rebuild_from_pieces);
  tcase_add_test(behaviour, test_pieces_are_raw_bytes);
  tcase_add_test(behaviour, test_merges_keep_their_text);
  tcase_add_test(behaviour, test_merge_with_empty_side);
  tcase_add_test(behaviour, test_memory_is_small);
  tcase_add_test(behaviour, test_output_capacity);
  tcase_add_test(behaviour, test_api_errors);
  tcase_add_test(behaviour, test_spm_without_byte_tokens);
  tcase_add_test(behaviour, test_loader_errors);
  tcase_add_test(behaviour, test_hf_tokenizer_json_gpt2_style);
  tcase_add_test(behaviour, test_gguf_refused);
  tcase_add_test(behaviour, test_hf_special_id);
  tcase_add_test(behaviour, test_bytes_to_unicode);
  suite_add_tcase(s, ref);
  return s;
}

TEST_MAIN(tokenizer_suite)
