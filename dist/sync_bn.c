/* SyncBatchNorm's training pass (torch.nn.SyncBatchNorm): batch statistics
 * over every rank's batch. Built from ops and one differentiable all-reduce
 * (torch.distributed.nn.all_reduce): its backward all-reduces the gradient
 * too, since every rank's statistics depend on every rank's input, so the
 * gradient terms of the statistics (sum dy, sum dy * x) are summed over the
 * ranks by the same graph. Every rank runs the same backward, so the
 * all-reduces of the backward meet in the same order. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dist_internal.h"

/* y = the sum over ranks of a (a new tensor); backward: the same of g */
static tg_tensor *all_reduce_sum(tg_tensor *a);

static void all_reduce_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  (void)n;
  gi[0] = all_reduce_sum(g);
  if (gi[0] && gi[0]->requires_grad) gi[0] = tg_detach(gi[0]);
}
/* linear: the tangents summed over the ranks (every rank runs the JVP at
 * the same point of the same forward, so the all-reduces meet) */
static tg_tensor *all_reduce_jvp(tg_node *n, tg_tensor *const *t) {
  (void)n;
  return all_reduce_sum(t[0]);
}
TG_DEFINE_OP_JVP(OP_ALL_REDUCE, "AllReduceBackward", all_reduce_backward, all_reduce_jvp, 0);

static tg_tensor *all_reduce_sum(tg_tensor *a) {
  bool mode = tg_set_grad_enabled(false);
  tg_tensor *out = tg_clone(a);
  tg_set_grad_enabled(mode);
  if (!out || tg_dist_all_reduce_(out, TG_REDUCE_SUM)) return NULL;
  if (mode && a->requires_grad && !tg_record(out, &OP_ALL_REDUCE, 1, &a)) return NULL;
  return out;
}

tg_tensor *tg_sync_batch_norm(tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                              tg_tensor *weight, tg_tensor *bias, double momentum, double eps) {
  const char *who = "sync_batch_norm";
  if (!tg_dist_is_initialized()) {
    if (!x) tg_dist_fail(who, "argument 1 (x) is NULL");
    else tg_dist_need_init(who);
    return NULL;
  }
  /* the ranks agree that x is usable before any collective */
  int ok = x && tg_tensor_check(x, who, 1) && x->ndim >= 2 && (x->dtype == TG_FLOAT32 || x->dtype == TG_FLOAT64);
  int64_t lo = 0, hi = 0;
  if (tg_dist_agree(ok, &lo, &hi, who)) return NULL;
  if (!lo) {
    if (ok) tg_dist_fail(who, "another rank's input is unusable (see its message)");
    else tg_dist_fail(who, "x must be a float tensor of at least 2 dims (N, C, ...)");
    return NULL;
  }
  size_t c = x->shape[1];
  int dims[TG_MAX_DIMS], nd = 0;
  size_t shape[TG_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) {
    if (d != 1) dims[nd++] = d;
    shape[d] = d == 1 ? c : 1;
  }
  /* x is (N, C, ...); the local count, sums and sums of squares per channel */
  tg_tensor *cnt = tg_scalar(x->dtype, (double)(x->numel / (c ? c : 1)));
  tg_tensor *s1 = tg_sum_dims(x, nd, dims, true), *s2 = tg_sum_dims(tg_square(x), nd, dims, true);
  if (!cnt || !s1 || !s2) return NULL;
  if (tg_dist_all_reduce_(cnt, TG_REDUCE_SUM)) return NULL;
  tg_tensor *S1 = all_reduce_sum(s1), *S2 = all_reduce_sum(s2);
  if (!S1 || !S2) return NULL;
  double n = tg_item(cnt);
  if (n < 2) {
    tg_dist_fail(who, "expected more than 1 value per channel over all ranks when training");
    return NULL;
  }
  tg_tensor *mean = tg_div_scalar(S1, n);
  tg_tensor *var = tg_sub(tg_div_scalar(S2, n), tg_square(mean)); /* biased */
  tg_tensor *y = tg_mul(tg_sub(x, mean), tg_rsqrt(tg_add_scalar(var, eps)));
  if (weight) y = tg_mul(y, tg_reshape(weight, x->ndim, shape));
  if (bias) y = tg_add(y, tg_reshape(bias, x->ndim, shape));
  if (!y) return NULL;
  if (running_mean && running_var) { /* torch: the unbiased variance */
    tg_no_grad_begin();
    tg_tensor *m = tg_reshape(tg_detach(mean), 1, &c);
    tg_tensor *v = tg_reshape(tg_mul_scalar(tg_detach(var), n / (n - 1)), 1, &c);
    int rc = m && v ? 0 : -1;
    if (!rc) rc = tg_copy_(running_mean, tg_add(tg_mul_scalar(running_mean, 1 - momentum),
                                                 tg_mul_scalar(m, momentum)));
    if (!rc) rc = tg_copy_(running_var, tg_add(tg_mul_scalar(running_var, 1 - momentum),
                                                tg_mul_scalar(v, momentum)));
    tg_no_grad_end();
    if (rc) return NULL;
  }
  return y;
}

/* ------------------------------------------------ the SyncBatchNorm module */

/* BatchNorm1d/2d's forward with the statistics over every rank in
 * training (torch.nn.SyncBatchNorm.forward): a module made by
 * tg_nn_batchnorm1d/2d has weight, bias (affine), then running_mean,
 * running_var, num_batches_tracked (tracking). Local tg_batch_norm where
 * torch uses F.batch_norm: eval with running stats, no process group, one
 * rank. */
static tg_tensor *sync_bn_forward(tg_module *m, tg_tensor *x) {
  if (x->ndim < 2) {
    tg_error("SyncBatchNorm: expected at least 2D input (got %dD input)", x->ndim);
    return NULL;
  }
  bool affine = m->n_params == 2, track = m->n_buffers == 3;
  tg_tensor *w = affine ? m->params[0].tensor : NULL, *b = affine ? m->params[1].tensor : NULL;
  tg_tensor *rm = track ? m->buffers[0].tensor : NULL, *rv = track ? m->buffers[1].tensor : NULL;
  bool batch_stats = m->training || !track;
  int64_t *count = track ? (int64_t *)tg_ptr(m->buffers[2].tensor) : NULL;
  /* momentum NAN: cumulative average, factor 1 / batches seen (this one included) */
  double f = isnan(m->cfg_f[1]) ? (count ? 1.0 / (double)(*count + 1) : 0.0) : m->cfg_f[1];
  bool sync = batch_stats && m->training && tg_dist_is_initialized() && tg_dist_world_size() > 1;
  tg_tensor *y = sync ? tg_sync_batch_norm(x, rm, rv, w, b, f, m->cfg_f[0])
                      : tg_batch_norm(x, rm, rv, w, b, batch_stats, f, m->cfg_f[0]);
  if (y && m->training && count) {
    (*count)++;
    m->buffers[2].tensor->storage->version++;
  }
  return y;
}

static bool is_batchnorm(const tg_module *m) {
  return !strcmp(m->type, "BatchNorm1d") || !strcmp(m->type, "BatchNorm2d");
}

/* in place: the same parameters, buffers, hyper-parameters and repr */
static void make_sync(tg_module *m) {
  snprintf(m->type, sizeof m->type, "SyncBatchNorm");
  m->forward = sync_bn_forward;
}

static int convert(tg_module *m) {
  int n = 0;
  if (is_batchnorm(m)) {
    make_sync(m);
    n++;
  }
  for (size_t i = 0; i < m->n_children; i++) n += convert(m->children[i].module);
  return n;
}

int tg_ddp_convert_sync_batchnorm(tg_module *m) {
  if (!m) return tg_dist_fail("ddp_convert_sync_batchnorm", "argument 1 (the module) is NULL");
  return convert(m);
}

tg_module *tg_nn_sync_batchnorm(size_t num_features, double eps, double momentum, bool affine,
                                bool track_running_stats) {
  tg_module *m = tg_nn_batchnorm2d(num_features, eps, momentum, affine, track_running_stats);
  if (m) make_sync(m);
  return m;
}
