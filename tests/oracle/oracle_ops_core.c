/* The oracle's table of the ops that came first: elementwise, reductions,
 * products, softmax, indexing, shapes. One line per op, calling the public
 * API with the case's tensors x[] and parameters, in the order the
 * family_*.py generators build them. */
#include <math.h>

#include "oracle_ops.h"

/* binary and with a number */
ONE(add, tg_add(x[0], x[1]))
ONE(sub, tg_sub(x[0], x[1]))
ONE(mul, tg_mul(x[0], x[1]))
ONE(div, tg_div(x[0], x[1]))
ONE(pow, tg_pow(x[0], x[1]))
ONE(maximum, tg_maximum(x[0], x[1]))
ONE(minimum, tg_minimum(x[0], x[1]))
ONE(add_scalar, tg_add_scalar(x[0], NUM("s", 0)))
ONE(sub_scalar, tg_sub_scalar(x[0], NUM("s", 0)))
ONE(rsub_scalar, tg_rsub_scalar(x[0], NUM("s", 0)))
ONE(mul_scalar, tg_mul_scalar(x[0], NUM("s", 0)))
ONE(div_scalar, tg_div_scalar(x[0], NUM("s", 1)))
ONE(pow_scalar, tg_pow_scalar(x[0], NUM("s", 1)))
/* unary */
ONE(neg, tg_neg(x[0]))
ONE(exp, tg_exp(x[0]))
ONE(log, tg_log(x[0]))
ONE(sqrt, tg_sqrt(x[0]))
ONE(abs, tg_abs(x[0]))
ONE(sin, tg_sin(x[0]))
ONE(cos, tg_cos(x[0]))
ONE(tanh, tg_tanh(x[0]))
ONE(sigmoid, tg_sigmoid(x[0]))
ONE(relu, tg_relu(x[0]))
ONE(leaky_relu, tg_leaky_relu(x[0], NUM("slope", 0.01)))
ONE(elu, tg_elu(x[0], NUM("alpha", 1)))
ONE(softplus, tg_softplus(x[0], NUM("beta", 1), NUM("threshold", 20)))
ONE(clamp, tg_clamp(x[0], NUM("lo", NAN), NUM("hi", NAN)))
/* reductions */
static int dims_call(tg_tensor *(*f)(tg_tensor *, int, const int *, bool), tg_tensor **x,
                     const oracle_params *p, tg_tensor **out) {
  int dims[ORACLE_MAX_LIST], n = dims_of(p, "dims", dims);
  return (out[0] = f(x[0], n, dims, BOOL("keepdim"))) ? 1 : -1;
}
ONE(sum, tg_sum(x[0]))
ONE(mean, tg_mean(x[0]))
static int o_sum_dims(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return dims_call(tg_sum_dims, x, p, out);
}
static int o_mean_dims(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return dims_call(tg_mean_dims, x, p, out);
}
static int o_logsumexp(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return dims_call(tg_logsumexp, x, p, out);
}
ONE(var, tg_var(x[0], BOOL("unbiased")))
static int o_var_dims(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int dims[ORACLE_MAX_LIST], n = dims_of(p, "dims", dims);
  return (out[0] = tg_var_dims(x[0], n, dims, BOOL("unbiased"), BOOL("keepdim"))) ? 1 : -1;
}
ONE(max, tg_max(x[0]))
ONE(min, tg_min(x[0]))
static int o_max_dim(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  out[0] = tg_max_dim(x[0], INT("dim", 0), BOOL("keepdim"), &out[1]);
  return out[0] ? 2 : -1;
}
static int o_min_dim(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  out[0] = tg_min_dim(x[0], INT("dim", 0), BOOL("keepdim"), &out[1]);
  return out[0] ? 2 : -1;
}
static int o_sum_to_shape(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t shape[ORACLE_MAX_LIST];
  int n = shape_of(p, "shape", shape);
  return (out[0] = tg_sum_to_shape(x[0], n, shape)) ? 1 : -1;
}
/* linear algebra, softmax, indexing */
ONE(matmul, tg_matmul(x[0], x[1]))
ONE(dot, tg_dot(x[0], x[1]))
ONE(outer, tg_outer(x[0], x[1]))
ONE(softmax, tg_softmax(x[0], INT("dim", 0)))
ONE(log_softmax, tg_log_softmax(x[0], INT("dim", 0)))
ONE(gather, tg_gather(x[0], INT("dim", 0), x[1]))
ONE(scatter_add, tg_scatter_add(x[0], INT("dim", 0), x[1], x[2]))
ONE(index_select, tg_index_select(x[0], INT("dim", 0), x[1]))
ONE(index_add, tg_index_add(x[0], INT("dim", 0), x[1], x[2]))
/* shapes and views */
static int o_reshape(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t shape[ORACLE_MAX_LIST];
  int n = shape_of(p, "shape", shape);
  return (out[0] = tg_reshape(x[0], n, shape)) ? 1 : -1;
}
static int o_view(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t shape[ORACLE_MAX_LIST];
  int n = shape_of(p, "shape", shape);
  return (out[0] = tg_view(x[0], n, shape)) ? 1 : -1;
}
static int o_expand(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t shape[ORACLE_MAX_LIST];
  int n = shape_of(p, "shape", shape);
  return (out[0] = tg_expand(x[0], n, shape)) ? 1 : -1;
}
static int o_permute(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int dims[ORACLE_MAX_LIST];
  if (dims_of(p, "dims", dims) != x[0]->ndim) { /* the C API takes exactly ndim entries */
    out[0] = tg_permute(x[0], NULL);
    return -1;
  }
  return (out[0] = tg_permute(x[0], dims)) ? 1 : -1;
}
ONE(flatten, tg_flatten(x[0], INT("start", 0), INT("end", -1)))
ONE(squeeze, tg_squeeze(x[0], INT("dim", 0)))
ONE(squeeze_all, tg_squeeze_all(x[0]))
ONE(unsqueeze, tg_unsqueeze(x[0], INT("dim", 0)))
ONE(transpose, tg_transpose(x[0], INT("d0", 0), INT("d1", 1)))
ONE(t, tg_t(x[0]))
ONE(narrow, tg_narrow(x[0], INT("dim", 0), (long)NUM("start", 0), (long)NUM("length", 0)))
ONE(slice, tg_slice(x[0], INT("dim", 0), (long)NUM("start", 0), (long)NUM("end", 0),
                    (long)NUM("step", 1)))
ONE(select, tg_select(x[0], INT("dim", 0), (long)NUM("index", 0)))
ONE(contiguous, tg_contiguous(x[0]))
ONE(clone, tg_clone(x[0]))
ONE(to_dtype, tg_to_dtype(x[0], dtype_param(p)))
static int count_inputs(tg_tensor **x, const oracle_params *p) {
  int n = INT("n", 0);
  (void)x;
  return n;
}
ONE(cat, tg_cat(count_inputs(x, p), x, INT("dim", 0)))
ONE(stack, tg_stack(count_inputs(x, p), x, INT("dim", 0)))
const oracle_op oracle_core_ops[] = {
    E(add), E(sub), E(mul), E(div), E(pow), E(maximum), E(minimum),
    E(add_scalar), E(sub_scalar), E(rsub_scalar), E(mul_scalar), E(div_scalar), E(pow_scalar),
    E(neg), E(exp), E(log), E(sqrt), E(abs), E(sin), E(cos), E(tanh), E(sigmoid), E(relu),
    E(leaky_relu), E(elu), E(softplus), E(clamp),
    E(sum), E(mean), E(sum_dims), E(mean_dims), E(logsumexp), E(var), E(var_dims), E(max), E(min),
    E(max_dim), E(min_dim), E(sum_to_shape),
    E(matmul), E(dot), E(outer), E(softmax), E(log_softmax), E(gather), E(scatter_add),
    E(index_select), E(index_add),
    E(reshape), E(view), E(expand), E(permute), E(flatten), E(squeeze), E(squeeze_all),
    E(unsqueeze), E(transpose), E(t), E(narrow), E(slice), E(select), E(contiguous), E(clone),
    E(to_dtype), E(cat), E(stack),
    {NULL, NULL},
};
