/* The exact counter against tiktoken: tests/tokens/data/reference.txt holds
 * the ids tiktoken gives for every corpus file, whole and line by line, in
 * both encodings (written by tests/tokens/gen_reference.js). Every one must
 * match id for id, and the count must equal the number of ids. Also: long
 * pieces (the heap merge) against the short merge, and encode's cap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmrt.h"
#include "llmrt/tokens.h"
#include "test.h"
#include "tokens/tokens_internal.h"

#define DATA LLMRT_SOURCE_DIR "/tests/tokens/data"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ASSERT(f != NULL);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  ASSERT(buf != NULL);
  ASSERT_EQ(fread(buf, 1, (size_t)n, f), n);
  fclose(f);
  buf[n] = 0;
  *len = (size_t)n;
  return buf;
}

/* The bytes of a case: the whole file, or its 1-based line without '\n'. */
static void case_bytes(const char *file, size_t flen, const char *which, const char **p,
                       size_t *n) {
  if (!strcmp(which, "all")) {
    *p = file;
    *n = flen;
    return;
  }
  long want = strtol(which, NULL, 10), line = 1;
  size_t start = 0;
  for (size_t i = 0; i <= flen; i++) {
    if (i == flen || file[i] == '\n') {
      if (line == want) {
        *p = file + start;
        *n = i - start;
        return;
      }
      start = i + 1;
      line++;
    }
  }
  TEST_FAIL_("line %s not found", which);
}

static void test_reference(void) {
  size_t rlen;
  char *ref = slurp(DATA "/reference.txt", &rlen);
  llmrt_tokenizer_t *tk[2];
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_O200K, &tk[0]), 0);
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_CL100K, &tk[1]), 0);
  ASSERT(llmrt_tokenizer_exact(tk[0]) && llmrt_tokenizer_exact(tk[1]));
  uint32_t *ids = malloc(1 << 20);
  int cases = 0;
  for (char *line = strtok(ref, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    char enc[32], fname[128], which[16];
    long count;
    int off;
    ASSERT_EQ(sscanf(line, "%31s %127s %15s %ld%n", enc, fname, which, &count, &off), 4);
    llmrt_tokenizer_t *t = !strcmp(enc, LLMRT_ENCODING_O200K) ? tk[0] : tk[1];
    ASSERT_STR_EQ(llmrt_tokenizer_encoding(t), enc);
    char path[512];
    snprintf(path, sizeof path, DATA "/corpus/%s", fname);
    size_t flen, n;
    const char *p;
    char *file = slurp(path, &flen);
    case_bytes(file, flen, which, &p, &n);
    int64_t got = llmrt_tokens_encode(t, p, n, ids, 1 << 18);
    if (got != count)
      TEST_FAIL_("%s %s case %s: %lld ids, tiktoken %ld", enc, fname, which, (long long)got, count);
    ASSERT_EQ(llmrt_tokens_count(t, p, n), count);
    char *q = line + off;
    for (long i = 0; i < count; i++) {
      long id = strtol(q, &q, 10);
      if (ids[i] != (uint32_t)id)
        TEST_FAIL_("%s %s case %s: id %ld is %u, tiktoken %ld", enc, fname, which, i, ids[i], id);
    }
    free(file);
    cases++;
  }
  ASSERT_GE(cases, 150);
  free(ids);
  free(ref);
  llmrt_tokenizer_free(tk[0]);
  llmrt_tokenizer_free(tk[1]);
}

/* A piece longer than the short merge's limit goes through the heap merge;
 * its tokens must be what the pieces give when cut smaller where the two
 * merges must agree: a long letter run, and long runs of spaces. */
static void test_long_pieces(void) {
  llmrt_tokenizer_t *tk;
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_O200K, &tk), 0);
  /* 100 000 spaces then a word: "\s+(?!\S)" takes all but the last space. */
  size_t n = 100000;
  char *s = malloc(n + 8);
  memset(s, ' ', n);
  memcpy(s + n, "word", 4);
  int64_t c = llmrt_tokens_count(tk, s, n + 4);
  ASSERT_GE(c, 2);
  ASSERT_LE(c, (int64_t)n / 8);
  /* A long run of one letter: quadratic merging would take minutes here. */
  memset(s, 'a', n);
  int64_t a = llmrt_tokens_count(tk, s, n);
  ASSERT_GE(a, 1);
  ASSERT_LE(a, (int64_t)n / 2);
  free(s);
  llmrt_tokenizer_free(tk);
}

static void test_encode_cap_and_errors(void) {
  llmrt_tokenizer_t *tk, *est;
  ASSERT_EQ(llmrt_tokenizer_new(LLMRT_ENCODING_CL100K, &tk), 0);
  ASSERT_EQ(llmrt_tokenizer_new(NULL, &est), 0);
  const char *t = "hello world, hello tokens";
  uint32_t ids[2] = {0, 0};
  int64_t n = llmrt_tokens_encode(tk, t, strlen(t), ids, 2);
  ASSERT_GE(n, 4);
  uint32_t all[16];
  ASSERT_EQ(llmrt_tokens_encode(tk, t, strlen(t), all, 16), n);
  ASSERT_EQ(ids[0], all[0]);
  ASSERT_EQ(ids[1], all[1]);
  ASSERT_EQ(llmrt_tokens_encode(tk, t, strlen(t), NULL, 0), n);
  ASSERT_ERR((int)llmrt_tokens_encode(est, t, strlen(t), all, 16), LLMRT_EINVAL);
  ASSERT_EQ(llmrt_tokens_count(tk, "", 0), 0);
  ASSERT_EQ(llmrt_tokens_count(est, "", 0), 0);
  llmrt_tokenizer_t *bad = (llmrt_tokenizer_t *)1;
  ASSERT_ERR(llmrt_tokenizer_new("p50k_base", &bad), LLMRT_EINVAL);
  ASSERT(bad == NULL);
  ASSERT_STR_EQ(llmrt_tokenizer_encoding(est), LLMRT_ENCODING_ESTIMATE);
  ASSERT(!llmrt_tokenizer_exact(est));
  llmrt_tokenizer_free(tk);
  llmrt_tokenizer_free(est);
}

static void test_models(void) {
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "gpt-4o-mini"), LLMRT_ENCODING_O200K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "gpt-4.1-nano"), LLMRT_ENCODING_O200K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "gpt-5"), LLMRT_ENCODING_O200K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "o3-mini"), LLMRT_ENCODING_O200K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "o1"), LLMRT_ENCODING_O200K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "gpt-4"), LLMRT_ENCODING_CL100K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "gpt-4-turbo"), LLMRT_ENCODING_CL100K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "gpt-3.5-turbo"), LLMRT_ENCODING_CL100K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "claude-sonnet-4-5"), LLMRT_ENCODING_ESTIMATE);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, NULL), LLMRT_ENCODING_ESTIMATE);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(NULL, 0, "cl100k_base"), LLMRT_ENCODING_CL100K);
  llmrt_token_rule_t rules[] = {{"my-model*", LLMRT_ENCODING_CL100K},
                                {"gpt-4o-special", LLMRT_ENCODING_ESTIMATE}};
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(rules, 2, "my-model-7b"), LLMRT_ENCODING_CL100K);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(rules, 2, "gpt-4o-special"), LLMRT_ENCODING_ESTIMATE);
  ASSERT_STR_EQ(llmrt_tokens_encoding_for(rules, 2, "gpt-4o-special2"), LLMRT_ENCODING_O200K);
  ASSERT(llmrt_tokens_have(LLMRT_ENCODING_O200K));
  ASSERT(llmrt_tokens_have(LLMRT_ENCODING_CL100K));
  ASSERT(!llmrt_tokens_have("p50k_base"));
}

/* The ASCII fast path of pre-tokenization against PCRE2 alone, on random
 * text drawn from pieces chosen to sit on every rule's edges: contractions
 * in any case, letters next to non-ASCII letters and marks, digits next to
 * non-ASCII digits, spaces next to Unicode spaces, '/' after newlines,
 * control characters, invalid bytes. */
static void test_fast_path_random(void) {
  static const char *const a[] = {"a",
                                  "Z",
                                  "hello",
                                  "HELLO",
                                  "Hello",
                                  "hELLo",
                                  "'s",
                                  "'S",
                                  "'re",
                                  "'RE",
                                  "'ll",
                                  "'Ll",
                                  "'ve",
                                  "'d",
                                  "'m",
                                  "'t",
                                  "'x",
                                  "'",
                                  "''",
                                  " ",
                                  "  ",
                                  "   ",
                                  "\t",
                                  "\n",
                                  "\r\n",
                                  "\n\n",
                                  " \n",
                                  "\v",
                                  "\f",
                                  "/",
                                  "//",
                                  ">",
                                  ")",
                                  "(",
                                  ";",
                                  "-",
                                  ".",
                                  ",",
                                  "!",
                                  "?",
                                  "\"",
                                  "#",
                                  "_",
                                  "0",
                                  "7",
                                  "123",
                                  "4567",
                                  "\x01",
                                  "\x7f",
                                  "\xc3\xa9",         /* é, a letter */
                                  "\xc3\x89",         /* É */
                                  "\xe4\xb8\xad",     /* 中 */
                                  "\xcc\x81",         /* a combining mark */
                                  "\xc2\xa0",         /* no-break space */
                                  "\xe3\x80\x80",     /* ideographic space */
                                  "\xc2\x85",         /* NEL, white space */
                                  "\xe1\xa0\x8e",     /* U+180E, not white space */
                                  "\xd9\xa3",         /* an Arabic-Indic digit */
                                  "\xc2\xb2",         /* superscript two, \p{N} */
                                  "\xc5\xbf",         /* long s, folds to s */
                                  "\xf0\x9f\x98\x80", /* emoji */
                                  "\xe2\x80\x8b",     /* zero width space, not white space */
                                  "\xff",
                                  "\x80",         /* invalid */
                                  "\xe2\x84\xaa", /* Kelvin sign */
                                  "\xca\xb0",     /* a modifier letter, Lm */
                                  "\xc7\x85"};    /* Dž, titlecase Lt */
  size_t na = sizeof a / sizeof *a;
  llmrt_tokenizer_t *fast[2], *slow[2];
  const char *encs[2] = {LLMRT_ENCODING_O200K, LLMRT_ENCODING_CL100K};
  for (int e = 0; e < 2; e++) {
    ASSERT_EQ(llmrt_tokenizer_new(encs[e], &fast[e]), 0);
    ASSERT_EQ(llmrt_tokenizer_new(encs[e], &slow[e]), 0);
    slow[e]->no_fast = 1;
  }
  uint64_t x = 0x2545F4914F6CDD1Dull;
  char buf[512];
  uint32_t i1[512], i2[512];
  for (int iter = 0; iter < 30000; iter++) {
    size_t n = 0;
    int atoms_n = 1 + (int)(x % 24);
    for (int k = 0; k < atoms_n; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const char *p = a[x % na];
      size_t l = strlen(p);
      if (n + l >= sizeof buf) break;
      memcpy(buf + n, p, l);
      n += l;
    }
    for (int e = 0; e < 2; e++) {
      int64_t c1 = llmrt_tokens_encode(fast[e], buf, n, i1, 512);
      int64_t c2 = llmrt_tokens_encode(slow[e], buf, n, i2, 512);
      if (c1 != c2 || memcmp(i1, i2, (size_t)c1 * sizeof *i1)) {
        fprintf(stderr, "%s: fast path differs on:", encs[e]);
        for (size_t k = 0; k < n; k++)
          fprintf(stderr, " %02x", (unsigned char)buf[k]);
        TEST_FAIL_("\n%lld tokens vs %lld", (long long)c1, (long long)c2);
      }
    }
  }
  for (int e = 0; e < 2; e++) {
    llmrt_tokenizer_free(fast[e]);
    llmrt_tokenizer_free(slow[e]);
  }
}

int main(void) {
  test_fast_path_random();
  test_reference();
  test_long_pieces();
  test_encode_cap_and_errors();
  test_models();
  printf("ok\n");
  return 0;
}
