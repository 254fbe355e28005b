/* See canned.h. */
#include "canned.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test.h"

struct canned_s {
  uv_tcp_t listener;
  uv_loop_t *loop;
  char *resp;
  size_t resp_len;
  unsigned requests;
  char last[65536];
};

typedef struct {
  uv_tcp_t tcp;
  canned_t *s;
  char buf[65536];
  size_t len;
  int answered;
  uv_write_t w;
  char *out;
} cconn_t;

static void conn_closed(uv_handle_t *h) {
  cconn_t *c = h->data;
  free(c->out);
  free(c);
}

static void on_written(uv_write_t *w, int status) {
  cconn_t *c = w->data;
  (void)status;
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  cconn_t *c = h->data;
  (void)hint;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len - 1));
}

/* A whole request: the head and, if it says so, Content-Length bytes. */
static int complete(cconn_t *c) {
  c->buf[c->len] = '\0';
  char *end = strstr(c->buf, "\r\n\r\n");
  if (!end) return 0;
  size_t head = (size_t)(end - c->buf) + 4, body = 0;
  for (char *p = c->buf; p < end; p = strstr(p, "\r\n") + 2)
    if (!strncasecmp(p, "content-length:", 15)) body = (size_t)strtoul(p + 15, NULL, 10);
  return c->len >= head + body;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  cconn_t *c = st->data;
  (void)b;
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t *)st)) uv_close((uv_handle_t *)st, conn_closed);
    return;
  }
  c->len += (size_t)n;
  if (c->answered || !complete(c)) return;
  c->answered = 1;
  canned_t *s = c->s;
  s->requests++;
  memcpy(s->last, c->buf, c->len + 1);
  uv_read_stop(st);
  c->out = malloc(s->resp_len ? s->resp_len : 1);
  ASSERT(c->out != NULL);
  memcpy(c->out, s->resp, s->resp_len);
  uv_buf_t ob = uv_buf_init(c->out, (unsigned)s->resp_len);
  c->w.data = c;
  ASSERT_EQ(uv_write(&c->w, st, &ob, 1, on_written), 0);
}

static void on_conn(uv_stream_t *l, int status) {
  canned_t *s = l->data;
  ASSERT_EQ(status, 0);
  cconn_t *c = calloc(1, sizeof *c);
  ASSERT(c != NULL);
  c->s = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  ASSERT_EQ(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int canned_start(uv_loop_t *loop, canned_t **out) {
  canned_t *s = calloc(1, sizeof *s);
  if (!s) return UV_ENOMEM;
  s->loop = loop;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  int r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0);
  if (!r) r = uv_listen((uv_stream_t *)&s->listener, 128, on_conn);
  *out = s;
  return r;
}

uint16_t canned_port(const canned_t *s) {
  struct sockaddr_in a;
  int len = sizeof a;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&a, &len);
  return ntohs(a.sin_port);
}

void canned_set(canned_t *s, const char *response, size_t len) {
  free(s->resp);
  s->resp = malloc(len ? len : 1);
  ASSERT(s->resp != NULL);
  memcpy(s->resp, response, len);
  s->resp_len = len;
}

unsigned canned_requests(const canned_t *s) {
  return s->requests;
}

const char *canned_last_request(const canned_t *s) {
  return s->last;
}

static void listener_closed(uv_handle_t *h) {
  canned_t *s = h->data;
  free(s->resp);
  free(s);
}

void canned_stop(canned_t *s) {
  uv_close((uv_handle_t *)&s->listener, listener_closed);
}
