/* HTTP client against the scripted raw server on loopback: bodies (length,
 * chunked, until close), 1xx/HEAD/204/304, content decoding, gzip request
 * bodies, limits and malformed responses, each with its own error code. */
#include "test_client_util.h"

static void test_simple_get(void) {
  env_t e;
  env_init(&e);
  res_t r;
  do_req(&e, "GET", "/ok", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.http_status, 200);
  ASSERT_EQ(r.heads, 1);
  ASSERT_MEM_EQ(r.body, r.blen, "hello", 5);
  ASSERT_EQ(r.info.reused, 0);
  ASSERT(r.info.first_byte_us > 0);
  ASSERT(r.info.connect_us > 0);
  res_free(&r);
  env_close(&e);
}

static void test_request_head_sent(void) {
  env_t e;
  env_init(&e);
  char url[128];
  llmrt_header_t hs[] = {{"X-One", "1"},
                         {"Host", "evil.example"},   /* ours: ignored */
                         {"Content-Length", "999"}}; /* ours: ignored */
  const char *body = "payload";
  uv_buf_t b = uv_buf_init((char *)body, 7);
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.method = "POST";
  q.url = rawserver_url(e.srv, "/head-echo?x=1#frag", url, sizeof(url));
  q.headers = hs;
  q.n_headers = 3;
  q.body = &b;
  q.n_body = 1;
  q.flags = LLMRT_HTTP_DECOMPRESS;
  res_t r;
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, 0);
  ASSERT(r.body != NULL);
  char want[160];
  snprintf(want, sizeof(want), "POST /head-echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n",
           rawserver_port(e.srv));
  ASSERT(strncmp(r.body, want, strlen(want)) == 0);
  ASSERT_CONTAINS(r.body, "\r\nX-One: 1\r\n");
  ASSERT_CONTAINS(r.body, "\r\nContent-Length: 7\r\n");
  ASSERT_CONTAINS(r.body, "\r\nAccept-Encoding: gzip, deflate\r\n");
  ASSERT_CONTAINS(r.body, "\r\nConnection: keep-alive\r\n");
  ASSERT(strstr(r.body, "evil") == NULL);
  ASSERT(strstr(r.body, "999") == NULL);
  res_free(&r);
  memset(&r, 0, sizeof(r));

  /* Header injection and bad methods are refused up front. */
  llmrt_header_t bad[] = {{"X-Evil", "a\r\nX-Injected: 1"}};
  q.headers = bad;
  q.n_headers = 1;
  ASSERT_ERR(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), LLMRT_EINVAL);
  q.n_headers = 0;
  q.method = "GE T";
  ASSERT_ERR(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), LLMRT_EINVAL);
  q.method = "GET";
  q.url = "ftp://127.0.0.1/x";
  ASSERT_ERR(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), LLMRT_EURL);
  ASSERT_EQ(r.dones, 0);
  env_close(&e);
}

static void test_bodies(void) {
  env_t e;
  env_init(&e);
  res_t r;
  do_req(&e, "GET", "/len/100000", 0, &r);
  ASSERT_ERR(r.status, 0);
  check_pattern(&r, 100000);
  res_free(&r);

  do_req(&e, "GET", "/chunked/50000", 0, &r);
  ASSERT_ERR(r.status, 0);
  check_pattern(&r, 50000);
  ASSERT(r.bodies > 1);
  res_free(&r);

  do_req(&e, "GET", "/len/0", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.blen, 0);
  res_free(&r);

  /* Read until close: HTTP/1.1 without a length, and HTTP/1.0. */
  do_req(&e, "GET", "/eof-body/30000", 0, &r);
  ASSERT_ERR(r.status, 0);
  check_pattern(&r, 30000);
  res_free(&r);
  do_req(&e, "GET", "/http10", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_MEM_EQ(r.body, r.blen, "old school body", 15);
  res_free(&r);

  /* 1xx skipped; HEAD, 204 and 304 have no body whatever they announce. */
  do_req(&e, "GET", "/continue", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.heads, 1);
  ASSERT_EQ(r.http_status, 200);
  ASSERT_MEM_EQ(r.body, r.blen, "hello", 5);
  res_free(&r);
  do_req(&e, "HEAD", "/len/1000", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.blen, 0);
  res_free(&r);
  do_req(&e, "GET", "/status/204", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.http_status, 204);
  ASSERT_EQ(r.blen, 0);
  res_free(&r);
  do_req(&e, "GET", "/status/304", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.http_status, 304);
  res_free(&r);
  do_req(&e, "GET", "/status/503", 0, &r);
  ASSERT_ERR(r.status, 0); /* an HTTP error status is a response, not a failure */
  ASSERT_EQ(r.http_status, 503);
  res_free(&r);

  /* The connection survived all the keep-alive responses above. */
  do_req(&e, "GET", "/ok", 0, &r);
  ASSERT_EQ(r.info.reused, 1);
  res_free(&r);
  env_close(&e);
}

static void test_decoding(void) {
  env_t e;
  env_init(&e);
  res_t r;
  const char *paths[] = {"/gzip/200000", "/gzip-chunked/70000", "/deflate/50000",
                         "/rawdeflate/50000", "/gzip/1"};
  const size_t lens[] = {200000, 70000, 50000, 50000, 1};
  for (int i = 0; i < 5; i++) {
    do_req(&e, "GET", paths[i], LLMRT_HTTP_DECOMPRESS, &r);
    ASSERT_ERR(r.status, 0);
    check_pattern(&r, lens[i]);
    ASSERT(r.hdr_encoding[0] != 0);
    res_free(&r);
  }
  /* Without LLMRT_HTTP_DECOMPRESS the body arrives as sent. */
  do_req(&e, "GET", "/gzip/1000", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT(r.blen > 10 && r.blen < 1000);
  ASSERT_EQ((unsigned char)r.body[0], 0x1f);
  res_free(&r);

  do_req(&e, "GET", "/gzip-bad", LLMRT_HTTP_DECOMPRESS, &r);
  ASSERT_ERR(r.status, LLMRT_EDECODE);
  ASSERT_CONTAINS(r.errmsg, "decode");
  res_free(&r);
  do_req(&e, "GET", "/gzip-trunc/100000", LLMRT_HTTP_DECOMPRESS, &r);
  ASSERT_ERR(r.status, LLMRT_EDECODE);
  ASSERT_CONTAINS(r.errmsg, "truncated");
  res_free(&r);
  env_close(&e);
}

static void test_gzip_request_body(void) {
  env_t e;
  env_init(&e);
  char url[128];
  size_t n = 300000;
  char *data = malloc(n);
  for (size_t i = 0; i < n; i++)
    data[i] = rawserver_pattern(i);
  uv_buf_t parts[3] = {uv_buf_init(data, 1000), uv_buf_init(data + 1000, 99000),
                       uv_buf_init(data + 100000, 200000)};
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.method = "POST";
  q.url = rawserver_url(e.srv, "/echo", url, sizeof(url));
  q.body = parts;
  q.n_body = 3;
  q.flags = LLMRT_HTTP_GZIP_BODY;
  res_t r;
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.http_status, 200);
  ASSERT_STR_EQ(r.hdr_req_encoding, "gzip");
  check_pattern(&r, n);
  res_free(&r);

  /* And plain, from several buffers, unchanged. */
  q.flags = 0;
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, 0);
  ASSERT_STR_EQ(r.hdr_req_encoding, "none");
  check_pattern(&r, n);
  res_free(&r);
  free(data);
  env_close(&e);
}

static void test_limits(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.max_header_bytes = 4096;
  o.max_headers = 20;
  o.max_body_bytes = 10000;
  env_t e;
  env_init_opts(&e, &o);
  res_t r;

  do_req(&e, "GET", "/big-header/3000", 0, &r);
  ASSERT_ERR(r.status, 0);
  res_free(&r);
  do_req(&e, "GET", "/big-header/5000", 0, &r);
  ASSERT_ERR(r.status, LLMRT_EHEADERSIZE);
  ASSERT_CONTAINS(r.errmsg, "max_header_bytes");
  ASSERT_CONTAINS(r.errmsg, "127.0.0.1");
  ASSERT_EQ(r.heads, 0);
  res_free(&r);

  do_req(&e, "GET", "/many-headers/15", 0, &r);
  if (r.status) fprintf(stderr, "%s\n", r.errmsg);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.n_headers, 16);
  res_free(&r);
  do_req(&e, "GET", "/many-headers/30", 0, &r);
  ASSERT_ERR(r.status, LLMRT_EHEADERCOUNT);
  ASSERT_CONTAINS(r.errmsg, "max_headers");
  res_free(&r);

  do_req(&e, "GET", "/len/10000", 0, &r);
  ASSERT_ERR(r.status, 0);
  res_free(&r);
  do_req(&e, "GET", "/len/10001", 0, &r);
  ASSERT_ERR(r.status, LLMRT_EBODYSIZE);
  ASSERT_CONTAINS(r.errmsg, "max_body_bytes");
  res_free(&r);
  do_req(&e, "GET", "/chunked/20000", 0, &r);
  ASSERT_ERR(r.status, LLMRT_EBODYSIZE);
  ASSERT_LE(r.blen, 10000);
  res_free(&r);
  /* After decoding: a small gzip body that inflates past the limit. */
  do_req(&e, "GET", "/gzip/50000", LLMRT_HTTP_DECOMPRESS, &r);
  ASSERT_ERR(r.status, LLMRT_EBODYSIZE);
  ASSERT_CONTAINS(r.errmsg, "after decoding");
  ASSERT_LE(r.blen, 10000);
  res_free(&r);

  do_req(&e, "GET", "/malformed", 0, &r);
  ASSERT_ERR(r.status, LLMRT_EHTTPPARSE);
  ASSERT_CONTAINS(r.errmsg, "malformed HTTP response from 127.0.0.1:");
  ASSERT_CONTAINS(r.errmsg, "HPE_");
  res_free(&r);
  env_close(&e);
}

static void test_closed_mid_body(void) {
  env_t e;
  env_init(&e);
  res_t r;
  do_req(&e, "GET", "/close-mid/1000/400", 0, &r);
  ASSERT_ERR(r.status, LLMRT_ECLOSED);
  ASSERT_CONTAINS(r.errmsg, "connection closed after 400 of 1000 body bytes");
  ASSERT_EQ(r.blen, 400);
  res_free(&r);
  do_req(&e, "GET", "/chunked-close-mid/3000", 0, &r);
  ASSERT_ERR(r.status, LLMRT_ECLOSED);
  ASSERT_CONTAINS(r.errmsg, "chunked");
  res_free(&r);
  /* Stray bytes after a response: the connection is not reused. */
  do_req(&e, "GET", "/extra", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_MEM_EQ(r.body, r.blen, "hello", 5);
  res_free(&r);
  do_req(&e, "GET", "/ok", 0, &r);
  ASSERT_ERR(r.status, 0);
  ASSERT_EQ(r.info.reused, 0);
  res_free(&r);
  /* Nothing listens: a connect error that names the address. */
  {
    llmrt_http_request_t q;
    llmrt_http_request_init(&q);
    q.url = "http://127.0.0.1:1/x";
    memset(&r, 0, sizeof(r));
    ASSERT_EQ(llmrt_http_request(e.rt, &q, &test_cbs, &r, NULL), 0);
    run_until(&e, &r.dones, 10000);
    ASSERT(r.status < 0);
    ASSERT_CONTAINS(r.errmsg, "127.0.0.1:1");
  }
  env_close(&e);
}

static void test_callback_errors(void) {
  env_t e;
  env_init(&e);
  res_t r;
  memset(&r, 0, sizeof(r));
  r.head_ret = LLMRT_EHTTPSTATUS;
  ASSERT_EQ(start_req(&e, "GET", "/len/5000", 0, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, LLMRT_EHTTPSTATUS);
  ASSERT_EQ(r.blen, 0);
  res_free(&r);
  memset(&r, 0, sizeof(r));
  r.body_ret = LLMRT_EBADRESPONSE;
  ASSERT_EQ(start_req(&e, "GET", "/chunked/50000", 0, &r), 0);
  run_until(&e, &r.dones, 10000);
  ASSERT_ERR(r.status, LLMRT_EBADRESPONSE);
  ASSERT_EQ(r.bodies, 1);
  res_free(&r);
  llmrt_pool_stats_t st = pool_stats(&e);
  ASSERT_EQ(st.idle, 0); /* both connections were closed, not pooled */
  env_close(&e);
}

int main(void) {
  RUN_TEST(test_simple_get);
  RUN_TEST(test_request_head_sent);
  RUN_TEST(test_bodies);
  RUN_TEST(test_decoding);
  RUN_TEST(test_gzip_request_body);
  RUN_TEST(test_limits);
  RUN_TEST(test_closed_mid_body);
  RUN_TEST(test_callback_errors);
  return 0;
}
