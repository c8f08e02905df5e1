/* Learning-rate schedules: the part every scheduler shares (making one,
 * applying an epoch, stepping, freeing) and the schedules that are closed
 * forms of the epoch times the base lr: StepLR, ExponentialLR,
 * CosineAnnealingLR, LinearLR, MultiStepLR, ConstantLR and LambdaLR. torch
 * steps most of them by a recursive form (the lr times a ratio); the closed
 * forms are what torch uses when given an epoch, and agree with the
 * recursive ones to rounding, so the lr at an epoch never depends on how it
 * was reached. Each acts on every parameter group from that group's own
 * base lr, as torch's base_lrs. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler_internal.h"

/* ------------------------------------------------------------ shared */

void *sched_copy(const char *op, const void *v, size_t n, size_t size) {
  void *c = malloc(n ? n * size : 1);
  if (!c) tg_error("%s: out of memory", op);
  else if (n) memcpy(c, v, n * size);
  return c;
}

double *sched_per_group(const char *op, const char *what, const tg_optimizer *opt, double x,
                        const double *vals, int n) {
  if (vals && n != opt->n_groups) {
    tg_error("%s: expected %d values for %s (one per parameter group), got %d", op,
             opt->n_groups, what, n);
    return NULL;
  }
  double *out = malloc((size_t)opt->n_groups * sizeof *out);
  if (!out) {
    tg_error("%s: out of memory", op);
    return NULL;
  }
  for (int g = 0; g < opt->n_groups; g++) out[g] = vals ? vals[g] : x;
  return out;
}

tg_lr_scheduler *sched_alloc(const sched_kind *kind, tg_optimizer *opt, tg_lr_scheduler init) {
  if (!opt) {
    tg_error("%s: optimizer is NULL", kind->op);
    return NULL;
  }
  tg_lr_scheduler *s = malloc(sizeof *s);
  double *base = malloc((size_t)opt->n_groups * sizeof *base);
  double *buf = malloc(2 * (size_t)opt->n_groups * sizeof *buf);
  if (!s || !base || !buf) {
    free(s);
    free(base);
    free(buf);
    tg_error("%s: out of memory", kind->op);
    return NULL;
  }
  *s = init;
  s->kind = kind;
  s->opt = opt;
  s->n_groups = opt->n_groups;
  s->base_lrs = base;
  s->lr_buf = buf;
  s->epoch = 0;
  s->parent = NULL;
  for (int g = 0; g < opt->n_groups; g++) {
    optim_group *grp = &opt->groups[g];
    if (!grp->has_initial_lr) grp->initial_lr = grp->lr, grp->has_initial_lr = true;
    base[g] = grp->initial_lr;
  }
  return s;
}

/* the lrs (and momenta) of epoch into the optimizer; nothing changes on failure */
static int sched_apply(tg_lr_scheduler *s, long epoch) {
  double *lr = s->lr_buf, *mom = s->lr_buf + s->n_groups;
  bool has_mom = false;
  if (s->kind->lrs(s, epoch, lr, mom, &has_mom) != 0) return -1;
  for (int g = 0; g < s->n_groups; g++) {
    s->opt->groups[g].lr = lr[g];
    bool beta1;
    if (has_mom) *optim_momentum_of(s->opt, g, &beta1) = mom[g];
  }
  s->epoch = epoch;
  for (int c = 0; s->children && c <= s->n_milestones; c++) /* each child at its own epoch */
    s->children[c]->epoch = c == 0 ? epoch : epoch < s->milestones[c - 1] ? 0 : epoch - s->milestones[c - 1];
  return 0;
}

tg_lr_scheduler *sched_start(tg_lr_scheduler *s) {
  if (s && sched_apply(s, 0) != 0) {
    s->parent = NULL;
    tg_scheduler_free(s);
    return NULL;
  }
  return s;
}

/* a scheduler that this call may drive: set, not owned by a SequentialLR,
 * and (want_epochs) one whose lr is a function of the epoch */
static bool drivable(const tg_lr_scheduler *s, const char *op, bool want_epochs) {
  if (!s) {
    tg_error("%s: scheduler is NULL", op);
    return false;
  }
  if (s->parent) {
    tg_error("%s: this scheduler belongs to a sequential_lr; step or set that one", op);
    return false;
  }
  if (want_epochs && !s->kind->lrs) {
    tg_error("%s: %s follows a metric, not the epoch; use tg_reduce_lr_on_plateau_step", op,
             s->kind->op);
    return false;
  }
  return true;
}

double tg_scheduler_lr_at(const tg_lr_scheduler *s, long epoch) {
  if (!s || epoch < 0) {
    tg_error("scheduler_lr_at: %s", s ? "epoch must be >= 0" : "scheduler is NULL");
    return NAN;
  }
  if (!s->kind->lrs) {
    tg_error("scheduler_lr_at: %s follows a metric; it has no lr at an epoch", s->kind->op);
    return NAN;
  }
  bool has_mom;
  if (s->kind->lrs(s, epoch, s->lr_buf, s->lr_buf + s->n_groups, &has_mom) != 0) return NAN;
  return s->n_groups > 0 ? s->lr_buf[0] : NAN;
}

int tg_scheduler_set_epoch(tg_lr_scheduler *s, long epoch) {
  if (!drivable(s, "scheduler_set_epoch", true)) return -1;
  if (epoch < 0) {
    tg_error("scheduler_set_epoch: epoch must be >= 0");
    return -1;
  }
  return sched_apply(s, epoch);
}

int tg_scheduler_step(tg_lr_scheduler *s) {
  if (!drivable(s, "scheduler_step", true)) return -1;
  if (s->epoch == LONG_MAX) {
    tg_error("scheduler_step: the epoch count would overflow");
    return -1;
  }
  return sched_apply(s, s->epoch + 1);
}

long tg_scheduler_get_epoch(const tg_lr_scheduler *s) {
  if (!s) tg_error("scheduler_get_epoch: scheduler is NULL");
  return s ? s->epoch : -1;
}

void tg_scheduler_free(tg_lr_scheduler *s) {
  if (!s) return;
  if (s->parent) { /* freed with its SequentialLR */
    tg_error("scheduler_free: this scheduler belongs to a sequential_lr; free that one");
    return;
  }
  if (s->kind->free_extra) s->kind->free_extra(s);
  free(s->milestones);
  free(s->base_lrs);
  free(s->lr_buf);
  free(s);
}

/* ------------------------------------------------------ closed forms */

/* every group's lr as base * factor, the factor from f (no failure) */
#define CLOSED_KIND(name, op_name, expr)                                                 \
  static int name##_lrs(const tg_lr_scheduler *s, long e, double *lr, double *mom,       \
                        bool *has_mom) {                                                 \
    (void)mom, (void)has_mom;                                                            \
    for (int g = 0; g < s->n_groups; g++) {                                              \
      double base = s->base_lrs[g];                                                      \
      lr[g] = (expr);                                                                    \
    }                                                                                    \
    return 0;                                                                            \
  }                                                                                      \
  static const sched_kind name##_kind = {.op = op_name, .lrs = name##_lrs}

static const double PI = 3.14159265358979323846;

/* the milestones m with 0 <= m <= e: torch's recursive form multiplies by
 * gamma at each (a negative one is never reached) */
static double milestones_passed(const tg_lr_scheduler *s, long e) {
  int k = 0;
  for (int i = 0; i < s->n_milestones; i++) k += s->milestones[i] >= 0 && s->milestones[i] <= e;
  return k;
}

CLOSED_KIND(step, "step_lr", base * pow(s->gamma, (double)(e / s->period)));
CLOSED_KIND(exponential, "exponential_lr", base * pow(s->gamma, (double)e));
CLOSED_KIND(cosine, "cosine_annealing_lr",
            s->eta_min + (base - s->eta_min) * (1 + cos(PI * (double)e / (double)s->period)) / 2);
/* torch's _get_closed_form_lr, in its order of operations */
CLOSED_KIND(linear, "linear_lr",
            base * (s->f0 + (s->f1 - s->f0) * (double)(e < s->period ? e : s->period) /
                                (double)s->period));
CLOSED_KIND(multi_step, "multi_step_lr", base * pow(s->gamma, milestones_passed(s, e)));
CLOSED_KIND(constant, "constant_lr", base * (s->f0 + (double)(e >= s->period) * (1 - s->f0)));

tg_lr_scheduler *tg_step_lr_new(tg_optimizer *opt, long step_size, double gamma) {
  if (step_size < 1) {
    tg_error("step_lr: step_size %ld must be >= 1", step_size);
    return NULL;
  }
  if (!optim_check_nonneg("step_lr", "gamma", gamma)) return NULL;
  return sched_start(sched_alloc(&step_kind, opt, (tg_lr_scheduler){.gamma = gamma, .period = step_size}));
}

tg_lr_scheduler *tg_exponential_lr_new(tg_optimizer *opt, double gamma) {
  if (!optim_check_nonneg("exponential_lr", "gamma", gamma)) return NULL;
  return sched_start(sched_alloc(&exponential_kind, opt, (tg_lr_scheduler){.gamma = gamma}));
}

tg_lr_scheduler *tg_cosine_annealing_lr_new(tg_optimizer *opt, long t_max, double eta_min) {
  if (t_max < 1) {
    tg_error("cosine_annealing_lr: t_max %ld must be >= 1", t_max);
    return NULL;
  }
  if (!optim_check_nonneg("cosine_annealing_lr", "eta_min", eta_min)) return NULL;
  return sched_start(
      sched_alloc(&cosine_kind, opt, (tg_lr_scheduler){.period = t_max, .eta_min = eta_min}));
}

/* A zero start factor, or a total_iters below 1, makes torch's recursive
 * form divide by zero (or its closed form, and the two disagree), so both
 * are refused here. */
tg_lr_scheduler *tg_linear_lr_new(tg_optimizer *opt, double start_factor, double end_factor,
                                  long total_iters) {
  if (!(start_factor > 0 && start_factor <= 1)) {
    tg_error("linear_lr: start_factor %g must be in (0, 1] (the starting multiplicative factor; "
             "0 divides by zero at epoch 1)", start_factor);
    return NULL;
  }
  if (!(end_factor >= 0 && end_factor <= 1)) {
    tg_error("linear_lr: end_factor %g must be between 0 and 1 (the ending multiplicative "
             "factor)", end_factor);
    return NULL;
  }
  if (total_iters < 1) {
    tg_error("linear_lr: total_iters %ld must be >= 1", total_iters);
    return NULL;
  }
  return sched_start(sched_alloc(&linear_kind, opt,
                                 (tg_lr_scheduler){.f0 = start_factor, .f1 = end_factor,
                                                   .period = total_iters}));
}

tg_lr_scheduler *tg_multi_step_lr_new(tg_optimizer *opt, const long *milestones, int n,
                                      double gamma) {
  const char *op = "multi_step_lr";
  if (n < 0 || (n > 0 && !milestones)) {
    tg_error("%s: %s", op, n < 0 ? "the milestone count must be >= 0" : "milestones is NULL");
    return NULL;
  }
  if (!optim_check_nonneg(op, "gamma", gamma)) return NULL;
  if (!opt) {
    tg_error("%s: optimizer is NULL", op);
    return NULL;
  }
  long *m = sched_copy(op, milestones, (size_t)n, sizeof *m);
  if (!m) return NULL;
  tg_lr_scheduler *s = sched_alloc(&multi_step_kind, opt,
                                   (tg_lr_scheduler){.gamma = gamma, .milestones = m, .n_milestones = n});
  if (!s) free(m);
  return sched_start(s);
}

/* A zero factor makes torch divide by it at epoch total_iters, and a
 * total_iters below 1 leaves torch's recursive form at factor for ever
 * while its closed form says 1: both refused. */
tg_lr_scheduler *tg_constant_lr_new(tg_optimizer *opt, double factor, long total_iters) {
  if (!(factor > 0 && factor <= 1)) {
    tg_error("constant_lr: factor %g must be in (0, 1] (the constant multiplicative factor; 0 "
             "divides by zero at epoch total_iters)", factor);
    return NULL;
  }
  if (total_iters < 1) {
    tg_error("constant_lr: total_iters %ld must be >= 1", total_iters);
    return NULL;
  }
  return sched_start(
      sched_alloc(&constant_kind, opt, (tg_lr_scheduler){.f0 = factor, .period = total_iters}));
}

static int lambda_lrs(const tg_lr_scheduler *s, long e, double *lr, double *mom, bool *has_mom) {
  (void)mom, (void)has_mom;
  double f = s->fn(e, s->ctx);
  if (!(f >= 0)) {
    tg_error("lambda_lr: lr_lambda(%ld) returned %g; the factor must be >= 0", e, f);
    return -1;
  }
  for (int g = 0; g < s->n_groups; g++) lr[g] = s->base_lrs[g] * f;
  return 0;
}
static const sched_kind lambda_kind = {.op = "lambda_lr", .lrs = lambda_lrs};

tg_lr_scheduler *tg_lambda_lr_new(tg_optimizer *opt, tg_lr_lambda fn, void *ctx) {
  if (!fn) {
    tg_error("lambda_lr: lr_lambda is NULL");
    return NULL;
  }
  return sched_start(sched_alloc(&lambda_kind, opt, (tg_lr_scheduler){.fn = fn, .ctx = ctx}));
}
