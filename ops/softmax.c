/* softmax and log_softmax along one dim, each one node, computed with the
 * row maximum subtracted so large logits do not overflow. */
#include <math.h>

#include "ops_internal.h"

/* x is contiguous; out gets softmax (log=false) or log_softmax (log=true)
 * of every run of len elements spaced inner apart */
#define SOFTMAX_LOOP(T, EXP, LOG)                                              \
  do {                                                                         \
    const T *x = (const T *)tg_ptr(xc);                                        \
    T *y = (T *)tg_ptr(out);                                                   \
    for (size_t o = 0; o < outer; o++)                                         \
      for (size_t i = 0; i < inner; i++) {                                     \
        const T *xr = x + o * len * inner + i;                                 \
        T *yr = y + o * len * inner + i;                                       \
        T m = xr[0];                                                           \
        for (size_t j = 1; j < len; j++)                                       \
          if (xr[j * inner] > m) m = xr[j * inner];                            \
        if (isinf(m)) m = 0;                                                   \
        T s = 0;                                                               \
        for (size_t j = 0; j < len; j++) s += EXP(xr[j * inner] - m);          \
        if (log_form) {                                                        \
          T ls = LOG(s) + m;                                                   \
          for (size_t j = 0; j < len; j++) yr[j * inner] = xr[j * inner] - ls; \
        } else {                                                               \
          for (size_t j = 0; j < len; j++) yr[j * inner] = EXP(xr[j * inner] - m) / s; \
        }                                                                      \
      }                                                                        \
  } while (0)

static tg_tensor *softmax_forward(const char *name, tg_tensor *a, int dim, bool log_form, int *dout) {
  if (!ops_check_float(name, a, 1)) return NULL;
  int d = tg_norm_dim(name, dim, a->ndim);
  if (d < 0) return NULL;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *xc = tg_contiguous(a);
  tg_set_grad_enabled(prev);
  tg_tensor *out = xc ? tg_tensor_alloc(a->dtype, a->ndim, a->shape) : NULL;
  if (!out) return NULL;
  size_t outer = 1, len = a->ndim ? a->shape[d] : 1, inner = 1;
  for (int k = 0; k < d; k++) outer *= a->shape[k];
  for (int k = d + 1; k < a->ndim; k++) inner *= a->shape[k];
  if (len > 0) {
    if (a->dtype == TG_FLOAT32) SOFTMAX_LOOP(float, expf, logf);
    else SOFTMAX_LOOP(double, exp, log);
  }
  *dout = d;
  return out;
}

/* dx = y * (g - sum(g * y, dim)) */
static void softmax_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int d = (int)tg_node_i(n)[0];
  tg_tensor *y = n->out;
  tg_tensor *dotp = tg_sum_dims(tg_mul(g, y), 1, &d, true);
  gi[0] = tg_mul(y, tg_sub(g, dotp));
}
/* the softmax Jacobian is symmetric (diag(y) - y yᵀ): the backward is the JVP */
static tg_tensor *softmax_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *gi[1] = {NULL};
  softmax_backward(n, t[0], gi);
  return gi[0];
}
TG_DEFINE_OP_JVP(OP_SOFTMAX, "SoftmaxBackward", softmax_backward, softmax_jvp, TG_SAVES_OUT | TG_NODE_I);

/* dx = g - softmax * sum(g, dim), softmax = exp(y) */
static void log_softmax_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int d = (int)tg_node_i(n)[0];
  tg_tensor *gsum = tg_sum_dims(g, 1, &d, true);
  gi[0] = tg_sub(g, tg_mul(tg_exp(n->out), gsum));
}
/* tangent: t - sum(softmax * t, dim) (J = I - 1 yᵀ, not symmetric) */
static tg_tensor *log_softmax_jvp(tg_node *n, tg_tensor *const *t) {
  int d = (int)tg_node_i(n)[0];
  return tg_sub(t[0], tg_sum_dims(tg_mul(tg_exp(n->out), t[0]), 1, &d, true));
}
TG_DEFINE_OP_JVP(OP_LOG_SOFTMAX, "LogSoftmaxBackward", log_softmax_backward, log_softmax_jvp, TG_SAVES_OUT | TG_NODE_I);

static tg_tensor *softmax_op(const char *name, tg_tensor *a, int dim, bool log_form, const tg_op *op) {
  int d;
  tg_tensor *out = softmax_forward(name, a, dim, log_form, &d);
  tg_node *n = ops_record(out, op, 1, &a);
  if (n) tg_node_i(n)[0] = d;
  return out;
}

tg_tensor *tg_softmax(tg_tensor *a, int dim) {
  return softmax_op("softmax", a, dim, false, &OP_SOFTMAX);
}
tg_tensor *tg_log_softmax(tg_tensor *a, int dim) {
  return softmax_op("log_softmax", a, dim, true, &OP_LOG_SOFTMAX);
}
