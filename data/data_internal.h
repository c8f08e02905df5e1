/* Internal to data/: buffered reading of plain or gzip files with byte
 * offsets for error messages, and the in-memory dataset the readers build. */
#ifndef TG_DATA_INTERNAL_H
#define TG_DATA_INTERNAL_H

#include <zlib.h>

#include "tg_data.h"
#include "tg_internal.h"

/* A file opened for reading through zlib (plain files pass through
 * unchanged). `offset` counts the bytes handed out so far, in the
 * decompressed stream, so every message can say where the problem is. */
typedef struct tg_rd {
  gzFile gz;
  const char *who;  /* the reader, first word of each message: "idx" */
  const char *path;
  size_t offset;
  bool plain;       /* not gzip: file_size bounds what can still be read */
  size_t file_size;
} tg_rd;

int tg_rd_open(tg_rd *r, const char *who, const char *path);
void tg_rd_close(tg_rd *r);
/* at most n bytes into buf; returns the count (< n only at the end), or -1 */
long long tg_rd_some(tg_rd *r, void *buf, size_t n);
/* exactly n bytes of `what` into buf; truncation is an error naming the offset */
int tg_rd_exact(tg_rd *r, void *buf, size_t n, const char *what);
/* exactly n bytes of `what` into a new malloc'd buffer. A plain file is
 * checked against its size before the malloc; a gzip stream is read in
 * growing chunks, so a header that lies about n cannot make a huge
 * allocation: memory follows the data actually present. */
int tg_rd_alloc_exact(tg_rd *r, size_t n, const char *what, uint8_t **out);
/* the rest of the stream into a new malloc'd buffer with a NUL after it */
int tg_rd_all(tg_rd *r, uint8_t **out, size_t *n);
/* -1 with an error if anything follows `after` */
int tg_rd_expect_end(tg_rd *r, const char *after);

/* An in-memory dataset that takes ownership of exactly one of bytes or
 * floats (n * numel(shape) values) and of labels (n entries or NULL);
 * everything is freed on failure too. num_classes < 0: computed. */
tg_dataset *tg_mem_dataset_adopt(const char *who, size_t n, int ndim, const size_t *shape,
                                 uint8_t *bytes, float *floats, int64_t *labels,
                                 int64_t num_classes);

/* overflow-checked a * b; false when it does not fit */
static inline bool tg_mul_ok(size_t a, size_t b, size_t *out) {
  if (a && b > SIZE_MAX / a) return false;
  *out = a * b;
  return true;
}

/* the pixels of an [n,h,w] or [n,c,h,w] tensor as n images of h x w x c
 * floats in a new malloc'd buffer (image.c), or NULL with an error */
float *tg_image_hwc(const char *op, const tg_tensor *images, size_t *n, size_t *c, size_t *h,
                    size_t *w);

#endif
