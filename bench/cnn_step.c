/* One training step of issue 11's LeNet-5 (examples/cnn_mnist.c's model):
 * Conv2d(1,6,5,padding=2) -> ReLU -> MaxPool2d(2) -> Conv2d(6,16,5) -> ReLU
 * -> MaxPool2d(2) -> Flatten -> Linear(400,120) -> ReLU -> Linear(120,84) ->
 * ReLU -> Linear(84,10), PyTorch's default init, cross-entropy (mean), SGD
 * lr 0.01 momentum 0.9, batch 64 float32, on one fixed seeded random batch of
 * the Fashion-MNIST shape. A step is forward, loss, zero_grad, backward,
 * optimizer step and the loss read back, in one scope.
 *
 * Then each convolution alone at its shapes in the model, on random data:
 *   conv1  x (64,1,28,28)  w (6,1,5,5)   padding 2 -> (64,6,28,28)
 *   conv2  x (64,6,14,14)  w (16,6,5,5)             -> (64,16,10,10)
 * fwd: tg_conv2d(x, w, b) with nothing requiring grad (no tape); bwd_input:
 * tg_grad of the output (a fixed random output gradient) w.r.t. x alone,
 * bwd_weight: w.r.t. w alone; only the tg_grad call is timed (the forward
 * recording it runs before the clock starts), as torch.autograd.grad is on
 * the PyTorch side.
 *
 * Prints key=value lines; each time is the median over --repeats blocks,
 * <key>_min the minimum (rates also <key>_max):
 *   samples_per_s, step_us     batch * steps / block time, block time / steps
 *   conv1_fwd_us ... conv2_bwd_weight_us   per call
 *   mallocs_per_step           system allocator calls per step after warm-up
 *                              (whole process; blas_ and tg_pool_ parts)
 *   peak_rss_mb, vm_hwm_mb     as bench/vae_epoch.c
 *
 * --cpu-clock 1: every time is the process's CPU time instead of the wall
 * clock, so that on a busy machine the time the process waits for a core
 * does not count (at --threads 1 only; bench/cnn_cpu_torch.py is PyTorch's
 * side of such a run).
 *
 *   build/bench/cnn_step [--threads 1] [--repeats 5] [--steps 50] [--warmup 5]
 *                        [--batch 64] [--conv-iters 50] [--seed 0] [--cpu-clock 0] */
#include <math.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_util.h"
#include "tapegrad.h"

#define CLASSES 10

static tg_module *lenet5(tg_rng *rng) {
  const int64_t k5[2] = {5, 5}, k2[2] = {2, 2}, pad2[2] = {2, 2};
  return tg_nn_sequential(12, tg_nn_conv2d(1, 6, k5, NULL, pad2, NULL, 1, true, rng), tg_nn_relu(),
                          tg_nn_maxpool2d(k2, NULL, NULL, NULL, false),
                          tg_nn_conv2d(6, 16, k5, NULL, NULL, NULL, 1, true, rng), tg_nn_relu(),
                          tg_nn_maxpool2d(k2, NULL, NULL, NULL, false), tg_nn_flatten(1, -1),
                          tg_nn_linear(400, 120, true, rng), tg_nn_relu(),
                          tg_nn_linear(120, 84, true, rng), tg_nn_relu(),
                          tg_nn_linear(84, 10, true, rng));
}

static long cpu_clock; /* --cpu-clock */
static double now(void) {
  if (!cpu_clock) return bench_now();
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct bench {
  tg_module *model;
  tg_optimizer *opt;
  tg_tensor *x, *y;
} bench;

/* one training step; the loss, or NaN on error */
static double step(bench *b) {
  tg_scope_begin();
  tg_tensor *loss = tg_cross_entropy(tg_module_forward(b->model, b->x), b->y, TG_REDUCTION_MEAN);
  double v = NAN;
  if (loss && !tg_optim_zero_grad(b->opt) && !tg_backward(loss, NULL, false) && !tg_optim_step(b->opt))
    v = tg_item(loss);
  tg_scope_end();
  return v;
}

static int run_steps(bench *b, long n) {
  for (long i = 0; i < n; i++)
    if (isnan(step(b))) return -1;
  return 0;
}

/* one convolution of the model at its shapes */
typedef struct conv_case {
  const char *name;
  size_t c_in, c_out, hw;
  int64_t pad;
  tg_tensor *x, *w, *b, *g; /* persistent */
} conv_case;

enum { OP_FWD, OP_BWD_INPUT, OP_BWD_WEIGHT };
static const char *const op_names[] = {"fwd", "bwd_input", "bwd_weight"};

/* seconds inside `iters` calls of op, or a negative value on error */
static double conv_time(conv_case *c, int op, long iters) {
  const int64_t pad[2] = {c->pad, c->pad};
  tg_tensor *in = op == OP_BWD_INPUT ? c->x : c->w;
  if (op != OP_FWD) tg_requires_grad_(in, true);
  double t = 0;
  for (long i = 0; i < iters && t >= 0; i++) {
    tg_scope_begin();
    double t0 = now();
    tg_tensor *y = tg_conv2d(c->x, c->w, c->b, NULL, pad, NULL, 1), *grad = NULL;
    if (op != OP_FWD) {
      t0 = now();
      if (!y || tg_grad(1, &y, &c->g, 1, &in, &grad, (tg_grad_opts){0}) || !grad) y = NULL;
    }
    t = y ? t + now() - t0 : -1;
    tg_scope_end();
  }
  if (op != OP_FWD) tg_requires_grad_(in, false);
  return t;
}

int main(int argc, char **argv) {
  long threads = 1, repeats = 5, steps = 50, warmup = 5, batch = 64, conv_iters = 50, seed = 0;
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--threads", &threads) ||
        bench_flag_long(argc, argv, &i, "--repeats", &repeats) ||
        bench_flag_long(argc, argv, &i, "--steps", &steps) ||
        bench_flag_long(argc, argv, &i, "--warmup", &warmup) ||
        bench_flag_long(argc, argv, &i, "--batch", &batch) ||
        bench_flag_long(argc, argv, &i, "--conv-iters", &conv_iters) ||
        bench_flag_long(argc, argv, &i, "--seed", &seed) ||
        bench_flag_long(argc, argv, &i, "--cpu-clock", &cpu_clock))
      continue;
    fprintf(stderr, "cnn_step: unknown flag %s\n"
                    "usage: cnn_step [--threads N] [--repeats N] [--steps N] [--warmup N] "
                    "[--batch N] [--conv-iters N] [--seed N] [--cpu-clock 0|1]\n", argv[i]);
    return 2;
  }
  if (threads <= 0 || repeats <= 0 || steps <= 0 || warmup < 0 || batch <= 0 || conv_iters < 0) {
    fprintf(stderr, "cnn_step: --threads, --repeats, --steps and --batch must be positive\n");
    return 2;
  }
  tg_set_num_threads((int)threads);
  tg_rng rng;
  tg_rng_seed(&rng, (uint64_t)seed);
  bench b = {.model = lenet5(&rng)};
  size_t np = 0, nb = (size_t)batch;
  tg_tensor **params = b.model ? tg_module_parameters(b.model, &np) : NULL;
  tg_sgd_opts so = tg_sgd_defaults();
  so.lr = 0.01;
  so.momentum = 0.9;
  b.opt = params ? tg_sgd_new(params, (int)np, so) : NULL;
  b.x = tg_rand(&rng, TG_FLOAT32, TG_SHAPE(nb, 1, 28, 28));
  b.y = tg_empty(TG_INT64, TG_SHAPE(nb));
  if (!b.opt || !b.x || !b.y) goto fail;
  int64_t *yl = tg_data(b.y);
  for (size_t i = 0; i < nb; i++) yl[i] = (int64_t)(tg_rng_next(&rng) % CLASSES);

  double *sps = calloc((size_t)repeats, sizeof *sps), *st = calloc((size_t)repeats, sizeof *st),
         *mps = calloc((size_t)repeats, sizeof *mps), *ct = calloc((size_t)repeats, sizeof *ct);
  if (!sps || !st || !mps || !ct) return 1;
  if (run_steps(&b, warmup)) goto fail;
  double pool_mallocs = 0, blas_mallocs = 0;
  for (long r = 0; r < repeats; r++) {
    size_t pool0 = tg_memory_get_stats().mallocs;
    uint64_t m0 = bench_malloc_calls(), bm0 = bench_blas_malloc_calls();
    double t0 = now();
    if (run_steps(&b, steps)) goto fail;
    double t1 = now();
    mps[r] = (double)(bench_malloc_calls() - m0) / (double)steps;
    blas_mallocs += (double)(bench_blas_malloc_calls() - bm0);
    pool_mallocs += (double)(tg_memory_get_stats().mallocs - pool0);
    st[r] = (t1 - t0) / (double)steps;
    sps[r] = (double)nb / st[r];
  }
  printf("workload=cnn_step\nmodel=lenet5\nbatch=%ld\nthreads=%ld\nsteps=%ld\nrepeats=%ld\n", batch,
         threads, steps, repeats);
  printf("malloc_counter=%s\n", bench_malloc_counter());
  bench_print_rate("samples_per_s", sps, (int)repeats, "%.0f");
  for (long r = 0; r < repeats; r++) st[r] *= 1e6;
  bench_print_stat("step_us", st, (int)repeats, "%.1f");
  bench_print_stat("mallocs_per_step", mps, (int)repeats, "%.2f");
  printf("blas_mallocs_per_step=%.2f\n", blas_mallocs / (double)(steps * repeats));
  printf("tg_pool_mallocs_per_step=%.2f\n", pool_mallocs / (double)(steps * repeats));
  fflush(stdout);

  conv_case cases[2] = {{"conv1", 1, 6, 28, 2, NULL, NULL, NULL, NULL},
                        {"conv2", 6, 16, 14, 0, NULL, NULL, NULL, NULL}};
  for (int c = 0; conv_iters && c < 2; c++) {
    conv_case *cc = &cases[c];
    size_t ho = cc->hw + 2 * (size_t)cc->pad - 4;
    cc->x = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(nb, cc->c_in, cc->hw, cc->hw));
    cc->w = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(cc->c_out, cc->c_in, 5, 5));
    cc->b = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(cc->c_out));
    cc->g = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(nb, cc->c_out, ho, ho));
    if (!cc->x || !cc->w || !cc->b || !cc->g) goto fail;
    for (int op = 0; op < 3; op++) {
      /* warm-up as long as the PyTorch twin's (oneDNN needs tens of calls) */
      if (conv_time(cc, op, conv_iters > 50 ? conv_iters : 50) < 0) goto fail;
      for (long r = 0; r < repeats; r++) {
        double t = conv_time(cc, op, conv_iters);
        if (t < 0) goto fail;
        ct[r] = t / (double)conv_iters * 1e6;
      }
      char key[64];
      snprintf(key, sizeof key, "%s_%s_us", cc->name, op_names[op]);
      bench_print_stat(key, ct, (int)repeats, "%.1f");
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("peak_rss_mb=%.1f\nvm_hwm_mb=%.1f\n", (double)ru.ru_maxrss / 1024.0, bench_vm_hwm_mb());
  for (int c = 0; c < 2; c++) {
    tg_free(cases[c].x);
    tg_free(cases[c].w);
    tg_free(cases[c].b);
    tg_free(cases[c].g);
  }
  free(sps);
  free(st);
  free(mps);
  free(ct);
  tg_optim_free(b.opt);
  tg_module_free(b.model);
  tg_free(b.x);
  tg_free(b.y);
  tg_release_cached();
  return 0;
fail:
  fprintf(stderr, "cnn_step: %s\n", tg_last_error());
  return 1;
}
