/* Why weights are initialised randomly: symmetry. An MLP (4 inputs, 3 tanh
 * hidden units, 2 classes) initialised
 *   - with zeros: every hidden unit computes tanh(0) = 0, so dL/dW2 =
 *     h^T delta = 0 and dL/dh = delta W2 = 0: all gradients of W1 are 0;
 *   - with a constant c: every hidden unit computes the same function and
 *     gets the same gradient, so the rows of W1 (one per unit) stay equal;
 *   - randomly: the units differ, and so do their gradients.
 * One epoch of SGD shows the consequence: in the first two cases the hidden
 * units are still copies of one another (the network has one hidden unit's
 * worth of capacity); random initialisation breaks the tie. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

#define N 12 /* items */
#define H 3  /* hidden units */

static void die(const char *what) {
  fprintf(stderr, "init_symmetry: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

/* the largest difference between any hidden unit's row of t ([H, 4]) and
 * the first unit's row */
static double unit_spread(const tg_tensor *t) {
  double v[H * 4], worst = 0;
  if (tg_to_f64_array(t, v)) die("reading W1");
  for (int u = 1; u < H; u++)
    for (int j = 0; j < 4; j++) worst = fmax(worst, fabs(v[u * 4 + j] - v[j]));
  return worst;
}

static double max_abs(const tg_tensor *t) {
  double v[H * 4], m = 0;
  if (tg_to_f64_array(t, v)) die("reading W1.grad");
  for (size_t i = 0; i < t->numel; i++) m = fmax(m, fabs(v[i]));
  return m;
}

static double cross_entropy(tg_module *mlp, tg_tensor *x, tg_tensor *y, bool backward) {
  tg_tensor *L = tg_cross_entropy(tg_module_forward(mlp, x), y, TG_REDUCTION_MEAN);
  if (!L || (backward && tg_backward(L, NULL, false) != 0)) die("the loss");
  return tg_item(L);
}

static void run(const char *label, int kind, tg_tensor *x, tg_tensor *y) {
  tg_rng rng;
  tg_rng_seed(&rng, 7);
  tg_module *mlp = tg_nn_sequential(3, tg_nn_linear(4, H, true, &rng), tg_nn_tanh(),
                                    tg_nn_linear(H, 2, true, &rng));
  if (!mlp || tg_module_to_(mlp, TG_FLOAT64) != 0) die("building the MLP");
  size_t np;
  tg_tensor **params = tg_module_parameters(mlp, &np);
  for (size_t i = 0; i < np; i++)
    if (kind == 0 ? !tg_init_zeros_(params[i]) : kind == 1 ? !tg_init_constant_(params[i], 0.5) : false)
      die("initialising");
  tg_tensor *W1 = tg_module_get(mlp, "0.weight");
  if (!W1) die("finding W1");

  tg_scope_begin();
  double L0 = cross_entropy(mlp, x, y, true);
  printf("%s: loss %.6f, max |W1.grad| = %.6g, largest difference between hidden units' "
         "gradients = %.6g\n", label, L0, max_abs(W1->grad), unit_spread(W1->grad));
  tg_scope_end();

  /* one epoch: SGD on batches of 3 */
  tg_optimizer *opt = tg_sgd_new(params, (int)np, (tg_sgd_opts){.lr = 0.5});
  if (!opt || tg_module_zero_grad(mlp) != 0) die("the optimizer");
  for (size_t b = 0; b < N; b += 3) {
    tg_scope_begin();
    tg_tensor *xb = tg_narrow(x, 0, (long)b, 3), *yb = tg_narrow(y, 0, (long)b, 3);
    cross_entropy(mlp, xb, yb, true);
    if (tg_optim_step(opt) != 0 || tg_optim_zero_grad(opt) != 0) die("a step");
    tg_scope_end();
  }
  tg_scope_begin();
  double L1 = cross_entropy(mlp, x, y, false);
  tg_scope_end();
  printf("%s: after one epoch loss %.6f, largest difference between hidden units' weights = "
         "%.6g\n", label, L1, unit_spread(W1));
  tg_optim_free(opt);
  tg_module_free(mlp);
}

int main(void) {
  tg_rng rng;
  tg_rng_seed(&rng, 3);
  tg_scope_begin();
  tg_tensor *x = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(N, 4));
  int64_t labels[N];
  double xv[N * 4];
  if (!x || tg_to_f64_array(x, xv)) die("the inputs");
  for (int i = 0; i < N; i++) labels[i] = xv[i * 4] + xv[i * 4 + 1] > 0; /* a linear rule */
  tg_tensor *y = tg_from_i64(TG_SHAPE(N), labels);
  run("zeros", 0, x, y);
  run("constant 0.5", 1, x, y);
  run("random", 2, x, y);
  tg_scope_end();
  tg_release_cached();
  return 0;
}
