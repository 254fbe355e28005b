/* OpenAI adapter: recorded streams (whole, bytewise, random slices), full
 * responses, request bodies checked with cJSON, error bodies, bad input. */
#include <cjson/cJSON.h>
#include <math.h>

#include "llm_fixture.h"

static const llmrt__provider_t *P;

static void test_find(void) {
  ASSERT(llmrt__provider_find("openai") == &llmrt__provider_openai);
  ASSERT(llmrt__provider_find("anthropic") == &llmrt__provider_anthropic);
  ASSERT(llmrt__provider_find("gemini") == NULL);
  ASSERT(llmrt__provider_find(NULL) == NULL);
  ASSERT_STR_EQ(P->path, "/chat/completions");
  ASSERT_STR_EQ(P->auth_header, "Authorization");
  ASSERT_STR_EQ(P->auth_prefix, "Bearer ");
}

/* The recorded streams. Unset fields are not checked; every field a case
 * sets is. */
static const transcript_case_t streams[] = {
    {.file = "openai_stream_text.sse",
     .rc = LLMRT__STREAM_DONE,
     .text = "Hello! How can I help you today?\n\nQuotes \"x\" and \\ backslash; "
             "caf\u00e9 \u2014 \u4f60\u597d \U0001F600",
     .finish = "stop",
     .n_start = 1,
     .n_finish = 1,
     .n_usage = 1,
     .in = 19,
     .out = 11,
     .cached = 0,
     .model = "gpt-4o-mini-2024-07-18",
     .id = "chatcmpl-9xQeT2pQbG1vA7kqZ3aHnE8fLmR4",
     .n_text = 11, /* the empty role chunk gives no TEXT */
     /* Order: meta and START first, FINISH before the usage chunk. */
     .log_prefix = "META 1 gpt-4o-mini",
     .log_has = {"FINISH stop\nUSAGE in=19 out=11 cached=0\n"}},
    {.file = "openai_stream_escaped.sse",
     .rc = LLMRT__STREAM_DONE,
     .text = "caf\u00e9 \u4f60\u597d\uff0c\u4e16\u754c \U0001F600\U0001F680 tab\tnl\nq\"b\\s/",
     .finish = "length",
     .in = 5,
     .out = 9,
     .cached = CHECK_ANY,
     .n_start = -1,
     .n_finish = -1,
     .n_usage = -1,
     .n_text = -1},
    {.file = "openai_stream_tools.sse",
     .rc = LLMRT__STREAM_DONE,
     .tool = {{"call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", "{\"location\":\"Paris, France\"}"},
              {"call_ABqs8yVkKE3jPPyDmhX1", "get_time", "{\"tz\":\"Europe/Paris\"}"}},
     .finish = "tool_calls",
     .text = "",
     .in = 82,
     .cached = 64,
     .out = CHECK_ANY,
     .n_start = -1,
     .n_finish = -1,
     .n_usage = -1,
     .n_text = -1,
     /* The first fragment carries id and name with empty arguments. */
     .log_has = {"TOOL_CALL 0 id=call_DdmO9pD3xa9XTPNJ32zg2hcA name=get_weather \n",
                 "TOOL_CALL 0 id=- name=- location\n"}},
    {.file = "openai_stream_reasoning.sse",
     .rc = LLMRT__STREAM_DONE,
     .thinking = "Let me think.",
     .text = "The answer is 4.",
     .finish = "stop",
     .cached = 8, /* usage on the finish chunk itself */
     .out = 20,
     .in = CHECK_ANY,
     .n_start = -1,
     .n_finish = -1,
     .n_usage = -1,
     .n_text = -1},
    {.file = "openai_stream_error.sse",
     .rc = LLMRT_EUPSTREAM,
     .text = "Partial answer",
     .err_type = "server_error",
     .err_msg_has = "The server had an error",
     .n_finish = 0,
     .in = CHECK_ANY,
     .out = CHECK_ANY,
     .cached = CHECK_ANY,
     .n_start = -1,
     .n_usage = -1,
     .n_text = -1},
    /* Deltas cut inside characters (byte-level tokens) and a surrogate pair
     * cut between two chunks: no delta may end or start inside a character. */
    {.file = "openai_stream_zh_split.sse",
     .rc = LLMRT__STREAM_DONE,
     .text = "你好，世界！这是一个测试。Mixed 中文 and ASCII，结束。\U0001F600 ok \uFFFDx",
     .finish = "stop",
     .out = 30,
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

/* Feeds one data payload to a decoder state. */
static int one(llmrt__pstate_t *st, const char *data, rec_t *r) {
  llmrt__sse_event_t ev = {"message", 7, data, strlen(data), NULL, 0, -1, 0};
  llmrt__sink_t sink = rec_sink(r);
  return P->decode_event(st, &ev, &sink);
}

#define FFFD "\xEF\xBF\xBD"

static void test_invalid_utf8_and_flush(void) {
  llmrt__pstate_t *st = malloc(sizeof *st);
  rec_t r;
  ASSERT(st != NULL);
  llmrt__pstate_init(st);
  rec_init(&r); /* not lax: every delta must be valid UTF-8 */
  /* Invalid bytes become U+FFFD (one per byte, as the request writer does);
   * an incomplete tail waits for the next delta. */
  ASSERT_EQ(one(st, "{\"choices\":[{\"delta\":{\"content\":\"\xff\xfe ok \xe4\xbd\"}}]}", &r), 0);
  ASSERT_STR_EQ(r.text.data, FFFD FFFD " ok ");
  /* The other kind of text comes: the held bytes can no longer become a
   * character and go out as U+FFFD. */
  ASSERT_EQ(one(st, "{\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}", &r), 0);
  ASSERT_STR_EQ(r.text.data, FFFD FFFD " ok " FFFD FFFD);
  ASSERT_STR_EQ(r.thinking.data, "hm");
  /* A tail held at [DONE] is flushed before the end. */
  ASSERT_EQ(one(st, "{\"choices\":[{\"delta\":{\"content\":\"\xf0\x9f\"}}]}", &r), 0);
  ASSERT_STR_EQ(r.text.data, FFFD FFFD " ok " FFFD FFFD);
  ASSERT_EQ(one(st, " [DONE] ", &r), LLMRT__STREAM_DONE);
  ASSERT_STR_EQ(r.text.data, FFFD FFFD " ok " FFFD FFFD FFFD FFFD);
  ASSERT_EQ(one(st, "{\"choices\":[]}", &r), LLMRT__STREAM_DONE); /* after the end */
  rec_free(&r);
  free(st);
}

static void test_malformed(void) {
  static const char *bad[] = {
      "{\"choices\":[{\"delta\":{\"content\":\"abc}}]}",    /* unterminated string */
      "{\"choices\":[{\"delta\":{\"content\":\"abc\"}}]",   /* truncated */
      "{\"choices\":[{\"delta\":{\"content\":\"a\\x\"}}]}", /* bad escape */
      "{\"choices\":[{\"delta\":{\"content\":\"a\\u12\"}}]}",
      "{\"a\":01}",
      "{\"a\":1.}",
      "{\"a\":tru}",
      "{\"a\" 1}",
      "{\"a\":1,}",
      "[1,]",
      "{1:2}",
      "{\"a\":1}}",
      "{\"a\":1} x",
      "not json",
      "{\"a\":\"tab\there\"}",
      "\"just a string\"",
      "[]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    llmrt__pstate_t *st = malloc(sizeof *st);
    rec_t r;
    llmrt__pstate_init(st);
    rec_init(&r);
    int rc = one(st, bad[i], &r);
    if (rc != LLMRT_EBADRESPONSE) TEST_FAIL_("%s: got %d", bad[i], rc);
    ASSERT_EQ(r.n_events, 0);
    rec_free(&r);
    free(st);
  }
  /* Deep nesting is refused, not a stack overflow. */
  char deep[600];
  memset(deep, '[', 300);
  memset(deep + 300, ']', 300);
  llmrt__sse_event_t ev = {"message", 7, deep, sizeof deep, NULL, 0, -1, 0};
  llmrt__pstate_t *st = malloc(sizeof *st);
  rec_t r;
  llmrt__sink_t sink = rec_sink(&r);
  rec_init(&r);
  llmrt__pstate_init(st);
  ASSERT_ERR(P->decode_event(st, &ev, &sink), LLMRT_EBADRESPONSE);
  ASSERT_ERR(P->decode_response("{\"choices\":", 11, &sink), LLMRT_EBADRESPONSE);
  ASSERT_ERR(P->decode_response("{\"object\":\"list\"}", 17, &sink), LLMRT_EBADRESPONSE);
  rec_free(&r);
  free(st);
}

static void test_big_chunk(void) {
  /* A chunk with more values than the stack token array and a string longer
   * than pstate.scratch (the whole arguments in one chunk, as some servers do). */
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  llmrt__buf_puts(
      &b, "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\","
          "\"function\":{\"name\":\"f\",\"arguments\":\"[");
  for (int i = 0; i < 3000; i++)
    llmrt__buf_printf(&b, "%s\\\"v%d\\\"", i ? "," : "", i);
  llmrt__buf_puts(&b, "]\"}}]},\"logprobs\":{\"content\":[");
  for (int i = 0; i < 400; i++)
    llmrt__buf_printf(&b, "%s{\"token\":\"t\",\"logprob\":-0.5}", i ? "," : "");
  llmrt__buf_puts(&b, "]}}]}");
  llmrt__pstate_t *st = malloc(sizeof *st);
  rec_t r;
  rec_init(&r);
  llmrt__pstate_init(st);
  ASSERT_EQ(one(st, b.data, &r), 0);
  ASSERT_STR_EQ(r.tool_id[0], "c1");
  ASSERT_GE(r.args[0].len, 8192);
  ASSERT(strncmp(r.args[0].data, "[\"v0\",\"v1\",", 11) == 0);
  ASSERT_CONTAINS(r.args[0].data, ",\"v2999\"]");
  rec_free(&r);
  free(st);
  llmrt__buf_free(&b);
}

static void test_response(void) {
  size_t len;
  char *body = read_data("openai_response.json", &len);
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_EQ(P->decode_response(body, len, &sink), 0);
  ASSERT_STR_EQ(r.text.data, "Hello! How can I assist you today? \u4f60\u597d\U0001F600");
  ASSERT_EQ(r.n_text, 1);
  ASSERT_STR_EQ(r.model, "gpt-4.1-2025-04-14");
  ASSERT_STR_EQ(r.id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT");
  ASSERT_EQ(r.in, 19);
  ASSERT_EQ(r.out, 10);
  ASSERT_EQ(r.cached, 3);
  ASSERT_STR_EQ(r.finish, "stop");
  /* START first, USAGE then FINISH last. */
  ASSERT_CONTAINS(r.log.data, "START\nTEXT Hello");
  ASSERT_CONTAINS(r.log.data, "USAGE in=19 out=10 cached=3\nFINISH stop\n");
  rec_free(&r);
  free(body);

  body = read_data("openai_response_tools.json", &len);
  rec_init(&r);
  sink = rec_sink(&r);
  ASSERT_EQ(P->decode_response(body, len, &sink), 0);
  ASSERT_EQ(r.n_text, 0);
  ASSERT_STR_EQ(r.tool_id[1], "call_67890abc");
  ASSERT_STR_EQ(r.tool_name[0], "get_weather");
  ASSERT_STR_EQ(r.args[0].data, "{\"location\":\"Paris, France\"}");
  ASSERT_STR_EQ(r.args[1].data, "{\"tz\":\"Europe/Paris\"}");
  ASSERT_STR_EQ(r.finish, "tool_calls");
  rec_free(&r);
  free(body);

  /* A 200 body holding an error object. */
  rec_init(&r);
  sink = rec_sink(&r);
  const char *e = "{\"error\":{\"message\":\"busy\",\"type\":\"overloaded_error\"}}";
  ASSERT_ERR(P->decode_response(e, strlen(e), &sink), LLMRT_EOVERLOADED);
  ASSERT_STR_EQ(r.err_msg, "busy");
  rec_free(&r);
}

static int stop_at_start(void *user, const llmrt_event_t *ev) {
  (*(int *)user)++;
  return ev->type == LLMRT_EV_START ? 5 : 0;
}

static void test_sink_stops(void) {
  /* A nonzero return from on_event stops decoding and is returned. */
  size_t len;
  char *body = read_data("openai_response.json", &len);
  int n = 0;
  llmrt__sink_t sink = {&n, stop_at_start, NULL};
  ASSERT_EQ(P->decode_response(body, len, &sink), 5);
  ASSERT_EQ(n, 1);
  llmrt__pstate_t *st = malloc(sizeof *st);
  llmrt__pstate_init(st);
  const char *chunk = "{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}";
  llmrt__sse_event_t ev = {"message", 7, chunk, strlen(chunk), NULL, 0, -1, 0};
  ASSERT_EQ(P->decode_event(st, &ev, &sink), 5);
  ASSERT_EQ(n, 2);
  /* NULL callbacks are fine. */
  llmrt__sink_t none = {NULL, NULL, NULL};
  ASSERT_EQ(P->decode_response(body, len, &none), 0);
  free(st);
  free(body);
}

static void err_case(int status, const char *body, int want, const char *type, const char *msg) {
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_ERR(P->decode_error(status, body, body ? strlen(body) : 0, &sink), want);
  ASSERT_STR_EQ(r.err_type, type);
  ASSERT_STR_EQ(r.err_msg, msg);
  rec_free(&r);
}

static void test_errors(void) {
  err_case(401,
           "{\"error\":{\"message\":\"Incorrect API key provided: sk-abc***\",\"type\":"
           "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}",
           LLMRT_EAUTH, "invalid_request_error", "Incorrect API key provided: sk-abc***");
  err_case(403, "{\"error\":{\"message\":\"no\",\"type\":\"permission_error\"}}", LLMRT_EAUTH,
           "permission_error", "no");
  err_case(429,
           "{\"error\":{\"message\":\"Rate limit reached for gpt-4o\",\"type\":\"requests\","
           "\"param\":null,\"code\":\"rate_limit_exceeded\"}}",
           LLMRT_ERATELIMIT, "requests", "Rate limit reached for gpt-4o");
  err_case(503,
           "{\"error\":{\"message\":\"The engine is currently overloaded\",\"type\":null,"
           "\"code\":\"engine_overloaded\"}}",
           LLMRT_EOVERLOADED, "engine_overloaded", "The engine is currently overloaded");
  err_case(400,
           "{\"error\":{\"message\":\"bad \\\"model\\\"\",\"type\":\"invalid_request_error\"}}",
           LLMRT_EUPSTREAM, "invalid_request_error", "bad \"model\"");
  err_case(500, "{\"error\":\"plain string error\"}", LLMRT_EUPSTREAM, "", "plain string error");
  err_case(422, "{\"detail\":\"Field required\"}", LLMRT_EUPSTREAM, "", "Field required");
  err_case(502, "<html><body><h1>502 Bad Gateway</h1></body></html>\n", LLMRT_EUPSTREAM, "",
           "<html><body><h1>502 Bad Gateway</h1></body></html>");
  err_case(500, "", LLMRT_EUPSTREAM, "", "HTTP status 500 with an empty body");
  err_case(500, NULL, LLMRT_EUPSTREAM, "", "HTTP status 500 with an empty body");
  /* Long non-JSON bodies: 200 bytes, not cut inside a character. */
  char big[400];
  memset(big, 'a', 199);
  strcpy(big + 199, "\xe4\xbd\xa0 and more text that is not shown");
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_ERR(P->decode_error(500, big, strlen(big), &sink), LLMRT_EUPSTREAM);
  ASSERT_EQ(strlen(r.err_msg), 199);
  rec_free(&r);
}

/* ---- Encoding ---- */

static cJSON *encode(const llmrt_request_t *req) {
  llmrt__buf_t b;
  char err[128];
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
      {0, "system", "Be terse.", 0, NULL, NULL, NULL, NULL, 0},
      {0, "user",
       "Quote \" backslash \\ newline\n tab\t ctl\x01 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 "
       "bad\xff",
       0, "alice", NULL, NULL, NULL, 0},
      {0, "assistant", NULL, 0, NULL, NULL, NULL, NULL, 0},
      {0, "tool", "{\"temp\":21}", 0, NULL, "call_1", NULL, NULL, 0},
      {0, "user", "lenXXXX", 3, NULL, NULL, NULL, NULL, 0},
  };
  const char *stops[] = {"END", "\n\n"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "gpt-4o-mini";
  req.messages = msgs;
  req.n_messages = 5;
  req.max_tokens = 256;
  req.temperature = 0.7;
  req.top_p = 0.1;
  req.stop = stops;
  req.n_stop = 2;
  req.seed = -42;
  req.has_seed = 1;
  req.stream = 1;
  cJSON *j = encode(&req);
  ASSERT_STR_EQ(cJSON_GetObjectItem(j, "model")->valuestring, "gpt-4o-mini");
  ASSERT_EQ(cJSON_GetObjectItem(j, "max_tokens")->valueint, 256);
  ASSERT(cJSON_GetObjectItem(j, "temperature")->valuedouble == 0.7);
  ASSERT(cJSON_GetObjectItem(j, "top_p")->valuedouble == 0.1);
  ASSERT_EQ(cJSON_GetObjectItem(j, "seed")->valuedouble, -42);
  ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
  ASSERT(
      cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "stream_options"), "include_usage")));
  cJSON *stop = cJSON_GetObjectItem(j, "stop");
  ASSERT_EQ(cJSON_GetArraySize(stop), 2);
  ASSERT_STR_EQ(cJSON_GetArrayItem(stop, 1)->valuestring, "\n\n");
  cJSON *m = cJSON_GetObjectItem(j, "messages");
  ASSERT_EQ(cJSON_GetArraySize(m), 5);
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "role")->valuestring, "system");
  cJSON *u = cJSON_GetArrayItem(m, 1);
  ASSERT_STR_EQ(cJSON_GetObjectItem(u, "content")->valuestring,
                "Quote \" backslash \\ newline\n tab\t ctl\x01 \xe4\xbd\xa0\xe5\xa5\xbd "
                "\xf0\x9f\x98\x80 bad\xef\xbf\xbd");
  ASSERT_STR_EQ(cJSON_GetObjectItem(u, "name")->valuestring, "alice");
  ASSERT(cJSON_GetObjectItem(u, "tool_call_id") == NULL);
  ASSERT(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 2), "content")));
  cJSON *t = cJSON_GetArrayItem(m, 3);
  ASSERT_STR_EQ(cJSON_GetObjectItem(t, "role")->valuestring, "tool");
  ASSERT_STR_EQ(cJSON_GetObjectItem(t, "tool_call_id")->valuestring, "call_1");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 4), "content")->valuestring, "len");
  cJSON_Delete(j);

  /* Unset options are absent; a non-stream request has no stream_options. */
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = msgs + 1;
  req.n_messages = 1;
  j = encode(&req);
  ASSERT(cJSON_GetObjectItem(j, "max_tokens") == NULL);
  ASSERT(cJSON_GetObjectItem(j, "temperature") == NULL);
  ASSERT(cJSON_GetObjectItem(j, "top_p") == NULL);
  ASSERT(cJSON_GetObjectItem(j, "stop") == NULL);
  ASSERT(cJSON_GetObjectItem(j, "seed") == NULL);
  ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(j, "stream")));
  ASSERT(cJSON_GetObjectItem(j, "stream_options") == NULL);
  cJSON_Delete(j);

  /* temperature 0 is a value, not "unset". */
  req.temperature = 0;
  j = encode(&req);
  ASSERT(cJSON_GetObjectItem(j, "temperature")->valuedouble == 0);
  cJSON_Delete(j);
}

static void test_extra_json(void) {
  llmrt_message_t msg = {0, "user", "hi", 0, NULL, NULL, NULL, NULL, 0};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "gpt-4o";
  req.messages = &msg;
  req.n_messages = 1;
  req.max_tokens = 10;
  req.stream = 1;
  req.extra_json = " {\"max_tokens\": 99, \"response_format\": {\"type\": \"json_object\"},"
                   " \"user\": \"u\\u00e9\", \"x\": 1, \"x\": 2, \"stream_options\": null} ";
  cJSON *j = encode(&req);
  ASSERT_EQ(cJSON_GetObjectItem(j, "max_tokens")->valueint, 99);
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "response_format"), "type")->valuestring,
                "json_object");
  ASSERT_STR_EQ(cJSON_GetObjectItem(j, "user")->valuestring, "u\u00e9");
  ASSERT(cJSON_IsNull(cJSON_GetObjectItem(j, "stream_options")));
  ASSERT_EQ(cJSON_GetObjectItem(j, "x")->valueint, 2);
  /* Each key appears once in the body. */
  int n = 0;
  for (cJSON *c = j->child; c; c = c->next)
    n += strcmp(c->string, "max_tokens") == 0 || strcmp(c->string, "x") == 0;
  ASSERT_EQ(n, 2);
  cJSON_Delete(j);

  static const char *bad[] = {"[1,2]", "{\"a\":}", "{\"a\":1", "\"str\"", "{} {}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    llmrt__buf_t b;
    char err[128] = "";
    llmrt__buf_init(&b);
    req.extra_json = bad[i];
    ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
    ASSERT_CONTAINS(err, "extra_json");
    ASSERT_EQ(b.len, 0);
    llmrt__buf_free(&b);
  }
  /* Other invalid requests. */
  llmrt__buf_t b;
  char err[128];
  llmrt__buf_init(&b);
  req.extra_json = NULL;
  req.temperature = INFINITY;
  ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
  ASSERT_CONTAINS(err, "temperature");
  req.temperature = -1;
  req.model = NULL;
  ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
  ASSERT_CONTAINS(err, "model");
  req.model = "m";
  req.n_messages = 0;
  ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
  ASSERT_EQ(b.len, 0);
  llmrt__buf_free(&b);
}

static void test_encode_tool_turns(void) {
  /* A whole tool loop: the assistant's call goes back as tool_calls (with
   * null content), then the tool's answer. */
  llmrt_message_t msgs[] = {
      {.role = "user", .content = "Weather in Paris?"},
      {.role = "assistant",
       .content = "",
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
  cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 1);
  ASSERT(cJSON_IsNull(cJSON_GetObjectItem(a, "content")));
  cJSON *call = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "tool_calls"), 0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(call, "id")->valuestring, "call_1");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(call, "function"), "name")->valuestring,
                "get_weather");
  cJSON_Delete(j);
  /* Not an array: refused with the message index. */
  msgs[1].tool_calls_json = "{\"id\":1}";
  llmrt__buf_t b;
  char err[160];
  llmrt__buf_init(&b);
  ASSERT_ERR(P->encode(&req, &b, err, sizeof err), LLMRT_EINVAL);
  ASSERT_CONTAINS(err, "messages[1].tool_calls_json");
  llmrt__buf_free(&b);
}

int main(void) {
  P = llmrt__provider_find("openai");
  RUN_TEST(test_find);
  RUN_TEST(test_streams);
  RUN_TEST(test_invalid_utf8_and_flush);
  RUN_TEST(test_malformed);
  RUN_TEST(test_big_chunk);
  RUN_TEST(test_response);
  RUN_TEST(test_sink_stops);
  RUN_TEST(test_errors);
  RUN_TEST(test_encode);
  RUN_TEST(test_extra_json);
  RUN_TEST(test_encode_tool_turns);
  return 0;
}
