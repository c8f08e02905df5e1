/* The lecture's Jacobian two ways: forward mode, one column per input, and
 * reverse mode, one row per output.
 *
 *   y = (x1^2 + x2^2,  x2^2 + x3^2 * x2)   at x = [1, 2, 3]
 *
 *   J = [[2 x1, 2 x2,        0     ],   = [[2,  4,  0],
 *        [0,    2 x2 + x3^2, 2 x3 x2]]     [0, 13, 12]]
 *
 * Forward mode: x is made a dual tensor with tangent e_j; the ops carry the
 * tangent along with the values, and y's tangent is J e_j, column j (one
 * forward pass per input, no tape). Reverse mode: one backward seeded by
 * e_i gives e_i^T J, row i (one backward per output). Forward mode wins
 * when there are fewer inputs than outputs, reverse mode otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "forward_mode: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

static tg_tensor *f(tg_tensor *x) {
  tg_tensor *x1 = tg_select(x, 0, 0), *x2 = tg_select(x, 0, 1), *x3 = tg_select(x, 0, 2);
  tg_tensor *y[2] = {
      tg_add(tg_mul(x1, x1), tg_mul(x2, x2)),
      tg_add(tg_mul(x2, x2), tg_mul(tg_mul(x3, x3), x2)),
  };
  return tg_stack(2, y, 0);
}

static tg_tensor *one_hot(size_t n, size_t i) {
  tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(n));
  if (!e) die("zeros");
  tg_set(e, (size_t[]){i}, 1.0);
  return e;
}

static void print_vec(const char *label, const tg_tensor *v) {
  printf("%s", label);
  for (size_t i = 0; i < v->numel; i++) printf(" %g", tg_get_flat(v, i));
  printf("\n");
}

int main(void) {
  tg_scope_begin();
  tg_tensor *x = tg_from_f64(TG_SHAPE(3), (const double[]){1, 2, 3});
  double Jf[2][3], Jr[2][3];
  print_vec("x =", x);

  printf("forward mode: column j = J e_j, the tangent of y when x has tangent e_j\n");
  if (tg_fwad_enter_dual_level() != 0) die("enter_dual_level");
  for (size_t j = 0; j < 3; j++) {
    tg_tensor *y = f(tg_make_dual(x, one_hot(3, j))), *col = NULL;
    if (!y || tg_unpack_dual(y, NULL, &col) != 0 || !col) die("the forward pass");
    char label[32];
    snprintf(label, sizeof label, "  column %zu:", j + 1);
    print_vec(label, col);
    for (size_t i = 0; i < 2; i++) Jf[i][j] = tg_get_flat(col, i);
  }
  if (tg_fwad_exit_dual_level() != 0) die("exit_dual_level");

  printf("reverse mode: row i = e_i^T J, a backward seeded by e_i\n");
  tg_tensor *xl = tg_requires_grad_(tg_clone(x), true), *y = f(xl);
  if (!y) die("evaluating y");
  print_vec("y =", y);
  for (size_t i = 0; i < 2; i++) {
    tg_tensor *e = one_hot(2, i), *row = NULL;
    if (tg_grad(1, &y, &e, 1, &xl, &row, (tg_grad_opts){.retain_graph = true}) != 0) die("the backward");
    char label[32];
    snprintf(label, sizeof label, "  row %zu:", i + 1);
    print_vec(label, row);
    for (size_t j = 0; j < 3; j++) Jr[i][j] = tg_get_flat(row, j);
  }

  double worst = 0;
  for (size_t i = 0; i < 2; i++)
    for (size_t j = 0; j < 3; j++) worst = fmax(worst, fabs(Jf[i][j] - Jr[i][j]));
  printf("J by columns (forward) = [[%g, %g, %g], [%g, %g, %g]]\n", Jf[0][0], Jf[0][1], Jf[0][2], Jf[1][0],
         Jf[1][1], Jf[1][2]);
  printf("J by rows (reverse)    = [[%g, %g, %g], [%g, %g, %g]]\n", Jr[0][0], Jr[0][1], Jr[0][2], Jr[1][0],
         Jr[1][1], Jr[1][2]);
  printf("max |forward - reverse| = %g: %s\n", worst, worst == 0 ? "they agree" : "they DISAGREE");

  tg_scope_end();
  tg_release_cached();
  return worst == 0 ? 0 : 1;
}
