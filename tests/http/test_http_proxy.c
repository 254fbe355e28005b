/* The runtime's proxy option: connections tunnel through an HTTP CONNECT
 * proxy (the connect_proxy fixture on loopback): TLS to nginx verified
 * inside the tunnel and reused from the pool, plain HTTP to the raw server,
 * no_proxy going direct, and every way the proxy can fail (refusal with
 * 407, hang-up, garbage, nothing listening, a malformed proxy URL), each
 * with its error and a message naming the proxy and the upstream; and every
 * allocation of a proxied request (plain and TLS) failed in turn. */
#include "connect_proxy.h"
#include "failalloc.h"
#include "nginx.h"
#include "test_client_util.h"
#include "transport/transport.h"

static test_nginx_t ngx;
static connect_proxy_t cp;

static void env_with_proxy(env_t *e, const char *proxy, const char *no_proxy) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = test_cert_path("ca.pem");
  o.proxy = proxy;
  o.no_proxy = no_proxy;
  o.connect_timeout_ms = 5000;
  env_init_opts(e, &o);
}

static void get_url(env_t *e, const char *url, res_t *r) {
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = url;
  memset(r, 0, sizeof *r);
  r->rt = e->rt;
  int rc = llmrt_http_request(e->rt, &q, &test_cbs, r, &r->h);
  if (rc) {
    r->status = rc;
    r->dones = 1;
    return;
  }
  run_until(e, &r->dones, 20000);
}

static void proxy_url(char *buf, size_t n) {
  snprintf(buf, n, "http://127.0.0.1:%d", cp.port);
}

static void test_tls_through_proxy(void) {
  char proxy[64], url[128];
  proxy_url(proxy, sizeof proxy);
  env_t e;
  env_with_proxy(&e, proxy, NULL);
  snprintf(url, sizeof url, "https://127.0.0.1:%d/fixed", ngx.https_port);
  int before = cp.tunnels;
  res_t r;
  for (int i = 0; i < 3; i++) {
    get_url(&e, url, &r);
    if (r.status) fprintf(stderr, "%s\n", r.errmsg);
    ASSERT_ERR(r.status, 0);
    ASSERT_EQ(r.http_status, 200);
    ASSERT_MEM_EQ(r.body, r.blen, TEST_NGINX_FIXED_BODY, strlen(TEST_NGINX_FIXED_BODY));
    ASSERT_EQ(r.info.tls, 1);
    ASSERT_EQ(r.info.reused, i > 0); /* the tunnel is a pooled connection like any */
    res_free(&r);
  }
  ASSERT_EQ(cp.tunnels, before + 1);
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", ngx.https_port);
  ASSERT_STR_EQ(cp.last_target, want);
  env_close(&e);
}

static void test_plain_through_proxy_and_no_proxy(void) {
  char proxy[64], url[256];
  proxy_url(proxy, sizeof proxy);
  env_t e;
  env_with_proxy(&e, proxy, NULL);
  int before = cp.tunnels;
  res_t r;
  get_url(&e, rawserver_url(e.srv, "/ok", url, sizeof url), &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.http_status, 200);
  ASSERT_MEM_EQ(r.body, r.blen, "hello", 5);
  res_free(&r);
  ASSERT_EQ(cp.tunnels, before + 1);
  env_close(&e);

  /* no_proxy: the host goes direct, among other entries and with a port. */
  env_with_proxy(&e, proxy, "example.com, 127.0.0.1:9");
  before = cp.requests;
  get_url(&e, rawserver_url(e.srv, "/ok", url, sizeof url), &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.http_status, 200);
  res_free(&r);
  ASSERT_EQ(cp.requests, before);
  env_close(&e);
}

/* A failing proxy: the error, and a message naming proxy and upstream. */
static void expect_failure(int mode, const char *proxy, const char *want_err, int want) {
  char url[128], pdefault[64];
  proxy_url(pdefault, sizeof pdefault);
  env_t e;
  env_with_proxy(&e, proxy ? proxy : pdefault, NULL);
  cp.mode = mode;
  snprintf(url, sizeof url, "https://127.0.0.1:%d/fixed", ngx.https_port);
  res_t r;
  get_url(&e, url, &r);
  cp.mode = CPROXY_TUNNEL;
  if (!strstr(r.errmsg, want_err)) fprintf(stderr, "message: %s\n", r.errmsg);
  ASSERT_ERR(r.status, want);
  ASSERT(strstr(r.errmsg, want_err) != NULL);
  res_free(&r);
  env_close(&e);
}

static void test_proxy_failures(void) {
  expect_failure(CPROXY_REFUSE_407, NULL, "refused CONNECT", LLMRT_ECONNECT);
  expect_failure(CPROXY_REFUSE_407, NULL, "HTTP 407 Proxy Authentication Required", LLMRT_ECONNECT);
  expect_failure(CPROXY_HANG_UP, NULL, "closed the connection before answering CONNECT",
                 LLMRT_ECONNECT);
  expect_failure(CPROXY_GARBAGE, NULL, "malformed answer to CONNECT", LLMRT_ECONNECT);
  int port;
  int fd = listen_loopback(&port); /* a port where nothing accepts after close */
  close(fd);
  char dead[64];
  snprintf(dead, sizeof dead, "http://127.0.0.1:%d", port);
  expect_failure(CPROXY_TUNNEL, dead, "connect to proxy 127.0.0.1:", LLMRT_ECONNECT);
  expect_failure(CPROXY_TUNNEL, "https://127.0.0.1:1", "", LLMRT_EURL);
  expect_failure(CPROXY_TUNNEL, "not a url", "", LLMRT_EURL);
}

static void test_bypass_rules(void) {
  ASSERT(llmrt__proxy_bypass("*", "api.openai.com"));
  ASSERT(llmrt__proxy_bypass("openai.com", "api.openai.com"));
  ASSERT(llmrt__proxy_bypass(".openai.com", "api.openai.com"));
  ASSERT(llmrt__proxy_bypass("OpenAI.com", "openai.COM"));
  ASSERT(!llmrt__proxy_bypass("openai.com", "badopenai.com"));
  ASSERT(llmrt__proxy_bypass("a.b, localhost:8080 ,c.d", "localhost"));
  ASSERT(llmrt__proxy_bypass("[::1]:443", "::1"));
  ASSERT(llmrt__proxy_bypass("::1", "[::1]"));
  ASSERT(!llmrt__proxy_bypass("", "localhost"));
  ASSERT(!llmrt__proxy_bypass(NULL, "localhost"));
  ASSERT(!llmrt__proxy_bypass("10.0.0.1", "110.0.0.1"));
}

/* One proxied request with the point-th allocation failing: exactly one
 * on_done (or a refusal), a clean close, nothing leaked. */
static int oom_run(env_t *e, long point, const char *url) {
  char proxy[64];
  proxy_url(proxy, sizeof proxy);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = test_cert_path("ca.pem");
  o.proxy = proxy;
  o.total_timeout_ms = 5000;
  long base = failalloc_thread_live();
  ASSERT_EQ(llmrt_new(&e->loop, &o, &e->rt), 0);
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = url;
  res_t r;
  memset(&r, 0, sizeof r);
  r.rt = e->rt;
  failalloc_arm_thread(point);
  int rc = llmrt_http_request(e->rt, &q, &test_cbs, &r, NULL);
  if (rc) {
    ASSERT_EQ(r.dones, 0);
  } else {
    run_until(e, &r.dones, 20000);
    ASSERT_EQ(r.dones, 1);
    if (r.status == LLMRT_ETIMEDOUT) TEST_FAIL_("point %ld: hung until the total timeout", point);
    if (!failalloc_failed()) ASSERT_ERR(r.status, 0);
  }
  failalloc_disarm();
  res_free(&r);
  e->closed = 0;
  llmrt_close(e->rt, on_rt_closed, e);
  run_until(e, &e->closed, 10000);
  run_for(e, 5);
  e->rt = NULL;
  if (failalloc_thread_live() != base)
    TEST_FAIL_("point %ld: %ld blocks leaked", point, failalloc_thread_live() - base);
  return failalloc_failed();
}

static void test_proxy_oom(void) {
  env_t e;
  memset(&e, 0, sizeof e);
  ASSERT_EQ(uv_loop_init(&e.loop), 0);
  ASSERT_EQ(rawserver_start(&e.loop, &e.srv), 0);
  char plain[256], tls[128];
  rawserver_url(e.srv, "/ok", plain, sizeof plain);
  snprintf(tls, sizeof tls, "https://127.0.0.1:%d/fixed", ngx.https_port);
  const char *urls[] = {plain, tls};
  for (int u = 0; u < 2; u++) {
    for (int i = 0; i < 3; i++)
      oom_run(&e, 0, urls[u]); /* warm libuv's arrays up */
    long point = 1;
    while (oom_run(&e, point, urls[u]))
      point++;
    fprintf(stderr, "   %s: %ld allocation points, each failed in turn\n", u ? "tls" : "plain",
            point - 1);
    ASSERT(point > 5);
  }
  rawserver_stop(e.srv);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&e.loop), 0);
}

int main(void) {
  failalloc_install();
  test_nginx_start(&ngx, NULL);
  ASSERT_EQ(connect_proxy_start(&cp), 0);
  RUN_TEST(test_bypass_rules);
  RUN_TEST(test_tls_through_proxy);
  RUN_TEST(test_plain_through_proxy_and_no_proxy);
  RUN_TEST(test_proxy_failures);
  RUN_TEST(test_proxy_oom);
  connect_proxy_stop(&cp);
  test_nginx_stop(&ngx);
  return 0;
}
