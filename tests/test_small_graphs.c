/* The scalar graphs of bench/small_graphs (issue 17): their values and
 * gradients pinned, first and second derivatives against finite
 * differences, and the steady state of building, differentiating and
 * freeing them (same bits every time, nothing left behind, no malloc).
 *
 * Expected values: the micrograd README graph at a = -4, b = 2 gives
 * g = 24.7041, a.grad = 138.8338, b.grad = 645.5773 (micrograd's README and
 * PyTorch 1.13, 4 decimals, as quoted in issue 17). The tiny graph at
 * a = -41, b = 2, by hand (PyTorch agrees):
 *   c = a + b = -39, d = a*b + b^3 = -74, e = c - d = 35, f = e^2 = 1225,
 *   g = f/2 = 612.5; dg/de = e = 35, de/da = 1 - b = -1, de/db = 1 - a - 3b^2 = 30,
 *   so a.grad = -35, b.grad = 1050; d2g/da2 = (de/da)^2 = 1,
 *   d2g/dadb = de/da*de/db + e*d2e/dadb = -30 - 35 = -65. */
#include "tg_test.h"

static tg_tensor *tiny_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  tg_tensor *a = in[0], *b = in[1];
  tg_tensor *c = tg_add(a, b);
  tg_tensor *d = tg_add(tg_mul(a, b), tg_pow_scalar(b, 3.0));
  tg_tensor *e = tg_sub(c, d);
  return tg_div_scalar(tg_pow_scalar(e, 2.0), 2.0);
}

static tg_tensor *micrograd_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  tg_tensor *a = in[0], *b = in[1];
  tg_tensor *c = tg_add(a, b);
  tg_tensor *d = tg_add(tg_mul(a, b), tg_pow_scalar(b, 3.0));
  c = tg_add(c, tg_add_scalar(c, 1.0));
  c = tg_add(c, tg_add(tg_add_scalar(c, 1.0), tg_neg(a)));
  d = tg_add(d, tg_add(tg_mul_scalar(d, 2.0), tg_relu(tg_add(b, a))));
  d = tg_add(d, tg_add(tg_mul_scalar(d, 3.0), tg_relu(tg_sub(b, a))));
  tg_tensor *e = tg_sub(c, d);
  tg_tensor *f = tg_pow_scalar(e, 2.0);
  return tg_add(tg_div_scalar(f, 2.0), tg_mul_scalar(tg_reciprocal(f), 10.0));
}

typedef struct values {
  double g, ga, gb;
} values;

/* one iteration as the benchmark runs it: leaves, graph, backward, read, free */
static values run(tg_fn f, double a0, double b0) {
  values v = {NAN, NAN, NAN};
  tg_scope_begin();
  tg_tensor *in[2] = {tg_requires_grad_(tg_scalar(TG_FLOAT64, a0), true),
                      tg_requires_grad_(tg_scalar(TG_FLOAT64, b0), true)};
  tg_tensor *g = f(in, NULL);
  if (g && tg_backward(g, NULL, false) == 0 && in[0]->grad && in[1]->grad) {
    v.g = tg_item(g);
    v.ga = tg_item(in[0]->grad);
    v.gb = tg_item(in[1]->grad);
  }
  tg_scope_end();
  return v;
}

static void micrograd_values(void **state) {
  (void)state;
  values v = run(micrograd_fn, -4.0, 2.0);
  assert_close(v.g, 24.7041, 5e-5);
  assert_close(v.ga, 138.8338, 5e-5);
  assert_close(v.gb, 645.5773, 5e-5);
}

static void tiny_values(void **state) {
  (void)state;
  values v = run(tiny_fn, -41.0, 2.0);
  assert_true(v.g == 612.5);
  assert_true(v.ga == -35.0);
  assert_true(v.gb == 1050.0);
}

/* second derivatives of the tiny graph by hand (see the top) */
static void tiny_second_derivatives(void **state) {
  (void)state;
  tg_tensor *in[2] = {tg_requires_grad_(tg_scalar(TG_FLOAT64, -41.0), true),
                      tg_requires_grad_(tg_scalar(TG_FLOAT64, 2.0), true)};
  tg_tensor *g = tiny_fn(in, NULL), *grads[2];
  assert_int_equal(tg_grad(1, &g, NULL, 2, in, grads, (tg_grad_opts){.create_graph = true}), 0);
  assert_true(tg_item(grads[0]) == -35.0);
  tg_tensor *h[2];
  assert_int_equal(tg_grad(1, &grads[0], NULL, 2, in, h, (tg_grad_opts){0}), 0);
  assert_true(tg_item(h[0]) == 1.0);
  assert_true(tg_item(h[1]) == -65.0);
}

/* random points (away from relu's kinks: b + a and b - a not near 0) */
static void graphs_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(17);
  for (int t = 0; t < 8; t++) {
    double a0 = 4 * tg_rng_uniform(&r) - 2, b0 = 4 * tg_rng_uniform(&r) - 2;
    if (fabs(b0 + a0) < 0.1 || fabs(b0 - a0) < 0.1) continue;
    tg_tensor *in[2] = {tg_requires_grad_(tg_scalar(TG_FLOAT64, a0), true),
                        tg_requires_grad_(tg_scalar(TG_FLOAT64, b0), true)};
    assert_gradcheck(tiny_fn, 2, in, NULL);
    assert_gradgradcheck(tiny_fn, 2, in, NULL);
    assert_gradcheck(micrograd_fn, 2, in, NULL);
    assert_gradgradcheck(micrograd_fn, 2, in, NULL);
  }
}

/* persistent leaves: .grad accumulates across backward calls and outlives
 * the scope of the graph */
static void persistent_leaves_accumulate(void **state) {
  (void)state;
  tg_scope_end(); /* depth 0: the leaves are persistent */
  tg_tensor *in[2] = {tg_requires_grad_(tg_scalar(TG_FLOAT64, -41.0), true),
                      tg_requires_grad_(tg_scalar(TG_FLOAT64, 2.0), true)};
  for (int k = 1; k <= 3; k++) {
    tg_scope_begin();
    assert_int_equal(tg_backward(tiny_fn(in, NULL), NULL, false), 0);
    tg_scope_end();
    assert_true(tg_item(in[0]->grad) == -35.0 * k);
    assert_true(tg_item(in[1]->grad) == 1050.0 * k);
  }
  tg_free(in[0]);
  tg_free(in[1]);
  tg_scope_begin();
}

/* the benchmark's loop: the same bits every iteration, every object freed,
 * no system allocation once the pool has grown */
static void steady_state(void **state) {
  (void)state;
  values first = run(micrograd_fn, -4.0, 2.0), t0 = run(tiny_fn, -41.0, 2.0);
  tg_memory_stats s0 = tg_memory_get_stats();
  for (int i = 0; i < 1000; i++) {
    values v = run(micrograd_fn, -4.0, 2.0), t = run(tiny_fn, -41.0, 2.0);
    assert_memory_equal(&v, &first, sizeof v);
    assert_memory_equal(&t, &t0, sizeof t);
  }
  tg_memory_stats s1 = tg_memory_get_stats();
  assert_int_equal(s1.live_objects, s0.live_objects);
  assert_int_equal(s1.mallocs, s0.mallocs);
  assert_int_equal(s1.bytes_cached, s0.bytes_cached);
}

/* ---- the 0-d fast paths give the bits of the general path: every
 * elementwise op on a 0-d leaf against the same op on a [1] leaf (which
 * goes through broadcasting, the loop kernels and the engine's routing),
 * forward value and leaf gradients, float32 and float64 */

typedef tg_tensor *(*op1)(tg_tensor *);
typedef tg_tensor *(*op2)(tg_tensor *, tg_tensor *);
typedef tg_tensor *(*op1s)(tg_tensor *, double);

static const double probe[] = {-2.5, -1.0, -0.0, 0.0, 0.1, 0.3, 1.0, 2.0, 7.25, NAN, INFINITY};
#define N_PROBE (sizeof probe / sizeof probe[0])

static bool same_bits(double x, double y) { return x == y ? signbit(x) == signbit(y) : isnan(x) && isnan(y); }

static tg_tensor *leaf_of(tg_dtype dt, double v, bool one_d) {
  tg_tensor *t = one_d ? tg_from_f64(TG_SHAPE(1), (double[]){v}) : tg_scalar(TG_FLOAT64, v);
  if (dt == TG_FLOAT32) t = tg_to_dtype(t, TG_FLOAT32);
  return tg_requires_grad_(tg_detach(t), true);
}

/* y = f(leaves) at both ranks; value and every leaf gradient bit for bit */
typedef tg_tensor *(*apply_fn)(const void *f, tg_tensor **in, double s);
static void compare_ranks(const char *what, apply_fn apply, const void *f, int n_in, tg_dtype dt,
                          const double *v, double s) {
  double val[2], grad[2][2];
  bool has[2];
  for (int one_d = 0; one_d < 2; one_d++) {
    tg_scope_begin();
    tg_tensor *in[2];
    for (int k = 0; k < n_in; k++) in[k] = leaf_of(dt, v[k], one_d);
    tg_tensor *y = apply(f, in, s);
    assert_non_null(y);
    val[one_d] = tg_get_flat(y, 0);
    has[one_d] = y->requires_grad && tg_backward(y, NULL, false) == 0;
    for (int k = 0; k < n_in && has[one_d]; k++)
      grad[one_d][k] = in[k]->grad ? tg_get_flat(in[k]->grad, 0) : 12345.0;
    tg_clear_error();
    tg_scope_end();
  }
  if (!same_bits(val[0], val[1]))
    fail_msg("%s %s at %g, %g: 0-d %.17g vs [1] %.17g", what, tg_dtype_name(dt), v[0], v[1], val[0], val[1]);
  assert_int_equal(has[0], has[1]);
  for (int k = 0; k < n_in && has[0]; k++)
    if (!same_bits(grad[0][k], grad[1][k]))
      fail_msg("%s %s at %g, %g: grad %d 0-d %.17g vs [1] %.17g", what, tg_dtype_name(dt), v[0],
               v[1], k, grad[0][k], grad[1][k]);
}

static tg_tensor *apply1(const void *f, tg_tensor **in, double s) {
  (void)s;
  return (*(const op1 *)f)(in[0]);
}
static tg_tensor *apply2(const void *f, tg_tensor **in, double s) {
  (void)s;
  return (*(const op2 *)f)(in[0], in[1]);
}
static tg_tensor *apply1s(const void *f, tg_tensor **in, double s) {
  return (*(const op1s *)f)(in[0], s);
}
/* an input used twice, and a graph mixing leaves and non-leaves */
static tg_tensor *apply_square_mul(const void *f, tg_tensor **in, double s) {
  (void)f;
  (void)s;
  tg_tensor *t = tg_mul(in[0], in[0]);
  return tg_mul(tg_add(t, in[1]), tg_mul(in[1], t));
}

/* a leaf reached twice by one node after it already has a gradient: the
 * order of the two adds shows ((p + g) - g is not (p - g) + g) */
static tg_tensor *apply_sub_self(const void *f, tg_tensor **in, double s) {
  (void)f;
  (void)s;
  tg_tensor *d = tg_sub(in[0], in[0]), *m = tg_mul(in[0], in[1]);
  return tg_add(tg_mul_scalar(d, 10.0 / 3.0), m);
}

/* a non-leaf h feeding many consumers: from the third gradient on its
 * backward adds into h's owned gradient (ops_scalar_slot), h - h and h*h
 * included, whose two adds stay in the engine's order */
static tg_tensor *apply_fanout(const void *f, tg_tensor **in, double s) {
  (void)f;
  (void)s;
  tg_tensor *h = tg_mul(in[0], in[1]);
  tg_tensor *y = tg_mul(h, in[1]);
  y = tg_add(y, tg_mul_scalar(h, 1.0 / 3.0));
  y = tg_add(y, tg_relu(h));
  y = tg_add(y, tg_mul_scalar(tg_sub(h, h), 10.0 / 3.0));
  y = tg_add(y, tg_mul(h, h));
  y = tg_add(y, tg_sub(in[0], h));
  y = tg_add(y, tg_div_scalar(tg_pow_scalar(h, 3.0), 7.0));
  return tg_add(y, tg_mul(tg_sub(h, in[1]), h));
}

static void scalar_path_bits(void **state) {
  (void)state;
  static const struct { const char *name; op1 f; } u[] = {
      {"neg", tg_neg}, {"exp", tg_exp}, {"log", tg_log}, {"sqrt", tg_sqrt}, {"abs", tg_abs},
      {"sin", tg_sin}, {"cos", tg_cos}, {"tanh", tg_tanh}, {"sigmoid", tg_sigmoid},
      {"relu", tg_relu}, {"log1p", tg_log1p}, {"expm1", tg_expm1}, {"log2", tg_log2},
      {"log10", tg_log10}, {"exp2", tg_exp2}, {"tan", tg_tan}, {"asin", tg_asin},
      {"acos", tg_acos}, {"atan", tg_atan}, {"sinh", tg_sinh}, {"cosh", tg_cosh},
      {"asinh", tg_asinh}, {"acosh", tg_acosh}, {"atanh", tg_atanh}, {"erf", tg_erf},
      {"erfc", tg_erfc}, {"erfinv", tg_erfinv}, {"reciprocal", tg_reciprocal},
      {"rsqrt", tg_rsqrt}, {"square", tg_square}, {"sign", tg_sign}, {"floor", tg_floor},
      {"ceil", tg_ceil}, {"round", tg_round}, {"trunc", tg_trunc}, {"frac", tg_frac},
      {"silu", tg_silu}, {"mish", tg_mish}, {"relu6", tg_relu6}, {"selu", tg_selu},
      {"softsign", tg_softsign}, {"hardsigmoid", tg_hardsigmoid}, {"hardswish", tg_hardswish},
      {"logsigmoid", tg_logsigmoid}};
  static const struct { const char *name; op2 f; } b[] = {
      {"add", tg_add}, {"sub", tg_sub}, {"mul", tg_mul}, {"div", tg_div}, {"pow", tg_pow},
      {"maximum", tg_maximum}, {"minimum", tg_minimum}, {"atan2", tg_atan2}, {"fmod", tg_fmod},
      {"remainder", tg_remainder}, {"hypot", tg_hypot}, {"copysign", tg_copysign}};
  static const struct { const char *name; op1s f; double s; } sc[] = {
      {"add_scalar", tg_add_scalar, 1.5}, {"sub_scalar", tg_sub_scalar, 0.25},
      {"rsub_scalar", tg_rsub_scalar, 2.0}, {"mul_scalar", tg_mul_scalar, -3.0},
      {"div_scalar", tg_div_scalar, 7.0}, {"pow_scalar 0", tg_pow_scalar, 0.0},
      {"pow_scalar 1", tg_pow_scalar, 1.0}, {"pow_scalar 2", tg_pow_scalar, 2.0},
      {"pow_scalar 3", tg_pow_scalar, 3.0}, {"pow_scalar 0.5", tg_pow_scalar, 0.5},
      {"pow_scalar -1.5", tg_pow_scalar, -1.5}, {"elu", tg_elu, 1.0}, {"celu", tg_celu, 0.5},
      {"leaky_relu", tg_leaky_relu, 0.01}};
  for (int d = 0; d < 2; d++) {
    tg_dtype dt = d ? TG_FLOAT64 : TG_FLOAT32;
    for (size_t i = 0; i < N_PROBE; i++) {
      double v[2] = {probe[i], 0};
      for (size_t k = 0; k < sizeof u / sizeof u[0]; k++)
        compare_ranks(u[k].name, apply1, &u[k].f, 1, dt, v, 0);
      for (size_t k = 0; k < sizeof sc / sizeof sc[0]; k++)
        compare_ranks(sc[k].name, apply1s, &sc[k].f, 1, dt, v, sc[k].s);
      for (size_t j = 0; j < N_PROBE; j++) {
        v[1] = probe[j];
        for (size_t k = 0; k < sizeof b / sizeof b[0]; k++)
          compare_ranks(b[k].name, apply2, &b[k].f, 2, dt, v, 0);
        compare_ranks("a*a, b*a*a", apply_square_mul, NULL, 2, dt, v, 0);
        compare_ranks("(a-a)*10/3 + a*b", apply_sub_self, NULL, 2, dt, v, 0);
        compare_ranks("h = a*b fanned out", apply_fanout, NULL, 2, dt, v, 0);
      }
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(micrograd_values),  TG_TEST(tiny_values),
      TG_TEST(tiny_second_derivatives), TG_TEST(graphs_gradcheck),
      TG_TEST(persistent_leaves_accumulate), TG_TEST(steady_state),
      TG_TEST(scalar_path_bits),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
