/* Private to lib/http/server*.c: the structures behind llmrt__server_t and
 * llmrt__sreq_t, and the functions the two files share. */
#ifndef LLMRT_HTTP_SERVER_INTERNAL_H
#define LLMRT_HTTP_SERVER_INTERNAL_H

#include <llhttp.h>

#include "server.h"

typedef struct sconn_s sconn_t;

struct llmrt__sreq_s {
  sconn_t *c;
  llmrt__buf_t head; /* url\0path\0name\0value\0... (offsets below) */
  size_t url_off, path_off;
  size_t *hoffs; /* 2 per header: name, value offsets into head */
  llmrt_header_t *headers;
  size_t n_headers, cap_headers;
  int hstate; /* 0: between headers, 1: in a name, 2: in a value */
  llmrt__buf_t body;
  const char *method;
  int http_minor;
  int keep_alive;
  int is_head;
  char peer[64];

  int active;  /* handed to the handler and not finished */
  int started; /* streamed head sent */
  int chunked;
  void (*abort_cb)(llmrt__sreq_t *, int, void *);
  void *abort_arg;
  void (*drain_cb)(llmrt__sreq_t *, void *);
  void *drain_arg;
};

struct sconn_s {
  llmrt__server_t *s;
  sconn_t *prev, *next;
  llmrt__conn_t *conn;
  uv_tcp_t *tcp; /* owned by conn; valid until conn closes (for SO_LINGER) */
  uv_timer_t timer;
  llhttp_t parser;
  llmrt__buf_t in;
  llmrt__buf_t out, inflight;
  llmrt__sreq_t r;
  int reject;      /* status to answer after a parse failure */
  int connected;   /* on_connect succeeded */
  int writing;     /* inflight handed to the transport */
  int close_after; /* close once output is flushed; read nothing more */
  int closing;
  int in_process;
  int read_paused;
  int kick;      /* the timer is a zero-delay "parse pipelined input" */
  int lingering; /* FIN sent; reading and discarding until EOF or timeout */
  int peer_eof;  /* the client half-closed while the last response was flushing */
};

struct llmrt__server_s {
  llmrt_t *rt;
  llmrt__server_opts_t o;
  char *host;
  llmrt__server_cbs_t cbs;
  void *user;
  uv_tcp_t listener;
  llmrt__tls_server_t *tls;
  uint16_t port;
  sconn_t *conns;
  uint32_t n_conns; /* including connections whose timer is still closing */
  llmrt__server_stats_t st;
  int closing, listener_closed;
  void (*done)(llmrt__server_t *, void *);
  void *done_user;
  llhttp_settings_t settings;
};

/* Closes the connection now; an exchange in progress gets its abort
 * callback with status. Memory goes in the timer's close callback. */
void llmrt__srv_conn_close(sconn_t *c, int status);
/* Output is flushed and the connection is to close (lingering close). */
void llmrt__srv_close_output(sconn_t *c);
/* Hands collected output to the transport unless a write is in flight. */
void llmrt__srv_flush(sconn_t *c);
/* Appends the status line and headers; body_len < 0 means streamed. */
int llmrt__srv_put_head(sconn_t *c, int status, const llmrt_header_t *h, size_t n,
                        long long body_len);
/* The handler finished the exchange: close or get ready for the next request. */
void llmrt__srv_exchange_done(sconn_t *c);

#endif
