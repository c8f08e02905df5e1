/* The dataset interface and the in-memory dataset every reader builds.
 * Images stay bytes in memory (a quarter of the floats' size: 47 MB rather
 * than 188 MB for Fashion-MNIST train) and become floats one sample at a
 * time, at fetch, where the transforms run too. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

typedef struct mem_ds {
  tg_dataset ds;  /* ds.impl points back here */
  uint8_t *bytes; /* n * src_numel, or NULL */
  float *floats;  /* n * src_numel, or NULL */
  int64_t *labels; /* n, or NULL */
  int src_ndim;
  size_t src_shape[TG_MAX_DIMS], src_numel;
  size_t c, h, w; /* the raw sample seen as planes */
  bool has_tf;
  tg_transform tf;
  float *buf[2]; /* scratch for the transform stages, made by set_transform
                  * (so fetch allocates nothing; one fetch at a time) */
} mem_ds;

/* ---------------------------------------------------------- interface */

int tg_dataset_error(const char *fmt, ...) {
  if (!fmt) {
    tg_error("dataset_error: the format is NULL");
    return -1;
  }
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tg_error("%s", msg);
  return -1;
}

int tg_dataset_get(tg_dataset *ds, size_t i, float *x_out, int64_t *y_out) {
  if (!ds || !ds->fetch || !x_out) {
    tg_error("dataset_get: %s is NULL", !ds ? "the dataset" : !x_out ? "x_out" : "ds->fetch");
    return -1;
  }
  if (i >= ds->length) {
    tg_error("dataset_get: index %zu is out of range for a dataset of %zu samples", i, ds->length);
    return -1;
  }
  return ds->fetch(ds, i, x_out, y_out);
}

tg_tensor *tg_dataset_tensor(tg_dataset *ds, size_t i, int64_t *y) {
  if (!ds) {
    tg_error("dataset_tensor: the dataset is NULL");
    return NULL;
  }
  tg_tensor *t = tg_tensor_alloc(TG_FLOAT32, ds->ndim, ds->shape);
  if (!t) return NULL;
  if (tg_dataset_get(ds, i, tg_data_f32(t), y) != 0) {
    tg_tensor_destroy(t);
    return NULL;
  }
  return t;
}

void tg_dataset_free(tg_dataset *ds) {
  if (ds && ds->destroy) ds->destroy(ds);
}

/* ---------------------------------------------------------- in memory */

static void mem_destroy(tg_dataset *ds) {
  mem_ds *m = ds->impl;
  free(m->bytes);
  free(m->floats);
  free(m->labels);
  free(m->buf[0]);
  free(m->buf[1]);
  free(m);
}

static void load_raw(const mem_ds *m, size_t i, bool scale, float *out) {
  if (m->bytes) tg_tf_bytes_to_floats(m->bytes + i * m->src_numel, m->src_numel, scale, out);
  else memcpy(out, m->floats + i * m->src_numel, m->src_numel * sizeof *out);
}

static void swap(float **a, float **b) {
  float *t = *a;
  *a = *b;
  *b = t;
}

/* The stages in their fixed order, ping-ponging between the two scratch
 * buffers; set_transform checked every size, so nothing here can fail. */
static void apply_transform(const mem_ds *m, size_t i, float *x) {
  const tg_transform *tf = &m->tf;
  float *cur = m->buf[0], *oth = m->buf[1];
  size_t c = m->c, h = m->h, w = m->w;
  load_raw(m, i, !tf->no_scale, cur);
  if (tf->grayscale) {
    tg_tf_grayscale(cur, h, w, oth);
    swap(&cur, &oth);
    c = 1;
  }
  if (tf->resize_h && (tf->resize_h != h || tf->resize_w != w)) {
    tg_tf_resize(cur, c, h, w, oth, tf->resize_h, tf->resize_w, tf->resize_mode);
    swap(&cur, &oth);
    h = tf->resize_h, w = tf->resize_w;
  }
  if (tf->pad_h && (tf->pad_h != h || tf->pad_w != w)) {
    tg_tf_pad(cur, c, h, w, oth, tf->pad_h, tf->pad_w);
    swap(&cur, &oth);
    h = tf->pad_h, w = tf->pad_w;
  }
  if (tf->n_norm) tg_tf_normalize(cur, c, h * w, tf->mean, tf->std, (size_t)tf->n_norm);
  memcpy(x, cur, c * h * w * sizeof *x);
}

static int mem_fetch(tg_dataset *ds, size_t i, float *x, int64_t *y) {
  const mem_ds *m = ds->impl;
  if (y) *y = m->labels ? m->labels[i] : -1;
  if (m->has_tf) apply_transform(m, i, x);
  else load_raw(m, i, true, x);
  return 0;
}

static void set_sample_shape(tg_dataset *ds, int ndim, const size_t *shape) {
  ds->ndim = ndim;
  memcpy(ds->shape, shape, (size_t)ndim * sizeof *shape);
  ds->sample_numel = tg_shape_numel(ndim, shape);
}

/* [C,H,W] as it is, [H,W] as one channel, anything else as one row */
static void as_planes(mem_ds *m) {
  const size_t *s = m->src_shape;
  bool image = m->src_ndim == 2 || m->src_ndim == 3;
  m->c = m->src_ndim == 3 ? s[0] : 1;
  m->h = image ? s[m->src_ndim - 2] : 1;
  m->w = image ? s[m->src_ndim - 1] : m->src_numel;
}

static int check_labels(const char *who, const int64_t *labels, size_t n, int64_t *num_classes) {
  int64_t mx = -1;
  for (size_t i = 0; i < n; i++) {
    if (labels[i] < 0) {
      tg_error("%s: label %lld of sample %zu is negative; class labels are 0, 1, ...",
               who, (long long)labels[i], i);
      return -1;
    }
    if (labels[i] > mx) mx = labels[i];
  }
  if (*num_classes < 0) *num_classes = mx + 1;
  return 0;
}

static int check_sample_shape(const char *who, int ndim, const size_t *shape, size_t *numel) {
  if (!shape) {
    tg_error("%s: the sample shape is NULL", who);
    return -1;
  }
  if (ndim < 1 || ndim > TG_MAX_DIMS - 1) {
    tg_error("%s: a sample has %d dims; 1 to %d are supported (the batch adds one)", who, ndim,
             TG_MAX_DIMS - 1);
    return -1;
  }
  size_t n = 1;
  for (int d = 0; d < ndim; d++)
    if (!shape[d] || !tg_mul_ok(n, shape[d], &n)) {
      tg_error("%s: sample dim %d has size %zu", who, d, shape[d]);
      return -1;
    }
  *numel = n;
  return 0;
}

tg_dataset *tg_mem_dataset_adopt(const char *who, size_t n, int ndim, const size_t *shape,
                                 uint8_t *bytes, float *floats, int64_t *labels,
                                 int64_t num_classes) {
  size_t numel = 0;
  mem_ds *m = NULL;
  if (check_sample_shape(who, ndim, shape, &numel) != 0) goto fail;
  if (labels && check_labels(who, labels, n, &num_classes) != 0) goto fail;
  m = calloc(1, sizeof *m);
  if (!m) {
    tg_error("%s: out of memory for the dataset", who);
    goto fail;
  }
  *m = (mem_ds){.bytes = bytes, .floats = floats, .labels = labels, .src_ndim = ndim,
                .src_numel = numel};
  memcpy(m->src_shape, shape, (size_t)ndim * sizeof *shape);
  as_planes(m);
  m->ds = (tg_dataset){.length = n, .has_labels = labels != NULL,
                       .num_classes = labels ? num_classes : 0, .fetch = mem_fetch,
                       .destroy = mem_destroy, .impl = m};
  set_sample_shape(&m->ds, ndim, shape);
  return &m->ds;
fail:
  free(bytes);
  free(floats);
  free(labels);
  return NULL;
}

/* copies of the caller's arrays, handed to tg_mem_dataset_adopt */
static tg_dataset *from_copy(const char *who, size_t n, int ndim, const size_t *shape,
                             const void *data, size_t elem, const int64_t *labels, bool is_bytes) {
  size_t numel = 0, nbytes = 0, lbytes = 0;
  if (check_sample_shape(who, ndim, shape, &numel) != 0) return NULL;
  if (!data || !tg_mul_ok(n, numel, &nbytes) || !tg_mul_ok(nbytes, elem, &nbytes) ||
      !tg_mul_ok(n, sizeof *labels, &lbytes)) {
    tg_error("%s: %s", who, data ? "the dataset is too large" : "the data pointer is NULL");
    return NULL;
  }
  void *copy = malloc(nbytes ? nbytes : 1);
  int64_t *lab = labels ? malloc(lbytes ? lbytes : 1) : NULL;
  if (!copy || (labels && !lab)) {
    free(copy);
    free(lab);
    tg_error("%s: out of memory for %zu samples", who, n);
    return NULL;
  }
  memcpy(copy, data, nbytes);
  if (labels) memcpy(lab, labels, lbytes);
  return tg_mem_dataset_adopt(who, n, ndim, shape, is_bytes ? copy : NULL,
                              is_bytes ? NULL : copy, lab, -1);
}

tg_dataset *tg_dataset_from_bytes(size_t n, int ndim, const size_t *shape, const uint8_t *data,
                                  const int64_t *labels) {
  return from_copy("dataset_from_bytes", n, ndim, shape, data, 1, labels, true);
}

tg_dataset *tg_dataset_from_floats(size_t n, int ndim, const size_t *shape, const float *data,
                                   const int64_t *labels) {
  return from_copy("dataset_from_floats", n, ndim, shape, data, sizeof(float), labels, false);
}

/* ---------------------------------------------------------- transforms */

/* a bound on resize/pad sides, so that stage sizes cannot overflow */
#define TF_MAX_SIDE ((size_t)1 << 16)

/* Both sizes or neither, within bounds; only image samples ([C,H,W], [H,W]). */
static int check_size_pair(const mem_ds *m, const char *what, size_t h, size_t w) {
  if (!h && !w) return 0;
  if (!h || !w || h > TF_MAX_SIDE || w > TF_MAX_SIDE) {
    tg_error("set_transform: %s %zux%zu: give both height and width (1 to %zu), or neither",
             what, h, w, TF_MAX_SIDE);
    return -1;
  }
  if (m->src_ndim != 2 && m->src_ndim != 3) {
    tg_error("set_transform: %s needs image samples ([C,H,W] or [H,W]); these are %d-d", what,
             m->src_ndim);
    return -1;
  }
  return 0;
}

static int check_norm(const tg_transform *tf, size_t c) {
  if (tf->n_norm < 0 || tf->n_norm > TG_TF_MAX_CHANNELS ||
      (tf->n_norm > 1 && (size_t)tf->n_norm != c)) {
    tg_error("set_transform: %d mean/std pairs for %zu channels; give 1 or %zu", tf->n_norm, c, c);
    return -1;
  }
  for (int k = 0; k < tf->n_norm; k++)
    if (!(tf->std[k] > 0) || !isfinite(tf->mean[k]) || !isfinite(tf->std[k])) {
      tg_error("set_transform: channel %d: std %g must be positive and finite (mean %g)", k,
               (double)tf->std[k], (double)tf->mean[k]);
      return -1;
    }
  return 0;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Validate tf against the raw sample: the final planes go into *oc/oh/ow,
 * the largest stage (the scratch size) into *scratch. */
static int plan_transform(const mem_ds *m, const tg_transform *tf, size_t *oc, size_t *oh,
                          size_t *ow, size_t *scratch) {
  size_t c = m->c, h = m->h, w = m->w, big = m->src_numel;
  if (tf->grayscale && (m->src_ndim != 3 || c != 3)) {
    tg_error("set_transform: grayscale needs [3,H,W] samples; these have %zu channels%s", c,
             m->src_ndim == 3 ? "" : " (not 3-d)");
    return -1;
  }
  if (tf->grayscale) c = 1;
  if (check_size_pair(m, "resize", tf->resize_h, tf->resize_w) != 0 ||
      check_size_pair(m, "pad", tf->pad_h, tf->pad_w) != 0)
    return -1;
  if (tf->resize_h) h = tf->resize_h, w = tf->resize_w;
  if (tf->pad_h && (tf->pad_h < h || tf->pad_w < w)) {
    tg_error("set_transform: pad to %zux%zu is smaller than the %zux%zu image", tf->pad_h,
             tf->pad_w, h, w);
    return -1;
  }
  if (tf->pad_h) h = tf->pad_h, w = tf->pad_w;
  size_t last;
  if (!tg_mul_ok(c, h * w, &last)) {
    tg_error("set_transform: %zu channels of %zux%zu are too large", c, h, w);
    return -1;
  }
  if (check_norm(tf, c) != 0) return -1;
  /* grayscale only shrinks and pad only grows, so the raw or the last stage is the largest */
  *scratch = max_size(big, last);
  *oc = c, *oh = h, *ow = w;
  return 0;
}

/* the sample shape after the transform, in the raw sample's layout */
static void transformed_shape(const mem_ds *m, const tg_transform *tf, size_t c, size_t h,
                              size_t w, int *ndim, size_t *shape) {
  if (tf->flatten) {
    *ndim = 1;
    shape[0] = c * h * w;
  } else if (m->src_ndim == 3) {
    *ndim = 3;
    shape[0] = c, shape[1] = h, shape[2] = w;
  } else if (m->src_ndim == 2) {
    *ndim = 2;
    shape[0] = h, shape[1] = w;
  } else {
    *ndim = m->src_ndim;
    memcpy(shape, m->src_shape, (size_t)m->src_ndim * sizeof *shape);
  }
}

int tg_dataset_set_transform(tg_dataset *ds, const tg_transform *tf) {
  if (!ds || ds->destroy != mem_destroy) {
    tg_error("set_transform: %s", ds ? "only the library's in-memory datasets take a transform; "
                                       "a custom dataset applies tg_tf_* in its fetch"
                                     : "the dataset is NULL");
    return -1;
  }
  mem_ds *m = ds->impl;
  size_t c = m->c, h = m->h, w = m->w, scratch = 0;
  if (tf && plan_transform(m, tf, &c, &h, &w, &scratch) != 0) return -1;
  float *b0 = NULL, *b1 = NULL;
  if (tf && (!(b0 = malloc(scratch * sizeof *b0)) || !(b1 = malloc(scratch * sizeof *b1)))) {
    free(b0);
    tg_error("set_transform: out of memory for %zu floats of scratch", scratch);
    return -1;
  }
  free(m->buf[0]);
  free(m->buf[1]);
  m->buf[0] = b0, m->buf[1] = b1;
  m->has_tf = tf != NULL;
  if (!tf) {
    set_sample_shape(ds, m->src_ndim, m->src_shape);
    return 0;
  }
  m->tf = *tf;
  int ndim;
  size_t shape[TG_MAX_DIMS];
  transformed_shape(m, tf, c, h, w, &ndim, shape);
  set_sample_shape(ds, ndim, shape);
  return 0;
}

/* ---------------------------------------------------------- statistics */

int tg_dataset_channel_stats(tg_dataset *ds, float *mean, float *std) {
  if (!ds || !mean || !std || !ds->length) {
    tg_error("channel_stats: %s", !ds ? "the dataset is NULL"
                                  : ds->length ? "mean or std is NULL" : "the dataset is empty");
    return -1;
  }
  size_t ch = ds->ndim == 3 ? ds->shape[0] : 1, per = ds->sample_numel / ch;
  float *x = malloc(ds->sample_numel * sizeof *x);
  double *acc = calloc(2 * ch, sizeof *acc);
  if (!x || !acc) {
    free(x);
    free(acc);
    tg_error("channel_stats: out of memory");
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; i < ds->length && rc == 0; i++) {
    rc = tg_dataset_get(ds, i, x, NULL);
    for (size_t k = 0; k < ch && rc == 0; k++)
      for (size_t j = 0; j < per; j++) {
        double v = x[k * per + j];
        acc[2 * k] += v;
        acc[2 * k + 1] += v * v;
      }
  }
  double count = (double)ds->length * (double)per;
  for (size_t k = 0; k < ch && rc == 0; k++) {
    double mu = acc[2 * k] / count, var = acc[2 * k + 1] / count - mu * mu;
    mean[k] = (float)mu;
    std[k] = (float)sqrt(var > 0 ? var : 0);
  }
  free(x);
  free(acc);
  return rc;
}
