/* system_prompt: an llmrt plugin that puts a system message in front of
 * every request.
 *
 *   {"name": "./system_prompt.so", "text": "Answer in French."}
 *
 * The message goes first, before any system message the request already
 * has. A retry that re-enters the chain below an outer plugin runs
 * on_request again on the request we already changed, so the plugin checks
 * first whether its message is already in place. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmrt/plugin.h"

static const llmrt_host_t *host;

/* strdup is POSIX, not C11. */
static char *copy_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  return d ? memcpy(d, s, n) : NULL;
}

typedef struct {
  char *text;
  size_t len;
} prompt_t;

static int init(llmrt_plugin_rt_t *prt, const char *cfg, size_t len, void **state, char *err,
                size_t errlen) {
  (void)prt;
  cJSON *root = cJSON_ParseWithLength(cfg, len);
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
  if (!cJSON_IsString(text) || !*text->valuestring) {
    snprintf(err, errlen, "\"text\" must be a non-empty string");
    cJSON_Delete(root);
    return LLMRT_EINVAL;
  }
  prompt_t *p = calloc(1, sizeof *p);
  if (p) p->text = copy_str(text->valuestring);
  cJSON_Delete(root);
  if (!p || !p->text) {
    free(p);
    return LLMRT_ENOMEM;
  }
  p->len = strlen(p->text);
  *state = p;
  return 0;
}

static void fini(void *state) {
  prompt_t *p = state;
  free(p->text);
  free(p);
}

static size_t content_len(const llmrt_message_t *m) {
  return m->content_len ? m->content_len : (m->content ? strlen(m->content) : 0);
}

static int on_request(llmrt_ctx_t *ctx) {
  const prompt_t *p = host->plugin_state(ctx);
  const llmrt_request_t *req = host->request(ctx);
  if (req->n_messages > 0) {
    const llmrt_message_t *first = &req->messages[0];
    if (first->role && strcmp(first->role, "system") == 0 && content_len(first) == p->len &&
        memcmp(first->content, p->text, p->len) == 0)
      return LLMRT_CONTINUE; /* already there (a retry) */
  }
  /* OWNERSHIP: set_request deep-copies, so the array can be ours and go
   * right after; the messages' strings stay the runtime's. */
  llmrt_message_t *msgs = calloc(req->n_messages + 1, sizeof *msgs);
  if (!msgs) return LLMRT_ENOMEM;
  msgs[0].role = "system";
  msgs[0].content = p->text;
  msgs[0].content_len = p->len;
  if (req->n_messages) memcpy(msgs + 1, req->messages, req->n_messages * sizeof *msgs);
  llmrt_request_t copy = *req;
  copy.messages = msgs;
  copy.n_messages = req->n_messages + 1;
  int r = host->set_request(ctx, &copy);
  free(msgs);
  return r < 0 ? r : LLMRT_CONTINUE;
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "system_prompt",
    .version = "1.0",
    .init = init,
    .fini = fini,
    .on_request = on_request,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  host = h;
  return &desc;
}
