/* Parameter groups seen from outside: how many, their sizes, and the
 * per-group hyperparameters that may change between steps (the learning
 * rate, as schedulers and `for g in opt.param_groups: g['lr'] = x` do, and
 * the weight decay). */
#include <math.h>

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

double tg_optim_get_group_weight_decay(const tg_optimizer *opt, int g) {
  optim_group *grp = group_at(opt, g, "optim_get_group_weight_decay");
  return grp ? *weight_decay_of(opt, grp) : NAN;
}

int tg_optim_set_group_weight_decay(tg_optimizer *opt, int g, double wd) {
  optim_group *grp = group_at(opt, g, "optim_set_group_weight_decay");
  if (!grp || !optim_check_nonneg("optim_set_group_weight_decay", "weight_decay", wd)) return -1;
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
