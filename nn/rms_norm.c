/* RMS normalisation as one node: y = x * r * w over rows of the trailing
 * dims, r = 1 / sqrt(mean(x^2) + eps). The forward saves r per row; the
 * backward is one pass over (g, x) when nothing records and the same
 * formula in tg_ ops under create_graph. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "nn_internal.h"

#define RMS_FORWARD(T)                                                          \
  static void rms_forward_##T(const T *restrict x, const T *restrict w, T *restrict y, T *restrict r, \
                              size_t rows, size_t cols, double eps) {           \
    for (size_t i = 0; i < rows; i++, x += cols, y += cols) {                   \
      double ss = 0;                                                            \
      for (size_t j = 0; j < cols; j++) ss += (double)x[j] * (double)x[j];      \
      T ri = (T)(1.0 / sqrt(ss / (double)cols + eps));                          \
      r[i] = ri;                                                                \
      for (size_t j = 0; j < cols; j++) y[j] = x[j] * ri * (w ? w[j] : (T)1);   \
    }                                                                           \
  }
RMS_FORWARD(float)
RMS_FORWARD(double)

/* dx = r gw - x r^3 mean(gw x), gw = g w; dw += sum over rows of g x r */
#define RMS_BACKWARD(T)                                                         \
  static void rms_backward_##T(const T *restrict g, const T *restrict x, const T *restrict w,      \
                               const T *restrict r, T *restrict dx, T *restrict dw, size_t rows,   \
                               size_t cols) {                                   \
    for (size_t i = 0; i < rows; i++, g += cols, x += cols) {                   \
      double dot = 0;                                                           \
      for (size_t j = 0; j < cols; j++) dot += (double)g[j] * (w ? w[j] : 1) * x[j]; \
      T ri = r[i], c = (T)(dot / (double)cols) * ri * ri * ri;                  \
      if (dx)                                                                   \
        for (size_t j = 0; j < cols; j++) dx[i * cols + j] = ri * g[j] * (w ? w[j] : (T)1) - x[j] * c; \
      if (dw)                                                                   \
        for (size_t j = 0; j < cols; j++) dw[j] += g[j] * x[j] * ri;            \
    }                                                                           \
  }
RMS_BACKWARD(float)
RMS_BACKWARD(double)

static tg_tensor *contiguous_nograd(tg_tensor *t) {
  if (!t || tg_is_contiguous(t)) return t;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *c = tg_contiguous(t);
  tg_set_grad_enabled(prev);
  return c;
}

static void rms_norm_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *w = n->n_in > 1 ? n->in[1] : NULL;
  size_t cols = (size_t)tg_node_i(n)[0], rows = cols ? x->numel / cols : 0;
  bool need_x = tg_node_needs_grad(n, 0), need_w = w && tg_node_needs_grad(n, 1);
  if (!ops_fused_backward()) {
    tg_tensor *x2 = tg_reshape(x, TG_SHAPE(rows, cols)), *g2 = tg_reshape(g, TG_SHAPE(rows, cols));
    const int last[1] = {1}, first[1] = {0};
    tg_tensor *r = tg_rsqrt(tg_add_scalar(tg_mean_dims(tg_mul(x2, x2), 1, last, true), tg_node_f(n)[0]));
    if (need_x) {
      tg_tensor *gw = w ? tg_mul(g2, tg_reshape(w, TG_SHAPE(cols))) : g2;
      tg_tensor *c = tg_mul(tg_pow_scalar(r, 3), tg_mean_dims(tg_mul(gw, x2), 1, last, true));
      gi[0] = tg_reshape(tg_sub(tg_mul(gw, r), tg_mul(x2, c)), x->ndim, x->shape);
    }
    if (need_w) gi[1] = tg_reshape(tg_sum_dims(tg_mul(g2, tg_mul(x2, r)), 1, first, false), w->ndim, w->shape);
    return;
  }
  tg_tensor *gc = contiguous_nograd(g), *xc = contiguous_nograd(x), *wc = contiguous_nograd(w);
  tg_tensor *dx = need_x ? (gi[0] = tg_tensor_alloc(x->dtype, x->ndim, x->shape)) : NULL;
  tg_tensor *dw = need_w ? tg_node_grad_sink(n, 1) : NULL;
  if (need_w && !dw) dw = gi[1] = tg_zeros(w->dtype, w->ndim, w->shape);
  if (!gc || !xc || (w && !wc) || (need_x && !dx) || (need_w && !dw)) return;
  const tg_tensor *r = tg_node_saved(n);
  if (x->dtype == TG_FLOAT32)
    rms_backward_float((const float *)tg_ptr(gc), (const float *)tg_ptr(xc), w ? (const float *)tg_ptr(wc) : NULL,
                       (const float *)tg_ptr(r), dx ? (float *)tg_ptr(dx) : NULL,
                       dw ? (float *)tg_ptr(dw) : NULL, rows, cols);
  else
    rms_backward_double((const double *)tg_ptr(gc), (const double *)tg_ptr(xc),
                        w ? (const double *)tg_ptr(wc) : NULL, (const double *)tg_ptr(r),
                        dx ? (double *)tg_ptr(dx) : NULL, dw ? (double *)tg_ptr(dw) : NULL, rows, cols);
}
/* y = x r w with dr = -r^3 mean(x tx) over the row: dy = w (r tx + x dr) + tw x r */
static tg_tensor *rms_norm_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0], *w = n->n_in > 1 ? n->in[1] : NULL, *acc = NULL;
  size_t cols = (size_t)tg_node_i(n)[0], rows = cols ? x->numel / cols : 0;
  const int last[1] = {1};
  tg_tensor *x2 = tg_reshape(x, TG_SHAPE(rows, cols));
  tg_tensor *r = tg_rsqrt(tg_add_scalar(tg_mean_dims(tg_mul(x2, x2), 1, last, true), tg_node_f(n)[0]));
  tg_tensor *w2 = w ? tg_reshape(w, TG_SHAPE(cols)) : NULL;
  if (t[0]) {
    tg_tensor *t2 = tg_reshape(t[0], TG_SHAPE(rows, cols));
    tg_tensor *dr = tg_neg(tg_mul(tg_pow_scalar(r, 3), tg_mean_dims(tg_mul(x2, t2), 1, last, true)));
    tg_tensor *d = tg_add(tg_mul(r, t2), tg_mul(x2, dr));
    acc = w2 ? tg_mul(w2, d) : d;
  }
  if (w && t[1]) {
    tg_tensor *term = tg_mul(tg_reshape(t[1], TG_SHAPE(cols)), tg_mul(x2, r));
    acc = acc ? tg_add(acc, term) : term;
  }
  return acc ? tg_reshape(acc, x->ndim, x->shape) : NULL;
}
TG_DEFINE_OP_JVP(OP_RMS_NORM, "RmsNormBackward", rms_norm_backward, rms_norm_jvp,
                 TG_NODE_F | TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_rms_norm(tg_tensor *x, int ndim, const size_t *normalized_shape, tg_tensor *weight, double eps) {
  if (!nn_check_normalized_shape("rms_norm", x, ndim, normalized_shape) ||
      !nn_check_norm_affine("rms_norm", "weight", 4, weight, x, ndim, normalized_shape))
    return NULL;
  /* torch's default: the machine epsilon of x's dtype */
  if (isnan(eps)) eps = x->dtype == TG_FLOAT32 ? (double)FLT_EPSILON : DBL_EPSILON;
  size_t cols = tg_shape_numel(ndim, normalized_shape), rows = tg_shape_numel(x->ndim - ndim, x->shape);
  tg_tensor *xc = contiguous_nograd(x), *wc = contiguous_nograd(weight);
  tg_tensor *y = xc && (!weight || wc) ? tg_tensor_alloc(x->dtype, x->ndim, x->shape) : NULL;
  tg_tensor *r = y ? tg_tensor_alloc(x->dtype, TG_SHAPE(rows)) : NULL;
  if (!r) return NULL;
  if (x->dtype == TG_FLOAT32)
    rms_forward_float((const float *)tg_ptr(xc), weight ? (const float *)tg_ptr(wc) : NULL, (float *)tg_ptr(y),
                      (float *)tg_ptr(r), rows, cols, eps);
  else
    rms_forward_double((const double *)tg_ptr(xc), weight ? (const double *)tg_ptr(wc) : NULL,
                       (double *)tg_ptr(y), (double *)tg_ptr(r), rows, cols, eps);
  tg_node *n = ops_record(y, &OP_RMS_NORM, weight ? 2 : 1, (tg_tensor *[]){x, weight});
  if (n) {
    tg_node_f(n)[0] = eps;
    tg_node_i(n)[0] = (int64_t)cols;
    tg_node_save(n, r);
  }
  return y;
}
