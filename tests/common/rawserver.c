/* The scripted test HTTP server (see rawserver.h). Deliberately independent
 * of the library under test: its own small request parser, plain malloc,
 * zlib for the compressed bodies. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "rawserver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

typedef struct sconn_s sconn_t;

struct rawserver_s {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uint16_t port;
  int stopping;
  int handles; /* listener + connections still closing */
  sconn_t *conns;
  rawserver_stats_t st;
};

struct sconn_s {
  uv_tcp_t tcp;
  uv_timer_t timer;
  rawserver_t *srv;
  sconn_t *prev, *next;
  char *buf;
  size_t len, cap;
  int busy; /* a timed response is in progress: parse nothing more yet */
  int closing;
  int die_next; /* 1: EOF on the next request, 2: reset */
  int handles;
  int head;    /* the current request is HEAD */
  size_t left; /* trickle: bytes still to send */
  unsigned ms;
  unsigned id;  /* accept order, from 1 */
  int reply_id; /* the delayed response carries id */
};

typedef struct {
  uv_write_t req;
  sconn_t *c;
  int close_after;
  char data[];
} wreq_t;

static void close_conn(sconn_t *c, int rst);

/* ---- Output ------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status) {
  wreq_t *wr = (wreq_t *)w;
  sconn_t *c = wr->c;
  int close_after = wr->close_after;
  free(wr);
  if (close_after && !c->closing) close_conn(c, 0);
}

static void send_bytes(sconn_t *c, const void *p, size_t n, int close_after) {
  if (c->closing) return;
  wreq_t *wr = malloc(sizeof(*wr) + n + 1);
  if (!wr) abort();
  wr->c = c;
  wr->close_after = close_after;
  memcpy(wr->data, p, n);
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)n);
  if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    free(wr);
    close_conn(c, 0);
  }
}

static void send_str(sconn_t *c, const char *s) {
  send_bytes(c, s, strlen(s), 0);
}

/* Head (and body unless HEAD) of a simple response. */
static void respond(sconn_t *c, int status, const char *extra_headers, const char *body,
                    size_t blen, int close_after) {
  const char *xh = extra_headers ? extra_headers : "";
  size_t cap = strlen(xh) + 128 + blen;
  char *all = malloc(cap);
  int n = snprintf(all, cap, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, blen, xh);
  size_t total = (size_t)n + (c->head ? 0 : blen);
  if (!c->head && blen) memcpy(all + n, body, blen);
  send_bytes(c, all, total, close_after);
  free(all);
}

static char *pattern(size_t n) {
  char *p = malloc(n + 1);
  for (size_t i = 0; i < n; i++)
    p[i] = rawserver_pattern(i);
  p[n] = 0;
  return p;
}

/* window_bits: 31 gzip, 15 zlib, -15 raw deflate. */
static char *compress_buf(const char *in, size_t n, int window_bits, size_t *out_len) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  if (deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
  size_t cap = deflateBound(&zs, (uLong)n) + 64;
  char *out = malloc(cap);
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  zs.next_out = (Bytef *)out;
  zs.avail_out = (uInt)cap;
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
  *out_len = cap - zs.avail_out;
  deflateEnd(&zs);
  return out;
}

static char *gunzip_buf(const char *in, size_t n, size_t *out_len) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, 31) != Z_OK) return NULL;
  size_t cap = n * 8 + 1024, len = 0;
  char *out = malloc(cap);
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  int zr;
  do {
    if (cap - len < 4096) out = realloc(out, cap *= 2);
    zs.next_out = (Bytef *)out + len;
    zs.avail_out = (uInt)(cap - len);
    zr = inflate(&zs, Z_NO_FLUSH);
    len = cap - zs.avail_out;
  } while (zr == Z_OK);
  inflateEnd(&zs);
  if (zr != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  *out_len = len;
  return out;
}

/* Sends body as chunks of sizes 1, 7, 100, 1000, 4096 in turn. */
static void send_chunked(sconn_t *c, const char *body, size_t n, int finish, int close_after) {
  static const size_t sizes[] = {1, 7, 100, 1000, 4096};
  char line[32];
  size_t off = 0;
  for (unsigned k = 0; off < n; k++) {
    size_t cs = sizes[k % 5];
    if (cs > n - off) cs = n - off;
    snprintf(line, sizeof(line), "%zx\r\n", cs);
    send_str(c, line);
    send_bytes(c, body + off, cs, 0);
    send_str(c, "\r\n");
    off += cs;
  }
  if (finish)
    send_bytes(c, "0\r\n\r\n", 5, close_after);
  else if (close_after)
    send_bytes(c, "", 0, 1);
}

/* ---- Behaviours ------------------------------------------------------------ */

static void process(sconn_t *c);

static void on_timer_close(uv_timer_t *t) {
  close_conn(t->data, 0);
}

static void on_timer_delay(uv_timer_t *t) {
  sconn_t *c = t->data;
  char id[16];
  int n = snprintf(id, sizeof(id), "%u", c->id);
  if (c->reply_id)
    respond(c, 200, NULL, id, (size_t)n, 0);
  else
    respond(c, 200, NULL, "hello", 5, 0);
  c->busy = 0;
  process(c);
}

static void on_timer_trickle(uv_timer_t *t) {
  sconn_t *c = t->data;
  if (c->left == 0) {
    uv_timer_stop(t);
    c->busy = 0;
    process(c);
    return;
  }
  char b = 'x';
  send_bytes(c, &b, 1, 0);
  c->left--;
}

static unsigned long arg_num(const char *path, int idx) {
  /* idx 0: the number after the first segment ("/len/N"), 1: after that. */
  const char *p = path + 1;
  for (int i = 0; i <= idx; i++) {
    p = strchr(p, '/');
    if (!p) return 0;
    p++;
  }
  return strtoul(p, NULL, 10);
}

static int is(const char *path, const char *name) {
  size_t n = strlen(name);
  return strncmp(path, name, n) == 0 && (path[n] == 0 || path[n] == '/' || path[n] == '?');
}

static void handle(sconn_t *c, const char *head, size_t hlen, const char *path, const char *body,
                   size_t blen, const char *req_enc) {
  char hdr[512];
  if (is(path, "/len")) {
    size_t n = arg_num(path, 0);
    char *p = pattern(n);
    respond(c, 200, NULL, p, n, 0);
    free(p);
  } else if (is(path, "/chunked")) {
    size_t n = arg_num(path, 0);
    char *p = pattern(n);
    send_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (!c->head) send_chunked(c, p, n, 1, 0);
    free(p);
  } else if (is(path, "/gzip") || is(path, "/gzip-chunked") || is(path, "/deflate") ||
             is(path, "/rawdeflate") || is(path, "/gzip-trunc")) {
    size_t n = arg_num(path, 0), zl;
    int wb = is(path, "/deflate") ? 15 : is(path, "/rawdeflate") ? -15 : 31;
    char *p = pattern(n);
    char *z = compress_buf(p, n, wb, &zl);
    const char *enc = wb == 31 ? "gzip" : "deflate";
    if (is(path, "/gzip-chunked")) {
      snprintf(hdr, sizeof(hdr),
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: %s\r\n\r\n",
               enc);
      send_str(c, hdr);
      if (!c->head) send_chunked(c, z, zl, 1, 0);
    } else {
      if (is(path, "/gzip-trunc")) zl /= 2;
      snprintf(hdr, sizeof(hdr), "Content-Encoding: %s\r\n", enc);
      respond(c, 200, hdr, z, zl, 0);
    }
    free(p);
    free(z);
  } else if (is(path, "/gzip-bad")) {
    respond(c, 200, "Content-Encoding: gzip\r\n", "this is not gzip at all, sorry", 30, 0);
  } else if (is(path, "/close-mid")) {
    size_t n = arg_num(path, 0), k = arg_num(path, 1);
    char *p = pattern(n);
    snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
    send_str(c, hdr);
    send_bytes(c, p, k, 1);
    free(p);
  } else if (is(path, "/chunked-close-mid")) {
    size_t k = arg_num(path, 0);
    char *p = pattern(k);
    send_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    send_chunked(c, p, k, 0, 1);
    free(p);
  } else if (is(path, "/close-after")) {
    respond(c, 200, NULL, "hello", 5, 0);
    uv_timer_start(&c->timer, on_timer_close, arg_num(path, 0), 0);
  } else if (is(path, "/die-next") || is(path, "/reset-next")) {
    respond(c, 200, NULL, "hello", 5, 0);
    c->die_next = is(path, "/die-next") ? 1 : 2;
  } else if (is(path, "/delay") || is(path, "/conn-id")) {
    c->busy = 1;
    c->reply_id = is(path, "/conn-id");
    uv_timer_start(&c->timer, on_timer_delay, arg_num(path, 0), 0);
  } else if (is(path, "/stall")) {
    size_t k = arg_num(path, 0);
    char *p = pattern(k);
    send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
    send_bytes(c, p, k, 0);
    free(p);
    c->busy = 1; /* forever */
  } else if (is(path, "/trickle")) {
    send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
    c->busy = 1;
    c->left = 100000;
    c->ms = (unsigned)arg_num(path, 0);
    uv_timer_start(&c->timer, on_timer_trickle, c->ms, c->ms);
  } else if (is(path, "/big-header")) {
    size_t n = arg_num(path, 0);
    char *h = malloc(n + 32);
    memcpy(h, "X-Big: ", 7);
    for (size_t i = 0; i < n; i++)
      h[7 + i] = 'b';
    memcpy(h + 7 + n, "\r\n", 3);
    respond(c, 200, h, "hello", 5, 0);
    free(h);
  } else if (is(path, "/many-headers")) {
    size_t n = arg_num(path, 0);
    char *h = malloc(n * 32 + 1);
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
      off += (size_t)sprintf(h + off, "X-H%zu: v%zu\r\n", i, i);
    h[off] = 0;
    respond(c, 200, h, "hello", 5, 0);
    free(h);
  } else if (is(path, "/malformed")) {
    send_str(c, "HTTP/1.1 2x0 Broken\r\nContent-Length: 5\r\n\r\nhello");
  } else if (is(path, "/continue")) {
    send_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
    respond(c, 200, NULL, "hello", 5, 0);
  } else if (is(path, "/status")) {
    int code = (int)arg_num(path, 0);
    if (code == 204 || code == 304) {
      snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n", code);
      send_str(c, hdr);
    } else {
      respond(c, code, NULL, "status", 6, 0);
    }
  } else if (is(path, "/http10")) {
    send_str(c, "HTTP/1.0 200 OK\r\n\r\n");
    if (!c->head) send_str(c, "old school body");
    send_bytes(c, "", 0, 1);
  } else if (is(path, "/eof-body")) {
    size_t n = arg_num(path, 0);
    char *p = pattern(n);
    send_str(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    send_bytes(c, p, c->head ? 0 : n, 1);
    free(p);
  } else if (is(path, "/conn-close")) {
    respond(c, 200, "Connection: close\r\n", "hello", 5, 1);
  } else if (is(path, "/extra")) {
    send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloXYZ");
  } else if (is(path, "/echo")) {
    size_t dl = blen;
    char *d = NULL;
    if (req_enc && strcasecmp(req_enc, "gzip") == 0) {
      d = gunzip_buf(body, blen, &dl);
      if (!d) {
        respond(c, 400, NULL, "bad gzip", 8, 0);
        return;
      }
    }
    snprintf(hdr, sizeof(hdr), "X-Req-Encoding: %s\r\nX-Req-Length: %zu\r\n",
             req_enc ? req_enc : "none", blen);
    respond(c, 200, hdr, d ? d : body, dl, 0);
    free(d);
  } else if (is(path, "/head-echo")) {
    respond(c, 200, NULL, head, hlen, 0);
  } else if (is(path, "/head-echo-401")) {
    /* A careless proxy that echoes the request, credentials included, in
     * its error page. */
    respond(c, 401, NULL, head, hlen, 0);
  } else if (is(path, "/bench")) {
    send_bytes(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 40, 0);
  } else {
    respond(c, 200, NULL, "hello", 5, 0);
  }
}

/* ---- Input ----------------------------------------------------------------- */

static const char *find_header(const char *head, size_t hlen, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  const char *p = memchr(head, '\n', hlen), *end = head + hlen;
  while (p && p + 1 < end) {
    p++;
    if ((size_t)(end - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      const char *e = v;
      while (e < end && *e != '\r')
        e++;
      *vlen = (size_t)(e - v);
      return v;
    }
    p = memchr(p, '\n', (size_t)(end - p));
  }
  return NULL;
}

static void process(sconn_t *c) {
  while (!c->busy && !c->closing) {
    char *end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
    if (!end) return;
    size_t hlen = (size_t)(end - c->buf) + 4, vl = 0, blen = 0;
    const char *cl = find_header(c->buf, hlen, "Content-Length", &vl);
    if (cl) blen = strtoul(cl, NULL, 10);
    if (c->len < hlen + blen) return;
    c->srv->st.requests++;
    if (c->die_next) {
      close_conn(c, c->die_next == 2);
      return;
    }
    /* Copies: handle() may close the connection. */
    char *head = malloc(hlen + blen + 1);
    memcpy(head, c->buf, hlen + blen);
    head[hlen + blen] = 0;
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
    c->len -= hlen + blen;
    char path[256] = "/", enc[64] = "";
    sscanf(head, "%*s %255s", path);
    c->head = strncmp(head, "HEAD ", 5) == 0;
    const char *e = find_header(head, hlen, "Content-Encoding", &vl);
    if (e) snprintf(enc, sizeof(enc), "%.*s", (int)vl, e);
    handle(c, head, hlen, path, head + hlen, blen, e ? enc : NULL);
    free(head);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  sconn_t *c = h->data;
  if (c->cap - c->len < 16384) {
    c->cap = c->cap * 2 + 16384;
    c->buf = realloc(c->buf, c->cap);
  }
  *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  sconn_t *c = s->data;
  if (n < 0) {
    close_conn(c, 0);
    return;
  }
  c->len += (size_t)n;
  process(c);
}

static void srv_unref(rawserver_t *s) {
  if (--s->handles == 0 && s->stopping) free(s);
}

static void on_conn_handle_closed(uv_handle_t *h) {
  sconn_t *c = h->data;
  rawserver_t *s = c->srv;
  if (--c->handles > 0) return;
  free(c->buf);
  free(c);
  srv_unref(s);
}

static void close_conn(sconn_t *c, int rst) {
  if (c->closing) return;
  c->closing = 1;
  rawserver_t *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->st.open--;
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
  if (!rst || uv_tcp_close_reset(&c->tcp, on_conn_handle_closed) != 0)
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void on_connection(uv_stream_t *l, int status) {
  rawserver_t *s = l->data;
  if (status < 0) return;
  sconn_t *c = calloc(1, sizeof(*c));
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  s->handles++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
    c->closing = 1;
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    return;
  }
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->st.accepted++;
  c->id = s->st.accepted;
  if (++s->st.open > s->st.max_open) s->st.max_open = s->st.open;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- Public ---------------------------------------------------------------- */

int rawserver_start(uv_loop_t *loop, rawserver_t **out) {
  rawserver_t *s = calloc(1, sizeof(*s));
  if (!s) return UV_ENOMEM;
  s->loop = loop;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  int r = uv_tcp_init(loop, &s->listener);
  if (r) {
    free(s);
    return r;
  }
  s->listener.data = s;
  s->handles = 1;
  if ((r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0)) != 0 ||
      (r = uv_listen((uv_stream_t *)&s->listener, 512, on_connection)) != 0) {
    rawserver_stop(s);
    return r;
  }
  struct sockaddr_in got;
  int len = sizeof(got);
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
  s->port = ntohs(got.sin_port);
  *out = s;
  return 0;
}

uint16_t rawserver_port(const rawserver_t *s) {
  return s->port;
}

char *rawserver_url(const rawserver_t *s, const char *path, char *buf, size_t len) {
  snprintf(buf, len, "http://127.0.0.1:%u%s", s->port, path);
  return buf;
}

void rawserver_stats(const rawserver_t *s, rawserver_stats_t *out) {
  *out = s->st;
}

void rawserver_close_conns(rawserver_t *s) {
  while (s->conns)
    close_conn(s->conns, 0);
}

static void on_listener_closed(uv_handle_t *h) {
  srv_unref(h->data); /* the last handle out frees the server */
}

void rawserver_stop(rawserver_t *s) {
  s->stopping = 1;
  rawserver_close_conns(s);
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
