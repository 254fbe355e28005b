/* The connection: DNS, TCP connect (each resolved address in turn), reads,
 * writes and close for plain TCP, with TLS hooked in through tls.c.
 *
 * Lifetime: a conn owns a timer and its current TCP handle (plus, briefly,
 * the handles of addresses that failed). llmrt__conn_close (or a failure
 * reported through on_connect) marks it closed, after which no callback runs,
 * and starts closing the handles; the memory goes in the last close callback,
 * so closing from inside any callback is safe. The conn holds a runtime
 * reference until then. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define PLAIN_RBUF_SIZE 65536
#define TLS_RBUF_SIZE 16384

typedef struct {
  uv_write_t req;
  llmrt__link_t link; /* in the conn's list of writes in flight */
  llmrt__conn_t *c;
  llmrt__conn_write_cb cb;
  void *arg;
  llmrt__buf_t owned; /* ciphertext for TLS writes */
} wreq_t;

/* Per-runtime connection state: the plaintext read buffer every conn shares
 * (first, so that the runtime's llmrt__free(rt->read_buf) frees all of it)
 * and the list of open conns, so that closing the runtime can tell each. */
typedef struct {
  char buf[PLAIN_RBUF_SIZE];
  llmrt__link_t conns; /* every conn not yet closed; a conn unlinks itself */
} net_t;

static void conn_rt_closing(llmrt__conn_t *c);

static void net_close(llmrt_t *rt, void *arg) {
  net_t *n = arg;
  /* Take the list first: the callbacks close conns, which unlinks them. */
  llmrt__link_t conns;
  llmrt__list_move(&n->conns, &conns);
  while (!llmrt__list_empty(&conns)) {
    llmrt__link_t *l = conns.next;
    llmrt__list_remove(l);
    conn_rt_closing(LLMRT__CONTAINER(l, llmrt__conn_t, net_link));
  }
}

/* Links c into the runtime's list of open conns (created on first use). */
static int net_track(llmrt_t *rt, llmrt__conn_t *c) {
  net_t *n = (net_t *)(void *)rt->read_buf;
  if (!n) {
    n = llmrt__malloc(sizeof *n);
    if (!n) return LLMRT_ENOMEM;
    llmrt__list_init(&n->conns);
    int r = llmrt__rt_add_closer(rt, LLMRT__CLOSE_NET, net_close, n);
    if (r) {
      llmrt__free(n);
      return r;
    }
    rt->read_buf = n->buf;
  }
  llmrt__list_push_back(&n->conns, &c->net_link);
  return 0;
}

int llmrt__conn_map_io_err(int uverr) {
  switch (uverr) {
  case UV_EOF:
    return LLMRT_ECLOSED;
  case UV_ENOBUFS:
  case UV_ENOMEM:
    return LLMRT_ENOMEM;
  default:
    return LLMRT_ECONNRESET;
  }
}

static void conn_maybe_free(llmrt__conn_t *c) {
  if (!c->closed || c->handles > 0) return;
  llmrt_t *rt = c->rt;
  llmrt__tls_conn_free(c);
  if (c->tls_srv) llmrt__tls_server_unref(c->tls_srv);
  llmrt__free(c->host);
  llmrt__free(c->hostport);
  llmrt__free(c->proxy_host);
  llmrt__free(c->proxy_hostport);
  llmrt__free(c->proxy_buf);
  llmrt__free(c);
  llmrt__rt_unref(rt);
}

static void on_handle_close(uv_handle_t *h) {
  llmrt__conn_t *c = h->data;
  if (h != (uv_handle_t *)&c->timer) llmrt__free(h);
  c->handles--;
  conn_maybe_free(c);
}

static void free_handle(uv_handle_t *h) {
  llmrt__free(h);
}

static void close_tcp(llmrt__conn_t *c) {
  if (!c->tcp) return;
  uv_close((uv_handle_t *)c->tcp, on_handle_close);
  c->tcp = NULL;
  c->uv_reading = 0;
}

/* Ends everything; no callback runs afterwards. */
static void conn_shutdown(llmrt__conn_t *c) {
  if (c->closed) return;
  c->closed = 1;
  c->state = LLMRT__CONN_CLOSED;
  llmrt__dns_cancel(&c->dns);
  if (!llmrt__list_empty(&c->net_link)) llmrt__list_remove(&c->net_link);
  if (c->tls_wait.next && !llmrt__list_empty(&c->tls_wait)) llmrt__list_remove(&c->tls_wait);
  close_tcp(c);
  uv_close((uv_handle_t *)&c->timer, on_handle_close);
}

void llmrt__conn_fail(llmrt__conn_t *c, int code, const char *fmt, ...) {
  if (c->closed) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  conn_shutdown(c);
  llmrt__log(c->rt, LLMRT_LOG_DEBUG, "%s", msg);
  /* The memory is freed in a close callback, so c stays valid here. */
  if (c->cbs.on_connect) c->cbs.on_connect(c, code, msg, c->user);
}

void llmrt__conn_established(llmrt__conn_t *c) {
  uv_timer_stop(&c->timer);
  c->timer_kind = LLMRT__TIMER_NONE;
  c->state = LLMRT__CONN_OPEN;
  c->cbs.on_connect(c, 0, NULL, c->user);
}

static void on_timer(uv_timer_t *t) {
  llmrt__conn_t *c = t->data;
  int kind = c->timer_kind;
  c->timer_kind = LLMRT__TIMER_NONE;
  if (c->closed) return;
  switch (kind) {
  case LLMRT__TIMER_CONNECT:
    llmrt__conn_fail(c, LLMRT_ECONNECTTIMEOUT, "connect to %s timed out after %u ms (%s%s%s)",
                     c->hostport, (unsigned)c->connect_timeout_ms,
                     c->state == LLMRT__CONN_RESOLVING ? "DNS lookup"
                     : c->state == LLMRT__CONN_PROXY   ? "CONNECT through proxy "
                                                       : "TCP connect",
                     c->proxy_host && c->state != LLMRT__CONN_PROXY ? " of proxy " : "",
                     c->proxy_host ? c->proxy_hostport : "");
    break;
  case LLMRT__TIMER_TLS:
    llmrt__conn_fail(c, LLMRT_ETLSTIMEOUT, "TLS handshake with %s timed out after %u ms",
                     c->hostport, (unsigned)c->tls_timeout_ms);
    break;
  case LLMRT__TIMER_NOTIFY:
    llmrt__conn_established(c);
    break;
  case LLMRT__TIMER_DRAIN:
    llmrt__tls_drain(c);
    break;
  }
}

void llmrt__conn_timer(llmrt__conn_t *c, int kind, uint64_t ms) {
  /* The loop's cached time may be stale (the caller may have worked long
   * since the loop last woke); timeouts count from now. */
  if (ms) uv_update_time(c->rt->loop);
  c->timer_kind = kind;
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* ---- Reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  llmrt__conn_t *c = h->data;
  if (c->state == LLMRT__CONN_PROXY) { /* the proxy's answer, before any TLS */
    *buf = uv_buf_init(c->proxy_buf + c->proxy_len,
                       (unsigned)(LLMRT__PROXY_MAX_ANSWER - c->proxy_len));
    return;
  }
  if (!c->tls) {
    *buf = uv_buf_init(c->rbuf, (unsigned)c->rbuf_size);
    return;
  }
  /* Ciphertext goes straight into tls_in: no copy before mbedTLS sees it. */
  llmrt__buf_t *b = &c->tls_in;
  if (c->tls_in_off == b->len) {
    c->tls_in_off = 0;
    llmrt__buf_reset(b);
  }
  if (llmrt__buf_reserve(b, 16384 + 64) != 0) {
    *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
    return;
  }
  *buf = uv_buf_init(b->data + b->len, (unsigned)(b->cap - b->len - 1));
}

static void on_uv_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  llmrt__conn_t *c = s->data;
  if (c->closed || nread == 0) return;
  if (c->state == LLMRT__CONN_PROXY) {
    llmrt__proxy_on_read(c, nread);
    return;
  }
  if (nread < 0) {
    llmrt__conn_uv_read(c, 0);
    if (c->tls) {
      llmrt__tls_on_eof(c, (int)nread);
      return;
    }
    c->read_done = 1;
    c->cbs.on_read(c, llmrt__conn_map_io_err((int)nread), NULL, 0, c->user);
    return;
  }
  if (c->tls) {
    c->tls_in.len += (size_t)nread;
    c->tls_in.data[c->tls_in.len] = '\0';
    llmrt__tls_on_input(c);
    /* All ciphertext consumed: give the buffer back, so an idle pooled TLS
     * connection does not keep 32 KiB (one malloc per read is far cheaper
     * than the decryption it feeds). */
    if (!c->closed && c->tls_in.len == 0) llmrt__buf_free(&c->tls_in);
    return;
  }
  c->cbs.on_read(c, 0, buf->base, (size_t)nread, c->user);
}

int llmrt__conn_uv_read(llmrt__conn_t *c, int on) {
  if (!c->tcp || on == c->uv_reading) return 0;
  int r = on ? uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_uv_read)
             : uv_read_stop((uv_stream_t *)c->tcp);
  if (r == 0) c->uv_reading = on;
  return r;
}

int llmrt__conn_read_start(llmrt__conn_t *c) {
  if (!c || c->closed) return LLMRT_EINVAL;
  if (c->state != LLMRT__CONN_OPEN) return LLMRT_EINVAL;
  if (c->read_done) return LLMRT_ECLOSED;
  if (!c->cbs.on_read) return LLMRT_EINVAL;
  if (!c->rbuf) {
    /* One plaintext read buffer per runtime, shared by every connection
     * (net_t): bytes are handed to on_read synchronously and never kept,
     * and libuv reads one stream at a time, so an idle pooled connection
     * costs no read buffer of its own. */
    c->rbuf = c->rt->read_buf;
    c->rbuf_size = c->tls ? TLS_RBUF_SIZE : PLAIN_RBUF_SIZE;
  }
  c->want_read = 1;
  int r = llmrt__conn_uv_read(c, 1);
  if (r) {
    c->want_read = 0;
    return llmrt__conn_map_io_err(r);
  }
  /* Records mbedTLS already holds would not wake the socket: hand them over
   * on the next loop turn (never from inside read_start). */
  if (c->tls && !c->tls_draining && llmrt__tls_has_pending(c))
    llmrt__conn_timer(c, LLMRT__TIMER_DRAIN, 0);
  return 0;
}

int llmrt__conn_read_stop(llmrt__conn_t *c) {
  if (!c || c->closed) return LLMRT_EINVAL;
  c->want_read = 0;
  if (c->timer_kind == LLMRT__TIMER_DRAIN) {
    uv_timer_stop(&c->timer);
    c->timer_kind = LLMRT__TIMER_NONE;
  }
  if (c->state != LLMRT__CONN_OPEN) return 0; /* the handshake keeps reading */
  return llmrt__conn_uv_read(c, 0) ? LLMRT_EINVAL : 0;
}

/* ---- Writing ---- */

static void on_write(uv_write_t *req, int status) {
  wreq_t *w = LLMRT__CONTAINER(req, wreq_t, req);
  llmrt__conn_t *c = w->c;
  llmrt__conn_write_cb cb = w->cb;
  void *arg = w->arg;
  llmrt__list_remove(&w->link);
  llmrt__buf_free(&w->owned);
  llmrt__free(w);
  if (c->closed || !cb) return;
  cb(c, status < 0 ? llmrt__conn_map_io_err(status) : 0, arg);
}

static int write_raw(llmrt__conn_t *c, const uv_buf_t *bufs, unsigned n, llmrt__buf_t *owned,
                     llmrt__conn_write_cb cb, void *arg) {
  wreq_t *w = llmrt__calloc(1, sizeof *w);
  if (!w) return LLMRT_ENOMEM;
  w->c = c;
  w->cb = cb;
  w->arg = arg;
  if (owned) {
    w->owned = *owned;
    llmrt__buf_init(owned);
  }
  int r = uv_write(&w->req, (uv_stream_t *)c->tcp, bufs, n, on_write);
  if (r) {
    if (owned) *owned = w->owned; /* hand it back untouched */
    llmrt__free(w);
    return llmrt__conn_map_io_err(r);
  }
  llmrt__list_push_back(&c->writes, &w->link);
  return 0;
}

int llmrt__conn_write_owned(llmrt__conn_t *c, llmrt__buf_t *owned, llmrt__conn_write_cb cb,
                            void *arg) {
  uv_buf_t b = uv_buf_init(owned->data, (unsigned)owned->len);
  return write_raw(c, &b, 1, owned, cb, arg);
}

size_t llmrt__conn_unsent(const llmrt__conn_t *c) {
  if (!c->tcp) return 0;
  return uv_stream_get_write_queue_size((const uv_stream_t *)c->tcp) + c->tls_out.len;
}

void llmrt__conn_forget_writes(llmrt__conn_t *c, void *arg) {
  for (llmrt__link_t *l = c->writes.next; l != &c->writes; l = l->next) {
    wreq_t *w = LLMRT__CONTAINER(l, wreq_t, link);
    if (w->arg == arg) w->cb = NULL;
  }
}

int llmrt__conn_flush(llmrt__conn_t *c, llmrt__conn_write_cb cb, void *arg) {
  if (!c->tcp) return LLMRT_ECLOSED;
  if (c->tls_out.len == 0 && !cb) return 0;
  uv_buf_t b = uv_buf_init(c->tls_out.data, (unsigned)c->tls_out.len);
  int r = write_raw(c, &b, 1, &c->tls_out, cb, arg);
  if (r) llmrt__buf_reset(&c->tls_out);
  return r;
}

int llmrt__conn_write(llmrt__conn_t *c, const uv_buf_t *bufs, unsigned n, llmrt__conn_write_cb cb,
                      void *arg) {
  if (!c || c->closed || (n && !bufs)) return LLMRT_EINVAL;
  if (c->state != LLMRT__CONN_OPEN || !c->tcp) return LLMRT_EINVAL;
  if (c->tls) return llmrt__tls_write(c, bufs, n, cb, arg);
  if (n == 0) {
    uv_buf_t empty = uv_buf_init(NULL, 0);
    return write_raw(c, &empty, 1, NULL, cb, arg);
  }
  return write_raw(c, bufs, n, NULL, cb, arg);
}

/* ---- Connecting ---- */

static void on_connected(uv_connect_t *req, int status);

/* Starts a connect to the next untried address; returns the last error when
 * none could be started. */
static int try_next_addr(llmrt__conn_t *c) {
  while (c->next_addr < c->n_addrs) {
    const llmrt__sockaddr_t *a = &c->addrs[c->next_addr++];
    uv_tcp_t *tcp = llmrt__malloc(sizeof *tcp);
    if (!tcp) return LLMRT_ENOMEM;
    int r = uv_tcp_init(c->rt->loop, tcp);
    if (r) {
      llmrt__free(tcp);
      return r;
    }
    tcp->data = c;
    c->handles++;
    c->tcp = tcp;
    (void)uv_tcp_nodelay(tcp, 1);
    /* connect_us spans every address tried, as the user waited for all. */
    if (!c->t_connect_start) c->t_connect_start = llmrt__now_us();
    c->state = LLMRT__CONN_CONNECTING;
    r = uv_tcp_connect(&c->creq, tcp, &a->sa, on_connected);
    if (r == 0) return 0;
    c->last_err = r;
    close_tcp(c);
  }
  return c->last_err ? c->last_err : UV_EADDRNOTAVAIL;
}

static void fail_connect(llmrt__conn_t *c, int uverr) {
  if (uverr == LLMRT_ENOMEM)
    llmrt__conn_fail(c, LLMRT_ENOMEM, "connect to %s: out of memory", c->hostport);
  else if (c->proxy_host)
    llmrt__conn_fail(c, LLMRT_ECONNECT, "connect to proxy %s (for %s) failed: %s",
                     c->proxy_hostport, c->hostport, uv_strerror(uverr));
  else
    llmrt__conn_fail(c, LLMRT_ECONNECT, "connect to %s failed: %s", c->hostport,
                     uv_strerror(uverr));
}

static void on_connected(uv_connect_t *req, int status) {
  llmrt__conn_t *c = LLMRT__CONTAINER(req, llmrt__conn_t, creq);
  if (c->closed) return; /* UV_ECANCELED from our own close */
  if (status < 0) {
    c->last_err = status;
    close_tcp(c);
    int r = try_next_addr(c);
    if (r) fail_connect(c, r);
    return;
  }
  c->info.connect_us = llmrt__now_us() - c->t_connect_start;
  (void)uv_tcp_keepalive(c->tcp, 1, 60);
  if (c->proxy_host) {
    llmrt__proxy_start(c); /* then TLS or established, from proxy.c */
    return;
  }
  if (c->tls) {
    uv_timer_stop(&c->timer);
    c->timer_kind = LLMRT__TIMER_NONE;
    llmrt__tls_client_start(c);
    return;
  }
  llmrt__conn_established(c);
}

static void on_dns(llmrt__dns_waiter_t *w, int status, const llmrt__sockaddr_t *addrs, unsigned n) {
  llmrt__conn_t *c = LLMRT__CONTAINER(w, llmrt__conn_t, dns);
  if (c->closed) return;
  c->info.dns_us = llmrt__now_us() - c->t_start;
  if (status < 0) {
    if (c->rt->closing)
      llmrt__conn_fail(c, LLMRT_ESHUTDOWN, "DNS lookup of '%s' canceled: runtime is closing",
                       c->host);
    else if (c->proxy_host)
      llmrt__conn_fail(c, LLMRT_EDNS, "DNS lookup of proxy '%s' failed: %s", c->proxy_host,
                       uv_strerror(status));
    else
      llmrt__conn_fail(c, LLMRT_EDNS, "DNS lookup of '%s' failed: %s", c->host,
                       uv_strerror(status));
    return;
  }
  memcpy(c->addrs, addrs, n * sizeof addrs[0]);
  c->n_addrs = n;
  int r = try_next_addr(c);
  if (r) fail_connect(c, r);
}

int llmrt__sockaddr_parse(const char *host, uint16_t port, llmrt__sockaddr_t *out) {
  char tmp[64];
  size_t len = strlen(host);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof tmp) {
    memcpy(tmp, host + 1, len - 2);
    tmp[len - 2] = '\0';
    host = tmp;
  }
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, port, &out->in4) == 0) return 1;
  if (strchr(host, ':') && uv_ip6_addr(host, port, &out->in6) == 0) return 1;
  return 0;
}

uint16_t llmrt__sockaddr_port(const llmrt__sockaddr_t *a) {
  if (a->sa.sa_family == AF_INET) return ntohs(a->in4.sin_port);
  if (a->sa.sa_family == AF_INET6) return ntohs(a->in6.sin6_port);
  return 0;
}

uint16_t llmrt__tcp_peer(uv_tcp_t *tcp, char *ip, size_t iplen, char *hostport, size_t hplen) {
  llmrt__sockaddr_t peer;
  int plen = sizeof peer;
  char name[64] = "?";
  uint16_t port = 0;
  if (uv_tcp_getpeername(tcp, &peer.sa, &plen) == 0) {
    if (peer.sa.sa_family == AF_INET)
      uv_ip4_name(&peer.in4, name, sizeof name);
    else if (peer.sa.sa_family == AF_INET6)
      uv_ip6_name(&peer.in6, name, sizeof name);
    port = llmrt__sockaddr_port(&peer);
  }
  if (ip && iplen) snprintf(ip, iplen, "%s", name);
  if (hostport && hplen)
    snprintf(hostport, hplen, strchr(name, ':') ? "[%s]:%u" : "%s:%u", name, (unsigned)port);
  return port;
}

/* "host:port", or "[host]:port" for a bare IPv6 address, for messages.
 * Allocated; NULL when out of memory. */
static char *hostport_dup(const char *host, uint16_t port) {
  size_t n = strlen(host) + 16;
  char *hp = llmrt__malloc(n);
  if (hp)
    snprintf(hp, n, strchr(host, ':') && host[0] != '[' ? "[%s]:%u" : "%s:%u", host,
             (unsigned)port);
  return hp;
}

static llmrt__conn_t *conn_new(llmrt_t *rt, const llmrt__conn_cbs_t *cbs, void *user) {
  llmrt__conn_t *c = llmrt__calloc(1, sizeof *c);
  if (!c) return NULL;
  c->rt = rt;
  c->cbs = *cbs;
  c->user = user;
  llmrt__list_init(&c->dns.link);
  llmrt__list_init(&c->net_link);
  llmrt__list_init(&c->tls_wait);
  llmrt__list_init(&c->writes);
  llmrt__buf_init(&c->tls_in);
  llmrt__buf_init(&c->tls_out);
  uv_timer_init(rt->loop, &c->timer);
  c->timer.data = c;
  c->handles = 1;
  c->t_start = llmrt__now_us();
  llmrt__rt_ref(rt);
  return c;
}

/* Gives up a conn that never reported anything: no callback will run. */
static int conn_abort(llmrt__conn_t *c, int err) {
  conn_shutdown(c);
  return err;
}

int llmrt__conn_connect(llmrt_t *rt, const llmrt__conn_opts_t *o, const llmrt__conn_cbs_t *cbs,
                        void *user, llmrt__conn_t **out) {
  return llmrt__conn_connect_via(rt, o, NULL, 0, cbs, user, out);
}

int llmrt__conn_connect_via(llmrt_t *rt, const llmrt__conn_opts_t *o, const char *proxy_host,
                            uint16_t proxy_port, const llmrt__conn_cbs_t *cbs, void *user,
                            llmrt__conn_t **out) {
  if (!rt || !o || !o->host || !*o->host || !o->port || !cbs || !cbs->on_connect || !out)
    return LLMRT_EINVAL;
  *out = NULL;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  llmrt__conn_t *c = conn_new(rt, cbs, user);
  if (!c) return LLMRT_ENOMEM;
  int r = net_track(rt, c);
  if (r) return conn_abort(c, r);
  c->port = o->port;
  c->tls = o->tls ? 1 : 0;
  c->info.tls = c->tls;
  c->connect_timeout_ms = o->connect_timeout_ms;
  c->tls_timeout_ms = o->tls_timeout_ms;
  c->dns.cb = on_dns;
  c->host = llmrt__strdup(o->host);
  c->hostport = hostport_dup(o->host, o->port);
  if (!c->host || !c->hostport) return conn_abort(c, LLMRT_ENOMEM);
  if (c->tls) {
    r = llmrt__tls_client_prepare(c);
    if (r) return conn_abort(c, r);
  }
  /* Through a proxy, the name to resolve and the address to connect to
   * are the proxy's; the upstream's name goes in the CONNECT request (the
   * proxy resolves it) and stays the TLS server name. */
  const char *dial_host = o->host;
  uint16_t dial_port = o->port;
  if (proxy_host) {
    if (!*proxy_host || !proxy_port) return conn_abort(c, LLMRT_EINVAL);
    c->proxy_host = llmrt__strdup(proxy_host);
    c->proxy_hostport = hostport_dup(proxy_host, proxy_port);
    if (!c->proxy_host || !c->proxy_hostport) return conn_abort(c, LLMRT_ENOMEM);
    c->proxy_port = proxy_port;
    dial_host = c->proxy_host;
    dial_port = c->proxy_port;
  }
  if (c->connect_timeout_ms) llmrt__conn_timer(c, LLMRT__TIMER_CONNECT, c->connect_timeout_ms);

  if (llmrt__sockaddr_parse(dial_host, dial_port, &c->addrs[0])) {
    c->n_addrs = 1;
  } else {
    c->state = LLMRT__CONN_RESOLVING;
    r = llmrt__dns_resolve(rt, dial_host, dial_port, &c->dns, c->addrs);
    if (r < 0) return conn_abort(c, r);
    c->n_addrs = (unsigned)r;
  }
  if (c->n_addrs > 0) {
    r = try_next_addr(c);
    if (r) return conn_abort(c, r == LLMRT_ENOMEM ? r : LLMRT_ECONNECT);
  }
  *out = c;
  return 0;
}

int llmrt__conn_accept(llmrt_t *rt, uv_tcp_t *tcp, llmrt__tls_server_t *tls,
                       uint32_t handshake_timeout_ms, const llmrt__conn_cbs_t *cbs, void *user,
                       llmrt__conn_t **out) {
  if (!rt || !tcp || !cbs || !cbs->on_connect || !out) return LLMRT_EINVAL;
  *out = NULL;
  llmrt__conn_t *c = conn_new(rt, cbs, user);
  if (!c) {
    /* The caller gave tcp away: close it here too. */
    uv_close((uv_handle_t *)tcp, free_handle);
    return LLMRT_ENOMEM;
  }
  /* From here on the conn owns tcp, on failure too. */
  c->tcp = tcp;
  tcp->data = c;
  c->handles++;
  c->server = 1;
  c->tls = tls ? 1 : 0;
  c->info.tls = c->tls;
  c->tls_timeout_ms = handshake_timeout_ms;
  (void)uv_tcp_nodelay(tcp, 1);
  if (rt->closing) return conn_abort(c, LLMRT_ESHUTDOWN);
  int r = net_track(rt, c);
  if (r) return conn_abort(c, r);

  char ip[64], hostport[80];
  c->port = llmrt__tcp_peer(tcp, ip, sizeof ip, hostport, sizeof hostport);
  c->host = llmrt__strdup(ip);
  c->hostport = llmrt__strdup(hostport);
  if (!c->host || !c->hostport) return conn_abort(c, LLMRT_ENOMEM);

  if (c->tls) {
    c->tls_srv = tls;
    c->tls_srv_conf = llmrt__tls_server_conf(tls);
    llmrt__tls_server_ref(tls);
    r = llmrt__tls_server_start(c);
    if (r) return conn_abort(c, r);
  } else {
    c->state = LLMRT__CONN_ACCEPTING;
    llmrt__conn_timer(c, LLMRT__TIMER_NOTIFY, 0);
  }
  *out = c;
  return 0;
}

/* The runtime is closing. A conn still connecting fails with
 * LLMRT_ESHUTDOWN through on_connect; an open one gets on_read with
 * LLMRT_ESHUTDOWN (its owner then closes it). */
static void conn_rt_closing(llmrt__conn_t *c) {
  if (c->closed) return;
  if (c->state != LLMRT__CONN_OPEN) {
    llmrt__conn_fail(c, LLMRT_ESHUTDOWN, "connection to %s canceled: the runtime is closing",
                     c->hostport);
    return;
  }
  if (c->read_done || !c->cbs.on_read) return;
  c->read_done = 1;
  c->want_read = 0;
  (void)llmrt__conn_uv_read(c, 0);
  c->cbs.on_read(c, LLMRT_ESHUTDOWN, NULL, 0, c->user);
}

void llmrt__conn_set_cbs(llmrt__conn_t *c, const llmrt__conn_cbs_t *cbs, void *user) {
  c->cbs = *cbs;
  c->user = user;
}

void llmrt__conn_close(llmrt__conn_t *c) {
  if (!c || c->closed) return;
  if (c->tls && c->state == LLMRT__CONN_OPEN) llmrt__tls_close_notify(c);
  conn_shutdown(c);
}

void llmrt__conn_info(const llmrt__conn_t *c, llmrt__conn_info_t *out) {
  *out = c->info;
}
