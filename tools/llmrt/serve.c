/* llmrt serve: the gateway (tools/gateway) as a command. Runs until SIGTERM
 * or SIGINT (graceful shutdown); SIGHUP reloads the configuration file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getopt_long */
#endif
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "gateway.h"
#include "llmrt.h"

static void serve_usage(FILE *f) {
  fprintf(f, "usage: llmrt serve --config FILE [options]\n"
             "\n"
             "Runs the OpenAI- and Anthropic-compatible gateway: POST /v1/chat/completions,\n"
             "POST /v1/messages, GET /v1/models, /metrics, /healthz, /readyz.\n"
             "\n"
             "  -c, --config FILE     the gateway configuration (JSON; docs/gateway.md)\n"
             "  -l, --listen A:P      address and port to listen on (overrides \"listen\")\n"
             "      --check           validate the configuration and exit (0: valid)\n"
             "  -h, --help            this help\n"
             "\n"
             "Signals: SIGTERM/SIGINT stop accepting, let calls in flight finish for\n"
             "shutdown_grace_ms, then cancel the rest; SIGHUP reloads FILE.\n");
}

static char *read_file(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open %s", path);
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n - 1, f);
    if (n < cap - 1 || cap >= (16u << 20)) break;
    char *nb = realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  int bad = ferror(f) || (buf && n >= cap - 1);
  fclose(f);
  if (!buf || bad) {
    free(buf);
    snprintf(err, errlen, "cannot read %s (or larger than 16 MiB)", path);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

typedef struct {
  llmrt_gw_t *gw;
  const char *path;
  uv_signal_t sigint, sigterm, sighup;
} serve_t;

static void stopped(llmrt_gw_t *gw, void *user) {
  (void)gw;
  serve_t *sv = user;
  uv_close((uv_handle_t *)&sv->sigint, NULL);
  uv_close((uv_handle_t *)&sv->sigterm, NULL);
  uv_close((uv_handle_t *)&sv->sighup, NULL);
  fprintf(stderr, "llmrt serve: stopped\n");
}

static void on_signal(uv_signal_t *s, int signum) {
  serve_t *sv = s->data;
  if (signum == SIGHUP) {
    char err[512] = "";
    char *json = read_file(sv->path, err, sizeof err);
    int rc = json ? llmrt_gw_reload(sv->gw, json, err, sizeof err) : -1;
    if (json) memset(json, 0, strlen(json));
    free(json);
    if (rc)
      fprintf(stderr, "llmrt serve: reload refused, keeping the running configuration: %s\n", err);
    else
      fprintf(stderr, "llmrt serve: configuration reloaded from %s\n", sv->path);
    return;
  }
  fprintf(stderr, "llmrt serve: %s, finishing calls in flight\n",
          signum == SIGINT ? "SIGINT" : "SIGTERM");
  llmrt_gw_shutdown(sv->gw, UINT32_MAX, stopped, sv);
}

int llmrt_cmd_serve(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"listen", required_argument, NULL, 'l'},
                                       {"check", no_argument, NULL, 'k'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *config = NULL, *listen = NULL;
  int check = 0, c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":c:l:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      config = optarg;
      break;
    case 'l':
      listen = optarg;
      break;
    case 'k':
      check = 1;
      break;
    case 'h':
      serve_usage(stdout);
      return EXIT_OK;
    default:
      llmrt_tool_bad_option("serve", c, argv);
      return EXIT_USAGE;
    }
  }
  if (optind < argc || !config) {
    if (!config)
      fprintf(stderr, "llmrt serve: --config FILE is required\n");
    else
      fprintf(stderr, "llmrt serve: unexpected argument\n");
    serve_usage(stderr);
    return EXIT_USAGE;
  }
  char err[512] = "";
  char *json = read_file(config, err, sizeof err);
  if (!json) {
    fprintf(stderr, "llmrt serve: %s\n", err);
    return EXIT_FAIL;
  }
  if (check) {
    int rc = llmrt_gw_check(json, err, sizeof err);
    memset(json, 0, strlen(json)); /* it may hold gateway keys */
    free(json);
    if (rc) {
      fprintf(stderr, "llmrt serve: %s: %s\n", config, err);
      return EXIT_FAIL;
    }
    printf("%s: ok\n", config);
    return EXIT_OK;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  serve_t sv = {.path = config};
  int rc = llmrt_gw_start(loop, json, listen, &sv.gw, err, sizeof err);
  memset(json, 0, strlen(json));
  free(json);
  if (rc) {
    fprintf(stderr, "llmrt serve: %s\n", err);
    return EXIT_FAIL;
  }
  uv_signal_init(loop, &sv.sigint);
  uv_signal_init(loop, &sv.sigterm);
  uv_signal_init(loop, &sv.sighup);
  sv.sigint.data = sv.sigterm.data = sv.sighup.data = &sv;
  uv_signal_start(&sv.sigint, on_signal, SIGINT);
  uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
  uv_signal_start(&sv.sighup, on_signal, SIGHUP);
  fprintf(stderr, "llmrt serve: listening on port %u\n", (unsigned)llmrt_gw_port(sv.gw));
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return EXIT_OK;
}
