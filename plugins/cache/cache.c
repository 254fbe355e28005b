/* cache: exact answers to repeated requests, from memory or Redis, replayed
 * as the original stream; identical calls in flight coalesced.
 *
 * Per call, in on_request: the per-request mode (bypass, no-store, refresh),
 * the rules and the determinism check decide what is allowed; the key is
 * computed (key.c); memory is looked up, then a call in flight with the same
 * key is joined, then Redis is asked. A miss goes upstream as a flight's
 * leader; its events are recorded (and fed to followers) and a complete,
 * cacheable answer is stored in on_complete. docs/plugins/cache.md has every
 * option. */
#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache.h"

const llmrt_host_t *cache__H;

int64_t cache__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t cache__mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void cache__account(cache_t *c) {
  H->metric_set(c->m_bytes, NULL, (double)c->store.bytes);
  H->metric_set(c->m_entries, NULL, (double)c->store.n_entries);
}

/* ---- Config ---- */

enum { PACE_NONE = 0, PACE_ORIGINAL = 1 };

static const char *const default_key_headers[] = {"anthropic-version", "anthropic-beta",
                                                  "openai-beta"};

static int cfg_num(const cJSON *o, const char *k, double lo, double hi, int integer, double *out,
                   char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      (integer && v->valuedouble != (double)(int64_t)v->valuedouble)) {
    snprintf(err, errlen, "%s must be %s from %g to %g", k, integer ? "an integer" : "a number", lo,
             hi);
    return -1;
  }
  *out = v->valuedouble;
  return 0;
}

static int cfg_bool(const cJSON *o, const char *k, int *out, char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v) return 0;
  if (!cJSON_IsBool(v)) {
    snprintf(err, errlen, "%s must be true or false", k);
    return -1;
  }
  *out = cJSON_IsTrue(v);
  return 0;
}

static int cfg_pattern(const cJSON *o, const char *k, char *out, size_t cap, char *err,
                       size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v) return 0;
  if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) {
    snprintf(err, errlen, "rules[].%s must be a pattern string of at most %zu bytes", k, cap - 1);
    return -1;
  }
  snprintf(out, cap, "%s", v->valuestring);
  return 0;
}

static int cfg_rules(cache_t *c, const cJSON *rules, char *err, size_t errlen) {
  if (!cJSON_IsArray(rules)) {
    snprintf(err, errlen, "rules must be an array of objects");
    return -1;
  }
  for (const cJSON *r = rules->child; r; r = r->next) {
    if (c->n_rules == CACHE_MAX_RULES) {
      snprintf(err, errlen, "at most %d rules", CACHE_MAX_RULES);
      return -1;
    }
    if (!cJSON_IsObject(r)) {
      snprintf(err, errlen, "rules must be an array of objects");
      return -1;
    }
    cache_rule_t *ru = &c->rules[c->n_rules];
    memset(ru, 0, sizeof *ru);
    for (const cJSON *it = r->child; it; it = it->next) {
      if (strcmp(it->string, "model") && strcmp(it->string, "upstream") &&
          strcmp(it->string, "tenant") && strcmp(it->string, "ttl_s") &&
          strcmp(it->string, "cache")) {
        snprintf(err, errlen,
                 "unknown key \"rules[].%s\" (known: model, upstream, tenant, ttl_s, "
                 "cache)",
                 it->string);
        return -1;
      }
    }
    int on = 1;
    double ttl = 0;
    if (cfg_pattern(r, "model", ru->model, sizeof ru->model, err, errlen) ||
        cfg_pattern(r, "upstream", ru->upstream, sizeof ru->upstream, err, errlen) ||
        cfg_pattern(r, "tenant", ru->tenant, sizeof ru->tenant, err, errlen) ||
        cfg_bool(r, "cache", &on, err, errlen) ||
        cfg_num(r, "ttl_s", 1, 365.0 * 86400, 1, &ttl, err, errlen))
      return -1;
    ru->no_cache = !on;
    ru->ttl_s = (uint32_t)ttl;
    c->n_rules++;
  }
  return 0;
}

static int cfg_headers(cache_t *c, const cJSON *a, char *err, size_t errlen) {
  if (!cJSON_IsArray(a)) {
    snprintf(err, errlen, "key_headers must be an array of header names");
    return -1;
  }
  for (const cJSON *it = a->child; it; it = it->next) {
    if (!cJSON_IsString(it) || !*it->valuestring || strlen(it->valuestring) > 100) {
      snprintf(err, errlen, "key_headers must be an array of header names");
      return -1;
    }
    if (c->n_key_headers == CACHE_MAX_KEY_HEADERS) {
      snprintf(err, errlen, "at most %d key_headers", CACHE_MAX_KEY_HEADERS);
      return -1;
    }
    size_t n = strlen(it->valuestring) + 1;
    char *s = H->malloc(n);
    if (!s) return LLMRT_ENOMEM;
    memcpy(s, it->valuestring, n);
    c->key_headers[c->n_key_headers++] = s;
  }
  return 0;
}

static const char *const known_keys[] = {
    "name",         "max_bytes", "max_entry_bytes", "ttl_s",    "max_temperature",
    "store_length", "pace",      "pace_speed",      "coalesce", "max_followers",
    "key_headers",  "rules",     "redis",           NULL};

static int parse_config(cache_t *c, const cJSON *cfg, char *err, size_t errlen) {
  for (const cJSON *it = cfg->child; it; it = it->next) {
    int ok = 0;
    for (int i = 0; known_keys[i]; i++)
      ok |= !strcmp(it->string, known_keys[i]);
    if (!ok) {
      snprintf(
          err, errlen,
          "unknown key \"%s\" (known: max_bytes, max_entry_bytes, ttl_s, max_temperature, "
          "store_length, pace, pace_speed, coalesce, max_followers, key_headers, rules, redis)",
          it->string);
      return -1;
    }
  }
  double maxb = 64.0 * 1024 * 1024, maxe = 1024.0 * 1024, ttl = 3600, temp = 0, speed = 1;
  double follow = 1000;
  if (cfg_num(cfg, "max_bytes", 4096, 1e12, 1, &maxb, err, errlen) ||
      cfg_num(cfg, "max_entry_bytes", 256, 1 << 30, 1, &maxe, err, errlen) ||
      cfg_num(cfg, "ttl_s", 1, 365.0 * 86400, 1, &ttl, err, errlen) ||
      cfg_num(cfg, "max_temperature", 0, 2, 0, &temp, err, errlen) ||
      cfg_num(cfg, "pace_speed", 0.01, 1000, 0, &speed, err, errlen) ||
      cfg_num(cfg, "max_followers", 0, 100000, 1, &follow, err, errlen) ||
      cfg_bool(cfg, "store_length", &c->store_length, err, errlen) ||
      cfg_bool(cfg, "coalesce", &c->coalesce, err, errlen))
    return -1;
  c->max_bytes = (size_t)maxb;
  c->max_entry_bytes = (size_t)maxe;
  if (c->max_entry_bytes > c->max_bytes) c->max_entry_bytes = c->max_bytes;
  c->ttl_s = (uint32_t)ttl;
  c->max_temperature = temp;
  c->pace_speed = speed;
  c->max_followers = (uint32_t)follow;
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(cfg, "pace");
  if (p) {
    if (cJSON_IsString(p) && !strcmp(p->valuestring, "none"))
      c->pace = PACE_NONE;
    else if (cJSON_IsString(p) && !strcmp(p->valuestring, "original"))
      c->pace = PACE_ORIGINAL;
    else {
      snprintf(err, errlen, "pace must be \"none\" (all at once) or \"original\"");
      return -1;
    }
  }
  const cJSON *kh = cJSON_GetObjectItemCaseSensitive(cfg, "key_headers");
  if (kh) {
    int rc = cfg_headers(c, kh, err, errlen);
    if (rc) return rc;
  } else {
    for (size_t i = 0; i < sizeof default_key_headers / sizeof *default_key_headers; i++) {
      size_t n = strlen(default_key_headers[i]) + 1;
      char *s = H->malloc(n);
      if (!s) return LLMRT_ENOMEM;
      memcpy(s, default_key_headers[i], n);
      c->key_headers[c->n_key_headers++] = s;
    }
  }
  const cJSON *rules = cJSON_GetObjectItemCaseSensitive(cfg, "rules");
  if (rules && cfg_rules(c, rules, err, errlen)) return -1;
  return 0;
}

static void cache_fini(void *state) {
  cache_t *c = state;
  if (!c) return;
  redis_loop_free(c->redis);
  cache__flights_free(c);
  if (c->store.tab) cache__store_free(&c->store);
  for (size_t i = 0; i < c->n_key_headers; i++)
    H->free(c->key_headers[i]);
  H->free(c->flights);
  H->free(c);
}

static void metric(cache_t *c, int kind, const char *name, const char *help, llmrt_metric_t **out) {
  if (H->metric(c->prt, kind, name, help, out) != 0) *out = NULL;
}

static int cache_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state, char *err,
                      size_t errlen) {
  cJSON *cfg = cJSON_ParseWithLength(json, len);
  if (!cfg) {
    snprintf(err, errlen, "config is not valid JSON");
    return LLMRT_ECONFIG;
  }
  cache_t *c = H->calloc(1, sizeof *c);
  if (!c) {
    cJSON_Delete(cfg);
    return LLMRT_ENOMEM;
  }
  c->prt = prt;
  c->coalesce = 1;
  int rc = parse_config(c, cfg, err, errlen);
  if (rc) rc = rc == LLMRT_ENOMEM ? rc : LLMRT_ECONFIG;
  if (!rc) rc = cache__store_init(&c->store, c->max_bytes);
  if (!rc) {
    c->n_flight_buckets = 256;
    c->flights = H->calloc(c->n_flight_buckets, sizeof *c->flights);
    if (!c->flights) rc = LLMRT_ENOMEM;
  }
  if (rc) {
    cJSON_Delete(cfg);
    cache_fini(c);
    return rc;
  }
  metric(c, LLMRT_METRIC_COUNTER, "llmrt_cache_hits_total",
         "Calls answered from the cache (tier: memory or redis)", &c->m_hits);
  metric(c, LLMRT_METRIC_COUNTER, "llmrt_cache_misses_total", "Cacheable calls that went upstream",
         &c->m_misses);
  metric(c, LLMRT_METRIC_COUNTER, "llmrt_cache_coalesced_total",
         "Calls that waited for an identical call in flight instead of going upstream",
         &c->m_coalesced);
  metric(c, LLMRT_METRIC_COUNTER, "llmrt_cache_stores_total", "Answers stored in memory",
         &c->m_stores);
  metric(c, LLMRT_METRIC_COUNTER, "llmrt_cache_evictions_total",
         "Entries evicted from memory to stay under max_bytes", &c->m_evictions);
  metric(c, LLMRT_METRIC_GAUGE, "llmrt_cache_bytes", "Bytes held by the in-memory cache",
         &c->m_bytes);
  metric(c, LLMRT_METRIC_GAUGE, "llmrt_cache_entries", "Entries in the in-memory cache",
         &c->m_entries);
  metric(c, LLMRT_METRIC_COUNTER, "llmrt_cache_redis_hits_total", "Calls answered from Redis",
         &c->m_redis_hits);
  metric(c, LLMRT_METRIC_COUNTER, "llmrt_cache_redis_errors_total",
         "Redis lookups or writes that failed (down, refused, malformed)", &c->m_redis_errors);
  metric(c, LLMRT_METRIC_GAUGE, "llmrt_cache_redis_up",
         "Whether the Redis tier is connected and answering (1) or not (0)", &c->m_redis_up);
  metric(c, LLMRT_METRIC_COUNTER, "llmrt_cache_redis_timeouts_total",
         "Redis lookups that took longer than lookup_timeout_ms", &c->m_redis_timeouts);
  /* Redis last: its state callback sets a metric registered above. */
  const cJSON *redis = cJSON_GetObjectItemCaseSensitive(cfg, "redis");
  if (redis) {
    H->metric_set(c->m_redis_up, NULL, 0);
    rc = cache__redis_config(c, redis, err, errlen);
  }
  cJSON_Delete(cfg);
  if (rc) {
    cache_fini(c);
    return rc;
  }
  *state = c;
  return 0;
}

/* ---- Per call ---- */

static int match(const char *pat, const char *s) {
  return !*pat || fnmatch(pat, s ? s : "", 0) == 0;
}

static const cache_rule_t *find_rule(cache_t *c, llmrt_ctx_t *ctx, const llmrt_request_t *r) {
  for (size_t i = 0; i < c->n_rules; i++) {
    const cache_rule_t *ru = &c->rules[i];
    if (match(ru->model, r->model) && match(ru->upstream, H->upstream(ctx)) &&
        match(ru->tenant, r->tenant))
      return ru;
  }
  return NULL;
}

static void set_result(cache_call_t *cc, const char *result, int hit) {
  cc->result = result;
  H->attr_set_str(cc->ctx, "cache.result", result);
  H->attr_set_num(cc->ctx, "cache.hit", hit);
}

static int go_upstream(cache_t *c, cache_call_t *cc) {
  H->metric_add(c->m_misses, NULL, 1);
  return LLMRT_CONTINUE;
}

static int cache_on_request(llmrt_ctx_t *ctx) {
  cache_t *c = H->plugin_state(ctx);
  cache_call_t *cc = H->call_state(ctx);
  cc->ctx = ctx;
  /* Again, for a new attempt an outer plugin (retry) started: the call
   * keeps its role; only the failed attempt's recording goes (nothing of
   * it passed outward, or the runtime would have refused the retry). */
  if (cc->role == CC_LEADER && cc->flight) {
    cache__rec_free(&cc->flight->rec);
    return LLMRT_CONTINUE;
  }
  if (cc->role == CC_ALONE) {
    cache__rec_free(&cc->rec);
    return LLMRT_CONTINUE;
  }
  const llmrt_request_t *r = H->request(ctx);
  int mode = r->cache;
  uint32_t req_ttl = 0, req_age = 0;
  int nondet_ok = 0;
  if (LLMRT_HAS_FIELD(r, llmrt_request_t, cache_nondeterministic)) {
    req_ttl = r->cache_ttl_s;
    req_age = r->cache_max_age_s;
    nondet_ok = r->cache_nondeterministic;
  }
  if (mode == LLMRT_CACHE_BYPASS) {
    set_result(cc, "bypass", 0);
    return LLMRT_CONTINUE;
  }
  const cache_rule_t *ru = find_rule(c, ctx, r);
  if (ru && ru->no_cache) {
    set_result(cc, "off", 0);
    return LLMRT_CONTINUE;
  }
  int deterministic =
      r->has_seed || (r->temperature >= 0 && r->temperature <= c->max_temperature) || nondet_ok;
  cache_keyconf_t kc = {(const char *const *)c->key_headers, c->n_key_headers};
  if (cache__key(ctx, &kc, cc->key) != 0) {
    set_result(cc, "uncacheable", 0);
    return LLMRT_CONTINUE;
  }
  uint32_t ttl = req_ttl ? req_ttl : ru && ru->ttl_s ? ru->ttl_s : c->ttl_s;
  cc->ttl_ms = (int64_t)ttl * 1000;
  cc->max_age_ms = (int64_t)req_age * 1000;
  cc->lookup = mode != LLMRT_CACHE_REFRESH;
  cc->storable = mode != LLMRT_CACHE_NO_STORE && deterministic;

  if (cc->lookup) {
    size_t n0 = c->store.n_entries;
    cache_entry_t *e = cache__store_get(&c->store, cc->key, cache__wall_ms(), cc->max_age_ms);
    if (e) {
      H->metric_add(c->m_hits, "tier=\"memory\"", 1);
      cc->result = "hit";
      return cache__replay(c, cc, e, 0);
    }
    if (c->store.n_entries != n0) cache__account(c); /* an expired entry went */
  }
  set_result(cc, cc->lookup ? "miss" : "refresh", 0);
  /* Only answers that would be stored are shared: two non-deterministic
   * calls each want their own sample. */
  if (!deterministic) return go_upstream(c, cc);
  if (c->coalesce && cc->lookup) {
    cache_flight_t *f = cache__flight_find(c, cc->key);
    if (f && cache__flight_join(c, f, cc) == 0) return LLMRT_PAUSE;
    if (!f && cache__flight_open(c, cc) != 0) return go_upstream(c, cc);
  }
  if (!cc->flight) {
    cc->role = CC_ALONE;
    cache__rec_init(&cc->rec, c->max_entry_bytes);
  }
  if (cc->lookup && c->redis && cache__redis_lookup(c, cc) == 0) return LLMRT_PAUSE;
  return go_upstream(c, cc);
}

void cache__lookup_done(cache_t *c, cache_call_t *cc, cache_entry_t *e) {
  if (!e) {
    H->metric_add(c->m_misses, NULL, 1);
    H->resume(cc->ctx);
    return;
  }
  H->metric_add(c->m_hits, "tier=\"redis\"", 1);
  H->metric_add(c->m_redis_hits, NULL, 1);
  int ev = cache__store_put(&c->store, e);
  if (ev > 0) H->metric_add(c->m_evictions, NULL, ev);
  cache__account(c);
  set_result(cc, "hit_redis", 1);
  if (cc->flight) cache__flight_done(c, cc->flight, 0, NULL, e, 1);
  cache__replay(c, cc, e, 1);
  cache__entry_unref(e);
}

static int cache_on_event(llmrt_ctx_t *ctx, llmrt_event_t *ev) {
  cache_t *c = H->plugin_state(ctx);
  cache_call_t *cc = H->call_state(ctx);
  if (cc->role == CC_LEADER && cc->flight)
    cache__flight_event(c, cc->flight, ev);
  else if (cc->role == CC_ALONE)
    cache__rec_add(&cc->rec, ev);
  return LLMRT_CONTINUE;
}

/* A complete answer that is the same next time: no error of any kind, a
 * finish reason (a cut stream has none), and not cut by max_tokens unless
 * configured. */
static int answer_storable(const cache_t *c, int status, const llmrt_result_t *res) {
  if (status || !res || res->error_message || res->http_status >= 400) return 0;
  if (!res->finish_reason) return 0;
  if (!c->store_length &&
      (!strcmp(res->finish_reason, "length") || !strcmp(res->finish_reason, "max_tokens")))
    return 0;
  return 1;
}

static void cache_on_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
  cache_t *c = H->plugin_state(ctx);
  cache_call_t *cc = H->call_state(ctx);
  if (cc->role != CC_LEADER && cc->role != CC_ALONE) return;
  cache_rec_t *rec = cc->role == CC_LEADER && cc->flight ? &cc->flight->rec : &cc->rec;
  cache_entry_t *e = NULL;
  if (cc->storable && answer_storable(c, status, res) && rec->n_ev) {
    int64_t now = cache__wall_ms();
    e = cache__entry_build(rec, res, cc->key, now, now + cc->ttl_ms);
    if (e) {
      int ev = cache__store_put(&c->store, e);
      if (ev >= 0) {
        H->metric_add(c->m_stores, NULL, 1);
        if (ev > 0) H->metric_add(c->m_evictions, NULL, ev);
        cache__account(c);
      }
      cache__redis_store(c, e);
    }
  }
  if (cc->role == CC_LEADER && cc->flight) cache__flight_done(c, cc->flight, status, res, e, 0);
  cache__entry_unref(e);
}

static void cache_on_call_end(llmrt_ctx_t *ctx, int status) {
  cache_t *c = H->plugin_state(ctx);
  cache_call_t *cc = H->call_state(ctx);
  if (cc->redis_cmd) redis_loop_cancel(cc->redis_cmd);
  cc->redis_cmd = NULL;
  if (cc->role == CC_REPLAY) cache__replay_stop(cc);
  if (cc->role == CC_FOLLOWER) cache__flight_leave(c, cc);
  if (cc->role == CC_LEADER && cc->flight) cache__flight_done(c, cc->flight, status, NULL, NULL, 0);
  cache__rec_free(&cc->rec);
}

static const llmrt_plugin_t cache_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "cache",
    .version = "1.0",
    .init = cache_init,
    .fini = cache_fini,
    .call_state_size = sizeof(cache_call_t),
    .on_request = cache_on_request,
    .on_event = cache_on_event,
    .on_complete = cache_on_complete,
    .on_call_end = cache_on_call_end,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  cache__H = host;
  return &cache_plugin;
}
