/* Deadlines (first byte, idle gap, total), cancel at every stage and from
 * inside callbacks, and llmrt_close with requests in flight: every request
 * ends with exactly one on_done, and nothing calls back after close. */
#include "test_client_util.h"

static int start_timed(env_t *e, const char *path, uint32_t fb, uint32_t idle, uint32_t total,
                       res_t *r) {
  char url[128];
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = rawserver_url(e->srv, path, url, sizeof(url));
  q.first_byte_timeout_ms = fb;
  q.idle_timeout_ms = idle;
  q.total_timeout_ms = total;
  memset(r, 0, sizeof(*r));
  r->rt = e->rt;
  return llmrt_http_request(e->rt, &q, &test_cbs, r, &r->h);
}

static void test_first_byte_timeout(void) {
  env_t e;
  env_init(&e);
  res_t r;
  uint64_t t0 = now_ms();
  ASSERT_EQ(start_timed(&e, "/delay/3000", 150, 0, 0, &r), 0);
  run_until(&e, &r.dones, 10000);
  uint64_t took = now_ms() - t0;
  ASSERT_ERR(r.status, LLMRT_EFIRSTBYTETIMEOUT);
  ASSERT_CONTAINS(r.errmsg, "150 ms");
  ASSERT_GE(took, 140);
  ASSERT_LE(took, 2500);
  ASSERT_EQ(r.heads, 0);
  res_free(&r);
  /* The runtime default applies when the request says 0; a slow-but-in-time
   * response passes. */
  ASSERT_EQ(start_timed(&e, "/delay/100", 2000, 0, 0, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, 0);
  res_free(&r);
  env_close(&e);

  llmrt_options_t o;
  llmrt_options_init(&o);
  o.first_byte_timeout_ms = 100;
  o.total_timeout_ms = 100;
  env_init_opts(&e, &o);
  ASSERT_EQ(start_timed(&e, "/delay/3000", 0, 0, LLMRT_HTTP_NO_TIMEOUT, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, LLMRT_EFIRSTBYTETIMEOUT);
  res_free(&r);
  /* Both disabled per request: the runtime's 100 ms do not apply. */
  ASSERT_EQ(start_timed(&e, "/delay/300", LLMRT_HTTP_NO_TIMEOUT, 0, LLMRT_HTTP_NO_TIMEOUT, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, 0);
  res_free(&r);
  env_close(&e);
}

static void test_idle_timeout(void) {
  env_t e;
  env_init(&e);
  res_t r;
  ASSERT_EQ(start_timed(&e, "/stall/300", 0, 200, 0, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, LLMRT_EIDLETIMEOUT);
  ASSERT_EQ(r.heads, 1);
  ASSERT_EQ(r.blen, 300);
  ASSERT_CONTAINS(r.errmsg, "idle");
  res_free(&r);
  /* A slow but steady stream does not trip the idle timeout... */
  ASSERT_EQ(start_timed(&e, "/trickle/20", 0, 3000, 700, &r), 0);
  run_until(&e, &r.dones, 10000);
  /* ...but the total deadline ends it. */
  ASSERT_ERR(r.status, LLMRT_ETIMEDOUT);
  ASSERT_CONTAINS(r.errmsg, "total");
  ASSERT(r.blen > 3);
  res_free(&r);
  /* The timed-out connections were closed, not pooled. */
  ASSERT_EQ(pool_stats(&e).idle, 0);
  env_close(&e);
}

static void test_cancel_in_callbacks(void) {
  env_t e;
  env_init(&e);
  res_t r;
  memset(&r, 0, sizeof(r));
  r.cancel_in_head = 1;
  ASSERT_EQ(start_req(&e, "GET", "/len/50000", 0, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, LLMRT_ECANCELED);
  ASSERT_EQ(r.heads, 1);
  ASSERT_EQ(r.bodies, 0);
  res_free(&r);

  memset(&r, 0, sizeof(r));
  r.cancel_in_body = 1;
  ASSERT_EQ(start_req(&e, "GET", "/chunked/50000", 0, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, LLMRT_ECANCELED);
  ASSERT_EQ(r.bodies, 1);
  res_free(&r);

  memset(&r, 0, sizeof(r));
  r.cancel_in_body = 1;
  ASSERT_EQ(start_req(&e, "GET", "/gzip/100000", LLMRT_HTTP_DECOMPRESS, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, LLMRT_ECANCELED);
  ASSERT_EQ(r.bodies, 1);
  res_free(&r);

  /* Canceled connections are closed, never pooled; the next request opens
   * a new one and works. */
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.idle, 0);
  ASSERT_EQ(st.opened, 3);
  do_req(&e, "GET", "/ok", 0, &r);
  ASSERT_ERR(r.status, 0);
  res_free(&r);
  run_for(&e, 50);
  rawserver_stats_t ss;
  rawserver_stats(e.srv, &ss);
  ASSERT_EQ(ss.open, 1);
  env_close(&e);
}

static void test_cancel_early(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = 1;
  env_t e;
  env_init_opts(&e, &o);
  res_t a, b, c;
  /* Before the connection is up: on_done at once (not inside a callback). */
  memset(&a, 0, sizeof(a));
  ASSERT_EQ(start_req(&e, "GET", "/ok", 0, &a), 0);
  ASSERT_EQ(llmrt_http_cancel(a.h), 0);
  ASSERT_EQ(a.dones, 1);
  ASSERT_ERR(a.status, LLMRT_ECANCELED);
  run_for(&e, 50);
  ASSERT_EQ(a.dones, 1);
  ASSERT_EQ(pool_stats(&e).active, 0);

  /* Waiting in the queue. */
  memset(&b, 0, sizeof(b));
  memset(&c, 0, sizeof(c));
  ASSERT_EQ(start_req(&e, "GET", "/delay/100", 0, &b), 0);
  ASSERT_EQ(start_req(&e, "GET", "/ok", 0, &c), 0);
  ASSERT_EQ(pool_stats(&e).queued, 1);
  ASSERT_EQ(llmrt_http_cancel(c.h), 0);
  ASSERT_ERR(c.status, LLMRT_ECANCELED);
  ASSERT_EQ(pool_stats(&e).queued, 0);
  run_until(&e, &b.dones, 10000);
  ASSERT_ERR(b.status, 0);
  ASSERT_EQ(c.dones, 1);
  res_free(&b);

  /* Canceling the request that holds the only slot serves the queue. */
  memset(&b, 0, sizeof(b));
  memset(&c, 0, sizeof(c));
  ASSERT_EQ(start_req(&e, "GET", "/delay/5000", 0, &b), 0);
  ASSERT_EQ(start_req(&e, "GET", "/ok", 0, &c), 0);
  run_for(&e, 100);
  ASSERT_EQ(llmrt_http_cancel(b.h), 0);
  ASSERT_ERR(b.status, LLMRT_ECANCELED);
  run_until(&e, &c.dones, 10000);
  ASSERT_ERR(c.status, 0);
  res_free(&c);
  env_close(&e);
}

static int close_done;
static void on_closed(llmrt_t *rt, void *user) {
  close_done++;
}

static void pw_cb(llmrt_t *rt, int status, void *user) {
  *(int *)user = status ? status : 1;
}

static void test_close_in_flight(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = 2;
  env_t e;
  env_init_opts(&e, &o);
  res_t r[6];
  memset(r, 0, sizeof(r));
  /* Two exchanging, two queued, one connecting to another origin, one idle
   * connection, one prewarm pending. */
  ASSERT_EQ(start_req(&e, "GET", "/delay/5000", 0, &r[0]), 0);
  ASSERT_EQ(start_req(&e, "GET", "/stall/10", 0, &r[1]), 0);
  ASSERT_EQ(start_req(&e, "GET", "/ok", 0, &r[2]), 0);
  ASSERT_EQ(start_req(&e, "GET", "/ok", 0, &r[3]), 0);
  run_for(&e, 100);
  ASSERT_EQ(r[1].heads, 1);
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = "http://127.0.0.1:9/unreachable";
  r[4].rt = e.rt;
  ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, &r[4], NULL), 0);
  int pw = 0;
  ASSERT_EQ(llmrt_http_prewarm(e.rt, "http://127.0.0.1:9", 1, pw_cb, &pw), 0);

  close_done = 0;
  llmrt_close(e.rt, on_closed, NULL);
  /* One rule for every layer: nothing calls back inside llmrt_close; the
   * requests end with LLMRT_ESHUTDOWN on the next loop turn. */
  for (int i = 0; i < 5; i++)
    if (r[i].dones != 0) TEST_FAIL_("request %d: on_done ran inside llmrt_close", i);
  uv_run(&e.loop, UV_RUN_NOWAIT);
  for (int i = 0; i < 5; i++) {
    if (r[i].dones != 1) TEST_FAIL_("request %d: %d on_done", i, r[i].dones);
    ASSERT_ERR(r[i].status, LLMRT_ESHUTDOWN);
  }
  ASSERT_ERR(pw, LLMRT_ESHUTDOWN);
  ASSERT_ERR(start_req(&e, "GET", "/ok", 0, &r[5]), LLMRT_ESHUTDOWN);
  llmrt_close(e.rt, on_closed, NULL); /* a no-op */
  run_until(&e, &close_done, 10000);
  ASSERT_EQ(close_done, 1);
  /* Nothing after close. */
  run_for(&e, 100);
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(r[i].dones, 1);
    res_free(&r[i]);
  }
  ASSERT_EQ(r[5].dones, 0);
  e.rt = NULL;
  env_close(&e);
}

static void test_close_inside_body(void) {
  env_t e;
  env_init(&e);
  res_t a, b;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  a.close_in_body = 1;
  ASSERT_EQ(start_req(&e, "GET", "/stall/100", 0, &a), 0);
  ASSERT_EQ(start_req(&e, "GET", "/delay/5000", 0, &b), 0);
  close_done = 0;
  run_until(&e, &b.dones, 10000);
  /* b is not in a callback: it ended inside llmrt_close; a (whose on_body
   * called close) gets its on_done on the next turn, before close's. */
  ASSERT_ERR(b.status, LLMRT_ESHUTDOWN);
  run_until(&e, &a.dones, 10000);
  ASSERT_ERR(a.status, LLMRT_ESHUTDOWN);
  ASSERT_EQ(a.bodies, 1);
  res_free(&a);
  res_free(&b);
  /* env_close's llmrt_close is then a no-op, and its done never runs: run
   * the loop until the runtime's handles are gone instead. */
  rawserver_stop(e.srv);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&e.loop), 0);
}

static void pw_close_cb(llmrt_t *rt, int status, void *user) {
  *(int *)user = status ? status : 1;
  llmrt_close(rt, NULL, NULL);
}

/* Closing the runtime from on_done or a prewarm callback that the pool
 * triggered (a failed connect) while other requests wait in the queue. */
static void test_close_from_pool_callbacks(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = 1;
  for (int k = 0; k < 2; k++) {
    env_t e;
    env_init_opts(&e, &o);
    llmrt_http_request_t q;
    llmrt_http_request_init(&q);
    q.url = "http://127.0.0.1:9/refused";
    res_t a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.rt = b.rt = e.rt;
    a.close_in_done = 1;
    int pw = 0;
    if (k == 0)
      ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, &a, NULL), 0);
    else
      ASSERT_EQ(llmrt_http_prewarm(e.rt, q.url, 1, pw_close_cb, &pw), 0);
    ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, &b, NULL), 0);
    llmrt_pool_stats_t st;
    ASSERT_EQ(llmrt_pool_stats(e.rt, q.url, &st), 0);
    ASSERT_EQ(st.queued, 1);
    run_until(&e, &b.dones, 10000);
    if (k == 0) {
      ASSERT_EQ(a.dones, 1);
      ASSERT(a.status < 0 && a.status != LLMRT_ESHUTDOWN);
      ASSERT_CONTAINS(a.errmsg, "127.0.0.1:9");
    } else {
      ASSERT(pw < 0 && pw != LLMRT_ESHUTDOWN);
    }
    ASSERT_ERR(b.status, LLMRT_ESHUTDOWN);
    e.rt = NULL;
    rawserver_stop(e.srv);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&e.loop), 0);
  }
}

static void test_total_timeout_queued(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = 1;
  env_t e;
  env_init_opts(&e, &o);
  res_t a, b;
  ASSERT_EQ(start_timed(&e, "/delay/600", 0, 0, 0, &a), 0);
  ASSERT_EQ(start_timed(&e, "/ok", 0, 0, 100, &b), 0);
  ASSERT_EQ(pool_stats(&e).queued, 1);
  run_until(&e, &b.dones, 10000);
  ASSERT_ERR(b.status, LLMRT_ETIMEDOUT);
  ASSERT_CONTAINS(b.errmsg, "waiting for a free connection");
  ASSERT_EQ(a.dones, 0);
  ASSERT_EQ(pool_stats(&e).queued, 0);
  run_until(&e, &a.dones, 10000);
  ASSERT_ERR(a.status, 0);
  res_free(&a);
  env_close(&e);
}

int main(void) {
  RUN_TEST(test_close_from_pool_callbacks);
  RUN_TEST(test_total_timeout_queued);
  RUN_TEST(test_first_byte_timeout);
  RUN_TEST(test_idle_timeout);
  RUN_TEST(test_cancel_in_callbacks);
  RUN_TEST(test_cancel_early);
  RUN_TEST(test_close_in_flight);
  RUN_TEST(test_close_inside_body);
  return 0;
}
