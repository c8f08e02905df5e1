/* The lecture's SimpleMLP: each 32x32 grayscale image flattened to 1024
 * values -> Linear(1024,32) -> BatchNorm1d(32) -> Sigmoid -> Linear(32,10),
 * cross-entropy, PyTorch's default initialisation. Trained with SGD
 * (lr 0.01, momentum 0.9) or, with --adam, Adam (lr 1e-3); batch 64.
 *
 * Data: CIFAR-10 binary batches as grayscale (0.299 R + 0.587 G + 0.114 B)
 * with --cifar DIR (DIR/data_batch_{1..5}.bin, DIR/test_batch.bin);
 * otherwise (Fashion-)MNIST IDX files from --data, zero-padded from 28x28
 * to 32x32. Pixels are scaled to [0, 1].
 *
 * After each epoch the model is evaluated in eval mode (BatchNorm uses its
 * running statistics) on the test set. Writes cifar_mlp_metrics.csv (and
 * cifar_mlp_curves.png) and the checkpoint
 * cifar_mlp.safetensors (parameters and BatchNorm buffers) into --out.
 * --epochs 0 --load FILE only evaluates FILE. The fingerprint at the end
 * hashes the whole state dict (parameters and BatchNorm buffers).
 *
 *   build/examples/cifar_mlp [--cifar DIR | --data DIR] [--adam] [--epochs 5] [--out DIR] ...
 *
 * Under mpirun -np N it trains data-parallel (DDP, a DistributedSampler
 * shard per rank, global batch N x --batch; the epoch's training figures
 * summed over the ranks). BatchNorm is local, as PyTorch's default: each
 * rank normalises its own batch, and DDP broadcasts rank 0's running
 * statistics before every training forward (torch's broadcast_buffers);
 * --sync-bn makes it torch's SyncBatchNorm (the statistics over every
 * rank's batch, convert_sync_batchnorm). Rank 0 evaluates, prints and
 * writes the log and the checkpoint. */
#include <math.h>

#include "train_util.h"

#define IMAGE_SIDE 32
#define INPUT_FEATURES (IMAGE_SIDE * IMAGE_SIDE)
#define HIDDEN 32
#define CLASSES 10
#define EVAL_BATCH 1000
#define EXTRA_USAGE " [--adam] [--cifar DIR] [--sync-bn]"

static const char *prog = "cifar_mlp";

/* Flatten is done by the dataset's transform, so the layers are named as
 * PyTorch's Sequential(Linear, BatchNorm1d, Sigmoid, Linear) names them:
 * 0.weight, 0.bias, 1.weight, 1.bias, 1.running_mean, 1.running_var,
 * 1.num_batches_tracked, 3.weight, 3.bias. */
static tg_module *make_model(tg_rng *rng) {
  return tg_nn_sequential(4, tg_nn_linear(INPUT_FEATURES, HIDDEN, true, rng),
                          tg_nn_batchnorm1d(HIDDEN, 1e-5, 0.1, true), tg_nn_sigmoid(),
                          tg_nn_linear(HIDDEN, CLASSES, true, rng));
}

/* the training and test sets as [1024] float samples in [0, 1] */
static int load_data(const char *cifar, const char *mnist, tg_dataset **train, tg_dataset **test) {
  *train = *test = NULL;
  tg_transform tf = {.flatten = true};
  if (cifar) {
    tf.grayscale = true;
    if (tg_cifar10_load_dir(cifar, true, train) || tg_cifar10_load_dir(cifar, false, test))
      return -1;
  } else {
    tf.pad_h = tf.pad_w = IMAGE_SIDE;
    if (tg_mnist_load(mnist, true, train) || tg_mnist_load(mnist, false, test)) return -1;
  }
  tg_dataset *both[2] = {*train, *test};
  for (int k = 0; k < 2; k++) {
    tg_dataset *ds = both[k];
    if (tg_dataset_set_transform(ds, &tf)) return -1;
    if (ds->sample_numel != INPUT_FEATURES || ds->num_classes > CLASSES) {
      tg_dataset_error("%s: the %s set has samples of %zu values and %lld classes; expected "
                       "%d (%dx%d grayscale) and at most %d classes",
                       cifar ? cifar : mnist, k ? "test" : "training", ds->sample_numel,
                       (long long)ds->num_classes, INPUT_FEATURES, IMAGE_SIDE, IMAGE_SIDE, CLASSES);
      return -1;
    }
  }
  return 0;
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

typedef struct eval_result {
  double loss; /* mean cross-entropy */
  size_t correct, total;
} eval_result;

/* the whole test set in eval mode (running statistics), recording nothing;
 * -1 on error */
static int evaluate(tg_module *model, tg_loader *test, eval_result *r) {
  tg_tensor *x, *y;
  double loss_sum = 0;
  int rc = 0;
  *r = (eval_result){0};
  tg_module_eval(model);
  tg_no_grad_begin();
  while (rc == 0 && tg_loader_next(test, &x, &y)) {
    tg_scope_begin();
    tg_tensor *logits = tg_module_forward(model, x);
    tg_tensor *loss = tg_cross_entropy(logits, y, TG_REDUCTION_SUM);
    if (loss) {
      loss_sum += tg_item(loss);
      r->correct += count_correct(logits, y);
      r->total += y->numel;
    } else {
      rc = -1;
    }
    tg_scope_end();
  }
  if (rc) tg_loader_reset(test);
  tg_no_grad_end();
  tg_module_train(model, true);
  if (rc == 0 && (tg_loader_failed(test) || r->total == 0)) {
    if (!tg_loader_failed(test)) tg_dataset_error("%s: the test set is empty", prog);
    rc = -1;
  }
  r->loss = r->total ? loss_sum / (double)r->total : NAN;
  return rc;
}

/* one epoch; returns the mean training loss, or NaN on error */
static double train_epoch(tg_module *model, tg_optimizer *opt, tg_ddp *ddp, tg_loader *train,
                          long max_steps, size_t *seen, size_t *correct) {
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
    tg_tensor *logits = tg_module_forward(model, x);
    tg_tensor *loss = tg_cross_entropy(logits, y, TG_REDUCTION_MEAN);
    if (!loss || tg_optim_zero_grad(opt) || tg_backward(loss, NULL, false) ||
        (ddp && tg_ddp_sync_grads(ddp)) || tg_optim_step(opt)) {
      tg_scope_end();
      tg_loader_reset(train);
      return NAN;
    }
    loss_sum += tg_item(loss) * (double)b;
    *correct += count_correct(logits, y);
    *seen += b;
    tg_scope_end();
  }
  if (tg_loader_failed(train)) return NAN;
  double v[3] = {loss_sum, (double)*correct, (double)*seen}; /* every rank's shard */
  if (train_sum_over_ranks(v, 3)) return NAN;
  loss_sum = v[0], *correct = (size_t)v[1], *seen = (size_t)v[2];
  if (!*seen) {
    tg_dataset_error("%s: no training batch in the epoch", prog);
    return NAN;
  }
  return loss_sum / (double)*seen;
}

/* --sync-bn (anywhere) out of argv; whether it was there */
static bool take_sync_bn(int *argc, char **argv) {
  bool on = false;
  int n = 1;
  for (int i = 1; i < *argc; i++)
    if (!strcmp(argv[i], "--sync-bn")) on = true;
    else argv[n++] = argv[i];
  *argc = n;
  return on;
}

int main(int argc, char **argv) {
  const char *cifar = NULL;
  bool lr_given = false;
  bool sync_bn = take_sync_bn(&argc, argv);
  argc = train_take_cifar(argc, argv, &cifar, &lr_given, EXTRA_USAGE);
  if (argc < 0) return 2;
  train_flags f = {.data = TG_FASHION_MNIST_DIR, .out = ".", .epochs = 5, .batch = 64,
                   .lr = 0.01, .seed = 0, .threads = 1};
  int rc = train_parse(argc, argv, &f, EXTRA_USAGE);
  if (!rc) rc = train_refuse_resume(argv[0], &f);
  if (rc || (rc = train_dist_begin(prog))) return rc;
  if (f.linear) {
    fprintf(stderr, "%s: unknown flag --linear (it belongs to mlp_mnist)\n", argv[0]);
    train_usage(argv[0], EXTRA_USAGE);
    return 2;
  }
  if (!lr_given) f.lr = f.adam ? 1e-3 : 0.01;
  if (f.batch < 2) {
    fprintf(stderr, "%s: --batch must be at least 2 (BatchNorm needs two samples)\n", argv[0]);
    return 2;
  }

  tg_dataset *train = NULL, *test = NULL;
  tg_module *model = NULL;
  tg_optimizer *opt = NULL;
  tg_loader *train_l = NULL, *test_l = NULL;
  tg_metrics *log = NULL;
  tg_ddp *ddp = NULL;
  tg_dist_sampler *sampler = NULL;
  bool rank0 = train_rank() == 0;
  char csv[4096], path[4096];
  train_path(csv, sizeof csv, f.out, "cifar_mlp_metrics.csv");
  rc = 1;
  if (load_data(cifar, f.data, &train, &test)) goto done;

  tg_rng rng;
  tg_rng_seed(&rng, f.seed);
  model = make_model(&rng);
  size_t np = 0;
  tg_tensor **params = model ? tg_module_parameters(model, &np) : NULL;
  if (!params) goto done;
  opt = train_optimizer(params, np, f.adam, f.lr);
  /* BatchNorm cannot train on a batch of one: drop such a last batch */
  if (tg_dist_is_initialized()) { /* torch's DistributedSampler(shuffle=True, seed) */
    sampler = tg_dist_sampler_new(train->length, 0, -1, true, f.seed, false);
    size_t per = sampler ? tg_dist_sampler_len(sampler) : 0;
    if (sampler)
      train_l = tg_loader_new_sampler(train, f.batch, per % f.batch == 1,
                                      (tg_sampler){per, tg_dist_sampler_fill, sampler}, f.workers);
  } else {
    train_l = tg_loader_new_workers(train, f.batch, true, train->length % f.batch == 1, f.seed,
                                    f.workers);
  }
  test_l = tg_loader_new_workers(test, EVAL_BATCH, false, false, 0, f.workers);
  if (!opt || !train_l || !test_l) goto done;
  if (f.load && tg_load_module(f.load, model)) goto done;
  /* under mpirun: rank 0's weights and BatchNorm buffers on every rank */
  if (tg_dist_is_initialized() && sync_bn && tg_ddp_convert_sync_batchnorm(model) < 0) goto done;
  if (tg_dist_is_initialized() && !(ddp = tg_ddp_new(model, tg_ddp_defaults()))) goto done;
  if (f.epochs > 0 && rank0 && !(log = tg_metrics_open(csv, "epoch,train_loss,train_accuracy,test_loss,"
                                                   "test_accuracy,samples_per_second,seconds")))
    goto done;

  printf("%s: 1024-32-10 MLP (BatchNorm, sigmoid), %zu parameters, %s lr %g, batch %zu; %zu train "
         "/ %zu test samples from %s%s\n",
         prog, tg_module_num_parameters(model, false), f.adam ? "Adam" : "SGD momentum 0.9", f.lr,
         f.batch, train->length, test->length, cifar ? cifar : f.data,
         cifar ? " (CIFAR-10 as grayscale)" : " (padded to 32x32)");
  if (f.load) printf("loaded %s\n", f.load);
  fflush(stdout);
  double start = train_now();
  eval_result ev;
  for (int epoch = 1; epoch <= f.epochs; epoch++) {
    double t0 = train_now();
    size_t seen, correct;
    if (sampler && tg_dist_sampler_set_epoch(sampler, (uint64_t)epoch - 1)) goto done;
    double loss = train_epoch(model, opt, ddp, train_l, f.max_steps, &seen, &correct);
    if (isnan(loss)) goto done;
    double secs = train_now() - t0, rate = secs > 0 ? (double)seen / secs : 0;
    if (evaluate(model, test_l, &ev)) goto done;
    double train_acc = 100.0 * (double)correct / (double)seen;
    double test_acc = 100.0 * (double)ev.correct / (double)ev.total;
    double elapsed = train_now() - start;
    printf("epoch %d/%d  train loss %.4f  train acc %.2f%%  test loss %.4f  test acc %.2f%% "
           "(%zu/%zu)  %.0f samples/s  elapsed %.1fs\n",
           epoch, f.epochs, loss, train_acc, ev.loss, test_acc, ev.correct, ev.total, rate, elapsed);
    fflush(stdout);
    if (log && tg_metrics_row(log, (double[]){epoch, loss, train_acc, ev.loss, test_acc, rate, elapsed}))
      goto done;
  }
  if (f.epochs == 0) {
    if (evaluate(model, test_l, &ev)) goto done;
    printf("evaluation: test loss %.4f  test acc %.2f%% (%zu/%zu)\n", ev.loss,
           100.0 * (double)ev.correct / (double)ev.total, ev.correct, ev.total);
  } else if (rank0) { /* rank 0 alone writes the checkpoint */
    const tg_kv meta[] = {{"model", "cifar_mlp: Linear(1024,32) BatchNorm1d(32) Sigmoid Linear(32,10)"},
                          {"data", cifar ? "cifar10 grayscale" : "idx padded to 32x32"}};
    train_path(path, sizeof path, f.out, "cifar_mlp.safetensors");
    if (tg_save_module(path, model, meta, 2)) goto done;
    printf("checkpoint: %s\n", path);
  }
  printf("fingerprint=%016llx\n",
         (unsigned long long)train_fingerprint_module(model));
  rc = 0;
done:
  if (rc) fprintf(stderr, "%s: %s\n", prog, tg_last_error());
  if (log && tg_metrics_close(log) && rc == 0) {
    fprintf(stderr, "%s: %s\n", prog, tg_last_error());
    rc = 1;
  }
  if (log && rc == 0) {
    if (tg_metrics_plot(csv, train_path(path, sizeof path, f.out, "cifar_mlp_curves.png"), prog) == 0)
      printf("curves: %s\n", path);
    else fprintf(stderr, "%s: no curves: %s\n", prog, tg_last_error());
  }
  tg_loader_free(train_l);
  tg_loader_free(test_l);
  tg_optim_free(opt);
  tg_ddp_free(ddp);
  tg_dist_sampler_free(sampler);
  tg_module_free(model);
  tg_dataset_free(train);
  tg_dataset_free(test);
  train_dist_end();
  tg_release_cached();
  return rc;
}
