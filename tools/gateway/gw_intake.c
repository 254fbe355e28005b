/* A client's request body, decoded into an llmrt_request_t. The body itself
 * goes along as raw_body, so an upstream of the same protocol receives the
 * client's bytes when no plugin changed the request (faithful forwarding);
 * the fields decoded here are what plugins read and rewrite, and what an
 * upstream of the other protocol is encoded from (translation). Content
 * given as an array of parts travels as content_json with its text in
 * content; members llmrt has no field for travel in extra_json (same
 * protocol only: the other protocol would not understand them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_internal.h"

#include <stdarg.h>
static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return 400;
}
#define BAD(...) bad(err, errlen, __VA_ARGS__)

static char *keep(gw_ex_t *ex, char *s) {
  if (!s) return NULL;
  if (ex->n_strs == ex->cap_strs) {
    size_t n = ex->cap_strs ? ex->cap_strs * 2 : 16;
    char **a = llmrt__realloc(ex->strs, n * sizeof *a);
    if (!a) {
      llmrt__free(s);
      return NULL;
    }
    ex->strs = a;
    ex->cap_strs = n;
  }
  ex->strs[ex->n_strs++] = s;
  return s;
}

void llmrt__gw_intake_free(gw_ex_t *ex) {
  for (size_t i = 0; i < ex->n_strs; i++)
    llmrt__free(ex->strs[i]);
  llmrt__free(ex->strs);
  llmrt__free(ex->msgs);
  cJSON_Delete(ex->doc);
  ex->strs = NULL;
  ex->msgs = NULL;
  ex->doc = NULL;
}

/* The text of an array of parts: the "text" of each text part, joined. A
 * part of another kind is counted in *other. */
static char *parts_text(gw_ex_t *ex, const cJSON *arr, int *other, int *nontext_cross) {
  size_t n = 0;
  for (const cJSON *p = arr->child; p; p = p->next) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
    if (cJSON_IsString(t)) n += strlen(t->valuestring) + 1;
  }
  char *s = llmrt__malloc(n + 1), *at = s;
  if (!s) return NULL;
  for (const cJSON *p = arr->child; p; p = p->next) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(p, "type");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
    if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "text") && cJSON_IsString(t)) {
      if (at != s) *at++ = '\n';
      size_t l = strlen(t->valuestring);
      memcpy(at, t->valuestring, l);
      at += l;
    } else {
      (*other)++;
      if (nontext_cross) *nontext_cross = 1;
    }
  }
  *at = '\0';
  return keep(ex, s);
}

/* Sets m's content from a JSON value: a string, an array of parts, or null
 * (allowed for an assistant turn with tool calls). */
static int set_content(gw_ex_t *ex, llmrt_message_t *m, const cJSON *c, int cross, const char *path,
                       char *err, size_t errlen) {
  if (cJSON_IsString(c)) {
    m->content = c->valuestring;
    return 0;
  }
  if (!c || cJSON_IsNull(c)) {
    m->content = NULL;
    return 0;
  }
  if (!cJSON_IsArray(c)) return BAD("%s.content: must be a string or an array of parts", path);
  int other = 0;
  m->content = parts_text(ex, c, &other, NULL);
  if (!m->content) return 500;
  if (cross) {
    /* Between protocols only text parts have the same shape; the others
     * (images, documents, tool blocks) are refused rather than dropped. */
    if (other)
      return BAD("%s.content: only text parts can be translated to the other provider's "
                 "format (docs/gateway.md, Translation)",
                 path);
    return 0;
  }
  m->content_json = keep(ex, cJSON_PrintUnformatted(c));
  if (!m->content_json) return 500;
  return 0;
}

static int get_num(const cJSON *root, const char *name, double *out, char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return BAD("%s: must be a number", name);
  *out = v->valuedouble;
  return 0;
}

static int stops(gw_ex_t *ex, const cJSON *v, const char *name, char *err, size_t errlen) {
  if (!v || cJSON_IsNull(v)) return 0;
  static const char *one[1];
  if (cJSON_IsString(v)) {
    const char **a = llmrt__malloc(sizeof *a);
    if (!a || !keep(ex, (char *)a)) return 500;
    a[0] = v->valuestring;
    ex->req.stop = a;
    ex->req.n_stop = 1;
    (void)one;
    return 0;
  }
  if (!cJSON_IsArray(v)) return BAD("%s: must be a string or an array of strings", name);
  size_t n = (size_t)cJSON_GetArraySize(v);
  if (!n) return 0;
  const char **a = llmrt__malloc(n * sizeof *a);
  if (!a || !keep(ex, (char *)a)) return 500;
  size_t i = 0;
  for (const cJSON *s = v->child; s; s = s->next) {
    if (!cJSON_IsString(s)) return BAD("%s[%zu]: must be a string", name, i);
    a[i++] = s->valuestring;
  }
  ex->req.stop = a;
  ex->req.n_stop = n;
  return 0;
}

/* Members the decoder read itself, per protocol; the rest go to extra_json. */
static const char *const openai_known[] = {
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
    "stop",  "seed",     "stream",     "stream_options",        NULL};
static const char *const anthropic_known[] = {"model",          "messages",    "system",
                                              "max_tokens",     "temperature", "top_p",
                                              "stop_sequences", "stream",      NULL};

static int extra(gw_ex_t *ex, const char *const *known, int cross, char *err, size_t errlen) {
  cJSON *x = cJSON_CreateObject();
  if (!x) return 500;
  int n = 0;
  const char *refused = NULL;
  for (const cJSON *it = ex->doc->child; it; it = it->next) {
    int k = 0;
    for (size_t i = 0; known[i] && !k; i++)
      k = !strcmp(known[i], it->string);
    if (k) continue;
    if (cross) {
      /* A member that changes the answer cannot be dropped silently. */
      if (!strcmp(it->string, "tools") || !strcmp(it->string, "tool_choice") ||
          !strcmp(it->string, "response_format") || !strcmp(it->string, "n"))
        refused = it->string;
      continue;
    }
    cJSON *d = cJSON_Duplicate(it, 1);
    if (!d || !cJSON_AddItemToObject(x, it->string, d)) {
      cJSON_Delete(d);
      cJSON_Delete(x);
      return 500;
    }
    n++;
  }
  if (refused) {
    cJSON_Delete(x);
    return BAD("%s: cannot be translated to the other provider's format (docs/gateway.md, "
               "Translation)",
               refused);
  }
  if (n) ex->req.extra_json = keep(ex, cJSON_PrintUnformatted(x));
  cJSON_Delete(x);
  return n && !ex->req.extra_json ? 500 : 0;
}

static int messages(gw_ex_t *ex, const cJSON *arr, size_t first, int cross, char *err,
                    size_t errlen) {
  /* Walked by its links: cJSON_GetArrayItem(i) walks from the start each
   * time, quadratic in a client's message count (a 16 MiB body holds some
   * 600,000 messages: minutes of the loop). */
  size_t i = 0;
  for (const cJSON *m = arr->child; m; m = m->next, i++) {
    llmrt_message_t *out = &ex->msgs[first + i];
    char path[48];
    snprintf(path, sizeof path, "messages[%zu]", i);
    out->struct_size = sizeof *out;
    if (!cJSON_IsObject(m)) return BAD("%s: must be an object", path);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    if (!cJSON_IsString(role) || !*role->valuestring)
      return BAD("%s.role: required, a string", path);
    out->role = role->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    int r = set_content(ex, out, c, cross, path, err, errlen);
    if (r) return r;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
    if (cJSON_IsString(name)) out->name = name->valuestring;
    const cJSON *tcid = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
    if (cJSON_IsString(tcid)) out->tool_call_id = tcid->valuestring;
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    if (cJSON_IsArray(tc)) {
      out->tool_calls_json = keep(ex, cJSON_PrintUnformatted(tc));
      if (!out->tool_calls_json) return 500;
    }
    if (!out->content && !out->content_json && !out->tool_calls_json) out->content = "";
  }
  return 0;
}

int llmrt__gw_intake(gw_ex_t *ex, const char *body, size_t len, char *err, size_t errlen) {
  if (!len) return BAD("the request has no body (a JSON object is expected)");
  ex->doc = cJSON_ParseWithLength(body, len);
  if (!ex->doc) {
    const char *at = cJSON_GetErrorPtr();
    return BAD("the body is not valid JSON (near byte %ld)", at ? (long)(at - body) : 0L);
  }
  if (!cJSON_IsObject(ex->doc)) return BAD("the body must be a JSON object");
  const cJSON *root = ex->doc;
  /* A member the gateway reads may appear once: cJSON takes the first of
   * two, the provider (and llmrt's own parser) the last, so a duplicate
   * would let the routing, keys, limits and cache judge one request while
   * the upstream runs another. */
  const char *const *known = ex->proto == GW_ANTHROPIC ? anthropic_known : openai_known;
  unsigned seen = 0;
  for (const cJSON *it = root->child; it; it = it->next)
    for (unsigned i = 0; known[i]; i++)
      if (!strcmp(known[i], it->string)) {
        if (seen & (1u << i)) return BAD("%s: given more than once", known[i]);
        seen |= 1u << i;
      }
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
  if (!cJSON_IsString(model) || !*model->valuestring)
    return BAD("model: required, a non-empty string");
  ex->client_model = model->valuestring;
  gw_route_t dflt;
  const gw_route_t *route = llmrt__gw_route(ex->cf, model->valuestring, &dflt);
  if (!route) {
    snprintf(err, errlen, "model '%.128s' is not served here (GET /v1/models lists the models)",
             model->valuestring);
    return 404;
  }
  ex->route_name = route == &dflt ? ex->client_model : route->name;
  ex->route_own = route == &dflt ? ex->client_model : route->route;
  ex->up_api = route->api;
  int cross = ex->up_api != ex->proto;
  llmrt_request_t *req = &ex->req;
  llmrt_request_init(req);
  req->upstream = route->upstream;
  req->model = route->model;
  if (route == &dflt) req->model = ex->client_model;
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
  if (!cJSON_IsArray(msgs) || !cJSON_GetArraySize(msgs))
    return BAD("messages: required, a non-empty array");
  const cJSON *sys =
      ex->proto == GW_ANTHROPIC ? cJSON_GetObjectItemCaseSensitive(root, "system") : NULL;
  size_t first = sys && !cJSON_IsNull(sys) ? 1 : 0;
  size_t n = (size_t)cJSON_GetArraySize(msgs) + first;
  if (!(ex->msgs = llmrt__calloc(n, sizeof *ex->msgs))) return 500;
  if (first) {
    ex->msgs[0].struct_size = sizeof ex->msgs[0];
    ex->msgs[0].role = "system";
    int r = set_content(ex, &ex->msgs[0], sys, cross, "system", err, errlen);
    if (r) return r;
    if (!ex->msgs[0].content) return BAD("system: must be a string or an array of text blocks");
  }
  int r = messages(ex, msgs, first, cross, err, errlen);
  if (r) return r;
  req->messages = ex->msgs;
  req->n_messages = n;

  double v = -1;
  const char *mt = "max_tokens";
  if (ex->proto == GW_OPENAI && cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens"))
    mt = "max_completion_tokens";
  if ((r = get_num(root, mt, &v, err, errlen))) return r;
  if (v != -1) {
    if (v < 1 || v > 2147483647.0) return BAD("%s: must be a positive whole number", mt);
    req->max_tokens = (int32_t)v;
  }
  if ((r = get_num(root, "temperature", &req->temperature, err, errlen))) return r;
  if ((r = get_num(root, "top_p", &req->top_p, err, errlen))) return r;
  if ((r = stops(ex,
                 cJSON_GetObjectItemCaseSensitive(root, ex->proto == GW_ANTHROPIC ? "stop_sequences"
                                                                                  : "stop"),
                 ex->proto == GW_ANTHROPIC ? "stop_sequences" : "stop", err, errlen)))
    return r;
  const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
  if (ex->proto == GW_OPENAI && cJSON_IsNumber(seed)) {
    req->seed = (int64_t)seed->valuedouble;
    req->has_seed = 1;
  }
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
  if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream))
    return BAD("stream: must be true or false");
  req->stream = ex->stream = cJSON_IsTrue(stream);
  const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
  ex->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
  if ((r = extra(ex, ex->proto == GW_ANTHROPIC ? anthropic_known : openai_known, cross, err,
                 errlen)))
    return r;
  /* Faithful forwarding: the client's bytes, for an upstream of its own
   * protocol (llmrt_request_t.raw_body). */
  req->raw_body = body;
  req->raw_body_len = len;
  req->raw_api = ex->proto == GW_ANTHROPIC ? "anthropic" : "openai";
  return 0;
}

int llmrt__gw_header_controls(gw_ex_t *ex, char *err, size_t errlen) {
  llmrt__sreq_t *r = ex->r;
  const char *cc = llmrt__sreq_header(r, "cache-control");
  if (cc) {
    if (strcasestr(cc, "no-store"))
      ex->req.cache = LLMRT_CACHE_NO_STORE;
    else if (strcasestr(cc, "no-cache") || strcasestr(cc, "max-age=0"))
      ex->req.cache = LLMRT_CACHE_BYPASS;
    /* max-age=N: the oldest cached answer this client accepts. */
    const char *ma = strcasestr(cc, "max-age=");
    if (ma) {
      char *end;
      unsigned long v = strtoul(ma + 8, &end, 10);
      if (end == ma + 8 || (*end && *end != ',' && *end != ' ') || v > 31536000UL)
        return BAD("cache-control: max-age must be a whole number of seconds up to 31536000");
      if (v > 0) ex->req.cache_max_age_s = (uint32_t)v;
    }
  }
  const char *tag = llmrt__sreq_header(r, "x-llmrt-tenant-tag");
  if (tag) {
    size_t tl = strlen(tag);
    if (!tl || tl > 64) return BAD("x-llmrt-tenant-tag: 1 to 64 characters");
    for (size_t i = 0; i < tl; i++)
      if (!(tag[i] >= 'a' && tag[i] <= 'z') && !(tag[i] >= 'A' && tag[i] <= 'Z') &&
          !(tag[i] >= '0' && tag[i] <= '9') && !strchr("-_.", tag[i]))
        return BAD("x-llmrt-tenant-tag: letters, digits, '-', '_' and '.' only");
    /* A tag narrows the key's partition; it can never reach another key's. */
    size_t n = (ex->tenant ? strlen(ex->tenant) : 0) + tl + 2;
    char *t = llmrt__malloc(n);
    if (!t || !keep(ex, t)) return 500;
    snprintf(t, n, "%s/%s", ex->tenant ? ex->tenant : "", tag);
    ex->tenant = t;
  }
  ex->req.tenant = ex->tenant;
  const char *dl = llmrt__sreq_header(r, "x-llmrt-deadline-ms");
  if (dl) {
    char *end;
    unsigned long v = strtoul(dl, &end, 10);
    if (!*dl || *end || v == 0 || v > 86400000UL)
      return BAD("x-llmrt-deadline-ms: a whole number of milliseconds from 1 to 86400000");
    ex->req.deadline_ms = (uint32_t)v;
  }
  /* Headers that change what the provider does with the same body go
   * along to an upstream of the client's protocol (keys never do). */
  static const char *const fwd[2][2] = {{"openai-beta", NULL},
                                        {"anthropic-version", "anthropic-beta"}};
  if (ex->up_api == ex->proto) {
    for (int i = 0; i < 2; i++) {
      const char *name = fwd[ex->proto][i];
      const char *v = name ? llmrt__sreq_header(r, name) : NULL;
      if (v && *v && ex->req.n_headers < sizeof ex->hdrs / sizeof ex->hdrs[0])
        ex->hdrs[ex->req.n_headers++] = (llmrt_header_t){name, v};
    }
    if (ex->req.n_headers) ex->req.headers = ex->hdrs;
  }
  const char *prio = llmrt__sreq_header(r, "x-llmrt-priority");
  if (prio && strcmp(prio, "low") && strcmp(prio, "normal") && strcmp(prio, "high"))
    return BAD("x-llmrt-priority: low, normal or high");
  /* The limits plugin's queues serve higher first; normal is 0. */
  if (prio) ex->req.priority = !strcmp(prio, "high") ? 1 : !strcmp(prio, "low") ? -1 : 0;
  return 0;
}
