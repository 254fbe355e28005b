/* Plugins from a configuration file: the program knows nothing of retries;
 * the file (retry_config.json) puts the retry plugin in front of the
 * upstream, so transient failures (connection errors, 429, 5xx, with their
 * Retry-After) are retried before the application sees anything. Another
 * plugin is one more line in the file's "plugins" array, e.g. a response
 * cache in front of retry (on a build that has one):
 *     {"name": "cache", ...},
 * and the program stays the same. What each plugin did shows in the result:
 * res->attempts, res->cache_hit and the attributes plugins set (res->attrs).
 *
 * usage: retry_config [CONFIG_FILE [N_CALLS]]   (default
 *        examples/retry_config.json and 5; the file's base_url is the one
 *        `llmrt mock` listens on by default; try
 *        `llmrt mock --controls status=503,fail_first=2`) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt.h>

static int ok, failed, attempts, n_calls, next_call;

static void start_next(llmrt_t *rt);

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  int i = (int)(intptr_t)user;
  attempts += res->attempts;
  if (status) {
    failed++;
    printf("call %d: %s after %d attempt(s): %s\n", i, llmrt_err_name(status), res->attempts,
           res->error_message);
  } else {
    ok++;
    printf("call %d: ok after %d attempt(s)%s: %.40s...\n", i, res->attempts,
           res->cache_hit ? " (cache hit)" : "", res->text);
  }
  for (size_t a = 0; a < res->n_attrs; a++) {
    if (res->attrs[a].str)
      printf("  %s = %s\n", res->attrs[a].name, res->attrs[a].str);
    else
      printf("  %s = %g\n", res->attrs[a].name, res->attrs[a].num);
  }
  /* One after another, so the order of attempts is easy to follow. */
  start_next(llmrt_call_runtime(call));
}

static void start_next(llmrt_t *rt) {
  if (next_call == n_calls) {
    llmrt_close(rt, NULL, NULL); /* llmrt_run returns once it is closed */
    return;
  }
  int i = next_call++;
  char question[64];
  snprintf(question, sizeof question, "Question number %d", i);
  llmrt_message_t msg = {.role = "user", .content = question};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "gpt-4o-mini";
  req.messages = &msg;
  req.n_messages = 1;
  req.max_tokens = 16;
  llmrt_callbacks_t cbs = {NULL, NULL, on_done};
  if (llmrt_call(rt, &req, &cbs, (void *)(intptr_t)i, NULL) != 0) {
    fprintf(stderr, "call refused: %s\n", llmrt_errmsg(rt));
    failed++;
    llmrt_close(rt, NULL, NULL);
  }
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *data = NULL;
  size_t len = 0, cap = 0, n;
  char chunk[4096];
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      char *grown = realloc(data, cap);
      if (!grown) break;
      data = grown;
    }
    memcpy(data + len, chunk, n);
    len += n;
  }
  fclose(f);
  if (data) data[len] = '\0';
  return data;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "examples/retry_config.json";
  n_calls = argc > 2 ? atoi(argv[2]) : 5;
  char *config = read_file(path);
  if (!config) {
    perror(path);
    return 1;
  }
  llmrt_t *rt;
  if (llmrt_new(NULL, NULL, &rt) != 0) return 1;
  char err[512];
  int r = llmrt_configure(rt, config, err, sizeof err);
  free(config);
  if (r != 0) {
    fprintf(stderr, "%s: %s\n", path, err);
    llmrt_close(rt, NULL, NULL);
    llmrt_run(rt, UV_RUN_DEFAULT);
    return 1;
  }
  start_next(rt);
  llmrt_run(rt, UV_RUN_DEFAULT);
  printf("%d calls: %d ok, %d failed, %d attempts\n", n_calls, ok, failed, attempts);
  return failed ? 1 : 0;
}
