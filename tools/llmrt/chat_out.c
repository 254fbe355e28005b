/* What llmrt chat prints: tokens as they arrive, the answer, errors, the -v
 * report and --json. Everything that came from the upstream is bounded and
 * escaped for the terminal, and the API key never appears. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chat.h"

int chat_push(chat_t *ch, const char *role, const char *text, size_t len) {
  if (ch->n_msgs == ch->cap_msgs) {
    size_t cap = ch->cap_msgs ? ch->cap_msgs * 2 : 8;
    llmrt_message_t *m = realloc(ch->msgs, cap * sizeof *m);
    if (!m) return -1;
    ch->msgs = m;
    ch->cap_msgs = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy) return -1;
  memcpy(copy, text, len);
  copy[len] = '\0';
  ch->msgs[ch->n_msgs++] =
      (llmrt_message_t){.role = role, .content = copy, .content_len = len ? len : 0};
  return 0;
}

void chat_free_history(chat_t *ch) {
  for (size_t i = 0; i < ch->n_msgs; i++)
    free((char *)ch->msgs[i].content);
  free(ch->msgs);
  ch->msgs = NULL;
  ch->n_msgs = ch->cap_msgs = 0;
}

void chat_set_headers(chat_t *ch) {
  int has_ua = 0;
  for (size_t i = 0; i < ch->n_headers; i++)
    if (!strcasecmp(ch->headers[i].name, "user-agent")) has_ua = 1;
  if (!has_ua)
    ch->headers[ch->n_headers++] = (llmrt_header_t){"User-Agent", "llmrt/" LLMRT_VERSION_STRING};
  ch->req.headers = ch->headers;
  ch->req.n_headers = ch->n_headers;
}

static int has_key(const chat_t *ch, const char *s) {
  return ch->api_key && strlen(ch->api_key) >= 4 && s && strstr(s, ch->api_key);
}

/* Prints one result field for -v: bounded, controls escaped, the key
 * redacted. */
static void put_field(const chat_t *ch, const char *label, const char *v) {
  char esc[4 * 160 + 8];
  if (!v || !*v) v = "-";
  if (has_key(ch, v)) v = "[redacted]";
  llmrt_tool_escape(esc, sizeof esc, v, 160);
  fprintf(stderr, "  %-12s %s\n", label, esc);
}

static void ms(const char *label, uint64_t us) {
  if (us) fprintf(stderr, "  %-12s %8.1f ms\n", label, us / 1000.0);
}

void chat_on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  chat_t *ch = user;
  (void)call;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  ch->printed = 1;
}

static void verbose_report(const chat_t *ch, llmrt_call_t *call, const llmrt_result_t *res) {
  const llmrt_timings_t *t = &res->timings;
  fprintf(stderr, "timings:\n");
  ms("dns", t->dns_us);
  ms("connect", t->connect_us);
  ms("tls", t->tls_us);
  ms("first byte", t->first_byte_us);
  ms("first token", t->first_token_us);
  ms("total", t->total_us);
  double gen_s = (t->total_us - t->first_token_us) / 1e6;
  fprintf(stderr, "  tokens       in %lld, out %lld, cached %lld\n", (long long)res->input_tokens,
          (long long)res->output_tokens, (long long)res->cached_tokens);
  if (res->output_tokens > 1 && gen_s > 0)
    fprintf(stderr, "  rate         %8.1f tokens/s\n", (res->output_tokens - 1) / gen_s);
  /* Only result fields, never request headers or the key; the strings
   * come from the upstream, so each is bounded and escaped. */
  fprintf(stderr, "  http status  %d, attempts %d\n", res->http_status, res->attempts);
  put_field(ch, "model", res->model);
  put_field(ch, "finish", res->finish_reason);
  put_field(ch, "request id", res->request_id);
  /* What the metrics plugin records for this call (docs/metrics.md). */
  llmrt_call_metrics_t cm = {.struct_size = sizeof cm};
  if (call && llmrt_call_metrics(call, &cm) == 0) {
    fprintf(stderr, "metrics:\n  duration     %10.6f s\n", cm.duration_s);
    if (cm.streamed && cm.n_chunks)
      fprintf(stderr, "  first chunk  %10.6f s\n  chunks       %u, mean gap %.6f s\n",
              cm.time_to_first_chunk_s, cm.n_chunks, cm.chunk_gap_mean_s);
    fprintf(stderr, "  upstream     %10.6f s (queued %.6f s)\n  overhead     %10.6f s\n",
            cm.upstream_s, cm.queued_s, cm.overhead_s);
  }
}

/* A string of the result for --json: JSON escapes it; the key is withheld. */
static void add_str(const chat_t *ch, cJSON *o, const char *name, const char *v, size_t len) {
  if (!v) {
    cJSON_AddNullToObject(o, name);
    return;
  }
  char *copy = malloc(len + 1);
  if (!copy) return;
  memcpy(copy, v, len);
  copy[len] = '\0';
  cJSON_AddStringToObject(o, name, has_key(ch, copy) ? "[redacted]" : copy);
  free(copy);
}

static void json_report(const chat_t *ch, int status, const llmrt_result_t *res) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return;
  const llmrt_timings_t *t = &res->timings;
  cJSON_AddBoolToObject(o, "ok", status == 0);
  cJSON_AddNumberToObject(o, "exit_code", ch->exit_code);
  add_str(ch, o, "text", res->text ? res->text : "", res->text_len);
  add_str(ch, o, "finish_reason", res->finish_reason,
          res->finish_reason ? strlen(res->finish_reason) : 0);
  add_str(ch, o, "model", res->model, res->model ? strlen(res->model) : 0);
  cJSON_AddNumberToObject(o, "input_tokens", (double)res->input_tokens);
  cJSON_AddNumberToObject(o, "output_tokens", (double)res->output_tokens);
  cJSON_AddNumberToObject(o, "cached_tokens", (double)res->cached_tokens);
  cJSON_AddNumberToObject(o, "http_status", res->http_status);
  add_str(ch, o, "request_id", res->request_id, res->request_id ? strlen(res->request_id) : 0);
  cJSON_AddNumberToObject(o, "attempts", res->attempts);
  cJSON_AddBoolToObject(o, "cache_hit", res->cache_hit != 0);
  cJSON *tm = cJSON_AddObjectToObject(o, "timings_ms");
  if (tm) {
    cJSON_AddNumberToObject(tm, "queued", t->queued_us / 1000.0);
    cJSON_AddNumberToObject(tm, "dns", t->dns_us / 1000.0);
    cJSON_AddNumberToObject(tm, "connect", t->connect_us / 1000.0);
    cJSON_AddNumberToObject(tm, "tls", t->tls_us / 1000.0);
    cJSON_AddNumberToObject(tm, "first_byte", t->first_byte_us / 1000.0);
    cJSON_AddNumberToObject(tm, "first_token", t->first_token_us / 1000.0);
    cJSON_AddNumberToObject(tm, "total", t->total_us / 1000.0);
  }
  cJSON *at = cJSON_AddObjectToObject(o, "attributes");
  for (size_t i = 0; at && i < res->n_attrs; i++) {
    const llmrt_attr_t *a = &res->attrs[i];
    if (!a->name || cJSON_GetObjectItemCaseSensitive(at, a->name)) continue;
    if (a->str)
      add_str(ch, at, a->name, a->str, strlen(a->str));
    else
      cJSON_AddNumberToObject(at, a->name, a->num);
  }
  if (status) {
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    if (e) {
      cJSON_AddStringToObject(e, "code", llmrt_err_name(status));
      cJSON_AddStringToObject(e, "description", llmrt_strerror(status));
      const char *m = res->error_message;
      add_str(ch, e, "message", m, m ? strlen(m) : 0);
      const char *ty = res->error_type;
      add_str(ch, e, "type", ty, ty ? strlen(ty) : 0);
    }
  } else {
    cJSON_AddNullToObject(o, "error");
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (s) {
    fputs(s, stdout);
    fputc('\n', stdout);
    cJSON_free(s);
  } else {
    fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(LLMRT_ENOMEM));
  }
  fflush(stdout);
}

void chat_on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  chat_t *ch = user;
  ch->exit_code = llmrt_tool_exit_code(status);
  if (ch->json) {
    json_report(ch, status, res);
  } else {
    if (!ch->printed && res->text_len) fwrite(res->text, 1, res->text_len, stdout);
    if (res->text_len) fputc('\n', stdout);
    fflush(stdout);
  }
  if (status && !(status == LLMRT_ECANCELED && ch->interrupted)) {
    /* The message may quote the upstream: keep it terminal-safe too. */
    char esc[4 * 1024 + 8];
    const char *m = res->error_message ? res->error_message : "";
    if (has_key(ch, m)) m = "[withheld: it contained the API key]";
    llmrt_tool_escape(esc, sizeof esc, m, 1024);
    fprintf(stderr, "llmrt chat: %s%s%s\n", llmrt_strerror(status), *esc ? ": " : "", esc);
  } else if (status) {
    fprintf(stderr, "llmrt chat: interrupted\n");
  }
  if (ch->verbose) verbose_report(ch, call, res);
  /* The answer joins the history for the next --multi turn. */
  if (status == 0 && chat_push(ch, "assistant", res->text ? res->text : "", res->text_len) != 0) {
    fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(LLMRT_ENOMEM));
    ch->exit_code = EXIT_FAIL;
  }
  ch->done = 1;
}
