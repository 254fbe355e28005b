/* Allocation-failure torture of the thread mode (curl's torture idea): the
 * N-th allocation fails, for N = 1, 2, ... until a round runs without
 * reaching N; first on the submitting thread (the request's deep copy, the
 * jobs, inboxes and their reserved results), then on the runtime's thread
 * (llmrt_call, the copy of a result into an inbox, the runtime's own work).
 * Every round must end cleanly: a submission either returns an error and no
 * callback runs, or its result arrives exactly once; join returns and, under
 * ASan or valgrind, nothing leaks. The mock runs on its own thread, where
 * nothing fails. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "llmrt.h"
#include "mock_thread.h"
#include "test.h"

static mock_thread_t mt;
static char config[512];
static atomic_int cb_dones;

static void cb_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  ASSERT(res != NULL);
  atomic_fetch_add(&cb_dones, 1);
}

static void arm_here(llmrt_t *rt, void *arg) {
  failalloc_arm_thread(*(long *)arg);
}

static void disarm_here(llmrt_t *rt, void *arg) {
  *(int *)arg = failalloc_failed();
  failalloc_disarm();
}

static void fill(llmrt_request_t *req, llmrt_message_t *m, llmrt_header_t *h, const char **stop) {
  m[0] = (llmrt_message_t){.role = "system", .content = "Be brief."};
  m[1] = (llmrt_message_t){.role = "user", .content = "torture me", .name = "u"};
  *h = (llmrt_header_t){"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
  stop[0] = "END";
  llmrt_request_init(req);
  req->model = "m";
  req->messages = m;
  req->n_messages = 2;
  req->headers = h;
  req->n_headers = 1;
  req->stop = stop;
  req->n_stop = 1;
  req->api_key = "sk-torture";
  req->tenant = "t1";
}

/* One round: every kind of submission once. Returns 1 when the armed
 * allocation was reached (on_runtime: on the runtime's thread). */
static int round_(long n, int on_runtime) {
  atomic_store(&cb_dones, 0);
  llmrt_thread_t *th;
  if (!on_runtime) failalloc_arm_thread(n);
  int r = llmrt_thread_start(NULL, config, NULL, 0, &th);
  if (r) {
    ASSERT_ERR(r, LLMRT_ENOMEM);
    int failed = failalloc_failed();
    failalloc_disarm();
    ASSERT(failed);
    return 1;
  }
  if (on_runtime) {
    failalloc_disarm();
    ASSERT_EQ(llmrt_thread_post(th, arm_here, &n), 0);
  }
  llmrt_message_t m[2];
  llmrt_header_t h;
  const char *stop[1];
  llmrt_request_t req;
  fill(&req, m, &h, stop);

  int accepted_cb = 0, accepted_inbox = 0;
  llmrt_inbox_t *in = NULL;
  r = llmrt_inbox_new(&in);
  if (r) ASSERT_ERR(r, LLMRT_ENOMEM);
  for (int i = 0; in && i < 3; i++) {
    req.stream = i % 2;
    llmrt_callbacks_t cbs = {NULL, NULL, NULL};
    r = llmrt_inbox_call(th, in, &req, &cbs, NULL, NULL);
    if (r)
      ASSERT_ERR(r, LLMRT_ENOMEM);
    else
      accepted_inbox++;
  }
  for (int i = 0; i < 2; i++) {
    req.stream = i;
    llmrt_callbacks_t cbs = {NULL, NULL, cb_done};
    r = llmrt_thread_call(th, &req, &cbs, NULL, NULL);
    if (r)
      ASSERT_ERR(r, LLMRT_ENOMEM);
    else
      accepted_cb++;
  }
  llmrt_thread_result_t *res = NULL;
  r = llmrt_thread_call_sync(th, &req, &res);
  if (!res)
    ASSERT_ERR(r, LLMRT_ENOMEM);
  else
    ASSERT_EQ(r, res->status);
  llmrt_thread_result_free(res);
  for (int i = 0; i < accepted_inbox; i++) {
    ASSERT_EQ(llmrt_inbox_wait(in, 30000, &res), 0);
    if (res->status == 0) ASSERT(res->text_len > 0);
    llmrt_thread_result_free(res);
  }
  if (in) {
    ASSERT_EQ(llmrt_inbox_pending(in), 0);
    ASSERT_ERR(llmrt_inbox_wait(in, 0, &res), LLMRT_ETIMEDOUT);
    llmrt_inbox_free(in);
  }
  int failed = 0;
  if (on_runtime) {
    /* A post can fail to allocate too: then disarm from here (the runtime
     * thread's counters are its own, so nothing fails there any more only
     * once it ran; join below waits for every callback anyway). */
    r = llmrt_thread_post(th, disarm_here, &failed);
    if (r) ASSERT_ERR(r, LLMRT_ENOMEM);
  }
  ASSERT_EQ(llmrt_thread_join(th), 0);
  ASSERT_EQ(atomic_load(&cb_dones), accepted_cb);
  if (!on_runtime) {
    failed = failalloc_failed();
    failalloc_disarm();
  }
  return failed;
}

static void torture(int on_runtime) {
  long n = 1;
  while (round_(n, on_runtime)) {
    n++;
    ASSERT(n < 5000);
  }
  printf("%s: %ld allocations failed one by one\n",
         on_runtime ? "runtime thread" : "submitting thread", n - 1);
}

int main(void) {
  failalloc_install();
  setenv("OOM_KEY", "k", 1);
  ASSERT_EQ(mock_thread_start(&mt, "tokens=5"), 0);
  snprintf(config, sizeof config,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api\":\"openai\",\"api_key_env\":"
           "\"OOM_KEY\"}},\"plugins\":[{\"name\":\"retry\",\"max_attempts\":2,"
           "\"base_delay_ms\":1}]}",
           mt.url);
  torture(0);
  torture(1);
  mock_thread_stop(&mt);
  return 0;
}
