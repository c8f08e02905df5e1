/* The chain rule through a vector-valued function (the lectures' exercise):
 *
 *   g: R^2 -> R^3,  g_p(x) = sum_q w_pq x_q^2
 *   f: R^3 -> R,    f(y)   = sum_p y_p^2
 *
 * By the chain rule, d(f o g)/dx_k = sum_j (df/dy_j)(dg_j/dx_k)
 * = sum_j 2 g_j(u) * 2 w_jk u_k, that is
 *
 *   d(f o g)/dx_k = 4 u_k sum_j w_jk g_j(u).
 *
 * For a few random W (3 x 2) and points u, the closed form is printed beside
 * the gradient autograd finds (float64), with their largest difference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "chain_composition: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

static void print_values(const char *label, const double *v, int n) {
  printf("%s", label);
  for (int i = 0; i < n; i++) printf(" %.17g", v[i]);
  printf("\n");
}

int main(void) {
  tg_rng rng;
  tg_rng_seed(&rng, 16);
  for (int trial = 1; trial <= 3; trial++) {
    tg_scope_begin();
    tg_tensor *W = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(3, 2));
    tg_tensor *u = tg_requires_grad_(tg_randn(&rng, TG_FLOAT64, TG_SHAPE(2)), true);
    /* g = W (u * u); f = sum g^2 */
    tg_tensor *g = tg_matmul(W, tg_mul(u, u));
    tg_tensor *f = tg_sum(tg_mul(g, g));
    if (!f || tg_backward(f, NULL, false) != 0) die("f(g(u)) and its gradient");

    double w[6], x[2], gv[3], grad[2], closed[2];
    if (tg_to_f64_array(W, w) || tg_to_f64_array(u, x) || tg_to_f64_array(g, gv) ||
        tg_to_f64_array(u->grad, grad))
      die("reading the values");
    double worst = 0;
    for (int k = 0; k < 2; k++) {
      double s = 0;
      for (int j = 0; j < 3; j++) s += w[j * 2 + k] * gv[j];
      closed[k] = 4 * x[k] * s;
      worst = fmax(worst, fabs(closed[k] - grad[k]));
    }
    printf("trial %d\n", trial);
    print_values("  W (row-major):", w, 6);
    print_values("  u:", x, 2);
    print_values("  g(u):", gv, 3);
    printf("  f(g(u)): %.17g\n", tg_item(f));
    print_values("  closed form 4 u_k sum_j w_jk g_j(u):", closed, 2);
    print_values("  autograd:", grad, 2);
    printf("  largest difference: %.3g\n", worst);
    tg_scope_end();
  }
  tg_release_cached();
  return 0;
}
