/* llmrt inside a foreign event loop: a program whose own loop is epoll.
 *
 * The runtime gets a libuv loop of its own, and this program's epoll watches
 * that loop's backend descriptor (uv_backend_fd) next to its own descriptors
 * (here a timerfd ticking every 100 ms), waiting at most
 * uv_backend_timeout() so llmrt's timers fire on time. Whenever the backend
 * descriptor is readable or the timeout passed, llmrt_run(rt, UV_RUN_NOWAIT)
 * does llmrt's share of the work without blocking.
 *
 * It streams three answers at once and prints them, then closes the runtime.
 *
 * usage: foreign_loop_epoll [BASE_URL]   (default https://api.openai.com/v1;
 *        the key comes from OPENAI_API_KEY; try it with `llmrt mock`) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <llmrt.h>

#define N_CALLS 3

static const char *questions[N_CALLS] = {"Why is the sky blue?", "Name three primes.",
                                         "What is epoll?"};
static int pending = N_CALLS;
static int failed = 0;
static int closed = 0;

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  /* Tokens of the three calls interleave: tag each line with its call. */
  printf("[call %d] %.*s\n", (int)(intptr_t)user, (int)len, text);
}

static void on_closed(llmrt_t *rt, void *user) {
  closed = 1;
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  int i = (int)(intptr_t)user;
  if (status) {
    fprintf(stderr, "[call %d] failed: %s: %s\n", i, llmrt_err_name(status), res->error_message);
    failed++;
  } else {
    printf("[call %d] done: %s, %lld tokens\n", i, res->finish_reason ? res->finish_reason : "?",
           (long long)res->output_tokens);
  }
  if (--pending == 0) llmrt_close(llmrt_call_runtime(call), on_closed, NULL);
}

int main(int argc, char **argv) {
  const char *base_url = argc > 1 ? argv[1] : "https://api.openai.com/v1";
  llmrt_t *rt;
  if (llmrt_new(NULL, NULL, &rt) != 0) return 1;
  char cfg[1024], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"openai\":{\"base_url\":\"%s\",\"api_key_env\":\"OPENAI_API_KEY\"}},"
           "\"plugins\":[{\"name\":\"retry\"}]}",
           base_url);
  if (llmrt_configure(rt, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "configure: %s\n", err);
    llmrt_close(rt, NULL, NULL);
    llmrt_run(rt, UV_RUN_DEFAULT);
    return 1;
  }

  for (int i = 0; i < N_CALLS; i++) {
    llmrt_message_t msg = {.role = "user", .content = questions[i]};
    llmrt_request_t req;
    llmrt_request_init(&req);
    req.model = "gpt-4o-mini";
    req.messages = &msg;
    req.n_messages = 1;
    req.stream = 1;
    req.max_tokens = 12;
    llmrt_callbacks_t cbs = {on_token, NULL, on_done};
    if (llmrt_call(rt, &req, &cbs, (void *)(intptr_t)i, NULL) != 0) {
      fprintf(stderr, "call refused: %s\n", llmrt_errmsg(rt));
      return 1;
    }
  }

  /* The program's own event loop. */
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (ep < 0 || tfd < 0) {
    perror("epoll/timerfd");
    return 1;
  }
  struct itimerspec every = {{0, 100 * 1000000}, {0, 100 * 1000000}};
  timerfd_settime(tfd, 0, &every, NULL);
  int uvfd = uv_backend_fd(llmrt_loop(rt));
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = uvfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, uvfd, &ev);
  ev.data.fd = tfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

  unsigned ticks = 0;
  /* llmrt_run returns at once with NOWAIT; once on_closed ran, the llmrt_run
   * that ran it has released the runtime, and rt must not be used again. */
  llmrt_run(rt, UV_RUN_NOWAIT); /* start what the calls queued */
  while (!closed) {
    int timeout = uv_backend_timeout(llmrt_loop(rt)); /* -1: no timer pending */
    struct epoll_event got[8];
    int n = epoll_wait(ep, got, 8, timeout);
    for (int i = 0; i < n; i++) {
      if (got[i].data.fd == tfd) {
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) == sizeof expirations)
          ticks += (unsigned)expirations;
      }
    }
    /* The backend fd was readable, or the timeout passed: llmrt's turn. */
    llmrt_run(rt, UV_RUN_NOWAIT);
  }
  close(tfd);
  close(ep);
  printf("all %d calls done (%d failed); the program's own timer ticked %u times meanwhile\n",
         N_CALLS, failed, ticks);
  return failed ? 1 : 0;
}
