/* OpenAI Chat Completions wire format, as documented in the API reference:
 * the chat.completion object, chat.completion.chunk stream events (role
 * chunk first, content deltas, a finish_reason chunk, a usage chunk with
 * empty choices when stream_options.include_usage, then "data: [DONE]"),
 * and the {"error": {...}} body. */
#include <stdio.h>
#include <string.h>

#include "mock_internal.h"

static int err_body(llmrt__buf_t *o, int status, const char *msg) {
  const char *type = "invalid_request_error", *code = NULL;
  const char *dflt = "Invalid request.";
  switch (status) {
  case 401:
    code = "invalid_api_key";
    dflt = "Incorrect API key provided.";
    break;
  case 403:
    dflt = "You are not allowed to sample from this model.";
    break;
  case 404:
    code = "model_not_found";
    dflt = "The model does not exist or you do not have access to it.";
    break;
  case 429:
    type = "requests";
    code = "rate_limit_exceeded";
    dflt = "Rate limit reached for requests. Please try again later.";
    break;
  default:
    if (status >= 500) {
      type = "server_error";
      dflt = status == 503 ? "The engine is currently overloaded, please try again later."
                           : "The server had an error while processing your request. Sorry "
                             "about that!";
    }
  }
  if (!msg) msg = dflt;
  int rc = llmrt__buf_puts(o, "{\"error\":{\"message\":");
  if (rc == 0) rc = mock__json_str(o, msg, strlen(msg));
  if (rc == 0) rc = llmrt__buf_printf(o, ",\"type\":\"%s\",\"param\":null,\"code\":", type);
  if (rc == 0) rc = code ? llmrt__buf_printf(o, "\"%s\"}}", code) : llmrt__buf_puts(o, "null}}");
  return rc;
}

static int usage(llmrt__buf_t *o, const mock_ex_t *ex) {
  int64_t out = mock__output_tokens(ex);
  return llmrt__buf_printf(
      o,
      "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
      "\"prompt_tokens_details\":{\"cached_tokens\":%d,\"audio_tokens\":0},"
      "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":"
      "0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
      (long long)ex->input_tokens, (long long)out, (long long)(ex->input_tokens + out),
      ex->ctl.cached);
}

static int full(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = llmrt__buf_printf(o,
                             "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%lld,"
                             "\"model\":",
                             ex->id, (long long)ex->created);
  if (rc == 0) rc = mock__json_str(o, ex->model, strlen(ex->model));
  if (rc == 0)
    rc = llmrt__buf_puts(o, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",");
  if (ex->tool_name) {
    if (rc == 0)
      rc =
          llmrt__buf_printf(o,
                            "\"content\":null,\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\","
                            "\"function\":{\"name\":",
                            ex->tool_id);
    if (rc == 0) rc = mock__json_str(o, ex->tool_name, strlen(ex->tool_name));
    if (rc == 0) rc = llmrt__buf_puts(o, ",\"arguments\":");
    if (rc == 0) rc = mock__json_str(o, ex->tok.text.data, ex->tok.text.len);
    if (rc == 0) rc = llmrt__buf_puts(o, "}}],");
  } else {
    if (rc == 0) rc = llmrt__buf_puts(o, "\"content\":");
    if (rc == 0)
      rc = mock__json_str(o, ex->tok.text.data ? ex->tok.text.data : "", ex->tok.text.len);
    if (rc == 0) rc = llmrt__buf_puts(o, ",");
  }
  if (rc == 0)
    rc = llmrt__buf_printf(o,
                           "\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
                           "\"finish_reason\":\"%s\"}],\"usage\":",
                           mock__finish_name(MOCK_API_OPENAI, ex->finish));
  if (rc == 0) rc = usage(o, ex);
  if (rc == 0)
    rc = llmrt__buf_puts(o, ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\"}");
  return rc;
}

/* "data: {chunk head,"choices":[" ... */
static int chunk_open(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = llmrt__buf_printf(o,
                             "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
                             "\"created\":%lld,\"model\":",
                             ex->id, (long long)ex->created);
  if (rc == 0) rc = mock__json_str(o, ex->model, strlen(ex->model));
  if (rc == 0)
    rc = llmrt__buf_puts(
        o, ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\",\"choices\":[");
  return rc;
}

static int chunk_close(llmrt__buf_t *o, const mock_ex_t *ex) {
  return llmrt__buf_puts(o, ex->include_usage ? "],\"usage\":null}\n\n" : "]}\n\n");
}

static int stream_start(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = chunk_open(o, ex);
  if (rc == 0 && ex->tool_name) {
    rc = llmrt__buf_printf(o,
                           "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,"
                           "\"tool_calls\":[{\"index\":0,\"id\":\"%s\",\"type\":\"function\","
                           "\"function\":{\"name\":",
                           ex->tool_id);
    if (rc == 0) rc = mock__json_str(o, ex->tool_name, strlen(ex->tool_name));
    if (rc == 0)
      rc = llmrt__buf_puts(o, ",\"arguments\":\"\"}}],\"refusal\":null},\"logprobs\":null,"
                              "\"finish_reason\":null}");
  } else if (rc == 0) {
    rc = llmrt__buf_puts(o, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                            "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}");
  }
  if (rc == 0) rc = chunk_close(o, ex);
  return rc;
}

static int stream_token(llmrt__buf_t *o, const mock_ex_t *ex, const char *tok, size_t len) {
  int rc = chunk_open(o, ex);
  if (rc == 0)
    rc = llmrt__buf_puts(o, ex->tool_name ? "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                                            "\"function\":{\"arguments\":"
                                          : "{\"index\":0,\"delta\":{\"content\":");
  if (rc == 0) rc = mock__json_str(o, tok, len);
  if (rc == 0) rc = llmrt__buf_puts(o, ex->tool_name ? "}}]" : "");
  if (rc == 0) rc = llmrt__buf_puts(o, "},\"logprobs\":null,\"finish_reason\":null}");
  if (rc == 0) rc = chunk_close(o, ex);
  return rc;
}

static int stream_finish(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = chunk_open(o, ex);
  if (rc == 0)
    rc = llmrt__buf_printf(o,
                           "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"}",
                           mock__finish_name(MOCK_API_OPENAI, ex->finish));
  if (rc == 0) rc = chunk_close(o, ex);
  if (rc == 0 && ex->include_usage) {
    rc = chunk_open(o, ex);
    if (rc == 0) rc = llmrt__buf_puts(o, "],\"usage\":");
    if (rc == 0) rc = usage(o, ex);
    if (rc == 0) rc = llmrt__buf_puts(o, "}\n\n");
  }
  if (rc == 0) rc = llmrt__buf_puts(o, "data: [DONE]\n\n");
  return rc;
}

static int stream_error(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = llmrt__buf_puts(o, "data: ");
  if (rc == 0) rc = err_body(o, 500, NULL);
  if (rc == 0) rc = llmrt__buf_puts(o, "\n\n");
  return rc;
}

static int stream_malformed(llmrt__buf_t *o, const mock_ex_t *ex) {
  int rc = chunk_open(o, ex);
  /* The JSON stops inside a string: no closing quote, brackets or braces. */
  if (rc == 0) rc = llmrt__buf_puts(o, "{\"index\":0,\"delta\":{\"content\":\"brok\n\n");
  return rc;
}

const mock_fmt_t mock__fmt_openai = {
    "openai",     err_body,         full,           stream_start, stream_token, stream_finish,
    stream_error, stream_malformed, "x-request-id",
};
