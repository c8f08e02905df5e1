/* Internal to optim/: the optimizer object that every algorithm shares and
 * the helpers each algorithm builds on. */
#ifndef TG_OPTIM_INTERNAL_H
#define TG_OPTIM_INTERNAL_H

#include "tg_internal.h"
#include "tg_optim.h"

#define OPTIM_MAX_BUFS 3  /* Adam with amsgrad, RMSprop centered with momentum */
#define OPTIM_NAME_LEN 32 /* "2147483647.max_exp_avg_sq" fits */

/* One parameter's contiguous memory for one update. p, g and buf[k] hold n
 * elements of dt each (buf[k] NULL past the group's buffers; a buf_scalar
 * buffer is one float); step is the
 * parameter's step count, already including this step (1 on the first). */
typedef struct optim_slot {
  void *p;
  const void *g;
  void *buf[OPTIM_MAX_BUFS];
  size_t n;
  tg_dtype dt;
  double step;
} optim_slot;

typedef union optim_opts {
  tg_sgd_opts sgd;
  tg_adam_opts adam;
  tg_rmsprop_opts rmsprop;
  tg_adagrad_opts adagrad;
  tg_adamax_opts adamax;
  tg_adadelta_opts adadelta;
  tg_nadam_opts nadam;
  tg_radam_opts radam;
  tg_lbfgs_opts lbfgs;
} optim_opts;

/* A parameter group: torch's param_groups[g]. Its parameters are
 * params[first .. first+n) of the optimizer, and their state entries start
 * at state[first_entry], 1 + n_bufs per parameter, so parameters and state
 * stay numbered across groups in order, as torch's state_dict numbers them. */
typedef struct optim_group {
  double lr; /* the live learning rate; opts.*.lr is only its first value */
  /* torch's group['initial_lr']: the base lr of every scheduler made on the
   * optimizer, set by the first (or by OneCycleLR) */
  double initial_lr;
  bool has_initial_lr;
  bool maximize; /* the update sees -grad (every algorithm negates first) */
  optim_opts opts;
  int first, n;
  int n_bufs;
  size_t first_entry;
} optim_group;

/* What a group's options ask of the shared part: its learning rate and
 * maximize, its buffers' names and the value each starts at (Adagrad's sum
 * starts at initial_accumulator_value). */
typedef struct optim_layout {
  double lr;
  bool maximize;
  int n_bufs;
  const char *buf_names[OPTIM_MAX_BUFS];
  double buf_init[OPTIM_MAX_BUFS];
  /* a 0-d float32 buffer instead of one shaped as the parameter (NAdam's
   * mu_product, a torch.tensor(1.) in torch 1.13) */
  bool buf_scalar[OPTIM_MAX_BUFS];
} optim_layout;

typedef void (*optim_update_fn)(const optim_group *g, const optim_slot *s);

/* One algorithm, as the shared part sees it. */
typedef struct optim_kind {
  const char *name;      /* "Adam": PyTorch's class name */
  const char *op;        /* "adam": the constructor, in messages */
  const char *opts_type; /* "tg_adam_opts": what its groups take (Adam and AdamW share it) */
  optim_update_fn update;
  /* The one validator of the options, for the constructor and the adder
   * alike: records "op: ..." and returns false on a bad value, else fills
   * the group's layout. */
  bool (*setup)(const char *op, const optim_opts *o, optim_layout *lay);
  size_t wd_offset; /* offsetof(optim_opts, X.weight_decay) */
  /* L-BFGS: no weight decay, no per-parameter state (its state is global,
   * added by the kind itself through optim_add_state), and no update of one
   * parameter (update NULL: tg_optim_step refuses it, it needs a closure) */
  bool no_weight_decay;
  bool no_param_state;
  void (*free_ext)(void *ext); /* frees tg_optimizer.ext, when set */
} optim_kind;

struct tg_optimizer {
  const optim_kind *kind;
  int n; /* parameters over all groups */
  tg_tensor **params; /* [n], borrowed */
  int n_groups;
  optim_group *groups; /* [n_groups] */
  size_t n_state;
  /* [n_state]: per parameter its step count (float64 0-d), then its buffers
   * (L-BFGS: its global entries instead, see lbfgs.c) */
  tg_tensor **state;
  char (*names)[OPTIM_NAME_LEN];
  void *ext; /* the kind's own data (L-BFGS's scratch), freed by kind->free_ext */
};

/* The constructor: group 0 from opts. NULL with an error on failure. */
tg_optimizer *optim_create(const optim_kind *kind, tg_tensor **params, int n,
                           const optim_opts *opts);
/* The typed adders: another group, with opts of type opts_type (which must be
 * the optimizer's); op names the adder in messages. 0, or -1 with an error
 * and the optimizer as it was. */
int optim_add_group(tg_optimizer *opt, const char *opts_type, const char *op,
                    tg_tensor **params, int n, const optim_opts *opts);

/* appends a state entry that the optimizer owns from then on (freed by
 * tg_optim_free, even when this fails); 0, or -1 with an error */
int optim_add_state(tg_optimizer *opt, const char *name, tg_tensor *t);

/* group g's momentum (SGD, RMSprop) or beta1 (the Adam family), or NULL
 * when the optimizer has neither; *is_beta1 says which */
double *optim_momentum_of(const tg_optimizer *opt, int g, bool *is_beta1);
/* whether m may be group g's momentum: records "op: ..." when not */
bool optim_check_momentum(const tg_optimizer *opt, int g, const char *op, const char *what,
                          double m);

/* Option checks shared by the validators: each records "op: ..." and
 * returns false when x is NaN or outside its range. */
bool optim_check_nonneg(const char *op, const char *what, double x);
bool optim_check_unit(const char *op, const char *what, double x); /* [0, 1) */
/* lr, eps, weight_decay >= 0 and betas in [0, 1): Adam, Adamax, NAdam, RAdam */
bool optim_check_adam_like(const char *op, double lr, double eps, double b1, double b2,
                           double wd);

#endif
