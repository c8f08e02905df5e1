/* Adamax, Adadelta, NAdam and RAdam against the reference algorithms of
 * optim_ref.h and numbers printed by torch 1.13; maximize for every
 * optimizer. */
#include "optim_ref.h"

/* ------------------------------------------------- Adamax, Adadelta */

static void test_adamax(void **state) {
  (void)state;
  tg_adamax_opts o = tg_adamax_defaults();
  assert_close(o.lr, 2e-3, 0);
  assert_close(o.beta1, 0.9, 0);
  assert_close(o.beta2, 0.999, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_false(o.maximize);
  o.lr = 0.1;
  variant v = {make_adamax, ref_adamax, &o, {"exp_avg", "exp_inf"}, 0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  run_variant(&v, TG_FLOAT32, F32_TOL);
  o.weight_decay = 0.2;
  o.beta2 = 0.5; /* lets the decayed max fall below |g|+eps */
  run_variant(&v, TG_FLOAT64, F64_TOL);
}

static void test_adadelta(void **state) {
  (void)state;
  tg_adadelta_opts o = tg_adadelta_defaults();
  assert_close(o.lr, 1.0, 0);
  assert_close(o.rho, 0.9, 0);
  assert_close(o.eps, 1e-6, 0);
  assert_false(o.maximize);
  o.eps = 1e-2; /* moves the parameter far enough in STEPS steps */
  variant v = {make_adadelta, ref_adadelta, &o, {"square_avg", "acc_delta"}, 0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  run_variant(&v, TG_FLOAT32, F32_TOL);
  o.weight_decay = 0.1;
  o.rho = 1.0; /* allowed by torch: the averages never move */
  o.lr = 0.5;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_adadelta_new(&p, 1, o);
  assert_non_null(opt);
  o.rho = 0.5;
  run_variant(&v, TG_FLOAT64, F64_TOL);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_adamax_adadelta_invalid_options(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_adamax_opts m = tg_adamax_defaults();
  m.beta2 = 1.0;
  assert_null(tg_adamax_new(&p, 1, m));
  assert_non_null(strstr(tg_last_error(), "adamax: invalid beta2"));
  m = tg_adamax_defaults();
  m.lr = -1;
  assert_null(tg_adamax_new(&p, 1, m));
  assert_non_null(strstr(tg_last_error(), "invalid learning rate"));
  m = tg_adamax_defaults();
  m.eps = NAN;
  assert_null(tg_adamax_new(&p, 1, m));
  assert_non_null(strstr(tg_last_error(), "invalid eps"));
  tg_adadelta_opts d = tg_adadelta_defaults();
  d.rho = 1.5;
  assert_null(tg_adadelta_new(&p, 1, d));
  assert_non_null(strstr(tg_last_error(), "adadelta: invalid rho"));
  d = tg_adadelta_defaults();
  d.weight_decay = -0.1;
  assert_null(tg_adadelta_new(&p, 1, d));
  assert_non_null(strstr(tg_last_error(), "invalid weight_decay"));
  assert_null(tg_adadelta_new(NULL, 1, tg_adadelta_defaults()));
  assert_null(tg_adamax_new(NULL, 1, tg_adamax_defaults()));
  tg_free(p);
}

/* ---------------------------------------------------------- NAdam, RAdam */

static void test_nadam(void **state) {
  (void)state;
  tg_nadam_opts o = tg_nadam_defaults();
  assert_close(o.lr, 2e-3, 0);
  assert_close(o.beta1, 0.9, 0);
  assert_close(o.beta2, 0.999, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_close(o.weight_decay, 0, 0);
  assert_close(o.momentum_decay, 4e-3, 0);
  o.lr = 0.1;
  /* init 1: where mu_product starts */
  variant v = {make_nadam, ref_nadam, &o, {NULL, "exp_avg", "exp_avg_sq"}, 1.0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  run_variant(&v, TG_FLOAT32, F32_TOL);
  o.weight_decay = 0.2;
  o.momentum_decay = 0.5;
  o.beta1 = 0.5;
  run_variant(&v, TG_FLOAT64, F64_TOL);
}

static void test_radam(void **state) {
  (void)state;
  tg_radam_opts o = tg_radam_defaults();
  assert_close(o.lr, 1e-3, 0);
  assert_close(o.beta1, 0.9, 0);
  assert_close(o.beta2, 0.999, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_close(o.weight_decay, 0, 0);
  o.lr = 0.1;
  /* STEPS 10 crosses rho_t = 5 after step 5: both branches run */
  variant v = {make_radam, ref_radam, &o, {"exp_avg", "exp_avg_sq"}, 0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  run_variant(&v, TG_FLOAT32, F32_TOL);
  o.weight_decay = 0.2;
  o.beta2 = 0.5; /* rho_inf = 3: never rectified */
  run_variant(&v, TG_FLOAT64, F64_TOL);
  o.beta2 = 0.9;
  o.beta1 = 0.0;
  run_variant(&v, TG_FLOAT64, F64_TOL);
}

/* Numbers printed by torch 1.13 itself (torch.optim.NAdam / RAdam, float64
 * parameter [1, -.5, 2], the gradients below set as .grad, 8 steps), so
 * these pin torch's result rather than this file's reference. */
#define TN 3
#define TSTEPS 8
static const double T_P0[TN] = {1.0, -0.5, 2.0};
static const double T_G[TSTEPS][TN] = {
    {0.3, -1.2, 0.05}, {0.25, -0.9, -0.4}, {-0.1, -1.5, 0.2}, {0.6, 0.8, -0.02},
    {0.45, -0.3, 0.7}, {-0.2, 0.1, 0.35},  {0.5, -0.65, -0.15}, {0.05, 0.4, 0.9}};

typedef struct torch_case {
  tg_optimizer *(*make)(tg_tensor **p, int n, const void *o);
  const void *opts;
  double p[TN], exp_avg[TN], exp_avg_sq[TN];
  double mu_product; /* NAdam only; 0 for RAdam */
} torch_case;

static void run_torch_case(const torch_case *c) {
  tg_tensor *p = tg_keep(tg_from_f64(1, (size_t[]){TN}, T_P0));
  tg_requires_grad_(p, true);
  tg_optimizer *opt = c->make(&p, 1, c->opts);
  assert_non_null(opt);
  for (int s = 0; s < TSTEPS; s++) {
    tg_scope_begin();
    /* d/dp sum(p*G) = G exactly */
    tg_tensor *loss = tg_sum(tg_mul(p, tg_from_f64(1, (size_t[]){TN}, T_G[s])));
    assert_int_equal(tg_backward(loss, NULL, false), 0);
    tg_scope_end();
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
  }
  for (int i = 0; i < TN; i++) {
    assert_rel(tg_get_flat(p, (size_t)i), c->p[i], 1e-14);
    assert_rel(state_value(opt, "0.exp_avg", (size_t)i), c->exp_avg[i], 1e-14);
    assert_rel(state_value(opt, "0.exp_avg_sq", (size_t)i), c->exp_avg_sq[i], 1e-14);
  }
  assert_close(state_value(opt, "0.step", 0), TSTEPS, 0);
  if (c->mu_product != 0) {
    tg_tensor *mp = tg_optim_state_find(opt, "0.mu_product");
    assert_non_null(mp);
    assert_int_equal(mp->ndim, 0);
    assert_int_equal(mp->dtype, TG_FLOAT32);
    assert_true(tg_get_flat(mp, 0) == c->mu_product); /* float32, exactly */
  }
  tg_optim_free(opt);
  tg_free(p);
}

static void test_nadam_radam_match_torch(void **state) {
  (void)state;
  tg_nadam_opts n1 = tg_nadam_defaults(), n2 = n1;
  n2.lr = 0.1;
  n2.weight_decay = 0.1;
  n2.momentum_decay = 0.3;
  tg_radam_opts r1 = tg_radam_defaults(), r2 = r1;
  r1.lr = 0.1;
  r2.lr = 0.1;
  r2.weight_decay = 0.1;
  r2.beta1 = 0.8;
  r2.beta2 = 0.9;
  const torch_case cases[] = {
      {make_nadam, &n1, {0.991215234866505, -0.4941684989688612, 1.993541727260403},
       {0.127701032, -0.173580818, 0.14751144449999995},
       {0.001014073228861996, 0.0057931064183244065, 0.0016449878432235883},
       0.0016914170701056719},
      {make_nadam, &n2, {0.5180420676812347, -0.19696496302211955, 1.4963181200833047},
       {0.16907792633018173, -0.18952942129202352, 0.24903378386894356},
       {0.0013549150566126154, 0.00607718321625618, 0.002464714546437363},
       0.002539993030950427},
      {make_radam, &r1, {0.8643587505629322, -0.03322147452980161, 2.0028349343436824},
       {0.127701032, -0.173580818, 0.14751144449999995},
       {0.001014073228861996, 0.0057931064183244065, 0.0016449878432235883}, 0},
      {make_radam, &r2, {0.7509837183927718, 0.0005346203602315247, 1.8265589724789109},
       {0.24924878037645953, -0.18111795476218007, 0.42437024494112596},
       {0.09932929918266953, 0.3615403760142932, 0.21652653378327655}, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) run_torch_case(&cases[k]);
}

static void test_nadam_radam_invalid_options(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_nadam_opts n = tg_nadam_defaults();
  n.momentum_decay = -1e-3;
  assert_null(tg_nadam_new(&p, 1, n));
  assert_error_has("nadam: invalid momentum_decay");
  n = tg_nadam_defaults();
  n.beta1 = 1.0;
  assert_null(tg_nadam_new(&p, 1, n));
  assert_error_has("nadam: invalid beta1");
  n = tg_nadam_defaults();
  n.eps = NAN;
  assert_null(tg_nadam_new(&p, 1, n));
  assert_error_has("nadam: invalid eps");
  tg_radam_opts r = tg_radam_defaults();
  r.lr = -1;
  assert_null(tg_radam_new(&p, 1, r));
  assert_error_has("radam: invalid learning rate");
  r = tg_radam_defaults();
  r.beta2 = -0.1;
  assert_null(tg_radam_new(&p, 1, r));
  assert_error_has("radam: invalid beta2");
  r = tg_radam_defaults();
  r.weight_decay = -0.1;
  assert_null(tg_radam_new(&p, 1, r));
  assert_error_has("radam: invalid weight_decay");
  assert_null(tg_nadam_new(NULL, 1, tg_nadam_defaults()));
  assert_error_has("nadam: params is NULL");
  assert_null(tg_radam_new(&p, 0, tg_radam_defaults()));
  assert_error_has("radam");
  /* the edges torch accepts */
  n = tg_nadam_defaults();
  n.beta1 = 0;
  n.momentum_decay = 0;
  n.lr = 0;
  tg_optimizer *a = tg_nadam_new(&p, 1, n);
  assert_non_null(a);
  assert_string_equal(tg_optim_name(a), "NAdam");
  tg_optimizer *b = tg_radam_new(&p, 1, tg_radam_defaults());
  assert_non_null(b);
  assert_string_equal(tg_optim_name(b), "RAdam");
  tg_optim_free(a);
  tg_optim_free(b);
  tg_free(p);
}

/* ---------------------------------------------------------- maximize */

/* maximize on -loss must take exactly the steps of minimising loss (torch
 * 1.13 negates the gradient first, an exact operation), for every
 * algorithm, float64 and float32, and leave p->grad as backward wrote it */
static void run_maximize(const variant *vmax, const variant *vmin, tg_dtype dt) {
  tg_tensor *p = make_param(dt, N, P0), *q = make_param(dt, N, P0);
  tg_optimizer *omax = vmax->make(&p, 1, vmax->opts), *omin = vmin->make(&q, 1, vmin->opts);
  assert_non_null(omax);
  assert_non_null(omin);
  for (int s = 0; s < STEPS; s++) {
    quad_backward(q);
    quad_backward_signed(p, -1.0);
    double g0 = tg_get_flat(p->grad, 0);
    assert_int_equal(tg_optim_step(omax), 0);
    assert_int_equal(tg_optim_step(omin), 0);
    assert_true(tg_get_flat(p->grad, 0) == g0);
    for (int i = 0; i < N; i++) assert_true(tg_get_flat(p, (size_t)i) == tg_get_flat(q, (size_t)i));
    assert_int_equal(tg_optim_zero_grad(omax), 0);
    assert_int_equal(tg_optim_zero_grad(omin), 0);
  }
  assert_true(fabs(tg_get_flat(p, 0) - P0[0]) > 1e-3);
  tg_optim_free(omax);
  tg_optim_free(omin);
  tg_free(p);
  tg_free(q);
}

static void test_maximize_every_optimizer(void **state) {
  (void)state;
  tg_sgd_opts s1 = {.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.1}, s0 = s1;
  s1.maximize = true;
  tg_adam_opts a1 = tg_adam_defaults(), a0;
  a1.lr = 0.1;
  a1.amsgrad = true;
  a1.weight_decay = 0.1;
  a0 = a1;
  a1.maximize = true;
  tg_rmsprop_opts r1 = tg_rmsprop_defaults(), r0;
  r1.momentum = 0.5;
  r1.centered = true;
  r0 = r1;
  r1.maximize = true;
  tg_adamax_opts x1 = tg_adamax_defaults(), x0;
  x1.lr = 0.1;
  x1.weight_decay = 0.1;
  x0 = x1;
  x1.maximize = true;
  tg_adadelta_opts d1 = tg_adadelta_defaults(), d0;
  d1.eps = 1e-2;
  d1.weight_decay = 0.1;
  d0 = d1;
  d1.maximize = true;
  tg_adagrad_opts g1 = tg_adagrad_defaults(), g0;
  g1.lr_decay = 0.01;
  g1.initial_accumulator_value = 0.1;
  g0 = g1;
  g1.maximize = true;
  const variant pairs[7][2] = {
      {{make_adamax, NULL, &x1, {NULL}, 0}, {make_adamax, NULL, &x0, {NULL}, 0}},
      {{make_adadelta, NULL, &d1, {NULL}, 0}, {make_adadelta, NULL, &d0, {NULL}, 0}},
      {{make_sgd, NULL, &s1, {NULL}, 0}, {make_sgd, NULL, &s0, {NULL}, 0}},
      {{make_adam, NULL, &a1, {NULL}, 0}, {make_adam, NULL, &a0, {NULL}, 0}},
      {{make_adamw, NULL, &a1, {NULL}, 0}, {make_adamw, NULL, &a0, {NULL}, 0}},
      {{make_rmsprop, NULL, &r1, {NULL}, 0}, {make_rmsprop, NULL, &r0, {NULL}, 0}},
      {{make_adagrad, NULL, &g1, {NULL}, 0}, {make_adagrad, NULL, &g0, {NULL}, 0}},
  };
  for (int k = 0; k < 7; k++) {
    run_maximize(&pairs[k][0], &pairs[k][1], TG_FLOAT64);
    run_maximize(&pairs[k][0], &pairs[k][1], TG_FLOAT32);
  }
}

/* By hand: loss = 2p, g = 2; maximize with lr .1 climbs: p = .2, then .4 */
static void test_sgd_maximize_by_hand(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, 1, (double[]){0.0});
  tg_optimizer *opt = tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .maximize = true});
  assert_non_null(opt);
  for (int s = 0; s < 2; s++) {
    tg_scope_begin();
    assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(p, 2.0)), NULL, false), 0);
    tg_scope_end();
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
    assert_close(tg_get_flat(p, 0), 0.2 * (s + 1), 1e-15);
  }
  tg_optim_free(opt);
  tg_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_maximize_every_optimizer),
      TG_TEST(test_adamax),
      TG_TEST(test_adadelta),
      TG_TEST(test_adamax_adadelta_invalid_options),
      TG_TEST(test_nadam),
      TG_TEST(test_radam),
      TG_TEST(test_nadam_radam_match_torch),
      TG_TEST(test_nadam_radam_invalid_options),
      TG_TEST(test_sgd_maximize_by_hand),
  };
  int rc = cmocka_run_group_tests_name("optim_more", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
