/* breaker: a circuit breaker per upstream (optionally per upstream and
 * model), docs/plugins/breaker.md.
 *
 * Closed: calls pass; the circuit opens after `failures` consecutive
 * failures, or when at least `min_calls` calls in the last `window_ms`
 * failed at a rate of `error_rate` or more. Open: calls fail at once with
 * LLMRT_ECIRCUITOPEN without touching the upstream (a route plugin outside
 * then falls back). After `cooldown_ms`, half-open: `half_open_probes`
 * calls go through; as many successes close the circuit, any failure opens
 * it again. Transitions are logged and exported (llmrt_breaker_state,
 * llmrt_breaker_transitions_total).
 *
 * Talking to route: on every request this plugin sets the attribute
 * "breaker.open" to the space-separated upstreams whose circuit is open, so
 * a route plugin inside skips them. With "publish_only": true (the breaker
 * outside route) it fails nothing itself and learns outcomes from route's
 * "route.failed" attribute and the upstream that answered. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "llmrt/plugin.h"

static const llmrt_host_t *H;

#define BRK_MAX 256  /* circuits kept (upstreams, or upstream and model pairs) */
#define BRK_SLOTS 10 /* the error-rate window is this many slots */
#define BRK_KEY 160

enum { ST_CLOSED = 0, ST_HALF_OPEN = 1, ST_OPEN = 2 };
static const char *const st_name[] = {"closed", "half_open", "open"};

typedef struct {
  char key[BRK_KEY]; /* "upstream" or "upstream/model" */
  char upstream[64];
  int state;
  uint32_t consecutive; /* failures in a row */
  uint64_t open_until;  /* loop ms: the cool-down's end */
  uint32_t probes;      /* half-open: probes in flight */
  uint32_t probe_ok;    /* half-open: probes that succeeded */
  uint32_t period;      /* bumped on every transition: whose probe slots are whose */
  uint64_t slot_epoch[BRK_SLOTS];
  uint32_t calls[BRK_SLOTS], fails[BRK_SLOTS];
} circuit_t;

typedef struct {
  uint32_t failures, min_calls, window_ms, cooldown_ms, half_open_probes;
  double error_rate;
  int per_model, publish_only, count_rate_limits;
  llmrt_plugin_rt_t *prt;
  circuit_t *c;
  int n;
  llmrt_metric_t *m_state, *m_trans, *m_rejected;
} breaker_t;

typedef struct {
  int idx;         /* circuit of this entry (when guarded) */
  int guarded;     /* this entry passed the circuit idx */
  int probe;       /* this call holds a half-open probe slot */
  uint32_t period; /* the circuit's period when it took the slot */
  int counted;     /* its outcome was recorded */
} breaker_call_t;

/* ---- Configuration ---- */

static int get_num(const cJSON *o, const char *k, double lo, double hi, int integer, double *out,
                   char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      (integer && v->valuedouble != (double)(int64_t)v->valuedouble)) {
    snprintf(err, errlen, "%s must be %s from %g to %g", k, integer ? "an integer" : "a number", lo,
             hi);
    return -1;
  }
  *out = v->valuedouble;
  return 0;
}

static int get_bool(const cJSON *o, const char *k, int *out, char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v) return 0;
  if (!cJSON_IsBool(v)) {
    snprintf(err, errlen, "%s must be true or false", k);
    return -1;
  }
  *out = cJSON_IsTrue(v);
  return 0;
}

static int config(breaker_t *b, const char *json, size_t len, char *err, size_t errlen) {
  static const char *const keys[] = {
      "name",        "failures",         "error_rate", "min_calls",    "window_ms",
      "cooldown_ms", "half_open_probes", "per_model",  "publish_only", "count_rate_limits",
      NULL};
  b->failures = 5;
  b->error_rate = 0.5;
  b->min_calls = 20;
  b->window_ms = 10000;
  b->cooldown_ms = 10000;
  b->half_open_probes = 1;
  cJSON *cfg = cJSON_ParseWithLength(json, len);
  if (!cfg || !cJSON_IsObject(cfg)) {
    cJSON_Delete(cfg);
    snprintf(err, errlen, "config is not a JSON object");
    return LLMRT_ECONFIG;
  }
  int bad = 0;
  for (const cJSON *it = cfg->child; it && !bad; it = it->next) {
    int k = 0;
    while (keys[k] && strcmp(keys[k], it->string))
      k++;
    if (!keys[k]) {
      snprintf(err, errlen,
               "unknown key \"%.64s\" (known: failures, error_rate, min_calls, window_ms, "
               "cooldown_ms, half_open_probes, per_model, publish_only, count_rate_limits)",
               it->string);
      bad = 1;
    }
  }
  double f = b->failures, er = b->error_rate, mc = b->min_calls, w = b->window_ms,
         cd = b->cooldown_ms, hp = b->half_open_probes;
  if (!bad)
    bad = get_num(cfg, "failures", 0, 1e6, 1, &f, err, errlen) ||
          get_num(cfg, "error_rate", 0, 1, 0, &er, err, errlen) ||
          get_num(cfg, "min_calls", 1, 1e9, 1, &mc, err, errlen) ||
          get_num(cfg, "window_ms", 10, 86400000, 1, &w, err, errlen) ||
          get_num(cfg, "cooldown_ms", 0, 86400000, 1, &cd, err, errlen) ||
          get_num(cfg, "half_open_probes", 1, 1000, 1, &hp, err, errlen) ||
          get_bool(cfg, "per_model", &b->per_model, err, errlen) ||
          get_bool(cfg, "publish_only", &b->publish_only, err, errlen) ||
          get_bool(cfg, "count_rate_limits", &b->count_rate_limits, err, errlen);
  cJSON_Delete(cfg);
  if (bad) return LLMRT_ECONFIG;
  b->failures = (uint32_t)f;
  b->error_rate = er;
  b->min_calls = (uint32_t)mc;
  b->window_ms = (uint32_t)w;
  b->cooldown_ms = (uint32_t)cd;
  b->half_open_probes = (uint32_t)hp;
  if (b->failures == 0 && b->error_rate <= 0) {
    snprintf(err, errlen, "failures 0 and error_rate 0 would never open the circuit");
    return LLMRT_ECONFIG;
  }
  return 0;
}

static int breaker_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state,
                        char *err, size_t errlen) {
  breaker_t *b = H->calloc(1, sizeof *b);
  if (!b) return LLMRT_ENOMEM;
  int rc = config(b, json, len, err, errlen);
  if (rc) {
    H->free(b);
    return rc;
  }
  b->prt = prt;
  H->metric(prt, LLMRT_METRIC_GAUGE, "llmrt_breaker_state",
            "Circuit state per upstream: 0 closed, 1 half-open, 2 open", &b->m_state);
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_breaker_transitions_total",
            "Circuit state changes, by upstream and new state", &b->m_trans);
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_breaker_rejected_total",
            "Calls failed fast because the circuit was open", &b->m_rejected);
  *state = b;
  return 0;
}

static void breaker_fini(void *state) {
  breaker_t *b = state;
  H->free(b->c);
  H->free(b);
}

/* ---- Circuits ---- */

static size_t esc(char *out, size_t n, const char *v) {
  size_t o = 0;
  for (; *v && o + 3 < n; v++) {
    if (*v == '"' || *v == '\\' || *v == '\n') {
      out[o++] = '\\';
      out[o++] = *v == '\n' ? 'n' : *v;
    } else {
      out[o++] = *v;
    }
  }
  out[o] = '\0';
  return o;
}

static void labels(char *l, size_t n, const circuit_t *c, const char *to) {
  char k[2 * BRK_KEY];
  esc(k, sizeof k, c->key);
  if (to)
    snprintf(l, n, "upstream=\"%s\",to=\"%s\"", k, to);
  else
    snprintf(l, n, "upstream=\"%s\"", k);
}

static void set_state(breaker_t *b, circuit_t *c, int st, const char *why) {
  if (c->state == st) return;
  char msg[320], l[2 * BRK_KEY + 40];
  snprintf(msg, sizeof msg, "circuit of '%s': %s -> %s (%s)", c->key, st_name[c->state],
           st_name[st], why);
  H->log(b->prt, st == ST_OPEN ? LLMRT_LOG_WARN : LLMRT_LOG_INFO, msg);
  c->state = st;
  c->probes = c->probe_ok = 0;
  c->period++; /* probes still in flight hold no slot of the new state */
  if (st == ST_OPEN) c->open_until = H->now_ms(b->prt) + b->cooldown_ms;
  if (st == ST_CLOSED) {
    c->consecutive = 0;
    memset(c->slot_epoch, 0, sizeof c->slot_epoch);
  }
  labels(l, sizeof l, c, NULL);
  H->metric_set(b->m_state, l, st);
  labels(l, sizeof l, c, st_name[st]);
  H->metric_add(b->m_trans, l, 1);
}

static int find(breaker_t *b, const char *upstream, const char *model, int create) {
  char key[BRK_KEY];
  if (!upstream || !*upstream) return -1;
  if (b->per_model && model)
    snprintf(key, sizeof key, "%s/%s", upstream, model);
  else
    snprintf(key, sizeof key, "%s", upstream);
  for (int i = 0; i < b->n; i++)
    if (!strcmp(b->c[i].key, key)) return i;
  if (!create || b->n == BRK_MAX) return -1;
  circuit_t *c = H->realloc(b->c, (size_t)(b->n + 1) * sizeof *c);
  if (!c) return -1; /* out of memory: this call is not guarded */
  b->c = c;
  memset(&c[b->n], 0, sizeof c[b->n]);
  snprintf(c[b->n].key, sizeof c[b->n].key, "%s", key);
  snprintf(c[b->n].upstream, sizeof c[b->n].upstream, "%s", upstream);
  char l[2 * BRK_KEY + 20];
  labels(l, sizeof l, &c[b->n], NULL);
  H->metric_set(b->m_state, l, ST_CLOSED); /* the series exists from the first call */
  return b->n++;
}

/* The slot for now in c's window, cleared when it held an older period. */
static int slot(breaker_t *b, circuit_t *c, uint64_t now, uint64_t *epoch_out) {
  uint64_t width = b->window_ms / BRK_SLOTS ? b->window_ms / BRK_SLOTS : 1;
  uint64_t epoch = now / width + 1;
  int i = (int)(epoch % BRK_SLOTS);
  if (c->slot_epoch[i] != epoch) {
    c->slot_epoch[i] = epoch;
    c->calls[i] = c->fails[i] = 0;
  }
  *epoch_out = epoch;
  return i;
}

static void outcome(breaker_t *b, int idx, int failed) {
  if (idx < 0) return;
  circuit_t *c = &b->c[idx];
  uint64_t now = H->now_ms(b->prt), epoch;
  int i = slot(b, c, now, &epoch);
  c->calls[i]++;
  if (failed) c->fails[i]++;
  if (!failed) {
    c->consecutive = 0;
    if (c->state == ST_HALF_OPEN && ++c->probe_ok >= b->half_open_probes)
      set_state(b, c, ST_CLOSED, "probes succeeded");
    return;
  }
  c->consecutive++;
  if (c->state == ST_HALF_OPEN) {
    set_state(b, c, ST_OPEN, "a probe failed");
    return;
  }
  if (c->state != ST_CLOSED) return;
  uint64_t calls = 0, fails = 0;
  for (int k = 0; k < BRK_SLOTS; k++) {
    if (c->slot_epoch[k] + BRK_SLOTS <= epoch) continue;
    calls += c->calls[k];
    fails += c->fails[k];
  }
  char why[96];
  if (b->failures && c->consecutive >= b->failures) {
    snprintf(why, sizeof why, "%u consecutive failures", c->consecutive);
    set_state(b, c, ST_OPEN, why);
  } else if (b->error_rate > 0 && calls >= b->min_calls &&
             (double)fails >= b->error_rate * (double)calls) {
    snprintf(why, sizeof why, "%llu of %llu calls failed in %u ms", (unsigned long long)fails,
             (unsigned long long)calls, b->window_ms);
    set_state(b, c, ST_OPEN, why);
  }
}

/* Failures that say the upstream is unwell (not that the request is wrong,
 * nor that the caller gave up). */
static int counts(const breaker_t *b, int err, int status) {
  switch (err) {
  case LLMRT_ECANCELED:
  case LLMRT_ESHUTDOWN:
  case LLMRT_ENOMEM:
  case LLMRT_EINVAL:
  case LLMRT_ETIMEDOUT:
  case LLMRT_ECIRCUITOPEN:
  case LLMRT_EAUTH:
  case LLMRT_ENOKEY:
  case LLMRT_ENOUPSTREAM:
    return 0;
  case LLMRT_ERATELIMIT:
    return b->count_rate_limits;
  case LLMRT_EOVERLOADED:
    return 1;
  default:
    break;
  }
  if (status == 429) return b->count_rate_limits;
  if (status >= 500) return 1;
  if (status >= 400) return 0;
  return err < 0;
}

/* ---- Hooks ---- */

static void settle(breaker_t *b, breaker_call_t *bc, int failed);

/* Open circuits for the request's model, as "breaker.open". */
static void publish(llmrt_ctx_t *ctx, breaker_t *b, const char *model, uint64_t now) {
  char list[512];
  size_t o = 0;
  list[0] = '\0';
  for (int i = 0; i < b->n; i++) {
    circuit_t *c = &b->c[i];
    if (c->state == ST_OPEN && now >= c->open_until)
      set_state(b, c, ST_HALF_OPEN, "cool-down over");
    int open = c->state == ST_OPEN ||
               (c->state == ST_HALF_OPEN && !b->publish_only && c->probes >= b->half_open_probes);
    if (!open) continue;
    if (b->per_model && model) {
      size_t ul = strlen(c->upstream);
      if (strncmp(c->key, c->upstream, ul) || c->key[ul] != '/' || strcmp(c->key + ul + 1, model))
        continue;
    }
    if (o + strlen(c->upstream) + 2 > sizeof list) break;
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? " " : "", c->upstream);
  }
  if (o) H->attr_set_str(ctx, "breaker.open", list);
}

static int breaker_on_request(llmrt_ctx_t *ctx) {
  breaker_t *b = H->plugin_state(ctx);
  breaker_call_t *bc = H->call_state(ctx);
  const llmrt_request_t *req = H->request(ctx);
  uint64_t now = H->now_ms(b->prt);
  settle(b, bc, -1); /* entered again (an outer retry): the last entry is over */
  bc->idx = -1;
  bc->probe = 0;
  bc->counted = 0;
  publish(ctx, b, req->model, now);
  if (b->publish_only) return LLMRT_CONTINUE;
  int i = find(b, H->upstream(ctx), req->model, 1);
  if (i < 0) return LLMRT_CONTINUE;
  circuit_t *c = &b->c[i];
  if (c->state == ST_OPEN && now >= c->open_until) set_state(b, c, ST_HALF_OPEN, "cool-down over");
  if (c->state == ST_CLOSED || (c->state == ST_HALF_OPEN && c->probes < b->half_open_probes)) {
    bc->idx = i;
    bc->guarded = 1;
    if (c->state == ST_HALF_OPEN) {
      c->probes++;
      bc->probe = 1;
      bc->period = c->period;
    }
    return LLMRT_CONTINUE;
  }
  char msg[256], l[2 * BRK_KEY + 20];
  labels(l, sizeof l, c, NULL);
  H->metric_add(b->m_rejected, l, 1);
  if (c->state == ST_OPEN)
    snprintf(msg, sizeof msg,
             "circuit of '%s' is open (%u failures in a row); half-open in %llu ms", c->key,
             c->consecutive, (unsigned long long)(c->open_until - now));
  else
    snprintf(msg, sizeof msg, "circuit of '%s' is half-open and its %u probe(s) are in flight",
             c->key, b->half_open_probes);
  H->fail(ctx, LLMRT_ECIRCUITOPEN, msg);
  return LLMRT_STOP;
}

static void settle(breaker_t *b, breaker_call_t *bc, int failed) {
  if (bc->counted || !bc->guarded) return;
  bc->counted = 1;
  bc->guarded = 0;
  circuit_t *c = &b->c[bc->idx];
  if (bc->probe && bc->period == c->period && c->probes) c->probes--;
  bc->probe = 0;
  if (failed >= 0) outcome(b, bc->idx, failed);
}

static int breaker_on_error(llmrt_ctx_t *ctx, int err) {
  breaker_t *b = H->plugin_state(ctx);
  breaker_call_t *bc = H->call_state(ctx);
  if (b->publish_only) return LLMRT_CONTINUE;
  llmrt_error_info_t ei = {.struct_size = sizeof ei};
  H->last_error(ctx, &ei);
  /* An answered request error (4xx) shows a live upstream; anything else
   * that does not count (canceled, the call's deadline) is neither: only
   * the probe slot is given back. */
  int st = ei.http_status;
  settle(b, bc, counts(b, err, st) ? 1 : (st >= 400 && st < 500 && st != 429) ? 0 : -1);
  return LLMRT_CONTINUE;
}

static void breaker_on_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
  breaker_t *b = H->plugin_state(ctx);
  breaker_call_t *bc = H->call_state(ctx);
  const llmrt_request_t *req = H->request(ctx);
  if (!b->publish_only) {
    settle(b, bc, status == 0 ? 0 : counts(b, status, res->http_status) ? 1 : -1);
    return;
  }
  /* Outside route: what failed on the way, then who answered. */
  const char *failed = NULL;
  if (H->attr_get(ctx, "route.failed", &failed, NULL) == 1 && failed) {
    for (const char *p = failed; *p;) {
      while (*p == ' ')
        p++;
      size_t w = strcspn(p, " ");
      char name[64];
      if (w > 0 && w < sizeof name) {
        memcpy(name, p, w);
        name[w] = '\0';
        outcome(b, find(b, name, req->model, 1), 1);
      }
      p += w;
    }
  }
  const char *up = H->upstream(ctx);
  if (status == 0)
    outcome(b, find(b, up, req->model, 1), 0);
  else if (!failed && counts(b, status, res->http_status))
    outcome(b, find(b, up, req->model, 1), 1);
}

static void breaker_on_call_end(llmrt_ctx_t *ctx, int status) {
  (void)status;
  breaker_t *b = H->plugin_state(ctx);
  settle(b, H->call_state(ctx), -1); /* a probe slot still held is given back */
}

static const llmrt_plugin_t breaker_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "breaker",
    .version = "1.0",
    .init = breaker_init,
    .fini = breaker_fini,
    .call_state_size = sizeof(breaker_call_t),
    .on_request = breaker_on_request,
    .on_error = breaker_on_error,
    .on_complete = breaker_on_complete,
    .on_call_end = breaker_on_call_end,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  H = host;
  return &breaker_plugin;
}
