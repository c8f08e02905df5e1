/* ReduceLROnPlateau and SequentialLR, as torch 1.13's. ReduceLROnPlateau
 * is driven by a metric and reads the groups' current lrs (torch's too), so
 * it has no closed form; SequentialLR picks a child by the milestones and
 * asks it for its closed form at the child's own epoch. */
#include <math.h>
#include <stdlib.h>

#include "scheduler_internal.h"

/* -------------------------------------------------- ReduceLROnPlateau */

static void plateau_free(tg_lr_scheduler *s) {
  if (!s->pl) return;
  free(s->pl->min_lrs);
  free(s->pl);
}

static const sched_kind plateau_kind = {.op = "reduce_lr_on_plateau", .free_extra = plateau_free};

tg_plateau_opts tg_plateau_defaults(void) {
  return (tg_plateau_opts){.mode = TG_PLATEAU_MIN, .factor = 0.1, .patience = 10,
                           .threshold = 1e-4, .threshold_mode = TG_THRESHOLD_REL, .eps = 1e-8};
}

static bool plateau_check(const tg_plateau_opts *o) {
  const char *op = "reduce_lr_on_plateau";
  if (!(o->factor < 1)) {
    tg_error("%s: factor %g should be < 1.0", op, o->factor);
    return false;
  }
  if (o->mode != TG_PLATEAU_MIN && o->mode != TG_PLATEAU_MAX) {
    tg_error("%s: mode %d is unknown (TG_PLATEAU_MIN or TG_PLATEAU_MAX)", op, (int)o->mode);
    return false;
  }
  if (o->threshold_mode != TG_THRESHOLD_REL && o->threshold_mode != TG_THRESHOLD_ABS) {
    tg_error("%s: threshold mode %d is unknown (TG_THRESHOLD_REL or TG_THRESHOLD_ABS)", op,
             (int)o->threshold_mode);
    return false;
  }
  /* torch checks none of these; NaN would make every comparison false */
  if (isnan(o->threshold) || isnan(o->eps)) {
    tg_error("%s: %s is NaN", op, isnan(o->threshold) ? "threshold" : "eps");
    return false;
  }
  return true;
}

tg_lr_scheduler *tg_reduce_lr_on_plateau_new(tg_optimizer *opt, tg_plateau_opts o) {
  const char *op = "reduce_lr_on_plateau";
  if (!opt) {
    tg_error("%s: optimizer is NULL", op);
    return NULL;
  }
  if (!plateau_check(&o)) return NULL;
  plateau *pl = calloc(1, sizeof *pl);
  double *min_lrs = pl ? sched_per_group(op, "min_lr", opt, o.min_lr, o.min_lrs, o.n_min_lrs) : NULL;
  if (!pl) tg_error("%s: out of memory", op);
  for (int g = 0; min_lrs && g < opt->n_groups; g++)
    if (!optim_check_nonneg(op, "min_lr", min_lrs[g])) {
      free(min_lrs);
      min_lrs = NULL;
    }
  tg_lr_scheduler *s = min_lrs ? sched_alloc(&plateau_kind, opt, (tg_lr_scheduler){.pl = pl}) : NULL;
  if (!s) {
    free(min_lrs);
    free(pl);
    return NULL;
  }
  o.min_lrs = NULL; /* the caller's array: not kept */
  *pl = (plateau){.o = o, .min_lrs = min_lrs,
                  .st = {.best = o.mode == TG_PLATEAU_MIN ? INFINITY : -INFINITY}};
  return s;
}

static bool is_better(const tg_plateau_opts *o, double a, double best) {
  bool rel = o->threshold_mode == TG_THRESHOLD_REL;
  if (o->mode == TG_PLATEAU_MIN) return rel ? a < best * (1. - o->threshold) : a < best - o->threshold;
  return rel ? a > best * (o->threshold + 1.) : a > best + o->threshold;
}

static plateau *plateau_of(const tg_lr_scheduler *s, const char *op) {
  if (!s) tg_error("%s: scheduler is NULL", op);
  else if (!s->pl) tg_error("%s: the scheduler is a %s, not a reduce_lr_on_plateau", op, s->kind->op);
  return s ? s->pl : NULL;
}

int tg_reduce_lr_on_plateau_step(tg_lr_scheduler *s, double metric) {
  plateau *pl = plateau_of(s, "reduce_lr_on_plateau_step");
  if (!pl) return -1;
  tg_plateau_state *st = &pl->st;
  s->epoch++;
  if (is_better(&pl->o, metric, st->best)) {
    st->best = metric;
    st->num_bad_epochs = 0;
  } else {
    st->num_bad_epochs++;
  }
  if (st->cooldown_counter > 0) {
    st->cooldown_counter--;
    st->num_bad_epochs = 0; /* bad epochs in the cooldown are ignored */
  }
  if (st->num_bad_epochs > pl->o.patience) {
    for (int g = 0; g < s->n_groups; g++) {
      /* Python's max(lr*factor, min_lr): the first unless the second is larger */
      double old_lr = s->opt->groups[g].lr, cand = old_lr * pl->o.factor;
      double new_lr = pl->min_lrs[g] > cand ? pl->min_lrs[g] : cand;
      if (old_lr - new_lr > pl->o.eps) s->opt->groups[g].lr = new_lr;
    }
    st->cooldown_counter = pl->o.cooldown;
    st->num_bad_epochs = 0;
  }
  return 0;
}

int tg_reduce_lr_on_plateau_state(const tg_lr_scheduler *s, tg_plateau_state *out) {
  const char *op = "reduce_lr_on_plateau_state";
  if (s && !out) {
    tg_error("%s: out is NULL", op);
    return -1;
  }
  const plateau *pl = plateau_of(s, op);
  if (!pl) return -1;
  *out = pl->st;
  return 0;
}

int tg_reduce_lr_on_plateau_set_state(tg_lr_scheduler *s, const tg_plateau_state *st,
                                      long steps) {
  const char *op = "reduce_lr_on_plateau_set_state";
  if (s && !st) {
    tg_error("%s: state is NULL", op);
    return -1;
  }
  plateau *pl = plateau_of(s, op);
  if (!pl) return -1;
  if (steps < 0 || st->num_bad_epochs < 0 || st->cooldown_counter < 0 || isnan(st->best)) {
    tg_error("%s: steps, num_bad_epochs and cooldown_counter must be >= 0 and best a number", op);
    return -1;
  }
  pl->st = *st;
  s->epoch = steps;
  return 0;
}

/* -------------------------------------------------------- SequentialLR */

/* the child for epoch e and its own epoch there */
static int seq_lrs(const tg_lr_scheduler *s, long e, double *lr, double *mom, bool *has_mom) {
  int idx = 0;
  while (idx < s->n_milestones && s->milestones[idx] <= e) idx++;
  long local = idx == 0 ? e : e - s->milestones[idx - 1];
  const tg_lr_scheduler *c = s->children[idx];
  return c->kind->lrs(c, local, lr, mom, has_mom);
}

static void seq_free(tg_lr_scheduler *s) {
  for (int c = 0; s->children && c <= s->n_milestones; c++) {
    s->children[c]->parent = NULL;
    tg_scheduler_free(s->children[c]);
  }
  free(s->children);
}

static const sched_kind seq_kind = {.op = "sequential_lr", .lrs = seq_lrs, .free_extra = seq_free};

static bool seq_check(tg_optimizer *opt, tg_lr_scheduler **scheds, int n, const long *milestones,
                      int n_milestones) {
  const char *op = "sequential_lr";
  if (!opt || !scheds || (n_milestones > 0 && !milestones)) {
    tg_error("%s: %s is NULL", op, !opt ? "optimizer" : !scheds ? "schedulers" : "milestones");
    return false;
  }
  if (n < 1 || n_milestones != n - 1) {
    tg_error("%s: expects one more scheduler than milestones, but got %d schedulers and %d "
             "milestones", op, n, n_milestones);
    return false;
  }
  for (int i = 0; i < n; i++) {
    const tg_lr_scheduler *c = scheds[i];
    const char *why = !c ? "is NULL"
                      : c->opt != opt ? "belongs to a different optimizer than the one passed in"
                      : c->parent ? "already belongs to a sequential_lr"
                      : !c->kind->lrs ? "is a reduce_lr_on_plateau, which follows a metric"
                      : c->kind == &seq_kind ? "is a sequential_lr itself"
                      : NULL;
    for (int j = 0; j < i && !why; j++)
      if (scheds[j] == c) why = "appears twice";
    if (why) {
      tg_error("%s: schedulers[%d] %s", op, i, why);
      return false;
    }
  }
  for (int i = 0; i < n_milestones; i++)
    if (milestones[i] < 1 || (i > 0 && milestones[i] < milestones[i - 1])) {
      tg_error("%s: milestones[%d] = %ld: milestones must be >= 1 and non-decreasing", op, i,
               milestones[i]);
      return false;
    }
  return true;
}

tg_lr_scheduler *tg_sequential_lr_new(tg_optimizer *opt, tg_lr_scheduler **schedulers, int n,
                                      const long *milestones, int n_milestones) {
  const char *op = "sequential_lr";
  if (!seq_check(opt, schedulers, n, milestones, n_milestones)) return NULL;
  long *m = sched_copy(op, milestones, (size_t)n_milestones, sizeof *m);
  tg_lr_scheduler **ch = m ? sched_copy(op, schedulers, (size_t)n, sizeof *ch) : NULL;
  tg_lr_scheduler *s = ch ? sched_alloc(&seq_kind, opt,
                                        (tg_lr_scheduler){.milestones = m, .n_milestones = n_milestones,
                                                          .children = ch})
                          : NULL;
  if (!s) {
    free(m);
    free(ch);
    return NULL;
  }
  for (int i = 0; i < n; i++) ch[i]->parent = s;
  /* epoch 0 is schedulers[0]'s epoch 0, which it has computed once already */
  if (tg_scheduler_set_epoch(s, 0) != 0) { /* cannot fail: s is not owned, and child 0 ran epoch 0 */
    for (int i = 0; i < n; i++) ch[i]->parent = NULL;
    s->children = NULL;
    free(ch);
    tg_scheduler_free(s);
    return NULL;
  }
  return s;
}
