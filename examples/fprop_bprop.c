/* The module view of backprop (the RWTH exercise): each module has an
 * fprop that maps its input to its output and keeps what it needs, and a
 * bprop that maps the gradient of the loss w.r.t. its output to the
 * gradient w.r.t. its input (and its parameters):
 *
 *   Linear   z -> z W + b       grad_W = z^T grad_output
 *                               grad_b = sum over the batch of grad_output
 *                               grad_input = grad_output W^T
 *   Tanh     z -> a = tanh(z)   grad_input = grad_output * (1 - a^2)
 *   SoftmaxCrossEntropy (logits, labels) -> mean_n -log softmax(logits_n)[y_n]
 *                               grad_input = (softmax(logits) - onehot(y)) / N
 *
 * The network Linear(3, 4) -> Tanh -> Linear(4, 2) -> SoftmaxCrossEntropy
 * on a batch of 5, in float64: the hand-written bprops against the
 * gradients tapegrad's tape finds for the same forward pass. Then the
 * exercise's gradient check on Linear -> Tanh for one item x: column i of
 * the Jacobian from a central difference with h_i = sqrt(eps) max(|x_i|, 1),
 * row j from bprop of the one-hot vector e_j. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

#define NB 5

static void die(const char *what) {
  fprintf(stderr, "fprop_bprop: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

typedef struct module module;
struct module {
  const char *name;
  tg_tensor *(*fprop)(module *m, tg_tensor *in);
  tg_tensor *(*bprop)(module *m, tg_tensor *grad_out);
  tg_tensor *W, *b;              /* Linear's parameters (leaves of the tape) */
  tg_tensor *grad_W, *grad_b;    /* from bprop */
  tg_tensor *in, *out;           /* kept by fprop for bprop */
};

static tg_tensor *linear_fprop(module *m, tg_tensor *z) {
  m->in = z;
  return m->out = tg_add(tg_matmul(z, m->W), m->b);
}

static tg_tensor *linear_bprop(module *m, tg_tensor *g) {
  m->grad_W = tg_matmul(tg_t(m->in), g);
  m->grad_b = tg_sum_dims(g, 1, (const int[]){0}, false);
  return tg_matmul(g, tg_t(m->W));
}

static tg_tensor *tanh_fprop(module *m, tg_tensor *z) {
  m->in = z;
  return m->out = tg_tanh(z);
}

static tg_tensor *tanh_bprop(module *m, tg_tensor *g) {
  return tg_mul(g, tg_rsub_scalar(tg_mul(m->out, m->out), 1));
}

static tg_tensor *labels; /* the batch's classes, for the loss module */

static tg_tensor *softmax_ce_fprop(module *m, tg_tensor *logits) {
  m->in = logits;
  tg_tensor *picked = tg_gather(tg_log_softmax(logits, 1), 1, tg_unsqueeze(labels, 1));
  return m->out = tg_neg(tg_mean(picked));
}

static tg_tensor *softmax_ce_bprop(module *m, tg_tensor *g) {
  tg_tensor *onehot = tg_to_dtype(tg_one_hot(labels, (long)m->in->shape[1]), TG_FLOAT64);
  tg_tensor *d = tg_div_scalar(tg_sub(tg_softmax(m->in, 1), onehot), (double)m->in->shape[0]);
  return tg_mul(d, g); /* g: the loss's own gradient, 1 */
}

static module linear(const char *name, tg_rng *rng, size_t in, size_t out) {
  module m = {.name = name, .fprop = linear_fprop, .bprop = linear_bprop};
  m.W = tg_requires_grad_(tg_randn(rng, TG_FLOAT64, TG_SHAPE(in, out)), true);
  m.b = tg_requires_grad_(tg_randn(rng, TG_FLOAT64, TG_SHAPE(out)), true);
  if (!m.W || !m.b) die("a Linear's parameters");
  return m;
}

static double max_diff(tg_tensor *a, tg_tensor *b) {
  double v = tg_item(tg_max(tg_abs(tg_sub(a, b))));
  if (isnan(v)) die("comparing gradients");
  return v;
}

/* Linear1 -> Tanh on one item, fprop only */
static tg_tensor *block(module *mods, tg_tensor *x) {
  return mods[1].fprop(&mods[1], mods[0].fprop(&mods[0], x));
}

int main(void) {
  tg_rng rng;
  tg_rng_seed(&rng, 11);
  tg_scope_begin();
  module mods[4] = {linear("Linear1", &rng, 3, 4), {.name = "Tanh", .fprop = tanh_fprop, .bprop = tanh_bprop},
                    linear("Linear2", &rng, 4, 2),
                    {.name = "SoftmaxCE", .fprop = softmax_ce_fprop, .bprop = softmax_ce_bprop}};
  tg_tensor *x = tg_requires_grad_(tg_randn(&rng, TG_FLOAT64, TG_SHAPE(NB, 3)), true);
  labels = tg_from_i64(TG_SHAPE(NB), (const int64_t[]){1, 0, 1, 1, 0});
  if (!x || !labels) die("the batch");

  /* fprop, recorded by the tape */
  tg_tensor *h = x;
  for (int i = 0; i < 4; i++)
    if (!(h = mods[i].fprop(&mods[i], h))) die(mods[i].name);
  printf("loss = %.17g\n", tg_item(h));
  if (tg_backward(h, NULL, true) != 0) die("the tape's backward");

  /* bprop by hand, with the tape off */
  tg_no_grad_begin();
  tg_tensor *g = tg_ones_like(h);
  for (int i = 3; i >= 0; i--)
    if (!(g = mods[i].bprop(&mods[i], g))) die(mods[i].name);
  tg_no_grad_end();
  for (int i = 0; i < 4; i += 2) {
    printf("%s grad_W: max |bprop - tape| = %.3g\n", mods[i].name, max_diff(mods[i].grad_W, mods[i].W->grad));
    printf("%s grad_b: max |bprop - tape| = %.3g\n", mods[i].name, max_diff(mods[i].grad_b, mods[i].b->grad));
  }
  printf("grad_input: max |bprop - tape| = %.3g\n", max_diff(g, x->grad));
  /* softmax - onehot sums to 0 over the classes, hence so do grad_b2 and
   * each row of grad_W2 */
  printf("sum of grad_b2 over the classes = %.3g\n", tg_item(tg_sum(mods[2].grad_b)));
  printf("largest row sum of grad_W2 = %.3g\n",
         tg_item(tg_max(tg_abs(tg_sum_dims(mods[2].grad_W, 1, (const int[]){1}, false)))));

  /* the gradient check of Linear1 -> Tanh at item 0 */
  tg_no_grad_begin();
  tg_tensor *x0 = tg_clone(tg_narrow(tg_detach(x), 0, 0, 1)); /* [1, 3] */
  double xv[3], Jfd[4][3], Jbp[4][3], worst = 0;
  if (!x0 || tg_to_f64_array(x0, xv)) die("item 0");
  for (size_t i = 0; i < 3; i++) {
    double hi = sqrt(DBL_EPSILON) * fmax(fabs(xv[i]), 1), col[2][4];
    for (int s = 0; s < 2; s++) {
      tg_tensor *xp = tg_clone(x0);
      if (!xp || tg_set(xp, (size_t[]){0, i}, xv[i] + (s ? -hi : hi)) != 0 ||
          tg_to_f64_array(block(mods, xp), col[s]))
        die("a finite difference");
    }
    for (int j = 0; j < 4; j++) Jfd[j][i] = (col[0][j] - col[1][j]) / (2 * hi);
  }
  for (size_t j = 0; j < 4; j++) {
    tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 4));
    double row[3];
    if (!block(mods, x0) || tg_set(e, (size_t[]){0, j}, 1) != 0 ||
        tg_to_f64_array(mods[0].bprop(&mods[0], mods[1].bprop(&mods[1], e)), row))
      die("a bprop of a one-hot vector");
    for (int i = 0; i < 3; i++) Jbp[j][i] = row[i];
  }
  tg_no_grad_end();
  double wv[12], bv[4];
  if (tg_to_f64_array(mods[0].W, wv) || tg_to_f64_array(mods[0].b, bv)) die("reading Linear1");
  printf("Linear1 W (3 x 4, row-major):");
  for (int i = 0; i < 12; i++) printf(" %.17g", wv[i]);
  printf("\nLinear1 b:");
  for (int i = 0; i < 4; i++) printf(" %.17g", bv[i]);
  printf("\nitem 0:");
  for (int i = 0; i < 3; i++) printf(" %.17g", xv[i]);
  printf("\nJacobian of Tanh(Linear1(x)) at item 0, rows from bprop | columns from differences:\n");
  for (int j = 0; j < 4; j++) {
    printf("  J[%d]:", j);
    for (int i = 0; i < 3; i++) printf(" %12.8f", Jbp[j][i]);
    printf("  |");
    for (int i = 0; i < 3; i++) {
      printf(" %12.8f", Jfd[j][i]);
      worst = fmax(worst, fabs(Jfd[j][i] - Jbp[j][i]));
    }
    printf("\n");
  }
  printf("gradient check: max |J_fd - J_bprop| = %.3g (h_i = sqrt(eps) max(|x_i|, 1))\n", worst);
  tg_scope_end();
  tg_release_cached();
  return 0;
}
