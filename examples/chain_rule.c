/* The lecture's first computational graph: L = (x + y) * z
 * at x = -2, y = 5, z = -4.
 *
 *   forward:  q = x + y = 3,  L = q * z = -12
 *   backward: dL/dz = q = 3
 *             dL/dq = z = -4,  dL/dx = dL/dq * dq/dx = -4 * 1 = -4
 *                              dL/dy = dL/dq * dq/dy = -4 * 1 = -4
 *
 * The graph is also written as Graphviz DOT, to chain_rule.dot in the
 * current directory or to the file given as the first argument. */
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "chain_rule: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

int main(int argc, char **argv) {
  const char *dot_path = argc > 1 ? argv[1] : "chain_rule.dot";

  tg_scope_begin(); /* everything below is freed by tg_scope_end */

  /* the leaves: numbers we want derivatives with respect to */
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT32, -2), true);
  tg_tensor *y = tg_requires_grad_(tg_scalar(TG_FLOAT32, 5), true);
  tg_tensor *z = tg_requires_grad_(tg_scalar(TG_FLOAT32, -4), true);
  if (!x || !y || !z) die("creating the leaves");
  tg_set_name(x, "x");
  tg_set_name(y, "y");
  tg_set_name(z, "z");

  /* the forward pass records one node per op on the tape */
  tg_tensor *q = tg_add(x, y);
  tg_tensor *L = tg_mul(q, z);
  if (!L) die("the forward pass");
  tg_set_name(q, "q");
  tg_set_name(L, "L");

  printf("x = ");
  tg_print(x);
  printf("y = ");
  tg_print(y);
  printf("z = ");
  tg_print(z);
  printf("q = x + y = ");
  tg_print(q);
  printf("L = q * z = ");
  tg_print(L);

  /* write the graph before backward walks it */
  FILE *f = fopen(dot_path, "w");
  if (!f) {
    fprintf(stderr, "chain_rule: cannot open %s for writing\n", dot_path);
    exit(1);
  }
  int rc = tg_graph_dot(L, f);
  if (fclose(f) != 0 || rc != 0) die("writing the graph");

  /* the backward pass: the chain rule, node by node, from L back to the leaves */
  if (tg_backward(L, NULL, false) != 0) die("backward");
  printf("dL/dx = ");
  tg_print(x->grad);
  printf("dL/dy = ");
  tg_print(y->grad);
  printf("dL/dz = ");
  tg_print(z->grad);

  printf("graph written to %s; render it with: dot -Tpng %s -o chain_rule.png\n", dot_path,
         dot_path);

  tg_scope_end();
  tg_release_cached();
  return 0;
}
