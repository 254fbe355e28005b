/* libFuzzer target: the JSON scanner, string decoder and writer
 * (lib/llm/json.c).
 *
 * Input: the document. It is parsed with a small token array (so the heap
 * fallback runs for anything but tiny documents). For an accepted document:
 * every token lies inside the input and its subtree is well formed; every
 * string decodes, NUL-terminated, no longer than its escaped form; and the
 * writer's output (jw_value) is valid UTF-8, is accepted by the scanner
 * again, and writing that again gives the same bytes (a fixpoint). */
#include "fuzz_common.h"
#include "llm/json.h"

static void check_tree(const llmrt__json_t *j, size_t len) {
  FUZZ_ASSERT(j->n >= 1);
  FUZZ_ASSERT(j->tok[0].next == j->n);
  for (uint32_t t = 0; t < j->n; t++) {
    const llmrt__jtok_t *k = &j->tok[t];
    FUZZ_ASSERT(k->type >= LLMRT__JSON_OBJECT && k->type <= LLMRT__JSON_PRIM);
    FUZZ_ASSERT(k->start <= k->end && k->end <= len);
    FUZZ_ASSERT(k->next > t && k->next <= j->n);
    if (k->type == LLMRT__JSON_OBJECT || k->type == LLMRT__JSON_ARRAY) {
      /* Children follow one another; the last one ends where the parent does. */
      uint32_t c = t + 1;
      uint32_t want = k->type == LLMRT__JSON_OBJECT ? 2 * k->size : k->size;
      for (uint32_t i = 0; i < want; i++) {
        FUZZ_ASSERT(c < k->next);
        if (k->type == LLMRT__JSON_OBJECT && i % 2 == 0)
          FUZZ_ASSERT(j->tok[c].type == LLMRT__JSON_STRING); /* keys */
        c = j->tok[c].next;
      }
      FUZZ_ASSERT(c == k->next);
      FUZZ_ASSERT(llmrt__json_at(j, (int)t, k->size) == -1 || k->type == LLMRT__JSON_OBJECT);
    } else {
      FUZZ_ASSERT(k->next == t + 1);
      FUZZ_ASSERT(k->size == 0);
    }
  }
}

static void check_strings(const llmrt__json_t *j) {
  char small[64];
  llmrt__jarena_t a;
  llmrt__jarena_init(&a, small, sizeof small); /* tiny: heap blocks get used too */
  for (uint32_t t = 0; t < j->n; t++) {
    const llmrt__jtok_t *k = &j->tok[t];
    if (k->type != LLMRT__JSON_STRING) {
      const char *s;
      size_t n;
      FUZZ_ASSERT(llmrt__json_str(j, (int)t, &a, 1, &s, &n) == LLMRT_EBADRESPONSE);
      if (k->type == LLMRT__JSON_PRIM) {
        int64_t v;
        (void)llmrt__json_int(j, (int)t, &v);
      }
      continue;
    }
    const char *s;
    size_t n;
    int rc = llmrt__json_str(j, (int)t, &a, 1, &s, &n);
    if (rc == LLMRT_ENOMEM) continue;
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(s[n] == '\0');
    /* A lone surrogate escape (6 bytes) becomes 3: decoding never grows. */
    FUZZ_ASSERT(n <= (size_t)(k->end - k->start));
    FUZZ_ASSERT(k->esc || (n == k->end - k->start && memcmp(s, j->js + k->start, n) == 0));
    FUZZ_ASSERT(llmrt__json_str_same(j, (int)t, (int)t));
    FUZZ_ASSERT(llmrt__json_type(j, (int)t) == LLMRT__JSON_STRING);
    /* Without escapes and without nul, the string is the document's bytes. */
    const char *s2;
    size_t n2;
    if (llmrt__json_str(j, (int)t, &a, 0, &s2, &n2) == 0) {
      FUZZ_ASSERT(n2 == n && memcmp(s, s2, n) == 0);
    }
  }
  /* Member lookup finds each key of the top-level object (the last of
   * duplicates wins, so only check that something is found). */
  if (j->tok[0].type == LLMRT__JSON_OBJECT) {
    uint32_t c = 1;
    for (uint32_t m = 0; m < j->tok[0].size; m++) {
      const char *key;
      size_t kn;
      if (llmrt__json_str(j, (int)c, &a, 1, &key, &kn) == 0 && !j->tok[c].esc) {
        int v = llmrt__json_getn(j, 0, j->js + j->tok[c].start, j->tok[c].end - j->tok[c].start);
        FUZZ_ASSERT(v > 0 && (uint32_t)v < j->n);
      }
      c = j->tok[c + 1].next;
    }
  }
  llmrt__jarena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  const char *js = (const char *)data;
  llmrt__jtok_t stack[16];
  llmrt__json_t j;
  int rc = llmrt__json_parse(&j, js, size, stack, 16);
  if (rc) {
    FUZZ_ASSERT(rc == LLMRT_EBADRESPONSE || rc == LLMRT_ENOMEM);
    llmrt__json_free(&j);
    return 0;
  }
  check_tree(&j, size);
  check_strings(&j);

  llmrt__buf_t out, again;
  llmrt__buf_init(&out);
  llmrt__buf_init(&again);
  if (llmrt__jw_value(&out, &j, 0) == 0) {
    FUZZ_ASSERT(out.data && out.data[out.len] == '\0');
    FUZZ_ASSERT(fuzz_utf8_valid(out.data, out.len));
    llmrt__json_t j2;
    int rc2 = llmrt__json_parse(&j2, out.data, out.len, NULL, 0);
    FUZZ_ASSERT(rc2 == 0 || rc2 == LLMRT_ENOMEM);
    if (rc2 == 0) {
      FUZZ_ASSERT(j2.n == j.n); /* the same values, only whitespace and bad bytes differ */
      FUZZ_ASSERT(llmrt__jw_value(&again, &j2, 0) == 0);
      FUZZ_ASSERT(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
    }
    llmrt__json_free(&j2);
  }
  llmrt__buf_free(&out);
  llmrt__buf_free(&again);
  llmrt__json_free(&j);
  return 0;
}
