/* Shared by the files of nn/: the ops machinery (kernels, ops_record) and
 * the helper that makes module state persistent. */
#ifndef TG_NN_INTERNAL_H
#define TG_NN_INTERNAL_H

#include "ops_internal.h"
#include "tg_nn.h"

/* a zero-filled tensor owned by scope 0 (persistent) whatever scope is open */
tg_tensor *nn_persistent_zeros(tg_dtype dt, int ndim, const size_t *shape);

/* a parameterless module whose forward reads cfg_f[0..1] or cfg_i[0..1]
 * (nn/layers.c) */
tg_module *nn_stateless(const char *type, tg_forward_fn fwd, double f, int i0, int i1);

/* normalisation (nn/norm.c): the fused node over channel dim 1 of x
 * (ndim >= 2, checked by the caller): batch statistics when mean is NULL,
 * returned (keepdim, no history) in *bmean, *bvar when those are given;
 * else mean and var (C). No check of the count per channel. */
tg_tensor *nn_norm_channels(tg_tensor *x, tg_tensor *mean, tg_tensor *var, tg_tensor *w,
                            tg_tensor *b, double eps, tg_tensor **bmean, tg_tensor **bvar);

/* layer and RMS norm (nn/norm_layer.c): x float with trailing dims ns
 * (ndim >= 1); an affine t (NULL passes) of shape ns and x's dtype */
bool nn_check_normalized_shape(const char *op, const tg_tensor *x, int ndim, const size_t *ns);
bool nn_check_norm_affine(const char *op, const char *what, int argno, const tg_tensor *t,
                          const tg_tensor *x, int nd, const size_t *ns);
/* layer norm over the last dim, affine w, b (C) or NULL, as one node
 * (nn/layer_norm_rows.c); x float with numel > 0, checked by the caller */
tg_tensor *nn_layer_norm_rows(tg_tensor *x, tg_tensor *w, tg_tensor *b, double eps);
/* cross-entropy's gradient (softmax(x) - onehot(t)) * scale in one pass
 * (nn/loss_ce_rows.c): x (N, C) float, t int64 (N) in [0, C), g the
 * loss's gradient: () for MEAN and SUM, (N) for NONE */
tg_tensor *nn_ce_grad_rows(tg_tensor *x, const tg_tensor *t, tg_tensor *g, tg_reduction r);

/* losses (nn/loss.c): "loss: unknown reduction" unless MEAN, SUM or NONE */
bool nn_check_reduction(const char *loss, tg_reduction r);
tg_tensor *nn_reduce(tg_tensor *l, tg_reduction r);
/* input - target, broadcasting, with the reduction and dtypes checked and
 * an error naming the loss when the shapes do not broadcast */
tg_tensor *nn_broadcast_sub(const char *loss, tg_tensor *input, tg_tensor *target, tg_reduction r);

#endif
