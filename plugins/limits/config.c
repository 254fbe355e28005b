/* The plugin's JSON configuration (docs/plugins/limits.md):
 *
 *   {"name": "limits",
 *    "limits": [{"per": "upstream" | "model" | "tenant", "match": "name",
 *                "max_in_flight": 8, "rpm": 500, "tpm": 30000,
 *                "rpm_burst": 500, "tpm_burst": 30000, "window_ms": 60000}],
 *    "queue": {"max_length": 1000, "timeout_ms": 60000, "max_age_ms": 10000},
 *    "default_max_tokens": 1024,
 *    "adaptive": {"enabled": true, "window_ms": 60000, "probe_in_flight": 1},
 *    "max_keys": 10000,
 *    "redis": {"host": "127.0.0.1", "port": 6379, "db": 0,
 *              "password_env": "REDIS_PASSWORD", "prefix": "llmrt:limits:",
 *              "timeout_ms": 100}}
 *
 * Unknown keys are refused, so a typo fails at configuration time. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "limits_int.h"

#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), -1)

static int check_keys(const cJSON *obj, const char *where, const char *const *keys, char *err,
                      size_t errlen) {
  for (const cJSON *it = obj->child; it; it = it->next) {
    size_t i;
    for (i = 0; keys[i]; i++)
      if (!strcmp(it->string, keys[i])) break;
    if (!keys[i]) return FAIL("%s: unknown key \"%.64s\"", where, it->string);
  }
  return 0;
}

/* An integer from lo to hi at key, if present. */
static int get_num(const cJSON *obj, const char *where, const char *key, double lo, double hi,
                   double *out, char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      v->valuedouble != (double)(int64_t)v->valuedouble)
    return FAIL("%s.%s must be an integer from %.0f to %.0f", where, key, lo, hi);
  *out = v->valuedouble;
  return 0;
}

static int get_u32(const cJSON *obj, const char *where, const char *key, uint32_t lo, uint32_t hi,
                   uint32_t *out, char *err, size_t errlen) {
  double d = *out;
  if (get_num(obj, where, key, lo, hi, &d, err, errlen)) return -1;
  *out = (uint32_t)d;
  return 0;
}

static int parse_rule(const cJSON *o, size_t idx, lim_rule_t *r, char *err, size_t errlen) {
  static const char *const keys[] = {"per",       "match",     "max_in_flight", "rpm", "tpm",
                                     "rpm_burst", "tpm_burst", "window_ms",     NULL};
  char where[32];
  snprintf(where, sizeof where, "limits[%zu]", idx);
  if (!cJSON_IsObject(o)) return FAIL("%s must be an object", where);
  if (check_keys(o, where, keys, err, errlen)) return -1;
  const cJSON *per = cJSON_GetObjectItemCaseSensitive(o, "per");
  if (!cJSON_IsString(per))
    return FAIL("%s.per must be \"upstream\", \"model\" or \"tenant\"", where);
  if (!strcmp(per->valuestring, "upstream"))
    r->per = LIM_PER_UPSTREAM;
  else if (!strcmp(per->valuestring, "model"))
    r->per = LIM_PER_MODEL;
  else if (!strcmp(per->valuestring, "tenant"))
    r->per = LIM_PER_TENANT;
  else
    return FAIL("%s.per must be \"upstream\", \"model\" or \"tenant\"", where);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "match");
  if (m) {
    if (!cJSON_IsString(m) || !*m->valuestring || strlen(m->valuestring) > 256)
      return FAIL("%s.match must be a non-empty string of at most 256 bytes", where);
    size_t n = strlen(m->valuestring) + 1;
    if (!(r->match = limits__H->malloc(n))) return LLMRT_ENOMEM;
    memcpy(r->match, m->valuestring, n);
  }
  double mif = 0;
  r->window_ms = 60000;
  if (get_num(o, where, "max_in_flight", 1, 1e6, &mif, err, errlen) ||
      get_num(o, where, "rpm", 1, 1e9, &r->rpm, err, errlen) ||
      get_num(o, where, "tpm", 1, 1e12, &r->tpm, err, errlen) ||
      get_num(o, where, "rpm_burst", 1, 1e9, &r->rpm_burst, err, errlen) ||
      get_num(o, where, "tpm_burst", 1, 1e12, &r->tpm_burst, err, errlen) ||
      get_u32(o, where, "window_ms", 1, 86400000, &r->window_ms, err, errlen))
    return -1;
  r->max_in_flight = (uint32_t)mif;
  if (!r->max_in_flight && !r->rpm && !r->tpm)
    return FAIL("%s sets no limit (max_in_flight, rpm or tpm)", where);
  if ((r->rpm_burst && !r->rpm) || (r->tpm_burst && !r->tpm))
    return FAIL("%s: a burst needs its rate (rpm_burst: rpm, tpm_burst: tpm)", where);
  if (!r->rpm_burst) r->rpm_burst = r->rpm;
  if (!r->tpm_burst) r->tpm_burst = r->tpm;
  return 0;
}

static int get_str(const cJSON *o, const char *key, char *out, size_t cap, char *err,
                   size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) return 0;
  if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
    return FAIL("redis.%s must be a string of at most %zu bytes", key, cap - 1);
  memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
  return 0;
}

static int parse_redis(lim_cfg_t *c, const cJSON *r, char *err, size_t errlen) {
  static const char *const keys[] = {"host",   "port",       "db", "password_env",
                                     "prefix", "timeout_ms", NULL};
  if (!r) return 0;
  if (!cJSON_IsObject(r)) return FAIL("redis must be an object");
  if (check_keys(r, "redis", keys, err, errlen)) return -1;
  double port = 6379, db = 0;
  if (get_str(r, "host", c->redis_host, sizeof c->redis_host, err, errlen) ||
      get_str(r, "password_env", c->redis_password_env, sizeof c->redis_password_env, err,
              errlen) ||
      get_str(r, "prefix", c->redis_prefix, sizeof c->redis_prefix, err, errlen) ||
      get_num(r, "redis", "port", 1, 65535, &port, err, errlen) ||
      get_num(r, "redis", "db", 0, 15, &db, err, errlen) ||
      get_u32(r, "redis", "timeout_ms", 1, 60000, &c->redis_timeout_ms, err, errlen))
    return -1;
  c->redis_port = (uint16_t)port;
  c->redis_db = (int)db;
  c->redis_enabled = 1;
  return 0;
}

static int parse(lim_cfg_t *c, const cJSON *root, char *err, size_t errlen) {
  static const char *const keys[] = {"name",     "limits",   "queue", "default_max_tokens",
                                     "adaptive", "max_keys", "redis", NULL};
  static const char *const qkeys[] = {"max_length", "timeout_ms", "max_age_ms", NULL};
  static const char *const akeys[] = {"enabled", "window_ms", "probe_in_flight", NULL};
  if (!cJSON_IsObject(root)) return FAIL("config must be a JSON object");
  if (check_keys(root, "limits plugin", keys, err, errlen)) return -1;
  const cJSON *lims = cJSON_GetObjectItemCaseSensitive(root, "limits");
  if (lims) {
    if (!cJSON_IsArray(lims)) return FAIL("limits must be an array of rules");
    size_t n = (size_t)cJSON_GetArraySize(lims);
    if (n > 64) return FAIL("limits: at most 64 rules");
    if (n && !(c->rules = limits__H->calloc(n, sizeof *c->rules))) return LLMRT_ENOMEM;
    c->n_rules = n;
    size_t i = 0;
    for (const cJSON *it = lims->child; it; it = it->next, i++) {
      int rc = parse_rule(it, i, &c->rules[i], err, errlen);
      if (rc) return rc;
    }
  }
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "queue");
  if (q) {
    if (!cJSON_IsObject(q)) return FAIL("queue must be an object");
    if (check_keys(q, "queue", qkeys, err, errlen) ||
        get_u32(q, "queue", "max_length", 0, 10000000, &c->queue_max, err, errlen) ||
        get_u32(q, "queue", "timeout_ms", 1, 86400000, &c->queue_timeout_ms, err, errlen) ||
        get_u32(q, "queue", "max_age_ms", 1, 86400000, &c->max_age_ms, err, errlen))
      return -1;
  }
  if (get_u32(root, "config", "default_max_tokens", 1, 10000000, &c->default_max_tokens, err,
              errlen) ||
      get_u32(root, "config", "max_keys", 16, 10000000, &c->max_keys, err, errlen))
    return -1;
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "adaptive");
  if (cJSON_IsBool(a)) {
    c->adaptive = cJSON_IsTrue(a);
  } else if (a) {
    if (!cJSON_IsObject(a)) return FAIL("adaptive must be true, false or an object");
    if (check_keys(a, "adaptive", akeys, err, errlen)) return -1;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(a, "enabled");
    if (en && !cJSON_IsBool(en)) return FAIL("adaptive.enabled must be true or false");
    if (en) c->adaptive = cJSON_IsTrue(en);
    if (get_u32(a, "adaptive", "window_ms", 1, 86400000, &c->provider_window_ms, err, errlen) ||
        get_u32(a, "adaptive", "probe_in_flight", 0, 1000000, &c->probe_in_flight, err, errlen))
      return -1;
  }
  return parse_redis(c, cJSON_GetObjectItemCaseSensitive(root, "redis"), err, errlen);
}

int limits__config_parse(lim_cfg_t *c, const char *json, size_t len, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  c->queue_max = 1000;
  c->queue_timeout_ms = 60000;
  c->max_age_ms = 10000;
  c->default_max_tokens = 1024;
  c->adaptive = 1;
  c->provider_window_ms = 60000;
  c->probe_in_flight = 1;
  c->max_keys = 10000;
  snprintf(c->redis_host, sizeof c->redis_host, "127.0.0.1");
  snprintf(c->redis_prefix, sizeof c->redis_prefix, "llmrt:limits:");
  c->redis_timeout_ms = 100;
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) {
    snprintf(err, errlen, "config is not valid JSON");
    return LLMRT_ECONFIG;
  }
  int rc = parse(c, root, err, errlen);
  cJSON_Delete(root);
  if (rc) {
    limits__config_free(c);
    return rc == LLMRT_ENOMEM ? rc : LLMRT_ECONFIG;
  }
  return 0;
}

void limits__config_free(lim_cfg_t *c) {
  for (size_t i = 0; i < c->n_rules; i++)
    limits__H->free(c->rules[i].match);
  limits__H->free(c->rules);
  c->rules = NULL;
  c->n_rules = 0;
}
