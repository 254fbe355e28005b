/* Helpers for deep copies of a caller's request into one block: llmrt_call
 * (call.c) and the thread mode's submit (thread_req.c) both copy requests
 * this way. Header only: each is a few lines. */
#ifndef LLMRT_CHAIN_COPY_H
#define LLMRT_CHAIN_COPY_H

#include <stdint.h>
#include <string.h>

/* The length of a string given with an optional length (0: NUL-terminated);
 * 0 for NULL. */
static inline size_t llmrt__copy_len(const char *s, size_t n) {
  return !s ? 0 : n ? n : strlen(s);
}

/* Bytes a string takes in the block, its NUL included; 0 for NULL. */
static inline size_t llmrt__copy_sz(const char *s) {
  return s ? strlen(s) + 1 : 0;
}

/* Copies n bytes of s and a NUL to *at and moves *at past them; NULL for NULL. */
static inline char *llmrt__copy_put(char **at, const char *s, size_t n) {
  if (!s) return NULL;
  char *d = *at;
  memcpy(d, s, n);
  d[n] = '\0';
  *at += n + 1;
  return d;
}

static inline char *llmrt__copy_put_s(char **at, const char *s) {
  return s ? llmrt__copy_put(at, s, strlen(s)) : NULL;
}

/* Reads a caller's struct of `have` bytes into ours (already initialized):
 * the fields it does not cover keep their value (struct_size 0 stands for
 * `v2`, ABI 2.0's size). */
static inline void llmrt__copy_sized(void *dst, const void *src, uint32_t have, size_t v2,
                                     size_t ours) {
  size_t n = have ? have : v2;
  memcpy(dst, src, n < ours ? n : ours);
}

#endif
