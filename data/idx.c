/* IDX files (MNIST, Fashion-MNIST): a big-endian header (magic, then one
 * 32-bit size per dim) and unsigned bytes. Headers are never trusted: the
 * sizes are checked against a sane limit and the file (or the decompressed
 * stream) before memory follows them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
/* more than any IDX data set in use (EMNIST's largest is 0.64 GB) */
#define IDX_MAX_BYTES ((size_t)1 << 33)

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static const char *kind(uint32_t magic) {
  return magic == IDX_IMAGES_MAGIC ? "idx3 unsigned-byte images" : "idx1 unsigned-byte labels";
}

/* Magic and dims (ndim = the magic's low byte); r is left at the data. */
static int read_header(tg_rd *r, uint32_t magic, size_t *dims) {
  uint8_t b[4];
  if (tg_rd_exact(r, b, 4, "header (the magic number)") != 0) return -1;
  uint32_t got = be32(b);
  if (got != magic) {
    tg_error("idx: %s: bad magic at byte offset 0: 0x%08x, expected 0x%08x (%s)%s", r->path, got,
             magic, kind(magic),
             got == IDX_IMAGES_MAGIC || got == IDX_LABELS_MAGIC ? "; images and labels swapped?" : "");
    return -1;
  }
  int ndim = (int)(magic & 0xff);
  for (int d = 0; d < ndim; d++) {
    char what[64];
    snprintf(what, sizeof what, "header (size of dim %d)", d);
    if (tg_rd_exact(r, b, 4, what) != 0) return -1;
    dims[d] = be32(b);
  }
  return 0;
}

/* The data size the header claims, checked: no zero dims, within the limit. */
static int data_size(const tg_rd *r, int ndim, const size_t *dims, size_t *total) {
  size_t item = 1;
  for (int d = 0; d < ndim; d++)
    if (!dims[d]) {
      tg_error("idx: %s: byte offset %d: dim %d has size 0, expected at least 1", r->path,
               4 + 4 * d, d);
      return -1;
    }
  for (int d = 1; d < ndim; d++) item *= dims[d]; /* two 32-bit sizes: no overflow */
  if (!tg_mul_ok(dims[0], item, total) || *total > IDX_MAX_BYTES) {
    tg_error("idx: %s: byte offset 4: the header claims %zu items of %zu bytes, more than this "
             "reader's limit of %zu bytes: a corrupt header?", r->path, dims[0], item,
             IDX_MAX_BYTES);
    return -1;
  }
  return 0;
}

/* A whole IDX file of the given magic: dims and its bytes (malloc'd). */
static int read_idx(const char *path, uint32_t magic, size_t *dims, uint8_t **data) {
  tg_rd r;
  *data = NULL;
  if (tg_rd_open(&r, "idx", path) != 0) return -1;
  size_t total = 0;
  int rc = read_header(&r, magic, dims);
  if (rc == 0) rc = data_size(&r, (int)(magic & 0xff), dims, &total);
  if (rc == 0)
    rc = tg_rd_alloc_exact(&r, total, magic == IDX_IMAGES_MAGIC ? "pixel data" : "labels", data);
  if (rc == 0) rc = tg_rd_expect_end(&r, magic == IDX_IMAGES_MAGIC ? "the pixel data" : "the labels");
  tg_rd_close(&r);
  if (rc != 0) {
    free(*data);
    *data = NULL;
  }
  return rc;
}

static int64_t *widen_labels(const uint8_t *b, size_t n, const char *path) {
  int64_t *y = malloc(n * sizeof *y);
  if (!y) {
    tg_error("idx: %s: out of memory for %zu labels", path, n);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) y[i] = b[i];
  return y;
}

int tg_idx_load(const char *images_path, const char *labels_path, tg_dataset **out) {
  if (!out) {
    tg_error("idx: the output pointer is NULL");
    return -1;
  }
  *out = NULL;
  /* labels first: small, and their count is checked before the images are read */
  size_t ld[1], id[3];
  uint8_t *lb = NULL, *px = NULL;
  if (read_idx(labels_path, IDX_LABELS_MAGIC, ld, &lb) != 0) return -1;
  int64_t *y = widen_labels(lb, ld[0], labels_path);
  free(lb);
  if (!y) return -1;
  if (read_idx(images_path, IDX_IMAGES_MAGIC, id, &px) != 0) {
    free(y);
    return -1;
  }
  if (id[0] != ld[0]) {
    tg_error("idx: %s has %zu images but %s has %zu labels", images_path, id[0], labels_path, ld[0]);
    free(px);
    free(y);
    return -1;
  }
  size_t shape[3] = {1, id[1], id[2]};
  *out = tg_mem_dataset_adopt("idx", id[0], 3, shape, px, NULL, y, -1);
  return *out ? 0 : -1;
}

/* ------------------------------------------------------------ MNIST dirs */

static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first existing spelling of "<split>-<what>-ubyte" in dir: dashes
 * (LeCun's site, Debian) or "images.idx3" (Kaggle's copies), gzip first. */
static int find_file(const char *dir, const char *split, const char *what, char *buf, size_t len) {
  for (int dot = 0; dot < 2; dot++)
    for (int gz = 1; gz >= 0; gz--) {
      char w[32];
      snprintf(w, sizeof w, "%s", what);
      if (dot) *strchr(w, '-') = '.';
      int n = snprintf(buf, len, "%s/%s-%s-ubyte%s", dir, split, w, gz ? ".gz" : "");
      if (n > 0 && (size_t)n < len && is_file(buf)) return 0;
    }
  tg_error("mnist_load: %s/%s-%s-ubyte[.gz] not found (nor the %s.%s spelling)", dir, split, what,
           split, what);
  return -1;
}

int tg_mnist_load(const char *dir, bool train, tg_dataset **out) {
  if (!out) {
    tg_error("mnist_load: the output pointer is NULL");
    return -1;
  }
  *out = NULL;
  if (!dir) dir = TG_FASHION_MNIST_DIR;
  const char *split = train ? "train" : "t10k";
  char images[4096], labels[4096];
  if (find_file(dir, split, "images-idx3", images, sizeof images) != 0 ||
      find_file(dir, split, "labels-idx1", labels, sizeof labels) != 0)
    return -1;
  return tg_idx_load(images, labels, out);
}
