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
/* tangent: tx Wᵀ + x tWᵀ (+ tb) */
static tg_tensor *linear_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0], *w = n->in[1], *y = NULL;
  if (t[0]) y = tg_matmul(t[0], tg_t(w));
  if (t[1]) y = y ? tg_add(y, tg_matmul(x, tg_t(t[1]))) : tg_matmul(x, tg_t(t[1]));
  if (n->n_in > 2 && t[2]) y = y ? tg_add(y, t[2]) : t[2];
  return y;
}
TG_DEFINE_OP_JVP(OP_ADDMM, "AddmmBackward", linear_backward, linear_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
TG_DEFINE_OP_JVP(OP_MM, "MmBackward", linear_backward, linear_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));

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
  return nn_with_repr(m, "in_features=%zu, out_features=%zu, bias=%s", in_features, out_features,
                      nn_pybool(bias));
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
  return nn_with_repr(stateless("LeakyReLU", leaky_relu_forward, negative_slope, 0, 0), "negative_slope=%s",
                      nn_pyfloat(negative_slope));
}
tg_module *tg_nn_elu(double alpha) {
  return nn_with_repr(stateless("ELU", elu_forward, alpha, 0, 0), "alpha=%s", nn_pyfloat(alpha));
}
tg_module *tg_nn_softmax(int dim) {
  return nn_with_repr(stateless("Softmax", softmax_forward, 0, dim, 0), "dim=%d", dim);
}
tg_module *tg_nn_log_softmax(int dim) {
  return nn_with_repr(stateless("LogSoftmax", log_softmax_forward, 0, dim, 0), "dim=%d", dim);
}
tg_module *tg_nn_flatten(int start_dim, int end_dim) {
  return nn_with_repr(stateless("Flatten", flatten_forward, 0, start_dim, end_dim),
                      "start_dim=%d, end_dim=%d", start_dim, end_dim);
}

/* --------------------------------------------------------------- Dropout */

static bool check_p(const char *op, double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    tg_error("%s: probability %g is outside [0, 1]", op, p);
    return false;
  }
  return true;
}

#define DROPOUT_FILL(T)                                                        \
  do {                                                                         \
    T *d = (T *)tg_ptr(mask);                                                  \
    for (size_t i = 0; i < mask->numel; i++) d[i] = tg_rng_uniform(rng) < p ? (T)0 : (T)scale; \
  } while (0)

/* a constant (no history) mask: 0 with probability p, else 1/(1-p), one
 * draw per element in order */
static tg_tensor *dropout_mask(tg_dtype dt, int ndim, const size_t *shape, double p, tg_rng *rng) {
  tg_tensor *mask = tg_tensor_alloc(dt, ndim, shape);
  if (!mask) return NULL;
  double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0; /* p = 1 drops everything */
  if (!rng) rng = tg_default_rng();
  if (dt == TG_FLOAT32) DROPOUT_FILL(float);
  else DROPOUT_FILL(double);
  return mask;
}

tg_tensor *tg_dropout(tg_tensor *x, double p, bool training, tg_rng *rng) {
  if (!ops_check_float("dropout", x, 1) || !check_p("dropout", p)) return NULL;
  if (!training || p == 0.0) return x; /* identity, as PyTorch returns the input itself */
  return tg_mul(x, dropout_mask(x->dtype, x->ndim, x->shape, p, rng));
}

/* PyTorch 1.13's feature dropout: whatever the rank (it warns for other
 * than 3 or 4 dims, and takes a 3-d input as (N, C, L)), one draw per
 * (n, c), the mask broadcast over the remaining dims. p = 1 zeroes without
 * drawing, even a 1-d input, as PyTorch returns before it makes the mask. */
tg_tensor *tg_dropout2d(tg_tensor *x, double p, bool training, tg_rng *rng) {
  if (!ops_check_float("dropout2d", x, 1) || !check_p("dropout2d", p)) return NULL;
  if (!training || p == 0.0 || x->numel == 0) return x;
  if (p == 1.0) return tg_mul_scalar(x, 0.0);
  if (x->ndim < 2) {
    tg_error("dropout2d: feature dropout requires at least 2 dimensions in the input (got %dD input)",
             x->ndim);
    return NULL;
  }
  size_t shape[TG_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) shape[d] = d < 2 ? x->shape[d] : 1;
  return tg_mul(x, dropout_mask(x->dtype, x->ndim, shape, p, rng));
}

static tg_tensor *dropout_forward(tg_module *m, tg_tensor *x) {
  return tg_dropout(x, m->cfg_f[0], m->training, m->rng);
}

static tg_tensor *dropout2d_forward(tg_module *m, tg_tensor *x) {
  return tg_dropout2d(x, m->cfg_f[0], m->training, m->rng);
}

static tg_module *dropout_module(const char *op, const char *type, tg_forward_fn fwd, double p,
                                 tg_rng *rng) {
  if (!check_p(op, p)) return NULL;
  tg_module *m = stateless(type, fwd, p, 0, 0);
  if (m) m->rng = rng;
  return nn_with_repr(m, "p=%s, inplace=False", nn_pyfloat(p));
}

tg_module *tg_nn_dropout(double p, tg_rng *rng) { return dropout_module("dropout", "Dropout", dropout_forward, p, rng); }
tg_module *tg_nn_dropout2d(double p, tg_rng *rng) {
  return dropout_module("dropout2d", "Dropout2d", dropout2d_forward, p, rng);
}
