/* A test plugin for the gateway: changes only the request's model (as a
 * fallback or routing plugin would), by copying the request it is given and
 * handing it back through set_request. The client's raw body must survive
 * that (llmrt_request_t.raw_body), with only its model value replaced. */
#include <string.h>

#include "llmrt/plugin.h"

static const llmrt_host_t *H;

static int on_request(llmrt_ctx_t *ctx) {
  llmrt_request_t r = *H->request(ctx);
  r.model = "rerouted-model";
  int rc = H->set_request(ctx, &r);
  return rc < 0 ? rc : LLMRT_CONTINUE;
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "reroute",
    .on_request = on_request,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  H = h;
  return &desc;
}
