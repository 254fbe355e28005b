/* HTTP CONNECT tunnels (RFC 9110, section 9.3.6): once TCP to the proxy is
 * up, "CONNECT host:port" asks it for a byte stream to the upstream; any
 * 2xx answer turns the connection into that stream, and the connection then
 * goes on exactly as a direct one would (TLS with the upstream's name, or
 * plain). The proxy's answer is bounded and parsed strictly: it is as
 * hostile as anything else from the network. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int ieq_n(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
    if (x != y) return 0;
  }
  return 1;
}

int llmrt__proxy_bypass(const char *no_proxy, const char *host) {
  if (!no_proxy || !host) return 0;
  size_t hl = strlen(host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* "[::1]" -> "::1" */
    host++;
    hl -= 2;
  }
  for (const char *p = no_proxy; *p;) {
    while (*p == ',' || *p == ' ' || *p == '\t')
      p++;
    size_t n = strcspn(p, ", \t");
    const char *e = p;
    size_t en = n;
    p += n;
    if (en == 1 && e[0] == '*') return 1;
    if (en && e[0] == '.') { /* ".example.com": the domain and its subdomains */
      e++;
      en--;
    }
    const char *colon = memchr(e, ':', en);
    if (en >= 2 && e[0] == '[') { /* "[::1]" or "[::1]:8080" */
      const char *close = memchr(e, ']', en);
      if (!close) continue;
      en = (size_t)(close - e - 1);
      e++;
    } else if (colon && !memchr(colon + 1, ':', en - (size_t)(colon + 1 - e))) {
      en = (size_t)(colon - e); /* "host:port": the port is ignored */
    }
    /* The whole name, or a suffix starting at a label ("example.com"
     * matches "api.example.com", not "badexample.com"). */
    if (en && en <= hl && ieq_n(host + hl - en, e, en) && (en == hl || host[hl - en - 1] == '.'))
      return 1;
  }
  return 0;
}

static void proxy_written(llmrt__conn_t *c, int status, void *arg) {
  (void)arg;
  if (status < 0)
    llmrt__conn_fail(c, LLMRT_ECONNECT, "sending CONNECT %s to proxy %s failed: %s", c->hostport,
                     c->proxy_hostport, llmrt_strerror(status));
}

void llmrt__proxy_start(llmrt__conn_t *c) {
  c->proxy_buf = llmrt__malloc(LLMRT__PROXY_MAX_ANSWER + 1);
  llmrt__buf_t req;
  llmrt__buf_init(&req);
  if (!c->proxy_buf || llmrt__buf_printf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                                         c->hostport, c->hostport) != 0) {
    llmrt__buf_free(&req);
    llmrt__conn_fail(c, LLMRT_ENOMEM, "connect to %s through proxy %s: out of memory", c->hostport,
                     c->proxy_hostport);
    return;
  }
  c->proxy_len = 0;
  c->state = LLMRT__CONN_PROXY;
  int r = llmrt__conn_write_owned(c, &req, proxy_written, NULL);
  llmrt__buf_free(&req); /* empty when the write took it */
  if (r == 0) r = llmrt__conn_uv_read(c, 1);
  if (r)
    llmrt__conn_fail(c, r == LLMRT_ENOMEM ? LLMRT_ENOMEM : LLMRT_ECONNECT,
                     "sending CONNECT %s to proxy %s failed: %s", c->hostport, c->proxy_hostport,
                     r < 0 && r > -20000 ? uv_strerror(r) : llmrt_strerror(r));
}

/* The tunnel is up: the connection continues as a direct one would. */
static void tunnel_up(llmrt__conn_t *c) {
  llmrt__free(c->proxy_buf);
  c->proxy_buf = NULL;
  (void)llmrt__conn_uv_read(c, 0); /* TLS or the owner starts reading */
  c->info.connect_us = llmrt__now_us() - c->t_connect_start;
  c->state = LLMRT__CONN_CONNECTING;
  if (c->tls) {
    uv_timer_stop(&c->timer);
    c->timer_kind = LLMRT__TIMER_NONE;
    llmrt__tls_client_start(c);
    return;
  }
  llmrt__conn_established(c);
}

void llmrt__proxy_on_read(llmrt__conn_t *c, ssize_t nread) {
  if (nread < 0) {
    llmrt__conn_fail(c, LLMRT_ECONNECT, "proxy %s %s before answering CONNECT %s",
                     c->proxy_hostport, nread == UV_EOF ? "closed the connection" : "failed",
                     c->hostport);
    return;
  }
  c->proxy_len += (size_t)nread;
  c->proxy_buf[c->proxy_len] = '\0';
  char *end = strstr(c->proxy_buf, "\r\n\r\n");
  if (!end) {
    if (c->proxy_len >= LLMRT__PROXY_MAX_ANSWER || memchr(c->proxy_buf, '\0', c->proxy_len))
      llmrt__conn_fail(c, LLMRT_ECONNECT,
                       "proxy %s answered CONNECT %s with more than %d bytes of head",
                       c->proxy_hostport, c->hostport, LLMRT__PROXY_MAX_ANSWER);
    return;
  }
  /* "HTTP/1.x NNN reason": only the status line matters; the headers of a
   * 2xx are ignored, and a tunnel must carry nothing before we speak. */
  int code = 0;
  if (strncmp(c->proxy_buf, "HTTP/1.", 7) != 0 || c->proxy_buf[8] != ' ' ||
      sscanf(c->proxy_buf + 9, "%3d", &code) != 1 || code < 100 || code > 599) {
    llmrt__conn_fail(c, LLMRT_ECONNECT, "proxy %s sent a malformed answer to CONNECT %s",
                     c->proxy_hostport, c->hostport);
    return;
  }
  if (code < 200 || code > 299) {
    /* The reason phrase, bounded and printable only, names the refusal. */
    char reason[80];
    size_t n = 0;
    const char *rp = c->proxy_buf + 12;
    if (*rp == ' ') rp++;
    for (const char *p = rp; *p && *p != '\r' && n + 1 < sizeof reason; p++)
      reason[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    reason[n] = '\0';
    llmrt__conn_fail(c, LLMRT_ECONNECT, "proxy %s refused CONNECT %s: HTTP %d%s%s%s",
                     c->proxy_hostport, c->hostport, code, n ? " " : "", reason,
                     code == 407 ? " (proxy authentication is not supported)" : "");
    return;
  }
  if ((size_t)(end + 4 - c->proxy_buf) != c->proxy_len) {
    llmrt__conn_fail(c, LLMRT_ECONNECT, "proxy %s sent data through the CONNECT %s tunnel first",
                     c->proxy_hostport, c->hostport);
    return;
  }
  tunnel_up(c);
}
