/* Numeric call attributes other plugins set, as metrics: each name's kind
 * is declared in the configuration or by its suffix (_total: a counter;
 * _seconds, _ms, _tokens: histograms), and its metric is registered on
 * first use, named llmrt_ and the attribute (docs/metrics.md). */
#include <stdio.h>
#include <string.h>

#include "mp.h"

int kind_of(const char *s) {
  static const char *const names[] = {"", "counter", "seconds", "ms", "tokens", "ignore"};
  for (int i = 1; i <= K_IGNORE; i++)
    if (!strcmp(s, names[i])) return i;
  return K_NONE;
}

static int kind_by_suffix(const char *name) {
  size_t n = strlen(name);
  static const struct {
    const char *suffix;
    int kind;
  } rules[] = {
      {"_total", K_COUNTER}, {"_seconds", K_SECONDS}, {"_ms", K_MS}, {"_tokens", K_TOKENS}};
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    size_t l = strlen(rules[i].suffix);
    if (n > l && !strcmp(name + n - l, rules[i].suffix)) return rules[i].kind;
  }
  return K_NONE;
}

static attr_metric_t *attr_metric(mp_t *p, const char *name) {
  for (size_t i = 0; i < p->n_attrs; i++)
    if (!strcmp(p->attrs[i].name, name)) return &p->attrs[i];
  int kind = kind_by_suffix(name);
  if (!kind || strlen(name) >= sizeof p->attrs[0].name) return NULL;
  if (p->n_attrs == MAX_ATTR_METRICS) {
    if (!p->attrs_full_logged) H->log(p->prt, LLMRT_LOG_WARN, "too many attribute metrics");
    p->attrs_full_logged = 1;
    return NULL;
  }
  attr_metric_t *am = &p->attrs[p->n_attrs++];
  snprintf(am->name, sizeof am->name, "%s", name);
  am->kind = kind;
  return am;
}

/* llmrt_<attribute> with the kind's unit: trim.tokens_removed_total becomes
 * llmrt_trim_tokens_removed_total, limits.wait_ms llmrt_limits_wait_seconds. */
static llmrt_metric_t *attr_registered(mp_t *p, attr_metric_t *am) {
  if (am->m || am->kind == K_IGNORE) return am->m;
  char name[96];
  size_t n = strlen(am->name);
  if (am->kind == K_MS && n > 3 && !strcmp(am->name + n - 3, "_ms"))
    n -= 3;
  else if (am->kind == K_SECONDS && n > 8 && !strcmp(am->name + n - 8, "_seconds"))
    n -= 8;
  else if (am->kind == K_TOKENS && n > 7 && !strcmp(am->name + n - 7, "_tokens"))
    n -= 7;
  snprintf(name, sizeof name, "llmrt.%.*s%s", (int)n, am->name,
           am->kind == K_TOKENS ? "_tokens" : "");
  char help[128];
  snprintf(help, sizeof help, "Per-call attribute %s", am->name);
  if (am->kind == K_COUNTER)
    metric(p, &am->m, LLMRT_METRIC_COUNTER, name, NULL, help, NULL, 0);
  else if (am->kind == K_TOKENS)
    metric(p, &am->m, LLMRT_METRIC_HISTOGRAM, name, NULL, help, token_bounds, N_DUR);
  else
    metric(p, &am->m, LLMRT_METRIC_HISTOGRAM, name, "s", help, duration_bounds, N_DUR);
  if (!am->m) am->kind = K_IGNORE; /* refused (a clash): once is enough */
  return am->m;
}

void record_attrs(mp_t *p, const llmrt_result_t *res, const char *up_labels) {
  for (size_t i = 0; i < res->n_attrs; i++) {
    const llmrt_attr_t *a = &res->attrs[i];
    if (a->str) continue; /* strings would be unbounded labels */
    attr_metric_t *am = attr_metric(p, a->name);
    llmrt_metric_t *m = am ? attr_registered(p, am) : NULL;
    if (!m) continue;
    if (am->kind == K_COUNTER)
      H->metric_add(m, up_labels, a->num);
    else
      H->metric_observe(m, up_labels, am->kind == K_MS ? a->num / 1000 : a->num);
  }
}

const char *attr_str(const llmrt_result_t *res, const char *name, const double **num) {
  for (size_t i = 0; i < res->n_attrs; i++) {
    if (strcmp(res->attrs[i].name, name) != 0) continue;
    if (num) *num = res->attrs[i].str ? NULL : &res->attrs[i].num;
    return res->attrs[i].str;
  }
  if (num) *num = NULL;
  return NULL;
}
