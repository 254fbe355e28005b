/* Used by test_examples_out_of_tree.sh: built against the INSTALLED llmrt
 * (pkg-config), it applies the configuration in argv[1] and checks the
 * outcome: argv[2] is "ok" or a substring the error message must contain.
 * Not one of the test modules (tests/chain/plugins/CMakeLists.txt lists
 * those by name). */
#include <llmrt.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: load_plugins CONFIG_JSON ok|ERROR_SUBSTRING\n");
    return 2;
  }
  llmrt_t *rt = NULL;
  int r = llmrt_new(NULL, NULL, &rt);
  if (r) {
    fprintf(stderr, "llmrt_new: %s\n", llmrt_strerror(r));
    return 1;
  }
  char err[1024] = "";
  r = llmrt_configure(rt, argv[1], err, sizeof err);
  int ok = strcmp(argv[2], "ok") == 0 ? r == 0 : (r != 0 && strstr(err, argv[2]) != NULL);
  printf("%s -> %s%s%s\n", argv[1], llmrt_err_name(r), err[0] ? ": " : "", err);
  llmrt_close(rt, NULL, NULL);
  llmrt_run(rt, UV_RUN_DEFAULT);
  if (!ok) fprintf(stderr, "FAIL: expected %s\n", argv[2]);
  return ok ? 0 : 1;
}
