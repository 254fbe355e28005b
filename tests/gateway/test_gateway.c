/* The gateway in front of the mock, seen from a client's socket: faithful
 * forwarding, routing and aliases, both protocols and the translation
 * between them, keys, errors before and after commitment, request bodies,
 * client disconnects, slow readers, reload and graceful shutdown. */
#include <sys/resource.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include "gw_fixture.h"

static mock_thread_t mt;
static char cfg[8192];

#define KEY_A "gk-tenant-a-0001"
#define KEY_B "gk-tenant-b-0002"
#define HDR_A "Authorization: Bearer " KEY_A "\r\n"

static void make_config(const char *extra_route) {
  const char *u = mt.url;
  snprintf(
      cfg, sizeof cfg,
      "{\"upstreams\":{"
      "\"oa\":{\"base_url\":\"%s\",\"api\":\"openai\",\"api_key_env\":\"GW_TEST_UPKEY\"},"
      "\"an\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":\"GW_TEST_UPKEY\"},"
      "\"oa_500\":{\"base_url\":\"%s\",\"api_key_env\":\"GW_TEST_UPKEY\","
      "\"headers\":{\"x-mock\":\"status=500\"}},"
      "\"an_529\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":\"GW_TEST_UPKEY\","
      "\"headers\":{\"x-mock\":\"status=529\"}},"
      "\"oa_mid\":{\"base_url\":\"%s\",\"api_key_env\":\"GW_TEST_UPKEY\","
      "\"headers\":{\"x-mock\":\"fault=reset,after=3,tokens=10\"}},"
      "\"oa_slow\":{\"base_url\":\"%s\",\"api_key_env\":\"GW_TEST_UPKEY\","
      "\"headers\":{\"x-mock\":\"tokens=400,token_ms=10\"}},"
      "\"oa_tool\":{\"base_url\":\"%s\",\"api_key_env\":\"GW_TEST_UPKEY\","
      "\"headers\":{\"x-mock\":\"tool=get_weather\"}},"
      "\"an_tool\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":"
      "\"GW_TEST_UPKEY\",\"headers\":{\"x-mock\":\"tool=get_weather\"}},"
      "\"oa_med\":{\"base_url\":\"%s\",\"api_key_env\":\"GW_TEST_UPKEY\","
      "\"headers\":{\"x-mock\":\"tokens=30,token_ms=15\"}},"
      "\"oa_401\":{\"base_url\":\"%s\",\"api_key_env\":\"GW_TEST_UPKEY\","
      "\"headers\":{\"x-mock\":\"status=401\"}},"
      "\"oa_big\":{\"base_url\":\"%s\",\"api_key_env\":\"GW_TEST_UPKEY\","
      "\"headers\":{\"x-mock\":\"tokens=200000,token_ms=0\"}}},"
      "\"default_upstream\":\"oa\",\"default_route\":{\"upstream\":\"oa\"},"
      "\"routes\":{"
      "\"gpt-x\":{\"upstream\":\"oa\",\"model\":\"mock-oa-1\",\"aliases\":[\"fast\"]},"
      "\"claude-x\":{\"upstream\":\"an\",\"model\":\"mock-an-1\",\"aliases\":[\"claude-al\"]},"
      "\"fail500\":{\"upstream\":\"oa_500\"},\"fail401\":{\"upstream\":\"oa_401\"},\"fail529\":{"
      "\"upstream\":\"an_529\"},"
      "\"midfail\":{\"upstream\":\"oa_mid\"},\"slow\":{\"upstream\":\"oa_slow\"},"
      "\"big\":{\"upstream\":\"oa_big\"},\"medium\":{\"upstream\":\"oa_med\"},"
      "\"tool-oa\":{\"upstream\":\"oa_tool\"},\"tool-an\":{\"upstream\":\"an_tool\"}%s},"
      "\"auth\":{\"keys\":[{\"key\":\"" KEY_A "\",\"tenant\":\"a\"},"
      "{\"key\":\"" KEY_B "\",\"tenant\":\"b\",\"routes\":[\"claude-x\"]}]},"
      "\"limits\":{\"max_body_bytes\":1048576,\"stream_buffer_bytes\":16384},"
      "\"access_log\":\"off\",\"shutdown_grace_ms\":5000}",
      u, u, u, u, u, u, u, u, u, u, u, extra_route ? extra_route : "");
}

/* ---- Faithful forwarding ---- */

static void test_faithful_openai(gw_thread_t *g) {
  /* Odd spacing, member order, content parts with cache marks, an image,
   * unknown members: all must reach the upstream as sent, except the
   * model, which routing rewrites in place. */
  const char *body =
      "{ \"messages\" : [{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"Be "
      "brief.\",\"cache_control\":{\"type\":\"ephemeral\"}}]},\n"
      "  {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"caf\\u00e9 \\\"q\\\"\"},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}}]}],"
      "\"model\":\"fast\", \"max_tokens\":16,\"x_unknown\":{\"keep\":[1,2.50,true]},"
      "\"temperature\":0.20}";
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "\"object\":\"chat.completion\"");
  ASSERT_CONTAINS(r.body, "\"model\":\"fast\"");
  char expect[2048];
  const char *at = strstr(body, "\"fast\"");
  snprintf(expect, sizeof expect, "%.*s\"mock-oa-1\"%s", (int)(at - body), body, at + 6);
  ASSERT_STR_EQ(llmrt_mock_last_body(mt.mock), expect);
  ASSERT_STR_EQ(llmrt_mock_last_path(mt.mock), "/v1/chat/completions");
  ASSERT_STR_EQ(llmrt_mock_last_header(mt.mock, "authorization"), "Bearer sk-upstream-key");
  resp_free(&r);
}

static void test_faithful_anthropic(gw_thread_t *g) {
  const char *body =
      "{\"model\":\"claude-x\",\"max_tokens\":12,\"system\":[{\"type\":\"text\",\"text\":\"S\","
      "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}],\"messages\":[{\"role\":"
      "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello\",\"cache_control\":{\"type\":"
      "\"ephemeral\"}},{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":"
      "\"text/plain\",\"data\":\"doc\"}}]}],\"metadata\":{\"user_id\":\"u1\"},\"stream\":false}";
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/messages",
                      "x-api-key: " KEY_A "\r\nanthropic-version: 2023-06-01\r\n"
                      "anthropic-beta: prompt-caching-2024-07-31\r\n",
                      body, &r),
            0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "\"type\":\"message\"");
  ASSERT_STR_EQ(llmrt_mock_last_header(mt.mock, "anthropic-beta"), "prompt-caching-2024-07-31");
  ASSERT_STR_EQ(llmrt_mock_last_header(mt.mock, "x-api-key"), "sk-upstream-key");
  ASSERT_CONTAINS(r.body, "\"model\":\"claude-x\"");
  char expect[2048];
  const char *at = strstr(body, "\"claude-x\"");
  snprintf(expect, sizeof expect, "%.*s\"mock-an-1\"%s", (int)(at - body), body, at + 10);
  ASSERT_STR_EQ(llmrt_mock_last_body(mt.mock), expect);
  ASSERT_STR_EQ(llmrt_mock_last_path(mt.mock), "/v1/messages");
  resp_free(&r);
}

/* The default route forwards an unknown model unchanged: not one byte differs. */
static void test_default_route_bytes(gw_thread_t *g) {
  const char *body = "{\"model\":\"some-other-model\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}],\"max_tokens\":3}";
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(llmrt_mock_last_body(mt.mock), body);
  resp_free(&r);
}

/* ---- Protocols and translation ---- */

static void test_openai_stream(gw_thread_t *g) {
  const char *body =
      "{\"model\":\"gpt-x\",\"stream\":true,\"stream_options\":{\"include_usage\""
      ":true},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}";
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.head, "text/event-stream");
  ASSERT_CONTAINS(r.head, "Server-Timing: gateway;dur=");
  ASSERT_CONTAINS(r.body, "\"delta\":{\"role\":\"assistant\"");
  ASSERT_CONTAINS(r.body, "\"finish_reason\":\"length\"");
  ASSERT_CONTAINS(r.body, "\"completion_tokens\":5");
  ASSERT(strstr(r.body, "data: [DONE]\n\n") == r.body + r.len - 14);
  resp_free(&r);
}

static void test_cross_openai_to_anthropic(gw_thread_t *g) {
  const char *body = "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"system\",\"content\":"
                     "\"sys\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                     "\"hi\"}]}],\"max_tokens\":4,\"stream\":true}";
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  /* The upstream got an Anthropic body; the client an OpenAI stream. */
  ASSERT_STR_EQ(llmrt_mock_last_path(mt.mock), "/v1/messages");
  const char *up = llmrt_mock_last_body(mt.mock);
  ASSERT_CONTAINS(up, "\"system\":\"sys\"");
  ASSERT_CONTAINS(up, "\"model\":\"mock-an-1\"");
  ASSERT_CONTAINS(r.body, "chat.completion.chunk");
  ASSERT_CONTAINS(r.body, "\"finish_reason\":\"length\"");
  ASSERT_CONTAINS(r.body, "data: [DONE]");
  resp_free(&r);
  /* What cannot be translated is refused, not dropped. */
  body = "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
         "\"image_url\",\"image_url\":{\"url\":\"http://x/y.png\"}}]}]}";
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 400);
  ASSERT_CONTAINS(r.body, "only text parts can be translated");
  ASSERT_CONTAINS(r.body, "\"type\":\"invalid_request_error\"");
  resp_free(&r);
}

static void test_cross_anthropic_to_openai(gw_thread_t *g) {
  const char *body = "{\"model\":\"gpt-x\",\"max_tokens\":6,\"system\":\"be nice\",\"messages\":"
                     "[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", "x-api-key: " KEY_A "\r\n", body, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(llmrt_mock_last_path(mt.mock), "/v1/chat/completions");
  ASSERT_CONTAINS(llmrt_mock_last_body(mt.mock), "{\"role\":\"system\",\"content\":\"be nice\"}");
  ASSERT_CONTAINS(r.body, "event: message_start");
  ASSERT_CONTAINS(r.body, "\"type\":\"text_delta\"");
  ASSERT_CONTAINS(r.body, "\"stop_reason\":\"max_tokens\"");
  ASSERT_CONTAINS(r.body, "event: message_stop");
  resp_free(&r);
  /* Not streamed. */
  body = "{\"model\":\"gpt-x\",\"max_tokens\":6,\"messages\":[{\"role\":\"user\",\"content\":"
         "\"hi\"}]}";
  ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", "x-api-key: " KEY_A "\r\n", body, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "\"content\":[{\"type\":\"text\",\"text\":\"");
  ASSERT_CONTAINS(r.body, "\"output_tokens\":6");
  resp_free(&r);
}

static void test_models_health(gw_thread_t *g) {
  resp_t r;
  ASSERT_EQ(http_call(g->port, "GET", "/v1/models", HDR_A, NULL, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "\"id\":\"fast\"");
  ASSERT_CONTAINS(r.body, "\"id\":\"claude-x\"");
  resp_free(&r);
  /* Key B may use claude-x (and its alias) only: it is shown only those. */
  ASSERT_EQ(http_call(g->port, "GET", "/v1/models", "x-api-key: " KEY_B "\r\n", NULL, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "\"id\":\"claude-x\"");
  ASSERT_CONTAINS(r.body, "\"id\":\"claude-al\"");
  ASSERT(!strstr(r.body, "\"id\":\"gpt-x\""));
  ASSERT_CONTAINS(r.body, "}],\"has_more\":false}");
  resp_free(&r);
  ASSERT_EQ(http_call(g->port, "GET", "/v1/models", NULL, NULL, &r), 0);
  ASSERT_EQ(r.status, 401);
  resp_free(&r);
  ASSERT_EQ(http_call(g->port, "GET", "/healthz", NULL, NULL, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  ASSERT_EQ(http_call(g->port, "GET", "/readyz", NULL, NULL, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  ASSERT_EQ(http_call(g->port, "GET", "/metrics", NULL, NULL, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "llmrt_gateway_calls_total{outcome=\"ok\"}");
  ASSERT_CONTAINS(r.body, "llmrt_gateway_overhead_seconds_count");
  resp_free(&r);
}

/* Tool calls from either upstream, written in either protocol. */
static void test_tool_calls(gw_thread_t *g) {
  const char *q = "\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}],\"max_tokens\":50";
  char body[512];
  resp_t r;
  for (int up = 0; up < 2; up++) {
    const char *model = up ? "tool-an" : "tool-oa";
    snprintf(body, sizeof body, "{\"model\":\"%s\",%s}", model, q);
    ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"tool_calls\":[{\"id\":");
    ASSERT_CONTAINS(r.body, "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{");
    ASSERT_CONTAINS(r.body, "\"finish_reason\":\"tool_calls\"");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"stream\":true,%s}", model, q);
    ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"tool_calls\":[{\"index\":0,\"id\":");
    ASSERT_CONTAINS(r.body, "\"name\":\"get_weather\"");
    ASSERT_CONTAINS(r.body, "\"finish_reason\":\"tool_calls\"");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"model\":\"%s\",%s}", model, q);
    ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", "x-api-key: " KEY_A "\r\n", body, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "{\"type\":\"tool_use\",\"id\":");
    ASSERT_CONTAINS(r.body, "\"name\":\"get_weather\",\"input\":{");
    ASSERT_CONTAINS(r.body, "\"stop_reason\":\"tool_use\"");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"stream\":true,%s}", model, q);
    ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", "x-api-key: " KEY_A "\r\n", body, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"content_block\":{\"type\":\"tool_use\",\"id\":");
    ASSERT_CONTAINS(r.body, "\"type\":\"input_json_delta\",\"partial_json\":");
    ASSERT_CONTAINS(r.body, "\"stop_reason\":\"tool_use\"");
    resp_free(&r);
  }
}

/* ---- Keys ---- */

static void test_auth(gw_thread_t *g) {
  const char *body = "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  resp_t r;
  uint64_t before = llmrt_mock_last_body(mt.mock)[0];
  (void)before;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", NULL, body, &r), 0);
  ASSERT_EQ(r.status, 401);
  ASSERT_CONTAINS(r.body, "{\"error\":{\"message\":");
  ASSERT_CONTAINS(r.body, "\"type\":\"authentication_error\"");
  resp_free(&r);
  ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", "x-api-key: gk-wrong-000000\r\n", body, &r),
            0);
  ASSERT_EQ(r.status, 401);
  ASSERT_CONTAINS(r.body, "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\"");
  ASSERT_CONTAINS(r.body, "invalid API key");
  ASSERT(!strstr(r.body, "gk-wrong"));
  resp_free(&r);
  /* Key B may use claude-x only. */
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions",
                      "Authorization: Bearer " KEY_B "\r\n", body, &r),
            0);
  ASSERT_EQ(r.status, 403);
  ASSERT_CONTAINS(r.body, "may not use model 'gpt-x'");
  resp_free(&r);
  /* ... and its aliases: an alias is the same route under another name. */
  const char *al = "{\"model\":\"claude-al\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\","
                   "\"content\":\"x\"}]}";
  ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", "x-api-key: " KEY_B "\r\n", al, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
}

/* ---- Errors ---- */

static void test_errors_before_commit(gw_thread_t *g) {
  const char *b500 = "{\"model\":\"fail500\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}]}";
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, b500, &r), 0);
  ASSERT_EQ(r.status, 500);
  ASSERT_CONTAINS(r.head, "application/json");
  ASSERT_CONTAINS(r.body, "{\"error\":{\"message\":");
  resp_free(&r);
  const char *b529 = "{\"model\":\"fail529\",\"stream\":true,\"max_tokens\":5,\"messages\":[{"
                     "\"role\":\"user\",\"content\":\"x\"}]}";
  ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", "x-api-key: " KEY_A "\r\n", b529, &r), 0);
  ASSERT_EQ(r.status, 529);
  ASSERT_CONTAINS(r.body, "\"type\":\"overloaded_error\"");
  resp_free(&r);
  /* The upstream refusing the gateway's own key: 502, and neither the
   * upstream's message (a real one quotes parts of the key) nor its
   * authentication type reach the client. */
  const char *b401 = "{\"model\":\"fail401\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, b401, &r), 0);
  ASSERT_EQ(r.status, 502);
  ASSERT(!strstr(r.body, "Incorrect API key"));
  ASSERT_CONTAINS(r.body, "refused the gateway's credentials");
  ASSERT_CONTAINS(r.body, "\"type\":\"api_error\"");
  resp_free(&r);
}

static void test_error_after_commit(gw_thread_t *g) {
  const char *body = "{\"model\":\"midfail\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}]}";
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "\"content\":");
  ASSERT_CONTAINS(r.body, "data: {\"error\":{\"message\":");
  ASSERT(!strstr(r.body, "[DONE]"));
  resp_free(&r);
  ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", "x-api-key: " KEY_A "\r\n",
                      "{\"model\":\"midfail\",\"stream\":true,\"max_tokens\":9,\"messages\":[{"
                      "\"role\":\"user\",\"content\":\"x\"}]}",
                      &r),
            0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "\"type\":\"text_delta\"");
  ASSERT_CONTAINS(r.body, "event: error\ndata: {\"type\":\"error\",\"error\":");
  ASSERT(!strstr(r.body, "message_stop"));
  resp_free(&r);
}

static void test_bad_bodies(gw_thread_t *g) {
  static const struct {
    const char *path, *body, *msg;
    int status;
  } cases[] = {
      {"/v1/chat/completions", "{\"model\":", "not valid JSON", 400},
      {"/v1/chat/completions", "[1,2]", "must be a JSON object", 400},
      {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
       "model: required", 400},
      {"/v1/messages", "{\"model\":\"gpt-x\"}", "messages: required", 400},
      {"/v1/messages", "{\"model\":\"gpt-x\",\"messages\":[{\"content\":\"x\"}]}",
       "messages[0].role", 400},
      {"/v1/chat/completions",
       "{\"model\":\"gpt-x\",\"stream\":\"yes\",\"messages\":[{\"role\":\"user\",\"content\":"
       "\"x\"}]}",
       "stream: must be true or false", 400},
      {"/v1/chat/completions", "", "no body", 400},
      /* A duplicate member the gateway reads: the provider would take the
       * last, the gateway's checks the first. */
      {"/v1/messages",
       "{\"model\":\"claude-x\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\","
       "\"content\":\"x\"}],\"model\":\"gpt-x\"}",
       "model: given more than once", 400},
      {"/v1/chat/completions",
       "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
       "\"messages\":[{\"role\":\"user\",\"content\":\"a much longer prompt\"}]}",
       "messages: given more than once", 400},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    resp_t r;
    ASSERT_EQ(http_call(g->port, "POST", cases[i].path, HDR_A, cases[i].body, &r), 0);
    ASSERT_EQ(r.status, cases[i].status);
    ASSERT_CONTAINS(r.body, cases[i].msg);
    ASSERT_CONTAINS(r.body, "invalid_request_error");
    if (!strcmp(cases[i].path, "/v1/messages")) ASSERT_CONTAINS(r.body, "{\"type\":\"error\"");
    resp_free(&r);
  }
  /* An unknown model: 404 in the format. */
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/messages", HDR_A,
                      "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                      &r),
            0);
  /* The default route serves unknown models on this gateway. */
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
}

/* ---- Request bodies ---- */

static size_t deflate_buf(const char *in, size_t n, char *out, size_t cap, int gzip) {
  z_stream z;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 9, Z_DEFLATED, gzip ? 31 : 15, 9, Z_DEFAULT_STRATEGY);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  deflate(&z, Z_FINISH);
  size_t got = z.total_out;
  deflateEnd(&z);
  return got;
}

/* A sample's value from GET /metrics (name from a line start, with its trailing space). */
static uint64_t metric_value(gw_thread_t *g, const char *name) {
  resp_t r;
  ASSERT_EQ(http_call(g->port, "GET", "/metrics", "", "", &r), 0);
  ASSERT_EQ(r.status, 200);
  const char *at = strstr(r.body, name);
  ASSERT(at);
  uint64_t v = strtoull(at + strlen(name), NULL, 10);
  resp_free(&r);
  return v;
}

static void send_encoded(gw_thread_t *g, const char *enc, const char *data, size_t n, resp_t *r) {
  int fd = cl_connect(g->port);
  ASSERT(fd >= 0);
  char hdrs[256];
  snprintf(hdrs, sizeof hdrs, HDR_A "Content-Encoding: %s\r\n", enc);
  ASSERT_EQ(cl_send(fd, "POST", "/v1/chat/completions", hdrs, data, n), 0);
  ASSERT_EQ(cl_read(fd, r), 0);
  close(fd);
}

static void test_compressed_bodies(gw_thread_t *g) {
  const char *body = "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"compressed\"}],\"max_tokens\":3}";
  static char z[1 << 16];
  resp_t r;
  size_t n = deflate_buf(body, strlen(body), z, sizeof z, 1);
  send_encoded(g, "gzip", z, n, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(llmrt_mock_last_body(mt.mock), "\"content\":\"compressed\"");
  resp_free(&r);
  n = deflate_buf(body, strlen(body), z, sizeof z, 0);
  send_encoded(g, "deflate", z, n, &r);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  /* A bomb: 64 MiB of zeros in well under 1 MiB, over max_body_bytes once
   * decoded: 413, not memory, and counted in llmrt_gateway_rejected_total. */
  uint64_t rejected0 = metric_value(g, "\nllmrt_gateway_rejected_total ");
  size_t big = 64u << 20;
  char *zeros = calloc(1, big);
  char *bomb = malloc(1 << 20);
  n = deflate_buf(zeros, big, bomb, 1 << 20, 1);
  free(zeros);
  ASSERT(n < (1u << 20));
  send_encoded(g, "gzip", bomb, n, &r);
  ASSERT_EQ(r.status, 413);
  resp_free(&r);
  ASSERT_EQ(metric_value(g, "\nllmrt_gateway_rejected_total "), rejected0 + 1);
  /* Without a key the bomb is refused before it is decoded: 401, in the
   * format, and quickly (decoding it takes the loop some 100 ms). */
  {
    int fd = cl_connect(g->port);
    ASSERT(fd >= 0);
    ASSERT_EQ(cl_send(fd, "POST", "/v1/chat/completions", "Content-Encoding: gzip\r\n", bomb, n),
              0);
    ASSERT_EQ(cl_read(fd, &r), 0);
    close(fd);
    ASSERT_EQ(r.status, 401);
    ASSERT_CONTAINS(r.body, "\"type\":\"authentication_error\"");
    resp_free(&r);
  }
  free(bomb);
  /* zstd, and a zstd bomb, and a corrupt frame. */
  n = ZSTD_compress(z, sizeof z, body, strlen(body), 3);
  ASSERT(!ZSTD_isError(n));
  send_encoded(g, "zstd", z, n, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(llmrt_mock_last_body(mt.mock), "\"content\":\"compressed\"");
  resp_free(&r);
  zeros = calloc(1, big);
  bomb = malloc(1 << 20);
  n = ZSTD_compress(bomb, 1 << 20, zeros, big, 3);
  free(zeros);
  ASSERT(!ZSTD_isError(n) && n < (1u << 20));
  send_encoded(g, "zstd", bomb, n, &r);
  ASSERT_EQ(r.status, 413);
  /* Refused by the HTTP layer, still in the endpoint's error format. */
  ASSERT_CONTAINS(r.head, "application/json");
  ASSERT_CONTAINS(r.body, "{\"error\":{\"message\":\"the request body is larger");
  ASSERT_CONTAINS(r.body, "\"type\":\"invalid_request_error\"");
  resp_free(&r);
  free(bomb);
  /* A truncated frame. */
  n = ZSTD_compress(z, sizeof z, body, strlen(body), 3);
  send_encoded(g, "zstd", z, n - 4, &r);
  ASSERT_EQ(r.status, 400);
  ASSERT_CONTAINS(r.body, "could not be decoded");
  resp_free(&r);
  send_encoded(g, "br", "xx", 2, &r);
  ASSERT_EQ(r.status, 415);
  ASSERT_CONTAINS(r.body, "unsupported Content-Encoding");
  resp_free(&r);
  /* On the Anthropic endpoint, Anthropic's format. */
  int fd = cl_connect(g->port);
  ASSERT(fd >= 0);
  ASSERT_EQ(cl_send(fd, "POST", "/v1/messages", HDR_A "Content-Encoding: br\r\n", "xx", 2), 0);
  ASSERT_EQ(cl_read(fd, &r), 0);
  close(fd);
  ASSERT_EQ(r.status, 415);
  ASSERT_CONTAINS(r.body, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\"");
  resp_free(&r);
}

/* ---- Streams: disconnect, slow reader ---- */

static void wait_stats(gw_thread_t *g, uint64_t *field_off_cancel, uint64_t want) {
  (void)field_off_cancel;
  for (int i = 0; i < 300; i++) {
    llmrt_gw_stats_t st = gwt_stats(g);
    if (st.cancelled >= want && st.in_flight == 0) return;
    usleep(10000);
  }
  TEST_FAIL_("the gateway did not cancel the call");
}

static void test_disconnect_cancels(gw_thread_t *g) {
  llmrt_mock_stats_t m0, m1;
  llmrt_mock_stats(mt.mock, &m0);
  llmrt_gw_stats_t s0 = gwt_stats(g);
  int fd = cl_connect(g->port);
  const char *body = "{\"model\":\"slow\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}]}";
  ASSERT_EQ(cl_send(fd, "POST", "/v1/chat/completions", HDR_A, body, strlen(body)), 0);
  char buf[2048];
  ssize_t got = recv(fd, buf, sizeof buf, 0); /* the head and the first events */
  ASSERT(got > 0);
  close(fd);
  wait_stats(g, NULL, s0.cancelled + 1);
  for (int i = 0; i < 300; i++) {
    llmrt_mock_stats(mt.mock, &m1);
    if (m1.aborted > m0.aborted) break;
    usleep(10000);
  }
  ASSERT_GE(m1.aborted, m0.aborted + 1); /* the mock saw its exchange cut */
  /* Far fewer than the 400 tokens it would have sent. */
  ASSERT_LE(m1.tokens - m0.tokens, 200);
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
  if (f) fclose(f);
  return kb;
}

static void test_slow_reader(gw_thread_t *g) {
  llmrt_mock_stats_t m0, m1, m2;
  llmrt_mock_stats(mt.mock, &m0);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  const char *body = "{\"model\":\"big\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}]}";
  ASSERT_EQ(cl_send(fd, "POST", "/v1/chat/completions", HDR_A, body, strlen(body)), 0);
  long rss0 = rss_kb();
  /* 200,000 tokens is ~30 MB of SSE to the client; read nothing for 1.5 s. */
  usleep(1500000);
  llmrt_mock_stats(mt.mock, &m1);
  usleep(300000);
  llmrt_mock_stats(mt.mock, &m2);
  long rss1 = rss_kb();
  llmrt_gw_stats_t st = gwt_stats(g);
  fprintf(stderr,
          "   slow reader: rss %ld -> %ld kB, mock tokens sent %llu then %llu, "
          "pauses %llu\n",
          rss0, rss1, (unsigned long long)(m1.tokens - m0.tokens),
          (unsigned long long)(m2.tokens - m0.tokens), (unsigned long long)st.paused);
  ASSERT_GE(st.paused, 1);
  /* The upstream is held: it sent a bounded part and nothing more meanwhile. */
  ASSERT_LE(m2.tokens - m0.tokens, 100000);
  ASSERT_LE(m2.tokens - m1.tokens, 2000);
  ASSERT_LE(rss1 - rss0, 16 * 1024);
  close(fd);
  wait_stats(g, NULL, 0);
}

/* ---- Reload, shutdown ---- */

static void test_reload(gw_thread_t *g) {
  char old[8192];
  snprintf(old, sizeof old, "%s", cfg);
  make_config(",\"added\":{\"upstream\":\"oa\",\"model\":\"mock-added\"}");
  gwt_op(g, 1, cfg, 0);
  ASSERT_EQ(g->op_status, 0);
  resp_t r;
  const char *body = "{\"model\":\"added\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(llmrt_mock_last_body(mt.mock), "\"model\":\"mock-added\"");
  resp_free(&r);
  /* A broken configuration is refused and the running one stays. */
  gwt_op(g, 1, "{\"routes\":{}}", 0);
  ASSERT(g->op_status != 0);
  ASSERT_CONTAINS(g->err, "$.");
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
}

/* Copies src into dst with the first `from` replaced by `to`. */
static void replace1(char *dst, size_t cap, const char *src, const char *from, const char *to) {
  const char *at = strstr(src, from);
  ASSERT(at);
  snprintf(dst, cap, "%.*s%s%s", (int)(at - src), src, to, at + strlen(from));
}

/* A tenant may not contain '/': key "a" with x-llmrt-tenant-tag "b" is
 * tenant "a/b", which must never be another key's partition. */
static void test_tenant_slash_refused(gw_thread_t *g) {
  (void)g;
  static char c[8192];
  char err[512];
  replace1(c, sizeof c, cfg, "\"tenant\":\"b\"", "\"tenant\":\"a/x\"");
  ASSERT(llmrt_gw_check(c, err, sizeof err) != 0);
  ASSERT_CONTAINS(err, ".tenant");
}

/* An access log line stays small whatever the client sends: its model
 * name (here 200 KB, refused with 403 for key B) is cut, so a client cannot
 * fill the operator's disk or the log queue with one request. */
static void test_access_log_bounded(gw_thread_t *g) {
  static char lc[8192];
  char path[64];
  snprintf(path, sizeof path, "/tmp/llmrt-gw-test-%d.log", (int)getpid());
  unlink(path);
  char to[96];
  snprintf(to, sizeof to, "\"access_log\":\"%s\"", path);
  replace1(lc, sizeof lc, cfg, "\"access_log\":\"off\"", to);
  gwt_op(g, 1, lc, 0);
  ASSERT_EQ(g->op_status, 0);
  size_t ml = 200000;
  char *body = malloc(ml + 128);
  ASSERT(body);
  strcpy(body, "{\"model\":\"");
  memset(body + 10, 'm', ml);
  strcpy(body + 10 + ml, "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions",
                      "Authorization: Bearer " KEY_B "\r\n", body, &r),
            0);
  ASSERT_EQ(r.status, 403);
  resp_free(&r);
  free(body);
  struct stat st = {0};
  for (int i = 0; i < 200 && (stat(path, &st) != 0 || st.st_size == 0); i++)
    usleep(10000);
  ASSERT(st.st_size > 0);
  ASSERT(st.st_size < 4096);
  gwt_op(g, 1, cfg, 0);
  ASSERT_EQ(g->op_status, 0);
  unlink(path);
}

/* SIGHUP after a log rotation: the reload reopens the access log under its
 * name, so lines go to the new file, not the renamed one. */
static void test_reload_reopens_log(gw_thread_t *g) {
  static char lc[8192];
  char path[64], moved[72], to[96];
  snprintf(path, sizeof path, "/tmp/llmrt-gw-rot-%d.log", (int)getpid());
  snprintf(moved, sizeof moved, "%s.1", path);
  unlink(path);
  unlink(moved);
  snprintf(to, sizeof to, "\"access_log\":\"%s\"", path);
  replace1(lc, sizeof lc, cfg, "\"access_log\":\"off\"", to);
  gwt_op(g, 1, lc, 0);
  ASSERT_EQ(g->op_status, 0);
  const char *body = "{\"model\":\"nope\",\"messages\":[]}";
  resp_t r;
  struct stat st = {0};
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 400);
  resp_free(&r);
  for (int i = 0; i < 200 && (stat(path, &st) != 0 || st.st_size == 0); i++)
    usleep(10000);
  ASSERT(st.st_size > 0);
  ASSERT_EQ(rename(path, moved), 0); /* logrotate */
  gwt_op(g, 1, lc, 0);               /* its postrotate: kill -HUP */
  ASSERT_EQ(g->op_status, 0);
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  resp_free(&r);
  memset(&st, 0, sizeof st);
  for (int i = 0; i < 200 && (stat(path, &st) != 0 || st.st_size == 0); i++)
    usleep(10000);
  ASSERT(st.st_size > 0);
  gwt_op(g, 1, cfg, 0);
  ASSERT_EQ(g->op_status, 0);
  unlink(path);
  unlink(moved);
}

/* A reload applies the new limits: a body over the new max_body_bytes
 * gets 413, and the old limit is back after reloading the old file. */
static void test_reload_applies_limits(gw_thread_t *g) {
  static char lc[8192];
  replace1(lc, sizeof lc, cfg, "\"max_body_bytes\":1048576", "\"max_body_bytes\":2000");
  gwt_op(g, 1, lc, 0);
  ASSERT_EQ(g->op_status, 0);
  char body[4096];
  snprintf(body, sizeof body,
           "{\"model\":\"gpt-x\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":"
           "\"%03000d\"}]}",
           0);
  resp_t r;
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 413);
  resp_free(&r);
  gwt_op(g, 1, cfg, 0);
  ASSERT_EQ(g->op_status, 0);
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
}

/* A reload that fails (here: the new access log cannot be opened) leaves
 * everything as it was: the runtime must not be on the new upstreams while
 * the gateway stays on the old configuration. */
static void test_reload_failure_changes_nothing(gw_thread_t *g) {
  static char a[8192], bad[8192];
  replace1(a, sizeof a, cfg, "\"api\":\"openai\",",
           "\"api\":\"openai\",\"headers\":{\"x-mock\":\"status=500\"},");
  replace1(bad, sizeof bad, a, "\"access_log\":\"off\"",
           "\"access_log\":\"/nonexistent-llmrt-dir/gw.log\"");
  gwt_op(g, 1, bad, 0);
  ASSERT(g->op_status != 0);
  ASSERT_CONTAINS(g->err, "access_log");
  resp_t r;
  const char *body = "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  ASSERT_EQ(http_call(g->port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200); /* the old upstream "oa", not the refused one's status=500 */
  resp_free(&r);
}

/* A body of very many messages is decoded in time linear in its size: a
 * quadratic walk would hold the loop for minutes (8 MiB of tiny messages
 * are some 650,000). The body fails after its messages are decoded
 * ("stream"), so only the gateway's own work is timed. */
static void test_many_messages_linear(void) {
  static char lcfg[8192];
  replace1(lcfg, sizeof lcfg, cfg, "\"max_body_bytes\":1048576", "\"max_body_bytes\":9000000");
  gw_thread_t g;
  ASSERT_EQ(gwt_start(&g, lcfg), 0);
  const char *head = "{\"model\":\"gpt-x\",\"stream\":\"yes\",\"messages\":[";
  const char *one = "{\"role\":\"u\"},";
  size_t n = 650000, hl = strlen(head), ol = strlen(one);
  char *body = malloc(hl + n * ol + 8);
  ASSERT(body);
  memcpy(body, head, hl);
  for (size_t i = 0; i < n; i++)
    memcpy(body + hl + i * ol, one, ol);
  strcpy(body + hl + n * ol - 1, "]}");
  double t0 = (double)uv_hrtime();
  resp_t r;
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  double s = ((double)uv_hrtime() - t0) / 1e9;
  fprintf(stderr, "   %zu messages decoded and refused in %.2f s\n", n, s);
  ASSERT_EQ(r.status, 400);
  ASSERT_CONTAINS(r.body, "stream: must be true or false");
  ASSERT(s < 20.0);
  resp_free(&r);
  free(body);
  gwt_stop(&g, 1000);
}

static void test_graceful_shutdown(void) {
  gw_thread_t g;
  ASSERT_EQ(gwt_start(&g, cfg), 0);
  /* A stream in flight (400 tokens at 10 ms: 4 s) and a shutdown with 300 ms
   * of grace: the stream is cancelled after the grace and its client gets
   * an error event; a new connection is refused meanwhile. */
  int fd = cl_connect(g.port);
  const char *body = "{\"model\":\"slow\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}]}";
  ASSERT_EQ(cl_send(fd, "POST", "/v1/chat/completions", HDR_A, body, strlen(body)), 0);
  char first[256];
  ASSERT(recv(fd, first, sizeof first, MSG_PEEK) > 0);
  uint64_t t0 = uv_hrtime();
  gwt_op(&g, 2, NULL, 300);
  ASSERT(cl_connect(g.port) < 0);
  resp_t r;
  ASSERT_EQ(cl_read(fd, &r), 0);
  close(fd);
  uv_thread_join(&g.thread);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "\"content\":");
  ASSERT_CONTAINS(r.body, "data: {\"error\":");
  ASSERT_GE(ms, 250);
  ASSERT_LE(ms, 3000);
  resp_free(&r);

  /* With enough grace a stream in flight finishes whole. */
  ASSERT_EQ(gwt_start(&g, cfg), 0);
  fd = cl_connect(g.port);
  /* 30 tokens at 15 ms: ~450 ms, well within 5 s of grace. */
  body = "{\"model\":\"medium\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
         "\"x\"}]}";
  ASSERT_EQ(cl_send(fd, "POST", "/v1/chat/completions", HDR_A, body, strlen(body)), 0);
  ASSERT(recv(fd, first, sizeof first, MSG_PEEK) > 0); /* in flight */
  gwt_op(&g, 2, NULL, 5000);
  ASSERT_EQ(cl_read(fd, &r), 0);
  close(fd);
  uv_thread_join(&g.thread);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "data: [DONE]");
  ASSERT(!strstr(r.body, "\"error\""));
  resp_free(&r);
}

/* Connection limits: at most max_connections open at once (more are closed
 * at accept), and Connection: close after max_requests_per_connection. */
static void test_connection_limits(void) {
  char lcfg[8192];
  const char *lim = strstr(cfg, "\"limits\":{");
  ASSERT(lim);
  lim += strlen("\"limits\":{");
  snprintf(lcfg, sizeof lcfg, "%.*s\"max_connections\":2,\"max_requests_per_connection\":1,%s",
           (int)(lim - cfg), cfg, lim);
  gw_thread_t g;
  ASSERT_EQ(gwt_start(&g, lcfg), 0);
  int a = cl_connect(g.port), b = cl_connect(g.port);
  ASSERT(a >= 0 && b >= 0);
  usleep(100000); /* both accepted by the gateway */
  int c = cl_connect(g.port);
  ASSERT(c >= 0); /* the kernel accepts; the gateway closes it at once */
  char buf[1024];
  double t0 = (double)uv_hrtime();
  ssize_t n = recv(c, buf, sizeof buf, 0);
  ASSERT(n <= 0);
  ASSERT((double)uv_hrtime() - t0 < 5e9); /* closed, not a receive timeout */
  /* The first two are served; keep-alive asked, but one request per
   * connection: the answer closes. */
  const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(cl_send_all(a, req, strlen(req)), 0);
  n = recv(a, buf, sizeof buf - 1, 0);
  ASSERT(n > 0);
  buf[n] = '\0';
  ASSERT_CONTAINS(buf, "200 OK");
  ASSERT_CONTAINS(buf, "Connection: close");
  close(a);
  close(b);
  close(c);
  gwt_stop(&g, 1000);
}

/* One tenant is never served another's cache entry. Needs a plugin named
 * "cache" (the cache branch); until one is built in, the test says it is
 * skipped. It enables itself once the plugin loads: nothing to switch on. */
static void test_tenant_cache_isolation(void) {
  char ccfg[8192], err[512];
  /* The configuration above with the cache plugin in the chain. */
  const char *tail = strstr(cfg, "\"default_upstream\"");
  snprintf(ccfg, sizeof ccfg, "%.*s\"plugins\":[{\"name\":\"cache\"}],%s", (int)(tail - cfg), cfg,
           tail);
  if (llmrt_gw_check(ccfg, err, sizeof err) != 0) {
    fprintf(stderr, "   skipped: no cache plugin here (%s)\n", err);
    return;
  }
  gw_thread_t g;
  ASSERT_EQ(gwt_start(&g, ccfg), 0);
  const char *body = "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"cache me\"}],\"max_tokens\":1000,\"temperature\":0}";
  llmrt_mock_stats_t m0, m1, m2, m3;
  resp_t r;
  llmrt_mock_stats(mt.mock, &m0);
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  llmrt_mock_stats(mt.mock, &m1);
  ASSERT_EQ(m1.requests, m0.requests + 1);
  /* Tenant a again: served from the cache, the upstream sees nothing. */
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  llmrt_mock_stats(mt.mock, &m2);
  ASSERT_EQ(m2.requests, m1.requests);
  /* Another tenant (key a narrowed by a tenant tag: "a/other") must miss. */
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions", HDR_A "x-llmrt-tenant-tag: other\r\n",
                      body, &r),
            0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  llmrt_mock_stats(mt.mock, &m3);
  ASSERT_EQ(m3.requests, m2.requests + 1);
  /* Cache-Control: max-age=N is the oldest answer the client accepts: a
   * fresh entry hits, one older than N is fetched again. */
  llmrt_mock_stats_t m4, m5;
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions", HDR_A "cache-control: max-age=60\r\n",
                      body, &r),
            0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  llmrt_mock_stats(mt.mock, &m4);
  ASSERT_EQ(m4.requests, m3.requests);
  usleep(2100 * 1000);
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions", HDR_A "cache-control: max-age=1\r\n",
                      body, &r),
            0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  llmrt_mock_stats(mt.mock, &m5);
  ASSERT_EQ(m5.requests, m4.requests + 1);
  /* A malformed max-age is the client's error. */
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions",
                      HDR_A "cache-control: max-age=soon\r\n", body, &r),
            0);
  ASSERT_EQ(r.status, 400);
  resp_free(&r);
  gwt_stop(&g, 1000);
}

/* Plugins in the chain: one that changes only the model keeps the client's
 * bytes (only the model value differs); one that rewrites the messages
 * (the example system_prompt plugin) makes the body encoded again, and the
 * content parts it did not touch arrive intact, cache marks included. */
static void test_plugins_keep_bytes_and_parts(void) {
#ifdef LLMRT_GW_PLUGIN_DIR
  char pcfg[8192];
  const char *tail = strstr(cfg, "\"default_upstream\"");
  const char *body = "{\"model\":\"gpt-x\", \"messages\":[{\"role\":\"user\",\"content\":[{"
                     "\"type\":\"text\",\"text\":\"part one\",\"cache_control\":{\"type\":"
                     "\"ephemeral\"}},{\"type\":\"image_url\",\"image_url\":{\"url\":"
                     "\"data:image/png;base64,AAAA\"}}]}],\"max_tokens\":3,\"zz\":1}";
  resp_t r;
  gw_thread_t g;
  snprintf(pcfg, sizeof pcfg, "%.*s\"plugins\":[{\"name\":\"%s/reroute.so\"}],%s",
           (int)(tail - cfg), cfg, LLMRT_GW_PLUGIN_DIR, tail);
  ASSERT_EQ(gwt_start(&g, pcfg), 0);
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  char expect[1024];
  const char *at = strstr(body, "\"gpt-x\"");
  snprintf(expect, sizeof expect, "%.*s\"rerouted-model\"%s", (int)(at - body), body, at + 7);
  ASSERT_STR_EQ(llmrt_mock_last_body(mt.mock), expect);
  gwt_stop(&g, 1000);

  snprintf(pcfg, sizeof pcfg,
           "%.*s\"plugins\":[{\"name\":\"%s/system_prompt.so\",\"text\":\"Added.\"}],%s",
           (int)(tail - cfg), cfg, LLMRT_GW_PLUGIN_DIR, tail);
  ASSERT_EQ(gwt_start(&g, pcfg), 0);
  ASSERT_EQ(http_call(g.port, "POST", "/v1/chat/completions", HDR_A, body, &r), 0);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  const char *up = llmrt_mock_last_body(mt.mock);
  ASSERT_CONTAINS(up, "{\"role\":\"system\",\"content\":\"Added.\"}");
  ASSERT_CONTAINS(up, "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"part "
                      "one\",\"cache_control\":{\"type\":\"ephemeral\"}},{\"type\":\"image_url\","
                      "\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]}");
  ASSERT_CONTAINS(up, "\"zz\":1"); /* unknown members ride in extra_json */
  ASSERT_CONTAINS(up, "\"model\":\"mock-oa-1\"");
  gwt_stop(&g, 1000);
#else
  fprintf(stderr, "   skipped: test plugins not built\n");
#endif
}

int main(void) {
  setenv("GW_TEST_UPKEY", "sk-upstream-key", 1);
  ASSERT_EQ(mock_thread_start(&mt, NULL), 0);
  make_config(NULL);
  char err[512];
  ASSERT_EQ(llmrt_gw_check(cfg, err, sizeof err), 0);
  gw_thread_t g;
  ASSERT_EQ(gwt_start(&g, cfg), 0);
  struct {
    const char *name;
    void (*fn)(gw_thread_t *);
  } tests[] = {
      {"faithful_openai", test_faithful_openai},
      {"faithful_anthropic", test_faithful_anthropic},
      {"default_route_bytes", test_default_route_bytes},
      {"openai_stream", test_openai_stream},
      {"cross_openai_to_anthropic", test_cross_openai_to_anthropic},
      {"cross_anthropic_to_openai", test_cross_anthropic_to_openai},
      {"models_health", test_models_health},
      {"tool_calls", test_tool_calls},
      {"auth", test_auth},
      {"errors_before_commit", test_errors_before_commit},
      {"error_after_commit", test_error_after_commit},
      {"bad_bodies", test_bad_bodies},
      {"compressed_bodies", test_compressed_bodies},
      {"disconnect_cancels", test_disconnect_cancels},
      {"slow_reader", test_slow_reader},
      {"reload", test_reload},
      {"reload_failure_changes_nothing", test_reload_failure_changes_nothing},
      {"tenant_slash_refused", test_tenant_slash_refused},
      {"access_log_bounded", test_access_log_bounded},
      {"reload_applies_limits", test_reload_applies_limits},
      {"reload_reopens_log", test_reload_reopens_log},
  };
  const char *only = getenv("GW_TESTS"); /* a comma-separated subset, for debugging */
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    if (only && !strstr(only, tests[i].name)) continue;
    fprintf(stderr, "-- %s\n", tests[i].name);
    tests[i].fn(&g);
    fprintf(stderr, "ok %s\n", tests[i].name);
  }
  gwt_stop(&g, 1000);
  fprintf(stderr, "-- connection_limits\n");
  test_connection_limits();
  fprintf(stderr, "ok connection_limits\n");
  fprintf(stderr, "-- many_messages_linear\n");
  test_many_messages_linear();
  fprintf(stderr, "ok many_messages_linear\n");
  fprintf(stderr, "-- plugins_keep_bytes_and_parts\n");
  test_plugins_keep_bytes_and_parts();
  fprintf(stderr, "ok plugins_keep_bytes_and_parts\n");
  fprintf(stderr, "-- tenant_cache_isolation\n");
  test_tenant_cache_isolation();
  fprintf(stderr, "ok tenant_cache_isolation\n");
  fprintf(stderr, "-- graceful_shutdown\n");
  test_graceful_shutdown();
  fprintf(stderr, "ok graceful_shutdown\n");
  mock_thread_stop(&mt);
  return 0;
}
