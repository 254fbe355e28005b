/* Internals of the limits plugin, shared by its files:
 *   limits.c   the plugin: hooks, admission, settlement, metrics
 *   config.c   the JSON configuration
 *   bucket.c   token buckets on the loop's clock
 *   gates.c    the table of gates (one per limited upstream, model, tenant
 *              or provider key) and what each one admits
 *   queue.c    the wait queue: priorities, FIFO within one, aging
 *   headers.c  the providers' rate-limit headers and Retry-After
 *   estimate.c the prompt's token estimate
 * Names shared between files start with limits__ (the plugin is also linked
 * into the library, next to other plugins). */
#ifndef LLMRT_PLUGIN_LIMITS_INT_H
#define LLMRT_PLUGIN_LIMITS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "llmrt/plugin.h"

extern const llmrt_host_t *limits__H;

/* ---- Configuration (config.c) ---- */

enum { LIM_PER_UPSTREAM = 0, LIM_PER_MODEL, LIM_PER_TENANT };

typedef struct {
  int per;                     /* LIM_PER_* */
  char *match;                 /* only this upstream/model/tenant; NULL: each one */
  uint32_t max_in_flight;      /* 0: no limit */
  double rpm, tpm;             /* per window; 0: no limit */
  double rpm_burst, tpm_burst; /* bucket sizes; default rpm, tpm */
  uint32_t window_ms;          /* the rates' window, 60000 (a minute) by default */
} lim_rule_t;

typedef struct {
  lim_rule_t *rules;
  size_t n_rules;
  uint32_t queue_max;          /* calls waiting at most (all limits together) */
  uint32_t queue_timeout_ms;   /* longest wait before LLMRT_EQUEUETIMEOUT */
  uint32_t max_age_ms;         /* a call waiting this long goes before any priority */
  uint32_t default_max_tokens; /* reservation for output when max_tokens is unset */
  int adaptive;                /* pace from the provider's headers */
  uint32_t provider_window_ms; /* the window of the provider's limits */
  uint32_t probe_in_flight;    /* calls in flight to a key before its first headers */
  uint32_t max_keys;           /* distinct gates kept at most */
  /* Shared buckets (redis.c); redis_enabled 0: local only. */
  int redis_enabled;
  char redis_host[64];
  uint16_t redis_port;
  int redis_db;
  char redis_password_env[128];
  char redis_prefix[64];
  uint32_t redis_timeout_ms;
} lim_cfg_t;

int limits__config_parse(lim_cfg_t *cfg, const char *json, size_t len, char *err, size_t errlen);
void limits__config_free(lim_cfg_t *cfg);

/* ---- Token buckets (bucket.c) ---- */

/* level may go below zero: a call that used more than it reserved is a debt
 * the next ones wait for. rate is per millisecond. */
typedef struct {
  double level, cap, rate;
  uint64_t t_ms;
} lim_bucket_t;

void limits__bucket_init(lim_bucket_t *b, double cap, double rate, uint64_t now);
void limits__bucket_refill(lim_bucket_t *b, uint64_t now);
/* Milliseconds until the level reaches n (0: now; UINT64_MAX: never). */
uint64_t limits__bucket_wait(const lim_bucket_t *b, double n);
void limits__bucket_take(lim_bucket_t *b, double n);
void limits__bucket_give(lim_bucket_t *b, double n);

/* ---- Gates (gates.c) ---- */

enum { LIM_GATE_RULE = 0, LIM_GATE_PROVIDER = 1 };

typedef struct lim_gate_s {
  struct lim_gate_s *next; /* hash chain */
  char *key;               /* what the gate limits; OWNERSHIP: the gate's */
  size_t key_len;
  int kind;               /* LIM_GATE_* */
  const lim_rule_t *rule; /* for LIM_GATE_RULE */
  char desc[112];         /* for messages: "tenant \"acme\"" */
  uint32_t refs;          /* calls that use it (queued or admitted) */
  uint32_t waiters;       /* of which queued */
  uint32_t in_flight;
  uint32_t max_in_flight; /* 0: none */
  int has_req, has_tok;
  lim_bucket_t req, tok;
  /* Provider gates: what the headers said. */
  int learned;               /* a response head was seen */
  uint64_t paused_until;     /* loop ms: admission waits (Retry-After) */
  double adm_reqs, adm_toks; /* admitted so far (requests, tokens reserved) */
  uint64_t blocked_gen;      /* the pump pass that found it closed */
  /* Shared (Redis) rule gates. */
  char rkey[112];            /* "<prefix><per>:<id>:" */
  uint32_t redis_pending;    /* calls whose Redis take is on the way */
  uint64_t redis_wait_until; /* loop ms: Redis said the buckets refill then */
} lim_gate_t;

typedef struct {
  lim_gate_t *slots[256];
  size_t n;
} lim_gates_t;

/* Finds or makes the gate for key (key_len bytes, may hold NULs). NULL when
 * out of memory or when max gates are in use. */
lim_gate_t *limits__gate_get(lim_gates_t *t, const char *key, size_t key_len, size_t max);
void limits__gates_free(lim_gates_t *t);
/* Why g cannot admit a call reserving `tokens` now: 0 when it can, else
 * LIM_WHY_* with *wait_ms the time until it might (UINT64_MAX: until a call
 * ends). */
enum { LIM_OK = 0, LIM_WHY_INFLIGHT, LIM_WHY_RPM, LIM_WHY_TPM, LIM_WHY_PAUSED, LIM_WHY_PROBE };
/* shared 1: a rule gate's buckets are in Redis (only its slots and Redis's
 * last "wait" are checked here). */
int limits__gate_check(lim_gate_t *g, double tokens, uint64_t now, uint32_t probe, int shared,
                       uint64_t *wait_ms);
/* 1 when a reservation of `tokens` can never fit g's token bucket. */
int limits__gate_unfit(const lim_gate_t *g, double tokens);
void limits__gate_take(lim_gate_t *g, double tokens, int shared);
/* Gives back what gate_take took (a Redis take that did not happen). */
void limits__gate_untake(lim_gate_t *g, double tokens, int shared);

/* ---- Calls and the queue (queue.c) ---- */

#define LIM_MAX_GATES 8

enum { LIM_CALL_IDLE = 0, LIM_CALL_QUEUED, LIM_CALL_REDIS, LIM_CALL_ADMITTED };

typedef struct lim_redis_s lim_redis_t;
struct redis_cmd_s;

typedef struct lim_call_s {
  llmrt_ctx_t *ctx;
  struct lim_call_s *aprev, *anext; /* arrival order */
  struct lim_call_s *pprev, *pnext; /* priority order */
  lim_gate_t *gates[LIM_MAX_GATES];
  size_t n_gates;
  lim_gate_t *pgate; /* the provider gate among gates, or NULL */
  int state;         /* LIM_CALL_* */
  int settled;       /* the last admission's tokens were settled */
  int32_t prio;
  uint64_t seq;
  uint64_t enq_ms;
  double reserve;              /* tokens reserved at admission */
  double p_reqs_at, p_toks_at; /* the provider gate's counters after admission */
  llmrt_timer_t *timeout;
  int why; /* LIM_WHY_* of the last refusal */
  const lim_gate_t *why_gate;
  /* Shared buckets: the Redis take on the way (LIM_CALL_REDIS). */
  int shared;      /* the admission's rule buckets are Redis's */
  int force_local; /* Redis failed for this call: local buckets */
  int timed_out;   /* the queue timeout came while its Redis take was on the way */
  lim_redis_t *redis_owner;
  struct redis_cmd_s *redis_cmd;
  void (*redis_cb)(struct lim_call_s *c, int result, uint64_t wait_ms);
} lim_call_t;

typedef struct {
  lim_call_t *ahead, *atail;
  lim_call_t *phead, *ptail;
  size_t len;
} lim_queue_t;

void limits__queue_push(lim_queue_t *q, lim_call_t *c);
void limits__queue_remove(lim_queue_t *q, lim_call_t *c);

/* ---- Provider headers (headers.c) ---- */

typedef struct {
  int64_t req_limit, req_remaining; /* -1: absent */
  int64_t tok_limit, tok_remaining;
  int64_t req_reset_ms, tok_reset_ms; /* from now; -1: absent */
  int64_t retry_after_ms;             /* -1: absent */
} lim_rl_info_t;

/* Reads the rate-limit headers of a response. now_unix_ms is the wall
 * clock (Anthropic's resets are RFC 3339 times). Every value is bounded;
 * malformed values count as absent. */
void limits__headers_parse(const llmrt_header_t *h, size_t n, int64_t now_unix_ms,
                           lim_rl_info_t *out);
/* Parsers, exposed for the tests: -1 on malformed input. */
int64_t limits__parse_duration_ms(const char *s);
int64_t limits__parse_rfc3339_ms(const char *s);
int64_t limits__parse_http_date_ms(const char *s);

/* ---- Shared buckets (redis.c) ---- */

int limits__redis_new(llmrt_plugin_rt_t *prt, const lim_cfg_t *cfg, const char *password,
                      void (*on_ready)(void *arg), void *arg, lim_redis_t **out);
void limits__redis_free(lim_redis_t *r);
/* 1: connected with the script loaded; 0: loading it (on_ready runs when
 * done); -1: Redis unavailable (use the local buckets). */
int limits__redis_usable(lim_redis_t *r);
/* Takes the call's shared buckets (all or nothing). 1: nothing to take
 * (admitted); 0: sent, cb(c, result, wait_ms) runs later with result 1
 * (taken), 0 (not now: wait_ms), -1 (Redis failed) or -2 (script lost,
 * reloading); negative: not sent (use the local buckets). */
int limits__redis_take(lim_redis_t *r, lim_call_t *c, void (*cb)(lim_call_t *, int, uint64_t));
void limits__redis_cancel(lim_call_t *c);
/* Refund (delta > 0) or charge (delta < 0) tokens to the call's shared
 * token buckets; fire and forget. */
void limits__redis_adjust(lim_redis_t *r, const lim_call_t *c, double delta);

/* ---- Token estimate (estimate.c) ---- */

/* The tokens a request's prompt will count, estimated before sending. The
 * one place to switch to an exact counter. */
int64_t limits__estimate_prompt_tokens(const llmrt_request_t *req);

#endif
