/* Thread mode (include/llmrt/thread.h) against the mock on loopback:
 * 8 submitting threads and 10,000 calls (LLMRT_THREAD_TEST_CALLS in the
 * environment changes the count; 800 with LLMRT_TEST_SLOW, for valgrind), half with callbacks on
 * the runtime's thread, half through inboxes; every accepted call ends
 * exactly once, with the request it was given (the submitted buffers are
 * scribbled over right after submission). Then cancel from another thread,
 * refusals, posts and configure, stop while 8 threads submit, stop from a
 * callback, and the functions that must not run on the runtime's thread. */
#include <stdatomic.h>

#include <llmrt.h>

#include "mock_thread.h"
#include "test.h"

#define THREADS 8
#define WINDOW 32 /* calls in flight per submitting thread */

static mock_thread_t mt;
static char config[512];

typedef struct {
  int done; /* on_done runs (runtime thread only) */
  int status;
  int64_t input_tokens;
  size_t text_len;
} slot_t;

static slot_t *slots;
static int n_calls;

typedef struct {
  int index;
  uv_thread_t tid;
  llmrt_thread_t *th;
  uv_sem_t window;
  int accepted;
} submitter_t;

/* Content of 4*k bytes: the mock counts input tokens as bytes / 4. */
static int content_for(int idx, char *buf) {
  int k = 1 + idx % 50;
  for (int i = 0; i < 4 * k; i++)
    buf[i] = (char)('a' + (idx + i) % 26);
  buf[4 * k] = '\0';
  return k;
}

static void cb_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  int idx = (int)((intptr_t)user & 0xffffff);
  slots[idx].done++;
  slots[idx].status = status;
  slots[idx].input_tokens = res->input_tokens;
  slots[idx].text_len = res->text_len;
}

static submitter_t subs[THREADS];

static void cb_done_window(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  cb_done(call, status, res, user);
  int idx = (int)(intptr_t)user;
  uv_sem_post(&subs[idx % THREADS].window);
}

/* Fills req from a stack buffer, submits, then scribbles over the buffer. */
static void submitter_main(void *arg) {
  submitter_t *s = arg;
  llmrt_inbox_t *in = NULL;
  int use_inbox = s->index % 2;
  if (use_inbox) ASSERT_EQ(llmrt_inbox_new(&in), 0);
  int inflight = 0;
  for (int idx = s->index; idx < n_calls; idx += THREADS) {
    char content[256], model[32];
    content_for(idx, content);
    snprintf(model, sizeof model, "m-%d", idx % 7);
    llmrt_message_t m = {.role = "user", .content = content};
    llmrt_request_t req;
    llmrt_request_init(&req);
    req.model = model;
    req.messages = &m;
    req.n_messages = 1;
    req.stream = idx % 3 == 0;
    if (use_inbox) {
      if (inflight == WINDOW) {
        llmrt_thread_result_t *r;
        ASSERT_EQ(llmrt_inbox_wait(in, 60000, &r), 0);
        int j = (int)(intptr_t)r->user;
        slots[j].done++;
        slots[j].status = r->status;
        slots[j].input_tokens = r->input_tokens;
        slots[j].text_len = r->text_len;
        ASSERT_EQ(strlen(r->text), r->text_len);
        llmrt_thread_result_free(r);
        inflight--;
      }
      ASSERT_EQ(llmrt_inbox_call(s->th, in, &req, NULL, (void *)(intptr_t)idx, NULL), 0);
      inflight++;
    } else {
      uv_sem_wait(&s->window);
      llmrt_callbacks_t cbs = {NULL, NULL, cb_done_window};
      ASSERT_EQ(llmrt_thread_call(s->th, &req, &cbs, (void *)(intptr_t)idx, NULL), 0);
    }
    s->accepted++;
    memset(content, 'X', sizeof content - 1);
    content[sizeof content - 1] = '\0';
    memset(model, 0, sizeof model);
  }
  /* The callback thread waits for its last calls: the window full again. */
  for (int k = 0; !use_inbox && k < WINDOW; k++)
    uv_sem_wait(&s->window);
  while (use_inbox && inflight > 0) {
    llmrt_thread_result_t *r;
    ASSERT_EQ(llmrt_inbox_wait(in, 60000, &r), 0);
    int j = (int)(intptr_t)r->user;
    slots[j].done++;
    slots[j].status = r->status;
    slots[j].input_tokens = r->input_tokens;
    slots[j].text_len = r->text_len;
    llmrt_thread_result_free(r);
    inflight--;
  }
  if (in) {
    ASSERT_EQ(llmrt_inbox_pending(in), 0);
    llmrt_inbox_free(in);
  }
}

static llmrt_thread_t *start(void) {
  llmrt_thread_t *th;
  char err[256];
  int r = llmrt_thread_start(NULL, config, err, sizeof err, &th);
  if (r) TEST_FAIL_("llmrt_thread_start: %s", err);
  return th;
}

static void test_many(void) {
  llmrt_thread_t *th = start();
  slots = calloc((size_t)n_calls, sizeof *slots);
  ASSERT(slots);
  uint64_t t0 = uv_hrtime();
  for (int i = 0; i < THREADS; i++) {
    subs[i] = (submitter_t){.index = i, .th = th};
    ASSERT_EQ(uv_sem_init(&subs[i].window, WINDOW), 0);
    ASSERT_EQ(uv_thread_create(&subs[i].tid, submitter_main, &subs[i]), 0);
  }
  int accepted = 0;
  for (int i = 0; i < THREADS; i++) {
    ASSERT_EQ(uv_thread_join(&subs[i].tid), 0);
    accepted += subs[i].accepted;
  }
  /* Every call has ended: join (which stops the runtime) ends nothing. */
  ASSERT_EQ(llmrt_thread_join(th), 0);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  ASSERT_EQ(accepted, n_calls);
  for (int i = 0; i < n_calls; i++) {
    if (slots[i].done != 1) TEST_FAIL_("call %d ended %d times", i, slots[i].done);
    if (slots[i].status) TEST_FAIL_("call %d: %s", i, llmrt_err_name(slots[i].status));
    char buf[256];
    ASSERT_EQ(slots[i].input_tokens, content_for(i, buf));
    ASSERT(slots[i].text_len > 0);
  }
  for (int i = 0; i < THREADS; i++)
    uv_sem_destroy(&subs[i].window);
  free(slots);
  printf("many: %d calls from %d threads, each ended once, %.2f s (%.0f calls/s)\n", n_calls,
         THREADS, secs, n_calls / secs);
}

/* ---- Cancel, refusal, post, configure, sync ---- */

static void post_fn(llmrt_t *rt, void *arg) {
  atomic_int *n = arg;
  ASSERT(rt != NULL);
  atomic_fetch_add(n, 1);
}

typedef struct {
  llmrt_thread_t *th;
  int join_r, sync_r, conf_r;
} self_check_t;

static void self_fn(llmrt_t *rt, void *arg) {
  self_check_t *c = arg;
  c->join_r = llmrt_thread_join(c->th);
  llmrt_request_t req;
  llmrt_request_init(&req);
  c->sync_r = llmrt_thread_call_sync(c->th, &req, NULL);
  c->conf_r = llmrt_thread_configure(c->th, "{}", NULL, 0);
}

static void test_api(void) {
  llmrt_thread_t *th = start();
  llmrt_message_t m = {.role = "user", .content = "hello there"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &m;
  req.n_messages = 1;

  /* A blocking call. */
  llmrt_thread_result_t *r;
  ASSERT_EQ(llmrt_thread_call_sync(th, &req, &r), 0);
  ASSERT_EQ(r->status, 0);
  ASSERT(r->text_len > 0 && strlen(r->text) == r->text_len);
  ASSERT_STR_EQ(r->finish_reason, "stop");
  ASSERT_EQ(r->http_status, 200);
  ASSERT(r->error_message == NULL);
  llmrt_thread_result_free(r);

  /* The raw body and content parts are copied at submit (gateway-style
   * requests): the caller's buffers are wiped and freed before the call runs. */
  {
    const char *raw_src = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                          "[{\"type\":\"text\",\"text\":\"hello parts\"}]}]}";
    const char *parts_src = "[{\"type\":\"text\",\"text\":\"hello parts\"}]";
    char *raw = strdup(raw_src), *parts = strdup(parts_src);
    ASSERT(raw && parts);
    llmrt_message_t pm = {
        .struct_size = sizeof pm, .role = "user", .content = "hello parts", .content_json = parts};
    llmrt_request_t preq = req;
    preq.messages = &pm;
    preq.raw_body = raw;
    preq.raw_api = "openai";
    llmrt_inbox_t *pin;
    ASSERT_EQ(llmrt_inbox_new(&pin), 0);
    ASSERT_EQ(llmrt_inbox_call(th, pin, &preq, NULL, NULL, NULL), 0);
    memset(raw, 'x', strlen(raw));
    memset(parts, 'x', strlen(parts));
    free(raw);
    free(parts);
    ASSERT_EQ(llmrt_inbox_wait(pin, 10000, &r), 0);
    ASSERT_ERR(r->status, 0);
    llmrt_thread_result_free(r);
    llmrt_inbox_free(pin);
  }

  /* Refused by llmrt_call on the runtime's thread: one on_done, call NULL. */
  llmrt_request_t bad = req;
  bad.model = NULL;
  ASSERT_ERR(llmrt_thread_call_sync(th, &bad, &r), LLMRT_EINVAL);
  ASSERT(r && strstr(r->error_message, "model"));
  ASSERT_EQ(r->text_len, 0);
  llmrt_thread_result_free(r);
  /* Refused at submission: the copy needs messages. */
  bad = req;
  bad.messages = NULL;
  ASSERT_ERR(llmrt_thread_call_sync(th, &bad, &r), LLMRT_EINVAL);
  ASSERT(r == NULL);

  /* Cancel from this thread while the mock stalls. */
  llmrt_header_t stall = {"x-mock", "fault=stall"};
  llmrt_request_t sreq = req;
  sreq.headers = &stall;
  sreq.n_headers = 1;
  llmrt_inbox_t *in;
  ASSERT_EQ(llmrt_inbox_new(&in), 0);
  uint64_t ticket = 0;
  ASSERT_EQ(llmrt_inbox_call(th, in, &sreq, NULL, (void *)7, &ticket), 0);
  ASSERT(ticket != 0);
  ASSERT_ERR(llmrt_inbox_wait(in, 200, &r), LLMRT_ETIMEDOUT);
  ASSERT_EQ(llmrt_inbox_pending(in), 1);
  ASSERT_EQ(llmrt_thread_cancel(th, ticket), 0);
  ASSERT_EQ(llmrt_inbox_wait(in, 10000, &r), 0);
  ASSERT_ERR(r->status, LLMRT_ECANCELED);
  ASSERT_EQ(r->ticket, ticket);
  ASSERT(r->user == (void *)7);
  llmrt_thread_result_free(r);
  /* A finished or unknown ticket is ignored. */
  ASSERT_EQ(llmrt_thread_cancel(th, ticket), 0);
  ASSERT_EQ(llmrt_thread_cancel(th, 999999), 0);

  /* Posts run in order, on the runtime's thread. */
  atomic_int posts = 0;
  for (int i = 0; i < 100; i++)
    ASSERT_EQ(llmrt_thread_post(th, post_fn, &posts), 0);
  ASSERT_EQ(llmrt_thread_call_sync(th, &req, NULL), 0);
  ASSERT_EQ(atomic_load(&posts), 100);

  /* What must not run on the runtime's thread says so. */
  self_check_t sc = {.th = th};
  ASSERT_EQ(llmrt_thread_post(th, self_fn, &sc), 0);
  ASSERT_EQ(llmrt_thread_call_sync(th, &req, NULL), 0);
  ASSERT_ERR(sc.join_r, LLMRT_EINVAL);
  ASSERT_ERR(sc.sync_r, LLMRT_EINVAL);
  ASSERT_ERR(sc.conf_r, LLMRT_EINVAL);

  /* Configure from here: a bad one changes nothing, a good one applies. */
  char err[256];
  ASSERT_ERR(llmrt_thread_configure(th, "{\"upstreams\":3}", err, sizeof err), LLMRT_ECONFIG);
  ASSERT(strstr(err, "upstreams"));
  ASSERT_EQ(llmrt_thread_call_sync(th, &req, NULL), 0);
  char cfg2[600];
  snprintf(cfg2, sizeof cfg2,
           "{\"upstreams\":{\"other\":{\"base_url\":\"%s\",\"api\":\"anthropic\","
           "\"api_key_env\":\"THREAD_KEY\"}}}",
           mt.url);
  ASSERT_EQ(llmrt_thread_configure(th, cfg2, err, sizeof err), 0);
  req.upstream = "other";
  ASSERT_EQ(llmrt_thread_call_sync(th, &req, &r), 0);
  ASSERT(r->model != NULL);
  llmrt_thread_result_free(r);
  req.upstream = NULL;

  /* After stop: submissions refused, a blocking configure too. */
  llmrt_thread_stop(th);
  llmrt_thread_stop(th);
  ASSERT_ERR(llmrt_thread_call_sync(th, &req, &r), LLMRT_ESHUTDOWN);
  ASSERT_ERR(llmrt_inbox_call(th, in, &req, NULL, NULL, NULL), LLMRT_ESHUTDOWN);
  ASSERT_ERR(llmrt_thread_post(th, post_fn, &posts), LLMRT_ESHUTDOWN);
  ASSERT_ERR(llmrt_thread_cancel(th, 1), LLMRT_ESHUTDOWN);
  ASSERT_ERR(llmrt_thread_configure(th, cfg2, err, sizeof err), LLMRT_ESHUTDOWN);
  ASSERT_EQ(llmrt_inbox_pending(in), 0);
  llmrt_inbox_free(in);
  ASSERT_EQ(llmrt_thread_join(th), 0);

  /* A start that fails leaves nothing running. */
  ASSERT_ERR(llmrt_thread_start(NULL, "{\"plugins\":7}", err, sizeof err, &th), LLMRT_ECONFIG);
  ASSERT(strstr(err, "plugins"));
  printf("api: sync, refusals, cancel, posts, configure, stop: ok\n");
}

/* ---- Stop while 8 threads submit ---- */

static atomic_int stop_accepted, stop_refused, stop_done, stop_ok, stop_shutdown, stop_other;

static void stop_cb_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  atomic_fetch_add(&stop_done, 1);
  if (status == 0)
    atomic_fetch_add(&stop_ok, 1);
  else if (status == LLMRT_ESHUTDOWN)
    atomic_fetch_add(&stop_shutdown, 1);
  else
    atomic_fetch_add(&stop_other, 1);
}

static void stop_submitter(void *arg) {
  submitter_t *s = arg;
  llmrt_message_t m = {.role = "user", .content = "stop me"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &m;
  req.n_messages = 1;
  req.stream = 1;
  llmrt_header_t slow = {"x-mock", "tokens=4,token_ms=2"};
  req.headers = &slow;
  req.n_headers = 1;
  llmrt_callbacks_t cbs = {NULL, NULL, stop_cb_done};
  int after_refusal = 0;
  llmrt_header_t stall = {"x-mock", "fault=stall"};
  for (int i = 0; i < 100000 && after_refusal < 20; i++) {
    /* One call in ten is never answered: some are surely in flight at stop. */
    req.headers = i % 10 == 5 ? &stall : &slow;
    int r = llmrt_thread_call(s->th, &req, &cbs, NULL, NULL);
    if (r == 0) {
      if (after_refusal) TEST_FAIL_("accepted after a refusal");
      atomic_fetch_add(&stop_accepted, 1);
    } else {
      ASSERT_ERR(r, LLMRT_ESHUTDOWN);
      atomic_fetch_add(&stop_refused, 1);
      after_refusal++;
    }
    if (i % 4 == 3) uv_sleep(1);
    /* At most ~1000 unfinished calls: below the pool's queue limit (4096). */
    while (!after_refusal && atomic_load(&stop_accepted) - atomic_load(&stop_done) > 1000)
      uv_sleep(1);
  }
}

static void test_stop_while_submitting(void) {
  llmrt_thread_t *th = start();
  for (int i = 0; i < THREADS; i++) {
    subs[i] = (submitter_t){.index = i, .th = th};
    ASSERT_EQ(uv_thread_create(&subs[i].tid, stop_submitter, &subs[i]), 0);
  }
  /* Stop while calls are queued, in flight and finished. */
  while (atomic_load(&stop_accepted) < 400 || atomic_load(&stop_ok) < 20)
    uv_sleep(1);
  llmrt_thread_stop(th);
  for (int i = 0; i < THREADS; i++)
    ASSERT_EQ(uv_thread_join(&subs[i].tid), 0);
  ASSERT_EQ(llmrt_thread_join(th), 0);
  ASSERT_EQ(atomic_load(&stop_done), atomic_load(&stop_accepted));
  ASSERT_EQ(atomic_load(&stop_other), 0);
  ASSERT(atomic_load(&stop_shutdown) > 0);
  ASSERT_GE(atomic_load(&stop_ok), 20);
  ASSERT_GE(atomic_load(&stop_refused), THREADS * 20);
  printf("stop: %d accepted (%d ok, %d LLMRT_ESHUTDOWN), %d refused, each ended once\n",
         atomic_load(&stop_accepted), atomic_load(&stop_ok), atomic_load(&stop_shutdown),
         atomic_load(&stop_refused));
}

/* ---- Stop from a callback on the runtime's thread ---- */

static llmrt_thread_t *cb_th;
static atomic_int cb_dones;

static void stop_in_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  atomic_fetch_add(&cb_dones, 1);
  llmrt_thread_stop(cb_th);
}

static void test_stop_from_callback(void) {
  cb_th = start();
  llmrt_message_t m = {.role = "user", .content = "x"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "m";
  req.messages = &m;
  req.n_messages = 1;
  llmrt_callbacks_t cbs = {NULL, NULL, stop_in_done};
  int accepted = 0;
  for (int i = 0; i < 50; i++)
    if (llmrt_thread_call(cb_th, &req, &cbs, NULL, NULL) == 0) accepted++;
  ASSERT_EQ(llmrt_thread_join(cb_th), 0);
  ASSERT_EQ(atomic_load(&cb_dones), accepted);
  printf("stop from a callback: %d accepted, each ended once\n", accepted);
}

int main(void) {
  const char *n = getenv("LLMRT_THREAD_TEST_CALLS");
  /* Under valgrind (scripts/valgrind.sh sets LLMRT_TEST_SLOW) the same paths
   * with fewer calls. */
  n_calls = n ? atoi(n) : getenv("LLMRT_TEST_SLOW") ? 800 : 10000;
  ASSERT(n_calls > 0 && n_calls <= 1000000);
  setenv("THREAD_KEY", "sk-thread-test", 1);
  ASSERT_EQ(mock_thread_start(&mt, "tokens=4"), 0);
  snprintf(config, sizeof config,
           "{\"upstreams\":{\"mock\":{\"base_url\":\"%s\",\"api\":\"openai\","
           "\"api_key_env\":\"THREAD_KEY\"}}}",
           mt.url);
  test_api();
  test_many();
  test_stop_while_submitting();
  test_stop_from_callback();
  mock_thread_stop(&mt);
  return 0;
}
