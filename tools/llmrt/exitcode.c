/* The exit codes of the llmrt tool for every llmrt and libuv error. */
#include "cmds.h"
#include "llmrt.h"

/* Maps an error to the exit codes documented in chat_usage() and README.md.
 * Every llmrt code is listed; libuv's (negative errno, socket errors) are
 * network errors; anything else is internal. */
int llmrt_tool_exit_code(int err) {
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
  case LLMRT_ECANCELED:
    return EXIT_INTERRUPTED;
  case LLMRT_ECONFIG:
  case LLMRT_EPLUGINLOAD:
  case LLMRT_EPLUGINABI:
    return EXIT_CONFIG;
  case LLMRT_ENOMEM:
  case LLMRT_EINVAL:
  case LLMRT_ESHUTDOWN:
  case LLMRT_EBUSY:
  case LLMRT_EQUEUEFULL:
  case LLMRT_ENOUPSTREAM:
  case LLMRT_EPLUGIN:
    return EXIT_FAIL;
  default:
    if (err < 0 && err > -20000) return EXIT_NETWORK; /* libuv: socket errors */
    return EXIT_FAIL;
  }
}
