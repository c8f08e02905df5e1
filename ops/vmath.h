/* float32 exp, log, log1p, tanh and sigmoid written so that a loop over
 * them vectorises: no calls, no branches (both sides are computed and one is
 * selected), integer work done on the float's bits. libm's expf/tanhf are
 * scalar calls, and they were a large share of an MLP training step.
 *
 * Accuracy: within 2 ulp of the correctly rounded result over the normal
 * range (Cephes' polynomials, the same ones SLEEF-era SIMD libraries use);
 * subnormal results are
 * kept (gradually rounded). NaN in gives NaN out,
 * ±inf the limits. The float64 kernels keep libm.
 *
 * ops_exp(x) etc. pick these for float and libm's for double, so one kernel
 * expression serves both dtypes. */
#ifndef TG_OPS_VMATH_H
#define TG_OPS_VMATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t vm_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}
static inline float vm_float(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* e^x: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial;
 * 2^n applied as two factors so that n = 128 and subnormal results work */
static inline float tg_vexpf(float x) {
  const float hi = 88.72283935546875f, lo = -103.972084045410f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  /* round(x log2 e) by the 1.5*2^23 trick: the integer ends up in the low bits */
  const float shifter = 12582912.0f;
  float t = xc * 1.44269504088896341f + shifter;
  int32_t n = (int32_t)(vm_bits(t) - vm_bits(shifter));
  float fn = t - shifter;
  float r = xc - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t n1 = n / 2, n2 = n - n1;
  float y = p * vm_float((uint32_t)(n1 + 127) << 23) * vm_float((uint32_t)(n2 + 127) << 23);
  y = x > hi ? INFINITY : y;
  y = x < lo ? 0.0f : y;
  return x != x ? x : y;
}

/* log x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) by a polynomial in m-1 */
static inline float tg_vlogf(float x) {
  bool sub = x < 1.17549435e-38f; /* subnormal (or <= 0): scale into the normal range */
  float xs = sub ? x * 8388608.0f : x;
  uint32_t u = vm_bits(xs);
  int32_t e = (int32_t)((u >> 23) & 0xff) - 126 - (sub ? 23 : 0);
  float m = vm_float((u & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
  bool low = m < 0.707106781186547524f;
  e = low ? e - 1 : e;
  float f = low ? m + m - 1.0f : m - 1.0f;
  float fe = (float)e;
  float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  float y = p * f * z;
  y = y + fe * -2.12194440e-4f;
  y = y - 0.5f * z;
  y = f + y + fe * 0.693359375f;
  y = x == 0.0f ? -INFINITY : y;
  y = x < 0.0f ? NAN : y;
  y = x == INFINITY ? INFINITY : y;
  return x != x ? x : y;
}

/* log(1 + x) = log(w) * x / (w - 1) with w = 1 + x rounded: the quotient
 * cancels w's rounding error (Goldberg), so tiny x keep full precision */
static inline float tg_vlog1pf(float x) {
  float w = 1.0f + x;
  float d = w - 1.0f;
  float y = tg_vlogf(w) * (x / (d == 0.0f ? 1.0f : d));
  y = d == 0.0f ? x : y;
  y = x == INFINITY ? INFINITY : y;
  return x != x ? x : y;
}

/* tanh: an odd polynomial below 0.625, 1 - 2/(e^2|x| + 1) above (no
 * cancellation there), saturated past 9 */
static inline float tg_vtanhf(float x) {
  float a = fabsf(x);
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = p * z * x + x;
  float big = 1.0f - 2.0f / (tg_vexpf(a + a) + 1.0f);
  big = a > 9.0f ? 1.0f : big;
  big = copysignf(big, x);
  float y = a < 0.625f ? small : big;
  return x != x ? x : y;
}

/* 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving 0 */
static inline float tg_vsigmoidf(float x) { return 1.0f / (1.0f + tg_vexpf(-x)); }

/* double: the two branches keep exp from overflowing */
static inline double tg_sigmoid_f64(double x) {
  return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

/* float: the vectorisable versions above; double: libm */
#define ops_exp(x) _Generic((x), float: tg_vexpf, default: exp)(x)
#define ops_log(x) _Generic((x), float: tg_vlogf, default: log)(x)
#define ops_log1p(x) _Generic((x), float: tg_vlog1pf, default: log1p)(x)
#define ops_tanh(x) _Generic((x), float: tg_vtanhf, default: tanh)(x)
#define ops_sigmoid(x) _Generic((x), float: tg_vsigmoidf, default: tg_sigmoid_f64)(x)

#endif
