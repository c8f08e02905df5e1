/* Activation statistics per layer through module hooks: a forward hook on
 * every layer of a deep tanh MLP prints the mean and standard deviation of
 * its output, and a full backward hook the standard deviation of the
 * gradient w.r.t. its output. Two initialisations of the weights,
 * N(0, s^2 / fan_in): with s = 5/3 (the gain PyTorch's calculate_gain
 * gives tanh) the activations keep their spread through the 6 layers; with
 * s = 0.5 they halve layer by layer, and the gradients w.r.t. the layers'
 * outputs shrink on the way back to the first layer (vanishing).
 *
 *   build/examples/activation_stats */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

#define LAYERS 6
#define WIDTH 64
#define BATCH 256

static void die(const char *what) {
  fprintf(stderr, "activation_stats: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

typedef struct layer_stats {
  double act_mean[2 * LAYERS], act_std[2 * LAYERS], grad_std[2 * LAYERS];
  int n_fwd, n_bwd;
} layer_stats;

static double std_of(tg_tensor *t) { return tg_item(tg_std(t, false)); }

static tg_tensor *on_forward(tg_module *m, tg_tensor *x, tg_tensor *y, void *ctx) {
  (void)m, (void)x;
  layer_stats *s = ctx;
  s->act_mean[s->n_fwd] = tg_item(tg_mean(y));
  s->act_std[s->n_fwd++] = std_of(y);
  return y;
}

/* backward hooks run from the last layer to the first */
static tg_tensor *on_backward(tg_module *m, tg_tensor *grad_input, tg_tensor *grad_output, void *ctx) {
  (void)m;
  layer_stats *s = ctx;
  s->grad_std[2 * LAYERS - 1 - s->n_bwd++] = std_of(grad_output);
  return grad_input;
}

static void run(double s_init) {
  tg_rng rng;
  tg_rng_seed(&rng, 1);
  tg_module *layers[2 * LAYERS];
  for (int l = 0; l < LAYERS; l++) {
    layers[2 * l] = tg_nn_linear(WIDTH, WIDTH, true, &rng);
    layers[2 * l + 1] = tg_nn_tanh();
  }
  tg_module *net = tg_nn_sequential_array(2 * LAYERS, layers);
  if (!net) die("building the MLP");
  layer_stats st = {0};
  for (size_t k = 0; k < net->n_children; k++) {
    tg_module *c = net->children[k].module;
    if (!tg_module_register_forward_hook(c, on_forward, &st).id ||
        !tg_module_register_full_backward_hook(c, on_backward, &st).id)
      die("registering the hooks");
    if (k % 2 == 0) { /* Linear: weight N(0, s^2/fan_in), bias 0 */
      tg_normal_(c->params[0].tensor, &rng, 0.0, s_init / sqrt((double)WIDTH));
      tg_fill_(c->params[1].tensor, 0.0);
    }
  }
  tg_scope_begin();
  tg_tensor *x = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(BATCH, WIDTH));
  tg_tensor *y = tg_module_forward(net, x);
  tg_tensor *loss = y ? tg_mean(tg_mul(y, y)) : NULL;
  if (!loss || tg_backward(loss, NULL, false) != 0) die("the step");
  printf("weights N(0, (%.3f/sqrt(%d))^2), %d x tanh(Linear(%d, %d)), batch %d:\n", s_init, WIDTH, LAYERS,
         WIDTH, WIDTH, BATCH);
  printf("  %-3s %-7s %10s %10s %14s\n", "#", "layer", "act mean", "act std", "grad_out std");
  for (int k = 0; k < 2 * LAYERS; k++)
    printf("  %-3d %-7s %+10.4f %10.4f %14.3e\n", k, net->children[k].module->type, st.act_mean[k], st.act_std[k],
           st.grad_std[k]);
  double first = st.act_std[1], last = st.act_std[2 * LAYERS - 1];
  printf("  tanh output std, first -> last layer: %.4f -> %.4f (%s)\n\n", first, last,
         last < 0.5 * first ? "shrinks" : "keeps its spread");
  tg_scope_end();
  tg_module_free(net);
}

int main(void) {
  run(5.0 / 3.0);
  run(0.5);
  tg_release_cached();
  return 0;
}
