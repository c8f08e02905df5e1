/* ops layer: every differentiable op. Each returns a new tensor in the
 * current scope (views share storage), or NULL with a message in
 * tg_last_error(). A NULL argument gives NULL, so a whole expression can be
 * checked once at the end. Binary ops broadcast as NumPy does; both operands
 * must have the same float dtype. */
#ifndef TG_OPS_H
#define TG_OPS_H

#include "tg_autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- binary, broadcasting (ops/binary.c) */
tg_tensor *tg_add(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_sub(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_mul(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_div(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_pow(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b); /* ties: gradient split 1/2 each, as PyTorch */
tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b);

/* ---- with a number (ops/scalar.c) */
tg_tensor *tg_add_scalar(tg_tensor *a, double s);
tg_tensor *tg_sub_scalar(tg_tensor *a, double s);  /* a - s */
tg_tensor *tg_rsub_scalar(tg_tensor *a, double s); /* s - a */
tg_tensor *tg_mul_scalar(tg_tensor *a, double s);
tg_tensor *tg_div_scalar(tg_tensor *a, double s);  /* a / s */
tg_tensor *tg_pow_scalar(tg_tensor *a, double e);  /* a ** e */

/* ---- unary (ops/unary.c) */
tg_tensor *tg_neg(tg_tensor *a);
tg_tensor *tg_exp(tg_tensor *a);
tg_tensor *tg_log(tg_tensor *a);
tg_tensor *tg_sqrt(tg_tensor *a);
tg_tensor *tg_abs(tg_tensor *a);
tg_tensor *tg_sin(tg_tensor *a);
tg_tensor *tg_cos(tg_tensor *a);
tg_tensor *tg_tanh(tg_tensor *a);
tg_tensor *tg_sigmoid(tg_tensor *a);
tg_tensor *tg_relu(tg_tensor *a);
tg_tensor *tg_leaky_relu(tg_tensor *a, double negative_slope);
tg_tensor *tg_elu(tg_tensor *a, double alpha);
tg_tensor *tg_softplus(tg_tensor *a, double beta, double threshold); /* PyTorch: 1, 20 */
tg_tensor *tg_clamp(tg_tensor *a, double lo, double hi); /* NaN bound = unbounded */

/* ---- reductions (ops/reduce.c). dims: n_dims entries, negative counts
 * from the end; n_dims 0 reduces everything. */
tg_tensor *tg_sum(tg_tensor *a);
tg_tensor *tg_sum_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
tg_tensor *tg_mean(tg_tensor *a);
tg_tensor *tg_mean_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
tg_tensor *tg_var(tg_tensor *a, bool unbiased);
tg_tensor *tg_var_dims(tg_tensor *a, int n_dims, const int *dims, bool unbiased, bool keepdim);
tg_tensor *tg_logsumexp(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
/* max/min of all elements; the gradient goes to the first maximal element */
tg_tensor *tg_max(tg_tensor *a);
tg_tensor *tg_min(tg_tensor *a);
/* along dim; *indices (int64, may be NULL) receives the argmax/argmin */
tg_tensor *tg_max_dim(tg_tensor *a, int dim, bool keepdim, tg_tensor **indices);
tg_tensor *tg_min_dim(tg_tensor *a, int dim, bool keepdim, tg_tensor **indices);
/* sum t down to shape (each target dim 1 or equal; leading dims dropped):
 * the reduction that undoes broadcasting */
tg_tensor *tg_sum_to_shape(tg_tensor *t, int ndim, const size_t *shape);

/* ---- linear algebra (ops/linalg.c), through BLAS */
/* PyTorch semantics: 1-D·1-D dot, 2-D@2-D, matrix@vector, vector@matrix,
 * batched with broadcast batch dims. Transposed views are not copied. */
tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_dot(tg_tensor *a, tg_tensor *b);   /* 1-D vectors */
tg_tensor *tg_outer(tg_tensor *a, tg_tensor *b); /* 1-D vectors */
/* threads BLAS may use (OpenBLAS); n <= 0 leaves the library default */
void tg_set_num_threads(int n);

/* ---- softmax and indexing (ops/softmax.c, ops/index.c) */
tg_tensor *tg_softmax(tg_tensor *a, int dim);
tg_tensor *tg_log_softmax(tg_tensor *a, int dim);
/* out[..i..] = a[..index[..i..]..] along dim; index is int64, same ndim */
tg_tensor *tg_gather(tg_tensor *a, int dim, tg_tensor *index);
/* out = a; out[..index..] += src along dim */
tg_tensor *tg_scatter_add(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src);
/* rows (entries along dim) picked by a 1-D int64 index */
tg_tensor *tg_index_select(tg_tensor *a, int dim, tg_tensor *index);
/* out = a; out.select(dim, index[i]) += src.select(dim, i) */
tg_tensor *tg_index_add(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src);

/* ---- shape and views (ops/shape.c). Views share storage, no copy. */
tg_tensor *tg_reshape(tg_tensor *a, int ndim, const size_t *shape); /* view when possible */
tg_tensor *tg_view(tg_tensor *a, int ndim, const size_t *shape);    /* contiguous only */
/* reshape with one dim inferred: pass -1 in it */
tg_tensor *tg_reshape_infer(tg_tensor *a, int ndim, const long *shape);
tg_tensor *tg_flatten(tg_tensor *a, int start_dim, int end_dim);
tg_tensor *tg_squeeze(tg_tensor *a, int dim);   /* a size-1 dim */
tg_tensor *tg_squeeze_all(tg_tensor *a);
tg_tensor *tg_unsqueeze(tg_tensor *a, int dim);
tg_tensor *tg_transpose(tg_tensor *a, int dim0, int dim1);
tg_tensor *tg_t(tg_tensor *a); /* transpose of a 1-D or 2-D tensor */
tg_tensor *tg_permute(tg_tensor *a, const int *dims); /* a->ndim entries */
tg_tensor *tg_expand(tg_tensor *a, int ndim, const size_t *shape);
tg_tensor *tg_narrow(tg_tensor *a, int dim, size_t start, size_t length);
/* Python's a[start:end:step] along dim; negative start/end count from the end */
tg_tensor *tg_slice(tg_tensor *a, int dim, long start, long end, long step);
tg_tensor *tg_select(tg_tensor *a, int dim, size_t index); /* drops dim */
tg_tensor *tg_contiguous(tg_tensor *a); /* a itself if already contiguous */
tg_tensor *tg_clone(tg_tensor *a);
tg_tensor *tg_to_dtype(tg_tensor *a, tg_dtype dt);
tg_tensor *tg_cat(int n, tg_tensor **ts, int dim);
tg_tensor *tg_stack(int n, tg_tensor **ts, int dim);

#ifdef __cplusplus
}
#endif
#endif
