/* The limits plugin's parts on their own: the rate-limit header parsers
 * (hostile input included), the token buckets and the wait queue's order.
 * The plugin's files are compiled into this test; they call the host table
 * only through limits__H, which this test fills with the C allocator. */
#include <stdlib.h>
#include <string.h>

#include "../../plugins/limits/bucket.c"
#include "../../plugins/limits/estimate.c"
#include "../../plugins/limits/headers.c"
#include "../../plugins/limits/queue.c"
#include "test.h"

const llmrt_host_t *limits__H;

static void test_durations(void) {
  ASSERT_EQ(limits__parse_duration_ms("6m0s"), 360000);
  ASSERT_EQ(limits__parse_duration_ms("1.5s"), 1500);
  ASSERT_EQ(limits__parse_duration_ms("20ms"), 20);
  ASSERT_EQ(limits__parse_duration_ms("0s"), 0);
  ASSERT_EQ(limits__parse_duration_ms("0"), 0);
  ASSERT_EQ(limits__parse_duration_ms("1h2m3.5s"), 3723500);
  ASSERT_EQ(limits__parse_duration_ms("2m30.005s"), 150005);
  ASSERT_EQ(limits__parse_duration_ms("1500us"), 2);     /* rounded up */
  ASSERT_EQ(limits__parse_duration_ms("1\xc2\xb5s"), 1); /* µs */
  ASSERT_EQ(limits__parse_duration_ms("7ns"), 1);
  ASSERT_EQ(limits__parse_duration_ms(".5s"), 500);
  /* Hostile or malformed: absent. */
  static const char *const bad[] = {"",
                                    "s",
                                    "5",
                                    "-1s",
                                    "1.s",
                                    "1x",
                                    "1s ms",
                                    "1e9s",
                                    "NaN",
                                    "1..5s",
                                    "5ss",
                                    "ms",
                                    "99999999999999999999h",
                                    "9000000h",
                                    "1s;2s",
                                    NULL};
  for (int i = 0; bad[i]; i++)
    if (limits__parse_duration_ms(bad[i]) != -1) TEST_FAIL_("\"%s\" was accepted", bad[i]);
  char big[200];
  memset(big, '1', sizeof big - 2);
  big[sizeof big - 2] = 's';
  big[sizeof big - 1] = '\0';
  ASSERT_EQ(limits__parse_duration_ms(big), -1);
}

static void test_rfc3339(void) {
  ASSERT_EQ(limits__parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  ASSERT_EQ(limits__parse_rfc3339_ms("2024-06-12T15:04:05Z"), 1718204645000LL);
  ASSERT_EQ(limits__parse_rfc3339_ms("2024-06-12T15:04:05.25Z"), 1718204645250LL);
  ASSERT_EQ(limits__parse_rfc3339_ms("2024-06-12T17:04:05+02:00"), 1718204645000LL);
  ASSERT_EQ(limits__parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1709164800000LL);
  static const char *const bad[] = {"2024-06-12",
                                    "2024-06-12T15:04:05",
                                    "2024-13-01T00:00:00Z",
                                    "2024-06-32T00:00:00Z",
                                    "2024-06-12T25:00:00Z",
                                    "2024-06-12T15:04:05+2:00",
                                    "2024-06-12T15:04:05.Z",
                                    "2024-06-12T15:04:05Zjunk",
                                    "x024-06-12T15:04:05Z",
                                    NULL};
  for (int i = 0; bad[i]; i++)
    if (limits__parse_rfc3339_ms(bad[i]) != -1) TEST_FAIL_("\"%s\" was accepted", bad[i]);
  ASSERT_EQ(limits__parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000LL);
  ASSERT_EQ(limits__parse_http_date_ms("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
  ASSERT_EQ(limits__parse_http_date_ms("Sunday, 06-Nov-94 08:49:37 GMT"), -1);
}

static void test_headers(void) {
  lim_rl_info_t in;
  llmrt_header_t oa[] = {
      {"x-ratelimit-limit-requests", "500"},     {"X-RateLimit-Remaining-Requests", "499"},
      {"x-ratelimit-reset-requests", "120ms"},   {"x-ratelimit-limit-tokens", "30000"},
      {"x-ratelimit-remaining-tokens", "29000"}, {"x-ratelimit-reset-tokens", "2s"}};
  limits__headers_parse(oa, 6, 0, &in);
  ASSERT_EQ(in.req_limit, 500);
  ASSERT_EQ(in.req_remaining, 499);
  ASSERT_EQ(in.req_reset_ms, 120);
  ASSERT_EQ(in.tok_limit, 30000);
  ASSERT_EQ(in.tok_remaining, 29000);
  ASSERT_EQ(in.tok_reset_ms, 2000);
  ASSERT_EQ(in.retry_after_ms, -1);

  int64_t now = 1718204645000LL; /* 2024-06-12T15:04:05Z */
  llmrt_header_t an[] = {{"anthropic-ratelimit-requests-limit", "50"},
                         {"anthropic-ratelimit-requests-remaining", "0"},
                         {"anthropic-ratelimit-requests-reset", "2024-06-12T15:04:07Z"},
                         {"anthropic-ratelimit-tokens-reset", "2024-06-12T15:04:00Z"},
                         {"retry-after", "3"}};
  limits__headers_parse(an, 5, now, &in);
  ASSERT_EQ(in.req_limit, 50);
  ASSERT_EQ(in.req_remaining, 0);
  ASSERT_EQ(in.req_reset_ms, 2000);
  ASSERT_EQ(in.tok_reset_ms, 0); /* in the past: now */
  ASSERT_EQ(in.retry_after_ms, 3000);

  llmrt_header_t ra[] = {{"Retry-After", "Wed, 12 Jun 2024 15:04:15 GMT"},
                         {"retry-after-ms", "250"}};
  limits__headers_parse(ra, 1, now, &in);
  ASSERT_EQ(in.retry_after_ms, 10000);
  limits__headers_parse(ra, 2, now, &in);
  ASSERT_EQ(in.retry_after_ms, 250); /* the precise one wins */

  /* Hostile values count as absent; huge ones are bounded. */
  llmrt_header_t bad[] = {{"x-ratelimit-limit-requests", "-5"},
                          {"x-ratelimit-remaining-requests", "12abc"},
                          {"x-ratelimit-limit-tokens", "99999999999999999999999"},
                          {"x-ratelimit-remaining-tokens", ""},
                          {"x-ratelimit-reset-tokens", "forever"},
                          {"retry-after", "99999999999"}};
  limits__headers_parse(bad, 6, now, &in);
  ASSERT_EQ(in.req_limit, -1);
  ASSERT_EQ(in.req_remaining, -1);
  ASSERT_EQ(in.tok_limit, -1);
  ASSERT_EQ(in.tok_remaining, -1);
  ASSERT_EQ(in.tok_reset_ms, -1);
  ASSERT_EQ(in.retry_after_ms, 366LL * 86400 * 1000);
}

static void test_bucket(void) {
  lim_bucket_t b;
  limits__bucket_init(&b, 10, 0.01, 1000); /* 10 a second, at most 10 */
  ASSERT_EQ(limits__bucket_wait(&b, 10), 0);
  limits__bucket_take(&b, 10);
  ASSERT_EQ(limits__bucket_wait(&b, 1), 100);
  limits__bucket_refill(&b, 1050);
  ASSERT_EQ(limits__bucket_wait(&b, 1), 50);
  limits__bucket_take(&b, 5); /* a debt: below zero */
  ASSERT_EQ(limits__bucket_wait(&b, 1), 550);
  limits__bucket_give(&b, 100);
  ASSERT(b.level == 10); /* never above the capacity */
  limits__bucket_refill(&b, 999999);
  ASSERT(b.level == 10);
  lim_bucket_t z;
  limits__bucket_init(&z, 1, 0, 0);
  limits__bucket_take(&z, 1);
  ASSERT(limits__bucket_wait(&z, 1) == UINT64_MAX);
}

static void test_queue_order(void) {
  lim_queue_t q = {0};
  lim_call_t c[6];
  static const int32_t prio[] = {0, 5, 0, 9, 5, -1};
  for (int i = 0; i < 6; i++) {
    memset(&c[i], 0, sizeof c[i]);
    c[i].prio = prio[i];
    c[i].seq = (uint64_t)i;
    limits__queue_push(&q, &c[i]);
  }
  ASSERT_EQ(q.len, 6);
  static const int want[] = {3, 1, 4, 0, 2, 5};
  int k = 0;
  for (lim_call_t *p = q.phead; p; p = p->pnext)
    ASSERT_EQ(p->seq, want[k++]);
  k = 0;
  for (lim_call_t *p = q.ahead; p; p = p->anext)
    ASSERT_EQ(p->seq, k++);
  limits__queue_remove(&q, &c[3]);
  limits__queue_remove(&q, &c[5]);
  limits__queue_remove(&q, &c[0]);
  ASSERT_EQ(q.len, 3);
  ASSERT(q.phead == &c[1] && q.ptail == &c[2] && q.ahead == &c[1] && q.atail == &c[4]);
}

static void test_estimate(void) {
  llmrt_message_t m[2] = {{.role = "system", .content = "You are terse."},
                          {.role = "user", .content = "hi"}};
  llmrt_request_t req;
  memset(&req, 0, sizeof req);
  req.messages = m;
  req.n_messages = 2;
  /* 3 for the reply, 4 a message, bytes / 4 rounded up. */
  ASSERT_EQ(limits__estimate_prompt_tokens(&req), 3 + 4 + 4 + 4 + 1);
}

int main(void) {
  RUN_TEST(test_durations);
  RUN_TEST(test_rfc3339);
  RUN_TEST(test_headers);
  RUN_TEST(test_bucket);
  RUN_TEST(test_queue_order);
  RUN_TEST(test_estimate);
  return 0;
}
