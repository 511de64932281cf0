/*
** test_chat.c: chat template detection and rendering.
**
** The Qwen2.5 template comes from the real tokenizer_config.json and from
** llama.cpp's copy (tokenizers/llama.cpp-vectors); the rendered prompt and
** its ids are checked against tokenizers/qwen2.5/qwen2.5_encode_vectors.jsonl,
** made by an independent implementation (see its SOURCE.md).  The other
** expected prompts were worked out by hand from the template's Jinja text.
*/
#include "../testutil.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

#include <sqlite3.h>
#include <string.h>

#define QWEN_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

/* tokenizer_config.json's chat_template, decoded by SQLite's JSON1. */
static char *qwen_config_template(void){
  char *json = test_read_file(SHARED("tokenizers/qwen2.5/tokenizer_config.json"), 0);
  sqlite3 *db;
  sqlite3_stmt *st;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  sqlite3_prepare_v2(db, "SELECT json_extract(?1, '$.chat_template')", -1, &st, NULL);
  sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  char *out = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(json);
  return out;
}

static chat_template qwen_template(void){
  chat_template t;
  char err[256] = "";
  char *jinja = qwen_config_template();
  ck_assert_msg(chat_template_detect(jinja, &t, err, sizeof err) == 0, "%s", err);
  free(jinja);
  return t;
}

static void assert_render(const chat_template *t, const chat_message *m, int n,
                          int add_generation_prompt, const char *want){
  char err[256] = "";
  size_t len = 0;
  char *got = chat_render(t, m, n, add_generation_prompt, &len, err, sizeof err);
  ck_assert_msg(got != NULL, "%s", err);
  ck_assert_str_eq(got, want);
  ck_assert_uint_eq(len, strlen(want));
  free(got);
}

static void assert_refused(const char *jinja, const char *needle){
  chat_template t;
  char err[256] = "";
  ck_assert_int_eq(chat_template_detect(jinja, &t, err, sizeof err), -1);
  ck_assert_int_eq(t.family, CHAT_NONE);
  ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
}

/* ---- detection ------------------------------------------------------------------ */

START_TEST(test_detect_qwen25_config){
  chat_template t = qwen_template();
  ck_assert_int_eq(t.family, CHAT_CHATML);
  ck_assert_int_eq(t.has_default_system, 1);
  ck_assert_str_eq(t.default_system, QWEN_SYSTEM);
  ck_assert_int_eq(t.tool_response, 1);
}
END_TEST

START_TEST(test_detect_qwen25_llama_cpp_copy){
  char *jinja = test_read_file(SHARED("tokenizers/llama.cpp-vectors/Qwen-Qwen2.5-7B-Instruct.jinja"), 0);
  chat_template t;
  char err[256] = "";
  ck_assert_msg(chat_template_detect(jinja, &t, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(t.family, CHAT_CHATML);
  ck_assert_str_eq(t.default_system, QWEN_SYSTEM);
  free(jinja);
}
END_TEST

/* In the shape of Qwen2-Instruct's template: its own default system prompt,
** no tool handling. */
static const char qwen2_template[] =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
  "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

START_TEST(test_detect_qwen2_default_system){
  chat_template t;
  char err[256] = "";
  ck_assert_int_eq(chat_template_detect(qwen2_template, &t, err, sizeof err), 0);
  ck_assert_str_eq(t.default_system, "You are a helpful assistant.");
  ck_assert_int_eq(t.tool_response, 0);
  chat_message m[] = { { "user", "Hi" } };
  assert_render(&t, m, 1, 1,
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}
END_TEST

/* Plain ChatML: no default system message. */
START_TEST(test_detect_plain_chatml){
  static const char jinja[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  chat_template t;
  char err[256] = "";
  ck_assert_int_eq(chat_template_detect(jinja, &t, err, sizeof err), 0);
  ck_assert_int_eq(t.has_default_system, 0);
  chat_message m[] = { { "user", "Hi" } };
  assert_render(&t, m, 1, 0, "<|im_start|>user\nHi<|im_end|>\n");
}
END_TEST

START_TEST(test_refuse_others){
  assert_refused("{% for m in messages %}<<{{ m.role }}>> {{ m.content }}\n{% endfor %}",
                 "chat template not supported: tensql renders ChatML");
  assert_refused("{{ bos_token }}{% for message in messages %}[INST] {{ message['content'] }}"
                 " [/INST]{% endfor %}", "looks like Llama 2 / Mistral [INST]");
  assert_refused("<|start_header_id|>user<|end_header_id|>", "looks like Llama 3");
  assert_refused("{%- if enable_thinking %}<|im_start|>assistant\n<think>\n\n</think>"
                 "<|im_end|>{% endif %}{{ add_generation_prompt }}", "reasoning blocks");
  assert_refused("<|im_start|>user<|im_end|>", "no '<|im_start|>assistant'");
  assert_refused("", "no chat template");
  assert_refused(NULL, "no chat template");
}
END_TEST

/* ---- rendering -------------------------------------------------------------------- */

/* The prompts in qwen2.5_encode_vectors.jsonl, e.g.
** {"kind": "chat_template(user='Hello')", "text": ..., "ids": [...]},
** rendered here and tokenized with the real Qwen2.5 tokenizer. */
START_TEST(test_qwen25_vectors){
  chat_template t = qwen_template();
  char err[256] = "";
  tokenizer *tok = tokenizer_load_hf(SHARED("tokenizers/qwen2.5"), err, sizeof err);
  ck_assert_msg(tok != NULL, "%s", err);
  sqlite3 *db;
  sqlite3_stmt *st, *ids_st;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  sqlite3_prepare_v2(db,
    "SELECT substr(k, 21, length(k) - 22), json_extract(?1, '$.text') "
    "FROM (SELECT json_extract(?1, '$.kind') AS k) WHERE k LIKE 'chat_template(user=''%'')'",
    -1, &st, NULL);
  sqlite3_prepare_v2(db, "SELECT value FROM json_each(?1, '$.ids')", -1, &ids_st, NULL);
  char *all = test_read_file(SHARED("tokenizers/qwen2.5/qwen2.5_encode_vectors.jsonl"), 0);
  int checked = 0;
  for(char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")){
    sqlite3_bind_text(st, 1, line, -1, SQLITE_STATIC);
    if( sqlite3_step(st) != SQLITE_ROW ){ sqlite3_reset(st); continue; }
    chat_message m = { "user", (const char *)sqlite3_column_text(st, 0) };
    assert_render(&t, &m, 1, 1, (const char *)sqlite3_column_text(st, 1));
    size_t len;
    char *prompt = chat_render(&t, &m, 1, 1, &len, err, sizeof err);
    int ids[256], want[256], n_want = 0;
    int n = tokenizer_encode(tok, prompt, len, 1, ids, 256, err, sizeof err);
    sqlite3_bind_text(ids_st, 1, line, -1, SQLITE_STATIC);
    while( sqlite3_step(ids_st) == SQLITE_ROW ) want[n_want++] = sqlite3_column_int(ids_st, 0);
    sqlite3_reset(ids_st);
    ck_assert_int_eq(n, n_want);
    ck_assert_int_eq(memcmp(ids, want, (size_t)n * sizeof *ids), 0);
    free(prompt);
    sqlite3_reset(st);
    checked++;
  }
  ck_assert_int_eq(checked, 2);
  printf("qwen2.5 chat prompts: %d vectors\n", checked);
  free(all);
  sqlite3_finalize(st);
  sqlite3_finalize(ids_st);
  sqlite3_close(db);
  tokenizer_free(tok);
}
END_TEST

START_TEST(test_render_system_and_turns){
  chat_template t = qwen_template();
  chat_message m[] = {
    { "system", "Be brief." }, { "user", "Hi" }, { "assistant", "Hello!" },
    { "system", "Now be verbose." }, { "user", "Bye" },
  };
  assert_render(&t, m, 5, 0,
    "<|im_start|>system\nBe brief.<|im_end|>\n"
    "<|im_start|>user\nHi<|im_end|>\n"
    "<|im_start|>assistant\nHello!<|im_end|>\n"
    "<|im_start|>system\nNow be verbose.<|im_end|>\n"
    "<|im_start|>user\nBye<|im_end|>\n");
}
END_TEST

/* Consecutive tool results share one user turn. */
START_TEST(test_render_tool_results){
  chat_template t = qwen_template();
  chat_message m[] = {
    { "user", "Weather?" }, { "assistant", "Let me check." },
    { "tool", "{\"temp\": 20}" }, { "tool", "{\"rain\": false}" }, { "user", "Thanks" },
  };
  assert_render(&t, m, 5, 1,
    "<|im_start|>system\n" QWEN_SYSTEM "<|im_end|>\n"
    "<|im_start|>user\nWeather?<|im_end|>\n"
    "<|im_start|>assistant\nLet me check.<|im_end|>\n"
    "<|im_start|>user\n<tool_response>\n{\"temp\": 20}\n</tool_response>"
    "\n<tool_response>\n{\"rain\": false}\n</tool_response><|im_end|>\n"
    "<|im_start|>user\nThanks<|im_end|>\n"
    "<|im_start|>assistant\n");
}
END_TEST

START_TEST(test_render_errors){
  chat_template t = qwen_template();
  char err[256] = "";
  chat_message m[] = { { "user", "Hi" }, { "narrator", "Meanwhile" } };
  ck_assert_ptr_null(chat_render(&t, m, 2, 1, NULL, err, sizeof err));
  ck_assert_msg(strstr(err, "message 1: role \"narrator\""), "%s", err);
  ck_assert_ptr_null(chat_render(&t, m, 0, 1, NULL, err, sizeof err));
  ck_assert_msg(strstr(err, "at least one message"), "%s", err);
  chat_template none = { .family = CHAT_NONE };
  ck_assert_ptr_null(chat_render(&none, m, 1, 1, NULL, err, sizeof err));
  /* NULL content renders as empty. */
  chat_message empty = { "user", NULL };
  assert_render(&t, &empty, 1, 0,
    "<|im_start|>system\n" QWEN_SYSTEM "<|im_end|>\n<|im_start|>user\n<|im_end|>\n");
}
END_TEST

static Suite *chat_suite(void){
  Suite *s = suite_create("chat");
  TCase *detect = tcase_create("detect");
  TCase *render = tcase_create("render");
  tcase_add_test(detect, test_detect_qwen25_config);
  tcase_add_test(detect, test_detect_qwen25_llama_cpp_copy);
  tcase_add_test(detect, test_detect_qwen2_default_system);
  tcase_add_test(detect, test_detect_plain_chatml);
  tcase_add_test(detect, test_refuse_others);
  tcase_add_test(render, test_qwen25_vectors);
  tcase_add_test(render, test_render_system_and_turns);
  tcase_add_test(render, test_render_tool_results);
  tcase_add_test(render, test_render_errors);
  suite_add_tcase(s, detect);
  suite_add_tcase(s, render);
  return s;
}

TEST_MAIN(chat_suite)
