/* The runtime object on its own: made on a loop of its own or on the
 * caller's, closed from outside or from inside a callback. Its done callback
 * runs exactly once, never inside llmrt_close's own stack, and only after
 * every handle a layer holds has closed; then everything is freed and the
 * caller's loop has no handle of ours left. */
#include <string.h>

#include "core/core.h"
#include "failalloc.h"
#include "test.h"

static int dones;
static llmrt_t *done_rt;

static void on_done(llmrt_t *rt, void *user) {
  ASSERT(user == &dones);
  done_rt = rt;
  dones++;
  llmrt_close(rt, on_done, &dones); /* again, from inside: a no-op */
}

static void test_own_loop(void) {
  long live = failalloc_live();
  llmrt_t *rt = NULL;
  ASSERT_ERR(llmrt_new(NULL, NULL, &rt), 0);
  uv_loop_t *loop = llmrt_loop(rt);
  ASSERT(loop != NULL);
  ASSERT_EQ(rt->opts.log_level, LLMRT_LOG_WARN); /* NULL options: the defaults */
  dones = 0;
  llmrt_close(rt, on_done, &dones);
  ASSERT_EQ(dones, 0);              /* deferred to the loop */
  llmrt_close(rt, on_done, &dones); /* twice: a no-op */
  llmrt_run(rt, UV_RUN_DEFAULT);
  ASSERT_EQ(dones, 1);
  ASSERT(done_rt == rt);
  ASSERT_EQ(failalloc_live(), live); /* the runtime and its loop are gone */
}

static void test_caller_loop(void) {
  long live = failalloc_live();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  char ca[] = "/some/ca.pem";
  o.ca_file = ca;
  llmrt_t *rt = NULL;
  ASSERT_ERR(llmrt_new(&loop, &o, &rt), 0);
  ASSERT(llmrt_loop(rt) == &loop);
  ASSERT(rt->opts.ca_file != ca); /* copied */
  ASSERT_STR_EQ(rt->opts.ca_file, ca);
  /* An idle runtime keeps nobody's loop alive. */
  ASSERT_EQ(uv_run(&loop, UV_RUN_NOWAIT), 0);
  dones = 0;
  llmrt_close(rt, on_done, &dones);
  ASSERT_EQ(dones, 0);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(dones, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0); /* no handle of ours left */
  ASSERT_EQ(failalloc_live(), live);
}

static void test_args(void) {
  ASSERT_ERR(llmrt_new(NULL, NULL, NULL), LLMRT_EINVAL);
  llmrt_close(NULL, on_done, &dones); /* a no-op */
}

/* ---- Closing from inside a callback ---- */

typedef struct {
  llmrt_t *rt;
  uv_timer_t timer;
} from_cb_t;

static void on_timer_closed(uv_handle_t *h) {}

static void close_from_timer(uv_timer_t *t) {
  from_cb_t *f = t->data;
  uv_close((uv_handle_t *)t, on_timer_closed);
  llmrt_close(f->rt, on_done, &dones);
  ASSERT_EQ(dones, 0);
}

static void close_from_callback(int own) {
  long live = failalloc_live();
  uv_loop_t loop;
  if (!own) ASSERT_EQ(uv_loop_init(&loop), 0);
  from_cb_t f;
  ASSERT_ERR(llmrt_new(own ? NULL : &loop, NULL, &f.rt), 0);
  ASSERT_EQ(uv_timer_init(llmrt_loop(f.rt), &f.timer), 0);
  f.timer.data = &f;
  ASSERT_EQ(uv_timer_start(&f.timer, close_from_timer, 1, 0), 0);
  dones = 0;
  if (own) {
    llmrt_run(f.rt, UV_RUN_DEFAULT);
  } else {
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);
  }
  ASSERT_EQ(dones, 1);
  ASSERT_EQ(failalloc_live(), live);
}

static void test_close_from_callback_own_loop(void) {
  close_from_callback(1);
}

static void test_close_from_callback_caller_loop(void) {
  close_from_callback(0);
}

/* ---- The close protocol: closers newest first (the first closer before
 * them), done only once every handle they hold has closed ---- */

static char order[8];
static size_t n_order;

typedef struct {
  llmrt_t *rt;
  uv_timer_t timer; /* a handle the layer holds open until it is closed */
  char tag;
} layer_t;

static void layer_handle_closed(uv_handle_t *h) {
  layer_t *l = h->data;
  ASSERT_EQ(dones, 0); /* done waits for this */
  llmrt__rt_unref(l->rt);
}

static void layer_closer(llmrt_t *rt, void *arg) {
  layer_t *l = arg;
  ASSERT(n_order < sizeof order - 1);
  order[n_order++] = l->tag;
  uv_close((uv_handle_t *)&l->timer, layer_handle_closed);
}

static void on_never(uv_timer_t *t) {
  TEST_FAIL_("a layer's timer fired after close");
}

static void test_closers(void) {
  long live = failalloc_live();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_t *rt;
  ASSERT_ERR(llmrt_new(&loop, NULL, &rt), 0);
  layer_t layers[4];
  const char tags[] = "abcF";
  for (int i = 0; i < 4; i++) {
    layers[i].rt = rt;
    layers[i].tag = tags[i];
    ASSERT_EQ(uv_timer_init(&loop, &layers[i].timer), 0);
    layers[i].timer.data = &layers[i];
    ASSERT_EQ(uv_timer_start(&layers[i].timer, on_never, 60000, 0), 0);
    llmrt__rt_ref(rt);
    /* Registered out of phase order: close runs calls, pools, network. */
    int phase = tags[i] == 'F' ? LLMRT__CLOSE_CALLS : tags[i] == 'a' ? LLMRT__CLOSE_NET
                                                                      : LLMRT__CLOSE_POOLS;
    ASSERT_ERR(llmrt__rt_add_closer(rt, phase, layer_closer, &layers[i]), 0);
  }
  ASSERT_ERR(llmrt__rt_add_closer(rt, 7, layer_closer, &layers[0]), LLMRT_EINVAL);
  n_order = 0;
  dones = 0;
  llmrt_close(rt, on_done, &dones);
  order[n_order] = '\0';
  ASSERT_STR_EQ(order, "Fcba");
  ASSERT_EQ(dones, 0);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(dones, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  ASSERT_EQ(failalloc_live(), live);
}

int main(void) {
  failalloc_install();
  RUN_TEST(test_own_loop);
  RUN_TEST(test_caller_loop);
  RUN_TEST(test_args);
  RUN_TEST(test_close_from_callback_own_loop);
  RUN_TEST(test_close_from_callback_caller_loop);
  RUN_TEST(test_closers);
  return 0;
}
