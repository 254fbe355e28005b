/* The metrics registry of a runtime, and its Prometheus text exposition.
 *
 * A metric has a name, a kind and a help text, and one series per distinct
 * label string. Updates find their series by comparing label strings (the
 * last one used is checked first), so steady-state updates do not allocate;
 * a new label set allocates once. Everything lives until the runtime is
 * freed, so a pointer handed to a plugin never dangles while it is loaded. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"

/* Bucket bounds: durations in seconds by default; token counts for metrics
 * whose name says so (the OpenTelemetry GenAI token usage advice). */
static const double seconds_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                        1,     2.5,  5,     10,   20,  30,   60};
static const double token_bounds[] = {1,    4,     16,    64,     256,     1024,
                                      4096, 16384, 65536, 262144, 1048576, 4194304};
#define MAX_BOUNDS 14

typedef struct series_s {
  struct series_s *next;
  char *labels; /* "" for none */
  double value; /* counter, gauge; the sum for a histogram */
  uint64_t count;
  uint64_t buckets[MAX_BOUNDS]; /* per bucket, not cumulative */
} series_t;

struct llmrt_metric_s {
  struct llmrt_metric_s *next;
  int kind;
  char *name;
  char *help;
  const double *bounds;
  size_t n_bounds;
  series_t *series, *series_tail, *last;
};

typedef struct {
  llmrt_metric_t *head, *tail;
} registry_t;

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

static registry_t *registry(llmrt_t *rt) {
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  if (!ch) return NULL;
  if (!ch->metrics) ch->metrics = llmrt__calloc(1, sizeof(registry_t));
  return ch->metrics;
}

/* Label pairs as Prometheus writes them: name="value"[,name="value"...],
 * names [A-Za-z_][A-Za-z0-9_]*, values with only \\, \" and \n escapes. A
 * label set that is not exactly that could forge lines or values in the
 * exposition, so it is refused (the update is dropped). Histograms reserve
 * "le" for their buckets. */
static int valid_labels(const char *s, int histogram) {
  while (*s) {
    const char *name = s;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
           *s == '_')
      s++;
    if (histogram && s - name == 2 && name[0] == 'l' && name[1] == 'e') return 0;
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

int llmrt__metric_get(llmrt_t *rt, int kind, const char *name, const char *help,
                      llmrt_metric_t **out) {
  if (out) *out = NULL;
  if (!rt || !name || !out || kind < LLMRT_METRIC_COUNTER || kind > LLMRT_METRIC_HISTOGRAM ||
      !valid_name(name))
    return LLMRT_EINVAL;
  /* OpenTelemetry names use dots; Prometheus names use underscores. */
  char *n = llmrt__strdup(name);
  if (!n) return LLMRT_ENOMEM;
  for (char *c = n; *c; c++)
    if (*c == '.') *c = '_';
  registry_t *reg = registry(rt);
  if (!reg) {
    llmrt__free(n);
    return LLMRT_ENOMEM;
  }
  for (llmrt_metric_t *m = reg->head; m; m = m->next) {
    if (strcmp(m->name, n) != 0) continue;
    llmrt__free(n);
    if (m->kind != kind) return LLMRT_EINVAL;
    *out = m;
    return 0;
  }
  llmrt_metric_t *m = llmrt__calloc(1, sizeof *m);
  if (!m || !(m->help = llmrt__strdup(help ? help : ""))) {
    llmrt__free(m);
    llmrt__free(n);
    return LLMRT_ENOMEM;
  }
  m->name = n;
  m->kind = kind;
  if (kind == LLMRT_METRIC_HISTOGRAM) {
    size_t len = strlen(n);
    int seconds = len >= 8 && strcmp(n + len - 8, "_seconds") == 0;
    if (!seconds && strstr(n, "token")) {
      m->bounds = token_bounds;
      m->n_bounds = sizeof token_bounds / sizeof token_bounds[0];
    } else {
      m->bounds = seconds_bounds;
      m->n_bounds = sizeof seconds_bounds / sizeof seconds_bounds[0];
    }
  }
  if (reg->tail)
    reg->tail->next = m;
  else
    reg->head = m;
  reg->tail = m;
  *out = m;
  return 0;
}

int llmrt__plugin_metric(llmrt_plugin_rt_t *prt, int kind, const char *name, const char *help,
                         llmrt_metric_t **out) {
  if (!prt) return LLMRT_EINVAL;
  return llmrt__metric_get(prt->rt, kind, name, help, out);
}

/* The series for labels, created on first use. NULL on ENOMEM (the update is
 * then lost: metrics never fail a call). */
static series_t *series_of(llmrt_metric_t *m, const char *labels) {
  if (!labels) labels = "";
  if (m->last && strcmp(m->last->labels, labels) == 0) return m->last;
  for (series_t *s = m->series; s; s = s->next) {
    if (strcmp(s->labels, labels) == 0) {
      m->last = s;
      return s;
    }
  }
  if (!valid_labels(labels, m->kind == LLMRT_METRIC_HISTOGRAM)) {
    llmrt__log(NULL, LLMRT_LOG_DEBUG, "metric %s: malformed labels dropped", m->name);
    return NULL;
  }
  series_t *s = llmrt__calloc(1, sizeof *s);
  if (!s) return NULL;
  s->labels = llmrt__strdup(labels);
  if (!s->labels) {
    llmrt__free(s);
    return NULL;
  }
  if (m->series_tail)
    m->series_tail->next = s;
  else
    m->series = s;
  m->series_tail = s;
  m->last = s;
  return s;
}

void llmrt__metric_add(llmrt_metric_t *m, const char *labels, double v) {
  if (!m || isnan(v) || m->kind == LLMRT_METRIC_HISTOGRAM) return;
  if (m->kind == LLMRT_METRIC_COUNTER && v < 0) return; /* counters only go up */
  series_t *s = series_of(m, labels);
  if (s) s->value += v;
}

void llmrt__metric_set(llmrt_metric_t *m, const char *labels, double v) {
  if (!m || m->kind != LLMRT_METRIC_GAUGE) return;
  series_t *s = series_of(m, labels);
  if (s) s->value = v;
}

void llmrt__metric_observe(llmrt_metric_t *m, const char *labels, double v) {
  if (!m || m->kind != LLMRT_METRIC_HISTOGRAM || isnan(v)) return;
  series_t *s = series_of(m, labels);
  if (!s) return;
  s->value += v;
  s->count++;
  for (size_t i = 0; i < m->n_bounds; i++) {
    if (v <= m->bounds[i]) {
      s->buckets[i]++;
      break;
    }
  }
}

/* ---- Exposition ---- */

static int put_number(llmrt__buf_t *b, double v) {
  if (isnan(v)) return llmrt__buf_puts(b, "NaN");
  if (isinf(v)) return llmrt__buf_puts(b, v > 0 ? "+Inf" : "-Inf");
  return llmrt__buf_printf(b, "%.15g", v);
}

/* HELP text escapes backslash and newline. */
static int put_help(llmrt__buf_t *b, const llmrt_metric_t *m) {
  static const char *const kinds[] = {"", "counter", "gauge", "histogram"};
  int r = llmrt__buf_printf(b, "# HELP %s ", m->name);
  for (const char *c = m->help; !r && *c; c++) {
    if (*c == '\\')
      r = llmrt__buf_puts(b, "\\\\");
    else if (*c == '\n')
      r = llmrt__buf_puts(b, "\\n");
    else
      r = llmrt__buf_append(b, c, 1);
  }
  if (!r) r = llmrt__buf_printf(b, "\n# TYPE %s %s\n", m->name, kinds[m->kind]);
  return r;
}

static int put_histogram(llmrt__buf_t *b, const llmrt_metric_t *m, const series_t *s) {
  const char *sep = s->labels[0] ? "," : "";
  uint64_t cum = 0;
  int r = 0;
  for (size_t i = 0; !r && i < m->n_bounds; i++) {
    cum += s->buckets[i];
    r = llmrt__buf_printf(b, "%s_bucket{%s%sle=\"%.15g\"} %" PRIu64 "\n", m->name, s->labels, sep,
                          m->bounds[i], cum);
  }
  if (!r)
    r = llmrt__buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", m->name, s->labels, sep,
                          s->count);
  if (!r) r = llmrt__buf_printf(b, s->labels[0] ? "%s_sum{%s} " : "%s_sum%s ", m->name, s->labels);
  if (!r) r = put_number(b, s->value);
  if (!r)
    r = llmrt__buf_printf(
        b, s->labels[0] ? "\n%s_count{%s} %" PRIu64 "\n" : "\n%s_count%s %" PRIu64 "\n", m->name,
        s->labels, s->count);
  return r;
}

int llmrt_metrics_text(llmrt_t *rt, char **out, size_t *len) {
  if (out) *out = NULL;
  if (len) *len = 0;
  if (!rt || !out) return LLMRT_EINVAL;
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  int r = llmrt__buf_reserve(&b, 256);
  /* Reading makes nothing: no chain (never used, or closed) is no metrics. */
  llmrt__chain_t *ch = rt->chain;
  registry_t *reg = ch ? ch->metrics : NULL;
  for (llmrt_metric_t *m = reg ? reg->head : NULL; !r && m; m = m->next) {
    r = put_help(&b, m);
    for (series_t *s = m->series; !r && s; s = s->next) {
      if (m->kind == LLMRT_METRIC_HISTOGRAM) {
        r = put_histogram(&b, m, s);
        continue;
      }
      r = llmrt__buf_printf(&b, s->labels[0] ? "%s{%s} " : "%s%s ", m->name, s->labels);
      if (!r) r = put_number(&b, s->value);
      if (!r) r = llmrt__buf_puts(&b, "\n");
    }
  }
  if (r) {
    llmrt__buf_free(&b);
    return r;
  }
  b.data[b.len] = '\0'; /* reserve alone does not terminate */
  *out = b.data;
  if (len) *len = b.len;
  return 0;
}

void llmrt__metrics_free(llmrt_t *rt) {
  llmrt__chain_t *ch = rt ? rt->chain : NULL;
  if (!ch || !ch->metrics) return;
  registry_t *reg = ch->metrics;
  for (llmrt_metric_t *m = reg->head; m;) {
    llmrt_metric_t *mn = m->next;
    for (series_t *s = m->series; s;) {
      series_t *sn = s->next;
      llmrt__free(s->labels);
      llmrt__free(s);
      s = sn;
    }
    llmrt__free(m->name);
    llmrt__free(m->help);
    llmrt__free(m);
    m = mn;
  }
  llmrt__free(reg);
  ch->metrics = NULL;
}
