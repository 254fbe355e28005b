/* llmrt_strerror() and llmrt_err_name(): static text for every int.
 *
 * Finding: for a code neither llmrt nor libuv knows, both fell through to
 * uv_strerror()/uv_err_name(), which in libuv 1.44 allocate a new
 * "Unknown system error %d" on every call (a leak, while error.h promises
 * static text) into a 32-byte buffer (INT_MIN came out truncated). */
#include <limits.h>
#include <stdatomic.h>
#include <uv.h>

#include "llmrt.h"
#include "test.h"

static atomic_long allocs;

static void *c_malloc(size_t n) {
  atomic_fetch_add(&allocs, 1);
  return malloc(n);
}

static void *c_realloc(void *p, size_t n) {
  atomic_fetch_add(&allocs, 1);
  return realloc(p, n);
}

static void *c_calloc(size_t count, size_t n) {
  atomic_fetch_add(&allocs, 1);
  return calloc(count, n);
}

static void c_free(void *p) {
  free(p);
}

/* Both functions, checked for one code: non-empty and the same pointer on a
 * second call (static text, not a fresh copy). */
static void check_static(int err) {
  const char *m = llmrt_strerror(err), *n = llmrt_err_name(err);
  ASSERT(m && *m);
  ASSERT(n && *n);
  ASSERT(m == llmrt_strerror(err));
  ASSERT(n == llmrt_err_name(err));
}

static void test_ours(void) {
#define X(name, val, msg)                                                                          \
  ASSERT_STR_EQ(llmrt_strerror(val), msg);                                                         \
  ASSERT_STR_EQ(llmrt_err_name(val), "LLMRT_" #name);                                              \
  check_static(val);
  LLMRT_ERRNO_MAP(X)
#undef X
  ASSERT_STR_EQ(llmrt_strerror(0), "success");
  ASSERT_STR_EQ(llmrt_err_name(0), "OK");
  ASSERT_STR_EQ(llmrt_err_name(LLMRT_ETIMEDOUT), "LLMRT_ETIMEDOUT");
}

/* libuv's codes pass through with libuv's own text. */
static void test_libuv(void) {
#define X(name, msg)                                                                               \
  ASSERT_STR_EQ(llmrt_strerror(UV_##name), msg);                                                   \
  ASSERT_STR_EQ(llmrt_err_name(UV_##name), #name);                                                 \
  ASSERT_STR_EQ(llmrt_strerror(UV_##name), uv_strerror(UV_##name));                                \
  ASSERT_STR_EQ(llmrt_err_name(UV_##name), uv_err_name(UV_##name));                                \
  check_static(UV_##name);
  UV_ERRNO_MAP(X)
#undef X
  ASSERT_STR_EQ(llmrt_err_name(UV_ECONNREFUSED), "ECONNREFUSED");
}

static const int unknown[] = {INT_MIN, INT_MIN + 1, -20999, -20000, -21000, -20099, -9999,
                              -4096,   -1000000,    1,      2,      4096,   INT_MAX};

static void test_unknown(void) {
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    int err = unknown[i];
    ASSERT_STR_EQ(llmrt_strerror(err), "unknown error");
    ASSERT_STR_EQ(llmrt_err_name(err), "UNKNOWN");
    check_static(err);
  }
  /* -1 is EPERM on Linux, a libuv code: its own text. */
  ASSERT_STR_EQ(llmrt_strerror(-1), uv_strerror(-1));
  ASSERT_STR_EQ(llmrt_err_name(-1), "EPERM");
}

/* No call allocates, whatever the code. */
static void test_no_allocation(void) {
  long before = atomic_load(&allocs);
  size_t sum = 0;
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
      sum += strlen(llmrt_strerror(unknown[i])) + strlen(llmrt_err_name(unknown[i]));
    for (int err = -21000; err <= 100; err++)
      sum += strlen(llmrt_strerror(err)) + strlen(llmrt_err_name(err));
  }
  ASSERT(sum > 0);
  ASSERT_EQ(atomic_load(&allocs) - before, 0);
  /* The counter works: libuv's own call does allocate for an unknown code. */
  const char *copy = uv_strerror(-9999);
  ASSERT(atomic_load(&allocs) > before);
  c_free((void *)copy);
}

int main(void) {
  ASSERT_EQ(llmrt_set_allocator(c_malloc, c_realloc, c_calloc, c_free), 0);
  RUN_TEST(test_ours);
  RUN_TEST(test_libuv);
  RUN_TEST(test_unknown);
  RUN_TEST(test_no_allocation);
  return 0;
}
