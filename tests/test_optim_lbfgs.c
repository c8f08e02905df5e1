/* L-BFGS (optim/lbfgs.c): first steps worked out by hand from torch's
 * algorithm, convergence to known minima (the quadratic of optim_ref.h,
 * minimum at C; Rosenbrock's at (1, 1)), the state across steps and its
 * ring, a step that allocates nothing, and every error path. The
 * comparison with PyTorch itself, step by step, is the optimizer oracle's
 * (tests/oracle/optim_oracle_lbfgs.py). */
#include "optim_ref.h"

/* the closure's context: the quadratic of optim_ref.h on p */
typedef struct quad_ctx {
  tg_optimizer *opt;
  tg_tensor *p;
  int calls;
  int fail_at; /* the call (from 1) that returns NaN; 0 never */
  bool by_hand; /* write A*(p-C) into the existing .grad (no allocation) */
} quad_ctx;

/* the loss at P0: 0.5 * sum A*(P0-C)^2, by hand */
#define L0 23.859375

static double quad_loss(const tg_tensor *p) {
  double f = 0;
  for (size_t i = 0; i < N; i++) {
    double d = tg_get_flat(p, i) - C[i];
    f += 0.5 * A[i] * d * d;
  }
  return f;
}

static double quad_closure(void *c) {
  quad_ctx *q = c;
  q->calls++;
  if (q->calls == q->fail_at) return NAN;
  if (q->by_hand) {
    double *g = (double *)tg_data(q->p->grad);
    const double *p = (const double *)tg_data(q->p);
    for (size_t i = 0; i < N; i++) g[i] = A[i] * (p[i] - C[i]);
    return quad_loss(q->p);
  }
  assert_int_equal(tg_optim_zero_grad(q->opt), 0);
  quad_backward(q->p);
  return quad_loss(q->p);
}

static tg_optimizer *quad_lbfgs(quad_ctx *q, tg_dtype dt, tg_lbfgs_opts o) {
  q->p = make_param(dt, N, P0);
  q->opt = tg_lbfgs_new(&q->p, 1, o);
  assert_non_null(q->opt);
  return q->opt;
}

static void quad_free(quad_ctx *q) {
  tg_optim_free(q->opt);
  tg_free(q->p);
}

/* ------------------------------------------------ steps worked by hand */

/* max_iter 1: one evaluation, then x1 = x0 - t*g0 with torch's first step
 * length t = min(1, 1/|g0|_1)*lr; no evaluation after the last iteration.
 * A second step adds the pair s = t*d, y = g1 - g0 and takes the two-loop
 * direction with one pair and t = lr. */
static void test_first_two_steps_by_hand(void **state) {
  (void)state;
  tg_lbfgs_opts o = tg_lbfgs_defaults();
  o.max_iter = 1, o.lr = 0.5;
  quad_ctx q = {0};
  tg_optimizer *opt = quad_lbfgs(&q, TG_FLOAT64, o);
  double x0[N], g0[N], d0[N], x1[N], g1[N], l1 = 0;
  double g_l1 = 0;
  for (size_t i = 0; i < N; i++) {
    x0[i] = P0[i], g0[i] = A[i] * (P0[i] - C[i]), g_l1 += fabs(g0[i]);
  }
  double t0 = fmin(1.0, 1.0 / g_l1) * 0.5;
  assert_close(tg_lbfgs_step(opt, quad_closure, &q), L0, 1e-12);
  for (size_t i = 0; i < N; i++) {
    d0[i] = -g0[i];
    x1[i] = x0[i] + t0 * d0[i];
    assert_close(tg_get_flat(q.p, i), x1[i], 1e-15);
    g1[i] = A[i] * (x1[i] - C[i]);
    l1 += 0.5 * A[i] * (x1[i] - C[i]) * (x1[i] - C[i]);
  }
  assert_int_equal(q.calls, 1);
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.func_evals"), 0), 1, 0);
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.n_iter"), 0), 1, 0);
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.t"), 0), t0, 1e-17);
  /* step 2: one pair in the history */
  double ys = 0, yy = 0, s[N], y[N], r[N];
  for (size_t i = 0; i < N; i++) {
    s[i] = t0 * d0[i], y[i] = g1[i] - g0[i];
    ys += y[i] * s[i], yy += y[i] * y[i];
  }
  double ro = 1 / ys, h = ys / yy, al = 0, be = 0;
  for (size_t i = 0; i < N; i++) al += s[i] * -g1[i];
  al *= ro;
  for (size_t i = 0; i < N; i++) r[i] = (-g1[i] - al * y[i]) * h;
  for (size_t i = 0; i < N; i++) be += y[i] * r[i];
  be *= ro;
  assert_close(tg_lbfgs_step(opt, quad_closure, &q), l1, 1e-12);
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(q.p, i), x1[i] + 0.5 * (r[i] + (al - be) * s[i]), 1e-13);
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.n_old"), 0), 1, 0);
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.H_diag"), 0), h, 1e-15);
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.ro"), 0), ro, 1e-12 * fabs(ro));
  for (size_t i = 0; i < N; i++) {
    assert_close(tg_get_flat(tg_optim_state_find(opt, "0.old_dirs"), i), y[i], 1e-15);
    assert_close(tg_get_flat(tg_optim_state_find(opt, "0.old_stps"), i), s[i], 1e-15);
  }
  quad_free(&q);
}

/* ------------------------------------------------------ convergence */

/* a diagonal quadratic: the minimum is C; both line searches and float32 */
static void test_quadratic_converges(void **state) {
  (void)state;
  for (int k = 0; k < 3; k++) {
    tg_lbfgs_opts o = tg_lbfgs_defaults();
    o.line_search_fn = k == 1 ? TG_LBFGS_NO_LINE_SEARCH : TG_LBFGS_STRONG_WOLFE;
    o.max_iter = 50;
    quad_ctx q = {0};
    tg_optimizer *opt = quad_lbfgs(&q, k == 2 ? TG_FLOAT32 : TG_FLOAT64, o);
    double first = tg_lbfgs_step(opt, quad_closure, &q);
    assert_close(first, L0, 1e-6);
    for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(q.p, i), C[i], k == 2 ? 1e-5 : 1e-7);
    if (k != 2) assert_true(tg_lbfgs_step(opt, quad_closure, &q) < 1e-12); /* at the minimum */
    quad_free(&q);
  }
}

/* Rosenbrock from (-1.5, 2): two 0-d parameters a, b, so the flat vector
 * spans parameters; the minimum is (1, 1) */
typedef struct rosen_ctx {
  tg_optimizer *opt;
  tg_tensor *ab[2];
} rosen_ctx;

static double rosen_closure(void *c) {
  rosen_ctx *r = c;
  tg_optim_zero_grad(r->opt);
  tg_scope_begin();
  tg_tensor *a = r->ab[0], *b = r->ab[1];
  tg_tensor *f = tg_add(tg_mul_scalar(tg_square(tg_sub(b, tg_square(a))), 100),
                        tg_square(tg_rsub_scalar(a, 1)));
  double v = f && tg_backward(f, NULL, false) == 0 ? tg_item(f) : NAN;
  tg_scope_end();
  return v;
}

static void test_rosenbrock_converges(void **state) {
  (void)state;
  for (int ls = 0; ls < 2; ls++) {
    rosen_ctx r = {0};
    for (int i = 0; i < 2; i++) {
      r.ab[i] = tg_requires_grad_(tg_keep(tg_scalar(TG_FLOAT64, i ? 2.0 : -1.5)), true);
      assert_non_null(r.ab[i]);
    }
    tg_lbfgs_opts o = tg_lbfgs_defaults();
    o.line_search_fn = ls ? TG_LBFGS_STRONG_WOLFE : TG_LBFGS_NO_LINE_SEARCH;
    o.lr = ls ? 1 : 0.1; /* a fixed unit step overshoots the valley */
    o.max_iter = 200, o.max_eval = 400, o.tolerance_change = 0;
    r.opt = tg_lbfgs_new(r.ab, 2, o);
    assert_non_null(r.opt);
    for (int s = 0; s < 5; s++) assert_false(isnan(tg_lbfgs_step(r.opt, rosen_closure, &r)));
    assert_close(tg_item(r.ab[0]), 1, 1e-6);
    assert_close(tg_item(r.ab[1]), 1, 1e-6);
    tg_optim_free(r.opt);
    tg_free(r.ab[0]);
    tg_free(r.ab[1]);
  }
}

/* --------------------------------------------------- state across steps */

/* history_size 2 over many iterations: the ring keeps the last two pairs,
 * in order from 0.old_first; counters add up across steps */
static void test_state_ring_and_counters(void **state) {
  (void)state;
  tg_lbfgs_opts o = tg_lbfgs_defaults();
  o.history_size = 2, o.max_iter = 3, o.max_eval = 10, o.lr = 0.25, o.tolerance_change = 0;
  quad_ctx q = {0};
  tg_optimizer *opt = quad_lbfgs(&q, TG_FLOAT64, o);
  assert_int_equal(tg_optim_state_count(opt), 13);
  const char *name;
  assert_non_null(tg_optim_state_at(opt, 4, &name));
  assert_string_equal(name, "0.old_dirs");
  tg_tensor *dirs = tg_optim_state_find(opt, "0.old_dirs");
  assert_int_equal(dirs->ndim, 2);
  assert_int_equal(dirs->shape[0], 2);
  assert_int_equal(dirs->shape[1], N);
  for (int s = 0; s < 3; s++) {
    assert_false(isnan(tg_lbfgs_step(opt, quad_closure, &q)));
    /* no line search, max_iter 3: evaluations 1 + 2 per step */
    assert_int_equal(q.calls, 3 * (s + 1));
    assert_close(tg_get_flat(tg_optim_state_find(opt, "0.func_evals"), 0), 3 * (s + 1), 0);
    assert_close(tg_get_flat(tg_optim_state_find(opt, "0.n_iter"), 0), 3 * (s + 1), 0);
  }
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.n_old"), 0), 2, 0);
  /* each pair's ro is 1/(y.s) */
  int first = (int)tg_get_flat(tg_optim_state_find(opt, "0.old_first"), 0);
  assert_true(first == 0 || first == 1);
  tg_tensor *stps = tg_optim_state_find(opt, "0.old_stps"), *ro = tg_optim_state_find(opt, "0.ro");
  for (int k = 0; k < 2; k++) {
    double ys = 0;
    for (size_t i = 0; i < N; i++) ys += tg_get_flat(dirs, (size_t)k * N + i) * tg_get_flat(stps, (size_t)k * N + i);
    assert_close(tg_get_flat(ro, (size_t)k), 1 / ys, 1e-12 / ys);
  }
  /* y of each pair is A*s on this quadratic (the gradient is linear) */
  for (size_t k = 0; k < 2 * N; k++) assert_close(tg_get_flat(dirs, k), A[k % N] * tg_get_flat(stps, k), 1e-13);
  /* tg_optim_set_lr reaches the next step: lr 0 moves nothing */
  assert_int_equal(tg_optim_set_lr(opt, 0), 0);
  double before[N];
  for (size_t i = 0; i < N; i++) before[i] = tg_get_flat(q.p, i);
  assert_false(isnan(tg_lbfgs_step(opt, quad_closure, &q)));
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(q.p, i), before[i], 0);
  quad_free(&q);
}

/* a checkpoint round trip: a second optimizer loaded with the first's
 * state continues exactly as the first */
static void test_state_round_trip(void **state) {
  (void)state;
  tg_lbfgs_opts o = tg_lbfgs_defaults();
  o.max_iter = 2, o.history_size = 3, o.line_search_fn = TG_LBFGS_STRONG_WOLFE;
  o.tolerance_change = 0;
  quad_ctx a = {0}, b = {0};
  quad_lbfgs(&a, TG_FLOAT64, o);
  quad_lbfgs(&b, TG_FLOAT64, o);
  for (int s = 0; s < 2; s++) tg_lbfgs_step(a.opt, quad_closure, &a);
  assert_int_equal(tg_copy_(b.p, a.p), 0);
  for (size_t e = 0; e < tg_optim_state_count(a.opt); e++) {
    const char *name;
    tg_tensor *t = tg_optim_state_at(a.opt, e, &name);
    assert_int_equal(tg_optim_state_load(b.opt, name, t), 0);
  }
  tg_lbfgs_step(a.opt, quad_closure, &a);
  tg_lbfgs_step(b.opt, quad_closure, &b);
  test_assert_identical(a.p, b.p);
  quad_free(&a);
  quad_free(&b);
}

/* ------------------------------------------------ nothing allocated */

#ifdef HAVE_MALLOC_HOOK
static volatile int probe_on;
static volatile size_t probe_count;
static void on_malloc(const volatile void *p, size_t n) {
  (void)p, (void)n;
  if (probe_on) probe_count = probe_count + 1;
}
static void on_free(const volatile void *p) { (void)p; }
#endif

/* with a closure that allocates nothing (the gradient written into the
 * existing .grad), a whole step with line search allocates nothing */
static void test_step_allocates_nothing(void **state) {
  (void)state;
#ifdef HAVE_MALLOC_HOOK
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
  tg_lbfgs_opts o = tg_lbfgs_defaults();
  o.line_search_fn = TG_LBFGS_STRONG_WOLFE, o.history_size = 4;
  quad_ctx q = {0};
  tg_optimizer *opt = quad_lbfgs(&q, TG_FLOAT64, o);
  quad_backward(q.p); /* makes .grad */
  q.by_hand = true;
  probe_count = 0;
  probe_on = 1;
  double l = tg_lbfgs_step(opt, quad_closure, &q);
  probe_on = 0;
  assert_false(isnan(l));
  assert_int_equal(probe_count, 0);
  assert_true(q.calls > 2);
  quad_free(&q);
#else
  skip();
#endif
}

/* ------------------------------------------------------------ errors */

static void test_bad_options(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  struct {
    tg_lbfgs_opts o;
    const char *a, *b;
  } cases[] = {
      {{.lr = -1, .max_iter = 20, .history_size = 10}, "lbfgs: invalid learning rate -1", ">= 0"},
      {{.lr = NAN, .max_iter = 20, .history_size = 10}, "lbfgs: invalid learning rate", NULL},
      {{.lr = 1, .max_iter = 0, .history_size = 10}, "lbfgs: invalid max_iter 0", ">= 1"},
      {{.lr = 1, .max_iter = 20, .max_eval = -1, .history_size = 10}, "invalid max_eval -1", "0 for max_iter*5/4"},
      {{.lr = 1, .max_iter = 20, .history_size = 0}, "lbfgs: invalid history_size 0", ">= 1"},
      {{.lr = 1, .max_iter = 20, .history_size = 1, .tolerance_grad = -1}, "invalid tolerance_grad", NULL},
      {{.lr = 1, .max_iter = 20, .history_size = 1, .tolerance_change = NAN}, "invalid tolerance_change", NULL},
      {{.lr = 1, .max_iter = 20, .history_size = 1, .line_search_fn = (tg_lbfgs_line_search)7},
       "only 'strong_wolfe' is supported", "got 7"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    assert_null(tg_lbfgs_new(&p, 1, cases[k].o));
    test_expect_error(cases[k].a, cases[k].b);
  }
  assert_null(tg_lbfgs_new(&p, 0, tg_lbfgs_defaults()));
  test_expect_error("lbfgs: got 0 parameters", NULL);
  tg_tensor *twice[2] = {p, p};
  assert_null(tg_lbfgs_new(twice, 2, tg_lbfgs_defaults()));
  test_expect_error("lbfgs: params[1] is the same tensor as params[0]", NULL);
  tg_free(p);
}

/* one parameter group, no weight decay or momentum; tg_optim_step and the
 * other adders refuse it; tg_lbfgs_step refuses other optimizers */
static void test_generic_interface(void **state) {
  (void)state;
  quad_ctx q = {0};
  tg_optimizer *opt = quad_lbfgs(&q, TG_FLOAT64, tg_lbfgs_defaults());
  assert_string_equal(tg_optim_name(opt), "LBFGS");
  assert_int_equal(tg_optim_num_groups(opt), 1);
  assert_int_equal(tg_optim_num_params(opt), 1);
  assert_close(tg_optim_get_lr(opt), 1, 0);
  assert_int_equal(tg_optim_step(opt), -1);
  test_expect_error("optim_step: LBFGS needs a closure", "tg_lbfgs_step");
  tg_tensor *other = make_param(TG_FLOAT64, N, P0);
  assert_int_equal(tg_sgd_add_param_group(opt, &other, 1, tg_sgd_defaults()), -1);
  test_expect_error("sgd_add_param_group: the optimizer is LBFGS", "not tg_sgd_opts");
  assert_true(isnan(tg_optim_get_group_weight_decay(opt, 0)));
  test_expect_error("optim_get_group_weight_decay: LBFGS has no weight_decay", NULL);
  assert_int_equal(tg_optim_set_group_weight_decay(opt, 0, 0.1), -1);
  test_expect_error("LBFGS has no weight_decay", NULL);
  assert_true(isnan(tg_optim_get_group_momentum(opt, 0)));
  test_expect_error("LBFGS has no momentum", NULL);
  /* a scheduler drives the lr the next step reads */
  tg_lr_scheduler *sched = tg_exponential_lr_new(opt, 0.5);
  assert_non_null(sched);
  assert_int_equal(tg_scheduler_step(sched), 0);
  assert_close(tg_optim_get_lr(opt), 0.5, 0);
  tg_scheduler_free(sched);
  tg_optimizer *sgd = tg_sgd_new(&other, 1, tg_sgd_defaults());
  assert_true(isnan(tg_lbfgs_step(sgd, quad_closure, &q)));
  test_expect_error("lbfgs_step: the optimizer is SGD, not LBFGS", NULL);
  assert_true(isnan(tg_lbfgs_step(opt, NULL, &q)));
  test_expect_error("lbfgs_step: closure is NULL", NULL);
  assert_true(isnan(tg_lbfgs_step(NULL, quad_closure, &q)));
  test_expect_error("lbfgs_step: optimizer is NULL", NULL);
  assert_int_equal(q.calls, 0);
  tg_optim_free(sgd);
  tg_free(other);
  quad_free(&q);
}

/* a closure that fails mid-step (in the line search): NaN and an error, the
 * parameters back where the step began, the next step a first one */
static void test_closure_failure_restores(void **state) {
  (void)state;
  tg_lbfgs_opts o = tg_lbfgs_defaults();
  o.line_search_fn = TG_LBFGS_STRONG_WOLFE, o.max_iter = 3, o.max_eval = 100;
  quad_ctx q = {0};
  tg_optimizer *opt = quad_lbfgs(&q, TG_FLOAT64, o);
  assert_false(isnan(tg_lbfgs_step(opt, quad_closure, &q))); /* history now */
  double before[N];
  for (size_t i = 0; i < N; i++) before[i] = tg_get_flat(q.p, i);
  q.fail_at = q.calls + 3;
  assert_true(isnan(tg_lbfgs_step(opt, quad_closure, &q)));
  test_expect_error("lbfgs_step: the closure returned NaN", NULL);
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(q.p, i), before[i], 0);
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.n_iter"), 0), 0, 0);
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.n_old"), 0), 0, 0);
  /* the failed closure's own error is kept in the message */
  q.fail_at = 0;
  assert_false(isnan(tg_lbfgs_step(opt, quad_closure, &q)));
  assert_close(tg_get_flat(tg_optim_state_find(opt, "0.n_iter"), 0), 3, 0);
  quad_free(&q);
}

/* a closure that leaves a gradient of the wrong shape: refused, the
 * parameters back where they were */
static tg_tensor *wrong_grad;
static double wrong_shape_closure(void *c) {
  quad_ctx *q = c;
  q->calls++;
  tg_tensor *old = q->p->grad;
  q->p->grad = wrong_grad;
  tg_free(old);
  return 1.0;
}

static void test_gradient_mismatch(void **state) {
  (void)state;
  quad_ctx q = {0};
  tg_optimizer *opt = quad_lbfgs(&q, TG_FLOAT64, tg_lbfgs_defaults());
  wrong_grad = tg_keep(tg_zeros(TG_FLOAT64, 1, (size_t[]){N + 1}));
  assert_true(isnan(tg_lbfgs_step(opt, wrong_shape_closure, &q)));
  test_expect_error("lbfgs_step: the gradient of parameter 0", "different shape");
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(q.p, i), P0[i], 0);
  assert_int_equal(q.calls, 1);
  quad_free(&q); /* frees wrong_grad as q.p's .grad */
}

/* a loaded counter that would index outside the ring is refused */
static void test_bad_loaded_state(void **state) {
  (void)state;
  tg_lbfgs_opts o = tg_lbfgs_defaults();
  o.history_size = 4;
  quad_ctx q = {0};
  tg_optimizer *opt = quad_lbfgs(&q, TG_FLOAT64, o);
  const char *names[] = {"0.n_old", "0.old_first", "0.n_iter"};
  const double bad[] = {5, 4, 0.5};
  for (int k = 0; k < 3; k++) {
    tg_tensor *v = tg_scalar(TG_FLOAT64, bad[k]);
    assert_int_equal(tg_optim_state_load(opt, names[k], v), 0);
    assert_true(isnan(tg_lbfgs_step(opt, quad_closure, &q)));
    test_expect_error(names[k], "must be a whole number");
    assert_int_equal(tg_optim_state_load(opt, names[k], tg_scalar(TG_FLOAT64, 0)), 0);
  }
  assert_int_equal(q.calls, 0);
  assert_false(isnan(tg_lbfgs_step(opt, quad_closure, &q)));
  quad_free(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_first_two_steps_by_hand), TG_TEST(test_quadratic_converges),
      TG_TEST(test_rosenbrock_converges),    TG_TEST(test_state_ring_and_counters),
      TG_TEST(test_state_round_trip),        TG_TEST(test_step_allocates_nothing),
      TG_TEST(test_bad_options),             TG_TEST(test_generic_interface),
      TG_TEST(test_closure_failure_restores), TG_TEST(test_bad_loaded_state),
      TG_TEST(test_gradient_mismatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
