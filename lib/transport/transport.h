/* Internal transport: a connected byte stream (TCP, or TLS over TCP) driven
 * by libuv, with async DNS (cached) underneath. The HTTP client, the pool and
 * the HTTP server use only this interface.
 *
 * Callback contract: once llmrt__conn_connect() returned 0, on_connect runs
 * exactly once (unless llmrt__conn_close() is called first, after which no
 * callback runs at all). After a failed on_connect the conn is already
 * closing: do not touch it again.
 *
 * When the runtime closes, a conn still connecting fails with
 * LLMRT_ESHUTDOWN through on_connect, and an open one gets on_read with
 * LLMRT_ESHUTDOWN (even when not reading); its owner then closes it. The
 * runtime's done callback waits until every conn's memory is gone. */
#ifndef LLMRT_TRANSPORT_H
#define LLMRT_TRANSPORT_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "../core/core.h"

typedef struct llmrt__conn_s llmrt__conn_t;

typedef struct {
  /* Connected (TCP up and, for TLS, handshake verified), or failed with an
   * llmrt error code and a message naming host:port and the step. */
  void (*on_connect)(llmrt__conn_t *c, int status, const char *errmsg, void *user);
  /* Plaintext bytes as they arrive (after read_start). status < 0 reports an
   * error (LLMRT_ECLOSED on a clean EOF, LLMRT_ECONNRESET, LLMRT_ETLS ...),
   * with data NULL and len 0; no further on_read follows an error. */
  void (*on_read)(llmrt__conn_t *c, int status, const char *data, size_t len, void *user);
} llmrt__conn_cbs_t;

typedef struct {
  const char *host; /* name or literal address */
  uint16_t port;
  int tls;
  uint32_t connect_timeout_ms; /* 0: none (DNS + TCP connect) */
  uint32_t tls_timeout_ms;     /* 0: none */
} llmrt__conn_opts_t;

/* Resolves (via the DNS cache), connects with TCP_NODELAY, and for TLS runs
 * the handshake with SNI, ALPN "http/1.1", TLS 1.2 minimum, verification per
 * the runtime options and session resumption per host:port. */
int llmrt__conn_connect(llmrt_t *rt, const llmrt__conn_opts_t *o, const llmrt__conn_cbs_t *cbs,
                        void *user, llmrt__conn_t **out);
/* The same through an HTTP proxy (proxy.c): TCP to proxy_host:proxy_port
 * (resolved there), "CONNECT host:port" (the proxy resolves the upstream),
 * then TLS with the upstream's name as usual. The connect timeout covers the
 * proxy's DNS, TCP and CONNECT answer. proxy_host NULL: direct. */
int llmrt__conn_connect_via(llmrt_t *rt, const llmrt__conn_opts_t *o, const char *proxy_host,
                            uint16_t proxy_port, const llmrt__conn_cbs_t *cbs, void *user,
                            llmrt__conn_t **out);

/* Whether host bypasses the proxy per a NO_PROXY-style list (proxy.c):
 * comma-separated names (matching subdomains too; a leading "." is
 * ignored), literal addresses, or "*"; case-insensitive, ports ignored. */
int llmrt__proxy_bypass(const char *no_proxy, const char *host);

/* Replaces the callbacks and user pointer (the pool does this when a
 * connection moves between requests and the idle list). */
void llmrt__conn_set_cbs(llmrt__conn_t *c, const llmrt__conn_cbs_t *cbs, void *user);

int llmrt__conn_read_start(llmrt__conn_t *c);
int llmrt__conn_read_stop(llmrt__conn_t *c);

typedef void (*llmrt__conn_write_cb)(llmrt__conn_t *c, int status, void *arg);

/* Writes bufs in order. For plain TCP the buffers are NOT copied and must
 * stay valid until cb runs; for TLS they are encrypted before this returns.
 * cb (may be NULL) runs once when the bytes are handed to the kernel, or with
 * an error; never after llmrt__conn_close(). */
int llmrt__conn_write(llmrt__conn_t *c, const uv_buf_t *bufs, unsigned n, llmrt__conn_write_cb cb,
                      void *arg);
/* Bytes written but not yet handed to the kernel. A write whose bytes all
 * reached the kernel may still wait for its callback until the next loop
 * iteration (libuv runs write callbacks in its pending phase): 0 here means
 * the connection's output is complete even while a callback is due. */
size_t llmrt__conn_unsent(const llmrt__conn_t *c);
/* Writes in flight with this arg will not call back: their owner is gone
 * (a request that finished while its write callback was still due). */
void llmrt__conn_forget_writes(llmrt__conn_t *c, void *arg);

/* Closes the connection: no callback runs after this call. Memory is freed
 * once libuv's close callbacks ran (the runtime stays referenced until then).
 * For TLS a close_notify is attempted but not waited for. Idempotent. */
void llmrt__conn_close(llmrt__conn_t *c);

typedef struct {
  uint64_t dns_us; /* 0: cache hit or literal address */
  uint64_t connect_us;
  uint64_t tls_us;
  int tls;
  int tls_resumed;
} llmrt__conn_info_t;

void llmrt__conn_info(const llmrt__conn_t *c, llmrt__conn_info_t *out);

/* ---- Socket addresses (the transport and the server share these) ---- */

typedef union {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} llmrt__sockaddr_t;

/* Parses a literal IPv4 or IPv6 address ("::1" or "[::1]") with port into
 * out. Returns 1 if host is one, 0 if not (a name). */
int llmrt__sockaddr_parse(const char *host, uint16_t port, llmrt__sockaddr_t *out);
/* The port of an IPv4 or IPv6 address (0 for another family). */
uint16_t llmrt__sockaddr_port(const llmrt__sockaddr_t *a);
/* Names tcp's peer for messages: the address into ip ("?" if unknown) and
 * "ip:port" or "[ip]:port" into hostport (either may be NULL); returns the
 * port. */
uint16_t llmrt__tcp_peer(uv_tcp_t *tcp, char *ip, size_t iplen, char *hostport, size_t hplen);

/* Server side (the HTTP server, the mock upstream, the gateway). */
typedef struct llmrt__tls_server_s llmrt__tls_server_t;

/* Loads a PEM certificate chain and key for serving TLS (with session
 * tickets, so clients can resume). */
int llmrt__tls_server_new(llmrt_t *rt, const char *cert_file, const char *key_file,
                          llmrt__tls_server_t **out, char *errbuf, size_t errlen);
void llmrt__tls_server_free(llmrt__tls_server_t *s);

/* Wraps a freshly accepted uv_tcp_t (already initialised on rt's loop and
 * accepted; ownership passes to the conn, which closes and frees it with
 * llmrt__free, also when this returns an error other than LLMRT_EINVAL) as a
 * conn. tls NULL: plain. For TLS the server handshake runs
 * first and on_connect reports it; for plain on_connect runs on the next loop
 * turn. */
int llmrt__conn_accept(llmrt_t *rt, uv_tcp_t *tcp, llmrt__tls_server_t *tls,
                       uint32_t handshake_timeout_ms, const llmrt__conn_cbs_t *cbs, void *user,
                       llmrt__conn_t **out);

#endif
