/* The call API as a careless or demanding application uses it: NULL
 * mistakes get LLMRT_EINVAL with a message naming the field, stale call ids
 * are harmless, per-call headers and keys reach the upstream, llmrt_configure
 * replaces the configuration while calls run, statuses that are no answer
 * (redirects, 204) say so, and an assistant tool-call turn may have no
 * content. Against the mock upstream on loopback. */
#include <stdio.h>
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "canned.h"
#include "test.h"

static uv_loop_t loop;
static llmrt_mock_t *mock;

static void on_stopped(llmrt_mock_t *m, void *u) {
  (void)m, (void)u;
}

static llmrt_t *setup(const char *extra_up) {
  uv_loop_init(&loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = "token_ms=0,tokens=3";
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  llmrt_t *rt = chainfx_rt_new(&loop, NULL);
  setenv("LLMRT_API_TEST_KEY", "sk-upstream-key-111", 1);
  char cfg[1024], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"LLMRT_API_TEST_KEY\","
           "\"headers\":{\"x-from-config\":\"cfg\",\"x-replaced\":\"cfg\"}}%s},"
           "\"default_upstream\":\"m\"}",
           llmrt_mock_url(mock), extra_up ? extra_up : "");
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  return rt;
}

static void teardown(llmrt_t *rt) {
  llmrt_mock_stop(mock, on_stopped, NULL);
  chainfx_rt_close(rt, &loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static llmrt_message_t msg = {.role = "user", .content = "hello"};

static void base_req(llmrt_request_t *req) {
  llmrt_request_init(req);
  req->model = "mock-model";
  req->messages = &msg;
  req->n_messages = 1;
}

static void wait_done(chainfx_call_t *r) {
  while (!r->done)
    ASSERT(uv_run(&loop, UV_RUN_ONCE) || r->done);
}

static void test_null_mistakes_name_the_field(void) {
  llmrt_t *rt = setup(NULL);
  llmrt_request_t req;
  chainfx_call_t r;
  chainfx_call_init(&r);
  /* n_stop > 0 with stop NULL used to crash in the request copy. */
  base_req(&req);
  req.n_stop = 2;
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), LLMRT_EINVAL);
  ASSERT_CONTAINS(llmrt_errmsg(rt), "stop is NULL but n_stop is 2");
  const char *stops[] = {"a", NULL};
  req.stop = stops;
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), LLMRT_EINVAL);
  ASSERT_CONTAINS(llmrt_errmsg(rt), "stop[1] is NULL");
  base_req(&req);
  req.model = NULL;
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), LLMRT_EINVAL);
  ASSERT_CONTAINS(llmrt_errmsg(rt), "model is NULL");
  llmrt_message_t bad[2] = {{.role = "user", .content = "x"}, {.content = "no role"}};
  base_req(&req);
  req.messages = bad;
  req.n_messages = 2;
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), LLMRT_EINVAL);
  ASSERT_CONTAINS(llmrt_errmsg(rt), "messages[1].role is NULL");
  bad[1] = (llmrt_message_t){.role = "user"};
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), LLMRT_EINVAL);
  ASSERT_CONTAINS(llmrt_errmsg(rt), "messages[1].content is NULL");
  base_req(&req);
  llmrt_header_t h = {"Authorization", "Bearer smuggled"};
  req.headers = &h;
  req.n_headers = 1;
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), LLMRT_EINVAL);
  ASSERT_CONTAINS(llmrt_errmsg(rt), "headers[0]: Authorization is set by llmrt itself");
  h = (llmrt_header_t){"x-ok", "bad\r\nInjected: 1"};
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), LLMRT_EINVAL);
  ASSERT_CONTAINS(llmrt_errmsg(rt), "headers[0].value");
  base_req(&req);
  req.struct_size = 8;
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), LLMRT_EINVAL);
  ASSERT_CONTAINS(llmrt_errmsg(rt), "struct_size 8");
  ASSERT_ERR(llmrt_call(rt, &req, NULL, &r, NULL), LLMRT_EINVAL);
  ASSERT_EQ(r.done, 0); /* a refused call never calls back */
  teardown(rt);
}

static void test_stale_ids_are_harmless(void) {
  llmrt_t *rt = setup(NULL);
  llmrt_request_t req;
  base_req(&req);
  chainfx_call_t a, b;
  chainfx_call_init(&a);
  chainfx_call_init(&b);
  uint64_t ida, idb;
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &a, &ida), 0);
  ASSERT(llmrt_call_get(rt, ida) != NULL);
  ASSERT_EQ(llmrt_call_id(llmrt_call_get(rt, ida)), ida);
  wait_done(&a);
  ASSERT_ERR(a.status, 0);
  ASSERT(llmrt_call_get(rt, ida) == NULL);
  /* The next call reuses the first one's block; the old id finds nothing
   * and cancels nothing. */
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &b, &idb), 0);
  ASSERT(idb != ida);
  ASSERT(llmrt_call_get(rt, ida) == NULL);
  ASSERT_ERR(llmrt_cancel(rt, ida), LLMRT_EINVAL);
  ASSERT_ERR(llmrt_cancel(rt, 0), LLMRT_EINVAL);
  ASSERT_ERR(llmrt_cancel(rt, ~(uint64_t)0), LLMRT_EINVAL);
  wait_done(&b);
  ASSERT_ERR(b.status, 0);
  ASSERT_EQ(a.done, 1);
  ASSERT_EQ(b.done, 1);
  teardown(rt);
}

static void test_headers_and_key_per_call(void) {
  llmrt_t *rt = setup(NULL);
  llmrt_request_t req;
  base_req(&req);
  llmrt_header_t hs[] = {{"traceparent", "00-abc-def-01"}, {"X-Replaced", "call"}};
  req.headers = hs;
  req.n_headers = 2;
  chainfx_call_t r;
  chainfx_call_init(&r);
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
  hs[0].value = "changed after the call started"; /* copied */
  wait_done(&r);
  ASSERT_ERR(r.status, 0);
  ASSERT_STR_EQ(llmrt_mock_last_header(mock, "traceparent"), "00-abc-def-01");
  ASSERT_STR_EQ(llmrt_mock_last_header(mock, "x-from-config"), "cfg");
  ASSERT_STR_EQ(llmrt_mock_last_header(mock, "x-replaced"), "call");
  ASSERT_STR_EQ(llmrt_mock_last_header(mock, "authorization"), "Bearer sk-upstream-key-111");

  base_req(&req);
  req.api_key = "sk-per-call-key-222";
  chainfx_call_init(&r);
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
  wait_done(&r);
  ASSERT_ERR(r.status, 0);
  ASSERT_STR_EQ(llmrt_mock_last_header(mock, "authorization"), "Bearer sk-per-call-key-222");
  teardown(rt);
}

/* A per-call key goes only to the upstream the call named: when a plugin
 * (route's fallback) moves the call to another upstream, that upstream's
 * configured key is sent instead, never the caller's. */
static void test_per_call_key_stays_with_its_upstream(void) {
  llmrt_t *rt = setup(NULL);
  setenv("LLMRT_API_TEST_KEY2", "sk-fallback-key-333", 1);
  char cfg[1024], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"dead\":{\"base_url\":\"http://127.0.0.1:1/v1\","
           "\"api_key_env\":\"LLMRT_API_TEST_KEY\"},"
           "\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"LLMRT_API_TEST_KEY2\"}},"
           "\"default_upstream\":\"dead\","
           "\"plugins\":[{\"name\":\"route\",\"fallbacks\":{\"dead\":[{\"upstream\":\"m\"}]}}]}",
           llmrt_mock_url(mock));
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  llmrt_request_t req;
  base_req(&req);
  req.upstream = "dead";
  req.api_key = "sk-per-call-key-222";
  chainfx_call_t r;
  chainfx_call_init(&r);
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
  wait_done(&r);
  ASSERT_ERR(r.status, 0);
  ASSERT_STR_EQ(llmrt_mock_last_header(mock, "authorization"), "Bearer sk-fallback-key-333");
  teardown(rt);
}

static void test_reconfigure_while_calls_run(void) {
  llmrt_t *rt = setup(NULL);
  llmrt_request_t req;
  base_req(&req);
  llmrt_header_t slow = {"x-mock", "ttft_ms=80"};
  req.headers = &slow;
  req.n_headers = 1;
  req.stream = 1;
  chainfx_call_t old[4];
  for (int i = 0; i < 4; i++) {
    chainfx_call_init(&old[i]);
    ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &old[i], NULL), 0);
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  /* A new configuration: upstream "m" is gone, "n" replaces it. */
  char cfg[512], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"n\":{\"base_url\":\"%s\",\"api\":\"openai\","
           "\"api_key_env\":\"LLMRT_API_TEST_KEY\"}}}",
           llmrt_mock_url(mock));
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("reconfigure: %s", err);
  req.upstream = "m";
  chainfx_call_t refused;
  chainfx_call_init(&refused);
  ASSERT_ERR(llmrt_call(rt, &req, &chainfx_callbacks, &refused, NULL), LLMRT_ENOUPSTREAM);
  req.upstream = NULL;
  chainfx_call_t fresh;
  chainfx_call_init(&fresh);
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &fresh, NULL), 0);
  for (int i = 0; i < 4; i++) {
    wait_done(&old[i]);
    ASSERT_ERR(old[i].status, 0); /* finished on the configuration they started with */
  }
  wait_done(&fresh);
  ASSERT_ERR(fresh.status, 0);
  ASSERT_EQ(refused.done, 0);
  teardown(rt);
}

static void test_tool_turn_without_content(void) {
  llmrt_t *rt = setup(NULL);
  llmrt_message_t turns[3] = {
      {.role = "user", .content = "Weather in Paris?"},
      {.role = "assistant",
       .tool_calls_json = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
                          "\"get_weather\",\"arguments\":\"{}\"}}]"},
      {.role = "tool", .tool_call_id = "call_1", .content = "{\"t\":21}"},
  };
  llmrt_request_t req;
  base_req(&req);
  req.messages = turns;
  req.n_messages = 3;
  chainfx_call_t r;
  chainfx_call_init(&r);
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
  wait_done(&r);
  ASSERT_ERR(r.status, 0);
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"tool_calls\"");
  teardown(rt);
}

/* A server that answers with a fixed status: what is no answer says so. */
static void test_statuses_that_are_no_answer(void) {
  uv_loop_init(&loop);
  canned_t *up;
  ASSERT_EQ(canned_start(&loop, &up), 0);
  llmrt_t *rt = chainfx_rt_new(&loop, NULL);
  char cfg[256], err[256];
  snprintf(cfg, sizeof cfg, "{\"upstreams\":{\"u\":{\"base_url\":\"http://127.0.0.1:%u/v1\"}}}",
           canned_port(up));
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  struct {
    const char *resp, *want;
  } cases[] = {
      {"HTTP/1.1 302 Found\r\nLocation: https://elsewhere/\r\nContent-Length: 0\r\n\r\n",
       "answered HTTP 302: a redirect (llmrt does not follow redirects: check base_url)"},
      {"HTTP/1.1 301 Moved\r\nLocation: /v2\r\nContent-Length: 5\r\n\r\nmoved",
       "answered HTTP 301: a redirect"},
      {"HTTP/1.1 204 No Content\r\n\r\n", "answered HTTP 204: no content"},
      {"HTTP/1.1 304 Not Modified\r\n\r\n", "answered HTTP 304"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    canned_set(up, cases[i].resp, strlen(cases[i].resp));
    llmrt_request_t req;
    base_req(&req);
    chainfx_call_t r;
    chainfx_call_init(&r);
    ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
    wait_done(&r);
    ASSERT_ERR(r.status, LLMRT_EHTTPSTATUS);
    ASSERT_CONTAINS(r.errmsg, cases[i].want);
  }
  chainfx_rt_close(rt, &loop);
  canned_stop(up);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  RUN_TEST(test_null_mistakes_name_the_field);
  RUN_TEST(test_stale_ids_are_harmless);
  RUN_TEST(test_headers_and_key_per_call);
  RUN_TEST(test_per_call_key_stays_with_its_upstream);
  RUN_TEST(test_reconfigure_while_calls_run);
  RUN_TEST(test_tool_turn_without_content);
  RUN_TEST(test_statuses_that_are_no_answer);
  return 0;
}
