/* A plugin that does nothing in every hook: the per-hook cost of the chain.
 * Built as bench/noop.so and loaded by path, as users' plugins are. */
#include "llmrt/plugin.h"

static int on_request(llmrt_ctx_t *ctx) {
  return LLMRT_CONTINUE;
}

static int on_response(llmrt_ctx_t *ctx, int status, const llmrt_header_t *h, size_t n) {
  return LLMRT_CONTINUE;
}

static int on_event(llmrt_ctx_t *ctx, llmrt_event_t *ev) {
  return LLMRT_CONTINUE;
}

static int on_error(llmrt_ctx_t *ctx, int err) {
  return LLMRT_CONTINUE;
}

static void on_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
}

static void on_call_end(llmrt_ctx_t *ctx, int status) {
  (void)status;
}

static const llmrt_plugin_t noop = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "noop",
    .version = "1",
    .call_state_size = 16,
    .on_request = on_request,
    .on_response = on_response,
    .on_event = on_event,
    .on_error = on_error,
    .on_complete = on_complete,
    .on_call_end = on_call_end,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  (void)host;
  return &noop;
}
