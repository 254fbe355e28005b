/* The metrics plugin over a known sequence of calls against the mock:
 * successes streamed and not over both APIs, a retried server error, an
 * authentication error, a reset that exhausts the retries, an answer from a
 * test plugin standing in for a cache, and a model name that needs
 * escaping. Counts, sums and bucket placements must match what the calls'
 * own results say; every exposition passes promtool and agrees with the
 * JSON; 10,000 distinct model names stay within the cardinality cap. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics_check.h"
#include "metrics_fixture.h"

/* ---- A test plugin: answers model "cached*" itself (a cache hit), sets
 * attributes on every call ---- */
static const llmrt_host_t *TH;

static int answer_request(llmrt_ctx_t *ctx) {
  const llmrt_request_t *req = TH->request(ctx);
  TH->attr_set_num(ctx, "trim.tokens_removed_total", 12);
  TH->attr_set_num(ctx, "limits.wait_ms", 30);
  TH->attr_set_num(ctx, "test.depth", 100);
  TH->attr_set_num(ctx, "test.latency", 2500); /* declared "ms" */
  TH->attr_set_num(ctx, "test.ignored_total", 5);
  TH->attr_set_str(ctx, "test.label_total", "strings are never exported");
  if (TH->attempt(ctx) >= 1) TH->attr_set_str(ctx, "retry.reason", "server_error");
  if (strncmp(req->model, "cached", 6) != 0) {
    TH->attr_set_num(ctx, "cache.hit", 0);
    return LLMRT_CONTINUE;
  }
  llmrt_result_t res = {.struct_size = sizeof res,
                        .text = "from the cache",
                        .finish_reason = "stop",
                        .model = req->model,
                        .input_tokens = 7,
                        .output_tokens = 3,
                        .cache_hit = 1};
  ASSERT_ERR(TH->respond(ctx, &res), 0);
  return LLMRT_STOP;
}

static const llmrt_plugin_t answer_desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "answer",
    .on_request = answer_request,
};

static const llmrt_plugin_t *answer_entry(const llmrt_host_t *host) {
  TH = host;
  return &answer_desc;
}

#define PLUGINS                                                                                    \
  "{\"name\":\"metrics\",\"attributes\":{\"test.depth\":\"tokens\",\"test.latency\":\"ms\","       \
  "\"test.ignored_total\":"                                                                        \
  "\"ignore\"}},{\"name\":\"retry\",\"max_attempts\":3,\"base_delay_ms\":1,\"max_delay_ms\":5},"   \
  "{\"name\":\"answer\"}"

/* Sums a field ("count" or "sum") of every series of a histogram, or the
 * value of a counter, over the series whose labels include all of
 * want ("k=v" pairs, NULL-terminated). */
static double jsum(cJSON *root, const char *metric, const char *field, const char *const *want) {
  double total = 0;
  const cJSON *m, *s;
  cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "metrics")) {
    if (strcmp(cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring, metric) != 0) continue;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(m, "series")) {
      const cJSON *labels = cJSON_GetObjectItemCaseSensitive(s, "labels");
      int ok = 1;
      for (size_t i = 0; want && want[i]; i++) {
        char k[128];
        const char *eq = strchr(want[i], '=');
        snprintf(k, sizeof k, "%.*s", (int)(eq - want[i]), want[i]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, k);
        if (!v || strcmp(v->valuestring, eq + 1) != 0) ok = 0;
      }
      if (ok) total += cJSON_GetObjectItemCaseSensitive(s, field)->valuedouble;
    }
  }
  return total;
}

/* The cumulative count of bucket le of the histogram series with exactly
 * these labels (text form). */
static double bucket(const char *text, const char *metric, const char *labels, const char *le) {
  char series[1024];
  snprintf(series, sizeof series, "%s_bucket{%s,le=\"%s\"}", metric, labels, le);
  return mcheck_value(text, series);
}

#define DUR "gen_ai_client_operation_duration_seconds"
#define TOK "gen_ai_client_token_usage"

static void test_known_sequence(void) {
  mfx_t f;
  mfx_start(&f, 0, NULL, NULL);
  ASSERT_EQ(llmrt_add_plugin(f.rt, "answer", answer_entry), 0);
  mfx_configure(&f, PLUGINS);
  enum { A, B, C, D, E, F, G, H, N };
  chainfx_call_t r[N];
  mfx_call(&f, &r[A], "oa", "gpt-a", 0, "ttft_ms=100,tokens=20", NULL);
  mfx_call(&f, &r[B], "oa", "gpt-a", 1, "tokens=5,token_ms=40", NULL);
  mfx_call(&f, &r[C], "oa", "gpt-a", 0, "status=500,fail_first=1,id=c", NULL);
  mfx_call(&f, &r[D], "oa", "gpt-a", 0, "status=401", NULL);
  mfx_call(&f, &r[E], "oa", "gpt-b", 0, "fault=reset", NULL);
  mfx_call(&f, &r[F], "an", "claude-x", 1, "tokens=9", NULL);
  mfx_call(&f, &r[G], "oa", "cached-1", 1, NULL, NULL);
  mfx_call(&f, &r[H], "oa", "we\"ird\\mo\ndel", 0, "tokens=2", NULL);
  mfx_wait(&f, r, N);
  ASSERT_ERR(r[A].status, 0);
  ASSERT_ERR(r[B].status, 0);
  ASSERT_ERR(r[C].status, 0);
  ASSERT_EQ(r[C].attempts, 2);
  ASSERT(r[D].status != 0);
  ASSERT_STR_EQ(r[D].error_type, "invalid_request_error");
  ASSERT_ERR(r[E].status, LLMRT_ECONNRESET);
  ASSERT_EQ(r[E].attempts, 3);
  ASSERT_ERR(r[F].status, 0);
  ASSERT_ERR(r[G].status, 0);
  ASSERT_EQ(r[G].cache_hit, 1);
  ASSERT_ERR(r[H].status, 0);

  char *text = mcheck_all(f.rt), *json = NULL;
  ASSERT_ERR(llmrt_metrics_json(f.rt, &json, NULL), 0);
  cJSON *root = cJSON_Parse(json);
  ASSERT(root != NULL);

  /* One duration per call; errors carry error.type. */
  ASSERT_EQ(jsum(root, DUR, "count", NULL), N);
  const char *oa_err[] = {"error_type=invalid_request_error", NULL};
  ASSERT_EQ(jsum(root, DUR, "count", oa_err), 1);
  const char *reset[] = {"error_type=LLMRT_ECONNRESET", "gen_ai_request_model=gpt-b", NULL};
  ASSERT_EQ(jsum(root, DUR, "count", reset), 1);
  const char *anth[] = {"gen_ai_provider_name=anthropic", "gen_ai_request_model=claude-x",
                        "server_address=localhost", NULL};
  ASSERT_EQ(jsum(root, DUR, "count", anth), 1);
  /* A: at least 100 ms, so not in the buckets below; its series holds A,
   * B and C (same labels: streaming is not one). */
  char port[16];
  snprintf(port, sizeof port, "%u", (unsigned)llmrt_mock_port(f.mock));
  char lab[512];
  snprintf(lab, sizeof lab,
           "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model="
           "\"gpt-a\",gen_ai_response_model=\"gpt-a\",server_address=\"localhost\","
           "server_port=\"%s\"",
           port);
  ASSERT(bucket(text, DUR, lab, "+Inf") == 3);
  ASSERT(bucket(text, DUR, lab, "0.08") <= 2);
  double sum_a = (r[A].timings.total_us + r[B].timings.total_us + r[C].timings.total_us) / 1e6;
  char series[640];
  snprintf(series, sizeof series, DUR "_sum{%s}", lab);
  ASSERT(fabs(mcheck_value(text, series) - sum_a) < 1e-6);

  /* Tokens: exactly what the results reported, never for the cache hit. */
  double in = 0, out = 0;
  for (int i = 0; i < N; i++)
    if (i != G) in += r[i].in_tok, out += r[i].out_tok;
  const char *t_in[] = {"gen_ai_token_type=input", NULL},
             *t_out[] = {"gen_ai_token_type=output", NULL};
  ASSERT(in > 0 && out > 0);
  ASSERT_EQ(jsum(root, TOK, "sum", t_in), in);
  ASSERT_EQ(jsum(root, TOK, "sum", t_out), out);
  const char *cached[] = {"gen_ai_request_model=cached-1", NULL};
  ASSERT_EQ(jsum(root, TOK, "count", cached), 0);
  /* gpt-a output: 20 (A), 5 (B), 32 (C): bucket placement. */
  char tl[600];
  snprintf(tl, sizeof tl, "%s,gen_ai_token_type=\"output\"", lab);
  ASSERT(bucket(text, TOK, tl, "4") == 0);
  ASSERT(bucket(text, TOK, tl, "16") == 1);
  ASSERT(bucket(text, TOK, tl, "64") == 3);
  snprintf(series, sizeof series, TOK "_sum{%s}", tl);
  ASSERT_EQ(mcheck_value(text, series), r[A].out_tok + r[B].out_tok + r[C].out_tok);

  /* Streamed calls only: time to first chunk, and one chunk time per chunk
   * after the first (what the runtime counted as gaps). */
  ASSERT_EQ(jsum(root, "gen_ai_client_operation_time_to_first_chunk_seconds", "count", NULL), 3);
  ASSERT_EQ(jsum(root, "gen_ai_client_operation_time_per_output_chunk_seconds", "count", NULL),
            r[B].timings.n_gaps + r[F].timings.n_gaps + r[G].timings.n_gaps);
  const char *gpta[] = {"gen_ai_request_model=gpt-a", NULL};
  ASSERT_EQ(r[B].timings.n_gaps, 4);
  double b_gaps = jsum(root, "gen_ai_client_operation_time_per_output_chunk_seconds", "sum", gpta);
  ASSERT(b_gaps >= 0.1 && b_gaps < 5);

  /* llmrt's own. */
  ASSERT(mcheck_value(text, "llmrt_client_attempts_total{upstream=\"oa\"}") ==
         1 + 1 + 2 + 1 + 3 + 1);
  ASSERT(mcheck_value(text, "llmrt_client_attempts_total{upstream=\"an\"}") == 1);
  ASSERT(mcheck_value(text,
                      "llmrt_client_retries_total{upstream=\"oa\",reason=\"server_error\"}") == 3);
  ASSERT(mcheck_value(text, "llmrt_client_cache_results_total{result=\"hit\"}") == 1);
  ASSERT(mcheck_value(text, "llmrt_client_cache_results_total{result=\"miss\"}") == N - 1);
  ASSERT(mcheck_value(text, "llmrt_client_overhead_seconds_count{upstream=\"oa\"}") == N - 1);
  ASSERT(mcheck_value(text, "llmrt_trim_tokens_removed_total{upstream=\"oa\"}") == 12 * (N - 1));
  ASSERT(mcheck_value(text, "llmrt_limits_wait_seconds_bucket{upstream=\"an\",le=\"0.02\"}") == 0);
  ASSERT(mcheck_value(text, "llmrt_limits_wait_seconds_bucket{upstream=\"an\",le=\"0.04\"}") == 1);
  ASSERT(mcheck_value(text, "llmrt_test_depth_tokens_sum{upstream=\"oa\"}") == 100 * (N - 1));
  ASSERT(mcheck_value(text, "llmrt_test_latency_seconds_sum{upstream=\"an\"}") == 2.5);
  ASSERT(strstr(text, "ignored") == NULL);
  ASSERT(strstr(text, "label_total") == NULL);
  /* The model name with a quote, a backslash and a newline, escaped. */
  ASSERT_CONTAINS(text, "gen_ai_request_model=\"we\\\"ird\\\\mo\\ndel\"");

  cJSON_Delete(root);
  llmrt_free(json);
  llmrt_free(text);
  mfx_stop(&f);
}

/* Each way a call fails gives its error.type: the provider's error type
 * when it sent one, else llmrt's error name. */
static void test_error_types(void) {
  mfx_t f;
  mfx_start(&f, 0, NULL, NULL);
  ASSERT_EQ(llmrt_add_plugin(f.rt, "answer", answer_entry), 0);
  mfx_configure(&f, PLUGINS);
  enum { RATE, OVER, BAD, TIMEOUT, CANCEL, N };
  chainfx_call_t r[N];
  mfx_call(&f, &r[RATE], "an", "m", 0, "status=429", NULL);
  mfx_call(&f, &r[OVER], "an", "m", 1, "status=529", NULL);
  mfx_call(&f, &r[BAD], "oa", "m", 0, "status=400", NULL);
  /* A total deadline (not retried) and a cancel. */
  llmrt_message_t msg = {.role = "user", .content = "slow"};
  llmrt_header_t h = {"x-mock", "ttft_ms=5000"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = "oa";
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  req.headers = &h;
  req.n_headers = 1;
  req.deadline_ms = 100;
  chainfx_call_init(&r[TIMEOUT]);
  ASSERT_EQ(llmrt_call(f.rt, &req, &chainfx_callbacks, &r[TIMEOUT], NULL), 0);
  req.deadline_ms = 0;
  uint64_t id = 0;
  chainfx_call_init(&r[CANCEL]);
  ASSERT_EQ(llmrt_call(f.rt, &req, &chainfx_callbacks, &r[CANCEL], &id), 0);
  mfx_sleep(&f, 50);
  ASSERT_EQ(llmrt_cancel(f.rt, id), 0);
  mfx_wait(&f, r, N);
  ASSERT_STR_EQ(r[RATE].error_type, "rate_limit_error");
  ASSERT_EQ(r[RATE].attempts, 3);
  ASSERT_STR_EQ(r[OVER].error_type, "overloaded_error");
  ASSERT_STR_EQ(r[BAD].error_type, "invalid_request_error");
  ASSERT_ERR(r[TIMEOUT].status, LLMRT_ETIMEDOUT);
  ASSERT_ERR(r[CANCEL].status, LLMRT_ECANCELED);

  char *text = mcheck_all(f.rt), *json = NULL;
  ASSERT_ERR(llmrt_metrics_json(f.rt, &json, NULL), 0);
  cJSON *root = cJSON_Parse(json);
  ASSERT_EQ(jsum(root, DUR, "count", NULL), N);
  const char *types[] = {"rate_limit_error", "overloaded_error", "invalid_request_error",
                         "LLMRT_ETIMEDOUT", "LLMRT_ECANCELED"};
  for (int i = 0; i < N; i++) {
    char want[64];
    snprintf(want, sizeof want, "error_type=%s", types[i]);
    const char *w[] = {want, NULL};
    if (jsum(root, DUR, "count", w) != 1) TEST_FAIL_("no duration with %s", want);
  }
  /* No call got an answer: no tokens, no response model. */
  ASSERT_EQ(jsum(root, TOK, "count", NULL), 0);
  ASSERT(strstr(text, "gen_ai_response_model") == NULL);
  /* 429 and 529 were retried twice each, with the reason the test plugin set. */
  ASSERT(mcheck_value(text,
                      "llmrt_client_retries_total{upstream=\"an\",reason=\"server_error\"}") == 4);
  cJSON_Delete(root);
  llmrt_free(json);
  llmrt_free(text);
  mfx_stop(&f);
}

/* 10,000 distinct model names (answered by the test plugin, so quickly):
 * each model label keeps at most max_label_values values. */
static void test_cardinality_bounded(void) {
  mfx_t f;
  mfx_start(&f, 0, NULL, NULL);
  ASSERT_EQ(llmrt_add_plugin(f.rt, "answer", answer_entry), 0);
  mfx_configure(&f, "{\"name\":\"metrics\",\"max_label_values\":50},{\"name\":\"answer\"}");
  char model[32];
  for (int i = 0; i < 10000; i++) {
    chainfx_call_t r;
    snprintf(model, sizeof model, "cached-%d", i);
    mfx_call(&f, &r, "oa", model, i % 2, NULL, NULL);
    mfx_wait(&f, &r, 1);
    ASSERT_ERR(r.status, 0);
  }
  char *text = mcheck_all(f.rt), *json = NULL;
  ASSERT_ERR(llmrt_metrics_json(f.rt, &json, NULL), 0);
  cJSON *root = cJSON_Parse(json);
  ASSERT_EQ(jsum(root, DUR, "count", NULL), 10000);
  const char *other[] = {"gen_ai_request_model=other", NULL};
  ASSERT_EQ(jsum(root, DUR, "count", other), 10000 - 50);
  /* Series: 50 models with their own response model, then "other". */
  const cJSON *m;
  cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "metrics")) {
    if (strcmp(cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring, DUR) == 0)
      ASSERT_LE(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "series")), 51);
  }
  ASSERT(mcheck_value(text, "llmrt_metrics_folded_total{metric=\"" DUR
                            "\",label=\"gen_ai_request_model\"}") == 10000 - 50);
  ASSERT_LE(strlen(text), 600000); /* 51 series in each of two histograms */
  cJSON_Delete(root);
  llmrt_free(json);
  llmrt_free(text);
  mfx_stop(&f);
}

/* A long model name is cut at 128 bytes, never inside a UTF-8 character;
 * a value that is not clean UTF-8 is made so. */
static void test_long_value_cut(void) {
  mfx_t f;
  mfx_start(&f, 0, NULL, NULL);
  ASSERT_EQ(llmrt_add_plugin(f.rt, "answer", answer_entry), 0);
  mfx_configure(&f, "{\"name\":\"metrics\"},{\"name\":\"answer\"}");
  char model[256] = "cached", want[256] = "gen_ai_request_model=\"cached";
  for (int i = 0; i < 100; i++)
    strcat(model, "\xc3\xa9"); /* é: 6 + 200 bytes */
  for (int i = 0; i < 61; i++)
    strcat(want, "\xc3\xa9"); /* 6 + 122 = 128; the 62nd would cut */
  strcat(want, "\",");
  chainfx_call_t r;
  mfx_call(&f, &r, "oa", model, 0, NULL, NULL);
  mfx_wait(&f, &r, 1);
  ASSERT_ERR(r.status, 0);
  /* One byte more in front: the 61st character would straddle the cut. */
  char model2[256] = "cachedx", want2[256] = "gen_ai_request_model=\"cachedx";
  for (int i = 0; i < 100; i++)
    strcat(model2, "\xc3\xa9");
  for (int i = 0; i < 60; i++)
    strcat(want2, "\xc3\xa9");
  strcat(want2, "\",");
  mfx_call(&f, &r, "oa", model2, 0, NULL, NULL);
  mfx_wait(&f, &r, 1);
  /* Bytes that are not UTF-8 become U+FFFD, other control characters '?':
   * Prometheus refuses a scrape with a label value that is not UTF-8. */
  mfx_call(&f, &r, "oa", "cached\xff\x01\r\tz\xc3", 0, NULL, NULL);
  mfx_wait(&f, &r, 1);
  char *text = mcheck_all(f.rt);
  ASSERT_CONTAINS(text, want);
  ASSERT_CONTAINS(text, want2);
  ASSERT_CONTAINS(text, "gen_ai_request_model=\"cached\xef\xbf\xbd???z\xef\xbf\xbd\",");
  llmrt_free(text);
  mfx_stop(&f);
}

int main(void) {
  RUN_TEST(test_known_sequence);
  RUN_TEST(test_error_types);
  RUN_TEST(test_cardinality_bounded);
  RUN_TEST(test_long_value_cut);
  return 0;
}
