/* libFuzzer target: the error-body decoder shared by both providers
 * (llmrt__decode_error in lib/llm/provider.c), on hostile bodies.
 *
 * Input: bytes 0-1 pick the HTTP status (400-599, big endian, modulo); the
 * rest is the body. The decoder must report exactly one error message; a
 * message taken from a non-JSON body (or a JSON body without a usable
 * message) must be at most 200 bytes of valid UTF-8 without control
 * characters (C0, DEL, C1) and without spaces at either end, since it goes
 * into logs and terminals; the code must be the status's (or
 * LLMRT_EOVERLOADED when the body's type says so). What the redaction of API
 * keys adds on top is checked by fuzz_call_error, through lib/chain. */
#include "fuzz_common.h"
#include "llm/provider.h"

typedef struct {
  size_t in_len;
  int n_msg, n_type;
  char msg[4096];
  size_t msg_len;
} meta_t;

static void on_meta(void *user, int key, const char *val, size_t len) {
  meta_t *m = user;
  FUZZ_ASSERT(val || len == 0);
  volatile unsigned sum = 0;
  for (size_t i = 0; i < len; i++)
    sum += (unsigned char)val[i];
  (void)sum;
  if (key == LLMRT__META_ERROR_MESSAGE) {
    m->n_msg++;
    FUZZ_ASSERT(len <= 3 * m->in_len || len <= 200); /* U+FFFD for an invalid byte */
    m->msg_len = len < sizeof m->msg ? len : sizeof m->msg;
    memcpy(m->msg, val, m->msg_len);
  } else if (key == LLMRT__META_ERROR_TYPE) {
    m->n_type++;
    FUZZ_ASSERT(len <= 3 * m->in_len); /* U+FFFD for an invalid byte */
  } else {
    FUZZ_ASSERT(!"decode_error reports only error type and message");
  }
}

static int on_event(void *user, const llmrt_event_t *ev) {
  FUZZ_ASSERT(!"decode_error emits no events");
  return 0;
}

static int status_error(int s) {
  if (s == 401 || s == 403) return LLMRT_EAUTH;
  if (s == 429) return LLMRT_ERATELIMIT;
  if (s == 503 || s == 529) return LLMRT_EOVERLOADED;
  return LLMRT_EUPSTREAM;
}

/* What the fallback path promises for text that goes to a terminal. */
static void check_clean(const char *s, size_t n) {
  FUZZ_ASSERT(n <= 1024); /* 200 for a non-JSON body; a partial JSON message is cleaned to 1 KiB */
  FUZZ_ASSERT(fuzz_utf8_valid(s, n));
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    FUZZ_ASSERT(c >= 0x20 && c != 0x7F);
    if (c == 0xC2 && i + 1 < n) FUZZ_ASSERT((unsigned char)s[i + 1] >= 0xA0);
  }
  if (n) FUZZ_ASSERT(s[0] != ' ' && s[n - 1] != ' ');
}

static int json_message(const char *body, size_t len) {
  /* Does the body hold a message the JSON path would take? Decided with the
   * scanner itself: an "error" object/string with a string message, or a
   * top-level string "message"/"detail". */
  llmrt__jtok_t toks[64];
  llmrt__json_t j;
  int have = 0;
  if (llmrt__json_parse(&j, body, len, toks, 64) == 0 &&
      llmrt__json_type(&j, 0) == LLMRT__JSON_OBJECT) {
    int e = llmrt__json_get(&j, 0, "error");
    int t = llmrt__json_type(&j, e);
    if (t == LLMRT__JSON_OBJECT)
      have = llmrt__json_type(&j, llmrt__json_get(&j, e, "message")) == LLMRT__JSON_STRING;
    else if (t == LLMRT__JSON_STRING)
      have = 1;
    else
      have = llmrt__json_type(&j, llmrt__json_get(&j, 0, "message")) == LLMRT__JSON_STRING ||
             llmrt__json_type(&j, llmrt__json_get(&j, 0, "detail")) == LLMRT__JSON_STRING;
  }
  llmrt__json_free(&j);
  return have;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > (1u << 20)) return 0;
  int status = 400 + ((data[0] << 8) | data[1]) % 200;
  const char *body = (const char *)data + 2;
  size_t len = size - 2;
  const llmrt__provider_t *ps[2] = {&llmrt__provider_openai, &llmrt__provider_anthropic};
  for (int i = 0; i < 2; i++) {
    meta_t *m = calloc(1, sizeof *m);
    FUZZ_ASSERT(m);
    m->in_len = len;
    llmrt__sink_t sink = {m, on_event, on_meta};
    int rc = ps[i]->decode_error(status, len ? body : NULL, len, &sink);
    FUZZ_ASSERT(rc == status_error(status) || rc == LLMRT_EOVERLOADED);
    FUZZ_ASSERT(m->n_msg == 1);
    FUZZ_ASSERT(m->n_type <= 1);
    if (!json_message(body, len)) check_clean(m->msg, m->msg_len);
    free(m);
  }
  return 0;
}
