/* Every host function that acts on a call, in every state a plugin can see
 * (ABI v2): allowed ones succeed, the others return LLMRT_EINVAL from the
 * one state table, and the call still ends with exactly one on_done. A probe
 * plugin reaches each state, calls one function there, and then lets the
 * call go on. */
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

enum { S_REQUEST, S_REQ_PAUSED, S_RESPONSE, S_EVENT, S_EVT_PAUSED, S_ERROR, S_ERR_PAUSED,
       S_RETRY_WAIT, S_COMPLETE, S_N };
static const char *const snames[S_N] = {"request",   "req_paused", "on_response",
                                        "on_event",  "evt_paused", "on_error",
                                        "err_paused", "retry_wait", "on_complete"};
enum { F_SET_REQUEST, F_SET_HEADER, F_EMIT, F_RESPOND, F_RESUME, F_RETRY, F_FAIL, F_TIMER, F_ATTR,
       F_N };
static const char *const fnames[F_N] = {"set_request", "set_header", "emit",  "respond",
                                        "resume",      "retry",      "fail",  "call_timer_start",
                                        "attr_set_num"};

#define OK 0
#define NO LLMRT_EINVAL
/* What each function returns in each state (docs/plugins.md prints this). */
static const int expect[S_N][F_N] = {
    /*                set_req set_hdr emit respond resume retry fail timer attr */
    [S_REQUEST] = {OK, OK, OK, OK, OK, NO, OK, OK, OK},
    [S_REQ_PAUSED] = {OK, OK, OK, OK, OK, NO, OK, OK, OK},
    [S_RESPONSE] = {NO, NO, NO, NO, NO, NO, OK, OK, OK},
    [S_EVENT] = {NO, NO, OK, NO, OK, NO, OK, OK, OK},
    [S_EVT_PAUSED] = {NO, NO, OK, NO, OK, NO, OK, OK, OK},
    [S_ERROR] = {OK, OK, OK, OK, OK, OK, OK, OK, OK},
    [S_ERR_PAUSED] = {OK, OK, OK, OK, OK, OK, OK, OK, OK},
    [S_RETRY_WAIT] = {NO, NO, NO, NO, NO, NO, OK, OK, OK},
    [S_COMPLETE] = {NO, NO, NO, NO, NO, NO, NO, NO, NO},
};

static const llmrt_host_t *H;
static int want_state, want_fn, got = 99, probed;
static int retried;

static void noop_timer(llmrt_timer_t *t, void *arg) {
  (void)arg;
  H->timer_stop(t);
}

/* Calls the function under test. Returns its result. */
static int probe(llmrt_ctx_t *x) {
  probed++;
  llmrt_request_t req = *H->request(x);
  llmrt_event_t ev = {.type = LLMRT_EV_TEXT, .text = "probe ", .len = 6};
  llmrt_result_t res = {.text = "answered by the probe"};
  llmrt_timer_t *t = NULL;
  switch (want_fn) {
  case F_SET_REQUEST: return H->set_request(x, &req);
  case F_SET_HEADER: return H->set_header(x, "x-probe", "1");
  case F_EMIT: return H->emit(x, &ev);
  case F_RESPOND: return H->respond(x, &res);
  case F_RESUME: return H->resume(x);
  case F_RETRY: return H->retry(x, 1);
  case F_FAIL: return H->fail(x, LLMRT_EPLUGIN, "probe failed the call");
  case F_TIMER: return H->call_timer_start(x, 100000, 0, noop_timer, NULL, &t);
  case F_ATTR: return H->attr_set_num(x, "probe.n", 1);
  }
  return -1;
}

/* After a probe in a hook: what the hook returns so the call goes on. */
static int after_probe(int r, int paused_hook) {
  if (r != 0) return LLMRT_CONTINUE;
  if (want_fn == F_RESPOND) return LLMRT_STOP;
  if (want_fn == F_RETRY) return LLMRT_STOP;
  if (want_fn == F_EMIT && (want_state == S_REQUEST || want_state == S_ERROR)) return -99;
  (void)paused_hook;
  return LLMRT_CONTINUE;
}

static int answer_after_emit(llmrt_ctx_t *x) {
  llmrt_result_t res = {.finish_reason = "stop"};
  ASSERT_EQ(H->respond(x, &res), 0);
  return LLMRT_STOP;
}

static void paused_timer(llmrt_timer_t *t, void *arg) {
  llmrt_ctx_t *x = arg;
  H->timer_stop(t);
  got = probe(x);
  if (want_state == S_RETRY_WAIT) return; /* the retry goes on by itself */
  if (got == 0 && (want_fn == F_RESPOND || want_fn == F_FAIL || want_fn == F_RETRY ||
                   want_fn == F_RESUME))
    return; /* the probe itself moved the call on */
  if (got == 0 && want_fn == F_EMIT && want_state != S_EVT_PAUSED) {
    llmrt_result_t res = {.finish_reason = "stop"};
    ASSERT_EQ(H->respond(x, &res), 0);
    return;
  }
  int rr = H->resume(x);
  if (rr) TEST_FAIL_("%s/%s: resume after the probe: %s", snames[want_state], fnames[want_fn],
                     llmrt_err_name(rr));
}

static int on_request(llmrt_ctx_t *x) {
  if (want_state == S_REQUEST) {
    got = probe(x);
    int r = after_probe(got, 0);
    return r == -99 ? answer_after_emit(x) : r;
  }
  if (want_state == S_REQ_PAUSED) {
    llmrt_timer_t *t;
    ASSERT_EQ(H->call_timer_start(x, 1, 0, paused_timer, x, &t), 0);
    return LLMRT_PAUSE;
  }
  if (want_state >= S_ERROR && want_state <= S_RETRY_WAIT) {
    /* The mock fails the first attempt of this call. */
    return LLMRT_CONTINUE;
  }
  return LLMRT_CONTINUE;
}

static int on_response(llmrt_ctx_t *x, int status, const llmrt_header_t *h, size_t n) {
  (void)status, (void)h, (void)n;
  if (want_state == S_RESPONSE) got = probe(x);
  return LLMRT_CONTINUE;
}

static int seen_event;
static int on_event(llmrt_ctx_t *x, llmrt_event_t *ev) {
  (void)ev;
  if (seen_event++) return LLMRT_CONTINUE;
  if (want_state == S_EVENT) {
    got = probe(x);
    return want_fn == F_RESUME ? LLMRT_CONTINUE : LLMRT_CONTINUE;
  }
  if (want_state == S_EVT_PAUSED) {
    llmrt_timer_t *t;
    ASSERT_EQ(H->call_timer_start(x, 1, 0, paused_timer, x, &t), 0);
    return LLMRT_PAUSE;
  }
  return LLMRT_CONTINUE;
}

static int on_error(llmrt_ctx_t *x, int err) {
  (void)err;
  if (retried) return LLMRT_CONTINUE;
  if (want_state == S_ERROR) {
    retried = 1;
    got = probe(x);
    int r = after_probe(got, 0);
    return r == -99 ? answer_after_emit(x) : r;
  }
  if (want_state == S_ERR_PAUSED) {
    retried = 1;
    llmrt_timer_t *t;
    ASSERT_EQ(H->call_timer_start(x, 1, 0, paused_timer, x, &t), 0);
    return LLMRT_PAUSE;
  }
  if (want_state == S_RETRY_WAIT) {
    retried = 1;
    llmrt_timer_t *t;
    ASSERT_EQ(H->call_timer_start(x, 1, 0, paused_timer, x, &t), 0);
    ASSERT_EQ(H->retry(x, 50), 0);
    return LLMRT_STOP;
  }
  return LLMRT_CONTINUE;
}

static void on_complete(llmrt_ctx_t *x, int status, const llmrt_result_t *res) {
  (void)status, (void)res;
  if (want_state == S_COMPLETE) got = probe(x);
}

static const llmrt_plugin_t probe_desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "probe",
    .on_request = on_request,
    .on_response = on_response,
    .on_event = on_event,
    .on_error = on_error,
    .on_complete = on_complete,
};

static const llmrt_plugin_t *probe_entry(const llmrt_host_t *host) {
  H = host;
  return &probe_desc;
}

static void on_stopped(llmrt_mock_t *m, void *u) {
  (void)m, (void)u;
}

static void run_case(int s, int f) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_mock_t *mock;
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = "token_ms=0,tokens=4";
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.log_level = LLMRT_LOG_ERROR;
  llmrt_t *rt;
  ASSERT_EQ(llmrt_new(&loop, &o, &rt), 0);
  ASSERT_EQ(llmrt_add_plugin(rt, "probe", probe_entry), 0);
  char cfg[512], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\"}},\"plugins\":[{\"name\":\"probe\"}]}",
           llmrt_mock_url(mock));
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  want_state = s;
  want_fn = f;
  got = 99;
  probed = 0;
  retried = 0;
  seen_event = 0;
  char ctl[96];
  snprintf(ctl, sizeof ctl, "status=500,fail_first=1,id=%s-%s", snames[s], fnames[f]);
  llmrt_header_t hd = {"x-mock", ctl};
  llmrt_message_t msg = {.role = "user", .content = "probe"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = 1;
  req.api_key = "sk-probe-key-0123"; /* a per-call key: the upstream has none */
  if (s >= S_ERROR && s <= S_RETRY_WAIT) {
    req.headers = &hd;
    req.n_headers = 1;
  }
  chainfx_call_t r;
  chainfx_call_init(&r);
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
  while (!r.done) ASSERT(uv_run(&loop, UV_RUN_ONCE) || r.done);
  if (probed != 1)
    TEST_FAIL_("%s/%s: the probe ran %d times (call: %s %s)", snames[s], fnames[f], probed,
               llmrt_err_name(r.status), r.errmsg);
  if (got != expect[s][f])
    TEST_FAIL_("%s in %s returned %s, expected %s", fnames[f], snames[s], llmrt_err_name(got),
               llmrt_err_name(expect[s][f]));
  llmrt_mock_stop(mock, on_stopped, NULL);
  chainfx_rt_close(rt, &loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(r.done, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_every_function_in_every_state(void) {
  for (int s = 0; s < S_N; s++)
    for (int f = 0; f < F_N; f++) run_case(s, f);
}

int main(void) {
  RUN_TEST(test_every_function_in_every_state);
  return 0;
}
