/* The server's exchange API: request accessors, whole and streamed
 * responses, abort, and the output path (two buffers that swap: one is being
 * written while the other collects). See server.h for the contracts. */
#include "server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

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

/* ---- Output -------------------------------------------------------------- */

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
  if (has_header(h, n, "connection", "close") || c->s->closing) r->keep_alive = 0;
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

/* ---- The exchange: request accessors ------------------------------------ */

const char *llmrt__sreq_method(const llmrt__sreq_t *r) {
  return r->method;
}

const char *llmrt__sreq_target(const llmrt__sreq_t *r) {
  return r->head.data + r->url_off;
}

const char *llmrt__sreq_path(const llmrt__sreq_t *r) {
  return r->head.data + r->path_off;
}

const char *llmrt__sreq_header(const llmrt__sreq_t *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

const llmrt_header_t *llmrt__sreq_headers(const llmrt__sreq_t *r, size_t *n) {
  *n = r->n_headers;
  return r->headers;
}

const char *llmrt__sreq_body(const llmrt__sreq_t *r, size_t *len) {
  if (len) *len = r->body.len;
  return r->body.data ? r->body.data : "";
}

int llmrt__sreq_accepts_gzip(const llmrt__sreq_t *r) {
  const char *ae = llmrt__sreq_header(r, "accept-encoding");
  if (!ae) return 0;
  /* Walk the comma list: "gzip", "gzip;q=0.5" accept; "gzip;q=0" refuses. */
  while (*ae) {
    while (*ae == ' ' || *ae == ',')
      ae++;
    size_t n = strcspn(ae, ",;");
    if (n == 4 && strncasecmp(ae, "gzip", 4) == 0) {
      const char *p = ae + n;
      if (*p != ';') return 1;
      p++;
      while (*p == ' ')
        p++;
      if (strncasecmp(p, "q=", 2) != 0) return 1;
      return strtod(p + 2, NULL) > 0.0;
    }
    ae += strcspn(ae, ",");
  }
  return 0;
}

const char *llmrt__sreq_peer(const llmrt__sreq_t *r) {
  return r->peer;
}

void llmrt__sreq_on_abort(llmrt__sreq_t *r, void (*cb)(llmrt__sreq_t *, int, void *), void *arg) {
  r->abort_cb = cb;
  r->abort_arg = arg;
}

/* ---- The exchange: responses -------------------------------------------- */

int llmrt__sreq_respond(llmrt__sreq_t *r, int status, const llmrt_header_t *headers, size_t n,
                        const char *body, size_t len) {
  sconn_t *c = r->c;
  if (c->closing) return LLMRT_ECLOSED;
  if (!r->active || r->started) return LLMRT_EINVAL;
  int rc = llmrt__srv_put_head(c, status, headers, n, (long long)len);
  if (rc == 0 && !r->is_head && len) rc = llmrt__buf_append(&c->out, body, len);
  if (rc != 0) {
    r->active = 0;
    llmrt__srv_conn_close(c, rc);
    return rc;
  }
  llmrt__srv_flush(c);
  llmrt__srv_exchange_done(c);
  return 0;
}

int llmrt__sreq_start(llmrt__sreq_t *r, int status, const llmrt_header_t *headers, size_t n) {
  sconn_t *c = r->c;
  if (c->closing) return LLMRT_ECLOSED;
  if (!r->active || r->started) return LLMRT_EINVAL;
  int rc = llmrt__srv_put_head(c, status, headers, n, -1);
  if (rc != 0) return rc;
  r->started = 1;
  llmrt__srv_flush(c);
  return 0;
}

int llmrt__sreq_write(llmrt__sreq_t *r, const char *data, size_t len) {
  sconn_t *c = r->c;
  if (c->closing) return LLMRT_ECLOSED;
  if (!r->active || !r->started) return LLMRT_EINVAL;
  if (len == 0 || r->is_head) return 0;
  int rc = 0;
  if (r->chunked) rc = llmrt__buf_printf(&c->out, "%zx\r\n", len);
  if (rc == 0) rc = llmrt__buf_append(&c->out, data, len);
  if (rc == 0 && r->chunked) rc = llmrt__buf_append(&c->out, "\r\n", 2);
  if (rc != 0) return rc;
  llmrt__srv_flush(c);
  return 0;
}

size_t llmrt__sreq_pending(const llmrt__sreq_t *r) {
  return r->c->out.len + r->c->inflight.len;
}

void llmrt__sreq_on_drain(llmrt__sreq_t *r, void (*cb)(llmrt__sreq_t *, void *), void *arg) {
  r->drain_cb = cb;
  r->drain_arg = arg;
}

int llmrt__sreq_end(llmrt__sreq_t *r) {
  sconn_t *c = r->c;
  if (c->closing) return LLMRT_ECLOSED;
  if (!r->active || !r->started) return LLMRT_EINVAL;
  int rc = 0;
  if (r->chunked && !r->is_head) rc = llmrt__buf_append(&c->out, "0\r\n\r\n", 5);
  if (rc != 0) {
    r->active = 0;
    llmrt__srv_conn_close(c, rc);
    return rc;
  }
  llmrt__srv_flush(c);
  llmrt__srv_exchange_done(c);
  return 0;
}

void llmrt__sreq_abort(llmrt__sreq_t *r, int reset) {
  sconn_t *c = r->c;
  if (!r->active) return;
  r->active = 0;
  if (c->closing) return;
  if (reset) {
    uv_os_fd_t fd;
    if (c->tcp && uv_fileno((uv_handle_t *)c->tcp, &fd) == 0) {
      struct linger l = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    llmrt__srv_conn_close(c, LLMRT_ECONNRESET);
    return;
  }
  r->keep_alive = 0;
  llmrt__srv_exchange_done(c);
}
