/* What a fuzz input means to each reader of outside bytes, shared by the
 * libFuzzer targets (tests/fuzz/fuzz_*.c) and by the regression test
 * (tests/test_fuzz_regressions.c), so that a reproducer found by the
 * fuzzer replays exactly the same way under cmocka.
 *
 * The input bytes go into per-process scratch files (a memfd, else a file
 * under $TMPDIR that is unlinked at exit), named by /proc/self/fd/N or by
 * that path, and the public reader is called on them. A few targets take a
 * leading byte of options (gzip the payload here, reader options, how many
 * files) so that one corpus covers the reader's variants:
 *
 *   fuzz_idx          [u32 BE L][L bytes: labels idx1][rest: images idx3]
 *   fuzz_idx_gz       [flags][the fuzz_idx layout]; flags bit 0 gzips the
 *                     labels here, bit 1 the images (clear: written as
 *                     they are, e.g. a real .gz file or a corrupt one)
 *   fuzz_cifar        [flags][one CIFAR-10 batch file]; bit 0 gzips it,
 *                     bit 1 passes it twice (two batch files)
 *   fuzz_csv          [opts][CSV text]; header mode = opts % 3, label
 *                     column = (opts >> 2) % 4 - 1, delimiter = ",;\t "
 *                     [(opts >> 4) & 3], bit 6 gzips the text
 *   fuzz_safetensors  the file as it is
 *
 * Each fz_run_* returns the reader's status (0 or -1) and leaves the
 * reader's message in tg_last_error(); everything it loaded is freed. */
#ifndef TG_FUZZ_INPUTS_H
#define TG_FUZZ_INPUTS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memfd_create */
#endif
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "tapegrad.h"

/* ------------------------------------------------------ scratch files */

typedef struct fz_file {
  int fd;
  char path[256];
} fz_file;

#define FZ_MAX_FILES 2
static fz_file fz_files[FZ_MAX_FILES];
static int fz_n_files;

static inline void fz_cleanup(void) {
  for (int k = 0; k < fz_n_files; k++) {
    if (strncmp(fz_files[k].path, "/proc/", 6) != 0) unlink(fz_files[k].path);
    close(fz_files[k].fd);
  }
  fz_n_files = 0;
  tg_release_cached();
}

/* scratch file k (0 or 1), opened on first use and kept for the process */
static inline fz_file *fz_file_get(int k) {
  if (k < fz_n_files) return &fz_files[k];
  if (k != fz_n_files || k >= FZ_MAX_FILES) abort();
  fz_file *f = &fz_files[k];
  f->fd = -1;
#ifdef MFD_CLOEXEC
  f->fd = memfd_create(k ? "tg-fuzz-1" : "tg-fuzz-0", MFD_CLOEXEC);
  if (f->fd >= 0) snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
#endif
  if (f->fd < 0) { /* no memfd: a private file under $TMPDIR */
    const char *dir = getenv("TMPDIR");
    snprintf(f->path, sizeof f->path, "%s/tg-fuzz-%ld-%d-XXXXXX", dir && *dir ? dir : "/tmp",
             (long)getpid(), k);
    f->fd = mkstemp(f->path);
    if (f->fd < 0) {
      perror("fuzz: cannot create a scratch file");
      abort();
    }
  }
  if (fz_n_files++ == 0) atexit(fz_cleanup);
  return f;
}

static inline void fz_write_all(fz_file *f, const uint8_t *d, size_t n) {
  if (ftruncate(f->fd, 0) != 0) abort();
  for (size_t at = 0; at < n;) {
    ssize_t k = pwrite(f->fd, d + at, n - at, (off_t)at);
    if (k <= 0) {
      perror("fuzz: cannot write a scratch file");
      abort();
    }
    at += (size_t)k;
  }
}

/* scratch file k holding d[0..n), gzipped here when gz; returns its path */
static inline const char *fz_put(int k, const uint8_t *d, size_t n, bool gz) {
  fz_file *f = fz_file_get(k);
  if (!gz) {
    fz_write_all(f, d, n);
    return f->path;
  }
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16 /* gzip wrapper */, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort();
  uLong cap = deflateBound(&zs, (uLong)n) + 32;
  uint8_t *z = malloc(cap);
  if (!z) abort();
  static const uint8_t empty[1];
  zs.next_in = (Bytef *)(n ? d : empty);
  zs.avail_in = (uInt)n;
  zs.next_out = z;
  zs.avail_out = (uInt)cap;
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
  fz_write_all(f, z, (size_t)zs.total_out);
  deflateEnd(&zs);
  free(z);
  return f->path;
}

/* ------------------------------------------------------------ helpers */

/* the first and the last sample of a dataset that loaded, fetched */
static inline void fz_touch_dataset(tg_dataset *ds) {
  if (!ds->length || !ds->sample_numel) abort(); /* a reader returned an empty dataset */
  float *x = malloc(ds->sample_numel * sizeof *x);
  if (!x) abort();
  int64_t y;
  if (tg_dataset_get(ds, 0, x, &y) != 0 || tg_dataset_get(ds, ds->length - 1, x, &y) != 0) abort();
  if (ds->has_labels && (y < 0 || y >= ds->num_classes)) abort();
  free(x);
}

/* [u32 BE L][L bytes][rest] split into two parts (L clamped to what is there) */
static inline void fz_split(const uint8_t *d, size_t n, const uint8_t **a, size_t *na,
                            const uint8_t **b, size_t *nb) {
  if (n < 4) {
    *a = d, *na = n, *b = d + n, *nb = 0;
    return;
  }
  size_t len = (size_t)d[0] << 24 | (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3];
  if (len > n - 4) len = n - 4;
  *a = d + 4, *na = len, *b = d + 4 + len, *nb = n - 4 - len;
}

/* ------------------------------------------------------------ readers */

static inline int fz_idx_pair(const uint8_t *d, size_t n, bool gz_labels, bool gz_images) {
  const uint8_t *lb, *im;
  size_t nl, ni;
  fz_split(d, n, &lb, &nl, &im, &ni);
  const char *labels = fz_put(0, lb, nl, gz_labels);
  const char *images = fz_put(1, im, ni, gz_images);
  tg_dataset *ds = NULL;
  int rc = tg_idx_load(images, labels, &ds);
  if ((rc == 0) != (ds != NULL)) abort();
  if (ds) {
    if (ds->ndim != 3 || ds->shape[0] != 1) abort();
    fz_touch_dataset(ds);
    tg_dataset_free(ds);
  }
  return rc;
}

static inline int fz_run_idx(const uint8_t *d, size_t n) { return fz_idx_pair(d, n, false, false); }

static inline int fz_run_idx_gz(const uint8_t *d, size_t n) {
  if (n == 0) return fz_idx_pair(d, 0, true, true);
  return fz_idx_pair(d + 1, n - 1, d[0] & 1, d[0] & 2);
}

static inline int fz_run_cifar(const uint8_t *d, size_t n) {
  uint8_t flags = n ? d[0] : 0;
  const char *path = fz_put(0, n ? d + 1 : d, n ? n - 1 : 0, flags & 1);
  const char *paths[2] = {path, path};
  tg_dataset *ds = NULL;
  int rc = tg_cifar10_load(flags & 2 ? 2 : 1, paths, &ds);
  if ((rc == 0) != (ds != NULL)) abort();
  if (ds) {
    if (ds->sample_numel != 3072 || ds->num_classes != 10) abort();
    fz_touch_dataset(ds);
    tg_dataset_free(ds);
  }
  return rc;
}

static inline int fz_run_csv(const uint8_t *d, size_t n) {
  uint8_t o = n ? d[0] : 0;
  tg_csv_opts opts = {.header = (tg_csv_header)(o % 3), .label_column = (o >> 2) % 4 - 1,
                      .delimiter = ",;\t "[(o >> 4) & 3]};
  const char *path = fz_put(0, n ? d + 1 : d, n ? n - 1 : 0, o & 64);
  tg_dataset *ds = NULL;
  int rc = tg_csv_load(path, &opts, &ds);
  if ((rc == 0) != (ds != NULL)) abort();
  if (ds) {
    if (ds->ndim != 1 || ds->has_labels != (opts.label_column != TG_CSV_NO_LABEL)) abort();
    fz_touch_dataset(ds);
    tg_dataset_free(ds);
  }
  return rc;
}

/* tg_checkpoint_read and its accessors; when it loads, tg_load_safetensors_into
 * into fresh tensors of every entry's dtype and shape (which must work) and
 * into a fixed [2,3] float32 "weight" (which may not) */
static inline int fz_run_safetensors(const uint8_t *d, size_t n) {
  const char *path = fz_put(0, d, n, false);
  tg_checkpoint *ck = tg_checkpoint_read(path);
  if (!ck) return -1;
  size_t cnt = tg_checkpoint_count(ck);
  const char **names = calloc(cnt + 1, sizeof *names);
  tg_tensor **dst = calloc(cnt + 1, sizeof *dst);
  if (!names || !dst) abort();
  for (size_t i = 0; i < cnt; i++) {
    tg_tensor *t = tg_checkpoint_tensor(ck, i);
    names[i] = tg_checkpoint_name(ck, i);
    if (!t || !names[i] || tg_checkpoint_find(ck, names[i]) != t) abort();
    if (!(dst[i] = tg_empty(t->dtype, t->ndim, t->shape))) abort();
  }
  for (size_t i = 0; i < tg_checkpoint_meta_count(ck); i++) {
    const char *key = tg_checkpoint_meta_key(ck, i);
    if (!key || !tg_checkpoint_meta_value(ck, i) || !tg_checkpoint_meta_get(ck, key)) abort();
  }
  if (cnt <= 1000) { /* the names and tensors are handed over as an int count */
    if (tg_load_safetensors_into(path, (int)cnt, names, dst) != 0) abort();
    for (size_t i = 0; i < cnt; i++)
      if (tg_checkpoint_tensor(ck, i)->numel &&
          memcmp(tg_data(dst[i]), tg_data(tg_checkpoint_tensor(ck, i)),
                 dst[i]->numel * tg_dtype_size(dst[i]->dtype)) != 0)
        abort();
    tg_tensor *w = tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3));
    const char *wname = "weight";
    if (!w) abort();
    (void)tg_load_safetensors_into(path, 1, &wname, &w); /* either outcome is fine */
    tg_free(w);
  }
  for (size_t i = 0; i < cnt; i++) tg_free(dst[i]);
  free(names);
  free(dst);
  tg_checkpoint_free(ck);
  tg_clear_error();
  return 0;
}

#endif
