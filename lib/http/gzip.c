/* gzip for request bodies and incremental gzip/deflate decoding of response
 * bodies. zlib allocates through llmrt's allocator so that allocation
 * failures surface as LLMRT_ENOMEM and torture tests reach them. */
#include <string.h>

#include "http_internal.h"

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  (void)opaque;
  return llmrt__calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p) {
  (void)opaque;
  llmrt__free(p);
}

int llmrt__gzip_compress(const uv_buf_t *bufs, unsigned n, llmrt__buf_t *out) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  zs.zalloc = z_alloc;
  zs.zfree = z_free;
  /* windowBits 15 + 16: a gzip wrapper rather than zlib's. */
  int zr = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  if (zr != Z_OK) return zr == Z_MEM_ERROR ? LLMRT_ENOMEM : LLMRT_EINVAL;

  size_t total = 0;
  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  int rc = llmrt__buf_reserve(out, deflateBound(&zs, (uLong)total) + 64);
  for (unsigned i = 0; rc == 0 && i <= n; i++) {
    int flush = i == n ? Z_FINISH : Z_NO_FLUSH;
    zs.next_in = i < n ? (Bytef *)bufs[i].base : (Bytef *)"";
    zs.avail_in = i < n ? (uInt)bufs[i].len : 0;
    do {
      if (out->cap - out->len < 1024 && (rc = llmrt__buf_reserve(out, 16384)) != 0) break;
      zs.next_out = (Bytef *)out->data + out->len;
      zs.avail_out = (uInt)(out->cap - out->len - 1); /* keep the NUL slot */
      size_t before = zs.avail_out;
      zr = deflate(&zs, flush);
      out->len += before - zs.avail_out;
      if (zr == Z_STREAM_ERROR) rc = LLMRT_EINVAL;
    } while (rc == 0 && (zs.avail_in > 0 || (flush == Z_FINISH && zr != Z_STREAM_END)));
  }
  if (out->data) out->data[out->len] = 0;
  deflateEnd(&zs);
  return rc;
}

static int inflate_start(llmrt__inflate_t *d, int window_bits) {
  memset(&d->zs, 0, sizeof(d->zs));
  d->zs.zalloc = z_alloc;
  d->zs.zfree = z_free;
  int zr = inflateInit2(&d->zs, window_bits);
  if (zr != Z_OK) return zr == Z_MEM_ERROR ? LLMRT_ENOMEM : LLMRT_EDECODE;
  d->active = 1;
  return 0;
}

int llmrt__inflate_init(llmrt__inflate_t *d) {
  return llmrt__inflate_init2(d, 1);
}

int llmrt__inflate_init2(llmrt__inflate_t *d, int raw_ok) {
  memset(d, 0, sizeof(*d));
  d->raw_ok = raw_ok;
  llmrt__buf_init(&d->pend);
  d->out = llmrt__malloc(LLMRT__INFLATE_CHUNK);
  if (!d->out) return LLMRT_ENOMEM;
  /* 15 + 32: accept both gzip and zlib headers. */
  int rc = inflate_start(d, 15 + 32);
  if (rc) {
    llmrt__free(d->out);
    d->out = NULL;
  }
  return rc;
}

/* Runs inflate over in, handing output to emit. *bad is set on corrupt data.
 * more: zlib may hold output for input it already took (a resume after a
 * pause), so inflate at least once even without input. On a non-zero return
 * from emit, zs.next_in/avail_in say which input is left. */
static int run(llmrt__inflate_t *d, const char *in, size_t len, llmrt__inflate_emit emit, void *arg,
               int *bad, int more) {
  d->zs.next_in = (Bytef *)in;
  d->zs.avail_in = (uInt)len;
  size_t got = more ? LLMRT__INFLATE_CHUNK : 0;
  /* Go on while input remains, or while the last round filled the window
   * (zlib may hold more output for the same input). */
  while (d->zs.avail_in > 0 || got == LLMRT__INFLATE_CHUNK) {
    if (d->ended) {
      if (d->zs.avail_in == 0) break;
      /* Another gzip member follows (concatenated gzip is legal). */
      if (inflateReset(&d->zs) != Z_OK) {
        *bad = 1;
        return LLMRT_EDECODE;
      }
      d->ended = 0;
    }
    d->zs.next_out = (Bytef *)d->out;
    d->zs.avail_out = LLMRT__INFLATE_CHUNK;
    int zr = inflate(&d->zs, Z_NO_FLUSH);
    got = LLMRT__INFLATE_CHUNK - d->zs.avail_out;
    if (zr == Z_MEM_ERROR) return LLMRT_ENOMEM;
    if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
      *bad = 1;
      return LLMRT_EDECODE;
    }
    if (zr == Z_STREAM_END) d->ended = 1;
    if (got) {
      int rc = emit(arg, d->out, got);
      if (rc) return rc;
    }
    if (zr == Z_BUF_ERROR && got == 0) break; /* needs more input */
  }
  return 0;
}

/* emit paused (rc > 0): keep the input zlib has not taken yet, then extra
 * (input that was due after it), so that resume goes on exactly there. */
static int hold(llmrt__inflate_t *d, int rc, const char *extra, size_t extra_len) {
  if (rc <= 0) return rc;
  const char *rest = (const char *)d->zs.next_in;
  size_t rest_len = d->zs.avail_in;
  llmrt__buf_reset(&d->pend);
  d->pend_off = 0;
  if (llmrt__buf_append(&d->pend, rest_len ? rest : "", rest_len) ||
      llmrt__buf_append(&d->pend, extra_len ? extra : "", extra_len))
    return LLMRT_ENOMEM;
  d->held = 1;
  return rc;
}

int llmrt__inflate_feed(llmrt__inflate_t *d, const char *in, size_t len, llmrt__inflate_emit emit,
                        void *arg) {
  if (!d->active) return LLMRT_EDECODE;
  if (d->held) return LLMRT_EINVAL; /* resume first */
  if (len == 0) return 0;
  size_t before = d->fed;
  if (before < sizeof(d->head)) {
    size_t k = len < sizeof(d->head) - before ? len : sizeof(d->head) - before;
    memcpy(d->head + before, in, k);
  }
  d->fed += len;
  int bad = 0;
  int rc = run(d, in, len, emit, arg, &bad, 0);
  if (!bad || !d->raw_ok || d->raw || d->zs.total_out != 0 || before > sizeof(d->head))
    return hold(d, rc, NULL, 0);

  /* No gzip or zlib header: probably raw deflate ("Content-Encoding:
   * deflate" as some servers send it). Restart raw and replay the input. */
  inflateEnd(&d->zs);
  d->active = 0;
  if ((rc = inflate_start(d, -15)) != 0) return rc;
  d->raw = 1;
  if (before && (rc = run(d, (const char *)d->head, before, emit, arg, &bad, 0)) != 0)
    return hold(d, rc, in, len);
  return hold(d, run(d, in, len, emit, arg, &bad, 0), NULL, 0);
}

int llmrt__inflate_resume(llmrt__inflate_t *d, llmrt__inflate_emit emit, void *arg) {
  if (!d->held) return 0;
  d->held = 0;
  int bad = 0;
  const char *in = d->pend.data ? d->pend.data + d->pend_off : "";
  int rc = run(d, in, d->pend.len - d->pend_off, emit, arg, &bad, 1);
  if (rc > 0) {
    /* Paused again: what is left is a tail of pend, which stays put. */
    d->pend_off = (size_t)((const char *)d->zs.next_in - d->pend.data);
    if (d->zs.avail_in == 0) d->pend_off = d->pend.len;
    d->held = 1;
    return rc;
  }
  llmrt__buf_reset(&d->pend);
  d->pend_off = 0;
  return rc;
}

int llmrt__inflate_finish(const llmrt__inflate_t *d) {
  return d->ended || d->fed == 0 ? 0 : LLMRT_EDECODE;
}

void llmrt__inflate_free(llmrt__inflate_t *d) {
  if (d->active) inflateEnd(&d->zs);
  d->active = 0;
  llmrt__free(d->out);
  d->out = NULL;
  llmrt__buf_free(&d->pend);
  d->held = 0;
}
