/* The gradient of a dot product: f = x . x = sum_i x_i^2, so df/dx = 2x.
 * For x = [1, 2, 3, 4, 5]: f = 1 + 4 + 9 + 16 + 25 = 55 and x.grad = [2, 4, 6, 8, 10]. */
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "dot: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

int main(void) {
  tg_scope_begin();

  const float data[] = {1, 2, 3, 4, 5};
  tg_tensor *x = tg_requires_grad_(tg_from_f32(TG_SHAPE(5), data), true);
  tg_tensor *f = tg_dot(x, x);
  if (!f) die("the forward pass");
  printf("x = ");
  tg_print(x);
  printf("f = x . x = ");
  tg_print(f);

  if (tg_backward(f, NULL, false) != 0) die("backward");
  printf("x.grad = df/dx = 2x = ");
  tg_print(x->grad);

  tg_scope_end();
  tg_release_cached();
  return 0;
}
