/* Batch and instance normalisation: one fused node over the channel dim 1
 * of an (N, C, d1, ...) input, y = (x - mean_c) / sqrt(var_c + eps) [* w_c]
 * [+ b_c]. Group and layer norm (nn/norm_layer.c) run the same node on a
 * (1, groups, values) view.
 *
 * The forward reads x twice (statistics) and once to normalise, and its
 * arithmetic is that of the composition it replaced (tg_mean_dims,
 * tg_var_dims, sub, div by sqrt, mul, add) step for step in the element
 * type, with the same summation order: (N, C) and (N, C, L) results stay
 * bit-identical. The backward is the standard batch-norm formula: one
 * fused pass for the channel sums and one for dx when nothing records; with
 * create_graph, the same formula in tg_* ops of x, so double backward works. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

/* ------------------------------------------------------------ kernels */

enum { NORM_W = 1, NORM_B = 2, NORM_TRAIN = 4 };

/* The statistics kernels run through tg_iter over x's shape, with per-channel
 * operands whose byte stride is a table row along dim 1 and 0 elsewhere. */

/* sum of squared deviations, chunked as tg_accumulate_ chunks a sum (a
 * partial sum per inner run along reduced dims): p[0] the keepdim
 * accumulator, p[1] x (contiguous), p[2] the keepdim mean */
#define SQDEV_LOOP(T)                                                          \
  do {                                                                         \
    T *o = (T *)p[0];                                                          \
    const T *a = (const T *)p[1], *m = (const T *)p[2];                        \
    ptrdiff_t so = s[0] / (ptrdiff_t)sizeof(T), sa = s[1] / (ptrdiff_t)sizeof(T), \
              sm = s[2] / (ptrdiff_t)sizeof(T);                                \
    if (so == 0) {                                                             \
      T acc = 0;                                                               \
      const T mu = m[0];                                                       \
      for (size_t i = 0; i < n; i++) {                                         \
        T d = a[(ptrdiff_t)i * sa] - mu;                                       \
        T sq = d * d;                                                          \
        acc += sq;                                                             \
      }                                                                        \
      o[0] += acc;                                                             \
    } else {                                                                   \
      for (size_t i = 0; i < n; i++) {                                         \
        T d = a[(ptrdiff_t)i * sa] - m[(ptrdiff_t)i * sm];                     \
        T sq = d * d;                                                          \
        o[(ptrdiff_t)i * so] += sq;                                            \
      }                                                                        \
    }                                                                          \
  } while (0)
static void sqdev_f32(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  SQDEV_LOOP(float);
}
static void sqdev_f64(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  SQDEV_LOOP(double);
}

/* y = (x - m) / sd * w + b, each step rounded to T as the separate ops
 * rounded it; without a weight w = 1 and without a bias b = -0, which
 * change no bit (v * 1 = v, v + -0 = v, signed zeros included), so the
 * loop has no branch: p[0] y, p[1] x, p[2] the table (m, sd, w, b) per
 * channel, constant along the run when its stride is 0 */
#define NORMALISE_LOOP(T)                                                      \
  do {                                                                         \
    T *y = (T *)p[0];                                                          \
    const T *x = (const T *)p[1], *q = (const T *)p[2];                        \
    ptrdiff_t sy = s[0] / (ptrdiff_t)sizeof(T), sx = s[1] / (ptrdiff_t)sizeof(T), \
              sq = s[2] / (ptrdiff_t)sizeof(T);                                \
    if (sq == 0 && sy == 1 && sx == 1) {                                       \
      const T m = q[0], sd = q[1], w = q[2], b = q[3];                         \
      for (size_t i = 0; i < n; i++) {                                         \
        T v = (x[i] - m) / sd;                                                 \
        v = v * w;                                                             \
        y[i] = v + b;                                                          \
      }                                                                        \
      return;                                                                  \
    }                                                                          \
    for (size_t i = 0; i < n; i++) {                                           \
      const T *r = q + (ptrdiff_t)i * sq;                                      \
      T v = (x[(ptrdiff_t)i * sx] - r[0]) / r[1];                              \
      v = v * r[2];                                                            \
      y[(ptrdiff_t)i * sy] = v + r[3];                                         \
    }                                                                          \
  } while (0)
static void normalise_f32(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  NORMALISE_LOOP(float);
}
static void normalise_f64(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  NORMALISE_LOOP(double);
}

/* the backward's channel sums in double: p[0] (sum g, sum g (x - m)) per
 * channel, p[1] g, p[2] x, p[3] the saved (m, sd) per channel */
#define GRAD_SUMS_LOOP(T)                                                      \
  do {                                                                         \
    double *o = (double *)p[0];                                                \
    const T *g = (const T *)p[1], *x = (const T *)p[2], *q = (const T *)p[3];  \
    ptrdiff_t so = s[0] / (ptrdiff_t)sizeof(double), sg = s[1] / (ptrdiff_t)sizeof(T), \
              sx = s[2] / (ptrdiff_t)sizeof(T), sq = s[3] / (ptrdiff_t)sizeof(T); \
    if (so == 0) { /* one channel along the run: four partial sums each */   \
      const double m = q[0];                                                   \
      double a[4] = {0}, b[4] = {0};                                           \
      size_t i = 0;                                                            \
      for (; i + 4 <= n; i += 4)                                               \
        for (int k = 0; k < 4; k++) {                                          \
          double gv = g[(ptrdiff_t)(i + k) * sg];                              \
          a[k] += gv;                                                          \
          b[k] += gv * ((double)x[(ptrdiff_t)(i + k) * sx] - m);               \
        }                                                                      \
      for (; i < n; i++) {                                                     \
        double gv = g[(ptrdiff_t)i * sg];                                      \
        a[0] += gv;                                                            \
        b[0] += gv * ((double)x[(ptrdiff_t)i * sx] - m);                       \
      }                                                                        \
      o[0] += (a[0] + a[1]) + (a[2] + a[3]);                                   \
      o[1] += (b[0] + b[1]) + (b[2] + b[3]);                                   \
      return;                                                                  \
    }                                                                          \
    for (size_t i = 0; i < n; i++) {                                           \
      double gv = g[(ptrdiff_t)i * sg];                                        \
      double *acc = o + (ptrdiff_t)i * so;                                     \
      acc[0] += gv;                                                            \
      acc[1] += gv * ((double)x[(ptrdiff_t)i * sx] - q[(ptrdiff_t)i * sq]);    \
    }                                                                          \
  } while (0)
static void grad_sums_f32(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  GRAD_SUMS_LOOP(float);
}
static void grad_sums_f64(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  GRAD_SUMS_LOOP(double);
}

/* dx = A g + B (x - m) + C1 per channel, in double (the three terms cancel
 * for small batches): p[0] dx, p[1] g, p[2] x, p[3] the double table (A, B,
 * m, C1) */
#define GRAD_X_LOOP(T)                                                         \
  do {                                                                         \
    T *d = (T *)p[0];                                                          \
    const T *g = (const T *)p[1], *x = (const T *)p[2];                        \
    const double *q = (const double *)p[3];                                    \
    ptrdiff_t sd = s[0] / (ptrdiff_t)sizeof(T), sg = s[1] / (ptrdiff_t)sizeof(T), \
              sx = s[2] / (ptrdiff_t)sizeof(T), sq = s[3] / (ptrdiff_t)sizeof(double); \
    if (sq == 0 && sd == 1 && sg == 1 && sx == 1) {                            \
      const double a = q[0], b = q[1], m = q[2], c = q[3];                     \
      for (size_t i = 0; i < n; i++) d[i] = (T)(a * g[i] + b * (x[i] - m) + c); \
      return;                                                                  \
    }                                                                          \
    for (size_t i = 0; i < n; i++) {                                           \
      const double *r = q + (ptrdiff_t)i * sq;                                 \
      d[(ptrdiff_t)i * sd] =                                                   \
          (T)(r[0] * g[(ptrdiff_t)i * sg] + r[1] * (x[(ptrdiff_t)i * sx] - r[2]) + r[3]); \
    }                                                                          \
  } while (0)
static void grad_x_f32(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  GRAD_X_LOOP(float);
}
static void grad_x_f64(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  GRAD_X_LOOP(double);
}

/* ------------------------------------------------------------ helpers */

/* byte strides over x's shape of t: its own strides (a tensor of x's shape,
 * or a keepdim one), or a table of rows of row_bytes per channel */
static void strides_of(const tg_tensor *t, const tg_tensor *x, ptrdiff_t *st) {
  tg_broadcast_strides(t, x->ndim, x->shape, st);
}
static void table_strides(const tg_tensor *x, size_t row_bytes, ptrdiff_t *st) {
  for (int d = 0; d < x->ndim; d++) st[d] = d == 1 && x->shape[1] != 1 ? (ptrdiff_t)row_bytes : 0;
}

/* a (C, k) table of x's dtype, or of float64 (zeroed) for accumulators */
static tg_tensor *table(const tg_tensor *x, tg_dtype dt, size_t k) {
  tg_tensor *t = tg_tensor_alloc(dt, TG_SHAPE(x->shape[1], k));
  if (t) memset(tg_ptr(t), 0, t->numel * tg_elem_bytes(dt));
  return t;
}
/* element i of a fresh contiguous float tensor */
static void set_flat(tg_tensor *t, size_t i, double v) {
  if (t->dtype == TG_FLOAT32) ((float *)tg_ptr(t))[i] = (float)v;
  else ((double *)tg_ptr(t))[i] = v;
}
static void table_set(tg_tensor *t, size_t c, size_t k, double v) { set_flat(t, c * t->shape[1] + k, v); }
static double table_get(const tg_tensor *t, size_t c, size_t k) {
  size_t i = c * t->shape[1] + k;
  return t->dtype == TG_FLOAT32 ? ((const float *)tg_ptr(t))[i] : ((const double *)tg_ptr(t))[i];
}

/* t (C) viewed so that it broadcasts against x: (C, 1, ..., 1) */
static tg_tensor *per_channel(tg_tensor *t, const tg_tensor *x) {
  size_t shape[TG_MAX_DIMS];
  shape[0] = t->shape[0];
  for (int d = 1; d < x->ndim - 1; d++) shape[d] = 1;
  return tg_reshape(t, x->ndim - 1, shape);
}

/* every dim of x but the channel dim */
static int other_dims(const tg_tensor *x, int *dims) {
  int nd = 0;
  for (int d = 0; d < x->ndim; d++)
    if (d != 1) dims[nd++] = d;
  return nd;
}

static size_t per_channel_count(const tg_tensor *x) { return x->shape[1] ? x->numel / x->shape[1] : 0; }

/* ------------------------------------------------------------ backward */

/* without create_graph: the channel sums and dx in two fused passes */
static void norm_backward_fused(tg_node *n, tg_tensor *g, tg_tensor **gi, int fl, tg_tensor *w) {
  tg_tensor *x = n->in[0], *st = tg_node_saved(n);
  int iw = 1, ib = fl & NORM_W ? 2 : 1;
  bool need_x = tg_node_needs_grad(n, 0), need_w = (fl & NORM_W) && tg_node_needs_grad(n, iw),
       need_b = (fl & NORM_B) && tg_node_needs_grad(n, ib), train = fl & NORM_TRAIN;
  size_t C = x->shape[1], M = per_channel_count(x);
  bool f32 = x->dtype == TG_FLOAT32;
  size_t es = tg_elem_bytes(x->dtype);
  tg_tensor *sums = NULL;
  if (need_w || need_b || (need_x && train)) {
    sums = table(x, TG_FLOAT64, 2);
    if (!sums) return;
    ptrdiff_t strides[4][TG_MAX_DIMS];
    table_strides(x, 2 * sizeof(double), strides[0]);
    strides_of(g, x, strides[1]);
    strides_of(x, x, strides[2]);
    table_strides(x, 2 * es, strides[3]);
    char *base[4] = {tg_ptr(sums), tg_ptr(g), tg_ptr(x), tg_ptr(st)};
    tg_iter(4, base, x->ndim, x->shape, strides, f32 ? grad_sums_f32 : grad_sums_f64, NULL);
  }
  const double *sv = sums ? (const double *)tg_ptr(sums) : NULL;
  /* sum g xhat = sum g (x - m) / sd */
  if (need_w) {
    gi[iw] = tg_tensor_alloc(x->dtype, TG_SHAPE(C));
    for (size_t c = 0; gi[iw] && c < C; c++) set_flat(gi[iw], c, sv[2 * c + 1] / table_get(st, c, 1));
  }
  if (need_b) {
    gi[ib] = tg_tensor_alloc(x->dtype, TG_SHAPE(C));
    for (size_t c = 0; gi[ib] && c < C; c++) set_flat(gi[ib], c, sv[2 * c]);
  }
  if (need_x) {
    /* dx = w r (g - Sg/M - xhat Sgx/M), r = 1/sd, xhat = (x - m) r; eval: w r g */
    tg_tensor *coef = table(x, TG_FLOAT64, 4), *dx = tg_tensor_alloc(x->dtype, x->ndim, x->shape);
    if (!coef || !dx) return;
    for (size_t c = 0; c < C; c++) {
      double r = 1.0 / table_get(st, c, 1), a = (w ? tg_get_flat(w, c) : 1.0) * r;
      table_set(coef, c, 0, a);
      table_set(coef, c, 2, table_get(st, c, 0));
      if (train && M > 0) {
        table_set(coef, c, 1, -a * r * (sv[2 * c + 1] * r) / (double)M);
        table_set(coef, c, 3, -a * sv[2 * c] / (double)M);
      }
    }
    ptrdiff_t strides[4][TG_MAX_DIMS];
    strides_of(dx, x, strides[0]);
    strides_of(g, x, strides[1]);
    strides_of(x, x, strides[2]);
    table_strides(x, 4 * sizeof(double), strides[3]);
    char *base[4] = {tg_ptr(dx), tg_ptr(g), tg_ptr(x), tg_ptr(coef)};
    tg_iter(4, base, x->ndim, x->shape, strides, f32 ? grad_x_f32 : grad_x_f64, NULL);
    gi[0] = dx;
  }
}

/* with create_graph: the formula in ops; training recomputes the statistics
 * from x, so that their dependence on x is differentiated too */
static void norm_backward_ops(tg_node *n, tg_tensor *g, tg_tensor **gi, int fl, tg_tensor *w) {
  tg_tensor *x = n->in[0], *st = tg_node_saved(n);
  int iw = 1, ib = fl & NORM_W ? 2 : 1, dims[TG_MAX_DIMS], nd = other_dims(x, dims);
  size_t C = x->shape[1], M = per_channel_count(x);
  tg_tensor *mean, *r;
  if (fl & NORM_TRAIN) {
    mean = tg_mean_dims(x, nd, dims, true);
    r = tg_rsqrt(tg_add_scalar(tg_var_dims(x, nd, dims, false, true), tg_node_f(n)[0]));
  } else { /* the running statistics: constants */
    mean = per_channel(tg_select(st, 1, 0), x);
    r = tg_reciprocal(per_channel(tg_select(st, 1, 1), x));
  }
  tg_tensor *xhat = tg_mul(tg_sub(x, mean), r);
  tg_tensor *sg = tg_sum_dims(g, nd, dims, true), *sgx = tg_sum_dims(tg_mul(g, xhat), nd, dims, true);
  if ((fl & NORM_W) && tg_node_needs_grad(n, iw)) gi[iw] = tg_reshape(sgx, TG_SHAPE(C));
  if ((fl & NORM_B) && tg_node_needs_grad(n, ib)) gi[ib] = tg_reshape(sg, TG_SHAPE(C));
  if (!tg_node_needs_grad(n, 0)) return;
  tg_tensor *wr = w ? tg_mul(per_channel(w, x), r) : r;
  if (!(fl & NORM_TRAIN) || M == 0) {
    gi[0] = tg_mul(g, wr);
    return;
  }
  double inv_m = 1.0 / (double)M;
  tg_tensor *centred = tg_sub(tg_sub(g, tg_mul_scalar(sg, inv_m)), tg_mul(xhat, tg_mul_scalar(sgx, inv_m)));
  gi[0] = tg_mul(wr, centred);
}

static void norm_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int fl = (int)tg_node_i(n)[0];
  tg_tensor *w = fl & NORM_W ? n->in[1] : NULL;
  if (n->in[0]->numel == 0) {
    /* sums over nothing: zero weight and bias gradients, where the NaN
     * statistics of an empty batch would leak into the formula */
    for (int i = 0; i < n->n_in; i++)
      if (tg_node_needs_grad(n, i)) gi[i] = tg_zeros_like(n->in[i]);
    return;
  }
  if (ops_fused_backward()) norm_backward_fused(n, g, gi, fl, w);
  else norm_backward_ops(n, g, gi, fl, w);
}
/* y = w xhat + b, xhat = (x - mean) r: training (batch statistics)
 * dxhat = r (tx - mean(tx) - xhat mean(xhat tx)), the means over every dim
 * but the channel's; eval (running statistics, constants) dxhat = r tx;
 * dy = w dxhat + tw xhat + tb */
static tg_tensor *norm_jvp(tg_node *n, tg_tensor *const *t) {
  int fl = (int)tg_node_i(n)[0];
  tg_tensor *x = n->in[0], *st = tg_node_saved(n), *w = fl & NORM_W ? n->in[1] : NULL;
  int iw = 1, ib = fl & NORM_W ? 2 : 1, dims[TG_MAX_DIMS], nd = other_dims(x, dims);
  if (x->numel == 0) return tg_zeros_like(n->out);
  tg_tensor *mean, *r;
  if (fl & NORM_TRAIN) {
    mean = tg_mean_dims(x, nd, dims, true);
    r = tg_rsqrt(tg_add_scalar(tg_var_dims(x, nd, dims, false, true), tg_node_f(n)[0]));
  } else {
    mean = per_channel(tg_select(st, 1, 0), x);
    r = tg_reciprocal(per_channel(tg_select(st, 1, 1), x));
  }
  tg_tensor *xhat = tg_mul(tg_sub(x, mean), r), *acc = NULL;
  if (t[0]) {
    tg_tensor *dxhat = tg_mul(r, t[0]);
    if (fl & NORM_TRAIN) {
      tg_tensor *mt = tg_mean_dims(t[0], nd, dims, true), *mxt = tg_mean_dims(tg_mul(xhat, t[0]), nd, dims, true);
      dxhat = tg_mul(r, tg_sub(tg_sub(t[0], mt), tg_mul(xhat, mxt)));
    }
    acc = w ? tg_mul(per_channel(w, x), dxhat) : dxhat;
  }
  if (w && t[iw]) {
    tg_tensor *term = tg_mul(per_channel(t[iw], x), xhat);
    acc = acc ? tg_add(acc, term) : term;
  }
  if ((fl & NORM_B) && t[ib]) {
    tg_tensor *term = per_channel(t[ib], x);
    acc = acc ? tg_add(acc, term) : term;
  }
  return acc;
}
/* the weight's version is checked when there is one (it is input 1) */
#define NORM_SAVES (TG_SAVES_IN(0) | TG_NODE_F | TG_NODE_I | TG_NODE_SAVED)
TG_DEFINE_OP_JVP(OP_NORM_W, "NativeBatchNormBackward", norm_backward, norm_jvp, NORM_SAVES | TG_SAVES_IN(1));
TG_DEFINE_OP_JVP(OP_NORM, "NativeBatchNormBackward", norm_backward, norm_jvp, NORM_SAVES);

/* ------------------------------------------------------------ forward */

/* keepdim batch mean and biased variance over every dim but 1, summed in
 * the order tg_mean_dims and tg_var_dims sum (no history) */
static bool batch_stats(tg_tensor *x, tg_tensor **mean, tg_tensor **var) {
  size_t shape[TG_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) shape[d] = d == 1 ? x->shape[1] : 1;
  tg_tensor *m = tg_zeros(x->dtype, x->ndim, shape), *v = tg_zeros(x->dtype, x->ndim, shape);
  if (!m || !v || tg_accumulate_(m, x) != 0) return false;
  size_t count = per_channel_count(x);
  double scale = 1.0 / (double)count;
  bool f32 = x->dtype == TG_FLOAT32;
  for (size_t c = 0; c < m->numel; c++) {
    if (f32) ((float *)tg_ptr(m))[c] *= (float)scale;
    else ((double *)tg_ptr(m))[c] *= scale;
  }
  /* var summed x (- mean)^2 over a contiguous layout, as tg_var_dims sums
   * its contiguous squares */
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *xc = tg_contiguous(x);
  tg_set_grad_enabled(prev);
  if (!xc) return false;
  ptrdiff_t st[3][TG_MAX_DIMS];
  strides_of(v, x, st[0]);
  strides_of(xc, x, st[1]);
  strides_of(m, x, st[2]);
  char *base[3] = {tg_ptr(v), tg_ptr(xc), tg_ptr(m)};
  tg_iter(3, base, x->ndim, x->shape, st, f32 ? sqdev_f32 : sqdev_f64, NULL);
  for (size_t c = 0; c < v->numel; c++) {
    if (f32) ((float *)tg_ptr(v))[c] *= (float)scale;
    else ((double *)tg_ptr(v))[c] *= scale;
  }
  *mean = m, *var = v;
  return true;
}

tg_tensor *nn_norm_channels(tg_tensor *x, tg_tensor *mean, tg_tensor *var, tg_tensor *w,
                            tg_tensor *b, double eps, tg_tensor **bmean, tg_tensor **bvar) {
  bool train = !mean;
  if (train && !batch_stats(x, &mean, &var)) return NULL;
  if (bmean) *bmean = train ? mean : NULL;
  if (bvar) *bvar = train ? var : NULL;
  /* per channel: (m, sd, w, b) for the forward; (m, sd) saved for backward */
  size_t C = x->shape[1];
  tg_tensor *coef = table(x, x->dtype, 4), *saved = table(x, x->dtype, 2);
  tg_tensor *y = tg_tensor_alloc(x->dtype, x->ndim, x->shape);
  if (!coef || !saved || !y) return NULL;
  bool f32 = x->dtype == TG_FLOAT32;
  for (size_t c = 0; c < C; c++) {
    double m = tg_get_flat(mean, c), v = tg_get_flat(var, c);
    /* sqrt(var + eps) rounded as tg_add_scalar and tg_sqrt round it */
    double sd = f32 ? (double)sqrtf((float)v + (float)eps) : sqrt(v + eps);
    table_set(coef, c, 0, m);
    table_set(coef, c, 1, sd);
    table_set(coef, c, 2, w ? tg_get_flat(w, c) : 1.0);
    table_set(coef, c, 3, b ? tg_get_flat(b, c) : -0.0);
    table_set(saved, c, 0, m);
    table_set(saved, c, 1, sd);
  }
  int fl = (w ? NORM_W : 0) | (b ? NORM_B : 0) | (train ? NORM_TRAIN : 0);
  ptrdiff_t st[3][TG_MAX_DIMS];
  strides_of(y, x, st[0]);
  strides_of(x, x, st[1]);
  table_strides(x, 4 * tg_elem_bytes(x->dtype), st[2]);
  char *base[3] = {tg_ptr(y), tg_ptr(x), tg_ptr(coef)};
  tg_iter(3, base, x->ndim, x->shape, st, f32 ? normalise_f32 : normalise_f64, NULL);
  tg_tensor *in[3] = {x, w ? w : b, b};
  tg_node *n = ops_record(y, w ? &OP_NORM_W : &OP_NORM, 1 + !!w + !!b, in);
  if (n) {
    tg_node_i(n)[0] = fl;
    tg_node_f(n)[0] = eps;
    tg_node_save(n, saved);
  }
  return y;
}

/* ---------------------------------------------------------- batch_norm */

/* a per-channel tensor t must be float, (C), of x's dtype, and without grad
 * when it is a running statistic (PyTorch: not differentiable) */
static bool check_channel(const char *op, const char *what, int argno, const tg_tensor *t,
                          const tg_tensor *x, bool stat) {
  char a[96];
  if (!t) return true;
  if (!tg_tensor_check(t, op, argno)) return false;
  if (t->ndim != 1 || t->shape[0] != x->shape[1] || t->dtype != x->dtype) {
    tg_error("%s: %s is %s %s; expected %s [%zu] for input with %zu channels", op, what,
             tg_dtype_name(t->dtype), tg_shape_str(t, a, sizeof a), tg_dtype_name(x->dtype),
             x->shape[1], x->shape[1]);
    return false;
  }
  if (stat && t->requires_grad) {
    tg_error("%s: %s requires grad, but the op is not differentiable with respect to it", op, what);
    return false;
  }
  return true;
}

static bool check_norm_args(const char *op, const tg_tensor *x, const tg_tensor *rm,
                            const tg_tensor *rv, const tg_tensor *w, const tg_tensor *b) {
  char a[96];
  if (!ops_check_float(op, x, 1)) return false;
  if (x->ndim < 2) {
    tg_error("%s: input must be (N, C, ...) with at least 2 dims, got %s", op, tg_shape_str(x, a, sizeof a));
    return false;
  }
  return check_channel(op, "running_mean", 2, rm, x, true) &&
         check_channel(op, "running_var", 3, rv, x, true) && check_channel(op, "weight", 4, w, x, false) &&
         check_channel(op, "bias", 5, b, x, false);
}

/* running = (1 - f) running + f batch, with the unbiased batch variance;
 * element by element in place: no history, no allocation */
static void update_running(tg_tensor *rm, tg_tensor *rv, const tg_tensor *mean,
                           const tg_tensor *var, size_t count, double f) {
  double unbias = (double)count / (double)(count - 1);
  for (size_t c = 0; c < rm->numel; c++) {
    double m = tg_get_flat(mean, c), v = tg_get_flat(var, c) * unbias;
    tg_set(rm, &c, (1.0 - f) * tg_get_flat(rm, c) + f * m);
    tg_set(rv, &c, (1.0 - f) * tg_get_flat(rv, c) + f * v);
  }
}

tg_tensor *tg_batch_norm(tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                         tg_tensor *weight, tg_tensor *bias, bool training, double momentum,
                         double eps) {
  char a[96];
  if (!check_norm_args("batch_norm", x, running_mean, running_var, weight, bias)) return NULL;
  /* PyTorch lets an empty input through without them */
  if (!training && (!running_mean || !running_var)) {
    if (x->numel > 0) {
      tg_error("batch_norm: evaluation mode needs running_mean and running_var");
      return NULL;
    }
    return nn_norm_channels(x, NULL, NULL, weight, bias, eps, NULL, NULL);
  }
  size_t count = per_channel_count(x);
  /* PyTorch refuses exactly one value; none is an empty result */
  if (training && count == 1) {
    tg_error("batch_norm: expected more than 1 value per channel when training, got input %s",
             tg_shape_str(x, a, sizeof a));
    return NULL;
  }
  tg_tensor *mean = NULL, *var = NULL;
  tg_tensor *y = training ? nn_norm_channels(x, NULL, NULL, weight, bias, eps, &mean, &var)
                          : nn_norm_channels(x, running_mean, running_var, weight, bias, eps, NULL, NULL);
  if (y && training && running_mean && running_var && count > 0)
    update_running(running_mean, running_var, mean, var, count, momentum);
  return y;
}

/* ------------------------------------------------------- instance_norm */

/* t (C) repeated n times: (n C), no history (running statistics) or with
 * it (weight, bias) */
static tg_tensor *repeat_channels(tg_tensor *t, size_t n) {
  return t ? tg_repeat(t, 1, (size_t[]){n}) : NULL;
}

tg_tensor *tg_instance_norm(tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                            tg_tensor *weight, tg_tensor *bias, bool use_input_stats,
                            double momentum, double eps) {
  char a[96];
  if (!check_norm_args("instance_norm", x, running_mean, running_var, weight, bias)) return NULL;
  size_t N = x->shape[0], C = x->shape[1], spatial = tg_shape_numel(x->ndim - 2, x->shape + 2);
  if (use_input_stats && spatial == 1) {
    tg_error("instance_norm: expected more than 1 spatial element when training, got input %s",
             tg_shape_str(x, a, sizeof a));
    return NULL;
  }
  if (!use_input_stats && (!running_mean || !running_var)) {
    tg_error("instance_norm: expected running_mean and running_var to be defined when "
             "use_input_stats is false");
    return NULL;
  }
  /* PyTorch's way: batch norm of the (1, N C, spatial) view, each instance
   * a channel; weight and bias repeated per instance */
  tg_tensor *xr = tg_reshape(x, TG_SHAPE(1, N * C, spatial));
  tg_tensor *w = repeat_channels(weight, N), *b = repeat_channels(bias, N);
  if (!xr || (weight && !w) || (bias && !b)) return NULL;
  tg_tensor *y, *mean = NULL, *var = NULL;
  if (use_input_stats) {
    y = nn_norm_channels(xr, NULL, NULL, w, b, eps, &mean, &var);
  } else {
    bool prev = tg_set_grad_enabled(false);
    tg_tensor *rm = repeat_channels(running_mean, N), *rv = repeat_channels(running_var, N);
    tg_set_grad_enabled(prev);
    y = rm && rv ? nn_norm_channels(xr, rm, rv, w, b, eps, NULL, NULL) : NULL;
  }
  if (!y) return NULL;
  /* the running statistics move by the mean over instances of each
   * instance's update (unbiased variance) */
  if (use_input_stats && running_mean && running_var && N > 0 && spatial > 0) {
    double unbias = (double)spatial / (double)(spatial - 1);
    for (size_t c = 0; c < C; c++) {
      double rm0 = tg_get_flat(running_mean, c), rv0 = tg_get_flat(running_var, c), sm = 0, sv = 0;
      for (size_t i = 0; i < N; i++) {
        sm += (1.0 - momentum) * rm0 + momentum * tg_get_flat(mean, i * C + c);
        sv += (1.0 - momentum) * rv0 + momentum * tg_get_flat(var, i * C + c) * unbias;
      }
      tg_set(running_mean, &c, sm / (double)N);
      tg_set(running_var, &c, sv / (double)N);
    }
  }
  return tg_reshape(y, x->ndim, x->shape);
}
