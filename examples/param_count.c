/* The exam question: how many parameters has an MLP with d inputs, p hidden
 * units and k classes, with biases everywhere?
 *
 *   layer 1: a d x p weight matrix and p biases   -> d*p + p
 *   layer 2: a p x k weight matrix and k biases   -> p*k + k
 *   total  = (d*p + p) + (p*k + k)
 *
 * For d = 100, p = 2000, k = 10: (200000 + 2000) + (20000 + 10) = 222010.
 * The program builds each model and counts what tapegrad allocated, so the
 * formula is checked against the real thing. */
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "param_count: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

static void count_mlp(size_t d, size_t p, size_t k) {
  tg_module *mlp = tg_nn_sequential(3, tg_nn_linear(d, p, true, NULL), tg_nn_relu(),
                                    tg_nn_linear(p, k, true, NULL));
  if (!mlp) die("building the MLP");
  printf("MLP %zu-%zu-%zu\n", d, p, k);
  size_t n = 0;
  tg_tensor **params = tg_module_parameters(mlp, &n);
  if (!params) die("listing the parameters");
  size_t by_layer = 0;
  for (size_t i = 0; i < n; i++) {
    const tg_tensor *t = params[i];
    printf("  %-8s [", t->ndim == 2 ? "weight" : "bias");
    for (int j = 0; j < t->ndim; j++) printf("%s%zu", j ? ", " : "", t->shape[j]);
    printf("] = %zu\n", t->numel);
    by_layer += t->numel;
  }
  size_t l1 = d * p + p, l2 = p * k + k;
  printf("  formula: (d*p + p) + (p*k + k) = (%zu + %zu) + (%zu + %zu) = %zu + %zu = %zu\n",
         d * p, p, p * k, k, l1, l2, l1 + l2);
  size_t counted = tg_module_num_parameters(mlp, false);
  printf("  parameters = %zu (summed over the tensors: %zu)\n", counted, by_layer);
  if (counted != l1 + l2 || by_layer != counted) {
    fprintf(stderr, "param_count: the model has %zu parameters, the formula says %zu\n", counted,
            l1 + l2);
    exit(1);
  }
  tg_module_free(mlp);
}

int main(void) {
  count_mlp(100, 2000, 10);
  count_mlp(784, 200, 10);
  tg_release_cached();
  return 0;
}
