/* One training step of examples/gpt_mini's model (examples/gpt_model.h: the
 * lecture's GPT shrunk as in BurTorch's benchmark, 46,289 parameters):
 * zero_grad, forward, mean cross-entropy over B*T, backward, SGD (lr 0.1),
 * the loss read back, at each batch size of --batches (BurTorch's 1 and
 * 64) with context T = 8, float32. The batches are windows of a seeded
 * random token stream (65,536 tokens, vocabulary 65) drawn before each step
 * and outside its clock, so only the step is timed.
 *
 * Prints key=value lines per batch size B (prefix bB_); each time is the
 * median over --repeats blocks of --steps steps, <key>_min the minimum:
 *   bB_step_ms            mean step time of a block
 *   bB_step_ms_best       the fastest single step of all blocks
 *   bB_steps_per_s        1000 / bB_step_ms (also _max)
 *   bB_mallocs_per_step   system allocator calls per step after warm-up
 *                         (whole process, bench/malloc_count.c)
 *   bB_tg_pool_mallocs_per_step  the library's own count
 * then peak_rss_mb and vm_hwm_mb (bench/vae_epoch.c).
 *
 *   build/bench/gpt_step [--threads 1] [--batches 1,64] [--repeats 5] [--steps 200]
 *                        [--warmup 20] [--seed 0] */
#include <math.h>
#include <sys/resource.h>

#include "../examples/gpt_model.h"
#include "bench_util.h"

#define STREAM (1u << 16)

typedef struct bench {
  gpt_model g;
  tg_optimizer *opt;
  tg_tensor *idx, *tgt, *pos;
  size_t B;
  int64_t *data;
  tg_rng rng;
} bench;

/* one step, timed without the batch sampling; seconds, or -1 on error */
static double timed_step(bench *b) {
  gpt_sample_batch(b->data, STREAM, b->B, GPT_CTX, &b->rng, b->idx, b->tgt);
  double t0 = bench_now();
  double loss = gpt_train_step(&b->g, b->opt, b->idx, b->tgt, b->pos, b->B, GPT_CTX);
  double t = bench_now() - t0;
  return isnan(loss) ? -1 : t;
}

static int setup(bench *b, size_t B, uint64_t seed) {
  b->B = B;
  tg_rng_seed(&b->rng, seed);
  if (gpt_build(&b->g, &b->rng)) return -1;
  size_t np;
  tg_tensor **params = tg_module_parameters(b->g.root, &np);
  tg_sgd_opts so = tg_sgd_defaults();
  so.lr = 0.1;
  b->opt = params ? tg_sgd_new(params, (int)np, so) : NULL;
  b->idx = tg_empty(TG_INT64, TG_SHAPE(B * GPT_CTX));
  b->tgt = tg_empty(TG_INT64, TG_SHAPE(B * GPT_CTX));
  b->pos = gpt_positions(B, GPT_CTX);
  return b->opt && b->idx && b->tgt && b->pos ? 0 : -1;
}

static void teardown(bench *b) {
  tg_optim_free(b->opt);
  tg_free(b->idx);
  tg_free(b->tgt);
  tg_free(b->pos);
  gpt_free(&b->g);
}

/* the measurements at batch B; 0 or -1 */
static int measure(size_t B, long repeats, long steps, long warmup, uint64_t seed, int64_t *data) {
  bench b = {.data = data};
  double *blk = calloc((size_t)repeats, sizeof *blk), *rate = calloc((size_t)repeats, sizeof *rate),
         *mps = calloc((size_t)repeats, sizeof *mps);
  int rc = -1;
  if (!blk || !rate || !mps || setup(&b, B, seed)) goto out;
  for (long i = 0; i < warmup; i++)
    if (timed_step(&b) < 0) goto out;
  double best = INFINITY, pool = 0;
  for (long r = 0; r < repeats; r++) {
    uint64_t m0 = bench_malloc_calls();
    size_t p0 = tg_memory_get_stats().mallocs;
    double sum = 0;
    for (long s = 0; s < steps; s++) {
      double t = timed_step(&b);
      if (t < 0) goto out;
      sum += t;
      best = t < best ? t : best;
    }
    mps[r] = (double)(bench_malloc_calls() - m0) / (double)steps;
    pool += (double)(tg_memory_get_stats().mallocs - p0);
    blk[r] = sum / (double)steps * 1e3;
    rate[r] = 1e3 / blk[r];
  }
  char key[64];
  snprintf(key, sizeof key, "b%zu_step_ms", B);
  bench_print_stat(key, blk, (int)repeats, "%.4f");
  printf("b%zu_step_ms_best=%.4f\n", B, best * 1e3);
  snprintf(key, sizeof key, "b%zu_steps_per_s", B);
  bench_print_rate(key, rate, (int)repeats, "%.1f");
  snprintf(key, sizeof key, "b%zu_mallocs_per_step", B);
  bench_print_stat(key, mps, (int)repeats, "%.2f");
  printf("b%zu_tg_pool_mallocs_per_step=%.2f\n", B, pool / (double)(steps * repeats));
  fflush(stdout);
  rc = 0;
out:
  if (rc) fprintf(stderr, "gpt_step: %s\n", tg_last_error());
  teardown(&b);
  free(blk);
  free(rate);
  free(mps);
  return rc;
}

int main(int argc, char **argv) {
  long threads = 1, repeats = 5, steps = 200, warmup = 20, seed = 0;
  const char *batches = "1,64";
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--threads", &threads) ||
        bench_flag_long(argc, argv, &i, "--repeats", &repeats) ||
        bench_flag_long(argc, argv, &i, "--steps", &steps) ||
        bench_flag_long(argc, argv, &i, "--warmup", &warmup) ||
        bench_flag_long(argc, argv, &i, "--seed", &seed) ||
        bench_flag_str(argc, argv, &i, "--batches", &batches))
      continue;
    fprintf(stderr, "gpt_step: unknown flag %s\n"
                    "usage: gpt_step [--threads N] [--batches 1,64] [--repeats N] [--steps N] [--warmup N] "
                    "[--seed N]\n", argv[i]);
    return 2;
  }
  if (threads <= 0 || repeats <= 0 || steps <= 0 || warmup < 0) {
    fprintf(stderr, "gpt_step: --threads, --repeats and --steps must be positive\n");
    return 2;
  }
  tg_set_num_threads((int)threads);
  int64_t *data = malloc(STREAM * sizeof *data);
  if (!data) return 1;
  tg_rng rng;
  tg_rng_seed(&rng, (uint64_t)seed + 99);
  for (size_t i = 0; i < STREAM; i++) data[i] = (int64_t)(tg_rng_next(&rng) % GPT_VOCAB);
  printf("workload=gpt_step\nmodel=gpt_mini\nparameters=%zu\ncontext=%d\nthreads=%ld\nsteps=%ld\nrepeats=%ld\n",
         gpt_expected_parameters(), GPT_CTX, threads, steps, repeats);
  printf("malloc_counter=%s\n", bench_malloc_counter());
  int rc = 0;
  for (const char *p = batches; *p && !rc;) {
    char *end;
    long B = strtol(p, &end, 10);
    if (end == p || B <= 0) {
      fprintf(stderr, "gpt_step: --batches wants positive numbers separated by commas, got %s\n", batches);
      rc = 2;
      break;
    }
    rc = measure((size_t)B, repeats, steps, warmup, (uint64_t)seed, data) ? 1 : 0;
    p = *end == ',' ? end + 1 : end;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("peak_rss_mb=%.1f\nvm_hwm_mb=%.1f\n", (double)ru.ru_maxrss / 1024.0, bench_vm_hwm_mb());
  free(data);
  tg_release_cached();
  return rc;
}
