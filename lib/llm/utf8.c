/* UTF-8 checks and repair, with no knowledge of JSON or events: the one rule
 * (RFC 3629: no overlong forms, surrogates or code points above U+10FFFF)
 * that the request writer and the text deltas share. Each byte that does not
 * start a valid sequence becomes one U+FFFD, as llmrt__jw_string writes it. */
#include <string.h>

#include "provider.h"

size_t llmrt__utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t k;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
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
  if (n < k || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < k; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return k;
}

size_t llmrt__utf8_partial(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  for (size_t m = 1; m <= 3 && m <= n; m++) {
    unsigned char c = s[n - m];
    if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
    size_t k = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (k <= m) return 0; /* ASCII, invalid, or a sequence already whole */
    if (m >= 2) {
      unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
      unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
      if (s[n - m + 1] < lo || s[n - m + 1] > hi) return 0;
    }
    return m; /* the rest are continuation bytes by the loop */
  }
  return 0;
}

size_t llmrt__utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  for (;;) {
    /* ASCII, the common case, 8 bytes a step. */
    while (i + 8 <= n) {
      uint64_t x;
      memcpy(&x, s + i, 8);
      if (x & 0x8080808080808080ULL) break;
      i += 8;
    }
    while (i < n && s[i] < 0x80)
      i++;
    if (i == n) return n;
    size_t k = llmrt__utf8_seq(s + i, n - i);
    if (k == 0) return i;
    i += k;
  }
}

size_t llmrt__utf8_clean(const char *str, size_t n, char *out) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0, o = 0;
  while (i < n) {
    size_t v = llmrt__utf8_valid(str + i, n - i);
    memcpy(out + o, s + i, v);
    o += v;
    i += v;
    if (i == n) break;
    memcpy(out + o, "\xEF\xBF\xBD", 3);
    o += 3;
    i++;
  }
  return o;
}

/* A non-JSON body goes into error_message and logs, maybe a terminal: it
 * must not bring line breaks, escape sequences or invalid UTF-8 there. Runs
 * of spaces and control characters (C0, DEL, and C1 such as U+009B, which
 * some terminals read as ESC [) become one space, trimmed at both ends;
 * each invalid byte becomes U+FFFD. Writes at most cap bytes, whole
 * characters only; returns the length. */
size_t llmrt__clean_text(const char *body, size_t len, char *out, size_t cap) {
  const unsigned char *s = (const unsigned char *)body;
  size_t i = 0, o = 0;
  int space = 0;
  while (i < len) {
    size_t k = llmrt__utf8_seq(s + i, len - i);
    int ctl = s[i] <= 0x20 || s[i] == 0x7F || (k == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0);
    if (ctl) {
      space = o > 0;
      i += k ? k : 1;
      continue;
    }
    const char *p = k ? body + i : "\xEF\xBF\xBD";
    size_t w = k ? k : 3;
    if (o + (size_t)space + w > cap) break;
    if (space) out[o++] = ' ';
    space = 0;
    memcpy(out + o, p, w);
    o += w;
    i += k ? k : 1;
  }
  return o;
}
