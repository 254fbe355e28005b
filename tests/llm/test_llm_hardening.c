/* Hostile and broken inputs at the protocol layer, both providers: a caller's
 * tool_calls_json that would smuggle keys or invalid JSON into the body,
 * token counts out of range, Anthropic streams with many content blocks,
 * extra_json keys that are duplicates only once decoded, and error bodies
 * full of control characters and invalid UTF-8. */
#include <cjson/cJSON.h>

#include "llm_fixture.h"

static const llmrt__provider_t *OA, *AN;

/* ---- A: tool_calls_json is checked strictly and re-encoded ---- */

/* Encodes req; on success the body must be valid JSON by cJSON's reading
 * and by a strict reading (nothing after the value). */
static int encode(const llmrt__provider_t *p, const llmrt_request_t *req, llmrt__buf_t *out,
                  char *err, size_t errlen) {
  llmrt__buf_init(out);
  int rc = p->encode(req, out, err, errlen);
  if (rc == 0) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(out->data, out->len, &end, 0);
    if (!j || end != out->data + out->len)
      TEST_FAIL_("%s: not one JSON value: %s", p->name, out->data);
    cJSON_Delete(j);
  } else {
    ASSERT_EQ(out->len, 0);
  }
  return rc;
}

static void one_msg_request(llmrt_request_t *req, llmrt_message_t *msgs) {
  llmrt_request_init(req);
  req->model = "m";
  req->messages = msgs;
  req->n_messages = 2;
}

static void test_tool_calls_strict(void) {
  static const char *bad[] = {
      "[] , \"evil\": 1",                                    /* trailing text: injects a key */
      "[]]",                                                 /* trailing bracket */
      "[{\"id\":\"a\nb\",\"function\":{\"name\":\"f\"}}]",   /* raw newline in a string */
      "[{\"id\":\"c\",\"function\":{\"name\":\"f\"}}] junk", /* trailing word */
      "{\"id\":1}",                                          /* not an array */
      "",
  };
  llmrt_message_t msgs[2] = {{.role = "user", .content = "q"},
                             {.role = "assistant", .content = "x"}};
  llmrt_request_t req;
  one_msg_request(&req, msgs);
  const llmrt__provider_t *ps[2] = {OA, AN};
  for (int p = 0; p < 2; p++) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      llmrt__buf_t b;
      char err[200] = "";
      msgs[1].tool_calls_json = bad[i];
      int rc = encode(ps[p], &req, &b, err, sizeof err);
      if (rc != LLMRT_EINVAL)
        TEST_FAIL_("%s accepted tool_calls_json %s: %s", ps[p]->name, bad[i], b.data);
      ASSERT_CONTAINS(err, "messages[1].tool_calls_json");
      llmrt__buf_free(&b);
    }
  }
}

static void test_tool_calls_reencoded(void) {
  /* Pretty-printed, with an invalid UTF-8 byte, a lone surrogate escape and
   * an integer no double holds: the body gets valid, compact JSON with the
   * number as written. */
  llmrt_message_t msgs[2] = {
      {.role = "user", .content = "q"},
      {.role = "assistant",
       .content = "",
       .tool_calls_json = "[\n  {\"id\": \"call_\xff\", \"type\": \"function\", \"seq\": "
                          "12345678901234567890,\n   \"function\": {\"name\": \"f\\ud800\", "
                          "\"arguments\": \"{\\\"n\\\": 12345678901234567891}\"}}\n]\n"}};
  llmrt_request_t req;
  one_msg_request(&req, msgs);
  llmrt__buf_t b;
  char err[200];

  ASSERT_EQ(encode(OA, &req, &b, err, sizeof err), 0);
  ASSERT(strchr(b.data, '\n') == NULL);
  ASSERT_CONTAINS(b.data, "\"seq\":12345678901234567890");
  cJSON *j = cJSON_Parse(b.data);
  cJSON *call = cJSON_GetArrayItem(
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 1), "tool_calls"),
      0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(call, "id")->valuestring, "call_\xef\xbf\xbd");
  cJSON *fn = cJSON_GetObjectItem(call, "function");
  ASSERT_STR_EQ(cJSON_GetObjectItem(fn, "name")->valuestring, "f\xef\xbf\xbd");
  ASSERT_STR_EQ(cJSON_GetObjectItem(fn, "arguments")->valuestring, "{\"n\": 12345678901234567891}");
  cJSON_Delete(j);
  llmrt__buf_free(&b);

  ASSERT_EQ(encode(AN, &req, &b, err, sizeof err), 0);
  ASSERT_CONTAINS(b.data, "\"input\":{\"n\":12345678901234567891}");
  j = cJSON_Parse(b.data);
  cJSON *use = cJSON_GetArrayItem(
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 1), "content"), 0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(use, "id")->valuestring, "call_\xef\xbf\xbd");
  ASSERT_STR_EQ(cJSON_GetObjectItem(use, "name")->valuestring, "f\xef\xbf\xbd");
  cJSON_Delete(j);
  llmrt__buf_free(&b);
}

static void test_anthropic_arguments_strict(void) {
  static const char *bad[] = {
      "{\\\"a\\\":1} trailing",     /* trailing text was silently dropped */
      "{\\\"a\\\":1}{\\\"b\\\":2}", /* two objects */
      "{\\\"a\\\":\\\"x\\ny\\\"}",  /* raw newline inside a string */
      "[1]",                        /* not an object */
  };
  llmrt_message_t msgs[2] = {{.role = "user", .content = "q"}, {.role = "assistant"}};
  llmrt_request_t req;
  one_msg_request(&req, msgs);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char tc[256], err[200] = "";
    snprintf(tc, sizeof tc, "[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"%s\"}}]",
             bad[i]);
    msgs[1].tool_calls_json = tc;
    llmrt__buf_t b;
    int rc = encode(AN, &req, &b, err, sizeof err);
    if (rc != LLMRT_EINVAL) TEST_FAIL_("accepted arguments %s: %s", bad[i], b.data);
    ASSERT_CONTAINS(err, "messages[1].tool_calls_json[0].function.arguments");
    llmrt__buf_free(&b);
  }
  /* Arguments given as an object, empty, or absent are fine. */
  static const char *good[] = {
      "[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":{\"a\":[1,{}]}}}]",
      "[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]",
      "[{\"id\":\"c\",\"function\":{\"name\":\"f\"}}]",
      "[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\" {} \"}}]",
  };
  static const char *want[] = {"\"input\":{\"a\":[1,{}]}", "\"input\":{}", "\"input\":{}",
                               "\"input\":{}"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char err[200] = "";
    msgs[1].tool_calls_json = good[i];
    llmrt__buf_t b;
    if (encode(AN, &req, &b, err, sizeof err)) TEST_FAIL_("refused %s: %s", good[i], err);
    ASSERT_CONTAINS(b.data, want[i]);
    llmrt__buf_free(&b);
  }
}

/* ---- B: token counts are non-negative and bounded ---- */

#define TOKENS_MAX ((int64_t)1 << 53)

static void test_usage_range(void) {
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  /* Anthropic adds three counts: two huge ones must not overflow. */
  const char *body = "{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":"
                     "9000000000000000000,\"cache_read_input_tokens\":9000000000000000000,"
                     "\"cache_creation_input_tokens\":1e300,\"output_tokens\":-7}}";
  ASSERT_EQ(AN->decode_response(body, strlen(body), &sink), 0);
  ASSERT_EQ(r.in, TOKENS_MAX);
  ASSERT_EQ(r.cached, TOKENS_MAX);
  ASSERT_EQ(r.out, 0);
  rec_free(&r);

  rec_init(&r);
  sink = rec_sink(&r);
  body = "{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":-5,"
         "\"cache_read_input_tokens\":3,\"output_tokens\":2.9}}";
  ASSERT_EQ(AN->decode_response(body, strlen(body), &sink), 0);
  ASSERT_EQ(r.in, 3);
  ASSERT_EQ(r.cached, 3);
  ASSERT_EQ(r.out, 2);
  rec_free(&r);

  /* OpenAI passed negatives through. */
  const char *chunks =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":"
      "1e3,\"prompt_tokens_details\":{\"cached_tokens\":-1e18}}}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":99999999999999999999,"
      "\"completion_tokens\":\"12\"}}\n\n"
      "data: [DONE]\n\n";
  rec_init(&r);
  ASSERT_EQ(run_stream(OA, chunks, strlen(chunks), 0, &r), LLMRT__STREAM_DONE);
  ASSERT_CONTAINS(r.log.data, "USAGE in=0 out=1000 cached=0\n");
  ASSERT_CONTAINS(r.log.data, "USAGE in=9007199254740992 out=0 cached=0\n");
  rec_free(&r);

  body = "{\"choices\":[],\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":-2}}";
  rec_init(&r);
  sink = rec_sink(&r);
  ASSERT_EQ(OA->decode_response(body, strlen(body), &sink), 0);
  ASSERT_EQ(r.in, 0);
  ASSERT_EQ(r.out, 0);
  rec_free(&r);
}

/* ---- C: Anthropic tool call ordinals past the block table ---- */

typedef struct {
  llmrt__pstate_t st;
  llmrt__sink_t sink;
  uint32_t n_start, n_frag;
  uint32_t start_idx[400], frag_idx[400];
} tools_t;

static int tools_on_event(void *user, const llmrt_event_t *ev) {
  tools_t *t = user;
  if (ev->type != LLMRT_EV_TOOL_CALL) return 0;
  if (ev->id) {
    ASSERT(t->n_start < 400);
    t->start_idx[t->n_start++] = ev->index;
  } else {
    ASSERT(t->n_frag < 400);
    t->frag_idx[t->n_frag++] = ev->index;
  }
  return 0;
}

static int tools_on_sse(void *user, const llmrt__sse_event_t *ev) {
  tools_t *t = user;
  return AN->decode_event(&t->st, ev, &t->sink);
}

static void test_anthropic_many_blocks(void) {
  /* Case 0: 64 text blocks, then a tool_use at block index 64 (past the
   * table). Case 1: 300 tool_use blocks (ordinals past 255). Each tool's
   * start and argument fragments must carry the same ordinal. */
  for (int c = 0; c < 2; c++) {
    llmrt__buf_t s;
    llmrt__buf_init(&s);
    llmrt__buf_puts(&s, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
                        "{\"id\":\"m\",\"model\":\"x\",\"usage\":{\"input_tokens\":1}}}\n\n");
    int ntext = c == 0 ? 64 : 0, ntool = c == 0 ? 1 : 300;
    for (int i = 0; i < ntext; i++)
      llmrt__buf_printf(&s,
                        "data: {\"type\":\"content_block_start\",\"index\":%d,\"content_block\":"
                        "{\"type\":\"text\",\"text\":\"\"}}\n\n"
                        "data: {\"type\":\"content_block_stop\",\"index\":%d}\n\n",
                        i, i);
    for (int k = 0; k < ntool; k++) {
      int i = ntext + k;
      llmrt__buf_printf(&s,
                        "data: {\"type\":\"content_block_start\",\"index\":%d,\"content_block\":"
                        "{\"type\":\"tool_use\",\"id\":\"t%d\",\"name\":\"f\",\"input\":{}}}\n\n"
                        "data: {\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":"
                        "\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
                        "data: {\"type\":\"content_block_stop\",\"index\":%d}\n\n",
                        i, k, i, i);
    }
    llmrt__buf_puts(&s, "data: {\"type\":\"message_stop\"}\n\n");
    tools_t *t = calloc(1, sizeof *t);
    ASSERT(t != NULL);
    llmrt__pstate_init(&t->st);
    t->sink.user = t;
    t->sink.on_event = tools_on_event;
    llmrt__sse_t p;
    llmrt__sse_init(&p, 0);
    ASSERT_EQ(llmrt__sse_feed(&p, s.data, s.len, tools_on_sse, t), LLMRT__STREAM_DONE);
    ASSERT_EQ(t->n_start, (uint32_t)ntool);
    ASSERT_EQ(t->n_frag, (uint32_t)ntool);
    for (int k = 0; k < ntool; k++) {
      ASSERT_EQ(t->start_idx[k], k);
      ASSERT_EQ(t->frag_idx[k], k);
    }
    llmrt__sse_free(&p);
    free(t);
    llmrt__buf_free(&s);
  }
}

/* ---- D: extra_json keys compared decoded ---- */

static int count_key(const cJSON *obj, const char *key) {
  int n = 0;
  for (const cJSON *c = obj->child; c; c = c->next)
    n += strcmp(c->string, key) == 0;
  return n;
}

static void test_extra_json_escaped_duplicates(void) {
  llmrt_message_t msgs[2] = {{.role = "user", .content = "q"}};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = msgs;
  req.n_messages = 1;
  req.stream = 1;
  /* A key 300 bytes long, written once plain and once with escapes. */
  char longk[301], longk_esc[400], extra[2048];
  memset(longk, 'k', 300);
  longk[300] = '\0';
  snprintf(longk_esc, sizeof longk_esc, "\\u006b%.*s\\u006B", 298, longk);
  snprintf(extra, sizeof extra,
           "{\"stream\":true,\"str\\u0065am\":false,\"\\u0073tream_x\":1,\"stream_x\":2,"
           "\"%s\":1,\"%s\":2,\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2,"
           "\"bad\xff\":\"v\xc0\\udc00\",\"n\":12345678901234567890,\"z\xf7\":1,\"z\xb7\":2}",
           longk, longk_esc);
  req.extra_json = extra;
  const llmrt__provider_t *ps[2] = {OA, AN};
  for (int p = 0; p < 2; p++) {
    llmrt__buf_t b;
    char err[200];
    ASSERT_EQ(encode(ps[p], &req, &b, err, sizeof err), 0);
    cJSON *j = cJSON_Parse(b.data);
    ASSERT(j != NULL);
    /* One of each key, holding the last value given. */
    ASSERT_EQ(count_key(j, "stream"), 1);
    ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(j, "stream")));
    ASSERT_EQ(count_key(j, "stream_x"), 1);
    ASSERT_EQ(cJSON_GetObjectItem(j, "stream_x")->valueint, 2);
    ASSERT_EQ(count_key(j, longk), 1);
    ASSERT_EQ(cJSON_GetObjectItem(j, longk)->valueint, 2);
    ASSERT_EQ(count_key(j, "\xf0\x9f\x98\x80"), 1);
    ASSERT_EQ(cJSON_GetObjectItem(j, "\xf0\x9f\x98\x80")->valueint, 2);
    /* Members are written out again: valid UTF-8, numbers as written. */
    ASSERT_STR_EQ(cJSON_GetObjectItem(j, "bad\xef\xbf\xbd")->valuestring,
                  "v\xef\xbf\xbd\xef\xbf\xbd");
    ASSERT_CONTAINS(b.data, "\"n\":12345678901234567890");
    /* Two keys that differ only in invalid bytes are one key once sent. */
    ASSERT_EQ(count_key(j, "z\xef\xbf\xbd"), 1);
    ASSERT_EQ(cJSON_GetObjectItem(j, "z\xef\xbf\xbd")->valueint, 2);
    cJSON_Delete(j);
    llmrt__buf_free(&b);
  }
}

/* ---- F: non-JSON error bodies are cleaned for messages and logs ---- */

static void test_error_body_filtered(void) {
  const char *html = "<html>\r\n<head><title>\x1b[31m502\x1b[0m Bad\tGateway</title></head>\n"
                     "\x01\x7f<body>caf\xc3\xa9 \xff\xfe bad \xc2\x9b csi \xed\xa0\x80 end</body>";
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_ERR(OA->decode_error(502, html, strlen(html), &sink), LLMRT_EUPSTREAM);
  ASSERT_STR_EQ(r.err_msg, "<html> <head><title> [31m502 [0m Bad Gateway</title></head> "
                           "<body>caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd bad csi "
                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end</body>");
  rec_free(&r);

  /* Only invalid bytes: U+FFFD takes 3 bytes each; the message stays within
   * 200 bytes and ends on a whole character. */
  char junk[400];
  memset(junk, 0xff, sizeof junk - 1);
  junk[sizeof junk - 1] = '\0';
  rec_init(&r);
  sink = rec_sink(&r);
  ASSERT_ERR(AN->decode_error(500, junk, strlen(junk), &sink), LLMRT_EUPSTREAM);
  ASSERT_EQ(strlen(r.err_msg), 198);
  ASSERT(valid_utf8((const unsigned char *)r.err_msg, strlen(r.err_msg)));
  rec_free(&r);

  /* Only controls and spaces: as empty. A NUL inside does not cut. */
  rec_init(&r);
  sink = rec_sink(&r);
  ASSERT_ERR(OA->decode_error(503, "\r\n\x1b\x07 \n", 6, &sink), LLMRT_EOVERLOADED);
  ASSERT_STR_EQ(r.err_msg, "HTTP status 503 with an empty body");
  rec_free(&r);
  rec_init(&r);
  sink = rec_sink(&r);
  ASSERT_ERR(OA->decode_error(500, "a\0b", 3, &sink), LLMRT_EUPSTREAM);
  ASSERT_STR_EQ(r.err_msg, "a b");
  rec_free(&r);

  /* Whatever the bytes, the message is valid UTF-8 without control
   * characters, at most 200 bytes. */
  uint64_t seed = 7;
  for (int i = 0; i < 2000; i++) {
    unsigned char body[300];
    size_t n = 1 + (size_t)(prng(&seed) % sizeof body);
    for (size_t k = 0; k < n; k++)
      body[k] = (unsigned char)prng(&seed);
    rec_init(&r);
    sink = rec_sink(&r);
    OA->decode_error(500, (const char *)body, n, &sink);
    size_t l = strlen(r.err_msg);
    ASSERT_LE(l, 200);
    ASSERT(valid_utf8((const unsigned char *)r.err_msg, l));
    for (size_t k = 0; k < l; k++)
      ASSERT((unsigned char)r.err_msg[k] >= 0x20 && r.err_msg[k] != 0x7f);
    rec_free(&r);
  }
}

/* With an argument, runs only the test of that name. */
#define RUN_ONE(fn)                                                                                \
  do {                                                                                             \
    if (argc < 2 || strcmp(argv[1], #fn) == 0) RUN_TEST(fn);                                       \
  } while (0)

int main(int argc, char **argv) {
  OA = llmrt__provider_find("openai");
  AN = llmrt__provider_find("anthropic");
  RUN_ONE(test_tool_calls_strict);
  RUN_ONE(test_tool_calls_reencoded);
  RUN_ONE(test_anthropic_arguments_strict);
  RUN_ONE(test_usage_range);
  RUN_ONE(test_anthropic_many_blocks);
  RUN_ONE(test_extra_json_escaped_duplicates);
  RUN_ONE(test_error_body_filtered);
  return 0;
}
