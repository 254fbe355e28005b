/* Keep-alive through the whole call path: llmrt_call at 16 and 64 in flight
 * against nginx (another process, so a response can arrive in the same poll
 * that would run our write callback) reuses its connections: no more are
 * opened than calls ever ran at once, streamed and not, plain and TLS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmrt.h"
#include "nginx.h"
#include "test.h"

#define REPLY                                                                                      \
  "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-test\",\"choices\":[{"  \
  "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there.\"},"              \
  "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}"
#define CHUNK(s) "data: {\"id\":\"c1\",\"model\":\"gpt-test\",\"choices\":[" s "]}\\n\\n"
#define SSE                                                                                        \
  CHUNK("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}")                        \
  CHUNK("{\"index\":0,\"delta\":{\"content\":\"Hello \"}}")                                         \
  CHUNK("{\"index\":0,\"delta\":{\"content\":\"there.\"},\"finish_reason\":\"stop\"}")              \
  "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}\\n\\n" \
  "data: [DONE]\\n\\n"

static const char *nginx_extra =
    "location = /v1/chat/completions { default_type application/json; return 200 '" REPLY "'; }\n"
    "location = /sse/v1/chat/completions { default_type text/event-stream; return 200 '" SSE
    "'; }\n";

typedef struct {
  llmrt_t *rt;
  const char *upstream;
  int stream;
  int started, finished, failed, in_flight, max_in_flight, total;
  char errmsg[256];
} load_t;

static void start_one(load_t *l);

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  load_t *l = user;
  l->finished++;
  l->in_flight--;
  if (status || res->text_len != 12 || memcmp(res->text, "Hello there.", 12) != 0) {
    if (!l->failed)
      snprintf(l->errmsg, sizeof l->errmsg, "%s: %s", llmrt_err_name(status),
               res->error_message ? res->error_message : "(wrong text)");
    l->failed++;
  }
  if (l->started < l->total) start_one(l);
}

static void start_one(load_t *l) {
  llmrt_message_t msg = {.role = "user", .content = "Say hello."};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = l->upstream;
  req.model = "gpt-test";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = l->stream;
  llmrt_callbacks_t cbs = {NULL, NULL, on_done};
  ASSERT_EQ(llmrt_call(l->rt, &req, &cbs, l, NULL), 0);
  l->started++;
  if (++l->in_flight > l->max_in_flight) l->max_in_flight = l->in_flight;
}

static int closed;
static void on_closed(llmrt_t *rt, void *user) {
  closed++;
}

static void run(test_nginx_t *ng, int tls, int stream, int conc) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = test_cert_path("ca.pem");
  if (getenv("LLMRT_TEST_SLOW")) {
    /* 64 TLS handshakes at once take longer than 10 s under valgrind. */
    o.tls_timeout_ms = 300000;
    o.connect_timeout_ms = 300000;
  }
  llmrt_t *rt;
  ASSERT_EQ(llmrt_new(&loop, &o, &rt), 0);
  char cfg[512], err[256];
  const char *scheme = tls ? "https" : "http";
  int port = tls ? ng->https_port : ng->http_port;
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"json\":{\"base_url\":\"%s://localhost:%d/v1\",\"api\":\"openai\"},"
           "\"sse\":{\"base_url\":\"%s://localhost:%d/sse/v1\",\"api\":\"openai\"}},"
           "\"default_upstream\":\"json\"}",
           scheme, port, scheme, port);
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  /* Fewer rounds under valgrind (scripts/valgrind.sh): the same paths. */
  int per_slot = getenv("LLMRT_TEST_SLOW") ? 3 : 25;
  load_t l = {.rt = rt, .upstream = stream ? "sse" : "json", .stream = stream,
              .total = conc * per_slot};
  for (int i = 0; i < conc; i++) start_one(&l);
  while (l.finished < l.total) uv_run(&loop, UV_RUN_ONCE);
  if (l.failed) TEST_FAIL_("%d of %d calls failed, first: %s", l.failed, l.total, l.errmsg);
  llmrt_pool_stats_t st;
  ASSERT_EQ(llmrt_pool_stats(rt, NULL, &st), 0);
  printf("tls=%d stream=%d c=%d: %d calls, %llu connections opened, %llu reused\n", tls, stream,
         conc, l.total, (unsigned long long)st.opened, (unsigned long long)st.reused);
  /* Every connection beyond the first per slot is a keep-alive lost. */
  ASSERT_LE(st.opened, (uint64_t)l.max_in_flight);
  ASSERT_GE(st.reused, (uint64_t)(l.total - l.max_in_flight));
  closed = 0;
  llmrt_close(rt, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  test_nginx_t ng;
  test_nginx_start(&ng, nginx_extra);
  int concs[] = {16, 64};
  for (int tls = 0; tls <= 1; tls++)
    for (int stream = 0; stream <= 1; stream++)
      for (int i = 0; i < 2; i++) run(&ng, tls, stream, concs[i]);
  test_nginx_stop(&ng);
  printf("ok\n");
  return 0;
}
