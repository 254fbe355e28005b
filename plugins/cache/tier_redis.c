/* The shared Redis tier: after a miss in memory, one GET with a short
 * timeout (lookup_timeout_ms, default 20); after a stored answer, one SET
 * with PX (the entry's remaining TTL), fire and forget. Any Redis trouble
 * (down, stalled, refusing, garbage) is a miss plus a metric and, once per
 * episode, a warning: a call never fails or waits longer because of Redis.
 *
 * Config (the "redis" object of the cache's config):
 *   address            "127.0.0.1:6379" (numeric address or localhost)
 *   db                 0
 *   password_env       name of an environment variable holding the password
 *   prefix             "llmrt:cache:" (then the key's 64 hex digits)
 *   lookup_timeout_ms  20
 *   connect_timeout_ms 500
 *   backoff_max_ms     5000 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

static const char *llmrt_err_name_(int status) {
  switch (status) {
  case LLMRT_ETIMEDOUT:
    return "timed out";
  case LLMRT_ECLOSED:
    return "connection lost";
  case LLMRT_EBUSY:
    return "too many commands pending";
  default:
    return "error";
  }
}

static int get_uint(const cJSON *o, const char *k, uint32_t lo, uint32_t hi, uint32_t *out,
                    char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      v->valuedouble != (double)(uint32_t)v->valuedouble) {
    snprintf(err, errlen, "redis.%s must be an integer from %u to %u", k, lo, hi);
    return -1;
  }
  *out = (uint32_t)v->valuedouble;
  return 0;
}

static void on_state(void *arg, int ready) {
  cache_t *c = arg;
  H->metric_set(c->m_redis_up, NULL, ready);
}

int cache__redis_config(cache_t *c, const void *obj, char *err, size_t errlen) {
  const cJSON *o = obj;
  if (!cJSON_IsObject(o)) {
    snprintf(err, errlen, "redis must be an object");
    return LLMRT_ECONFIG;
  }
  static const char *known[] = {
      "address",        "db", "password_env", "prefix", "lookup_timeout_ms", "connect_timeout_ms",
      "backoff_max_ms", NULL};
  for (const cJSON *it = o->child; it; it = it->next) {
    int ok = 0;
    for (int i = 0; known[i]; i++)
      ok |= !strcmp(it->string, known[i]);
    if (!ok) {
      snprintf(err, errlen,
               "unknown key \"redis.%s\" (known: address, db, password_env, prefix, "
               "lookup_timeout_ms, connect_timeout_ms, backoff_max_ms)",
               it->string);
      return LLMRT_ECONFIG;
    }
  }
  redis_loop_opts_t ro;
  memset(&ro, 0, sizeof ro);
  char host[64] = "127.0.0.1";
  uint32_t port = 6379, db = 0, conn = 500, bmax = 5000;
  c->redis_lookup_timeout_ms = 20;
  snprintf(c->redis_prefix, sizeof c->redis_prefix, "llmrt:cache:");
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "address");
  if (a) {
    const char *colon = cJSON_IsString(a) ? strrchr(a->valuestring, ':') : NULL;
    char *end = NULL;
    unsigned long p = colon ? strtoul(colon + 1, &end, 10) : 0;
    size_t hl = colon ? (size_t)(colon - a->valuestring) : 0;
    if (!colon || !*(colon + 1) || *end || p == 0 || p > 65535 || hl == 0 || hl >= sizeof host) {
      snprintf(err, errlen, "redis.address must be \"HOST:PORT\" (a numeric address or localhost)");
      return LLMRT_ECONFIG;
    }
    memcpy(host, a->valuestring, hl);
    host[hl] = '\0';
    /* [::1]:6379 */
    if (host[0] == '[' && host[hl - 1] == ']') {
      memmove(host, host + 1, hl - 2);
      host[hl - 2] = '\0';
    }
    port = (uint32_t)p;
  }
  if (get_uint(o, "db", 0, 1000, &db, err, errlen) ||
      get_uint(o, "lookup_timeout_ms", 1, 60000, &c->redis_lookup_timeout_ms, err, errlen) ||
      get_uint(o, "connect_timeout_ms", 1, 60000, &conn, err, errlen) ||
      get_uint(o, "backoff_max_ms", 1, 600000, &bmax, err, errlen))
    return LLMRT_ECONFIG;
  const cJSON *px = cJSON_GetObjectItemCaseSensitive(o, "prefix");
  if (px) {
    if (!cJSON_IsString(px) || strlen(px->valuestring) >= sizeof c->redis_prefix) {
      snprintf(err, errlen, "redis.prefix must be a string of at most %zu bytes",
               sizeof c->redis_prefix - 1);
      return LLMRT_ECONFIG;
    }
    snprintf(c->redis_prefix, sizeof c->redis_prefix, "%s", px->valuestring);
  }
  const cJSON *pe = cJSON_GetObjectItemCaseSensitive(o, "password_env");
  if (pe) {
    if (!cJSON_IsString(pe) || !*pe->valuestring) {
      snprintf(err, errlen, "redis.password_env must name an environment variable");
      return LLMRT_ECONFIG;
    }
    ro.password = getenv(pe->valuestring);
    if (!ro.password || !*ro.password) {
      snprintf(err, errlen, "redis.password_env: %.100s is not set", pe->valuestring);
      return LLMRT_ECONFIG;
    }
  }
  ro.host = host;
  ro.port = (uint16_t)port;
  ro.db = (int)db;
  ro.connect_timeout_ms = conn;
  ro.backoff_max_ms = bmax;
  ro.label = "cache";
  ro.on_state = on_state;
  ro.state_arg = c;
  int rc = redis_loop_new(H, c->prt, &ro, &c->redis);
  if (rc == LLMRT_EINVAL) {
    snprintf(err, errlen, "redis.address: \"%s\" is not a numeric address or localhost", host);
    return LLMRT_ECONFIG;
  }
  return rc;
}

static int redis_key(const cache_t *c, const uint8_t key[CACHE_KEY_LEN], char *out, size_t cap) {
  char hex[2 * CACHE_KEY_LEN + 1];
  cache__key_hex(key, hex);
  return snprintf(out, cap, "%s%s", c->redis_prefix, hex);
}

static void warn(cache_t *c, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "redis %s: serving from memory only", what);
  H->log(c->prt, LLMRT_LOG_WARN, msg);
}

static void on_get(void *arg, int status, const redisReply *reply) {
  cache_call_t *cc = arg;
  cache_t *c = H->plugin_state(cc->ctx);
  cc->redis_cmd = NULL;
  cache_entry_t *e = NULL;
  if (status == LLMRT_ETIMEDOUT) {
    H->metric_add(c->m_redis_timeouts, NULL, 1);
    if (!c->redis_timeouts_seen++) warn(c, "lookup timed out");
  } else if (status || !reply || reply->type == REDIS_REPLY_ERROR) {
    H->metric_add(c->m_redis_errors, NULL, 1);
    if (!c->redis_errors_seen++) {
      char what[180];
      snprintf(what, sizeof what, "lookup failed (%.120s)",
               reply && reply->str ? reply->str : llmrt_err_name_(status));
      warn(c, what);
    }
  } else if (reply->type == REDIS_REPLY_STRING) {
    c->redis_errors_seen = c->redis_timeouts_seen = 0;
    e = cache__entry_parse(reply->str, reply->len, cc->key, c->max_entry_bytes);
    if (!e) {
      H->metric_add(c->m_redis_errors, NULL, 1);
      if (!c->redis_errors_seen++) warn(c, "entry is malformed or too big");
    } else {
      int64_t now = cache__wall_ms();
      if (now >= e->expires_ms || (cc->max_age_ms > 0 && now - e->created_ms > cc->max_age_ms)) {
        cache__entry_unref(e);
        e = NULL;
      }
    }
  } else {
    c->redis_errors_seen = c->redis_timeouts_seen = 0;
  }
  cache__lookup_done(c, cc, e);
}

int cache__redis_lookup(cache_t *c, cache_call_t *cc) {
  if (!c->redis) return LLMRT_ECLOSED;
  char k[160];
  int n = redis_key(c, cc->key, k, sizeof k);
  const char *argv[2] = {"GET", k};
  size_t lens[2] = {3, (size_t)n};
  int rc = redis_loop_command(c->redis, 2, argv, lens, c->redis_lookup_timeout_ms, on_get, cc,
                              &cc->redis_cmd);
  if (rc) {
    cc->redis_cmd = NULL;
    if (rc != LLMRT_ENOMEM) H->metric_add(c->m_redis_errors, NULL, 1);
  }
  return rc;
}

static void on_set(void *arg, int status, const redisReply *reply) {
  cache_t *c = arg;
  if (status == LLMRT_ESHUTDOWN) return;
  if (status || !reply || reply->type == REDIS_REPLY_ERROR) {
    H->metric_add(c->m_redis_errors, NULL, 1);
    char msg[200];
    snprintf(msg, sizeof msg, "redis write failed: %.150s",
             reply && reply->str ? reply->str : llmrt_err_name_(status));
    H->log(c->prt, LLMRT_LOG_WARN, msg);
  }
}

void cache__redis_store(cache_t *c, const cache_entry_t *e) {
  if (!c->redis || !redis_loop_ready(c->redis)) return;
  int64_t ttl = e->expires_ms - cache__wall_ms();
  if (ttl <= 0) return;
  char *val;
  size_t len;
  if (cache__entry_serialize(e, &val, &len) != 0) return;
  char k[160], px[32];
  int kn = redis_key(c, e->key, k, sizeof k);
  int pn = snprintf(px, sizeof px, "%lld", (long long)ttl);
  const char *argv[5] = {"SET", k, val, "PX", px};
  size_t lens[5] = {3, (size_t)kn, len, 2, (size_t)pn};
  /* No timeout of ours: the write is not waited for; the stall detection of
   * the connection still applies through the lookups. */
  if (redis_loop_command(c->redis, 5, argv, lens, 0, on_set, c, NULL) != 0)
    H->metric_add(c->m_redis_errors, NULL, 1);
  H->free(val);
}
