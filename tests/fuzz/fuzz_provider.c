/* libFuzzer target: both providers' decoders (lib/llm/openai.c,
 * anthropic.c, provider.c, utf8.c) on hostile input.
 *
 * Input: byte 0 chooses the provider (bit 0), whole body or stream (bit 1)
 * and how a stream is cut into reads (bits 2-3); the rest is a JSON body or
 * an SSE stream. A stream goes through the real SSE parser, one
 * decode_event per SSE event, until the stream ends or fails, as lib/chain
 * drives it.
 *
 * Invariants on what reaches the sink: text deltas are non-empty, and two
 * deltas in a row never split a valid UTF-8 character between them (unless
 * the first is a held-back tail flushed at the end of a block or stream); tool call ids, names and
 * finish reasons are NUL-terminated; token counts lie in [0, 2^53]; no
 * string is longer than the input; nothing is emitted after the end of the
 * stream; decoders return only their documented codes. */
#include "fuzz_common.h"
#include "llm/provider.h"

typedef struct {
  size_t in_len;
  int stream;
  size_t n_events;
  int ended;
  /* The text delta just before this event (type 0 if the last event was
   * something else), to check that no character is split between two. */
  int last_type;
  char last[8];
  size_t last_len;
} sink_state_t;

/* A held-back tail flushed as it is (the block or stream ended, or the
 * other kind of delta came): nothing but the start of one character. */
static int is_flushed_tail(const char *s, size_t n) {
  size_t need;
  return n <= 3 && fuzz_utf8_open_tail(s, n, &need) == n;
}

static void check_str(const char *s, size_t max) {
  FUZZ_ASSERT(s);
  FUZZ_ASSERT(strlen(s) <= max);
}

static int on_event(void *user, const llmrt_event_t *ev) {
  sink_state_t *st = user;
  FUZZ_ASSERT(!st->ended);
  st->n_events++;
  size_t max = 3 * st->in_len + 8; /* an invalid byte becomes a 3-byte U+FFFD */
  switch (ev->type) {
  case LLMRT_EV_START:
    break;
  case LLMRT_EV_TEXT:
  case LLMRT_EV_THINKING:
    FUZZ_ASSERT(ev->text && ev->len > 0 && ev->len <= max);
    FUZZ_ASSERT(ev->index == 0);
    /* Two deltas in a row never split one character between them, unless
     * the first was a tail flushed at a boundary of the stream. */
    if (st->stream && st->last_type == ev->type && !is_flushed_tail(st->last, st->last_len))
      FUZZ_ASSERT(!fuzz_utf8_split_between(st->last, st->last_len, ev->text, ev->len));
    break;
  case LLMRT_EV_TOOL_CALL:
    FUZZ_ASSERT(ev->len == 0 || ev->text);
    FUZZ_ASSERT(ev->len <= max);
    if (ev->id) check_str(ev->id, max);
    if (ev->name) check_str(ev->name, max);
    break;
  case LLMRT_EV_USAGE:
    FUZZ_ASSERT(ev->input_tokens >= 0 && ev->input_tokens <= LLMRT__TOKENS_MAX);
    FUZZ_ASSERT(ev->output_tokens >= 0 && ev->output_tokens <= LLMRT__TOKENS_MAX);
    FUZZ_ASSERT(ev->cached_tokens >= 0 && ev->cached_tokens <= LLMRT__TOKENS_MAX);
    break;
  case LLMRT_EV_FINISH:
    FUZZ_ASSERT(ev->finish_reason);
    check_str(ev->finish_reason, max);
    break;
  default:
    FUZZ_ASSERT(!"unknown event type");
  }
  volatile unsigned sum = 0; /* every byte readable */
  for (size_t i = 0; i < ev->len; i++)
    sum += (unsigned char)ev->text[i];
  (void)sum;
  st->last_type = 0;
  if (ev->type == LLMRT_EV_TEXT || ev->type == LLMRT_EV_THINKING) {
    /* Only the last few bytes matter for the split check. */
    size_t k = ev->len < 8 ? ev->len : 8;
    memcpy(st->last, ev->text + ev->len - k, k);
    st->last_len = k;
    st->last_type = ev->type;
    if (ev->len <= 3) st->last_len = ev->len; /* keep is_flushed_tail exact */
  }
  return 0;
}

static void on_meta(void *user, int key, const char *val, size_t len) {
  sink_state_t *st = user;
  FUZZ_ASSERT(key >= LLMRT__META_MODEL && key <= LLMRT__META_PROBLEM);
  FUZZ_ASSERT(val || len == 0);
  /* Input-sized, but cleaned text may grow (an invalid byte becomes a
   * 3-byte U+FFFD) and a PROBLEM is a sentence of its own. */
  FUZZ_ASSERT(len <= 3 * st->in_len + 8 || len <= 256);
  volatile unsigned sum = 0;
  for (size_t i = 0; i < len; i++)
    sum += (unsigned char)val[i];
  (void)sum;
}

static int known_decode_rc(int rc) {
  return rc == 0 || rc == LLMRT__STREAM_DONE || rc == LLMRT_EBADRESPONSE || rc == LLMRT_ENOMEM ||
         rc == LLMRT_EUPSTREAM || rc == LLMRT_ERATELIMIT || rc == LLMRT_EOVERLOADED;
}

typedef struct {
  const llmrt__provider_t *p;
  llmrt__pstate_t ps;
  llmrt__sink_t sink;
  sink_state_t *st;
  int rc; /* the decoder's verdict that ended the stream */
} stream_t;

static int on_sse(void *user, const llmrt__sse_event_t *ev) {
  stream_t *s = user;
  int rc = s->p->decode_event(&s->ps, ev, &s->sink);
  FUZZ_ASSERT(known_decode_rc(rc));
  if (rc == LLMRT__STREAM_DONE) {
    s->st->ended = 1;
    /* Anything after the end is ignored, and says so again. */
    FUZZ_ASSERT(s->p->decode_event(&s->ps, ev, &s->sink) == LLMRT__STREAM_DONE);
  }
  if (rc) s->rc = rc;
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  const llmrt__provider_t *p = (data[0] & 1) ? &llmrt__provider_anthropic : &llmrt__provider_openai;
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  sink_state_t st;
  memset(&st, 0, sizeof st);
  st.in_len = len;

  if (!(data[0] & 2)) {
    int rc = p->decode_response(body, len, &(llmrt__sink_t){&st, on_event, on_meta});
    FUZZ_ASSERT(known_decode_rc(rc) && rc != LLMRT__STREAM_DONE);
    return 0;
  }

  st.stream = 1;
  stream_t *s = malloc(sizeof *s); /* pstate carries 8 KiB of scratch */
  FUZZ_ASSERT(s);
  s->p = p;
  llmrt__pstate_init(&s->ps);
  s->sink = (llmrt__sink_t){&st, on_event, on_meta};
  s->st = &st;
  s->rc = 0;
  llmrt__sse_t sse;
  llmrt__sse_init(&sse, 1u << 20);
  fuzz_rng_t rng;
  fuzz_rng_init(&rng, data[0]);
  unsigned mode = (data[0] >> 2) & 3;
  if (mode == 3) mode = 2;
  size_t off = 0;
  while (off < len) {
    size_t n = fuzz_piece(&rng, mode, len - off);
    int rc = llmrt__sse_feed(&sse, body + off, n, on_sse, s);
    if (rc) {
      FUZZ_ASSERT(rc == s->rc || rc == LLMRT_EBODYSIZE || rc == LLMRT_ENOMEM);
      break;
    }
    off += n;
  }
  llmrt__sse_free(&sse);
  free(s);
  return 0;
}
