/* The lecture's slide on graphs built on the fly: a recurrent step
 *
 *   h = tanh(W_h prev_h + W_x x)
 *
 * applied along sequences of different lengths. There is no fixed graph:
 * each sequence records its own, TanhBackward <- AddBackward <- two
 * MmBackward per step (h and x are columns, W_h prev_h a matrix product),
 * as long as the sequence, and backward runs through exactly that graph. The loss of a sequence is sum(h_T), its gradients
 * dL/dW_h and dL/dW_x accumulate over every step that used the weights.
 *
 * Deterministic: the weights and inputs are fixed formulas (no random
 * draws), so PyTorch can rebuild them:
 *   W_h[i][j] = 0.5 sin(i + 2j + 1)   (H x H, H = 3)
 *   W_x[i][j] = 0.5 cos(2i + j)       (H x D, D = 2)
 *   x_t[j]    = sin(0.5 t + j)        (t = 1 .. T)
 *   h_0 = 0
 * Printed: the grad_fn chain of one step (as torch's grad_fn.next_functions
 * shows it: the same nodes, TanhBackward0 <- AddBackward0 <- MmBackward0 x 2
 * <- AccumulateGrad / the previous TanhBackward0 / None), then per length
 * T = 3, 7, 12 the nodes recorded, the loss and the Frobenius norms of both
 * gradients. In float64; PyTorch 1.13 gives the same numbers (the test,
 * tests/test_examples_seq.c, pins them and shows the torch script). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

#define H 3
#define D 2

static void die(const char *what) {
  fprintf(stderr, "rnn_on_the_fly: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

/* a persistent leaf (made outside any scope) that requires grad */
static tg_tensor *weights(const char *name, size_t rows, size_t cols, double (*f)(size_t, size_t)) {
  double v[H * H];
  for (size_t i = 0; i < rows; i++)
    for (size_t j = 0; j < cols; j++) v[i * cols + j] = f(i, j);
  tg_tensor *w = tg_requires_grad_(tg_from_f64(TG_SHAPE(rows, cols), v), true);
  if (!w) die("making the weights");
  tg_set_name(w, name);
  return w;
}
static double wh_at(size_t i, size_t j) { return 0.5 * sin((double)(i + 2 * j + 1)); }
static double wx_at(size_t i, size_t j) { return 0.5 * cos((double)(2 * i + j)); }

/* one step: h = tanh(W_h prev_h + W_x x); x_t and h_t named for printing */
static tg_tensor *rnn_step(tg_tensor *w_h, tg_tensor *w_x, tg_tensor *prev_h, int t) {
  double xv[D];
  for (int j = 0; j < D; j++) xv[j] = sin(0.5 * t + j);
  tg_tensor *x = tg_from_f64(TG_SHAPE(D, 1), xv);
  tg_tensor *h = tg_tanh(tg_add(tg_matmul(w_h, prev_h), tg_matmul(w_x, x)));
  if (!h) die("a step");
  char name[24];
  snprintf(name, sizeof name, "x_%d", t);
  tg_set_name(x, name);
  snprintf(name, sizeof name, "h_%d", t);
  tg_set_name(h, name);
  return h;
}

/* the nodes of the graph behind n (each once), by a walk over the inputs */
static size_t count_nodes(tg_node *n, tg_node **seen, size_t n_seen, size_t cap) {
  for (size_t k = 0; k < n_seen; k++)
    if (seen[k] == n) return n_seen;
  if (n_seen == cap) die("counting nodes (graph too large)");
  seen[n_seen++] = n;
  for (int i = 0; i < n->n_in; i++)
    if (n->in[i]->grad_fn) n_seen = count_nodes(n->in[i]->grad_fn, seen, n_seen, cap);
  return n_seen;
}

/* the chain below node n down to the previous step's h (a TanhBackward
 * other than the root) or to the leaves: torch's next_functions, where a
 * leaf that requires grad is AccumulateGrad and a constant is None */
static void print_chain(const tg_node *n, int depth) {
  printf("%*s%s\n", 2 * depth, "", n->op->name);
  for (int i = 0; i < n->n_in; i++) {
    const tg_tensor *in = n->in[i];
    if (in->grad_fn && strcmp(in->grad_fn->op->name, "TanhBackward") == 0)
      printf("%*s%-15s %s (the previous step: the chain goes on there)\n", 2 * depth + 2, "", "TanhBackward",
             in->name);
    else if (in->grad_fn) print_chain(in->grad_fn, depth + 1);
    else if (in->requires_grad) printf("%*s%-15s %s\n", 2 * depth + 2, "", "AccumulateGrad", in->name);
    else printf("%*s%-15s %s (needs no gradient)\n", 2 * depth + 2, "", "None", in->name);
  }
}

static double frobenius(const tg_tensor *g) {
  double s = 0;
  for (size_t i = 0; i < g->numel; i++) s += tg_get_flat(g, i) * tg_get_flat(g, i);
  return sqrt(s);
}

int main(void) {
  tg_tensor *w_h = weights("W_h", H, H, wh_at), *w_x = weights("W_x", H, D, wx_at);
  const int lengths[] = {3, 7, 12};
  for (size_t s = 0; s < sizeof lengths / sizeof *lengths; s++) {
    int T = lengths[s];
    tg_scope_begin(); /* this sequence's graph and tensors, freed at scope_end */
    tg_tensor *h = tg_zeros(TG_FLOAT64, TG_SHAPE(H, 1));
    if (!h) die("h_0");
    tg_set_name(h, "h_0");
    for (int t = 1; t <= T; t++) h = rnn_step(w_h, w_x, h, t);
    if (s == 0) {
      printf("one step of the graph, from h_%d back (torch: h.grad_fn.next_functions):\n", T);
      print_chain(h->grad_fn, 0);
      printf("\n");
    }
    tg_node *seen[16 * 12];
    size_t nodes = count_nodes(h->grad_fn, seen, 0, sizeof seen / sizeof *seen);
    tg_tensor *loss = tg_sum(h);
    if (!loss) die("the loss");
    /* each sequence starts from zero gradients, as after optimizer.zero_grad() */
    if ((w_h->grad && tg_zero_grad(w_h)) || (w_x->grad && tg_zero_grad(w_x))) die("zero_grad");
    if (tg_backward(loss, NULL, false) != 0) die("backward");
    printf("length %d: %zu nodes (4 per step)\n", T, nodes);
    printf("  loss = sum(h_%d) = %.15g\n", T, tg_item(loss));
    printf("  |dL/dW_h| = %.15g\n", frobenius(w_h->grad));
    printf("  |dL/dW_x| = %.15g\n", frobenius(w_x->grad));
    tg_scope_end();
  }
  tg_free(w_h);
  tg_free(w_x);
  tg_release_cached();
  return 0;
}
