/* The LLM layer's limits and messages end to end (lib/chain/attempt.c with
 * lib/llm): a scripted upstream on loopback sends one response per test;
 * each call must fail with the right code and a message that names the
 * upstream and the limit or the problem. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h" /* llmrt__buf_t */
#include "llmrt.h"
#include "test.h"

/* ---- A one-response HTTP server ---- */

typedef struct {
  uv_tcp_t tcp;
  char req[65536];
  size_t len;
  int answered;
} conn_t;

static uv_loop_t loop;
static uv_tcp_t listener;
static char *resp; /* the whole response, head and body */
static size_t resp_len;

static void on_conn_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_written(uv_write_t *w, int status) {
  conn_t *c = w->data;
  free(w);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *buf) {
  conn_t *c = h->data;
  buf->base = c->req + c->len;
  buf->len = sizeof c->req - c->len - 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (n < 0) {
    if (!c->answered) uv_close((uv_handle_t *)s, on_conn_closed);
    return;
  }
  c->len += (size_t)n;
  c->req[c->len] = '\0';
  char *end = strstr(c->req, "\r\n\r\n");
  if (!end || c->answered) return;
  const char *cl = strcasestr(c->req, "content-length:");
  size_t want = cl ? (size_t)atol(cl + 15) : 0;
  if (c->len < (size_t)(end + 4 - c->req) + want) return;
  c->answered = 1;
  uv_read_stop(s);
  uv_write_t *w = malloc(sizeof *w);
  w->data = c;
  uv_buf_t b = uv_buf_init(resp, (unsigned)resp_len);
  uv_write(w, s, &b, 1, on_written);
}

static void on_connection(uv_stream_t *srv, int status) {
  conn_t *c = calloc(1, sizeof *c);
  uv_tcp_init(&loop, &c->tcp);
  c->tcp.data = c;
  ASSERT_EQ(uv_accept(srv, (uv_stream_t *)&c->tcp), 0);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

static void set_response(int status, const char *ctype, const char *body, size_t blen) {
  free(resp);
  resp = malloc(blen + 256);
  int h = snprintf(resp, 256,
                   "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
                   "close\r\n\r\n",
                   status, ctype, blen);
  memcpy(resp + h, body, blen);
  resp_len = (size_t)h + blen;
}

/* ---- Calls ---- */

typedef struct {
  int done, status;
  char errmsg[512], error_type[64];
  llmrt__buf_t tokens;
} run_t;

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  run_t *r = user;
  llmrt__buf_append(&r->tokens, text, len);
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  run_t *r = user;
  r->done++;
  r->status = status;
  snprintf(r->errmsg, sizeof r->errmsg, "%s", res->error_message ? res->error_message : "");
  snprintf(r->error_type, sizeof r->error_type, "%s", res->error_type ? res->error_type : "");
}

static void on_closed(llmrt_t *rt, void *user) {
  (*(int *)user)++;
}

/* One call through a runtime with opts against the scripted response. */
static void run(const llmrt_options_t *opts, int stream, run_t *r) {
  memset(r, 0, sizeof *r);
  llmrt__buf_init(&r->tokens);
  llmrt_t *rt;
  ASSERT_EQ(llmrt_new(&loop, opts, &rt), 0);
  struct sockaddr_in sa;
  int len = sizeof sa;
  uv_tcp_getsockname(&listener, (struct sockaddr *)&sa, &len);
  char cfg[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"u\":{\"base_url\":\"http://127.0.0.1:%d/v1\",\"api\":\"openai\"}},"
           "\"default_upstream\":\"u\"}",
           ntohs(sa.sin_port));
  ASSERT_EQ(llmrt_configure(rt, cfg, NULL, 0), 0);
  llmrt_message_t msg = {.role = "user", .content = "hi"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = stream;
  llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  ASSERT_EQ(llmrt_call(rt, &req, &cbs, r, NULL), 0);
  while (!r->done)
    uv_run(&loop, UV_RUN_ONCE);
  int closed = 0;
  llmrt_close(rt, on_closed, &closed);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
}

static void opts_init(llmrt_options_t *o) {
  llmrt_options_init(o);
  o->log_level = LLMRT_LOG_ERROR;
}

static void test_json_body_limit(void) {
  llmrt_options_t o;
  opts_init(&o);
  ASSERT_EQ(o.max_json_body_bytes, 8u << 20); /* the default */
  o.max_json_body_bytes = 1u << 20;
  size_t n = 2u << 20;
  char *b = malloc(n);
  memset(b, 'x', n);
  const char *head = "{\"choices\":[{\"message\":{\"content\":\"";
  memcpy(b, head, strlen(head));
  memcpy(b + n - 5, "\"}}]}", 5);
  set_response(200, "application/json", b, n);
  free(b);
  run_t r;
  run(&o, 0, &r);
  ASSERT_ERR(r.status, LLMRT_EBODYSIZE);
  ASSERT_CONTAINS(r.errmsg,
                  "upstream 'u' sent a JSON response larger than max_json_body_bytes (1048576)");
  llmrt__buf_free(&r.tokens);
}

static void test_sse_event_limit(void) {
  llmrt_options_t o;
  opts_init(&o);
  size_t n = (1u << 20) + 100;
  char *b = malloc(n);
  memset(b, 'x', n);
  memcpy(b, "data: ", 6);
  set_response(200, "text/event-stream", b, n);
  free(b);
  run_t r;
  run(&o, 1, &r);
  ASSERT_ERR(r.status, LLMRT_EBODYSIZE);
  ASSERT_CONTAINS(
      r.errmsg, "upstream 'u' sent an SSE line or event larger than max_sse_event_bytes (1048576)");
  llmrt__buf_free(&r.tokens);
}

static void test_sse_idle_limit(void) {
  llmrt_options_t o;
  opts_init(&o);
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  while (b.len < 200000)
    llmrt__buf_puts(&b, ": ping\n\n");
  set_response(200, "text/event-stream", b.data, b.len);
  run_t r;
  run(&o, 1, &r);
  ASSERT_ERR(r.status, LLMRT_EIDLETIMEOUT);
  ASSERT_CONTAINS(r.errmsg, "upstream 'u' sent");
  ASSERT_CONTAINS(r.errmsg, "without content (max_sse_idle_bytes 65536)");
  /* Pings as events (decoded, no content) end the same way. */
  llmrt__buf_reset(&b);
  while (b.len < 200000)
    llmrt__buf_puts(&b, "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n");
  set_response(200, "text/event-stream", b.data, b.len);
  llmrt__buf_free(&r.tokens);
  run(&o, 1, &r);
  ASSERT_ERR(r.status, LLMRT_EIDLETIMEOUT);
  ASSERT_CONTAINS(r.errmsg, "without content (max_sse_idle_bytes 65536)");
  llmrt__buf_free(&r.tokens);
  llmrt__buf_free(&b);
}

static void test_problems(void) {
  static const struct {
    const char *body, *msg;
  } cases[] = {
      {"{\"choices\":{}}",
       "upstream 'u' sent a JSON response of unexpected shape: choices is not an array"},
      {"{\"choices\":[1 2]}",
       "upstream 'u' sent a malformed JSON response: at byte 14 of 17: expected ',' or ']'"},
      {"<html>oops</html>", "upstream 'u' sent a malformed JSON response: at byte 0"},
  };
  llmrt_options_t o;
  opts_init(&o);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    set_response(200, "application/json", cases[i].body, strlen(cases[i].body));
    run_t r;
    run(&o, 0, &r);
    ASSERT_ERR(r.status, LLMRT_EBADRESPONSE);
    ASSERT_CONTAINS(r.errmsg, cases[i].msg);
    llmrt__buf_free(&r.tokens);
  }
  const char *ev = "data: {\"choices\":[{\"delta\":{\"content\":tru}}]}\n\n";
  set_response(200, "text/event-stream", ev, strlen(ev));
  run_t r;
  run(&o, 1, &r);
  ASSERT_ERR(r.status, LLMRT_EBADRESPONSE);
  ASSERT_CONTAINS(r.errmsg, "upstream 'u' sent a malformed stream event: at byte 32 of 39: "
                            "invalid literal (SSE event 'message')");
  llmrt__buf_free(&r.tokens);
}

static void test_big_error_body(void) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  llmrt__buf_puts(
      &b, "{\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"},\"pad\":\"");
  while (b.len < (1u << 20))
    llmrt__buf_puts(&b, "0123456789");
  llmrt__buf_puts(&b, "\"}");
  set_response(429, "application/json", b.data, b.len);
  llmrt_options_t o;
  opts_init(&o);
  run_t r;
  run(&o, 0, &r);
  ASSERT_ERR(r.status, LLMRT_ERATELIMIT);
  ASSERT_STR_EQ(r.error_type, "rate_limit_error");
  ASSERT_CONTAINS(r.errmsg, "rate_limit_error: slow down");
  llmrt__buf_free(&r.tokens);
  llmrt__buf_free(&b);
}

static void test_invalid_utf8_tokens(void) {
  const char *ev = "data: {\"choices\":[{\"delta\":{\"content\":\"a\xff\xe4\xbd\"}}]}\n\n"
                   "data: {\"choices\":[{\"delta\":{\"content\":\"\xa0z\xed\xa0\x80\"}}]}\n\n"
                   "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                   "data: [DONE]\n\n";
  set_response(200, "text/event-stream", ev, strlen(ev));
  llmrt_options_t o;
  opts_init(&o);
  run_t r;
  run(&o, 1, &r);
  if (r.status) TEST_FAIL_("%s", r.errmsg);
  ASSERT_STR_EQ(r.tokens.data, "a\xEF\xBF\xBD\xe4\xbd\xa0z\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  llmrt__buf_free(&r.tokens);
}

int main(void) {
  uv_loop_init(&loop);
  uv_tcp_init(&loop, &listener);
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  ASSERT_EQ(uv_tcp_bind(&listener, (const struct sockaddr *)&sa, 0), 0);
  ASSERT_EQ(uv_listen((uv_stream_t *)&listener, 16, on_connection), 0);
  RUN_TEST(test_json_body_limit);
  RUN_TEST(test_sse_event_limit);
  RUN_TEST(test_sse_idle_limit);
  RUN_TEST(test_problems);
  RUN_TEST(test_big_error_body);
  RUN_TEST(test_invalid_utf8_tokens);
  uv_close((uv_handle_t *)&listener, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  free(resp);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  return 0;
}
