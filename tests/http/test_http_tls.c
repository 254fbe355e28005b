/* The client and pool against nginx, plain and TLS: keep-alive reuse over
 * TLS (one handshake for many requests), session resumption on a second
 * connection, prewarmed TLS connections, a large gzip body from a real
 * server, and certificate failures that do not poison the pool. */
#include "nginx.h"
#include "test_client_util.h"

static test_nginx_t ngx;

/* An env_t without the raw server. */
typedef env_t tenv_t;

static void tenv_init(tenv_t *t) {
  memset(t, 0, sizeof(*t));
  ASSERT_EQ(uv_loop_init(&t->loop), 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = test_cert_path("ca.pem");
  ASSERT_EQ(llmrt_new(&t->loop, &o, &t->rt), 0);
}

static env_t *as_env(tenv_t *t) {
  return t;
}

static void tenv_close(tenv_t *t) {
  llmrt_close(t->rt, on_rt_closed, as_env(t));
  run_until(as_env(t), &t->closed, 10000);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&t->loop), 0);
}

static void get(tenv_t *t, const char *url, unsigned flags, res_t *r) {
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = url;
  q.flags = flags;
  memset(r, 0, sizeof(*r));
  r->rt = t->rt;
  ASSERT_EQ(llmrt_http_request(t->rt, &q, &test_cbs, r, NULL), 0);
  run_until(as_env(t), &r->dones, 20000);
}

static llmrt_pool_stats_t stats_of(tenv_t *t, const char *url) {
  llmrt_pool_stats_t st;
  ASSERT_EQ(llmrt_pool_stats(t->rt, url, &st), 0);
  return st;
}

static void test_tls_reuse_and_resume(void) {
  tenv_t t;
  tenv_init(&t);
  char url[128];
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/fixed", ngx.https_port);
  res_t r;
  for (int i = 0; i < 5; i++) {
    get(&t, url, 0, &r);
    if (r.status) fprintf(stderr, "%s\n", r.errmsg);
    ASSERT_ERR(r.status, 0);
    ASSERT_EQ(r.http_status, 200);
    ASSERT_MEM_EQ(r.body, r.blen, TEST_NGINX_FIXED_BODY, strlen(TEST_NGINX_FIXED_BODY));
    ASSERT_EQ(r.info.tls, 1);
    ASSERT_EQ(r.info.reused, i > 0);
    if (i == 0) ASSERT(r.info.tls_us > 0);
    if (i > 0) ASSERT_EQ(r.info.tls_us, 0);
    res_free(&r);
  }
  llmrt_pool_stats_t st = stats_of(&t, url);
  ASSERT_EQ(st.opened, 1);
  ASSERT_EQ(st.handshakes, 1);
  ASSERT_EQ(st.reused, 4);
  ASSERT_EQ(st.resumed, 0);

  /* A second connection resumes the session of the first. */
  get(&t, url, LLMRT_HTTP_NO_REUSE, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.info.reused, 0);
  ASSERT_EQ(r.info.tls_resumed, 1);
  res_free(&r);
  st = stats_of(&t, url);
  ASSERT_EQ(st.handshakes, 2);
  ASSERT_EQ(st.resumed, 1);
  ASSERT_EQ(st.idle, 1); /* the NO_REUSE one was closed */
  tenv_close(&t);
}

static int pw_status, pw_done;
static void on_pw(llmrt_t *rt, int status, void *user) {
  pw_status = status;
  pw_done = 1;
}

static void test_tls_prewarm(void) {
  tenv_t t;
  tenv_init(&t);
  char url[128];
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/", ngx.https_port);
  pw_done = 0;
  ASSERT_EQ(llmrt_http_prewarm(t.rt, url, 4, on_pw, NULL), 0);
  run_until(as_env(&t), &pw_done, 20000);
  ASSERT_EQ(pw_status, 4);
  llmrt_pool_stats_t st = stats_of(&t, url);
  ASSERT_EQ(st.handshakes, 4);
  ASSERT_EQ(st.idle, 4);
  /* Four requests at once take the four warm connections: no handshake. */
  res_t r[4];
  memset(r, 0, sizeof(r));
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = url;
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(llmrt_http_request(t.rt, &q, &test_cbs, &r[i], NULL), 0);
  for (int i = 0; i < 4; i++) {
    run_until(as_env(&t), &r[i].dones, 20000);
    ASSERT_ERR(r[i].status, 0);
    ASSERT_EQ(r[i].info.reused, 1);
    ASSERT_EQ(r[i].info.tls, 1);
    res_free(&r[i]);
  }
  st = stats_of(&t, url);
  ASSERT_EQ(st.handshakes, 4);
  ASSERT_EQ(st.opened, 4);
  tenv_close(&t);
}

static void test_tls_big_gzip(void) {
  tenv_t t;
  tenv_init(&t);
  char url[128];
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/big", ngx.https_port);
  res_t r;
  for (int k = 0; k < 2; k++) {
    get(&t, url, k ? LLMRT_HTTP_DECOMPRESS : 0, &r);
    ASSERT_ERR(r.status, 0);
    ASSERT_EQ(r.blen, TEST_NGINX_BIG_SIZE);
    for (size_t i = 0; i < r.blen; i++)
      if (r.body[i] != (char)('0' + i % 10)) TEST_FAIL_("byte %zu differs", i);
    if (k) ASSERT_STR_EQ(r.hdr_encoding, "gzip");
    res_free(&r);
  }
  tenv_close(&t);
}

static void test_tls_cert_errors(void) {
  tenv_t t;
  tenv_init(&t);
  char url[128];
  res_t r;
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/", ngx.untrusted_port);
  get(&t, url, 0, &r);
  ASSERT_ERR(r.status, LLMRT_ECERTUNTRUSTED);
  ASSERT_CONTAINS(r.errmsg, "127.0.0.1");
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/", ngx.wronghost_port);
  get(&t, url, 0, &r);
  ASSERT_ERR(r.status, LLMRT_ECERTHOSTNAME);
  llmrt_pool_stats_t st = stats_of(&t, url);
  ASSERT_EQ(st.opened, 0);
  ASSERT_EQ(st.active + st.idle, 0);
  /* The good server is unaffected. */
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/", ngx.https_port);
  get(&t, url, 0, &r);
  ASSERT_ERR(r.status, 0);
  res_free(&r);
  tenv_close(&t);
}

static void test_plain_nginx_post(void) {
  tenv_t t;
  tenv_init(&t);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/req?a=b", ngx.http_port);
  const char *body = "{\"x\":1}";
  uv_buf_t b = uv_buf_init((char *)body, 7);
  for (int i = 0; i < 3; i++) {
    llmrt_http_request_t q;
    llmrt_http_request_init(&q);
    q.method = "POST";
    q.url = url;
    q.body = &b;
    q.n_body = 1;
    res_t r;
    memset(&r, 0, sizeof(r));
    ASSERT_EQ(llmrt_http_request(t.rt, &q, &test_cbs, &r, NULL), 0);
    run_until(as_env(&t), &r.dones, 20000);
    ASSERT_ERR(r.status, 0);
    ASSERT_EQ(r.http_status, 200);
    ASSERT_MEM_EQ(r.body, r.blen, "POST /req?a=b\n", 14);
    ASSERT_EQ(r.info.reused, i > 0);
    res_free(&r);
  }
  tenv_close(&t);
}

int main(void) {
  test_nginx_start(&ngx, NULL);
  RUN_TEST(test_tls_reuse_and_resume);
  RUN_TEST(test_tls_prewarm);
  RUN_TEST(test_tls_big_gzip);
  RUN_TEST(test_tls_cert_errors);
  RUN_TEST(test_plain_nginx_post);
  test_nginx_stop(&ngx);
  return 0;
}
