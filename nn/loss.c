/* Losses with PyTorch's semantics and reductions. Cross-entropy and the two
 * binary cross-entropies are fused ops (forward kernel + backward written
 * with tg_* ops, so double backward works); the others are compositions. */
#include <tgmath.h>

#include "nn_internal.h"

/* ------------------------------------------------------------- helpers */

bool nn_check_reduction(const char *loss, tg_reduction r) {
  if (r != TG_REDUCTION_MEAN && r != TG_REDUCTION_SUM && r != TG_REDUCTION_NONE) {
    tg_error("%s: unknown reduction %d (use TG_REDUCTION_MEAN, _SUM or _NONE%s)", loss, (int)r,
             r == TG_REDUCTION_BATCHMEAN ? "; BATCHMEAN is kl_div's only" : "");
    return false;
  }
  return true;
}

tg_tensor *nn_reduce(tg_tensor *l, tg_reduction r) {
  if (r == TG_REDUCTION_MEAN) return tg_mean(l);
  if (r == TG_REDUCTION_SUM) return tg_sum(l);
  return l;
}

tg_tensor *nn_broadcast_sub(const char *loss, tg_tensor *input, tg_tensor *target, tg_reduction r) {
  char sa[96], sb[96];
  if (!nn_check_reduction(loss, r) || !ops_check_pair(loss, input, target)) return NULL;
  tg_tensor *d = tg_sub(input, target);
  if (!d)
    tg_error("%s: input %s and target %s do not broadcast", loss, tg_shape_str(input, sa, sizeof sa),
             tg_shape_str(target, sb, sizeof sb));
  return d;
}

/* two float tensors of one dtype and one shape (no broadcasting, as PyTorch
 * requires for the binary cross-entropies) */
static bool check_same(const char *loss, const tg_tensor *a, const tg_tensor *b, tg_reduction r) {
  char sa[96], sb[96];
  if (!nn_check_reduction(loss, r) || !ops_check_pair(loss, a, b)) return false;
  if (!tg_same_shape(a, b)) {
    tg_error("%s: input %s and target %s must have the same shape", loss,
             tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
    return false;
  }
  return true;
}

/* ------------------------------------------- class-index targets (N) */

static bool check_target_values(const char *loss, const tg_tensor *t, size_t classes) {
  const int64_t *p = (const int64_t *)tg_ptr(t);
  for (size_t i = 0; i < t->shape[0]; i++) {
    int64_t c = p[(ptrdiff_t)i * t->strides[0]];
    if (c < 0 || (uint64_t)c >= classes) {
      tg_error("%s: target %lld at position %zu is out of range for %zu classes (valid: 0..%zu)",
               loss, (long long)c, i, classes, classes ? classes - 1 : 0);
      return false;
    }
  }
  return true;
}

/* input (N, C) and int64 targets (N) in [0, C); (C) with a 0-d target is
 * viewed as a batch of one. *single records that for the NONE output. */
static bool as_batch(const char *loss, tg_tensor **x, tg_tensor **t, tg_reduction r, bool *single) {
  char sx[96], st[96];
  if (!nn_check_reduction(loss, r) || !ops_check_float(loss, *x, 1) ||
      !tg_tensor_check(*t, loss, 2))
    return false;
  if ((*t)->dtype != TG_INT64) {
    tg_error("%s: targets must be int64 class indices, got %s", loss, tg_dtype_name((*t)->dtype));
    return false;
  }
  *single = (*x)->ndim == 1 && (*t)->ndim == 0;
  if (*single) {
    *x = tg_unsqueeze(*x, 0);
    *t = tg_unsqueeze(*t, 0);
    if (!*x || !*t) return false;
  }
  if ((*x)->ndim != 2 || (*t)->ndim != 1 || (*t)->shape[0] != (*x)->shape[0]) {
    tg_error("%s: input %s and targets %s: expected input (N, C) with targets (N), or (C) with a "
             "0-d target", loss, tg_shape_str(*x, sx, sizeof sx), tg_shape_str(*t, st, sizeof st));
    return false;
  }
  return check_target_values(loss, *t, (*x)->shape[1]);
}

/* undo as_batch on a NONE result: (1) -> () */
static tg_tensor *unbatch(tg_tensor *l, bool single, tg_reduction r) {
  return single && r == TG_REDUCTION_NONE ? tg_squeeze(l, 0) : l;
}

/* ------------------------------------------------------- cross-entropy */

/* -log softmax(row)[c] = logsumexp(row) - row[c], with the row maximum
 * subtracted so large logits do not overflow */
#define CE_ROW(NAME, T)                                                        \
  static double NAME(const T *row, size_t n, int64_t c) {                     \
    double m = -INFINITY, s = 0;                                               \
    for (size_t j = 0; j < n; j++)                                             \
      if ((double)row[j] > m) m = (double)row[j];                              \
    if (isinf(m)) m = 0;                                                       \
    for (size_t j = 0; j < n; j++) s += exp((double)row[j] - m);               \
    return m + log(s) - (double)row[c];                                        \
  }
CE_ROW(ce_row_f32, float)
CE_ROW(ce_row_f64, double)

/* per-sample losses (N) into rows; returns their sum */
static double ce_rows(const tg_tensor *xc, const tg_tensor *t, tg_tensor *rows) {
  size_t n = xc->shape[0], c = xc->shape[1];
  const int64_t *tp = (const int64_t *)tg_ptr(t);
  double total = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t k = tp[(ptrdiff_t)i * t->strides[0]];
    double l;
    if (xc->dtype == TG_FLOAT32) {
      l = ce_row_f32((const float *)tg_ptr(xc) + i * c, c, k);
      ((float *)tg_ptr(rows))[i] = (float)l;
    } else {
      l = ce_row_f64((const double *)tg_ptr(xc) + i * c, c, k);
      ((double *)tg_ptr(rows))[i] = l;
    }
    total += l;
  }
  return total;
}

static tg_tensor *ce_forward(tg_tensor *x, const tg_tensor *t, tg_reduction r) {
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *xc = tg_contiguous(x);
  tg_set_grad_enabled(prev);
  size_t n = x->shape[0];
  tg_tensor *rows = xc ? tg_tensor_alloc(x->dtype, TG_SHAPE(n)) : NULL;
  if (!rows) return NULL;
  double total = ce_rows(xc, t, rows);
  if (r == TG_REDUCTION_NONE) return rows;
  double v = r == TG_REDUCTION_SUM ? total : (n ? total / (double)n : NAN);
  return tg_scalar(x->dtype, v);
}

/* a constant (N, C) one-hot of the targets, in x's dtype */
static tg_tensor *one_hot(const tg_tensor *t, const tg_tensor *x) {
  tg_tensor *oh = tg_zeros(x->dtype, x->ndim, x->shape);
  if (!oh) return NULL;
  const int64_t *tp = (const int64_t *)tg_ptr(t);
  size_t c = x->shape[1];
  for (size_t i = 0; i < x->shape[0]; i++) {
    size_t k = i * c + (size_t)tp[(ptrdiff_t)i * t->strides[0]];
    if (x->dtype == TG_FLOAT32) ((float *)tg_ptr(oh))[k] = 1.0f;
    else ((double *)tg_ptr(oh))[k] = 1.0;
  }
  return oh;
}

/* dL/dx = (softmax(x) - onehot) * g: g per row for NONE (N), g / N for
 * MEAN, g for SUM. softmax is recomputed as an op, so with create_graph
 * the gradient itself is differentiable. */
static void ce_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  if (ops_fused_backward()) { /* one pass per row (nn/loss_ce_rows.c) */
    gi[0] = nn_ce_grad_rows(x, tg_node_saved(n), g, (tg_reduction)tg_node_i(n)[0]);
    return;
  }
  tg_tensor *d = tg_sub(tg_softmax(x, 1), one_hot(tg_node_saved(n), x));
  tg_reduction r = (tg_reduction)tg_node_i(n)[0];
  tg_tensor *scale = r == TG_REDUCTION_NONE ? tg_unsqueeze(g, 1)
                     : r == TG_REDUCTION_MEAN ? tg_div_scalar(g, (double)x->shape[0])
                                              : g;
  gi[0] = tg_mul(d, scale);
}
/* tangent per row: sum_c (softmax(x) - onehot)_c t_c, then reduced as the loss */
static tg_tensor *ce_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0];
  tg_tensor *d = tg_sub(tg_softmax(x, 1), one_hot(tg_node_saved(n), x));
  tg_tensor *rows = tg_sum_dims(tg_mul(d, t[0]), 1, (int[]){1}, false);
  tg_reduction r = (tg_reduction)tg_node_i(n)[0];
  return r == TG_REDUCTION_NONE ? rows
         : r == TG_REDUCTION_MEAN ? tg_div_scalar(tg_sum(rows), (double)x->shape[0])
                                  : tg_sum(rows);
}
TG_DEFINE_OP_JVP(OP_CROSS_ENTROPY, "CrossEntropyBackward", ce_backward, ce_jvp, TG_SAVES_IN(0) | TG_NODE_I | TG_NODE_SAVED);

/* The fused node serves (N, C) and (C) inputs with class-index targets of
 * which none is PyTorch's default ignore_index (-100); (N, C, d1, ...),
 * probability targets and ignored targets go the way of loss_class.c. */
static bool needs_general_path(const tg_tensor *x, const tg_tensor *t) {
  /* bad arguments take the fused path, which names them */
  if (!x || !t || x->obj.magic != TG_MAGIC_TENSOR || t->obj.magic != TG_MAGIC_TENSOR) return false;
  if (x->ndim > 2 || (t->dtype != TG_INT64 && t->dtype == x->dtype)) return true;
  if (t->dtype != TG_INT64) return false;
  for (size_t i = 0; i < t->numel; i++)
    if (tg_get_flat(t, i) == -100) return true;
  return false;
}

static tg_tensor *general_path(tg_tensor *(*f)(tg_tensor *, tg_tensor *, tg_class_loss_opts),
                               tg_tensor *x, tg_tensor *t, tg_reduction r) {
  tg_class_loss_opts o = tg_class_loss_defaults();
  o.reduction = r;
  return f(x, t, o);
}

tg_tensor *tg_cross_entropy(tg_tensor *logits, tg_tensor *targets, tg_reduction r) {
  if (needs_general_path(logits, targets)) return general_path(tg_cross_entropy_with, logits, targets, r);
  bool single;
  tg_tensor *x = logits, *t = targets;
  if (!as_batch("cross_entropy", &x, &t, r, &single)) return NULL;
  tg_tensor *out = ce_forward(x, t, r);
  tg_node *n = ops_record(out, &OP_CROSS_ENTROPY, 1, &x);
  if (n) {
    tg_node_i(n)[0] = r;
    tg_node_save(n, t);
  }
  return unbatch(out, single, r);
}

/* ------------------------------------------------------------ nll_loss */

tg_tensor *tg_nll_loss(tg_tensor *log_probs, tg_tensor *targets, tg_reduction r) {
  if (needs_general_path(log_probs, targets)) return general_path(tg_nll_loss_with, log_probs, targets, r);
  bool single;
  tg_tensor *x = log_probs, *t = targets;
  if (!as_batch("nll_loss", &x, &t, r, &single)) return NULL;
  /* x[i, t_i] as (N, 1), then (N) */
  tg_tensor *picked = tg_gather(x, 1, tg_unsqueeze(t, 1));
  tg_tensor *l = tg_neg(tg_reshape(picked, TG_SHAPE(x->shape[0])));
  return unbatch(nn_reduce(l, r), single, r);
}

/* ------------------------------------------------ binary cross-entropy */

/* PyTorch clamps each log at -100 so p = 0 or 1 gives a finite loss */
/* std::max's semantics (a NaN first argument propagates), in the element
 * type: tgmath's fmax(float, int) would compute in double through a call */
#define LOSS_MAX(a, b) ((a) < (b) ? (b) : (a))
OPS_BINARY_KERNEL(bce_k, -(y * LOSS_MAX(ops_log(x), -100) + (1 - y) * LOSS_MAX(ops_log1p(-x), -100)))

/* d/dp = (p - y) / max(p (1 - p), 1e-12); d/dy = log(1 - p) - log(p), each
 * clamped at -100 as in the forward */
/* fused: x = g, y = p, z = target */
OPS_TERNARY_KERNEL(bce_grad_p_k, x * ((y - z) / LOSS_MAX(y * (1 - y), (__typeof__(y))1e-12)))
OPS_TERNARY_KERNEL(bce_grad_y_k, x * (LOSS_MAX(ops_log1p(-y), -100) - LOSS_MAX(ops_log(y), -100)))
static void bce_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *p = n->in[0], *y = n->in[1];
  if (ops_fused_backward()) {
    const char *name = "binary_cross_entropy";
    if (tg_node_needs_grad(n, 0)) gi[0] = ops_ternary_forward(name, g, p, y, &bce_grad_p_k, (ops_params){0, 0});
    if (tg_node_needs_grad(n, 1)) gi[1] = ops_ternary_forward(name, g, p, y, &bce_grad_y_k, (ops_params){0, 0});
    return;
  }
  if (tg_node_needs_grad(n, 0)) {
    tg_tensor *denom = tg_clamp(tg_mul(p, tg_rsub_scalar(p, 1.0)), 1e-12, NAN);
    gi[0] = tg_mul(g, tg_div(tg_sub(p, y), denom));
  }
  if (tg_node_needs_grad(n, 1)) {
    tg_tensor *log_q = tg_clamp(tg_log(tg_rsub_scalar(p, 1.0)), -100, NAN);
    gi[1] = tg_mul(g, tg_sub(log_q, tg_clamp(tg_log(p), -100, NAN)));
  }
}
/* tangent: tp (p - y) / max(p (1 - p), 1e-12) + ty (log(1 - p) - log(p)), clamped as the backward */
static tg_tensor *bce_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *p = n->in[0], *y = n->in[1], *a = NULL, *b = NULL;
  if (t[0]) a = tg_mul(t[0], tg_div(tg_sub(p, y), tg_clamp(tg_mul(p, tg_rsub_scalar(p, 1.0)), 1e-12, NAN)));
  if (t[1]) {
    tg_tensor *log_q = tg_clamp(tg_log(tg_rsub_scalar(p, 1.0)), -100, NAN);
    b = tg_mul(t[1], tg_sub(log_q, tg_clamp(tg_log(p), -100, NAN)));
  }
  return !a ? b : !b ? a : tg_add(a, b);
}
TG_DEFINE_OP_JVP(OP_BCE, "BinaryCrossEntropyBackward", bce_backward, bce_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));

/* index of the first element outside [0, 1] (NaN included), or numel */
static size_t first_non_probability(const tg_tensor *p) {
  if (p->dtype == TG_FLOAT32 && tg_is_contiguous(p)) {
    const float *v = (const float *)tg_ptr(p);
    bool bad = false;
    for (size_t i = 0; i < p->numel; i++) bad |= !(v[i] >= 0.0f && v[i] <= 1.0f);
    if (!bad) return p->numel;
  }
  for (size_t i = 0; i < p->numel; i++) {
    double v = tg_get_flat(p, i);
    if (!(v >= 0.0 && v <= 1.0)) return i;
  }
  return p->numel;
}

static bool check_probabilities(const tg_tensor *p) {
  size_t i = first_non_probability(p);
  if (i == p->numel) return true;
  tg_error("binary_cross_entropy: input %g at flat position %zu is not a probability in "
           "[0, 1] (for logits use bce_with_logits)", tg_get_flat(p, i), i);
  return false;
}

tg_tensor *tg_binary_cross_entropy(tg_tensor *probs, tg_tensor *targets, tg_reduction r) {
  const char *loss = "binary_cross_entropy";
  if (!check_same(loss, probs, targets, r) || !check_probabilities(probs)) return NULL;
  tg_tensor *l = ops_binary_forward(loss, probs, targets, &bce_k, (ops_params){0, 0});
  ops_record(l, &OP_BCE, 2, (tg_tensor *[]){probs, targets});
  return nn_reduce(l, r);
}

/* max(x, 0) - x y + log(1 + exp(-|x|)): exp never overflows */
OPS_BINARY_KERNEL(bce_logits_k, LOSS_MAX(x, 0) - x * y + ops_log1p(ops_exp(-fabs(x))))

/* d/dx = sigmoid(x) - y, d/dy = -x */
static void bce_logits_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *y = n->in[1];
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_mul(g, tg_sub(tg_sigmoid(x), y));
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_neg(tg_mul(g, x));
}
/* tangent: tx (sigmoid(x) - y) - ty x */
static tg_tensor *bce_logits_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0], *y = n->in[1];
  tg_tensor *a = t[0] ? tg_mul(t[0], tg_sub(tg_sigmoid(x), y)) : NULL, *b = t[1] ? tg_mul(t[1], x) : NULL;
  return !b ? a : !a ? tg_neg(b) : tg_sub(a, b);
}
TG_DEFINE_OP_JVP(OP_BCE_LOGITS, "BinaryCrossEntropyWithLogitsBackward", bce_logits_backward, bce_logits_jvp,
                 TG_SAVES_IN(0) | TG_SAVES_IN(1));

tg_tensor *tg_bce_with_logits(tg_tensor *logits, tg_tensor *targets, tg_reduction r) {
  const char *loss = "bce_with_logits";
  if (!check_same(loss, logits, targets, r)) return NULL;
  tg_tensor *l = ops_binary_forward(loss, logits, targets, &bce_logits_k, (ops_params){0, 0});
  ops_record(l, &OP_BCE_LOGITS, 2, (tg_tensor *[]){logits, targets});
  return nn_reduce(l, r);
}

/* ------------------------------------------------------ mse, gaussian kl */

/* input and target broadcast, as in PyTorch (which warns; the loss then
 * has the broadcast shape) */
tg_tensor *tg_mse_loss(tg_tensor *input, tg_tensor *target, tg_reduction r) {
  tg_tensor *d = nn_broadcast_sub("mse_loss", input, target, r);
  return d ? nn_reduce(tg_mul(d, d), r) : NULL;
}

tg_tensor *tg_gaussian_kl(tg_tensor *mu, tg_tensor *logvar, tg_reduction r) {
  if (!check_same("gaussian_kl", mu, logvar, r)) return NULL;
  /* -0.5 (1 + logvar - mu^2 - exp(logvar)) per element */
  tg_tensor *inner = tg_sub(tg_sub(tg_add_scalar(logvar, 1.0), tg_mul(mu, mu)), tg_exp(logvar));
  return nn_reduce(tg_mul_scalar(inner, -0.5), r);
}
