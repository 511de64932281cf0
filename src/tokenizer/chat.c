/*
** chat.c: chat templates without a Jinja engine (the contract is chat.h).
**
** `generate` with chat on reads the model's template from
** meta('tokenizer.chat_template'), detects it once, and renders the messages
** into the prompt that is then tokenized with special tokens parsed:
**
**   SELECT text FROM generate WHERE prompt = 'Hello' AND chat = 1;
**   -- the model sees "<|im_start|>system\nYou are Qwen, ...<|im_end|>\n
**   --                 <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
**
** Detection looks for the family's markers, then reads what varies between
** templates of one family (the default system prompt) out of the template's
** string literals.  Templates whose logic tensql would render differently
** (reasoning blocks, unknown markers) are refused rather than guessed.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

static void chat_error(char *err, size_t err_len, const char *fmt, ...){
  if( !err || err_len == 0 ) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

/* ---- detection --------------------------------------------------------------- */

/* Markers of families tensql does not render, to say what a refused
** template looks like. */
static const struct { const char *marker, *family; } chat_other_families[] = {
  { "[INST]", "Llama 2 / Mistral [INST]" },
  { "<|start_header_id|>", "Llama 3" },
  { "<start_of_turn>", "Gemma" },
  { "<\xef\xbd\x9c" "User\xef\xbd\x9c>", "DeepSeek" },
  { "<|user|>", "Phi-3 / Zephyr" },
  { "<|START_OF_TURN_TOKEN|>", "Command-R" },
};

static const char *chat_guess_family(const char *jinja){
  for(size_t i = 0; i < sizeof chat_other_families / sizeof *chat_other_families; i++){
    if( strstr(jinja, chat_other_families[i].marker) ) return chat_other_families[i].family;
  }
  return NULL;
}

/* Copy a Jinja string literal's text [s, end) into out, undoing escapes. */
static int chat_unescape(const char *s, const char *end, char *out, size_t cap){
  size_t n = 0;
  for(; s < end; s++){
    char c = *s;
    if( c == '\\' && s + 1 < end ){
      c = *++s;
      if( c == 'n' ) c = '\n';
      else if( c == 't' ) c = '\t';
      else if( c == 'r' ) c = '\r';
    }
    if( n + 1 >= cap ) return -1;
    out[n++] = c;
  }
  out[n] = 0;
  return 0;
}

/* The literal's quote character: the nearest quote before `at`. */
static char chat_quote_before(const char *jinja, const char *at){
  for(const char *p = at; p > jinja; p--){
    if( p[-1] == '\'' || p[-1] == '"' ) return p[-1];
  }
  return 0;
}

/* Find a default system prompt: a string literal holding
** "<|im_start|>system\n" + text + "<|im_end|>", as Qwen's templates write
** it.  Returns 1 and fills t->default_system if found, 0 if not, -1 if it
** is too long. */
static int chat_find_default_system(const char *jinja, chat_template *t){
  static const char head[] = "<|im_start|>system";
  for(const char *p = strstr(jinja, head); p; p = strstr(p + 1, head)){
    const char *text = p + strlen(head);
    if( strncmp(text, "\\n", 2) == 0 ) text += 2;
    else if( *text == '\n' ) text += 1;
    else continue;
    char quote = chat_quote_before(jinja, p);
    const char *end = strstr(text, "<|im_end|>");
    const char *closing = quote ? strchr(text, quote) : NULL;
    if( !end || (closing && closing < end) ) continue;
    if( chat_unescape(text, end, t->default_system, sizeof t->default_system) ) return -1;
    return 1;
  }
  return 0;
}

int chat_template_detect(const char *jinja, chat_template *out,
                         char *err, size_t err_len){
  memset(out, 0, sizeof *out);
  if( !jinja || !*jinja ){
    chat_error(err, err_len, "the model has no chat template");
    return -1;
  }
  if( !strstr(jinja, "<|im_start|>") || !strstr(jinja, "<|im_end|>") ){
    const char *family = chat_guess_family(jinja);
    chat_error(err, err_len, "chat template not supported: tensql renders ChatML "
               "templates (<|im_start|> ... <|im_end|>, Qwen2/Qwen2.5) only%s%s",
               family ? "; this one looks like " : "", family ? family : "");
    return -1;
  }
  if( strstr(jinja, "<think>") || strstr(jinja, "reasoning_content") ){
    chat_error(err, err_len, "chat template not supported: a ChatML template with "
               "reasoning blocks (<think>, Qwen3-style) renders history differently");
    return -1;
  }
  if( !strstr(jinja, "add_generation_prompt") || !strstr(jinja, "<|im_start|>assistant") ){
    chat_error(err, err_len, "chat template not supported: it has ChatML markers but "
               "no '<|im_start|>assistant' generation prompt");
    return -1;
  }
  int found = chat_find_default_system(jinja, out);
  if( found < 0 ){
    chat_error(err, err_len, "chat template's default system prompt is longer than "
               "%d bytes", CHAT_SYSTEM_MAX - 1);
    return -1;
  }
  out->has_default_system = found;
  out->tool_response = strstr(jinja, "<tool_response>") != NULL;
  out->family = CHAT_CHATML;
  return 0;
}

/* ---- rendering ------------------------------------------------------------------ */

/* The prompt being built; on allocation failure `failed` is set and the
** text is freed at the end. */
typedef struct chat_buf {
  char *p;
  size_t len, cap;
  int failed;
} chat_buf;

static void chat_put(chat_buf *b, const char *s){
  size_t n = s ? strlen(s) : 0;
  if( b->failed ) return;
  if( b->len + n + 1 > b->cap ){
    size_t cap = b->cap ? b->cap : 256;
    while( cap < b->len + n + 1 ) cap *= 2;
    char *p = realloc(b->p, cap);
    if( !p ){ b->failed = 1; return; }
    b->p = p;
    b->cap = cap;
  }
  if( n ) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void chat_turn(chat_buf *b, const char *role, const char *content){
  chat_put(b, "<|im_start|>");
  chat_put(b, role);
  chat_put(b, "\n");
  chat_put(b, content);
  chat_put(b, "<|im_end|>\n");
}

static int chat_is(const chat_message *m, const char *role){
  return m->role && strcmp(m->role, role) == 0;
}

/* Qwen2.5: consecutive tool results share one user turn. */
static void chat_tool_result(chat_buf *b, const chat_message *m, int i, int n){
  if( i == 0 || !chat_is(&m[i - 1], "tool") ) chat_put(b, "<|im_start|>user");
  chat_put(b, "\n<tool_response>\n");
  chat_put(b, m[i].content);
  chat_put(b, "\n</tool_response>");
  if( i == n - 1 || !chat_is(&m[i + 1], "tool") ) chat_put(b, "<|im_end|>\n");
}

static int chat_render_messages(const chat_template *t, chat_buf *b,
                                const chat_message *m, int n,
                                char *err, size_t err_len){
  if( chat_is(&m[0], "system") ) chat_turn(b, "system", m[0].content);
  else if( t->has_default_system ) chat_turn(b, "system", t->default_system);
  for(int i = 0; i < n; i++){
    if( chat_is(&m[i], "system") ){
      if( i > 0 ) chat_turn(b, "system", m[i].content);
    }else if( chat_is(&m[i], "user") || chat_is(&m[i], "assistant") ){
      chat_turn(b, m[i].role, m[i].content);
    }else if( chat_is(&m[i], "tool") && t->tool_response ){
      chat_tool_result(b, m, i, n);
    }else{
      chat_error(err, err_len, "message %d: role \"%s\" is not one the chat template "
                 "renders (system, user, assistant%s)", i, m[i].role ? m[i].role : "(null)",
                 t->tool_response ? ", tool" : "");
      return -1;
    }
  }
  return 0;
}

char *chat_render(const chat_template *t, const chat_message *messages, int n,
                  int add_generation_prompt, size_t *len,
                  char *err, size_t err_len){
  if( t->family != CHAT_CHATML ){
    chat_error(err, err_len, "no supported chat template to render with");
    return NULL;
  }
  if( n < 1 ){
    chat_error(err, err_len, "a chat needs at least one message");
    return NULL;
  }
  chat_buf b = {0};
  chat_put(&b, "");
  if( chat_render_messages(t, &b, messages, n, err, err_len) ){
    free(b.p);
    return NULL;
  }
  if( add_generation_prompt ) chat_put(&b, "<|im_start|>assistant\n");
  if( b.failed ){
    chat_error(err, err_len, "out of memory rendering %d chat messages", n);
    free(b.p);
    return NULL;
  }
  if( len ) *len = b.len;
  return b.p;
}
