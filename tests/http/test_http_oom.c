/* Allocation failure torture (after curl's): every allocation made for a
 * request fails in turn. Each time the request must either be refused up
 * front (no callback) or end with exactly one on_done, the runtime must
 * close, and every byte must be given back. */
#include "failalloc.h"
#include "test_client_util.h"

/* One request under fault injection; returns 1 if the failure point was
 * reached (so there are more points to try). */
static int one_run(env_t *e, long point, const char *method, const char *path, unsigned flags,
                   const char *body) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.total_timeout_ms = 5000;
  long base = failalloc_live();
  ASSERT_EQ(llmrt_new(&e->loop, &o, &e->rt), 0);
  char url[128];
  uv_buf_t b = uv_buf_init((char *)body, body ? (unsigned)strlen(body) : 0);
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.method = method;
  q.url = rawserver_url(e->srv, path, url, sizeof(url));
  q.flags = flags;
  q.body = body ? &b : NULL;
  q.n_body = body ? 1 : 0;
  res_t r;
  memset(&r, 0, sizeof(r));
  failalloc_arm(point);
  int rc = llmrt_http_request(e->rt, &q, &test_cbs, &r, NULL);
  if (rc) {
    ASSERT_EQ(r.dones, 0);
  } else {
    run_until(e, &r.dones, 20000);
    ASSERT_EQ(r.dones, 1);
    if (r.status == LLMRT_ETIMEDOUT) TEST_FAIL_("point %ld: hung until the total timeout", point);
    if (!failalloc_failed()) {
      ASSERT_ERR(r.status, 0);
      ASSERT(r.blen > 0);
    }
  }
  failalloc_disarm();
  res_free(&r);
  e->closed = 0;
  llmrt_close(e->rt, on_rt_closed, e);
  run_until(e, &e->closed, 10000);
  run_for(e, 5);
  e->rt = NULL;
  if (failalloc_live() != base)
    TEST_FAIL_("point %ld: %ld blocks leaked", point, failalloc_live() - base);
  return failalloc_failed();
}

static void torture(const char *method, const char *path, unsigned flags, const char *body) {
  env_t e;
  memset(&e, 0, sizeof(e));
  ASSERT_EQ(uv_loop_init(&e.loop), 0);
  ASSERT_EQ(rawserver_start(&e.loop, &e.srv), 0);
  /* Warm up libuv's internal arrays so that they need not grow later (libuv
   * aborts if that allocation fails, which is not ours to test). */
  for (int i = 0; i < 3; i++)
    one_run(&e, 0, method, path, flags, body);
  long point = 1;
  while (one_run(&e, point, method, path, flags, body))
    point++;
  fprintf(stderr, "   %s %s: %ld allocation points, each failed in turn\n", method, path,
          point - 1);
  ASSERT(point > 5);
  rawserver_stop(e.srv);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&e.loop), 0);
}

static void test_oom_get_gzip(void) {
  torture("GET", "/gzip-chunked/20000", LLMRT_HTTP_DECOMPRESS, NULL);
}

static void test_oom_post_gzip_body(void) {
  torture("POST", "/echo", LLMRT_HTTP_GZIP_BODY | LLMRT_HTTP_DECOMPRESS,
          "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
}

static void test_oom_many_headers(void) {
  torture("GET", "/many-headers/60", 0, NULL);
}

int main(void) {
  failalloc_install();
  RUN_TEST(test_oom_get_gzip);
  RUN_TEST(test_oom_post_gzip_body);
  RUN_TEST(test_oom_many_headers);
  return 0;
}
