/* llmrt_configure: parses and checks the JSON configuration, reads API keys
 * from the environment, loads the plugin chain, and only then installs the
 * result, so a refused configuration changes nothing.
 *
 * Every refusal names the JSON path of the fault ("$.upstreams.openai.api").
 * API keys never reach a message: only the name of their variable and their
 * key_id (a digest prefix) do. */
#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chain.h"

#define MAX_CONNECTIONS_LIMIT 100000

/* What configure builds before it touches the runtime. */
typedef struct {
  llmrt__upstream_t *ups;
  size_t n_ups;
  size_t dflt;
  llmrt_plugin_rt_t **plugins;
  size_t n_plugins;
  size_t states_size;
  llmrt__token_rules_t *token_rules; /* "token_encodings" (tokens_host.c) */
} draft_t;

typedef struct {
  char *buf;
  size_t len;
} errout_t;

__attribute__((format(printf, 2, 3))) static void fail_msg(errout_t *e, const char *fmt, ...) {
  if (!e->buf || e->len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->buf, e->len, fmt, ap);
  va_end(ap);
}

/* ---- JSON paths ---- */

static int is_ident(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9')) return 0;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return 0;
  }
  return 1;
}

/* Appends ".key" or ["key"] (for keys that are not plain identifiers, with
 * quotes and control characters escaped) to a path. */
static void path_key(char *out, size_t outlen, const char *base, const char *key) {
  if (is_ident(key)) {
    snprintf(out, outlen, "%s.%s", base, key);
    return;
  }
  size_t n = (size_t)snprintf(out, outlen, "%s[\"", base);
  for (const char *k = key; *k && n + 8 < outlen; k++) {
    unsigned char c = (unsigned char)*k;
    if (c == '"' || c == '\\')
      n += (size_t)snprintf(out + n, outlen - n, "\\%c", c);
    else if (c < 0x20)
      n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
    else
      out[n++] = (char)c;
  }
  if (n < outlen) snprintf(out + n, outlen - n, "\"]");
}

/* Refuses keys outside `allowed` (NULL-terminated) and duplicate keys:
 * cJSON would silently keep the first of two. */
static int check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                      const char *expected, errout_t *e) {
  for (const cJSON *it = obj->child; it; it = it->next) {
    char p[256];
    path_key(p, sizeof p, path, it->string);
    for (const cJSON *prev = obj->child; prev != it; prev = prev->next) {
      if (strcmp(prev->string, it->string) == 0) {
        fail_msg(e, "%s: duplicate key", p);
        return LLMRT_ECONFIG;
      }
    }
    if (!allowed) continue;
    int ok = 0;
    for (const char *const *a = allowed; *a; a++)
      if (strcmp(*a, it->string) == 0) ok = 1;
    if (!ok) {
      if (strcmp(it->string, "api_key") == 0)
        fail_msg(e,
                 "%s: keys are not accepted in the configuration; name the environment "
                 "variable that holds it with api_key_env",
                 p);
      else
        fail_msg(e, "%s: unknown key (expected %s)", p, expected);
      return LLMRT_ECONFIG;
    }
  }
  return 0;
}

/* ---- Upstreams ---- */

void llmrt__secret_free(char *s) {
  if (!s) return;
  /* Wipe the key before the allocator may hand the bytes to someone else. */
  volatile char *v = s;
  while (*v)
    *v++ = '\0';
  llmrt__free(s);
}

static void upstream_free(llmrt__upstream_t *u) {
  llmrt__free(u->name);
  llmrt__free(u->base_url);
  llmrt__secret_free(u->api_key);
  llmrt__free(u->host);
  llmrt__free(u->key_env);
  for (size_t i = 0; i < u->n_headers; i++) {
    llmrt__free((char *)u->headers[i].name);
    llmrt__free((char *)u->headers[i].value);
  }
  llmrt__free(u->headers);
  memset(u, 0, sizeof *u);
}

static int valid_env_name(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9')) return 0;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
          *s == '_'))
      return 0;
  return 1;
}

/* An HTTP token (RFC 9110 tchar). */
int llmrt__header_name_ok(const char *s) {
  if (!*s) return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c)) return 0;
  }
  return 1;
}

/* No CR, LF or NUL: a value must not be able to start a header of its own. */
int llmrt__header_value_ok(const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '\r' || c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) return 0;
  }
  return 1;
}

/* The runtime sets these itself: a second copy would be sent, or would
 * smuggle a key past the configured one. */
int llmrt__header_reserved(const char *name) {
  static const char *const reserved[] = {"host",          "content-length", "content-type",
                                         "connection",    "transfer-encoding", "authorization",
                                         "x-api-key",     NULL};
  for (const char *const *rs = reserved; *rs; rs++)
    if (!strcasecmp(name, *rs)) return 1;
  return 0;
}

void llmrt__key_id(const char *key, char out[17]) {
  unsigned char d[32];
  static const char hex[] = "0123456789abcdef";
  mbedtls_sha256_ret((const unsigned char *)key, strlen(key), d, 0);
  for (int i = 0; i < 8; i++) {
    out[2 * i] = hex[d[i] >> 4];
    out[2 * i + 1] = hex[d[i] & 15];
  }
  out[16] = '\0';
  memset(d, 0, sizeof d);
}

static int parse_base_url(const cJSON *v, const char *path, llmrt__upstream_t *u, errout_t *e) {
  const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
  size_t skip = 0;
  if (s && strncmp(s, "http://", 7) == 0) skip = 7;
  if (s && strncmp(s, "https://", 8) == 0) skip = 8;
  if (!skip) {
    fail_msg(e, "%s.base_url: must be a string starting with http:// or https://", path);
    return LLMRT_ECONFIG;
  }
  /* Secrets do not belong in a URL (user:password@, ?api-key=): refuse
   * them, and never echo the URL in the message, which may hold one. */
  size_t hostlen = strcspn(s + skip, "/");
  if (memchr(s + skip, '@', hostlen)) {
    fail_msg(e, "%s.base_url: must not carry credentials (user:password@); put the key in "
                "api_key_env", path);
    return LLMRT_ECONFIG;
  }
  if (s[skip] == '\0' || s[skip] == '/' || s[skip] == ':' || strpbrk(s, " \t\r\n?#")) {
    fail_msg(e, "%s.base_url: has no host, or contains a space, a query ('?') or a fragment "
                "('#'); keys go in api_key_env", path);
    return LLMRT_ECONFIG;
  }
  size_t n = strlen(s);
  while (n > skip && s[n - 1] == '/')
    n--;
  u->base_url = llmrt__strndup(s, n);
  return u->base_url ? 0 : LLMRT_ENOMEM;
}

/* Host and port of the base URL, for plugins (host->upstream_info). The URL
 * was checked by parse_base_url. */
static int host_port(llmrt__upstream_t *u) {
  const char *h = strstr(u->base_url, "://");
  int tls = !strncasecmp(u->base_url, "https", 5);
  h = h ? h + 3 : u->base_url;
  const char *at = h + strcspn(h, "/?#");
  const char *userinfo = memchr(h, '@', (size_t)(at - h));
  if (userinfo) h = userinfo + 1;
  const char *hend, *colon = NULL;
  if (*h == '[') {
    const char *rb = memchr(h, ']', (size_t)(at - h));
    if (!rb) rb = at;
    hend = rb;
    h++;
    if (rb < at && rb[1] == ':') colon = rb + 1;
  } else {
    colon = memchr(h, ':', (size_t)(at - h));
    hend = colon ? colon : at;
  }
  u->host = llmrt__strndup(h, (size_t)(hend - h));
  if (!u->host) return LLMRT_ENOMEM;
  u->port = colon ? (uint16_t)atoi(colon + 1) : (tls ? 443 : 80);
  u->tls = tls;
  return 0;
}

static int parse_headers(const cJSON *v, const char *path, llmrt__upstream_t *u, errout_t *e) {
  char hp[300];
  snprintf(hp, sizeof hp, "%s.headers", path);
  if (!cJSON_IsObject(v)) {
    fail_msg(e, "%s: must be an object of header names to string values", hp);
    return LLMRT_ECONFIG;
  }
  int r = check_keys(v, hp, NULL, NULL, e);
  if (r) return r;
  size_t n = (size_t)cJSON_GetArraySize(v);
  if (n == 0) return 0;
  u->headers = llmrt__calloc(n, sizeof *u->headers);
  if (!u->headers) return LLMRT_ENOMEM;
  for (const cJSON *h = v->child; h; h = h->next) {
    char p[256];
    path_key(p, sizeof p, hp, h->string);
    if (!llmrt__header_name_ok(h->string)) {
      fail_msg(e, "%s: not a valid HTTP header name", p);
      return LLMRT_ECONFIG;
    }
    if (!cJSON_IsString(h) || !llmrt__header_value_ok(h->valuestring)) {
      fail_msg(e, "%s: must be a string without control characters", p);
      return LLMRT_ECONFIG;
    }
    if (llmrt__header_reserved(h->string)) {
      fail_msg(e, "%s: set by llmrt itself (credentials go in api_key_env)", p);
      return LLMRT_ECONFIG;
    }
    if (n > 24) {
      fail_msg(e, "%s: at most 24 extra headers per upstream", hp);
      return LLMRT_ECONFIG;
    }
    llmrt_header_t *dst = &u->headers[u->n_headers];
    dst->name = llmrt__strdup(h->string);
    dst->value = llmrt__strdup(h->valuestring);
    u->n_headers++; /* counted now so upstream_free frees a half-made pair */
    if (!dst->name || !dst->value) return LLMRT_ENOMEM;
  }
  return 0;
}

static int parse_api(const cJSON *api, const char *path, llmrt__upstream_t *u, errout_t *e) {
  const char *api_name = "openai";
  if (api) {
    if (!cJSON_IsString(api)) {
      fail_msg(e, "%s.api: must be \"openai\" or \"anthropic\"", path);
      return LLMRT_ECONFIG;
    }
    api_name = api->valuestring;
  }
  u->provider = llmrt__provider_find(api_name);
  if (!u->provider) {
    fail_msg(e, "%s.api: must be \"openai\" or \"anthropic\"", path);
    return LLMRT_ECONFIG;
  }
  return 0;
}

/* The key, read from the environment variable the configuration names. */
static int parse_key_env(llmrt_t *rt, const cJSON *env, const char *path, llmrt__upstream_t *u,
                         errout_t *e) {
  if (!cJSON_IsString(env) || !valid_env_name(env->valuestring)) {
    fail_msg(e,
             "%s.api_key_env: must be the name of an environment variable "
             "(letters, digits and '_')",
             path);
    return LLMRT_ECONFIG;
  }
  u->key_env = llmrt__strdup(env->valuestring);
  if (!u->key_env) return LLMRT_ENOMEM;
  /* A missing variable is not an error here: calls to this upstream fail
   * with LLMRT_ENOKEY, naming the variable. */
  const char *key = getenv(u->key_env);
  /* Keys pasted from files often end in a newline: trim surrounding
   * white space, then refuse what cannot go in a header (naming the
   * variable, never the value). */
  size_t klen = key ? strlen(key) : 0;
  while (klen && strchr(" \t\r\n", key[klen - 1])) klen--;
  while (klen && strchr(" \t\r\n", *key)) key++, klen--;
  if (!key || !klen) {
    llmrt__log(rt, LLMRT_LOG_WARN,
               "upstream %s: environment variable %s is not set; calls to it will fail "
               "with LLMRT_ENOKEY",
               u->name, u->key_env);
    return 0;
  }
  u->api_key = llmrt__strndup(key, klen);
  if (!u->api_key) return LLMRT_ENOMEM;
  if (!llmrt__header_value_ok(u->api_key)) {
    fail_msg(e, "%s.api_key_env: the value of %s contains control characters", path, u->key_env);
    return LLMRT_ECONFIG;
  }
  llmrt__key_id(u->api_key, u->key_id);
  return 0;
}

static int parse_max_connections(const cJSON *mc, const char *path, llmrt__upstream_t *u,
                                 errout_t *e) {
  double d = cJSON_IsNumber(mc) ? mc->valuedouble : -1;
  if (!(d >= 1 && d <= MAX_CONNECTIONS_LIMIT) || d != (double)(uint32_t)d) {
    fail_msg(e, "%s.max_connections: must be an integer from 1 to %d", path,
             MAX_CONNECTIONS_LIMIT);
    return LLMRT_ECONFIG;
  }
  u->max_connections = (uint32_t)d;
  return 0;
}

static int parse_upstream(llmrt_t *rt, const cJSON *obj, llmrt__upstream_t *u, errout_t *e) {
  static const char *const keys[] = {"base_url",        "api", "api_key_env", "headers",
                                     "max_connections", NULL};
  char path[256];
  path_key(path, sizeof path, "$.upstreams", obj->string);
  if (!cJSON_IsObject(obj)) {
    fail_msg(e, "%s: must be an object", path);
    return LLMRT_ECONFIG;
  }
  int r = check_keys(obj, path, keys, "base_url, api, api_key_env, headers or max_connections", e);
  if (r) return r;
  u->name = llmrt__strdup(obj->string);
  if (!u->name) return LLMRT_ENOMEM;
  const cJSON *v;
  if ((r = parse_base_url(cJSON_GetObjectItemCaseSensitive(obj, "base_url"), path, u, e))) return r;
  if ((r = host_port(u)) != 0) return r;
  if ((r = parse_api(cJSON_GetObjectItemCaseSensitive(obj, "api"), path, u, e))) return r;
  if ((v = cJSON_GetObjectItemCaseSensitive(obj, "api_key_env")) &&
      (r = parse_key_env(rt, v, path, u, e)))
    return r;
  if ((v = cJSON_GetObjectItemCaseSensitive(obj, "headers")) && (r = parse_headers(v, path, u, e)))
    return r;
  if ((v = cJSON_GetObjectItemCaseSensitive(obj, "max_connections")) &&
      (r = parse_max_connections(v, path, u, e)))
    return r;
  return 0;
}

static int parse_upstreams(llmrt_t *rt, const cJSON *root, draft_t *d, errout_t *e) {
  const cJSON *ups = cJSON_GetObjectItemCaseSensitive(root, "upstreams");
  d->dflt = SIZE_MAX;
  if (!ups) return 0;
  if (!cJSON_IsObject(ups)) {
    fail_msg(e, "$.upstreams: must be an object of upstream names to upstreams");
    return LLMRT_ECONFIG;
  }
  int r = check_keys(ups, "$.upstreams", NULL, NULL, e);
  if (r) return r;
  size_t n = (size_t)cJSON_GetArraySize(ups);
  if (n == 0) return 0;
  d->ups = llmrt__calloc(n, sizeof *d->ups);
  if (!d->ups) return LLMRT_ENOMEM;
  for (const cJSON *u = ups->child; u; u = u->next) {
    if (!*u->string) {
      fail_msg(e, "$.upstreams[\"\"]: an upstream needs a non-empty name");
      return LLMRT_ECONFIG;
    }
    r = parse_upstream(rt, u, &d->ups[d->n_ups], e);
    d->n_ups++; /* counted now so a half-parsed upstream is freed too */
    if (r) return r;
  }

  const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(root, "default_upstream");
  if (dflt) {
    if (!cJSON_IsString(dflt)) {
      fail_msg(e, "$.default_upstream: must be the name of an upstream");
      return LLMRT_ECONFIG;
    }
    for (size_t i = 0; i < d->n_ups; i++)
      if (strcmp(d->ups[i].name, dflt->valuestring) == 0) d->dflt = i;
    if (d->dflt == SIZE_MAX) {
      fail_msg(e, "$.default_upstream: no upstream named \"%.64s\" in $.upstreams",
               dflt->valuestring);
      return LLMRT_ECONFIG;
    }
  } else if (d->n_ups == 1) {
    d->dflt = 0;
  } else {
    /* Guessing would send calls somewhere the user did not choose. */
    fail_msg(e, "$.default_upstream: required when there are several upstreams");
    return LLMRT_ECONFIG;
  }
  return 0;
}

/* ---- Plugins ---- */

static int load_plugins(llmrt_t *rt, const cJSON *root, draft_t *d, errout_t *e) {
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "plugins");
  if (!arr) return 0;
  if (!cJSON_IsArray(arr)) {
    fail_msg(e, "$.plugins: must be an array of plugin objects");
    return LLMRT_ECONFIG;
  }
  size_t n = (size_t)cJSON_GetArraySize(arr);
  if (n == 0) return 0;
  d->plugins = llmrt__calloc(n, sizeof *d->plugins);
  if (!d->plugins) return LLMRT_ENOMEM;
  size_t i = 0;
  for (const cJSON *pl = arr->child; pl; pl = pl->next, i++) {
    if (!cJSON_IsObject(pl)) {
      fail_msg(e, "$.plugins[%zu]: must be an object with at least a \"name\"", i);
      return LLMRT_ECONFIG;
    }
    char path[64];
    snprintf(path, sizeof path, "$.plugins[%zu]", i);
    int r = check_keys(pl, path, NULL, NULL, e);
    if (r) return r;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(pl, "name");
    if (!cJSON_IsString(name) || !*name->valuestring) {
      fail_msg(e, "$.plugins[%zu].name: must be a plugin name or a path to a .so file", i);
      return LLMRT_ECONFIG;
    }
    /* The plugin reads its whole object, "name" included. */
    char *cfg = cJSON_PrintUnformatted(pl);
    if (!cfg) return LLMRT_ENOMEM;
    char msg[512] = "";
    llmrt_plugin_rt_t *p = NULL;
    llmrt__chain_t *ch = llmrt__chain_get(rt);
    if (ch) {
      ch->cfg_ups = d->ups;
      ch->cfg_n_ups = d->n_ups;
    }
    r = llmrt__plugin_load(rt, name->valuestring, cfg, strlen(cfg), &p, msg, sizeof msg);
    if (ch) {
      ch->cfg_ups = NULL;
      ch->cfg_n_ups = 0;
    }
    cJSON_free(cfg);
    if (r) {
      /* The loader's own message names the plugin and the file; a file that
       * was not found or did not load points at the name, init at the entry. */
      fail_msg(e, "$.plugins[%zu]%s: %s", i,
               r == LLMRT_EPLUGINLOAD || r == LLMRT_EPLUGINABI ? ".name" : "", msg);
      return r;
    }
    p->index = (unsigned)i;
    p->state_off = d->states_size;
    size_t sz = p->desc->call_state_size;
    if (sz > (SIZE_MAX >> 2)) {
      llmrt__plugin_unload(p);
      fail_msg(e, "$.plugins[%zu]: plugin %s: call_state_size %zu is not sane", i,
               name->valuestring, sz);
      return LLMRT_EPLUGINABI;
    }
    /* A name claimed with host->upstream_alias belongs to one plugin. */
    for (size_t a = 0; a < p->n_aliases; a++)
      for (size_t j = 0; j < d->n_plugins; j++)
        for (size_t b = 0; b < d->plugins[j]->n_aliases; b++)
          if (strcmp(p->aliases[a], d->plugins[j]->aliases[b]) == 0) {
            fail_msg(e, "$.plugins[%zu]: plugin %s: upstream name \"%.64s\" is already claimed "
                     "by $.plugins[%zu]", i, name->valuestring, p->aliases[a], j);
            llmrt__plugin_unload(p);
            return LLMRT_ECONFIG;
          }
    d->states_size += (sz + 15) & ~(size_t)15; /* keeps every state 16-byte aligned */
    d->plugins[d->n_plugins++] = p;
  }
  return 0;
}

/* ---- Entry ---- */

static void draft_free(draft_t *d) {
  /* Innermost first: an outer plugin may hold on to what inner ones made. */
  while (d->n_plugins > 0)
    llmrt__plugin_unload(d->plugins[--d->n_plugins]);
  llmrt__free(d->plugins);
  for (size_t i = 0; i < d->n_ups; i++)
    upstream_free(&d->ups[i]);
  llmrt__free(d->ups);
  llmrt__token_rules_free(d->token_rules);
  memset(d, 0, sizeof *d);
}

/* Line number of position pos, for "not valid JSON near line N". */
static int line_of(const char *json, const char *pos) {
  int line = 1;
  for (const char *c = json; *c && c < pos; c++)
    if (*c == '\n') line++;
  return line;
}

int llmrt_configure(llmrt_t *rt, const char *json, char *errbuf, size_t errlen) {
  /* Messages always go to llmrt_errmsg too, errbuf or not. */
  char own[256];
  if (!errbuf || !errlen) {
    errbuf = own;
    errlen = sizeof own;
  }
  errout_t e = {errbuf, errlen};
  errbuf[0] = '\0';
  if (!rt || !json) {
    fail_msg(&e, "llmrt_configure: runtime and configuration must not be NULL");
    return LLMRT_EINVAL;
  }
  if (rt->closing) {
    fail_msg(&e, "llmrt_configure: the runtime is closing");
    return LLMRT_ESHUTDOWN;
  }
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  if (!ch) return LLMRT_ENOMEM;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
  if (!root) {
    /* cJSON reports an allocation failure the same way as bad syntax; the
     * position then still points inside the text. */
    fail_msg(&e, "$: not valid JSON near line %d", line_of(json, end ? end : json));
    return LLMRT_ECONFIG;
  }
  static const char *const keys[] = {"upstreams", "default_upstream", "plugins",
                                     "token_encodings", NULL};
  draft_t d;
  memset(&d, 0, sizeof d);
  int r;
  if (!cJSON_IsObject(root)) {
    fail_msg(&e, "$: must be an object");
    r = LLMRT_ECONFIG;
  } else {
    r = check_keys(root, "$", keys, "upstreams, default_upstream, plugins or token_encodings", &e);
  }
  if (!r) r = parse_upstreams(rt, root, &d, &e);
  if (!r && !d.ups && cJSON_GetObjectItemCaseSensitive(root, "default_upstream")) {
    fail_msg(&e, "$.default_upstream: there are no upstreams");
    r = LLMRT_ECONFIG;
  }
  if (!r) {
    r = llmrt__token_rules_parse(cJSON_GetObjectItemCaseSensitive(root, "token_encodings"),
                                 &d.token_rules, errbuf, errlen);
  }
  /* Plugins last: loading runs their init, the only step with effects. */
  if (!r) r = load_plugins(rt, root, &d, &e);
  for (size_t i = 0; !r && i < d.n_plugins; i++)
    d.plugins[i]->token_rules = d.token_rules;
  cJSON_Delete(root);
  llmrt__conf_t *cf = r ? NULL : llmrt__calloc(1, sizeof *cf);
  if (!r && !cf) r = LLMRT_ENOMEM;
  if (r) {
    if (r == LLMRT_ENOMEM) fail_msg(&e, "llmrt_configure: out of memory");
    draft_free(&d);
    llmrt__chain_errmsg(ch, "%s", errbuf);
    return r;
  }

  cf->ch = ch;
  cf->refs = 1; /* the chain's, while it is current */
  cf->upstreams = d.ups;
  cf->n_upstreams = d.n_ups;
  cf->default_upstream = d.dflt;
  cf->plugins = d.plugins;
  cf->n_plugins = d.n_plugins;
  cf->states_size = d.states_size;
  cf->token_rules = d.token_rules;
  for (size_t i = 0; i < d.n_ups; i++)
    llmrt__log(rt, LLMRT_LOG_DEBUG, "upstream %s: %s (%s)%s%s%s", d.ups[i].name, d.ups[i].base_url,
               d.ups[i].provider->name, d.ups[i].key_id[0] ? ", key id " : "", d.ups[i].key_id,
               i == d.dflt ? ", default" : "");
  for (size_t i = 0; i < d.n_plugins; i++)
    llmrt__log(rt, LLMRT_LOG_DEBUG, "plugin %s: loaded at position %zu", d.plugins[i]->label, i);
  /* Calls in flight keep the configuration they started with. */
  llmrt__conf_t *old = ch->conf;
  ch->conf = cf;
  ch->n_confs++;
  if (old) llmrt__conf_unref(old);
  return 0;
}

/* ---- Configuration lifetime ---- */

static void conf_free_now(void *arg) {
  llmrt__conf_t *cf = arg;
  llmrt__chain_t *ch = cf->ch;
  llmrt__call_cache_free(cf);
  draft_t d = {cf->upstreams, cf->n_upstreams, cf->default_upstream,
               cf->plugins,   cf->n_plugins,   cf->states_size, cf->token_rules};
  draft_free(&d);
  llmrt__free(cf);
  ch->n_confs--;
  llmrt__chain_maybe_shutdown(ch);
}

void llmrt__conf_ref(llmrt__conf_t *cf) {
  cf->refs++;
}

void llmrt__conf_unref(llmrt__conf_t *cf) {
  if (--cf->refs > 0) return;
  /* Never inside a plugin's hook (the last call may end inside one):
   * fini runs on a later loop turn. */
  llmrt__defer(cf->ch, &cf->free_defer, conf_free_now, cf);
}
