/* Shared machinery for ops/: argument checks, the elementwise drivers and
 * the kernel macros. An elementwise op is a kernel (a typed loop generated
 * from one expression), a forward call to a driver, and a backward written
 * with tg_* ops right next to it. */
#ifndef TG_OPS_INTERNAL_H
#define TG_OPS_INTERNAL_H

#include "fwad_internal.h"
#include "tg_extension.h"
#include "tg_internal.h"
#include "tg_ops.h"
#include "vmath.h"

/* float32 and float64 loops of one elementwise kernel, and the same
 * expression on one element (x, y, p0, p1; NULL for ternary kernels) for
 * 0-d operands, where a loop's set-up would cost more than the element */
typedef struct ops_kernel {
  tg_loop_fn f32, f64;
  float (*s32)(float x, float y, float p0, float p1);
  double (*s64)(double x, double y, double p0, double p1);
} ops_kernel;

/* one element of EXPR in T, as the loops compute it (the same bits) */
#define OPS_SCALAR_FN(NAME, T, EXPR)                                           \
  static T NAME(T x, T y, T p0, T p1) {                                        \
    (void)x;                                                                   \
    (void)y;                                                                   \
    (void)p0;                                                                  \
    (void)p1;                                                                  \
    return (T)(EXPR);                                                          \
  }

/* parameters a kernel reads as p0, p1 */
typedef struct ops_params {
  double p0, p1;
} ops_params;

/* Generates NAME: a kernel computing EXPR from x (and y for binary) per
 * element, in the element type T (tgmath picks expf for float). The
 * contiguous case is a separate loop so the compiler can vectorise it. */
#define OPS_UNARY_LOOP(NAME, T, EXPR)                                          \
  static void NAME(char **p_, const ptrdiff_t *s_, size_t n_, const void *a_) { \
    const ops_params *prm_ = a_;                                               \
    const T p0 = prm_ ? (T)prm_->p0 : 0, p1 = prm_ ? (T)prm_->p1 : 0;         \
    (void)p0;                                                                  \
    (void)p1;                                                                  \
    T *restrict o_ = (T *)p_[0];                                               \
    const T *restrict a_p = (const T *)p_[1];                                  \
    ptrdiff_t so_ = s_[0] / (ptrdiff_t)sizeof(T), sa_ = s_[1] / (ptrdiff_t)sizeof(T); \
    if (so_ == 1 && sa_ == 1) {                                                \
      for (size_t i_ = 0; i_ < n_; i_++) {                                     \
        const T x = a_p[i_];                                                   \
        o_[i_] = (T)(EXPR);                                                    \
      }                                                                        \
    } else {                                                                   \
      for (size_t i_ = 0; i_ < n_; i_++) {                                     \
        const T x = a_p[(ptrdiff_t)i_ * sa_];                                  \
        o_[(ptrdiff_t)i_ * so_] = (T)(EXPR);                                   \
      }                                                                        \
    }                                                                          \
  }

#define OPS_UNARY_KERNEL(NAME, EXPR)                                           \
  OPS_UNARY_LOOP(NAME##_f32, float, EXPR)                                      \
  OPS_UNARY_LOOP(NAME##_f64, double, EXPR)                                     \
  OPS_SCALAR_FN(NAME##_s32, float, EXPR)                                       \
  OPS_SCALAR_FN(NAME##_s64, double, EXPR)                                      \
  static const ops_kernel NAME = {NAME##_f32, NAME##_f64, NAME##_s32, NAME##_s64};

#define OPS_BINARY_LOOP(NAME, T, EXPR)                                         \
  static void NAME(char **p_, const ptrdiff_t *s_, size_t n_, const void *a_) { \
    (void)a_;                                                                  \
    T *restrict o_ = (T *)p_[0];                                               \
    const T *restrict a_p = (const T *)p_[1];                                  \
    const T *restrict b_p = (const T *)p_[2];                                  \
    ptrdiff_t so_ = s_[0] / (ptrdiff_t)sizeof(T), sa_ = s_[1] / (ptrdiff_t)sizeof(T), \
              sb_ = s_[2] / (ptrdiff_t)sizeof(T);                              \
    if (so_ == 1 && sa_ == 1 && sb_ == 1) {                                    \
      for (size_t i_ = 0; i_ < n_; i_++) {                                     \
        const T x = a_p[i_], y = b_p[i_];                                      \
        o_[i_] = (T)(EXPR);                                                    \
      }                                                                        \
    } else if (so_ == 1 && sa_ == 1 && sb_ == 0) {                             \
      const T y = b_p[0];                                                      \
      for (size_t i_ = 0; i_ < n_; i_++) {                                     \
        const T x = a_p[i_];                                                   \
        o_[i_] = (T)(EXPR);                                                    \
      }                                                                        \
    } else {                                                                   \
      for (size_t i_ = 0; i_ < n_; i_++) {                                     \
        const T x = a_p[(ptrdiff_t)i_ * sa_], y = b_p[(ptrdiff_t)i_ * sb_];    \
        o_[(ptrdiff_t)i_ * so_] = (T)(EXPR);                                   \
      }                                                                        \
    }                                                                          \
  }

#define OPS_BINARY_KERNEL(NAME, EXPR)                                          \
  OPS_BINARY_LOOP(NAME##_f32, float, EXPR)                                     \
  OPS_BINARY_LOOP(NAME##_f64, double, EXPR)                                    \
  OPS_SCALAR_FN(NAME##_s32, float, EXPR)                                       \
  OPS_SCALAR_FN(NAME##_s64, double, EXPR)                                      \
  static const ops_kernel NAME = {NAME##_f32, NAME##_f64, NAME##_s32, NAME##_s64};

#define OPS_TERNARY_LOOP(NAME, T, EXPR)                                        \
  static void NAME(char **p_, const ptrdiff_t *s_, size_t n_, const void *a_) { \
    const ops_params *prm_ = a_;                                               \
    const T p0 = prm_ ? (T)prm_->p0 : 0;                                       \
    (void)p0;                                                                  \
    T *restrict o_ = (T *)p_[0];                                               \
    const T *restrict a_p = (const T *)p_[1];                                  \
    const T *restrict b_p = (const T *)p_[2];                                  \
    const T *restrict c_p = (const T *)p_[3];                                  \
    ptrdiff_t so_ = s_[0] / (ptrdiff_t)sizeof(T), sa_ = s_[1] / (ptrdiff_t)sizeof(T), \
              sb_ = s_[2] / (ptrdiff_t)sizeof(T), sc_ = s_[3] / (ptrdiff_t)sizeof(T); \
    if (so_ == 1 && sa_ == 1 && sb_ == 1 && sc_ == 1) {                        \
      for (size_t i_ = 0; i_ < n_; i_++) {                                     \
        const T x = a_p[i_], y = b_p[i_], z = c_p[i_];                         \
        (void)z;                                                               \
        o_[i_] = (T)(EXPR);                                                    \
      }                                                                        \
    } else {                                                                   \
      for (size_t i_ = 0; i_ < n_; i_++) {                                     \
        const T x = a_p[(ptrdiff_t)i_ * sa_], y = b_p[(ptrdiff_t)i_ * sb_],    \
                z = c_p[(ptrdiff_t)i_ * sc_];                                  \
        (void)z;                                                               \
        o_[(ptrdiff_t)i_ * so_] = (T)(EXPR);                                   \
      }                                                                        \
    }                                                                          \
  }

/* a kernel of three inputs x, y, z: the fused gradients of the backward fast path */
#define OPS_TERNARY_KERNEL(NAME, EXPR)                                         \
  OPS_TERNARY_LOOP(NAME##_f32, float, EXPR)                                    \
  OPS_TERNARY_LOOP(NAME##_f64, double, EXPR)                                   \
  static const ops_kernel NAME = {NAME##_f32, NAME##_f64, NULL, NULL};

/* True inside a backward that records nothing (no create_graph): a backward
 * may then compute its gradient with one fused kernel instead of a chain of
 * tg_* ops, which it must keep for the differentiable (create_graph) case. */
static inline bool ops_fused_backward(void) { return tg_ctx.grad_enabled_off && !tg_fwad_on_; } /* FWAD: tangents need the tg_* ops */

/* JVP of an elementwise op of one input (a diagonal Jacobian, so J v is the
 * backward applied to v): the op's own backward run on the tangent */
tg_tensor *ops_jvp_diag(tg_node *n, tg_tensor *const *t);
/* JVP of a reduction over the dims in tg_node_i(n)[0] whose backward is
 * expand(g) * D(x): D from the backward at g = 1, then sum(D t) over
 * those dims */
tg_tensor *ops_jvp_reduce(tg_node *n, tg_tensor *const *t);

/* A fused backward of a 0-d node (ops_fused_backward, every operand 0-d of
 * one dtype) that computed its gradient r for input i in the dtype: r goes
 * straight into the leaf's .grad where the engine allows it
 * (tg_node_grad_sink) or into a non-leaf's owned gradient (ops_scalar_slot),
 * NULL being returned for grad_in[i]; else into a fresh 0-d tensor. The bits are those of the engine's 0 + r and accumulate. */
static inline bool ops_scalar_node(const tg_node *n, const tg_tensor *g) {
  for (int k = 0; k < n->n_in; k++)
    if (n->in[k]->ndim != 0 || n->in[k]->dtype != g->dtype) return false;
  return ops_fused_backward() && g->ndim == 0 && tg_dtype_is_float(g->dtype);
}
/* For a non-leaf input i: the engine's own buffer (grad_owned) holding the
 * gradient its node has received so far, to add r into as the engine would
 * (slot += r, version bump), instead of a fresh tensor routed after the
 * backward: the case of every consumer of a node from the second on (a
 * hidden unit of a scalar network feeds the whole next layer). NULL where
 * the engine must route: no plain backward running (tg_ctx.grad_sink off
 * for create_graph, tg_grad and anomaly mode), nothing owned yet (the
 * first consumer's gradient is borrowed, and 0 + first is not always
 * first's bits: -0), or a node reading input i twice (a - a), whose two
 * adds must stay in the engine's order. */
static inline tg_tensor *ops_scalar_slot(const tg_node *n, int i, tg_dtype dt) {
  const tg_node *m = n->in[i]->grad_fn;
  if (!tg_ctx.grad_sink || !m->pending || !m->grad_owned || (n->n_in == 2 && n->in[0] == n->in[1]))
    return NULL;
  tg_tensor *d = m->grad;
  if (!d || d->ndim != 0 || d->dtype != dt) return NULL;
  d->storage->version++;
  return d;
}
static inline tg_tensor *ops_scalar_dest(tg_node *n, int i, tg_dtype dt) {
  return n->in[i]->grad_fn ? ops_scalar_slot(n, i, dt) : tg_node_grad_sink(n, i);
}
static inline tg_tensor *ops_scalar_grad_f64(tg_node *n, int i, double r) {
  tg_tensor *d = ops_scalar_dest(n, i, TG_FLOAT64);
  if (d) {
    *(double *)tg_ptr(d) += r;
    return NULL;
  }
  tg_tensor *t = tg_tensor_alloc(TG_FLOAT64, 0, NULL);
  if (t) *(double *)t->storage->data = r;
  return t;
}
static inline tg_tensor *ops_scalar_grad_f32(tg_node *n, int i, float r) {
  tg_tensor *d = ops_scalar_dest(n, i, TG_FLOAT32);
  if (d) {
    *(float *)tg_ptr(d) += r;
    return NULL;
  }
  tg_tensor *t = tg_tensor_alloc(TG_FLOAT32, 0, NULL);
  if (t) *(float *)t->storage->data = r;
  return t;
}

/* gi[i] = the gradient EXPR for input i of a 0-d node, computed in T
 * (float or double, g's dtype) from gv = g's value and the values of the
 * inputs, OPS_V(n, k); see ops_scalar_grad_f64 */
#define OPS_SCALAR_GRAD(n, i, g, gi, EXPR)                                     \
  do {                                                                         \
    if ((g)->dtype == TG_FLOAT64) {                                            \
      typedef double T;                                                        \
      const T gv = *(const T *)tg_ptr(g);                                      \
      (gi)[i] = ops_scalar_grad_f64(n, i, (T)(EXPR));                          \
    } else {                                                                   \
      typedef float T;                                                         \
      const T gv = *(const T *)tg_ptr(g);                                      \
      (gi)[i] = ops_scalar_grad_f32(n, i, (T)(EXPR));                          \
    }                                                                          \
  } while (0)
#define OPS_V(n, k) (*(const T *)tg_ptr((n)->in[k]))

/* checks: each records "op: what is wrong" and returns false */
bool ops_check_float(const char *op, const tg_tensor *t, int argno);
bool ops_check_pair(const char *op, const tg_tensor *a, const tg_tensor *b);
/* float32, float64 or int64 (the ops that also have integer kernels) */
bool ops_check_numeric(const char *op, const tg_tensor *t, int argno);
bool ops_check_same_dtype(const char *op, const tg_tensor *a, const tg_tensor *b);

/* out = k(a) elementwise (out contiguous, same shape as a) */
tg_tensor *ops_unary_forward(const char *op, tg_tensor *a, const ops_kernel *k, ops_params prm);
/* a recorded unary op: promotion (ops_promote_unary under name), forward,
 * node with prm saved in TG_NODE_F, cast back (ops/unary.c) */
tg_tensor *ops_unary_op(const char *name, tg_tensor *a, const ops_kernel *k, ops_params prm,
                        const tg_op *op);
/* a constant (no history) elementwise function of n's input, for masks */
tg_tensor *ops_unary_mask(tg_node *n, const ops_kernel *k);
/* gelu's approximate: 1 "tanh", 0 "none", -1 (error naming op) otherwise (ops/activation.c) */
int ops_gelu_approximate(const char *op, int argno, const char *approximate);
/* out = k(a, b) with broadcasting */
tg_tensor *ops_binary_forward(const char *op, tg_tensor *a, tg_tensor *b, const ops_kernel *k,
                              ops_params prm);
/* out = k(a, b, c) elementwise, out shaped as a; b and c broadcast to a */
tg_tensor *ops_ternary_forward(const char *op, tg_tensor *a, tg_tensor *b, tg_tensor *c,
                               const ops_kernel *k, ops_params prm);
/* run k over (out, a, b) where all three already have out's shape or broadcast to it */
void ops_apply(tg_tensor *out, const tg_tensor *a, const tg_tensor *b, const ops_kernel *k,
               ops_params prm);

/* c (m, n) = beta c + op(a) op(b) through BLAS, for contiguous a, b, c of
 * one float dtype: op(a) is a (m, k) or, with ta, the transpose of a stored
 * (k, m); lda and ldb are the stored row lengths. Dims must fit in int. */
void ops_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, const tg_tensor *a, size_t lda,
              const tg_tensor *b, size_t ldb, double beta, tg_tensor *c);
/* the threads products may use, with OpenBLAS pinned to one thread so that
 * a caller can run one-thread BLAS calls in tapegrad's workers (ops/linalg.c) */
int ops_blas_threads(void);

/* record a node; also makes sure the engine can record backward passes.
 * Inline so that an op under no_grad pays one test, not a call. */
void ops_install_grad_ops(void);
static inline tg_node *ops_record(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in) {
  if (__builtin_expect(!tg_ctx.grad_add, 0)) ops_install_grad_ops();
  if (!out || (tg_ctx.grad_enabled_off && !tg_fwad_on_)) return NULL; /* FWAD: tangents flow under no_grad */
  return tg_record(out, op, n_in, in);
}

/* dims list -> bitmask over a->ndim dims (all dims when n_dims == 0) */
bool ops_dims_mask(const char *op, const tg_tensor *a, int n_dims, const int *dims,
                   unsigned *mask);
/* shape with masked dims set to 1 (keepdim) or removed */
int ops_reduced_shape(const tg_tensor *a, unsigned mask, bool keepdim, size_t *shape);
/* grad of a reduction (shape keepdim or not) expanded back to a's shape */
tg_tensor *ops_expand_reduced(tg_tensor *g, const tg_tensor *a, unsigned mask);

/* Type promotion (ops/promote.c), for operands whose dtypes differ or are
 * not float: converts them (differentiably) to the float dtype the op runs
 * in; *cast_to is the integer dtype to convert the result back to, or -1.
 * False with an error. */
bool ops_promote_pair(const char *op, tg_tensor **a, tg_tensor **b, tg_dtype *cast_to);
bool ops_promote_scalar(const char *op, tg_tensor **a, double s, tg_dtype *cast_to);
bool ops_promote_unary(const char *op, tg_tensor **a, tg_dtype *cast_to);
/* PyTorch's result dtype of two tensor operands, and both converted to it
 * (for comparisons and where, which keep their operands' dtype) */
tg_dtype ops_result_type(const tg_tensor *a, const tg_tensor *b);
bool ops_promote_to_common(tg_tensor **a, tg_tensor **b);
tg_tensor *ops_promote_back(tg_tensor *out, tg_dtype cast_to);
/* true when a binary op's operands need ops_promote_pair */
static inline bool ops_needs_promotion(const tg_tensor *a, const tg_tensor *b) {
  return a && b && (a->dtype != b->dtype || !tg_dtype_is_float(a->dtype));
}

/* fn over out and n_in inputs of any dtypes, all broadcast to out's shape
 * (ops/compare.c; for bool results and selections) */
void ops_apply_mixed(tg_tensor *out, int n_in, const tg_tensor *const *in, tg_loop_fn fn,
                     const void *arg);
/* a itself if bool, else a new bool copy (nonzero = true) to drop with
 * ops_drop_temp(t, a) once used; NULL with an error */
tg_tensor *ops_as_bool(tg_tensor *a);
void ops_drop_temp(tg_tensor *t, const tg_tensor *kept);

/* the kernel of gather / scatter_add / scatter (ops/index.c): see there.
 * Indices checked in [0, size of dim), an error naming op otherwise. */
/* idx is a live int64 tensor (argument argno of op) */
bool ops_check_index(const char *op, const tg_tensor *idx, int argno);
/* a fill value an int64 t can hold (PyTorch's cast truncates toward 0) */
bool ops_check_int_value(const char *op, const tg_tensor *t, double value);
typedef enum { OPS_GATHER, OPS_SCATTER_ADD, OPS_SCATTER_SET } ops_scatter_mode;
bool ops_scatter_kernel(const char *op, const tg_tensor *big, int dim, const tg_tensor *idx,
                        tg_tensor *dst, const tg_tensor *src, ops_scatter_mode mode, double value);
/* index (and src, if not NULL) of a's ndim, no larger than a off dim d */
bool ops_check_gather_shapes(const char *op, const tg_tensor *a, int d, const tg_tensor *idx,
                             const tg_tensor *src);
/* the gradient of a scatter's src: gather(g, dim, index) zero-padded to src's shape */
tg_tensor *ops_scatter_src_grad(tg_tensor *g, int dim, tg_tensor *index, const tg_tensor *src);

#endif
