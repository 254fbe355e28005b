/* Anthropic Messages wire format, as documented: the message object, the
 * stream (message_start, content_block_start, ping, content_block_delta
 * text_delta / input_json_delta..., content_block_stop, message_delta with
 * stop_reason and usage, message_stop), error events, and the
 * {"type":"error","error":{...}} body. */
#include <stdio.h>
#include <string.h>

#include "mock_internal.h"

static int err_body(llmrt__buf_t *o, int status, const char *msg) {
  const char *type = "invalid_request_error", *dflt = "Invalid request.";
  switch (status) {
  case 401:
    type = "authentication_error";
    dflt = "invalid x-api-key";
    break;
  case 403:
    type = "permission_error";
    dflt = "Your API key does not have permission to use the specified resource.";
    break;
  case 404:
    type = "not_found_error";
    dflt = "The requested resource could not be found.";
    break;
  case 413:
    type = "request_too_large";
    dflt = "Request exceeds the maximum allowed number of bytes.";
    break;
  case 429:
    type = "rate_limit_error";
    dflt = "Number of request tokens has exceeded your per-minute rate limit.";
    break;
  case 529:
    type = "overloaded_error";
    dflt = "Overloaded";
    break;
  default:
    if (status >= 500) {
      type = "api_error";
      dflt = "Internal server error";
    }
  }
  if (!msg) msg = dflt;
  int rc =
      llmrt__buf_printf(o, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":", type);
  if (rc == 0) rc = mock__json_str(o, msg, strlen(msg));
  if (rc == 0) rc = llmrt__buf_puts(o, "}}");
  return rc;
}

static int64_t uncached_input(const mock_ex_t *ex) {
  /* Anthropic counts cache reads apart from input_tokens. */
  int64_t n = ex->input_tokens - ex->ctl.cached;
  return n < 0 ? 0 : n;
}

static int usage(llmrt__buf_t *o, const mock_ex_t *ex, int64_t out) {
  return llmrt__buf_printf(o,
                           "{\"input_tokens\":%lld,\"cache_creation_input_tokens\":0,"
                           "\"cache_read_input_tokens\":%d,\"output_tokens\":%lld}",
                           (long long)uncached_input(ex), ex->ctl.cached, (long long)out);
}

static int block_json(llmrt__buf_t *o, const mock_ex_t *ex, int with_content) {
  int rc;
  if (ex->tool_name) {
    rc = llmrt__buf_printf(o, "{\"type\":\"tool_use\",\"id\":\"%s\",\"name\":", ex->tool_id);
    if (rc == 0) rc = mock__json_str(o, ex->tool_name, strlen(ex->tool_name));
    if (rc == 0) rc = llmrt__buf_puts(o, ",\"input\":");
    if (rc == 0)
      rc = with_content ? llmrt__buf_append(o, ex->tok.text.data, ex->tok.text.len)
                        : llmrt__buf_puts(o, "{}");
    if (rc == 0) rc = llmrt__buf_puts(o, "}");
  } else {
    rc = llmrt__buf_puts(o, "{\"type\":\"text\",\"text\":");
    if (rc == 0)
      rc = with_content
               ? mock__json_str(o, ex->tok.text.data ? ex->tok.text.data : "", ex->tok.text.len)
               : llmrt__buf_puts(o, "\"\"");
    if (rc == 0) rc = llmrt__buf_puts(o, "}");
  }
  return rc;
}

static int message_head(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = llmrt__buf_printf(
      o, "{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\",\"model\":", ex->id);
  if (rc == 0) rc = mock__json_str(o, ex->model, strlen(ex->model));
  return rc;
}

static int full(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = message_head(o, ex);
  if (rc == 0) rc = llmrt__buf_puts(o, ",\"content\":[");
  if (rc == 0) rc = block_json(o, ex, 1);
  if (rc == 0)
    rc = llmrt__buf_printf(o, "],\"stop_reason\":\"%s\",\"stop_sequence\":null,\"usage\":",
                           mock__finish_name(MOCK_API_ANTHROPIC, ex->finish));
  if (rc == 0) rc = usage(o, ex, mock__output_tokens(ex));
  if (rc == 0) rc = llmrt__buf_puts(o, "}");
  return rc;
}

static int stream_start(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc =
      llmrt__buf_puts(o, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":");
  if (rc == 0) rc = message_head(o, ex);
  if (rc == 0)
    rc = llmrt__buf_puts(o,
                         ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
  if (rc == 0) rc = usage(o, ex, 1);
  if (rc == 0)
    rc = llmrt__buf_puts(
        o, "}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\","
           "\"index\":0,\"content_block\":");
  if (rc == 0) rc = block_json(o, ex, 0);
  if (rc == 0) rc = llmrt__buf_puts(o, "}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n");
  return rc;
}

static int stream_token(llmrt__buf_t *o, const mock_ex_t *ex, const char *tok, size_t len) {
  int rc = llmrt__buf_puts(o, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                              "\"index\":0,\"delta\":");
  if (rc == 0)
    rc = llmrt__buf_puts(o, ex->tool_name ? "{\"type\":\"input_json_delta\",\"partial_json\":"
                                          : "{\"type\":\"text_delta\",\"text\":");
  if (rc == 0) rc = mock__json_str(o, tok, len);
  if (rc == 0) rc = llmrt__buf_puts(o, "}}\n\n");
  return rc;
}

static int stream_finish(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = llmrt__buf_printf(
      o,
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\","
      "\"stop_sequence\":null},\"usage\":{\"output_tokens\":%lld}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
      mock__finish_name(MOCK_API_ANTHROPIC, ex->finish), (long long)mock__output_tokens(ex));
  return rc;
}

static int stream_error(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = llmrt__buf_puts(o, "event: error\ndata: ");
  if (rc == 0) rc = err_body(o, 529, NULL);
  if (rc == 0) rc = llmrt__buf_puts(o, "\n\n");
  return rc;
}

static int stream_malformed(llmrt__buf_t *o, const mock_ex_t *ex) {
  return llmrt__buf_puts(o, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                            "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"brok\n\n");
}

const mock_fmt_t mock__fmt_anthropic = {
    "anthropic",  err_body,         full,         stream_start, stream_token, stream_finish,
    stream_error, stream_malformed, "request-id",
};
