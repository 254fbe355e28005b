/* The host function table handed to every plugin's entry point. Which
 * functions a call's state allows is one table (allowed[] below), checked
 * in one place (may()), so a confused plugin gets LLMRT_EINVAL instead of
 * corrupting a call. docs/plugins.md prints the same table. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "call.h"
#include "metrics.h"

enum {
  OP_SET_REQUEST = 1 << 0, /* set_request, set_header */
  OP_EMIT = 1 << 1,
  OP_RESPOND = 1 << 2,
  OP_RESUME = 1 << 3,
  OP_RETRY = 1 << 4,
  OP_FAIL = 1 << 5,
  OP_WAIT = 1 << 6, /* call_timer_start */
  OP_ATTR = 1 << 7, /* attr_set_* */
};

#define OPS_ANSWER (OP_SET_REQUEST | OP_EMIT | OP_RESPOND | OP_RESUME | OP_FAIL | OP_WAIT | OP_ATTR)
static const unsigned allowed[CALL_NSTATES] = {
    [CALL_NEW] = 0,
    [CALL_REQUEST] = OPS_ANSWER,
    [CALL_REQ_PAUSED] = OPS_ANSWER,
    [CALL_UPSTREAM] = OP_EMIT | OP_RESUME | OP_FAIL | OP_WAIT | OP_ATTR,
    [CALL_EVT_PAUSED] = OP_EMIT | OP_RESUME | OP_FAIL | OP_WAIT | OP_ATTR,
    [CALL_ERROR] = OPS_ANSWER | OP_RETRY,
    [CALL_ERR_PAUSED] = OPS_ANSWER | OP_RETRY,
    [CALL_RETRY_WAIT] = OP_FAIL | OP_WAIT | OP_ATTR,
    [CALL_COMPLETING] = 0,
    [CALL_DONE] = 0,
};

/* The plugin whose request or error hook runs, or who is paused there. */
static int is_current(const llmrt_ctx_t *x) {
  const llmrt_call_t *c = x->call;
  llmrt__call_state_t s = c->state;
  return c->pos == x->index &&
         (s == CALL_REQUEST || s == CALL_REQ_PAUSED || s == CALL_ERROR || s == CALL_ERR_PAUSED);
}

static int in_event(const llmrt_ctx_t *x) {
  const llmrt_call_t *c = x->call;
  return c->evt_hook == (int)x->index || c->flow_pauser == (int)x->index;
}

/* 0 when x may do op now, else the error to return. */
static int may(const llmrt_ctx_t *x, unsigned op) {
  const llmrt_call_t *c = x->call;
  if (!(allowed[c->state] & op)) return LLMRT_EINVAL;
  if (c->halted && op != OP_ATTR) return LLMRT_ECANCELED;
  switch (op) {
  case OP_SET_REQUEST:
  case OP_RESPOND:
  case OP_RETRY:
    return is_current(x) ? 0 : LLMRT_EINVAL;
  case OP_EMIT:
    return is_current(x) || in_event(x) ? 0 : LLMRT_EINVAL;
  default:
    return 0;
  }
}

/* ---- The call ---- */

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
  int r = may(x, OP_SET_REQUEST);
  if (r) return r;
  if (!req) return LLMRT_EINVAL;
  char why[200];
  /* The client's raw body stays only while nothing that shapes the body
   * changed (types.h, raw_body): a plugin that copied the request from
   * host->request and changed routing fields hands back the same pointers. */
  const llmrt_request_t *cur = &x->call->req;
  int keep_raw = cur->raw_body && LLMRT_HAS_FIELD(req, llmrt_request_t, raw_api) &&
                 req->raw_body == cur->raw_body && req->messages == cur->messages &&
                 req->n_messages == cur->n_messages && req->max_tokens == cur->max_tokens &&
                 req->temperature == cur->temperature && req->top_p == cur->top_p &&
                 req->stop == cur->stop && req->n_stop == cur->n_stop && req->seed == cur->seed &&
                 req->has_seed == cur->has_seed && req->stream == cur->stream &&
                 req->extra_json == cur->extra_json;
  int same_raw_ptr = cur->raw_body && LLMRT_HAS_FIELD(req, llmrt_request_t, raw_api) &&
                     req->raw_body == cur->raw_body;
  llmrt_call_t *c = x->call;
  const llmrt__upstream_t *before = llmrt__upstream_find(c->cf, cur->upstream);
  r = llmrt__call_copy_request(c, req, why, sizeof why);
  /* A per-call key belongs to the upstream the caller chose: a plugin that
   * moves the call elsewhere (a fallback to another provider) must not send
   * it there. Without a key of its own in req, the call then uses the new
   * upstream's configured key, and its key identity follows. */
  const llmrt__upstream_t *after = r ? before : llmrt__upstream_find(c->cf, c->req.upstream);
  if (!r && after != before && !req->api_key) {
    llmrt__secret_free(c->api_key);
    c->api_key = NULL;
    memcpy(c->key_id, after ? after->key_id : "", after ? 17 : 1);
  }
  if (!r && same_raw_ptr && !keep_raw) {
    x->call->req.raw_body = NULL;
    x->call->req.raw_body_len = 0;
    x->call->req.raw_api = NULL;
  }
  if (r == LLMRT_EINVAL)
    llmrt__log(x->call->rt, LLMRT_LOG_WARN, "plugin %s: set_request: %s", x->p->label, why);
  return r;
}

static int h_set_header(llmrt_ctx_t *x, const char *name, const char *value) {
  llmrt_call_t *c = x->call;
  int r = may(x, OP_SET_REQUEST);
  if (r) return r;
  if (!name || !llmrt__header_name_ok(name) || llmrt__header_reserved(name)) return LLMRT_EINVAL;
  if (value && !llmrt__header_value_ok(value)) return LLMRT_EINVAL;
  unsigned i = 0;
  while (i < c->n_xhdrs && strcasecmp(c->xhdrs[i].name, name))
    i++;
  if (i == c->n_xhdrs && c->n_xhdrs == LLMRT__MAX_XHDRS) return LLMRT_EBUSY;
  char *v = value ? llmrt__strdup(value) : NULL;
  char *nm = i == c->n_xhdrs ? llmrt__strdup(name) : NULL;
  if ((value && !v) || (i == c->n_xhdrs && !nm)) {
    llmrt__free(v);
    llmrt__free(nm);
    return LLMRT_ENOMEM;
  }
  if (i == c->n_xhdrs) c->xhdrs[c->n_xhdrs++].name = nm;
  llmrt__free(c->xhdrs[i].value);
  c->xhdrs[i].value = v;
  return 0;
}

static const llmrt__upstream_t *up_of(const llmrt_ctx_t *x) {
  return llmrt__upstream_find(x->call->cf, x->call->req.upstream);
}

static const char *h_upstream(llmrt_ctx_t *x) {
  const llmrt__upstream_t *up = up_of(x);
  return up ? up->name : "";
}

static int h_upstream_info(llmrt_ctx_t *x, llmrt_upstream_info_t *out) {
  const llmrt__upstream_t *up = up_of(x);
  if (!out || out->struct_size < offsetof(llmrt_upstream_info_t, tls) + sizeof(int) || !up)
    return LLMRT_EINVAL;
  out->name = up->name;
  out->provider = up->provider->name;
  out->host = up->host;
  out->port = up->port;
  out->tls = up->tls;
  return 0;
}

static const char *h_key_id(llmrt_ctx_t *x) {
  const llmrt_call_t *c = x->call;
  if (c->api_key) return c->key_id;
  const llmrt__upstream_t *up = up_of(x);
  return up ? up->key_id : "";
}

static int h_attempt(llmrt_ctx_t *x) {
  return x->call->attempts;
}

static int h_last_error(llmrt_ctx_t *x, llmrt_error_info_t *out) {
  const llmrt_call_t *c = x->call;
  if (!out || out->struct_size < offsetof(llmrt_error_info_t, message) + sizeof(char *))
    return LLMRT_EINVAL;
  int failing = c->state == CALL_ERROR || c->state == CALL_ERR_PAUSED;
  out->code = failing ? c->err : 0;
  out->http_status = c->http_status;
  out->type = failing ? c->error_type : NULL;
  out->message = failing ? c->error_message : NULL;
  return 0;
}

/* ---- Attributes ---- */

static int attr_name_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) {
    char ch = s[n];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.')) return 0;
  }
  return n > 0 && n < 64;
}

static llmrt__attr_t *attr_slot(llmrt_call_t *c, const char *name, int make, int *err) {
  for (unsigned i = 0; i < c->n_attrs; i++)
    if (!strcmp(c->attrs[i].name, name)) return &c->attrs[i];
  if (!make) return NULL;
  if (c->n_attrs == LLMRT__MAX_ATTRS) {
    *err = LLMRT_EBUSY;
    return NULL;
  }
  char *nm = llmrt__strdup(name);
  if (!nm) {
    *err = LLMRT_ENOMEM;
    return NULL;
  }
  llmrt__attr_t *a = &c->attrs[c->n_attrs++];
  memset(a, 0, sizeof *a);
  a->name = nm;
  return a;
}

static int attr_set(llmrt_ctx_t *x, const char *name, const char *str, double num) {
  llmrt_call_t *c = x->call;
  if (!(allowed[c->state] & OP_ATTR)) return LLMRT_EINVAL;
  if (!name || !attr_name_ok(name)) return LLMRT_EINVAL;
  char *v = str ? llmrt__strdup(str) : NULL;
  if (str && !v) return LLMRT_ENOMEM;
  int err = 0;
  llmrt__attr_t *a = attr_slot(c, name, 1, &err);
  if (!a) {
    llmrt__free(v);
    return err;
  }
  llmrt__free(a->str);
  a->str = v;
  a->num = str ? 0 : num;
  return 0;
}

static int h_attr_set_str(llmrt_ctx_t *x, const char *name, const char *value) {
  return value ? attr_set(x, name, value, 0) : LLMRT_EINVAL;
}

static int h_attr_set_num(llmrt_ctx_t *x, const char *name, double value) {
  return attr_set(x, name, NULL, value);
}

static int h_attr_get(llmrt_ctx_t *x, const char *name, const char **str, double *num) {
  if (!name) return 0;
  int err = 0;
  llmrt__attr_t *a = attr_slot(x->call, name, 0, &err);
  if (!a) return 0;
  if (a->str) {
    if (str) *str = a->str;
    return 1;
  }
  if (num) *num = a->num;
  return 2;
}

/* ---- Answering and flow control ---- */

static int h_emit(llmrt_ctx_t *x, const llmrt_event_t *ev) {
  int r = may(x, OP_EMIT);
  if (r) return r;
  if (!ev) return LLMRT_EINVAL;
  llmrt_call_t *c = x->call;
  if (is_current(x)) c->answering = (int)x->index;
  llmrt_event_t copy;
  memset(&copy, 0, sizeof copy);
  size_t n = ev->struct_size ? ev->struct_size : LLMRT__V2_SIZE_llmrt_event_t;
  memcpy(&copy, ev, n < sizeof copy ? n : sizeof copy);
  x->emitted = 1;
  return llmrt__flow_event(c, (int)x->index - 1, &copy);
}

static int h_respond(llmrt_ctx_t *x, const llmrt_result_t *res) {
  llmrt_call_t *c = x->call;
  int r = may(x, OP_RESPOND);
  if (r) return r;
  if (!res) return LLMRT_EINVAL;
  /* Content from upstream already reached the user through this plugin: an
   * answer now would pass a truncated stream off as complete. */
  if (x->passed) return LLMRT_EBUSY;
  llmrt_result_t rs;
  memset(&rs, 0, sizeof rs);
  size_t n = res->struct_size ? res->struct_size : LLMRT__V2_SIZE_llmrt_result_t;
  memcpy(&rs, res, n < sizeof rs ? n : sizeof rs);
  c->answering = (int)x->index;
  if (rs.text && !c->text_emitted) {
    llmrt_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.type = LLMRT_EV_TEXT;
    ev.text = rs.text;
    ev.len = rs.text_len ? rs.text_len : strlen(rs.text);
    x->emitted = 1;
    r = llmrt__flow_event(c, (int)x->index - 1, &ev);
    if (r) return r;
  }
  if (rs.finish_reason && !c->has_finish) {
    snprintf(c->finish_reason, sizeof c->finish_reason, "%s", rs.finish_reason);
    c->has_finish = 1;
  }
  if (rs.model) llmrt__call_set_str(&c->model, rs.model, strlen(rs.model));
  if (rs.input_tokens) c->input_tokens = rs.input_tokens;
  if (rs.output_tokens) c->output_tokens = rs.output_tokens;
  if (rs.cached_tokens) c->cached_tokens = rs.cached_tokens;
  c->cache_hit = rs.cache_hit;
  if (c->state == CALL_REQ_PAUSED || c->state == CALL_ERR_PAUSED) llmrt__call_act(c, ACT_RESPOND);
  /* Inside the hook: completion follows when it returns LLMRT_STOP. */
  return 0;
}

static int h_resume(llmrt_ctx_t *x) {
  llmrt_call_t *c = x->call;
  int r = may(x, OP_RESUME);
  if (r) return r;
  int i = (int)x->index;
  if (c->flow_pauser == i) {
    c->flow_pauser = -1;
    llmrt__call_act(c, ACT_DRAIN);
    return 0;
  }
  /* Inside the hook that is about to return LLMRT_PAUSE (it takes effect
   * only if the hook does pause), or while paused in request or error:
   * always on a later loop turn, so the plugin's stack unwinds first. */
  int paused = c->state == CALL_REQ_PAUSED || c->state == CALL_ERR_PAUSED;
  if (c->evt_hook == i || (is_current(x) && (paused || c->in_hook))) {
    c->resume_for = i;
    if (paused) llmrt__call_act(c, ACT_RESUME);
    return 0;
  }
  return LLMRT_EINVAL;
}

static int h_retry(llmrt_ctx_t *x, uint32_t delay_ms) {
  llmrt_call_t *c = x->call;
  if (c->rt->closing) return LLMRT_ESHUTDOWN;
  int r = may(x, OP_RETRY);
  if (r) return r;
  if (x->passed || x->emitted) return LLMRT_EBUSY;
  c->retry_delay_ms = delay_ms;
  if (c->state == CALL_ERR_PAUSED)
    llmrt__call_act(c, ACT_RETRY);
  else
    c->retry_asked = 1;
  return 0;
}

static int h_fail(llmrt_ctx_t *x, int err, const char *msg) {
  llmrt_call_t *c = x->call;
  int r = may(x, OP_FAIL);
  if (r) return r;
  if (err >= 0) return LLMRT_EINVAL;
  char buf[512];
  snprintf(buf, sizeof buf, "plugin %s: %s", x->p->label, msg ? msg : llmrt_strerror(err));
  llmrt__utf8_trim(buf);
  llmrt__call_set_str(&c->error_message, buf, strlen(buf));
  c->fail_err = err;
  c->fail_from = (int)x->index;
  /* The wire stops now; the error walks outward on the next turn. */
  llmrt__attempt_abort(c);
  llmrt__call_act(c, ACT_FAIL);
  return 0;
}

/* ---- Waiting ---- */

static int h_call_timer_start(llmrt_ctx_t *x, uint64_t timeout_ms, uint64_t repeat_ms,
                              void (*cb)(llmrt_timer_t *t, void *arg), void *arg,
                              llmrt_timer_t **out) {
  if (out) *out = NULL;
  llmrt_call_t *c = x->call;
  if (!(allowed[c->state] & OP_WAIT)) return LLMRT_EINVAL;
  return llmrt__timer_start_on(c->rt, &c->timers, timeout_ms, repeat_ms, cb, arg, out);
}

/* ---- Memory ---- */

static void *h_malloc(size_t n) {
  return llmrt__malloc(n);
}
static void *h_calloc(size_t count, size_t n) {
  return llmrt__calloc(count, n);
}
static void *h_realloc(void *p, size_t n) {
  return llmrt__realloc(p, n);
}
static void h_free(void *p) {
  llmrt__free(p);
}

/* ---- Configuration ---- */

static const llmrt__upstream_t *ups_find(const llmrt_plugin_rt_t *p, const char *name) {
  for (size_t i = 0; name && i < p->n_ups; i++)
    if (strcmp(p->ups[i].name, name) == 0) return &p->ups[i];
  return NULL;
}

static int h_upstream_lookup(llmrt_plugin_rt_t *p, const char *name, llmrt_upstream_info_t *out) {
  if (!p || !out || out->struct_size < offsetof(llmrt_upstream_info_t, tls) + sizeof(int))
    return LLMRT_EINVAL;
  const llmrt__upstream_t *up = ups_find(p, name);
  if (!up) return LLMRT_ENOUPSTREAM;
  out->name = up->name;
  out->provider = up->provider->name;
  out->host = up->host;
  out->port = up->port;
  out->tls = up->tls;
  return 0;
}

static int h_upstream_alias(llmrt_plugin_rt_t *p, const char *name) {
  if (!p || !p->in_init || !name || !*name || strlen(name) > 255 || ups_find(p, name))
    return LLMRT_EINVAL;
  for (size_t i = 0; i < p->n_aliases; i++)
    if (strcmp(p->aliases[i], name) == 0) return 0;
  char **a = llmrt__realloc(p->aliases, (p->n_aliases + 1) * sizeof *a);
  if (!a) return LLMRT_ENOMEM;
  p->aliases = a;
  if (!(a[p->n_aliases] = llmrt__strdup(name))) return LLMRT_ENOMEM;
  p->n_aliases++;
  return 0;
}

static int h_add_queued_us(llmrt_ctx_t *x, uint64_t us) {
  llmrt_call_t *c = x->call;
  if (c->state == CALL_NEW || c->state == CALL_COMPLETING || c->state == CALL_DONE)
    return LLMRT_EINVAL;
  c->timings.queued_us += us;
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
    .set_header = h_set_header,
    .upstream = h_upstream,
    .upstream_info = h_upstream_info,
    .key_id = h_key_id,
    .attempt = h_attempt,
    .last_error = h_last_error,
    .attr_set_str = h_attr_set_str,
    .attr_set_num = h_attr_set_num,
    .attr_get = h_attr_get,
    .emit = h_emit,
    .respond = h_respond,
    .resume = h_resume,
    .retry = h_retry,
    .fail = h_fail,
    .timer_start = llmrt__timer_start,
    .timer_stop = llmrt__timer_stop,
    .now_ms = llmrt__plugin_now_ms,
    .call_timer_start = h_call_timer_start,
    .wake_new = llmrt__wake_new,
    .wake_send = llmrt__wake_send,
    .wake_free = llmrt__wake_free,
    .watch_start = llmrt__watch_start,
    .watch_set = llmrt__watch_set,
    .watch_stop = llmrt__watch_stop,
    .log = llmrt__plugin_log,
    .metric = llmrt__plugin_metric,
    .metric_add = llmrt__metric_add,
    .metric_set = llmrt__metric_set,
    .metric_observe = llmrt__metric_observe,
    .malloc = h_malloc,
    .calloc = h_calloc,
    .realloc = h_realloc,
    .free = h_free,
    .metric_new = llmrt__plugin_metric_new,
    .metric_merge = llmrt__metric_merge,
    .call_metrics = llmrt__host_call_metrics,
    .count_tokens = llmrt__host_count_tokens,
    .count_request_tokens = llmrt__host_count_request_tokens,
    .upstream_lookup = h_upstream_lookup,
    .upstream_alias = h_upstream_alias,
    .add_queued_us = h_add_queued_us,
};
