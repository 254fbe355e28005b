/* The exact encodings: rank tables embedded at build time (from tiktoken's
 * npm rank files, see lib/tokens/gen/rankgen.c and CMakeLists.txt) and their
 * pre-tokenization patterns, compiled with PCRE2's JIT on first use.
 *
 * The compiled patterns live for the whole process and are allocated with the
 * system allocator, not llmrt's: they are shared by every runtime and thread
 * and are not a call's or a runtime's memory. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/core.h"
#include "tokens/bpe_data.h"
#include "tokens/tokens_internal.h"

#ifdef LLMRT_HAVE_O200K
extern const unsigned char llmrt__bpe_blob_o200k[] __attribute__((visibility("hidden")));
#endif
#ifdef LLMRT_HAVE_CL100K
extern const unsigned char llmrt__bpe_blob_cl100k[] __attribute__((visibility("hidden")));
#endif

typedef struct {
  const char *name;
  const unsigned char *blob;
  llmrt__encoding_t enc;
  atomic_int ready;
} slot_t;

static slot_t encodings[] = {
    {LLMRT_ENCODING_O200K,
#ifdef LLMRT_HAVE_O200K
     llmrt__bpe_blob_o200k,
#else
     NULL,
#endif
     {0},
     0},
    {LLMRT_ENCODING_CL100K,
#ifdef LLMRT_HAVE_CL100K
     llmrt__bpe_blob_cl100k,
#else
     NULL,
#endif
     {0},
     0},
};

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static int load(slot_t *s) {
  const uint32_t *h = (const uint32_t *)(const void *)s->blob;
  if (h[0] != LLMRT__BPE_MAGIC) return LLMRT_EINVAL;
  llmrt__encoding_t *e = &s->enc;
  e->name = s->name;
  e->n_ranks = h[1];
  e->n_slots = h[2];
  uint32_t n_bytes = h[3], plen = h[4];
  e->offsets = h + LLMRT__BPE_HEADER_WORDS;
  e->slots = e->offsets + e->n_ranks + 1;
  e->bytes = (const unsigned char *)(e->slots + e->n_slots);
  for (int b = 0; b < 256; b++) {
    unsigned char c = (unsigned char)b;
    e->byte_rank[b] = llmrt__bpe_rank(e, &c, 1);
    if (e->byte_rank[b] == UINT32_MAX) return LLMRT_EINVAL; /* byte-level BPE has all 256 */
  }
  int errcode;
  PCRE2_SIZE erroff;
  e->re = pcre2_compile((PCRE2_SPTR)(e->bytes + n_bytes), plen, PCRE2_UTF | PCRE2_UCP, &errcode,
                        &erroff, NULL);
  if (!e->re) return errcode == PCRE2_ERROR_NOMEMORY ? LLMRT_ENOMEM : LLMRT_EINVAL;
  if (pcre2_jit_compile(e->re, PCRE2_JIT_COMPLETE) != 0) {
    /* Without the JIT (an unsupported CPU, or memory) the interpreter gives
     * the same matches, only slower. */
  }
  return 0;
}

int llmrt__encoding_get(const char *name, const llmrt__encoding_t **enc) {
  *enc = NULL;
  for (size_t i = 0; i < sizeof encodings / sizeof *encodings; i++) {
    slot_t *s = &encodings[i];
    if (strcmp(name, s->name)) continue;
    if (!s->blob) return 0;
    if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
      int r = 0;
      pthread_mutex_lock(&init_lock);
      if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
        r = load(s);
        if (r == 0) atomic_store_explicit(&s->ready, 1, memory_order_release);
      }
      pthread_mutex_unlock(&init_lock);
      if (r) return r;
    }
    *enc = &s->enc;
    return 0;
  }
  return LLMRT_EINVAL;
}

int llmrt_tokens_have(const char *encoding) {
  if (!encoding) return 0;
  for (size_t i = 0; i < sizeof encodings / sizeof *encodings; i++)
    if (!strcmp(encoding, encodings[i].name)) return encodings[i].blob != NULL;
  return 0;
}
