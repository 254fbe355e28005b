/* A libuv HTTP server that streams an LLM's answer to its own clients, on the
 * same loop as llmrt.
 *
 *   GET /ask?q=QUESTION  ->  200, text/plain: the answer's tokens as they
 *                            arrive, then a last line "-- N bytes, FINISH"
 *
 * Backpressure: a client that reads slowly makes the server's write queue for
 * it grow; above HIGH_WATER the server pauses the call (llmrt_call_pause), so
 * llmrt stops reading from the upstream instead of buffering, and below
 * LOW_WATER it resumes. Memory per client stays bounded whatever the answer's
 * length. A client that disconnects has its call canceled at once
 * (llmrt_cancel), so the upstream stops generating tokens nobody reads.
 *
 * This is an example, not a production HTTP server: one request per
 * connection, a GET line parsed by hand, no keep-alive.
 *
 * usage: stream_server [BASE_URL [PORT]]   (default https://api.openai.com/v1,
 *        port 8080; 0: any free port. The key comes from OPENAI_API_KEY; try it
 *        with `llmrt mock`.) It prints the URL it listens on; SIGINT or SIGTERM
 *        stop it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt.h>

#define MAX_REQUEST 8192        /* request line and headers */
#define HIGH_WATER (64 * 1024)  /* pause the call above this many queued bytes */
#define LOW_WATER (16 * 1024)   /* resume below this */
#define SEND_BUFFER (32 * 1024) /* kernel send buffer per client: see accept */

typedef struct client_s client_t;
struct client_s {
  uv_tcp_t tcp;
  client_t *next, *prev; /* every open client, for the shutdown */
  int id;
  char req[MAX_REQUEST];
  size_t req_len;
  int have_request;
  int closing;     /* uv_close called on tcp */
  int refs;        /* the connection, plus the call while it runs */
  int call_active; /* between llmrt_call and on_done */
  uint64_t call_id;
  int paused;
  int pauses;
  size_t sent;
};

static llmrt_t *rt;
static uv_tcp_t server;
static uv_signal_t sigint, sigterm;
static client_t *clients;
static int next_id = 1;

static void client_unref(client_t *c) {
  if (--c->refs == 0) free(c);
}

static void on_client_closed(uv_handle_t *h) {
  client_t *c = h->data;
  if (c->prev)
    c->prev->next = c->next;
  else
    clients = c->next;
  if (c->next) c->next->prev = c->prev;
  client_unref(c);
}

static void client_close(client_t *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

typedef struct {
  uv_write_t w;
  client_t *c;
  char data[];
} write_req_t;

static void on_written(uv_write_t *w, int status) {
  write_req_t *wr = (write_req_t *)w;
  client_t *c = wr->c;
  free(wr);
  /* The queue drained below the low-water mark: let the tokens flow again. */
  if (c->paused && !c->closing &&
      uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < LOW_WATER) {
    llmrt_call_t *call = llmrt_call_get(rt, c->call_id);
    if (call) llmrt_call_resume(call);
    c->paused = 0;
    printf("client %d: resumed\n", c->id);
  }
  client_unref(c);
}

/* Queues data to the client; 0 or a libuv error. */
static int client_write(client_t *c, const char *data, size_t len) {
  if (c->closing) return UV_ECANCELED;
  write_req_t *wr = malloc(sizeof *wr + len);
  if (!wr) return UV_ENOMEM;
  wr->c = c;
  memcpy(wr->data, data, len);
  uv_buf_t buf = uv_buf_init(wr->data, (unsigned)len);
  int r = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
  if (r) {
    free(wr);
    return r;
  }
  c->refs++;
  c->sent += len;
  return 0;
}

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  client_t *c = user;
  if (client_write(c, text, len) != 0) {
    llmrt_call_cancel(call);
    return;
  }
  /* A slow reader: hold the stream back (nothing is lost; pauses count, so
   * pause only once until resumed). */
  if (!c->paused && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > HIGH_WATER) {
    llmrt_call_pause(call);
    c->paused = 1;
    c->pauses++;
    printf("client %d: paused (write queue %zu bytes)\n", c->id,
           uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
  }
}

static void on_shutdown(uv_shutdown_t *s, int status) {
  client_t *c = s->data;
  free(s);
  client_close(c);
  client_unref(c);
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  client_t *c = user;
  c->call_active = 0;
  if (status)
    printf("client %d: call ended: %s\n", c->id, llmrt_err_name(status));
  else
    printf("client %d: done, %zu bytes streamed, paused %d times\n", c->id, res->text_len,
           c->pauses);
  if (!c->closing) {
    char tail[128];
    int n = snprintf(tail, sizeof tail, "\n-- %zu bytes, %s\n", res->text_len,
                     status ? llmrt_err_name(status) : res->finish_reason);
    client_write(c, tail, (size_t)n);
    /* Close once everything queued is written. */
    uv_shutdown_t *s = malloc(sizeof *s);
    if (s && uv_shutdown(s, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
      s->data = c;
      c->refs++;
    } else {
      free(s);
      client_close(c);
    }
  }
  client_unref(c);
}

/* "q=hello+world%21" -> "hello world!" in place. */
static void url_decode(char *s) {
  char *out = s;
  for (; *s; s++) {
    if (*s == '+') {
      *out++ = ' ';
    } else if (*s == '%' && s[1] && s[2]) {
      char hex[3] = {s[1], s[2], 0};
      char *end;
      long v = strtol(hex, &end, 16);
      if (*end || v <= 0) break;
      *out++ = (char)v;
      s += 2;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

static void respond_error(client_t *c, const char *status) {
  char buf[256];
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s\n",
                   status, status);
  client_write(c, buf, (size_t)n);
  uv_shutdown_t *s = malloc(sizeof *s);
  if (s && uv_shutdown(s, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
    s->data = c;
    c->refs++;
  } else {
    free(s);
    client_close(c);
  }
}

static void start_answer(client_t *c) {
  /* "GET /ask?q=... HTTP/1.1" */
  char *eol = strstr(c->req, "\r\n");
  *eol = '\0';
  if (strncmp(c->req, "GET /ask?q=", 11) != 0) {
    respond_error(c, "404 Not Found");
    return;
  }
  char *q = c->req + 11;
  char *sp = strchr(q, ' ');
  if (sp) *sp = '\0';
  url_decode(q);
  if (!*q) {
    respond_error(c, "400 Bad Request");
    return;
  }
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "Connection: close\r\n\r\n";
  client_write(c, head, sizeof head - 1);

  llmrt_message_t msg = {.role = "user", .content = q};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "gpt-4o-mini";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = 1;
  llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  int r = llmrt_call(rt, &req, &cbs, c, &c->call_id);
  if (r) {
    char line[300];
    int n = snprintf(line, sizeof line, "-- refused: %s\n", llmrt_errmsg(rt));
    client_write(c, line, (size_t)n);
    client_close(c);
    return;
  }
  c->call_active = 1;
  c->refs++;
  printf("client %d: asking \"%s\"\n", c->id, q);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  client_t *c = h->data;
  if (c->have_request) {
    /* After the request we read only to notice a disconnect. */
    static char sink[1024];
    *buf = uv_buf_init(sink, sizeof sink);
  } else {
    *buf = uv_buf_init(c->req + c->req_len, (unsigned)(MAX_REQUEST - 1 - c->req_len));
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client_t *c = s->data;
  if (n < 0) {
    /* EOF or reset: the client is gone. Its call's tokens have no reader. */
    if (c->call_active) {
      printf("client %d: disconnected, canceling its call\n", c->id);
      llmrt_cancel(rt, c->call_id);
    }
    client_close(c);
    return;
  }
  if (c->have_request || n == 0) return;
  c->req_len += (size_t)n;
  c->req[c->req_len] = '\0';
  if (strstr(c->req, "\r\n\r\n")) {
    c->have_request = 1;
    start_answer(c);
  } else if (c->req_len >= MAX_REQUEST - 1) {
    c->have_request = 1;
    respond_error(c, "431 Request Header Fields Too Large");
  }
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status) return;
  client_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->id = next_id++;
  c->refs = 1;
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  c->next = clients;
  if (clients) clients->prev = c;
  clients = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
    client_close(c);
    return;
  }
  /* A modest kernel buffer: the bytes a slow client has not read stay in our
   * write queue, where the high-water mark sees them, rather than in
   * megabytes of socket buffer. */
  int size = SEND_BUFFER;
  uv_send_buffer_size((uv_handle_t *)&c->tcp, &size);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *s, int signum) {
  printf("signal %d: stopping\n", signum);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&server, NULL);
  /* Calls in flight end with LLMRT_ESHUTDOWN; their on_done closes their
   * clients. Clients without a call are closed here. */
  llmrt_close(rt, NULL, NULL);
  for (client_t *c = clients; c; c = c->next)
    if (!c->call_active) client_close(c);
}

int main(int argc, char **argv) {
  const char *base_url = argc > 1 ? argv[1] : "https://api.openai.com/v1";
  int port = argc > 2 ? atoi(argv[2]) : 8080;
  setvbuf(stdout, NULL, _IOLBF, 0); /* a log: one line at a time */
  uv_loop_t *loop = uv_default_loop();
  if (llmrt_new(loop, NULL, &rt) != 0) return 1;
  char cfg[1024], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"openai\":{\"base_url\":\"%s\",\"api_key_env\":\"OPENAI_API_KEY\"}},"
           "\"plugins\":[{\"name\":\"retry\"}]}",
           base_url);
  if (llmrt_configure(rt, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "configure: %s\n", err);
    return 1;
  }
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(loop, &server);
  int r = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (!r) r = uv_listen((uv_stream_t *)&server, 128, on_connection);
  if (r) {
    fprintf(stderr, "listen on 127.0.0.1:%d: %s\n", port, uv_strerror(r));
    return 1;
  }
  struct sockaddr_in bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
  printf("listening on http://127.0.0.1:%d/ask?q=...\n", ntohs(bound.sin_port));
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  printf("bye\n");
  return 0;
}
