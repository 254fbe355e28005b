/* The internal HTTP/1.1 server against raw sockets: a blocking client runs in
 * a thread while the server runs on the main thread's loop. Handlers are
 * chosen by path. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <ctype.h>
#include <unistd.h>
#include <zlib.h>

#include "failalloc.h"
#include "http/server.h"
#include "test.h"

/* ---- Allocator ------------------------------------------------------------
 * Every llmrt and libuv allocation of this program goes through failalloc.
 * Its realloc always moves the block and poisons the old one, so code that
 * keeps using a pointer into a buffer that grew reads garbage in any build
 * (not only under ASan); test_accept_oom makes one allocation size fail. */

/* ---- Server side (loop thread) ------------------------------------------ */

typedef struct {
  llmrt__sreq_t *r;
  uv_timer_t timer;
  int left;
  int mode; /* 0: stream chunks then end; 1: one chunk then wait; 2: one chunk then reset */
} stream_t;

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt__server_t *srv;
static uv_async_t finish_async;
static uv_timer_t poll_timer;
static int (*ready_fn)(void);
static int server_closed, rt_closed;
static volatile int abort_status, aborts, requests_seen;
static char last_path[256];
static volatile int finish_sent;
static char *big_body; /* "/big": big_len bytes of a pattern */
static size_t big_len;

static void stream_timer_closed(uv_handle_t *h) {
  llmrt__free(h->data);
}

static void stream_stop(stream_t *st) {
  uv_timer_stop(&st->timer);
  uv_close((uv_handle_t *)&st->timer, stream_timer_closed);
}

static void on_stream_abort(llmrt__sreq_t *r, int status, void *arg) {
  abort_status = status;
  aborts++;
  if (arg) stream_stop(arg);
}

static void on_stream_tick(uv_timer_t *t) {
  stream_t *st = t->data;
  char chunk[64];
  if (st->mode == 0 && st->left == 0) {
    ASSERT_EQ(llmrt__sreq_end(st->r), 0);
    stream_stop(st);
    return;
  }
  snprintf(chunk, sizeof chunk, "data: part %d\n\n", st->left);
  ASSERT_EQ(llmrt__sreq_write(st->r, chunk, strlen(chunk)), 0);
  st->left--;
  if (st->mode == 2) {
    llmrt__sreq_abort(st->r, 1);
    stream_stop(st);
    return;
  }
  if (st->mode == 1) return; /* wait for the client to go away */
  uv_timer_start(t, on_stream_tick, 10, 0);
}

static void start_stream(llmrt__sreq_t *r, int mode, int n) {
  stream_t *st = llmrt__calloc(1, sizeof *st);
  ASSERT(st);
  st->r = r;
  st->left = n;
  st->mode = mode;
  uv_timer_init(&loop, &st->timer);
  st->timer.data = st;
  llmrt__sreq_on_abort(r, on_stream_abort, st);
  llmrt_header_t h[] = {{"Content-Type", "text/event-stream"}};
  ASSERT_EQ(llmrt__sreq_start(r, 200, h, 1), 0);
  uv_timer_start(&st->timer, on_stream_tick, 10, 0);
}

static void on_request(llmrt__server_t *s, llmrt__sreq_t *r, void *user) {
  const char *path = llmrt__sreq_path(r);
  requests_seen++;
  snprintf(last_path, sizeof last_path, "%s", path);
  if (strcmp(path, "/hello") == 0) {
    char body[128];
    snprintf(body, sizeof body, "hello %s %s", llmrt__sreq_method(r), llmrt__sreq_target(r));
    llmrt_header_t h[] = {{"Content-Type", "text/plain"}, {"X-Test", "yes"}};
    ASSERT_EQ(llmrt__sreq_respond(r, 200, h, 2, body, strlen(body)), 0);
  } else if (strcmp(path, "/echo") == 0) {
    size_t len;
    const char *body = llmrt__sreq_body(r, &len);
    const char *ua = llmrt__sreq_header(r, "x-echo-header");
    size_t n;
    llmrt__sreq_headers(r, &n);
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    llmrt_header_t h[] = {{"X-Echo-Header", ua ? ua : "(none)"}, {"X-Header-Count", count}};
    ASSERT_EQ(llmrt__sreq_respond(r, 200, h, 2, body, len), 0);
  } else if (strncmp(path, "/path/", 6) == 0) {
    ASSERT_EQ(llmrt__sreq_respond(r, 200, NULL, 0, path, strlen(path)), 0);
  } else if (strcmp(path, "/big") == 0) {
    ASSERT_EQ(llmrt__sreq_respond(r, 200, NULL, 0, big_body, big_len), 0);
  } else if (strcmp(path, "/stream") == 0) {
    start_stream(r, 0, 5);
  } else if (strcmp(path, "/stream_wait") == 0) {
    start_stream(r, 1, 1);
  } else if (strcmp(path, "/stream_reset") == 0) {
    start_stream(r, 2, 1);
  } else if (strcmp(path, "/hang") == 0) {
    llmrt__sreq_on_abort(r, on_stream_abort, NULL); /* never answers */
  } else {
    ASSERT_EQ(llmrt__sreq_respond(r, 404, NULL, 0, "no\n", 3), 0);
  }
}

static void on_rt_closed(llmrt_t *r, void *user) {
  rt_closed = 1;
}

static void on_server_closed(llmrt__server_t *s, void *user) {
  server_closed = 1;
  llmrt_close(rt, on_rt_closed, NULL);
}

static void close_all(void) {
  uv_timer_stop(&poll_timer);
  uv_close((uv_handle_t *)&poll_timer, NULL);
  uv_close((uv_handle_t *)&finish_async, NULL);
  llmrt__server_close(srv, on_server_closed, NULL);
}

/* The client thread asks to finish; the server side may still be catching
 * up (an EOF not yet read), so wait for ready_fn with a generous bound. */
static uint64_t finish_started;
static void on_poll(uv_timer_t *t) {
  if (!ready_fn || ready_fn() || uv_now(&loop) - finish_started > 10000) close_all();
}

static void on_finish(uv_async_t *a) {
  finish_started = uv_now(&loop);
  uv_timer_start(&poll_timer, on_poll, 0, 10);
}

static uint16_t server_up(const llmrt__server_opts_t *o) {
  llmrt__server_opts_t def;
  llmrt__server_opts_init(&def);
  if (!o) o = &def;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(llmrt_new(&loop, NULL, &rt), 0);
  llmrt__server_cbs_t cbs = {on_request, NULL};
  char err[256];
  ASSERT_EQ(llmrt__server_start(rt, o, &cbs, NULL, &srv, err, sizeof err), 0);
  ASSERT(llmrt__server_port(srv) != 0);
  uv_async_init(&loop, &finish_async, on_finish);
  uv_timer_init(&loop, &poll_timer);
  server_closed = rt_closed = 0;
  abort_status = aborts = requests_seen = 0;
  ready_fn = NULL;
  finish_sent = 0;
  return llmrt__server_port(srv);
}

static void run_and_teardown(void) {
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT(server_closed);
  ASSERT(rt_closed);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* ---- Client side (blocking, in a thread) -------------------------------- */

static uint16_t port;

/* rcvbuf > 0: a small fixed receive buffer (set before connecting, which
 * also turns off the kernel's autotuning), so a client that does not read
 * soon pushes back on the server. */
static int cli_connect_rcvbuf(int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(fd >= 0);
  if (rcvbuf > 0) ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {20, 0}; /* a hung server fails the test, not the suite */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static int cli_connect(void) {
  return cli_connect_rcvbuf(0);
}

static void cli_send(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    ASSERT(w > 0);
    s += w;
    n -= (size_t)w;
  }
}

typedef struct {
  char buf[1 << 16];
  size_t len, pos;
  int eof, err;
} rd_t;

/* Ensures at least n unread bytes; returns 0 on EOF/error first. */
static int rd_need(int fd, rd_t *rd, size_t n) {
  while (rd->len - rd->pos < n) {
    if (rd->pos > 0) {
      memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
      rd->len -= rd->pos;
      rd->pos = 0;
    }
    ASSERT(rd->len < sizeof rd->buf);
    ssize_t r = recv(fd, rd->buf + rd->len, sizeof rd->buf - rd->len, 0);
    if (r == 0) {
      rd->eof = 1;
      return 0;
    }
    if (r < 0) {
      rd->err = errno;
      return 0;
    }
    rd->len += (size_t)r;
  }
  return 1;
}

static char *rd_line(int fd, rd_t *rd) {
  for (;;) {
    char *s = rd->buf + rd->pos;
    char *e = memchr(s, '\n', rd->len - rd->pos);
    if (e) {
      *e = '\0';
      if (e > s && e[-1] == '\r') e[-1] = '\0';
      rd->pos = (size_t)(e + 1 - rd->buf);
      return s;
    }
    if (!rd_need(fd, rd, rd->len - rd->pos + 1)) return NULL;
  }
}

typedef struct {
  int status;
  char head[4096]; /* header lines, lowercase names, "\n"-separated */
  char body[1 << 15];
  size_t body_len;
  int chunked, n_chunks, complete;
} resp_t;

/* Reads one response (Content-Length, chunked, or until EOF). */
static void cli_response(int fd, rd_t *rd, resp_t *out) {
  memset(out, 0, sizeof *out);
  char *line = rd_line(fd, rd);
  ASSERT(line);
  ASSERT_EQ(sscanf(line, "HTTP/1.1 %d", &out->status), 1);
  long long cl = -1;
  while ((line = rd_line(fd, rd)) && *line) {
    for (char *p = line; *p && *p != ':'; p++)
      *p = (char)tolower((unsigned char)*p);
    if (strncmp(line, "content-length:", 15) == 0) cl = atoll(line + 15);
    if (strstr(line, "transfer-encoding: chunked")) out->chunked = 1;
    strncat(out->head, line, sizeof out->head - strlen(out->head) - 2);
    strcat(out->head, "\n");
  }
  ASSERT(line);
  if (out->chunked) {
    for (;;) {
      line = rd_line(fd, rd);
      if (!line) return; /* cut mid-body */
      size_t n = strtoul(line, NULL, 16);
      if (n == 0) {
        line = rd_line(fd, rd);
        ASSERT(line && *line == '\0');
        out->complete = 1;
        return;
      }
      if (!rd_need(fd, rd, n + 2)) return;
      ASSERT(out->body_len + n < sizeof out->body);
      memcpy(out->body + out->body_len, rd->buf + rd->pos, n);
      out->body_len += n;
      rd->pos += n + 2;
      out->n_chunks++;
    }
  } else if (cl >= 0) {
    ASSERT((size_t)cl < sizeof out->body);
    if (cl > 0 && !rd_need(fd, rd, (size_t)cl)) return;
    memcpy(out->body, rd->buf + rd->pos, (size_t)cl);
    rd->pos += (size_t)cl;
    out->body_len = (size_t)cl;
    out->complete = 1;
  } else {
    while (rd_need(fd, rd, rd->len - rd->pos + 1)) {
    }
    out->body_len = rd->len - rd->pos;
    memcpy(out->body, rd->buf + rd->pos, out->body_len);
    rd->pos = rd->len;
    out->complete = rd->eof;
  }
}

/* 1 if the server closed the connection (EOF or reset) within a while. */
static int cli_closed(int fd, rd_t *rd) {
  return !rd_need(fd, rd, rd->len - rd->pos + 1);
}

/* Reads one Content-Length response without keeping its body, sleeping
 * pause_ms after every pause_every bytes. Returns the body bytes received;
 * *announced gets the Content-Length (-1 if the head did not arrive). */
static long long cli_big_response(int fd, rd_t *rd, long long *announced, size_t pause_every,
                                  int pause_ms) {
  *announced = -1;
  char *line = rd_line(fd, rd);
  if (!line) return 0;
  int status = 0;
  ASSERT_EQ(sscanf(line, "HTTP/1.1 %d", &status), 1);
  ASSERT_EQ(status, 200);
  long long cl = -1;
  while ((line = rd_line(fd, rd)) && *line)
    if (strncasecmp(line, "content-length:", 15) == 0) cl = atoll(line + 15);
  if (!line) return 0;
  *announced = cl;
  long long got = 0;
  size_t since_pause = 0;
  while (got < cl) {
    if (rd->len == rd->pos && !rd_need(fd, rd, 1)) break;
    size_t take = rd->len - rd->pos;
    if ((long long)take > cl - got) take = (size_t)(cl - got);
    rd->pos += take;
    got += (long long)take;
    since_pause += take;
    if (pause_every && since_pause >= pause_every) {
      since_pause = 0;
      usleep((useconds_t)pause_ms * 1000);
    }
  }
  return got;
}

typedef void (*client_fn)(void);
static void send_finish(void) {
  if (!finish_sent) uv_async_send(&finish_async);
  finish_sent = 1;
}

static void client_thread(void *arg) {
  ((client_fn)arg)();
  send_finish();
}

static void run_with_client(client_fn fn) {
  uv_thread_t th;
  ASSERT_EQ(uv_thread_create(&th, client_thread, (void *)fn), 0);
  run_and_teardown();
  uv_thread_join(&th);
}

/* ---- Tests -------------------------------------------------------------- */

static rd_t rd;
static resp_t resp;

static void cli_keepalive(void) {
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "hello GET /hello?x=1", 20);
  ASSERT_CONTAINS(resp.head, "x-test: yes");
  ASSERT(!strstr(resp.head, "connection: close"));
  /* Second request on the same connection, with a body. */
  req = "POST /echo HTTP/1.1\r\nHost: t\r\nX-Echo-Header:  padded value  \r\n"
        "Content-Length: 5\r\n\r\nabcde";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "abcde", 5);
  ASSERT_CONTAINS(resp.head, "x-echo-header: padded value\n");
  /* Two pipelined requests in one write: answered in order. */
  req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\n"
        "Content-Length: 3\r\n\r\nxyz";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "hello GET /hello", 16);
  cli_response(fd, &rd, &resp);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "xyz", 3);
  /* Connection: close is honoured. */
  req = "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_CONTAINS(resp.head, "connection: close");
  ASSERT(cli_closed(fd, &rd));
  close(fd);
}

static void test_keepalive(void) {
  port = server_up(NULL);
  run_with_client(cli_keepalive);
  ASSERT_EQ(requests_seen, 5);
}

static void cli_stream(void) {
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT(resp.chunked);
  ASSERT(resp.complete);
  ASSERT_GE(resp.n_chunks, 1);
  const char *want = "data: part 5\n\ndata: part 4\n\ndata: part 3\n\ndata: part 2\n\n"
                     "data: part 1\n\n";
  ASSERT_MEM_EQ(resp.body, resp.body_len, want, strlen(want));
  /* The connection is still usable after a streamed response. */
  req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  /* HTTP/1.0 gets no chunking: the body ends with the connection. */
  close(fd);
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  req = "GET /stream HTTP/1.0\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT(!resp.chunked);
  ASSERT(resp.complete);
  ASSERT_MEM_EQ(resp.body, resp.body_len, want, strlen(want));
  close(fd);
}

/* Clients that half-close after their last request still get the answer. */
static void cli_half_close(void) {
  const char *want = "data: part 5\n\ndata: part 4\n\ndata: part 3\n\ndata: part 2\n\n"
                     "data: part 1\n\n";
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /stream HTTP/1.0\r\n\r\n";
  cli_send(fd, req, strlen(req));
  shutdown(fd, SHUT_WR);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT(resp.complete);
  ASSERT_MEM_EQ(resp.body, resp.body_len, want, strlen(want));
  close(fd);
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  req = "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n";
  cli_send(fd, req, strlen(req));
  shutdown(fd, SHUT_WR);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "hello GET /hello", 16);
  ASSERT(cli_closed(fd, &rd));
  close(fd);
}

static void test_half_close(void) {
  port = server_up(NULL);
  run_with_client(cli_half_close);
  ASSERT_EQ(aborts, 0);
}

static void test_stream(void) {
  port = server_up(NULL);
  run_with_client(cli_stream);
  ASSERT_EQ(aborts, 0);
}

static void cli_limits(void) {
  /* Header section over the limit (4 KiB here): 431 and close. */
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  char big[8192];
  memset(big, 'a', sizeof big);
  const char *h = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ";
  cli_send(fd, h, strlen(h));
  cli_send(fd, big, sizeof big);
  cli_send(fd, "\r\n\r\n", 4);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 431);
  ASSERT_CONTAINS(resp.head, "connection: close");
  ASSERT(cli_closed(fd, &rd));
  close(fd);
  /* Too many headers: 431 as well. */
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  cli_send(fd, "GET /hello HTTP/1.1\r\n", 21);
  for (int i = 0; i < 40; i++)
    cli_send(fd, "X-A: b\r\n", 8);
  cli_send(fd, "\r\n", 2);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 431);
  close(fd);
  /* Declared body over the limit: 413 before the body is sent. */
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  const char *req = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 413);
  close(fd);
  /* Chunked body that grows over the limit: 413. */
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  req = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  cli_send(fd, req, strlen(req));
  for (int i = 0; i < 20; i++) {
    cli_send(fd, "400\r\n", 5);
    cli_send(fd, big, 0x400);
    cli_send(fd, "\r\n", 2);
  }
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 413);
  close(fd);
  /* Trailers count against the header limit too. */
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  req = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n"
        "X-Trailer: ";
  cli_send(fd, req, strlen(req));
  cli_send(fd, big, sizeof big);
  cli_send(fd, "\r\n\r\n", 4);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 431);
  close(fd);
  /* Garbage: 400. */
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  cli_send(fd, "HELLO WORLD\r\n\r\n", 15);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 400);
  close(fd);
  /* Expect: 100-continue gets the interim response, then the answer. */
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  req = "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  cli_send(fd, req, strlen(req));
  char *line = rd_line(fd, &rd);
  ASSERT_STR_EQ(line, "HTTP/1.1 100 Continue");
  line = rd_line(fd, &rd);
  ASSERT_STR_EQ(line, "");
  cli_send(fd, "body", 4);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "body", 4);
  close(fd);
}

static void test_limits(void) {
  llmrt__server_opts_t o;
  llmrt__server_opts_init(&o);
  o.max_header_bytes = 4096;
  o.max_headers = 32;
  o.max_body_bytes = 10000;
  port = server_up(&o);
  run_with_client(cli_limits);
}

static void cli_gzip_body(void) {
  const char *text = "{\"messages\":[{\"role\":\"user\",\"content\":\"compressed hello\"}]}";
  unsigned char z[512];
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = (Bytef *)text;
  zs.avail_in = (uInt)strlen(text);
  zs.next_out = z;
  zs.avail_out = sizeof z;
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t zlen = sizeof z - zs.avail_out;
  deflateEnd(&zs);
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  char head[256];
  snprintf(
      head, sizeof head,
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
      zlen);
  cli_send(fd, head, strlen(head));
  cli_send(fd, (char *)z, zlen);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, text, strlen(text));
  /* Corrupt gzip: 400. */
  z[zlen / 2] ^= 0x55;
  z[zlen / 2 + 1] ^= 0x55;
  cli_send(fd, head, strlen(head));
  cli_send(fd, (char *)z, zlen);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 400);
  close(fd);
}

static void test_gzip_body(void) {
  llmrt__server_opts_t o;
  llmrt__server_opts_init(&o);
  o.decode_gzip_body = 1;
  port = server_up(&o);
  run_with_client(cli_gzip_body);
}

static int abort_seen(void) {
  return aborts > 0;
}

static void cli_disconnect(void) {
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /stream_wait HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  char *line = rd_line(fd, &rd);
  ASSERT_STR_EQ(line, "HTTP/1.1 200 OK");
  /* Wait for the first chunk so the handler is mid-stream, then leave. */
  ASSERT(rd_need(fd, &rd, 1));
  close(fd);
}

static void test_disconnect_mid_stream(void) {
  port = server_up(NULL);
  ready_fn = abort_seen;
  run_with_client(cli_disconnect);
  ASSERT_EQ(aborts, 1);
  ASSERT(abort_status == LLMRT_ECLOSED || abort_status == LLMRT_ECONNRESET);
}

static void cli_reset(void) {
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /stream_reset HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT(!resp.complete);
  ASSERT_EQ(rd.err, ECONNRESET);
  close(fd);
}

static void test_abort_reset(void) {
  port = server_up(NULL);
  run_with_client(cli_reset);
  ASSERT_EQ(aborts, 0); /* the handler aborted itself: no callback */
}

/* Shutdown with open connections: one idle keep-alive, one waiting for a
 * response that never comes. */
static volatile int cli_waiting;
static void cli_shutdown(void) {
  int idle = cli_connect();
  rd_t rd2;
  memset(&rd2, 0, sizeof rd2);
  const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(idle, req, strlen(req));
  cli_response(idle, &rd2, &resp);
  ASSERT_EQ(resp.status, 200);
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  req = "GET /hang HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  /* Ask the loop to shut down while both are open; it must close them. */
  send_finish();
  ASSERT(cli_closed(fd, &rd));
  ASSERT(cli_closed(idle, &rd2));
  close(fd);
  close(idle);
}

static int hang_seen(void) {
  return requests_seen == 2;
}

static void test_shutdown_with_open_connections(void) {
  port = server_up(NULL);
  ready_fn = hang_seen;
  run_with_client(cli_shutdown);
  ASSERT_EQ(aborts, 1);
  ASSERT_ERR(abort_status, LLMRT_ESHUTDOWN);
}

static void test_bind_error(void) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(llmrt_new(&loop, NULL, &rt), 0);
  llmrt__server_cbs_t cbs = {on_request, NULL};
  llmrt__server_opts_t o;
  llmrt__server_opts_init(&o);
  char err[256];
  llmrt__server_t *a, *b;
  ASSERT_EQ(llmrt__server_start(rt, &o, &cbs, NULL, &a, err, sizeof err), 0);
  o.port = llmrt__server_port(a);
  ASSERT_ERR(llmrt__server_start(rt, &o, &cbs, NULL, &b, err, sizeof err), UV_EADDRINUSE);
  ASSERT_CONTAINS(err, "address already in use");
  ASSERT_CONTAINS(err, "127.0.0.1");
  o.host = "not-an-ip";
  ASSERT(llmrt__server_start(rt, &o, &cbs, NULL, &b, err, sizeof err) < 0);
  ASSERT_CONTAINS(err, "not-an-ip");
  server_closed = rt_closed = 0;
  srv = a;
  llmrt__server_close(a, on_server_closed, NULL);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT(server_closed && rt_closed);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* Finding: a request trailer (after a chunked body) was stored like a
 * header after the header array had been built: new entries were never
 * filled and head could move under them (use after free). Trailers are now
 * dropped, still counted against max_header_bytes. */
static void cli_trailers(void) {
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  char trailer[81];
  memset(trailer, 't', 80);
  trailer[80] = '\0';
  char req[512];
  snprintf(req, sizeof req,
           "POST /echo HTTP/1.1\r\nHost: t\r\nX-Echo-Header: v1\r\n"
           "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: %s\r\n"
           "X-Echo-Header: from-trailer\r\n\r\n",
           trailer);
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "hello", 5);
  ASSERT_CONTAINS(resp.head, "x-echo-header: v1\n");
  ASSERT_CONTAINS(resp.head, "x-header-count: 3\n");
  /* The connection goes on. */
  const char *next = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, next, strlen(next));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  close(fd);
}

static void test_trailers(void) {
  port = server_up(NULL);
  run_with_client(cli_trailers);
  ASSERT_EQ(requests_seen, 2);
}

/* Finding: the path (the target without its query) was copied from the head
 * buffer into itself, reading the old block when the append moved it. */
static void cli_long_target(void) {
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  for (size_t n = 10; n <= 2000; n = n * 3 + 1) {
    char path[2100], req[2300];
    memcpy(path, "/path/", 6);
    for (size_t i = 0; i < n; i++)
      path[6 + i] = (char)('a' + i % 26);
    path[6 + n] = '\0';
    snprintf(req, sizeof req, "GET %s?q=%zu HTTP/1.1\r\nHost: t\r\n\r\n", path, n);
    cli_send(fd, req, strlen(req));
    cli_response(fd, &rd, &resp);
    ASSERT_EQ(resp.status, 200);
    ASSERT_MEM_EQ(resp.body, resp.body_len, path, strlen(path));
  }
  close(fd);
}

static void test_long_target(void) {
  port = server_up(NULL);
  run_with_client(cli_long_target);
}

/* Finding: a client that pipelines requests and never reads made the server
 * answer all of them into memory. Now it stops parsing (and reading) while
 * more than a cap of output is queued, and goes on as the client reads. */
#define PIPELINED 24
static volatile int seen_before_reading;
static void cli_pipeline_no_read(void) {
  int fd = cli_connect_rcvbuf(8192);
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
  for (int i = 0; i < PIPELINED; i++)
    cli_send(fd, req, strlen(req));
  usleep(1000 * 1000);
  seen_before_reading = requests_seen;
  for (int i = 0; i < PIPELINED; i++) {
    long long cl, got = cli_big_response(fd, &rd, &cl, 0, 0);
    ASSERT_EQ(cl, (long long)big_len);
    ASSERT_EQ(got, cl);
  }
  close(fd);
}

static void test_pipeline_backpressure(void) {
  big_len = 1 << 20;
  big_body = malloc(big_len);
  ASSERT(big_body);
  memset(big_body, 'p', big_len);
  port = server_up(NULL);
  run_with_client(cli_pipeline_no_read);
  /* 1 MiB answers: the kernel's buffers hold a few, the server one more. */
  ASSERT_GE(seen_before_reading, 1);
  ASSERT_LE(seen_before_reading, PIPELINED / 2);
  ASSERT_EQ(requests_seen, PIPELINED);
  free(big_body);
  big_body = NULL;
}

/* Finding: the keep-alive idle timer was armed as soon as the handler
 * finished, while the answer was still being written, and cut it off. */
static void cli_slow_reader(void) {
  int fd = cli_connect_rcvbuf(8192);
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  usleep(1000 * 1000); /* well past the idle timeout, well within the send timeout */
  long long cl, got = cli_big_response(fd, &rd, &cl, 0, 0);
  ASSERT_EQ(cl, (long long)big_len);
  ASSERT_EQ(got, cl);
  /* Once the answer is out, the idle timeout applies again. */
  ASSERT(cli_closed(fd, &rd));
  ASSERT(rd.eof);
  close(fd);
}

static void test_slow_reader(void) {
  big_len = 16 << 20; /* more than the kernel buffers on both sides */
  big_body = malloc(big_len);
  ASSERT(big_body);
  memset(big_body, 's', big_len);
  llmrt__server_opts_t o;
  llmrt__server_opts_init(&o);
  o.idle_timeout_ms = 300;
  o.send_timeout_ms = 5000;
  port = server_up(&o);
  run_with_client(cli_slow_reader);
  free(big_body);
  big_body = NULL;
}

/* The send timeout: a client that reads, however slowly, keeps the
 * connection; one that stops reading loses it. */
static void cli_send_timeout(void) {
  int fd = cli_connect_rcvbuf(8192);
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  /* A pause of 200 ms per MiB: 3.2 s in all, far over the send timeout,
   * but what it reads frees the kernel's buffers (a few MB) well within it. */
  long long cl, got = cli_big_response(fd, &rd, &cl, 1 << 20, 200);
  ASSERT_EQ(cl, (long long)big_len);
  ASSERT_EQ(got, cl);
  close(fd);
  fd = cli_connect_rcvbuf(8192);
  memset(&rd, 0, sizeof rd);
  cli_send(fd, req, strlen(req));
  usleep(2500 * 1000); /* reads nothing for over twice the send timeout */
  got = cli_big_response(fd, &rd, &cl, 0, 0);
  ASSERT_EQ(cl, (long long)big_len);
  ASSERT(got < cl);
  ASSERT(rd.eof || rd.err == ECONNRESET);
  close(fd);
}

static int no_conn_open(void) {
  llmrt__server_stats_t st;
  llmrt__server_stats(srv, &st);
  return st.open == 0;
}

static void test_send_timeout(void) {
  big_len = 16 << 20;
  big_body = malloc(big_len);
  ASSERT(big_body);
  memset(big_body, 'w', big_len);
  llmrt__server_opts_t o;
  llmrt__server_opts_init(&o);
  o.send_timeout_ms = 1000;
  port = server_up(&o);
  ready_fn = no_conn_open;
  run_with_client(cli_send_timeout);
  free(big_body);
  big_body = NULL;
}

/* Finding: "Upgrade: h2c" made llhttp stop with HPE_PAUSED_UPGRADE, taken for
 * a parse error: the next request on the connection got a 400. The server
 * speaks HTTP/1.1 only and ignores the offer. */
static void cli_upgrade(void) {
  int fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                    "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "hello GET /hello", 16);
  req = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "ok", 2);
  /* The same offer with a body, pipelined with the next request. */
  req = "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
        "Content-Length: 3\r\n\r\nabcGET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "abc", 3);
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  ASSERT_MEM_EQ(resp.body, resp.body_len, "hello GET /hello", 16);
  close(fd);
}

static void test_upgrade_ignored(void) {
  port = server_up(NULL);
  run_with_client(cli_upgrade);
  ASSERT_EQ(requests_seen, 4);
}

/* Finding: a client that sent its last request (Connection: close) and then
 * disconnected was taken for a half-close: a handler that does not write was
 * never told. The wait is now bounded by the idle timeout. */
static void cli_close_and_leave(void) {
  int fd = cli_connect();
  const char *req = "GET /hang HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  cli_send(fd, req, strlen(req));
  for (int i = 0; i < 1000 && requests_seen == 0; i++)
    usleep(10 * 1000);
  ASSERT_EQ(requests_seen, 1);
  close(fd);
}

static void test_close_then_disconnect(void) {
  llmrt__server_opts_t o;
  llmrt__server_opts_init(&o);
  o.idle_timeout_ms = 300;
  port = server_up(&o);
  ready_fn = abort_seen;
  run_with_client(cli_close_and_leave);
  ASSERT_EQ(aborts, 1);
  ASSERT_ERR(abort_status, LLMRT_ECLOSED);
}

/* Finding: when a new connection's memory could not be allocated, the server
 * returned without accepting it, and libuv stops polling a listener until
 * the pending connection is accepted: the server went deaf. It now accepts
 * and closes that one connection. */
static void cli_after_oom(void) {
  int fd = cli_connect();
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  memset(&rd, 0, sizeof rd);
  const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
  cli_send(fd, req, strlen(req));
  ASSERT(cli_closed(fd, &rd));
  ASSERT(rd.eof || rd.err == ECONNRESET); /* closed, not left hanging */
  close(fd);
  fd = cli_connect();
  memset(&rd, 0, sizeof rd);
  cli_send(fd, req, strlen(req));
  cli_response(fd, &rd, &resp);
  ASSERT_EQ(resp.status, 200);
  close(fd);
}

static void test_accept_oom(void) {
  port = server_up(NULL);
  failalloc_fail_size(sizeof(uv_tcp_t), 1);
  run_with_client(cli_after_oom);
  ASSERT_EQ(failalloc_size_failures(), 1);
  ASSERT_EQ(requests_seen, 1);
  failalloc_fail_size(0, 0);
}

int main(void) {
  failalloc_install();
  failalloc_moving_realloc(1);
  RUN_TEST(test_keepalive);
  RUN_TEST(test_stream);
  RUN_TEST(test_half_close);
  RUN_TEST(test_limits);
  RUN_TEST(test_gzip_body);
  RUN_TEST(test_disconnect_mid_stream);
  RUN_TEST(test_abort_reset);
  RUN_TEST(test_shutdown_with_open_connections);
  RUN_TEST(test_bind_error);
  RUN_TEST(test_trailers);
  RUN_TEST(test_long_target);
  RUN_TEST(test_pipeline_backpressure);
  RUN_TEST(test_slow_reader);
  RUN_TEST(test_send_timeout);
  RUN_TEST(test_upgrade_ignored);
  RUN_TEST(test_close_then_disconnect);
  RUN_TEST(test_accept_oom);
  return 0;
}
