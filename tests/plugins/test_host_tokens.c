/* The host table's token counters as a plugin sees them: count_tokens by
 * model and by encoding name, with the exact flag; count_request_tokens with
 * the request's model and with an explicit encoding; bad arguments; and the
 * struct_size a plugin checks before using them. */
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt/tokens.h"
#include "test.h"

static const llmrt_host_t *H;
static int ran;

static int probe_request(llmrt_ctx_t *ctx) {
  llmrt_plugin_rt_t *prt = H->plugin_rt(ctx);
  ASSERT(H->struct_size >= offsetof(llmrt_host_t, count_request_tokens) + sizeof(void *));
  llmrt_tokenizer_t *o2, *cl, *est;
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_O200K, &o2), 0);
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_CL100K, &cl), 0);
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_ESTIMATE, &est), 0);
  const char *t = "Tokenizers split text into pieces: 東京は日本の首都です。";
  size_t n = strlen(t);
  int exact = -1;
  ASSERT_EQ(H->count_tokens(prt, "gpt-4o-mini", t, n, &exact), llmrt_tokens_count(o2, t, n));
  ASSERT_EQ(exact, 1);
  ASSERT_EQ(H->count_tokens(prt, "gpt-4", t, n, &exact), llmrt_tokens_count(cl, t, n));
  ASSERT_EQ(exact, 1);
  ASSERT_EQ(H->count_tokens(prt, "claude-sonnet-4-5", t, n, &exact), llmrt_tokens_count(est, t, n));
  ASSERT_EQ(exact, 0);
  ASSERT_EQ(H->count_tokens(prt, "cl100k_base", t, n, NULL), llmrt_tokens_count(cl, t, n));
  ASSERT_EQ(H->count_tokens(prt, NULL, t, n, &exact), llmrt_tokens_count(est, t, n));
  ASSERT_EQ(H->count_tokens(prt, "gpt-4o", "", 0, NULL), 0);
  ASSERT_ERR((int)H->count_tokens(prt, "gpt-4o", NULL, 3, &exact), LLMRT_EINVAL);
  ASSERT_EQ(exact, 0);
  /* The whole request, as the call carries it (model gpt-4o). */
  const llmrt_request_t *req = H->request(ctx);
  ASSERT_EQ(H->count_request_tokens(prt, req, NULL, &exact), llmrt_tokens_count_request(o2, req));
  ASSERT_EQ(exact, 1);
  ASSERT_EQ(H->count_request_tokens(prt, req, "cl100k_base", &exact),
            llmrt_tokens_count_request(cl, req));
  ASSERT_ERR((int)H->count_request_tokens(prt, req, "p50k_base", NULL), LLMRT_EINVAL);
  ASSERT_ERR((int)H->count_request_tokens(prt, NULL, NULL, NULL), LLMRT_EINVAL);
  llmrt_tokenizer_free(o2);
  llmrt_tokenizer_free(cl);
  llmrt_tokenizer_free(est);
  ran++;
  llmrt_result_t res = {0};
  res.text = "counted";
  H->respond(ctx, &res);
  return LLMRT_STOP;
}

static const llmrt_plugin_t probe = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "probe",
    .on_request = probe_request,
};

static const llmrt_plugin_t *probe_entry(const llmrt_host_t *host) {
  H = host;
  return &probe;
}

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_t *rt = chainfx_rt_new(&loop, NULL);
  ASSERT_EQ(llmrt_add_plugin(rt, "probe", probe_entry), 0);
  char err[256];
  ASSERT_EQ(llmrt_configure(rt,
                            "{\"upstreams\":{\"m\":{\"base_url\":\"http://127.0.0.1:9/v1\"}},"
                            "\"plugins\":[{\"name\":\"probe\"}]}",
                            err, sizeof err),
            0);
  llmrt_message_t m[] = {{.role = "system", .content = "Be brief."},
                         {.role = "user", .content = "How many tokens is this?", .name = "bob"}};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "gpt-4o";
  req.messages = m;
  req.n_messages = 2;
  req.extra_json = "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}";
  req.api_key = "sk-host-tokens-0123456789";
  chainfx_call_t r;
  chainfx_call_init(&r);
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
  for (int i = 0; i < 10000 && !r.done; i++)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(r.done, 1);
  if (r.status) TEST_FAIL_("%s", r.errmsg);
  ASSERT_EQ(ran, 1);
  ASSERT_STR_EQ(r.text, "counted");
  chainfx_rt_close(rt, &loop);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  return 0;
}
