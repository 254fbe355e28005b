/* Message overhead as the providers count it (llmrt_tokens_count_message,
 * llmrt_tokens_count_request): the OpenAI cookbook's framing per message,
 * per name and per reply, tool calls of assistant messages, tool
 * definitions in extra_json (OpenAI's and Anthropic's shapes), message
 * arrays of the ABI 2.0 layout (struct_size 0), and bad arguments. */
#include <string.h>

#include "llmrt.h"
#include "llmrt/tokens.h"
#include "test.h"

static llmrt_tokenizer_t *tk;

static int64_t n(const char *s) {
  return llmrt_tokens_count(tk, s, strlen(s));
}

static void test_framing(void) {
  llmrt_message_t m[] = {
      {.role = "system", .content = "You are terse."},
      {.role = "user", .content = "Hello there!", .name = "alice"},
      {.role = "assistant", .content = "Hi."},
  };
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "gpt-4o";
  req.messages = m;
  req.n_messages = 3;
  int64_t want = 3 + (3 + n("system") + n("You are terse.")) +
                 (3 + n("user") + n("Hello there!") + 1 + n("alice")) +
                 (3 + n("assistant") + n("Hi."));
  ASSERT_EQ(llmrt_tokens_count_request(tk, &req), want);
  ASSERT_EQ(llmrt_tokens_count_message(tk, &m[1]),
            3 + n("user") + n("Hello there!") + 1 + n("alice"));
  /* content_len counts only that much. */
  llmrt_message_t part = {.role = "user", .content = "Hello there!", .content_len = 5};
  ASSERT_EQ(llmrt_tokens_count_message(tk, &part), 3 + n("user") + n("Hello"));
  /* No messages: the reply's priming alone. */
  req.n_messages = 0;
  req.messages = NULL;
  ASSERT_EQ(llmrt_tokens_count_request(tk, &req), 3);
}

static void test_tool_calls_and_definitions(void) {
  llmrt_message_t m[] = {
      {.role = "user", .content = "Weather?"},
      {.role = "assistant",
       .tool_calls_json = "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
                          "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]"},
      {.role = "tool", .tool_call_id = "c1", .content = "11 C"},
  };
  int64_t call = 3 + n("assistant") + 3 + n("get_weather") + n("{\"city\":\"Paris\"}");
  ASSERT_EQ(llmrt_tokens_count_message(tk, &m[1]), call);
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.messages = m;
  req.n_messages = 3;
  int64_t msgs = 3 + (3 + n("user") + n("Weather?")) + call + (3 + n("tool") + n("11 C"));
  ASSERT_EQ(llmrt_tokens_count_request(tk, &req), msgs);
  /* One function with two properties, one an enum (the cookbook's rules:
   * 7 + name + description without its final period, 3 for properties,
   * 3 + key + type + description per property, -3 + 3 + item per enum item,
   * 12 at the end). */
  req.extra_json = "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                   "\"description\":\"Gets the weather.\",\"parameters\":{\"type\":\"object\","
                   "\"properties\":{\"city\":{\"type\":\"string\",\"description\":\"The city.\"},"
                   "\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"]}}}}}]}";
  int64_t tools = 7 + n("get_weather") + n("Gets the weather") + 3 +
                  (3 + n("city") + n("string") + n("The city")) +
                  (3 + n("unit") + (-3 + 3 + n("c") + 3 + n("f")) + n("string")) + 12;
  ASSERT_EQ(llmrt_tokens_count_request(tk, &req), msgs + tools);
  /* Anthropic's shape counts the same. */
  req.extra_json = "{\"tools\":[{\"name\":\"get_weather\",\"description\":\"Gets the weather.\","
                   "\"input_schema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
                   "\"string\",\"description\":\"The city.\"},\"unit\":{\"type\":\"string\","
                   "\"enum\":[\"c\",\"f\"]}}}}]}";
  ASSERT_EQ(llmrt_tokens_count_request(tk, &req), msgs + tools);
  /* cl100k_base (gpt-3.5, gpt-4) opens a function with 10, not 7. */
  llmrt_tokenizer_t *cl;
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_CL100K, &cl), 0);
  req.extra_json = "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}";
  req.n_messages = 0;
  req.messages = NULL;
  ASSERT_EQ(llmrt_tokens_count_request(cl, &req), 3 + 10 + llmrt_tokens_count(cl, "f", 1) + 12);
  ASSERT_EQ(llmrt_tokens_count_request(tk, &req), 3 + 7 + n("f") + 12);
  llmrt_tokenizer_free(cl);
  req.messages = m;
  req.n_messages = 3;
  /* No tools, or extra_json without them: nothing more. */
  req.extra_json = "{\"temperature\":0}";
  ASSERT_EQ(llmrt_tokens_count_request(tk, &req), msgs);
}

/* Messages of the ABI 2.0 layout (struct_size 0): the stride is the 2.0
 * size, whatever sizeof says today. */
static void test_v2_stride(void) {
  llmrt_message_t m[2] = {{.role = "user", .content = "one"}, {.role = "user", .content = "two"}};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.messages = m;
  req.n_messages = 2;
  ASSERT_EQ(llmrt_tokens_count_request(tk, &req), 3 + 2 * (3 + n("user")) + n("one") + n("two"));
}

static void test_bad_arguments(void) {
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.n_messages = 2; /* and no array */
  ASSERT_ERR((int)llmrt_tokens_count_request(tk, &req), LLMRT_EINVAL);
  ASSERT_ERR((int)llmrt_tokens_count_request(NULL, &req), LLMRT_EINVAL);
  ASSERT_ERR((int)llmrt_tokens_count_message(tk, NULL), LLMRT_EINVAL);
}

int main(void) {
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_O200K, &tk), 0);
  RUN_TEST(test_framing);
  RUN_TEST(test_tool_calls_and_definitions);
  RUN_TEST(test_v2_stride);
  RUN_TEST(test_bad_arguments);
  llmrt_tokenizer_free(tk);
  return 0;
}
