/* The schedules that are not closed forms of one base lr: OneCycleLR (lr
 * and momentum), ReduceLROnPlateau (metric-driven), SequentialLR, and the
 * group momentum / beta1 accessors OneCycleLR drives. Expected values are
 * worked by hand from torch 1.13's documented rules. */
#include "optim_ref.h"

static const double PI_ = 3.14159265358979323846;

static tg_optimizer *sgd_with(tg_tensor **p, double lr, double momentum) {
  *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_sgd_new(p, 1, (tg_sgd_opts){.lr = lr, .momentum = momentum});
  assert_non_null(opt);
  return opt;
}

static void done(tg_optimizer *opt, tg_tensor *p) {
  tg_optim_free(opt);
  tg_free(p);
}

/* cosine interpolation from a (pct 0) to b (pct 1) */
static double cos_between(double a, double b, double pct) {
  return b + (a - b) * (1 + cos(PI_ * pct)) / 2;
}

/* ------------------------------------------------------- OneCycleLR */

static tg_one_cycle_opts cycle_opts(long total) {
  tg_one_cycle_opts o = tg_one_cycle_defaults();
  o.max_lr = 1.0;
  o.total_steps = total;
  return o;
}

static void test_one_cycle_cos(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sgd_with(&p, 0.5, 0.9);
  /* total 10, pct .3: up over steps 0..2, down over 2..9; initial 1/25 = .04,
   * min .04/1e4 */
  tg_lr_scheduler *s = tg_one_cycle_lr_new(opt, cycle_opts(10));
  assert_non_null(s);
  const double lo = 0.04, fin = 0.04 / 1e4;
  for (long t = 0; t <= 10; t++) {
    if (t) assert_int_equal(tg_scheduler_step(s), 0);
    double lr, mom;
    if (t <= 2) lr = cos_between(lo, 1.0, t / 2.0), mom = cos_between(0.95, 0.85, t / 2.0);
    else lr = cos_between(1.0, fin, (t - 2) / 7.0), mom = cos_between(0.85, 0.95, (t - 2) / 7.0);
    assert_rel(tg_optim_get_lr(opt), lr, 1e-14);
    assert_rel(tg_optim_get_group_momentum(opt, 0), mom, 1e-14);
  }
  /* landmarks: the start, the peak (lr max, momentum base) at step 2, the end */
  assert_rel(tg_scheduler_lr_at(s, 0), 0.04, 1e-15);
  assert_rel(tg_scheduler_lr_at(s, 2), 1.0, 1e-15);
  assert_rel(tg_scheduler_lr_at(s, 9), 4e-6, 1e-15);
  /* step 10 is the last torch allows */
  assert_int_equal(tg_scheduler_step(s), -1);
  assert_error_has("one_cycle_lr: tried to step 12 times; the specified number of total steps is 10");
  assert_int_equal(tg_scheduler_get_epoch(s), 10);
  tg_scheduler_free(s);
  /* epochs * steps_per_epoch is the same cycle */
  tg_one_cycle_opts o = cycle_opts(0);
  o.epochs = 2, o.steps_per_epoch = 5;
  s = tg_one_cycle_lr_new(opt, o);
  assert_non_null(s);
  assert_rel(tg_scheduler_lr_at(s, 5), cos_between(1.0, fin, 3 / 7.0), 1e-14);
  tg_scheduler_free(s);
  done(opt, p);
}

static void test_one_cycle_linear_three_phase(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sgd_with(&p, 0.5, 0.9);
  tg_one_cycle_opts o = cycle_opts(10);
  o.anneal_strategy = TG_ANNEAL_LINEAR;
  tg_lr_scheduler *s = tg_one_cycle_lr_new(opt, o);
  assert_non_null(s);
  assert_rel(tg_scheduler_lr_at(s, 1), 0.52, 1e-15);
  assert_rel(tg_scheduler_lr_at(s, 5), 1.0 + (4e-6 - 1.0) * 3 / 7, 1e-15);
  tg_scheduler_free(s);
  /* three phases: up over 0..2, back to initial over 2..4, down to min over 4..9 */
  o = cycle_opts(10);
  o.three_phase = true;
  s = tg_one_cycle_lr_new(opt, o);
  assert_non_null(s);
  const double want[5] = {0.04, 0.52, 1.0, 0.52, 0.04};
  const double mom[5] = {0.95, 0.9, 0.85, 0.9, 0.95};
  for (long t = 0; t < 5; t++) {
    assert_int_equal(tg_scheduler_set_epoch(s, t), 0);
    assert_rel(tg_optim_get_lr(opt), want[t], 1e-14);
    assert_rel(tg_optim_get_group_momentum(opt, 0), mom[t], 1e-14);
  }
  assert_rel(tg_scheduler_lr_at(s, 9), 4e-6, 1e-15);
  assert_int_equal(tg_scheduler_set_epoch(s, 7), 0);
  assert_rel(tg_optim_get_group_momentum(opt, 0), 0.95, 1e-15); /* flat in the last phase */
  tg_scheduler_free(s);
  done(opt, p);
}

/* per-group peaks, Adam's beta1 cycled, and the cycle without momentum */
static void test_one_cycle_groups_adam(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT64, N, P0)};
  tg_optimizer *opt = tg_adam_new(ps, 1, tg_adam_defaults());
  assert_int_equal(tg_adam_add_param_group(opt, &ps[1], 1, tg_adam_defaults()), 0);
  tg_one_cycle_opts o = cycle_opts(10);
  o.max_lrs = (const double[]){1.0, 0.5};
  o.n_max_lrs = 2;
  tg_lr_scheduler *s = tg_one_cycle_lr_new(opt, o);
  assert_non_null(s);
  assert_rel(tg_optim_get_group_lr(opt, 0), 0.04, 1e-15);
  assert_rel(tg_optim_get_group_lr(opt, 1), 0.02, 1e-15);
  assert_rel(tg_optim_get_group_momentum(opt, 1), 0.95, 1e-15); /* beta1 */
  assert_int_equal(tg_scheduler_set_epoch(s, 2), 0);
  assert_rel(tg_optim_get_group_lr(opt, 1), 0.5, 1e-15);
  assert_rel(tg_optim_get_group_momentum(opt, 0), 0.85, 1e-15);
  tg_scheduler_free(s);
  /* a later scheduler's base is OneCycleLR's initial lr, as torch's initial_lr */
  s = tg_exponential_lr_new(opt, 0.5);
  assert_rel(tg_optim_get_group_lr(opt, 1), 0.02, 1e-15);
  tg_scheduler_free(s);
  /* Adagrad has no momentum: refused with cycling, fine without */
  tg_optim_free(opt);
  opt = tg_adagrad_new(ps, 1, tg_adagrad_defaults());
  assert_null(tg_one_cycle_lr_new(opt, cycle_opts(10)));
  assert_error_has("one_cycle_lr: optimizer Adagrad must support momentum with cycle_momentum enabled");
  o = cycle_opts(10);
  o.cycle_momentum = false;
  s = tg_one_cycle_lr_new(opt, o);
  assert_non_null(s);
  assert_rel(tg_optim_get_lr(opt), 0.04, 1e-15);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

#define REFUSED(o, text)                                                       \
  do {                                                                         \
    assert_null(tg_one_cycle_lr_new(opt, (o)));                                \
    assert_error_has(text);                                                    \
  } while (0)

static void test_one_cycle_errors(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sgd_with(&p, 0.5, 0.9);
  tg_one_cycle_opts o = cycle_opts(0);
  REFUSED(o, "one_cycle_lr: define either total_steps or (epochs and steps_per_epoch)");
  o.total_steps = -3;
  REFUSED(o, "one_cycle_lr: expected a positive total_steps, got -3");
  o = cycle_opts(0), o.epochs = 2;
  REFUSED(o, "one_cycle_lr: expected a positive steps_per_epoch, got 0");
  o = cycle_opts(10), o.pct_start = 1.5;
  REFUSED(o, "one_cycle_lr: expected a pct_start between 0 and 1, got 1.5");
  o = cycle_opts(10), o.anneal_strategy = (tg_anneal_strategy)7;
  REFUSED(o, "one_cycle_lr: anneal_strategy must be TG_ANNEAL_COS or TG_ANNEAL_LINEAR, got 7");
  o = cycle_opts(10), o.div_factor = 0;
  REFUSED(o, "one_cycle_lr: div_factor 0 must be > 0");
  o = cycle_opts(10), o.final_div_factor = NAN;
  REFUSED(o, "one_cycle_lr: final_div_factor nan must be > 0");
  o = cycle_opts(10), o.max_lrs = (const double[]){1, 2, 3}, o.n_max_lrs = 3;
  REFUSED(o, "one_cycle_lr: expected 1 values for max_lr (one per parameter group), got 3");
  o = cycle_opts(10), o.max_lr = -1;
  REFUSED(o, "one_cycle_lr: invalid max_lr -1: must be >= 0");
  o = cycle_opts(10), o.base_momentum = 0;
  REFUSED(o, "one_cycle_lr: invalid base_momentum 0: must be > 0");
  /* pct_start * total_steps = 1: the first phase is empty at step 0 */
  o = cycle_opts(10), o.pct_start = 0.1;
  REFUSED(o, "one_cycle_lr: phase 1 has zero length at step 0");
  assert_close(tg_optim_get_lr(opt), 0.5, 0); /* no refusal touched the optimizer */
  assert_close(tg_optim_get_group_momentum(opt, 0), 0.9, 0);
  /* pct_start 1: the second phase is empty at the extra step 10 */
  o = cycle_opts(10), o.pct_start = 1.0;
  tg_lr_scheduler *s = tg_one_cycle_lr_new(opt, o);
  assert_non_null(s);
  assert_int_equal(tg_scheduler_set_epoch(s, 9), 0);
  assert_rel(tg_optim_get_lr(opt), 1.0, 1e-15);
  assert_int_equal(tg_scheduler_step(s), -1);
  assert_error_has("one_cycle_lr: phase 2 has zero length at step 10");
  tg_scheduler_free(s);
  done(opt, p);
  /* SGD made without momentum has no buffer to cycle */
  opt = sgd_with(&p, 0.5, 0.0);
  REFUSED(cycle_opts(10), "one_cycle_lr: group 0 of SGD was made with momentum 0");
  done(opt, p);
  /* beta1 must stay below 1 */
  p = make_param(TG_FLOAT64, N, P0);
  opt = tg_adam_new(&p, 1, tg_adam_defaults());
  o = cycle_opts(10), o.max_momentum = 1.0;
  REFUSED(o, "one_cycle_lr: invalid max_momentum 1: must be in [0, 1)");
  done(opt, p);
}

/* ------------------------------------------------ ReduceLROnPlateau */

static void check_plateau(const tg_lr_scheduler *s, double best, long bad, long cd) {
  tg_plateau_state st;
  assert_int_equal(tg_reduce_lr_on_plateau_state(s, &st), 0);
  if (st.best != best) fail_msg("best %g, expected %g", st.best, best); /* +-inf too */
  assert_int_equal(st.num_bad_epochs, bad);
  assert_int_equal(st.cooldown_counter, cd);
}

static void test_plateau_min_rel(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sgd_with(&p, 0.1, 0.0);
  tg_plateau_opts o = tg_plateau_defaults();
  o.factor = 0.5, o.patience = 2, o.threshold = 0.1, o.cooldown = 1, o.min_lr = 0.01;
  tg_lr_scheduler *s = tg_reduce_lr_on_plateau_new(opt, o);
  assert_non_null(s);
  check_plateau(s, INFINITY, 0, 0);
  /* better means below best*0.9. Worked by hand: bad epochs 1, 2, 3 > 2
   * halve the lr (steps 4, 9, 13, 17) and start a cooldown of one step,
   * whose bad epoch is forgotten; 0.8 at step 6 is a new best; at step 17
   * the floor 0.01 holds and at 21 there is nothing left to lower */
  const double m[22] = {0, 1.0, .95, .95, .95, .95, .8, .8, .8, .8, .8, .8,
                        .8, .8, .8, .8, .8, .8, .8, .8, .8, .8};
  for (int t = 1; t < 22; t++) {
    assert_int_equal(tg_reduce_lr_on_plateau_step(s, m[t]), 0);
    double want = t < 4 ? .1 : t < 9 ? .05 : t < 13 ? .025 : t < 17 ? .0125 : .01;
    assert_close(tg_optim_get_lr(opt), want, 1e-17);
    if (t == 3) check_plateau(s, 1.0, 2, 0);
    if (t == 4) check_plateau(s, 1.0, 0, 1);
    if (t == 5) check_plateau(s, 1.0, 0, 0);
    if (t == 6) check_plateau(s, 0.8, 0, 0);
    if (t == 8) check_plateau(s, 0.8, 2, 0);
    if (t == 21) check_plateau(s, 0.8, 0, 1);
  }
  assert_int_equal(tg_scheduler_get_epoch(s), 21);
  /* the epoch calls do not apply to it */
  assert_int_equal(tg_scheduler_step(s), -1);
  assert_error_has("scheduler_step: reduce_lr_on_plateau follows a metric");
  assert_int_equal(tg_scheduler_set_epoch(s, 3), -1);
  assert_error_has("scheduler_set_epoch: reduce_lr_on_plateau follows a metric");
  assert_true(isnan(tg_scheduler_lr_at(s, 3)));
  assert_error_has("scheduler_lr_at: reduce_lr_on_plateau follows a metric");
  tg_scheduler_free(s);
  done(opt, p);
}

static void test_plateau_max_abs_groups(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT64, N, P0)};
  tg_optimizer *opt = tg_sgd_new(ps, 1, (tg_sgd_opts){.lr = 0.3});
  assert_int_equal(tg_sgd_add_param_group(opt, &ps[1], 1, (tg_sgd_opts){.lr = 0.05}), 0);
  tg_plateau_opts o = tg_plateau_defaults();
  o.mode = TG_PLATEAU_MAX, o.threshold_mode = TG_THRESHOLD_ABS, o.threshold = 0.5;
  o.patience = 0, o.min_lrs = (const double[]){0.05, 0}, o.n_min_lrs = 2;
  tg_lr_scheduler *s = tg_reduce_lr_on_plateau_new(opt, o);
  assert_non_null(s);
  check_plateau(s, -INFINITY, 0, 0);
  /* better means above best + 0.5; patience 0 reduces at the first bad epoch */
  assert_int_equal(tg_reduce_lr_on_plateau_step(s, 1.0), 0);
  assert_close(tg_optim_get_group_lr(opt, 0), 0.3, 0);
  assert_int_equal(tg_reduce_lr_on_plateau_step(s, 1.4), 0); /* not 0.5 above 1.0 */
  assert_close(tg_optim_get_group_lr(opt, 0), 0.05, 1e-17);  /* 0.03, floored at 0.05 */
  assert_close(tg_optim_get_group_lr(opt, 1), 0.005, 1e-17);
  assert_int_equal(tg_reduce_lr_on_plateau_step(s, 1.6), 0); /* a new best */
  check_plateau(s, 1.6, 0, 0);
  assert_int_equal(tg_reduce_lr_on_plateau_step(s, NAN), 0); /* NaN is never better */
  assert_close(tg_optim_get_group_lr(opt, 1), 0.0005, 1e-18);
  assert_close(tg_optim_get_group_lr(opt, 0), 0.05, 0); /* at its floor */
  tg_scheduler_free(s);
  /* eps: a reduction of at most eps is skipped */
  o = tg_plateau_defaults();
  o.patience = 0, o.eps = 0.1;
  s = tg_reduce_lr_on_plateau_new(opt, o);
  assert_int_equal(tg_reduce_lr_on_plateau_step(s, 1.0), 0);
  assert_int_equal(tg_reduce_lr_on_plateau_step(s, 1.0), 0);
  assert_close(tg_optim_get_group_lr(opt, 0), 0.05, 0);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

static void test_plateau_errors(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sgd_with(&p, 0.1, 0.0);
  tg_plateau_opts o = tg_plateau_defaults();
  o.factor = 1.0;
  assert_null(tg_reduce_lr_on_plateau_new(opt, o));
  assert_error_has("reduce_lr_on_plateau: factor 1 should be < 1.0");
  o = tg_plateau_defaults(), o.mode = (tg_plateau_mode)4;
  assert_null(tg_reduce_lr_on_plateau_new(opt, o));
  assert_error_has("reduce_lr_on_plateau: mode 4 is unknown");
  o = tg_plateau_defaults(), o.threshold_mode = (tg_threshold_mode)9;
  assert_null(tg_reduce_lr_on_plateau_new(opt, o));
  assert_error_has("reduce_lr_on_plateau: threshold mode 9 is unknown");
  o = tg_plateau_defaults(), o.min_lr = -1;
  assert_null(tg_reduce_lr_on_plateau_new(opt, o));
  assert_error_has("reduce_lr_on_plateau: invalid min_lr -1");
  o = tg_plateau_defaults(), o.min_lrs = (const double[]){0, 0}, o.n_min_lrs = 2;
  assert_null(tg_reduce_lr_on_plateau_new(opt, o));
  assert_error_has("reduce_lr_on_plateau: expected 1 values for min_lr");
  o = tg_plateau_defaults(), o.threshold = NAN;
  assert_null(tg_reduce_lr_on_plateau_new(opt, o));
  assert_error_has("reduce_lr_on_plateau: threshold is NaN");
  /* the plateau calls on another scheduler */
  tg_lr_scheduler *s = tg_step_lr_new(opt, 2, 0.5);
  tg_plateau_state st;
  assert_int_equal(tg_reduce_lr_on_plateau_step(s, 1.0), -1);
  assert_error_has("reduce_lr_on_plateau_step: the scheduler is a step_lr, not a reduce_lr_on_plateau");
  assert_int_equal(tg_reduce_lr_on_plateau_state(s, &st), -1);
  assert_error_has("not a reduce_lr_on_plateau");
  tg_scheduler_free(s);
  done(opt, p);
}

/* ------------------------------------------------------ SequentialLR */

static void test_sequential_warmup_cosine(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sgd_with(&p, 1.0, 0.0);
  tg_lr_scheduler *warm = tg_linear_lr_new(opt, 0.1, 1.0, 4);
  tg_lr_scheduler *cosine = tg_cosine_annealing_lr_new(opt, 6, 0.0);
  tg_lr_scheduler *s = tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){warm, cosine}, 2, (long[]){4}, 1);
  assert_non_null(s);
  /* warmup 0.1 -> 1 in steps of .225 over epochs 0..3, then the cosine from
   * its own epoch 0 at epoch 4 */
  for (long e = 0; e <= 16; e++) {
    if (e) assert_int_equal(tg_scheduler_step(s), 0);
    double want = e < 4 ? 0.1 + 0.225 * (double)e : (1 + cos(PI_ * (double)(e - 4) / 6)) / 2;
    assert_rel(tg_optim_get_lr(opt), want, 1e-15);
    assert_int_equal(tg_scheduler_get_epoch(s), e);
  }
  assert_int_equal(tg_scheduler_get_epoch(cosine), 12); /* the child's own epoch */
  assert_rel(tg_scheduler_lr_at(s, 7), 0.5, 1e-15);
  assert_close(tg_scheduler_lr_at(s, 10), 0, 1e-17);
  /* the children are driven through it */
  assert_int_equal(tg_scheduler_step(cosine), -1);
  assert_error_has("scheduler_step: this scheduler belongs to a sequential_lr");
  assert_int_equal(tg_scheduler_set_epoch(warm, 1), -1);
  assert_error_has("scheduler_set_epoch: this scheduler belongs to a sequential_lr");
  tg_scheduler_free(warm); /* refused: it is freed with s */
  assert_error_has("scheduler_free: this scheduler belongs to a sequential_lr");
  assert_int_equal(tg_scheduler_set_epoch(s, 1), 0);
  assert_rel(tg_optim_get_lr(opt), 0.325, 1e-15);
  tg_scheduler_free(s);
  done(opt, p);
}

/* torch restarts the next scheduler with step(0) at its milestone */
static void test_sequential_restart(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sgd_with(&p, 1.0, 0.0);
  tg_lr_scheduler *a = tg_exponential_lr_new(opt, 0.5), *b = tg_exponential_lr_new(opt, 0.5);
  tg_lr_scheduler *c = tg_constant_lr_new(opt, 0.1, 2);
  tg_lr_scheduler *s = tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, b, c}, 3, (long[]){3, 5}, 2);
  assert_non_null(s);
  const double want[9] = {1, .5, .25, 1, .5, .1, .1, 1, 1};
  for (long e = 0; e < 9; e++) {
    if (e) assert_int_equal(tg_scheduler_step(s), 0);
    assert_rel(tg_optim_get_lr(opt), want[e], 1e-15);
  }
  tg_scheduler_free(s);
  done(opt, p);
}

static void test_sequential_errors(void **state) {
  (void)state;
  tg_tensor *p, *q;
  tg_optimizer *opt = sgd_with(&p, 1.0, 0.0), *other = sgd_with(&q, 1.0, 0.0);
  tg_lr_scheduler *a = tg_exponential_lr_new(opt, 0.5), *b = tg_step_lr_new(opt, 2, 0.5);
  tg_lr_scheduler *x = tg_exponential_lr_new(other, 0.5), *c = tg_constant_lr_new(opt, 0.5, 2);
  tg_lr_scheduler *pl = tg_reduce_lr_on_plateau_new(opt, tg_plateau_defaults());
  assert_null(tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, b}, 2, (long[]){1, 2}, 2));
  assert_error_has("sequential_lr: expects one more scheduler than milestones, but got 2 schedulers and 2");
  assert_null(tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, x}, 2, (long[]){3}, 1));
  assert_error_has("sequential_lr: schedulers[1] belongs to a different optimizer");
  assert_null(tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, pl}, 2, (long[]){3}, 1));
  assert_error_has("sequential_lr: schedulers[1] is a reduce_lr_on_plateau");
  assert_null(tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, a}, 2, (long[]){3}, 1));
  assert_error_has("sequential_lr: schedulers[1] appears twice");
  assert_null(tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, b}, 2, (long[]){0}, 1));
  assert_error_has("sequential_lr: milestones[0] = 0: milestones must be >= 1 and non-decreasing");
  assert_null(tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, b, c}, 3, (long[]){4, 2}, 2));
  assert_error_has("sequential_lr: milestones[1] = 2");
  assert_null(tg_sequential_lr_new(opt, NULL, 0, NULL, 0));
  assert_error_has("sequential_lr: schedulers is NULL");
  /* after the refusals a and b are still the caller's */
  assert_int_equal(tg_scheduler_step(b), 0);
  tg_lr_scheduler *s = tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, b}, 2, (long[]){3}, 1);
  assert_non_null(s);
  assert_null(tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a}, 1, NULL, 0));
  assert_error_has("sequential_lr: schedulers[0] already belongs to a sequential_lr");
  assert_null(tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){s}, 1, NULL, 0));
  assert_error_has("sequential_lr: schedulers[0] is a sequential_lr itself");
  tg_scheduler_free(s);
  tg_scheduler_free(x);
  tg_scheduler_free(c);
  tg_scheduler_free(pl);
  done(opt, p);
  done(other, q);
}

/* ------------------------------------------- group momentum and beta1 */

static void test_group_momentum(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT64, N, P0)};
  tg_optimizer *opt = tg_sgd_new(ps, 1, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9});
  assert_int_equal(tg_sgd_add_param_group(opt, &ps[1], 1, (tg_sgd_opts){.lr = 0.1}), 0);
  assert_close(tg_optim_get_group_momentum(opt, 0), 0.9, 0);
  assert_close(tg_optim_get_group_momentum(opt, 1), 0.0, 0);
  assert_int_equal(tg_optim_set_group_momentum(opt, 0, 0.5), 0);
  assert_close(tg_optim_get_group_momentum(opt, 0), 0.5, 0);
  assert_int_equal(tg_optim_set_group_momentum(opt, 0, 0.0), -1);
  assert_error_has("optim_set_group_momentum: invalid momentum 0: must be > 0");
  assert_int_equal(tg_optim_set_group_momentum(opt, 1, 0.9), -1);
  assert_error_has("optim_set_group_momentum: group 1 of SGD was made with momentum 0");
  assert_int_equal(tg_optim_set_group_momentum(opt, 2, 0.9), -1);
  assert_error_has("optim_set_group_momentum: group 2 out of range for 2");
  assert_true(isnan(tg_optim_get_group_momentum(opt, -1)));
  assert_error_has("optim_get_group_momentum: group -1 out of range");
  /* the step uses the new momentum: buf = d, then buf = .5*buf + d */
  double p0 = tg_get_flat(ps[0], 0), g0 = A[0] * (P0[0] - C[0]);
  quad_backward(ps[0]);
  assert_int_equal(tg_optim_step(opt), 0);
  double p1 = p0 - 0.1 * g0, g1 = A[0] * (p1 - C[0]);
  assert_int_equal(tg_optim_zero_grad(opt), 0);
  quad_backward(ps[0]);
  assert_int_equal(tg_optim_step(opt), 0);
  assert_rel(tg_get_flat(ps[0], 0), p1 - 0.1 * (0.5 * g0 + g1), 1e-15);
  tg_optim_free(opt);
  opt = tg_adam_new(ps, 1, tg_adam_defaults());
  assert_close(tg_optim_get_group_momentum(opt, 0), 0.9, 0); /* beta1 */
  assert_int_equal(tg_optim_set_group_momentum(opt, 0, 0.0), 0);
  assert_int_equal(tg_optim_set_group_momentum(opt, 0, 1.0), -1);
  assert_error_has("optim_set_group_momentum: invalid momentum 1: must be in [0, 1)");
  tg_optim_free(opt);
  opt = tg_adagrad_new(ps, 1, tg_adagrad_defaults());
  assert_true(isnan(tg_optim_get_group_momentum(opt, 0)));
  assert_error_has("optim_get_group_momentum: Adagrad has no momentum or beta1");
  assert_int_equal(tg_optim_set_group_momentum(opt, 0, 0.5), -1);
  assert_error_has("optim_set_group_momentum: Adagrad has no momentum or beta1");
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

/* ------------------------------------------------ no malloc in a step
 * (HAVE_MALLOC_HOOK: tg_test.h, under AddressSanitizer) */
static volatile int probe_on;
static volatile size_t probe_count;

#ifdef HAVE_MALLOC_HOOK
static void on_malloc(const volatile void *p, size_t n) {
  (void)p, (void)n;
  if (probe_on) probe_count = probe_count + 1;
}
static void on_free(const volatile void *p) { (void)p; }
#endif

static int group_setup(void **state) {
  (void)state;
#ifdef HAVE_MALLOC_HOOK
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
  return 0;
}

/* a scheduler step is part of a steady training step: it allocates nothing */
static void test_step_allocates_nothing(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sgd_with(&p, 1.0, 0.9);
  tg_lr_scheduler *seq = tg_sequential_lr_new(
      opt, (tg_lr_scheduler *[]){tg_linear_lr_new(opt, 0.1, 1, 5), tg_cosine_annealing_lr_new(opt, 20, 0)},
      2, (long[]){5}, 1);
  tg_lr_scheduler *oc = tg_one_cycle_lr_new(opt, cycle_opts(100));
  tg_lr_scheduler *pl = tg_reduce_lr_on_plateau_new(opt, tg_plateau_defaults());
  assert_non_null(seq);
  assert_non_null(oc);
  assert_non_null(pl);
  int rc = 0;
  probe_count = 0;
  probe_on = 1;
  for (int t = 0; t < 50; t++)
    rc |= tg_scheduler_step(seq) | tg_scheduler_step(oc) | tg_reduce_lr_on_plateau_step(pl, 1.0);
  probe_on = 0;
  assert_int_equal(rc, 0);
  assert_int_equal(probe_count, 0);
  tg_scheduler_free(pl);
  tg_scheduler_free(oc);
  tg_scheduler_free(seq);
  done(opt, p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_one_cycle_cos),
      TG_TEST(test_one_cycle_linear_three_phase),
      TG_TEST(test_one_cycle_groups_adam),
      TG_TEST(test_one_cycle_errors),
      TG_TEST(test_plateau_min_rel),
      TG_TEST(test_plateau_max_abs_groups),
      TG_TEST(test_plateau_errors),
      TG_TEST(test_sequential_warmup_cosine),
      TG_TEST(test_sequential_restart),
      TG_TEST(test_sequential_errors),
      TG_TEST(test_group_momentum),
      TG_TEST(test_step_allocates_nothing),
  };
  int rc = cmocka_run_group_tests_name("scheduler_cycle", tests, group_setup, NULL);
  tg_release_cached();
  return rc;
}
