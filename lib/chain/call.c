/* The call's public API: llmrt_call and the functions on a call, the
 * request copy (one block for the request and all its strings), call ids,
 * and the call blocks: one allocation holds the call, the plugins'
 * contexts, their per-call states and the stream decoder state, and
 * finished blocks are kept for reuse.
 *
 * A call pointer is valid while the call runs; an id is valid forever (a
 * stale id finds nothing), so a block can be reused without a stale handle
 * ever reaching another call. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "call.h"
#include "copy.h"

#define MAX_REQ_HEADERS 64

void llmrt__call_set_str(char **dst, const char *s, size_t n) {
  llmrt__free(*dst);
  *dst = s ? llmrt__strndup(s, n) : NULL;
}

/* ---- Request copy ---- */

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), LLMRT_EINVAL)

static int check_request(const llmrt_request_t *r, const llmrt_message_t *msgs, char *why,
                         size_t whylen) {
  if (!r->model || !*r->model) return WHY("model is NULL or empty");
  if (!r->n_messages || !r->messages) return WHY("messages is NULL or n_messages is 0");
  for (size_t i = 0; i < r->n_messages; i++) {
    const llmrt_message_t *m = &msgs[i];
    if (!m->role) return WHY("messages[%zu].role is NULL", i);
    if (!m->content && !m->content_json && !(m->tool_calls_json && !strcmp(m->role, "assistant")))
      return WHY("messages[%zu].content is NULL (allowed only for an assistant turn with "
                 "tool_calls_json)",
                 i);
  }
  if (r->n_stop && !r->stop) return WHY("stop is NULL but n_stop is %zu", r->n_stop);
  for (size_t i = 0; i < r->n_stop; i++)
    if (!r->stop[i]) return WHY("stop[%zu] is NULL", i);
  if (r->n_headers && !r->headers) return WHY("headers is NULL but n_headers is %zu", r->n_headers);
  if (r->n_headers > MAX_REQ_HEADERS) return WHY("at most %d headers per request", MAX_REQ_HEADERS);
  for (size_t i = 0; i < r->n_headers; i++) {
    const llmrt_header_t *h = &r->headers[i];
    if (!h->name || !llmrt__header_name_ok(h->name))
      return WHY("headers[%zu].name is not a valid HTTP header name", i);
    if (!h->value || !llmrt__header_value_ok(h->value))
      return WHY("headers[%zu].value is NULL or has control characters", i);
    if (llmrt__header_reserved(h->name))
      return WHY("headers[%zu]: %s is set by llmrt itself (keys go in api_key)", i, h->name);
  }
  if (r->api_key && (!*r->api_key || !llmrt__header_value_ok(r->api_key)))
    return WHY("api_key is empty or has control characters");
  return 0;
}

int llmrt__call_copy_request(llmrt_call_t *c, const llmrt_request_t *in, char *why, size_t whylen) {
  if (in->struct_size && in->struct_size < LLMRT__V2_SIZE_llmrt_request_t)
    return WHY("struct_size %u is smaller than any llmrt_request_t", (unsigned)in->struct_size);
  llmrt_request_t r;
  llmrt_request_init(&r);
  llmrt__copy_sized(&r, in, in->struct_size, LLMRT__V2_SIZE_llmrt_request_t, sizeof r);
  r.struct_size = sizeof r;

  /* Messages in the caller's stride, read into ours on the stack first. */
  if (!r.messages || !r.n_messages) return WHY("messages is NULL or n_messages is 0");
  uint32_t ms = r.messages[0].struct_size;
  if (ms && ms < LLMRT__V2_SIZE_llmrt_message_t)
    return WHY("messages[0].struct_size %u is smaller than any llmrt_message_t", (unsigned)ms);
  /* 0 is this header's layout (types.h): an array built with designated
   * initializers has that stride once recompiled. */
  size_t stride = ms ? ms : sizeof(llmrt_message_t);
  if (!ms) ms = (uint32_t)sizeof(llmrt_message_t);
  if (r.n_messages > (SIZE_MAX / 2) / sizeof(llmrt_message_t)) return LLMRT_ENOMEM;
  size_t total = sizeof(llmrt_message_t) * r.n_messages + sizeof(char *) * r.n_stop +
                 sizeof(llmrt_header_t) * r.n_headers;
  llmrt_message_t *msgs = llmrt__malloc(sizeof(llmrt_message_t) * r.n_messages);
  if (!msgs) return LLMRT_ENOMEM;
  for (size_t i = 0; i < r.n_messages; i++) {
    memset(&msgs[i], 0, sizeof msgs[i]);
    llmrt__copy_sized(&msgs[i], (const char *)r.messages + i * stride, ms,
                      LLMRT__V2_SIZE_llmrt_message_t, sizeof msgs[i]);
    msgs[i].struct_size = sizeof msgs[i]; /* plugins see every field of ours */
  }
  int rc = check_request(&r, msgs, why, whylen);
  if (rc) {
    llmrt__free(msgs);
    return rc;
  }

  total += llmrt__copy_sz(r.upstream) + llmrt__copy_sz(r.model) + llmrt__copy_sz(r.extra_json) +
           llmrt__copy_sz(r.tenant);
  size_t rawlen = llmrt__copy_len(r.raw_body, r.raw_body_len);
  if (r.raw_body && r.raw_api) total += rawlen + 1 + llmrt__copy_sz(r.raw_api);
  for (size_t i = 0; i < r.n_messages; i++) {
    const llmrt_message_t *m = &msgs[i];
    size_t clen = llmrt__copy_len(m->content, m->content_len);
    size_t jlen = llmrt__copy_len(m->content_json, m->content_json_len);
    total += llmrt__copy_sz(m->role) + clen + 1 + llmrt__copy_sz(m->name) +
             llmrt__copy_sz(m->tool_call_id) + llmrt__copy_sz(m->tool_calls_json);
    if (m->content_json) total += jlen + 1;
  }
  for (size_t i = 0; i < r.n_stop; i++)
    total += llmrt__copy_sz(r.stop[i]);
  for (size_t i = 0; i < r.n_headers; i++)
    total += llmrt__copy_sz(r.headers[i].name) + llmrt__copy_sz(r.headers[i].value);
  char *block = llmrt__malloc(total + 16);
  char *key = r.api_key ? llmrt__strdup(r.api_key) : NULL;
  if (!block || (r.api_key && !key)) {
    llmrt__free(block);
    llmrt__free(key);
    llmrt__free(msgs);
    return LLMRT_ENOMEM;
  }
  llmrt_message_t *out = (llmrt_message_t *)block;
  const char **stops = (const char **)(out + r.n_messages);
  llmrt_header_t *hdrs = (llmrt_header_t *)(stops + r.n_stop);
  char *at = (char *)(hdrs + r.n_headers);
  r.upstream = llmrt__copy_put_s(&at, r.upstream);
  r.model = llmrt__copy_put_s(&at, r.model);
  r.extra_json = llmrt__copy_put_s(&at, r.extra_json);
  r.tenant = llmrt__copy_put_s(&at, r.tenant);
  if (r.raw_body && r.raw_api) {
    r.raw_body = llmrt__copy_put(&at, r.raw_body, rawlen);
    r.raw_body_len = rawlen;
    r.raw_api = llmrt__copy_put_s(&at, r.raw_api);
  } else {
    r.raw_body = NULL;
    r.raw_body_len = 0;
    r.raw_api = NULL;
  }
  for (size_t i = 0; i < r.n_messages; i++) {
    const llmrt_message_t *m = &msgs[i];
    size_t clen = llmrt__copy_len(m->content, m->content_len);
    out[i] = *m;
    out[i].struct_size = sizeof out[i];
    out[i].role = llmrt__copy_put_s(&at, m->role);
    out[i].content = llmrt__copy_put(&at, m->content ? m->content : "", clen);
    out[i].content_len = clen;
    out[i].name = llmrt__copy_put_s(&at, m->name);
    out[i].tool_call_id = llmrt__copy_put_s(&at, m->tool_call_id);
    out[i].tool_calls_json = llmrt__copy_put_s(&at, m->tool_calls_json);
    if (m->content_json) {
      size_t jlen = llmrt__copy_len(m->content_json, m->content_json_len);
      out[i].content_json = llmrt__copy_put(&at, m->content_json, jlen);
      out[i].content_json_len = jlen;
    }
  }
  for (size_t i = 0; i < r.n_stop; i++)
    stops[i] = llmrt__copy_put_s(&at, r.stop[i]);
  for (size_t i = 0; i < r.n_headers; i++) {
    hdrs[i].name = llmrt__copy_put_s(&at, r.headers[i].name);
    hdrs[i].value = llmrt__copy_put_s(&at, r.headers[i].value);
  }
  llmrt__free(msgs);
  r.messages = out;
  r.stop = r.n_stop ? stops : NULL;
  r.headers = r.n_headers ? hdrs : NULL;
  r.api_key = NULL; /* plugins never see it */
  llmrt__free(c->req_block);
  c->req_block = block;
  c->req = r;
  if (key) {
    llmrt__secret_free(c->api_key);
    c->api_key = key;
    llmrt__key_id(key, c->key_id);
  }
  return 0;
}

/* ---- Ids ---- */

static int slot_take(llmrt__chain_t *ch, llmrt_call_t *c) {
  if (ch->free_slot == UINT32_MAX) {
    uint32_t n = ch->n_slots ? ch->n_slots * 2 : 64;
    if (n > (1u << 24)) return LLMRT_ENOMEM;
    llmrt_call_t **s = llmrt__realloc(ch->slots, n * sizeof *s);
    if (!s) return LLMRT_ENOMEM;
    /* Free slots hold the next free index, tagged in the pointer's place. */
    for (uint32_t i = ch->n_slots; i < n; i++)
      s[i] = (llmrt_call_t *)(uintptr_t)(((uintptr_t)(i + 1 < n ? i + 1 : UINT32_MAX) << 1) | 1);
    ch->free_slot = ch->n_slots;
    ch->slots = s;
    ch->n_slots = n;
  }
  uint32_t i = ch->free_slot;
  uintptr_t v = (uintptr_t)ch->slots[i];
  ch->free_slot = (uint32_t)(v >> 1);
  ch->slots[i] = c;
  c->slot = i;
  c->id = (++ch->seq << 24) | i;
  return 0;
}

static void slot_give(llmrt__chain_t *ch, llmrt_call_t *c) {
  ch->slots[c->slot] = (llmrt_call_t *)(uintptr_t)(((uintptr_t)ch->free_slot << 1) | 1);
  ch->free_slot = c->slot;
}

llmrt_call_t *llmrt_call_get(llmrt_t *rt, uint64_t id) {
  llmrt__chain_t *ch = rt ? rt->chain : NULL;
  if (!ch) return NULL;
  uint32_t i = (uint32_t)(id & 0xffffff);
  if (i >= ch->n_slots || ((uintptr_t)ch->slots[i] & 1)) return NULL;
  llmrt_call_t *c = ch->slots[i];
  if (c->id != id || c->state >= CALL_COMPLETING) return NULL;
  return c;
}

uint64_t llmrt_call_id(const llmrt_call_t *c) {
  return c ? c->id : 0;
}

/* ---- Blocks ---- */

/* The cache is bounded in count and in the capacity a buffer may keep. */
#define CALL_CACHE_MAX 64
#define KEEP_BUF_MAX (64 * 1024)

static void keep_or_free(llmrt__buf_t *b) {
  if (b->cap > KEEP_BUF_MAX)
    llmrt__buf_free(b);
  else
    llmrt__buf_reset(b);
}

static void call_block_free(llmrt_call_t *c) {
  llmrt__buf_free(&c->body_out);
  llmrt__buf_free(&c->body_in);
  llmrt__buf_free(&c->hdrs);
  llmrt__buf_free(&c->text);
  llmrt__flow_free(c);
  if (c->sse_inited) llmrt__sse_free(&c->sse);
  llmrt__free(c);
}

void llmrt__call_cache_free(llmrt__conf_t *cf) {
  while (cf->free_calls) {
    llmrt_call_t *c = cf->free_calls;
    cf->free_calls = c->next_free;
    call_block_free(c);
  }
  cf->n_free_calls = 0;
}

static void call_strings_free(llmrt_call_t *c) {
  llmrt__free(c->req_block);
  llmrt__secret_free(c->api_key);
  llmrt__free(c->model);
  llmrt__free(c->request_id);
  llmrt__free(c->error_type);
  llmrt__free(c->error_message);
  llmrt__free(c->att_msg);
  for (unsigned i = 0; i < c->n_xhdrs; i++) {
    llmrt__free(c->xhdrs[i].name);
    llmrt__free(c->xhdrs[i].value);
  }
  for (unsigned i = 0; i < c->n_attrs; i++) {
    llmrt__free(c->attrs[i].name);
    llmrt__free(c->attrs[i].str);
  }
}

static void call_free_now(llmrt_call_t *c) {
  llmrt__chain_t *ch = c->ch;
  llmrt__conf_t *cf = c->cf;
  llmrt_t *rt = c->rt;
  llmrt__list_remove(&c->link);
  slot_give(ch, c);
  ch->n_calls--;
  call_strings_free(c);
  if (cf->n_free_calls < CALL_CACHE_MAX && !ch->closing && ch->conf == cf) {
    keep_or_free(&c->body_out);
    keep_or_free(&c->body_in);
    keep_or_free(&c->hdrs);
    keep_or_free(&c->text);
    keep_or_free(&c->q);
    keep_or_free(&c->qstr);
    keep_or_free(&c->qcur);
    if (c->sse_inited) llmrt__sse_reset(&c->sse);
    c->next_free = cf->free_calls;
    cf->free_calls = c;
    cf->n_free_calls++;
  } else {
    call_block_free(c);
  }
  llmrt__conf_unref(cf);
  llmrt__chain_maybe_shutdown(ch);
  llmrt__rt_unref(rt);
}

static void release_deferred(void *arg) {
  llmrt_call_t *c = arg;
  c->defer_queued = 0;
  llmrt__call_release(c);
}

void llmrt__call_release(llmrt_call_t *c) {
  if (c->state != CALL_DONE || c->timer_open || c->http) return; /* their callbacks come back */
  if (c->in_hook > 0 || c->defer_queued) {
    /* Still on the stack of one of our callbacks: free on the next turn. */
    if (!c->defer_queued) {
      c->defer_queued = 1;
      llmrt__defer(c->ch, &c->defer, release_deferred, c);
    }
    return;
  }
  call_free_now(c);
}

void llmrt__call_http_gone(llmrt_call_t *c) {
  c->http = NULL;
  llmrt__call_release(c);
}

/* A block for this configuration: a cached one (all blocks of one
 * configuration have the same size) or a new one. The call itself and the
 * plugins' states are zeroed; buffers keep their capacity. */
static llmrt_call_t *block_get(llmrt__conf_t *cf, size_t head, size_t total) {
  llmrt_call_t *c = cf->free_calls;
  if (!c) {
    c = llmrt__malloc(total);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
  } else {
    cf->free_calls = c->next_free;
    cf->n_free_calls--;
    struct {
      llmrt__buf_t body_out, body_in, hdrs, text, q, qstr, qcur;
      llmrt__sse_t sse;
      int sse_inited;
    } keep = {c->body_out, c->body_in, c->hdrs, c->text,      c->q,
              c->qstr,     c->qcur,    c->sse,  c->sse_inited};
    memset(c, 0, sizeof *c);
    c->body_out = keep.body_out;
    c->body_in = keep.body_in;
    c->hdrs = keep.hdrs;
    c->text = keep.text;
    c->q = keep.q;
    c->qstr = keep.qstr;
    c->qcur = keep.qcur;
    c->sse = keep.sse;
    c->sse_inited = keep.sse_inited;
  }
  if (cf->states_size) memset((char *)c + head, 0, cf->states_size);
  return c;
}

/* ---- Public API ---- */

/* A name a plugin of the configuration resolves (host->upstream_alias). */
static int alias_known(const llmrt__conf_t *cf, const char *name) {
  for (size_t i = 0; i < cf->n_plugins; i++)
    for (size_t j = 0; j < cf->plugins[i]->n_aliases; j++)
      if (strcmp(cf->plugins[i]->aliases[j], name) == 0) return 1;
  return 0;
}

static int refuse(llmrt__chain_t *ch, int err, const char *why) {
  if (ch) llmrt__chain_errmsg(ch, "llmrt_call: %s", why);
  return err;
}

int llmrt_call(llmrt_t *rt, const llmrt_request_t *req, const llmrt_callbacks_t *cbs, void *user,
               uint64_t *id) {
  if (id) *id = 0;
  if (!rt) return LLMRT_EINVAL;
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  if (!ch) return LLMRT_ENOMEM;
  if (!req || !cbs || !cbs->on_done)
    return refuse(ch, LLMRT_EINVAL, "req, cbs or cbs->on_done is NULL");
  if (rt->closing) return refuse(ch, LLMRT_ESHUTDOWN, "the runtime is closing");
  llmrt__conf_t *cf = ch->conf;
  if (!cf) return refuse(ch, LLMRT_ENOUPSTREAM, "the runtime is not configured (llmrt_configure)");
  if (req->upstream && !llmrt__upstream_find(cf, req->upstream) && !alias_known(cf, req->upstream))
    return refuse(ch, LLMRT_ENOUPSTREAM, "no upstream of that name is configured");

  size_t head = sizeof(llmrt_call_t) + sizeof(llmrt_ctx_t) * cf->n_plugins;
  head = (head + 15) & ~(size_t)15;
  llmrt_call_t *c = block_get(cf, head, head + cf->states_size + sizeof(llmrt__pstate_t));
  if (!c) return refuse(ch, LLMRT_ENOMEM, "out of memory");
  char why[200] = "";
  int r = llmrt__call_copy_request(c, req, why, sizeof why);
  if (!r) r = slot_take(ch, c);
  if (r) {
    call_strings_free(c);
    call_block_free(c);
    return refuse(ch, r, why[0] ? why : llmrt_strerror(r));
  }
  c->rt = rt;
  c->ch = ch;
  c->cf = cf;
  llmrt__conf_ref(cf);
  c->cbs = *cbs;
  c->user = user;
  c->answering = -1;
  c->resume_for = -1;
  c->evt_hook = -1;
  c->flow_pauser = -1;
  llmrt__list_init(&c->timers);
  c->pst = (llmrt__pstate_t *)((char *)c + head + cf->states_size);
  for (size_t i = 0; i < cf->n_plugins; i++) {
    llmrt_ctx_t *x = &c->ctx[i];
    llmrt_plugin_rt_t *p = cf->plugins[i];
    *x = (llmrt_ctx_t){
        .on_event = p->desc->on_event,
        .call = c,
        .p = p,
        .state = p->desc->call_state_size ? (char *)c + head + p->state_off : NULL,
        .index = (unsigned)i,
    };
  }
  /* The key identity follows the key the call uses. */
  c->up = llmrt__upstream_find(cf, c->req.upstream);
  if (!c->api_key) memcpy(c->key_id, c->up ? c->up->key_id : "", c->up ? 17 : 1);
  c->t_start_us = llmrt__now_us();
  llmrt__call_timer_init(c);
  llmrt__list_push_back(&ch->calls, &c->link);
  ch->n_calls++;
  llmrt__rt_ref(rt);
  ch->errmsg[0] = '\0';
  /* Never call back from inside llmrt_call: the chain starts next turn. */
  llmrt__call_act(c, ACT_START);
  if (id) *id = c->id;
  return 0;
}

int llmrt_call_cancel(llmrt_call_t *c) {
  if (!c) return LLMRT_EINVAL;
  if (c->state >= CALL_COMPLETING) return 0;
  /* Stop the wire at once so no more data arrives; completion is deferred
   * so that a cancel from inside a callback never re-enters it. */
  llmrt__attempt_abort(c);
  llmrt__call_act(c, ACT_CANCEL);
  return 0;
}

int llmrt_cancel(llmrt_t *rt, uint64_t id) {
  llmrt_call_t *c = llmrt_call_get(rt, id);
  return c ? llmrt_call_cancel(c) : LLMRT_EINVAL;
}

void llmrt__call_shutdown(llmrt_call_t *c) {
  if (c->state >= CALL_COMPLETING) return;
  llmrt__attempt_abort(c);
  llmrt__call_act(c, ACT_SHUTDOWN);
}

int llmrt_call_pause(llmrt_call_t *c) {
  if (!c || c->state >= CALL_COMPLETING) return LLMRT_EINVAL;
  c->app_pauses++;
  llmrt__attempt_pause(c, 1);
  if (c->state == CALL_UPSTREAM) llmrt__call_enter(c, CALL_EVT_PAUSED);
  return 0;
}

int llmrt_call_resume(llmrt_call_t *c) {
  if (!c || c->state >= CALL_COMPLETING || c->app_pauses == 0) return LLMRT_EINVAL;
  if (--c->app_pauses == 0) llmrt__call_act(c, ACT_DRAIN);
  return 0;
}

void *llmrt_call_user(const llmrt_call_t *c) {
  return c->user;
}

llmrt_t *llmrt_call_runtime(const llmrt_call_t *c) {
  return c->rt;
}
