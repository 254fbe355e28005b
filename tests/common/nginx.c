/* The nginx fixture (see nginx.h). Test code: it may block. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nginx.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LLMRT_TEST_CERTS
#define LLMRT_TEST_CERTS "tests/certs"
#endif

#define DIE(...)                                                                                   \
  do {                                                                                             \
    fprintf(stderr, "nginx fixture: ");                                                            \
    fprintf(stderr, __VA_ARGS__);                                                                  \
    fprintf(stderr, "\n");                                                                         \
    fflush(stderr);                                                                                \
    abort();                                                                                       \
  } while (0)

const char *test_cert_path(const char *name) {
  static char buf[8][512];
  static int i;
  char *p = buf[i++ % 8];
  snprintf(p, sizeof buf[0], "%s/%s", LLMRT_TEST_CERTS, name);
  return p;
}

/* n ports the kernel considers free right now, all different: each socket
 * stays bound until every port is chosen (closed one by one, the kernel may
 * hand the same port out twice, and two server blocks then share it). nginx
 * binds them a moment later; a collision with another process is retried
 * by test_nginx_start. */
static void free_ports(int *out, size_t n) {
  int s[8];
  if (n > sizeof s / sizeof s[0]) DIE("free_ports: at most 8");
  for (size_t i = 0; i < n; i++) {
    s[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (s[i] < 0) DIE("socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s[i], (struct sockaddr *)&a, sizeof a) != 0) DIE("bind: %s", strerror(errno));
    socklen_t len = sizeof a;
    if (getsockname(s[i], (struct sockaddr *)&a, &len) != 0)
      DIE("getsockname: %s", strerror(errno));
    out[i] = ntohs(a.sin_port);
  }
  for (size_t i = 0; i < n; i++)
    close(s[i]);
}

static int port_accepts(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
  close(s);
  return ok;
}

static void write_file(const char *dir, const char *name, const char *data, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) DIE("cannot write %s: %s", path, strerror(errno));
  if (len && fwrite(data, 1, len, f) != len) DIE("cannot write %s", path);
  fclose(f);
}

static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0) DIE("vsnprintf");
    if ((size_t)n < *cap - *len) {
      *len += (size_t)n;
      return;
    }
    *cap = *cap * 2 + (size_t)n;
    *buf = realloc(*buf, *cap);
    if (!*buf) DIE("out of memory");
  }
}

static void server_block(char **b, size_t *l, size_t *c, const char *dir, int port,
                         const char *cert, const char *extra) {
  appendf(b, l, c, "  server {\n    listen 127.0.0.1:%d%s;\n", port, cert ? " ssl" : "");
  if (cert) {
    appendf(b, l, c,
            "    ssl_certificate %s/%s.pem;\n"
            "    ssl_certificate_key %s/%s.key;\n"
            "    ssl_protocols TLSv1.2 TLSv1.3;\n"
            "    ssl_session_tickets on;\n"
            "    ssl_session_cache shared:SSL_%s:1m;\n"
            "    ssl_session_timeout 1h;\n",
            LLMRT_TEST_CERTS, cert, LLMRT_TEST_CERTS, cert, cert);
  }
  appendf(b, l, c,
          "    root %s/www;\n"
          "    location = / { return 200 \"ok\"; }\n"
          "    location = /fixed { return 200 \"%s\"; }\n"
          "    location = /req { return 200 \"$request_method $request_uri\\n\"; }\n"
          "    location = /big { try_files /big.txt =404; }\n",
          dir, "hello from nginx\\n");
  static const int codes[] = {400, 401, 404, 429, 500, 502, 503};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    appendf(b, l, c, "    location = /status/%d { return %d \"status %d\\n\"; }\n", codes[i],
            codes[i], codes[i]);
  if (extra) appendf(b, l, c, "%s\n", extra);
  appendf(b, l, c, "  }\n");
}

static void write_config(test_nginx_t *n, const char *extra) {
  size_t cap = 8192, len = 0;
  char *b = malloc(cap);
  if (!b) DIE("out of memory");
  appendf(&b, &len, &cap,
          "master_process off;\n"
          "pid %s/nginx.pid;\n"
          "error_log %s/error.log warn;\n"
          "events { worker_connections 1024; }\n"
          "http {\n"
          "  access_log off;\n"
          "  default_type text/plain;\n"
          "  keepalive_timeout 60s;\n"
          "  keepalive_requests 100000;\n"
          "  gzip on;\n"
          "  gzip_types text/plain;\n"
          "  gzip_min_length 1000;\n"
          "  client_body_temp_path %s/tmp/body;\n"
          "  proxy_temp_path %s/tmp/proxy;\n"
          "  fastcgi_temp_path %s/tmp/fastcgi;\n"
          "  uwsgi_temp_path %s/tmp/uwsgi;\n"
          "  scgi_temp_path %s/tmp/scgi;\n",
          n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, n->dir);
  server_block(&b, &len, &cap, n->dir, n->http_port, NULL, extra);
  server_block(&b, &len, &cap, n->dir, n->https_port, "server", extra);
  server_block(&b, &len, &cap, n->dir, n->untrusted_port, "untrusted", extra);
  server_block(&b, &len, &cap, n->dir, n->wronghost_port, "wronghost", extra);
  server_block(&b, &len, &cap, n->dir, n->expired_port, "expired", extra);
  appendf(&b, &len, &cap, "}\n");
  write_file(n->dir, "nginx.conf", b, len);
  free(b);
}

static void print_error_log(const test_nginx_t *n) {
  char path[512];
  snprintf(path, sizeof path, "%s/error.log", n->dir);
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[1024];
  fprintf(stderr, "---- %s ----\n", path);
  while (fgets(line, sizeof line, f))
    fputs(line, stderr);
  fclose(f);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static pid_t spawn(const test_nginx_t *n) {
  char conf[512], err[512];
  snprintf(conf, sizeof conf, "%s/nginx.conf", n->dir);
  snprintf(err, sizeof err, "%s/error.log", n->dir);
  pid_t pid = fork();
  if (pid < 0) DIE("fork: %s", strerror(errno));
  if (pid == 0) {
    /* A test that aborts must not leave nginx behind (holding its ports and
     * the test's stdout). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    char *argv[] = {"nginx", "-p", (char *)n->dir, "-c",          conf,
                    "-e",    err,  "-g",           "daemon off;", NULL};
    execvp("nginx", argv);
    execv("/usr/sbin/nginx", argv);
    fprintf(stderr, "nginx fixture: cannot run nginx (%s): install it (apt-get install nginx)\n",
            strerror(errno));
    _exit(127);
  }
  return pid;
}

/* 0: up; 1: exited early (maybe a port collision); aborts on a timeout. */
static int wait_up(test_nginx_t *n) {
  int ports[] = {n->http_port, n->https_port, n->untrusted_port, n->wronghost_port,
                 n->expired_port};
  for (int tries = 0; tries < 1000; tries++) { /* ~20 s */
    int status;
    pid_t r = waitpid(n->pid, &status, WNOHANG);
    if (r == n->pid) {
      n->pid = 0;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127) DIE("nginx is not installed");
      return 1;
    }
    int up = 1;
    for (size_t i = 0; i < sizeof ports / sizeof ports[0] && up; i++)
      up = port_accepts(ports[i]);
    if (up) return 0;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  print_error_log(n);
  DIE("nginx did not come up within 20 s (config in %s)", n->dir);
}

void test_nginx_start(test_nginx_t *n, const char *extra) {
  memset(n, 0, sizeof *n);
  /* A client closing early must not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  const char *base = getenv("TMPDIR");
  snprintf(n->dir, sizeof n->dir, "%s/llmrt-nginx-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(n->dir)) DIE("mkdtemp %s: %s", n->dir, strerror(errno));
  char path[512];
  const char *subs[] = {"www", "tmp", "logs"};
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", n->dir, subs[i]);
    if (mkdir(path, 0755) != 0) DIE("mkdir %s: %s", path, strerror(errno));
  }
  char *big = malloc(TEST_NGINX_BIG_SIZE);
  if (!big) DIE("out of memory");
  for (size_t i = 0; i < TEST_NGINX_BIG_SIZE; i++)
    big[i] = (char)('0' + i % 10);
  write_file(n->dir, "www/big.txt", big, TEST_NGINX_BIG_SIZE);
  free(big);

  for (int attempt = 0; attempt < 5; attempt++) {
    int p[5];
    free_ports(p, 5);
    n->http_port = p[0];
    n->https_port = p[1];
    n->untrusted_port = p[2];
    n->wronghost_port = p[3];
    n->expired_port = p[4];
    write_config(n, extra);
    n->pid = spawn(n);
    if (wait_up(n) == 0) return;
  }
  print_error_log(n);
  DIE("nginx exited at start 5 times (config in %s)", n->dir);
}

void test_nginx_stop(test_nginx_t *n) {
  if (n->pid > 0) {
    kill(n->pid, SIGTERM);
    int status;
    while (waitpid(n->pid, &status, 0) < 0 && errno == EINTR) {
    }
    n->pid = 0;
  }
  if (n->dir[0]) nftw(n->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  n->dir[0] = '\0';
}
