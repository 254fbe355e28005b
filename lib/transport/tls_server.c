/* Server-side TLS: a certificate chain and key, ALPN http/1.1, TLS 1.2
 * minimum, and session tickets (mbedtls_ssl_ticket) so that clients resume.
 *
 * The files are read when the server is created, which happens at setup
 * before calls run (the loop is not yet busy). The server is reference
 * counted: each accepted TLS conn keeps it (and through it the runtime's
 * DRBG) alive until the conn's memory goes. */
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>

#include "internal.h"

#define TICKET_LIFETIME_S 86400

struct llmrt__tls_server_s {
  unsigned refs;
  llmrt__tls_t *tls; /* reference: the DRBG */
  mbedtls_ssl_config conf;
  mbedtls_x509_crt chain;
  mbedtls_pk_context key;
  mbedtls_ssl_ticket_context ticket;
};

static const char *alpn_list[] = {"http/1.1", NULL};

static int ticket_write(void *p, const mbedtls_ssl_session *session, unsigned char *start,
                        const unsigned char *end, size_t *tlen, uint32_t *lifetime) {
  llmrt__tls_server_t *s = p;
  return mbedtls_ssl_ticket_write(&s->ticket, session, start, end, tlen, lifetime);
}

/* A ticket that decrypts means the client resumes: note it on the conn. */
static int ticket_parse(void *p, mbedtls_ssl_session *session, unsigned char *buf, size_t len) {
  llmrt__tls_server_t *s = p;
  int r = mbedtls_ssl_ticket_parse(&s->ticket, session, buf, len);
  llmrt__conn_t *c = llmrt__tls_handshaking();
  if (r == 0 && c) c->info.tls_resumed = 1;
  return r;
}

const mbedtls_ssl_config *llmrt__tls_server_conf(llmrt__tls_server_t *s) {
  return &s->conf;
}

void llmrt__tls_server_ref(llmrt__tls_server_t *s) {
  s->refs++;
}

void llmrt__tls_server_unref(llmrt__tls_server_t *s) {
  if (!s || --s->refs > 0) return;
  mbedtls_ssl_config_free(&s->conf);
  mbedtls_ssl_ticket_free(&s->ticket);
  mbedtls_pk_free(&s->key);
  mbedtls_x509_crt_free(&s->chain);
  llmrt__tls_unref(s->tls);
  llmrt__free(s);
}

void llmrt__tls_server_free(llmrt__tls_server_t *s) {
  llmrt__tls_server_unref(s);
}

static int fail(llmrt__tls_server_t *s, int code, int mret, char *errbuf, size_t errlen,
                const char *what, const char *file) {
  if (errbuf && errlen) {
    char e[160] = "";
    if (mret) mbedtls_strerror(mret, e, sizeof e);
    snprintf(errbuf, errlen, "TLS server: %s %s: %s", what, file ? file : "", e);
  }
  llmrt__tls_server_unref(s);
  return code;
}

int llmrt__tls_server_new(llmrt_t *rt, const char *cert_file, const char *key_file,
                          llmrt__tls_server_t **out, char *errbuf, size_t errlen) {
  if (errbuf && errlen) errbuf[0] = '\0';
  if (!rt || !cert_file || !key_file || !out) return LLMRT_EINVAL;
  *out = NULL;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  llmrt__tls_server_t *s = llmrt__calloc(1, sizeof *s);
  if (!s) return LLMRT_ENOMEM;
  s->refs = 1;
  mbedtls_ssl_config_init(&s->conf);
  mbedtls_x509_crt_init(&s->chain);
  mbedtls_pk_init(&s->key);
  mbedtls_ssl_ticket_init(&s->ticket);
  int err = 0;
  s->tls = llmrt__tls_get(rt, &err);
  if (!s->tls) {
    llmrt__free(s);
    return err;
  }

  int r = mbedtls_x509_crt_parse_file(&s->chain, cert_file);
  if (r != 0)
    return fail(s, LLMRT_ETLS, r < 0 ? r : 0, errbuf, errlen, "cannot load certificate chain",
                cert_file);
  r = mbedtls_pk_parse_keyfile(&s->key, key_file, NULL);
  if (r) return fail(s, LLMRT_ETLS, r, errbuf, errlen, "cannot load private key", key_file);
  r = mbedtls_pk_check_pair(&s->chain.pk, &s->key);
  if (r)
    return fail(s, LLMRT_ETLS, r, errbuf, errlen, "private key does not match certificate",
                cert_file);

  void *rng = llmrt__tls_rng(s->tls);
  r = mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT);
  if (r) return fail(s, LLMRT_ETLS, r, errbuf, errlen, "configuration failed", NULL);
  mbedtls_ssl_conf_min_version(&s->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_rng(&s->conf, llmrt__tls_random, rng);
  mbedtls_ssl_conf_authmode(&s->conf, MBEDTLS_SSL_VERIFY_NONE);
  r = mbedtls_ssl_conf_own_cert(&s->conf, &s->chain, &s->key);
  if (r == 0) r = mbedtls_ssl_conf_alpn_protocols(&s->conf, alpn_list);
  if (r == 0)
    r = mbedtls_ssl_ticket_setup(&s->ticket, llmrt__tls_random, rng, MBEDTLS_CIPHER_AES_256_GCM,
                                 TICKET_LIFETIME_S);
  if (r) return fail(s, LLMRT_ETLS, r, errbuf, errlen, "configuration failed", NULL);
  mbedtls_ssl_conf_session_tickets_cb(&s->conf, ticket_write, ticket_parse, s);
  *out = s;
  return 0;
}
