/* The middleware chain: order of hooks, short-circuit answers, pause and
 * resume, retries that re-enter below the plugin that asked, request and
 * event changes, plugin failures, cancel and close, against the mock
 * upstream. The probe plugin is linked in and registered with
 * llmrt_add_plugin; its behaviour comes from its JSON config. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

/* ---- The probe plugin ---- */

static const llmrt_host_t *H;
static char g_log[8192];
static llmrt_ctx_t *g_paused; /* set by mode pause_first */
static int g_pause_count;

static void logf_(const char *id, const char *what) {
  size_t n = strlen(g_log);
  snprintf(g_log + n, sizeof g_log - n, "%s%s.%s", n ? " " : "", id, what);
}

typedef struct {
  char id[8];
  char req[24], err[24], ev[24];
  int retries;
} probe_t;

typedef struct {
  llmrt_timer_t *timer;
  int events;
  char upper[4096];
} probe_call_t;

static int probe_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state,
                      char *err, size_t errlen) {
  probe_t *p = calloc(1, sizeof *p);
  cJSON *c = cJSON_Parse(json);
  if (!p || !c) {
    free(p);
    cJSON_Delete(c);
    snprintf(err, errlen, "bad config");
    return LLMRT_ECONFIG;
  }
  const cJSON *v;
#define STR(field, key, dflt)                                                                      \
  v = cJSON_GetObjectItem(c, key);                                                                 \
  snprintf(p->field, sizeof p->field, "%s", cJSON_IsString(v) ? v->valuestring : dflt);
  STR(id, "id", "?");
  STR(req, "req", "continue");
  STR(err, "err", "continue");
  STR(ev, "ev", "pass");
  v = cJSON_GetObjectItem(c, "retries");
  p->retries = cJSON_IsNumber(v) ? v->valueint : 0;
  cJSON_Delete(c);
  *state = p;
  return 0;
}

static void probe_fini(void *state) {
  free(state);
}

static void on_pause_timer(llmrt_timer_t *t, void *arg) {
  llmrt_ctx_t *ctx = arg;
  probe_call_t *pc = H->call_state(ctx);
  pc->timer = NULL;
  H->timer_stop(t);
  ASSERT_EQ(H->resume(ctx), 0);
}

static int probe_on_request(llmrt_ctx_t *ctx) {
  probe_t *p = H->plugin_state(ctx);
  probe_call_t *pc = H->call_state(ctx);
  logf_(p->id, "req");
  if (!strcmp(p->req, "stop") || !strcmp(p->req, "stop_emit")) {
    llmrt_result_t res = {0};
    if (!strcmp(p->req, "stop_emit")) {
      /* A replayed stream: events first, then the result without text. */
      llmrt_event_t ev = {.type = LLMRT_EV_TEXT, .text = "cached ", .len = 7};
      ASSERT_EQ(H->emit(ctx, &ev), 0);
      ev.text = "answer";
      ev.len = 6;
      ASSERT_EQ(H->emit(ctx, &ev), 0);
    } else {
      res.text = "cached answer"; /* emitted as one text event */
    }
    res.finish_reason = "stop";
    res.cache_hit = 1;
    res.output_tokens = 2;
    ASSERT_EQ(H->respond(ctx, &res), 0);
    return LLMRT_STOP;
  }
  if (!strcmp(p->req, "stop_emit3")) {
    /* Emits may be refused once the user canceled: that is the point. */
    const char *parts[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
      llmrt_event_t ev = {.type = LLMRT_EV_TEXT, .text = parts[i], .len = 1};
      int r = H->emit(ctx, &ev);
      if (r) ASSERT_ERR(r, LLMRT_ECANCELED);
    }
    llmrt_result_t res = {0};
    res.finish_reason = "stop";
    int r = H->respond(ctx, &res);
    if (r) ASSERT_ERR(r, LLMRT_ECANCELED);
    return LLMRT_STOP;
  }
  if (!strcmp(p->req, "stop_noreply")) return LLMRT_STOP;
  if (!strcmp(p->req, "pause_on_retry") && H->attempt(ctx) >= 1) return LLMRT_PAUSE;
  if (!strcmp(p->req, "stray_resume")) {
    ASSERT_EQ(H->resume(ctx), 0); /* accepted, but this hook does not pause */
    return LLMRT_CONTINUE;
  }
  if (!strcmp(p->req, "fail")) return LLMRT_EINVAL;
  if (!strcmp(p->req, "pause_timer")) {
    ASSERT_EQ(H->timer_start(H->plugin_rt(ctx), 30, 0, on_pause_timer, ctx, &pc->timer), 0);
    return LLMRT_PAUSE;
  }
  if (!strcmp(p->req, "pause_inline")) {
    ASSERT_EQ(H->resume(ctx), 0);
    return LLMRT_PAUSE;
  }
  if (!strcmp(p->req, "pause_forever")) return LLMRT_PAUSE;
  if (!strcmp(p->req, "pause_first") && g_pause_count++ == 0) {
    g_paused = ctx;
    return LLMRT_PAUSE;
  }
  if (!strcmp(p->req, "set_system")) {
    const llmrt_request_t *old = H->request(ctx);
    llmrt_message_t msgs[8];
    ASSERT(old->n_messages < 8);
    msgs[0] = (llmrt_message_t){.role = "system", .content = "PROBE-SYSTEM"};
    memcpy(msgs + 1, old->messages, sizeof(llmrt_message_t) * old->n_messages);
    llmrt_request_t r = *old;
    r.messages = msgs;
    r.n_messages = old->n_messages + 1;
    ASSERT_EQ(H->set_request(ctx, &r), 0);
  }
  return LLMRT_CONTINUE;
}

static int probe_on_response(llmrt_ctx_t *ctx, int status, const llmrt_header_t *h, size_t n) {
  probe_t *p = H->plugin_state(ctx);
  logf_(p->id, status == 200 ? "resp" : "resp!");
  return LLMRT_CONTINUE;
}

static int probe_on_event(llmrt_ctx_t *ctx, llmrt_event_t *ev) {
  probe_t *p = H->plugin_state(ctx);
  probe_call_t *pc = H->call_state(ctx);
  pc->events++;
  if (ev->type != LLMRT_EV_TEXT) return LLMRT_CONTINUE;
  if (!strcmp(p->ev, "drop_text")) return LLMRT_STOP;
  if (!strcmp(p->ev, "fail")) return LLMRT_EINVAL;
  if (!strcmp(p->ev, "upper")) {
    ASSERT(ev->len < sizeof pc->upper);
    for (size_t i = 0; i < ev->len; i++) pc->upper[i] = (char)toupper((unsigned char)ev->text[i]);
    ev->text = pc->upper;
  }
  return LLMRT_CONTINUE;
}

static int probe_on_error(llmrt_ctx_t *ctx, int err) {
  probe_t *p = H->plugin_state(ctx);
  logf_(p->id, "err");
  if (!strcmp(p->err, "retry") && H->attempt(ctx) <= p->retries) {
    int r = H->retry(ctx, 10);
    if (r == 0) return LLMRT_STOP;
    ASSERT_ERR(r, LLMRT_EBUSY); /* events already passed outward */
    logf_(p->id, "refused");
  }
  if (!strcmp(p->err, "respond")) {
    llmrt_result_t res = {0};
    res.text = "fallback";
    res.finish_reason = "stop";
    int r = H->respond(ctx, &res);
    if (r == 0) return LLMRT_STOP;
    ASSERT_ERR(r, LLMRT_EBUSY); /* upstream content already passed us */
    logf_(p->id, "respond_refused");
  }
  return LLMRT_CONTINUE;
}

static void probe_on_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
  probe_t *p = H->plugin_state(ctx);
  logf_(p->id, "complete");
}

static void probe_on_call_end(llmrt_ctx_t *ctx, int status) {
  (void)status;
  probe_t *p = H->plugin_state(ctx);
  probe_call_t *pc = H->call_state(ctx);
  if (pc->timer) H->timer_stop(pc->timer);
  if (g_paused == ctx) g_paused = NULL;
  logf_(p->id, "end");
}

static const llmrt_plugin_t probe = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "probe",
    .init = probe_init,
    .fini = probe_fini,
    .call_state_size = sizeof(probe_call_t),
    .on_request = probe_on_request,
    .on_response = probe_on_response,
    .on_event = probe_on_event,
    .on_error = probe_on_error,
    .on_complete = probe_on_complete,
    .on_call_end = probe_on_call_end,
};

static const llmrt_plugin_t *probe_entry(const llmrt_host_t *host) {
  H = host;
  return &probe;
}

/* ---- Harness ---- */

typedef struct {
  int done, status, n_tokens, attempts, cache_hit;
  int has_error_type;
  char text[4096];
  char errmsg[512];
  char finish[32];
  int cancel_after;
} res_t;

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt_mock_t *mock;
static int closed;
static res_t *g_second_waiter; /* resumes g_paused when this call completes */

static void on_closed(llmrt_t *r, void *u) {
  closed++;
}

static void on_mock_stopped(llmrt_mock_t *m, void *u) {
}

static void on_token(llmrt_call_t *call, const char *t, size_t len, void *user) {
  res_t *r = user;
  r->n_tokens++;
  if (r->cancel_after && r->n_tokens == r->cancel_after) llmrt_call_cancel(call);
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  res_t *r = user;
  logf_("user", "done");
  r->done++;
  r->status = status;
  r->attempts = res->attempts;
  r->cache_hit = res->cache_hit;
  r->has_error_type = res->error_type != NULL;
  snprintf(r->text, sizeof r->text, "%.*s", (int)res->text_len, res->text);
  snprintf(r->errmsg, sizeof r->errmsg, "%s", res->error_message ? res->error_message : "");
  snprintf(r->finish, sizeof r->finish, "%s", res->finish_reason ? res->finish_reason : "");
  if (g_second_waiter == r && g_paused) {
    ASSERT_EQ(H->resume(g_paused), 0);
  }
}

/* Starts mock + runtime with the given plugin list (JSON array body). */
static void setup(const char *plugins, const char *mock_controls) {
  g_log[0] = '\0';
  g_paused = NULL;
  g_pause_count = 0;
  g_second_waiter = NULL;
  closed = 0;
  uv_loop_init(&loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = mock_controls;
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  ASSERT_EQ(llmrt_new(&loop, NULL, &rt), 0);
  ASSERT_EQ(llmrt_add_plugin(rt, "probe", probe_entry), 0);
  setenv("CHAIN_TEST_KEY", "k-secret", 1);
  char cfg[2048], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"CHAIN_TEST_KEY\"}},"
           "\"plugins\":[%s]}",
           llmrt_mock_url(mock), plugins);
  int r = llmrt_configure(rt, cfg, err, sizeof err);
  if (r) TEST_FAIL_("configure: %s", err);
}

static void send_call(res_t *r, int stream, uint32_t deadline_ms) {
  memset(r, 0, sizeof *r);
  llmrt_message_t m = {.role = "user", .content = "What is an onion?"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "mock";
  req.messages = &m;
  req.n_messages = 1;
  req.stream = stream;
  req.max_tokens = 8;
  req.deadline_ms = deadline_ms;
  llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  ASSERT_EQ(llmrt_call(rt, &req, &cbs, r, NULL), 0);
}

static void teardown(void) {
  if (!closed) {
    llmrt_mock_stop(mock, on_mock_stopped, NULL);
    llmrt_close(rt, on_closed, NULL);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void wait_done(res_t *r) {
  while (!r->done) uv_run(&loop, UV_RUN_ONCE);
}

#define A(extra) "{\"name\":\"probe\",\"id\":\"A\"" extra "}"
#define B(extra) "{\"name\":\"probe\",\"id\":\"B\"" extra "}"

static void test_order_success(void) {
  res_t r = {0};
  setup(A("") "," B(""), NULL);
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(g_log, "A.req B.req B.resp A.resp B.complete A.complete user.done B.end A.end");
  teardown();
  ASSERT_EQ(r.done, 1);
}

static void test_order_error(void) {
  res_t r = {0};
  setup(A("") "," B(""), "status=500");
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_EUPSTREAM);
  ASSERT_STR_EQ(g_log, "A.req B.req B.resp! A.resp! B.err A.err B.complete A.complete user.done "
                       "B.end A.end");
  teardown();
}

static void test_retry_inner(void) {
  res_t r = {0};
  setup(A("") "," B(",\"err\":\"retry\",\"retries\":2"), "status=503,fail_first=1");
  send_call(&r, 1, 0);
  wait_done(&r);
  if (r.status) TEST_FAIL_("%s", r.errmsg);
  ASSERT_EQ(r.attempts, 2);
  /* B's retry re-enters below B: B's on_request does not run again. */
  ASSERT_STR_EQ(g_log,
                "A.req B.req B.resp! A.resp! B.err B.resp A.resp B.complete A.complete user.done "
                "B.end A.end");
  teardown();
}

static void test_retry_outer(void) {
  res_t r = {0};
  setup(A(",\"err\":\"retry\",\"retries\":2") "," B(""), "status=503,fail_first=1");
  send_call(&r, 0, 0);
  wait_done(&r);
  if (r.status) TEST_FAIL_("%s", r.errmsg);
  ASSERT_EQ(r.attempts, 2);
  /* A's retry re-enters below A: B sees the request again. */
  ASSERT_STR_EQ(g_log, "A.req B.req B.resp! A.resp! B.err A.err B.req B.resp A.resp B.complete "
                       "A.complete user.done B.end A.end");
  teardown();
}

static void test_retry_refused_after_commit(void) {
  res_t r = {0};
  setup(A(",\"err\":\"retry\",\"retries\":3"), "fault=truncate,after=3");
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_ETRUNCATED);
  ASSERT_EQ(r.attempts, 1);
  ASSERT(r.n_tokens >= 1);
  ASSERT_CONTAINS(g_log, "A.err A.refused");
  teardown();
}

static void test_short_circuit(void) {
  res_t r = {0};
  setup(A("") "," B(",\"req\":\"stop\""), NULL);
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(r.text, "cached answer");
  ASSERT_EQ(r.cache_hit, 1);
  ASSERT_STR_EQ(r.finish, "stop");
  ASSERT_STR_EQ(g_log, "A.req B.req B.complete A.complete user.done B.end A.end");
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.requests, 0); /* the upstream never saw it */
  teardown();

  /* The outermost answers: the inner plugin is never entered. */
  setup(A(",\"req\":\"stop_emit\"") "," B(""), NULL);
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(r.text, "cached answer");
  ASSERT_EQ(r.n_tokens, 2);
  ASSERT_STR_EQ(g_log, "A.req A.complete user.done B.end A.end");
  teardown();
}

static void test_error_respond(void) {
  /* A fallback answer after an upstream failure before any content: the
   * call succeeds with it, and carries no error of the failed attempt. */
  const char *faults[] = {"status=500", "fault=error,after=0", "fault=malformed,after=0"};
  for (int i = 0; i < 3; i++) {
    res_t r = {0};
    setup(A(",\"err\":\"respond\"") "," B(""), faults[i]);
    send_call(&r, 1, 0);
    wait_done(&r);
    if (r.status) TEST_FAIL_("%s: %s", faults[i], r.errmsg);
    ASSERT_STR_EQ(r.text, "fallback");
    ASSERT_EQ(r.has_error_type, 0);
    teardown();
  }
}

static void test_respond_refused_after_commit(void) {
  /* Upstream tokens reached the user, then the stream broke: a fallback
   * answer would pass a truncated stream off as complete, so it is refused
   * and the user gets the real error. */
  res_t r = {0};
  setup(A(",\"err\":\"respond\""), "fault=reset,after=3,token_ms=30");
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT(r.status == LLMRT_ECONNRESET || r.status == LLMRT_ECLOSED);
  ASSERT_EQ(r.n_tokens, 3);
  ASSERT_CONTAINS(g_log, "A.respond_refused");
  teardown();
}

static void test_retry_then_pause_deadline(void) {
  /* The total deadline still runs after a retry: an inner plugin that
   * pauses on the second attempt and never resumes cannot hang the call. */
  res_t r = {0};
  setup(A(",\"err\":\"retry\",\"retries\":2") "," B(",\"req\":\"pause_on_retry\""),
        "status=503,fail_first=1");
  send_call(&r, 1, 300);
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_ETIMEDOUT);
  teardown();
}

static void test_stray_resume(void) {
  /* A resume from a hook that does not pause must not end another
   * plugin's pause later. */
  res_t r = {0};
  setup(A(",\"req\":\"stray_resume\"") "," B(",\"req\":\"pause_forever\""), NULL);
  send_call(&r, 1, 300);
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_ETIMEDOUT);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.requests, 0);
  teardown();
}

static void test_cancel_during_plugin_answer(void) {
  /* The user cancels on the first token of a plugin's replayed answer:
   * nothing more reaches the user. */
  res_t r = {0};
  setup(A("") "," B(",\"req\":\"stop_emit3\""), NULL);
  send_call(&r, 1, 0);
  r.cancel_after = 1;
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_ECANCELED);
  ASSERT_EQ(r.n_tokens, 1);
  ASSERT_STR_EQ(r.text, "a");
  teardown();
}

static void test_pause_resume(void) {
  const char *modes[] = {",\"req\":\"pause_timer\"", ",\"req\":\"pause_inline\""};
  for (int i = 0; i < 2; i++) {
    res_t r = {0};
    char pl[256];
    snprintf(pl, sizeof pl, "{\"name\":\"probe\",\"id\":\"A\"%s}," B(""), modes[i]);
    setup(pl, NULL);
    send_call(&r, 1, 0);
    wait_done(&r);
    if (r.status) TEST_FAIL_("%s", r.errmsg);
    ASSERT_STR_EQ(g_log, "A.req B.req B.resp A.resp B.complete A.complete user.done B.end A.end");
    teardown();
  }
}

static void test_pause_resumed_by_other_call(void) {
  res_t r1 = {0}, r2 = {0};
  setup(A(",\"req\":\"pause_first\""), NULL);
  send_call(&r1, 1, 0);
  send_call(&r2, 1, 0);
  g_second_waiter = &r2;
  wait_done(&r2);
  ASSERT_EQ(r2.status, 0);
  ASSERT_EQ(r1.done, 0); /* still paused until r2's on_done resumed it */
  wait_done(&r1);
  ASSERT_EQ(r1.status, 0);
  teardown();
}

static void test_pause_deadline(void) {
  res_t r = {0};
  setup(A(",\"req\":\"pause_forever\"") "," B(""), NULL);
  send_call(&r, 1, 200);
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_ETIMEDOUT);
  ASSERT_STR_EQ(g_log, "A.req A.complete user.done B.end A.end");
  teardown();
}

static void on_close_timer(uv_timer_t *t) {
  llmrt_mock_stop(mock, on_mock_stopped, NULL);
  llmrt_close(rt, on_closed, NULL);
  uv_close((uv_handle_t *)t, NULL);
}

static void test_close_while_paused(void) {
  res_t r = {0};
  setup(A(",\"req\":\"pause_forever\""), NULL);
  send_call(&r, 1, 0);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_close_timer, 50, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(r.done, 1);
  ASSERT_ERR(r.status, LLMRT_ESHUTDOWN);
  ASSERT_STR_EQ(g_log, "A.req A.complete user.done A.end");
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_cancel_mid_stream(void) {
  res_t r = {0};
  setup(A("") "," B(""), "tokens=30,token_ms=5");
  send_call(&r, 1, 0);
  r.cancel_after = 2;
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_ECANCELED);
  ASSERT_STR_EQ(g_log, "A.req B.req B.resp A.resp B.complete A.complete user.done B.end A.end");
  teardown();
}

static void test_request_change_seen_upstream(void) {
  res_t r = {0};
  setup(A(",\"req\":\"set_system\""), NULL);
  send_call(&r, 0, 0);
  wait_done(&r);
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "PROBE-SYSTEM");
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "What is an onion?");
  teardown();
}

static void test_events_changed_and_dropped(void) {
  res_t r = {0};
  setup(A("") "," B(",\"ev\":\"upper\""), NULL);
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_EQ(r.status, 0);
  ASSERT(r.text[0]);
  for (const char *p = r.text; *p; p++) ASSERT(!islower((unsigned char)*p));
  teardown();

  setup(A(",\"ev\":\"drop_text\"") "," B(""), NULL);
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_EQ(r.status, 0);
  ASSERT_EQ(r.n_tokens, 0);
  ASSERT_STR_EQ(r.text, "");
  ASSERT(r.finish[0]); /* other events still arrive */
  teardown();
}

static void test_plugin_failures(void) {
  res_t r = {0};
  setup(A("") "," B(",\"req\":\"fail\""), NULL);
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_EINVAL);
  ASSERT_CONTAINS(r.errmsg, "plugin probe");
  ASSERT_CONTAINS(r.errmsg, "on_request");
  ASSERT_STR_EQ(g_log, "A.req B.req A.err B.complete A.complete user.done B.end A.end");
  teardown();

  setup(A(",\"req\":\"stop_noreply\""), NULL);
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_EPLUGIN);
  ASSERT_CONTAINS(r.errmsg, "without responding");
  teardown();

  setup(A(",\"ev\":\"fail\""), NULL);
  send_call(&r, 1, 0);
  wait_done(&r);
  ASSERT_ERR(r.status, LLMRT_EINVAL);
  ASSERT_CONTAINS(r.errmsg, "on_event");
  teardown();
}

int main(void) {
  RUN_TEST(test_order_success);
  RUN_TEST(test_order_error);
  RUN_TEST(test_retry_inner);
  RUN_TEST(test_retry_outer);
  RUN_TEST(test_retry_refused_after_commit);
  RUN_TEST(test_short_circuit);
  RUN_TEST(test_error_respond);
  RUN_TEST(test_respond_refused_after_commit);
  RUN_TEST(test_retry_then_pause_deadline);
  RUN_TEST(test_stray_resume);
  RUN_TEST(test_cancel_during_plugin_answer);
  RUN_TEST(test_pause_resume);
  RUN_TEST(test_pause_resumed_by_other_call);
  RUN_TEST(test_pause_deadline);
  RUN_TEST(test_close_while_paused);
  RUN_TEST(test_cancel_mid_stream);
  RUN_TEST(test_request_change_seen_upstream);
  RUN_TEST(test_events_changed_and_dropped);
  RUN_TEST(test_plugin_failures);
  return 0;
}
