/* RMSprop, as torch.optim.RMSprop (1.13, single-tensor path). Per element:
 *   g = g + wd*p
 *   sq = alpha*sq + (1-alpha)*g*g
 *   avg = sqrt(sq) + eps, or when centered:
 *     ga = alpha*ga + (1-alpha)*g;  avg = sqrt(sq - ga*ga) + eps
 *   with momentum mu:  buf = mu*buf + g/avg;  p = p - lr*buf
 *   without:           p = p - lr*g/avg
 * Arithmetic is in double for both dtypes. */
#include <math.h>
#include <stddef.h>

#include "optim_internal.h"

typedef struct rms_coef {
  double lr, alpha, eps, wd, mu;
  bool momentum, centered;
} rms_coef;

/* the element's state: square_avg, momentum_buffer, grad_avg */
typedef struct rms_elem_state {
  double sq, buf, ga;
} rms_elem_state;

static inline double rms_elem(const rms_coef *c, double p, double g, rms_elem_state *st) {
  if (c->wd != 0) g = g + c->wd * p;
  st->sq = st->sq * c->alpha + (1 - c->alpha) * g * g;
  double avg;
  if (c->centered) {
    st->ga = st->ga * c->alpha + (1 - c->alpha) * g;
    avg = sqrt(st->sq + -1.0 * st->ga * st->ga);
  } else {
    avg = sqrt(st->sq);
  }
  avg = avg + c->eps;
  if (c->momentum) {
    st->buf = st->buf * c->mu + g / avg;
    return p + -c->lr * st->buf;
  }
  return p + -c->lr * (g / avg);
}

/* Buffers sit in the state in the order the constructor named them:
 * square_avg, then momentum_buffer if any, then grad_avg if centered. */
typedef struct rms_bufs {
  void *sq, *buf, *ga;
} rms_bufs;

/* p, g and each buffer: [n]; buf, ga NULL when unused */
static void rms_f64(const rms_coef *c, size_t n, double *restrict p, const double *restrict g,
                    double *restrict sq, double *restrict buf, double *restrict ga) {
  for (size_t i = 0; i < n; i++) {
    rms_elem_state st = {sq[i], buf ? buf[i] : 0, ga ? ga[i] : 0};
    p[i] = rms_elem(c, p[i], g[i], &st);
    sq[i] = st.sq;
    if (buf) buf[i] = st.buf;
    if (ga) ga[i] = st.ga;
  }
}

static void rms_f32(const rms_coef *c, size_t n, float *restrict p, const float *restrict g,
                    float *restrict sq, float *restrict buf, float *restrict ga) {
  for (size_t i = 0; i < n; i++) {
    rms_elem_state st = {sq[i], buf ? buf[i] : 0, ga ? ga[i] : 0};
    p[i] = (float)rms_elem(c, p[i], g[i], &st);
    sq[i] = (float)st.sq;
    if (buf) buf[i] = (float)st.buf;
    if (ga) ga[i] = (float)st.ga;
  }
}

static void rms_update(const optim_group *grp, const optim_slot *s) {
  const tg_rmsprop_opts *h = &grp->opts.rmsprop;
  rms_coef c = {.lr = grp->lr, .alpha = h->alpha, .eps = h->eps, .wd = h->weight_decay,
                .mu = h->momentum, .momentum = h->momentum > 0, .centered = h->centered};
  int k = 1;
  rms_bufs b = {.sq = s->buf[0]};
  if (c.momentum) b.buf = s->buf[k++];
  if (c.centered) b.ga = s->buf[k++];
  if (s->dt == TG_FLOAT64) rms_f64(&c, s->n, s->p, s->g, b.sq, b.buf, b.ga);
  else rms_f32(&c, s->n, s->p, s->g, b.sq, b.buf, b.ga);
}

tg_rmsprop_opts tg_rmsprop_defaults(void) {
  return (tg_rmsprop_opts){.lr = 1e-2, .alpha = 0.99, .eps = 1e-8};
}

static bool rms_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_rmsprop_opts *o = &opts->rmsprop;
  if (!optim_check_nonneg(op, "learning rate", o->lr) || !optim_check_nonneg(op, "eps", o->eps) ||
      !optim_check_nonneg(op, "momentum", o->momentum) ||
      !optim_check_nonneg(op, "weight_decay", o->weight_decay) ||
      !optim_check_nonneg(op, "alpha", o->alpha))
    return false;
  *lay = (optim_layout){.lr = o->lr, .maximize = o->maximize, .n_bufs = 1,
                        .buf_names = {"square_avg"}};
  if (o->momentum > 0) lay->buf_names[lay->n_bufs++] = "momentum_buffer";
  if (o->centered) lay->buf_names[lay->n_bufs++] = "grad_avg";
  return true;
}

static const optim_kind rmsprop_kind = {
    .name = "RMSprop", .op = "rmsprop", .opts_type = "tg_rmsprop_opts", .update = rms_update,
    .setup = rms_setup, .wd_offset = offsetof(optim_opts, rmsprop.weight_decay)};

tg_optimizer *tg_rmsprop_new(tg_tensor **params, int n, tg_rmsprop_opts o) {
  return optim_create(&rmsprop_kind, params, n, &(optim_opts){.rmsprop = o});
}

int tg_rmsprop_add_param_group(tg_optimizer *opt, tg_tensor **params, int n, tg_rmsprop_opts o) {
  return optim_add_group(opt, rmsprop_kind.opts_type, "rmsprop_add_param_group", params, n,
                         &(optim_opts){.rmsprop = o});
}
