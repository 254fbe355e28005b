/* The metrics registry of a runtime: metrics, their series, recording and
 * the cardinality cap.
 *
 * A metric has one series per distinct label string, found through a hash
 * table, so an update of an existing series hashes its label string, makes
 * one comparison and writes a few numbers: no lock (one loop thread), no
 * allocation. A new label set is the slow path: it is checked (a malformed
 * one could forge lines in the exposition), each label value is counted
 * against the metric's cap on distinct values per label, values past the cap
 * become "other" (llmrt_metrics_folded_total counts each folded update), and
 * a series is allocated once. Everything lives until the runtime's chain is
 * freed, so a pointer handed to a plugin never dangles while it is loaded. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../llm/provider.h"
#include "metrics.h"

/* The OpenTelemetry GenAI advice: operation duration and chunk times in
 * seconds, token counts. */
static const double duration_bounds[] = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                         1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
static const double token_bounds[] = {1,     4,     16,     64,      256,     1024,     4096,
                                      16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

llmrt__registry_t *llmrt__registry(llmrt_t *rt, int make) {
  llmrt__chain_t *ch = make ? llmrt__chain_get(rt) : rt->chain;
  if (!ch) return NULL;
  if (!ch->metrics && make) {
    llmrt__registry_t *reg = llmrt__calloc(1, sizeof *reg);
    if (!reg) return NULL;
    reg->rt = rt;
    ch->metrics = reg;
  }
  return ch->metrics;
}

/* ---- Names ---- */

static int valid_name(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9')) return 0;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == ':' || c == '.'))
      return 0;
  }
  return 1;
}

static int ends_with(const char *s, size_t len, const char *suffix) {
  size_t n = strlen(suffix);
  return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* The unit's Prometheus suffix (the OpenTelemetry to Prometheus rules for
 * the units llmrt uses); "" for none; NULL for a unit we do not know. */
static const char *unit_suffix(const char *unit, int kind) {
  if (!unit || !*unit || unit[0] == '{') return "";
  if (!strcmp(unit, "s")) return "_seconds";
  if (!strcmp(unit, "ms")) return "_milliseconds";
  if (!strcmp(unit, "By")) return "_bytes";
  if (!strcmp(unit, "1")) return kind == LLMRT_METRIC_GAUGE ? "_ratio" : "";
  return NULL;
}

/* name with dots as underscores, the unit's suffix and, on a counter,
 * "_total" (each unless already there). NULL on ENOMEM. */
static char *expo_name(const char *name, const char *suffix, int kind) {
  size_t len = strlen(name);
  int counter = kind == LLMRT_METRIC_COUNTER;
  int had_total = counter && ends_with(name, len, "_total");
  size_t base = had_total ? len - 6 : len;
  char *n = llmrt__malloc(base + strlen(suffix) + 7);
  if (!n) return NULL;
  memcpy(n, name, base);
  n[base] = '\0';
  for (char *c = n; *c; c++)
    if (*c == '.') *c = '_';
  if (!ends_with(n, base, suffix)) strcat(n, suffix);
  if (counter) strcat(n, "_total");
  return n;
}

/* ---- Registering ---- */

static void metric_free(llmrt_metric_t *m) {
  for (llmrt__series_t *s = m->series; s;) {
    llmrt__series_t *sn = s->next;
    llmrt__free(s->labels);
    llmrt__free(s);
    s = sn;
  }
  for (size_t i = 0; i < m->n_labels; i++) {
    llmrt__labelvals_t *lv = &m->labels[i];
    for (uint32_t j = 0; j < lv->n; j++)
      llmrt__free(lv->values[j]);
    llmrt__free(lv->values);
    llmrt__free(lv->hashes);
    llmrt__free(lv->name);
  }
  llmrt__free(m->labels);
  llmrt__free(m->table);
  llmrt__free(m->name);
  llmrt__free(m->help);
  llmrt__free(m->unit);
  llmrt__free(m);
}

static int same_bounds(const llmrt_metric_t *m, const double *b, size_t n) {
  if (m->n_bounds != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (m->bounds[i] != b[i]) return 0;
  return 1;
}

/* The registry's own counters (folds, drops): plugins cannot take them. */
#define FOLDED_NAME "llmrt_metrics_folded_total"
#define DROPPED_NAME "llmrt_metrics_dropped_total"

/* internal: the registry's own counters register through here too. */
static int metric_new(llmrt_t *rt, const llmrt_metric_opts_t *o, llmrt_metric_t **out,
                      int internal) {
  if (out) *out = NULL;
  if (!rt || !o || !out || !o->name || o->struct_size < sizeof(uint32_t)) return LLMRT_EINVAL;
  llmrt_metric_opts_t opts;
  memset(&opts, 0, sizeof opts);
  memcpy(&opts, o, o->struct_size < sizeof opts ? o->struct_size : sizeof opts);
  int kind = opts.kind;
  if (kind < LLMRT_METRIC_COUNTER || kind > LLMRT_METRIC_HISTOGRAM || !valid_name(opts.name))
    return LLMRT_EINVAL;
  const char *suffix = unit_suffix(opts.unit, kind);
  if (!suffix) return LLMRT_EINVAL;

  const double *bounds = NULL;
  size_t n_bounds = 0;
  if (kind == LLMRT_METRIC_HISTOGRAM) {
    if (opts.bounds) {
      if (opts.n_bounds == 0 || opts.n_bounds > LLMRT_METRIC_MAX_BOUNDS) return LLMRT_EINVAL;
      for (size_t i = 0; i < opts.n_bounds; i++)
        if (!isfinite(opts.bounds[i]) || (i && opts.bounds[i] <= opts.bounds[i - 1]))
          return LLMRT_EINVAL;
      bounds = opts.bounds;
      n_bounds = opts.n_bounds;
    } else if (*suffix && !strcmp(suffix, "_seconds")) {
      bounds = duration_bounds;
      n_bounds = N_OF(duration_bounds);
    } else {
      bounds = token_bounds;
      n_bounds = N_OF(token_bounds);
    }
  }

  char *name = expo_name(opts.name, suffix, kind);
  if (!name) return LLMRT_ENOMEM;
  if (!internal &&
      (llmrt__metric_reserved(name) || !strcmp(name, FOLDED_NAME) || !strcmp(name, DROPPED_NAME))) {
    llmrt__free(name);
    return LLMRT_EINVAL;
  }
  llmrt__registry_t *reg = llmrt__registry(rt, 1);
  if (!reg) {
    llmrt__free(name);
    return LLMRT_ENOMEM;
  }
  const char *unit = opts.unit ? opts.unit : "";
  for (llmrt_metric_t *m = reg->head; m; m = m->next) {
    if (strcmp(m->name, name) != 0) continue;
    llmrt__free(name);
    if (m->kind != kind || strcmp(m->unit, unit) != 0 || !same_bounds(m, bounds, n_bounds))
      return LLMRT_EINVAL;
    /* A plugin instance of a new configuration may set another cap. */
    if (opts.max_label_values) m->max_values = opts.max_label_values;
    *out = m;
    return 0;
  }
  llmrt_metric_t *m = llmrt__calloc(1, sizeof *m);
  if (!m || !(m->help = llmrt__strdup(opts.help && *opts.help ? opts.help : opts.name)) ||
      !(m->unit = llmrt__strdup(unit))) {
    if (m) llmrt__free(m->help);
    llmrt__free(m);
    llmrt__free(name);
    return LLMRT_ENOMEM;
  }
  m->reg = reg;
  m->name = name;
  m->kind = kind;
  if (n_bounds) memcpy(m->bounds, bounds, n_bounds * sizeof bounds[0]);
  m->n_bounds = n_bounds;
  m->max_values = opts.max_label_values;
  if (reg->tail)
    reg->tail->next = m;
  else
    reg->head = m;
  reg->tail = m;
  *out = m;
  return 0;
}

int llmrt__metric_new(llmrt_t *rt, const llmrt_metric_opts_t *opts, llmrt_metric_t **out) {
  return metric_new(rt, opts, out, 0);
}

/* The ABI 2.0 registration: the unit and bounds follow from the name (a
 * histogram whose name ends in "_seconds", or has no "token" in it, gets
 * the duration bounds; the others the token bounds). */
int llmrt__metric_get(llmrt_t *rt, int kind, const char *name, const char *help,
                      llmrt_metric_t **out) {
  if (out) *out = NULL;
  if (!name || !out) return LLMRT_EINVAL;
  llmrt_metric_opts_t o = {.struct_size = sizeof o, .kind = kind, .name = name, .help = help};
  if (kind == LLMRT_METRIC_HISTOGRAM) {
    size_t len = strlen(name);
    int seconds = ends_with(name, len, "_seconds") || ends_with(name, len, ".seconds");
    o.bounds = seconds || !strstr(name, "token") ? duration_bounds : token_bounds;
    o.n_bounds = seconds || !strstr(name, "token") ? N_OF(duration_bounds) : N_OF(token_bounds);
  }
  return llmrt__metric_new(rt, &o, out);
}

int llmrt__plugin_metric(llmrt_plugin_rt_t *prt, int kind, const char *name, const char *help,
                         llmrt_metric_t **out) {
  if (!prt) return LLMRT_EINVAL;
  return llmrt__metric_get(prt->rt, kind, name, help, out);
}

int llmrt__plugin_metric_new(llmrt_plugin_rt_t *prt, const llmrt_metric_opts_t *opts,
                             llmrt_metric_t **out) {
  if (!prt) return LLMRT_EINVAL;
  return llmrt__metric_new(prt->rt, opts, out);
}

void llmrt__metrics_free(llmrt_t *rt) {
  llmrt__chain_t *ch = rt ? rt->chain : NULL;
  if (!ch || !ch->metrics) return;
  llmrt__registry_t *reg = ch->metrics;
  for (llmrt_metric_t *m = reg->head; m;) {
    llmrt_metric_t *mn = m->next;
    metric_free(m);
    m = mn;
  }
  llmrt__free(reg);
  ch->metrics = NULL;
}

/* ---- Finding a series: the hot path ---- */

/* A 64-bit hash of n bytes. Label strings run to a few hundred bytes and
 * are hashed on every update, so four independent lanes take 32 bytes per
 * step (the multiplies overlap), then a tail of eight at a time. */
static inline uint64_t mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t a = 0x9e3779b97f4a7c15ull ^ n, b = 0xc2b2ae3d27d4eb4full, c = 0x165667b19e3779f9ull,
           d = 0x27d4eb2f165667c5ull;
  while (n >= 32) {
    uint64_t w[4];
    memcpy(w, s, 32);
    a = mix(a, w[0]);
    b = mix(b, w[1]);
    c = mix(c, w[2]);
    d = mix(d, w[3]);
    s += 32;
    n -= 32;
  }
  uint64_t h = mix(mix(mix(a, b), c), d);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = mix(h, w);
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, s, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 29);
}

static llmrt__series_t *lookup(const llmrt_metric_t *m, const char *labels, size_t len,
                               uint64_t h) {
  if (!m->table) return NULL;
  for (llmrt__series_t *s = m->table[h & (m->table_size - 1)]; s; s = s->hnext)
    if (s->hash == h && s->labels_len == len && memcmp(s->labels, labels, len) == 0) return s;
  return NULL;
}

/* ---- A new label set: the slow path ---- */

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
                             .name = FOLDED_NAME,
                             .help = "Updates whose label value was folded into \"other\" by the "
                                     "cardinality cap, by metric and label",
                             .max_label_values = UINT32_MAX};
    if (metric_new(reg->rt, &o, &reg->folded, 1) != 0) return;
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
                             .name = DROPPED_NAME,
                             .help = "Updates dropped: malformed or too long label sets, or no "
                                     "memory for a new series, by metric",
                             .max_label_values = UINT32_MAX};
    if (metric_new(reg->rt, &o, &reg->dropped, 1) != 0) return;
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
      uint64_t h = hash_bytes(v, vlen);
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

static llmrt__series_t *series_slow(llmrt_metric_t *m, const char *labels, size_t len) {
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
  uint64_t h = hash_bytes(buf, (size_t)n);
  llmrt__series_t *s = lookup(m, buf, (size_t)n, h);
  if (s) return s;
  if (all_other && m->n_series >= max_series(m) + 1) return NULL; /* its own "other" series */
  if (fold_labels(m, labels, buf, all_other, 1) < 0 || !(s = series_make(m, buf, (size_t)n, h))) {
    count_drop(m);
    return NULL;
  }
  return s;
}

/* The two series used last are compared first: a caller tends to update
 * the same few label sets in turn (a call's input and output tokens), and
 * a comparison costs less than the hash. */
static inline llmrt__series_t *series_of(llmrt_metric_t *m, const char *labels) {
  if (!labels) labels = "";
  size_t len = strlen(labels);
  for (int i = 0; i < 2; i++) {
    llmrt__series_t *r = m->recent[i];
    if (r && r->labels_len == len && memcmp(r->labels, labels, len) == 0) return r;
  }
  uint64_t h = hash_bytes(labels, len);
  llmrt__series_t *s = lookup(m, labels, len, h);
  if (!s && !(s = series_slow(m, labels, len))) return NULL;
  m->recent[1] = m->recent[0];
  m->recent[0] = s;
  return s;
}

/* ---- Recording ---- */

void llmrt__metric_add(llmrt_metric_t *m, const char *labels, double v) {
  if (!m || isnan(v) || m->kind == LLMRT_METRIC_HISTOGRAM) return;
  if (m->kind == LLMRT_METRIC_COUNTER && v < 0) return; /* counters only go up */
  llmrt__series_t *s = series_of(m, labels);
  if (s) s->value += v;
}

void llmrt__metric_set(llmrt_metric_t *m, const char *labels, double v) {
  if (!m || m->kind != LLMRT_METRIC_GAUGE) return;
  llmrt__series_t *s = series_of(m, labels);
  if (s) s->value = v;
}

void llmrt__metric_observe(llmrt_metric_t *m, const char *labels, double v) {
  if (!m || m->kind != LLMRT_METRIC_HISTOGRAM || isnan(v)) return;
  llmrt__series_t *s = series_of(m, labels);
  if (!s) return;
  /* Few bounds: a linear scan beats a binary search here. */
  size_t i = 0;
  while (i < m->n_bounds && v > m->bounds[i])
    i++;
  s->buckets[i]++;
  s->value += v;
  s->count++;
}

void llmrt__metric_merge(llmrt_metric_t *m, const char *labels, const uint64_t *counts,
                         size_t n_counts, double sum) {
  if (!m || m->kind != LLMRT_METRIC_HISTOGRAM || !counts || n_counts != m->n_bounds + 1 ||
      isnan(sum))
    return;
  uint64_t total = 0;
  for (size_t i = 0; i < n_counts; i++)
    total += counts[i];
  if (!total) return;
  llmrt__series_t *s = series_of(m, labels);
  if (!s) return;
  for (size_t i = 0; i < n_counts; i++)
    s->buckets[i] += counts[i];
  s->value += sum;
  s->count += total;
}

int llmrt__label_escape(char *out, size_t cap, const char *s) {
  size_t o = 0;
  for (; *s; s++) {
    const char *rep = NULL;
    if (*s == '\\')
      rep = "\\\\";
    else if (*s == '"')
      rep = "\\\"";
    else if (*s == '\n')
      rep = "\\n";
    size_t n = rep ? 2 : 1;
    if (o + n >= cap) return -1;
    if (rep)
      memcpy(out + o, rep, 2);
    else
      out[o] = *s;
    o += n;
  }
  if (o >= cap) return -1;
  out[o] = '\0';
  return (int)o;
}
