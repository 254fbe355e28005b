/* The mock upstream over real loopback: a blocking raw HTTP client runs in a
 * thread while the mock runs on the main thread's loop. Checks what a client
 * of each provider would see: formats, determinism, auth, faults, gzip. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "failalloc.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

/* ---- Allocator: failalloc counts live and peak bytes of everything llmrt
 * and libuv hold ---- */

/* ---- Loop side ------------------------------------------------------------ */

static uv_loop_t loop;
static llmrt_mock_t *mock;
static uv_async_t finish_async;
static uv_timer_t poll_timer;
static uint64_t finish_started;
static int (*ready_fn)(void);
static void (*check_fn)(void); /* runs on the loop thread before the stop */
static int stopped;
static uint16_t port;

static void on_stopped(llmrt_mock_t *m, void *user) {
  stopped = 1;
}

static void on_poll(uv_timer_t *t) {
  if (ready_fn && !ready_fn() && uv_now(&loop) - finish_started < 10000) return;
  uv_timer_stop(&poll_timer);
  uv_close((uv_handle_t *)&poll_timer, NULL);
  uv_close((uv_handle_t *)&finish_async, NULL);
  if (check_fn) check_fn();
  llmrt_mock_stop(mock, on_stopped, NULL);
}

static void on_finish(uv_async_t *a) {
  finish_started = uv_now(&loop);
  uv_timer_start(&poll_timer, on_poll, 0, 10);
}

typedef void (*client_fn)(void);

static void client_thread(void *arg) {
  ((client_fn)arg)();
  uv_async_send(&finish_async);
}

static void run_mock(const llmrt_mock_options_t *o, client_fn fn) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(llmrt_mock_start(&loop, o, &mock), 0);
  port = llmrt_mock_port(mock);
  char want[64];
  snprintf(want, sizeof want, "%s://127.0.0.1:%u/v1", o && o->tls_cert ? "https" : "http", port);
  ASSERT_STR_EQ(llmrt_mock_url(mock), want);
  uv_async_init(&loop, &finish_async, on_finish);
  uv_timer_init(&loop, &poll_timer);
  stopped = 0;
  uv_thread_t th;
  ASSERT_EQ(uv_thread_create(&th, client_thread, (void *)fn), 0);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  uv_thread_join(&th);
  ASSERT(stopped);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  ready_fn = NULL;
  check_fn = NULL;
}

/* ---- Raw HTTP client (client thread) ------------------------------------- */

typedef struct {
  int status;
  char head[4096]; /* lowercase "name: value\n" lines */
  char *body;      /* decoded from chunked; NUL-terminated */
  size_t body_len;
  int complete; /* the body ended as framed */
  int n_chunks; /* HTTP chunks of a chunked body */
  int err;      /* errno of a failed recv (ECONNRESET), 0 otherwise */
  double first_byte_ms, first_body_ms, total_ms;
} resp_t;

static double now_ms(void) {
  return (double)uv_hrtime() / 1e6;
}

typedef struct {
  int fd;
  char buf[1 << 16];
  size_t len, pos;
  int eof, err;
} conn_t;

/* rcvbuf > 0: a small fixed receive buffer (no kernel autotuning), so a
 * client that does not read pushes back on the mock at once. */
static void cli_open_rcvbuf(conn_t *c, int rcvbuf) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(c->fd >= 0);
  if (rcvbuf > 0) ASSERT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {20, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void cli_open(conn_t *c) {
  cli_open_rcvbuf(c, 0);
}

static int need(conn_t *c, size_t n) {
  while (c->len - c->pos < n) {
    if (c->pos > 0) {
      memmove(c->buf, c->buf + c->pos, c->len - c->pos);
      c->len -= c->pos;
      c->pos = 0;
    }
    ASSERT(c->len < sizeof c->buf);
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0) {
      if (r == 0)
        c->eof = 1;
      else
        c->err = errno;
      return 0;
    }
    c->len += (size_t)r;
  }
  return 1;
}

static char *line(conn_t *c) {
  for (;;) {
    char *s = c->buf + c->pos, *e = memchr(s, '\n', c->len - c->pos);
    if (e) {
      *e = '\0';
      if (e > s && e[-1] == '\r') e[-1] = '\0';
      c->pos = (size_t)(e + 1 - c->buf);
      return s;
    }
    if (!need(c, c->len - c->pos + 1)) return NULL;
  }
}

static void body_add(resp_t *r, const char *p, size_t n) {
  r->body = realloc(r->body, r->body_len + n + 1);
  ASSERT(r->body);
  memcpy(r->body + r->body_len, p, n);
  r->body_len += n;
  r->body[r->body_len] = '\0';
}

static void resp_free(resp_t *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

static const char *hdr(const resp_t *r, const char *name) {
  static __thread char v[512];
  char key[128];
  snprintf(key, sizeof key, "%s: ", name);
  const char *p = strstr(r->head, key);
  if (!p) return NULL;
  p += strlen(key);
  size_t n = strcspn(p, "\n");
  snprintf(v, sizeof v, "%.*s", (int)n, p);
  return v;
}

static void cli_read(conn_t *c, resp_t *r, double t0) {
  memset(r, 0, sizeof *r);
  body_add(r, "", 0);
  char *l = line(c);
  if (!l) {
    r->err = c->err;
    return;
  }
  r->first_byte_ms = now_ms() - t0;
  ASSERT_EQ(sscanf(l, "HTTP/1.1 %d", &r->status), 1);
  long long cl = -1;
  int chunked = 0;
  while ((l = line(c)) && *l) {
    for (char *p = l; *p && *p != ':'; p++)
      *p = (char)tolower((unsigned char)*p);
    if (!strncmp(l, "content-length:", 15)) cl = atoll(l + 15);
    if (strstr(l, "transfer-encoding: chunked")) chunked = 1;
    strncat(r->head, l, sizeof r->head - strlen(r->head) - 2);
    strcat(r->head, "\n");
  }
  ASSERT(l);
  if (chunked) {
    for (;;) {
      if (!(l = line(c))) break;
      size_t n = strtoul(l, NULL, 16);
      if (n == 0) {
        r->complete = line(c) != NULL;
        break;
      }
      if (!need(c, n + 2)) break;
      if (!r->first_body_ms) r->first_body_ms = now_ms() - t0;
      body_add(r, c->buf + c->pos, n);
      c->pos += n + 2;
      r->n_chunks++;
    }
  } else if (cl >= 0) {
    if (need(c, (size_t)cl)) {
      body_add(r, c->buf + c->pos, (size_t)cl);
      c->pos += (size_t)cl;
      r->complete = 1;
    }
  }
  r->err = c->err;
  r->total_ms = now_ms() - t0;
}

/* Sends one request: api "openai" or "anthropic"; extra header lines
 * (each ending in \r\n) may be NULL. */
static void cli_post(conn_t *c, const char *path, const char *headers, const char *body) {
  char head[2048];
  int n = snprintf(head, sizeof head,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n%s\r\n",
                   path, strlen(body), headers ? headers : "");
  ASSERT(n > 0 && (size_t)n < sizeof head);
  ASSERT_EQ(send(c->fd, head, (size_t)n, MSG_NOSIGNAL), n);
  ASSERT_EQ(send(c->fd, body, strlen(body), MSG_NOSIGNAL), (ssize_t)strlen(body));
}

#define OAI_AUTH "Authorization: Bearer sk-test\r\n"
#define ANT_AUTH "x-api-key: sk-ant-test\r\nanthropic-version: 2023-06-01\r\n"

/* One request on a fresh connection. */
static void request(const char *path, const char *headers, const char *body, resp_t *r) {
  conn_t *c = malloc(sizeof *c);
  ASSERT(c);
  cli_open(c);
  double t0 = now_ms();
  cli_post(c, path, headers, body);
  cli_read(c, r, t0);
  close(c->fd);
  free(c);
}

static void openai(const char *xmock, const char *body, resp_t *r) {
  char h[512];
  snprintf(h, sizeof h, OAI_AUTH "%s%s%s", xmock ? "x-mock: " : "", xmock ? xmock : "",
           xmock ? "\r\n" : "");
  request("/v1/chat/completions", h, body, r);
}

static void anthropic(const char *xmock, const char *body, resp_t *r) {
  char h[512];
  snprintf(h, sizeof h, ANT_AUTH "%s%s%s", xmock ? "x-mock: " : "", xmock ? xmock : "",
           xmock ? "\r\n" : "");
  request("/v1/messages", h, body, r);
}

/* ---- SSE ------------------------------------------------------------------- */

typedef struct {
  char event[64];
  char *data;
  cJSON *json; /* NULL when data is not JSON */
} ev_t;

/* Splits a stream body into events; returns the count (at most max). */
static int sse_split(const char *body, ev_t *evs, int max) {
  int n = 0;
  const char *p = body;
  while (*p && n < max) {
    const char *end = strstr(p, "\n\n");
    size_t blk = end ? (size_t)(end - p) : strlen(p);
    ev_t *e = &evs[n];
    memset(e, 0, sizeof *e);
    const char *q = p;
    while (q < p + blk) {
      size_t ln = strcspn(q, "\n");
      if (ln > (size_t)(p + blk - q)) ln = (size_t)(p + blk - q);
      if (!strncmp(q, "event: ", 7))
        snprintf(e->event, sizeof e->event, "%.*s", (int)ln - 7, q + 7);
      if (!strncmp(q, "data: ", 6)) {
        e->data = malloc(ln - 6 + 1);
        memcpy(e->data, q + 6, ln - 6);
        e->data[ln - 6] = '\0';
      }
      q += ln + 1;
    }
    if (e->data) e->json = cJSON_Parse(e->data);
    n++;
    p += blk;
    while (*p == '\n')
      p++;
  }
  return n;
}

static void sse_free(ev_t *evs, int n) {
  for (int i = 0; i < n; i++) {
    free(evs[i].data);
    cJSON_Delete(evs[i].json);
  }
}

static cJSON *jget(const cJSON *o, const char *path) {
  /* "a.b.0.c": objects by key, arrays by index. */
  char key[64];
  while (o && *path) {
    size_t n = strcspn(path, ".");
    snprintf(key, sizeof key, "%.*s", (int)n, path);
    o = isdigit((unsigned char)key[0]) ? cJSON_GetArrayItem(o, atoi(key))
                                       : cJSON_GetObjectItemCaseSensitive(o, key);
    path += n + (path[n] == '.');
  }
  return (cJSON *)o;
}

static const char *jstr(const cJSON *o, const char *path) {
  const cJSON *v = jget(o, path);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long jnum(const cJSON *o, const char *path) {
  const cJSON *v = jget(o, path);
  ASSERT(cJSON_IsNumber(v));
  return (long long)v->valuedouble;
}

/* Joins the text deltas of an OpenAI stream and checks its shape. */
static void openai_stream_text(const char *body, char *out, size_t outlen, int *n_content,
                               const char **finish, long long *usage_out) {
  ev_t evs[256];
  int n = sse_split(body, evs, 256);
  ASSERT_GE(n, 3);
  out[0] = '\0';
  *n_content = 0;
  /* Role chunk first. */
  ASSERT(evs[0].json);
  ASSERT_STR_EQ(jstr(evs[0].json, "object"), "chat.completion.chunk");
  ASSERT_STR_EQ(jstr(evs[0].json, "choices.0.delta.role"), "assistant");
  ASSERT(jstr(evs[0].json, "id") && jget(evs[0].json, "created"));
  static char fin[32];
  fin[0] = '\0';
  *usage_out = -1;
  for (int i = 1; i < n - 1; i++) {
    ASSERT(evs[i].json);
    ASSERT_STR_EQ(jstr(evs[i].json, "id"), jstr(evs[0].json, "id"));
    const char *t = jstr(evs[i].json, "choices.0.delta.content");
    if (t) {
      ASSERT(!fin[0]); /* no content after the finish chunk */
      strncat(out, t, outlen - strlen(out) - 1);
      (*n_content)++;
    }
    const char *f = jstr(evs[i].json, "choices.0.finish_reason");
    if (f) snprintf(fin, sizeof fin, "%s", f);
    cJSON *u = jget(evs[i].json, "usage");
    if (cJSON_IsObject(u)) {
      ASSERT(fin[0]); /* usage comes after the finish chunk */
      ASSERT_EQ(cJSON_GetArraySize(jget(evs[i].json, "choices")), 0);
      *usage_out = jnum(u, "completion_tokens");
    }
  }
  ASSERT_STR_EQ(evs[n - 1].data, "[DONE]");
  *finish = fin;
  sse_free(evs, n);
}

/* ---- Tests ----------------------------------------------------------------- */

#define HELLO                                                                                      \
  "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"         \
  "{\"role\":\"user\",\"content\":\"Say hello to the mock upstream.\"}]"

static void cli_openai(void) {
  resp_t a, b;
  openai(NULL, HELLO "}", &a);
  ASSERT_EQ(a.status, 200);
  ASSERT_STR_EQ(hdr(&a, "content-type"), "application/json");
  ASSERT(hdr(&a, "x-request-id"));
  cJSON *j = cJSON_Parse(a.body);
  ASSERT(j);
  ASSERT_STR_EQ(jstr(j, "object"), "chat.completion");
  ASSERT_STR_EQ(jstr(j, "model"), "gpt-test");
  ASSERT_STR_EQ(jstr(j, "choices.0.message.role"), "assistant");
  ASSERT_STR_EQ(jstr(j, "choices.0.finish_reason"), "stop");
  const char *text = jstr(j, "choices.0.message.content");
  ASSERT(text && strlen(text) > 32);
  ASSERT_EQ(jnum(j, "usage.completion_tokens"), 32);
  /* "Be brief." + "Say hello to the mock upstream." = 40 bytes: 10 tokens. */
  ASSERT_EQ(jnum(j, "usage.prompt_tokens"), 10);
  ASSERT_EQ(jnum(j, "usage.total_tokens"), 42);

  /* Same request, same answer (on another connection). */
  openai(NULL, HELLO "}", &b);
  cJSON *j2 = cJSON_Parse(b.body);
  ASSERT_STR_EQ(jstr(j2, "choices.0.message.content"), text);
  cJSON_Delete(j2);
  resp_free(&b);
  /* Another question, another answer. */
  openai(NULL, "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"Other.\"}]}",
         &b);
  j2 = cJSON_Parse(b.body);
  ASSERT(strcmp(jstr(j2, "choices.0.message.content"), text) != 0);
  cJSON_Delete(j2);
  resp_free(&b);

  /* Streamed: the same text, in 32 deltas, with usage when asked. */
  openai(NULL, HELLO ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}", &b);
  ASSERT_EQ(b.status, 200);
  ASSERT_CONTAINS(hdr(&b, "content-type"), "text/event-stream");
  ASSERT(b.complete);
  char joined[4096];
  int n_content;
  const char *fin;
  long long usage;
  openai_stream_text(b.body, joined, sizeof joined, &n_content, &fin, &usage);
  ASSERT_STR_EQ(joined, text);
  ASSERT_EQ(n_content, 32);
  ASSERT_STR_EQ(fin, "stop");
  ASSERT_EQ(usage, 32);
  resp_free(&b);

  /* max_tokens caps the answer: finish "length"; tokens=N shortens it. */
  openai(NULL, HELLO ",\"max_tokens\":5,\"stream\":true}", &b);
  openai_stream_text(b.body, joined, sizeof joined, &n_content, &fin, &usage);
  ASSERT_EQ(n_content, 5);
  ASSERT_STR_EQ(fin, "length");
  ASSERT_EQ(usage, -1);                  /* not asked for */
  ASSERT(!strstr(b.body, "\"usage\":")); /* no usage:null either */
  resp_free(&b);
  openai("tokens=3", HELLO ",\"max_completion_tokens\":5}", &b);
  j2 = cJSON_Parse(b.body);
  ASSERT_STR_EQ(jstr(j2, "choices.0.finish_reason"), "stop");
  ASSERT_EQ(jnum(j2, "usage.completion_tokens"), 3);
  cJSON_Delete(j2);
  resp_free(&b);
  cJSON_Delete(j);
  resp_free(&a);
}

static void check_openai(void) {
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.requests, 6);
  ASSERT_EQ(st.connections, 6);
  ASSERT_EQ(st.completions, 6);
  ASSERT_EQ(st.streams, 2);
  ASSERT_EQ(st.errors, 0);
  ASSERT_EQ(st.tokens, 32 + 32 + 32 + 32 + 5 + 3);
  ASSERT_EQ(st.active, 0);
  ASSERT_CONTAINS(llmrt_mock_last_body(mock), "\"max_completion_tokens\":5");
  ASSERT_STR_EQ(llmrt_mock_last_header(mock, "X-Mock"), "tokens=3");
  ASSERT_STR_EQ(llmrt_mock_last_path(mock), "/v1/chat/completions");
}

static void test_openai(void) {
  check_fn = check_openai;
  run_mock(NULL, cli_openai);
}

#define ANT_BODY                                                                                   \
  "{\"model\":\"claude-test\",\"max_tokens\":64,\"system\":\"Be brief.\","                         \
  "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","                              \
  "\"text\":\"Say hello to the mock upstream.\"}]}]"

static void cli_anthropic(void) {
  resp_t a, b;
  anthropic(NULL, ANT_BODY "}", &a);
  ASSERT_EQ(a.status, 200);
  ASSERT(hdr(&a, "request-id"));
  cJSON *j = cJSON_Parse(a.body);
  ASSERT(j);
  ASSERT_STR_EQ(jstr(j, "type"), "message");
  ASSERT_STR_EQ(jstr(j, "role"), "assistant");
  ASSERT_STR_EQ(jstr(j, "model"), "claude-test");
  ASSERT_STR_EQ(jstr(j, "content.0.type"), "text");
  ASSERT_STR_EQ(jstr(j, "stop_reason"), "end_turn");
  ASSERT(jget(j, "stop_sequence") && cJSON_IsNull(jget(j, "stop_sequence")));
  ASSERT_EQ(jnum(j, "usage.input_tokens"), 10);
  ASSERT_EQ(jnum(j, "usage.output_tokens"), 32);
  const char *text = jstr(j, "content.0.text");
  ASSERT(text);

  /* Streamed: the documented event sequence, the same text. */
  anthropic(NULL, ANT_BODY ",\"stream\":true}", &b);
  ASSERT_EQ(b.status, 200);
  ASSERT(b.complete);
  ev_t evs[256];
  int n = sse_split(b.body, evs, 256);
  ASSERT_EQ(n, 3 + 32 + 3);
  static const char *const head[] = {"message_start", "content_block_start", "ping"};
  static const char *const tail[] = {"content_block_stop", "message_delta", "message_stop"};
  char joined[4096] = "";
  for (int i = 0; i < n; i++) {
    const char *want = i < 3 ? head[i] : i >= n - 3 ? tail[i - (n - 3)] : "content_block_delta";
    ASSERT_STR_EQ(evs[i].event, want);
    ASSERT(evs[i].json);
    ASSERT_STR_EQ(jstr(evs[i].json, "type"), want); /* data type matches the event name */
    if (i >= 3 && i < n - 3) {
      ASSERT_STR_EQ(jstr(evs[i].json, "delta.type"), "text_delta");
      strncat(joined, jstr(evs[i].json, "delta.text"), sizeof joined - strlen(joined) - 1);
    }
  }
  ASSERT_STR_EQ(joined, text);
  ASSERT_EQ(jnum(evs[0].json, "message.usage.input_tokens"), 10);
  ASSERT_STR_EQ(jstr(evs[1].json, "content_block.type"), "text");
  ASSERT_STR_EQ(jstr(evs[n - 2].json, "delta.stop_reason"), "end_turn");
  ASSERT_EQ(jnum(evs[n - 2].json, "usage.output_tokens"), 32);
  sse_free(evs, n);
  resp_free(&b);

  /* max_tokens below the answer length: stop_reason max_tokens. */
  anthropic(NULL,
            "{\"model\":\"c\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\","
            "\"content\":\"hi\"}]}",
            &b);
  cJSON *j2 = cJSON_Parse(b.body);
  ASSERT_STR_EQ(jstr(j2, "stop_reason"), "max_tokens");
  ASSERT_EQ(jnum(j2, "usage.output_tokens"), 4);
  cJSON_Delete(j2);
  resp_free(&b);

  /* Tool use, streamed: input_json_delta fragments that join into JSON. */
  anthropic("tool=1",
            ANT_BODY ",\"stream\":true,\"tools\":[{\"name\":\"get_time\","
                     "\"input_schema\":{\"type\":\"object\"}}]}",
            &b);
  n = sse_split(b.body, evs, 256);
  ASSERT_STR_EQ(jstr(evs[1].json, "content_block.type"), "tool_use");
  ASSERT_STR_EQ(jstr(evs[1].json, "content_block.name"), "get_time");
  joined[0] = '\0';
  for (int i = 3; i < n - 3; i++) {
    ASSERT_STR_EQ(jstr(evs[i].json, "delta.type"), "input_json_delta");
    strncat(joined, jstr(evs[i].json, "delta.partial_json"), sizeof joined - strlen(joined) - 1);
  }
  cJSON *args = cJSON_Parse(joined);
  ASSERT(args && jstr(args, "location"));
  cJSON_Delete(args);
  ASSERT_STR_EQ(jstr(evs[n - 2].json, "delta.stop_reason"), "tool_use");
  sse_free(evs, n);
  resp_free(&b);
  cJSON_Delete(j);
  resp_free(&a);
}

static void test_anthropic(void) {
  run_mock(NULL, cli_anthropic);
}

static void cli_auth(void) {
  resp_t r;
  const char *body = "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}]}";
  request("/v1/chat/completions", NULL, body, &r);
  ASSERT_EQ(r.status, 401);
  cJSON *j = cJSON_Parse(r.body);
  ASSERT_STR_EQ(jstr(j, "error.type"), "invalid_request_error");
  ASSERT_CONTAINS(jstr(j, "error.message"), "API key");
  cJSON_Delete(j);
  resp_free(&r);
  request("/v1/chat/completions", "Authorization: Bearer \r\n", body, &r);
  ASSERT_EQ(r.status, 401);
  resp_free(&r);
  request("/v1/messages", "anthropic-version: 2023-06-01\r\n", body, &r);
  ASSERT_EQ(r.status, 401);
  j = cJSON_Parse(r.body);
  ASSERT_STR_EQ(jstr(j, "type"), "error");
  ASSERT_STR_EQ(jstr(j, "error.type"), "authentication_error");
  cJSON_Delete(j);
  resp_free(&r);
  request("/v1/messages", "x-api-key: k\r\n", body, &r);
  ASSERT_EQ(r.status, 400);
  ASSERT_CONTAINS(r.body, "anthropic-version");
  resp_free(&r);
  /* Validation: Anthropic needs max_tokens; bad JSON; bad controls. */
  request("/v1/messages", ANT_AUTH,
          "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
  ASSERT_EQ(r.status, 400);
  ASSERT_CONTAINS(r.body, "max_tokens");
  resp_free(&r);
  openai(NULL, "{not json", &r);
  ASSERT_EQ(r.status, 400);
  resp_free(&r);
  openai("fault=explode", body, &r);
  ASSERT_EQ(r.status, 400);
  ASSERT_CONTAINS(r.body, "explode");
  resp_free(&r);
  request("/v1/nothing", OAI_AUTH, body, &r);
  ASSERT_EQ(r.status, 404);
  resp_free(&r);
}

static void test_auth_and_validation(void) {
  run_mock(NULL, cli_auth);
}

#define SHORT                                                                                      \
  "{\"model\":\"m\",\"max_tokens\":100,\"stream\":true,\"messages\":[{\"role\":\"user\","          \
  "\"content\":\"hello\"}]}"

static void cli_faults(void) {
  resp_t r;
  /* status + retry_after, for the first request only. */
  openai("status=429,retry_after=7,fail_first=1,id=a", SHORT, &r);
  ASSERT_EQ(r.status, 429);
  ASSERT_STR_EQ(hdr(&r, "retry-after"), "7");
  cJSON *j = cJSON_Parse(r.body);
  ASSERT_STR_EQ(jstr(j, "error.code"), "rate_limit_exceeded");
  cJSON_Delete(j);
  resp_free(&r);
  openai("status=429,retry_after=7,fail_first=1,id=a", SHORT, &r);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  anthropic("status=529", SHORT, &r);
  ASSERT_EQ(r.status, 529);
  j = cJSON_Parse(r.body);
  ASSERT_STR_EQ(jstr(j, "error.type"), "overloaded_error");
  cJSON_Delete(j);
  resp_free(&r);

  /* Reset after 3 tokens: the client gets them, then ECONNRESET. */
  openai("tokens=10,fault=reset,after=3,token_ms=2", SHORT, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT(!r.complete);
  ASSERT_EQ(r.err, ECONNRESET);
  ASSERT_EQ(r.first_byte_ms > 0, 1);
  ev_t evs[64];
  int n = sse_split(r.body, evs, 64);
  ASSERT_EQ(n, 1 + 3); /* role chunk + 3 tokens */
  sse_free(evs, n);
  resp_free(&r);

  /* EOF mid-body: a FIN without the last chunk. */
  openai("tokens=10,fault=eof,after=2", SHORT, &r);
  ASSERT(!r.complete);
  ASSERT_EQ(r.err, 0);
  resp_free(&r);

  /* Truncated: HTTP ends cleanly, the SSE stream lacks its ending. */
  openai("tokens=10,fault=truncate,after=4", SHORT, &r);
  ASSERT(r.complete);
  ASSERT(!strstr(r.body, "[DONE]"));
  ASSERT(!strstr(r.body, "finish_reason\":\"stop"));
  n = sse_split(r.body, evs, 64);
  ASSERT_EQ(n, 1 + 4);
  sse_free(evs, n);
  resp_free(&r);
  anthropic("tokens=10,fault=truncate,after=10", SHORT, &r);
  ASSERT(r.complete);
  ASSERT(!strstr(r.body, "message_stop"));
  ASSERT(!strstr(r.body, "message_delta"));
  resp_free(&r);

  /* Error event mid-stream. */
  anthropic("tokens=10,fault=error,after=2", SHORT, &r);
  n = sse_split(r.body, evs, 64);
  ASSERT_EQ(n, 3 + 2 + 1);
  ASSERT_STR_EQ(evs[n - 1].event, "error");
  ASSERT_STR_EQ(jstr(evs[n - 1].json, "error.type"), "overloaded_error");
  sse_free(evs, n);
  resp_free(&r);
  openai("tokens=10,fault=error,after=2", SHORT, &r);
  n = sse_split(r.body, evs, 64);
  ASSERT(jget(evs[n - 1].json, "error.message"));
  ASSERT(!strstr(r.body, "[DONE]"));
  sse_free(evs, n);
  resp_free(&r);

  /* Malformed: one data line is not JSON; the stream goes on. */
  openai("tokens=4,fault=malformed,after=1", SHORT, &r);
  n = sse_split(r.body, evs, 64);
  int bad = 0;
  for (int i = 0; i < n; i++)
    bad += evs[i].json == NULL && strcmp(evs[i].data, "[DONE]") != 0;
  ASSERT_EQ(bad, 1);
  ASSERT(evs[2].json == NULL); /* role, 1 token, then the broken one */
  ASSERT_STR_EQ(evs[n - 1].data, "[DONE]");
  sse_free(evs, n);
  resp_free(&r);

  /* Non-streamed faults. */
  openai("fault=malformed",
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT(r.complete);
  j = cJSON_Parse(r.body);
  ASSERT(j == NULL);
  resp_free(&r);
  openai("fault=reset", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &r);
  ASSERT_EQ(r.status, 0);
  ASSERT_EQ(r.err, ECONNRESET);
  resp_free(&r);
}

static void check_faults(void) {
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.faults, 11);
  ASSERT_EQ(st.active, 0);
}

static void test_faults(void) {
  check_fn = check_faults;
  run_mock(NULL, cli_faults);
}

/* Stall after 2 tokens: the client gives up; the mock notices and stops
 * its timers (no leak, counted as aborted). */
static void cli_stall(void) {
  conn_t *c = malloc(sizeof *c);
  cli_open(c);
  cli_post(c, "/v1/chat/completions", OAI_AUTH "x-mock: tokens=10,fault=stall,after=2\r\n", SHORT);
  struct timeval tv = {1, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  resp_t r;
  cli_read(c, &r, now_ms());
  ASSERT_EQ(r.status, 200);
  ASSERT(!r.complete);
  ASSERT_EQ(r.err, EAGAIN); /* nothing came for a second */
  resp_free(&r);
  close(c->fd);
  free(c);
}

static int stall_aborted(void) {
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  return st.aborted == 1;
}

static void check_stall(void) {
  ASSERT(stall_aborted());
}

static void test_stall(void) {
  ready_fn = stall_aborted;
  check_fn = check_stall;
  run_mock(NULL, cli_stall);
}

static void cli_text_controls(void) {
  resp_t r;
  /* echo: the answer is the last user message. */
  openai("echo",
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"first\"},"
         "{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\","
         "\"content\":\"second question here\"}]}",
         &r);
  cJSON *j = cJSON_Parse(r.body);
  ASSERT_STR_EQ(jstr(j, "choices.0.message.content"), "second question here");
  ASSERT_EQ(jnum(j, "usage.completion_tokens"), 3);
  cJSON_Delete(j);
  resp_free(&r);
  /* Fixed Chinese text, percent-encoded, streamed without splitting characters. */
  openai("text=%E4%BD%A0%E5%A5%BD%EF%BC%8C%E4%B8%96%E7%95%8C%F0%9F%9A%80", SHORT, &r);
  char joined[1024];
  int n_content;
  const char *fin;
  long long usage;
  openai_stream_text(r.body, joined, sizeof joined, &n_content, &fin, &usage);
  ASSERT_STR_EQ(joined, "你好，世界🚀");
  ASSERT_EQ(n_content, 3);
  resp_free(&r);
  /* lang=zh: generated Chinese is deterministic and valid JSON/UTF-8. */
  anthropic("lang=zh,tokens=12", SHORT, &r);
  ev_t evs[64];
  int n = sse_split(r.body, evs, 64);
  ASSERT_EQ(n, 3 + 12 + 3);
  for (int i = 0; i < n; i++)
    ASSERT(evs[i].json);
  sse_free(evs, n);
  resp_free(&r);
  /* chunk_bytes=1: every byte is its own HTTP chunk, UTF-8 split anyhow. */
  anthropic("lang=zh,tokens=6,chunk_bytes=1", SHORT, &r);
  ASSERT(r.complete);
  ASSERT_EQ(r.n_chunks, (long long)r.body_len);
  n = sse_split(r.body, evs, 64);
  ASSERT_EQ(n, 3 + 6 + 3);
  ASSERT_STR_EQ(evs[n - 1].event, "message_stop");
  sse_free(evs, n);
  resp_free(&r);
  openai("chunk_bytes=7", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &r);
  ASSERT(r.complete);
  j = cJSON_Parse(r.body);
  ASSERT(jstr(j, "choices.0.message.content"));
  cJSON_Delete(j);
  resp_free(&r);
  /* Pacing: ttft and slow headers are lower bounds. */
  openai("ttft_ms=150,token_ms=10,tokens=5", SHORT, &r);
  ASSERT(r.first_body_ms < 140); /* the role chunk comes with the headers */
  ASSERT_GE(r.total_ms, 150 + 4 * 10 - 5);
  ASSERT(r.complete);
  resp_free(&r);
  conn_t *c = malloc(sizeof *c);
  cli_open(c);
  double t0 = now_ms();
  cli_post(c, "/v1/chat/completions", OAI_AUTH "x-mock: head_ms=200,tokens=2\r\n", SHORT);
  cli_read(c, &r, t0);
  ASSERT_GE(r.first_byte_ms, 190);
  resp_free(&r);
  /* Keep-alive: a second request on the same connection. */
  t0 = now_ms();
  cli_post(c, "/v1/chat/completions", OAI_AUTH "x-mock: ttft_ms=150,tokens=2\r\n", SHORT);
  cli_read(c, &r, t0);
  ASSERT_EQ(r.status, 200);
  ASSERT(r.complete);
  ASSERT_GE(now_ms() - t0, 140);
  resp_free(&r);
  close(c->fd);
  free(c);
}

static void test_text_controls(void) {
  run_mock(NULL, cli_text_controls);
}

static size_t gunzip(const char *in, size_t len, char *out, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  ASSERT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap - 1;
  int zr = inflate(&z, Z_FINISH);
  ASSERT_EQ(zr, Z_STREAM_END);
  size_t n = cap - 1 - z.avail_out;
  out[n] = '\0';
  inflateEnd(&z);
  return n;
}

static void cli_gzip(void) {
  resp_t plain, gz;
  const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"zip it\"}]}";
  openai(NULL, body, &plain);
  ASSERT(!hdr(&plain, "content-encoding"));
  request("/v1/chat/completions", OAI_AUTH "Accept-Encoding: br, gzip;q=0.8\r\n", body, &gz);
  ASSERT_STR_EQ(hdr(&gz, "content-encoding"), "gzip");
  static char out[1 << 16];
  gunzip(gz.body, gz.body_len, out, sizeof out);
  cJSON *a = cJSON_Parse(plain.body), *b = cJSON_Parse(out);
  ASSERT_STR_EQ(jstr(a, "choices.0.message.content"), jstr(b, "choices.0.message.content"));
  cJSON_Delete(a);
  cJSON_Delete(b);
  resp_free(&gz);
  /* Streams are compressed only with gzip=1. */
  request(
      "/v1/chat/completions", OAI_AUTH "Accept-Encoding: gzip\r\nx-mock: gzip=1\r\n",
      "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"zip it\"}]}",
      &gz);
  ASSERT_STR_EQ(hdr(&gz, "content-encoding"), "gzip");
  ASSERT(gz.complete);
  gunzip(gz.body, gz.body_len, out, sizeof out);
  char joined[4096];
  int n_content;
  const char *fin;
  long long usage;
  openai_stream_text(out, joined, sizeof joined, &n_content, &fin, &usage);
  a = cJSON_Parse(plain.body);
  ASSERT_STR_EQ(joined, jstr(a, "choices.0.message.content"));
  cJSON_Delete(a);
  resp_free(&gz);
  resp_free(&plain);
  /* A gzipped request body is decoded before it is read. */
  unsigned char z[512];
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = (Bytef *)body;
  zs.avail_in = (uInt)strlen(body);
  zs.next_out = z;
  zs.avail_out = sizeof z;
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t zlen = sizeof z - zs.avail_out;
  deflateEnd(&zs);
  conn_t *c = malloc(sizeof *c);
  cli_open(c);
  char head[256];
  int hn = snprintf(head, sizeof head,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" OAI_AUTH
                    "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
                    zlen);
  send(c->fd, head, (size_t)hn, MSG_NOSIGNAL);
  send(c->fd, z, zlen, MSG_NOSIGNAL);
  cli_read(c, &gz, now_ms());
  ASSERT_EQ(gz.status, 200);
  resp_free(&gz);
  close(c->fd);
  free(c);
}

static void check_gzip(void) {
  ASSERT_STR_EQ(llmrt_mock_last_body(mock),
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"zip it\"}]}");
  ASSERT_STR_EQ(llmrt_mock_last_header(mock, "content-encoding"), "gzip");
}

static void test_gzip(void) {
  check_fn = check_gzip;
  run_mock(NULL, cli_gzip);
}

/* Options set the defaults; x-mock overrides them. */
static void cli_options(void) {
  resp_t r;
  double t0 = now_ms();
  openai(NULL, SHORT, &r);
  ASSERT_GE(now_ms() - t0, 100 + 4 * 5 - 5);
  char joined[4096];
  int n_content;
  const char *fin;
  long long usage;
  openai_stream_text(r.body, joined, sizeof joined, &n_content, &fin, &usage);
  ASSERT_EQ(n_content, 5);
  resp_free(&r);
  /* The default controls (fail_first=1 with status 503) hit the first only. */
  anthropic(NULL, SHORT, &r);
  ASSERT_EQ(r.status, 200); /* the OpenAI call above used the one failure */
  resp_free(&r);
  openai("tokens=2,ttft_ms=0,status=0", SHORT, &r);
  openai_stream_text(r.body, joined, sizeof joined, &n_content, &fin, &usage);
  ASSERT_EQ(n_content, 2);
  resp_free(&r);
}

static void cli_options_first(void) {
  resp_t r;
  openai(NULL, SHORT, &r);
  ASSERT_EQ(r.status, 503);
  resp_free(&r);
  cli_options();
}

static void test_options(void) {
  llmrt_mock_options_t o;
  llmrt_mock_options_init(&o);
  o.ttft_ms = 100;
  o.token_ms = 5;
  o.tokens = 5;
  o.controls = "status=503,fail_first=1";
  run_mock(&o, cli_options_first);
}

/* Stop while a stream is stalled and another connection idles. */
static void cli_stop(void) {
  conn_t *c = malloc(sizeof *c), *idle = malloc(sizeof *idle);
  cli_open(idle);
  cli_open(c);
  cli_post(c, "/v1/chat/completions", OAI_AUTH "x-mock: fault=stall,after=1\r\n", SHORT);
  ASSERT(line(c)); /* the status line: the exchange is under way */
  uv_async_send(&finish_async);
  /* The mock closes both. */
  while (need(c, c->len - c->pos + 1))
    c->pos = c->len;
  ASSERT(c->eof || c->err);
  ASSERT(!need(idle, 1));
  close(c->fd);
  close(idle->fd);
  free(c);
  free(idle);
}

static void client_stop_thread(void *arg) {
  cli_stop();
}

static void test_stop_with_open_exchanges(void) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(llmrt_mock_start(&loop, NULL, &mock), 0);
  port = llmrt_mock_port(mock);
  uv_async_init(&loop, &finish_async, on_finish);
  uv_timer_init(&loop, &poll_timer);
  stopped = 0;
  uv_thread_t th;
  ASSERT_EQ(uv_thread_create(&th, client_stop_thread, NULL), 0);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  uv_thread_join(&th);
  ASSERT(stopped);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_start_errors(void) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_mock_options_t o;
  llmrt_mock_options_init(&o);
  o.controls = "fault=nonsense";
  ASSERT_ERR(llmrt_mock_start(&loop, &o, &mock), LLMRT_EINVAL);
  llmrt_mock_options_init(&o);
  llmrt_mock_t *a;
  ASSERT_EQ(llmrt_mock_start(&loop, &o, &a), 0);
  o.port = llmrt_mock_port(a);
  ASSERT_ERR(llmrt_mock_start(&loop, &o, &mock), UV_EADDRINUSE);
  ASSERT_ERR(llmrt_mock_set_controls(a, "tokens=x"), LLMRT_EINVAL);
  ASSERT_EQ(llmrt_mock_set_controls(a, "tokens=3"), 0);
  stopped = 0;
  llmrt_mock_stop(a, on_stopped, NULL);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT(stopped);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* ---- Through llmrt's own HTTP client, plain and TLS (all on the loop) ------ */

typedef struct {
  llmrt_t *rt;
  int step, status;
  int http_status;
  char body[1 << 16];
  size_t len;
  char base[128];
} hc_t;

static hc_t hc;
static void hc_next(void);

static int hc_head(llmrt_http_t *h, int status, const llmrt_header_t *hd, size_t n, void *u) {
  hc.http_status = status;
  return 0;
}

static int hc_body(llmrt_http_t *h, const char *d, size_t n, void *u) {
  ASSERT(hc.len + n < sizeof hc.body);
  memcpy(hc.body + hc.len, d, n);
  hc.len += n;
  hc.body[hc.len] = '\0';
  return 0;
}

static void on_rt_closed(llmrt_t *rt, void *u) {
  hc.rt = NULL;
}

static void hc_stopped(llmrt_mock_t *m, void *u) {
  stopped = 1;
  llmrt_close(hc.rt, on_rt_closed, NULL);
}

static void hc_done(llmrt_http_t *h, int status, const char *errmsg, void *u) {
  if (status != 0) fprintf(stderr, "request failed: %s\n", errmsg ? errmsg : "?");
  ASSERT_ERR(status, 0);
  ASSERT_EQ(hc.http_status, 200);
  if (hc.step == 0) {
    ASSERT_CONTAINS(hc.body, "data: [DONE]");
    ASSERT_CONTAINS(hc.body, "\"role\":\"assistant\"");
  } else {
    cJSON *j = cJSON_Parse(hc.body);
    ASSERT(j);
    ASSERT_STR_EQ(jstr(j, "content.0.text"), "over TLS");
    cJSON_Delete(j);
  }
  hc.step++;
  hc.len = 0;
  hc_next();
}

static void hc_next(void) {
  static const llmrt_header_t oai[] = {{"Authorization", "Bearer sk-test"},
                                       {"Content-Type", "application/json"}};
  static const llmrt_header_t ant[] = {{"x-api-key", "k"},
                                       {"anthropic-version", "2023-06-01"},
                                       {"x-mock", "text=over%20TLS"},
                                       {"Content-Type", "application/json"}};
  static const char sbody[] = SHORT;
  static const char abody[] = "{\"model\":\"c\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\","
                              "\"content\":\"hi\"}]}";
  static uv_buf_t buf;
  static char url[160];
  if (hc.step == 2) {
    llmrt_pool_stats_t ps;
    ASSERT_EQ(llmrt_pool_stats(hc.rt, NULL, &ps), 0);
    ASSERT_EQ(ps.opened, 1); /* the second request reused the connection */
    ASSERT_EQ(ps.reused, 1);
    llmrt_mock_stats_t st;
    llmrt_mock_stats(mock, &st);
    ASSERT_EQ(st.connections, 1);
    ASSERT_EQ(st.requests, 2);
    llmrt_mock_stop(mock, hc_stopped, NULL);
    return;
  }
  llmrt_http_request_t req;
  llmrt_http_request_init(&req);
  req.method = "POST";
  snprintf(url, sizeof url, "%s/%s", hc.base, hc.step == 0 ? "chat/completions" : "messages");
  req.url = url;
  req.headers = hc.step == 0 ? oai : ant;
  req.n_headers = hc.step == 0 ? 2 : 4;
  buf = hc.step == 0 ? uv_buf_init((char *)sbody, sizeof sbody - 1)
                     : uv_buf_init((char *)abody, sizeof abody - 1);
  req.body = &buf;
  req.n_body = 1;
  llmrt_http_callbacks_t cbs = {hc_head, hc_body, hc_done};
  ASSERT_EQ(llmrt_http_request(hc.rt, &req, &cbs, NULL, NULL), 0);
}

static void run_http_client(int tls) {
  memset(&hc, 0, sizeof hc);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_mock_options_t o;
  llmrt_mock_options_init(&o);
  if (tls) {
    o.tls_cert = LLMRT_TEST_CERTS "/server.pem";
    o.tls_key = LLMRT_TEST_CERTS "/server.key";
  }
  ASSERT_EQ(llmrt_mock_start(&loop, &o, &mock), 0);
  snprintf(hc.base, sizeof hc.base, "%s", llmrt_mock_url(mock));
  ASSERT_EQ(strncmp(hc.base, tls ? "https://" : "http://", tls ? 8 : 7), 0);
  llmrt_options_t ro;
  llmrt_options_init(&ro);
  ro.ca_file = LLMRT_TEST_CERTS "/ca.pem";
  ASSERT_EQ(llmrt_new(&loop, &ro, &hc.rt), 0);
  stopped = 0;
  hc_next();
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT(stopped);
  ASSERT(hc.rt == NULL);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_llmrt_client_plain(void) {
  run_http_client(0);
}

static void test_llmrt_client_tls(void) {
  run_http_client(1);
}

/* Finding: the mock wrote a stream as fast as it could make it, whatever the
 * client read: 300000 tokens to a client that did not read grew it to 81 MB.
 * It now stops above a high-water mark and goes on from the drain callback
 * (the token loop and the chunk_bytes pump both). */
static size_t grown_while_stalled[2], grown_in_all[2];

/* Reads a chunked 200 response, keeping only its length and its tail (a
 * long stream would make cli_read's copy-per-chunk quadratic). Returns 1 if
 * the body ended as framed. */
static int read_long_stream(conn_t *c, size_t *total, char *tail, size_t tail_cap) {
  char *l = line(c);
  ASSERT(l);
  ASSERT(strncmp(l, "HTTP/1.1 200", 12) == 0);
  int chunked = 0;
  while ((l = line(c)) && *l)
    if (strcasecmp(l, "transfer-encoding: chunked") == 0) chunked = 1;
  ASSERT(l && chunked);
  *total = 0;
  tail[0] = '\0';
  for (;;) {
    if (!(l = line(c))) return 0;
    size_t n = strtoul(l, NULL, 16);
    if (n == 0) return line(c) != NULL;
    /* Chunks may exceed the read buffer: take them in pieces. */
    size_t left = n;
    while (left > 0) {
      size_t want = left < sizeof c->buf / 2 ? left : sizeof c->buf / 2;
      if (!need(c, want)) return 0;
      size_t keep = want < tail_cap - 1 ? want : tail_cap - 1;
      size_t have = strlen(tail);
      if (have + keep > tail_cap - 1) {
        size_t drop = have + keep - (tail_cap - 1);
        memmove(tail, tail + drop, have - drop + 1);
        have -= drop;
      }
      memcpy(tail + have, c->buf + c->pos + want - keep, keep);
      tail[have + keep] = '\0';
      c->pos += want;
      left -= want;
      *total += want;
    }
    if (!need(c, 2)) return 0;
    c->pos += 2;
  }
}
static void cli_backpressure(void) {
  static const char *const ctl[] = {"tokens=100000", "tokens=100000,chunk_bytes=4096"};
  for (int i = 0; i < 2; i++) {
    conn_t *c = malloc(sizeof *c);
    ASSERT(c);
    cli_open_rcvbuf(c, 8192);
    char h[256];
    snprintf(h, sizeof h, OAI_AUTH "x-mock: %s\r\n", ctl[i]);
    size_t base = failalloc_live_bytes();
    failalloc_reset_peak();
    cli_post(c, "/v1/chat/completions", h,
             "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
             "\"content\":\"a long one\"}]}");
    usleep(1000 * 1000); /* reads nothing for a second */
    grown_while_stalled[i] = failalloc_peak_bytes() - base;
    /* Then reads it all: the mock went on as the client read. */
    size_t total;
    char tail[64];
    ASSERT(read_long_stream(c, &total, tail, sizeof tail));
    ASSERT(total > 100000 * 50);
    ASSERT_CONTAINS(tail, "data: [DONE]\n\n");
    grown_in_all[i] = failalloc_peak_bytes() - base;
    close(c->fd);
    free(c);
  }
}

static void check_backpressure(void) {
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.tokens, 200000);
  ASSERT_EQ(st.aborted, 0);
}

static void test_backpressure(void) {
  check_fn = check_backpressure;
  run_mock(NULL, cli_backpressure);
  /* About 17 MB of events each: only the tokens (about 1.5 MB) and a
   * bounded backlog may be held. */
  for (int i = 0; i < 2; i++) {
    ASSERT_LE(grown_while_stalled[i], 4 << 20);
    ASSERT_LE(grown_in_all[i], 4 << 20);
  }
}

/* Finding: fault=reset with tokens made faster than they were sent (token_ms
 * 0, gzip, chunk_bytes) discarded what was still queued, so the client saw
 * the reset after 0 body bytes and never the `after` tokens. The mock now
 * resets only once every byte before the fault was written. */
static void cli_reset_flushed(void) {
  static const char *const ctl[] = {"tokens=10,fault=reset,after=3",
                                    "tokens=10,fault=reset,after=3,chunk_bytes=7",
                                    "tokens=90,fault=reset,after=60"};
  for (int i = 0; i < 3; i++) {
    const char *x = ctl[i];
    resp_t r;
    openai(x, SHORT, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT(!r.complete);
    ASSERT_EQ(r.err, ECONNRESET);
    ev_t evs[256];
    int n = sse_split(r.body, evs, 256);
    ASSERT_EQ(n, 1 + (i == 2 ? 60 : 3)); /* role chunk + `after` tokens */
    sse_free(evs, n);
    resp_free(&r);
  }
}

static void check_reset_flushed(void) {
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.faults, 3);
  ASSERT_EQ(st.active, 0);
}

/* The same through llmrt_call: the tokens before the reset reach on_token,
 * then the call ends with LLMRT_ECONNRESET (plain and TLS). */
typedef struct {
  llmrt_t *rt;
  char text[256];
  size_t len;
  int ntok, status, done;
} rc_t;

static rc_t rc;

static void rc_token(llmrt_call_t *call, const char *t, size_t n, void *u) {
  ASSERT(rc.len + n < sizeof rc.text);
  memcpy(rc.text + rc.len, t, n);
  rc.len += n;
  rc.ntok++;
}

static void rc_rt_closed(llmrt_t *rt, void *u) {
  rc.rt = NULL;
}

static void rc_stopped(llmrt_mock_t *m, void *u) {
  stopped = 1;
  llmrt_close(rc.rt, rc_rt_closed, NULL);
}

static void rc_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *u) {
  rc.status = status;
  rc.done = 1;
  llmrt_mock_stop(mock, rc_stopped, NULL);
}

static void run_reset_call(int tls, const char *controls) {
  memset(&rc, 0, sizeof rc);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_mock_options_t o;
  llmrt_mock_options_init(&o);
  o.controls = controls;
  if (tls) {
    o.tls_cert = LLMRT_TEST_CERTS "/server.pem";
    o.tls_key = LLMRT_TEST_CERTS "/server.key";
  }
  ASSERT_EQ(llmrt_mock_start(&loop, &o, &mock), 0);
  llmrt_options_t ro;
  llmrt_options_init(&ro);
  ro.ca_file = LLMRT_TEST_CERTS "/ca.pem";
  ASSERT_EQ(llmrt_new(&loop, &ro, &rc.rt), 0);
  setenv("LLMRT_TEST_MOCK_KEY", "sk-test", 1);
  char cfg[512], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api\":\"openai\","
           "\"api_key_env\":\"LLMRT_TEST_MOCK_KEY\"}},\"default_upstream\":\"m\"}",
           llmrt_mock_url(mock));
  ASSERT_EQ(llmrt_configure(rc.rt, cfg, err, sizeof err), 0);
  llmrt_message_t msg = {.role = "user", .content = "hello"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = 1;
  llmrt_callbacks_t cbs = {rc_token, NULL, rc_done};
  stopped = 0;
  ASSERT_EQ(llmrt_call(rc.rt, &req, &cbs, NULL, NULL), 0);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT(stopped && rc.done && rc.rt == NULL);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_reset_flushed(void) {
  check_fn = check_reset_flushed;
  run_mock(NULL, cli_reset_flushed);
  for (int tls = 0; tls < 2; tls++) {
    /* Over TLS the transport sends close_notify before the RST (every
     * close of a TLS connection does), so the client may see a clean TLS
     * close (LLMRT_ECLOSED) first; the tokens must arrive either way. */
    int reset_seen = tls ? LLMRT_ECLOSED : LLMRT_ECONNRESET;
    run_reset_call(tls, "tokens=10,fault=reset,after=3,text=one%20two%20three%20four");
    if (rc.status != reset_seen) ASSERT_ERR(rc.status, LLMRT_ECONNRESET);
    ASSERT_EQ(rc.ntok, 3);
    ASSERT_MEM_EQ(rc.text, rc.len, "one two three", 13);
    run_reset_call(tls, "tokens=10,fault=reset,after=3,gzip=1,text=a%20b%20c%20d%20e");
    if (rc.status != reset_seen) ASSERT_ERR(rc.status, LLMRT_ECONNRESET);
    ASSERT_EQ(rc.ntok, 3);
  }
}

int main(void) {
  failalloc_install();
  RUN_TEST(test_openai);
  RUN_TEST(test_anthropic);
  RUN_TEST(test_auth_and_validation);
  RUN_TEST(test_faults);
  RUN_TEST(test_stall);
  RUN_TEST(test_text_controls);
  RUN_TEST(test_gzip);
  RUN_TEST(test_options);
  RUN_TEST(test_stop_with_open_exchanges);
  RUN_TEST(test_start_errors);
  RUN_TEST(test_llmrt_client_plain);
  RUN_TEST(test_llmrt_client_tls);
  RUN_TEST(test_backpressure);
  RUN_TEST(test_reset_flushed);
  return 0;
}
