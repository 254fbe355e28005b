/* Gateway keys. Keys are held only as SHA-256 digests; a presented key is
 * hashed and compared with every stored digest in constant time (the loop
 * never stops early), so neither timing nor a memory dump gives a key away.
 * Each key names its tenant (the partition for cache and limits) and may be
 * restricted to some routes. */
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_internal.h"

#include <stdarg.h>
static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}
#define FAIL(...) fail(err, errlen, __VA_ARGS__)

void llmrt__gw_hash(const char *key, size_t len, unsigned char out[32]) {
  mbedtls_sha256_ret((const unsigned char *)key, len, out, 0);
}

const gw_key_t *llmrt__gw_key_find(const gw_conf_t *cf, const char *key, size_t len) {
  unsigned char h[32];
  llmrt__gw_hash(key, len, h);
  const gw_key_t *found = NULL;
  for (size_t i = 0; i < cf->n_keys; i++) {
    unsigned diff = 0;
    for (size_t b = 0; b < 32; b++)
      diff |= (unsigned)(h[b] ^ cf->keys[i].hash[b]);
    /* Branch-free select: the match is remembered without leaving early. */
    uintptr_t m = (uintptr_t)0 - (uintptr_t)(diff == 0);
    found = (const gw_key_t *)(((uintptr_t)&cf->keys[i] & m) | ((uintptr_t)found & ~m));
  }
  memset(h, 0, sizeof h);
  return found;
}

int llmrt__gw_key_allows(const gw_key_t *k, const char *route) {
  if (!k || !k->n_routes) return 1;
  for (size_t i = 0; i < k->n_routes; i++)
    if (!strcmp(k->routes[i], route)) return 1;
  return 0;
}

const char *llmrt__gw_presented_key(llmrt__sreq_t *r, size_t *len) {
  const char *a = llmrt__sreq_header(r, "authorization");
  if (a && !strncasecmp(a, "Bearer ", 7)) {
    a += 7;
    while (*a == ' ')
      a++;
    *len = strlen(a);
    return *len ? a : NULL;
  }
  const char *x = llmrt__sreq_header(r, "x-api-key");
  if (x && *x) {
    *len = strlen(x);
    return x;
  }
  return NULL;
}

int llmrt__gw_keys_add(gw_conf_t *cf, const cJSON *arr, const char *path, char *err,
                       size_t errlen) {
  static const char *const allowed[] = {"key", "key_env", "tenant", "routes", NULL};
  if (!cJSON_IsArray(arr)) return FAIL("%s: must be an array of {\"key\", \"tenant\"}", path);
  int i = 0;
  for (const cJSON *k = arr->child; k; k = k->next, i++) {
    if (!cJSON_IsObject(k)) return FAIL("%s[%d]: must be an object", path, i);
    for (const cJSON *it = k->child; it; it = it->next) {
      int ok = 0;
      for (size_t a = 0; allowed[a]; a++)
        ok |= !strcmp(it->string, allowed[a]);
      if (!ok) return FAIL("%s[%d].%.32s: unknown key", path, i, it->string);
    }
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(k, "key");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(k, "key_env");
    const cJSON *tenant = cJSON_GetObjectItemCaseSensitive(k, "tenant");
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(k, "routes");
    const char *kv = NULL;
    if (cJSON_IsString(key))
      kv = key->valuestring;
    else if (cJSON_IsString(env)) {
      kv = getenv(env->valuestring);
      if (!kv || !*kv)
        return FAIL("%s[%d].key_env: environment variable %.64s is empty", path, i,
                    env->valuestring);
    } else {
      return FAIL("%s[%d]: needs \"key\" or \"key_env\"", path, i);
    }
    if (strlen(kv) < 8) return FAIL("%s[%d]: a key needs at least 8 characters", path, i);
    if (!cJSON_IsString(tenant) || !*tenant->valuestring)
      return FAIL("%s[%d].tenant: required, a non-empty string", path, i);
    /* A client's x-llmrt-tenant-tag makes TENANT/TAG: a '/' in a key's own
     * tenant would let another key's client tag its way into this one's
     * partition ("a" + tag "b" is tenant "a/b"). */
    if (strchr(tenant->valuestring, '/'))
      return FAIL("%s[%d].tenant: '/' is reserved for x-llmrt-tenant-tag", path, i);
    if (routes && !cJSON_IsArray(routes))
      return FAIL("%s[%d].routes: must be an array of route names", path, i);
    gw_key_t *nk = llmrt__realloc(cf->keys, (cf->n_keys + 1) * sizeof *nk);
    if (!nk) return FAIL("out of memory");
    cf->keys = nk;
    gw_key_t *e = &cf->keys[cf->n_keys];
    memset(e, 0, sizeof *e);
    llmrt__gw_hash(kv, strlen(kv), e->hash);
    for (size_t j = 0; j < cf->n_keys; j++)
      if (!memcmp(cf->keys[j].hash, e->hash, 32))
        return FAIL("%s[%d]: the same key is listed twice", path, i);
    if (!(e->tenant = llmrt__strdup(tenant->valuestring))) return FAIL("out of memory");
    cf->n_keys++;
    size_t nr = routes ? (size_t)cJSON_GetArraySize(routes) : 0;
    if (nr) {
      if (!(e->routes = llmrt__calloc(nr, sizeof *e->routes))) return FAIL("out of memory");
      int ri = 0;
      for (const cJSON *r = routes->child; r; r = r->next, ri++) {
        if (!cJSON_IsString(r)) return FAIL("%s[%d].routes[%d]: must be a string", path, i, ri);
        if (!llmrt__gw_route(cf, r->valuestring, NULL))
          return FAIL("%s[%d].routes[%d]: no route named \"%.64s\"", path, i, ri, r->valuestring);
        if (!(e->routes[e->n_routes++] = llmrt__strdup(r->valuestring)))
          return FAIL("out of memory");
      }
    }
  }
  return 0;
}
