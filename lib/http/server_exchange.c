/* The server's exchange API: request accessors, whole and streamed
 * responses, abort. It calls into server.c (the connection, its output and
 * its timer), never the other way. See server.h for the contracts. */
#include "server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

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
