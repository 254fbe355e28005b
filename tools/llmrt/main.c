/* llmrt: the command-line tool. Each subcommand lives in its own file and
 * has one line in the table below. */
#include <stdio.h>
#include <string.h>

#include "llmrt.h"
#include "cmds.h"

static int cmd_version(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    printf("usage: llmrt version\n\nPrints the version of llmrt.\n");
    return EXIT_OK;
  }
  if (argc > 1) {
    char esc[64];
    llmrt_tool_escape(esc, sizeof esc, argv[1], 40);
    fprintf(stderr, "llmrt version: unexpected argument '%s'\n", esc);
    return EXIT_USAGE;
  }
  printf("llmrt %s\n", LLMRT_VERSION_STRING);
  return EXIT_OK;
}

static int cmd_help(int argc, char **argv);

/* One line per command, in the order `llmrt help` lists them. */
static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"chat", llmrt_cmd_chat, "send a prompt (or a conversation) and stream the answer"},
    {"bench", llmrt_cmd_bench, "load-test an OpenAI- or Anthropic-compatible endpoint"},
    {"demo", llmrt_cmd_demo, "a workload without and with plugins against an in-process mock"},
    {"serve", llmrt_cmd_serve, "run the OpenAI/Anthropic-compatible gateway"},
    {"mock", llmrt_cmd_mock, "run the mock LLM upstream"},
    {"tokens", llmrt_cmd_tokens, "count the tokens of files or stdin"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "this help, or a command's: llmrt help COMMAND"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: llmrt <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n"
             "Each command takes --help (or: llmrt help COMMAND). Exit status: 0 ok,\n"
             "1 internal error, 2 usage; llmrt chat and bench also 3 missing API key,\n"
             "4 network, 5 upstream error, 6 bad response, 7 configuration refused,\n"
             "130 interrupted.\n");
}

static int find(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (!strcmp(commands[i].name, name)) return (int)i;
  return -1;
}

static int unknown(const char *name) {
  char esc[64];
  llmrt_tool_escape(esc, sizeof esc, name, 40);
  fprintf(stderr, "llmrt: unknown command '%s'\n", esc);
  usage(stderr);
  return EXIT_USAGE;
}

static int cmd_help(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
      !strcmp(argv[1], "help")) {
    usage(stdout);
    return EXIT_OK;
  }
  if (argc > 2) {
    fprintf(stderr, "llmrt help: one command at a time\n");
    return EXIT_USAGE;
  }
  int i = find(argv[1]);
  if (i < 0) return unknown(argv[1]);
  char *args[] = {argv[1], "--help", NULL};
  return commands[i].run(2, args);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) cmd = "help";
  if (!strcmp(cmd, "--version")) cmd = "version";
  int i = find(cmd);
  if (i < 0) return unknown(cmd);
  return commands[i].run(argc - 1, argv + 1);
}
