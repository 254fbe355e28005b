/* Request encoding under allocation failure, both providers, in the style of
 * curl's torture tests: each allocation of an encode fails in turn. The
 * contract: LLMRT_ENOMEM, the output buffer as it was (same length, same
 * bytes, still NUL-terminated), nothing leaked. */
#include "failalloc.h"
#include "llm_fixture.h"

/* Runs encode with the k-th allocation failing, for k = 0, 1, ... until an
 * encode sees no failure; out starts with `prefix` (whose capacity the test
 * chooses, so the first append may or may not need to grow it). */
static void torture(const llmrt__provider_t *p, const llmrt_request_t *req, const char *prefix) {
  long k;
  for (k = 0;; k++) {
    llmrt__buf_t out;
    llmrt__buf_init(&out);
    ASSERT_EQ(llmrt__buf_puts(&out, prefix), 0);
    size_t mark = out.len;
    long before = failalloc_live();
    char err[200];
    failalloc_arm(k + 1); /* k allocations succeed, the next one fails */
    int rc = p->encode(req, &out, err, sizeof err);
    failalloc_disarm();
    int failed = failalloc_failed();
    if (!failed) {
      ASSERT_EQ(rc, 0);
      ASSERT(out.len > mark);
      ASSERT_EQ(failalloc_live(), before);
      llmrt__buf_free(&out);
      break;
    }
    if (rc != LLMRT_ENOMEM)
      TEST_FAIL_("%s: allocation %ld failed: rc %s, not ENOMEM", p->name, k, llmrt_err_name(rc));
    if (out.len != mark || memcmp(out.data, prefix, mark) != 0 || out.data[mark] != '\0')
      TEST_FAIL_("%s: allocation %ld failed: out changed to \"%s\"", p->name, k, out.data);
    if (failalloc_live() != before)
      TEST_FAIL_("%s: allocation %ld failed: %ld blocks leaked", p->name, k,
                 failalloc_live() - before);
    llmrt__buf_free(&out);
  }
  fprintf(stderr, "%s, prefix of %zu bytes: %ld allocations, each failed once\n", p->name,
          strlen(prefix), k);
  ASSERT_GE(k, 3);
}

static void test_encode_oom(void) {
  /* Everything that allocates: extra_json (parsed, with duplicates and a
   * member long enough to grow the body at the end), tool calls with
   * arguments, system messages (joined for Anthropic), tool results. */
  char extra[6000];
  char filler[5000];
  memset(filler, 'x', sizeof filler - 1);
  filler[sizeof filler - 1] = '\0';
  snprintf(extra, sizeof extra,
           "{\"metadata\":{\"user_id\":\"u\"},\"str\\u0065am\":false,\"stream\":true,"
           "\"note\":\"%s\",\"max_tokens\":7}",
           filler);
  llmrt_message_t msgs[] = {
      {.role = "system", .content = "Be terse."},
      {.role = "user", .content = "Weather in Paris and Rome?"},
      {.role = "assistant",
       .content = "Checking.",
       .tool_calls_json =
           "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
           "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\",\\\"days\\\":[1,2,3]}\"}},"
           "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
           "\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}]"},
      {.role = "tool", .content = "{\"temp\":21}", .tool_call_id = "call_1"},
      {.role = "tool", .content = "{\"temp\":25}", .tool_call_id = "call_2"},
      {.role = "system", .content = "Answer in French."},
  };
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = msgs;
  req.n_messages = sizeof msgs / sizeof msgs[0];
  req.temperature = 0.5;
  req.stream = 1;
  req.extra_json = extra;
  failalloc_install();
  const llmrt__provider_t *ps[2] = {llmrt__provider_find("openai"),
                                    llmrt__provider_find("anthropic")};
  for (int i = 0; i < 2; i++) {
    torture(ps[i], &req, "");
    /* 63 bytes fill the first 64-byte block: opening the body must grow it. */
    torture(ps[i], &req, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n123");
  }
  failalloc_uninstall();
}

int main(void) {
  RUN_TEST(test_encode_oom);
  return 0;
}
