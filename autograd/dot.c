/* Graphviz export of the graph behind a tensor. Nodes are found with the
 * same reverse tape sweep as backward: mark the root, and each marked node
 * marks its inputs' nodes, which come earlier on the tape. */
#include "tg_extension.h"
#include "tg_internal.h"

static void leaf_label(FILE *out, const tg_tensor *t) {
  char shape[96];
  fprintf(out, "  t%p [shape=box, style=filled, fillcolor=lightblue, label=\"%s\\n%s\"];\n",
          (const void *)t, t->name[0] ? t->name : "leaf", tg_shape_str(t, shape, sizeof shape));
}

int tg_graph_dot(const tg_tensor *t, FILE *out) {
  if (!tg_tensor_check(t, "graph_dot", 1)) return -1;
  if (!out) {
    tg_error("graph_dot: output FILE is NULL");
    return -1;
  }
  char shape[96];
  fprintf(out, "digraph tapegrad {\n  rankdir=BT;\n  node [fontname=\"Helvetica\"];\n");
  fprintf(out, "  out [shape=box, style=filled, fillcolor=darkolivegreen1, label=\"%s\\n%s\"];\n",
          t->name[0] ? t->name : "output", tg_shape_str(t, shape, sizeof shape));
  if (!t->grad_fn) {
    fprintf(out, "}\n");
    return 0;
  }
  fprintf(out, "  n%p -> out;\n", (void *)t->grad_fn);
  t->grad_fn->pending = true;
  for (tg_node *n = t->grad_fn; n; n = n->tape_prev) {
    if (!n->pending) continue;
    n->pending = false;
    fprintf(out, "  n%p [label=\"%s\"];\n", (void *)n, n->op->name);
    for (int k = 0; k < n->n_in; k++) {
      const tg_tensor *in = n->in[k];
      if (in->grad_fn) {
        in->grad_fn->pending = true;
        fprintf(out, "  n%p -> n%p;\n", (void *)in->grad_fn, (void *)n);
      } else if (in->requires_grad) {
        leaf_label(out, in);
        fprintf(out, "  t%p -> n%p;\n", (const void *)in, (void *)n);
      }
    }
  }
  fprintf(out, "}\n");
  return 0;
}
