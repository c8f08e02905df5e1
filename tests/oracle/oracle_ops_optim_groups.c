/* The oracle's table of the optimizers over two parameter groups
 * (family_optim_groups.py): x[0], x[1] the starting values of a (group 0)
 * and b (group 1), x[2], x[3] their gradients, one row a step; "g0", "g1"
 * each group's options in the order of the family's FIELDS. Outputs a and b
 * after the last step. */
#include <stdio.h>

#include "oracle_ops.h"

/* options list g[k], as a double or a flag */
#define G(k) (g[k])
#define F(k) (g[k] != 0)

static bool group_values(const oracle_params *p, const char *key, int want, double *g) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->p[i].key, key) && p->p[i].count == want) {
      memcpy(g, p->p[i].v, (size_t)want * sizeof *g);
      return true;
    }
  return false;
}

/* The constructor from group 0's options, the adder from group 1's. */
static tg_optimizer *make(const char *name, tg_tensor *a, tg_tensor *b, const oracle_params *p) {
  /* the length of each optimizer's FIELDS list */
  static const struct {
    const char *name;
    int n;
  } counts[] = {{"sgd", 6},     {"adam", 7},    {"adamw", 7}, {"rmsprop", 7}, {"adagrad", 6},
                {"adamax", 6},  {"adadelta", 5}, {"nadam", 6}, {"radam", 5}};
  int nf = 0;
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    if (!strcmp(counts[i].name, name)) nf = counts[i].n;
  double g0[8], g1[8];
  if (!group_values(p, "g0", nf, g0) || !group_values(p, "g1", nf, g1)) {
    fprintf(stderr, "oracle_runner: %s wants %d options per group\n", name, nf); /* a spec bug */
    return NULL;
  }
  tg_optimizer *opt = NULL;
  for (int k = 0; k < 2; k++) {
    const double *g = k ? g1 : g0;
    tg_tensor **ps = k ? &b : &a;
    int rc = 0;
#define NEW_OR_ADD(T, ctor, adder, init)                                       \
  do {                                                                         \
    T o_ = init;                                                               \
    if (k == 0) opt = (ctor)(ps, 1, o_);                                       \
    else rc = (adder)(opt, ps, 1, o_);                                         \
  } while (0)
    if (!strcmp(name, "sgd"))
      NEW_OR_ADD(tg_sgd_opts, tg_sgd_new, tg_sgd_add_param_group,
                 ((tg_sgd_opts){G(0), G(1), G(2), G(3), F(4), F(5)}));
    else if (!strcmp(name, "adam") || !strcmp(name, "adamw"))
      NEW_OR_ADD(tg_adam_opts, name[4] ? tg_adamw_new : tg_adam_new, tg_adam_add_param_group,
                 ((tg_adam_opts){G(0), G(1), G(2), G(3), G(4), F(5), F(6)}));
    else if (!strcmp(name, "rmsprop"))
      NEW_OR_ADD(tg_rmsprop_opts, tg_rmsprop_new, tg_rmsprop_add_param_group,
                 ((tg_rmsprop_opts){G(0), G(1), G(2), G(3), G(4), F(5), F(6)}));
    else if (!strcmp(name, "adagrad"))
      NEW_OR_ADD(tg_adagrad_opts, tg_adagrad_new, tg_adagrad_add_param_group,
                 ((tg_adagrad_opts){G(0), G(1), G(2), G(3), G(4), F(5)}));
    else if (!strcmp(name, "adamax"))
      NEW_OR_ADD(tg_adamax_opts, tg_adamax_new, tg_adamax_add_param_group,
                 ((tg_adamax_opts){G(0), G(1), G(2), G(3), G(4), F(5)}));
    else if (!strcmp(name, "adadelta"))
      NEW_OR_ADD(tg_adadelta_opts, tg_adadelta_new, tg_adadelta_add_param_group,
                 ((tg_adadelta_opts){G(0), G(1), G(2), G(3), F(4)}));
    else if (!strcmp(name, "nadam"))
      NEW_OR_ADD(tg_nadam_opts, tg_nadam_new, tg_nadam_add_param_group,
                 ((tg_nadam_opts){G(0), G(1), G(2), G(3), G(4), G(5)}));
    else
      NEW_OR_ADD(tg_radam_opts, tg_radam_new, tg_radam_add_param_group,
                 ((tg_radam_opts){G(0), G(1), G(2), G(3), G(4)}));
#undef NEW_OR_ADD
    if (!opt || rc != 0) {
      tg_optim_free(opt);
      return NULL;
    }
  }
  return opt;
}

/* a persistent leaf holding the values of x (the runner's inputs live in
 * its scope; an optimizer wants persistent parameters) */
static tg_tensor *param_from(tg_tensor *x) {
  return tg_requires_grad_(tg_keep(tg_detach(tg_clone(x))), true);
}

static int run(const char *name, tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  tg_tensor *a = param_from(x[0]), *b = param_from(x[1]);
  tg_optimizer *opt = a && b ? make(name, a, b, p) : NULL;
  int rc = opt ? 2 : -1;
  tg_tensor *ps[2] = {a, b};
  for (size_t s = 0; opt && s < x[2]->shape[0] && rc > 0; s++) {
    tg_scope_begin();
    /* the gradient of sum(p * G[s]) is G[s] exactly */
    for (int k = 0; k < 2 && rc > 0; k++) {
      tg_tensor *loss = tg_sum(tg_mul(ps[k], tg_select(x[2 + k], 0, (long)s)));
      if (!loss || tg_backward(loss, NULL, false) != 0) rc = -1;
    }
    tg_scope_end();
    if (rc > 0 && (tg_optim_step(opt) != 0 || tg_optim_zero_grad(opt) != 0)) rc = -1;
  }
  if (rc > 0) {
    out[0] = tg_detach(tg_clone(a));
    out[1] = tg_detach(tg_clone(b));
  }
  tg_optim_free(opt);
  tg_free(a);
  tg_free(b);
  return rc;
}

#define GROUPS(name)                                                           \
  static int o_optim_groups_##name(tg_tensor **x, const oracle_params *p, tg_tensor **out) { \
    return run(#name, x, p, out);                                              \
  }
GROUPS(sgd)
GROUPS(adam)
GROUPS(adamw)
GROUPS(rmsprop)
GROUPS(adagrad)
GROUPS(adamax)
GROUPS(adadelta)
GROUPS(nadam)
GROUPS(radam)

/* Schedulers over two SGD groups (family_optim_groups.py): each group's lr
 * at epochs 0..11, as a [12, 2] float64 tensor. */
#define SCHED_EPOCHS 12
static int sched(const char *kind, const oracle_params *p, tg_tensor **out) {
  tg_tensor *a = tg_requires_grad_(tg_keep(tg_zeros(TG_FLOAT64, TG_SHAPE(1))), true);
  tg_tensor *b = tg_requires_grad_(tg_keep(tg_zeros(TG_FLOAT64, TG_SHAPE(1))), true);
  tg_optimizer *opt = a && b ? tg_sgd_new(&a, 1, (tg_sgd_opts){.lr = NUM("lr0", 0)}) : NULL;
  if (opt && tg_sgd_add_param_group(opt, &b, 1, (tg_sgd_opts){.lr = NUM("lr1", 0)}) != 0) {
    tg_optim_free(opt);
    opt = NULL;
  }
  long period = (long)NUM("period", 1);
  tg_lr_scheduler *s = !opt                           ? NULL
                       : !strcmp(kind, "step")        ? tg_step_lr_new(opt, period, NUM("gamma", 0))
                       : !strcmp(kind, "exponential") ? tg_exponential_lr_new(opt, NUM("gamma", 0))
                                                      : tg_cosine_annealing_lr_new(opt, period, NUM("eta_min", 0));
  double lrs[SCHED_EPOCHS * 2];
  int rc = s ? 1 : -1;
  for (int e = 0; e < SCHED_EPOCHS && rc > 0; e++) {
    lrs[2 * e] = tg_optim_get_group_lr(opt, 0);
    lrs[2 * e + 1] = tg_optim_get_group_lr(opt, 1);
    if (tg_scheduler_step(s) != 0) rc = -1;
  }
  if (rc > 0) out[0] = tg_from_f64(TG_SHAPE(SCHED_EPOCHS, 2), lrs);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(a);
  tg_free(b);
  return rc > 0 && out[0] ? 1 : -1;
}

#define SCHED(kind)                                                            \
  static int o_sched_groups_##kind(tg_tensor **x, const oracle_params *p, tg_tensor **out) { \
    (void)x;                                                                   \
    return sched(#kind, p, out);                                               \
  }
SCHED(step)
SCHED(exponential)
SCHED(cosine)

const oracle_op oracle_optim_groups_ops[] = {
    E(optim_groups_sgd),      E(optim_groups_adam),    E(optim_groups_adamw),
    E(optim_groups_rmsprop),  E(optim_groups_adagrad), E(optim_groups_adamax),
    E(optim_groups_adadelta), E(optim_groups_nadam),   E(optim_groups_radam),
    E(sched_groups_step),     E(sched_groups_exponential), E(sched_groups_cosine),
    {NULL, NULL},
};
