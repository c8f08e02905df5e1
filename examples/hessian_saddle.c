/* Second derivatives by differentiating a gradient (double backward):
 * classify the critical point of f(theta) = theta1^2 - theta2^2 at [0, 0].
 *
 *   grad f = [2 theta1, -2 theta2] = [0, 0]  (a critical point)
 *   H      = [[2, 0], [0, -2]]
 *
 * H has one positive and one negative eigenvalue: f curves up along theta1
 * and down along theta2, so [0, 0] is a saddle point, not a minimum. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "hessian_saddle: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

int main(void) {
  tg_scope_begin();
  tg_tensor *theta = tg_requires_grad_(tg_zeros(TG_FLOAT32, TG_SHAPE(2)), true);
  tg_tensor *t1 = tg_select(theta, 0, 0), *t2 = tg_select(theta, 0, 1);
  tg_tensor *f = tg_sub(tg_pow_scalar(t1, 2), tg_pow_scalar(t2, 2));
  if (!f) die("evaluating f");
  printf("theta = ");
  tg_print(theta);
  printf("f = theta1^2 - theta2^2 = ");
  tg_print(f);

  /* first derivative, with create_graph: the backward pass is itself
   * recorded, so the gradient is a function of theta we can differentiate */
  tg_tensor *grad = NULL;
  if (tg_grad(1, &f, NULL, 1, &theta, &grad, (tg_grad_opts){.create_graph = true}) != 0)
    die("the gradient");
  printf("gradient = ");
  tg_print(grad);

  /* row i of the Hessian is the gradient of the i-th gradient component */
  tg_tensor *rows[2];
  for (size_t i = 0; i < 2; i++) {
    tg_tensor *gi = tg_select(grad, 0, i);
    if (!gi || tg_grad(1, &gi, NULL, 1, &theta, &rows[i], (tg_grad_opts){.retain_graph = true}) != 0)
      die("a Hessian row");
  }
  tg_tensor *H = tg_stack(2, rows, 0);
  if (!H) die("stacking the Hessian");
  printf("Hessian =\n");
  tg_print(H);

  /* eigenvalues of a symmetric 2x2 [[a, b], [b, d]]: m +- sqrt(((a - d)/2)^2 + b^2), m = (a + d)/2 */
  double a = tg_get(H, (size_t[]){0, 0}), b = tg_get(H, (size_t[]){0, 1});
  double d = tg_get(H, (size_t[]){1, 1});
  double m = (a + d) / 2, r = sqrt((a - d) * (a - d) / 4 + b * b);
  double l1 = m + r, l2 = m - r;
  printf("eigenvalues = %g, %g\n", l1, l2);
  const char *verdict = l1 > 0 && l2 > 0   ? "local minimum"
                        : l1 < 0 && l2 < 0 ? "local maximum"
                        : l1 * l2 < 0      ? "saddle point"
                                           : "inconclusive (a zero eigenvalue)";
  printf("verdict: %s\n", verdict);

  tg_scope_end();
  tg_release_cached();
  return 0;
}
