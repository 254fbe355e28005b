/* The cache plugin's internal types, shared by its files:
 *
 *   cache.c     the plugin: config, hooks, per-request controls, rules
 *   key.c       the key: SHA-256 of the request's canonical JSON form
 *   entry.c     a stored answer (one allocation), its recording while the
 *               answer arrives, and its compact serialization for Redis
 *   store.c     the in-memory tier: hash table + LRU list, byte budget, TTL
 *   replay.c    playing an entry back to a call, at once or paced
 *   coalesce.c  identical calls in flight: one leader, bounded followers
 *   tier_redis.c  the shared Redis tier (plugins/common/redis_loop)
 */
#ifndef LLMRT_PLUGIN_CACHE_H
#define LLMRT_PLUGIN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/redis_loop.h"
#include "llmrt/plugin.h"

#define CACHE_KEY_LEN 32
#define CACHE_MAX_RULES 32
#define CACHE_MAX_KEY_HEADERS 16

extern const llmrt_host_t *cache__H;
#define H cache__H

/* ---- Entries ---- */

/* One recorded event, 24 bytes: the text is an offset into the entry's
 * blob (NUL-terminated there), UINT32_MAX for none. What few events have
 * (a tool call's id and name, a finish reason, token counts) is one "extra"
 * record in the blob: a flags byte (CACHE_X_*), then the strings present,
 * each NUL-terminated, then the three counts as 64-bit little-endian. */
typedef struct {
  uint8_t type;
  uint32_t index;
  uint32_t t_us; /* since the first event, for paced replay */
  uint32_t text, len, extra;
} cache_ev_t;

enum { CACHE_X_ID = 1, CACHE_X_NAME = 2, CACHE_X_FINISH = 4, CACHE_X_USAGE = 8 };

/* A stored answer. Immutable once built, shared by reference: every replay
 * holds a reference, the store holds one while the entry is linked; the last
 * unref frees it. One allocation: this header, the events, the blob. */
typedef struct cache_entry_s cache_entry_t;
struct cache_entry_s {
  uint32_t refs;
  int linked; /* in the store's table and LRU list */
  uint8_t key[CACHE_KEY_LEN];
  uint64_t hash;                  /* the first 8 bytes of key, for the table */
  int64_t created_ms, expires_ms; /* wall clock */
  size_t bytes;                   /* what the entry costs the byte budget */
  cache_entry_t *hnext, *lprev, *lnext;
  /* The answer. */
  uint32_t n_ev;
  cache_ev_t *ev;
  uint32_t model, finish; /* blob offsets or UINT32_MAX */
  int64_t in_tok, out_tok, cached_tok;
  uint32_t text_len; /* total text bytes */
  uint32_t blob_len;
  char *blob;
};

void cache__entry_ref(cache_entry_t *e);
void cache__entry_unref(cache_entry_t *e);
const char *cache__entry_str(const cache_entry_t *e, uint32_t off);

/* An answer being recorded as it arrives (the leader's events). */
typedef struct {
  cache_ev_t *ev;
  uint32_t n_ev, cap_ev;
  char *blob;
  uint32_t blob_len, blob_cap;
  uint64_t t0_us;
  int n_content; /* text, thinking and tool-call events recorded */
  int overflow;  /* past max_entry_bytes (or out of memory): not storable */
  size_t limit;
} cache_rec_t;

void cache__rec_init(cache_rec_t *r, size_t limit);
void cache__rec_free(cache_rec_t *r);
/* Records ev; sets overflow instead of failing. */
void cache__rec_add(cache_rec_t *r, const llmrt_event_t *ev);
/* Builds an entry (refs 1) from the recording and the result. NULL on OOM or
 * overflow. */
cache_entry_t *cache__entry_build(const cache_rec_t *r, const llmrt_result_t *res,
                                  const uint8_t key[CACHE_KEY_LEN], int64_t created_ms,
                                  int64_t expires_ms);
/* Fills ev from recorded event i of an entry or a recording. */
void cache__ev_get(const cache_ev_t *ce, const char *blob, llmrt_event_t *ev);

/* Compact serialization (little-endian, versioned) for Redis. *out is
 * H->malloc'd. */
int cache__entry_serialize(const cache_entry_t *e, char **out, size_t *len);
/* Parses untrusted bytes; NULL when malformed, too big or out of memory. */
cache_entry_t *cache__entry_parse(const char *p, size_t len, const uint8_t key[CACHE_KEY_LEN],
                                  size_t max_bytes);

/* ---- The in-memory tier ---- */

typedef struct {
  cache_entry_t **tab;
  size_t n_buckets, n_entries;
  size_t bytes, max_bytes;
  cache_entry_t *lru_head, *lru_tail; /* head: most recently used */
  uint64_t evictions;
} cache_store_t;

int cache__store_init(cache_store_t *s, size_t max_bytes);
void cache__store_free(cache_store_t *s);
/* A live entry (not expired, not older than max_age_ms when that is not 0),
 * moved to the LRU head, without a new reference; NULL on a miss. */
cache_entry_t *cache__store_get(cache_store_t *s, const uint8_t key[CACHE_KEY_LEN], int64_t now_ms,
                                int64_t max_age_ms);
/* Links e (takes a reference), replacing an entry of the same key, then
 * evicts from the LRU tail down to the budget. Returns the number of
 * entries evicted, or LLMRT_ENOMEM (nothing changed) / LLMRT_EINVAL (bigger
 * than the whole budget). */
int cache__store_put(cache_store_t *s, cache_entry_t *e);
void cache__store_remove(cache_store_t *s, cache_entry_t *e);

/* ---- The key ---- */

typedef struct {
  const char *const *headers; /* lower-case names whose values enter the key */
  size_t n_headers;
} cache_keyconf_t;

/* Computes the key of the call's current request. Returns 0,
 * LLMRT_EINVAL (extra_json or tool_calls_json is not JSON: such a request
 * is not cached) or LLMRT_ENOMEM. */
int cache__key(llmrt_ctx_t *ctx, const cache_keyconf_t *kc, uint8_t out[CACHE_KEY_LEN]);
/* Canonical JSON of text (for tests and the key): sorted keys, numbers in
 * one form, no insignificant whitespace. Returns 0 with *out H->malloc'd. */
int cache__canonical_json(const char *text, size_t len, char **out, size_t *out_len);
void cache__key_hex(const uint8_t key[CACHE_KEY_LEN], char out[2 * CACHE_KEY_LEN + 1]);

/* ---- The plugin instance ---- */

typedef struct {
  char model[128], upstream[128], tenant[128]; /* fnmatch patterns; "" matches all */
  int no_cache;
  uint32_t ttl_s;
} cache_rule_t;

typedef struct cache_flight_s cache_flight_t;
typedef struct cache_call_s cache_call_t;

typedef struct {
  llmrt_plugin_rt_t *prt;
  /* Config. */
  size_t max_bytes, max_entry_bytes;
  uint32_t ttl_s;
  double max_temperature;
  int store_length;
  int pace;
  double pace_speed;
  int coalesce;
  uint32_t max_followers;
  char *key_headers[CACHE_MAX_KEY_HEADERS];
  size_t n_key_headers;
  cache_rule_t rules[CACHE_MAX_RULES];
  size_t n_rules;
  /* Redis. */
  redis_loop_t *redis;
  char redis_prefix[64];
  uint32_t redis_lookup_timeout_ms;
  /* State. */
  cache_store_t store;
  cache_flight_t **flights; /* open hash of calls in flight, by key */
  size_t n_flight_buckets;
  /* Metrics. */
  llmrt_metric_t *m_hits, *m_misses, *m_coalesced, *m_stores, *m_evictions, *m_bytes, *m_entries,
      *m_redis_hits, *m_redis_errors, *m_redis_timeouts, *m_redis_up;
  uint64_t redis_errors_seen, redis_timeouts_seen;
} cache_t;

typedef enum {
  CC_NONE = 0,
  CC_REPLAY,   /* answered from an entry (paced replay running) */
  CC_LOOKUP,   /* waiting for Redis */
  CC_LEADER,   /* went upstream for its flight */
  CC_FOLLOWER, /* waiting on another call's answer */
  CC_ALONE     /* upstream, not shared (uncoalesced) */
} cache_role_t;

/* Per-call state (host->call_state). */
struct cache_call_s {
  llmrt_ctx_t *ctx;
  cache_role_t role;
  uint8_t key[CACHE_KEY_LEN];
  int storable;   /* the answer may be stored */
  int lookup;     /* a lookup is allowed */
  int64_t ttl_ms; /* for the store */
  int64_t max_age_ms;
  cache_flight_t *flight;
  cache_call_t *fnext, *fprev; /* among the flight's followers */
  uint32_t fed;                /* follower: events of the flight's recording received */
  cache_rec_t rec;             /* ALONE: own recording */
  /* Replay. */
  cache_entry_t *entry;
  uint32_t next_ev;
  uint64_t replay_t0_us;
  llmrt_timer_t *timer;
  const char *result; /* the cache.result attribute */
  redis_cmd_t *redis_cmd;
};

/* ---- Replay (replay.c) ---- */

/* Answers the call from e: at once (returns LLMRT_STOP after respond), or
 * paced (returns LLMRT_PAUSE; timers emit the rest and respond). Takes its
 * own reference. `paused` says the call is already paused in on_request
 * (after a Redis lookup or as a follower), so nothing is returned to a
 * hook: the answer completes from here. */
int cache__replay(cache_t *c, cache_call_t *cc, cache_entry_t *e, int paused);
void cache__replay_stop(cache_call_t *cc);
/* The result a replay responds with. */
void cache__entry_result(const cache_entry_t *e, llmrt_result_t *res);

/* ---- Coalescing (coalesce.c) ---- */

struct cache_flight_s {
  uint8_t key[CACHE_KEY_LEN];
  cache_flight_t *hnext;
  cache_call_t *leader;
  cache_call_t *followers, *followers_tail;
  uint32_t n_followers;
  cache_rec_t rec;
};

cache_flight_t *cache__flight_find(cache_t *c, const uint8_t key[CACHE_KEY_LEN]);
/* Makes cc the leader of a new flight. */
int cache__flight_open(cache_t *c, cache_call_t *cc);
/* Joins cc to f as a follower and feeds it what it missed. LLMRT_EBUSY when
 * f is full or no longer shareable. */
int cache__flight_join(cache_t *c, cache_flight_t *f, cache_call_t *cc);
/* The leader's event: recorded and fed to every follower. */
void cache__flight_event(cache_t *c, cache_flight_t *f, const llmrt_event_t *ev);
/* The leader's call ended with status (res may be NULL). Success: the
 * followers are answered (replay set: from e, the leader's Redis hit, played
 * to each; else they already saw every event and get res) and the flight
 * closes. Failure after content: followers fail the same way. Failure or
 * cancel before content: the first follower that can becomes the leader. */
void cache__flight_done(cache_t *c, cache_flight_t *f, int status, const llmrt_result_t *res,
                        cache_entry_t *e, int replay);
/* A follower leaves (its call ended). */
void cache__flight_leave(cache_t *c, cache_call_t *cc);
void cache__flights_free(cache_t *c);

/* ---- Redis (tier_redis.c) ---- */

int cache__redis_config(cache_t *c, const void *cjson_obj, char *err, size_t errlen);
/* Starts a lookup for cc; 0 when one is in flight (the callback finishes
 * the call's request phase), else an error (go on without Redis). */
int cache__redis_lookup(cache_t *c, cache_call_t *cc);
void cache__redis_store(cache_t *c, const cache_entry_t *e);

/* Called by tier_redis.c with the outcome of a lookup (e NULL: a miss). */
void cache__lookup_done(cache_t *c, cache_call_t *cc, cache_entry_t *e);

/* ---- Shared helpers (cache.c) ---- */
int64_t cache__wall_ms(void);
uint64_t cache__mono_us(void);
void cache__account(cache_t *c);

#endif
