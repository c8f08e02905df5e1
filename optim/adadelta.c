/* Adadelta, as torch.optim.Adadelta (1.13, single-tensor path). Per element:
 *   g = g + wd*p
 *   v = rho*v + (1-rho)*g*g
 *   delta = sqrt(acc + eps)/sqrt(v + eps) * g
 *   acc = rho*acc + (1-rho)*delta*delta
 *   p = p - lr*delta
 * float32 state is updated through double and rounded once per store. */
#include <math.h>
#include <stddef.h>

#include "optim_internal.h"

static inline double adadelta_elem(const tg_adadelta_opts *h, double lr, double p, double g,
                                   double *v, double *acc) {
  if (h->weight_decay != 0) g = g + h->weight_decay * p;
  *v = *v * h->rho + (1 - h->rho) * g * g;
  double delta = sqrt(*acc + h->eps) / sqrt(*v + h->eps) * g;
  *acc = *acc * h->rho + (1 - h->rho) * delta * delta;
  return p + -lr * delta;
}

static void adadelta_update(const optim_group *grp, const optim_slot *s) {
  const tg_adadelta_opts *h = &grp->opts.adadelta;
  if (s->dt == TG_FLOAT64) {
    double *p = s->p, *v = s->buf[0], *acc = s->buf[1];
    const double *g = s->g;
    for (size_t i = 0; i < s->n; i++) p[i] = adadelta_elem(h, grp->lr, p[i], g[i], &v[i], &acc[i]);
    return;
  }
  float *p = s->p, *v = s->buf[0], *acc = s->buf[1];
  const float *g = s->g;
  for (size_t i = 0; i < s->n; i++) {
    double vi = v[i], ai = acc[i];
    p[i] = (float)adadelta_elem(h, grp->lr, p[i], g[i], &vi, &ai);
    v[i] = (float)vi;
    acc[i] = (float)ai;
  }
}

tg_adadelta_opts tg_adadelta_defaults(void) {
  return (tg_adadelta_opts){.lr = 1.0, .rho = 0.9, .eps = 1e-6};
}

static bool adadelta_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_adadelta_opts *o = &opts->adadelta;
  if (!optim_check_nonneg(op, "learning rate", o->lr) || !optim_check_nonneg(op, "eps", o->eps) ||
      !optim_check_nonneg(op, "weight_decay", o->weight_decay))
    return false;
  if (!(o->rho >= 0 && o->rho <= 1)) { /* torch: 0 <= rho <= 1, both ends allowed */
    tg_error("%s: invalid rho %g: must be in [0, 1]", op, o->rho);
    return false;
  }
  *lay = (optim_layout){.lr = o->lr, .maximize = o->maximize, .n_bufs = 2,
                        .buf_names = {"square_avg", "acc_delta"}};
  return true;
}

static const optim_kind adadelta_kind = {
    .name = "Adadelta", .op = "adadelta", .opts_type = "tg_adadelta_opts",
    .update = adadelta_update, .setup = adadelta_setup,
    .wd_offset = offsetof(optim_opts, adadelta.weight_decay)};

tg_optimizer *tg_adadelta_new(tg_tensor **params, int n, tg_adadelta_opts o) {
  return optim_create(&adadelta_kind, params, n, &(optim_opts){.adadelta = o});
}

int tg_adadelta_add_param_group(tg_optimizer *opt, tg_tensor **params, int n,
                                tg_adadelta_opts o) {
  return optim_add_group(opt, adadelta_kind.opts_type, "adadelta_add_param_group", params, n,
                         &(optim_opts){.adadelta = o});
}
