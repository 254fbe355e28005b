/* Absolute http(s) URL parsing: scheme, host (name, IPv4 or bracketed IPv6
 * literal), port and request target. Strict on purpose: anything that could
 * smuggle bytes into the request line or the Host header is refused. */
#include <stdio.h>
#include <string.h>

#include "http_internal.h"

/* The URL as it may appear in a message: without user info, query and
 * fragment, which can carry API keys or tokens. */
static void url_fail(char *errbuf, size_t errlen, const char *url, const char *why) {
  if (!errbuf || !errlen) return;
  const char *host = strstr(url, "://");
  size_t scheme = host ? (size_t)(host - url) + 3 : 0;
  const char *rest = url + scheme;
  size_t auth = strcspn(rest, "/?#");
  const char *at = memchr(rest, '@', auth);
  if (at) rest = at + 1; /* drop "user:password@" */
  size_t n = strcspn(rest, "?#");
  if (n > 200) n = 200;
  snprintf(errbuf, errlen, "malformed URL \"%.*s%.*s%s\": %s", (int)scheme, url, (int)n, rest,
           rest[n] ? "..." : "", why);
}

static int ascii_ieq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
    if (x != y) return 0;
  }
  return 1;
}

static int is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

/* Bytes allowed in the request target: visible ASCII only, so no space, CR,
 * LF or other control byte can reach the request line. */
static int is_target_char(unsigned char c) {
  return c > 0x20 && c < 0x7f;
}

/* The authority's host: a bracketed IPv6 literal or a name / IPv4 address.
 * Sets *host and *hend around it (no brackets), *rest just after it. Returns
 * NULL on success or what is wrong. */
static const char *parse_host(const char *auth, const char *aend, const char **host,
                              const char **hend, const char **rest, int *v6) {
  size_t alen = (size_t)(aend - auth);
  if (alen && auth[0] == '[') {
    const char *close = memchr(auth, ']', alen);
    if (!close) return "unterminated IPv6 literal";
    char tmp[64];
    struct in6_addr a6;
    size_t hl = (size_t)(close - auth - 1);
    if (hl == 0 || hl >= sizeof(tmp)) return "invalid IPv6 literal";
    memcpy(tmp, auth + 1, hl);
    tmp[hl] = 0;
    if (uv_inet_pton(AF_INET6, tmp, &a6) != 0) return "invalid IPv6 literal";
    *host = auth + 1;
    *hend = close;
    *rest = close + 1;
    *v6 = 1;
    if (*rest != aend && **rest != ':') return "unexpected characters after the IPv6 literal";
    return NULL;
  }
  const char *colon = memchr(auth, ':', alen);
  *host = auth;
  *hend = colon ? colon : aend;
  *rest = *hend;
  *v6 = 0;
  if (*hend == auth) return "empty host";
  for (const char *q = auth; q < *hend; q++)
    if (!is_name_char(*q)) return "invalid character in host";
  return NULL;
}

/* ":port" (or ":" or nothing: the scheme's default) between p and aend. */
static const char *parse_port(const char *p, const char *aend, unsigned *port) {
  if (p >= aend || ++p >= aend) return NULL; /* *p == ':' */
  if (aend - p > 5) return "port out of range";
  unsigned v = 0;
  for (const char *q = p; q < aend; q++) {
    if (*q < '0' || *q > '9') return "invalid port";
    v = v * 10 + (unsigned)(*q - '0');
  }
  if (v == 0 || v > 65535) return "port out of range";
  *port = v;
  return NULL;
}

/* Fills out's strings in one allocation: host\0 host_hdr\0 target\0. */
static int url_store(llmrt__url_t *out, const char *host, size_t hl, int v6, unsigned port,
                     int explicit_port, const char *t, size_t tlen) {
  int need_slash = tlen == 0 || t[0] != '/';
  size_t need = hl + 1 + (hl + 2 + 6 + 1) + (tlen + 2);
  char *s = llmrt__malloc(need);
  if (!s) return LLMRT_ENOMEM;
  char *w = s;
  memcpy(w, host, hl);
  w[hl] = 0;
  out->host = w;
  w += hl + 1;
  out->host_hdr = w;
  if (explicit_port)
    w += sprintf(w, v6 ? "[%.*s]:%u" : "%.*s:%u", (int)hl, host, port) + 1;
  else
    w += sprintf(w, v6 ? "[%.*s]" : "%.*s", (int)hl, host) + 1;
  out->target = w;
  if (need_slash) *w++ = '/';
  memcpy(w, t, tlen);
  w[tlen] = 0;
  out->storage = s;
  out->port = (uint16_t)port;
  return 0;
}

int llmrt__url_parse(const char *url, llmrt__url_t *out, char *errbuf, size_t errlen) {
  memset(out, 0, sizeof(*out));
  if (!url) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "malformed URL: NULL");
    return LLMRT_EURL;
  }
  const char *p = url, *why = NULL;
  int tls = 0;
  if (ascii_ieq(p, "http://", 7)) {
    p += 7;
  } else if (ascii_ieq(p, "https://", 8)) {
    tls = 1;
    p += 8;
  } else {
    why = "scheme must be http:// or https://";
  }

  const char *aend = p + strcspn(p, "/?#"), *host = NULL, *hend = NULL, *rest = NULL;
  int v6 = 0;
  unsigned port = tls ? 443 : 80;
  if (!why && memchr(p, '@', (size_t)(aend - p))) why = "user info in URLs is not supported";
  if (!why) why = parse_host(p, aend, &host, &hend, &rest, &v6);
  if (!why) why = parse_port(rest, aend, &port);

  /* Request target: path and query, the fragment dropped. */
  size_t tlen = strcspn(aend, "#");
  for (size_t i = 0; !why && i < tlen; i++)
    if (!is_target_char((unsigned char)aend[i]))
      why = "invalid character in path or query (spaces and control characters must be "
            "percent-encoded)";
  if (why) {
    url_fail(errbuf, errlen, url, why);
    return LLMRT_EURL;
  }
  if (url_store(out, host, (size_t)(hend - host), v6, port, port != (tls ? 443u : 80u), aend,
                tlen) != 0) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "out of memory parsing a URL");
    return LLMRT_ENOMEM;
  }
  out->tls = tls;
  return 0;
}

void llmrt__url_free(llmrt__url_t *u) {
  if (!u) return;
  llmrt__free(u->storage);
  memset(u, 0, sizeof(*u));
}
