/* autograd layer: the tape (graph nodes in creation order), grad mode, the
 * backward engine, functional grad, jacobian, gradcheck and graph export. */
#ifndef TG_AUTOGRAD_H
#define TG_AUTOGRAD_H

#include "tg_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* a graph node and an op descriptor: their layout, and everything needed
 * to write a new op, is the extension API in tg_extension.h */
typedef struct tg_node tg_node;
typedef struct tg_op tg_op;

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
/* TG_CALL_SITE reads the flag inline (a branch per op, no call) and calls
 * only in anomaly mode. The thread-local keyword is the language's own:
 * __thread for GNU compilers (C89/gnu89, C99, C11 and C++ alike), C11's
 * _Thread_local, C++11's thread_local; a compiler with none of them gets
 * the call every time (it only stores the site, which anomaly mode alone
 * reads). */
#if defined(__GNUC__) || defined(__clang__)
#define TG_THREAD_LOCAL_ __thread
#elif defined(__cplusplus) && __cplusplus >= 201103L
#define TG_THREAD_LOCAL_ thread_local
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define TG_THREAD_LOCAL_ _Thread_local
#endif
/* a function, not an assignment, so nested calls in one expression stay
 * well-defined; records file:line for the next op (anomaly mode only) */
TG_API void tg_call_site(const char *file, int line);
#ifdef TG_THREAD_LOCAL_
/* read-only for users: set through tg_set_detect_anomaly */
TG_API extern TG_THREAD_LOCAL_ bool tg_anomaly_enabled;
#define TG_CALL_SITE() (tg_anomaly_enabled ? tg_call_site(__FILE__, __LINE__) : (void)0)
#else
#define TG_CALL_SITE() tg_call_site(__FILE__, __LINE__)
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

#ifdef __cplusplus
}
#endif
#endif
