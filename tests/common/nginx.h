/* nginx as a real HTTP and TLS peer for tests.
 *
 * test_nginx_start writes a configuration into a fresh temporary directory,
 * picks free ports on 127.0.0.1, starts `nginx -p DIR -c nginx.conf -e
 * error.log -g 'daemon off;'` as a child process (one process: master_process
 * off), and waits until every port accepts. It aborts the test with a clear
 * message when nginx is missing or does not come up (CI installs nginx: a
 * missing nginx is a failure, not a skip). test_nginx_stop sends SIGTERM,
 * reaps the child and removes the directory.
 *
 * Servers (all on 127.0.0.1, keep-alive on, TLS 1.2 and 1.3 with session
 * tickets and a session cache, so clients can resume):
 *   http_port        plain HTTP
 *   https_port       TLS, tests/certs/server.pem (localhost and 127.0.0.1,
 *                    signed by tests/certs/ca.pem)
 *   untrusted_port   TLS, untrusted.pem (localhost, signed by an unrelated CA)
 *   wronghost_port   TLS, wronghost.pem (wrong.example, signed by ca.pem)
 *   expired_port     TLS, expired.pem (localhost, signed by ca.pem, expired)
 *
 * Locations, identical on every server:
 *   /            200 "ok"
 *   /fixed       200 TEST_NGINX_FIXED_BODY
 *   /req         200 "METHOD URI\n" (what nginx saw)
 *   /big         200, a static file of TEST_NGINX_BIG_SIZE bytes: "0123456789"
 *                repeated (gzip-compressed if the client accepts gzip)
 *   /status/N    N in 400 401 404 429 500 502 503, body "status N\n"
 * plus whatever `extra` adds to each server block (may be NULL).
 */
#ifndef LLMRT_TEST_NGINX_H
#define LLMRT_TEST_NGINX_H

#include <sys/types.h>

#define TEST_NGINX_FIXED_BODY "hello from nginx\n"
#define TEST_NGINX_BIG_SIZE (1024 * 1024)

typedef struct {
  char dir[256];
  pid_t pid;
  int http_port;
  int https_port;
  int untrusted_port;
  int wronghost_port;
  int expired_port;
} test_nginx_t;

void test_nginx_start(test_nginx_t *n, const char *extra);
void test_nginx_stop(test_nginx_t *n);

/* Path of a file in tests/certs ("ca.pem"), in a static buffer. */
const char *test_cert_path(const char *name);

#endif
