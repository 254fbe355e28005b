/* Hostile and broken inputs at the protocol layer, both providers: a caller's
 * tool_calls_json that would smuggle keys or invalid JSON into the body,
 * token counts out of range, Anthropic streams with many content blocks,
 * extra_json keys that are duplicates only once decoded, and error bodies
 * full of control characters and invalid UTF-8. */
#include <cjson/cJSON.h>

#include "llm_fixture.h"

static const llmrt__provider_t *OA, *AN;

/* ---- B: token counts are non-negative and bounded ---- */

#define TOKENS_MAX ((int64_t)1 << 53)

static void test_usage_range(void) {
  rec_t r;
  rec_init(&r);
  llmrt__sink_t sink = rec_sink(&r);
  /* Anthropic adds three counts: two huge ones must not overflow. */
  const char *body = "{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":"
                     "9000000000000000000,\"cache_read_input_tokens\":9000000000000000000,"
                     "\"cache_creation_input_tokens\":1e300,\"output_tokens\":-7}}";
  ASSERT_EQ(AN->decode_response(body, strlen(body), &sink), 0);
  ASSERT_EQ(r.in, TOKENS_MAX);
  ASSERT_EQ(r.cached, TOKENS_MAX);
  ASSERT_EQ(r.out, 0);
  rec_free(&r);

  rec_init(&r);
  sink = rec_sink(&r);
  body = "{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":-5,"
         "\"cache_read_input_tokens\":3,\"output_tokens\":2.9}}";
  ASSERT_EQ(AN->decode_response(body, strlen(body), &sink), 0);
  ASSERT_EQ(r.in, 3);
  ASSERT_EQ(r.cached, 3);
  ASSERT_EQ(r.out, 2);
  rec_free(&r);

  /* OpenAI passed negatives through. */
  const char *chunks =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":"
      "1e3,\"prompt_tokens_details\":{\"cached_tokens\":-1e18}}}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":99999999999999999999,"
      "\"completion_tokens\":\"12\"}}\n\n"
      "data: [DONE]\n\n";
  rec_init(&r);
  ASSERT_EQ(run_stream(OA, chunks, strlen(chunks), 0, &r), LLMRT__STREAM_DONE);
  ASSERT_CONTAINS(r.log.data, "USAGE in=0 out=1000 cached=0\n");
  ASSERT_CONTAINS(r.log.data, "USAGE in=9007199254740992 out=0 cached=0\n");
  rec_free(&r);

  body = "{\"choices\":[],\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":-2}}";
  rec_init(&r);
  sink = rec_sink(&r);
  ASSERT_EQ(OA->decode_response(body, strlen(body), &sink), 0);
  ASSERT_EQ(r.in, 0);
  ASSERT_EQ(r.out, 0);
  rec_free(&r);
}

/* ---- C: Anthropic tool call ordinals past the block table ---- */

typedef struct {
  llmrt__pstate_t st;
  llmrt__sink_t sink;
  uint32_t n_start, n_frag;
  uint32_t start_idx[400], frag_idx[400];
} tools_t;

static int tools_on_event(void *user, const llmrt_event_t *ev) {
  tools_t *t = user;
  if (ev->type != LLMRT_EV_TOOL_CALL) return 0;
  if (ev->id) {
    ASSERT(t->n_start < 400);
    t->start_idx[t->n_start++] = ev->index;
  } else {
    ASSERT(t->n_frag < 400);
    t->frag_idx[t->n_frag++] = ev->index;
  }
  return 0;
}

static int tools_on_sse(void *user, const llmrt__sse_event_t *ev) {
  tools_t *t = user;
  return AN->decode_event(&t->st, ev, &t->sink);
}

static void test_anthropic_many_blocks(void) {
  /* Case 0: 64 text blocks, then a tool_use at block index 64 (past the
   * table). Case 1: 300 tool_use blocks (ordinals past 255). Each tool's
   * start and argument fragments must carry the same ordinal. */
  for (int c = 0; c < 2; c++) {
    llmrt__buf_t s;
    llmrt__buf_init(&s);
    llmrt__buf_puts(&s, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
                        "{\"id\":\"m\",\"model\":\"x\",\"usage\":{\"input_tokens\":1}}}\n\n");
    int ntext = c == 0 ? 64 : 0, ntool = c == 0 ? 1 : 300;
    for (int i = 0; i < ntext; i++)
      llmrt__buf_printf(&s,
                        "data: {\"type\":\"content_block_start\",\"index\":%d,\"content_block\":"
                        "{\"type\":\"text\",\"text\":\"\"}}\n\n"
                        "data: {\"type\":\"content_block_stop\",\"index\":%d}\n\n",
                        i, i);
    for (int k = 0; k < ntool; k++) {
      int i = ntext + k;
      llmrt__buf_printf(&s,
                        "data: {\"type\":\"content_block_start\",\"index\":%d,\"content_block\":"
                        "{\"type\":\"tool_use\",\"id\":\"t%d\",\"name\":\"f\",\"input\":{}}}\n\n"
                        "data: {\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":"
                        "\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
                        "data: {\"type\":\"content_block_stop\",\"index\":%d}\n\n",
                        i, k, i, i);
    }
    llmrt__buf_puts(&s, "data: {\"type\":\"message_stop\"}\n\n");
    tools_t *t = calloc(1, sizeof *t);
    ASSERT(t != NULL);
    llmrt__pstate_init(&t->st);
    t->sink.user = t;
    t->sink.on_event = tools_on_event;
    llmrt__sse_t p;
    llmrt__sse_init(&p, 0);
    ASSERT_EQ(llmrt__sse_feed(&p, s.data, s.len, tools_on_sse, t), LLMRT__STREAM_DONE);
    ASSERT_EQ(t->n_start, (uint32_t)ntool);
    ASSERT_EQ(t->n_frag, (uint32_t)ntool);
    for (int k = 0; k < ntool; k++) {
      ASSERT_EQ(t->start_idx[k], k);
      ASSERT_EQ(t->frag_idx[k], k);
    }
    llmrt__sse_free(&p);
    free(t);
    llmrt__buf_free(&s);
  }
}

/* With an argument, runs only the test of that name. */
#define RUN_ONE(fn)                                                                                \
  do {                                                                                             \
    if (argc < 2 || strcmp(argv[1], #fn) == 0) RUN_TEST(fn);                                       \
  } while (0)

int main(int argc, char **argv) {
  OA = llmrt__provider_find("openai");
  AN = llmrt__provider_find("anthropic");
  RUN_ONE(test_usage_range);
  RUN_ONE(test_anthropic_many_blocks);
  return 0;
}
