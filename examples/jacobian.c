/* The Jacobian of a vector function, one reverse pass per output.
 *
 *   y = (x1^2 + x2^2,  x2^2 + x3^2 * x2)   at x = [1, 2, 3]
 *
 *   J = [[dy1/dx1, dy1/dx2, dy1/dx3],     [[2 x1, 2 x2,          0      ],
 *        [dy2/dx1, dy2/dx2, dy2/dx3]]  =   [0,    2 x2 + x3^2,   2 x3 x2]]
 *
 *     = [[2, 4, 0], [0, 13, 12]].
 * tg_jacobian computes row i with a backward pass seeded by the one-hot
 * vector e_i (a vector-Jacobian product e_i^T J). */
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "jacobian: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

/* the function, written with tapegrad ops so it can be differentiated */
static tg_tensor *f(tg_tensor **inputs, void *ctx) {
  (void)ctx;
  tg_tensor *x = inputs[0];
  tg_tensor *x1 = tg_select(x, 0, 0), *x2 = tg_select(x, 0, 1), *x3 = tg_select(x, 0, 2);
  tg_tensor *y[2] = {
      tg_add(tg_mul(x1, x1), tg_mul(x2, x2)),
      tg_add(tg_mul(x2, x2), tg_mul(tg_mul(x3, x3), x2)),
  };
  return tg_stack(2, y, 0);
}

int main(void) {
  tg_scope_begin();
  const float data[] = {1, 2, 3};
  tg_tensor *x = tg_requires_grad_(tg_from_f32(TG_SHAPE(3), data), true);
  tg_tensor *y = f(&x, NULL);
  if (!y) die("evaluating y");
  printf("x = ");
  tg_print(x);
  printf("y = (x1^2 + x2^2, x2^2 + x3^2 * x2) = ");
  tg_print(y);

  tg_tensor *J = tg_jacobian(f, x, NULL);
  if (!J) die("tg_jacobian");
  printf("J = dy/dx =\n");
  tg_print(J);

  /* the same entries from the formulas above */
  double a = data[0], b = data[1], c = data[2];
  printf("by hand: [[%g, %g, %g], [%g, %g, %g]]\n", 2 * a, 2 * b, 0.0, 0.0, 2 * b + c * c,
         2 * c * b);

  tg_scope_end();
  tg_release_cached();
  return 0;
}
