/* A prompt's tokens as the provider counts them: the text of each message
 * plus the framing the chat format adds. The constants are those of OpenAI's
 * cookbook ("How to count tokens with tiktoken"): 3 tokens per message
 * (<|start|>role<|message|>...<|end|> less the role's own), 1 more for a
 * name, 3 that prime the reply; tool definitions as the cookbook's
 * num_tokens_for_tools counts them. Anthropic does not
 * publish its framing; the same constants are used there, with the
 * estimator. */
#include <cjson/cJSON.h>
#include <string.h>

#include "core/core.h"
#include "tokens/tokens_internal.h"

#define PER_MESSAGE 3
#define PER_NAME 1
#define PER_REPLY 3
/* num_tokens_for_tools (cookbook): 7 to open a function for the gpt-4o
 * family, 10 for gpt-3.5 and gpt-4 (cl100k_base); the rest is shared. */
#define FUNC_INIT_O200K 7
#define FUNC_INIT_CL100K 10
#define PROP_INIT 3
#define PROP_KEY 3
#define ENUM_INIT (-3)
#define ENUM_ITEM 3
#define FUNC_END 12

static int64_t count_str(llmrt_tokenizer_t *tk, const char *s) {
  return s ? llmrt_tokens_count(tk, s, strlen(s)) : 0;
}

#define ADD(total, expr)                                                                           \
  do {                                                                                             \
    int64_t k_ = (expr);                                                                           \
    if (k_ < 0) return k_;                                                                         \
    (total) += k_;                                                                                 \
  } while (0)

/* Tool calls of an assistant message: each function's name and arguments
 * (what the model wrote), plus a few tokens of framing each. Malformed JSON
 * is counted as text: the call fails later anyway, and an estimate beats
 * none. */
static int64_t count_tool_calls(llmrt_tokenizer_t *tk, const char *json) {
  int64_t total = 0;
  cJSON *arr = cJSON_Parse(json);
  if (!arr) {
    ADD(total, count_str(tk, json));
    return total;
  }
  const cJSON *tc;
  cJSON_ArrayForEach(tc, arr) {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    int64_t k = PER_MESSAGE;
    if (cJSON_IsString(name)) k += count_str(tk, name->valuestring);
    if (cJSON_IsString(args)) k += count_str(tk, args->valuestring);
    if (k < 0) {
      cJSON_Delete(arr);
      return k;
    }
    total += k;
  }
  cJSON_Delete(arr);
  return total;
}

int64_t llmrt_tokens_count_message(llmrt_tokenizer_t *tk, const llmrt_message_t *m) {
  if (!tk || !m) return LLMRT_EINVAL;
  int64_t total = PER_MESSAGE;
  ADD(total, count_str(tk, m->role));
  if (m->content)
    ADD(total,
        llmrt_tokens_count(tk, m->content, m->content_len ? m->content_len : strlen(m->content)));
  if (m->name) {
    ADD(total, count_str(tk, m->name));
    total += PER_NAME;
  }
  if (LLMRT_HAS_FIELD(m, llmrt_message_t, tool_calls_json) && m->tool_calls_json)
    ADD(total, count_tool_calls(tk, m->tool_calls_json));
  return total;
}

/* One tool definition: OpenAI's {"type":"function","function":{name,
 * description, parameters}} or Anthropic's {name, description,
 * input_schema}. */
static int64_t count_tool(llmrt_tokenizer_t *tk, const cJSON *tool) {
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
  if (!fn) fn = tool;
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
  if (!params) params = cJSON_GetObjectItemCaseSensitive(fn, "input_schema");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
  int64_t total = strcmp(llmrt_tokenizer_encoding(tk), LLMRT_ENCODING_CL100K) ? FUNC_INIT_O200K
                                                                              : FUNC_INIT_CL100K;
  if (cJSON_IsString(name)) ADD(total, count_str(tk, name->valuestring));
  if (cJSON_IsString(desc)) {
    /* The cookbook strips a final period. */
    const char *d = desc->valuestring;
    size_t n = strlen(d);
    if (n && d[n - 1] == '.') n--;
    ADD(total, llmrt_tokens_count(tk, d, n));
  }
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties");
  if (cJSON_IsObject(props) && props->child) {
    total += PROP_INIT;
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
      total += PROP_KEY;
      ADD(total, count_str(tk, p->string));
      const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
      const cJSON *pd = cJSON_GetObjectItemCaseSensitive(p, "description");
      const cJSON *en = cJSON_GetObjectItemCaseSensitive(p, "enum");
      if (cJSON_IsArray(en)) {
        total += ENUM_INIT;
        const cJSON *item;
        cJSON_ArrayForEach(item, en) {
          total += ENUM_ITEM;
          if (cJSON_IsString(item)) ADD(total, count_str(tk, item->valuestring));
        }
      }
      if (cJSON_IsString(type)) ADD(total, count_str(tk, type->valuestring));
      if (cJSON_IsString(pd)) {
        const char *d = pd->valuestring;
        size_t n = strlen(d);
        if (n && d[n - 1] == '.') n--;
        ADD(total, llmrt_tokens_count(tk, d, n));
      }
    }
  }
  return total;
}

static int64_t count_tools(llmrt_tokenizer_t *tk, const char *extra_json) {
  cJSON *root = cJSON_Parse(extra_json);
  if (!root) return 0; /* the call refuses malformed extra_json itself */
  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
  int64_t total = 0;
  if (cJSON_IsArray(tools) && tools->child) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
      int64_t k = count_tool(tk, t);
      if (k < 0) {
        cJSON_Delete(root);
        return k;
      }
      total += k;
    }
    total += FUNC_END;
  }
  cJSON_Delete(root);
  return total;
}

int64_t llmrt_tokens_count_request(llmrt_tokenizer_t *tk, const llmrt_request_t *req) {
  if (!tk || !req || (req->n_messages && !req->messages)) return LLMRT_EINVAL;
  int64_t total = PER_REPLY;
  const llmrt_message_t *m = req->messages;
  for (size_t i = 0; i < req->n_messages; i++) {
    ADD(total, llmrt_tokens_count_message(tk, m));
    /* Arrays take their stride from the first element's struct_size; 0 is
     * this header's layout, as in llmrt_call (types.h). */
    size_t stride = req->messages[0].struct_size ? req->messages[0].struct_size
                                                 : sizeof(llmrt_message_t);
    m = (const llmrt_message_t *)(const void *)((const char *)m + stride);
  }
  if (req->extra_json) ADD(total, count_tools(tk, req->extra_json));
  return total;
}
