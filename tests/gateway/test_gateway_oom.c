/* Allocation-failure torture for the gateway (curl's torture idea): for
 * n = 1, 2, ... the n-th allocation on the gateway's thread fails while it
 * handles one request (OpenAI and Anthropic, streamed and not, through a
 * route and the other protocol). Each time the client must get an answer or
 * a closed connection (never a hang: the client's receive timeout would fail
 * the request), and the gateway must go on serving. Leaks: run under ASan
 * (LeakSanitizer checks at exit, after the gateway and the mock stopped). */
#include "failalloc.h"
#include "gw_fixture.h"

static mock_thread_t mt;

int main(void) {
  failalloc_install();
  setenv("GW_OOM_UPKEY", "sk-up", 1);
  ASSERT_EQ(mock_thread_start(&mt, NULL), 0);
  char cfg[2048];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"oa\":{\"base_url\":\"%s\",\"api_key_env\":\"GW_OOM_UPKEY\"},"
           "\"an\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":\"GW_OOM_UPKEY\"}},"
           "\"default_upstream\":\"oa\",\"routes\":{\"o\":{\"upstream\":\"oa\",\"model\":\"m1\"},"
           "\"a\":{\"upstream\":\"an\",\"model\":\"m2\"}},"
           "\"auth\":{\"keys\":[{\"key\":\"gk-oom-key-01\",\"tenant\":\"t\"}]},"
           "\"access_log\":\"off\"}",
           mt.url, mt.url);
  gw_thread_t g;
  ASSERT_EQ(gwt_start(&g, cfg), 0);
  static const struct {
    const char *path, *body;
  } reqs[] = {
      {"/v1/chat/completions", "{\"model\":\"o\",\"messages\":[{\"role\":\"user\",\"content\":"
                               "[{\"type\":\"text\",\"text\":\"x\"}]}],\"max_tokens\":3}"},
      {"/v1/chat/completions", "{\"model\":\"a\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                               "\"content\":\"x\"}],\"max_tokens\":3}"},
      {"/v1/messages", "{\"model\":\"a\",\"max_tokens\":3,\"system\":\"s\",\"messages\":[{\"role\":"
                       "\"user\",\"content\":\"x\"}],\"stream\":true}"},
      {"/v1/messages", "{\"model\":\"o\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\","
                       "\"content\":\"x\"}]}"},
  };
  /* Warm up (pools, first-use allocations), then measure live blocks. */
  for (size_t k = 0; k < 4; k++) {
    resp_t r;
    ASSERT_EQ(
        http_call(g.port, "POST", reqs[k].path, "x-api-key: gk-oom-key-01\r\n", reqs[k].body, &r),
        0);
    ASSERT_EQ(r.status, 200);
    resp_free(&r);
  }
  long points = 0, answered = 0;
  for (size_t k = 0; k < 4; k++) {
    for (long n = 1; n < 2000; n++) {
      gwt_arm_thread(&g, n);
      resp_t r;
      int rc =
          http_call(g.port, "POST", reqs[k].path, "x-api-key: gk-oom-key-01\r\n", reqs[k].body, &r);
      int failed = gwt_disarm(&g);
      points++;
      if (rc == 0) {
        answered++;
        resp_free(&r);
      }
      if (!failed) break; /* the request needed fewer than n allocations */
    }
    /* The gateway still serves. */
    resp_t r;
    ASSERT_EQ(
        http_call(g.port, "POST", reqs[k].path, "x-api-key: gk-oom-key-01\r\n", reqs[k].body, &r),
        0);
    ASSERT_EQ(r.status, 200);
    resp_free(&r);
  }
  fprintf(stderr, "   %ld failure points, %ld answered (others closed)\n", points, answered);
  gwt_stop(&g, 1000);
  mock_thread_stop(&mt);
  return 0;
}
