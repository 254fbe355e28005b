/* libFuzzer target: the HTTP server's request parsing (lib/http/server.c,
 * server_exchange.c), as the mock upstream and the gateway use it.
 *
 * There is no seam below the connection, so this goes over loopback, in
 * process: the server listens on 127.0.0.1 on the harness's loop; each
 * input is written by a plain non-blocking client socket, which then
 * half-closes and reads until the server closes, while the loop runs.
 *
 * Input: the bytes the client sends (requests, pipelined or not).
 * Invariants: what the handler sees is well formed (method a token, target
 * and path NUL-terminated, the path without its query, headers and body
 * within the limits, body NUL-terminated); the server closes the
 * connection once the client has half-closed and every answer is out (no
 * hang); what it sent parses as HTTP/1.1 responses; no leak. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>

#include "fuzz_common.h"
#include "http/server.h"

#define MAX_HEADER_BYTES 8192
#define MAX_HEADERS 32
#define MAX_BODY (256u * 1024)

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt__server_t *srv;
static uint16_t port;
static int saw_head; /* a HEAD request was answered: its responses have no body */
static int aborted;  /* the handler aborted: the output may end anywhere */

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void on_request(llmrt__server_t *s, llmrt__sreq_t *r, void *user) {
  const char *m = llmrt__sreq_method(r);
  FUZZ_ASSERT(m && *m);
  for (const char *p = m; *p; p++)
    FUZZ_ASSERT(is_tchar((unsigned char)*p));
  if (strcmp(m, "HEAD") == 0) saw_head = 1;
  const char *target = llmrt__sreq_target(r), *path = llmrt__sreq_path(r);
  FUZZ_ASSERT(target && path);
  FUZZ_ASSERT(strlen(path) <= strlen(target));
  FUZZ_ASSERT(!strchr(path, '?'));
  size_t n;
  const llmrt_header_t *h = llmrt__sreq_headers(r, &n);
  FUZZ_ASSERT(n <= MAX_HEADERS);
  size_t hb = 0;
  for (size_t i = 0; i < n; i++) {
    FUZZ_ASSERT(h[i].name && h[i].value);
    hb += strlen(h[i].name) + strlen(h[i].value);
    FUZZ_ASSERT(llmrt__sreq_header(r, h[i].name) != NULL);
  }
  FUZZ_ASSERT(hb <= MAX_HEADER_BYTES);
  size_t blen;
  const char *body = llmrt__sreq_body(r, &blen);
  FUZZ_ASSERT(blen <= MAX_BODY);
  FUZZ_ASSERT(body && body[blen] == '\0');
  (void)llmrt__sreq_accepts_gzip(r);
  FUZZ_ASSERT(llmrt__sreq_peer(r) != NULL);

  /* Answer in one of the ways the mock does, chosen by the path. */
  char msg[64];
  int len = snprintf(msg, sizeof msg, "{\"len\":%zu}", blen);
  switch (strlen(path) % 5) {
  case 0:
    llmrt__sreq_respond(r, 200, NULL, 0, msg, (size_t)len);
    break;
  case 1: {
    llmrt_header_t ct = {"Content-Type", "text/event-stream"};
    if (llmrt__sreq_start(r, 200, &ct, 1) == 0) {
      llmrt__sreq_write(r, "data: a\n\n", 9);
      llmrt__sreq_write(r, msg, (size_t)len);
      llmrt__sreq_end(r);
    }
    break;
  }
  case 2:
    llmrt__sreq_respond(r, 204, NULL, 0, NULL, 0);
    break;
  case 3: {
    llmrt_header_t cl = {"Connection", "close"};
    llmrt__sreq_respond(r, 429, &cl, 1, msg, (size_t)len);
    break;
  }
  default:
    aborted = 1;
    llmrt__sreq_abort(r, 0);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  FUZZ_ASSERT(uv_loop_init(&loop) == 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.log_level = LLMRT_LOG_ERROR;
  FUZZ_ASSERT(llmrt_new(&loop, &o, &rt) == 0);
  llmrt__server_opts_t so;
  llmrt__server_opts_init(&so);
  so.max_header_bytes = MAX_HEADER_BYTES;
  so.max_headers = MAX_HEADERS;
  so.max_body_bytes = MAX_BODY;
  so.decode_gzip_body = 1;
  so.idle_timeout_ms = 2000;
  llmrt__server_cbs_t cbs = {on_request, NULL};
  char err[256];
  int rc = llmrt__server_start(rt, &so, &cbs, NULL, &srv, err, sizeof err);
  if (rc) fprintf(stderr, "server: %s\n", err);
  FUZZ_ASSERT(rc == 0);
  port = llmrt__server_port(srv);
  return 0;
}

static int on_msg_complete(llhttp_t *p) {
  return 0;
}

/* The server's output must be a sequence of well-formed responses. */
static void check_output(const char *out, size_t n) {
  if (n == 0 || saw_head || aborted) return;
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_complete = on_msg_complete;
  llhttp_t p;
  llhttp_init(&p, HTTP_RESPONSE, &s);
  llhttp_errno_t e = llhttp_execute(&p, out, n);
  if (e == HPE_OK) e = llhttp_finish(&p);
  if (e != HPE_OK)
    fprintf(stderr, "bad server output (%s): %.*s\n", llhttp_errno_name(e),
            (int)(n < 400 ? n : 400), out);
  FUZZ_ASSERT(e == HPE_OK);
}

/* Connects to the server. The client half-closes first, so each of its
 * ports sits in TIME_WAIT for a minute afterwards: thousands of inputs a
 * second would exhaust one address's ephemeral ports. So the source address
 * rotates over 127.0.0.2-254 (all loopback), which gives 250 times the room. */
static int client_connect(void) {
  static unsigned next;
  for (int tries = 0; tries < 253; tries++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FUZZ_ASSERT(fd >= 0);
    struct sockaddr_in src, dst;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + next++ % 253);
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The port is picked at connect, against the whole 4-tuple. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    /* Loopback connects complete in the kernel's backlog, before accept. */
    if (bind(fd, (struct sockaddr *)&src, sizeof src) == 0 &&
        connect(fd, (struct sockaddr *)&dst, sizeof dst) == 0)
      return fd;
    /* Out of local ports (TIME_WAIT) is the machine's state, not a finding;
     * anything else (a refused connect: the listener is gone) is. */
    int busy = errno == EADDRINUSE || errno == EADDRNOTAVAIL || errno == EAGAIN || errno == EINTR;
    if (!busy) fprintf(stderr, "connect to the server: %s\n", strerror(errno));
    FUZZ_ASSERT(busy);
    close(fd);
  }
  return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  saw_head = aborted = 0;
  int fd = client_connect();
  if (fd < 0) return 0; /* no local address/port free at all: skip, not a finding */
  FUZZ_ASSERT(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);

  static char out[1u << 20]; /* static: a fresh 1 MiB per input costs more than the input */
  size_t off = 0, got = 0, cap = sizeof out;
  int eof = 0, shut = 0;
  uint64_t start = uv_hrtime();
  while (!eof) {
    if (off < size) {
      ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
      if (w > 0)
        off += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        off = size; /* the server closed on us (a refusal): stop sending */
    }
    if (off >= size && !shut) {
      shutdown(fd, SHUT_WR);
      shut = 1;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    for (;;) {
      char tmp[16384];
      ssize_t r = recv(fd, tmp, sizeof tmp, 0);
      if (r > 0) {
        size_t k = (size_t)r < cap - got ? (size_t)r : cap - got;
        memcpy(out + got, tmp, k);
        got += k;
        continue;
      }
      if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof = 1;
      break;
    }
    if (!eof && uv_hrtime() - start > 5ull * 1000 * 1000 * 1000) {
      fprintf(stderr, "server did not close the connection within 5 s (sent %zu/%zu, got %zu)\n",
              off, size, got);
      FUZZ_ASSERT(!"server hang");
    }
  }
  close(fd);
  /* Let the server run its close callbacks. */
  for (int i = 0; i < 8; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  check_output(out, got);
  return 0;
}
