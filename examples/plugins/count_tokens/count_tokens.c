/* count_tokens: counts the tokens of every call by upstream and type in the
 * metric llmrt_example_tokens_total. The complete example of docs/plugins.md. */
#include <stdio.h>

#include "llmrt/plugin.h"

static const llmrt_host_t *host;

static int init(llmrt_plugin_rt_t *prt, const char *cfg, size_t len, void **state, char *err,
                size_t errlen) {
  llmrt_metric_t *m;
  int r = host->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_example_tokens_total",
                       "Tokens by upstream and type", &m);
  if (r) snprintf(err, errlen, "cannot register the metric");
  *state = m; /* OWNERSHIP: the runtime's; valid until fini */
  return r;
}

static void on_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
  llmrt_metric_t *m = host->plugin_state(ctx);
  const char *types[2] = {"input", "output"};
  int64_t n[2] = {res->input_tokens, res->output_tokens};
  for (int i = 0; i < 2; i++) {
    char labels[160];
    snprintf(labels, sizeof labels, "upstream=\"%s\",gen_ai_token_type=\"%s\"", host->upstream(ctx),
             types[i]);
    host->metric_add(m, labels, (double)n[i]);
  }
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "count_tokens",
    .init = init,
    .on_complete = on_complete,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  host = h;
  return &desc;
}
