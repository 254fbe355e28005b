/* libFuzzer target: the SSE parser (lib/llm/sse.c).
 *
 * Input: byte 0 picks how the rest is cut into reads (all at once, byte by
 * byte, or pseudo-random pieces seeded by the byte); the rest is the stream.
 * The stream is parsed twice, whole and cut, and both runs must dispatch
 * exactly the same events: how a stream is split by reads must never matter.
 * Each event must respect the parser's contract (no line ends in the event
 * name or id, no CR in data, sizes within max_event_bytes, data
 * NUL-terminated in the parser's buffer). The second run reuses the parser
 * after llmrt__sse_reset, as a retried attempt does. */
#include "fuzz_common.h"
#include "llm/llm.h"

#define MAX_EVENT 65536

typedef struct {
  llmrt__buf_t log; /* every event, serialized, to compare the two runs */
  size_t n;
  int stop_at; /* the callback returns 1 at this event (0: never) */
} rec_t;

static void put(llmrt__buf_t *b, const char *tag, const void *p, size_t n) {
  char len[32];
  snprintf(len, sizeof len, "%s%zu:", tag, n);
  FUZZ_ASSERT(llmrt__buf_puts(b, len) == 0);
  FUZZ_ASSERT(llmrt__buf_append(b, p, n) == 0);
}

static int on_event(void *user, const llmrt__sse_event_t *ev) {
  rec_t *r = user;
  FUZZ_ASSERT(ev->event && ev->event_len > 0);
  FUZZ_ASSERT(ev->data);
  FUZZ_ASSERT(ev->data_len <= MAX_EVENT && ev->event_len <= MAX_EVENT);
  FUZZ_ASSERT(!memchr(ev->event, '\n', ev->event_len) && !memchr(ev->event, '\r', ev->event_len));
  FUZZ_ASSERT(!memchr(ev->data, '\r', ev->data_len));
  if (ev->id) {
    FUZZ_ASSERT(ev->id_len <= MAX_EVENT);
    FUZZ_ASSERT(!memchr(ev->id, '\n', ev->id_len) && !memchr(ev->id, '\r', ev->id_len));
    FUZZ_ASSERT(!memchr(ev->id, '\0', ev->id_len));
  } else {
    FUZZ_ASSERT(ev->id_len == 0);
  }
  FUZZ_ASSERT(ev->retry >= -1);
  /* Touch every byte, so ASan sees any read past the buffers. */
  volatile unsigned sum = 0;
  for (size_t i = 0; i < ev->data_len; i++)
    sum += (unsigned char)ev->data[i];
  (void)sum;
  put(&r->log, "e", ev->event, ev->event_len);
  put(&r->log, "d", ev->data, ev->data_len);
  if (ev->id) put(&r->log, "i", ev->id, ev->id_len);
  char retry[32];
  snprintf(retry, sizeof retry, "r%lld;", (long long)ev->retry);
  FUZZ_ASSERT(llmrt__buf_puts(&r->log, retry) == 0);
  r->n++;
  return r->stop_at && (int)r->n == r->stop_at ? 1 : 0;
}

/* Runs the parser over data cut by mode; returns the first nonzero result. */
static int run(llmrt__sse_t *p, const char *data, size_t len, unsigned mode, uint32_t seed,
               rec_t *r) {
  fuzz_rng_t rng;
  fuzz_rng_init(&rng, seed);
  size_t off = 0;
  while (off < len) {
    size_t n = fuzz_piece(&rng, mode, len - off);
    int rc = llmrt__sse_feed(p, data + off, n, on_event, r);
    if (rc) return rc;
    off += n;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  /* The cut run: byte by byte (small inputs only: it is slow), or random
   * pieces. */
  unsigned mode = size <= 4096 && data[0] % 2 ? 1 : 2;
  const char *s = (const char *)data + 1;
  size_t n = size - 1;

  llmrt__sse_t p;
  llmrt__sse_init(&p, MAX_EVENT);
  rec_t whole = {{0}, 0, 0}, cut = {{0}, 0, 0};
  llmrt__buf_init(&whole.log);
  llmrt__buf_init(&cut.log);

  int rc1 = run(&p, s, n, 0, 0, &whole);
  int pend1 = llmrt__sse_pending(&p);
  llmrt__sse_reset(&p);
  FUZZ_ASSERT(!llmrt__sse_pending(&p));
  int rc2 = run(&p, s, n, mode, data[0], &cut);
  int pend2 = llmrt__sse_pending(&p);

  /* A line or event over the limit, or too much noise without content. */
  FUZZ_ASSERT(rc1 == 0 || rc1 == LLMRT_EBODYSIZE || rc1 == LLMRT_EIDLETIMEOUT);
  FUZZ_ASSERT(rc2 == 0 || rc2 == LLMRT_EBODYSIZE || rc2 == LLMRT_EIDLETIMEOUT);
  if (rc1 == 0 && rc2 == 0) {
    /* Same events, in the same order, whatever the reads. */
    FUZZ_ASSERT(whole.n == cut.n);
    FUZZ_ASSERT(whole.log.len == cut.log.len);
    FUZZ_ASSERT(whole.log.len == 0 || memcmp(whole.log.data, cut.log.data, whole.log.len) == 0);
    FUZZ_ASSERT(pend1 == pend2);
  } else if (rc1 == 0) {
    /* A cut line is held with its field name, so the limit may trip a few
     * bytes earlier than in the whole run; what was dispatched until then is
     * the same. The whole run never fails where the cut one succeeds. */
    FUZZ_ASSERT(cut.n <= whole.n);
    FUZZ_ASSERT(cut.log.len <= whole.log.len);
    FUZZ_ASSERT(cut.log.len == 0 || memcmp(whole.log.data, cut.log.data, cut.log.len) == 0);
  } else {
    FUZZ_ASSERT(rc2 != 0);
  }

  /* A callback that stops the parse: its verdict comes back unchanged. */
  if (whole.n > 0) {
    rec_t stop = {{0}, 0, 1};
    llmrt__buf_init(&stop.log);
    llmrt__sse_reset(&p);
    int rc3 = run(&p, s, n, 0, 0, &stop);
    FUZZ_ASSERT(rc3 == 1 && stop.n == 1);
    llmrt__buf_free(&stop.log);
  }

  llmrt__buf_free(&whole.log);
  llmrt__buf_free(&cut.log);
  llmrt__sse_free(&p);
  return 0;
}
