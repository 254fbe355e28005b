/* The gateway's tests: the gateway on a thread and loop of its own (like
 * mock_thread), in front of the mock, and a blocking HTTP/1.1 client on the
 * test's thread that sees exactly the bytes a client would. */
#ifndef LLMRT_TEST_GW_FIXTURE_H
#define LLMRT_TEST_GW_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "gateway.h"
#include "mock_thread.h"
#include "test.h"

typedef struct {
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t cmd;
  uv_sem_t ready, done_sem;
  uv_mutex_t mu;
  llmrt_gw_t *gw;
  const char *json;
  char err[512];
  int status;
  uint16_t port;
  /* A command for the gateway's thread (under mu): 1 reload, 2 shutdown. */
  int op;
  const char *op_json;
  uint32_t grace_ms;
  int op_status;
  llmrt_gw_stats_t st; /* copied on the gateway's thread by op 3 */
  int stopped;
  long arm_n;     /* op 4: failalloc_arm_thread(arm_n) on the gateway's thread */
  int arm_failed; /* op 5: failalloc_failed() before disarming */
} gw_thread_t;

static void gwt_stopped(llmrt_gw_t *gw, void *user) {
  (void)gw;
  gw_thread_t *t = user;
  t->stopped = 1;
  uv_close((uv_handle_t *)&t->cmd, NULL);
}

static void gwt_cmd(uv_async_t *a) {
  gw_thread_t *t = a->data;
  uv_mutex_lock(&t->mu);
  int op = t->op;
  t->op = 0;
  uv_mutex_unlock(&t->mu);
  if (op == 1) t->op_status = llmrt_gw_reload(t->gw, t->op_json, t->err, sizeof t->err);
  if (op == 2) llmrt_gw_shutdown(t->gw, t->grace_ms, gwt_stopped, t);
  if (op == 3) llmrt_gw_stats(t->gw, &t->st);
#ifdef LLMRT_TEST_FAILALLOC_H
  if (op == 4) failalloc_arm_thread(t->arm_n);
  if (op == 5) {
    t->arm_failed = failalloc_failed();
    failalloc_disarm();
  }
#endif
  if (op) uv_sem_post(&t->done_sem);
}

static void gwt_main(void *arg) {
  gw_thread_t *t = arg;
  uv_loop_init(&t->loop);
  t->status = llmrt_gw_start(&t->loop, t->json, "127.0.0.1:0", &t->gw, t->err, sizeof t->err);
  if (t->status == 0) {
    t->port = llmrt_gw_port(t->gw);
    uv_async_init(&t->loop, &t->cmd, gwt_cmd);
    t->cmd.data = t;
  }
  uv_sem_post(&t->ready);
  if (t->status == 0) uv_run(&t->loop, UV_RUN_DEFAULT);
  uv_loop_close(&t->loop);
}

static int gwt_start(gw_thread_t *t, const char *json) {
  memset(t, 0, sizeof *t);
  t->json = json;
  uv_sem_init(&t->ready, 0);
  uv_sem_init(&t->done_sem, 0);
  uv_mutex_init(&t->mu);
  uv_thread_create(&t->thread, gwt_main, t);
  uv_sem_wait(&t->ready);
  if (t->status) {
    uv_thread_join(&t->thread);
    fprintf(stderr, "gateway: %s\n", t->err);
  }
  return t->status;
}

static void gwt_op(gw_thread_t *t, int op, const char *json, uint32_t grace_ms) {
  uv_mutex_lock(&t->mu);
  t->op = op;
  t->op_json = json;
  t->grace_ms = grace_ms;
  uv_mutex_unlock(&t->mu);
  uv_async_send(&t->cmd);
  uv_sem_wait(&t->done_sem);
}

static inline llmrt_gw_stats_t gwt_stats(gw_thread_t *t) {
  gwt_op(t, 3, NULL, 0);
  return t->st;
}

#ifdef LLMRT_TEST_FAILALLOC_H
/* Torture: fail the n-th allocation made on the gateway's thread. */
static void gwt_arm_thread(gw_thread_t *t, long n) {
  t->arm_n = n;
  gwt_op(t, 4, NULL, 0);
}
/* Disarms; 1 when the armed allocation was reached. */
static int gwt_disarm(gw_thread_t *t) {
  gwt_op(t, 5, NULL, 0);
  return t->arm_failed;
}
#endif

/* Shuts down (grace_ms) and joins the thread. */
static void gwt_stop(gw_thread_t *t, uint32_t grace_ms) {
  gwt_op(t, 2, NULL, grace_ms);
  uv_thread_join(&t->thread);
  uv_sem_destroy(&t->ready);
  uv_sem_destroy(&t->done_sem);
  uv_mutex_destroy(&t->mu);
}

/* ---- A blocking client ---- */

typedef struct {
  int status;
  char head[8192];
  char *body; /* de-chunked, NUL-terminated */
  size_t len;
} resp_t;

static void resp_free(resp_t *r) {
  free(r->body);
  r->body = NULL;
}

static int cl_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static int cl_send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Sends a request: hdrs are extra header lines, each ending in \r\n. */
static int cl_send(int fd, const char *method, const char *path, const char *hdrs, const char *body,
                   size_t blen) {
  char head[4096];
  int n = snprintf(head, sizeof head,
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                   method, path, blen, hdrs ? hdrs : "");
  if (cl_send_all(fd, head, (size_t)n)) return -1;
  return blen ? cl_send_all(fd, body, blen) : 0;
}

static const char *memfind(const char *h, size_t hl, const char *n) {
  size_t nl = strlen(n);
  for (size_t i = 0; i + nl <= hl; i++)
    if (!memcmp(h + i, n, nl)) return h + i;
  return NULL;
}

/* Reads the whole response (Connection: close) and de-chunks the body. */
static int cl_read(int fd, resp_t *out) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
    ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
    if (r <= 0) break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  memset(out, 0, sizeof *out);
  const char *eoh = memfind(buf, n, "\r\n\r\n");
  if (!eoh || sscanf(buf, "HTTP/1.1 %d", &out->status) != 1) {
    free(buf);
    return -1;
  }
  size_t hl = (size_t)(eoh - buf) + 4;
  snprintf(out->head, sizeof out->head, "%.*s", (int)hl, buf);
  const char *b = buf + hl;
  size_t bl = n - hl;
  out->body = malloc(bl + 1);
  if (strcasestr(out->head, "transfer-encoding: chunked")) {
    size_t o = 0;
    while (bl) {
      char *end;
      unsigned long cl = strtoul(b, &end, 16);
      const char *crlf = memfind(b, bl, "\r\n");
      if (!crlf || cl == 0) break;
      size_t skip = (size_t)(crlf - b) + 2;
      if (skip + cl + 2 > bl) break;
      memcpy(out->body + o, b + skip, cl);
      o += cl;
      b += skip + cl + 2;
      bl -= skip + cl + 2;
    }
    out->len = o;
  } else {
    memcpy(out->body, b, bl);
    out->len = bl;
  }
  out->body[out->len] = '\0';
  free(buf);
  return 0;
}

static int http_call(uint16_t port, const char *method, const char *path, const char *hdrs,
                     const char *body, resp_t *out) {
  int fd = cl_connect(port);
  if (fd < 0) return -1;
  int rc = cl_send(fd, method, path, hdrs, body, body ? strlen(body) : 0);
  if (!rc) rc = cl_read(fd, out);
  close(fd);
  return rc;
}

#endif
