/* Reductions over all elements or a set of dims, with keepdim. The forward
 * runs the strided iterator with a zero output stride along reduced dims;
 * each backward expands the gradient back over them. */
#include <math.h>
#include <string.h>

#include "ops_internal.h"

/* fresh tensor in keepdim shape; if !keepdim the size-1 dims are dropped from
 * its header afterwards (still contiguous, no node) */
static void drop_reduced_dims(tg_tensor *out, const tg_tensor *a, unsigned mask, bool keepdim) {
  if (keepdim) return;
  out->ndim = ops_reduced_shape(a, mask, false, out->shape);
  tg_contiguous_strides(out->ndim, out->shape, out->strides);
}

static tg_tensor *reduce_alloc(const tg_tensor *a, unsigned mask) {
  size_t shape[TG_MAX_DIMS];
  int nd = ops_reduced_shape(a, mask, true, shape);
  return tg_tensor_alloc(a->dtype, nd, shape);
}

/* max/min into out (keepdim shape), NaN propagating */
#define EXTREME_LOOP(T, CMP)                                                   \
  do {                                                                         \
    T *o = (T *)p[0];                                                          \
    const T *x = (const T *)p[1];                                              \
    ptrdiff_t so = s[0] / (ptrdiff_t)sizeof(T), sx = s[1] / (ptrdiff_t)sizeof(T); \
    for (size_t i = 0; i < n; i++) {                                           \
      T v = x[(ptrdiff_t)i * sx], *dst = &o[(ptrdiff_t)i * so];                \
      if (v CMP *dst || isnan(v)) *dst = isnan(*dst) ? *dst : v;               \
    }                                                                          \
  } while (0)
static void max_f32(char **p, const ptrdiff_t *s, size_t n, const void *a) { (void)a; EXTREME_LOOP(float, >); }
static void max_f64(char **p, const ptrdiff_t *s, size_t n, const void *a) { (void)a; EXTREME_LOOP(double, >); }
static void min_f32(char **p, const ptrdiff_t *s, size_t n, const void *a) { (void)a; EXTREME_LOOP(float, <); }
static void min_f64(char **p, const ptrdiff_t *s, size_t n, const void *a) { (void)a; EXTREME_LOOP(double, <); }

/* out (keepdim shape) = extreme of a over reduced dims, no history */
static tg_tensor *extreme_raw(tg_tensor *a, unsigned mask, bool is_max) {
  tg_tensor *out = reduce_alloc(a, mask);
  if (!out || !tg_fill_(out, is_max ? -INFINITY : INFINITY)) return NULL;
  ptrdiff_t st[2][TG_MAX_DIMS];
  tg_broadcast_strides(out, a->ndim, a->shape, st[0]);
  for (int d = 0; d < a->ndim; d++) st[1][d] = a->strides[d] * (ptrdiff_t)tg_elem_bytes(a->dtype);
  char *base[2] = {tg_ptr(out), tg_ptr(a)};
  tg_loop_fn fn = a->dtype == TG_FLOAT32 ? (is_max ? max_f32 : min_f32) : (is_max ? max_f64 : min_f64);
  tg_iter(2, base, a->ndim, a->shape, st, fn, NULL);
  return out;
}

/* ---------------------------------------------------------------- sum */

static void sum_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = ops_expand_reduced(g, n->in[0], (unsigned)tg_node_i(n)[0]);
}
static tg_tensor *sum_mask(tg_tensor *a, unsigned mask, bool keepdim);
/* sum is linear: its tangent is the sum of the tangent */
static tg_tensor *sum_jvp(tg_node *n, tg_tensor *const *t) {
  return tg_reshape(sum_mask(t[0], (unsigned)tg_node_i(n)[0], true), n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_SUM, "SumBackward", sum_backward, sum_jvp, TG_NODE_I);

static tg_tensor *sum_mask(tg_tensor *a, unsigned mask, bool keepdim) {
  tg_tensor *out = reduce_alloc(a, mask);
  if (!out) return NULL;
  memset(out->storage->data, 0, out->storage->nbytes);
  if (tg_accumulate_(out, a) != 0) return NULL;
  out->storage->version = 0;
  drop_reduced_dims(out, a, mask, keepdim);
  tg_node *n = ops_record(out, &OP_SUM, 1, &a);
  if (n) tg_node_i(n)[0] = mask;
  return out;
}

static void sum_i64(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  int64_t *o = (int64_t *)p[0];
  const int64_t *x = (const int64_t *)p[1];
  ptrdiff_t so = s[0] / (ptrdiff_t)sizeof *o, sx = s[1] / (ptrdiff_t)sizeof *x;
  for (size_t i = 0; i < n; i++) {
    int64_t *dst = &o[(ptrdiff_t)i * so];
    *dst = (int64_t)((uint64_t)*dst + (uint64_t)x[(ptrdiff_t)i * sx]);
  }
}

/* the sum of an int64 or bool tensor is int64, as PyTorch ((pred == y).sum()):
 * exact, wrapping on overflow; no gradient */
static tg_tensor *sum_integers(tg_tensor *a, unsigned mask, bool keepdim) {
  if (a->dtype == TG_BOOL && !(a = tg_to_dtype(a, TG_INT64))) return NULL;
  tg_tensor *out = reduce_alloc(a, mask);
  if (!out) return NULL;
  memset(out->storage->data, 0, out->storage->nbytes);
  ptrdiff_t st[2][TG_MAX_DIMS];
  tg_broadcast_strides(out, a->ndim, a->shape, st[0]);
  for (int d = 0; d < a->ndim; d++) st[1][d] = a->strides[d] * (ptrdiff_t)sizeof(int64_t);
  char *base[2] = {tg_ptr(out), tg_ptr(a)};
  tg_iter(2, base, a->ndim, a->shape, st, sum_i64, NULL);
  drop_reduced_dims(out, a, mask, keepdim);
  return out;
}

tg_tensor *tg_sum_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim) {
  unsigned mask;
  if (!tg_tensor_check(a, "sum", 1) || !ops_dims_mask("sum", a, n_dims, dims, &mask)) return NULL;
  if (!tg_dtype_is_float(a->dtype)) return sum_integers(a, mask, keepdim);
  return sum_mask(a, mask, keepdim);
}

tg_tensor *tg_sum(tg_tensor *a) { return tg_sum_dims(a, 0, NULL, false); }

tg_tensor *tg_sum_to_shape(tg_tensor *t, int ndim, const size_t *shape) {
  if (!ops_check_float("sum_to_shape", t, 1)) return NULL;
  if (ndim > 0 && !shape) {
    tg_error("sum_to_shape: shape is NULL for %d dims", ndim);
    return NULL;
  }
  if (ndim == t->ndim && (ndim == 0 || memcmp(shape, t->shape, (size_t)ndim * sizeof *shape) == 0))
    return t;
  unsigned mask = 0;
  bool ok = ndim <= t->ndim;
  for (int d = 0; ok && d < t->ndim; d++) {
    int k = d - (t->ndim - ndim);
    if (k < 0) mask |= 1u << d;
    else if (shape[k] == 1 && t->shape[d] != 1) mask |= 1u << d;
    else ok = shape[k] == t->shape[d];
  }
  if (!ok) {
    char b1[96], b2[96];
    tg_error("sum_to_shape: %s cannot be summed to %s", tg_shape_str(t, b1, sizeof b1),
             tg_dims_str(ndim, shape, b2, sizeof b2));
    return NULL;
  }
  return tg_reshape(sum_mask(t, mask, true), ndim, shape);
}

/* --------------------------------------------------------------- mean */

static size_t reduced_count(const tg_tensor *a, unsigned mask) {
  size_t n = 1;
  for (int d = 0; d < a->ndim; d++)
    if (mask & (1u << d)) n *= a->shape[d];
  return n;
}

static void mean_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul_scalar(ops_expand_reduced(g, n->in[0], (unsigned)tg_node_i(n)[0]), tg_node_f(n)[0]);
}
static tg_tensor *mean_jvp(tg_node *n, tg_tensor *const *t) {
  return tg_mul_scalar(sum_jvp(n, t), tg_node_f(n)[0]);
}
TG_DEFINE_OP_JVP(OP_MEAN, "MeanBackward", mean_backward, mean_jvp, TG_NODE_F | TG_NODE_I);

tg_tensor *tg_mean_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim) {
  unsigned mask;
  if (!ops_check_float("mean", a, 1) || !ops_dims_mask("mean", a, n_dims, dims, &mask)) return NULL;
  double scale = 1.0 / (double)reduced_count(a, mask);
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *out = tg_mul_scalar(sum_mask(a, mask, keepdim), scale);
  tg_set_grad_enabled(prev);
  tg_node *n = ops_record(out, &OP_MEAN, 1, &a);
  if (n) tg_node_i(n)[0] = mask, tg_node_f(n)[0] = scale;
  return out;
}

tg_tensor *tg_mean(tg_tensor *a) { return tg_mean_dims(a, 0, NULL, false); }

/* ---------------------------------------------------------------- var */

/* d var / dx = 2 (x - mean) / (N - correction) */
static void var_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  unsigned mask = (unsigned)tg_node_i(n)[0];
  int dims[TG_MAX_DIMS], nd = 0;
  for (int d = 0; d < x->ndim; d++)
    if (mask & (1u << d)) dims[nd++] = d;
  tg_tensor *centered = tg_sub(x, tg_mean_dims(x, nd, dims, true));
  gi[0] = tg_mul(ops_expand_reduced(g, x, mask), tg_mul_scalar(centered, 2.0 * tg_node_f(n)[0]));
}
/* tangent: 2 sum((x - mean) t) / (N - correction) */
static tg_tensor *var_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0];
  unsigned mask = (unsigned)tg_node_i(n)[0];
  int dims[TG_MAX_DIMS], nd = 0;
  for (int d = 0; d < x->ndim; d++)
    if (mask & (1u << d)) dims[nd++] = d;
  tg_tensor *centered = tg_sub(x, tg_mean_dims(x, nd, dims, true));
  tg_tensor *s = tg_reshape(sum_mask(tg_mul(centered, t[0]), mask, true), n->out->ndim, n->out->shape);
  return tg_mul_scalar(s, 2.0 * tg_node_f(n)[0]);
}
TG_DEFINE_OP_JVP(OP_VAR, "VarBackward", var_backward, var_jvp, TG_SAVES_IN(0) | TG_NODE_F | TG_NODE_I);

tg_tensor *tg_var_dims(tg_tensor *a, int n_dims, const int *dims, bool unbiased, bool keepdim) {
  unsigned mask;
  if (!ops_check_float("var", a, 1) || !ops_dims_mask("var", a, n_dims, dims, &mask)) return NULL;
  size_t count = reduced_count(a, mask);
  double denom = (double)count - (unbiased ? 1.0 : 0.0);
  double scale = denom > 0 ? 1.0 / denom : NAN; /* PyTorch: nan for one sample, unbiased */
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *centered = tg_sub(a, tg_mean_dims(a, n_dims, dims, true));
  tg_tensor *out = tg_mul_scalar(sum_mask(tg_mul(centered, centered), mask, keepdim), scale);
  tg_set_grad_enabled(prev);
  tg_node *n = ops_record(out, &OP_VAR, 1, &a);
  if (n) tg_node_i(n)[0] = mask, tg_node_f(n)[0] = scale;
  return out;
}

tg_tensor *tg_var(tg_tensor *a, bool unbiased) { return tg_var_dims(a, 0, NULL, unbiased, false); }

/* ---------------------------------------------------------- logsumexp */

static void logsumexp_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  unsigned mask = (unsigned)tg_node_i(n)[0];
  tg_tensor *lse = ops_expand_reduced(n->out, x, mask);
  gi[0] = tg_mul(ops_expand_reduced(g, x, mask), tg_exp(tg_sub(x, lse)));
}
/* tangent: sum(softmax(x) t) over the reduced dims, softmax = exp(x - out) */
static tg_tensor *logsumexp_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0];
  unsigned mask = (unsigned)tg_node_i(n)[0];
  tg_tensor *p = tg_exp(tg_sub(x, ops_expand_reduced(n->out, x, mask)));
  return tg_reshape(sum_mask(tg_mul(p, t[0]), mask, true), n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_LOGSUMEXP, "LogsumexpBackward", logsumexp_backward, logsumexp_jvp, TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_I);

tg_tensor *tg_logsumexp(tg_tensor *a, int n_dims, const int *dims, bool keepdim) {
  unsigned mask;
  if (!ops_check_float("logsumexp", a, 1) || !ops_dims_mask("logsumexp", a, n_dims, dims, &mask))
    return NULL;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *m = extreme_raw(a, mask, true);
  /* an all -inf (or +inf) slice would give inf - inf; shift by 0 there */
  for (size_t i = 0; m && i < m->numel; i++) {
    size_t idx[TG_MAX_DIMS], r = i;
    for (int d = m->ndim - 1; d >= 0; d--) idx[d] = r % m->shape[d], r /= m->shape[d];
    if (isinf(tg_get(m, idx))) tg_set(m, idx, 0.0);
  }
  tg_tensor *s = sum_mask(tg_exp(tg_sub(a, m)), mask, true);
  tg_tensor *out = tg_add(tg_log(s), m);
  tg_set_grad_enabled(prev);
  if (!out) return NULL;
  drop_reduced_dims(out, a, mask, keepdim);
  tg_node *n = ops_record(out, &OP_LOGSUMEXP, 1, &a);
  if (n) tg_node_i(n)[0] = mask;
  return out;
}

/* ------------------------------------------------------------ max/min */

/* the gradient goes to the selected element: scatter into zeros */
static void extreme_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *idx = tg_node_saved(n);
  tg_tensor *gk = tg_reshape(g, idx->ndim, idx->shape);
  gi[0] = tg_scatter_add(tg_zeros_like(x), (int)tg_node_i(n)[0], idx, gk);
}
/* tangent: the tangent at the selected element */
static tg_tensor *extreme_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *picked = tg_gather(t[0], (int)tg_node_i(n)[0], tg_node_saved(n));
  return tg_reshape(picked, n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_MAX, "MaxBackward", extreme_backward, extreme_jvp, TG_NODE_I | TG_NODE_SAVED);
TG_DEFINE_OP_JVP(OP_MIN, "MinBackward", extreme_backward, extreme_jvp, TG_NODE_I | TG_NODE_SAVED);

static tg_tensor *extreme_dim(const char *name, tg_tensor *a, int dim, bool keepdim,
                              tg_tensor **indices, bool is_max) {
  if (indices) *indices = NULL;
  if (!ops_check_float(name, a, 1)) return NULL;
  int d = tg_norm_dim(name, dim, a->ndim);
  if (d < 0) return NULL;
  if (a->ndim == 0) return extreme_dim(name, tg_reshape(a, TG_SHAPE(1)), 0, false, indices, is_max);
  if (a->shape[d] == 0) {
    tg_error("%s: cannot reduce over dim %d of size 0", name, d);
    return NULL;
  }
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *x = tg_contiguous(a);
  tg_set_grad_enabled(prev);
  unsigned mask = 1u << d;
  size_t kshape[TG_MAX_DIMS];
  int knd = ops_reduced_shape(a, mask, true, kshape);
  tg_tensor *out = tg_tensor_alloc(a->dtype, knd, kshape);
  tg_tensor *idx = tg_tensor_alloc(TG_INT64, knd, kshape);
  if (!x || !out || !idx) return NULL;
  size_t outer = 1, len = a->shape[d], inner = 1;
  for (int k = 0; k < d; k++) outer *= a->shape[k];
  for (int k = d + 1; k < a->ndim; k++) inner *= a->shape[k];
  int64_t *ip = (int64_t *)tg_ptr(idx);
  for (size_t o = 0; o < outer; o++)
    for (size_t i = 0; i < inner; i++) {
      size_t base = o * len * inner + i, best = 0;
      double bv = tg_get_flat(x, base);
      for (size_t j = 1; j < len && !isnan(bv); j++) {
        double v = tg_get_flat(x, base + j * inner);
        if (isnan(v) || (is_max ? v > bv : v < bv)) bv = v, best = j;
      }
      ip[o * inner + i] = (int64_t)best;
      if (a->dtype == TG_FLOAT32) ((float *)tg_ptr(out))[o * inner + i] = (float)bv;
      else ((double *)tg_ptr(out))[o * inner + i] = bv;
    }
  if (indices) *indices = idx;
  drop_reduced_dims(out, a, mask, keepdim);
  tg_node *n = ops_record(out, is_max ? &OP_MAX : &OP_MIN, 1, &a);
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, idx);
  }
  if (indices && !keepdim) {
    ptrdiff_t st[TG_MAX_DIMS];
    tg_contiguous_strides(out->ndim, out->shape, st);
    *indices = tg_tensor_view(idx, out->ndim, out->shape, st, 0);
  }
  return out;
}

tg_tensor *tg_max_dim(tg_tensor *a, int dim, bool keepdim, tg_tensor **indices) {
  return extreme_dim("max", a, dim, keepdim, indices, true);
}
tg_tensor *tg_min_dim(tg_tensor *a, int dim, bool keepdim, tg_tensor **indices) {
  return extreme_dim("min", a, dim, keepdim, indices, false);
}

/* max/min of all elements: the gradient is split evenly among the elements
 * equal to the result (the NaNs, when it is NaN), as PyTorch's
 * evenly_distribute_backward; the split is a constant mask */
OPS_UNARY_KERNEL(tie_k, (x == p0 || (isnan(x) && isnan(p0))) ? 1 : 0)
static void extreme_all_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *ties = ops_unary_forward("max", n->in[0], &tie_k, (ops_params){tg_get_flat(n->out, 0), 0});
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *share = ties ? tg_div_scalar(ties, tg_item(tg_sum(ties))) : NULL;
  tg_set_grad_enabled(prev);
  gi[0] = tg_mul(g, share);
}
/* J is the row of tie shares: the tangent is sum(share * t) */
static tg_tensor *extreme_all_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *gi[1] = {NULL};
  extreme_all_backward(n, t[0], gi);
  return tg_sum(gi[0]);
}
TG_DEFINE_OP_JVP(OP_MAX_ALL, "MaxBackward", extreme_all_backward, extreme_all_jvp, TG_SAVES_IN(0) | TG_SAVES_OUT);
TG_DEFINE_OP_JVP(OP_MIN_ALL, "MinBackward", extreme_all_backward, extreme_all_jvp, TG_SAVES_IN(0) | TG_SAVES_OUT);

static tg_tensor *extreme_all(const char *name, tg_tensor *a, bool is_max) {
  if (!ops_check_float(name, a, 1)) return NULL;
  if (a->numel == 0) {
    tg_error("%s: the tensor is empty; %s of no elements is undefined", name, name);
    return NULL;
  }
  unsigned mask = (1u << a->ndim) - 1u;
  tg_tensor *out = extreme_raw(a, mask, is_max);
  if (!out) return NULL;
  out->storage->version = 0;
  drop_reduced_dims(out, a, mask, false);
  ops_record(out, is_max ? &OP_MAX_ALL : &OP_MIN_ALL, 1, &a);
  return out;
}
tg_tensor *tg_max(tg_tensor *a) { return extreme_all("max", a, true); }
tg_tensor *tg_min(tg_tensor *a) { return extreme_all("min", a, false); }
