/* Shared helpers for the HTTP client tests: a runtime plus a rawserver on one
 * loop, requests whose outcome is recorded in a res_t, and a loop driver
 * that gives up loudly instead of hanging. */
#ifndef LLMRT_TEST_CLIENT_UTIL_H
#define LLMRT_TEST_CLIENT_UTIL_H

#include <arpa/inet.h>
#include <llmrt.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rawserver.h"
#include "test.h"

typedef struct {
  /* What to do (set before the request). */
  int cancel_in_head, cancel_in_body, close_in_body, close_in_done;
  int head_ret, body_ret; /* returned by on_head / on_body */
  /* What happened. */
  int heads, dones, bodies;
  int http_status;
  int status;
  char errmsg[512];
  char *body;
  size_t blen;
  char hdr_encoding[64]; /* Content-Encoding seen */
  char hdr_req_encoding[64];
  size_t n_headers;
  llmrt_http_info_t info;
  llmrt_http_t *h;
  llmrt_t *rt;
  uint64_t done_at_us;
} res_t;

typedef struct {
  uv_loop_t loop;
  llmrt_t *rt;
  rawserver_t *srv;
  int closed;
} env_t;

/* A blocking TCP listener on 127.0.0.1 with a port the kernel picked, for
 * test servers that run on a thread of their own. Returns the socket. */
static inline int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t al = sizeof(a);
  ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

static inline uint64_t now_ms(void) {
  return uv_hrtime() / 1000000;
}

static inline void env_init_opts(env_t *e, const llmrt_options_t *opts) {
  memset(e, 0, sizeof(*e));
  ASSERT_EQ(uv_loop_init(&e->loop), 0);
  ASSERT_EQ(llmrt_new(&e->loop, opts, &e->rt), 0);
  ASSERT_EQ(rawserver_start(&e->loop, &e->srv), 0);
}

static inline void env_init(env_t *e) {
  env_init_opts(e, NULL);
}

static inline void on_rt_closed(llmrt_t *rt, void *user) {
  ((env_t *)user)->closed = 1;
}

static inline void noop_timer(uv_timer_t *t) {
  (void)t;
}

/* Runs the loop until *flag is non-zero, failing after timeout_ms. A ticking
 * timer keeps uv_run from blocking forever when nothing else happens. */
static inline void run_until(env_t *e, const int *flag, unsigned timeout_ms) {
  uint64_t end = now_ms() + timeout_ms;
  uv_timer_t tick;
  uv_timer_init(&e->loop, &tick);
  uv_timer_start(&tick, noop_timer, 50, 50);
  while (!*flag) {
    if (now_ms() > end) TEST_FAIL_("timed out after %u ms waiting", timeout_ms);
    uv_run(&e->loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&e->loop, UV_RUN_NOWAIT);
}

/* Runs the loop for ms milliseconds. */
static inline void run_for(env_t *e, unsigned ms) {
  uint64_t end = now_ms() + ms;
  uv_timer_t t;
  uv_timer_init(&e->loop, &t);
  uv_timer_start(&t, noop_timer, 10, 10);
  while (now_ms() < end)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&e->loop, UV_RUN_NOWAIT);
}

static inline void env_close(env_t *e) {
  if (e->rt) {
    llmrt_close(e->rt, on_rt_closed, e);
    run_until(e, &e->closed, 10000);
  }
  rawserver_stop(e->srv);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&e->loop), 0);
}

static inline void res_free(res_t *r) {
  free(r->body);
  r->body = NULL;
}

static inline int cb_head(llmrt_http_t *h, int status, const llmrt_header_t *hs, size_t n,
                          void *user) {
  res_t *r = user;
  r->heads++;
  r->http_status = status;
  r->n_headers = n;
  for (size_t i = 0; i < n; i++) {
    if (strcasecmp(hs[i].name, "Content-Encoding") == 0)
      snprintf(r->hdr_encoding, sizeof(r->hdr_encoding), "%s", hs[i].value);
    if (strcasecmp(hs[i].name, "X-Req-Encoding") == 0)
      snprintf(r->hdr_req_encoding, sizeof(r->hdr_req_encoding), "%s", hs[i].value);
  }
  llmrt_http_info(h, &r->info);
  if (r->cancel_in_head) ASSERT_EQ(llmrt_http_cancel(h), 0);
  return r->head_ret;
}

static inline int cb_body(llmrt_http_t *h, const char *d, size_t n, void *user) {
  res_t *r = user;
  ASSERT_EQ(r->dones, 0);
  r->bodies++;
  r->body = realloc(r->body, r->blen + n + 1);
  memcpy(r->body + r->blen, d, n);
  r->blen += n;
  r->body[r->blen] = 0;
  if (r->cancel_in_body) {
    ASSERT_EQ(llmrt_http_cancel(h), 0);
    ASSERT_EQ(llmrt_http_cancel(h), 0); /* idempotent */
    ASSERT_EQ(r->dones, 0);             /* deferred */
  }
  if (r->close_in_body) llmrt_close(r->rt, NULL, NULL);
  return r->body_ret;
}

static inline void cb_done(llmrt_http_t *h, int status, const char *msg, void *user) {
  res_t *r = user;
  r->dones++;
  ASSERT_EQ(r->dones, 1);
  r->status = status;
  if (status == 0) ASSERT(msg == NULL);
  if (status != 0) ASSERT(msg != NULL);
  snprintf(r->errmsg, sizeof(r->errmsg), "%s", msg ? msg : "");
  llmrt_http_info(h, &r->info);
  r->done_at_us = uv_hrtime() / 1000;
  ASSERT_EQ(llmrt_http_cancel(h), 0); /* a no-op now */
  if (r->close_in_done) llmrt_close(r->rt, NULL, NULL);
}

static const llmrt_http_callbacks_t test_cbs = {cb_head, cb_body, cb_done};

/* Starts a request for path on the env's server. */
static inline int start_req(env_t *e, const char *method, const char *path, unsigned flags,
                            res_t *r) {
  char url[256];
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.method = method;
  q.url = rawserver_url(e->srv, path, url, sizeof(url));
  q.flags = flags;
  r->rt = e->rt;
  return llmrt_http_request(e->rt, &q, &test_cbs, r, &r->h);
}

/* One request, run to completion. */
static inline void do_req(env_t *e, const char *method, const char *path, unsigned flags,
                          res_t *r) {
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(start_req(e, method, path, flags, r), 0);
  run_until(e, &r->dones, 20000);
}

static inline void check_pattern(const res_t *r, size_t n) {
  ASSERT_EQ(r->blen, n);
  for (size_t i = 0; i < n; i++)
    if (r->body[i] != rawserver_pattern(i)) TEST_FAIL_("body byte %zu differs", i);
}

static inline llmrt_pool_stats_t pool_stats(env_t *e) {
  llmrt_pool_stats_t st;
  char url[128];
  ASSERT_EQ(llmrt_pool_stats(e->rt, rawserver_url(e->srv, "/", url, sizeof(url)), &st), 0);
  return st;
}

#endif
