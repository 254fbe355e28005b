/* A memo of message token counts across calls. A chat sends its whole
 * history again on every turn; counting only the messages not seen before
 * makes trim's cost follow the new text instead of the history's length.
 *
 * Direct-mapped, fixed size (allocated in init, nothing per call). The key
 * is two 64-bit hashes, seeded at random per instance, of everything the
 * count depends on (model, encoding, role, name, tool ids and calls,
 * content, each with its length), so a crafted message cannot aim at another
 * one's entry; on a hit the stored count is used. */
#include <stdlib.h>
#include <string.h>

#include "trim.h"

typedef struct {
  uint64_t a, b; /* 0, 0: empty */
  int64_t tokens;
} entry_t;

struct trim__memo_s {
  size_t size; /* a power of two */
  uint64_t seed_a, seed_b;
  entry_t e[];
};

trim__memo_t *trim__memo_new(size_t size, uint64_t seed) {
  if (!size) return NULL;
  size_t n = 1;
  while (n < size)
    n <<= 1;
  trim__memo_t *m = trim__H->calloc(1, sizeof *m + n * sizeof(entry_t));
  if (!m) return NULL;
  m->size = n;
  m->seed_a = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  m->seed_b = (seed ^ 0xA0761D6478BD642Full) * 0xE7037ED1A0B428DBull + 1;
  return m;
}

void trim__memo_free(trim__memo_t *m) {
  trim__H->free(m);
}

/* Two lanes of multiply-xorshift over the bytes, then the length. */
static void mix(uint64_t *a, uint64_t *b, const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t x = *a, y = *b;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    x = (x ^ w) * 0xFF51AFD7ED558CCDull;
    x ^= x >> 31;
    y = (y ^ w) * 0xC4CEB9FE1A85EC53ull;
    y ^= y >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  x = (x ^ w ^ (uint64_t)n << 56) * 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  y = (y ^ w ^ (uint64_t)n << 56) * 0xC4CEB9FE1A85EC53ull;
  y ^= y >> 31;
  *a = x;
  *b = y;
}

static void mix_str(uint64_t *a, uint64_t *b, const char *s, size_t n) {
  uint64_t len = s ? (uint64_t)n + 1 : 0; /* NULL and "" differ */
  mix(a, b, &len, sizeof len);
  if (s) mix(a, b, s, n);
}

void trim__memo_key(const trim__memo_t *m, const char *model, const char *encoding,
                    const llmrt_message_t *msg, uint64_t key[2]) {
  uint64_t a = m->seed_a, b = m->seed_b;
  mix_str(&a, &b, model, model ? strlen(model) : 0);
  mix_str(&a, &b, encoding, encoding ? strlen(encoding) : 0);
  mix_str(&a, &b, msg->role, msg->role ? strlen(msg->role) : 0);
  mix_str(&a, &b, msg->name, msg->name ? strlen(msg->name) : 0);
  mix_str(&a, &b, msg->tool_call_id, msg->tool_call_id ? strlen(msg->tool_call_id) : 0);
  mix_str(&a, &b, msg->tool_calls_json, msg->tool_calls_json ? strlen(msg->tool_calls_json) : 0);
  mix_str(&a, &b, msg->content, msg->content ? msg->content_len : 0);
  if (!a && !b) a = 1; /* 0, 0 means empty */
  key[0] = a;
  key[1] = b;
}

int trim__memo_get(const trim__memo_t *m, const uint64_t key[2], int64_t *tokens) {
  const entry_t *e = &m->e[key[0] & (m->size - 1)];
  if (e->a != key[0] || e->b != key[1]) return 0;
  *tokens = e->tokens;
  return 1;
}

void trim__memo_put(trim__memo_t *m, const uint64_t key[2], int64_t tokens) {
  entry_t *e = &m->e[key[0] & (m->size - 1)];
  e->a = key[0];
  e->b = key[1];
  e->tokens = tokens;
}
