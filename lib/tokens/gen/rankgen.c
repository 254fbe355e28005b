/* Build-time converter: reads one of tiktoken's npm rank files
 * (encoders/<name>.json: {"pat_str", "special_tokens", "bpe_ranks"}) and
 * writes the compiled form described in lib/tokens/bpe_data.h.
 *
 * bpe_ranks is tiktoken's compact text: lines of "<tag> <first rank> <b64>
 * <b64> ...", each token taking the next rank. The pattern is rewritten for
 * PCRE2: \s and \S become explicit classes of Unicode's White_Space property,
 * which is what the Rust regex engine of tiktoken means by \s (PCRE2's \s also
 * matches U+180E).
 *
 * usage: rankgen IN.json OUT.bin */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bpe_data.h"

#define WS                                                                                         \
  "\\t-\\r "                                                                                       \
  "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes n base64 characters into out; returns the byte count or -1. */
static long b64dec(const char *s, size_t n, unsigned char *out) {
  long o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '=') break;
    int v = b64val((unsigned char)s[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  return o;
}

static char *rewrite_pattern(const char *p) {
  size_t cap = strlen(p) * 16 + 1;
  char *out = malloc(cap), *o = out;
  int in_class = 0;
  if (!out) return NULL;
  for (; *p; p++) {
    if (*p == '\\' && p[1]) {
      if (p[1] == 's' || p[1] == 'S') {
        if (in_class) {
          if (p[1] == 'S') { /* not in tiktoken's patterns; refuse rather than guess */
            free(out);
            return NULL;
          }
          o += sprintf(o, "%s", WS);
        } else {
          o += sprintf(o, p[1] == 's' ? "[%s]" : "[^%s]", WS);
        }
        p++;
        continue;
      }
      *o++ = *p++;
      *o++ = *p;
      continue;
    }
    if (*p == '[')
      in_class = 1;
    else if (*p == ']')
      in_class = 0;
    *o++ = *p;
  }
  *o = 0;
  return out;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) buf[n] = 0;
  *len = (size_t)n;
  return buf;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: rankgen IN.json OUT.bin\n");
    return 2;
  }
  size_t jlen;
  char *json = slurp(argv[1], &jlen);
  if (!json) {
    perror(argv[1]);
    return 1;
  }
  cJSON *root = cJSON_Parse(json);
  cJSON *pat = cJSON_GetObjectItem(root, "pat_str");
  cJSON *ranks = cJSON_GetObjectItem(root, "bpe_ranks");
  if (!cJSON_IsString(pat) || !cJSON_IsString(ranks)) {
    fprintf(stderr, "rankgen: %s is not a tiktoken rank file\n", argv[1]);
    return 1;
  }
  char *pattern = rewrite_pattern(pat->valuestring);
  if (!pattern) {
    fprintf(stderr, "rankgen: unexpected pattern in %s\n", argv[1]);
    return 1;
  }
  /* Pass 1: ranks and bytes. */
  const char *s = ranks->valuestring;
  size_t slen = strlen(s);
  uint32_t cap = 1 << 18, n_ranks = 0;
  uint32_t *start = calloc(cap, sizeof *start), *len = calloc(cap, sizeof *len);
  unsigned char *bytes = malloc(slen);
  uint32_t n_bytes = 0, n_tokens = 0;
  const char *line = s;
  while (line < s + slen) {
    const char *eol = memchr(line, '\n', (size_t)(s + slen - line));
    if (!eol) eol = s + slen;
    const char *sp = memchr(line, ' ', (size_t)(eol - line));
    if (sp) {
      char *end;
      unsigned long r = strtoul(sp + 1, &end, 10);
      const char *t = end;
      while (t < eol) {
        while (t < eol && *t == ' ')
          t++;
        const char *te = t;
        while (te < eol && *te != ' ')
          te++;
        if (te == t) break;
        if (r >= cap) {
          fprintf(stderr, "rankgen: rank %lu too large\n", r);
          return 1;
        }
        long k = b64dec(t, (size_t)(te - t), bytes + n_bytes);
        if (k <= 0) {
          fprintf(stderr, "rankgen: bad base64 at rank %lu\n", r);
          return 1;
        }
        start[r] = n_bytes;
        len[r] = (uint32_t)k;
        n_bytes += (uint32_t)k;
        if (r + 1 > n_ranks) n_ranks = (uint32_t)r + 1;
        n_tokens++;
        r++;
        t = te;
      }
    }
    line = eol + 1;
  }
  uint32_t n_slots = 1;
  while (n_slots < n_tokens * 2u + 2u)
    n_slots <<= 1;
  /* Sorted by rank, the bytes already are: offsets are running sums. */
  uint32_t *offsets = calloc(n_ranks + 1, sizeof *offsets);
  unsigned char *sorted = malloc(n_bytes + strlen(pattern) + 1);
  uint32_t o = 0;
  for (uint32_t r = 0; r < n_ranks; r++) {
    offsets[r] = o;
    memcpy(sorted + o, bytes + start[r], len[r]);
    o += len[r];
  }
  offsets[n_ranks] = o;
  uint32_t *slots = calloc(n_slots, sizeof *slots);
  if (n_ranks >= LLMRT__BPE_RANK_MASK) {
    fprintf(stderr, "rankgen: %u ranks do not fit the slot format\n", n_ranks);
    return 1;
  }
  for (uint32_t r = 0; r < n_ranks; r++) {
    if (!len[r]) continue;
    uint32_t full = llmrt__bpe_hash(sorted + offsets[r], len[r]);
    uint32_t h = full & (n_slots - 1);
    while (slots[h]) {
      uint32_t q = (slots[h] & LLMRT__BPE_RANK_MASK) - 1;
      if (len[q] == len[r] && !memcmp(sorted + offsets[q], sorted + offsets[r], len[r])) {
        fprintf(stderr, "rankgen: duplicate token at ranks %u and %u\n", q, r);
        return 1;
      }
      h = (h + 1) & (n_slots - 1);
    }
    slots[h] = (r + 1) | LLMRT__BPE_TAG(full) << LLMRT__BPE_RANK_BITS;
  }
  uint32_t plen = (uint32_t)strlen(pattern);
  memcpy(sorted + o, pattern, plen);
  FILE *f = fopen(argv[2], "wb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  uint32_t hdr[LLMRT__BPE_HEADER_WORDS] = {LLMRT__BPE_MAGIC, n_ranks, n_slots, n_bytes, plen, 0};
  int ok = fwrite(hdr, sizeof hdr, 1, f) == 1 &&
           fwrite(offsets, sizeof *offsets, n_ranks + 1, f) == n_ranks + 1 &&
           fwrite(slots, sizeof *slots, n_slots, f) == n_slots &&
           fwrite(sorted, 1, o + plen, f) == o + plen;
  if (fclose(f) != 0 || !ok) {
    fprintf(stderr, "rankgen: cannot write %s\n", argv[2]);
    remove(argv[2]);
    return 1;
  }
  free(json);
  free(pattern);
  free(start);
  free(len);
  free(bytes);
  free(offsets);
  free(sorted);
  free(slots);
  cJSON_Delete(root);
  return 0;
}
