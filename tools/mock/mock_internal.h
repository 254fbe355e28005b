/* Internals of the mock upstream, shared by its files:
 *   mock.c      server glue: start/stop, routing, auth, request parsing
 *   exchange.c  one answer over time: timers, streaming, faults, gzip
 *   controls.c  the x-mock control syntax and fail_first bookkeeping
 *   gen.c       deterministic text, tokenization, tool-call arguments
 *   fmt_openai.c, fmt_anthropic.c   the wire formats of each provider */
#ifndef LLMRT_MOCK_INTERNAL_H
#define LLMRT_MOCK_INTERNAL_H

#include <cjson/cJSON.h>
#include <zlib.h>

#include "core/core.h"
#include "http/server.h"
#include "llmrt_mock.h"

/* ---- Controls ------------------------------------------------------------ */

/* Controls for retry, route and breaker tests (resilience.c): what an error
 * answer says about retrying, context-length errors, a deterministic share
 * of failing requests. */
typedef struct {
  int32_t retry_after_ms;   /* retry-after-ms header on error answers; -1: none */
  int32_t retry_after_date; /* Retry-After as an HTTP date this many seconds ahead; -1: none */
  int date_form;            /* that date's form: 0 IMF-fixdate, 1 RFC 850, 2 asctime */
  int should_retry;         /* x-should-retry on error answers: -1 none, 0 false, 1 true */
  int64_t context_limit;    /* > 0: requests with more input tokens get a context-length error */
  int32_t fail_rate;        /* percent of requests failing (by request count); 0: none */
  int refuse;               /* answer with a content-policy refusal (400) */
} mock_resil_ctl_t;

enum {
  MOCK_FAULT_NONE = 0,
  MOCK_FAULT_RESET,     /* TCP reset after `after` tokens */
  MOCK_FAULT_STALL,     /* send nothing more, keep the connection open */
  MOCK_FAULT_MALFORMED, /* an SSE data line with invalid JSON */
  MOCK_FAULT_TRUNCATE,  /* end the HTTP response cleanly without the final events */
  MOCK_FAULT_EOF,       /* close the connection (FIN) mid-body */
  MOCK_FAULT_ERROR,     /* a provider error event mid-stream */
};

typedef struct {
  uint32_t ttft_ms, token_ms, head_ms;
  int32_t tokens;      /* -1: unset */
  char *text;          /* fixed answer (percent-decoded), or NULL */
  int echo;            /* answer with the last user message */
  char *tool;          /* answer with a call of this tool ("" = first in request) */
  int lang;            /* 0: English words, 1: Chinese (with an emoji now and then) */
  int status;          /* answer with this error status (0: none) */
  int32_t retry_after; /* seconds for Retry-After (-1: no header) */
  int fault;           /* MOCK_FAULT_* */
  int32_t after;       /* tokens sent before the fault (-1: half of them) */
  int32_t fail_first;  /* faults and status apply to the first N matching requests (0: all) */
  int gzip;            /* -1: non-streamed bodies when accepted; 0: never; 1: streams too */
  int64_t seed;        /* -1: derived from model and messages */
  int32_t cached;      /* cached input tokens to report */
  int32_t chunk_bytes; /* >0: send the body in pieces of this size, one per loop turn */
  mock_resil_ctl_t rs; /* resilience controls (resilience.c) */
  int64_t rl_rpm, rl_tpm; /* simulated rate limit per key (ratelimit.c); 0: none */
  uint32_t rl_window_ms;  /* the limits' window; 0: a minute */
} mock_ctl_t;

void mock__ctl_init(mock_ctl_t *c);
void mock__ctl_free(mock_ctl_t *c);
/* Deep copy (the strings); LLMRT_ENOMEM leaves dst initialised and empty. */
int mock__ctl_copy(mock_ctl_t *dst, const mock_ctl_t *src);
/* Applies "k=v,k=v" on top of c. Returns 0 or LLMRT_EINVAL with a message. */
int mock__ctl_parse(mock_ctl_t *c, const char *spec, char *err, size_t errlen);

/* How many times a control string was seen (for fail_first); 1 on first use. */
typedef struct {
  uint64_t *keys;
  uint32_t *counts;
  size_t n, cap;
} mock_seen_t;

uint32_t mock__seen_bump(mock_seen_t *s, const char *key);
void mock__seen_free(mock_seen_t *s);

/* ---- Simulated rate limit (ratelimit.c) ------------------------------------ */

#define MOCK_RL_MAX_HEADERS 6
typedef struct mock_rl_s mock_rl_t;
typedef struct mock_fmt_s mock_fmt_t;
/* The rate-limit headers of one answer. */
typedef struct {
  llmrt_header_t h[MOCK_RL_MAX_HEADERS];
  char v[MOCK_RL_MAX_HEADERS][64];
  size_t n;
} mock_rl_head_t;

/* A control of the rate limit: 1 applied, 0 not one of them, -1 bad value. */
int mock__rl_apply(mock_ctl_t *c, const char *k, size_t klen, const char *v, size_t vlen);
/* Charges one request of `tokens` to key's buckets and fills out with the
 * headers to send. 0: admitted; 1: limited (*retry_ms set; answer with
 * mock__rl_respond_429). */
int mock__rl_charge(llmrt_mock_t *m, const mock_ctl_t *c, int api, const char *key, int64_t tokens,
                    mock_rl_head_t *out, uint64_t *retry_ms);
size_t mock__rl_append(const mock_rl_head_t *rl, llmrt_header_t *h, size_t n);
void mock__rl_respond_429(llmrt_mock_t *m, llmrt__sreq_t *r, const mock_fmt_t *fmt,
                          const mock_rl_head_t *rl, uint64_t retry_ms);
/* Forgets every key's buckets. */
void mock__rl_reset(llmrt_mock_t *m);

/* ---- Text generation ------------------------------------------------------ */

typedef struct {
  llmrt__buf_t text; /* the whole answer (or tool arguments) */
  size_t *ends;      /* end offset of token i */
  size_t n, cap;
} mock_tokens_t;

void mock__tokens_free(mock_tokens_t *t);
/* Deterministic words from seed: n tokens. */
int mock__gen_words(mock_tokens_t *t, uint64_t seed, int n, int lang);
/* Splits text into tokens (words with their leading space; non-ASCII in
 * runs of at most two characters; never inside a UTF-8 sequence). */
int mock__gen_split(mock_tokens_t *t, const char *text, size_t len);
/* Tool-call arguments JSON from seed, split into small fragments. */
int mock__gen_tool_args(mock_tokens_t *t, uint64_t seed);
uint64_t mock__fnv1a(uint64_t h, const void *p, size_t n);

/* JSON string literal (quotes included) for UTF-8 text. */
int mock__json_str(llmrt__buf_t *b, const char *s, size_t len);

/* ---- One exchange ---------------------------------------------------------- */

enum { MOCK_API_OPENAI = 0, MOCK_API_ANTHROPIC = 1 };
enum { MOCK_FIN_STOP = 0, MOCK_FIN_LENGTH, MOCK_FIN_TOOL };

typedef struct mock_ex_s mock_ex_t;

/* What resilience.c keeps per mock: the request count for fail_rate and the
 * recorded values of one request header. */
typedef struct {
  uint64_t count;  /* chat requests seen (fail_rate) */
  char *rec_name;  /* the header recorded, or NULL */
  char **rec;      /* one value per chat request ("" when absent), oldest first */
  size_t n_rec;
} mock_resil_t;

/* A provider's wire format. Each function appends to out. */
struct mock_fmt_s {
  const char *name;
  int (*error_body)(llmrt__buf_t *out, int status, const char *msg);
  int (*full)(llmrt__buf_t *out, const mock_ex_t *ex);
  int (*stream_start)(llmrt__buf_t *out, const mock_ex_t *ex);
  int (*stream_token)(llmrt__buf_t *out, const mock_ex_t *ex, const char *tok, size_t len);
  int (*stream_finish)(llmrt__buf_t *out, const mock_ex_t *ex);
  int (*stream_error)(llmrt__buf_t *out, const mock_ex_t *ex);
  int (*stream_malformed)(llmrt__buf_t *out, const mock_ex_t *ex);
  const char *request_id_header; /* "x-request-id" / "request-id" */
};

extern const mock_fmt_t mock__fmt_openai;
extern const mock_fmt_t mock__fmt_anthropic;

struct llmrt_mock_s {
  uv_loop_t *loop;
  llmrt_t *rt;
  llmrt__server_t *srv;
  llmrt_mock_options_t o;
  char *controls;  /* default controls string (copy) */
  mock_ctl_t dflt; /* parsed defaults */
  mock_seen_t seen;
  mock_rl_t *rl; /* simulated rate limit state, or NULL */
  char url[96];
  uint16_t port;
  llmrt_mock_stats_t st;
  llmrt__buf_t last_body;
  llmrt__buf_t last_head; /* name\0value\0 pairs */
  char last_path[256];
  uint64_t seq; /* request counter, for ids */
  mock_resil_t resil;
  int stopping;
  void (*stop_cb)(llmrt_mock_t *, void *);
  void *stop_user;
};

struct mock_ex_s {
  llmrt_mock_t *m;
  llmrt__sreq_t *r;
  const mock_fmt_t *fmt;
  int api;
  mock_ctl_t ctl;
  char id[48];
  char req_id[48]; /* x-request-id / request-id header */
  char tool_id[48];
  char *model;
  char *tool_name;
  int64_t created;
  int stream, include_usage;
  int64_t input_tokens;
  int finish; /* MOCK_FIN_* */
  mock_tokens_t tok;
  size_t sent; /* tokens sent */
  size_t fault_at;
  int phase;
  int gz;
  z_stream z;
  uv_timer_t timer;
  uv_idle_t pump;    /* chunk_bytes: sends one piece of `rest` per loop turn */
  llmrt__buf_t rest; /* chunk_bytes: bytes still to send */
  size_t rest_off;
  int after_rest;    /* what to do once rest is sent: 0, END, EOF or RESET */
  int handles;       /* open handles; ex is freed when the last one closed */
  llmrt__buf_t out;  /* one event or body being built */
  llmrt__buf_t zout; /* compressed */
  int done;          /* the server side of the exchange is finished */
  /* Backpressure: the token loop or the pump waits for the client to read
   * (the server's drain callback) once MOCK_HIGH_WATER is queued. */
  int tokens_blocked;
  int pump_blocked;
  /* fault=reset waits for the server's queue to drain, so the tokens before
   * the fault reach the client before the RST. */
  int reset_blocked;
  mock_rl_head_t rlh; /* rate-limit headers of this answer */
};

/* Bytes of an answer queued and not yet taken by the kernel above which the
 * mock stops producing until the client reads. */
#define MOCK_HIGH_WATER (64 * 1024)

/* fault=reset: how long after the server's queue drained the mock waits
 * before the reset, so the kernel sends what it still holds (on loopback
 * that takes microseconds; the reset would discard it). */
#define MOCK_RESET_GRACE_MS 20

/* Starts answering (mock.c validated the request and filled ex). Takes
 * ownership of ex. */
void mock__ex_run(mock_ex_t *ex);
/* Answers at once with the provider's error JSON and finishes r. */
void mock__respond_error(llmrt_mock_t *m, llmrt__sreq_t *r, const mock_fmt_t *fmt, int status,
                         const char *msg, int32_t retry_after);

/* ---- Resilience controls (resilience.c) ---- */
void mock__resil_ctl_init(mock_resil_ctl_t *c);
/* Applies one control key; 1 if it was one of ours (0 on success in *rc). */
int mock__resil_apply(mock_resil_ctl_t *c, const char *k, size_t klen, const char *v, size_t vlen,
                      int *rc);
/* After the controls are known: counts the request, records the header,
 * and turns on the failure fail_rate asks for. */
void mock__resil_request(llmrt_mock_t *m, llmrt__sreq_t *r, mock_ctl_t *c);
/* 1 when the request was answered here (context length, refusal). */
int mock__resil_answer(mock_ex_t *ex);
/* Extra headers of an error answer (retry-after-ms, Retry-After date,
 * x-should-retry) into h (room for 3), with their text in buf. */
size_t mock__resil_error_headers(const mock_resil_ctl_t *c, llmrt_header_t *h, char *buf,
                                 size_t buflen);
void mock__resil_free(mock_resil_t *s);
/* Like mock__respond_error, with extra headers. */
void mock__respond_error_h(llmrt_mock_t *m, llmrt__sreq_t *r, const mock_fmt_t *fmt, int status,
                           const char *msg, int32_t retry_after, const llmrt_header_t *extra,
                           size_t n_extra);

/* Common pieces of both formats. */
const char *mock__finish_name(int api, int finish);
int64_t mock__output_tokens(const mock_ex_t *ex);

#endif
