/* Unary elementwise ops. Piecewise derivatives use a constant 0/1 mask (no
 * history) times differentiable pieces, so double backward stays correct. */
#include <tgmath.h>

#include "ops_internal.h"

#define unary ops_unary_op
#define mask ops_unary_mask

tg_tensor *ops_unary_op(const char *name, tg_tensor *a, const ops_kernel *k, ops_params prm,
                        const tg_op *op) {
  tg_dtype cast_to = (tg_dtype)-1;
  if (__builtin_expect(a && !tg_dtype_is_float(a->dtype), 0) && !ops_promote_unary(name, &a, &cast_to))
    return NULL;
  tg_tensor *out = ops_unary_forward(name, a, k, prm);
  tg_node *n = ops_record(out, op, 1, &a);
  double *f = n ? tg_node_f(n) : NULL; /* parametrised ops declare TG_NODE_F */
  if (f) {
    f[0] = prm.p0;
    f[1] = prm.p1;
  }
  return __builtin_expect((int)cast_to < 0, 1) ? out : ops_promote_back(out, cast_to);
}

tg_tensor *ops_unary_mask(tg_node *n, const ops_kernel *k) {
  const double *f = tg_node_f(n);
  return ops_unary_forward("mask", n->in[0], k, f ? (ops_params){f[0], f[1]} : (ops_params){0, 0});
}

OPS_UNARY_KERNEL(neg_k, -x)
static void neg_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (ops_scalar_node(n, g)) OPS_SCALAR_GRAD(n, 0, g, gi, -gv);
  else gi[0] = tg_neg(g);
}
TG_DEFINE_OP_JVP(OP_NEG, "NegBackward", neg_backward, ops_jvp_diag, 0);
tg_tensor *tg_neg(tg_tensor *a) { return unary("neg", a, &neg_k, (ops_params){0, 0}, &OP_NEG); }

OPS_UNARY_KERNEL(exp_k, ops_exp(x))
static void exp_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) { gi[0] = tg_mul(g, n->out); }
TG_DEFINE_OP_JVP(OP_EXP, "ExpBackward", exp_backward, ops_jvp_diag, TG_SAVES_OUT);
tg_tensor *tg_exp(tg_tensor *a) { return unary("exp", a, &exp_k, (ops_params){0, 0}, &OP_EXP); }

OPS_UNARY_KERNEL(log_k, ops_log(x))
static void log_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) { gi[0] = tg_div(g, n->in[0]); }
TG_DEFINE_OP_JVP(OP_LOG, "LogBackward", log_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_log(tg_tensor *a) { return unary("log", a, &log_k, (ops_params){0, 0}, &OP_LOG); }

OPS_UNARY_KERNEL(sqrt_k, sqrt(x))
static void sqrt_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_div(g, tg_mul_scalar(n->out, 2.0));
}
TG_DEFINE_OP_JVP(OP_SQRT, "SqrtBackward", sqrt_backward, ops_jvp_diag, TG_SAVES_OUT);
tg_tensor *tg_sqrt(tg_tensor *a) { return unary("sqrt", a, &sqrt_k, (ops_params){0, 0}, &OP_SQRT); }

OPS_UNARY_KERNEL(abs_k, fabs(x))
OPS_UNARY_KERNEL(sign_k, x > 0 ? 1 : (x < 0 ? -1 : 0))
static void abs_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul(g, mask(n, &sign_k));
}
TG_DEFINE_OP_JVP(OP_ABS, "AbsBackward", abs_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_abs(tg_tensor *a) { return unary("abs", a, &abs_k, (ops_params){0, 0}, &OP_ABS); }

OPS_UNARY_KERNEL(sin_k, sin(x))
static void sin_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul(g, tg_cos(n->in[0]));
}
TG_DEFINE_OP_JVP(OP_SIN, "SinBackward", sin_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_sin(tg_tensor *a) { return unary("sin", a, &sin_k, (ops_params){0, 0}, &OP_SIN); }

OPS_UNARY_KERNEL(cos_k, cos(x))
static void cos_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_neg(tg_mul(g, tg_sin(n->in[0])));
}
TG_DEFINE_OP_JVP(OP_COS, "CosBackward", cos_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_cos(tg_tensor *a) { return unary("cos", a, &cos_k, (ops_params){0, 0}, &OP_COS); }

/* tanh' = 1 - tanh^2, from the saved output */
OPS_UNARY_KERNEL(tanh_k, ops_tanh(x))
OPS_BINARY_KERNEL(tanh_grad_k, x * (1 - y * y))
static void tanh_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (ops_fused_backward()) gi[0] = ops_binary_forward("tanh", g, n->out, &tanh_grad_k, (ops_params){0, 0});
  else gi[0] = tg_mul(g, tg_rsub_scalar(tg_mul(n->out, n->out), 1.0));
}
TG_DEFINE_OP_JVP(OP_TANH, "TanhBackward", tanh_backward, ops_jvp_diag, TG_SAVES_OUT);
tg_tensor *tg_tanh(tg_tensor *a) { return unary("tanh", a, &tanh_k, (ops_params){0, 0}, &OP_TANH); }

/* sigmoid as one node; the two branches avoid overflow of exp(-x) */
OPS_UNARY_KERNEL(sigmoid_k, ops_sigmoid(x))
OPS_BINARY_KERNEL(sigmoid_grad_k, x * (y * (1 - y)))
static void sigmoid_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (ops_fused_backward())
    gi[0] = ops_binary_forward("sigmoid", g, n->out, &sigmoid_grad_k, (ops_params){0, 0});
  else gi[0] = tg_mul(g, tg_mul(n->out, tg_rsub_scalar(n->out, 1.0)));
}
TG_DEFINE_OP_JVP(OP_SIGMOID, "SigmoidBackward", sigmoid_backward, ops_jvp_diag, TG_SAVES_OUT);
tg_tensor *tg_sigmoid(tg_tensor *a) {
  return unary("sigmoid", a, &sigmoid_k, (ops_params){0, 0}, &OP_SIGMOID);
}

OPS_UNARY_KERNEL(relu_k, x > 0 ? x : 0)
OPS_UNARY_KERNEL(positive_k, x > 0 ? 1 : 0)
OPS_BINARY_KERNEL(relu_grad_k, y > 0 ? x : 0)
static void relu_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (ops_scalar_node(n, g)) OPS_SCALAR_GRAD(n, 0, g, gi, OPS_V(n, 0) > 0 ? gv : 0);
  else if (ops_fused_backward())
    gi[0] = ops_binary_forward("relu", g, n->in[0], &relu_grad_k, (ops_params){0, 0});
  else gi[0] = tg_mul(g, mask(n, &positive_k));
}
TG_DEFINE_OP_JVP(OP_RELU, "ReluBackward", relu_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_relu(tg_tensor *a) { return unary("relu", a, &relu_k, (ops_params){0, 0}, &OP_RELU); }

OPS_UNARY_KERNEL(leaky_k, x > 0 ? x : x * p0)
OPS_UNARY_KERNEL(leaky_d_k, x > 0 ? 1 : p0)
static void leaky_relu_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul(g, mask(n, &leaky_d_k));
}
TG_DEFINE_OP_JVP(OP_LEAKY_RELU, "LeakyReluBackward", leaky_relu_backward, ops_jvp_diag, TG_SAVES_IN(0) | TG_NODE_F);
tg_tensor *tg_leaky_relu(tg_tensor *a, double slope) {
  return unary("leaky_relu", a, &leaky_k, (ops_params){slope, 0}, &OP_LEAKY_RELU);
}

/* elu' = 1 for x > 0, alpha*exp(x) = out + alpha (kept differentiable) for
 * x < 0, and alpha as a constant at x = 0, where PyTorch's second
 * derivative is 0 */
OPS_UNARY_KERNEL(elu_k, x > 0 ? x : p0 * expm1(x))
OPS_UNARY_KERNEL(negative_k, x < 0 ? 1 : 0)
OPS_UNARY_KERNEL(elu_d_at_zero_k, x == 0 ? p0 : 0)
static void elu_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *neg_side = tg_mul(mask(n, &negative_k), tg_add_scalar(n->out, tg_node_f(n)[0]));
  tg_tensor *pieces = tg_add(tg_add(mask(n, &positive_k), mask(n, &elu_d_at_zero_k)), neg_side);
  gi[0] = tg_mul(g, pieces);
}
TG_DEFINE_OP_JVP(OP_ELU, "EluBackward", elu_backward, ops_jvp_diag, TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_F);
tg_tensor *tg_elu(tg_tensor *a, double alpha) {
  return unary("elu", a, &elu_k, (ops_params){alpha, 0}, &OP_ELU);
}

/* softplus = log(1 + exp(beta x)) / beta, linear past the threshold;
 * its derivative is sigmoid(beta x) (1 past the threshold) */
OPS_UNARY_KERNEL(softplus_k, x * p0 > p1 ? x : log1p(exp(x * p0)) / p0)
OPS_UNARY_KERNEL(linear_part_k, x * p0 > p1 ? 1 : 0)
static void softplus_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *m = mask(n, &linear_part_k);
  tg_tensor *s = tg_sigmoid(tg_mul_scalar(n->in[0], tg_node_f(n)[0]));
  gi[0] = tg_mul(g, tg_add(m, tg_mul(tg_rsub_scalar(m, 1.0), s)));
}
TG_DEFINE_OP_JVP(OP_SOFTPLUS, "SoftplusBackward", softplus_backward, ops_jvp_diag, TG_SAVES_IN(0) | TG_NODE_F);
tg_tensor *tg_softplus(tg_tensor *a, double beta, double threshold) {
  if (beta == 0) {
    tg_error("softplus: beta must be non-zero");
    return NULL;
  }
  return unary("softplus", a, &softplus_k, (ops_params){beta, threshold}, &OP_SOFTPLUS);
}

/* clamp: min(max(x, lo), hi) as PyTorch, so lo > hi gives hi everywhere;
 * the gradient passes where lo <= x <= hi (nowhere if lo > hi); a NaN bound
 * is no bound */
#define CLAMP_LO(x) ((!isnan(p0) && (x) < p0) ? p0 : (x))
OPS_UNARY_KERNEL(clamp_k, (!isnan(p1) && CLAMP_LO(x) > p1) ? p1 : CLAMP_LO(x))
OPS_UNARY_KERNEL(inside_k, ((isnan(p0) || x >= p0) && (isnan(p1) || x <= p1)) ? 1 : 0)
static void clamp_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul(g, mask(n, &inside_k));
}
TG_DEFINE_OP_JVP(OP_CLAMP, "ClampBackward", clamp_backward, ops_jvp_diag, TG_SAVES_IN(0) | TG_NODE_F);
static bool integral_or_none(double v) { return isnan(v) || v == floor(v); }
tg_tensor *tg_clamp(tg_tensor *a, double lo, double hi) {
  /* an integer tensor with a fractional bound is clamped in float32, as PyTorch */
  if (a && !tg_dtype_is_float(a->dtype) && (!integral_or_none(lo) || !integral_or_none(hi)))
    a = tg_to_dtype(a, TG_FLOAT32);
  return unary("clamp", a, &clamp_k, (ops_params){lo, hi}, &OP_CLAMP);
}
