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

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(micrograd_values),  TG_TEST(tiny_values),
      TG_TEST(tiny_second_derivatives), TG_TEST(graphs_gradcheck),
      TG_TEST(persistent_leaves_accumulate), TG_TEST(steady_state),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
