/* The x-mock control syntax: "key=value,key=value". Values may be
 * percent-encoded (text=%E4%BD%A0%E5%A5%BD) so any UTF-8 and commas fit in
 * a header. The same syntax sets the mock's defaults from the command line.
 * Unknown keys are refused so a typo in a test fails loudly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

void mock__ctl_init(mock_ctl_t *c) {
  memset(c, 0, sizeof *c);
  c->tokens = -1;
  c->retry_after = -1;
  c->after = -1;
  c->gzip = -1;
  c->seed = -1;
  mock__resil_ctl_init(&c->rs);
}

void mock__ctl_free(mock_ctl_t *c) {
  llmrt__free(c->text);
  llmrt__free(c->tool);
  c->text = c->tool = NULL;
}

int mock__ctl_copy(mock_ctl_t *dst, const mock_ctl_t *src) {
  *dst = *src;
  dst->text = llmrt__strdup(src->text);
  dst->tool = llmrt__strdup(src->tool);
  if ((src->text && !dst->text) || (src->tool && !dst->tool)) {
    mock__ctl_free(dst);
    mock__ctl_init(dst);
    return LLMRT_ENOMEM;
  }
  return 0;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Percent-decodes v[0..n) into a new string; '+' stays '+'. */
static char *pct_decode(const char *v, size_t n) {
  char *o = llmrt__malloc(n + 1);
  if (!o) return NULL;
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    int a, b;
    if (v[i] == '%' && i + 2 < n && (a = hexval((unsigned char)v[i + 1])) >= 0 &&
        (b = hexval((unsigned char)v[i + 2])) >= 0) {
      o[j++] = (char)(a * 16 + b);
      i += 2;
    } else {
      o[j++] = v[i];
    }
  }
  o[j] = '\0';
  return o;
}

static int parse_num(const char *v, size_t n, long long lo, long long hi, long long *out) {
  char tmp[24];
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, v, n);
  tmp[n] = '\0';
  char *end;
  long long x = strtoll(tmp, &end, 10);
  if (*end || x < lo || x > hi) return -1;
  *out = x;
  return 0;
}

static const struct {
  const char *name;
  int fault;
} faults[] = {
    {"none", MOCK_FAULT_NONE},
    {"reset", MOCK_FAULT_RESET},
    {"reset_mid", MOCK_FAULT_RESET},
    {"stall", MOCK_FAULT_STALL},
    {"malformed", MOCK_FAULT_MALFORMED},
    {"truncate", MOCK_FAULT_TRUNCATE},
    {"eof", MOCK_FAULT_EOF},
    {"error", MOCK_FAULT_ERROR},
    {"error_event", MOCK_FAULT_ERROR},
};

#define KEY(s) (klen == sizeof(s) - 1 && memcmp(k, s, klen) == 0)

static int apply(mock_ctl_t *c, const char *k, size_t klen, const char *v, size_t vlen, char *err,
                 size_t errlen) {
  long long x = 0;
  const long long MS = 3600 * 1000;
  int rrc;
  if (mock__resil_apply(&c->rs, k, klen, v, vlen, &rrc)) {
    if (rrc) snprintf(err, errlen, "x-mock: bad control '%.*s=%.*s'", (int)klen, k, (int)vlen, v);
    return rrc;
  }
  if (KEY("ttft_ms") && parse_num(v, vlen, 0, MS, &x) == 0) {
    c->ttft_ms = (uint32_t)x;
  } else if (KEY("token_ms") && parse_num(v, vlen, 0, MS, &x) == 0) {
    c->token_ms = (uint32_t)x;
  } else if ((KEY("head_ms") || KEY("slow_headers")) && parse_num(v, vlen, 0, MS, &x) == 0) {
    c->head_ms = (uint32_t)x;
  } else if (KEY("tokens") && parse_num(v, vlen, 0, 1000000, &x) == 0) {
    c->tokens = (int32_t)x;
  } else if (KEY("text")) {
    char *t = pct_decode(v, vlen);
    if (!t) return LLMRT_ENOMEM;
    llmrt__free(c->text);
    c->text = t;
  } else if (KEY("echo") && parse_num(v, vlen, 0, 1, &x) == 0) {
    c->echo = (int)x;
  } else if (KEY("tool")) {
    char *t = pct_decode(v, vlen);
    if (!t) return LLMRT_ENOMEM;
    llmrt__free(c->tool);
    c->tool = t;
    if (strcmp(t, "1") == 0) t[0] = '\0'; /* tool=1: the request's first tool */
    if (strcmp(t, "0") == 0) {
      llmrt__free(c->tool);
      c->tool = NULL;
    }
  } else if (KEY("lang") && vlen == 2 && (memcmp(v, "en", 2) == 0 || memcmp(v, "zh", 2) == 0)) {
    c->lang = v[0] == 'z';
  } else if (KEY("status") && parse_num(v, vlen, 0, 599, &x) == 0 && (x == 0 || x >= 400)) {
    c->status = (int)x;
  } else if (KEY("retry_after") && parse_num(v, vlen, -1, 86400, &x) == 0) {
    c->retry_after = (int32_t)x;
  } else if (KEY("after") && parse_num(v, vlen, 0, 1000000, &x) == 0) {
    c->after = (int32_t)x;
  } else if (KEY("fail_first") && parse_num(v, vlen, 0, 1000000, &x) == 0) {
    c->fail_first = (int32_t)x;
  } else if (KEY("gzip") && parse_num(v, vlen, 0, 1, &x) == 0) {
    c->gzip = (int)x;
  } else if (KEY("seed") && parse_num(v, vlen, 0, INT64_MAX / 2, &x) == 0) {
    c->seed = x;
  } else if (KEY("cached") && parse_num(v, vlen, 0, 100000000, &x) == 0) {
    c->cached = (int32_t)x;
  } else if (KEY("chunk_bytes") && parse_num(v, vlen, 0, 1 << 20, &x) == 0) {
    c->chunk_bytes = (int32_t)x;
  } else if (KEY("fault")) {
    size_t i;
    for (i = 0; i < sizeof faults / sizeof faults[0]; i++)
      if (strlen(faults[i].name) == vlen && memcmp(faults[i].name, v, vlen) == 0) break;
    if (i == sizeof faults / sizeof faults[0]) {
      snprintf(err, errlen, "x-mock: unknown fault '%.*s'", (int)vlen, v);
      return LLMRT_EINVAL;
    }
    c->fault = faults[i].fault;
  } else if ((x = mock__rl_apply(c, k, klen, v, vlen)) != 0) {
    if (x < 0) {
      snprintf(err, errlen, "x-mock: bad control '%.*s=%.*s'", (int)klen, k, (int)vlen, v);
      return LLMRT_EINVAL;
    }
  } else if (KEY("id") || KEY("key")) {
    /* Free-form: only makes the control string (the fail_first key) unique. */
  } else {
    snprintf(err, errlen, "x-mock: bad control '%.*s=%.*s'", (int)klen, k, (int)vlen, v);
    return LLMRT_EINVAL;
  }
  return 0;
}

int mock__ctl_parse(mock_ctl_t *c, const char *spec, char *err, size_t errlen) {
  if (!spec) return 0;
  const char *p = spec;
  while (*p) {
    while (*p == ' ' || *p == ',' || *p == ';')
      p++;
    if (!*p) break;
    size_t n = strcspn(p, ",;");
    const char *eq = memchr(p, '=', n);
    const char *k = p, *v;
    size_t klen, vlen;
    if (eq) {
      klen = (size_t)(eq - p);
      v = eq + 1;
      vlen = n - klen - 1;
    } else {
      klen = n; /* a bare key means 1: "echo", "gzip" */
      v = "1";
      vlen = 1;
    }
    while (klen > 0 && k[klen - 1] == ' ')
      klen--;
    while (vlen > 0 && (*v == ' ')) {
      v++;
      vlen--;
    }
    while (vlen > 0 && v[vlen - 1] == ' ')
      vlen--;
    int rc = apply(c, k, klen, v, vlen, err, errlen);
    if (rc != 0) return rc;
    p += n;
  }
  return 0;
}

/* ---- fail_first bookkeeping ---------------------------------------------- */

uint32_t mock__seen_bump(mock_seen_t *s, const char *key) {
  uint64_t h = mock__fnv1a(1469598103934665603ULL, key, strlen(key));
  for (size_t i = 0; i < s->n; i++)
    if (s->keys[i] == h) return ++s->counts[i];
  if (s->n == s->cap) {
    if (s->cap >= 65536) {
      s->n = 0; /* bounded: forget everything rather than grow forever */
    } else {
      size_t cap = s->cap ? s->cap * 2 : 32;
      uint64_t *k = llmrt__realloc(s->keys, cap * sizeof *k);
      if (!k) return 1;
      s->keys = k;
      uint32_t *c = llmrt__realloc(s->counts, cap * sizeof *c);
      if (!c) return 1;
      s->counts = c;
      s->cap = cap;
    }
  }
  s->keys[s->n] = h;
  s->counts[s->n] = 1;
  s->n++;
  return 1;
}

void mock__seen_free(mock_seen_t *s) {
  llmrt__free(s->keys);
  llmrt__free(s->counts);
  memset(s, 0, sizeof *s);
}
