/* autograd layer: the tape (graph nodes in creation order), grad mode, the
 * backward engine, functional grad, jacobian, gradcheck and graph export. */
#ifndef TG_AUTOGRAD_H
#define TG_AUTOGRAD_H

#include "tg_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_node tg_node;

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

typedef struct tg_op {
  const char *name; /* "MulBackward" */
  tg_backward_fn backward;
  /* which values the backward reads: their versions are recorded with the
   * node and checked before it runs, so an in-place change in between is an
   * error (as in PyTorch), not a silently wrong gradient */
  unsigned saves;
  tg_jvp_fn jvp; /* forward-mode formula, NULL: none (TG_DEFINE_OP_JVP sets it) */
} tg_op;
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
#define TG_DEFINE_OP_JVP(var, name, fn, jvp_fn, saves)                         \
  static const tg_op var = {name, fn, saves, jvp_fn};                          \
  TG_OP_TABLE_ENTRY_(var)                                                      \
  _Static_assert(((saves) & ~(TG_SAVES_OUT | TG_NODE_F | TG_NODE_I | TG_NODE_SAVED) &       \
                  ~((1u << TG_NODE_MAX_CHECKED) - 1u)) == 0,                   \
                 name ": saves an input beyond TG_NODE_MAX_CHECKED")

/* One node per differentiable op result: the op, its inputs (edges) and,
 * after them, what the op declared (parameters, a saved tensor; the call
 * site in anomaly mode). Nodes are linked in creation order (the tape),
 * which is a topological order, so backward walks it in reverse. */
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

typedef struct tg_node_saved_slot {
  tg_tensor *t;
  uint32_t version;
} tg_node_saved_slot;

typedef struct tg_node_call_site {
  const char *file;
  int line;
} tg_node_call_site;

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
/* NULL when the op did not declare them */
static inline double *tg_node_f(const tg_node *n) {
  return (n->op->saves & TG_NODE_F) ? (double *)tg_node_extras_(n) : NULL;
}
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
static inline tg_tensor *tg_node_saved(const tg_node *n) {
  tg_node_saved_slot *s = tg_node_saved_slot_(n);
  return s ? s->t : NULL;
}
static inline const tg_node_call_site *tg_node_call_site_(const tg_node *n) {
  return n->has_call_site ? (const tg_node_call_site *)(tg_node_extras_(n) +
                                                        tg_node_extras_bytes_(n->op->saves, false))
                          : NULL;
}

/* ---- grad mode */
TG_API bool tg_grad_enabled(void);
/* returns the previous setting */
TG_API bool tg_set_grad_enabled(bool on);
TG_API void tg_no_grad_begin(void); /* nestable; pairs with tg_no_grad_end */
TG_API void tg_no_grad_end(void);

/* ---- anomaly mode (torch.autograd.detect_anomaly): when on, the first op
 * whose output contains NaN/Inf is reported (tg_last_error and stderr) with
 * its node name and the source line that called it, and a backward whose
 * gradient for an input contains NaN/Inf fails naming the node and that
 * line. Off by default; when off it costs one branch per op. Call sites are
 * captured by macros in tg_ops.h/tg_nn.h (define TG_NO_CALL_SITES to omit). */
TG_API void tg_set_detect_anomaly(bool on);
TG_API bool tg_detect_anomaly(void);
#ifndef __cplusplus
TG_API extern _Thread_local bool tg_anomaly_enabled;
/* a function, not an assignment, so nested calls in one expression stay
 * well-defined */
TG_API void tg_call_site(const char *file, int line);
#define TG_CALL_SITE() (tg_anomaly_enabled ? tg_call_site(__FILE__, __LINE__) : (void)0)
#endif

/* ---- leaves */
TG_API tg_tensor *tg_requires_grad_(tg_tensor *t, bool on); /* leaves only; returns t */
TG_API tg_tensor *tg_retain_grad(tg_tensor *t);             /* keep .grad of a non-leaf */
TG_API tg_tensor *tg_detach(tg_tensor *t);                  /* shares storage, no history */
TG_API bool tg_is_leaf(const tg_tensor *t);
TG_API int tg_zero_grad(tg_tensor *t); /* zero .grad in place (keeps the buffer) */
TG_API const char *tg_grad_fn_name(const tg_tensor *t); /* "MulBackward", or NULL */

/* ---- memory (graph-aware) */
/* Move t to the enclosing scope (persistent at depth 1); if t has history,
 * the nodes and tensors of its graph owned by the current scope move too,
 * so a later backward can use them. Returns t. */
TG_API tg_tensor *tg_keep(tg_tensor *t);
/* Free a persistent tensor with its grad and grad_fn node; scoped tensors
 * are freed by their scope. */
TG_API void tg_free(tg_tensor *t);

/* ---- backward */
/* Accumulate d(root)/d(leaf) into .grad of every leaf that requires grad.
 * grad_output NULL means 1 for a one-element root. Without retain_graph the
 * graph's saved values are released: a second backward through it is an
 * error. Returns 0 or -1 (message in tg_last_error). */
TG_API int tg_backward(tg_tensor *root, tg_tensor *grad_output, bool retain_graph);
/* torch.autograd.grad: gradients of sum_k <outputs[k], grad_outputs[k]>
 * w.r.t. inputs, returned in grads_out (current scope, NULL where an input is
 * unreachable and allow_unused). With create_graph the backward is recorded
 * and grads_out have history (higher derivatives). .grad is not touched. */
typedef struct tg_grad_opts {
  bool retain_graph; /* defaults to create_graph */
  bool create_graph;
  bool allow_unused;
} tg_grad_opts;
TG_API int tg_grad(int n_out, tg_tensor **outputs, tg_tensor **grad_outputs, int n_in,
            tg_tensor **inputs, tg_tensor **grads_out, tg_grad_opts opts);

/* ---- tensor hooks (Tensor.register_hook, register_post_accumulate_grad_hook)
 * A gradient hook runs on the gradient flowing into t during a backward and
 * returns the gradient to use from there on: grad itself, or a replacement
 * of the same shape and dtype (NULL fails the backward; set an error with a
 * reason). Hooks of one tensor run in registration order, each on the
 * previous one's result. On a non-leaf they run once on its total gradient
 * before it flows further (a retained .grad and tg_grad's capture of it see
 * the gradient before the hooks, as PyTorch 1.13 when retain_grad came
 * first); on a leaf, once on its total before it is accumulated into .grad.
 * tg_grad runs no hooks of its leaf inputs (as PyTorch 1.13's
 * autograd.grad). Under create_graph the grad passed is differentiable and
 * so may the replacement be. Hooks live as long as the tensor. */
typedef tg_tensor *(*tg_hook_fn)(tg_tensor *grad, void *ctx);
/* runs after a backward has accumulated into leaf->grad; 0, or -1 (with an
 * error) to fail the backward */
typedef int (*tg_post_hook_fn)(tg_tensor *leaf, void *ctx);
typedef struct tg_hook_handle {
  uint64_t id; /* 0: registration failed (message in tg_last_error) */
} tg_hook_handle;
/* fn(grad, ctx) on t's gradient in each backward; t must require grad */
TG_API tg_hook_handle tg_register_hook(tg_tensor *t, tg_hook_fn fn, void *ctx);
/* fn(leaf, ctx) after each backward's accumulation into leaf->grad (not
 * under tg_grad, which accumulates nothing); leaves requiring grad only */
TG_API tg_hook_handle tg_register_post_accumulate_grad_hook(tg_tensor *leaf, tg_post_hook_fn fn, void *ctx);
/* true if it removed the hook; false (no error) when it was removed before
 * or its tensor is gone, as RemovableHandle.remove() twice */
TG_API bool tg_remove_hook(tg_hook_handle h);

/* ---- saved-tensor hooks (torch.autograd.graph.saved_tensors_hooks), for
 * activation offloading or compression. While a pair is pushed, every value
 * a recorded node keeps for its backward (the inputs and output its op
 * declares in TG_DEFINE_OP, and a tg_node_save tensor) goes through
 * pack(t, ctx), which returns an opaque handle (NULL: packing failed, and
 * the node's backward fails saying so). Before that node's backward,
 * unpack(handle, ctx) returns the tensor the backward reads instead: a new
 * tensor of t's shape and dtype in the current scope, or t itself. Then
 * release(handle, ctx) (may be NULL) frees the handle: after a backward
 * without retain_graph, or when the node goes. Only the innermost pair
 * applies; pack and unpack run under no_grad with no hooks in force.
 * Version checks still see in-place changes to t; the graph keeps t as its
 * edge (t's memory is its scope's), so the handle is what outlives t's
 * values. Under create_graph an unpacked tensor is differentiable as t is. */
typedef void *(*tg_pack_hook_fn)(tg_tensor *t, void *ctx);
typedef tg_tensor *(*tg_unpack_hook_fn)(void *packed, void *ctx);
typedef void (*tg_packed_free_fn)(void *packed, void *ctx);
/* 0, or -1 (pack or unpack NULL, more than 32 levels) */
TG_API int tg_saved_tensors_hooks_push(tg_pack_hook_fn pack, tg_unpack_hook_fn unpack, tg_packed_free_fn release,
                                       void *ctx);
/* 0, or -1 when no pair is pushed */
TG_API int tg_saved_tensors_hooks_pop(void);
/* pairs pushed now */
TG_API int tg_saved_tensors_hooks_depth(void);

/* ---- jacobian and gradient checks (any dtype in, float64 recommended) */
typedef tg_tensor *(*tg_fn)(tg_tensor **inputs, void *ctx);
/* J is [numel(f(x)), numel(x)]: tg_jacobians' block of one input, flattened */
TG_API tg_tensor *tg_jacobian(tg_fn f, tg_tensor *x, void *ctx);

/* ---- functional transforms (torch.autograd.functional). f is called on
 * fresh leaves holding the inputs' values (any float tensors, requiring
 * grad or not; their .grad is never touched); results go to the current
 * scope, without history unless create_graph (then an input that requires
 * grad is used itself, so the results are differentiable w.r.t. it). An
 * input f does not depend on gets zeros. 0, or -1 with an error. */
typedef struct tg_functional_opts {
  bool create_graph;
  /* tg_jvp only: dual numbers (one forward with tangents, no backward)
   * instead of the double-backward trick */
  bool forward_mode;
} tg_functional_opts;
/* *out = f(x) (out may be NULL); vjp[i] = vᵀ ∂f/∂x_i, v shaped as f(x)
 * (NULL: f returns one element, v = 1) */
TG_API int tg_vjp(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor *v, tg_tensor **out, tg_tensor **vjp,
           tg_functional_opts opts);
/* *jvp = Σ_i ∂f/∂x_i · v_i, v[i] shaped as x_i (v NULL: one one-element
 * input, v = 1); by the double-backward trick (two backwards) */
TG_API int tg_jvp(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **v, tg_tensor **out, tg_tensor **jvp,
           tg_functional_opts opts);
/* f returns one element: hvp[i] = Σ_j (∂²f/∂x_i∂x_j) v_j  (H v) */
TG_API int tg_hvp(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **v, tg_tensor **out, tg_tensor **hvp,
           tg_functional_opts opts);
/* f returns one element: vhp[j] = Σ_i v_iᵀ ∂²f/∂x_i∂x_j  (vᵀ H, one backward fewer than hvp) */
TG_API int tg_vhp(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **v, tg_tensor **out, tg_tensor **vhp,
           tg_functional_opts opts);
/* f returns one element: hess[i*n + j] = ∂²f/∂x_i∂x_j, shaped
 * x_i.shape ++ x_j.shape, one backward per element of the gradient */
TG_API int tg_hessian(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **hess);
typedef struct tg_jacobian_opts {
  /* strategy "forward-mode": column by column (one double-backward trick
   * product per input element) instead of row by row (one backward per
   * output element). Either way one backward per row or column: the ops
   * have no batched backward, so there is no vectorised mode. */
  bool forward_mode;
  /* with forward_mode: each column from the ops' JVPs instead (f once per
   * input element on dual inputs with a one-hot tangent, no tape and no
   * backward; every op f uses needs a JVP) */
  bool jvp_columns;
} tg_jacobian_opts;
/* jac[i] = ∂f/∂x_i, shaped f(x).shape ++ x_i.shape (torch's jacobian);
 * tg_jacobian below is the one-input form flattened to 2-D */
TG_API int tg_jacobians(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **jac, tg_jacobian_opts opts);

/* ---- forward-mode AD (torch.autograd.forward_ad). Inside a dual level a
 * tensor may carry a tangent; every op one of whose inputs has a tangent
 * computes its output's tangent with its JVP (one more kernel or a few, no
 * tape): tangent(op(x)) = J_op(x) · tangent(x). The tangent lives in a
 * side table keyed by the tensor (no bytes added to tensors or nodes) and
 * goes with the tensor, or at the level's exit. An op without a JVP reached
 * by a tangent sets the error "jvp: <Name> has no forward-mode formula" and
 * its output's tangent is then unavailable (tg_unpack_dual fails).
 * Tangents propagate under no_grad too (as PyTorch); one level at a time. */
/* 0, or -1 (a level is already open) */
TG_API int tg_fwad_enter_dual_level(void);
/* drops every tangent; 0, or -1 when no level is open */
TG_API int tg_fwad_exit_dual_level(void);
/* a view of primal (differentiable w.r.t. it, as PyTorch) whose tangent is
 * tangent (same shape; its values are shared, not copied) */
TG_API tg_tensor *tg_make_dual(tg_tensor *primal, tg_tensor *tangent);
/* *primal = a view of t without its tangent; *tangent = t's tangent, or NULL
 * when it has none (either pointer may be NULL). 0, or -1 with an error
 * (an op on its way had no JVP) */
TG_API int tg_unpack_dual(tg_tensor *t, tg_tensor **primal, tg_tensor **tangent);
/* the library's op descriptors (*ops points into a static table); the count */
TG_API size_t tg_op_table(const tg_op *const **ops);

/* ---- activation checkpointing (torch.utils.checkpoint, reentrant; tg_checkpoint
 * is data/'s checkpoint file) */
/* y = f(inputs), its intermediates freed at once and recomputed in the
 * backward (one node, CheckpointBackward); gradients bit-identical to f's.
 * The tensors requiring grad that f reaches through ctx (parameters) must
 * be leaves; f must be deterministic given its inputs and the default
 * generator (restored for the recomputation: dropout redraws the same
 * masks). No double backward through it (create_graph is an error). With
 * grad mode off it is f(inputs, ctx). */
TG_API tg_tensor *tg_activation_checkpoint(tg_fn f, void *ctx, tg_tensor **inputs, int n);
/* a region with several outputs: f fills outputs[0..n_out) and returns 0
 * (or -1 with an error) */
typedef int (*tg_multi_fn)(tg_tensor **inputs, tg_tensor **outputs, void *ctx);
/* tg_activation_checkpoint for f with n inputs and n_out outputs, one node
 * for the region: outputs[k] (current scope) are f's values, those that
 * require grad as views of one buffer (so they must share a dtype), the
 * others plain copies; gradients bit-identical to f recorded normally, with
 * any subset of the outputs used downstream. 0, or -1 with an error (outputs
 * all NULL). */
TG_API int tg_activation_checkpoint_multi(tg_multi_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **outputs,
                                          int n_out);

typedef struct tg_gradcheck_opts {
  double atol, rtol; /* defaults 1e-5, 1e-3 (PyTorch's) */
  bool quiet;        /* do not print the failure report */
} tg_gradcheck_opts;
typedef struct tg_gradcheck_result {
  bool ok;
  double max_error;    /* worst |analytic - numeric| - rtol*|numeric| */
  int input;           /* where the worst entry is */
  size_t out_index, in_index;
  double analytic, numeric;
  char message[256];
} tg_gradcheck_result;
/* analytic Jacobian vs central differences, h_i = sqrt(eps)*max(|x_i|,1) */
TG_API tg_gradcheck_result tg_gradcheck(tg_fn f, int n_in, tg_tensor **inputs, void *ctx,
                                 tg_gradcheck_opts opts);
/* second order: gradcheck of x -> grad(f(x), x, v, create_graph) for a fixed random v */
TG_API tg_gradcheck_result tg_gradgradcheck(tg_fn f, int n_in, tg_tensor **inputs, void *ctx,
                                     tg_gradcheck_opts opts);

/* ---- graph export: DOT text of the graph behind t (for `dot -Tpng`) */
TG_API int tg_graph_dot(const tg_tensor *t, FILE *out);

/* ---- for ops/: record a node for a fresh result. Returns out, or NULL
 * (and frees nothing: out stays in its scope) on error. */
TG_API tg_node *tg_record(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in);
/* inline for backward functions; graph.c also emits it for the ABI */
inline bool tg_node_needs_grad(const tg_node *n, int i) {
  return i < n->n_in && n->in[i]->requires_grad;
}
/* For a backward that can add its gradient for input i straight into that
 * leaf's .grad (a GEMM with beta = 1, say) instead of returning it: the
 * contiguous .grad tensor to accumulate into (created as zeros if absent),
 * or NULL, when the gradient must go through grad_in[i] as usual (input i is
 * not a leaf, create_graph, tg_grad capturing, anomaly mode, or a .grad of
 * another layout). Leave grad_in[i] NULL after writing into it. */
TG_API tg_tensor *tg_node_grad_sink(tg_node *n, int i);
/* save a tensor (output or temporary) for backward */
/* keep t (an index tensor, say) for the backward, with its version; the op
 * must declare TG_NODE_SAVED */
TG_API void tg_node_save(tg_node *n, tg_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
