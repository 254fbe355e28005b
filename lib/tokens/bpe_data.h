/* The compiled form of a BPE rank file, shared by the build-time converter
 * (gen/rankgen.c) and the loader (bpe.c). The converter writes it for the
 * machine it runs on (native byte order); the build embeds it in the library.
 *
 * Layout, every field a native uint32_t unless stated:
 *   magic (LLMRT__BPE_MAGIC), n_ranks, n_slots (a power of two), n_bytes,
 *   pattern_len, 0 (reserved)
 *   offsets[n_ranks + 1]   token r is bytes[offsets[r] .. offsets[r+1])
 *                          (empty for a rank the file does not use)
 *   slots[n_slots]         open-addressed hash table (linear probing from
 *                          hash & (n_slots - 1)): 0 = empty, else
 *                          (rank + 1) | tag << 20, the tag being the top 12
 *                          bits of the hash, so most misses never touch the
 *                          token bytes
 *   bytes[n_bytes]         token bytes, then the pattern (pattern_len bytes)
 * Special tokens are left out: a prompt's "<|endoftext|>" is counted as the
 * ordinary text it is (tiktoken's encode_ordinary).
 */
#ifndef LLMRT_BPE_DATA_H
#define LLMRT_BPE_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LLMRT__BPE_MAGIC 0x4C425032u /* "2PBL": tagged slots */
#define LLMRT__BPE_RANK_BITS 20
#define LLMRT__BPE_RANK_MASK ((1u << LLMRT__BPE_RANK_BITS) - 1)
#define LLMRT__BPE_TAG(h) ((h) >> LLMRT__BPE_RANK_BITS)
#define LLMRT__BPE_HEADER_WORDS 6

/* The hash of a token's bytes: 8 bytes a step, a multiply and a rotate. The
 * converter and the loader must agree on it exactly. */
static inline uint32_t llmrt__bpe_hash(const unsigned char *p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  }
  h ^= h >> 29;
  h *= 0x9E3779B97F4A7C15ull;
  return (uint32_t)(h >> 32);
}

#endif
