/* The deep copy of a request made on the submitting thread of the thread
 * mode (thread.c): the request, its messages, stop strings and headers in
 * one block, the API key apart so it can be wiped. llmrt_call validates the
 * copy later, on the runtime's thread; here only what the copy itself needs
 * is checked (no NULL array with a non-zero count). */
#include <string.h>

#include "thread.h"
#include "copy.h"

static size_t content_len(const llmrt_message_t *m) {
  return llmrt__copy_len(m->content, m->content_len);
}

static size_t json_len(const llmrt_message_t *m) {
  return llmrt__copy_len(m->content_json, m->content_json_len);
}

int llmrt__thread_req_copy(llmrt__thread_req_t *dst, const llmrt_request_t *in) {
  memset(dst, 0, sizeof *dst);
  if (!in) return LLMRT_EINVAL;
  if (in->struct_size && in->struct_size < LLMRT__V2_SIZE_llmrt_request_t) return LLMRT_EINVAL;
  llmrt_request_t r;
  llmrt_request_init(&r);
  /* Fields of a newer header than ours are not copied (the runtime would not
   * read them either). NOTE: a pointer field added to llmrt_request_t must be
   * deep-copied below too. */
  llmrt__copy_sized(&r, in, in->struct_size, LLMRT__V2_SIZE_llmrt_request_t, sizeof r);
  r.struct_size = sizeof r;
  if ((r.n_messages && !r.messages) || (r.n_stop && !r.stop) || (r.n_headers && !r.headers))
    return LLMRT_EINVAL;
  uint32_t ms = r.n_messages ? r.messages[0].struct_size : 0;
  if (ms && ms < LLMRT__V2_SIZE_llmrt_message_t) return LLMRT_EINVAL;
  /* 0 is this header's layout, as in llmrt_call (types.h). */
  size_t stride = ms ? ms : sizeof(llmrt_message_t);
  if (!ms) ms = (uint32_t)sizeof(llmrt_message_t);
  if (r.n_messages > (SIZE_MAX / 4) / sizeof(llmrt_message_t) ||
      r.n_stop > (SIZE_MAX / 4) / sizeof(char *) ||
      r.n_headers > (SIZE_MAX / 4) / sizeof(llmrt_header_t))
    return LLMRT_ENOMEM;

  size_t total = sizeof(llmrt_message_t) * r.n_messages + sizeof(char *) * r.n_stop +
                 sizeof(llmrt_header_t) * r.n_headers;
  total += llmrt__copy_sz(r.upstream) + llmrt__copy_sz(r.model) + llmrt__copy_sz(r.extra_json) +
           llmrt__copy_sz(r.tenant) + llmrt__copy_sz(r.raw_api);
  size_t rawlen = llmrt__copy_len(r.raw_body, r.raw_body_len);
  if (r.raw_body) total += rawlen + 1;
  for (size_t i = 0; i < r.n_messages; i++) {
    llmrt_message_t m = {0};
    llmrt__copy_sized(&m, (const char *)r.messages + i * stride, ms, LLMRT__V2_SIZE_llmrt_message_t,
                      sizeof m);
    total += llmrt__copy_sz(m.role) + (m.content ? content_len(&m) + 1 : 0) +
             llmrt__copy_sz(m.name) + llmrt__copy_sz(m.tool_call_id) +
             llmrt__copy_sz(m.tool_calls_json) + json_len(&m) + (m.content_json ? 1 : 0);
  }
  for (size_t i = 0; i < r.n_stop; i++)
    total += llmrt__copy_sz(r.stop[i]);
  for (size_t i = 0; i < r.n_headers; i++)
    total += llmrt__copy_sz(r.headers[i].name) + llmrt__copy_sz(r.headers[i].value);

  /* Pointer arrays first, so they are aligned (malloc's alignment). */
  char *block = llmrt__malloc(total ? total : 1);
  if (!block) return LLMRT_ENOMEM;
  char *key = r.api_key ? llmrt__strdup(r.api_key) : NULL;
  if (r.api_key && !key) {
    llmrt__free(block);
    return LLMRT_ENOMEM;
  }
  llmrt_message_t *msgs = (llmrt_message_t *)block;
  const char **stop = (const char **)(block + sizeof(llmrt_message_t) * r.n_messages);
  llmrt_header_t *hdrs = (llmrt_header_t *)((char *)stop + sizeof(char *) * r.n_stop);
  char *at = (char *)(hdrs + r.n_headers);
  for (size_t i = 0; i < r.n_messages; i++) {
    llmrt_message_t m = {0};
    llmrt__copy_sized(&m, (const char *)r.messages + i * stride, ms, LLMRT__V2_SIZE_llmrt_message_t,
                      sizeof m);
    size_t clen = content_len(&m);
    msgs[i] = (llmrt_message_t){
        .struct_size = sizeof(llmrt_message_t),
        .role = llmrt__copy_put_s(&at, m.role),
        .content = llmrt__copy_put(&at, m.content, clen),
        .content_len = clen,
        .name = llmrt__copy_put_s(&at, m.name),
        .tool_call_id = llmrt__copy_put_s(&at, m.tool_call_id),
        .tool_calls_json = llmrt__copy_put_s(&at, m.tool_calls_json),
        .content_json = llmrt__copy_put(&at, m.content_json, json_len(&m)),
        .content_json_len = json_len(&m),
    };
  }
  for (size_t i = 0; i < r.n_stop; i++)
    stop[i] = llmrt__copy_put_s(&at, r.stop[i]);
  for (size_t i = 0; i < r.n_headers; i++) {
    hdrs[i].name = llmrt__copy_put_s(&at, r.headers[i].name);
    hdrs[i].value = llmrt__copy_put_s(&at, r.headers[i].value);
  }
  r.upstream = llmrt__copy_put_s(&at, r.upstream);
  r.model = llmrt__copy_put_s(&at, r.model);
  r.extra_json = llmrt__copy_put_s(&at, r.extra_json);
  r.tenant = llmrt__copy_put_s(&at, r.tenant);
  r.raw_body = llmrt__copy_put(&at, r.raw_body, rawlen);
  r.raw_body_len = rawlen;
  r.raw_api = llmrt__copy_put_s(&at, r.raw_api);
  r.messages = r.n_messages ? msgs : NULL;
  r.stop = r.n_stop ? stop : NULL;
  r.headers = r.n_headers ? hdrs : NULL;
  r.api_key = key;
  dst->req = r;
  dst->block = block;
  dst->key = key;
  return 0;
}

void llmrt__thread_req_free(llmrt__thread_req_t *t) {
  llmrt__free(t->block);
  llmrt__secret_free(t->key);
  memset(t, 0, sizeof *t);
}
