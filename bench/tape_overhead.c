/* Tape overhead: N iterations of y = y*1.0001 + 0.5 on a one-element tensor
 * that requires grad (2N recorded ops), as PyTorch eager would run it.
 * Prints key=value pairs: medians over --repeats, minimums as <key>_min.
 *   record_ns_per_op      forward with recording, per op
 *   backward_ns_per_node  tg_backward over the chain, per node
 *   nograd_ns_per_op      the same chain under no_grad, per op
 *   free_ns_per_op        tg_scope_end after the backward, per recorded op:
 *                         the chain's tensors and nodes back to the pool (not
 *                         in the two figures above; PyTorch frees as it goes)
 *   bytes_per_node        pool memory per recorded op, block headers included:
 *                         the node plus the op's result tensor (header and
 *                         storage holding the 4-byte value)
 *   nograd_bytes_per_op   the same per op under no_grad (the result only)
 *   tape_bytes_per_node   bytes_per_node - nograd_bytes_per_op: what the tape
 *                         adds beyond the values themselves
 *   mallocs_per_op        system allocator calls in the steady state (second
 *                         repeat on) over the recorded chain, its backward and
 *                         the no_grad chain, divided by their 4N forward ops
 *   write_ns_per_node     the physical floor of recording: a plain loop
 *                         writing bytes_per_node bytes per node, in order,
 *                         into a buffer of the chain's size
 *
 * Then the micrograd-style MLP 2-16-16-1 (ReLU hidden layers, linear output)
 * built from one-element tensors: 337 scalar parameters, a batch of
 * --micro-batch 2-D points (micrograd's demo uses 100), per step the forward
 * of every sample neuron by neuron (act = b + w0*x0 + w1*x1 + ...), the
 * mean hinge loss relu(1 - y*score) plus 1e-4 * sum(p*p), zero_grad,
 * backward and an SGD step (lr 0.05):
 *   micro_mlp_us_per_step, micro_mlp_ops_per_step (recorded ops),
 *   micro_mlp_ns_per_op (step time / recorded ops), micro_mlp_mallocs_per_step
 *
 * (median over --micro-repeats blocks of --micro-steps steps; default 3 x 20)
 *
 *   build/bench/tape_overhead [--n N] [--repeats R] [--threads T]
 *                             [--micro-batch B] [--micro-steps S] [--micro-repeats M] */
#include <math.h>

#include "bench_util.h"
#include "tapegrad.h"

static tg_tensor *chain(tg_tensor *x, long n) {
  tg_tensor *y = x;
  for (long i = 0; i < n && y; i++) y = tg_add_scalar(tg_mul_scalar(y, 1.0001), 0.5);
  return y;
}

/* bytes obtained from the system, pool headers included; the memory
 * measurements start from an empty cache (tg_release_cached) so that every
 * block a chain uses is a new one and is counted whole */
static size_t reserved(void) { return tg_memory_get_stats().bytes_reserved; }

/* ------------------------------------------------------ micrograd MLP */

#define MICRO_LAYERS 3
static const int micro_sizes[MICRO_LAYERS + 1] = {2, 16, 16, 1};

typedef struct micro {
  tg_tensor *params[337];
  int n_params;
  tg_tensor **xs; /* 2 per sample, persistent, no grad */
  double *ys;     /* +1 / -1 */
  long batch;
  long ops; /* ops recorded by the last step */
  tg_optimizer *opt;
} micro;

/* the score of sample s */
static tg_tensor *micro_forward(micro *m, long s) {
  tg_tensor *in[16], *out[16];
  in[0] = m->xs[2 * s];
  in[1] = m->xs[2 * s + 1];
  int p = 0;
  for (int l = 0; l < MICRO_LAYERS; l++) {
    int nin = micro_sizes[l], nout = micro_sizes[l + 1];
    for (int j = 0; j < nout; j++) {
      tg_tensor *const *w = &m->params[p];
      tg_tensor *act = m->params[p + nin]; /* the bias: sum(w*x, start=b) */
      for (int i = 0; i < nin; i++) act = tg_add(act, tg_mul(w[i], in[i]));
      m->ops += 2 * nin;
      if (l < MICRO_LAYERS - 1) {
        act = tg_relu(act);
        m->ops++;
      }
      out[j] = act;
      p += nin + 1;
    }
    for (int j = 0; j < nout; j++) in[j] = out[j];
  }
  return in[0];
}

static tg_tensor *micro_loss(micro *m) {
  tg_tensor *data = NULL;
  for (long s = 0; s < m->batch; s++) {
    tg_tensor *h = tg_relu(tg_add_scalar(tg_mul_scalar(micro_forward(m, s), -m->ys[s]), 1.0));
    data = data ? tg_add(data, h) : h;
    m->ops += data == h ? 3 : 4;
  }
  tg_tensor *reg = NULL;
  for (int i = 0; i < m->n_params; i++) {
    tg_tensor *sq = tg_mul(m->params[i], m->params[i]);
    reg = reg ? tg_add(reg, sq) : sq;
    m->ops += reg == sq ? 1 : 2;
  }
  m->ops += 3;
  return tg_add(tg_mul_scalar(data, 1.0 / (double)m->batch), tg_mul_scalar(reg, 1e-4));
}

static int micro_step(micro *m) {
  m->ops = 0;
  tg_scope_begin();
  tg_tensor *loss = micro_loss(m);
  int rc = loss && !tg_optim_zero_grad(m->opt) && !tg_backward(loss, NULL, false) &&
                   !tg_optim_step(m->opt) && isfinite(tg_item(loss))
               ? 0
               : -1;
  tg_scope_end();
  return rc;
}

static int micro_init(micro *m, long batch) {
  tg_rng rng;
  tg_rng_seed(&rng, 1337);
  m->batch = batch;
  m->n_params = 0;
  for (int l = 0; l < MICRO_LAYERS; l++)
    for (int j = 0; j < micro_sizes[l + 1]; j++)
      for (int i = 0; i <= micro_sizes[l]; i++) { /* weights, then the bias */
        tg_tensor *p = tg_scalar(TG_FLOAT32, i < micro_sizes[l] ? 2 * tg_rng_uniform(&rng) - 1 : 0);
        if (!p) return -1;
        m->params[m->n_params++] = tg_requires_grad_(p, true);
      }
  m->xs = calloc((size_t)(2 * batch), sizeof *m->xs);
  m->ys = calloc((size_t)batch, sizeof *m->ys);
  if (!m->xs || !m->ys) return -1;
  for (long s = 0; s < batch; s++) { /* two interleaved half-moons, as make_moons */
    double t = M_PI * tg_rng_uniform(&rng), noise = 0.1;
    bool upper = s % 2 == 0;
    double x0 = upper ? cos(t) : 1 - cos(t), x1 = upper ? sin(t) : 0.5 - sin(t);
    m->xs[2 * s] = tg_scalar(TG_FLOAT32, x0 + noise * tg_rng_normal(&rng));
    m->xs[2 * s + 1] = tg_scalar(TG_FLOAT32, x1 + noise * tg_rng_normal(&rng));
    m->ys[s] = upper ? 1 : -1;
    if (!m->xs[2 * s] || !m->xs[2 * s + 1]) return -1;
  }
  tg_sgd_opts so = tg_sgd_defaults();
  so.lr = 0.05;
  m->opt = tg_sgd_new(m->params, m->n_params, so);
  return m->opt ? 0 : -1;
}

static void micro_free(micro *m) {
  tg_optim_free(m->opt);
  for (int i = 0; i < m->n_params; i++) tg_free(m->params[i]);
  for (long s = 0; m->xs && s < 2 * m->batch; s++) tg_free(m->xs[s]);
  free(m->xs);
  free(m->ys);
}

static int run_micro(long batch, long steps, int repeats) {
  micro m = {0};
  if (micro_init(&m, batch) || micro_step(&m) || micro_step(&m)) { /* two warm-up steps */
    fprintf(stderr, "tape_overhead: micro MLP: %s\n", tg_last_error());
    return -1;
  }
  double *us = calloc((size_t)repeats, sizeof *us), *mp = calloc((size_t)repeats, sizeof *mp);
  if (!us || !mp) return -1;
  for (int r = 0; r < repeats; r++) {
    uint64_t m0 = bench_malloc_calls();
    double t0 = bench_now();
    for (long s = 0; s < steps; s++)
      if (micro_step(&m)) {
        fprintf(stderr, "tape_overhead: micro MLP: %s\n", tg_last_error());
        return -1;
      }
    double t1 = bench_now();
    us[r] = (t1 - t0) / (double)steps * 1e6;
    mp[r] = (double)(bench_malloc_calls() - m0) / (double)steps;
  }
  printf("micro_mlp=2-16-16-1\nmicro_mlp_params=%d\nmicro_mlp_batch=%ld\nmicro_mlp_steps=%ld\n",
         m.n_params, batch, steps);
  printf("micro_mlp_ops_per_step=%ld\n", m.ops);
  double ops = (double)m.ops;
  double md = bench_median(us, repeats), mn = bench_min(us, repeats);
  printf("micro_mlp_us_per_step=%.1f\nmicro_mlp_us_per_step_min=%.1f\n", md, mn);
  printf("micro_mlp_ns_per_op=%.1f\nmicro_mlp_ns_per_op_min=%.1f\n", md * 1e3 / ops, mn * 1e3 / ops);
  bench_print_stat("micro_mlp_mallocs_per_step", mp, repeats, "%.2f");
  free(us);
  free(mp);
  micro_free(&m);
  return 0;
}

int main(int argc, char **argv) {
  long n = 1000000, repeats = 5, threads = 1, micro_batch = 100, micro_steps = 20, micro_repeats = 3;
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--n", &n) ||
        bench_flag_long(argc, argv, &i, "--repeats", &repeats) ||
        bench_flag_long(argc, argv, &i, "--threads", &threads) ||
        bench_flag_long(argc, argv, &i, "--micro-batch", &micro_batch) ||
        bench_flag_long(argc, argv, &i, "--micro-steps", &micro_steps) ||
        bench_flag_long(argc, argv, &i, "--micro-repeats", &micro_repeats))
      continue;
    fprintf(stderr, "tape_overhead: unknown flag %s\n"
                    "usage: tape_overhead [--n N] [--repeats N] [--threads N] [--micro-batch N] "
                    "[--micro-steps N (0: skip)] [--micro-repeats N]\n", argv[i]);
    return 2;
  }
  if (n <= 0 || repeats <= 0 || threads <= 0 || micro_batch <= 0 || micro_steps < 0 ||
      micro_repeats <= 0) {
    fprintf(stderr, "tape_overhead: --n, --repeats, --threads, --micro-batch and --micro-repeats "
                    "must be positive\n");
    return 2;
  }
  tg_set_num_threads((int)threads); /* no BLAS here: the tape is single-threaded */
  int R = (int)repeats;
  double *rec = calloc((size_t)R, sizeof *rec), *bwd = calloc((size_t)R, sizeof *bwd),
         *ng = calloc((size_t)R, sizeof *ng), *fr = calloc((size_t)R, sizeof *fr);
  if (!rec || !bwd || !ng || !fr) return 1;
  double bytes_per_node = 0, nograd_bytes = 0, grad = 0, mallocs = 0;
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT32, 1.0), true);
  /* memory first, untimed: each chain from an empty cache (tg_release_cached)
   * so every block it uses is a new one, counted whole */
  tg_release_cached();
  size_t before = reserved();
  tg_scope_begin();
  tg_tensor *y = chain(x, n);
  bytes_per_node = (double)(reserved() - before) / (2.0 * (double)n);
  if (!y || tg_backward(y, NULL, false) != 0) {
    fprintf(stderr, "tape_overhead: %s\n", tg_last_error());
    return 1;
  }
  tg_scope_end();
  tg_release_cached();
  before = reserved();
  tg_scope_begin();
  tg_no_grad_begin();
  chain(x, n);
  nograd_bytes = (double)(reserved() - before) / (2.0 * (double)n);
  tg_no_grad_end();
  tg_scope_end();
  for (int r = 0; r < R; r++) {
    tg_zero_grad(x);
    uint64_t m0 = bench_malloc_calls();
    tg_scope_begin();
    double t0 = bench_now();
    y = chain(x, n);
    double t1 = bench_now();
    if (!y || tg_backward(y, NULL, false) != 0) {
      fprintf(stderr, "tape_overhead: %s\n", tg_last_error());
      return 1;
    }
    double t2 = bench_now();
    tg_scope_end();
    double t2e = bench_now();
    tg_scope_begin();
    tg_no_grad_begin();
    double t3 = bench_now();
    chain(x, n);
    double t4 = bench_now();
    tg_no_grad_end();
    tg_scope_end();
    if (r > 0) mallocs += (double)(bench_malloc_calls() - m0); /* after the pool has grown */
    rec[r] = (t1 - t0) * 1e9 / (2.0 * (double)n);
    bwd[r] = (t2 - t1) * 1e9 / (2.0 * (double)n);
    ng[r] = (t4 - t3) * 1e9 / (2.0 * (double)n);
    fr[r] = (t2e - t2) * 1e9 / (2.0 * (double)n);
    grad = tg_item(x->grad);
  }
  printf("malloc_counter=%s\n", bench_malloc_counter());
  printf("n=%ld\n", n);
  bench_print_stat("record_ns_per_op", rec, R, "%.1f");
  bench_print_stat("backward_ns_per_node", bwd, R, "%.1f");
  bench_print_stat("nograd_ns_per_op", ng, R, "%.1f");
  bench_print_stat("free_ns_per_op", fr, R, "%.1f");
  printf("bytes_per_node=%.0f\n", bytes_per_node);
  printf("nograd_bytes_per_op=%.0f\n", nograd_bytes);
  printf("tape_bytes_per_node=%.0f\n", bytes_per_node - nograd_bytes);
  if (R > 1) printf("mallocs_per_op=%.4f\n", mallocs / ((double)(R - 1) * 4.0 * (double)n));
  printf("grad=%.6g\n", grad);
  /* the floor of recording: writing each node's bytes (bytes_per_node, the
   * node and its result) once, in order, into memory of the chain's size */
  size_t node_bytes = (size_t)bytes_per_node, total = node_bytes * 2 * (size_t)n;
  unsigned char *buf = malloc(total);
  if (buf) {
    double *wr = calloc((size_t)R, sizeof *wr);
    for (int r = 0; wr && r < R; r++) {
      double t0 = bench_now();
      for (size_t i = 0; i < 2 * (size_t)n; i++) memset(buf + i * node_bytes, (int)(i + r), node_bytes);
      wr[r] = (bench_now() - t0) * 1e9 / (2.0 * (double)n);
    }
    if (wr) bench_print_stat("write_ns_per_node", wr, R, "%.1f");
    printf("write_check=%d\n", buf[total / 2]);
    free(wr);
    free(buf);
  }
  fflush(stdout);
  free(rec);
  free(bwd);
  free(ng);
  free(fr);
  tg_free(x);
  int rc = micro_steps > 0 ? run_micro(micro_batch, micro_steps, (int)micro_repeats) : 0;
  tg_release_cached();
  return rc ? 1 : 0;
}
