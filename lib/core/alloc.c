/* The allocator hook. One set of functions serves llmrt, libuv and cJSON so
 * that tests which fail allocations in turn reach everything we can reach. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static void *(*g_malloc)(size_t) = malloc;
static void *(*g_realloc)(void *, size_t) = realloc;
static void *(*g_calloc)(size_t, size_t) = calloc;
static void (*g_free)(void *) = free;

int llmrt_set_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                        void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *)) {
  int n = !!malloc_fn + !!realloc_fn + !!calloc_fn + !!free_fn;
  if (n != 0 && n != 4) return LLMRT_EINVAL;
  g_malloc = malloc_fn ? malloc_fn : malloc;
  g_realloc = realloc_fn ? realloc_fn : realloc;
  g_calloc = calloc_fn ? calloc_fn : calloc;
  g_free = free_fn ? free_fn : free;
  /* libuv refuses a replacement once it has allocated; that is fine, it then
   * keeps the C library's allocator and our counts simply miss its share. */
  uv_replace_allocator(g_malloc, g_realloc, g_calloc, g_free);
  cJSON_Hooks hooks = {g_malloc, g_free};
  cJSON_InitHooks(&hooks);
  return 0;
}

void *llmrt__malloc(size_t n) {
  return g_malloc(n ? n : 1);
}

void *llmrt__calloc(size_t count, size_t n) {
  if (count == 0 || n == 0) count = n = 1;
  return g_calloc(count, n);
}

void *llmrt__realloc(void *p, size_t n) {
  return g_realloc(p, n ? n : 1);
}

void llmrt__free(void *p) {
  if (p) g_free(p);
}

char *llmrt__strndup(const char *s, size_t n) {
  if (!s) return NULL;
  char *d = llmrt__malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *llmrt__strdup(const char *s) {
  return s ? llmrt__strndup(s, strlen(s)) : NULL;
}

void llmrt_free(void *p) {
  llmrt__free(p);
}
