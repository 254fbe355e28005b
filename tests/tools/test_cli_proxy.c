/* llmrt chat and bench through an HTTP CONNECT proxy, as a user sets one:
 * http_proxy / HTTPS_PROXY / NO_PROXY in the environment of the llmrt
 * command (run from the build tree), with the connect_proxy fixture and the
 * mock on loopback: the call tunnels through the proxy, NO_PROXY goes
 * direct, the variable of the other scheme is not used, a refusing proxy is
 * exit 4 naming it, and a proxy variable with credentials is refused (exit
 * 2) without repeating them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "connect_proxy.h"
#include "mock_thread.h"
#include "test.h"

static connect_proxy_t cp;
static mock_thread_t mt;
static char err_path[] = "/tmp/llmrt_test_cli_proxy_XXXXXX";
static char errtext[4096];

/* Runs "env ENV llmrt ARGS" and returns its exit status; stderr in errtext. */
static int run(const char *env, const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "env -u HTTPS_PROXY -u https_proxy -u http_proxy -u NO_PROXY -u no_proxy "
           "OPENAI_API_KEY=sk-proxy-test %s %s/llmrt %s >/dev/null 2>%s",
           env, LLMRT_BINARY_DIR, args, err_path);
  int st = system(cmd);
  FILE *f = fopen(err_path, "r");
  size_t n = f ? fread(errtext, 1, sizeof errtext - 1, f) : 0;
  errtext[n] = '\0';
  if (f) fclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_chat_through_proxy(void) {
  char env[256], args[512];
  snprintf(env, sizeof env, "http_proxy=http://127.0.0.1:%d", cp.port);
  snprintf(args, sizeof args, "chat --retries 0 --base-url %s hello", mt.url);
  int before = cp.tunnels;
  int rc = run(env, args);
  if (rc) fprintf(stderr, "%s\n", errtext);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(cp.tunnels, before + 1);
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", llmrt_mock_port(mt.mock));
  ASSERT_STR_EQ(cp.last_target, want);

  /* NO_PROXY: direct. */
  snprintf(env, sizeof env, "http_proxy=http://127.0.0.1:%d NO_PROXY=localhost,127.0.0.1", cp.port);
  before = cp.requests;
  ASSERT_EQ(run(env, args), 0);
  ASSERT_EQ(cp.requests, before);

  /* HTTPS_PROXY is for https upstreams only; the mock is http. */
  snprintf(env, sizeof env, "HTTPS_PROXY=http://127.0.0.1:%d", cp.port);
  ASSERT_EQ(run(env, args), 0);
  ASSERT_EQ(cp.requests, before);
}

static void test_bench_through_proxy(void) {
  char env[256], args[512];
  snprintf(env, sizeof env, "http_proxy=http://127.0.0.1:%d", cp.port);
  snprintf(args, sizeof args, "bench -N 6 -c 2 --base-url %s", mt.url);
  int before = cp.tunnels;
  int rc = run(env, args);
  if (rc) fprintf(stderr, "%s\n", errtext);
  ASSERT_EQ(rc, 0);
  ASSERT(cp.tunnels > before && cp.tunnels <= before + 2); /* one per pooled connection */
}

static void test_proxy_errors(void) {
  char env[256], args[512];
  snprintf(args, sizeof args, "chat --retries 0 --base-url %s hello", mt.url);
  cp.mode = CPROXY_REFUSE_407;
  snprintf(env, sizeof env, "http_proxy=http://127.0.0.1:%d", cp.port);
  int rc = run(env, args);
  cp.mode = CPROXY_TUNNEL;
  ASSERT_EQ(rc, 4);
  ASSERT(strstr(errtext, "refused CONNECT") != NULL);
  ASSERT(strstr(errtext, "HTTP 407") != NULL);

  rc = run("http_proxy=http://user:hunter2@127.0.0.1:1", args);
  ASSERT_EQ(rc, 2);
  ASSERT(strstr(errtext, "proxy variable is not http://HOST:PORT") != NULL);
  ASSERT(strstr(errtext, "hunter2") == NULL);
  ASSERT_EQ(run("http_proxy=socks5://127.0.0.1:1", args), 2);
}

int main(void) {
  int fd = mkstemp(err_path);
  ASSERT(fd >= 0);
  close(fd);
  ASSERT_EQ(connect_proxy_start(&cp), 0);
  ASSERT_EQ(mock_thread_start(&mt, NULL), 0);
  RUN_TEST(test_chat_through_proxy);
  RUN_TEST(test_bench_through_proxy);
  RUN_TEST(test_proxy_errors);
  mock_thread_stop(&mt);
  connect_proxy_stop(&cp);
  unlink(err_path);
  return 0;
}
