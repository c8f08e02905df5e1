/* Optimizers, gradient clipping and lr schedules. Every expected value comes
 * from the algorithm written out again here, in plain double loops, from
 * the torch.optim 1.13 documentation (never from the library's code), or
 * from numbers worked by hand. The gradients the optimizers see come from
 * tg_backward on a fixed quadratic
 *   loss(p) = sum_i 0.5 * A[i] * (p[i] - C[i])^2,   dloss/dp[i] = A[i]*(p[i]-C[i]). */
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
static tg_tensor *make_param(tg_dtype dt, size_t n, const double *v) {
  tg_tensor *t = tg_keep(tg_to_dtype(tg_from_f64(1, (size_t[]){n}, v), dt));
  assert_non_null(t);
  assert_int_equal(t->obj.scope, 0);
  return tg_requires_grad_(t, true);
}

/* backward of the quadratic: accumulates A*(p-C) into p->grad */
/* the gradient of sign * the quadratic loss; sign -1 negates it exactly */
static void quad_backward_signed(tg_tensor *p, double sign) {
  tg_scope_begin();
  tg_tensor *a = tg_to_dtype(tg_from_f64(1, (size_t[]){N}, A), p->dtype);
  tg_tensor *c = tg_to_dtype(tg_from_f64(1, (size_t[]){N}, C), p->dtype);
  tg_tensor *d = tg_sub(p, c);
  tg_tensor *loss = tg_sum(tg_mul_scalar(tg_mul(a, tg_mul(d, d)), 0.5 * sign));
  assert_non_null(loss);
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  tg_scope_end();
}

static void quad_backward(tg_tensor *p) { quad_backward_signed(p, 1.0); }

static double state_value(const tg_optimizer *opt, const char *name, size_t i) {
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

static double ref_grad(const ref *r, int i) { return A[i] * (r->p[i] - C[i]); }

/* SGD (torch.optim.SGD docs): g += wd*p; b = t>1 ? mu*b + (1-tau)*g : g;
 * g = nesterov ? g + mu*b : b; p -= lr*g */
static void ref_sgd(ref *r, const void *opts) {
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
static void ref_adam_any(ref *r, const tg_adam_opts *o, bool decoupled) {
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
static void ref_adam(ref *r, const void *opts) { ref_adam_any(r, opts, false); }
static void ref_adamw(ref *r, const void *opts) { ref_adam_any(r, opts, true); }

/* RMSprop (docs): v = a*v + (1-a)*g^2; centered: ga = a*ga + (1-a)*g,
 * v~ = v - ga^2; momentum: b = mu*b + g/(sqrt(v~)+eps), p -= lr*b */
static void ref_rmsprop(ref *r, const void *opts) {
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
static void ref_adagrad(ref *r, const void *opts) {
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

/* --------------------------------------------------- the 10-step driver */

static void ref_adamax(ref *r, const void *opts) {
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

static void ref_adadelta(ref *r, const void *opts) {
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
static void ref_nadam(ref *r, const void *opts) {
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
static void ref_radam(ref *r, const void *opts) {
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

typedef struct variant {
  tg_optimizer *(*make)(tg_tensor **params, int n, const void *opts);
  void (*ref)(ref *r, const void *opts);
  const void *opts;
  const char *bufs[3]; /* state names compared with ref.b[k]; NULL: none */
  double init;         /* where ref.b[0] starts (Adagrad's accumulator) */
} variant;

static tg_optimizer *make_sgd(tg_tensor **p, int n, const void *o) {
  return tg_sgd_new(p, n, *(const tg_sgd_opts *)o);
}
static tg_optimizer *make_adam(tg_tensor **p, int n, const void *o) {
  return tg_adam_new(p, n, *(const tg_adam_opts *)o);
}
static tg_optimizer *make_adamw(tg_tensor **p, int n, const void *o) {
  return tg_adamw_new(p, n, *(const tg_adam_opts *)o);
}
static tg_optimizer *make_rmsprop(tg_tensor **p, int n, const void *o) {
  return tg_rmsprop_new(p, n, *(const tg_rmsprop_opts *)o);
}
static tg_optimizer *make_adagrad(tg_tensor **p, int n, const void *o) {
  return tg_adagrad_new(p, n, *(const tg_adagrad_opts *)o);
}

static tg_optimizer *make_adamax(tg_tensor **p, int n, const void *o) {
  return tg_adamax_new(p, n, *(const tg_adamax_opts *)o);
}
static tg_optimizer *make_adadelta(tg_tensor **p, int n, const void *o) {
  return tg_adadelta_new(p, n, *(const tg_adadelta_opts *)o);
}

static tg_optimizer *make_nadam(tg_tensor **p, int n, const void *o) {
  return tg_nadam_new(p, n, *(const tg_nadam_opts *)o);
}
static tg_optimizer *make_radam(tg_tensor **p, int n, const void *o) {
  return tg_radam_new(p, n, *(const tg_radam_opts *)o);
}

static void compare_state(const tg_optimizer *opt, const variant *v, const ref *r, double tol) {
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
static void run_variant(const variant *v, tg_dtype dt, double tol) {
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

/* -------------------------------------------------------------- SGD */

static void test_sgd_plain(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.1};
  run_variant(&(variant){make_sgd, ref_sgd, &o, {NULL}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_sgd_momentum(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.1, .momentum = 0.9};
  run_variant(&(variant){make_sgd, ref_sgd, &o, {"momentum_buffer"}, 0}, TG_FLOAT64, F64_TOL);
}

/* the lecture form: momentum = dampening = alpha gives D = aD + (1-a)g */
static void test_sgd_dampening(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.1, .momentum = 0.9, .dampening = 0.9};
  run_variant(&(variant){make_sgd, ref_sgd, &o, {"momentum_buffer"}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_sgd_nesterov(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.05, .momentum = 0.9, .nesterov = true};
  run_variant(&(variant){make_sgd, ref_sgd, &o, {"momentum_buffer"}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_sgd_weight_decay(void **state) {
  (void)state;
  tg_sgd_opts plain = {.lr = 0.1, .weight_decay = 0.1};
  run_variant(&(variant){make_sgd, ref_sgd, &plain, {NULL}, 0}, TG_FLOAT64, F64_TOL);
  tg_sgd_opts mom = {.lr = 0.1, .momentum = 0.5, .dampening = 0.2, .weight_decay = 0.1};
  run_variant(&(variant){make_sgd, ref_sgd, &mom, {"momentum_buffer"}, 0}, TG_FLOAT64, F64_TOL);
}

/* By hand: loss = 2p, so g = 2 every step; lr .1, momentum = dampening = .9.
 * PyTorch's first step sets buf = g = 2 (no dampening): p = -0.2; the second
 * keeps buf = .9*2 + .1*2 = 2: p = -0.4. A buffer started at zero and
 * dampened would give buf = 0.2 and p = -0.02 after one step. */
static void test_sgd_lecture_form_by_hand(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, 1, (double[]){0.0});
  tg_optimizer *opt = tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.9});
  assert_non_null(opt);
  const double want_p[2] = {-0.2, -0.4};
  for (int s = 0; s < 2; s++) {
    tg_scope_begin();
    assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(p, 2.0)), NULL, false), 0);
    tg_scope_end();
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
    assert_close(tg_get_flat(p, 0), want_p[s], 1e-15);
    assert_close(state_value(opt, "0.momentum_buffer", 0), 2.0, 1e-15);
  }
  tg_optim_free(opt);
  tg_free(p);
}

/* ------------------------------------------------------------- Adam */

static void test_adam(void **state) {
  (void)state;
  tg_adam_opts o = tg_adam_defaults();
  assert_close(o.lr, 1e-3, 0);
  assert_close(o.beta1, 0.9, 0);
  assert_close(o.beta2, 0.999, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_close(o.weight_decay, 0, 0);
  assert_false(o.amsgrad);
  o.lr = 0.1;
  run_variant(&(variant){make_adam, ref_adam, &o, {"exp_avg", "exp_avg_sq"}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_adam_weight_decay(void **state) {
  (void)state;
  tg_adam_opts o = tg_adam_defaults();
  o.lr = 0.1;
  o.weight_decay = 0.1;
  run_variant(&(variant){make_adam, ref_adam, &o, {"exp_avg", "exp_avg_sq"}, 0}, TG_FLOAT64, F64_TOL);
}

/* beta2 .5 lets exp_avg_sq fall as the gradients shrink, so the running max
 * really differs from it (checked at the end) */
static void test_adam_amsgrad(void **state) {
  (void)state;
  tg_adam_opts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.5, .eps = 1e-8, .amsgrad = true};
  variant v = {make_adam, ref_adam, &o, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, 0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  /* the same run again, to look at the max against exp_avg_sq */
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_adam_new(&p, 1, o);
  for (int s = 0; s < STEPS; s++) {
    quad_backward(p);
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
  }
  bool differs = false;
  for (size_t i = 0; i < N; i++) {
    double v2 = state_value(opt, "0.exp_avg_sq", i), vmax = state_value(opt, "0.max_exp_avg_sq", i);
    assert_true(vmax >= v2);
    differs |= vmax > v2 * (1 + 1e-6);
  }
  assert_true(differs);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_adamw(void **state) {
  (void)state;
  tg_adam_opts d = tg_adamw_defaults();
  assert_close(d.weight_decay, 1e-2, 0);
  assert_close(d.lr, 1e-3, 0);
  tg_adam_opts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
  run_variant(&(variant){make_adamw, ref_adamw, &o, {"exp_avg", "exp_avg_sq"}, 0}, TG_FLOAT64, F64_TOL);
  o.amsgrad = true;
  o.beta2 = 0.5;
  run_variant(&(variant){make_adamw, ref_adamw, &o, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, 0},
              TG_FLOAT64, F64_TOL);
}

/* ---------------------------------------------------------- RMSprop */

static void test_rmsprop_plain(void **state) {
  (void)state;
  tg_rmsprop_opts o = tg_rmsprop_defaults();
  assert_close(o.lr, 1e-2, 0);
  assert_close(o.alpha, 0.99, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_close(o.momentum, 0, 0);
  assert_false(o.centered);
  run_variant(&(variant){make_rmsprop, ref_rmsprop, &o, {"square_avg"}, 0}, TG_FLOAT64, F64_TOL);
}

static void test_rmsprop_momentum(void **state) {
  (void)state;
  tg_rmsprop_opts o = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.9, .weight_decay = 0.05};
  run_variant(&(variant){make_rmsprop, ref_rmsprop, &o, {"square_avg", "momentum_buffer"}, 0},
              TG_FLOAT64, F64_TOL);
}

static void test_rmsprop_centered(void **state) {
  (void)state;
  tg_rmsprop_opts o = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .centered = true};
  run_variant(&(variant){make_rmsprop, ref_rmsprop, &o, {"square_avg", NULL, "grad_avg"}, 0},
              TG_FLOAT64, F64_TOL);
  o.momentum = 0.5;
  run_variant(&(variant){make_rmsprop, ref_rmsprop, &o, {"square_avg", "momentum_buffer", "grad_avg"}, 0},
              TG_FLOAT64, F64_TOL);
}

/* ---------------------------------------------------------- Adagrad */

static void test_adagrad_lr_decay(void **state) {
  (void)state;
  tg_adagrad_opts d = tg_adagrad_defaults();
  assert_close(d.lr, 1e-2, 0);
  assert_close(d.eps, 1e-10, 0);
  assert_close(d.lr_decay + d.weight_decay + d.initial_accumulator_value, 0, 0);
  tg_adagrad_opts o = {.lr = 0.5, .lr_decay = 0.1, .eps = 1e-10};
  run_variant(&(variant){make_adagrad, ref_adagrad, &o, {"sum"}, 0}, TG_FLOAT64, F64_TOL);
  tg_adagrad_opts o2 = {.lr = 0.5, .lr_decay = 0.1, .weight_decay = 0.05,
                        .initial_accumulator_value = 0.1, .eps = 1e-10};
  run_variant(&(variant){make_adagrad, ref_adagrad, &o2, {"sum"}, .init = 0.1}, TG_FLOAT64, F64_TOL);
}

/* ---------------------------------------------- float32 parameters */

/* ------------------------------------------------- Adamax, Adadelta */

static void test_adamax(void **state) {
  (void)state;
  tg_adamax_opts o = tg_adamax_defaults();
  assert_close(o.lr, 2e-3, 0);
  assert_close(o.beta1, 0.9, 0);
  assert_close(o.beta2, 0.999, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_false(o.maximize);
  o.lr = 0.1;
  variant v = {make_adamax, ref_adamax, &o, {"exp_avg", "exp_inf"}, 0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  run_variant(&v, TG_FLOAT32, F32_TOL);
  o.weight_decay = 0.2;
  o.beta2 = 0.5; /* lets the decayed max fall below |g|+eps */
  run_variant(&v, TG_FLOAT64, F64_TOL);
}

static void test_adadelta(void **state) {
  (void)state;
  tg_adadelta_opts o = tg_adadelta_defaults();
  assert_close(o.lr, 1.0, 0);
  assert_close(o.rho, 0.9, 0);
  assert_close(o.eps, 1e-6, 0);
  assert_false(o.maximize);
  o.eps = 1e-2; /* moves the parameter far enough in STEPS steps */
  variant v = {make_adadelta, ref_adadelta, &o, {"square_avg", "acc_delta"}, 0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  run_variant(&v, TG_FLOAT32, F32_TOL);
  o.weight_decay = 0.1;
  o.rho = 1.0; /* allowed by torch: the averages never move */
  o.lr = 0.5;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_adadelta_new(&p, 1, o);
  assert_non_null(opt);
  o.rho = 0.5;
  run_variant(&v, TG_FLOAT64, F64_TOL);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_adamax_adadelta_invalid_options(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_adamax_opts m = tg_adamax_defaults();
  m.beta2 = 1.0;
  assert_null(tg_adamax_new(&p, 1, m));
  assert_non_null(strstr(tg_last_error(), "adamax: invalid beta2"));
  m = tg_adamax_defaults();
  m.lr = -1;
  assert_null(tg_adamax_new(&p, 1, m));
  assert_non_null(strstr(tg_last_error(), "invalid learning rate"));
  m = tg_adamax_defaults();
  m.eps = NAN;
  assert_null(tg_adamax_new(&p, 1, m));
  assert_non_null(strstr(tg_last_error(), "invalid eps"));
  tg_adadelta_opts d = tg_adadelta_defaults();
  d.rho = 1.5;
  assert_null(tg_adadelta_new(&p, 1, d));
  assert_non_null(strstr(tg_last_error(), "adadelta: invalid rho"));
  d = tg_adadelta_defaults();
  d.weight_decay = -0.1;
  assert_null(tg_adadelta_new(&p, 1, d));
  assert_non_null(strstr(tg_last_error(), "invalid weight_decay"));
  assert_null(tg_adadelta_new(NULL, 1, tg_adadelta_defaults()));
  assert_null(tg_adamax_new(NULL, 1, tg_adamax_defaults()));
  tg_free(p);
}

/* ---------------------------------------------------------- NAdam, RAdam */

static void test_nadam(void **state) {
  (void)state;
  tg_nadam_opts o = tg_nadam_defaults();
  assert_close(o.lr, 2e-3, 0);
  assert_close(o.beta1, 0.9, 0);
  assert_close(o.beta2, 0.999, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_close(o.weight_decay, 0, 0);
  assert_close(o.momentum_decay, 4e-3, 0);
  o.lr = 0.1;
  /* init 1: where mu_product starts */
  variant v = {make_nadam, ref_nadam, &o, {NULL, "exp_avg", "exp_avg_sq"}, 1.0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  run_variant(&v, TG_FLOAT32, F32_TOL);
  o.weight_decay = 0.2;
  o.momentum_decay = 0.5;
  o.beta1 = 0.5;
  run_variant(&v, TG_FLOAT64, F64_TOL);
}

static void test_radam(void **state) {
  (void)state;
  tg_radam_opts o = tg_radam_defaults();
  assert_close(o.lr, 1e-3, 0);
  assert_close(o.beta1, 0.9, 0);
  assert_close(o.beta2, 0.999, 0);
  assert_close(o.eps, 1e-8, 0);
  assert_close(o.weight_decay, 0, 0);
  o.lr = 0.1;
  /* STEPS 10 crosses rho_t = 5 after step 5: both branches run */
  variant v = {make_radam, ref_radam, &o, {"exp_avg", "exp_avg_sq"}, 0};
  run_variant(&v, TG_FLOAT64, F64_TOL);
  run_variant(&v, TG_FLOAT32, F32_TOL);
  o.weight_decay = 0.2;
  o.beta2 = 0.5; /* rho_inf = 3: never rectified */
  run_variant(&v, TG_FLOAT64, F64_TOL);
  o.beta2 = 0.9;
  o.beta1 = 0.0;
  run_variant(&v, TG_FLOAT64, F64_TOL);
}

/* Numbers printed by torch 1.13 itself (torch.optim.NAdam / RAdam, float64
 * parameter [1, -.5, 2], the gradients below set as .grad, 8 steps), so
 * these pin torch's result rather than this file's reference. */
#define TN 3
#define TSTEPS 8
static const double T_P0[TN] = {1.0, -0.5, 2.0};
static const double T_G[TSTEPS][TN] = {
    {0.3, -1.2, 0.05}, {0.25, -0.9, -0.4}, {-0.1, -1.5, 0.2}, {0.6, 0.8, -0.02},
    {0.45, -0.3, 0.7}, {-0.2, 0.1, 0.35},  {0.5, -0.65, -0.15}, {0.05, 0.4, 0.9}};

typedef struct torch_case {
  tg_optimizer *(*make)(tg_tensor **p, int n, const void *o);
  const void *opts;
  double p[TN], exp_avg[TN], exp_avg_sq[TN];
  double mu_product; /* NAdam only; 0 for RAdam */
} torch_case;

static void run_torch_case(const torch_case *c) {
  tg_tensor *p = tg_keep(tg_from_f64(1, (size_t[]){TN}, T_P0));
  tg_requires_grad_(p, true);
  tg_optimizer *opt = c->make(&p, 1, c->opts);
  assert_non_null(opt);
  for (int s = 0; s < TSTEPS; s++) {
    tg_scope_begin();
    /* d/dp sum(p*G) = G exactly */
    tg_tensor *loss = tg_sum(tg_mul(p, tg_from_f64(1, (size_t[]){TN}, T_G[s])));
    assert_int_equal(tg_backward(loss, NULL, false), 0);
    tg_scope_end();
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
  }
  for (int i = 0; i < TN; i++) {
    assert_rel(tg_get_flat(p, (size_t)i), c->p[i], 1e-14);
    assert_rel(state_value(opt, "0.exp_avg", (size_t)i), c->exp_avg[i], 1e-14);
    assert_rel(state_value(opt, "0.exp_avg_sq", (size_t)i), c->exp_avg_sq[i], 1e-14);
  }
  assert_close(state_value(opt, "0.step", 0), TSTEPS, 0);
  if (c->mu_product != 0) {
    tg_tensor *mp = tg_optim_state_find(opt, "0.mu_product");
    assert_non_null(mp);
    assert_int_equal(mp->ndim, 0);
    assert_int_equal(mp->dtype, TG_FLOAT32);
    assert_true(tg_get_flat(mp, 0) == c->mu_product); /* float32, exactly */
  }
  tg_optim_free(opt);
  tg_free(p);
}

static void test_nadam_radam_match_torch(void **state) {
  (void)state;
  tg_nadam_opts n1 = tg_nadam_defaults(), n2 = n1;
  n2.lr = 0.1;
  n2.weight_decay = 0.1;
  n2.momentum_decay = 0.3;
  tg_radam_opts r1 = tg_radam_defaults(), r2 = r1;
  r1.lr = 0.1;
  r2.lr = 0.1;
  r2.weight_decay = 0.1;
  r2.beta1 = 0.8;
  r2.beta2 = 0.9;
  const torch_case cases[] = {
      {make_nadam, &n1, {0.991215234866505, -0.4941684989688612, 1.993541727260403},
       {0.127701032, -0.173580818, 0.14751144449999995},
       {0.001014073228861996, 0.0057931064183244065, 0.0016449878432235883},
       0.0016914170701056719},
      {make_nadam, &n2, {0.5180420676812347, -0.19696496302211955, 1.4963181200833047},
       {0.16907792633018173, -0.18952942129202352, 0.24903378386894356},
       {0.0013549150566126154, 0.00607718321625618, 0.002464714546437363},
       0.002539993030950427},
      {make_radam, &r1, {0.8643587505629322, -0.03322147452980161, 2.0028349343436824},
       {0.127701032, -0.173580818, 0.14751144449999995},
       {0.001014073228861996, 0.0057931064183244065, 0.0016449878432235883}, 0},
      {make_radam, &r2, {0.7509837183927718, 0.0005346203602315247, 1.8265589724789109},
       {0.24924878037645953, -0.18111795476218007, 0.42437024494112596},
       {0.09932929918266953, 0.3615403760142932, 0.21652653378327655}, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) run_torch_case(&cases[k]);
}

static void test_nadam_radam_invalid_options(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_nadam_opts n = tg_nadam_defaults();
  n.momentum_decay = -1e-3;
  assert_null(tg_nadam_new(&p, 1, n));
  assert_error_has("nadam: invalid momentum_decay");
  n = tg_nadam_defaults();
  n.beta1 = 1.0;
  assert_null(tg_nadam_new(&p, 1, n));
  assert_error_has("nadam: invalid beta1");
  n = tg_nadam_defaults();
  n.eps = NAN;
  assert_null(tg_nadam_new(&p, 1, n));
  assert_error_has("nadam: invalid eps");
  tg_radam_opts r = tg_radam_defaults();
  r.lr = -1;
  assert_null(tg_radam_new(&p, 1, r));
  assert_error_has("radam: invalid learning rate");
  r = tg_radam_defaults();
  r.beta2 = -0.1;
  assert_null(tg_radam_new(&p, 1, r));
  assert_error_has("radam: invalid beta2");
  r = tg_radam_defaults();
  r.weight_decay = -0.1;
  assert_null(tg_radam_new(&p, 1, r));
  assert_error_has("radam: invalid weight_decay");
  assert_null(tg_nadam_new(NULL, 1, tg_nadam_defaults()));
  assert_error_has("nadam: params is NULL");
  assert_null(tg_radam_new(&p, 0, tg_radam_defaults()));
  assert_error_has("radam");
  /* the edges torch accepts */
  n = tg_nadam_defaults();
  n.beta1 = 0;
  n.momentum_decay = 0;
  n.lr = 0;
  tg_optimizer *a = tg_nadam_new(&p, 1, n);
  assert_non_null(a);
  assert_string_equal(tg_optim_name(a), "NAdam");
  tg_optimizer *b = tg_radam_new(&p, 1, tg_radam_defaults());
  assert_non_null(b);
  assert_string_equal(tg_optim_name(b), "RAdam");
  tg_optim_free(a);
  tg_optim_free(b);
  tg_free(p);
}

/* ---------------------------------------------------------- maximize */

/* maximize on -loss must take exactly the steps of minimising loss (torch
 * 1.13 negates the gradient first, an exact operation), for every
 * algorithm, float64 and float32, and leave p->grad as backward wrote it */
static void run_maximize(const variant *vmax, const variant *vmin, tg_dtype dt) {
  tg_tensor *p = make_param(dt, N, P0), *q = make_param(dt, N, P0);
  tg_optimizer *omax = vmax->make(&p, 1, vmax->opts), *omin = vmin->make(&q, 1, vmin->opts);
  assert_non_null(omax);
  assert_non_null(omin);
  for (int s = 0; s < STEPS; s++) {
    quad_backward(q);
    quad_backward_signed(p, -1.0);
    double g0 = tg_get_flat(p->grad, 0);
    assert_int_equal(tg_optim_step(omax), 0);
    assert_int_equal(tg_optim_step(omin), 0);
    assert_true(tg_get_flat(p->grad, 0) == g0);
    for (int i = 0; i < N; i++) assert_true(tg_get_flat(p, (size_t)i) == tg_get_flat(q, (size_t)i));
    assert_int_equal(tg_optim_zero_grad(omax), 0);
    assert_int_equal(tg_optim_zero_grad(omin), 0);
  }
  assert_true(fabs(tg_get_flat(p, 0) - P0[0]) > 1e-3);
  tg_optim_free(omax);
  tg_optim_free(omin);
  tg_free(p);
  tg_free(q);
}

static void test_maximize_every_optimizer(void **state) {
  (void)state;
  tg_sgd_opts s1 = {.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.1}, s0 = s1;
  s1.maximize = true;
  tg_adam_opts a1 = tg_adam_defaults(), a0;
  a1.lr = 0.1;
  a1.amsgrad = true;
  a1.weight_decay = 0.1;
  a0 = a1;
  a1.maximize = true;
  tg_rmsprop_opts r1 = tg_rmsprop_defaults(), r0;
  r1.momentum = 0.5;
  r1.centered = true;
  r0 = r1;
  r1.maximize = true;
  tg_adamax_opts x1 = tg_adamax_defaults(), x0;
  x1.lr = 0.1;
  x1.weight_decay = 0.1;
  x0 = x1;
  x1.maximize = true;
  tg_adadelta_opts d1 = tg_adadelta_defaults(), d0;
  d1.eps = 1e-2;
  d1.weight_decay = 0.1;
  d0 = d1;
  d1.maximize = true;
  tg_adagrad_opts g1 = tg_adagrad_defaults(), g0;
  g1.lr_decay = 0.01;
  g1.initial_accumulator_value = 0.1;
  g0 = g1;
  g1.maximize = true;
  const variant pairs[7][2] = {
      {{make_adamax, NULL, &x1, {NULL}, 0}, {make_adamax, NULL, &x0, {NULL}, 0}},
      {{make_adadelta, NULL, &d1, {NULL}, 0}, {make_adadelta, NULL, &d0, {NULL}, 0}},
      {{make_sgd, NULL, &s1, {NULL}, 0}, {make_sgd, NULL, &s0, {NULL}, 0}},
      {{make_adam, NULL, &a1, {NULL}, 0}, {make_adam, NULL, &a0, {NULL}, 0}},
      {{make_adamw, NULL, &a1, {NULL}, 0}, {make_adamw, NULL, &a0, {NULL}, 0}},
      {{make_rmsprop, NULL, &r1, {NULL}, 0}, {make_rmsprop, NULL, &r0, {NULL}, 0}},
      {{make_adagrad, NULL, &g1, {NULL}, 0}, {make_adagrad, NULL, &g0, {NULL}, 0}},
  };
  for (int k = 0; k < 7; k++) {
    run_maximize(&pairs[k][0], &pairs[k][1], TG_FLOAT64);
    run_maximize(&pairs[k][0], &pairs[k][1], TG_FLOAT32);
  }
}

/* By hand: loss = 2p, g = 2; maximize with lr .1 climbs: p = .2, then .4 */
static void test_sgd_maximize_by_hand(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, 1, (double[]){0.0});
  tg_optimizer *opt = tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .maximize = true});
  assert_non_null(opt);
  for (int s = 0; s < 2; s++) {
    tg_scope_begin();
    assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(p, 2.0)), NULL, false), 0);
    tg_scope_end();
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
    assert_close(tg_get_flat(p, 0), 0.2 * (s + 1), 1e-15);
  }
  tg_optim_free(opt);
  tg_free(p);
}

static void test_float32_every_optimizer(void **state) {
  (void)state;
  tg_sgd_opts sgd = {.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01};
  tg_adam_opts adam = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.5, .eps = 1e-8, .weight_decay = 0.1,
                       .amsgrad = true};
  tg_rmsprop_opts rms = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.5, .centered = true};
  tg_adagrad_opts ada = {.lr = 0.5, .lr_decay = 0.1, .initial_accumulator_value = 0.1, .eps = 1e-10};
  const variant vs[] = {
      {make_sgd, ref_sgd, &sgd, {"momentum_buffer"}, 0},
      {make_adam, ref_adam, &adam, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, 0},
      {make_adamw, ref_adamw, &adam, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, 0},
      {make_rmsprop, ref_rmsprop, &rms, {"square_avg", "momentum_buffer", "grad_avg"}, 0},
      {make_adagrad, ref_adagrad, &ada, {"sum"}, 0.1},
  };
  for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) run_variant(&vs[k], TG_FLOAT32, F32_TOL);
}

/* ------------------------------------------ skipping, versions, zero_grad */

/* q never enters the loss for three steps: no grad, so no update, no
 * version bump and no step count. Then it joins, and its bias correction
 * starts from its own first step, as PyTorch's per-parameter state does. */
static void test_params_without_grad_are_skipped(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT64, N, P0)};
  tg_adam_opts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  tg_optimizer *opt = tg_adam_new(ps, 2, o);
  assert_non_null(opt);
  ref rp = {.t = 0}, rq = {.t = 0};
  memcpy(rp.p, P0, sizeof rp.p);
  memcpy(rq.p, P0, sizeof rq.p);
  uint32_t qv = ps[1]->storage->version;
  for (int s = 0; s < 6; s++) {
    uint32_t pv = ps[0]->storage->version;
    quad_backward(ps[0]);
    if (s >= 3) quad_backward(ps[1]);
    assert_int_equal(tg_optim_step(opt), 0);
    assert_int_equal(tg_optim_zero_grad(opt), 0);
    assert_int_equal(ps[0]->storage->version, pv + 1);
    ref_adam(&rp, &o);
    if (s >= 3) ref_adam(&rq, &o);
    if (s < 3) {
      assert_null(ps[1]->grad);
      assert_int_equal(ps[1]->storage->version, qv);
      assert_close(state_value(opt, "1.step", 0), 0, 0);
    }
    for (size_t i = 0; i < N; i++) {
      assert_rel(tg_get_flat(ps[0], i), rp.p[i], F64_TOL);
      assert_rel(tg_get_flat(ps[1], i), rq.p[i], F64_TOL);
    }
  }
  assert_close(state_value(opt, "0.step", 0), 6, 0);
  assert_close(state_value(opt, "1.step", 0), 3, 0);
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

static void test_zero_grad_keeps_buffers(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT32, N, P0)};
  tg_optimizer *opt = tg_sgd_new(ps, 2, tg_sgd_defaults());
  assert_non_null(opt);
  assert_close(tg_optim_get_lr(opt), 1e-3, 0);
  quad_backward(ps[0]); /* ps[1] gets no grad */
  tg_tensor *g = ps[0]->grad;
  assert_non_null(g);
  void *data = tg_data(g);
  assert_true(fabs(tg_get_flat(g, 0)) > 0); /* A[0]*(P0[0]-C[0]) = -1 */
  assert_int_equal(tg_optim_zero_grad(opt), 0);
  assert_ptr_equal(ps[0]->grad, g);
  assert_ptr_equal(tg_data(g), data);
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(g, i), 0, 0);
  assert_null(ps[1]->grad); /* zero_grad does not make buffers */
  /* the next backward accumulates into the same buffer from zero */
  quad_backward(ps[0]);
  assert_ptr_equal(ps[0]->grad, g);
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(g, i), A[i] * (P0[i] - C[i]), 1e-15);
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

/* ------------------------------------------------------- allocation */

static tg_optimizer *make_kind(int kind, tg_tensor **ps, int n) {
  switch (kind) {
  case 0: return tg_sgd_new(ps, n, (tg_sgd_opts){.lr = 0.05, .momentum = 0.9, .nesterov = true});
  case 1: return tg_adam_new(ps, n, (tg_adam_opts){.lr = 0.1, .beta1 = 0.9, .beta2 = 0.5, .eps = 1e-8, .amsgrad = true});
  case 2: return tg_adamw_new(ps, n, tg_adamw_defaults());
  case 3: return tg_rmsprop_new(ps, n, (tg_rmsprop_opts){.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.5, .centered = true});
  default: return tg_adagrad_new(ps, n, (tg_adagrad_opts){.lr = 0.5, .lr_decay = 0.1, .initial_accumulator_value = 0.1, .eps = 1e-10});
  }
}
#define N_KINDS 5

/* A step calls no allocator: its state was made at creation, and the only
 * malloc in optim/ (the optimizer object and its arrays) is in the
 * constructors. So the pool's count of system allocations stays put across
 * every step, the first included, and a whole training iteration allocates
 * nothing after the first. */
static void test_step_allocates_nothing(void **state) {
  (void)state;
  for (int kind = 0; kind < N_KINDS; kind++) {
    tg_tensor *ps[2] = {make_param(TG_FLOAT64, N, P0), make_param(TG_FLOAT32, N, P0)};
    tg_optimizer *opt = make_kind(kind, ps, 2);
    assert_non_null(opt);
    size_t after_first = 0;
    for (int it = 0; it < 5; it++) {
      quad_backward(ps[0]);
      quad_backward(ps[1]);
      size_t before = tg_memory_get_stats().mallocs;
      assert_int_equal(tg_optim_step(opt), 0);
      assert_int_equal(tg_memory_get_stats().mallocs, before);
      assert_int_equal(tg_optim_zero_grad(opt), 0);
      if (it == 0) after_first = tg_memory_get_stats().mallocs;
    }
    assert_int_equal(tg_memory_get_stats().mallocs, after_first);
    tg_optim_free(opt);
    tg_free(ps[0]);
    tg_free(ps[1]);
  }
}

/* ------------------------------------------------------ state, lr */

static void test_state_names_and_shapes(void **state) {
  (void)state;
  tg_tensor *ps[2] = {make_param(TG_FLOAT32, N, P0), make_param(TG_FLOAT64, 2, P0)};
  tg_optimizer *opt = tg_adam_new(ps, 2, (tg_adam_opts){.lr = 0.1, .beta1 = 0.9, .beta2 = 0.99, .amsgrad = true});
  assert_non_null(opt);
  assert_string_equal(tg_optim_name(opt), "Adam");
  assert_int_equal(tg_optim_num_params(opt), 2);
  const char *want[] = {"0.step", "0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq",
                        "1.step", "1.exp_avg", "1.exp_avg_sq", "1.max_exp_avg_sq"};
  assert_int_equal(tg_optim_state_count(opt), 8);
  for (size_t e = 0; e < 8; e++) {
    const char *name = NULL;
    tg_tensor *t = tg_optim_state_at(opt, e, &name);
    assert_non_null(t);
    assert_string_equal(name, want[e]);
    assert_ptr_equal(tg_optim_state_find(opt, name), t);
    assert_int_equal(t->obj.scope, 0); /* persistent: outlives the test's scope */
    const tg_tensor *p = ps[e / 4];
    if (e % 4 == 0) {
      assert_int_equal(t->ndim, 0);
      assert_int_equal(t->dtype, TG_FLOAT64);
    } else {
      assert_true(tg_same_shape(t, p));
      assert_int_equal(t->dtype, p->dtype);
    }
    assert_close(tg_item(tg_sum(t)), 0, 0); /* zeros before any step */
  }
  assert_null(tg_optim_state_at(opt, 8, NULL));
  assert_error_has("out of range");
  tg_optim_free(opt);
  /* the other optimizers' layouts */
  tg_tensor *p = ps[0];
  const char *layouts[N_KINDS] = {"0.step 0.momentum_buffer", "0.step 0.exp_avg 0.exp_avg_sq 0.max_exp_avg_sq",
                                  "0.step 0.exp_avg 0.exp_avg_sq",
                                  "0.step 0.square_avg 0.momentum_buffer 0.grad_avg", "0.step 0.sum"};
  for (int kind = 0; kind < N_KINDS; kind++) {
    opt = make_kind(kind, &p, 1);
    char got[160] = "";
    for (size_t e = 0; e < tg_optim_state_count(opt); e++) {
      const char *name;
      tg_optim_state_at(opt, e, &name);
      if (e) strcat(got, " ");
      strcat(got, name);
    }
    assert_string_equal(got, layouts[kind]);
    tg_optim_free(opt);
  }
  /* Adagrad's accumulator starts at initial_accumulator_value */
  opt = make_kind(4, &p, 1);
  for (size_t i = 0; i < N; i++) assert_close(state_value(opt, "0.sum", i), 0.1, 1e-8);
  tg_optim_free(opt);
  tg_free(ps[0]);
  tg_free(ps[1]);
}

/* Three steps, state copied out, a new optimizer over a copy of the
 * parameter loads it: the next step is identical, bit for bit. */
static void round_trip(int kind) {
  tg_tensor *p1 = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *o1 = make_kind(kind, &p1, 1);
  for (int s = 0; s < 3; s++) {
    quad_backward(p1);
    assert_int_equal(tg_optim_step(o1), 0);
    assert_int_equal(tg_optim_zero_grad(o1), 0);
  }
  size_t count = tg_optim_state_count(o1);
  tg_tensor *saved[8];
  char names[8][32];
  assert_true(count <= 8);
  for (size_t e = 0; e < count; e++) {
    const char *name;
    saved[e] = tg_clone(tg_optim_state_at(o1, e, &name)); /* test scope */
    snprintf(names[e], sizeof names[e], "%s", name);
  }
  double now[N];
  assert_int_equal(tg_to_f64_array(p1, now), 0);
  tg_tensor *p2 = make_param(TG_FLOAT64, N, now);
  tg_optimizer *o2 = make_kind(kind, &p2, 1);
  assert_close(state_value(o2, "0.step", 0), 0, 0);
  for (size_t e = 0; e < count; e++) assert_int_equal(tg_optim_state_load(o2, names[e], saved[e]), 0);
  assert_close(state_value(o2, "0.step", 0), 3, 0);
  quad_backward(p1);
  quad_backward(p2);
  assert_int_equal(tg_optim_step(o1), 0);
  assert_int_equal(tg_optim_step(o2), 0);
  assert_memory_equal(tg_data(p1), tg_data(p2), N * sizeof(double));
  for (size_t e = 0; e < count; e++) {
    tg_tensor *a = tg_optim_state_at(o1, e, NULL), *b = tg_optim_state_at(o2, e, NULL);
    assert_memory_equal(tg_data(a), tg_data(b), a->numel * tg_dtype_size(a->dtype));
  }
  assert_close(state_value(o2, "0.step", 0), 4, 0);
  tg_optim_free(o1);
  tg_optim_free(o2);
  tg_free(p1);
  tg_free(p2);
}

static void test_state_round_trip(void **state) {
  (void)state;
  for (int kind = 0; kind < N_KINDS; kind++) round_trip(kind);
}

static void test_state_load_errors(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = make_kind(1, &p, 1);
  assert_null(tg_optim_state_find(opt, "0.momentum_buffer"));
  assert_error_has("Adam has no state entry \"0.momentum_buffer\"");
  assert_int_equal(tg_optim_state_load(opt, "0.exp_avg", tg_zeros(TG_FLOAT64, TG_SHAPE(3))), -1);
  assert_error_has("\"0.exp_avg\" has shape [5]");
  assert_int_equal(tg_optim_state_load(opt, "0.step", tg_scalar(TG_FLOAT64, 2.5)), -1);
  assert_error_has("whole number");
  assert_int_equal(tg_optim_state_load(opt, "0.step", tg_scalar(TG_FLOAT64, -1)), -1);
  assert_error_has("whole number");
  assert_close(state_value(opt, "0.step", 0), 0, 0); /* unchanged by the failures */
  /* a float32 source converts into the float64 state */
  assert_int_equal(tg_optim_state_load(opt, "0.exp_avg", tg_full(TG_FLOAT32, TG_SHAPE(N), 0.5)), 0);
  assert_close(state_value(opt, "0.exp_avg", 4), 0.5, 0);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_lr_get_set(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1});
  assert_close(tg_optim_get_lr(opt), 0.1, 0);
  assert_int_equal(tg_optim_set_lr(opt, 0.25), 0);
  assert_close(tg_optim_get_lr(opt), 0.25, 0);
  /* the step uses the new lr: p -= 0.25 * A*(P0-C) */
  quad_backward(p);
  assert_int_equal(tg_optim_step(opt), 0);
  for (size_t i = 0; i < N; i++) assert_close(tg_get_flat(p, i), P0[i] - 0.25 * A[i] * (P0[i] - C[i]), 1e-15);
  assert_int_equal(tg_optim_set_lr(opt, -1), -1);
  assert_error_has("optim_set_lr: invalid learning rate -1");
  assert_close(tg_optim_get_lr(opt), 0.25, 0);
  tg_optim_free(opt);
  tg_free(p);
}

/* ------------------------------------------------------------ errors */

static void expect_null(tg_optimizer *opt, const char *text) {
  if (opt) {
    tg_optim_free(opt);
    fail_msg("expected a NULL optimizer with \"%s\"", text);
  }
  assert_error_has(text);
}

static void test_invalid_options(void **state) {
  (void)state;
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = -0.1}), "sgd: invalid learning rate -0.1: must be >= 0");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = NAN}), "sgd: invalid learning rate nan");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .momentum = -1}), "sgd: invalid momentum");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .weight_decay = -1}), "sgd: invalid weight_decay");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .nesterov = true}),
              "sgd: nesterov momentum requires a momentum > 0 and zero dampening");
  expect_null(tg_sgd_new(&p, 1, (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
              "dampening 0.1");
  tg_adam_opts a = tg_adam_defaults();
  a.beta1 = 1.0;
  expect_null(tg_adam_new(&p, 1, a), "adam: invalid beta1 1: must be in [0, 1)");
  a = tg_adam_defaults();
  a.beta2 = -0.1;
  expect_null(tg_adam_new(&p, 1, a), "adam: invalid beta2 -0.1");
  a = tg_adam_defaults();
  a.eps = -1e-8;
  expect_null(tg_adam_new(&p, 1, a), "adam: invalid eps");
  a = tg_adamw_defaults();
  a.lr = -1;
  expect_null(tg_adamw_new(&p, 1, a), "adamw: invalid learning rate");
  a = tg_adamw_defaults();
  a.weight_decay = -1;
  expect_null(tg_adamw_new(&p, 1, a), "adamw: invalid weight_decay");
  tg_rmsprop_opts r = tg_rmsprop_defaults();
  r.alpha = -0.5;
  expect_null(tg_rmsprop_new(&p, 1, r), "rmsprop: invalid alpha -0.5");
  r = tg_rmsprop_defaults();
  r.momentum = -0.5;
  expect_null(tg_rmsprop_new(&p, 1, r), "rmsprop: invalid momentum");
  tg_adagrad_opts g = tg_adagrad_defaults();
  g.lr_decay = -1;
  expect_null(tg_adagrad_new(&p, 1, g), "adagrad: invalid lr_decay");
  g = tg_adagrad_defaults();
  g.initial_accumulator_value = -1;
  expect_null(tg_adagrad_new(&p, 1, g), "adagrad: invalid initial_accumulator_value");
  tg_free(p);
}

static void test_invalid_params(void **state) {
  (void)state;
  tg_sgd_opts o = {.lr = 0.1};
  tg_tensor *p = make_param(TG_FLOAT64, N, P0);
  expect_null(tg_sgd_new(NULL, 1, o), "sgd: params is NULL");
  expect_null(tg_sgd_new(&p, 0, o), "sgd: got 0 parameters");
  tg_tensor *with_null[2] = {p, NULL};
  expect_null(tg_adam_new(with_null, 2, tg_adam_defaults()), "adam: params[1] is NULL");
  tg_tensor *twice[2] = {p, p};
  expect_null(tg_sgd_new(twice, 2, o), "sgd: params[1] is the same tensor as params[0]");
  tg_tensor *scoped = tg_requires_grad_(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), true);
  expect_null(tg_sgd_new(&scoped, 1, o), "params[0] belongs to a scope; parameters must be persistent");
  tg_tensor *nonleaf = tg_mul_scalar(p, 2.0);
  expect_null(tg_sgd_new(&nonleaf, 1, o), "params[0] is not a leaf");
  tg_tensor *frozen = tg_keep(tg_zeros(TG_FLOAT64, TG_SHAPE(3)));
  expect_null(tg_sgd_new(&frozen, 1, o), "params[0] does not require grad");
  tg_tensor *ints = tg_keep(tg_from_i64(TG_SHAPE(2), (int64_t[]){1, 2}));
  expect_null(tg_rmsprop_new(&ints, 1, tg_rmsprop_defaults()), "rmsprop: params[0] is int64");
  /* a transposed view: a leaf (detached) but not contiguous */
  tg_tensor *w = tg_keep(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)));
  tg_tensor *wt = tg_requires_grad_(tg_keep(tg_detach(tg_t(w))), true);
  assert_non_null(wt);
  assert_false(tg_is_contiguous(wt));
  expect_null(tg_adagrad_new(&wt, 1, tg_adagrad_defaults()), "adagrad: params[0] is not contiguous");
  /* NULL optimizers are errors, not crashes */
  assert_int_equal(tg_optim_step(NULL), -1);
  assert_error_has("optim_step: optimizer is NULL");
  assert_int_equal(tg_optim_zero_grad(NULL), -1);
  assert_error_has("optim_zero_grad: optimizer is NULL");
  assert_true(isnan(tg_optim_get_lr(NULL)));
  assert_error_has("optim_get_lr: optimizer is NULL");
  tg_optim_free(NULL);
  tg_free(wt);
  tg_free(w);
  tg_free(ints);
  tg_free(frozen);
  tg_free(p);
}

/* ---------------------------------------------------------- clipping */

/* loss = sum(p1*w1) + sum(p2*w2): the grads are w1 and w2 exactly; p3 gets
 * none and is skipped */
static const double W1[3] = {3, -4, 1}, W2[2] = {2, -2};

static void set_linear_grads(tg_tensor **ps) {
  tg_scope_begin();
  tg_tensor *w1 = tg_to_dtype(tg_from_f64(TG_SHAPE(3), W1), ps[0]->dtype);
  tg_tensor *w2 = tg_to_dtype(tg_from_f64(TG_SHAPE(2), W2), ps[1]->dtype);
  tg_tensor *loss = tg_add(tg_sum(tg_mul(ps[0], w1)), tg_sum(tg_mul(ps[1], w2)));
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  tg_scope_end();
}

static void make_clip_params(tg_tensor **ps, tg_dtype dt) {
  ps[0] = make_param(dt, 3, (double[]){0, 0, 0});
  ps[1] = make_param(dt, 2, (double[]){0, 0});
  ps[2] = make_param(dt, 2, (double[]){0, 0});
}

static void free_params(tg_tensor **ps, int n) {
  for (int i = 0; i < n; i++) tg_free(ps[i]);
}

/* clip to max_norm and check the scaled grads; total is the hand-worked norm */
static void check_clip(tg_tensor **ps, double norm_type, double max_norm, double total, double tol) {
  for (int i = 0; i < 3; i++) assert_int_equal(tg_zero_grad(ps[i]), 0);
  set_linear_grads(ps);
  assert_rel(tg_clip_grad_norm(ps, 3, max_norm, norm_type), total, tol);
  double coef = max_norm / (total + 1e-6);
  if (coef > 1) coef = 1;
  for (size_t i = 0; i < 3; i++) assert_rel(tg_get_flat(ps[0]->grad, i), W1[i] * coef, tol);
  for (size_t i = 0; i < 2; i++) assert_rel(tg_get_flat(ps[1]->grad, i), W2[i] * coef, tol);
  assert_null(ps[2]->grad);
}

static void test_clip_grad_norm(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    tg_dtype dt = d ? TG_FLOAT32 : TG_FLOAT64;
    double tol = d ? 1e-6 : 1e-14;
    tg_tensor *ps[3];
    make_clip_params(ps, dt);
    /* 2-norm: sqrt(9 + 16 + 1 + 4 + 4) = sqrt(34) */
    check_clip(ps, 2, 1.0, sqrt(34), tol);
    check_clip(ps, 2, 10.0, sqrt(34), tol); /* below max_norm: untouched */
    /* inf-norm: the largest |g| is 4 */
    check_clip(ps, INFINITY, 2.0, 4, tol);
    check_clip(ps, INFINITY, 5.0, 4, tol);
    /* 1-norm: 3+4+1+2+2 = 12; 3-norm: (27+64+1+8+8)^(1/3) = 108^(1/3) */
    check_clip(ps, 1, 6.0, 12, tol);
    check_clip(ps, 3, 1.0, cbrt(108), tol);
    free_params(ps, 3);
  }
}

static void test_clip_grad_norm_edge_cases(void **state) {
  (void)state;
  tg_tensor *ps[3];
  make_clip_params(ps, TG_FLOAT64);
  /* no gradients at all: norm 0, nothing to scale */
  assert_close(tg_clip_grad_norm(ps, 3, 1.0, 2), 0, 0);
  assert_close(tg_clip_grad_norm(NULL, 0, 1.0, 2), 0, 0);
  assert_close(tg_clip_grad_norm(ps, 3, 1.0, 0), -1, 0);
  assert_error_has("clip_grad_norm: norm_type 0 is not supported");
  assert_close(tg_clip_grad_norm(ps, 3, -1.0, 2), -1, 0);
  assert_error_has("clip_grad_norm: invalid max_norm -1");
  tg_tensor *with_null[2] = {ps[0], NULL};
  set_linear_grads(ps);
  assert_close(tg_clip_grad_norm(with_null, 2, 1.0, 2), -1, 0);
  assert_error_has("clip_grad_norm: params[1] is NULL");
  assert_close(tg_get_flat(ps[0]->grad, 1), -4, 0); /* the error changed nothing */
  assert_int_equal(tg_clip_grad_value(with_null, 2, 1.0), -1);
  assert_error_has("clip_grad_value: params[1] is NULL");
  assert_close(tg_get_flat(ps[0]->grad, 1), -4, 0);
  /* clipping writes in place: the grad's version moves */
  uint32_t v = ps[0]->grad->storage->version;
  assert_true(tg_clip_grad_norm(ps, 3, 1.0, 2) > 0);
  assert_true(ps[0]->grad->storage->version != v);
  free_params(ps, 3);
}

static void test_clip_grad_value(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    tg_tensor *ps[3];
    make_clip_params(ps, d ? TG_FLOAT32 : TG_FLOAT64);
    set_linear_grads(ps);
    assert_int_equal(tg_clip_grad_value(ps, 3, 2.5), 0);
    const double want1[3] = {2.5, -2.5, 1}, want2[2] = {2, -2};
    for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(ps[0]->grad, i), want1[i], 0);
    for (size_t i = 0; i < 2; i++) assert_close(tg_get_flat(ps[1]->grad, i), want2[i], 0);
    assert_null(ps[2]->grad);
    assert_int_equal(tg_clip_grad_value(ps, 3, 0.0), 0); /* everything to 0 */
    assert_close(tg_get_flat(ps[0]->grad, 0), 0, 0);
    assert_int_equal(tg_clip_grad_value(ps, 3, -1.0), -1);
    assert_error_has("clip_grad_value: invalid clip value -1");
    free_params(ps, 3);
  }
}

/* -------------------------------------------------------- schedules */

static tg_optimizer *sched_opt(tg_tensor **p, double lr) {
  *p = make_param(TG_FLOAT64, N, P0);
  tg_optimizer *opt = tg_sgd_new(p, 1, (tg_sgd_opts){.lr = lr});
  assert_non_null(opt);
  return opt;
}

/* StepLR and ExponentialLR checked against PyTorch's chainable form (the lr
 * multiplied by gamma at each boundary), which equals the closed form up to
 * rounding */
static void test_step_lr(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sched_opt(&p, 0.1);
  tg_lr_scheduler *s = tg_step_lr_new(opt, 3, 0.5);
  assert_non_null(s);
  double lr = 0.1;
  assert_close(tg_optim_get_lr(opt), lr, 0);
  for (long e = 1; e <= 20; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    if (e % 3 == 0) lr *= 0.5;
    assert_int_equal(tg_scheduler_get_epoch(s), e);
    assert_rel(tg_optim_get_lr(opt), lr, 1e-15);
  }
  /* epochs 0..2 at 0.1, 3..5 at 0.05, ... 20 at 0.1*0.5^6 */
  assert_rel(tg_scheduler_lr_at(s, 2), 0.1, 1e-15);
  assert_rel(tg_scheduler_lr_at(s, 5), 0.05, 1e-15);
  assert_rel(tg_optim_get_lr(opt), 0.1 / 64, 1e-15);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_exponential_lr(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sched_opt(&p, 0.2);
  tg_lr_scheduler *s = tg_exponential_lr_new(opt, 0.9);
  assert_non_null(s);
  double lr = 0.2;
  assert_close(tg_optim_get_lr(opt), lr, 0);
  for (long e = 1; e <= 30; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    lr *= 0.9;
    assert_rel(tg_optim_get_lr(opt), lr, 1e-14);
  }
  /* jump back: set_epoch uses the closed form from the base lr */
  assert_int_equal(tg_scheduler_set_epoch(s, 2), 0);
  assert_rel(tg_optim_get_lr(opt), 0.2 * 0.81, 1e-15);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_cosine_annealing_lr(void **state) {
  (void)state;
  tg_tensor *p;
  const double base = 0.1, eta_min = 0.001, pi = acos(-1.0);
  const long t_max = 10;
  tg_optimizer *opt = sched_opt(&p, base);
  tg_lr_scheduler *s = tg_cosine_annealing_lr_new(opt, t_max, eta_min);
  assert_non_null(s);
  assert_rel(tg_optim_get_lr(opt), base, 1e-15);
  for (long e = 1; e <= 25; e++) {
    assert_int_equal(tg_scheduler_step(s), 0);
    double want = eta_min + (base - eta_min) * (1 + cos(pi * (double)e / (double)t_max)) / 2;
    assert_rel(tg_optim_get_lr(opt), want, 1e-14);
    /* landmarks: the midpoint of the schedule and its bottom */
    if (e == t_max / 2) assert_rel(tg_optim_get_lr(opt), (base + eta_min) / 2, 1e-14);
    if (e == t_max) assert_rel(tg_optim_get_lr(opt), eta_min, 1e-14);
    if (e == 2 * t_max) assert_rel(tg_optim_get_lr(opt), base, 1e-14);
  }
  /* the scheduled lr drives the step: p -= lr*g at epoch 25 */
  double lr = tg_optim_get_lr(opt);
  quad_backward(p);
  assert_int_equal(tg_optim_step(opt), 0);
  for (size_t i = 0; i < N; i++) assert_rel(tg_get_flat(p, i), P0[i] - lr * A[i] * (P0[i] - C[i]), 1e-15);
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

static void test_scheduler_errors(void **state) {
  (void)state;
  tg_tensor *p;
  tg_optimizer *opt = sched_opt(&p, 0.1);
  assert_null(tg_step_lr_new(opt, 0, 0.5));
  assert_error_has("step_lr: step_size 0 must be >= 1");
  assert_null(tg_step_lr_new(opt, 2, -0.5));
  assert_error_has("step_lr: invalid gamma -0.5");
  assert_null(tg_exponential_lr_new(NULL, 0.5));
  assert_error_has("exponential_lr: optimizer is NULL");
  assert_null(tg_cosine_annealing_lr_new(opt, 0, 0.0));
  assert_error_has("cosine_annealing_lr: t_max 0 must be >= 1");
  assert_null(tg_cosine_annealing_lr_new(opt, 5, -1.0));
  assert_error_has("cosine_annealing_lr: invalid eta_min -1");
  tg_lr_scheduler *s = tg_exponential_lr_new(opt, 0.5);
  assert_int_equal(tg_scheduler_set_epoch(s, -1), -1);
  assert_error_has("scheduler_set_epoch: epoch must be >= 0");
  assert_int_equal(tg_scheduler_step(NULL), -1);
  assert_error_has("scheduler_step: scheduler is NULL");
  assert_true(isnan(tg_scheduler_lr_at(s, -3)));
  assert_error_has("scheduler_lr_at: epoch must be >= 0");
  assert_close(tg_optim_get_lr(opt), 0.1, 0); /* none of that touched the lr */
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_sgd_plain),
      TG_TEST(test_sgd_momentum),
      TG_TEST(test_sgd_dampening),
      TG_TEST(test_sgd_nesterov),
      TG_TEST(test_sgd_weight_decay),
      TG_TEST(test_sgd_lecture_form_by_hand),
      TG_TEST(test_adam),
      TG_TEST(test_adam_weight_decay),
      TG_TEST(test_adam_amsgrad),
      TG_TEST(test_adamw),
      TG_TEST(test_rmsprop_plain),
      TG_TEST(test_rmsprop_momentum),
      TG_TEST(test_rmsprop_centered),
      TG_TEST(test_adagrad_lr_decay),
      TG_TEST(test_float32_every_optimizer),
      TG_TEST(test_params_without_grad_are_skipped),
      TG_TEST(test_zero_grad_keeps_buffers),
      TG_TEST(test_step_allocates_nothing),
      TG_TEST(test_state_names_and_shapes),
      TG_TEST(test_state_round_trip),
      TG_TEST(test_state_load_errors),
      TG_TEST(test_lr_get_set),
      TG_TEST(test_invalid_options),
      TG_TEST(test_invalid_params),
      TG_TEST(test_clip_grad_norm),
      TG_TEST(test_clip_grad_norm_edge_cases),
      TG_TEST(test_clip_grad_value),
      TG_TEST(test_step_lr),
      TG_TEST(test_exponential_lr),
      TG_TEST(test_cosine_annealing_lr),
      TG_TEST(test_scheduler_errors),
      TG_TEST(test_maximize_every_optimizer),
      TG_TEST(test_adamax),
      TG_TEST(test_adadelta),
      TG_TEST(test_adamax_adadelta_invalid_options),
      TG_TEST(test_nadam),
      TG_TEST(test_radam),
      TG_TEST(test_nadam_radam_match_torch),
      TG_TEST(test_nadam_radam_invalid_options),
      TG_TEST(test_sgd_maximize_by_hand),
  };
  int rc = cmocka_run_group_tests_name("optim", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
