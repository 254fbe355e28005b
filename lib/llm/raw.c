/* Content given as raw JSON and bodies forwarded as the client sent them
 * (llmrt_message_t.content_json, llmrt_request_t.raw_body): the two ways a
 * request keeps what llmrt's fields cannot describe (content parts, cache
 * marks, images, unknown members) on its way to the upstream. */
#include <stdio.h>
#include <string.h>

#include "provider.h"

/* A raw body's tokens are not all kept: only top-level "model" is read, so
 * the scan keeps that name and needs few tokens whatever the body holds. */
static const llmrt__jkeep_t model_keep[] = {LLMRT__JKEEP("model")};

size_t llmrt__msg_json_len(const llmrt_message_t *m) {
  if (!m->content_json) return 0;
  return m->content_json_len ? m->content_json_len : strlen(m->content_json);
}

int llmrt__enc_content_json(llmrt__enc_t *e, const llmrt_message_t *m, size_t i, int elements) {
  llmrt__json_t j;
  llmrt__jtok_t toks[64];
  int rc = llmrt__json_parse(&j, m->content_json, llmrt__msg_json_len(m), toks, 64);
  int ty = rc ? 0 : llmrt__json_type(&j, 0);
  if (!rc && ty != LLMRT__JSON_ARRAY && ty != LLMRT__JSON_STRING) rc = LLMRT_EINVAL;
  if (rc && rc != LLMRT_ENOMEM) {
    llmrt__enc_msg(e, "messages[%zu].content_json: not a JSON array or string", i);
    llmrt__json_free(&j);
    return LLMRT_EINVAL;
  }
  if (!rc && elements && ty == LLMRT__JSON_ARRAY) {
    /* The array's elements alone, comma-separated (joining system blocks). */
    uint32_t t = 1;
    for (uint32_t k = 0; !rc && k < j.tok[0].size; k++, t = j.tok[t].next) {
      if (k) rc = llmrt__buf_append(e->out, ",", 1);
      if (!rc) rc = llmrt__jw_value(e->out, &j, (int)t);
    }
  } else if (!rc && elements) {
    rc = llmrt__buf_puts(e->out, "{\"type\":\"text\",\"text\":");
    if (!rc) rc = llmrt__jw_value(e->out, &j, 0);
    if (!rc) rc = llmrt__buf_puts(e->out, "}");
  } else if (!rc) {
    rc = llmrt__jw_value(e->out, &j, 0);
  }
  llmrt__json_free(&j);
  return rc;
}

int llmrt__raw_body(const llmrt_request_t *req, llmrt__buf_t *out, char *err, size_t errlen) {
  const char *raw = req->raw_body;
  size_t len = req->raw_body_len ? req->raw_body_len : strlen(raw);
  llmrt__json_t j;
  llmrt__jtok_t toks[16];
  int rc = llmrt__json_parse_keep(&j, raw, len, toks, 16, model_keep, 1, 4096);
  if (rc == 0 && llmrt__json_type(&j, 0) != LLMRT__JSON_OBJECT) rc = LLMRT_EINVAL;
  if (rc) {
    llmrt__json_free(&j);
    if (rc == LLMRT_ENOMEM) return rc;
    if (err && errlen) snprintf(err, errlen, "raw_body is not a JSON object");
    return LLMRT_EINVAL;
  }
  int t = llmrt__json_get(&j, 0, "model");
  size_t mlen = strlen(req->model);
  size_t before = out->len;
  if (llmrt__json_type(&j, t) == LLMRT__JSON_STRING && !j.tok[t].esc &&
      j.tok[t].end - j.tok[t].start == mlen && !memcmp(raw + j.tok[t].start, req->model, mlen)) {
    rc = llmrt__buf_append(out, raw, len); /* the model is the body's: not a byte changes */
  } else if (t >= 0) {
    /* Only the model's value changes: the bytes around it stay. A string's
     * token spans the inside of its quotes; any other value its text. */
    size_t s = j.tok[t].start, e = j.tok[t].end;
    if (j.tok[t].type == LLMRT__JSON_STRING) s--, e++;
    rc = llmrt__buf_append(out, raw, s);
    if (!rc) rc = llmrt__jw_string(out, req->model, mlen);
    if (!rc) rc = llmrt__buf_append(out, raw + e, len - e);
  } else {
    /* No model in the body: add it first, then the body's own members. */
    size_t open = j.tok[0].start + 1;
    rc = llmrt__buf_append(out, raw, open);
    if (!rc) rc = llmrt__buf_puts(out, "\"model\":");
    if (!rc) rc = llmrt__jw_string(out, req->model, mlen);
    if (!rc && j.tok[0].size) rc = llmrt__buf_append(out, ",", 1);
    if (!rc) rc = llmrt__buf_append(out, raw + open, len - open);
  }
  llmrt__json_free(&j);
  if (rc) out->len = before;
  return rc;
}
