/* What every optimizer shares: skipped parameters, zero_grad, no
 * allocation in a step, named state and its round trip, the learning rate,
 * invalid options and parameters. */
#include "optim_ref.h"

/* ------------------------------------------ skipping, versions, zero_grad */

/* q never enters the loss for three steps: no grad, so no update, no
 * version bump and no step count. Then it joins, and its bias correction
 * starts from its own first step, as PyTorch's per-parameter state does. */
static void test_params_without_grad_are_skipped(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT64, N, P0)};
  tg_adam_opts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  tg_optimizer *opt = tg_adam_new(ps, 2, o);
  assert_non_null(opt);
  ref rp = {.t = 0}, rq = {.t = 0};
  memcpy(rp.p, P0, sizeof rp.p);
  memcpy(rq.p, P0, sizeof rq.p);
  uint32_t qv = ps[1]->storage->version;
  for (int s = 0; s < 6; s++) {
    uint32_t pv = ps[0]->storage->version;
    quad_backward(ps[0]);
    if (s >= 3) quad_backward(ps[1]);
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
    assert_int_equal(ps[0]->storage->version, pv + 1);
    ref_adam(&rp, &o);
    if (s >= 3) ref_adam(&rq, &o);
    if (s < 3) {
      assert_null(ps[1]->grad);
      assert_int_equal(ps[1]->storage->version, qv);
      assert_close(state_value(opt, "1.step", 0), 0, 0);
    }
    for (size_t i = 0; i < N; i++) {
      assert_rel(tg_get_flat(ps[0], i), rp.p[i], F64_TOL);
      assert_rel(tg_get_flat(ps[1], i), rq.p[i], F64_TOL);
    }
  }
  assert_close(state_value(opt, "0.step", 0), 6, 0);
  assert_close(state_value(opt, "1.step", 0), 3, 0);
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

static void test_zero_grad_keeps_buffers(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT32, N, P0)};
  tg_optimizer *opt = tg_sgd_new(ps, 2, tg_sgd_defaults());
  assert_non_null(opt);
  assert_close(tg_optim_get_lr(opt), 1e-3, 0);
  quad_backward(ps[0]); /* ps[1] gets no grad */
  tg_tensor *g = ps[0]->grad;
  assert_non_null(g);
  void *data = tg_data(g);
  assert_true(fabs(tg_get_flat(g, 0)) > 0); /* A[0]*(P0[0]-C[0]) = -1 */
  assert_int_equal(tg_optim_zero_grad(opt), 0);
  assert_ptr_equal(ps[0]->grad, g);
  assert_ptr_equal(tg_data(g), data);
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(g, i), 0, 0);
  assert_null(ps[1]->grad); /* zero_grad does not make buffers */
  /* the next backward accumulates into the same buffer from zero */
  quad_backward(ps[0]);
  assert_ptr_equal(ps[0]->grad, g);
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(g, i), A[i] * (P0[i] - C[i]), 1e-15);
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

/* ------------------------------------------------------- allocation */

static tg_optimizer *make_kind(int kind, tg_tensor **ps, int n) {
  switch (kind) {
  case 0: return tg_sgd_new(ps, n, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9, .nesterov = true});
  case 1: return tg_adam_new(ps, n, (tg_adam_opts){.lr = 0.1, .beta1 = 0.9, .beta2 = 0.5, .eps = 1e-8, .amsgrad = true});
  case 2: return tg_adamw_new(ps, n, tg_adamw_defaults());
  case 3: return tg_rmsprop_new(ps, n, (tg_rmsprop_opts){.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.5, .centered = true});
  default: return tg_adagrad_new(ps, n, (tg_adagrad_opts){.lr = 0.5, .lr_decay = 0.1, .initial_accumulator_value = 0.1, .eps = 1e-10});
  }
}
#define N_KINDS 5

/* A step calls no allocator: its state was made at creation, and the only
 * malloc in optim/ (the optimizer object and its arrays) is in the
 * constructors. So the pool's count of system allocations stays put across
 * every step, the first included, and a whole training iteration allocates
 * nothing after the first. */
static void test_step_allocates_nothing(void **state) {
  (void)state;
  for (int kind = 0; kind < N_KINDS; kind++) {
    tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT32, N, P0)};
    tg_optimizer *opt = make_kind(kind, ps, 2);
    assert_non_null(opt);
    size_t after_first = 0;
    for (int it = 0; it < 5; it++) {
      quad_backward(ps[0]);
      quad_backward(ps[1]);
      size_t before = tg_memory_get_stats().mallocs;
      assert_int_equal(tg_optim_step(opt), 0);
      assert_int_equal(tg_memory_get_stats().mallocs, before);
      assert_int_equal(tg_optim_zero_grad(opt), 0);
      if (it == 0) after_first = tg_memory_get_stats().mallocs;
    }
    assert_int_equal(tg_memory_get_stats().mallocs, after_first);
    tg_optim_free(opt);
    tg_free(ps[0]);
    tg_free(ps[1]);
  }
}

/* ------------------------------------------------------ state, lr */

static void test_state_names_and_shapes(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT32, N, P0), make_param(TG_FLOAT64, 2, P0)};
  tg_optimizer *opt = tg_adam_new(ps, 2, (tg_adam_opts){.lr = 0.1, .beta1 = 0.9, .beta2 = 0.99, .amsgrad = true});
  assert_non_null(opt);
  assert_string_equal(tg_optim_name(opt), "Adam");
  assert_int_equal(tg_optim_num_params(opt), 2);
  const char *want[] = {"0.step", "0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq",
                        "1.step", "1.exp_avg", "1.exp_avg_sq", "1.max_exp_avg_sq"};
  assert_int_equal(tg_optim_state_count(opt), 8);
  for (size_t e = 0; e < 8; e++) {
    const char *name = NULL;
    tg_tensor *t = tg_optim_state_at(opt, e, &name);
    assert_non_null(t);
    assert_string_equal(name, want[e]);
    assert_ptr_equal(tg_optim_state_find(opt, name), t);
    assert_int_equal(t->obj.scope, 0); /* persistent: outlives the test's scope */
    const tg_tensor *p = ps[e / 4];
    if (e % 4 == 0) {
      assert_int_equal(t->ndim, 0);
      assert_int_equal(t->dtype, TG_FLOAT64);
    } else {
      assert_true(tg_same_shape(t, p));
      assert_int_equal(t->dtype, p->dtype);
    }
    assert_close(tg_item(tg_sum(t)), 0, 0); /* zeros before any step */
  }
  assert_null(tg_optim_state_at(opt, 8, NULL));
  assert_error_has("out of range");
  tg_optim_free(opt);
  /* the other optimizers' layouts */
  tg_tensor *p = ps[0];
  const char *layouts[N_KINDS] = {"0.step 0.momentum_buffer", "0.step 0.exp_avg 0.exp_avg_sq 0.max_exp_avg_sq",
                                  "0.step 0.exp_avg 0.exp_avg_sq",
                                  "0.step 0.square_avg 0.momentum_buffer 0.grad_avg", "0.step 0.sum"};
  for (int kind = 0; kind < N_KINDS; kind++) {
    opt = make_kind(kind, &p, 1);
    char got[160] = "";
    for (size_t e = 0; e < tg_optim_state_count(opt); e++) {
      const char *name;
      tg_optim_state_at(opt, e, &name);
      if (e) strcat(got, " ");
      strcat(got, name);
    }
    assert_string_equal(got, layouts[kind]);
    tg_optim_free(opt);
  }
  /* Adagrad's accumulator starts at initial_accumulator_value */
  opt = make_kind(4, &p, 1);
  for (size_t i = 0; i < N; i++) assert_close(state_value(opt, "0.sum", i), 0.1, 1e-8);
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

/* Three steps, state copied out, a new optimizer over a copy of the
 * parameter loads it: the next step is identical, bit for bit. */
static void round_trip(int kind) {
  tg_tensor *p1 = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *o1 = make_kind(kind, &p1, 1);
  for (int s = 0; s < 3; s++) {
    quad_backward(p1);
    assert_int_equal(tg_optim_step(o1), 0);
    assert_int_equal(tg_optim_zero_grad(o1), 0);
  }
  size_t count = tg_optim_state_count(o1);
  tg_tensor *saved[8];
  char names[8][32];
  assert_true(count <= 8);
  for (size_t e = 0; e < count; e++) {
    const char *name;
    saved[e] = tg_clone(tg_optim_state_at(o1, e, &name)); /* test scope */
    snprintf(names[e], sizeof names[e], "%s", name);
  }
  double now[N];
  assert_int_equal(tg_to_f64_array(p1, now), 0);
  tg_tensor *p2 = make_param(TG_FLOAT64, N, now);
  tg_optimizer *o2 = make_kind(kind, &p2, 1);
  assert_close(state_value(o2, "0.step", 0), 0, 0);
  for (size_t e = 0; e < count; e++) assert_int_equal(tg_optim_state_load(o2, names[e], saved[e]), 0);
  assert_close(state_value(o2, "0.step", 0), 3, 0);
  quad_backward(p1);
  quad_backward(p2);
  assert_int_equal(tg_optim_step(o1), 0);
  assert_int_equal(tg_optim_step(o2), 0);
  assert_memory_equal(tg_data(p1), tg_data(p2), N * sizeof(double));
  for (size_t e = 0; e < count; e++) {
    tg_tensor *a = tg_optim_state_at(o1, e, NULL), *b = tg_optim_state_at(o2, e, NULL);
    assert_memory_equal(tg_data(a), tg_data(b), a->numel * tg_dtype_size(a->dtype));
  }
  assert_close(state_value(o2, "0.step", 0), 4, 0);
  tg_optim_free(o1);
  tg_optim_free(o2);
  tg_free(p1);
  tg_free(p2);
}

static void test_state_round_trip(void **state) {
  (void)state;
  for (int kind = 0; kind < N_KINDS; kind++) round_trip(kind);
}

static void test_state_load_errors(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = make_kind(1, &p, 1);
  assert_null(tg_optim_state_find(opt, "0.momentum_buffer"));
  assert_error_has("Adam has no state entry \"0.momentum_buffer\"");
  assert_int_equal(tg_optim_state_load(opt, "0.exp_avg", tg_zeros(TG_FLOAT64, TG_SHAPE(3))), -1);
  assert_error_has("\"0.exp_avg\" has shape [5]");
  assert_int_equal(tg_optim_state_load(opt, "0.step", tg_scalar(TG_FLOAT64, 2.5)), -1);
  assert_error_has("whole number");
  assert_int_equal(tg_optim_state_load(opt, "0.step", tg_scalar(TG_FLOAT64, -1)), -1);
  assert_error_has("whole number");
  assert_close(state_value(opt, "0.step", 0), 0, 0); /* unchanged by the failures */
  /* a float32 source converts into the float64 state */
  assert_int_equal(tg_optim_state_load(opt, "0.exp_avg", tg_full(TG_FLOAT32, TG_SHAPE(N), 0.5)), 0);
  assert_close(state_value(opt, "0.exp_avg", 4), 0.5, 0);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_lr_get_set(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1});
  assert_close(tg_optim_get_lr(opt), 0.1, 0);
  assert_int_equal(tg_optim_set_lr(opt, 0.25), 0);
  assert_close(tg_optim_get_lr(opt), 0.25, 0);
  /* the step uses the new lr: p -= 0.25 * A*(P0-C) */
  quad_backward(p);
  assert_int_equal(tg_optim_step(opt), 0);
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(p, i), P0[i] - 0.25 * A[i] * (P0[i] - C[i]), 1e-15);
  assert_int_equal(tg_optim_set_lr(opt, -1), -1);
  assert_error_has("optim_set_lr: invalid learning rate -1");
  assert_close(tg_optim_get_lr(opt), 0.25, 0);
  tg_optim_free(opt);
  tg_free(p);
}

/* ------------------------------------------------------------ errors */

static void expect_null(tg_optimizer *opt, const char *text) {
  if (opt) {
    tg_optim_free(opt);
    fail_msg("expected a NULL optimizer with \"%s\"", text);
  }
  assert_error_has(text);
}

static void test_invalid_options(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = -0.1}), "sgd: invalid learning rate -0.1: must be >= 0");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = NAN}), "sgd: invalid learning rate nan");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .momentum = -1}), "sgd: invalid momentum");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .weight_decay = -1}), "sgd: invalid weight_decay");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .nesterov = true}),
              "sgd: nesterov momentum requires a momentum > 0 and zero dampening");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
              "dampening 0.1");
  tg_adam_opts a = tg_adam_defaults();
  a.beta1 = 1.0;
  expect_null(tg_adam_new(&p, 1, a), "adam: invalid beta1 1: must be in [0, 1)");
  a = tg_adam_defaults();
  a.beta2 = -0.1;
  expect_null(tg_adam_new(&p, 1, a), "adam: invalid beta2 -0.1");
  a = tg_adam_defaults();
  a.eps = -1e-8;
  expect_null(tg_adam_new(&p, 1, a), "adam: invalid eps");
  a = tg_adamw_defaults();
  a.lr = -1;
  expect_null(tg_adamw_new(&p, 1, a), "adamw: invalid learning rate");
  a = tg_adamw_defaults();
  a.weight_decay = -1;
  expect_null(tg_adamw_new(&p, 1, a), "adamw: invalid weight_decay");
  tg_rmsprop_opts r = tg_rmsprop_defaults();
  r.alpha = -0.5;
  expect_null(tg_rmsprop_new(&p, 1, r), "rmsprop: invalid alpha -0.5");
  r = tg_rmsprop_defaults();
  r.momentum = -0.5;
  expect_null(tg_rmsprop_new(&p, 1, r), "rmsprop: invalid momentum");
  tg_adagrad_opts g = tg_adagrad_defaults();
  g.lr_decay = -1;
  expect_null(tg_adagrad_new(&p, 1, g), "adagrad: invalid lr_decay");
  g = tg_adagrad_defaults();
  g.initial_accumulator_value = -1;
  expect_null(tg_adagrad_new(&p, 1, g), "adagrad: invalid initial_accumulator_value");
  tg_free(p);
}

static void test_invalid_params(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.1};
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  expect_null(tg_sgd_new(NULL, 1, o), "sgd: params is NULL");
  expect_null(tg_sgd_new(&p, 0, o), "sgd: got 0 parameters");
  tg_tensor *with_null[2] = {p, NULL};
  expect_null(tg_adam_new(with_null, 2, tg_adam_defaults()), "adam: params[1] is NULL");
  tg_tensor *twice[2] = {p, p};
  expect_null(tg_sgd_new(twice, 2, o), "sgd: params[1] is the same tensor as params[0]");
  tg_tensor *scoped = tg_requires_grad_(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), true);
  expect_null(tg_sgd_new(&scoped, 1, o), "params[0] belongs to a scope; parameters must be persistent");
  tg_tensor *nonleaf = tg_mul_scalar(p, 2.0);
  expect_null(tg_sgd_new(&nonleaf, 1, o), "params[0] is not a leaf");
  tg_tensor *frozen = tg_keep(tg_zeros(TG_FLOAT64, TG_SHAPE(3)));
  expect_null(tg_sgd_new(&frozen, 1, o), "params[0] does not require grad");
  tg_tensor *ints = tg_keep(tg_from_i64(TG_SHAPE(2), (int64_t[]){1, 2}));
  expect_null(tg_rmsprop_new(&ints, 1, tg_rmsprop_defaults()), "rmsprop: params[0] is int64");
  /* a transposed view: a leaf (detached) but not contiguous */
  tg_tensor *w = tg_keep(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)));
  tg_tensor *wt = tg_requires_grad_(tg_keep(tg_detach(tg_t(w))), true);
  assert_non_null(wt);
  assert_false(tg_is_contiguous(wt));
  expect_null(tg_adagrad_new(&wt, 1, tg_adagrad_defaults()), "adagrad: params[0] is not contiguous");
  /* NULL optimizers are errors, not crashes */
  assert_int_equal(tg_optim_step(NULL), -1);
  assert_error_has("optim_step: optimizer is NULL");
  assert_int_equal(tg_optim_zero_grad(NULL), -1);
  assert_error_has("optim_zero_grad: optimizer is NULL");
  assert_true(isnan(tg_optim_get_lr(NULL)));
  assert_error_has("optim_get_lr: optimizer is NULL");
  tg_optim_free(NULL);
  tg_free(wt);
  tg_free(w);
  tg_free(ints);
  tg_free(frozen);
  tg_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_params_without_grad_are_skipped),
      TG_TEST(test_zero_grad_keeps_buffers),
      TG_TEST(test_step_allocates_nothing),
      TG_TEST(test_state_names_and_shapes),
      TG_TEST(test_state_round_trip),
      TG_TEST(test_state_load_errors),
      TG_TEST(test_lr_get_set),
      TG_TEST(test_invalid_options),
      TG_TEST(test_invalid_params),
  };
  int rc = cmocka_run_group_tests_name("optim_state", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
