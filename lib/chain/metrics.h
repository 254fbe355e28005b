/* Internal: the metrics of a runtime.
 *   metrics.c          the registry: metrics, finding a series, recording
 *   metrics_series.c   a new label set: checks, the cardinality cap, a new series
 *   metrics_expo.c     the walk every exposition shares (registry, then the
 *                      runtime's own families), and label escaping
 *   metrics_text.c     the Prometheus text format
 *   metrics_json.c     the JSON snapshot
 *   metrics_runtime.c  the runtime's own families, read from the counters the
 *                      lower layers keep (pool, DNS, TLS) and from the chain
 *   measure.c          one call's own measurements (llmrt_call_metrics)
 * Everything runs on the loop thread: recording takes no lock. */
#ifndef LLMRT_METRICS_H
#define LLMRT_METRICS_H

#include <string.h>

#include "chain.h"

/* Label strings longer than this are dropped (a bound on what one update
 * may cost, and the size of the stack buffer that folding rewrites into). */
#define LLMRT__METRIC_MAX_LABELS 12288

typedef struct llmrt__series_s {
  struct llmrt__series_s *next;  /* in the metric, in order of creation */
  struct llmrt__series_s *hnext; /* in the metric's hash table */
  uint64_t hash;
  char *labels; /* Prometheus label pairs without braces; "" for none */
  size_t labels_len;
  double value;       /* counter, gauge; a histogram's sum */
  uint64_t count;     /* histogram observations */
  uint64_t buckets[]; /* histogram: per bucket (not cumulative), then +Inf */
} llmrt__series_t;

/* The distinct values one label took in one metric (at most the cap). */
typedef struct {
  char *name;
  size_t name_len;
  uint32_t n, cap;
  uint64_t *hashes;
  char **values;
} llmrt__labelvals_t;

struct llmrt_metric_s {
  struct llmrt_metric_s *next;
  struct llmrt__registry_s *reg;
  int kind;
  char *name; /* as exposed: underscores, unit suffix, _total on counters */
  char *help;
  char *unit; /* as registered ("" for none) */
  double bounds[LLMRT_METRIC_MAX_BOUNDS];
  size_t n_bounds;
  uint32_t max_values; /* per label; UINT32_MAX: no cap (the registry's own) */
  llmrt__series_t *series, *series_tail;
  size_t n_series;
  llmrt__series_t **table;    /* open hashing; power-of-two size */
  llmrt__series_t *recent[2]; /* used last, compared before hashing */
  size_t table_size;
  llmrt__labelvals_t *labels;
  size_t n_labels;
};

typedef struct llmrt__registry_s {
  llmrt_t *rt;
  llmrt_metric_t *head, *tail;
  llmrt_metric_t *folded;  /* llmrt_metrics_folded_total{metric,label} */
  llmrt_metric_t *dropped; /* llmrt_metrics_dropped_total{metric} */
} llmrt__registry_t;

/* A 64-bit hash of n bytes. Label strings run to a few hundred bytes and
 * are hashed on every update, so four independent lanes take 32 bytes per
 * step (the multiplies overlap), then a tail of eight at a time. */
static inline uint64_t llmrt__metric_mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

static inline uint64_t llmrt__metric_hash(const char *s, size_t n) {
  uint64_t a = 0x9e3779b97f4a7c15ull ^ n, b = 0xc2b2ae3d27d4eb4full, c = 0x165667b19e3779f9ull,
           d = 0x27d4eb2f165667c5ull;
  while (n >= 32) {
    uint64_t w[4];
    memcpy(w, s, 32);
    a = llmrt__metric_mix(a, w[0]);
    b = llmrt__metric_mix(b, w[1]);
    c = llmrt__metric_mix(c, w[2]);
    d = llmrt__metric_mix(d, w[3]);
    s += 32;
    n -= 32;
  }
  uint64_t h = llmrt__metric_mix(llmrt__metric_mix(llmrt__metric_mix(a, b), c), d);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = llmrt__metric_mix(h, w);
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, s, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 29);
}

/* The series of labels (len bytes, hash h), or NULL. */
static inline llmrt__series_t *llmrt__series_lookup(const llmrt_metric_t *m, const char *labels,
                                                    size_t len, uint64_t h) {
  if (!m->table) return NULL;
  for (llmrt__series_t *s = m->table[h & (m->table_size - 1)]; s; s = s->hnext)
    if (s->hash == h && s->labels_len == len && memcmp(s->labels, labels, len) == 0) return s;
  return NULL;
}

/* metrics_series.c: a label set the metric has no series for yet (the slow
 * path): checked, folded by the cardinality cap, then found or made. NULL
 * when dropped (malformed, no memory), which is counted. */
llmrt__series_t *llmrt__series_new(llmrt_metric_t *m, const char *labels, size_t len);

/* The registry's own counters (folds, drops): plugins cannot take them. */
#define LLMRT__METRIC_FOLDED "llmrt_metrics_folded_total"
#define LLMRT__METRIC_DROPPED "llmrt_metrics_dropped_total"

/* The runtime's registry; created on first use when make is set. */
llmrt__registry_t *llmrt__registry(llmrt_t *rt, int make);

int llmrt__metric_new(llmrt_t *rt, const llmrt_metric_opts_t *opts, llmrt_metric_t **out);
/* The same; internal also allows the registry's own names. */
int llmrt__metric_new_as(llmrt_t *rt, const llmrt_metric_opts_t *opts, llmrt_metric_t **out,
                         int internal);
int llmrt__plugin_metric_new(llmrt_plugin_rt_t *prt, const llmrt_metric_opts_t *opts,
                             llmrt_metric_t **out);
void llmrt__metric_merge(llmrt_metric_t *m, const char *labels, const uint64_t *counts,
                         size_t n_counts, double sum);

/* Escapes s for a label value (\\, \", \n) into out (cap bytes with the NUL);
 * returns the length, or -1 when it does not fit. */
int llmrt__label_escape(char *out, size_t cap, const char *s);

/* ---- Exposition: one walk, two formats ---- */
typedef struct llmrt__expo_s llmrt__expo_t;
struct llmrt__expo_s {
  llmrt__buf_t *b;
  int n_families; /* written so far (JSON needs commas) */
  int n_samples;  /* in the current family */
  int (*family)(llmrt__expo_t *e, const char *name, int kind, const char *help);
  int (*sample)(llmrt__expo_t *e, const char *labels, double v);
  /* cum: cumulative counts per bound, then +Inf (== count). */
  int (*histogram)(llmrt__expo_t *e, const char *labels, const double *bounds, size_t n_bounds,
                   const uint64_t *cum, double sum, uint64_t count);
  int (*end_family)(llmrt__expo_t *e);
};

/* Walks the registry's metrics, then the runtime's own families. */
int llmrt__expo_walk(llmrt_t *rt, llmrt__expo_t *e);
/* The runtime's own families (metrics_runtime.c). */
int llmrt__expo_runtime(llmrt_t *rt, llmrt__expo_t *e);
/* A name the runtime's own families use (a registered metric may not). */
int llmrt__metric_reserved(const char *name);
/* A number as both formats write it: an integer as one, else the shorter of
 * %.15g and %.17g that reads back exactly; +Inf / -Inf / NaN. */
int llmrt__expo_number(llmrt__buf_t *b, double v);

/* measure.c: an upstream exchange starts or ends (time inside it). */
void llmrt__measure_upstream_start(llmrt_call_t *c);
void llmrt__measure_upstream_end(llmrt_call_t *c);
int llmrt__host_call_metrics(llmrt_ctx_t *ctx, llmrt_call_metrics_t *out);

#endif
