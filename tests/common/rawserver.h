/* A scripted HTTP/1.1 test server on a libuv loop, listening on 127.0.0.1
 * (port chosen by the kernel). It parses requests itself (not with the code
 * under test) and picks a behaviour from the request path:
 *
 *   /ok                    200, "hello", Content-Length (also any unknown path)
 *   /len/N                 N bytes of a pattern (see rawserver_pattern)
 *   /chunked/N             the same, chunked, in chunks of varying size
 *   /gzip/N, /gzip-chunked/N, /deflate/N (zlib), /rawdeflate/N (raw deflate)
 *                          the pattern compressed, with Content-Encoding
 *   /gzip-bad              Content-Encoding: gzip over bytes that are not gzip
 *   /gzip-trunc/N          a gzip body cut in half (Content-Length matches the cut)
 *   /close-mid/N/K         Content-Length N, sends K bytes, closes
 *   /chunked-close-mid/K   chunked, sends K bytes in chunks, closes
 *   /close-after/MS        200 keep-alive, then closes the idle connection after MS ms
 *   /die-next, /reset-next 200; the next request on this connection gets EOF (or
 *                          a reset) without a response byte
 *   /delay/MS              waits MS ms, then 200
 *   /conn-id/MS            waits MS ms, then 200 with the connection's number
 *                          (accept order, from 1) as the body
 *   /stall/K               Content-Length 100000, sends K bytes, then nothing
 *   /trickle/MS            Content-Length 100000, one byte every MS ms
 *   /big-header/N          a header X-Big whose value has N bytes
 *   /many-headers/N        N extra headers
 *   /malformed             an invalid status line
 *   /continue              100 Continue, then 200 "hello"
 *   /status/C              status C ("204", "304": Content-Length 10 but no body)
 *   /http10                an HTTP/1.0 response delimited by close
 *   /eof-body/N            HTTP/1.1, no length, N bytes then close
 *   /conn-close            200 with Connection: close, then close
 *   /extra                 200 "hello" followed by stray bytes
 *   /echo                  the request body (gunzipped when Content-Encoding: gzip),
 *                          with X-Req-Encoding and X-Req-Length (bytes on the wire)
 *   /head-echo             the raw request head as the body
 *   /bench                 200 "ok" (the benchmark's fast path)
 * A HEAD request gets the head of the response and no body.
 */
#ifndef LLMRT_TEST_RAWSERVER_H
#define LLMRT_TEST_RAWSERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct rawserver_s rawserver_t;

typedef struct {
  unsigned accepted; /* connections accepted so far */
  unsigned open;     /* connections open now */
  unsigned max_open; /* most connections open at once */
  unsigned requests; /* requests parsed */
} rawserver_stats_t;

/* Listens on 127.0.0.1:0 on loop. Returns 0 or a libuv error. */
int rawserver_start(uv_loop_t *loop, rawserver_t **out);
uint16_t rawserver_port(const rawserver_t *s);
/* "http://127.0.0.1:PORT" followed by path, in buf. Returns buf. */
char *rawserver_url(const rawserver_t *s, const char *path, char *buf, size_t len);
void rawserver_stats(const rawserver_t *s, rawserver_stats_t *out);
/* Closes every open connection silently (FIN), as a server does with idle
 * keep-alive connections. */
void rawserver_close_conns(rawserver_t *s);
/* Closes the listener and every connection; the memory goes once the loop
 * has run the close callbacks. */
void rawserver_stop(rawserver_t *s);

/* Byte i of the body pattern used by /len, /chunked, /gzip, ... */
static inline char rawserver_pattern(size_t i) {
  return (char)('a' + (i * 7 + i / 26) % 26);
}

#endif
