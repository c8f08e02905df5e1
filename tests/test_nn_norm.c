/* Tests for the normalisation layers (nn/norm.c, nn/norm_layer.c) and
 * dropout2d: batch norm on (N, C, d1, ...) input (bit-identical to the
 * composition of tensor ops it replaced), instance, group and layer norm,
 * their modules, running statistics and state-dict names.
 *
 * Expected values come from the composition of other ops written here,
 * from textbook formulas, or from PyTorch 1.13 runs of this script (its
 * inputs are x_i = 2 sin(a i + b), which both sides compute):
 *
 *   import math, torch, torch.nn as nn, torch.nn.functional as F
 *   torch.set_default_dtype(torch.float64)
 *   def seq(n, a, b): return torch.tensor([2 * math.sin(a * i + b) for i in range(n)])
 *   x1 = seq(24, 1.3, 0.5).reshape(2, 3, 2, 2); x2 = seq(24, 0.7, -1.0).reshape(2, 3, 2, 2)
 *   for mom in (0.1, None):
 *       bn = nn.BatchNorm2d(3, momentum=mom).double(); bn(x1); bn(x2)
 *       print(bn.running_mean.tolist(), bn.running_var.tolist(), int(bn.num_batches_tracked))
 *       bn.eval(); print(bn(x1)[0, :, 0, 0].tolist())
 *   inn = nn.InstanceNorm2d(3, track_running_stats=True).double()
 *   y = inn(x1); print(inn.running_mean.tolist(), inn.running_var.tolist(), y[1, 2].flatten().tolist())
 *   inn.eval(); print(inn(x2)[0, 1].flatten().tolist())
 *   xg = seq(24, 0.9, 0.2).reshape(2, 4, 3); w = seq(4, 0.4, 1.0); b = seq(4, 1.7, 0.3)
 *   print(F.group_norm(xg, 2, w, b, 1e-5)[1].flatten().tolist())
 *   w2 = seq(12, 0.3, 0.1).reshape(4, 3); b2 = seq(12, 0.8, 0.9).reshape(4, 3)
 *   print(F.layer_norm(xg, (4, 3), w2, b2, 1e-5)[0, 0].tolist())
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

/* ------------------------------------------------------------ helpers */

/* 2 sin(a i + b), i = 0 .. numel-1, as the PyTorch script above */
static tg_tensor *seq(int ndim, const size_t *shape, double a, double b) {
  tg_tensor *t = tg_zeros(TG_FLOAT64, ndim, shape);
  assert_non_null(t);
  for (size_t i = 0; i < t->numel; i++) ((double *)tg_data(t))[i] = 2 * sin(a * (double)i + b);
  return t;
}

static void assert_values(const tg_tensor *t, const double *want, size_t n, double tol) {
  assert_non_null(t);
  assert_int_equal(t->numel, n);
  for (size_t i = 0; i < n; i++) assert_close(tg_get_flat(t, i), want[i], tol);
}

/* the values of a and b agree to tol relative */
static void assert_all_close(const tg_tensor *a, const tg_tensor *b, double tol) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->numel, b->numel);
  for (size_t i = 0; i < a->numel; i++) {
    double x = tg_get_flat(a, i), y = tg_get_flat(b, i);
    if (!(fabs(x - y) <= tol * (1 + fabs(y)))) fail_msg("element %zu: %.17g vs %.17g", i, x, y);
  }
}

/* x (N, C, ...) non-contiguous with the same values: a transposed copy of a
 * base with dims 0 and last swapped, transposed back */
static tg_tensor *noncontig(tg_tensor *x) {
  int last = x->ndim - 1;
  tg_tensor *t = tg_transpose(tg_contiguous(tg_transpose(x, 0, last)), 0, last);
  assert_non_null(t);
  assert_false(tg_is_contiguous(t) && x->shape[0] > 1 && x->shape[last] > 1);
  return t;
}

static tg_tensor *module_fn(tg_tensor **in, void *ctx) { return tg_module_forward(ctx, in[0]); }

/* ================================================== batch_norm: bit-identical */

/* the composition tg_batch_norm was until the fused node: the reference */
static tg_tensor *bn_composed(tg_tensor *x, tg_tensor *rm, tg_tensor *rv, tg_tensor *w, tg_tensor *b,
                              bool training, double eps) {
  int dims[TG_MAX_DIMS], nd = 0;
  size_t pc[TG_MAX_DIMS] = {x->shape[1]};
  for (int d = 0; d < x->ndim; d++)
    if (d != 1) dims[nd++] = d;
  for (int d = 1; d < x->ndim - 1; d++) pc[d] = 1;
  tg_tensor *mean = training ? tg_mean_dims(x, nd, dims, true) : tg_reshape(rm, x->ndim - 1, pc);
  tg_tensor *var = training ? tg_var_dims(x, nd, dims, false, true) : tg_reshape(rv, x->ndim - 1, pc);
  tg_tensor *y = tg_div(tg_sub(x, mean), tg_sqrt(tg_add_scalar(var, eps)));
  if (w) y = tg_mul(y, tg_reshape(w, x->ndim - 1, pc));
  if (b) y = tg_add(y, tg_reshape(b, x->ndim - 1, pc));
  return y;
}

static void assert_same_bits(const tg_tensor *a, const tg_tensor *b) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->numel, b->numel);
  assert_true(tg_is_contiguous(a) && tg_is_contiguous(b));
  if (a->numel && memcmp(tg_data(a), tg_data(b), a->numel * tg_dtype_size(a->dtype)) != 0) {
    for (size_t i = 0; i < a->numel; i++)
      if (tg_get_flat(a, i) != tg_get_flat(b, i))
        fail_msg("element %zu: %.9g vs composed %.9g", i, tg_get_flat(a, i), tg_get_flat(b, i));
    fail_msg("bits differ (signed zeros?)");
  }
}

static void test_batch_norm_bit_identical(void **state) {
  (void)state;
  tg_rng r = test_seeded(1);
  const size_t shapes[][5] = {{2, 7, 3}, {3, 4, 5, 6}, {5, 1, 4}, {1, 3, 9}, {6, 5}, {1, 5}, {2, 3, 1, 1},
                              {1, 2, 3, 1, 4}, {4, 3, 2, 2, 2}};
  const int nds[] = {3, 4, 3, 3, 2, 2, 4, 5, 5};
  for (int dt = 0; dt < 2; dt++) {
    tg_dtype d = dt ? TG_FLOAT64 : TG_FLOAT32;
    for (size_t s = 0; s < sizeof nds / sizeof *nds; s++) {
      tg_tensor *x = tg_mul_scalar(tg_add_scalar(tg_randn(&r, d, nds[s], shapes[s]), 0.3), 1.7);
      size_t C = shapes[s][1];
      tg_tensor *w = tg_uniform(&r, d, TG_SHAPE(C), 0.5, 1.5), *b = tg_randn(&r, d, TG_SHAPE(C));
      tg_tensor *rm = tg_randn(&r, d, TG_SHAPE(C)), *rv = tg_uniform(&r, d, TG_SHAPE(C), 0.5, 2);
      for (int v = 0; v < 2; v++) {
        tg_tensor *xv = v ? noncontig(x) : x;
        for (int aff = 0; aff < 4; aff++) {
          tg_tensor *ww = aff & 1 ? w : NULL, *bb = aff & 2 ? b : NULL;
          bool one = x->numel == C; /* one value per channel: eval only */
          if (!one)
            assert_same_bits(tg_batch_norm(xv, NULL, NULL, ww, bb, true, 0.1, 1e-5),
                             bn_composed(xv, NULL, NULL, ww, bb, true, 1e-5));
          assert_same_bits(tg_batch_norm(xv, rm, rv, ww, bb, false, 0.1, 1e-3),
                           bn_composed(xv, rm, rv, ww, bb, false, 1e-3));
        }
      }
    }
  }
}

/* the fused backward (no create_graph) and the one in ops (create_graph)
 * agree with the composition's autograd gradients */
static void test_batch_norm_grads_match_composed(void **state) {
  (void)state;
  tg_rng r = test_seeded(2);
  const size_t shapes[][4] = {{4, 3}, {2, 3, 5}, {3, 2, 4, 3}, {2, 4, 1, 3}};
  const int nds[] = {2, 3, 4, 4};
  for (size_t s = 0; s < 4; s++)
    for (int train = 0; train < 2; train++)
      for (int cg = 0; cg < 2; cg++) {
        size_t C = shapes[s][1];
        tg_tensor *x = test_leaf(&r, nds[s], shapes[s]);
        tg_tensor *w = tg_requires_grad_(tg_uniform(&r, TG_FLOAT64, TG_SHAPE(C), 0.5, 1.5), true);
        tg_tensor *b = test_leaf(&r, TG_SHAPE(C));
        tg_tensor *rm = tg_randn(&r, TG_FLOAT64, TG_SHAPE(C)), *rv = tg_uniform(&r, TG_FLOAT64, TG_SHAPE(C), 0.5, 2);
        tg_tensor *gout = tg_randn(&r, TG_FLOAT64, nds[s], shapes[s]);
        tg_tensor *in[3] = {noncontig(x), w, b}, *g1[3], *g2[3];
        tg_tensor *y1 = tg_batch_norm(in[0], rm, rv, w, b, train, 0.0, 1e-5);
        tg_tensor *y2 = bn_composed(in[0], rm, rv, w, b, train, 1e-5);
        tg_grad_opts o = {.retain_graph = true, .create_graph = cg}; /* x's view is shared */
        assert_int_equal(tg_grad(1, &y1, &gout, 3, (tg_tensor *[]){x, w, b}, g1, o), 0);
        assert_int_equal(tg_grad(1, &y2, &gout, 3, (tg_tensor *[]){x, w, b}, g2, o), 0);
        for (int k = 0; k < 3; k++) assert_all_close(g1[k], g2[k], 1e-10);
        assert_true(!cg || g1[0]->requires_grad);
      }
}

/* ========================================================= batch_norm */

static tg_tensor *bn_train_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_batch_norm(in[0], NULL, NULL, in[1], in[2], true, 0.1, 1e-5);
}
static tg_tensor *bn_train_t_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_batch_norm(tg_transpose(in[0], 0, 3), NULL, NULL, in[1], NULL, true, 0.1, 1e-5);
}
static tg_tensor *bn_eval_fn(tg_tensor **in, void *ctx) {
  tg_tensor **stats = ctx;
  return tg_batch_norm(in[0], stats[0], stats[1], in[1], in[2], false, 0.1, 1e-5);
}

static void test_batch_norm_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(3);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(3, 2, 3, 2)), *w = tg_requires_grad_(tg_uniform(&r, TG_FLOAT64, TG_SHAPE(2), 0.5, 1.5), true);
  tg_tensor *b = test_leaf(&r, TG_SHAPE(2));
  tg_tensor *in[3] = {x, w, b};
  assert_gradcheck(bn_train_fn, 3, in, NULL);
  assert_gradgradcheck(bn_train_fn, 3, in, NULL);
  /* a transposed (W, C, H, N) base: non-contiguous (N, C, H, W) */
  tg_tensor *xt = test_leaf(&r, TG_SHAPE(2, 2, 3, 3));
  tg_tensor *in_t[2] = {xt, w};
  assert_gradcheck(bn_train_t_fn, 2, in_t, NULL);
  assert_gradgradcheck(bn_train_t_fn, 2, in_t, NULL);
  /* 5-d, no affine */
  tg_tensor *x5 = test_leaf(&r, TG_SHAPE(2, 3, 2, 1, 2));
  tg_tensor *in5[3] = {x5, NULL, NULL};
  assert_gradcheck(bn_train_fn, 1, in5, NULL);
  assert_gradgradcheck(bn_train_fn, 1, in5, NULL);
  /* eval: the running statistics are constants */
  tg_tensor *stats[2] = {tg_randn(&r, TG_FLOAT64, TG_SHAPE(2)), tg_uniform(&r, TG_FLOAT64, TG_SHAPE(2), 0.5, 2)};
  assert_gradcheck(bn_eval_fn, 3, in, stats);
  assert_gradgradcheck(bn_eval_fn, 3, in, stats);
}

static void test_batch_norm_errors(void **state) {
  (void)state;
  tg_tensor *x = tg_randn(NULL, TG_FLOAT64, TG_SHAPE(2, 3, 4, 4));
  tg_tensor *c3 = tg_zeros(TG_FLOAT64, TG_SHAPE(3)), *c4 = tg_zeros(TG_FLOAT64, TG_SHAPE(4));
  assert_null(tg_batch_norm(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 3, 1, 1)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  test_expect_error("batch_norm", "more than 1 value per channel");
  assert_null(tg_batch_norm(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  test_expect_error("batch_norm", "at least 2 dims");
  assert_null(tg_batch_norm(x, c4, c3, NULL, NULL, true, 0.1, 1e-5));
  test_expect_error("batch_norm", "running_mean");
  assert_null(tg_batch_norm(x, NULL, NULL, c3, c4, true, 0.1, 1e-5));
  test_expect_error("batch_norm", "bias");
  assert_null(tg_batch_norm(x, NULL, NULL, tg_zeros(TG_FLOAT32, TG_SHAPE(3)), NULL, true, 0.1, 1e-5));
  test_expect_error("batch_norm", "float64");
  assert_null(tg_batch_norm(x, c3, NULL, NULL, NULL, false, 0.1, 1e-5));
  test_expect_error("batch_norm", "running");
  assert_null(tg_batch_norm(tg_zeros(TG_INT64, TG_SHAPE(2, 3)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  test_expect_error("batch_norm", "int64");
  /* PyTorch: not differentiable with respect to the running statistics */
  tg_tensor *rg = tg_requires_grad_(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), true);
  assert_null(tg_batch_norm(x, rg, tg_ones(TG_FLOAT64, TG_SHAPE(3)), NULL, NULL, false, 0.1, 1e-5));
  test_expect_error("batch_norm", "running_mean requires grad");
  /* no values per channel: an empty result, running stats unchanged (as PyTorch) */
  tg_tensor *rm = tg_zeros(TG_FLOAT64, TG_SHAPE(3)), *rv = tg_ones(TG_FLOAT64, TG_SHAPE(3));
  tg_tensor *y = tg_batch_norm(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3, 2)), rm, rv, NULL, NULL, true, 0.1, 1e-5);
  assert_non_null(y);
  assert_int_equal(y->numel, 0);
  assert_int_equal(y->ndim, 3);
  for (size_t c = 0; c < 3; c++) {
    assert_close(tg_get_flat(rm, c), 0, 0);
    assert_close(tg_get_flat(rv, c), 1, 0);
  }
}

/* an in-place change of the weight between forward and backward is caught */
static void test_batch_norm_saved_weight_version(void **state) {
  (void)state;
  tg_tensor *x = test_leaf(NULL, TG_SHAPE(4, 2, 3));
  tg_tensor *w = tg_requires_grad_(tg_ones(TG_FLOAT64, TG_SHAPE(2)), true);
  tg_tensor *y = tg_batch_norm(x, NULL, NULL, w, NULL, true, 0.1, 1e-5);
  assert_non_null(y);
  tg_no_grad_begin();
  assert_non_null(tg_fill_(w, 2.0));
  tg_no_grad_end();
  assert_int_equal(tg_backward(tg_sum(tg_mul(y, y)), NULL, false), -1);
  test_expect_error("NativeBatchNormBackward", NULL);
}

/* ========================================================= BatchNorm2d */

static const double BN_RM[2][3] = {{0.061530473918599476, -0.04835217946110944, 0.03107519301595106},
                                   {0.3068082094090594, -0.2414677767997214, 0.156494788951052}};
static const double BN_RV[2][3] = {{1.19326517207342, 1.1767732922198333, 1.2867808822432591},
                                   {2.0326674141557954, 1.9254964859030768, 2.5215061529109764}};
static const double BN_EVAL[2][3] = {{0.8214428189821747, -0.9707064640437417, -1.7824441478736384},
                                     {0.4573428755429466, -0.6196937655482284, -1.3523075016731596}};

static void test_batchnorm2d_running_stats_as_torch(void **state) {
  (void)state;
  tg_tensor *x1 = seq(TG_SHAPE(2, 3, 2, 2), 1.3, 0.5), *x2 = seq(TG_SHAPE(2, 3, 2, 2), 0.7, -1.0);
  for (int k = 0; k < 2; k++) {
    tg_module *bn = test_to_f64(tg_nn_batchnorm2d(3, 1e-5, k ? NAN : 0.1, true, true));
    assert_string_equal(bn->type, "BatchNorm2d");
    assert_non_null(tg_module_forward(bn, x1));
    assert_non_null(tg_module_forward(bn, x2));
    assert_values(tg_module_get(bn, "running_mean"), BN_RM[k], 3, 1e-12);
    assert_values(tg_module_get(bn, "running_var"), BN_RV[k], 3, 1e-12);
    assert_close(tg_item(tg_module_get(bn, "num_batches_tracked")), 2, 0);
    tg_module_eval(bn);
    tg_tensor *y = tg_module_forward(bn, x1);
    assert_non_null(y);
    for (size_t c = 0; c < 3; c++) assert_close(tg_get(y, (size_t[]){0, c, 0, 0}), BN_EVAL[k][c], 1e-12);
    /* eval leaves the statistics alone */
    assert_values(tg_module_get(bn, "running_mean"), BN_RM[k], 3, 1e-12);
    assert_close(tg_item(tg_module_get(bn, "num_batches_tracked")), 2, 0);
    tg_module_free(bn);
  }
}

static void test_batchnorm2d_module(void **state) {
  (void)state;
  tg_rng r = test_seeded(4);
  tg_module *bn = tg_nn_batchnorm2d(3, 1e-5, 0.1, true, true);
  assert_non_null(bn);
  const char *names[] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
  tg_state_dict *sd = tg_module_state_dict(bn);
  assert_non_null(sd);
  assert_int_equal(sd->n, 5);
  for (size_t k = 0; k < 5; k++) assert_string_equal(sd->entries[k].name, names[k]);
  tg_state_dict_free(sd);
  assert_int_equal(tg_module_get(bn, "num_batches_tracked")->dtype, TG_INT64);
  /* torch's rank errors */
  assert_null(tg_module_forward(bn, tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3, 4))));
  test_expect_error("BatchNorm2d: expected 4D input (got 3D input)", NULL);
  assert_null(tg_module_forward(bn, tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3, 4, 4, 1))));
  test_expect_error("expected 4D input (got 5D input)", NULL);
  tg_module *bn1 = tg_nn_batchnorm1d(3, 1e-5, 0.1, true);
  assert_null(tg_module_forward(bn1, tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3, 4, 4))));
  test_expect_error("BatchNorm1d: expected 2D or 3D input (got 4D input)", NULL);
  tg_module_free(bn1);
  tg_module_free(bn);
  assert_null(tg_nn_batchnorm2d(3, -1, 0.1, true, true));
  test_expect_error("batchnorm2d", "eps");
  /* gradcheck through the module, float64, training */
  tg_module *b64 = test_to_f64(tg_nn_batchnorm2d(2, 1e-5, 0.1, true, true));
  tg_init_uniform_(tg_module_get(b64, "weight"), &r, 0.5, 1.5);
  tg_tensor *in[3] = {test_leaf(&r, TG_SHAPE(2, 2, 2, 3)), tg_module_get(b64, "weight"), tg_module_get(b64, "bias")};
  assert_gradcheck(module_fn, 3, in, b64);
  tg_module_free(b64);
  /* without running stats: weight and bias only; batch stats in eval too */
  tg_module *nt = test_to_f64(tg_nn_batchnorm2d(3, 1e-5, 0.1, false, false));
  sd = tg_module_state_dict(nt);
  assert_int_equal(sd->n, 0);
  tg_state_dict_free(sd);
  tg_module_eval(nt);
  tg_tensor *x = seq(TG_SHAPE(2, 3, 2, 2), 1.3, 0.5);
  assert_same_bits(tg_module_forward(nt, x), tg_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  tg_module_free(nt);
}

/* ======================================================= instance_norm */

static void test_instance_norm_as_torch(void **state) {
  (void)state;
  static const double rm[3] = {-0.0016883203678760145, 0.0005862410116515247, 0.0022376477425934734};
  static const double rv[3] = {1.160365293400865, 1.091257498687497, 1.2198211329111985};
  static const double y12[4] = {1.3056357886319907, 0.6344199551132997, -0.8961974308218983, -1.0438583129233923};
  static const double ev01[4] = {1.8639087986319507, 1.145237511986025, -0.1123208082055021, -1.3173168340657684};
  tg_tensor *x1 = seq(TG_SHAPE(2, 3, 2, 2), 1.3, 0.5), *x2 = seq(TG_SHAPE(2, 3, 2, 2), 0.7, -1.0);
  tg_module *in = test_to_f64(tg_nn_instancenorm2d(3, 1e-5, 0.1, false, true));
  assert_string_equal(in->type, "InstanceNorm2d");
  tg_tensor *y = tg_module_forward(in, x1);
  assert_non_null(y);
  assert_values(tg_module_get(in, "running_mean"), rm, 3, 1e-12);
  assert_values(tg_module_get(in, "running_var"), rv, 3, 1e-12);
  assert_values(tg_contiguous(tg_select(tg_select(y, 0, 1), 0, 2)), y12, 4, 1e-12);
  assert_close(tg_item(tg_module_get(in, "num_batches_tracked")), 0, 0); /* PyTorch does not count */
  tg_module_eval(in);
  assert_values(tg_contiguous(tg_select(tg_select(tg_module_forward(in, x2), 0, 0), 0, 1)), ev01, 4, 1e-12);
  /* (C, H, W): one instance */
  tg_tensor *y3 = tg_module_forward(in, tg_select(x2, 0, 0));
  assert_int_equal(y3->ndim, 3);
  assert_values(tg_contiguous(tg_select(y3, 0, 1)), ev01, 4, 1e-12);
  assert_null(tg_module_forward(in, tg_zeros(TG_FLOAT64, TG_SHAPE(4, 4))));
  test_expect_error("InstanceNorm2d: expected 3D or 4D input (got 2D input)", NULL);
  tg_state_dict *sd = tg_module_state_dict(in);
  assert_int_equal(sd->n, 3);
  assert_string_equal(sd->entries[2].name, "num_batches_tracked");
  tg_state_dict_free(sd);
  tg_module_free(in);
  /* the defaults: no affine, no buffers; each instance normalised */
  tg_module *d = tg_nn_instancenorm2d(5, 1e-5, 0.1, false, false);
  assert_int_equal(d->n_params + d->n_buffers, 0);
  tg_module_eval(d); /* without running stats: input stats in eval too; any channel count */
  tg_tensor *yd = tg_module_forward(d, x1);
  assert_non_null(yd);
  tg_tensor *inst = tg_select(tg_select(yd, 0, 1), 0, 2);
  assert_close(tg_item(tg_mean(inst)), 0, 1e-12);
  assert_close(tg_item(tg_var(inst, false)), 1, 1e-4);
  tg_module_free(d);
  assert_null(tg_nn_instancenorm2d(3, 1e-5, NAN, false, true));
  test_expect_error("instancenorm2d", "momentum");
}

/* the instance norm of x is the batch norm of each instance alone */
static void test_instance_norm_is_per_instance_batch_norm(void **state) {
  (void)state;
  tg_rng r = test_seeded(5);
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(3, 2, 4, 2));
  tg_tensor *w = tg_randn(&r, TG_FLOAT64, TG_SHAPE(2)), *b = tg_randn(&r, TG_FLOAT64, TG_SHAPE(2));
  tg_tensor *y = tg_instance_norm(noncontig(x), NULL, NULL, w, b, true, 0.1, 1e-5);
  for (long n = 0; n < 3; n++) {
    tg_tensor *xn = tg_unsqueeze(tg_select(x, 0, n), 0);
    tg_tensor *yn = tg_batch_norm(xn, NULL, NULL, w, b, true, 0.1, 1e-5);
    assert_all_close(tg_contiguous(tg_select(y, 0, n)), yn, 1e-12);
  }
}

static tg_tensor *in_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_instance_norm(in[0], NULL, NULL, in[1], in[2], true, 0.1, 1e-5);
}
static tg_tensor *in_eval_fn(tg_tensor **in, void *ctx) {
  tg_tensor **stats = ctx;
  return tg_instance_norm(tg_transpose(in[0], 2, 3), stats[0], stats[1], in[1], in[2], false, 0.1, 1e-5);
}

static void test_instance_norm_gradcheck_and_errors(void **state) {
  (void)state;
  tg_rng r = test_seeded(6);
  tg_tensor *in[3] = {test_leaf(&r, TG_SHAPE(2, 3, 2, 2)), test_leaf(&r, TG_SHAPE(3)), test_leaf(&r, TG_SHAPE(3))};
  assert_gradcheck(in_fn, 3, in, NULL);
  assert_gradgradcheck(in_fn, 3, in, NULL);
  tg_tensor *stats[2] = {tg_randn(&r, TG_FLOAT64, TG_SHAPE(3)), tg_uniform(&r, TG_FLOAT64, TG_SHAPE(3), 0.5, 2)};
  assert_gradcheck(in_eval_fn, 3, in, stats);
  assert_gradgradcheck(in_eval_fn, 3, in, stats);
  assert_null(tg_instance_norm(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 1)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  test_expect_error("instance_norm", "more than 1 spatial element");
  assert_null(tg_instance_norm(tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
  test_expect_error("instance_norm", "more than 1 spatial element");
  assert_null(tg_instance_norm(in[0], stats[0], NULL, NULL, NULL, false, 0.1, 1e-5));
  test_expect_error("instance_norm", "running_var");
  assert_null(tg_instance_norm(in[0], NULL, NULL, tg_zeros(TG_FLOAT64, TG_SHAPE(4)), NULL, true, 0.1, 1e-5));
  test_expect_error("instance_norm", "weight");
  /* one spatial element is fine with the running stats */
  assert_non_null(tg_instance_norm(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 1)), stats[0], stats[1], NULL, NULL,
                                   false, 0.1, 1e-5));
}

/* ========================================================== group_norm */

static void test_group_norm_values(void **state) {
  (void)state;
  static const double want[12] = {-2.0197348316691888, -1.1162438449341234, 0.8940799189002281,
                                  4.042313491494183,   4.011380213396047,   2.1040953743854827,
                                  -2.6157052383384833, -3.544909636691354,  -2.5302173364811504,
                                  -0.9476585719545748, 0.4710157658038799,  0.41601084612952766};
  tg_tensor *x = seq(TG_SHAPE(2, 4, 3), 0.9, 0.2), *w = seq(TG_SHAPE(4), 0.4, 1.0), *b = seq(TG_SHAPE(4), 1.7, 0.3);
  tg_tensor *y = tg_group_norm(noncontig(x), 2, w, b, 1e-5);
  assert_values(tg_contiguous(tg_select(y, 0, 1)), want, 12, 1e-12);
  /* one group: layer norm over (C, L); C groups: instance norm */
  assert_all_close(tg_group_norm(x, 1, NULL, NULL, 1e-5), tg_layer_norm(x, TG_SHAPE(4, 3), NULL, NULL, 1e-5), 1e-12);
  assert_all_close(tg_group_norm(x, 4, w, b, 1e-5), tg_instance_norm(x, NULL, NULL, w, b, true, 0, 1e-5), 1e-12);
}

static tg_tensor *gn_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_group_norm(tg_transpose(in[0], 2, 3), 2, in[1], in[2], 1e-5);
}

static void test_group_norm_gradcheck_and_errors(void **state) {
  (void)state;
  tg_rng r = test_seeded(7);
  tg_tensor *in[3] = {test_leaf(&r, TG_SHAPE(2, 4, 3, 2)), test_leaf(&r, TG_SHAPE(4)), test_leaf(&r, TG_SHAPE(4))};
  assert_gradcheck(gn_fn, 3, in, NULL);
  assert_gradgradcheck(gn_fn, 3, in, NULL);
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 4, 3));
  assert_null(tg_group_norm(x, 3, NULL, NULL, 1e-5));
  test_expect_error("group_norm", "divisible by num_groups");
  assert_null(tg_group_norm(x, 0, NULL, NULL, 1e-5));
  test_expect_error("group_norm", "greater than 0");
  assert_null(tg_group_norm(x, 2, tg_zeros(TG_FLOAT64, TG_SHAPE(3)), NULL, 1e-5));
  test_expect_error("group_norm", "weight");
  assert_null(tg_group_norm(x, 2, NULL, tg_zeros(TG_FLOAT64, TG_SHAPE(4, 1)), 1e-5));
  test_expect_error("group_norm", "bias");
  assert_null(tg_group_norm(tg_zeros(TG_FLOAT64, TG_SHAPE(4)), 2, NULL, NULL, 1e-5));
  test_expect_error("group_norm", "at least 2 dims");
  assert_null(tg_group_norm(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 4)), 4, NULL, NULL, 1e-5));
  test_expect_error("group_norm", "more than 1 value");
  /* one value per group with two samples: PyTorch accepts, zeros out */
  tg_tensor *y = tg_group_norm(tg_ones(TG_FLOAT64, TG_SHAPE(2, 4)), 4, NULL, NULL, 1e-5);
  assert_non_null(y);
  assert_close(tg_item(tg_sum(tg_abs(y))), 0, 0);
  /* the module */
  tg_module *gn = tg_nn_groupnorm(2, 4, 1e-5, true);
  assert_string_equal(gn->type, "GroupNorm");
  tg_state_dict *sd = tg_module_state_dict(gn);
  assert_int_equal(sd->n, 2);
  assert_string_equal(sd->entries[0].name, "weight");
  assert_string_equal(sd->entries[1].name, "bias");
  tg_state_dict_free(sd);
  test_to_f64(gn);
  tg_tensor *xm = seq(TG_SHAPE(2, 4, 3), 0.9, 0.2);
  assert_same_bits(tg_module_forward(gn, xm), tg_group_norm(xm, 2, tg_module_get(gn, "weight"),
                                                            tg_module_get(gn, "bias"), 1e-5));
  tg_module_free(gn);
  assert_null(tg_nn_groupnorm(3, 4, 1e-5, true));
  test_expect_error("groupnorm", "divisible by num_groups");
  assert_null(tg_nn_groupnorm(0, 4, 1e-5, true));
  test_expect_error("groupnorm", NULL);
  tg_module *plain = tg_nn_groupnorm(2, 4, 1e-5, false);
  assert_int_equal(plain->n_params, 0);
  tg_module_free(plain);
}

/* ========================================================== layer_norm */

static void test_layer_norm_values(void **state) {
  (void)state;
  static const double want[3] = {1.585903067757177, 2.8637352028863328, 2.6882060315488587};
  tg_tensor *x = seq(TG_SHAPE(2, 4, 3), 0.9, 0.2);
  tg_tensor *w = seq(TG_SHAPE(4, 3), 0.3, 0.1), *b = seq(TG_SHAPE(4, 3), 0.8, 0.9);
  tg_tensor *y = tg_layer_norm(noncontig(x), TG_SHAPE(4, 3), w, b, 1e-5);
  assert_values(tg_contiguous(tg_select(tg_select(y, 0, 0), 0, 0)), want, 3, 1e-12);
  /* over the last dim: each row has mean 0 and biased variance 1 (eps aside) */
  tg_tensor *y1 = tg_layer_norm(x, TG_SHAPE(3), NULL, NULL, 0.0);
  tg_tensor *m = tg_mean_dims(y1, 1, (int[]){-1}, false), *v = tg_var_dims(y1, 1, (int[]){-1}, false, false);
  for (size_t i = 0; i < 8; i++) {
    assert_close(tg_get_flat(m, i), 0, 1e-12);
    assert_close(tg_get_flat(v, i), 1, 1e-12);
  }
  /* a 1-d input is one row */
  assert_all_close(tg_layer_norm(tg_select(tg_select(x, 0, 1), 0, 2), TG_SHAPE(3), NULL, NULL, 0.0),
                   tg_select(tg_select(y1, 0, 1), 0, 2), 1e-12);
}

static tg_tensor *ln_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_layer_norm(tg_transpose(in[0], 0, 1), TG_SHAPE(2, 3), in[1], in[2], 1e-5);
}

static void test_layer_norm_gradcheck_and_errors(void **state) {
  (void)state;
  tg_rng r = test_seeded(8);
  tg_tensor *in[3] = {test_leaf(&r, TG_SHAPE(2, 3, 2, 3)), test_leaf(&r, TG_SHAPE(2, 3)), test_leaf(&r, TG_SHAPE(2, 3))};
  assert_gradcheck(ln_fn, 3, in, NULL);
  assert_gradgradcheck(ln_fn, 3, in, NULL);
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3));
  assert_null(tg_layer_norm(x, TG_SHAPE(2), NULL, NULL, 1e-5));
  test_expect_error("layer_norm: given normalized_shape=[2], expected input with shape [*, 2], but got input of size [2,3]", NULL);
  assert_null(tg_layer_norm(x, TG_SHAPE(4, 2, 3), NULL, NULL, 1e-5));
  test_expect_error("layer_norm", "normalized_shape=[4,2,3]");
  assert_null(tg_layer_norm(x, 0, (size_t[]){1}, NULL, NULL, 1e-5));
  test_expect_error("layer_norm", "at least 1-dimensional");
  assert_null(tg_layer_norm(x, TG_SHAPE(3), tg_ones(TG_FLOAT64, TG_SHAPE(2)), NULL, 1e-5));
  test_expect_error("layer_norm", "weight");
  assert_null(tg_layer_norm(x, TG_SHAPE(2, 3), NULL, tg_ones(TG_FLOAT64, TG_SHAPE(3)), 1e-5));
  test_expect_error("layer_norm", "bias");
  assert_null(tg_layer_norm(x, 1, NULL, NULL, NULL, 1e-5));
  test_expect_error("layer_norm", "shape is NULL");
  /* the module */
  tg_module *ln = tg_nn_layernorm(TG_SHAPE(2, 3), 1e-5, true);
  assert_string_equal(ln->type, "LayerNorm");
  tg_state_dict *sd = tg_module_state_dict(ln);
  assert_int_equal(sd->n, 2);
  assert_string_equal(sd->entries[0].name, "weight");
  assert_string_equal(sd->entries[1].name, "bias");
  assert_int_equal(sd->entries[0].tensor->ndim, 2);
  tg_state_dict_free(sd);
  test_to_f64(ln);
  tg_tensor *xm = seq(TG_SHAPE(4, 2, 3), 0.9, 0.2);
  assert_same_bits(tg_module_forward(ln, xm), tg_layer_norm(xm, TG_SHAPE(2, 3), tg_module_get(ln, "weight"),
                                                            tg_module_get(ln, "bias"), 1e-5));
  assert_null(tg_module_forward(ln, tg_zeros(TG_FLOAT64, TG_SHAPE(4, 3))));
  test_expect_error("layer_norm", "normalized_shape");
  tg_module_free(ln);
  tg_module *plain = tg_nn_layernorm(TG_SHAPE(3), 1e-5, false);
  assert_int_equal(plain->n_params, 0);
  assert_non_null(tg_module_forward(plain, tg_ones(TG_FLOAT32, TG_SHAPE(2, 3))));
  tg_module_free(plain);
  assert_null(tg_nn_layernorm(0, (size_t[]){1}, 1e-5, true));
  test_expect_error("layernorm", "1 to");
}

/* =========================================================== dropout2d */

static void test_dropout2d_zeroes_channels(void **state) {
  (void)state;
  const size_t shapes[][4] = {{3, 4, 2, 2}, {2, 5, 3}, {4, 6}};
  const int nds[] = {4, 3, 2};
  for (int s = 0; s < 3; s++) {
    tg_rng r = test_seeded(10), again = test_seeded(10);
    tg_tensor *x = tg_ones(TG_FLOAT64, nds[s], shapes[s]);
    tg_tensor *y = tg_dropout2d(x, 0.4, true, &r);
    assert_non_null(y);
    size_t channels = shapes[s][0] * shapes[s][1], per = x->numel / channels, kept = 0;
    /* one draw per (n, c) in order: 3-d input is (N, C, L), as PyTorch 1.13 */
    for (size_t ch = 0; ch < channels; ch++) {
      double want = tg_rng_uniform(&again) < 0.4 ? 0.0 : 1.0 / 0.6;
      kept += want != 0;
      for (size_t i = 0; i < per; i++) assert_close(tg_get_flat(y, ch * per + i), want, 1e-15);
    }
    assert_true(kept > 0 && kept < channels);
  }
  tg_tensor *x = tg_requires_grad_(tg_ones(TG_FLOAT64, TG_SHAPE(2, 3, 2)), true);
  assert_ptr_equal(tg_dropout2d(x, 0.5, false, NULL), x);
  assert_ptr_equal(tg_dropout2d(x, 0.0, true, NULL), x);
  tg_tensor *z = tg_dropout2d(x, 1.0, true, NULL);
  assert_close(tg_item(tg_sum(tg_abs(z))), 0, 0);
  /* PyTorch: 1-d is an error once a mask is needed, not for p = 1 or eval */
  tg_tensor *v = tg_ones(TG_FLOAT64, TG_SHAPE(3));
  assert_null(tg_dropout2d(v, 0.5, true, NULL));
  test_expect_error("dropout2d", "at least 2 dimensions");
  assert_non_null(tg_dropout2d(v, 1.0, true, NULL));
  assert_ptr_equal(tg_dropout2d(v, 0.5, false, NULL), v);
  assert_null(tg_dropout2d(x, 1.5, true, NULL));
  test_expect_error("dropout2d", "[0, 1]");
  assert_null(tg_dropout2d(tg_zeros(TG_INT64, TG_SHAPE(2, 2)), 0.5, true, NULL));
  test_expect_error("dropout2d", "int64");
}

typedef struct {
  tg_module *m;
  tg_rng *rng;
} dropout_ctx;

/* the same mask on every evaluation: reseed before each forward */
static tg_tensor *dropout2d_fn(tg_tensor **in, void *p) {
  dropout_ctx *c = p;
  tg_rng_seed(c->rng, 99);
  return tg_module_forward(c->m, tg_transpose(in[0], 0, 2));
}

static void test_dropout2d_module_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(11), mask_rng;
  dropout_ctx c = {tg_nn_dropout2d(0.5, &mask_rng), &mask_rng};
  assert_non_null(c.m);
  assert_string_equal(c.m->type, "Dropout2d");
  tg_tensor *x = test_leaf(&r, TG_SHAPE(3, 4, 3, 2));
  assert_gradcheck(dropout2d_fn, 1, &x, &c);
  assert_gradgradcheck(dropout2d_fn, 1, &x, &c);
  tg_module_eval(c.m);
  assert_ptr_equal(tg_module_forward(c.m, x), x);
  tg_module_free(c.m);
  assert_null(tg_nn_dropout2d(-0.1, NULL));
  test_expect_error("dropout2d", "outside [0, 1]");
}

/* =========================================================== speed note */

/* A 4-d BatchNorm2d training step is one node: the tape holds the norm and
 * nothing of the composition */
static void test_batch_norm_is_one_node(void **state) {
  (void)state;
  tg_tensor *x = test_leaf(NULL, TG_SHAPE(4, 3, 5, 5));
  tg_tensor *w = tg_requires_grad_(tg_ones(TG_FLOAT64, TG_SHAPE(3)), true), *b = test_leaf(NULL, TG_SHAPE(3));
  tg_tensor *y = tg_batch_norm(x, NULL, NULL, w, b, true, 0.1, 1e-5);
  assert_non_null(y);
  assert_string_equal(tg_grad_fn_name(y), "NativeBatchNormBackward");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_batch_norm_bit_identical),
      TG_TEST(test_batch_norm_grads_match_composed),
      TG_TEST(test_batch_norm_gradcheck),
      TG_TEST(test_batch_norm_errors),
      TG_TEST(test_batch_norm_saved_weight_version),
      TG_TEST(test_batch_norm_is_one_node),
      TG_TEST(test_batchnorm2d_running_stats_as_torch),
      TG_TEST(test_batchnorm2d_module),
      TG_TEST(test_instance_norm_as_torch),
      TG_TEST(test_instance_norm_is_per_instance_batch_norm),
      TG_TEST(test_instance_norm_gradcheck_and_errors),
      TG_TEST(test_group_norm_values),
      TG_TEST(test_group_norm_gradcheck_and_errors),
      TG_TEST(test_layer_norm_values),
      TG_TEST(test_layer_norm_gradcheck_and_errors),
      TG_TEST(test_dropout2d_zeroes_channels),
      TG_TEST(test_dropout2d_module_gradcheck),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
