/* Internal to optim/: the optimizer object that every algorithm shares and
 * the helpers each algorithm's constructor builds on. */
#ifndef TG_OPTIM_INTERNAL_H
#define TG_OPTIM_INTERNAL_H

#include "tg_internal.h"
#include "tg_optim.h"

#define OPTIM_MAX_BUFS 3  /* Adam with amsgrad, RMSprop centered with momentum */
#define OPTIM_NAME_LEN 32 /* "2147483647.max_exp_avg_sq" fits */

/* One parameter's contiguous memory for one update. p, g and buf[k] hold n
 * elements of dt each (buf[k] NULL past the optimizer's buffers; a buf_scalar
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

typedef void (*optim_update_fn)(const tg_optimizer *opt, const optim_slot *s);

struct tg_optimizer {
  const char *name; /* "Adam": PyTorch's class name */
  optim_update_fn update;
  double lr; /* the live learning rate; opts.*.lr is only its first value */
  bool maximize; /* the update sees -grad (every algorithm negates first) */
  union {
    tg_sgd_opts sgd;
    tg_adam_opts adam;
    tg_rmsprop_opts rmsprop;
    tg_adagrad_opts adagrad;
    tg_adamax_opts adamax;
    tg_adadelta_opts adadelta;
    tg_nadam_opts nadam;
    tg_radam_opts radam;
  } opts;
  int n;
  tg_tensor **params; /* [n], borrowed */
  int n_bufs;
  /* [n * (1 + n_bufs)]: for parameter i, entry i*(1+n_bufs) is its step
   * count (float64 0-d) and the next n_bufs are its buffers */
  tg_tensor **state;
  char (*names)[OPTIM_NAME_LEN];
};

/* What a constructor asks of the shared part: its buffers' names and the
 * value each starts at (Adagrad's sum starts at initial_accumulator_value). */
typedef struct optim_layout {
  int n_bufs;
  const char *buf_names[OPTIM_MAX_BUFS];
  double buf_init[OPTIM_MAX_BUFS];
  /* a 0-d float32 buffer instead of one shaped as the parameter (NAdam's
   * mu_product, a torch.tensor(1.) in torch 1.13) */
  bool buf_scalar[OPTIM_MAX_BUFS];
} optim_layout;

/* Check params (op names the constructor in messages), copy the pointer
 * array and allocate the state. NULL with an error on failure. */
tg_optimizer *optim_create(const char *op, tg_tensor **params, int n, const optim_layout *lay);

/* Option checks shared by the constructors: each records "op: ..." and
 * returns false when x is NaN or outside its range. */
bool optim_check_nonneg(const char *op, const char *what, double x);
bool optim_check_unit(const char *op, const char *what, double x); /* [0, 1) */

#endif
