/* One call's own measurements, from one function: the metrics plugin
 * records them (host->call_metrics) and an application reads the same
 * numbers (llmrt_call_metrics, `llmrt chat -v`).
 *
 * The runtime's overhead is the call's duration minus the time its upstream
 * HTTP exchanges were in flight (from handing the request to the HTTP
 * client to that exchange's end, summed over attempts): chain walks,
 * plugins' pauses (a cache lookup, a limit wait), retry delays and the
 * completion. Decoding the response and delivering events happen while the
 * exchange is in flight and count as upstream time. */
#include <string.h>

#include "call.h"
#include "metrics.h"

void llmrt__measure_upstream_start(llmrt_call_t *c) {
  c->att_t0_us = llmrt__now_us();
}

void llmrt__measure_upstream_end(llmrt_call_t *c) {
  if (!c->att_t0_us) return;
  c->upstream_us += llmrt__now_us() - c->att_t0_us;
  c->att_t0_us = 0;
}

static void fill(const llmrt_call_t *c, llmrt_call_metrics_t *m) {
  /* After completion everything is fixed: no clock read (on_complete and
   * on_done ask for every call). */
  uint64_t now = c->t_end_us && !c->att_t0_us ? c->t_end_us : llmrt__now_us();
  uint64_t end = c->t_end_us ? c->t_end_us : now;
  uint64_t up = c->upstream_us + (c->att_t0_us ? now - c->att_t0_us : 0);
  uint64_t total = end - c->t_start_us;
  if (up > total) up = total;
  m->streamed = c->req.stream != 0;
  m->done = c->t_end_us != 0;
  m->attempts = c->attempts;
  m->duration_s = (double)total / 1e6;
  m->time_to_first_chunk_s = (double)c->timings.first_token_us / 1e6;
  m->n_chunks = c->timings.first_token_us ? c->timings.n_gaps + 1 : 0;
  m->chunk_gap_mean_s = c->timings.n_gaps ? (double)c->gap_sum_us / c->timings.n_gaps / 1e6 : 0;
  m->upstream_s = (double)up / 1e6;
  m->queued_s = (double)c->timings.queued_us / 1e6;
  m->overhead_s = (double)(total - up) / 1e6;
  m->input_tokens = c->input_tokens;
  m->output_tokens = c->output_tokens;
  m->cached_tokens = c->cached_tokens;
}

/* Fields beyond out->struct_size are left alone (a caller built against an
 * older header). */
static int measure(const llmrt_call_t *c, llmrt_call_metrics_t *out) {
  if (!c || !out || out->struct_size < sizeof(uint32_t)) return LLMRT_EINVAL;
  llmrt_call_metrics_t m;
  memset(&m, 0, sizeof m);
  fill(c, &m);
  size_t n = out->struct_size < sizeof m ? out->struct_size : sizeof m;
  m.struct_size = out->struct_size;
  memcpy(out, &m, n);
  return 0;
}

int llmrt_call_metrics(const llmrt_call_t *call, llmrt_call_metrics_t *out) {
  return measure(call, out);
}

int llmrt__host_call_metrics(llmrt_ctx_t *ctx, llmrt_call_metrics_t *out) {
  return measure(ctx ? ctx->call : NULL, out);
}
