/* Adamax, as torch.optim.Adamax (1.13, single-tensor path). Per element, at
 * the parameter's step t:
 *   g = g + wd*p
 *   m = b1*m + (1-b1)*g
 *   u = max(b2*u, |g| + eps)          (a NaN propagates, as torch.amax)
 *   p = p - lr/(1-b1^t) * m/u
 * float32 state is updated through double and rounded once per store.
 * NAdam and RAdam below, likewise. */
#include <math.h>
#include <stddef.h>

#include "optim_internal.h"

/* The element loop of every algorithm here: elem(coef, p, g, &b0, &b1) returns
 * the new p and updates the two buffers s->buf[k], s->buf[k+1]; float32 runs
 * through double, rounded once per store. */
#define TWO_BUF_LOOP(elem, coef, s, k)                                         \
  do {                                                                         \
    if ((s)->dt == TG_FLOAT64) {                                               \
      double *p_ = (s)->p, *b0_ = (s)->buf[k], *b1_ = (s)->buf[(k) + 1];       \
      const double *g_ = (s)->g;                                               \
      for (size_t i_ = 0; i_ < (s)->n; i_++)                                   \
        p_[i_] = elem(coef, p_[i_], g_[i_], &b0_[i_], &b1_[i_]);               \
    } else {                                                                   \
      float *p_ = (s)->p, *b0_ = (s)->buf[k], *b1_ = (s)->buf[(k) + 1];        \
      const float *g_ = (s)->g;                                                \
      for (size_t i_ = 0; i_ < (s)->n; i_++) {                                 \
        double x_ = b0_[i_], y_ = b1_[i_];                                     \
        p_[i_] = (float)elem(coef, p_[i_], g_[i_], &x_, &y_);                  \
        b0_[i_] = (float)x_;                                                   \
        b1_[i_] = (float)y_;                                                   \
      }                                                                        \
    }                                                                          \
  } while (0)

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

static void adamax_update(const optim_group *grp, const optim_slot *s) {
  const tg_adamax_opts *h = &grp->opts.adamax;
  adamax_coef c = {.b1 = h->beta1, .b2 = h->beta2, .wd = h->weight_decay, .eps = h->eps,
                   .clr = grp->lr / (1 - pow(h->beta1, s->step))};
  TWO_BUF_LOOP(adamax_elem, &c, s, 0);
}

tg_adamax_opts tg_adamax_defaults(void) {
  return (tg_adamax_opts){.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

static bool adamax_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_adamax_opts *o = &opts->adamax;
  if (!optim_check_adam_like(op, o->lr, o->eps, o->beta1, o->beta2, o->weight_decay))
    return false;
  *lay = (optim_layout){.lr = o->lr, .maximize = o->maximize, .n_bufs = 2,
                        .buf_names = {"exp_avg", "exp_inf"}};
  return true;
}

static const optim_kind adamax_kind = {
    .name = "Adamax", .op = "adamax", .opts_type = "tg_adamax_opts", .update = adamax_update,
    .setup = adamax_setup, .wd_offset = offsetof(optim_opts, adamax.weight_decay)};

tg_optimizer *tg_adamax_new(tg_tensor **params, int n, tg_adamax_opts o) {
  return optim_create(&adamax_kind, params, n, &(optim_opts){.adamax = o});
}

int tg_adamax_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_adamax_opts o) {
  return optim_add_group(opt, adamax_kind.opts_type, "adamax_add_param_group", params, n,
                         &(optim_opts){.adamax = o});
}

/* ---------------------------------------------------------------- NAdam
 * torch 1.13 single-tensor path, operation for operation:
 *   mu = b1*(1 - .5*.96^(t*psi)), mu_next the same at t+1
 *   mu_product *= mu; mu_product_next = mu_product*mu*mu_next   (float32)
 *   m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g
 *   d = sqrt(v/(1-b2^t)) + eps
 *   p += -lr*(1-mu)/(1-mu_product) * (g/d); p += -lr*mu_next/(1-mu_product_next) * (m/d)
 * mu_product is torch.tensor(1.), float32 whatever the parameter's dtype, and
 * tensor*float rounds the factor to float32 first: kept so, so that float64
 * runs match torch to the last bits. */
typedef struct nadam_coef {
  double b1, b2, wd, eps, bc2, cg, cm;
} nadam_coef;

static inline double nadam_elem(const nadam_coef *c, double p, double g, double *m, double *v) {
  if (c->wd != 0) g = g + c->wd * p;
  *m = *m * c->b1 + (1 - c->b1) * g;
  *v = *v * c->b2 + (1 - c->b2) * (g * g);
  double d = sqrt(*v / c->bc2) + c->eps;
  p = p + c->cg * (g / d);
  return p + c->cm * (*m / d);
}

static void nadam_update(const optim_group *grp, const optim_slot *s) {
  const tg_nadam_opts *h = &grp->opts.nadam;
  double t = s->step;
  double mu = h->beta1 * (1. - 0.5 * pow(0.96, t * h->momentum_decay));
  double mu_next = h->beta1 * (1. - 0.5 * pow(0.96, (t + 1) * h->momentum_decay));
  float *mu_product = s->buf[0];
  *mu_product = *mu_product * (float)mu;
  float mu_product_next = *mu_product * (float)mu * (float)mu_next;
  nadam_coef c = {.b1 = h->beta1, .b2 = h->beta2, .wd = h->weight_decay, .eps = h->eps,
                  .bc2 = 1 - pow(h->beta2, t),
                  .cg = -grp->lr * (1. - mu) / (1. - (double)*mu_product),
                  .cm = -grp->lr * mu_next / (1. - (double)mu_product_next)};
  TWO_BUF_LOOP(nadam_elem, &c, s, 1);
}

tg_nadam_opts tg_nadam_defaults(void) {
  return (tg_nadam_opts){.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                         .momentum_decay = 4e-3};
}

static bool nadam_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_nadam_opts *o = &opts->nadam;
  if (!optim_check_adam_like(op, o->lr, o->eps, o->beta1, o->beta2, o->weight_decay) ||
      !optim_check_nonneg(op, "momentum_decay", o->momentum_decay))
    return false;
  *lay = (optim_layout){.lr = o->lr, .n_bufs = 3,
                        .buf_names = {"mu_product", "exp_avg", "exp_avg_sq"},
                        .buf_init = {1.0}, .buf_scalar = {true}};
  return true;
}

static const optim_kind nadam_kind = {
    .name = "NAdam", .op = "nadam", .opts_type = "tg_nadam_opts", .update = nadam_update,
    .setup = nadam_setup, .wd_offset = offsetof(optim_opts, nadam.weight_decay)};

tg_optimizer *tg_nadam_new(tg_tensor **params, int n, tg_nadam_opts o) {
  return optim_create(&nadam_kind, params, n, &(optim_opts){.nadam = o});
}

int tg_nadam_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_nadam_opts o) {
  return optim_add_group(opt, nadam_kind.opts_type, "nadam_add_param_group", params, n,
                         &(optim_opts){.nadam = o});
}

/* ---------------------------------------------------------------- RAdam
 * torch 1.13 single-tensor path, operation for operation:
 *   m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; mh = m/(1-b1^t)
 *   rho_t > 5:  p -= ((mh*lr) * (sqrt(1-b2^t)/(sqrt(v)+eps))) * rect
 *   otherwise:  p -= mh*lr */
typedef struct radam_coef {
  double b1, b2, wd, eps, bc1, sbc2, lr, rect;
  bool adaptive;
} radam_coef;

static inline double radam_elem(const radam_coef *c, double p, double g, double *m, double *v) {
  if (c->wd != 0) g = g + c->wd * p;
  *m = *m * c->b1 + (1 - c->b1) * g;
  *v = *v * c->b2 + (1 - c->b2) * (g * g);
  double step = *m / c->bc1 * c->lr;
  if (c->adaptive) step = step * (c->sbc2 / (sqrt(*v) + c->eps)) * c->rect;
  return p + -1.0 * step;
}

static void radam_update(const optim_group *grp, const optim_slot *s) {
  const tg_radam_opts *h = &grp->opts.radam;
  double t = s->step, bc2 = 1 - pow(h->beta2, t);
  double rho_inf = 2 / (1 - h->beta2) - 1;
  double rho_t = rho_inf - 2 * t * pow(h->beta2, t) / bc2;
  radam_coef c = {.b1 = h->beta1, .b2 = h->beta2, .wd = h->weight_decay, .eps = h->eps,
                  .bc1 = 1 - pow(h->beta1, t), .sbc2 = sqrt(bc2), .lr = grp->lr,
                  .adaptive = rho_t > 5.};
  if (c.adaptive)
    c.rect = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));
  TWO_BUF_LOOP(radam_elem, &c, s, 0);
}

tg_radam_opts tg_radam_defaults(void) {
  return (tg_radam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

static bool radam_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_radam_opts *o = &opts->radam;
  if (!optim_check_adam_like(op, o->lr, o->eps, o->beta1, o->beta2, o->weight_decay))
    return false;
  *lay = (optim_layout){.lr = o->lr, .n_bufs = 2, .buf_names = {"exp_avg", "exp_avg_sq"}};
  return true;
}

static const optim_kind radam_kind = {
    .name = "RAdam", .op = "radam", .opts_type = "tg_radam_opts", .update = radam_update,
    .setup = radam_setup, .wd_offset = offsetof(optim_opts, radam.weight_decay)};

tg_optimizer *tg_radam_new(tg_tensor **params, int n, tg_radam_opts o) {
  return optim_create(&radam_kind, params, n, &(optim_opts){.radam = o});
}

int tg_radam_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_radam_opts o) {
  return optim_add_group(opt, radam_kind.opts_type, "radam_add_param_group", params, n,
                         &(optim_opts){.radam = o});
}
