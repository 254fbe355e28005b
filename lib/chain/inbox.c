/* Results handed back to other threads (include/llmrt/thread.h): an inbox is
 * a mutex, a condition variable and a FIFO of results. The result's memory is
 * reserved at submission, on the submitting thread, so the runtime's thread
 * can always deliver one: only copying its strings can fail, and then the
 * result says LLMRT_ENOMEM. llmrt_thread_call_sync is an inbox of one. */
#include <string.h>

#include "thread.h"

typedef struct node_s node_t;
struct node_s {
  llmrt_thread_result_t r; /* first: a result pointer is its node */
  node_t *next;
  char *strings; /* one block for every string of r */
  char empty[1];
};

struct llmrt_inbox_s {
  uv_mutex_t mu;
  uv_cond_t cond;
  node_t *head, *tail; /* under mu */
  size_t pending;      /* under mu: submitted, not yet taken */
};

/* What an inbox call carries to the runtime's thread. */
typedef struct {
  llmrt_inbox_t *in;
  node_t *node;
  llmrt_callbacks_t cbs;
  void *user;
} ibcall_t;

void llmrt_thread_result_free(llmrt_thread_result_t *r) {
  if (!r) return;
  node_t *n = (node_t *)r;
  llmrt__free(n->strings);
  llmrt__free(n);
}

int llmrt_inbox_new(llmrt_inbox_t **out) {
  if (!out) return LLMRT_EINVAL;
  llmrt_inbox_t *in = llmrt__calloc(1, sizeof *in);
  if (!in) return LLMRT_ENOMEM;
  if (uv_mutex_init(&in->mu)) {
    llmrt__free(in);
    return LLMRT_ENOMEM;
  }
  if (uv_cond_init(&in->cond)) {
    uv_mutex_destroy(&in->mu);
    llmrt__free(in);
    return LLMRT_ENOMEM;
  }
  *out = in;
  return 0;
}

void llmrt_inbox_free(llmrt_inbox_t *in) {
  if (!in) return;
  for (node_t *n = in->head, *next; n; n = next) {
    next = n->next;
    llmrt_thread_result_free(&n->r);
  }
  uv_cond_destroy(&in->cond);
  uv_mutex_destroy(&in->mu);
  llmrt__free(in);
}

size_t llmrt_inbox_pending(llmrt_inbox_t *in) {
  uv_mutex_lock(&in->mu);
  size_t n = in->pending;
  uv_mutex_unlock(&in->mu);
  return n;
}

static size_t sz(const char *s) {
  return s ? strlen(s) + 1 : 0;
}

static char *put(char **at, const char *s, size_t n) {
  if (!s) return NULL;
  char *d = *at;
  memcpy(d, s, n);
  d[n] = '\0';
  *at += n + 1;
  return d;
}

static char *put_s(char **at, const char *s) {
  return s ? put(at, s, strlen(s)) : NULL;
}

/* Copies res into n (runtime's thread). */
static void copy_result(node_t *n, int status, const llmrt_result_t *res) {
  llmrt_thread_result_t *r = &n->r;
  r->status = status;
  r->text = n->empty;
  if (!res) return;
  size_t tlen = res->text ? res->text_len : 0;
  size_t total = tlen + 1 + sz(res->finish_reason) + sz(res->model) + sz(res->request_id) +
                 sz(res->error_type) + sz(res->error_message);
  char *at = n->strings = llmrt__malloc(total);
  if (!at) {
    r->status = LLMRT_ENOMEM;
    return;
  }
  r->text = put(&at, res->text ? res->text : "", tlen);
  r->text_len = tlen;
  r->finish_reason = put_s(&at, res->finish_reason);
  r->model = put_s(&at, res->model);
  r->request_id = put_s(&at, res->request_id);
  r->error_type = put_s(&at, res->error_type);
  r->error_message = put_s(&at, res->error_message);
  r->input_tokens = res->input_tokens;
  r->output_tokens = res->output_tokens;
  r->cached_tokens = res->cached_tokens;
  r->http_status = res->http_status;
  r->attempts = res->attempts;
  r->cache_hit = res->cache_hit;
  r->timings = res->timings;
}

static void ib_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  ibcall_t *c = user;
  if (c->cbs.on_token) c->cbs.on_token(call, text, len, c->user);
}

static void ib_event(llmrt_call_t *call, const llmrt_event_t *ev, void *user) {
  ibcall_t *c = user;
  if (c->cbs.on_event) c->cbs.on_event(call, ev, c->user);
}

static void ib_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  ibcall_t *c = user;
  node_t *n = c->node;
  llmrt_inbox_t *in = c->in;
  copy_result(n, status, res);
  llmrt__free(c);
  uv_mutex_lock(&in->mu);
  if (in->tail)
    in->tail->next = n;
  else
    in->head = n;
  in->tail = n;
  uv_cond_signal(&in->cond);
  uv_mutex_unlock(&in->mu);
}

int llmrt_inbox_call(llmrt_thread_t *th, llmrt_inbox_t *in, const llmrt_request_t *req,
                     const llmrt_callbacks_t *cbs, void *user, uint64_t *ticket) {
  if (!th || !in || !req) return LLMRT_EINVAL;
  ibcall_t *c = llmrt__calloc(1, sizeof *c);
  node_t *n = llmrt__calloc(1, sizeof *n);
  if (!c || !n) {
    llmrt__free(c);
    llmrt__free(n);
    return LLMRT_ENOMEM;
  }
  c->in = in;
  c->node = n;
  if (cbs) c->cbs = *cbs;
  c->user = user;
  n->r.user = user;
  n->r.text = n->empty;
  /* Counted before the submission, so pending never reads 0 while the
   * result is on its way. */
  uv_mutex_lock(&in->mu);
  in->pending++;
  uv_mutex_unlock(&in->mu);
  llmrt_callbacks_t w = {ib_token, ib_event, ib_done};
  /* The result's ticket is written under the queue's lock, which the runtime
   * thread takes before it runs the call: so before the result is published.
   * n is not touched after the submission (its result may be taken and freed
   * at once). */
  int r = llmrt__thread_call(th, req, &w, c, ticket, &n->r.ticket);
  if (r) {
    uv_mutex_lock(&in->mu);
    in->pending--;
    uv_mutex_unlock(&in->mu);
    llmrt__free(c);
    llmrt__free(n);
    return r;
  }
  return 0;
}

int llmrt_inbox_wait(llmrt_inbox_t *in, uint32_t timeout_ms, llmrt_thread_result_t **out) {
  if (!in || !out) return LLMRT_EINVAL;
  *out = NULL;
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
  uv_mutex_lock(&in->mu);
  while (!in->head) {
    if (timeout_ms == UINT32_MAX) {
      uv_cond_wait(&in->cond, &in->mu);
      continue;
    }
    uint64_t now = uv_hrtime();
    if (now >= deadline) break;
    (void)uv_cond_timedwait(&in->cond, &in->mu, deadline - now);
  }
  node_t *n = in->head;
  if (n) {
    in->head = n->next;
    if (!in->head) in->tail = NULL;
    n->next = NULL;
    in->pending--;
  }
  uv_mutex_unlock(&in->mu);
  if (!n) return LLMRT_ETIMEDOUT;
  *out = &n->r;
  return 0;
}

int llmrt_thread_call_sync(llmrt_thread_t *th, const llmrt_request_t *req,
                           llmrt_thread_result_t **out) {
  if (out) *out = NULL;
  if (!th || !req || llmrt__thread_is_self(th)) return LLMRT_EINVAL;
  llmrt_inbox_t *in;
  int r = llmrt_inbox_new(&in);
  if (r) return r;
  r = llmrt_inbox_call(th, in, req, NULL, NULL, NULL);
  if (!r) {
    llmrt_thread_result_t *res;
    (void)llmrt_inbox_wait(in, UINT32_MAX, &res);
    r = res->status;
    if (out)
      *out = res;
    else
      llmrt_thread_result_free(res);
  }
  llmrt_inbox_free(in);
  return r;
}
