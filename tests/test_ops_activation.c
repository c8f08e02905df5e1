/* The activations of ops/activation.c: forward values against formulas
 * written here (libm), float64 gradcheck and gradgradcheck on random shapes
 * with a transposed (non-contiguous) input, the gradients and second
 * derivatives at the kinks as PyTorch 1.13 gives them (values taken by hand
 * from torch), integer promotion and errors as torch. */
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

typedef struct {
  const char *name;
  test_op1 f;
  double (*ref)(double);
} case1;

#define SELU_A 1.6732632423543772848170429916717
#define SELU_S 1.0507009873554804934193349852946

static double r_gelu(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double r_gelu_tanh(double x) {
  return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * pow(x, 3))));
}
static double r_silu(double x) { return x / (1 + exp(-x)); }
static double r_mish(double x) { return x * tanh(log(1 + exp(x))); }
static double r_hardtanh(double x) { return x < -0.5 ? -0.5 : (x > 2 ? 2 : x); }
static double r_relu6(double x) { return fmin(fmax(x, 0), 6); }
static double r_selu(double x) { return x > 0 ? SELU_S * x : SELU_S * SELU_A * (exp(x) - 1); }
static double r_celu(double x) { return fmax(0, x) + fmin(0, 0.7 * (exp(x / 0.7) - 1)); }
static double r_celu_neg(double x) { return x > 0 ? x : -1.5 * (exp(x / -1.5) - 1); }
static double r_softsign(double x) { return x / (1 + fabs(x)); }
static double r_hardsigmoid(double x) { return fmin(fmax(x / 6 + 0.5, 0), 1); }
static double r_hardswish(double x) { return x * r_hardsigmoid(x); }
static double r_logsigmoid(double x) { return -log1p(exp(-x)); }

static tg_tensor *f_gelu(tg_tensor *a) { return tg_gelu(a, "none"); }
static tg_tensor *f_gelu_tanh(tg_tensor *a) { return tg_gelu(a, "tanh"); }
static tg_tensor *f_silu(tg_tensor *a) { return tg_silu(a); }
static tg_tensor *f_mish(tg_tensor *a) { return tg_mish(a); }
static tg_tensor *f_hardtanh(tg_tensor *a) { return tg_hardtanh(a, -0.5, 2); }
static tg_tensor *f_relu6(tg_tensor *a) { return tg_relu6(a); }
static tg_tensor *f_selu(tg_tensor *a) { return tg_selu(a); }
static tg_tensor *f_celu(tg_tensor *a) { return tg_celu(a, 0.7); }
static tg_tensor *f_celu_neg(tg_tensor *a) { return tg_celu(a, -1.5); }
static tg_tensor *f_softsign(tg_tensor *a) { return tg_softsign(a); }
static tg_tensor *f_hardsigmoid(tg_tensor *a) { return tg_hardsigmoid(a); }
static tg_tensor *f_hardswish(tg_tensor *a) { return tg_hardswish(a); }
static tg_tensor *f_logsigmoid(tg_tensor *a) { return tg_logsigmoid(a); }

static const case1 cases[] = {
    {"gelu", f_gelu, r_gelu},
    {"gelu", f_gelu_tanh, r_gelu_tanh},
    {"silu", f_silu, r_silu},
    {"mish", f_mish, r_mish},
    {"hardtanh", f_hardtanh, r_hardtanh},
    {"relu6", f_relu6, r_relu6},
    {"selu", f_selu, r_selu},
    {"celu", f_celu, r_celu},
    {"celu", f_celu_neg, r_celu_neg},
    {"softsign", f_softsign, r_softsign},
    {"hardsigmoid", f_hardsigmoid, r_hardsigmoid},
    {"hardswish", f_hardswish, r_hardswish},
    {"logsigmoid", f_logsigmoid, r_logsigmoid},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void test_forward_and_grads(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 21);
  for (size_t c = 0; c < N_CASES; c++) {
    for (int rep = 0; rep < 3; rep++) {
      size_t m = 1 + (size_t)(tg_rng_uniform(&r) * 4), n = 1 + (size_t)(tg_rng_uniform(&r) * 4);
      /* N(0, 3^2): both sides of every kink (+-3, 0, 6, -0.5, 2) */
      tg_tensor *x = tg_requires_grad_(tg_detach(tg_mul_scalar(tg_randn(&r, TG_FLOAT64, 2, (size_t[]){n, m}), 3)), true);
      test_op1_ctx cx = {cases[c].f};
      tg_tensor *in[1] = {x};
      tg_tensor *y = test_through_t(in, &cx);
      assert_non_null(y);
      assert_int_equal(y->dtype, TG_FLOAT64);
      for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
          double xv = tg_get(x, (size_t[]){j, i}), want = cases[c].ref(xv), got = tg_get(y, (size_t[]){i, j});
          if (fabs(got - want) > 1e-12 * (1 + fabs(want))) fail_msg("%s(%g) = %.17g, want %.17g", cases[c].name, xv, got, want);
        }
      assert_gradcheck(test_through_t, 1, in, &cx);
      assert_gradgradcheck(test_through_t, 1, in, &cx);
    }
  }
}

/* first and second derivative at given points (d2 may be NULL) */
static void check_kinks(test_op1 f, const double *xs, const double *d1, const double *d2, size_t n) {
  tg_tensor *x = tg_requires_grad_(tg_from_f64(1, (size_t[]){n}, xs), true);
  tg_tensor *y = tg_sum(f(x)), *g = NULL;
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x, &g, (tg_grad_opts){.create_graph = true}), 0);
  for (size_t i = 0; i < n; i++)
    if (fabs(tg_get_flat(g, i) - d1[i]) > 1e-15) fail_msg("f'(%g) = %.17g, want %.17g", xs[i], tg_get_flat(g, i), d1[i]);
  if (!d2) return;
  /* a constant first derivative has no history: its derivative is 0 */
  tg_tensor *s = tg_sum(g), *gg = NULL;
  if (s->requires_grad)
    assert_int_equal(tg_grad(1, &s, NULL, 1, &x, &gg, (tg_grad_opts){.allow_unused = true}), 0);
  for (size_t i = 0; i < n; i++) {
    double v = gg ? tg_get_flat(gg, i) : 0;
    if (fabs(v - d2[i]) > 1e-15) fail_msg("f''(%g) = %.17g, want %.17g", xs[i], v, d2[i]);
  }
}

static tg_tensor *f_hardtanh_unit(tg_tensor *a) { return tg_hardtanh(a, -1, 1); }
static tg_tensor *f_celu2(tg_tensor *a) { return tg_celu(a, 2); }

/* values from torch 1.13 at x = -3, -1, 0, 1, 3, 6 */
static void test_kinks(void **state) {
  (void)state;
  const double xs[6] = {-3, -1, 0, 1, 3, 6}, zero[6] = {0};
  check_kinks(f_hardtanh_unit, xs, (double[]){0, 0, 1, 0, 0, 0}, zero, 6);
  check_kinks(f_relu6, xs, (double[]){0, 0, 0, 1, 1, 0}, zero, 6);
  check_kinks(f_hardsigmoid, xs, (double[]){0, 1.0 / 6, 1.0 / 6, 1.0 / 6, 0, 0}, zero, 6);
  check_kinks(f_hardswish, xs, (double[]){-0.5, 1.0 / 6, 0.5, 5.0 / 6, 1.5, 1},
              (double[]){0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0}, 6);
  check_kinks(f_selu, (double[]){0, 1}, (double[]){SELU_S * SELU_A, SELU_S}, (double[]){0, 0}, 2);
  check_kinks(f_celu2, (double[]){-1, 0, 1}, (double[]){exp(-0.5), 1, 1}, (double[]){exp(-0.5) / 2, 0, 0}, 3);
  check_kinks(f_gelu, (double[]){0}, (double[]){0.5}, (double[]){2 / sqrt(2 * M_PI)}, 1);
  check_kinks(f_softsign, (double[]){0}, (double[]){1}, (double[]){0}, 1);
  /* min_val > max_val: max_val everywhere, no gradient (torch) */
  tg_tensor *x = tg_requires_grad_(tg_from_f64(1, (size_t[]){3}, (double[]){-3, 1.5, 3}), true);
  tg_tensor *y = tg_hardtanh(x, 2, 1);
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(y, i), 1, 0);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(x->grad, i), 0, 0);
  /* no overflow far out */
  tg_tensor *far = tg_from_f64(1, (size_t[]){2}, (double[]){-800, 800});
  assert_close(tg_get_flat(tg_logsigmoid(far), 0), -800, 0);
  assert_close(tg_get_flat(tg_logsigmoid(far), 1), 0, 0);
  assert_close(tg_get_flat(tg_silu(far), 1), 800, 0);
  assert_close(tg_get_flat(tg_mish(far), 1), 800, 0);
  assert_close(tg_get_flat(tg_selu(far), 0), -SELU_S * SELU_A, 1e-15);
  tg_tensor *fx = tg_requires_grad_(tg_from_f64(1, (size_t[]){2}, (double[]){-800, 800}), true);
  assert_int_equal(tg_backward(tg_sum(tg_celu(fx, 0.5)), NULL, false), 0);
  assert_close(tg_get_flat(fx->grad, 0), 0, 0);
  assert_close(tg_get_flat(fx->grad, 1), 1, 0);
}

/* torch 1.13: hardtanh/relu6 keep integer dtypes (bool refused), softsign
 * of an integer is float32 (of bool refused, as abs), the rest refuse
 * integers; gelu's approximate is "none" or "tanh"; celu's alpha != 0 */
static void test_promotion_and_errors(void **state) {
  (void)state;
  tg_tensor *i = tg_from_i64(1, (size_t[]){5}, (int64_t[]){-4, -3, 0, 3, 4});
  tg_tensor *b = tg_from_bool(1, (size_t[]){2}, (bool[]){true, false});
  tg_tensor *h = tg_hardtanh(i, -1.5, 2.5);
  assert_int_equal(h->dtype, TG_INT64);
  int64_t want_h[5] = {-1, -1, 0, 2, 2}; /* torch */
  for (size_t k = 0; k < 5; k++) assert_close(tg_get_flat(h, k), (double)want_h[k], 0);
  assert_int_equal(tg_relu6(i)->dtype, TG_INT64);
  assert_close(tg_get_flat(tg_relu6(i), 4), 4, 0);
  tg_tensor *s = tg_softsign(i);
  assert_int_equal(s->dtype, TG_FLOAT32);
  assert_close(tg_get_flat(s, 0), -0.8, 1e-7);
  const char *refusing[] = {"gelu", "silu", "mish", "selu", "celu", "hardsigmoid", "hardswish", "logsigmoid"};
  tg_tensor *(*fns[])(tg_tensor *) = {f_gelu, f_silu, f_mish, f_selu, f_celu, f_hardsigmoid, f_hardswish, f_logsigmoid};
  for (size_t k = 0; k < 8; k++) {
    tg_clear_error();
    assert_null(fns[k](i));
    assert_non_null(strstr(tg_last_error(), refusing[k]));
    assert_non_null(strstr(tg_last_error(), "int64"));
  }
  const char *bool_refusing[] = {"hardtanh", "relu6", "softsign"};
  tg_tensor *(*bfns[])(tg_tensor *) = {f_hardtanh, f_relu6, f_softsign};
  for (size_t k = 0; k < 3; k++) {
    tg_clear_error();
    assert_null(bfns[k](b));
    assert_non_null(strstr(tg_last_error(), bool_refusing[k]));
  }
  tg_tensor *x = tg_ones(TG_FLOAT64, 1, (size_t[]){2});
  tg_clear_error();
  assert_null(tg_gelu(x, "Tanh"));
  assert_non_null(strstr(tg_last_error(), "gelu: approximate argument must be either none or tanh"));
  tg_clear_error();
  assert_null(tg_gelu(x, NULL));
  assert_non_null(strstr(tg_last_error(), "gelu: argument 2 is NULL"));
  tg_clear_error();
  assert_null(tg_celu(x, 0));
  assert_non_null(strstr(tg_last_error(), "celu: alpha cannot be 0"));
  tg_clear_error();
  for (size_t c = 0; c < N_CASES; c++) {
    tg_clear_error();
    assert_null(cases[c].f(NULL));
    assert_non_null(strstr(tg_last_error(), cases[c].name));
  }
  tg_clear_error();
  /* float32 in, float32 out */
  assert_int_equal(tg_gelu(tg_ones(TG_FLOAT32, 1, (size_t[]){2}), "tanh")->dtype, TG_FLOAT32);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_forward_and_grads),
      TG_TEST(test_kinks),
      TG_TEST(test_promotion_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
