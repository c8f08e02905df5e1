/* OneCycleLR, as torch 1.13's (its get_lr is already a function of the
 * step, so this is torch's form, not a closed form of a recursive one): per
 * group, the phase the step is in, the fraction pct of it done, and the lr
 * and momentum annealed between the phase's ends. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "scheduler_internal.h"

enum { LR_INITIAL, LR_MAX, LR_MIN };
enum { MOM_MAX, MOM_BASE };

static double anneal(bool linear, double start, double end, double pct) {
  const double pi = 3.14159265358979323846;
  if (linear) return (end - start) * pct + start;
  double cos_out = cos(pi * pct) + 1;
  return end + (start - end) / 2.0 * cos_out;
}

static double group_lr(const tg_lr_scheduler *s, int g, int which) {
  return which == LR_INITIAL ? s->base_lrs[g] : which == LR_MAX ? s->oc->max_lrs[g] : s->oc->min_lrs[g];
}

static int one_cycle_lrs(const tg_lr_scheduler *s, long step, double *lr, double *mom,
                         bool *has_mom) {
  const one_cycle *oc = s->oc;
  if (step > oc->total_steps) {
    tg_error("one_cycle_lr: tried to step %ld times; the specified number of total steps is %ld",
             step + 1, oc->total_steps);
    return -1;
  }
  /* the phase: the first whose end the step has not passed, else the last */
  double start = 0;
  int i = 0;
  while (i < oc->n_phases - 1 && !((double)step <= oc->phases[i].end_step))
    start = oc->phases[i++].end_step;
  const one_cycle_phase *ph = &oc->phases[i];
  double len = ph->end_step - start;
  if (len == 0) { /* torch raises ZeroDivisionError here */
    tg_error("one_cycle_lr: phase %d has zero length at step %ld (torch divides by zero there)",
             i + 1, step);
    return -1;
  }
  double pct = ((double)step - start) / len;
  for (int g = 0; g < s->n_groups; g++) {
    lr[g] = anneal(oc->linear, group_lr(s, g, ph->start_lr), group_lr(s, g, ph->end_lr), pct);
    if (oc->cycle_momentum)
      mom[g] = anneal(oc->linear, oc->momenta[ph->start_mom], oc->momenta[ph->end_mom], pct);
  }
  *has_mom = oc->cycle_momentum;
  return 0;
}

static void one_cycle_free(tg_lr_scheduler *s) {
  if (!s->oc) return;
  free(s->oc->max_lrs);
  free(s->oc->min_lrs);
  free(s->oc);
}

static const sched_kind one_cycle_kind = {.op = "one_cycle_lr", .lrs = one_cycle_lrs,
                                          .free_extra = one_cycle_free};

tg_one_cycle_opts tg_one_cycle_defaults(void) {
  return (tg_one_cycle_opts){.pct_start = 0.3, .anneal_strategy = TG_ANNEAL_COS,
                             .cycle_momentum = true, .base_momentum = 0.85,
                             .max_momentum = 0.95, .div_factor = 25, .final_div_factor = 1e4};
}

/* torch's total_steps rules: given, or epochs * steps_per_epoch; 0 on error */
static long total_steps_of(const tg_one_cycle_opts *o) {
  const char *op = "one_cycle_lr";
  if (o->total_steps == 0 && o->epochs == 0 && o->steps_per_epoch == 0) {
    tg_error("%s: define either total_steps or (epochs and steps_per_epoch)", op);
    return 0;
  }
  if (o->total_steps != 0) {
    if (o->total_steps < 0) tg_error("%s: expected a positive total_steps, got %ld", op, o->total_steps);
    return o->total_steps > 0 ? o->total_steps : 0;
  }
  if (o->epochs <= 0 || o->steps_per_epoch <= 0) {
    tg_error("%s: expected a positive %s, got %ld", op, o->epochs <= 0 ? "epochs" : "steps_per_epoch",
             o->epochs <= 0 ? o->epochs : o->steps_per_epoch);
    return 0;
  }
  if (o->epochs > LONG_MAX / o->steps_per_epoch) {
    tg_error("%s: epochs * steps_per_epoch overflows", op);
    return 0;
  }
  return o->epochs * o->steps_per_epoch;
}

static bool check_opts(const tg_optimizer *opt, const tg_one_cycle_opts *o) {
  const char *op = "one_cycle_lr";
  if (!(o->pct_start >= 0 && o->pct_start <= 1)) {
    tg_error("%s: expected a pct_start between 0 and 1, got %g", op, o->pct_start);
    return false;
  }
  if (o->anneal_strategy != TG_ANNEAL_COS && o->anneal_strategy != TG_ANNEAL_LINEAR) {
    tg_error("%s: anneal_strategy must be TG_ANNEAL_COS or TG_ANNEAL_LINEAR, got %d", op,
             (int)o->anneal_strategy);
    return false;
  }
  /* torch divides by both (0 fails) and accepts negatives, which give negative lrs */
  if (!(o->div_factor > 0) || !(o->final_div_factor > 0)) {
    tg_error("%s: %s %g must be > 0", op, o->div_factor > 0 ? "final_div_factor" : "div_factor",
             o->div_factor > 0 ? o->final_div_factor : o->div_factor);
    return false;
  }
  if (!o->cycle_momentum) return true;
  bool beta1;
  if (!optim_momentum_of(opt, 0, &beta1)) {
    tg_error("%s: optimizer %s must support momentum with cycle_momentum enabled", op,
             opt->kind->name);
    return false;
  }
  for (int g = 0; g < opt->n_groups; g++)
    if (!optim_check_momentum(opt, g, op, "max_momentum", o->max_momentum) ||
        !optim_check_momentum(opt, g, op, "base_momentum", o->base_momentum))
      return false;
  return true;
}

static void set_phases(one_cycle *oc, double pct_start, bool three_phase) {
  double total = (double)oc->total_steps;
  if (three_phase) {
    oc->n_phases = 3;
    oc->phases[0] = (one_cycle_phase){pct_start * total - 1, LR_INITIAL, LR_MAX, MOM_MAX, MOM_BASE};
    oc->phases[1] = (one_cycle_phase){2 * pct_start * total - 2, LR_MAX, LR_INITIAL, MOM_BASE, MOM_MAX};
    oc->phases[2] = (one_cycle_phase){total - 1, LR_INITIAL, LR_MIN, MOM_MAX, MOM_MAX};
  } else {
    oc->n_phases = 2;
    oc->phases[0] = (one_cycle_phase){pct_start * total - 1, LR_INITIAL, LR_MAX, MOM_MAX, MOM_BASE};
    oc->phases[1] = (one_cycle_phase){total - 1, LR_MAX, LR_MIN, MOM_BASE, MOM_MAX};
  }
}

tg_lr_scheduler *tg_one_cycle_lr_new(tg_optimizer *opt, tg_one_cycle_opts o) {
  const char *op = "one_cycle_lr";
  if (!opt) {
    tg_error("%s: optimizer is NULL", op);
    return NULL;
  }
  long total = total_steps_of(&o);
  if (total == 0 || !check_opts(opt, &o)) return NULL;
  one_cycle *oc = calloc(1, sizeof *oc);
  if (!oc) {
    tg_error("%s: out of memory", op);
    return NULL;
  }
  *oc = (one_cycle){.total_steps = total, .linear = o.anneal_strategy == TG_ANNEAL_LINEAR,
                    .cycle_momentum = o.cycle_momentum,
                    .momenta = {o.max_momentum, o.base_momentum}};
  set_phases(oc, o.pct_start, o.three_phase);
  oc->max_lrs = sched_per_group(op, "max_lr", opt, o.max_lr, o.max_lrs, o.n_max_lrs);
  oc->min_lrs = oc->max_lrs ? sched_per_group(op, "max_lr", opt, 0, NULL, 0) : NULL;
  tg_lr_scheduler *s = oc->min_lrs ? sched_alloc(&one_cycle_kind, opt, (tg_lr_scheduler){.oc = oc}) : NULL;
  if (!s) {
    free(oc->max_lrs);
    free(oc->min_lrs);
    free(oc);
    return NULL;
  }
  for (int g = 0; g < s->n_groups; g++) {
    if (!optim_check_nonneg(op, "max_lr", oc->max_lrs[g])) {
      tg_scheduler_free(s);
      return NULL;
    }
    s->base_lrs[g] = oc->max_lrs[g] / o.div_factor;
    oc->min_lrs[g] = s->base_lrs[g] / o.final_div_factor;
  }
  if (!(s = sched_start(s))) return NULL;
  for (int g = 0; g < s->n_groups; g++) { /* torch's group['initial_lr'] = max_lr/div_factor */
    opt->groups[g].initial_lr = s->base_lrs[g];
    opt->groups[g].has_initial_lr = true;
  }
  return s;
}
