/* Anthropic Messages API adapter: request body, full responses, stream
 * events and error bodies.
 *
 * Usage is normalized to OpenAI's meaning: input_tokens counts every prompt
 * token, cached or not (Anthropic's input_tokens + cache_read_input_tokens +
 * cache_creation_input_tokens), cached_tokens the cache reads. So cached <=
 * input for both providers, as the OpenTelemetry GenAI conventions expect. */
#include <stdio.h>
#include <string.h>

#include "provider.h"

#define DEFAULT_MAX_TOKENS 1024 /* Anthropic requires max_tokens */

enum { BLOCK_OTHER = 0, BLOCK_TEXT, BLOCK_THINKING, BLOCK_TOOL };

/* ---- Encoding ----------------------------------------------------------- */

static int is_role(const llmrt_message_t *m, const char *r) {
  return strcmp(m->role, r) == 0;
}

static int is_system(const llmrt_message_t *m) {
  return is_role(m, "system") || is_role(m, "developer");
}

/* System messages become the top-level "system" string, joined by a blank
 * line (Anthropic has no system role inside messages). */
static int put_system_blocks(llmrt__enc_t *e, const llmrt_request_t *req) {
  int rc = llmrt__enc_key(e, "system"), n = 0;
  if (rc <= 0) return rc;
  rc = llmrt__buf_append(e->out, "[", 1);
  for (size_t i = 0; i < req->n_messages && !rc; i++) {
    const llmrt_message_t *m = &req->messages[i];
    if (!is_system(m)) continue;
    if (n++ && (rc = llmrt__buf_append(e->out, ",", 1))) break;
    if (m->content_json) {
      rc = llmrt__enc_content_json(e, m, i, 1);
    } else {
      rc = llmrt__buf_puts(e->out, "{\"type\":\"text\",\"text\":");
      if (!rc) rc = llmrt__jw_string(e->out, m->content ? m->content : "", llmrt__msg_len(m));
      if (!rc) rc = llmrt__buf_append(e->out, "}", 1);
    }
  }
  if (!rc) rc = llmrt__buf_append(e->out, "]", 1);
  return rc;
}

static int put_system(llmrt__enc_t *e, const llmrt_request_t *req) {
  llmrt__buf_t joined;
  int rc = 0, any = 0;
  /* Content parts (cache marks on the system prompt) need the block form. */
  for (size_t i = 0; i < req->n_messages; i++)
    if (is_system(&req->messages[i]) && req->messages[i].content_json)
      return put_system_blocks(e, req);
  llmrt__buf_init(&joined);
  for (size_t i = 0; i < req->n_messages && !rc; i++) {
    const llmrt_message_t *m = &req->messages[i];
    if (!is_system(m)) continue;
    if (any) rc = llmrt__buf_append(&joined, "\n\n", 2);
    if (!rc && m->content) rc = llmrt__buf_append(&joined, m->content, llmrt__msg_len(m));
    any = 1;
  }
  if (!rc && any && (rc = llmrt__enc_key(e, "system")) > 0)
    rc = llmrt__jw_string(e->out, joined.data ? joined.data : "", joined.len);
  llmrt__buf_free(&joined);
  return rc < 0 ? rc : 0;
}

/* The input object of a tool_use block from an OpenAI-format call's
 * "arguments": a JSON text in a string ("" means {}), or an object. The
 * text is held to the same strict reading as tool_calls_json itself, so
 * nothing after the object is dropped unseen. Returns 1 when it is not an
 * object, 0 when written, or LLMRT_ENOMEM. */
static int put_input(llmrt__buf_t *b, const llmrt__json_t *j, int args) {
  int ty = llmrt__json_type(j, args);
  if (ty == 0 || llmrt__json_isnull(j, args)) return llmrt__buf_puts(b, "{}");
  if (ty == LLMRT__JSON_OBJECT) return llmrt__jw_value(b, j, args);
  if (ty != LLMRT__JSON_STRING) return 1;
  char scratch[512];
  llmrt__jarena_t a;
  llmrt__jarena_init(&a, scratch, sizeof scratch);
  const char *s;
  size_t n;
  int rc = llmrt__json_str(j, args, &a, 0, &s, &n);
  if (rc == 0 && n == 0) {
    rc = llmrt__buf_puts(b, "{}");
  } else if (rc == 0) {
    llmrt__json_t in;
    llmrt__jtok_t toks[64];
    rc = llmrt__json_parse(&in, s, n, toks, 64);
    if (rc == 0 && llmrt__json_type(&in, 0) != LLMRT__JSON_OBJECT) rc = 1;
    if (rc == 0) rc = llmrt__jw_value(b, &in, 0);
    llmrt__json_free(&in);
    if (rc && rc != LLMRT_ENOMEM) rc = 1;
  }
  llmrt__jarena_free(&a);
  return rc;
}

/* An assistant turn with tool calls becomes content blocks: its text (if
 * any), then one tool_use block per call, whose input is the call's
 * arguments parsed back into an object. Like OpenAI's tool_calls, the array
 * is read by the strict scanner and every value is written out again. */
static int put_assistant_tools(llmrt__enc_t *e, const llmrt_message_t *m, size_t i) {
  llmrt__buf_t *b = e->out;
  llmrt__json_t j;
  llmrt__jtok_t toks[64];
  int rc = llmrt__json_parse(&j, m->tool_calls_json, strlen(m->tool_calls_json), toks, 64);
  if (rc == 0 && llmrt__json_type(&j, 0) != LLMRT__JSON_ARRAY) rc = LLMRT_EINVAL;
  if (rc) {
    if (rc != LLMRT_ENOMEM) {
      llmrt__enc_msg(e, "messages[%zu].tool_calls_json: not a JSON array", i);
      rc = LLMRT_EINVAL;
    }
    goto out;
  }
  size_t clen = llmrt__msg_len(m);
  int n = 0;
  rc = llmrt__buf_puts(b, "[");
  if (!rc && m->content && clen) {
    rc = llmrt__buf_puts(b, "{\"type\":\"text\",\"text\":");
    if (!rc) rc = llmrt__jw_string(b, m->content, clen);
    if (!rc) rc = llmrt__buf_puts(b, "}");
    n++;
  }
  uint32_t call = 1;
  for (uint32_t k = 0; k < j.tok[0].size && !rc; k++, call = j.tok[call].next) {
    int fn = llmrt__json_get(&j, (int)call, "function");
    int id = llmrt__json_get(&j, (int)call, "id");
    int name = llmrt__json_get(&j, fn, "name");
    if (llmrt__json_type(&j, id) != LLMRT__JSON_STRING ||
        llmrt__json_type(&j, name) != LLMRT__JSON_STRING) {
      llmrt__enc_msg(e, "messages[%zu].tool_calls_json[%u]: needs \"id\" and \"function.name\"", i,
                     k);
      rc = LLMRT_EINVAL;
      break;
    }
    rc = llmrt__buf_puts(b, n++ ? ",{\"type\":\"tool_use\",\"id\":"
                                : "{\"type\":\"tool_use\",\"id\":");
    if (!rc) rc = llmrt__jw_value(b, &j, id);
    if (!rc) rc = llmrt__buf_puts(b, ",\"name\":");
    if (!rc) rc = llmrt__jw_value(b, &j, name);
    if (!rc) rc = llmrt__buf_puts(b, ",\"input\":");
    if (!rc) rc = put_input(b, &j, llmrt__json_get(&j, fn, "arguments"));
    if (rc == 1) {
      llmrt__enc_msg(e, "messages[%zu].tool_calls_json[%u].function.arguments: not a JSON object",
                     i, k);
      rc = LLMRT_EINVAL;
    }
    if (!rc) rc = llmrt__buf_puts(b, "}");
  }
  if (!rc) rc = llmrt__buf_puts(b, "]");
out:
  llmrt__json_free(&j);
  return rc;
}

static int put_messages(llmrt__enc_t *e, const llmrt_request_t *req) {
  llmrt__buf_t *b = e->out;
  int rc = llmrt__enc_key(e, "messages"), first = 1, in_tools = 0;
  if (rc <= 0) return rc;
  if (llmrt__buf_append(b, "[", 1)) return LLMRT_ENOMEM;
  for (size_t i = 0; i < req->n_messages; i++) {
    const llmrt_message_t *m = &req->messages[i];
    const char *c = m->content ? m->content : "";
    size_t clen = llmrt__msg_len(m);
    if (is_system(m)) continue;
    if (is_role(m, "tool")) {
      /* Tool results travel as user content blocks; consecutive results
       * (parallel tool calls) share one user message. */
      if (!m->tool_call_id) {
        llmrt__enc_msg(e, "messages[%zu]: role \"tool\" needs tool_call_id", i);
        return LLMRT_EINVAL;
      }
      if (!in_tools)
        rc = llmrt__buf_puts(b, first ? "{\"role\":\"user\",\"content\":["
                                      : ",{\"role\":\"user\",\"content\":[");
      else
        rc = llmrt__buf_append(b, ",", 1);
      if (!rc) rc = llmrt__buf_puts(b, "{\"type\":\"tool_result\",\"tool_use_id\":");
      if (!rc) rc = llmrt__jw_string(b, m->tool_call_id, strlen(m->tool_call_id));
      if (!rc) rc = llmrt__buf_puts(b, ",\"content\":");
      if (!rc && m->content_json)
        rc = llmrt__enc_content_json(e, m, i, 0);
      else if (!rc)
        rc = llmrt__jw_string(b, c, clen);
      if (!rc) rc = llmrt__buf_append(b, "}", 1);
      in_tools = 1;
    } else if (is_role(m, "user") || is_role(m, "assistant")) {
      rc = in_tools ? llmrt__buf_puts(b, "]}") : 0;
      in_tools = 0;
      if (!rc && !first) rc = llmrt__buf_append(b, ",", 1);
      if (!rc) rc = llmrt__buf_puts(b, "{\"role\":");
      if (!rc) rc = llmrt__jw_string(b, m->role, strlen(m->role));
      if (!rc) rc = llmrt__buf_puts(b, ",\"content\":");
      if (!rc && m->tool_calls_json && is_role(m, "assistant"))
        rc = put_assistant_tools(e, m, i);
      else if (!rc && m->content_json)
        rc = llmrt__enc_content_json(e, m, i, 0);
      else if (!rc)
        rc = llmrt__jw_string(b, c, clen);
      if (!rc) rc = llmrt__buf_append(b, "}", 1);
    } else {
      llmrt__enc_msg(e, "messages[%zu]: role \"%s\" is not supported by the Anthropic API", i,
                     m->role);
      return LLMRT_EINVAL;
    }
    if (rc) return rc;
    first = 0;
  }
  if (in_tools && llmrt__buf_puts(b, "]}")) return LLMRT_ENOMEM;
  return llmrt__buf_append(b, "]", 1);
}

static int encode_body(llmrt__enc_t *e, const llmrt_request_t *req) {
  llmrt__buf_t *b = e->out;
  int rc;
  if ((rc = llmrt__enc_key(e, "model")) < 0) return rc;
  if (rc && llmrt__jw_string(b, req->model, strlen(req->model))) return LLMRT_ENOMEM;
  if ((rc = put_system(e, req))) return rc;
  if ((rc = put_messages(e, req))) return rc;
  if ((rc = llmrt__enc_key(e, "max_tokens")) < 0) return rc;
  if (rc &&
      llmrt__buf_printf(b, "%d", req->max_tokens > 0 ? (int)req->max_tokens : DEFAULT_MAX_TOKENS))
    return LLMRT_ENOMEM;
  if ((rc = llmrt__enc_sampling(e, req))) return rc;
  if (req->n_stop > 0) {
    if ((rc = llmrt__enc_key(e, "stop_sequences")) < 0) return rc;
    for (size_t i = 0; rc && i < req->n_stop; i++) {
      const char *s = req->stop[i] ? req->stop[i] : "";
      if (llmrt__buf_append(b, i ? "," : "[", 1) || llmrt__jw_string(b, s, strlen(s)))
        return LLMRT_ENOMEM;
    }
    if (rc && llmrt__buf_append(b, "]", 1)) return LLMRT_ENOMEM;
  }
  /* seed: the Messages API has none; it is dropped. */
  if ((rc = llmrt__enc_key(e, "stream")) < 0) return rc;
  if (rc && llmrt__buf_puts(b, req->stream ? "true" : "false")) return LLMRT_ENOMEM;
  return 0;
}

static int anthropic_encode(const llmrt_request_t *req, llmrt__buf_t *out, char *err,
                            size_t errlen) {
  return llmrt__enc_request(req, out, err, errlen, encode_body);
}

/* ---- Decoding ----------------------------------------------------------- */

/* Reads a usage object into st's totals (only the fields present) and emits
 * USAGE. message_delta repeats output_tokens cumulatively. */
static int usage(llmrt__dec_t *d, int u, llmrt__pstate_t *acc) {
  const llmrt__json_t *j = &d->j;
  if (llmrt__json_type(j, u) != LLMRT__JSON_OBJECT) return 0;
  int64_t in = 0, rd = 0, cr = 0, out = 0;
  /* Each count is in [0, 2^53] (a negative one counts as absent): the sum
   * saturates instead of overflowing. */
  int have_in = llmrt__usage_count(j, llmrt__json_get(j, u, "input_tokens"), &in) == 0;
  have_in |= llmrt__usage_count(j, llmrt__json_get(j, u, "cache_read_input_tokens"), &rd) == 0;
  have_in |= llmrt__usage_count(j, llmrt__json_get(j, u, "cache_creation_input_tokens"), &cr) == 0;
  if (have_in) {
    acc->input_tokens = llmrt__usage_add(llmrt__usage_add(in, rd), cr);
    acc->cached_tokens = rd;
  }
  if (llmrt__usage_count(j, llmrt__json_get(j, u, "output_tokens"), &out) == 0)
    acc->output_tokens = out;
  llmrt_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = LLMRT_EV_USAGE;
  ev.input_tokens = acc->input_tokens;
  ev.output_tokens = acc->output_tokens;
  ev.cached_tokens = acc->cached_tokens;
  return llmrt__emit(d, &ev);
}

static int tool_use(llmrt__dec_t *d, int blk, uint32_t ordinal, int whole) {
  const llmrt__json_t *j = &d->j;
  llmrt_event_t ev;
  size_t n;
  memset(&ev, 0, sizeof ev);
  ev.type = LLMRT_EV_TOOL_CALL;
  ev.index = ordinal;
  ev.text = "";
  int id = llmrt__json_get(j, blk, "id"), name = llmrt__json_get(j, blk, "name"), rc = 0;
  if (llmrt__json_type(j, id) == LLMRT__JSON_STRING)
    rc = llmrt__json_str(j, id, &d->a, 1, &ev.id, &n);
  if (!rc && llmrt__json_type(j, name) == LLMRT__JSON_STRING)
    rc = llmrt__json_str(j, name, &d->a, 1, &ev.name, &n);
  if (rc) return rc;
  int in = llmrt__json_get(j, blk, "input");
  if (whole && in >= 0) { /* the arguments as the provider wrote them */
    ev.text = j->js + j->tok[in].start;
    ev.len = j->tok[in].end - j->tok[in].start;
  }
  return llmrt__emit(d, &ev);
}

static int start(llmrt__dec_t *d, int msg) {
  const llmrt__json_t *j = &d->j;
  int rc = llmrt__meta_tok(d, LLMRT__META_MODEL, llmrt__json_get(j, msg, "model"));
  if (!rc) rc = llmrt__meta_tok(d, LLMRT__META_ID, llmrt__json_get(j, msg, "id"));
  if (!rc) rc = llmrt__emit_type(d, LLMRT_EV_START);
  return rc;
}

static int anthropic_decode_doc(llmrt__dec_t *d) {
  llmrt__pstate_t acc;
  const llmrt__json_t *j = &d->j;
  int content = llmrt__json_get(j, 0, "content"), rc;
  if (llmrt__json_streq(j, llmrt__json_get(j, 0, "type"), "error"))
    return llmrt__report_error(d, llmrt__json_get(j, 0, "error"), LLMRT_EUPSTREAM);
  if (llmrt__json_type(j, content) != LLMRT__JSON_ARRAY)
    return llmrt__problem(d, LLMRT_EBADRESPONSE, "a JSON response of unexpected shape: %s",
                          content < 0 ? "no content" : "content is not an array");
  rc = start(d, 0);
  uint32_t t = (uint32_t)content + 1, tools = 0;
  for (uint32_t i = 0; !rc && i < j->tok[content].size; i++, t = j->tok[t].next) {
    int ty = llmrt__json_get(j, (int)t, "type");
    if (llmrt__json_streq(j, ty, "text"))
      rc = llmrt__emit_text(d, LLMRT_EV_TEXT, llmrt__json_get(j, (int)t, "text"));
    else if (llmrt__json_streq(j, ty, "thinking"))
      rc = llmrt__emit_text(d, LLMRT_EV_THINKING, llmrt__json_get(j, (int)t, "thinking"));
    else if (llmrt__json_streq(j, ty, "tool_use"))
      rc = tool_use(d, (int)t, tools++, 1);
  }
  memset(&acc, 0, offsetof(llmrt__pstate_t, scratch));
  if (!rc) rc = usage(d, llmrt__json_get(j, 0, "usage"), &acc);
  int stop = llmrt__json_get(j, 0, "stop_reason");
  if (!rc && llmrt__json_type(j, stop) == LLMRT__JSON_STRING) rc = llmrt__emit_finish(d, stop);
  return rc;
}

static int anthropic_decode_response(const char *body, size_t len, const llmrt__sink_t *sink) {
  return llmrt__decode_whole(&llmrt__provider_anthropic, body, len, sink);
}

/* What a whole response's decode reads, at any depth; a tool's input is
 * taken as written (opaque: nothing inside it is stored). */
/* clang-format off */
static const llmrt__jkeep_t anthropic_keep[] = {
    LLMRT__JKEEP("type"), LLMRT__JKEEP("error"), LLMRT__JKEEP("message"), LLMRT__JKEEP("content"),
    LLMRT__JKEEP("text"), LLMRT__JKEEP("thinking"), LLMRT__JKEEP("id"), LLMRT__JKEEP("name"),
    LLMRT__JKEEP_OPAQUE("input"), LLMRT__JKEEP("usage"), LLMRT__JKEEP("input_tokens"),
    LLMRT__JKEEP("cache_read_input_tokens"), LLMRT__JKEEP("cache_creation_input_tokens"),
    LLMRT__JKEEP("output_tokens"), LLMRT__JKEEP("stop_reason"), LLMRT__JKEEP("model"),
    LLMRT__JKEEP("code"),
};
/* clang-format on */

static int block_index(const llmrt__json_t *j, uint32_t *idx) {
  int64_t v;
  if (llmrt__json_int(j, llmrt__json_get(j, 0, "index"), &v) || v < 0 || v > UINT32_MAX) return -1;
  *idx = (uint32_t)v;
  return 0;
}

static int block_start(llmrt__dec_t *d) {
  const llmrt__json_t *j = &d->j;
  llmrt__pstate_t *st = d->st;
  uint32_t idx;
  if (block_index(j, &idx))
    return llmrt__problem(
        d, LLMRT_EBADRESPONSE,
        "a stream event of unexpected shape: content_block_start without an index");
  int blk = llmrt__json_get(j, 0, "content_block");
  int ty = llmrt__json_get(j, blk, "type");
  int kind = llmrt__json_streq(j, ty, "text")       ? BLOCK_TEXT
             : llmrt__json_streq(j, ty, "thinking") ? BLOCK_THINKING
             : llmrt__json_streq(j, ty, "tool_use") ? BLOCK_TOOL
                                                    : BLOCK_OTHER;
  uint32_t ordinal = kind == BLOCK_TOOL ? st->n_tools++ : 0;
  /* Blocks stream one at a time: the deltas that follow belong to this one. */
  st->open_block = idx;
  st->open_tool = ordinal;
  st->has_open_block = 1;
  if (idx < sizeof st->block_tool / sizeof st->block_tool[0]) st->block_tool[idx] = ordinal;
  if (kind == BLOCK_TEXT)
    return llmrt__emit_text(d, LLMRT_EV_TEXT, llmrt__json_get(j, blk, "text"));
  if (kind == BLOCK_THINKING)
    return llmrt__emit_text(d, LLMRT_EV_THINKING, llmrt__json_get(j, blk, "thinking"));
  if (kind == BLOCK_TOOL) return tool_use(d, blk, ordinal, 0);
  return 0; /* redacted_thinking, server tools, ...: nothing for the user */
}

static int block_delta(llmrt__dec_t *d) {
  const llmrt__json_t *j = &d->j;
  llmrt__pstate_t *st = d->st;
  uint32_t idx;
  if (block_index(j, &idx))
    return llmrt__problem(
        d, LLMRT_EBADRESPONSE,
        "a stream event of unexpected shape: content_block_delta without an index");
  int delta = llmrt__json_get(j, 0, "delta");
  int ty = llmrt__json_get(j, delta, "type");
  if (llmrt__json_streq(j, ty, "text_delta"))
    return llmrt__emit_text(d, LLMRT_EV_TEXT, llmrt__json_get(j, delta, "text"));
  if (llmrt__json_streq(j, ty, "thinking_delta"))
    return llmrt__emit_text(d, LLMRT_EV_THINKING, llmrt__json_get(j, delta, "thinking"));
  if (llmrt__json_streq(j, ty, "input_json_delta")) {
    llmrt_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMRT_EV_TOOL_CALL;
    /* The open block, as the protocol streams them. Should deltas ever
     * interleave, the table answers for the first blocks, and a block past
     * it keeps its block index. */
    if (st->has_open_block && idx == st->open_block)
      ev.index = st->open_tool;
    else
      ev.index = idx < sizeof st->block_tool / sizeof st->block_tool[0] ? st->block_tool[idx] : idx;
    int pj = llmrt__json_get(j, delta, "partial_json");
    if (llmrt__json_type(j, pj) != LLMRT__JSON_STRING)
      return llmrt__problem(d, LLMRT_EBADRESPONSE,
                            "a stream event of unexpected shape: input_json_delta without a "
                            "partial_json string");
    int rc = llmrt__json_str(j, pj, &d->a, 0, &ev.text, &ev.len);
    if (rc || ev.len == 0) return rc;
    return llmrt__emit(d, &ev);
  }
  return 0; /* signature_delta, citations_delta and future kinds */
}

static int anthropic_decode_event(llmrt__pstate_t *st, const llmrt__sse_event_t *ev,
                                  const llmrt__sink_t *sink) {
  if (st->done) return LLMRT__STREAM_DONE;
  llmrt__idle_add(st, ev);
  if (ev->data_len == 0) return llmrt__idle_check(st, sink, 0);
  llmrt__dec_t d;
  llmrt__jtok_t toks[LLMRT__STREAM_TOKENS];
  int rc = llmrt__dec_begin(&d, st, sink, ev->data, ev->data_len, toks, LLMRT__STREAM_TOKENS,
                            st->scratch, sizeof st->scratch);
  if (rc) return rc;
  const llmrt__json_t *j = &d.j;
  int ty = llmrt__json_get(j, 0, "type");
  char name[32];
  /* The data's "type" names the event; the SSE event field is the fallback. */
  if (llmrt__json_type(j, ty) == LLMRT__JSON_STRING &&
      j->tok[ty].end - j->tok[ty].start < sizeof name && !j->tok[ty].esc) {
    size_t n = j->tok[ty].end - j->tok[ty].start;
    memcpy(name, j->js + j->tok[ty].start, n);
    name[n] = '\0';
  } else {
    size_t n = ev->event_len < sizeof name ? ev->event_len : sizeof name - 1;
    memcpy(name, ev->event, n);
    name[n] = '\0';
  }
  if (!st->started &&
      (strcmp(name, "content_block_delta") == 0 || strcmp(name, "content_block_start") == 0 ||
       strcmp(name, "message_delta") == 0)) {
    /* A proxy dropped message_start: the stream still starts. */
    st->started = 1;
    rc = llmrt__emit_type(&d, LLMRT_EV_START);
  }
  if (rc) {
  } else if (strcmp(name, "content_block_delta") == 0) {
    rc = block_delta(&d);
  } else if (strcmp(name, "message_start") == 0) {
    int msg = llmrt__json_get(j, 0, "message");
    if (!st->started) {
      st->started = 1;
      rc = start(&d, msg);
    }
    if (!rc) rc = usage(&d, llmrt__json_get(j, msg, "usage"), st);
  } else if (strcmp(name, "content_block_start") == 0) {
    rc = block_start(&d);
  } else if (strcmp(name, "content_block_stop") == 0) {
    rc = llmrt__flush_text(&d);
  } else if (strcmp(name, "message_delta") == 0) {
    int stop = llmrt__json_get(j, llmrt__json_get(j, 0, "delta"), "stop_reason");
    if (llmrt__json_type(j, stop) == LLMRT__JSON_STRING) rc = llmrt__emit_finish(&d, stop);
    if (!rc) rc = usage(&d, llmrt__json_get(j, 0, "usage"), st);
  } else if (strcmp(name, "message_stop") == 0) {
    rc = llmrt__flush_text(&d);
    st->done = 1;
    if (!rc) rc = LLMRT__STREAM_DONE;
  } else if (strcmp(name, "error") == 0) {
    rc = llmrt__report_error(&d, llmrt__json_get(j, 0, "error"), LLMRT_EUPSTREAM);
    if (rc == 0) rc = LLMRT_EUPSTREAM;
  }
  /* ping and unknown events: nothing. */
  llmrt__dec_end(&d);
  return llmrt__idle_check(st, sink, rc);
}

static const llmrt_header_t anthropic_headers[] = {{"anthropic-version", "2023-06-01"}};

const llmrt__provider_t llmrt__provider_anthropic = {
    .name = "anthropic",
    .path = "/messages",
    .auth_header = "x-api-key",
    .auth_prefix = "",
    .extra_headers = anthropic_headers,
    .n_extra_headers = 1,
    .encode = anthropic_encode,
    .decode_response = anthropic_decode_response,
    .decode_doc = anthropic_decode_doc,
    .keep = anthropic_keep,
    .n_keep = sizeof anthropic_keep / sizeof anthropic_keep[0],
    .decode_event = anthropic_decode_event,
    .decode_error = llmrt__decode_error,
};
