/* The client against hostile or broken peers and settings: floods of
 * informational (1xx) responses and of chunk extensions are bounded, a bad
 * gzip body is named as gzip, a directory (or other non-file) given as
 * ca_file is refused naming the path and the fault, a certificate that names
 * a literal address only as an iPAddress SAN is accepted for exactly that
 * address, and malformed URLs are refused before any I/O. */
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_internal.h"
#include "http/server.h"
#include "nginx.h"
#include "test_client_util.h"

/* ---- A canned server: one connection, any request, fixed bytes back ------- */

typedef struct {
  int lfd;
  uint16_t port;
  pthread_t th;
  char *reply;
  size_t reply_len;
} canned_t;

static void *canned_main(void *arg) {
  canned_t *s = arg;
  int fd = accept(s->lfd, NULL, NULL);
  if (fd < 0) return NULL;
  char req[8192];
  size_t got = 0;
  while (got < sizeof(req) - 1) {
    ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
    req[got] = 0;
    if (strstr(req, "\r\n\r\n")) break;
  }
  /* Sends what it can; the client may close early (that is the point). */
  size_t off = 0;
  while (off < s->reply_len) {
    ssize_t w = send(fd, s->reply + off, s->reply_len - off, MSG_NOSIGNAL);
    if (w <= 0) break;
    off += (size_t)w;
  }
  /* Wait for the client to close. */
  while (recv(fd, req, sizeof(req), 0) > 0) {
  }
  close(fd);
  return NULL;
}

static void canned_start(canned_t *s, char *reply, size_t len) {
  memset(s, 0, sizeof(*s));
  s->reply = reply;
  s->reply_len = len;
  int port;
  s->lfd = listen_loopback(&port);
  s->port = port;
  ASSERT_EQ(pthread_create(&s->th, NULL, canned_main, s), 0);
}

static void canned_stop(canned_t *s) {
  pthread_join(s->th, NULL);
  close(s->lfd);
  free(s->reply);
}

typedef struct {
  char *p;
  size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_str(sbuf_t *b, const char *s) {
  sb_add(b, s, strlen(s));
}

/* Runs one GET against a canned reply; the loop has only the runtime. */
static void canned_get(const llmrt_options_t *o, unsigned flags, char *reply, size_t len,
                       res_t *r) {
  canned_t s;
  canned_start(&s, reply, len);
  env_t e;
  memset(&e, 0, sizeof(e));
  ASSERT_EQ(uv_loop_init(&e.loop), 0);
  ASSERT_EQ(llmrt_new(&e.loop, o, &e.rt), 0);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", s.port);
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = url;
  q.flags = flags;
  memset(r, 0, sizeof(*r));
  r->rt = e.rt;
  ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, r, &r->h), 0);
  run_until(&e, &r->dones, 20000);
  llmrt_close(e.rt, on_rt_closed, &e);
  run_until(&e, &e.closed, 10000);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&e.loop), 0);
  canned_stop(&s);
}

/* ---- Informational responses ------------------------------------------------ */

static void test_informational_flood(void) {
  res_t r;
  /* A few 100/103 before the real head are skipped. */
  sbuf_t b = {0};
  for (int i = 0; i < 3; i++)
    sb_str(&b, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
  sb_str(&b, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  canned_get(NULL, 0, b.p, b.len, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.http_status, 200);
  ASSERT_STR_EQ(r.body, "ok");
  res_free(&r);

  /* An endless stream of them ends at the count. */
  memset(&b, 0, sizeof(b));
  for (int i = 0; i < 1000; i++)
    sb_str(&b, "HTTP/1.1 100 Continue\r\n\r\n");
  canned_get(NULL, 0, b.p, b.len, &r);
  ASSERT_ERR(r.status, LLMRT_EHEADERCOUNT);
  ASSERT_CONTAINS(r.errmsg, "informational (1xx)");
  ASSERT_CONTAINS(r.errmsg, "16");
  ASSERT_EQ(r.heads, 0);
  res_free(&r);

  /* Few but fat ones end at max_header_bytes, counted together. */
  memset(&b, 0, sizeof(b));
  char hdr[2100];
  memset(hdr, 'h', sizeof(hdr));
  memcpy(hdr, "X-Hint: ", 8);
  memcpy(hdr + sizeof(hdr) - 2, "\r\n", 2);
  for (int i = 0; i < 10; i++) {
    sb_str(&b, "HTTP/1.1 103 Early Hints\r\n");
    sb_add(&b, hdr, sizeof(hdr));
    sb_str(&b, "\r\n");
  }
  sb_str(&b, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.max_header_bytes = 8192; /* each is 2 KiB: four fit, ten do not */
  canned_get(&o, 0, b.p, b.len, &r);
  ASSERT_ERR(r.status, LLMRT_EHEADERSIZE);
  ASSERT_CONTAINS(r.errmsg, "informational (1xx)");
  ASSERT_CONTAINS(r.errmsg, "max_header_bytes (8192)");
  res_free(&r);
}

/* ---- Chunk extensions ------------------------------------------------------- */

static void test_chunk_extension_flood(void) {
  res_t r;
  /* Ordinary extensions pass (and are ignored). */
  sbuf_t b = {0};
  sb_str(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "2;name=value\r\nok\r\n0\r\n\r\n");
  canned_get(NULL, 0, b.p, b.len, &r);
  if (r.status) fprintf(stderr, "%s\n", r.errmsg);
  ASSERT_ERR(r.status, 0);
  ASSERT_STR_EQ(r.body, "ok");
  res_free(&r);

  /* One byte of body per chunk, 1000 bytes of extension each: bounded by
   * max_header_bytes over the whole response. */
  memset(&b, 0, sizeof(b));
  sb_str(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  char ext[1000];
  memset(ext, 'e', sizeof(ext));
  for (int i = 0; i < 100; i++) {
    sb_str(&b, "1;x=");
    sb_add(&b, ext, sizeof(ext));
    sb_str(&b, "\r\nz\r\n");
  }
  sb_str(&b, "0\r\n\r\n");
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.max_header_bytes = 16384;
  canned_get(&o, 0, b.p, b.len, &r);
  ASSERT_ERR(r.status, LLMRT_EHEADERSIZE);
  ASSERT_CONTAINS(r.errmsg, "chunk extensions");
  ASSERT_CONTAINS(r.errmsg, "max_header_bytes (16384)");
  ASSERT_LE(r.blen, 17);
  res_free(&r);
}

/* ---- Content-Encoding names ----------------------------------------------- */

static void test_bad_gzip_named_gzip(void) {
  env_t e;
  env_init(&e);
  res_t r;
  do_req(&e, "GET", "/gzip-bad", LLMRT_HTTP_DECOMPRESS, &r);
  ASSERT_ERR(r.status, LLMRT_EDECODE);
  ASSERT_CONTAINS(r.errmsg, "gzip");
  ASSERT(strstr(r.errmsg, "deflate") == NULL);
  res_free(&r);
  env_close(&e);

  /* "deflate" over bytes that are neither zlib nor raw deflate says so. */
  sbuf_t b = {0};
  sb_str(&b, "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 30\r\n\r\n"
             "\xff\xff\xff\xff this is not deflate at all");
  canned_get(NULL, LLMRT_HTTP_DECOMPRESS, b.p, b.len, &r);
  ASSERT_ERR(r.status, LLMRT_EDECODE);
  ASSERT_CONTAINS(r.errmsg, "deflate response body");
  res_free(&r);
}

/* ---- ca_file that is not a CA file ------------------------------------------ */

static void https_get(env_t *e, const char *url, res_t *r) {
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.url = url;
  memset(r, 0, sizeof(*r));
  r->rt = e->rt;
  ASSERT_EQ(llmrt_http_request(e->rt, &q, &test_cbs, r, NULL), 0);
  run_until(e, &r->dones, 20000);
}

static void ca_case(const char *ca_file, const char *want) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = ca_file;
  env_t e;
  env_init_opts(&e, &o);
  char url[128];
  /* The TCP connect reaches the raw server; TLS stops at the CA file. */
  snprintf(url, sizeof(url), "https://127.0.0.1:%u/", rawserver_port(e.srv));
  res_t r;
  https_get(&e, url, &r);
  ASSERT_ERR(r.status, LLMRT_ECAFILE);
  ASSERT_CONTAINS(r.errmsg, ca_file);
  ASSERT_CONTAINS(r.errmsg, want);
  ASSERT(strstr(r.errmsg, "allocation") == NULL);
  res_free(&r);
  env_close(&e);
}

static void test_ca_file_checked(void) {
  char dir[] = "/tmp/llmrt-ca-XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  char empty[300], missing[300];
  snprintf(empty, sizeof(empty), "%s/empty.pem", dir);
  snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
  FILE *f = fopen(empty, "w");
  ASSERT(f != NULL);
  fclose(f);
  ca_case(dir, "is a directory");
  ca_case(empty, "empty");
  ca_case(missing, "no such file");
  ca_case("/dev/null", "not a regular file");
  unlink(empty);
  rmdir(dir);
}

/* ---- A certificate for an IP address (iPAddress SAN only) ----------------- */

static void on_srv_request(llmrt__server_t *s, llmrt__sreq_t *r, void *user) {
  llmrt__sreq_respond(r, 200, NULL, 0, "ip ok", 5);
}

static void on_srv_closed(llmrt__server_t *s, void *user) {
  *(int *)user = 1;
}

static llmrt__server_t *ip_server(llmrt_t *rt, const char *host) {
  llmrt__server_opts_t so;
  llmrt__server_opts_init(&so);
  so.host = host;
  char cert[300], key[300];
  snprintf(cert, sizeof(cert), "%s", test_cert_path("iponly.pem"));
  snprintf(key, sizeof(key), "%s", test_cert_path("iponly.key"));
  so.tls_cert = cert;
  so.tls_key = key;
  llmrt__server_cbs_t cbs = {on_srv_request, NULL};
  llmrt__server_t *s = NULL;
  char err[256];
  int rc = llmrt__server_start(rt, &so, &cbs, NULL, &s, err, sizeof(err));
  if (rc) fprintf(stderr, "   no server on %s: %s\n", host, err);
  return rc ? NULL : s;
}

static void test_ip_san(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = test_cert_path("ca.pem");
  env_t e;
  env_init_opts(&e, &o);
  llmrt__server_t *v4 = ip_server(e.rt, "127.0.0.1");
  llmrt__server_t *v6 = ip_server(e.rt, "::1");
  llmrt__server_t *other = ip_server(e.rt, "127.0.0.2");
  ASSERT(v4 != NULL);
  char url[128];
  res_t r;
  /* The address the certificate names: accepted. */
  snprintf(url, sizeof(url), "https://127.0.0.1:%u/", llmrt__server_port(v4));
  https_get(&e, url, &r);
  if (r.status) fprintf(stderr, "%s\n", r.errmsg);
  ASSERT_ERR(r.status, 0);
  ASSERT_STR_EQ(r.body, "ip ok");
  res_free(&r);
  if (v6) {
    snprintf(url, sizeof(url), "https://[::1]:%u/", llmrt__server_port(v6));
    https_get(&e, url, &r);
    ASSERT_ERR(r.status, 0);
    res_free(&r);
  }
  /* A name is not an address: "localhost" does not match. */
  snprintf(url, sizeof(url), "https://localhost:%u/", llmrt__server_port(v4));
  https_get(&e, url, &r);
  ASSERT_ERR(r.status, LLMRT_ECERTHOSTNAME);
  res_free(&r);
  /* Another address does not match either. */
  if (other) {
    snprintf(url, sizeof(url), "https://127.0.0.2:%u/", llmrt__server_port(other));
    https_get(&e, url, &r);
    ASSERT_ERR(r.status, LLMRT_ECERTHOSTNAME);
    ASSERT_CONTAINS(r.errmsg, "127.0.0.2");
    res_free(&r);
  }
  int closed[3] = {0, 0, 0};
  llmrt__server_t *all[3] = {v4, v6, other};
  for (int i = 0; i < 3; i++) {
    if (!all[i]) {
      closed[i] = 1;
      continue;
    }
    llmrt__server_close(all[i], on_srv_closed, &closed[i]);
    run_until(&e, &closed[i], 10000);
  }
  env_close(&e);
}

/* ---- URLs ------------------------------------------------------------------ */

static void test_bad_urls_refused_up_front(void) {
  env_t e;
  env_init(&e);
  const char *bad[] = {"http://127.0.0.1:0/v1", "http://127.0.0.1:99999/v1",
                       "http://[::1/v1",        "https://h:65536/",
                       "http://h:-1/",          "http://[::1]:0/"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    llmrt_http_request_t q;
    llmrt_http_request_init(&q);
    q.url = bad[i];
    res_t r;
    memset(&r, 0, sizeof(r));
    ASSERT_ERR(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), LLMRT_EURL);
    ASSERT_ERR(llmrt_http_prewarm(e.rt, bad[i], 1, NULL, NULL), LLMRT_EURL);
  }
  run_for(&e, 20);
  env_close(&e);
  /* The messages say what is wrong, and never echo user info. */
  const char *cases[][2] = {{"http://127.0.0.1:0/v1", "port out of range"},
                            {"http://127.0.0.1:99999/v1", "port out of range"},
                            {"http://[::1/v1", "unterminated IPv6 literal"},
                            {"http://user:SECRET@h:99999/", "user info"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    llmrt__url_t u;
    char err[256] = "";
    ASSERT_ERR(llmrt__url_parse(cases[i][0], &u, err, sizeof(err)), LLMRT_EURL);
    ASSERT_CONTAINS(err, cases[i][1]);
    ASSERT(strstr(err, "SECRET") == NULL);
  }
}

int main(void) {
  RUN_TEST(test_informational_flood);
  RUN_TEST(test_chunk_extension_flood);
  RUN_TEST(test_bad_gzip_named_gzip);
  RUN_TEST(test_ca_file_checked);
  RUN_TEST(test_ip_san);
  RUN_TEST(test_bad_urls_refused_up_front);
  return 0;
}
