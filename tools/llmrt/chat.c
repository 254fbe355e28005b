/* llmrt chat: one prompt, streamed token by token to stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "llmrt.h"
#include "llmrt_mock.h"

typedef struct {
  llmrt_t *rt;
  llmrt_mock_t *mock;
  int verbose;
  int status;
  int exit_code;
  int printed;
} chat_t;

static void chat_usage(FILE *f) {
  fprintf(f,
          "usage: llmrt chat [options] [prompt...]   (no prompt: read it from stdin)\n"
          "  -p, --provider NAME    openai (default) or anthropic\n"
          "  -m, --model NAME       model (default gpt-4o-mini / claude-3-5-haiku-latest)\n"
          "  -s, --system TEXT      system prompt\n"
          "  -n, --max-tokens N     maximum output tokens\n"
          "  -t, --temperature X    sampling temperature\n"
          "      --no-stream        wait for the whole answer\n"
          "      --base-url URL     override OPENAI_BASE_URL / ANTHROPIC_BASE_URL\n"
          "      --ca-file FILE     trust these CA certificates instead of the system's\n"
          "      --insecure         do not verify TLS certificates (unsafe)\n"
          "      --timeout MS       total deadline (default 600000)\n"
          "      --mock             answer from an in-process mock upstream (no key needed)\n"
          "  -v, --verbose          print timings (DNS, connect, TLS, first token, tokens/s),\n"
          "                         tokens, HTTP status, model, finish reason, request id and\n"
          "                         the call's metrics (duration, first chunk, overhead)\n"
          "  -h, --help             this help\n"
          "environment: OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL\n"
          "exit status:\n"
          "  0  the answer was printed\n"
          "  1  internal error (out of memory, invalid configuration, plugin failure)\n"
          "  2  usage: unknown option, bad value, empty prompt, malformed base URL\n"
          "  3  the API key variable is not set\n"
          "  4  network: DNS, connect, connection reset or closed, TLS, certificate, timeout\n"
          "  5  the upstream answered with an error (HTTP 4xx/5xx, rate limit, auth, error event)\n"
          "  6  bad response from upstream: malformed, truncated, too large or undecodable\n");
}

/* Maps an error to the exit codes documented in chat_usage() and README.md.
 * Every llmrt code is listed; libuv's (negative errno, socket errors) are
 * network errors; anything else is internal. */
static int exit_code_for(int err) {
  switch (err) {
  case 0:
    return EXIT_OK;
  case LLMRT_EURL:
    return EXIT_USAGE;
  case LLMRT_ENOKEY:
    return EXIT_NOKEY;
  case LLMRT_EDNS:
  case LLMRT_ECONNECT:
  case LLMRT_ECONNRESET:
  case LLMRT_ECLOSED:
  case LLMRT_ETIMEDOUT:
  case LLMRT_ECONNECTTIMEOUT:
  case LLMRT_ETLSTIMEOUT:
  case LLMRT_EFIRSTBYTETIMEOUT:
  case LLMRT_EIDLETIMEOUT:
  case LLMRT_EFIRSTTOKENTIMEOUT:
  case LLMRT_ETLS:
  case LLMRT_ECERTUNTRUSTED:
  case LLMRT_ECERTHOSTNAME:
  case LLMRT_ECERTEXPIRED:
  case LLMRT_ECAFILE:
    return EXIT_NETWORK;
  case LLMRT_EHTTPSTATUS:
  case LLMRT_EUPSTREAM:
  case LLMRT_ERATELIMIT:
  case LLMRT_EAUTH:
  case LLMRT_EOVERLOADED:
    return EXIT_UPSTREAM;
  case LLMRT_EHTTPPARSE:
  case LLMRT_EHEADERSIZE:
  case LLMRT_EHEADERCOUNT:
  case LLMRT_EBODYSIZE:
  case LLMRT_EDECODE:
  case LLMRT_EBADRESPONSE:
  case LLMRT_ETRUNCATED:
    return EXIT_BADRESPONSE;
  case LLMRT_ENOMEM:
  case LLMRT_EINVAL:
  case LLMRT_ECANCELED:
  case LLMRT_ESHUTDOWN:
  case LLMRT_EBUSY:
  case LLMRT_EQUEUEFULL:
  case LLMRT_ENOUPSTREAM:
  case LLMRT_ECONFIG:
  case LLMRT_EPLUGIN:
  case LLMRT_EPLUGINLOAD:
  case LLMRT_EPLUGINABI:
    return EXIT_FAIL;
  default:
    if (err < 0 && err > -20000) return EXIT_NETWORK; /* libuv: socket errors */
    return EXIT_FAIL;
  }
}

/* The API key in use, so that nothing printed carries it even if an
 * upstream (or a bug) put it into a result field. */
static const char *api_key;

static int has_key(const char *s) {
  return api_key && strlen(api_key) >= 4 && s && strstr(s, api_key);
}

/* Prints one result field for -v: bounded, controls escaped, the key
 * redacted. */
static void put_field(const char *label, const char *v) {
  char esc[4 * 160 + 8];
  if (!v || !*v) v = "-";
  if (has_key(v)) v = "[redacted]";
  llmrt_tool_escape(esc, sizeof esc, v, 160);
  fprintf(stderr, "  %-12s %s\n", label, esc);
}

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  chat_t *ch = user;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  ch->printed = 1;
}

static void ms(const char *label, uint64_t us) {
  if (us) fprintf(stderr, "  %-12s %8.1f ms\n", label, us / 1000.0);
}

static void on_closed(llmrt_t *rt, void *user) {
  (void)rt;
  (void)user;
}

static void on_mock_stopped(llmrt_mock_t *m, void *user) {
  (void)m;
  (void)user;
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  chat_t *ch = user;
  if (!ch->printed && res->text_len) fwrite(res->text, 1, res->text_len, stdout);
  if (res->text_len) fputc('\n', stdout);
  fflush(stdout);
  ch->status = status;
  ch->exit_code = exit_code_for(status);
  if (status) {
    /* The message may quote the upstream: keep it terminal-safe too. */
    char esc[4 * 1024 + 8];
    const char *m = res->error_message ? res->error_message : "";
    if (has_key(m)) m = "[withheld: it contained the API key]";
    llmrt_tool_escape(esc, sizeof esc, m, 1024);
    fprintf(stderr, "llmrt chat: %s: %s\n", llmrt_strerror(status), esc);
  }
  if (ch->verbose) {
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
    put_field("model", res->model);
    put_field("finish", res->finish_reason);
    put_field("request id", res->request_id);
    /* What the metrics plugin records for this call (docs/metrics.md). */
    llmrt_call_metrics_t cm = {.struct_size = sizeof cm};
    if (llmrt_call_metrics(call, &cm) == 0) {
      fprintf(stderr, "metrics:\n  duration     %10.6f s\n", cm.duration_s);
      if (cm.streamed && cm.n_chunks)
        fprintf(stderr, "  first chunk  %10.6f s\n  chunks       %u, mean gap %.6f s\n",
                cm.time_to_first_chunk_s, cm.n_chunks, cm.chunk_gap_mean_s);
      fprintf(stderr, "  upstream     %10.6f s (queued %.6f s)\n  overhead     %10.6f s\n",
              cm.upstream_s, cm.queued_s, cm.overhead_s);
    }
  }
  if (ch->mock) llmrt_mock_stop(ch->mock, on_mock_stopped, NULL);
  llmrt_close(ch->rt, on_closed, NULL);
}

static char *read_stdin(void) {
  size_t cap = 4096, len = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  size_t n;
  while ((n = fread(s + len, 1, cap - len - 1, stdin)) > 0) {
    len += n;
    if (cap - len < 2) {
      char *p = realloc(s, cap * 2);
      if (!p) {
        free(s);
        return NULL;
      }
      s = p;
      cap *= 2;
    }
  }
  s[len] = '\0';
  while (len && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = '\0';
  return s;
}

/* JSON-escapes s into out (for the few strings we put into a config). */
static void json_str(char *out, size_t cap, const char *s) {
  size_t o = 0;
  for (; *s && o + 7 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = (char)ch;
    } else if (ch < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
    } else {
      out[o++] = (char)ch;
    }
  }
  out[o] = '\0';
}

int llmrt_cmd_chat(int argc, char **argv) {
  static const struct option longopts[] = {
      {"provider", required_argument, 0, 'p'}, {"model", required_argument, 0, 'm'},
      {"system", required_argument, 0, 's'},   {"max-tokens", required_argument, 0, 'n'},
      {"temperature", required_argument, 0, 't'}, {"no-stream", no_argument, 0, 1},
      {"base-url", required_argument, 0, 2},   {"ca-file", required_argument, 0, 3},
      {"insecure", no_argument, 0, 4},         {"timeout", required_argument, 0, 5},
      {"mock", no_argument, 0, 6},             {"verbose", no_argument, 0, 'v'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  const char *provider = NULL, *model = NULL, *system_prompt = NULL, *base_url = NULL;
  const char *ca_file = NULL;
  int max_tokens = 0, stream = 1, insecure = 0, use_mock = 0, verbose = 0;
  double temperature = -1;
  long timeout = 0;
  int c;
  optind = 1;
  opterr = 0; /* our messages: see llmrt_tool_bad_option */
  while ((c = getopt_long(argc, argv, ":p:m:s:n:t:vh", longopts, NULL)) != -1) {
    const char *bad = NULL;
    char *end;
    switch (c) {
    case 'p': provider = optarg; break;
    case 'm': model = optarg; break;
    case 's': system_prompt = optarg; break;
    case 'n': {
      long v = strtol(optarg, &end, 10);
      if (!*optarg || *end || v < 1 || v > 10000000) bad = "--max-tokens";
      max_tokens = (int)v;
      break;
    }
    case 't':
      temperature = strtod(optarg, &end);
      if (!*optarg || *end || !(temperature >= 0 && temperature <= 100)) bad = "--temperature";
      break;
    case 1: stream = 0; break;
    case 2: base_url = optarg; break;
    case 3: ca_file = optarg; break;
    case 4: insecure = 1; break;
    case 5:
      timeout = strtol(optarg, &end, 10);
      if (!*optarg || *end || timeout < 1 || timeout > 0x7fffffffL) bad = "--timeout";
      break;
    case 6: use_mock = 1; break;
    case 'v': verbose = 1; break;
    case 'h': chat_usage(stdout); return EXIT_OK;
    default: llmrt_tool_bad_option("chat", c, argv); return EXIT_USAGE;
    }
    if (bad) {
      char esc[64];
      llmrt_tool_escape(esc, sizeof esc, optarg, 40);
      fprintf(stderr, "llmrt chat: bad value for %s: '%s'\n", bad, esc);
      return EXIT_USAGE;
    }
  }
  if (!provider)
    provider = (!getenv("OPENAI_API_KEY") && getenv("ANTHROPIC_API_KEY")) ? "anthropic" : "openai";
  int anthropic = !strcmp(provider, "anthropic");
  if (!anthropic && strcmp(provider, "openai")) {
    char esc[64];
    llmrt_tool_escape(esc, sizeof esc, provider, 40);
    fprintf(stderr, "llmrt chat: unknown provider '%s' (openai or anthropic)\n", esc);
    return EXIT_USAGE;
  }
  const char *key_env = anthropic ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY";
  if (use_mock) {
    key_env = "LLMRT_MOCK_API_KEY";
    setenv(key_env, "mock-key", 0);
  } else if (!getenv(key_env) || !*getenv(key_env)) {
    fprintf(stderr, "llmrt chat: %s is not set (export it, or use --mock)\n", key_env);
    return EXIT_NOKEY;
  }
  if (!model) model = anthropic ? "claude-3-5-haiku-latest" : "gpt-4o-mini";
  api_key = getenv(key_env);

  /* The prompt: arguments joined with spaces, or stdin. */
  char *prompt = NULL;
  if (optind < argc) {
    size_t len = 0;
    for (int i = optind; i < argc; i++) len += strlen(argv[i]) + 1;
    prompt = malloc(len + 1);
    if (!prompt) {
      fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(LLMRT_ENOMEM));
      return EXIT_FAIL;
    }
    prompt[0] = '\0';
    for (int i = optind; i < argc; i++) {
      if (i > optind) strcat(prompt, " ");
      strcat(prompt, argv[i]);
    }
  } else {
    prompt = read_stdin();
    if (!prompt) {
      fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(LLMRT_ENOMEM));
      return EXIT_FAIL;
    }
  }
  if (!*prompt) {
    fprintf(stderr, "llmrt chat: empty prompt\n");
    free(prompt);
    return EXIT_USAGE;
  }

  chat_t ch = {0};
  ch.verbose = verbose;
  ch.exit_code = EXIT_FAIL;
  llmrt_options_t opts;
  llmrt_options_init(&opts);
  opts.ca_file = ca_file;
  opts.tls_insecure = insecure;
  if (timeout > 0) opts.total_timeout_ms = (uint32_t)timeout;
  int r = llmrt_new(NULL, &opts, &ch.rt);
  if (r) {
    fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(r));
    free(prompt);
    return EXIT_FAIL;
  }

  char url[1024];
  if (use_mock) {
    llmrt_mock_options_t mo;
    llmrt_mock_options_init(&mo);
    r = llmrt_mock_start(llmrt_loop(ch.rt), &mo, &ch.mock);
    if (r) {
      fprintf(stderr, "llmrt chat: cannot start the mock upstream: %s\n", llmrt_strerror(r));
      goto fail;
    }
    snprintf(url, sizeof url, "%s", llmrt_mock_url(ch.mock));
  } else if (base_url) {
    snprintf(url, sizeof url, "%s", base_url);
  } else if (anthropic) {
    const char *b = getenv("ANTHROPIC_BASE_URL");
    /* The official SDKs take the host only and add /v1 themselves. */
    snprintf(url, sizeof url, "%s/v1", b && *b ? b : "https://api.anthropic.com");
  } else {
    const char *b = getenv("OPENAI_BASE_URL");
    snprintf(url, sizeof url, "%s", b && *b ? b : "https://api.openai.com/v1");
  }
  size_t ul = strlen(url);
  while (ul && url[ul - 1] == '/') url[--ul] = '\0';

  char esc[2048], config[4096], errbuf[512];
  json_str(esc, sizeof esc, url);
  snprintf(config, sizeof config,
           /* Named after the provider, so messages ("upstream 'openai' ...")
            * name only what the user chose. */
           "{\"upstreams\":{\"%s\":{\"base_url\":\"%s\",\"api\":\"%s\",\"api_key_env\":\"%s\"}},"
           "\"default_upstream\":\"%s\"}",
           provider, esc, provider, key_env, provider);
  r = llmrt_configure(ch.rt, config, errbuf, sizeof errbuf);
  if (r) {
    /* errbuf names a JSON path of the config made above, which the user
     * never saw: name the URL they gave (option or variable) instead. */
    llmrt_tool_escape(esc, sizeof esc, url, 200);
    if (r == LLMRT_EURL || strstr(errbuf, "base_url")) {
      fprintf(stderr, "llmrt chat: bad base URL '%s' (from %s): want http://... or https://...\n",
              esc, base_url ? "--base-url" : anthropic ? "ANTHROPIC_BASE_URL" : "OPENAI_BASE_URL");
      r = LLMRT_EURL;
    } else {
      fprintf(stderr, "llmrt chat: cannot use the upstream '%s': %s\n", esc, llmrt_strerror(r));
    }
    goto fail;
  }

  llmrt_message_t msgs[2];
  size_t nm = 0;
  if (system_prompt) msgs[nm++] = (llmrt_message_t){.role = "system", .content = system_prompt};
  msgs[nm++] = (llmrt_message_t){.role = "user", .content = prompt};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = model;
  req.messages = msgs;
  req.n_messages = nm;
  req.max_tokens = max_tokens;
  req.temperature = temperature;
  req.stream = stream;
  llmrt_callbacks_t cbs = {stream ? on_token : NULL, NULL, on_done};
  r = llmrt_call(ch.rt, &req, &cbs, &ch, NULL);
  if (r) {
    fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(r));
    goto fail;
  }
  llmrt_run(ch.rt, UV_RUN_DEFAULT);
  free(prompt);
  return ch.exit_code;

fail:
  if (ch.mock) llmrt_mock_stop(ch.mock, on_mock_stopped, NULL);
  llmrt_close(ch.rt, on_closed, NULL);
  llmrt_run(ch.rt, UV_RUN_DEFAULT);
  free(prompt);
  return exit_code_for(r);
}
