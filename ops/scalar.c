/* Ops between a tensor and a number. The number is a parameter of the node,
 * not a tensor, so it costs no allocation and gets no gradient. */
#include <tgmath.h>

#include "ops_internal.h"

static tg_tensor *scalar_op(const char *name, tg_tensor *a, const ops_kernel *k, double s,
                            const tg_op *op) {
  tg_dtype cast_to = (tg_dtype)-1;
  if (__builtin_expect(a && !tg_dtype_is_float(a->dtype), 0) && !ops_promote_scalar(name, &a, s, &cast_to))
    return NULL;
  tg_tensor *out = ops_unary_forward(name, a, k, (ops_params){s, 0});
  tg_node *n = ops_record(out, op, 1, &a);
  double *f = n ? tg_node_f(n) : NULL; /* ops whose backward needs s declare TG_NODE_F */
  if (f) f[0] = s;
  return __builtin_expect((int)cast_to < 0, 1) ? out : ops_promote_back(out, cast_to);
}

OPS_UNARY_KERNEL(add_s_k, x + p0)
static void add_scalar_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  (void)n;
  gi[0] = g;
}
TG_DEFINE_OP_JVP(OP_ADD_SCALAR, "AddBackward", add_scalar_backward, ops_jvp_diag, 0);
tg_tensor *tg_add_scalar(tg_tensor *a, double s) {
  return scalar_op("add_scalar", a, &add_s_k, s, &OP_ADD_SCALAR);
}
tg_tensor *tg_sub_scalar(tg_tensor *a, double s) {
  return scalar_op("sub_scalar", a, &add_s_k, -s, &OP_ADD_SCALAR);
}

OPS_UNARY_KERNEL(rsub_s_k, p0 - x)
static void rsub_scalar_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  (void)n;
  gi[0] = tg_neg(g);
}
TG_DEFINE_OP_JVP(OP_RSUB_SCALAR, "RsubBackward", rsub_scalar_backward, ops_jvp_diag, 0);
tg_tensor *tg_rsub_scalar(tg_tensor *a, double s) {
  return scalar_op("rsub_scalar", a, &rsub_s_k, s, &OP_RSUB_SCALAR);
}

OPS_UNARY_KERNEL(mul_s_k, x *p0)
static void mul_scalar_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (ops_scalar_node(n, g)) OPS_SCALAR_GRAD(n, 0, g, gi, gv * (T)tg_node_f(n)[0]);
  else gi[0] = tg_mul_scalar(g, tg_node_f(n)[0]);
}
TG_DEFINE_OP_JVP(OP_MUL_SCALAR, "MulBackward", mul_scalar_backward, ops_jvp_diag, TG_NODE_F);
tg_tensor *tg_mul_scalar(tg_tensor *a, double s) {
  return scalar_op("mul_scalar", a, &mul_s_k, s, &OP_MUL_SCALAR);
}

OPS_UNARY_KERNEL(div_s_k, x / p0)
static void div_scalar_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (ops_scalar_node(n, g)) OPS_SCALAR_GRAD(n, 0, g, gi, gv / (T)tg_node_f(n)[0]);
  else gi[0] = tg_div_scalar(g, tg_node_f(n)[0]);
}
TG_DEFINE_OP_JVP(OP_DIV_SCALAR, "DivBackward", div_scalar_backward, ops_jvp_diag, TG_NODE_F);
tg_tensor *tg_div_scalar(tg_tensor *a, double s) {
  return scalar_op("div_scalar", a, &div_s_k, s, &OP_DIV_SCALAR);
}

/* pow by a number: d/da = e * a^(e-1); e == 0 gives a zero gradient. On
 * 0-d operands without create_graph the chain of ops below runs as one
 * expression, each step rounded to the dtype as those ops round it. */
OPS_UNARY_KERNEL(pow_s_k, p0 == 2 ? x * x : pow(x, p0))
#define POW_SCALAR_GRAD(T, g, x, e)                                            \
  ((e) == 0   ? (T)((g) * (T)0.0)                                              \
   : (e) == 2 ? (T)((g) * (T)((x) * (T)2.0))                                  \
              : (T)((g) * (T)(((T)((e) - 1) == 2 ? (T)((x) * (x)) : (T)pow((x), (T)((e) - 1))) * (T)(e))))
static void pow_scalar_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  double e = tg_node_f(n)[0];
  if (e != 1 && ops_scalar_node(n, g)) {
    if (g->dtype == TG_FLOAT64) {
      double gv = *(const double *)tg_ptr(g), x = *(const double *)tg_ptr(n->in[0]);
      gi[0] = ops_scalar_grad_f64(n, 0, POW_SCALAR_GRAD(double, gv, x, e));
    } else {
      float gv = *(const float *)tg_ptr(g), x = *(const float *)tg_ptr(n->in[0]);
      gi[0] = ops_scalar_grad_f32(n, 0, POW_SCALAR_GRAD(float, gv, x, e));
    }
    return;
  }
  if (e == 0) gi[0] = tg_mul_scalar(g, 0.0);
  else if (e == 1) gi[0] = g;
  else if (e == 2) gi[0] = tg_mul(g, tg_mul_scalar(n->in[0], 2.0));
  else gi[0] = tg_mul(g, tg_mul_scalar(tg_pow_scalar(n->in[0], e - 1), e));
}
TG_DEFINE_OP_JVP(OP_POW_SCALAR, "PowBackward", pow_scalar_backward, ops_jvp_diag, TG_SAVES_IN(0) | TG_NODE_F);
tg_tensor *tg_pow_scalar(tg_tensor *a, double e) {
  return scalar_op("pow_scalar", a, &pow_s_k, e, &OP_POW_SCALAR);
}
