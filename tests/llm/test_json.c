/* The allocation-free JSON scanner, string decoding and the body writer. */
#include <cjson/cJSON.h>
#include <locale.h>
#include <math.h>

#include "llm/json.h"
#include "test.h"

static int parse(llmrt__json_t *j, const char *s, llmrt__jtok_t *toks, uint32_t n) {
  return llmrt__json_parse(j, s, strlen(s), toks, n);
}

static void test_structure(void) {
  llmrt__jtok_t toks[64];
  llmrt__json_t j;
  const char *s = " {\"a\": [1, -2.5e3, true, false, null, \"x\"], \"b\": {\"c\": {}}, \"d\": [], "
                  "\"a\\u0062\": \"esc\", \"dup\": 1, \"dup\": 2} ";
  ASSERT_EQ(parse(&j, s, toks, 64), 0);
  ASSERT(j.heap == NULL);
  ASSERT_EQ(llmrt__json_type(&j, 0), LLMRT__JSON_OBJECT);
  ASSERT_EQ(j.tok[0].size, 6);
  int a = llmrt__json_get(&j, 0, "a");
  ASSERT_EQ(llmrt__json_type(&j, a), LLMRT__JSON_ARRAY);
  ASSERT_EQ(j.tok[a].size, 6);
  int64_t v;
  ASSERT_EQ(llmrt__json_int(&j, llmrt__json_at(&j, a, 0), &v), 0);
  ASSERT_EQ(v, 1);
  ASSERT_EQ(llmrt__json_int(&j, llmrt__json_at(&j, a, 1), &v), 0);
  ASSERT_EQ(v, -2500);
  ASSERT_EQ(llmrt__json_int(&j, llmrt__json_at(&j, a, 2), &v), -1); /* true is no number */
  ASSERT(llmrt__json_isnull(&j, llmrt__json_at(&j, a, 4)));
  ASSERT(llmrt__json_isnull(&j, llmrt__json_at(&j, a, 6))); /* past the end: absent */
  ASSERT(llmrt__json_streq(&j, llmrt__json_at(&j, a, 5), "x"));
  /* Nested navigation skips whole subtrees. */
  int b = llmrt__json_get(&j, 0, "b");
  ASSERT_EQ(llmrt__json_type(&j, llmrt__json_get(&j, b, "c")), LLMRT__JSON_OBJECT);
  ASSERT_EQ(j.tok[llmrt__json_get(&j, 0, "d")].size, 0);
  /* An escaped key matches its decoded form; the last duplicate wins. */
  ASSERT(llmrt__json_streq(&j, llmrt__json_get(&j, 0, "ab"), "esc"));
  ASSERT_EQ(llmrt__json_int(&j, llmrt__json_get(&j, 0, "dup"), &v), 0);
  ASSERT_EQ(v, 2);
  ASSERT_EQ(llmrt__json_get(&j, 0, "missing"), -1);
  ASSERT_EQ(llmrt__json_get(&j, a, "a"), -1); /* not an object */
  const llmrt__jkey_t keys[3] = {LLMRT__JKEY("d"), LLMRT__JKEY("ab"), LLMRT__JKEY("zz")};
  int out[3];
  llmrt__json_fields(&j, 0, keys, 3, out);
  ASSERT_EQ(out[0], llmrt__json_get(&j, 0, "d"));
  ASSERT_EQ(out[1], llmrt__json_get(&j, 0, "ab"));
  ASSERT_EQ(out[2], -1);
  llmrt__json_free(&j);
}

static void test_heap_fallback(void) {
  /* More values than the caller's array: parsed in full on the heap. */
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  llmrt__buf_puts(&b, "{\"list\":[");
  for (int i = 0; i < 1000; i++)
    llmrt__buf_printf(&b, "%s{\"i\":%d}", i ? "," : "", i);
  llmrt__buf_puts(&b, "],\"end\":\"yes\"}");
  llmrt__jtok_t toks[16];
  llmrt__json_t j;
  ASSERT_EQ(llmrt__json_parse(&j, b.data, b.len, toks, 16), 0);
  ASSERT(j.heap != NULL);
  ASSERT_EQ(j.n, 1 + 2 + 1000 * 3 + 2);
  int64_t v;
  ASSERT_EQ(llmrt__json_int(
                &j,
                llmrt__json_get(&j, llmrt__json_at(&j, llmrt__json_get(&j, 0, "list"), 999), "i"),
                &v),
            0);
  ASSERT_EQ(v, 999);
  ASSERT(llmrt__json_streq(&j, llmrt__json_get(&j, 0, "end"), "yes"));
  llmrt__json_free(&j);
  llmrt__buf_free(&b);
}

static void test_strict(void) {
  static const char *bad[] = {
      "",
      " ",
      "{",
      "}",
      "[",
      "{\"a\"}",
      "{\"a\":}",
      "{,}",
      "[,1]",
      "[1 2]",
      "{\"a\":1 \"b\":2}",
      "\"abc",
      "\"a\\\"",
      "\"\\q\"",
      "\"\\u00g0\"",
      "\"\\u00\"",
      "\"ctl\x01\"",
      "+1",
      "-",
      "1e",
      "1e+",
      ".5",
      "0x10",
      "NaN",
      "Infinity",
      "nul",
      "truee",
      "[1]]",
      "{} 1",
      "'single'",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    llmrt__jtok_t toks[16];
    llmrt__json_t j;
    int rc = parse(&j, bad[i], toks, 16);
    if (rc != LLMRT_EBADRESPONSE) TEST_FAIL_("accepted malformed JSON: '%s'", bad[i]);
    llmrt__json_free(&j);
  }
  static const char *good[] = {"0",
                               "-0.0e-0",
                               "1E+10",
                               "\"\"",
                               "[]",
                               "{}",
                               "[[[]]]",
                               "\"\\/\"",
                               "\"\xff raw bytes pass\"",
                               " \t\r\n[ 1 , 2 ] \n"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    llmrt__jtok_t toks[16];
    llmrt__json_t j;
    if (parse(&j, good[i], toks, 16) != 0) TEST_FAIL_("refused valid JSON: '%s'", good[i]);
    llmrt__json_free(&j);
  }
  /* Strings of every length around the 8-byte fast path, with the quote at
   * every position: the scanner must stop exactly there. */
  for (size_t len = 0; len < 40; len++) {
    char doc[64];
    doc[0] = '"';
    memset(doc + 1, 'a', len);
    doc[len + 1] = '"';
    doc[len + 2] = '\0';
    llmrt__jtok_t toks[4];
    llmrt__json_t j;
    ASSERT_EQ(parse(&j, doc, toks, 4), 0);
    ASSERT_EQ(j.tok[0].end - j.tok[0].start, len);
    if (len > 0) { /* a control byte anywhere is refused */
      doc[1 + len / 2] = '\n';
      ASSERT_EQ(parse(&j, doc, toks, 4), LLMRT_EBADRESPONSE);
    }
  }
}

/* Decodes a string literal into out (lengths from sizeof, not counted). */
#define UNESC(lit, hi) llmrt__json_unescape((lit), sizeof(lit) - 1, out, (hi))

static void test_unescape(void) {
  char out[64];
  uint32_t hi = 0;
  size_t n = UNESC("a\\n\\t\\\"\\\\\\/\\b\\f\\r\\u00e9\\u4f60\\ud83d\\ude00", NULL);
  ASSERT_MEM_EQ(out, n, "a\n\t\"\\/\b\f\r\xc3\xa9\xe4\xbd\xa0\xf0\x9f\x98\x80",
                sizeof("a\n\t\"\\/\b\f\r\xc3\xa9\xe4\xbd\xa0\xf0\x9f\x98\x80") - 1);
  /* Lone surrogates become U+FFFD. */
  n = UNESC("\\ude00x\\ud83dy\\ud83d", NULL);
  ASSERT_MEM_EQ(out, n, "\xef\xbf\xbdx\xef\xbf\xbdy\xef\xbf\xbd",
                sizeof("\xef\xbf\xbdx\xef\xbf\xbdy\xef\xbf\xbd") - 1);
  /* A high surrogate at the end waits for its pair across calls. */
  n = UNESC("ok\\ud83d", &hi);
  ASSERT_MEM_EQ(out, n, "ok", sizeof("ok") - 1);
  ASSERT_EQ(hi, 0xD83D);
  n = UNESC("\\ude00!", &hi);
  ASSERT_MEM_EQ(out, n, "\xf0\x9f\x98\x80!", sizeof("\xf0\x9f\x98\x80!") - 1);
  ASSERT_EQ(hi, 0);
  /* ... and becomes U+FFFD when the pair does not come. */
  UNESC("\\ud83d", &hi);
  n = UNESC("z", &hi);
  ASSERT_MEM_EQ(out, n, "\xef\xbf\xbdz", sizeof("\xef\xbf\xbdz") - 1);
  /* \u0000 is a real NUL byte. */
  n = UNESC("a\\u0000b", NULL);
  ASSERT_MEM_EQ(out, n, "a\0b", sizeof("a\0b") - 1);
}

static char *write_str(const char *s, size_t n) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  ASSERT_EQ(llmrt__jw_string(&b, s, n), 0);
  return b.data;
}

static void test_writer(void) {
  static const char in0[] = "q\"b\\n\nt\tc\x01\x1f del\x7f \xc3\xa9";
  char *w = write_str(in0, sizeof in0 - 1);
  ASSERT_STR_EQ(w, "\"q\\\"b\\\\n\\nt\\tc\\u0001\\u001f del\x7f \xc3\xa9\"");
  free(w);
  /* Invalid UTF-8 becomes U+FFFD: stray continuation, overlong, surrogate,
   * beyond U+10FFFF, truncated sequence at the end. */
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"\x80", "\"\\ufffd\""},
      {"\xc0\x80", "\"\\ufffd\\ufffd\""},
      {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
      {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
      {"ok\xe4\xbd", "\"ok\\ufffd\\ufffd\""},
      {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    w = write_str(cases[i].in, strlen(cases[i].in));
    ASSERT_STR_EQ(w, cases[i].out);
    cJSON *j = cJSON_Parse(w); /* and it is valid JSON */
    ASSERT(j != NULL);
    cJSON_Delete(j);
    free(w);
  }
  w = write_str("a\0b", 3);
  ASSERT_STR_EQ(w, "\"a\\u0000b\"");
  free(w);
}

static void test_double(void) {
  static const struct {
    double v;
    const char *s;
  } cases[] = {{0.7, "0.7"}, {0.1, "0.1"}, {1, "1"}, {0, "0"}, {1e-7, "1e-07"}, {2.5, "2.5"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    llmrt__buf_t b;
    llmrt__buf_init(&b);
    ASSERT_EQ(llmrt__jw_double(&b, cases[i].v), 0);
    ASSERT_STR_EQ(b.data, cases[i].s);
    llmrt__buf_free(&b);
  }
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  ASSERT_ERR(llmrt__jw_double(&b, NAN), LLMRT_EINVAL);
  ASSERT_ERR(llmrt__jw_double(&b, INFINITY), LLMRT_EINVAL);
  /* 1/3 needs 17 digits to read back exactly. */
  ASSERT_EQ(llmrt__jw_double(&b, 1.0 / 3.0), 0);
  ASSERT(strtod(b.data, NULL) == 1.0 / 3.0);
  llmrt__buf_free(&b);
  /* A host locale with a decimal comma must not leak into JSON. */
  const char *locs[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C.UTF-8"};
  for (size_t i = 0; i < 4; i++) {
    if (!setlocale(LC_NUMERIC, locs[i])) continue;
    llmrt__buf_init(&b);
    ASSERT_EQ(llmrt__jw_double(&b, 0.25), 0);
    ASSERT_STR_EQ(b.data, "0.25");
    llmrt__buf_free(&b);
    fprintf(stderr, "locale %s: ok\n", locs[i]);
    setlocale(LC_NUMERIC, "C");
    break;
  }
}

int main(void) {
  RUN_TEST(test_structure);
  RUN_TEST(test_heap_fallback);
  RUN_TEST(test_strict);
  RUN_TEST(test_unescape);
  RUN_TEST(test_writer);
  RUN_TEST(test_double);
  return 0;
}
