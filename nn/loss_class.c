/* cross_entropy and nll_loss with all of PyTorch's options: class weights,
 * ignore_index, label smoothing, probability targets and (N, C, d1, ...)
 * inputs. Built from differentiable ops (log_softmax, gather, sums), so the
 * gradient and double backward come with them; the per-row weights and
 * masks are constants, as PyTorch takes no gradient for `weight`. The plain
 * (N, C) case without options stays the fused node of loss.c. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

tg_class_loss_opts tg_class_loss_defaults(void) {
  return (tg_class_loss_opts){.weight = NULL, .ignore_index = -100, .label_smoothing = 0,
                              .reduction = TG_REDUCTION_MEAN};
}

/* input (N, C, d1, ...) or (C) as rows (M, C): the class dim moved last */
static tg_tensor *class_rows(tg_tensor *x) {
  if (x->ndim == 1) return tg_unsqueeze(x, 0);
  if (x->ndim == 2) return x;
  int perm[TG_MAX_DIMS];
  perm[0] = 0;
  for (int d = 2; d < x->ndim; d++) perm[d - 1] = d;
  perm[x->ndim - 1] = 1;
  return tg_reshape(tg_contiguous(tg_permute(x, perm)), TG_SHAPE(x->numel / x->shape[1], x->shape[1]));
}

/* the shape of a per-element loss (reduction NONE): the input's without
 * its class dim */
static int loss_shape(const tg_tensor *x, size_t *shape) {
  if (x->ndim == 1) return 0;
  shape[0] = x->shape[0];
  for (int d = 2; d < x->ndim; d++) shape[d - 1] = x->shape[d];
  return x->ndim - 1;
}

static bool check_opts(const char *loss, const tg_tensor *x, tg_class_loss_opts o) {
  char sx[96], sw[96];
  if (!ops_check_float(loss, x, 1)) return false;
  if (o.reduction != TG_REDUCTION_MEAN && o.reduction != TG_REDUCTION_SUM &&
      o.reduction != TG_REDUCTION_NONE) {
    tg_error("%s: unknown reduction %d (use TG_REDUCTION_MEAN, _SUM or _NONE)", loss, (int)o.reduction);
    return false;
  }
  if (x->ndim < 1) {
    tg_error("%s: input is 0-d; expected (C), (N, C) or (N, C, d1, ...)", loss);
    return false;
  }
  if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1)) {
    tg_error("%s: label_smoothing must be between 0.0 and 1.0, got %g", loss, o.label_smoothing);
    return false;
  }
  size_t c = x->shape[x->ndim == 1 ? 0 : 1];
  if (!o.weight) return true;
  if (!tg_tensor_check(o.weight, loss, 3)) return false;
  if (o.weight->dtype != x->dtype || o.weight->ndim != 1 || o.weight->shape[0] != c) {
    tg_error("%s: weight %s (%s) must be a 1-D tensor of %zu class weights in the dtype of the "
             "input %s (%s)", loss, tg_shape_str(o.weight, sw, sizeof sw),
             tg_dtype_name(o.weight->dtype), c, tg_shape_str(x, sx, sizeof sx), tg_dtype_name(x->dtype));
    return false;
  }
  return true;
}

/* targets of class indices: shape (N, d1, ...) for input (N, C, d1, ...),
 * () for (C); each in [0, C) or equal to ignore_index */
static bool check_class_targets(const char *loss, const tg_tensor *x, const tg_tensor *t,
                                int64_t ignore_index) {
  char sx[96], st[96];
  size_t shape[TG_MAX_DIMS];
  int nd = loss_shape(x, shape);
  if (t->ndim != nd || memcmp(shape, t->shape, (size_t)nd * sizeof *shape) != 0) {
    tg_error("%s: input %s needs targets of shape %s (the input's without its class dim), got %s",
             loss, tg_shape_str(x, sx, sizeof sx), nd ? "(N, d1, ...)" : "()",
             tg_shape_str(t, st, sizeof st));
    return false;
  }
  size_t c = x->shape[x->ndim == 1 ? 0 : 1];
  for (size_t i = 0; i < t->numel; i++) {
    double k = tg_get_flat(t, i);
    if ((int64_t)k != ignore_index && (k < 0 || k >= (double)c)) {
      tg_error("%s: target %lld at position %zu is out of range for %zu classes (valid: 0..%zu, or "
               "ignore_index %lld)", loss, (long long)k, i, c, c ? c - 1 : 0, (long long)ignore_index);
      return false;
    }
  }
  return true;
}

/* constants per row: the target with ignored rows sent to class 0 (M, 1),
 * the row's weight w[t] (0 where ignored), and the row's keep mask */
typedef struct class_rows_const {
  tg_tensor *target, *weight, *keep;
  double weight_sum;
} class_rows_const;

static bool class_constants(const tg_tensor *rows, const tg_tensor *t, tg_class_loss_opts o,
                            class_rows_const *k) {
  size_t m = rows->shape[0];
  k->target = tg_empty(TG_INT64, TG_SHAPE(m, 1));
  k->weight = tg_empty(TG_FLOAT64, TG_SHAPE(m));
  k->keep = tg_empty(TG_FLOAT64, TG_SHAPE(m));
  if (!k->target || !k->weight || !k->keep) return false;
  int64_t *tp = (int64_t *)tg_data(k->target);
  double *wp = tg_data_f64(k->weight), *kp = tg_data_f64(k->keep);
  k->weight_sum = 0;
  for (size_t i = 0; i < m; i++) {
    int64_t c = (int64_t)tg_get_flat(t, i);
    bool keep = c != o.ignore_index;
    tp[i] = keep ? c : 0;
    kp[i] = keep;
    wp[i] = keep ? (o.weight ? tg_get_flat(o.weight, (size_t)c) : 1.0) : 0.0;
    k->weight_sum += wp[i];
  }
  k->weight = tg_to_dtype(k->weight, rows->dtype);
  k->keep = tg_to_dtype(k->keep, rows->dtype);
  return k->weight && k->keep;
}

/* sum over the rows, or the per-element losses in the loss shape */
static tg_tensor *reduce_rows(tg_tensor *per_row, const tg_tensor *x, tg_reduction r, double mean_div) {
  size_t shape[TG_MAX_DIMS];
  if (r == TG_REDUCTION_NONE) {
    int nd = loss_shape(x, shape);
    return tg_reshape(per_row, nd, shape);
  }
  tg_tensor *s = tg_sum(per_row);
  if (r != TG_REDUCTION_MEAN) return s;
  /* every target ignored: the mean is NaN, its gradient 0 (as PyTorch's) */
  return mean_div == 0 ? tg_add_scalar(tg_mul_scalar(s, 0), NAN) : tg_div_scalar(s, mean_div);
}

/* -sum_c w_c logp[., c] per row: the smoothing term */
static tg_tensor *weighted_row_sum(tg_tensor *logp, const tg_tensor *weight) {
  tg_tensor *terms = weight ? tg_mul(logp, tg_unsqueeze((tg_tensor *)weight, 0)) : logp;
  return tg_neg(tg_sum_dims(terms, 1, (int[]){1}, false));
}

static tg_tensor *nll_rows(tg_tensor *x, tg_tensor *logp, tg_tensor *t, tg_class_loss_opts o) {
  class_rows_const k;
  if (!class_constants(logp, t, o, &k)) return NULL;
  size_t m = logp->shape[0], c = logp->shape[1];
  tg_tensor *picked = tg_reshape(tg_gather(logp, 1, k.target), TG_SHAPE(m));
  tg_tensor *nll = reduce_rows(tg_neg(tg_mul(picked, k.weight)), x, o.reduction, k.weight_sum);
  if (o.label_smoothing == 0) return nll;
  tg_tensor *smooth = tg_mul(weighted_row_sum(logp, o.weight), k.keep);
  smooth = reduce_rows(smooth, x, o.reduction, k.weight_sum);
  return tg_add(tg_mul_scalar(nll, 1 - o.label_smoothing),
                tg_mul_scalar(smooth, o.label_smoothing / (double)c));
}

/* targets of class probabilities, shaped as the input */
static tg_tensor *prob_rows(tg_tensor *x, tg_tensor *logp, tg_tensor *t, tg_class_loss_opts o) {
  size_t c = logp->shape[1];
  tg_tensor *tr = class_rows(t);
  if (o.label_smoothing > 0)
    tr = tg_add_scalar(tg_mul_scalar(tr, 1 - o.label_smoothing), o.label_smoothing / (double)c);
  tg_tensor *per_row = weighted_row_sum(tg_mul(logp, tr), o.weight);
  return reduce_rows(per_row, x, o.reduction, (double)logp->shape[0]);
}

static tg_tensor *class_loss(const char *loss, tg_tensor *x, tg_tensor *t, tg_class_loss_opts o,
                             bool log_softmax_first) {
  char st[96];
  if (!check_opts(loss, x, o) || !tg_tensor_check(t, loss, 2)) return NULL;
  tg_tensor *rows = class_rows(x);
  tg_tensor *logp = log_softmax_first ? tg_log_softmax(rows, 1) : rows;
  if (!logp) return NULL;
  if (t->dtype == TG_INT64) {
    if (!check_class_targets(loss, x, t, o.ignore_index)) return NULL;
    return nll_rows(x, logp, t, o);
  }
  if (!log_softmax_first || t->dtype != x->dtype || !tg_same_shape(x, t)) {
    tg_error("%s: targets %s (%s) must be int64 class indices%s", loss, tg_shape_str(t, st, sizeof st),
             tg_dtype_name(t->dtype),
             log_softmax_first ? ", or class probabilities of the input's shape and dtype" : "");
    return NULL;
  }
  return prob_rows(x, logp, t, o);
}

tg_tensor *tg_cross_entropy_with(tg_tensor *input, tg_tensor *target, tg_class_loss_opts o) {
  return class_loss("cross_entropy", input, target, o, true);
}

tg_tensor *tg_nll_loss_with(tg_tensor *input, tg_tensor *target, tg_class_loss_opts o) {
  return class_loss("nll_loss", input, target, o, false);
}
