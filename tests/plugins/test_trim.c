/* The trim plugin in whole calls against the mock (OpenAI and Anthropic
 * formats): what reaches the upstream (the mock's last request body), the
 * call's attributes and the metrics. Normalization, duplicate removal, the
 * history budget with tool pairs in both formats, the middle cut, an
 * unfittable prompt, the max_tokens default and cap, configuration errors,
 * and the plugin loaded as a .so. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt/tokens.h"
#include "llmrt_mock.h"
#include "test.h"

typedef struct {
  chainfx_call_t r;
  int n_attrs;
  char names[32][64];
  char strs[32][64];
  double nums[32];
} res_t;

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  res_t *x = user;
  chainfx_on_done(call, status, res, &x->r);
  x->n_attrs = (int)res->n_attrs;
  for (size_t i = 0; i < res->n_attrs && i < 32; i++) {
    snprintf(x->names[i], sizeof x->names[i], "%s", res->attrs[i].name);
    snprintf(x->strs[i], sizeof x->strs[i], "%s", res->attrs[i].str ? res->attrs[i].str : "");
    x->nums[i] = res->attrs[i].num;
  }
}
static const llmrt_callbacks_t cbs = {chainfx_on_token, NULL, on_done};

static double num(const res_t *x, const char *name) {
  for (int i = 0; i < x->n_attrs; i++)
    if (!strcmp(x->names[i], name)) return x->nums[i];
  TEST_FAIL_("attribute %s not set", name);
}
static const char *str(const res_t *x, const char *name) {
  for (int i = 0; i < x->n_attrs; i++)
    if (!strcmp(x->names[i], name)) return x->strs[i];
  TEST_FAIL_("attribute %s not set", name);
}
static int has(const res_t *x, const char *name) {
  for (int i = 0; i < x->n_attrs; i++)
    if (!strcmp(x->names[i], name)) return 1;
  return 0;
}

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt_mock_t *mock;

static void on_stopped(llmrt_mock_t *m, void *u) {}

static const char *extra_top = ""; /* more top-level configuration, ",\"key\":..." */

static int setup(const char *api, const char *plugin, char *err, size_t errlen) {
  uv_loop_init(&loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.tokens = 4;
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  rt = chainfx_rt_new(&loop, NULL);
  setenv("TRIM_TEST_KEY", "sk-trim-test-0123456789", 1);
  char cfg[4096];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api\":\"%s\","
           "\"api_key_env\":\"TRIM_TEST_KEY\"}},\"plugins\":[%s]%s}",
           llmrt_mock_url(mock), api, plugin, extra_top);
  return llmrt_configure(rt, cfg, err, errlen);
}

static void teardown(void) {
  llmrt_mock_stop(mock, on_stopped, NULL);
  chainfx_rt_close(rt, &loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void call(res_t *x, const char *model, const llmrt_message_t *m, size_t n, int max_tokens,
                 const char *extra_json) {
  memset(x, 0, sizeof *x);
  chainfx_call_init(&x->r);
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = model;
  req.messages = m;
  req.n_messages = n;
  req.max_tokens = max_tokens;
  req.extra_json = extra_json;
  ASSERT_EQ(llmrt_call(rt, &req, &cbs, x, NULL), 0);
  for (int i = 0; i < 100000 && !x->r.done; i++)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(x->r.done, 1);
}

/* The last body's messages array (OpenAI) or messages (Anthropic). */
static cJSON *body(void) {
  cJSON *b = cJSON_Parse(llmrt_mock_last_body(mock));
  ASSERT(b != NULL);
  return b;
}

#define PLUGIN(extra) "{\"name\":\"trim\"" extra "}"

static void test_normalization_reaches_upstream(void) {
  char err[256];
  ASSERT_EQ(setup("openai", PLUGIN(""), err, sizeof err), 0);
  llmrt_message_t m[] = {
      {.role = "system", .content = "  Be   terse.  \n\n\n\n"},
      {.role = "user", .content = "Fix this:\n\n\n\n```py\nx  =  1   \n\n\n\n```\nplease   now.  "},
  };
  res_t x;
  call(&x, "gpt-4o-mini", m, 2, 0, NULL);
  ASSERT_ERR(x.r.status, 0);
  cJSON *b = body();
  cJSON *msgs = cJSON_GetObjectItem(b, "messages");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "content")->valuestring,
                "Be terse.");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "content")->valuestring,
                "Fix this:\n\n```py\nx  =  1   \n\n\n\n```\nplease now.");
  cJSON_Delete(b);
  ASSERT(num(&x, "trim.tokens_before") > num(&x, "trim.tokens_after"));
  ASSERT_EQ(num(&x, "trim.tokens_removed"),
            num(&x, "trim.tokens_before") - num(&x, "trim.tokens_after"));
  ASSERT_EQ(num(&x, "trim.messages_dropped"), 0);
  ASSERT_STR_EQ(str(&x, "trim.max_tokens_policy"), "unset");
  ASSERT(!has(&x, "trim.max_tokens"));
  /* tokens_after is what llmrt_tokens_count_request says of the sent prompt. */
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  ASSERT_CONTAINS(text, "llmrt_trim_calls_total 1");
  ASSERT_CONTAINS(text, "llmrt_trim_tokens_removed_total");
  llmrt_free(text);
  teardown();
}

static void test_rules_switch_off_and_dedupe(void) {
  char err[256];
  ASSERT_EQ(setup("openai",
                  PLUGIN(",\"trailing_whitespace\":false,\"blank_lines\":false,"
                         "\"trim_messages\":false,\"collapse_spaces\":false,\"dedupe\":true"),
                  err, sizeof err),
            0);
  llmrt_message_t m[] = {
      {.role = "user", .content = "same  question  "},
      {.role = "user", .content = "same  question  "},
  };
  res_t x;
  call(&x, "gpt-4o", m, 2, 0, NULL);
  ASSERT_ERR(x.r.status, 0);
  cJSON *b = body();
  cJSON *msgs = cJSON_GetObjectItem(b, "messages");
  ASSERT_EQ(cJSON_GetArraySize(msgs), 1);
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "content")->valuestring,
                "same  question  ");
  cJSON_Delete(b);
  ASSERT_EQ(num(&x, "trim.duplicates_removed"), 1);
  teardown();
}

/* Messages with the same text but different content parts (two images, the
 * gateway puts only the text of text parts in `content`) are not duplicates:
 * dropping one would lose an image the caller sent. */
static void test_dedupe_keeps_different_parts(void) {
  char err[256];
  ASSERT_EQ(setup("openai", PLUGIN(",\"dedupe\":true"), err, sizeof err), 0);
  static const char p1[] = "[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\","
                           "\"image_url\":{\"url\":\"https://example.test/a.png\"}}]";
  static const char p2[] = "[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\","
                           "\"image_url\":{\"url\":\"https://example.test/b.png\"}}]";
  llmrt_message_t m[] = {
      {.struct_size = sizeof(llmrt_message_t),
       .role = "user",
       .content = "look",
       .content_json = p1},
      {.struct_size = sizeof(llmrt_message_t),
       .role = "user",
       .content = "look",
       .content_json = p2},
  };
  res_t x;
  call(&x, "gpt-4o", m, 2, 0, NULL);
  ASSERT_ERR(x.r.status, 0);
  cJSON *b = body();
  cJSON *msgs = cJSON_GetObjectItem(b, "messages");
  ASSERT_EQ(cJSON_GetArraySize(msgs), 2);
  char *s = cJSON_PrintUnformatted(msgs);
  ASSERT_CONTAINS(s, "a.png");
  ASSERT_CONTAINS(s, "b.png");
  cJSON_free(s);
  cJSON_Delete(b);
  ASSERT_EQ(num(&x, "trim.duplicates_removed"), 0);
  teardown();
}

/* A long history: turn k is "user k" + a long assistant answer. */
static char long_text[16][2048];
static size_t history(llmrt_message_t *m, int turns) {
  size_t n = 0;
  m[n++] = (llmrt_message_t){.role = "system", .content = "You answer questions."};
  for (int k = 0; k < turns; k++) {
    snprintf(long_text[k], sizeof long_text[k], "question %d", k);
    m[n++] = (llmrt_message_t){.role = "user", .content = long_text[k]};
    m[n++] = (llmrt_message_t){
        .role = "assistant",
        .content = "A long answer that goes on and on about the weather, the sea, the "
                   "mountains, the rivers and the many small towns along the coast, where "
                   "fishermen mend their nets and children play on the sand until dusk."};
  }
  m[n++] = (llmrt_message_t){.role = "user", .content = "the latest question"};
  return n;
}

static void test_budget_drops_oldest_turns(void) {
  char err[256];
  ASSERT_EQ(setup("openai", PLUGIN(",\"max_input_tokens\":200"), err, sizeof err), 0);
  llmrt_message_t m[64];
  size_t n = history(m, 10);
  res_t x;
  call(&x, "gpt-4o", m, n, 0, NULL);
  ASSERT_ERR(x.r.status, 0);
  ASSERT(num(&x, "trim.tokens_after") <= 200);
  ASSERT(num(&x, "trim.tokens_before") > 200);
  ASSERT_EQ(num(&x, "trim.budget"), 200);
  int dropped = (int)num(&x, "trim.messages_dropped");
  ASSERT(dropped > 0 && dropped % 2 == 0); /* whole turns */
  cJSON *b = body();
  cJSON *msgs = cJSON_GetObjectItem(b, "messages");
  int sent = cJSON_GetArraySize(msgs);
  ASSERT_EQ(sent, (int)n - dropped);
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "role")->valuestring, "system");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "role")->valuestring, "user");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, sent - 1), "content")->valuestring,
                "the latest question");
  /* The oldest went: the first user message kept is a later one. */
  const char *first = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "content")->valuestring;
  char want[32];
  snprintf(want, sizeof want, "question %d", dropped / 2);
  ASSERT_STR_EQ(first, want);
  cJSON_Delete(b);
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  char line[80];
  snprintf(line, sizeof line, "llmrt_trim_messages_dropped_total %d", dropped);
  ASSERT_CONTAINS(text, line);
  llmrt_free(text);
  teardown();
}

/* Tool calls and results stay together, in both formats. */
static void test_tool_pairs(const char *api) {
  char err[256];
  ASSERT_EQ(setup(api, PLUGIN(",\"max_input_tokens\":100"), err, sizeof err), 0);
  const char *calls = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
                      "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]";
  const char *calls2 = "[{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":"
                       "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]";
  llmrt_message_t m[] = {
      {.role = "system", .content = "You report the weather."},
      {.role = "user",
       .content = "Weather in Paris? Please give me all the details you can "
                  "find about the sky, the wind, the rain and the temperature."},
      {.role = "assistant", .content = NULL, .tool_calls_json = calls},
      {.role = "tool",
       .tool_call_id = "call_1",
       .content = "{\"temp\":11.5,\"sky\":\"overcast\",\"wind\":\"12 km/h from the west\","
                  "\"rain\":\"light rain expected in the evening, clearing overnight\"}"},
      {.role = "assistant", .content = "Paris: 11.5 C, overcast, light rain this evening."},
      {.role = "user", .content = "And Oslo?"},
      {.role = "assistant", .content = NULL, .tool_calls_json = calls2},
      {.role = "tool", .tool_call_id = "call_2", .content = "{\"temp\":-3,\"sky\":\"snow\"}"},
  };
  res_t x;
  call(&x, "gpt-4o", m, 8, 0, NULL);
  if (x.r.status) TEST_FAIL_("%s: %s", api, x.r.errmsg);
  ASSERT_EQ(num(&x, "trim.messages_dropped"), 4); /* the Paris turn, call and result together */
  const char *b = llmrt_mock_last_body(mock);
  ASSERT(strstr(b, "call_1") == NULL); /* neither the call nor its result */
  ASSERT(strstr(b, "call_2") != NULL);
  ASSERT(strstr(b, "Oslo") != NULL);
  ASSERT(strstr(b, "Paris") == NULL);
  /* The conversation starts with the user (Anthropic: the first message). */
  cJSON *j = body();
  cJSON *msgs = cJSON_GetObjectItem(j, "messages");
  cJSON *first = cJSON_GetArrayItem(msgs, !strcmp(api, "openai") ? 1 : 0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(first, "role")->valuestring, "user");
  cJSON_Delete(j);
  teardown();
}

static void test_tool_pairs_openai(void) {
  test_tool_pairs("openai");
}
static void test_tool_pairs_anthropic(void) {
  test_tool_pairs("anthropic");
}

static void test_unfittable_fails_clearly(void) {
  char err[256];
  ASSERT_EQ(setup("openai", PLUGIN(",\"max_input_tokens\":20"), err, sizeof err), 0);
  llmrt_message_t m[] = {
      {.role = "system",
       .content = "You are a helpful assistant with a long system prompt "
                  "that alone is larger than the tiny budget."},
      {.role = "user", .content = "hi"},
  };
  uint64_t before = 0;
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  before = st.requests;
  res_t x;
  call(&x, "gpt-4o", m, 2, 0, NULL);
  ASSERT_ERR(x.r.status, LLMRT_ETOKENBUDGET);
  ASSERT_CONTAINS(x.r.errmsg, "trim");
  ASSERT_CONTAINS(x.r.errmsg, "budget is 20");
  ASSERT_CONTAINS(x.r.errmsg, "prompt needs");
  ASSERT_CONTAINS(x.r.errmsg, "max_input_tokens");
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.requests, before); /* nothing was sent */
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  ASSERT_CONTAINS(text, "llmrt_trim_refused_total 1");
  llmrt_free(text);
  teardown();
  /* From the context window: the model table's window minus max_tokens. */
  ASSERT_EQ(setup("openai",
                  PLUGIN(",\"margin_tokens\":0,\"models\":[{\"match\":\"tiny-*\","
                         "\"context_window\":60,\"max_tokens_cap\":50}]"),
                  err, sizeof err),
            0);
  call(&x, "tiny-1", m, 2, 90, NULL);
  ASSERT_ERR(x.r.status, LLMRT_ETOKENBUDGET);
  ASSERT_CONTAINS(x.r.errmsg, "budget is 10 (context window 60 - max_tokens 50 - margin 0)");
  ASSERT_CONTAINS(x.r.errmsg, "tiny-1");
  teardown();
  /* Anthropic with max_tokens unset gets 1024 from llmrt: that is what the
   * window must keep free, not the model's cap. */
  ASSERT_EQ(setup("anthropic",
                  PLUGIN(",\"margin_tokens\":0,\"models\":[{\"match\":\"c-*\","
                         "\"context_window\":1040,\"max_tokens_cap\":4096}]"),
                  err, sizeof err),
            0);
  call(&x, "c-1", m, 2, 0, NULL);
  ASSERT_ERR(x.r.status, LLMRT_ETOKENBUDGET);
  ASSERT_CONTAINS(x.r.errmsg, "budget is 16 (context window 1040 - max_tokens 1024 - margin 0)");
  teardown();
}

static void test_shorten_middle(void) {
  char err[256];
  ASSERT_EQ(setup("openai", PLUGIN(",\"max_input_tokens\":120,\"shorten\":true"), err, sizeof err),
            0);
  static char big[8192];
  size_t o = 0;
  o += (size_t)snprintf(big + o, sizeof big - o, "HEAD of the document. ");
  for (int i = 0; i < 60; i++)
    o += (size_t)snprintf(big + o, sizeof big - o, "Paragraph %d says something new. ", i);
  snprintf(big + o, sizeof big - o, "TAIL: what is the summary?");
  llmrt_message_t m[] = {{.role = "user", .content = big}};
  res_t x;
  call(&x, "gpt-4o", m, 1, 0, NULL);
  if (x.r.status) TEST_FAIL_("%s", x.r.errmsg);
  ASSERT_EQ(num(&x, "trim.messages_shortened"), 1);
  ASSERT(num(&x, "trim.tokens_after") <= 120);
  const char *b = llmrt_mock_last_body(mock);
  ASSERT(strstr(b, "HEAD of the document") != NULL);
  ASSERT(strstr(b, "TAIL: what is the summary?") != NULL);
  ASSERT(strstr(b, "[... trimmed ...]") != NULL);
  teardown();
}

/* A message whose content travels as parts (content_json) cannot be cut by
 * editing its text: the parts are what is sent. Such a prompt does not fit,
 * rather than "fit" with the whole document still sent. */
static void test_shorten_leaves_parts_alone(void) {
  char err[256];
  ASSERT_EQ(setup("openai", PLUGIN(",\"max_input_tokens\":120,\"shorten\":true"), err, sizeof err),
            0);
  static char big[8192];
  size_t o = 0;
  for (int i = 0; i < 60; i++)
    o += (size_t)snprintf(big + o, sizeof big - o, "Paragraph %d says something new. ", i);
  cJSON *parts = cJSON_CreateArray();
  cJSON *part = cJSON_CreateObject();
  cJSON_AddStringToObject(part, "type", "text");
  cJSON_AddStringToObject(part, "text", big);
  cJSON_AddItemToArray(parts, part);
  char *pj = cJSON_PrintUnformatted(parts);
  cJSON_Delete(parts);
  llmrt_message_t m[] = {
      {.struct_size = sizeof(llmrt_message_t), .role = "user", .content = big, .content_json = pj}};
  res_t x;
  call(&x, "gpt-4o", m, 1, 0, NULL);
  cJSON_free(pj);
  ASSERT_ERR(x.r.status, LLMRT_ETOKENBUDGET);
  ASSERT_EQ(num(&x, "trim.messages_shortened"), 0);
  teardown();
}

static void test_max_tokens_policy(void) {
  char err[256];
  ASSERT_EQ(setup("openai",
                  PLUGIN(",\"max_tokens_default\":300,\"models\":[{\"match\":\"capped\","
                         "\"context_window\":100000,\"max_tokens_cap\":200}]"),
                  err, sizeof err),
            0);
  llmrt_message_t m[] = {{.role = "user", .content = "hello"}};
  res_t x;
  call(&x, "gpt-4o", m, 1, 0, NULL); /* unset: the default */
  ASSERT_ERR(x.r.status, 0);
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"max_tokens\":300");
  ASSERT_STR_EQ(str(&x, "trim.max_tokens_policy"), "default");
  ASSERT_EQ(num(&x, "trim.max_tokens"), 300);
  call(&x, "capped", m, 1, 5000, NULL); /* above the cap */
  ASSERT_ERR(x.r.status, 0);
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"max_tokens\":200");
  ASSERT_STR_EQ(str(&x, "trim.max_tokens_policy"), "cap");
  call(&x, "capped", m, 1, 0, NULL); /* the default, capped */
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"max_tokens\":200");
  ASSERT_STR_EQ(str(&x, "trim.max_tokens_policy"), "cap");
  call(&x, "gpt-4o", m, 1, 77, NULL); /* the request's own */
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"max_tokens\":77");
  ASSERT_STR_EQ(str(&x, "trim.max_tokens_policy"), "request");
  /* The built-in cap of a known model. */
  call(&x, "gpt-4o-2024-08-06", m, 1, 100000, NULL);
  ASSERT_ERR(x.r.status, 0);
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"max_tokens\":16384");
  teardown();
  /* Anthropic too. */
  ASSERT_EQ(setup("anthropic", PLUGIN(",\"max_tokens_default\":333"), err, sizeof err), 0);
  call(&x, "claude-sonnet-4-5", m, 1, 0, NULL);
  ASSERT_ERR(x.r.status, 0);
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"max_tokens\":333");
  teardown();
}

static void test_config_errors(void) {
  const char *bad[][2] = {
      {PLUGIN(",\"bogus\":1"), "unknown key \"bogus\""},
      {PLUGIN(",\"dedupe\":1"), "dedupe must be true or false"},
      {PLUGIN(",\"count_memo\":-1"), "count_memo must be an integer from 0"},
      {PLUGIN(",\"max_input_tokens\":-5"), "max_input_tokens must be an integer"},
      {PLUGIN(",\"models\":{}"), "models must be an array"},
      {PLUGIN(",\"models\":[{\"context_window\":5}]"), "must be an object with a \"match\""},
      {PLUGIN(",\"models\":[{\"match\":\"x\",\"encoding\":\"p50k\"}]"), "encoding must be"},
      {PLUGIN(",\"models\":[{\"match\":\"x\",\"context_window\":0}]"),
       "models[0]: context_window must be"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char err[512];
    int r = setup("openai", bad[i][0], err, sizeof err);
    ASSERT_ERR(r, LLMRT_EPLUGIN);
    ASSERT_CONTAINS(err, bad[i][1]);
    teardown();
  }
}

static void test_loaded_as_so(void) {
  char err[256];
  ASSERT_EQ(setup("openai", "{\"name\":\"" LLMRT_BINARY_DIR "/plugins/trim.so\"}", err, sizeof err),
            0);
  llmrt_message_t m[] = {{.role = "user", .content = "  so   loaded  "}};
  res_t x;
  call(&x, "gpt-4o", m, 1, 0, NULL);
  ASSERT_ERR(x.r.status, 0);
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"so loaded\"");
  teardown();
}

/* The memo of message counts gives the counts counting gives: the same
 * request twice, then one message changed, against an instance without it. */
static void test_count_memo(void) {
  char err[256];
  const char *confs[2] = {PLUGIN(""), PLUGIN(",\"count_memo\":0")};
  double got[2][3];
  for (int c = 0; c < 2; c++) {
    ASSERT_EQ(setup("openai", confs[c], err, sizeof err), 0);
    llmrt_message_t m[] = {{.role = "system", .content = "Be   brief.  "},
                           {.role = "user", .content = "first question"},
                           {.role = "assistant", .content = "first   answer\n\n\n\n"},
                           {.role = "user", .content = "second question"}};
    res_t x;
    call(&x, "gpt-4o", m, 4, 0, NULL);
    got[c][0] = num(&x, "trim.tokens_before");
    call(&x, "gpt-4o", m, 4, 0, NULL);
    ASSERT_EQ(num(&x, "trim.tokens_before"), got[c][0]);
    got[c][1] = num(&x, "trim.tokens_after");
    m[2].content = "a much longer first answer, which costs more tokens than before";
    call(&x, "gpt-4o", m, 4, 0, NULL);
    got[c][2] = num(&x, "trim.tokens_before");
    ASSERT(got[c][2] > got[c][0]);
    teardown();
  }
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(got[0][i], got[1][i]);
}

/* The configuration's token_encodings reach the host's counters. */
static void test_token_encodings(void) {
  char err[256];
  extra_top = ",\"token_encodings\":{\"house-cl*\":\"cl100k_base\",\"house-*\":\"o200k_base\"}";
  ASSERT_EQ(setup("openai", PLUGIN(""), err, sizeof err), 0);
  llmrt_message_t m[] = {{.role = "user", .content = "上下文窗口的大小决定了模型一次能读多少文字"}};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.messages = m;
  req.n_messages = 1;
  llmrt_tokenizer_t *cl, *o2;
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_CL100K, &cl), 0);
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_O200K, &o2), 0);
  int64_t want_cl = llmrt_tokens_count_request(cl, &req),
          want_o2 = llmrt_tokens_count_request(o2, &req);
  ASSERT_NE(want_cl, want_o2);
  res_t x;
  call(&x, "house-cl-7b", m, 1, 0, NULL);
  ASSERT_ERR(x.r.status, 0);
  ASSERT_EQ(num(&x, "trim.tokens_before"), want_cl);
  call(&x, "house-x", m, 1, 0, NULL);
  ASSERT_EQ(num(&x, "trim.tokens_before"), want_o2);
  teardown();
  extra_top = ",\"token_encodings\":{\"x*\":\"p50k_base\"}";
  int r = setup("openai", PLUGIN(""), err, sizeof err);
  ASSERT_ERR(r, LLMRT_ECONFIG);
  ASSERT_CONTAINS(err, "$.token_encodings.x*: must be");
  teardown();
  extra_top = ",\"token_encodings\":[]";
  ASSERT_ERR(setup("openai", PLUGIN(""), err, sizeof err), LLMRT_ECONFIG);
  ASSERT_CONTAINS(err, "$.token_encodings: must be an object");
  teardown();
  extra_top = "";
  llmrt_tokenizer_free(cl);
  llmrt_tokenizer_free(o2);
}

int main(void) {
  RUN_TEST(test_normalization_reaches_upstream);
  RUN_TEST(test_rules_switch_off_and_dedupe);
  RUN_TEST(test_dedupe_keeps_different_parts);
  RUN_TEST(test_budget_drops_oldest_turns);
  RUN_TEST(test_tool_pairs_openai);
  RUN_TEST(test_tool_pairs_anthropic);
  RUN_TEST(test_unfittable_fails_clearly);
  RUN_TEST(test_shorten_middle);
  RUN_TEST(test_shorten_leaves_parts_alone);
  RUN_TEST(test_max_tokens_policy);
  RUN_TEST(test_config_errors);
  RUN_TEST(test_loaded_as_so);
  RUN_TEST(test_token_encodings);
  RUN_TEST(test_count_memo);
  return 0;
}
