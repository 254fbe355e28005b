/* Error codes: every code of LLMRT_ERRNO_MAP has its own value in llmrt's
 * range, its message and its name; libuv codes pass through to libuv's own
 * message and name. */
#include <string.h>
#include <uv.h>

#include "llmrt.h"
#include "test.h"

typedef struct {
  int code;
  const char *name, *msg;
} code_t;

static const code_t codes[] = {
#define X(name, val, msg) {LLMRT_##name, "LLMRT_" #name, msg},
    LLMRT_ERRNO_MAP(X)
#undef X
};
#define N_CODES (sizeof codes / sizeof codes[0])

static void test_every_code(void) {
  ASSERT_GE(N_CODES, 40);
  for (size_t i = 0; i < N_CODES; i++) {
    const code_t *c = &codes[i];
    ASSERT_STR_EQ(llmrt_strerror(c->code), c->msg);
    ASSERT_STR_EQ(llmrt_err_name(c->code), c->name);
    /* Our own range, never a libuv (negative errno) value. */
    ASSERT(c->code <= -20000 && c->code > LLMRT_ERRNO_MAX_);
    ASSERT(*c->msg);
    for (size_t j = 0; j < i; j++) {
      if (codes[j].code == c->code)
        TEST_FAIL_("%s and %s share %d", codes[j].name, c->name, c->code);
      ASSERT(strcmp(codes[j].name, c->name) != 0);
    }
  }
}

static void test_success_and_positive(void) {
  ASSERT_STR_EQ(llmrt_strerror(0), "success");
  ASSERT_STR_EQ(llmrt_err_name(0), "OK");
  /* Positive values are no error code: a fixed answer, never NULL. */
  ASSERT_STR_EQ(llmrt_strerror(1), "unknown error");
  ASSERT_STR_EQ(llmrt_err_name(1), "UNKNOWN");
  ASSERT_STR_EQ(llmrt_err_name(20001), "UNKNOWN");
}

static void test_libuv_codes(void) {
  static const int uv_codes[] = {UV_ECONNREFUSED, UV_ECONNRESET, UV_ETIMEDOUT,  UV_ENOMEM,
                                 UV_EINVAL,       UV_ECANCELED,  UV_EADDRINUSE, UV_EAI_NONAME,
                                 UV_EOF,          UV_EPIPE,      UV_ENOENT,     UV_EBUSY};
  for (size_t i = 0; i < sizeof uv_codes / sizeof uv_codes[0]; i++) {
    int e = uv_codes[i];
    ASSERT(e < 0 && e > -20000); /* never in our range */
    ASSERT_STR_EQ(llmrt_strerror(e), uv_strerror(e));
    ASSERT_STR_EQ(llmrt_err_name(e), uv_err_name(e));
  }
  ASSERT_STR_EQ(llmrt_err_name(UV_ECONNREFUSED), "ECONNREFUSED");
  /* Same idea, different codes: libuv's and ours stay apart. */
  ASSERT_NE(UV_ECANCELED, LLMRT_ECANCELED);
  ASSERT_STR_EQ(llmrt_err_name(UV_ECANCELED), "ECANCELED");
  ASSERT_STR_EQ(llmrt_err_name(LLMRT_ECANCELED), "LLMRT_ECANCELED");
  ASSERT_NE(UV_ETIMEDOUT, LLMRT_ETIMEDOUT);
  ASSERT_STR_EQ(llmrt_strerror(LLMRT_ETIMEDOUT), "total deadline exceeded");
}

int main(void) {
  RUN_TEST(test_every_code);
  RUN_TEST(test_success_and_positive);
  RUN_TEST(test_libuv_codes);
  return 0;
}
