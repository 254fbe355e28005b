/* The metrics registry of a runtime: registering metrics, finding a series,
 * recording.
 *
 * A metric has one series per distinct label string, found through a hash
 * table, so an update of an existing series hashes its label string (or
 * matches one of the two used last), makes one comparison and writes a few
 * numbers: no lock (one loop thread), no allocation. A new label set takes
 * the slow path in metrics_series.c. Everything lives until the runtime's
 * chain is freed, so a pointer handed to a plugin never dangles while it is
 * loaded. */
#include <math.h>
#include <stdio.h>
#include <string.h>

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

/* internal: the registry's own counters register through here too. */
int llmrt__metric_new_as(llmrt_t *rt, const llmrt_metric_opts_t *o, llmrt_metric_t **out,
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
  if (!internal && (llmrt__metric_reserved(name) || !strcmp(name, LLMRT__METRIC_FOLDED) ||
                    !strcmp(name, LLMRT__METRIC_DROPPED))) {
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
  return llmrt__metric_new_as(rt, opts, out, 0);
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
  uint64_t h = llmrt__metric_hash(labels, len);
  llmrt__series_t *s = llmrt__series_lookup(m, labels, len, h);
  if (!s && !(s = llmrt__series_new(m, labels, len))) return NULL;
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
