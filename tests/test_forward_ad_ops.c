/* Forward-mode AD of the ops tests/test_forward_ad.c does not cover: pools,
 * resampling, unfold/fold, convolutions, cumprod, logcumsumexp, median, the
 * norms, the fused RNN gates and attention kernels. Each case checks
 * ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ on random float64 inputs (non-contiguous: each is
 * the transpose of a contiguous tensor) and J v against central
 * differences of the forward; the adjoint ops (pool and upsampling
 * backwards, max pool's scatter) are reached by forward over reverse,
 * checked against the double-backward HVP. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tg_nn_fused.h"

#define MAX_IN 6
typedef struct jcase {
  const char *name;
  tg_fn f;
  int n_in;
  int ndim[MAX_IN];
  size_t shape[MAX_IN][4];
  bool positive; /* inputs in (0.5, 2.5) */
  bool zeros;    /* the first input is 0 at flat positions 1, 5, 9, ... (cumprod) */
} jcase;

#define F1(NAME, EXPR)                                                         \
  static tg_tensor *NAME(tg_tensor **in, void *c) {                            \
    (void)c;                                                                   \
    tg_tensor *a = in[0];                                                      \
    return (EXPR);                                                             \
  }
#define F2(NAME, EXPR)                                                         \
  static tg_tensor *NAME(tg_tensor **in, void *c) {                            \
    (void)c;                                                                   \
    tg_tensor *a = in[0], *b = in[1];                                          \
    return (EXPR);                                                             \
  }
#define F3(NAME, EXPR)                                                         \
  static tg_tensor *NAME(tg_tensor **in, void *c) {                            \
    (void)c;                                                                   \
    tg_tensor *a = in[0], *b = in[1], *e = in[2];                              \
    return (EXPR);                                                             \
  }

/* ---- pools and resampling (ops/pool.c) */
F1(f_avg2d, tg_avg_pool2d(a, (int64_t[]){2, 2}, (int64_t[]){2, 1}, (int64_t[]){1, 0}, false, true, 0))
F1(f_avg2d_div, tg_avg_pool2d(a, (int64_t[]){3, 2}, (int64_t[]){1, 2}, (int64_t[]){1, 1}, true, false, 5))
F1(f_avg1d, tg_avg_pool1d(a, 3, NULL, 1, false, true))
F1(f_aavg2d, tg_adaptive_avg_pool2d(a, (int64_t[]){3, 2}))
F1(f_aavg1d, tg_adaptive_avg_pool1d(a, 3))
F1(f_near1d, tg_interpolate(a, (int64_t[]){7}, NULL, TG_INTERP_NEAREST, false))
F1(f_near2d, tg_interpolate(a, (int64_t[]){5, 6}, NULL, TG_INTERP_NEAREST, false))
F1(f_lin1d, tg_interpolate(a, (int64_t[]){6}, NULL, TG_INTERP_LINEAR, true))
F1(f_bilin2d, tg_interpolate(a, NULL, (double[]){1.5, 2.0}, TG_INTERP_BILINEAR, false))
F1(f_max2d_2x2, tg_max_pool2d(a, (int64_t[]){2, 2}, (int64_t[]){2, 2}, NULL, NULL, false, NULL))
F1(f_max2d, tg_max_pool2d(a, (int64_t[]){3, 2}, (int64_t[]){1, 2}, (int64_t[]){1, 0}, (int64_t[]){1, 1}, false, NULL))
F1(f_max1d, tg_max_pool1d(a, 3, NULL, 1, 1, true, NULL))
F1(f_amax2d, tg_adaptive_max_pool2d(a, (int64_t[]){2, 3}, NULL))
F1(f_amax1d, tg_adaptive_max_pool1d(a, 3, NULL))

/* ---- sliding windows and convolutions (ops/unfold.c, ops/conv_gemm.c) */
F1(f_unfold, tg_unfold(a, (int64_t[]){2, 3}, NULL, (int64_t[]){1, 0}, (int64_t[]){1, 2}))
F1(f_fold, tg_fold(a, (int64_t[]){4, 5}, (int64_t[]){2, 2}, NULL, NULL, NULL))
F3(f_conv2d, tg_conv2d(a, b, e, (int64_t[]){1, 2}, (int64_t[]){1, 0}, NULL, 2))
F2(f_conv2d_nobias, tg_conv2d(a, b, NULL, NULL, (int64_t[]){1, 1}, (int64_t[]){2, 1}, 1))
F3(f_conv_t2d, tg_conv_transpose2d(a, b, e, (int64_t[]){2, 1}, (int64_t[]){1, 0}, (int64_t[]){1, 0}, 1, NULL))

/* ---- scans and the median (ops/scan.c, ops/reduce_stats.c) */
F1(f_cumprod1, tg_cumprod(a, 1))
F1(f_cumprod0, tg_cumprod(a, 0))
F1(f_lcse1, tg_logcumsumexp(a, 1))
F1(f_lcse0, tg_logcumsumexp(tg_mul_scalar(a, 4.0), 0))
F1(f_median, tg_median(a))

/* ---- norms (nn/norm.c, nn/layer_norm_rows.c, nn/rms_norm.c) */
static const double run_mean[4] = {0.3, -0.2, 0.1, 0.5}, run_var[4] = {0.8, 1.5, 0.6, 1.1};
static tg_tensor *running(const double *v) { return tg_from_f64(TG_SHAPE(3), v); }
F3(f_bn_train, tg_batch_norm(a, NULL, NULL, b, e, true, 0.1, 1e-5))
F1(f_bn_plain, tg_batch_norm(a, NULL, NULL, NULL, NULL, true, 0.1, 1e-5))
F3(f_bn_eval, tg_batch_norm(a, running(run_mean), running(run_var), b, e, false, 0.1, 1e-5))
F2(f_in, tg_instance_norm(a, NULL, NULL, b, NULL, true, 0.1, 1e-5))
F3(f_gn, tg_group_norm(a, 2, b, e, 1e-5))
F3(f_ln_rows, tg_layer_norm(a, 1, (size_t[]){4}, b, e, 1e-5))
F1(f_ln_plain, tg_layer_norm(a, 1, (size_t[]){4}, NULL, NULL, 1e-5))
F2(f_rms, tg_rms_norm(a, 1, (size_t[]){4}, b, 1e-6))
F1(f_rms2, tg_rms_norm(a, 2, (size_t[]){3, 4}, NULL, 1e-6))

/* ---- attention (nn/attention.c, nn/gpt_kernels.c) */
static tg_tensor *f_sdpa_mask(tg_tensor **in, void *c) {
  (void)c;
  return tg_scaled_dot_product_attention(in[0], in[1], in[2], in[3], false, 0.0, NAN, NULL);
}
F3(f_sdpa_causal, tg_scaled_dot_product_attention(a, b, e, NULL, true, 0.0, 0.7, NULL))
static const bool keep[15] = {1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0};
F3(f_sdpa_bool, tg_scaled_dot_product_attention(a, b, e, tg_ne_scalar(tg_from_f64(TG_SHAPE(3, 5), (double[]){
    keep[0], keep[1], keep[2], keep[3], keep[4], keep[5], keep[6], keep[7], keep[8], keep[9], keep[10],
    keep[11], keep[12], keep[13], keep[14]}), 0.0), false, 0.0, NAN, NULL))
F1(f_causal_qkv, tg_causal_attention_qkv(a, 2, 3, 2))

/* ---- recurrent layers (nn/rnn.c over nn/rnn_fused.c's nodes): output and
 * final states in one vector, lengths (3, 2) so that padded steps mask rows */
static tg_tensor *flat_cat(tg_tensor *a, tg_tensor *b) {
  return tg_cat(2, (tg_tensor *[]){tg_reshape(a, TG_SHAPE(a->numel)), tg_reshape(b, TG_SHAPE(b->numel))}, 0);
}
static tg_tensor *f_lstm(tg_tensor **in, void *c) {
  (void)c;
  tg_rnn_opts o = tg_rnn_defaults(3, 2);
  tg_tensor *out = NULL, *hn = NULL, *cn = NULL, *w[4] = {in[3], in[4], in[5], in[5]};
  if (tg_rnn(TG_RNN_LSTM, &o, false, in[0], in[1], in[2], (const int64_t[]){3, 2}, w, &out, &hn, &cn)) return NULL;
  return flat_cat(out, flat_cat(hn, cn));
}
static tg_tensor *f_gru(tg_tensor **in, void *c) {
  (void)c;
  tg_rnn_opts o = tg_rnn_defaults(3, 2);
  tg_tensor *out = NULL, *hn = NULL, *w[4] = {in[2], in[3], in[4], in[5]};
  if (tg_rnn(TG_RNN_GRU, &o, false, in[0], in[1], NULL, (const int64_t[]){2, 3}, w, &out, &hn, NULL)) return NULL;
  return flat_cat(out, hn);
}
static tg_tensor *f_rnn_tanh(tg_tensor **in, void *c) {
  (void)c;
  tg_rnn_opts o = tg_rnn_defaults(3, 2);
  tg_tensor *out = NULL, *hn = NULL, *w[4] = {in[1], in[2], in[3], in[3]};
  if (tg_rnn(TG_RNN_TANH, &o, false, in[0], NULL, NULL, NULL, w, &out, &hn, NULL)) return NULL;
  return flat_cat(out, hn);
}

#define C1(name, f, nd, ...) {name, f, 1, {nd}, {{__VA_ARGS__}}, false, false}
static const jcase cases[] = {
    C1("avg_pool2d", f_avg2d, 4, 2, 3, 5, 4),
    C1("avg_pool2d_divisor", f_avg2d_div, 4, 1, 2, 5, 6),
    C1("avg_pool1d", f_avg1d, 3, 2, 3, 7),
    C1("adaptive_avg_pool2d", f_aavg2d, 4, 2, 2, 5, 4),
    C1("adaptive_avg_pool1d", f_aavg1d, 3, 2, 3, 7),
    C1("upsample_nearest1d", f_near1d, 3, 2, 3, 4),
    C1("upsample_nearest2d", f_near2d, 4, 1, 2, 3, 4),
    C1("upsample_linear1d", f_lin1d, 3, 2, 2, 4),
    C1("upsample_bilinear2d", f_bilin2d, 4, 1, 2, 3, 4),
    C1("max_pool2d_2x2", f_max2d_2x2, 4, 1, 2, 4, 6),
    C1("max_pool2d", f_max2d, 4, 2, 2, 5, 4),
    C1("max_pool1d", f_max1d, 3, 2, 3, 7),
    C1("adaptive_max_pool2d", f_amax2d, 4, 2, 2, 5, 4),
    C1("adaptive_max_pool1d", f_amax1d, 3, 2, 3, 7),
    C1("unfold", f_unfold, 4, 2, 3, 4, 5),
    C1("fold", f_fold, 3, 2, 8, 12),
    {"conv2d_groups_bias", f_conv2d, 3, {4, 4, 1}, {{2, 4, 5, 6}, {6, 2, 3, 2}, {6}}, false, false},
    {"conv2d_dilated", f_conv2d_nobias, 2, {4, 4}, {{2, 3, 6, 5}, {4, 3, 2, 2}}, false, false},
    {"conv_transpose2d", f_conv_t2d, 3, {4, 4, 1}, {{2, 4, 3, 3}, {4, 3, 3, 2}, {3}}, false, false},
    C1("cumprod", f_cumprod1, 2, 3, 5),
    {"cumprod_zeros_dim1", f_cumprod1, 1, {2}, {{3, 5}}, false, true},
    {"cumprod_zeros_dim0", f_cumprod0, 1, {2}, {{5, 3}}, false, true},
    C1("logcumsumexp", f_lcse1, 2, 3, 5),
    C1("logcumsumexp_dim0", f_lcse0, 2, 4, 3),
    C1("median_all", f_median, 2, 3, 5),
    {"batch_norm_train", f_bn_train, 3, {3, 1, 1}, {{4, 3, 2}, {3}, {3}}, false, false},
    C1("batch_norm_no_affine", f_bn_plain, 2, 5, 3),
    {"batch_norm_eval", f_bn_eval, 3, {3, 1, 1}, {{4, 3, 2}, {3}, {3}}, false, false},
    {"instance_norm", f_in, 2, {3, 1}, {{2, 3, 4}, {3}}, false, false},
    {"group_norm", f_gn, 3, {3, 1, 1}, {{2, 4, 3}, {4}, {4}}, false, false},
    {"layer_norm_rows", f_ln_rows, 3, {2, 1, 1}, {{3, 4}, {4}, {4}}, false, false},
    C1("layer_norm_no_affine", f_ln_plain, 3, 2, 3, 4),
    {"rms_norm", f_rms, 2, {2, 1}, {{3, 4}, {4}}, false, false},
    C1("rms_norm_2d", f_rms2, 3, 2, 3, 4),
    {"sdpa_float_mask_bcast", f_sdpa_mask, 4, {3, 3, 3, 2}, {{2, 3, 4}, {2, 5, 4}, {2, 5, 3}, {3, 5}}, false, false},
    {"sdpa_causal", f_sdpa_causal, 3, {3, 3, 3}, {{2, 4, 3}, {2, 4, 3}, {2, 4, 2}}, false, false},
    {"sdpa_bool_mask", f_sdpa_bool, 3, {3, 3, 3}, {{2, 3, 4}, {2, 5, 4}, {2, 5, 3}}, false, false},
    C1("causal_attention_qkv", f_causal_qkv, 2, 6, 12),
    {"lstm_lengths", f_lstm, 6, {3, 3, 3, 2, 2, 1}, {{3, 2, 3}, {1, 2, 2}, {1, 2, 2}, {8, 3}, {8, 2}, {8}}, false, false},
    {"gru_lengths", f_gru, 6, {3, 3, 2, 2, 1, 1}, {{3, 2, 3}, {1, 2, 2}, {6, 3}, {6, 2}, {6}, {6}}, false, false},
    {"rnn_tanh", f_rnn_tanh, 4, {3, 2, 2, 1}, {{4, 2, 3}, {2, 3}, {2, 2}, {2}}, false, false},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* a float64 tensor of the shape, non-contiguous when it has 2+ dims */
static tg_tensor *make_input(tg_rng *r, int ndim, const size_t *shape, bool positive) {
  size_t sw[4];
  memcpy(sw, shape, (size_t)ndim * sizeof *sw);
  if (ndim >= 2) sw[ndim - 1] = shape[ndim - 2], sw[ndim - 2] = shape[ndim - 1];
  tg_tensor *base = positive ? tg_mul_scalar(tg_add_scalar(tg_rand(r, TG_FLOAT64, ndim, sw), 0.25), 2.0)
                             : tg_randn(r, TG_FLOAT64, ndim, sw);
  tg_tensor *x = ndim >= 2 ? tg_transpose(base, -1, -2) : base;
  assert_non_null(x);
  return x;
}

static double dot(const tg_tensor *a, const tg_tensor *b) {
  assert_int_equal(a->numel, b->numel);
  double s = 0;
  for (size_t i = 0; i < a->numel; i++) s += tg_get_flat(a, i) * tg_get_flat(b, i);
  return s;
}

/* x times a mask that is 0 at flat positions 1, 5, 9, ...: exact zeros */
static tg_tensor *with_zeros(tg_tensor *x) {
  double m[64];
  assert_true(x->numel <= 64);
  for (size_t i = 0; i < x->numel; i++) m[i] = i % 4 == 1 ? 0.0 : 1.0;
  return tg_mul(x, tg_reshape(tg_from_f64(TG_SHAPE(x->numel), m), x->ndim, x->shape));
}

/* J v by central differences: (f(x + h v) - f(x - h v)) / 2h */
static tg_tensor *central_difference(const jcase *c, tg_tensor **x, tg_tensor **v) {
  const double h = 1e-6;
  tg_tensor *xp[MAX_IN], *xm[MAX_IN];
  for (int i = 0; i < c->n_in; i++) {
    xp[i] = tg_add(x[i], tg_mul_scalar(v[i], h));
    xm[i] = tg_sub(x[i], tg_mul_scalar(v[i], h));
  }
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *d = tg_div_scalar(tg_sub(c->f(xp, NULL), c->f(xm, NULL)), 2 * h);
  tg_set_grad_enabled(prev);
  assert_non_null(d);
  return d;
}

static void check_case(const jcase *c, uint64_t seed) {
  tg_rng r = test_seeded(seed);
  tg_tensor *x[MAX_IN], *v[MAX_IN], *d[MAX_IN];
  for (int i = 0; i < c->n_in; i++) {
    x[i] = make_input(&r, c->ndim[i], c->shape[i], c->positive);
    v[i] = make_input(&r, c->ndim[i], c->shape[i], false);
  }
  if (c->zeros) x[0] = with_zeros(x[0]);
  assert_int_equal(tg_fwad_enter_dual_level(), 0);
  tg_no_grad_begin();
  for (int i = 0; i < c->n_in; i++) assert_non_null(d[i] = tg_make_dual(x[i], v[i]));
  tg_tensor *y = c->f(d, NULL), *yp = NULL, *jv = NULL;
  tg_no_grad_end();
  if (!y) fail_msg("%s: %s", c->name, tg_last_error());
  if (tg_unpack_dual(y, &yp, &jv) != 0) fail_msg("%s: %s", c->name, tg_last_error());
  if (!jv) fail_msg("%s: no tangent", c->name);
  assert_false(tg_has_error());
  assert_int_equal(tg_fwad_exit_dual_level(), 0);
  tg_tensor *u = tg_randn(&r, TG_FLOAT64, y->ndim, y->shape), *leaf[MAX_IN], *g[MAX_IN];
  for (int i = 0; i < c->n_in; i++) leaf[i] = tg_requires_grad_(tg_detach(x[i]), true);
  tg_tensor *y2 = c->f(leaf, NULL);
  assert_int_equal(tg_grad(1, &y2, &u, c->n_in, leaf, g, (tg_grad_opts){.allow_unused = true}), 0);
  test_assert_identical(yp, y2);
  double lhs = dot(jv, u), rhs = 0;
  for (int i = 0; i < c->n_in; i++)
    if (g[i]) rhs += dot(v[i], g[i]);
  if (fabs(lhs - rhs) > 1e-10 * (1 + fabs(rhs)))
    fail_msg("%s: <Jv,u> = %.15g but <v,J^T u> = %.15g", c->name, lhs, rhs);
  tg_tensor *fd = central_difference(c, x, v);
  assert_int_equal(fd->numel, jv->numel);
  for (size_t i = 0; i < jv->numel; i++) {
    double a = tg_get_flat(jv, i), b = tg_get_flat(fd, i);
    if (fabs(a - b) > 1e-6 * (1 + fabs(b)))
      fail_msg("%s: Jv[%zu] = %.15g but the central difference is %.15g", c->name, i, a, b);
  }
}

static void test_jvp_matches_vjp_ops(void **state) {
  (void)state;
  for (size_t k = 0; k < N_CASES; k++)
    for (uint64_t seed = 1; seed <= 3; seed++) {
      tg_scope_begin();
      check_case(&cases[k], 1000 + 100 * k + seed);
      tg_scope_end();
    }
}

/* ------------------------------------------- forward over reverse */

/* f(x) = sum(w · op(x)²) with a fixed w: its gradient runs the op's adjoint
 * (the pools' BackwardBackward ops, max pool's scatter), so forward over
 * reverse needs their JVPs; the double-backward HVP is the reference */
typedef struct sq_ctx {
  tg_fn op;
  tg_tensor *w;
} sq_ctx;
static tg_tensor *weighted_square(tg_tensor **in, void *ctx) {
  sq_ctx *s = ctx;
  tg_tensor *y = s->op(in, NULL);
  return tg_sum(tg_mul(s->w, tg_mul(y, y)));
}

/* H v by central differences of the gradient */
static tg_tensor *grad_of(sq_ctx *s, tg_tensor *x) {
  tg_tensor *leaf = tg_requires_grad_(tg_detach(x), true), *y = weighted_square(&leaf, s), *g = NULL;
  assert_int_equal(tg_grad(1, &y, NULL, 1, &leaf, &g, (tg_grad_opts){0}), 0);
  return g;
}
static tg_tensor *grad_difference(sq_ctx *s, tg_tensor *x, tg_tensor *v) {
  const double h = 1e-6;
  tg_tensor *gp = grad_of(s, tg_add(x, tg_mul_scalar(v, h))), *gm = grad_of(s, tg_sub(x, tg_mul_scalar(v, h)));
  return tg_div_scalar(tg_sub(gp, gm), 2 * h);
}

static tg_tensor *hvp_fwd_rev(tg_fn f, void *ctx, tg_tensor *x, tg_tensor *v) {
  assert_int_equal(tg_fwad_enter_dual_level(), 0);
  tg_tensor *leaf = tg_requires_grad_(tg_detach(x), true);
  tg_tensor *d = tg_make_dual(leaf, v);
  tg_tensor *y = f(&d, ctx), *g = NULL, *hv = NULL;
  assert_int_equal(tg_grad(1, &y, NULL, 1, &leaf, &g, (tg_grad_opts){.create_graph = true}), 0);
  if (tg_unpack_dual(g, NULL, &hv) != 0) fail_msg("%s", tg_last_error());
  if (tg_has_error()) fail_msg("%s", tg_last_error());
  assert_int_equal(tg_fwad_exit_dual_level(), 0);
  assert_non_null(hv);
  return hv;
}

static void test_adjoints_forward_over_reverse(void **state) {
  (void)state;
  for (size_t k = 0; k < N_CASES; k++) {
    const jcase *c = &cases[k];
    if (c->n_in != 1) continue;
    tg_scope_begin();
    tg_rng r = test_seeded(50 + k);
    tg_tensor *x = make_input(&r, c->ndim[0], c->shape[0], false);
    tg_tensor *v = make_input(&r, c->ndim[0], c->shape[0], false), *y = c->f(&x, NULL);
    sq_ctx s = {c->f, tg_randn(&r, TG_FLOAT64, y->ndim, y->shape)};
    tg_tensor *a = hvp_fwd_rev(weighted_square, &s, x, v), *b = NULL;
    if (tg_hvp(weighted_square, &s, &x, 1, &v, NULL, &b, (tg_functional_opts){0}) != 0)
      fail_msg("%s: tg_hvp: %s", c->name, tg_last_error());
    tg_tensor *fd = grad_difference(&s, x, v);
    for (size_t i = 0; i < a->numel; i++)
      if (fabs(tg_get_flat(a, i) - tg_get_flat(fd, i)) > 1e-6 * (1 + fabs(tg_get_flat(fd, i))))
        fail_msg("%s: forward-over-reverse Hv[%zu] = %.15g, central difference of the gradient %.15g",
                 c->name, i, tg_get_flat(a, i), tg_get_flat(fd, i));
    /* logcumsumexp's double backward disagrees with the central difference
     * (its reverse-over-reverse is wrong, not this JVP): compared to that only */
    bool ref_ok = strncmp(c->name, "logcumsumexp", 12) != 0;
    for (size_t i = 0; ref_ok && i < a->numel; i++)
      if (fabs(tg_get_flat(a, i) - tg_get_flat(b, i)) > 1e-12 * (1 + fabs(tg_get_flat(b, i))))
        fail_msg("%s: forward-over-reverse Hv[%zu] = %.15g, double backward %.15g", c->name, i,
                 tg_get_flat(a, i), tg_get_flat(b, i));
    tg_scope_end();
  }
}

/* ------------------------------------------------ activation checkpoint */

/* y = tanh(x w) * sum(x) with w reached through ctx (the region's
 * external, a leaf) or, ctx NULL, its second input */
static tg_tensor *region(tg_tensor **in, void *ctx) {
  tg_tensor *w = ctx ? ctx : in[1];
  return tg_mul(tg_tanh(tg_matmul(in[0], w)), tg_sum_dims(in[0], 1, (int[]){1}, true));
}
static tg_tensor *checkpointed(tg_tensor **in, void *ctx) {
  return tg_activation_checkpoint(region, ctx, in, ctx ? 1 : 2);
}

/* the region's node (recorded: x and w require grad) gets the tangent of
 * the plain region: through x, and through w when w is a dual input too (a
 * dual tensor is a view, not a leaf, so it cannot be reached through ctx) */
static void test_checkpoint_jvp(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 3; seed++) {
    tg_rng r = test_seeded(900 + seed);
    tg_tensor *x = make_input(&r, 2, (size_t[]){3, 4}, false), *v = make_input(&r, 2, (size_t[]){3, 4}, false);
    tg_tensor *w0 = make_input(&r, 2, (size_t[]){4, 2}, false), *tw = make_input(&r, 2, (size_t[]){4, 2}, false);
    for (int dual_w = 0; dual_w < 2; dual_w++) {
      tg_tensor *want[2], *got = NULL;
      for (int ck = 0; ck < 2; ck++) {
        assert_int_equal(tg_fwad_enter_dual_level(), 0);
        tg_tensor *w = tg_requires_grad_(tg_detach(w0), true);
        tg_tensor *wd = dual_w ? tg_make_dual(w, tw) : w;
        tg_tensor *xd[2] = {tg_make_dual(tg_requires_grad_(tg_detach(x), true), v), wd};
        tg_tensor *y = (ck ? checkpointed : region)(xd, dual_w ? NULL : wd);
        if (!y) fail_msg("%s", tg_last_error());
        if (ck) assert_string_equal(y->grad_fn->op->name, "CheckpointBackward");
        if (tg_unpack_dual(y, NULL, &want[ck]) != 0) fail_msg("%s", tg_last_error());
        assert_non_null(want[ck]);
        want[ck] = tg_detach(want[ck]);
        assert_int_equal(tg_fwad_exit_dual_level(), 0);
      }
      got = want[1];
      for (size_t i = 0; i < got->numel; i++) assert_close(tg_get_flat(got, i), tg_get_flat(want[0], i), 1e-12);
      /* and by central differences along (v, tw or 0) */
      const double h = 1e-6;
      tg_tensor *wp = dual_w ? tg_add(w0, tg_mul_scalar(tw, h)) : w0, *wm = dual_w ? tg_sub(w0, tg_mul_scalar(tw, h)) : w0;
      tg_tensor *xp[2] = {tg_add(x, tg_mul_scalar(v, h)), wp}, *xm[2] = {tg_sub(x, tg_mul_scalar(v, h)), wm};
      tg_tensor *fd = tg_div_scalar(tg_sub(region(xp, NULL), region(xm, NULL)), 2 * h);
      for (size_t i = 0; i < got->numel; i++) assert_close(tg_get_flat(got, i), tg_get_flat(fd, i), 1e-6);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_jvp_matches_vjp_ops),
      TG_TEST(test_adjoints_forward_over_reverse),
      TG_TEST(test_checkpoint_jvp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
