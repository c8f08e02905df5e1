/* Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_
 * (1.13): the gradients of all parameters form one vector; NULL grads are
 * skipped. Sums run in double whatever the dtype. */
#include <math.h>

#include "optim_internal.h"

/* *g = the gradient of params[i], NULL when it has none. -1 with an error
 * when the parameter or its gradient cannot be used in place. */
static int grad_of(const char *op, tg_tensor **params, int i, tg_tensor **g) {
  const tg_tensor *p = params[i];
  *g = NULL;
  if (!p || p->obj.magic != TG_MAGIC_TENSOR) {
    tg_error("%s: params[%d] %s", op, i, p ? "was freed or its scope has ended" : "is NULL");
    return -1;
  }
  const tg_tensor *gr = p->grad;
  if (!gr) return 0;
  const char *why = NULL;
  if (gr->obj.magic != TG_MAGIC_TENSOR) why = "was freed or its scope has ended";
  else if (gr->dtype == TG_INT64) why = "is int64";
  else if (!tg_dtype_is_float(gr->dtype)) why = "is bool";
  else if (!tg_is_contiguous(gr)) why = "is not contiguous";
  if (why) {
    tg_error("%s: the gradient of params[%d] %s", op, i, why);
    return -1;
  }
  *g = p->grad;
  return 0;
}

/* every parameter checked up front, so an error changes no gradient */
static bool check_all(const char *op, tg_tensor **params, int n) {
  if (n < 0 || (n > 0 && !params)) {
    tg_error("%s: %s", op, n < 0 ? "negative parameter count" : "params is NULL");
    return false;
  }
  tg_tensor *g;
  for (int i = 0; i < n; i++)
    if (grad_of(op, params, i, &g) != 0) return false;
  return true;
}

/* ------------------------------------------------------------- norm */

/* fold |x| into a running sum of |x|^p, or a running max when p is
 * infinite (a NaN wins, as torch.max) */
static inline double fold(double acc, double x, double p) {
  double a = fabs(x);
  if (isinf(p)) return (a > acc || isnan(a)) ? a : acc;
  return acc + (p == 2 ? a * a : p == 1 ? a : pow(a, p));
}

static double norm_part(const tg_tensor *g, double p, double acc) {
  if (g->dtype == TG_FLOAT64) {
    const double *d = (const double *)tg_ptr(g);
    for (size_t i = 0; i < g->numel; i++) acc = fold(acc, d[i], p);
  } else {
    const float *f = (const float *)tg_ptr(g);
    for (size_t i = 0; i < g->numel; i++) acc = fold(acc, f[i], p);
  }
  return acc;
}

static void scale_grad(tg_tensor *g, double coef) {
  if (g->dtype == TG_FLOAT64) {
    double *d = (double *)tg_ptr(g);
    for (size_t i = 0; i < g->numel; i++) d[i] = d[i] * coef;
  } else {
    float *f = (float *)tg_ptr(g);
    for (size_t i = 0; i < g->numel; i++) f[i] = (float)(f[i] * coef);
  }
  g->storage->version++;
}

double tg_clip_grad_norm(tg_tensor **params, int n, double max_norm, double norm_type) {
  const char *op = "clip_grad_norm";
  if (!(norm_type > 0)) { /* +INFINITY passes */
    tg_error("%s: norm_type %g is not supported; use a p > 0 or INFINITY", op, norm_type);
    return -1;
  }
  if (!optim_check_nonneg(op, "max_norm", max_norm) || !check_all(op, params, n)) return -1;
  double acc = 0;
  tg_tensor *g;
  for (int i = 0; i < n; i++)
    if (grad_of(op, params, i, &g) == 0 && g) acc = norm_part(g, norm_type, acc);
  double total = isinf(norm_type) ? acc : norm_type == 2 ? sqrt(acc) : pow(acc, 1 / norm_type);
  double coef = max_norm / (total + 1e-6);
  /* "not >= 1" rather than "< 1": a NaN norm poisons the gradients, as
   * PyTorch's clamp(coef, max=1) does, instead of leaving them unclipped */
  if (!(coef >= 1.0))
    for (int i = 0; i < n; i++)
      if (grad_of(op, params, i, &g) == 0 && g) scale_grad(g, coef);
  return total;
}

/* ------------------------------------------------------------ value */

static void clamp_grad(tg_tensor *g, double clip) {
  if (g->dtype == TG_FLOAT64) {
    double *d = (double *)tg_ptr(g);
    for (size_t i = 0; i < g->numel; i++) d[i] = d[i] < -clip ? -clip : d[i] > clip ? clip : d[i];
  } else {
    float *f = (float *)tg_ptr(g), lo = (float)-clip, hi = (float)clip;
    for (size_t i = 0; i < g->numel; i++) f[i] = f[i] < lo ? lo : f[i] > hi ? hi : f[i];
  }
  g->storage->version++;
}

int tg_clip_grad_value(tg_tensor **params, int n, double clip) {
  const char *op = "clip_grad_value";
  if (!optim_check_nonneg(op, "clip value", clip) || !check_all(op, params, n)) return -1;
  tg_tensor *g;
  for (int i = 0; i < n; i++)
    if (grad_of(op, params, i, &g) == 0 && g) clamp_grad(g, clip);
  return 0;
}
