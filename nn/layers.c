/* The built-in layers: each is a function of tensors (tg_linear, ...) and a
 * module constructor whose forward calls it with the module's parameters. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

/* ---------------------------------------------------------------- Linear */

static bool check_linear(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b) {
  char a[96], c[96];
  if (!tg_tensor_check(x, "linear", 1) || !tg_tensor_check(w, "linear", 2)) return false;
  if (b && !tg_tensor_check(b, "linear", 3)) return false;
  if (w->ndim != 2) {
    tg_error("linear: weight must be 2-D [out, in], got %s", tg_shape_str(w, a, sizeof a));
    return false;
  }
  if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
    tg_error("linear: input %s must end in %zu features to match weight %s",
             tg_shape_str(x, a, sizeof a), w->shape[1], tg_shape_str(w, c, sizeof c));
    return false;
  }
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
    tg_error("linear: bias %s must be [%zu] to match weight %s", tg_shape_str(b, a, sizeof a),
             w->shape[0], tg_shape_str(w, c, sizeof c));
    return false;
  }
  if (x->dtype != w->dtype || (b && b->dtype != w->dtype)) {
    tg_error("linear: input is %s but the weight is %s; convert the input (tg_to_dtype) or the "
             "module (tg_module_to_)", tg_dtype_name(x->dtype), tg_dtype_name(w->dtype));
    return false;
  }
  return true;
}

/* dst (cols) += the column sums of g (rows, cols), both contiguous */
static void add_column_sums(tg_tensor *dst, const tg_tensor *g, size_t rows, size_t cols) {
  if (g->dtype == TG_FLOAT32) {
    float *restrict d = (float *)tg_ptr(dst);
    const float *restrict r = (const float *)tg_ptr(g);
    for (size_t i = 0; i < rows; i++, r += cols)
      for (size_t j = 0; j < cols; j++) d[j] += r[j];
  } else {
    double *restrict d = (double *)tg_ptr(dst);
    const double *restrict r = (const double *)tg_ptr(g);
    for (size_t i = 0; i < rows; i++, r += cols)
      for (size_t j = 0; j < cols; j++) d[j] += r[j];
  }
}

/* where the gradient for input i goes: straight into the leaf's .grad
 * (beta = 1) when the engine allows it, else a fresh buffer for grad_in */
static tg_tensor *grad_dest(tg_node *n, int i, tg_tensor **gi, int ndim, const size_t *shape,
                            double *beta) {
  tg_tensor *sink = tg_node_grad_sink(n, i);
  *beta = sink ? 1.0 : 0.0;
  if (sink) return sink;
  gi[i] = tg_tensor_alloc(n->in[i]->dtype, ndim, shape);
  return gi[i];
}

/* x (N, in), W (out, in), b (out); g (N, out).
 * dx = g W, dW = g^T x, db = column sums of g. Without create_graph the
 * products go through BLAS directly, dW and db into the parameters' .grad
 * when the engine allows; with it, through recorded ops. */
static void linear_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *w = n->in[1];
  if (!ops_fused_backward()) {
    if (tg_node_needs_grad(n, 0)) gi[0] = tg_matmul(g, w);
    if (tg_node_needs_grad(n, 1)) gi[1] = tg_matmul(tg_t(g), x);
    if (tg_node_needs_grad(n, 2)) gi[2] = tg_sum_dims(g, 1, (int[]){0}, false);
    return;
  }
  size_t rows = x->shape[0], in = w->shape[1], out = w->shape[0];
  tg_tensor *gc = tg_is_contiguous(g) ? g : tg_contiguous(g);
  if (!gc) return;
  double beta;
  if (tg_node_needs_grad(n, 0)) {
    tg_tensor *dx = grad_dest(n, 0, gi, TG_SHAPE(rows, in), &beta);
    if (dx) ops_gemm(false, false, rows, in, out, gc, out, w, in, beta, dx);
  }
  if (tg_node_needs_grad(n, 1)) {
    tg_tensor *dw = grad_dest(n, 1, gi, TG_SHAPE(out, in), &beta);
    if (dw) ops_gemm(true, false, out, in, rows, gc, out, x, in, beta, dw);
  }
  if (tg_node_needs_grad(n, 2)) {
    tg_tensor *db = grad_dest(n, 2, gi, TG_SHAPE(out), &beta);
    if (db && beta == 0) memset(tg_ptr(db), 0, out * tg_elem_bytes(db->dtype));
    if (db) add_column_sums(db, gc, rows, out);
  }
}
TG_DEFINE_OP(OP_ADDMM, "AddmmBackward", linear_backward, TG_SAVES_IN(0) | TG_SAVES_IN(1));
TG_DEFINE_OP(OP_MM, "MmBackward", linear_backward, TG_SAVES_IN(0) | TG_SAVES_IN(1));

/* 2-D contiguous x, W, b: y = b + x W^T as one node (PyTorch's addmm): the
 * bias rows are written first and the GEMM adds onto them (beta = 1) */
static tg_tensor *linear_fused(tg_tensor *x, tg_tensor *w, tg_tensor *b) {
  size_t rows = x->shape[0], in = w->shape[1], out = w->shape[0];
  tg_tensor *y = tg_tensor_alloc(x->dtype, TG_SHAPE(rows, out));
  if (!y) return NULL;
  size_t row_bytes = out * tg_elem_bytes(y->dtype);
  for (size_t i = 0; b && i < rows; i++) memcpy(tg_ptr(y) + i * row_bytes, tg_ptr(b), row_bytes);
  ops_gemm(false, true, rows, out, in, x, in, w, in, b ? 1.0 : 0.0, y);
  ops_record(y, b ? &OP_ADDMM : &OP_MM, b ? 3 : 2, (tg_tensor *[]){x, w, b});
  return y;
}

tg_tensor *tg_linear(tg_tensor *x, tg_tensor *weight, tg_tensor *bias) {
  if (!check_linear(x, weight, bias)) return NULL;
  if (x->ndim == 2 && tg_is_contiguous(x) && tg_is_contiguous(weight) &&
      (!bias || tg_is_contiguous(bias)) && x->shape[0] <= INT32_MAX && weight->shape[0] <= INT32_MAX &&
      weight->shape[1] <= INT32_MAX)
    return linear_fused(x, weight, bias);
  /* x is (..., in); W^T is an (in, out) view that BLAS reads with its
   * transpose flag, so the weight is never copied */
  tg_tensor *y = tg_matmul(x, tg_transpose(weight, 0, 1));
  return bias ? tg_add(y, bias) : y; /* bias (out) broadcasts over the rows */
}

static tg_tensor *linear_forward(tg_module *m, tg_tensor *x) {
  return tg_linear(x, m->params[0].tensor, m->n_params > 1 ? m->params[1].tensor : NULL);
}

/* PyTorch's reset_parameters: kaiming_uniform(a = sqrt 5) on the weight
 * gives U(-1/sqrt(in), 1/sqrt(in)); the bias gets the same bound */
static bool linear_init(tg_tensor *w, tg_tensor *b, size_t in, tg_rng *rng) {
  if (!tg_init_kaiming_uniform_(w, rng, sqrt(5.0), TG_FAN_IN, TG_NL_LEAKY_RELU)) return false;
  double bound = in ? 1.0 / sqrt((double)in) : 0.0;
  return !b || tg_init_uniform_(b, rng, -bound, bound);
}

tg_module *tg_nn_linear(size_t in_features, size_t out_features, bool bias, tg_rng *rng) {
  tg_module *m = tg_module_new("Linear", linear_forward);
  tg_tensor *w = m ? tg_module_add_parameter(m, "weight", TG_FLOAT32,
                                             TG_SHAPE(out_features, in_features))
                   : NULL;
  tg_tensor *b = w && bias ? tg_module_add_parameter(m, "bias", TG_FLOAT32, TG_SHAPE(out_features))
                           : NULL;
  if (!w || (bias && !b) || !linear_init(w, b, in_features, rng)) {
    tg_module_free(m);
    return NULL;
  }
  return m;
}

/* ----------------------------------------------------------- activations */

static tg_tensor *relu_forward(tg_module *m, tg_tensor *x) {
  (void)m;
  return tg_relu(x);
}
static tg_tensor *sigmoid_forward(tg_module *m, tg_tensor *x) {
  (void)m;
  return tg_sigmoid(x);
}
static tg_tensor *tanh_forward(tg_module *m, tg_tensor *x) {
  (void)m;
  return tg_tanh(x);
}
static tg_tensor *leaky_relu_forward(tg_module *m, tg_tensor *x) {
  return tg_leaky_relu(x, m->cfg_f[0]);
}
static tg_tensor *elu_forward(tg_module *m, tg_tensor *x) { return tg_elu(x, m->cfg_f[0]); }
static tg_tensor *softmax_forward(tg_module *m, tg_tensor *x) { return tg_softmax(x, m->cfg_i[0]); }
static tg_tensor *log_softmax_forward(tg_module *m, tg_tensor *x) {
  return tg_log_softmax(x, m->cfg_i[0]);
}
static tg_tensor *flatten_forward(tg_module *m, tg_tensor *x) {
  return tg_flatten(x, m->cfg_i[0], m->cfg_i[1]);
}

#define stateless nn_stateless
tg_module *nn_stateless(const char *type, tg_forward_fn fwd, double f, int i0, int i1) {
  tg_module *m = tg_module_new(type, fwd);
  if (m) {
    m->cfg_f[0] = f;
    m->cfg_i[0] = i0;
    m->cfg_i[1] = i1;
  }
  return m;
}

tg_module *tg_nn_relu(void) { return stateless("ReLU", relu_forward, 0, 0, 0); }
tg_module *tg_nn_sigmoid(void) { return stateless("Sigmoid", sigmoid_forward, 0, 0, 0); }
tg_module *tg_nn_tanh(void) { return stateless("Tanh", tanh_forward, 0, 0, 0); }
tg_module *tg_nn_leaky_relu(double negative_slope) {
  return stateless("LeakyReLU", leaky_relu_forward, negative_slope, 0, 0);
}
tg_module *tg_nn_elu(double alpha) { return stateless("ELU", elu_forward, alpha, 0, 0); }
tg_module *tg_nn_softmax(int dim) { return stateless("Softmax", softmax_forward, 0, dim, 0); }
tg_module *tg_nn_log_softmax(int dim) {
  return stateless("LogSoftmax", log_softmax_forward, 0, dim, 0);
}
tg_module *tg_nn_flatten(int start_dim, int end_dim) {
  return stateless("Flatten", flatten_forward, 0, start_dim, end_dim);
}

/* --------------------------------------------------------------- Dropout */

static bool check_p(double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    tg_error("dropout: probability %g is outside [0, 1]", p);
    return false;
  }
  return true;
}

#define DROPOUT_FILL(T)                                                        \
  do {                                                                         \
    T *d = (T *)tg_ptr(mask);                                                  \
    for (size_t i = 0; i < mask->numel; i++) d[i] = tg_rng_uniform(rng) < p ? (T)0 : (T)scale; \
  } while (0)

/* a constant (no history) mask: 0 with probability p, else 1/(1-p) */
static tg_tensor *dropout_mask(const tg_tensor *x, double p, tg_rng *rng) {
  tg_tensor *mask = tg_tensor_alloc(x->dtype, x->ndim, x->shape);
  if (!mask) return NULL;
  double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0; /* p = 1 drops everything */
  if (!rng) rng = tg_default_rng();
  if (x->dtype == TG_FLOAT32) DROPOUT_FILL(float);
  else DROPOUT_FILL(double);
  return mask;
}

tg_tensor *tg_dropout(tg_tensor *x, double p, bool training, tg_rng *rng) {
  if (!ops_check_float("dropout", x, 1) || !check_p(p)) return NULL;
  if (!training || p == 0.0) return x; /* identity, as PyTorch returns the input itself */
  return tg_mul(x, dropout_mask(x, p, rng));
}

static tg_tensor *dropout_forward(tg_module *m, tg_tensor *x) {
  return tg_dropout(x, m->cfg_f[0], m->training, m->rng);
}

tg_module *tg_nn_dropout(double p, tg_rng *rng) {
  if (!check_p(p)) return NULL;
  tg_module *m = stateless("Dropout", dropout_forward, p, 0, 0);
  if (m) m->rng = rng;
  return m;
}

/* ------------------------------------------------------------- BatchNorm */

/* a per-channel tensor t (C) must be float, (C), and of x's dtype */
static bool check_channel(const char *what, const tg_tensor *t, const tg_tensor *x) {
  char a[96];
  if (!t) return true;
  if (!tg_tensor_check(t, "batch_norm", 2)) return false;
  if (t->ndim != 1 || t->shape[0] != x->shape[1] || t->dtype != x->dtype) {
    tg_error("batch_norm: %s is %s %s; expected %s [%zu] for input with %zu channels", what,
             tg_dtype_name(t->dtype), tg_shape_str(t, a, sizeof a), tg_dtype_name(x->dtype),
             x->shape[1], x->shape[1]);
    return false;
  }
  return true;
}

/* values per channel: N for (N, C), N*L for (N, C, L) */
static size_t per_channel_count(const tg_tensor *x) {
  return x->shape[0] * (x->ndim == 3 ? x->shape[2] : 1);
}

static bool check_batch_norm(const tg_tensor *x, const tg_tensor *rm, const tg_tensor *rv,
                             const tg_tensor *w, const tg_tensor *b, bool training) {
  char a[96];
  if (!ops_check_float("batch_norm", x, 1)) return false;
  if (x->ndim != 2 && x->ndim != 3) {
    tg_error("batch_norm: input must be (N, C) or (N, C, L), got %s", tg_shape_str(x, a, sizeof a));
    return false;
  }
  if (!check_channel("running_mean", rm, x) || !check_channel("running_var", rv, x) ||
      !check_channel("weight", w, x) || !check_channel("bias", b, x))
    return false;
  if (!training && (!rm || !rv)) {
    tg_error("batch_norm: evaluation mode needs running_mean and running_var");
    return false;
  }
  if (training && per_channel_count(x) <= 1) {
    tg_error("batch_norm: expected more than 1 value per channel when training, got input %s",
             tg_shape_str(x, a, sizeof a));
    return false;
  }
  return true;
}

/* t (C) viewed so it broadcasts against x: (C) for (N, C), (C, 1) for (N, C, L) */
static tg_tensor *per_channel(tg_tensor *t, const tg_tensor *x) {
  return x->ndim == 3 ? tg_reshape(t, TG_SHAPE(t->shape[0], 1)) : t;
}

/* running = (1 - f) running + f batch, with the unbiased batch variance;
 * element by element in place: no history, no allocation */
static void update_running(tg_tensor *rm, tg_tensor *rv, const tg_tensor *mean,
                           const tg_tensor *var, size_t count, double f) {
  double unbias = (double)count / (double)(count - 1);
  for (size_t c = 0; c < rm->numel; c++) {
    double m = tg_get_flat(mean, c), v = tg_get_flat(var, c) * unbias;
    tg_set(rm, &c, (1.0 - f) * tg_get_flat(rm, c) + f * m);
    tg_set(rv, &c, (1.0 - f) * tg_get_flat(rv, c) + f * v);
  }
}

tg_tensor *tg_batch_norm(tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                         tg_tensor *weight, tg_tensor *bias, bool training, double momentum,
                         double eps) {
  if (!check_batch_norm(x, running_mean, running_var, weight, bias, training)) return NULL;
  /* statistics over every dim but the channel dim 1 */
  const int dims[2] = {0, 2};
  int nd = x->ndim - 1;
  tg_tensor *mean, *var;
  if (training) {
    mean = tg_mean_dims(x, nd, dims, true); /* (1, C) or (1, C, 1) */
    var = tg_var_dims(x, nd, dims, false, true);
    if (!mean || !var) return NULL;
    if (running_mean && running_var)
      update_running(running_mean, running_var, mean, var, per_channel_count(x), momentum);
  } else {
    mean = per_channel(running_mean, x);
    var = per_channel(running_var, x);
  }
  tg_tensor *y = tg_div(tg_sub(x, mean), tg_sqrt(tg_add_scalar(var, eps)));
  if (weight) y = tg_mul(y, per_channel(weight, x));
  if (bias) y = tg_add(y, per_channel(bias, x));
  return y;
}

static tg_tensor *batchnorm_forward(tg_module *m, tg_tensor *x) {
  bool affine = m->n_params == 2;
  tg_tensor *nbt = m->buffers[2].tensor;
  int64_t *count = (int64_t *)tg_ptr(nbt);
  /* momentum NAN: cumulative average, factor 1 / batches seen (this one included) */
  double f = isnan(m->cfg_f[1]) ? 1.0 / (double)(*count + 1) : m->cfg_f[1];
  tg_tensor *y = tg_batch_norm(x, m->buffers[0].tensor, m->buffers[1].tensor,
                               affine ? m->params[0].tensor : NULL,
                               affine ? m->params[1].tensor : NULL, m->training, f, m->cfg_f[0]);
  if (y && m->training) {
    (*count)++;
    nbt->storage->version++;
  }
  return y;
}

tg_module *tg_nn_batchnorm1d(size_t num_features, double eps, double momentum, bool affine) {
  if (!(eps >= 0) || !(isnan(momentum) || (momentum >= 0 && momentum <= 1))) {
    tg_error("batchnorm1d: eps %g must be >= 0 and momentum %g in [0, 1] (or NAN)", eps, momentum);
    return NULL;
  }
  tg_module *m = stateless("BatchNorm1d", batchnorm_forward, eps, 0, 0);
  if (!m) return NULL;
  m->cfg_f[1] = momentum;
  /* PyTorch's order and starting values: weight 1, bias 0, mean 0, var 1 */
  bool ok = true;
  if (affine) {
    ok = tg_init_ones_(tg_module_add_parameter(m, "weight", TG_FLOAT32, TG_SHAPE(num_features))) != NULL;
    ok = ok && tg_module_add_parameter(m, "bias", TG_FLOAT32, TG_SHAPE(num_features)) != NULL;
  }
  ok = ok && tg_module_add_buffer(m, "running_mean", TG_FLOAT32, TG_SHAPE(num_features)) != NULL;
  ok = ok && tg_init_ones_(tg_module_add_buffer(m, "running_var", TG_FLOAT32,
                                                TG_SHAPE(num_features))) != NULL;
  ok = ok && tg_module_add_buffer(m, "num_batches_tracked", TG_INT64, 0, NULL) != NULL;
  if (!ok) {
    tg_module_free(m);
    return NULL;
  }
  return m;
}
