/* A plugin whose init refuses every configuration. */
#include <stdio.h>

#include "llmrt/plugin.h"

static int init(llmrt_plugin_rt_t *prt, const char *cfg, size_t len, void **state, char *err,
                size_t errlen) {
  (void)prt;
  (void)cfg;
  (void)len;
  (void)state;
  snprintf(err, errlen, "max_bytes must be a positive integer");
  return LLMRT_EINVAL;
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "refuse",
    .init = init,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  (void)h;
  return &desc;
}
