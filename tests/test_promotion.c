/* Type promotion (ops/promote.c): result dtypes and values as PyTorch's for
 * mixed float32/float64/int64/bool operands, gradients back in each
 * operand's own dtype, float64 gradchecks through promoted ops, and the
 * combinations PyTorch refuses. The expected dtypes are PyTorch 1.13's
 * (torch.result_type); the oracle (tests/oracle) checks values too. */
#include <string.h>

#include "tg_test.h"

static tg_tensor *f32(void) { return tg_from_f32(TG_SHAPE(3), (float[]){1.5f, -2.0f, 0.25f}); }
static tg_tensor *f64(void) { return tg_from_f64(TG_SHAPE(3), (double[]){0.5, 3.0, -1.0}); }
static tg_tensor *i64(void) { return tg_from_i64(TG_SHAPE(3), (int64_t[]){2, -3, 7}); }
static tg_tensor *b8(void) { return tg_from_bool(TG_SHAPE(3), (bool[]){true, false, true}); }

static void expect(tg_tensor *t, tg_dtype dt, const double *want) {
  if (!t) fail_msg("unexpected error: %s", tg_last_error());
  assert_int_equal(t->dtype, dt);
  for (size_t k = 0; k < t->numel; k++) assert_close(tg_get_flat(t, k), want[k], 1e-6 * fmax(1, fabs(want[k])));
}

static void expect_refused(tg_tensor *t, const char *op, const char *why) {
  assert_null(t);
  if (!strstr(tg_last_error(), op) || !strstr(tg_last_error(), why))
    fail_msg("error '%s' does not name '%s' and '%s'", tg_last_error(), op, why);
  tg_clear_error();
}

static void test_tensor_tensor_dtypes(void **state) {
  (void)state;
  expect(tg_add(f32(), f64()), TG_FLOAT64, (double[]){2.0, 1.0, -0.75});
  expect(tg_mul(i64(), f32()), TG_FLOAT32, (double[]){3.0, 6.0, 1.75});
  expect(tg_sub(f64(), i64()), TG_FLOAT64, (double[]){-1.5, 6.0, -8.0});
  expect(tg_add(b8(), f32()), TG_FLOAT32, (double[]){2.5, -2.0, 1.25});
  expect(tg_add(i64(), b8()), TG_INT64, (double[]){3, -3, 8});
  expect(tg_mul(i64(), i64()), TG_INT64, (double[]){4, 9, 49});
  expect(tg_add(b8(), b8()), TG_BOOL, (double[]){1, 0, 1});
  expect(tg_mul(b8(), b8()), TG_BOOL, (double[]){1, 0, 1});
  expect(tg_maximum(i64(), f64()), TG_FLOAT64, (double[]){2.0, 3.0, 7.0});
  /* true division of integers is float32; integer powers truncate toward zero */
  expect(tg_div(i64(), tg_from_i64(TG_SHAPE(3), (int64_t[]){4, 2, 7})), TG_FLOAT32,
         (double[]){0.5, -1.5, 1.0});
  expect(tg_pow(i64(), tg_from_i64(TG_SHAPE(3), (int64_t[]){3, -1, 0})), TG_INT64, (double[]){8, 0, 1});
  expect(tg_pow(tg_from_i64(TG_SHAPE(1), (int64_t[]){-1}), tg_from_i64(TG_SHAPE(1), (int64_t[]){-3})),
         TG_INT64, (double[]){-1});
}

static void test_tensor_scalar_dtypes(void **state) {
  (void)state;
  expect(tg_mul_scalar(i64(), 2), TG_INT64, (double[]){4, -6, 14});
  expect(tg_mul_scalar(i64(), 2.5), TG_FLOAT32, (double[]){5.0, -7.5, 17.5});
  expect(tg_div_scalar(i64(), 2), TG_FLOAT32, (double[]){1.0, -1.5, 3.5});
  expect(tg_add_scalar(b8(), 1), TG_INT64, (double[]){2, 1, 2});
  expect(tg_mul_scalar(b8(), 2.5), TG_FLOAT32, (double[]){2.5, 0.0, 2.5});
  expect(tg_pow_scalar(i64(), 2), TG_INT64, (double[]){4, 9, 49});
  expect(tg_pow_scalar(b8(), 2), TG_INT64, (double[]){1, 0, 1});
  expect(tg_rsub_scalar(i64(), 1), TG_INT64, (double[]){-1, 4, -6});
}

static void test_unary_dtypes(void **state) {
  (void)state;
  expect(tg_neg(i64()), TG_INT64, (double[]){-2, 3, -7});
  expect(tg_abs(i64()), TG_INT64, (double[]){2, 3, 7});
  expect(tg_relu(i64()), TG_INT64, (double[]){2, 0, 7});
  expect(tg_exp(i64()), TG_FLOAT32, (double[]){exp(2.0), exp(-3.0), exp(7.0)});
  expect(tg_sigmoid(b8()), TG_FLOAT32, (double[]){1 / (1 + exp(-1.0)), 0.5, 1 / (1 + exp(-1.0))});
  expect(tg_clamp(i64(), 0, 5), TG_INT64, (double[]){2, 0, 5});
  expect(tg_clamp(i64(), 0.5, 5), TG_FLOAT32, (double[]){2, 0.5, 5});
  expect(tg_clamp(b8(), 0, 1), TG_INT64, (double[]){1, 0, 1});
}

/* comparisons and where compare and select in the promoted dtype */
static void test_compare_where_dtypes(void **state) {
  (void)state;
  expect(tg_lt(i64(), f32()), TG_BOOL, (double[]){0, 1, 0});
  expect(tg_eq(tg_from_i64(TG_SHAPE(2), (int64_t[]){1, 2}), tg_from_f64(TG_SHAPE(2), (double[]){1.0, 2.5})),
         TG_BOOL, (double[]){1, 0});
  expect(tg_where(b8(), f32(), f64()), TG_FLOAT64, (double[]){1.5, 3.0, 0.25});
  expect(tg_where(b8(), i64(), f32()), TG_FLOAT32, (double[]){2.0, -2.0, 7.0});
}

/* each operand's gradient comes back in its own dtype */
static void test_gradient_dtypes(void **state) {
  (void)state;
  tg_tensor *a = tg_requires_grad_(f32(), true), *b = tg_requires_grad_(f64(), true);
  tg_tensor *y = tg_sum(tg_mul(a, b));
  assert_int_equal(y->dtype, TG_FLOAT64);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_int_equal(a->grad->dtype, TG_FLOAT32);
  assert_int_equal(b->grad->dtype, TG_FLOAT64);
  for (size_t k = 0; k < 3; k++) {
    assert_close(tg_get_flat(a->grad, k), tg_get_flat(b, k), 0);
    assert_close(tg_get_flat(b->grad, k), tg_get_flat(a, k), 0);
  }
  /* an integer operand is a constant */
  tg_tensor *x = tg_requires_grad_(f64(), true);
  assert_int_equal(tg_backward(tg_sum(tg_mul(x, i64())), NULL, false), 0);
  for (size_t k = 0; k < 3; k++) assert_close(tg_get_flat(x->grad, k), tg_get_flat(i64(), k), 0);
}

typedef struct {
  tg_tensor *c; /* int64 or bool constant */
} const_ctx;

static tg_tensor *mixed_fn(tg_tensor **in, void *p) {
  const_ctx *c = p;
  tg_tensor *x = tg_transpose(in[0], 0, 1); /* non-contiguous */
  tg_tensor *y = tg_div(tg_add(tg_mul(x, c->c), c->c), tg_add_scalar(tg_abs(tg_add(tg_neg(x), c->c)), 1));
  return tg_where(tg_gt(c->c, x), tg_pow(y, tg_to_dtype(c->c, TG_FLOAT64)), tg_mul(y, y));
}

static void test_gradcheck_with_integer_operands(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 1301);
  for (int trial = 0; trial < 4; trial++) {
    size_t m = 1 + tg_rng_next(&r) % 3, n = 1 + tg_rng_next(&r) % 4;
    tg_tensor *x = test_leaf(&r, TG_SHAPE(m, n));
    tg_tensor *ci = tg_randint(&r, -2, 3, TG_SHAPE(n, m));
    const_ctx ctx = {trial % 2 ? tg_to_dtype(ci, TG_BOOL) : ci};
    assert_gradcheck(mixed_fn, 1, &x, &ctx);
    assert_gradgradcheck(mixed_fn, 1, &x, &ctx);
  }
}

/* a float32 leaf meeting float64: the float64 graph's gradient, rounded once */
static tg_tensor *f32_f64_fn(tg_tensor **in, void *p) {
  tg_tensor *w = p;
  return tg_mul(tg_exp(tg_mul(in[0], w)), in[0]);
}

static void test_gradcheck_float32_meets_float64(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 77);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(2, 3));
  tg_tensor *w32 = tg_to_dtype(tg_randn(&r, TG_FLOAT64, TG_SHAPE(3)), TG_FLOAT32);
  assert_gradcheck(f32_f64_fn, 1, &x, w32);
  assert_gradgradcheck(f32_f64_fn, 1, &x, w32);
}

static void test_integer_sums(void **state) {
  (void)state;
  tg_tensor *hits = tg_eq(tg_from_i64(TG_SHAPE(4), (int64_t[]){1, 2, 3, 4}),
                          tg_from_i64(TG_SHAPE(4), (int64_t[]){1, 0, 3, 4}));
  expect(tg_sum(hits), TG_INT64, (double[]){3});
  tg_tensor *m = tg_from_i64(TG_SHAPE(2, 2), (int64_t[]){1, 2, 3, 4});
  expect(tg_sum_dims(m, 1, (int[]){0}, false), TG_INT64, (double[]){4, 6});
}

static void test_refused_combinations(void **state) {
  (void)state;
  expect_refused(tg_sub(b8(), b8()), "sub", "bool");
  expect_refused(tg_sub(f32(), b8()), "sub", "bool");
  expect_refused(tg_sub_scalar(b8(), 1), "sub_scalar", "bool");
  expect_refused(tg_rsub_scalar(b8(), 1), "rsub_scalar", "bool");
  expect_refused(tg_pow(b8(), b8()), "pow", "bool");
  expect_refused(tg_pow_scalar(i64(), -1), "pow_scalar", "negative");
  expect_refused(tg_neg(b8()), "neg", "bool");
  expect_refused(tg_elu(i64(), 1), "elu", "int64");
  expect_refused(tg_softplus(i64(), 1, 20), "softplus", "int64");
  expect_refused(tg_mean(i64()), "mean", "int64");
  expect_refused(tg_matmul(tg_ones(TG_FLOAT32, TG_SHAPE(2, 2)), tg_ones(TG_FLOAT64, TG_SHAPE(2, 2))),
                 "matmul", "float64");
  assert_null(tg_add(f32(), NULL));
  assert_non_null(strstr(tg_last_error(), "add"));
  tg_clear_error();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_tensor_tensor_dtypes),
      TG_TEST(test_tensor_scalar_dtypes),
      TG_TEST(test_unary_dtypes),
      TG_TEST(test_compare_where_dtypes),
      TG_TEST(test_gradient_dtypes),
      TG_TEST(test_gradcheck_with_integer_operands),
      TG_TEST(test_gradcheck_float32_meets_float64),
      TG_TEST(test_integer_sums),
      TG_TEST(test_refused_combinations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
