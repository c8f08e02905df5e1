/* Tests for nn/: modules, layers, initialisers, losses, state dicts.
 *
 * Every layer and loss is gradchecked in float64 (losses for each
 * reduction); forward values are compared with computations done here by
 * hand (naive loops, textbook formulas), never with library output. Modules
 * are built inside the test's scope (depth 1) on purpose: their state must
 * be persistent anyway, and tg_module_free must release all of it (the
 * suite runs under ASan with leak detection). */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

/* ------------------------------------------------------------ helpers */

static tg_tensor *f64(int ndim, const size_t *shape, const double *v) {
  tg_tensor *t = tg_from_f64(ndim, shape, v);
  assert_non_null(t);
  return t;
}

static tg_tensor *leaf64(int ndim, const size_t *shape, const double *v) {
  return tg_requires_grad_(f64(ndim, shape, v), true);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* sample mean and standard deviation of every element of t */
static void moments(const tg_tensor *t, double *mean, double *std) {
  double s = 0, ss = 0;
  for (size_t i = 0; i < t->numel; i++) s += tg_get_flat(t, i);
  *mean = s / (double)t->numel;
  for (size_t i = 0; i < t->numel; i++) {
    double d = tg_get_flat(t, i) - *mean;
    ss += d * d;
  }
  *std = sqrt(ss / (double)(t->numel - 1));
}

static double max_abs(const tg_tensor *t) {
  double m = 0;
  for (size_t i = 0; i < t->numel; i++) m = fmax(m, fabs(tg_get_flat(t, i)));
  return m;
}

/* a module applied to inputs[0]; its parameters may be further inputs */
static tg_tensor *module_fn(tg_tensor **in, void *ctx) { return tg_module_forward(ctx, in[0]); }

static const tg_reduction reductions[3] = {TG_REDUCTION_NONE, TG_REDUCTION_MEAN, TG_REDUCTION_SUM};

/* ============================================================== Linear */

static void test_linear_forward_matches_naive(void **state) {
  (void)state;
  tg_rng r = test_seeded(1);
  tg_module *lin = tg_nn_linear(5, 3, true, &r);
  assert_non_null(lin);
  assert_string_equal(lin->type, "Linear");
  tg_tensor *W = tg_module_get(lin, "weight"), *b = tg_module_get(lin, "bias");
  assert_int_equal(W->ndim, 2);
  assert_int_equal(W->shape[0], 3); /* [out, in] */
  assert_int_equal(W->shape[1], 5);
  assert_int_equal(b->shape[0], 3);

  /* batched 3-D input (2, 4, 5) -> (2, 4, 3) */
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(2, 4, 5));
  tg_tensor *y = tg_module_forward(lin, x);
  assert_non_null(y);
  assert_int_equal(y->ndim, 3);
  assert_int_equal(y->shape[2], 3);
  for (size_t bt = 0; bt < 2; bt++)
    for (size_t i = 0; i < 4; i++)
      for (size_t j = 0; j < 3; j++) {
        double acc = tg_get(b, (size_t[]){j});
        for (size_t k = 0; k < 5; k++)
          acc += tg_get(x, (size_t[]){bt, i, k}) * tg_get(W, (size_t[]){j, k});
        assert_close(tg_get(y, (size_t[]){bt, i, j}), acc, 1e-5);
      }

  /* without bias: only a weight, y = x W^T for a 1-D x */
  tg_module *nob = tg_nn_linear(5, 2, false, &r);
  assert_non_null(nob);
  assert_int_equal(nob->n_params, 1);
  assert_null(tg_module_get(nob, "bias"));
  tg_tensor *v = tg_randn(&r, TG_FLOAT32, TG_SHAPE(5));
  tg_tensor *yv = tg_module_forward(nob, v);
  assert_non_null(yv);
  assert_int_equal(yv->ndim, 1);
  tg_tensor *W2 = tg_module_get(nob, "weight");
  for (size_t j = 0; j < 2; j++) {
    double acc = 0;
    for (size_t k = 0; k < 5; k++) acc += tg_get_flat(v, k) * tg_get(W2, (size_t[]){j, k});
    assert_close(tg_get_flat(yv, j), acc, 1e-5);
  }

  /* wrong feature count and dtype: errors naming linear */
  assert_null(tg_module_forward(lin, tg_zeros(TG_FLOAT32, TG_SHAPE(2, 4))));
  test_expect_error("linear", "5 features");
  assert_null(tg_module_forward(lin, tg_zeros(TG_FLOAT64, TG_SHAPE(2, 5))));
  test_expect_error("linear", "float64");
  tg_module_free(lin);
  tg_module_free(nob);
}

static void test_linear_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(2);
  tg_module *lin = test_to_f64(tg_nn_linear(4, 3, true, &r));
  tg_tensor *x = test_leaf(&r, TG_SHAPE(5, 4));
  tg_tensor *in[3] = {x, tg_module_get(lin, "weight"), tg_module_get(lin, "bias")};
  assert_true(in[1]->requires_grad && in[1]->dtype == TG_FLOAT64);
  assert_gradcheck(module_fn, 3, in, lin);
  assert_gradgradcheck(module_fn, 3, in, lin);

  tg_module *nob = test_to_f64(tg_nn_linear(4, 2, false, &r));
  tg_tensor *in2[2] = {test_leaf(&r, TG_SHAPE(4)), tg_module_get(nob, "weight")};
  assert_gradcheck(module_fn, 2, in2, nob);

  /* a Sequential chains the gradient through every child */
  tg_module *mlp = test_to_f64(tg_nn_sequential(3, tg_nn_linear(3, 4, true, &r), tg_nn_tanh(),
                                           tg_nn_linear(4, 2, true, &r)));
  tg_tensor *in3[4] = {test_leaf(&r, TG_SHAPE(2, 3)), tg_module_get(mlp, "0.weight"),
                       tg_module_get(mlp, "2.bias"), tg_module_get(mlp, "2.weight")};
  assert_gradcheck(module_fn, 4, in3, mlp);
  tg_module_free(lin);
  tg_module_free(nob);
  tg_module_free(mlp);
}

/* naive dx, dW, db for y = x W^T + b with upstream gradient g (rows, out) */
static void linear_grads_naive(const tg_tensor *x, const tg_tensor *w, const tg_tensor *g, double *dx,
                               double *dw, double *db) {
  size_t rows = x->shape[0], in = w->shape[1], out = w->shape[0];
  size_t gi[2], xi[2], wi[2];
  memset(dx, 0, rows * in * sizeof *dx);
  memset(dw, 0, out * in * sizeof *dw);
  memset(db, 0, out * sizeof *db);
  for (size_t n = 0; n < rows; n++)
    for (size_t o = 0; o < out; o++) {
      gi[0] = n, gi[1] = o;
      double gv = tg_get(g, gi);
      db[o] += gv;
      for (size_t i = 0; i < in; i++) {
        xi[0] = n, xi[1] = i, wi[0] = o, wi[1] = i;
        dw[o * in + i] += gv * tg_get(x, xi);
        dx[n * in + i] += gv * tg_get(w, wi);
      }
    }
}

/* tg_backward writes a Linear's weight and bias gradients straight into
 * their .grad (GEMM with beta = 1): they must equal the naive sums, add up
 * over two backward passes, and the input's gradient must be right too, for
 * a non-contiguous upstream gradient and in both dtypes */
static void test_linear_backward_accumulates_into_grad(void **state) {
  (void)state;
  for (int dt = 0; dt < 2; dt++) {
    tg_rng r = test_seeded(11 + (uint64_t)dt);
    tg_module *lin = tg_nn_linear(4, 3, true, &r);
    if (dt) lin = test_to_f64(lin);
    tg_dtype t = dt ? TG_FLOAT64 : TG_FLOAT32;
    double tol = dt ? 1e-12 : 1e-5;
    tg_scope_begin();
    tg_tensor *x = tg_requires_grad_(tg_randn(&r, t, TG_SHAPE(5, 4)), true);
    tg_tensor *y = tg_module_forward(lin, x);
    assert_string_equal(tg_grad_fn_name(y), "AddmmBackward");
    /* upstream gradient: the transpose of a (3, 5) tensor, so not contiguous */
    tg_tensor *g = tg_t(tg_randn(&r, t, TG_SHAPE(3, 5)));
    assert_false(tg_is_contiguous(g));
    tg_tensor *w = tg_module_get(lin, "weight"), *b = tg_module_get(lin, "bias");
    tg_module_zero_grad(lin);
    assert_int_equal(tg_backward(y, g, true), 0);
    assert_int_equal(tg_backward(y, g, false), 0);
    double dx[20], dw[12], db[3];
    linear_grads_naive(x, w, g, dx, dw, db);
    for (size_t i = 0; i < 12; i++) assert_close(tg_get_flat(w->grad, i), 2 * dw[i], tol);
    for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(b->grad, i), 2 * db[i], tol);
    for (size_t i = 0; i < 20; i++) assert_close(tg_get_flat(x->grad, i), 2 * dx[i], tol);
    tg_scope_end();
    tg_module_free(lin);
  }
  /* without a bias: one MmBackward node, weight gradient still summed into .grad */
  tg_rng r = test_seeded(13);
  tg_module *nob = tg_nn_linear(4, 2, false, &r);
  tg_scope_begin();
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(3, 4));
  tg_tensor *y = tg_module_forward(nob, x);
  assert_string_equal(tg_grad_fn_name(y), "MmBackward");
  tg_tensor *w = tg_module_get(nob, "weight");
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  for (size_t o = 0; o < 2; o++)
    for (size_t i = 0; i < 4; i++) {
      double want = 0;
      for (size_t n = 0; n < 3; n++) want += tg_get(x, (size_t[]){n, i});
      assert_close(tg_get(w->grad, (size_t[]){o, i}), want, 1e-5);
    }
  assert_null(x->grad);
  tg_scope_end();
  tg_module_free(nob);
}

static void test_linear_init_bounds(void **state) {
  (void)state;
  tg_rng r = test_seeded(7);
  tg_module *lin = tg_nn_linear(100, 50, true, &r);
  assert_non_null(lin);
  tg_tensor *W = tg_module_get(lin, "weight"), *b = tg_module_get(lin, "bias");
  double bound = 1.0 / sqrt(100.0);
  /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both */
  assert_true(max_abs(W) <= bound);
  assert_true(max_abs(b) <= bound);
  assert_true(max_abs(W) > 0.98 * bound); /* the whole range is used */
  double mean, std;
  moments(W, &mean, &std);
  assert_close(mean, 0.0, 0.004);
  assert_close(std, bound / sqrt(3.0), 0.03 * bound / sqrt(3.0));

  /* the draws: weight first in row-major order, then bias, from the rng */
  tg_rng again = test_seeded(7);
  for (size_t i = 0; i < W->numel; i++)
    assert_close(tg_get_flat(W, i), -bound + 2 * bound * tg_rng_uniform(&again), 1e-7);
  for (size_t i = 0; i < b->numel; i++)
    assert_close(tg_get_flat(b, i), -bound + 2 * bound * tg_rng_uniform(&again), 1e-7);

  /* reproducible for a seed, different for another */
  tg_rng r7 = test_seeded(7), r8 = test_seeded(8);
  tg_module *same = tg_nn_linear(100, 50, true, &r7), *other = tg_nn_linear(100, 50, true, &r8);
  assert_non_null(same);
  assert_non_null(other);
  assert_memory_equal(tg_data(W), tg_data(tg_module_get(same, "weight")), W->numel * sizeof(float));
  assert_true(tg_get_flat(W, 0) != tg_get_flat(tg_module_get(other, "weight"), 0));
  tg_module_free(lin);
  tg_module_free(same);
  tg_module_free(other);
}

static void test_parameter_count(void **state) {
  (void)state;
  tg_rng r = test_seeded(3);
  tg_module *m = tg_nn_sequential(2, tg_nn_linear(100, 2000, true, &r), tg_nn_linear(2000, 10, true, &r));
  assert_non_null(m);
  /* 100*2000 + 2000 + 2000*10 + 10 */
  assert_int_equal(tg_module_num_parameters(m, false), 222010);
  size_t n = 0;
  tg_tensor **p = tg_module_parameters(m, &n);
  assert_non_null(p);
  assert_int_equal(n, 4);
  assert_ptr_equal(p[0], tg_module_get(m, "0.weight"));
  assert_ptr_equal(p[1], tg_module_get(m, "0.bias"));
  assert_ptr_equal(p[2], tg_module_get(m, "1.weight"));
  assert_ptr_equal(p[3], tg_module_get(m, "1.bias"));
  assert_int_equal(p[2]->shape[0], 10);
  assert_int_equal(p[2]->shape[1], 2000);
  assert_int_equal(tg_module_freeze(tg_module_child(m, "0")), 0);
  assert_int_equal(tg_module_num_parameters(m, true), 2000 * 10 + 10);
  assert_int_equal(tg_module_num_parameters(m, false), 222010);

  /* a module without parameters still gives a (non-NULL) empty array */
  tg_module *relu = tg_nn_relu();
  assert_non_null(tg_module_parameters(relu, &n));
  assert_int_equal(n, 0);
  tg_module_free(relu);
  tg_module_free(m);
}

/* ========================================================= activations */

static void test_activation_modules_forward(void **state) {
  (void)state;
  const double xv[6] = {-2.0, -0.5, 0.0, 0.3, 1.0, 2.5};
  tg_tensor *x = f64(TG_SHAPE(2, 3), xv);
  struct {
    tg_module *m;
    const char *type;
  } cases[] = {
      {tg_nn_relu(), "ReLU"},          {tg_nn_sigmoid(), "Sigmoid"},
      {tg_nn_tanh(), "Tanh"},          {tg_nn_leaky_relu(0.2), "LeakyReLU"},
      {tg_nn_elu(1.5), "ELU"},         {tg_nn_softmax(1), "Softmax"},
      {tg_nn_log_softmax(-1), "LogSoftmax"},
  };
  double expect[7][6];
  for (int i = 0; i < 6; i++) {
    double v = xv[i];
    expect[0][i] = v > 0 ? v : 0;
    expect[1][i] = 1 / (1 + exp(-v));
    expect[2][i] = (exp(v) - exp(-v)) / (exp(v) + exp(-v));
    expect[3][i] = v > 0 ? v : 0.2 * v;
    expect[4][i] = v > 0 ? v : 1.5 * (exp(v) - 1);
  }
  for (int row = 0; row < 2; row++) {
    double z = 0;
    for (int j = 0; j < 3; j++) z += exp(xv[3 * row + j]);
    for (int j = 0; j < 3; j++) {
      expect[5][3 * row + j] = exp(xv[3 * row + j]) / z;
      expect[6][3 * row + j] = xv[3 * row + j] - log(z);
    }
  }
  for (int c = 0; c < 7; c++) {
    assert_non_null(cases[c].m);
    assert_string_equal(cases[c].m->type, cases[c].type);
    tg_tensor *y = tg_module_forward(cases[c].m, x);
    assert_non_null(y);
    for (int i = 0; i < 6; i++) assert_close(tg_get_flat(y, (size_t)i), expect[c][i], 1e-12);
    tg_module_free(cases[c].m);
  }

  /* Flatten keeps dim 0 by default (start_dim 1) */
  tg_module *fl = tg_nn_flatten(1, -1), *all = tg_nn_flatten(0, -1);
  tg_tensor *t = tg_arange(TG_FLOAT32, 0, 24, 1);
  tg_tensor *t3 = tg_reshape(t, TG_SHAPE(2, 3, 4));
  tg_tensor *a = tg_module_forward(fl, t3), *b = tg_module_forward(all, t3);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->ndim, 2);
  assert_int_equal(a->shape[0], 2);
  assert_int_equal(a->shape[1], 12);
  assert_int_equal(b->ndim, 1);
  assert_int_equal(b->shape[0], 24);
  for (size_t i = 0; i < 24; i++) assert_close(tg_get_flat(a, i), (double)i, 0);
  tg_module_free(fl);
  tg_module_free(all);
}

static void test_activation_modules_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(4);
  tg_module *mods[] = {tg_nn_relu(),       tg_nn_sigmoid(),        tg_nn_tanh(),
                       tg_nn_leaky_relu(0.1), tg_nn_elu(0.7),      tg_nn_softmax(0),
                       tg_nn_log_softmax(1), tg_nn_flatten(0, -1)};
  size_t nm = sizeof mods / sizeof mods[0];
  /* values at least 0.2 away from the kinks at 0 */
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(3, 4));
  double *p = tg_data_f64(x);
  for (size_t i = 0; i < x->numel; i++) p[i] += p[i] >= 0 ? 0.2 : -0.2;
  tg_requires_grad_(x, true);
  for (size_t k = 0; k < nm; k++) {
    assert_non_null(mods[k]);
    assert_gradcheck(module_fn, 1, &x, mods[k]);
    tg_module_free(mods[k]);
  }
}

/* the activation modules of nn/activation.c: PyTorch's type names, the
 * forward is the op with the module's settings, gradients flow */
static void test_more_activation_modules(void **state) {
  (void)state;
  tg_rng r = test_seeded(41);
  tg_tensor *x = tg_requires_grad_(tg_mul_scalar(tg_randn(&r, TG_FLOAT64, TG_SHAPE(3, 4)), 3), true);
  struct {
    tg_module *m;
    const char *type;
    tg_tensor *want;
  } cases[] = {
      {tg_nn_gelu("none"), "GELU", tg_gelu(x, "none")},
      {tg_nn_gelu("tanh"), "GELU", tg_gelu(x, "tanh")},
      {tg_nn_silu(), "SiLU", tg_silu(x)},
      {tg_nn_mish(), "Mish", tg_mish(x)},
      {tg_nn_hardtanh(-0.5, 2), "Hardtanh", tg_hardtanh(x, -0.5, 2)},
      {tg_nn_relu6(), "ReLU6", tg_relu6(x)},
      {tg_nn_selu(), "SELU", tg_selu(x)},
      {tg_nn_celu(0.7), "CELU", tg_celu(x, 0.7)},
      {tg_nn_softsign(), "Softsign", tg_softsign(x)},
      {tg_nn_hardsigmoid(), "Hardsigmoid", tg_hardsigmoid(x)},
      {tg_nn_hardswish(), "Hardswish", tg_hardswish(x)},
      {tg_nn_logsigmoid(), "LogSigmoid", tg_logsigmoid(x)},
      {tg_nn_softplus(2, 1), "Softplus", tg_softplus(x, 2, 1)},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    assert_non_null(cases[c].m);
    assert_string_equal(cases[c].m->type, cases[c].type);
    tg_tensor *y = tg_module_forward(cases[c].m, x);
    assert_non_null(y);
    for (size_t i = 0; i < x->numel; i++) assert_true(tg_get_flat(y, i) == tg_get_flat(cases[c].want, i));
    assert_gradcheck(module_fn, 1, &x, cases[c].m);
    tg_module_free(cases[c].m);
  }
  /* a bad approximate is refused at construction; alpha 0 at forward, as torch */
  assert_null(tg_nn_gelu("erf"));
  assert_non_null(strstr(tg_last_error(), "approximate argument must be either none or tanh"));
  tg_clear_error();
  tg_module *celu0 = tg_nn_celu(0);
  assert_non_null(celu0);
  assert_null(tg_module_forward(celu0, x));
  assert_non_null(strstr(tg_last_error(), "celu: alpha cannot be 0"));
  tg_clear_error();
  tg_module_free(celu0);
}

/* ============================================================= Dropout */

static void test_dropout_eval_is_identity(void **state) {
  (void)state;
  tg_rng r = test_seeded(5);
  tg_module *d = tg_nn_dropout(0.5, &r);
  assert_non_null(d);
  assert_true(d->training);
  tg_module_eval(d);
  assert_false(d->training);
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(4, 6));
  tg_tensor *y = tg_module_forward(d, x);
  assert_non_null(y);
  for (size_t i = 0; i < x->numel; i++) assert_true(tg_get_flat(y, i) == tg_get_flat(x, i));
  /* p = 0 in training is also the identity */
  tg_tensor *y0 = tg_dropout(x, 0.0, true, &r);
  for (size_t i = 0; i < x->numel; i++) assert_true(tg_get_flat(y0, i) == tg_get_flat(x, i));
  tg_module_free(d);
}

static void test_dropout_train_statistics(void **state) {
  (void)state;
  tg_rng r = test_seeded(6);
  const double p = 0.3;
  tg_module *d = tg_nn_dropout(p, &r);
  tg_tensor *x = tg_requires_grad_(tg_full(TG_FLOAT32, TG_SHAPE(200, 500), 2.0), true);
  tg_tensor *y = tg_module_forward(d, x);
  assert_non_null(y);
  size_t zeros = 0;
  for (size_t i = 0; i < y->numel; i++) {
    double v = tg_get_flat(y, i);
    if (v == 0) zeros++;
    else assert_close(v, 2.0 / (1.0 - p), 1e-5); /* survivors scaled by 1/(1-p) */
  }
  /* 10^5 Bernoulli(0.3) draws: standard error 0.0015 */
  assert_close((double)zeros / (double)y->numel, p, 0.01);

  /* the gradient is the same mask: 0 where dropped, 1/(1-p) elsewhere */
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  for (size_t i = 0; i < y->numel; i++)
    assert_close(tg_get_flat(x->grad, i), tg_get_flat(y, i) / 2.0, 1e-6);

  /* p = 1 drops everything; bad p is an error naming dropout */
  tg_tensor *all = tg_dropout(x, 1.0, true, &r);
  assert_non_null(all);
  assert_close(max_abs(all), 0.0, 0);
  assert_null(tg_nn_dropout(1.5, &r));
  test_expect_error("dropout", "[0, 1]");
  assert_null(tg_dropout(x, -0.1, true, &r));
  test_expect_error("dropout", NULL);
  assert_null(tg_dropout(x, NAN, false, &r));
  test_expect_error("dropout", NULL);
  tg_module_free(d);
}

typedef struct dropout_ctx {
  tg_module *m;
  tg_rng *rng;
} dropout_ctx;

/* the same mask on every evaluation: reseed before each forward */
static tg_tensor *dropout_fn(tg_tensor **in, void *p) {
  dropout_ctx *c = p;
  tg_rng_seed(c->rng, 99);
  return tg_module_forward(c->m, in[0]);
}

static void test_dropout_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(8), mask_rng;
  dropout_ctx c = {tg_nn_dropout(0.4, &mask_rng), &mask_rng};
  assert_non_null(c.m);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(4, 5));
  assert_gradcheck(dropout_fn, 1, &x, &c);
  tg_module_free(c.m);
}

/* =========================================================== BatchNorm */

static void test_batchnorm_train_forward(void **state) {
  (void)state;
  const double xv[12] = {1, -2, 0.5, 3, 0, 1.5, -1, 4, 2.5, 0.5, 1, -0.5};
  const double wv[3] = {1.0, 2.0, 0.5}, bv[3] = {0.0, 1.0, -1.0};
  tg_module *bn = test_to_f64(tg_nn_batchnorm1d(3, 1e-5, 0.1, true));
  assert_int_equal(tg_copy_(tg_module_get(bn, "weight"), f64(TG_SHAPE(3), wv)), 0);
  assert_int_equal(tg_copy_(tg_module_get(bn, "bias"), f64(TG_SHAPE(3), bv)), 0);
  tg_tensor *y = tg_module_forward(bn, f64(TG_SHAPE(4, 3), xv));
  assert_non_null(y);
  for (int c = 0; c < 3; c++) {
    double mean = 0, var = 0;
    for (int i = 0; i < 4; i++) mean += xv[3 * i + c] / 4;
    for (int i = 0; i < 4; i++) var += (xv[3 * i + c] - mean) * (xv[3 * i + c] - mean) / 4; /* biased */
    for (int i = 0; i < 4; i++) {
      double e = (xv[3 * i + c] - mean) / sqrt(var + 1e-5) * wv[c] + bv[c];
      assert_close(tg_get(y, (size_t[]){(size_t)i, (size_t)c}), e, 1e-12);
    }
  }
  tg_module_free(bn);
}

/* running stats after two batches, by the formula with the unbiased variance */
static void check_running(tg_module *bn, const double *x1, const double *x2, size_t n, bool cumulative) {
  for (size_t c = 0; c < 3; c++) {
    double rm = 0, rv = 1;
    const double *xs[2] = {x1, x2};
    for (int s = 0; s < 2; s++) {
      double mean = 0, uvar = 0;
      for (size_t i = 0; i < n; i++) mean += xs[s][3 * i + c] / (double)n;
      for (size_t i = 0; i < n; i++)
        uvar += (xs[s][3 * i + c] - mean) * (xs[s][3 * i + c] - mean) / (double)(n - 1);
      double f = cumulative ? 1.0 / (s + 1) : 0.1;
      rm = (1 - f) * rm + f * mean;
      rv = (1 - f) * rv + f * uvar;
    }
    assert_close(tg_get_flat(tg_module_get(bn, "running_mean"), c), rm, 1e-6);
    assert_close(tg_get_flat(tg_module_get(bn, "running_var"), c), rv, 1e-6);
  }
}

static void test_batchnorm_running_stats(void **state) {
  (void)state;
  const double x1[15] = {1, 2, 3, 4, -1, 0.5, 2, 0, 1, -3, 5, 2, 0.5, 1, -1};
  const double x2[15] = {0, 1, 1, 2, 2, -2, 3, 0.5, 4, 1, -1, 0, 2, 2, 2};
  tg_module *bn = tg_nn_batchnorm1d(3, 1e-5, 0.1, true);
  tg_module *cma = tg_nn_batchnorm1d(3, 1e-5, NAN, false); /* cumulative average */
  assert_non_null(bn);
  assert_non_null(cma);
  assert_int_equal(cma->n_params, 0);
  tg_tensor *b1 = tg_to_dtype(f64(TG_SHAPE(5, 3), x1), TG_FLOAT32);
  tg_tensor *b2 = tg_to_dtype(f64(TG_SHAPE(5, 3), x2), TG_FLOAT32);
  for (int s = 0; s < 2; s++) {
    assert_non_null(tg_module_forward(bn, s ? b2 : b1));
    assert_non_null(tg_module_forward(cma, s ? b2 : b1));
  }
  check_running(bn, x1, x2, 5, false);
  check_running(cma, x1, x2, 5, true);
  assert_close(tg_item(tg_module_get(bn, "num_batches_tracked")), 2, 0);

  /* eval: normalise with the running stats, and leave them alone */
  tg_module_eval(bn);
  tg_tensor *rm = tg_module_get(bn, "running_mean"), *rv = tg_module_get(bn, "running_var");
  double rm0[3], rv0[3];
  tg_to_f64_array(rm, rm0);
  tg_to_f64_array(rv, rv0);
  tg_tensor *y = tg_module_forward(bn, b1);
  assert_non_null(y);
  for (size_t i = 0; i < 5; i++)
    for (size_t c = 0; c < 3; c++)
      assert_close(tg_get(y, (size_t[]){i, c}), (x1[3 * i + c] - rm0[c]) / sqrt(rv0[c] + 1e-5), 1e-5);
  for (size_t c = 0; c < 3; c++) assert_close(tg_get_flat(rm, c), rm0[c], 0);
  assert_close(tg_item(tg_module_get(bn, "num_batches_tracked")), 2, 0);

  /* one value per channel cannot be normalised in training */
  assert_null(tg_module_forward(cma, tg_zeros(TG_FLOAT32, TG_SHAPE(1, 3))));
  test_expect_error("batch_norm", "more than 1 value per channel");
  assert_null(tg_module_forward(bn, tg_zeros(TG_FLOAT32, TG_SHAPE(4, 5))));
  test_expect_error("batch_norm", "channels");
  tg_module_free(bn);
  tg_module_free(cma);
}

static void test_batchnorm_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(9);
  tg_module *bn = test_to_f64(tg_nn_batchnorm1d(3, 1e-5, 0.1, true));
  tg_tensor *w = tg_module_get(bn, "weight"), *b = tg_module_get(bn, "bias");
  tg_init_uniform_(w, &r, 0.5, 1.5);
  tg_init_uniform_(b, &r, -0.5, 0.5);
  tg_tensor *in[3] = {test_leaf(&r, TG_SHAPE(5, 3)), w, b};
  assert_true(bn->training);
  assert_gradcheck(module_fn, 3, in, bn);
  /* (N, C, L) input: statistics over N and L */
  tg_tensor *in3[3] = {test_leaf(&r, TG_SHAPE(4, 3, 2)), w, b};
  assert_gradcheck(module_fn, 3, in3, bn);
  /* eval mode: an affine map of x with the running stats */
  tg_module_eval(bn);
  assert_gradcheck(module_fn, 3, in, bn);
  tg_module_free(bn);
}

/* ========================================================== initialisers */

static void test_init_gain_and_fans(void **state) {
  (void)state;
  assert_close(tg_init_calculate_gain(TG_NL_LINEAR, NAN), 1.0, 0);
  assert_close(tg_init_calculate_gain(TG_NL_SIGMOID, NAN), 1.0, 0);
  assert_close(tg_init_calculate_gain(TG_NL_TANH, NAN), 5.0 / 3.0, 1e-15);
  assert_close(tg_init_calculate_gain(TG_NL_RELU, NAN), sqrt(2.0), 1e-15);
  assert_close(tg_init_calculate_gain(TG_NL_LEAKY_RELU, NAN), sqrt(2.0 / (1 + 0.01 * 0.01)), 1e-15);
  assert_close(tg_init_calculate_gain(TG_NL_LEAKY_RELU, 0.2), sqrt(2.0 / 1.04), 1e-15);
  assert_close(tg_init_calculate_gain(TG_NL_SELU, NAN), 0.75, 0);

  size_t fi = 0, fo = 0;
  assert_int_equal(tg_init_fans(tg_zeros(TG_FLOAT32, TG_SHAPE(4, 3)), &fi, &fo), 0);
  assert_int_equal(fi, 3);
  assert_int_equal(fo, 4);
  assert_int_equal(tg_init_fans(tg_zeros(TG_FLOAT32, TG_SHAPE(8, 4, 3, 3)), &fi, &fo), 0);
  assert_int_equal(fi, 4 * 9);
  assert_int_equal(fo, 8 * 9);
  tg_tensor *v = tg_zeros(TG_FLOAT32, TG_SHAPE(5));
  assert_int_equal(tg_init_fans(v, &fi, &fo), -1);
  test_expect_error("fan", "2 dims");
  assert_null(tg_init_xavier_uniform_(v, NULL, 1.0));
  test_expect_error("init_xavier_uniform_", NULL);

  tg_tensor *t = tg_empty(TG_FLOAT64, TG_SHAPE(3, 2));
  assert_non_null(tg_init_constant_(t, 2.5));
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(t, i), 2.5, 0);
  assert_non_null(tg_init_zeros_(t));
  assert_close(max_abs(t), 0, 0);
  assert_non_null(tg_init_ones_(t));
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(t, i), 1.0, 0);
  assert_null(tg_init_normal_(tg_zeros(TG_INT64, TG_SHAPE(2, 2)), NULL, 0, 1));
  test_expect_error("init_normal_", "int64");
}

/* sample std of t within 2% of expect (2*10^5 draws: standard error ~0.2%) */
static void check_std(tg_tensor *t, double expect, double bound) {
  assert_non_null(t);
  double mean, std;
  moments(t, &mean, &std);
  assert_close(mean, 0.0, 0.01 * expect);
  assert_close(std, expect, 0.02 * expect);
  if (bound > 0) assert_true(max_abs(t) <= bound);
}

static void test_init_std_statistics(void **state) {
  (void)state;
  tg_rng r = test_seeded(10);
  tg_tensor *t = tg_empty(TG_FLOAT64, TG_SHAPE(500, 400)); /* fan_out 500, fan_in 400 */
  double xs = sqrt(2.0 / 900.0);
  check_std(tg_init_xavier_uniform_(t, &r, 1.0), xs, sqrt(3.0) * xs);
  check_std(tg_init_xavier_normal_(t, &r, 2.0), 2 * xs, 0);
  check_std(tg_init_kaiming_normal_(t, &r, 0, TG_FAN_IN, TG_NL_RELU), sqrt(2.0) / sqrt(400.0), 0);
  check_std(tg_init_kaiming_normal_(t, &r, 0, TG_FAN_OUT, TG_NL_RELU), sqrt(2.0) / sqrt(500.0), 0);
  double ks = sqrt(2.0 / (1 + 0.2 * 0.2)) / sqrt(400.0);
  check_std(tg_init_kaiming_uniform_(t, &r, 0.2, TG_FAN_IN, TG_NL_LEAKY_RELU), ks, sqrt(3.0) * ks);
  check_std(tg_init_kaiming_uniform_(t, &r, 0, TG_FAN_IN, TG_NL_LINEAR), 1 / sqrt(400.0),
            sqrt(3.0 / 400.0));

  /* plain uniform and normal */
  double mean, std;
  tg_init_uniform_(t, &r, -2.0, 3.0);
  moments(t, &mean, &std);
  assert_close(mean, 0.5, 0.02);
  assert_close(std, 5.0 / sqrt(12.0), 0.02);
  for (size_t i = 0; i < t->numel; i++) assert_true(tg_get_flat(t, i) >= -2.0 && tg_get_flat(t, i) < 3.0);
  tg_init_normal_(t, &r, 1.0, 2.0);
  moments(t, &mean, &std);
  assert_close(mean, 1.0, 0.03);
  assert_close(std, 2.0, 0.04);

  /* the same seed gives the same numbers */
  tg_rng a = test_seeded(11), b = test_seeded(11);
  tg_tensor *u = tg_empty(TG_FLOAT32, TG_SHAPE(3, 4)), *v = tg_empty(TG_FLOAT32, TG_SHAPE(3, 4));
  tg_init_kaiming_normal_(u, &a, 0, TG_FAN_IN, TG_NL_RELU);
  tg_init_kaiming_normal_(v, &b, 0, TG_FAN_IN, TG_NL_RELU);
  assert_memory_equal(tg_data(u), tg_data(v), 12 * sizeof(float));
}

/* =============================================================== losses */

static const double ce_x[12] = {0.5, -1.0, 2.0, 0.1, 1.5, 0.3, -0.7, 2.2, -0.4, 0.9, 0.0, 1.1};
static const int64_t ce_t[3] = {2, 0, 3};

/* -log softmax(row)[t] per row, by hand */
static double ce_row(const double *row, int64_t t) {
  double z = 0;
  for (int j = 0; j < 4; j++) z += exp(row[j]);
  return log(z) - row[t];
}

static void test_cross_entropy_values(void **state) {
  (void)state;
  tg_tensor *t = tg_from_i64(TG_SHAPE(3), ce_t);
  double rows[3], total = 0;
  for (int i = 0; i < 3; i++) total += rows[i] = ce_row(ce_x + 4 * i, ce_t[i]);

  tg_tensor *x = leaf64(TG_SHAPE(3, 4), ce_x);
  tg_tensor *none = tg_cross_entropy(x, t, TG_REDUCTION_NONE);
  assert_non_null(none);
  assert_int_equal(none->ndim, 1);
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(none, i), rows[i], 1e-12);
  assert_close(tg_item(tg_cross_entropy(x, t, TG_REDUCTION_SUM)), total, 1e-12);
  tg_tensor *mean = tg_cross_entropy(x, t, TG_REDUCTION_MEAN);
  assert_close(tg_item(mean), total / 3, 1e-12);

  /* one node straight on the logits */
  assert_string_equal(tg_grad_fn_name(mean), "CrossEntropyBackward");
  assert_ptr_equal(mean->grad_fn->in[0], x);

  /* backward: (softmax - onehot) / N */
  assert_int_equal(tg_backward(mean, NULL, false), 0);
  for (int i = 0; i < 3; i++) {
    double z = 0;
    for (int j = 0; j < 4; j++) z += exp(ce_x[4 * i + j]);
    for (int j = 0; j < 4; j++) {
      double g = (exp(ce_x[4 * i + j]) / z - (j == ce_t[i] ? 1.0 : 0.0)) / 3.0;
      assert_close(tg_get(x->grad, (size_t[]){(size_t)i, (size_t)j}), g, 1e-12);
    }
  }

  /* large logits stay finite; a (C) input with a 0-d target is one sample */
  tg_tensor *big = f64(TG_SHAPE(2), (double[]){1000.0, 0.0});
  tg_tensor *l = tg_cross_entropy(big, tg_from_i64(0, NULL, (int64_t[]){1}), TG_REDUCTION_NONE);
  assert_non_null(l);
  assert_int_equal(l->ndim, 0);
  assert_close(tg_item(l), 1000.0, 1e-9);

  /* float32 logits give float32 loss */
  tg_tensor *x32 = tg_to_dtype(f64(TG_SHAPE(3, 4), ce_x), TG_FLOAT32);
  tg_tensor *l32 = tg_cross_entropy(x32, t, TG_REDUCTION_MEAN);
  assert_int_equal(l32->dtype, TG_FLOAT32);
  assert_close(tg_item(l32), total / 3, 1e-6);
}

typedef struct loss_ctx {
  tg_reduction r;
  tg_tensor *target;
} loss_ctx;

static tg_tensor *ce_fn(tg_tensor **in, void *p) {
  loss_ctx *c = p;
  return tg_cross_entropy(in[0], c->target, c->r);
}
static tg_tensor *nll_fn(tg_tensor **in, void *p) {
  loss_ctx *c = p;
  return tg_nll_loss(in[0], c->target, c->r);
}
static tg_tensor *bce_fn(tg_tensor **in, void *p) {
  return tg_binary_cross_entropy(in[0], in[1], ((loss_ctx *)p)->r);
}
static tg_tensor *bce_logits_fn(tg_tensor **in, void *p) {
  return tg_bce_with_logits(in[0], in[1], ((loss_ctx *)p)->r);
}
static tg_tensor *mse_fn(tg_tensor **in, void *p) {
  return tg_mse_loss(in[0], in[1], ((loss_ctx *)p)->r);
}
static tg_tensor *kl_fn(tg_tensor **in, void *p) {
  return tg_gaussian_kl(in[0], in[1], ((loss_ctx *)p)->r);
}

static void test_cross_entropy_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(12);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(5, 4));
  loss_ctx c = {TG_REDUCTION_MEAN, tg_from_i64(TG_SHAPE(5), (int64_t[]){3, 0, 1, 1, 2})};
  for (int k = 0; k < 3; k++) {
    c.r = reductions[k];
    assert_gradcheck(ce_fn, 1, &x, &c);
    assert_gradgradcheck(ce_fn, 1, &x, &c); /* the backward is itself differentiable */
  }
  /* through a non-contiguous view of the logits */
  tg_tensor *xt = test_leaf(&r, TG_SHAPE(4, 5));
  tg_tensor *v = tg_transpose(xt, 0, 1);
  tg_tensor *l = tg_cross_entropy(v, c.target, TG_REDUCTION_SUM);
  assert_int_equal(tg_backward(l, NULL, false), 0);
  assert_non_null(xt->grad);
}

static void test_nll_loss(void **state) {
  (void)state;
  tg_rng r = test_seeded(13);
  /* log-probabilities of a hand-normalised distribution */
  double lp[12];
  for (int i = 0; i < 3; i++) {
    double z = 0;
    for (int j = 0; j < 4; j++) z += exp(ce_x[4 * i + j]);
    for (int j = 0; j < 4; j++) lp[4 * i + j] = ce_x[4 * i + j] - log(z);
  }
  tg_tensor *t = tg_from_i64(TG_SHAPE(3), ce_t);
  tg_tensor *x = leaf64(TG_SHAPE(3, 4), lp);
  tg_tensor *none = tg_nll_loss(x, t, TG_REDUCTION_NONE);
  assert_non_null(none);
  double total = 0;
  for (size_t i = 0; i < 3; i++) {
    assert_close(tg_get_flat(none, i), -lp[4 * i + (size_t)ce_t[i]], 1e-12);
    total -= lp[4 * i + (size_t)ce_t[i]];
  }
  assert_close(tg_item(tg_nll_loss(x, t, TG_REDUCTION_SUM)), total, 1e-12);
  assert_close(tg_item(tg_nll_loss(x, t, TG_REDUCTION_MEAN)), total / 3, 1e-12);

  loss_ctx c = {TG_REDUCTION_MEAN, t};
  tg_tensor *g = test_leaf(&r, TG_SHAPE(3, 4));
  for (int k = 0; k < 3; k++) {
    c.r = reductions[k];
    assert_gradcheck(nll_fn, 1, &g, &c);
  }
}

static void test_loss_argument_errors(void **state) {
  (void)state;
  tg_tensor *x = f64(TG_SHAPE(3, 4), ce_x);
  assert_null(tg_cross_entropy(x, tg_from_i64(TG_SHAPE(3), (int64_t[]){0, 4, 1}), TG_REDUCTION_MEAN));
  test_expect_error("cross_entropy", "target 4 at position 1 is out of range for 4 classes");
  assert_null(tg_cross_entropy(x, tg_from_i64(TG_SHAPE(3), (int64_t[]){0, -1, 1}), TG_REDUCTION_SUM));
  test_expect_error("cross_entropy", "out of range");
  assert_null(tg_cross_entropy(x, tg_zeros(TG_FLOAT32, TG_SHAPE(3)), TG_REDUCTION_MEAN));
  test_expect_error("cross_entropy", "int64");
  assert_null(tg_cross_entropy(x, tg_from_i64(TG_SHAPE(2), (int64_t[]){0, 1}), TG_REDUCTION_MEAN));
  test_expect_error("cross_entropy", "(N, C)");
  assert_null(tg_nll_loss(x, tg_from_i64(TG_SHAPE(3), (int64_t[]){0, 1, 9}), TG_REDUCTION_MEAN));
  test_expect_error("nll_loss", "target 9");
  assert_null(tg_nll_loss(x, tg_ones(TG_FLOAT64, TG_SHAPE(3)), TG_REDUCTION_MEAN));
  test_expect_error("nll_loss", "int64");
  assert_null(tg_cross_entropy(x, tg_from_i64(TG_SHAPE(3), ce_t), (tg_reduction)7));
  test_expect_error("cross_entropy", "reduction");

  tg_tensor *p = tg_full(TG_FLOAT64, TG_SHAPE(3), 0.5), *bad = f64(TG_SHAPE(3), (double[]){0.5, 1.5, 0});
  assert_null(tg_binary_cross_entropy(bad, p, TG_REDUCTION_MEAN));
  test_expect_error("binary_cross_entropy", "1.5");
  assert_null(tg_binary_cross_entropy(p, tg_full(TG_FLOAT64, TG_SHAPE(4), 1), TG_REDUCTION_MEAN));
  test_expect_error("binary_cross_entropy", "same shape");
  assert_null(tg_bce_with_logits(p, tg_full(TG_FLOAT32, TG_SHAPE(3), 1), TG_REDUCTION_MEAN));
  test_expect_error("bce_with_logits", "dtypes");
  assert_null(tg_mse_loss(p, tg_from_i64(TG_SHAPE(3), ce_t), TG_REDUCTION_SUM));
  test_expect_error("mse_loss", "int64");
  assert_null(tg_gaussian_kl(p, NULL, TG_REDUCTION_SUM));
  test_expect_error("gaussian_kl", "NULL");
}

static void test_binary_cross_entropy(void **state) {
  (void)state;
  const double pv[4] = {0.2, 0.9, 0.5, 0.7}, yv[4] = {0, 1, 1, 0.3};
  tg_tensor *p = leaf64(TG_SHAPE(4), pv), *y = f64(TG_SHAPE(4), yv);
  tg_tensor *none = tg_binary_cross_entropy(p, y, TG_REDUCTION_NONE);
  assert_non_null(none);
  double total = 0;
  for (size_t i = 0; i < 4; i++) {
    double e = -(yv[i] * log(pv[i]) + (1 - yv[i]) * log(1 - pv[i]));
    assert_close(tg_get_flat(none, i), e, 1e-12);
    total += e;
  }
  assert_close(tg_item(tg_binary_cross_entropy(p, y, TG_REDUCTION_SUM)), total, 1e-12);
  assert_close(tg_item(tg_binary_cross_entropy(p, y, TG_REDUCTION_MEAN)), total / 4, 1e-12);

  /* log clamped at -100: p = 0 with y = 1 costs 100, not infinity */
  tg_tensor *pe = leaf64(TG_SHAPE(4), (double[]){0, 1, 0, 1});
  tg_tensor *ye = f64(TG_SHAPE(4), (double[]){1, 0, 0, 1});
  tg_tensor *le = tg_binary_cross_entropy(pe, ye, TG_REDUCTION_NONE);
  assert_non_null(le);
  assert_close(tg_get_flat(le, 0), 100.0, 0);
  assert_close(tg_get_flat(le, 1), 100.0, 0);
  assert_close(tg_get_flat(le, 2), 0.0, 0);
  assert_close(tg_get_flat(le, 3), 0.0, 0);
  /* and the gradient (p - y) / max(p(1-p), 1e-12) stays finite */
  assert_int_equal(tg_backward(tg_sum(le), NULL, false), 0);
  assert_close(tg_get_flat(pe->grad, 0), -1e12, 1);
  assert_close(tg_get_flat(pe->grad, 1), 1e12, 1);

  tg_rng r = test_seeded(14);
  tg_tensor *q = tg_requires_grad_(tg_uniform(&r, TG_FLOAT64, TG_SHAPE(3, 2), 0.1, 0.9), true);
  tg_tensor *t = tg_requires_grad_(tg_uniform(&r, TG_FLOAT64, TG_SHAPE(3, 2), 0, 1), true);
  tg_tensor *in[2] = {q, t};
  for (int k = 0; k < 3; k++) {
    loss_ctx c = {reductions[k], NULL};
    assert_gradcheck(bce_fn, 2, in, &c);
  }
  loss_ctx c = {TG_REDUCTION_MEAN, NULL};
  assert_gradgradcheck(bce_fn, 2, in, &c);
}

static void test_bce_with_logits(void **state) {
  (void)state;
  tg_rng r = test_seeded(15);
  tg_tensor *x = tg_uniform(&r, TG_FLOAT64, TG_SHAPE(10), -3, 3);
  tg_tensor *y = tg_uniform(&r, TG_FLOAT64, TG_SHAPE(10), 0, 1);
  tg_tensor *l = tg_bce_with_logits(x, y, TG_REDUCTION_NONE);
  assert_non_null(l);
  double total = 0;
  for (size_t i = 0; i < 10; i++) {
    double xi = tg_get_flat(x, i), yi = tg_get_flat(y, i), s = sigmoid(xi);
    double naive = -(yi * log(s) + (1 - yi) * log(1 - s));
    assert_close(tg_get_flat(l, i), naive, 1e-12);
    total += naive;
  }
  assert_close(tg_item(tg_bce_with_logits(x, y, TG_REDUCTION_MEAN)), total / 10, 1e-12);

  /* +-100: the naive form gives log(0); the stable one is finite and exact */
  tg_tensor *xe = leaf64(TG_SHAPE(4), (double[]){100, -100, 100, -100});
  tg_tensor *ye = f64(TG_SHAPE(4), (double[]){0, 1, 1, 0});
  tg_tensor *le = tg_bce_with_logits(xe, ye, TG_REDUCTION_NONE);
  assert_non_null(le);
  assert_close(tg_get_flat(le, 0), 100.0, 1e-12);
  assert_close(tg_get_flat(le, 1), 100.0, 1e-12);
  assert_close(tg_get_flat(le, 2), 0.0, 1e-40);
  assert_close(tg_get_flat(le, 3), 0.0, 1e-40);
  assert_int_equal(tg_backward(tg_sum(le), NULL, false), 0);
  for (size_t i = 0; i < 4; i++) assert_true(isfinite(tg_get_flat(xe->grad, i)));
  assert_close(tg_get_flat(xe->grad, 0), 1.0, 1e-12);  /* sigmoid(100) - 0 */
  assert_close(tg_get_flat(xe->grad, 1), -1.0, 1e-12); /* sigmoid(-100) - 1 */

  tg_tensor *in[2] = {tg_requires_grad_(x, true), tg_requires_grad_(y, true)};
  for (int k = 0; k < 3; k++) {
    loss_ctx c = {reductions[k], NULL};
    assert_gradcheck(bce_logits_fn, 2, in, &c);
  }
  loss_ctx c = {TG_REDUCTION_SUM, NULL};
  assert_gradgradcheck(bce_logits_fn, 2, in, &c);
}

static void test_mse_and_gaussian_kl(void **state) {
  (void)state;
  const double a[4] = {1.0, -2.0, 0.5, 3.0}, b[4] = {0.5, -1.0, 2.0, 3.0};
  tg_tensor *x = leaf64(TG_SHAPE(2, 2), a), *y = leaf64(TG_SHAPE(2, 2), b);
  double se = 0, kl = 0;
  for (int i = 0; i < 4; i++) {
    se += (a[i] - b[i]) * (a[i] - b[i]);
    kl += -0.5 * (1 + b[i] - a[i] * a[i] - exp(b[i])); /* mu = a, logvar = b */
  }
  assert_close(tg_item(tg_mse_loss(x, y, TG_REDUCTION_SUM)), se, 1e-12);
  assert_close(tg_item(tg_mse_loss(x, y, TG_REDUCTION_MEAN)), se / 4, 1e-12);
  tg_tensor *none = tg_mse_loss(x, y, TG_REDUCTION_NONE);
  assert_int_equal(none->ndim, 2);
  assert_close(tg_get_flat(none, 2), 2.25, 1e-12);
  assert_close(tg_item(tg_gaussian_kl(x, y, TG_REDUCTION_SUM)), kl, 1e-12);
  assert_close(tg_item(tg_gaussian_kl(x, y, TG_REDUCTION_MEAN)), kl / 4, 1e-12);
  /* N(0, 1) against itself: no divergence */
  tg_tensor *z = tg_zeros(TG_FLOAT64, TG_SHAPE(3));
  assert_close(tg_item(tg_gaussian_kl(z, z, TG_REDUCTION_SUM)), 0.0, 0);

  tg_rng r = test_seeded(16);
  tg_tensor *in[2] = {test_leaf(&r, TG_SHAPE(3, 2)), test_leaf(&r, TG_SHAPE(3, 2))};
  for (int k = 0; k < 3; k++) {
    loss_ctx c = {reductions[k], NULL};
    assert_gradcheck(mse_fn, 2, in, &c);
    assert_gradcheck(kl_fn, 2, in, &c);
  }
}

/* The lecture's output layer: x in R^{1x3}, h = Linear(3, 4)(x), target
 * class 2 of classes 1..4, i.e. index 1 zero-based. loss = -log p_target
 * with p = softmax(h), and dloss/dh = p - onehot. */
static void test_lecture_output_layer(void **state) {
  (void)state;
  const float xv[3] = {1.0f, -2.0f, 0.5f};
  const float Wv[12] = {0.2f, -0.1f, 0.4f, 0.5f, 0.3f, -0.2f, -0.3f, 0.8f, 0.1f, 0.0f, 0.25f, -0.6f};
  const float bv[4] = {0.1f, -0.2f, 0.0f, 0.3f};
  const size_t target = 1; /* class 2 of 1..4 */
  tg_module *lin = tg_nn_linear(3, 4, true, NULL);
  assert_non_null(lin);
  /* fixed weights, set through a state dict load */
  tg_state_dict *sd = tg_state_dict_new();
  assert_int_equal(tg_state_dict_add(sd, "weight", tg_from_f32(TG_SHAPE(4, 3), Wv), false), 0);
  assert_int_equal(tg_state_dict_add(sd, "bias", tg_from_f32(TG_SHAPE(4), bv), false), 0);
  assert_int_equal(tg_module_load_state_dict(lin, sd, true), 0);
  tg_state_dict_free(sd);

  double h[4], p[4], z = 0;
  for (int j = 0; j < 4; j++) {
    h[j] = bv[j];
    for (int k = 0; k < 3; k++) h[j] += (double)Wv[3 * j + k] * xv[k];
    z += exp(h[j]);
  }
  for (int j = 0; j < 4; j++) p[j] = exp(h[j]) / z;

  tg_tensor *x = tg_from_f32(TG_SHAPE(1, 3), xv);
  tg_tensor *logits = tg_retain_grad(tg_module_forward(lin, x));
  tg_tensor *loss = tg_cross_entropy(logits, tg_from_i64(TG_SHAPE(1), (int64_t[]){(int64_t)target}),
                                     TG_REDUCTION_MEAN);
  assert_non_null(loss);
  for (int j = 0; j < 4; j++) assert_close(tg_get_flat(logits, (size_t)j), h[j], 1e-6);
  assert_close(tg_item(loss), -log(p[target]), 1e-6);
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  tg_tensor *W = tg_module_get(lin, "weight"), *b = tg_module_get(lin, "bias");
  for (size_t j = 0; j < 4; j++) {
    double d = p[j] - (j == target ? 1.0 : 0.0);
    assert_close(tg_get_flat(logits->grad, j), d, 1e-6); /* dl/dh = p - onehot */
    assert_close(tg_get_flat(b->grad, j), d, 1e-6);
    for (size_t k = 0; k < 3; k++) assert_close(tg_get(W->grad, (size_t[]){j, k}), d * xv[k], 1e-6);
  }
  tg_module_free(lin);
}

/* ========================================================= module tree */

static void test_freeze_and_zero_grad(void **state) {
  (void)state;
  tg_rng r = test_seeded(17);
  tg_module *m = tg_nn_sequential(3, tg_nn_linear(3, 4, true, &r), tg_nn_relu(), tg_nn_linear(4, 2, true, &r));
  assert_non_null(m);
  assert_int_equal(tg_module_freeze(tg_module_child(m, "0")), 0);
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(5, 3));
  tg_tensor *t = tg_from_i64(TG_SHAPE(5), (int64_t[]){0, 1, 1, 0, 1});
  assert_int_equal(tg_backward(tg_cross_entropy(tg_module_forward(m, x), t, TG_REDUCTION_MEAN), NULL, false), 0);
  size_t n;
  tg_tensor **p = tg_module_parameters(m, &n);
  assert_int_equal(n, 4);
  assert_false(p[0]->requires_grad);
  assert_null(p[0]->grad); /* frozen: no grad, an optimizer skips it */
  assert_null(p[1]->grad);
  assert_non_null(p[2]->grad);
  assert_non_null(p[3]->grad);
  assert_true(max_abs(p[2]->grad) > 0);

  /* zero_grad zeroes in place, keeping the buffers */
  tg_tensor *g2 = p[2]->grad;
  assert_int_equal(tg_module_zero_grad(m), 0);
  assert_ptr_equal(p[2]->grad, g2);
  assert_close(max_abs(g2), 0, 0);

  /* unfreeze: the next backward reaches layer 0 */
  assert_int_equal(tg_module_unfreeze(m), 0);
  assert_true(p[0]->requires_grad);
  assert_int_equal(tg_backward(tg_cross_entropy(tg_module_forward(m, x), t, TG_REDUCTION_SUM), NULL, false), 0);
  assert_non_null(p[0]->grad);
  assert_true(max_abs(p[0]->grad) > 0);
  tg_module_free(m);
}

static tg_module *sample_model(uint64_t seed) {
  tg_rng r = test_seeded(seed);
  return tg_nn_sequential(4, tg_nn_linear(3, 4, true, &r), tg_nn_relu(),
                          tg_nn_batchnorm1d(4, 1e-5, 0.1, true), tg_nn_linear(4, 2, false, &r));
}

static void test_state_dict_names_and_round_trip(void **state) {
  (void)state;
  tg_module *a = sample_model(1), *b = sample_model(2);
  assert_non_null(a);
  assert_non_null(b);
  const char *names[] = {"0.weight",       "0.bias",        "2.weight",
                         "2.bias",         "2.running_mean", "2.running_var",
                         "2.num_batches_tracked", "3.weight"};
  const size_t shapes[][2] = {{4, 3}, {4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}, {0, 0}, {2, 4}};
  const int ndims[] = {2, 1, 1, 1, 1, 1, 0, 2};
  tg_state_dict *sd = tg_module_state_dict(a);
  assert_non_null(sd);
  assert_int_equal(sd->n, 8);
  for (size_t k = 0; k < 8; k++) {
    assert_string_equal(sd->entries[k].name, names[k]);
    tg_tensor *t = sd->entries[k].tensor;
    assert_ptr_equal(t, tg_module_get(a, names[k])); /* shared, not copied */
    assert_int_equal(t->ndim, ndims[k]);
    for (int d = 0; d < ndims[k]; d++) assert_int_equal(t->shape[d], shapes[k][d]);
  }
  assert_int_equal(sd->entries[6].tensor->dtype, TG_INT64);

  /* train a to move its BatchNorm buffers, then load a into b */
  tg_rng r = test_seeded(3);
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(6, 3));
  assert_non_null(tg_module_forward(a, x));
  assert_int_equal(tg_module_load_state_dict(b, sd, true), 0);
  for (size_t k = 0; k < 8; k++) {
    tg_tensor *ta = tg_module_get(a, names[k]), *tb = tg_module_get(b, names[k]);
    assert_ptr_not_equal(ta, tb);
    for (size_t i = 0; i < ta->numel; i++) assert_true(tg_get_flat(ta, i) == tg_get_flat(tb, i));
  }
  tg_module_eval(a);
  tg_module_eval(b);
  tg_tensor *ya = tg_module_forward(a, x), *yb = tg_module_forward(b, x);
  for (size_t i = 0; i < ya->numel; i++) assert_true(tg_get_flat(ya, i) == tg_get_flat(yb, i));
  /* loading a module's own state dict is a no-op */
  assert_int_equal(tg_module_load_state_dict(a, sd, true), 0);
  tg_state_dict_free(sd);
  tg_module_free(a);
  tg_module_free(b);
}

static void test_load_state_dict_errors(void **state) {
  (void)state;
  tg_module *m = sample_model(4);
  tg_state_dict *full = tg_module_state_dict(m);
  double w0 = tg_get_flat(tg_module_get(m, "0.weight"), 0);

  /* a partial dict: strict fails on the missing key, non-strict loads the rest */
  tg_state_dict *part = tg_state_dict_new();
  tg_tensor *w = tg_full(TG_FLOAT32, TG_SHAPE(4, 3), 0.25);
  assert_int_equal(tg_state_dict_add(part, "0.weight", w, false), 0);
  assert_int_equal(tg_module_load_state_dict(m, part, true), -1);
  test_expect_error("load_state_dict", "missing key \"0.bias\"");
  assert_close(tg_get_flat(tg_module_get(m, "0.weight"), 0), w0, 0); /* nothing copied */
  assert_int_equal(tg_module_load_state_dict(m, part, false), 0);
  assert_close(tg_get_flat(tg_module_get(m, "0.weight"), 5), 0.25, 0);

  /* unexpected key, size mismatch and dtype mismatch */
  tg_state_dict *extra = tg_state_dict_new();
  for (size_t k = 0; k < full->n; k++)
    assert_int_equal(tg_state_dict_add(extra, full->entries[k].name, full->entries[k].tensor, false), 0);
  assert_int_equal(tg_state_dict_add(extra, "4.weight", w, false), 0);
  assert_int_equal(tg_module_load_state_dict(m, extra, true), -1);
  test_expect_error("load_state_dict", "unexpected key \"4.weight\"");
  tg_state_dict *wrong = tg_state_dict_new();
  assert_int_equal(tg_state_dict_add(wrong, "3.weight", tg_zeros(TG_FLOAT32, TG_SHAPE(4, 2)), false), 0);
  assert_int_equal(tg_module_load_state_dict(m, wrong, false), -1);
  test_expect_error("size mismatch for \"3.weight\"", "[4,2]");
  tg_state_dict *dt = tg_state_dict_new();
  assert_int_equal(tg_state_dict_add(dt, "0.bias", tg_zeros(TG_FLOAT64, TG_SHAPE(4)), false), 0);
  assert_int_equal(tg_module_load_state_dict(m, dt, false), -1);
  test_expect_error("dtype mismatch for \"0.bias\"", "float64");

  /* duplicate names; ownership only of persistent tensors */
  assert_int_equal(tg_state_dict_add(dt, "0.bias", w, false), -1);
  test_expect_error("state_dict_add", "already");
  assert_int_equal(tg_state_dict_add(dt, "owned", w, true), -1);
  test_expect_error("state_dict_add", "persistent");
  tg_tensor *kept = tg_keep(tg_ones(TG_FLOAT32, TG_SHAPE(2))); /* depth 1 -> persistent */
  assert_int_equal(tg_state_dict_add(dt, "owned", kept, true), 0);
  assert_ptr_equal(tg_state_dict_get(dt, "owned"), kept);
  assert_null(tg_state_dict_get(dt, "absent"));

  tg_state_dict_free(full);
  tg_state_dict_free(part);
  tg_state_dict_free(extra);
  tg_state_dict_free(wrong);
  tg_state_dict_free(dt); /* frees kept */
  tg_module_free(m);
}

/* a custom module: y = scale * inner(x) */
static int ctx_freed;
static void count_free(void *p) {
  ctx_freed++;
  free(p);
}
static tg_tensor *scaled_forward(tg_module *m, tg_tensor *x) {
  return tg_mul(tg_module_forward(tg_module_child(m, "inner"), x), tg_module_get(m, "scale"));
}

static void test_custom_module_and_tree(void **state) {
  (void)state;
  tg_rng r = test_seeded(18);
  tg_module *m = tg_module_new("Scaled", scaled_forward);
  assert_non_null(m);
  m->ctx = malloc(16);
  m->ctx_free = count_free;
  tg_tensor *scale = tg_module_add_parameter(m, "scale", TG_FLOAT32, TG_SHAPE(2));
  assert_non_null(scale);
  assert_true(scale->requires_grad);
  assert_int_equal(scale->obj.scope, 0); /* persistent though a scope is open */
  tg_init_constant_(scale, 3.0);
  assert_int_equal(tg_module_add_child(m, "inner", tg_nn_linear(2, 2, true, &r)), 0);
  assert_non_null(tg_module_add_buffer(m, "steps", TG_INT64, 0, NULL));

  /* bad names and members */
  assert_null(tg_module_add_parameter(m, "scale", TG_FLOAT32, TG_SHAPE(1)));
  test_expect_error("already has a member named \"scale\"", NULL);
  assert_null(tg_module_add_buffer(m, "a.b", TG_FLOAT32, TG_SHAPE(1)));
  test_expect_error("module_add_buffer", "'.'");
  assert_null(tg_module_add_parameter(m, "idx", TG_INT64, TG_SHAPE(1)));
  test_expect_error("module_add_parameter", "int64");
  assert_int_equal(tg_module_add_child(m, "", tg_nn_relu()), -1); /* child freed */
  test_expect_error("module_add_child", "non-empty");
  assert_int_equal(tg_module_add_child(m, "none", NULL), -1);
  test_expect_error("module_add_child", "NULL");

  tg_state_dict *sd = tg_module_state_dict(m);
  assert_int_equal(sd->n, 4);
  assert_string_equal(sd->entries[0].name, "scale");
  assert_string_equal(sd->entries[1].name, "steps");
  assert_string_equal(sd->entries[2].name, "inner.weight");
  assert_string_equal(sd->entries[3].name, "inner.bias");
  tg_state_dict_free(sd);

  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(3, 2));
  tg_tensor *y = tg_module_forward(m, x), *inner = tg_module_forward(tg_module_child(m, "inner"), x);
  for (size_t i = 0; i < y->numel; i++) assert_close(tg_get_flat(y, i), 3.0 * tg_get_flat(inner, i), 1e-5);

  /* train/eval reach every descendant; to_ converts floats only */
  tg_module_eval(m);
  assert_false(tg_module_child(m, "inner")->training);
  tg_module_train(m, true);
  assert_true(tg_module_child(m, "inner")->training);
  assert_int_equal(tg_module_to_(m, TG_FLOAT64), 0);
  assert_int_equal(tg_module_get(m, "inner.weight")->dtype, TG_FLOAT64);
  assert_true(tg_module_get(m, "inner.weight")->requires_grad);
  assert_int_equal(tg_module_get(m, "steps")->dtype, TG_INT64);
  assert_close(tg_get_flat(tg_module_get(m, "scale"), 1), 3.0, 0);
  assert_int_equal(tg_module_to_(m, TG_INT64), -1);
  test_expect_error("module_to", "int64");
  assert_null(tg_module_child(m, "missing"));
  assert_null(tg_module_get(m, "inner.missing"));

  /* a failed constructor inside sequential: NULL, its message kept, the rest freed */
  assert_null(tg_nn_sequential(3, tg_nn_relu(), tg_nn_dropout(2.0, NULL), tg_nn_tanh()));
  test_expect_error("dropout", "outside [0, 1]");
  assert_null(tg_module_forward(NULL, x));
  test_expect_error("module_forward", "NULL");

  ctx_freed = 0;
  tg_module_free(m);
  assert_int_equal(ctx_freed, 1);
}

/* modules outlive the scope they were built in; training steps leave no
 * persistent allocation behind (BatchNorm updates its buffers in place) */
static void test_module_memory(void **state) {
  (void)state;
  tg_rng r = test_seeded(19);
  tg_scope_begin();
  tg_scope_begin();
  tg_module *m = tg_nn_sequential(5, tg_nn_linear(6, 8, true, &r), tg_nn_batchnorm1d(8, 1e-5, 0.1, true),
                                  tg_nn_relu(), tg_nn_dropout(0.2, &r), tg_nn_linear(8, 3, true, &r));
  tg_scope_end();
  tg_scope_end();
  assert_non_null(m);
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(16, 6));
  tg_tensor *t = tg_from_i64(TG_SHAPE(16), (int64_t[]){0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
  size_t live[6], mallocs[6];
  for (int step = 0; step < 6; step++) {
    tg_scope_begin();
    assert_int_equal(tg_module_zero_grad(m), 0);
    tg_tensor *loss = tg_cross_entropy(tg_module_forward(m, x), t, TG_REDUCTION_MEAN);
    assert_int_equal(tg_backward(loss, NULL, false), 0);
    tg_scope_end();
    tg_memory_stats s = tg_memory_get_stats();
    live[step] = s.live_objects;
    mallocs[step] = s.mallocs;
  }
  /* after the first step made the grads, nothing new persists or is malloc'd */
  assert_int_equal(live[5], live[1]);
  assert_int_equal(mallocs[5], mallocs[1]);
  assert_close(tg_item(tg_module_get(m, "1.num_batches_tracked")), 6, 0);
  tg_module_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_linear_forward_matches_naive),
      TG_TEST(test_linear_gradcheck),
      TG_TEST(test_linear_backward_accumulates_into_grad),
      TG_TEST(test_linear_init_bounds),
      TG_TEST(test_parameter_count),
      TG_TEST(test_activation_modules_forward),
      TG_TEST(test_activation_modules_gradcheck),
      TG_TEST(test_more_activation_modules),
      TG_TEST(test_dropout_eval_is_identity),
      TG_TEST(test_dropout_train_statistics),
      TG_TEST(test_dropout_gradcheck),
      TG_TEST(test_batchnorm_train_forward),
      TG_TEST(test_batchnorm_running_stats),
      TG_TEST(test_batchnorm_gradcheck),
      TG_TEST(test_init_gain_and_fans),
      TG_TEST(test_init_std_statistics),
      TG_TEST(test_cross_entropy_values),
      TG_TEST(test_cross_entropy_gradcheck),
      TG_TEST(test_nll_loss),
      TG_TEST(test_loss_argument_errors),
      TG_TEST(test_binary_cross_entropy),
      TG_TEST(test_bce_with_logits),
      TG_TEST(test_mse_and_gaussian_kl),
      TG_TEST(test_lecture_output_layer),
      TG_TEST(test_freeze_and_zero_grad),
      TG_TEST(test_state_dict_names_and_round_trip),
      TG_TEST(test_load_state_dict_errors),
      TG_TEST(test_custom_module_and_tree),
      TG_TEST(test_module_memory),
  };
  int rc = cmocka_run_group_tests_name("nn", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
