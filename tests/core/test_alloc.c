/* The allocator hook: llmrt_set_allocator takes four functions or none, and
 * the functions it takes serve llmrt, libuv and cJSON alike. A runtime made
 * while allocations fail in turn is refused with LLMRT_ENOMEM and leaks
 * nothing (libuv's test-loop-oom idea). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "failalloc.h"
#include "test.h"

static void *no_malloc(size_t n) {
  TEST_FAIL_("a refused allocator was used");
}
static void *no_realloc(void *p, size_t n) {
  TEST_FAIL_("a refused allocator was used");
}
static void *no_calloc(size_t a, size_t b) {
  TEST_FAIL_("a refused allocator was used");
}
static void no_free(void *p) {
  TEST_FAIL_("a refused allocator was used");
}

/* Every mix of NULL and non-NULL but all-or-nothing is refused, and the
 * allocator in place stays in place. */
static void test_partial_refused(void) {
  for (int mask = 1; mask < 15; mask++) {
    int r = llmrt_set_allocator(mask & 1 ? no_malloc : NULL, mask & 2 ? no_realloc : NULL,
                                mask & 4 ? no_calloc : NULL, mask & 8 ? no_free : NULL);
    ASSERT_ERR(r, LLMRT_EINVAL);
  }
  failalloc_arm(0);
  void *p = llmrt__malloc(10);
  ASSERT(p != NULL);
  llmrt__free(p);
  ASSERT_EQ(failalloc_count(), 1); /* still failalloc's */
  failalloc_disarm();
}

/* llmrt's own helpers, libuv and cJSON all go through the hook. */
static void test_everyone_counted(void) {
  long live = failalloc_live();
  failalloc_arm(0);
  void *a = llmrt__malloc(0); /* zero bytes: still a block */
  void *b = llmrt__calloc(0, 8);
  char *c = llmrt__strdup("hello");
  ASSERT(a && b && c);
  ASSERT_STR_EQ(c, "hello");
  c = llmrt__realloc(c, 100);
  ASSERT(c);
  ASSERT_STR_EQ(c, "hello");
  ASSERT_EQ(failalloc_count(), 4);
  ASSERT_EQ(failalloc_live(), live + 3);
  llmrt__free(a);
  llmrt__free(b);
  llmrt_free(c);
  llmrt__free(NULL);
  ASSERT(llmrt__strdup(NULL) == NULL);
  ASSERT_EQ(failalloc_live(), live);

  failalloc_arm(0);
  cJSON *j = cJSON_Parse("{\"a\":[1,2,3],\"b\":\"x\"}");
  ASSERT(j);
  ASSERT_GE(failalloc_count(), 5);
  cJSON_Delete(j);
  ASSERT_EQ(failalloc_live(), live);

  failalloc_arm(0);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_GE(failalloc_count(), 1); /* libuv's loop internals */
  ASSERT_EQ(uv_loop_close(&loop), 0);
  ASSERT_EQ(failalloc_live(), live);
  failalloc_disarm();
}

/* The allocation that fails is reported as ENOMEM by every helper. */
static void test_helpers_fail_cleanly(void) {
  failalloc_arm(1);
  ASSERT(llmrt__malloc(8) == NULL);
  failalloc_arm(1);
  ASSERT(llmrt__calloc(2, 8) == NULL);
  failalloc_arm(1);
  ASSERT(llmrt__strndup("abc", 3) == NULL);
  char *p = llmrt__strdup("keep");
  failalloc_arm(1);
  ASSERT(llmrt__realloc(p, 1 << 20) == NULL);
  failalloc_disarm();
  ASSERT_STR_EQ(p, "keep"); /* a failed realloc leaves the block as it was */
  llmrt__free(p);
}

/* llmrt_new, on its own loop and on a caller's, with each allocation failing
 * in turn: refused with ENOMEM and nothing leaked, until it succeeds. On its
 * own loop only llmrt's two allocations (the runtime, the copy of ca_file)
 * fail: the next ones are uv_loop_init's, and libuv aborts when growing its
 * watcher array fails, which is not ours to test. */
static void new_torture(int own) {
  long n;
  for (n = 1;; n++) {
    long live = failalloc_live();
    uv_loop_t loop;
    if (!own) ASSERT_EQ(uv_loop_init(&loop), 0);
    llmrt_options_t o;
    llmrt_options_init(&o);
    o.ca_file = "/nonexistent/ca.pem"; /* copied: one more allocation */
    llmrt_t *rt = (llmrt_t *)&o;       /* must be reset to NULL on failure */
    failalloc_arm(own && n > 2 ? 0 : n);
    int r = llmrt_new(own ? NULL : &loop, &o, &rt);
    failalloc_disarm();
    int failed = failalloc_failed();
    if (r == 0) {
      ASSERT(!failed);
      llmrt_close(rt, NULL, NULL);
      if (own)
        llmrt_run(rt, UV_RUN_DEFAULT);
      else
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    } else {
      ASSERT(failed);
      ASSERT(r == LLMRT_ENOMEM || r == UV_ENOMEM);
      ASSERT(rt == NULL);
    }
    if (!own) ASSERT_EQ(uv_loop_close(&loop), 0);
    if (failalloc_live() != live)
      TEST_FAIL_("allocation %ld: %ld blocks leaked", n, failalloc_live() - live);
    if (r == 0) break;
  }
  fprintf(stderr, "   %s loop: %ld allocations, each failed in turn\n", own ? "own" : "caller's",
          n - 1);
  ASSERT_GE(n, 3);
}

static void test_new_oom_own_loop(void) {
  new_torture(1);
}

static void test_new_oom_caller_loop(void) {
  new_torture(0);
}

static void test_restore(void) {
  ASSERT_ERR(llmrt_set_allocator(NULL, NULL, NULL, NULL), 0);
  failalloc_arm(0);
  void *p = llmrt__malloc(16);
  llmrt__free(p);
  ASSERT_EQ(failalloc_count(), 0); /* the C library's again */
  failalloc_disarm();
}

int main(void) {
  /* First, before libuv allocates anything. */
  failalloc_install();
  RUN_TEST(test_partial_refused);
  RUN_TEST(test_everyone_counted);
  RUN_TEST(test_helpers_fail_cleanly);
  RUN_TEST(test_new_oom_own_loop);
  RUN_TEST(test_new_oom_caller_loop);
  RUN_TEST(test_restore);
  return 0;
}
