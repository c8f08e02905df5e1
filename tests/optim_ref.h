/* Shared by the optimizer tests (test_optim_*.c, test_scheduler.c): every
 * expected value comes from the algorithm written out again here, in plain
 * double loops, from the torch.optim 1.13 documentation (never from the
 * library's code), or from numbers worked by hand. The gradients the
 * optimizers see come from tg_backward on a fixed quadratic
 *   loss(p) = sum_i 0.5 * A[i] * (p[i] - C[i])^2,   dloss/dp[i] = A[i]*(p[i]-C[i]).
 * Functions are static inline so that a file using only some of them
 * compiles without warnings. */
#ifndef TG_OPTIM_REF_H
#define TG_OPTIM_REF_H

#include <string.h>

#include "tg_test.h"

#define N 5
#define STEPS 10
/* all exact in float32, so float32 runs start where the reference does */
static const double A[N] = {0.5, 1.0, 1.5, 2.0, 3.0};
static const double C[N] = {3.0, 4.0, 2.5, 5.0, 3.5};
static const double P0[N] = {1.0, 1.5, 0.75, 1.25, 2.0};

/* |x - want| within tol relative to |want|, and absolute below 1 */
#define assert_rel(x, want, tol)                                               \
  do {                                                                         \
    double w_ = (want);                                                        \
    assert_close((x), w_, (tol) * fmax(1.0, fabs(w_)));                        \
  } while (0)

#define assert_error_has(text)                                                 \
  do {                                                                         \
    if (!strstr(tg_last_error(), (text)))                                      \
      fail_msg("error \"%s\" does not mention \"%s\"", tg_last_error(), (text)); \
    tg_clear_error();                                                          \
  } while (0)

/* ------------------------------------------------------------ helpers */

/* a persistent float leaf that requires grad, holding v[0..n) */
static inline tg_tensor *make_param(tg_dtype dt, size_t n, const double *v) {
  tg_tensor *t = tg_keep(tg_to_dtype(tg_from_f64(1, (size_t[]){n}, v), dt));
  assert_non_null(t);
  assert_int_equal(t->obj.scope, 0);
  return tg_requires_grad_(t, true);
}

/* backward of the quadratic: accumulates A*(p-C) into p->grad */
/* the gradient of sign * the quadratic loss; sign -1 negates it exactly */
static inline void quad_backward_signed(tg_tensor *p, double sign) {
  tg_scope_begin();
  tg_tensor *a = tg_to_dtype(tg_from_f64(1, (size_t[]){N}, A), p->dtype);
  tg_tensor *c = tg_to_dtype(tg_from_f64(1, (size_t[]){N}, C), p->dtype);
  tg_tensor *d = tg_sub(p, c);
  tg_tensor *loss = tg_sum(tg_mul_scalar(tg_mul(a, tg_mul(d, d)), 0.5 * sign));
  assert_non_null(loss);
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  tg_scope_end();
}

static inline void quad_backward(tg_tensor *p) { quad_backward_signed(p, 1.0); }

static inline double state_value(const tg_optimizer *opt, const char *name, size_t i) {
  tg_tensor *t = tg_optim_state_find(opt, name);
  if (!t) fail_msg("no state \"%s\": %s", name, tg_last_error());
  return tg_get_flat(t, i);
}

/* --------------------------------------------- reference algorithms */

typedef struct ref {
  double p[N];
  double b[3][N]; /* the algorithm's running buffers, in its state order */
  int t;          /* steps taken */
} ref;

static inline double ref_grad(const ref *r, int i) { return A[i] * (r->p[i] - C[i]); }

/* SGD (torch.optim.SGD docs): g += wd*p; b = t>1 ? mu*b + (1-tau)*g : g;
 * g = nesterov ? g + mu*b : b; p -= lr*g */
static inline void ref_sgd(ref *r, const void *opts) {
  const tg_sgd_opts *o = opts;
  r->t++;
  for (int i = 0; i < N; i++) {
    double g = ref_grad(r, i);
    if (o->weight_decay != 0) g += o->weight_decay * r->p[i];
    if (o->momentum != 0) {
      double *b = &r->b[0][i];
      *b = r->t > 1 ? o->momentum * *b + (1 - o->dampening) * g : g;
      g = o->nesterov ? g + o->momentum * *b : *b;
    }
    r->p[i] -= o->lr * g;
  }
}

/* Adam / AdamW (docs): bias-corrected moments m^ = m/(1-b1^t),
 * v^ = v/(1-b2^t); p -= lr * m^/(sqrt(v^)+eps). For amsgrad the docs' box
 * takes the max of v^, but torch's code (the behaviour we match) keeps the
 * max of the raw v and bias-corrects that. */
static inline void ref_adam_any(ref *r, const tg_adam_opts *o, bool decoupled) {
  r->t++;
  double bc1 = 1 - pow(o->beta1, r->t), bc2 = 1 - pow(o->beta2, r->t);
  for (int i = 0; i < N; i++) {
    double g = ref_grad(r, i); /* from p before the decay, as backward ran first */
    if (decoupled) r->p[i] -= o->lr * o->weight_decay * r->p[i];
    else if (o->weight_decay != 0) g += o->weight_decay * r->p[i];
    double *m = &r->b[0][i], *v = &r->b[1][i], *vmax = &r->b[2][i];
    *m = o->beta1 * *m + (1 - o->beta1) * g;
    *v = o->beta2 * *v + (1 - o->beta2) * g * g;
    double vhat = *v / bc2;
    if (o->amsgrad) {
      *vmax = fmax(*vmax, *v);
      vhat = *vmax / bc2;
    }
    r->p[i] -= o->lr * (*m / bc1) / (sqrt(vhat) + o->eps);
  }
}
static inline void ref_adam(ref *r, const void *opts) { ref_adam_any(r, opts, false); }
static inline void ref_adamw(ref *r, const void *opts) { ref_adam_any(r, opts, true); }

/* RMSprop (docs): v = a*v + (1-a)*g^2; centered: ga = a*ga + (1-a)*g,
 * v~ = v - ga^2; momentum: b = mu*b + g/(sqrt(v~)+eps), p -= lr*b */
static inline void ref_rmsprop(ref *r, const void *opts) {
  const tg_rmsprop_opts *o = opts;
  r->t++;
  for (int i = 0; i < N; i++) {
    double g = ref_grad(r, i);
    if (o->weight_decay != 0) g += o->weight_decay * r->p[i];
    double *v = &r->b[0][i], *b = &r->b[1][i], *ga = &r->b[2][i];
    *v = o->alpha * *v + (1 - o->alpha) * g * g;
    double vt = *v;
    if (o->centered) {
      *ga = o->alpha * *ga + (1 - o->alpha) * g;
      vt -= *ga * *ga;
    }
    if (o->momentum > 0) {
      *b = o->momentum * *b + g / (sqrt(vt) + o->eps);
      r->p[i] -= o->lr * *b;
    } else {
      r->p[i] -= o->lr * g / (sqrt(vt) + o->eps);
    }
  }
}

/* Adagrad (docs): lr~ = lr/(1+(t-1)*eta); sum += g^2; p -= lr~*g/(sqrt(sum)+eps) */
static inline void ref_adagrad(ref *r, const void *opts) {
  const tg_adagrad_opts *o = opts;
  r->t++;
  double clr = o->lr / (1 + (r->t - 1) * o->lr_decay);
  for (int i = 0; i < N; i++) {
    double g = ref_grad(r, i);
    if (o->weight_decay != 0) g += o->weight_decay * r->p[i];
    r->b[0][i] += g * g;
    r->p[i] -= clr * g / (sqrt(r->b[0][i]) + o->eps);
  }
}

static inline void ref_adamax(ref *r, const void *opts) {
  const tg_adamax_opts *o = opts;
  r->t++;
  double clr = o->lr / (1 - pow(o->beta1, r->t));
  for (int i = 0; i < N; i++) {
    double g = ref_grad(r, i) + o->weight_decay * r->p[i];
    r->b[0][i] = o->beta1 * r->b[0][i] + (1 - o->beta1) * g;
    r->b[1][i] = fmax(o->beta2 * r->b[1][i], fabs(g) + o->eps);
    r->p[i] -= clr * r->b[0][i] / r->b[1][i];
  }
}

static inline void ref_adadelta(ref *r, const void *opts) {
  const tg_adadelta_opts *o = opts;
  r->t++;
  for (int i = 0; i < N; i++) {
    double g = ref_grad(r, i) + o->weight_decay * r->p[i];
    r->b[0][i] = o->rho * r->b[0][i] + (1 - o->rho) * g * g;
    double delta = sqrt(r->b[1][i] + o->eps) / sqrt(r->b[0][i] + o->eps) * g;
    r->b[1][i] = o->rho * r->b[1][i] + (1 - o->rho) * delta * delta;
    r->p[i] -= o->lr * delta;
  }
}

/* NAdam (torch 1.13 nadam.py): mu_t = b1*(1 - .96^(t*psi)/2); the product of
 * the mu_t is a float32 torch.tensor there, so every product is rounded to
 * float32 (the factor too, as tensor*float does); b[0][0] holds it. */
static inline void ref_nadam(ref *r, const void *opts) {
  const tg_nadam_opts *o = opts;
  r->t++;
  double mu = o->beta1 * (1 - 0.5 * pow(0.96, r->t * o->momentum_decay));
  double mu1 = o->beta1 * (1 - 0.5 * pow(0.96, (r->t + 1) * o->momentum_decay));
  float prod = (float)((double)(float)r->b[0][0] * (double)(float)mu);
  float prod1 = (float)((double)(float)((double)prod * (double)(float)mu) * (double)(float)mu1);
  r->b[0][0] = prod;
  double bc2 = 1 - pow(o->beta2, r->t);
  for (int i = 0; i < N; i++) {
    double g = ref_grad(r, i);
    if (o->weight_decay != 0) g += o->weight_decay * r->p[i];
    double *m = &r->b[1][i], *v = &r->b[2][i];
    *m = o->beta1 * *m + (1 - o->beta1) * g;
    *v = o->beta2 * *v + (1 - o->beta2) * g * g;
    double d = sqrt(*v / bc2) + o->eps;
    r->p[i] -= o->lr * (1 - mu) / (1 - (double)prod) * (g / d);
    r->p[i] -= o->lr * mu1 / (1 - (double)prod1) * (*m / d);
  }
}

/* RAdam (torch 1.13 radam.py): plain bias-corrected momentum until the
 * approximated SMA length rho_t passes 5, then Adam times the rectification */
static inline void ref_radam(ref *r, const void *opts) {
  const tg_radam_opts *o = opts;
  r->t++;
  double bc1 = 1 - pow(o->beta1, r->t), bc2 = 1 - pow(o->beta2, r->t);
  double rinf = 2 / (1 - o->beta2) - 1, rt = rinf - 2 * r->t * pow(o->beta2, r->t) / bc2;
  for (int i = 0; i < N; i++) {
    double g = ref_grad(r, i);
    if (o->weight_decay != 0) g += o->weight_decay * r->p[i];
    double *m = &r->b[0][i], *v = &r->b[1][i];
    *m = o->beta1 * *m + (1 - o->beta1) * g;
    *v = o->beta2 * *v + (1 - o->beta2) * g * g;
    double step = *m / bc1 * o->lr;
    if (rt > 5) {
      double rect = sqrt((rt - 4) * (rt - 2) * rinf / ((rinf - 4) * (rinf - 2) * rt));
      step *= sqrt(bc2) / (sqrt(*v) + o->eps) * rect;
    }
    r->p[i] -= step;
  }
}

/* --------------------------------------------------- the 10-step driver */

typedef struct variant {
  tg_optimizer *(*make)(tg_tensor **params, int n, const void *opts);
  void (*ref)(ref *r, const void *opts);
  const void *opts;
  const char *bufs[3]; /* state names compared with ref.b[k]; NULL: none */
  double init;         /* where ref.b[0] starts (Adagrad's accumulator) */
} variant;

static inline tg_optimizer *make_sgd(tg_tensor **p, int n, const void *o) {
  return tg_sgd_new(p, n, *(const tg_sgd_opts *)o);
}
static inline tg_optimizer *make_adam(tg_tensor **p, int n, const void *o) {
  return tg_adam_new(p, n, *(const tg_adam_opts *)o);
}
static inline tg_optimizer *make_adamw(tg_tensor **p, int n, const void *o) {
  return tg_adamw_new(p, n, *(const tg_adam_opts *)o);
}
static inline tg_optimizer *make_rmsprop(tg_tensor **p, int n, const void *o) {
  return tg_rmsprop_new(p, n, *(const tg_rmsprop_opts *)o);
}
static inline tg_optimizer *make_adagrad(tg_tensor **p, int n, const void *o) {
  return tg_adagrad_new(p, n, *(const tg_adagrad_opts *)o);
}

static inline tg_optimizer *make_adamax(tg_tensor **p, int n, const void *o) {
  return tg_adamax_new(p, n, *(const tg_adamax_opts *)o);
}
static inline tg_optimizer *make_adadelta(tg_tensor **p, int n, const void *o) {
  return tg_adadelta_new(p, n, *(const tg_adadelta_opts *)o);
}

static inline tg_optimizer *make_nadam(tg_tensor **p, int n, const void *o) {
  return tg_nadam_new(p, n, *(const tg_nadam_opts *)o);
}
static inline tg_optimizer *make_radam(tg_tensor **p, int n, const void *o) {
  return tg_radam_new(p, n, *(const tg_radam_opts *)o);
}

static inline void compare_state(const tg_optimizer *opt, const variant *v, const ref *r, double tol) {
  char name[64];
  assert_close(state_value(opt, "0.step", 0), r->t, 0);
  for (int k = 0; k < 3; k++) {
    if (!v->bufs[k]) continue;
    snprintf(name, sizeof name, "0.%s", v->bufs[k]);
    for (int i = 0; i < N; i++) assert_rel(state_value(opt, name, (size_t)i), r->b[k][i], tol);
  }
}

/* STEPS steps of backward + step + zero_grad; the parameter and the state
 * must follow the reference at every step */
static inline void run_variant(const variant *v, tg_dtype dt, double tol) {
  tg_tensor *p = make_param(dt, N, P0);
  tg_optimizer *opt = v->make(&p, 1, v->opts);
  assert_non_null(opt);
  ref r = {.t = 0};
  memcpy(r.p, P0, sizeof r.p);
  for (int i = 0; i < N; i++) r.b[0][i] = v->init;
  for (int s = 0; s < STEPS; s++) {
    quad_backward(p);
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
    v->ref(&r, v->opts);
    for (int i = 0; i < N; i++) assert_rel(tg_get_flat(p, (size_t)i), r.p[i], tol);
  }
  /* the run went somewhere: the parameter moved off its start */
  assert_true(fabs(tg_get_flat(p, 0) - P0[0]) > 1e-3);
  compare_state(opt, v, &r, tol);
  tg_optim_free(opt);
  tg_free(p);
}

#define F64_TOL 1e-12
#define F32_TOL 2e-5

#endif
