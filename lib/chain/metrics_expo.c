/* The walk both expositions share: every metric of the registry, then the
 * runtime's own families, handed to a writer (metrics_text.c,
 * metrics_json.c). Histogram buckets are made cumulative here, once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

int llmrt__expo_number(llmrt__buf_t *b, double v) {
  if (isnan(v)) return llmrt__buf_puts(b, "NaN");
  if (isinf(v)) return llmrt__buf_puts(b, v > 0 ? "+Inf" : "-Inf");
  /* Integers (counts) print as integers; others round-trip exactly. */
  if (v == floor(v) && fabs(v) < 1e15) return llmrt__buf_printf(b, "%.0f", v);
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%.15g", v);
  if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
  return llmrt__buf_puts(b, tmp);
}

static int walk_metric(llmrt__expo_t *e, const llmrt_metric_t *m) {
  /* A metric without series says nothing yet: Prometheus and promtool
   * expect a family's samples to follow its TYPE line. */
  if (!m->series) return 0;
  int r = e->family(e, m->name, m->kind, m->help);
  for (const llmrt__series_t *s = m->series; !r && s; s = s->next) {
    if (m->kind != LLMRT_METRIC_HISTOGRAM) {
      r = e->sample(e, s->labels, s->value);
      continue;
    }
    uint64_t cum[LLMRT_METRIC_MAX_BOUNDS + 1], c = 0;
    for (size_t i = 0; i <= m->n_bounds; i++)
      cum[i] = c += s->buckets[i];
    r = e->histogram(e, s->labels, m->bounds, m->n_bounds, cum, s->value, s->count);
  }
  if (!r) r = e->end_family(e);
  return r;
}

int llmrt__expo_walk(llmrt_t *rt, llmrt__expo_t *e) {
  /* Reading makes nothing: no chain (never used, or closed) has no registry. */
  llmrt__registry_t *reg = llmrt__registry(rt, 0);
  int r = 0;
  for (const llmrt_metric_t *m = reg ? reg->head : NULL; !r && m; m = m->next)
    r = walk_metric(e, m);
  if (!r) r = llmrt__expo_runtime(rt, e);
  return r;
}
