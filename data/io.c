/* Reading plain or gzip files through zlib. gzread reads plain files
 * transparently, so every reader handles both with one code path; what
 * differs is how much data can be trusted to exist before it is read:
 * a plain file's size is known from stat, a gzip stream's is not. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"

/* zlib's gzread takes an unsigned count; stay well inside it */
#define RD_MAX_CALL ((size_t)1 << 30)
/* first allocation for a stream of unknown length, then doubled */
#define RD_FIRST_CHUNK ((size_t)1 << 20)

int tg_rd_open(tg_rd *r, const char *who, const char *path) {
  memset(r, 0, sizeof *r);
  r->who = who;
  r->path = path ? path : "(null)";
  if (!path) {
    tg_error("%s: the file name is NULL", who);
    return -1;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    tg_error("%s: %s: cannot open: %s", who, path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    tg_error("%s: %s: not a regular file", who, path);
    return -1;
  }
  r->gz = gzopen(path, "rb");
  if (!r->gz) {
    tg_error("%s: %s: cannot open: %s", who, path, errno ? strerror(errno) : "out of memory");
    return -1;
  }
  gzbuffer(r->gz, 1u << 17); /* fewer, larger reads than zlib's 8 KiB default */
  /* gzdirect looks at the first bytes: true means not gzip */
  r->plain = gzdirect(r->gz) != 0;
  r->file_size = (size_t)st.st_size;
  return 0;
}

void tg_rd_close(tg_rd *r) {
  if (r->gz) gzclose(r->gz);
  r->gz = NULL;
}

long long tg_rd_some(tg_rd *r, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got < RD_MAX_CALL ? n - got : RD_MAX_CALL;
    int k = gzread(r->gz, (char *)buf + got, (unsigned)want);
    if (k < 0) {
      int code;
      const char *msg = gzerror(r->gz, &code);
      tg_error("%s: %s: corrupt gzip data near decompressed byte offset %zu: %s", r->who,
               r->path, r->offset + got, msg ? msg : "read error");
      return -1;
    }
    got += (size_t)k;
    if ((size_t)k < want) break; /* end of the stream */
  }
  r->offset += got;
  return (long long)got;
}

static void truncated(const tg_rd *r, size_t start, size_t n, size_t got, const char *what) {
  tg_error("%s: %s: truncated at byte offset %zu%s: expected %zu bytes of %s from offset %zu, "
           "got %zu", r->who, r->path, start + got, r->plain ? "" : " (decompressed)", n, what,
           start, got);
}

int tg_rd_exact(tg_rd *r, void *buf, size_t n, const char *what) {
  size_t start = r->offset;
  long long got = tg_rd_some(r, buf, n);
  if (got < 0) return -1;
  if ((size_t)got < n) {
    truncated(r, start, n, (size_t)got, what);
    return -1;
  }
  return 0;
}

static size_t plain_left(const tg_rd *r) {
  return r->file_size > r->offset ? r->file_size - r->offset : 0;
}

/* A plain file must hold n more bytes: known without reading them. */
static int check_plain_size(const tg_rd *r, size_t n, const char *what) {
  if (plain_left(r) >= n) return 0;
  tg_error("%s: %s: truncated at byte offset %zu: expected %zu bytes of %s from offset %zu, "
           "but the file has %zu bytes", r->who, r->path, r->file_size, n, what, r->offset,
           r->file_size);
  return -1;
}

static int out_of_memory(const tg_rd *r, size_t n, const char *what) {
  tg_error("%s: %s: out of memory for %zu bytes of %s", r->who, r->path, n, what);
  return -1;
}

int tg_rd_alloc_exact(tg_rd *r, size_t n, const char *what, uint8_t **out) {
  *out = NULL;
  if (r->plain && check_plain_size(r, n, what) != 0) return -1;
  size_t start = r->offset, have = 0;
  size_t cap = r->plain || n < RD_FIRST_CHUNK ? n : RD_FIRST_CHUNK;
  uint8_t *buf = malloc(cap ? cap : 1);
  if (!buf) return out_of_memory(r, n, what);
  for (;;) {
    long long got = tg_rd_some(r, buf + have, cap - have);
    if (got < 0) break;
    have += (size_t)got;
    if (have == n) {
      *out = buf;
      return 0;
    }
    if (have < cap) { /* the stream ended early */
      truncated(r, start, n, have, what);
      break;
    }
    size_t next = cap > n / 2 ? n : cap * 2; /* grow only as the data proves to exist */
    uint8_t *nb = realloc(buf, next);
    if (!nb) {
      out_of_memory(r, n, what);
      break;
    }
    buf = nb;
    cap = next;
  }
  free(buf);
  return -1;
}

int tg_rd_all(tg_rd *r, uint8_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  /* a plain file's size plus one, so that the short read proves the end */
  size_t cap = r->plain ? plain_left(r) + 1 : RD_FIRST_CHUNK, have = 0;
  uint8_t *buf = malloc(cap + 1);
  if (!buf) return out_of_memory(r, cap, "the file");
  for (;;) {
    long long got = tg_rd_some(r, buf + have, cap - have);
    if (got < 0) break;
    have += (size_t)got;
    if (have < cap) {
      buf[have] = '\0';
      *out = buf;
      *n = have;
      return 0;
    }
    uint8_t *nb = cap < SIZE_MAX / 4 ? realloc(buf, cap * 2 + 1) : NULL;
    if (!nb) {
      out_of_memory(r, cap * 2, "the file");
      break;
    }
    buf = nb;
    cap *= 2;
  }
  free(buf);
  return -1;
}

int tg_rd_expect_end(tg_rd *r, const char *after) {
  uint8_t b;
  size_t at = r->offset;
  long long got = tg_rd_some(r, &b, 1);
  if (got < 0) return -1;
  if (got == 0) return 0;
  tg_error("%s: %s: unexpected data at byte offset %zu%s: expected the end of the file after %s",
           r->who, r->path, at, r->plain ? "" : " (decompressed)", after);
  return -1;
}
