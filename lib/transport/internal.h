/* Transport internals shared by conn.c, dns.c, tls.c and tls_server.c.
 * Nothing outside lib/transport includes this. */
#ifndef LLMRT_TRANSPORT_INTERNAL_H
#define LLMRT_TRANSPORT_INTERNAL_H

#include <netinet/in.h>
#include <sys/socket.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "transport.h"

/* At most this many resolved addresses are kept and tried per host. */
#define LLMRT__MAX_ADDRS 8

#include "../core/list.h"

/* ---- DNS (dns.c) ---- */
typedef struct llmrt__dns_waiter_s llmrt__dns_waiter_t;
typedef void (*llmrt__dns_cb)(llmrt__dns_waiter_t *w, int status, const llmrt__sockaddr_t *addrs,
                              unsigned n);
struct llmrt__dns_waiter_s {
  llmrt__link_t link; /* linked while a lookup is pending for this waiter */
  llmrt__dns_cb cb;
};

/* Looks host:port up through the runtime's cache. Returns the number of
 * addresses (> 0) copied to addrs when the cache answers at once, 0 when the
 * lookup is pending (w->cb then runs exactly once, never from inside this
 * call, unless llmrt__dns_cancel(w) runs first), or a negative error (no
 * callback). Lookups of the same host:port in flight are shared. */
int llmrt__dns_resolve(llmrt_t *rt, const char *host, uint16_t port, llmrt__dns_waiter_t *w,
                       llmrt__sockaddr_t *addrs);
void llmrt__dns_cancel(llmrt__dns_waiter_t *w); /* idempotent */

/* Pins the addresses (ports included) that host:port resolves to, like
 * curl's --resolve; the entry never expires. Tests use it to give a name
 * several addresses on loopback. */
int llmrt__dns_seed(llmrt_t *rt, const char *host, uint16_t port, const llmrt__sockaddr_t *addrs,
                    unsigned n);


/* ---- Per-runtime TLS state (tls.c): the DRBG, the client configuration
 * with its CA chain (loaded on the thread pool, never on the loop), and the
 * session cache per host:port. Reference counted: every TLS conn and server
 * holds a reference, since their mbedTLS contexts point into it. ---- */
typedef struct llmrt__tls_s llmrt__tls_t;

llmrt__tls_t *llmrt__tls_get(llmrt_t *rt, int *err); /* new reference */
void llmrt__tls_unref(llmrt__tls_t *t);
int llmrt__tls_random(void *tls, unsigned char *out, size_t len); /* mbedTLS f_rng */
void *llmrt__tls_rng(llmrt__tls_t *t);

/* ---- Server TLS (tls_server.c) ---- */
void llmrt__tls_server_ref(llmrt__tls_server_t *s);
void llmrt__tls_server_unref(llmrt__tls_server_t *s);
const mbedtls_ssl_config *llmrt__tls_server_conf(llmrt__tls_server_t *s);

/* ---- The connection ---- */
enum {
  LLMRT__CONN_RESOLVING,
  LLMRT__CONN_CONNECTING,
  LLMRT__CONN_PROXY,    /* TCP to the proxy is up, CONNECT sent, awaiting its answer */
  LLMRT__CONN_TLS_WAIT, /* TCP is up, waiting for the CA bundle to load */
  LLMRT__CONN_HANDSHAKE,
  LLMRT__CONN_ACCEPTING, /* plain accepted conn, on_connect on the next turn */
  LLMRT__CONN_OPEN,
  LLMRT__CONN_CLOSED
};

enum {
  LLMRT__TIMER_NONE,
  LLMRT__TIMER_CONNECT,
  LLMRT__TIMER_TLS,
  LLMRT__TIMER_NOTIFY,
  LLMRT__TIMER_DRAIN
};

struct llmrt__conn_s {
  llmrt_t *rt;
  llmrt__conn_cbs_t cbs;
  void *user;
  llmrt__link_t net_link; /* in the runtime's list of open conns */
  char *host;
  char *hostport; /* for messages: "host:port" or "[v6]:port" */
  uint16_t port;
  int state;
  int closed;       /* closed or failed: no callback runs any more */
  int server;       /* accepted side */
  unsigned handles; /* open libuv handles; memory goes when 0 and closed */

  uv_tcp_t *tcp; /* the current socket (one per address tried) */
  uv_connect_t creq;
  uv_timer_t timer;
  int timer_kind;
  uint32_t connect_timeout_ms;
  uint32_t tls_timeout_ms;

  llmrt__dns_waiter_t dns;
  llmrt__sockaddr_t addrs[LLMRT__MAX_ADDRS];
  unsigned n_addrs, next_addr;
  int last_err;

  uint64_t t_start, t_connect_start, t_tls_start;
  llmrt__conn_info_t info;

  int want_read;  /* the owner asked for data */
  int uv_reading; /* uv_read_start is active */
  int read_done;  /* an error or EOF was reported: no more reads */
  char *rbuf;     /* plaintext read buffer: the runtime's shared one (not owned) */
  size_t rbuf_size;

  /* TLS */
  int tls;
  llmrt__tls_t *tlsctx;         /* reference, client and server */
  llmrt__tls_server_t *tls_srv; /* reference, accepted side (conn.c) */
  const mbedtls_ssl_config *tls_srv_conf; /* its configuration */
  mbedtls_ssl_context *ssl;
  llmrt__link_t tls_wait; /* linked while waiting for the CA bundle */
  llmrt__buf_t tls_in;    /* ciphertext received, not yet given to mbedTLS */
  size_t tls_in_off;
  int tls_eof;
  llmrt__buf_t tls_out; /* ciphertext produced, not yet written */
  int tls_bio_err;
  int tls_offered;   /* a cached session was offered */
  int tls_cert_seen; /* the peer's certificate went through verification */
  int tls_draining;  /* re-entrancy guard for the read loop */

  llmrt__link_t writes; /* writes handed to libuv whose callback has not run */

  /* HTTP CONNECT proxy (proxy.c); NULL proxy_host: direct. */
  char *proxy_host;
  char *proxy_hostport; /* for messages */
  uint16_t proxy_port;
  char *proxy_buf; /* the proxy's answer while in LLMRT__CONN_PROXY */
  size_t proxy_len;
};

/* conn.c, for tls.c */
void llmrt__conn_fail(llmrt__conn_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void llmrt__conn_established(llmrt__conn_t *c); /* state OPEN, on_connect(0) */
int llmrt__conn_uv_read(llmrt__conn_t *c, int on);
/* Writes owned's bytes raw (ownership moves to the write; on error owned
 * is left as it was). */
int llmrt__conn_write_owned(llmrt__conn_t *c, llmrt__buf_t *owned, llmrt__conn_write_cb cb,
                            void *arg);
/* Writes c->tls_out (ownership moves to the request). */
int llmrt__conn_flush(llmrt__conn_t *c, llmrt__conn_write_cb cb, void *arg);
void llmrt__conn_timer(llmrt__conn_t *c, int kind, uint64_t ms);
int llmrt__conn_map_io_err(int uverr);

/* proxy.c, for conn.c */
void llmrt__proxy_start(llmrt__conn_t *c); /* TCP to the proxy is up */
/* The proxy's answer: its bytes landed in proxy_buf + proxy_len (nread < 0:
 * an error or EOF). */
void llmrt__proxy_on_read(llmrt__conn_t *c, ssize_t nread);
#define LLMRT__PROXY_MAX_ANSWER 8192

/* tls.c, for conn.c */
int llmrt__tls_client_prepare(llmrt__conn_t *c); /* at connect time */
void llmrt__tls_client_start(llmrt__conn_t *c);  /* TCP is up */
int llmrt__tls_server_start(llmrt__conn_t *c);   /* accepted */
void llmrt__tls_on_input(llmrt__conn_t *c);      /* ciphertext arrived */
void llmrt__tls_on_eof(llmrt__conn_t *c, int uverr);
int llmrt__tls_has_pending(llmrt__conn_t *c);
void llmrt__tls_drain(llmrt__conn_t *c);
int llmrt__tls_write(llmrt__conn_t *c, const uv_buf_t *bufs, unsigned n, llmrt__conn_write_cb cb,
                     void *arg);
void llmrt__tls_close_notify(llmrt__conn_t *c);
void llmrt__tls_conn_free(llmrt__conn_t *c);
/* The conn whose handshake step runs on this thread (NULL outside one), so
 * that the server's ticket callback can mark it resumed. */
llmrt__conn_t *llmrt__tls_handshaking(void);

#endif
