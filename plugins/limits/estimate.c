/* The prompt's token estimate, made before a call is sent so its tokens can
 * be reserved. About four bytes of English text make a token; each message
 * adds a few for its role and separators (OpenAI documents 3 to 4), and a
 * reply is primed with 3 more. This errs high on English and low on some
 * scripts. The plugin uses the runtime's counter (host->count_request_tokens)
 * and falls back to this only where the host has none. */
#include <string.h>

#include "limits_int.h"

#define PER_MESSAGE 4
#define PER_REPLY 3

static size_t len_of(const char *s, size_t n) {
  return s ? (n ? n : strlen(s)) : 0;
}

int64_t limits__estimate_prompt_tokens(const llmrt_request_t *req) {
  int64_t t = PER_REPLY;
  for (size_t i = 0; i < req->n_messages; i++) {
    const llmrt_message_t *m = &req->messages[i];
    size_t bytes = len_of(m->content, m->content_len) + len_of(m->name, 0) +
                   len_of(m->tool_calls_json, 0) + len_of(m->tool_call_id, 0);
    t += PER_MESSAGE + (int64_t)((bytes + 3) / 4);
  }
  return t;
}
