/* Adamax, as torch.optim.Adamax (1.13, single-tensor path). Per element, at
 * the parameter's step t:
 *   g = g + wd*p
 *   m = b1*m + (1-b1)*g
 *   u = max(b2*u, |g| + eps)          (a NaN propagates, as torch.amax)
 *   p = p - lr/(1-b1^t) * m/u
 * float32 state is updated through double and rounded once per store.
 * (NAdam and RAdam are to join this file.) */
#include <math.h>

#include "optim_internal.h"

typedef struct adamax_coef {
  double b1, b2, wd, eps, clr;
} adamax_coef;

static inline double adamax_elem(const adamax_coef *c, double p, double g, double *m, double *u) {
  if (c->wd != 0) g = g + c->wd * p;
  *m = *m * c->b1 + (1 - c->b1) * g;
  double a = *u * c->b2, b = fabs(g) + c->eps;
  *u = isnan(a) || isnan(b) ? NAN : (a > b ? a : b);
  return p + -c->clr * (*m / *u);
}

static void adamax_update(const tg_optimizer *opt, const optim_slot *s) {
  const tg_adamax_opts *h = &opt->opts.adamax;
  adamax_coef c = {.b1 = h->beta1, .b2 = h->beta2, .wd = h->weight_decay, .eps = h->eps,
                   .clr = opt->lr / (1 - pow(h->beta1, s->step))};
  if (s->dt == TG_FLOAT64) {
    double *p = s->p, *m = s->buf[0], *u = s->buf[1];
    const double *g = s->g;
    for (size_t i = 0; i < s->n; i++) p[i] = adamax_elem(&c, p[i], g[i], &m[i], &u[i]);
    return;
  }
  float *p = s->p, *m = s->buf[0], *u = s->buf[1];
  const float *g = s->g;
  for (size_t i = 0; i < s->n; i++) {
    double mi = m[i], ui = u[i];
    p[i] = (float)adamax_elem(&c, p[i], g[i], &mi, &ui);
    m[i] = (float)mi;
    u[i] = (float)ui;
  }
}

tg_adamax_opts tg_adamax_defaults(void) {
  return (tg_adamax_opts){.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

tg_optimizer *tg_adamax_new(tg_tensor **params, int n, tg_adamax_opts o) {
  const char *op = "adamax";
  if (!optim_check_nonneg(op, "learning rate", o.lr) || !optim_check_nonneg(op, "eps", o.eps) ||
      !optim_check_unit(op, "beta1", o.beta1) || !optim_check_unit(op, "beta2", o.beta2) ||
      !optim_check_nonneg(op, "weight_decay", o.weight_decay))
    return NULL;
  optim_layout lay = {.n_bufs = 2, .buf_names = {"exp_avg", "exp_inf"}};
  tg_optimizer *opt = optim_create(op, params, n, &lay);
  if (!opt) return NULL;
  opt->name = "Adamax";
  opt->update = adamax_update;
  opt->lr = o.lr;
  opt->maximize = o.maximize;
  opt->opts.adamax = o;
  return opt;
}
