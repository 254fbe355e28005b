/* demo_wire: the demo's innermost plugin. It changes nothing; it counts
 * what actually goes to the upstream and what comes back, after every other
 * plugin had its say (a cache hit never reaches it; a trimmed history
 * arrives trimmed; each retry is another attempt), so the demo's table is
 * measured on the wire rather than inferred. */
#include <string.h>

#include "demo.h"

demo_wire_t *demo_wire_counters;

static const llmrt_host_t *H;

/* Runs for every attempt (again below a retry). */
static int wire_on_request(llmrt_ctx_t *ctx) {
  const llmrt_request_t *req = H->request(ctx);
  if (!demo_wire_counters || !req) return LLMRT_CONTINUE;
  size_t bytes = 0;
  for (size_t i = 0; i < req->n_messages; i++) {
    const llmrt_message_t *m = &req->messages[i];
    if (m->content) bytes += m->content_len ? m->content_len : strlen(m->content);
    if (m->tool_calls_json) bytes += strlen(m->tool_calls_json);
  }
  demo_wire_counters->attempts++;
  int *seen = H->call_state(ctx); /* per call: set once its first attempt went */
  if (seen && !*seen) {
    *seen = 1;
    demo_wire_counters->first_attempts++;
  }
  /* The mock's usage estimate: a token per 4 bytes, at least 1. */
  demo_wire_counters->tokens_sent += bytes / 4 ? bytes / 4 : 1;
  return LLMRT_CONTINUE;
}

static int wire_on_response(llmrt_ctx_t *ctx, int http_status, const llmrt_header_t *headers,
                            size_t n_headers) {
  (void)ctx;
  (void)headers;
  (void)n_headers;
  if (!demo_wire_counters) return LLMRT_CONTINUE;
  if (http_status == 429)
    demo_wire_counters->status_429++;
  else if (http_status >= 500)
    demo_wire_counters->status_5xx++;
  else if (http_status >= 400)
    demo_wire_counters->status_other_err++;
  return LLMRT_CONTINUE;
}

static const llmrt_plugin_t wire_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "demo_wire",
    .version = "1.0",
    .call_state_size = sizeof(int),
    .on_request = wire_on_request,
    .on_response = wire_on_response,
};

const llmrt_plugin_t *demo_wire_entry(const llmrt_host_t *host) {
  H = host;
  return &wire_plugin;
}
