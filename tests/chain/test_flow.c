/* Flow control (ABI v2): a plugin's on_event returning LLMRT_PAUSE, and the
 * application's llmrt_call_pause, stop the reading of the upstream's socket
 * (the mock upstream's writes then block: its token counter stands still),
 * and resuming delivers everything, in order, exactly once. A paused call
 * still ends at its deadline and on cancel, and memory stays bounded while
 * a large answer is held back. */
#include <stdio.h>
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

static const llmrt_host_t *H;
static uv_loop_t loop;
static llmrt_mock_t *mock;

/* ---- A plugin that pauses on every Nth event and resumes from a timer ---- */

static int pause_every; /* 0: never */
static int n_pauses, n_seen;

static void resume_soon(llmrt_timer_t *t, void *arg) {
  H->timer_stop(t);
  ASSERT_EQ(H->resume(arg), 0);
}

static int on_event(llmrt_ctx_t *x, llmrt_event_t *ev) {
  (void)ev;
  n_seen++;
  if (!pause_every || n_seen % pause_every) return LLMRT_CONTINUE;
  n_pauses++;
  llmrt_timer_t *t;
  ASSERT_EQ(H->call_timer_start(x, n_pauses % 3, 0, resume_soon, x, &t), 0);
  return LLMRT_PAUSE;
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "throttle",
    .on_event = on_event,
};

static const llmrt_plugin_t *entry(const llmrt_host_t *host) {
  H = host;
  return &desc;
}

/* ---- What the user saw ---- */

typedef struct {
  chainfx_call_t r;
  char types[4096]; /* event types in order, one char each */
  size_t n_types;
  int pause_at_token; /* llmrt_call_pause from on_token at this token */
  uint64_t id;
  int big;      /* only count: the answer is larger than the recorders */
  size_t bytes; /* text bytes delivered by on_token */
} user_t;

static void u_token(llmrt_call_t *c, const char *t, size_t n, void *p) {
  user_t *u = p;
  u->bytes += n;
  if (u->big)
    u->r.n_tokens++;
  else
    chainfx_on_token(c, t, n, &u->r);
  if (u->pause_at_token && u->r.n_tokens == u->pause_at_token) {
    ASSERT_EQ(llmrt_call_pause(c), 0);
    ASSERT_EQ(llmrt_call_pause(c), 0); /* twice: two resumes needed */
  }
}

static void u_event(llmrt_call_t *c, const llmrt_event_t *ev, void *p) {
  user_t *u = p;
  (void)c;
  if (u->n_types < sizeof u->types - 1) u->types[u->n_types++] = (char)('0' + ev->type);
}

static void u_done(llmrt_call_t *c, int st, const llmrt_result_t *res, void *p) {
  user_t *u = p;
  if (!u->big) {
    chainfx_on_done(c, st, res, &u->r);
    return;
  }
  u->r.done++;
  u->r.status = st;
  u->r.text_len = res->text_len;
}

static const llmrt_callbacks_t ucbs = {u_token, u_event, u_done};

static void on_stopped(llmrt_mock_t *m, void *x) {
  (void)m, (void)x;
}

static llmrt_t *setup(const char *controls, int with_plugin, uint32_t deadline_ms) {
  uv_loop_init(&loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = controls;
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  if (deadline_ms) o.total_timeout_ms = deadline_ms;
  llmrt_t *rt;
  ASSERT_EQ(llmrt_new(&loop, &o, &rt), 0);
  ASSERT_EQ(llmrt_add_plugin(rt, "throttle", entry), 0);
  char cfg[512], err[256];
  snprintf(cfg, sizeof cfg, "{\"upstreams\":{\"m\":{\"base_url\":\"%s\"}}%s}",
           llmrt_mock_url(mock), with_plugin ? ",\"plugins\":[{\"name\":\"throttle\"}]" : "");
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  return rt;
}

static void teardown(llmrt_t *rt) {
  llmrt_mock_stop(mock, on_stopped, NULL);
  chainfx_rt_close(rt, &loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void start(llmrt_t *rt, user_t *u, const char *prompt) {
  memset(u, 0, sizeof *u);
  static llmrt_message_t msg;
  msg = (llmrt_message_t){.role = "user", .content = prompt};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = 1;
  req.api_key = "sk-flow-test-key";
  ASSERT_EQ(llmrt_call(rt, &req, &ucbs, u, &u->id), 0);
}

static void wait_done(user_t *u) {
  while (!u->r.done) ASSERT(uv_run(&loop, UV_RUN_ONCE) || u->r.done);
}

static uint64_t mock_tokens(void) {
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  return st.tokens;
}

static void tick(uv_timer_t *t) {
  (void)t;
}

/* Runs the loop for about ms milliseconds. */
static void run_for(int ms) {
  uint64_t end = uv_now(&loop) + (uint64_t)ms;
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  while (uv_now(&loop) < end) {
    uv_timer_start(&t, tick, 5, 0);
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
  }
  return res * 4;
}

/* A plugin pausing on every 3rd event, resumed from timers, changes nothing
 * the user sees: the same text, tokens and event order as unpaused. */
static void test_plugin_pause_loses_nothing(void) {
  const char *ctl = "token_ms=0,tokens=300,chunk_bytes=700";
  llmrt_t *rt = setup(ctl, 0, 0);
  user_t plain, paused;
  start(rt, &plain, "tell me about flow control");
  wait_done(&plain);
  ASSERT_ERR(plain.r.status, 0);
  teardown(rt);

  rt = setup(ctl, 1, 0);
  pause_every = 3;
  n_pauses = n_seen = 0;
  start(rt, &paused, "tell me about flow control");
  wait_done(&paused);
  ASSERT_ERR(paused.r.status, 0);
  ASSERT(n_pauses > 50);
  ASSERT_STR_EQ(paused.r.text, plain.r.text);
  ASSERT_STR_EQ(paused.r.tokens, plain.r.tokens);
  ASSERT_EQ(paused.r.n_tokens, plain.r.n_tokens);
  ASSERT_EQ(paused.n_types, plain.n_types);
  ASSERT(memcmp(paused.types, plain.types, plain.n_types) == 0);
  ASSERT_EQ(paused.r.done, 1);
  pause_every = 0;
  teardown(rt);
}

/* The application pauses a large streamed answer: the mock's writes block
 * (its token count stands still), the client's memory does not grow while
 * paused, and after resume every byte arrives. */
static void test_app_pause_holds_the_socket(void) {
  /* About 10 MB of SSE: 100k tokens. */
  llmrt_t *rt = setup("token_ms=0,tokens=100000", 0, 0);
  user_t u;
  start(rt, &u, "a very long answer");
  u.big = 1;
  u.pause_at_token = 50;
  while (u.r.n_tokens < 50 && !u.r.done) uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(u.r.n_tokens, 50);
  llmrt_call_t *c = llmrt_call_get(rt, u.id);
  ASSERT(c != NULL);
  /* The socket buffers fill, then the mock's writes block: its count
   * stands still (however slow the machine, e.g. under valgrind). */
  uint64_t before = mock_tokens();
  for (int i = 0; i < 100; i++) {
    run_for(50);
    uint64_t now = mock_tokens();
    if (now == before) break;
    before = now;
  }
  uint64_t t1 = mock_tokens();
  long rss1 = rss_kb();
  run_for(300);
  uint64_t t2 = mock_tokens();
  long rss2 = rss_kb();
  ASSERT_EQ(u.r.n_tokens, 50); /* nothing reached the user while paused */
  printf("   paused: mock sent %llu of 100000 tokens, then %llu more in 300 ms; RSS %+ld KB\n",
         (unsigned long long)t1, (unsigned long long)(t2 - t1), rss2 - rss1);
  ASSERT(t1 < 50000);
  ASSERT(t2 - t1 < 200); /* the mock's writes block: backpressure reached it */
  ASSERT(rss2 - rss1 < 2048);
  ASSERT_EQ(llmrt_call_resume(c), 0);
  ASSERT_EQ(u.r.n_tokens, 50); /* resume delivers on a later turn */
  ASSERT_EQ(llmrt_call_resume(c), 0);
  ASSERT_ERR(llmrt_call_resume(c), LLMRT_EINVAL); /* not paused any more */
  wait_done(&u);
  ASSERT_ERR(u.r.status, 0);
  ASSERT_EQ(mock_tokens(), 100000);
  ASSERT_EQ(u.r.text_len, u.bytes);
  ASSERT_EQ(u.r.n_tokens, 100000);
  ASSERT_EQ(u.r.done, 1);
  teardown(rt);
}

/* A paused call still ends at its deadline, and on cancel. */
static void test_paused_call_ends(void) {
  llmrt_t *rt = setup("token_ms=0,tokens=100000", 0, 300);
  user_t u;
  start(rt, &u, "deadline while paused");
  u.big = 1;
  u.pause_at_token = 10;
  wait_done(&u);
  ASSERT_ERR(u.r.status, LLMRT_ETIMEDOUT);
  ASSERT_EQ(u.r.n_tokens, 10);
  teardown(rt);

  rt = setup("token_ms=0,tokens=100000", 0, 0);
  start(rt, &u, "cancel while paused");
  u.big = 1;
  u.pause_at_token = 10;
  while (u.r.n_tokens < 10) uv_run(&loop, UV_RUN_ONCE);
  run_for(30);
  ASSERT_EQ(llmrt_cancel(rt, u.id), 0);
  wait_done(&u);
  ASSERT_ERR(u.r.status, LLMRT_ECANCELED);
  ASSERT_EQ(u.r.n_tokens, 10);
  teardown(rt);
}

/* One pause/resume cycle of the event flow, measured. */
static void test_pause_resume_cost(void) {
  llmrt_t *rt = setup("token_ms=0,tokens=3", 0, 0);
  user_t u;
  start(rt, &u, "cost");
  u.pause_at_token = 1;
  while (u.r.n_tokens < 1) uv_run(&loop, UV_RUN_ONCE);
  llmrt_call_t *c = llmrt_call_get(rt, u.id);
  ASSERT_EQ(llmrt_call_resume(c), 0); /* one of the two pauses */
  enum { N = 200000 };
  uint64_t t0 = uv_hrtime();
  for (int i = 0; i < N; i++) {
    llmrt_call_pause(c);
    llmrt_call_resume(c);
    llmrt_call_pause(c); /* keep it paused between rounds */
    llmrt_call_resume(c);
  }
  uint64_t ns = (uv_hrtime() - t0) / (2 * N);
  printf("   one pause + resume: %llu ns (without the loop turn that delivers)\n",
         (unsigned long long)ns);
  ASSERT_EQ(llmrt_call_resume(c), 0);
  wait_done(&u);
  ASSERT_ERR(u.r.status, 0);
  teardown(rt);
}

int main(void) {
  RUN_TEST(test_plugin_pause_loses_nothing);
  RUN_TEST(test_app_pause_holds_the_socket);
  RUN_TEST(test_paused_call_ends);
  RUN_TEST(test_pause_resume_cost);
  return 0;
}
