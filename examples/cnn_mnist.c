/* A LeNet-5-style CNN on (Fashion-)MNIST, the lecture's move from the MLP to
 * convolution and pooling, written as the PyTorch model:
 *
 *   Conv2d(1, 6, 5, padding=2) -> ReLU -> MaxPool2d(2)      (6, 14, 14)
 *   Conv2d(6, 16, 5)           -> ReLU -> MaxPool2d(2)      (16, 5, 5)
 *   Flatten -> Linear(400, 120) -> ReLU -> Linear(120, 84) -> ReLU -> Linear(84, 10)
 *
 * PyTorch's default initialisation, cross-entropy, SGD lr 0.01 momentum 0.9,
 * batch 64, pixels / 255. bench/cnn_torch.py is the same program in PyTorch.
 *
 *   build/examples/cnn_mnist [--data DIR] [--epochs 5] [--out DIR] ...
 *
 * Under mpirun -np N it trains data-parallel as mlp_mnist (batch per rank,
 * global batch N x --batch; rank 0 prints and writes the log and the
 * checkpoint; the epoch's figures summed over the ranks). */
#include "train_util.h"

static tg_module *lenet5(tg_rng *rng) {
  const int64_t k5[2] = {5, 5}, pad2[2] = {2, 2}, k2[2] = {2, 2};
  return tg_nn_sequential(12,
                          tg_nn_conv2d(1, 6, k5, NULL, pad2, NULL, 1, true, rng), tg_nn_relu(),
                          tg_nn_maxpool2d(k2, NULL, NULL, NULL, false),
                          tg_nn_conv2d(6, 16, k5, NULL, NULL, NULL, 1, true, rng), tg_nn_relu(),
                          tg_nn_maxpool2d(k2, NULL, NULL, NULL, false),
                          tg_nn_flatten(1, -1),
                          tg_nn_linear(400, 120, true, rng), tg_nn_relu(),
                          tg_nn_linear(120, 84, true, rng), tg_nn_relu(),
                          tg_nn_linear(84, 10, true, rng));
}

int main(int argc, char **argv) {
  train_flags f = {.data = TG_FASHION_MNIST_DIR, .out = ".", .epochs = 5, .batch = 64,
                   .lr = 0.01, .seed = 0, .threads = 1};
  int rc = train_parse(argc, argv, &f, NULL);
  if (rc) return rc;
  if (f.linear || f.adam) {
    fprintf(stderr, "cnn_mnist: --linear and --adam belong to mlp_mnist and cifar_mlp\n");
    train_usage(argv[0], NULL);
    return 2;
  }
  if ((rc = train_dist_begin("cnn_mnist"))) return rc;
  tg_dataset *train = NULL, *test = NULL;
  if (tg_mnist_load(f.data, true, &train) || tg_mnist_load(f.data, false, &test)) {
    fprintf(stderr, "cnn_mnist: %s\n", tg_last_error());
    tg_dataset_free(train);
    return 1;
  }
  tg_rng rng;
  tg_rng_seed(&rng, f.seed);
  tg_module *model = lenet5(&rng);
  size_t np = 0;
  tg_tensor **params = model ? tg_module_parameters(model, &np) : NULL;
  tg_sgd_opts so = tg_sgd_defaults();
  so.lr = f.lr;
  so.momentum = 0.9;
  tg_optimizer *opt = params ? tg_sgd_new(params, (int)np, so) : NULL;
  /* under mpirun: rank 0's initial weights on every rank, gradients averaged */
  tg_ddp *ddp = opt && tg_dist_is_initialized() ? tg_ddp_new(model, tg_ddp_defaults()) : NULL;
  if (tg_dist_is_initialized() && !ddp) opt = (tg_optim_free(opt), NULL);
  train_classifier c = {.prog = "cnn_mnist", .about = "LeNet-5", .model = model, .opt = opt,
                        .in_ndim = 3, .in_shape = {1, 28, 28}, .ddp = ddp};
  if (opt) rc = train_classifier_run(&c, &f, train, test);
  else rc = 1, fprintf(stderr, "cnn_mnist: %s\n", tg_last_error());
  tg_optim_free(opt);
  tg_ddp_free(ddp);
  tg_module_free(model);
  tg_dataset_free(train);
  tg_dataset_free(test);
  train_dist_end();
  tg_release_cached();
  return rc;
}
