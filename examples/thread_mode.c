/* llmrt in a program without an event loop: the thread mode.
 *
 * The runtime runs on a thread of its own (llmrt_thread_start). Four worker
 * threads of this program each ask a question with the blocking
 * llmrt_thread_call_sync; then the main thread sends a batch of calls at once
 * and collects their results in an inbox as they finish, streaming one of them
 * token by token (its on_token runs on the runtime's thread, so it only
 * writes to stdout, which is safe from any thread).
 *
 * usage: thread_mode [BASE_URL]   (default https://api.openai.com/v1; the key
 *        comes from OPENAI_API_KEY; try it with `llmrt mock`) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt.h>

#define WORKERS 4
#define BATCH 8

static llmrt_thread_t *th;

static void ask(llmrt_request_t *req, llmrt_message_t *msg, const char *question) {
  *msg = (llmrt_message_t){.role = "user", .content = question};
  llmrt_request_init(req);
  req->model = "gpt-4o-mini";
  req->messages = msg;
  req->n_messages = 1;
  req->max_tokens = 8;
}

static void worker(void *arg) {
  int i = (int)(intptr_t)arg;
  char question[64];
  snprintf(question, sizeof question, "Worker %d asks: what is %d squared?", i, i);
  llmrt_message_t msg;
  llmrt_request_t req;
  ask(&req, &msg, question);
  llmrt_thread_result_t *res;
  int status = llmrt_thread_call_sync(th, &req, &res);
  if (status)
    printf("worker %d: failed: %s: %s\n", i, llmrt_err_name(status),
           res ? res->error_message : "not submitted");
  else
    printf("worker %d: %lld tokens: %.*s\n", i, (long long)res->output_tokens, (int)res->text_len,
           res->text);
  llmrt_thread_result_free(res);
}

/* Runs on the runtime's thread. */
static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  printf("  streamed: %.*s\n", (int)len, text);
}

int main(int argc, char **argv) {
  const char *base_url = argc > 1 ? argv[1] : "https://api.openai.com/v1";
  char cfg[1024], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"openai\":{\"base_url\":\"%s\",\"api_key_env\":\"OPENAI_API_KEY\"}},"
           "\"plugins\":[{\"name\":\"retry\"}]}",
           base_url);
  if (llmrt_thread_start(NULL, cfg, err, sizeof err, &th) != 0) {
    fprintf(stderr, "start: %s\n", err);
    return 1;
  }

  /* Blocking calls from several threads at once. */
  uv_thread_t workers[WORKERS];
  for (int i = 0; i < WORKERS; i++)
    uv_thread_create(&workers[i], worker, (void *)(intptr_t)i);
  for (int i = 0; i < WORKERS; i++)
    uv_thread_join(&workers[i]);

  /* A batch, results collected in an inbox in the order they finish. */
  llmrt_inbox_t *inbox;
  if (llmrt_inbox_new(&inbox) != 0) return 1;
  int submitted = 0;
  for (int i = 0; i < BATCH; i++) {
    char question[64]; /* copied by llmrt_inbox_call: reusing it is fine */
    snprintf(question, sizeof question, "Batch question %d", i);
    llmrt_message_t msg;
    llmrt_request_t req;
    ask(&req, &msg, question);
    req.stream = i == 0;
    llmrt_callbacks_t cbs = {i == 0 ? on_token : NULL, NULL, NULL};
    if (llmrt_inbox_call(th, inbox, &req, &cbs, (void *)(intptr_t)i, NULL) == 0) submitted++;
  }
  int ok = 0;
  while (llmrt_inbox_pending(inbox) > 0) {
    llmrt_thread_result_t *res;
    if (llmrt_inbox_wait(inbox, 30000, &res) != 0) {
      fprintf(stderr, "no result within 30 s\n");
      break;
    }
    if (res->status == 0) ok++;
    printf("batch %d: %s, %d attempt(s)\n", (int)(intptr_t)res->user,
           res->status ? llmrt_err_name(res->status) : "ok", res->attempts);
    llmrt_thread_result_free(res);
  }
  llmrt_inbox_free(inbox);
  llmrt_thread_join(th); /* stops the runtime; every callback has run */
  printf("batch: %d of %d calls succeeded\n", ok, submitted);
  return ok == BATCH ? 0 : 1;
}
