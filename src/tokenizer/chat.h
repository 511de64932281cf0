/*
** chat.h: turn a list of chat messages into the prompt text an instruct
** model was trained on, as its Jinja chat template would.
**
**   chat_template tpl;
**   if( chat_template_detect(jinja, &tpl, err, sizeof err) ) ... refuse
**   chat_message m[] = { { "user", "Hello" } };
**   char *prompt = chat_render(&tpl, m, 1, 1, &len, err, sizeof err);
**   ... tokenizer_encode(t, prompt, len, 1, ...)   (parse_special: the
**   markers are special tokens) ...; free(prompt);
**
** tensql does not run Jinja.  It recognises the template families it knows
** from their markers and renders them in C, and refuses any other template
** with a message that says what it saw.  Supported:
**
**   CHAT_CHATML  "<|im_start|>role\ncontent<|im_end|>\n" per message, as
**                used by Qwen2 and Qwen2.5-Instruct.  A default system
**                message written in the template (Qwen2.5: "You are Qwen,
**                created by Alibaba Cloud. You are a helpful assistant.")
**                is added when the first message is not a system message.
**                Qwen2.5's "tool" messages become <tool_response> blocks
**                inside a user turn.  Tools and tool calls are not supported.
*/
#ifndef TENSQL_CHAT_H
#define TENSQL_CHAT_H

#include <stddef.h>

typedef enum chat_family { CHAT_NONE = 0, CHAT_CHATML = 1 } chat_family;

#define CHAT_SYSTEM_MAX 1024

typedef struct chat_template {
  chat_family family;
  int has_default_system;
  char default_system[CHAT_SYSTEM_MAX];
  int tool_response;         /* "tool" messages are wrapped (Qwen2.5) */
} chat_template;

typedef struct chat_message {
  const char *role;          /* "system", "user", "assistant", "tool" */
  const char *content;       /* NULL counts as "" */
} chat_message;

/* Recognise the Jinja text of a chat template (tokenizer_config.json's
** chat_template, GGUF's tokenizer.chat_template).  Returns 0 and fills *out,
** or -1 with the reason in err (out->family is then CHAT_NONE). */
int chat_template_detect(const char *jinja, chat_template *out,
                         char *err, size_t err_len);

/* Render n >= 1 messages, then the assistant's opening if
** add_generation_prompt.  Returns a malloc'd NUL-terminated string and its
** length in *len, or NULL with err (unknown role, no messages, no memory). */
char *chat_render(const chat_template *t, const chat_message *messages, int n,
                  int add_generation_prompt, size_t *len,
                  char *err, size_t err_len);

#endif
