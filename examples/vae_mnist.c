/* The variational autoencoder of PyTorch's examples (vae/main.py) on
 * (Fashion-)MNIST: encoder fc1 784->400, ReLU, fc21/fc22 400->20 giving mu
 * and logvar; z = mu + eps * exp(logvar / 2) with eps ~ N(0, I); decoder
 * fc3 20->400, ReLU, fc4 400->784, sigmoid. Loss per batch: summed binary
 * cross-entropy of the reconstruction plus KL(q(z|x) || N(0, I)), Adam lr
 * 1e-3, batch 128, PyTorch's default Linear init. Pixels are in [0, 1].
 *
 * Prints PyTorch's lines ("====> Epoch: k Average loss: X", "====> Test set
 * loss: X", both per sample; the test pass samples eps too, as PyTorch's
 * does) and a progress line per epoch; writes vae_samples.png (64 decodings
 * of z ~ N(0, I)), vae_reconstruction.png (8 test images over their
 * reconstructions), vae_mnist_metrics.csv (+ vae_mnist_curves.png) and
 * the checkpoint vae_mnist.safetensors to --out, then reloads the checkpoint
 * into a fresh model and checks that it gives the same test loss.
 *
 *   build/examples/vae_mnist [--data DIR] [--epochs 10] [--batch 128] [--lr 1e-3] [--out DIR] ...
 *   build/examples/vae_mnist --epochs 0 --load vae_mnist.safetensors   (evaluate only)
 *
 * Under mpirun -np N it trains data-parallel (DDP: gradients averaged over
 * the ranks, each rank a DistributedSampler shard of every epoch and its
 * own eps; global batch N x --batch): the epoch's loss is summed over the
 * ranks, every rank evaluates the whole test set with the same eps, and
 * rank 0 alone prints and writes the images, the log and the checkpoint. */
#include <math.h>

#include "train_util.h"

#define IMG 784    /* 28 x 28 pixels, flattened */
#define HIDDEN 400
#define LATENT 20
#define SIDE 28
#define GRID_PAD 2 /* torchvision's save_image default */
#define N_SAMPLES 64
#define N_COMPARE 8

/* ------------------------------------------------------------ the model */

/* The children, named as PyTorch's attributes so that the state dict keys
 * ("fc1.weight", ...) are the ones torch's model.state_dict() has. */
typedef struct vae {
  tg_module *m; /* owns the layers below */
  tg_module *fc1, *fc21, *fc22, *fc3, *fc4;
} vae;

/* h = relu(fc1(x)); mu = fc21(h), logvar = fc22(h) */
static void vae_encode(const vae *v, tg_tensor *x, tg_tensor **mu, tg_tensor **logvar) {
  tg_tensor *h = tg_relu(tg_module_forward(v->fc1, x));
  *mu = h ? tg_module_forward(v->fc21, h) : NULL;
  *logvar = h ? tg_module_forward(v->fc22, h) : NULL;
}

/* sigmoid(fc4(relu(fc3(z)))) */
static tg_tensor *vae_decode(const vae *v, tg_tensor *z) {
  return tg_sigmoid(tg_module_forward(v->fc4, tg_relu(tg_module_forward(v->fc3, z))));
}

/* mu + eps * exp(0.5 logvar), eps ~ N(0, I) drawn from rng */
static tg_tensor *reparameterize(tg_tensor *mu, tg_tensor *logvar, tg_rng *rng) {
  if (!mu || !logvar) return NULL;
  tg_tensor *eps = tg_randn(rng, mu->dtype, mu->ndim, mu->shape);
  return tg_add(mu, tg_mul(eps, tg_exp(tg_mul_scalar(logvar, 0.5))));
}

/* the whole forward pass: reconstruction, with mu and logvar */
static tg_tensor *vae_pass(const vae *v, tg_tensor *x, tg_rng *rng, tg_tensor **mu,
                           tg_tensor **logvar) {
  vae_encode(v, x, mu, logvar);
  return vae_decode(v, reparameterize(*mu, *logvar, rng));
}

/* BCE(recon, x, sum) + KL, summed over the batch */
static tg_tensor *vae_loss(tg_tensor *recon, tg_tensor *x, tg_tensor *mu, tg_tensor *logvar) {
  return tg_add(tg_binary_cross_entropy(recon, x, TG_REDUCTION_SUM),
                tg_gaussian_kl(mu, logvar, TG_REDUCTION_SUM));
}

/* tg_module_forward on the model: the reconstruction, eps from the tg_rng
 * in ctx (borrowed) */
static tg_tensor *vae_module_forward(tg_module *m, tg_tensor *x) {
  vae v = {m, tg_module_child(m, "fc1"), tg_module_child(m, "fc21"), tg_module_child(m, "fc22"),
           tg_module_child(m, "fc3"), tg_module_child(m, "fc4")};
  tg_tensor *mu, *logvar;
  return vae_pass(&v, x, m->ctx, &mu, &logvar);
}

/* layers built in PyTorch's order (fc1, fc21, fc22, fc3, fc4), each drawing
 * weight then bias from rng; eps_rng is what tg_module_forward samples with */
static int vae_new(vae *v, tg_rng *rng, tg_rng *eps_rng) {
  static const char *names[5] = {"fc1", "fc21", "fc22", "fc3", "fc4"};
  static const size_t dims[5][2] = {{IMG, HIDDEN}, {HIDDEN, LATENT}, {HIDDEN, LATENT},
                                    {LATENT, HIDDEN}, {HIDDEN, IMG}};
  *v = (vae){0};
  v->m = tg_module_new("VAE", vae_module_forward);
  if (!v->m) return -1;
  v->m->ctx = eps_rng;
  tg_module **slots[5] = {&v->fc1, &v->fc21, &v->fc22, &v->fc3, &v->fc4};
  for (int i = 0; i < 5; i++) {
    tg_module *layer = tg_nn_linear(dims[i][0], dims[i][1], true, rng);
    if (!layer || tg_module_add_child(v->m, names[i], layer) != 0) {
      tg_module_free(v->m);
      v->m = NULL;
      return -1;
    }
    *slots[i] = layer;
  }
  return 0;
}

/* ------------------------------------------------------------ checkpoints */

static int save_checkpoint(const vae *v, const char *path) {
  const tg_kv meta[] = {{"model", "vae_mnist"}};
  return tg_save_module(path, v->m, meta, 1);
}

/* all or nothing: a bad file leaves the model as it was */
static int load_checkpoint(const vae *v, const char *path) { return tg_load_module(path, v->m); }

/* ------------------------------------------------------------ training */

/* One epoch of Adam; returns the summed loss per sample, or NaN on error.
 * Each step's tensors and graph live in one scope; the loader's batch and
 * the parameters are the only persistent tensors a step touches. */
static double train_epoch(const vae *v, tg_optimizer *opt, tg_ddp *ddp, tg_loader *train,
                          tg_rng *eps_rng, long max_steps, size_t *seen) {
  tg_tensor *x, *y;
  double loss_sum = 0;
  long steps = 0;
  *seen = 0;
  while (tg_loader_next(train, &x, &y)) {
    if (max_steps > 0 && steps++ >= max_steps) {
      tg_loader_reset(train);
      break;
    }
    tg_scope_begin();
    tg_tensor *mu, *logvar;
    tg_tensor *recon = vae_pass(v, x, eps_rng, &mu, &logvar);
    tg_tensor *loss = vae_loss(recon, x, mu, logvar);
    if (!loss || tg_optim_zero_grad(opt) || tg_backward(loss, NULL, false) ||
        (ddp && tg_ddp_sync_grads(ddp)) || tg_optim_step(opt)) {
      tg_scope_end();
      return NAN;
    }
    loss_sum += tg_item(loss);
    *seen += x->shape[0];
    tg_scope_end();
  }
  if (tg_loader_failed(train)) return NAN;
  double v2[2] = {loss_sum, (double)*seen}; /* every rank's shard (alone: unchanged) */
  if (train_sum_over_ranks(v2, 2)) return NAN;
  *seen = (size_t)v2[1];
  return *seen ? v2[0] / (double)*seen : NAN;
}

/* The test loss per sample, in eval mode without recording, eps drawn from
 * eps_rng as in PyTorch's test(). When compare is given, it receives the
 * first min(B, 8) test images followed by their reconstructions (the
 * PyTorch example's comparison grid) and *n_compare their count. */
static double test_loss(const vae *v, tg_loader *test, tg_rng *eps_rng, float *compare,
                        size_t *n_compare) {
  tg_tensor *x, *y;
  double loss_sum = 0;
  size_t seen = 0;
  bool ok = true;
  tg_module_eval(v->m);
  tg_no_grad_begin();
  while (ok && tg_loader_next(test, &x, &y)) {
    tg_scope_begin();
    tg_tensor *mu, *logvar;
    tg_tensor *recon = vae_pass(v, x, eps_rng, &mu, &logvar);
    tg_tensor *loss = vae_loss(recon, x, mu, logvar);
    if (!loss) {
      ok = false;
    } else {
      if (seen == 0 && compare) {
        size_t n = x->shape[0] < N_COMPARE ? x->shape[0] : N_COMPARE;
        memcpy(compare, tg_data_f32(x), n * IMG * sizeof *compare);
        memcpy(compare + n * IMG, tg_data_f32(recon), n * IMG * sizeof *compare);
        *n_compare = n;
      }
      loss_sum += tg_item(loss);
      seen += x->shape[0];
    }
    tg_scope_end();
  }
  if (!ok) tg_loader_reset(test);
  tg_no_grad_end();
  tg_module_train(v->m, true);
  if (!ok || tg_loader_failed(test) || !seen) return NAN;
  return loss_sum / (double)seen;
}

/* 64 decodings of z ~ N(0, I) as an 8 x 8 grid */
static int save_samples(const vae *v, tg_rng *rng, const char *path) {
  tg_scope_begin();
  tg_no_grad_begin();
  tg_tensor *img = vae_decode(v, tg_randn(rng, TG_FLOAT32, TG_SHAPE(N_SAMPLES, LATENT)));
  int rc = img ? tg_save_image_grid(path, tg_data_f32(img), N_SAMPLES, SIDE, SIDE, 1, 8, GRID_PAD)
               : -1;
  tg_no_grad_end();
  tg_scope_end();
  return rc;
}

/* ------------------------------------------------------------ main */

typedef struct run {
  train_flags f;
  tg_dataset *train, *test;
  tg_loader *train_l, *test_l;
  vae model, fresh;
  tg_optimizer *opt;
  tg_ddp *ddp;                /* under mpirun */
  tg_dist_sampler *sampler;   /* under mpirun: this rank's shard */
  tg_metrics *log;
  tg_rng init_rng, eps_rng, test_rng, fresh_rng;
} run;

static void run_free(run *r) {
  tg_metrics_close(r->log);
  tg_loader_free(r->train_l);
  tg_loader_free(r->test_l);
  tg_optim_free(r->opt);
  tg_ddp_free(r->ddp);
  tg_dist_sampler_free(r->sampler);
  tg_module_free(r->model.m);
  tg_module_free(r->fresh.m);
  tg_dataset_free(r->train);
  tg_dataset_free(r->test);
}

static int load_data(run *r) {
  tg_transform flat = {.flatten = true}; /* [1,28,28] bytes -> [784] floats in [0, 1] */
  if (tg_mnist_load(r->f.data, true, &r->train) || tg_mnist_load(r->f.data, false, &r->test) ||
      tg_dataset_set_transform(r->train, &flat) || tg_dataset_set_transform(r->test, &flat))
    return -1;
  if (r->train->sample_numel != IMG || r->test->sample_numel != IMG) {
    tg_dataset_error("vae_mnist: %s holds %zu-pixel images; the model takes 28x28 = %d", r->f.data,
                     r->train->sample_numel, IMG);
    return -1;
  }
  if (tg_dist_is_initialized()) { /* torch's DistributedSampler(shuffle=True, seed) */
    r->sampler = tg_dist_sampler_new(r->train->length, 0, -1, true, r->f.seed, false);
    if (!r->sampler) return -1;
    r->train_l = tg_loader_new_sampler(
        r->train, r->f.batch, false,
        (tg_sampler){tg_dist_sampler_len(r->sampler), tg_dist_sampler_fill, r->sampler}, r->f.workers);
  } else {
    r->train_l = tg_loader_new_workers(r->train, r->f.batch, true, false, r->f.seed, r->f.workers);
  }
  r->test_l = tg_loader_new_workers(r->test, r->f.batch, false, false, 0, r->f.workers);
  return r->train_l && r->test_l ? 0 : -1;
}

/* Train for f.epochs (printing PyTorch's lines and a progress line), with
 * the number of live tensors checked after every epoch: a step that left a
 * persistent allocation behind would show up here. */
static int train_all(run *r, tg_tensor **params, size_t np) {
  char path[4096];
  bool rank0 = train_rank() == 0;
  if (rank0) { /* rank 0 alone writes the log */
    r->log = tg_metrics_open(train_path(path, sizeof path, r->f.out, "vae_mnist_metrics.csv"),
                             "epoch,train_loss,test_loss,seconds");
    if (!r->log) return -1;
  }
  tg_adam_opts ao = tg_adam_defaults();
  ao.lr = r->f.lr;
  r->opt = tg_adam_new(params, (int)np, ao);
  if (!r->opt) return -1;
  double start = train_now();
  size_t live = 0;
  for (int epoch = 1; epoch <= r->f.epochs; epoch++) {
    double t0 = train_now();
    size_t seen;
    if (r->sampler && tg_dist_sampler_set_epoch(r->sampler, (uint64_t)epoch - 1)) return -1;
    double loss = train_epoch(&r->model, r->opt, r->ddp, r->train_l, &r->eps_rng, r->f.max_steps, &seen);
    if (isnan(loss)) return -1;
    double secs = train_now() - t0;
    printf("====> Epoch: %d Average loss: %.4f\n", epoch, loss);
    double tl = test_loss(&r->model, r->test_l, &r->test_rng, NULL, NULL);
    if (isnan(tl)) return -1;
    printf("====> Test set loss: %.4f\n", tl);
    printf("epoch %d/%d  train loss %.4f  test loss %.4f  %zu samples  %.0f samples/s  "
           "epoch %.2fs  elapsed %.1fs\n",
           epoch, r->f.epochs, loss, tl, seen, (double)seen / secs, secs, train_now() - start);
    fflush(stdout);
    if (r->log && tg_metrics_row(r->log, (double[]){epoch, loss, tl, train_now() - start})) return -1;
    /* gradients are made by the first backward; after that nothing may grow */
    size_t now = tg_memory_get_stats().live_objects;
    if (epoch > 1 && now != live) {
      tg_dataset_error("vae_mnist: %zu live tensors/nodes after epoch %d, %zu after epoch %d: "
                       "a step leaked a persistent allocation", now, epoch, live, epoch - 1);
      return -1;
    }
    live = now;
  }
  return 0;
}

/* Save (after training) or take --load's file (evaluation only), reload it
 * into a model with other initial weights, and compare the test losses
 * with identical eps draws. */
static int reload_check(run *r, const char *ckpt) {
  const uint64_t eps_seed = 0x5eed0000ULL + r->f.seed;
  tg_rng_seed(&r->fresh_rng, r->f.seed + 1000);
  if (vae_new(&r->fresh, &r->fresh_rng, &r->fresh_rng) || load_checkpoint(&r->fresh, ckpt))
    return -1;
  tg_rng a, b;
  tg_rng_seed(&a, eps_seed);
  tg_rng_seed(&b, eps_seed);
  double l1 = test_loss(&r->model, r->test_l, &a, NULL, NULL);
  double l2 = test_loss(&r->fresh, r->test_l, &b, NULL, NULL);
  if (isnan(l1) || isnan(l2)) return -1;
  printf("reload check: test loss %.6f (this model), %.6f (a fresh model loaded from %s): %s\n", l1,
         l2, ckpt, l1 == l2 ? "identical" : "differs");
  return 0;
}

static int run_main(run *r) {
  char path[4096];
  tg_rng_seed(&r->init_rng, r->f.seed);
  tg_rng_seed(&r->eps_rng, (r->f.seed ^ 0x9e3779b97f4a7c15ULL) + (uint64_t)train_rank()); /* each rank its eps */
  tg_rng_seed(&r->test_rng, r->f.seed ^ 0xd1b54a32d192ed03ULL);
  if (load_data(r) || vae_new(&r->model, &r->init_rng, &r->eps_rng)) return -1;
  size_t np = 0;
  tg_tensor **params = tg_module_parameters(r->model.m, &np);
  if (!params) return -1;
  if (r->f.load && load_checkpoint(&r->model, r->f.load)) return -1;
  /* under mpirun: rank 0's weights on every rank, gradients averaged */
  if (tg_dist_is_initialized() && !(r->ddp = tg_ddp_new(r->model.m, tg_ddp_defaults()))) return -1;
  printf("vae_mnist: 784-400-(20,20)-400-784 VAE, %zu parameters, %zu train / %zu test samples "
         "from %s, batch %zu, Adam lr %g%s%s\n",
         tg_module_num_parameters(r->model.m, false), r->train->length, r->test->length, r->f.data,
         r->f.batch, r->f.lr, r->f.load ? ", from " : "", r->f.load ? r->f.load : "");
  fflush(stdout);
  if (r->f.epochs > 0 && train_all(r, params, np)) return -1;

  /* the comparison grid from the (final) model on the first test batch */
  float compare[2 * N_COMPARE * IMG];
  size_t n_compare = 0;
  double tl = test_loss(&r->model, r->test_l, &r->test_rng, compare, &n_compare);
  if (isnan(tl)) return -1;
  if (r->f.epochs == 0) printf("====> Test set loss: %.4f\n", tl);
  if (train_rank() != 0) return 0; /* rank 0 writes the images and the checkpoint */
  if (tg_save_image_grid(train_path(path, sizeof path, r->f.out, "vae_reconstruction.png"), compare,
                         2 * n_compare, SIDE, SIDE, 1, n_compare, GRID_PAD))
    return -1;
  printf("reconstructions: %s\n", path);
  tg_rng sample_rng;
  tg_rng_seed(&sample_rng, r->f.seed ^ 0x2545f4914f6cdd1dULL);
  if (save_samples(&r->model, &sample_rng, train_path(path, sizeof path, r->f.out, "vae_samples.png")))
    return -1;
  printf("samples: %s\n", path);

  const char *ckpt = r->f.load;
  if (r->f.epochs > 0) {
    ckpt = train_path(path, sizeof path, r->f.out, "vae_mnist.safetensors");
    if (save_checkpoint(&r->model, ckpt)) return -1;
    printf("checkpoint: %s\n", ckpt);
  }
  if (ckpt && reload_check(r, ckpt)) return -1;
  printf("fingerprint=%016llx\n", (unsigned long long)train_fingerprint(params, np));
  return 0;
}

int main(int argc, char **argv) {
  run r = {.f = {.data = TG_FASHION_MNIST_DIR, .out = ".", .epochs = 10, .batch = 128, .lr = 1e-3,
                 .seed = 0, .threads = 1}};
  int rc = train_parse(argc, argv, &r.f, NULL);
  if (!rc) rc = train_refuse_resume(argv[0], &r.f);
  if (rc || (rc = train_dist_begin("vae_mnist"))) return rc;
  rc = run_main(&r) ? 1 : 0;
  if (rc) fprintf(stderr, "vae_mnist: %s\n", tg_last_error());
  bool plot = rc == 0 && r.log;
  run_free(&r);
  if (plot) {
    char csv[4096], png[4096];
    train_path(csv, sizeof csv, r.f.out, "vae_mnist_metrics.csv");
    if (tg_metrics_plot(csv, train_path(png, sizeof png, r.f.out, "vae_mnist_curves.png"),
                        "vae_mnist") == 0)
      printf("curves: %s\n", png);
    else fprintf(stderr, "vae_mnist: no curves: %s\n", tg_last_error());
  }
  train_dist_end();
  tg_release_cached();
  return rc;
}
