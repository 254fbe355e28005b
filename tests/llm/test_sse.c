/* SSE parser: every WHATWG rule we rely on, limits, and the same stream fed
 * whole, split at every byte, one byte at a time and in random slices. */
#include "llm_fixture.h"

/* Feeds a string literal (its length from sizeof, never counted by hand). */
#define FEED(p, lit, col) llmrt__sse_feed((p), (lit), sizeof(lit) - 1, col_cb, (col))

typedef struct {
  llmrt__buf_t out; /* "event|id|retry|data" per event */
  int n;
  int stop_at; /* return 7 from the n-th event (1-based) when set */
} col_t;

static int col_cb(void *user, const llmrt__sse_event_t *ev) {
  col_t *c = user;
  c->n++;
  llmrt__buf_printf(&c->out, "%.*s|%s%.*s|%lld|%.*s\n", (int)ev->event_len, ev->event,
                    ev->id ? "" : "(none)", (int)ev->id_len, ev->id ? ev->id : "",
                    (long long)ev->retry, (int)ev->data_len, ev->data);
  return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

/* Parses the pieces in order with a fresh parser; returns the joined events. */
static int parse_pieces(const char *const *pieces, size_t n, size_t max, col_t *c) {
  llmrt__sse_t p;
  int rc = 0;
  llmrt__sse_init(&p, max);
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = llmrt__sse_feed(&p, pieces[i], strlen(pieces[i]), col_cb, c);
  llmrt__sse_free(&p);
  return rc;
}

static void expect(const char *input, const char *want) {
  col_t c = {{0}, 0, 0};
  const char *pieces[1] = {input};
  ASSERT_EQ(parse_pieces(pieces, 1, 0, &c), 0);
  ASSERT_STR_EQ(c.out.data ? c.out.data : "", want);
  llmrt__buf_free(&c.out);
}

static void test_basic_fields(void) {
  expect("data: hello\n\n", "message|(none)|-1|hello\n");
  /* Multi-line data joined with LF; an empty data line adds an empty line. */
  expect("data: a\ndata: b\ndata:\n\n", "message|(none)|-1|a\nb\n\n");
  /* Event type applies to one event only. */
  expect("event: add\ndata: x\n\ndata: y\n\n", "add|(none)|-1|x\nmessage|(none)|-1|y\n");
  /* Comments, and a stream of only comments and blank lines. */
  expect(": keep-alive\ndata: x\n: more\n\n", "message|(none)|-1|x\n");
  expect(":\n\n: hi\n\n\n\n", "");
  /* Exactly one space after the colon is dropped. */
  expect("data:  two\n\ndata:none\n\n", "message|(none)|-1| two\nmessage|(none)|-1|none\n");
  /* A colon in the value is kept. */
  expect("data: {\"a\":1}\n\n", "message|(none)|-1|{\"a\":1}\n");
  /* Field without colon: the whole line is the name, the value is empty. */
  expect("data\n\n", "message|(none)|-1|\n");
  expect("event\ndata: x\n\n", "message|(none)|-1|x\n");
  /* Unknown fields and case matter. */
  expect("foo: bar\nData: no\ndata: x\n\n", "message|(none)|-1|x\n");
  /* No data field: nothing is dispatched, and the event type is forgotten. */
  expect("event: ping\n\ndata: x\n\n", "message|(none)|-1|x\n");
  expect("id: 5\nretry: 10\n\n", "");
}

static void test_id_and_retry(void) {
  /* The id persists across events; an empty id is an empty (set) id. */
  expect("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
         "message|1|-1|a\nmessage|1|-1|b\nmessage||-1|c\n");
  /* An id holding NUL is ignored. */
  {
    static const char in[] = "id: 7\ndata: a\n\nid: x\0y\ndata: b\n\n";
    col_t c = {{0}, 0, 0};
    llmrt__sse_t p;
    llmrt__sse_init(&p, 0);
    ASSERT_EQ(llmrt__sse_feed(&p, in, sizeof in - 1, col_cb, &c), 0);
    ASSERT_STR_EQ(c.out.data, "message|7|-1|a\nmessage|7|-1|b\n");
    llmrt__sse_free(&p);
    llmrt__buf_free(&c.out);
  }
  /* retry takes digits only, and persists. */
  expect("retry: 3000\ndata: a\n\nretry: 12a\ndata: b\n\nretry:\ndata: c\n\n",
         "message|(none)|3000|a\nmessage|(none)|3000|b\nmessage|(none)|3000|c\n");
}

static void test_line_endings(void) {
  expect("data: a\r\ndata: b\r\n\r\n", "message|(none)|-1|a\nb\n");
  expect("data: a\rdata: b\r\r", "message|(none)|-1|a\nb\n");
  expect("data: a\r\ndata: b\rdata: c\n\r\n", "message|(none)|-1|a\nb\nc\n");
  /* A CR ending one read and an LF starting the next are ONE line end. */
  {
    const char *pieces[] = {"data: a\r", "\ndata: b\r", "\n\r", "\n"};
    col_t c = {{0}, 0, 0};
    ASSERT_EQ(parse_pieces(pieces, 4, 0, &c), 0);
    ASSERT_STR_EQ(c.out.data, "message|(none)|-1|a\nb\n");
    llmrt__buf_free(&c.out);
  }
  /* ... but a CR followed by something else is a line end on its own. */
  {
    const char *pieces[] = {"data: a\r", "data: b\r", "", "\r"};
    col_t c = {{0}, 0, 0};
    ASSERT_EQ(parse_pieces(pieces, 4, 0, &c), 0);
    ASSERT_STR_EQ(c.out.data, "message|(none)|-1|a\nb\n");
    llmrt__buf_free(&c.out);
  }
  /* CR then a second CR in the next read: a blank line, dispatch. */
  {
    const char *pieces[] = {"data: a\r", "\r", "data: b\n\n"};
    col_t c = {{0}, 0, 0};
    ASSERT_EQ(parse_pieces(pieces, 3, 0, &c), 0);
    ASSERT_STR_EQ(c.out.data, "message|(none)|-1|a\nmessage|(none)|-1|b\n");
    llmrt__buf_free(&c.out);
  }
}

static void test_bom(void) {
  expect("\xEF\xBB\xBF"
         "data: x\n\n",
         "message|(none)|-1|x\n");
  const char *pieces[] = {"\xEF", "\xBB",
                          "\xBF"
                          "da",
                          "ta: x\n\n"};
  col_t c = {{0}, 0, 0};
  ASSERT_EQ(parse_pieces(pieces, 4, 0, &c), 0);
  ASSERT_STR_EQ(c.out.data, "message|(none)|-1|x\n");
  llmrt__buf_free(&c.out);
  /* Only at the very start: later it is part of a (then unknown) field name. */
  expect("data: a\n\n\xEF\xBB\xBF"
         "data: b\n\n",
         "message|(none)|-1|a\n");
}

static void test_limit(void) {
  char big[200];
  memset(big, 'x', sizeof big);
  /* One line over the limit, whole and split across reads. */
  {
    llmrt__sse_t p;
    col_t c = {{0}, 0, 0};
    llmrt__sse_init(&p, 64);
    ASSERT_EQ(FEED(&p, "data: ", &c), 0);
    ASSERT_ERR(llmrt__sse_feed(&p, big, 100, col_cb, &c), LLMRT_EBODYSIZE);
    llmrt__sse_free(&p);
    llmrt__sse_init(&p, 64);
    char line[128];
    int n = snprintf(line, sizeof line, "data: %.100s\n\n", big);
    ASSERT_ERR(llmrt__sse_feed(&p, line, (size_t)n, col_cb, &c), LLMRT_EBODYSIZE);
    llmrt__sse_free(&p);
    ASSERT_EQ(c.n, 0);
  }
  /* Many small lines add up. */
  {
    llmrt__sse_t p;
    col_t c = {{0}, 0, 0};
    int rc = 0;
    llmrt__sse_init(&p, 64);
    for (int i = 0; i < 10 && rc == 0; i++)
      rc = FEED(&p, "data: 0123456789\n", &c);
    ASSERT_ERR(rc, LLMRT_EBODYSIZE);
    ASSERT_EQ(c.n, 0);
    llmrt__sse_free(&p);
  }
  /* Events under the limit pass, however many there are. */
  {
    llmrt__sse_t p;
    col_t c = {{0}, 0, 0};
    llmrt__sse_init(&p, 64);
    for (int i = 0; i < 100; i++)
      ASSERT_EQ(FEED(&p, "data: 0123456789012345678901234567890123456789\n\n", &c), 0);
    ASSERT_EQ(c.n, 100);
    llmrt__sse_free(&p);
    llmrt__buf_free(&c.out);
  }
}

static void test_pending_and_stop(void) {
  llmrt__sse_t p;
  col_t c = {{0}, 0, 0};
  llmrt__sse_init(&p, 0);
  ASSERT(!llmrt__sse_pending(&p));
  ASSERT_EQ(FEED(&p, "data: x\n", &c), 0);
  ASSERT(llmrt__sse_pending(&p));
  ASSERT_EQ(FEED(&p, "\n", &c), 0);
  ASSERT(!llmrt__sse_pending(&p));
  ASSERT_EQ(FEED(&p, "data: par", &c), 0);
  ASSERT(llmrt__sse_pending(&p)); /* a truncated stream */
  llmrt__sse_free(&p);
  llmrt__buf_free(&c.out);

  /* Reset forgets a half-read event, the id and a pending CR. */
  col_t z = {{0}, 0, 0};
  llmrt__sse_init(&p, 0);
  const char *old = "id: 9\nretry: 5\n\ndata: old\nda";
  ASSERT_EQ(llmrt__sse_feed(&p, old, strlen(old), col_cb, &z), 0);
  ASSERT_EQ(FEED(&p, "\r", &z), 0);
  llmrt__sse_reset(&p);
  ASSERT(!llmrt__sse_pending(&p));
  ASSERT_EQ(FEED(&p, "\ndata: new\n\n", &z), 0);
  ASSERT_STR_EQ(z.out.data, "message|(none)|-1|new\n");
  llmrt__sse_free(&p);
  llmrt__buf_free(&z.out);

  /* A nonzero return from the callback stops the feed and is returned. */
  col_t s = {{0}, 0, 2};
  llmrt__sse_init(&p, 0);
  const char in[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
  ASSERT_EQ(llmrt__sse_feed(&p, in, sizeof in - 1, col_cb, &s), 7);
  ASSERT_EQ(s.n, 2);
  llmrt__sse_free(&p);
  llmrt__buf_free(&s.out);
}

/* A stream exercising everything; its events must not depend on slicing. */
static const char torture[] = ": hello\r\n"
                              "event: one\r\nid: 1\r\ndata: first\r\ndata:  second\r\n\r\n"
                              "data: cr only\rdata: more\r\r"
                              "retry: 1500\ndata\n\n"
                              "data: {\"k\":\"v: w\"}\n\n"
                              "event: empty\n\n"
                              "data: \xe4\xbd\xa0\xe5\xa5\xbd\r\n\r\n"
                              "id\r\ndata: last\n\n"
                              "data: unterminated";

static void slices(const char *in, size_t len, const size_t *cuts, size_t ncuts, col_t *c) {
  llmrt__sse_t p;
  llmrt__sse_init(&p, 0);
  size_t off = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    ASSERT_EQ(llmrt__sse_feed(&p, in + off, end - off, col_cb, c), 0);
    off = end;
  }
  ASSERT(llmrt__sse_pending(&p));
  llmrt__sse_free(&p);
}

static void test_any_split(void) {
  size_t len = sizeof torture - 1;
  col_t want = {{0}, 0, 0};
  slices(torture, len, NULL, 0, &want);
  ASSERT_EQ(want.n, 6); /* "event: empty" has no data: not dispatched */
  ASSERT_STR_EQ(want.out.data, "one|1|-1|first\n second\n"
                               "message|1|-1|cr only\nmore\n"
                               "message|1|1500|\n"
                               "message|1|1500|{\"k\":\"v: w\"}\n"
                               "message|1|1500|\xe4\xbd\xa0\xe5\xa5\xbd\n"
                               "message||1500|last\n");
  /* Every two-piece split. */
  for (size_t i = 0; i <= len; i++) {
    col_t c = {{0}, 0, 0};
    slices(torture, len, &i, 1, &c);
    ASSERT_STR_EQ(c.out.data, want.out.data);
    llmrt__buf_free(&c.out);
  }
  /* Every three-piece split with a short middle (catches CR|LF at both ends). */
  for (size_t i = 0; i + 3 <= len; i++) {
    for (size_t k = 1; k <= 3; k++) {
      size_t cuts[2] = {i, i + k};
      col_t c = {{0}, 0, 0};
      slices(torture, len, cuts, 2, &c);
      ASSERT_STR_EQ(c.out.data, want.out.data);
      llmrt__buf_free(&c.out);
    }
  }
  /* One byte at a time, then random slices. */
  size_t *cuts = malloc(len * sizeof *cuts);
  ASSERT(cuts != NULL);
  for (size_t i = 0; i < len; i++)
    cuts[i] = i + 1;
  {
    col_t c = {{0}, 0, 0};
    slices(torture, len, cuts, len - 1, &c);
    ASSERT_STR_EQ(c.out.data, want.out.data);
    llmrt__buf_free(&c.out);
  }
  for (uint64_t seed = 1; seed <= 500; seed++) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL;
    size_t n = 0, off = 0;
    while (1) {
      off += 1 + (size_t)(prng(&s) % 17);
      if (off >= len) break;
      cuts[n++] = off;
    }
    col_t c = {{0}, 0, 0};
    slices(torture, len, cuts, n, &c);
    ASSERT_STR_EQ(c.out.data, want.out.data);
    llmrt__buf_free(&c.out);
  }
  free(cuts);
  llmrt__buf_free(&want.out);
}

int main(void) {
  RUN_TEST(test_basic_fields);
  RUN_TEST(test_id_and_retry);
  RUN_TEST(test_line_endings);
  RUN_TEST(test_bom);
  RUN_TEST(test_limit);
  RUN_TEST(test_pending_and_stop);
  RUN_TEST(test_any_split);
  return 0;
}
