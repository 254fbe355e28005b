/* OpenAI Chat Completions adapter (also most "OpenAI-compatible" servers):
 * request body, full responses, stream chunks and error bodies. */
#include <stdio.h>
#include <string.h>

#include "provider.h"

/* ---- Encoding ----------------------------------------------------------- */

static int put_str(llmrt__enc_t *e, const char *key, const char *s, size_t n) {
  int rc = llmrt__enc_key(e, key);
  if (rc <= 0) return rc;
  return llmrt__jw_string(e->out, s, n);
}

/* An assistant's earlier tool calls go back as a JSON array, checked by the
 * strict scanner (so a typo fails here, with its message index, not
 * upstream) and written out again from its tokens: text after the array
 * can never add members to the message, and invalid UTF-8 becomes U+FFFD. */
static int put_tool_calls(llmrt__enc_t *e, const llmrt_message_t *m, size_t i) {
  llmrt__json_t j;
  llmrt__jtok_t toks[64];
  int rc = llmrt__json_parse(&j, m->tool_calls_json, strlen(m->tool_calls_json), toks, 64);
  if (rc == 0 && llmrt__json_type(&j, 0) != LLMRT__JSON_ARRAY) rc = LLMRT_EINVAL;
  if (rc && rc != LLMRT_ENOMEM) {
    llmrt__enc_msg(e, "messages[%zu].tool_calls_json: not a JSON array", i);
    rc = LLMRT_EINVAL;
  }
  if (!rc) rc = llmrt__buf_puts(e->out, ",\"tool_calls\":");
  if (!rc) rc = llmrt__jw_value(e->out, &j, 0);
  llmrt__json_free(&j);
  return rc;
}

static int put_messages(llmrt__enc_t *e, const llmrt_request_t *req) {
  llmrt__buf_t *b = e->out;
  int rc = llmrt__enc_key(e, "messages");
  if (rc <= 0) return rc;
  if (llmrt__buf_append(b, "[", 1)) return LLMRT_ENOMEM;
  for (size_t i = 0; i < req->n_messages; i++) {
    const llmrt_message_t *m = &req->messages[i];
    if (!m->role || !m->role[0]) {
      llmrt__enc_msg(e, "messages[%zu]: no role", i);
      return LLMRT_EINVAL;
    }
    if (i && llmrt__buf_append(b, ",", 1)) return LLMRT_ENOMEM;
    rc = llmrt__buf_puts(b, "{\"role\":");
    if (!rc) rc = llmrt__jw_string(b, m->role, strlen(m->role));
    if (!rc) rc = llmrt__buf_puts(b, ",\"content\":");
    /* An assistant turn that only called tools has no content: null. */
    int no_content = !m->content || (m->tool_calls_json && llmrt__msg_len(m) == 0);
    if (!rc && m->content_json)
      rc = llmrt__enc_content_json(e, m, i, 0);
    else if (!rc)
      rc = no_content ? llmrt__buf_puts(b, "null")
                      : llmrt__jw_string(b, m->content, llmrt__msg_len(m));
    if (!rc && m->tool_calls_json) rc = put_tool_calls(e, m, i);
    if (!rc && m->name) {
      rc = llmrt__buf_puts(b, ",\"name\":");
      if (!rc) rc = llmrt__jw_string(b, m->name, strlen(m->name));
    }
    if (!rc && m->tool_call_id) {
      rc = llmrt__buf_puts(b, ",\"tool_call_id\":");
      if (!rc) rc = llmrt__jw_string(b, m->tool_call_id, strlen(m->tool_call_id));
    }
    if (!rc) rc = llmrt__buf_append(b, "}", 1);
    if (rc) return rc;
  }
  return llmrt__buf_append(b, "]", 1);
}

static int encode_body(llmrt__enc_t *e, const llmrt_request_t *req) {
  llmrt__buf_t *b = e->out;
  int rc;
  if ((rc = put_str(e, "model", req->model, strlen(req->model)))) return rc;
  if ((rc = put_messages(e, req))) return rc;
  if (req->max_tokens > 0) {
    if ((rc = llmrt__enc_key(e, "max_tokens")) < 0) return rc;
    if (rc && (rc = llmrt__buf_printf(b, "%d", (int)req->max_tokens))) return rc;
  }
  if ((rc = llmrt__enc_sampling(e, req))) return rc;
  if (req->n_stop > 0) {
    if ((rc = llmrt__enc_key(e, "stop")) < 0) return rc;
    for (size_t i = 0; rc && i < req->n_stop; i++) {
      const char *s = req->stop[i] ? req->stop[i] : "";
      if (llmrt__buf_append(b, i ? "," : "[", 1) || llmrt__jw_string(b, s, strlen(s)))
        return LLMRT_ENOMEM;
    }
    if (rc && llmrt__buf_append(b, "]", 1)) return LLMRT_ENOMEM;
  }
  if (req->has_seed) {
    if ((rc = llmrt__enc_key(e, "seed")) < 0) return rc;
    if (rc && (rc = llmrt__buf_printf(b, "%lld", (long long)req->seed))) return rc;
  }
  if ((rc = llmrt__enc_key(e, "stream")) < 0) return rc;
  if (rc && llmrt__buf_puts(b, req->stream ? "true" : "false")) return LLMRT_ENOMEM;
  if (req->stream) {
    /* Usage arrives in a last chunk with empty choices only when asked. */
    if ((rc = llmrt__enc_key(e, "stream_options")) < 0) return rc;
    if (rc && llmrt__buf_puts(b, "{\"include_usage\":true}")) return LLMRT_ENOMEM;
  }
  return 0;
}

static int openai_encode(const llmrt_request_t *req, llmrt__buf_t *out, char *err, size_t errlen) {
  return llmrt__enc_request(req, out, err, errlen, encode_body);
}

/* ---- Decoding ----------------------------------------------------------- */

static int usage(llmrt__dec_t *d, int u, llmrt__pstate_t *acc) {
  const llmrt__json_t *j = &d->j;
  if (llmrt__json_type(j, u) != LLMRT__JSON_OBJECT) return 0; /* absent or null */
  llmrt_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = LLMRT_EV_USAGE;
  /* Counts a broken server gets wrong (negative, huge) stay 0 or capped. */
  llmrt__usage_count(j, llmrt__json_get(j, u, "prompt_tokens"), &ev.input_tokens);
  llmrt__usage_count(j, llmrt__json_get(j, u, "completion_tokens"), &ev.output_tokens);
  int det = llmrt__json_get(j, u, "prompt_tokens_details");
  llmrt__usage_count(j, llmrt__json_get(j, det, "cached_tokens"), &ev.cached_tokens);
  if (acc) {
    acc->input_tokens = ev.input_tokens;
    acc->output_tokens = ev.output_tokens;
    acc->cached_tokens = ev.cached_tokens;
  }
  return llmrt__emit(d, &ev);
}

/* One tool call of delta.tool_calls (a fragment) or message.tool_calls (whole). */
static int tool_call(llmrt__dec_t *d, int tc, uint32_t pos) {
  const llmrt__json_t *j = &d->j;
  llmrt_event_t ev;
  size_t n;
  int rc = 0;
  memset(&ev, 0, sizeof ev);
  ev.type = LLMRT_EV_TOOL_CALL;
  int64_t idx;
  ev.index = llmrt__json_int(j, llmrt__json_get(j, tc, "index"), &idx) == 0 && idx >= 0
                 ? (uint32_t)idx
                 : pos;
  int fn = llmrt__json_get(j, tc, "function");
  int id = llmrt__json_get(j, tc, "id"), name = llmrt__json_get(j, fn, "name");
  int args = llmrt__json_get(j, fn, "arguments");
  if (llmrt__json_type(j, id) == LLMRT__JSON_STRING)
    rc = llmrt__json_str(j, id, &d->a, 1, &ev.id, &n);
  if (!rc && llmrt__json_type(j, name) == LLMRT__JSON_STRING)
    rc = llmrt__json_str(j, name, &d->a, 1, &ev.name, &n);
  if (!rc && llmrt__json_type(j, args) == LLMRT__JSON_STRING)
    rc = llmrt__json_str(j, args, &d->a, 0, &ev.text, &ev.len);
  if (rc) return rc;
  if (!ev.id && !ev.name && ev.len == 0) return 0; /* nothing new in this fragment */
  if (!ev.text) ev.text = "";
  return llmrt__emit(d, &ev);
}

/* choices[] element: `delta` in a stream chunk, `message` in a response.
 * Emits everything but the finish reason, whose token goes to *finish.
 * Members are looked up in one pass per object (the per-chunk hot path). */
static int choice(llmrt__dec_t *d, int c, const char *body_key, int *finish) {
  const llmrt__json_t *j = &d->j;
  const llmrt__jkey_t ckeys[3] = {
      LLMRT__JKEY("index"), {body_key, strlen(body_key)}, LLMRT__JKEY("finish_reason")};
  static const llmrt__jkey_t mkeys[4] = {LLMRT__JKEY("content"), LLMRT__JKEY("reasoning_content"),
                                         LLMRT__JKEY("reasoning"), LLMRT__JKEY("tool_calls")};
  int cv[3], mv[4], rc;
  int64_t idx;
  llmrt__json_fields(j, c, ckeys, 3, cv);
  if (llmrt__json_int(j, cv[0], &idx) == 0 && idx != 0)
    return 0; /* only the first choice (n > 1 is not streamed to the user) */
  llmrt__json_fields(j, cv[1], mkeys, 4, mv);
  int r = llmrt__json_type(j, mv[1]) == LLMRT__JSON_STRING ? mv[1] : mv[2];
  if ((rc = llmrt__emit_text(d, LLMRT_EV_THINKING, r))) return rc;
  if ((rc = llmrt__emit_text(d, LLMRT_EV_TEXT, mv[0]))) return rc;
  int tcs = mv[3];
  if (llmrt__json_type(j, tcs) == LLMRT__JSON_ARRAY) {
    uint32_t t = (uint32_t)tcs + 1;
    for (uint32_t i = 0; i < j->tok[tcs].size; i++, t = j->tok[t].next)
      if ((rc = tool_call(d, (int)t, i))) return rc;
  }
  if (llmrt__json_type(j, cv[2]) == LLMRT__JSON_STRING) *finish = cv[2];
  return 0;
}

/* Members of a chunk or response the decoders read, in one pass. */
enum { R_ERROR, R_CHOICES, R_USAGE, R_MODEL, R_ID, R_N };
static const llmrt__jkey_t root_keys[R_N] = {LLMRT__JKEY("error"), LLMRT__JKEY("choices"),
                                             LLMRT__JKEY("usage"), LLMRT__JKEY("model"),
                                             LLMRT__JKEY("id")};

static int start(llmrt__dec_t *d, const int *rv) {
  int rc = llmrt__meta_tok(d, LLMRT__META_MODEL, rv[R_MODEL]);
  if (!rc) rc = llmrt__meta_tok(d, LLMRT__META_ID, rv[R_ID]);
  if (!rc) rc = llmrt__emit_type(d, LLMRT_EV_START);
  return rc;
}

static int for_choices(llmrt__dec_t *d, int ch, const char *body_key, int *finish) {
  const llmrt__json_t *j = &d->j;
  int rc;
  if (llmrt__json_type(j, ch) != LLMRT__JSON_ARRAY) return 0;
  uint32_t t = (uint32_t)ch + 1;
  for (uint32_t i = 0; i < j->tok[ch].size; i++, t = j->tok[t].next)
    if ((rc = choice(d, (int)t, body_key, finish))) return rc;
  return 0;
}

static int openai_decode_doc(llmrt__dec_t *d) {
  int rv[R_N], finish = -1, rc;
  llmrt__json_fields(&d->j, 0, root_keys, R_N, rv);
  if (!llmrt__json_isnull(&d->j, rv[R_ERROR]))
    return llmrt__report_error(d, rv[R_ERROR], LLMRT_EUPSTREAM);
  if (llmrt__json_type(&d->j, rv[R_CHOICES]) != LLMRT__JSON_ARRAY)
    return llmrt__problem(d, LLMRT_EBADRESPONSE, "a JSON response of unexpected shape: %s",
                          rv[R_CHOICES] < 0 ? "no choices" : "choices is not an array");
  rc = start(d, rv);
  if (!rc) rc = for_choices(d, rv[R_CHOICES], "message", &finish);
  if (!rc) rc = usage(d, rv[R_USAGE], NULL);
  if (!rc && finish >= 0) rc = llmrt__emit_finish(d, finish);
  return rc;
}

static int openai_decode_response(const char *body, size_t len, const llmrt__sink_t *sink) {
  return llmrt__decode_whole(&llmrt__provider_openai, body, len, sink);
}

/* What a whole response's decode reads, at any depth; the rest (logprobs,
 * annotations, ...) is validated but not stored. */
/* clang-format off */
static const llmrt__jkeep_t openai_keep[] = {
    LLMRT__JKEEP("error"), LLMRT__JKEEP("choices"), LLMRT__JKEEP("usage"), LLMRT__JKEEP("model"),
    LLMRT__JKEEP("id"), LLMRT__JKEEP("index"), LLMRT__JKEEP("message"),
    LLMRT__JKEEP("finish_reason"), LLMRT__JKEEP("content"), LLMRT__JKEEP("reasoning_content"),
    LLMRT__JKEEP("reasoning"), LLMRT__JKEEP("tool_calls"), LLMRT__JKEEP("function"),
    LLMRT__JKEEP("name"), LLMRT__JKEEP("arguments"), LLMRT__JKEEP("prompt_tokens"),
    LLMRT__JKEEP("completion_tokens"), LLMRT__JKEEP("prompt_tokens_details"),
    LLMRT__JKEEP("cached_tokens"), LLMRT__JKEEP("type"), LLMRT__JKEEP("code"),
};
/* clang-format on */

static int is_done(const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
    s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
    n--;
  return n == 6 && memcmp(s, "[DONE]", 6) == 0;
}

static int openai_decode_event(llmrt__pstate_t *st, const llmrt__sse_event_t *ev,
                               const llmrt__sink_t *sink) {
  if (st->done) return LLMRT__STREAM_DONE;
  llmrt__idle_add(st, ev);
  if (ev->data_len == 0) return llmrt__idle_check(st, sink, 0);
  llmrt__dec_t d;
  if (is_done(ev->data, ev->data_len)) {
    d.st = st;
    d.sink = sink;
    int rc = llmrt__flush_text(&d);
    st->done = 1;
    return rc ? rc : LLMRT__STREAM_DONE;
  }
  llmrt__jtok_t toks[LLMRT__STREAM_TOKENS];
  int rc = llmrt__dec_begin(&d, st, sink, ev->data, ev->data_len, toks, LLMRT__STREAM_TOKENS,
                            st->scratch, sizeof st->scratch);
  if (rc) return rc;
  int rv[R_N], finish = -1;
  llmrt__json_fields(&d.j, 0, root_keys, R_N, rv);
  if (!llmrt__json_isnull(&d.j, rv[R_ERROR])) {
    rc = llmrt__report_error(&d, rv[R_ERROR], LLMRT_EUPSTREAM);
    if (rc == 0) rc = LLMRT_EUPSTREAM;
  } else {
    if (!st->started) {
      st->started = 1;
      rc = start(&d, rv);
    }
    if (!rc) rc = for_choices(&d, rv[R_CHOICES], "delta", &finish);
    if (!rc && finish >= 0) rc = llmrt__emit_finish(&d, finish);
    if (!rc) rc = usage(&d, rv[R_USAGE], st);
  }
  llmrt__dec_end(&d);
  return llmrt__idle_check(st, sink, rc);
}

const llmrt__provider_t llmrt__provider_openai = {
    .name = "openai",
    .path = "/chat/completions",
    .auth_header = "Authorization",
    .auth_prefix = "Bearer ",
    .extra_headers = NULL,
    .n_extra_headers = 0,
    .encode = openai_encode,
    .decode_response = openai_decode_response,
    .decode_doc = openai_decode_doc,
    .keep = openai_keep,
    .n_keep = sizeof openai_keep / sizeof openai_keep[0],
    .decode_event = openai_decode_event,
    .decode_error = llmrt__decode_error,
};
