/* Losses with PyTorch's options (nn/loss_class.c): float64 gradcheck and
 * gradgradcheck, forward values against loops written here, and errors.
 * (tests/oracle compares the same losses with PyTorch itself.) */
#include <stdio.h>
#include <string.h>

#include "tg_test.h"

static tg_rng seeded(uint64_t seed) {
  tg_rng r;
  tg_rng_seed(&r, seed);
  return r;
}

static void expect_error(const char *needle) {
  if (!strstr(tg_last_error(), needle)) fail_msg("error '%s' does not mention '%s'", tg_last_error(), needle);
  tg_clear_error();
}

/* -log softmax(x[n, :, j])[c] for an (N, C, D) input, by hand */
static double neg_log_softmax(const tg_tensor *x, size_t n, size_t c, size_t j) {
  size_t C = x->shape[1];
  double m = -INFINITY, s = 0;
  for (size_t k = 0; k < C; k++) m = fmax(m, tg_get(x, (size_t[]){n, k, j}));
  for (size_t k = 0; k < C; k++) s += exp(tg_get(x, (size_t[]){n, k, j}) - m);
  return m + log(s) - tg_get(x, (size_t[]){n, c, j});
}

typedef struct ce_ctx {
  tg_tensor *target;
  tg_class_loss_opts o;
  bool transposed; /* the input is a transposed view of the leaf */
} ce_ctx;

static tg_tensor *ce_fn(tg_tensor **in, void *p) {
  ce_ctx *c = p;
  tg_tensor *x = c->transposed ? tg_transpose(in[0], 1, 2) : in[0];
  return tg_cross_entropy_with(x, c->target, c->o);
}

/* (N, C, D) with weights, an ignored target and every reduction: the
 * forward against the loop above, gradcheck and gradgradcheck */
static void test_cross_entropy_spatial_weighted(void **state) {
  (void)state;
  tg_rng r = seeded(11);
  size_t N = 3, C = 4, D = 2;
  tg_tensor *x = tg_requires_grad_(tg_randn(&r, TG_FLOAT64, TG_SHAPE(N, C, D)), true);
  int64_t tv[] = {0, 3, 2, 1, -100, 2}; /* (N, D) */
  tg_tensor *t = tg_from_i64(TG_SHAPE(N, D), tv);
  double wv[] = {0.5, 1.0, 2.0, 1.5};
  tg_class_loss_opts o = tg_class_loss_defaults();
  o.weight = tg_from_f64(TG_SHAPE(C), wv);
  double total = 0, wsum = 0;
  for (size_t n = 0; n < N; n++)
    for (size_t j = 0; j < D; j++) {
      int64_t c = tv[n * D + j];
      if (c == -100) continue;
      total += wv[c] * neg_log_softmax(x, n, (size_t)c, j);
      wsum += wv[c];
    }
  o.reduction = TG_REDUCTION_SUM;
  assert_close(tg_item(tg_cross_entropy_with(x, t, o)), total, 1e-12);
  o.reduction = TG_REDUCTION_MEAN;
  assert_close(tg_item(tg_cross_entropy_with(x, t, o)), total / wsum, 1e-12);
  o.reduction = TG_REDUCTION_NONE;
  tg_tensor *none = tg_cross_entropy_with(x, t, o);
  assert_non_null(none);
  assert_int_equal(none->ndim, 2);
  assert_close(tg_get(none, (size_t[]){2, 0}), 0.0, 0); /* the ignored target */
  assert_close(tg_get(none, (size_t[]){1, 1}), wv[1] * neg_log_softmax(x, 1, 1, 1), 1e-12);
  ce_ctx c = {t, o, false};
  for (int red = 0; red < 3; red++) {
    c.o.reduction = (tg_reduction)red;
    assert_gradcheck(ce_fn, 1, &x, &c);
    assert_gradgradcheck(ce_fn, 1, &x, &c);
  }
}

/* label smoothing on a non-contiguous input: (1 - ls) nll + ls/C of the
 * sum over classes, each weighted; mean over the weights kept */
static void test_cross_entropy_label_smoothing(void **state) {
  (void)state;
  tg_rng r = seeded(12);
  size_t N = 2, C = 3, D = 3;
  /* leaf (N, D, C); the loss sees its transpose (N, C, D) */
  tg_tensor *leaf = tg_requires_grad_(tg_randn(&r, TG_FLOAT64, TG_SHAPE(N, D, C)), true);
  tg_tensor *x = tg_transpose(leaf, 1, 2);
  int64_t tv[] = {2, 0, 1, 1, 1, 0};
  tg_tensor *t = tg_from_i64(TG_SHAPE(N, D), tv);
  double ls = 0.2;
  tg_class_loss_opts o = tg_class_loss_defaults();
  o.label_smoothing = ls;
  o.ignore_index = 1; /* a real class can be the one ignored */
  double nll = 0, smooth = 0, kept = 0;
  for (size_t n = 0; n < N; n++)
    for (size_t j = 0; j < D; j++) {
      int64_t c = tv[n * D + j];
      if (c == 1) continue;
      nll += neg_log_softmax(x, n, (size_t)c, j);
      for (size_t k = 0; k < C; k++) smooth += neg_log_softmax(x, n, k, j);
      kept++;
    }
  double want = (1 - ls) * nll / kept + ls / (double)C * smooth / kept;
  assert_close(tg_item(tg_cross_entropy_with(x, t, o)), want, 1e-12);
  ce_ctx c = {t, o, true};
  assert_gradcheck(ce_fn, 1, &leaf, &c);
  assert_gradgradcheck(ce_fn, 1, &leaf, &c);
}

static tg_tensor *ce_prob_fn(tg_tensor **in, void *p) {
  ce_ctx *c = p;
  return tg_cross_entropy_with(in[0], in[1], c->o);
}

/* probability targets: gradient for the input and the target */
static void test_cross_entropy_probability_targets(void **state) {
  (void)state;
  tg_rng r = seeded(13);
  tg_tensor *x = tg_requires_grad_(tg_randn(&r, TG_FLOAT64, TG_SHAPE(4, 3)), true);
  tg_tensor *p = tg_requires_grad_(tg_uniform(&r, TG_FLOAT64, TG_SHAPE(4, 3), 0.1, 0.9), true);
  double want = 0;
  for (size_t n = 0; n < 4; n++) {
    double m = -INFINITY, s = 0;
    for (size_t k = 0; k < 3; k++) m = fmax(m, tg_get(x, (size_t[]){n, k}));
    for (size_t k = 0; k < 3; k++) s += exp(tg_get(x, (size_t[]){n, k}) - m);
    for (size_t k = 0; k < 3; k++)
      want -= tg_get(p, (size_t[]){n, k}) * (tg_get(x, (size_t[]){n, k}) - m - log(s));
  }
  ce_ctx c = {NULL, tg_class_loss_defaults(), false};
  assert_close(tg_item(tg_cross_entropy_with(x, p, c.o)), want / 4, 1e-12);
  tg_tensor *in[] = {x, p};
  c.o.label_smoothing = 0.3;
  c.o.weight = tg_from_f64(TG_SHAPE(3), (double[]){1, 2, 0.5});
  assert_gradcheck(ce_prob_fn, 2, in, &c);
  assert_gradgradcheck(ce_prob_fn, 2, in, &c);
}

/* every target ignored: the mean is NaN and the gradient 0, as PyTorch's */
static void test_cross_entropy_all_ignored(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_ones(TG_FLOAT64, TG_SHAPE(2, 3)), true);
  tg_tensor *t = tg_from_i64(TG_SHAPE(2), (int64_t[]){-100, -100});
  tg_tensor *l = tg_cross_entropy(x, t, TG_REDUCTION_MEAN);
  assert_true(isnan(tg_item(l)));
  assert_int_equal(tg_backward(l, NULL, false), 0);
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(x->grad, i), 0.0, 0);
  assert_close(tg_item(tg_nll_loss(x, t, TG_REDUCTION_SUM)), 0.0, 0);
}

/* PyTorch's default ignore_index reaches the plain calls too; (N, C, D)
 * inputs go through tg_cross_entropy unchanged */
static void test_plain_calls_take_pytorch_defaults(void **state) {
  (void)state;
  tg_rng r = seeded(14);
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(3, 4));
  tg_tensor *t = tg_from_i64(TG_SHAPE(3), (int64_t[]){1, -100, 3});
  double want = (neg_log_softmax(tg_unsqueeze(x, 2), 0, 1, 0) + neg_log_softmax(tg_unsqueeze(x, 2), 2, 3, 0)) / 2;
  assert_close(tg_item(tg_cross_entropy(x, t, TG_REDUCTION_MEAN)), want, 1e-12);
  tg_tensor *x3 = tg_randn(&r, TG_FLOAT64, TG_SHAPE(2, 3, 5));
  tg_tensor *t3 = tg_from_i64(TG_SHAPE(2, 5), (int64_t[]){0, 1, 2, 0, 1, 2, 2, 1, 0, 0});
  tg_tensor *l = tg_cross_entropy(x3, t3, TG_REDUCTION_NONE);
  assert_non_null(l);
  assert_int_equal(l->ndim, 2);
  assert_close(tg_get(l, (size_t[]){1, 3}), neg_log_softmax(x3, 1, 0, 3), 1e-12);
  /* nll_loss on log-probabilities gives the same numbers */
  tg_tensor *lp = tg_log_softmax(x3, 1);
  assert_close(tg_item(tg_nll_loss(lp, t3, TG_REDUCTION_SUM)),
               tg_item(tg_cross_entropy(x3, t3, TG_REDUCTION_SUM)), 1e-12);
}

static void test_class_loss_errors(void **state) {
  (void)state;
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 4));
  tg_tensor *t = tg_zeros(TG_INT64, TG_SHAPE(2, 4));
  tg_class_loss_opts o = tg_class_loss_defaults();
  o.weight = tg_ones(TG_FLOAT64, TG_SHAPE(4));
  assert_null(tg_cross_entropy_with(x, t, o));
  expect_error("weight");
  o.weight = tg_ones(TG_FLOAT32, TG_SHAPE(3));
  assert_null(tg_cross_entropy_with(x, t, o));
  expect_error("dtype");
  o = tg_class_loss_defaults();
  o.label_smoothing = 1.5;
  assert_null(tg_cross_entropy_with(x, t, o));
  expect_error("label_smoothing");
  o = tg_class_loss_defaults();
  assert_null(tg_cross_entropy_with(x, tg_zeros(TG_INT64, TG_SHAPE(2, 3)), o));
  expect_error("targets of shape");
  assert_null(tg_cross_entropy_with(x, tg_full(TG_INT64, TG_SHAPE(2, 4), 3), o));
  expect_error("out of range");
  assert_null(tg_nll_loss_with(x, tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 4)), o));
  expect_error("int64 class indices");
  assert_null(tg_cross_entropy_with(tg_scalar(TG_FLOAT64, 1), tg_scalar(TG_INT64, 0), o));
  expect_error("0-d");
  o.reduction = (tg_reduction)7;
  assert_null(tg_cross_entropy_with(x, t, o));
  expect_error("reduction");
}

/* ------------------------------------------- regression and ranking */

typedef struct pair_ctx {
  int which;
  tg_reduction r;
} pair_ctx;

/* the pair losses on (input, target): target broadcast from a row, input
 * a transposed view of its leaf */
static tg_tensor *pair_fn(tg_tensor **in, void *p) {
  pair_ctx *c = p;
  tg_tensor *x = tg_t(in[0]), *y = in[1];
  switch (c->which) {
  case 0: return tg_l1_loss(x, y, c->r);
  case 1: return tg_smooth_l1_loss(x, y, c->r, 0.7);
  case 2: return tg_huber_loss(x, y, c->r, 0.7);
  case 3: return tg_kl_div(x, tg_sigmoid(y), c->r, false);
  case 4: return tg_kl_div(x, y, c->r, true);
  case 5: return tg_poisson_nll_loss(x, tg_add_scalar(tg_abs(y), 0.5), true, true, 1e-8, c->r);
  default: return tg_poisson_nll_loss(tg_add_scalar(tg_abs(x), 0.5), tg_abs(y), false, false, 1e-8, c->r);
  }
}

static void test_pair_losses_gradcheck(void **state) {
  (void)state;
  tg_rng r = seeded(21);
  tg_tensor *in[2];
  for (int which = 0; which < 7; which++)
    for (int red = 0; red < 3; red++) {
      pair_ctx c = {which, (tg_reduction)red};
      in[0] = tg_requires_grad_(tg_randn(&r, TG_FLOAT64, TG_SHAPE(4, 3)), true); /* seen as (3, 4) */
      in[1] = tg_requires_grad_(tg_randn(&r, TG_FLOAT64, TG_SHAPE(4)), true);   /* broadcast */
      assert_gradcheck(pair_fn, 2, in, &c);
      assert_gradgradcheck(pair_fn, 2, in, &c);
    }
}

/* each element by its textbook formula */
static void test_pair_losses_values(void **state) {
  (void)state;
  double xv[] = {-2.0, -0.3, 0.1, 0.9, 2.5}, yv[] = {0.5, 0.2, -0.4, 1.0, 0.3};
  tg_tensor *x = tg_from_f64(TG_SHAPE(5), xv), *y = tg_from_f64(TG_SHAPE(5), yv);
  double l1 = 0, sl1 = 0, hub = 0, kl = 0, pois = 0;
  for (int i = 0; i < 5; i++) {
    double d = xv[i] - yv[i], ad = fabs(d), t = fabs(yv[i]) + 0.5;
    l1 += ad;
    sl1 += ad < 0.5 ? 0.5 * d * d / 0.5 : ad - 0.25;
    hub += ad < 0.5 ? 0.5 * d * d : 0.5 * (ad - 0.25);
    kl += exp(yv[i]) * (yv[i] - xv[i]);
    pois += exp(xv[i]) - t * xv[i] + (t > 1 ? t * log(t) - t + 0.5 * log(2 * M_PI * t) : 0);
  }
  assert_close(tg_item(tg_l1_loss(x, y, TG_REDUCTION_SUM)), l1, 1e-12);
  assert_close(tg_item(tg_smooth_l1_loss(x, y, TG_REDUCTION_MEAN, 0.5)), sl1 / 5, 1e-12);
  assert_close(tg_item(tg_smooth_l1_loss(x, y, TG_REDUCTION_SUM, 0)), l1, 1e-12);
  assert_close(tg_item(tg_huber_loss(x, y, TG_REDUCTION_SUM, 0.5)), hub, 1e-12);
  assert_close(tg_item(tg_kl_div(x, y, TG_REDUCTION_SUM, true)), kl, 1e-12);
  tg_tensor *t = tg_add_scalar(tg_abs(y), 0.5);
  assert_close(tg_item(tg_poisson_nll_loss(x, t, true, true, 1e-8, TG_REDUCTION_SUM)), pois, 1e-12);
  /* kl_div: 0 log 0 = 0, and batchmean divides by dim 0 */
  tg_tensor *p = tg_from_f64(TG_SHAPE(2, 2), (double[]){0, 1, 0.25, 0.75});
  tg_tensor *lq = tg_from_f64(TG_SHAPE(2, 2), (double[]){-1, -2, -0.5, -0.1});
  double want = (1 * (log(1) + 2) + 0.25 * (log(0.25) + 0.5) + 0.75 * (log(0.75) + 0.1)) / 2;
  assert_close(tg_item(tg_kl_div(lq, p, TG_REDUCTION_BATCHMEAN, false)), want, 1e-12);
  /* the margin losses and the cosine */
  tg_tensor *a = tg_from_f64(TG_SHAPE(2, 2), (double[]){1, 0, 1, 1});
  tg_tensor *b = tg_from_f64(TG_SHAPE(2, 2), (double[]){0, 1, 1, 1});
  tg_tensor *cs = tg_cosine_similarity(a, b, 1, 1e-8);
  assert_close(tg_get_flat(cs, 0), 0.0, 1e-12);
  assert_close(tg_get_flat(cs, 1), 1.0, 1e-12);
  tg_tensor *ys = tg_from_f64(TG_SHAPE(2), (double[]){-1, 1});
  assert_close(tg_item(tg_cosine_embedding_loss(a, b, ys, -0.5, TG_REDUCTION_SUM)), 0.5, 1e-9);
  tg_tensor *m = tg_margin_ranking_loss(tg_from_f64(TG_SHAPE(2), (double[]){1, 3}),
                                        tg_from_f64(TG_SHAPE(2), (double[]){2, 1}), ys, 0.5, TG_REDUCTION_NONE);
  assert_close(tg_get_flat(m, 0), 0.0, 0);   /* max(0, (1 - 2) + 0.5) */
  assert_close(tg_get_flat(m, 1), 0.0, 0);   /* max(0, -(3 - 1) + 0.5) */
}

static tg_tensor *ranking_fn(tg_tensor **in, void *p) {
  int which = *(int *)p;
  tg_tensor *y = tg_from_f64(TG_SHAPE(3), (double[]){1, -1, 1});
  if (which == 0) return tg_margin_ranking_loss(in[0], in[1], y, 0.3, TG_REDUCTION_MEAN);
  if (which == 1) return tg_cosine_embedding_loss(tg_t(in[0]), tg_t(in[1]), y, 0.1, TG_REDUCTION_SUM);
  return tg_cosine_similarity(tg_t(in[0]), in[1], 0, 1e-8);
}

static void test_ranking_losses_gradcheck(void **state) {
  (void)state;
  tg_rng r = seeded(22);
  for (int which = 0; which < 3; which++) {
    tg_tensor *in[2];
    if (which == 0) { /* vectors */
      in[0] = test_leaf(&r, TG_SHAPE(3));
      in[1] = test_leaf(&r, TG_SHAPE(3));
    } else { /* (4, 3) leaves seen transposed; the cosine's second broadcasts */
      in[0] = test_leaf(&r, TG_SHAPE(4, 3));
      in[1] = which == 1 ? test_leaf(&r, TG_SHAPE(4, 3)) : test_leaf(&r, TG_SHAPE(3, 1));
    }
    assert_gradcheck(ranking_fn, 2, in, &which);
    assert_gradgradcheck(ranking_fn, 2, in, &which);
  }
}

static void test_regression_loss_errors(void **state) {
  (void)state;
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)), *y = tg_zeros(TG_FLOAT64, TG_SHAPE(4));
  assert_null(tg_l1_loss(x, y, TG_REDUCTION_MEAN));
  expect_error("l1_loss: input [2,3] and target [4] do not broadcast");
  assert_null(tg_smooth_l1_loss(x, x, TG_REDUCTION_MEAN, -1));
  expect_error("beta");
  assert_null(tg_huber_loss(x, x, TG_REDUCTION_MEAN, 0));
  expect_error("delta");
  assert_null(tg_l1_loss(x, x, TG_REDUCTION_BATCHMEAN));
  expect_error("kl_div's only");
  assert_null(tg_margin_ranking_loss(x, x, tg_zeros(TG_FLOAT64, TG_SHAPE(3)), 0, TG_REDUCTION_MEAN));
  expect_error("same number of dims");
  assert_null(tg_cosine_embedding_loss(x, x, tg_zeros(TG_FLOAT64, TG_SHAPE(3)), 0, TG_REDUCTION_MEAN));
  expect_error("cosine_embedding_loss");
  assert_null(tg_poisson_nll_loss(x, tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3)), true, false, 1e-8, TG_REDUCTION_MEAN));
  expect_error("poisson_nll_loss");
  assert_null(tg_cosine_similarity(x, y, 1, 1e-8));
  expect_error("cosine_similarity");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_cross_entropy_spatial_weighted),
      TG_TEST(test_cross_entropy_label_smoothing),
      TG_TEST(test_cross_entropy_probability_targets),
      TG_TEST(test_cross_entropy_all_ignored),
      TG_TEST(test_plain_calls_take_pytorch_defaults),
      TG_TEST(test_class_loss_errors),
      TG_TEST(test_pair_losses_gradcheck),
      TG_TEST(test_pair_losses_values),
      TG_TEST(test_ranking_losses_gradcheck),
      TG_TEST(test_regression_loss_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
