/* llmrt mock: runs the mock LLM upstream until SIGINT or SIGTERM. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getopt_long */
#endif
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cmds.h"
#include "llmrt.h"
#include "llmrt_mock.h"

static void mock_usage(FILE *f) {
  fprintf(f, "usage: llmrt mock [options]\n"
             "\n"
             "Serves OpenAI Chat Completions (POST /v1/chat/completions) and Anthropic\n"
             "Messages (POST /v1/messages), streamed or not, with deterministic answers.\n"
             "\n"
             "  -p, --port N         port to listen on (default 8089; 0: any free port)\n"
             "      --host H         address to bind (default 127.0.0.1)\n"
             "      --tls-cert F     PEM certificate chain: serve https (with --tls-key)\n"
             "      --tls-key F      PEM private key\n"
             "      --ttft-ms N      time to first token (default 0)\n"
             "      --token-ms N     delay between tokens (default 0)\n"
             "      --tokens N       answer length in tokens (default 32, capped by max_tokens)\n"
             "      --controls S     default controls for every request, in the x-mock header\n"
             "                       syntax, e.g. \"fault=reset,after=3,fail_first=1\"\n"
             "  -v, --verbose        each request on stderr as it arrives (method, path,\n"
             "                       body size, model; credential headers redacted)\n"
             "                       and how it was answered\n"
             "  -h, --help           this help\n"
             "\n"
             "Per request, the header \"x-mock: k=v,k=v\" sets the same controls (see\n"
             "tools/mock/README.md): ttft_ms, token_ms, tokens, text, echo, tool, lang,\n"
             "status, retry_after, fault, after, fail_first, head_ms, gzip, seed, cached.\n");
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (!*s || *end || v > max) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* -v: one line per request as it arrives. Headers that carry credentials
 * are named, never shown; a few others that explain the mock's answer are
 * shown, bounded and escaped (they come from the network). */
static const char *const redacted_headers[] = {"authorization", "x-api-key", "api-key",
                                               "proxy-authorization", "cookie"};
static const char *const shown_headers[] = {"anthropic-version", "content-encoding", "x-mock",
                                            "user-agent"};

static void log_request(const llmrt_mock_request_t *req, void *user) {
  char line[1024], esc[128];
  size_t n = 0;
#define ADD(...)                                                                                   \
  do {                                                                                             \
    int k_ = snprintf(line + n, sizeof line - n, __VA_ARGS__);                                     \
    if (k_ > 0) n = (size_t)k_ < sizeof line - n ? n + (size_t)k_ : sizeof line - 1;               \
  } while (0)
  llmrt_tool_escape(esc, sizeof esc, req->path, 80);
  ADD("mock: %s %s %s body=%zu bytes", req->peer, req->method, esc, req->body_len);
  cJSON *body = req->body_len ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
  if (cJSON_IsString(model)) {
    llmrt_tool_escape(esc, sizeof esc, model->valuestring, 60);
    ADD(" model=%s", esc);
  }
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream"))) ADD(" stream");
  cJSON_Delete(body);
  for (size_t i = 0; i < req->n_headers; i++) {
    const char *name = req->headers[i].name;
    for (size_t j = 0; j < sizeof redacted_headers / sizeof *redacted_headers; j++)
      if (strcasecmp(name, redacted_headers[j]) == 0) ADD(" %s=<redacted>", redacted_headers[j]);
    for (size_t j = 0; j < sizeof shown_headers / sizeof *shown_headers; j++)
      if (strcasecmp(name, shown_headers[j]) == 0) {
        llmrt_tool_escape(esc, sizeof esc, req->headers[i].value, 60);
        ADD(" %s=%s", shown_headers[j], esc);
      }
  }
#undef ADD
  fprintf(stderr, "%s\n", line);
}

typedef struct {
  llmrt_mock_t *mock;
  uv_signal_t sigint, sigterm;
  int stopped;
} mock_cmd_t;

static void on_stopped(llmrt_mock_t *m, void *user) {
  mock_cmd_t *mc = user;
  mc->stopped = 1;
}

static void on_signal(uv_signal_t *s, int signum) {
  mock_cmd_t *mc = s->data;
  fprintf(stderr, "llmrt mock: %s, stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
  uv_close((uv_handle_t *)&mc->sigint, NULL);
  uv_close((uv_handle_t *)&mc->sigterm, NULL);
  llmrt_mock_stop(mc->mock, on_stopped, mc);
}

int llmrt_cmd_mock(int argc, char **argv) {
  static const struct option longopts[] = {{"port", required_argument, 0, 'p'},
                                           {"host", required_argument, 0, 1},
                                           {"tls-cert", required_argument, 0, 2},
                                           {"tls-key", required_argument, 0, 3},
                                           {"ttft-ms", required_argument, 0, 4},
                                           {"token-ms", required_argument, 0, 5},
                                           {"tokens", required_argument, 0, 6},
                                           {"controls", required_argument, 0, 7},
                                           {"verbose", no_argument, 0, 'v'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  llmrt_mock_options_t o;
  llmrt_mock_options_init(&o);
  o.port = 8089;
  uint32_t v;
  int c;
  optind = 1;
  opterr = 0; /* our messages: see llmrt_tool_bad_option */
  while ((c = getopt_long(argc, argv, ":p:vh", longopts, NULL)) != -1) {
    const char *bad = NULL;
    switch (c) {
    case 'p':
      if (parse_u32(optarg, 65535, &v) == 0)
        o.port = (uint16_t)v;
      else
        bad = "--port";
      break;
    case 1:
      o.host = optarg;
      break;
    case 2:
      o.tls_cert = optarg;
      break;
    case 3:
      o.tls_key = optarg;
      break;
    case 4:
      if (parse_u32(optarg, 3600000, &o.ttft_ms) != 0) bad = "--ttft-ms";
      break;
    case 5:
      if (parse_u32(optarg, 3600000, &o.token_ms) != 0) bad = "--token-ms";
      break;
    case 6:
      if (parse_u32(optarg, 1000000, &v) == 0)
        o.tokens = (int32_t)v;
      else
        bad = "--tokens";
      break;
    case 7:
      o.controls = optarg;
      break;
    case 'v':
      o.log_requests = 1;
      o.on_request = log_request;
      break;
    case 'h':
      mock_usage(stdout);
      return EXIT_OK;
    default:
      llmrt_tool_bad_option("mock", c, argv);
      return EXIT_USAGE;
    }
    if (bad) {
      char esc[64];
      llmrt_tool_escape(esc, sizeof esc, optarg, 40);
      fprintf(stderr, "llmrt mock: bad value for %s: '%s'\n", bad, esc);
      return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    char esc[64];
    llmrt_tool_escape(esc, sizeof esc, argv[optind], 40);
    fprintf(stderr, "llmrt mock: unexpected argument '%s'\n", esc);
    return EXIT_USAGE;
  }
  if (!o.tls_cert != !o.tls_key) {
    fprintf(stderr, "llmrt mock: --tls-cert and --tls-key go together\n");
    return EXIT_USAGE;
  }

  uv_loop_t loop;
  mock_cmd_t mc;
  memset(&mc, 0, sizeof mc);
  if (uv_loop_init(&loop) != 0) return EXIT_FAIL;
  int r = llmrt_mock_start(&loop, &o, &mc.mock); /* prints what failed */
  if (r != 0) {
    uv_run(&loop, UV_RUN_DEFAULT); /* let the half-started mock free itself */
    uv_loop_close(&loop);
    return EXIT_FAIL;
  }
  uv_signal_init(&loop, &mc.sigint);
  uv_signal_init(&loop, &mc.sigterm);
  mc.sigint.data = mc.sigterm.data = &mc;
  uv_signal_start(&mc.sigint, on_signal, SIGINT);
  uv_signal_start(&mc.sigterm, on_signal, SIGTERM);
  printf("mock upstream listening on %s\n", llmrt_mock_url(mc.mock));
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  r = uv_loop_close(&loop);
  return mc.stopped && r == 0 ? EXIT_OK : EXIT_FAIL;
}
