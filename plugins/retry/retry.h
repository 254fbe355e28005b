/* Internals of the retry plugin, shared by its files:
 *   retry.c         the hooks: when to retry, how long to wait
 *   retry_config.c  the JSON configuration
 *   retry_policy.c  the upstream's word (Retry-After in both forms,
 *                   retry-after-ms, x-should-retry), error names, and the
 *                   per-upstream retry budget
 * Global names carry the retry__ prefix: the built-in copies of every
 * plugin are linked into one library. */
#ifndef LLMRT_PLUGIN_RETRY_H
#define LLMRT_PLUGIN_RETRY_H

#include <stdint.h>

#include "llmrt/plugin.h"

extern const llmrt_host_t *retry__H;

#define RETRY_MAX_ERRORS 48    /* error codes in retry_on_errors */
#define RETRY_MAX_UPSTREAMS 64 /* upstreams with a retry budget */
#define RETRY_SLOTS 10         /* a budget window is this many slots */

/* One upstream's retry budget: calls and retries in the last window, in
 * RETRY_SLOTS slots of window_ms / RETRY_SLOTS each (a sliding window with
 * that granularity). */
typedef struct {
  char name[64];
  uint64_t slot_epoch[RETRY_SLOTS]; /* which slot period each slot holds */
  uint32_t calls[RETRY_SLOTS];
  uint32_t retries[RETRY_SLOTS];
} retry_budget_t;

typedef struct {
  /* Configuration. */
  uint32_t max_attempts;
  uint32_t base_ms, cap_ms;     /* full jitter: uniform in [0, min(cap, base * 2^n)] */
  uint32_t budget_ms;           /* total time per call for attempts and waits; 0: none */
  uint32_t max_server_delay_ms; /* ceiling on an honored server-given delay */
  int honor_headers;
  uint8_t status_retry[600];    /* 1: an HTTP status that is retried */
  int errors[RETRY_MAX_ERRORS]; /* llmrt codes retried when no status applies */
  int n_errors;
  int socket_errors;   /* libuv's socket errors (negative errno) are retried */
  char *idem_header;   /* idempotency key header name; NULL: off */
  double budget_ratio; /* retries allowed per call in the window; < 0: no budget */
  uint32_t budget_window_ms;
  uint32_t budget_min; /* retries always allowed per window */
  /* State. */
  uint64_t rng;
  uint64_t seq; /* idempotency keys: unique within the instance */
  retry_budget_t ups[RETRY_MAX_UPSTREAMS];
  int n_ups;
  llmrt_plugin_rt_t *prt;
  llmrt_metric_t *m_retries, *m_gave_up, *m_refused, *m_delay;
} retry_t;

/* What the upstream said about retrying in its last answer. */
typedef struct {
  int64_t after_ms;      /* retry-after-ms, else Retry-After; -1: neither */
  const char *after_src; /* "retry-after-ms", "retry-after" or "retry-after-date" */
  int should;            /* x-should-retry: 1 true, 0 false, -1 absent */
} retry_word_t;

int retry__config(retry_t *r, const char *json, size_t len, char *err, size_t errlen);
void retry__config_free(retry_t *r);

/* Reads the retry headers of a response (now_s: wall clock, seconds). */
void retry__read_headers(retry_word_t *w, const llmrt_header_t *h, size_t n, int64_t now_s);
/* An IMF-fixdate (also RFC 850 and asctime forms) as seconds since the
 * epoch; -1 if it is none of them. */
int64_t retry__http_date(const char *s);

/* "ECONNRESET" for LLMRT_ECONNRESET (no prefix); NULL for unknown codes. */
const char *retry__err_name(int code);
/* The code for a name with or without the LLMRT_ prefix; 0 if unknown. */
int retry__err_code(const char *name);

/* The budget of an upstream (created on first use; NULL when the table is
 * full, which then means "no budget"). */
retry_budget_t *retry__budget(retry_t *r, const char *upstream);
void retry__budget_call(retry_t *r, retry_budget_t *b, uint64_t now_ms);
/* 1 and counts the retry when the budget allows one, else 0; *calls and
 * *retries say what the window held. */
int retry__budget_take(retry_t *r, retry_budget_t *b, uint64_t now_ms, uint32_t *calls,
                       uint32_t *retries);

#endif
