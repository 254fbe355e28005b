/* The cache key: SHA-256 over a canonical JSON form of everything that
 * changes the answer, so requests that are equal but written differently
 * (key order, whitespace, 1.0 and 1, "\u00e9" and "é") share a key, and any
 * difference that matters does not.
 *
 * The form is one JSON object with the fields in a fixed order:
 *   {"v":1,"key_id":..,"tenant":..,"provider":..,"upstream":..,"host":..,
 *    "port":..,"tls":..,"model":..,"stream":..,"messages":[{"role","content",
 *    "name","tool_call_id","tool_calls","content_json"}...],"max_tokens",
 *    "temperature","top_p","stop":[..],"seed","extra":<extra_json>,
 *    "raw":<raw_body>,"headers":{..}}
 * where JSON values taken from the request (extra_json, tool_calls_json,
 * content_json, raw_body) are
 * canonicalized: object keys sorted bytewise, numbers printed in one form,
 * strings re-escaped one way, no whitespace. The key identity (the host's
 * key_id, itself a hash) and the tenant partition the key: two tenants or
 * two API keys never share an entry. The form is hashed as it is written,
 * never kept. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"

typedef struct {
  mbedtls_sha256_context *sha; /* hash what is written, or */
  char *buf;                   /* keep it (canonical_json) */
  size_t len, cap;
  int err;
} sink_t;

static void put(sink_t *s, const char *p, size_t n) {
  if (s->err || !n) return;
  if (s->sha) {
    mbedtls_sha256_update_ret(s->sha, (const unsigned char *)p, n);
    return;
  }
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + n + 1)
      cap *= 2;
    char *b = H->realloc(s->buf, cap);
    if (!b) {
      s->err = LLMRT_ENOMEM;
      return;
    }
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, p, n);
  s->len += n;
  s->buf[s->len] = '\0';
}

static void puts_(sink_t *s, const char *p) {
  put(s, p, strlen(p));
}

static void put_str(sink_t *s, const char *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  put(s, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
    put(s, p + run, i - run);
    run = i + 1;
    char esc[7] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15], 0};
    if (ch == '"' || ch == '\\') {
      esc[1] = (char)ch;
      put(s, esc, 2);
    } else {
      put(s, esc, 6);
    }
  }
  put(s, p + run, n - run);
  put(s, "\"", 1);
}

static void put_cstr(sink_t *s, const char *p) {
  if (p)
    put_str(s, p, strlen(p));
  else
    puts_(s, "null");
}

/* One form per number: integers (exactly representable) without a point or
 * exponent, everything else in the shortest %.17g form. */
static void put_num(sink_t *s, double v) {
  char b[40];
  if (!isfinite(v))
    snprintf(b, sizeof b, "null");
  else if (v == floor(v) && fabs(v) < 9007199254740992.0)
    snprintf(b, sizeof b, "%.0f", v + 0.0);
  else
    snprintf(b, sizeof b, "%.17g", v);
  if (!strcmp(b, "-0")) snprintf(b, sizeof b, "0");
  puts_(s, b);
}

static int cmp_items(const void *a, const void *b) {
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  return strcmp(x->string, y->string);
}

static void put_json(sink_t *s, const cJSON *j) {
  if (s->err) return;
  if (cJSON_IsObject(j)) {
    size_t n = 0;
    for (const cJSON *it = j->child; it; it = it->next)
      n++;
    const cJSON **items = n ? H->malloc(n * sizeof *items) : NULL;
    if (n && !items) {
      s->err = LLMRT_ENOMEM;
      return;
    }
    n = 0;
    for (const cJSON *it = j->child; it; it = it->next)
      items[n++] = it;
    qsort(items, n, sizeof *items, cmp_items);
    put(s, "{", 1);
    for (size_t i = 0; i < n; i++) {
      if (i) put(s, ",", 1);
      put_cstr(s, items[i]->string);
      put(s, ":", 1);
      put_json(s, items[i]);
    }
    put(s, "}", 1);
    H->free(items);
  } else if (cJSON_IsArray(j)) {
    put(s, "[", 1);
    for (const cJSON *it = j->child; it; it = it->next) {
      if (it != j->child) put(s, ",", 1);
      put_json(s, it);
    }
    put(s, "]", 1);
  } else if (cJSON_IsString(j)) {
    put_cstr(s, j->valuestring);
  } else if (cJSON_IsNumber(j)) {
    put_num(s, j->valuedouble);
  } else if (cJSON_IsBool(j)) {
    puts_(s, cJSON_IsTrue(j) ? "true" : "false");
  } else {
    puts_(s, "null");
  }
}

/* Writes text (JSON) canonically; LLMRT_EINVAL when it is not JSON. */
static int put_json_len(sink_t *s, const char *text, size_t len) {
  if (!text) {
    puts_(s, "null");
    return 0;
  }
  const char *end = NULL;
  if (!len) len = strlen(text);
  /* Not cJSON's require_null_terminated: with a length it always fails. */
  cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!j) return cJSON_GetErrorPtr() ? LLMRT_EINVAL : LLMRT_ENOMEM;
  while (end && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
    end++;
  if (!end || end != text + len) {
    cJSON_Delete(j);
    return LLMRT_EINVAL; /* something after the value */
  }
  put_json(s, j);
  cJSON_Delete(j);
  return 0;
}

static int put_json_text(sink_t *s, const char *text) {
  return put_json_len(s, text, 0);
}

int cache__canonical_json(const char *text, size_t len, char **out, size_t *out_len) {
  *out = NULL;
  sink_t s = {0};
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 1);
  if (!j) return LLMRT_EINVAL;
  put_json(&s, j);
  cJSON_Delete(j);
  if (s.err) {
    H->free(s.buf);
    return s.err;
  }
  *out = s.buf;
  *out_len = s.len;
  return 0;
}

static int header_in_key(const cache_keyconf_t *kc, const char *name) {
  for (size_t i = 0; i < kc->n_headers; i++)
    if (!strcasecmp(kc->headers[i], name)) return 1;
  return 0;
}

static int cmp_hdr(const void *a, const void *b) {
  const llmrt_header_t *x = *(const llmrt_header_t *const *)a;
  const llmrt_header_t *y = *(const llmrt_header_t *const *)b;
  int r = strcasecmp(x->name, y->name);
  return r ? r : strcmp(x->value, y->value);
}

static void put_lower(sink_t *s, const char *name) {
  char b[128];
  size_t n = strlen(name);
  if (n >= sizeof b) n = sizeof b - 1;
  for (size_t i = 0; i < n; i++)
    b[i] = (char)tolower((unsigned char)name[i]);
  put_str(s, b, n);
}

static int write_form(sink_t *s, llmrt_ctx_t *ctx, const cache_keyconf_t *kc) {
  const llmrt_request_t *r = H->request(ctx);
  llmrt_upstream_info_t ui = {.struct_size = sizeof ui};
  if (H->upstream_info(ctx, &ui) != 0) {
    /* A name a plugin inside resolves (a route group): the name is what the
     * caller chose; with no host it never matches a real upstream's form. */
    if (!r->upstream) return LLMRT_EINVAL;
    memset(&ui, 0, sizeof ui);
    ui.name = r->upstream;
  }
  char num[48];
  puts_(s, "{\"v\":1,\"key_id\":");
  put_cstr(s, H->key_id(ctx));
  puts_(s, ",\"tenant\":");
  put_cstr(s, r->tenant);
  puts_(s, ",\"provider\":");
  put_cstr(s, ui.provider);
  puts_(s, ",\"upstream\":");
  put_cstr(s, ui.name);
  puts_(s, ",\"host\":");
  put_cstr(s, ui.host);
  snprintf(num, sizeof num, ",\"port\":%u,\"tls\":%d", (unsigned)ui.port, ui.tls ? 1 : 0);
  puts_(s, num);
  puts_(s, ",\"model\":");
  put_cstr(s, r->model);
  puts_(s, r->stream ? ",\"stream\":true" : ",\"stream\":false");
  puts_(s, ",\"messages\":[");
  for (size_t i = 0; i < r->n_messages; i++) {
    const llmrt_message_t *m = &r->messages[i];
    if (i) put(s, ",", 1);
    puts_(s, "{\"role\":");
    put_cstr(s, m->role);
    puts_(s, ",\"content\":");
    if (m->content)
      put_str(s, m->content, m->content_len ? m->content_len : strlen(m->content));
    else
      puts_(s, "null");
    puts_(s, ",\"name\":");
    put_cstr(s, m->name);
    puts_(s, ",\"tool_call_id\":");
    put_cstr(s, m->tool_call_id);
    puts_(s, ",\"tool_calls\":");
    int rc = put_json_text(s, m->tool_calls_json);
    if (rc) return rc;
    /* Content parts (images, documents, cache marks) carried as raw JSON:
     * two requests with the same text and other parts differ. */
    puts_(s, ",\"content_json\":");
    rc = LLMRT_HAS_FIELD(m, llmrt_message_t, content_json_len)
             ? put_json_len(s, m->content_json, m->content_json_len)
             : put_json_text(s, NULL);
    if (rc) return rc;
    put(s, "}", 1);
  }
  puts_(s, "],\"max_tokens\":");
  put_num(s, r->max_tokens > 0 ? r->max_tokens : 0);
  puts_(s, ",\"temperature\":");
  if (r->temperature >= 0)
    put_num(s, r->temperature);
  else
    puts_(s, "null");
  puts_(s, ",\"top_p\":");
  if (r->top_p >= 0)
    put_num(s, r->top_p);
  else
    puts_(s, "null");
  puts_(s, ",\"stop\":[");
  for (size_t i = 0; i < r->n_stop; i++) {
    if (i) put(s, ",", 1);
    put_cstr(s, r->stop[i]);
  }
  puts_(s, "],\"seed\":");
  if (r->has_seed) {
    snprintf(num, sizeof num, "%lld", (long long)r->seed);
    puts_(s, num);
  } else {
    puts_(s, "null");
  }
  puts_(s, ",\"extra\":");
  int rc = put_json_text(s, r->extra_json);
  if (rc) return rc;
  /* A client's original body (the gateway's faithful forwarding) is what the
   * upstream receives, members the fields above do not carry included. */
  puts_(s, ",\"raw\":");
  rc = LLMRT_HAS_FIELD(r, llmrt_request_t, raw_api) && r->raw_body
           ? put_json_len(s, r->raw_body, r->raw_body_len)
           : put_json_text(s, NULL);
  if (rc) return rc;
  /* Answer-changing headers, by lower-case name then value. */
  puts_(s, ",\"headers\":[");
  const llmrt_header_t *sel[64];
  size_t n = 0;
  for (size_t i = 0; i < r->n_headers && n < 64; i++)
    if (header_in_key(kc, r->headers[i].name)) sel[n++] = &r->headers[i];
  qsort(sel, n, sizeof sel[0], cmp_hdr);
  for (size_t i = 0; i < n; i++) {
    if (i) put(s, ",", 1);
    put(s, "[", 1);
    put_lower(s, sel[i]->name);
    put(s, ",", 1);
    put_cstr(s, sel[i]->value);
    put(s, "]", 1);
  }
  puts_(s, "]}");
  return s->err;
}

int cache__key(llmrt_ctx_t *ctx, const cache_keyconf_t *kc, uint8_t out[CACHE_KEY_LEN]) {
  mbedtls_sha256_context sha;
  mbedtls_sha256_init(&sha);
  mbedtls_sha256_starts_ret(&sha, 0);
  sink_t s = {.sha = &sha};
  int rc = write_form(&s, ctx, kc);
  if (!rc) mbedtls_sha256_finish_ret(&sha, out);
  mbedtls_sha256_free(&sha);
  return rc;
}

void cache__key_hex(const uint8_t key[CACHE_KEY_LEN], char out[2 * CACHE_KEY_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < CACHE_KEY_LEN; i++) {
    out[2 * i] = hex[key[i] >> 4];
    out[2 * i + 1] = hex[key[i] & 15];
  }
  out[2 * CACHE_KEY_LEN] = '\0';
}
