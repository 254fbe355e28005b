/* What a plugin can wait on besides its instance timers (ABI v2): a wakeup
 * sent from another thread, a file descriptor it owns (a pipe here, a Redis
 * socket in real life), and timers bound to a call, which the runtime stops
 * when the call ends. A plugin answers each call once its wait is over. */
#include <string.h>
#include <unistd.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "test.h"

static const llmrt_host_t *H;
static int mode; /* which wait the plugin uses */
enum { M_WAKE, M_WATCH, M_CALL_TIMERS };

/* ---- A worker thread that answers through a wake ---- */

typedef struct {
  llmrt_wake_t *wake;
  llmrt_ctx_t *ctx; /* touched on the loop thread only */
  uv_thread_t thread;
  int result; /* written by the thread before wake_send */
  int runs;
} worker_t;
static worker_t W;

static void worker_main(void *arg) {
  worker_t *w = arg;
  uv_sleep(20);
  w->result = 42;
  ASSERT_EQ(H->wake_send(w->wake), 0);
  ASSERT_EQ(H->wake_send(w->wake), 0); /* two sends before it runs: one run, or two */
}

static void on_wake(llmrt_wake_t *wk, void *arg) {
  worker_t *w = arg;
  ASSERT(wk == w->wake);
  w->runs++;
  if (!w->ctx) return; /* the second send after the answer */
  ASSERT_EQ(w->result, 42);
  llmrt_ctx_t *x = w->ctx;
  w->ctx = NULL;
  llmrt_result_t res = {.text = "answer from a thread", .finish_reason = "stop"};
  ASSERT_EQ(H->respond(x, &res), 0);
}

/* ---- A pipe the plugin watches ---- */

static int pipefd[2];
static llmrt_watch_t *watch;
static llmrt_ctx_t *watch_ctx;
static llmrt_plugin_rt_t *watch_prt;
static int watch_runs;

static void on_readable(llmrt_watch_t *w, int events, int status, void *arg) {
  (void)arg;
  ASSERT_EQ(status, 0);
  ASSERT(events & LLMRT_WATCH_READABLE);
  watch_runs++;
  char b[16];
  ssize_t n = read(pipefd[0], b, sizeof b);
  ASSERT(n == 5 && memcmp(b, "ready", 5) == 0);
  H->watch_stop(w); /* from inside its own callback */
  watch = NULL;
  llmrt_result_t res = {.text = "answer from a pipe", .finish_reason = "stop"};
  ASSERT_EQ(H->respond(watch_ctx, &res), 0);
}

static void write_pipe(llmrt_timer_t *t, void *arg) {
  (void)arg;
  H->timer_stop(t);
  ASSERT_EQ(write(pipefd[1], "ready", 5), 5);
}

/* ---- Call timers ---- */

static int fired_after_end;
static int call_ended;

static void never_fires(llmrt_timer_t *t, void *arg) {
  (void)t, (void)arg;
  if (call_ended) fired_after_end++;
}

static void answer_now(llmrt_timer_t *t, void *arg) {
  llmrt_ctx_t *x = arg;
  (void)t; /* not stopped on purpose: the runtime stops it at call end */
  llmrt_result_t res = {.text = "answer from a call timer", .finish_reason = "stop"};
  ASSERT_EQ(H->respond(x, &res), 0);
}

static int on_request(llmrt_ctx_t *x) {
  llmrt_plugin_rt_t *prt = H->plugin_rt(x);
  llmrt_timer_t *t;
  switch (mode) {
  case M_WAKE:
    W.ctx = x;
    W.result = 0;
    ASSERT_EQ(H->wake_new(prt, on_wake, &W, &W.wake), 0);
    ASSERT_EQ(uv_thread_create(&W.thread, worker_main, &W), 0);
    return LLMRT_PAUSE;
  case M_WATCH:
    watch_ctx = x;
    watch_prt = prt;
    ASSERT_EQ(H->watch_start(prt, pipefd[0], LLMRT_WATCH_READABLE, on_readable, NULL, &watch), 0);
    ASSERT_EQ(H->timer_start(prt, 10, 0, write_pipe, NULL, &t), 0);
    return LLMRT_PAUSE;
  case M_CALL_TIMERS:
    /* Three timers that would fire long after the call; one repeating; one
     * that answers. None is stopped by the plugin. */
    ASSERT_EQ(H->call_timer_start(x, 60000, 0, never_fires, NULL, &t), 0);
    ASSERT_EQ(H->call_timer_start(x, 5, 5, never_fires, NULL, &t), 0);
    ASSERT_EQ(H->call_timer_start(x, 1, 0, answer_now, x, &t), 0);
    return LLMRT_PAUSE;
  }
  return LLMRT_CONTINUE;
}

static void on_call_end(llmrt_ctx_t *x, int status) {
  (void)x;
  ASSERT_EQ(status, 0);
  call_ended = 1;
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "waiter",
    .on_request = on_request,
    .on_call_end = on_call_end,
};

static const llmrt_plugin_t *entry(const llmrt_host_t *host) {
  H = host;
  return &desc;
}

static llmrt_t *setup(uv_loop_t *loop) {
  uv_loop_init(loop);
  llmrt_t *rt = chainfx_rt_new(loop, NULL);
  ASSERT_EQ(llmrt_add_plugin(rt, "waiter", entry), 0);
  char err[256];
  if (llmrt_configure(rt,
                      "{\"upstreams\":{\"u\":{\"base_url\":\"http://127.0.0.1:9/v1\"}},"
                      "\"plugins\":[{\"name\":\"waiter\"}]}",
                      err, sizeof err))
    TEST_FAIL_("configure: %s", err);
  return rt;
}

static void one_call(llmrt_t *rt, uv_loop_t *loop, const char *want) {
  llmrt_message_t msg = {.role = "user", .content = "wait"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  chainfx_call_t r;
  chainfx_call_init(&r);
  call_ended = 0;
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
  while (!r.done) ASSERT(uv_run(loop, UV_RUN_ONCE) || r.done);
  ASSERT_ERR(r.status, 0);
  ASSERT_STR_EQ(r.text, want);
  ASSERT_EQ(r.done, 1);
}

static void test_wake_from_thread(void) {
  uv_loop_t loop;
  llmrt_t *rt = setup(&loop);
  mode = M_WAKE;
  memset(&W, 0, sizeof W);
  one_call(rt, &loop, "answer from a thread");
  uv_thread_join(&W.thread);
  ASSERT_GE(W.runs, 1);
  /* The wake is the plugin's until it frees it; a wake never freed is
   * freed before fini (this one is left to the runtime). */
  chainfx_rt_close(rt, &loop);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_watch_pipe(void) {
  ASSERT_EQ(pipe(pipefd), 0);
  uv_loop_t loop;
  llmrt_t *rt = setup(&loop);
  mode = M_WATCH;
  watch_runs = 0;
  one_call(rt, &loop, "answer from a pipe");
  ASSERT_EQ(watch_runs, 1);
  /* A watch left running is stopped before fini, and never closes the fd. */
  ASSERT_EQ(H->watch_start(watch_prt, pipefd[0], LLMRT_WATCH_READABLE, on_readable, NULL, &watch),
            0);
  ASSERT_ERR(H->watch_start(watch_prt, -1, LLMRT_WATCH_READABLE, on_readable, NULL, &watch),
             LLMRT_EINVAL);
  chainfx_rt_close(rt, &loop);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  ASSERT_EQ(write(pipefd[1], "x", 1), 1); /* still open */
  close(pipefd[0]);
  close(pipefd[1]);
}

static void test_call_timers_stop_at_call_end(void) {
  uv_loop_t loop;
  llmrt_t *rt = setup(&loop);
  mode = M_CALL_TIMERS;
  fired_after_end = 0;
  one_call(rt, &loop, "answer from a call timer");
  /* Run on for a while: the repeating timer would fire every 5 ms. */
  for (int i = 0; i < 20; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(2);
  }
  ASSERT_EQ(fired_after_end, 0);
  chainfx_rt_close(rt, &loop);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  RUN_TEST(test_wake_from_thread);
  RUN_TEST(test_watch_pipe);
  RUN_TEST(test_call_timers_stop_at_call_end);
  return 0;
}
