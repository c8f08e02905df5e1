/* More unary elementwise math (issue 10): logs and exps, trigonometric and
 * hyperbolic functions and their inverses, erf/erfc, reciprocal, rsqrt,
 * square and the rounding family. Gradients as PyTorch's derivatives.yaml,
 * written with tg_ ops so double backward works. */
#include <tgmath.h>

#include <float.h>

#include "ops_internal.h"

#define NOPRM ((ops_params){0, 0})

/* one op: kernel, backward expression in terms of x (the input), y (the
 * output) and g, and what the node saves */
#define MATH_OP(NAME, NODE, KEXPR, SAVES, GRAD)                                \
  OPS_UNARY_KERNEL(NAME##_k, KEXPR)                                            \
  static void NAME##_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {      \
    tg_tensor *x = n->in[0], *y = n->out;                                      \
    (void)x;                                                                   \
    (void)y;                                                                   \
    gi[0] = (GRAD);                                                            \
  }                                                                            \
  TG_DEFINE_OP_JVP(OP_##NAME, NODE, NAME##_backward, ops_jvp_diag, SAVES);                       \
  tg_tensor *tg_##NAME(tg_tensor *a) { return ops_unary_op(#NAME, a, &NAME##_k, NOPRM, &OP_##NAME); }


static tg_tensor *zero_grad(const tg_tensor *g) { return tg_zeros_like(g); }

#define IN TG_SAVES_IN(0)
#define OUT TG_SAVES_OUT
#define LN2 0.69314718055994530942
#define LN10 2.30258509299404568402
#define TWO_OVER_SQRTPI 1.12837916709551257390

MATH_OP(log1p, "Log1pBackward", ops_log1p(x), IN, tg_div(g, tg_add_scalar(x, 1.0)))
MATH_OP(expm1, "Expm1Backward", expm1(x), OUT, tg_mul(g, tg_add_scalar(y, 1.0)))
MATH_OP(log2, "Log2Backward", log2(x), IN, tg_div(g, tg_mul_scalar(x, LN2)))
MATH_OP(log10, "Log10Backward", log10(x), IN, tg_div(g, tg_mul_scalar(x, LN10)))
MATH_OP(exp2, "Exp2Backward", exp2(x), OUT, tg_mul(g, tg_mul_scalar(y, LN2)))
MATH_OP(tan, "TanBackward", tan(x), OUT, tg_mul(g, tg_add_scalar(tg_square(y), 1.0)))
MATH_OP(asin, "AsinBackward", asin(x), IN, tg_mul(g, tg_rsqrt(tg_rsub_scalar(tg_square(x), 1.0))))
MATH_OP(acos, "AcosBackward", acos(x), IN,
        tg_neg(tg_mul(g, tg_rsqrt(tg_rsub_scalar(tg_square(x), 1.0)))))
MATH_OP(atan, "AtanBackward", atan(x), IN, tg_div(g, tg_add_scalar(tg_square(x), 1.0)))
MATH_OP(sinh, "SinhBackward", sinh(x), IN, tg_mul(g, tg_cosh(x)))
MATH_OP(cosh, "CoshBackward", cosh(x), IN, tg_mul(g, tg_sinh(x)))
MATH_OP(asinh, "AsinhBackward", asinh(x), IN, tg_mul(g, tg_rsqrt(tg_add_scalar(tg_square(x), 1.0))))
MATH_OP(acosh, "AcoshBackward", acosh(x), IN, tg_mul(g, tg_rsqrt(tg_sub_scalar(tg_square(x), 1.0))))
MATH_OP(atanh, "AtanhBackward", atanh(x), IN, tg_div(g, tg_rsub_scalar(tg_square(x), 1.0)))
MATH_OP(erf, "ErfBackward", erf(x), IN,
        tg_mul(g, tg_mul_scalar(tg_exp(tg_neg(tg_square(x))), TWO_OVER_SQRTPI)))
MATH_OP(erfc, "ErfcBackward", erfc(x), IN,
        tg_mul(g, tg_mul_scalar(tg_exp(tg_neg(tg_square(x))), -TWO_OVER_SQRTPI)))
MATH_OP(reciprocal, "ReciprocalBackward", 1 / x, OUT, tg_neg(tg_mul(g, tg_square(y))))
MATH_OP(rsqrt, "RsqrtBackward", 1 / sqrt(x), OUT, tg_mul(g, tg_mul_scalar(tg_pow_scalar(y, 3.0), -0.5)))
MATH_OP(square, "SquareBackward", x * x, IN, tg_mul(g, tg_mul_scalar(x, 2.0)))
/* the rounding family and sign are piecewise constant: zero gradient, as
 * PyTorch (zeros, not g * 0, so an infinite g gives 0) */
MATH_OP(sign, "SignBackward", x > 0 ? 1 : (x < 0 ? -1 : 0), 0, zero_grad(g))
MATH_OP(floor, "FloorBackward", floor(x), 0, zero_grad(g))
MATH_OP(ceil, "CeilBackward", ceil(x), 0, zero_grad(g))
/* round half to even, as PyTorch */
MATH_OP(round, "RoundBackward", nearbyint(x), 0, zero_grad(g))
MATH_OP(trunc, "TruncBackward", trunc(x), 0, zero_grad(g))
MATH_OP(frac, "FracBackward", x - trunc(x), 0, tg_mul_scalar(g, 1.0))

/* erfinv: Giles' single-precision approximation, then two Newton steps on
 * erf(x) = y (quadratic convergence: full double precision); +-1 give +-inf
 * and |y| > 1 NaN, as PyTorch */
static double erfinv_f64(double y) {
  if (!(fabs(y) < 1)) return fabs(y) == 1 ? copysign(INFINITY, y) : NAN;
  double w = -log((1 - y) * (1 + y)), x;
  if (w < 5) {
    w -= 2.5;
    x = 2.81022636e-08;
    x = 3.43273939e-07 + x * w;
    x = -3.5233877e-06 + x * w;
    x = -4.39150654e-06 + x * w;
    x = 0.00021858087 + x * w;
    x = -0.00125372503 + x * w;
    x = -0.00417768164 + x * w;
    x = 0.246640727 + x * w;
    x = 1.50140941 + x * w;
  } else {
    w = sqrt(w) - 3;
    x = -0.000200214257;
    x = 0.000100950558 + x * w;
    x = 0.00134934322 + x * w;
    x = -0.00367342844 + x * w;
    x = 0.00573950773 + x * w;
    x = -0.0076224613 + x * w;
    x = 0.00943887047 + x * w;
    x = 1.00167406 + x * w;
    x = 2.83297682 + x * w;
  }
  x *= y;
  for (int i = 0; i < 2; i++) x -= (erf(x) - y) / (TWO_OVER_SQRTPI * exp(-x * x));
  return x;
}
static inline float erfinv_f32(float y) { return (float)erfinv_f64(y); }
/* erfinv' = sqrt(pi)/2 * exp(erfinv(x)^2), from the saved output */
MATH_OP(erfinv, "ErfinvBackward", _Generic(x, float: erfinv_f32, default: erfinv_f64)(x), OUT,
        tg_mul(g, tg_mul_scalar(tg_exp(tg_square(y)), 1 / TWO_OVER_SQRTPI)))

/* nan_to_num: NaN, +inf and -inf replaced (NaN posinf/neginf: the dtype's
 * largest/lowest finite value, PyTorch's None); masked fills, so the
 * gradient passes only where a is finite, as PyTorch. Integers and bool
 * have nothing to replace and come back as a copy. */
static tg_tensor *fill_where(tg_tensor *a, tg_tensor *mask, double value) {
  return tg_masked_fill(a, mask, value);
}
tg_tensor *tg_nan_to_num(tg_tensor *a, double nan, double posinf, double neginf) {
  if (!tg_tensor_check(a, "nan_to_num", 1)) return NULL;
  if (!tg_dtype_is_float(a->dtype)) return tg_clone(a);
  double big = a->dtype == TG_FLOAT32 ? FLT_MAX : DBL_MAX;
  tg_tensor *out = fill_where(a, tg_isnan(a), nan);
  out = fill_where(out, tg_eq_scalar(a, INFINITY), isnan(posinf) ? big : posinf);
  return fill_where(out, tg_eq_scalar(a, -INFINITY), isnan(neginf) ? -big : neginf);
}
