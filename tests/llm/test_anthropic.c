/* Anthropic adapter: recorded streams (whole, bytewise, random slices), full
 * responses, request bodies checked with cJSON, error bodies and events. */
#include <cjson/cJSON.h>

#include "llm_fixture.h"

static const llmrt__provider_t *P;

static void test_provider(void) {
  ASSERT_STR_EQ(P->name, "anthropic");
  ASSERT_STR_EQ(P->path, "/messages");
  ASSERT_STR_EQ(P->auth_header, "x-api-key");
  ASSERT_STR_EQ(P->auth_prefix, "");
  ASSERT_EQ(P->n_extra_headers, 1);
  ASSERT_STR_EQ(P->extra_headers[0].name, "anthropic-version");
  ASSERT_STR_EQ(P->extra_headers[0].value, "2023-06-01");
}

/* The recorded streams. Unset fields are not checked; every field a case
 * sets is. */
static const transcript_case_t streams[] = {
    {.file = "anthropic_stream_text.sse",
     .rc = LLMRT__STREAM_DONE,
     .text = "Hello! I'm Claude. \u4f60\u597d\U0001F600",
     .model = "claude-sonnet-4-20250514",
     .id = "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
     .finish = "stop", /* end_turn */
     .n_start = 1,
     .in = 25,
     .out = 15,
     .cached = CHECK_ANY,
     .n_usage = 2, /* message_start, then message_delta */
     .n_finish = -1,
     .n_text = -1,
     .log_has = {"START\nUSAGE in=25 out=1 cached=0\n",
                 "FINISH stop\nUSAGE in=25 out=15 cached=0\n"}},
    {.file = "anthropic_stream_tools.sse",
     .rc = LLMRT__STREAM_DONE,
     .text = "Okay, let's check the weather for San Francisco, CA:",
     /* Tool calls are numbered 0, 1, ... whatever their content block index. */
     .tool = {{"toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather",
               "{\"location\": \"San Francisco, CA\", \"unit\": \"fahrenheit\"}"},
              {"toolu_02ABC", NULL, "{\"tz\": \"America/Los_Angeles\"}"}},
     .finish = "tool_calls",
     /* input 472 + 2048 cache reads; cached is the cache reads. */
     .in = 2520,
     .cached = 2048,
     .out = 89,
     .n_start = -1,
     .n_finish = -1,
     .n_usage = -1,
     .n_text = -1,
     .log_has = {"TOOL_CALL 0 id=toolu_01T1x1fJ34qAmk2tNTrN7Up6 name=get_weather \n"}},
    {.file = "anthropic_stream_thinking.sse",
     .rc = LLMRT__STREAM_DONE,
     .thinking =
         "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3",
     .text = "27 * 453 = 12,231",
     .finish = "length", /* max_tokens */
     .out = 120,
     .in = CHECK_ANY,
     .cached = CHECK_ANY,
     .n_start = -1,
     .n_finish = -1,
     .n_usage = -1,
     .n_text = -1,
     /* signature_delta and the unknown event leave no trace. */
     .log_lacks = "EqQB"},
    {.file = "anthropic_error.sse",
     .rc = LLMRT_EOVERLOADED,
     .text = "Partial",
     .err_type = "overloaded_error",
     .err_msg = "Overloaded",
     .in = CHECK_ANY,
     .out = CHECK_ANY,
     .cached = CHECK_ANY,
     .n_start = -1,
     .n_finish = -1,
     .n_usage = -1,
     .n_text = -1},
    {.file = "anthropic_stream_zh_crlf.sse",
     .rc = LLMRT__STREAM_DONE,
     .text = "春眠不觉晓，处处闻啼鸟。",
     .finish = "stop", /* stop_sequence */
     .out = 20,
     .in = CHECK_ANY,
     .cached = CHECK_ANY,
     .n_start = -1,
     .n_finish = -1,
     .n_usage = -1,
     .n_text = -1},
};

static void test_streams(void) {
  for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
    check_transcript(P, &streams[i]);
}

static void test_error_event(void) {
  /* Other error types are LLMRT_EUPSTREAM; the event name alone suffices. */
  llmrt__pstate_t *st = malloc(sizeof *st);
  llmrt__pstate_init(st);
  rec_t r2;
  rec_init(&r2);
  llmrt__sink_t sink = rec_sink(&r2);
  const char *d = "{\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}";
  llmrt__sse_event_t ev = {"error", 5, d, strlen(d), NULL, 0, -1, 0};
  ASSERT_ERR(P->decode_event(st, &ev, &sink), LLMRT_EUPSTREAM);
  ASSERT_STR_EQ(r2.err_type, "api_error");
  ASSERT_STR_EQ(r2.err_msg, "Internal server error");
  free(st);
  rec_free(&r2);
}

static void test_no_message_start(void) {
  /* A proxy that drops message_start: START still comes first, once. */
  static const char *evs[] = {
      "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":"
      "\"Hi\"}}",
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
      "\" there\"}}",
      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_"
      "tokens\":3}}",
      "{\"type\":\"message_stop\"}",
  };
  llmrt__pstate_t *st = malloc(sizeof *st);
  llmrt__pstate_init(st);
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  for (size_t i = 0; i < 4; i++) {
    llmrt__sse_event_t ev = {"message", 7, evs[i], strlen(evs[i]), NULL, 0, -1, 0};
    ASSERT_EQ(P->decode_event(st, &ev, &sink), i == 3 ? LLMRT__STREAM_DONE : 0);
  }
  ASSERT_STR_EQ(r.log.data,
                "START\nTEXT Hi\nTEXT  there\nFINISH stop\nUSAGE in=0 out=3 cached=0\n");
  free(st);
  rec_free(&r);
}

static void test_bad_events(void) {
  static const char
      *bad[] =
          {
              "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
              "\"text\":"
              "\"x}}",
              "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}"
              "}", /* no
                      index
                    */
              "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_"
              "delta\"}}",
              "[\"message_start\"]",
          };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    llmrt__pstate_t *st = malloc(sizeof *st);
    llmrt__pstate_init(st);
    rec_t r;
    rec_init(&r);
    llmrt__sink_t sink = rec_sink(&r);
    llmrt__sse_event_t ev = {"content_block_delta", 19, bad[i], strlen(bad[i]), NULL, 0, -1, 0};
    int rc = P->decode_event(st, &ev, &sink);
    if (rc != LLMRT_EBADRESPONSE) TEST_FAIL_("%s: got %d", bad[i], rc);
    free(st);
    rec_free(&r);
  }
}

static void test_response(void) {
  size_t len;
  char *body = read_data("anthropic_response.json", &len);
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_EQ(P->decode_response(body, len, &sink), 0);
  ASSERT_STR_EQ(r.thinking.data, "The user wants weather.");
  ASSERT_STR_EQ(r.text.data, "I'll check the weather in Paris. \u00e9\U0001F600");
  ASSERT_STR_EQ(r.tool_id[0], "toolu_01A09q90qw90lq917835lq9");
  ASSERT_STR_EQ(r.tool_name[0], "get_weather");
  /* The input object as it stood in the body; it parses to the same object. */
  cJSON *args = cJSON_Parse(r.args[0].data);
  ASSERT(args != NULL);
  ASSERT_STR_EQ(cJSON_GetObjectItem(args, "location")->valuestring, "Paris, France");
  ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(args, "days")), 2);
  cJSON_Delete(args);
  ASSERT_EQ(r.in, 3095);
  ASSERT_EQ(r.cached, 1000);
  ASSERT_EQ(r.out, 503);
  ASSERT_STR_EQ(r.finish, "tool_calls");
  ASSERT_STR_EQ(r.model, "claude-sonnet-4-20250514");
  ASSERT_STR_EQ(r.id, "msg_01XFDUDYJgAACzvnptvVoYEL");
  ASSERT_CONTAINS(r.log.data, "START\nTHINKING The user");
  ASSERT_CONTAINS(r.log.data, "USAGE in=3095 out=503 cached=1000\nFINISH tool_calls\n");
  rec_free(&r);
  free(body);

  rec_init(&r);
  sink = rec_sink(&r);
  const char *bad = "{\"id\":\"msg\",\"type\":\"message\"}";
  ASSERT_ERR(P->decode_response(bad, strlen(bad), &sink), LLMRT_EBADRESPONSE);
  const char *unknown_stop = "{\"content\":[],\"stop_reason\":\"pause_turn\"}";
  ASSERT_EQ(P->decode_response(unknown_stop, strlen(unknown_stop), &sink), 0);
  ASSERT_STR_EQ(r.finish, "pause_turn"); /* unknown reasons are kept */
  rec_free(&r);
}

static void err_case(int status, const char *body, int want, const char *type, const char *msg) {
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_ERR(P->decode_error(status, body, strlen(body), &sink), want);
  ASSERT_STR_EQ(r.err_type, type);
  ASSERT_STR_EQ(r.err_msg, msg);
  rec_free(&r);
}

static void test_errors(void) {
  err_case(401,
           "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid "
           "x-api-key\"}}",
           LLMRT_EAUTH, "authentication_error", "invalid x-api-key");
  err_case(429,
           "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of "
           "request tokens has exceeded your per-minute rate limit\"}}",
           LLMRT_ERATELIMIT, "rate_limit_error",
           "Number of request tokens has exceeded your per-minute rate limit");
  err_case(
      529,
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
      LLMRT_EOVERLOADED, "overloaded_error", "Overloaded");
  /* The overload type counts even under another status. */
  err_case(
      500,
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
      LLMRT_EOVERLOADED, "overloaded_error", "Overloaded");
  err_case(400,
           "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"max_"
           "tokens: Field required\"},\"request_id\":\"req_011\"}",
           LLMRT_EUPSTREAM, "invalid_request_error", "max_tokens: Field required");
  err_case(413, "request_too_large", LLMRT_EUPSTREAM, "", "request_too_large");
}

/* ---- Encoding ---- */

static cJSON *encode(const llmrt_request_t *req) {
  llmrt__buf_t b;
  char err[160];
  llmrt__buf_init(&b);
  int rc = P->encode(req, &b, err, sizeof err);
  if (rc) TEST_FAIL_("encode: %s (%s)", llmrt_err_name(rc), err);
  cJSON *j = cJSON_ParseWithLength(b.data, b.len);
  if (!j) TEST_FAIL_("not JSON: %s", b.data);
  llmrt__buf_free(&b);
  return j;
}

static void test_encode(void) {
  llmrt_message_t msgs[] = {
      {0, "system", "You are terse.", 0, NULL, NULL, NULL, NULL, 0},
      {0, "user", "Weather in Paris and the time? \xe4\xbd\xa0\xe5\xa5\xbd \"q\"", 0, "bob", NULL,
       NULL, NULL, 0},
      {0, "assistant", "Checking.", 0, NULL, NULL, NULL, NULL, 0},
      {0, "tool", "{\"temp\":21}", 0, NULL, "toolu_1", NULL, NULL, 0},
      {0, "tool", "12:00", 0, NULL, "toolu_2", NULL, NULL, 0},
      {0, "system", "Answer in French.", 0, NULL, NULL, NULL, NULL, 0},
      {0, "user", "Thanks", 0, NULL, NULL, NULL, NULL, 0},
  };
  const char *stops[] = {"\n\nHuman:"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "claude-sonnet-4-20250514";
  req.messages = msgs;
  req.n_messages = 7;
  req.temperature = 0.25;
  req.stop = stops;
  req.n_stop = 1;
  req.has_seed = 1;
  req.seed = 7;
  req.stream = 1;
  cJSON *j = encode(&req);
  ASSERT_STR_EQ(cJSON_GetObjectItem(j, "model")->valuestring, "claude-sonnet-4-20250514");
  ASSERT_STR_EQ(cJSON_GetObjectItem(j, "system")->valuestring,
                "You are terse.\n\nAnswer in French.");
  ASSERT_EQ(cJSON_GetObjectItem(j, "max_tokens")->valueint, 1024); /* required: default */
  ASSERT(cJSON_GetObjectItem(j, "temperature")->valuedouble == 0.25);
  ASSERT(cJSON_GetObjectItem(j, "top_p") == NULL);
  ASSERT(cJSON_GetObjectItem(j, "seed") == NULL);
  ASSERT(cJSON_GetObjectItem(j, "stream_options") == NULL);
  ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
  ASSERT_STR_EQ(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "stop_sequences"), 0)->valuestring,
                "\n\nHuman:");
  cJSON *m = cJSON_GetObjectItem(j, "messages");
  ASSERT_EQ(cJSON_GetArraySize(m), 4); /* user, assistant, user(tool results), user */
  cJSON *u = cJSON_GetArrayItem(m, 0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(u, "role")->valuestring, "user");
  ASSERT_STR_EQ(cJSON_GetObjectItem(u, "content")->valuestring,
                "Weather in Paris and the time? \xe4\xbd\xa0\xe5\xa5\xbd \"q\"");
  ASSERT(cJSON_GetObjectItem(u, "name") == NULL);
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "role")->valuestring, "assistant");
  cJSON *tr = cJSON_GetArrayItem(m, 2);
  ASSERT_STR_EQ(cJSON_GetObjectItem(tr, "role")->valuestring, "user");
  cJSON *blocks = cJSON_GetObjectItem(tr, "content");
  ASSERT_EQ(cJSON_GetArraySize(blocks), 2);
  cJSON *b1 = cJSON_GetArrayItem(blocks, 1);
  ASSERT_STR_EQ(cJSON_GetObjectItem(b1, "type")->valuestring, "tool_result");
  ASSERT_STR_EQ(cJSON_GetObjectItem(b1, "tool_use_id")->valuestring, "toolu_2");
  ASSERT_STR_EQ(cJSON_GetObjectItem(b1, "content")->valuestring, "12:00");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 3), "content")->valuestring, "Thanks");
  cJSON_Delete(j);

  /* A tool result last; explicit max_tokens; extra_json overrides and adds. */
  req.messages = msgs + 1;
  req.n_messages = 3;
  req.max_tokens = 64;
  req.stream = 0;
  req.extra_json =
      "{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048},\"max_tokens\":4096,"
      "\"metadata\":{\"user_id\":\"u1\"}}";
  j = encode(&req);
  ASSERT(cJSON_GetObjectItem(j, "system") == NULL);
  ASSERT_EQ(cJSON_GetObjectItem(j, "max_tokens")->valueint, 4096);
  ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "thinking"), "budget_tokens")->valueint,
            2048);
  ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(j, "stream")));
  m = cJSON_GetObjectItem(j, "messages");
  ASSERT_EQ(cJSON_GetArraySize(m), 3);
  ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 2), "content")), 1);
  cJSON_Delete(j);

  /* Refusals with a message. */
  llmrt__buf_t b;
  char err[160];
  llmrt__buf_init(&b);
  req.extra_json = "{\"a\":";
  ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
  ASSERT_CONTAINS(err, "extra_json");
  req.extra_json = NULL;
  llmrt_message_t bad_tool = {0, "tool", "x", 0, NULL, NULL, NULL, NULL, 0};
  req.messages = &bad_tool;
  req.n_messages = 1;
  ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
  ASSERT_CONTAINS(err, "tool_call_id");
  llmrt_message_t bad_role = {0, "narrator", "x", 0, NULL, NULL, NULL, NULL, 0};
  req.messages = &bad_role;
  ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
  ASSERT_CONTAINS(err, "narrator");
  ASSERT_EQ(b.len, 0);
  llmrt__buf_free(&b);
}

static void test_encode_tool_turns(void) {
  /* The assistant's call becomes a tool_use block with its arguments as an
   * object, after its text; the tool's answer a tool_result block. */
  llmrt_message_t msgs[] = {
      {.role = "user", .content = "Weather in Paris?"},
      {.role = "assistant",
       .content = "Let me check.",
       .tool_calls_json = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_"
                          "weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]"},
      {.role = "tool", .content = "{\"temp\":21}", .tool_call_id = "call_1"},
  };
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = msgs;
  req.n_messages = 3;
  cJSON *j = encode(&req);
  cJSON *m = cJSON_GetObjectItem(j, "messages");
  cJSON *content = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "content");
  ASSERT_EQ(cJSON_GetArraySize(content), 2);
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(content, 0), "text")->valuestring,
                "Let me check.");
  cJSON *use = cJSON_GetArrayItem(content, 1);
  ASSERT_STR_EQ(cJSON_GetObjectItem(use, "type")->valuestring, "tool_use");
  ASSERT_STR_EQ(cJSON_GetObjectItem(use, "id")->valuestring, "call_1");
  ASSERT_STR_EQ(cJSON_GetObjectItem(use, "name")->valuestring, "get_weather");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(use, "input"), "city")->valuestring,
                "Paris");
  cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 2), "content"), 0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(res, "tool_use_id")->valuestring, "call_1");
  cJSON_Delete(j);
  /* Arguments that are not a JSON object: refused, naming the place. */
  msgs[1].tool_calls_json =
      "[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"not json\"}}]";
  llmrt__buf_t b;
  char err[200];
  llmrt__buf_init(&b);
  ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
  ASSERT_CONTAINS(err, "messages[1].tool_calls_json[0].function.arguments");
  llmrt__buf_free(&b);
}

int main(void) {
  P = llmrt__provider_find("anthropic");
  RUN_TEST(test_provider);
  RUN_TEST(test_streams);
  RUN_TEST(test_error_event);
  RUN_TEST(test_no_message_start);
  RUN_TEST(test_bad_events);
  RUN_TEST(test_response);
  RUN_TEST(test_errors);
  RUN_TEST(test_encode);
  RUN_TEST(test_encode_tool_turns);
  return 0;
}
