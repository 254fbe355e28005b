/* Flow control at its edges (found in review):
 *   stale: a plugin's flow pause whose events were dropped (host->fail, then
 *          a retry) must not survive into the next attempt, which would stay
 *          paused until the deadline;
 *   order: an event a plugin inserts (emit from on_event) that an outer
 *          plugin pauses still reaches the user before the event it was
 *          inserted before, and the pausing plugin sees nothing meanwhile. */
#include <stdio.h>
#include <string.h>
#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

static const llmrt_host_t *H;
static uv_loop_t loop;
static llmrt_mock_t *mock;
static int mode_stale;

/* ---- plugin "rt": retry once from on_error ---- */
static int rt_on_error(llmrt_ctx_t *x, int err) {
  (void)err;
  if (H->attempt(x) == 1) {
    int r = H->retry(x, 200);
    return r == 0 ? LLMRT_STOP : LLMRT_CONTINUE;
  }
  return LLMRT_CONTINUE;
}
/* ---- plugin "pz": pauses one event, resumes from a call timer ---- */
static int pz_paused, resume_rc = 12345, pz_seen_while_paused;
static void pz_resume(llmrt_timer_t *t, void *arg) {
  H->timer_stop(t);
  resume_rc = H->resume(arg);
  pz_paused = 0;
}
static int pz_on_event(llmrt_ctx_t *x, llmrt_event_t *ev) {
  if (pz_paused) pz_seen_while_paused++;
  int hit;
  if (mode_stale)
    hit = H->attempt(x) == 1 && !pz_paused && resume_rc == 12345; /* first event of attempt 1 */
  else
    hit = ev->type == LLMRT_EV_TEXT && ev->len == 3 && !memcmp(ev->text, "<X>", 3);
  if (!hit) return LLMRT_CONTINUE;
  pz_paused = 1;
  llmrt_timer_t *t;
  ASSERT_EQ(H->call_timer_start(x, mode_stale ? 60 : 20, 0, pz_resume, x, &t), 0);
  return LLMRT_PAUSE;
}
/* ---- plugin "fl": fails the call from a call timer in attempt 1 ---- */
static void fl_fire(llmrt_timer_t *t, void *arg) {
  H->timer_stop(t);
  int r = H->fail(arg, LLMRT_EPLUGIN, "boom");
  ASSERT_EQ(r, 0);
}
static int fl_once;
static int fl_on_request(llmrt_ctx_t *x) {
  if (!fl_once++) {
    llmrt_timer_t *t;
    ASSERT_EQ(H->call_timer_start(x, 20, 0, fl_fire, x, &t), 0);
  }
  return LLMRT_CONTINUE;
}
/* ---- plugin "em": inserts "<X>" before the first upstream text ---- */
static int em_done;
static int em_on_event(llmrt_ctx_t *x, llmrt_event_t *ev) {
  if (ev->type == LLMRT_EV_TEXT && !em_done) {
    em_done = 1;
    llmrt_event_t e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.type = LLMRT_EV_TEXT;
    e.text = "<X>";
    e.len = 3;
    ASSERT_EQ(H->emit(x, &e), 0);
  }
  return LLMRT_CONTINUE;
}

#define DESC(var, nm, ...) static const llmrt_plugin_t var = {.abi_version = LLMRT_PLUGIN_ABI_VERSION, .struct_size = sizeof(llmrt_plugin_t), .name = nm, __VA_ARGS__}
DESC(d_rt, "rt", .on_error = rt_on_error);
DESC(d_pz, "pz", .on_event = pz_on_event);
DESC(d_fl, "fl", .on_request = fl_on_request);
DESC(d_em, "em", .on_event = em_on_event);
static const llmrt_plugin_t *e_rt(const llmrt_host_t *h) { H = h; return &d_rt; }
static const llmrt_plugin_t *e_pz(const llmrt_host_t *h) { H = h; return &d_pz; }
static const llmrt_plugin_t *e_fl(const llmrt_host_t *h) { H = h; return &d_fl; }
static const llmrt_plugin_t *e_em(const llmrt_host_t *h) { H = h; return &d_em; }

static void on_stopped(llmrt_mock_t *m, void *x) { (void)m, (void)x; }

static void run(int stale) {
  mode_stale = stale;
  resume_rc = 12345;
  pz_paused = pz_seen_while_paused = em_done = fl_once = 0;
  uv_loop_init(&loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = mode_stale ? "token_ms=5,tokens=20" : "token_ms=2,tokens=5";
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.total_timeout_ms = 3000;
  llmrt_t *rt;
  ASSERT_EQ(llmrt_new(&loop, &o, &rt), 0);
  llmrt_add_plugin(rt, "rt", e_rt);
  llmrt_add_plugin(rt, "pz", e_pz);
  llmrt_add_plugin(rt, "fl", e_fl);
  llmrt_add_plugin(rt, "em", e_em);
  char cfg[512], err[256];
  snprintf(cfg, sizeof cfg, "{\"upstreams\":{\"m\":{\"base_url\":\"%s\"}},\"plugins\":[%s]}",
           llmrt_mock_url(mock),
           mode_stale ? "{\"name\":\"rt\"},{\"name\":\"pz\"},{\"name\":\"fl\"}"
                      : "{\"name\":\"pz\"},{\"name\":\"em\"}");
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  chainfx_call_t r;
  chainfx_call_init(&r);
  llmrt_message_t msg = {.role = "user", .content = "hello there"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = 1;
  req.api_key = "sk-review-key-123456";
  uint64_t t0 = uv_now(&loop);
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
  while (!r.done) uv_run(&loop, UV_RUN_ONCE);
  uint64_t took = uv_now(&loop) - t0;
  if (stale) {
    /* The second attempt runs unpaused and succeeds, long before the
     * 3000 ms deadline. */
    if (r.status) TEST_FAIL_("stale pause: %s after %llu ms", r.errmsg, (unsigned long long)took);
    ASSERT_EQ(r.attempts, 2);
    ASSERT(took < 2000);
  } else {
    ASSERT_ERR(r.status, 0);
    ASSERT(strncmp(r.tokens, "<X>", 3) == 0);
    ASSERT_EQ(pz_seen_while_paused, 0);
  }
  llmrt_mock_stop(mock, on_stopped, NULL);
  chainfx_rt_close(rt, &loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_dropped_events_take_their_pause_along(void) {
  run(1);
}

static void test_inserted_event_paused_further_out_keeps_its_place(void) {
  run(0);
}

int main(void) {
  RUN_TEST(test_dropped_events_take_their_pause_along);
  RUN_TEST(test_inserted_event_paused_further_out_keeps_its_place);
  return 0;
}
