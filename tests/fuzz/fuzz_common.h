/* Shared helpers of the libFuzzer targets: an assertion that reports and
 * aborts (libFuzzer then saves the input as a crash), an independent UTF-8
 * checker (deliberately not lib/llm's, so a bug there cannot hide itself),
 * a tiny deterministic byte source for split points, and a canary search. */
#ifndef LLMRT_FUZZ_COMMON_H
#define LLMRT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(expr)                                                                          \
  do {                                                                                             \
    if (!(expr)) {                                                                                 \
      fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #expr);            \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* Length of the valid UTF-8 sequence at s (n > 0), 0 if invalid: no
 * overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static inline size_t fuzz_utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t k;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    k = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    k = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    k = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else
    return 0;
  if (n < k) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < k; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return k;
}

static inline int fuzz_utf8_valid(const char *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p;
  for (size_t i = 0; i < n;) {
    size_t k = fuzz_utf8_seq(s + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

/* Length of the incomplete but so far valid UTF-8 sequence that ends
 * s[0..n) (a lead byte and fewer continuation bytes than it announces), 0 if
 * the text ends on a character boundary or in invalid bytes; *need gets the
 * sequence's full length. */
static inline size_t fuzz_utf8_open_tail(const char *p, size_t n, size_t *need) {
  const unsigned char *s = (const unsigned char *)p;
  for (size_t back = 1; back <= 3 && back <= n; back++) {
    unsigned c = s[n - back];
    if ((c & 0xC0) == 0x80) continue;
    size_t k = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (k <= back) return 0;
    /* Pad with the smallest continuation bytes that could follow, and see
     * whether the prefix can still become a valid character. */
    unsigned char buf[4];
    memcpy(buf, s + n - back, back);
    for (size_t i = back; i < k; i++)
      buf[i] = (i == 1 && c == 0xE0) ? 0xA0 : (i == 1 && c == 0xF0) ? 0x90 : 0x80;
    if (fuzz_utf8_seq(buf, k) != k) return 0;
    *need = k;
    return back;
  }
  return 0;
}

/* True when the boundary between delta a and the following delta b falls
 * inside one valid UTF-8 character (a ends with its start, b begins with
 * the rest). */
static inline int fuzz_utf8_split_between(const char *a, size_t an, const char *b, size_t bn) {
  size_t need = 0, open = fuzz_utf8_open_tail(a, an, &need);
  if (!open || bn < need - open) return 0;
  unsigned char buf[4];
  memcpy(buf, a + an - open, open);
  memcpy(buf + open, b, need - open);
  return fuzz_utf8_seq(buf, need) == need;
}

/* memmem without _GNU_SOURCE worries. */
static inline int fuzz_contains(const char *h, size_t hn, const char *needle, size_t nn) {
  if (nn == 0) return 1;
  for (size_t i = 0; i + nn <= hn; i++)
    if (h[i] == needle[0] && memcmp(h + i, needle, nn) == 0) return 1;
  return 0;
}

/* Deterministic piece sizes for feeding input in reads: xorshift seeded by
 * a byte of the input, so a crash reproduces from its file alone. */
typedef struct {
  uint32_t x;
} fuzz_rng_t;

static inline void fuzz_rng_init(fuzz_rng_t *r, uint32_t seed) {
  r->x = seed * 2654435761u + 1u;
}

static inline uint32_t fuzz_rng_next(fuzz_rng_t *r) {
  uint32_t x = r->x;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return r->x = x;
}

/* Size of the next read: mostly tiny (1..8 bytes, the hard cases), now and
 * then large. mode 0 feeds everything at once. */
static inline size_t fuzz_piece(fuzz_rng_t *r, unsigned mode, size_t left) {
  size_t n;
  if (mode == 0) return left;
  uint32_t v = fuzz_rng_next(r);
  if (mode == 1)
    n = 1;
  else if ((v & 3) != 0)
    n = 1 + (v >> 8) % 8;
  else
    n = 1 + (v >> 8) % 4096;
  return n < left ? n : left;
}

#endif
