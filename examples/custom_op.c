/* A user-defined op through the extension API (autograd/tg_extension.h):
 * swish, y = x * sigmoid(beta * x), with beta a parameter kept in the node.
 *
 * The forward is a plain loop over the data (any kernel would do); the
 * backward is written with tg_* ops on the node's input, so the engine can
 * record it, and second derivatives (double backward) come for free. The
 * program prints the op's values and its first and second derivatives at
 * a few points, runs gradcheck and gradgradcheck in float64 (on a
 * transposed, non-contiguous input), shows that under no_grad the op still
 * returns its result, and trains y = swish(w * x + b) for a few SGD steps.
 *
 *   dy/dx   = s + beta x s (1 - s)                    (s = sigmoid(beta x))
 *   d2y/dx2 = beta s (1 - s) (2 + beta x (1 - 2 s)) */
#include <math.h>
#include <stdio.h>

#include "tapegrad.h"

#define BETA 1.5

/* grad_in[0] = g * (s + beta x s (1 - s)), s recomputed from the input
 * with tg_* ops: under create_graph these ops are recorded, so the
 * gradient is itself differentiable. (Saving s from the forward instead
 * would lose d s / dx in a double backward: tg_node_save refuses that.) */
static void swish_backward(tg_node *n, tg_tensor *g, tg_tensor **grad_in) {
  double beta = tg_node_f(n)[0];
  tg_tensor *x = n->in[0], *s = tg_sigmoid(tg_mul_scalar(x, beta));
  tg_tensor *ds = tg_mul(s, tg_rsub_scalar(s, 1.0)); /* s (1 - s) */
  grad_in[0] = tg_mul(g, tg_add(s, tg_mul_scalar(tg_mul(x, ds), beta)));
}
/* the backward reads input 0 (its version is checked) and two doubles */
TG_DEFINE_OP(OP_SWISH, "SwishBackward", swish_backward, TG_SAVES_IN(0) | TG_NODE_F);

static tg_tensor *swish(tg_tensor *x, double beta) {
  if (!tg_tensor_check(x, "swish", 1)) return NULL;
  if (x->dtype != TG_FLOAT64) {
    tg_error("swish: x must be float64, not %s", tg_dtype_name(x->dtype));
    return NULL;
  }
  tg_no_grad_begin(); /* a contiguous copy if needed, not recorded */
  tg_tensor *xc = tg_contiguous(x);
  tg_no_grad_end();
  tg_tensor *y = xc ? tg_empty(TG_FLOAT64, x->ndim, x->shape) : NULL;
  if (!y) return NULL;
  const double *xv = tg_data(xc);
  double *yv = tg_data(y);
  for (size_t i = 0; i < y->numel; i++) yv[i] = xv[i] / (1.0 + exp(-beta * xv[i]));
  tg_node *n;
  if (tg_record_op(y, &OP_SWISH, 1, &x, &n) != 0) return NULL;
  if (n) tg_node_f(n)[0] = beta; /* n is NULL when nothing needed recording */
  return y;
}

static tg_tensor *swish_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return swish(in[0], BETA);
}

static void print_row(const char *label, const tg_tensor *t) {
  printf("%s", label);
  for (size_t i = 0; i < t->numel; i++) printf(" %.17g", tg_get_flat(t, i));
  printf("\n");
}

static int fail(const char *what) {
  fprintf(stderr, "custom_op: %s: %s\n", what, tg_last_error());
  return 1;
}

/* y, dy/dx by backward and d2y/dx2 by a second backward through the first */
static int derivatives(void) {
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(5), (const double[]){-2, -0.5, 0, 1, 3}), true);
  tg_tensor *y = swish(x, BETA), *dy = NULL, *d2y = NULL;
  if (!y || tg_grad(1, (tg_tensor *[]){tg_sum(y)}, NULL, 1, &x, &dy, (tg_grad_opts){.create_graph = true}) ||
      tg_grad(1, (tg_tensor *[]){tg_sum(dy)}, NULL, 1, &x, &d2y, (tg_grad_opts){0}))
    return fail("derivatives");
  printf("beta = %g\n", BETA);
  print_row("x       =", x);
  print_row("y       =", y);
  print_row("dy/dx   =", dy);
  print_row("d2y/dx2 =", d2y);
  printf("grad_fn of y: %s, of dy/dx: %s\n", tg_grad_fn_name(y), tg_grad_fn_name(dy));
  return 0;
}

static int checks(void) {
  tg_rng rng;
  tg_rng_seed(&rng, 14);
  tg_tensor *base = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(4, 3));
  tg_tensor *x = tg_requires_grad_(tg_detach(tg_transpose(base, 0, 1)), true); /* (3, 4), strided */
  if (!x) return fail("checks");
  tg_gradcheck_result r1 = tg_gradcheck(swish_fn, 1, &x, NULL, (tg_gradcheck_opts){0});
  tg_gradcheck_result r2 = tg_gradgradcheck(swish_fn, 1, &x, NULL, (tg_gradcheck_opts){0});
  printf("gradcheck (float64, 3x4 non-contiguous): %s\n", r1.ok ? "ok" : "FAILED");
  printf("gradgradcheck (float64): %s\n", r2.ok ? "ok" : "FAILED");
  return r1.ok && r2.ok ? 0 : 1;
}

static int under_no_grad(void) {
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT64, 2.0), true);
  tg_no_grad_begin();
  tg_tensor *y = swish(x, BETA);
  tg_no_grad_end();
  if (!y) return fail("no_grad");
  printf("under no_grad: y = %.17g, grad_fn %s\n", tg_get_flat(y, 0), y->grad_fn ? "set" : "None");
  return 0;
}

/* p = swish(w x + b) fitted to t = x^2 / 2 on 8 points: mean squared error,
 * plain SGD (lr 0.5), 20 steps */
static int train(void) {
  double xs[8], ts[8];
  for (int i = 0; i < 8; i++) {
    xs[i] = i / 4.0 - 1.0;
    ts[i] = 0.5 * xs[i] * xs[i];
  }
  tg_tensor *w = tg_keep(tg_requires_grad_(tg_scalar(TG_FLOAT64, 0.5), true));
  tg_tensor *b = tg_keep(tg_requires_grad_(tg_scalar(TG_FLOAT64, 0.1), true));
  tg_optimizer *opt = tg_sgd_new((tg_tensor *[]){w, b}, 2, (tg_sgd_opts){.lr = 0.5});
  if (!opt) return fail("train");
  int rc = 0;
  for (int step = 0; step <= 20 && rc == 0; step++) {
    tg_scope_begin();
    tg_tensor *x = tg_from_f64(TG_SHAPE(8), xs), *t = tg_from_f64(TG_SHAPE(8), ts);
    tg_tensor *loss = tg_mse_loss(swish(tg_add(tg_mul(w, x), b), BETA), t, TG_REDUCTION_MEAN);
    if (!loss || tg_optim_zero_grad(opt) || tg_backward(loss, NULL, false)) rc = fail("train step");
    else if (step % 5 == 0) printf("step %2d: loss %.17g  w %.17g  b %.17g\n", step, tg_get_flat(loss, 0),
                                   tg_get_flat(w, 0), tg_get_flat(b, 0));
    if (rc == 0 && step < 20 && tg_optim_step(opt)) rc = fail("sgd step");
    tg_scope_end();
  }
  tg_optim_free(opt);
  tg_free(w);
  tg_free(b);
  return rc;
}

int main(void) {
  tg_scope_begin();
  int rc = derivatives() || checks() || under_no_grad() || train();
  tg_scope_end();
  tg_release_cached();
  return rc;
}
