/* The lecture's MLP on (Fashion-)MNIST: Linear(784,200) -> Tanh ->
 * Linear(200,10), weights N(0, sqrt(2/(M+N))), bias 0, cross-entropy, SGD
 * lr 0.1, batch 100, pixels / 255. Prints the test errors out of 10000 after
 * each epoch. --linear trains the linear model Linear(784,10) instead.
 *
 *   build/examples/mlp_mnist [--data DIR] [--epochs 5] [--linear] [--out DIR] ... */
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

/* number of rows whose argmax equals the label */
static size_t count_correct(tg_tensor *logits, const tg_tensor *y) {
  tg_tensor *idx = NULL;
  if (!tg_max_dim(logits, 1, false, &idx) || !idx) return 0;
  const int64_t *pred = tg_data(idx), *label = tg_data(y);
  size_t correct = 0;
  for (size_t i = 0; i < y->numel; i++) correct += pred[i] == label[i];
  return correct;
}

/* test errors out of the whole test set, in eval mode without recording */
static size_t test_errors(tg_module *model, tg_loader *test, size_t *total) {
  tg_tensor *x, *y;
  size_t correct = 0;
  *total = 0;
  tg_module_eval(model);
  tg_no_grad_begin();
  while (tg_loader_next(test, &x, &y)) {
    tg_scope_begin();
    tg_tensor *logits = tg_module_forward(model, tg_reshape(x, TG_SHAPE(x->shape[0], 784)));
    correct += logits ? count_correct(logits, y) : 0;
    *total += y->numel;
    tg_scope_end();
  }
  tg_no_grad_end();
  tg_module_train(model, true);
  return *total - correct;
}

/* one epoch of SGD; returns the mean loss, or NaN on error */
static double train_epoch(tg_module *model, tg_optimizer *opt, tg_loader *train, long max_steps,
                          size_t *seen, size_t *correct) {
  tg_tensor *x, *y;
  double loss_sum = 0;
  long steps = 0;
  *seen = *correct = 0;
  while (tg_loader_next(train, &x, &y)) {
    if (max_steps > 0 && steps++ >= max_steps) {
      tg_loader_reset(train);
      break;
    }
    tg_scope_begin();
    size_t b = x->shape[0];
    tg_tensor *logits = tg_module_forward(model, tg_reshape(x, TG_SHAPE(b, 784)));
    tg_tensor *loss = tg_cross_entropy(logits, y, TG_REDUCTION_MEAN);
    if (!loss || tg_optim_zero_grad(opt) || tg_backward(loss, NULL, false) || tg_optim_step(opt)) {
      tg_scope_end();
      return NAN;
    }
    loss_sum += tg_item(loss) * (double)b;
    *correct += count_correct(logits, y);
    *seen += b;
    tg_scope_end();
  }
  return *seen ? loss_sum / (double)*seen : NAN;
}

int main(int argc, char **argv) {
  train_flags f = {.data = TG_FASHION_MNIST_DIR, .out = ".", .epochs = 5, .batch = 100,
                   .lr = 0.1, .seed = 0, .threads = 1};
  int rc = train_parse(argc, argv, &f, " [--linear]");
  if (rc) return rc;
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
  tg_loader *train_l = tg_loader_new(train, f.batch, true, false, f.seed);
  tg_loader *test_l = tg_loader_new(test, 1000, false, false, 0);
  char path[4096];
  tg_metrics *log = tg_metrics_open(train_path(path, sizeof path, f.out, "mlp_mnist_metrics.csv"),
                                    "epoch,train_loss,train_accuracy,test_errors,test_accuracy,seconds");
  rc = 1;
  if (!opt || !train_l || !test_l || !log) goto done;
  if (f.load && tg_load_module(f.load, model)) goto done;
  printf("mlp_mnist: %s model, %zu parameters, %zu train / %zu test samples from %s\n",
         f.linear ? "linear" : "784-200-10 tanh", tg_module_num_parameters(model, false),
         train->length, test->length, f.data);
  double start = train_now();
  for (int epoch = 1; epoch <= f.epochs; epoch++) {
    double t0 = train_now();
    size_t seen, correct, total;
    double loss = train_epoch(model, opt, train_l, f.max_steps, &seen, &correct);
    if (isnan(loss)) goto done;
    double secs = train_now() - t0;
    size_t errors = test_errors(model, test_l, &total);
    double acc = 100.0 * (double)(total - errors) / (double)total;
    printf("epoch %d/%d  loss %.4f  train acc %.2f%%  test errors %zu/%zu (acc %.2f%%)  "
           "%.0f samples/s  elapsed %.1fs\n",
           epoch, f.epochs, loss, 100.0 * (double)correct / (double)seen, errors, total, acc,
           (double)seen / secs, train_now() - start);
    fflush(stdout);
    tg_metrics_row(log, (double[]){epoch, loss, 100.0 * (double)correct / (double)seen,
                                   (double)errors, acc, train_now() - start});
  }
  if (f.epochs == 0) {
    size_t total, errors = test_errors(model, test_l, &total);
    printf("test errors %zu/%zu (acc %.2f%%)\n", errors, total,
           100.0 * (double)(total - errors) / (double)total);
  }
  if (f.epochs > 0) { /* --epochs 0 only evaluates: nothing new to save */
    if (tg_save_module(train_path(path, sizeof path, f.out, "mlp_mnist.safetensors"), model, NULL, 0))
      goto done;
    printf("checkpoint: %s\n", path);
  }
  printf("fingerprint=%016llx\n", (unsigned long long)train_fingerprint(params, np));
  rc = 0;
done:
  if (rc) fprintf(stderr, "mlp_mnist: %s\n", tg_last_error());
  if (log) {
    tg_metrics_close(log);
    char png[4096];
    train_path(path, sizeof path, f.out, "mlp_mnist_metrics.csv");
    if (rc == 0 && tg_metrics_plot(path, train_path(png, sizeof png, f.out, "mlp_mnist_curves.png"),
                                   "mlp_mnist") == 0)
      printf("curves: %s\n", png);
  }
  tg_loader_free(train_l);
  tg_loader_free(test_l);
  tg_optim_free(opt);
  tg_module_free(model);
  tg_dataset_free(train);
  tg_dataset_free(test);
  tg_release_cached();
  return rc;
}
