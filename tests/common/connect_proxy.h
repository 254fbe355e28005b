/* A small HTTP CONNECT proxy on 127.0.0.1 (a port the kernel picks), on a
 * thread of its own with blocking sockets and poll(), written
 * independently of the code under test. It tunnels to loopback targets
 * only (others get 403) and can be told to refuse (407) or to hang up
 * before answering. */
#ifndef LLMRT_TEST_CONNECT_PROXY_H
#define LLMRT_TEST_CONNECT_PROXY_H

#include <uv.h>

enum { CPROXY_TUNNEL = 0, CPROXY_REFUSE_407, CPROXY_HANG_UP, CPROXY_GARBAGE };

typedef struct {
  uv_thread_t thread;
  int listen_fd;
  int stop_pipe[2];
  int port;
  volatile int mode;     /* CPROXY_*, read for each new CONNECT */
  volatile int tunnels;  /* CONNECT requests answered 200 */
  volatile int requests; /* CONNECT requests received */
  char last_target[256]; /* the host:port of the last CONNECT */
} connect_proxy_t;

/* Returns 0 once it listens (cp->port set), -1 on failure. */
int connect_proxy_start(connect_proxy_t *cp);
/* Closes every tunnel and joins the thread. */
void connect_proxy_stop(connect_proxy_t *cp);

#endif
