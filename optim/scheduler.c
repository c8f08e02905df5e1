/* Learning-rate schedules: PyTorch's StepLR, ExponentialLR and
 * CosineAnnealingLR in their closed forms (what PyTorch uses when given an
 * epoch), so the lr at an epoch never depends on how it was reached. Each
 * acts on every parameter group from that group's own base lr, as torch's
 * base_lrs. */
#include <math.h>
#include <stdlib.h>

#include "optim_internal.h"

typedef enum { SCHED_STEP, SCHED_EXPONENTIAL, SCHED_COSINE } sched_kind;

struct tg_lr_scheduler {
  sched_kind kind;
  tg_optimizer *opt; /* borrowed */
  int n_groups;      /* the optimizer's groups when the scheduler was made */
  double *base_lrs;  /* [n_groups]: their lrs then; groups added later keep theirs */
  double gamma;      /* step, exponential */
  long period;       /* step_size, or t_max */
  double eta_min;    /* cosine */
  long epoch;
};

static tg_lr_scheduler *sched_new(const char *op, tg_optimizer *opt, tg_lr_scheduler init) {
  if (!opt) {
    tg_error("%s: optimizer is NULL", op);
    return NULL;
  }
  tg_lr_scheduler *s = malloc(sizeof *s);
  double *base = malloc((size_t)opt->n_groups * sizeof *base);
  if (!s || !base) {
    free(s);
    free(base);
    tg_error("%s: out of memory", op);
    return NULL;
  }
  *s = init;
  s->opt = opt;
  s->n_groups = opt->n_groups;
  s->base_lrs = base;
  for (int g = 0; g < opt->n_groups; g++) base[g] = opt->groups[g].lr;
  tg_scheduler_set_epoch(s, 0); /* cannot fail: s is set and epoch 0 is valid */
  return s;
}

tg_lr_scheduler *tg_step_lr_new(tg_optimizer *opt, long step_size, double gamma) {
  if (step_size < 1) {
    tg_error("step_lr: step_size %ld must be >= 1", step_size);
    return NULL;
  }
  if (!optim_check_nonneg("step_lr", "gamma", gamma)) return NULL;
  return sched_new("step_lr", opt,
                   (tg_lr_scheduler){.kind = SCHED_STEP, .gamma = gamma, .period = step_size});
}

tg_lr_scheduler *tg_exponential_lr_new(tg_optimizer *opt, double gamma) {
  if (!optim_check_nonneg("exponential_lr", "gamma", gamma)) return NULL;
  return sched_new("exponential_lr", opt,
                   (tg_lr_scheduler){.kind = SCHED_EXPONENTIAL, .gamma = gamma});
}

tg_lr_scheduler *tg_cosine_annealing_lr_new(tg_optimizer *opt, long t_max, double eta_min) {
  if (t_max < 1) {
    tg_error("cosine_annealing_lr: t_max %ld must be >= 1", t_max);
    return NULL;
  }
  if (!optim_check_nonneg("cosine_annealing_lr", "eta_min", eta_min)) return NULL;
  return sched_new("cosine_annealing_lr", opt,
                   (tg_lr_scheduler){.kind = SCHED_COSINE, .period = t_max, .eta_min = eta_min});
}

/* the schedule's lr at epoch for a group whose base lr is base */
static double lr_at(const tg_lr_scheduler *s, double base, long epoch) {
  const double pi = 3.14159265358979323846;
  switch (s->kind) {
  case SCHED_STEP: return base * pow(s->gamma, (double)(epoch / s->period));
  case SCHED_EXPONENTIAL: return base * pow(s->gamma, (double)epoch);
  case SCHED_COSINE:
    return s->eta_min +
           (base - s->eta_min) * (1 + cos(pi * (double)epoch / (double)s->period)) / 2;
  }
  return NAN;
}

double tg_scheduler_lr_at(const tg_lr_scheduler *s, long epoch) {
  if (!s || epoch < 0) {
    tg_error("scheduler_lr_at: %s", s ? "epoch must be >= 0" : "scheduler is NULL");
    return NAN;
  }
  return lr_at(s, s->base_lrs[0], epoch);
}

int tg_scheduler_set_epoch(tg_lr_scheduler *s, long epoch) {
  if (!s || epoch < 0) {
    tg_error("scheduler_set_epoch: %s", s ? "epoch must be >= 0" : "scheduler is NULL");
    return -1;
  }
  s->epoch = epoch;
  for (int g = 0; g < s->n_groups; g++) s->opt->groups[g].lr = lr_at(s, s->base_lrs[g], epoch);
  return 0;
}

int tg_scheduler_step(tg_lr_scheduler *s) {
  if (!s) {
    tg_error("scheduler_step: scheduler is NULL");
    return -1;
  }
  return tg_scheduler_set_epoch(s, s->epoch + 1);
}

long tg_scheduler_get_epoch(const tg_lr_scheduler *s) {
  if (!s) tg_error("scheduler_get_epoch: scheduler is NULL");
  return s ? s->epoch : -1;
}

void tg_scheduler_free(tg_lr_scheduler *s) {
  if (!s) return;
  free(s->base_lrs);
  free(s);
}
