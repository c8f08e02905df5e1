/* dist layer: data-parallel training over MPI (as torch.distributed with
 * DistributedDataParallel and DistributedSampler), at the level of data/:
 * it uses tensor, autograd, ops, nn and optim, nothing above.
 *
 * The engine is MPI (Open MPI or MPICH, found by pkg-config at build time).
 * Without it the library still builds: tg_dist_available() is false and
 * tg_dist_init fails with a message saying so; the sampler works anyway.
 *
 *   tg_dist_init(NULL);                        // under mpirun -np N
 *   tg_ddp *ddp = tg_ddp_new(model, tg_ddp_defaults()); // rank 0's weights everywhere
 *   for (each step) {
 *     loss = ...; tg_backward(loss, NULL, false);
 *     tg_ddp_sync_grads(ddp);                  // mean of the gradients over ranks
 *     tg_optim_step(opt); tg_optim_zero_grad(opt);
 *   }
 *   tg_ddp_free(ddp); tg_dist_finalize();
 *
 * Collectives are called by every rank in the same order with tensors of
 * the same dtype and shape. Errors: NULL or -1 and a message in
 * tg_last_error() naming the call and the rank ("dist_all_reduce_: rank
 * 1: ..."). A collective whose arguments are wrong on one rank fails on
 * every rank (the ranks agree first), so a bad argument never hangs the
 * others. */
#ifndef TG_DIST_H
#define TG_DIST_H

#include "tg_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ process group */

/* true when the library was built with MPI */
TG_API bool tg_dist_available(void);
/* true when this process was started by an MPI launcher (mpirun, srun:
 * OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment), so a
 * program can call tg_dist_init only then and run alone otherwise */
TG_API bool tg_dist_launched(void);
/* Join the process group. comm points to an MPI_Comm to use (duplicated:
 * the caller keeps its own), or is NULL for MPI_COMM_WORLD; MPI_Init runs
 * here unless the program initialised MPI itself. Errors of MPI calls on
 * the group are returned, not fatal. 0, or -1 (already initialised, no
 * MPI in this build, MPI_Init failed). */
TG_API int tg_dist_init(void *comm);
/* Leave the group: frees the duplicated communicator, and calls
 * MPI_Finalize if tg_dist_init called MPI_Init. 0, or -1 if not initialised. */
TG_API int tg_dist_finalize(void);
TG_API bool tg_dist_is_initialized(void);
/* this process's rank in [0, world size), or -1 with an error before init */
TG_API int tg_dist_rank(void);
/* the number of processes, or -1 with an error before init */
TG_API int tg_dist_world_size(void);
TG_API int tg_dist_barrier(void);

/* ================================================================ collectives */

typedef enum tg_reduce_op {
  TG_REDUCE_SUM = 0,  /* bool: logical or */
  TG_REDUCE_MEAN = 1, /* sum / world size: float dtypes only */
  TG_REDUCE_MAX = 2,  /* bool: logical or */
} tg_reduce_op;

/* t = root's t on every rank, in place (no history; bumps the version);
 * any dtype and strides (not an expanded view) */
TG_API int tg_dist_broadcast_(tg_tensor *t, int root);
/* t = op over the ranks' t, elementwise, in place; the same result on
 * every rank. any dtype (MEAN: float) and strides (not an expanded view) */
TG_API int tg_dist_all_reduce_(tg_tensor *t, tg_reduce_op op);
/* out[r] = rank r's t: a new (world, *t.shape) tensor of t's dtype in the
 * current scope (torch.stack(all_gather(...))), without history */
TG_API tg_tensor *tg_dist_all_gather(const tg_tensor *t);

/* ================================================================ data parallel */

typedef struct tg_ddp tg_ddp;
typedef struct tg_ddp_opts {
  /* gradient bytes per bucket (one non-blocking all-reduce each); 0 means
   * 25 MiB, torch's bucket_cap_mb. A parameter may straddle two buckets. */
  size_t bucket_bytes;
  /* broadcast the module's buffers (BatchNorm's running statistics) from
   * rank 0 at start and before every forward (torch's broadcast_buffers,
   * true there): a forward pre-hook on the module runs
   * tg_ddp_broadcast_buffers when grad mode is on and no_sync is off, so
   * every rank's forward (and its checkpoint) sees rank 0's buffers */
  bool broadcast_buffers;
  /* start no all-reduce during backward: every bucket in
   * tg_ddp_sync_grads, after it (the same bits, no overlap; no hooks) */
  bool no_overlap;
} tg_ddp_opts;
TG_API tg_ddp_opts tg_ddp_defaults(void); /* 25 MiB buckets, broadcast_buffers */
/* Wrap module m (borrowed; it must outlive the wrapper) for data-parallel
 * training: checks that every rank has the same parameters and buffers
 * (names, dtypes, shapes, frozen or not; a mismatch fails on every rank,
 * naming the first entry that differs and the rank), then copies rank 0's
 * parameters (and buffers) to
 * every rank. Parameters that require grad at this call are synchronised;
 * frozen ones are skipped. All buffers are allocated here. Each synchronised
 * parameter gets a post-accumulate-grad hook (removed by tg_ddp_free) that
 * hands its .grad over as backward delivers it, so buckets start their
 * all-reduce during backward (in bucket order on every rank); a second
 * backward before tg_ddp_sync_grads fails (use no_sync to accumulate). */
TG_API tg_ddp *tg_ddp_new(tg_module *m, tg_ddp_opts o);
/* After backward, before the optimizer step: every synchronised .grad =
 * the mean over ranks of the ranks' .grad (a parameter without a .grad on
 * a rank counts as zeros there, and gets one). Buckets are packed in
 * reverse parameter order (the order backward produces them); those the
 * hooks did not start during backward start here; all are waited for
 * before this returns. The same bits on every rank. A no-op (0) while
 * no_sync is on: gradients accumulate locally until the next sync. */
TG_API int tg_ddp_sync_grads(tg_ddp *d);
/* rank 0's buffers to every rank, in place, one broadcast for all of
 * them (a collective: what the pre-forward hook calls; for forwards that
 * do not go through tg_module_forward on the wrapped module, or with
 * broadcast_buffers off). 0 or -1. */
TG_API int tg_ddp_broadcast_buffers(tg_ddp *d);
/* torch's no_sync(): on while accumulating micro-batches, off before the
 * backward whose sync_grads should average them all */
TG_API int tg_ddp_set_no_sync(tg_ddp *d, bool on);
/* layout and traffic: buckets, synchronised parameters, gradient bytes
 * all-reduced per sync; seconds between the start of the first all-reduce
 * and the call of tg_ddp_sync_grads in the last sync (the communication
 * that overlapped backward; 0 when none started before the sync) */
TG_API size_t tg_ddp_num_buckets(const tg_ddp *d);
TG_API size_t tg_ddp_num_synced(const tg_ddp *d);
TG_API size_t tg_ddp_bytes_per_sync(const tg_ddp *d);
TG_API double tg_ddp_overlap_seconds(const tg_ddp *d);
TG_API void tg_ddp_free(tg_ddp *d); /* NULL is fine; the module stays */

/* torch.nn.SyncBatchNorm's training forward, a collective: as
 * tg_batch_norm(x, running_mean, running_var, weight, bias, true, momentum,
 * eps) with the mean and biased variance per channel over every rank's x
 * (N, C, ...) together; differentiable (its backward all-reduces the
 * statistics' gradient terms), running stats (C, optional) moved by the
 * global mean and unbiased variance. Eval: tg_batch_norm with the running
 * stats. A new tensor in the scope, or NULL on every rank. */
TG_API tg_tensor *tg_sync_batch_norm(tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                              tg_tensor *weight, tg_tensor *bias, double momentum, double eps);

/* torch.nn.SyncBatchNorm as a module: BatchNorm's parameters, buffers and
 * state-dict names (weight, bias, running_mean, running_var,
 * num_batches_tracked), defaults and eval behaviour (the running stats,
 * local); in training the statistics are over every rank's batch
 * (tg_sync_batch_norm, a collective: every rank calls forward and
 * backward together). Alone (no process group, or one rank) it is
 * BatchNorm. Any input of at least 2 dims, (N, C, ...). */
TG_API tg_module *tg_nn_sync_batchnorm(size_t num_features, double eps, double momentum, bool affine,
                                       bool track_running_stats);
/* torch.nn.SyncBatchNorm.convert_sync_batchnorm: every BatchNorm1d/2d in
 * m's tree (m included) becomes a SyncBatchNorm in place, keeping its
 * parameter and buffer tensors (an optimizer built on them stays valid),
 * hyper-parameters and names. Call it on every rank before tg_ddp_new.
 * The number converted, or -1 (m NULL). */
TG_API int tg_ddp_convert_sync_batchnorm(tg_module *m);

/* ================================================================ sampler */

/* torch.utils.data.DistributedSampler: each epoch a permutation of
 * [0, dataset_len) (Fisher-Yates from a tg_rng seeded with seed + epoch,
 * the same on every rank; identity without shuffle), padded by repeating
 * its first indices to a multiple of num_replicas, or cut to one with
 * drop_last; this rank's shard is indices[rank::num_replicas], num_samples
 * = ceil(len / R) (drop_last: floor). num_replicas 0 and rank -1 mean the
 * process group's. The permutation is tapegrad's, not torch's bits. */
typedef struct tg_dist_sampler tg_dist_sampler;
TG_API tg_dist_sampler *tg_dist_sampler_new(size_t dataset_len, int num_replicas, int rank, bool shuffle,
                                     uint64_t seed, bool drop_last);
/* the epoch whose order the next fill gives (torch: call before each epoch) */
TG_API int tg_dist_sampler_set_epoch(tg_dist_sampler *s, uint64_t epoch);
TG_API size_t tg_dist_sampler_len(const tg_dist_sampler *s); /* num_samples; 0 with an error for NULL */
/* this rank's num_samples indices of the current epoch into out */
TG_API int tg_dist_sampler_indices(const tg_dist_sampler *s, size_t *out);
/* the same with the signature of a DataLoader sampler's fill (tg_sampler
 * in tg_data.h): {tg_dist_sampler_len(s), tg_dist_sampler_fill, s} */
TG_API int tg_dist_sampler_fill(void *sampler, size_t *out);
TG_API void tg_dist_sampler_free(tg_dist_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
