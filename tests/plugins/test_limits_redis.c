/* The limits plugin's shared buckets, with a real redis-server started by
 * the fixture (tests/common/redis_server.h) and the mock on a thread:
 *   - two processes (this one and a forked child) with the same rule share
 *     one budget: together they get what one would, never twice that;
 *   - Redis killed mid-test: calls are admitted against the local buckets,
 *     with a warning and llmrt_limits_redis_fallback_total. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "logcap.h"
#include "mock_thread.h"
#include "redis_server.h"
#include "test.h"

static mock_thread_t mt;
static test_redis_t rs;
static logcap_t lc;

typedef struct {
  uv_loop_t loop;
  llmrt_t *rt;
  chainfx_call_t r[32];
} proc_t;

static void on_settle(uv_timer_t *t) {
  (void)t;
}

/* Runs the loop for ms: the plugin's Redis connection is made in the
 * background (calls before it use the local buckets). */
static void settle(proc_t *p, uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&p->loop, &t);
  uv_timer_start(&t, on_settle, ms, 0);
  while (uv_is_active((uv_handle_t *)&t))
    uv_run(&p->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&p->loop, UV_RUN_NOWAIT);
}

static void start_rt(proc_t *p, const char *rule, uint32_t queue_timeout_ms) {
  ASSERT_EQ(uv_loop_init(&p->loop), 0);
  logcap_clear(&lc);
  p->rt = chainfx_rt_new(&p->loop, &lc);
  char cfg[1024], err[256] = "";
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"REDIS_TEST_KEY\"}},"
           "\"plugins\":[{\"name\":\"limits\",\"adaptive\":false,\"limits\":[%s],"
           "\"queue\":{\"timeout_ms\":%u},\"redis\":{\"port\":%d,\"timeout_ms\":200,"
           "\"prefix\":\"t%d:\"}}]}",
           mt.url, rule, (unsigned)queue_timeout_ms, rs.port, (int)getpid());
  if (llmrt_configure(p->rt, cfg, err, sizeof err) != 0) TEST_FAIL_("configure: %s", err);
  settle(p, getenv("LLMRT_TEST_SLOW") ? 3000 : 300);
}

/* Runs n calls at once; returns how many succeeded. */
static int run_calls(proc_t *p, int n, int *timeouts) {
  llmrt_message_t m = {.role = "user", .content = "shared"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "mock";
  req.messages = &m;
  req.n_messages = 1;
  req.max_tokens = 10;
  for (int i = 0; i < n; i++) {
    chainfx_call_init(&p->r[i]);
    ASSERT_EQ(llmrt_call(p->rt, &req, &chainfx_callbacks, &p->r[i], NULL), 0);
  }
  for (;;) {
    int done = 0;
    for (int i = 0; i < n; i++)
      done += p->r[i].done;
    if (done == n) break;
    ASSERT(uv_run(&p->loop, UV_RUN_ONCE) != 0 || done == n);
  }
  int ok = 0;
  *timeouts = 0;
  for (int i = 0; i < n; i++) {
    if (p->r[i].status == 0)
      ok++;
    else if (p->r[i].status == LLMRT_EQUEUETIMEOUT)
      ++*timeouts;
    else
      TEST_FAIL_("call %d: %s", i, p->r[i].errmsg);
  }
  return ok;
}

static double metric(llmrt_t *rt, const char *name) {
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  double v = 0; /* a counter never incremented is not printed: it is 0 */
  for (const char *p = text; (p = strstr(p, name)); p++) {
    if ((p == text || p[-1] == '\n') && p[strlen(name)] == ' ') {
      v = strtod(p + strlen(name) + 1, NULL);
      break;
    }
  }
  llmrt_free(text);
  return v;
}

static void stop_rt(proc_t *p) {
  chainfx_rt_close(p->rt, &p->loop);
  ASSERT_EQ(uv_loop_close(&p->loop), 0);
}

/* 20 requests per 10 minutes (a bucket of 20 that refills one every 30 s),
 * 20 calls in each process, a few seconds to wait: the two together get 20
 * (21 if a refill lands), where two local limits would give 40. */
#define SHARED_RULE "{\"per\":\"upstream\",\"rpm\":20,\"window_ms\":600000}"

static void test_two_processes_share_one_limit(void) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  /* Each end in one process only: a child that dies makes read return 0. */
  close(pid ? fds[1] : fds[0]);
  /* Both use the same prefix: the parent's pid. */
  static char prefix_pid[16];
  snprintf(prefix_pid, sizeof prefix_pid, "%d", pid ? (int)getpid() : (int)getppid());
  proc_t *p = calloc(1, sizeof *p);
  ASSERT(p != NULL);
  ASSERT_EQ(uv_loop_init(&p->loop), 0);
  logcap_clear(&lc);
  p->rt = chainfx_rt_new(&p->loop, &lc);
  char cfg[1024], err[256] = "";
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"REDIS_TEST_KEY\"}},"
           "\"plugins\":[{\"name\":\"limits\",\"adaptive\":false,\"limits\":[" SHARED_RULE "],"
           "\"queue\":{\"timeout_ms\":%d},\"redis\":{\"port\":%d,\"prefix\":\"two%s:\"}}]}",
           mt.url, getenv("LLMRT_TEST_SLOW") ? 15000 : 4000, rs.port, prefix_pid);
  if (llmrt_configure(p->rt, cfg, err, sizeof err) != 0) TEST_FAIL_("configure: %s", err);
  settle(p, getenv("LLMRT_TEST_SLOW") ? 3000 : 300);
  int timeouts;
  int ok = run_calls(p, 20, &timeouts);
  ASSERT_EQ(ok + timeouts, 20);
  ASSERT_EQ(metric(p->rt, "llmrt_limits_redis_fallback_total"), 0);
  stop_rt(p);
  free(p);
  if (pid == 0) {
    /* The child reports and leaves without running the parent's atexit
     * work (the mock thread and redis-server are the parent's). */
    ASSERT_EQ(write(fds[1], &ok, sizeof ok), (ssize_t)sizeof ok);
    _exit(0);
  }
  int child_ok = -1, status = 0;
  ssize_t got = read(fds[0], &child_ok, sizeof child_ok);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(got, (ssize_t)sizeof child_ok);
  close(fds[0]);
  fprintf(stderr, "   parent %d + child %d = %d admitted (limit 20)\n", ok, child_ok,
          ok + child_ok);
  ASSERT_GE(ok + child_ok, 20);
  ASSERT_LE(ok + child_ok, 21);
}

static void test_redis_killed_falls_back_to_local(void) {
  proc_t *p = calloc(1, sizeof *p);
  ASSERT(p != NULL);
  start_rt(p, "{\"per\":\"upstream\",\"rpm\":5}", getenv("LLMRT_TEST_SLOW") ? 3000 : 1000);
  int timeouts;
  /* Redis up: 3 go through the shared bucket (the local one is untouched). */
  ASSERT_EQ(run_calls(p, 3, &timeouts), 3);
  ASSERT_EQ(metric(p->rt, "llmrt_limits_redis_fallback_total"), 0);

  test_redis_kill(&rs);
  /* Redis gone: the local bucket (5, untouched so far) decides. */
  ASSERT_EQ(run_calls(p, 7, &timeouts), 5);
  ASSERT_EQ(timeouts, 2);
  ASSERT_GE(metric(p->rt, "llmrt_limits_redis_fallback_total"), 5);
  ASSERT_CONTAINS(lc.text, "redis is unavailable: admitting calls against this process's local");
  stop_rt(p);
  free(p);
  test_redis_restart(&rs);
}

/* A failed assertion aborts: take redis-server along (the parent's). */
static pid_t main_pid;
static void on_abort(int sig) {
  if (getpid() == main_pid && rs.pid > 0) kill(rs.pid, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  main_pid = getpid();
  signal(SIGABRT, on_abort);
  setenv("REDIS_TEST_KEY", "k", 1);
  test_redis_start(&rs, NULL);
  ASSERT_EQ(mock_thread_start(&mt, "tokens=2"), 0);
  RUN_TEST(test_two_processes_share_one_limit);
  RUN_TEST(test_redis_killed_falls_back_to_local);
  mock_thread_stop(&mt);
  test_redis_stop(&rs);
  return 0;
}
