/* Creation, element access and raw copies (no autograd history). */
#include <math.h>
#include <string.h>

#include "tg_internal.h"

static bool float_dtype(tg_dtype dt, const char *op) {
  if (dt == TG_FLOAT32 || dt == TG_FLOAT64) return true;
  tg_error("%s: dtype %s given; float32 or float64 expected", op, tg_dtype_name(dt));
  return false;
}

static void store(tg_dtype dt, char *p, double v) {
  switch (dt) {
  case TG_FLOAT32: *(float *)p = (float)v; break;
  case TG_FLOAT64: *(double *)p = v; break;
  case TG_INT64: *(int64_t *)p = (int64_t)v; break;
  case TG_BOOL: *(uint8_t *)p = v != 0; break; /* NaN != 0: true, as PyTorch */
  }
}

static double load(tg_dtype dt, const char *p) {
  switch (dt) {
  case TG_FLOAT32: return *(const float *)p;
  case TG_FLOAT64: return *(const double *)p;
  case TG_INT64: return (double)*(const int64_t *)p;
  case TG_BOOL: return *(const uint8_t *)p != 0;
  }
  return NAN;
}

bool tg_shape_given(const char *op, int ndim, const size_t *shape) {
  if (ndim <= 0 || shape) return true;
  tg_error("%s: shape is NULL for a %d-d tensor", op, ndim);
  return false;
}

tg_tensor *tg_empty(tg_dtype dt, int ndim, const size_t *shape) {
  return tg_shape_given("empty", ndim, shape) ? tg_tensor_alloc(dt, ndim, shape) : NULL;
}

static tg_tensor *full(const char *op, tg_dtype dt, int ndim, const size_t *shape, double value) {
  tg_tensor *t = tg_shape_given(op, ndim, shape) ? tg_tensor_alloc(dt, ndim, shape) : NULL;
  if (t && ndim == 0) { /* a scalar leaf: the store tg_fill_ would make, and its version bump */
    store(dt, t->storage->data, value);
    t->storage->version++;
    return t;
  }
  return t ? tg_fill_(t, value) : NULL;
}

tg_tensor *tg_full(tg_dtype dt, int ndim, const size_t *shape, double value) {
  return full("full", dt, ndim, shape, value);
}

tg_tensor *tg_zeros(tg_dtype dt, int ndim, const size_t *shape) {
  tg_tensor *t = tg_shape_given("zeros", ndim, shape) ? tg_tensor_alloc(dt, ndim, shape) : NULL;
  if (t) memset(t->storage->data, 0, t->storage->nbytes);
  return t;
}

tg_tensor *tg_ones(tg_dtype dt, int ndim, const size_t *shape) {
  return full("ones", dt, ndim, shape, 1.0);
}

tg_tensor *tg_scalar(tg_dtype dt, double value) { return tg_full(dt, 0, NULL, value); }

tg_tensor *tg_zeros_like(const tg_tensor *t) {
  return tg_tensor_check(t, "zeros_like", 1) ? tg_zeros(t->dtype, t->ndim, t->shape) : NULL;
}

tg_tensor *tg_ones_like(const tg_tensor *t) {
  return tg_tensor_check(t, "ones_like", 1) ? tg_ones(t->dtype, t->ndim, t->shape) : NULL;
}

tg_tensor *tg_from_data(tg_dtype dt, int ndim, const size_t *shape, const void *data) {
  if (!data) {
    tg_error("from_data: data pointer is NULL");
    return NULL;
  }
  if (!tg_shape_given("from_data", ndim, shape)) return NULL;
  tg_tensor *t = tg_tensor_alloc(dt, ndim, shape);
  if (!t) return NULL;
  memcpy(t->storage->data, data, t->storage->nbytes);
  /* bool kernels read bytes as 0 or 1: other nonzero bytes mean true */
  if (dt == TG_BOOL)
    for (uint8_t *p = t->storage->data, *e = p + t->numel; p < e; p++) *p = *p != 0;
  return t;
}

tg_tensor *tg_from_f32(int ndim, const size_t *shape, const float *data) {
  return tg_from_data(TG_FLOAT32, ndim, shape, data);
}
tg_tensor *tg_from_f64(int ndim, const size_t *shape, const double *data) {
  return tg_from_data(TG_FLOAT64, ndim, shape, data);
}
tg_tensor *tg_from_i64(int ndim, const size_t *shape, const int64_t *data) {
  return tg_from_data(TG_INT64, ndim, shape, data);
}
tg_tensor *tg_from_bool(int ndim, const size_t *shape, const bool *data) {
  return tg_from_data(TG_BOOL, ndim, shape, data);
}

tg_tensor *tg_arange(tg_dtype dt, double start, double end, double step) {
  if (dt == TG_BOOL) {
    tg_error("arange: dtype bool is not supported (float32, float64 or int64)");
    return NULL;
  }
  if (step == 0 || isnan(start) || isnan(end) || isnan(step) ||
      (end - start) / step < 0) {
    tg_error("arange: no values from %g to %g in steps of %g", start, end, step);
    return NULL;
  }
  size_t n = (size_t)ceil((end - start) / step);
  tg_tensor *t = tg_tensor_alloc(dt, 1, &n);
  if (!t) return NULL;
  size_t es = tg_elem_bytes(dt);
  for (size_t i = 0; i < n; i++) store(dt, (char *)t->storage->data + i * es, start + (double)i * step);
  return t;
}

tg_tensor *tg_linspace(tg_dtype dt, double start, double end, size_t steps) {
  if (!float_dtype(dt, "linspace")) return NULL;
  tg_tensor *t = tg_tensor_alloc(dt, 1, &steps);
  if (!t) return NULL;
  double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
  size_t es = tg_elem_bytes(dt);
  /* PyTorch fills the second half from the end so the last value is exact;
   * a single step is start (the loop's half split would give end) */
  for (size_t i = 0; i < steps; i++) {
    double v = steps == 1 ? start
               : i < steps / 2 ? start + step * (double)i
                               : end - step * (double)(steps - 1 - i);
    store(dt, (char *)t->storage->data + i * es, v);
  }
  return t;
}

tg_tensor *tg_eye(tg_dtype dt, size_t n) {
  tg_tensor *t = tg_zeros(dt, TG_SHAPE(n, n));
  if (!t) return NULL;
  size_t es = tg_elem_bytes(dt);
  for (size_t i = 0; i < n; i++) store(dt, (char *)t->storage->data + (i * n + i) * es, 1.0);
  return t;
}

/* ------------------------------------------------------- in-place fills */

typedef struct fill_arg {
  tg_dtype dt;
  double value;
  tg_rng *rng;
  double a, b; /* uniform lo/hi or normal mean/std */
  int kind;    /* 0 constant, 1 uniform, 2 normal */
} fill_arg;

static void fill_loop(char **p, const ptrdiff_t *s, size_t n, const void *argp) {
  const fill_arg *arg = argp;
  for (size_t i = 0; i < n; i++) {
    double v = arg->value;
    if (arg->kind == 1) v = arg->a + (arg->b - arg->a) * tg_rng_uniform(arg->rng);
    else if (arg->kind == 2) v = arg->a + arg->b * tg_rng_normal(arg->rng);
    store(arg->dt, p[0] + (ptrdiff_t)i * s[0], v);
  }
}

/* constant fill of a contiguous tensor: zero_grad runs this every step */
static bool fill_contiguous(tg_tensor *t, double value) {
  if (!tg_is_contiguous(t)) return false;
  char *p = tg_ptr(t);
  if (t->dtype == TG_BOOL) {
    memset(p, value != 0, t->numel);
    return true;
  }
  if (value == 0.0 && !signbit(value)) {
    memset(p, 0, t->numel * tg_elem_bytes(t->dtype));
    return true;
  }
  if (t->dtype == TG_FLOAT32) {
    float *f = (float *)p, v = (float)value;
    for (size_t i = 0; i < t->numel; i++) f[i] = v;
    return true;
  }
  return false;
}

static tg_tensor *fill(tg_tensor *t, const char *op, fill_arg arg) {
  if (!tg_tensor_check(t, op, 1)) return NULL;
  if (arg.kind && !float_dtype(t->dtype, op)) return NULL;
  /* a constant fill writes one value wherever elements alias, so PyTorch
   * allows it; random fills would leave a value depending on the order */
  if (arg.kind && tg_write_overlaps(t, op)) return NULL;
  if (arg.kind == 0 && fill_contiguous(t, arg.value)) {
    t->storage->version++;
    return t;
  }
  arg.dt = t->dtype;
  if (!arg.rng) arg.rng = tg_default_rng();
  ptrdiff_t st[1][TG_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) st[0][d] = t->strides[d] * (ptrdiff_t)tg_elem_bytes(t->dtype);
  char *base[1] = {tg_ptr(t)};
  tg_iter(1, base, t->ndim, t->shape, st, fill_loop, &arg);
  t->storage->version++;
  return t;
}

tg_tensor *tg_fill_(tg_tensor *t, double value) {
  return fill(t, "fill_", (fill_arg){.value = value});
}
tg_tensor *tg_uniform_(tg_tensor *t, tg_rng *r, double lo, double hi) {
  return fill(t, "uniform_", (fill_arg){.kind = 1, .rng = r, .a = lo, .b = hi});
}
tg_tensor *tg_normal_(tg_tensor *t, tg_rng *r, double mean, double std) {
  return fill(t, "normal_", (fill_arg){.kind = 2, .rng = r, .a = mean, .b = std});
}

static tg_tensor *random_new(tg_dtype dt, int ndim, const size_t *shape, const char *op,
                             fill_arg arg) {
  if (!float_dtype(dt, op) || !tg_shape_given(op, ndim, shape)) return NULL;
  tg_tensor *t = tg_tensor_alloc(dt, ndim, shape);
  return t ? fill(t, op, arg) : NULL;
}

tg_tensor *tg_rand(tg_rng *r, tg_dtype dt, int ndim, const size_t *shape) {
  return random_new(dt, ndim, shape, "rand", (fill_arg){.kind = 1, .rng = r, .a = 0, .b = 1});
}
tg_tensor *tg_randn(tg_rng *r, tg_dtype dt, int ndim, const size_t *shape) {
  return random_new(dt, ndim, shape, "randn", (fill_arg){.kind = 2, .rng = r, .a = 0, .b = 1});
}
tg_tensor *tg_uniform(tg_rng *r, tg_dtype dt, int ndim, const size_t *shape, double lo, double hi) {
  return random_new(dt, ndim, shape, "uniform", (fill_arg){.kind = 1, .rng = r, .a = lo, .b = hi});
}
tg_tensor *tg_normal(tg_rng *r, tg_dtype dt, int ndim, const size_t *shape, double mean, double std) {
  return random_new(dt, ndim, shape, "normal", (fill_arg){.kind = 2, .rng = r, .a = mean, .b = std});
}

/* ------------------------------------------------------ element access */

bool tg_is_contiguous(const tg_tensor *t) {
  return tg_tensor_ok(t, "is_contiguous", 1) && tg_contiguous_(t);
}

static size_t flat_to_offset(const tg_tensor *t, size_t i) {
  ptrdiff_t off = (ptrdiff_t)t->offset;
  for (int d = t->ndim - 1; d >= 0; d--) {
    off += (ptrdiff_t)(i % t->shape[d]) * t->strides[d];
    i /= t->shape[d];
  }
  return (size_t)off;
}

double tg_get_flat(const tg_tensor *t, size_t i) {
  if (!tg_tensor_check(t, "get_flat", 1)) return NAN;
  if (i >= t->numel) {
    tg_error("get_flat: index %zu out of range for %zu elements", i, t->numel);
    return NAN;
  }
  size_t es = tg_elem_bytes(t->dtype);
  return load(t->dtype, (char *)t->storage->data + flat_to_offset(t, i) * es);
}

double tg_item(const tg_tensor *t) {
  if (!tg_tensor_check(t, "item", 1)) return NAN;
  if (t->numel != 1) {
    char b[96];
    tg_error("item: a tensor with %zu elements (shape %s) cannot be converted to a number; "
             "only one-element tensors can", t->numel, tg_shape_str(t, b, sizeof b));
    return NAN;
  }
  return tg_get_flat(t, 0);
}

static bool index_offset(const tg_tensor *t, const size_t *index, const char *op, size_t *off) {
  if (t->ndim > 0 && !index) {
    tg_error("%s: index is NULL", op);
    return false;
  }
  ptrdiff_t o = (ptrdiff_t)t->offset;
  for (int d = 0; d < t->ndim; d++) {
    if (index[d] >= t->shape[d]) {
      tg_error("%s: index %zu is out of range for dim %d of size %zu", op, index[d], d, t->shape[d]);
      return false;
    }
    o += (ptrdiff_t)index[d] * t->strides[d];
  }
  *off = (size_t)o;
  return true;
}

double tg_get(const tg_tensor *t, const size_t *index) {
  size_t off;
  if (!tg_tensor_check(t, "get", 1) || !index_offset(t, index, "get", &off)) return NAN;
  return load(t->dtype, (char *)t->storage->data + off * tg_elem_bytes(t->dtype));
}

int tg_set(tg_tensor *t, const size_t *index, double value) {
  size_t off;
  if (!tg_tensor_check(t, "set", 1) || !index_offset(t, index, "set", &off)) return -1;
  store(t->dtype, (char *)t->storage->data + off * tg_elem_bytes(t->dtype), value);
  t->storage->version++;
  return 0;
}

int tg_to_f64_array(const tg_tensor *t, double *out) {
  if (!tg_tensor_check(t, "to_f64_array", 1)) return -1;
  if (!out) {
    tg_error("to_f64_array: output pointer is NULL");
    return -1;
  }
  size_t es = tg_elem_bytes(t->dtype);
  for (size_t i = 0; i < t->numel; i++)
    out[i] = load(t->dtype, (char *)t->storage->data + flat_to_offset(t, i) * es);
  return 0;
}

void *tg_data(const tg_tensor *t) {
  if (!tg_tensor_check(t, "data", 1)) return NULL;
  return tg_ptr(t);
}
float *tg_data_f32(const tg_tensor *t) {
  if (!tg_tensor_check(t, "data_f32", 1)) return NULL;
  if (t->dtype != TG_FLOAT32) {
    tg_error("data_f32: tensor is %s", tg_dtype_name(t->dtype));
    return NULL;
  }
  return (float *)tg_ptr(t);
}
double *tg_data_f64(const tg_tensor *t) {
  if (!tg_tensor_check(t, "data_f64", 1)) return NULL;
  if (t->dtype != TG_FLOAT64) {
    tg_error("data_f64: tensor is %s", tg_dtype_name(t->dtype));
    return NULL;
  }
  return (double *)tg_ptr(t);
}

bool tg_same_shape(const tg_tensor *a, const tg_tensor *b) {
  if (!a || !b || a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

void tg_set_name(tg_tensor *t, const char *name) {
  if (!tg_tensor_check(t, "set_name", 1)) return;
  snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}

/* ------------------------------------------------------------ raw copy */

typedef struct copy_arg {
  tg_dtype dst, src;
} copy_arg;

#define COPY_CASE(TD, TS)                                                      \
  for (size_t i = 0; i < n; i++)                                               \
    *(TD *)(p[0] + (ptrdiff_t)i * s[0]) = (TD) * (const TS *)(p[1] + (ptrdiff_t)i * s[1]);
#define COPY_TO_BOOL(TS)                                                       \
  for (size_t i = 0; i < n; i++)                                               \
    *(uint8_t *)(p[0] + (ptrdiff_t)i * s[0]) = *(const TS *)(p[1] + (ptrdiff_t)i * s[1]) != 0;

static void copy_loop(char **p, const ptrdiff_t *s, size_t n, const void *argp) {
  const copy_arg *a = argp;
  if (a->dst == a->src && s[0] == s[1] && (size_t)s[0] == tg_elem_bytes(a->dst)) {
    memcpy(p[0], p[1], n * (size_t)s[0]);
    return;
  }
  switch ((int)a->dst * 4 + (int)a->src) {
  case 0: COPY_CASE(float, float) break;
  case 1: COPY_CASE(float, double) break;
  case 2: COPY_CASE(float, int64_t) break;
  case 3: COPY_CASE(float, uint8_t) break;
  case 4: COPY_CASE(double, float) break;
  case 5: COPY_CASE(double, double) break;
  case 6: COPY_CASE(double, int64_t) break;
  case 7: COPY_CASE(double, uint8_t) break;
  case 8: COPY_CASE(int64_t, float) break;
  case 9: COPY_CASE(int64_t, double) break;
  case 10: COPY_CASE(int64_t, int64_t) break;
  case 11: COPY_CASE(int64_t, uint8_t) break;
  case 12: COPY_TO_BOOL(float) break;
  case 13: COPY_TO_BOOL(double) break;
  case 14: COPY_TO_BOOL(int64_t) break;
  case 15: COPY_CASE(uint8_t, uint8_t) break;
  }
}

/* Sorted by stride, each dim of size > 1 must step past the whole span of
 * the smaller ones; views of fresh tensors (slices, permutations, selects)
 * always do, an expanded dim (stride 0) never. */
static bool self_overlaps(const tg_tensor *t) {
  size_t size[TG_MAX_DIMS];
  ptrdiff_t stride[TG_MAX_DIMS];
  int n = 0;
  if (t->numel <= 1) return false;
  for (int d = 0; d < t->ndim; d++) {
    if (t->shape[d] == 1) continue;
    ptrdiff_t st = t->strides[d] < 0 ? -t->strides[d] : t->strides[d];
    int k = n++;
    for (; k > 0 && stride[k - 1] > st; k--) stride[k] = stride[k - 1], size[k] = size[k - 1];
    stride[k] = st;
    size[k] = t->shape[d];
  }
  ptrdiff_t span = 0; /* furthest element reached by the dims so far */
  for (int k = 0; k < n; k++) {
    if (stride[k] <= span) return true;
    span += stride[k] * (ptrdiff_t)(size[k] - 1);
  }
  return false;
}

bool tg_write_overlaps(const tg_tensor *t, const char *op) {
  if (!self_overlaps(t)) return false;
  tg_error("%s: unsupported operation: more than one element of the written-to tensor refers "
           "to a single memory location. Please clone() the tensor before performing the "
           "operation.", op);
  return true;
}

/* the element offsets [lo, hi] t spans; true when its elements fill them
 * exactly (PyTorch's "non-overlapping and dense") */
static bool dense_span(const tg_tensor *t, ptrdiff_t *lo, ptrdiff_t *hi) {
  *lo = *hi = (ptrdiff_t)t->offset;
  for (int d = 0; d < t->ndim; d++) {
    ptrdiff_t reach = t->strides[d] * (ptrdiff_t)(t->shape[d] - 1);
    if (reach < 0) *lo += reach;
    else *hi += reach;
  }
  return !self_overlaps(t) && (size_t)(*hi - *lo + 1) == t->numel;
}

/* As PyTorch: a source sharing memory with the destination in a different
 * layout is refused where both are dense (where the result would depend on
 * the order of the writes); the same layout copies onto itself. Sparse
 * strided views (x[::2] into x[1::2]) are not checked, as there. */
static bool copy_overlaps(const tg_tensor *dst, const tg_tensor *src) {
  if (dst->storage != src->storage || dst->numel == 0 || dst == src) return false;
  bool same_strides = tg_same_shape(dst, src);
  for (int d = 0; same_strides && d < dst->ndim; d++)
    same_strides = dst->shape[d] == 1 || dst->strides[d] == src->strides[d];
  bool same = dst->offset == src->offset &&
              (same_strides || (tg_contiguous_(dst) && tg_contiguous_(src)));
  ptrdiff_t dlo, dhi, slo, shi;
  if (same || !dense_span(dst, &dlo, &dhi) || !dense_span(src, &slo, &shi)) return false;
  if (dhi < slo || shi < dlo) return false;
  tg_error("copy_: unsupported operation: some elements of the input tensor and the written-to "
           "tensor refer to a single memory location. Please clone() the tensor before "
           "performing the operation.");
  return true;
}

int tg_copy_(tg_tensor *dst, const tg_tensor *src) {
  if (!tg_tensor_check(dst, "copy_", 1) || !tg_tensor_check(src, "copy_", 2)) return -1;
  if (dst->numel != src->numel) {
    char a[96], b[96];
    tg_error("copy_: destination %s and source %s hold different numbers of elements",
             tg_shape_str(dst, a, sizeof a), tg_shape_str(src, b, sizeof b));
    return -1;
  }
  if (tg_write_overlaps(dst, "copy_") || copy_overlaps(dst, src)) return -1;
  if (!tg_same_shape(dst, src)) {
    /* same numel, different shape: copy in logical order via a flat view of both
     * when both are contiguous; otherwise element by element */
    if (tg_is_contiguous(dst) && tg_is_contiguous(src)) {
      size_t n = dst->numel;
      ptrdiff_t st[2][TG_MAX_DIMS] = {{(ptrdiff_t)tg_elem_bytes(dst->dtype)},
                                      {(ptrdiff_t)tg_elem_bytes(src->dtype)}};
      char *base[2] = {tg_ptr(dst), tg_ptr(src)};
      copy_arg arg = {dst->dtype, src->dtype};
      tg_iter(2, base, 1, &n, st, copy_loop, &arg);
    } else {
      size_t es = tg_elem_bytes(dst->dtype);
      for (size_t i = 0; i < dst->numel; i++)
        store(dst->dtype, (char *)dst->storage->data + flat_to_offset(dst, i) * es,
              tg_get_flat(src, i));
    }
  } else {
    ptrdiff_t st[2][TG_MAX_DIMS];
    for (int d = 0; d < dst->ndim; d++) {
      st[0][d] = dst->strides[d] * (ptrdiff_t)tg_elem_bytes(dst->dtype);
      st[1][d] = src->strides[d] * (ptrdiff_t)tg_elem_bytes(src->dtype);
    }
    char *base[2] = {tg_ptr(dst), tg_ptr(src)};
    copy_arg arg = {dst->dtype, src->dtype};
    tg_iter(2, base, dst->ndim, dst->shape, st, copy_loop, &arg);
  }
  dst->storage->version++;
  return 0;
}

/* ------------------------------------------------------- accumulation */

#define ACC_LOOP(T)                                                            \
  do {                                                                         \
    T *o = (T *)p[0];                                                          \
    const T *a = (const T *)p[1];                                              \
    ptrdiff_t so = s[0] / (ptrdiff_t)sizeof(T), sa = s[1] / (ptrdiff_t)sizeof(T); \
    if (so == 0) {                                                             \
      T acc = 0;                                                               \
      for (size_t i = 0; i < n; i++) acc += a[(ptrdiff_t)i * sa];              \
      o[0] += acc;                                                             \
    } else if (so == 1 && sa == 1) {                                           \
      for (size_t i = 0; i < n; i++) o[i] += a[i];                             \
    } else {                                                                   \
      for (size_t i = 0; i < n; i++) o[(ptrdiff_t)i * so] += a[(ptrdiff_t)i * sa]; \
    }                                                                          \
  } while (0)

static void acc_f32(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  ACC_LOOP(float);
}
static void acc_f64(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  ACC_LOOP(double);
}

int tg_accumulate_(tg_tensor *dst, const tg_tensor *src) {
  if (!tg_tensor_ok(dst, "accumulate_", 1) || !tg_tensor_ok(src, "accumulate_", 2)) return -1;
  /* a scalar leaf's gradient (every edge of a scalar graph): one add */
  if (dst->ndim == 0 && src->ndim == 0 && dst->dtype == src->dtype && tg_dtype_is_float(dst->dtype)) {
    if (dst->dtype == TG_FLOAT64) *(double *)tg_ptr(dst) += *(const double *)tg_ptr(src);
    else *(float *)tg_ptr(dst) += *(const float *)tg_ptr(src);
    dst->storage->version++;
    return 0;
  }
  /* the usual case, a gradient added to a dense one of its shape: one flat
   * run, without the broadcast checks and the iterator */
  if (dst->dtype == src->dtype && tg_dtype_is_float(dst->dtype) && tg_same_shape(dst, src) &&
      tg_contiguous_(dst) && tg_contiguous_(src)) {
    ptrdiff_t es = (ptrdiff_t)tg_elem_bytes(dst->dtype), flat[2] = {es, es};
    char *p[2] = {tg_ptr(dst), tg_ptr(src)};
    if (src->numel) (dst->dtype == TG_FLOAT32 ? acc_f32 : acc_f64)(p, flat, src->numel, NULL);
    dst->storage->version++;
    return 0;
  }
  char a[96], b[96];
  if (dst->dtype != src->dtype || !tg_dtype_is_float(dst->dtype)) {
    tg_error("accumulate_: dtypes %s and %s; the same float dtype is required",
             tg_dtype_name(dst->dtype), tg_dtype_name(src->dtype));
    return -1;
  }
  bool ok = true;
  ptrdiff_t st[2][TG_MAX_DIMS];
  size_t es = tg_elem_bytes(src->dtype);
  for (int i = 0; ok && i < src->ndim; i++) {
    int d = dst->ndim - src->ndim + i;
    size_t ds = d >= 0 ? dst->shape[d] : 1;
    if (ds != src->shape[i] && ds != 1) ok = false;
    st[0][i] = (d < 0 || ds == 1) ? 0 : dst->strides[d] * (ptrdiff_t)es;
    st[1][i] = src->strides[i] * (ptrdiff_t)es;
  }
  for (int d = 0; ok && d < dst->ndim - src->ndim; d++) ok = dst->shape[d] == 1;
  if (!ok) {
    tg_error("accumulate_: %s cannot be summed into %s", tg_shape_str(src, a, sizeof a),
             tg_shape_str(dst, b, sizeof b));
    return -1;
  }
  if (tg_write_overlaps(dst, "accumulate_")) return -1;
  char *base[2] = {tg_ptr(dst), tg_ptr(src)};
  tg_iter(2, base, src->ndim, src->shape, st, dst->dtype == TG_FLOAT32 ? acc_f32 : acc_f64, NULL);
  dst->storage->version++;
  return 0;
}
