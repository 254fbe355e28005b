/* The mock's simulated provider rate limit: per API key, a requests bucket
 * and a tokens bucket that refill continuously (rl_rpm and rl_tpm per
 * rl_window_ms, a minute by default), as OpenAI and Anthropic describe their
 * own limits. Every answer to a chat request carries the provider's
 * rate-limit headers (x-ratelimit-* for OpenAI, anthropic-ratelimit-* for
 * Anthropic); a request that does not fit is answered 429 with Retry-After
 * (whole seconds, rounded up) and retry-after-ms.
 *
 * A request costs one request and its input tokens plus the tokens of the
 * answer it is about to get, charged when it arrives. Kept apart from
 * controls.c so other controls can grow without touching this file. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock_internal.h"

#define RL_MAX_KEYS 1024

typedef struct {
  uint64_t key;    /* FNV-1a of the API key: the mock keeps no key */
  double req, tok; /* levels of the two buckets */
  uint64_t t_ms;   /* loop time of the last refill */
} rl_entry_t;

struct mock_rl_s {
  rl_entry_t e[RL_MAX_KEYS];
  size_t n;
};

#define KEY(s) (klen == sizeof(s) - 1 && memcmp(k, s, klen) == 0)

static int num(const char *v, size_t n, long long hi, long long *out) {
  char tmp[24];
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, v, n);
  tmp[n] = '\0';
  char *end;
  long long x = strtoll(tmp, &end, 10);
  if (*end || x < 0 || x > hi) return -1;
  *out = x;
  return 0;
}

int mock__rl_apply(mock_ctl_t *c, const char *k, size_t klen, const char *v, size_t vlen) {
  long long x;
  if (KEY("rl_rpm")) {
    if (num(v, vlen, 1000000000, &x)) return -1;
    c->rl_rpm = x;
  } else if (KEY("rl_tpm")) {
    if (num(v, vlen, 100000000000LL, &x)) return -1;
    c->rl_tpm = x;
  } else if (KEY("rl_window_ms")) {
    if (num(v, vlen, 86400000, &x) || x == 0) return -1;
    c->rl_window_ms = (uint32_t)x;
  } else {
    return 0;
  }
  return 1;
}

void mock__rl_reset(llmrt_mock_t *m) {
  llmrt__free(m->rl);
  m->rl = NULL;
}

static rl_entry_t *entry(llmrt_mock_t *m, uint64_t key, const mock_ctl_t *c, uint64_t now) {
  if (!m->rl && !(m->rl = llmrt__calloc(1, sizeof *m->rl))) return NULL;
  mock_rl_t *t = m->rl;
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].key == key) return &t->e[i];
  if (t->n == RL_MAX_KEYS) t->n = 0; /* bounded: forget every key rather than grow */
  rl_entry_t *e = &t->e[t->n++];
  e->key = key;
  e->req = (double)c->rl_rpm;
  e->tok = (double)c->rl_tpm;
  e->t_ms = now;
  return e;
}

/* Go's time.Duration text, as OpenAI sends it: "20ms", "1.5s", "6m0s". */
static void fmt_duration(char *out, size_t n, double ms) {
  if (ms < 1000)
    snprintf(out, n, "%dms", (int)ceil(ms));
  else if (ms < 60000)
    snprintf(out, n, "%gs", ceil(ms) / 1000);
  else
    snprintf(out, n, "%dm%gs", (int)(ms / 60000), ceil(fmod(ms, 60000)) / 1000);
}

/* RFC 3339 in UTC with milliseconds, as Anthropic's reset headers (which
 * carry whole seconds; the fraction is valid RFC 3339 and lets short test
 * windows be exact). */
static void fmt_rfc3339(char *out, size_t n, double ms_from_now) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t at =
      (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + (uint64_t)ceil(ms_from_now);
  time_t s = (time_t)(at / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(at % 1000));
}

static void put(mock_rl_head_t *o, const char *name, const char *fmt_num, double v) {
  if (o->n >= MOCK_RL_MAX_HEADERS) return;
  snprintf(o->v[o->n], sizeof o->v[o->n], fmt_num, v);
  o->h[o->n].name = name;
  o->h[o->n].value = o->v[o->n];
  o->n++;
}

static void put_reset(mock_rl_head_t *o, int api, const char *name, double ms) {
  if (o->n >= MOCK_RL_MAX_HEADERS) return;
  if (api == MOCK_API_OPENAI)
    fmt_duration(o->v[o->n], sizeof o->v[o->n], ms);
  else
    fmt_rfc3339(o->v[o->n], sizeof o->v[o->n], ms);
  o->h[o->n].name = name;
  o->h[o->n].value = o->v[o->n];
  o->n++;
}

int mock__rl_charge(llmrt_mock_t *m, const mock_ctl_t *c, int api, const char *key, int64_t tokens,
                    mock_rl_head_t *out, uint64_t *retry_ms) {
  out->n = 0;
  *retry_ms = 0;
  if (!c->rl_rpm && !c->rl_tpm) return 0;
  uint64_t now = uv_now(m->loop);
  double win = c->rl_window_ms ? c->rl_window_ms : 60000;
  rl_entry_t *e = entry(m, mock__fnv1a(1469598103934665603ULL, key, strlen(key)), c, now);
  if (!e) return 0; /* out of memory: no limit rather than a wrong 429 */
  double rrate = (double)c->rl_rpm / win, trate = (double)c->rl_tpm / win;
  double dt = (double)(now - e->t_ms);
  e->t_ms = now;
  e->req = fmin((double)c->rl_rpm, e->req + dt * rrate);
  e->tok = fmin((double)c->rl_tpm, e->tok + dt * trate);
  int ok = 1;
  double wait = 0;
  if (c->rl_rpm && e->req < 1) {
    ok = 0;
    wait = fmax(wait, (1 - e->req) / rrate);
  }
  if (c->rl_tpm && e->tok < (double)tokens) {
    ok = 0;
    wait = fmax(wait, (double)tokens > c->rl_tpm ? win : ((double)tokens - e->tok) / trate);
  }
  if (ok) {
    if (c->rl_rpm) e->req -= 1;
    if (c->rl_tpm) e->tok -= (double)tokens;
  } else {
    *retry_ms = (uint64_t)ceil(wait);
    if (*retry_ms == 0) *retry_ms = 1;
    m->st.rate_limited++;
  }
  int oa = api == MOCK_API_OPENAI;
  if (c->rl_rpm) {
    double rem = floor(fmax(e->req, 0));
    put(out, oa ? "x-ratelimit-limit-requests" : "anthropic-ratelimit-requests-limit", "%.0f",
        (double)c->rl_rpm);
    put(out, oa ? "x-ratelimit-remaining-requests" : "anthropic-ratelimit-requests-remaining",
        "%.0f", rem);
    put_reset(out, api, oa ? "x-ratelimit-reset-requests" : "anthropic-ratelimit-requests-reset",
              ((double)c->rl_rpm - e->req) / rrate);
  }
  if (c->rl_tpm) {
    double rem = floor(fmax(e->tok, 0));
    put(out, oa ? "x-ratelimit-limit-tokens" : "anthropic-ratelimit-tokens-limit", "%.0f",
        (double)c->rl_tpm);
    put(out, oa ? "x-ratelimit-remaining-tokens" : "anthropic-ratelimit-tokens-remaining", "%.0f",
        rem);
    put_reset(out, api, oa ? "x-ratelimit-reset-tokens" : "anthropic-ratelimit-tokens-reset",
              ((double)c->rl_tpm - e->tok) / trate);
  }
  return ok ? 0 : 1;
}

size_t mock__rl_append(const mock_rl_head_t *rl, llmrt_header_t *h, size_t n) {
  for (size_t i = 0; i < rl->n; i++)
    h[n++] = rl->h[i];
  return n;
}

void mock__rl_respond_429(llmrt_mock_t *m, llmrt__sreq_t *r, const mock_fmt_t *fmt,
                          const mock_rl_head_t *rl, uint64_t retry_ms) {
  llmrt__buf_t body;
  char ra[24], ram[24], rid[40];
  llmrt__buf_init(&body);
  snprintf(rid, sizeof rid, "req_mock%016llx", (unsigned long long)++m->seq);
  snprintf(ra, sizeof ra, "%llu", (unsigned long long)((retry_ms + 999) / 1000));
  snprintf(ram, sizeof ram, "%llu", (unsigned long long)retry_ms);
  llmrt_header_t h[4 + MOCK_RL_MAX_HEADERS] = {{"Content-Type", "application/json"},
                                               {fmt->request_id_header, rid},
                                               {"Retry-After", ra},
                                               {"retry-after-ms", ram}};
  size_t n = mock__rl_append(rl, h, 4);
  m->st.errors++;
  if (m->o.log_requests)
    fprintf(stderr, "mock: %s %s %s -> 429 (simulated rate limit)\n", llmrt__sreq_peer(r),
            llmrt__sreq_method(r), llmrt__sreq_path(r));
  if (fmt->error_body(&body, 429, "Rate limit reached (simulated by the mock).") != 0)
    llmrt__sreq_abort(r, 0);
  else
    llmrt__sreq_respond(r, 429, h, n, body.data, body.len);
  llmrt__buf_free(&body);
}
