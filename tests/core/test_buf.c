/* The growable buffer of lib/core/buf.c: always NUL-terminated once it has
 * data, grows by doubling from 64 bytes, and a failed growth (ENOMEM) leaves
 * it exactly as it was. */
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "failalloc.h"
#include "test.h"

static void test_init_append(void) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  ASSERT(b.data == NULL);
  ASSERT_EQ(b.len, 0);
  ASSERT_EQ(b.cap, 0);
  /* Appending nothing still makes a terminated, empty string. */
  ASSERT_EQ(llmrt__buf_append(&b, NULL, 0), 0);
  ASSERT(b.data != NULL);
  ASSERT_STR_EQ(b.data, "");
  ASSERT_EQ(b.cap, 64);
  ASSERT_EQ(llmrt__buf_puts(&b, "hello"), 0);
  ASSERT_EQ(llmrt__buf_append(&b, ", world!!", 7), 0);
  ASSERT_STR_EQ(b.data, "hello, world");
  ASSERT_EQ(b.len, 12);
  llmrt__buf_free(&b);
  ASSERT(b.data == NULL);
  ASSERT_EQ(b.len + b.cap, 0);
}

static void test_growth(void) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  char chunk[63];
  memset(chunk, 'a', sizeof chunk);
  ASSERT_EQ(llmrt__buf_append(&b, chunk, 63), 0); /* 63 + NUL: exactly 64 */
  ASSERT_EQ(b.cap, 64);
  ASSERT_EQ(llmrt__buf_append(&b, "b", 1), 0);
  ASSERT_EQ(b.cap, 128);
  ASSERT_EQ(llmrt__buf_reserve(&b, 1000), 0);
  ASSERT_EQ(b.cap, 2048); /* 64 + 1000 + 1 rounded up by doubling */
  ASSERT_EQ(b.len, 64);
  ASSERT_EQ(b.data[63], 'b');
  ASSERT_EQ(b.data[64], '\0');
  /* Reserving what is already there allocates nothing. */
  failalloc_arm(0);
  ASSERT_EQ(llmrt__buf_reserve(&b, 2048 - 64 - 1), 0);
  ASSERT_EQ(failalloc_count(), 0);
  failalloc_disarm();
  /* A size that would overflow is refused before any allocation. */
  ASSERT_ERR(llmrt__buf_reserve(&b, SIZE_MAX - 10), LLMRT_ENOMEM);
  ASSERT_ERR(llmrt__buf_reserve(&b, SIZE_MAX / 2), LLMRT_ENOMEM);
  ASSERT_EQ(b.len, 64);
  llmrt__buf_free(&b);
}

static void test_printf(void) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  ASSERT_EQ(llmrt__buf_printf(&b, "%d-%s", 42, "x"), 0);
  ASSERT_STR_EQ(b.data, "42-x");
  /* Longer than the 256-byte stack buffer: formatted in place. */
  char big[1000];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ASSERT_EQ(llmrt__buf_printf(&b, "[%s]", big), 0);
  ASSERT_EQ(b.len, 4 + 2 + 999);
  ASSERT_EQ(strlen(b.data), b.len);
  ASSERT_EQ(b.data[4], '[');
  ASSERT_EQ(b.data[b.len - 1], ']');
  llmrt__buf_free(&b);
}

static void test_reset_consume(void) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  llmrt__buf_reset(&b); /* on an empty buffer: nothing to do */
  llmrt__buf_consume(&b, 3);
  ASSERT(b.data == NULL);
  ASSERT_EQ(llmrt__buf_puts(&b, "abcdef"), 0);
  llmrt__buf_consume(&b, 2);
  ASSERT_STR_EQ(b.data, "cdef");
  ASSERT_EQ(b.len, 4);
  llmrt__buf_consume(&b, 0);
  ASSERT_STR_EQ(b.data, "cdef");
  llmrt__buf_consume(&b, 100); /* more than there is: empty */
  ASSERT_STR_EQ(b.data, "");
  ASSERT_EQ(b.len, 0);
  ASSERT_EQ(llmrt__buf_puts(&b, "xyz"), 0);
  size_t cap = b.cap;
  llmrt__buf_reset(&b);
  ASSERT_STR_EQ(b.data, "");
  ASSERT_EQ(b.cap, cap); /* keeps its capacity */
  llmrt__buf_free(&b);
}

/* Each way to grow, with the growth failing: ENOMEM, and the contents, length
 * and capacity as they were. */
static void test_oom_leaves_buffer(void) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  failalloc_arm(1);
  ASSERT_ERR(llmrt__buf_puts(&b, "x"), LLMRT_ENOMEM);
  failalloc_disarm();
  ASSERT(b.data == NULL);
  ASSERT_EQ(b.len + b.cap, 0);

  ASSERT_EQ(llmrt__buf_puts(&b, "kept"), 0);
  char big[300];
  memset(big, 'q', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  for (int way = 0; way < 3; way++) {
    failalloc_arm(1);
    int r = way == 0   ? llmrt__buf_append(&b, big, sizeof big - 1)
            : way == 1 ? llmrt__buf_printf(&b, "%s", big)
                       : llmrt__buf_reserve(&b, 5000);
    failalloc_disarm();
    ASSERT_ERR(r, LLMRT_ENOMEM);
    ASSERT(failalloc_failed());
    ASSERT_STR_EQ(b.data, "kept");
    ASSERT_EQ(b.len, 4);
    ASSERT_EQ(b.cap, 64);
  }
  llmrt__buf_free(&b);
}

int main(void) {
  failalloc_install();
  long live = failalloc_live();
  RUN_TEST(test_init_append);
  RUN_TEST(test_growth);
  RUN_TEST(test_printf);
  RUN_TEST(test_reset_consume);
  RUN_TEST(test_oom_leaves_buffer);
  ASSERT_EQ(failalloc_live(), live);
  return 0;
}
