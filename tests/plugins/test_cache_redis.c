/* The cache's Redis tier against a real redis-server started by the test
 * (tests/common/redis_server): a second runtime, in this process and in
 * another, hits what the first stored; a killed Redis and a stalled one
 * (SIGSTOP) keep every call succeeding, none waiting much past the lookup
 * timeout; Redis back, the tier resumes. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cache_fx.h"
#include "redis_server.h"

static uv_loop_t loop;
static llmrt_mock_t *mock;
static test_redis_t redis;
static logcap_t lc1, lc2;

static void on_stopped(llmrt_mock_t *m, void *u) {}

static llmrt_t *make_rt(const char *mock_url, int redis_port, logcap_t *lc) {
  llmrt_t *rt = chainfx_rt_new(&loop, lc);
  char cfg[1024], err[256] = "";
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"oa\":{\"base_url\":\"%s\",\"api_key_env\":\"CACHE_TEST_KEY\"}},"
           "\"plugins\":[{\"name\":\"cache\",\"redis\":{\"address\":\"127.0.0.1:%d\","
           "\"password_env\":\"CACHE_REDIS_PW\",\"prefix\":\"t:\",\"connect_timeout_ms\":200,"
           "\"backoff_max_ms\":200}}]}",
           mock_url, redis_port);
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  return rt;
}

static int metric_has(llmrt_t *rt, const char *line) {
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  int has = strstr(text, line) != NULL;
  llmrt_free(text);
  return has;
}

/* Runs the loop until the runtime's Redis tier is up (or down). */
static void wait_redis(llmrt_t *rt, int up) {
  const char *line = up ? "\nllmrt_cache_redis_up 1\n" : "\nllmrt_cache_redis_up 0\n";
  uint64_t end = uv_hrtime() + 5000000000ull;
  while (!metric_has(rt, line)) {
    if (uv_hrtime() > end) TEST_FAIL_("redis tier not %s after 5 s", up ? "up" : "down");
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(2);
  }
}

static void req_init(llmrt_request_t *req, llmrt_message_t *m, const char *text) {
  *m = (llmrt_message_t){.role = "user", .content = text};
  llmrt_request_init(req);
  req->model = "mock";
  req->messages = m;
  req->n_messages = 1;
  req->temperature = 0;
  req->stream = 1;
  req->deadline_ms = 5000;
}

static void run_call(llmrt_t *rt, const char *text, fx_call_t *f) {
  llmrt_message_t m;
  llmrt_request_t req;
  req_init(&req, &m, text);
  memset(f, 0, sizeof *f);
  ASSERT_EQ(llmrt_call(rt, &req, &fx_cbs, f, NULL), 0);
  while (!f->r.done)
    uv_run(&loop, UV_RUN_ONCE);
  if (f->r.status) TEST_FAIL_("call \"%s\" failed: %s", text, f->r.errmsg);
}

/* Stores text's answer through rt1 and waits until rt2 (empty memory) is
 * answered from Redis. */
static void store_and_hit(llmrt_t *rt1, llmrt_t *rt2, const char *text) {
  static fx_call_t a, b;
  run_call(rt1, text, &a);
  ASSERT_STR_EQ(a.result, "miss");
  /* The write is fire and forget: give it a few loop turns. */
  for (int i = 0; i < 50; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(2);
  }
  run_call(rt2, text, &b);
  if (strcmp(b.result, "hit_redis")) {
    char *m;
    size_t len;
    llmrt_metrics_text(rt2, &m, &len);
    fprintf(stderr, "%s\n%s\n", m, lc2.text);
    llmrt_free(m);
    llmrt_metrics_text(rt1, &m, &len);
    fprintf(stderr, "RT1 %s\n%s\n", m, lc1.text);
    llmrt_free(m);
  }
  ASSERT_STR_EQ(b.result, "hit_redis");
  ASSERT_EQ(b.r.cache_hit, 1);
  fx_same_events(&a, &b);
}

/* Child process: a runtime of its own asks the same question. */
static int child_main(const char *mock_url, int port) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  static logcap_t lc;
  llmrt_t *rt = make_rt(mock_url, port, &lc);
  wait_redis(rt, 1);
  static fx_call_t f;
  llmrt_message_t m;
  llmrt_request_t req;
  req_init(&req, &m, "shared across processes");
  req.deadline_ms = 1000;
  ASSERT_EQ(llmrt_call(rt, &req, &fx_cbs, &f, NULL), 0);
  while (!f.r.done)
    uv_run(&loop, UV_RUN_ONCE);
  if (!f.r.cache_hit) {
    char *text;
    size_t len;
    llmrt_metrics_text(rt, &text, &len);
    fprintf(stderr, "child metrics:\n%s\n%s\n", text, lc.text);
    llmrt_free(text);
  }
  int ok = f.r.cache_hit && !strcmp(f.result, "hit_redis");
  if (!ok) fprintf(stderr, "child: result %s\n", f.result);
  chainfx_rt_close(rt, &loop);
  uv_loop_close(&loop);
  return ok ? 0 : 1;
}

static char self_path[512];

static void test_second_process_hits(void) {
  llmrt_t *rt1 = make_rt(llmrt_mock_url(mock), redis.port, &lc1);
  llmrt_t *rt2 = make_rt(llmrt_mock_url(mock), redis.port, &lc2);
  wait_redis(rt1, 1);
  wait_redis(rt2, 1);
  store_and_hit(rt1, rt2, "shared across processes");
  char port[16];
  snprintf(port, sizeof port, "%d", redis.port);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    execl(self_path, self_path, "child", llmrt_mock_url(mock), port, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT(WIFEXITED(st));
  ASSERT_EQ(WEXITSTATUS(st), 0);
  ASSERT(!strstr(lc1.text, "cache-redis-secret"));
  chainfx_rt_close(rt1, &loop);
  chainfx_rt_close(rt2, &loop);
}

/* A call while Redis is in trouble: answered (from upstream), and not
 * slower than the lookup timeout allows. */
static uint64_t timed_call(llmrt_t *rt, const char *text) {
  static fx_call_t f;
  uint64_t t0 = uv_hrtime();
  run_call(rt, text, &f);
  ASSERT_EQ(f.r.cache_hit, 0);
  return (uv_hrtime() - t0) / 1000;
}

static void test_redis_killed_then_back(void) {
  llmrt_t *rt1 = make_rt(llmrt_mock_url(mock), redis.port, &lc1);
  llmrt_t *rt2 = make_rt(llmrt_mock_url(mock), redis.port, &lc2);
  wait_redis(rt1, 1);
  wait_redis(rt2, 1);
  uint64_t base = timed_call(rt1, "baseline question");
  test_redis_kill(&redis);
  char q[64];
  for (int i = 0; i < 5; i++) {
    snprintf(q, sizeof q, "while redis is down %d", i);
    uint64_t us = timed_call(rt1, q);
    if (us > base + (getenv("LLMRT_TEST_SLOW") ? 500000 : 100000))
      TEST_FAIL_("call took %llu us with redis down", (unsigned long long)us);
  }
  ASSERT(strstr(lc1.text, "redis"));
  ASSERT(!metric_has(rt1, "llmrt_cache_redis_errors_total 0"));
  /* Memory still serves. */
  static fx_call_t f;
  run_call(rt1, "while redis is down 0", &f);
  ASSERT_STR_EQ(f.result, "hit");
  test_redis_restart(&redis);
  wait_redis(rt1, 1);
  wait_redis(rt2, 1);
  store_and_hit(rt1, rt2, "after redis came back");
  chainfx_rt_close(rt1, &loop);
  chainfx_rt_close(rt2, &loop);
}

static void test_redis_stalled(void) {
  llmrt_t *rt1 = make_rt(llmrt_mock_url(mock), redis.port, &lc1);
  llmrt_t *rt2 = make_rt(llmrt_mock_url(mock), redis.port, &lc2);
  wait_redis(rt1, 1);
  wait_redis(rt2, 1);
  uint64_t base = timed_call(rt1, "baseline before the stall");
  test_redis_pause(&redis);
  char q[64];
  uint64_t worst = 0;
  for (int i = 0; i < 8; i++) {
    snprintf(q, sizeof q, "while redis is stopped %d", i);
    uint64_t us = timed_call(rt1, q);
    if (us > worst) worst = us;
  }
  /* Each waited at most the lookup timeout (20 ms) more than a plain call. */
  uint64_t slack = getenv("LLMRT_TEST_SLOW") ? 400000 : 60000; /* valgrind: 20-50x slower */
  if (worst > base + 20000 + slack)
    TEST_FAIL_("a call took %llu us with redis stalled (baseline %llu us)",
               (unsigned long long)worst, (unsigned long long)base);
  ASSERT(!metric_has(rt1, "llmrt_cache_redis_timeouts_total 0"));
  ASSERT(metric_has(rt1, "llmrt_cache_redis_timeouts_total"));
  /* After a few timeouts in a row, the connection was dropped. */
  wait_redis(rt1, 0);
  test_redis_resume(&redis);
  wait_redis(rt1, 1);
  wait_redis(rt2, 1);
  store_and_hit(rt1, rt2, "after the stall");
  chainfx_rt_close(rt1, &loop);
  chainfx_rt_close(rt2, &loop);
}

/* Identical calls that miss in memory wait on the one Redis lookup, and are
 * all answered from its hit. */
static void test_redis_hit_coalesced(void) {
  llmrt_t *rt1 = make_rt(llmrt_mock_url(mock), redis.port, &lc1);
  llmrt_t *rt2 = make_rt(llmrt_mock_url(mock), redis.port, &lc2);
  wait_redis(rt1, 1);
  wait_redis(rt2, 1);
  store_and_hit(rt1, rt2, "coalesced on redis");
  chainfx_rt_close(rt2, &loop);
  rt2 = make_rt(llmrt_mock_url(mock), redis.port, &lc2);
  wait_redis(rt2, 1);
  llmrt_mock_stats_t st0, st1;
  llmrt_mock_stats(mock, &st0);
  static fx_call_t f[3];
  llmrt_message_t m;
  llmrt_request_t req;
  req_init(&req, &m, "coalesced on redis");
  for (int i = 0; i < 3; i++) {
    memset(&f[i], 0, sizeof f[i]);
    ASSERT_EQ(llmrt_call(rt2, &req, &fx_cbs, &f[i], NULL), 0);
  }
  for (int i = 0; i < 3; i++)
    while (!f[i].r.done)
      uv_run(&loop, UV_RUN_ONCE);
  llmrt_mock_stats(mock, &st1);
  ASSERT_EQ(st1.requests, st0.requests);
  ASSERT_STR_EQ(f[0].result, "hit_redis");
  for (int i = 0; i < 3; i++) {
    ASSERT_ERR(f[i].r.status, 0);
    ASSERT_EQ(f[i].r.cache_hit, 1);
    fx_same_events(&f[0], &f[i]);
  }
  ASSERT_STR_EQ(f[1].result, "coalesced");
  ASSERT(metric_has(rt2, "llmrt_cache_redis_hits_total 1"));
  chainfx_rt_close(rt1, &loop);
  chainfx_rt_close(rt2, &loop);
}

/* What Redis hands back is untrusted: every stored value is replaced by a
 * damaged copy (cut short, counts changed, offsets out of range, random
 * bytes); lookups then count an error and go upstream, and nothing crashes. */
static void corrupt_all(int variant) {
  redisContext *rc = redisConnect("127.0.0.1", redis.port);
  ASSERT(rc && !rc->err);
  redisReply *r = redisCommand(rc, "AUTH %s", "cache-redis-secret");
  freeReplyObject(r);
  redisReply *keys = redisCommand(rc, "KEYS t:*");
  ASSERT(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements > 0);
  for (size_t i = 0; i < keys->elements; i++) {
    redisReply *v = redisCommand(rc, "GET %s", keys->element[i]->str);
    ASSERT(v && v->type == REDIS_REPLY_STRING && v->len > 80);
    char *b = malloc(v->len);
    memcpy(b, v->str, v->len);
    size_t n = v->len;
    switch (variant) {
    case 0:
      n = n / 2;
      break; /* cut short */
    case 1:
      b[4 + 40 + 12] ^= 0x7f;
      break; /* n_ev changed */
    case 2:
      memset(b + 4 + 60 + 9, 0xee, 4);
      break; /* first event's text offset */
    case 3:
      for (size_t k = 4; k < n; k++)
        b[k] = (char)(k * 131);
      break;
    case 4:
      memset(b + n - 30, 0, 30);
      memset(b + 4 + 60 + 17, 0x01, 4);
      break; /* extra record */
    }
    redisReply *w = redisCommand(rc, "SET %s %b", keys->element[i]->str, b, n);
    freeReplyObject(w);
    free(b);
    freeReplyObject(v);
  }
  freeReplyObject(keys);
  redisFree(rc);
}

static void test_redis_garbage(void) {
  llmrt_t *rt1 = make_rt(llmrt_mock_url(mock), redis.port, &lc1);
  wait_redis(rt1, 1);
  static fx_call_t f;
  run_call(rt1, "to be damaged", &f);
  for (int i = 0; i < 30; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(2);
  }
  chainfx_rt_close(rt1, &loop);
  for (int variant = 0; variant < 5; variant++) {
    corrupt_all(variant);
    llmrt_t *rt = make_rt(llmrt_mock_url(mock), redis.port, &lc2);
    wait_redis(rt, 1);
    run_call(rt, "to be damaged", &f);
    if (f.r.cache_hit) TEST_FAIL_("variant %d: a damaged entry was served", variant);
    ASSERT(!metric_has(rt, "llmrt_cache_redis_errors_total 0"));
    ASSERT(metric_has(rt, "llmrt_cache_redis_errors_total"));
    for (int i = 0; i < 30; i++) { /* its fresh answer reaches Redis */
      uv_run(&loop, UV_RUN_NOWAIT);
      uv_sleep(2);
    }
    chainfx_rt_close(rt, &loop);
  }
}

int main(int argc, char **argv) {
  setenv("CACHE_TEST_KEY", "sk-test-upstream", 1);
  setenv("CACHE_REDIS_PW", "cache-redis-secret", 1);
  if (argc == 4 && !strcmp(argv[1], "child")) return child_main(argv[2], atoi(argv[3]));
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  ASSERT(n > 0);
  self_path[n] = '\0';
  test_redis_start(&redis, "cache-redis-secret");
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = "tokens=6";
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);

  RUN_TEST(test_second_process_hits);
  RUN_TEST(test_redis_killed_then_back);
  RUN_TEST(test_redis_stalled);
  RUN_TEST(test_redis_hit_coalesced);
  RUN_TEST(test_redis_garbage);

  llmrt_mock_stop(mock, on_stopped, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  test_redis_stop(&redis);
  return 0;
}
