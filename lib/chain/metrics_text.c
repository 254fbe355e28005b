/* The Prometheus text exposition format, version 0.0.4: a HELP and a TYPE
 * line per family, then its samples; histograms as cumulative _bucket
 * series with an "le" label, then _sum and _count. Label values arrive
 * escaped (the registry checked them); HELP text is escaped here. */
#include <inttypes.h>
#include <stdio.h>

#include "metrics.h"

typedef struct {
  llmrt__expo_t e;
  const char *name; /* of the family being written */
} text_t;

static int t_family(llmrt__expo_t *e, const char *name, int kind, const char *help) {
  static const char *const kinds[] = {"untyped", "counter", "gauge", "histogram"};
  ((text_t *)e)->name = name;
  int r = llmrt__buf_printf(e->b, "# HELP %s ", name);
  for (const char *c = help; !r && *c; c++) {
    if (*c == '\\')
      r = llmrt__buf_puts(e->b, "\\\\");
    else if (*c == '\n')
      r = llmrt__buf_puts(e->b, "\\n");
    else
      r = llmrt__buf_append(e->b, c, 1);
  }
  if (!r) r = llmrt__buf_printf(e->b, "\n# TYPE %s %s\n", name, kinds[kind]);
  return r;
}

static int t_sample(llmrt__expo_t *e, const char *labels, double v) {
  const char *name = ((text_t *)e)->name;
  int r = llmrt__buf_printf(e->b, *labels ? "%s{%s} " : "%s%s ", name, labels);
  if (!r) r = llmrt__expo_number(e->b, v);
  if (!r) r = llmrt__buf_puts(e->b, "\n");
  return r;
}

static int t_histogram(llmrt__expo_t *e, const char *labels, const double *bounds, size_t n_bounds,
                       const uint64_t *cum, double sum, uint64_t count) {
  const char *name = ((text_t *)e)->name;
  const char *sep = *labels ? "," : "";
  int r = 0;
  for (size_t i = 0; !r && i <= n_bounds; i++) {
    r = llmrt__buf_printf(e->b, "%s_bucket{%s%sle=\"", name, labels, sep);
    if (!r) r = i < n_bounds ? llmrt__expo_number(e->b, bounds[i]) : llmrt__buf_puts(e->b, "+Inf");
    if (!r) r = llmrt__buf_printf(e->b, "\"} %" PRIu64 "\n", cum[i]);
  }
  if (!r) r = llmrt__buf_printf(e->b, *labels ? "%s_sum{%s} " : "%s_sum%s ", name, labels);
  if (!r) r = llmrt__expo_number(e->b, sum);
  if (!r)
    r = llmrt__buf_printf(e->b,
                          *labels ? "\n%s_count{%s} %" PRIu64 "\n" : "\n%s_count%s %" PRIu64 "\n",
                          name, labels, count);
  return r;
}

static int t_end(llmrt__expo_t *e) {
  (void)e;
  return 0;
}

int llmrt_metrics_prometheus(llmrt_t *rt, char **out, size_t *len) {
  if (out) *out = NULL;
  if (len) *len = 0;
  if (!rt || !out) return LLMRT_EINVAL;
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  text_t t = {.e = {.b = &b,
                    .family = t_family,
                    .sample = t_sample,
                    .histogram = t_histogram,
                    .end_family = t_end}};
  int r = llmrt__buf_reserve(&b, 4096);
  if (!r) r = llmrt__expo_walk(rt, &t.e);
  if (r) {
    llmrt__buf_free(&b);
    return r;
  }
  b.data[b.len] = '\0'; /* reserve alone does not terminate */
  *out = b.data;
  if (len) *len = b.len;
  return 0;
}

int llmrt_metrics_text(llmrt_t *rt, char **out, size_t *len) {
  return llmrt_metrics_prometheus(rt, out, len);
}
