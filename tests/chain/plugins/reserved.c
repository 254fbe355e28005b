/* A plugin from a newer runtime that fills a reserved slot this runtime
 * would ignore: refused. */
#include "llmrt/plugin.h"

static int dummy;
static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "reserved",
    .reserved = {[2] = &dummy},
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  (void)h;
  return &desc;
}
