/* The failing, counting allocator of tests/common/failalloc.h. It keeps no
 * header in front of blocks (sizes come from malloc_usable_size), so blocks
 * may cross between it and the C library's allocator. */
#include "failalloc.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "llmrt.h"
#include "test.h"

enum { MODE_ONE, MODE_FROM };

static atomic_int g_armed, g_mode, g_thread_only, g_failed;
static atomic_long g_count, g_fail_at;
static _Thread_local int t_armer; /* this thread armed with failalloc_arm_thread */

static atomic_long g_live;
static _Thread_local long t_live;
static atomic_size_t g_live_bytes, g_peak_bytes;

static atomic_size_t g_fail_size;
static atomic_int g_fail_size_times, g_size_failures;
static atomic_int g_moving;

/* Called once per allocation attempt; 1: this one fails. */
static int should_fail(void) {
  if (!atomic_load(&g_armed)) return 0;
  if (atomic_load(&g_thread_only) && !t_armer) return 0;
  long n = atomic_fetch_add(&g_count, 1) + 1;
  long at = atomic_load(&g_fail_at);
  if (at <= 0) return 0;
  if (n == at || (n > at && atomic_load(&g_mode) == MODE_FROM)) {
    atomic_store(&g_failed, 1);
    return 1;
  }
  return 0;
}

static int should_fail_size(size_t n) {
  if (atomic_load(&g_fail_size_times) <= 0 || n != atomic_load(&g_fail_size)) return 0;
  atomic_fetch_sub(&g_fail_size_times, 1);
  atomic_fetch_add(&g_size_failures, 1);
  return 1;
}

static void *gained(void *p) {
  if (!p) return NULL;
  atomic_fetch_add(&g_live, 1);
  t_live++;
  size_t now = atomic_fetch_add(&g_live_bytes, malloc_usable_size(p)) + malloc_usable_size(p);
  size_t peak = atomic_load(&g_peak_bytes);
  while (now > peak && !atomic_compare_exchange_weak(&g_peak_bytes, &peak, now)) {
  }
  return p;
}

static void lost(void *p) {
  atomic_fetch_sub(&g_live, 1);
  t_live--;
  atomic_fetch_sub(&g_live_bytes, malloc_usable_size(p));
}

static void *fa_malloc(size_t n) {
  if (should_fail_size(n) || should_fail()) return NULL;
  return gained(malloc(n));
}

static void *fa_calloc(size_t count, size_t n) {
  if (should_fail_size(n) || should_fail()) return NULL;
  return gained(calloc(count, n));
}

static void fa_free(void *p) {
  if (!p) return;
  lost(p);
  free(p);
}

static void *fa_realloc(void *p, size_t n) {
  if (!p) return fa_malloc(n);
  if (n == 0) {
    fa_free(p);
    return NULL;
  }
  if (should_fail()) return NULL;
  size_t old = malloc_usable_size(p);
  if (atomic_load(&g_moving)) {
    void *q = gained(malloc(n));
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    memset(p, 0xA5, old);
    fa_free(p);
    return q;
  }
  void *q = realloc(p, n);
  if (!q) return NULL;
  /* The block is the same one, perhaps moved: only its size changed. */
  atomic_fetch_sub(&g_live_bytes, old);
  atomic_fetch_sub(&g_live, 1);
  t_live--;
  return gained(q);
}

void failalloc_install(void) {
  ASSERT_EQ(llmrt_set_allocator(fa_malloc, fa_realloc, fa_calloc, fa_free), 0);
}

void failalloc_uninstall(void) {
  ASSERT_EQ(llmrt_set_allocator(NULL, NULL, NULL, NULL), 0);
}

static void arm(long n, int mode, int thread_only) {
  atomic_store(&g_armed, 0);
  atomic_store(&g_count, 0);
  atomic_store(&g_failed, 0);
  atomic_store(&g_fail_at, n);
  atomic_store(&g_mode, mode);
  atomic_store(&g_thread_only, thread_only);
  t_armer = thread_only;
  atomic_store(&g_armed, 1);
}

void failalloc_arm(long n) {
  arm(n, MODE_ONE, 0);
}

void failalloc_arm_from(long n) {
  arm(n, MODE_FROM, 0);
}

void failalloc_arm_thread(long n) {
  arm(n, MODE_ONE, 1);
}

void failalloc_disarm(void) {
  atomic_store(&g_armed, 0);
  t_armer = 0;
}

long failalloc_count(void) {
  return atomic_load(&g_count);
}

int failalloc_failed(void) {
  return atomic_load(&g_failed);
}

long failalloc_live(void) {
  return atomic_load(&g_live);
}

long failalloc_thread_live(void) {
  return t_live;
}

size_t failalloc_live_bytes(void) {
  return atomic_load(&g_live_bytes);
}

size_t failalloc_peak_bytes(void) {
  return atomic_load(&g_peak_bytes);
}

void failalloc_reset_peak(void) {
  atomic_store(&g_peak_bytes, atomic_load(&g_live_bytes));
}

void failalloc_fail_size(size_t size, int times) {
  atomic_store(&g_fail_size, size);
  atomic_store(&g_size_failures, 0);
  atomic_store(&g_fail_size_times, times);
}

int failalloc_size_failures(void) {
  return atomic_load(&g_size_failures);
}

void failalloc_moving_realloc(int on) {
  atomic_store(&g_moving, on);
}
