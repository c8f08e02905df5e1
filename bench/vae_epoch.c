/* Training epochs of PyTorch's example VAE (as examples/vae_mnist.c): fc1
 * 784->400, ReLU, fc21/fc22 400->20 (mu, logvar), z = mu + eps*exp(logvar/2),
 * fc3 20->400, ReLU, fc4 400->784, sigmoid; loss BCE(sum) + KL(sum); Adam lr
 * 1e-3; batch 128; PyTorch's default Linear init. The data go through the
 * shuffling loader as the example's do (the last short batch kept): random
 * bytes of the MNIST shape (--samples of them, one copy, scaled /255 at
 * fetch), or the real training set with --data DIR. The warm-up (--warmup
 * steps, plus one step at the size of the epoch's short last batch) is not
 * timed.
 *
 * Prints key=value lines: seconds_per_epoch (median over --repeats runs of
 * --epochs epochs each, after --warmup steps) with _min, samples_per_s,
 * peak_rss_mb (getrusage ru_maxrss at the end: the whole process, data
 * included; Linux also counts the parent's peak at exec, so vm_hwm_mb, this
 * image's own VmHWM, is printed too), mallocs_per_step (calls to the system
 * allocator per timed step, whole process, counted by interposed wrappers),
 * blas_mallocs_per_step (the part made inside cblas_sgemm) and
 * tg_pool_mallocs_per_step (the library's own count).
 *
 *   build/bench/vae_epoch [--threads 1] [--repeats 1] [--epochs 1] [--samples 60000]
 *                         [--batch 128] [--warmup 5] [--data DIR] [--seed 1] */
#include <math.h>
#include <sys/resource.h>

#include "bench_util.h"
#include "tapegrad.h"

#define IMG 784
#define HIDDEN 400
#define LATENT 20

typedef struct vae {
  tg_module *fc1, *fc21, *fc22, *fc3, *fc4;
  tg_tensor *params[10];
  size_t n_params;
} vae;

static tg_tensor *fwd(tg_module *m, tg_tensor *x) { return tg_module_forward(m, x); }

/* the summed loss of one batch (current scope) */
static tg_tensor *vae_loss(const vae *v, tg_tensor *x, tg_rng *rng) {
  tg_tensor *h = tg_relu(fwd(v->fc1, x));
  tg_tensor *mu = fwd(v->fc21, h), *logvar = fwd(v->fc22, h);
  if (!mu || !logvar) return NULL;
  tg_tensor *eps = tg_randn(rng, TG_FLOAT32, mu->ndim, mu->shape);
  tg_tensor *z = tg_add(mu, tg_mul(eps, tg_exp(tg_mul_scalar(logvar, 0.5))));
  tg_tensor *recon = tg_sigmoid(fwd(v->fc4, tg_relu(fwd(v->fc3, z))));
  return tg_add(tg_binary_cross_entropy(recon, x, TG_REDUCTION_SUM),
                tg_gaussian_kl(mu, logvar, TG_REDUCTION_SUM));
}

static int vae_new(vae *v, tg_rng *rng) {
  static const size_t dims[5][2] = {{IMG, HIDDEN}, {HIDDEN, LATENT}, {HIDDEN, LATENT},
                                    {LATENT, HIDDEN}, {HIDDEN, IMG}};
  tg_module **slots[5] = {&v->fc1, &v->fc21, &v->fc22, &v->fc3, &v->fc4};
  v->n_params = 0;
  for (int i = 0; i < 5; i++) {
    *slots[i] = tg_nn_linear(dims[i][0], dims[i][1], true, rng);
    if (!*slots[i]) return -1;
    size_t n;
    tg_tensor **p = tg_module_parameters(*slots[i], &n);
    if (!p) return -1;
    for (size_t j = 0; j < n; j++) v->params[v->n_params++] = p[j];
  }
  return 0;
}

static void vae_free(vae *v) {
  tg_module_free(v->fc1);
  tg_module_free(v->fc21);
  tg_module_free(v->fc22);
  tg_module_free(v->fc3);
  tg_module_free(v->fc4);
}

/* ---- random bytes as a dataset: one copy, scaled to [0, 1] at fetch */
typedef struct byte_set {
  uint8_t *px;
} byte_set;

static int byte_fetch(tg_dataset *ds, size_t i, float *x, int64_t *y) {
  const uint8_t *p = ((byte_set *)ds->impl)->px + i * IMG;
  for (size_t j = 0; j < IMG; j++) x[j] = (float)p[j] * (1.0f / 255.0f);
  if (y) *y = 0;
  return 0;
}

static void byte_destroy(tg_dataset *ds) {
  free(((byte_set *)ds->impl)->px);
  free(ds->impl);
  free(ds);
}

static tg_dataset *random_bytes(size_t n, tg_rng *rng) {
  tg_dataset *ds = calloc(1, sizeof *ds);
  byte_set *bs = calloc(1, sizeof *bs);
  uint8_t *px = malloc(n * IMG);
  if (!ds || !bs || !px) {
    free(ds);
    free(bs);
    free(px);
    return NULL;
  }
  for (size_t i = 0; i < n * IMG; i += 8) {
    uint64_t r = tg_rng_next(rng);
    for (size_t b = 0; b < 8 && i + b < n * IMG; b++) px[i + b] = (uint8_t)(r >> (8 * b));
  }
  bs->px = px;
  *ds = (tg_dataset){.length = n, .ndim = 1, .shape = {IMG}, .sample_numel = IMG,
                     .fetch = byte_fetch, .destroy = byte_destroy, .impl = bs};
  return ds;
}

/* one step on the loader's next batch: 1 done, 0 epoch over, -1 error */
static int step(const vae *v, tg_optimizer *opt, tg_loader *l, tg_rng *eps_rng) {
  tg_tensor *x, *y;
  if (!tg_loader_next(l, &x, &y)) return tg_loader_failed(l) ? -1 : 0;
  tg_scope_begin();
  tg_tensor *loss = vae_loss(v, x, eps_rng);
  int rc = -1;
  if (loss && !tg_optim_zero_grad(opt) && !tg_backward(loss, NULL, false) && !tg_optim_step(opt))
    rc = isfinite(tg_item(loss)) ? 1 : -1;
  tg_scope_end();
  return rc;
}

int main(int argc, char **argv) {
  long threads = 1, repeats = 1, epochs = 1, samples = 60000, batch = 128, warmup = 5, seed = 1;
  const char *data = NULL;
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--threads", &threads) ||
        bench_flag_long(argc, argv, &i, "--repeats", &repeats) ||
        bench_flag_long(argc, argv, &i, "--epochs", &epochs) ||
        bench_flag_long(argc, argv, &i, "--samples", &samples) ||
        bench_flag_long(argc, argv, &i, "--batch", &batch) ||
        bench_flag_long(argc, argv, &i, "--warmup", &warmup) ||
        bench_flag_long(argc, argv, &i, "--seed", &seed) ||
        bench_flag_str(argc, argv, &i, "--data", &data))
      continue;
    fprintf(stderr, "vae_epoch: unknown flag %s\n"
                    "usage: vae_epoch [--threads N] [--repeats N] [--epochs N] [--samples N] "
                    "[--batch N] [--warmup N] [--data DIR] [--seed N]\n", argv[i]);
    return 2;
  }
  if (threads <= 0 || repeats <= 0 || epochs <= 0 || samples <= 0 || batch <= 0 || warmup < 0) {
    fprintf(stderr, "vae_epoch: --threads, --repeats, --epochs, --samples and --batch must be positive\n");
    return 2;
  }
  tg_set_num_threads((int)threads);
  tg_rng init_rng, eps_rng, data_rng;
  tg_rng_seed(&init_rng, (uint64_t)seed);
  tg_rng_seed(&eps_rng, (uint64_t)seed + 1);
  tg_rng_seed(&data_rng, (uint64_t)seed + 2);
  tg_dataset *ds = NULL;
  if (data) {
    tg_transform flat = {.flatten = true};
    if (tg_mnist_load(data, true, &ds) || tg_dataset_set_transform(ds, &flat)) {
      fprintf(stderr, "vae_epoch: %s\n", tg_last_error());
      return 1;
    }
  } else if (!(ds = random_bytes((size_t)samples, &data_rng))) {
    fprintf(stderr, "vae_epoch: out of memory for %ld samples\n", samples);
    return 1;
  }
  vae v = {0};
  tg_optimizer *opt = NULL;
  tg_loader *l = tg_loader_new(ds, (size_t)batch, true, false, (uint64_t)seed);
  if (!l || vae_new(&v, &init_rng) || !(opt = tg_adam_new(v.params, (int)v.n_params, tg_adam_defaults())))
    goto fail;
  for (long s = 0; s < warmup; s++)
    if (step(&v, opt, l, &eps_rng) < 0) goto fail;
  tg_loader_reset(l);
  /* and one step at the size of the epoch's last, short batch, so that its
   * shapes are warm too (the pool keeps blocks per size class) */
  size_t rem = ds->length % (size_t)batch;
  if (warmup > 0 && rem) {
    tg_loader *wl = tg_loader_new(ds, rem, false, false, (uint64_t)seed);
    int rc = wl ? step(&v, opt, wl, &eps_rng) : -1;
    tg_loader_free(wl);
    if (rc < 0) goto fail;
  }

  double *spe = calloc((size_t)repeats, sizeof *spe), *sps = calloc((size_t)repeats, sizeof *sps);
  double *mps = calloc((size_t)repeats, sizeof *mps);
  if (!spe || !sps || !mps) goto fail;
  double pool_mallocs = 0, blas_mallocs = 0, total_steps = 0;
  size_t seen_per_epoch = 0;
  for (long r = 0; r < repeats; r++) {
    size_t pool0 = tg_memory_get_stats().mallocs;
    uint64_t m0 = bench_malloc_calls(), bm0 = bench_blas_malloc_calls();
    long steps = 0;
    double t0 = bench_now();
    for (long e = 0; e < epochs; e++) {
      int rc;
      while ((rc = step(&v, opt, l, &eps_rng)) == 1) steps++;
      if (rc < 0) goto fail;
    }
    double t1 = bench_now();
    uint64_t m1 = bench_malloc_calls();
    blas_mallocs += (double)(bench_blas_malloc_calls() - bm0);
    pool_mallocs += (double)(tg_memory_get_stats().mallocs - pool0);
    total_steps += (double)steps;
    seen_per_epoch = ds->length;
    spe[r] = (t1 - t0) / (double)epochs;
    sps[r] = (double)ds->length / spe[r];
    mps[r] = (double)(m1 - m0) / (double)steps;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("workload=vae_epoch\nthreads=%ld\nbatch=%ld\nsamples=%zu\nsteps_per_epoch=%zu\nepochs=%ld\n"
         "repeats=%ld\ndata=%s\n", threads, batch, seen_per_epoch, tg_loader_num_batches(l), epochs,
         repeats, data ? data : "random");
  printf("malloc_counter=%s\n", bench_malloc_counter());
  bench_print_stat("seconds_per_epoch", spe, (int)repeats, "%.3f");
  bench_print_rate("samples_per_s", sps, (int)repeats, "%.0f");
  printf("peak_rss_mb=%.1f\n", (double)ru.ru_maxrss / 1024.0);
  bench_print_stat("mallocs_per_step", mps, (int)repeats, "%.2f");
  printf("blas_mallocs_per_step=%.2f\n", blas_mallocs / total_steps);
  printf("tg_pool_mallocs_per_step=%.2f\n", pool_mallocs / total_steps);
  printf("vm_hwm_mb=%.1f\n", bench_vm_hwm_mb());
  free(spe);
  free(sps);
  free(mps);
  tg_optim_free(opt);
  vae_free(&v);
  tg_loader_free(l);
  tg_dataset_free(ds);
  tg_release_cached();
  return 0;
fail:
  fprintf(stderr, "vae_epoch: %s\n", tg_last_error());
  return 1;
}
