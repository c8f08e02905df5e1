/* Rate of change, three ways (the lectures' opening example):
 *
 *   f(t) = 10 + 5 sin(pi t / 2) + 5 sin(pi t)
 *   f'(t) = (5 pi / 2) cos(pi t / 2) + 5 pi cos(pi t)
 *
 * At t = 0..4 the table shows the forward difference over one whole step,
 * f(t+1) - f(t) (the "average rate over the next hour"), a forward
 * difference with a small step h = 1e-6, and autograd's derivative. The
 * unit step is a poor estimate here: f changes direction within a step.
 * Shrinking h moves the difference towards the derivative (error ~ h f''/2,
 * plus rounding ~ eps f / h). Computed in float64. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "rate_of_change: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

/* f on a tensor, so autograd can differentiate it */
static tg_tensor *f_of(tg_tensor *t) {
  tg_tensor *a = tg_mul_scalar(tg_sin(tg_mul_scalar(t, M_PI / 2)), 5);
  tg_tensor *b = tg_mul_scalar(tg_sin(tg_mul_scalar(t, M_PI)), 5);
  return tg_add_scalar(tg_add(a, b), 10);
}

static double f_at(double t) {
  tg_scope_begin();
  double v = tg_item(f_of(tg_scalar(TG_FLOAT64, t)));
  tg_scope_end();
  if (isnan(v)) die("evaluating f");
  return v;
}

int main(void) {
  const double h = 1e-6;
  printf("f(t) = 10 + 5 sin(pi t/2) + 5 sin(pi t), h = %g\n", h);
  printf("%-3s %14s %16s %18s %16s\n", "t", "f(t)", "f(t+1) - f(t)", "(f(t+h) - f(t))/h",
         "autograd f'(t)");
  for (int i = 0; i <= 4; i++) {
    tg_scope_begin();
    tg_tensor *t = tg_requires_grad_(tg_scalar(TG_FLOAT64, i), true);
    tg_tensor *ft = f_of(t);
    if (!ft || tg_backward(ft, NULL, false) != 0) die("the derivative");
    double v = tg_item(ft), d = tg_item(t->grad);
    tg_scope_end();
    printf("t=%d %14.10f %16.10f %18.10f %16.10f\n", i, v, f_at(i + 1) - v, (f_at(i + h) - v) / h,
           d);
  }
  tg_release_cached();
  return 0;
}
