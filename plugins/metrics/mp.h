/* Internal to the metrics plugin: what its files share.
 *   metrics.c  configuration, the hooks, recording a call
 *   labels.c   label sets built without allocation, and the recent ones kept
 *   attrs.c    numeric call attributes as metrics, by declared kind
 * Only llmrt/plugin.h: the plugin links against nothing of llmrt. Its
 * functions are hidden, so the .so exports only its entry point and the
 * built-in copy adds no names to the library's. */
#ifndef LLMRT_PLUGIN_METRICS_H
#define LLMRT_PLUGIN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "llmrt/plugin.h"

#if defined(__GNUC__)
#define MP_HIDDEN __attribute__((visibility("hidden")))
#else
#define MP_HIDDEN
#endif

/* Unique names in the library's static copy. */
#define labels_init llmrt_mp__labels_init
#define labels_cut llmrt_mp__labels_cut
#define label llmrt_mp__label
#define err_name llmrt_mp__err_name
#define recent_find llmrt_mp__recent_find
#define recent_keep llmrt_mp__recent_keep
#define kind_of llmrt_mp__kind_of
#define record_attrs llmrt_mp__record_attrs
#define attr_str llmrt_mp__attr_str
#define metric llmrt_mp__metric
#define duration_bounds llmrt_mp__duration_bounds
#define token_bounds llmrt_mp__token_bounds
#define overhead_bounds llmrt_mp__overhead_bounds

/* The host table, from the entry point. */
#define H llmrt_mp__host
MP_HIDDEN extern const llmrt_host_t *H;

#define MAX_ATTR_METRICS 64
#define MAX_VALUE 128 /* bytes of one label value kept (cut at a UTF-8 boundary) */

enum { K_NONE = 0, K_COUNTER, K_SECONDS, K_MS, K_TOKENS, K_IGNORE };

/* Bucket bounds (metrics.c): the OpenTelemetry GenAI advice for durations
 * and tokens, and finer ones for the runtime's overhead. 14 each. */
#define N_DUR 14
MP_HIDDEN extern const double duration_bounds[N_DUR], token_bounds[N_DUR], overhead_bounds[N_DUR];

typedef struct {
  char name[64]; /* the attribute */
  int kind;
  llmrt_metric_t *m; /* registered on first use */
} attr_metric_t;

typedef struct {
  llmrt_plugin_rt_t *prt;
  uint32_t max_values;
  llmrt_metric_t *duration, *tokens, *ttfc, *tpoc;
  llmrt_metric_t *attempts, *retries, *cache, *overhead;
  attr_metric_t attrs[MAX_ATTR_METRICS]; /* declared ones first */
  size_t n_attrs;
  int attrs_full_logged;
  /* The GenAI label sets built lately, by upstream, request and response
   * model: most calls repeat one, and copying it is cheaper than escaping
   * it again. An instance serves one configuration, so an upstream's name
   * stands for its provider, host and port. */
  struct {
    char key[3][64]; /* upstream, request model, response model ("" if none) */
    char labels[448];
    uint16_t len;
    uint8_t used;
  } recent[8];
  unsigned recent_next;
} mp_t;

typedef struct {
  int checked, streamed; /* the request asked for a stream (chunk times only then) */
  uint64_t last_us;      /* the previous content chunk; 0: none yet */
  uint64_t gaps[N_DUR + 1];
  double gap_sum;
} mp_call_t;

typedef struct {
  char buf[4096];
  size_t len;
  int full;
} labels_t;

/* labels.c */
MP_HIDDEN void labels_init(labels_t *l);
MP_HIDDEN void labels_cut(labels_t *l, size_t len);
MP_HIDDEN void label(labels_t *l, const char *name, const char *value);
MP_HIDDEN const char *err_name(int err);
MP_HIDDEN int recent_find(mp_t *p, const char *const keys[3], labels_t *l);
MP_HIDDEN void recent_keep(mp_t *p, const char *const keys[3], const labels_t *l);

/* attrs.c */
MP_HIDDEN int kind_of(const char *s);
MP_HIDDEN void record_attrs(mp_t *p, const llmrt_result_t *res, const char *up_labels);
MP_HIDDEN const char *attr_str(const llmrt_result_t *res, const char *name, const double **num);

/* metrics.c */
MP_HIDDEN int metric(mp_t *p, llmrt_metric_t **out, int kind, const char *name, const char *unit,
                     const char *help, const double *bounds, size_t n_bounds);

#endif
