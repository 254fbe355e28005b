/* Text deltas that never end inside a UTF-8 character.
 *
 * Providers stream text in pieces cut by tokens, not characters; some
 * servers cut inside a multi-byte character (byte-level tokens), and a JSON
 * surrogate pair (\uD83D\uDE00) can be cut between two chunks. A user who
 * prints each delta must never see half a character, so the incomplete tail
 * of a delta is held in pstate and prepended to the next delta of the same
 * kind. The join is built in the decode's arena (pstate.scratch): no malloc. */
#include <string.h>

#include "provider.h"

size_t llmrt__utf8_complete(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = n, k = 0;
  /* Find the last lead byte among the final 4 bytes. */
  while (i > 0 && k < 4) {
    i--;
    k++;
    if ((s[i] & 0xC0) != 0x80) break;
  }
  if (n == 0 || (s[i] & 0xC0) == 0x80) return n; /* only continuation bytes: invalid, pass */
  unsigned char c = s[i];
  size_t need = c >= 0xF0 && c <= 0xF4   ? 4
                : c >= 0xE0 && c <= 0xEF ? 3
                : c >= 0xC2 && c <= 0xDF ? 2
                                         : 1;
  return n - i < need ? i : n;
}

static int emit_raw(llmrt__dec_t *d, int type, const char *s, size_t n) {
  if (n == 0) return 0;
  llmrt_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.text = s;
  ev.len = n;
  return llmrt__emit(d, &ev);
}

int llmrt__flush_text(llmrt__dec_t *d) {
  llmrt__pstate_t *st = d->st;
  if (!st || (!st->utf8_carry_len && !st->utf16_hi)) return 0;
  char tmp[8];
  size_t n = st->utf8_carry_len;
  memcpy(tmp, st->utf8_carry, n);
  if (st->utf16_hi) { /* a high surrogate whose pair never came */
    memcpy(tmp + n, "\xEF\xBF\xBD", 3);
    n += 3;
  }
  st->utf8_carry_len = 0;
  st->utf16_hi = 0;
  return emit_raw(d, st->utf8_carry_type, tmp, n);
}

int llmrt__emit_text(llmrt__dec_t *d, int type, int t) {
  const llmrt__json_t *j = &d->j;
  llmrt__pstate_t *st = d->st;
  if (llmrt__json_type(j, t) != LLMRT__JSON_STRING) return 0; /* null or absent */
  const llmrt__jtok_t *k = &j->tok[t];
  const char *raw = j->js + k->start;
  size_t rlen = k->end - k->start;
  if (!st) { /* a whole response: complete by construction */
    const char *s;
    size_t n;
    int rc = llmrt__json_str(j, t, &d->a, 0, &s, &n);
    return rc ? rc : emit_raw(d, type, s, n);
  }
  if ((st->utf8_carry_len || st->utf16_hi) && st->utf8_carry_type != type) {
    int rc = llmrt__flush_text(d);
    if (rc) return rc;
  }
  const char *s = raw;
  size_t n = rlen;
  if (k->esc || st->utf8_carry_len || st->utf16_hi) {
    /* carry + decoded text; decoding can add 3 bytes (U+FFFD for an unpaired
     * surrogate held from the last delta) but never grows the text itself. */
    char *buf = llmrt__jarena_alloc(&d->a, st->utf8_carry_len + rlen + 3);
    if (!buf) return LLMRT_ENOMEM;
    memcpy(buf, st->utf8_carry, st->utf8_carry_len);
    n = st->utf8_carry_len +
        llmrt__json_unescape(raw, rlen, buf + st->utf8_carry_len, &st->utf16_hi);
    st->utf8_carry_len = 0;
    s = buf;
  }
  size_t cut = llmrt__utf8_complete(s, n);
  if (cut < n) {
    memcpy(st->utf8_carry, s + cut, n - cut);
    st->utf8_carry_len = (unsigned)(n - cut);
  }
  if (st->utf8_carry_len || st->utf16_hi) st->utf8_carry_type = type;
  return emit_raw(d, type, s, cut);
}
