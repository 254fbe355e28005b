/* Internal to lib/tokens: the shared encodings and the tokenizer object. */
#ifndef LLMRT_TOKENS_INTERNAL_H
#define LLMRT_TOKENS_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>

#include "llmrt/tokens.h"

/* One exact encoding: its rank table (embedded data) and compiled pattern.
 * Immutable once ready; shared by every tokenizer in the process. */
typedef struct {
  const char *name;
  const uint32_t *offsets; /* n_ranks + 1 */
  const uint32_t *slots;   /* n_slots, rank + 1 or 0 */
  const unsigned char *bytes;
  uint32_t n_ranks, n_slots;
  pcre2_code *re;          /* JIT-compiled */
  uint32_t byte_rank[256]; /* the rank of each single byte */
} llmrt__encoding_t;

/* Scratch memory of the merge: grows to the longest piece seen. */
typedef struct {
  uint32_t *start, *rank, *next, *prev, *ver; /* per part */
  uint64_t *heap;                             /* (rank << 32 | position) */
  uint32_t *hver;                             /* the version each heap entry saw */
  size_t cap;
} llmrt__bpe_scratch_t;

struct llmrt_tokenizer_s {
  const llmrt__encoding_t *enc; /* NULL: the estimator */
  const char *encoding;         /* the name it answers to */
  pcre2_match_data *md;
  llmrt__bpe_scratch_t s;
  char *fix; /* the text with invalid UTF-8 replaced, when it has any */
  size_t fix_cap;
  int o200k;   /* which pattern the ASCII fast path follows */
  int no_fast; /* tests: PCRE2 for every piece */
};

/* The ASCII fast path of pre-tokenization (pretok.c): 1 with *end set to
 * the end of the piece starting at s[i] (an ASCII byte), exactly as the
 * encoding's pattern would, or 0 when a non-ASCII byte could decide and
 * PCRE2 must. */
int llmrt__pretok_ascii(int o200k, const unsigned char *s, size_t n, size_t i, size_t *end);

/* The encoding by name, its pattern compiled on first use (thread-safe).
 * *enc NULL with 0: this build has no tables for it. LLMRT_EINVAL: unknown
 * name; LLMRT_ENOMEM. */
int llmrt__encoding_get(const char *name, const llmrt__encoding_t **enc);

/* Rank of a byte string, or UINT32_MAX when it is not a token. */
uint32_t llmrt__bpe_rank(const llmrt__encoding_t *e, const unsigned char *p, size_t n);

/* Splits one pre-tokenized piece into tokens: calls emit for each rank (when
 * emit is not NULL) and returns the count, or LLMRT_ENOMEM. */
int64_t llmrt__bpe_piece(const llmrt__encoding_t *e, llmrt__bpe_scratch_t *s,
                         const unsigned char *p, size_t n, void (*emit)(void *arg, uint32_t rank),
                         void *arg);
void llmrt__bpe_scratch_free(llmrt__bpe_scratch_t *s);

/* The estimator (estimate.c). */
int64_t llmrt__estimate(const char *text, size_t len);
/* Its features (F_N doubles, see estimate.c), for the calibration tool. */
void llmrt__estimate_features(const char *text, size_t len, double *f);
#define LLMRT__ESTIMATE_FEATURES 9

#endif
