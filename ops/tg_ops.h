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
TG_API tg_tensor *tg_add(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_sub(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_mul(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_div(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_pow(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b); /* ties: gradient split 1/2 each, as PyTorch */
TG_API tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b);

/* ---- with a number (ops/scalar.c) */
TG_API tg_tensor *tg_add_scalar(tg_tensor *a, double s);
TG_API tg_tensor *tg_sub_scalar(tg_tensor *a, double s);  /* a - s */
TG_API tg_tensor *tg_rsub_scalar(tg_tensor *a, double s); /* s - a */
TG_API tg_tensor *tg_mul_scalar(tg_tensor *a, double s);
TG_API tg_tensor *tg_div_scalar(tg_tensor *a, double s);  /* a / s */
TG_API tg_tensor *tg_pow_scalar(tg_tensor *a, double e);  /* a ** e */

/* ---- unary (ops/unary.c) */
TG_API tg_tensor *tg_neg(tg_tensor *a);
TG_API tg_tensor *tg_exp(tg_tensor *a);
TG_API tg_tensor *tg_log(tg_tensor *a);
TG_API tg_tensor *tg_sqrt(tg_tensor *a);
TG_API tg_tensor *tg_abs(tg_tensor *a);
TG_API tg_tensor *tg_sin(tg_tensor *a);
TG_API tg_tensor *tg_cos(tg_tensor *a);
TG_API tg_tensor *tg_tanh(tg_tensor *a);
TG_API tg_tensor *tg_sigmoid(tg_tensor *a);
TG_API tg_tensor *tg_relu(tg_tensor *a);
TG_API tg_tensor *tg_leaky_relu(tg_tensor *a, double negative_slope);
TG_API tg_tensor *tg_elu(tg_tensor *a, double alpha);
TG_API tg_tensor *tg_softplus(tg_tensor *a, double beta, double threshold); /* PyTorch: 1, 20 */
TG_API tg_tensor *tg_clamp(tg_tensor *a, double lo, double hi); /* NaN bound = unbounded */

/* ---- more unary math (ops/math.c), PyTorch's definitions. int64/bool
 * input: square, sign, floor, ceil, round, trunc keep the dtype (bool
 * square gives int64; floor/ceil/round/trunc refuse bool); frac refuses
 * integers; the rest compute in float32. round is half to even. sign and
 * the rounding family have zero gradient, frac's is 1. */
TG_API tg_tensor *tg_log1p(tg_tensor *a); /* log(1 + a) */
TG_API tg_tensor *tg_expm1(tg_tensor *a); /* exp(a) - 1 */
TG_API tg_tensor *tg_log2(tg_tensor *a); /* log2(a) */
TG_API tg_tensor *tg_log10(tg_tensor *a); /* log10(a) */
TG_API tg_tensor *tg_exp2(tg_tensor *a); /* 2 ** a */
TG_API tg_tensor *tg_tan(tg_tensor *a); /* tan(a) */
TG_API tg_tensor *tg_asin(tg_tensor *a); /* asin(a) */
TG_API tg_tensor *tg_acos(tg_tensor *a); /* acos(a) */
TG_API tg_tensor *tg_atan(tg_tensor *a); /* atan(a) */
TG_API tg_tensor *tg_sinh(tg_tensor *a); /* sinh(a) */
TG_API tg_tensor *tg_cosh(tg_tensor *a); /* cosh(a) */
TG_API tg_tensor *tg_asinh(tg_tensor *a); /* asinh(a) */
TG_API tg_tensor *tg_acosh(tg_tensor *a); /* acosh(a) */
TG_API tg_tensor *tg_atanh(tg_tensor *a); /* atanh(a) */
TG_API tg_tensor *tg_erf(tg_tensor *a); /* 2/sqrt(pi) * integral_0^a exp(-t^2) dt */
TG_API tg_tensor *tg_erfc(tg_tensor *a); /* 1 - erf(a) */
TG_API tg_tensor *tg_erfinv(tg_tensor *a); /* y with erf(y) = a; +-inf at +-1 */
TG_API tg_tensor *tg_reciprocal(tg_tensor *a); /* 1 / a */
TG_API tg_tensor *tg_rsqrt(tg_tensor *a); /* 1 / sqrt(a) */
TG_API tg_tensor *tg_square(tg_tensor *a); /* a * a */
TG_API tg_tensor *tg_sign(tg_tensor *a); /* -1, 0 or 1 (NaN gives 0, as PyTorch) */
TG_API tg_tensor *tg_floor(tg_tensor *a); /* largest integer <= a */
TG_API tg_tensor *tg_ceil(tg_tensor *a); /* smallest integer >= a */
TG_API tg_tensor *tg_round(tg_tensor *a); /* nearest integer, ties to even */
TG_API tg_tensor *tg_trunc(tg_tensor *a); /* integer part, toward zero */
TG_API tg_tensor *tg_frac(tg_tensor *a); /* a - trunc(a) */
/* NaN -> nan, +inf -> posinf, -inf -> neginf; posinf/neginf NaN: the dtype's
 * largest/lowest finite value (PyTorch's None); gradient where a is finite */
TG_API tg_tensor *tg_nan_to_num(tg_tensor *a, double nan, double posinf, double neginf);

/* ---- activations (ops/activation.c), PyTorch's definitions and its
 * gradients at the kinks. Integer input: hardtanh/relu6 keep the dtype
 * (bool refused), softsign computes in float32, the rest refuse it. */
TG_API tg_tensor *tg_gelu(tg_tensor *a, const char *approximate); /* "none": a Phi(a); "tanh": PyTorch's tanh approximation */
TG_API tg_tensor *tg_silu(tg_tensor *a); /* a sigmoid(a) */
TG_API tg_tensor *tg_mish(tg_tensor *a); /* a tanh(softplus(a)) */
TG_API tg_tensor *tg_hardtanh(tg_tensor *a, double min_val, double max_val); /* clamp(a, min_val, max_val); PyTorch: -1, 1 */
TG_API tg_tensor *tg_relu6(tg_tensor *a); /* hardtanh(a, 0, 6) */
TG_API tg_tensor *tg_selu(tg_tensor *a); /* scale (a > 0 ? a : alpha (exp(a) - 1)), PyTorch's constants */
TG_API tg_tensor *tg_celu(tg_tensor *a, double alpha); /* max(0, a) + min(0, alpha (exp(a / alpha) - 1)); alpha != 0 */
TG_API tg_tensor *tg_softsign(tg_tensor *a); /* a / (1 + |a|) */
TG_API tg_tensor *tg_hardsigmoid(tg_tensor *a); /* clamp(a + 3, 0, 6) / 6 */
TG_API tg_tensor *tg_hardswish(tg_tensor *a); /* a hardsigmoid(a) */
TG_API tg_tensor *tg_logsigmoid(tg_tensor *a); /* log(sigmoid(a)), stable */

/* ---- binary math, broadcasting (ops/binary_math.c), PyTorch's definitions.
 * Integer/bool operands: atan2 and copysign give float32, hypot refuses
 * them, fmod/remainder keep int64 (bool refused; a zero integer divisor is
 * an error, torch's ZeroDivisionError). lerp wants floats of one dtype. */
TG_API tg_tensor *tg_atan2(tg_tensor *a, tg_tensor *b);     /* angle of (b, a), in [-pi, pi] */
TG_API tg_tensor *tg_fmod(tg_tensor *a, tg_tensor *b);      /* a - trunc(a / b) * b, sign of a */
TG_API tg_tensor *tg_remainder(tg_tensor *a, tg_tensor *b); /* a - floor(a / b) * b, sign of b */
TG_API tg_tensor *tg_hypot(tg_tensor *a, tg_tensor *b);     /* sqrt(a^2 + b^2) */
TG_API tg_tensor *tg_copysign(tg_tensor *a, tg_tensor *b);  /* |a| with b's sign bit; no gradient to b */
TG_API tg_tensor *tg_lerp(tg_tensor *start, tg_tensor *end, tg_tensor *weight); /* start + weight * (end - start) */
TG_API tg_tensor *tg_lerp_scalar(tg_tensor *start, tg_tensor *end, double weight);
/* clamp with tensor bounds (all broadcast), as torch.clamp(a, min=lo, max=hi):
 * min(max(a, lo), hi), so lo > hi gives hi; the gradient goes to a where
 * lo <= a <= hi, to lo where a < lo <= hi, else to hi; NaN anywhere is NaN */
TG_API tg_tensor *tg_clamp_tensor(tg_tensor *a, tg_tensor *lo, tg_tensor *hi);
TG_API tg_tensor *tg_clamp_min_tensor(tg_tensor *a, tg_tensor *lo); /* max(a, lo); ties to a */
TG_API tg_tensor *tg_clamp_max_tensor(tg_tensor *a, tg_tensor *hi); /* min(a, hi); ties to a */

/* ---- reductions (ops/reduce.c). dims: n_dims entries, negative counts
 * from the end; n_dims 0 reduces everything. */
TG_API tg_tensor *tg_sum(tg_tensor *a);
TG_API tg_tensor *tg_sum_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
TG_API tg_tensor *tg_mean(tg_tensor *a);
TG_API tg_tensor *tg_mean_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
TG_API tg_tensor *tg_var(tg_tensor *a, bool unbiased);
TG_API tg_tensor *tg_var_dims(tg_tensor *a, int n_dims, const int *dims, bool unbiased, bool keepdim);
TG_API tg_tensor *tg_logsumexp(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
/* max/min of all elements; the gradient is split evenly among the maximal
 * elements (the NaNs, if the result is NaN), as PyTorch */
TG_API tg_tensor *tg_max(tg_tensor *a);
TG_API tg_tensor *tg_min(tg_tensor *a);
/* along dim; *indices (int64, may be NULL) receives the argmax/argmin */
TG_API tg_tensor *tg_max_dim(tg_tensor *a, int dim, bool keepdim, tg_tensor **indices);
TG_API tg_tensor *tg_min_dim(tg_tensor *a, int dim, bool keepdim, tg_tensor **indices);
/* sum t down to shape (each target dim 1 or equal; leading dims dropped):
 * the reduction that undoes broadcasting */
TG_API tg_tensor *tg_sum_to_shape(tg_tensor *t, int ndim, const size_t *shape);

/* ---- more reductions (ops/reduce_stats.c), PyTorch's semantics */
/* product of all elements / along dim; the gradient is the product of the
 * others (one zero: nonzero only there; two or more: zero) */
TG_API tg_tensor *tg_prod(tg_tensor *a);
TG_API tg_tensor *tg_prod_dim(tg_tensor *a, int dim, bool keepdim);
/* sqrt(var); gradient 0 where the std is 0, as PyTorch */
TG_API tg_tensor *tg_std(tg_tensor *a, bool unbiased);
TG_API tg_tensor *tg_std_dims(tg_tensor *a, int n_dims, const int *dims, bool unbiased, bool keepdim);
/* (sum |x|^p)^(1/p) over dims; p = INFINITY: max |x|, -INFINITY: min |x|,
 * 0: count of nonzeros (zero gradient); "fro" is p = 2. Gradient 0 where the
 * norm is 0 (and, p < 1, where x is 0) */
TG_API tg_tensor *tg_norm(tg_tensor *a, double p, int n_dims, const int *dims, bool keepdim);
TG_API tg_tensor *tg_linalg_vector_norm(tg_tensor *a, double ord, int n_dims, const int *dims, bool keepdim);
/* max/min over dims, NaN propagating; the gradient is split evenly among ties */
TG_API tg_tensor *tg_amax(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
TG_API tg_tensor *tg_amin(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
/* int64 index of the first max/min (of the flattened tensor / along dim);
 * NaN counts as the extreme; no gradient */
TG_API tg_tensor *tg_argmax(tg_tensor *a);
TG_API tg_tensor *tg_argmin(tg_tensor *a);
TG_API tg_tensor *tg_argmax_dim(tg_tensor *a, int dim, bool keepdim);
TG_API tg_tensor *tg_argmin_dim(tg_tensor *a, int dim, bool keepdim);
/* lower middle of all elements (NaN if any is NaN); gradient split among ties */
TG_API tg_tensor *tg_median(tg_tensor *a);
/* along dim, with the int64 position it came from in *indices (may be NULL);
 * the gradient goes to that position. kthvalue: k-th smallest, k from 1 */
TG_API tg_tensor *tg_median_dim(tg_tensor *a, int dim, bool keepdim, tg_tensor **indices);
TG_API tg_tensor *tg_kthvalue(tg_tensor *a, long k, int dim, bool keepdim, tg_tensor **indices);

/* ---- scans along a dim (ops/scan.c) */
TG_API tg_tensor *tg_cumsum(tg_tensor *a, int dim);
TG_API tg_tensor *tg_cumprod(tg_tensor *a, int dim); /* gradient exact with zeros too */
TG_API tg_tensor *tg_logcumsumexp(tg_tensor *a, int dim); /* log cumsum exp, stable */

/* ---- sorting (ops/sort.c): stable, NaN above every number */
/* values along dim and (if indices is not NULL) their int64 source positions;
 * the gradient goes back to those positions */
TG_API tg_tensor *tg_sort(tg_tensor *a, int dim, bool descending, tg_tensor **indices);
/* the k largest (or smallest) along dim, always in sorted order */
TG_API tg_tensor *tg_topk(tg_tensor *a, long k, int dim, bool largest, bool sorted, tg_tensor **indices);
/* sorted distinct values of the flattened a (any dtype, no gradient);
 * *inverse (a's shape) and *counts are int64, each only if not NULL */
TG_API tg_tensor *tg_unique(tg_tensor *a, bool sorted, tg_tensor **inverse, tg_tensor **counts);

/* ---- linear algebra (ops/linalg.c), through BLAS */
/* PyTorch semantics: 1-D·1-D dot, 2-D@2-D, matrix@vector, vector@matrix,
 * batched with broadcast batch dims. Transposed views are not copied. */
TG_API tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_dot(tg_tensor *a, tg_tensor *b);   /* 1-D vectors */
TG_API tg_tensor *tg_outer(tg_tensor *a, tg_tensor *b); /* 1-D vectors */
/* threads for large products (>= 4e6 flop): tapegrad's own workers, each
 * running a one-thread BLAS call on a block of the result (ops/linalg.c).
 * Default: OPENBLAS_NUM_THREADS, or all cores. n <= 0 changes nothing. */
TG_API void tg_set_num_threads(int n);

/* ---- batched and scaled products (ops/linalg_batched.c), PyTorch's shape
 * rules: no batch broadcasting; input expands to the product's shape;
 * beta 0 ignores input (NaN and inf in it too) */
TG_API tg_tensor *tg_bmm(tg_tensor *a, tg_tensor *b); /* [b,n,k] @ [b,k,p] -> [b,n,p] */
TG_API tg_tensor *tg_mv(tg_tensor *a, tg_tensor *v);  /* [n,k] @ [k] -> [n] */
TG_API tg_tensor *tg_addmm(tg_tensor *input, tg_tensor *m1, tg_tensor *m2, double beta, double alpha); /* beta*input + alpha*m1@m2 */
TG_API tg_tensor *tg_baddbmm(tg_tensor *input, tg_tensor *b1, tg_tensor *b2, double beta, double alpha); /* beta*input + alpha*bmm(b1, b2) */
/* ---- einsum (ops/einsum.c): "ij,jk->ik" as PyTorch (implicit output: the
 * ellipsis dims, then the subscripts used once in ASCII order; size-1 dims
 * and "..." dims broadcast; "ii->i" a diagonal). Left to right, one batched
 * matmul per pair */
TG_API tg_tensor *tg_einsum(const char *equation, int n, tg_tensor **operands);

/* ---- softmax and indexing (ops/softmax.c, ops/index.c) */
TG_API tg_tensor *tg_softmax(tg_tensor *a, int dim);
TG_API tg_tensor *tg_log_softmax(tg_tensor *a, int dim);
/* out[..i..] = a[..index[..i..]..] along dim; index is int64, same ndim */
TG_API tg_tensor *tg_gather(tg_tensor *a, int dim, tg_tensor *index);
/* out = a; out[..index..] += src along dim */
TG_API tg_tensor *tg_scatter_add(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src);
/* rows (entries along dim) picked by a 1-D int64 index */
TG_API tg_tensor *tg_index_select(tg_tensor *a, int dim, tg_tensor *index);
/* out = a; out.select(dim, index[i]) += src.select(dim, i) */
TG_API tg_tensor *tg_index_add(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src);

/* ---- shape and views (ops/shape.c). Views share storage, no copy. */
/* one size may be (size_t)-1, TG_SHAPE(-1, 3): inferred, as PyTorch's -1 */
TG_API tg_tensor *tg_reshape(tg_tensor *a, int ndim, const size_t *shape); /* view when possible */
TG_API tg_tensor *tg_view(tg_tensor *a, int ndim, const size_t *shape); /* where the strides allow */
/* reshape with one dim inferred: pass -1 in it */
TG_API tg_tensor *tg_reshape_infer(tg_tensor *a, int ndim, const long *shape);
TG_API tg_tensor *tg_flatten(tg_tensor *a, int start_dim, int end_dim);
TG_API tg_tensor *tg_squeeze(tg_tensor *a, int dim);   /* a size-1 dim */
TG_API tg_tensor *tg_squeeze_all(tg_tensor *a);
TG_API tg_tensor *tg_unsqueeze(tg_tensor *a, int dim);
TG_API tg_tensor *tg_transpose(tg_tensor *a, int dim0, int dim1);
TG_API tg_tensor *tg_t(tg_tensor *a); /* transpose of a 1-D or 2-D tensor */
TG_API tg_tensor *tg_permute(tg_tensor *a, const int *dims); /* a->ndim entries */
TG_API tg_tensor *tg_expand(tg_tensor *a, int ndim, const size_t *shape); /* -1: keep that dim */
/* negative start / index count from the end, as PyTorch */
TG_API tg_tensor *tg_narrow(tg_tensor *a, int dim, long start, size_t length);
/* Python's a[start:end:step] along dim; negative start/end count from the end */
TG_API tg_tensor *tg_slice(tg_tensor *a, int dim, long start, long end, long step);
TG_API tg_tensor *tg_select(tg_tensor *a, int dim, long index); /* drops dim */
TG_API tg_tensor *tg_contiguous(tg_tensor *a); /* a itself if already contiguous */
TG_API tg_tensor *tg_clone(tg_tensor *a);
TG_API tg_tensor *tg_to_dtype(tg_tensor *a, tg_dtype dt);
TG_API tg_tensor *tg_cat(int n, tg_tensor **ts, int dim);
TG_API tg_tensor *tg_stack(int n, tg_tensor **ts, int dim);

/* ---- splitting into views (ops/shape_split.c). Each returns the number
 * of parts written to out (views of a, their backward the slice's), or -1. */
/* parts of sizes[0..n-1] along dim; the sizes sum to a's size there; out holds n */
TG_API int tg_split(tg_tensor *a, size_t n, const size_t *sizes, int dim, tg_tensor **out);
/* parts of split_size (the last shorter); at most max_out of them */
TG_API int tg_split_size(tg_tensor *a, size_t split_size, int dim, size_t max_out, tg_tensor **out);
/* at most chunks parts of ceil(len / chunks) each, as PyTorch's chunk; out holds chunks */
TG_API int tg_chunk(tg_tensor *a, size_t chunks, int dim, tg_tensor **out);
/* out[k] = a.select(dim, k) for every k; at most max_out of them */
TG_API int tg_unbind(tg_tensor *a, int dim, size_t max_out, tg_tensor **out);
/* out[k] = ts[k] (0-d or 1-d) expanded over the grid of all n sizes; indexing
 * "ij" (NULL) or "xy" (the first two grid dims swapped); returns n or -1 */
TG_API int tg_meshgrid(int n, tg_tensor **ts, const char *indexing, tg_tensor **out);

/* ---- copying shape ops (ops/shape_copy.c) */
/* out = a reversed along each of dims[0..n-1] (a copy, also for n = 0) */
TG_API tg_tensor *tg_flip(tg_tensor *a, int n, const int *dims);
/* out[..., i, j] = a[..., i, j] where j - i <= diagonal (tril) / >= diagonal (triu), else 0 */
TG_API tg_tensor *tg_tril(tg_tensor *a, long diagonal);
TG_API tg_tensor *tg_triu(tg_tensor *a, long diagonal);

/* out = a rolled by shifts[k] along dims[k]; n_dims 0: over the flattened tensor (one shift) */
TG_API tg_tensor *tg_roll(tg_tensor *a, int n_shifts, const long *shifts, int n_dims, const int *dims);
/* out = a repeated reps[k] times along dim k (n >= a's ndim; leading reps add dims) */
TG_API tg_tensor *tg_repeat(tg_tensor *a, int n, const size_t *reps);
/* repeat with reps padded by leading 1s to a's ndim */
TG_API tg_tensor *tg_tile(tg_tensor *a, int n, const size_t *reps);
/* each entry along *dim (dim NULL: of the flattened a) repeated `repeats` times */
TG_API tg_tensor *tg_repeat_interleave(tg_tensor *a, size_t repeats, const int *dim);
/* entry i repeated repeats[i] times (int64, 0-d/1-d; one entry applies to all) */
TG_API tg_tensor *tg_repeat_interleave_tensor(tg_tensor *a, tg_tensor *repeats, const int *dim);
/* int64 a -> int64 a.shape + [num_classes] with 1 at a's value; -1: max(a) + 1 classes */
TG_API tg_tensor *tg_one_hot(tg_tensor *a, long num_classes);

/* ---- diagonals (ops/shape_diag.c) */
/* view of the diagonal offset of dims (dim1, dim2), appended as the last dim */
TG_API tg_tensor *tg_diagonal(tg_tensor *a, long offset, int dim1, int dim2);
/* 1-d: square matrix with a on diagonal offset; 2-d: a copy of diagonal offset */
TG_API tg_tensor *tg_diag(tg_tensor *a, long offset);
/* out = sum of the main diagonal of a matrix */
TG_API tg_tensor *tg_trace(tg_tensor *a);

/* ---- padding (ops/pad.c) */
typedef enum { TG_PAD_CONSTANT, TG_PAD_REFLECT, TG_PAD_REPLICATE, TG_PAD_CIRCULAR } tg_pad_mode;
/* PyTorch's F.pad: pad[2k], pad[2k+1] pad the k-th dim from the end before / after
 * (negative: crop); value fills constant padding. reflect/replicate: 2-4-d inputs
 * with one leading dim unpadded or two; circular: exactly two leading dims */
TG_API tg_tensor *tg_pad(tg_tensor *a, int n, const long *pad, tg_pad_mode mode, double value);

/* ---- sliding windows (ops/unfold.c), torch.nn.functional.unfold/fold.
 * Spatial pairs are (height, width); a NULL dilation, padding or stride is
 * torch's default (1, 0, 1). Input (N, C, H, W) or unbatched (C, H, W). */
/* im2col: out[n, (c kH + i) kW + j, oh Wo + ow] = x[n, c, oh s0 - p0 + i d0, ow s1 - p1 + j d1] (0 outside) */
TG_API tg_tensor *tg_unfold(tg_tensor *x, const int64_t kernel[2], const int64_t dilation[2],
                     const int64_t padding[2], const int64_t stride[2]);
/* col2im, unfold's adjoint: x (N, C kH kW, L) summed into (N, C, output_size) */
TG_API tg_tensor *tg_fold(tg_tensor *x, const int64_t output_size[2], const int64_t kernel[2],
                   const int64_t dilation[2], const int64_t padding[2], const int64_t stride[2]);

/* ---- convolutions (ops/conv.c), torch.nn.functional's: input (N, C, [H,] W)
 * or unbatched; weight (O, C / groups, [kH,] kW); bias (O) or NULL; float32,
 * float64 or int64 (exact below 2^53). NULL stride, padding, dilation,
 * output_padding arrays: torch's defaults (1, 0, 1, 0). */
/* out[n, o] = bias[o] + sum over the group's channels c of cross-correlation(x[n, c], w[o, c]) */
TG_API tg_tensor *tg_conv2d(tg_tensor *x, tg_tensor *w, tg_tensor *bias, const int64_t stride[2],
                     const int64_t padding[2], const int64_t dilation[2], int64_t groups);
/* padding as torch's string: "valid" (none; NULL too) or "same" (stride 1; output
 * size = input size, the odd padding on the right/bottom) */
TG_API tg_tensor *tg_conv2d_padding(tg_tensor *x, tg_tensor *w, tg_tensor *bias, const int64_t stride[2],
                             const char *padding, const int64_t dilation[2], int64_t groups);
TG_API tg_tensor *tg_conv1d(tg_tensor *x, tg_tensor *w, tg_tensor *bias, int64_t stride, int64_t padding,
                     int64_t dilation, int64_t groups);
TG_API tg_tensor *tg_conv1d_padding(tg_tensor *x, tg_tensor *w, tg_tensor *bias, int64_t stride,
                             const char *padding, int64_t dilation, int64_t groups);
/* the adjoint of conv2d in x (weight (C_in, C_out / groups, kH, kW)), plus bias:
 * size (H - 1) s - 2 p + d (k - 1) + output_padding + 1 */
TG_API tg_tensor *tg_conv_transpose2d(tg_tensor *x, tg_tensor *w, tg_tensor *bias, const int64_t stride[2],
                               const int64_t padding[2], const int64_t output_padding[2],
                               int64_t groups, const int64_t dilation[2]);
TG_API tg_tensor *tg_conv_transpose1d(tg_tensor *x, tg_tensor *w, tg_tensor *bias, int64_t stride,
                               int64_t padding, int64_t output_padding, int64_t groups,
                               int64_t dilation);
/* ---- moving dims (ops/shape_move.c): views */
/* dims src[i] go to places dst[i]; the others keep their order */
TG_API tg_tensor *tg_movedim(tg_tensor *a, int n, const int *src, const int *dst);
TG_API tg_tensor *tg_swapaxes(tg_tensor *a, int axis0, int axis1); /* tg_transpose */
TG_API tg_tensor *tg_swapdims(tg_tensor *a, int dim0, int dim1);   /* tg_transpose */
/* ---- indexing by composition (ops/scatter.c) */
/* gather(a, dim, indices) with a and indices broadcast except along dim;
 * a may be int64 (as scatter, scatter_value and index_put), without grad */
TG_API tg_tensor *tg_take_along_dim(tg_tensor *a, tg_tensor *indices, int dim);
/* PyTorch's take_along_dim(a, indices) with dim=None: a[flat indices],
 * both flattened, a 1-D result */
TG_API tg_tensor *tg_take_along_dim_flat(tg_tensor *a, tg_tensor *indices);
/* out = a; out.select(dim, i) = value for i in index (0-d/1-D int64,
 * negative counts from the end); zero gradient where filled */
TG_API tg_tensor *tg_index_fill(tg_tensor *a, int dim, tg_tensor *index, double value);
/* out = a; out[..index[p]..] = src[p] (or value) along dim, shapes as
 * scatter_add; of repeated targets the last write stays (unspecified in
 * PyTorch). Gradient: a's with the written places zeroed, src's gathered */
TG_API tg_tensor *tg_scatter(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src);
TG_API tg_tensor *tg_scatter_value(tg_tensor *a, int dim, tg_tensor *index, double value);
/* out = a; out[i0, .., i(n-1)] = values (+= with accumulate): n int64 index
 * tensors broadcast together, negative counting from the end; a bool mask
 * (not 0-d) stands for its nonzero() columns, one per dim it covers; values
 * broadcast to the indexed shape; repeated places without accumulate: last */
TG_API tg_tensor *tg_index_put(tg_tensor *a, int n, tg_tensor **indices, tg_tensor *values, bool accumulate);

/* ---- sampling from the seeded generator (ops/random.c); rng NULL = the
 * default generator; no gradients. The samples are tapegrad's own (the
 * same seed gives the same samples on every machine), not PyTorch's. */
/* int64 uniform in [low, high) */
TG_API tg_tensor *tg_randint(tg_rng *rng, int64_t low, int64_t high, int ndim, const size_t *shape);
/* a random permutation of 0..n-1 (int64) */
TG_API tg_tensor *tg_randperm(tg_rng *rng, size_t n);
/* 1 with probability p, else 0, elementwise, in p's dtype */
TG_API tg_tensor *tg_bernoulli(tg_rng *rng, tg_tensor *p);
/* mean + std N(0,1) and U[lo, hi), the two parameters broadcasting */
TG_API tg_tensor *tg_normal_tensor(tg_rng *rng, tg_tensor *mean, tg_tensor *std);
TG_API tg_tensor *tg_uniform_tensor(tg_rng *rng, tg_tensor *lo, tg_tensor *hi);
/* int64 category indices drawn in proportion to the non-negative weights
 * of each row of probs (C) or (N, C): (num_samples) or (N, num_samples);
 * without replacement no category is drawn twice in a row */
TG_API tg_tensor *tg_multinomial(tg_rng *rng, tg_tensor *probs, size_t num_samples, bool replacement);
/* ---- comparisons and logic (ops/compare.c). Results are bool and carry
 * no gradient (never a grad_fn, never requires_grad). */
/* out = a OP b elementwise, broadcasting; a and b of one dtype (any) */
TG_API tg_tensor *tg_eq(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_ne(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_lt(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_le(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_gt(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_ge(tg_tensor *a, tg_tensor *b);
/* out = a OP s; float32 compares with (float)s, int64 and bool exactly */
TG_API tg_tensor *tg_eq_scalar(tg_tensor *a, double s);
TG_API tg_tensor *tg_ne_scalar(tg_tensor *a, double s);
TG_API tg_tensor *tg_lt_scalar(tg_tensor *a, double s);
TG_API tg_tensor *tg_le_scalar(tg_tensor *a, double s);
TG_API tg_tensor *tg_gt_scalar(tg_tensor *a, double s);
TG_API tg_tensor *tg_ge_scalar(tg_tensor *a, double s);
/* out = isnan(a) etc.; int64 and bool are always finite */
TG_API tg_tensor *tg_isnan(tg_tensor *a);
TG_API tg_tensor *tg_isinf(tg_tensor *a);
TG_API tg_tensor *tg_isfinite(tg_tensor *a);
/* inputs of any dtypes, nonzero (NaN too) = true; broadcasting */
TG_API tg_tensor *tg_logical_and(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_logical_or(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_logical_xor(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_logical_not(tg_tensor *a);
/* is any / every element nonzero (empty: false / true); the _dims forms
 * reduce the given dims (n_dims 0: all) */
TG_API tg_tensor *tg_any(tg_tensor *a);
TG_API tg_tensor *tg_all(tg_tensor *a);
TG_API tg_tensor *tg_any_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim);
TG_API tg_tensor *tg_all_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim);

/* ---- selection by a bool mask (ops/select.c) */
/* out = cond ? a : b, all three broadcast; a, b of one dtype; d/da = cond,
 * d/db = !cond */
TG_API tg_tensor *tg_where(tg_tensor *cond, tg_tensor *a, tg_tensor *b);
/* out = mask ? value : a (mask broadcasts with a); zero gradient where filled */
TG_API tg_tensor *tg_masked_fill(tg_tensor *a, tg_tensor *mask, double value);
/* 1-D: the elements of a (broadcast with mask) where mask is true, in
 * row-major order; the gradient is scattered back to those places */
TG_API tg_tensor *tg_masked_select(tg_tensor *a, tg_tensor *mask);
/* int64 [n, ndim]: the index of each nonzero element of a, in row-major
 * order (no gradient) */
TG_API tg_tensor *tg_nonzero(tg_tensor *a);

/* ---- pooling (ops/pool.c, ops/pool_adaptive.c), torch.nn.functional's. The
 * 2-d forms pool the last two dims of (N, C, H, W) or unbatched (C, H, W)
 * input, the 1-d forms the last dim of (N, C, L) or (C, L). 2-d arguments
 * are pairs (H, W), 1-d ones single values: stride NULL = kernel (torch's
 * stride=None), padding NULL = 0, dilation NULL = 1. padding <= kernel/2;
 * with ceil_mode the last window must start inside the input or the left
 * padding. indices, when not NULL, receives an int64 tensor shaped as the
 * result: the flat index in the (H, W) (or L) plane of each maximum (the
 * first in the window, or a NaN). */
/* out[.., i, j] = max over the window (i*s - p + k*d) of a */
TG_API tg_tensor *tg_max_pool1d(tg_tensor *a, int64_t kernel, const int64_t *stride /* one value or NULL */,
                         int64_t padding, int64_t dilation, bool ceil_mode, tg_tensor **indices);
TG_API tg_tensor *tg_max_pool2d(tg_tensor *a, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], const int64_t dilation[2], bool ceil_mode,
                         tg_tensor **indices);
/* out = sum over the window / (its size, padding counted up to in + p when
 * count_include_pad; or divisor_override when nonzero) */
TG_API tg_tensor *tg_avg_pool1d(tg_tensor *a, int64_t kernel, const int64_t *stride /* one value or NULL */,
                         int64_t padding, bool ceil_mode, bool count_include_pad);
TG_API tg_tensor *tg_avg_pool2d(tg_tensor *a, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], bool ceil_mode, bool count_include_pad,
                         int64_t divisor_override);
/* out[i] pools a[floor(i*in/out) .. ceil((i+1)*in/out)) per spatial dim;
 * output_size: (oh, ow) for 2-d */
TG_API tg_tensor *tg_adaptive_avg_pool1d(tg_tensor *a, int64_t output_size);
TG_API tg_tensor *tg_adaptive_avg_pool2d(tg_tensor *a, const int64_t output_size[2]);
TG_API tg_tensor *tg_adaptive_max_pool1d(tg_tensor *a, int64_t output_size, tg_tensor **indices);
TG_API tg_tensor *tg_adaptive_max_pool2d(tg_tensor *a, const int64_t output_size[2], tg_tensor **indices);

/* ---- resampling (ops/resample.c), torch 1.13's */
typedef enum { TG_INTERP_NEAREST, TG_INTERP_LINEAR, TG_INTERP_BILINEAR } tg_interp_mode;
/* F.interpolate of (N, C, L) (nearest, linear) or (N, C, H, W) (nearest,
 * bilinear): exactly one of size (the output's spatial sizes) and
 * scale_factor (one per spatial dim; output floor(in * factor)). nearest:
 * src = min(floor(dst * scale), in - 1) in float with scale = 1/factor or
 * in/out; linear: src = dst*(in-1)/(out-1) with align_corners, else
 * (dst + 0.5)*scale - 0.5 clamped at 0 (a dim whose size does not change
 * is copied, as torch 1.13) */
TG_API tg_tensor *tg_interpolate(tg_tensor *a, const int64_t *size, const double *scale_factor,
                          tg_interp_mode mode, bool align_corners);
/* (.., C*r*r, H, W) -> (.., C, H*r, W*r): out[c, h*r+i, w*r+j] = a[c*r*r + i*r + j, h, w] */
TG_API tg_tensor *tg_pixel_shuffle(tg_tensor *a, int64_t upscale_factor);
/* the inverse: (.., C, H*r, W*r) -> (.., C*r*r, H, W) */
TG_API tg_tensor *tg_pixel_unshuffle(tg_tensor *a, int64_t downscale_factor);

/* ---- sequence models (ops/embedding.c) */
/* padding_idx meaning "no padding row" (torch's None); else in [-V, V),
 * negative counting from the end */
#define TG_NO_PADDING_IDX INT64_MIN
/* F.embedding: out[..., :] = weight[indices[...], :] for int64 indices of
 * any shape, weight (V, D). Rows at padding_idx get no gradient. max_norm
 * (NAN or 0: none) first rescales, in place and unrecorded, each used row
 * whose norm_type-norm exceeds it to max_norm / (norm + 1e-7), as torch */
TG_API tg_tensor *tg_embedding(tg_tensor *weight, tg_tensor *indices, int64_t padding_idx, double max_norm,
                        double norm_type);


/* Record the caller's file:line for anomaly mode (see tg_set_detect_anomaly).
 * The library's own sources define TG_BUILDING_LIBRARY and call the
 * functions directly. */
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_NO_CALL_SITES) && !defined(__cplusplus)
#define tg_abs(...) (TG_CALL_SITE(), tg_abs(__VA_ARGS__))
#define tg_acos(...) (TG_CALL_SITE(), tg_acos(__VA_ARGS__))
#define tg_acosh(...) (TG_CALL_SITE(), tg_acosh(__VA_ARGS__))
#define tg_adaptive_avg_pool1d(...) (TG_CALL_SITE(), tg_adaptive_avg_pool1d(__VA_ARGS__))
#define tg_adaptive_avg_pool2d(...) (TG_CALL_SITE(), tg_adaptive_avg_pool2d(__VA_ARGS__))
#define tg_adaptive_max_pool1d(...) (TG_CALL_SITE(), tg_adaptive_max_pool1d(__VA_ARGS__))
#define tg_adaptive_max_pool2d(...) (TG_CALL_SITE(), tg_adaptive_max_pool2d(__VA_ARGS__))
#define tg_add(...) (TG_CALL_SITE(), tg_add(__VA_ARGS__))
#define tg_add_scalar(...) (TG_CALL_SITE(), tg_add_scalar(__VA_ARGS__))
#define tg_addmm(...) (TG_CALL_SITE(), tg_addmm(__VA_ARGS__))
#define tg_all(...) (TG_CALL_SITE(), tg_all(__VA_ARGS__))
#define tg_all_dims(...) (TG_CALL_SITE(), tg_all_dims(__VA_ARGS__))
#define tg_amax(...) (TG_CALL_SITE(), tg_amax(__VA_ARGS__))
#define tg_amin(...) (TG_CALL_SITE(), tg_amin(__VA_ARGS__))
#define tg_any(...) (TG_CALL_SITE(), tg_any(__VA_ARGS__))
#define tg_any_dims(...) (TG_CALL_SITE(), tg_any_dims(__VA_ARGS__))
#define tg_argmax(...) (TG_CALL_SITE(), tg_argmax(__VA_ARGS__))
#define tg_argmax_dim(...) (TG_CALL_SITE(), tg_argmax_dim(__VA_ARGS__))
#define tg_argmin(...) (TG_CALL_SITE(), tg_argmin(__VA_ARGS__))
#define tg_argmin_dim(...) (TG_CALL_SITE(), tg_argmin_dim(__VA_ARGS__))
#define tg_asin(...) (TG_CALL_SITE(), tg_asin(__VA_ARGS__))
#define tg_asinh(...) (TG_CALL_SITE(), tg_asinh(__VA_ARGS__))
#define tg_atan(...) (TG_CALL_SITE(), tg_atan(__VA_ARGS__))
#define tg_atan2(...) (TG_CALL_SITE(), tg_atan2(__VA_ARGS__))
#define tg_atanh(...) (TG_CALL_SITE(), tg_atanh(__VA_ARGS__))
#define tg_avg_pool1d(...) (TG_CALL_SITE(), tg_avg_pool1d(__VA_ARGS__))
#define tg_avg_pool2d(...) (TG_CALL_SITE(), tg_avg_pool2d(__VA_ARGS__))
#define tg_baddbmm(...) (TG_CALL_SITE(), tg_baddbmm(__VA_ARGS__))
#define tg_bmm(...) (TG_CALL_SITE(), tg_bmm(__VA_ARGS__))
#define tg_cat(...) (TG_CALL_SITE(), tg_cat(__VA_ARGS__))
#define tg_ceil(...) (TG_CALL_SITE(), tg_ceil(__VA_ARGS__))
#define tg_celu(...) (TG_CALL_SITE(), tg_celu(__VA_ARGS__))
#define tg_chunk(...) (TG_CALL_SITE(), tg_chunk(__VA_ARGS__))
#define tg_clamp(...) (TG_CALL_SITE(), tg_clamp(__VA_ARGS__))
#define tg_clamp_max_tensor(...) (TG_CALL_SITE(), tg_clamp_max_tensor(__VA_ARGS__))
#define tg_clamp_min_tensor(...) (TG_CALL_SITE(), tg_clamp_min_tensor(__VA_ARGS__))
#define tg_clamp_tensor(...) (TG_CALL_SITE(), tg_clamp_tensor(__VA_ARGS__))
#define tg_clone(...) (TG_CALL_SITE(), tg_clone(__VA_ARGS__))
#define tg_contiguous(...) (TG_CALL_SITE(), tg_contiguous(__VA_ARGS__))
#define tg_conv1d(...) (TG_CALL_SITE(), tg_conv1d(__VA_ARGS__))
#define tg_conv1d_padding(...) (TG_CALL_SITE(), tg_conv1d_padding(__VA_ARGS__))
#define tg_conv2d(...) (TG_CALL_SITE(), tg_conv2d(__VA_ARGS__))
#define tg_conv2d_padding(...) (TG_CALL_SITE(), tg_conv2d_padding(__VA_ARGS__))
#define tg_conv_transpose1d(...) (TG_CALL_SITE(), tg_conv_transpose1d(__VA_ARGS__))
#define tg_conv_transpose2d(...) (TG_CALL_SITE(), tg_conv_transpose2d(__VA_ARGS__))
#define tg_copysign(...) (TG_CALL_SITE(), tg_copysign(__VA_ARGS__))
#define tg_cos(...) (TG_CALL_SITE(), tg_cos(__VA_ARGS__))
#define tg_cosh(...) (TG_CALL_SITE(), tg_cosh(__VA_ARGS__))
#define tg_cumprod(...) (TG_CALL_SITE(), tg_cumprod(__VA_ARGS__))
#define tg_cumsum(...) (TG_CALL_SITE(), tg_cumsum(__VA_ARGS__))
#define tg_diag(...) (TG_CALL_SITE(), tg_diag(__VA_ARGS__))
#define tg_diagonal(...) (TG_CALL_SITE(), tg_diagonal(__VA_ARGS__))
#define tg_div(...) (TG_CALL_SITE(), tg_div(__VA_ARGS__))
#define tg_div_scalar(...) (TG_CALL_SITE(), tg_div_scalar(__VA_ARGS__))
#define tg_dot(...) (TG_CALL_SITE(), tg_dot(__VA_ARGS__))
#define tg_elu(...) (TG_CALL_SITE(), tg_elu(__VA_ARGS__))
#define tg_einsum(...) (TG_CALL_SITE(), tg_einsum(__VA_ARGS__))
#define tg_embedding(...) (TG_CALL_SITE(), tg_embedding(__VA_ARGS__))
#define tg_eq(...) (TG_CALL_SITE(), tg_eq(__VA_ARGS__))
#define tg_eq_scalar(...) (TG_CALL_SITE(), tg_eq_scalar(__VA_ARGS__))
#define tg_erf(...) (TG_CALL_SITE(), tg_erf(__VA_ARGS__))
#define tg_erfc(...) (TG_CALL_SITE(), tg_erfc(__VA_ARGS__))
#define tg_erfinv(...) (TG_CALL_SITE(), tg_erfinv(__VA_ARGS__))
#define tg_exp(...) (TG_CALL_SITE(), tg_exp(__VA_ARGS__))
#define tg_exp2(...) (TG_CALL_SITE(), tg_exp2(__VA_ARGS__))
#define tg_expand(...) (TG_CALL_SITE(), tg_expand(__VA_ARGS__))
#define tg_expm1(...) (TG_CALL_SITE(), tg_expm1(__VA_ARGS__))
#define tg_flatten(...) (TG_CALL_SITE(), tg_flatten(__VA_ARGS__))
#define tg_flip(...) (TG_CALL_SITE(), tg_flip(__VA_ARGS__))
#define tg_floor(...) (TG_CALL_SITE(), tg_floor(__VA_ARGS__))
#define tg_fmod(...) (TG_CALL_SITE(), tg_fmod(__VA_ARGS__))
#define tg_fold(...) (TG_CALL_SITE(), tg_fold(__VA_ARGS__))
#define tg_frac(...) (TG_CALL_SITE(), tg_frac(__VA_ARGS__))
#define tg_gather(...) (TG_CALL_SITE(), tg_gather(__VA_ARGS__))
#define tg_ge(...) (TG_CALL_SITE(), tg_ge(__VA_ARGS__))
#define tg_ge_scalar(...) (TG_CALL_SITE(), tg_ge_scalar(__VA_ARGS__))
#define tg_gelu(...) (TG_CALL_SITE(), tg_gelu(__VA_ARGS__))
#define tg_gt(...) (TG_CALL_SITE(), tg_gt(__VA_ARGS__))
#define tg_gt_scalar(...) (TG_CALL_SITE(), tg_gt_scalar(__VA_ARGS__))
#define tg_hardsigmoid(...) (TG_CALL_SITE(), tg_hardsigmoid(__VA_ARGS__))
#define tg_hardswish(...) (TG_CALL_SITE(), tg_hardswish(__VA_ARGS__))
#define tg_hardtanh(...) (TG_CALL_SITE(), tg_hardtanh(__VA_ARGS__))
#define tg_hypot(...) (TG_CALL_SITE(), tg_hypot(__VA_ARGS__))
#define tg_index_add(...) (TG_CALL_SITE(), tg_index_add(__VA_ARGS__))
#define tg_index_fill(...) (TG_CALL_SITE(), tg_index_fill(__VA_ARGS__))
#define tg_index_put(...) (TG_CALL_SITE(), tg_index_put(__VA_ARGS__))
#define tg_index_select(...) (TG_CALL_SITE(), tg_index_select(__VA_ARGS__))
#define tg_interpolate(...) (TG_CALL_SITE(), tg_interpolate(__VA_ARGS__))
#define tg_isfinite(...) (TG_CALL_SITE(), tg_isfinite(__VA_ARGS__))
#define tg_isinf(...) (TG_CALL_SITE(), tg_isinf(__VA_ARGS__))
#define tg_isnan(...) (TG_CALL_SITE(), tg_isnan(__VA_ARGS__))
#define tg_kthvalue(...) (TG_CALL_SITE(), tg_kthvalue(__VA_ARGS__))
#define tg_le(...) (TG_CALL_SITE(), tg_le(__VA_ARGS__))
#define tg_le_scalar(...) (TG_CALL_SITE(), tg_le_scalar(__VA_ARGS__))
#define tg_leaky_relu(...) (TG_CALL_SITE(), tg_leaky_relu(__VA_ARGS__))
#define tg_lerp(...) (TG_CALL_SITE(), tg_lerp(__VA_ARGS__))
#define tg_lerp_scalar(...) (TG_CALL_SITE(), tg_lerp_scalar(__VA_ARGS__))
#define tg_linalg_vector_norm(...) (TG_CALL_SITE(), tg_linalg_vector_norm(__VA_ARGS__))
#define tg_log(...) (TG_CALL_SITE(), tg_log(__VA_ARGS__))
#define tg_log10(...) (TG_CALL_SITE(), tg_log10(__VA_ARGS__))
#define tg_log1p(...) (TG_CALL_SITE(), tg_log1p(__VA_ARGS__))
#define tg_log2(...) (TG_CALL_SITE(), tg_log2(__VA_ARGS__))
#define tg_log_softmax(...) (TG_CALL_SITE(), tg_log_softmax(__VA_ARGS__))
#define tg_logcumsumexp(...) (TG_CALL_SITE(), tg_logcumsumexp(__VA_ARGS__))
#define tg_logical_and(...) (TG_CALL_SITE(), tg_logical_and(__VA_ARGS__))
#define tg_logical_not(...) (TG_CALL_SITE(), tg_logical_not(__VA_ARGS__))
#define tg_logical_or(...) (TG_CALL_SITE(), tg_logical_or(__VA_ARGS__))
#define tg_logical_xor(...) (TG_CALL_SITE(), tg_logical_xor(__VA_ARGS__))
#define tg_logsigmoid(...) (TG_CALL_SITE(), tg_logsigmoid(__VA_ARGS__))
#define tg_logsumexp(...) (TG_CALL_SITE(), tg_logsumexp(__VA_ARGS__))
#define tg_lt(...) (TG_CALL_SITE(), tg_lt(__VA_ARGS__))
#define tg_lt_scalar(...) (TG_CALL_SITE(), tg_lt_scalar(__VA_ARGS__))
#define tg_masked_fill(...) (TG_CALL_SITE(), tg_masked_fill(__VA_ARGS__))
#define tg_masked_select(...) (TG_CALL_SITE(), tg_masked_select(__VA_ARGS__))
#define tg_matmul(...) (TG_CALL_SITE(), tg_matmul(__VA_ARGS__))
#define tg_max(...) (TG_CALL_SITE(), tg_max(__VA_ARGS__))
#define tg_max_dim(...) (TG_CALL_SITE(), tg_max_dim(__VA_ARGS__))
#define tg_max_pool1d(...) (TG_CALL_SITE(), tg_max_pool1d(__VA_ARGS__))
#define tg_max_pool2d(...) (TG_CALL_SITE(), tg_max_pool2d(__VA_ARGS__))
#define tg_maximum(...) (TG_CALL_SITE(), tg_maximum(__VA_ARGS__))
#define tg_mean(...) (TG_CALL_SITE(), tg_mean(__VA_ARGS__))
#define tg_mean_dims(...) (TG_CALL_SITE(), tg_mean_dims(__VA_ARGS__))
#define tg_median(...) (TG_CALL_SITE(), tg_median(__VA_ARGS__))
#define tg_median_dim(...) (TG_CALL_SITE(), tg_median_dim(__VA_ARGS__))
#define tg_meshgrid(...) (TG_CALL_SITE(), tg_meshgrid(__VA_ARGS__))
#define tg_min(...) (TG_CALL_SITE(), tg_min(__VA_ARGS__))
#define tg_min_dim(...) (TG_CALL_SITE(), tg_min_dim(__VA_ARGS__))
#define tg_minimum(...) (TG_CALL_SITE(), tg_minimum(__VA_ARGS__))
#define tg_mish(...) (TG_CALL_SITE(), tg_mish(__VA_ARGS__))
#define tg_movedim(...) (TG_CALL_SITE(), tg_movedim(__VA_ARGS__))
#define tg_mul(...) (TG_CALL_SITE(), tg_mul(__VA_ARGS__))
#define tg_mul_scalar(...) (TG_CALL_SITE(), tg_mul_scalar(__VA_ARGS__))
#define tg_mv(...) (TG_CALL_SITE(), tg_mv(__VA_ARGS__))
#define tg_nan_to_num(...) (TG_CALL_SITE(), tg_nan_to_num(__VA_ARGS__))
#define tg_narrow(...) (TG_CALL_SITE(), tg_narrow(__VA_ARGS__))
#define tg_ne(...) (TG_CALL_SITE(), tg_ne(__VA_ARGS__))
#define tg_ne_scalar(...) (TG_CALL_SITE(), tg_ne_scalar(__VA_ARGS__))
#define tg_neg(...) (TG_CALL_SITE(), tg_neg(__VA_ARGS__))
#define tg_nonzero(...) (TG_CALL_SITE(), tg_nonzero(__VA_ARGS__))
#define tg_norm(...) (TG_CALL_SITE(), tg_norm(__VA_ARGS__))
#define tg_one_hot(...) (TG_CALL_SITE(), tg_one_hot(__VA_ARGS__))
#define tg_outer(...) (TG_CALL_SITE(), tg_outer(__VA_ARGS__))
#define tg_pad(...) (TG_CALL_SITE(), tg_pad(__VA_ARGS__))
#define tg_permute(...) (TG_CALL_SITE(), tg_permute(__VA_ARGS__))
#define tg_pixel_shuffle(...) (TG_CALL_SITE(), tg_pixel_shuffle(__VA_ARGS__))
#define tg_pixel_unshuffle(...) (TG_CALL_SITE(), tg_pixel_unshuffle(__VA_ARGS__))
#define tg_pow(...) (TG_CALL_SITE(), tg_pow(__VA_ARGS__))
#define tg_pow_scalar(...) (TG_CALL_SITE(), tg_pow_scalar(__VA_ARGS__))
#define tg_prod(...) (TG_CALL_SITE(), tg_prod(__VA_ARGS__))
#define tg_prod_dim(...) (TG_CALL_SITE(), tg_prod_dim(__VA_ARGS__))
#define tg_reciprocal(...) (TG_CALL_SITE(), tg_reciprocal(__VA_ARGS__))
#define tg_relu(...) (TG_CALL_SITE(), tg_relu(__VA_ARGS__))
#define tg_relu6(...) (TG_CALL_SITE(), tg_relu6(__VA_ARGS__))
#define tg_remainder(...) (TG_CALL_SITE(), tg_remainder(__VA_ARGS__))
#define tg_repeat(...) (TG_CALL_SITE(), tg_repeat(__VA_ARGS__))
#define tg_repeat_interleave(...) (TG_CALL_SITE(), tg_repeat_interleave(__VA_ARGS__))
#define tg_repeat_interleave_tensor(...) (TG_CALL_SITE(), tg_repeat_interleave_tensor(__VA_ARGS__))
#define tg_reshape(...) (TG_CALL_SITE(), tg_reshape(__VA_ARGS__))
#define tg_reshape_infer(...) (TG_CALL_SITE(), tg_reshape_infer(__VA_ARGS__))
#define tg_roll(...) (TG_CALL_SITE(), tg_roll(__VA_ARGS__))
#define tg_round(...) (TG_CALL_SITE(), tg_round(__VA_ARGS__))
#define tg_rsqrt(...) (TG_CALL_SITE(), tg_rsqrt(__VA_ARGS__))
#define tg_rsub_scalar(...) (TG_CALL_SITE(), tg_rsub_scalar(__VA_ARGS__))
#define tg_scatter(...) (TG_CALL_SITE(), tg_scatter(__VA_ARGS__))
#define tg_scatter_add(...) (TG_CALL_SITE(), tg_scatter_add(__VA_ARGS__))
#define tg_scatter_value(...) (TG_CALL_SITE(), tg_scatter_value(__VA_ARGS__))
#define tg_select(...) (TG_CALL_SITE(), tg_select(__VA_ARGS__))
#define tg_selu(...) (TG_CALL_SITE(), tg_selu(__VA_ARGS__))
#define tg_sigmoid(...) (TG_CALL_SITE(), tg_sigmoid(__VA_ARGS__))
#define tg_sign(...) (TG_CALL_SITE(), tg_sign(__VA_ARGS__))
#define tg_silu(...) (TG_CALL_SITE(), tg_silu(__VA_ARGS__))
#define tg_sin(...) (TG_CALL_SITE(), tg_sin(__VA_ARGS__))
#define tg_sinh(...) (TG_CALL_SITE(), tg_sinh(__VA_ARGS__))
#define tg_slice(...) (TG_CALL_SITE(), tg_slice(__VA_ARGS__))
#define tg_softmax(...) (TG_CALL_SITE(), tg_softmax(__VA_ARGS__))
#define tg_softplus(...) (TG_CALL_SITE(), tg_softplus(__VA_ARGS__))
#define tg_softsign(...) (TG_CALL_SITE(), tg_softsign(__VA_ARGS__))
#define tg_sort(...) (TG_CALL_SITE(), tg_sort(__VA_ARGS__))
#define tg_split(...) (TG_CALL_SITE(), tg_split(__VA_ARGS__))
#define tg_split_size(...) (TG_CALL_SITE(), tg_split_size(__VA_ARGS__))
#define tg_sqrt(...) (TG_CALL_SITE(), tg_sqrt(__VA_ARGS__))
#define tg_square(...) (TG_CALL_SITE(), tg_square(__VA_ARGS__))
#define tg_squeeze(...) (TG_CALL_SITE(), tg_squeeze(__VA_ARGS__))
#define tg_squeeze_all(...) (TG_CALL_SITE(), tg_squeeze_all(__VA_ARGS__))
#define tg_stack(...) (TG_CALL_SITE(), tg_stack(__VA_ARGS__))
#define tg_std(...) (TG_CALL_SITE(), tg_std(__VA_ARGS__))
#define tg_std_dims(...) (TG_CALL_SITE(), tg_std_dims(__VA_ARGS__))
#define tg_sub(...) (TG_CALL_SITE(), tg_sub(__VA_ARGS__))
#define tg_sub_scalar(...) (TG_CALL_SITE(), tg_sub_scalar(__VA_ARGS__))
#define tg_sum(...) (TG_CALL_SITE(), tg_sum(__VA_ARGS__))
#define tg_sum_dims(...) (TG_CALL_SITE(), tg_sum_dims(__VA_ARGS__))
#define tg_sum_to_shape(...) (TG_CALL_SITE(), tg_sum_to_shape(__VA_ARGS__))
#define tg_swapaxes(...) (TG_CALL_SITE(), tg_swapaxes(__VA_ARGS__))
#define tg_swapdims(...) (TG_CALL_SITE(), tg_swapdims(__VA_ARGS__))
#define tg_t(...) (TG_CALL_SITE(), tg_t(__VA_ARGS__))
#define tg_take_along_dim(...) (TG_CALL_SITE(), tg_take_along_dim(__VA_ARGS__))
#define tg_take_along_dim_flat(...) (TG_CALL_SITE(), tg_take_along_dim_flat(__VA_ARGS__))
#define tg_tan(...) (TG_CALL_SITE(), tg_tan(__VA_ARGS__))
#define tg_tanh(...) (TG_CALL_SITE(), tg_tanh(__VA_ARGS__))
#define tg_tile(...) (TG_CALL_SITE(), tg_tile(__VA_ARGS__))
#define tg_to_dtype(...) (TG_CALL_SITE(), tg_to_dtype(__VA_ARGS__))
#define tg_topk(...) (TG_CALL_SITE(), tg_topk(__VA_ARGS__))
#define tg_trace(...) (TG_CALL_SITE(), tg_trace(__VA_ARGS__))
#define tg_transpose(...) (TG_CALL_SITE(), tg_transpose(__VA_ARGS__))
#define tg_tril(...) (TG_CALL_SITE(), tg_tril(__VA_ARGS__))
#define tg_triu(...) (TG_CALL_SITE(), tg_triu(__VA_ARGS__))
#define tg_trunc(...) (TG_CALL_SITE(), tg_trunc(__VA_ARGS__))
#define tg_unbind(...) (TG_CALL_SITE(), tg_unbind(__VA_ARGS__))
#define tg_unfold(...) (TG_CALL_SITE(), tg_unfold(__VA_ARGS__))
#define tg_unique(...) (TG_CALL_SITE(), tg_unique(__VA_ARGS__))
#define tg_unsqueeze(...) (TG_CALL_SITE(), tg_unsqueeze(__VA_ARGS__))
#define tg_var(...) (TG_CALL_SITE(), tg_var(__VA_ARGS__))
#define tg_var_dims(...) (TG_CALL_SITE(), tg_var_dims(__VA_ARGS__))
#define tg_view(...) (TG_CALL_SITE(), tg_view(__VA_ARGS__))
#define tg_where(...) (TG_CALL_SITE(), tg_where(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif
#endif
