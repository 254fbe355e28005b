/* The breaker plugin against mocks: it opens after consecutive failures or
 * an error rate, fails fast without touching the upstream (the mock's
 * request count stays flat), half-opens after the cool-down, closes on a
 * good probe and opens again on a bad one; with route outside it (or it
 * outside route, publishing), an open circuit goes to the fallback at
 * once. */
#include "resil_fixture.h"

static void setup(const char *apis, const char *const *controls, const char *plugins) {
  char err[512];
  if (rfx_setup(apis, controls, plugins, err, sizeof err)) TEST_FAIL_("configure: %s", err);
}

static void on_sleep(uv_timer_t *t) {
  *(int *)t->data = 1;
}

/* Runs the loop for ms on its own clock (the mocks keep it alive). */
static void sleep_ms(uint64_t ms) {
  uv_timer_t t;
  int fired = 0;
  uv_timer_init(&loop, &t);
  t.data = &fired;
  uv_timer_start(&t, on_sleep, ms, 0);
  while (!fired)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static char *metrics(void) {
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  return text;
}

static void test_opens_fails_fast_half_opens_closes(void) {
  const char *c[1] = {"status=503"};
  setup("o", c, "{\"name\":\"breaker\",\"failures\":3,\"cooldown_ms\":200}");
  rcall_t r;
  for (int i = 0; i < 3; i++) {
    rfx_call(&r, NULL, NULL);
    ASSERT_ERR(r.c.status, LLMRT_EOVERLOADED);
  }
  ASSERT_EQ(rfx_requests(0), 3);
  for (int i = 0; i < 5; i++) {
    rfx_call(&r, NULL, NULL);
    ASSERT_ERR(r.c.status, LLMRT_ECIRCUITOPEN);
    ASSERT_CONTAINS(r.c.errmsg, "circuit of 'a' is open");
    ASSERT_LE(r.t_ms, 100 * SLOWX);
  }
  ASSERT_EQ(rfx_requests(0), 3); /* flat: the upstream was not touched */
  char *m = metrics();
  ASSERT_CONTAINS(m, "llmrt_breaker_state{upstream=\"a\"} 2");
  ASSERT_CONTAINS(m, "llmrt_breaker_transitions_total{upstream=\"a\",to=\"open\"} 1");
  ASSERT_CONTAINS(m, "llmrt_breaker_rejected_total{upstream=\"a\"} 5");
  llmrt_free(m);

  /* Cool-down over, the upstream still failing: the probe fails, open again. */
  sleep_ms(250);
  rfx_call(&r, NULL, NULL);
  ASSERT_ERR(r.c.status, LLMRT_EOVERLOADED);
  ASSERT_EQ(rfx_requests(0), 4);
  rfx_call(&r, NULL, NULL);
  ASSERT_ERR(r.c.status, LLMRT_ECIRCUITOPEN);
  ASSERT_EQ(rfx_requests(0), 4);

  /* The upstream recovers: the next probe closes the circuit. */
  ASSERT_EQ(llmrt_mock_set_controls(mocks[0], NULL), 0);
  sleep_ms(250);
  rfx_call(&r, NULL, NULL);
  ASSERT_EQ(r.c.status, 0);
  rfx_call(&r, NULL, NULL);
  ASSERT_EQ(r.c.status, 0);
  ASSERT_EQ(rfx_requests(0), 6);
  m = metrics();
  ASSERT_CONTAINS(m, "llmrt_breaker_state{upstream=\"a\"} 0");
  ASSERT_CONTAINS(m, "llmrt_breaker_transitions_total{upstream=\"a\",to=\"half_open\"} 2");
  ASSERT_CONTAINS(m, "llmrt_breaker_transitions_total{upstream=\"a\",to=\"closed\"} 1");
  llmrt_free(m);
  rfx_teardown();
}

static void test_half_open_admits_one_probe(void) {
  const char *c[1] = {"status=503"};
  setup("o", c, "{\"name\":\"breaker\",\"failures\":1,\"cooldown_ms\":100}");
  rcall_t r, p[3];
  rfx_call(&r, NULL, NULL);
  ASSERT_ERR(r.c.status, LLMRT_EOVERLOADED);
  ASSERT_EQ(llmrt_mock_set_controls(mocks[0], "ttft_ms=100"), 0);
  sleep_ms(150);
  for (int i = 0; i < 3; i++)
    rfx_start(&p[i], NULL, NULL, NULL);
  for (int i = 0; i < 3; i++)
    rfx_wait(&p[i]);
  ASSERT_EQ(p[0].c.status, 0); /* the probe */
  ASSERT_ERR(p[1].c.status, LLMRT_ECIRCUITOPEN);
  ASSERT_ERR(p[2].c.status, LLMRT_ECIRCUITOPEN);
  ASSERT_CONTAINS(p[1].c.errmsg, "half-open");
  ASSERT_EQ(rfx_requests(0), 2);
  rfx_teardown();
}

/* A probe of an earlier half-open period that ends late gives back no slot
 * of the current period: the circuit admits at most half_open_probes calls
 * at a time. Here probe A fails and reopens the circuit while probe B is
 * still in flight; in the next half-open period C holds one of the two
 * slots when B ends, so only one more call may go. */
static void test_late_probe_keeps_new_slots(void) {
  setup("o", NULL,
        "{\"name\":\"breaker\",\"failures\":1,\"cooldown_ms\":100,\"half_open_probes\":2}");
  rcall_t r, a, b, c, d[3];
  rfx_call(&r, NULL, "status=503");
  ASSERT_ERR(r.c.status, LLMRT_EOVERLOADED);
  sleep_ms(150);
  rfx_start(&b, NULL, "ttft_ms=600", NULL);
  rfx_start(&a, NULL, "status=503", NULL);
  rfx_wait(&a);
  ASSERT_ERR(a.c.status, LLMRT_EOVERLOADED); /* open again, B still in flight */
  sleep_ms(150);
  rfx_start(&c, NULL, "ttft_ms=1500", NULL); /* a probe of the new period */
  rfx_wait(&b);
  ASSERT_EQ(b.c.done, 1);
  ASSERT_EQ(c.c.done, 0);
  for (int i = 0; i < 3; i++)
    rfx_start(&d[i], NULL, "ttft_ms=50", NULL);
  for (int i = 0; i < 3; i++)
    rfx_wait(&d[i]);
  int rejected = 0;
  for (int i = 0; i < 3; i++)
    rejected += d[i].c.status == LLMRT_ECIRCUITOPEN;
  ASSERT_EQ(c.c.done, 0);
  ASSERT_EQ(rejected, 2); /* C and one more: two probes */
  rfx_wait(&c);
  rfx_teardown();
}

static void test_error_rate(void) {
  const char *c[1] = {"fail_rate=50,status=500"};
  setup("o", c,
        "{\"name\":\"breaker\",\"failures\":0,\"error_rate\":0.5,\"min_calls\":10,"
        "\"window_ms\":60000,\"cooldown_ms\":60000}");
  rcall_t r;
  int i, fast = 0;
  for (i = 0; i < 20; i++) {
    rfx_call(&r, NULL, NULL);
    if (r.c.status == LLMRT_ECIRCUITOPEN) fast++;
  }
  /* Failures alternate with successes (never 2 in a row); at 10 calls the
   * rate reached 50%: open, and the rest fail fast. */
  ASSERT_EQ(rfx_requests(0), 10);
  ASSERT_EQ(fast, 10);
  rfx_teardown();
}

static void test_per_model(void) {
  const char *c[1] = {"status=503"};
  setup("o", c, "{\"name\":\"breaker\",\"failures\":1,\"cooldown_ms\":60000,\"per_model\":true}");
  rcall_t r;
  rfx_call(&r, NULL, NULL);
  ASSERT_ERR(r.c.status, LLMRT_EOVERLOADED);
  rfx_call(&r, NULL, NULL);
  ASSERT_ERR(r.c.status, LLMRT_ECIRCUITOPEN);
  ASSERT_CONTAINS(r.c.errmsg, "'a/mock'");
  rfx_teardown();
}

static void test_route_outside_falls_back_at_once(void) {
  const char *c[2] = {"status=503", NULL};
  setup("oo", c,
        "{\"name\":\"route\",\"fallbacks\":{\"a\":[{\"upstream\":\"b\"}]}},"
        "{\"name\":\"breaker\",\"failures\":2,\"cooldown_ms\":60000},"
        "{\"name\":\"retry\",\"max_attempts\":2,\"base_delay_ms\":1,\"max_delay_ms\":2}");
  rcall_t r;
  for (int i = 0; i < 2; i++) {
    rfx_call(&r, "a", NULL);
    ASSERT_EQ(r.c.status, 0);
    ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "fallback: overloaded from a");
  }
  ASSERT_EQ(rfx_requests(0), 4);
  for (int i = 0; i < 3; i++) {
    rfx_call(&r, "a", NULL);
    ASSERT_EQ(r.c.status, 0);
    ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "fallback: breaker_open from a");
    ASSERT_STR_EQ(rfx_attr(&r, "route.target"), "b/mock");
  }
  ASSERT_EQ(rfx_requests(0), 4); /* flat */
  ASSERT_EQ(rfx_requests(1), 5);
  rfx_teardown();
}

static void test_breaker_outside_route_publishes(void) {
  const char *c[2] = {"status=503", NULL};
  setup("oo", c,
        "{\"name\":\"breaker\",\"failures\":2,\"cooldown_ms\":60000,\"publish_only\":true},"
        "{\"name\":\"route\",\"fallbacks\":{\"a\":[{\"upstream\":\"b\"}]}},"
        "{\"name\":\"retry\",\"max_attempts\":2,\"base_delay_ms\":1,\"max_delay_ms\":2}");
  rcall_t r;
  for (int i = 0; i < 2; i++) {
    rfx_call(&r, "a", NULL);
    ASSERT_EQ(r.c.status, 0);
    ASSERT_STR_EQ(rfx_attr(&r, "route.failed"), "a");
  }
  for (int i = 0; i < 3; i++) {
    rfx_call(&r, "a", NULL);
    ASSERT_EQ(r.c.status, 0);
    ASSERT_STR_EQ(rfx_attr(&r, "breaker.open"), "a");
    ASSERT_STR_EQ(rfx_attr(&r, "route.reason"), "fallback: breaker_open");
  }
  ASSERT_EQ(rfx_requests(0), 4);
  rfx_teardown();
}

/* The same plugins loaded as .so files (what the CMake glob builds and
 * installs), with the upstream_alias and upstream_lookup host functions. */
static void test_loaded_as_so(void) {
  const char *c[2] = {"status=503", NULL};
  setup("oo", c,
        "{\"name\":\"" LLMRT_BINARY_DIR "/plugins/route.so\",\"groups\":{\"g\":{\"members\":"
        "[\"a\"]}},\"fallbacks\":{\"g\":[{\"upstream\":\"b\"}]}},"
        "{\"name\":\"" LLMRT_BINARY_DIR "/plugins/breaker.so\",\"failures\":1},"
        "{\"name\":\"" LLMRT_BINARY_DIR "/plugins/retry.so\",\"max_attempts\":1}");
  rcall_t r;
  for (int i = 0; i < 3; i++) {
    rfx_call(&r, "g", NULL);
    ASSERT_EQ(r.c.status, 0);
    ASSERT_STR_EQ(rfx_attr(&r, "route.target"), "b/mock");
  }
  ASSERT_EQ(rfx_requests(0), 1); /* then held open */
  rfx_teardown();
}

static void test_bad_config(void) {
  char err[512];
  ASSERT(rfx_setup("o", NULL, "{\"name\":\"breaker\",\"failures\":-1}", err, sizeof err) != 0);
  ASSERT_CONTAINS(err, "failures");
  rfx_teardown();
  ASSERT(rfx_setup("o", NULL, "{\"name\":\"breaker\",\"failurez\":1}", err, sizeof err) != 0);
  ASSERT_CONTAINS(err, "failurez");
  rfx_teardown();
}

int main(void) {
  RUN_TEST(test_opens_fails_fast_half_opens_closes);
  RUN_TEST(test_half_open_admits_one_probe);
  RUN_TEST(test_late_probe_keeps_new_slots);
  RUN_TEST(test_error_rate);
  RUN_TEST(test_per_model);
  RUN_TEST(test_route_outside_falls_back_at_once);
  RUN_TEST(test_breaker_outside_route_publishes);
  RUN_TEST(test_loaded_as_so);
  RUN_TEST(test_bad_config);
  return 0;
}
