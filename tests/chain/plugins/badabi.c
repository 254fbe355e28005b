/* A plugin built for a plugin ABI this runtime does not speak. */
#include "llmrt/plugin.h"

static const llmrt_plugin_t desc = {
    .abi_version = 7,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "badabi",
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  (void)h;
  return &desc;
}
