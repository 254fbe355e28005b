/* retry: another attempt after transient failures, with exponential backoff
 * and jitter, honouring the upstream's Retry-After.
 *
 * Retried: connection failures and resets, timeouts of one attempt (connect,
 * TLS, first byte, idle gap, first token), truncated streams, 429, 5xx and
 * overload answers. Not retried: 4xx other than 408/409/429 (the request
 * itself is wrong), authentication, the call's total deadline, cancel and
 * shutdown. The runtime refuses a retry once any event has passed this
 * plugin outward, so a token the user saw is never delivered twice.
 *
 * Config: {"name":"retry", "max_attempts":3, "base_delay_ms":250,
 *          "max_delay_ms":8000}. A Retry-After longer than max_delay_ms ends
 * the call with the upstream's error instead of waiting. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmrt/plugin.h"

static const llmrt_host_t *H;

typedef struct {
  uint32_t max_attempts;
  uint32_t base_ms;
  uint32_t max_ms;
  uint64_t rng;
  llmrt_metric_t *retries;
  llmrt_metric_t *gave_up;
} retry_t;

typedef struct {
  int status;             /* HTTP status of the last attempt, 0 if none */
  int64_t retry_after_ms; /* from Retry-After / retry-after-ms, -1 if none */
} retry_call_t;

static int get_u32(const cJSON *obj, const char *key, uint32_t lo, uint32_t hi, uint32_t *out,
                   char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      v->valuedouble != (double)(uint32_t)v->valuedouble) {
    snprintf(err, errlen, "%s must be an integer from %u to %u", key, lo, hi);
    return -1;
  }
  *out = (uint32_t)v->valuedouble;
  return 0;
}

static int retry_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state, char *err,
                      size_t errlen) {
  cJSON *cfg = cJSON_ParseWithLength(json, len);
  if (!cfg) {
    snprintf(err, errlen, "config is not valid JSON");
    return LLMRT_ECONFIG;
  }
  retry_t *r = calloc(1, sizeof *r);
  if (!r) {
    cJSON_Delete(cfg);
    return LLMRT_ENOMEM;
  }
  r->max_attempts = 3;
  r->base_ms = 250;
  r->max_ms = 8000;
  int bad = 0;
  for (const cJSON *it = cfg->child; it && !bad; it = it->next) {
    if (strcmp(it->string, "name") && strcmp(it->string, "max_attempts") &&
        strcmp(it->string, "base_delay_ms") && strcmp(it->string, "max_delay_ms")) {
      snprintf(err, errlen, "unknown key \"%s\" (known: max_attempts, base_delay_ms, max_delay_ms)",
               it->string);
      bad = 1;
    }
  }
  if (!bad) bad = get_u32(cfg, "max_attempts", 1, 100, &r->max_attempts, err, errlen) ||
                  get_u32(cfg, "base_delay_ms", 0, 3600000, &r->base_ms, err, errlen) ||
                  get_u32(cfg, "max_delay_ms", 0, 3600000, &r->max_ms, err, errlen);
  if (!bad && r->max_ms < r->base_ms) {
    snprintf(err, errlen, "max_delay_ms (%u) is less than base_delay_ms (%u)", r->max_ms,
             r->base_ms);
    bad = 1;
  }
  cJSON_Delete(cfg);
  if (bad) {
    free(r);
    return LLMRT_ECONFIG;
  }
  r->rng = H->now_ms(prt) * 0x9E3779B97F4A7C15ull + (uintptr_t)r;
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_retries_total", "Attempts retried by the retry plugin",
            &r->retries);
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_retries_exhausted_total",
            "Calls that still failed after the retry plugin's last attempt", &r->gave_up);
  *state = r;
  return 0;
}

static void retry_fini(void *state) {
  free(state);
}

static int retry_on_request(llmrt_ctx_t *ctx) {
  retry_call_t *rc = H->call_state(ctx);
  rc->status = 0;
  rc->retry_after_ms = -1;
  return LLMRT_CONTINUE;
}

static int retry_on_response(llmrt_ctx_t *ctx, int status, const llmrt_header_t *h, size_t n) {
  retry_call_t *rc = H->call_state(ctx);
  rc->status = status;
  rc->retry_after_ms = -1;
  /* Values are clamped before any conversion: a huge or infinite wait is
   * "longer than we may wait", never an overflow that wraps to a short one. */
  const double cap = 1e12; /* ms: ~30 years */
  for (size_t i = 0; i < n; i++) {
    char *end;
    if (!strcasecmp(h[i].name, "retry-after-ms")) {
      double v = strtod(h[i].value, &end);
      if (end != h[i].value && v >= 0) rc->retry_after_ms = (int64_t)(v < cap ? v : cap);
    } else if (!strcasecmp(h[i].name, "retry-after") && rc->retry_after_ms < 0) {
      /* Seconds; an HTTP-date form is ignored (the backoff applies). */
      double v = strtod(h[i].value, &end);
      if (end != h[i].value && *end == '\0' && v >= 0)
        rc->retry_after_ms = (int64_t)(v * 1000 < cap ? v * 1000 : cap);
    }
  }
  return LLMRT_CONTINUE;
}

static int retryable(int err, int status) {
  switch (err) {
  case LLMRT_ECONNECT:
  case LLMRT_ECONNRESET:
  case LLMRT_ECLOSED:
  case LLMRT_EDNS:
  case LLMRT_ECONNECTTIMEOUT:
  case LLMRT_ETLSTIMEOUT:
  case LLMRT_EFIRSTBYTETIMEOUT:
  case LLMRT_EIDLETIMEOUT:
  case LLMRT_EFIRSTTOKENTIMEOUT:
  case LLMRT_ETRUNCATED:
  case LLMRT_ERATELIMIT:
  case LLMRT_EOVERLOADED:
    return 1;
  case LLMRT_EUPSTREAM:
    /* An error status: only server-side trouble and conflicts; an error
     * event inside a 200 stream is the provider's transient failure. */
    return status == 0 || status == 200 || status >= 500 || status == 408 || status == 409;
  default:
    /* libuv's own socket errors (negative errno) are transient too. */
    return err > -4096 && err < 0;
  }
}

static uint64_t next_rand(retry_t *r) {
  /* xorshift64*: good enough for jitter, no global state. */
  r->rng ^= r->rng >> 12;
  r->rng ^= r->rng << 25;
  r->rng ^= r->rng >> 27;
  return r->rng * 2685821657736338717ull;
}

static int retry_on_error(llmrt_ctx_t *ctx, int err) {
  retry_t *r = H->plugin_state(ctx);
  retry_call_t *rc = H->call_state(ctx);
  int attempt = H->attempt(ctx);
  if (!retryable(err, rc->status)) return LLMRT_CONTINUE;
  if ((uint32_t)attempt >= r->max_attempts) {
    H->metric_add(r->gave_up, NULL, 1);
    return LLMRT_CONTINUE;
  }
  /* Exponential backoff with "equal jitter": half fixed, half random, so
   * synchronized clients spread out but never retry instantly. */
  uint64_t d = r->base_ms;
  for (int i = 1; i < attempt && d < r->max_ms; i++) d *= 2;
  if (d > r->max_ms) d = r->max_ms;
  uint64_t delay = d / 2 + (d > 1 ? next_rand(r) % (d - d / 2 + 1) : d);
  if (rc->retry_after_ms >= 0) {
    if ((uint64_t)rc->retry_after_ms > r->max_ms) {
      H->metric_add(r->gave_up, NULL, 1);
      return LLMRT_CONTINUE; /* the server wants longer than we may wait */
    }
    if ((uint64_t)rc->retry_after_ms > delay) delay = (uint64_t)rc->retry_after_ms;
  }
  if (H->retry(ctx, (uint32_t)delay) != 0) return LLMRT_CONTINUE;
  H->metric_add(r->retries, NULL, 1);
  /* The new attempt re-enters below us: our on_request does not run again. */
  rc->status = 0;
  rc->retry_after_ms = -1;
  return LLMRT_STOP;
}

static const llmrt_plugin_t retry_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "retry",
    .version = "1.0",
    .init = retry_init,
    .fini = retry_fini,
    .call_state_size = sizeof(retry_call_t),
    .on_request = retry_on_request,
    .on_response = retry_on_response,
    .on_error = retry_on_error,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  H = host;
  return &retry_plugin;
}
