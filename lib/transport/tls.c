/* TLS with mbedTLS 2.28 over libuv, through an in-memory BIO.
 *
 * mbedTLS never touches the socket: its send callback appends ciphertext to
 * c->tls_out (flushed with uv_write), its receive callback takes ciphertext
 * from c->tls_in (filled by libuv reads) and says MBEDTLS_ERR_SSL_WANT_READ
 * when that is empty. After each read we call mbedtls_ssl_read until it wants
 * more, since one socket read may carry several records.
 *
 * Per runtime (rt->tls): one CTR-DRBG seeded from mbedtls_entropy, the client
 * configuration (TLS 1.2 minimum, ALPN http/1.1, verification against the
 * system bundle or opts.ca_file), and the last session per host:port so that
 * the next connection to that origin resumes. The CA bundle is parsed on the
 * thread pool: the loop never blocks on file I/O. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/error.h>

#include "internal.h"

#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define MAX_SESSIONS 128
/* The system bundle is about 200 KiB; a CA file past this is not one. */
#define MAX_CA_FILE_BYTES (64 * 1024 * 1024)

enum { CONF_NONE, CONF_LOADING, CONF_READY, CONF_FAILED };

typedef struct {
  llmrt__link_t link;
  char *key; /* host:port */
  mbedtls_ssl_session session;
} tls_session_t;

struct llmrt__tls_s {
  unsigned refs;
  llmrt_t *rt; /* NULL once the runtime closed */
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;

  int conf_state;
  int verify;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  char *ca_path;
  int load_ret; /* from the worker thread */
  char load_msg[256];
  uv_work_t work;
  llmrt_t *work_rt;      /* referenced while the bundle loads */
  llmrt__link_t waiters; /* conns waiting for the configuration */

  llmrt__link_t sessions; /* least recently stored first */
  unsigned n_sessions;
};

static const char *alpn_list[] = {"http/1.1", NULL};

/* ---- The per-runtime state ---- */

static void sessions_clear(llmrt__tls_t *t) {
  while (!llmrt__list_empty(&t->sessions)) {
    tls_session_t *s = LLMRT__CONTAINER(t->sessions.next, tls_session_t, link);
    llmrt__list_remove(&s->link);
    mbedtls_ssl_session_free(&s->session);
    llmrt__free(s->key);
    llmrt__free(s);
  }
  t->n_sessions = 0;
}

void llmrt__tls_unref(llmrt__tls_t *t) {
  if (!t || --t->refs > 0) return;
  sessions_clear(t);
  mbedtls_ssl_config_free(&t->conf);
  mbedtls_x509_crt_free(&t->ca);
  mbedtls_ctr_drbg_free(&t->drbg);
  mbedtls_entropy_free(&t->entropy);
  llmrt__free(t->ca_path);
  llmrt__free(t);
}

static void tls_closer(llmrt_t *rt, void *arg) {
  llmrt__tls_t *t = arg;
  rt->tls = NULL;
  t->rt = NULL;
  sessions_clear(t);
  llmrt__tls_unref(t); /* conns and servers may still hold theirs */
}

llmrt__tls_t *llmrt__tls_get(llmrt_t *rt, int *err) {
  llmrt__tls_t *t = rt->tls;
  if (t) {
    t->refs++;
    return t;
  }
  t = llmrt__calloc(1, sizeof *t);
  if (!t) {
    *err = LLMRT_ENOMEM;
    return NULL;
  }
  t->rt = rt;
  t->refs = 1;
  llmrt__list_init(&t->waiters);
  llmrt__list_init(&t->sessions);
  mbedtls_entropy_init(&t->entropy);
  mbedtls_ctr_drbg_init(&t->drbg);
  mbedtls_ssl_config_init(&t->conf);
  mbedtls_x509_crt_init(&t->ca);
  static const unsigned char pers[] = "llmrt";
  int r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, pers, sizeof pers - 1);
  if (r == 0) r = llmrt__rt_add_closer(rt, LLMRT__CLOSE_NET, tls_closer, t);
  if (r) {
    llmrt__tls_unref(t);
    *err = r == LLMRT_ENOMEM ? LLMRT_ENOMEM : LLMRT_ETLS;
    return NULL;
  }
  rt->tls = t;
  t->refs++; /* one for the runtime (dropped by the closer), one for the caller */
  return t;
}

int llmrt__tls_random(void *p, unsigned char *out, size_t len) {
  return mbedtls_ctr_drbg_random(p, out, len);
}

void *llmrt__tls_rng(llmrt__tls_t *t) {
  return &t->drbg;
}

/* ---- Session cache ---- */

static tls_session_t *session_find(llmrt__tls_t *t, const char *key) {
  for (llmrt__link_t *l = t->sessions.next; l != &t->sessions; l = l->next) {
    tls_session_t *s = LLMRT__CONTAINER(l, tls_session_t, link);
    if (strcmp(s->key, key) == 0) return s;
  }
  return NULL;
}

static void session_store(llmrt__tls_t *t, const char *key, const mbedtls_ssl_context *ssl) {
  if (!t->rt) return; /* the runtime is closing: nobody will reuse it */
  tls_session_t *s = session_find(t, key);
  if (s) {
    llmrt__list_remove(&s->link);
    mbedtls_ssl_session_free(&s->session);
  } else {
    if (t->n_sessions >= MAX_SESSIONS) {
      tls_session_t *old = LLMRT__CONTAINER(t->sessions.next, tls_session_t, link);
      llmrt__list_remove(&old->link);
      mbedtls_ssl_session_free(&old->session);
      llmrt__free(old->key);
      llmrt__free(old);
      t->n_sessions--;
    }
    s = llmrt__calloc(1, sizeof *s);
    if (!s) return;
    s->key = llmrt__strdup(key);
    if (!s->key) {
      llmrt__free(s);
      return;
    }
    t->n_sessions++;
  }
  mbedtls_ssl_session_init(&s->session);
  if (mbedtls_ssl_get_session(ssl, &s->session) != 0) {
    mbedtls_ssl_session_free(&s->session);
    llmrt__free(s->key);
    llmrt__free(s);
    t->n_sessions--;
    return;
  }
  llmrt__list_push_back(&t->sessions, &s->link);
}

/* ---- Client configuration, with the CA bundle parsed off the loop ---- */

/* mbedTLS reads whatever it is given: a directory makes it ask for 2^63
 * bytes ("memory allocation failed"). Say what is wrong with the path
 * instead. Runs on the worker thread (uv_strerror is thread-safe). */
static int check_ca_path(const char *path, char *msg, size_t len) {
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(msg, len, "%s", uv_strerror(uv_translate_sys_error(errno)));
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    snprintf(msg, len, "it is a directory, not a PEM file");
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(msg, len, "it is not a regular file");
    return -1;
  }
  if (st.st_size == 0) {
    snprintf(msg, len, "the file is empty");
    return -1;
  }
  if (st.st_size > MAX_CA_FILE_BYTES) {
    snprintf(msg, len, "the file is too large (%lld bytes, at most %d)", (long long)st.st_size,
             MAX_CA_FILE_BYTES);
    return -1;
  }
  if (access(path, R_OK) != 0) {
    snprintf(msg, len, "cannot read it: %s", uv_strerror(uv_translate_sys_error(errno)));
    return -1;
  }
  return 0;
}

static void load_work(uv_work_t *req) {
  llmrt__tls_t *t = req->data;
  if (check_ca_path(t->ca_path, t->load_msg, sizeof t->load_msg) != 0) {
    t->load_ret = -1;
    return;
  }
  /* mbedTLS allocates with calloc here, not with our hooks: safe on a
   * worker thread. */
  int r = mbedtls_x509_crt_parse_file(&t->ca, t->ca_path);
  if (r < 0) {
    char e[160];
    mbedtls_strerror(r, e, sizeof e);
    snprintf(t->load_msg, sizeof t->load_msg, "%s", e);
  } else if (t->ca.version == 0) {
    snprintf(t->load_msg, sizeof t->load_msg, "no certificate could be parsed");
    r = -1;
  }
  t->load_ret = r < 0 ? r : 0;
}

static int conf_setup(llmrt__tls_t *t) {
  int r = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
  if (r) return r;
  mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
  /* Without verification we still run it (OPTIONAL, result ignored): the
   * verify callback then also tells full handshakes from resumed ones. */
  mbedtls_ssl_conf_authmode(&t->conf,
                            t->verify ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_OPTIONAL);
  if (t->verify) mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
  mbedtls_ssl_conf_session_tickets(&t->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
  return mbedtls_ssl_conf_alpn_protocols(&t->conf, alpn_list);
}

static void begin_client_handshake(llmrt__conn_t *c);

static void load_done(uv_work_t *req, int status) {
  llmrt__tls_t *t = req->data;
  llmrt_t *rt = t->rt; /* NULL if the runtime closed meanwhile */
  int code = 0;
  char msg[400];
  if (status == 0 && t->load_ret == 0) {
    int r = conf_setup(t);
    if (r == 0) {
      t->conf_state = CONF_READY;
    } else {
      char e[160];
      mbedtls_strerror(r, e, sizeof e);
      snprintf(t->load_msg, sizeof t->load_msg, "TLS configuration failed: %s", e);
      code = LLMRT_ETLS;
    }
  } else {
    code = LLMRT_ECAFILE;
    if (status != 0) snprintf(t->load_msg, sizeof t->load_msg, "%s", uv_strerror(status));
  }
  if (code) {
    t->conf_state = CONF_FAILED;
    snprintf(msg, sizeof msg, "cannot load CA certificates from %s: %s", t->ca_path, t->load_msg);
    if (rt) llmrt__log(rt, LLMRT_LOG_ERROR, "%s", msg);
  }
  /* Take the waiters first: their callbacks may close other waiters. */
  llmrt__link_t waiters;
  llmrt__list_move(&t->waiters, &waiters);
  while (!llmrt__list_empty(&waiters)) {
    llmrt__conn_t *c = LLMRT__CONTAINER(waiters.next, llmrt__conn_t, tls_wait);
    llmrt__list_remove(&c->tls_wait);
    if (code)
      llmrt__conn_fail(c, code, "TLS to %s: %s", c->hostport, msg);
    else
      begin_client_handshake(c);
  }
  llmrt_t *work_rt = t->work_rt;
  t->work_rt = NULL;
  llmrt__tls_unref(t);
  llmrt__rt_unref(work_rt);
}

int llmrt__tls_client_prepare(llmrt__conn_t *c) {
  int err = 0;
  llmrt__tls_t *t = llmrt__tls_get(c->rt, &err);
  if (!t) return err;
  c->tlsctx = t;
  if (t->conf_state != CONF_NONE) return 0;
  t->verify = !c->rt->opts.tls_insecure;
  if (!t->verify) {
    int r = conf_setup(t);
    if (r) return r == MBEDTLS_ERR_SSL_ALLOC_FAILED ? LLMRT_ENOMEM : LLMRT_ETLS;
    t->conf_state = CONF_READY;
    return 0;
  }
  const char *path = c->rt->opts.ca_file ? c->rt->opts.ca_file : SYSTEM_CA_FILE;
  t->ca_path = llmrt__strdup(path);
  if (!t->ca_path) return LLMRT_ENOMEM;
  t->work.data = t;
  int r = uv_queue_work(c->rt->loop, &t->work, load_work, load_done);
  if (r) {
    llmrt__free(t->ca_path);
    t->ca_path = NULL;
    return LLMRT_ENOMEM;
  }
  t->conf_state = CONF_LOADING;
  t->refs++;
  t->work_rt = c->rt;
  llmrt__rt_ref(c->rt);
  return 0;
}

/* ---- BIO ---- */

static int bio_send(void *ctx, const unsigned char *buf, size_t len) {
  llmrt__conn_t *c = ctx;
  if (llmrt__buf_append(&c->tls_out, buf, len) != 0) {
    c->tls_bio_err = LLMRT_ENOMEM;
    return MBEDTLS_ERR_SSL_ALLOC_FAILED;
  }
  return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len) {
  llmrt__conn_t *c = ctx;
  size_t avail = c->tls_in.len - c->tls_in_off;
  if (avail == 0) return c->tls_eof ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
  if (len > avail) len = avail;
  memcpy(buf, c->tls_in.data + c->tls_in_off, len);
  c->tls_in_off += len;
  if (c->tls_in_off == c->tls_in.len) {
    c->tls_in_off = 0;
    llmrt__buf_reset(&c->tls_in);
  }
  return (int)len;
}

/* 1 when host is a literal address that crt names in an iPAddress SAN. */
static int san_has_ip(const mbedtls_x509_crt *crt, const char *host) {
  unsigned char a[16];
  size_t alen;
  if (uv_inet_pton(AF_INET, host, a) == 0)
    alen = 4;
  else if (uv_inet_pton(AF_INET6, host, a) == 0)
    alen = 16;
  else
    return 0;
  for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next)
    if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && s->buf.len == alen &&
        memcmp(s->buf.p, a, alen) == 0)
      return 1;
  return 0;
}

static int on_verify(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
  llmrt__conn_t *c = p;
  c->tls_cert_seen = 1;
  /* mbedTLS 2.28 matches the host name against DNS names and the CN only,
   * so a connection to a literal address fails against a certificate that
   * names it as an iPAddress SAN (the right way): compare those bytes here,
   * for the server's own certificate, and clear the mismatch only on an
   * exact match. Everything else mbedTLS found stays. */
  if (depth == 0 && !c->server && (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) &&
      san_has_ip(crt, c->host))
    *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

static int ssl_new(llmrt__conn_t *c, const mbedtls_ssl_config *conf) {
  c->ssl = llmrt__malloc(sizeof *c->ssl);
  if (!c->ssl) return MBEDTLS_ERR_SSL_ALLOC_FAILED;
  mbedtls_ssl_init(c->ssl);
  int r = mbedtls_ssl_setup(c->ssl, conf);
  if (r) return r;
  mbedtls_ssl_set_bio(c->ssl, c, bio_send, bio_recv, NULL);
  return 0;
}

void llmrt__tls_conn_free(llmrt__conn_t *c) {
  if (c->ssl) {
    mbedtls_ssl_free(c->ssl);
    llmrt__free(c->ssl);
    c->ssl = NULL;
  }
  llmrt__buf_free(&c->tls_in);
  llmrt__buf_free(&c->tls_out);
  if (c->tlsctx) llmrt__tls_unref(c->tlsctx);
  c->tlsctx = NULL;
}

/* ---- Handshake ---- */

static int map_mbedtls(int r) {
  return r == MBEDTLS_ERR_SSL_ALLOC_FAILED ? LLMRT_ENOMEM : LLMRT_ETLS;
}

static void hs_fail(llmrt__conn_t *c, int r) {
  const char *who = c->server ? "TLS handshake with client" : "TLS handshake with";
  if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    uint32_t flags = mbedtls_ssl_get_verify_result(c->ssl);
    char info[400];
    int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
    if (n < 0) snprintf(info, sizeof info, "flags 0x%x", (unsigned)flags);
    /* The info comes as lines; make it one. */
    for (char *p = info; *p; p++)
      if (*p == '\n') *p = p[1] ? ';' : '\0';
    int code = LLMRT_ECERTUNTRUSTED;
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
      code = LLMRT_ECERTUNTRUSTED;
    else if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
      code = LLMRT_ECERTEXPIRED;
    else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
      code = LLMRT_ECERTHOSTNAME;
    llmrt__conn_fail(c, code, "%s %s failed: certificate verification failed: %s", who, c->hostport,
                     info);
    return;
  }
  if (r == MBEDTLS_ERR_SSL_CONN_EOF) {
    llmrt__conn_fail(c, LLMRT_ETLS, "%s %s failed: connection closed by the peer", who,
                     c->hostport);
    return;
  }
  char e[200];
  mbedtls_strerror(r, e, sizeof e);
  llmrt__conn_fail(c, map_mbedtls(r), "%s %s failed: %s (-0x%04x)", who, c->hostport, e,
                   (unsigned)-r);
}

static void hs_done(llmrt__conn_t *c) {
  c->info.tls_us = llmrt__now_us() - c->t_tls_start;
  if (!c->server) {
    c->info.tls_resumed = c->tls_offered && !c->tls_cert_seen;
    session_store(c->tlsctx, c->hostport, c->ssl);
  }
  if (!c->want_read) (void)llmrt__conn_uv_read(c, 0);
  llmrt__conn_established(c);
}

/* The conn whose handshake step runs on this thread now. mbedTLS calls the
 * server's ticket callback from inside the step, with no way to tell it the
 * conn: llmrt__tls_handshaking() does. */
static _Thread_local llmrt__conn_t *handshaking;

llmrt__conn_t *llmrt__tls_handshaking(void) {
  return handshaking;
}

static void hs_step(llmrt__conn_t *c) {
  handshaking = c;
  int r = mbedtls_ssl_handshake(c->ssl);
  handshaking = NULL;
  /* Whatever mbedTLS produced goes out, alerts included. */
  int fr = c->tls_out.len ? llmrt__conn_flush(c, NULL, NULL) : 0;
  if (c->closed) return;
  if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
    if (fr) {
      llmrt__conn_fail(c, llmrt__conn_map_io_err(fr), "TLS handshake with %s failed: %s",
                       c->hostport, llmrt_strerror(fr));
      return;
    }
    int rr = llmrt__conn_uv_read(c, 1);
    if (rr)
      llmrt__conn_fail(c, LLMRT_ETLS, "TLS handshake with %s failed: read: %s", c->hostport,
                       uv_strerror(rr));
    return;
  }
  if (r) {
    hs_fail(c, r);
    return;
  }
  hs_done(c);
}

static void begin_client_handshake(llmrt__conn_t *c) {
  llmrt__tls_t *t = c->tlsctx;
  int r = ssl_new(c, &t->conf);
  /* The host name both goes out as SNI and is checked against the
   * certificate: DNS names and the CN by mbedTLS, iPAddress SANs for a
   * literal address by on_verify. */
  if (r == 0) r = mbedtls_ssl_set_hostname(c->ssl, c->host);
  if (r) {
    hs_fail(c, r);
    return;
  }
  mbedtls_ssl_set_verify(c->ssl, on_verify, c);
  tls_session_t *s = session_find(t, c->hostport);
  if (s && mbedtls_ssl_set_session(c->ssl, &s->session) == 0) c->tls_offered = 1;
  c->state = LLMRT__CONN_HANDSHAKE;
  hs_step(c);
}

void llmrt__tls_client_start(llmrt__conn_t *c) {
  llmrt__tls_t *t = c->tlsctx;
  c->t_tls_start = llmrt__now_us();
  if (c->tls_timeout_ms) llmrt__conn_timer(c, LLMRT__TIMER_TLS, c->tls_timeout_ms);
  if (t->conf_state == CONF_READY) {
    begin_client_handshake(c);
  } else if (t->conf_state == CONF_LOADING) {
    c->state = LLMRT__CONN_TLS_WAIT;
    llmrt__list_push_back(&t->waiters, &c->tls_wait);
  } else {
    llmrt__conn_fail(c, LLMRT_ECAFILE, "TLS to %s: cannot load CA certificates from %s: %s",
                     c->hostport, t->ca_path ? t->ca_path : "?", t->load_msg);
  }
}

int llmrt__tls_server_start(llmrt__conn_t *c) {
  int r = ssl_new(c, c->tls_srv_conf);
  if (r) return map_mbedtls(r);
  c->state = LLMRT__CONN_HANDSHAKE;
  c->t_tls_start = llmrt__now_us();
  if (c->tls_timeout_ms) llmrt__conn_timer(c, LLMRT__TIMER_TLS, c->tls_timeout_ms);
  /* The client speaks first: wait for its hello (no callback from here). */
  r = llmrt__conn_uv_read(c, 1);
  return r ? llmrt__conn_map_io_err(r) : 0;
}

/* ---- Application data ---- */

int llmrt__tls_has_pending(llmrt__conn_t *c) {
  if (!c->ssl || c->read_done) return 0;
  return c->tls_in.len > c->tls_in_off || c->tls_eof || mbedtls_ssl_check_pending(c->ssl);
}

void llmrt__tls_drain(llmrt__conn_t *c) {
  if (c->closed || c->state != LLMRT__CONN_OPEN || c->tls_draining) return;
  c->tls_draining = 1;
  while (!c->closed && c->want_read && !c->read_done) {
    int r = mbedtls_ssl_read(c->ssl, (unsigned char *)c->rbuf, c->rbuf_size);
    if (r > 0) {
      c->cbs.on_read(c, 0, c->rbuf, (size_t)r, c->user);
      continue;
    }
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) break;
    if (c->tls_out.len) (void)llmrt__conn_flush(c, NULL, NULL);
    c->read_done = 1;
    c->want_read = 0;
    (void)llmrt__conn_uv_read(c, 0);
    int code;
    if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_SSL_CONN_EOF) {
      code = LLMRT_ECLOSED;
    } else {
      char e[200];
      mbedtls_strerror(r, e, sizeof e);
      llmrt__log(c->rt, LLMRT_LOG_DEBUG, "TLS read from %s failed: %s (-0x%04x)", c->hostport, e,
                 (unsigned)-r);
      code = map_mbedtls(r);
    }
    c->cbs.on_read(c, code, NULL, 0, c->user);
    break;
  }
  c->tls_draining = 0;
  if (c->closed) return;
  /* mbedTLS may have answered something (an alert): send it. */
  if (c->tls_out.len) (void)llmrt__conn_flush(c, NULL, NULL);
}

void llmrt__tls_on_input(llmrt__conn_t *c) {
  if (c->state == LLMRT__CONN_HANDSHAKE)
    hs_step(c);
  else if (c->state == LLMRT__CONN_OPEN)
    llmrt__tls_drain(c);
}

void llmrt__tls_on_eof(llmrt__conn_t *c, int uverr) {
  if (uverr == UV_EOF) {
    c->tls_eof = 1;
    llmrt__tls_on_input(c);
    return;
  }
  if (c->state == LLMRT__CONN_HANDSHAKE) {
    llmrt__conn_fail(c, llmrt__conn_map_io_err(uverr), "TLS handshake with %s failed: %s",
                     c->hostport, uv_strerror(uverr));
    return;
  }
  c->read_done = 1;
  c->want_read = 0;
  c->cbs.on_read(c, llmrt__conn_map_io_err(uverr), NULL, 0, c->user);
}

int llmrt__tls_write(llmrt__conn_t *c, const uv_buf_t *bufs, unsigned n, llmrt__conn_write_cb cb,
                     void *arg) {
  for (unsigned i = 0; i < n; i++) {
    const unsigned char *p = (const unsigned char *)bufs[i].base;
    size_t left = bufs[i].len;
    while (left > 0) {
      int r = mbedtls_ssl_write(c->ssl, p, left);
      if (r < 0) {
        /* A partly encrypted message cannot be taken back: the stream is
         * broken and the owner must close it. */
        llmrt__buf_reset(&c->tls_out);
        return map_mbedtls(r);
      }
      p += r;
      left -= (size_t)r;
    }
  }
  return llmrt__conn_flush(c, cb, arg);
}

void llmrt__tls_close_notify(llmrt__conn_t *c) {
  if (!c->ssl || !c->tcp) return;
  (void)mbedtls_ssl_close_notify(c->ssl);
  if (c->tls_out.len) {
    /* Best effort and never waited for: only if the socket takes it now. */
    uv_buf_t b = uv_buf_init(c->tls_out.data, (unsigned)c->tls_out.len);
    (void)uv_try_write((uv_stream_t *)c->tcp, &b, 1);
    llmrt__buf_reset(&c->tls_out);
  }
}
