/* SGD with momentum, dampening, Nesterov and L2 weight decay, as
 * torch.optim.SGD (1.13, single-tensor path). Per element, with d the
 * gradient:
 *   d = g + wd*p
 *   buf = d on the parameter's first step, else mu*buf + (1-dampening)*d
 *   d = nesterov ? d + mu*buf : buf        (only with momentum)
 *   p = p - lr*d
 * float64 parameters in double, float32 in float (as PyTorch). */
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

static void sgd_update(const tg_optimizer *opt, const optim_slot *s) {
  const tg_sgd_opts *h = &opt->opts.sgd;
  sgd_coef c = {.lr = opt->lr, .wd = h->weight_decay, .mu = h->momentum,
                .keep = 1 - h->dampening, .momentum = h->momentum != 0,
                .nesterov = h->nesterov, .first = s->step == 1};
  if (s->dt == TG_FLOAT64) sgd_f64(&c, s->n, s->p, s->g, s->buf[0]);
  else sgd_f32(&c, s->n, s->p, s->g, s->buf[0]);
}

tg_sgd_opts tg_sgd_defaults(void) { return (tg_sgd_opts){.lr = 1e-3}; }

static bool sgd_check(const tg_sgd_opts *o) {
  if (!optim_check_nonneg("sgd", "learning rate", o->lr) ||
      !optim_check_nonneg("sgd", "momentum", o->momentum) ||
      !optim_check_nonneg("sgd", "dampening", o->dampening) ||
      !optim_check_nonneg("sgd", "weight_decay", o->weight_decay))
    return false;
  if (o->nesterov && (o->momentum <= 0 || o->dampening != 0)) {
    tg_error("sgd: nesterov momentum requires a momentum > 0 and zero dampening "
             "(got momentum %g, dampening %g)", o->momentum, o->dampening);
    return false;
  }
  return true;
}

tg_optimizer *tg_sgd_new(tg_tensor **params, int n, tg_sgd_opts o) {
  if (!sgd_check(&o)) return NULL;
  optim_layout lay = {.n_bufs = o.momentum != 0, .buf_names = {"momentum_buffer"}};
  tg_optimizer *opt = optim_create("sgd", params, n, &lay);
  if (!opt) return NULL;
  opt->name = "SGD";
  opt->update = sgd_update;
  opt->lr = o.lr;
  opt->maximize = o.maximize;
  opt->opts.sgd = o;
  return opt;
}
