/* Connection pool on loopback: keep-alive reuse, the per-origin limit and
 * FIFO queue, idle close detection, the stale keep-alive retry, Connection:
 * close, NO_REUSE, idle timeout, prewarm and statistics. */
#include "test_client_util.h"

static void test_keepalive_reuse(void) {
  env_t e;
  env_init(&e);
  res_t r;
  for (int i = 0; i < 10; i++) {
    do_req(&e, i % 2 ? "POST" : "GET", i % 3 ? "/len/3000" : "/chunked/3000", 0, &r);
    ASSERT_ERR(r.status, 0);
    check_pattern(&r, 3000);
    ASSERT_EQ(r.info.reused, i > 0);
    if (i > 0) ASSERT_EQ(r.info.connect_us, 0);
    res_free(&r);
  }
  rawserver_stats_t ss;
  rawserver_stats(e.srv, &ss);
  ASSERT_EQ(ss.accepted, 1);
  ASSERT_EQ(ss.requests, 10);
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.opened, 1);
  ASSERT_EQ(st.reused, 9);
  ASSERT_EQ(st.idle, 1);
  ASSERT_EQ(st.active, 0);
  ASSERT_EQ(st.closed, 0);
  /* All origins summed: the same, there is only one. */
  llmrt_pool_stats_t all;
  ASSERT_EQ(llmrt_pool_stats(e.rt, NULL, &all), 0);
  ASSERT_EQ(all.opened, 1);
  ASSERT_ERR(llmrt_pool_stats(e.rt, "nope://x", &all), LLMRT_EINVAL);
  env_close(&e);
}

static void test_limit_and_queue(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = 2;
  o.pool_max_queue = 9;
  env_t e;
  env_init_opts(&e, &o);
  res_t r[12];
  memset(r, 0, sizeof(r));
  for (int i = 0; i < 10; i++)
    ASSERT_EQ(start_req(&e, "GET", "/delay/30", 0, &r[i]), 0);
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.queued, 8);
  ASSERT_EQ(st.active, 2);
  /* Queue bound: 8 waiting, one more fits, the next is refused. */
  ASSERT_EQ(start_req(&e, "GET", "/delay/30", 0, &r[10]), 0);
  ASSERT_ERR(start_req(&e, "GET", "/ok", 0, &r[11]), LLMRT_EQUEUEFULL);
  for (int i = 0; i < 11; i++)
    run_until(&e, &r[i].dones, 20000);
  for (int i = 0; i < 11; i++) {
    ASSERT_ERR(r[i].status, 0);
    ASSERT_MEM_EQ(r[i].body, r[i].blen, "hello", 5);
    if (i >= 2) ASSERT(r[i].info.queued_us > 0);
    /* FIFO: a request finishes after the one queued two places before it. */
    if (i >= 2) ASSERT(r[i].done_at_us + 5000 >= r[i - 2].done_at_us);
    res_free(&r[i]);
  }
  ASSERT_EQ(r[11].dones, 0);
  rawserver_stats_t ss;
  rawserver_stats(e.srv, &ss);
  ASSERT_EQ(ss.accepted, 2);
  ASSERT_LE(ss.max_open, 2);
  st = pool_stats(&e);
  ASSERT_EQ(st.opened, 2);
  ASSERT_EQ(st.reused, 9);
  ASSERT_EQ(st.queued, 0);
  env_close(&e);
}

/* The most recently used idle connection is reused first: it is the least
 * likely to have been closed by the server. */
static void test_lifo_reuse(void) {
  env_t e;
  env_init(&e);
  res_t a, b, c;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  ASSERT_EQ(start_req(&e, "GET", "/conn-id/0", 0, &a), 0);
  ASSERT_EQ(start_req(&e, "GET", "/conn-id/300", 0, &b), 0);
  run_until(&e, &a.dones, 10000);
  run_until(&e, &b.dones, 10000);
  ASSERT_ERR(a.status, 0);
  ASSERT_ERR(b.status, 0);
  ASSERT(strcmp(a.body, b.body) != 0);
  for (int i = 0; i < 3; i++) {
    do_req(&e, "GET", "/conn-id/0", 0, &c);
    ASSERT_ERR(c.status, 0);
    ASSERT_STR_EQ(c.body, b.body); /* b's connection went idle last */
    res_free(&c);
  }
  res_free(&a);
  res_free(&b);
  env_close(&e);
}

static void test_server_closes_idle(void) {
  env_t e;
  env_init(&e);
  res_t r;
  do_req(&e, "GET", "/close-after/20", 0, &r);
  ASSERT_ERR(r.status, 0);
  res_free(&r);
  ASSERT_EQ(pool_stats(&e).idle, 1);
  run_for(&e, 300);
  /* The pool noticed the close while the connection sat idle. */
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.idle, 0);
  ASSERT_EQ(st.closed, 1);
  do_req(&e, "GET", "/ok", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.info.reused, 0);
  ASSERT_EQ(r.info.retried_stale, 0);
  res_free(&r);
  env_close(&e);
}

static void test_stale_retry(void) {
  const char *paths[] = {"/die-next", "/reset-next"};
  for (int k = 0; k < 2; k++) {
    env_t e;
    env_init(&e);
    res_t r;
    do_req(&e, "GET", paths[k], 0, &r);
    ASSERT_ERR(r.status, 0);
    res_free(&r);
    /* The server drops the next request on that connection without a byte,
     * as when it closes an idle connection just as the request leaves. */
    char url[128];
    const char *body = "important";
    uv_buf_t b = uv_buf_init((char *)body, 9);
    llmrt_http_request_t q;
    llmrt_http_request_init(&q);
    q.method = "POST";
    q.url = rawserver_url(e.srv, "/echo", url, sizeof(url));
    q.body = &b;
    q.n_body = 1;
    memset(&r, 0, sizeof(r));
    ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), 0);
    run_until(&e, &r.dones, 10000);
    ASSERT_ERR(r.status, 0);
    ASSERT_MEM_EQ(r.body, r.blen, "important", 9);
    ASSERT_EQ(r.info.retried_stale, 1);
    ASSERT_EQ(r.info.reused, 0);
    res_free(&r);
    llmrt_pool_stats_t st = pool_stats(&e);
    ASSERT_EQ(st.stale_retries, 1);
    ASSERT_EQ(st.opened, 2);
    rawserver_stats_t ss;
    rawserver_stats(e.srv, &ss);
    ASSERT_EQ(ss.accepted, 2);
    env_close(&e);
  }
  /* Retried once only: a fresh connection that dies is an error. */
  env_t e;
  env_init(&e);
  res_t r;
  do_req(&e, "GET", "/close-mid/100/0", 0, &r);
  ASSERT_ERR(r.status, LLMRT_ECLOSED);
  ASSERT_EQ(r.info.retried_stale, 0);
  res_free(&r);
  env_close(&e);
}

static void test_not_reused(void) {
  env_t e;
  env_init(&e);
  res_t r;
  do_req(&e, "GET", "/conn-close", 0, &r);
  ASSERT_ERR(r.status, 0);
  res_free(&r);
  do_req(&e, "GET", "/http10", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.info.reused, 0);
  res_free(&r);
  do_req(&e, "GET", "/ok", LLMRT_HTTP_NO_REUSE, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.info.reused, 0);
  res_free(&r);
  do_req(&e, "GET", "/ok", 0, &r);
  ASSERT_EQ(r.info.reused, 0);
  res_free(&r);
  rawserver_stats_t ss;
  rawserver_stats(e.srv, &ss);
  ASSERT_EQ(ss.accepted, 4);
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.opened, 4);
  ASSERT_EQ(st.idle, 1);
  env_close(&e);
}

static void test_idle_timeout(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_idle_timeout_ms = 400;
  env_t e;
  env_init_opts(&e, &o);
  res_t r;
  do_req(&e, "GET", "/ok", 0, &r);
  res_free(&r);
  ASSERT_EQ(pool_stats(&e).idle, 1);
  run_for(&e, 30);
  ASSERT_EQ(pool_stats(&e).idle, 1);
  run_for(&e, 1500);
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.idle, 0);
  ASSERT_EQ(st.closed, 1);
  env_close(&e);
}

static int pw_status = -1, pw_done;
static void on_prewarm(llmrt_t *rt, int status, void *user) {
  pw_status = status;
  pw_done++;
}

static void test_prewarm(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = 3;
  env_t e;
  env_init_opts(&e, &o);
  char url[128];
  rawserver_url(e.srv, "/", url, sizeof(url));
  pw_done = 0;
  ASSERT_EQ(llmrt_http_prewarm(e.rt, url, 5, on_prewarm, NULL), 0);
  ASSERT_EQ(pw_done, 0);
  run_until(&e, &pw_done, 10000);
  ASSERT_EQ(pw_status, 3); /* capped at the per-origin maximum */
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.idle, 3);
  ASSERT_EQ(st.opened, 3);
  res_t r;
  do_req(&e, "GET", "/ok", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.info.reused, 1);
  ASSERT_EQ(r.info.connect_us, 0);
  res_free(&r);
  /* The pool is full: nothing more to open, reported on a later turn. */
  pw_done = 0;
  ASSERT_EQ(llmrt_http_prewarm(e.rt, url, 2, on_prewarm, NULL), 0);
  ASSERT_EQ(pw_done, 0);
  run_until(&e, &pw_done, 10000);
  ASSERT_EQ(pw_status, 0);
  /* Nobody listens: the connect error. */
  pw_done = 0;
  ASSERT_EQ(llmrt_http_prewarm(e.rt, "http://127.0.0.1:1", 2, on_prewarm, NULL), 0);
  run_until(&e, &pw_done, 10000);
  ASSERT(pw_status < 0);
  ASSERT_ERR(llmrt_http_prewarm(e.rt, "http//bad", 1, on_prewarm, NULL), LLMRT_EURL);
  rawserver_stats_t ss;
  rawserver_stats(e.srv, &ss);
  ASSERT_EQ(ss.accepted, 3);
  env_close(&e);
}

int main(void) {
  RUN_TEST(test_keepalive_reuse);
  RUN_TEST(test_limit_and_queue);
  RUN_TEST(test_lifo_reuse);
  RUN_TEST(test_server_closes_idle);
  RUN_TEST(test_stale_retry);
  RUN_TEST(test_not_reused);
  RUN_TEST(test_idle_timeout);
  RUN_TEST(test_prewarm);
  return 0;
}
