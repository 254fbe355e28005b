/* The gateway's JSON configuration: the runtime's own members (upstreams,
 * default_upstream, plugins, handed to llmrt_configure) and the gateway's
 * (listen, tls, routes, default_route, auth, limits, access_log, ...). Every
 * fault names its JSON path; unknown keys are refused, so a typo never
 * silently opens or widens anything. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"

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

static int check_keys(const cJSON *o, const char *path, const char *const *allowed, char *err,
                      size_t errlen) {
  for (const cJSON *it = o->child; it; it = it->next) {
    int ok = 0;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = !strcmp(it->string, allowed[i]);
    if (!ok) return FAIL("%s.%.64s: unknown key", path, it->string);
  }
  return 0;
}

static int get_u32(const cJSON *o, const char *name, const char *path, uint32_t *out, char *err,
                   size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0 ||
      v->valuedouble != (double)(uint64_t)v->valuedouble)
    return FAIL("%s.%s: must be a whole number from 0 to 4294967295", path, name);
  *out = (uint32_t)v->valuedouble;
  return 0;
}

static int get_size(const cJSON *o, const char *name, const char *path, size_t *out, char *err,
                    size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15 ||
      v->valuedouble != (double)(uint64_t)v->valuedouble)
    return FAIL("%s.%s: must be a whole number of bytes", path, name);
  *out = (size_t)v->valuedouble;
  return 0;
}

static int parse_listen(gw_conf_t *cf, const char *s, char *err, size_t errlen) {
  const char *colon = strrchr(s, ':');
  if (!colon) return FAIL("$.listen: \"%.64s\" is not ADDRESS:PORT", s);
  const char *h = s;
  size_t hl = (size_t)(colon - s);
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
  char *end;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (!colon[1] || *end || port > 65535 || hl == 0 || hl >= sizeof cf->host)
    return FAIL("$.listen: \"%.64s\" is not ADDRESS:PORT", s);
  memcpy(cf->host, h, hl);
  cf->host[hl] = '\0';
  cf->port = (uint16_t)port;
  return 0;
}

int llmrt__gw_upstream_api(const gw_conf_t *cf, const char *upstream) {
  for (size_t i = 0; i < cf->n_ups; i++)
    if (!strcmp(cf->ups[i].name, upstream)) return cf->ups[i].api;
  return -1;
}

static int add_route(gw_conf_t *cf, const char *name, const char *up, const char *model, int api,
                     const char *route) {
  gw_route_t *r = llmrt__realloc(cf->routes, (cf->n_routes + 1) * sizeof *r);
  if (!r) return -1;
  cf->routes = r;
  r = &cf->routes[cf->n_routes];
  r->name = llmrt__strdup(name);
  r->upstream = llmrt__strdup(up);
  r->model = llmrt__strdup(model);
  r->api = api;
  /* The route's name string, not its entry: the array moves, strings do not. */
  r->route = route ? route : r->name;
  if (!r->name || !r->upstream || !r->model) {
    llmrt__free(r->name), llmrt__free(r->upstream), llmrt__free(r->model);
    return -1;
  }
  cf->n_routes++;
  return 0;
}

static int parse_routes(gw_conf_t *cf, const cJSON *routes, char *err, size_t errlen) {
  if (!cJSON_IsObject(routes)) return FAIL("$.routes: must be an object");
  static const char *const keys[] = {"upstream", "model", "aliases", NULL};
  for (const cJSON *r = routes->child; r; r = r->next) {
    char path[128];
    snprintf(path, sizeof path, "$.routes.%.64s", r->string);
    if (!cJSON_IsObject(r)) return FAIL("%s: must be an object", path);
    if (check_keys(r, path, keys, err, errlen)) return -1;
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(r, "upstream");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r, "model");
    const cJSON *aliases = cJSON_GetObjectItemCaseSensitive(r, "aliases");
    if (!cJSON_IsString(up)) return FAIL("%s.upstream: required, the name of an upstream", path);
    int api = llmrt__gw_upstream_api(cf, up->valuestring);
    if (api < 0)
      return FAIL("%s.upstream: no upstream named \"%.64s\" in $.upstreams", path, up->valuestring);
    if (model && !cJSON_IsString(model)) return FAIL("%s.model: must be a string", path);
    const char *m = model ? model->valuestring : r->string;
    if (!*r->string || !*m) return FAIL("%s: empty model name", path);
    if (llmrt__gw_route(cf, r->string, NULL)) return FAIL("%s: defined twice", path);
    if (add_route(cf, r->string, up->valuestring, m, api, NULL)) return FAIL("out of memory");
    const char *own = cf->routes[cf->n_routes - 1].name;
    if (aliases && !cJSON_IsArray(aliases))
      return FAIL("%s.aliases: must be an array of strings", path);
    int i = 0;
    for (const cJSON *a = aliases ? aliases->child : NULL; a; a = a->next, i++) {
      if (!cJSON_IsString(a) || !*a->valuestring)
        return FAIL("%s.aliases[%d]: must be a non-empty string", path, i);
      if (llmrt__gw_route(cf, a->valuestring, NULL))
        return FAIL("%s.aliases[%d]: \"%.64s\" is already a route", path, i, a->valuestring);
      if (add_route(cf, a->valuestring, up->valuestring, m, api, own)) return FAIL("out of memory");
    }
  }
  return 0;
}

static int parse_upstreams(gw_conf_t *cf, const cJSON *ups, char *err, size_t errlen) {
  if (!ups) return 0;
  if (!cJSON_IsObject(ups)) return FAIL("$.upstreams: must be an object");
  size_t n = (size_t)cJSON_GetArraySize(ups);
  cf->ups = llmrt__calloc(n ? n : 1, sizeof *cf->ups);
  if (!cf->ups) return FAIL("out of memory");
  for (const cJSON *u = ups->child; u; u = u->next) {
    const cJSON *api = cJSON_IsObject(u) ? cJSON_GetObjectItemCaseSensitive(u, "api") : NULL;
    int a = GW_OPENAI;
    if (cJSON_IsString(api) && !strcmp(api->valuestring, "anthropic")) a = GW_ANTHROPIC;
    cf->ups[cf->n_ups].name = llmrt__strdup(u->string);
    if (!cf->ups[cf->n_ups].name) return FAIL("out of memory");
    cf->ups[cf->n_ups++].api = a;
  }
  return 0;
}

static int parse_auth(gw_conf_t *cf, const cJSON *auth, char *err, size_t errlen) {
  static const char *const keys[] = {"open", "keys", "keys_file", NULL};
  if (!cJSON_IsObject(auth))
    return FAIL("$.auth: required: {\"keys\": [...]}, {\"keys_file\": \"...\"} or "
                "{\"open\": true} for local use without keys");
  if (check_keys(auth, "$.auth", keys, err, errlen)) return -1;
  const cJSON *open = cJSON_GetObjectItemCaseSensitive(auth, "open");
  const cJSON *karr = cJSON_GetObjectItemCaseSensitive(auth, "keys");
  const cJSON *file = cJSON_GetObjectItemCaseSensitive(auth, "keys_file");
  if (open && !cJSON_IsBool(open)) return FAIL("$.auth.open: must be true or false");
  cf->open = cJSON_IsTrue(open);
  if (cf->open && (karr || file)) return FAIL("$.auth: open and keys exclude each other");
  if (karr && llmrt__gw_keys_add(cf, karr, "$.auth.keys", err, errlen)) return -1;
  if (file) {
    if (!cJSON_IsString(file)) return FAIL("$.auth.keys_file: must be a path");
    FILE *f = fopen(file->valuestring, "rb");
    if (!f) return FAIL("$.auth.keys_file: cannot open \"%.128s\"", file->valuestring);
    char *buf = llmrt__malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    int big = buf && !feof(f);
    fclose(f);
    if (!buf) return FAIL("out of memory");
    if (big) {
      llmrt__free(buf);
      return FAIL("$.auth.keys_file: larger than 1 MiB");
    }
    buf[n] = '\0';
    cJSON *doc = cJSON_Parse(buf);
    /* The file's text held keys in clear: wipe it before it goes. */
    memset(buf, 0, n);
    llmrt__free(buf);
    if (!doc) return FAIL("$.auth.keys_file: not valid JSON");
    int r = llmrt__gw_keys_add(cf, doc, "keys_file", err, errlen);
    for (cJSON *k = doc->child; k; k = k->next) {
      cJSON *kv = cJSON_GetObjectItemCaseSensitive(k, "key");
      if (cJSON_IsString(kv)) memset(kv->valuestring, 0, strlen(kv->valuestring));
    }
    cJSON_Delete(doc);
    if (r) return -1;
  }
  if (!cf->open && cf->n_keys == 0)
    return FAIL("$.auth: no keys (set \"keys\" or \"keys_file\", or \"open\": true for local "
                "use without keys)");
  return 0;
}

static int parse_limits(gw_conf_t *cf, const cJSON *l, char *err, size_t errlen) {
  static const char *const keys[] = {"max_body_bytes",
                                     "max_header_bytes",
                                     "max_headers",
                                     "max_connections",
                                     "max_requests_per_connection",
                                     "idle_timeout_ms",
                                     "stream_buffer_bytes",
                                     NULL};
  if (!l) return 0;
  if (!cJSON_IsObject(l)) return FAIL("$.limits: must be an object");
  if (check_keys(l, "$.limits", keys, err, errlen)) return -1;
  return get_size(l, "max_body_bytes", "$.limits", &cf->max_body_bytes, err, errlen) ||
                 get_size(l, "max_header_bytes", "$.limits", &cf->max_header_bytes, err, errlen) ||
                 get_u32(l, "max_headers", "$.limits", &cf->max_headers, err, errlen) ||
                 get_u32(l, "max_connections", "$.limits", &cf->max_connections, err, errlen) ||
                 get_u32(l, "max_requests_per_connection", "$.limits",
                         &cf->max_requests_per_connection, err, errlen) ||
                 get_u32(l, "idle_timeout_ms", "$.limits", &cf->idle_timeout_ms, err, errlen) ||
                 get_u32(l, "stream_buffer_bytes", "$.limits", &cf->stream_buffer_bytes, err,
                         errlen)
             ? -1
             : 0;
}

static int parse(gw_conf_t *cf, cJSON *root, char *err, size_t errlen) {
  static const char *const keys[] = {
      "upstreams",  "default_upstream", "plugins", "listen", "tls",
      "routes",     "default_route",    "auth",    "limits", "shutdown_grace_ms",
      "access_log", "log_prompts",      NULL};
  if (!cJSON_IsObject(root)) return FAIL("$: the configuration must be a JSON object");
  if (check_keys(root, "$", keys, err, errlen)) return -1;
  const cJSON *listen = cJSON_GetObjectItemCaseSensitive(root, "listen");
  if (listen && !cJSON_IsString(listen)) return FAIL("$.listen: must be \"ADDRESS:PORT\"");
  if (parse_listen(cf, listen ? listen->valuestring : "127.0.0.1:8080", err, errlen)) return -1;
  const cJSON *tls = cJSON_GetObjectItemCaseSensitive(root, "tls");
  if (tls) {
    static const char *const tkeys[] = {"cert", "key", NULL};
    if (!cJSON_IsObject(tls) || check_keys(tls, "$.tls", tkeys, err, errlen))
      return err[0] ? -1 : FAIL("$.tls: must be {\"cert\": FILE, \"key\": FILE}");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(tls, "cert");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(tls, "key");
    if (!cJSON_IsString(c) || !cJSON_IsString(k))
      return FAIL("$.tls: needs both \"cert\" and \"key\" (PEM files)");
    cf->tls_cert = llmrt__strdup(c->valuestring);
    cf->tls_key = llmrt__strdup(k->valuestring);
    if (!cf->tls_cert || !cf->tls_key) return FAIL("out of memory");
  }
  if (parse_upstreams(cf, cJSON_GetObjectItemCaseSensitive(root, "upstreams"), err, errlen))
    return -1;
  const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes");
  if (routes && parse_routes(cf, routes, err, errlen)) return -1;
  const cJSON *dr = cJSON_GetObjectItemCaseSensitive(root, "default_route");
  if (dr) {
    static const char *const dkeys[] = {"upstream", NULL};
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(dr, "upstream");
    if (!cJSON_IsObject(dr) || check_keys(dr, "$.default_route", dkeys, err, errlen) ||
        !cJSON_IsString(up))
      return err[0] ? -1 : FAIL("$.default_route: must be {\"upstream\": NAME}");
    if (llmrt__gw_upstream_api(cf, up->valuestring) < 0)
      return FAIL("$.default_route.upstream: no upstream named \"%.64s\" in $.upstreams",
                  up->valuestring);
    if (!(cf->default_upstream = llmrt__strdup(up->valuestring))) return FAIL("out of memory");
  }
  if (!cf->n_routes && !cf->default_upstream)
    return FAIL("$.routes: no routes and no default_route: no model could be served");
  if (parse_auth(cf, cJSON_GetObjectItemCaseSensitive(root, "auth"), err, errlen)) return -1;
  if (parse_limits(cf, cJSON_GetObjectItemCaseSensitive(root, "limits"), err, errlen)) return -1;
  cf->shutdown_grace_ms = 10000;
  if (get_u32(root, "shutdown_grace_ms", "$", &cf->shutdown_grace_ms, err, errlen)) return -1;
  const cJSON *al = cJSON_GetObjectItemCaseSensitive(root, "access_log");
  cf->access_log = 1;
  if (al) {
    if (!cJSON_IsString(al) || !*al->valuestring)
      return FAIL("$.access_log: must be \"stderr\", \"off\" or a file path");
    if (!strcmp(al->valuestring, "off"))
      cf->access_log = 0;
    else if (strcmp(al->valuestring, "stderr")) {
      cf->access_log = 2;
      if (!(cf->access_log_path = llmrt__strdup(al->valuestring))) return FAIL("out of memory");
    }
  }
  const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "log_prompts");
  if (lp && !cJSON_IsBool(lp)) return FAIL("$.log_prompts: must be true or false");
  cf->log_prompts = cJSON_IsTrue(lp);

  /* What the runtime reads, as its own document. */
  cJSON *rtdoc = cJSON_CreateObject();
  if (!rtdoc) return FAIL("out of memory");
  static const char *const rkeys[] = {"upstreams", "default_upstream", "plugins"};
  for (int i = 0; i < 3; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, rkeys[i]);
    cJSON *dup = v ? cJSON_Duplicate(v, 1) : NULL;
    if (v && (!dup || !cJSON_AddItemToObject(rtdoc, rkeys[i], dup))) {
      cJSON_Delete(dup);
      cJSON_Delete(rtdoc);
      return FAIL("out of memory");
    }
  }
  cf->runtime_json = cJSON_PrintUnformatted(rtdoc);
  cJSON_Delete(rtdoc);
  if (!cf->runtime_json) return FAIL("out of memory");
  return 0;
}

int llmrt__gw_conf_parse(const char *json, gw_conf_t **out, char *err, size_t errlen) {
  err[0] = '\0';
  gw_conf_t *cf = llmrt__calloc(1, sizeof *cf);
  if (!cf) {
    FAIL("out of memory");
    return LLMRT_ENOMEM;
  }
  cf->refs = 1;
  cJSON *root = cJSON_Parse(json);
  if (!root) {
    const char *at = cJSON_GetErrorPtr();
    snprintf(err, errlen, "$: not valid JSON (near byte %ld)", at ? (long)(at - json) : 0L);
    llmrt__gw_conf_unref(cf);
    return LLMRT_EINVAL;
  }
  int r = parse(cf, root, err, errlen);
  /* The parsed keys go with the tree: wipe them first (only digests stay). */
  cJSON *auth = cJSON_GetObjectItemCaseSensitive(root, "auth");
  cJSON *keys = cJSON_GetObjectItemCaseSensitive(auth, "keys");
  for (cJSON *k = cJSON_IsArray(keys) ? keys->child : NULL; k; k = k->next) {
    cJSON *kv = cJSON_GetObjectItemCaseSensitive(k, "key");
    if (cJSON_IsString(kv)) memset(kv->valuestring, 0, strlen(kv->valuestring));
  }
  cJSON_Delete(root);
  if (r) {
    llmrt__gw_conf_unref(cf);
    return LLMRT_EINVAL;
  }
  *out = cf;
  return 0;
}

void llmrt__gw_conf_unref(gw_conf_t *cf) {
  if (!cf || --cf->refs > 0) return;
  for (size_t i = 0; i < cf->n_ups; i++)
    llmrt__free(cf->ups[i].name);
  llmrt__free(cf->ups);
  for (size_t i = 0; i < cf->n_routes; i++) {
    llmrt__free(cf->routes[i].name);
    llmrt__free(cf->routes[i].upstream);
    llmrt__free(cf->routes[i].model);
  }
  llmrt__free(cf->routes);
  for (size_t i = 0; i < cf->n_keys; i++) {
    llmrt__free(cf->keys[i].tenant);
    for (size_t j = 0; j < cf->keys[i].n_routes; j++)
      llmrt__free(cf->keys[i].routes[j]);
    llmrt__free(cf->keys[i].routes);
  }
  llmrt__free(cf->keys);
  llmrt__free(cf->default_upstream);
  llmrt__free(cf->tls_cert);
  llmrt__free(cf->tls_key);
  llmrt__free(cf->runtime_json);
  llmrt__free(cf->access_log_path);
  llmrt__free(cf);
}

const gw_route_t *llmrt__gw_route(const gw_conf_t *cf, const char *model, gw_route_t *dflt) {
  for (size_t i = 0; i < cf->n_routes; i++)
    if (!strcmp(cf->routes[i].name, model)) return &cf->routes[i];
  if (!dflt || !cf->default_upstream) return NULL;
  dflt->name = (char *)model;
  dflt->model = (char *)model;
  dflt->upstream = cf->default_upstream;
  dflt->api = llmrt__gw_upstream_api(cf, cf->default_upstream);
  dflt->route = model;
  return dflt;
}
