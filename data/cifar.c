/* CIFAR-10 binary batches: records of 1 label byte and 3072 pixel bytes
 * (R, G, B planes of 32x32, channel-major: already the [3,32,32] layout).
 * There is no header, so the file size itself is the check: it must be a
 * whole number of records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

#define CIFAR_PIXELS 3072
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10
#define CIFAR_MAX_FILES 64

/* the records read so far, from all files */
typedef struct cifar_acc {
  uint8_t *px;
  int64_t *y;
  size_t n, cap;
} cifar_acc;

static int reserve(cifar_acc *a, size_t need, const char *path) {
  if (need <= a->cap) return 0;
  size_t cap = need, bytes;
  uint8_t *px = NULL;
  int64_t *y = NULL;
  if (tg_mul_ok(cap, CIFAR_PIXELS, &bytes) && (px = realloc(a->px, bytes))) a->px = px;
  if (px && (y = realloc(a->y, cap * sizeof *y))) a->y = y;
  if (!px || !y) {
    tg_error("cifar10: %s: out of memory for %zu records", path, need);
    return -1;
  }
  a->cap = cap;
  return 0;
}

static int bad_size(const tg_rd *r, size_t size, size_t at, size_t got) {
  tg_error("cifar10: %s: size %zu bytes%s is not a multiple of the %d-byte record (1 label + %d "
           "pixels): the record at byte offset %zu has %zu bytes", r->path, size,
           r->plain ? "" : " (decompressed)", CIFAR_RECORD, CIFAR_PIXELS, at, got);
  return -1;
}

/* A plain file's size is checked before anything is read or allocated. */
static int check_plain(const tg_rd *r, size_t *records) {
  *records = 0;
  if (!r->plain) return 0;
  if (!r->file_size) {
    tg_error("cifar10: %s: the file is empty, expected records of %d bytes", r->path, CIFAR_RECORD);
    return -1;
  }
  if (r->file_size % CIFAR_RECORD)
    return bad_size(r, r->file_size, r->file_size - r->file_size % CIFAR_RECORD,
                    r->file_size % CIFAR_RECORD);
  *records = r->file_size / CIFAR_RECORD;
  return 0;
}

/* One record into the accumulator: 1 if read, 0 at the end, -1 on error. */
static int read_record(tg_rd *r, cifar_acc *a, size_t index) {
  uint8_t rec[CIFAR_RECORD];
  size_t at = r->offset;
  long long got = tg_rd_some(r, rec, sizeof rec);
  if (got <= 0) return (int)got;
  if ((size_t)got < sizeof rec) return bad_size(r, at + (size_t)got, at, (size_t)got);
  if (rec[0] >= CIFAR_CLASSES) {
    tg_error("cifar10: %s: byte offset %zu (record %zu): label %d, expected 0..%d", r->path, at,
             index, rec[0], CIFAR_CLASSES - 1);
    return -1;
  }
  /* unknown length (gzip): grow by doubling */
  if (reserve(a, a->n + 1 > a->cap ? 2 * a->cap + 64 : a->n + 1, r->path) != 0) return -1;
  a->y[a->n] = rec[0];
  memcpy(a->px + a->n * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
  a->n++;
  return 1;
}

static int read_file(tg_rd *r, cifar_acc *a) {
  size_t k = 0;
  int rc;
  while ((rc = read_record(r, a, k)) == 1) k++;
  if (rc == 0 && k == 0) {
    tg_error("cifar10: %s: the file is empty, expected records of %d bytes", r->path, CIFAR_RECORD);
    return -1;
  }
  return rc;
}

static void close_all(tg_rd *rd, size_t n) {
  for (size_t i = 0; i < n; i++) tg_rd_close(&rd[i]);
}

int tg_cifar10_load(size_t n_files, const char *const *paths, tg_dataset **out) {
  if (out) *out = NULL;
  if (!out || !paths || !n_files || n_files > CIFAR_MAX_FILES) {
    tg_error("cifar10: %s", !out || !paths ? "paths or out is NULL"
                                           : "between 1 and 64 batch files expected");
    return -1;
  }
  /* open and size-check every file first: a bad one fails before the big allocation */
  tg_rd rd[CIFAR_MAX_FILES];
  size_t opened = 0, plain_records = 0;
  int rc = 0;
  for (size_t f = 0; f < n_files && rc == 0; f++) {
    size_t k = 0;
    rc = tg_rd_open(&rd[f], "cifar10", paths[f]);
    if (rc != 0) break;
    opened = f + 1;
    rc = check_plain(&rd[f], &k);
    plain_records += k;
  }
  cifar_acc a = {0};
  if (rc == 0) rc = reserve(&a, plain_records, paths[0]);
  for (size_t f = 0; f < n_files && rc == 0; f++) rc = read_file(&rd[f], &a);
  close_all(rd, opened);
  if (rc != 0) {
    free(a.px);
    free(a.y);
    return -1;
  }
  size_t shape[3] = {3, 32, 32};
  *out = tg_mem_dataset_adopt("cifar10", a.n, 3, shape, a.px, NULL, a.y, CIFAR_CLASSES);
  return *out ? 0 : -1;
}

int tg_cifar10_load_dir(const char *dir, bool train, tg_dataset **out) {
  if (out) *out = NULL;
  if (!dir) {
    tg_error("cifar10: the directory is NULL");
    return -1;
  }
  char names[5][4096];
  const char *paths[5];
  size_t n = train ? 5 : 1;
  for (size_t i = 0; i < n; i++) {
    int len = train ? snprintf(names[i], sizeof names[i], "%s/data_batch_%zu.bin", dir, i + 1)
                    : snprintf(names[i], sizeof names[i], "%s/test_batch.bin", dir);
    if (len < 0 || (size_t)len >= sizeof names[i]) {
      tg_error("cifar10: the directory name %s is too long", dir);
      return -1;
    }
    paths[i] = names[i];
  }
  return tg_cifar10_load(n, paths, out);
}
