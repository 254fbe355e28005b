/* The mock upstream's server glue: start and stop, routing, the auth checks
 * each provider makes, request validation and parsing (cJSON), the
 * counters, and turning a request plus its controls into an exchange. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock_internal.h"

void llmrt_mock_options_init(llmrt_mock_options_t *o) {
  memset(o, 0, sizeof *o);
}

/* ---- Request helpers -------------------------------------------------------- */

/* Appends the text of a content value: a string, or an array of parts with
 * "text" (both APIs), to b. */
static int content_text(const cJSON *content, llmrt__buf_t *b) {
  if (cJSON_IsString(content)) return llmrt__buf_puts(b, content->valuestring);
  const cJSON *part;
  cJSON_ArrayForEach(part, content) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
    if (cJSON_IsString(t) && llmrt__buf_puts(b, t->valuestring) != 0) return LLMRT_ENOMEM;
  }
  return 0;
}

static const char *first_tool_name(const cJSON *body) {
  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
  const cJSON *t0 = cJSON_GetArrayItem(tools, 0);
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t0, "function"); /* OpenAI */
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn ? fn : t0, "name");
  return cJSON_IsString(name) ? name->valuestring : NULL;
}

typedef struct {
  const char *msg; /* 400 message when not NULL */
  uint64_t seed;
  int64_t input_bytes;
} scan_t;

/* Hashes model + messages (+ Anthropic's system) into the seed, counts the
 * input bytes, and finds the last user message (appended to echo). */
static int scan_messages(const cJSON *body, const char *model, scan_t *sc, llmrt__buf_t *echo) {
  llmrt__buf_t t;
  llmrt__buf_init(&t);
  uint64_t h = mock__fnv1a(1469598103934665603ULL, model, strlen(model) + 1);
  const cJSON *sys = cJSON_GetObjectItemCaseSensitive(body, "system");
  int rc = 0;
  if (sys) rc = content_text(sys, &t);
  sc->input_bytes = (int64_t)t.len;
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages"), *msg;
  cJSON_ArrayForEach(msg, msgs) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
    if (!cJSON_IsString(role)) {
      sc->msg = "messages: each message needs a role";
      break;
    }
    if (rc == 0) rc = llmrt__buf_puts(&t, role->valuestring);
    if (rc == 0) rc = llmrt__buf_append(&t, "\0", 1);
    size_t text_start = t.len;
    if (rc == 0) rc = content_text(cJSON_GetObjectItemCaseSensitive(msg, "content"), &t);
    if (rc == 0 && strcmp(role->valuestring, "user") == 0) {
      llmrt__buf_reset(echo);
      rc = llmrt__buf_append(echo, t.data + text_start, t.len - text_start);
    }
    sc->input_bytes += (int64_t)(t.len - text_start);
    if (rc == 0) rc = llmrt__buf_append(&t, "\0", 1);
    if (rc != 0) break;
  }
  sc->seed = mock__fnv1a(h, t.data ? t.data : "", t.len);
  llmrt__buf_free(&t);
  return rc;
}

static void make_id(char *out, size_t n, const char *prefix, uint64_t seed, uint64_t seq) {
  snprintf(out, n, "%s%012llx%08llx", prefix, (unsigned long long)(seed & 0xFFFFFFFFFFFFULL),
           (unsigned long long)(seq & 0xFFFFFFFFULL));
}

/* ---- Routing ---------------------------------------------------------------- */

static void remember(llmrt_mock_t *m, llmrt__sreq_t *r) {
  size_t len, n;
  const char *body = llmrt__sreq_body(r, &len);
  llmrt__buf_reset(&m->last_body);
  llmrt__buf_reset(&m->last_head);
  if (llmrt__buf_append(&m->last_body, body, len) != 0) llmrt__buf_reset(&m->last_body);
  const llmrt_header_t *h = llmrt__sreq_headers(r, &n);
  for (size_t i = 0; i < n; i++) {
    if (llmrt__buf_append(&m->last_head, h[i].name, strlen(h[i].name) + 1) != 0 ||
        llmrt__buf_append(&m->last_head, h[i].value, strlen(h[i].value) + 1) != 0) {
      llmrt__buf_reset(&m->last_head);
      break;
    }
  }
  snprintf(m->last_path, sizeof m->last_path, "%s", llmrt__sreq_path(r));
}

static int check_auth(llmrt_mock_t *m, llmrt__sreq_t *r, int api, const mock_fmt_t *fmt) {
  if (api == MOCK_API_OPENAI) {
    const char *a = llmrt__sreq_header(r, "authorization");
    if (!a || !*a) {
      mock__respond_error(m, r, fmt, 401,
                          "You didn't provide an API key. You need to provide your API key in an "
                          "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                          "YOUR_KEY).",
                          -1);
      return -1;
    }
    if (strncasecmp(a, "Bearer ", 7) != 0 || !a[7 + strspn(a + 7, " ")]) {
      mock__respond_error(m, r, fmt, 401, "Incorrect API key provided.", -1);
      return -1;
    }
    return 0;
  }
  const char *k = llmrt__sreq_header(r, "x-api-key");
  if (!k || !*k) {
    mock__respond_error(m, r, fmt, 401, "x-api-key header is required", -1);
    return -1;
  }
  const char *v = llmrt__sreq_header(r, "anthropic-version");
  if (!v || !*v) {
    mock__respond_error(m, r, fmt, 400, "anthropic-version: header is required", -1);
    return -1;
  }
  return 0;
}

/* The simulated rate limit (ratelimit.c), per API key: charges the request
 * and its answer's tokens; 1 when it answered 429 instead. */
static int rate_limited(llmrt_mock_t *m, llmrt__sreq_t *r, mock_ex_t *ex) {
  const char *key = llmrt__sreq_header(r, ex->api == MOCK_API_OPENAI ? "authorization" : "x-api-key");
  uint64_t retry_ms;
  int64_t cost = ex->input_tokens + (int64_t)ex->tok.n;
  if (mock__rl_charge(m, &ex->ctl, ex->api, key ? key : "", cost, &ex->rlh, &retry_ms) == 0)
    return 0;
  mock__rl_respond_429(m, r, ex->fmt, &ex->rlh, retry_ms);
  return 1;
}

/* Validates and parses the body, applies the controls, and starts the
 * exchange. Every failure answers with the provider's error JSON. */
static void chat(llmrt_mock_t *m, llmrt__sreq_t *r, int api) {
  const mock_fmt_t *fmt = api == MOCK_API_OPENAI ? &mock__fmt_openai : &mock__fmt_anthropic;
  if (strcmp(llmrt__sreq_method(r), "POST") != 0) {
    mock__respond_error(m, r, fmt, 405, "Method not allowed; use POST.", -1);
    return;
  }
  if (check_auth(m, r, api, fmt) != 0) return;

  char err[200];
  mock_ex_t *ex = llmrt__calloc(1, sizeof *ex);
  if (!ex) {
    llmrt__sreq_abort(r, 0);
    return;
  }
  ex->m = m;
  ex->r = r;
  ex->fmt = fmt;
  ex->api = api;
  const char *xm = llmrt__sreq_header(r, "x-mock");
  if (mock__ctl_copy(&ex->ctl, &m->dflt) != 0) {
    llmrt__free(ex);
    llmrt__sreq_abort(r, 0);
    return;
  }
  if (mock__ctl_parse(&ex->ctl, xm, err, sizeof err) != 0) {
    mock__respond_error(m, r, fmt, 400, err, -1);
    goto fail;
  }
  if (ex->ctl.fail_first > 0) {
    /* Counted per control string: the defaults plus this request's x-mock. */
    char key[512];
    snprintf(key, sizeof key, "%s|%s", m->controls ? m->controls : "", xm ? xm : "");
    if (mock__seen_bump(&m->seen, key) > (uint32_t)ex->ctl.fail_first) {
      ex->ctl.status = 0;
      ex->ctl.fault = MOCK_FAULT_NONE;
    }
  }
  mock__resil_request(m, r, &ex->ctl);

  size_t blen;
  const char *btext = llmrt__sreq_body(r, &blen);
  cJSON *body = cJSON_ParseWithLength(btext, blen);
  llmrt__buf_t echo;
  llmrt__buf_init(&echo);
  const char *bad = NULL;
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(body, "max_completion_tokens");
  if (!mt) mt = cJSON_GetObjectItemCaseSensitive(body, "max_tokens");
  if (!body || !cJSON_IsObject(body))
    bad = api == MOCK_API_OPENAI ? "We could not parse the JSON body of your request."
                                 : "The request body is not valid JSON.";
  else if (!cJSON_IsString(model) || !*model->valuestring)
    bad = api == MOCK_API_OPENAI ? "you must provide a model parameter" : "model: Field required";
  else if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
    bad = api == MOCK_API_OPENAI ? "Missing required parameter: 'messages'."
                                 : "messages: Field required";
  else if (mt && (!cJSON_IsNumber(mt) || mt->valuedouble < 1))
    bad = "max_tokens: must be a positive integer";
  else if (api == MOCK_API_ANTHROPIC && !mt)
    bad = "max_tokens: Field required";
  scan_t sc = {NULL, 0, 0};
  if (!bad && scan_messages(body, model->valuestring, &sc, &echo) != 0) bad = "out of memory";
  if (!bad && sc.msg) bad = sc.msg;
  if (bad) {
    mock__respond_error(m, r, fmt, 400, bad, -1);
    cJSON_Delete(body);
    llmrt__buf_free(&echo);
    goto fail;
  }

  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
  const cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
  ex->stream = cJSON_IsTrue(stream);
  ex->include_usage =
      api == MOCK_API_OPENAI && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
  int64_t max_tokens = mt ? (int64_t)mt->valuedouble : -1;
  uint64_t seed = ex->ctl.seed >= 0 ? (uint64_t)ex->ctl.seed : sc.seed;
  ex->input_tokens = sc.input_bytes / 4 > 0 ? sc.input_bytes / 4 : 1;
  ex->model = llmrt__strdup(model->valuestring);
  ex->created = (int64_t)time(NULL);
  m->seq++;
  make_id(ex->id, sizeof ex->id, api == MOCK_API_OPENAI ? "chatcmpl-mock" : "msg_01mock", seed,
          m->seq);
  make_id(ex->req_id, sizeof ex->req_id, "req_mock", seed, m->seq);
  make_id(ex->tool_id, sizeof ex->tool_id, api == MOCK_API_OPENAI ? "call_mock" : "toolu_01mock",
          seed, m->seq);

  int rc = ex->model ? 0 : LLMRT_ENOMEM;
  ex->finish = MOCK_FIN_STOP;
  if (rc == 0 && ex->ctl.tool) {
    const char *name = *ex->ctl.tool ? ex->ctl.tool : first_tool_name(body);
    ex->tool_name = llmrt__strdup(name ? name : "get_weather");
    rc = ex->tool_name ? mock__gen_tool_args(&ex->tok, seed) : LLMRT_ENOMEM;
    ex->finish = MOCK_FIN_TOOL;
  } else if (rc == 0 && (ex->ctl.text || ex->ctl.echo)) {
    const char *t = ex->ctl.text ? ex->ctl.text : echo.data ? echo.data : "";
    rc = mock__gen_split(&ex->tok, t, strlen(t));
  } else if (rc == 0) {
    int64_t n = ex->ctl.tokens >= 0 ? ex->ctl.tokens : 32;
    if (max_tokens >= 0 && n > max_tokens) {
      n = max_tokens;
      ex->finish = MOCK_FIN_LENGTH;
    }
    rc = mock__gen_words(&ex->tok, seed, (int)n, ex->ctl.lang);
  }
  if (rc == 0 && ex->finish != MOCK_FIN_TOOL && max_tokens >= 0 &&
      (int64_t)ex->tok.n > max_tokens) {
    ex->tok.n = (size_t)max_tokens; /* fixed or echoed text cut by max_tokens */
    ex->tok.text.len = ex->tok.ends[ex->tok.n - 1];
    ex->tok.text.data[ex->tok.text.len] = '\0';
    ex->finish = MOCK_FIN_LENGTH;
  }
  cJSON_Delete(body);
  llmrt__buf_free(&echo);
  if (rc != 0) {
    mock__respond_error(m, r, fmt, 500, "mock: out of memory", -1);
    goto fail;
  }
  if (rate_limited(m, r, ex)) goto fail;
  if (mock__resil_answer(ex)) goto fail;
  mock__ex_run(ex);
  return;

fail:
  mock__tokens_free(&ex->tok);
  mock__ctl_free(&ex->ctl);
  llmrt__free(ex->model);
  llmrt__free(ex->tool_name);
  llmrt__free(ex);
}

static void on_request(llmrt__server_t *s, llmrt__sreq_t *r, void *user) {
  llmrt_mock_t *m = user;
  const char *path = llmrt__sreq_path(r);
  m->st.requests++;
  remember(m, r);
  if (m->o.on_request) {
    llmrt_mock_request_t info;
    info.method = llmrt__sreq_method(r);
    info.path = path;
    info.peer = llmrt__sreq_peer(r);
    info.headers = llmrt__sreq_headers(r, &info.n_headers);
    info.body = llmrt__sreq_body(r, &info.body_len);
    m->o.on_request(&info, m->o.on_request_user);
  }
  if (strcmp(path, "/v1/chat/completions") == 0) {
    chat(m, r, MOCK_API_OPENAI);
  } else if (strcmp(path, "/v1/messages") == 0) {
    chat(m, r, MOCK_API_ANTHROPIC);
  } else if (strcmp(path, "/v1/models") == 0) {
    static const char models[] =
        "{\"object\":\"list\",\"data\":[{\"id\":\"mock-1\",\"object\":\"model\",\"created\":0,"
        "\"owned_by\":\"llmrt\"}]}";
    llmrt_header_t h[] = {{"Content-Type", "application/json"}};
    llmrt__sreq_respond(r, 200, h, 1, models, sizeof models - 1);
  } else if (strcmp(path, "/health") == 0) {
    llmrt__sreq_respond(r, 200, NULL, 0, "ok\n", 3);
  } else {
    char msg[300];
    snprintf(msg, sizeof msg, "Unknown request URL: %s %.200s.", llmrt__sreq_method(r), path);
    mock__respond_error(m, r, &mock__fmt_openai, 404, msg, -1);
  }
}

static void on_conn(llmrt__server_t *s, void *user) {
  ((llmrt_mock_t *)user)->st.connections++;
}

/* ---- Lifecycle ----------------------------------------------------------------- */

static void mock_free(llmrt_mock_t *m) {
  mock__ctl_free(&m->dflt);
  mock__seen_free(&m->seen);
  mock__resil_free(&m->resil);
  mock__rl_reset(m);
  llmrt__buf_free(&m->last_body);
  llmrt__buf_free(&m->last_head);
  llmrt__free(m->controls);
  llmrt__free((char *)m->o.host);
  llmrt__free(m);
}

static void on_rt_closed(llmrt_t *rt, void *user) {
  llmrt_mock_t *m = user;
  if (m->stop_cb) m->stop_cb(m, m->stop_user);
  mock_free(m);
}

static void on_srv_closed(llmrt__server_t *s, void *user) {
  llmrt_mock_t *m = user;
  m->srv = NULL;
  llmrt_close(m->rt, on_rt_closed, m);
}

static int set_controls(llmrt_mock_t *m, const char *controls, char *err, size_t errlen) {
  mock_ctl_t c;
  mock__ctl_init(&c);
  c.ttft_ms = m->o.ttft_ms;
  c.token_ms = m->o.token_ms;
  if (m->o.tokens > 0) c.tokens = m->o.tokens;
  char *copy = NULL;
  int rc = mock__ctl_parse(&c, controls, err, errlen);
  if (rc == 0 && controls && !(copy = llmrt__strdup(controls))) rc = LLMRT_ENOMEM;
  if (rc != 0) {
    mock__ctl_free(&c);
    return rc;
  }
  mock__ctl_free(&m->dflt);
  m->dflt = c;
  llmrt__free(m->controls);
  m->controls = copy;
  mock__seen_free(&m->seen);
  m->resil.count = 0; /* fail_rate counts afresh, like fail_first */
  mock__rl_reset(m);
  return 0;
}

int llmrt_mock_start(uv_loop_t *loop, const llmrt_mock_options_t *opts, llmrt_mock_t **out) {
  llmrt_mock_options_t dflt;
  char err[256] = "";
  if (!loop || !out) return LLMRT_EINVAL;
  *out = NULL;
  if (!opts) {
    llmrt_mock_options_init(&dflt);
    opts = &dflt;
  }
  llmrt_mock_t *m = llmrt__calloc(1, sizeof *m);
  if (!m) return LLMRT_ENOMEM;
  m->loop = loop;
  m->o = *opts;
  m->o.host = llmrt__strdup(opts->host ? opts->host : "127.0.0.1");
  m->o.controls = NULL;
  m->o.tls_cert = m->o.tls_key = NULL;
  mock__ctl_init(&m->dflt);
  llmrt__buf_init(&m->last_body);
  llmrt__buf_init(&m->last_head);
  int rc = m->o.host ? set_controls(m, opts->controls, err, sizeof err) : LLMRT_ENOMEM;
  if (rc != 0) {
    fprintf(stderr, "llmrt mock: %s\n", err[0] ? err : llmrt_strerror(rc));
    mock_free(m);
    return rc;
  }
  llmrt_options_t ro;
  llmrt_options_init(&ro);
  rc = llmrt_new(loop, &ro, &m->rt);
  if (rc != 0) {
    mock_free(m);
    return rc;
  }
  llmrt__server_opts_t so;
  llmrt__server_opts_init(&so);
  so.host = m->o.host;
  so.port = opts->port;
  so.tls_cert = opts->tls_cert;
  so.tls_key = opts->tls_key;
  so.decode_gzip_body = 1;
  so.max_body_bytes = 64u << 20;
  llmrt__server_cbs_t cbs = {on_request, on_conn};
  rc = llmrt__server_start(m->rt, &so, &cbs, m, &m->srv, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "llmrt mock: %s\n", err[0] ? err : llmrt_strerror(rc));
    /* The runtime frees itself once closed; the mock goes with it. */
    m->stop_cb = NULL;
    llmrt_close(m->rt, on_rt_closed, m);
    return rc;
  }
  m->port = llmrt__server_port(m->srv);
  int v6 = strchr(m->o.host, ':') != NULL;
  snprintf(m->url, sizeof m->url, "%s://%s%s%s:%u/v1",
           llmrt__server_is_tls(m->srv) ? "https" : "http", v6 ? "[" : "", m->o.host, v6 ? "]" : "",
           m->port);
  *out = m;
  return 0;
}

uint16_t llmrt_mock_port(const llmrt_mock_t *m) {
  return m->port;
}

const char *llmrt_mock_url(const llmrt_mock_t *m) {
  return m->url;
}

void llmrt_mock_stats(const llmrt_mock_t *m, llmrt_mock_stats_t *out) {
  *out = m->st;
}

const char *llmrt_mock_last_body(const llmrt_mock_t *m) {
  return m->last_body.data ? m->last_body.data : "";
}

const char *llmrt_mock_last_header(const llmrt_mock_t *m, const char *name) {
  const char *p = m->last_head.data, *end = p + m->last_head.len;
  while (p && p < end) {
    const char *v = p + strlen(p) + 1;
    if (strcasecmp(p, name) == 0) return v;
    p = v + strlen(v) + 1;
  }
  return NULL;
}

const char *llmrt_mock_last_path(const llmrt_mock_t *m) {
  return m->last_path;
}

int llmrt_mock_set_controls(llmrt_mock_t *m, const char *controls) {
  char err[200];
  return set_controls(m, controls, err, sizeof err);
}

void llmrt_mock_stop(llmrt_mock_t *m, void (*cb)(llmrt_mock_t *, void *), void *user) {
  if (!m || m->stopping) return;
  m->stopping = 1;
  m->stop_cb = cb;
  m->stop_user = user;
  llmrt__server_close(m->srv, on_srv_closed, m);
}
