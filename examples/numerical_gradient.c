/* Checking backprop with numerical gradients, the lectures' recipe, on a
 * small MLP (3 inputs, 4 tanh units, 2 classes, cross-entropy on 5 items):
 *
 *   one-sided:  dL/dtheta_i ~ (L(theta + eps e_i) - L(theta)) / eps
 *   central:    dL/dtheta_i ~ (L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps)
 *
 * with eps = 1e-5, against the backprop gradient (float64). The relative
 * error is |num - backprop| / max(|num|, |backprop|) over all 26 parameters
 * (Euclidean norms). Expected sizes:
 *   - one-sided, float64: truncation eps |L''| / 2 ~ 1e-6 relative;
 *   - central, float64: truncation eps^2 |L'''| / 6 ~ 1e-10, rounding
 *     ~ 1e-16 |L| / eps ~ 1e-11;
 *   - one-sided, float32: rounding dominates. L is only known to
 *     ~ 6e-8 |L|, so the difference of two losses divided by eps = 1e-5 is
 *     off by ~ 6e-8 * 0.7 / 1e-5 ~ 4e-3 per entry, against gradients of
 *     ~ 0.1: a percent-level error. (Larger eps trades rounding for
 *     truncation: the best one-sided eps in float32 is ~ sqrt(6e-8) ~ 2e-4.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

#define NP 4 /* parameter tensors */
#define NB 5 /* batch */

static void die(const char *what) {
  fprintf(stderr, "numerical_gradient: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

/* L(theta) in dtype dt: the float64 parameters and inputs are rounded to dt
 * first; entry `which` of tensor `pi` gets `delta` added in dt */
static double loss(tg_tensor **theta, tg_tensor *x, tg_tensor *y, tg_dtype dt, int pi, size_t which,
                   double delta) {
  tg_scope_begin();
  tg_tensor *p[NP];
  for (int i = 0; i < NP; i++) p[i] = tg_to_dtype(tg_detach(theta[i]), dt);
  tg_tensor *pc = pi >= 0 ? tg_clone(p[pi]) : NULL;
  if (pi >= 0) {
    if (!pc) die("copying a parameter");
    size_t idx[2] = {which, 0};
    if (pc->ndim == 2) idx[0] = which / pc->shape[1], idx[1] = which % pc->shape[1];
    /* the perturbed value, rounded to dt as a stored parameter would be */
    if (tg_set(pc, idx, tg_get(pc, idx) + delta) != 0) die("perturbing a parameter");
    p[pi] = pc;
  }
  tg_tensor *h = tg_tanh(tg_linear(tg_to_dtype(x, dt), p[0], p[1]));
  double v = tg_item(tg_cross_entropy(tg_linear(h, p[2], p[3]), y, TG_REDUCTION_MEAN));
  tg_scope_end();
  if (isnan(v)) die("the loss");
  return v;
}

static double norm(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

static double rel_error(const double *num, const double *bp, size_t n) {
  double diff[64];
  for (size_t i = 0; i < n; i++) diff[i] = num[i] - bp[i];
  return norm(diff, n) / fmax(norm(num, n), norm(bp, n));
}

int main(void) {
  tg_rng rng;
  tg_rng_seed(&rng, 5);
  tg_scope_begin();
  tg_tensor *theta[NP] = {tg_randn(&rng, TG_FLOAT64, TG_SHAPE(4, 3)),
                          tg_randn(&rng, TG_FLOAT64, TG_SHAPE(4)),
                          tg_randn(&rng, TG_FLOAT64, TG_SHAPE(2, 4)),
                          tg_randn(&rng, TG_FLOAT64, TG_SHAPE(2))};
  const char *names[NP] = {"W1", "b1", "W2", "b2"};
  tg_tensor *x = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(NB, 3));
  tg_tensor *y = tg_from_i64(TG_SHAPE(NB), (const int64_t[]){0, 1, 1, 0, 1});
  for (int i = 0; i < NP; i++)
    if (!tg_requires_grad_(theta[i], true)) die("the parameters");

  /* backprop */
  tg_tensor *h = tg_tanh(tg_linear(x, theta[0], theta[1]));
  tg_tensor *L = tg_cross_entropy(tg_linear(h, theta[2], theta[3]), y, TG_REDUCTION_MEAN);
  if (!L || tg_backward(L, NULL, false) != 0) die("backprop");
  printf("loss = %.17g\n", tg_item(L));

  const double eps = 1e-5;
  double bp[64], one64[64], one32[64], central[64];
  size_t n = 0;
  double L64 = loss(theta, x, y, TG_FLOAT64, -1, 0, 0), L32 = loss(theta, x, y, TG_FLOAT32, -1, 0, 0);
  printf("%-6s %12s %12s %12s %12s\n", "param", "backprop", "one-sided64", "one-sided32", "central64");
  for (int i = 0; i < NP; i++) {
    double g[16];
    if (tg_to_f64_array(theta[i]->grad, g)) die("reading a gradient");
    for (size_t j = 0; j < theta[i]->numel; j++, n++) {
      bp[n] = g[j];
      one64[n] = (loss(theta, x, y, TG_FLOAT64, i, j, eps) - L64) / eps;
      one32[n] = (loss(theta, x, y, TG_FLOAT32, i, j, eps) - L32) / eps;
      central[n] = (loss(theta, x, y, TG_FLOAT64, i, j, eps) -
                    loss(theta, x, y, TG_FLOAT64, i, j, -eps)) / (2 * eps);
      printf("%s[%zu] %12.8f %12.8f %12.8f %12.8f\n", names[i], j, bp[n], one64[n], one32[n],
             central[n]);
    }
  }
  printf("parameters: %zu, eps = %g\n", n, eps);
  printf("relative error, one-sided float64: %.3e\n", rel_error(one64, bp, n));
  printf("relative error, one-sided float32: %.3e\n", rel_error(one32, bp, n));
  printf("relative error, central float64: %.3e\n", rel_error(central, bp, n));
  printf("float32 keeps ~7 digits of L (~0.7), so (L(theta+eps) - L(theta)) / eps\n"
         "loses ~5 of them to cancellation: the one-sided float32 estimate is poor.\n");
  tg_scope_end();
  tg_release_cached();
  return 0;
}
