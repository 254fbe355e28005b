/* Small assertion macros in the spirit of libuv's test/task.h. A failed
 * assertion prints where and what, then aborts (ctest reports the failure). */
#ifndef LLMRT_TEST_H
#define LLMRT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_FAIL_(...)                                                                            \
  do {                                                                                             \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                \
    fprintf(stderr, __VA_ARGS__);                                                                  \
    fprintf(stderr, "\n");                                                                         \
    fflush(stderr);                                                                                \
    abort();                                                                                       \
  } while (0)

#define ASSERT(expr)                                                                               \
  do {                                                                                             \
    if (!(expr)) TEST_FAIL_("assertion failed: %s", #expr);                                        \
  } while (0)

#define ASSERT_EQ(a, b)                                                                            \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    if (a_ != b_) TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                            \
  } while (0)

#define ASSERT_NE(a, b)                                                                            \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    if (a_ == b_) TEST_FAIL_("%s != %s: both %lld", #a, #b, a_);                                   \
  } while (0)

#define ASSERT_GE(a, b)                                                                            \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    if (a_ < b_) TEST_FAIL_("%s >= %s: %lld < %lld", #a, #b, a_, b_);                              \
  } while (0)

#define ASSERT_LE(a, b)                                                                            \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    if (a_ > b_) TEST_FAIL_("%s <= %s: %lld > %lld", #a, #b, a_, b_);                              \
  } while (0)

/* Compares error codes and prints their names. */
#define ASSERT_ERR(a, b)                                                                           \
  do {                                                                                             \
    int a_ = (a), b_ = (b);                                                                        \
    if (a_ != b_)                                                                                  \
      TEST_FAIL_("%s == %s: %s (%d) != %s (%d)", #a, #b, llmrt_err_name(a_), a_,                   \
                 llmrt_err_name(b_), b_);                                                          \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
  do {                                                                                             \
    const char *a_ = (a), *b_ = (b);                                                               \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                         \
      TEST_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");    \
  } while (0)

#define ASSERT_MEM_EQ(a, alen, b, blen)                                                            \
  do {                                                                                             \
    size_t al_ = (alen), bl_ = (blen);                                                             \
    if (al_ != bl_ || memcmp((a), (b), al_) != 0)                                                  \
      TEST_FAIL_("%s == %s: \"%.*s\" (%zu) != \"%.*s\" (%zu)", #a, #b, (int)al_, (const char *)(a), \
                 al_, (int)bl_, (const char *)(b), bl_);                                           \
  } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                               \
  do {                                                                                             \
    const char *h_ = (hay), *n_ = (needle);                                                        \
    if (!h_ || !strstr(h_, n_))                                                                    \
      TEST_FAIL_("%s contains %s: \"%s\" lacks \"%s\"", #hay, #needle, h_ ? h_ : "(null)", n_);    \
  } while (0)

/* Runs one test function and reports it; tests are plain functions. */
#define RUN_TEST(fn)                                                                               \
  do {                                                                                             \
    fprintf(stderr, "-- %s\n", #fn);                                                               \
    fn();                                                                                          \
    fprintf(stderr, "ok %s\n", #fn);                                                               \
  } while (0)

#endif
