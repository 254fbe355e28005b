/* HTTP/1.1 client exchange: request serialization (a small head buffer plus
 * the caller's body buffers, written as iovecs), response parsing with
 * llhttp, content decoding, limits, deadlines, cancel and the single on_done.
 *
 * Re-entrancy: a user callback (on_head, on_body) may cancel the request,
 * start others or close the runtime. The request is then finished at once
 * (connection closed) but its on_done waits for the next loop turn, and
 * every parser callback checks req->done after calling out, so nothing
 * touches a connection that was dropped meanwhile. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"

static const llhttp_settings_t *parser_settings(void);
static void on_timer(uv_timer_t *t);
static void finish(llmrt__req_t *req, int status, const char *msg, int defer);
static void conn_ready(llmrt__req_t *req);
static void on_read(llmrt__req_t *req, int status, const char *data, size_t len);

/* The pool reports to requests through this. */
static void waiting(llmrt__req_t *r, int queued) {
  r->state = queued ? LLMRT__REQ_QUEUED : LLMRT__REQ_CONNECTING;
}

static const llmrt__pool_user_t pool_user = {waiting, conn_ready, on_read, finish};

void llmrt_http_request_init(llmrt_http_request_t *req) {
  memset(req, 0, sizeof(*req));
  req->method = "GET";
}

/* ---- Helpers -------------------------------------------------------------- */

static const char *label(const llmrt__req_t *r) {
  return r->origin ? r->origin->label : "?";
}

static void set_err(llmrt__req_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(llmrt__req_t *r, int code, const char *fmt, ...) {
  if (r->resp.cb_err) return; /* keep the first */
  r->resp.cb_err = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
  va_end(ap);
}

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *s) {
  if (!s || !*s) return 0;
  for (; *s; s++)
    if (!is_tchar((unsigned char)*s)) return 0;
  return 1;
}

/* Header values may not carry CR, LF or NUL: they would split the request. */
static int is_field_value(const char *s) {
  for (; *s; s++)
    if (*s == '\r' || *s == '\n') return 0;
  return 1;
}

static void arm_timer(llmrt__req_t *r) {
  if (r->done || r->resume_due) return; /* the resume re-arms it */
  uint64_t now = llmrt__now_us(), next = UINT64_MAX;
  if (r->total_deadline_us) next = r->total_deadline_us;
  /* While paused the reader is the slow one: only the total deadline runs. */
  if (r->state == LLMRT__REQ_EXCHANGE && !r->hold) {
    uint64_t phase = 0;
    if (!r->resp.got_byte)
      phase = r->fb_deadline_us;
    else if (r->to_idle)
      phase = r->last_read_us + (uint64_t)r->to_idle * 1000;
    if (phase && phase < next) next = phase;
  }
  if (next == UINT64_MAX) {
    uv_timer_stop(&r->timer);
    return;
  }
  uv_timer_start(&r->timer, on_timer, next > now ? (next - now + 999) / 1000 : 0, 0);
}

/* ---- Request start --------------------------------------------------------- */

static int skip_user_header(const char *name, unsigned flags) {
  static const char *const ours[] = {"host", "content-length", "connection", "transfer-encoding"};
  for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
    if (strcasecmp(name, ours[i]) == 0) return 1;
  return (flags & LLMRT_HTTP_GZIP_BODY) && strcasecmp(name, "content-encoding") == 0;
}

static int serialize_head(llmrt__req_t *r, const llmrt_http_request_t *q, const llmrt__url_t *u,
                          size_t body_len, int has_body) {
  llmrt__buf_t *b = &r->head;
  int rc =
      llmrt__buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n", q->method, u->target, u->host_hdr);
  int user_ae = 0;
  for (size_t i = 0; rc == 0 && i < q->n_headers; i++) {
    const llmrt_header_t *h = &q->headers[i];
    if (skip_user_header(h->name, q->flags)) continue;
    if (strcasecmp(h->name, "accept-encoding") == 0) user_ae = 1;
    rc = llmrt__buf_printf(b, "%s: %s\r\n", h->name, h->value);
  }
  if (rc == 0 && (q->flags & LLMRT_HTTP_DECOMPRESS) && !user_ae)
    rc = llmrt__buf_puts(b, "Accept-Encoding: gzip, deflate\r\n");
  if (rc == 0 && (q->flags & LLMRT_HTTP_GZIP_BODY) && has_body)
    rc = llmrt__buf_puts(b, "Content-Encoding: gzip\r\n");
  if (rc == 0 && has_body) rc = llmrt__buf_printf(b, "Content-Length: %zu\r\n", body_len);
  if (rc == 0)
    rc = llmrt__buf_puts(b, (q->flags & LLMRT_HTTP_NO_REUSE) ? "Connection: close\r\n\r\n"
                                                             : "Connection: keep-alive\r\n\r\n");
  return rc;
}

static int validate(llmrt_t *rt, const llmrt_http_request_t *q) {
  if (!is_token(q->method)) {
    llmrt__log(rt, LLMRT_LOG_WARN, "llmrt_http_request: invalid method");
    return LLMRT_EINVAL;
  }
  if (q->n_headers && !q->headers) return LLMRT_EINVAL;
  for (size_t i = 0; i < q->n_headers; i++) {
    const llmrt_header_t *h = &q->headers[i];
    if (!is_token(h->name) || !h->value || !is_field_value(h->value)) {
      llmrt__log(rt, LLMRT_LOG_WARN, "llmrt_http_request: invalid header #%zu (%s)", i,
                 is_token(h->name) ? h->name : "bad name");
      return LLMRT_EINVAL;
    }
  }
  if (q->n_body && !q->body) return LLMRT_EINVAL;
  return 0;
}

static void req_closed(uv_handle_t *h) {
  llmrt__req_t *r = h->data;
  llmrt_t *rt = r->rt;
  llmrt__buf_free(&r->head);
  llmrt__buf_free(&r->gz);
  llmrt__buf_free(&r->hdrs);
  llmrt__free(r->hoff);
  llmrt__free(r->harr);
  llmrt__free(r->bufs);
  llmrt__buf_free(&r->pend);
  if (r->decoding) llmrt__inflate_free(&r->inflate);
  llmrt__free(r);
  llmrt__rt_unref(rt);
}

static int method_has_body(const char *m) {
  return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* The bytes to write: the head, then the caller's body buffers as they are
 * or one gzip buffer, as iovecs in r->bufs. */
static int build_output(llmrt__req_t *r, const llmrt_http_request_t *q, const llmrt__url_t *u) {
  int rc = 0;
  size_t body_len = 0;
  unsigned nb = q->n_body;
  for (unsigned i = 0; i < q->n_body; i++)
    body_len += q->body[i].len;
  int has_body = q->n_body > 0 || method_has_body(q->method);
  if ((q->flags & LLMRT_HTTP_GZIP_BODY) && q->n_body) {
    rc = llmrt__gzip_compress(q->body, q->n_body, &r->gz);
    body_len = r->gz.len;
    nb = 1;
  }
  if (rc == 0) rc = serialize_head(r, q, u, body_len, has_body);
  if (rc == 0 && !(r->bufs = llmrt__calloc(nb + 1u, sizeof(uv_buf_t)))) rc = LLMRT_ENOMEM;
  if (rc) return rc;
  r->bufs[0] = uv_buf_init(r->head.data, (unsigned)r->head.len);
  if (r->gz.data)
    r->bufs[1] = uv_buf_init(r->gz.data, (unsigned)r->gz.len);
  else
    for (unsigned i = 0; i < nb; i++)
      r->bufs[i + 1] = q->body[i];
  r->nbufs = nb + 1;
  return 0;
}

/* Timeouts from the request, else the runtime's; the total one counts from
 * now. */
static void set_deadlines(llmrt__req_t *r, const llmrt_http_request_t *q) {
  const llmrt_options_t *o = &r->rt->opts;
  r->to_connect = llmrt__timeout(q->connect_timeout_ms, o->connect_timeout_ms);
  r->to_tls = llmrt__timeout(q->tls_timeout_ms, o->tls_timeout_ms);
  r->to_first_byte = llmrt__timeout(q->first_byte_timeout_ms, o->first_byte_timeout_ms);
  r->to_idle = llmrt__timeout(q->idle_timeout_ms, o->idle_timeout_ms);
  r->to_total = llmrt__timeout(q->total_timeout_ms, o->total_timeout_ms);
  r->start_us = llmrt__now_us();
  if (r->to_total) r->total_deadline_us = r->start_us + (uint64_t)r->to_total * 1000;
}

int llmrt_http_request(llmrt_t *rt, const llmrt_http_request_t *q,
                       const llmrt_http_callbacks_t *cbs, void *user, llmrt_http_t **out) {
  if (out) *out = NULL;
  if (!rt || !q || !cbs || !cbs->on_done) return LLMRT_EINVAL;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  int rc = validate(rt, q);
  if (rc) return rc;

  llmrt__url_t u;
  char err[256];
  if ((rc = llmrt__url_parse(q->url, &u, err, sizeof(err))) != 0) {
    llmrt__log(rt, LLMRT_LOG_WARN, "llmrt_http_request: %s", err);
    return rc;
  }
  llmrt__pool_t *pool = llmrt__pool_get(rt);
  llmrt__req_t *r = pool ? llmrt__calloc(1, sizeof(*r)) : NULL;
  if (!r) {
    llmrt__url_free(&u);
    return LLMRT_ENOMEM;
  }
  r->rt = rt;
  r->pool_user = &pool_user;
  r->cbs = *cbs;
  r->user = user;
  r->flags = q->flags;
  r->max_connections = q->max_connections;
  r->head_only = strcmp(q->method, "HEAD") == 0;
  llmrt__list_init(&r->link);
  llmrt__list_init(&r->qlink);

  rc = build_output(r, q, &u);
  if (rc == 0) rc = llmrt__pool_origin(pool, &u, &r->origin);
  llmrt__url_free(&u);
  if (rc) {
    llmrt__buf_free(&r->head);
    llmrt__buf_free(&r->gz);
    llmrt__free(r->bufs);
    llmrt__free(r);
    return rc;
  }
  set_deadlines(r, q);

  uv_timer_init(rt->loop, &r->timer);
  r->timer.data = r;
  llmrt__rt_ref(rt);
  llmrt__list_push_back(&pool->reqs, &r->link);

  /* Anything that ends the request from here on reports on a later turn. */
  r->in_cb++;
  rc = llmrt__pool_acquire(r);
  r->in_cb--;
  if (rc) {
    llmrt__list_remove(&r->link);
    uv_close((uv_handle_t *)&r->timer, req_closed);
    return rc;
  }
  arm_timer(r);
  if (out) *out = r;
  return 0;
}

/* ---- Finish ---------------------------------------------------------------- */

static void deliver(llmrt__req_t *r) {
  r->in_cb++;
  r->cbs.on_done(r, r->status, r->status ? r->errmsg : NULL, r->user);
  r->in_cb--;
  uv_close((uv_handle_t *)&r->timer, req_closed);
}

/* Ends req with status (0 on success). defer forces on_done to the next loop
 * turn; it is deferred anyway while one of req's callbacks is running. */
static void finish(llmrt__req_t *r, int status, const char *msg, int defer) {
  if (r->done) return;
  r->done = 1;
  r->status = status;
  if (status && msg && msg != r->errmsg) snprintf(r->errmsg, sizeof(r->errmsg), "%s", msg);
  if (status && !r->errmsg[0])
    snprintf(r->errmsg, sizeof(r->errmsg), "%s (%s)", llmrt_strerror(status), label(r));
  if (llmrt__list_linked(&r->link)) llmrt__list_remove(&r->link);
  uv_timer_stop(&r->timer);
  llmrt__pool_dequeue(r);
  llmrt__pconn_t *pc = r->pconn;
  if (pc) {
    r->pconn = NULL;
    /* A response can complete before our write callback ran: libuv runs
     * write callbacks in the next iteration's pending phase, after the poll
     * that may already carry the whole response (a request started from an
     * idle callback always does). Every byte already reached the kernel, so
     * the connection is as good as idle: keep it, and the late callback
     * must not find this request. Bytes still unsent mean an early answer
     * (e.g. an error before the body was read): never reuse that. */
    int wrote = !r->writing || llmrt__conn_unsent(pc->conn) == 0;
    int reusable = status == 0 && r->resp.keep_alive && wrote &&
                   !(r->flags & LLMRT_HTTP_NO_REUSE) && r->state == LLMRT__REQ_EXCHANGE;
    /* A pooled connection reads while idle (to see the server close it). */
    if (reusable && r->sock_stopped && llmrt__conn_read_start(pc->conn) != 0) reusable = 0;
    r->sock_stopped = 0;
    if (r->writing && reusable) {
      llmrt__conn_forget_writes(pc->conn, r);
      r->writing = 0;
    }
    llmrt__pool_release(pc, reusable);
  }
  if (status && status != LLMRT_ECANCELED && status != LLMRT_ESHUTDOWN)
    llmrt__log(r->rt, LLMRT_LOG_DEBUG, "http request failed: %s", r->errmsg);
  if (defer || r->in_cb) {
    r->deferred = 1;
    uv_timer_start(&r->timer, on_timer, 0, 0);
    return;
  }
  deliver(r);
}

int llmrt_http_cancel(llmrt_http_t *h) {
  if (!h) return LLMRT_EINVAL;
  if (h->done) return 0;
  finish(h, LLMRT_ECANCELED, "request canceled", 0);
  return 0;
}

void llmrt_http_info(const llmrt_http_t *h, llmrt_http_info_t *out) {
  if (!out) return;
  if (!h) {
    memset(out, 0, sizeof(*out));
    return;
  }
  *out = h->info;
}

static void resume_run(llmrt__req_t *r);

static void on_timer(uv_timer_t *t) {
  llmrt__req_t *r = t->data;
  if (r->deferred) {
    deliver(r);
    return;
  }
  if (r->resume_due) {
    r->resume_due = 0;
    resume_run(r);
    if (r->done) return;
  }
  uint64_t now = llmrt__now_us();
  char msg[256];
  if (r->total_deadline_us && now >= r->total_deadline_us) {
    const char *phase = r->state == LLMRT__REQ_QUEUED       ? "waiting for a free connection"
                        : r->state == LLMRT__REQ_CONNECTING ? "connecting"
                        : !r->resp.got_byte                 ? "waiting for the response"
                                                            : "reading the response";
    snprintf(msg, sizeof(msg),
             "no complete response from %s within the total timeout of %u ms (%s)", label(r),
             r->to_total, phase);
    finish(r, LLMRT_ETIMEDOUT, msg, 0);
  } else if (r->state == LLMRT__REQ_EXCHANGE && !r->hold && !r->resp.got_byte &&
             r->fb_deadline_us && now >= r->fb_deadline_us) {
    snprintf(msg, sizeof(msg), "no response byte from %s within %u ms of sending the request",
             label(r), r->to_first_byte);
    finish(r, LLMRT_EFIRSTBYTETIMEOUT, msg, 0);
  } else if (r->state == LLMRT__REQ_EXCHANGE && !r->hold && r->resp.got_byte && r->to_idle &&
             now >= r->last_read_us + (uint64_t)r->to_idle * 1000) {
    snprintf(msg, sizeof(msg),
             "no data from %s for %u ms (idle timeout) after %llu response body bytes", label(r),
             r->to_idle, (unsigned long long)r->resp.body_raw);
    finish(r, LLMRT_EIDLETIMEOUT, msg, 0);
  } else {
    arm_timer(r);
  }
}

/* ---- Exchange -------------------------------------------------------------- */

static void reset_response(llmrt__req_t *r) {
  llhttp_init(&r->parser, HTTP_RESPONSE, parser_settings());
  r->parser.data = r;
  llmrt__buf_reset(&r->hdrs);
  r->n_hdrs = 0;
  r->hstate = 0;
  memset(&r->resp, 0, sizeof(r->resp));
  r->body_expected = -1;
  if (r->decoding) llmrt__inflate_free(&r->inflate);
  r->decoding = 0;
  r->parser_held = 0;
  llmrt__buf_reset(&r->pend);
  r->pend_off = 0;
}

static void io_error(llmrt__req_t *r, int status, const char *step);

static void on_written(llmrt__conn_t *c, int status, void *arg) {
  llmrt__req_t *r = arg;
  r->writing = 0;
  if (status < 0) {
    io_error(r, status, "sending the request");
    return;
  }
  r->written_us = llmrt__now_us();
  if (!r->resp.got_byte && r->to_first_byte) {
    r->fb_deadline_us = llmrt__now_us() + (uint64_t)r->to_first_byte * 1000;
    arm_timer(r);
  }
}

static void conn_ready(llmrt__req_t *r) {
  llmrt__pconn_t *pc = r->pconn;
  r->state = LLMRT__REQ_EXCHANGE;
  if (!r->info.reused) {
    r->info.dns_us = pc->info.dns_us;
    r->info.connect_us = pc->info.connect_us;
    r->info.tls_us = pc->info.tls_us;
    r->info.tls_resumed = pc->info.tls_resumed;
  }
  r->info.tls = pc->info.tls;
  reset_response(r);
  /* A request paused before it had a connection does not read yet. */
  r->sock_stopped = 0;
  if (r->hold && llmrt__conn_read_stop(pc->conn) == 0) r->sock_stopped = 1;
  /* Until the request is written, the first-byte timeout also bounds the
   * write; it restarts when the write completes. */
  r->fb_deadline_us = r->to_first_byte ? llmrt__now_us() + (uint64_t)r->to_first_byte * 1000 : 0;
  r->writing = 1;
  /* The pool calls this in the middle of its own work: a failure here must
   * not run on_done before the pool is done (see llmrt__http_finish). */
  r->in_cb++;
  int rc = llmrt__conn_write(pc->conn, r->bufs, r->nbufs, on_written, r);
  if (rc) {
    r->writing = 0;
    io_error(r, rc, "sending the request");
  }
  r->in_cb--;
  arm_timer(r);
}

/* A kept-alive connection the server closed while idle fails at once: its
 * FIN or RST crosses our request within about a round trip. A failure that
 * comes later means the server had the request and was working on it, and
 * sending it again could run (and bill) an LLM generation twice. */
static int looks_stale(const llmrt__req_t *r) {
  if (!r->info.reused || r->resp.got_byte || r->retried) return 0;
  if (!r->written_us) return 1; /* failed while still writing */
  uint64_t window = 250000, rtt4 = 4 * r->pconn->info.connect_us;
  if (rtt4 > window) window = rtt4;
  return llmrt__now_us() - r->written_us <= window;
}

/* The connection failed (EOF, reset, write error) during the exchange. */
static void io_error(llmrt__req_t *r, int status, const char *step) {
  char msg[256];
  llmrt__pconn_t *pc = r->pconn;
  if (r->done || !pc) return;
  if (looks_stale(r)) {
    /* A kept-alive connection the server had already closed: the request
     * cannot have been processed, so it goes once more on a new one. */
    llmrt__log(r->rt, LLMRT_LOG_DEBUG, "%s: reused connection dead (%s) while %s; retrying",
               label(r), llmrt_err_name(status), step);
    r->retried = 1;
    r->written_us = 0;
    r->info.retried_stale = 1;
    r->state = LLMRT__REQ_NEW;
    int rc = llmrt__pool_reconnect(r);
    if (rc) {
      snprintf(msg, sizeof(msg), "cannot reconnect to %s: %s", label(r), llmrt_strerror(rc));
      finish(r, rc, msg, 0);
    }
    return;
  }
  if (status == LLMRT_ECLOSED) {
    if (r->resp.head_done && !r->resp.cb_err && llhttp_message_needs_eof(&r->parser)) {
      /* Body delimited by the end of the connection: this is the end. */
      llhttp_errno_t e = llhttp_finish(&r->parser);
      if (r->done) return;
      if (r->resp.cb_err) {
        finish(r, r->resp.cb_err, r->errmsg, 0);
        return;
      }
      if ((e == HPE_OK || e == HPE_PAUSED) && r->resp.complete) {
        r->resp.keep_alive = 0;
        finish(r, 0, NULL, 0);
        return;
      }
    }
    if (r->resp.head_done && r->body_expected >= 0)
      snprintf(msg, sizeof(msg), "connection closed after %llu of %lld body bytes from %s",
               (unsigned long long)r->resp.body_raw, (long long)r->body_expected, label(r));
    else if (r->resp.head_done)
      snprintf(msg, sizeof(msg),
               "connection closed after %llu body bytes from %s (chunked body "
               "incomplete)",
               (unsigned long long)r->resp.body_raw, label(r));
    else if (r->resp.got_byte)
      snprintf(msg, sizeof(msg), "connection closed by %s in the middle of the response head",
               label(r));
    else
      snprintf(msg, sizeof(msg), "connection closed by %s before any response byte", label(r));
  } else {
    snprintf(msg, sizeof(msg), "%s on the connection to %s while %s", llmrt_strerror(status),
             label(r), step);
  }
  finish(r, status, msg, 0);
}

/* Runs the parser over data and acts on where it stopped. from_pend: data
 * is r->pend's (a resume), which stays put while paused again. */
static void parse(llmrt__req_t *r, const char *data, size_t len, int from_pend) {
  llhttp_errno_t e = llhttp_execute(&r->parser, data, len);
  if (r->done) return; /* ended from a callback: the connection may be gone */
  if (r->resp.cb_err) {
    finish(r, r->resp.cb_err, r->errmsg, 0);
    return;
  }
  if (e == HPE_PAUSED && r->resp.complete) {
    /* Bytes after the response (nobody pipelines here) mean the stream is
     * out of sync: do not reuse the connection. */
    const char *pos = llhttp_get_error_pos(&r->parser);
    if (pos && pos < data + len) r->resp.keep_alive = 0;
    if (!r->hold) finish(r, 0, NULL, 0); /* else on resume */
    return;
  }
  if (e == HPE_PAUSED) {
    /* A callback paused: keep the rest of this read (the read buffer is
     * shared by all connections) for the resume. */
    const char *pos = llhttp_get_error_pos(&r->parser);
    r->parser_held = 1;
    if (from_pend) {
      r->pend_off = (size_t)(pos - r->pend.data);
    } else {
      llmrt__buf_reset(&r->pend);
      r->pend_off = 0;
      if (llmrt__buf_append(&r->pend, pos, (size_t)(data + len - pos)) != 0)
        finish(r, LLMRT_ENOMEM, "out of memory holding a paused response", 0);
    }
    return;
  }
  if (e == HPE_OK) return;
  char msg[256];
  if (e == HPE_PAUSED_UPGRADE)
    snprintf(msg, sizeof(msg), "malformed HTTP response from %s: unexpected protocol upgrade",
             label(r));
  else
    snprintf(msg, sizeof(msg), "malformed HTTP response from %s: %s (%s)", label(r),
             llhttp_get_error_reason(&r->parser) ? llhttp_get_error_reason(&r->parser) : "?",
             llhttp_errno_name(e));
  finish(r, LLMRT_EHTTPPARSE, msg, 0);
}

static void on_read(llmrt__req_t *r, int status, const char *data, size_t len) {
  if (r->done) return;
  if (status < 0) {
    io_error(r, status, r->resp.got_byte ? "reading the response" : "waiting for the response");
    return;
  }
  if (!len) return;
  r->last_read_us = llmrt__now_us();
  if (!r->resp.got_byte) {
    r->resp.got_byte = 1;
    r->info.first_byte_us = r->last_read_us - r->start_us;
    arm_timer(r);
  }
  if (r->hold) {
    /* Reads stop while paused; bytes the transport still hands over queue
     * behind the held ones. */
    if (llmrt__buf_append(&r->pend, data, len) != 0)
      finish(r, LLMRT_ENOMEM, "out of memory holding a paused response", 0);
    return;
  }
  parse(r, data, len, 0);
}

/* ---- Flow control ---------------------------------------------------------- */

int llmrt_http_pause(llmrt_http_t *h) {
  if (!h) return LLMRT_EINVAL;
  if (h->done) return 0;
  h->resume_due = 0; /* a resume not yet run is undone */
  if (h->paused) return 0;
  h->paused = 1;
  h->hold = 1;
  if (h->pconn && h->state == LLMRT__REQ_EXCHANGE && !h->sock_stopped &&
      llmrt__conn_read_stop(h->pconn->conn) == 0)
    h->sock_stopped = 1;
  /* A phase deadline due meanwhile finds hold set and re-arms without it. */
  return 0;
}

int llmrt_http_resume(llmrt_http_t *h) {
  if (!h) return LLMRT_EINVAL;
  if (h->done || !h->paused) return 0;
  h->paused = 0;
  h->resume_due = 1;
  uv_timer_start(&h->timer, on_timer, 0, 0);
  return 0;
}

static void decode_failed(llmrt__req_t *r, int rc);
static int emit_body(void *arg, const char *data, size_t len);

/* The deferred half of llmrt_http_resume: what was held goes out in order
 * (the decoder's output and input, then the rest of the read), then the
 * socket reads again. Any step may pause, cancel or finish again. */
static void resume_run(llmrt__req_t *r) {
  r->hold = 0;
  if (r->decoding && r->inflate.held) {
    int rc = llmrt__inflate_resume(&r->inflate, emit_body, r);
    if (r->done || rc > 0) return;
    if (rc < 0) {
      decode_failed(r, rc);
      return;
    }
  }
  int held = r->parser_held;
  if (held) {
    r->parser_held = 0;
    llhttp_resume(&r->parser);
  }
  /* Even with no byte left, a resumed parser may complete the message. */
  if (held || r->pend.len > r->pend_off) {
    size_t off = r->pend_off;
    parse(r, r->pend.data ? r->pend.data + off : "", r->pend.len - off, 1);
    if (r->done || r->hold) return;
    llmrt__buf_reset(&r->pend);
    r->pend_off = 0;
  }
  if (r->resp.complete) {
    finish(r, 0, NULL, 0);
    return;
  }
  if (r->sock_stopped && r->pconn) {
    r->sock_stopped = 0;
    int rc = llmrt__conn_read_start(r->pconn->conn);
    if (rc) {
      char msg[256];
      snprintf(msg, sizeof(msg), "cannot read from %s after resuming: %s", label(r),
               llmrt_strerror(rc));
      finish(r, rc, msg, 0);
      return;
    }
  }
  /* The idle and first-byte clocks start again: the pause was ours. */
  uint64_t now = llmrt__now_us();
  r->last_read_us = now;
  if (!r->resp.got_byte && r->fb_deadline_us && r->to_first_byte)
    r->fb_deadline_us = now + (uint64_t)r->to_first_byte * 1000;
  arm_timer(r);
}

/* ---- Parser callbacks ------------------------------------------------------ */

/* The head, and every informational (1xx) head before it, count against
 * max_header_bytes together: a flood of 100 or 103 responses is bounded. */
static int limit_header_bytes(llmrt__req_t *r, size_t add) {
  size_t max = r->rt->opts.max_header_bytes;
  r->resp.hdr_bytes += add;
  if (max && r->resp.hdr_bytes > max) {
    if (r->resp.n_informational)
      set_err(r, LLMRT_EHEADERSIZE,
              "response head from %s with %u informational (1xx) responses before it is larger "
              "than max_header_bytes (%zu)",
              label(r), r->resp.n_informational, max);
    else
      set_err(r, LLMRT_EHEADERSIZE, "response head from %s is larger than max_header_bytes (%zu)",
              label(r), max);
    return -1;
  }
  return 0;
}

static int p_message_begin(llhttp_t *p) {
  llmrt__req_t *r = p->data;
  llmrt__buf_reset(&r->hdrs);
  r->n_hdrs = 0;
  r->hstate = 0;
  return 0;
}

/* Chunk extensions (";name=value" after a chunk size) are ignored, but they
 * are bytes the server sends outside the body: all of a response's count
 * against max_header_bytes (or LLMRT__MAX_CHUNK_EXT_BYTES when that is 0). */
static int p_chunk_ext(llhttp_t *p, const char *at, size_t len) {
  llmrt__req_t *r = p->data;
  size_t max = r->rt->opts.max_header_bytes;
  if (!max) max = LLMRT__MAX_CHUNK_EXT_BYTES;
  r->resp.ext_bytes += len;
  if (r->resp.ext_bytes > max) {
    set_err(r, LLMRT_EHEADERSIZE,
            "chunk extensions in the response from %s exceed max_header_bytes (%zu) in total",
            label(r), max);
    return -1;
  }
  return 0;
}

static int p_status(llhttp_t *p, const char *at, size_t len) {
  return limit_header_bytes(p->data, len);
}

static int push_offset(llmrt__req_t *r) {
  uint32_t need = r->n_hdrs * 2;
  if (need >= r->hcap) {
    uint32_t cap = r->hcap ? r->hcap * 2 : 32;
    uint32_t *n = llmrt__realloc(r->hoff, cap * sizeof(uint32_t));
    if (!n) {
      set_err(r, LLMRT_ENOMEM, "out of memory parsing the response from %s", label(r));
      return -1;
    }
    r->hoff = n;
    r->hcap = cap;
  }
  return 0;
}

static int p_header_field(llhttp_t *p, const char *at, size_t len) {
  llmrt__req_t *r = p->data;
  if (r->hstate != 1) {
    uint32_t max = r->rt->opts.max_headers;
    if (max && r->n_hdrs >= max) {
      set_err(r, LLMRT_EHEADERCOUNT, "response from %s has more than max_headers (%u) headers",
              label(r), max);
      return -1;
    }
    if (push_offset(r)) return -1;
    r->hoff[r->n_hdrs * 2] = (uint32_t)r->hdrs.len;
    r->hoff[r->n_hdrs * 2 + 1] = (uint32_t)r->hdrs.len; /* fixed at the end of the name */
    r->n_hdrs++;
    r->hstate = 1;
    if (limit_header_bytes(r, 4)) return -1; /* ": " and CRLF */
  }
  if (limit_header_bytes(r, len)) return -1;
  if (llmrt__buf_append(&r->hdrs, at, len)) {
    set_err(r, LLMRT_ENOMEM, "out of memory parsing the response from %s", label(r));
    return -1;
  }
  return 0;
}

static int end_piece(llmrt__req_t *r) {
  if (llmrt__buf_append(&r->hdrs, "", 1)) {
    set_err(r, LLMRT_ENOMEM, "out of memory parsing the response from %s", label(r));
    return -1;
  }
  return 0;
}

static int p_header_field_complete(llhttp_t *p) {
  llmrt__req_t *r = p->data;
  if (end_piece(r)) return -1;
  r->hoff[(r->n_hdrs - 1) * 2 + 1] = (uint32_t)r->hdrs.len;
  r->hstate = 2;
  return 0;
}

static int p_header_value(llhttp_t *p, const char *at, size_t len) {
  llmrt__req_t *r = p->data;
  if (limit_header_bytes(r, len)) return -1;
  if (llmrt__buf_append(&r->hdrs, at, len)) {
    set_err(r, LLMRT_ENOMEM, "out of memory parsing the response from %s", label(r));
    return -1;
  }
  return 0;
}

static int p_header_value_complete(llhttp_t *p) {
  llmrt__req_t *r = p->data;
  if (end_piece(r)) return -1;
  r->hstate = 0;
  return 0;
}

static int emit_body(void *arg, const char *data, size_t len) {
  llmrt__req_t *r = arg;
  size_t max = r->rt->opts.max_body_bytes;
  if (max && r->resp.body_out + len > max) {
    set_err(r, LLMRT_EBODYSIZE, "response body from %s exceeds max_body_bytes (%zu)%s", label(r),
            max, r->decoding ? " after decoding" : "");
    return LLMRT_EBODYSIZE;
  }
  r->resp.body_out += len;
  if (!r->cbs.on_body) return 0;
  r->in_cb++;
  int rc = r->cbs.on_body(r, data, len, r->user);
  r->in_cb--;
  if (r->done) return LLMRT_ECANCELED;
  if (rc < 0) {
    set_err(r, rc, "on_body stopped the response from %s: %s", label(r), llmrt_strerror(rc));
    return rc;
  }
  return r->hold ? 1 : 0; /* 1: paused, stop here */
}

static int p_headers_complete(llhttp_t *p) {
  llmrt__req_t *r = p->data;
  int status = llhttp_get_status_code(p);
  if (r->hstate == 2) p_header_value_complete(p); /* defensive */
  if (status < 100) {
    /* llhttp takes any three digits; there is no status below 100. */
    set_err(r, LLMRT_EHTTPPARSE, "malformed HTTP response from %s: status %03d", label(r), status);
    return -1;
  }
  if (status >= 100 && status < 200 && status != 101) {
    r->resp.informational = 1; /* 100 Continue, 103 Early Hints: skipped */
    if (++r->resp.n_informational > LLMRT_HTTP_MAX_INFORMATIONAL) {
      set_err(r, LLMRT_EHEADERCOUNT,
              "response from %s has more than %u informational (1xx) responses before its head",
              label(r), LLMRT_HTTP_MAX_INFORMATIONAL);
      return -1;
    }
    return 1;
  }
  r->resp.head_done = 1;
  if (p->flags & F_CONTENT_LENGTH && !(p->flags & F_CHUNKED))
    r->body_expected = (int64_t)p->content_length;

  llmrt_header_t *arr = NULL;
  if (r->n_hdrs) {
    arr = llmrt__realloc(r->harr, r->n_hdrs * sizeof(*arr));
    if (!arr) {
      set_err(r, LLMRT_ENOMEM, "out of memory parsing the response from %s", label(r));
      return -1;
    }
    r->harr = arr;
  }
  const char *enc = NULL;
  for (uint32_t i = 0; i < r->n_hdrs; i++) {
    arr[i].name = r->hdrs.data + r->hoff[i * 2];
    arr[i].value = r->hdrs.data + r->hoff[i * 2 + 1];
    if (strcasecmp(arr[i].name, "content-encoding") == 0) enc = arr[i].value;
  }
  if (enc && (r->flags & LLMRT_HTTP_DECOMPRESS) && !r->head_only &&
      (strcasecmp(enc, "gzip") == 0 || strcasecmp(enc, "x-gzip") == 0 ||
       strcasecmp(enc, "deflate") == 0)) {
    /* Name the coding as the server did. Only "deflate" may come without
     * its zlib wrapper (a common mistake); a "gzip" body is gzip (or zlib). */
    r->enc_name = strcasecmp(enc, "deflate") == 0 ? "deflate" : "gzip";
    int rc = llmrt__inflate_init2(&r->inflate, r->enc_name[0] == 'd');
    if (rc) {
      set_err(r, rc, "cannot start decoding the response from %s: %s", label(r),
              llmrt_strerror(rc));
      return -1;
    }
    r->decoding = 1;
  }
  size_t max = r->rt->opts.max_body_bytes;
  if (!r->decoding && !r->head_only && max && r->body_expected > (int64_t)max) {
    set_err(r, LLMRT_EBODYSIZE,
            "response body from %s exceeds max_body_bytes (%zu): Content-Length is %lld", label(r),
            max, (long long)r->body_expected);
    return -1;
  }
  if (r->cbs.on_head) {
    r->in_cb++;
    int rc = r->cbs.on_head(r, status, arr, r->n_hdrs, r->user);
    r->in_cb--;
    if (r->done) return -1;
    if (rc < 0) {
      set_err(r, rc, "on_head stopped the response from %s: %s", label(r), llmrt_strerror(rc));
      return -1;
    }
  }
  /* Responses to HEAD, 204 and 304 never have a body, whatever they say
   * (paused, such a response completes, and reports on resume). */
  if (r->head_only || status == 204 || status == 304) return 1;
  return r->hold ? HPE_PAUSED : 0;
}

static void decode_err(llmrt__req_t *r, int rc) {
  set_err(r, rc, "cannot decode the %s response body from %s (after %llu bytes)%s", r->enc_name,
          label(r), (unsigned long long)r->resp.body_raw,
          r->inflate.raw ? ": neither zlib nor raw deflate" : "");
}

static void decode_failed(llmrt__req_t *r, int rc) {
  decode_err(r, rc);
  finish(r, r->resp.cb_err, r->errmsg, 0);
}

static int p_body(llhttp_t *p, const char *at, size_t len) {
  llmrt__req_t *r = p->data;
  if (len == 0) return 0; /* a span restarted by a resume with no bytes */
  r->resp.body_raw += len;
  int rc =
      r->decoding ? llmrt__inflate_feed(&r->inflate, at, len, emit_body, r) : emit_body(r, at, len);
  if (r->done) return HPE_USER;
  if (rc > 0) return HPE_PAUSED; /* the decoder keeps what it did not decode */
  if (rc) {
    decode_err(r, rc);
    return HPE_USER;
  }
  return 0;
}

static int p_message_complete(llhttp_t *p) {
  llmrt__req_t *r = p->data;
  if (r->resp.informational) {
    r->resp.informational = 0;
    return 0; /* the real response follows */
  }
  if (r->decoding && llmrt__inflate_finish(&r->inflate) != 0) {
    set_err(r, LLMRT_EDECODE, "compressed response body from %s is truncated", label(r));
    return -1;
  }
  r->resp.keep_alive = llhttp_should_keep_alive(p) && p->http_major == 1 && p->http_minor >= 1;
  r->resp.complete = 1;
  return HPE_PAUSED;
}

static const llhttp_settings_t *parser_settings(void) {
  /* Constant, so runtimes on several threads can share it. */
  static const llhttp_settings_t s = {
      .on_message_begin = p_message_begin,
      .on_status = p_status,
      .on_header_field = p_header_field,
      .on_header_field_complete = p_header_field_complete,
      .on_header_value = p_header_value,
      .on_header_value_complete = p_header_value_complete,
      .on_headers_complete = p_headers_complete,
      .on_body = p_body,
      .on_message_complete = p_message_complete,
      .on_chunk_extension_name = p_chunk_ext,
      .on_chunk_extension_value = p_chunk_ext,
  };
  return &s;
}

/* ---- Seam for tests/fuzz ---------------------------------------------------- */

/* See http_internal.h. Does what llmrt__http_conn_ready does for the
 * response side, without the pool, the connection or the write. */
void llmrt__http_parse_begin(llmrt__req_t *r) {
  r->pool_user = &pool_user;
  r->state = LLMRT__REQ_EXCHANGE;
  reset_response(r);
}
