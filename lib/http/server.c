/* Internal HTTP/1.1 server (see server.h for the model and contracts).
 *
 * Per connection: the transport conn, one uv_timer (idle/request timeout,
 * send timeout, and a zero-delay "kick" that resumes parsing pipelined input
 * outside the handler's call stack; see llmrt__srv_timer_update), an input
 * buffer, llhttp, the embedded exchange, and
 * two output buffers: `out` collects bytes while `inflight` is being written,
 * then they swap, so steady streaming reuses both and coalesces small writes.
 *
 * Memory of a connection is freed in its timer's close callback, which always
 * comes after every call stack that might still hold the pointer.
 *
 * This file: listener, connections, request parsing, lifecycle, and each
 * connection's output and timer. The exchange API (request accessors,
 * responses) is in server_exchange.c, which calls in here only. */
#include "http_internal.h"
#include "server_internal.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static void sconn_process(sconn_t *c);
static void on_timer(uv_timer_t *t);
static void server_maybe_done(llmrt__server_t *s);

/* ms UINT32_MAX: the mode is recorded but nothing fires (no timeout). */
static void timer_set(sconn_t *c, int mode, uint32_t ms, uint32_t repeat) {
  uv_timer_stop(&c->timer);
  c->tmode = mode;
  if (mode != SRV_TM_NONE && ms != UINT32_MAX)
    uv_timer_start(&c->timer, on_timer, ms, repeat == UINT32_MAX ? 0 : repeat);
}

static size_t write_queue(const sconn_t *c) {
  return c->tcp ? uv_stream_get_write_queue_size((const uv_stream_t *)c->tcp) : 0;
}

static int out_full(const sconn_t *c) {
  return c->out.len + c->inflight.len >= LLMRT__SRV_OUT_CAP;
}

void llmrt__srv_timer_update(sconn_t *c) {
  const llmrt__server_opts_t *o = &c->s->o;
  if (c->closing || c->lingering || c->tmode == SRV_TM_KICK) return;
  if (c->writing || c->out.len > 0) {
    /* Not the idle timer: a slow reader must get the whole answer. The send
     * timer checks for progress four times per period (see on_timer). */
    if (c->tmode != SRV_TM_SEND) {
      uint32_t t = o->send_timeout_ms;
      c->writes_seen = c->writes;
      c->queue_seen = write_queue(c);
      c->progress_at = uv_now(c->s->rt->loop);
      timer_set(c, SRV_TM_SEND, t == UINT32_MAX ? t : t / 4 + 1, t == UINT32_MAX ? t : t / 4 + 1);
    }
  } else if (!c->r.active) {
    if (c->tmode != SRV_TM_IDLE) timer_set(c, SRV_TM_IDLE, o->idle_timeout_ms, 0);
  } else if (c->peer_eof) {
    if (c->tmode != SRV_TM_EOF) timer_set(c, SRV_TM_EOF, o->idle_timeout_ms, 0);
  } else if (c->tmode != SRV_TM_NONE) {
    timer_set(c, SRV_TM_NONE, 0, 0);
  }
}

/* Parses pipelined input on the next loop turn, not inside the caller. */
static void kick(sconn_t *c) {
  timer_set(c, SRV_TM_KICK, 0, 0);
}

void llmrt__server_opts_init(llmrt__server_opts_t *o) {
  memset(o, 0, sizeof *o);
}

/* ---- Request parsing (llhttp callbacks) --------------------------------- */

static sconn_t *pconn(llhttp_t *p) {
  return (sconn_t *)p->data;
}

static int head_add(sconn_t *c, const char *at, size_t len) {
  if (c->r.head.len + len > c->s->o.max_header_bytes) {
    c->reject = 431;
    return -1;
  }
  if (llmrt__buf_append(&c->r.head, at, len) != 0) {
    c->reject = 500;
    return -1;
  }
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  sconn_t *c = pconn(p);
  llmrt__buf_reset(&c->r.head);
  llmrt__buf_reset(&c->r.body);
  c->r.n_headers = 0;
  c->r.hstate = 0;
  c->r.headers_done = 0;
  c->r.trailer_bytes = 0;
  c->r.url_off = 0;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  return head_add(pconn(p), at, len);
}

static int on_url_complete(llhttp_t *p) {
  sconn_t *c = pconn(p);
  if (head_add(c, "", 1) != 0) return -1;
  /* A second copy without the query, so handlers can route on the path.
   * The copy comes from head itself: make room first, so the append cannot
   * move the block it copies from. */
  c->r.path_off = c->r.head.len;
  size_t qlen = strcspn(c->r.head.data + c->r.url_off, "?");
  if (llmrt__buf_reserve(&c->r.head, qlen + 1) != 0) {
    c->reject = 500;
    return -1;
  }
  if (head_add(c, c->r.head.data + c->r.url_off, qlen) != 0 || head_add(c, "", 1) != 0) return -1;
  return 0;
}

/* Trailer fields (after a chunked body) arrive through the header callbacks
 * once r->headers points into head. They are not kept (head must not move,
 * and handlers see the header section only) but count against the limit. */
static int trailer_add(sconn_t *c, size_t len) {
  c->r.trailer_bytes += len;
  if (c->r.head.len + c->r.trailer_bytes > c->s->o.max_header_bytes) {
    c->reject = 431;
    return -1;
  }
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  sconn_t *c = pconn(p);
  llmrt__sreq_t *r = &c->r;
  if (r->headers_done) return trailer_add(c, len);
  if (r->hstate != 1) {
    if (r->n_headers >= c->s->o.max_headers) {
      c->reject = 431;
      return -1;
    }
    if (r->n_headers == r->cap_headers) {
      size_t ncap = r->cap_headers ? r->cap_headers * 2 : 16;
      size_t *h = llmrt__realloc(r->hoffs, ncap * 2 * sizeof *h);
      if (h) r->hoffs = h;
      llmrt_header_t *hh = h ? llmrt__realloc(r->headers, ncap * sizeof *hh) : NULL;
      if (!hh) {
        c->reject = 500;
        return -1;
      }
      r->headers = hh;
      r->cap_headers = ncap;
    }
    r->hoffs[2 * r->n_headers] = r->head.len;
    r->hoffs[2 * r->n_headers + 1] = 0;
    r->n_headers++;
    r->hstate = 1;
  }
  return head_add(c, at, len);
}

static int on_header_field_complete(llhttp_t *p) {
  sconn_t *c = pconn(p);
  if (c->r.headers_done) return trailer_add(c, 1);
  return head_add(c, "", 1);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  sconn_t *c = pconn(p);
  if (c->r.headers_done) return trailer_add(c, len);
  if (c->r.hstate != 2) {
    c->r.hoffs[2 * (c->r.n_headers - 1) + 1] = c->r.head.len;
    c->r.hstate = 2;
  }
  return head_add(c, at, len);
}

static int on_header_value_complete(llhttp_t *p) {
  sconn_t *c = pconn(p);
  llmrt__sreq_t *r = &c->r;
  if (r->headers_done) return trailer_add(c, 1);
  if (r->hstate != 2) /* empty value: llhttp gave no span */
    r->hoffs[2 * (r->n_headers - 1) + 1] = r->head.len;
  size_t start = r->hoffs[2 * (r->n_headers - 1) + 1];
  while (r->head.len > start &&
         (r->head.data[r->head.len - 1] == ' ' || r->head.data[r->head.len - 1] == '\t'))
    r->head.len--;
  r->hstate = 0;
  return head_add(c, "", 1);
}

static void build_headers(llmrt__sreq_t *r) {
  /* head no longer grows for this request: pointers into it are stable. */
  for (size_t i = 0; i < r->n_headers; i++) {
    r->headers[i].name = r->head.data + r->hoffs[2 * i];
    r->headers[i].value = r->head.data + r->hoffs[2 * i + 1];
  }
}

static int on_headers_complete(llhttp_t *p) {
  sconn_t *c = pconn(p);
  llmrt__sreq_t *r = &c->r;
  build_headers(r);
  r->headers_done = 1;
  r->method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
  r->is_head = llhttp_get_method(p) == HTTP_HEAD;
  r->http_minor = llhttp_get_http_major(p) == 1 ? llhttp_get_http_minor(p) : 0;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->s->o.max_body_bytes) {
    c->reject = 413;
    return -1;
  }
  if (c->s->o.head_check) {
    int status = c->s->o.head_check(c->s->user, r);
    if (status) {
      c->reject = status;
      return -1;
    }
  }
  const char *expect = llmrt__sreq_header(r, "expect");
  if (expect && strcasecmp(expect, "100-continue") == 0 && r->http_minor >= 1) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (llmrt__buf_append(&c->out, cont, sizeof cont - 1) != 0) {
      c->reject = 500;
      return -1;
    }
    llmrt__srv_flush(c);
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  sconn_t *c = pconn(p);
  if (c->r.body.len + len > c->s->o.max_body_bytes) {
    c->reject = 413;
    return -1;
  }
  if (llmrt__buf_append(&c->r.body, at, len) != 0) {
    c->reject = 500;
    return -1;
  }
  return 0;
}

/* The decoded body grows in out, up to max. */
typedef struct {
  llmrt__buf_t out;
  size_t max;
  int status; /* the HTTP status that emit refused with */
} gunzip_t;

static int gunzip_emit(void *arg, const char *data, size_t len) {
  gunzip_t *g = arg;
  if (g->out.len + len > g->max) {
    g->status = 413;
    return LLMRT_EBODYSIZE;
  }
  if (llmrt__buf_append(&g->out, data, len) != 0) {
    g->status = 500;
    return LLMRT_ENOMEM;
  }
  return 0;
}

/* Decodes a gzip (or zlib) request body with the client's decoder, which
 * allocates through the runtime's allocator. Returns 0 or the status to
 * refuse with: 400 corrupt or truncated, 413 too large, 500 out of memory. */
static int gunzip_body(sconn_t *c) {
  if (c->r.body.len == 0) return 400; /* no gzip header at all */
  gunzip_t g;
  llmrt__buf_init(&g.out);
  g.max = c->s->o.max_body_bytes;
  g.status = 0;
  llmrt__inflate_t d;
  if (llmrt__inflate_init2(&d, 0) != 0) return 500;
  int rc = llmrt__inflate_feed(&d, c->r.body.data, c->r.body.len, gunzip_emit, &g);
  if (rc == 0) rc = llmrt__inflate_finish(&d);
  llmrt__inflate_free(&d);
  if (rc != 0) {
    llmrt__buf_free(&g.out);
    return g.status ? g.status : rc == LLMRT_ENOMEM ? 500 : 400;
  }
  llmrt__buf_free(&c->r.body);
  c->r.body = g.out;
  return 0;
}

static int unzstd_body(sconn_t *c) {
  llmrt__buf_t out;
  llmrt__buf_init(&out);
  int rc = llmrt__zstd_decode(c->r.body.data, c->r.body.len, c->s->o.max_body_bytes, &out);
  if (rc) {
    llmrt__buf_free(&out);
    return rc;
  }
  llmrt__buf_free(&c->r.body);
  c->r.body = out;
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  sconn_t *c = pconn(p);
  c->r.keep_alive = llhttp_should_keep_alive(p);
  const char *ce = llmrt__sreq_header(&c->r, "content-encoding");
  if (ce && *ce && strcasecmp(ce, "identity") != 0) {
    int zstd = c->s->o.decode_gzip_body && c->s->o.decode_zstd_body && !strcasecmp(ce, "zstd");
    if (!zstd && (!c->s->o.decode_gzip_body ||
                  (strcasecmp(ce, "gzip") != 0 && strcasecmp(ce, "deflate") != 0))) {
      c->reject = 415;
      return -1;
    }
    int rc = zstd ? unzstd_body(c) : gunzip_body(c);
    if (rc != 0) {
      c->reject = rc;
      return -1;
    }
  }
  /* Stop here: the request is dispatched after llhttp_execute returns, so
   * handlers never run inside the parser. */
  return HPE_PAUSED;
}

/* The exchange is over from the handler's side: prepare for the next request. */
void llmrt__srv_exchange_done(sconn_t *c) {
  llmrt__sreq_t *r = &c->r;
  r->active = 0;
  r->started = 0;
  r->abort_cb = NULL;
  r->drain_cb = NULL;
  if (c->closing) return;
  if (!r->keep_alive) {
    c->close_after = 1;
    if (!c->writing && c->out.len == 0)
      llmrt__srv_close_output(c);
    else
      llmrt__srv_timer_update(c);
    return;
  }
  if (c->in_process) return; /* sconn_process goes on by itself */
  if (c->in.len > 0)
    kick(c); /* not inside the handler; sconn_process applies the output cap */
  else
    llmrt__srv_timer_update(c); /* idle only once the answer is written */
}

void llmrt__srv_wrote(sconn_t *c) {
  if (c->closing) return;
  if (c->out_blocked && !out_full(c) && !c->r.active && !c->in_process) {
    c->out_blocked = 0;
    kick(c);
    return;
  }
  llmrt__srv_timer_update(c);
}

/* Progress for the send timeout: a write completed, or the socket's write
 * queue shrank (a big write completes only once all of it reached the
 * kernel, so a slow reader shows progress only there). */
static int send_progress(sconn_t *c) {
  size_t q = write_queue(c);
  int moved = c->writes != c->writes_seen || q < c->queue_seen;
  c->writes_seen = c->writes;
  c->queue_seen = q;
  return moved;
}

/* ---- Connection lifecycle ------------------------------------------------ */

static void on_timer(uv_timer_t *t) {
  sconn_t *c = t->data;
  llmrt__server_t *s = c->s;
  switch (c->tmode) {
  case SRV_TM_KICK:
    c->tmode = SRV_TM_NONE;
    sconn_process(c);
    return;
  case SRV_TM_LINGER:
    llmrt__srv_conn_close(c, LLMRT_ECLOSED);
    return;
  case SRV_TM_SEND:
    if (send_progress(c)) c->progress_at = uv_now(s->rt->loop);
    if (uv_now(s->rt->loop) - c->progress_at < s->o.send_timeout_ms) return; /* it repeats */
    llmrt__log(s->rt, LLMRT_LOG_DEBUG, "server %s:%u: %s read nothing for %u ms: closing", s->host,
               s->port, c->r.peer, s->o.send_timeout_ms);
    llmrt__srv_conn_close(c, LLMRT_ETIMEDOUT);
    return;
  case SRV_TM_EOF:
    llmrt__log(s->rt, LLMRT_LOG_DEBUG, "server %s:%u: %s sent EOF %u ms ago: taken as gone",
               s->host, s->port, c->r.peer, s->o.idle_timeout_ms);
    llmrt__srv_conn_close(c, LLMRT_ECLOSED);
    return;
  case SRV_TM_IDLE:
    /* Idle keep-alive connection, or a request that took too long to arrive. */
    llmrt__srv_conn_close(c, LLMRT_ETIMEDOUT);
    return;
  default:
    return;
  }
}

static void on_timer_closed(uv_handle_t *h) {
  sconn_t *c = h->data;
  llmrt__server_t *s = c->s;
  llmrt__buf_free(&c->in);
  llmrt__buf_free(&c->out);
  llmrt__buf_free(&c->inflight);
  llmrt__buf_free(&c->r.head);
  llmrt__buf_free(&c->r.body);
  llmrt__free(c->r.hoffs);
  llmrt__free(c->r.headers);
  llmrt__free(c);
  s->n_conns--;
  server_maybe_done(s);
}

void llmrt__srv_conn_close(sconn_t *c, int status) {
  if (c->closing) return;
  c->closing = 1;
  llmrt__server_t *s = c->s;
  llmrt__list_remove(&c->link);
  if (c->connected) s->st.open--;
  if (c->conn) llmrt__conn_close(c->conn);
  c->conn = NULL;
  c->tcp = NULL;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  if (c->r.active) {
    c->r.active = 0;
    if (c->r.abort_cb) c->r.abort_cb(&c->r, status, c->r.abort_arg);
  }
}

/* All output is flushed and the connection is to close. Closing a socket
 * with unread input makes the kernel send a reset, which can destroy the
 * response in flight (a 413 while the client still sends its body). So for
 * plain TCP send a FIN first and read and discard until the client closes or
 * a short timeout passes, as nginx's lingering close does. (TLS closes with
 * close_notify at once.) */
void llmrt__srv_close_output(sconn_t *c) {
  uv_os_fd_t fd;
  if (c->closing || c->lingering) return;
  if (c->s->tls || c->peer_eof || !c->tcp || uv_fileno((uv_handle_t *)c->tcp, &fd) != 0 ||
      shutdown(fd, SHUT_WR) != 0) {
    llmrt__srv_conn_close(c, LLMRT_ECLOSED);
    return;
  }
  llmrt__buf_free(&c->in);
  timer_set(c, SRV_TM_LINGER, 2000, 0);
  c->lingering = 1;
}

/* ---- Output: two buffers that swap, one being written while the other
 * collects ---------------------------------------------------------------- */

const char *llmrt__http_reason(int status) {
  static const struct {
    int status;
    const char *reason;
  } reasons[] = {
      {100, "Continue"},
      {200, "OK"},
      {201, "Created"},
      {204, "No Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {304, "Not Modified"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {413, "Content Too Large"},
      {415, "Unsupported Media Type"},
      {422, "Unprocessable Content"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {529, "Site Overloaded"},
  };
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (reasons[i].status == status) return reasons[i].reason;
  return status < 300 ? "OK" : "Error";
}

static void on_write(llmrt__conn_t *conn, int status, void *arg) {
  sconn_t *c = arg;
  c->writing = 0;
  c->writes++;
  llmrt__buf_reset(&c->inflight);
  if (status < 0) {
    llmrt__srv_conn_close(c, status);
    return;
  }
  if (c->out.len > 0) {
    llmrt__srv_flush(c);
    llmrt__srv_wrote(c);
    return;
  }
  if (c->close_after) {
    llmrt__srv_close_output(c);
    return;
  }
  llmrt__srv_wrote(c);
  /* Last: the handler may finish the exchange from here. */
  if (c->r.active && c->r.drain_cb && !c->closing) c->r.drain_cb(&c->r, c->r.drain_arg);
}

void llmrt__srv_flush(sconn_t *c) {
  if (c->writing || c->closing || !c->connected || c->out.len == 0) return;
  llmrt__buf_t t = c->inflight;
  c->inflight = c->out;
  c->out = t;
  uv_buf_t b = uv_buf_init(c->inflight.data, (unsigned)c->inflight.len);
  c->writing = 1;
  int rc = llmrt__conn_write(c->conn, &b, 1, on_write, c);
  if (rc < 0) {
    c->writing = 0;
    llmrt__srv_conn_close(c, rc);
    return;
  }
  llmrt__srv_timer_update(c); /* the send timeout from now on */
}

static int has_header(const llmrt_header_t *h, size_t n, const char *name, const char *value) {
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(h[i].name, name) == 0 && (!value || strcasecmp(h[i].value, value) == 0))
      return 1;
  return 0;
}

/* Appends the status line and headers; body_len < 0 means streamed. */
int llmrt__srv_put_head(sconn_t *c, int status, const llmrt_header_t *h, size_t n,
                        long long body_len) {
  llmrt__sreq_t *r = &c->r;
  llmrt__buf_t *o = &c->out;
  int rc = llmrt__buf_printf(o, "HTTP/1.1 %d %s\r\n", status, llmrt__http_reason(status));
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = llmrt__buf_printf(o, "%s: %s\r\n", h[i].name, h[i].value);
  if (has_header(h, n, "connection", "close") || c->s->closing || c->s->draining) r->keep_alive = 0;
  int has_cl = has_header(h, n, "content-length", NULL);
  int no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
  r->chunked = 0;
  if (body_len >= 0) {
    if (!has_cl && !no_body && rc == 0)
      rc = llmrt__buf_printf(o, "Content-Length: %lld\r\n", body_len);
  } else if (!has_cl && !no_body) {
    if (r->http_minor >= 1) {
      r->chunked = 1;
      if (rc == 0) rc = llmrt__buf_puts(o, "Transfer-Encoding: chunked\r\n");
    } else {
      r->keep_alive = 0; /* HTTP/1.0: the body ends when the connection closes */
    }
  }
  if (rc == 0 && !has_header(h, n, "connection", NULL)) {
    if (!r->keep_alive)
      rc = llmrt__buf_puts(o, "Connection: close\r\n");
    else if (r->http_minor == 0)
      rc = llmrt__buf_puts(o, "Connection: keep-alive\r\n");
  }
  if (rc == 0) rc = llmrt__buf_puts(o, "\r\n");
  return rc;
}

const char *llmrt__sreq_header(const llmrt__sreq_t *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

static void reject(sconn_t *c, int status) {
  static const char *const msg[] = {"bad request\n", "request too large\n"};
  const char *body = status == 413 || status == 431 ? msg[1] : msg[0];
  c->s->st.rejected++;
  c->r.keep_alive = 0;
  c->r.http_minor = 1;
  llmrt_header_t h[] = {{"Content-Type", "text/plain"}};
  size_t blen = strlen(body);
  /* c->reject is set only by this message's callbacks, so with it
   * headers_done (and the path) are this message's, not the last one's. */
  llmrt__buf_t own;
  llmrt__buf_init(&own);
  if (c->s->o.reject_body && c->reject && c->r.headers_done) {
    const char *type = c->s->o.reject_body(c->s->user, llmrt__sreq_path(&c->r), status, &own);
    if (type) {
      h[0].value = type;
      body = own.data;
      blen = own.len;
    }
  }
  int rc = llmrt__srv_put_head(c, status, h, 1, (long long)blen);
  if (!rc) rc = llmrt__buf_append(&c->out, body, blen);
  llmrt__buf_free(&own);
  if (rc) {
    llmrt__srv_conn_close(c, LLMRT_ENOMEM);
    return;
  }
  c->close_after = 1;
  llmrt__buf_reset(&c->in);
  llmrt__srv_flush(c);
}

static void dispatch(sconn_t *c) {
  llmrt__server_t *s = c->s;
  c->r.active = 1;
  s->st.requests++;
  if (s->o.max_requests_per_connection && ++c->n_requests >= s->o.max_requests_per_connection)
    c->r.keep_alive = 0;
  timer_set(c, SRV_TM_NONE, 0, 0);
  s->cbs.on_request(s, &c->r, s->user);
}

static void sconn_process(sconn_t *c) {
  if (c->in_process) return;
  c->in_process = 1;
  c->out_blocked = 0; /* set again below if the cap still holds */
  /* Requests are answered in order: with more than the cap of output
   * queued (a client that pipelines and does not read), stop parsing. */
  while (!c->closing && !c->close_after && !c->r.active && c->in.len > 0 && !out_full(c)) {
    llhttp_errno_t e = llhttp_execute(&c->parser, c->in.data, c->in.len);
    size_t used = c->in.len;
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE)
      used = (size_t)(llhttp_get_error_pos(&c->parser) - c->in.data);
    if (e != HPE_OK && e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) {
      int status = c->reject ? c->reject : 400;
      reject(c, status);
      break;
    }
    llmrt__buf_consume(&c->in, used);
    if (e == HPE_PAUSED) {
      llhttp_resume(&c->parser);
      dispatch(c);
    } else if (e == HPE_PAUSED_UPGRADE) {
      /* Upgrade (h2c, websocket) or CONNECT: the request was answered like
       * any other (we speak HTTP/1.1 only, and may ignore the offer), so
       * what follows is the next HTTP/1.1 request. */
      llhttp_resume_after_upgrade(&c->parser);
    }
  }
  if (!c->closing && !c->r.active && !c->close_after) {
    if (c->in.len > 0 && out_full(c)) {
      /* Stop reading too, so input does not pile up; llmrt__srv_wrote
       * resumes once the client has read some. */
      c->out_blocked = 1;
      if (!c->read_paused) {
        c->read_paused = 1;
        llmrt__conn_read_stop(c->conn);
      }
    } else if (c->read_paused) {
      c->read_paused = 0;
      llmrt__conn_read_start(c->conn);
    }
  }
  c->in_process = 0;
  llmrt__srv_timer_update(c);
}

static void on_read(llmrt__conn_t *conn, int status, const char *data, size_t len, void *user) {
  sconn_t *c = user;
  if (status < 0) {
    /* A client may half-close after its last request: let the response that
     * is being flushed finish (nothing else is read after close_after). */
    if (status == LLMRT_ECLOSED && c->close_after && !c->lingering &&
        (c->writing || c->out.len > 0)) {
      c->peer_eof = 1;
      return;
    }
    /* Likewise a client that sent a last request (Connection: close, or
     * HTTP/1.0) and half-closed may still wait for its answer. TCP cannot
     * tell that from a client that closed and left: writing would (the
     * client's kernel answers with a reset), but a handler may write nothing
     * for a long time (a slow upstream). So keep the exchange, bounded: if
     * the handler produces no output for idle_timeout_ms after the EOF, the
     * client is taken as gone and the exchange aborted with LLMRT_ECLOSED
     * (SRV_TM_EOF). Output that gets written restarts the bound; output that
     * reaches a departed client fails at once. */
    if (status == LLMRT_ECLOSED && c->r.active && !c->r.keep_alive) {
      c->peer_eof = 1;
      llmrt__srv_timer_update(c);
      return;
    }
    llmrt__srv_conn_close(c, status);
    return;
  }
  if (c->close_after) return; /* discarded (see llmrt__srv_close_output) */
  if (llmrt__buf_append(&c->in, data, len) != 0) {
    llmrt__srv_conn_close(c, LLMRT_ENOMEM);
    return;
  }
  if (c->r.active || c->out_blocked) {
    /* Pipelined input: keep reading (to notice a disconnect) but bounded. */
    if (c->in.len > c->s->o.max_header_bytes + c->s->o.max_body_bytes) {
      c->read_paused = 1;
      llmrt__conn_read_stop(c->conn);
    }
    return;
  }
  sconn_process(c);
}

static void on_connect(llmrt__conn_t *conn, int status, const char *errmsg, void *user) {
  sconn_t *c = user;
  llmrt__server_t *s = c->s;
  if (status < 0) {
    llmrt__log(s->rt, LLMRT_LOG_DEBUG, "server %s:%u: connection from %s failed: %s", s->host,
               s->port, c->r.peer, errmsg ? errmsg : llmrt_strerror(status));
    c->conn = NULL; /* already closing on the transport's side */
    llmrt__srv_conn_close(c, status);
    return;
  }
  c->connected = 1;
  s->st.connections++;
  s->st.open++;
  int rc = llmrt__conn_read_start(conn);
  if (rc < 0) {
    llmrt__srv_conn_close(c, rc);
    return;
  }
  llmrt__srv_timer_update(c);
  if (s->cbs.on_conn) s->cbs.on_conn(s, s->user);
}

static void free_tcp(uv_handle_t *h) {
  llmrt__free(h);
}

static void on_connection(uv_stream_t *ls, int status);

static void on_refused(uv_handle_t *h) {
  llmrt__server_t *s = h->data;
  s->refuse_busy = 0;
  if (s->refuse_pending && !s->closing && !s->draining) {
    /* libuv still holds the connection that came while refuse_tcp was busy
     * (and does not poll until it is accepted): try it again now. */
    s->refuse_pending = 0;
    on_connection((uv_stream_t *)&s->listener, 0);
    return;
  }
  server_maybe_done(s);
}

/* No memory for a new connection. libuv stops polling a listener whose
 * connection callback accepted nothing, until something is accepted: accept
 * it into the server's own spare handle and close it, so the server stays
 * reachable once memory is back. */
static void refuse(llmrt__server_t *s, const char *why) {
  if (s->refuse_busy) {
    s->refuse_pending = 1; /* on_refused comes back for it */
    return;
  }
  s->refuse_busy = 1;
  uv_tcp_init(s->rt->loop, &s->refuse_tcp);
  s->refuse_tcp.data = s;
  if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&s->refuse_tcp) == 0)
    llmrt__log(s->rt, LLMRT_LOG_WARN, "server %s:%u: %s: connection refused", s->host, s->port,
               why);
  uv_close((uv_handle_t *)&s->refuse_tcp, on_refused);
}

static void on_connection(uv_stream_t *ls, int status) {
  llmrt__server_t *s = ls->data;
  if (status < 0 || s->closing || s->draining) return;
  if (s->o.max_connections && s->n_conns >= s->o.max_connections) {
    /* Over the limit: taken off the backlog and closed at once, so it
     * fails fast instead of waiting in the kernel's queue. */
    s->st.rejected++;
    refuse(s, "max_connections reached");
    return;
  }
  uv_tcp_t *tcp = llmrt__malloc(sizeof *tcp);
  sconn_t *c = llmrt__calloc(1, sizeof *c);
  if (!tcp || !c) {
    llmrt__free(tcp);
    llmrt__free(c);
    refuse(s, "out of memory");
    return;
  }
  llmrt__list_init(&c->link);
  uv_tcp_init(s->rt->loop, tcp);
  if (uv_accept(ls, (uv_stream_t *)tcp) != 0) {
    uv_close((uv_handle_t *)tcp, free_tcp);
    llmrt__free(c);
    return;
  }
  uv_tcp_nodelay(tcp, 1);
  c->s = s;
  c->tcp = tcp;
  (void)llmrt__tcp_peer(tcp, NULL, 0, c->r.peer, sizeof c->r.peer);
  c->r.c = c;
  llmrt__buf_init(&c->in);
  llmrt__buf_init(&c->out);
  llmrt__buf_init(&c->inflight);
  llmrt__buf_init(&c->r.head);
  llmrt__buf_init(&c->r.body);
  llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
  c->parser.data = c;
  uv_timer_init(s->rt->loop, &c->timer);
  c->timer.data = c;
  s->n_conns++;
  llmrt__list_push_front(&s->conns, &c->link);
  static const llmrt__conn_cbs_t cbs = {on_connect, on_read};
  int rc = llmrt__conn_accept(s->rt, tcp, s->tls, s->o.handshake_timeout_ms, &cbs, c, &c->conn);
  if (rc < 0) {
    llmrt__log(s->rt, LLMRT_LOG_WARN, "server %s:%u: cannot set up connection from %s: %s", s->host,
               s->port, c->r.peer, llmrt_strerror(rc));
    c->conn = NULL; /* the transport closed and freed tcp */
    llmrt__srv_conn_close(c, rc);
  }
}

/* ---- Server -------------------------------------------------------------- */

static void server_maybe_done(llmrt__server_t *s) {
  if (!s->closing || !s->listener_closed || s->n_conns > 0 || s->refuse_busy) return;
  llmrt_t *rt = s->rt;
  if (s->done) s->done(s, s->done_user);
  if (s->tls) llmrt__tls_server_free(s->tls);
  llmrt__free(s->host);
  llmrt__free(s);
  llmrt__rt_unref(rt);
}

static void on_listener_closed(uv_handle_t *h) {
  llmrt__server_t *s = h->data;
  s->listener_closed = 1;
  server_maybe_done(s);
}

static void apply_defaults(llmrt__server_opts_t *o) {
  if (!o->backlog) o->backlog = 511;
  if (!o->max_header_bytes) o->max_header_bytes = 64 * 1024;
  if (!o->max_headers) o->max_headers = 100;
  if (!o->max_body_bytes) o->max_body_bytes = 16 * 1024 * 1024;
  if (!o->idle_timeout_ms) o->idle_timeout_ms = 60000;
  if (!o->send_timeout_ms) o->send_timeout_ms = 60000;
  if (!o->handshake_timeout_ms) o->handshake_timeout_ms = 10000;
}

static void init_parser_settings(llhttp_settings_t *st) {
  llhttp_settings_init(st);
  st->on_message_begin = on_message_begin;
  st->on_url = on_url;
  st->on_url_complete = on_url_complete;
  st->on_header_field = on_header_field;
  st->on_header_field_complete = on_header_field_complete;
  st->on_header_value = on_header_value;
  st->on_header_value_complete = on_header_value_complete;
  st->on_headers_complete = on_headers_complete;
  st->on_body = on_body;
  st->on_message_complete = on_message_complete;
}

/* Binds the (initialised) listener to addr, listens, and learns the port;
 * *step names the step that failed. */
static int listen_on(llmrt__server_t *s, const llmrt__sockaddr_t *addr, const char **step) {
  *step = "bind";
  int rc = uv_tcp_bind(&s->listener, &addr->sa, 0);
  if (rc) return rc;
  *step = "listen";
  rc = uv_listen((uv_stream_t *)&s->listener, s->o.backlog, on_connection);
  if (rc) return rc;
  llmrt__sockaddr_t bound;
  int sl = sizeof bound;
  *step = "getsockname";
  rc = uv_tcp_getsockname(&s->listener, &bound.sa, &sl);
  if (rc == 0) s->port = llmrt__sockaddr_port(&bound);
  return rc;
}

int llmrt__server_start(llmrt_t *rt, const llmrt__server_opts_t *o, const llmrt__server_cbs_t *cbs,
                        void *user, llmrt__server_t **out, char *errbuf, size_t errlen) {
  char dummy[8];
  if (!errbuf) {
    errbuf = dummy;
    errlen = sizeof dummy;
  }
  if (errlen) errbuf[0] = '\0';
  if (!rt || !o || !cbs || !cbs->on_request || !out) return LLMRT_EINVAL;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  llmrt__server_t *s = llmrt__calloc(1, sizeof *s);
  if (!s) return LLMRT_ENOMEM;
  s->rt = rt;
  s->o = *o;
  s->cbs = *cbs;
  s->user = user;
  llmrt__list_init(&s->conns);
  s->host = llmrt__strdup(o->host ? o->host : "127.0.0.1");
  if (!s->host) {
    llmrt__free(s);
    return LLMRT_ENOMEM;
  }
  s->o.host = s->host;
  s->o.tls_cert = s->o.tls_key = NULL; /* not kept */
  apply_defaults(&s->o);
  init_parser_settings(&s->settings);

  int rc = 0;
  const char *step = "address";
  llmrt__sockaddr_t addr;
  if (!llmrt__sockaddr_parse(s->host, o->port, &addr)) rc = UV_EINVAL;
  if (rc == 0 && o->tls_cert && o->tls_key) {
    step = "TLS setup";
    rc = llmrt__tls_server_new(rt, o->tls_cert, o->tls_key, &s->tls, errbuf, errlen);
    if (rc < 0) {
      llmrt__free(s->host);
      llmrt__free(s);
      return rc;
    }
  }
  if (rc == 0) {
    step = "socket";
    rc = uv_tcp_init(rt->loop, &s->listener);
    s->listener.data = s;
    if (rc == 0) {
      rc = listen_on(s, &addr, &step);
      if (rc != 0) {
        /* The listener handle must close before s can go: finish like a close. */
        snprintf(errbuf, errlen, "server %s:%u: %s failed: %s", s->host, o->port, step,
                 uv_strerror(rc));
        llmrt__rt_ref(rt);
        s->closing = 1;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return rc;
      }
    }
  }
  if (rc != 0) {
    snprintf(errbuf, errlen, "server %s:%u: %s failed: %s", s->host, o->port, step,
             uv_strerror(rc));
    if (s->tls) llmrt__tls_server_free(s->tls);
    llmrt__free(s->host);
    llmrt__free(s);
    return rc;
  }
  llmrt__rt_ref(rt);
  *out = s;
  return 0;
}

uint16_t llmrt__server_port(const llmrt__server_t *s) {
  return s->port;
}

int llmrt__server_is_tls(const llmrt__server_t *s) {
  return s->tls != NULL;
}

llmrt_t *llmrt__server_rt(const llmrt__server_t *s) {
  return s->rt;
}

void llmrt__server_stats(const llmrt__server_t *s, llmrt__server_stats_t *out) {
  *out = s->st;
}

void llmrt__server_set_limits(llmrt__server_t *s, const llmrt__server_opts_t *o) {
  llmrt__server_opts_t n = s->o;
  n.max_header_bytes = o->max_header_bytes;
  n.max_headers = o->max_headers;
  n.max_body_bytes = o->max_body_bytes;
  n.idle_timeout_ms = o->idle_timeout_ms;
  n.max_connections = o->max_connections;
  n.max_requests_per_connection = o->max_requests_per_connection;
  apply_defaults(&n);
  s->o = n;
}

void llmrt__server_close(llmrt__server_t *s, void (*done)(llmrt__server_t *, void *), void *user) {
  if (s->closing) return;
  s->closing = 1;
  s->done = done;
  s->done_user = user;
  if (!s->draining) uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  s->draining = 1;
  /* llmrt__srv_conn_close unlinks the head each time, whatever the abort callbacks do. */
  while (!llmrt__list_empty(&s->conns))
    llmrt__srv_conn_close(LLMRT__CONTAINER(s->conns.next, sconn_t, link), LLMRT_ESHUTDOWN);
  /* After llmrt__server_stop_accepting the listener may be closed already
   * and no connection left to report: then nothing else would finish. */
  server_maybe_done(s);
}

void llmrt__server_stop_accepting(llmrt__server_t *s) {
  if (s->closing || s->draining) return;
  s->draining = 1;
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
