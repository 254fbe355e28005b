/* retry: another attempt after transient failures (docs/plugins/retry.md).
 *
 * Full-jitter exponential backoff within a maximum number of attempts and a
 * total time budget per call; the upstream's own word first (retry-after-ms,
 * then Retry-After in seconds or as an HTTP date, then x-should-retry, which
 * overrides the status rules either way); one idempotency key per call on
 * every attempt (off unless a header name is configured); and a retry
 * budget per upstream, so a failing upstream is not hammered by its own
 * callers. The runtime refuses a retry once content passed this plugin
 * outward, so a token the user saw is never delivered twice.
 *
 * A call this plugin gives up on for a reason of its own (a server delay
 * past the ceiling or the remaining budget, a spent retry budget) fails with
 * the upstream's error code and a message that says why (host->fail). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "retry.h"

const llmrt_host_t *retry__H;
#define H retry__H

typedef struct {
  int entered;      /* the call's first on_request ran */
  uint64_t t0;      /* loop time of that first on_request: the time budget's start */
  uint32_t n;       /* attempts through this plugin since it was last entered */
  uint32_t total;   /* attempts through this plugin in the call */
  int status;       /* HTTP status of the last attempt, 0 if none */
  retry_word_t w;   /* what that answer said about retrying */
  char key[48];     /* the idempotency key, "" when off */
  char delays[192]; /* "delay_ms:reason" of each wait, ';'-separated */
  size_t delays_len;
} retry_call_t;

static uint64_t next_rand(retry_t *r) {
  /* xorshift64*: good enough for jitter and unique keys, no global state. */
  r->rng ^= r->rng >> 12;
  r->rng ^= r->rng << 25;
  r->rng ^= r->rng >> 27;
  return r->rng * 2685821657736338717ull;
}

static int retry_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state, char *err,
                      size_t errlen) {
  retry_t *r = H->calloc(1, sizeof *r);
  if (!r) return LLMRT_ENOMEM;
  int rc = retry__config(r, json, len, err, errlen);
  if (rc) {
    retry__config_free(r);
    H->free(r);
    return rc;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  r->rng = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) * 0x9E3779B97F4A7C15ull ^
           (uintptr_t)r;
  if (!r->rng) r->rng = 0x2545F4914F6CDD1Dull;
  r->prt = prt;
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_retries_total",
            "Attempts retried by the retry plugin, by upstream and reason", &r->m_retries);
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_retries_exhausted_total",
            "Calls the retry plugin gave up on, by upstream and why", &r->m_gave_up);
  H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_retry_budget_refused_total",
            "Retries refused by an upstream's retry budget", &r->m_refused);
  H->metric(prt, LLMRT_METRIC_HISTOGRAM, "llmrt_retry_delay_seconds",
            "Waits before a retry (backoff or server-given)", &r->m_delay);
  *state = r;
  return 0;
}

static void retry_fini(void *state) {
  retry_t *r = state;
  retry__config_free(r);
  H->free(r);
}

/* Prometheus labels upstream="..." (escaped) plus an optional second pair. */
static void labels(char *out, size_t n, const char *upstream, const char *k, const char *v) {
  size_t o = 0;
  o += (size_t)snprintf(out, n, "upstream=\"");
  for (const char *p = upstream; *p && o + 4 < n; p++) {
    if (*p == '"' || *p == '\\') out[o++] = '\\';
    if (*p == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
      continue;
    }
    out[o++] = *p;
  }
  out[o] = '\0';
  if (o + 2 < n) snprintf(out + o, n - o, k ? "\",%s=\"%s\"" : "\"", k, v);
}

static int retry_on_request(llmrt_ctx_t *ctx) {
  retry_t *r = H->plugin_state(ctx);
  retry_call_t *rc = H->call_state(ctx);
  uint64_t now = H->now_ms(r->prt);
  if (!rc->entered) {
    rc->entered = 1;
    rc->t0 = now;
    if (r->idem_header) {
      uint64_t a = next_rand(r), b = next_rand(r) ^ ++r->seq;
      snprintf(rc->key, sizeof rc->key, "llmrt-%016llx%016llx", (unsigned long long)a,
               (unsigned long long)b);
    }
  }
  /* Entered again when an outer plugin (route) retries, maybe elsewhere:
   * a fresh count of attempts for the new target. */
  rc->n = 1;
  rc->total++;
  rc->status = 0;
  rc->w.after_ms = -1;
  rc->w.should = -1;
  retry__budget_call(r, retry__budget(r, H->upstream(ctx)), now);
  if (rc->key[0]) {
    int e = H->set_header(ctx, r->idem_header, rc->key);
    if (e) return e;
  }
  return LLMRT_CONTINUE;
}

static int retry_on_response(llmrt_ctx_t *ctx, int status, const llmrt_header_t *h, size_t n) {
  retry_t *r = H->plugin_state(ctx);
  retry_call_t *rc = H->call_state(ctx);
  rc->status = status;
  rc->w.after_ms = -1;
  rc->w.should = -1;
  if (r->honor_headers) retry__read_headers(&rc->w, h, n, (int64_t)time(NULL));
  return LLMRT_CONTINUE;
}

/* Errors no header or setting makes retryable: the caller or the runtime
 * ended the call, or the request cannot be sent at all. */
static int never(int err) {
  return err == LLMRT_ECANCELED || err == LLMRT_ESHUTDOWN || err == LLMRT_ETIMEDOUT ||
         err == LLMRT_ENOMEM || err == LLMRT_EINVAL || err == LLMRT_ENOUPSTREAM ||
         err == LLMRT_ENOKEY || err == LLMRT_ECONFIG;
}

static int retryable(const retry_t *r, const retry_call_t *rc, int err, int st, const char **why) {
  if (never(err)) return 0;
  if (st && rc->w.should >= 0) {
    *why = "x-should-retry";
    return rc->w.should;
  }
  if (st) return r->status_retry[st];
  for (int i = 0; i < r->n_errors; i++)
    if (r->errors[i] == err) return 1;
  /* libuv's own socket errors (negative errno). */
  return r->socket_errors && err > -4096 && err < 0;
}

static void note(llmrt_ctx_t *ctx, retry_t *r, retry_call_t *rc, const char *gave_up) {
  H->attr_set_num(ctx, "retry.attempts", rc->total);
  if (rc->delays_len) H->attr_set_str(ctx, "retry.delays", rc->delays);
  if (gave_up) {
    char l[160];
    labels(l, sizeof l, H->upstream(ctx), "reason", gave_up);
    H->attr_set_str(ctx, "retry.gave_up", gave_up);
    if (rc->n > 1 || strcmp(gave_up, "not_retryable")) H->metric_add(r->m_gave_up, l, 1);
  }
}

static int give_up(llmrt_ctx_t *ctx, retry_t *r, retry_call_t *rc, int err, const char *why,
                   const char *msg) {
  note(ctx, r, rc, why);
  if (msg && H->fail(ctx, err, msg) == 0) return LLMRT_STOP;
  return LLMRT_CONTINUE;
}

static int retry_on_error(llmrt_ctx_t *ctx, int err) {
  retry_t *r = H->plugin_state(ctx);
  retry_call_t *rc = H->call_state(ctx);
  llmrt_error_info_t ei = {.struct_size = sizeof ei};
  H->last_error(ctx, &ei);
  int st = ei.http_status >= 400 && ei.http_status < 600 ? ei.http_status : 0;
  if (!st && rc->status >= 400 && rc->status < 600) st = rc->status;
  const char *hdr = NULL;
  if (!retryable(r, rc, err, st, &hdr)) return give_up(ctx, r, rc, err, "not_retryable", NULL);
  if (rc->n >= r->max_attempts) return give_up(ctx, r, rc, err, "max_attempts", NULL);

  char reason[64], msg[480];
  const char *ename = retry__err_name(err);
  if (st)
    snprintf(reason, sizeof reason, "status %d%s%s", st, hdr ? ", " : "", hdr ? hdr : "");
  else if (ename)
    snprintf(reason, sizeof reason, "%s", ename);
  else
    snprintf(reason, sizeof reason, "system error %d", err);
  const char *last = ei.message ? ei.message : "";
  uint64_t now = H->now_ms(r->prt);
  uint64_t left = UINT64_MAX;
  if (r->budget_ms) left = now - rc->t0 < r->budget_ms ? r->budget_ms - (now - rc->t0) : 0;

  uint64_t delay;
  const char *src = NULL;
  if (r->honor_headers && rc->w.after_ms >= 0) {
    src = rc->w.after_src;
    if ((uint64_t)rc->w.after_ms > r->max_server_delay_ms) {
      snprintf(msg, sizeof msg,
               "not retried: the upstream asked for a wait of %lld ms (%s), more than "
               "max_server_delay_ms (%u); %s",
               (long long)rc->w.after_ms, src, r->max_server_delay_ms, last);
      return give_up(ctx, r, rc, err, "server_delay", msg);
    }
    if ((uint64_t)rc->w.after_ms >= left) {
      snprintf(msg, sizeof msg,
               "not retried: the upstream asked for a wait of %lld ms (%s), past the %llu ms left "
               "of the call's time budget (time_budget_ms %u); %s",
               (long long)rc->w.after_ms, src, (unsigned long long)left, r->budget_ms, last);
      return give_up(ctx, r, rc, err, "time_budget", msg);
    }
    delay = (uint64_t)rc->w.after_ms;
  } else {
    /* Full jitter: uniform in [0, min(cap, base * 2^(n-1))]. */
    uint64_t d = r->base_ms;
    for (uint32_t i = 1; i < rc->n && d < r->cap_ms; i++)
      d *= 2;
    if (d > r->cap_ms) d = r->cap_ms;
    delay = next_rand(r) % (d + 1);
    if (delay >= left) {
      snprintf(msg, sizeof msg,
               "not retried: the call's time budget (time_budget_ms %u) is spent after %u "
               "attempts; %s",
               r->budget_ms, rc->total, last);
      return give_up(ctx, r, rc, err, "time_budget", msg);
    }
  }

  uint32_t calls, retries;
  retry_budget_t *b = retry__budget(r, H->upstream(ctx));
  if (!retry__budget_take(r, b, now, &calls, &retries)) {
    char l[160];
    labels(l, sizeof l, H->upstream(ctx), NULL, NULL);
    H->metric_add(r->m_refused, l, 1);
    H->attr_set_num(ctx, "retry.budget_refused", 1);
    snprintf(msg, sizeof msg,
             "not retried: the retry budget of upstream '%s' is spent (%u retries for %u calls "
             "in the last %u ms); %s",
             H->upstream(ctx), retries, calls, r->budget_window_ms, last);
    return give_up(ctx, r, rc, err, "retry_budget", msg);
  }
  if (H->retry(ctx, (uint32_t)(delay < UINT32_MAX ? delay : UINT32_MAX)) != 0) {
    /* Content already reached the caller, or the runtime is closing. */
    return give_up(ctx, r, rc, err, "committed", NULL);
  }
  /* The new attempt re-enters below us: our on_request does not run again. */
  rc->n++;
  rc->total++;
  int w = snprintf(rc->delays + rc->delays_len, sizeof rc->delays - rc->delays_len, "%s%llu:%s%s%s",
                   rc->delays_len ? ";" : "", (unsigned long long)delay, reason, src ? ", " : "",
                   src ? src : "");
  if (w > 0 && (size_t)w < sizeof rc->delays - rc->delays_len) rc->delays_len += (size_t)w;
  rc->status = 0;
  rc->w.after_ms = -1;
  rc->w.should = -1;
  char l[160];
  labels(l, sizeof l, H->upstream(ctx), "reason", st ? "status" : src ? src : "error");
  H->metric_add(r->m_retries, l, 1);
  labels(l, sizeof l, H->upstream(ctx), NULL, NULL);
  H->metric_observe(r->m_delay, l, (double)delay / 1000.0);
  H->attr_set_str(ctx, "retry.reason", reason);
  note(ctx, r, rc, NULL);
  return LLMRT_STOP;
}

static const llmrt_plugin_t retry_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "retry",
    .version = "2.0",
    .init = retry_init,
    .fini = retry_fini,
    .call_state_size = sizeof(retry_call_t),
    .on_request = retry_on_request,
    .on_response = retry_on_response,
    .on_error = retry_on_error,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  retry__H = host;
  return &retry_plugin;
}
