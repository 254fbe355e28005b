/* What the gateway writes to its clients, in the client's protocol: error
 * bodies, whole answers, and stream events. The events come from the
 * library (llmrt_event_t), so an answer from an upstream of the other
 * protocol is written the same way (docs/gateway.md, "Translation"). Each
 * SSE event is one write, handed on as it arrives. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gw_internal.h"
#include "llm/json.h"

const char *llmrt__gw_error_type(int proto, int status) {
  switch (status) {
  case 400:
  case 413:
  case 415:
  case 431:
    return "invalid_request_error";
  case 401:
    return "authentication_error";
  case 403:
    return "permission_error";
  case 404:
    return "not_found_error";
  case 429:
    return "rate_limit_error";
  case 529:
    return proto == GW_ANTHROPIC ? "overloaded_error" : "server_error";
  case 503:
    return proto == GW_ANTHROPIC ? "overloaded_error" : "server_error";
  default:
    return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

int llmrt__gw_error_body(llmrt__buf_t *b, int proto, int status, const char *type,
                         const char *msg) {
  if (!type) type = llmrt__gw_error_type(proto, status);
  int rc;
  if (proto == GW_ANTHROPIC) {
    rc = llmrt__buf_puts(b, "{\"type\":\"error\",\"error\":{\"type\":");
    if (!rc) rc = llmrt__jw_string(b, type, strlen(type));
    if (!rc) rc = llmrt__buf_puts(b, ",\"message\":");
    if (!rc) rc = llmrt__jw_string(b, msg, strlen(msg));
    if (!rc) rc = llmrt__buf_puts(b, "}}");
  } else {
    rc = llmrt__buf_puts(b, "{\"error\":{\"message\":");
    if (!rc) rc = llmrt__jw_string(b, msg, strlen(msg));
    if (!rc) rc = llmrt__buf_puts(b, ",\"type\":");
    if (!rc) rc = llmrt__jw_string(b, type, strlen(type));
    if (!rc) rc = llmrt__buf_puts(b, ",\"param\":null,\"code\":null}}");
  }
  return rc;
}

int llmrt__gw_respond_error(llmrt__sreq_t *r, int proto, int status, const char *type,
                            const char *msg) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  llmrt_header_t h[2] = {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer"}};
  int rc;
  if (llmrt__gw_error_body(&b, proto, status, type, msg))
    rc = llmrt__sreq_respond(r, 500, NULL, 0, "out of memory", 13);
  else
    rc = llmrt__sreq_respond(r, status, h, status == 401 ? 2 : 1, b.data, b.len);
  llmrt__buf_free(&b);
  return rc;
}

/* ---- Streams ---- */

/* A failed write may end the exchange at once (its abort callback then
 * clears ex->r): every use of ex->r below checks it first. */
static int flush_out(gw_ex_t *ex) {
  if (!ex->r) return LLMRT_ECLOSED;
  int rc = llmrt__sreq_write(ex->r, ex->out.data, ex->out.len);
  ex->bytes_out += ex->out.len;
  llmrt__buf_reset(&ex->out);
  return rc;
}

static const char *anthropic_stop(const char *f) {
  if (!f || !*f || !strcmp(f, "stop")) return "end_turn";
  if (!strcmp(f, "length")) return "max_tokens";
  if (!strcmp(f, "tool_calls")) return "tool_use";
  if (!strcmp(f, "content_filter")) return "refusal";
  return f;
}

static int chunk_open(gw_ex_t *ex) {
  llmrt__buf_t *b = &ex->out;
  int rc = llmrt__buf_puts(b, "data: {\"id\":");
  if (!rc) rc = llmrt__jw_string(b, ex->id, strlen(ex->id));
  if (!rc)
    rc = llmrt__buf_printf(b,
                           ",\"object\":\"chat.completion.chunk\",\"created\":%lld,"
                           "\"model\":",
                           (long long)time(NULL));
  if (!rc) rc = llmrt__jw_string(b, ex->client_model, strlen(ex->client_model));
  return rc;
}

static int commit(gw_ex_t *ex) {
  if (ex->committed) return 0;
  char timing[96];
  uint64_t gw_us = llmrt__now_us() - ex->t_start;
  snprintf(timing, sizeof timing, "gateway;dur=%.3f;desc=\"before the stream\"", gw_us / 1000.0);
  llmrt_header_t h[] = {{"Content-Type", "text/event-stream"},
                        {"Cache-Control", "no-cache"},
                        {"Server-Timing", timing},
                        {"x-request-id", ex->id}};
  int rc = llmrt__sreq_start(ex->r, 200, h, 4);
  if (rc) return rc;
  if (!ex->r) return LLMRT_ECLOSED;
  ex->committed = 1;
  ex->status = 200;
  llmrt__buf_t *b = &ex->out;
  if (ex->proto == GW_ANTHROPIC) {
    rc = llmrt__buf_puts(b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
                            "{\"id\":");
    if (!rc) rc = llmrt__jw_string(b, ex->id, strlen(ex->id));
    if (!rc) rc = llmrt__buf_puts(b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    if (!rc) rc = llmrt__jw_string(b, ex->client_model, strlen(ex->client_model));
    if (!rc)
      rc = llmrt__buf_printf(b,
                             ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                             "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":0}}}\n\n",
                             (long long)ex->in_tokens);
  } else {
    rc = chunk_open(ex);
    if (!rc)
      rc = llmrt__buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                              "\"content\":\"\"},\"finish_reason\":null}]}\n\n");
  }
  return rc ? rc : flush_out(ex);
}

static int a_close_block(gw_ex_t *ex) {
  if (!ex->block_open) return 0;
  ex->block_open = 0;
  return llmrt__buf_printf(&ex->out,
                           "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                           "\"index\":%d}\n\n",
                           ex->block_index);
}

static int a_event(gw_ex_t *ex, const llmrt_event_t *ev) {
  llmrt__buf_t *b = &ex->out;
  int rc = 0;
  if (ev->type == LLMRT_EV_TEXT) {
    if (ex->block_open && ex->block_type != LLMRT_EV_TEXT) rc = a_close_block(ex);
    if (!rc && !ex->block_open) {
      ex->block_open = 1;
      ex->block_type = LLMRT_EV_TEXT;
      ex->block_index = ex->next_block++;
      rc = llmrt__buf_printf(b,
                             "event: content_block_start\ndata: {\"type\":"
                             "\"content_block_start\",\"index\":%d,\"content_block\":"
                             "{\"type\":\"text\",\"text\":\"\"}}\n\n",
                             ex->block_index);
    }
    if (!rc)
      rc = llmrt__buf_printf(b,
                             "event: content_block_delta\ndata: {\"type\":"
                             "\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":"
                             "\"text_delta\",\"text\":",
                             ex->block_index);
    if (!rc) rc = llmrt__jw_string(b, ev->text ? ev->text : "", ev->len);
    if (!rc) rc = llmrt__buf_puts(b, "}}\n\n");
  } else if (ev->type == LLMRT_EV_TOOL_CALL && ev->index < GW_MAX_TOOLS) {
    if (ev->id || ev->name || !ex->tool_block_of[ev->index]) {
      rc = a_close_block(ex);
      ex->block_open = 1;
      ex->block_type = LLMRT_EV_TOOL_CALL;
      ex->block_index = ex->next_block++;
      ex->tool_block_of[ev->index] = ex->block_index + 1;
      const char *id = ev->id ? ev->id : "", *name = ev->name ? ev->name : "";
      if (!rc)
        rc = llmrt__buf_printf(b,
                               "event: content_block_start\ndata: {\"type\":"
                               "\"content_block_start\",\"index\":%d,\"content_block\":"
                               "{\"type\":\"tool_use\",\"id\":",
                               ex->block_index);
      if (!rc) rc = llmrt__jw_string(b, id, strlen(id));
      if (!rc) rc = llmrt__buf_puts(b, ",\"name\":");
      if (!rc) rc = llmrt__jw_string(b, name, strlen(name));
      if (!rc) rc = llmrt__buf_puts(b, ",\"input\":{}}}\n\n");
    }
    if (!rc && ev->len) {
      rc = llmrt__buf_printf(b,
                             "event: content_block_delta\ndata: {\"type\":"
                             "\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":"
                             "\"input_json_delta\",\"partial_json\":",
                             ex->tool_block_of[ev->index] - 1);
      if (!rc) rc = llmrt__jw_string(b, ev->text, ev->len);
      if (!rc) rc = llmrt__buf_puts(b, "}}\n\n");
    }
  }
  return rc;
}

static int o_event(gw_ex_t *ex, const llmrt_event_t *ev) {
  llmrt__buf_t *b = &ex->out;
  int rc = 0;
  if (ev->type == LLMRT_EV_TEXT) {
    rc = chunk_open(ex);
    if (!rc) rc = llmrt__buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
    if (!rc) rc = llmrt__jw_string(b, ev->text ? ev->text : "", ev->len);
    if (!rc) rc = llmrt__buf_puts(b, "},\"finish_reason\":null}]}\n\n");
  } else if (ev->type == LLMRT_EV_TOOL_CALL) {
    rc = chunk_open(ex);
    if (!rc)
      rc = llmrt__buf_printf(b,
                             ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
                             "\"index\":%u",
                             (unsigned)ev->index);
    if (!rc && ev->id) {
      rc = llmrt__buf_puts(b, ",\"id\":");
      if (!rc) rc = llmrt__jw_string(b, ev->id, strlen(ev->id));
      if (!rc) rc = llmrt__buf_puts(b, ",\"type\":\"function\"");
    }
    if (!rc) rc = llmrt__buf_puts(b, ",\"function\":{");
    if (!rc && ev->name) {
      rc = llmrt__buf_puts(b, "\"name\":");
      if (!rc) rc = llmrt__jw_string(b, ev->name, strlen(ev->name));
      if (!rc) rc = llmrt__buf_puts(b, ",");
    }
    if (!rc) rc = llmrt__buf_puts(b, "\"arguments\":");
    if (!rc) rc = llmrt__jw_string(b, ev->text ? ev->text : "", ev->len);
    if (!rc) rc = llmrt__buf_puts(b, "}}]},\"finish_reason\":null}]}\n\n");
  }
  return rc;
}

int llmrt__gw_stream_event(gw_ex_t *ex, const llmrt_event_t *ev) {
  if (ev->type == LLMRT_EV_USAGE) {
    ex->in_tokens = ev->input_tokens;
    ex->out_tokens = ev->output_tokens;
    ex->cached_tokens = ev->cached_tokens;
    return 0;
  }
  if (ev->type == LLMRT_EV_FINISH) {
    snprintf(ex->finish, sizeof ex->finish, "%s", ev->finish_reason ? ev->finish_reason : "");
    return 0;
  }
  /* Reasoning has no faithful place in the other protocol's stream (an
   * Anthropic thinking block needs its signature): not written. */
  if (ev->type != LLMRT_EV_TEXT && ev->type != LLMRT_EV_TOOL_CALL && ev->type != LLMRT_EV_START)
    return 0;
  int rc = commit(ex);
  if (rc || ev->type == LLMRT_EV_START) return rc;
  rc = ex->proto == GW_ANTHROPIC ? a_event(ex, ev) : o_event(ex, ev);
  return rc ? rc : flush_out(ex);
}

int llmrt__gw_stream_end(gw_ex_t *ex, const llmrt_result_t *res) {
  (void)res;
  int rc = commit(ex);
  llmrt__buf_t *b = &ex->out;
  if (rc) return rc;
  if (ex->proto == GW_ANTHROPIC) {
    rc = a_close_block(ex);
    if (!rc)
      rc = llmrt__buf_puts(b, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
                              "{\"stop_reason\":");
    const char *stop = anthropic_stop(ex->finish);
    if (!rc) rc = llmrt__jw_string(b, stop, strlen(stop));
    if (!rc)
      rc = llmrt__buf_printf(b,
                             ",\"stop_sequence\":null},\"usage\":{\"input_tokens\":%lld,"
                             "\"output_tokens\":%lld}}\n\nevent: message_stop\ndata: "
                             "{\"type\":\"message_stop\"}\n\n",
                             (long long)ex->in_tokens, (long long)ex->out_tokens);
  } else {
    rc = chunk_open(ex);
    const char *f = ex->finish[0] ? ex->finish : "stop";
    if (!rc) rc = llmrt__buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":");
    if (!rc) rc = llmrt__jw_string(b, f, strlen(f));
    if (!rc) rc = llmrt__buf_puts(b, "}]}\n\n");
    if (!rc && ex->include_usage) {
      rc = chunk_open(ex);
      if (!rc)
        rc = llmrt__buf_printf(b,
                               ",\"choices\":[],\"usage\":{\"prompt_tokens\":%lld,"
                               "\"completion_tokens\":%lld,\"total_tokens\":%lld}}\n\n",
                               (long long)ex->in_tokens, (long long)ex->out_tokens,
                               (long long)(ex->in_tokens + ex->out_tokens));
    }
    if (!rc) rc = llmrt__buf_puts(b, "data: [DONE]\n\n");
  }
  if (!rc) rc = flush_out(ex);
  if (!rc) rc = ex->r ? llmrt__sreq_end(ex->r) : LLMRT_ECLOSED;
  return rc;
}

int llmrt__gw_stream_error(gw_ex_t *ex, const char *type, const char *msg) {
  llmrt__buf_t *b = &ex->out;
  int rc = 0;
  if (ex->proto == GW_ANTHROPIC) {
    rc = a_close_block(ex);
    if (!rc) rc = llmrt__buf_puts(b, "event: error\ndata: ");
  } else {
    rc = llmrt__buf_puts(b, "data: ");
  }
  if (!rc) rc = llmrt__gw_error_body(b, ex->proto, 500, type, msg);
  if (!rc) rc = llmrt__buf_puts(b, "\n\n");
  if (!rc) rc = flush_out(ex);
  if (!rc) rc = ex->r ? llmrt__sreq_end(ex->r) : LLMRT_ECLOSED;
  return rc;
}

/* ---- Whole answers ---- */

int llmrt__gw_tool_event(gw_ex_t *ex, const llmrt_event_t *ev) {
  if (ev->index >= GW_MAX_TOOLS) return 0;
  gw_tool_t *t = &ex->tools[ev->index];
  if (ev->index >= ex->n_tools) ex->n_tools = ev->index + 1;
  if (ev->id && !t->id && !(t->id = llmrt__strdup(ev->id))) return LLMRT_ENOMEM;
  if (ev->name && !t->name && !(t->name = llmrt__strdup(ev->name))) return LLMRT_ENOMEM;
  return ev->len ? llmrt__buf_append(&t->args, ev->text, ev->len) : 0;
}

static int put_str0(llmrt__buf_t *b, const char *s) {
  return llmrt__jw_string(b, s ? s : "", s ? strlen(s) : 0);
}

int llmrt__gw_whole(gw_ex_t *ex, const llmrt_result_t *res) {
  llmrt__buf_t *b = &ex->out;
  int rc;
  const char *text = res->text ? res->text : "";
  if (ex->proto == GW_ANTHROPIC) {
    rc = llmrt__buf_puts(b, "{\"id\":");
    if (!rc) rc = put_str0(b, ex->id);
    if (!rc) rc = llmrt__buf_puts(b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    if (!rc) rc = put_str0(b, ex->client_model);
    if (!rc) rc = llmrt__buf_puts(b, ",\"content\":[");
    int n = 0;
    if (!rc && (res->text_len || !ex->n_tools)) {
      rc = llmrt__buf_puts(b, "{\"type\":\"text\",\"text\":");
      if (!rc) rc = llmrt__jw_string(b, text, res->text_len);
      if (!rc) rc = llmrt__buf_puts(b, "}");
      n++;
    }
    for (unsigned i = 0; !rc && i < ex->n_tools; i++) {
      gw_tool_t *t = &ex->tools[i];
      rc = llmrt__buf_puts(b, n++ ? ",{\"type\":\"tool_use\",\"id\":"
                                  : "{\"type\":\"tool_use\",\"id\":");
      if (!rc) rc = put_str0(b, t->id);
      if (!rc) rc = llmrt__buf_puts(b, ",\"name\":");
      if (!rc) rc = put_str0(b, t->name);
      if (!rc) rc = llmrt__buf_puts(b, ",\"input\":");
      /* The arguments are a JSON text from the upstream: checked before
       * they become part of our body. */
      llmrt__json_t j;
      llmrt__jtok_t toks[32];
      int ok = t->args.len && llmrt__json_parse(&j, t->args.data, t->args.len, toks, 32) == 0 &&
               llmrt__json_type(&j, 0) == LLMRT__JSON_OBJECT;
      if (!rc) rc = ok ? llmrt__jw_value(b, &j, 0) : llmrt__buf_puts(b, "{}");
      if (t->args.len) llmrt__json_free(&j);
      if (!rc) rc = llmrt__buf_puts(b, "}");
    }
    const char *stop = anthropic_stop(res->finish_reason);
    if (!rc) rc = llmrt__buf_puts(b, "],\"stop_reason\":");
    if (!rc) rc = put_str0(b, stop);
    if (!rc)
      rc = llmrt__buf_printf(b,
                             ",\"stop_sequence\":null,\"usage\":{\"input_tokens\":%lld,"
                             "\"output_tokens\":%lld,\"cache_read_input_tokens\":%lld}}",
                             (long long)res->input_tokens, (long long)res->output_tokens,
                             (long long)res->cached_tokens);
  } else {
    rc = llmrt__buf_puts(b, "{\"id\":");
    if (!rc) rc = put_str0(b, ex->id);
    if (!rc)
      rc = llmrt__buf_printf(b,
                             ",\"object\":\"chat.completion\",\"created\":%lld,"
                             "\"model\":",
                             (long long)time(NULL));
    if (!rc) rc = put_str0(b, ex->client_model);
    if (!rc)
      rc = llmrt__buf_puts(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                              "\"content\":");
    if (!rc)
      rc = (!res->text_len && ex->n_tools) ? llmrt__buf_puts(b, "null")
                                           : llmrt__jw_string(b, text, res->text_len);
    if (!rc && ex->n_tools) rc = llmrt__buf_puts(b, ",\"tool_calls\":[");
    for (unsigned i = 0; !rc && i < ex->n_tools; i++) {
      gw_tool_t *t = &ex->tools[i];
      rc = llmrt__buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
      if (!rc) rc = put_str0(b, t->id);
      if (!rc) rc = llmrt__buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
      if (!rc) rc = put_str0(b, t->name);
      if (!rc) rc = llmrt__buf_puts(b, ",\"arguments\":");
      if (!rc) rc = llmrt__jw_string(b, t->args.data ? t->args.data : "", t->args.len);
      if (!rc) rc = llmrt__buf_puts(b, "}}");
    }
    if (!rc && ex->n_tools) rc = llmrt__buf_puts(b, "]");
    const char *f = res->finish_reason ? res->finish_reason : "stop";
    if (!rc) rc = llmrt__buf_puts(b, "},\"finish_reason\":");
    if (!rc) rc = put_str0(b, f);
    if (!rc)
      rc = llmrt__buf_printf(b,
                             "}],\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                             "\"total_tokens\":%lld,\"prompt_tokens_details\":"
                             "{\"cached_tokens\":%lld}}}",
                             (long long)res->input_tokens, (long long)res->output_tokens,
                             (long long)(res->input_tokens + res->output_tokens),
                             (long long)res->cached_tokens);
  }
  return rc;
}
