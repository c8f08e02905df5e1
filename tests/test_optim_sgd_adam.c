/* SGD, Adam, AdamW, RMSprop and Adagrad against the reference algorithms
 * of optim_ref.h, in float64 and float32. */
#include "optim_ref.h"

/* -------------------------------------------------------------- SGD */

static void test_sgd_plain(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.1};
  run_variant(&(variant){make_sgd, ref_sgd, &o, {NULL}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_sgd_momentum(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.1, .momentum = 0.9};
  run_variant(&(variant){make_sgd, ref_sgd, &o, {"momentum_buffer"}, 0}, TG_FLOAT64, F64_TOL);
}

/* the lecture form: momentum = dampening = alpha gives D = aD + (1-a)g */
static void test_sgd_dampening(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.1, .momentum = 0.9, .dampening = 0.9};
  run_variant(&(variant){make_sgd, ref_sgd, &o, {"momentum_buffer"}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_sgd_nesterov(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.05, .momentum = 0.9, .nesterov = true};
  run_variant(&(variant){make_sgd, ref_sgd, &o, {"momentum_buffer"}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_sgd_weight_decay(void **state) {
  (void)state;
  tg_sgd_opts plain = {.lr = 0.1, .weight_decay = 0.1};
  run_variant(&(variant){make_sgd, ref_sgd, &plain, {NULL}, 0}, TG_FLOAT64, F64_TOL);
  tg_sgd_opts mom = {.lr = 0.1, .momentum = 0.5, .dampening = 0.2, .weight_decay = 0.1};
  run_variant(&(variant){make_sgd, ref_sgd, &mom, {"momentum_buffer"}, 0}, TG_FLOAT64, F64_TOL);
}

/* By hand: loss = 2p, so g = 2 every step; lr .1, momentum = dampening = .9.
 * PyTorch's first step sets buf = g = 2 (no dampening): p = -0.2; the second
 * keeps buf = .9*2 + .1*2 = 2: p = -0.4. A buffer started at zero and
 * dampened would give buf = 0.2 and p = -0.02 after one step. */
static void test_sgd_lecture_form_by_hand(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, 1, (double[]){0.0});
  tg_optimizer *opt = tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.9});
  assert_non_null(opt);
  const double want_p[2] = {-0.2, -0.4};
  for (int s = 0; s < 2; s++) {
    tg_scope_begin();
    assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(p, 2.0)), NULL, false), 0);
    tg_scope_end();
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
    assert_close(tg_get_flat(p, 0), want_p[s], 1e-15);
    assert_close(state_value(opt, "0.momentum_buffer", 0), 2.0, 1e-15);
  }
  tg_optim_free(opt);
  tg_free(p);
}

/* ------------------------------------------------------------- Adam */

static void test_adam(void **state) {
  (void)state;
  tg_adam_opts o = tg_adam_defaults();
  assert_close(o.lr, 1e-3, 0);
  assert_close(o.beta1, 0.9, 0);
  assert_close(o.beta2, 0.999, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_close(o.weight_decay, 0, 0);
  assert_false(o.amsgrad);
  o.lr = 0.1;
  run_variant(&(variant){make_adam, ref_adam, &o, {"exp_avg", "exp_avg_sq"}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_adam_weight_decay(void **state) {
  (void)state;
  tg_adam_opts o = tg_adam_defaults();
  o.lr = 0.1;
  o.weight_decay = 0.1;
  run_variant(&(variant){make_adam, ref_adam, &o, {"exp_avg", "exp_avg_sq"}, 0}, TG_FLOAT64, F64_TOL);
}

/* beta2 .5 lets exp_avg_sq fall as the gradients shrink, so the running max
 * really differs from it (checked at the end) */
static void test_adam_amsgrad(void **state) {
  (void)state;
  tg_adam_opts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.5, .eps = 1e-8, .amsgrad = true};
  variant v = {make_adam, ref_adam, &o, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, 0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  /* the same run again, to look at the max against exp_avg_sq */
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_adam_new(&p, 1, o);
  for (int s = 0; s < STEPS; s++) {
    quad_backward(p);
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
  }
  bool differs = false;
  for (size_t i = 0; i < N; i++) {
    double v2 = state_value(opt, "0.exp_avg_sq", i), vmax = state_value(opt, "0.max_exp_avg_sq", i);
    assert_true(vmax >= v2);
    differs |= vmax > v2 * (1 + 1e-6);
  }
  assert_true(differs);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_adamw(void **state) {
  (void)state;
  tg_adam_opts d = tg_adamw_defaults();
  assert_close(d.weight_decay, 1e-2, 0);
  assert_close(d.lr, 1e-3, 0);
  tg_adam_opts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
  run_variant(&(variant){make_adamw, ref_adamw, &o, {"exp_avg", "exp_avg_sq"}, 0}, TG_FLOAT64, F64_TOL);
  o.amsgrad = true;
  o.beta2 = 0.5;
  run_variant(&(variant){make_adamw, ref_adamw, &o, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, 0},
              TG_FLOAT64, F64_TOL);
}

/* ---------------------------------------------------------- RMSprop */

static void test_rmsprop_plain(void **state) {
  (void)state;
  tg_rmsprop_opts o = tg_rmsprop_defaults();
  assert_close(o.lr, 1e-2, 0);
  assert_close(o.alpha, 0.99, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_close(o.momentum, 0, 0);
  assert_false(o.centered);
  run_variant(&(variant){make_rmsprop, ref_rmsprop, &o, {"square_avg"}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_rmsprop_momentum(void **state) {
  (void)state;
  tg_rmsprop_opts o = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.9, .weight_decay = 0.05};
  run_variant(&(variant){make_rmsprop, ref_rmsprop, &o, {"square_avg", "momentum_buffer"}, 0},
              TG_FLOAT64, F64_TOL);
}

static void test_rmsprop_centered(void **state) {
  (void)state;
  tg_rmsprop_opts o = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .centered = true};
  run_variant(&(variant){make_rmsprop, ref_rmsprop, &o, {"square_avg", NULL, "grad_avg"}, 0},
              TG_FLOAT64, F64_TOL);
  o.momentum = 0.5;
  run_variant(&(variant){make_rmsprop, ref_rmsprop, &o, {"square_avg", "momentum_buffer", "grad_avg"}, 0},
              TG_FLOAT64, F64_TOL);
}

/* ---------------------------------------------------------- Adagrad */

static void test_adagrad_lr_decay(void **state) {
  (void)state;
  tg_adagrad_opts d = tg_adagrad_defaults();
  assert_close(d.lr, 1e-2, 0);
  assert_close(d.eps, 1e-10, 0);
  assert_close(d.lr_decay + d.weight_decay + d.initial_accumulator_value, 0, 0);
  tg_adagrad_opts o = {.lr = 0.5, .lr_decay = 0.1, .eps = 1e-10};
  run_variant(&(variant){make_adagrad, ref_adagrad, &o, {"sum"}, 0}, TG_FLOAT64, F64_TOL);
  tg_adagrad_opts o2 = {.lr = 0.5, .lr_decay = 0.1, .weight_decay = 0.05,
                        .initial_accumulator_value = 0.1, .eps = 1e-10};
  run_variant(&(variant){make_adagrad, ref_adagrad, &o2, {"sum"}, .init = 0.1}, TG_FLOAT64, F64_TOL);
}

/* ---------------------------------------------- float32 parameters */

static void test_float32_every_optimizer(void **state) {
  (void)state;
  tg_sgd_opts sgd = {.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01};
  tg_adam_opts adam = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.5, .eps = 1e-8, .weight_decay = 0.1,
                       .amsgrad = true};
  tg_rmsprop_opts rms = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.5, .centered = true};
  tg_adagrad_opts ada = {.lr = 0.5, .lr_decay = 0.1, .initial_accumulator_value = 0.1, .eps = 1e-10};
  const variant vs[] = {
      {make_sgd, ref_sgd, &sgd, {"momentum_buffer"}, 0},
      {make_adam, ref_adam, &adam, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, 0},
      {make_adamw, ref_adamw, &adam, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, 0},
      {make_rmsprop, ref_rmsprop, &rms, {"square_avg", "momentum_buffer", "grad_avg"}, 0},
      {make_adagrad, ref_adagrad, &ada, {"sum"}, 0.1},
  };
  for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) run_variant(&vs[k], TG_FLOAT32, F32_TOL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_sgd_plain),
      TG_TEST(test_sgd_momentum),
      TG_TEST(test_sgd_dampening),
      TG_TEST(test_sgd_nesterov),
      TG_TEST(test_sgd_weight_decay),
      TG_TEST(test_sgd_lecture_form_by_hand),
      TG_TEST(test_adam),
      TG_TEST(test_adam_weight_decay),
      TG_TEST(test_adam_amsgrad),
      TG_TEST(test_adamw),
      TG_TEST(test_rmsprop_plain),
      TG_TEST(test_rmsprop_momentum),
      TG_TEST(test_rmsprop_centered),
      TG_TEST(test_adagrad_lr_decay),
      TG_TEST(test_float32_every_optimizer),
  };
  int rc = cmocka_run_group_tests_name("optim_sgd_adam", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
