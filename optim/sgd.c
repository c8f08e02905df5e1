/* SGD with momentum, dampening, Nesterov and L2 weight decay, as
 * torch.optim.SGD (1.13, single-tensor path). Per element, with d the
 * gradient:
 *   d = g + wd*p
 *   buf = d on the parameter's first step, else mu*buf + (1-dampening)*d
 *   d = nesterov ? d + mu*buf : buf        (only with momentum)
 *   p = p - lr*d
 * float64 parameters in double, float32 in float (as PyTorch). */
#include <stddef.h>

#include "optim_internal.h"

typedef struct sgd_coef {
  double lr, wd, mu, keep; /* keep = 1 - dampening */
  bool momentum, nesterov, first;
} sgd_coef;

/* one element; buf points at the element's momentum (unused without momentum) */
static inline double sgd_elem(const sgd_coef *c, double p, double g, double *buf) {
  double d = c->wd != 0 ? g + c->wd * p : g;
  if (c->momentum) {
    *buf = c->first ? d : *buf * c->mu + c->keep * d;
    d = c->nesterov ? d + c->mu * *buf : *buf;
  }
  return p + -c->lr * d;
}

/* p, g, buf: [n]; buf NULL without momentum */
static void sgd_f64(const sgd_coef *c, size_t n, double *restrict p, const double *restrict g,
                    double *restrict buf) {
  double unused = 0;
  for (size_t i = 0; i < n; i++) p[i] = sgd_elem(c, p[i], g[i], buf ? &buf[i] : &unused);
}

/* float arithmetic, as PyTorch's float kernels; the case split keeps each
 * loop free of branches so it vectorises */
static void sgd_f32(const sgd_coef *c, size_t n, float *restrict p, const float *restrict g,
                    float *restrict buf) {
  const float lr = (float)c->lr, wd = (float)c->wd, mu = (float)c->mu, keep = (float)c->keep;
  if (!buf) {
    if (wd == 0)
      for (size_t i = 0; i < n; i++) p[i] = p[i] + -lr * g[i];
    else
      for (size_t i = 0; i < n; i++) p[i] = p[i] + -lr * (g[i] + wd * p[i]);
    return;
  }
  const bool first = c->first, nesterov = c->nesterov;
  for (size_t i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    float b = first ? d : buf[i] * mu + keep * d;
    buf[i] = b;
    d = nesterov ? d + mu * b : b;
    p[i] = p[i] + -lr * d;
  }
}

static void sgd_update(const optim_group *grp, const optim_slot *s) {
  const tg_sgd_opts *h = &grp->opts.sgd;
  sgd_coef c = {.lr = grp->lr, .wd = h->weight_decay, .mu = h->momentum,
                .keep = 1 - h->dampening, .momentum = h->momentum != 0,
                .nesterov = h->nesterov, .first = s->step == 1};
  if (s->dt == TG_FLOAT64) sgd_f64(&c, s->n, s->p, s->g, s->buf[0]);
  else sgd_f32(&c, s->n, s->p, s->g, s->buf[0]);
}

tg_sgd_opts tg_sgd_defaults(void) { return (tg_sgd_opts){.lr = 1e-3}; }

static bool sgd_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_sgd_opts *o = &opts->sgd;
  if (!optim_check_nonneg(op, "learning rate", o->lr) ||
      !optim_check_nonneg(op, "momentum", o->momentum) ||
      !optim_check_nonneg(op, "dampening", o->dampening) ||
      !optim_check_nonneg(op, "weight_decay", o->weight_decay))
    return false;
  if (o->nesterov && (o->momentum <= 0 || o->dampening != 0)) {
    tg_error("%s: nesterov momentum requires a momentum > 0 and zero dampening "
             "(got momentum %g, dampening %g)", op, o->momentum, o->dampening);
    return false;
  }
  *lay = (optim_layout){.lr = o->lr, .maximize = o->maximize, .n_bufs = o->momentum != 0,
                        .buf_names = {"momentum_buffer"}};
  return true;
}

static const optim_kind sgd_kind = {.name = "SGD", .op = "sgd", .opts_type = "tg_sgd_opts",
                                    .update = sgd_update, .setup = sgd_setup,
                                    .wd_offset = offsetof(optim_opts, sgd.weight_decay)};

tg_optimizer *tg_sgd_new(tg_tensor **params, int n, tg_sgd_opts o) {
  return optim_create(&sgd_kind, params, n, &(optim_opts){.sgd = o});
}

int tg_sgd_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_sgd_opts o) {
  return optim_add_group(opt, sgd_kind.opts_type, "sgd_add_param_group", params, n,
                         &(optim_opts){.sgd = o});
}
