/* llmrt demo: starts the mock upstream in-process, streams one answer token
 * by token, then runs a burst of concurrent calls over the keep-alive pool
 * and prints what happened (time to first token, connections reused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "llmrt.h"
#include "llmrt_mock.h"

#define BURST 16

typedef struct {
  llmrt_t *rt;
  llmrt_mock_t *mock;
  int phase;
  int pending;
  int failures;
  uint64_t ttft_us[BURST];
  uint64_t total_us[BURST];
  int n;
  int64_t out_tokens;
} demo_t;

static void start_burst(demo_t *d);

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  fwrite(text, 1, len, stdout);
  fflush(stdout);
}

static void on_closed(llmrt_t *rt, void *user) {
  (void)rt;
  (void)user;
}

static void on_mock_stopped(llmrt_mock_t *m, void *user) {
  (void)m;
  (void)user;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void finish(demo_t *d) {
  llmrt_pool_stats_t st;
  llmrt_pool_stats(d->rt, NULL, &st);
  qsort(d->ttft_us, (size_t)d->n, sizeof(uint64_t), cmp_u64);
  qsort(d->total_us, (size_t)d->n, sizeof(uint64_t), cmp_u64);
  printf("\n%d concurrent streamed calls: %d ok, %d failed\n", BURST, d->n, d->failures);
  if (d->n) {
    printf("  time to first token  p50 %.1f ms, max %.1f ms\n", d->ttft_us[d->n / 2] / 1000.0,
           d->ttft_us[d->n - 1] / 1000.0);
    printf("  total                p50 %.1f ms, max %.1f ms\n", d->total_us[d->n / 2] / 1000.0,
           d->total_us[d->n - 1] / 1000.0);
  }
  printf("  output tokens        %lld\n", (long long)d->out_tokens);
  printf("  connections          opened %llu, requests on reused connections %llu\n",
         (unsigned long long)st.opened, (unsigned long long)st.reused);
  llmrt_mock_stop(d->mock, on_mock_stopped, NULL);
  llmrt_close(d->rt, on_closed, NULL);
}

static void on_burst_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  demo_t *d = user;
  if (status) {
    d->failures++;
    fprintf(stderr, "call failed: %s\n", res->error_message);
  } else {
    d->ttft_us[d->n] = res->timings.first_token_us;
    d->total_us[d->n] = res->timings.total_us;
    d->n++;
    d->out_tokens += res->output_tokens;
  }
  if (--d->pending == 0) finish(d);
}

static void on_first_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  demo_t *d = user;
  printf("\n");
  if (status) {
    fprintf(stderr, "llmrt demo: %s\n", res->error_message);
    d->failures++;
    finish(d);
    return;
  }
  printf("[%lld input tokens, %lld output tokens, finish %s, first token after %.1f ms, total "
         "%.1f ms, %d attempts]\n",
         (long long)res->input_tokens, (long long)res->output_tokens,
         res->finish_reason ? res->finish_reason : "-", res->timings.first_token_us / 1000.0,
         res->timings.total_us / 1000.0, res->attempts);
  if (res->attempts > 1)
    printf("[the first attempt got HTTP 503; the retry plugin tried again before any token, so the "
           "stream above is the second attempt's]\n");
  start_burst(d);
}

static int send_call(demo_t *d, const char *prompt, const llmrt_callbacks_t *cbs) {
  llmrt_message_t msgs[2] = {
      {.role = "system", .content = "You are a concise assistant."},
      {.role = "user", .content = prompt},
  };
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "mock-1";
  req.messages = msgs;
  req.n_messages = 2;
  req.max_tokens = 40;
  req.stream = 1;
  return llmrt_call(d->rt, &req, cbs, d, NULL);
}

static void start_burst(demo_t *d) {
  static const llmrt_callbacks_t cbs = {NULL, NULL, on_burst_done};
  char prompt[64];
  for (int i = 0; i < BURST; i++) {
    snprintf(prompt, sizeof prompt, "Question number %d about event loops.", i);
    if (send_call(d, prompt, &cbs) == 0) d->pending++;
  }
  if (!d->pending) finish(d);
}

static void demo_usage(FILE *f) {
  fprintf(f, "usage: llmrt demo\n"
             "\n"
             "Starts the mock upstream in-process, streams one answer (its first attempt\n"
             "gets HTTP 503 and the retry plugin tries again), then runs %d concurrent\n"
             "calls over the keep-alive pool and prints timings and connection reuse.\n"
             "\n"
             "  -h, --help   this help\n",
          BURST);
}

int llmrt_cmd_demo(int argc, char **argv) {
  if (argc > 1) {
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
      demo_usage(stdout);
      return EXIT_OK;
    }
    char name[48], esc[64];
    int n = (int)strcspn(argv[1], "="); /* the option, never its value */
    snprintf(name, sizeof name, "%.*s", n < 40 ? n : 40, argv[1]);
    llmrt_tool_escape(esc, sizeof esc, name, 40);
    fprintf(stderr, "llmrt demo: %s '%s'\ntry 'llmrt demo --help'\n",
            argv[1][0] == '-' ? "unknown option" : "unexpected argument", esc);
    return EXIT_USAGE;
  }
  demo_t d = {0};
  int r = llmrt_new(NULL, NULL, &d.rt);
  if (r) return EXIT_FAIL;
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.ttft_ms = 120;
  mo.token_ms = 15;
  /* The very first request gets a 503, to show the retry plugin at work. */
  mo.controls = "status=503,fail_first=1";
  r = llmrt_mock_start(llmrt_loop(d.rt), &mo, &d.mock);
  if (r) {
    fprintf(stderr, "llmrt demo: cannot start the mock upstream: %s\n", llmrt_strerror(r));
    llmrt_close(d.rt, on_closed, NULL);
    llmrt_run(d.rt, UV_RUN_DEFAULT);
    return EXIT_FAIL;
  }
  setenv("LLMRT_DEMO_KEY", "demo-key", 0);
  char config[512], errbuf[256];
  snprintf(config, sizeof config,
           "{\"upstreams\":{\"mock\":{\"base_url\":\"%s\",\"api\":\"openai\","
           "\"api_key_env\":\"LLMRT_DEMO_KEY\"}},"
           "\"plugins\":[{\"name\":\"retry\",\"max_attempts\":3,\"base_delay_ms\":100}]}",
           llmrt_mock_url(d.mock));
  r = llmrt_configure(d.rt, config, errbuf, sizeof errbuf);
  if (r) {
    fprintf(stderr, "llmrt demo: %s\n", errbuf);
    return EXIT_FAIL;
  }
  printf("mock upstream on %s\n> Explain keep-alive connections in one paragraph.\n",
         llmrt_mock_url(d.mock));
  static const llmrt_callbacks_t first = {on_token, NULL, on_first_done};
  r = send_call(&d, "Explain keep-alive connections in one paragraph.", &first);
  if (r) {
    fprintf(stderr, "llmrt demo: %s\n", llmrt_strerror(r));
    return EXIT_FAIL;
  }
  llmrt_run(d.rt, UV_RUN_DEFAULT);
  return d.failures ? EXIT_FAIL : EXIT_OK;
}
