/* Internal pieces of the HTTP client: URL parsing, gzip/deflate helpers, and
 * the request and connection-pool structures shared by client.c and pool.c.
 * Nothing here is public ABI. */
#ifndef LLMRT_HTTP_INTERNAL_H
#define LLMRT_HTTP_INTERNAL_H

#include <llhttp.h>
#include <zlib.h>

#include "../core/core.h"
#include "../transport/transport.h"

/* ---- URL (url.c) --------------------------------------------------------- */

/* A parsed absolute http(s) URL. host has no brackets; host_hdr is the Host
 * header value (brackets for IPv6, ":port" only when not the default). One
 * allocation (storage) holds all strings. */
typedef struct {
  int tls;
  uint16_t port;
  const char *host;
  const char *host_hdr;
  const char *target; /* path and query, at least "/"; no fragment */
  char *storage;
} llmrt__url_t;

/* Parses url. On error returns LLMRT_EURL (or LLMRT_ENOMEM) and, when errbuf
 * is not NULL, writes a message naming the URL (its query is left out, as it
 * may carry secrets). */
int llmrt__url_parse(const char *url, llmrt__url_t *out, char *errbuf, size_t errlen);
void llmrt__url_free(llmrt__url_t *u);

/* ---- gzip / deflate (gzip.c) --------------------------------------------- */

/* Compresses the buffers, in order, into out as one gzip member. */
int llmrt__gzip_compress(const uv_buf_t *bufs, unsigned n, llmrt__buf_t *out);

/* Returns 0 to go on, a negative error to stop, or a positive value to
 * pause: the decoder then keeps its state and the input it has not decoded
 * yet, and llmrt__inflate_resume goes on exactly there. */
typedef int (*llmrt__inflate_emit)(void *arg, const char *data, size_t len);

/* Incremental decoder for Content-Encoding gzip or deflate: zlib's automatic
 * gzip/zlib header detection, with a fallback to raw deflate for servers
 * that send "deflate" without the zlib wrapper. */
typedef struct {
  z_stream zs;
  int active;             /* inflateInit2 succeeded */
  int raw_ok;             /* may fall back to raw deflate */
  int raw;                /* switched to raw deflate */
  int ended;              /* saw Z_STREAM_END */
  int held;               /* emit paused: resume before feeding more */
  size_t fed;             /* input bytes so far */
  unsigned char head[16]; /* the first input bytes, to replay on fallback */
  char *out;              /* output window, LLMRT__INFLATE_CHUNK bytes */
  llmrt__buf_t pend;      /* input not decoded yet when emit paused: at most
                             one feed's input (plus 16 bytes) */
  size_t pend_off;
} llmrt__inflate_t;

#define LLMRT__INFLATE_CHUNK 16384

/* Starts a decoder that may fall back to raw deflate (llmrt__inflate_init2
 * with raw_ok 0: a gzip or zlib stream only). */
int llmrt__inflate_init(llmrt__inflate_t *d);
int llmrt__inflate_init2(llmrt__inflate_t *d, int raw_ok);
/* Decodes in and hands every output piece to emit; stops at emit's first
 * non-zero return and returns it (a positive one holds the decoder: see
 * llmrt__inflate_emit). Returns LLMRT_EDECODE on corrupt data, LLMRT_EINVAL
 * while held. */
int llmrt__inflate_feed(llmrt__inflate_t *d, const char *in, size_t len, llmrt__inflate_emit emit,
                        void *arg);
/* Goes on after emit paused: first the output zlib still holds, then the
 * input kept. Same returns as llmrt__inflate_feed; 0 once nothing is held. */
int llmrt__inflate_resume(llmrt__inflate_t *d, llmrt__inflate_emit emit, void *arg);
/* 0 if the stream ended cleanly, LLMRT_EDECODE if it was cut short. */
int llmrt__inflate_finish(const llmrt__inflate_t *d);
void llmrt__inflate_free(llmrt__inflate_t *d);

/* zstd.c: decodes a whole zstd body into out (at most max bytes). Returns 0
 * or the HTTP status to refuse with: 400 corrupt or truncated, 413 larger
 * than max once decoded, 500 out of memory. */
int llmrt__zstd_decode(const char *in, size_t len, size_t max, llmrt__buf_t *out);

#include "../core/list.h"

/* ---- Pool (pool.c) ------------------------------------------------------- */

typedef struct llmrt__pool_s llmrt__pool_t;
typedef struct llmrt__origin_s llmrt__origin_t;
typedef struct llmrt__pconn_s llmrt__pconn_t;
typedef struct llmrt__prewarm_s llmrt__prewarm_t;
typedef struct llmrt_http_s llmrt__req_t;

/* rt->pools: created on first use, freed by its closer. */
struct llmrt__pool_s {
  llmrt_t *rt;
  llmrt__link_t origins;
  llmrt__link_t reqs;     /* every request whose on_done has not been decided */
  llmrt__link_t prewarms; /* prewarms still waiting for connects */
  int closing;
};

/* One (scheme, host, port). Lives until the runtime closes. */
struct llmrt__origin_s {
  llmrt__link_t link; /* in pool->origins */
  llmrt__pool_t *pool;
  llmrt_t *rt;
  int tls;
  uint16_t port;
  char *host;
  char *label;         /* "host:port" for messages */
  llmrt__link_t idle;  /* most recently used first (LIFO reuse) */
  llmrt__link_t busy;  /* connecting or carrying a request */
  llmrt__link_t queue; /* requests waiting for a slot, first come first served */
  uint32_t n_conns;    /* idle + busy */
  uint32_t n_idle;
  uint32_t n_queued;
  uint32_t max;             /* per-origin cap set by requests (0: runtime default) */
  llmrt_pool_stats_t stats; /* counters; gauges are filled in on demand */
  uint64_t queued_total;    /* requests that waited for a connection */
  uint64_t queue_full;      /* requests refused: the wait queue was full */
  uv_timer_t idle_timer;    /* closes connections idle past pool_idle_timeout_ms */
};

enum { LLMRT__PC_CONNECTING = 1, LLMRT__PC_ACTIVE, LLMRT__PC_IDLE };

/* A pooled connection. */
struct llmrt__pconn_s {
  llmrt__link_t link; /* in origin->idle or origin->busy */
  llmrt__origin_t *origin;
  llmrt__conn_t *conn;
  int state;
  unsigned uses; /* exchanges completed */
  uint64_t idle_since_us;
  llmrt__req_t *req;         /* the request it connects for or carries */
  llmrt__prewarm_t *prewarm; /* set while connecting for a prewarm */
  llmrt__conn_info_t info;
};

/* What the pool tells a request. client.c implements it, so the pool never
 * calls into client.c by name; the request owns its state. */
typedef struct {
  /* No connection yet: waiting in the queue (queued 1) or for a connect. */
  void (*waiting)(llmrt__req_t *req, int queued);
  /* req->pconn is open and carries req now. */
  void (*ready)(llmrt__req_t *req);
  /* Bytes or an error from req's connection (see llmrt__conn_cbs_t). */
  void (*read)(llmrt__req_t *req, int status, const char *data, size_t len);
  /* The pool cannot serve req, or the runtime closes: end it with status
   * (on a later loop turn when defer is set). */
  void (*fail)(llmrt__req_t *req, int status, const char *msg, int defer);
} llmrt__pool_user_t;

llmrt__pool_t *llmrt__pool_get(llmrt_t *rt);
int llmrt__pool_origin(llmrt__pool_t *pool, const llmrt__url_t *u, llmrt__origin_t **out);
/* Gives req a connection: an idle one (then req->pool_user->ready runs
 * before this returns), a new one, or a place in the queue (waiting runs).
 * Returns an error (and does nothing) if none of these is possible. */
int llmrt__pool_acquire(llmrt__req_t *req);
/* The exchange on pc is over: keep it for reuse or close it. */
void llmrt__pool_release(llmrt__pconn_t *pc, int reusable);
/* Takes req out of the wait queue, if it is there. */
void llmrt__pool_dequeue(llmrt__req_t *req);
/* Closes req's dead connection and connects afresh for it (stale retry). */
int llmrt__pool_reconnect(llmrt__req_t *req);

/* ---- Requests (client.c) ------------------------------------------------- */

/* Chunk extensions per response when max_header_bytes is 0 (no limit). */
#define LLMRT__MAX_CHUNK_EXT_BYTES 65536

enum { LLMRT__REQ_NEW = 0, LLMRT__REQ_QUEUED, LLMRT__REQ_CONNECTING, LLMRT__REQ_EXCHANGE };

struct llmrt_http_s {
  llmrt__link_t link;  /* in pool->reqs until finished */
  llmrt__link_t qlink; /* in origin->queue while queued */
  const llmrt__pool_user_t *pool_user;
  llmrt_t *rt;
  llmrt__origin_t *origin;
  llmrt__pconn_t *pconn;
  llmrt_http_callbacks_t cbs;
  void *user;
  unsigned flags;
  uint32_t max_connections; /* 0: the runtime's pool_max_per_origin */
  int state;                /* LLMRT__REQ_*: client.c alone writes it */
  int head_only;            /* HEAD request: the response has no body */
  int in_cb;                /* > 0 while our API or a user callback is on the stack */
  int done;                 /* finished: on_done delivered or scheduled */
  int deferred;             /* on_done waits for the timer */
  int status;
  char errmsg[320];

  /* Outgoing. OWNERSHIP: head and gz are ours; bufs[1..] point at the
   * caller's body buffers (not copied). */
  llmrt__buf_t head;
  llmrt__buf_t gz;
  uv_buf_t *bufs;
  unsigned nbufs;
  int writing;
  int retried;
  uint64_t written_us; /* when the request was fully written (0: not yet) */

  /* Deadlines (µs, monotonic; 0 = none) and timeouts (ms; 0 = none). */
  uint32_t to_connect, to_tls, to_first_byte, to_idle, to_total;
  uint64_t start_us, total_deadline_us, fb_deadline_us, last_read_us;
  uv_timer_t timer; /* deadlines, and the deferred on_done */

  /* Response. */
  llhttp_t parser;
  llmrt__buf_t hdrs; /* name\0value\0 ... */
  uint32_t *hoff;    /* offsets into hdrs: name, value per header */
  uint32_t hcap;
  uint32_t n_hdrs;
  int hstate;            /* 0 between headers, 1 in a name, 2 in a value */
  int64_t body_expected; /* Content-Length, or -1 */
  struct {               /* per response: zeroed when one starts */
    size_t hdr_bytes;    /* this head and the 1xx heads before it */
    size_t ext_bytes;    /* chunk extensions so far */
    int informational;   /* parsing a 1xx, skipped */
    unsigned n_informational;
    int got_byte;
    int head_done;
    int complete;
    int keep_alive;
    int cb_err;        /* error decided inside a parser callback */
    uint64_t body_raw; /* body bytes on the wire */
    uint64_t body_out; /* body bytes handed to on_body (decoded) */
  } resp;
  int decoding;
  const char *enc_name; /* "gzip" or "deflate", as the server named it */
  llmrt__inflate_t inflate;
  llmrt_header_t *harr;

  /* Flow control (llmrt_http_pause). paused: the user's pause is on. hold:
   * the parser stops at its next step and the socket stays stopped until
   * the deferred resume ran (set by pause, cleared by that resume).
   * OWNERSHIP: pend is ours: the response bytes read but not parsed when a
   * callback paused (the rest of one read, so at most one read buffer),
   * parsed from pend_off on resume. */
  int paused;
  int hold;
  int resume_due;   /* the timer runs the resume on the next loop turn */
  int parser_held;  /* llhttp is paused by us, pend holds its input */
  int sock_stopped; /* we stopped the connection's reads */
  llmrt__buf_t pend;
  size_t pend_off;

  llmrt_http_info_t info;
};

/* Seam for the fuzz targets (tests/fuzz/fuzz_http_response.c), not used by
 * the library: readies req to parse a response fed through
 * req->pool_user->read, as the pool's ready callback does once the request
 * is written, but with no connection and nothing written. The caller builds
 * req as llmrt_http_request would (llmrt__calloc, rt, cbs, flags, links,
 * timer, llmrt__rt_ref) and attaches a pconn of its own if it feeds an EOF. */
void llmrt__http_parse_begin(llmrt__req_t *req);

#endif
