/* The unary math ops of ops/math.c: float64 gradcheck and gradgradcheck on
 * random shapes with a transposed (non-contiguous) input, inside each op's
 * domain; forward values against libm computed here; int64/bool promotion
 * as PyTorch 1.13 (checked by hand with torch); NULL input. */
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

typedef struct {
  const char *name;
  test_op1 f;
  double (*ref)(double);
  double lo, hi; /* domain keeping the derivative finite */
  bool smooth;   /* gradcheck meaningful (not piecewise constant at random points) */
} case1;

static double ref_sign(double x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }
static double ref_recip(double x) { return 1 / x; }
static double ref_rsqrt(double x) { return 1 / sqrt(x); }
static double ref_square(double x) { return x * x; }
static double ref_frac(double x) { return x - trunc(x); }

static tg_tensor *f_log1p(tg_tensor *a) { return tg_log1p(a); }
static tg_tensor *f_expm1(tg_tensor *a) { return tg_expm1(a); }
static tg_tensor *f_log2(tg_tensor *a) { return tg_log2(a); }
static tg_tensor *f_log10(tg_tensor *a) { return tg_log10(a); }
static tg_tensor *f_exp2(tg_tensor *a) { return tg_exp2(a); }
static tg_tensor *f_tan(tg_tensor *a) { return tg_tan(a); }
static tg_tensor *f_asin(tg_tensor *a) { return tg_asin(a); }
static tg_tensor *f_acos(tg_tensor *a) { return tg_acos(a); }
static tg_tensor *f_atan(tg_tensor *a) { return tg_atan(a); }
static tg_tensor *f_sinh(tg_tensor *a) { return tg_sinh(a); }
static tg_tensor *f_cosh(tg_tensor *a) { return tg_cosh(a); }
static tg_tensor *f_asinh(tg_tensor *a) { return tg_asinh(a); }
static tg_tensor *f_acosh(tg_tensor *a) { return tg_acosh(a); }
static tg_tensor *f_atanh(tg_tensor *a) { return tg_atanh(a); }
static tg_tensor *f_erf(tg_tensor *a) { return tg_erf(a); }
static tg_tensor *f_erfc(tg_tensor *a) { return tg_erfc(a); }
static tg_tensor *f_erfinv(tg_tensor *a) { return tg_erf(tg_erfinv(a)); } /* checked as erf(erfinv(x)) = x */
static double ref_id(double x) { return x; }
static tg_tensor *f_reciprocal(tg_tensor *a) { return tg_reciprocal(a); }
static tg_tensor *f_rsqrt(tg_tensor *a) { return tg_rsqrt(a); }
static tg_tensor *f_square(tg_tensor *a) { return tg_square(a); }
static tg_tensor *f_sign(tg_tensor *a) { return tg_sign(a); }
static tg_tensor *f_floor(tg_tensor *a) { return tg_floor(a); }
static tg_tensor *f_ceil(tg_tensor *a) { return tg_ceil(a); }
static tg_tensor *f_round(tg_tensor *a) { return tg_round(a); }
static tg_tensor *f_trunc(tg_tensor *a) { return tg_trunc(a); }
static tg_tensor *f_frac(tg_tensor *a) { return tg_frac(a); }

static const case1 cases[] = {
    {"log1p", f_log1p, log1p, -0.9, 3, true},    {"expm1", f_expm1, expm1, -2, 2, true},
    {"log2", f_log2, log2, 0.2, 3, true},        {"log10", f_log10, log10, 0.2, 3, true},
    {"exp2", f_exp2, exp2, -2, 2, true},         {"tan", f_tan, tan, -1.2, 1.2, true},
    {"asin", f_asin, asin, -0.9, 0.9, true},     {"acos", f_acos, acos, -0.9, 0.9, true},
    {"atan", f_atan, atan, -3, 3, true},         {"sinh", f_sinh, sinh, -2, 2, true},
    {"cosh", f_cosh, cosh, -2, 2, true},         {"asinh", f_asinh, asinh, -3, 3, true},
    {"acosh", f_acosh, acosh, 1.2, 4, true},     {"atanh", f_atanh, atanh, -0.9, 0.9, true},
    {"erf", f_erf, erf, -2, 2, true},            {"erfc", f_erfc, erfc, -2, 2, true},
    {"erfinv", f_erfinv, ref_id, -0.95, 0.95, true},
    {"reciprocal", f_reciprocal, ref_recip, 0.3, 3, true},
    {"rsqrt", f_rsqrt, ref_rsqrt, 0.3, 3, true}, {"square", f_square, ref_square, -3, 3, true},
    {"sign", f_sign, ref_sign, -3, 3, false},    {"floor", f_floor, floor, -3, 3, false},
    {"ceil", f_ceil, ceil, -3, 3, false},        {"round", f_round, nearbyint, -3, 3, false},
    {"trunc", f_trunc, trunc, -3, 3, false},     {"frac", f_frac, ref_frac, 0.05, 0.95, true},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static tg_tensor *uniform_leaf(tg_rng *r, size_t m, size_t n, double lo, double hi) {
  size_t sh[2] = {m, n};
  tg_tensor *t = tg_rand(r, TG_FLOAT64, 2, sh);
  t = tg_add_scalar(tg_mul_scalar(t, hi - lo), lo);
  return tg_requires_grad_(tg_detach(t), true);
}

static void test_forward_and_grads(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 10);
  for (size_t c = 0; c < N_CASES; c++) {
    for (int rep = 0; rep < 3; rep++) {
      size_t m = 1 + (size_t)(tg_rng_uniform(&r) * 4), n = 1 + (size_t)(tg_rng_uniform(&r) * 4);
      tg_tensor *x = uniform_leaf(&r, m, n, cases[c].lo, cases[c].hi);
      tg_tensor *y = cases[c].f(x);
      assert_non_null(y);
      for (size_t i = 0; i < x->numel; i++) {
        double want = cases[c].ref(tg_get_flat(x, i)), got = tg_get_flat(y, i);
        if (fabs(got - want) > 1e-12 * (1 + fabs(want))) fail_msg("%s(%g) = %g, want %g", cases[c].name, tg_get_flat(x, i), got, want);
      }
      test_op1_ctx cx = {cases[c].f};
      tg_tensor *in[1] = {x};
      if (cases[c].smooth) {
        assert_gradcheck(test_through_t, 1, in, &cx);
        assert_gradgradcheck(test_through_t, 1, in, &cx);
      } else { /* zero gradient, exactly */
        tg_tensor *s = tg_sum(y);
        assert_int_equal(tg_backward(s, NULL, false), 0);
        for (size_t i = 0; i < x->numel; i++) assert_true(tg_get_flat(x->grad, i) == 0.0);
      }
    }
  }
}

/* as torch 1.13: square/sign/floor/ceil/round/trunc keep int64, bool
 * sign stays bool, bool square is int64, rounding of bool and frac of
 * integers raise, the rest give float32 */
static void test_promotion(void **state) {
  (void)state;
  int64_t v[3] = {-2, 0, 3};
  size_t sh[1] = {3};
  tg_tensor *i = tg_from_i64(1, sh, v);
  bool bv[2] = {true, false};
  size_t sb[1] = {2};
  tg_tensor *b = tg_from_bool(1, sb, bv);
  test_op1 keep[] = {f_square, f_sign, f_floor, f_ceil, f_round, f_trunc};
  for (size_t k = 0; k < 6; k++) {
    tg_tensor *y = keep[k](i);
    assert_non_null(y);
    assert_int_equal(y->dtype, TG_INT64);
  }
  assert_close(tg_get_flat(tg_square(i), 0), 4, 0);
  assert_int_equal(tg_sign(b)->dtype, TG_BOOL);
  assert_int_equal(tg_square(b)->dtype, TG_INT64);
  assert_null(tg_floor(b));
  assert_non_null(strstr(tg_last_error(), "floor"));
  tg_clear_error();
  assert_null(tg_frac(i));
  assert_non_null(strstr(tg_last_error(), "frac"));
  tg_clear_error();
  tg_tensor *y = tg_reciprocal(i);
  assert_int_equal(y->dtype, TG_FLOAT32);
  assert_close(tg_get_flat(y, 2), 1.0 / 3, 1e-7);
  assert_int_equal(tg_log1p(b)->dtype, TG_FLOAT32);
}

static void test_edges_and_null(void **state) {
  (void)state;
  double v[6] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5};
  size_t sh[1] = {6};
  tg_tensor *x = tg_from_f64(1, sh, v);
  double want[6] = {0, 2, 2, -0.0, -2, -2}; /* half to even */
  tg_tensor *r = tg_round(x);
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(r, i), want[i], 0);
  assert_true(isinf(tg_get_flat(tg_atanh(tg_scalar(TG_FLOAT64, 1.0)), 0)));
  assert_true(isnan(tg_get_flat(tg_asin(tg_scalar(TG_FLOAT64, 2.0)), 0)));
  assert_true(isinf(tg_get_flat(tg_reciprocal(tg_scalar(TG_FLOAT64, 0.0)), 0)));
  assert_true(tg_get_flat(tg_frac(tg_scalar(TG_FLOAT64, -1.25)), 0) == -0.25);
  for (size_t c = 0; c < N_CASES; c++) {
    tg_clear_error();
    assert_null(cases[c].f(NULL));
    assert_non_null(strstr(tg_last_error(), cases[c].name));
  }
}

/* ---- binary math: gradcheck/gradgradcheck with broadcasting ([m, n]
 * against [n], a transposed operand) and forward values against libm */
typedef tg_tensor *(*op2)(tg_tensor *, tg_tensor *);
static tg_tensor *g_atan2(tg_tensor *a, tg_tensor *b) { return tg_atan2(a, b); }
static tg_tensor *g_fmod(tg_tensor *a, tg_tensor *b) { return tg_fmod(a, b); }
static tg_tensor *g_remainder(tg_tensor *a, tg_tensor *b) { return tg_remainder(a, b); }
static tg_tensor *g_hypot(tg_tensor *a, tg_tensor *b) { return tg_hypot(a, b); }
static tg_tensor *g_copysign(tg_tensor *a, tg_tensor *b) { return tg_copysign(a, b); }
static tg_tensor *g_clamp_min(tg_tensor *a, tg_tensor *b) { return tg_clamp_min_tensor(a, b); }
static tg_tensor *g_clamp_max(tg_tensor *a, tg_tensor *b) { return tg_clamp_max_tensor(a, b); }
static tg_tensor *g_lerp_half(tg_tensor *a, tg_tensor *b) { return tg_lerp_scalar(a, b, 0.3); }
static double py_rem(double x, double y) { return x - floor(x / y) * y; }
static double lerp_ref(double x, double y) { return x + 0.3 * (y - x); }
typedef struct {
  const char *name;
  op2 f;
  double (*ref)(double, double);
  double blo; /* b drawn in [blo, blo + 2] with a random sign */
  bool second;
} case2;
static const case2 cases2[] = {
    {"atan2", g_atan2, atan2, 0.3, true},          {"fmod", g_fmod, fmod, 0.7, true},
    {"remainder", g_remainder, py_rem, 0.7, true}, {"hypot", g_hypot, hypot, 0.3, true},
    {"copysign", g_copysign, copysign, 0.3, false}, {"lerp_scalar", g_lerp_half, lerp_ref, 0.3, true},
    {"clamp_min_tensor", g_clamp_min, fmax, 0.3, true}, {"clamp_max_tensor", g_clamp_max, fmin, 0.3, true},
};
typedef struct {
  op2 f;
} ctx2;
static tg_tensor *through_t2(tg_tensor **in, void *c) {
  return ((ctx2 *)c)->f(tg_transpose(in[0], 0, 1), in[1]);
}

static void test_binary(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 11);
  for (size_t c = 0; c < sizeof cases2 / sizeof *cases2; c++) {
    for (int rep = 0; rep < 3; rep++) {
      size_t m = 1 + (size_t)(tg_rng_uniform(&r) * 4), n = 1 + (size_t)(tg_rng_uniform(&r) * 4);
      tg_tensor *a = uniform_leaf(&r, n, m, 0.3, 3); /* seen transposed: [m, n] */
      if (tg_rng_uniform(&r) < 0.5) a = tg_requires_grad_(tg_detach(tg_neg(a)), true);
      tg_tensor *b = uniform_leaf(&r, 1, n, cases2[c].blo, cases2[c].blo + 2);
      if (tg_rng_uniform(&r) < 0.5) b = tg_requires_grad_(tg_detach(tg_neg(b)), true);
      b = tg_requires_grad_(tg_detach(tg_reshape(b, 1, (size_t[]){n})), true);
      ctx2 cx = {cases2[c].f};
      tg_tensor *in[2] = {a, b};
      tg_tensor *y = through_t2(in, &cx);
      assert_non_null(y);
      for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
          double want = cases2[c].ref(tg_get(a, (size_t[]){j, i}), tg_get(b, (size_t[]){j}));
          assert_close(tg_get(y, (size_t[]){i, j}), want, 1e-12 * (1 + fabs(want)));
        }
      assert_gradcheck(through_t2, 2, in, &cx);
      if (cases2[c].second) assert_gradgradcheck(through_t2, 2, in, &cx);
    }
  }
}

static void test_binary_edges(void **state) {
  (void)state;
  size_t sh[1] = {4};
  tg_tensor *a = tg_from_f64(1, sh, (double[]){5, -5, 5, -5});
  tg_tensor *b = tg_from_f64(1, sh, (double[]){3, 3, -3, -3});
  double fm[4] = {2, -2, 2, -2}, rm[4] = {2, 1, -1, -2};
  for (size_t i = 0; i < 4; i++) {
    assert_close(tg_get_flat(tg_fmod(a, b), i), fm[i], 0);
    assert_close(tg_get_flat(tg_remainder(a, b), i), rm[i], 0);
  }
  /* copysign: no gradient to b (zeros), +-1 to a, 0 at a == 0 */
  tg_tensor *x = tg_requires_grad_(tg_from_f64(1, (size_t[]){3}, (double[]){2, -2, 0}), true);
  tg_tensor *s = tg_requires_grad_(tg_from_f64(1, (size_t[]){3}, (double[]){-1, -1, 1}), true);
  assert_int_equal(tg_backward(tg_sum(tg_copysign(x, s)), NULL, false), 0);
  double gx[3] = {-1, 1, 0};
  for (size_t i = 0; i < 3; i++) {
    assert_close(tg_get_flat(x->grad, i), gx[i], 0);
    assert_close(tg_get_flat(s->grad, i), 0, 0);
  }
  /* integer operands as torch 1.13 */
  tg_tensor *i = tg_from_i64(1, (size_t[]){2}, (int64_t[]){7, -7});
  tg_tensor *j = tg_from_i64(1, (size_t[]){2}, (int64_t[]){2, 2});
  tg_tensor *z = tg_from_i64(1, (size_t[]){2}, (int64_t[]){2, 0});
  tg_tensor *r = tg_remainder(i, j);
  assert_int_equal(r->dtype, TG_INT64);
  assert_close(tg_get_flat(r, 1), 1, 0);
  assert_close(tg_get_flat(tg_fmod(i, j), 1), -1, 0);
  assert_int_equal(tg_atan2(i, j)->dtype, TG_FLOAT32);
  assert_int_equal(tg_copysign(i, j)->dtype, TG_FLOAT32);
  assert_null(tg_fmod(i, z));
  assert_non_null(strstr(tg_last_error(), "fmod: ZeroDivisionError"));
  assert_null(tg_remainder(i, z));
  assert_non_null(strstr(tg_last_error(), "remainder"));
  assert_null(tg_hypot(i, j));
  assert_non_null(strstr(tg_last_error(), "hypot: not implemented for int64"));
  assert_null(tg_lerp_scalar(i, j, 0.5));
  assert_non_null(strstr(tg_last_error(), "lerp_scalar"));
  tg_tensor *f32 = tg_ones(TG_FLOAT32, 1, sh), *f64 = tg_ones(TG_FLOAT64, 1, sh);
  assert_null(tg_lerp(f32, f32, f64));
  assert_non_null(strstr(tg_last_error(), "lerp: expected dtype float32 for argument 3"));
  tg_clear_error();
  assert_null(tg_lerp(f32, f32, NULL));
  assert_non_null(strstr(tg_last_error(), "lerp: argument 3 is NULL"));
  tg_clear_error();
}

/* lerp with three broadcast tensors */
static tg_tensor *lerp3(tg_tensor **in, void *c) {
  (void)c;
  return tg_lerp(tg_transpose(in[0], 0, 1), in[1], in[2]);
}
static void test_lerp(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 12);
  tg_tensor *in[3] = {test_leaf(&r, 2, (size_t[]){3, 2}), test_leaf(&r, 1, (size_t[]){3}),
                      test_leaf(&r, 2, (size_t[]){2, 1})};
  tg_tensor *y = lerp3(in, NULL);
  double want = tg_get(in[0], (size_t[]){2, 1}) +
                tg_get(in[2], (size_t[]){1, 0}) * (tg_get(in[1], (size_t[]){2}) - tg_get(in[0], (size_t[]){2, 1}));
  assert_close(tg_get(y, (size_t[]){1, 2}), want, 1e-14);
  assert_gradcheck(lerp3, 3, in, NULL);
  assert_gradgradcheck(lerp3, 3, in, NULL);
}

/* clamp with tensor bounds: values and gradients as torch.clamp(a, min=lo,
 * max=hi) printed them (lo > hi gives hi, a < lo == hi is the documented
 * difference: the gradient goes to lo); all three broadcast; int64 kept;
 * bool kept by clamp_min/clamp_max, refused by clamp as PyTorch */
static tg_tensor *clamp3(tg_tensor **in, void *c) {
  (void)c;
  return tg_clamp_tensor(tg_transpose(in[0], 0, 1), in[1], in[2]);
}
static void test_clamp_tensor(void **state) {
  (void)state;
  tg_tensor *a = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){-2, 0.5, 3, 1}), true);
  tg_tensor *lo = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){0, 0, 0, 2}), true);
  tg_tensor *hi = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){1, 1, 1, 1}), true);
  tg_tensor *y = tg_clamp_tensor(a, lo, hi);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  double want[4] = {0, 0.5, 1, 1}, ga[4] = {0, 1, 0, 0}, gl[4] = {1, 0, 0, 0}, gh[4] = {0, 0, 1, 1};
  for (size_t i = 0; i < 4; i++) {
    assert_close(tg_get_flat(y, i), want[i], 0);
    assert_close(tg_get_flat(a->grad, i), ga[i], 0);
    assert_close(tg_get_flat(lo->grad, i), gl[i], 0);
    assert_close(tg_get_flat(hi->grad, i), gh[i], 0);
  }
  tg_rng r;
  tg_rng_seed(&r, 5);
  tg_tensor *in[3] = {uniform_leaf(&r, 3, 2, -2, 2), uniform_leaf(&r, 1, 3, -1.5, -0.2),
                      uniform_leaf(&r, 2, 1, 0.2, 1.5)};
  tg_tensor *out = clamp3(in, NULL);
  assert_non_null(out);
  assert_int_equal(out->ndim, 2);
  assert_int_equal(out->shape[0], 2);
  assert_int_equal(out->shape[1], 3);
  assert_gradcheck(clamp3, 3, in, NULL);
  assert_gradgradcheck(clamp3, 3, in, NULL);
  tg_tensor *ai = tg_from_i64(TG_SHAPE(3), (const int64_t[]){1, 5, 9});
  tg_tensor *li = tg_from_i64(TG_SHAPE(3), (const int64_t[]){2, 2, 2});
  tg_tensor *hi6 = tg_from_i64(TG_SHAPE(1), (const int64_t[]){6});
  tg_tensor *yi = tg_clamp_tensor(ai, li, hi6);
  assert_int_equal(yi->dtype, TG_INT64);
  assert_close(tg_get_flat(yi, 0), 2, 0);
  assert_close(tg_get_flat(yi, 2), 6, 0);
  tg_tensor *b = tg_to_dtype(li, TG_BOOL);
  assert_int_equal(tg_clamp_min_tensor(b, b)->dtype, TG_BOOL);
  assert_null(tg_clamp_tensor(b, b, b));
  assert_non_null(strstr(tg_last_error(), "clamp_tensor: not implemented for bool"));
  assert_null(tg_clamp_tensor(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), tg_zeros(TG_FLOAT64, TG_SHAPE(2)), a));
  assert_non_null(strstr(tg_last_error(), "clamp"));
}

/* nan_to_num: values as torch.nan_to_num printed them (defaults: NaN -> 0,
 * +-inf -> the dtype's largest/lowest); the gradient passes where finite */
static tg_tensor *nan_to_num_t(tg_tensor **in, void *c) {
  (void)c;
  return tg_nan_to_num(tg_transpose(in[0], 0, 1), 1.5, 7, -7);
}
static void test_nan_to_num(void **state) {
  (void)state;
  tg_tensor *a = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){NAN, INFINITY, -INFINITY, 2}), true);
  tg_tensor *y = tg_nan_to_num(a, 0, NAN, NAN);
  double want[4] = {0, 1.7976931348623157e308, -1.7976931348623157e308, 2}, g[4] = {0, 0, 0, 1};
  assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(y, 0.5)), NULL, false), 0);
  for (size_t i = 0; i < 4; i++) {
    assert_close(tg_get_flat(y, i), want[i], 0);
    assert_close(tg_get_flat(a->grad, i), g[i] * 0.5, 0);
  }
  tg_tensor *f = tg_nan_to_num(tg_to_dtype(tg_detach(a), TG_FLOAT32), 0, NAN, -1);
  assert_int_equal(f->dtype, TG_FLOAT32);
  assert_close(tg_get_flat(f, 1), 3.4028234663852886e38, 0);
  assert_close(tg_get_flat(f, 2), -1, 0);
  tg_tensor *i = tg_nan_to_num(tg_from_i64(TG_SHAPE(2), (const int64_t[]){3, -4}), 0, NAN, NAN);
  assert_int_equal(i->dtype, TG_INT64);
  assert_close(tg_get_flat(i, 1), -4, 0);
  tg_rng r;
  tg_rng_seed(&r, 9);
  tg_tensor *in[1] = {uniform_leaf(&r, 3, 2, -2, 2)};
  assert_gradcheck(nan_to_num_t, 1, in, NULL);
  assert_gradgradcheck(nan_to_num_t, 1, in, NULL);
  assert_null(tg_nan_to_num(NULL, 0, NAN, NAN));
  assert_non_null(strstr(tg_last_error(), "nan_to_num"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_forward_and_grads),
      TG_TEST(test_promotion),
      TG_TEST(test_edges_and_null),
      TG_TEST(test_binary),
      TG_TEST(test_binary_edges),
      TG_TEST(test_lerp),
      TG_TEST(test_clamp_tensor),
      TG_TEST(test_nan_to_num),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
