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

int llmrt__url_parse(const char *url, llmrt__url_t *out, char *errbuf, size_t errlen) {
  memset(out, 0, sizeof(*out));
  if (!url) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "malformed URL: NULL");
    return LLMRT_EURL;
  }
  const char *p = url;
  int tls;
  if (ascii_ieq(p, "http://", 7)) {
    tls = 0;
    p += 7;
  } else if (ascii_ieq(p, "https://", 8)) {
    tls = 1;
    p += 8;
  } else {
    url_fail(errbuf, errlen, url, "scheme must be http:// or https://");
    return LLMRT_EURL;
  }

  size_t alen = strcspn(p, "/?#");
  const char *auth = p, *aend = p + alen;
  if (memchr(auth, '@', alen)) {
    url_fail(errbuf, errlen, url, "user info in URLs is not supported");
    return LLMRT_EURL;
  }

  const char *host, *hend, *pp;
  int v6 = 0;
  if (alen && auth[0] == '[') {
    hend = memchr(auth, ']', alen);
    if (!hend) {
      url_fail(errbuf, errlen, url, "unterminated IPv6 literal");
      return LLMRT_EURL;
    }
    host = auth + 1;
    char tmp[64];
    struct in6_addr a6;
    size_t hl = (size_t)(hend - host);
    if (hl == 0 || hl >= sizeof(tmp)) {
      url_fail(errbuf, errlen, url, "invalid IPv6 literal");
      return LLMRT_EURL;
    }
    memcpy(tmp, host, hl);
    tmp[hl] = 0;
    if (uv_inet_pton(AF_INET6, tmp, &a6) != 0) {
      url_fail(errbuf, errlen, url, "invalid IPv6 literal");
      return LLMRT_EURL;
    }
    v6 = 1;
    pp = hend + 1;
    if (pp != aend && *pp != ':') {
      url_fail(errbuf, errlen, url, "unexpected characters after the IPv6 literal");
      return LLMRT_EURL;
    }
  } else {
    host = auth;
    hend = memchr(auth, ':', alen);
    if (!hend) hend = aend;
    pp = hend;
    if (hend == host) {
      url_fail(errbuf, errlen, url, "empty host");
      return LLMRT_EURL;
    }
    for (const char *q = host; q < hend; q++) {
      if (!is_name_char(*q)) {
        url_fail(errbuf, errlen, url, "invalid character in host");
        return LLMRT_EURL;
      }
    }
  }

  unsigned port = tls ? 443 : 80;
  int explicit_port = 0;
  if (pp < aend) { /* *pp == ':' */
    pp++;
    if (pp < aend) {
      unsigned v = 0;
      if (aend - pp > 5) {
        url_fail(errbuf, errlen, url, "port out of range");
        return LLMRT_EURL;
      }
      for (const char *q = pp; q < aend; q++) {
        if (*q < '0' || *q > '9') {
          url_fail(errbuf, errlen, url, "invalid port");
          return LLMRT_EURL;
        }
        v = v * 10 + (unsigned)(*q - '0');
      }
      if (v == 0 || v > 65535) {
        url_fail(errbuf, errlen, url, "port out of range");
        return LLMRT_EURL;
      }
      port = v;
      explicit_port = port != (tls ? 443u : 80u);
    }
  }

  /* Request target: path and query, the fragment dropped. */
  const char *t = aend;
  size_t tlen = strcspn(t, "#");
  for (size_t i = 0; i < tlen; i++) {
    if (!is_target_char((unsigned char)t[i])) {
      url_fail(errbuf, errlen, url,
               "invalid character in path or query (spaces and control "
               "characters must be percent-encoded)");
      return LLMRT_EURL;
    }
  }
  int need_slash = tlen == 0 || t[0] != '/';

  size_t hl = (size_t)(hend - host);
  /* storage: host\0 host_hdr\0 target\0 */
  size_t need = hl + 1 + (hl + 2 + 6 + 1) + (tlen + 2);
  char *s = llmrt__malloc(need);
  if (!s) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "out of memory parsing a URL");
    return LLMRT_ENOMEM;
  }
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
  out->tls = tls;
  out->port = (uint16_t)port;
  return 0;
}

void llmrt__url_free(llmrt__url_t *u) {
  if (!u) return;
  llmrt__free(u->storage);
  memset(u, 0, sizeof(*u));
}
