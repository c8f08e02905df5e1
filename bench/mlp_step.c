/* One training step of the lecture MLP: Linear(784,200) -> Tanh ->
 * Linear(200,10), cross-entropy (mean), SGD lr 0.1, batch 100, weights
 * N(0, sqrt(2/(fan_in+fan_out))) and zero bias as examples/mlp_mnist.c.
 * A step is: forward, loss, zero_grad, backward, optimizer step, loss value
 * read back, all in one scope. Random data of the Fashion-MNIST shape (one
 * fixed batch) unless --data DIR, which streams the real training set
 * through the shuffling loader.
 *
 * Prints key=value lines; each measured quantity is the median over
 * --repeats blocks of --steps steps, with the minimum as <key>_min (rates
 * also <key>_max):
 *   samples_per_s        batch * steps / block time
 *   step_us              block time / steps
 *   gemm_share           time inside cblas_sgemm during the steps (a second,
 *                        instrumented block) / that block's time
 *   gemm_alone_us        the step's GEMMs alone: the same calls (shapes,
 *                        transposes, leading dims, recorded from a real step)
 *                        replayed through cblas_sgemm on fixed buffers
 *   gemm_bound_fraction  gemm_alone_us / step_us: 1.0 is the GEMM-bound limit
 *   mallocs_per_step     calls to malloc/calloc/realloc/posix_memalign/...
 *                        per step after warm-up (whole process, counted by
 *                        interposed wrappers); blas_mallocs_per_step is the
 *                        part made inside cblas_sgemm (OpenBLAS's threaded
 *                        driver), tg_pool_mallocs_per_step the library's own
 *                        count (tg_memory_get_stats)
 *
 *   build/bench/mlp_step [--threads 1] [--repeats 5] [--steps 200] [--warmup 20]
 *                        [--batch 100] [--data DIR] [--seed 0] */
#include <cblas.h>
#include <math.h>

#include "bench_util.h"
#include "tapegrad.h"

#define IN 784
#define HIDDEN 200
#define CLASSES 10

typedef struct bench {
  tg_module *model;
  tg_optimizer *opt;
  tg_tensor *x, *y; /* the fixed random batch (persistent), or NULL with a loader */
  tg_loader *loader;
  size_t batch;
} bench;

static tg_module *make_model(tg_rng *rng) {
  tg_module *m = tg_nn_sequential(3, tg_nn_linear(IN, HIDDEN, true, rng), tg_nn_tanh(),
                                  tg_nn_linear(HIDDEN, CLASSES, true, rng));
  if (!m) return NULL;
  size_t np;
  tg_tensor **params = tg_module_parameters(m, &np);
  for (size_t i = 0; params && i < np; i++) {
    tg_tensor *p = params[i];
    if (p->ndim == 2) tg_init_normal_(p, rng, 0.0, sqrt(2.0 / (double)(p->shape[0] + p->shape[1])));
    else tg_init_zeros_(p);
  }
  return params ? m : NULL;
}

/* one training step; the loss, or NaN on error */
static double step(bench *b) {
  tg_tensor *x = b->x, *y = b->y;
  if (b->loader && !tg_loader_next(b->loader, &x, &y) && !tg_loader_next(b->loader, &x, &y))
    return NAN; /* an epoch ended: the second call starts the next one */
  tg_scope_begin();
  tg_tensor *logits = tg_module_forward(b->model, x);
  tg_tensor *loss = tg_cross_entropy(logits, y, TG_REDUCTION_MEAN);
  double v = NAN;
  if (loss && !tg_optim_zero_grad(b->opt) && !tg_backward(loss, NULL, false) && !tg_optim_step(b->opt))
    v = tg_item(loss);
  tg_scope_end();
  return v;
}

static int run_steps(bench *b, long n) {
  for (long i = 0; i < n; i++)
    if (isnan(step(b))) {
      fprintf(stderr, "mlp_step: %s\n", tg_last_error());
      return -1;
    }
  return 0;
}

/* buffers for replaying recorded GEMM calls */
typedef struct replay {
  const bench_gemm_call *calls;
  size_t n;
  float **a, **b, **c;
} replay;

static size_t rows_stored(int order, int trans, int rows, int cols) {
  /* row-major: a non-transposed rows x cols operand has `rows` rows of ld */
  bool t = trans == CblasTrans || trans == CblasConjTrans;
  if (order == CblasColMajor) t = !t;
  return (size_t)(t ? cols : rows);
}

static float *random_buffer(size_t n, tg_rng *rng) {
  float *p = malloc((n ? n : 1) * sizeof *p);
  if (p)
    for (size_t i = 0; i < n; i++) p[i] = (float)(tg_rng_uniform(rng) - 0.5);
  return p;
}

static int replay_init(replay *r, const bench_gemm_call *calls, size_t n, tg_rng *rng) {
  r->calls = calls;
  r->n = n;
  r->a = calloc(n ? n : 1, sizeof *r->a);
  r->b = calloc(n ? n : 1, sizeof *r->b);
  r->c = calloc(n ? n : 1, sizeof *r->c);
  if (!r->a || !r->b || !r->c) return -1;
  for (size_t i = 0; i < n; i++) {
    const bench_gemm_call *g = &calls[i];
    r->a[i] = random_buffer(rows_stored(g->order, g->ta, g->m, g->k) * (size_t)g->lda, rng);
    r->b[i] = random_buffer(rows_stored(g->order, g->tb, g->k, g->n) * (size_t)g->ldb, rng);
    r->c[i] = random_buffer(rows_stored(g->order, CblasNoTrans, g->m, g->n) * (size_t)g->ldc, rng);
    if (!r->a[i] || !r->b[i] || !r->c[i]) return -1;
  }
  return 0;
}

static void replay_run(const replay *r) {
  for (size_t i = 0; i < r->n; i++) {
    const bench_gemm_call *g = &r->calls[i];
    bench_real_sgemm(g->order, g->ta, g->tb, g->m, g->n, g->k, g->alpha, r->a[i], g->lda, r->b[i],
                     g->ldb, g->beta, r->c[i], g->ldc);
  }
}

static void replay_free(replay *r) {
  for (size_t i = 0; i < r->n; i++) {
    if (r->a) free(r->a[i]);
    if (r->b) free(r->b[i]);
    if (r->c) free(r->c[i]);
  }
  free(r->a);
  free(r->b);
  free(r->c);
}

static char trans_char(int order, int t) {
  bool tr = t == CblasTrans || t == CblasConjTrans;
  if (order == CblasColMajor) tr = !tr;
  return tr ? 'T' : 'N';
}

int main(int argc, char **argv) {
  long threads = 1, repeats = 5, steps = 200, warmup = 20, batch = 100, seed = 0;
  const char *data = NULL;
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--threads", &threads) ||
        bench_flag_long(argc, argv, &i, "--repeats", &repeats) ||
        bench_flag_long(argc, argv, &i, "--steps", &steps) ||
        bench_flag_long(argc, argv, &i, "--warmup", &warmup) ||
        bench_flag_long(argc, argv, &i, "--batch", &batch) ||
        bench_flag_long(argc, argv, &i, "--seed", &seed) ||
        bench_flag_str(argc, argv, &i, "--data", &data))
      continue;
    fprintf(stderr, "mlp_step: unknown flag %s\n"
                    "usage: mlp_step [--threads N] [--repeats N] [--steps N] [--warmup N] "
                    "[--batch N] [--data DIR] [--seed N]\n", argv[i]);
    return 2;
  }
  if (threads <= 0 || repeats <= 0 || steps <= 0 || warmup < 0 || batch <= 0) {
    fprintf(stderr, "mlp_step: --threads, --repeats, --steps and --batch must be positive\n");
    return 2;
  }
  tg_set_num_threads((int)threads);
  tg_rng rng;
  tg_rng_seed(&rng, (uint64_t)seed);
  bench b = {.batch = (size_t)batch};
  tg_dataset *ds = NULL;
  b.model = make_model(&rng);
  size_t np = 0;
  tg_tensor **params = b.model ? tg_module_parameters(b.model, &np) : NULL;
  tg_sgd_opts so = tg_sgd_defaults();
  so.lr = 0.1;
  b.opt = params ? tg_sgd_new(params, (int)np, so) : NULL;
  if (!b.opt) goto fail;
  if (data) {
    tg_transform flat = {.flatten = true};
    if (tg_mnist_load(data, true, &ds) || tg_dataset_set_transform(ds, &flat)) goto fail;
    b.loader = tg_loader_new(ds, b.batch, true, true, (uint64_t)seed);
    if (!b.loader) goto fail;
  } else {
    b.x = tg_rand(&rng, TG_FLOAT32, TG_SHAPE(b.batch, IN));
    b.y = tg_empty(TG_INT64, TG_SHAPE(b.batch));
    if (!b.x || !b.y) goto fail;
    int64_t *yl = tg_data(b.y);
    for (size_t i = 0; i < b.batch; i++) yl[i] = (int64_t)(tg_rng_next(&rng) % CLASSES);
  }

  if (run_steps(&b, warmup)) goto fail;
  /* the GEMM calls of one step, as the library makes them */
  bench_gemm_record(true);
  if (run_steps(&b, 1)) goto fail;
  bench_gemm_record(false);
  const bench_gemm_call *calls;
  size_t n_calls = bench_gemm_recorded(&calls);
  replay rp = {0};
  if (replay_init(&rp, calls, n_calls, &rng)) {
    fprintf(stderr, "mlp_step: out of memory for the GEMM replay buffers\n");
    return 1;
  }
  replay_run(&rp); /* warm */

  double *sps = calloc((size_t)repeats, sizeof *sps), *st = calloc((size_t)repeats, sizeof *st),
         *share = calloc((size_t)repeats, sizeof *share), *ga = calloc((size_t)repeats, sizeof *ga),
         *gbf = calloc((size_t)repeats, sizeof *gbf), *mps = calloc((size_t)repeats, sizeof *mps);
  if (!sps || !st || !share || !ga || !gbf || !mps) return 1;
  double pool_mallocs = 0, blas_mallocs = 0;
  for (long r = 0; r < repeats; r++) {
    /* plain block: the headline timing and the allocation count */
    size_t pool0 = tg_memory_get_stats().mallocs;
    uint64_t m0 = bench_malloc_calls(), bm0 = bench_blas_malloc_calls();
    double t0 = bench_now();
    if (run_steps(&b, steps)) goto fail;
    double t1 = bench_now();
    uint64_t m1 = bench_malloc_calls();
    blas_mallocs += (double)(bench_blas_malloc_calls() - bm0);
    pool_mallocs += (double)(tg_memory_get_stats().mallocs - pool0);
    st[r] = (t1 - t0) / (double)steps;
    sps[r] = (double)b.batch / st[r];
    mps[r] = (double)(m1 - m0) / (double)steps;
    /* instrumented block: time inside cblas_sgemm */
    bench_gemm_timing(true);
    t0 = bench_now();
    if (run_steps(&b, steps)) goto fail;
    t1 = bench_now();
    bench_gemm_timing(false);
    share[r] = bench_gemm_seconds() / (t1 - t0);
    /* the same GEMMs alone */
    t0 = bench_now();
    for (long s = 0; s < steps; s++) replay_run(&rp);
    t1 = bench_now();
    ga[r] = (t1 - t0) / (double)steps;
    gbf[r] = ga[r] / st[r];
  }

  double flop = 0;
  printf("workload=mlp_step\nmodel=784-200-10-tanh\nbatch=%ld\nthreads=%ld\nsteps=%ld\nrepeats=%ld\n"
         "data=%s\n", batch, threads, steps, repeats, data ? data : "random");
  printf("malloc_counter=%s\n", bench_malloc_counter());
  printf("gemm_calls_per_step=%zu\ngemm_shapes=", n_calls);
  for (size_t i = 0; i < n_calls; i++) {
    const bench_gemm_call *g = &calls[i];
    flop += 2.0 * g->m * g->n * g->k;
    printf("%s%c%c:%dx%dx%d", i ? "," : "", trans_char(g->order, g->ta), trans_char(g->order, g->tb),
           g->m, g->n, g->k);
  }
  printf("\ngemm_mflop_per_step=%.3f\n", flop / 1e6);
  bench_print_rate("samples_per_s", sps, (int)repeats, "%.0f");
  for (long r = 0; r < repeats; r++) st[r] *= 1e6, ga[r] *= 1e6;
  bench_print_stat("step_us", st, (int)repeats, "%.1f");
  bench_print_stat("gemm_share", share, (int)repeats, "%.3f");
  bench_print_stat("gemm_alone_us", ga, (int)repeats, "%.1f");
  bench_print_stat("gemm_bound_fraction", gbf, (int)repeats, "%.3f");
  bench_print_stat("mallocs_per_step", mps, (int)repeats, "%.2f");
  printf("blas_mallocs_per_step=%.2f\n", blas_mallocs / (double)(steps * repeats));
  printf("tg_pool_mallocs_per_step=%.2f\n", pool_mallocs / (double)(steps * repeats));
  replay_free(&rp);
  free(sps);
  free(st);
  free(share);
  free(ga);
  free(gbf);
  free(mps);
  tg_loader_free(b.loader);
  tg_dataset_free(ds);
  tg_optim_free(b.opt);
  tg_module_free(b.model);
  tg_free(b.x);
  tg_free(b.y);
  tg_release_cached();
  return 0;
fail:
  fprintf(stderr, "mlp_step: %s\n", tg_last_error());
  return 1;
}
