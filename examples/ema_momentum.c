/* Averages and momentum (the lectures' optimisation deck).
 *
 * 1. On a noisy signal x_t = sin(2 pi t / 100) + N(0, 0.5^2), t = 1..200:
 *      running mean            mu_t = (t-1)/t mu_{t-1} + x_t / t  (= mean of x_1..x_t)
 *      exponential moving avg  m_t  = alpha m_{t-1} + (1 - alpha) x_t,  m_0 = 0, alpha = 0.9
 *    The running mean weighs all of history equally and stops following
 *    the signal; the EMA forgets with time constant 1/(1 - alpha) = 10 steps
 *    (and starts biased towards m_0 = 0).
 *
 * 2. Gradient descent on a long, narrow valley f(p) = 0.5 (p0^2 + 50 p1^2)
 *    from (10, 1), lr = 0.03, 100 steps, with tapegrad's SGD:
 *      plain:            p -= lr g
 *      PyTorch momentum: b = alpha b + g (b = g at the first step), p -= lr b
 *      EMA momentum:     D = alpha D + (1 - alpha) g, p -= lr D
 *                        (SGD with dampening = momentum = alpha)
 *    Both momentum forms damp the zig-zag across the valley. The EMA form
 *    averages the gradient without scaling it: in a steady slope its step is
 *    lr g, as plain SGD's, where PyTorch's sums to lr g / (1 - alpha), a
 *    10x longer stride along the valley floor. (PyTorch starts the buffer
 *    undamped, b_1 = g_1, so the EMA form also gets one large early kick
 *    that fades over ~1/(1 - alpha) steps: the bump at steps 2-20.)
 *    The losses go to ema_momentum.csv and a plot to ema_momentum.png in the
 *    directory given as argv[1] (default: the current one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

#define T 200
#define STEPS 100

static void die(const char *what) {
  fprintf(stderr, "ema_momentum: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

static void averages(void) {
  const double alpha = 0.9;
  tg_rng rng;
  tg_rng_seed(&rng, 1);
  double mu = 0, m = 0;
  printf("signal x_t = sin(2 pi t/100) + 0.5 N(0,1), seed 1, alpha = %g\n", alpha);
  printf("%-5s %12s %12s %12s %12s\n", "t", "x_t", "signal", "running", "ema");
  for (int t = 1; t <= T; t++) {
    double clean = sin(2 * M_PI * t / 100), x = clean + 0.5 * tg_rng_normal(&rng);
    mu = (t - 1.0) / t * mu + x / t;
    m = alpha * m + (1 - alpha) * x;
    if (t == 1 || t == 2 || t % 25 == 0)
      printf("t=%-3d %12.8f %12.8f %12.8f %12.8f\n", t, x, clean, mu, m);
  }
}

static double valley(tg_tensor *p) {
  tg_tensor *c = tg_from_f64(TG_SHAPE(2), (const double[]){0.5, 25});
  tg_tensor *f = tg_sum(tg_mul(tg_mul(p, p), c));
  if (!f || tg_backward(f, NULL, false) != 0) die("the valley's gradient");
  return tg_item(f);
}

int main(int argc, char **argv) {
  averages();

  const char *dir = argc > 1 ? argv[1] : ".";
  const char *names[3] = {"plain", "momentum", "ema_momentum"};
  tg_sgd_opts opts[3] = {{.lr = 0.03},
                         {.lr = 0.03, .momentum = 0.9},
                         {.lr = 0.03, .momentum = 0.9, .dampening = 0.9}};
  tg_tensor *p[3];
  tg_optimizer *opt[3];
  for (int k = 0; k < 3; k++) {
    p[k] = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){10, 1}), true);
    if (!p[k] || !(opt[k] = tg_sgd_new(&p[k], 1, opts[k]))) die("the optimizers");
  }
  char csv[4096], png[4096];
  snprintf(csv, sizeof csv, "%s/ema_momentum.csv", dir);
  snprintf(png, sizeof png, "%s/ema_momentum.png", dir);
  remove(csv); /* a fresh log, not appended to the last run's */
  tg_metrics *log = tg_metrics_open(csv, "step,plain,momentum,ema_momentum");
  if (!log) die("opening the log");

  printf("valley f = 0.5 (p0^2 + 50 p1^2) from (10, 1), lr = 0.03, alpha = 0.9\n");
  printf("%-8s %14s %14s %14s\n", "step", names[0], names[1], names[2]);
  for (int s = 0; s <= STEPS; s++) {
    double row[4] = {s};
    for (int k = 0; k < 3; k++) {
      tg_scope_begin();
      row[k + 1] = valley(p[k]); /* the loss at step s, then step */
      if (s < STEPS && (tg_optim_step(opt[k]) != 0 || tg_optim_zero_grad(opt[k]) != 0))
        die("a step");
      tg_scope_end();
    }
    if (tg_metrics_row(log, row) != 0) die("a log row");
    if (s % 10 == 0 || s < 3) printf("step=%-3d %14.8g %14.8g %14.8g\n", s, row[1], row[2], row[3]);
  }
  if (tg_metrics_close(log) != 0) die("closing the log");
  printf("losses written to %s\n", csv);
  if (tg_metrics_plot(csv, png, "SGD on a narrow valley: loss per step") != 0) die("plotting");
  printf("plot written to %s\n", png);
  for (int k = 0; k < 3; k++) {
    tg_optim_free(opt[k]);
    tg_free(p[k]);
  }
  tg_release_cached();
  return 0;
}
