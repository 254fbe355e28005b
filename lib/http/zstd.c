/* Content-Encoding: zstd for request bodies the server receives (the
 * gateway's clients may compress what they send). Streaming decompression
 * into a buffer that may not grow past a limit, so a small frame that
 * claims or produces gigabytes (a bomb) is refused at the limit, never
 * allocated. The window size is bounded too (ZSTD_d_windowLogMax), so a
 * frame cannot make the decoder itself allocate more than 8 MiB. */
#include <zstd.h>

#include "http_internal.h"

int llmrt__zstd_decode(const char *in, size_t len, size_t max, llmrt__buf_t *out) {
  ZSTD_DCtx *d = ZSTD_createDCtx();
  if (!d) return 500;
  ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 23);
  ZSTD_inBuffer ib = {in, len, 0};
  char chunk[16384];
  int status = 0;
  size_t rc = 1;
  while (!status) {
    ZSTD_outBuffer ob = {chunk, sizeof chunk, 0};
    rc = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(rc)) {
      status = 400;
      break;
    }
    if (ob.pos) {
      if (out->len + ob.pos > max)
        status = 413;
      else if (llmrt__buf_append(out, chunk, ob.pos))
        status = 500;
    }
    /* Done when the frame ended and everything it held is out; input left
     * over after a frame starts another (concatenated frames are valid). */
    if (rc == 0 && ib.pos == ib.size && ob.pos < ob.size) break;
    if (ib.pos == ib.size && ob.pos == 0 && rc != 0) {
      status = 400; /* truncated: the decoder wants input that is not there */
      break;
    }
  }
  ZSTD_freeDCtx(d);
  return status;
}
