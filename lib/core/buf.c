/* Growable byte buffer: amortized doubling, always NUL-terminated. */
#include <stdio.h>
#include <string.h>

#include "core.h"

void llmrt__buf_init(llmrt__buf_t *b) {
  b->data = NULL;
  b->len = b->cap = 0;
}

void llmrt__buf_free(llmrt__buf_t *b) {
  llmrt__free(b->data);
  llmrt__buf_init(b);
}

void llmrt__buf_reset(llmrt__buf_t *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

int llmrt__buf_reserve(llmrt__buf_t *b, size_t extra) {
  if (extra > SIZE_MAX / 2 - b->len) return LLMRT_ENOMEM;
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  char *p = llmrt__realloc(b->data, cap);
  if (!p) return LLMRT_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int llmrt__buf_append(llmrt__buf_t *b, const void *p, size_t n) {
  int r = llmrt__buf_reserve(b, n);
  if (r) return r;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int llmrt__buf_puts(llmrt__buf_t *b, const char *s) {
  return llmrt__buf_append(b, s, strlen(s));
}

int llmrt__buf_printf(llmrt__buf_t *b, const char *fmt, ...) {
  va_list ap;
  char small[256];
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return LLMRT_EINVAL;
  if ((size_t)n < sizeof small) return llmrt__buf_append(b, small, (size_t)n);
  int r = llmrt__buf_reserve(b, (size_t)n);
  if (r) return r;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void llmrt__buf_consume(llmrt__buf_t *b, size_t n) {
  if (n >= b->len) {
    llmrt__buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}
