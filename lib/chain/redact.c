/* Keeping the API key out of everything a caller sees. Some upstreams and
 * proxies echo the credentials they were given, whole or in part, in error
 * bodies, ids or model names. Redacting only whole copies of the key is not
 * enough: a message cut to length, or an upstream that echoes a key's
 * middle, leaves a fragment. So every run of MIN_RUN or more bytes that also
 * stands anywhere in the key is replaced, wherever it came from. This runs
 * on completion over short strings (error path, ids), never per event. */
#include <string.h>

#include "call.h"

#define MIN_RUN 6
static const char mark[] = "[redacted]";

/* Length of the longest run at s that stands somewhere in key. */
static size_t run_at(const char *s, const char *key, size_t klen) {
  size_t best = 0;
  for (size_t j = 0; j < klen; j++) {
    if (key[j] != s[0]) continue;
    size_t n = 1;
    while (j + n < klen && s[n] && s[n] == key[j + n]) n++;
    if (n > best) best = n;
  }
  return best;
}

static size_t min_run(size_t klen) {
  return klen < MIN_RUN ? klen : MIN_RUN;
}

/* Writes the redacted s to out (cap bytes, may be 0 to measure); returns the
 * length it needs. */
static size_t redact_into(const char *s, const char *key, size_t klen, char *out, size_t cap) {
  size_t n = 0, need = min_run(klen), written = 0;
  int full = cap == 0;
  while (*s) {
    size_t r = run_at(s, key, klen);
    const char *piece = s;
    size_t plen = 1;
    if (r >= need) {
      piece = mark;
      plen = sizeof mark - 1;
    }
    /* A piece that does not fit ends the output: never half a mark
     * followed by what the buffer held before. */
    if (!full && n + plen < cap) {
      memcpy(out + n, piece, plen);
      written = n + plen;
    } else {
      full = 1;
    }
    n += plen;
    s += r >= need ? r : 1;
  }
  if (cap) out[written] = '\0';
  return n;
}

static int has_run(const char *s, const char *key, size_t klen) {
  size_t need = min_run(klen);
  for (; *s; s++)
    if (run_at(s, key, klen) >= need) return 1;
  return 0;
}

int llmrt__redact_needed(const char *s, const char *key) {
  size_t klen = key ? strlen(key) : 0;
  return s && klen && has_run(s, key, klen);
}

void llmrt__redact(char **s, const char *key) {
  size_t klen = key ? strlen(key) : 0;
  if (!*s || !klen || !has_run(*s, key, klen)) return;
  size_t n = redact_into(*s, key, klen, NULL, 0);
  char *out = llmrt__malloc(n + 1);
  if (!out) {
    /* No memory for the copy: cut the string before its first fragment. */
    for (char *p = *s; *p; p++)
      if (run_at(p, key, klen) >= min_run(klen)) {
        *p = '\0';
        break;
      }
    return;
  }
  redact_into(*s, key, klen, out, n + 1);
  llmrt__free(*s);
  *s = out;
}

void llmrt__redact_buf(char *s, size_t cap, const char *key) {
  size_t klen = key ? strlen(key) : 0;
  if (!s || !cap || !klen || !has_run(s, key, klen)) return;
  char tmp[512];
  size_t n = strlen(s);
  if (n >= sizeof tmp) n = sizeof tmp - 1;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  redact_into(tmp, key, klen, s, cap);
}

void llmrt__utf8_trim(char *s) {
  size_t n = strlen(s), i = n, k = 0;
  while (i > 0 && k < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--, k++;
  if (i == 0) return;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t need = lead < 0x80 ? 0 : lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
  if (lead >= 0x80 && need != k) s[i - 1] = '\0'; /* a character cut by the end */
}
