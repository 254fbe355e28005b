/* The CONNECT proxy fixture (connect_proxy.h). One poll() loop serves the
 * listener and every connection: a client first sends its request head;
 * after "200 Connection established" bytes are relayed both ways until
 * either side closes. */
#include "connect_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_TUNNELS 64

typedef struct {
  int cfd, ufd; /* client, upstream (-1 until the tunnel is up) */
  char head[4096];
  size_t hlen;
} tunnel_t;

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static void close_tunnel(tunnel_t *t) {
  if (t->cfd >= 0) close(t->cfd);
  if (t->ufd >= 0) close(t->ufd);
  t->cfd = t->ufd = -1;
  t->hlen = 0;
}

/* The request head is complete: answer it per the mode. */
static void handle_connect(connect_proxy_t *cp, tunnel_t *t) {
  char host[200];
  unsigned port = 0;
  cp->requests++;
  if (sscanf(t->head, "CONNECT %199[^: ]:%u HTTP/1.1\r\n", host, &port) != 2 &&
      sscanf(t->head, "CONNECT [%199[^]]]:%u HTTP/1.1\r\n", host, &port) != 2) {
    write_all(t->cfd, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
    close_tunnel(t);
    return;
  }
  snprintf(cp->last_target, sizeof cp->last_target, "%s:%u", host, port);
  int mode = cp->mode;
  if (mode == CPROXY_REFUSE_407) {
    static const char a[] = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                            "Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n";
    write_all(t->cfd, a, sizeof a - 1);
    close_tunnel(t);
    return;
  }
  if (mode == CPROXY_HANG_UP) {
    close_tunnel(t);
    return;
  }
  if (mode == CPROXY_GARBAGE) {
    write_all(t->cfd, "SSH-2.0-nope\r\n\r\n", 16);
    close_tunnel(t);
    return;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || (ntohl(a.sin_addr.s_addr) >> 24) != 127) {
    write_all(t->cfd, "HTTP/1.1 403 Forbidden\r\n\r\n", 26);
    close_tunnel(t);
    return;
  }
  t->ufd = socket(AF_INET, SOCK_STREAM, 0);
  if (t->ufd < 0 || connect(t->ufd, (struct sockaddr *)&a, sizeof a) != 0) {
    write_all(t->cfd, "HTTP/1.1 502 Bad Gateway\r\n\r\n", 28);
    close_tunnel(t);
    return;
  }
  static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
  write_all(t->cfd, ok, sizeof ok - 1);
  cp->tunnels++;
}

static void serve(void *arg) {
  connect_proxy_t *cp = arg;
  tunnel_t tun[MAX_TUNNELS];
  for (int i = 0; i < MAX_TUNNELS; i++)
    tun[i].cfd = tun[i].ufd = -1, tun[i].hlen = 0;
  for (;;) {
    struct pollfd pf[2 + 2 * MAX_TUNNELS];
    int who[2 + 2 * MAX_TUNNELS], n = 0;
    pf[n] = (struct pollfd){cp->stop_pipe[0], POLLIN, 0};
    who[n++] = -1;
    pf[n] = (struct pollfd){cp->listen_fd, POLLIN, 0};
    who[n++] = -2;
    for (int i = 0; i < MAX_TUNNELS; i++) {
      if (tun[i].cfd >= 0) {
        pf[n] = (struct pollfd){tun[i].cfd, POLLIN, 0};
        who[n++] = i * 2;
      }
      if (tun[i].ufd >= 0) {
        pf[n] = (struct pollfd){tun[i].ufd, POLLIN, 0};
        who[n++] = i * 2 + 1;
      }
    }
    if (poll(pf, (nfds_t)n, 1000) < 0 && errno != EINTR) break;
    if (pf[0].revents) break;
    if (pf[1].revents & POLLIN) {
      int fd = accept(cp->listen_fd, NULL, NULL);
      int slot = -1;
      for (int i = 0; fd >= 0 && i < MAX_TUNNELS && slot < 0; i++)
        if (tun[i].cfd < 0) slot = i;
      if (slot >= 0)
        tun[slot].cfd = fd;
      else if (fd >= 0)
        close(fd);
    }
    for (int k = 2; k < n; k++) {
      if (!pf[k].revents) continue;
      tunnel_t *t = &tun[who[k] / 2];
      int from_client = who[k] % 2 == 0;
      int fd = from_client ? t->cfd : t->ufd;
      if (fd < 0) continue;            /* closed earlier in this round */
      if (from_client && t->ufd < 0) { /* still reading the CONNECT head */
        ssize_t r = recv(fd, t->head + t->hlen, sizeof t->head - 1 - t->hlen, 0);
        if (r <= 0) {
          close_tunnel(t);
          continue;
        }
        t->hlen += (size_t)r;
        t->head[t->hlen] = '\0';
        if (strstr(t->head, "\r\n\r\n"))
          handle_connect(cp, t);
        else if (t->hlen == sizeof t->head - 1)
          close_tunnel(t);
        continue;
      }
      char buf[16384];
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        close_tunnel(t);
        continue;
      }
      write_all(from_client ? t->ufd : t->cfd, buf, (size_t)r);
    }
  }
  for (int i = 0; i < MAX_TUNNELS; i++)
    close_tunnel(&tun[i]);
}

int connect_proxy_start(connect_proxy_t *cp) {
  memset(cp, 0, sizeof *cp);
  cp->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (cp->listen_fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(cp->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(cp->listen_fd, 64) != 0 ||
      getsockname(cp->listen_fd, (struct sockaddr *)&a, &len) != 0 || pipe(cp->stop_pipe) != 0) {
    close(cp->listen_fd);
    return -1;
  }
  cp->port = ntohs(a.sin_port);
  if (uv_thread_create(&cp->thread, serve, cp) != 0) {
    close(cp->listen_fd);
    close(cp->stop_pipe[0]);
    close(cp->stop_pipe[1]);
    return -1;
  }
  return 0;
}

void connect_proxy_stop(connect_proxy_t *cp) {
  (void)!write(cp->stop_pipe[1], "x", 1);
  uv_thread_join(&cp->thread);
  close(cp->listen_fd);
  close(cp->stop_pipe[0]);
  close(cp->stop_pipe[1]);
}
