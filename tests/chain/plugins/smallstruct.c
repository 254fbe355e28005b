/* A plugin whose descriptor claims to be too small to hold the hooks. */
#include "llmrt/plugin.h"

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = 16,
    .name = "smallstruct",
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  (void)h;
  return &desc;
}
