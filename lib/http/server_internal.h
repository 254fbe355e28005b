/* Private to lib/http/server*.c: the structures behind llmrt__server_t and
 * llmrt__sreq_t, and the functions the two files share. */
#ifndef LLMRT_HTTP_SERVER_INTERNAL_H
#define LLMRT_HTTP_SERVER_INTERNAL_H

#include <llhttp.h>

#include "../core/list.h"
#include "server.h"

typedef struct sconn_s sconn_t;

struct llmrt__sreq_s {
  sconn_t *c;
  llmrt__buf_t head; /* url\0path\0name\0value\0... (offsets below) */
  size_t url_off, path_off;
  size_t *hoffs; /* 2 per header: name, value offsets into head */
  llmrt_header_t *headers;
  size_t n_headers, cap_headers;
  int hstate;           /* 0: between headers, 1: in a name, 2: in a value */
  int headers_done;     /* the header section ended: fields now are trailers */
  size_t trailer_bytes; /* trailers are dropped but count against the limit */
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

/* What the connection's one timer waits for (see llmrt__srv_timer_update). */
enum {
  SRV_TM_NONE = 0, /* a handler has the exchange and nothing is queued */
  SRV_TM_KICK,     /* zero delay: parse pipelined input outside the handler */
  SRV_TM_IDLE,     /* no exchange, nothing queued: keep-alive idle / slow request */
  SRV_TM_SEND,     /* output queued: no write progress for send_timeout_ms */
  SRV_TM_EOF,      /* the client sent EOF during an exchange (see on_read) */
  SRV_TM_LINGER    /* FIN sent: discard input until EOF or this expires */
};

/* Queued output (out + inflight) above which no further pipelined request is
 * parsed and reading stops, until the client has read some. */
#define LLMRT__SRV_OUT_CAP (256 * 1024)

struct sconn_s {
  llmrt__server_t *s;
  llmrt__link_t link; /* in s->conns until it starts closing */
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
  int out_blocked; /* parsing stopped because LLMRT__SRV_OUT_CAP was reached */
  int tmode;       /* SRV_TM_*: what the timer is armed for */
  int lingering;   /* FIN sent; reading and discarding until EOF or timeout */
  int peer_eof;    /* the client sent EOF (half-close or gone) */
  uint32_t n_requests; /* requests dispatched on this connection */
  uint64_t writes; /* writes completed (send-timeout progress) */
  uint64_t writes_seen;
  size_t queue_seen;    /* the socket's write queue size at the last check */
  uint64_t progress_at; /* loop time (ms) of the last write progress seen */
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
  llmrt__link_t conns; /* open connections */
  uint32_t n_conns;    /* including connections whose timer is still closing */
  llmrt__server_stats_t st;
  int closing, listener_closed;
  int draining; /* llmrt__server_stop_accepting: the listener is closing or closed */
  /* Accepts and closes a connection that could not get memory, so libuv
   * keeps polling the listener (see refuse() in server.c). */
  uv_tcp_t refuse_tcp;
  int refuse_busy;    /* refuse_tcp is in use or closing */
  int refuse_pending; /* a connection waits in libuv for refuse_tcp */
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
/* A write completed (and output is not to close): resume parsing held back
 * by the output cap, and set the timer. */
void llmrt__srv_wrote(sconn_t *c);
/* Arms the connection's timer for its state: send timeout while output is
 * queued, idle timeout when no exchange runs, the EOF bound during an
 * exchange whose client sent EOF, nothing otherwise. */
void llmrt__srv_timer_update(sconn_t *c);

#endif
