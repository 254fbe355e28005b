/* The trim plugin's rules on fixtures, without a runtime: each normalization
 * rule on its own and together (English, Chinese, code blocks), and the units
 * the history budget drops, with a generated test over many random histories
 * checking that no tool result is ever separated from its call. The
 * plugin's own files are compiled in (libuv-style unit test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/trim/normalize.c"
#include "../../plugins/trim/units.c"
#include "test.h"

static const trim__rules_t ALL = {1, 1, 1, 1, 0};
static const trim__rules_t NONE_ = {0, 0, 0, 0, 0};

static void check(const trim__rules_t *r, const char *in, const char *want) {
  char out[4096];
  size_t n = trim__normalize(r, in, strlen(in), out);
  ASSERT_LE(n, strlen(in));
  out[n] = 0;
  if (strcmp(out, want)) TEST_FAIL_("normalize(\"%s\")\n got \"%s\"\nwant \"%s\"", in, out, want);
  /* Normalizing twice changes nothing more. */
  char again[4096];
  size_t m = trim__normalize(r, out, n, again);
  again[m] = 0;
  ASSERT_STR_EQ(again, out);
}

static void test_each_rule(void) {
  trim__rules_t r = NONE_;
  const char *text = "  Hello   world.  \n\n\n\nSecond   line.\t\n\n";
  check(&r, text, text); /* all off: unchanged */
  r.trailing_ws = 1;
  check(&r, text, "  Hello   world.\n\n\n\nSecond   line.\n\n");
  r = NONE_;
  r.blank_lines = 1;
  check(&r, text, "  Hello   world.  \n\nSecond   line.\t\n\n");
  r = NONE_;
  r.trim_messages = 1;
  check(&r, text, "Hello   world.  \n\n\n\nSecond   line.");
  r = NONE_;
  r.collapse_spaces = 1;
  check(&r, text, "  Hello world. \n\n\n\nSecond line.\t\n\n");
  check(&ALL, text, "Hello world.\n\nSecond line.");
}

static void test_chinese_and_crlf(void) {
  check(&ALL, "  你好，世界。  \r\n\r\n\r\n\r\n这是  第二行。  \r\n",
        "你好，世界。\n\n这是 第二行。");
  /* Full-width spaces are text, not collapsed. */
  check(&ALL, "中文\xe3\x80\x80\xe3\x80\x80空格", "中文\xe3\x80\x80\xe3\x80\x80空格");
}

static void test_code_untouched(void) {
  const char *in = "Look:   here  \n\n\n\n```c\nint  x;   \n\n\n\n    y  =  1;  \n```\n\n\n"
                   "after   code  \n~~~\n  a    b  \n~~~";
  const char *want = "Look: here\n\n```c\nint  x;   \n\n\n\n    y  =  1;  \n```\n\n"
                     "after code\n~~~\n  a    b  \n~~~";
  check(&ALL, in, want);
  /* A fence of the other kind inside code does not close it. */
  check(&ALL, "```\n~~~\n  a  b  \n```\nx  y", "```\n~~~\n  a  b  \n```\nx y");
  /* Indentation (nested lists) stays; only inner runs collapse. */
  check(&ALL, "- a\n    - b   c\n        - d", "- a\n    - b c\n        - d");
}

static void test_edges(void) {
  check(&ALL, "", "");
  check(&ALL, "   \n\n  \t \n", "");
  check(&ALL, "x", "x");
  check(&ALL, "\n\nx\n\n", "x");
  trim__rules_t r = ALL;
  r.trim_messages = 0;
  check(&r, "\n\n\nx\n\n\n", "\nx\n\n");
}

/* ---- Units ---- */

static trim__msg_t mk(const char *role, const char *tool_calls, const char *tool_call_id) {
  trim__msg_t m;
  memset(&m, 0, sizeof m);
  m.m.role = role;
  m.m.content = "x";
  m.m.tool_calls_json = tool_calls;
  m.m.tool_call_id = tool_call_id;
  m.keep = 1;
  return m;
}

static void test_units_fixture(void) {
  trim__msg_t v[] = {
      mk("system", NULL, NULL),
      mk("user", NULL, NULL), /* turn 1 */
      mk("assistant",
         "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
         "\"arguments\":\"{}\"}}]",
         NULL),
      mk("tool", NULL, "c1"),
      mk("assistant", NULL, NULL),
      mk("user", NULL, NULL), /* turn 2 */
      mk("assistant",
         "[{\"id\":\"c2\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}},"
         "{\"id\":\"c3\",\"function\":{\"name\":\"h\",\"arguments\":\"{}\"}}]",
         NULL),
      mk("user", NULL, NULL), /* a user message between the call and its results */
      mk("tool", NULL, "c2"),
      mk("tool", NULL, "c3"),
      mk("user", NULL, NULL), /* turn 3, the latest */
  };
  size_t n = sizeof v / sizeof *v;
  uint32_t last = trim__units(v, n);
  ASSERT_EQ(v[0].unit, 0);
  ASSERT_EQ(v[1].unit, 1);
  ASSERT_EQ(v[2].unit, 1);
  ASSERT_EQ(v[3].unit, 1);
  ASSERT_EQ(v[4].unit, 1);
  /* Turn 2 swallowed the user message that split c2/c3 from their call. */
  for (size_t i = 5; i <= 9; i++)
    ASSERT_EQ(v[i].unit, 2);
  ASSERT_EQ(v[10].unit, 3);
  ASSERT_EQ(last, 3);
}

/* Anthropic's own format (the gateway forwards it as content_json): the
 * tool_use is a block of the assistant message and its tool_result a block
 * of the next user message. That user message continues the turn of the
 * call; dropping the call's turn alone would leave an orphan tool_result the
 * provider refuses. */
static void test_units_anthropic_blocks(void) {
  trim__msg_t v[6];
  memset(v, 0, sizeof v);
  static const char use[] = "[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\","
                            "\"input\":{}}]";
  static const char res[] = "[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
                            "\"content\":\"sunny\"}]";
  static const char img[] = "[{\"type\":\"text\",\"text\":\"tool_result\"}]";
  const char *roles[] = {"user", "assistant", "user", "assistant", "user", "user"};
  const char *parts[] = {NULL, use, res, NULL, img, NULL};
  for (size_t i = 0; i < 6; i++) {
    v[i].m.struct_size = sizeof v[i].m;
    v[i].m.role = roles[i];
    v[i].m.content_json = parts[i];
    v[i].m.content_json_len = parts[i] ? strlen(parts[i]) : 0;
  }
  uint32_t last = trim__units(v, 6);
  for (size_t i = 0; i < 4; i++)
    ASSERT_EQ(v[i].unit, 1);
  /* A text part that merely says "tool_result" starts a turn like any. */
  ASSERT_EQ(v[4].unit, 2);
  ASSERT_EQ(v[5].unit, 3);
  ASSERT_EQ(last, 3);
}

/* Random histories: every tool result's call is in the same unit, every
 * unit but the leading one starts with a user message, and units are
 * contiguous and ordered. Then dropping the oldest units (as the budget
 * does) never leaves a tool result without its call nor a conversation that
 * starts with an assistant or tool message. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

static void test_units_random(void) {
  static char calls[64][128];
  static char ids[64][24];
  for (int iter = 0; iter < 20000; iter++) {
    trim__msg_t v[64];
    size_t n = 0;
    int ncall = 0;
    if (rnd(2)) v[n++] = mk("system", NULL, NULL);
    v[n++] = mk("user", NULL, NULL);
    size_t want = 2 + rnd(40);
    int pending[8], npending = 0;
    while (n < want && n < 60) {
      uint32_t k = rnd(10);
      if (npending && k < 4) { /* a result, maybe after a user message */
        int c = pending[--npending];
        v[n++] = mk("tool", NULL, ids[c]);
      } else if (k < 6 && ncall < 60 && npending < 6) {
        int c1 = ncall++, c2 = -1;
        snprintf(ids[c1], sizeof ids[c1], "call_%d", c1);
        if (rnd(3) == 0 && ncall < 60) {
          c2 = ncall++;
          snprintf(ids[c2], sizeof ids[c2], "call_%d", c2);
          snprintf(calls[c1], sizeof calls[c1], "[{\"id\":\"%s\"},{\"id\":\"%s\"}]", ids[c1],
                   ids[c2]);
        } else {
          snprintf(calls[c1], sizeof calls[c1], "[{\"id\":\"%s\"}]", ids[c1]);
        }
        v[n++] = mk("assistant", calls[c1], NULL);
        pending[npending++] = c1;
        if (c2 >= 0) pending[npending++] = c2;
      } else if (k < 8) {
        v[n++] = mk("user", NULL, NULL);
      } else {
        v[n++] = mk("assistant", NULL, NULL);
      }
    }
    while (npending && n < 64)
      v[n++] = mk("tool", NULL, ids[pending[--npending]]);
    uint32_t last = trim__units(v, n);
    uint32_t prev = 0;
    for (size_t i = 0; i < n; i++) {
      if (!strcmp(v[i].m.role, "system")) {
        ASSERT_EQ(v[i].unit, 0);
        continue;
      }
      ASSERT(v[i].unit == prev || v[i].unit == prev + 1); /* contiguous, ordered */
      if (v[i].unit != prev && v[i].unit > 1) ASSERT_STR_EQ(v[i].m.role, "user");
      prev = v[i].unit;
    }
    ASSERT_EQ(prev, last);
    /* Drop the oldest d units, for every d, and check the invariants. */
    for (uint32_t d = 0; d < last; d++) {
      const char *first = NULL;
      for (size_t i = 0; i < n; i++) {
        int kept = v[i].unit == 0 || v[i].unit > d;
        if (!kept || v[i].unit == 0) continue;
        if (!first) first = v[i].m.role;
        if (!strcmp(v[i].m.role, "tool")) { /* its call is kept, before it */
          int found = 0;
          for (size_t j = 0; j < i; j++)
            if ((v[j].unit == 0 || v[j].unit > d) && v[j].m.tool_calls_json &&
                strstr(v[j].m.tool_calls_json, v[i].m.tool_call_id))
              found = 1;
          ASSERT(found);
        }
        if (v[i].m.tool_calls_json) { /* its results are kept */
          for (size_t k = i + 1; k < n; k++)
            if (v[k].m.tool_call_id && strstr(v[i].m.tool_calls_json, v[k].m.tool_call_id))
              ASSERT(v[k].unit == v[i].unit);
        }
      }
      if (d > 0 && first) ASSERT_STR_EQ(first, "user");
    }
  }
}

int main(void) {
  RUN_TEST(test_each_rule);
  RUN_TEST(test_chinese_and_crlf);
  RUN_TEST(test_code_untouched);
  RUN_TEST(test_edges);
  RUN_TEST(test_units_fixture);
  RUN_TEST(test_units_anthropic_blocks);
  RUN_TEST(test_units_random);
  return 0;
}
