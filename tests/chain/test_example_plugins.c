/* The example plugins of examples/plugins, built as .so files.
 *
 * Part 1 drives their hooks directly through a host table of our own, to
 * try the redact plugin on every way of splitting a text into deltas.
 * Part 2 runs real calls through them against the mock upstream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "llmrt.h"
#include "llmrt/plugin.h"
#include "llmrt_mock.h"
#include "test.h"

#ifndef LLMRT_TEST_PLUGIN_DIR
#define LLMRT_TEST_PLUGIN_DIR LLMRT_BINARY_DIR "/test-plugins"
#endif
#define PDIR LLMRT_TEST_PLUGIN_DIR

/* ---- Part 1: a host table of our own ---- */

struct llmrt_ctx_s {
  void *call_state;
  void *plugin_state;
  llmrt_request_t req;
  llmrt_message_t msgs[8];
  char out[4096]; /* text that went outward (returned or emitted) */
  size_t out_len;
  int set_requests;
};

static double metric_total;

static void *f_call_state(llmrt_ctx_t *x) {
  return x->call_state;
}
static void *f_plugin_state(llmrt_ctx_t *x) {
  return x->plugin_state;
}
static const llmrt_request_t *f_request(llmrt_ctx_t *x) {
  return &x->req;
}
static int f_set_request(llmrt_ctx_t *x, const llmrt_request_t *req) {
  /* Strings are the plugin's or ours and outlive the test: a shallow copy
   * of the array is enough here. */
  ASSERT(req->n_messages <= 8);
  memmove(x->msgs, req->messages, req->n_messages * sizeof *req->messages);
  x->req = *req;
  x->req.messages = x->msgs;
  x->set_requests++;
  return 0;
}
static const char *f_upstream(llmrt_ctx_t *x) {
  (void)x;
  return "mock";
}
static int f_emit(llmrt_ctx_t *x, const llmrt_event_t *ev) {
  ASSERT_EQ(ev->type, LLMRT_EV_TEXT);
  ASSERT(x->out_len + ev->len < sizeof x->out);
  memcpy(x->out + x->out_len, ev->text, ev->len);
  x->out_len += ev->len;
  return 0;
}
static int f_metric(llmrt_plugin_rt_t *prt, int kind, const char *name, const char *help,
                    llmrt_metric_t **out) {
  (void)prt, (void)kind, (void)name, (void)help;
  *out = (llmrt_metric_t *)&metric_total;
  return 0;
}
static void f_metric_add(llmrt_metric_t *m, const char *labels, double v) {
  (void)labels;
  *(double *)m += v;
}

static const llmrt_host_t fake_host = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_host_t),
    .call_state = f_call_state,
    .plugin_state = f_plugin_state,
    .request = f_request,
    .set_request = f_set_request,
    .upstream = f_upstream,
    .emit = f_emit,
    .metric = f_metric,
    .metric_add = f_metric_add,
};

static const llmrt_plugin_t *open_plugin(uv_lib_t *lib, const char *file) {
  if (uv_dlopen(file, lib)) TEST_FAIL_("%s", uv_dlerror(lib));
  void *sym = NULL;
  ASSERT_EQ(uv_dlsym(lib, "llmrt_plugin_entry", &sym), 0);
  llmrt_plugin_entry_fn entry;
  memcpy(&entry, &sym, sizeof entry);
  const llmrt_plugin_t *d = entry(&fake_host);
  ASSERT(d != NULL);
  ASSERT_EQ(d->abi_version, LLMRT_PLUGIN_ABI_VERSION);
  return d;
}

/* Feeds text to the redact plugin cut at the given points, then a FINISH,
 * and returns what went outward. */
static void run_redact(const llmrt_plugin_t *d, void *pstate, const char *text, const size_t *cuts,
                       size_t n_cuts, llmrt_ctx_t *x) {
  memset(x, 0, sizeof *x);
  x->plugin_state = pstate;
  x->call_state = calloc(1, d->call_state_size);
  ASSERT(x->call_state != NULL);
  ASSERT_EQ(d->on_request(x), LLMRT_CONTINUE);
  size_t len = strlen(text), at = 0;
  for (size_t k = 0; k <= n_cuts; k++) {
    size_t end = k < n_cuts ? cuts[k] : len;
    llmrt_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMRT_EV_TEXT;
    ev.text = text + at;
    ev.len = end - at;
    int r = d->on_event(x, &ev);
    ASSERT(r == LLMRT_CONTINUE || r == LLMRT_STOP);
    if (r == LLMRT_CONTINUE) f_emit(x, &ev);
    at = end;
  }
  llmrt_event_t fin;
  memset(&fin, 0, sizeof fin);
  fin.type = LLMRT_EV_FINISH;
  fin.finish_reason = "stop";
  ASSERT_EQ(d->on_event(x, &fin), LLMRT_CONTINUE);
  d->on_call_end(x, 0);
  free(x->call_state);
  x->out[x->out_len] = '\0';
}

static void test_redact_every_split(void) {
  uv_lib_t lib;
  const llmrt_plugin_t *d = open_plugin(&lib, PDIR "/redact.so");
  const char *cfg = "{\"name\":\"redact\",\"literal\":[\"Project Falcon\",\"hunter2\",\"Pro\"],"
                    "\"digits\":6,\"replacement\":\"[X]\"}";
  void *ps = NULL;
  char err[256] = "";
  ASSERT_ERR(d->init(NULL, cfg, strlen(cfg), &ps, err, sizeof err), 0);
  const char *text = "Card 4111111111111111, code Project Falcon: hunter2! hunter 12345 Prow "
                     "Project Fal 1234567 Project Fal";
  /* The longest literal wins; at the end, the held "Project Fal" is no
   * "Project Falcon" but does hold a "Pro". */
  const char *want = "Card [X], code [X]: [X]! hunter 12345 [X]w [X]ject Fal [X] [X]ject Fal";
  size_t len = strlen(text);
  llmrt_ctx_t *x = malloc(sizeof *x);
  metric_total = 0;
  run_redact(d, ps, text, NULL, 0, x);
  ASSERT_STR_EQ(x->out, want);
  ASSERT_EQ(metric_total, 7);
  for (size_t a = 1; a < len; a++) {
    size_t cuts[1] = {a};
    run_redact(d, ps, text, cuts, 1, x);
    ASSERT_STR_EQ(x->out, want);
    for (size_t b = a + 1; b < len; b += 3) {
      size_t cuts2[2] = {a, b};
      run_redact(d, ps, text, cuts2, 2, x);
      ASSERT_STR_EQ(x->out, want);
    }
  }
  /* One byte per delta. */
  size_t *every = malloc(len * sizeof *every);
  for (size_t i = 0; i < len - 1; i++)
    every[i] = i + 1;
  run_redact(d, ps, text, every, len - 1, x);
  ASSERT_STR_EQ(x->out, want);
  free(every);
  free(x);
  d->fini(ps);

  /* Bad configurations are refused with a reason. */
  const char *bad[] = {"{\"name\":\"redact\"}", "{\"literal\":\"\"}", "{\"digits\":1}",
                       "{\"literal\":\"a\",\"replacement\":3}", "{\"literal\":[\"a\",7]}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    ps = NULL;
    ASSERT_ERR(d->init(NULL, bad[i], strlen(bad[i]), &ps, err, sizeof err), LLMRT_EINVAL);
    ASSERT(err[0] != '\0');
  }
  uv_dlclose(&lib);
}

static void test_system_prompt_hooks(void) {
  uv_lib_t lib;
  const llmrt_plugin_t *d = open_plugin(&lib, PDIR "/system_prompt.so");
  void *ps = NULL;
  char err[256] = "";
  const char *cfg = "{\"name\":\"system_prompt\",\"text\":\"Be brief.\"}";
  ASSERT_ERR(d->init(NULL, cfg, strlen(cfg), &ps, err, sizeof err), 0);
  llmrt_ctx_t *x = calloc(1, sizeof *x);
  x->plugin_state = ps;
  llmrt_message_t user = {0, "user", "hi", 0, NULL, NULL, NULL, NULL, 0};
  llmrt_request_init(&x->req);
  x->req.model = "m";
  x->req.messages = &user;
  x->req.n_messages = 1;
  ASSERT_EQ(d->on_request(x), LLMRT_CONTINUE);
  ASSERT_EQ(x->set_requests, 1);
  ASSERT_EQ(x->req.n_messages, 2);
  ASSERT_STR_EQ(x->req.messages[0].role, "system");
  ASSERT_MEM_EQ(x->req.messages[0].content, x->req.messages[0].content_len, "Be brief.", 9);
  ASSERT_STR_EQ(x->req.messages[1].content, "hi");
  /* Again (a retry): already in place, nothing changes. */
  ASSERT_EQ(d->on_request(x), LLMRT_CONTINUE);
  ASSERT_EQ(x->set_requests, 1);
  free(x);
  d->fini(ps);
  ps = NULL;
  ASSERT_ERR(d->init(NULL, "{\"text\":\"\"}", 11, &ps, err, sizeof err), LLMRT_EINVAL);
  ASSERT_CONTAINS(err, "\"text\" must be a non-empty string");
  uv_dlclose(&lib);
}

/* ---- Part 2: calls through the plugins against the mock upstream ---- */

typedef struct {
  int done, status;
  char tokens[4096]; /* on_token deltas, concatenated */
  size_t tokens_len;
  int n_tokens;
  char text[4096]; /* res->text */
  size_t text_len;
  char errmsg[512];
} run_t;

static uv_loop_t loop;
static llmrt_mock_t *mock;
static llmrt_t *rt;

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  (void)call;
  run_t *r = user;
  ASSERT(r->tokens_len + len < sizeof r->tokens);
  memcpy(r->tokens + r->tokens_len, text, len);
  r->tokens_len += len;
  r->n_tokens++;
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  (void)call;
  run_t *r = user;
  r->done++;
  r->status = status;
  ASSERT(res->text_len < sizeof r->text);
  if (res->text_len) memcpy(r->text, res->text, res->text_len);
  r->text_len = res->text_len;
  snprintf(r->errmsg, sizeof r->errmsg, "%s", res->error_message ? res->error_message : "");
}

/* A runtime on a fresh loop with the mock as upstreams "oa" (OpenAI) and
 * "an" (Anthropic), and the plugins in `plugins` (a JSON array body). */
static void start(const char *plugins) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  ASSERT_EQ(llmrt_new(&loop, NULL, &rt), 0);
  setenv("TEST_MOCK_KEY", "sk-test-example-plugins", 1);
  char cfg[2048], err[512];
  const char *url = llmrt_mock_url(mock);
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"oa\":{\"base_url\":\"%s\",\"api_key_env\":\"TEST_MOCK_KEY\"},"
           "\"an\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":\"TEST_MOCK_KEY\"}},"
           "\"default_upstream\":\"oa\",\"plugins\":[%s]}",
           url, url, plugins);
  if (llmrt_configure(rt, cfg, err, sizeof err)) TEST_FAIL_("configure: %s", err);
}

static void stop(void) {
  llmrt_mock_stop(mock, NULL, NULL);
  llmrt_close(rt, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void call(run_t *r, const char *upstream, int stream, const char *controls) {
  memset(r, 0, sizeof *r);
  ASSERT_EQ(llmrt_mock_set_controls(mock, controls), 0);
  llmrt_message_t msg = {0, "user", "Tell me a story.", 0, NULL, NULL, NULL, NULL, 0};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = upstream;
  req.model = "mock-model";
  req.messages = &msg;
  req.n_messages = 1;
  req.max_tokens = 200;
  req.stream = stream;
  llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  ASSERT_EQ(llmrt_call(rt, &req, &cbs, r, NULL), 0);
  while (!r->done)
    ASSERT(uv_run(&loop, UV_RUN_ONCE) || r->done);
  if (r->status) TEST_FAIL_("call failed: %s: %s", llmrt_err_name(r->status), r->errmsg);
}

static void test_calls_system_prompt(void) {
  start("{\"name\":\"" PDIR "/system_prompt.so\",\"text\":\"Answer in haiku.\"}");
  const char *ups[] = {"oa", "an"};
  for (int u = 0; u < 2; u++) {
    for (int stream = 0; stream < 2; stream++) {
      run_t r;
      call(&r, ups[u], stream, NULL);
      /* The upstream got the plugin's system message, before the user's. */
      const char *body = llmrt_mock_last_body(mock);
      const char *sys = strstr(body, "Answer in haiku."), *usr = strstr(body, "Tell me a story.");
      if (!sys || !usr || sys > usr) TEST_FAIL_("%s stream=%d: body %s", ups[u], stream, body);
      if (u == 0) ASSERT_CONTAINS(body, "\"role\":\"system\"");
      ASSERT(r.tokens_len > 0);
    }
  }
  stop();
}

static void test_calls_redact(void) {
  start("{\"name\":\"" PDIR "/redact.so\",\"literal\":[\"Project Falcon\",\"hunter2\"],"
        "\"digits\":6}");
  /* The mock streams this a word at a time, so "Project Falcon" comes as
   * " Project" and " Falcon". Commas are percent-encoded in controls. */
  const char *ctl = "text=Card 4111111111111111 for Project Falcon%2C code hunter2. Call 555 12.";
  const char *want = "Card [redacted] for [redacted], code [redacted]. Call 555 12.";
  const char *ups[] = {"oa", "an"};
  for (int u = 0; u < 2; u++) {
    for (int stream = 0; stream < 2; stream++) {
      run_t r;
      call(&r, ups[u], stream, ctl);
      fprintf(stderr, "   %s stream=%d: %d deltas: %.*s\n", ups[u], stream, r.n_tokens,
              (int)r.tokens_len, r.tokens);
      ASSERT_MEM_EQ(r.tokens, r.tokens_len, want, strlen(want));
      ASSERT_MEM_EQ(r.text, r.text_len, want, strlen(want));
      if (stream) ASSERT_GE(r.n_tokens, 5);
    }
  }
  char *m = NULL;
  ASSERT_EQ(llmrt_metrics_text(rt, &m, NULL), 0);
  ASSERT_CONTAINS(m, "llmrt_redact_matches_total 12\n");
  llmrt_free(m);
  stop();
}

static void test_calls_count_tokens(void) {
  /* All three examples in one chain. */
  start("{\"name\":\"" PDIR "/count_tokens.so\"},"
        "{\"name\":\"" PDIR "/system_prompt.so\",\"text\":\"Be brief.\"},"
        "{\"name\":\"" PDIR "/redact.so\",\"digits\":4}");
  run_t r;
  call(&r, "oa", 1, "tokens=10");
  call(&r, "an", 0, "tokens=10");
  char *m = NULL;
  ASSERT_EQ(llmrt_metrics_text(rt, &m, NULL), 0);
  fprintf(stderr, "%s", m);
  ASSERT_CONTAINS(m, "# TYPE llmrt_example_tokens_total counter\n");
  ASSERT_CONTAINS(m,
                  "llmrt_example_tokens_total{upstream=\"oa\",gen_ai_token_type=\"output\"} 10\n");
  ASSERT_CONTAINS(m,
                  "llmrt_example_tokens_total{upstream=\"an\",gen_ai_token_type=\"output\"} 10\n");
  ASSERT_CONTAINS(m, "llmrt_example_tokens_total{upstream=\"oa\",gen_ai_token_type=\"input\"} ");
  llmrt_free(m);
  stop();
}

int main(void) {
  RUN_TEST(test_redact_every_split);
  RUN_TEST(test_system_prompt_hooks);
  RUN_TEST(test_calls_system_prompt);
  RUN_TEST(test_calls_redact);
  RUN_TEST(test_calls_count_tokens);
  return 0;
}
