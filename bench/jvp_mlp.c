/* Forward mode against reverse mode on one MLP: the JVP of
 * y = W2 tanh(W1 x + b1) + b2 w.r.t. all four parameters along a random
 * direction (one forward with dual parameters under no_grad: no tape),
 * against a VJP of the same function (a forward that records the tape,
 * then one backward with a random u). Prints the median times of each and
 * their ratio. Usage: jvp_mlp [--batch B] [--hidden H] [--reps N]. */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "jvp_mlp: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

static tg_tensor *mlp(tg_tensor *x, tg_tensor **p) {
  return tg_linear(tg_tanh(tg_linear(x, p[0], p[1])), p[2], p[3]);
}

int main(int argc, char **argv) {
  long batch = 64, hidden = 256, reps = 50, in = 784, out = 10;
  for (int i = 1; i < argc; i++)
    if (!bench_flag_long(argc, argv, &i, "--batch", &batch) && !bench_flag_long(argc, argv, &i, "--hidden", &hidden) &&
        !bench_flag_long(argc, argv, &i, "--reps", &reps)) {
      fprintf(stderr, "usage: jvp_mlp [--batch B] [--hidden H] [--reps N]\n");
      return 2;
    }
  tg_rng r;
  tg_rng_seed(&r, 1);
  size_t B = (size_t)batch, H = (size_t)hidden, I = (size_t)in, O = (size_t)out;
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(B, I));
  tg_tensor *p[4] = {tg_randn(&r, TG_FLOAT32, TG_SHAPE(H, I)), tg_randn(&r, TG_FLOAT32, TG_SHAPE(H)),
                     tg_randn(&r, TG_FLOAT32, TG_SHAPE(O, H)), tg_randn(&r, TG_FLOAT32, TG_SHAPE(O))};
  tg_tensor *v[4], *leaf[4];
  for (int k = 0; k < 4; k++) {
    v[k] = tg_randn(&r, TG_FLOAT32, p[k]->ndim, p[k]->shape);
    leaf[k] = tg_requires_grad_(tg_detach(p[k]), true);
  }
  tg_tensor *u = tg_randn(&r, TG_FLOAT32, TG_SHAPE(B, O));
  if (!x || !u || !leaf[3] || !v[3]) die("set-up");
  double *tj = malloc((size_t)reps * sizeof *tj), *tv = malloc((size_t)reps * sizeof *tv);
  if (!tj || !tv) die("malloc");
  for (long it = -3; it < reps; it++) { /* 3 warm-up rounds */
    tg_scope_begin();
    double t0 = bench_now();
    tg_fwad_enter_dual_level();
    tg_no_grad_begin();
    tg_tensor *d[4];
    for (int k = 0; k < 4; k++) d[k] = tg_make_dual(p[k], v[k]);
    tg_tensor *y = mlp(x, d), *jv = NULL;
    tg_no_grad_end();
    if (!y || tg_unpack_dual(y, NULL, &jv) != 0 || !jv) die("the jvp");
    tg_fwad_exit_dual_level();
    double t1 = bench_now();
    tg_tensor *y2 = mlp(x, leaf), *g[4];
    if (!y2 || tg_grad(1, &y2, &u, 4, leaf, g, (tg_grad_opts){0}) != 0) die("the vjp");
    double t2 = bench_now();
    if (it >= 0) tj[it] = (t1 - t0) * 1e6, tv[it] = (t2 - t1) * 1e6;
    tg_scope_end();
  }
  double mj = bench_median(tj, (int)reps), mv = bench_median(tv, (int)reps);
  printf("mlp %zu-%zu-%zu, batch %zu, float32, %ld reps (medians)\n", I, H, O, B, reps);
  printf("jvp (forward mode, all 4 parameters) us = %.1f\n", mj);
  printf("vjp (tape + backward, all 4 parameters) us = %.1f\n", mv);
  printf("jvp / vjp = %.3f\n", mj / mv);
  free(tj);
  free(tv);
  for (int k = 0; k < 4; k++) tg_free(p[k]), tg_free(v[k]), tg_free(leaf[k]);
  tg_free(x);
  tg_free(u);
  tg_release_cached();
  return 0;
}
