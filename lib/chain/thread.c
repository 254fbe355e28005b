/* Thread mode: a runtime on a thread and loop of its own, fed by a
 * mutex-protected FIFO of jobs and a uv_async_t.
 *
 * States of the thread runtime: RUNNING (jobs are accepted) -> STOPPING
 * (llmrt_thread_stop set `stopping` under the lock: every later submission
 * is refused) -> the runtime thread drains the queue, ending each queued job
 * with LLMRT_ESHUTDOWN, closes the async handle and the runtime (which ends
 * calls in flight with LLMRT_ESHUTDOWN) -> its loop has no handles left and
 * the thread returns -> llmrt_thread_join frees.
 *
 * Why every uv_async_send happens under the lock: the runtime thread closes
 * the async handle only after it has seen `stopping` under the same lock, and
 * nothing is sent once `stopping` is set, so no send can reach a closed
 * handle. Each job is therefore ended exactly once: by the runtime (llmrt_call
 * accepted it), by its refusal, or by the drain at stop. */
#include <stdio.h>
#include <string.h>

#include "thread.h"

typedef enum { JOB_CALL, JOB_CANCEL, JOB_POST } job_kind_t;

typedef struct job_s job_t;
struct job_s {
  job_t *next; /* queue link (under the lock), then the active list's */
  job_t *prev;
  job_kind_t kind;
  uint64_t ticket;
  llmrt_thread_t *th;
  /* JOB_CALL */
  llmrt__thread_req_t req;
  llmrt_callbacks_t cbs;
  void *user;
  uint64_t call_id; /* the runtime's id, once llmrt_call accepted it */
  /* JOB_POST */
  void (*fn)(llmrt_t *rt, void *arg);
  void *arg;
};

struct llmrt_thread_s {
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_sem_t ready;
  /* Under mu. */
  job_t *head, *tail;
  int stopping;
  uint64_t next_ticket;
  /* Written before `ready` is posted, read-only afterwards. */
  uv_thread_t self;
  int start_status;
  /* The runtime thread's own. */
  uv_loop_t loop;
  uv_async_t async;
  llmrt_t *rt;
  job_t *active; /* calls llmrt_call accepted, for llmrt_thread_cancel */
  int closing;
  /* For the start only (the starting thread waits). */
  const llmrt_options_t *opts;
  const char *config;
  char *errbuf;
  size_t errlen;
};

int llmrt__thread_is_self(const llmrt_thread_t *th) {
  uv_thread_t me = uv_thread_self();
  return uv_thread_equal(&me, &th->self);
}

static void job_free(job_t *j) {
  llmrt__thread_req_free(&j->req);
  llmrt__free(j);
}

/* ---- The runtime thread's side ---- */

static void active_remove(llmrt_thread_t *th, job_t *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    th->active = j->next;
  if (j->next) j->next->prev = j->prev;
}

static void w_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  job_t *j = user;
  if (j->cbs.on_token) j->cbs.on_token(call, text, len, j->user);
}

static void w_event(llmrt_call_t *call, const llmrt_event_t *ev, void *user) {
  job_t *j = user;
  if (j->cbs.on_event) j->cbs.on_event(call, ev, j->user);
}

static void w_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  job_t *j = user;
  active_remove(j->th, j);
  j->cbs.on_done(call, status, res, j->user);
  job_free(j);
}

/* Ends a job that never reached the runtime: on_done with call NULL. */
static void end_unstarted(job_t *j, int status, const char *why) {
  if (j->kind == JOB_CALL) {
    llmrt_result_t res;
    memset(&res, 0, sizeof res);
    res.struct_size = sizeof res;
    res.text = "";
    res.error_message = why && *why ? why : llmrt_strerror(status);
    j->cbs.on_done(NULL, status, &res, j->user);
  } else if (j->kind == JOB_POST) {
    j->fn(NULL, j->arg);
  }
  job_free(j);
}

static void run_job(llmrt_thread_t *th, job_t *j) {
  if (j->kind == JOB_POST) {
    j->fn(th->rt, j->arg);
    job_free(j);
  } else if (j->kind == JOB_CANCEL) {
    for (job_t *a = th->active; a; a = a->next)
      if (a->ticket == j->ticket) {
        /* LLMRT_EINVAL: it ended already; nothing to do. */
        (void)llmrt_cancel(th->rt, a->call_id);
        break;
      }
    job_free(j);
  } else {
    llmrt_callbacks_t w = {w_token, w_event, w_done};
    int r = llmrt_call(th->rt, &j->req.req, &w, j, &j->call_id);
    /* llmrt_call made its own copy: wipe ours (and the key) now. */
    llmrt__thread_req_free(&j->req);
    if (r) {
      end_unstarted(j, r, llmrt_errmsg(th->rt));
      return;
    }
    j->prev = NULL;
    j->next = th->active;
    if (th->active) th->active->prev = j;
    th->active = j;
  }
}

static void on_async_closed(uv_handle_t *h) {
  (void)h;
}

/* Takes the whole queue under the lock and runs it. Once `stopping` is seen,
 * what is left ends with LLMRT_ESHUTDOWN and the runtime closes. */
static void on_async(uv_async_t *a) {
  llmrt_thread_t *th = a->data;
  for (;;) {
    uv_mutex_lock(&th->mu);
    job_t *q = th->head;
    th->head = th->tail = NULL;
    int stopping = th->stopping;
    uv_mutex_unlock(&th->mu);
    if (!q && !stopping) return;
    while (q) {
      job_t *j = q;
      q = j->next;
      j->next = NULL;
      if (th->closing)
        end_unstarted(j, LLMRT_ESHUTDOWN, NULL);
      else
        run_job(th, j);
      /* A job may have asked to stop (llmrt_thread_stop in a post or in
       * on_done): the rest then ends with LLMRT_ESHUTDOWN. */
      if (!th->closing) {
        uv_mutex_lock(&th->mu);
        int s = th->stopping;
        uv_mutex_unlock(&th->mu);
        if (s) th->closing = 1;
      }
    }
    if (!stopping && !th->closing) return;
    th->closing = 1;
    /* Stopping: the lock was taken after `stopping` was set, so the queue
     * taken next is the last one anything will ever add to. */
    uv_mutex_lock(&th->mu);
    int empty = th->head == NULL;
    uv_mutex_unlock(&th->mu);
    if (!empty) continue;
    if (!uv_is_closing((uv_handle_t *)a)) {
      uv_close((uv_handle_t *)a, on_async_closed);
      llmrt_close(th->rt, NULL, NULL);
    }
    return;
  }
}

static void thread_main(void *arg) {
  llmrt_thread_t *th = arg;
  th->self = uv_thread_self();
  int r = uv_loop_init(&th->loop);
  if (r) {
    if (th->errbuf && th->errlen)
      snprintf(th->errbuf, th->errlen, "uv_loop_init: %s", uv_strerror(r));
    th->start_status = r;
    uv_sem_post(&th->ready);
    return;
  }
  r = llmrt_new(&th->loop, th->opts, &th->rt);
  if (!r && th->config)
    r = llmrt_configure(th->rt, th->config, th->errbuf, th->errlen);
  else if (r && th->errbuf && th->errlen)
    snprintf(th->errbuf, th->errlen, "llmrt_new: %s", llmrt_strerror(r));
  if (!r) {
    r = uv_async_init(&th->loop, &th->async, on_async);
    if (r && th->errbuf && th->errlen)
      snprintf(th->errbuf, th->errlen, "uv_async_init: %s", uv_strerror(r));
    th->async.data = th;
  }
  th->start_status = r;
  if (r) {
    if (th->rt) llmrt_close(th->rt, NULL, NULL);
    uv_run(&th->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&th->loop);
    uv_sem_post(&th->ready);
    return;
  }
  th->opts = NULL;
  th->config = NULL;
  th->errbuf = NULL;
  uv_sem_post(&th->ready);
  uv_run(&th->loop, UV_RUN_DEFAULT);
  /* Every handle is closed (the runtime's and ours): nothing can fail here
   * but a bug of ours, and there is nothing better to do than leave it. */
  (void)uv_loop_close(&th->loop);
}

/* ---- Any thread's side ---- */

int llmrt_thread_start(const llmrt_options_t *opts, const char *config_json, char *errbuf,
                       size_t errlen, llmrt_thread_t **out) {
  if (!out) return LLMRT_EINVAL;
  if (errbuf && errlen) errbuf[0] = '\0';
  llmrt_thread_t *th = llmrt__calloc(1, sizeof *th);
  if (!th) return LLMRT_ENOMEM;
  int r = uv_mutex_init(&th->mu);
  if (r) goto fail_mu;
  r = uv_sem_init(&th->ready, 0);
  if (r) goto fail_sem;
  th->opts = opts;
  th->config = config_json;
  th->errbuf = errbuf;
  th->errlen = errlen;
  th->next_ticket = 1;
  r = uv_thread_create(&th->thread, thread_main, th);
  if (r) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "uv_thread_create: %s", uv_strerror(r));
    goto fail_thread;
  }
  uv_sem_wait(&th->ready);
  r = th->start_status;
  if (r) {
    uv_thread_join(&th->thread);
    goto fail_thread;
  }
  *out = th;
  return 0;
fail_thread:
  uv_sem_destroy(&th->ready);
fail_sem:
  uv_mutex_destroy(&th->mu);
fail_mu:
  llmrt__free(th);
  return r;
}

/* Appends j, or refuses when stopping. See the top of the file for why the
 * send happens under the lock. */
static int submit(llmrt_thread_t *th, job_t *j, uint64_t *ticket, uint64_t *ticket2) {
  uv_mutex_lock(&th->mu);
  if (th->stopping) {
    uv_mutex_unlock(&th->mu);
    return LLMRT_ESHUTDOWN;
  }
  if (j->kind == JOB_CALL) j->ticket = th->next_ticket++;
  if (ticket) *ticket = j->ticket;
  if (ticket2) *ticket2 = j->ticket;
  if (th->tail)
    th->tail->next = j;
  else
    th->head = j;
  th->tail = j;
  int r = uv_async_send(&th->async);
  uv_mutex_unlock(&th->mu);
  /* uv_async_send fails only for a handle not initialized: never here. */
  (void)r;
  return 0;
}

int llmrt__thread_call(llmrt_thread_t *th, const llmrt_request_t *req, const llmrt_callbacks_t *cbs,
                       void *user, uint64_t *ticket, uint64_t *ticket2) {
  if (!th || !req || !cbs || !cbs->on_done) return LLMRT_EINVAL;
  job_t *j = llmrt__calloc(1, sizeof *j);
  if (!j) return LLMRT_ENOMEM;
  int r = llmrt__thread_req_copy(&j->req, req);
  if (r) {
    llmrt__free(j);
    return r;
  }
  j->kind = JOB_CALL;
  j->th = th;
  j->cbs = *cbs;
  j->user = user;
  r = submit(th, j, ticket, ticket2);
  if (r) job_free(j);
  return r;
}

int llmrt_thread_call(llmrt_thread_t *th, const llmrt_request_t *req, const llmrt_callbacks_t *cbs,
                      void *user, uint64_t *ticket) {
  return llmrt__thread_call(th, req, cbs, user, ticket, NULL);
}

int llmrt_thread_cancel(llmrt_thread_t *th, uint64_t ticket) {
  if (!th) return LLMRT_EINVAL;
  job_t *j = llmrt__calloc(1, sizeof *j);
  if (!j) return LLMRT_ENOMEM;
  j->kind = JOB_CANCEL;
  j->th = th;
  j->ticket = ticket;
  int r = submit(th, j, NULL, NULL);
  if (r) job_free(j);
  return r;
}

int llmrt_thread_post(llmrt_thread_t *th, void (*fn)(llmrt_t *rt, void *arg), void *arg) {
  if (!th || !fn) return LLMRT_EINVAL;
  job_t *j = llmrt__calloc(1, sizeof *j);
  if (!j) return LLMRT_ENOMEM;
  j->kind = JOB_POST;
  j->th = th;
  j->fn = fn;
  j->arg = arg;
  int r = submit(th, j, NULL, NULL);
  if (r) job_free(j);
  return r;
}

typedef struct {
  const char *json;
  char *errbuf;
  size_t errlen;
  int status;
  uv_sem_t done;
} configure_job_t;

static void do_configure(llmrt_t *rt, void *arg) {
  configure_job_t *c = arg;
  if (!rt) {
    c->status = LLMRT_ESHUTDOWN;
    if (c->errbuf && c->errlen) snprintf(c->errbuf, c->errlen, "%s", llmrt_strerror(c->status));
  } else {
    c->status = llmrt_configure(rt, c->json, c->errbuf, c->errlen);
  }
  uv_sem_post(&c->done);
}

int llmrt_thread_configure(llmrt_thread_t *th, const char *json, char *errbuf, size_t errlen) {
  if (!th || !json || llmrt__thread_is_self(th)) return LLMRT_EINVAL;
  configure_job_t c;
  memset(&c, 0, sizeof c);
  c.json = json;
  c.errbuf = errbuf;
  c.errlen = errlen;
  if (uv_sem_init(&c.done, 0)) return LLMRT_ENOMEM;
  int r = llmrt_thread_post(th, do_configure, &c);
  if (!r) {
    uv_sem_wait(&c.done);
    r = c.status;
  } else if (errbuf && errlen) {
    snprintf(errbuf, errlen, "%s", llmrt_strerror(r));
  }
  uv_sem_destroy(&c.done);
  return r;
}

void llmrt_thread_stop(llmrt_thread_t *th) {
  if (!th) return;
  uv_mutex_lock(&th->mu);
  if (!th->stopping) {
    th->stopping = 1;
    (void)uv_async_send(&th->async);
  }
  uv_mutex_unlock(&th->mu);
}

int llmrt_thread_join(llmrt_thread_t *th) {
  if (!th) return LLMRT_EINVAL;
  if (llmrt__thread_is_self(th)) return LLMRT_EINVAL;
  llmrt_thread_stop(th);
  uv_thread_join(&th->thread);
  uv_sem_destroy(&th->ready);
  uv_mutex_destroy(&th->mu);
  llmrt__free(th);
  return 0;
}
