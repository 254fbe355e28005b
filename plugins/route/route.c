/* route: upstream groups chosen by measurement, and fallbacks across
 * upstreams, models and providers (docs/plugins/route.md).
 *
 * A request names a group (a name this plugin claims with
 * host->upstream_alias) or an upstream. For a group, a member is picked by
 * the group's strategy; members the breaker holds open (the "breaker.open"
 * attribute, see docs/plugins/breaker.md) or that failed recently are
 * skipped. When the target fails after the retries inside this plugin are
 * spent, another member of the group is tried, then the configured
 * fallbacks in order (a context-length error goes straight to the next
 * target with a larger context_window). The request is rewritten with
 * host->set_request, and the runtime encodes it for the new upstream's
 * protocol, so an OpenAI primary may fall back to Anthropic and back.
 * Nothing falls back once content reached the caller: the runtime refuses
 * the retry and the error keeps the partial text.
 *
 * Attributes: route.target ("upstream/model" of the last dispatch: the one
 * that answered on success), route.reason (why it was chosen),
 * route.fallbacks (how many times the call moved on), route.failed
 * (space-separated upstreams that failed in this call, for a breaker
 * outside). */
#include <stdio.h>
#include <string.h>

#include "route.h"

const llmrt_host_t *route__H;
#define H route__H

typedef struct {
  int active;                 /* the call is routed */
  const route_chain_t *chain; /* its fallbacks, or NULL */
  int target;                 /* -1: the primary; else an index in chain->t */
  route_group_t *group;       /* the current target's group, or NULL */
  uint64_t tried;             /* members of that group tried in this call */
  int64_t window;             /* context window of the current target; 0: unknown */
  route_member_t *held;       /* member whose in_flight counts this call */
  uint64_t dispatched;        /* loop ms of the last dispatch */
  int sampled;                /* that dispatch's latency was measured */
  int passed;                 /* an event passed this plugin outward: no more retries */
  int n_fallbacks;
  char *orig_model; /* the request's model, as the caller gave it */
  int32_t orig_max_tokens;
  double orig_temperature;
  char orig_provider[16];
  char primary[ROUTE_NAME_MAX];
  char current[ROUTE_NAME_MAX]; /* the upstream of the last dispatch */
  char failed[256];
} route_call_t;

static int route_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state, char *err,
                      size_t errlen) {
  route_t *r = H->calloc(1, sizeof *r);
  if (!r) return LLMRT_ENOMEM;
  r->prt = prt;
  int rc = route__config(r, json, len, err, errlen);
  if (rc) {
    route__config_free(r);
    H->free(r);
    return rc;
  }
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_route_fallbacks_total",
            "Calls route moved to another target, by kind of failure", &r->m_fallbacks);
  H->metric(prt, LLMRT_METRIC_GAUGE, "llmrt_route_latency_ewma_ms",
            "Moving average of dispatch to first content, per upstream", &r->m_latency);
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_route_picks_total", "Group members chosen by route",
            &r->m_picks);
  *state = r;
  return 0;
}

static void route_fini(void *state) {
  route_t *r = state;
  route__config_free(r);
  H->free(r);
}

static void release(route_call_t *rc) {
  if (rc->held && rc->held->in_flight) rc->held->in_flight--;
  rc->held = NULL;
}

/* name="value" with the value escaped for Prometheus, at out[0..n-1] (n >
 * 0), always terminated, cut short when it does not fit; the length. The
 * buffers below hold two escaped names of ROUTE_NAME_MAX bytes. */
static size_t label(char *out, size_t n, const char *name, const char *v) {
  int w = snprintf(out, n, "%s=\"", name);
  size_t o = w < 0 ? 0 : (size_t)w;
  if (o >= n) return n - 1; /* snprintf cut and terminated it */
  for (; *v && o + 4 < n; v++) {
    if (*v == '"' || *v == '\\' || *v == '\n') {
      out[o++] = '\\';
      out[o++] = *v == '\n' ? 'n' : *v;
    } else {
      out[o++] = *v;
    }
  }
  if (o + 1 < n) out[o++] = '"';
  out[o] = '\0';
  return o;
}

/* Appends "," then the next label, when there is room. */
static size_t label_more(char *out, size_t n, size_t o, const char *name, const char *v) {
  if (o + 2 >= n) return o;
  out[o++] = ',';
  return o + label(out + o, n - o, name, v);
}

/* Sends the call to the current target. 0 when dispatched, 1 when the
 * target has nothing to offer (every member tried or held open), or a
 * negative error. */
static int dispatch(llmrt_ctx_t *ctx, route_t *r, route_call_t *rc, const char *reason) {
  const route_target_t *t = rc->target >= 0 ? &rc->chain->t[rc->target] : NULL;
  const char *name = t ? t->upstream : rc->primary;
  const char *open = NULL;
  H->attr_get(ctx, "breaker.open", &open, NULL);
  uint64_t now = H->now_ms(r->prt);
  route_member_t *m;
  rc->group = route__group(r, name);
  if (rc->group) {
    int i = route__pick(r, rc->group, rc->tried, open, now);
    if (i < 0) return 1;
    rc->tried |= 1ull << i;
    m = &rc->group->members[i];
    char l[4 * ROUTE_NAME_MAX + 40];
    size_t o = label(l, sizeof l, "group", rc->group->name);
    label_more(l, sizeof l, o, "upstream", m->name);
    H->metric_add(r->m_picks, l, 1);
  } else {
    if (rc->tried || route__listed(open, name)) return 1;
    rc->tried = 1;
    m = route__single(r, name);
  }
  const char *up = m ? m->name : name;
  llmrt_request_t req = *H->request(ctx);
  req.upstream = up;
  req.model = t && t->model ? t->model : rc->orig_model;
  req.max_tokens = t && t->max_tokens ? t->max_tokens : rc->orig_max_tokens;
  req.temperature = t && t->temperature >= 0 ? t->temperature : rc->orig_temperature;
  /* Provider-specific body fields would be refused by another provider. */
  if (m && m->provider[0] && strcmp(m->provider, rc->orig_provider)) req.extra_json = NULL;
  int e = H->set_request(ctx, &req);
  if (e) return e;
  release(rc);
  if (m) {
    m->in_flight++;
    rc->held = m;
  }
  rc->dispatched = now;
  rc->sampled = 0;
  snprintf(rc->current, sizeof rc->current, "%s", up);
  char desc[ROUTE_NAME_MAX + 260];
  snprintf(desc, sizeof desc, "%s/%s", up, req.model ? req.model : "");
  H->attr_set_str(ctx, "route.target", desc);
  H->attr_set_str(ctx, "route.reason", reason);
  return 0;
}

static int route_on_request(llmrt_ctx_t *ctx) {
  route_t *r = H->plugin_state(ctx);
  route_call_t *rc = H->call_state(ctx);
  const llmrt_request_t *req = H->request(ctx);
  if (!rc->active) {
    const char *name = req->upstream ? req->upstream : H->upstream(ctx);
    route_group_t *g = route__group(r, name);
    const route_chain_t *ch = route__chain(r, name);
    if (!g && !ch) return LLMRT_CONTINUE; /* nothing to route: no cost */
    if (strlen(name) >= sizeof rc->primary) return LLMRT_CONTINUE;
    if (req->model) {
      size_t n = strlen(req->model) + 1;
      if (!(rc->orig_model = H->malloc(n))) return LLMRT_ENOMEM;
      memcpy(rc->orig_model, req->model, n);
    }
    rc->active = 1;
    rc->chain = ch;
    rc->orig_max_tokens = req->max_tokens;
    rc->orig_temperature = req->temperature;
    snprintf(rc->primary, sizeof rc->primary, "%s", name);
    llmrt_upstream_info_t info = {.struct_size = sizeof info};
    if (g)
      snprintf(rc->orig_provider, sizeof rc->orig_provider, "%s", g->members[0].provider);
    else if (H->upstream_info(ctx, &info) == 0)
      snprintf(rc->orig_provider, sizeof rc->orig_provider, "%s", info.provider);
  }
  /* First entry, or again after an outer plugin's retry: from the top. */
  rc->target = -1;
  rc->tried = 0;
  rc->window = 0;
  int d = dispatch(ctx, r, rc, "primary");
  if (d < 0) return d;
  while (d == 1) {
    /* The primary is held open: straight to the next target that can take
     * the call. */
    if (!(r->fallback_on & ROUTE_K_BREAKER_OPEN) || !rc->chain || rc->target + 1 >= rc->chain->n) {
      char msg[200];
      snprintf(msg, sizeof msg, "every target for '%s' is held open by the circuit breaker",
               rc->primary);
      H->fail(ctx, LLMRT_ECIRCUITOPEN, msg);
      return LLMRT_STOP;
    }
    rc->target++;
    rc->tried = 0;
    rc->window = rc->chain->t[rc->target].context_window;
    rc->n_fallbacks++;
    d = dispatch(ctx, r, rc, "fallback: breaker_open");
    if (d < 0) return d;
  }
  if (rc->n_fallbacks) H->attr_set_num(ctx, "route.fallbacks", rc->n_fallbacks);
  return LLMRT_CONTINUE;
}

static int route_on_event(llmrt_ctx_t *ctx, llmrt_event_t *ev) {
  route_call_t *rc = H->call_state(ctx);
  if (!rc->active) return LLMRT_CONTINUE;
  rc->passed = 1;
  if (rc->sampled) return LLMRT_CONTINUE;
  if (ev->type != LLMRT_EV_TEXT && ev->type != LLMRT_EV_THINKING && ev->type != LLMRT_EV_TOOL_CALL)
    return LLMRT_CONTINUE;
  route_t *r = H->plugin_state(ctx);
  rc->sampled = 1;
  if (rc->held) {
    route__sample(r, rc->held, (double)(H->now_ms(r->prt) - rc->dispatched));
    char l[2 * ROUTE_NAME_MAX + 20];
    label(l, sizeof l, "upstream", rc->held->name);
    H->metric_set(r->m_latency, l, rc->held->ewma_ms);
  }
  return LLMRT_CONTINUE;
}

/* The next target for a failure of this kind, or -1. */
static int next_target(const route_t *r, const route_call_t *rc, unsigned kind) {
  if (!(r->fallback_on & kind) || !rc->chain) return -1;
  for (int i = rc->target + 1; i < rc->chain->n; i++) {
    if (kind != ROUTE_K_CONTEXT_LENGTH) return i;
    /* A context-length error goes straight to a larger window. */
    if (rc->chain->t[i].context_window > rc->window) return i;
  }
  return -1;
}

static void note_failed(llmrt_ctx_t *ctx, route_call_t *rc) {
  size_t n = strlen(rc->failed);
  if (route__listed(rc->failed, rc->current) || n + strlen(rc->current) + 2 > sizeof rc->failed)
    return;
  snprintf(rc->failed + n, sizeof rc->failed - n, "%s%s", n ? " " : "", rc->current);
  H->attr_set_str(ctx, "route.failed", rc->failed);
}

static int route_on_error(llmrt_ctx_t *ctx, int err) {
  route_call_t *rc = H->call_state(ctx);
  if (!rc->active) return LLMRT_CONTINUE;
  route_t *r = H->plugin_state(ctx);
  llmrt_error_info_t ei = {.struct_size = sizeof ei};
  H->last_error(ctx, &ei);
  unsigned kind = route__kind(err, &ei);
  const unsigned member_kinds = ROUTE_K_CONNECTION | ROUTE_K_TIMEOUT | ROUTE_K_RATE_LIMIT |
                                ROUTE_K_OVERLOADED | ROUTE_K_SERVER | ROUTE_K_AUTH;
  if (kind & member_kinds) {
    /* The upstream is unwell: skip it for a while, and tell a breaker. */
    if (rc->held) rc->held->failed_until = H->now_ms(r->prt) + r->cooldown_ms;
    note_failed(ctx, rc);
  }
  release(rc);
  if (kind == ROUTE_K_NEVER || !(r->fallback_on & kind)) return LLMRT_CONTINUE;
  if (rc->passed) {
    /* The runtime would refuse the retry: the request keeps naming the
     * target that answered in part, for the attributes and the plugins
     * outside (a breaker blames what it names). */
    H->attr_set_str(ctx, "route.reason", "no fallback: content already reached the caller");
    return LLMRT_CONTINUE;
  }

  char from[ROUTE_NAME_MAX], reason[160];
  snprintf(from, sizeof from, "%s", rc->current);
  int d = 1;
  /* Another member of the same group first, for failures of one member. */
  if (rc->group && (kind & (member_kinds | ROUTE_K_BREAKER_OPEN))) {
    snprintf(reason, sizeof reason, "member: %s from %s", route__kind_name(kind), from);
    d = dispatch(ctx, r, rc, reason);
    if (d < 0) return LLMRT_CONTINUE;
  }
  while (d == 1) {
    int next = next_target(r, rc, kind);
    if (next < 0) return LLMRT_CONTINUE;
    rc->target = next;
    rc->tried = 0;
    rc->window = rc->chain->t[next].context_window;
    snprintf(reason, sizeof reason, "fallback: %s from %s", route__kind_name(kind), from);
    d = dispatch(ctx, r, rc, reason);
    if (d < 0) return LLMRT_CONTINUE;
    if (d == 1) kind = ROUTE_K_BREAKER_OPEN; /* nothing there: on to the next */
  }
  if (H->retry(ctx, 0) != 0) {
    /* Content reached the caller (or the runtime closes): the error stands
     * and keeps the partial text. */
    release(rc);
    H->attr_set_str(ctx, "route.reason", "no fallback: content already reached the caller");
    return LLMRT_CONTINUE;
  }
  rc->n_fallbacks++;
  H->attr_set_num(ctx, "route.fallbacks", rc->n_fallbacks);
  char l[4 * ROUTE_NAME_MAX + 60];
  size_t o = label(l, sizeof l, "from", from);
  o = label_more(l, sizeof l, o, "to", rc->current);
  label_more(l, sizeof l, o, "kind", route__kind_name(kind));
  H->metric_add(r->m_fallbacks, l, 1);
  return LLMRT_STOP;
}

static void route_on_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
  (void)res;
  route_call_t *rc = H->call_state(ctx);
  if (!rc->active || !rc->held) return;
  route_t *r = H->plugin_state(ctx);
  if (status == 0) {
    if (!rc->sampled) {
      /* No content event (an empty answer): the whole exchange measures it. */
      route__sample(r, rc->held, (double)(H->now_ms(r->prt) - rc->dispatched));
      rc->sampled = 1;
    }
    rc->held->failed_until = 0;
  }
  release(rc);
}

static void route_on_call_end(llmrt_ctx_t *ctx, int status) {
  (void)status;
  route_call_t *rc = H->call_state(ctx);
  release(rc);
  H->free(rc->orig_model);
  rc->orig_model = NULL;
}

static const llmrt_plugin_t route_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "route",
    .version = "1.0",
    .init = route_init,
    .fini = route_fini,
    .call_state_size = sizeof(route_call_t),
    .on_request = route_on_request,
    .on_event = route_on_event,
    .on_error = route_on_error,
    .on_complete = route_on_complete,
    .on_call_end = route_on_call_end,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  route__H = host;
  return &route_plugin;
}
