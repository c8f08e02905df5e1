/* nn layer: modules (layers holding parameters and buffers), the Sequential,
 * ModuleList and ModuleDict containers, printing (print(model), a summary),
 * weight initialisers and losses, with PyTorch's semantics.
 *
 * A module is a tree: its own named parameters (persistent float leaves that
 * require grad), its own named buffers (persistent tensors that are saved but
 * not trained, e.g. BatchNorm's running_mean), and named child modules. Names
 * in a state dict are dotted paths as in PyTorch: "0.weight",
 * "2.running_mean".
 *
 * Parameter storage: every parameter is its own tensor with its own storage
 * (no flat buffer per module tree). Why:
 *  - Sequential adopts children that were built, and initialised,
 *    independently; a flat buffer would have to move their data afterwards
 *    and re-point live tensors at new storage.
 *  - .grad stays lazily allocated by the backward engine, so a frozen
 *    parameter never gets a grad and an optimizer skips it (grad == NULL),
 *    exactly as in PyTorch; a flat grad buffer would give every parameter a
 *    zero grad.
 *  - load_state_dict, dtype conversion and freeing work per tensor.
 * The cost: zero_grad is one memset per parameter that has a grad instead of
 * one memset in all, and an optimizer loops over the tg_module_parameters
 * array (a Linear→Tanh→Linear MLP has 4 entries): negligible next to a
 * forward pass.
 *
 * Memory: a module, its parameters, their grads and its buffers are
 * persistent whatever scope is open when it is built; tg_module_free frees
 * all of them. A forward pass allocates only in the caller's scope.
 * Modules are built in float32; tg_module_to_ converts them (float64 for
 * gradient checks). Errors follow the library's model: NULL or -1 and a
 * message in tg_last_error() naming the layer or loss. */
#ifndef TG_NN_H
#define TG_NN_H

#include "tg_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ modules */

#define TG_NN_NAME_MAX 32 /* a parameter, buffer or child name, NUL included */
#define TG_NN_REPR_MAX 192 /* a module's extra_repr text, NUL included */

typedef struct tg_module tg_module;
/* x -> y; x and y live in the caller's scope */
typedef tg_tensor *(*tg_forward_fn)(tg_module *m, tg_tensor *x);
/* several tensors in, several out (a cell's (x, h, c) -> (h, c)): in[0..n_in)
 * (an entry may be NULL where the module documents a default, e.g. a zero
 * initial state), out[0..max_out) written; returns the number of outputs,
 * or -1 with an error. Outputs live in the caller's scope. */
typedef int (*tg_forward_multi_fn)(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out,
                                   int max_out);

typedef struct tg_named_tensor {
  char name[TG_NN_NAME_MAX];
  tg_tensor *tensor; /* owned by the module */
} tg_named_tensor;

typedef struct tg_named_module {
  char name[TG_NN_NAME_MAX];
  tg_module *module; /* owned by the parent */
} tg_named_module;

/* Fields are public for reading; change them only through the API (custom
 * modules may set ctx and ctx_free). */
struct tg_module {
  char type[TG_NN_NAME_MAX]; /* "Linear", "Sequential", ... */
  tg_forward_fn forward;             /* one tensor in, one out; or NULL */
  tg_forward_multi_fn forward_multi; /* several in or out; or NULL */
  bool training; /* true after creation, as in PyTorch */
  tg_named_tensor *params;
  size_t n_params;
  tg_named_tensor *buffers;
  size_t n_buffers;
  tg_named_module *children;
  size_t n_children;
  /* hyper-parameters of the built-in layers (slope, p, eps, momentum, dims) */
  double cfg_f[2];
  int cfg_i[2];
  tg_rng *rng; /* Dropout's generator (borrowed; NULL = the default one) */
  /* custom modules: anything forward needs; ctx_free(ctx) runs at module free */
  void *ctx;
  void (*ctx_free)(void *ctx);
  /* the text inside the parentheses of the printed module, PyTorch's
   * extra_repr ("in_features=2, out_features=3, bias=True"); "" for none.
   * Constructors fill it with tg_module_set_extra_repr. */
  char extra_repr[TG_NN_REPR_MAX];
  /* private: the array tg_module_parameters returns */
  tg_tensor **param_list;
  size_t param_cap;
  struct tg_module_hooks *hooks; /* private: nn/module_hooks.c's, NULL without hooks */
};

/* ---- building custom modules (the built-in layers use the same calls) */
TG_API tg_module *tg_module_new(const char *type, tg_forward_fn forward);
/* a module whose forward takes or returns several tensors */
TG_API tg_module *tg_module_new_multi(const char *type, tg_forward_multi_fn forward);
/* A persistent zero-filled parameter (requires grad) registered under name;
 * returns it for initialisation, or NULL. Names are unique within a module,
 * non-empty, without '.', shorter than TG_NN_NAME_MAX. */
TG_API tg_tensor *tg_module_add_parameter(tg_module *m, const char *name, tg_dtype dt, int ndim,
                                   const size_t *shape);
/* a persistent zero-filled buffer (any dtype, no grad) */
TG_API tg_tensor *tg_module_add_buffer(tg_module *m, const char *name, tg_dtype dt, int ndim,
                                const size_t *shape);
/* m takes ownership of child (also on failure, when child is freed);
 * a child m already holds is refused and left as it is */
TG_API int tg_module_add_child(tg_module *m, const char *name, tg_module *child);

/* ---- using modules */
/* a module without a forward function (a container such as ModuleList) is
 * an error here, PyTorch's: Module [ModuleList] is missing the required
 * "forward" function */
TG_API tg_tensor *tg_module_forward(tg_module *m, tg_tensor *x);
/* Either kind of module through either call: tg_module_forward on a multi
 * module passes in = {x} and returns its first output; tg_module_forward_multi
 * on a one-tensor module needs n_in == 1 and gives one output. */
TG_API int tg_module_forward_multi(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out);
/* frees the tree: children, parameters with their grads, buffers, ctx */
TG_API void tg_module_free(tg_module *m);
/* ---- module hooks (nn/module_hooks.c), as nn.Module.register_*_hook, on
 * modules called through tg_module_forward (one tensor in, one out). Each
 * returns what to use from there on (its tensor argument, or a
 * replacement); NULL fails the call or the backward. Hooks of a kind run in
 * registration order (a hook may remove itself) and go with the module,
 * which must outlive the backward of its calls (as in PyTorch). */
/* before forward: the input to use */
typedef tg_tensor *(*tg_module_pre_hook_fn)(tg_module *m, tg_tensor *x, void *ctx);
/* after forward (x as forward got it): the output to use */
typedef tg_tensor *(*tg_module_hook_fn)(tg_module *m, tg_tensor *x, tg_tensor *y, void *ctx);
/* in backward, once the gradient w.r.t. the module's input is known: the
 * grad_input to pass on; grad_input is NULL (and the result ignored) when
 * the input does not require grad */
typedef tg_tensor *(*tg_module_backward_hook_fn)(tg_module *m, tg_tensor *grad_input, tg_tensor *grad_output,
                                                 void *ctx);
TG_API tg_hook_handle tg_module_register_forward_pre_hook(tg_module *m, tg_module_pre_hook_fn fn, void *ctx);
TG_API tg_hook_handle tg_module_register_forward_hook(tg_module *m, tg_module_hook_fn fn, void *ctx);
TG_API tg_hook_handle tg_module_register_full_backward_hook(tg_module *m, tg_module_backward_hook_fn fn, void *ctx);
/* true if it removed the hook (false, no error, when already removed) */
TG_API bool tg_module_remove_hook(tg_hook_handle h);
/* train(true) / eval: sets the mode of m and every descendant */
TG_API void tg_module_train(tg_module *m, bool on);
TG_API void tg_module_eval(tg_module *m);
/* Every parameter of the tree in PyTorch's order (own, then children's),
 * frozen ones included: the array an optimizer takes. The array belongs to
 * m and stays valid until m's tree changes (add_*, tg_module_to_) or is
 * freed; it also ends with a NULL entry. NULL only on error; *n receives
 * the count. */
TG_API tg_tensor **tg_module_parameters(tg_module *m, size_t *n);
/* total elements over all parameters (only those requiring grad if
 * trainable_only) */
TG_API size_t tg_module_num_parameters(const tg_module *m, bool trainable_only);
/* zero every existing .grad in place (the buffers are kept for reuse) */
TG_API int tg_module_zero_grad(tg_module *m);
/* requires_grad off (freeze) or on (unfreeze) for every parameter of the
 * tree: after a freeze, backward leaves those .grad untouched (NULL if they
 * never had one), so an optimizer skips them */
TG_API int tg_module_freeze(tg_module *m);
TG_API int tg_module_unfreeze(tg_module *m);
/* convert every float parameter and buffer to dt (new tensors; grads are
 * dropped): call before handing tg_module_parameters to an optimizer */
TG_API int tg_module_to_(tg_module *m, tg_dtype dt);
/* a parameter or buffer by dotted name ("0.weight"), or NULL */
TG_API tg_tensor *tg_module_get(const tg_module *m, const char *name);
/* a descendant by dotted path ("0", "encoder.1"), or NULL */
TG_API tg_module *tg_module_child(const tg_module *m, const char *path);

/* ---- state dict: ordered (dotted name -> tensor) pairs */
typedef struct tg_state_entry {
  char *name;
  tg_tensor *tensor;
  bool owned; /* freed (tg_free) with the dict */
} tg_state_entry;

typedef struct tg_state_dict {
  tg_state_entry *entries;
  size_t n, cap;
} tg_state_dict;

TG_API tg_state_dict *tg_state_dict_new(void);
/* appends name -> t; with take_ownership t must be persistent and is freed
 * with the dict. Duplicate names are an error. */
TG_API int tg_state_dict_add(tg_state_dict *sd, const char *name, tg_tensor *t, bool take_ownership);
TG_API tg_tensor *tg_state_dict_get(const tg_state_dict *sd, const char *name);
TG_API void tg_state_dict_free(tg_state_dict *sd);
/* The module's parameters and buffers in PyTorch's order (per module: own
 * parameters, own buffers, then children). The tensors are the module's own
 * (shared, not copied, like PyTorch's state_dict), so the dict must not
 * outlive m. Free it with tg_state_dict_free (which frees no module tensor). */
TG_API tg_state_dict *tg_module_state_dict(const tg_module *m);
/* Copy sd's tensors into m's existing ones (no history). Names, shapes and
 * dtypes are all checked before anything is copied, so a failed load changes
 * nothing. strict: m's keys and sd's keys must match exactly; otherwise
 * missing and unexpected keys are skipped. */
TG_API int tg_module_load_state_dict(tg_module *m, const tg_state_dict *sd, bool strict);

/* ================================================================= layers */
/* Constructors return a new module (float32, training mode) or NULL. */

/* y = x W^T + b; weight [out, in], bias [out]; x is (..., in). Init as
 * PyTorch: weight kaiming_uniform(a=sqrt 5) = U(-1/sqrt(in), 1/sqrt(in)),
 * bias U(-1/sqrt(in), 1/sqrt(in)), drawn from rng (NULL = default). */
TG_API tg_module *tg_nn_linear(size_t in_features, size_t out_features, bool bias, tg_rng *rng);
/* Conv1d / Conv2d / ConvTranspose2d (nn/conv.c): the convolutions of
 * ops/conv.c with parameters "weight" (out, in / groups, k...; transposed:
 * in, out / groups, k...) and "bias" (out), initialised as PyTorch:
 * kaiming_uniform(a=sqrt 5) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the weight
 * (fan_in = weight.size(1) * prod(k)), the bias from the same bound. NULL
 * stride, padding, dilation, output_padding: torch's defaults (1, 0, 1, 0). */
TG_API tg_module *tg_nn_conv1d(size_t in_channels, size_t out_channels, int64_t kernel_size, int64_t stride,
                        int64_t padding, int64_t dilation, int64_t groups, bool bias, tg_rng *rng);
TG_API tg_module *tg_nn_conv2d(size_t in_channels, size_t out_channels, const int64_t kernel_size[2],
                        const int64_t stride[2], const int64_t padding[2], const int64_t dilation[2],
                        int64_t groups, bool bias, tg_rng *rng);
/* nn.Conv1d/Conv2d(..., padding="same" | "valid"): y = tg_conv*d_padding(x,
 * w, b) (NULL padding: "valid"; "same" needs stride 1; the repr shows
 * d (k - 1) / 2 per dim) */
TG_API tg_module *tg_nn_conv1d_padding(size_t in_channels, size_t out_channels, int64_t kernel_size, int64_t stride,
                                const char *padding, int64_t dilation, int64_t groups, bool bias, tg_rng *rng);
TG_API tg_module *tg_nn_conv2d_padding(size_t in_channels, size_t out_channels, const int64_t kernel_size[2],
                                const int64_t stride[2], const char *padding, const int64_t dilation[2],
                                int64_t groups, bool bias, tg_rng *rng);
TG_API tg_module *tg_nn_conv_transpose2d(size_t in_channels, size_t out_channels, const int64_t kernel_size[2],
                                  const int64_t stride[2], const int64_t padding[2],
                                  const int64_t output_padding[2], int64_t groups, bool bias,
                                  const int64_t dilation[2], tg_rng *rng);
TG_API tg_module *tg_nn_relu(void);
TG_API tg_module *tg_nn_sigmoid(void);
TG_API tg_module *tg_nn_tanh(void);
TG_API tg_module *tg_nn_leaky_relu(double negative_slope); /* PyTorch: 0.01 */
TG_API tg_module *tg_nn_elu(double alpha);                 /* PyTorch: 1.0 */
/* the activations of ops/activation.c as modules, PyTorch's type names
 * (GELU, SiLU, Mish, Hardtanh, ReLU6, SELU, CELU, Softsign, Hardsigmoid,
 * Hardswish, LogSigmoid, Softplus); tg_nn_gelu refuses a bad approximate
 * at construction */
TG_API tg_module *tg_nn_gelu(const char *approximate); /* PyTorch: "none" */
TG_API tg_module *tg_nn_silu(void);
TG_API tg_module *tg_nn_mish(void);
TG_API tg_module *tg_nn_hardtanh(double min_val, double max_val); /* PyTorch: -1, 1 */
TG_API tg_module *tg_nn_relu6(void);
TG_API tg_module *tg_nn_selu(void);
TG_API tg_module *tg_nn_celu(double alpha); /* PyTorch: 1.0 */
TG_API tg_module *tg_nn_softsign(void);
TG_API tg_module *tg_nn_hardsigmoid(void);
TG_API tg_module *tg_nn_hardswish(void);
TG_API tg_module *tg_nn_logsigmoid(void);
TG_API tg_module *tg_nn_softplus(double beta, double threshold); /* PyTorch: 1, 20 */
TG_API tg_module *tg_nn_softmax(int dim);
TG_API tg_module *tg_nn_log_softmax(int dim);
/* zeroes each element with probability p in training mode and scales the
 * survivors by 1/(1-p); identity in eval mode. The mask comes from rng,
 * borrowed (must outlive the module; NULL = the default generator). */
TG_API tg_module *tg_nn_dropout(double p, tg_rng *rng);
/* zeroes whole channels: one draw per (n, c) as tg_dropout2d */
TG_API tg_module *tg_nn_dropout2d(double p, tg_rng *rng);
TG_API tg_module *tg_nn_flatten(int start_dim, int end_dim); /* PyTorch: 1, -1 */
/* Pooling and resampling (nn/pool.c), torch.nn's, over the ops of
 * ops/pool.c and ops/resample.c; no parameters. A NULL stride is the kernel
 * (torch's stride=None), NULL padding 0, NULL dilation 1. Bad values fail
 * here, at construction. divisor_override 0: none (negative divides, as torch). */
TG_API tg_module *tg_nn_maxpool1d(int64_t kernel_size, const int64_t *stride /* one value or NULL */,
                           int64_t padding, int64_t dilation, bool ceil_mode);
TG_API tg_module *tg_nn_maxpool2d(const int64_t kernel_size[2], const int64_t stride[2],
                           const int64_t padding[2], const int64_t dilation[2], bool ceil_mode);
TG_API tg_module *tg_nn_avgpool1d(int64_t kernel_size, const int64_t *stride /* one value or NULL */,
                           int64_t padding, bool ceil_mode, bool count_include_pad);
TG_API tg_module *tg_nn_avgpool2d(const int64_t kernel_size[2], const int64_t stride[2],
                           const int64_t padding[2], bool ceil_mode, bool count_include_pad,
                           int64_t divisor_override);
TG_API tg_module *tg_nn_adaptive_avgpool2d(const int64_t output_size[2]);
TG_API tg_module *tg_nn_adaptive_maxpool2d(const int64_t output_size[2]);
/* exactly one of size and scale_factor; align_corners only for the linear
 * modes; on (N, C, L) input (nearest, linear) only the first entry is read */
TG_API tg_module *tg_nn_upsample(const int64_t size[2], const double scale_factor[2], tg_interp_mode mode,
                          bool align_corners);
TG_API tg_module *tg_nn_pixel_shuffle(int64_t upscale_factor);
TG_API tg_module *tg_nn_pixel_unshuffle(int64_t downscale_factor);

/* Sequential owns its children, named "0", "1", ...; forward chains them.
 * The variadic form takes n tg_module* arguments. If any is NULL (a
 * constructor failed) the others are freed and NULL returned, so
 * tg_nn_sequential(3, tg_nn_linear(...), tg_nn_tanh(), ...) needs one check. */
TG_API tg_module *tg_nn_sequential(size_t n, ...);
TG_API tg_module *tg_nn_sequential_array(size_t n, tg_module **children);
TG_API int tg_nn_sequential_append(tg_module *seq, tg_module *child); /* takes ownership */

/* ModuleList and ModuleDict (nn/containers.c): hold children, as torch's,
 * and have no forward (tg_module_forward on one is an error naming it).
 * State-dict names are PyTorch's: "layers.0.weight", "heads.q.weight".
 * Ownership as Sequential's: a container takes every child given to it,
 * also when it fails, and a NULL child (a failed constructor) makes the
 * call fail and free the others. */
/* ModuleList(children[0..n)): children named "0", "1", ...; n 0 (children
 * may then be NULL) gives an empty list */
TG_API tg_module *tg_nn_module_list(size_t n, tg_module **children);
/* list.append(child) */
TG_API int tg_nn_module_list_append(tg_module *list, tg_module *child);
/* list.extend(children[0..n)): all appended or, on failure, none (all freed) */
TG_API int tg_nn_module_list_extend(tg_module *list, size_t n, tg_module **children);
/* list.insert(index, child): index in [-len, len], negative counts from
 * the end as Python's list.insert; the children after it are renumbered */
TG_API int tg_nn_module_list_insert(tg_module *list, int64_t index, tg_module *child);
/* list[index], index in [-len, len); NULL with an error otherwise */
TG_API tg_module *tg_nn_module_list_get(const tg_module *list, int64_t index);
/* len(list); 0 with an error for NULL or a module that is no ModuleList */
TG_API size_t tg_nn_module_list_len(const tg_module *list);
/* ModuleDict(zip(keys, children)), keys in insertion order; a key must be a
 * valid module name (non-empty, no '.', shorter than TG_NN_NAME_MAX) and a
 * key given twice is an error (torch would keep the last silently) */
TG_API tg_module *tg_nn_module_dict(size_t n, const char *const *keys, tg_module **children);
/* dict[key] = child: a new key is appended, an existing one replaced in
 * place (the old child freed), as torch's __setitem__ */
TG_API int tg_nn_module_dict_set(tg_module *dict, const char *key, tg_module *child);
/* add a new key; a key already there is an error (nothing replaced) */
TG_API int tg_nn_module_dict_insert(tg_module *dict, const char *key, tg_module *child);
/* dict[key]; NULL with an error naming the key when it is missing */
TG_API tg_module *tg_nn_module_dict_get(const tg_module *dict, const char *key);
TG_API size_t tg_nn_module_dict_len(const tg_module *dict);
/* list(dict.keys())[i], i < len (insertion order), or NULL; the text is
 * the dict's own, valid until the dict changes (a key added) or is freed */
TG_API const char *tg_nn_module_dict_key(const tg_module *dict, size_t i);

/* ---- printing (nn/summary.c) */
/* print(m) as PyTorch 1.13: "Type(extra_repr)" for a module without
 * children, else "Type(\n  (name): child...\n)" indented by two spaces a
 * level; 0, or -1 with an error */
TG_API int tg_module_print(FILE *f, const tg_module *m);
/* A table of every module of the tree in pre-order: dotted name, type,
 * each own parameter with its shape ("(frozen)" when it does not require
 * grad), own parameter count; then "Total params: N", "Trainable params:
 * N", "Non-trainable params: N" (tg_module_num_parameters' counts). */
TG_API int tg_module_summary(FILE *f, const tg_module *m);
/* Set m's extra_repr by printf: what print shows inside the parentheses.
 * The convention for every module constructor (built-in or a helper's):
 * fill it with the text PyTorch's extra_repr gives for the same
 * arguments, e.g. "in_features=2, out_features=3, bias=True"; "" clears
 * it. -1 with an error when the text does not fit TG_NN_REPR_MAX (it is
 * then truncated) */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
TG_API int tg_module_set_extra_repr(tg_module *m, const char *fmt, ...);

/* ---- the layers as functions (results in the current scope) */
TG_API tg_tensor *tg_linear(tg_tensor *x, tg_tensor *weight, tg_tensor *bias); /* bias may be NULL */
TG_API tg_tensor *tg_dropout(tg_tensor *x, double p, bool training, tg_rng *rng);
/* F.dropout2d as PyTorch 1.13: each (n, c) channel of x (at least 2-D;
 * 3-D is taken as (N, C, L) as 1.13 does) zeroed with probability p, the
 * survivors scaled by 1/(1-p); one draw per channel, in order, from rng */
TG_API tg_tensor *tg_dropout2d(tg_tensor *x, double p, bool training, tg_rng *rng);

/* ---- normalisation (nn/norm.c, nn/norm_layer.c). x is (N, C, d1, ...);
 * y = (x - mean) / sqrt(var + eps) [* weight + bias], var biased. Weight
 * and bias may be NULL (no affine); running statistics are updated in
 * place, without history, and never require grad. */
/* F.batch_norm: statistics per channel over every dim but 1. Training:
 * the batch's (running stats, if given, move by momentum towards the batch
 * mean and the unbiased variance); eval: the running stats (required). */
TG_API tg_tensor *tg_batch_norm(tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                         tg_tensor *weight, tg_tensor *bias, bool training, double momentum,
                         double eps);
/* F.instance_norm: statistics per (n, c) over the spatial dims
 * (use_input_stats), or the running stats (C); running stats move by the
 * mean over instances of each one's update */
TG_API tg_tensor *tg_instance_norm(tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                            tg_tensor *weight, tg_tensor *bias, bool use_input_stats,
                            double momentum, double eps);
/* F.group_norm: statistics per (n, group of C / num_groups channels) over
 * those channels and the spatial dims; weight and bias (C) per channel */
TG_API tg_tensor *tg_group_norm(tg_tensor *x, int num_groups, tg_tensor *weight, tg_tensor *bias, double eps);
/* F.layer_norm: statistics over the last ndim dims, which must equal
 * normalized_shape; weight and bias of normalized_shape */
TG_API tg_tensor *tg_layer_norm(tg_tensor *x, int ndim, const size_t *normalized_shape, tg_tensor *weight,
                         tg_tensor *bias, double eps);
/* PyTorch defaults: eps 1e-5, momentum 0.1, affine true (instance norm:
 * affine false, track_running_stats false). Training: batch statistics;
 * running_mean/running_var (0 and 1 at first) move by momentum (momentum
 * NAN: cumulative average over num_batches_tracked batches). Eval: the
 * running statistics. State dicts as PyTorch's: weight, bias (affine),
 * running_mean, running_var, num_batches_tracked (tracking). */
TG_API tg_module *tg_nn_batchnorm1d(size_t num_features, double eps, double momentum, bool affine); /* (N, C), (N, C, L) */
/* (N, C, H, W); without track_running_stats no buffers, batch stats in eval too */
TG_API tg_module *tg_nn_batchnorm2d(size_t num_features, double eps, double momentum, bool affine,
                             bool track_running_stats);
/* (N, C, H, W) or (C, H, W); batch stats unless tracking and in eval;
 * num_batches_tracked is kept but not counted (as PyTorch); momentum NAN refused */
TG_API tg_module *tg_nn_instancenorm2d(size_t num_features, double eps, double momentum, bool affine,
                                bool track_running_stats);
/* weight 1, bias 0 (C) when affine; num_channels divisible by num_groups */
TG_API tg_module *tg_nn_groupnorm(int num_groups, size_t num_channels, double eps, bool affine);
/* weight 1, bias 0 of normalized_shape when elementwise_affine */
TG_API tg_module *tg_nn_layernorm(int ndim, const size_t *normalized_shape, double eps, bool elementwise_affine);

/* ---- sequence models (nn/seq_modules.c) */
/* Embedding(num_embeddings, embedding_dim, padding_idx): "weight" (V, D)
 * N(0, 1) with the padding row zeroed; forward tg_embedding of int64
 * indices; padding_idx TG_NO_PADDING_IDX for none, else in [-V, V) */
TG_API tg_module *tg_nn_embedding(size_t num_embeddings, size_t embedding_dim, int64_t padding_idx, tg_rng *rng);
/* F.rms_norm (torch 2.4): y = x / sqrt(mean(x^2 over the trailing ndim dims
 * normalized_shape) + eps) * weight (NULL: none; of normalized_shape); eps
 * NAN = torch's default, the machine epsilon of x's dtype. One node */
TG_API tg_tensor *tg_rms_norm(tg_tensor *x, int ndim, const size_t *normalized_shape, tg_tensor *weight, double eps);
/* RMSNorm(normalized_shape, eps (NAN: default), elementwise_affine): "weight" 1 */
TG_API tg_module *tg_nn_rmsnorm(int ndim, const size_t *normalized_shape, double eps, bool elementwise_affine);
/* Recurrent cells (nn/rnn_cell.c), torch's RNNCell / LSTMCell / GRUCell
 * functional forms: x (N, in) or unbatched (in); h, c (N, H) or (H), NULL =
 * zeros; w_ih (G H, in), w_hh (G H, H), b_ih, b_hh (G H) or NULL.
 * rnn: h' = act(W_ih x + b_ih + W_hh h + b_hh), act "tanh" or "relu" */
TG_API tg_tensor *tg_rnn_cell(tg_tensor *x, tg_tensor *h, tg_tensor *w_ih, tg_tensor *w_hh, tg_tensor *b_ih,
                       tg_tensor *b_hh, const char *nonlinearity);
/* gates i, f, g, o: c' = s(f) c + s(i) tanh(g), h' = s(o) tanh(c'); 0 or -1 */
TG_API int tg_lstm_cell(tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor *w_ih, tg_tensor *w_hh, tg_tensor *b_ih,
                 tg_tensor *b_hh, tg_tensor **h_out, tg_tensor **c_out);
/* gates r, z, n: n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h */
TG_API tg_tensor *tg_gru_cell(tg_tensor *x, tg_tensor *h, tg_tensor *w_ih, tg_tensor *w_hh, tg_tensor *b_ih,
                       tg_tensor *b_hh);
/* Recurrent layers over whole sequences (nn/rnn.c), torch.nn.RNN / LSTM /
 * GRU: num_layers stacked, each one direction or two (bidirectional; the
 * reverse one reads the sequence backwards), the cells' formulas per step.
 * x (T, N, in), (N, T, in) with batch_first, or unbatched (T, in); h0, c0
 * (D num_layers, N, H) or unbatched (D num_layers, H), NULL = zeros, with
 * D = 2 if bidirectional else 1. Results: output (T, N, D H) (batch_first:
 * (N, T, D H); unbatched (T, D H)), the last layer's h per step, the
 * directions concatenated; h_n, c_n (D num_layers, N, H): each layer's and
 * direction's final state (layer-major, forward before reverse).
 * lengths (N values in [1, T], any order; NULL = all T) is
 * pack_padded_sequence(enforce_sorted=False) with pad_packed_sequence(
 * total_length=T): sequence n's steps t >= lengths[n] do not change its
 * state (h_n is the state after its last valid step; the reverse direction
 * starts there), are zero in output and pass no gradient. */
typedef enum tg_rnn_mode { TG_RNN_TANH = 0, TG_RNN_RELU = 1, TG_RNN_LSTM = 2, TG_RNN_GRU = 3 } tg_rnn_mode;
typedef struct tg_rnn_opts {
  size_t input_size, hidden_size;
  int num_layers;           /* 1 */
  const char *nonlinearity; /* RNN only: "tanh" (NULL too) or "relu" */
  bool bias;                /* true: bias_ih and bias_hh per layer and direction */
  bool batch_first;         /* false */
  double dropout;           /* 0: dropout on each layer's output but the last's, training only */
  bool bidirectional;       /* false */
  size_t proj_size;         /* 0; LSTM projections are refused */
  tg_rng *rng;              /* dropout's generator, borrowed (NULL = the default one) */
} tg_rnn_opts;
/* torch's defaults: 1 layer, tanh, bias, time-major, no dropout, one direction */
TG_API tg_rnn_opts tg_rnn_defaults(size_t input_size, size_t hidden_size);
/* Parameters as torch's, in its order, per layer l and direction (suffix
 * "" or "_reverse"): weight_ih_l<l> (G H, in or D H), weight_hh_l<l>
 * (G H, H), bias_ih_l<l>, bias_hh_l<l> (G H), G = 1 (RNN), 4 (LSTM: i, f,
 * g, o), 3 (GRU: r, z, n); every one U(-1/sqrt(H), 1/sqrt(H)) from rng in
 * that order. Multi modules: in = {x, h0, c0 (LSTM)}, out = {output, h_n,
 * c_n (LSTM)}. */
TG_API tg_module *tg_nn_rnn(tg_rnn_opts o);
TG_API tg_module *tg_nn_lstm(tg_rnn_opts o);
TG_API tg_module *tg_nn_gru(tg_rnn_opts o);
/* m's forward with lengths (NULL: none); h0, c0 NULL = zeros (c0 LSTM
 * only); h_n and c_n may be NULL when not wanted (c_n is NULL but for an
 * LSTM). 0, or -1 with an error. */
TG_API int tg_nn_rnn_forward(tg_module *m, tg_tensor *x, tg_tensor *h0, tg_tensor *c0, const int64_t *lengths,
                      tg_tensor **output, tg_tensor **h_n, tg_tensor **c_n);
/* The layer as a function (torch._VF.lstm and kin): weights are the
 * module's parameters in its order (w_ih, w_hh[, b_ih, b_hh] per layer and
 * direction), checked against o's sizes; mode says the RNN's nonlinearity
 * (o.nonlinearity is read by tg_nn_rnn only); o.rng is dropout's generator
 * when training. */
TG_API int tg_rnn(tg_rnn_mode mode, const tg_rnn_opts *o, bool training, tg_tensor *x, tg_tensor *h0, tg_tensor *c0,
           const int64_t *lengths, tg_tensor *const *weights, tg_tensor **output, tg_tensor **h_n,
           tg_tensor **c_n);
/* F.scaled_dot_product_attention (torch 2.x; nn/attention.c): q (..., L, E),
 * k (..., S, E), v (..., S, Ev), batch dims broadcasting: softmax(q k^T
 * scale + mask) v, scale NAN = 1/sqrt(E); attn_mask NULL, bool (true =
 * attend) or float (added), broadcast to (..., L, S); is_causal: attend
 * j <= i (top-left), not with a mask; dropout_p on the probabilities
 * (from rng). One node without dropout */
TG_API tg_tensor *tg_scaled_dot_product_attention(tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *attn_mask,
                                           bool is_causal, double dropout_p, double scale, tg_rng *rng);

/* ---- MultiheadAttention (nn/mha.c), torch.nn.MultiheadAttention 1.13 */
typedef struct tg_mha_opts {
  double dropout;     /* on the attention weights, in training only; 0 */
  bool bias;          /* in_proj_bias and out_proj.bias; true */
  bool add_bias_kv;   /* bias_k, bias_v (1, 1, E) appended to the keys and values; false */
  bool add_zero_attn; /* a zero key and value appended after them; false */
  size_t kdim, vdim;  /* key / value features; 0 = embed_dim */
  bool batch_first;   /* batched inputs (N, L, E) rather than (L, N, E); false */
  tg_rng *rng;        /* initialisation and dropout (borrowed); NULL = the default */
} tg_mha_opts;
TG_API tg_mha_opts tg_mha_defaults(void); /* torch's: 0, true, false, false, 0, 0, false, NULL */
/* MultiheadAttention(embed_dim, num_heads): parameters named, shaped and
 * initialised as torch's: "in_proj_weight" (3E, E) xavier_uniform, or with
 * kdim or vdim != E "q_proj_weight" (E, E), "k_proj_weight" (E, kdim),
 * "v_proj_weight" (E, vdim); "in_proj_bias" (3E) 0; "bias_k", "bias_v"
 * (1, 1, E) xavier_normal; child "out_proj" a Linear(E, E) with bias 0.
 * A multi module: in = {query, key, value, key_padding_mask, attn_mask}
 * (n_in 1 to 5; key NULL or absent = query, value = key, masks NULL =
 * none), out = {attn_output, attn_output_weights averaged over heads}; with
 * max_out 1 only attn_output (need_weights false: the fused path). */
TG_API tg_module *tg_nn_multihead_attention(size_t embed_dim, size_t num_heads, tg_mha_opts opts);
/* The functional form (F.multi_head_attention_forward, with the module's
 * batch_first): the weights and settings of one call. */
typedef struct tg_mha_params {
  size_t num_heads;
  tg_tensor *in_proj_weight;                              /* (3E, E), or NULL and the three: */
  tg_tensor *q_proj_weight, *k_proj_weight, *v_proj_weight; /* (E, E), (E, kdim), (E, vdim) */
  tg_tensor *in_proj_bias;                                /* (3E) or NULL */
  tg_tensor *bias_k, *bias_v;                             /* (1, 1, E) both, or NULL */
  tg_tensor *out_proj_weight;                             /* (E, E) */
  tg_tensor *out_proj_bias;                               /* (E) or NULL */
  bool add_zero_attn, batch_first, training;
  double dropout_p; /* applied when training */
  tg_rng *rng;      /* dropout's generator; NULL = the default */
} tg_mha_params;
/* out = concat_h(softmax(q_h k_h^T / sqrt(E/H) + mask) v_h) W_o^T + b_o with
 * q_h, k_h, v_h the heads of the in-projections. query (L, N, E), batch_first
 * (N, L, E) or unbatched (L, E); key (S, N, kdim), value (S, N, vdim) alike
 * (NULL: key = query, value = key). Masks as torch's MHA: bool true = NOT
 * attended, float added; key_padding_mask (N, S) or (S), attn_mask (L, S) or
 * (N*H, L, S) ((H, L, S) unbatched). is_causal: query i attends keys j <= i
 * (bias_k and the zero key always), without attn_mask. *out (query's
 * layout); *weights (N, L, S') averaged over heads or (N, H, L, S'), S' = S
 * + the appended keys, when need_weights and weights != NULL, else NULL and
 * the fused attention node. 0, or -1 with both NULL. */
TG_API int tg_multi_head_attention(tg_tensor *query, tg_tensor *key, tg_tensor *value, const tg_mha_params *p,
                            tg_tensor *key_padding_mask, bool need_weights, tg_tensor *attn_mask,
                            bool average_attn_weights, bool is_causal, tg_tensor **out, tg_tensor **weights);
/* MultiheadAttention.forward: tg_multi_head_attention with m's parameters,
 * dropout (in training mode) and batch_first */
TG_API int tg_nn_multihead_attention_forward(tg_module *m, tg_tensor *query, tg_tensor *key, tg_tensor *value,
                                      tg_tensor *key_padding_mask, bool need_weights, tg_tensor *attn_mask,
                                      bool average_attn_weights, bool is_causal, tg_tensor **out,
                                      tg_tensor **weights);

/* ========================================================== initialisers */
/* In place, without history, seeded through rng (NULL = default); each
 * returns t or NULL. Fans as PyTorch: for a [out, in, k...] tensor
 * fan_in = in*prod(k), fan_out = out*prod(k); at least 2 dims. */
typedef enum tg_fan_mode { TG_FAN_IN = 0, TG_FAN_OUT = 1 } tg_fan_mode;
typedef enum tg_nonlinearity {
  TG_NL_LINEAR = 0, /* also identity/conv: gain 1 */
  TG_NL_SIGMOID,    /* 1 */
  TG_NL_TANH,       /* 5/3 */
  TG_NL_RELU,       /* sqrt(2) */
  TG_NL_LEAKY_RELU, /* sqrt(2 / (1 + slope^2)) */
  TG_NL_SELU,       /* 3/4 */
} tg_nonlinearity;

/* torch.nn.init.calculate_gain; param is leaky_relu's slope (NAN: 0.01) */
TG_API double tg_init_calculate_gain(tg_nonlinearity nl, double param);
TG_API int tg_init_fans(const tg_tensor *t, size_t *fan_in, size_t *fan_out);
TG_API tg_tensor *tg_init_uniform_(tg_tensor *t, tg_rng *rng, double a, double b);
TG_API tg_tensor *tg_init_normal_(tg_tensor *t, tg_rng *rng, double mean, double std);
TG_API tg_tensor *tg_init_constant_(tg_tensor *t, double value);
TG_API tg_tensor *tg_init_zeros_(tg_tensor *t);
TG_API tg_tensor *tg_init_ones_(tg_tensor *t);
/* U(-b, b), b = gain*sqrt(6/(fan_in+fan_out)) */
TG_API tg_tensor *tg_init_xavier_uniform_(tg_tensor *t, tg_rng *rng, double gain);
/* N(0, gain*sqrt(2/(fan_in+fan_out))) */
TG_API tg_tensor *tg_init_xavier_normal_(tg_tensor *t, tg_rng *rng, double gain);
/* std = gain(nl, a)/sqrt(fan); uniform bound sqrt(3)*std. PyTorch's
 * defaults: a 0, TG_FAN_IN, TG_NL_LEAKY_RELU. */
TG_API tg_tensor *tg_init_kaiming_uniform_(tg_tensor *t, tg_rng *rng, double a, tg_fan_mode mode,
                                    tg_nonlinearity nl);
TG_API tg_tensor *tg_init_kaiming_normal_(tg_tensor *t, tg_rng *rng, double a, tg_fan_mode mode,
                                   tg_nonlinearity nl);

/* ================================================================= losses */
/* reduction as PyTorch's; MEAN (the default there) is 0 */
typedef enum tg_reduction {
  TG_REDUCTION_MEAN = 0,
  TG_REDUCTION_SUM = 1,
  TG_REDUCTION_NONE = 2,
  TG_REDUCTION_BATCHMEAN = 3, /* kl_div only: the sum over the batch size (input's dim 0) */
} tg_reduction;

/* logits (N, C) or (C), targets int64 (N) or () with values in [0, C).
 * One node (log-softmax + NLL): backward is (softmax - onehot) * g, / N for
 * MEAN, itself written with ops so double backward works. NONE gives (N). */
TG_API tg_tensor *tg_cross_entropy(tg_tensor *logits, tg_tensor *targets, tg_reduction r);
/* log_probs (N, C) or (C); -log_probs[i, target_i] */
TG_API tg_tensor *tg_nll_loss(tg_tensor *log_probs, tg_tensor *targets, tg_reduction r);
/* Both also take PyTorch's (N, C, d1, ...) inputs with (N, d1, ...)
 * targets, and skip targets equal to -100 (PyTorch's default
 * ignore_index). With every option of PyTorch's (nn/loss_class.c): */
typedef struct tg_class_loss_opts {
  tg_tensor *weight;      /* (C) class weights (no gradient), or NULL */
  int64_t ignore_index;   /* targets equal to it add nothing; -100 */
  double label_smoothing; /* in [0, 1]: targets mixed with the uniform distribution */
  tg_reduction reduction; /* MEAN divides by the weights of the targets kept */
} tg_class_loss_opts;
TG_API tg_class_loss_opts tg_class_loss_defaults(void); /* NULL, -100, 0, MEAN */
/* -w[t] log_softmax(x)[t] per element, (1 - ls) of it plus ls/C of
 * -sum_c w_c log_softmax(x)[c]; target may also hold class probabilities
 * (the input's shape and dtype): -sum_c w_c p_c log_softmax(x)[c] */
TG_API tg_tensor *tg_cross_entropy_with(tg_tensor *input, tg_tensor *target, tg_class_loss_opts o);
/* the same on log-probabilities, class-index targets only */
TG_API tg_tensor *tg_nll_loss_with(tg_tensor *input, tg_tensor *target, tg_class_loss_opts o);
/* probs in [0, 1], targets same shape and dtype:
 * -(y log p + (1-y) log(1-p)), each log clamped at -100 as PyTorch does;
 * gradient (p - y) / max(p (1-p), 1e-12) */
TG_API tg_tensor *tg_binary_cross_entropy(tg_tensor *probs, tg_tensor *targets, tg_reduction r);
/* max(x, 0) - x y + log(1 + exp(-|x|)): stable for any x; gradient
 * sigmoid(x) - y */
TG_API tg_tensor *tg_bce_with_logits(tg_tensor *logits, tg_tensor *targets, tg_reduction r);
/* (x - y)^2; x and y broadcast (PyTorch warns, and so gives the loss the
 * broadcast shape) */
TG_API tg_tensor *tg_mse_loss(tg_tensor *input, tg_tensor *target, tg_reduction r);
/* the VAE's KL(N(mu, exp(logvar)) || N(0, 1)) per element:
 * -0.5 (1 + logvar - mu^2 - exp(logvar)); TG_REDUCTION_SUM gives the usual
 * -0.5 * sum(...) */
TG_API tg_tensor *tg_gaussian_kl(tg_tensor *mu, tg_tensor *logvar, tg_reduction r);

/* Regression, distribution and ranking losses (nn/loss_regression.c), as
 * PyTorch's; input and target broadcast where PyTorch's do. */
/* |x - y| */
TG_API tg_tensor *tg_l1_loss(tg_tensor *input, tg_tensor *target, tg_reduction r);
/* 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta 0: l1); PyTorch: 1 */
TG_API tg_tensor *tg_smooth_l1_loss(tg_tensor *input, tg_tensor *target, tg_reduction r, double beta);
/* 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); PyTorch: 1 */
TG_API tg_tensor *tg_huber_loss(tg_tensor *input, tg_tensor *target, tg_reduction r, double delta);
/* input log-probabilities: t (log t - input), 0 where t = 0; with
 * log_target, exp(t) (t - input). TG_REDUCTION_BATCHMEAN: sum / input's dim 0 */
TG_API tg_tensor *tg_kl_div(tg_tensor *input, tg_tensor *target, tg_reduction r, bool log_target);
/* log_input: exp(x) - t x, else x - t log(x + eps); full adds Stirling's
 * t log t - t + 0.5 log(2 pi t) where t > 1. PyTorch: true, false, 1e-8 */
TG_API tg_tensor *tg_poisson_nll_loss(tg_tensor *input, tg_tensor *target, bool log_input, bool full,
                               double eps, tg_reduction r);
/* max(0, -y (x1 - x2) + margin), y of +-1 */
TG_API tg_tensor *tg_margin_ranking_loss(tg_tensor *x1, tg_tensor *x2, tg_tensor *y, double margin,
                                  tg_reduction r);
/* x1 (N, D) or (D), y (N) or () of +-1: 1 - cos where y = 1, max(0, cos - margin) where y = -1 */
TG_API tg_tensor *tg_cosine_embedding_loss(tg_tensor *x1, tg_tensor *x2, tg_tensor *y, double margin,
                                    tg_reduction r);
/* x1 . x2 / sqrt(max(|x1|^2 |x2|^2, eps^2)) along dim (broadcasting);
 * PyTorch: dim 1, eps 1e-8 */
TG_API tg_tensor *tg_cosine_similarity(tg_tensor *x1, tg_tensor *x2, int dim, double eps);


/* Record the caller's file:line for anomaly mode (see tg_set_detect_anomaly).
 * The library's own sources define TG_BUILDING_LIBRARY and call the
 * functions directly. */
#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_NO_CALL_SITES) && !defined(__cplusplus)
#define tg_module_forward(...) (TG_CALL_SITE(), tg_module_forward(__VA_ARGS__))
#define tg_linear(...) (TG_CALL_SITE(), tg_linear(__VA_ARGS__))
#define tg_dropout(...) (TG_CALL_SITE(), tg_dropout(__VA_ARGS__))
#define tg_batch_norm(...) (TG_CALL_SITE(), tg_batch_norm(__VA_ARGS__))
#define tg_dropout2d(...) (TG_CALL_SITE(), tg_dropout2d(__VA_ARGS__))
#define tg_group_norm(...) (TG_CALL_SITE(), tg_group_norm(__VA_ARGS__))
#define tg_instance_norm(...) (TG_CALL_SITE(), tg_instance_norm(__VA_ARGS__))
#define tg_layer_norm(...) (TG_CALL_SITE(), tg_layer_norm(__VA_ARGS__))
#define tg_rms_norm(...) (TG_CALL_SITE(), tg_rms_norm(__VA_ARGS__))
#define tg_rnn_cell(...) (TG_CALL_SITE(), tg_rnn_cell(__VA_ARGS__))
#define tg_lstm_cell(...) (TG_CALL_SITE(), tg_lstm_cell(__VA_ARGS__))
#define tg_gru_cell(...) (TG_CALL_SITE(), tg_gru_cell(__VA_ARGS__))
#define tg_scaled_dot_product_attention(...) (TG_CALL_SITE(), tg_scaled_dot_product_attention(__VA_ARGS__))
#define tg_multi_head_attention(...) (TG_CALL_SITE(), tg_multi_head_attention(__VA_ARGS__))
#define tg_nn_multihead_attention_forward(...) (TG_CALL_SITE(), tg_nn_multihead_attention_forward(__VA_ARGS__))
#define tg_cross_entropy(...) (TG_CALL_SITE(), tg_cross_entropy(__VA_ARGS__))
#define tg_nll_loss(...) (TG_CALL_SITE(), tg_nll_loss(__VA_ARGS__))
#define tg_l1_loss(...) (TG_CALL_SITE(), tg_l1_loss(__VA_ARGS__))
#define tg_smooth_l1_loss(...) (TG_CALL_SITE(), tg_smooth_l1_loss(__VA_ARGS__))
#define tg_huber_loss(...) (TG_CALL_SITE(), tg_huber_loss(__VA_ARGS__))
#define tg_kl_div(...) (TG_CALL_SITE(), tg_kl_div(__VA_ARGS__))
#define tg_poisson_nll_loss(...) (TG_CALL_SITE(), tg_poisson_nll_loss(__VA_ARGS__))
#define tg_margin_ranking_loss(...) (TG_CALL_SITE(), tg_margin_ranking_loss(__VA_ARGS__))
#define tg_cosine_embedding_loss(...) (TG_CALL_SITE(), tg_cosine_embedding_loss(__VA_ARGS__))
#define tg_cosine_similarity(...) (TG_CALL_SITE(), tg_cosine_similarity(__VA_ARGS__))
#define tg_cross_entropy_with(...) (TG_CALL_SITE(), tg_cross_entropy_with(__VA_ARGS__))
#define tg_nll_loss_with(...) (TG_CALL_SITE(), tg_nll_loss_with(__VA_ARGS__))
#define tg_binary_cross_entropy(...) (TG_CALL_SITE(), tg_binary_cross_entropy(__VA_ARGS__))
#define tg_bce_with_logits(...) (TG_CALL_SITE(), tg_bce_with_logits(__VA_ARGS__))
#define tg_mse_loss(...) (TG_CALL_SITE(), tg_mse_loss(__VA_ARGS__))
#define tg_gaussian_kl(...) (TG_CALL_SITE(), tg_gaussian_kl(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif
#endif
