/* The host function table handed to every plugin's entry point. Each
 * function checks that it is called in a state where it makes sense, so a
 * confused plugin gets LLMRT_EINVAL instead of corrupting a call. */
#include <string.h>

#include "call.h"

static void *h_call_state(llmrt_ctx_t *x) {
  return x->state;
}

static void *h_plugin_state(llmrt_ctx_t *x) {
  return x->p->state;
}

static llmrt_plugin_rt_t *h_plugin_rt(llmrt_ctx_t *x) {
  return x->p;
}

static const llmrt_request_t *h_request(llmrt_ctx_t *x) {
  return &x->call->req;
}

static int h_set_request(llmrt_ctx_t *x, const llmrt_request_t *req) {
  llmrt_call_t *c = x->call;
  if (!req || c->state == CALL_DONE || c->state == CALL_UPSTREAM) return LLMRT_EINVAL;
  if (!req->model || !req->messages || !req->n_messages) return LLMRT_EINVAL;
  return llmrt__call_copy_request(c, req);
}

static const char *h_upstream(llmrt_ctx_t *x) {
  llmrt_call_t *c = x->call;
  const llmrt__upstream_t *up = llmrt__upstream_find(c->ch, c->req.upstream);
  return up ? up->name : "";
}

static const char *h_key_id(llmrt_ctx_t *x) {
  llmrt_call_t *c = x->call;
  const llmrt__upstream_t *up = llmrt__upstream_find(c->ch, c->req.upstream);
  return up ? up->key_id : "";
}

static int h_attempt(llmrt_ctx_t *x) {
  return x->call->attempts;
}

/* A plugin answers while running its on_request/on_error or while paused. */
static int may_answer(llmrt_ctx_t *x) {
  llmrt_call_t *c = x->call;
  if (c->state == CALL_DONE || c->pos != x->index) return 0;
  return c->state == CALL_REQUEST || c->state == CALL_PAUSED;
}

static int h_emit(llmrt_ctx_t *x, const llmrt_event_t *ev) {
  llmrt_call_t *c = x->call;
  if (!ev || c->state == CALL_DONE) return LLMRT_EINVAL;
  if (c->halted) return LLMRT_ECANCELED;
  int in_event = c->state == CALL_UPSTREAM || c->answering >= 0;
  if (!may_answer(x) && !in_event) return LLMRT_EINVAL;
  if (may_answer(x)) c->answering = (int)x->index;
  llmrt_event_t copy = *ev;
  x->emitted = 1;
  return llmrt__call_dispatch(c, (int)x->index - 1, &copy);
}

static int h_respond(llmrt_ctx_t *x, const llmrt_result_t *res) {
  llmrt_call_t *c = x->call;
  if (!res || !may_answer(x)) return LLMRT_EINVAL;
  if (c->halted) return LLMRT_ECANCELED;
  /* Content from upstream already reached the user through this plugin: an
   * answer now would pass a truncated stream off as complete. */
  if (x->passed) return LLMRT_EBUSY;
  c->answering = (int)x->index;
  if (res->text && !c->text_emitted) {
    llmrt_event_t ev = {0};
    ev.type = LLMRT_EV_TEXT;
    ev.text = res->text;
    ev.len = res->text_len ? res->text_len : strlen(res->text);
    x->emitted = 1;
    int r = llmrt__call_dispatch(c, (int)x->index - 1, &ev);
    if (r) return r;
  }
  if (res->finish_reason && !c->has_finish) {
    size_t n = strlen(res->finish_reason);
    if (n >= sizeof c->finish_reason) n = sizeof c->finish_reason - 1;
    memcpy(c->finish_reason, res->finish_reason, n);
    c->finish_reason[n] = '\0';
    c->has_finish = 1;
  }
  if (res->model) llmrt__call_set_str(&c->model, res->model, strlen(res->model));
  if (res->input_tokens) c->input_tokens = res->input_tokens;
  if (res->output_tokens) c->output_tokens = res->output_tokens;
  if (res->cached_tokens) c->cached_tokens = res->cached_tokens;
  c->cache_hit = res->cache_hit;
  if (c->state == CALL_PAUSED) llmrt__call_act(c, ACT_RESPOND);
  /* Inside the hook: completion follows when it returns LLMRT_STOP. */
  return 0;
}

static int h_resume(llmrt_ctx_t *x) {
  llmrt_call_t *c = x->call;
  if (c->state == CALL_DONE || c->pos != x->index) return LLMRT_EINVAL;
  if (c->state != CALL_PAUSED && !(c->state == CALL_REQUEST && c->in_hook)) return LLMRT_EINVAL;
  /* Always on the next loop turn: inside the hook that is about to return
   * LLMRT_PAUSE (it takes effect only if the hook does pause), and
   * elsewhere so the plugin's stack unwinds first. */
  c->resume_for = (int)x->index;
  if (c->state == CALL_PAUSED) llmrt__call_act(c, ACT_RESUME);
  return 0;
}

static int h_retry(llmrt_ctx_t *x, uint32_t delay_ms) {
  llmrt_call_t *c = x->call;
  if (c->rt->closing) return LLMRT_ESHUTDOWN;
  if (x->passed || x->emitted) return LLMRT_EBUSY;
  if (!may_answer(x)) return LLMRT_EINVAL;
  /* Only from on_error, or while paused in it. */
  if (c->state == CALL_PAUSED ? !c->pause_in_error : !c->in_error) return LLMRT_EINVAL;
  c->retry_delay_ms = delay_ms;
  if (c->state == CALL_PAUSED)
    llmrt__call_act(c, ACT_RETRY);
  else
    c->retry_asked = 1;
  return 0;
}

static int h_fail(llmrt_ctx_t *x, int err, const char *msg) {
  llmrt_call_t *c = x->call;
  if (c->state != CALL_PAUSED || c->pos != x->index || err >= 0) return LLMRT_EINVAL;
  char buf[512];
  snprintf(buf, sizeof buf, "plugin %s: %s", x->p->label, msg ? msg : llmrt_strerror(err));
  llmrt__call_set_str(&c->error_message, buf, strlen(buf));
  c->fail_err = err;
  llmrt__call_act(c, ACT_FAIL);
  return 0;
}

const llmrt_host_t llmrt__host = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_host_t),
    .call_state = h_call_state,
    .plugin_state = h_plugin_state,
    .plugin_rt = h_plugin_rt,
    .request = h_request,
    .set_request = h_set_request,
    .upstream = h_upstream,
    .key_id = h_key_id,
    .attempt = h_attempt,
    .emit = h_emit,
    .respond = h_respond,
    .resume = h_resume,
    .retry = h_retry,
    .fail = h_fail,
    .timer_start = llmrt__timer_start,
    .timer_stop = llmrt__timer_stop,
    .now_ms = llmrt__plugin_now_ms,
    .log = llmrt__plugin_log,
    .metric = llmrt__plugin_metric,
    .metric_add = llmrt__metric_add,
    .metric_set = llmrt__metric_set,
    .metric_observe = llmrt__metric_observe,
};
