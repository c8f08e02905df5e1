/* Internal to optim/scheduler*.c: the scheduler object every kind shares.
 * A kind supplies lrs(), the lr (and, for OneCycleLR, the momentum) of every
 * group at an epoch as a closed form; the shared part applies them. */
#ifndef TG_SCHEDULER_INTERNAL_H
#define TG_SCHEDULER_INTERNAL_H

#include "optim_internal.h"

typedef struct sched_kind sched_kind;

/* OneCycleLR's phases: torch's _schedule_phases, the values indexed into
 * the group's (initial, max, min) lrs and (max, base) momenta */
typedef struct one_cycle_phase {
  double end_step;
  int start_lr, end_lr, start_mom, end_mom;
} one_cycle_phase;

typedef struct one_cycle {
  long total_steps;
  int n_phases;
  one_cycle_phase phases[3];
  bool linear, cycle_momentum;
  double *max_lrs, *min_lrs; /* [n_groups]; the initial lrs are base_lrs */
  double momenta[2];         /* max_momentum, base_momentum */
} one_cycle;

typedef struct plateau {
  tg_plateau_opts o;
  double *min_lrs; /* [n_groups] */
  tg_plateau_state st;
} plateau;

struct tg_lr_scheduler {
  const sched_kind *kind;
  tg_optimizer *opt; /* borrowed */
  int n_groups;      /* the optimizer's groups when the scheduler was made */
  double *base_lrs;  /* [n_groups]: their initial_lr then; groups added later keep theirs */
  double *lr_buf;    /* [2*n_groups]: lrs() writes lrs, then momenta, here */
  long epoch;
  tg_lr_scheduler *parent; /* the SequentialLR that owns it, or NULL */
  double gamma;      /* step, exponential, multistep */
  long period;       /* step_size, t_max, total_iters */
  double eta_min;    /* cosine */
  double f0, f1;     /* linear start/end factor, constant factor */
  long *milestones;  /* multistep, sequential: [n_milestones] */
  int n_milestones;
  tg_lr_lambda fn;
  void *ctx;
  one_cycle *oc;
  plateau *pl;
  tg_lr_scheduler **children; /* sequential: [n_milestones + 1], owned */
};

struct sched_kind {
  const char *op; /* "step_lr": the constructor, in messages */
  /* every group's lr at epoch into lr[0..n_groups), and momenta (into
   * mom[0..n_groups)) when it sets them (*has_mom); -1 with an error naming
   * the scheduler when the epoch cannot be computed. NULL: metrics-driven */
  int (*lrs)(const tg_lr_scheduler *s, long epoch, double *lr, double *mom, bool *has_mom);
  void (*free_extra)(tg_lr_scheduler *s);
};

/* A scheduler of kind on opt from init (its parameters), with base_lrs from
 * the groups' initial_lr (set from the lr now where unset) and lr_buf
 * allocated; NULL with an error naming the kind. Does not apply epoch 0. */
tg_lr_scheduler *sched_alloc(const sched_kind *kind, tg_optimizer *opt, tg_lr_scheduler init);
/* applies epoch 0 (the constructor's step): the scheduler, or NULL (freed) */
tg_lr_scheduler *sched_start(tg_lr_scheduler *s);
/* a private copy of n values (n >= 0); NULL with an error naming op */
void *sched_copy(const char *op, const void *v, size_t n, size_t size);
/* one value per group: the n given when vals is non-NULL (n must be the
 * group count), else x for every group; NULL with an error */
double *sched_per_group(const char *op, const char *what, const tg_optimizer *opt, double x,
                        const double *vals, int n);

#endif
