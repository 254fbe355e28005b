/* Unit tests of the client's URL parser and gzip/deflate helpers (no
 * sockets). */
#include <string.h>
#include <zlib.h>

#include "http/http_internal.h"
#include "test.h"

static void ok_url(const char *in, int tls, const char *host, unsigned port, const char *host_hdr,
                   const char *target) {
  llmrt__url_t u;
  char err[256] = "";
  int rc = llmrt__url_parse(in, &u, err, sizeof(err));
  if (rc) TEST_FAIL_("%s: %s", in, err);
  ASSERT_EQ(u.tls, tls);
  ASSERT_STR_EQ(u.host, host);
  ASSERT_EQ(u.port, port);
  ASSERT_STR_EQ(u.host_hdr, host_hdr);
  ASSERT_STR_EQ(u.target, target);
  llmrt__url_free(&u);
}

static void bad_url(const char *in, const char *why) {
  llmrt__url_t u;
  char err[256] = "";
  ASSERT_ERR(llmrt__url_parse(in, &u, err, sizeof(err)), LLMRT_EURL);
  ASSERT_CONTAINS(err, why);
  ASSERT_CONTAINS(err, "malformed URL");
}

static void test_url(void) {
  ok_url("http://example.com", 0, "example.com", 80, "example.com", "/");
  ok_url("https://api.openai.com/v1/chat/completions", 1, "api.openai.com", 443, "api.openai.com",
         "/v1/chat/completions");
  ok_url("HTTPS://Host.Example:8443/a?b=c#frag", 1, "Host.Example", 8443, "Host.Example:8443",
         "/a?b=c");
  ok_url("http://127.0.0.1:8080?q=1", 0, "127.0.0.1", 8080, "127.0.0.1:8080", "/?q=1");
  ok_url("http://h:80/x", 0, "h", 80, "h", "/x"); /* default port not repeated */
  ok_url("https://h:443/", 1, "h", 443, "h", "/");
  ok_url("http://h:/x", 0, "h", 80, "h", "/x");
  ok_url("http://[::1]:8080/p", 0, "::1", 8080, "[::1]:8080", "/p");
  ok_url("https://[2001:db8::7]/", 1, "2001:db8::7", 443, "[2001:db8::7]", "/");
  ok_url("http://a/%20x", 0, "a", 80, "a", "/%20x");

  bad_url("ftp://x/", "scheme");
  bad_url("http//x/", "scheme");
  bad_url("http:///x", "empty host");
  bad_url("http://user:pw@host/", "user info");
  bad_url("http://[::1/x", "unterminated");
  bad_url("http://[zz::1]/x", "IPv6");
  bad_url("http://[::1]x/", "after the IPv6");
  bad_url("http://h:0/", "port");
  bad_url("http://h:65536/", "port");
  bad_url("http://h:12ab/", "invalid port");
  bad_url("http://h o/", "host");
  bad_url("http://h/a b", "path");
  bad_url("http://h/a\r\nX-Evil: 1", "path");
  /* The message names the URL but leaves the query (secrets) out. */
  llmrt__url_t u;
  char err[256];
  ASSERT_ERR(llmrt__url_parse("http://h/a b?key=SECRET", &u, err, sizeof(err)), LLMRT_EURL);
  ASSERT_CONTAINS(err, "http://h/a b");
  ASSERT(strstr(err, "SECRET") == NULL);
  ASSERT_ERR(llmrt__url_parse(NULL, &u, err, sizeof(err)), LLMRT_EURL);
}

typedef struct {
  char *data;
  size_t len, pieces;
} sink_t;

static int sink(void *arg, const char *d, size_t n) {
  sink_t *s = arg;
  s->data = realloc(s->data, s->len + n + 1);
  memcpy(s->data + s->len, d, n);
  s->len += n;
  s->pieces++;
  return 0;
}

static int stop_sink(void *arg, const char *d, size_t n) {
  return LLMRT_ECANCELED;
}

/* Compresses with zlib directly: window_bits 31 gzip, 15 zlib, -15 raw. */
static size_t zcompress(const char *in, size_t n, int wb, char *out, size_t cap) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, wb, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  zs.next_out = (Bytef *)out;
  zs.avail_out = (uInt)cap;
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t len = cap - zs.avail_out;
  deflateEnd(&zs);
  return len;
}

/* Feeds z in pieces of `step` bytes and checks the output equals want. */
static void inflate_check(const char *z, size_t zl, size_t step, const char *want, size_t wl) {
  llmrt__inflate_t d;
  sink_t s = {0};
  ASSERT_EQ(llmrt__inflate_init(&d), 0);
  for (size_t off = 0; off < zl; off += step) {
    size_t k = zl - off < step ? zl - off : step;
    int rc = llmrt__inflate_feed(&d, z + off, k, sink, &s);
    if (rc) TEST_FAIL_("feed at %zu (step %zu): %s", off, step, llmrt_err_name(rc));
  }
  ASSERT_EQ(llmrt__inflate_finish(&d), 0);
  ASSERT_MEM_EQ(s.data, s.len, want, wl);
  llmrt__inflate_free(&d);
  free(s.data);
}

static void test_gzip(void) {
  size_t n = 300000;
  char *text = malloc(n);
  for (size_t i = 0; i < n; i++)
    text[i] = (char)('a' + (i * 7 + i / 100) % 26);
  size_t cap = n + 1024;
  char *z = malloc(cap);
  const int wbs[] = {31, 15, -15};
  for (int k = 0; k < 3; k++) {
    size_t zl = zcompress(text, n, wbs[k], z, cap);
    inflate_check(z, zl, zl, text, n);
    inflate_check(z, zl, 1, text, n); /* byte by byte: the raw fallback replays */
    inflate_check(z, zl, 777, text, n);
  }

  /* Our compressor round-trips through zlib, over several input buffers. */
  uv_buf_t parts[3] = {uv_buf_init(text, 10), uv_buf_init(text + 10, 0),
                       uv_buf_init(text + 10, (unsigned)(n - 10))};
  llmrt__buf_t out;
  llmrt__buf_init(&out);
  ASSERT_EQ(llmrt__gzip_compress(parts, 3, &out), 0);
  ASSERT_EQ((unsigned char)out.data[0], 0x1f);
  ASSERT(out.len < n / 4);
  inflate_check(out.data, out.len, 4096, text, n);

  /* Two gzip members back to back (legal) decode as one body. */
  size_t zl = zcompress(text, 1000, 31, z, cap);
  zl += zcompress(text + 1000, 2000, 31, z + zl, cap - zl);
  inflate_check(z, zl, 100, text, 3000);

  /* Truncated: finish says so. Garbage: EDECODE. emit's error stops it. */
  llmrt__inflate_t d;
  sink_t s = {0};
  ASSERT_EQ(llmrt__inflate_init(&d), 0);
  ASSERT_EQ(llmrt__inflate_feed(&d, out.data, out.len / 2, sink, &s), 0);
  ASSERT_ERR(llmrt__inflate_finish(&d), LLMRT_EDECODE);
  llmrt__inflate_free(&d);
  ASSERT_EQ(llmrt__inflate_init(&d), 0);
  ASSERT_ERR(llmrt__inflate_feed(&d, "definitely not compressed data", 30, sink, &s),
             LLMRT_EDECODE);
  llmrt__inflate_free(&d);
  ASSERT_EQ(llmrt__inflate_init(&d), 0);
  ASSERT_ERR(llmrt__inflate_feed(&d, out.data, out.len, stop_sink, NULL), LLMRT_ECANCELED);
  llmrt__inflate_free(&d);
  free(s.data);
  llmrt__buf_free(&out);
  free(z);
  free(text);
}

int main(void) {
  RUN_TEST(test_url);
  RUN_TEST(test_gzip);
  return 0;
}
