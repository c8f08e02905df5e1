/* The op table of the oracle runner: one line per op, calling the public
 * API with the case's tensors x[] and parameters, in the order
 * torch_oracle.py builds them. */
#include <math.h>
#include <string.h>

#include "oracle_ops.h"

static const oracle_param *find(const oracle_params *p, const char *key) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->p[i].key, key)) return &p->p[i];
  return NULL;
}
double oracle_num(const oracle_params *p, const char *key, double def) {
  const oracle_param *q = find(p, key);
  return q && q->count > 0 ? q->v[0] : def;
}
const char *oracle_str(const oracle_params *p, const char *key, const char *def) {
  const oracle_param *q = find(p, key);
  return q && q->count == 0 ? q->s : def;
}
int oracle_ints(const oracle_params *p, const char *key, long *out) {
  const oracle_param *q = find(p, key);
  if (!q) return 0;
  for (int i = 0; i < q->count; i++) out[i] = (long)q->v[i];
  return q->count;
}

/* shorthands for the table below */
#define NUM(k, d) oracle_num(p, k, d)
#define INT(k, d) ((int)oracle_num(p, k, d))
#define BOOL(k) (oracle_num(p, k, 0) != 0)
#define ONE(name, expr)                                                        \
  static int o_##name(tg_tensor **x, const oracle_params *p, tg_tensor **out) { \
    (void)p;                                                                   \
    (void)x;                                                                   \
    return (out[0] = (expr)) ? 1 : -1;                                         \
  }

static int dims_of(const oracle_params *p, const char *key, int *dims) {
  long l[ORACLE_MAX_LIST];
  int n = oracle_ints(p, key, l);
  for (int i = 0; i < n; i++) dims[i] = (int)l[i];
  return n;
}
static int shape_of(const oracle_params *p, const char *key, size_t *shape) {
  long l[ORACLE_MAX_LIST];
  int n = oracle_ints(p, key, l);
  for (int i = 0; i < n; i++) shape[i] = (size_t)l[i]; /* -1 becomes SIZE_MAX: "infer" */
  return n;
}
static tg_reduction reduction(const oracle_params *p) {
  const char *r = oracle_str(p, "reduction", "mean");
  return !strcmp(r, "sum") ? TG_REDUCTION_SUM : !strcmp(r, "none") ? TG_REDUCTION_NONE : TG_REDUCTION_MEAN;
}
static tg_dtype dtype_param(const oracle_params *p) {
  const char *d = oracle_str(p, "dtype", "f64");
  return !strcmp(d, "f32") ? TG_FLOAT32 : !strcmp(d, "i64") ? TG_INT64 : TG_FLOAT64;
}

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
/* losses */
ONE(cross_entropy, tg_cross_entropy(x[0], x[1], reduction(p)))
ONE(nll_loss, tg_nll_loss(x[0], x[1], reduction(p)))
ONE(binary_cross_entropy, tg_binary_cross_entropy(x[0], x[1], reduction(p)))
ONE(bce_with_logits, tg_bce_with_logits(x[0], x[1], reduction(p)))
ONE(mse_loss, tg_mse_loss(x[0], x[1], reduction(p)))
ONE(gaussian_kl, tg_gaussian_kl(x[0], x[1], reduction(p)))
static tg_class_loss_opts class_opts(tg_tensor **x, const oracle_params *p) {
  tg_class_loss_opts o = tg_class_loss_defaults();
  o.weight = BOOL("has_weight") ? x[2] : NULL;
  o.ignore_index = (int64_t)NUM("ignore_index", -100);
  o.label_smoothing = NUM("label_smoothing", 0);
  o.reduction = reduction(p);
  return o;
}
ONE(cross_entropy_with, tg_cross_entropy_with(x[0], x[1], class_opts(x, p)))
ONE(nll_loss_with, tg_nll_loss_with(x[0], x[1], class_opts(x, p)))
ONE(l1_loss, tg_l1_loss(x[0], x[1], reduction(p)))
ONE(smooth_l1_loss, tg_smooth_l1_loss(x[0], x[1], reduction(p), NUM("beta", 1)))
ONE(huber_loss, tg_huber_loss(x[0], x[1], reduction(p), NUM("delta", 1)))
static tg_reduction kl_reduction(const oracle_params *p) {
  return !strcmp(oracle_str(p, "reduction", "mean"), "batchmean") ? TG_REDUCTION_BATCHMEAN : reduction(p);
}
ONE(kl_div, tg_kl_div(x[0], x[1], kl_reduction(p), BOOL("log_target")))
ONE(poisson_nll_loss, tg_poisson_nll_loss(x[0], x[1], BOOL("log_input"), BOOL("full"), NUM("eps", 1e-8),
                                          reduction(p)))
ONE(margin_ranking_loss, tg_margin_ranking_loss(x[0], x[1], x[2], NUM("margin", 0), reduction(p)))
ONE(cosine_embedding_loss, tg_cosine_embedding_loss(x[0], x[1], x[2], NUM("margin", 0), reduction(p)))
ONE(cosine_similarity, tg_cosine_similarity(x[0], x[1], INT("dim", 1), NUM("eps", 1e-8)))

#define E(name) {#name, o_##name}
static const oracle_op table[] = {
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
    E(cross_entropy), E(nll_loss), E(binary_cross_entropy), E(bce_with_logits), E(mse_loss),
    E(gaussian_kl), E(cross_entropy_with), E(nll_loss_with), E(l1_loss), E(smooth_l1_loss),
    E(huber_loss), E(kl_div), E(poisson_nll_loss), E(margin_ranking_loss), E(cosine_embedding_loss),
    E(cosine_similarity),
};

const oracle_op *oracle_find(const char *name) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(table[i].name, name)) return &table[i];
  return NULL;
}
