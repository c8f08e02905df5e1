/* Gradient clipping and the learning-rate schedules that are closed forms
 * of the epoch (OneCycleLR, ReduceLROnPlateau, SequentialLR:
 * test_scheduler_cycle.c). */
#include "optim_ref.h"

/* ---------------------------------------------------------- clipping */

/* loss = sum(p1*w1) + sum(p2*w2): the grads are w1 and w2 exactly; p3 gets
 * none and is skipped */
static const double W1[3] = {3, -4, 1}, W2[2] = {2, -2};

static void set_linear_grads(tg_tensor **ps) {
  tg_scope_begin();
  tg_tensor *w1 = tg_to_dtype(tg_from_f64(TG_SHAPE(3), W1), ps[0]->dtype);
  tg_tensor *w2 = tg_to_dtype(tg_from_f64(TG_SHAPE(2), W2), ps[1]->dtype);
  tg_tensor *loss = tg_add(tg_sum(tg_mul(ps[0], w1)), tg_sum(tg_mul(ps[1], w2)));
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  tg_scope_end();
}

static void make_clip_params(tg_tensor **ps, tg_dtype dt) {
  ps[0] = make_param(dt, 3, (double[]){0, 0, 0});
  ps[1] = make_param(dt, 2, (double[]){0, 0});
  ps[2] = make_param(dt, 2, (double[]){0, 0});
}

static void free_params(tg_tensor **ps, int n) {
  for (int i = 0; i < n; i++) tg_free(ps[i]);
}

/* clip to max_norm and check the scaled grads; total is the hand-worked norm */
static void check_clip(tg_tensor **ps, double norm_type, double max_norm, double total, double tol) {
  for (int i = 0; i < 3; i++) assert_int_equal(tg_zero_grad(ps[i]), 0);
  set_linear_grads(ps);
  assert_rel(tg_clip_grad_norm(ps, 3, max_norm, norm_type), total, tol);
  double coef = max_norm / (total + 1e-6);
  if (coef > 1) coef = 1;
  for (size_t i = 0; i < 3; i++) assert_rel(tg_get_flat(ps[0]->grad, i), W1[i] * coef, tol);
  for (size_t i = 0; i < 2; i++) assert_rel(tg_get_flat(ps[1]->grad, i), W2[i] * coef, tol);
  assert_null(ps[2]->grad);
}

static void test_clip_grad_norm(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    tg_dtype dt = d ? TG_FLOAT32 : TG_FLOAT64;
    double tol = d ? 1e-6 : 1e-14;
    tg_tensor *ps[3];
    make_clip_params(ps, dt);
    /* 2-norm: sqrt(9 + 16 + 1 + 4 + 4) = sqrt(34) */
    check_clip(ps, 2, 1.0, sqrt(34), tol);
    check_clip(ps, 2, 10.0, sqrt(34), tol); /* below max_norm: untouched */
    /* inf-norm: the largest |g| is 4 */
    check_clip(ps, INFINITY, 2.0, 4, tol);
    check_clip(ps, INFINITY, 5.0, 4, tol);
    /* 1-norm: 3+4+1+2+2 = 12; 3-norm: (27+64+1+8+8)^(1/3) = 108^(1/3) */
    check_clip(ps, 1, 6.0, 12, tol);
    check_clip(ps, 3, 1.0, cbrt(108), tol);
    free_params(ps, 3);
  }
}

static void test_clip_grad_norm_edge_cases(void **state) {
  (void)state;
  tg_tensor *ps[3];
  make_clip_params(ps, TG_FLOAT64);
  /* no gradients at all: norm 0, nothing to scale */
  assert_close(tg_clip_grad_norm(ps, 3, 1.0, 2), 0, 0);
  assert_close(tg_clip_grad_norm(NULL, 0, 1.0, 2), 0, 0);
  assert_close(tg_clip_grad_norm(ps, 3, 1.0, 0), -1, 0);
  assert_error_has("clip_grad_norm: norm_type 0 is not supported");
  assert_close(tg_clip_grad_norm(ps, 3, -1.0, 2), -1, 0);
  assert_error_has("clip_grad_norm: invalid max_norm -1");
  tg_tensor *with_null[2] = {ps[0], NULL};
  set_linear_grads(ps);
  assert_close(tg_clip_grad_norm(with_null, 2, 1.0, 2), -1, 0);
  assert_error_has("clip_grad_norm: params[1] is NULL");
  assert_close(tg_get_flat(ps[0]->grad, 1), -4, 0); /* the error changed nothing */
  assert_int_equal(tg_clip_grad_value(with_null, 2, 1.0), -1);
  assert_error_has("clip_grad_value: params[1] is NULL");
  assert_close(tg_get_flat(ps[0]->grad, 1), -4, 0);
  /* clipping writes in place: the grad's version moves */
  uint32_t v = ps[0]->grad->storage->version;
  assert_true(tg_clip_grad_norm(ps, 3, 1.0, 2) > 0);
  assert_true(ps[0]->grad->storage->version != v);
  free_params(ps, 3);
}

static void test_clip_grad_value(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    tg_tensor *ps[3];
    make_clip_params(ps, d ? TG_FLOAT32 : TG_FLOAT64);
    set_linear_grads(ps);
    assert_int_equal(tg_clip_grad_value(ps, 3, 2.5), 0);
    const double want1[3] = {2.5, -2.5, 1}, want2[2] = {2, -2};
    for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(ps[0]->grad, i), want1[i], 0);
    for (size_t i = 0; i < 2; i++) assert_close(tg_get_flat(ps[1]->grad, i), want2[i], 0);
    assert_null(ps[2]->grad);
    assert_int_equal(tg_clip_grad_value(ps, 3, 0.0), 0); /* everything to 0 */
    assert_close(tg_get_flat(ps[0]->grad, 0), 0, 0);
    assert_int_equal(tg_clip_grad_value(ps, 3, -1.0), -1);
    assert_error_has("clip_grad_value: invalid clip value -1");
    free_params(ps, 3);
  }
}

/* -------------------------------------------------------- schedules */

static tg_optimizer *sched_opt(tg_tensor **p, double lr) {
  *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_sgd_new(p, 1, (tg_sgd_opts){.lr = lr});
  assert_non_null(opt);
  return opt;
}

/* StepLR and ExponentialLR checked against PyTorch's chainable form (the lr
 * multiplied by gamma at each boundary), which equals the closed form up to
 * rounding */
static void test_step_lr(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sched_opt(&p, 0.1);
  tg_lr_scheduler *s = tg_step_lr_new(opt, 3, 0.5);
  assert_non_null(s);
  double lr = 0.1;
  assert_close(tg_optim_get_lr(opt), lr, 0);
  for (long e = 1; e <= 20; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    if (e % 3 == 0) lr *= 0.5;
    assert_int_equal(tg_scheduler_get_epoch(s), e);
    assert_rel(tg_optim_get_lr(opt), lr, 1e-15);
  }
  /* epochs 0..2 at 0.1, 3..5 at 0.05, ... 20 at 0.1*0.5^6 */
  assert_rel(tg_scheduler_lr_at(s, 2), 0.1, 1e-15);
  assert_rel(tg_scheduler_lr_at(s, 5), 0.05, 1e-15);
  assert_rel(tg_optim_get_lr(opt), 0.1 / 64, 1e-15);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_exponential_lr(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sched_opt(&p, 0.2);
  tg_lr_scheduler *s = tg_exponential_lr_new(opt, 0.9);
  assert_non_null(s);
  double lr = 0.2;
  assert_close(tg_optim_get_lr(opt), lr, 0);
  for (long e = 1; e <= 30; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    lr *= 0.9;
    assert_rel(tg_optim_get_lr(opt), lr, 1e-14);
  }
  /* jump back: set_epoch uses the closed form from the base lr */
  assert_int_equal(tg_scheduler_set_epoch(s, 2), 0);
  assert_rel(tg_optim_get_lr(opt), 0.2 * 0.81, 1e-15);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_cosine_annealing_lr(void **state) {
  (void)state;
  tg_tensor *p;
  const double base = 0.1, eta_min = 0.001, pi = acos(-1.0);
  const long t_max = 10;
  tg_optimizer *opt = sched_opt(&p, base);
  tg_lr_scheduler *s = tg_cosine_annealing_lr_new(opt, t_max, eta_min);
  assert_non_null(s);
  assert_rel(tg_optim_get_lr(opt), base, 1e-15);
  for (long e = 1; e <= 25; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    double want = eta_min + (base - eta_min) * (1 + cos(pi * (double)e / (double)t_max)) / 2;
    assert_rel(tg_optim_get_lr(opt), want, 1e-14);
    /* landmarks: the midpoint of the schedule and its bottom */
    if (e == t_max / 2) assert_rel(tg_optim_get_lr(opt), (base + eta_min) / 2, 1e-14);
    if (e == t_max) assert_rel(tg_optim_get_lr(opt), eta_min, 1e-14);
    if (e == 2 * t_max) assert_rel(tg_optim_get_lr(opt), base, 1e-14);
  }
  /* the scheduled lr drives the step: p -= lr*g at epoch 25 */
  double lr = tg_optim_get_lr(opt);
  quad_backward(p);
  assert_int_equal(tg_optim_step(opt), 0);
  for (size_t i = 0; i < N; i++) assert_rel(tg_get_flat(p, i), P0[i] - lr * A[i] * (P0[i] - C[i]), 1e-15);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_scheduler_errors(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sched_opt(&p, 0.1);
  assert_null(tg_step_lr_new(opt, 0, 0.5));
  assert_error_has("step_lr: step_size 0 must be >= 1");
  assert_null(tg_step_lr_new(opt, 2, -0.5));
  assert_error_has("step_lr: invalid gamma -0.5");
  assert_null(tg_exponential_lr_new(NULL, 0.5));
  assert_error_has("exponential_lr: optimizer is NULL");
  assert_null(tg_cosine_annealing_lr_new(opt, 0, 0.0));
  assert_error_has("cosine_annealing_lr: t_max 0 must be >= 1");
  assert_null(tg_cosine_annealing_lr_new(opt, 5, -1.0));
  assert_error_has("cosine_annealing_lr: invalid eta_min -1");
  tg_lr_scheduler *s = tg_exponential_lr_new(opt, 0.5);
  assert_int_equal(tg_scheduler_set_epoch(s, -1), -1);
  assert_error_has("scheduler_set_epoch: epoch must be >= 0");
  assert_int_equal(tg_scheduler_step(NULL), -1);
  assert_error_has("scheduler_step: scheduler is NULL");
  assert_true(isnan(tg_scheduler_lr_at(s, -3)));
  assert_error_has("scheduler_lr_at: epoch must be >= 0");
  assert_close(tg_optim_get_lr(opt), 0.1, 0); /* none of that touched the lr */
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

/* two groups with bases 0.3 and 0.05, to see each group kept apart */
static tg_optimizer *two_group_opt(tg_tensor **ps) {
  tg_optimizer *opt = sched_opt(&ps[0], 0.3);
  ps[1] = make_param(TG_FLOAT64, N, P0);
  assert_int_equal(tg_sgd_add_param_group(opt, &ps[1], 1, (tg_sgd_opts){.lr = 0.05}), 0);
  return opt;
}

static void free_two(tg_optimizer *opt, tg_tensor **ps) {
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

static void assert_group_lrs(const tg_optimizer *opt, double f, double tol) {
  assert_rel(tg_optim_get_group_lr(opt, 0), 0.3 * f, tol);
  assert_rel(tg_optim_get_group_lr(opt, 1), 0.05 * f, tol);
}

/* LinearLR against torch's recursive form: the lr times
 * 1 + (end-start)/(T*start + (e-1)*(end-start)) at each epoch 1..T */
static void test_linear_lr(void **state) {
  (void)state;
  tg_tensor *ps[2];
  tg_optimizer *opt = two_group_opt(ps);
  const double sf = 1.0 / 3, ef = 1.0;
  const long T = 5;
  tg_lr_scheduler *s = tg_linear_lr_new(opt, sf, ef, T);
  assert_non_null(s);
  double f = sf;
  assert_group_lrs(opt, f, 1e-15);
  for (long e = 1; e <= 12; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    if (e <= T) f *= 1 + (ef - sf) / ((double)T * sf + (double)(e - 1) * (ef - sf));
    assert_group_lrs(opt, f, 1e-14);
  }
  /* landmarks: start_factor * base at 0, the base from T on */
  assert_rel(tg_scheduler_lr_at(s, 0), 0.1, 1e-15);
  assert_rel(tg_scheduler_lr_at(s, 5), 0.3, 1e-15);
  assert_rel(tg_scheduler_lr_at(s, 100), 0.3, 1e-15);
  /* decaying: from 1 to 0.2 over 4 epochs, 0.2 after */
  tg_scheduler_free(s);
  s = tg_linear_lr_new(opt, 1.0, 0.2, 4);
  assert_non_null(s);
  const double want[6] = {1.0, 0.8, 0.6, 0.4, 0.2, 0.2};
  for (long e = 0; e < 6; e++) assert_rel(tg_scheduler_lr_at(s, e), 0.3 * want[e], 1e-15);
  tg_scheduler_free(s);
  free_two(opt, ps);
}

static void test_multi_step_lr(void **state) {
  (void)state;
  tg_tensor *ps[2];
  tg_optimizer *opt = two_group_opt(ps);
  /* any order; 5 twice decays twice there, as torch's Counter */
  const long ms[4] = {9, 5, 2, 5};
  tg_lr_scheduler *s = tg_multi_step_lr_new(opt, ms, 4, 0.1);
  assert_non_null(s);
  const double f[12] = {1, 1, .1, .1, .1, 1e-3, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4};
  assert_group_lrs(opt, f[0], 0);
  for (long e = 1; e < 12; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    assert_group_lrs(opt, f[e], 1e-15);
  }
  tg_scheduler_free(s);
  free_two(opt, ps);
}

static void test_constant_lr(void **state) {
  (void)state;
  tg_tensor *ps[2];
  tg_optimizer *opt = two_group_opt(ps);
  tg_lr_scheduler *s = tg_constant_lr_new(opt, 0.25, 3);
  assert_non_null(s);
  for (long e = 0; e < 8; e++) {
    if (e) assert_int_equal(tg_scheduler_step(s), 0);
    assert_group_lrs(opt, e < 3 ? 0.25 : 1.0, 1e-15);
  }
  tg_scheduler_free(s);
  free_two(opt, ps);
}

/* the transformer's inverse-square-root warmup, a lambda with a context */
typedef struct noam {
  double warmup;
  int calls;
  long fail_at; /* a negative factor from this epoch on */
} noam;

static double noam_factor(long epoch, void *ctx) {
  noam *n = ctx;
  n->calls++;
  if (epoch >= n->fail_at) return -1;
  double e = (double)epoch + 1;
  return fmin(1 / sqrt(e), e / (n->warmup * sqrt(n->warmup)));
}

static void test_lambda_lr(void **state) {
  (void)state;
  tg_tensor *ps[2];
  tg_optimizer *opt = two_group_opt(ps);
  noam ctx = {.warmup = 4, .fail_at = 10};
  tg_lr_scheduler *s = tg_lambda_lr_new(opt, noam_factor, &ctx);
  assert_non_null(s);
  assert_int_equal(ctx.calls, 1); /* epoch 0 at construction */
  /* factor (e+1)/8 while e+1 <= 4, then 1/sqrt(e+1): 1/8, 1/4, 3/8, 1/2, 1/sqrt(5) */
  const double want[5] = {0.125, 0.25, 0.375, 0.5, 1 / sqrt(5)};
  assert_group_lrs(opt, want[0], 1e-15);
  for (long e = 1; e < 5; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    assert_group_lrs(opt, want[e], 1e-15);
  }
  /* a negative factor: the step fails and changes nothing */
  assert_int_equal(tg_scheduler_set_epoch(s, 9), 0);
  double lr9 = tg_optim_get_group_lr(opt, 0);
  assert_int_equal(tg_scheduler_step(s), -1);
  assert_error_has("lambda_lr: lr_lambda(10) returned -1");
  assert_int_equal(tg_scheduler_get_epoch(s), 9);
  assert_close(tg_optim_get_group_lr(opt, 0), lr9, 0);
  assert_true(isnan(tg_scheduler_lr_at(s, 11)));
  assert_error_has("lambda_lr");
  tg_scheduler_free(s);
  assert_null(tg_lambda_lr_new(opt, noam_factor, &(noam){.warmup = 4, .fail_at = 0}));
  assert_error_has("lambda_lr: lr_lambda(0) returned -1");
  free_two(opt, ps);
}

/* torch's initial_lr: the second scheduler on an optimizer takes its base
 * from the lr the first one found, not from the lr the first one set */
static void test_initial_lr_shared(void **state) {
  (void)state;
  tg_tensor *ps[2];
  tg_optimizer *opt = two_group_opt(ps);
  tg_lr_scheduler *warm = tg_linear_lr_new(opt, 0.1, 1.0, 3);
  assert_group_lrs(opt, 0.1, 1e-15);
  tg_lr_scheduler *cos = tg_cosine_annealing_lr_new(opt, 10, 0.0);
  assert_non_null(warm);
  assert_non_null(cos);
  assert_group_lrs(opt, 1.0, 1e-15); /* cosine at epoch 0 is its base: the original lr */
  assert_rel(tg_scheduler_lr_at(cos, 5), 0.15, 1e-15);
  tg_scheduler_free(cos);
  tg_scheduler_free(warm);
  free_two(opt, ps);
}

static void test_new_scheduler_errors(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sched_opt(&p, 0.1);
  assert_null(tg_linear_lr_new(opt, 0.0, 1.0, 5));
  assert_error_has("linear_lr: start_factor 0 must be in (0, 1]");
  assert_null(tg_linear_lr_new(opt, 1.5, 1.0, 5));
  assert_error_has("linear_lr: start_factor 1.5");
  assert_null(tg_linear_lr_new(opt, 0.5, -0.1, 5));
  assert_error_has("linear_lr: end_factor -0.1 must be between 0 and 1");
  assert_null(tg_linear_lr_new(opt, 0.5, NAN, 5));
  assert_error_has("linear_lr: end_factor nan");
  assert_null(tg_linear_lr_new(opt, 0.5, 1.0, 0));
  assert_error_has("linear_lr: total_iters 0 must be >= 1");
  assert_null(tg_constant_lr_new(opt, 0.0, 5));
  assert_error_has("constant_lr: factor 0 must be in (0, 1]");
  assert_null(tg_constant_lr_new(opt, 1.2, 5));
  assert_error_has("constant_lr: factor 1.2");
  assert_null(tg_constant_lr_new(opt, 0.5, -1));
  assert_error_has("constant_lr: total_iters -1 must be >= 1");
  assert_null(tg_multi_step_lr_new(opt, (long[]){3}, 1, -0.1));
  assert_error_has("multi_step_lr: invalid gamma -0.1");
  assert_null(tg_multi_step_lr_new(opt, (long[]){3}, -1, 0.1));
  assert_error_has("multi_step_lr: the milestone count must be >= 0");
  assert_close(tg_optim_get_lr(opt), 0.1, 0); /* no refusal touched the lr */
  tg_optim_free(opt);
  tg_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_clip_grad_norm),
      TG_TEST(test_clip_grad_norm_edge_cases),
      TG_TEST(test_clip_grad_value),
      TG_TEST(test_step_lr),
      TG_TEST(test_exponential_lr),
      TG_TEST(test_cosine_annealing_lr),
      TG_TEST(test_scheduler_errors),
      TG_TEST(test_linear_lr),
      TG_TEST(test_multi_step_lr),
      TG_TEST(test_constant_lr),
      TG_TEST(test_lambda_lr),
      TG_TEST(test_initial_lr_shared),
      TG_TEST(test_new_scheduler_errors),
  };
  int rc = cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
