/* Bounds on what a hostile upstream can cost (invariants 3, 5, 9): parse
 * memory and loop time of whole JSON bodies at the size limit, large stream
 * events, decode problems that say what and where, error bodies cut to a
 * prefix, U+FFFD for invalid UTF-8 across every kind of boundary, and
 * streams that carry nothing but keep-alives. */
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "llm_fixture.h"

static const llmrt__provider_t *OA, *AN;

#define LIMIT (8u << 20) /* the default max_json_body_bytes */
#define READ 16384       /* bytes per on_body call (the inflate window) */

/* Time bounds hold for optimized builds; sanitizers slow everything, and
 * valgrind (scripts/valgrind.sh sets LLMRT_TEST_SLOW) far more. */
#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 20
#else
#define SLOW_BUILD 1
#endif
#define SLOW (getenv("LLMRT_TEST_SLOW") ? 200 : SLOW_BUILD)

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Peak resident set of this process, in KiB (VmHWM). */
static long hwm_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld", &v) == 1) break;
  fclose(f);
  return v;
}

/* Bodies of LIMIT bytes, shaped to cost the most. */
enum { B_TEXT, B_ESCAPED, B_NUMBERS_SKIPPED, B_NUMBERS_KEPT, B_EMPTY_CHOICES, B_N };
static const char *body_name[B_N] = {"one long text", "escaped text", "numbers (skipped key)",
                                     "numbers (kept key)", "empty choices"};

static char *make_body(int kind, size_t *len) {
  static const char *parts[B_N][3] = {
      {"{\"choices\":[{\"message\":{\"content\":\"", "abcdefgh \xe4\xbd\xa0", "\"}}]}"},
      {"{\"choices\":[{\"message\":{\"content\":\"", "\\\"", "\"}}]}"},
      {"{\"choices\":[{\"message\":{\"content\":\"hi\"}}],\"logprobs\":[", "1,", "1]}"},
      {"{\"choices\":[{\"message\":{\"content\":[", "1,", "1]}}]}"},
      {"{\"choices\":[", "{},", "{}]}"},
  };
  const char *head = parts[kind][0], *unit = parts[kind][1], *tail = parts[kind][2];
  size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), o = hl;
  char *b = malloc(LIMIT + 64);
  ASSERT(b != NULL);
  memcpy(b, head, hl);
  while (o + ul + tl <= LIMIT) {
    memcpy(b + o, unit, ul);
    o += ul;
  }
  memcpy(b + o, tail, tl);
  *len = o + tl;
  return b;
}

/* A sink that only counts, as a user who prints the text and keeps nothing. */
static size_t count_bytes;
static int count_event(void *user, const llmrt_event_t *ev) {
  (void)user;
  if (ev->type == LLMRT_EV_TEXT) count_bytes += ev->len;
  return 0;
}

typedef struct {
  long rss_kib;       /* peak RSS growth while scanning and decoding */
  double max_feed_ms; /* the longest single feed (one on_body call) */
  double decode_ms;   /* the final decode */
  double total_ms;    /* all feeds */
  int rc;
} cost_t;

/* As attempt.c does: feed the body READ bytes at a time, then decode. Runs
 * in a forked child so the peak RSS is this body's alone. */
static void measure(const llmrt__provider_t *p, int kind, cost_t *out) {
  size_t len;
  char *body = make_body(kind, &len);
  ASSERT_LE(len, LIMIT);
  int fd[2];
  ASSERT_EQ(pipe(fd), 0);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    cost_t c;
    memset(&c, 0, sizeof c); /* padding too: it goes through the pipe */
    llmrt__pstate_t *st = malloc(sizeof *st);
    ASSERT(st != NULL);
    llmrt__sink_t sink = {NULL, count_event, NULL};
    llmrt__pstate_init(st);
    memset(body + len, 0, 64);
    long before = hwm_kib();
    llmrt__body_begin(st, p);
    for (size_t off = 0; off < len && !c.rc;) {
      size_t n = len - off < READ ? len - off : READ;
      double t0 = now_ms();
      c.rc = llmrt__body_feed(st, body, off + n, &sink);
      double t = now_ms() - t0;
      c.total_ms += t;
      if (t > c.max_feed_ms) c.max_feed_ms = t;
      off += n;
    }
    double t0 = now_ms();
    if (!c.rc) c.rc = llmrt__body_decode(st, body, len, &sink);
    c.decode_ms = now_ms() - t0;
    llmrt__body_end(st);
    free(st);
    c.rss_kib = hwm_kib() - before;
    if (write(fd[1], &c, sizeof c) != sizeof c) _exit(2);
    _exit(0);
  }
  close(fd[1]);
  ASSERT_EQ(read(fd[0], out, sizeof *out), sizeof *out);
  close(fd[0]);
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(body);
}

static void test_body_at_limit(void) {
  /* Before: tokens for every value (20 bytes each, one per 2 bytes of
   * "1,1,1") made 10x the body on top of it, 678 MB for 60 MiB, and one
   * decode blocked the loop for a second. Now: members the decoder does not
   * read are not stored, the rest is under a budget, and the scan runs as
   * the bytes arrive. */
  for (int k = 0; k < B_N; k++) {
    cost_t c;
    measure(OA, k, &c);
    fprintf(stderr,
            "  %-22s rc=%-6d parse memory %6ld KiB (%.2fx body), longest feed %.2f ms (all %.1f "
            "ms), decode %.2f ms\n",
            body_name[k], c.rc, c.rss_kib, (double)c.rss_kib * 1024 / LIMIT, c.max_feed_ms,
            c.total_ms, c.decode_ms);
    /* Parse memory beyond the body (buffered by the caller) within 0.5x of
     * it, so the peak is at most 1.5x the body at the limit. */
    ASSERT_LE(c.rss_kib, (long)(LIMIT / 2 / 1024));
    /* Loop time per read: the mean is what the scan costs; the longest
     * includes preemption on a shared machine, so its bound is loose. */
    ASSERT(c.total_ms / (LIMIT / READ) < 1 * SLOW);
    ASSERT(c.max_feed_ms < 50 * SLOW);
    ASSERT(c.decode_ms < 50 * SLOW);
    if (k == B_EMPTY_CHOICES || k == B_NUMBERS_KEPT)
      ASSERT_ERR(c.rc, LLMRT_EBADRESPONSE); /* past the budget: a shape error */
    else
      ASSERT_EQ(c.rc, 0);
  }
}

static void test_one_shot_decode(void) {
  /* decode_response (no incremental feed) is bounded the same way. */
  for (int k = 0; k < B_N; k++) {
    size_t len;
    char *body = make_body(k, &len);
    rec_t r;
    rec_init(&r);
    llmrt__sink_t sink = rec_sink(&r);
    llmrt__sink_t counting = {NULL, count_event, NULL};
    double t0 = now_ms();
    int rc = OA->decode_response(body, len, &counting);
    double t = now_ms() - t0;
    if (k == B_TEXT) rc = OA->decode_response(body, len, &sink); /* again, to check the text */
    fprintf(stderr, "  %-22s one-shot decode of %u bytes: %.1f ms (rc %d)\n", body_name[k], LIMIT,
            t, rc);
    ASSERT(t < 200 * SLOW); /* one pass, no token array for skipped values */
    if (k == B_TEXT) {
      ASSERT_EQ(rc, 0);
      ASSERT_GE(r.n_text, 2); /* in slices, not one 8 MiB copy */
      ASSERT(valid_utf8((const unsigned char *)r.text.data, r.text.len));
    }
    rec_free(&r);
    free(body);
  }
}

static void test_big_stream_event(void) {
  /* A 1 MiB stream event that is one big array: bounded memory and time. */
  size_t n = 1u << 20;
  char *d = malloc(n + 16);
  size_t o = (size_t)sprintf(d, "{\"x\":[");
  while (o < n - 4) {
    d[o++] = '1';
    d[o++] = ',';
  }
  d[o - 1] = ']';
  d[o++] = '}';
  llmrt__pstate_t *st = malloc(sizeof *st);
  llmrt__pstate_init(st);
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  llmrt__sse_event_t ev = {"message", 7, d, o, NULL, 0, -1, 0};
  double t0 = now_ms();
  int rc = OA->decode_event(st, &ev, &sink);
  double t = now_ms() - t0;
  fprintf(stderr, "  1 MiB array event: %.2f ms, rc %d: %s\n", t, rc, r.err_msg);
  ASSERT_ERR(rc, LLMRT_EBADRESPONSE);
  ASSERT_CONTAINS(r.err_msg, "unexpected shape: more JSON values");
  ASSERT(t < 20 * SLOW);
  rec_free(&r);
  free(st);
  free(d);
}

/* ---- What and where ---- */

static void problem_case(const llmrt__provider_t *p, const char *body, int want, const char *msg) {
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_ERR(p->decode_response(body, strlen(body), &sink), want);
  ASSERT_STR_EQ(r.err_msg, msg);
  rec_free(&r);
}

static void test_problems_named(void) {
  problem_case(OA, "{\"choices\":{}}", LLMRT_EBADRESPONSE,
               "a JSON response of unexpected shape: choices is not an array");
  problem_case(OA, "{\"object\":\"list\"}", LLMRT_EBADRESPONSE,
               "a JSON response of unexpected shape: no choices");
  problem_case(AN, "{\"content\":\"hi\"}", LLMRT_EBADRESPONSE,
               "a JSON response of unexpected shape: content is not an array");
  problem_case(OA, "[1]", LLMRT_EBADRESPONSE,
               "a JSON response of unexpected shape: not a JSON object");
  problem_case(OA, "{\"choices\":[1 2]}", LLMRT_EBADRESPONSE,
               "a malformed JSON response: at byte 14 of 17: expected ',' or ']'");
  problem_case(OA, "{\"choices\":[\"ab", LLMRT_EBADRESPONSE,
               "a malformed JSON response: at byte 12 of 15: unterminated string");
  problem_case(AN, "{\"a\":\"x\\q\"}", LLMRT_EBADRESPONSE,
               "a malformed JSON response: at byte 7 of 11: invalid escape in a string");
  problem_case(OA, "", LLMRT_EBADRESPONSE,
               "a malformed JSON response: at byte 0 of 0: no JSON value");
  /* Streams say it too. */
  llmrt__pstate_t *st = malloc(sizeof *st);
  llmrt__pstate_init(st);
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  const char *d = "{\"type\":\"content_block_delta\",\"delta\":{}}";
  llmrt__sse_event_t ev = {"content_block_delta", 19, d, strlen(d), NULL, 0, -1, 0};
  ASSERT_ERR(AN->decode_event(st, &ev, &sink), LLMRT_EBADRESPONSE);
  ASSERT_STR_EQ(r.err_msg,
                "a stream event of unexpected shape: content_block_delta without an index");
  d = "{\"choices\":[tru]}";
  llmrt__sse_event_t ev2 = {"message", 7, d, strlen(d), NULL, 0, -1, 0};
  ASSERT_ERR(OA->decode_event(st, &ev2, &sink), LLMRT_EBADRESPONSE);
  ASSERT_STR_EQ(r.err_msg, "a malformed stream event: at byte 12 of 17: invalid literal");
  rec_free(&r);
  free(st);
}

/* ---- Error bodies cut to a prefix ---- */

static void test_error_prefix(void) {
  /* attempt.c keeps the first 64 KiB of an error body. An "error" object
   * that comes first must still give its type and message. */
  size_t keep = 64 * 1024, big = 1u << 20;
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  llmrt__buf_puts(
      &b, "{\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"},\"debug\":[");
  while (b.len < big)
    llmrt__buf_puts(&b, "\"padding padding padding\",");
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_ERR(AN->decode_error(429, b.data, keep, &sink), LLMRT_ERATELIMIT);
  ASSERT_STR_EQ(r.err_type, "rate_limit_error");
  ASSERT_STR_EQ(r.err_msg, "slow down");
  rec_free(&r);

  /* A message longer than the prefix: what was kept of it. */
  llmrt__buf_reset(&b);
  llmrt__buf_puts(&b, "{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"");
  while (b.len < big)
    llmrt__buf_puts(&b, "too long \\u00e9 ");
  rec_init(&r);
  sink = rec_sink(&r);
  ASSERT_ERR(OA->decode_error(400, b.data, keep, &sink), LLMRT_EUPSTREAM);
  ASSERT_STR_EQ(r.err_type, "invalid_request_error");
  ASSERT(strncmp(r.err_msg, "too long \xc3\xa9 too long", 19) == 0);
  rec_free(&r);

  /* The error object after the prefix: a clear message, not JSON shreds. */
  llmrt__buf_reset(&b);
  llmrt__buf_puts(&b, "{\"debug\":[");
  while (b.len < big)
    llmrt__buf_puts(&b, "\"padding padding padding\",");
  llmrt__buf_puts(&b, "1],\"error\":{\"type\":\"x\",\"message\":\"late\"}}");
  rec_init(&r);
  sink = rec_sink(&r);
  ASSERT_ERR(OA->decode_error(500, b.data, keep, &sink), LLMRT_EUPSTREAM);
  ASSERT_STR_EQ(
      r.err_msg,
      "HTTP status 500 with a JSON body that has no error message in the 65536 bytes kept");
  rec_free(&r);
  llmrt__buf_free(&b);
}

/* ---- U+FFFD across boundaries ---- */

/* An independent reading of RFC 3629: the length of the valid sequence at
 * s (n left), 0 if none. */
static size_t ref_seq(const unsigned char *s, size_t n) {
  static const struct {
    unsigned char lo, hi, lo2, hi2, len;
  } tab[] = {{0x00, 0x7F, 0, 0, 1},       {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3},
             {0xE1, 0xEC, 0x80, 0xBF, 3}, {0xED, 0xED, 0x80, 0x9F, 3}, {0xEE, 0xEF, 0x80, 0xBF, 3},
             {0xF0, 0xF0, 0x90, 0xBF, 4}, {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4}};
  for (size_t t = 0; t < sizeof tab / sizeof tab[0]; t++) {
    if (s[0] < tab[t].lo || s[0] > tab[t].hi) continue;
    size_t k = tab[t].len;
    if (k == 1) return 1;
    if (n < k || s[1] < tab[t].lo2 || s[1] > tab[t].hi2) return 0;
    for (size_t i = 2; i < k; i++)
      if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
  }
  return 0;
}

static void ref_clean(const unsigned char *s, size_t n, llmrt__buf_t *out) {
  for (size_t i = 0; i < n;) {
    size_t k = ref_seq(s + i, n - i);
    if (k) {
      llmrt__buf_append(out, s + i, k);
      i += k;
    } else {
      llmrt__buf_append(out, "\xEF\xBF\xBD", 3);
      i++;
    }
  }
}

/* Hostile text bytes: valid characters of each length, and the classic
 * traps (overlong forms, surrogates, > U+10FFFF, stray continuations, lone
 * leads, 0xFE/0xFF). */
static size_t hostile(uint64_t *seed, unsigned char *out, size_t max) {
  static const char *bits[] = {"a",        "\xc3\xa9",     "\xe4\xbd\xa0", "\xf0\x9f\x98\x80",
                               "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                               "\x80",     "\xbf",         "\xe4\xbd",     "\xf0\x9f\x98",
                               "\xfe",     "\xff",         "\xc2",         " "};
  size_t o = 0;
  while (o + 4 < max) {
    const char *b = bits[prng(seed) % 16];
    memcpy(out + o, b, strlen(b));
    o += strlen(b);
  }
  return o;
}

static void test_fffd_stream(void) {
  uint64_t seed = 99;
  for (int round = 0; round < 200; round++) {
    unsigned char text[600];
    size_t n = hostile(&seed, text, 1 + prng(&seed) % sizeof text);
    /* Cut into deltas at random byte positions (inside characters too),
     * each an OpenAI chunk; some pieces written as \u escapes. */
    llmrt__buf_t s;
    llmrt__buf_init(&s);
    for (size_t off = 0; off < n;) {
      size_t k = 1 + prng(&seed) % 7;
      if (k > n - off) k = n - off;
      llmrt__buf_puts(&s, "data: {\"choices\":[{\"delta\":{\"content\":\"");
      for (size_t i = off; i < off + k; i++) {
        if (text[i] == ' ' && prng(&seed) % 2)
          llmrt__buf_puts(&s, "\\u0020");
        else
          llmrt__buf_append(&s, text + i, 1);
      }
      llmrt__buf_puts(&s, "\"}}]}\n\n");
      off += k;
    }
    llmrt__buf_puts(&s, "data: [DONE]\n\n");
    rec_t r;
    rec_init(&r); /* strict: every delta is valid UTF-8 */
    ASSERT_EQ(run_stream(OA, s.data, s.len, 2 + prng(&seed) % 50, &r), LLMRT__STREAM_DONE);
    llmrt__buf_t want;
    llmrt__buf_init(&want);
    ref_clean(text, n, &want);
    ASSERT_MEM_EQ(r.text.len ? r.text.data : "", r.text.len, want.len ? want.data : "", want.len);
    llmrt__buf_free(&want);
    llmrt__buf_free(&s);
    rec_free(&r);
  }
}

static void test_fffd_whole(void) {
  /* A whole response's text, long enough to go out in slices, with
   * escapes, surrogate pairs and invalid bytes on the slice seams. */
  uint64_t seed = 5;
  llmrt__buf_t body, raw;
  llmrt__buf_init(&body);
  llmrt__buf_init(&raw);
  unsigned char chunk[64];
  while (raw.len < 70000) {
    size_t n = hostile(&seed, chunk, sizeof chunk);
    llmrt__buf_append(&raw, chunk, n);
  }
  llmrt__buf_puts(&body, "{\"content\":[{\"type\":\"text\",\"text\":\"");
  size_t i = 0;
  while (i < raw.len) {
    if (prng(&seed) % 50 == 0) {
      llmrt__buf_puts(&body, "\\ud83d\\ude00\\n"); /* a pair, as escapes */
      i++;
      continue;
    }
    llmrt__buf_append(&body, raw.data + i, 1);
    i++;
  }
  llmrt__buf_puts(&body, "\"}],\"stop_reason\":\"end_turn\"}");
  /* The expected text: the body's string decoded, then cleaned. */
  llmrt__buf_t dec, want;
  llmrt__buf_init(&dec);
  llmrt__buf_init(&want);
  const char *p = strstr(body.data, "\"text\":\"") + 8, *e = body.data + body.len - 29;
  while (p < e) {
    if (p[0] == '\\' && p[1] == 'u') {
      llmrt__buf_puts(&dec, "\xf0\x9f\x98\x80\n");
      p += 14;
    } else {
      llmrt__buf_append(&dec, p++, 1);
    }
  }
  ref_clean((const unsigned char *)dec.data, dec.len, &want);
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  ASSERT_EQ(AN->decode_response(body.data, body.len, &sink), 0);
  ASSERT_GE(r.n_text, 2);
  ASSERT_MEM_EQ(r.text.data, r.text.len, want.data, want.len);
  rec_free(&r);
  llmrt__buf_free(&dec);
  llmrt__buf_free(&want);
  llmrt__buf_free(&body);
  llmrt__buf_free(&raw);
}

/* ---- Streams of nothing ---- */

static int feed_all(const llmrt__provider_t *p, const char *unit, size_t max_bytes, rec_t *r,
                    size_t *fed) {
  llmrt__sse_t sse;
  stream_t *s = malloc(sizeof *s);
  s->prov = p;
  llmrt__pstate_init(&s->st);
  s->sink = rec_sink(r);
  llmrt__sse_init(&sse, 0);
  int rc = 0;
  size_t n = strlen(unit);
  *fed = 0;
  while (!rc && *fed < max_bytes) {
    rc = llmrt__sse_feed(&sse, unit, n, stream_on_sse, s);
    *fed += n;
  }
  llmrt__sse_free(&sse);
  free(s);
  return rc;
}

static void test_endless_noise(void) {
  static const struct {
    const llmrt__provider_t **p;
    const char *unit;
  } cases[] = {
      {&OA, ": ping\n\n"},                                                 /* comments */
      {&OA, "\n"},                                                         /* blank lines */
      {&OA, "event: x\n\n"},                                               /* blocks without data */
      {&OA, "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n"},   /* empty deltas */
      {&AN, "event: ping\ndata: {\"type\": \"ping\"}\n\n"},                /* Anthropic pings */
      {&AN, ": keep-alive\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n"}, /* both, alternating */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rec_t r;
    rec_init(&r);
    size_t fed;
    int rc = feed_all(*cases[i].p, cases[i].unit, 1u << 20, &r, &fed);
    if (rc != LLMRT_EIDLETIMEOUT) TEST_FAIL_("case %zu: rc %d after %zu bytes", i, rc, fed);
    fprintf(stderr, "  case %zu: ended after %zu bytes\n", i, fed);
    ASSERT_LE(fed, 2 * LLMRT__SSE_DEFAULT_IDLE);
    rec_free(&r);
  }
  /* Content resets the count: pings between real deltas never end a stream. */
  rec_t r;
  rec_init(&r);
  size_t fed;
  ASSERT_EQ(feed_all(AN,
                     ": keep-alive\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n"
                     "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                     "\"text_delta\",\"text\":\"x\"}}\n\n",
                     1u << 20, &r, &fed),
            0);
  ASSERT_GE(r.text.len, 1000);
  rec_free(&r);
}

int main(void) {
  OA = llmrt__provider_find("openai");
  AN = llmrt__provider_find("anthropic");
  RUN_TEST(test_body_at_limit);
  RUN_TEST(test_one_shot_decode);
  RUN_TEST(test_big_stream_event);
  RUN_TEST(test_problems_named);
  RUN_TEST(test_error_prefix);
  RUN_TEST(test_fffd_stream);
  RUN_TEST(test_fffd_whole);
  RUN_TEST(test_endless_noise);
  return 0;
}
