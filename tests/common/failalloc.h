/* One allocator for every torture and counting test (curl's torture idea,
 * libuv's test-loop-oom): installed with llmrt_set_allocator, so it sees what
 * llmrt, libuv and cJSON allocate. It counts blocks and bytes (live and peak)
 * and, when armed, fails one allocation by number, every allocation from a
 * number on, or allocations of one exact size.
 *
 * Counting starts when a test arms it; live and byte counts run all the time.
 * Counters are atomic, so a mock or a client on another thread may allocate
 * through it too; failalloc_arm_thread() restricts counting and failing to
 * the thread that arms it, and failalloc_thread_live() counts that thread's
 * blocks only (a mock on its own thread then neither fails nor disturbs the
 * leak check). */
#ifndef LLMRT_TEST_FAILALLOC_H
#define LLMRT_TEST_FAILALLOC_H

#include <stddef.h>

/* Installs the allocator (asserts that llmrt_set_allocator accepted it). Call
 * first in main, before libuv allocates anything. */
void failalloc_install(void);

/* Restores the C library's allocator. Blocks allocated before are still
 * freed correctly (this allocator keeps no header in front of a block). */
void failalloc_uninstall(void);

/* Starts counting allocations (malloc, calloc, realloc) from 0 and fails the
 * n-th one (1-based) made on any thread; n 0 only counts. */
void failalloc_arm(long n);

/* The same, but fails the n-th allocation and every one after it (an
 * allocation budget of n - 1). */
void failalloc_arm_from(long n);

/* The same as failalloc_arm, but only allocations of the calling thread are
 * counted and can fail. */
void failalloc_arm_thread(long n);

/* Stops counting and failing. failalloc_count and failalloc_failed keep
 * their values until the next arm. */
void failalloc_disarm(void);

/* Allocations counted since the last arm. */
long failalloc_count(void);

/* 1 when the allocation to fail was reached since the last arm (so a torture
 * loop has more points to try), else 0. */
int failalloc_failed(void);

/* Blocks alive: all threads, and the calling thread's only. */
long failalloc_live(void);
long failalloc_thread_live(void);

/* Bytes alive (malloc_usable_size of each block), and the highest value since
 * failalloc_reset_peak (which sets the peak to the bytes alive now). */
size_t failalloc_live_bytes(void);
size_t failalloc_peak_bytes(void);
void failalloc_reset_peak(void);

/* Fails the next `times` malloc or calloc calls whose size (calloc: element
 * size) is exactly `size`, whether armed or not; times 0 turns this off. */
void failalloc_fail_size(size_t size, int times);

/* How many allocations failed_size failed since the last failalloc_fail_size. */
int failalloc_size_failures(void);

/* With on, realloc always moves the block and poisons the old one (0xA5), so
 * a pointer kept into a buffer that grew reads garbage in any build, not only
 * under ASan. Off by default. */
void failalloc_moving_realloc(int on);

#endif
