/* Data-parallel training steps (dist/): the lecture MLP (784-200-10 tanh,
 * SGD lr 0.1, global batch 100) or PyTorch's example VAE (784-400-20-400-784,
 * BCE(sum) + KL, Adam 1e-3, global batch 128), on P processes with the
 * same global batch (each rank --global-batch / P rows of fixed random
 * data). Run it alone (1 process, no MPI) or under mpirun:
 *
 *   build-bench/bench/ddp_step --model vae
 *   mpirun -np 2 --bind-to core build-bench/bench/ddp_step --model vae
 *
 * A step: forward, loss, zero_grad, backward, tg_ddp_sync_grads (under
 * mpirun), optimizer step. Rank 0 prints key=value lines, each the median
 * over --repeats blocks of --steps steps (minimum as <key>_min):
 *   step_us, samples_per_s   the block's time per step, global samples / s
 *   compute_us               forward + backward per step (rank 0)
 *   sync_us                  tg_ddp_sync_grads per step: packing, the
 *                            all-reduces, waiting for the slowest rank
 *   backward_overlap         the part of backward that overlapped the
 *                            all-reduce: 0 while sync_grads runs after
 *                            backward (no post-accumulate-grad hooks yet)
 *   allreduce_bytes          gradient bytes each rank all-reduces per step;
 *                            buckets, the number of MPI_Iallreduce calls
 *   mallocs_per_step         calls to the system allocator per timed step,
 *                            whole process (MPI's included);
 *                            tg_pool_mallocs_per_step the library's own
 * Under mpirun every rank waits for the slowest at each sync, so the block
 * times of all ranks are the same to within one step. */
#include <math.h>

#include "bench_util.h"
#include "tapegrad.h"

typedef struct net {
  bool vae;
  tg_module *m;        /* MLP: Sequential; VAE: a container of fc1, fc21, fc22, fc3, fc4 */
  tg_module *fc[5];    /* VAE layers (borrowed from m) */
  tg_optimizer *opt;
  tg_tensor *x, *y;    /* this rank's rows (persistent) */
  tg_rng eps;
} net;

static tg_module *mlp(tg_rng *rng) {
  tg_module *m = tg_nn_sequential(3, tg_nn_linear(784, 200, true, rng), tg_nn_tanh(),
                                  tg_nn_linear(200, 10, true, rng));
  size_t np;
  tg_tensor **p = m ? tg_module_parameters(m, &np) : NULL;
  for (size_t i = 0; p && i < np; i++)
    if (p[i]->ndim == 2) tg_init_normal_(p[i], rng, 0.0, sqrt(2.0 / (double)(p[i]->shape[0] + p[i]->shape[1])));
    else tg_init_zeros_(p[i]);
  return p ? m : NULL;
}

static tg_module *vae(tg_rng *rng, tg_module **fc) {
  static const size_t dims[5][2] = {{784, 400}, {400, 20}, {400, 20}, {20, 400}, {400, 784}};
  static const char *const names[5] = {"fc1", "fc21", "fc22", "fc3", "fc4"};
  tg_module *m = tg_module_new("VAE", NULL);
  for (int i = 0; m && i < 5; i++) {
    fc[i] = tg_nn_linear(dims[i][0], dims[i][1], true, rng);
    if (tg_module_add_child(m, names[i], fc[i]) != 0) {
      tg_module_free(m);
      return NULL;
    }
  }
  return m;
}

static tg_tensor *loss_of(net *n) {
  if (!n->vae) return tg_cross_entropy(tg_module_forward(n->m, n->x), n->y, TG_REDUCTION_MEAN);
  tg_module **fc = n->fc;
  tg_tensor *h = tg_relu(tg_module_forward(fc[0], n->x));
  tg_tensor *mu = tg_module_forward(fc[1], h), *logvar = tg_module_forward(fc[2], h);
  if (!mu || !logvar) return NULL;
  tg_tensor *e = tg_randn(&n->eps, TG_FLOAT32, mu->ndim, mu->shape);
  tg_tensor *z = tg_add(mu, tg_mul(e, tg_exp(tg_mul_scalar(logvar, 0.5))));
  tg_tensor *recon = tg_sigmoid(tg_module_forward(fc[4], tg_relu(tg_module_forward(fc[3], z))));
  return tg_add(tg_binary_cross_entropy(recon, n->x, TG_REDUCTION_SUM),
                tg_gaussian_kl(mu, logvar, TG_REDUCTION_SUM));
}

/* one step; adds its compute and sync seconds; -1 on error */
static int step(net *n, tg_ddp *ddp, double *compute, double *sync) {
  double t0 = bench_now();
  tg_scope_begin();
  tg_tensor *loss = loss_of(n);
  int rc = loss && !tg_optim_zero_grad(n->opt) && !tg_backward(loss, NULL, false) ? 0 : -1;
  tg_scope_end();
  double t1 = bench_now();
  if (rc == 0 && ddp) rc = tg_ddp_sync_grads(ddp);
  double t2 = bench_now();
  if (rc == 0) rc = tg_optim_step(n->opt);
  *compute += t1 - t0;
  *sync += t2 - t1;
  return rc;
}

int main(int argc, char **argv) {
  long repeats = 5, steps = 50, warmup = 5, gbatch = 0, seed = 1;
  const char *model = "vae";
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--repeats", &repeats) ||
        bench_flag_long(argc, argv, &i, "--steps", &steps) ||
        bench_flag_long(argc, argv, &i, "--warmup", &warmup) ||
        bench_flag_long(argc, argv, &i, "--global-batch", &gbatch) ||
        bench_flag_long(argc, argv, &i, "--seed", &seed) ||
        bench_flag_str(argc, argv, &i, "--model", &model))
      continue;
    fprintf(stderr, "ddp_step: unknown flag %s\nusage: ddp_step [--model mlp|vae] [--global-batch N] "
                    "[--repeats N] [--steps N] [--warmup N] [--seed N]\n", argv[i]);
    return 2;
  }
  bool is_vae = !strcmp(model, "vae");
  if ((!is_vae && strcmp(model, "mlp")) || repeats <= 0 || steps <= 0 || warmup < 0 || gbatch < 0) {
    fprintf(stderr, "ddp_step: --model is mlp or vae; --repeats and --steps positive\n");
    return 2;
  }
  if (!gbatch) gbatch = is_vae ? 128 : 100;
  tg_set_num_threads(1);
  bool dist = tg_dist_launched();
  if (dist && tg_dist_init(NULL)) {
    fprintf(stderr, "ddp_step: %s\n", tg_last_error());
    return 1;
  }
  int rank = dist ? tg_dist_rank() : 0, world = dist ? tg_dist_world_size() : 1;
  if (gbatch % world) {
    fprintf(stderr, "ddp_step: --global-batch %ld is not a multiple of %d processes\n", gbatch, world);
    return 2;
  }
  size_t b = (size_t)(gbatch / world);
  net n = {.vae = is_vae};
  tg_rng init, data;
  tg_rng_seed(&init, (uint64_t)seed);
  tg_rng_seed(&data, (uint64_t)seed + 100 + (uint64_t)rank); /* each rank its own rows */
  tg_rng_seed(&n.eps, (uint64_t)seed + 200 + (uint64_t)rank);
  n.m = is_vae ? vae(&init, n.fc) : mlp(&init);
  size_t np = 0;
  tg_tensor **params = n.m ? tg_module_parameters(n.m, &np) : NULL;
  if (params) {
    tg_sgd_opts so = tg_sgd_defaults();
    so.lr = 0.1;
    n.opt = is_vae ? tg_adam_new(params, (int)np, tg_adam_defaults()) : tg_sgd_new(params, (int)np, so);
  }
  n.x = tg_rand(&data, TG_FLOAT32, TG_SHAPE(b, 784));
  n.y = tg_zeros(TG_INT64, TG_SHAPE(b));
  for (size_t i = 0; n.y && i < b; i++) tg_set(n.y, (size_t[]){i}, (double)(tg_rng_next(&data) % 10));
  tg_ddp *ddp = dist && n.opt ? tg_ddp_new(n.m, tg_ddp_defaults()) : NULL;
  double *st = calloc((size_t)repeats, sizeof *st), *sps = calloc((size_t)repeats, sizeof *sps);
  double *cu = calloc((size_t)repeats, sizeof *cu), *su = calloc((size_t)repeats, sizeof *su);
  int rc = n.opt && n.x && n.y && (!dist || ddp) && st && sps && cu && su ? 0 : -1;
  double c = 0, s = 0;
  for (long k = 0; rc == 0 && k < warmup; k++) rc = step(&n, ddp, &c, &s);
  uint64_t m0 = bench_malloc_calls();
  size_t pool0 = tg_memory_get_stats().mallocs;
  for (long r = 0; rc == 0 && r < repeats; r++) {
    if (dist) tg_dist_barrier();
    c = s = 0;
    double t0 = bench_now();
    for (long k = 0; rc == 0 && k < steps; k++) rc = step(&n, ddp, &c, &s);
    double t = bench_now() - t0;
    st[r] = 1e6 * t / (double)steps;
    sps[r] = (double)gbatch * (double)steps / t;
    cu[r] = 1e6 * c / (double)steps;
    su[r] = 1e6 * s / (double)steps;
  }
  double mallocs = (double)(bench_malloc_calls() - m0) / (double)(repeats * steps);
  double pool = (double)(tg_memory_get_stats().mallocs - pool0) / (double)(repeats * steps);
  if (rc == 0 && rank == 0) {
    printf("workload=ddp_step\nmodel=%s\nprocesses=%d\nglobal_batch=%ld\nbatch_per_rank=%zu\n"
           "steps=%ld\nrepeats=%ld\n", model, world, gbatch, b, steps, repeats);
    bench_print_stat("step_us", st, (int)repeats, "%.1f");
    bench_print_rate("samples_per_s", sps, (int)repeats, "%.0f");
    bench_print_stat("compute_us", cu, (int)repeats, "%.1f");
    bench_print_stat("sync_us", su, (int)repeats, "%.1f");
    printf("backward_overlap=0\n");
    printf("allreduce_bytes=%zu\nbuckets=%zu\n", ddp ? tg_ddp_bytes_per_sync(ddp) : 0,
           ddp ? tg_ddp_num_buckets(ddp) : 0);
    printf("malloc_counter=%s\nmallocs_per_step=%.2f\ntg_pool_mallocs_per_step=%.2f\n",
           bench_malloc_counter(), mallocs, pool);
  }
  if (rc) fprintf(stderr, "ddp_step: rank %d: %s\n", rank, tg_last_error());
  free(st), free(sps), free(cu), free(su);
  tg_ddp_free(ddp);
  tg_optim_free(n.opt);
  tg_module_free(n.m);
  tg_free(n.x);
  tg_free(n.y);
  if (dist) tg_dist_finalize();
  tg_release_cached();
  return rc ? 1 : 0;
}
