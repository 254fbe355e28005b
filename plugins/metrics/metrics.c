/* metrics: every call measured, with the OpenTelemetry GenAI semantic
 * conventions (release 1.41) and llmrt's own metrics (docs/metrics.md).
 *
 * Put it first in the chain (outermost), so it sees every call whole: what
 * the user saw, after retries, fallbacks and cache answers. At on_complete it
 * reads the call's own measurements (host->call_metrics, the numbers
 * llmrt_call_metrics gives an application), the result and the attributes
 * other plugins set, builds each label set once in a stack buffer, and
 * records: no allocation once the series exist. Chunk gaps of a streamed
 * call are bucketed in the call's state as they pass and merged at the end,
 * when the labels are known.
 *
 * Config: {"name":"metrics", "max_label_values":100,
 *          "attributes":{"trim.tokens_removed":"counter", "x.y":"ignore"}}
 * Kinds: counter, seconds, ms, tokens (histograms), ignore. Numeric
 * attributes without a declared kind take it from their name's suffix:
 * _total (counter), _seconds, _ms, _tokens; others are not exported. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mp.h"

const llmrt_host_t *H;

const double duration_bounds[N_DUR] = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                       1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
const double token_bounds[N_DUR] = {1,     4,     16,     64,      256,     1024,     4096,
                                    16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
/* The runtime's own time per call is far below a round trip: finer bounds. */
const double overhead_bounds[N_DUR] = {0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01,
                                       0.02,   0.05,   0.1,    0.2,   0.5,   1,     2};

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- Configuration ---- */

int metric(mp_t *p, llmrt_metric_t **out, int kind, const char *name, const char *unit,
           const char *help, const double *bounds, size_t n_bounds) {
  llmrt_metric_opts_t o = {.struct_size = sizeof o,
                           .kind = kind,
                           .name = name,
                           .unit = unit,
                           .help = help,
                           .bounds = bounds,
                           .n_bounds = n_bounds,
                           .max_label_values = p->max_values};
  return H->metric_new(p->prt, &o, out);
}

static int register_all(mp_t *p) {
  int r = metric(p, &p->duration, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.operation.duration", "s",
                 "GenAI operation duration", duration_bounds, N_DUR);
  if (!r)
    r = metric(p, &p->tokens, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.token.usage", "{token}",
               "Number of input and output tokens used", token_bounds, N_DUR);
  if (!r)
    r = metric(p, &p->ttfc, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.operation.time_to_first_chunk",
               "s", "Time to receive the first chunk of a streamed response", duration_bounds,
               N_DUR);
  if (!r)
    r = metric(p, &p->tpoc, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.operation.time_per_output_chunk",
               "s", "Time per output chunk after the first, from the previous chunk",
               duration_bounds, N_DUR);
  if (!r)
    r = metric(p, &p->attempts, LLMRT_METRIC_COUNTER, "llmrt.client.attempts", NULL,
               "Upstream attempts made by calls, by upstream", NULL, 0);
  if (!r)
    r = metric(p, &p->retries, LLMRT_METRIC_COUNTER, "llmrt.client.retries", NULL,
               "Attempts after the first, by upstream and reason (attribute retry.reason)", NULL,
               0);
  if (!r)
    r = metric(p, &p->cache, LLMRT_METRIC_COUNTER, "llmrt.client.cache.results", NULL,
               "Calls by cache result (hit, miss, or the attribute cache.result)", NULL, 0);
  if (!r)
    r = metric(p, &p->overhead, LLMRT_METRIC_HISTOGRAM, "llmrt.client.overhead", "s",
               "Time the runtime and plugins spent on a call outside its upstream exchanges",
               overhead_bounds, sizeof overhead_bounds / sizeof overhead_bounds[0]);
  return r;
}

static int parse_config(mp_t *p, const cJSON *cfg, char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "max_label_values");
  if (v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 100000 ||
        v->valuedouble != (double)(uint32_t)v->valuedouble) {
      snprintf(err, errlen, "max_label_values must be an integer from 1 to 100000");
      return LLMRT_ECONFIG;
    }
    p->max_values = (uint32_t)v->valuedouble;
  }
  const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(cfg, "attributes");
  if (attrs && !cJSON_IsObject(attrs)) {
    snprintf(err, errlen, "attributes must be an object of attribute name to kind");
    return LLMRT_ECONFIG;
  }
  const cJSON *a;
  cJSON_ArrayForEach(a, attrs) {
    int kind = cJSON_IsString(a) ? kind_of(a->valuestring) : K_NONE;
    if (!kind) {
      snprintf(err, errlen,
               "attributes.%.64s must be \"counter\", \"seconds\", \"ms\", \"tokens\" or "
               "\"ignore\"",
               a->string);
      return LLMRT_ECONFIG;
    }
    if (strlen(a->string) >= sizeof p->attrs[0].name || p->n_attrs == MAX_ATTR_METRICS) {
      snprintf(err, errlen, "attributes: at most %d names of at most 63 bytes", MAX_ATTR_METRICS);
      return LLMRT_ECONFIG;
    }
    attr_metric_t *am = &p->attrs[p->n_attrs++];
    snprintf(am->name, sizeof am->name, "%s", a->string);
    am->kind = kind;
  }
  return 0;
}

static int mp_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state, char *err,
                   size_t errlen) {
  if (H->struct_size < offsetof(llmrt_host_t, call_metrics) + sizeof H->call_metrics) {
    snprintf(err, errlen, "the runtime is too old for this plugin (no host->metric_new)");
    return LLMRT_EPLUGINABI;
  }
  cJSON *cfg = cJSON_ParseWithLength(json, len);
  if (!cfg) {
    snprintf(err, errlen, "config is not valid JSON");
    return LLMRT_ECONFIG;
  }
  mp_t *p = H->calloc(1, sizeof *p);
  if (!p) {
    cJSON_Delete(cfg);
    return LLMRT_ENOMEM;
  }
  p->prt = prt;
  int r = parse_config(p, cfg, err, errlen);
  cJSON_Delete(cfg);
  if (!r && (r = register_all(p)) != 0) snprintf(err, errlen, "cannot register the metrics");
  if (r) {
    H->free(p);
    return r;
  }
  *state = p;
  return 0;
}

static void mp_fini(void *state) {
  H->free(state);
}

/* ---- Per chunk ---- */

static int mp_on_event(llmrt_ctx_t *ctx, llmrt_event_t *ev) {
  if (ev->type != LLMRT_EV_TEXT && ev->type != LLMRT_EV_THINKING && ev->type != LLMRT_EV_TOOL_CALL)
    return LLMRT_CONTINUE;
  mp_call_t *c = H->call_state(ctx);
  if (!c->checked) {
    const llmrt_request_t *req = H->request(ctx);
    c->checked = 1;
    c->streamed = req && req->stream;
  }
  if (!c->streamed) return LLMRT_CONTINUE;
  uint64_t now = now_us();
  if (c->last_us) {
    double gap = (double)(now - c->last_us) / 1e6;
    size_t i = 0;
    while (i < N_DUR && gap > duration_bounds[i])
      i++;
    c->gaps[i]++;
    c->gap_sum += gap;
  }
  c->last_us = now;
  return LLMRT_CONTINUE;
}

/* ---- Per call ---- */

static void mp_on_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
  mp_t *p = H->plugin_state(ctx);
  mp_call_t *c = H->call_state(ctx);
  llmrt_call_metrics_t cm = {.struct_size = sizeof cm};
  if (H->call_metrics(ctx, &cm) != 0) return;
  const llmrt_request_t *req = H->request(ctx);
  llmrt_upstream_info_t ui = {.struct_size = sizeof ui};
  int have_up = H->upstream_info(ctx, &ui) == 0;
  const char *upstream = H->upstream(ctx);

  /* The GenAI attributes, in one order for every series. */
  labels_t l, u;
  const char *keys[3] = {upstream ? upstream : "", req && req->model ? req->model : "",
                         res->model ? res->model : ""};
  if (!recent_find(p, keys, &l)) {
    labels_init(&l);
    label(&l, "gen_ai_operation_name", "chat");
    label(&l, "gen_ai_provider_name", have_up && ui.provider ? ui.provider : "unknown");
    if (req && req->model) label(&l, "gen_ai_request_model", req->model);
    if (res->model) label(&l, "gen_ai_response_model", res->model);
    char port[8];
    if (have_up && ui.host) {
      char *q = port + sizeof port - 1;
      *q = '\0';
      unsigned v = ui.port;
      do
        *--q = (char)('0' + v % 10);
      while (v /= 10);
      memmove(port, q, (size_t)(port + sizeof port - q));
      label(&l, "server_address", ui.host);
      label(&l, "server_port", port);
    }
    recent_keep(p, keys, &l);
  }
  size_t base_len = l.len; /* without error.type: token usage */
  if (status) label(&l, "error_type", res->error_type ? res->error_type : err_name(status));
  if (l.full) return; /* cannot happen with the bounds above; never record half a set */

  H->metric_observe(p->duration, l.buf, cm.duration_s);
  if (cm.streamed && cm.n_chunks) {
    H->metric_observe(p->ttfc, l.buf, cm.time_to_first_chunk_s);
    H->metric_merge(p->tpoc, l.buf, c->gaps, N_DUR + 1, c->gap_sum);
  }

  /* Tokens the upstream reported and billed: none for an answer from our
   * own cache. Cached input is part of input, and also counted apart. */
  if (!res->cache_hit && base_len + 48 < sizeof l.buf) {
    static const char *const types[] = {",gen_ai_token_type=\"input\"",
                                        ",gen_ai_token_type=\"output\"",
                                        ",gen_ai_token_type=\"cached_input\""};
    const int64_t counts[] = {cm.input_tokens, cm.output_tokens, cm.cached_tokens};
    char *end = l.buf + base_len;
    for (int i = 0; i < 3; i++) {
      if (counts[i] <= 0) continue;
      memcpy(end, types[i], strlen(types[i]) + 1);
      H->metric_observe(p->tokens, l.buf, (double)counts[i]);
    }
    labels_cut(&l, base_len);
  }

  /* llmrt's own, by upstream (a configured name: bounded). */
  labels_init(&u);
  label(&u, "upstream", upstream ? upstream : "unknown");
  size_t up_len = u.len;
  if (cm.attempts > 0) H->metric_add(p->attempts, u.buf, cm.attempts);
  if (cm.attempts > 1) {
    const char *reason = attr_str(res, "retry.reason", NULL);
    label(&u, "reason", reason ? reason : "unknown");
    if (!u.full) H->metric_add(p->retries, u.buf, cm.attempts - 1);
    labels_cut(&u, up_len);
  }
  const double *hit = NULL;
  const char *result = attr_str(res, "cache.result", NULL);
  if (!result) attr_str(res, "cache.hit", &hit);
  if (!result && (res->cache_hit || hit)) result = res->cache_hit || (hit && *hit) ? "hit" : "miss";
  if (result) {
    labels_init(&l); /* the GenAI labels are no longer needed */
    label(&l, "result", result);
    H->metric_add(p->cache, l.buf, 1);
  }
  H->metric_observe(p->overhead, u.buf, cm.overhead_s);
  record_attrs(p, res, u.buf);
}

static const llmrt_plugin_t metrics_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "metrics",
    .version = "1.0",
    .init = mp_init,
    .fini = mp_fini,
    .call_state_size = sizeof(mp_call_t),
    .on_event = mp_on_event,
    .on_complete = mp_on_complete,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  H = host;
  return &metrics_plugin;
}
