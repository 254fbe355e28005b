/* A label set a metric has no series for yet: the slow path of recording.
 *
 * The set is checked first (a malformed one could forge lines or values in
 * the exposition, and Prometheus refuses one that is not UTF-8 or names a
 * label twice). Then each label value is counted against the metric's cap
 * on distinct values per label: values past the cap become "other"
 * (llmrt_metrics_folded_total counts each folded update), and past the cap
 * on series every value does. The folded set may have a series already;
 * otherwise one is allocated, once. */
#include <stdio.h>
#include <string.h>

#include "../llm/provider.h"
#include "metrics.h"

/* Label pairs as Prometheus writes them: name="value"[,name="value"...],
 * names [A-Za-z_][A-Za-z0-9_]*, values UTF-8 with only \\, \" and \n escapes. A
 * label set that is not exactly that could forge lines or values in the
 * exposition, so it is refused, as is a label named twice or more than 32
 * labels. Histograms reserve "le" for their buckets. */
#define MAX_LABEL_PAIRS 32

static int valid_labels(const char *s, int histogram) {
  const char *names[MAX_LABEL_PAIRS];
  size_t lens[MAX_LABEL_PAIRS], n = 0;
  while (*s) {
    const char *name = s;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
           *s == '_')
      s++;
    size_t len = (size_t)(s - name);
    if (histogram && len == 2 && name[0] == 'l' && name[1] == 'e') return 0;
    /* A label twice in one set is refused by Prometheus. */
    if (n == MAX_LABEL_PAIRS) return 0;
    for (size_t i = 0; i < n; i++)
      if (lens[i] == len && memcmp(names[i], name, len) == 0) return 0;
    names[n] = name;
    lens[n++] = len;
    if (*s++ != '=' || *s++ != '"') return 0;
    for (;; s++) {
      if (*s == '\0' || *s == '\n' || *s == '\r') return 0;
      if (*s == '"') break;
      if (*s == '\\') {
        s++;
        if (*s != '\\' && *s != '"' && *s != 'n') return 0;
      }
    }
    s++; /* the closing quote */
    if (*s == ',') {
      s++;
      if (!*s) return 0;
    } else if (*s) {
      return 0;
    }
  }
  return 1;
}

static void count_drop(llmrt_metric_t *m);

/* Counts one folded update of label (name, len) of m. */
static void count_fold(llmrt_metric_t *m, const char *label, size_t len) {
  llmrt__registry_t *reg = m->reg;
  if (m == reg->folded || m == reg->dropped) return;
  if (!reg->folded) {
    llmrt_metric_opts_t o = {.struct_size = sizeof o,
                             .kind = LLMRT_METRIC_COUNTER,
                             .name = LLMRT__METRIC_FOLDED,
                             .help = "Updates whose label value was folded into \"other\" by the "
                                     "cardinality cap, by metric and label",
                             .max_label_values = UINT32_MAX};
    if (llmrt__metric_new_as(reg->rt, &o, &reg->folded, 1) != 0) return;
  }
  char buf[512];
  int n = snprintf(buf, sizeof buf, "metric=\"%s\",label=\"%.*s\"", m->name, (int)len, label);
  if (n > 0 && (size_t)n < sizeof buf) llmrt__metric_add(reg->folded, buf, 1);
}

static void count_drop(llmrt_metric_t *m) {
  llmrt__registry_t *reg = m->reg;
  if (m == reg->folded || m == reg->dropped) return;
  if (!reg->dropped) {
    llmrt_metric_opts_t o = {.struct_size = sizeof o,
                             .kind = LLMRT_METRIC_COUNTER,
                             .name = LLMRT__METRIC_DROPPED,
                             .help = "Updates dropped: malformed or too long label sets, or no "
                                     "memory for a new series, by metric",
                             .max_label_values = UINT32_MAX};
    if (llmrt__metric_new_as(reg->rt, &o, &reg->dropped, 1) != 0) return;
  }
  char buf[300];
  int n = snprintf(buf, sizeof buf, "metric=\"%s\"", m->name);
  if (n > 0 && (size_t)n < sizeof buf) llmrt__metric_add(reg->dropped, buf, 1);
}

static uint32_t max_values(const llmrt_metric_t *m) {
  if (m->max_values) return m->max_values;
  uint32_t v = m->reg->rt->opts.metrics_max_label_values;
  return v ? v : 100;
}

static size_t max_series(const llmrt_metric_t *m) {
  if (m->max_values == UINT32_MAX) return SIZE_MAX;
  uint32_t v = m->reg->rt->opts.metrics_max_series;
  return v ? v : 10000;
}

/* The value set of label (name, len), created when make is set. */
static llmrt__labelvals_t *labelvals(llmrt_metric_t *m, const char *name, size_t len, int make) {
  for (size_t i = 0; i < m->n_labels; i++)
    if (m->labels[i].name_len == len && memcmp(m->labels[i].name, name, len) == 0)
      return &m->labels[i];
  if (!make) return NULL;
  llmrt__labelvals_t *a = llmrt__realloc(m->labels, (m->n_labels + 1) * sizeof *a);
  if (!a) return NULL;
  m->labels = a;
  llmrt__labelvals_t *lv = &a[m->n_labels];
  memset(lv, 0, sizeof *lv);
  if (!(lv->name = llmrt__strndup(name, len))) return NULL;
  lv->name_len = len;
  m->n_labels++;
  return lv;
}

static int value_known(const llmrt__labelvals_t *lv, const char *v, size_t len, uint64_t h) {
  for (uint32_t i = 0; i < lv->n; i++)
    if (lv->hashes[i] == h && strlen(lv->values[i]) == len && memcmp(lv->values[i], v, len) == 0)
      return 1;
  return 0;
}

static int value_add(llmrt__labelvals_t *lv, const char *v, size_t len, uint64_t h) {
  if (lv->n == lv->cap) {
    uint32_t cap = lv->cap ? lv->cap * 2 : 8;
    uint64_t *hs = llmrt__realloc(lv->hashes, cap * sizeof *hs);
    if (!hs) return LLMRT_ENOMEM;
    lv->hashes = hs;
    char **vs = llmrt__realloc(lv->values, cap * sizeof *vs);
    if (!vs) return LLMRT_ENOMEM;
    lv->values = vs;
    lv->cap = cap;
  }
  if (!(lv->values[lv->n] = llmrt__strndup(v, len))) return LLMRT_ENOMEM;
  lv->hashes[lv->n++] = h;
  return 0;
}

/* Rewrites labels into out with every value past its label's cap (or every
 * value, when all_other) replaced by "other", counting each fold. When
 * commit is set, the values kept are added to their labels' sets. Returns
 * the length written, or -1 (ENOMEM). */
static int fold_labels(llmrt_metric_t *m, const char *labels, char *out, int all_other,
                       int commit) {
  size_t o = 0;
  const char *s = labels;
  uint32_t cap = max_values(m);
  while (*s) {
    const char *name = s;
    while (*s != '=')
      s++;
    size_t nlen = (size_t)(s - name);
    s += 2; /* =" */
    const char *v = s;
    while (*s != '"')
      s += *s == '\\' ? 2 : 1;
    size_t vlen = (size_t)(s - v);
    s++;
    if (*s == ',') s++;
    int fold = all_other;
    if (!fold && !(vlen == 5 && memcmp(v, "other", 5) == 0) && cap != UINT32_MAX) {
      uint64_t h = llmrt__metric_hash(v, vlen);
      llmrt__labelvals_t *lv = labelvals(m, name, nlen, commit);
      if (commit && !lv) return -1;
      if (!lv || !value_known(lv, v, vlen, h)) {
        uint32_t have = lv ? lv->n : 0;
        if (have >= cap)
          fold = 1;
        else if (commit && value_add(lv, v, vlen, h) != 0)
          return -1;
      }
    }
    if (fold && !commit) count_fold(m, name, nlen);
    if (o) out[o++] = ',';
    memcpy(out + o, name, nlen);
    o += nlen;
    memcpy(out + o, "=\"", 2);
    o += 2;
    if (fold) {
      memcpy(out + o, "other", 5);
      o += 5;
    } else {
      memcpy(out + o, v, vlen);
      o += vlen;
    }
    out[o++] = '"';
  }
  out[o] = '\0';
  return (int)o;
}

static int table_grow(llmrt_metric_t *m) {
  size_t size = m->table_size ? m->table_size * 2 : 16;
  llmrt__series_t **t = llmrt__calloc(size, sizeof *t);
  if (!t) return LLMRT_ENOMEM;
  for (llmrt__series_t *s = m->series; s; s = s->next) {
    s->hnext = t[s->hash & (size - 1)];
    t[s->hash & (size - 1)] = s;
  }
  llmrt__free(m->table);
  m->table = t;
  m->table_size = size;
  return 0;
}

static llmrt__series_t *series_make(llmrt_metric_t *m, const char *labels, size_t len, uint64_t h) {
  if ((m->n_series + 1) * 4 > m->table_size * 3 && table_grow(m) != 0) return NULL;
  size_t nb = m->kind == LLMRT_METRIC_HISTOGRAM ? m->n_bounds + 1 : 0;
  llmrt__series_t *s = llmrt__calloc(1, sizeof *s + nb * sizeof s->buckets[0]);
  if (!s) return NULL;
  if (!(s->labels = llmrt__strndup(labels, len))) {
    llmrt__free(s);
    return NULL;
  }
  s->labels_len = len;
  s->hash = h;
  s->hnext = m->table[h & (m->table_size - 1)];
  m->table[h & (m->table_size - 1)] = s;
  if (m->series_tail)
    m->series_tail->next = s;
  else
    m->series = s;
  m->series_tail = s;
  m->n_series++;
  return s;
}

llmrt__series_t *llmrt__series_new(llmrt_metric_t *m, const char *labels, size_t len) {
  /* Prometheus refuses a scrape with a label value that is not UTF-8. */
  if (len >= LLMRT__METRIC_MAX_LABELS / 3 || llmrt__utf8_valid(labels, len) != len ||
      !valid_labels(labels, m->kind == LLMRT_METRIC_HISTOGRAM)) {
    llmrt__log(m->reg->rt, LLMRT_LOG_DEBUG, "metric %s: malformed labels dropped", m->name);
    count_drop(m);
    return NULL;
  }
  /* Folding replaces values by "other": at most 5 bytes more per label,
   * and a label takes at least 4 bytes (a=""), so 3 * len bounds it. */
  char buf[LLMRT__METRIC_MAX_LABELS];
  int all_other = m->n_series >= max_series(m);
  if (all_other) count_fold(m, "*", 1);
  int n = fold_labels(m, labels, buf, all_other, 0);
  if (n < 0) return NULL;
  uint64_t h = llmrt__metric_hash(buf, (size_t)n);
  llmrt__series_t *s = llmrt__series_lookup(m, buf, (size_t)n, h);
  if (s) return s;
  if (all_other && m->n_series >= max_series(m) + 1) return NULL; /* its own "other" series */
  if (fold_labels(m, labels, buf, all_other, 1) < 0 || !(s = series_make(m, buf, (size_t)n, h))) {
    count_drop(m);
    return NULL;
  }
  return s;
}
