/* Used by test_examples_out_of_tree.sh: an application built against the
 * INSTALLED llmrt and llmrt mock (by CMake with llmrt::llmrt_static and
 * llmrt::mock_static, or by pkg-config), testing itself the way our tests
 * do: the mock on its loop, one streamed call, the answer checked. Prints
 * "mock app ok: N tokens, M requests" and exits 0 when all went as expected.
 * argv[1], when given, is a plugin name or path to put in the chain. */
#include <stdio.h>
#include <string.h>

#include <llmrt.h>
#include <llmrt_mock.h>

static llmrt_mock_t *mock;
static int tokens, status = -1, seen;
static size_t text_len;

static void on_request(const llmrt_mock_request_t *req, void *user) {
  if (strcmp(req->method, "POST") == 0 && strcmp(req->path, "/v1/chat/completions") == 0) seen++;
}

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  tokens++;
}

static void on_done(llmrt_call_t *call, int st, const llmrt_result_t *res, void *user) {
  status = st;
  text_len = res->text_len;
  if (st) fprintf(stderr, "call failed: %s: %s\n", llmrt_err_name(st), res->error_message);
  llmrt_close(llmrt_call_runtime(call), NULL, NULL);
  llmrt_mock_stop(mock, NULL, NULL);
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.tokens = 7;
  mo.on_request = on_request;
  if (llmrt_mock_start(&loop, &mo, &mock) != 0) return 1;
  llmrt_t *rt;
  if (llmrt_new(&loop, NULL, &rt) != 0) return 1;
  char cfg[1024], err[512];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"MOCK_APP_KEY\"}},"
           "\"plugins\":[{\"name\":\"retry\"}%s%s%s]}",
           llmrt_mock_url(mock), argc > 1 ? ",{\"name\":\"" : "", argc > 1 ? argv[1] : "",
           argc > 1 ? "\"}" : "");
  if (llmrt_configure(rt, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "configure: %s\n", err);
    return 1;
  }
  llmrt_message_t msg = {.role = "user", .content = "test me"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = 1;
  req.api_key = "sk-mock-app";
  llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  if (llmrt_call(rt, &req, &cbs, NULL, NULL) != 0) return 1;
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "handles left open\n");
    return 1;
  }
  if (status != 0 || tokens != 7 || text_len == 0 || seen != 1) {
    fprintf(stderr, "unexpected: status %d, %d tokens, %d requests seen\n", status, tokens, seen);
    return 1;
  }
  printf("mock app ok: %d tokens, %d requests\n", tokens, seen);
  return 0;
}
