/* A plugin built against plugin ABI 1 (llmrt 0.1): the same descriptor
 * shape, but hooks of another signature (on_call_end took no status). */
#include "llmrt/plugin.h"

static const llmrt_plugin_t desc = {
    .abi_version = 1,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "v1",
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  (void)h;
  return &desc;
}
