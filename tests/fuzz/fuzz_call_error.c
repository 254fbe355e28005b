/* libFuzzer target: error bodies through a whole call (lib/chain), to check
 * that the upstream's API key never reaches the caller, whatever the
 * upstream echoes. The redaction lives in lib/chain/call.c (redact_key), so
 * this drives the public API: llmrt_call against an in-process upstream (the
 * library's own HTTP server on loopback) that answers every request with
 * the fuzzed status and body.
 *
 * Input: byte 0 picks the provider (bit 0), a streamed request (bit 1) and
 * the status (bits 2-7: 400 + ...); the rest is the error body, in which
 * every "$K" is replaced by the key (a canary) before it is sent, so the
 * fuzzer keeps planting it. The call must fail; error_message and
 * error_type must not contain the key, must be NUL-terminated and bounded.
 * With LLMRT_FUZZ_STRICT=1 in the environment, a message cut short must not
 * end in the first 8 or more bytes of the key either (see tests/fuzz/README.md,
 * "Findings"), and the message must be valid UTF-8 when the body was. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "http/server.h"

#define KEY "sk-fuzzCANARY-0123456789abcdefABCDEF"
#define KEY_LEN (sizeof KEY - 1)

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt__server_t *srv;
static int strict;

/* What the upstream answers with, for the input being run. */
static int resp_status;
static char *resp_body;
static size_t resp_len;

static void on_request(llmrt__server_t *s, llmrt__sreq_t *r, void *user) {
  llmrt_header_t h[1] = {{"Content-Type", "application/json"}};
  llmrt__sreq_respond(r, resp_status, h, 1, resp_body, resp_len);
}

static void on_log(int level, const char *msg, void *user) {
  FUZZ_ASSERT(msg);
  FUZZ_ASSERT(!strstr(msg, KEY));
}

typedef struct {
  int dones, status;
} call_state_t;

static void check_field(const char *s, size_t max) {
  if (!s) return;
  size_t n = strlen(s);
  FUZZ_ASSERT(n <= max);
  FUZZ_ASSERT(!strstr(s, KEY));
  if (strict && n >= 400) {
    /* A message cut at its length limit must not end in a piece of the key. */
    for (size_t k = 8; k < KEY_LEN && k <= n; k++) {
      if (memcmp(s + n - k, KEY, k) == 0) fprintf(stderr, "message ends in: ...%s\n", s + n - 40);
      FUZZ_ASSERT(memcmp(s + n - k, KEY, k) != 0);
    }
  }
}

static int body_valid_utf8;

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  call_state_t *st = user;
  st->dones++;
  st->status = status;
  FUZZ_ASSERT(status < 0);
  FUZZ_ASSERT(res->error_message);
  check_field(res->error_message, 4096);
  check_field(res->error_type, 3 * resp_len + 64); /* U+FFFD, [redacted] */
  if (strict && body_valid_utf8)
    FUZZ_ASSERT(fuzz_utf8_valid(res->error_message, strlen(res->error_message)));
  FUZZ_ASSERT(res->http_status == resp_status);
  FUZZ_ASSERT(!res->model || !strstr(res->model, KEY));
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *s = getenv("LLMRT_FUZZ_STRICT");
  /* The findings in README.md are fixed: their checks are on unless
   * LLMRT_FUZZ_STRICT=0. */
  strict = !(s && s[0] == '0');
  setenv("LLMRT_FUZZ_KEY", KEY, 1);
  FUZZ_ASSERT(uv_loop_init(&loop) == 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.log = on_log;
  o.log_level = LLMRT_LOG_DEBUG;
  FUZZ_ASSERT(llmrt_new(&loop, &o, &rt) == 0);

  llmrt__server_opts_t so;
  llmrt__server_opts_init(&so);
  llmrt__server_cbs_t cbs = {on_request, NULL};
  char err[256];
  FUZZ_ASSERT(llmrt__server_start(rt, &so, &cbs, NULL, &srv, err, sizeof err) == 0);
  char cfg[1024];
  unsigned port = llmrt__server_port(srv);
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{"
           "\"o\":{\"base_url\":\"http://127.0.0.1:%u/v1\",\"api\":\"openai\","
           "\"api_key_env\":\"LLMRT_FUZZ_KEY\"},"
           "\"a\":{\"base_url\":\"http://127.0.0.1:%u/v1\",\"api\":\"anthropic\","
           "\"api_key_env\":\"LLMRT_FUZZ_KEY\"}},"
           "\"default_upstream\":\"o\"}",
           port, port);
  int rc = llmrt_configure(rt, cfg, err, sizeof err);
  if (rc) fprintf(stderr, "configure: %s\n", err);
  FUZZ_ASSERT(rc == 0);
  return 0;
}

/* The body with every "$K" replaced by the key. */
static char *expand(const char *in, size_t n, size_t *out_len) {
  size_t cap = n + 1, count = 0;
  for (size_t i = 0; i + 1 < n; i++)
    if (in[i] == '$' && in[i + 1] == 'K') count++;
  cap += count * KEY_LEN;
  char *out = malloc(cap);
  FUZZ_ASSERT(out);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '$' && i + 1 < n && in[i + 1] == 'K') {
      memcpy(out + o, KEY, KEY_LEN);
      o += KEY_LEN;
      i++;
    } else {
      out[o++] = in[i];
    }
  }
  out[o] = '\0';
  *out_len = o;
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  resp_status = 400 + (data[0] >> 2) * 3; /* 400 ... 589 */
  resp_body = expand((const char *)data + 1, size - 1, &resp_len);
  body_valid_utf8 = fuzz_utf8_valid(resp_body, resp_len);

  llmrt_message_t msg = {0};
  msg.role = "user";
  msg.content = "hi";
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = (data[0] & 1) ? "a" : "o";
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = (data[0] & 2) != 0;
  llmrt_callbacks_t cbs = {NULL, NULL, on_done};
  call_state_t st = {0, 0};
  uint64_t call = 0;
  FUZZ_ASSERT(llmrt_call(rt, &req, &cbs, &st, &call) == 0);
  uint64_t start = uv_hrtime();
  while (st.dones == 0) {
    uv_run(&loop, UV_RUN_ONCE);
    FUZZ_ASSERT(uv_hrtime() - start < 10ull * 1000 * 1000 * 1000); /* no hang */
  }
  FUZZ_ASSERT(st.dones == 1);
  uv_run(&loop, UV_RUN_NOWAIT);
  free(resp_body);
  resp_body = NULL;
  return 0;
}
