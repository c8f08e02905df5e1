/* Adamax, as torch.optim.Adamax (1.13, single-tensor path). Per element, at
 * the parameter's step t:
 *   g = g + wd*p
 *   m = b1*m + (1-b1)*g
 *   u = max(b2*u, |g| + eps)          (a NaN propagates, as torch.amax)
 *   p = p - lr/(1-b1^t) * m/u
 * float32 state is updated through double and rounded once per store.
 * NAdam and RAdam below, likewise. */
#include <math.h>

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

static void adamax_update(const tg_optimizer *opt, const optim_slot *s) {
  const tg_adamax_opts *h = &opt->opts.adamax;
  adamax_coef c = {.b1 = h->beta1, .b2 = h->beta2, .wd = h->weight_decay, .eps = h->eps,
                   .clr = opt->lr / (1 - pow(h->beta1, s->step))};
  TWO_BUF_LOOP(adamax_elem, &c, s, 0);
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

/* The shared constructor checks of NAdam and RAdam, as torch 1.13 raises. */
static bool check_adam_like(const char *op, double lr, double eps, double b1, double b2,
                            double wd) {
  return optim_check_nonneg(op, "learning rate", lr) && optim_check_nonneg(op, "eps", eps) &&
         optim_check_unit(op, "beta1", b1) && optim_check_unit(op, "beta2", b2) &&
         optim_check_nonneg(op, "weight_decay", wd);
}

static tg_optimizer *adam_like_create(const char *op, tg_tensor **params, int n,
                                      const optim_layout *lay, optim_update_fn update,
                                      double lr) {
  tg_optimizer *opt = optim_create(op, params, n, lay);
  if (!opt) return NULL;
  opt->update = update;
  opt->lr = lr;
  return opt;
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

static void nadam_update(const tg_optimizer *opt, const optim_slot *s) {
  const tg_nadam_opts *h = &opt->opts.nadam;
  double t = s->step;
  double mu = h->beta1 * (1. - 0.5 * pow(0.96, t * h->momentum_decay));
  double mu_next = h->beta1 * (1. - 0.5 * pow(0.96, (t + 1) * h->momentum_decay));
  float *mu_product = s->buf[0];
  *mu_product = *mu_product * (float)mu;
  float mu_product_next = *mu_product * (float)mu * (float)mu_next;
  nadam_coef c = {.b1 = h->beta1, .b2 = h->beta2, .wd = h->weight_decay, .eps = h->eps,
                  .bc2 = 1 - pow(h->beta2, t),
                  .cg = -opt->lr * (1. - mu) / (1. - (double)*mu_product),
                  .cm = -opt->lr * mu_next / (1. - (double)mu_product_next)};
  TWO_BUF_LOOP(nadam_elem, &c, s, 1);
}

tg_nadam_opts tg_nadam_defaults(void) {
  return (tg_nadam_opts){.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                         .momentum_decay = 4e-3};
}

tg_optimizer *tg_nadam_new(tg_tensor **params, int n, tg_nadam_opts o) {
  const char *op = "nadam";
  if (!check_adam_like(op, o.lr, o.eps, o.beta1, o.beta2, o.weight_decay) ||
      !optim_check_nonneg(op, "momentum_decay", o.momentum_decay))
    return NULL;
  optim_layout lay = {.n_bufs = 3,
                      .buf_names = {"mu_product", "exp_avg", "exp_avg_sq"},
                      .buf_init = {1.0},
                      .buf_scalar = {true}};
  tg_optimizer *opt = adam_like_create(op, params, n, &lay, nadam_update, o.lr);
  if (!opt) return NULL;
  opt->name = "NAdam";
  opt->opts.nadam = o;
  return opt;
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

static void radam_update(const tg_optimizer *opt, const optim_slot *s) {
  const tg_radam_opts *h = &opt->opts.radam;
  double t = s->step, bc2 = 1 - pow(h->beta2, t);
  double rho_inf = 2 / (1 - h->beta2) - 1;
  double rho_t = rho_inf - 2 * t * pow(h->beta2, t) / bc2;
  radam_coef c = {.b1 = h->beta1, .b2 = h->beta2, .wd = h->weight_decay, .eps = h->eps,
                  .bc1 = 1 - pow(h->beta1, t), .sbc2 = sqrt(bc2), .lr = opt->lr,
                  .adaptive = rho_t > 5.};
  if (c.adaptive)
    c.rect = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));
  TWO_BUF_LOOP(radam_elem, &c, s, 0);
}

tg_radam_opts tg_radam_defaults(void) {
  return (tg_radam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

tg_optimizer *tg_radam_new(tg_tensor **params, int n, tg_radam_opts o) {
  const char *op = "radam";
  if (!check_adam_like(op, o.lr, o.eps, o.beta1, o.beta2, o.weight_decay)) return NULL;
  optim_layout lay = {.n_bufs = 2, .buf_names = {"exp_avg", "exp_avg_sq"}};
  tg_optimizer *opt = adam_like_create(op, params, n, &lay, radam_update, o.lr);
  if (!opt) return NULL;
  opt->name = "RAdam";
  opt->opts.radam = o;
  return opt;
}
