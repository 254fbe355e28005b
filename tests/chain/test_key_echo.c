/* An upstream that echoes the API key, whole, wherever it can: error
 * messages and types (JSON, SSE and plain text bodies), the request id, the
 * model, the finish reason and tool call ids, each after every length of
 * padding around the places where llmrt cuts strings (200 bytes of a
 * non-JSON body, 511 of a message). No 6-byte piece of the key may reach
 * anything the caller sees: the result's fields, the events, or the log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned.h"
#include "llmrt.h"
#include "logcap.h"
#include "test.h"

#define KEY "sk-canary-0123456789abcdefSECRETxyz"

typedef struct {
  int done, status;
  char seen[8192]; /* every string the callbacks got, concatenated */
  size_t n;
} seen_t;

static void see(seen_t *s, const char *p, size_t len) {
  if (!p) return;
  if (s->n + len + 2 >= sizeof s->seen) len = sizeof s->seen - s->n - 2;
  memcpy(s->seen + s->n, p, len);
  s->n += len;
  s->seen[s->n++] = '|';
  s->seen[s->n] = '\0';
}

static void see_s(seen_t *s, const char *p) {
  if (p) see(s, p, strlen(p));
}

static void on_event(llmrt_call_t *c, const llmrt_event_t *ev, void *user) {
  seen_t *s = user;
  (void)c;
  see_s(s, ev->finish_reason);
  see_s(s, ev->id);
  see_s(s, ev->name);
}

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  seen_t *s = user;
  (void)c;
  s->done++;
  s->status = status;
  see_s(s, res->error_message);
  see_s(s, res->error_type);
  see_s(s, res->request_id);
  see_s(s, res->model);
  see_s(s, res->finish_reason);
}

/* No run of 6 bytes of the key in s. */
static void assert_clean(const char *what, size_t pad, const char *s) {
  const char *key = KEY;
  size_t klen = strlen(key);
  for (size_t j = 0; j + 6 <= klen; j++) {
    char piece[7];
    memcpy(piece, key + j, 6);
    piece[6] = '\0';
    if (strstr(s, piece))
      TEST_FAIL_("%s, pad %zu: key piece \"%s\" reached the caller in: %.300s", what, pad, piece,
                 strstr(s, piece) - 40 > s ? strstr(s, piece) - 40 : s);
  }
}

typedef struct {
  const char *name;
  const char *api; /* "openai" or "anthropic" */
  int stream;
  const char *head; /* status line and headers, %s: padding+key where echoed (request id) */
  const char *body; /* %s: padding + key */
} fmt_t;

#define JSONH "Content-Type: application/json\r\n"
#define SSEH "Content-Type: text/event-stream\r\n"
static const fmt_t fmts[] = {
    {"openai error message", "openai", 0, "HTTP/1.1 401 Unauthorized\r\n" JSONH,
     "{\"error\":{\"message\":\"Incorrect API key provided: %s. See docs.\","
     "\"type\":\"invalid_request_error\"}}"},
    {"openai error type", "openai", 0, "HTTP/1.1 400 Bad Request\r\n" JSONH,
     "{\"error\":{\"message\":\"no\",\"type\":\"%s\"}}"},
    {"plain text error", "openai", 0, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n",
     "proxy could not use key %s for you"},
    {"openai stream error", "openai", 1, "HTTP/1.1 200 OK\r\n" SSEH,
     "data: {\"error\":{\"message\":\"bad key %s\",\"type\":\"server_error\"}}\n\n"},
    {"openai model and finish", "openai", 0, "HTTP/1.1 200 OK\r\n" JSONH,
     "{\"id\":\"x\",\"model\":\"%s\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
     "\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"" KEY "\"}]}"},
    {"request id header", "openai", 0, "HTTP/1.1 500 Oops\r\nx-request-id: %s\r\n" JSONH,
     "{\"error\":{\"message\":\"oops\",\"type\":\"server_error\"}}"},
    {"openai tool call", "openai", 0, "HTTP/1.1 200 OK\r\n" JSONH,
     "{\"id\":\"" KEY "\",\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
     "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\","
     "\"function\":{\"name\":\"" KEY "\",\"arguments\":\"{}\"}}]},\"finish_reason\":"
     "\"tool_calls\"}]}"},
    {"anthropic error", "anthropic", 0, "HTTP/1.1 401 Unauthorized\r\n" JSONH,
     "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"key %s\"}}"},
    {"anthropic stream error", "anthropic", 1, "HTTP/1.1 200 OK\r\n" SSEH,
     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\","
     "\"model\":\"%s\",\"usage\":{\"input_tokens\":1}}}\n\n"
     "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"" KEY
     "\",\"message\":\"" KEY "\"}}\n\n"},
};

static int closed;
static void on_closed(llmrt_t *rt, void *u) {
  (void)rt, (void)u;
  closed = 1;
}

static void test_sweep(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  canned_t *up;
  ASSERT_EQ(canned_start(&loop, &up), 0);
  logcap_t logs;
  memset(&logs, 0, sizeof logs);
  llmrt_options_t o;
  llmrt_options_init(&o);
  logcap_attach(&logs, &o);
  o.log_level = LLMRT_LOG_DEBUG;
  llmrt_t *rt;
  ASSERT_EQ(llmrt_new(&loop, &o, &rt), 0);
  setenv("LLMRT_ECHO_KEY", KEY, 1);
  char cfg[512], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"openai\":{\"base_url\":\"http://127.0.0.1:%u/v1\",\"api_key_env\":"
           "\"LLMRT_ECHO_KEY\"},\"anthropic\":{\"base_url\":\"http://127.0.0.1:%u/v1\",\"api\":"
           "\"anthropic\",\"api_key_env\":\"LLMRT_ECHO_KEY\"}},\"default_upstream\":\"openai\"}",
           canned_port(up), canned_port(up));
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
  static char pad[1024], echo[2048], body[4096], resp[8192];
  memset(pad, 'P', sizeof pad - 1);
  unsigned calls = 0;
  for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
    /* Under valgrind (scripts/valgrind.sh) every 7th length only. */
    size_t fine = getenv("LLMRT_TEST_SLOW") ? 7 : 1;
    for (size_t n = 0; n < 560; n += (n < 40 || (n > 150 && n < 230) || n > 440) ? fine : 9) {
      snprintf(echo, sizeof echo, "%.*s%s", (int)n, pad, KEY);
      int blen = snprintf(body, sizeof body, fmts[f].body, echo);
      char head[4096];
      snprintf(head, sizeof head, fmts[f].head, echo);
      int rlen = snprintf(resp, sizeof resp, "%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                          head, blen, body);
      canned_set(up, resp, (size_t)rlen);
      llmrt_message_t msg = {.role = "user", .content = "hi"};
      llmrt_request_t req;
      llmrt_request_init(&req);
      req.upstream = fmts[f].api;
      req.model = "m";
      req.messages = &msg;
      req.n_messages = 1;
      req.stream = fmts[f].stream;
      seen_t s;
      memset(&s, 0, sizeof s);
      llmrt_callbacks_t cbs = {NULL, on_event, on_done};
      ASSERT_EQ(llmrt_call(rt, &req, &cbs, &s, NULL), 0);
      while (!s.done) ASSERT(uv_run(&loop, UV_RUN_ONCE) || s.done);
      ASSERT_EQ(s.done, 1);
      assert_clean(fmts[f].name, n, s.seen);
      calls++;
    }
  }
  ASSERT(logs.len > 0);
  assert_clean("the log", 0, logs.text);
  printf("%u calls, no key piece reached the caller\n", calls);
  llmrt_close(rt, on_closed, NULL);
  canned_stop(up);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT(closed);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  RUN_TEST(test_sweep);
  return 0;
}
