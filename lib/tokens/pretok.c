/* A fast path of pre-tokenization for ASCII text. It is not a second
 * tokenizer: at a position where the answer depends only on ASCII bytes it
 * gives exactly the piece the encoding's pattern gives (the alternatives are
 * tried in the pattern's order, with its greedy and backtracking rules worked
 * out below); wherever a non-ASCII byte could change the answer (a letter,
 * mark, digit or space class that only Unicode knows) it says so and the
 * caller asks PCRE2. test_tokens_exact compares the two on random text.
 *
 * The patterns (tiktoken's), alternatives in order:
 *   cl100k: (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
 *           | ' '?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *   o200k:  [^\r\n\p{L}\p{N}]?[Lu Lt Lm Lo M]*[Ll Lm Lo M]+(?i:contraction)?
 *           | [^\r\n\p{L}\p{N}]?[Lu Lt Lm Lo M]+[Ll Lm Lo M]*(?i:contraction)?
 *           | \p{N}{1,3} | ' '?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 * In ASCII: Lu is A-Z, Ll a-z, N 0-9, \s is \t \n \v \f \r and space. */
#include "tokens/tokens_internal.h"

#define UP(c) ((c) >= 'A' && (c) <= 'Z')
#define LO(c) ((c) >= 'a' && (c) <= 'z')
#define AL(c) (UP(c) || LO(c))
#define DG(c) ((c) >= '0' && (c) <= '9')
#define WS(c) ((c) == ' ' || ((c) >= 9 && (c) <= 13))
#define HI(c) ((c) >= 0x80)
#define NL(c) ((c) == '\r' || (c) == '\n')
/* For ASCII c only: */
#define OTHER(c) (!AL(c) && !DG(c) && !WS(c))
#define PRE(c) (!AL(c) && !DG(c) && !NL(c)) /* [^\r\n\p{L}\p{N}] */

/* A contraction ('s 't 're 've 'm 'll 'd, any case) at s[k]: its length,
 * 0 for none, -1 when a non-ASCII byte decides. */
static int contraction(const unsigned char *s, size_t n, size_t k) {
  if (k + 1 >= n || s[k] != '\'') return 0;
  unsigned c1 = s[k + 1];
  if (HI(c1)) return -1; /* U+017F folds to s */
  c1 |= 0x20;
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (c1 != 'r' && c1 != 'v' && c1 != 'l') return 0;
  if (k + 2 >= n) return 0;
  unsigned c2 = s[k + 2];
  if (HI(c2)) return -1;
  c2 |= 0x20;
  return c2 == (c1 == 'l' ? 'l' : 'e') ? 3 : 0;
}

/* The piece of the alternatives after the letters (digits, other, spaces). */
static int tail_alternatives(int o200k, const unsigned char *s, size_t n, size_t i, size_t *end) {
  unsigned c = s[i];
  size_t k;
  if (DG(c)) { /* \p{N}{1,3} */
    for (k = i; k < n && k - i < 3 && DG(s[k]); k++)
      ;
    if (k - i < 3 && k < n && HI(s[k])) return 0;
    *end = k;
    return 1;
  }
  size_t st = i; /* ' '?[^\s\p{L}\p{N}]+[\r\n/]* */
  if (c == ' ' && i + 1 < n) {
    if (HI(s[i + 1])) return 0;
    if (OTHER(s[i + 1])) st = i + 1;
  }
  if (st > i || OTHER(c)) {
    for (k = st; k < n && !HI(s[k]) && OTHER(s[k]); k++)
      ;
    if (k < n && HI(s[k])) return 0;
    while (k < n && (NL(s[k]) || (o200k && s[k] == '/'))) /* a '/' after newlines */
      k++;
    *end = k;
    return 1;
  }
  /* c is white space: \s*[\r\n]+ (up to the last newline of the run),
   * \s+(?!\S) (all but the last space before a non-space), \s+. */
  size_t j = i, last_nl = n;
  for (; j < n && WS(s[j]); j++)
    if (NL(s[j])) last_nl = j;
  if (j < n && HI(s[j])) return 0; /* U+00A0, U+3000...: white space too */
  if (last_nl < n)
    *end = last_nl + 1;
  else if (j == n || j - i < 2)
    *end = j;
  else
    *end = j - 1;
  return 1;
}

int llmrt__pretok_ascii(int o200k, const unsigned char *s, size_t n, size_t i, size_t *end) {
  unsigned c = s[i];
  if (!o200k && c == '\'') {
    int k = contraction(s, n, i);
    if (k < 0) return 0;
    if (k) {
      *end = i + (size_t)k;
      return 1;
    }
  }
  if (AL(c) || PRE(c)) {
    size_t st = i;
    if (!AL(c)) {
      if (i + 1 >= n) return tail_alternatives(o200k, s, n, i, end);
      if (HI(s[i + 1])) return 0;
      if (!AL(s[i + 1])) return tail_alternatives(o200k, s, n, i, end);
      st = i + 1;
    }
    size_t e;
    if (!o200k) { /* \p{L}+ */
      for (e = st; e < n && AL(s[e]); e++)
        ;
      if (e < n && HI(s[e])) return 0;
      *end = e;
      return 1;
    }
    /* Uppers then lowers: U*L+ when there are lowers, else U+L* (which
     * then is the uppers alone); a contraction may follow either. */
    size_t u = st, l;
    while (u < n && UP(s[u]))
      u++;
    if (u < n && HI(s[u])) return 0;
    for (l = u; l < n && LO(s[l]); l++)
      ;
    if (l < n && HI(s[l])) return 0;
    e = l;
    int k = contraction(s, n, e);
    if (k < 0) return 0;
    *end = e + (size_t)k;
    return 1;
  }
  return tail_alternatives(o200k, s, n, i, end);
}
