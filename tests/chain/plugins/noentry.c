/* A shared object that is not a plugin: no llmrt_plugin_entry symbol. */
#include "llmrt/plugin.h"

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "noentry",
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry_misspelled(const llmrt_host_t *h) {
  (void)h;
  return &desc;
}
