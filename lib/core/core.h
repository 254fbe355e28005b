/* Internal core: the runtime object, allocation, buffers, logging, time.
 * Every layer includes this; nothing here is public ABI. */
#ifndef LLMRT_CORE_H
#define LLMRT_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "llmrt.h"

/* ---- Allocation: every llmrt allocation goes through these. ---- */
void *llmrt__malloc(size_t n);
void *llmrt__calloc(size_t count, size_t n);
void *llmrt__realloc(void *p, size_t n);
void llmrt__free(void *p);
char *llmrt__strdup(const char *s);            /* NULL in, NULL out */
char *llmrt__strndup(const char *s, size_t n);

/* ---- Growable byte buffer. Always NUL-terminated when data != NULL. ---- */
typedef struct {
  char *data;
  size_t len;
  size_t cap;
} llmrt__buf_t;

void llmrt__buf_init(llmrt__buf_t *b);
void llmrt__buf_free(llmrt__buf_t *b);
void llmrt__buf_reset(llmrt__buf_t *b); /* len = 0, keeps capacity */
int llmrt__buf_reserve(llmrt__buf_t *b, size_t extra);
int llmrt__buf_append(llmrt__buf_t *b, const void *p, size_t n);
int llmrt__buf_puts(llmrt__buf_t *b, const char *s);
int llmrt__buf_printf(llmrt__buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void llmrt__buf_consume(llmrt__buf_t *b, size_t n); /* drop n bytes from the front */

/* ---- Logging ---- */
void llmrt__log(llmrt_t *rt, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- Time ---- */
uint64_t llmrt__now_us(void); /* monotonic, microseconds */

/* ---- Runtime ---- */
typedef void (*llmrt__closer_fn)(llmrt_t *rt, void *arg);

struct llmrt_s {
  uv_loop_t *loop;
  uv_loop_t own_loop_storage;
  int own_loop;
  llmrt_options_t opts; /* strings copied (ca_file) */

  int closing;   /* llmrt_close called */
  int closed;    /* done callback ran */
  unsigned refs; /* open handles/objects that must finish before done */
  void (*close_cb)(llmrt_t *, void *);
  void *close_user;
  uv_idle_t close_idle; /* defers the done callback out of close paths */
  int free_in_run;      /* own loop: free when llmrt_run returns */

  /* Subsystems, created lazily by their layers; each registers a closer. */
  void *dns;   /* lib/transport/dns.c */
  void *tls;   /* lib/transport/tls.c */
  void *pools; /* lib/http/pool.c */
  void *chain; /* lib/chain */
  char *read_buf; /* lib/transport: the plaintext read buffer all conns share */

  /* Counters a lower layer keeps for the metrics exposition (lib/chain
   * reads them; nothing here calls up). Plain integers: one loop thread.
   * Per-origin pool counters live in the pool (lib/http). */
  struct {
    uint64_t dns_hits;   /* lib/transport: answered from the DNS cache */
    uint64_t dns_misses; /* lib/transport: a lookup started */
    uint64_t dns_shared; /* lib/transport: joined a lookup in flight */
  } counters;

  struct llmrt__closer_s {
    llmrt__closer_fn fn;
    void *arg;
  } closers[4][4]; /* [phase][order of registration] */
  unsigned n_closers[4];
};

/* llmrt_close runs closers in phases: calls end first (their completions on
 * a later loop turn), then the HTTP pools, then the network (DNS, TLS).
 * One rule holds in every phase: a closer cancels its work and starts
 * closing its handles, and no callback of a user or plugin runs inside
 * llmrt_close; what a closer ends reports on a later loop turn. A closer
 * keeps the runtime open with llmrt__rt_ref until its handles are closed. */
enum { LLMRT__CLOSE_CALLS = 0, LLMRT__CLOSE_POOLS = 1, LLMRT__CLOSE_NET = 2 };
int llmrt__rt_add_closer(llmrt_t *rt, int phase, llmrt__closer_fn fn, void *arg);

/* Counts an object (usually a libuv handle being open) that must be gone
 * before llmrt_close may call its done callback. */
void llmrt__rt_ref(llmrt_t *rt);
void llmrt__rt_unref(llmrt_t *rt);

/* Effective timeout: per-request value if set, else the default; returns 0
 * for "none" (LLMRT_HTTP_NO_TIMEOUT). */
static inline uint32_t llmrt__timeout(uint32_t req, uint32_t dflt) {
  if (req == UINT32_MAX) return 0;
  return req ? req : dflt;
}

#endif
