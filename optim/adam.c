/* Adam and AdamW, as torch.optim.Adam/AdamW (1.13, single-tensor path).
 * Per element, at the parameter's step t:
 *   Adam:  g = g + wd*p            AdamW: p = p*(1 - lr*wd)
 *   m = b1*m + (1-b1)*g
 *   v = b2*v + (1-b2)*g*g
 *   vmax = max(vmax, v)            (amsgrad; the raw v, as PyTorch's code)
 *   denom = sqrt(amsgrad ? vmax : v)/sqrt(1-b2^t) + eps
 *   p = p - lr/(1-b1^t) * m/denom
 * Arithmetic in double, except the float32 fast path (no amsgrad), which is
 * in float as PyTorch's kernels are. */
#include <math.h>
#include <stddef.h>

#include "optim_internal.h"

typedef struct adam_coef {
  double b1, b2, wd, decay, step_size, bc2_sqrt, eps;
  bool amsgrad;
} adam_coef;

/* one element; m, v, vmax point at its state (vmax unused without amsgrad) */
static inline double adam_elem(const adam_coef *c, double p, double g, double *m, double *v,
                               double *vmax) {
  if (c->wd != 0) g = g + c->wd * p;
  p = p * c->decay;
  *m = *m * c->b1 + (1 - c->b1) * g;
  *v = *v * c->b2 + (1 - c->b2) * g * g;
  double second = *v;
  if (c->amsgrad) {
    if (!(*vmax >= *v)) *vmax = *v; /* a NaN in v propagates, as torch.maximum */
    second = *vmax;
  }
  double denom = sqrt(second) / c->bc2_sqrt + c->eps;
  return p + -c->step_size * (*m / denom);
}

/* p, g, m, v, vmax: [n]; vmax NULL without amsgrad */
static void adam_f64(const adam_coef *c, size_t n, double *restrict p, const double *restrict g,
                     double *restrict m, double *restrict v, double *restrict vmax) {
  double unused = 0;
  for (size_t i = 0; i < n; i++)
    p[i] = adam_elem(c, p[i], g[i], &m[i], &v[i], vmax ? &vmax[i] : &unused);
}

static void adam_f32(const adam_coef *c, size_t n, float *restrict p, const float *restrict g,
                     float *restrict m, float *restrict v, float *restrict vmax) {
  for (size_t i = 0; i < n; i++) {
    double mi = m[i], vi = v[i], vmi = vmax ? vmax[i] : 0;
    p[i] = (float)adam_elem(c, p[i], g[i], &mi, &vi, &vmi);
    m[i] = (float)mi;
    v[i] = (float)vi;
    if (vmax) vmax[i] = (float)vmi;
  }
}

static adam_coef adam_coefs(const optim_group *grp, double step, bool decoupled) {
  const tg_adam_opts *h = &grp->opts.adam;
  return (adam_coef){.b1 = h->beta1, .b2 = h->beta2, .eps = h->eps, .amsgrad = h->amsgrad,
                     .wd = decoupled ? 0 : h->weight_decay,
                     .decay = decoupled ? 1 - grp->lr * h->weight_decay : 1,
                     .step_size = grp->lr / (1 - pow(h->beta1, step)),
                     .bc2_sqrt = sqrt(1 - pow(h->beta2, step))};
}

/* float32 without amsgrad, the common case: float arithmetic in PyTorch's
 * order, one pass over p, g, m, v that vectorises (adam_elem in double
 * was a large share of a VAE step) */
static void adam_f32_fast(const adam_coef *c, size_t n, float *restrict p,
                          const float *restrict g, float *restrict m, float *restrict v) {
  const float b1 = (float)c->b1, b2 = (float)c->b2, wd = (float)c->wd, decay = (float)c->decay;
  const float a1 = (float)(1 - c->b1), a2 = (float)(1 - c->b2), eps = (float)c->eps;
  const float bc2 = (float)c->bc2_sqrt, step = (float)-c->step_size;
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] + wd * p[i];
    float mi = m[i] * b1 + a1 * gi;
    float vi = v[i] * b2 + a2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay + step * (mi / (sqrtf(vi) / bc2 + eps));
  }
}

static void adam_run(const adam_coef *c, const optim_slot *s) {
  if (s->dt == TG_FLOAT64) adam_f64(c, s->n, s->p, s->g, s->buf[0], s->buf[1], s->buf[2]);
  else if (!c->amsgrad) adam_f32_fast(c, s->n, s->p, s->g, s->buf[0], s->buf[1]);
  else adam_f32(c, s->n, s->p, s->g, s->buf[0], s->buf[1], s->buf[2]);
}

static void adam_update(const optim_group *grp, const optim_slot *s) {
  adam_coef c = adam_coefs(grp, s->step, false);
  adam_run(&c, s);
}

static void adamw_update(const optim_group *grp, const optim_slot *s) {
  adam_coef c = adam_coefs(grp, s->step, true);
  adam_run(&c, s);
}

tg_adam_opts tg_adam_defaults(void) {
  return (tg_adam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

tg_adam_opts tg_adamw_defaults(void) {
  tg_adam_opts o = tg_adam_defaults();
  o.weight_decay = 1e-2;
  return o;
}

static bool adam_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_adam_opts *o = &opts->adam;
  if (!optim_check_adam_like(op, o->lr, o->eps, o->beta1, o->beta2, o->weight_decay))
    return false;
  *lay = (optim_layout){.lr = o->lr, .maximize = o->maximize, .n_bufs = o->amsgrad ? 3 : 2,
                        .buf_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}};
  return true;
}

/* AdamW's groups take tg_adam_opts too, and keep its decoupled decay */
static const optim_kind adam_kind = {.name = "Adam", .op = "adam", .opts_type = "tg_adam_opts",
                                     .update = adam_update, .setup = adam_setup,
                                     .wd_offset = offsetof(optim_opts, adam.weight_decay)};
static const optim_kind adamw_kind = {.name = "AdamW", .op = "adamw",
                                      .opts_type = "tg_adam_opts", .update = adamw_update,
                                      .setup = adam_setup,
                                      .wd_offset = offsetof(optim_opts, adam.weight_decay)};

tg_optimizer *tg_adam_new(tg_tensor **params, int n, tg_adam_opts o) {
  return optim_create(&adam_kind, params, n, &(optim_opts){.adam = o});
}

tg_optimizer *tg_adamw_new(tg_tensor **params, int n, tg_adam_opts o) {
  return optim_create(&adamw_kind, params, n, &(optim_opts){.adam = o});
}

int tg_adam_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_adam_opts o) {
  return optim_add_group(opt, adam_kind.opts_type, "adam_add_param_group", params, n,
                         &(optim_opts){.adam = o});
}
