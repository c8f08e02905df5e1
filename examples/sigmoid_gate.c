/* A sigmoid neuron as a graph of primitive gates (CS231n's example):
 *
 *   f(w, x) = 1 / (1 + exp(-(w0*x0 + w1*x1 + b)))
 *
 * at w0 = 2, x0 = -1, w1 = -3, x1 = -2, b = -3. Every intermediate is a
 * tensor of its own with retain_grad, so after backward we can read the
 * local value and the gradient df/d(node) at every node of the graph.
 * By hand: the sum is 1, f = sigmoid(1) = 0.7311, and since
 * d sigmoid/dz = sigmoid(z) (1 - sigmoid(z)) = 0.1966, dw0 = x0 * 0.1966,
 * dx0 = w0 * 0.1966, dw1 = x1 * 0.1966, dx1 = w1 * 0.1966, db = 0.1966. */
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "sigmoid_gate: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

static tg_tensor *leaf(const char *name, double value) {
  tg_tensor *t = tg_requires_grad_(tg_scalar(TG_FLOAT32, value), true);
  if (!t) die("creating a leaf");
  tg_set_name(t, name);
  return t;
}

/* an intermediate node: name it and keep its gradient after backward */
static tg_tensor *node(const char *name, tg_tensor *t) {
  if (!t || !tg_retain_grad(t)) die(name);
  tg_set_name(t, name);
  return t;
}

/* one row of the table: the node, what it computes, its value and df/d(node) */
static void print_row(const tg_tensor *t, const char *computes) {
  printf("%-5s %-8s %10.6f %10.6f\n", t->name, computes, tg_item(t), tg_item(t->grad));
}

int main(void) {
  tg_scope_begin();
  tg_tensor *w0 = leaf("w0", 2), *x0 = leaf("x0", -1);
  tg_tensor *w1 = leaf("w1", -3), *x1 = leaf("x1", -2);
  tg_tensor *b = leaf("b", -3);

  /* forward, one gate at a time */
  tg_tensor *a0 = node("a0", tg_mul(w0, x0));        /* w0*x0       = -2 */
  tg_tensor *a1 = node("a1", tg_mul(w1, x1));        /* w1*x1       =  6 */
  tg_tensor *s = node("s", tg_add(a0, a1));          /* a0 + a1     =  4 */
  tg_tensor *z = node("z", tg_add(s, b));            /* s + b       =  1 */
  tg_tensor *nz = node("nz", tg_neg(z));             /* -z          = -1 */
  tg_tensor *e = node("e", tg_exp(nz));              /* exp(-z)     =  0.3679 */
  tg_tensor *d = node("d", tg_add_scalar(e, 1));     /* 1 + exp(-z) =  1.3679 */
  tg_tensor *f = node("f", tg_pow_scalar(d, -1));    /* 1 / d       =  0.7311 */
  printf("f = ");
  tg_print(f);

  /* backward: each gate multiplies the gradient arriving from above by its
   * local derivative (1/x gate: -1/d^2, +1 gate: 1, exp gate: e, -x gate: -1,
   * add gate: 1 to both inputs, mul gate: the other input) */
  if (tg_backward(f, NULL, false) != 0) die("backward");
  printf("%-5s %-8s %10s %10s\n", "node", "computes", "value", "df/dnode");
  print_row(f, "1/d");
  print_row(d, "1+e");
  print_row(e, "exp(nz)");
  print_row(nz, "-z");
  print_row(z, "s+b");
  print_row(s, "a0+a1");
  print_row(a0, "w0*x0");
  print_row(a1, "w1*x1");
  print_row(w0, "leaf");
  print_row(x0, "leaf");
  print_row(w1, "leaf");
  print_row(x1, "leaf");
  print_row(b, "leaf");

  /* the same neuron with sigmoid as one fused node: its backward uses
   * sigmoid' = f (1 - f) directly, and the leaves get the same gradients */
  tg_tensor *leaves[5] = {w0, x0, w1, x1, b}, *grads[5];
  tg_tensor *zf = tg_add(tg_add(tg_mul(w0, x0), tg_mul(w1, x1)), b);
  tg_tensor *ff = tg_sigmoid(zf);
  if (!ff || tg_grad(1, &ff, NULL, 5, leaves, grads, (tg_grad_opts){0}) != 0)
    die("the fused sigmoid");
  printf("fused: f = ");
  tg_print(ff);
  printf("fused: local gradient f (1 - f) = %.6f\n", tg_item(ff) * (1 - tg_item(ff)));
  for (int k = 0; k < 5; k++)
    printf("fused: df/d%-2s = %10.6f (gates: %10.6f)\n", leaves[k]->name, tg_item(grads[k]),
           tg_item(leaves[k]->grad));

  tg_scope_end();
  tg_release_cached();
  return 0;
}
