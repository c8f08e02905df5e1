/* Parameter groups seen from outside: how many, their sizes, and the
 * per-group hyperparameters that may change between steps (the learning
 * rate, as schedulers and `for g in opt.param_groups: g['lr'] = x` do, the
 * weight decay, and the momentum or beta1 that OneCycleLR cycles). */
#include <math.h>
#include <string.h>

#include "optim_internal.h"

/* group g of opt, or NULL with an error naming op */
static optim_group *group_at(const tg_optimizer *opt, int g, const char *op) {
  if (!opt) {
    tg_error("%s: optimizer is NULL", op);
    return NULL;
  }
  if (g < 0 || g >= opt->n_groups) {
    tg_error("%s: group %d out of range for %d parameter groups", op, g, opt->n_groups);
    return NULL;
  }
  return &opt->groups[g];
}

static double *weight_decay_of(const tg_optimizer *opt, optim_group *g) {
  return (double *)((char *)&g->opts + opt->kind->wd_offset);
}

int tg_optim_num_groups(const tg_optimizer *opt) {
  if (!opt) tg_error("optim_num_groups: optimizer is NULL");
  return opt ? opt->n_groups : -1;
}

int tg_optim_group_num_params(const tg_optimizer *opt, int g) {
  const optim_group *grp = group_at(opt, g, "optim_group_num_params");
  return grp ? grp->n : -1;
}

double tg_optim_get_group_lr(const tg_optimizer *opt, int g) {
  const optim_group *grp = group_at(opt, g, "optim_get_group_lr");
  return grp ? grp->lr : NAN;
}

int tg_optim_set_group_lr(tg_optimizer *opt, int g, double lr) {
  optim_group *grp = group_at(opt, g, "optim_set_group_lr");
  if (!grp || !optim_check_nonneg("optim_set_group_lr", "learning rate", lr)) return -1;
  grp->lr = lr;
  return 0;
}

/* L-BFGS has none */
static bool has_weight_decay(const tg_optimizer *opt, const char *op) {
  if (opt->kind->no_weight_decay) tg_error("%s: %s has no weight_decay", op, opt->kind->name);
  return !opt->kind->no_weight_decay;
}

double tg_optim_get_group_weight_decay(const tg_optimizer *opt, int g) {
  const char *op = "optim_get_group_weight_decay";
  optim_group *grp = group_at(opt, g, op);
  return grp && has_weight_decay(opt, op) ? *weight_decay_of(opt, grp) : NAN;
}

int tg_optim_set_group_weight_decay(tg_optimizer *opt, int g, double wd) {
  const char *op = "optim_set_group_weight_decay";
  optim_group *grp = group_at(opt, g, op);
  if (!grp || !has_weight_decay(opt, op) || !optim_check_nonneg(op, "weight_decay", wd)) return -1;
  *weight_decay_of(opt, grp) = wd;
  return 0;
}

double tg_optim_get_lr(const tg_optimizer *opt) {
  const optim_group *grp = group_at(opt, 0, "optim_get_lr");
  return grp ? grp->lr : NAN;
}

int tg_optim_set_lr(tg_optimizer *opt, double lr) {
  if (!opt) {
    tg_error("optim_set_lr: optimizer is NULL");
    return -1;
  }
  if (!optim_check_nonneg("optim_set_lr", "learning rate", lr)) return -1;
  for (int g = 0; g < opt->n_groups; g++) opt->groups[g].lr = lr;
  return 0;
}

/* ------------------------------------------------ momentum and beta1 */

double *optim_momentum_of(const tg_optimizer *opt, int g, bool *is_beta1) {
  optim_opts *o = &opt->groups[g].opts;
  const char *t = opt->kind->opts_type;
  *is_beta1 = true;
  if (!strcmp(t, "tg_adam_opts")) return &o->adam.beta1;
  if (!strcmp(t, "tg_adamax_opts")) return &o->adamax.beta1;
  if (!strcmp(t, "tg_nadam_opts")) return &o->nadam.beta1;
  if (!strcmp(t, "tg_radam_opts")) return &o->radam.beta1;
  *is_beta1 = false;
  if (!strcmp(t, "tg_sgd_opts")) return &o->sgd.momentum;
  if (!strcmp(t, "tg_rmsprop_opts")) return &o->rmsprop.momentum;
  return NULL;
}

/* A momentum group keeps momentum > 0: its buffer was allocated because it
 * was made so, and SGD's and RMSprop's updates read their buffers by
 * whether momentum is on. */
bool optim_check_momentum(const tg_optimizer *opt, int g, const char *op, const char *what,
                          double m) {
  bool beta1;
  const double *cur = optim_momentum_of(opt, g, &beta1);
  if (!cur) {
    tg_error("%s: %s has no momentum or beta1", op, opt->kind->name);
    return false;
  }
  if (beta1) return optim_check_unit(op, what, m);
  if (!(*cur > 0)) {
    tg_error("%s: group %d of %s was made with momentum 0, so it has no momentum buffer; make "
             "it with momentum > 0", op, g, opt->kind->name);
    return false;
  }
  if (m > 0) return true;
  tg_error("%s: invalid %s %g: must be > 0", op, what, m);
  return false;
}

double tg_optim_get_group_momentum(const tg_optimizer *opt, int g) {
  optim_group *grp = group_at(opt, g, "optim_get_group_momentum");
  bool beta1;
  double *m = grp ? optim_momentum_of(opt, g, &beta1) : NULL;
  if (grp && !m) tg_error("optim_get_group_momentum: %s has no momentum or beta1", opt->kind->name);
  return m ? *m : NAN;
}

int tg_optim_set_group_momentum(tg_optimizer *opt, int g, double m) {
  const char *op = "optim_set_group_momentum";
  if (!group_at(opt, g, op) || !optim_check_momentum(opt, g, op, "momentum", m)) return -1;
  bool beta1;
  *optim_momentum_of(opt, g, &beta1) = m;
  return 0;
}
