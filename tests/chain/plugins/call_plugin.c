/* Built against the installed library: loads the plugin in argv[1] and makes
 * one call through it (the plugin answers; the upstream is never reached).
 * Prints the outcome; exit 0 when the call succeeded with text argv[2]. */
#include <stdio.h>
#include <string.h>

#include <llmrt.h>

static int status = 1;
static char text[256];

static void on_done(llmrt_call_t *c, int st, const llmrt_result_t *res, void *user) {
  (void)c, (void)user;
  status = st;
  snprintf(text, sizeof text, "%.*s", (int)res->text_len, res->text);
  if (st) fprintf(stderr, "call failed: %s\n", res->error_message);
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  llmrt_t *rt;
  if (llmrt_new(NULL, NULL, &rt)) return 1;
  char cfg[1024], err[512];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"u\":{\"base_url\":\"http://127.0.0.1:9/v1\"}},"
           "\"plugins\":[{\"name\":\"%s\"}]}",
           argv[1]);
  if (llmrt_configure(rt, cfg, err, sizeof err)) {
    fprintf(stderr, "configure: %s\n", err);
    return 1;
  }
  llmrt_message_t msg = {.role = "user", .content = "hi"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &msg;
  req.n_messages = 1;
  llmrt_callbacks_t cbs = {NULL, NULL, on_done};
  if (llmrt_call(rt, &req, &cbs, NULL, NULL)) return 1;
  llmrt_run(rt, UV_RUN_DEFAULT);
  llmrt_close(rt, NULL, NULL);
  llmrt_run(rt, UV_RUN_DEFAULT);
  printf("%s: %s \"%s\"\n", argv[1], llmrt_err_name(status), text);
  return status == 0 && strcmp(text, argv[2]) == 0 ? 0 : 1;
}
