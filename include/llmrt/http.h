/* llmrt HTTP/1.1 client: keep-alive connection pool per origin, plain or
 * TLS. The LLM call layer is built on it; it is public so that applications
 * and tests can use the same pooled connections for other requests.
 * Include <llmrt.h>, which includes this header. */
#ifndef LLMRT_HTTP_H
#define LLMRT_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "llmrt/types.h"

typedef struct llmrt_http_s llmrt_http_t;

enum {
  LLMRT_HTTP_GZIP_BODY = 1 << 0,   /* gzip the request body, send Content-Encoding: gzip */
  LLMRT_HTTP_DECOMPRESS = 1 << 1,  /* send Accept-Encoding: gzip, deflate and decode the body */
  LLMRT_HTTP_NO_REUSE = 1 << 2,    /* use a fresh connection and close it afterwards */
};

/* Per-request timeouts in milliseconds. 0 takes the runtime default;
 * LLMRT_HTTP_NO_TIMEOUT disables one. */
#define LLMRT_HTTP_NO_TIMEOUT UINT32_MAX

typedef struct {
  const char *method; /* "GET", "POST", ... */
  const char *url;    /* "http://host[:port]/path?query" or "https://..." */
  const llmrt_header_t *headers; /* copied; Host, Content-Length and
                                    Connection are added by llmrt */
  size_t n_headers;
  /* OWNERSHIP: the body buffers are NOT copied (they go to uv_write as
   * iovecs); they must stay valid until on_done returns. */
  const uv_buf_t *body;
  unsigned n_body;
  unsigned flags; /* LLMRT_HTTP_* */
  /* Caps the connections to this request's origin (scheme, host, port);
   * 0 keeps the runtime's pool_max_per_origin. The latest non-zero value
   * given for an origin applies to it from then on. */
  uint32_t max_connections;
  uint32_t connect_timeout_ms;
  uint32_t tls_timeout_ms;
  uint32_t first_byte_timeout_ms;
  uint32_t idle_timeout_ms;
  uint32_t total_timeout_ms;
} llmrt_http_request_t;

void llmrt_http_request_init(llmrt_http_request_t *req);

/* Limits on a response, besides the runtime's max_header_bytes, max_headers
 * and max_body_bytes: informational responses (100 Continue, 103 Early
 * Hints) are skipped, but at most LLMRT_HTTP_MAX_INFORMATIONAL of them may
 * come before the real head (more: LLMRT_EHEADERCOUNT), and their bytes
 * count against max_header_bytes together with the real head
 * (LLMRT_EHEADERSIZE). Chunk extensions (";name=value" after a chunk size)
 * are ignored, and all of one response's count against max_header_bytes
 * (65536 when it is 0), LLMRT_EHEADERSIZE past it. */
#define LLMRT_HTTP_MAX_INFORMATIONAL 16u

typedef struct {
  /* Status line and headers arrived. Return 0 to go on, or a negative error
   * code to abort the exchange (on_done then gets that code). May be NULL. */
  int (*on_head)(llmrt_http_t *h, int status, const llmrt_header_t *headers, size_t n_headers,
                 void *user);
  /* A piece of the (decoded) body, in order. Same return convention. May be NULL. */
  int (*on_body)(llmrt_http_t *h, const char *data, size_t len, void *user);
  /* Exactly once. status is 0 once the whole response arrived, or a negative
   * error; errmsg (NULL on success) says what and where. */
  void (*on_done)(llmrt_http_t *h, int status, const char *errmsg, void *user);
} llmrt_http_callbacks_t;

/* Starts a request. req is copied except the body buffers (see above).
 * *out (if not NULL) is valid until on_done returns. */
int llmrt_http_request(llmrt_t *rt, const llmrt_http_request_t *req,
                       const llmrt_http_callbacks_t *cbs, void *user, llmrt_http_t **out);

/* Cancels a request: on_done gets LLMRT_ECANCELED (deferred to the next loop
 * turn when called from inside one of its callbacks). Idempotent. The
 * connection is closed, never reused. */
int llmrt_http_cancel(llmrt_http_t *h);

/* Flow control: a slow reader stops the socket instead of buffering.
 *
 * llmrt_http_pause stops delivering the response: once it returns, neither
 * on_head nor on_body runs until llmrt_http_resume, and the connection is no
 * longer read (uv_read_stop), so the kernel's receive buffer fills and the
 * server's writes block: the backpressure reaches the server. It may be
 * called from inside on_head or on_body (the callback's own data counts as
 * delivered; nothing after it is) or from outside any callback, at any point
 * of the request, also before it has a connection (the connection then
 * starts without reading). Pausing a paused request does nothing, and so
 * does pausing or resuming a finished one; both return 0 then.
 *
 * llmrt_http_resume goes on: delivery restarts from a callback on a later
 * loop turn, never inside the caller's stack. Resuming a request that is not
 * paused does nothing and returns 0. A pause before that turn undoes the
 * resume.
 *
 * What was already received when the pause came is kept, in order, and
 * delivered first on resume, no byte lost, repeated or reordered: the rest
 * of the socket read the paused callback came from (copied, so at most one
 * read buffer: 64 KiB, 16 KiB with TLS), records mbedTLS decrypted or
 * buffered (left inside mbedTLS and drained on resume even though the
 * socket has nothing new), and for a decoded body the decompressor's state
 * with the input it had not used (at most one body piece). Memory while
 * paused is bounded by these buffers, whatever the response size.
 *
 * While paused: the first-byte and idle timeouts do not run (the reader is
 * the slow one, not the server) and start afresh on resume; the total
 * timeout still ends the request (on_done with LLMRT_ETIMEDOUT); cancel and
 * llmrt_close work as always. The socket is not read, so a close or reset by
 * the server is seen only after resume, once everything received before it
 * was delivered: a response that arrived complete completes normally (and
 * its connection stays reusable), a cut one fails as it would unpaused. A
 * response whose last byte arrived before the pause completes (on_done) on
 * resume, not while paused.
 *
 * Loop thread only. Returns 0, or LLMRT_EINVAL when h is NULL. */
int llmrt_http_pause(llmrt_http_t *h);
int llmrt_http_resume(llmrt_http_t *h);

/* What happened on the wire for this request; call during or after on_head,
 * up to on_done. Durations in microseconds, 0 when the step did not happen. */
typedef struct {
  int reused;          /* connection came from the pool */
  int tls;             /* connection is TLS */
  int tls_resumed;     /* TLS session was resumed */
  int retried_stale;   /* first try hit a dead keep-alive connection: it failed
                          with no response byte while the request was being
                          written or within max(250 ms, 4 x connect time)
                          after; a later failure is reported, never resent */
  uint64_t queued_us;  /* waited for a free connection slot */
  uint64_t dns_us;
  uint64_t connect_us;
  uint64_t tls_us;
  uint64_t first_byte_us; /* from the start of the request */
} llmrt_http_info_t;

void llmrt_http_info(const llmrt_http_t *h, llmrt_http_info_t *out);

/* Opens n connections to the origin of `url` ahead of traffic (up to the
 * per-origin maximum), so the first calls skip DNS, connect and TLS. done
 * (may be NULL) runs once with the number opened, or a negative error if none
 * could be opened. */
int llmrt_http_prewarm(llmrt_t *rt, const char *url, unsigned n,
                       void (*done)(llmrt_t *rt, int status, void *user), void *user);

typedef struct {
  uint64_t opened;      /* connections opened */
  uint64_t reused;      /* requests served on a pooled connection */
  uint64_t closed;      /* connections closed */
  uint64_t handshakes;  /* TLS handshakes completed */
  uint64_t resumed;     /* of which resumed sessions */
  uint64_t stale_retries; /* requests retried after a dead keep-alive connection */
  uint32_t active;      /* connections carrying a request now */
  uint32_t idle;        /* connections in the pool now */
  uint32_t queued;      /* requests waiting for a connection now */
} llmrt_pool_stats_t;

/* Statistics for one origin (url's scheme, host and port), or summed over
 * all origins when url is NULL. Returns LLMRT_EINVAL on a malformed url. */
int llmrt_pool_stats(llmrt_t *rt, const char *url, llmrt_pool_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
