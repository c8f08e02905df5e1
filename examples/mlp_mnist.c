/* The lecture's MLP on (Fashion-)MNIST: Linear(784,200) -> Tanh ->
 * Linear(200,10), weights N(0, sqrt(2/(M+N))), bias 0, cross-entropy, SGD
 * lr 0.1, batch 100, pixels / 255. Prints the test errors out of 10000 after
 * each epoch. --linear trains the linear model Linear(784,10) instead.
 * Under mpirun -np N it trains data-parallel (batch per rank, global batch
 * N x --batch; rank 0 prints and writes the log and the checkpoint).
 *
 *   build/examples/mlp_mnist [--data DIR] [--epochs 5] [--linear] [--out DIR] ...
 *   mpirun -np 2 build/examples/mlp_mnist --batch 50 ... */
#include <math.h>

#include "train_util.h"

/* Linear layers get N(0, sqrt(2/(fan_in+fan_out))) weights and zero bias,
 * as in the lecture (not PyTorch's default init). */
static tg_module *make_model(bool linear, tg_rng *rng) {
  tg_module *m = linear ? tg_nn_sequential(1, tg_nn_linear(784, 10, true, rng))
                        : tg_nn_sequential(3, tg_nn_linear(784, 200, true, rng), tg_nn_tanh(),
                                           tg_nn_linear(200, 10, true, rng));
  if (!m) return NULL;
  size_t np;
  tg_tensor **params = tg_module_parameters(m, &np);
  for (size_t i = 0; i < np; i++) {
    tg_tensor *p = params[i];
    if (p->ndim == 2) tg_init_normal_(p, rng, 0.0, sqrt(2.0 / (double)(p->shape[0] + p->shape[1])));
    else tg_init_zeros_(p);
  }
  return m;
}

int main(int argc, char **argv) {
  train_flags f = {.data = TG_FASHION_MNIST_DIR, .out = ".", .epochs = 5, .batch = 100,
                   .lr = 0.1, .seed = 0, .threads = 1};
  int rc = train_parse(argc, argv, &f, " [--linear]");
  if (rc || (rc = train_dist_begin("mlp_mnist"))) return rc;
  tg_dataset *train = NULL, *test = NULL;
  if (tg_mnist_load(f.data, true, &train) || tg_mnist_load(f.data, false, &test)) {
    fprintf(stderr, "mlp_mnist: %s\n", tg_last_error());
    tg_dataset_free(train);
    return 1;
  }
  tg_rng rng;
  tg_rng_seed(&rng, f.seed);
  tg_module *model = make_model(f.linear, &rng);
  size_t np = 0;
  tg_tensor **params = model ? tg_module_parameters(model, &np) : NULL;
  tg_sgd_opts so = tg_sgd_defaults();
  so.lr = f.lr;
  tg_optimizer *opt = params ? tg_sgd_new(params, (int)np, so) : NULL;
  /* under mpirun: rank 0's initial weights on every rank, gradients averaged */
  tg_ddp *ddp = opt && tg_dist_is_initialized() ? tg_ddp_new(model, tg_ddp_defaults()) : NULL;
  if (tg_dist_is_initialized() && !ddp) opt = (tg_optim_free(opt), NULL);
  train_classifier c = {.prog = "mlp_mnist", .about = f.linear ? "linear" : "784-200-10 tanh",
                        .model = model, .opt = opt, .in_ndim = 1, .in_shape = {784}, .ddp = ddp};
  if (opt) rc = train_classifier_run(&c, &f, train, test);
  else rc = 1, fprintf(stderr, "mlp_mnist: %s\n", tg_last_error());
  tg_optim_free(opt);
  tg_ddp_free(ddp);
  tg_module_free(model);
  tg_dataset_free(train);
  tg_dataset_free(test);
  train_dist_end();
  tg_release_cached();
  return rc;
}
