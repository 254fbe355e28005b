/* The metrics plugin's label sets: built in a stack buffer with the
 * exposition's escapes and clean UTF-8, and the GenAI sets built lately,
 * kept by upstream, request and response model to be copied, not rebuilt. */
#include <string.h>

#include "mp.h"

/* Only the start is set: the buffer is large and written before it is read. */
void labels_init(labels_t *l) {
  l->len = 0;
  l->full = 0;
  l->buf[0] = '\0';
}

/* Takes the labels back to the first len bytes. */
void labels_cut(labels_t *l, size_t len) {
  l->len = len;
  l->buf[len] = '\0';
}

/* Appends name="value" with the exposition's escapes (\\, \", \n); a value
 * longer than MAX_VALUE bytes is cut at a character boundary. */
/* Bytes of a valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * surrogates or code points past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  size_t k;
  if (c >= 0xC2 && c <= 0xDF)
    k = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    k = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    k = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  } else
    return 0;
  if (s[1] < lo || s[1] > hi) return 0; /* also stops at the NUL */
  for (size_t i = 2; i < k; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return k;
}

/* Appends name="value" as the exposition wants it: \, " and newline
 * escaped; other control characters as '?' and bytes that are not UTF-8 as
 * U+FFFD (Prometheus refuses a label value that is not UTF-8, and model
 * names come from users); at most MAX_VALUE bytes of value, cut between
 * characters. */
void label(labels_t *l, const char *name, const char *value) {
  if (l->full) return;
  size_t n = strlen(name);
  if (l->len + n + 3 * MAX_VALUE + 5 >= sizeof l->buf) {
    l->full = 1;
    return;
  }
  char *o = l->buf + l->len;
  if (l->len) *o++ = ',';
  memcpy(o, name, n);
  o += n;
  *o++ = '=';
  *o++ = '"';
  const unsigned char *v = (const unsigned char *)value;
  size_t i = 0;
  while (v[i] && i < MAX_VALUE) {
    unsigned char ch = v[i];
    if (ch >= 0x20 && ch < 0x7F && ch != '\\' && ch != '"') {
      *o++ = (char)ch;
      i++;
    } else if (ch == '\\' || ch == '"' || ch == '\n') {
      *o++ = '\\';
      *o++ = ch == '\n' ? 'n' : (char)ch;
      i++;
    } else if (ch < 0x80) {
      *o++ = '?';
      i++;
    } else {
      size_t k = utf8_seq(v + i);
      if (k && i + k > MAX_VALUE) break; /* would straddle the cut */
      if (k) {
        memcpy(o, v + i, k);
        o += k;
        i += k;
      } else {
        memcpy(o, "\xEF\xBF\xBD", 3);
        o += 3;
        i++;
      }
    }
  }
  *o++ = '"';
  *o = '\0';
  l->len = (size_t)(o - l->buf);
}

/* Our error names for error.type when the provider gave none. */
const char *err_name(int err) {
#define MP_ERR_CASE_(name, val, msg)                                                               \
  case val:                                                                                        \
    return "LLMRT_" #name;
  switch (err) { LLMRT_ERRNO_MAP(MP_ERR_CASE_) }
#undef MP_ERR_CASE_
  return "_OTHER";
}

/* ---- Recent label sets ---- */

int recent_find(mp_t *p, const char *const keys[3], labels_t *l) {
  for (size_t i = 0; i < sizeof p->recent / sizeof p->recent[0]; i++) {
    if (!p->recent[i].used || strcmp(p->recent[i].key[1], keys[1]) != 0 ||
        strcmp(p->recent[i].key[2], keys[2]) != 0 || strcmp(p->recent[i].key[0], keys[0]) != 0)
      continue;
    memcpy(l->buf, p->recent[i].labels, p->recent[i].len + 1u);
    l->len = p->recent[i].len;
    l->full = 0;
    return 1;
  }
  return 0;
}

/* Keeps a label set that fits, replacing the oldest kept. */
void recent_keep(mp_t *p, const char *const keys[3], const labels_t *l) {
  if (l->full || l->len >= sizeof p->recent[0].labels) return;
  for (int k = 0; k < 3; k++)
    if (strlen(keys[k]) >= sizeof p->recent[0].key[k]) return;
  unsigned i = p->recent_next++ % (sizeof p->recent / sizeof p->recent[0]);
  for (int k = 0; k < 3; k++)
    strcpy(p->recent[i].key[k], keys[k]);
  memcpy(p->recent[i].labels, l->buf, l->len + 1);
  p->recent[i].len = (uint16_t)l->len;
  p->recent[i].used = 1;
}
