/* Flow control in the HTTP client (llmrt_http_pause / llmrt_http_resume):
 * large bodies paused after every piece arrive byte-identical (plain,
 * chunked, gzip, and over TLS from nginx); while paused the socket is not
 * read, so a server thread's non-blocking writes hit EAGAIN and stop while
 * the client's memory stays flat; the total timeout, cancel and runtime
 * close work while paused, the idle and first-byte timeouts do not fire; a
 * response that completed or a peer that closed while paused is reported on
 * resume; keep-alive reuse works afterwards. Also measures one cycle. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "http/http_internal.h"
#include "nginx.h"
#include "test_client_util.h"

/* ---- A request driver that pauses ------------------------------------------ */

typedef struct {
  res_t r; /* first: the shared callbacks take it as their user pointer */
  uv_timer_t timer;
  int pause_every_body; /* pause in each on_body, resume from the timer */
  int pause_in_head;
  int never_resume;
  int resume_in_cb; /* resume at once, inside the callback that paused */
  unsigned resume_ms;
  int store;      /* keep the body (else only check it against the pattern) */
  int paused_now; /* between our pause and our resume */
  int cb_while_paused;
  unsigned pauses;
  size_t seen;   /* body bytes, counted even when not stored */
  size_t bad_at; /* first byte that differs from the pattern, + 1 */
} pt_t;

static void pt_resume(uv_timer_t *t) {
  pt_t *p = t->data;
  p->paused_now = 0;
  ASSERT_EQ(llmrt_http_resume(p->r.h), 0);
}

static void pt_pause(pt_t *p, llmrt_http_t *h) {
  p->pauses++;
  ASSERT_EQ(llmrt_http_pause(h), 0);
  ASSERT_EQ(llmrt_http_pause(h), 0); /* twice is once */
  if (p->resume_in_cb) {
    ASSERT_EQ(llmrt_http_resume(h), 0);
    return;
  }
  p->paused_now = 1;
  if (!p->never_resume) uv_timer_start(&p->timer, pt_resume, p->resume_ms, 0);
}

static int pt_head(llmrt_http_t *h, int status, const llmrt_header_t *hs, size_t n, void *user) {
  pt_t *p = user;
  if (p->paused_now) p->cb_while_paused++;
  p->r.h = h;
  int rc = cb_head(h, status, hs, n, &p->r);
  if (p->pause_in_head) pt_pause(p, h);
  return rc;
}

static int pt_body(llmrt_http_t *h, const char *d, size_t n, void *user) {
  pt_t *p = user;
  if (p->paused_now) p->cb_while_paused++;
  for (size_t i = 0; i < n && !p->bad_at; i++)
    if (d[i] != rawserver_pattern(p->seen + i)) p->bad_at = p->seen + i + 1;
  p->seen += n;
  int rc = 0;
  if (p->store)
    rc = cb_body(h, d, n, &p->r);
  else
    p->r.bodies++;
  if (p->pause_every_body) pt_pause(p, h);
  return rc;
}

static void pt_done(llmrt_http_t *h, int status, const char *msg, void *user) {
  pt_t *p = user;
  if (p->paused_now && status == 0) p->cb_while_paused++;
  uv_timer_stop(&p->timer);
  cb_done(h, status, msg, &p->r);
}

static const llmrt_http_callbacks_t pt_cbs = {pt_head, pt_body, pt_done};

static void pt_init(pt_t *p, uv_loop_t *loop, llmrt_t *rt) {
  memset(p, 0, sizeof(*p));
  p->r.rt = rt;
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
}

static void pt_fini(pt_t *p) {
  uv_close((uv_handle_t *)&p->timer, NULL);
  uv_run(p->timer.loop, UV_RUN_NOWAIT); /* p may go out of scope next */
  res_free(&p->r);
}

static int pt_start(pt_t *p, const char *url, unsigned flags, uint32_t total_ms, uint32_t idle_ms) {
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = url;
  q.flags = flags;
  q.total_timeout_ms = total_ms;
  q.idle_timeout_ms = idle_ms;
  q.first_byte_timeout_ms = idle_ms;
  return llmrt_http_request(p->r.rt, &q, &pt_cbs, p, &p->r.h);
}

static void raw_url(env_t *e, const char *path, char *buf, size_t len) {
  rawserver_url(e->srv, path, buf, len);
}

/* ---- Large bodies, paused after every piece -------------------------------- */

#define TEN_MB (10u * 1024 * 1024)

static void check_every_body(env_t *e, const char *url, unsigned flags, size_t want) {
  pt_t p;
  pt_init(&p, &e->loop, e->rt);
  p.pause_every_body = 1;
  p.resume_ms = 0;
  ASSERT_EQ(pt_start(&p, url, flags, 0, 0), 0);
  run_until(e, &p.r.dones, 120000);
  if (p.r.status) fprintf(stderr, "%s: %s\n", url, p.r.errmsg);
  ASSERT_ERR(p.r.status, 0);
  ASSERT_EQ(p.r.http_status, 200);
  ASSERT_EQ(p.seen, want);
  ASSERT_EQ(p.bad_at, 0);
  ASSERT_EQ(p.cb_while_paused, 0);
  ASSERT_EQ(p.pauses, p.r.bodies);
  ASSERT_GE(p.pauses, 2);
  fprintf(stderr, "   %s: %zu bytes in %u pauses\n", url, p.seen, p.pauses);
  pt_fini(&p);
}

static void test_every_body_plain(void) {
  env_t e;
  env_init(&e);
  char url[256];
  const char *paths[] = {"/len/10485760",         "/chunked/10485760", "/gzip/10485760",
                         "/gzip-chunked/3000000", "/deflate/3000000",  "/rawdeflate/3000000"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    raw_url(&e, paths[i], url, sizeof(url));
    size_t want = strtoul(strrchr(paths[i], '/') + 1, NULL, 10);
    check_every_body(
        &e, url,
        strstr(paths[i], "deflate") || strstr(paths[i], "gzip") ? LLMRT_HTTP_DECOMPRESS : 0, want);
  }
  /* Every one went over the same kept-alive connection. */
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.opened, 1);
  ASSERT_EQ(st.reused, sizeof(paths) / sizeof(paths[0]) - 1);
  env_close(&e);
}

/* Pause and resume inside the same on_body: still one piece at a time, with
 * the rest delivered from a later loop turn. */
static void test_resume_inside_callback(void) {
  env_t e;
  env_init(&e);
  char url[256];
  pt_t p;
  pt_init(&p, &e.loop, e.rt);
  p.pause_every_body = 1;
  p.resume_in_cb = 1;
  raw_url(&e, "/gzip/2000000", url, sizeof(url));
  ASSERT_EQ(pt_start(&p, url, LLMRT_HTTP_DECOMPRESS, 0, 0), 0);
  run_until(&e, &p.r.dones, 30000);
  ASSERT_ERR(p.r.status, 0);
  ASSERT_EQ(p.seen, 2000000);
  ASSERT_EQ(p.bad_at, 0);
  pt_fini(&p);
  env_close(&e);
}

/* ---- TLS against nginx ------------------------------------------------------ */

static void test_every_body_tls(void) {
  char dir[] = "/tmp/llmrt-pause-XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  char file[300];
  snprintf(file, sizeof(file), "%s/ten.txt", dir);
  FILE *f = fopen(file, "wb");
  ASSERT(f != NULL);
  for (size_t i = 0; i < TEN_MB; i++)
    fputc(rawserver_pattern(i), f);
  ASSERT_EQ(fclose(f), 0);
  char extra[512];
  snprintf(extra, sizeof(extra), "    location = /ten { alias %s; }", file);
  test_nginx_t ngx;
  test_nginx_start(&ngx, extra);

  env_t e;
  memset(&e, 0, sizeof(e));
  ASSERT_EQ(uv_loop_init(&e.loop), 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = test_cert_path("ca.pem");
  ASSERT_EQ(llmrt_new(&e.loop, &o, &e.rt), 0);
  char url[128];
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/ten", ngx.https_port);
  check_every_body(&e, url, 0, TEN_MB);
  /* nginx gzips it (chunked): a paused inflate over TLS records. */
  check_every_body(&e, url, LLMRT_HTTP_DECOMPRESS, TEN_MB);
  llmrt_pool_stats_t st;
  ASSERT_EQ(llmrt_pool_stats(e.rt, url, &st), 0);
  ASSERT_EQ(st.handshakes, 1);
  ASSERT_EQ(st.reused, 1);
  llmrt_close(e.rt, on_rt_closed, &e);
  run_until(&e, &e.closed, 10000);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&e.loop), 0);
  test_nginx_stop(&ngx);
  unlink(file);
  rmdir(dir);
}

/* ---- Backpressure reaches the server ------------------------------------- */

/* One connection on a thread: reads the request head, then writes `total`
 * body bytes of the pattern with non-blocking sends, counting EAGAIN. */
typedef struct {
  int lfd;
  uint16_t port;
  pthread_t th;
  size_t total;
  atomic_size_t written;
  atomic_int eagain;
  atomic_int finished;
} bpsrv_t;

static void *bpsrv_main(void *arg) {
  bpsrv_t *s = arg;
  int fd = accept(s->lfd, NULL, NULL);
  if (fd < 0) return NULL;
  char req[4096];
  size_t got = 0;
  while (got < sizeof(req) - 1) {
    ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
    req[got] = 0;
    if (strstr(req, "\r\n\r\n")) break;
  }
  char head[128];
  int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", s->total);
  (void)send(fd, head, (size_t)hl, MSG_NOSIGNAL);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  /* 26 * 26 * 7 is a multiple of the pattern's period: one buffer serves. */
  enum { PERIOD = 26 * 26, BUF = PERIOD * 96 };
  static char pat[BUF];
  for (size_t i = 0; i < BUF; i++)
    pat[i] = rawserver_pattern(i);
  size_t off = 0;
  while (off < s->total) {
    size_t phase = off % PERIOD, n = BUF - phase;
    if (n > s->total - off) n = s->total - off;
    ssize_t w = send(fd, pat + phase, n, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
      atomic_store(&s->written, off);
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      atomic_fetch_add(&s->eagain, 1);
      struct pollfd pfd = {fd, POLLOUT, 0};
      if (poll(&pfd, 1, 20000) <= 0) break; /* the client gave up */
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    break;
  }
  close(fd);
  atomic_store(&s->finished, 1);
  return NULL;
}

static void bpsrv_start(bpsrv_t *s, size_t total) {
  memset(s, 0, sizeof(*s));
  s->total = total;
  int port;
  s->lfd = listen_loopback(&port);
  s->port = port;
  ASSERT_EQ(pthread_create(&s->th, NULL, bpsrv_main, s), 0);
}

static void bpsrv_stop(bpsrv_t *s) {
  pthread_join(s->th, NULL);
  close(s->lfd);
}

static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
  }
  return res * (size_t)sysconf(_SC_PAGESIZE);
}

static void test_backpressure_reaches_server(void) {
  const size_t total = 50u * 1024 * 1024;
  bpsrv_t s;
  bpsrv_start(&s, total);
  env_t e;
  env_init(&e);
  pt_t p;
  pt_init(&p, &e.loop, e.rt);
  p.pause_every_body = 1;
  p.never_resume = 1;
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", s.port);
  size_t rss0 = rss_bytes();
  ASSERT_EQ(pt_start(&p, url, 0, 0, 0), 0);
  while (p.pauses == 0)
    uv_run(&e.loop, UV_RUN_ONCE);
  /* Paused after the first piece. The server goes on until the kernel's
   * buffers are full, then its writes fail with EAGAIN and stay blocked. */
  run_for(&e, 600);
  size_t w1 = atomic_load(&s.written);
  run_for(&e, 400);
  size_t w2 = atomic_load(&s.written), rss1 = rss_bytes();
  size_t seen = p.seen;
  fprintf(stderr,
          "   paused after %zu bytes: server wrote %zu then %zu of %zu bytes, %d EAGAIN; "
          "client RSS %+ld KiB\n",
          seen, w1, w2, total, atomic_load(&s.eagain), ((long)rss1 - (long)rss0) / 1024);
  ASSERT_GE(atomic_load(&s.eagain), 1);
  ASSERT_EQ(w1, w2);       /* the server is blocked */
  ASSERT(w2 < total / 2);  /* by the kernel buffers, not by the body's end */
  ASSERT_EQ(p.seen, seen); /* nothing delivered while paused */
  ASSERT_EQ(p.cb_while_paused, 0);
  ASSERT((long)rss1 - (long)rss0 < 4 * 1024 * 1024); /* bounded: not the server's megabytes */

  /* Resume for good: the rest arrives in order. */
  p.pause_every_body = 0;
  p.paused_now = 0;
  ASSERT_EQ(llmrt_http_resume(p.r.h), 0);
  run_until(&e, &p.r.dones, 60000);
  ASSERT_ERR(p.r.status, 0);
  ASSERT_EQ(p.seen, total);
  ASSERT_EQ(p.bad_at, 0);
  /* The server thread marks its end after its last write returned, which
   * may come after the client has read everything (slow under valgrind). */
  for (int i = 0; i < 1000 && atomic_load(&s.finished) != 1; i++) uv_sleep(10);
  ASSERT_EQ(atomic_load(&s.finished), 1);
  pt_fini(&p);
  env_close(&e);
  bpsrv_stop(&s);
}

/* ---- Deadlines, cancel and close while paused ------------------------------ */

static void test_timeouts_while_paused(void) {
  env_t e;
  env_init(&e);
  char url[256];
  pt_t p;
  /* Idle and first-byte timeouts of 100 ms never fire while paused for
   * 600 ms; the total timeout of 600 ms does. */
  pt_init(&p, &e.loop, e.rt);
  p.pause_in_head = 1;
  p.never_resume = 1;
  raw_url(&e, "/len/1000000", url, sizeof(url));
  uint64_t t0 = now_ms();
  ASSERT_EQ(pt_start(&p, url, 0, 600, 100), 0);
  run_until(&e, &p.r.dones, 10000);
  uint64_t took = now_ms() - t0;
  ASSERT_ERR(p.r.status, LLMRT_ETIMEDOUT);
  ASSERT_CONTAINS(p.r.errmsg, "total");
  ASSERT_GE(took, 550);
  ASSERT_EQ(p.r.heads, 1);
  ASSERT_EQ(p.seen, 0);
  pt_fini(&p);

  /* Paused for 300 ms with an idle timeout of 100 ms, then resumed: the
   * idle clock restarts and the response completes. */
  pt_init(&p, &e.loop, e.rt);
  p.pause_in_head = 1;
  p.resume_ms = 300;
  raw_url(&e, "/len/200000", url, sizeof(url));
  ASSERT_EQ(pt_start(&p, url, 0, 0, 100), 0);
  run_until(&e, &p.r.dones, 10000);
  ASSERT_ERR(p.r.status, 0);
  ASSERT_EQ(p.seen, 200000);
  ASSERT_EQ(p.cb_while_paused, 0);
  pt_fini(&p);
  /* The connection timed out above was closed, this one is reused next. */
  ASSERT_EQ(pool_stats(&e).idle, 1);
  env_close(&e);
}

static void cancel_timer(uv_timer_t *t) {
  pt_t *p = t->data;
  ASSERT_EQ(llmrt_http_cancel(p->r.h), 0);
  ASSERT_EQ(llmrt_http_resume(p->r.h), 0); /* finished: a no-op */
}

static void test_cancel_and_close_while_paused(void) {
  env_t e;
  env_init(&e);
  char url[256];
  pt_t p;
  pt_init(&p, &e.loop, e.rt);
  p.pause_every_body = 1;
  p.never_resume = 1;
  raw_url(&e, "/len/3000000", url, sizeof(url));
  ASSERT_EQ(pt_start(&p, url, 0, 0, 0), 0);
  while (p.pauses == 0)
    uv_run(&e.loop, UV_RUN_ONCE);
  uv_timer_start(&p.timer, cancel_timer, 100, 0);
  run_until(&e, &p.r.dones, 10000);
  ASSERT_ERR(p.r.status, LLMRT_ECANCELED);
  ASSERT_EQ(p.pauses, 1);
  ASSERT_EQ(pool_stats(&e).idle, 0); /* never reused */
  pt_fini(&p);

  /* Paused and resumed, then the runtime closes while paused again. */
  pt_init(&p, &e.loop, e.rt);
  p.pause_in_head = 1;
  p.never_resume = 1;
  ASSERT_EQ(pt_start(&p, url, 0, 0, 0), 0);
  while (p.pauses == 0)
    uv_run(&e.loop, UV_RUN_ONCE);
  run_for(&e, 50);
  ASSERT_EQ(p.r.dones, 0);
  llmrt_close(e.rt, on_rt_closed, &e);
  run_until(&e, &e.closed, 10000);
  ASSERT_EQ(p.r.dones, 1);
  ASSERT_ERR(p.r.status, LLMRT_ESHUTDOWN);
  e.rt = NULL;
  pt_fini(&p);
  env_close(&e);
}

/* ---- Pause points ---------------------------------------------------------- */

static void test_pause_in_head(void) {
  env_t e;
  env_init(&e);
  char url[256];
  pt_t p;
  pt_init(&p, &e.loop, e.rt);
  p.pause_in_head = 1;
  p.never_resume = 1;
  p.store = 1;
  raw_url(&e, "/chunked/300000", url, sizeof(url));
  ASSERT_EQ(pt_start(&p, url, 0, 0, 0), 0);
  while (p.pauses == 0)
    uv_run(&e.loop, UV_RUN_ONCE);
  run_for(&e, 200);
  ASSERT_EQ(p.r.heads, 1);
  ASSERT_EQ(p.r.bodies, 0);
  ASSERT_EQ(p.r.dones, 0);
  p.paused_now = 0;
  ASSERT_EQ(llmrt_http_resume(p.r.h), 0);
  ASSERT_EQ(llmrt_http_resume(p.r.h), 0); /* not paused: a no-op */
  ASSERT_EQ(p.r.bodies, 0);               /* deferred, not in our stack */
  run_until(&e, &p.r.dones, 10000);
  ASSERT_ERR(p.r.status, 0);
  check_pattern(&p.r, 300000);
  pt_fini(&p);
  env_close(&e);
}

/* The whole response arrives while paused in on_head: on_done waits for the
 * resume, and the connection is reused afterwards. So does a response that
 * ends with the connection (EOF) while paused; one cut short fails after
 * what came was delivered. */
static void test_complete_and_close_while_paused(void) {
  env_t e;
  env_init(&e);
  char url[256];
  struct {
    const char *path;
    int status;
    size_t body;
    int reused; /* the previous one left its connection in the pool */
  } cases[] = {{"/ok", 0, 5, 0},
               {"/status/204", 0, 0, 1},
               {"/eof-body/70000", 0, 70000, 1},
               {"/close-mid/100000/5000", LLMRT_ECLOSED, 5000, 0},
               {"/ok", 0, 5, 0}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pt_t p;
    pt_init(&p, &e.loop, e.rt);
    p.pause_in_head = 1;
    p.never_resume = 1;
    p.store = 1;
    raw_url(&e, cases[i].path, url, sizeof(url));
    ASSERT_EQ(pt_start(&p, url, 0, 0, 0), 0);
    while (p.pauses == 0)
      uv_run(&e.loop, UV_RUN_ONCE);
    run_for(&e, 150); /* the server is done (and has closed) meanwhile */
    ASSERT_EQ(p.r.dones, 0);
    ASSERT_EQ(p.r.bodies, 0);
    p.paused_now = 0;
    ASSERT_EQ(llmrt_http_resume(p.r.h), 0);
    run_until(&e, &p.r.dones, 10000);
    if (p.r.status != cases[i].status) fprintf(stderr, "%s: %s\n", cases[i].path, p.r.errmsg);
    ASSERT_ERR(p.r.status, cases[i].status);
    ASSERT_EQ(p.r.blen, cases[i].body);
    ASSERT_EQ(p.r.info.reused, cases[i].reused);
    pt_fini(&p);
  }
  ASSERT_EQ(pool_stats(&e).idle, 1);
  env_close(&e);
}

/* From outside any callback: before the connection exists, and from a timer
 * in the middle of a trickling body. */
static void pause_outside_timer(uv_timer_t *t) {
  pt_t *p = t->data;
  ASSERT_EQ(llmrt_http_pause(p->r.h), 0);
  p->paused_now = 1;
  p->pauses++;
  uv_timer_start(&p->timer, pt_resume, 300, 0);
}

static void test_pause_outside_callbacks(void) {
  env_t e;
  env_init(&e);
  char url[256];
  pt_t p;
  pt_init(&p, &e.loop, e.rt);
  p.store = 1;
  raw_url(&e, "/len/100000", url, sizeof(url));
  ASSERT_EQ(pt_start(&p, url, 0, 0, 100), 0);
  ASSERT_EQ(llmrt_http_pause(p.r.h), 0); /* before it has a connection */
  p.paused_now = 1;
  run_for(&e, 300); /* longer than the first-byte timeout */
  ASSERT_EQ(p.r.heads, 0);
  ASSERT_EQ(p.r.dones, 0);
  p.paused_now = 0;
  ASSERT_EQ(llmrt_http_resume(p.r.h), 0);
  run_until(&e, &p.r.dones, 10000);
  ASSERT_ERR(p.r.status, 0);
  check_pattern(&p.r, 100000);
  pt_fini(&p);

  /* /trickle/10: a byte every 10 ms; pause after 100 ms for 300 ms. */
  pt_init(&p, &e.loop, e.rt);
  p.store = 1;
  raw_url(&e, "/trickle/10", url, sizeof(url));
  ASSERT_EQ(pt_start(&p, url, 0, 1200, 0), 0);
  uv_timer_start(&p.timer, pause_outside_timer, 150, 0);
  while (p.pauses == 0)
    uv_run(&e.loop, UV_RUN_ONCE);
  size_t at_pause = p.seen;
  run_for(&e, 250);
  ASSERT_EQ(p.seen, at_pause);
  ASSERT_EQ(p.cb_while_paused, 0);
  run_until(&e, &p.r.dones, 10000);
  ASSERT_ERR(p.r.status, LLMRT_ETIMEDOUT);
  ASSERT(p.seen > at_pause); /* it went on after the resume */
  ASSERT_EQ(p.r.blen, p.seen);
  for (size_t i = 0; i < p.r.blen; i++)
    ASSERT_EQ(p.r.body[i], 'x'); /* /trickle sends x's */
  pt_fini(&p);
  ASSERT_EQ(llmrt_http_pause(NULL), LLMRT_EINVAL);
  ASSERT_EQ(llmrt_http_resume(NULL), LLMRT_EINVAL);
  env_close(&e);
}

/* ---- The decoder on its own: paused after every output piece ------------- */

typedef struct {
  char *data;
  size_t len;
  unsigned pauses;
} psink_t;

static int pausing_sink(void *arg, const char *d, size_t n) {
  psink_t *s = arg;
  s->data = realloc(s->data, s->len + n + 1);
  memcpy(s->data + s->len, d, n);
  s->len += n;
  s->pauses++;
  return 1; /* pause */
}

static void test_inflate_pause(void) {
  size_t n = 400000;
  char *text = malloc(n);
  for (size_t i = 0; i < n; i++)
    text[i] = rawserver_pattern(i * 13 + i / 1000);
  size_t cap = n + 1024;
  char *z = malloc(cap);
  const int wbs[] = {31, 15, -15};
  const size_t steps[] = {1, 7, 777, 65536};
  for (int k = 0; k < 3; k++) {
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, wbs[k], 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)text;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)z;
    zs.avail_out = (uInt)cap;
    ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t zl = cap - zs.avail_out;
    deflateEnd(&zs);
    for (size_t si = 0; si < sizeof(steps) / sizeof(steps[0]); si++) {
      llmrt__inflate_t d;
      psink_t s = {0};
      ASSERT_EQ(llmrt__inflate_init(&d), 0);
      for (size_t off = 0; off < zl; off += steps[si]) {
        size_t len = zl - off < steps[si] ? zl - off : steps[si];
        int rc = llmrt__inflate_feed(&d, z + off, len, pausing_sink, &s);
        while (rc > 0) {
          ASSERT_ERR(llmrt__inflate_feed(&d, "x", 1, pausing_sink, &s), LLMRT_EINVAL);
          rc = llmrt__inflate_resume(&d, pausing_sink, &s);
        }
        ASSERT_ERR(rc, 0);
      }
      ASSERT_EQ(llmrt__inflate_finish(&d), 0);
      ASSERT_MEM_EQ(s.data, s.len, text, n);
      ASSERT_GE(s.pauses, n / LLMRT__INFLATE_CHUNK);
      llmrt__inflate_free(&d);
      free(s.data);
    }
  }
  free(z);
  free(text);
}

/* ---- Cost of one cycle ---------------------------------------------------- */

static void noop(uv_timer_t *t) {
  (void)t;
}

static void test_cycle_cost(void) {
  env_t e;
  env_init(&e);
  char url[256];
  pt_t p;
  pt_init(&p, &e.loop, e.rt);
  raw_url(&e, "/stall/1000", url, sizeof(url));
  ASSERT_EQ(pt_start(&p, url, 0, 0, 0), 0);
  while (p.seen < 1000)
    uv_run(&e.loop, UV_RUN_ONCE);
  llmrt_http_t *h = p.r.h;
  enum { N = 200000 };
  /* The two calls alone (the socket stops once; later pauses undo the
   * pending resume). */
  uint64_t t0 = uv_hrtime();
  for (int i = 0; i < N; i++) {
    llmrt_http_pause(h);
    llmrt_http_resume(h);
  }
  uint64_t api = uv_hrtime() - t0;
  uv_run(&e.loop, UV_RUN_NOWAIT);
  /* A full cycle: pause (the socket stops), resume, and the loop turn that
   * runs the deferred resume (the socket reads again), against the same
   * loop turn with a bare zero timer. */
  enum { M = 50000 };
  t0 = uv_hrtime();
  for (int i = 0; i < M; i++) {
    llmrt_http_pause(h);
    llmrt_http_resume(h);
    uv_run(&e.loop, UV_RUN_NOWAIT);
  }
  uint64_t full = uv_hrtime() - t0;
  uv_timer_t t;
  uv_timer_init(&e.loop, &t);
  t0 = uv_hrtime();
  for (int i = 0; i < M; i++) {
    uv_timer_start(&t, noop, 0, 0);
    uv_run(&e.loop, UV_RUN_NOWAIT);
  }
  uint64_t turn = uv_hrtime() - t0;
  uv_close((uv_handle_t *)&t, NULL);
  double api_ns = (double)api / N, full_ns = (double)full / M, turn_ns = (double)turn / M;
  fprintf(stderr,
          "   pause+resume calls: %.0f ns; full cycle %.0f ns - bare loop turn %.0f ns = %.0f ns\n",
          api_ns, full_ns, turn_ns, full_ns - turn_ns);
  ASSERT_EQ(p.r.dones, 0);
  ASSERT_EQ(p.seen, 1000);
  ASSERT(api_ns < 20000); /* loose: sanitizer and valgrind builds run this too */
  ASSERT_EQ(llmrt_http_cancel(h), 0);
  run_until(&e, &p.r.dones, 5000);
  pt_fini(&p);
  env_close(&e);
}

int main(void) {
  RUN_TEST(test_inflate_pause);
  RUN_TEST(test_pause_in_head);
  RUN_TEST(test_resume_inside_callback);
  RUN_TEST(test_complete_and_close_while_paused);
  RUN_TEST(test_pause_outside_callbacks);
  RUN_TEST(test_timeouts_while_paused);
  RUN_TEST(test_cancel_and_close_while_paused);
  RUN_TEST(test_every_body_plain);
  RUN_TEST(test_backpressure_reaches_server);
  RUN_TEST(test_every_body_tls);
  RUN_TEST(test_cycle_cost);
  return 0;
}
