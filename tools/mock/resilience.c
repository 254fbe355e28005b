/* Mock controls for the resilience plugins (retry, route, breaker): what an
 * error answer says about retrying (retry-after-ms, Retry-After as an HTTP
 * date, x-should-retry), context-length errors and content-policy refusals
 * in each provider's exact format, a deterministic share of failing
 * requests, and a record of one request header (an idempotency key) for
 * every request. Kept apart from the other controls so they merge cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock_internal.h"

#define REC_MAX 1024

void mock__resil_ctl_init(mock_resil_ctl_t *c) {
  memset(c, 0, sizeof *c);
  c->retry_after_ms = -1;
  c->retry_after_date = -1;
  c->should_retry = -1;
}

static int num(const char *v, size_t n, long long lo, long long hi, long long *out) {
  char tmp[24];
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, v, n);
  tmp[n] = '\0';
  char *end;
  long long x = strtoll(tmp, &end, 10);
  if (*end || x < lo || x > hi) return -1;
  *out = x;
  return 0;
}

#define RKEY(s) (klen == sizeof(s) - 1 && memcmp(k, s, klen) == 0)

int mock__resil_apply(mock_resil_ctl_t *c, const char *k, size_t klen, const char *v, size_t vlen,
                      int *rc) {
  long long x;
  *rc = 0;
  if (RKEY("retry_after_ms")) {
    if (num(v, vlen, -1, 86400000, &x))
      *rc = LLMRT_EINVAL;
    else
      c->retry_after_ms = (int32_t)x;
  } else if (RKEY("retry_after_date")) {
    if (num(v, vlen, -1, 86400, &x))
      *rc = LLMRT_EINVAL;
    else
      c->retry_after_date = (int32_t)x;
  } else if (RKEY("date_form")) {
    if (vlen == 3 && !memcmp(v, "imf", 3))
      c->date_form = 0;
    else if (vlen == 6 && !memcmp(v, "rfc850", 6))
      c->date_form = 1;
    else if (vlen == 7 && !memcmp(v, "asctime", 7))
      c->date_form = 2;
    else
      *rc = LLMRT_EINVAL;
  } else if (RKEY("should_retry")) {
    if (vlen == 4 && !memcmp(v, "true", 4))
      c->should_retry = 1;
    else if (vlen == 5 && !memcmp(v, "false", 5))
      c->should_retry = 0;
    else
      *rc = LLMRT_EINVAL;
  } else if (RKEY("context_limit")) {
    if (num(v, vlen, 0, 100000000, &x))
      *rc = LLMRT_EINVAL;
    else
      c->context_limit = x;
  } else if (RKEY("fail_rate")) {
    if (num(v, vlen, 0, 100, &x))
      *rc = LLMRT_EINVAL;
    else
      c->fail_rate = (int32_t)x;
  } else if (RKEY("refuse")) {
    if (num(v, vlen, 0, 1, &x))
      *rc = LLMRT_EINVAL;
    else
      c->refuse = (int)x;
  } else {
    return 0;
  }
  return 1;
}

static void record(llmrt_mock_t *m, llmrt__sreq_t *r) {
  mock_resil_t *s = &m->resil;
  if (!s->rec_name) return;
  const char *v = llmrt__sreq_header(r, s->rec_name);
  char *copy = llmrt__strdup(v ? v : "");
  if (!copy) return; /* out of memory: this one is not recorded */
  if (s->n_rec == REC_MAX) {
    llmrt__free(s->rec[0]);
    memmove(s->rec, s->rec + 1, (REC_MAX - 1) * sizeof *s->rec);
    s->n_rec--;
  }
  s->rec[s->n_rec++] = copy;
}

void mock__resil_request(llmrt_mock_t *m, llmrt__sreq_t *r, mock_ctl_t *c) {
  uint64_t k = ++m->resil.count;
  record(m, r);
  if (c->rs.fail_rate > 0) {
    /* Request k fails when k * rate / 100 passes an integer: exactly
     * rate % of every 100 requests, spread evenly, the same every run. */
    uint64_t p = (uint64_t)c->rs.fail_rate;
    int fails = (k * p) / 100 != ((k - 1) * p) / 100;
    if (!fails) {
      c->status = 0;
      c->fault = MOCK_FAULT_NONE;
    } else if (!c->status && !c->fault) {
      /* No status given: alternate a rate limit and an overload. */
      c->status = ((k * p) / 100) % 2 ? 429 : 503;
    }
  }
}

size_t mock__resil_error_headers(const mock_resil_ctl_t *c, llmrt_header_t *h, char *buf,
                                 size_t buflen) {
  size_t n = 0, o = 0;
  if (c->retry_after_ms >= 0 && o + 16 < buflen) {
    h[n].name = "retry-after-ms";
    h[n++].value = buf + o;
    o += (size_t)snprintf(buf + o, buflen - o, "%d", (int)c->retry_after_ms) + 1;
  }
  if (c->retry_after_date >= 0 && o + 40 < buflen) {
    /* The three forms of RFC 9110 5.6.7, in GMT (the C locale's names). */
    static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
    time_t t = time(NULL) + c->retry_after_date;
    struct tm tm;
    gmtime_r(&t, &tm);
    h[n].name = "Retry-After";
    h[n++].value = buf + o;
    o += strftime(buf + o, buflen - o, forms[c->date_form], &tm) + 1;
  }
  if (c->should_retry >= 0) {
    h[n].name = "x-should-retry";
    h[n++].value = c->should_retry ? "true" : "false";
  }
  return n;
}

/* The bodies the real APIs send (OpenAI's context_length_exceeded and
 * content_policy_violation; Anthropic's "prompt is too long"). */
int mock__resil_answer(mock_ex_t *ex) {
  const mock_resil_ctl_t *c = &ex->ctl.rs;
  llmrt_mock_t *m = ex->m;
  char msg[256];
  const char *body_fmt;
  if (c->context_limit > 0 && ex->input_tokens > c->context_limit) {
    if (ex->api == MOCK_API_OPENAI) {
      snprintf(msg, sizeof msg,
               "This model's maximum context length is %lld tokens. However, your messages "
               "resulted in %lld tokens. Please reduce the length of the messages.",
               (long long)c->context_limit, (long long)ex->input_tokens);
      body_fmt = "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"param\":"
                 "\"messages\",\"code\":\"context_length_exceeded\"}}";
    } else {
      snprintf(msg, sizeof msg, "prompt is too long: %lld tokens > %lld maximum",
               (long long)ex->input_tokens, (long long)c->context_limit);
      body_fmt = "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                 "\"%s\"}}";
    }
  } else if (c->refuse) {
    if (ex->api == MOCK_API_OPENAI) {
      snprintf(msg, sizeof msg, "Your request was rejected as a result of our safety system.");
      body_fmt = "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"param\":"
                 "null,\"code\":\"content_policy_violation\"}}";
    } else {
      snprintf(msg, sizeof msg, "Output blocked by content filtering policy");
      body_fmt = "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                 "\"%s\"}}";
    }
  } else {
    return 0;
  }
  char body[512], rid[40];
  int len = snprintf(body, sizeof body, body_fmt, msg);
  snprintf(rid, sizeof rid, "req_mock%016llx", (unsigned long long)++m->seq);
  llmrt_header_t h[2] = {{"Content-Type", "application/json"}, {ex->fmt->request_id_header, rid}};
  m->st.errors++;
  m->st.faults++;
  llmrt__sreq_respond(ex->r, 400, h, 2, body, (size_t)len);
  return 1;
}

void mock__resil_free(mock_resil_t *s) {
  for (size_t i = 0; i < s->n_rec; i++)
    llmrt__free(s->rec[i]);
  llmrt__free(s->rec);
  llmrt__free(s->rec_name);
  memset(s, 0, sizeof *s);
}

int llmrt_mock_record_header(llmrt_mock_t *m, const char *name) {
  uint64_t count = m->resil.count;
  mock__resil_free(&m->resil);
  m->resil.count = count;
  if (!name) return 0;
  m->resil.rec_name = llmrt__strdup(name);
  m->resil.rec = llmrt__calloc(REC_MAX, sizeof *m->resil.rec);
  if (!m->resil.rec_name || !m->resil.rec) {
    mock__resil_free(&m->resil);
    m->resil.count = count;
    return LLMRT_ENOMEM;
  }
  return 0;
}

size_t llmrt_mock_n_recorded(const llmrt_mock_t *m) {
  return m->resil.n_rec;
}

const char *llmrt_mock_recorded(const llmrt_mock_t *m, size_t i) {
  return i < m->resil.n_rec ? m->resil.rec[i] : NULL;
}
