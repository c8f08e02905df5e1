/* Shared by the files of nn/: the ops machinery (kernels, ops_record) and
 * the helper that makes module state persistent. */
#ifndef TG_NN_INTERNAL_H
#define TG_NN_INTERNAL_H

#include "ops_internal.h"
#include "tg_nn.h"

/* a zero-filled tensor owned by scope 0 (persistent) whatever scope is open */
tg_tensor *nn_persistent_zeros(tg_dtype dt, int ndim, const size_t *shape);

/* module hooks (nn/module_hooks.c): tg_module_forward of a module with
 * hooks (m and x checked), and the hooks' release at tg_module_free */
tg_tensor *nn_module_forward_hooked(tg_module *m, tg_tensor *x);
void nn_module_hooks_free(tg_module *m);

/* a parameterless module whose forward reads cfg_f[0..1] or cfg_i[0..1]
 * (nn/layers.c) */
tg_module *nn_stateless(const char *type, tg_forward_fn fwd, double f, int i0, int i1);

/* extra_repr text (nn/summary.c), Python's way of printing values: each
 * returns one of a ring of thread-local buffers, enough for the arguments
 * of one call. pyfloat: repr(float) (1e-05, 0.5, 1.0); pynum: an integral
 * value as an int (Softplus' beta=1), else pyfloat; pytuple: (3,) (3, 5);
 * pysize2: 2 when both equal, else (2, 3), as torch prints the int or the
 * pair the user passed */
const char *nn_pyfloat(double v);
const char *nn_pynum(double v);
const char *nn_pybool(bool b);
const char *nn_pytuple(int n, const int64_t *v);
const char *nn_pyshape(int n, const size_t *shape);
const char *nn_pysize2(const int64_t v[2]);
const char *nn_pyscale2(const double v[2]); /* 2.0 or (2.0, 3.0), as pysize2 */
/* sets m's extra_repr (when m is not NULL) and returns m: a constructor's
 * `return nn_with_repr(m, ...)` */
tg_module *nn_with_repr(tg_module *m, const char *fmt, ...) TG_PRINTF(2, 3);
/* torch's _ConvNd.extra_repr for sd spatial dims */
tg_module *nn_conv_repr(tg_module *m, size_t in, size_t out, int sd, const int64_t *kernel,
                        const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                        const int64_t *out_pad, int64_t groups, bool bias);

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
