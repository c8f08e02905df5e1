/* One training step of examples/char_lstm.c's model (issue 12):
 * Embedding(27, 24) -> LSTM(24, 64, num_layers=2, batch_first) with the
 * batch's lengths -> Linear(64, 27), cross-entropy summed over the real
 * tokens / their count (padded targets -100), zero_grad, backward,
 * clip_grad_norm(1.0) and AdamW (lr 3e-3, weight decay 0.01), on one fixed
 * seeded batch of 32 words padded to T = 12: word b has length
 * 2 + (7 b mod 11) tokens, drawn uniformly from 1..26. compare_torch.py's
 * `lstm` worker is the same step in PyTorch (pack_padded_sequence with
 * enforce_sorted=False).
 *
 * Prints key=value lines; each time is the median over --repeats blocks,
 * <key>_min the minimum (rates also <key>_max):
 *   steps_per_s, step_us    steps / block time, block time / steps
 *   mallocs_per_step        system allocator calls per step after warm-up
 *   peak_rss_mb, vm_hwm_mb  as bench/vae_epoch.c
 *
 *   build/bench/lstm_step [--threads 1] [--repeats 5] [--steps 100] [--warmup 10]
 *                         [--batch 32] [--hidden 64] [--seed 0] */
#include <math.h>
#include <sys/resource.h>

#include "bench_util.h"
#include "tapegrad.h"

#define VOCAB 27
#define EMBED 24
#define T_MAX 12

typedef struct bench {
  tg_module *emb, *lstm, *head;
  tg_optimizer *opt;
  tg_tensor **params;
  size_t n_params;
  tg_tensor *x, *y; /* (B, T) tokens, (B T) targets */
  int64_t *lengths;
  size_t tokens;
} bench;

/* one training step; the loss, or NaN on error */
static double step(bench *b) {
  tg_scope_begin();
  tg_tensor *out = NULL, *loss = NULL;
  tg_tensor *e = tg_module_forward(b->emb, b->x);
  if (e && !tg_nn_rnn_forward(b->lstm, e, NULL, NULL, b->lengths, &out, NULL, NULL)) {
    tg_tensor *logits = tg_module_forward(b->head, out);
    tg_class_loss_opts o = tg_class_loss_defaults();
    o.reduction = TG_REDUCTION_SUM;
    loss = logits ? tg_cross_entropy_with(tg_reshape(logits, 2, (size_t[]){b->x->numel, VOCAB}), b->y, o)
                  : NULL;
    loss = loss ? tg_div_scalar(loss, (double)b->tokens) : NULL;
  }
  double v = NAN;
  if (loss && !tg_optim_zero_grad(b->opt) && !tg_backward(loss, NULL, false) &&
      !isnan(tg_clip_grad_norm(b->params, (int)b->n_params, 1.0, 2.0)) && !tg_optim_step(b->opt))
    v = tg_item(loss);
  tg_scope_end();
  return v;
}

static int run_steps(bench *b, long n) {
  for (long i = 0; i < n; i++)
    if (isnan(step(b))) return -1;
  return 0;
}

/* the fixed batch: word k's tokens, then 0 (inputs) / -100 (targets) */
static int make_batch(bench *b, size_t nb, tg_rng *rng) {
  b->x = tg_empty(TG_INT64, TG_SHAPE(nb, T_MAX));
  b->y = tg_empty(TG_INT64, TG_SHAPE(nb * T_MAX));
  b->lengths = malloc(nb * sizeof *b->lengths);
  if (!b->x || !b->y || !b->lengths) return -1;
  int64_t *x = tg_data(b->x), *y = tg_data(b->y);
  for (size_t k = 0; k < nb; k++) {
    size_t len = 2 + (7 * k) % 11;
    b->lengths[k] = (int64_t)len;
    b->tokens += len;
    for (size_t t = 0; t < T_MAX; t++) {
      x[k * T_MAX + t] = t < len ? (int64_t)(1 + tg_rng_next(rng) % 26) : 0;
      y[k * T_MAX + t] = t < len ? (int64_t)(1 + tg_rng_next(rng) % 26) : -100;
    }
  }
  return 0;
}

static int build(bench *b, size_t hidden, tg_rng *rng) {
  tg_rnn_opts ro = tg_rnn_defaults(EMBED, hidden);
  ro.num_layers = 2;
  ro.batch_first = true;
  ro.rng = rng;
  b->emb = tg_nn_embedding(VOCAB, EMBED, TG_NO_PADDING_IDX, rng);
  b->lstm = tg_nn_lstm(ro);
  b->head = tg_nn_linear(hidden, VOCAB, true, rng);
  tg_module *parts[3] = {b->emb, b->lstm, b->head};
  size_t total = 0;
  for (int k = 0; k < 3; k++) {
    size_t n = 0;
    if (!parts[k] || !tg_module_parameters(parts[k], &n)) return -1;
    total += n;
  }
  b->params = malloc(total * sizeof *b->params);
  if (!b->params) return -1;
  for (int k = 0; k < 3; k++) {
    size_t n = 0;
    tg_tensor **p = tg_module_parameters(parts[k], &n);
    memcpy(b->params + b->n_params, p, n * sizeof *p);
    b->n_params += n;
  }
  tg_adam_opts ao = tg_adamw_defaults();
  ao.lr = 3e-3;
  b->opt = tg_adamw_new(b->params, (int)b->n_params, ao);
  return b->opt ? 0 : -1;
}

static void bench_free(bench *b) {
  tg_optim_free(b->opt);
  tg_module_free(b->emb), tg_module_free(b->lstm), tg_module_free(b->head);
  tg_free(b->x), tg_free(b->y);
  free(b->params), free(b->lengths);
}

int main(int argc, char **argv) {
  long threads = 1, repeats = 5, steps = 100, warmup = 10, batch = 32, hidden = 64, seed = 0;
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--threads", &threads) ||
        bench_flag_long(argc, argv, &i, "--repeats", &repeats) ||
        bench_flag_long(argc, argv, &i, "--steps", &steps) ||
        bench_flag_long(argc, argv, &i, "--warmup", &warmup) ||
        bench_flag_long(argc, argv, &i, "--batch", &batch) ||
        bench_flag_long(argc, argv, &i, "--hidden", &hidden) ||
        bench_flag_long(argc, argv, &i, "--seed", &seed))
      continue;
    fprintf(stderr, "lstm_step: unknown flag %s\n"
                    "usage: lstm_step [--threads N] [--repeats N] [--steps N] [--warmup N] "
                    "[--batch N] [--hidden N] [--seed N]\n", argv[i]);
    return 2;
  }
  if (threads <= 0 || repeats <= 0 || steps <= 0 || warmup < 0 || batch <= 0 || hidden <= 0) {
    fprintf(stderr, "lstm_step: --threads, --repeats, --steps, --batch and --hidden must be positive\n");
    return 2;
  }
  tg_set_num_threads((int)threads);
  tg_rng rng;
  tg_rng_seed(&rng, (uint64_t)seed);
  bench b = {0};
  double *sps = calloc((size_t)repeats, sizeof *sps), *st = calloc((size_t)repeats, sizeof *st),
         *mps = calloc((size_t)repeats, sizeof *mps);
  int rc = 1;
  if (!sps || !st || !mps || build(&b, (size_t)hidden, &rng) || make_batch(&b, (size_t)batch, &rng) ||
      run_steps(&b, warmup))
    goto done;
  for (long r = 0; r < repeats; r++) {
    uint64_t m0 = bench_malloc_calls();
    double t0 = bench_now();
    if (run_steps(&b, steps)) goto done;
    double dt = bench_now() - t0;
    mps[r] = (double)(bench_malloc_calls() - m0) / (double)steps;
    sps[r] = (double)steps / dt;
    st[r] = dt / (double)steps * 1e6;
  }
  printf("workload=lstm batch=%ld hidden=%ld T=%d threads=%ld params=%zu\n", batch, hidden, T_MAX, threads,
         tg_module_num_parameters(b.emb, true) + tg_module_num_parameters(b.lstm, true) +
             tg_module_num_parameters(b.head, true));
  bench_print_rate("steps_per_s", sps, (int)repeats, "%.1f");
  bench_print_stat("step_us", st, (int)repeats, "%.1f");
  bench_print_stat("mallocs_per_step", mps, (int)repeats, "%.2f");
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("peak_rss_mb=%.1f\nvm_hwm_mb=%.1f\n", (double)ru.ru_maxrss / 1024.0, bench_vm_hwm_mb());
  rc = 0;
done:
  if (rc) fprintf(stderr, "lstm_step: %s\n", tg_last_error());
  bench_free(&b);
  free(sps), free(st), free(mps);
  tg_release_cached();
  return rc;
}
