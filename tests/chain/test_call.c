/* Calls end to end: llmrt_call against the mock upstream on loopback, both
 * protocols, streamed and not, plain and TLS, with every mock fault. */
#include <stdlib.h>
#include <string.h>

#include "llmrt.h"
#include "llmrt_mock.h"
#include "rawserver.h"
#include "test.h"

typedef struct {
  char tool_name[64];
  char tool_id[64];
  char tool_args[512];
  size_t tool_args_len;
  int tool_index_max;
} tool_t;

typedef struct {
  llmrt_t *rt;
  tool_t tool;
  llmrt_mock_t *mock;
  int done;
  int status;
  char text[16384];
  size_t text_len;
  char tokens[16384]; /* concatenation of on_token deltas */
  size_t tokens_len;
  int n_tokens;
  int n_events[8];
  char finish[32];
  char error_type[64];
  char errmsg[512];
  int64_t in_tok, out_tok;
  int http_status;
  int attempts;
  int cancel_after;  /* cancel from on_token after this many tokens */
  int close_after;   /* llmrt_close from on_token after this many tokens */
  int utf8_split;    /* a token ended inside a UTF-8 character */
  uint64_t call;
  llmrt_timings_t timings;
} run_t;

static int closed;

static void on_closed(llmrt_t *rt, void *user) {
  closed++;
}

static void on_mock_stopped(llmrt_mock_t *m, void *user) {
}

/* True when s[0..n) does not end inside a multi-byte UTF-8 sequence. */
static int utf8_complete(const char *s, size_t n) {
  size_t i = n, k = 0;
  while (i > 0 && k < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--, k++;
  if (i == 0) return k == 0;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t need = lead < 0x80 ? 0 : lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
  return need == k;
}

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  run_t *r = user;
  ASSERT(r->tokens_len + len < sizeof r->tokens);
  memcpy(r->tokens + r->tokens_len, text, len);
  r->tokens_len += len;
  r->n_tokens++;
  if (!utf8_complete(text, len)) r->utf8_split = 1;
  if (r->cancel_after && r->n_tokens == r->cancel_after) {
    ASSERT_EQ(llmrt_call_cancel(call), 0);
    ASSERT_EQ(llmrt_call_cancel(call), 0); /* idempotent */
  }
  if (r->close_after && r->n_tokens == r->close_after) {
    llmrt_mock_stop(r->mock, on_mock_stopped, NULL);
    llmrt_close(r->rt, on_closed, NULL);
  }
}

static void on_event(llmrt_call_t *call, const llmrt_event_t *ev, void *user) {
  run_t *r = user;
  ASSERT(ev->type >= 1 && ev->type < 8);
  r->n_events[ev->type]++;
  if (ev->type == LLMRT_EV_TOOL_CALL) {
    if (ev->name) snprintf(r->tool.tool_name, sizeof r->tool.tool_name, "%s", ev->name);
    if (ev->id) snprintf(r->tool.tool_id, sizeof r->tool.tool_id, "%s", ev->id);
    ASSERT(r->tool.tool_args_len + ev->len < sizeof r->tool.tool_args);
    memcpy(r->tool.tool_args + r->tool.tool_args_len, ev->text, ev->len);
    r->tool.tool_args_len += ev->len;
    if ((int)ev->index > r->tool.tool_index_max) r->tool.tool_index_max = (int)ev->index;
  }
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  run_t *r = user;
  r->done++;
  r->status = status;
  ASSERT(res->text_len < sizeof r->text);
  memcpy(r->text, res->text, res->text_len);
  r->text_len = res->text_len;
  snprintf(r->finish, sizeof r->finish, "%s", res->finish_reason ? res->finish_reason : "");
  snprintf(r->error_type, sizeof r->error_type, "%s", res->error_type ? res->error_type : "");
  snprintf(r->errmsg, sizeof r->errmsg, "%s", res->error_message ? res->error_message : "");
  r->in_tok = res->input_tokens;
  r->out_tok = res->output_tokens;
  r->http_status = res->http_status;
  r->attempts = res->attempts;
  r->timings = res->timings;
  if (status == 0) ASSERT(res->error_message == NULL);
  else ASSERT(res->error_message && *res->error_message);
}

typedef struct {
  const char *controls; /* mock defaults for this test */
  int tls;
  uint32_t idle_ms, first_byte_ms, first_token_ms;
  int max_conns; /* max_connections of upstream "oa"; 0: unset */
} setup_t;

static uv_loop_t loop;

static void start(run_t *r, const setup_t *s) {
  memset(r, 0, sizeof *r);
  closed = 0;
  uv_loop_init(&loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  if (s && s->tls) {
    mo.tls_cert = LLMRT_TEST_CERTS "/server.pem";
    mo.tls_key = LLMRT_TEST_CERTS "/server.key";
  }
  mo.controls = s ? s->controls : NULL;
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &r->mock), 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = LLMRT_TEST_CERTS "/ca.pem";
  o.log_level = LLMRT_LOG_ERROR; /* upstream "nokey" is unset on purpose */
  if (s && s->idle_ms) o.idle_timeout_ms = s->idle_ms;
  if (s && s->first_byte_ms) o.first_byte_timeout_ms = s->first_byte_ms;
  if (s && s->first_token_ms) o.first_token_timeout_ms = s->first_token_ms;
  ASSERT_EQ(llmrt_new(&loop, &o, &r->rt), 0);
  setenv("TEST_MOCK_KEY", "sk-test-secret-123", 1);
  char cfg[1024], err[256], maxc[64] = "";
  const char *url = llmrt_mock_url(r->mock);
  if (s && s->max_conns) snprintf(maxc, sizeof maxc, ",\"max_connections\":%d", s->max_conns);
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"oa\":{\"base_url\":\"%s\",\"api\":\"openai\",\"api_key_env\":"
           "\"TEST_MOCK_KEY\"%s},\"an\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":"
           "\"TEST_MOCK_KEY\"},\"nokey\":{\"base_url\":\"%s\",\"api_key_env\":\"TEST_UNSET_KEY\"}},"
           "\"default_upstream\":\"oa\"}",
           url, maxc, url, url);
  unsetenv("TEST_UNSET_KEY");
  int rc = llmrt_configure(r->rt, cfg, err, sizeof err);
  if (rc) TEST_FAIL_("configure: %s", err);
}

static void call(run_t *r, const char *upstream, int stream, const char *prompt) {
  llmrt_message_t msgs[2] = {{.role = "system", .content = "You are a test."},
                             {.role = "user", .content = prompt}};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = upstream;
  req.model = "mock-model";
  req.messages = msgs;
  req.n_messages = 2;
  req.max_tokens = 64;
  req.stream = stream;
  llmrt_callbacks_t cbs = {on_token, on_event, on_done};
  ASSERT_EQ(llmrt_call(r->rt, &req, &cbs, r, &r->call), 0);
}

static void finish(run_t *r) {
  while (!r->done) ASSERT(uv_run(&loop, UV_RUN_ONCE) || r->done);
  if (!closed) {
    llmrt_mock_stop(r->mock, on_mock_stopped, NULL);
    llmrt_close(r->rt, on_closed, NULL);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(r->done, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void run_one(run_t *r, const setup_t *s, const char *up, int stream) {
  start(r, s);
  call(r, up, stream, "Tell me about event loops.");
  finish(r);
}

static void check_success(run_t *r, int stream) {
  if (r->status) TEST_FAIL_("call failed: %s: %s", llmrt_err_name(r->status), r->errmsg);
  ASSERT(r->text_len > 0);
  ASSERT_MEM_EQ(r->text, r->text_len, r->tokens, r->tokens_len);
  ASSERT(r->finish[0]);
  ASSERT(r->in_tok > 0);
  ASSERT(r->out_tok > 0);
  ASSERT_EQ(r->http_status, 200);
  ASSERT_EQ(r->attempts, 1);
  ASSERT_EQ(r->n_events[LLMRT_EV_FINISH], 1);
  ASSERT_GE(r->n_events[LLMRT_EV_USAGE], 1);
  if (stream) ASSERT(r->n_tokens > 1);
  ASSERT(r->timings.total_us >= r->timings.first_token_us);
  ASSERT(r->timings.first_token_us > 0);
}

static void test_protocols(void) {
  const char *ups[] = {"oa", "an"};
  for (int tls = 0; tls < 2; tls++)
    for (int u = 0; u < 2; u++)
      for (int stream = 0; stream < 2; stream++) {
        run_t r;
        setup_t s = {.tls = tls};
        fprintf(stderr, "   %s tls=%d stream=%d\n", ups[u], tls, stream);
        run_one(&r, &s, ups[u], stream);
        check_success(&r, stream);
        if (tls) ASSERT(r.timings.tls_us > 0);
      }
}

static void test_deterministic(void) {
  run_t a, b;
  run_one(&a, NULL, "oa", 1);
  run_one(&b, NULL, "oa", 1);
  check_success(&a, 1);
  ASSERT_MEM_EQ(a.text, a.text_len, b.text, b.text_len);
}

static void expect_error(const char *controls, const char *up, int stream, int want,
                         run_t *out) {
  setup_t s = {.controls = controls, .idle_ms = 400, .first_byte_ms = 400};
  run_one(out, &s, up, stream);
  if (out->status != want)
    TEST_FAIL_("%s on %s: got %s (%s), want %s", controls, up, llmrt_err_name(out->status),
               out->errmsg, llmrt_err_name(want));
  /* Whatever was delivered is in the result too. */
  ASSERT_MEM_EQ(out->text, out->text_len, out->tokens, out->tokens_len);
  /* The API key never shows up in messages. */
  ASSERT(!strstr(out->errmsg, "sk-test-secret"));
}

static void test_faults(void) {
  run_t r;
  expect_error("status=429,retry_after=2", "oa", 1, LLMRT_ERATELIMIT, &r);
  ASSERT_EQ(r.http_status, 429);
  ASSERT(r.error_type[0]);
  ASSERT_CONTAINS(r.errmsg, "429");
  expect_error("status=429", "an", 0, LLMRT_ERATELIMIT, &r);
  ASSERT_EQ(r.http_status, 429);
  expect_error("status=500", "oa", 0, LLMRT_EUPSTREAM, &r);
  expect_error("status=401", "an", 1, LLMRT_EAUTH, &r);
  expect_error("status=529", "an", 1, LLMRT_EOVERLOADED, &r);
  expect_error("fault=malformed,after=2", "oa", 1, LLMRT_EBADRESPONSE, &r);
  expect_error("fault=malformed,after=2", "an", 1, LLMRT_EBADRESPONSE, &r);
  expect_error("fault=truncate,after=3", "oa", 1, LLMRT_ETRUNCATED, &r);
  ASSERT(r.text_len > 0); /* the partial text survives */
  expect_error("fault=truncate,after=3", "an", 1, LLMRT_ETRUNCATED, &r);
  expect_error("fault=error,after=2", "oa", 1, LLMRT_EUPSTREAM, &r);
  expect_error("fault=error,after=2", "an", 1, LLMRT_EOVERLOADED, &r);
  expect_error("fault=stall,after=2", "oa", 1, LLMRT_EIDLETIMEOUT, &r);
  expect_error("head_ms=3000", "oa", 1, LLMRT_EFIRSTBYTETIMEOUT, &r);
  expect_error("fault=eof,after=2", "oa", 1, LLMRT_ECLOSED, &r);
  /* A reset mid-stream is reported as a reset or as a close, depending on
   * whether the RST or the FIN is seen first; both are clear errors. */
  setup_t s = {.controls = "fault=reset,after=2"};
  run_one(&r, &s, "oa", 1);
  ASSERT(r.status == LLMRT_ECONNRESET || r.status == LLMRT_ECLOSED);
}

static void test_first_token_timeout(void) {
  run_t r;
  setup_t s = {.controls = "ttft_ms=2000", .first_token_ms = 300};
  run_one(&r, &s, "oa", 1);
  ASSERT_ERR(r.status, LLMRT_EFIRSTTOKENTIMEOUT);
  ASSERT_EQ(r.n_tokens, 0);
}

static void test_first_token_counts_tool_calls(void) {
  /* A tool-call stream is content too: its slow deltas after the first one
   * must not trip the first-token timeout. */
  run_t r;
  setup_t s = {.controls = "tool=get_weather,token_ms=150", .first_token_ms = 400};
  run_one(&r, &s, "oa", 1);
  if (r.status) TEST_FAIL_("%s: %s", llmrt_err_name(r.status), r.errmsg);
  ASSERT_STR_EQ(r.finish, "tool_calls");
  ASSERT(r.timings.first_token_us > 0);
}

static void test_no_silent_resend(void) {
  /* A reused connection that dies long after the request was sent is not a
   * stale keep-alive: the server had the request (and may have billed it),
   * so the error is reported and the request is not sent again. */
  run_t r;
  start(&r, NULL);
  call(&r, "oa", 0, "warm the pool");
  while (!r.done) uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(r.status, 0);
  ASSERT_EQ(llmrt_mock_set_controls(r.mock, "ttft_ms=800,fault=reset,after=0"), 0);
  r.done = 0;
  call(&r, "oa", 0, "do not send me twice");
  while (!r.done) uv_run(&loop, UV_RUN_ONCE);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(r.mock, &st);
  ASSERT_EQ(st.requests, 2); /* the warm-up and this one, once */
  finish(&r);
  ASSERT(r.status == LLMRT_ECONNRESET || r.status == LLMRT_ECLOSED);
  ASSERT_CONTAINS(r.errmsg, "oa");
}

static void test_deadline(void) {
  run_t r;
  setup_t s = {.controls = "ttft_ms=3000"};
  start(&r, &s);
  llmrt_message_t m = {.role = "user", .content = "hi"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &m;
  req.n_messages = 1;
  req.stream = 1;
  req.deadline_ms = 300;
  llmrt_callbacks_t cbs = {on_token, on_event, on_done};
  ASSERT_EQ(llmrt_call(r.rt, &req, &cbs, &r, NULL), 0);
  finish(&r);
  ASSERT_ERR(r.status, LLMRT_ETIMEDOUT);
}

static void test_cancel_mid_stream(void) {
  run_t r;
  setup_t s = {.controls = "tokens=40,token_ms=5"};
  start(&r, &s);
  r.cancel_after = 3;
  call(&r, "oa", 1, "cancel me");
  finish(&r);
  ASSERT_ERR(r.status, LLMRT_ECANCELED);
  ASSERT_EQ(r.n_tokens, 3);
  ASSERT_MEM_EQ(r.text, r.text_len, r.tokens, r.tokens_len);
}

static void test_cancel_non_stream(void) {
  /* A whole (non-streamed) answer arrives as one text event; canceling
   * inside its on_token still ends the call with ECANCELED, once. */
  const char *ups[] = {"oa", "an"};
  for (int u = 0; u < 2; u++) {
    run_t r;
    start(&r, NULL);
    r.cancel_after = 1;
    call(&r, ups[u], 0, "cancel the whole answer");
    finish(&r);
    ASSERT_ERR(r.status, LLMRT_ECANCELED);
    ASSERT_EQ(r.n_tokens, 1);
    ASSERT_EQ(r.n_events[LLMRT_EV_FINISH], 0); /* nothing after the cancel */
  }
}

static void test_cancel_before_start(void) {
  run_t r;
  start(&r, NULL);
  call(&r, "an", 1, "never sent");
  ASSERT_EQ(llmrt_cancel(r.rt, r.call), 0);
  finish(&r);
  ASSERT_ERR(r.status, LLMRT_ECANCELED);
  ASSERT_EQ(r.n_tokens, 0);
}

static void test_close_in_flight(void) {
  run_t r[3];
  start(&r[0], NULL);
  llmrt_mock_set_controls(r[0].mock, "tokens=50,token_ms=10");
  for (int i = 1; i < 3; i++) {
    memset(&r[i], 0, sizeof r[i]);
    r[i].rt = r[0].rt;
    r[i].mock = r[0].mock;
  }
  r[0].close_after = 2;
  for (int i = 0; i < 3; i++) call(&r[i], i == 1 ? "an" : "oa", 1, "close me");
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(r[i].done, 1);
    ASSERT_ERR(r[i].status, LLMRT_ESHUTDOWN);
  }
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_max_connections(void) {
  /* The upstream's max_connections caps its pool: 8 concurrent calls share
   * 2 connections, the rest wait in order, and all complete. */
  run_t r[8];
  setup_t s = {.controls = "tokens=8,token_ms=10", .max_conns = 2};
  start(&r[0], &s);
  for (int i = 1; i < 8; i++) {
    memset(&r[i], 0, sizeof r[i]);
    r[i].rt = r[0].rt;
    r[i].mock = r[0].mock;
  }
  for (int i = 0; i < 8; i++) call(&r[i], "oa", 1, "share the pool");
  for (int i = 0; i < 8; i++)
    while (!r[i].done) uv_run(&loop, UV_RUN_ONCE);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(r[0].mock, &st);
  ASSERT_LE(st.connections, 2);
  ASSERT_EQ(st.completions, 8);
  for (int i = 0; i < 8; i++) check_success(&r[i], 1);
  llmrt_pool_stats_t ps;
  ASSERT_EQ(llmrt_pool_stats(r[0].rt, llmrt_mock_url(r[0].mock), &ps), 0);
  ASSERT_LE(ps.opened, 2);
  ASSERT_GE(ps.reused, 6);
  for (int i = 1; i < 8; i++) r[i].done = 0; /* finish() checks the first */
  finish(&r[0]);
}

static void test_tool_calls(void) {
  /* Tool-call deltas reach on_event: id and name first, then argument
   * fragments that concatenate to the JSON the mock sent. */
  const char *ups[] = {"oa", "an"};
  for (int u = 0; u < 2; u++)
    for (int stream = 0; stream < 2; stream++) {
      run_t r;
      setup_t s = {.controls = "tool=get_weather"};
      run_one(&r, &s, ups[u], stream);
      if (r.status) TEST_FAIL_("%s: %s", llmrt_err_name(r.status), r.errmsg);
      ASSERT_STR_EQ(r.finish, "tool_calls");
      ASSERT_STR_EQ(r.tool.tool_name, "get_weather");
      ASSERT(r.tool.tool_id[0]);
      ASSERT_GE(r.n_events[LLMRT_EV_TOOL_CALL], stream ? 2 : 1);
      r.tool.tool_args[r.tool.tool_args_len] = '\0';
      ASSERT(r.tool.tool_args[0] == '{');
      ASSERT(r.tool.tool_args[r.tool.tool_args_len - 1] == '}');
      ASSERT_EQ(r.tool.tool_index_max, 0);
    }
}

static void test_tool_turn_sent_upstream(void) {
  /* The assistant's earlier tool calls and the tool's answer reach the
   * upstream in each provider's shape (llmrt_call copies them). */
  const char *ups[] = {"oa", "an"};
  const char *want[] = {"\"tool_calls\":[{\"id\":\"call_7\"", "\"type\":\"tool_use\",\"id\":\"call_7\""};
  for (int u = 0; u < 2; u++) {
    run_t r;
    start(&r, NULL);
    char calls[] = "[{\"id\":\"call_7\",\"type\":\"function\",\"function\":{\"name\":"
                   "\"get_weather\",\"arguments\":\"{}\"}}]";
    llmrt_message_t msgs[3] = {
        {.role = "user", .content = "Weather?"},
        {.role = "assistant", .content = "", .tool_calls_json = calls},
        {.role = "tool", .content = "sunny", .tool_call_id = "call_7"},
    };
    llmrt_request_t req;
    llmrt_request_init(&req);
    req.upstream = ups[u];
    req.model = "m";
    req.messages = msgs;
    req.n_messages = 3;
    llmrt_callbacks_t cbs = {on_token, on_event, on_done};
    ASSERT_EQ(llmrt_call(r.rt, &req, &cbs, &r, NULL), 0);
    memset(calls, 'x', sizeof calls - 1); /* llmrt_call copied it */
    while (!r.done) uv_run(&loop, UV_RUN_ONCE);
    if (r.status) TEST_FAIL_("%s: %s", ups[u], r.errmsg);
    ASSERT_CONTAINS(llmrt_mock_last_body(r.mock), want[u]);
    finish(&r);
  }
}

static void test_key_redacted_from_upstream_errors(void) {
  /* An upstream error page that echoes the Authorization header must not
   * carry the key into the result's messages. */
  run_t r;
  memset(&r, 0, sizeof r);
  closed = 0;
  uv_loop_init(&loop);
  rawserver_t *rs;
  ASSERT_EQ(rawserver_start(&loop, &rs), 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.log_level = LLMRT_LOG_ERROR;
  ASSERT_EQ(llmrt_new(&loop, &o, &r.rt), 0);
  setenv("TEST_ECHO_KEY", "sk-echoed-secret-0123456789", 1);
  char cfg[512];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"p\":{\"base_url\":\"http://127.0.0.1:%u/head-echo-401\","
           "\"api_key_env\":\"TEST_ECHO_KEY\"}}}",
           rawserver_port(rs));
  ASSERT_EQ(llmrt_configure(r.rt, cfg, NULL, 0), 0);
  call(&r, NULL, 0, "hi");
  while (!r.done) uv_run(&loop, UV_RUN_ONCE);
  ASSERT_ERR(r.status, LLMRT_EAUTH);
  ASSERT_CONTAINS(r.errmsg, "[redacted]"); /* the echo did arrive... */
  ASSERT(strstr(r.errmsg, "sk-echoed-secret") == NULL); /* ...without the key */
  llmrt_close(r.rt, on_closed, NULL);
  rawserver_stop(rs);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_call_blocks_reused_cleanly(void) {
  /* Finished calls are recycled with their buffers: a call after a failed
   * one (partial text, provider error, half-read SSE event) and after the
   * other protocol starts clean. */
  run_t r;
  start(&r, NULL);
  const struct {
    const char *controls, *up;
    int stream, want;
  } seq[] = {
      {"fault=truncate,after=3", "oa", 1, LLMRT_ETRUNCATED},
      {NULL, "oa", 1, 0},
      {"status=429", "an", 1, LLMRT_ERATELIMIT},
      {NULL, "an", 1, 0},
      {"fault=malformed,after=2", "an", 1, LLMRT_EBADRESPONSE},
      {NULL, "oa", 0, 0},
      {NULL, "an", 1, 0},
  };
  for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
    ASSERT_EQ(llmrt_mock_set_controls(r.mock, seq[i].controls), 0);
    llmrt_mock_t *m = r.mock;
    llmrt_t *rt = r.rt;
    memset(&r, 0, sizeof r);
    r.mock = m;
    r.rt = rt;
    call(&r, seq[i].up, seq[i].stream, "reuse me");
    while (!r.done) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_ERR(r.status, seq[i].want);
    ASSERT_MEM_EQ(r.text, r.text_len, r.tokens, r.tokens_len);
    if (seq[i].want == 0) {
      check_success(&r, seq[i].stream);
      ASSERT_EQ(r.error_type[0], 0);
      ASSERT_EQ(r.errmsg[0], 0);
    }
  }
  finish(&r);
}

static void test_missing_key(void) {
  run_t r;
  run_one(&r, NULL, "nokey", 1);
  ASSERT_ERR(r.status, LLMRT_ENOKEY);
  ASSERT_CONTAINS(r.errmsg, "TEST_UNSET_KEY");
}

static void test_unreachable(void) {
  run_t r;
  memset(&r, 0, sizeof r);
  closed = 0;
  uv_loop_init(&loop);
  ASSERT_EQ(llmrt_new(&loop, NULL, &r.rt), 0);
  setenv("TEST_MOCK_KEY", "k", 1);
  /* Port 1 on loopback: nothing listens there. */
  ASSERT_EQ(llmrt_configure(r.rt,
                            "{\"upstreams\":{\"x\":{\"base_url\":\"http://127.0.0.1:1/v1\","
                            "\"api_key_env\":\"TEST_MOCK_KEY\"}}}",
                            NULL, 0),
            0);
  call(&r, NULL, 1, "hello");
  while (!r.done) uv_run(&loop, UV_RUN_ONCE);
  llmrt_close(r.rt, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT(r.status == LLMRT_ECONNECT || r.status == UV_ECONNREFUSED);
  ASSERT_CONTAINS(r.errmsg, "127.0.0.1");
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_utf8(void) {
  run_t r;
  /* Chinese text, sent in 1-byte chunks by the mock: every delta handed to
   * on_token must still end on a character boundary. */
  setup_t s = {.controls = "lang=zh,chunk_bytes=1"};
  run_one(&r, &s, "oa", 1);
  check_success(&r, 1);
  ASSERT_EQ(r.utf8_split, 0);
  run_one(&r, &s, "an", 1);
  check_success(&r, 1);
  ASSERT_EQ(r.utf8_split, 0);
}

static void test_bad_calls(void) {
  run_t r;
  start(&r, NULL);
  llmrt_request_t req;
  llmrt_request_init(&req);
  llmrt_callbacks_t cbs = {on_token, on_event, on_done};
  ASSERT_ERR(llmrt_call(r.rt, &req, &cbs, &r, NULL), LLMRT_EINVAL); /* no model, no messages */
  llmrt_message_t m = {.role = "user", .content = "x"};
  req.model = "m";
  req.messages = &m;
  req.n_messages = 1;
  req.upstream = "nope";
  ASSERT_ERR(llmrt_call(r.rt, &req, &cbs, &r, NULL), LLMRT_ENOUPSTREAM);
  r.done = 1; /* no call was made */
  finish(&r);
}

int main(void) {
  RUN_TEST(test_protocols);
  RUN_TEST(test_deterministic);
  RUN_TEST(test_faults);
  RUN_TEST(test_first_token_timeout);
  RUN_TEST(test_deadline);
  RUN_TEST(test_first_token_counts_tool_calls);
  RUN_TEST(test_no_silent_resend);
  RUN_TEST(test_cancel_mid_stream);
  RUN_TEST(test_cancel_non_stream);
  RUN_TEST(test_cancel_before_start);
  RUN_TEST(test_close_in_flight);
  RUN_TEST(test_max_connections);
  RUN_TEST(test_tool_calls);
  RUN_TEST(test_tool_turn_sent_upstream);
  RUN_TEST(test_key_redacted_from_upstream_errors);
  RUN_TEST(test_call_blocks_reused_cleanly);
  RUN_TEST(test_missing_key);
  RUN_TEST(test_unreachable);
  RUN_TEST(test_utf8);
  RUN_TEST(test_bad_calls);
  return 0;
}
