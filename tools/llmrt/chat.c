/* llmrt chat: one prompt (or, with --multi, one turn per stdin line),
 * streamed token by token to stdout, or the whole result as JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "llmrt_mock.h"

static void chat_usage(FILE *f) {
  fprintf(
      f,
      "usage: llmrt chat [options] [prompt...]   (no prompt: read it from stdin)\n"
      "\n"
      "Sends a prompt to an OpenAI- or Anthropic-compatible API and streams the answer.\n"
      "\n"
      "  -p, --provider NAME    openai or anthropic (default: the one whose key is set)\n"
      "  -m, --model NAME       model (default gpt-4o-mini / claude-3-5-haiku-latest)\n"
      "  -s, --system TEXT      system prompt\n"
      "  -n, --max-tokens N     maximum output tokens (1..10000000)\n"
      "  -t, --temperature X    sampling temperature (0..2)\n"
      "      --no-stream        wait for the whole answer\n"
      "      --base-url URL     the API root, like OPENAI_BASE_URL / ANTHROPIC_BASE_URL:\n"
      "                         with or without /v1 (the URL `llmrt mock` prints works)\n"
      "      --config FILE      an llmrt configuration (docs/configuration.md): its plugins\n"
      "                         run on the call; if it has upstreams, calls go to its default\n"
      "                         upstream and --provider/--base-url are refused\n"
      "      --retries N        retries of transient failures (429, 5xx, resets) through the\n"
      "                         retry plugin (0..10, default 2, like the official SDKs)\n"
      "  -H, --header 'N: V'    an extra request header (repeatable, up to 32)\n"
      "      --json             print the whole result as one JSON object (one per turn)\n"
      "      --multi            a conversation: each stdin line is a user turn; answers\n"
      "                         and the history carry over (Ctrl-D ends it)\n"
      "      --ca-file FILE     trust these PEM CA certificates instead of the system's\n"
      "      --insecure         do not verify TLS certificates (unsafe)\n"
      "      --timeout MS       total deadline per call (1..2147483647, default 600000)\n"
      "      --mock             answer from an in-process mock upstream (no key needed)\n"
      "  -v, --verbose          print timings (DNS, connect, TLS, first token, tokens/s),\n"
      "                         tokens, HTTP status, model, finish reason, request id and\n"
      "                         the call's metrics (duration, first chunk, overhead)\n"
      "  -h, --help             this help\n"
      "\n"
      "environment: OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL,\n"
      "LLMRT_PLUGIN_PATH (plugins named in --config). HTTPS_PROXY is not supported yet:\n"
      "llmrt says so and connects directly.\n"
      "\n"
      "exit status:\n"
      "  0    the answer was printed\n"
      "  1    internal error (out of memory, plugin failure)\n"
      "  2    usage: unknown option, bad value, empty prompt, malformed base URL,\n"
      "       unreadable --ca-file or --config\n"
      "  3    the API key variable is not set\n"
      "  4    network: DNS, connect, connection reset or closed, TLS, certificate, timeout\n"
      "  5    the upstream answered with an error (HTTP 4xx/5xx, rate limit, auth, error event)\n"
      "  6    bad response from upstream: malformed, truncated, too large or undecodable\n"
      "  7    --config refused (unknown key, bad value, plugin not found)\n"
      "  130  interrupted (Ctrl-C): the call was cancelled\n");
}

static void on_closed(llmrt_t *rt, void *user) {
  (void)rt;
  (void)user;
}

static void on_mock_stopped(llmrt_mock_t *m, void *user) {
  (void)m;
  (void)user;
}

static void on_sigint(uv_signal_t *s, int signum) {
  chat_t *ch = s->data;
  (void)signum;
  /* The first Ctrl-C cancels the call (its on_done reports it); the
   * handle stays so a second one does not kill us mid-cleanup. */
  if (ch->call_id) llmrt_cancel(ch->rt, ch->call_id);
  ch->interrupted = 1;
}

static char *join_args(int argc, char **argv, int from) {
  size_t len = 1;
  for (int i = from; i < argc; i++)
    len += strlen(argv[i]) + 1;
  char *s = malloc(len);
  if (!s) return NULL;
  s[0] = '\0';
  for (int i = from; i < argc; i++) {
    if (i > from) strcat(s, " ");
    strcat(s, argv[i]);
  }
  return s;
}

/* The whole of stdin, without trailing newlines. */
static char *read_stdin(void) {
  size_t cap = 4096, len = 0, n;
  char *s = malloc(cap);
  if (!s) return NULL;
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
  while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
    s[--len] = '\0';
  return s;
}

static int nomem(void) {
  fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(LLMRT_ENOMEM));
  return EXIT_FAIL;
}

/* Runs the loop until the call in flight ends: the loop also holds idle
 * pool connections and, with --mock, the mock's listener. */
static int run_turn(chat_t *ch, const char *prompt) {
  if (chat_push(ch, "user", prompt, strlen(prompt)) != 0) return nomem();
  ch->req.messages = ch->msgs;
  ch->req.n_messages = ch->n_msgs;
  ch->done = 0;
  ch->printed = 0;
  int r = llmrt_call(ch->rt, &ch->req, &ch->cbs, ch, &ch->call_id);
  if (r) {
    fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(r));
    return llmrt_tool_exit_code(r);
  }
  /* Ctrl-C cancels the call while one runs; between --multi turns (a
   * blocking read of stdin) it keeps its default effect and ends us. */
  if (ch->sig_on) uv_signal_start(&ch->sigint, on_sigint, SIGINT);
  while (!ch->done)
    llmrt_run(ch->rt, UV_RUN_ONCE);
  if (ch->sig_on) uv_signal_stop(&ch->sigint);
  ch->call_id = 0;
  return ch->exit_code;
}

/* --multi: one user turn per line; an empty line is skipped. */
static int run_multi(chat_t *ch) {
  int tty = isatty(0) && isatty(2), rc = EXIT_OK;
  char *line = NULL;
  size_t cap = 0;
  for (;;) {
    if (tty) fputs("> ", stderr);
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) break;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = '\0';
    if (!n) continue;
    rc = run_turn(ch, line);
    if (rc != EXIT_OK) break; /* the history would lack this answer */
  }
  if (tty && rc == EXIT_OK) fputc('\n', stderr);
  free(line);
  return rc;
}

static void shutdown_all(chat_t *ch) {
  if (ch->mock) llmrt_mock_stop(ch->mock, on_mock_stopped, NULL);
  ch->mock = NULL;
  if (ch->sig_on) uv_close((uv_handle_t *)&ch->sigint, NULL);
  ch->sig_on = 0;
  llmrt_close(ch->rt, on_closed, NULL);
  llmrt_run(ch->rt, UV_RUN_DEFAULT);
}

int llmrt_cmd_chat(int argc, char **argv) {
  static const struct option longopts[] = {{"provider", required_argument, 0, 'p'},
                                           {"model", required_argument, 0, 'm'},
                                           {"system", required_argument, 0, 's'},
                                           {"max-tokens", required_argument, 0, 'n'},
                                           {"temperature", required_argument, 0, 't'},
                                           {"no-stream", no_argument, 0, 1},
                                           {"base-url", required_argument, 0, 2},
                                           {"ca-file", required_argument, 0, 3},
                                           {"insecure", no_argument, 0, 4},
                                           {"timeout", required_argument, 0, 5},
                                           {"mock", no_argument, 0, 6},
                                           {"config", required_argument, 0, 7},
                                           {"retries", required_argument, 0, 8},
                                           {"json", no_argument, 0, 9},
                                           {"multi", no_argument, 0, 10},
                                           {"header", required_argument, 0, 'H'},
                                           {"verbose", no_argument, 0, 'v'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  chat_t ch;
  memset(&ch, 0, sizeof ch);
  llmrt_tool_target_t tg;
  llmrt_tool_target_init(&tg);
  llmrt_request_init(&ch.req);
  ch.req.stream = 1;
  const char *model = NULL, *system_prompt = NULL, *ca_file = NULL;
  int insecure = 0, use_mock = 0, multi = 0;
  long lv, timeout = 0;
  double dv;
  char hbuf[CHAT_MAX_HEADERS][1024];
  int c, rc;
  optind = 1;
  opterr = 0; /* our messages: see llmrt_tool_bad_option */
  while ((c = getopt_long(argc, argv, ":p:m:s:n:t:H:vh", longopts, NULL)) != -1) {
    switch (c) {
    case 'p':
      tg.provider = optarg;
      tg.provider_flag = 1;
      break;
    case 'm':
      model = optarg;
      break;
    case 's':
      system_prompt = optarg;
      break;
    case 'n':
      if (llmrt_tool_parse_long(optarg, 1, 10000000, &lv))
        return llmrt_tool_bad_value("chat", "--max-tokens", optarg);
      ch.req.max_tokens = (int32_t)lv;
      break;
    case 't':
      if (llmrt_tool_parse_double(optarg, 0, 2, &dv))
        return llmrt_tool_bad_value("chat", "--temperature", optarg);
      ch.req.temperature = dv;
      break;
    case 1:
      ch.req.stream = 0;
      break;
    case 2:
      tg.base_url_flag = optarg;
      break;
    case 3:
      ca_file = optarg;
      break;
    case 4:
      insecure = 1;
      break;
    case 5:
      if (llmrt_tool_parse_long(optarg, 1, 0x7fffffffL, &timeout))
        return llmrt_tool_bad_value("chat", "--timeout", optarg);
      break;
    case 6:
      use_mock = 1;
      break;
    case 7:
      tg.config_file = optarg;
      break;
    case 8:
      if (llmrt_tool_parse_long(optarg, 0, 10, &lv))
        return llmrt_tool_bad_value("chat", "--retries", optarg);
      tg.retries = (int)lv;
      tg.retries_flag = 1;
      break;
    case 9:
      ch.json = 1;
      break;
    case 10:
      multi = 1;
      break;
    case 'H':
      if (ch.n_headers == CHAT_MAX_HEADERS) {
        fprintf(stderr, "llmrt chat: at most %d -H headers\n", CHAT_MAX_HEADERS);
        return EXIT_USAGE;
      }
      if ((rc = llmrt_tool_parse_header("chat", optarg, &ch.headers[ch.n_headers],
                                        hbuf[ch.n_headers], sizeof hbuf[0])))
        return rc;
      ch.n_headers++;
      break;
    case 'v':
      ch.verbose = 1;
      break;
    case 'h':
      chat_usage(stdout);
      return EXIT_OK;
    default:
      llmrt_tool_bad_option("chat", c, argv);
      return EXIT_USAGE;
    }
  }
  if (multi && optind < argc) {
    fprintf(stderr, "llmrt chat: --multi reads the turns from stdin: drop the prompt argument\n");
    return EXIT_USAGE;
  }
  if (ca_file && (rc = llmrt_tool_check_ca_file("chat", ca_file))) return rc;
  if (use_mock) {
    if (tg.base_url_flag) {
      fprintf(stderr, "llmrt chat: --mock and --base-url exclude each other\n");
      return EXIT_USAGE;
    }
    tg.mock_url = "http://127.0.0.1:0/v1"; /* checked here, replaced below */
    setenv("LLMRT_MOCK_API_KEY", "mock-key", 0);
  }
  if ((rc = llmrt_tool_target_config("chat", &tg))) return rc;
  if (tg.key_env && (!getenv(tg.key_env) || !*getenv(tg.key_env))) {
    fprintf(stderr, "llmrt chat: %s is not set (export it, or use --mock)\n", tg.key_env);
    llmrt_tool_target_free(&tg);
    return EXIT_NOKEY;
  }
  ch.api_key = tg.key_env ? getenv(tg.key_env) : NULL;
  const char *proxy = NULL, *no_proxy = NULL;
  if (!use_mock) llmrt_tool_proxy_env(tg.url[0] ? tg.url : NULL, &proxy, &no_proxy);
  if ((rc = llmrt_tool_check_proxy("chat", proxy))) {
    llmrt_tool_target_free(&tg);
    return rc;
  }
  if (!model) model = tg.anthropic ? "claude-3-5-haiku-latest" : "gpt-4o-mini";
  ch.req.model = model;

  char *prompt = NULL;
  if (!multi) {
    prompt = optind < argc ? join_args(argc, argv, optind) : read_stdin();
    if (!prompt) {
      llmrt_tool_target_free(&tg);
      return nomem();
    }
    if (!*prompt) {
      fprintf(stderr, "llmrt chat: empty prompt\n");
      free(prompt);
      llmrt_tool_target_free(&tg);
      return EXIT_USAGE;
    }
  }

  llmrt_options_t opts;
  llmrt_options_init(&opts);
  opts.ca_file = ca_file;
  opts.tls_insecure = insecure;
  opts.proxy = proxy;
  opts.no_proxy = no_proxy;
  if (timeout > 0) opts.total_timeout_ms = (uint32_t)timeout;
  rc = EXIT_FAIL;
  int r = llmrt_new(NULL, &opts, &ch.rt);
  if (r) {
    fprintf(stderr, "llmrt chat: %s\n", llmrt_strerror(r));
    free(prompt);
    llmrt_tool_target_free(&tg);
    return EXIT_FAIL;
  }
  if (use_mock) {
    llmrt_mock_options_t mo;
    llmrt_mock_options_init(&mo);
    r = llmrt_mock_start(llmrt_loop(ch.rt), &mo, &ch.mock);
    if (r) {
      fprintf(stderr, "llmrt chat: cannot start the mock upstream: %s\n", llmrt_strerror(r));
      goto out;
    }
    tg.mock_url = llmrt_mock_url(ch.mock);
    llmrt_tool_target_free(&tg);
    if ((rc = llmrt_tool_target_config("chat", &tg))) goto out;
  }
  if ((rc = llmrt_tool_target_apply("chat", &tg, ch.rt))) goto out;
  if (uv_signal_init(llmrt_loop(ch.rt), &ch.sigint) == 0) {
    ch.sig_on = 1;
    ch.sigint.data = &ch;
  }
  if (system_prompt && chat_push(&ch, "system", system_prompt, strlen(system_prompt))) {
    rc = nomem();
    goto out;
  }
  chat_set_headers(&ch);
  ch.cbs.on_token = ch.req.stream && !ch.json ? chat_on_token : NULL;
  ch.cbs.on_done = chat_on_done;
  rc = multi ? run_multi(&ch) : run_turn(&ch, prompt);
  if (ch.interrupted) rc = EXIT_INTERRUPTED;
out:
  shutdown_all(&ch);
  chat_free_history(&ch);
  free(prompt);
  llmrt_tool_target_free(&tg);
  return rc;
}
