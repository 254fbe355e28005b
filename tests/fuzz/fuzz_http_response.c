/* libFuzzer target: the HTTP client's response parsing (lib/http/client.c
 * over llhttp) with its body decoders (chunked, gzip, deflate: gzip.c).
 *
 * Driven in-process with no socket: a request is built the way
 * llmrt_http_request builds one, readied with the llmrt__http_parse_begin
 * seam, given a pconn of its own (so an EOF can be fed as the transport
 * would), and fed through r->pool_user->read, the callback pool.c calls for
 * every read.
 *
 * Input: byte 0 holds flags: bit 0 asks for decompression, bit 1 makes it a
 * HEAD request, bit 2 feeds an EOF after the input, bits 3-4 choose how the
 * input is cut into reads, bit 5 cancels from inside on_head, bit 6 cancels
 * from inside on_body, bit 7 makes on_body refuse the body. The rest is the
 * response as the server sent it.
 *
 * Invariants: on_done exactly once, with a NUL-terminated message of
 * bounded length on failure and never without a head on success; headers
 * NUL-terminated and within max_headers / max_header_bytes; decoded body
 * within max_body_bytes (so a gzip bomb stops at the limit); nothing after
 * on_done; no leak once the request's close callback ran. */
#include "fuzz_common.h"
#include "http/http_internal.h"

#define MAX_BODY (1u << 20)
#define MAX_HEADER_BYTES 8192
#define MAX_HEADERS 32

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt__origin_t *origin;
static int strict; /* LLMRT_FUZZ_STRICT=1: also the open findings (README.md) */

typedef struct {
  unsigned flags;
  int heads, dones, status;
  size_t body;
} state_t;

static int on_head(llmrt_http_t *h, int status, const llmrt_header_t *hs, size_t n, void *user) {
  state_t *st = user;
  FUZZ_ASSERT(st->dones == 0);
  /* llhttp takes any three digits: "051" arrives as 51 (see README.md,
   * Findings). Interim 1xx responses are skipped, never handed on. */
  FUZZ_ASSERT(status >= 0 && status <= 999);
  if (strict) FUZZ_ASSERT(status >= 100);
  FUZZ_ASSERT(status < 100 || status >= 200 || status == 101);
  FUZZ_ASSERT(n <= MAX_HEADERS);
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    FUZZ_ASSERT(hs[i].name && hs[i].value);
    bytes += strlen(hs[i].name) + strlen(hs[i].value);
  }
  FUZZ_ASSERT(bytes <= MAX_HEADER_BYTES);
  st->heads++;
  if (st->flags & 0x20) llmrt_http_cancel(h);
  return 0;
}

static int on_body(llmrt_http_t *h, const char *data, size_t len, void *user) {
  state_t *st = user;
  FUZZ_ASSERT(st->dones == 0 && st->heads == 1);
  FUZZ_ASSERT(data && len > 0);
  st->body += len;
  FUZZ_ASSERT(st->body <= MAX_BODY);
  volatile unsigned sum = 0;
  for (size_t i = 0; i < len; i++)
    sum += (unsigned char)data[i];
  (void)sum;
  if (st->flags & 0x40) llmrt_http_cancel(h);
  return (st->flags & 0x80) && st->body > 64 ? LLMRT_EINVAL : 0;
}

static void on_done(llmrt_http_t *h, int status, const char *errmsg, void *user) {
  state_t *st = user;
  st->dones++;
  st->status = status;
  FUZZ_ASSERT(st->dones == 1);
  if (status == 0) {
    FUZZ_ASSERT(errmsg == NULL);
    FUZZ_ASSERT(st->heads == 1);
  } else {
    FUZZ_ASSERT(status < 0);
    FUZZ_ASSERT(errmsg && strlen(errmsg) < 320);
  }
}

static void on_log(int level, const char *msg, void *user) {
  FUZZ_ASSERT(msg && strlen(msg) < 1024);
}

static const llmrt_http_callbacks_t cbs = {on_head, on_body, on_done};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *s = getenv("LLMRT_FUZZ_STRICT");
  /* The findings in README.md are fixed: their checks are on unless
   * LLMRT_FUZZ_STRICT=0. */
  strict = !(s && s[0] == '0');
  FUZZ_ASSERT(uv_loop_init(&loop) == 0);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.max_body_bytes = MAX_BODY;
  o.max_header_bytes = MAX_HEADER_BYTES;
  o.max_headers = MAX_HEADERS;
  o.log = on_log; /* every message formatted, none printed */
  o.log_level = LLMRT_LOG_DEBUG;
  FUZZ_ASSERT(llmrt_new(&loop, &o, &rt) == 0);
  llmrt__url_t u;
  FUZZ_ASSERT(llmrt__url_parse("http://fuzz.invalid/", &u, NULL, 0) == 0);
  FUZZ_ASSERT(llmrt__pool_origin(llmrt__pool_get(rt), &u, &origin) == 0);
  llmrt__url_free(&u);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  state_t st;
  memset(&st, 0, sizeof st);
  st.flags = data[0];

  /* The request, as llmrt_http_request would leave it once connected. */
  llmrt__req_t *r = llmrt__calloc(1, sizeof *r);
  FUZZ_ASSERT(r);
  r->rt = rt;
  r->cbs = cbs;
  r->user = &st;
  r->origin = origin;
  r->flags = LLMRT_HTTP_NO_REUSE | ((st.flags & 1) ? LLMRT_HTTP_DECOMPRESS : 0);
  r->head_only = (st.flags & 2) != 0;
  llmrt__list_init(&r->link);
  llmrt__list_init(&r->qlink);
  uv_timer_init(&loop, &r->timer);
  r->timer.data = r;
  llmrt__rt_ref(rt);
  llmrt__pconn_t *pc = llmrt__calloc(1, sizeof *pc);
  FUZZ_ASSERT(pc);
  pc->origin = origin;
  pc->state = LLMRT__PC_ACTIVE;
  pc->req = r;
  llmrt__list_push_back(&origin->busy, &pc->link);
  origin->n_conns++;
  r->pconn = pc;
  llmrt__http_parse_begin(r);

  fuzz_rng_t rng;
  fuzz_rng_init(&rng, data[0]);
  unsigned mode = (st.flags >> 3) & 3;
  if (mode == 3) mode = 2;
  const char *in = (const char *)data + 1;
  size_t len = size - 1, off = 0;
  /* r stays allocated until its timer's close callback, which only runs
   * when the loop does: feeding after on_done hits r->done and returns. */
  while (off < len && st.dones == 0) {
    size_t n = fuzz_piece(&rng, mode, len - off);
    r->pool_user->read(r, 0, in + off, n);
    off += n;
  }
  if (st.dones == 0 && (st.flags & 4)) r->pool_user->read(r, LLMRT_ECLOSED, NULL, 0);
  if (st.dones == 0) llmrt_http_cancel(r);
  /* A cancel from inside a callback delivers on the next turn; then the
   * timer closes and the request is freed. */
  for (int i = 0; i < 4; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  FUZZ_ASSERT(st.dones == 1);
  FUZZ_ASSERT(origin->n_conns == 0);
  return 0;
}
