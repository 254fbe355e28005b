/* A hostile upstream for tests: an HTTP server on 127.0.0.1 (port chosen by
 * the kernel) that reads each request (head and Content-Length body) and
 * answers it with whatever bytes the test set last, as they are, then
 * closes the connection. The test writes the whole response: status line,
 * headers and body, so it can send anything a broken or malicious server
 * would. */
#ifndef LLMRT_TEST_CANNED_H
#define LLMRT_TEST_CANNED_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct canned_s canned_t;

int canned_start(uv_loop_t *loop, canned_t **out);
uint16_t canned_port(const canned_t *s);
/* The next answers (copied). */
void canned_set(canned_t *s, const char *response, size_t len);
/* Requests answered so far. */
unsigned canned_requests(const canned_t *s);
/* The last request's head and body as received (NUL-terminated). */
const char *canned_last_request(const canned_t *s);
void canned_stop(canned_t *s);

#endif
