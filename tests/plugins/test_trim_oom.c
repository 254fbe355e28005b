/* Allocation-failure torture of a trimmed call (curl's torture idea): the
 * N-th allocation of the client thread fails, for N = 1, 2, ... until a call
 * runs without reaching N. The call goes through trim with every rule on, a
 * history that must lose turns (with a tool pair), a message to cut and the
 * max_tokens default. Every round must end cleanly: an API function returns
 * an error, or exactly one on_done arrives; then the runtime closes, no
 * handle is left and every byte the client thread allocated is freed. */
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "failalloc.h"
#include "llmrt.h"
#include "mock_thread.h"
#include "test.h"

static mock_thread_t mt;

static int run_round(long fail_at, const char *api, int *outcome) {
  long live0 = failalloc_thread_live();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  chainfx_call_t r;
  chainfx_call_init(&r);
  int closed = 0;
  failalloc_arm_thread(fail_at);
  llmrt_t *rt = NULL;
  int rc = llmrt_new(&loop, NULL, &rt);
  if (rc == 0) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api\":\"%s\",\"api_key_env\":"
             "\"OOM_KEY\"}},\"plugins\":[{\"name\":\"trim\",\"max_input_tokens\":90,"
             "\"dedupe\":true,\"shorten\":true,\"max_tokens_default\":64,"
             "\"models\":[{\"match\":\"mock\",\"context_window\":4096,\"max_tokens_cap\":128}]}],"
             "\"token_encodings\":{\"mo*\":\"cl100k_base\"}}",
             mt.url, api);
    rc = llmrt_configure(rt, cfg, NULL, 0);
    if (rc == 0) {
      static char big[2048];
      size_t o = 0;
      for (int i = 0; i < 40 && o + 64 < sizeof big; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "Line %d of a long pasted log.   \n", i);
      const char *calls = "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                          "\"arguments\":\"{}\"}}]";
      llmrt_message_t m[] = {
          {.role = "system", .content = "  Be   brief.  "},
          {.role = "user", .content = "first question, long enough to be worth dropping"},
          {.role = "assistant", .tool_calls_json = calls},
          {.role = "tool", .tool_call_id = "c1", .content = "{\"ok\":true,\"n\":12345}"},
          {.role = "assistant", .content = "done\n\n\n\n"},
          {.role = "user", .content = "again"},
          {.role = "user", .content = "again"},
          {.role = "user", .content = big},
      };
      llmrt_request_t req;
      llmrt_request_init(&req);
      req.model = "mock";
      req.messages = m;
      req.n_messages = sizeof m / sizeof *m;
      req.stream = 1;
      rc = llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL);
      if (rc == 0) {
        while (!r.done)
          ASSERT(uv_run(&loop, UV_RUN_ONCE) != 0 || r.done);
        ASSERT_EQ(r.done, 1);
      } else {
        ASSERT_ERR(rc, LLMRT_ENOMEM);
      }
    } else {
      ASSERT(rc == LLMRT_ENOMEM || rc == LLMRT_ECONFIG || rc == LLMRT_EPLUGIN);
    }
    llmrt_close(rt, chainfx_on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(closed, 1);
  } else {
    ASSERT_ERR(rc, LLMRT_ENOMEM);
  }
  ASSERT_LE(r.done, 1);
  failalloc_disarm();
  if (uv_loop_close(&loop) != 0) TEST_FAIL_("round %ld: handles left open", fail_at);
  if (failalloc_thread_live() != live0)
    TEST_FAIL_("round %ld (%s): %ld allocations leaked", fail_at, api,
               failalloc_thread_live() - live0);
  *outcome = rc ? rc : r.status;
  return failalloc_failed();
}

static void torture(const char *api) {
  long rounds = 0, ok = 0;
  for (long n = 1; n < 100000; n++) {
    int outcome = 0;
    int reached = run_round(n, api, &outcome);
    rounds++;
    if (outcome == 0) ok++;
    if (!reached) {
      if (outcome)
        TEST_FAIL_("nothing failed, yet the call ended with %s", llmrt_err_name(outcome));
      break;
    }
  }
  fprintf(stderr, "   %s: %ld rounds (%ld still succeeded)\n", api, rounds, ok);
  ASSERT_GE(rounds, 20);
}

static void test_torture_openai(void) {
  torture("openai");
}

static void test_torture_anthropic(void) {
  torture("anthropic");
}

int main(void) {
  failalloc_install();
  setenv("OOM_KEY", "sk-oom-key-0123456789", 1);
  ASSERT_EQ(mock_thread_start(&mt, "tokens=4"), 0);
  RUN_TEST(test_torture_openai);
  RUN_TEST(test_torture_anthropic);
  mock_thread_stop(&mt);
  return 0;
}
