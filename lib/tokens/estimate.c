/* The estimator: token counts for models whose tokenizer we do not have
 * (Anthropic's, unknown models, or a build without rank files).
 *
 * One pass over the bytes sorts the text into features that BPE tokenizers
 * treat alike: words of ASCII letters (a short word with its leading space is
 * one token, longer words cost more per letter), digits (tokens of up to
 * three), ASCII punctuation, runs of spaces and of newlines, CJK characters
 * (close to one token each), other non-ASCII letters, and 4-byte characters
 * (emoji). The weights are fitted against the exact cl100k_base count on the
 * committed sample tests/tokens/data/estimator_sample.txt; docs/tokens.md
 * gives the error per kind of text and test_tokens_estimate checks it. */
#include <math.h>

#include "tokens/tokens_internal.h"

enum {
  F_WORD,       /* ASCII letter runs */
  F_WORD_EXTRA, /* letters past the fourth of a run */
  F_DIGIT,      /* digit groups of up to three */
  F_PUNCT,      /* ASCII punctuation */
  F_SPACES,     /* runs of two or more spaces or tabs */
  F_NEWLINE,    /* runs of newlines */
  F_CJK,        /* Han, kana, Hangul, CJK punctuation */
  F_OTHER,      /* other 2- and 3-byte characters */
  F_ASTRAL,     /* 4-byte characters (emoji) */
  F_N
};

/* Fitted weights: tests/tokens/calibrate.c and fit_estimator.py (spaces fixed by hand). */
static const double weight[F_N] = {[F_WORD] = 0.951,  [F_WORD_EXTRA] = 0.081, [F_DIGIT] = 1.408,
                                   [F_PUNCT] = 0.537, [F_SPACES] = 0.5,       [F_NEWLINE] = 1.156,
                                   [F_CJK] = 1.08,    [F_OTHER] = 0.726,      [F_ASTRAL] = 3.145};

static int is_cjk(uint32_t c) {
  return (c >= 0x2E80 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFF00 && c <= 0xFFEF);
}

void llmrt__estimate_features(const char *text, size_t len, double *f) {
  const unsigned char *s = (const unsigned char *)text;
  for (int i = 0; i < F_N; i++)
    f[i] = 0;
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
      size_t j = i;
      while (j < len && (s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z')
        j++;
      f[F_WORD] += 1;
      if (j - i > 4) f[F_WORD_EXTRA] += (double)(j - i - 4);
      i = j;
    } else if (c >= '0' && c <= '9') {
      size_t j = i;
      while (j < len && s[j] >= '0' && s[j] <= '9')
        j++;
      f[F_DIGIT] += (double)((j - i + 2) / 3);
      i = j;
    } else if (c == ' ' || c == '\t') {
      size_t j = i;
      while (j < len && (s[j] == ' ' || s[j] == '\t'))
        j++;
      if (j - i > 1) f[F_SPACES] += 1;
      i = j;
    } else if (c == '\n' || c == '\r') {
      size_t j = i;
      while (j < len && (s[j] == '\n' || s[j] == '\r'))
        j++;
      f[F_NEWLINE] += 1;
      i = j;
    } else if (c < 0x80) {
      f[F_PUNCT] += 1;
      i++;
    } else {
      size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (i + k > len) k = len - i;
      uint32_t cp = 0;
      if (k == 3)
        cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
      if (k == 4)
        f[F_ASTRAL] += 1;
      else if (k == 3 && is_cjk(cp))
        f[F_CJK] += 1;
      else
        f[F_OTHER] += 1;
      i += k;
    }
  }
}

int64_t llmrt__estimate(const char *text, size_t len) {
  double f[F_N], t = 0;
  llmrt__estimate_features(text, len, f);
  for (int i = 0; i < F_N; i++)
    t += weight[i] * f[i];
  int64_t n = (int64_t)ceil(t);
  return n < 1 && len ? 1 : n;
}
