/* Invariant 8: decoding a stream allocates nothing per event. Every
 * allocation goes through llmrt_set_allocator's hooks; after a warm-up that
 * grows the SSE buffers to the largest event, a long OpenAI and a long
 * Anthropic stream, fed in TCP-like slices, must cost zero allocations. */
#include "failalloc.h"
#include "llm_fixture.h"

typedef struct {
  llmrt__pstate_t st;
  const llmrt__provider_t *prov;
  llmrt__sink_t sink;
  size_t events, chars;
  int rc;
} ctx_t;

static int on_event(void *user, const llmrt_event_t *ev) {
  ctx_t *c = user;
  c->events++;
  if (ev->type == LLMRT_EV_TEXT) c->chars += ev->len;
  return 0;
}

static void on_meta(void *user, int key, const char *v, size_t n) {
  (void)user, (void)key, (void)v, (void)n;
}

static int on_sse(void *user, const llmrt__sse_event_t *ev) {
  ctx_t *c = user;
  return c->rc = c->prov->decode_event(&c->st, ev, &c->sink);
}

static const char *words[] = {"The",
                              " quick",
                              " brown",
                              " fox",
                              " jumps",
                              " over",
                              " the",
                              " lazy",
                              " dog",
                              ".\\n",
                              " \\\"quoted\\\"",
                              " caf\xc3\xa9",
                              " \xe4\xbd\xa0\xe5\xa5\xbd",
                              " \\ud83d\\ude00",
                              " tab\\t"};

static void openai_stream(llmrt__buf_t *b, int n) {
  const char *head =
      "data: {\"id\":\"chatcmpl-AbCdEf0123456789\",\"object\":\"chat.completion.chunk\","
      "\"created\":1726000000,\"model\":\"gpt-4o-mini-2024-07-18\","
      "\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":";
  const char *tail = ",\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";
  /* The largest event first, so the warm-up grows the buffers to it. */
  llmrt__buf_printf(b, "%s{\"role\":\"assistant\",\"content\":\"%s\"}%s", head,
                    "warm-up text long enough to be the largest event of the stream "
                    ".............................................................................."
                    "...................................................",
                    tail);
  for (int i = 0; i < n; i++) {
    if (i == n / 2) { /* a tool call in the middle */
      llmrt__buf_printf(b,
                        "%s{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
                        "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}%s",
                        head, tail);
      llmrt__buf_printf(
          b, "%s{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]}%s",
          head, tail);
    }
    llmrt__buf_printf(b, "%s{\"content\":\"%s\"}%s", head, words[i % 15], tail);
  }
  llmrt__buf_printf(b, "%s{}%s", head, tail);
  llmrt__buf_puts(
      b,
      "data: {\"id\":\"chatcmpl-AbCdEf0123456789\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
      "\"completion_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n"
      "data: [DONE]\n\n");
}

static void anthropic_stream(llmrt__buf_t *b, int n) {
  llmrt__buf_puts(
      b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
         "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\","
         "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
         "\"output_tokens\":1}}}\n\n"
         "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
         "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
  for (int i = 0; i < n; i++) {
    llmrt__buf_printf(
        b,
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
        words[i % 15]);
    if (i % 100 == 0) llmrt__buf_puts(b, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
  }
  llmrt__buf_puts(
      b, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
         "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
         "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n"
         "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

static void check(const llmrt__provider_t *prov, const llmrt__buf_t *stream, size_t warm, int n) {
  ctx_t *c = calloc(1, sizeof *c);
  llmrt__sse_t p;
  ASSERT(c != NULL);
  c->prov = prov;
  c->sink.user = c;
  c->sink.on_event = on_event;
  c->sink.on_meta = on_meta;
  llmrt__pstate_init(&c->st);
  llmrt__sse_init(&p, 0);

  /* Warm-up: the first (largest) event, cut in the middle so the partial
   * line buffer grows too. */
  failalloc_arm(0); /* counts, never fails */
  ASSERT_EQ(llmrt__sse_feed(&p, stream->data, warm / 2, on_sse, c), 0);
  ASSERT_EQ(llmrt__sse_feed(&p, stream->data + warm / 2, warm - warm / 2, on_sse, c), 0);
  ASSERT_GE(failalloc_count(), 1); /* the counter sees the parser's buffers */

  failalloc_arm(0);
  uint64_t s = 42;
  size_t off = warm;
  int rc = 0;
  while (off < stream->len && rc == 0) {
    size_t k = 1 + (size_t)(prng(&s) % 4096);
    if (k > stream->len - off) k = stream->len - off;
    rc = llmrt__sse_feed(&p, stream->data + off, k, on_sse, c);
    off += k;
  }
  ASSERT_EQ(rc, LLMRT__STREAM_DONE);
  ASSERT_GE(c->events, (size_t)n);
  failalloc_disarm();
  fprintf(stderr, "%s: %zu events, %ld allocations after warm-up\n", prov->name, c->events,
          failalloc_count());
  ASSERT_EQ(failalloc_count(), 0);
  llmrt__sse_free(&p);
  free(c);
}

static void test_zero_alloc(void) {
  enum { N = 20000 };
  llmrt__buf_t a, o;
  llmrt__buf_init(&o);
  llmrt__buf_init(&a);
  openai_stream(&o, N);
  anthropic_stream(&a, N);
  failalloc_install();
  check(&llmrt__provider_openai, &o, (size_t)(strstr(o.data, "\n\n") + 2 - o.data), N);
  /* Anthropic's first event (message_start) is its largest. */
  check(&llmrt__provider_anthropic, &a, (size_t)(strstr(a.data, "\n\n") + 2 - a.data), N);
  failalloc_uninstall();
  llmrt__buf_free(&o);
  llmrt__buf_free(&a);
}

int main(void) {
  RUN_TEST(test_zero_alloc);
  return 0;
}
