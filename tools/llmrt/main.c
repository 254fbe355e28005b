/* llmrt: the command-line tool. Each subcommand lives in its own file. */
#include <stdio.h>
#include <string.h>

#include "llmrt.h"
#include "cmds.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: llmrt <command> [options]\n"
          "\n"
          "commands:\n"
          "  chat    send a prompt and stream the answer (llmrt chat --help)\n"
          "  mock    run the mock LLM upstream (llmrt mock --help)\n"
          "  serve   run the OpenAI/Anthropic-compatible gateway (llmrt serve --help)\n"
          "  demo    stream an answer from an in-process mock upstream\n"
          "  version print the version\n"
          "  help    this help\n"
          "\n"
          "Each command takes --help. Exit status: 0 ok, 1 internal error, 2 usage;\n"
          "llmrt chat also 3 missing API key, 4 network, 5 upstream error, 6 bad response.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "chat")) return llmrt_cmd_chat(argc - 1, argv + 1);
  if (!strcmp(cmd, "mock")) return llmrt_cmd_mock(argc - 1, argv + 1);
  if (!strcmp(cmd, "serve")) return llmrt_cmd_serve(argc - 1, argv + 1);
  if (!strcmp(cmd, "demo")) return llmrt_cmd_demo(argc - 1, argv + 1);
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    if (argc > 2 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
      printf("usage: llmrt version\n\nPrints the version of llmrt.\n");
      return EXIT_OK;
    }
    if (argc > 2) {
      char esc[64];
      llmrt_tool_escape(esc, sizeof esc, argv[2], 40);
      fprintf(stderr, "llmrt version: unexpected argument '%s'\n", esc);
      return EXIT_USAGE;
    }
    printf("llmrt %s\n", LLMRT_VERSION_STRING);
    return EXIT_OK;
  }
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return EXIT_OK;
  }
  char esc[64];
  llmrt_tool_escape(esc, sizeof esc, cmd, 40);
  fprintf(stderr, "llmrt: unknown command '%s'\n", esc);
  usage(stderr);
  return EXIT_USAGE;
}
