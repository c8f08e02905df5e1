/* tapegrad extension API: writing a new differentiable op in C.
 *
 * Overview
 * --------
 * An op is a forward function the user calls and a backward function the
 * engine calls. The forward computes its result however it likes (a loop
 * over tg_data(), tg_* ops with grad mode off, BLAS) and then records ONE
 * node on the tape with tg_record_op: the op descriptor (name, backward,
 * what the backward reads), the inputs, and room for a few parameters and
 * one saved tensor. In a backward, the engine hands the node, the gradient
 * of the output (grad_out) and an array grad_in to fill: grad_in[i] =
 * grad_out · ∂out/∂in[i], for every i with tg_node_needs_grad(n, i).
 *
 * The backward is written with tg_* ops on n->in[], n->out, the node's
 * parameters and grad_out. The engine runs it with grad mode on when the
 * caller asked for create_graph (tg_grad with create_graph, gradgradcheck,
 * Hessians), so the same code then records its own nodes and double
 * backward works with no extra effort.
 *
 * Worked example: y = x * sigmoid(beta * x) (swish), beta a parameter.
 * (examples/custom_op.c is this op with gradcheck, gradgradcheck and a
 * training step.)
 *
 *   #include "tapegrad.h"     // tg_extension.h comes with it
 *
 *   // grad_in = g * (s + beta x s (1 - s)), s = sigmoid(beta x): with tg_*
 *   // ops on n->in[0], so a create_graph backward records it
 *   static void swish_backward(tg_node *n, tg_tensor *g, tg_tensor **grad_in) {
 *     double beta = tg_node_f(n)[0];
 *     tg_tensor *x = n->in[0], *s = tg_sigmoid(tg_mul_scalar(x, beta));
 *     tg_tensor *ds = tg_mul(s, tg_rsub_scalar(s, 1.0));         // s (1 - s)
 *     grad_in[0] = tg_mul(g, tg_add(s, tg_mul_scalar(tg_mul(x, ds), beta)));
 *   }
 *   // reads input 0 (version-checked), keeps two doubles (TG_NODE_F)
 *   TG_DEFINE_OP(OP_SWISH, "SwishBackward", swish_backward, TG_SAVES_IN(0) | TG_NODE_F);
 *
 *   tg_tensor *swish(tg_tensor *x, double beta) {
 *     tg_no_grad_begin();                       // the forward records nothing itself
 *     tg_tensor *y = tg_mul(x, tg_sigmoid(tg_mul_scalar(x, beta)));
 *     tg_no_grad_end();
 *     tg_node *n;
 *     if (!y || tg_record_op(y, &OP_SWISH, 1, &x, &n) != 0) return NULL;
 *     if (n) tg_node_f(n)[0] = beta;          // n is NULL when nothing was recorded
 *     return y;
 *   }
 *
 * The rules
 * ---------
 * - Record once, on a fresh result (no grad_fn yet), after computing it.
 *   tg_record_op returns 0 and sets *node to NULL when there is nothing to
 *   record (grad mode off, no input requires grad): the op must still return
 *   its result then. -1 is an error (message in tg_last_error).
 * - Fill in the node's parameters right after recording: the backward (and
 *   a forward-mode JVP) reads them.
 * - Declare in TG_DEFINE_OP what the backward reads: TG_SAVES_IN(i) for
 *   input i (i < TG_NODE_MAX_CHECKED), TG_SAVES_OUT for n->out. Those are
 *   version-checked: an in-place change between forward and backward is an
 *   error instead of a wrong gradient. 0 if it reads shapes only.
 * - Double backward: the backward's tg_* ops must see where their operands
 *   came from. n->in[], n->out and grad_out carry that history. A tensor the
 *   forward computed from the inputs with grad mode off (or with a kernel)
 *   does not: saved with tg_node_save and read by the backward, it is a
 *   constant to a create_graph backward, and the second derivative silently
 *   loses its term. So recompute such values from n->in[] in the backward
 *   (as swish_backward does with s), or compute them with grad mode on (they
 *   then have history). tg_node_save refuses a float tensor without history
 *   unless the op declares TG_SAVED_CONST: "it does not depend on the
 *   inputs, or my backward reads it only with grad mode off (a fast first-
 *   order path) and recomputes it otherwise". Index tensors (int64, bool)
 *   are always accepted: they have no derivative.
 * - Errors: a backward that fails leaves grad_in[i] NULL with an error set
 *   (tg_error; a failing tg_* op has set one already); the engine then
 *   fails the backward. A forward reports bad input with tg_error and
 *   returns NULL.
 * - Intermediates belong to the current scope, like any tensor.
 *
 * Everything here is also part of tapegrad.h: graph inspection (the
 * grad_fn chain, n->in[], n->op->name, as torch's next_functions) uses the
 * node layout too. */
#ifndef TG_EXTENSION_H
#define TG_EXTENSION_H

#include <stdarg.h>

#include "tg_autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors, for a custom op or module: sets the message that
 * tg_last_error returns ("myop: what was wrong"), printf-style; tg_verror
 * is the va_list form for a wrapper of your own */
#if defined(__GNUC__) || defined(__clang__)
#define TG_PRINTF_(a, b) __attribute__((format(printf, a, b)))
#else
#define TG_PRINTF_(a, b)
#endif
TG_API void tg_error(const char *fmt, ...) TG_PRINTF_(1, 2);
TG_API void tg_verror(const char *fmt, va_list ap) TG_PRINTF_(1, 0);

/* Fill grad_in[i] (initially NULL) for each input i with tg_node_needs_grad(n, i).
 * grad_out has the output's shape; grad_in[i] may have the output's
 * broadcast shape: the engine sums it down to the input's shape. Written
 * with tg_* ops so that, with create_graph, the backward is recorded too. */
typedef void (*tg_backward_fn)(tg_node *n, tg_tensor *grad_out, tg_tensor **grad_in);
/* Forward mode: the output's tangent Σ_i ∂out/∂in_i · tangent_in[i]
 * (tangent_in[i] NULL: a zero tangent; at least one is set), shaped as the
 * output or broadcastable to it. Written with tg_* ops on n->in, n->out and
 * the node's parameters, so it is itself differentiable (reverse mode over
 * the tangents). NULL with an error on failure. */
typedef tg_tensor *(*tg_jvp_fn)(tg_node *n, tg_tensor *const *tangent_in);

struct tg_op {
  const char *name; /* "MulBackward" */
  tg_backward_fn backward;
  /* which values the backward reads: their versions are recorded with the
   * node and checked before it runs, so an in-place change in between is an
   * error (as in PyTorch), not a silently wrong gradient */
  unsigned saves;
  tg_jvp_fn jvp; /* forward-mode formula, NULL: none (TG_DEFINE_OP_JVP sets it) */
};
#define TG_SAVES_IN(i) (1u << (i)) /* input i, i < TG_NODE_MAX_CHECKED */
#define TG_SAVES_OUT (1u << 7)     /* the op's output */
/* versions kept per node for saved inputs: two (no op reads a third input
 * in its backward; 8 bytes a node matter on a long tape) */
#define TG_NODE_MAX_CHECKED 2
/* What else a node of the op carries, after its inputs (a node is only as
 * big as its op needs: y*c on a long tape costs 128 bytes a node): */
#define TG_NODE_F (1u << 8)      /* two double parameters: tg_node_f(n) */
#define TG_NODE_I (1u << 9)      /* three int64 parameters: tg_node_i(n) */
#define TG_NODE_SAVED (1u << 10) /* one more tensor: tg_node_save / tg_node_saved */
/* with TG_NODE_SAVED: the saved tensor may be a float tensor without
 * history (see "Double backward" above; the library's own fused ops
 * recompute in their create_graph backward and are not checked) */
#define TG_SAVED_CONST (1u << 11)

/* An op descriptor cannot exist without its backward function, and says
 * what that backward reads (0: shapes only); a saved input the node could
 * not version-check is a compile error. */
#define TG_DEFINE_OP(var, name, fn, saves) TG_DEFINE_OP_JVP(var, name, fn, NULL, saves)
/* the op with its forward-mode formula, declared next to its backward. Each
 * descriptor also lands in the section tg_op_descs, which tg_op_table()
 * walks (the JVP coverage test lists the ops without one). */
#if defined(__GNUC__) && defined(__ELF__)
#define TG_OP_TABLE_ENTRY_(var)                                                \
  static const tg_op *const var##_entry_ __attribute__((used, section("tg_op_descs"))) = &var;
#else
#define TG_OP_TABLE_ENTRY_(var)
#endif
#ifdef __cplusplus
#define TG_STATIC_ASSERT_(c, msg) static_assert(c, msg)
#else
#define TG_STATIC_ASSERT_(c, msg) _Static_assert(c, msg)
#endif
/* the library's own descriptors: its fused ops save derived tensors for a
 * first-order fast path and recompute them in their create_graph backward */
#ifdef TG_BUILDING_LIBRARY
#define TG_LIBRARY_SAVES_ TG_SAVED_CONST
#else
#define TG_LIBRARY_SAVES_ 0u
#endif
#define TG_DEFINE_OP_JVP(var, name, fn, jvp_fn, saves)                         \
  static const tg_op var = {name, fn, (saves) | TG_LIBRARY_SAVES_, jvp_fn};    \
  TG_OP_TABLE_ENTRY_(var)                                                      \
  TG_STATIC_ASSERT_(((saves) & ~(TG_SAVES_OUT | TG_NODE_F | TG_NODE_I | TG_NODE_SAVED | TG_SAVED_CONST) & \
                     ~((1u << TG_NODE_MAX_CHECKED) - 1u)) == 0,                \
                    name ": saves an input beyond TG_NODE_MAX_CHECKED")

/* One node per differentiable op result: the op, its inputs (edges) and,
 * after them, what the op declared (parameters, a saved tensor; the call
 * site in anomaly mode). Nodes are linked in creation order (the tape),
 * which is a topological order, so backward walks it in reverse. Fields
 * are for reading; the engine writes them. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic" /* the flexible array in[], for C89 and C++ */
#endif
struct tg_node {
  tg_obj obj;
  const tg_op *op;
  tg_node *tape_prev, *tape_next;
  tg_tensor *out;
  tg_tensor *grad;      /* gradient w.r.t. out, pending during backward */
  uint32_t seq;         /* creation order, restarted when the tape empties */
  uint32_t out_version;
  int n_in;
  bool released;        /* saved values dropped: a second backward is an error */
  bool pending;         /* has gradient waiting in the current backward */
  bool grad_owned;      /* grad is the engine's own buffer (safe to add into) */
  bool has_call_site;   /* recorded in anomaly mode */
  uint32_t in_version[TG_NODE_MAX_CHECKED]; /* of the inputs op->saves names */
  tg_tensor *in[];      /* n_in inputs, then the op's extras */
};
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

typedef struct tg_node_saved_slot {
  tg_tensor *t;
  uint32_t version;
} tg_node_saved_slot;

typedef struct tg_node_call_site {
  const char *file;
  int line;
} tg_node_call_site;

/* ---- node accessors: static inline (no symbol, C89 and C++ alike), for a
 * backward's node, never NULL. Names ending in _ are the layout's own. */
/* the extras after a node's inputs, in this order, each present if declared */
static inline char *tg_node_extras_(const tg_node *n) {
  return (char *)n + sizeof(tg_node) + (size_t)n->n_in * sizeof(tg_tensor *);
}
static inline size_t tg_node_extras_bytes_(unsigned saves, bool call_site) {
  return ((saves & TG_NODE_F) ? 2 * sizeof(double) : 0) +
         ((saves & TG_NODE_I) ? 3 * sizeof(int64_t) : 0) +
         ((saves & TG_NODE_SAVED) ? sizeof(tg_node_saved_slot) : 0) +
         (call_site ? sizeof(tg_node_call_site) : 0);
}
/* f[0], f[1]: two doubles the forward stored (zero until then); NULL
 * without TG_NODE_F */
static inline double *tg_node_f(const tg_node *n) {
  return (n->op->saves & TG_NODE_F) ? (double *)tg_node_extras_(n) : NULL;
}
/* i[0..2]: three int64 the forward stored (zero until then); NULL without
 * TG_NODE_I */
static inline int64_t *tg_node_i(const tg_node *n) {
  return (n->op->saves & TG_NODE_I)
             ? (int64_t *)(tg_node_extras_(n) + tg_node_extras_bytes_(n->op->saves & TG_NODE_F, false))
             : NULL;
}
static inline tg_node_saved_slot *tg_node_saved_slot_(const tg_node *n) {
  unsigned before = n->op->saves & (TG_NODE_F | TG_NODE_I);
  return (n->op->saves & TG_NODE_SAVED)
             ? (tg_node_saved_slot *)(tg_node_extras_(n) + tg_node_extras_bytes_(before, false))
             : NULL;
}
/* the tensor tg_node_save kept (its version is checked before the
 * backward runs); NULL if none or without TG_NODE_SAVED */
static inline tg_tensor *tg_node_saved(const tg_node *n) {
  tg_node_saved_slot *s = tg_node_saved_slot_(n);
  return s ? s->t : NULL;
}
static inline const tg_node_call_site *tg_node_call_site_(const tg_node *n) {
  return n->has_call_site ? (const tg_node_call_site *)(tg_node_extras_(n) +
                                                        tg_node_extras_bytes_(n->op->saves, false))
                          : NULL;
}
/* true iff input i exists and requires grad: grad_in[i] is wanted */
static inline bool tg_node_needs_grad(const tg_node *n, int i) {
  return i < n->n_in && n->in[i]->requires_grad;
}

/* ---- recording */
/* Record the node of op for out, a fresh result of the inputs in[0..n_in):
 * 0, with *node (node may be NULL) the new node, or NULL when there is
 * nothing to record (grad mode off and no forward-mode tangent, or no input
 * requires grad); -1 with an error (a NULL or dead argument, out already
 * recorded, a non-float out that would need a gradient, no memory). out
 * stays in its scope either way. The entry point for user-written ops. */
TG_API int tg_record_op(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in, tg_node **node);
/* The library's form: returns the NODE (not out), or NULL both when there
 * is nothing to record and on error, which only tg_has_error tells apart
 * (and only after tg_clear_error: the flag is sticky). Prefer tg_record_op. */
TG_API tg_node *tg_record(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in);
/* Keep t for the backward (read it with tg_node_saved), with its version;
 * the op must declare TG_NODE_SAVED. 0, or -1 with an error, saving
 * nothing: n NULL, no TG_NODE_SAVED, or t a float tensor without history
 * while the op does not declare TG_SAVED_CONST (see "Double backward").
 * t NULL clears the slot. */
TG_API int tg_node_save(tg_node *n, tg_tensor *t);
/* For a backward that can add its gradient for input i straight into that
 * leaf's .grad (a GEMM with beta = 1, say) instead of returning it: the
 * contiguous .grad tensor to accumulate into (created as zeros if absent),
 * or NULL, when the gradient must go through grad_in[i] as usual (input i is
 * not a leaf, create_graph, tg_grad capturing, anomaly mode, or a .grad of
 * another layout). Leave grad_in[i] NULL after writing into it. */
TG_API tg_tensor *tg_node_grad_sink(tg_node *n, int i);

#ifdef __cplusplus
}
#endif
#endif
