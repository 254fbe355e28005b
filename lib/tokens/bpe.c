/* Byte-pair merging of one pre-tokenized piece, as tiktoken's core does it:
 * start from single bytes and merge, again and again, the adjacent pair
 * whose concatenation has the lowest rank (the leftmost on a tie) until no
 * pair is a token.
 *
 * A piece that is a token by itself (most English words) is one hash lookup.
 * Short pieces use tiktoken's own array scan (quadratic, but with a handful of
 * parts that is the fastest); long pieces (runs of spaces, long words, base64)
 * use a linked list and a min-heap keyed by (rank, position) with stale
 * entries skipped, which is the same order in O(n log n), so hostile input
 * cannot make counting quadratic. */
#include <string.h>

#include "core/core.h"
#include "tokens/bpe_data.h"
#include "tokens/tokens_internal.h"

#define SHORT_PIECE 32
#define NONE UINT32_MAX

uint32_t llmrt__bpe_rank(const llmrt__encoding_t *e, const unsigned char *p, size_t n) {
  uint32_t mask = e->n_slots - 1;
  uint32_t full = llmrt__bpe_hash(p, n);
  uint32_t tag = LLMRT__BPE_TAG(full), h = full & mask;
  for (;;) {
    uint32_t v = e->slots[h];
    if (!v) return NONE;
    if (v >> LLMRT__BPE_RANK_BITS == tag) {
      uint32_t r = (v & LLMRT__BPE_RANK_MASK) - 1;
      uint32_t off = e->offsets[r];
      if (e->offsets[r + 1] - off == n && !memcmp(e->bytes + off, p, n)) return r;
    }
    h = (h + 1) & mask;
  }
}

void llmrt__bpe_scratch_free(llmrt__bpe_scratch_t *s) {
  llmrt__free(s->start);
  llmrt__free(s->heap);
  memset(s, 0, sizeof *s);
}

/* Room for a piece of n bytes. One block for the per-part arrays, one for
 * the heap (three entries per part: the first pairs and two per merge). */
static int reserve(llmrt__bpe_scratch_t *s, size_t n) {
  if (n + 1 <= s->cap) return 0;
  size_t cap = s->cap ? s->cap : 256;
  while (cap < n + 1)
    cap *= 2;
  if (cap > (size_t)UINT32_MAX / 4) return LLMRT_ENOMEM;
  uint32_t *a = llmrt__malloc(cap * 5 * sizeof *a);
  uint64_t *h = llmrt__malloc(cap * 3 * (sizeof *h + sizeof(uint32_t)));
  if (!a || !h) {
    llmrt__free(a);
    llmrt__free(h);
    return LLMRT_ENOMEM;
  }
  llmrt__bpe_scratch_free(s);
  s->start = a;
  s->rank = a + cap;
  s->next = a + 2 * cap;
  s->prev = a + 3 * cap;
  s->ver = a + 4 * cap;
  s->heap = h;
  s->hver = (uint32_t *)(h + 3 * cap);
  s->cap = cap;
  return 0;
}

static int64_t merge_short(const llmrt__encoding_t *e, llmrt__bpe_scratch_t *s,
                           const unsigned char *p, size_t n, void (*emit)(void *arg, uint32_t rank),
                           void *arg) {
  uint32_t *start = s->start, *rank = s->rank;
  size_t m = n + 1; /* parts, the last one the end */
  for (size_t i = 0; i < n; i++) {
    start[i] = (uint32_t)i;
    rank[i] = i + 2 <= n ? llmrt__bpe_rank(e, p + i, 2) : NONE;
  }
  start[n] = (uint32_t)n;
  rank[n] = NONE;
  for (;;) {
    uint32_t best = NONE;
    size_t bi = 0;
    for (size_t i = 0; i + 1 < m; i++)
      if (rank[i] < best) {
        best = rank[i];
        bi = i;
      }
    if (best == NONE) break;
    /* Merge part bi with bi + 1: the pairs that change are bi - 1 and bi. */
    memmove(start + bi + 1, start + bi + 2, (m - bi - 2) * sizeof *start);
    memmove(rank + bi + 1, rank + bi + 2, (m - bi - 2) * sizeof *rank);
    m--;
    rank[bi] = bi + 2 < m ? llmrt__bpe_rank(e, p + start[bi], start[bi + 2] - start[bi]) : NONE;
    if (bi > 0) rank[bi - 1] = llmrt__bpe_rank(e, p + start[bi - 1], start[bi + 1] - start[bi - 1]);
  }
  if (emit)
    for (size_t i = 0; i + 1 < m; i++)
      emit(arg, llmrt__bpe_rank(e, p + start[i], start[i + 1] - start[i]));
  return (int64_t)(m - 1);
}

/* The heap: keys (rank << 32 | position), each with the version of its
 * position's pair when pushed. */
typedef struct {
  uint64_t *key;
  uint32_t *ver;
  size_t n;
} heap_t;

static void heap_push(heap_t *h, uint64_t key, uint32_t ver) {
  size_t i = h->n++;
  while (i > 0) {
    size_t up = (i - 1) / 2;
    if (h->key[up] <= key) break;
    h->key[i] = h->key[up];
    h->ver[i] = h->ver[up];
    i = up;
  }
  h->key[i] = key;
  h->ver[i] = ver;
}

static void heap_pop(heap_t *h, uint64_t *key, uint32_t *ver) {
  *key = h->key[0];
  *ver = h->ver[0];
  uint64_t k = h->key[--h->n];
  uint32_t v = h->ver[h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && h->key[c + 1] < h->key[c]) c++;
    if (k <= h->key[c]) break;
    h->key[i] = h->key[c];
    h->ver[i] = h->ver[c];
    i = c;
  }
  h->key[i] = k;
  h->ver[i] = v;
}

static int64_t merge_long(const llmrt__encoding_t *e, llmrt__bpe_scratch_t *s,
                          const unsigned char *p, size_t n, void (*emit)(void *arg, uint32_t rank),
                          void *arg) {
  uint32_t *next = s->next, *prev = s->prev, *ver = s->ver;
  heap_t h = {s->heap, s->hver, 0};
  /* Part i starts at byte i (a merge removes the right part), so a part is
   * named by its start and next[i] is where it ends. */
  for (size_t i = 0; i < n; i++) {
    next[i] = (uint32_t)i + 1;
    prev[i] = (uint32_t)i - 1; /* NONE for the first */
    ver[i] = 0;
    if (i + 2 <= n) {
      uint32_t r = llmrt__bpe_rank(e, p + i, 2);
      if (r != NONE) heap_push(&h, (uint64_t)r << 32 | i, 0);
    }
  }
  size_t parts = n;
  while (h.n) {
    uint64_t key;
    uint32_t v;
    heap_pop(&h, &key, &v);
    uint32_t i = (uint32_t)key;
    if (v != ver[i]) continue; /* the pair changed since */
    uint32_t j = next[i];
    ver[j]++; /* j is gone: its entries are stale */
    next[i] = next[j];
    if (next[j] < n) prev[next[j]] = i;
    parts--;
    ver[i]++;
    if (next[i] < n) {
      uint32_t r = llmrt__bpe_rank(e, p + i, next[next[i]] - i);
      if (r != NONE) heap_push(&h, (uint64_t)r << 32 | i, ver[i]);
    }
    if (prev[i] != NONE) {
      uint32_t q = prev[i];
      ver[q]++;
      uint32_t r = llmrt__bpe_rank(e, p + q, next[i] - q);
      if (r != NONE) heap_push(&h, (uint64_t)r << 32 | q, ver[q]);
    }
  }
  if (emit)
    for (uint32_t i = 0; i < n; i = next[i])
      emit(arg, llmrt__bpe_rank(e, p + i, next[i] - i));
  return (int64_t)parts;
}

int64_t llmrt__bpe_piece(const llmrt__encoding_t *e, llmrt__bpe_scratch_t *s,
                         const unsigned char *p, size_t n, void (*emit)(void *arg, uint32_t rank),
                         void *arg) {
  if (n == 1) {
    if (emit) emit(arg, e->byte_rank[p[0]]);
    return 1;
  }
  uint32_t r = llmrt__bpe_rank(e, p, n);
  if (r != NONE) {
    if (emit) emit(arg, r);
    return 1;
  }
  if (n >= (size_t)UINT32_MAX) return LLMRT_ENOMEM;
  if (reserve(s, n)) return LLMRT_ENOMEM;
  return n <= SHORT_PIECE ? merge_short(e, s, p, n, emit, arg) : merge_long(e, s, p, n, emit, arg);
}
