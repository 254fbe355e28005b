/* Internal HTTP/1.1 server: a listener on host:port, connections wrapped by
 * the transport (plain or TLS), requests parsed with llhttp, keep-alive, and
 * responses that are either whole (status, headers, body) or streamed with
 * chunked transfer encoding. The mock upstream and the OpenAI-compatible
 * gateway are built on it.
 *
 * Model: one exchange (request + response) at a time per connection. When a
 * request is complete the handler's on_request runs with an exchange object
 * `r`; the handler answers now or later (timers, upstream calls) with
 * llmrt__sreq_respond(), or llmrt__sreq_start() + _write()* + _end(), or
 * llmrt__sreq_abort(). After one of those finishes the exchange, `r` must not
 * be touched again. Pipelined requests wait in the input buffer until the
 * current response is finished.
 *
 * If the client goes away (EOF, reset, write error) or the server closes
 * before the handler finished the exchange, the handler's abort callback (set
 * with llmrt__sreq_on_abort) runs once; `r` is invalid after it returns. This
 * is how a handler learns to stop its timers. A client that sent EOF after a
 * last request (Connection: close, HTTP/1.0) may only have half-closed, so
 * its exchange goes on, but if the handler then writes nothing for
 * idle_timeout_ms the client is taken as gone (LLMRT_ECLOSED).
 *
 * Output: a client that pipelines requests faster than it reads answers is
 * held back (no request is parsed while 256 KiB of output is queued, and
 * reading stops). The idle timeout runs only when nothing is queued; while
 * output is queued, send_timeout_ms without any of it reaching the kernel
 * closes the connection.
 *
 * Everything runs on the runtime's loop thread. All calls are safe from
 * inside the server's own callbacks (memory is freed in libuv close
 * callbacks, never on the caller's stack). */
#ifndef LLMRT_HTTP_SERVER_H
#define LLMRT_HTTP_SERVER_H

#include "../core/core.h"
#include "../transport/transport.h"

typedef struct llmrt__server_s llmrt__server_t;
typedef struct llmrt__sreq_s llmrt__sreq_t;

typedef struct {
  /* A complete request arrived (head and body). Required. */
  void (*on_request)(llmrt__server_t *s, llmrt__sreq_t *r, void *user);
  /* A connection was accepted (after the TLS handshake). May be NULL. */
  void (*on_conn)(llmrt__server_t *s, void *user);
} llmrt__server_cbs_t;

typedef struct {
  const char *host;     /* literal IPv4/IPv6 address; NULL: "127.0.0.1" */
  uint16_t port;        /* 0: an ephemeral port (see llmrt__server_port) */
  const char *tls_cert; /* PEM chain; with tls_key: serve TLS */
  const char *tls_key;
  int backlog;                   /* 0: 511 */
  size_t max_header_bytes;       /* request line + headers; 0: 64 KiB; over: 431 */
  uint32_t max_headers;          /* 0: 100; over: 431 */
  size_t max_body_bytes;         /* 0: 16 MiB (after gzip decoding); over: 413 */
  uint32_t idle_timeout_ms;      /* keep-alive idle and slow-request limit;
                                    0: 60000; UINT32_MAX: none */
  uint32_t send_timeout_ms;      /* output queued and the client reads nothing
                                    of it for this long: close; 0: 60000;
                                    UINT32_MAX: none */
  uint32_t handshake_timeout_ms; /* TLS; 0: 10000 */
  int decode_gzip_body;          /* inflate request bodies sent with
                                    Content-Encoding: gzip (else 415) */
  /* Also decode Content-Encoding: zstd (with decode_gzip_body); the decoded
   * size counts against max_body_bytes (a bomb gets 413). */
  int decode_zstd_body;
  uint32_t max_connections;             /* open at once; more are closed at
                                           accept; 0: no limit */
  uint32_t max_requests_per_connection; /* then Connection: close; 0: no limit */
  /* Optional: the body of an answer the server gives itself once a
   * request's head was read (413, 415, a body that does not decode), for
   * handlers whose clients expect errors in a format of their own. Appends
   * the body to out and returns its Content-Type, or NULL for the server's
   * plain text. user is the one given to llmrt__server_start. */
  const char *(*reject_body)(void *user, const char *path, int status, llmrt__buf_t *out);
  /* Optional: called once a request's head is read, before its body is
   * received or decoded; a nonzero return is the status to refuse with
   * (answered like the server's own refusals, reject_body included), so a
   * request that will be refused anyway (no valid key) costs no body
   * decoding. user is the one given to llmrt__server_start. */
  int (*head_check)(void *user, llmrt__sreq_t *r);
} llmrt__server_opts_t;

void llmrt__server_opts_init(llmrt__server_opts_t *o);

/* Binds and listens. rt is borrowed: close the server (and wait for its
 * callback) before closing the runtime; the server holds a runtime reference
 * until then. On failure errbuf says what and where (host:port, step). */
int llmrt__server_start(llmrt_t *rt, const llmrt__server_opts_t *o, const llmrt__server_cbs_t *cbs,
                        void *user, llmrt__server_t **out, char *errbuf, size_t errlen);

/* The bound port (useful with port 0). */
uint16_t llmrt__server_port(const llmrt__server_t *s);
int llmrt__server_is_tls(const llmrt__server_t *s);
llmrt_t *llmrt__server_rt(const llmrt__server_t *s);

typedef struct {
  uint64_t connections; /* accepted (handshake done) */
  uint64_t requests;    /* complete requests handed to on_request */
  uint64_t rejected;    /* answered by the server itself (400, 413, 431, ...) */
  uint32_t open;        /* connections open now */
} llmrt__server_stats_t;

void llmrt__server_stats(const llmrt__server_t *s, llmrt__server_stats_t *out);

/* Replaces the request and connection limits (max_header_bytes,
 * max_headers, max_body_bytes, idle_timeout_ms, max_connections,
 * max_requests_per_connection; 0 takes the default) for what is parsed or
 * accepted from now on (a configuration reload). The address and TLS stay. */
void llmrt__server_set_limits(llmrt__server_t *s, const llmrt__server_opts_t *o);

/* Stops listening but lets open connections finish their exchanges; each
 * response from then on carries Connection: close (graceful shutdown).
 * llmrt__server_close must still be called. */
void llmrt__server_stop_accepting(llmrt__server_t *s);

/* Stops listening, aborts every exchange in progress (their abort callbacks
 * run with LLMRT_ESHUTDOWN), closes every connection, and calls done (may be
 * NULL) once every handle is closed; the server is freed after done returns.
 * Idempotent: a second call is ignored. */
void llmrt__server_close(llmrt__server_t *s, void (*done)(llmrt__server_t *s, void *user),
                         void *user);

/* ---- The exchange: the request ------------------------------------------ */

const char *llmrt__sreq_method(const llmrt__sreq_t *r); /* "GET", "POST", ... */
const char *llmrt__sreq_target(const llmrt__sreq_t *r); /* "/v1/x?y=1" as sent */
/* The target without its query string, NUL-terminated. */
const char *llmrt__sreq_path(const llmrt__sreq_t *r);
/* First header with that name (case-insensitive), NULL if absent. Values
 * have surrounding whitespace removed. */
const char *llmrt__sreq_header(const llmrt__sreq_t *r, const char *name);
const llmrt_header_t *llmrt__sreq_headers(const llmrt__sreq_t *r, size_t *n);
/* The body (decoded if gzip decoding is on), NUL-terminated; len may be 0. */
const char *llmrt__sreq_body(const llmrt__sreq_t *r, size_t *len);
/* 1 when the client accepts gzip (Accept-Encoding lists gzip, q != 0). */
int llmrt__sreq_accepts_gzip(const llmrt__sreq_t *r);
/* The connection's peer address as "ip:port" (for logs). */
const char *llmrt__sreq_peer(const llmrt__sreq_t *r);

/* The handler's per-exchange pointer, and the abort callback that runs once
 * if the exchange ends before the handler finished it: status is
 * LLMRT_ECLOSED (client EOF), LLMRT_ECONNRESET / a write error, or
 * LLMRT_ESHUTDOWN (server closing). Not called after the handler itself
 * finished or aborted the exchange. */
void llmrt__sreq_on_abort(llmrt__sreq_t *r, void (*cb)(llmrt__sreq_t *r, int status, void *arg),
                          void *arg);

/* ---- The exchange: the response ----------------------------------------- */

/* Sends a whole response and finishes the exchange. headers and body are
 * copied. Content-Length is added (unless given); "Connection: close" is
 * added when the connection will close after this response (the request
 * asked for it, HTTP/1.0 without keep-alive, the server is closing, or the
 * handler passed "Connection: close" itself). Returns LLMRT_ECLOSED if the
 * connection is already gone (the exchange is finished anyway). */
int llmrt__sreq_respond(llmrt__sreq_t *r, int status, const llmrt_header_t *headers, size_t n,
                        const char *body, size_t len);

/* Sends the status line and headers of a streamed response. Unless headers
 * contain Content-Length, the body is sent with Transfer-Encoding: chunked
 * (HTTP/1.1) or delimited by closing the connection (HTTP/1.0). */
int llmrt__sreq_start(llmrt__sreq_t *r, int status, const llmrt_header_t *headers, size_t n);

/* Queues body bytes (copied; one chunk per call when chunked; len 0 is a
 * no-op). Returns LLMRT_ECLOSED once the connection is gone. */
int llmrt__sreq_write(llmrt__sreq_t *r, const char *data, size_t len);

/* Bytes queued but not yet handed to the kernel: a handler that produces
 * faster than the client reads checks this and waits for on_drain. */
size_t llmrt__sreq_pending(const llmrt__sreq_t *r);
/* cb (NULL to clear) runs whenever the queue becomes empty after a write. */
void llmrt__sreq_on_drain(llmrt__sreq_t *r, void (*cb)(llmrt__sreq_t *r, void *arg), void *arg);

/* Ends a streamed response (the terminating chunk) and finishes the
 * exchange; the connection stays open for the next request if keep-alive. */
int llmrt__sreq_end(llmrt__sreq_t *r);

/* Finishes the exchange by closing the connection at once, discarding queued
 * output. reset != 0 makes the close abortive (TCP RST, SO_LINGER 0), as a
 * crashed upstream or a middlebox would; otherwise queued bytes are flushed
 * first and the connection is closed with a FIN. */
void llmrt__sreq_abort(llmrt__sreq_t *r, int reset);

/* The reason phrase for a status code ("OK", "Too Many Requests"...). */
const char *llmrt__http_reason(int status);

#endif
