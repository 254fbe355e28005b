/* A plugin built against a NEWER llmrt header than the runtime it loads
 * into: test_examples_out_of_tree.sh compiles it with a copy of the
 * installed headers in which llmrt_request_t has a field more at its end.
 * It must load and work: it hands the runtime its larger request (the
 * runtime reads the fields it knows), and it reads the runtime's smaller
 * request only as far as struct_size covers it. */
#include <string.h>

#include "llmrt/plugin.h"

static const llmrt_host_t *H;

static int on_request(llmrt_ctx_t *ctx) {
  const llmrt_request_t *cur = H->request(ctx);
  /* The runtime's struct ends before the field this header added. */
  if (LLMRT_HAS_FIELD(cur, llmrt_request_t, future_field)) return LLMRT_EPLUGIN;
  if (!LLMRT_HAS_FIELD(cur, llmrt_request_t, max_tokens)) return LLMRT_EPLUGIN;
  llmrt_request_t mine;
  memset(&mine, 0, sizeof mine);
  memcpy(&mine, cur, cur->struct_size < sizeof mine ? cur->struct_size : sizeof mine);
  mine.struct_size = sizeof mine; /* larger than the runtime's */
  mine.future_field = 42;
  mine.max_tokens = 7;
  int r = H->set_request(ctx, &mine);
  if (r) return r;
  if (H->request(ctx)->max_tokens != 7) return LLMRT_EPLUGIN;
  llmrt_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.struct_size = sizeof ev;
  ev.type = LLMRT_EV_TEXT;
  ev.text = "newer header ok";
  ev.len = 15;
  if ((r = H->emit(ctx, &ev)) != 0) return r;
  llmrt_result_t res;
  memset(&res, 0, sizeof res);
  res.struct_size = sizeof res;
  res.finish_reason = "stop";
  if ((r = H->respond(ctx, &res)) != 0) return r;
  return LLMRT_STOP;
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "newer_header",
    .on_request = on_request,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  H = h;
  return &desc;
}
