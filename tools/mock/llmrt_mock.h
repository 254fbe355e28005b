/* The llmrt mock LLM upstream: an HTTP/1.1 server on loopback that speaks
 * OpenAI Chat Completions (POST /v1/chat/completions) and Anthropic Messages
 * (POST /v1/messages), streamed (SSE) or not, with deterministic answers,
 * configurable pacing and injectable faults. Used by the tests, the
 * benchmarks, `llmrt mock`, `llmrt demo` and `llmrt chat --mock`.
 *
 * Every control is described in tools/mock/README.md. All functions run on
 * the loop's thread. */
#ifndef LLMRT_MOCK_H
#define LLMRT_MOCK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "llmrt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llmrt_mock_s llmrt_mock_t;
typedef struct llmrt_mock_request_s llmrt_mock_request_t;

typedef struct {
  const char *host;     /* literal address to bind; NULL: "127.0.0.1" */
  uint16_t port;        /* 0: an ephemeral port (see llmrt_mock_port) */
  const char *tls_cert; /* PEM files: both set serves https */
  const char *tls_key;
  uint32_t ttft_ms;  /* time to first token (default 0) */
  uint32_t token_ms; /* delay between tokens (default 0) */
  int32_t tokens;    /* answer length in tokens; 0: 32 (capped by max_tokens) */
  /* Further defaults for every request, in the x-mock header syntax
   * ("fault=reset,after=3,fail_first=1"); a request's own x-mock header is
   * applied on top. NULL: none. Copied. */
  const char *controls;
  int log_requests; /* 1: one line per request on stderr */
  /* Called for every complete request as it arrives, before it is answered,
   * on the loop's thread: what a test wants to check of what its program
   * sent, and what `llmrt mock -v` prints. NULL: none. */
  void (*on_request)(const llmrt_mock_request_t *req, void *user);
  void *on_request_user;
} llmrt_mock_options_t;

/* A request as the mock received it, for on_request. Everything is valid
 * only during the callback. The headers hold credentials (Authorization,
 * x-api-key) as sent: redact them before logging. */
struct llmrt_mock_request_s {
  const char *method; /* "POST" */
  const char *path;   /* "/v1/chat/completions", without the query */
  const char *peer;   /* "127.0.0.1:51234" */
  const llmrt_header_t *headers;
  size_t n_headers;
  const char *body; /* decoded if it came gzipped; not NUL-terminated */
  size_t body_len;
};

void llmrt_mock_options_init(llmrt_mock_options_t *o);

/* Starts the mock on loop (it makes its own llmrt runtime on that loop).
 * Returns 0 or a negative llmrt/libuv error code (UV_EADDRINUSE, a TLS
 * error for unreadable certificates...); a message says what and where on
 * stderr. opts is copied. After a failure past the runtime's creation, the
 * half-started mock frees itself on the loop: run the loop before closing it. */
int llmrt_mock_start(uv_loop_t *loop, const llmrt_mock_options_t *opts, llmrt_mock_t **out);

uint16_t llmrt_mock_port(const llmrt_mock_t *m);
/* "http://127.0.0.1:PORT/v1" (https with TLS): a base_url for either API.
 * Valid until the mock is freed. */
const char *llmrt_mock_url(const llmrt_mock_t *m);

typedef struct {
  uint64_t connections; /* accepted (after the TLS handshake) */
  uint64_t requests;    /* complete requests received, any path */
  uint64_t completions; /* answered with 200 (streamed or not) */
  uint64_t streams;     /* of which streamed */
  uint64_t errors;      /* answered with a 4xx/5xx */
  uint64_t faults;      /* faults injected (status, reset, stall, ...) */
  uint64_t aborted;     /* exchanges the client (or stop) cut short */
  uint64_t tokens;      /* content tokens sent */
  uint32_t active;      /* exchanges in progress now */
  uint32_t active_max;  /* the most exchanges ever in progress at once */
  uint64_t rate_limited; /* answered 429 by the simulated rate limit (rl_rpm, rl_tpm) */
} llmrt_mock_stats_t;

void llmrt_mock_stats(const llmrt_mock_t *m, llmrt_mock_stats_t *out);

/* The body of the last request received (decoded if it came gzipped),
 * NUL-terminated; "" before the first. Valid until the next request. */
const char *llmrt_mock_last_body(const llmrt_mock_t *m);
/* A header of the last request (case-insensitive), NULL if absent. */
const char *llmrt_mock_last_header(const llmrt_mock_t *m, const char *name);
/* The path of the last request ("/v1/chat/completions"), "" before the first. */
const char *llmrt_mock_last_path(const llmrt_mock_t *m);

/* Records the value of request header `name` (case-insensitive) of every
 * chat request from now on, "" for a request without it (the last 1024 are
 * kept; an idempotency key, say). NULL stops recording. Forgets what was
 * recorded. Returns 0 or LLMRT_ENOMEM. */
int llmrt_mock_record_header(llmrt_mock_t *m, const char *name);
/* How many values are recorded, and value i (0 is the oldest kept), NULL
 * past the end. Valid until the next request or llmrt_mock_record_header. */
size_t llmrt_mock_n_recorded(const llmrt_mock_t *m);
const char *llmrt_mock_recorded(const llmrt_mock_t *m, size_t i);

/* Replaces the default controls (same syntax as the x-mock header; NULL
 * clears them) and forgets the fail_first counts. Copied. Returns 0, or
 * LLMRT_EINVAL (-20002) for a malformed string (nothing changes). */
int llmrt_mock_set_controls(llmrt_mock_t *m, const char *controls);

/* Stops listening, cuts every exchange in progress, closes every connection
 * and the mock's runtime, then calls cb (may be NULL) and frees the mock.
 * Safe from inside any callback on the loop. Calling it twice is a no-op. */
void llmrt_mock_stop(llmrt_mock_t *m, void (*cb)(llmrt_mock_t *m, void *user), void *user);

#ifdef __cplusplus
}
#endif
#endif
