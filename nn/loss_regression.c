/* Regression, distribution and ranking losses with PyTorch's formulas:
 * l1, smooth_l1, huber, kl_div, poisson_nll, margin_ranking,
 * cosine_embedding, and cosine_similarity. Compositions of differentiable
 * ops (so double backward works); the piecewise ones pick their piece
 * with a constant 0/1 mask drawn from the values, as PyTorch's formulas
 * branch on them. */
#include <math.h>

#include "nn_internal.h"

/* masks: 1 where the condition holds (no history) */
OPS_UNARY_KERNEL(abs_below_k, fabs(x) < p0 ? 1 : 0)
OPS_UNARY_KERNEL(above_k, x > p0 ? 1 : 0)
OPS_UNARY_KERNEL(equal_k, x == p0 ? 1 : 0)

static tg_tensor *mask_of(const char *loss, tg_tensor *t, const ops_kernel *k, double p0) {
  return ops_unary_forward(loss, t, k, (ops_params){p0, 0});
}

/* three float tensors of one dtype (the ranking losses' x1, x2, y) */
static bool check_triple(const char *loss, const tg_tensor *x1, const tg_tensor *x2, const tg_tensor *y) {
  if (!ops_check_pair(loss, x1, x2) || !ops_check_float(loss, y, 3)) return false;
  if (y->dtype != x1->dtype) {
    tg_error("%s: y is %s but x1 is %s; convert one with tg_to_dtype", loss, tg_dtype_name(y->dtype),
             tg_dtype_name(x1->dtype));
    return false;
  }
  return true;
}

/* m * a + (1 - m) * b for a constant mask m */
static tg_tensor *select_piece(tg_tensor *m, tg_tensor *a, tg_tensor *b) {
  return tg_add(tg_mul(m, a), tg_mul(tg_rsub_scalar(m, 1.0), b));
}

tg_tensor *tg_l1_loss(tg_tensor *input, tg_tensor *target, tg_reduction r) {
  tg_tensor *d = nn_broadcast_sub("l1_loss", input, target, r);
  return d ? nn_reduce(tg_abs(d), r) : NULL;
}

tg_tensor *tg_smooth_l1_loss(tg_tensor *input, tg_tensor *target, tg_reduction r, double beta) {
  if (!(beta >= 0)) {
    tg_error("smooth_l1_loss: beta must be non-negative, got %g", beta);
    return NULL;
  }
  tg_tensor *d = nn_broadcast_sub("smooth_l1_loss", input, target, r);
  if (!d) return NULL;
  if (beta == 0) return nn_reduce(tg_abs(d), r); /* PyTorch: l1_loss */
  tg_tensor *m = mask_of("smooth_l1_loss", d, &abs_below_k, beta);
  tg_tensor *quad = tg_mul_scalar(tg_mul(d, d), 0.5 / beta);
  return nn_reduce(select_piece(m, quad, tg_sub_scalar(tg_abs(d), 0.5 * beta)), r);
}

tg_tensor *tg_huber_loss(tg_tensor *input, tg_tensor *target, tg_reduction r, double delta) {
  if (!(delta > 0)) {
    tg_error("huber_loss: delta must be positive, got %g", delta);
    return NULL;
  }
  tg_tensor *d = nn_broadcast_sub("huber_loss", input, target, r);
  if (!d) return NULL;
  tg_tensor *m = mask_of("huber_loss", d, &abs_below_k, delta);
  tg_tensor *quad = tg_mul_scalar(tg_mul(d, d), 0.5);
  tg_tensor *lin = tg_mul_scalar(tg_sub_scalar(tg_abs(d), 0.5 * delta), delta);
  return nn_reduce(select_piece(m, quad, lin), r);
}

/* t log t, 0 at t = 0 (PyTorch's xlogy(t, t)): log of 1 where t is 0 */
static tg_tensor *t_log_t(tg_tensor *t) {
  tg_tensor *pos = mask_of("kl_div", t, &above_k, 0);
  tg_tensor *safe = tg_add(tg_mul(t, pos), tg_rsub_scalar(pos, 1.0));
  return tg_mul(t, tg_log(safe));
}

tg_tensor *tg_kl_div(tg_tensor *input, tg_tensor *target, tg_reduction r, bool log_target) {
  const char *loss = "kl_div";
  tg_reduction base = r == TG_REDUCTION_BATCHMEAN ? TG_REDUCTION_SUM : r;
  if (!nn_check_reduction(loss, base) || !ops_check_pair(loss, input, target)) return NULL;
  /* input holds log-probabilities; target probabilities (or their logs) */
  tg_tensor *l = log_target ? tg_mul(tg_exp(target), tg_sub(target, input))
                            : tg_sub(t_log_t(target), tg_mul(target, input));
  if (!l) {
    char sa[96], sb[96];
    tg_error("%s: input %s and target %s do not broadcast", loss, tg_shape_str(input, sa, sizeof sa),
             tg_shape_str(target, sb, sizeof sb));
    return NULL;
  }
  if (r != TG_REDUCTION_BATCHMEAN) return nn_reduce(l, r);
  size_t batch = input->ndim ? input->shape[0] : 1;
  return tg_div_scalar(tg_sum(l), (double)batch);
}

/* Stirling's term of log(target!) where target > 1 */
static tg_tensor *stirling(tg_tensor *t) {
  tg_tensor *m = mask_of("poisson_nll_loss", t, &above_k, 1);
  tg_tensor *safe = tg_add(tg_mul(t, m), tg_rsub_scalar(m, 1.0)); /* 1 where t <= 1 */
  tg_tensor *s = tg_add(tg_sub(tg_mul(safe, tg_log(safe)), safe),
                        tg_mul_scalar(tg_log(tg_mul_scalar(safe, 2 * M_PI)), 0.5));
  return tg_mul(m, s);
}

tg_tensor *tg_poisson_nll_loss(tg_tensor *input, tg_tensor *target, bool log_input, bool full,
                               double eps, tg_reduction r) {
  const char *loss = "poisson_nll_loss";
  if (!nn_check_reduction(loss, r) || !ops_check_pair(loss, input, target)) return NULL;
  tg_tensor *l = log_input ? tg_sub(tg_exp(input), tg_mul(target, input))
                           : tg_sub(input, tg_mul(target, tg_log(tg_add_scalar(input, eps))));
  if (l && full) l = tg_add(l, stirling(target));
  if (!l) {
    char sa[96], sb[96];
    tg_error("%s: input %s and target %s do not broadcast", loss, tg_shape_str(input, sa, sizeof sa),
             tg_shape_str(target, sb, sizeof sb));
    return NULL;
  }
  return nn_reduce(l, r);
}

tg_tensor *tg_margin_ranking_loss(tg_tensor *x1, tg_tensor *x2, tg_tensor *y, double margin,
                                  tg_reduction r) {
  const char *loss = "margin_ranking_loss";
  if (!nn_check_reduction(loss, r) || !check_triple(loss, x1, x2, y))
    return NULL;
  if (x1->ndim != x2->ndim || x1->ndim != y->ndim) {
    char s1[96], s2[96], sy[96];
    tg_error("%s: x1 %s, x2 %s and y %s must have the same number of dims (then they broadcast)", loss,
             tg_shape_str(x1, s1, sizeof s1), tg_shape_str(x2, s2, sizeof s2), tg_shape_str(y, sy, sizeof sy));
    return NULL;
  }
  /* clamp (not relu) so the gradient at exactly 0 passes, as PyTorch's clamp_min */
  tg_tensor *v = tg_add_scalar(tg_neg(tg_mul(y, tg_sub(x1, x2))), margin);
  return nn_reduce(tg_clamp(v, 0, NAN), r);
}

/* x1 . x2 / sqrt(max(|x1|^2 |x2|^2, eps^2)) along dim, x1 and x2
 * broadcasting */
tg_tensor *tg_cosine_similarity(tg_tensor *x1, tg_tensor *x2, int dim, double eps) {
  const char *op = "cosine_similarity";
  if (!ops_check_pair(op, x1, x2)) return NULL;
  tg_tensor *prod = tg_mul(x1, x2);
  if (!prod) {
    char sa[96], sb[96];
    tg_error("%s: x1 %s and x2 %s do not broadcast", op, tg_shape_str(x1, sa, sizeof sa),
             tg_shape_str(x2, sb, sizeof sb));
    return NULL;
  }
  tg_tensor *e1 = tg_expand(x1, prod->ndim, prod->shape), *e2 = tg_expand(x2, prod->ndim, prod->shape);
  tg_tensor *dot = tg_sum_dims(prod, 1, &dim, false);
  tg_tensor *n1 = tg_sum_dims(tg_mul(e1, e1), 1, &dim, false);
  tg_tensor *n2 = tg_sum_dims(tg_mul(e2, e2), 1, &dim, false);
  return tg_div(dot, tg_sqrt(tg_clamp(tg_mul(n1, n2), eps * eps, NAN)));
}

/* 1 - cos where y = 1, max(0, cos - margin) where y = -1; inputs (N, D)
 * with y (N), or (D) with a 0-d y. The norms get 1e-12 each, as PyTorch's. */
tg_tensor *tg_cosine_embedding_loss(tg_tensor *x1, tg_tensor *x2, tg_tensor *y, double margin,
                                    tg_reduction r) {
  const char *loss = "cosine_embedding_loss";
  char s1[96], s2[96], sy[96];
  if (!nn_check_reduction(loss, r) || !check_triple(loss, x1, x2, y))
    return NULL;
  if (!tg_same_shape(x1, x2) || (x1->ndim != 1 && x1->ndim != 2) || y->ndim != x1->ndim - 1 ||
      (y->ndim == 1 && y->shape[0] != x1->shape[0])) {
    tg_error("%s: expected x1 and x2 (N, D) with y (N), or (D) with a 0-d y; got %s, %s and %s", loss,
             tg_shape_str(x1, s1, sizeof s1), tg_shape_str(x2, s2, sizeof s2), tg_shape_str(y, sy, sizeof sy));
    return NULL;
  }
  int dim = x1->ndim - 1;
  tg_tensor *dot = tg_sum_dims(tg_mul(x1, x2), 1, &dim, false);
  tg_tensor *m1 = tg_add_scalar(tg_sum_dims(tg_mul(x1, x1), 1, &dim, false), 1e-12);
  tg_tensor *m2 = tg_add_scalar(tg_sum_dims(tg_mul(x2, x2), 1, &dim, false), 1e-12);
  tg_tensor *cos = tg_div(dot, tg_sqrt(tg_mul(m1, m2)));
  tg_tensor *pos = tg_mul(mask_of(loss, y, &equal_k, 1), tg_rsub_scalar(cos, 1.0));
  tg_tensor *neg = tg_mul(mask_of(loss, y, &equal_k, -1), tg_clamp(tg_sub_scalar(cos, margin), 0, NAN));
  return nn_reduce(tg_add(pos, neg), r);
}
