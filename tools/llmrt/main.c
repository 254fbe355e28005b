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
          "  demo    stream an answer from an in-process mock upstream\n"
          "  version print the version\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "chat")) return llmrt_cmd_chat(argc - 1, argv + 1);
  if (!strcmp(cmd, "mock")) return llmrt_cmd_mock(argc - 1, argv + 1);
  if (!strcmp(cmd, "demo")) return llmrt_cmd_demo(argc - 1, argv + 1);
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    printf("llmrt %s\n", LLMRT_VERSION_STRING);
    return 0;
  }
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "llmrt: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
