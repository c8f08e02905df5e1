/* optim layer: optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax,
 * Adadelta, NAdam, RAdam, L-BFGS), gradient clipping and learning-rate schedules,
 * with torch.optim 1.13 semantics.
 *
 * An optimizer updates a list of parameters: persistent, contiguous float
 * leaves that require grad. It copies the pointer array (the tensors stay
 * the caller's) and allocates their state once, when they are given (at
 * creation, or when a group is added), as persistent tensors, so
 * tg_optim_step allocates nothing. A parameter whose
 * .grad is NULL is skipped by a step, as PyTorch skips p.grad is None.
 * Optimizers, like tensors, belong to the thread that made them.
 *
 *   tg_optimizer *opt = tg_adam_new(params, n, tg_adam_defaults());
 *   for (...) {
 *     tg_scope_begin();
 *     tg_backward(loss(...), NULL, false);
 *     tg_scope_end();
 *     tg_optim_step(opt);
 *     tg_optim_zero_grad(opt);
 *   }
 *   tg_optim_free(opt);
 *
 * Parameter groups, as torch's param_groups: the constructor makes group 0
 * from its options, and tg_X_add_param_group adds another group of
 * parameters with its own full option struct (optimizer.add_param_group).
 * The options are checked as the constructor checks them, a parameter may
 * be in only one group, and the new parameters' state is allocated then.
 * Parameters are numbered across groups in order (state names, step errors,
 * tg_optim_num_params), as torch's state_dict numbers them.
 *
 *   tg_optimizer *opt = tg_sgd_new(body, n_body, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
 *   tg_sgd_add_param_group(opt, head, n_head, (tg_sgd_opts){.lr = 0.01});
 *
 * Errors follow the library's model: constructors return NULL and int
 * functions -1, with a message in tg_last_error(). */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include "tg_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_optimizer tg_optimizer;

/* ---- SGD: d = g + wd*p; with momentum mu: buf = g on the first step, then
 * buf = mu*buf + (1-dampening)*d; d = nesterov ? d + mu*buf : buf;
 * p -= lr*d. The lecture form "Δ = αΔ + (1−α)g" is momentum = dampening = α. */
typedef struct tg_sgd_opts {
  double lr;
  double momentum;
  double dampening;
  double weight_decay;
  bool nesterov; /* needs momentum > 0 and dampening 0 */
  bool maximize; /* ascend: the gradient is negated first, as PyTorch 1.13 */
} tg_sgd_opts;
/* lr 1e-3 (torch >= 2.2's default; 1.13 had none), everything else 0 */
TG_API tg_sgd_opts tg_sgd_defaults(void);
TG_API tg_optimizer *tg_sgd_new(tg_tensor **params, int n, tg_sgd_opts o);
/* another group of n parameters (n >= 0; params unread when 0) with its own
 * options; 0, or -1 with the optimizer unchanged. Each adder takes the
 * optimizer's own options type and refuses another optimizer's. */
TG_API int tg_sgd_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_sgd_opts o);

/* ---- Adam and AdamW. Adam adds weight_decay*p to the gradient; AdamW
 * decays the parameter itself first (p *= 1 - lr*weight_decay). amsgrad keeps
 * the running maximum of exp_avg_sq and divides by that instead. */
typedef struct tg_adam_opts {
  double lr;
  double beta1, beta2; /* each in [0, 1) */
  double eps;
  double weight_decay;
  bool amsgrad;
  bool maximize; /* ascend: the gradient is negated first */
} tg_adam_opts;
TG_API tg_adam_opts tg_adam_defaults(void);  /* lr 1e-3, betas .9/.999, eps 1e-8, wd 0 */
TG_API tg_adam_opts tg_adamw_defaults(void); /* the same with weight_decay 1e-2 */
TG_API tg_optimizer *tg_adam_new(tg_tensor **params, int n, tg_adam_opts o);
TG_API tg_optimizer *tg_adamw_new(tg_tensor **params, int n, tg_adam_opts o);
/* for Adam and AdamW (whose groups keep the decoupled decay) */
TG_API int tg_adam_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_adam_opts o);

/* ---- RMSprop: square_avg = alpha*square_avg + (1-alpha)*g^2; centered
 * subtracts the square of the running mean of g from it. */
typedef struct tg_rmsprop_opts {
  double lr;
  double alpha;
  double eps;
  double weight_decay;
  double momentum;
  bool centered;
  bool maximize; /* ascend: the gradient is negated first */
} tg_rmsprop_opts;
TG_API tg_rmsprop_opts tg_rmsprop_defaults(void); /* lr 1e-2, alpha .99, eps 1e-8, rest 0 */
TG_API tg_optimizer *tg_rmsprop_new(tg_tensor **params, int n, tg_rmsprop_opts o);
TG_API int tg_rmsprop_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_rmsprop_opts o);

/* ---- Adagrad: sum += g^2; p -= lr/(1+(step-1)*lr_decay) * g/(sqrt(sum)+eps) */
typedef struct tg_adagrad_opts {
  double lr;
  double lr_decay;
  double weight_decay;
  double initial_accumulator_value; /* the state sum starts here */
  double eps;
  bool maximize; /* ascend: the gradient is negated first */
} tg_adagrad_opts;
TG_API tg_adagrad_opts tg_adagrad_defaults(void); /* lr 1e-2, eps 1e-10, rest 0 */
TG_API tg_optimizer *tg_adagrad_new(tg_tensor **params, int n, tg_adagrad_opts o);
/* the group's sum starts at its own initial_accumulator_value */
TG_API int tg_adagrad_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_adagrad_opts o);

/* ---- Adamax (optim/adam_variants.c): m = b1*m + (1-b1)*g;
 * u = max(b2*u, |g|+eps); p -= lr/(1-b1^t) * m/u. State exp_avg, exp_inf. */
typedef struct tg_adamax_opts {
  double lr;
  double beta1, beta2; /* each in [0, 1) */
  double eps;
  double weight_decay;
  bool maximize;
} tg_adamax_opts;
TG_API tg_adamax_opts tg_adamax_defaults(void); /* lr 2e-3, betas .9/.999, eps 1e-8, wd 0 */
TG_API tg_optimizer *tg_adamax_new(tg_tensor **params, int n, tg_adamax_opts o);
TG_API int tg_adamax_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_adamax_opts o);

/* ---- NAdam (optim/adam_variants.c), torch 1.13: mu_t = b1*(1 - .5*.96^(t*psi));
 * mu_product *= mu_t; m, v as Adam; d = sqrt(v/(1-b2^t)) + eps;
 * p -= lr*(1-mu_t)/(1-mu_product) * g/d + lr*mu_{t+1}/(1-mu_product*mu_{t+1}) * m/d.
 * State mu_product (0-d float32, as torch's), exp_avg, exp_avg_sq. */
typedef struct tg_nadam_opts {
  double lr;
  double beta1, beta2; /* each in [0, 1) */
  double eps;
  double weight_decay;
  double momentum_decay; /* psi, >= 0 */
} tg_nadam_opts;
TG_API tg_nadam_opts tg_nadam_defaults(void); /* lr 2e-3, betas .9/.999, eps 1e-8, wd 0, psi 4e-3 */
TG_API tg_optimizer *tg_nadam_new(tg_tensor **params, int n, tg_nadam_opts o);
TG_API int tg_nadam_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_nadam_opts o);

/* ---- RAdam (optim/adam_variants.c), torch 1.13: m, v as Adam;
 * rho_inf = 2/(1-b2) - 1, rho_t = rho_inf - 2t*b2^t/(1-b2^t); while rho_t <= 5
 * p -= lr * m/(1-b1^t), after that the step is Adam's scaled by the
 * rectification r_t = sqrt((rho_t-4)(rho_t-2)rho_inf / ((rho_inf-4)(rho_inf-2)rho_t)).
 * State exp_avg, exp_avg_sq. */
typedef struct tg_radam_opts {
  double lr;
  double beta1, beta2; /* each in [0, 1) */
  double eps;
  double weight_decay;
} tg_radam_opts;
TG_API tg_radam_opts tg_radam_defaults(void); /* lr 1e-3, betas .9/.999, eps 1e-8, wd 0 */
TG_API tg_optimizer *tg_radam_new(tg_tensor **params, int n, tg_radam_opts o);
TG_API int tg_radam_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_radam_opts o);

/* ---- Adadelta (optim/adadelta.c): v = rho*v + (1-rho)*g^2;
 * delta = sqrt(acc+eps)/sqrt(v+eps)*g; acc = rho*acc + (1-rho)*delta^2;
 * p -= lr*delta. State square_avg, acc_delta. */
typedef struct tg_adadelta_opts {
  double lr;
  double rho; /* in [0, 1] */
  double eps;
  double weight_decay;
  bool maximize;
} tg_adadelta_opts;
TG_API tg_adadelta_opts tg_adadelta_defaults(void); /* lr 1, rho .9, eps 1e-6, wd 0 */
TG_API tg_optimizer *tg_adadelta_new(tg_tensor **params, int n, tg_adadelta_opts o);
TG_API int tg_adadelta_add_param_group(tg_optimizer *opt, tg_tensor **params, int n,
                                tg_adadelta_opts o);

/* ---- L-BFGS (optim/lbfgs.c), torch.optim.LBFGS 1.13 with its two-loop
 * recursion and, with line_search_fn strong_wolfe, its port of minFunc's
 * strong-Wolfe line search (c1 1e-4, c2 .9, 25 evaluations at most). One step
 * runs up to max_iter iterations, each: d = -H g from the last history_size
 * pairs (s = t*d, y = g - g_prev, kept when y.s > 1e-10; H0 = y.s/y.y), t = lr
 * (min(1, 1/|g|_1)*lr on the very first iteration), then p += t*d (or the
 * line search's t). It stops early when max|g| <= tolerance_grad, g.d >
 * -tolerance_change, max|t*d| <= tolerance_change, |loss - prev_loss| <
 * tolerance_change or max_eval evaluations are spent.
 * Its state is global (torch keeps it on the first parameter), in float64
 * whatever the parameters' dtype, allocated once by tg_lbfgs_new:
 * (2*history_size + 8) * N doubles for N parameter elements. State entries,
 * named as torch's with "0." before them: 0.func_evals 0.n_iter (0-d),
 * 0.d (N), 0.t, 0.old_dirs 0.old_stps (history_size, N; a ring: entry
 * (0.old_first + i) % history_size is torch's old_dirs[i], i < 0.n_old),
 * 0.ro 0.al (history_size), 0.H_diag, 0.prev_flat_grad (N), 0.prev_loss,
 * 0.n_old, 0.old_first. One parameter group only (as torch): no adder, and
 * tg_optim_step refuses it (it needs the closure); zero_grad, the lr getters
 * and setters (read at each step, so schedulers work), state and free are
 * the generic ones.
 *
 *   static double closure(void *ctx) {  // zero_grad + forward + backward, as torch's
 *     model *m = ctx;
 *     tg_optim_zero_grad(m->opt);
 *     tg_scope_begin();
 *     tg_tensor *loss = forward(m);
 *     double v = loss && tg_backward(loss, NULL, false) == 0 ? tg_item(loss) : NAN;
 *     tg_scope_end();
 *     return v;
 *   }
 *   ... tg_lbfgs_step(opt, closure, m); */
typedef enum { TG_LBFGS_NO_LINE_SEARCH = 0, TG_LBFGS_STRONG_WOLFE } tg_lbfgs_line_search;
typedef struct tg_lbfgs_opts {
  double lr;        /* >= 0 */
  int max_iter;     /* >= 1: iterations per step */
  int max_eval;     /* >= 1 closure evaluations per step, or 0 for max_iter*5/4 (torch's None) */
  double tolerance_grad, tolerance_change; /* >= 0 */
  int history_size; /* >= 1 */
  tg_lbfgs_line_search line_search_fn;
} tg_lbfgs_opts;
/* lr 1, max_iter 20, max_eval 0 (25), tolerance_grad 1e-7, tolerance_change
 * 1e-9, history_size 100, no line search */
TG_API tg_lbfgs_opts tg_lbfgs_defaults(void);
TG_API tg_optimizer *tg_lbfgs_new(tg_tensor **params, int n, tg_lbfgs_opts o);
/* Re-evaluates the loss: zeroes the gradients, runs forward and backward,
 * returns the loss (as torch's closure). Return NAN to fail the step (an op
 * failed; torch would raise). */
typedef double (*tg_lbfgs_closure)(void *ctx);
/* One L-BFGS step (optimizer.step(closure)): returns the loss of the first
 * evaluation, as torch, after moving the parameters. A parameter without a
 * .grad counts as a zero gradient. NaN with an error when opt is not an
 * L-BFGS optimizer, the closure is NULL or returns NaN, or a gradient does
 * not match its parameter: the parameters are then put back where the step
 * found them, the history is cleared (the next step starts as the first)
 * and 0.func_evals counts the evaluations made. ctx is the closure's (may be NULL). */
TG_API double tg_lbfgs_step(tg_optimizer *opt, tg_lbfgs_closure closure, void *ctx);

/* ---- every optimizer */
/* One update of every parameter that has a .grad, in place; bumps each
 * updated parameter's storage version. Checks every parameter and gradient
 * before it changes anything, so a -1 leaves parameters and state as they
 * were. */
TG_API int tg_optim_step(tg_optimizer *opt);
/* zero each .grad in place, keeping the buffers (set_to_none=False) */
TG_API int tg_optim_zero_grad(tg_optimizer *opt);
/* group 0's lr; NaN and an error for NULL */
TG_API double tg_optim_get_lr(const tg_optimizer *opt);
/* every group's lr (lr >= 0), as `for g in opt.param_groups: g['lr'] = lr` */
TG_API int tg_optim_set_lr(tg_optimizer *opt, double lr);
/* ---- parameter groups, numbered from 0 in the order they were added; a bad
 * group index is an error (-1, or NaN for the getters) */
TG_API int tg_optim_num_groups(const tg_optimizer *opt);
TG_API int tg_optim_group_num_params(const tg_optimizer *opt, int g);
TG_API double tg_optim_get_group_lr(const tg_optimizer *opt, int g);
TG_API int tg_optim_set_group_lr(tg_optimizer *opt, int g, double lr); /* lr >= 0 */
/* group g's weight_decay (each optimizer's own meaning: AdamW's decoupled) */
TG_API double tg_optim_get_group_weight_decay(const tg_optimizer *opt, int g);
TG_API int tg_optim_set_group_weight_decay(tg_optimizer *opt, int g, double wd); /* wd >= 0 */
/* group g's momentum: SGD's and RMSprop's momentum, the Adam family's beta1
 * (torch's betas[0]); NaN and an error for Adagrad and Adadelta */
TG_API double tg_optim_get_group_momentum(const tg_optimizer *opt, int g);
/* beta1 in [0, 1); a momentum > 0, in a group made with momentum > 0 (its
 * buffer exists only then) */
TG_API int tg_optim_set_group_momentum(tg_optimizer *opt, int g, double m);
TG_API const char *tg_optim_name(const tg_optimizer *opt); /* "SGD", "Adam", ... */
/* over all groups; -1 and an error for NULL */
TG_API int tg_optim_num_params(const tg_optimizer *opt);
/* frees the state tensors, not the parameters */
TG_API void tg_optim_free(tg_optimizer *opt);

/* ---- state, for checkpoints. Named entries in a fixed order, per
 * parameter i (numbered across groups): "i.step" (float64 0-d, the number of steps that parameter has
 * taken) and then the optimizer's buffers, shaped and typed as the parameter:
 *   SGD      i.momentum_buffer (momentum > 0)
 *   Adam(W)  i.exp_avg, i.exp_avg_sq, i.max_exp_avg_sq (amsgrad)
 *   RMSprop  i.square_avg, i.momentum_buffer (momentum > 0), i.grad_avg (centered)
 *   Adagrad  i.sum
 *   NAdam    i.mu_product (0-d float32), i.exp_avg, i.exp_avg_sq
 *   RAdam    i.exp_avg, i.exp_avg_sq
 * A group's own options decide its buffers (an SGD group without momentum
 * has no momentum_buffer even when another group has one).
 * (SGD keeps a step count too: PyTorch's "buffer is None" before the first
 * step is "i.step" == 0 here.) The tensors are the optimizer's own: read
 * them, and write them through tg_optim_state_load. */
TG_API size_t tg_optim_state_count(const tg_optimizer *opt);
/* entry i, its name in *name (may be NULL); NULL and an error past the end */
TG_API tg_tensor *tg_optim_state_at(const tg_optimizer *opt, size_t i, const char **name);
/* the entry called name; NULL and an error when there is none */
TG_API tg_tensor *tg_optim_state_find(const tg_optimizer *opt, const char *name);
/* copy src into the entry called name: same shape, dtype converts; a step
 * must be a whole number >= 0 */
TG_API int tg_optim_state_load(tg_optimizer *opt, const char *name, const tg_tensor *src);

/* ---- gradient clipping (torch.nn.utils), over the .grad of params; NULL
 * grads are skipped. clip_grad_norm returns the total norm of all gradients
 * as one vector (norm_type p > 0, or INFINITY for the largest |g|) and scales
 * every gradient by max_norm/(total+1e-6) when that is below 1. It returns 0
 * when no parameter has a gradient and -1 on error (norms are never
 * negative). */
TG_API double tg_clip_grad_norm(tg_tensor **params, int n, double max_norm, double norm_type);
/* clamp every gradient entry into [-clip, clip]; clip >= 0 */
TG_API int tg_clip_grad_value(tg_tensor **params, int n, double clip);

/* ---- learning-rate schedules (optim/scheduler*.c), as torch.optim.lr_scheduler
 * 1.13. Per parameter group g, with base = g's initial_lr (set by the first
 * scheduler made on the optimizer from the group's lr then, as torch's
 * group.setdefault('initial_lr', lr); OneCycleLR sets it to max_lr/div_factor)
 * and e the epoch, each is a closed form of e, so the lr at an epoch never
 * depends on how it was reached (torch's recursive forms agree to rounding):
 *   StepLR             base * gamma^floor(e/step_size)
 *   ExponentialLR      base * gamma^e
 *   CosineAnnealingLR  eta_min + (base-eta_min)*(1+cos(pi*e/t_max))/2
 *   LinearLR           base * (start + (end-start)*min(e, total_iters)/total_iters)
 *   MultiStepLR        base * gamma^#{milestones m: 0 <= m <= e} (any order, repeats count)
 *   ConstantLR         base * (e < total_iters ? factor : 1)
 *   LambdaLR           base * fn(e, ctx)
 * Making one starts at epoch 0 and sets every group's lr for it; each
 * tg_scheduler_step moves to the next epoch and sets them again. A group
 * added after the scheduler was made keeps its lr (it has no base): add the
 * groups first. A scheduler borrows its optimizer: free the scheduler first.
 * To resume, make the optimizer with its original lr, a scheduler, and
 * tg_scheduler_set_epoch. torch's defaults, for the arguments C cannot
 * default: LinearLR start 1/3, end 1, total_iters 5; ConstantLR factor 1/3,
 * total_iters 5; MultiStepLR gamma 0.1. */
typedef struct tg_lr_scheduler tg_lr_scheduler;
TG_API tg_lr_scheduler *tg_step_lr_new(tg_optimizer *opt, long step_size, double gamma);
TG_API tg_lr_scheduler *tg_exponential_lr_new(tg_optimizer *opt, double gamma);
TG_API tg_lr_scheduler *tg_cosine_annealing_lr_new(tg_optimizer *opt, long t_max, double eta_min);
/* start_factor in (0, 1], end_factor in [0, 1], total_iters >= 1 */
TG_API tg_lr_scheduler *tg_linear_lr_new(tg_optimizer *opt, double start_factor, double end_factor,
                                  long total_iters);
/* n milestones (copied; n >= 0, milestones unread when 0), gamma >= 0 */
TG_API tg_lr_scheduler *tg_multi_step_lr_new(tg_optimizer *opt, const long *milestones, int n,
                                      double gamma);
/* factor in (0, 1], total_iters >= 1 */
TG_API tg_lr_scheduler *tg_constant_lr_new(tg_optimizer *opt, double factor, long total_iters);
/* the factor of the base lr at an epoch; a NaN or negative factor fails the
 * step (or the constructor, at epoch 0) */
typedef double (*tg_lr_lambda)(long epoch, void *ctx);
TG_API tg_lr_scheduler *tg_lambda_lr_new(tg_optimizer *opt, tg_lr_lambda fn, void *ctx); /* ctx may be NULL */

/* OneCycleLR: per group, lr goes from initial = max_lr/div_factor up to
 * max_lr over the first pct_start of total_steps, then down to
 * initial/final_div_factor (three_phase: back to initial first, then down),
 * each phase annealed by cos (end + (start-end)/2*(1+cos(pi*pct))) or
 * linearly, pct the fraction of the phase done; the momentum (SGD's and
 * RMSprop's momentum, the Adam family's beta1) goes the other way between
 * max_momentum and base_momentum. Steps 0..total_steps are valid, one more
 * than the cycle, as torch's. cycle_momentum needs an optimizer with
 * momentum (not Adagrad or Adadelta) and, for SGD and RMSprop, every group
 * made with momentum > 0 (tapegrad allocates the momentum buffer then;
 * torch would switch momentum on). A phase of zero length fails where torch
 * divides by zero: at construction or at the step that reaches it. */
typedef enum { TG_ANNEAL_COS, TG_ANNEAL_LINEAR } tg_anneal_strategy;
typedef struct tg_one_cycle_opts {
  double max_lr;         /* every group's peak, unless max_lrs is given */
  const double *max_lrs; /* NULL, or one per group (n_max_lrs = the number of groups) */
  int n_max_lrs;
  long total_steps;      /* > 0; or 0 and epochs * steps_per_epoch */
  long epochs, steps_per_epoch;
  double pct_start;      /* [0, 1] */
  tg_anneal_strategy anneal_strategy;
  bool cycle_momentum;
  double base_momentum, max_momentum;
  double div_factor, final_div_factor; /* > 0 */
  bool three_phase;
} tg_one_cycle_opts;
/* pct_start .3, cos, cycle_momentum, momentum .85/.95, div 25, final_div 1e4;
 * max_lr and the step counts are the caller's */
TG_API tg_one_cycle_opts tg_one_cycle_defaults(void);
TG_API tg_lr_scheduler *tg_one_cycle_lr_new(tg_optimizer *opt, tg_one_cycle_opts o);

/* ReduceLROnPlateau: after each tg_reduce_lr_on_plateau_step(s, metric),
 * a metric better than best (min/rel: m < best*(1-threshold); min/abs:
 * m < best-threshold; max the mirror) becomes best and zeroes
 * num_bad_epochs, else num_bad_epochs += 1; while cooldown_counter > 0 it
 * counts down and bad epochs are ignored; past patience bad epochs each
 * group's lr becomes max(lr*factor, min_lr) where that lowers it by more
 * than eps, and the cooldown starts. It reads the groups' current lrs and
 * sets nothing at construction; tg_scheduler_step, _set_epoch and _lr_at
 * refuse it (it needs metrics), tg_scheduler_get_epoch counts its steps. */
typedef enum { TG_PLATEAU_MIN, TG_PLATEAU_MAX } tg_plateau_mode;
typedef enum { TG_THRESHOLD_REL, TG_THRESHOLD_ABS } tg_threshold_mode;
typedef struct tg_plateau_opts {
  tg_plateau_mode mode;
  double factor; /* < 1 */
  long patience;
  double threshold;
  tg_threshold_mode threshold_mode;
  long cooldown;
  double min_lr;         /* every group's floor (>= 0), unless min_lrs is given */
  const double *min_lrs; /* NULL, or one per group (n_min_lrs = the number of groups) */
  int n_min_lrs;
  double eps;
} tg_plateau_opts;
/* min, factor .1, patience 10, threshold 1e-4 rel, cooldown 0, min_lr 0, eps 1e-8 */
TG_API tg_plateau_opts tg_plateau_defaults(void);
TG_API tg_lr_scheduler *tg_reduce_lr_on_plateau_new(tg_optimizer *opt, tg_plateau_opts o);
TG_API int tg_reduce_lr_on_plateau_step(tg_lr_scheduler *s, double metric);
typedef struct tg_plateau_state {
  double best; /* +inf (min) or -inf (max) before the first step */
  long num_bad_epochs, cooldown_counter;
} tg_plateau_state;
TG_API int tg_reduce_lr_on_plateau_state(const tg_lr_scheduler *s, tg_plateau_state *out);
/* the reverse, to resume: state as read and steps taken (tg_scheduler_get_epoch's count);
 * the groups' lrs are the optimizer's, set apart */
TG_API int tg_reduce_lr_on_plateau_set_state(tg_lr_scheduler *s, const tg_plateau_state *st,
                                      long steps);

/* SequentialLR: schedulers[i] runs from milestones[i-1] (n_milestones =
 * n - 1, non-decreasing, each >= 1), at its own epoch e - milestones[i-1]
 * (torch restarts it with step(0) at the milestone); before the first
 * milestone schedulers[0] at e. All on opt; making it resets to epoch 0.
 * On success it owns the schedulers (tg_scheduler_free frees them with it;
 * they cannot be stepped or freed alone); on failure they stay the
 * caller's. ReduceLROnPlateau and SequentialLR cannot be inside one. */
TG_API tg_lr_scheduler *tg_sequential_lr_new(tg_optimizer *opt, tg_lr_scheduler **schedulers, int n,
                                      const long *milestones, int n_milestones);

/* ---- every scheduler */
TG_API int tg_scheduler_step(tg_lr_scheduler *s);
TG_API int tg_scheduler_set_epoch(tg_lr_scheduler *s, long epoch); /* epoch >= 0 */
TG_API long tg_scheduler_get_epoch(const tg_lr_scheduler *s); /* -1 and an error for NULL */
/* group 0's lr at any epoch >= 0, without touching the optimizer */
TG_API double tg_scheduler_lr_at(const tg_lr_scheduler *s, long epoch);
TG_API void tg_scheduler_free(tg_lr_scheduler *s);

#ifdef __cplusplus
}
#endif
#endif
