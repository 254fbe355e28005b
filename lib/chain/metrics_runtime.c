/* The runtime's own metric families, present with no plugin loaded: calls
 * in flight, the connection pool per origin (open, idle, opened, reused,
 * closed, TLS handshakes full and resumed, requests waiting and queued) and
 * the DNS cache. The lower layers keep plain counters (lib/http's pool per
 * origin, lib/core's rt->counters for DNS); this file only reads them when
 * an exposition is written, so recording them costs an increment. */
#include <stdio.h>
#include <string.h>

#include "../http/pool_stats.h"
#include "call.h"
#include "metrics.h"

enum {
  F_OPEN,
  F_IDLE,
  F_OPENED,
  F_REUSED,
  F_CLOSED,
  F_TLS_FULL,
  F_TLS_RESUMED,
  F_WAITING,
  F_QUEUED,
  F_QUEUE_FULL,
  F_STALE
};

typedef struct {
  const char *name;
  int kind;
  const char *help;
  int fields[2];        /* -1: none */
  const char *extra[2]; /* a label added to each field's sample, or NULL */
  int tls_only;
} origin_family_t;

static const origin_family_t families[] = {
    {"llmrt_http_connections_open",
     LLMRT_METRIC_GAUGE,
     "Connections open now (connecting, carrying a request or idle), by origin",
     {F_OPEN, -1},
     {NULL, NULL},
     0},
    {"llmrt_http_connections_idle",
     LLMRT_METRIC_GAUGE,
     "Idle keep-alive connections in the pool now, by origin",
     {F_IDLE, -1},
     {NULL, NULL},
     0},
    {"llmrt_http_connections_opened_total",
     LLMRT_METRIC_COUNTER,
     "Connections opened (connected, and TLS done for https), by origin",
     {F_OPENED, -1},
     {NULL, NULL},
     0},
    {"llmrt_http_connections_reused_total",
     LLMRT_METRIC_COUNTER,
     "Requests served on a pooled keep-alive connection, by origin",
     {F_REUSED, -1},
     {NULL, NULL},
     0},
    {"llmrt_http_connections_closed_total",
     LLMRT_METRIC_COUNTER,
     "Connections closed after they were opened, by origin",
     {F_CLOSED, -1},
     {NULL, NULL},
     0},
    {"llmrt_tls_handshakes_total",
     LLMRT_METRIC_COUNTER,
     "TLS handshakes completed, by origin and mode (full, or resumed from a session)",
     {F_TLS_FULL, F_TLS_RESUMED},
     {"mode=\"full\"", "mode=\"resumed\""},
     1},
    {"llmrt_http_requests_waiting",
     LLMRT_METRIC_GAUGE,
     "Requests waiting for a connection now, by origin",
     {F_WAITING, -1},
     {NULL, NULL},
     0},
    {"llmrt_http_requests_queued_total",
     LLMRT_METRIC_COUNTER,
     "Requests that had to wait for a connection (the per-origin limit), by origin",
     {F_QUEUED, -1},
     {NULL, NULL},
     0},
    {"llmrt_http_requests_queue_full_total",
     LLMRT_METRIC_COUNTER,
     "Requests refused because the origin's wait queue was full, by origin",
     {F_QUEUE_FULL, -1},
     {NULL, NULL},
     0},
    {"llmrt_http_stale_retries_total",
     LLMRT_METRIC_COUNTER,
     "Requests sent again on a new connection after a kept-alive one turned out closed, by origin",
     {F_STALE, -1},
     {NULL, NULL},
     0},
};

static double field(const llmrt__pool_origin_stats_t *st, int f) {
  switch (f) {
  case F_OPEN:
    return st->open;
  case F_IDLE:
    return st->pool.idle;
  case F_OPENED:
    return (double)st->pool.opened;
  case F_REUSED:
    return (double)st->pool.reused;
  case F_CLOSED:
    return (double)st->pool.closed;
  case F_TLS_FULL:
    return (double)(st->pool.handshakes - st->pool.resumed);
  case F_TLS_RESUMED:
    return (double)st->pool.resumed;
  case F_WAITING:
    return st->pool.queued;
  case F_QUEUED:
    return (double)st->queued_total;
  case F_QUEUE_FULL:
    return (double)st->queue_full;
  default:
    return (double)st->pool.stale_retries;
  }
}

/* One family over every origin; origins past the cap on label values are
 * summed into origin="other". */
typedef struct {
  llmrt__expo_t *e;
  const origin_family_t *fam;
  uint32_t cap, seen;
  int started, any_other, r;
  double other[2];
} walk_t;

static int put_sample(walk_t *w, const char *origin, int i, double v) {
  char labels[600];
  char esc[512];
  if (llmrt__label_escape(esc, sizeof esc, origin) < 0) snprintf(esc, sizeof esc, "other");
  const char *extra = w->fam->extra[i];
  snprintf(labels, sizeof labels, extra ? "origin=\"%s\",%s" : "origin=\"%s\"%s", esc,
           extra ? extra : "");
  if (!w->started) {
    w->started = 1;
    int r = w->e->family(w->e, w->fam->name, w->fam->kind, w->fam->help);
    if (r) return r;
  }
  return w->e->sample(w->e, labels, v);
}

static void on_origin(const llmrt__pool_origin_stats_t *st, void *arg) {
  walk_t *w = arg;
  if (w->r || (w->fam->tls_only && !st->tls)) return;
  int fold = w->seen++ >= w->cap;
  char origin[300];
  snprintf(origin, sizeof origin, "%s://%s", st->tls ? "https" : "http", st->origin);
  for (int i = 0; i < 2 && !w->r && w->fam->fields[i] >= 0; i++) {
    double v = field(st, w->fam->fields[i]);
    if (fold) {
      w->other[i] += v;
      w->any_other = 1;
    } else {
      w->r = put_sample(w, origin, i, v);
    }
  }
}

static int origin_family(llmrt_t *rt, llmrt__expo_t *e, const origin_family_t *fam) {
  walk_t w = {.e = e, .fam = fam};
  w.cap = rt->opts.metrics_max_label_values ? rt->opts.metrics_max_label_values : 100;
  llmrt__pool_each(rt, on_origin, &w);
  for (int i = 0; i < 2 && !w.r && w.any_other && fam->fields[i] >= 0; i++)
    w.r = put_sample(&w, "other", i, w.other[i]);
  if (!w.r && w.started) w.r = e->end_family(e);
  return w.r;
}

static int simple(llmrt__expo_t *e, const char *name, int kind, const char *help,
                  const char *const *labels, const double *values, size_t n) {
  int r = e->family(e, name, kind, help);
  for (size_t i = 0; !r && i < n; i++)
    r = e->sample(e, labels[i], values[i]);
  if (!r) r = e->end_family(e);
  return r;
}

int llmrt__metric_reserved(const char *name) {
  if (!strcmp(name, "llmrt_calls_in_flight") || !strcmp(name, "llmrt_dns_lookups_total")) return 1;
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
    if (!strcmp(name, families[i].name)) return 1;
  return 0;
}

int llmrt__expo_runtime(llmrt_t *rt, llmrt__expo_t *e) {
  llmrt__chain_t *ch = rt->chain;
  const char *none[] = {""};
  /* Calls whose on_done has not run: a call that completed may wait a
   * loop turn or two for its handles before it is freed (ch->n_calls). */
  double in_flight = 0;
  for (llmrt__link_t *l = ch ? ch->calls.next : NULL; l && l != &ch->calls; l = l->next)
    in_flight += LLMRT__CONTAINER(l, llmrt_call_t, link)->state < CALL_COMPLETING;
  int r =
      simple(e, "llmrt_calls_in_flight", LLMRT_METRIC_GAUGE,
             "Calls started and not yet completed (llmrt_call to on_done)", none, &in_flight, 1);
  for (size_t i = 0; !r && i < sizeof families / sizeof families[0]; i++)
    r = origin_family(rt, e, &families[i]);
  if (!r) {
    const char *labels[] = {"result=\"hit\"", "result=\"miss\"", "result=\"shared\""};
    double v[] = {(double)rt->counters.dns_hits, (double)rt->counters.dns_misses,
                  (double)rt->counters.dns_shared};
    r = simple(e, "llmrt_dns_lookups_total", LLMRT_METRIC_COUNTER,
               "Host name lookups by result: hit (answered from the DNS cache), miss (a lookup "
               "started), shared (joined a lookup in flight)",
               labels, v, 3);
  }
  return r;
}
