/* Adagrad, as torch.optim.Adagrad (1.13, single-tensor path). Per element,
 * at the parameter's step t:
 *   g = g + wd*p
 *   sum = sum + g*g                 (sum starts at initial_accumulator_value)
 *   p = p - lr/(1+(t-1)*lr_decay) * g/(sqrt(sum)+eps)
 * Arithmetic is in double for both dtypes. */
#include <math.h>
#include <stddef.h>

#include "optim_internal.h"

typedef struct adagrad_coef {
  double clr, wd, eps; /* clr: this step's decayed learning rate */
} adagrad_coef;

static inline double adagrad_elem(const adagrad_coef *c, double p, double g, double *sum) {
  if (c->wd != 0) g = g + c->wd * p;
  *sum = *sum + g * g;
  double std = sqrt(*sum) + c->eps;
  return p + -c->clr * (g / std);
}

/* p, g, sum: [n] */
static void adagrad_f64(const adagrad_coef *c, size_t n, double *restrict p,
                        const double *restrict g, double *restrict sum) {
  for (size_t i = 0; i < n; i++) p[i] = adagrad_elem(c, p[i], g[i], &sum[i]);
}

static void adagrad_f32(const adagrad_coef *c, size_t n, float *restrict p,
                        const float *restrict g, float *restrict sum) {
  for (size_t i = 0; i < n; i++) {
    double s = sum[i];
    p[i] = (float)adagrad_elem(c, p[i], g[i], &s);
    sum[i] = (float)s;
  }
}

static void adagrad_update(const optim_group *grp, const optim_slot *s) {
  const tg_adagrad_opts *h = &grp->opts.adagrad;
  adagrad_coef c = {.clr = grp->lr / (1 + (s->step - 1) * h->lr_decay), .wd = h->weight_decay,
                    .eps = h->eps};
  if (s->dt == TG_FLOAT64) adagrad_f64(&c, s->n, s->p, s->g, s->buf[0]);
  else adagrad_f32(&c, s->n, s->p, s->g, s->buf[0]);
}

tg_adagrad_opts tg_adagrad_defaults(void) { return (tg_adagrad_opts){.lr = 1e-2, .eps = 1e-10}; }

static bool adagrad_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_adagrad_opts *o = &opts->adagrad;
  if (!optim_check_nonneg(op, "learning rate", o->lr) ||
      !optim_check_nonneg(op, "lr_decay", o->lr_decay) ||
      !optim_check_nonneg(op, "weight_decay", o->weight_decay) ||
      !optim_check_nonneg(op, "initial_accumulator_value", o->initial_accumulator_value) ||
      !optim_check_nonneg(op, "eps", o->eps))
    return false;
  /* each group's sum starts at its own value, as torch's per-group state init */
  *lay = (optim_layout){.lr = o->lr, .maximize = o->maximize, .n_bufs = 1, .buf_names = {"sum"},
                        .buf_init = {o->initial_accumulator_value}};
  return true;
}

static const optim_kind adagrad_kind = {
    .name = "Adagrad", .op = "adagrad", .opts_type = "tg_adagrad_opts",
    .update = adagrad_update, .setup = adagrad_setup,
    .wd_offset = offsetof(optim_opts, adagrad.weight_decay)};

tg_optimizer *tg_adagrad_new(tg_tensor **params, int n, tg_adagrad_opts o) {
  return optim_create(&adagrad_kind, params, n, &(optim_opts){.adagrad = o});
}

int tg_adagrad_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_adagrad_opts o) {
  return optim_add_group(opt, adagrad_kind.opts_type, "adagrad_add_param_group", params, n,
                         &(optim_opts){.adagrad = o});
}
