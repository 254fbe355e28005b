/* The JSON snapshot of the metrics: the same families, names, labels and
 * numbers as the Prometheus text, as one object (docs/metrics.md):
 *   {"metrics":[{"name":"...","type":"counter","help":"...","series":[
 *     {"labels":{"k":"v"},"value":1},
 *     {"labels":{...},"buckets":[{"le":0.01,"count":0},...,{"le":"+Inf","count":3}],
 *      "sum":1.5,"count":3}]}]}
 * Label values are unescaped from the text form and escaped as JSON; a
 * number JSON cannot hold (NaN, infinities) is written as the string the text
 * format uses. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

static int put_json_char(llmrt__buf_t *b, unsigned char c) {
  switch (c) {
  case '"':
    return llmrt__buf_puts(b, "\\\"");
  case '\\':
    return llmrt__buf_puts(b, "\\\\");
  case '\n':
    return llmrt__buf_puts(b, "\\n");
  case '\r':
    return llmrt__buf_puts(b, "\\r");
  case '\t':
    return llmrt__buf_puts(b, "\\t");
  default:
    if (c < 0x20) return llmrt__buf_printf(b, "\\u%04x", c);
    return llmrt__buf_append(b, &c, 1);
  }
}

static int put_json_str(llmrt__buf_t *b, const char *s, size_t n) {
  int r = llmrt__buf_puts(b, "\"");
  for (size_t i = 0; !r && i < n; i++)
    r = put_json_char(b, (unsigned char)s[i]);
  if (!r) r = llmrt__buf_puts(b, "\"");
  return r;
}

static int put_json_number(llmrt__buf_t *b, double v) {
  if (!isfinite(v)) {
    int r = llmrt__buf_puts(b, "\"");
    if (!r) r = llmrt__expo_number(b, v);
    if (!r) r = llmrt__buf_puts(b, "\"");
    return r;
  }
  return llmrt__expo_number(b, v);
}

/* name="value",... (checked by the registry, or built by the runtime) as a
 * JSON object, values unescaped. */
static int put_labels(llmrt__buf_t *b, const char *s) {
  int r = llmrt__buf_puts(b, "{\"labels\":{");
  int first = 1;
  while (!r && *s) {
    const char *name = s;
    while (*s && *s != '=')
      s++;
    if (!*s) break;
    if (!first) r = llmrt__buf_puts(b, ",");
    first = 0;
    if (!r) r = put_json_str(b, name, (size_t)(s - name));
    if (!r) r = llmrt__buf_puts(b, ":\"");
    s += 2; /* =" */
    for (; !r && *s && *s != '"'; s++) {
      char c = *s;
      if (c == '\\' && s[1]) {
        s++;
        c = *s == 'n' ? '\n' : *s;
      }
      r = put_json_char(b, (unsigned char)c);
    }
    if (!r) r = llmrt__buf_puts(b, "\"");
    if (*s == '"') s++;
    if (*s == ',') s++;
  }
  if (!r) r = llmrt__buf_puts(b, "}");
  return r;
}

static int j_family(llmrt__expo_t *e, const char *name, int kind, const char *help) {
  static const char *const kinds[] = {"untyped", "counter", "gauge", "histogram"};
  int r = llmrt__buf_puts(e->b, e->n_families++ ? ",{\"name\":" : "{\"name\":");
  if (!r) r = put_json_str(e->b, name, strlen(name));
  if (!r) r = llmrt__buf_printf(e->b, ",\"type\":\"%s\",\"help\":", kinds[kind]);
  if (!r) r = put_json_str(e->b, help, strlen(help));
  if (!r) r = llmrt__buf_puts(e->b, ",\"series\":[");
  e->n_samples = 0;
  return r;
}

static int j_sample(llmrt__expo_t *e, const char *labels, double v) {
  int r = e->n_samples++ ? llmrt__buf_puts(e->b, ",") : 0;
  if (!r) r = put_labels(e->b, labels);
  if (!r) r = llmrt__buf_puts(e->b, ",\"value\":");
  if (!r) r = put_json_number(e->b, v);
  if (!r) r = llmrt__buf_puts(e->b, "}");
  return r;
}

static int j_histogram(llmrt__expo_t *e, const char *labels, const double *bounds, size_t n_bounds,
                       const uint64_t *cum, double sum, uint64_t count) {
  int r = e->n_samples++ ? llmrt__buf_puts(e->b, ",") : 0;
  if (!r) r = put_labels(e->b, labels);
  if (!r) r = llmrt__buf_puts(e->b, ",\"buckets\":[");
  for (size_t i = 0; !r && i <= n_bounds; i++) {
    r = llmrt__buf_puts(e->b, i ? ",{\"le\":" : "{\"le\":");
    if (!r) r = i < n_bounds ? put_json_number(e->b, bounds[i]) : llmrt__buf_puts(e->b, "\"+Inf\"");
    if (!r) r = llmrt__buf_printf(e->b, ",\"count\":%" PRIu64 "}", cum[i]);
  }
  if (!r) r = llmrt__buf_puts(e->b, "],\"sum\":");
  if (!r) r = put_json_number(e->b, sum);
  if (!r) r = llmrt__buf_printf(e->b, ",\"count\":%" PRIu64 "}", count);
  return r;
}

static int j_end(llmrt__expo_t *e) {
  return llmrt__buf_puts(e->b, "]}");
}

int llmrt_metrics_json(llmrt_t *rt, char **out, size_t *len) {
  if (out) *out = NULL;
  if (len) *len = 0;
  if (!rt || !out) return LLMRT_EINVAL;
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  llmrt__expo_t e = {.b = &b,
                     .family = j_family,
                     .sample = j_sample,
                     .histogram = j_histogram,
                     .end_family = j_end};
  int r = llmrt__buf_puts(&b, "{\"metrics\":[");
  if (!r) r = llmrt__expo_walk(rt, &e);
  if (!r) r = llmrt__buf_puts(&b, "]}");
  if (r) {
    llmrt__buf_free(&b);
    return r;
  }
  *out = b.data;
  if (len) *len = b.len;
  return 0;
}
