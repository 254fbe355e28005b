/* The route plugin against mocks: group strategies (lowest latency moves to
 * the faster mock and back, with probes; least in flight spreads a burst;
 * weighted round robin), fallbacks in order, context-length and
 * content-policy errors, OpenAI <-> Anthropic fallback with the answer
 * intact, and no fallback after content reached the caller. */
#include "resil_fixture.h"

static void setup(const char *apis, const char *const *controls, const char *plugins) {
  char err[512];
  if (rfx_setup(apis, controls, plugins, err, sizeof err)) TEST_FAIL_("configure: %s", err);
}

/* Which mock answered: the first letter of route.target. */
static int answered_by(const rcall_t *r) {
  const char *t = rfx_attr(r, "route.target");
  return t[0] ? t[0] - 'a' : -1;
}

static void test_lowest_latency_moves_and_back(void) {
  const char *c[2] = {"ttft_ms=60", "ttft_ms=5"};
  setup("oo", c,
        "{\"name\":\"route\",\"ewma_alpha\":0.5,\"groups\":{\"g\":{\"members\":[\"a\",\"b\"],"
        "\"strategy\":\"lowest_latency\",\"probe_every\":5}}}");
  rcall_t r;
  int on[2] = {0, 0};
  for (int i = 0; i < 30; i++) {
    rfx_call(&r, "g", NULL);
    if (r.c.status) TEST_FAIL_("call %d: %s", i, r.c.errmsg);
    if (i >= 10) on[answered_by(&r)]++;
  }
  /* Settled on b; a is still probed now and then. */
  if (on[1] < 14 || on[0] < 2) TEST_FAIL_("calls 10-29: a %d, b %d", on[0], on[1]);
  uint64_t a_before = rfx_requests(0);
  /* a recovers, b slows down: the probes find it. */
  ASSERT_EQ(llmrt_mock_set_controls(mocks[0], "ttft_ms=5"), 0);
  ASSERT_EQ(llmrt_mock_set_controls(mocks[1], "ttft_ms=60"), 0);
  on[0] = on[1] = 0;
  for (int i = 0; i < 40; i++) {
    rfx_call(&r, "g", NULL);
    if (r.c.status) TEST_FAIL_("call %d: %s", i, r.c.errmsg);
    if (i >= 25) on[answered_by(&r)]++;
  }
  if (on[0] < 11) TEST_FAIL_("after recovery, calls 25-39: a %d, b %d", on[0], on[1]);
  ASSERT(rfx_requests(0) > a_before);
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  ASSERT_CONTAINS(text, "llmrt_route_latency_ewma_ms{upstream=\"a\"}");
  ASSERT_CONTAINS(text, "llmrt_route_picks_total{group=\"g\",upstream=\"b\"}");
  llmrt_free(text);
  rfx_teardown();
}

static void test_least_in_flight_spreads_burst(void) {
  const char *c[3] = {"ttft_ms=100", "ttft_ms=100", "ttft_ms=100"};
  setup("ooo", c,
        "{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[\"a\",\"b\",\"c\"],"
        "\"strategy\":\"least_in_flight\"}}}");
  rcall_t r[9];
  for (int i = 0; i < 9; i++)
    rfx_start(&r[i], "g", NULL, NULL);
  for (int i = 0; i < 9; i++) {
    rfx_wait(&r[i]);
    ASSERT_EQ(r[i].c.status, 0);
  }
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(rfx_requests(i), 3);
  rfx_teardown();
}

static void test_weighted_round_robin(void) {
  setup("oo", NULL,
        "{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[{\"upstream\":\"a\",\"weight\":3},"
        "\"b\"],\"strategy\":\"round_robin\"}}}");
  rcall_t r;
  for (int i = 0; i < 8; i++) {
    rfx_call(&r, "g", NULL);
    ASSERT_EQ(r.c.status, 0);
  }
  ASSERT_EQ(rfx_requests(0), 6);
  ASSERT_EQ(rfx_requests(1), 2);
  rfx_teardown();
}

#define RETRY2 "{\"name\":\"retry\",\"max_attempts\":2,\"base_delay_ms\":1,\"max_delay_ms\":2}"

static void test_fallback_order(void) {
  const char *c[3] = {"status=503", "status=500", NULL};
  setup("ooo", c,
        "{\"name\":\"route\",\"fallbacks\":{\"a\":[{\"upstream\":\"b\"},{\"upstream\":\"c\","
        "\"model\":\"mock-small\",\"max_tokens\":5}]}}," RETRY2);
  rcall_t r;
  rfx_call(&r, "a", NULL);
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  /* The primary's retries first, then b's, then c with its parameters. */
  ASSERT_EQ(rfx_requests(0), 2);
  ASSERT_EQ(rfx_requests(1), 2);
  ASSERT_EQ(rfx_requests(2), 1);
  ASSERT_STR_EQ(rfx_attr(&r, "route.target"), "c/mock-small");
  ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "fallback: server from b");
  ASSERT_STR_EQ(rfx_attr(&r, "route.fallbacks"), "2");
  ASSERT_STR_EQ(rfx_attr(&r, "route.failed"), "a b");
  ASSERT_EQ(r.c.n_tokens, 5); /* max_tokens of the target */
  ASSERT_CONTAINS(llmrt_mock_last_body(mocks[2]), "\"model\":\"mock-small\"");
  rfx_teardown();
}

static void test_context_length_fallback(void) {
  for (int api = 0; api < 2; api++) {
    const char *c[3] = {"context_limit=10", NULL, NULL};
    setup(api ? "aoo" : "ooo", c,
          "{\"name\":\"route\",\"fallbacks\":{\"a\":[{\"upstream\":\"b\"},{\"upstream\":\"c\","
          "\"model\":\"mock-200k\",\"context_window\":200000}]}}," RETRY2);
    rcall_t r;
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rfx_start(&r, "a", NULL, big);
    rfx_wait(&r);
    if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
    ASSERT_EQ(rfx_requests(0), 1); /* not retried: the request is too long */
    ASSERT_EQ(rfx_requests(1), 0); /* no larger window there: skipped */
    ASSERT_EQ(rfx_requests(2), 1);
    ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "fallback: context_length from a");
    ASSERT_STR_EQ(rfx_attr(&r, "route.target"), "c/mock-200k");
    /* A short request stays on a. */
    rfx_call(&r, "a", NULL);
    ASSERT_EQ(r.c.status, 0);
    ASSERT_STR_EQ(rfx_attr(&r, "route.target"), "a/mock");
    rfx_teardown();
  }
}

static void test_content_policy(void) {
  const char *c[2] = {"refuse=1", NULL};
  setup("oo", c, "{\"name\":\"route\",\"fallbacks\":{\"a\":[{\"upstream\":\"b\"}]}}," RETRY2);
  rcall_t r;
  rfx_call(&r, "a", NULL);
  ASSERT_ERR(r.c.status, LLMRT_EUPSTREAM);
  ASSERT_CONTAINS(r.c.errmsg, "safety system");
  ASSERT_EQ(rfx_requests(1), 0);
  rfx_teardown();
  setup("oo", c,
        "{\"name\":\"route\",\"fallback_on\":[\"content_policy\"],\"fallbacks\":{\"a\":[{"
        "\"upstream\":\"b\"}]}}");
  rfx_call(&r, "a", NULL);
  ASSERT_EQ(r.c.status, 0);
  ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "fallback: content_policy from a");
  rfx_teardown();
}

static void test_cross_provider(void) {
  for (int dir = 0; dir < 2; dir++) {
    /* dir 0: OpenAI a fails, Anthropic b answers; dir 1: the other way. */
    const char *c[2] = {"status=503", NULL};
    setup(dir ? "ao" : "oa", c,
          "{\"name\":\"route\",\"fallbacks\":{\"a\":[{\"upstream\":\"b\",\"model\":\"other-"
          "model\"}]}}," RETRY2);
    rcall_t direct, r;
    /* What b answers when asked directly (the mock's text is a function of
     * the model and the messages, over either API). */
    llmrt_message_t m = {.role = "user", .content = "resilience"};
    llmrt_request_t req;
    llmrt_request_init(&req);
    req.upstream = "b";
    req.model = "other-model";
    req.messages = &m;
    req.n_messages = 1;
    req.stream = 1;
    memset(&direct, 0, sizeof direct);
    ASSERT_EQ(llmrt_call(rt, &req, &rfx_callbacks, &direct, NULL), 0);
    rfx_wait(&direct);
    ASSERT_EQ(direct.c.status, 0);
    rfx_call(&r, "a", NULL);
    if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
    ASSERT_STR_EQ(r.c.text, direct.c.text);
    ASSERT_STR_EQ(r.c.tokens, direct.c.text);
    ASSERT_EQ(r.c.in_tok, direct.c.in_tok);
    ASSERT_EQ(r.c.out_tok, direct.c.out_tok);
    ASSERT(r.c.out_tok > 0);
    ASSERT_STR_EQ(r.c.finish, "stop");
    ASSERT_STR_EQ(llmrt_mock_last_path(mocks[1]), dir ? "/v1/chat/completions" : "/v1/messages");
    ASSERT_STR_EQ(rfx_attr(&r, "route.target"), "b/other-model");
    ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "fallback: overloaded from a");
    rfx_teardown();
  }
}

static void test_no_fallback_after_content(void) {
  const char *c[2] = {"fault=reset,after=3,token_ms=30", NULL};
  setup("oo", c, "{\"name\":\"route\",\"fallbacks\":{\"a\":[{\"upstream\":\"b\"}]}}," RETRY2);
  rcall_t r;
  rfx_call(&r, "a", NULL);
  if (r.c.status != LLMRT_ECONNRESET && r.c.status != LLMRT_ECLOSED)
    TEST_FAIL_("got %s: %s", llmrt_err_name(r.c.status), r.c.errmsg);
  ASSERT_EQ(r.c.n_tokens, 3);
  ASSERT_STR_EQ(r.c.text, r.c.tokens);
  ASSERT_EQ(rfx_requests(1), 0);
  ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "no fallback: content already reached the caller");
  /* The request still names the upstream that answered in part: a breaker
   * or a log outside must not blame b, which was never tried. */
  ASSERT_STR_EQ(rfx_attr(&r, "route.target"), "a/mock");
  ASSERT_STR_EQ(rfx_attr(&r, "route.failed"), "a");
  rfx_teardown();
}

/* Upstream names full of characters the metric labels escape (quotes double
 * in length): the fallback's labels stay inside their buffer (ASan). */
static void test_escaped_names_in_labels(void) {
  const char *c[2] = {"status=503", NULL};
  setup("oo", c, "{\"name\":\"route\"}");
  char qa[64], ja[200], jb[200];
  memset(qa, '"', 62), qa[62] = 'x', qa[63] = '\0';
  size_t o = 0;
  for (int i = 0; i < 62; i++)
    ja[o] = jb[o] = '\\', ja[o + 1] = jb[o + 1] = '"', o += 2;
  ja[o] = 'x', jb[o] = 'y', ja[o + 1] = jb[o + 1] = '\0';
  char cfg[2048], err[256] = "";
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"%s\":{\"base_url\":\"%s\",\"api_key_env\":\"RESIL_TEST_KEY\"},"
           "\"%s\":{\"base_url\":\"%s\",\"api_key_env\":\"RESIL_TEST_KEY\"}},"
           "\"default_upstream\":\"%s\",\"plugins\":[{\"name\":\"route\",\"groups\":{\"g\":{"
           "\"members\":[\"%s\"]}},"
           "\"fallbacks\":{\"%s\":[{\"upstream\":\"%s\"}]}}]}",
           ja, llmrt_mock_url(mocks[0]), jb, llmrt_mock_url(mocks[1]), ja, ja, ja, jb);
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  rcall_t r;
  rfx_call(&r, qa, NULL);
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_EQ(rfx_requests(1), 1);
  rfx_call(&r, "g", NULL);
  ASSERT(r.c.done == 1);
  char *m;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &m, &len), 0);
  ASSERT_CONTAINS(m, "llmrt_route_fallbacks_total{");
  llmrt_free(m);
  rfx_teardown();
}

static void test_group_member_failover(void) {
  const char *c[2] = {"status=503", NULL};
  setup("oo", c,
        "{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[\"a\",\"b\"],\"strategy\":"
        "\"round_robin\"}}}," RETRY2);
  rcall_t r;
  rfx_call(&r, "g", NULL); /* a first (round robin), fails, then b */
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "member: overloaded from a");
  ASSERT_EQ(rfx_requests(0), 2);
  for (int i = 0; i < 4; i++) {
    rfx_call(&r, "g", NULL); /* a failed recently: skipped */
    ASSERT_EQ(r.c.status, 0);
    ASSERT_STR_EQ(rfx_attr(&r, "route.target"), "b/mock");
  }
  ASSERT_EQ(rfx_requests(0), 2);
  rfx_teardown();
}

static void test_bad_config(void) {
  char err[512];
  ASSERT(rfx_setup("o", NULL, "{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[\"zz\"]}}}", err,
                   sizeof err) != 0);
  ASSERT_CONTAINS(err, "no upstream named \"zz\"");
  rfx_teardown();
  ASSERT(rfx_setup("o", NULL, "{\"name\":\"route\",\"groups\":{\"a\":{\"members\":[\"a\"]}}}", err,
                   sizeof err) != 0);
  ASSERT_CONTAINS(err, "already an upstream");
  rfx_teardown();
  /* One name, one owner: two instances may not claim the same group. */
  ASSERT(rfx_setup("o", NULL,
                   "{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[\"a\"]}}},"
                   "{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[\"a\"]}}}",
                   err, sizeof err) != 0);
  ASSERT_CONTAINS(err, "upstream name \"g\" is already claimed by $.plugins[0]");
  rfx_teardown();
  /* A group name is accepted as upstream only when route claims it. */
  ASSERT_EQ(rfx_setup("o", NULL, "{\"name\":\"route\"}", err, sizeof err), 0);
  rcall_t r;
  memset(&r, 0, sizeof r);
  llmrt_message_t m = {.role = "user", .content = "x"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = "g";
  req.model = "mock";
  req.messages = &m;
  req.n_messages = 1;
  ASSERT_ERR(llmrt_call(rt, &req, &rfx_callbacks, &r, NULL), LLMRT_ENOUPSTREAM);
  rfx_teardown();
}

int main(void) {
  RUN_TEST(test_lowest_latency_moves_and_back);
  RUN_TEST(test_least_in_flight_spreads_burst);
  RUN_TEST(test_weighted_round_robin);
  RUN_TEST(test_fallback_order);
  RUN_TEST(test_context_length_fallback);
  RUN_TEST(test_content_policy);
  RUN_TEST(test_cross_provider);
  RUN_TEST(test_no_fallback_after_content);
  RUN_TEST(test_escaped_names_in_labels);
  RUN_TEST(test_group_member_failover);
  RUN_TEST(test_bad_config);
  return 0;
}
