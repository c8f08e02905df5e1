/* The tapegrad half of tests/oracle/optim_oracle.py: optimizers, learning-rate
 * schedulers and BatchNorm1d run over many steps and compared with
 * torch.optim / torch.nn at float64.
 *
 * Reads whitespace-separated tokens from stdin, one case after another, and
 * answers each on stdout. Every case is read whole before it runs, so a case
 * that fails early still leaves the stream in step. Numbers are written by
 * Python's repr and printed here with %.17g: both round-trip exactly.
 *
 *   optim ID NAME  opts K (KEY VALUE)*K  sched KIND A B  params P (NDIM S.. VALUES..)*P
 *         steps T (LR NG (I VALUES..)*NG)*T
 *       sched: a scheduler (as below; KIND none for none) stepped after each
 *       optimizer step.
 *       LR: the lr to set before the step, or nan to keep it. Parameters not
 *       among the NG get no gradient that step (.grad NULL, torch's None).
 *   -> "res ID ok", after each step t a line "p t I V.." per parameter, at the
 *      end "state NAME V.." per state entry, then "end"; a failed step prints
 *      "fail MESSAGE" instead and ends the case. A refused constructor gives
 *      "res ID err MESSAGE" and nothing more.
 *      (Parameter groups would come as a "groups" section after params, each
 *      group a list of parameter indices and its own opts; make_optimizer is
 *      the one place that would read it.)
 *
 *   sched ID KIND LR0 T A B   KIND step (A step_size, B gamma), exponential
 *         (A gamma), cosine (A t_max, B eta_min); T scheduler steps
 *   -> "res ID ok", "lrs V0 .. VT" (the lr after construction and after each
 *      step), "end"; or "res ID err MESSAGE".
 *
 *   bn ID C EPS MOMENTUM AFFINE T  [W.. B..]  (TRAIN NDIM S.. VIEW X.. G..)*T
 *       MOMENTUM nan: cumulative average (torch's None). The weight and bias
 *       (when AFFINE) are loaded first. Each step runs the module on X (base
 *       shape S; VIEW t: the last two dims transposed) in train or eval mode
 *       and backpropagates sum(y * G).
 *   -> "res ID ok", per step "y V..", "gx V.." (of the base), "gw"/"gb" (or
 *      "gw none"), "rm V..", "rv V..", "nbt N"; a step that fails prints
 *      "fail MESSAGE" and ends the case; then "end".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

#define TOK_MAX 128
#define MAX_OPTS 16
#define MAX_PARAMS 8

/* ------------------------------------------------------------- tokens */

static char tok_buf[TOK_MAX];

static void die(const char *what) {
  fprintf(stderr, "optim_runner: malformed input: %s (at \"%s\")\n", what, tok_buf);
  exit(2);
}

static const char *tok(void) {
  if (scanf("%127s", tok_buf) != 1) die("unexpected end of input");
  return tok_buf;
}

static double num(void) {
  const char *s = tok();
  char *end;
  double v = strtod(s, &end);
  if (*end) die("expected a number");
  return v;
}

static long inum(void) {
  double v = num();
  if (v != floor(v) || fabs(v) > 1e15) die("expected an integer");
  return (long)v;
}

static void expect(const char *word) {
  if (strcmp(tok(), word) != 0) die(word);
}

static double *nums(size_t n) {
  double *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) die("out of memory");
  for (size_t i = 0; i < n; i++) v[i] = num();
  return v;
}

/* a shape: NDIM then the sizes; returns numel */
static size_t read_shape(int *ndim, size_t *shape) {
  long nd = inum();
  if (nd < 0 || nd > TG_MAX_DIMS) die("bad ndim");
  *ndim = (int)nd;
  size_t numel = 1;
  for (int d = 0; d < *ndim; d++) {
    long s = inum();
    if (s < 0) die("bad size");
    shape[d] = (size_t)s;
    numel *= shape[d];
  }
  return numel;
}

/* ------------------------------------------------------------ output */

static void print_msg(const char *prefix) {
  printf("%s", prefix);
  for (const char *s = tg_last_error(); *s; s++) putchar(*s == '\n' ? ' ' : *s);
  if (!*tg_last_error()) printf("(no message)");
  printf("\n");
}

static void print_values(const char *tag, const tg_tensor *t) {
  printf("%s", tag);
  for (size_t i = 0; i < t->numel; i++) printf(" %.17g", tg_get_flat(t, i));
  printf("\n");
}

/* a persistent float64 leaf that requires grad */
static tg_tensor *persistent_leaf(int ndim, const size_t *shape, const double *v) {
  tg_tensor *t = tg_from_f64(ndim, shape, v);
  return t ? tg_requires_grad_(t, true) : NULL;
}

/* -------------------------------------------------------- optimizers */

typedef struct kv {
  char key[32];
  double v;
  bool used;
} kv;

typedef struct opt_options {
  kv o[MAX_OPTS];
  int n;
} opt_options;

/* sets *dst from the option key when the case gives it (else the default stays) */
static void opt_f(opt_options *o, const char *key, double *dst) {
  for (int i = 0; i < o->n; i++)
    if (!strcmp(o->o[i].key, key)) {
      *dst = o->o[i].v;
      o->o[i].used = true;
    }
}

static void opt_b(opt_options *o, const char *key, bool *dst) {
  double v = *dst;
  opt_f(o, key, &v);
  *dst = v != 0;
}

/* the options of Adam and its variants; torch's betas=(b1, b2) arrive as two */
#define OPT_ADAM_LIKE(o, x)                                                        \
  (opt_f(o, "lr", &(x).lr), opt_f(o, "beta1", &(x).beta1), opt_f(o, "beta2", &(x).beta2), \
   opt_f(o, "eps", &(x).eps), opt_f(o, "weight_decay", &(x).weight_decay))

static tg_optimizer *make_optimizer(const char *name, opt_options *o, tg_tensor **ps, int n) {
  tg_optimizer *opt = NULL;
  if (!strcmp(name, "SGD")) {
    tg_sgd_opts x = tg_sgd_defaults();
    opt_f(o, "lr", &x.lr), opt_f(o, "momentum", &x.momentum), opt_f(o, "dampening", &x.dampening);
    opt_f(o, "weight_decay", &x.weight_decay), opt_b(o, "nesterov", &x.nesterov);
    opt_b(o, "maximize", &x.maximize);
    opt = tg_sgd_new(ps, n, x);
  } else if (!strcmp(name, "Adam") || !strcmp(name, "AdamW")) {
    bool w = name[4] == 'W';
    tg_adam_opts x = w ? tg_adamw_defaults() : tg_adam_defaults();
    OPT_ADAM_LIKE(o, x), opt_b(o, "amsgrad", &x.amsgrad), opt_b(o, "maximize", &x.maximize);
    opt = w ? tg_adamw_new(ps, n, x) : tg_adam_new(ps, n, x);
  } else if (!strcmp(name, "RMSprop")) {
    tg_rmsprop_opts x = tg_rmsprop_defaults();
    opt_f(o, "lr", &x.lr), opt_f(o, "alpha", &x.alpha), opt_f(o, "eps", &x.eps);
    opt_f(o, "weight_decay", &x.weight_decay), opt_f(o, "momentum", &x.momentum);
    opt_b(o, "centered", &x.centered), opt_b(o, "maximize", &x.maximize);
    opt = tg_rmsprop_new(ps, n, x);
  } else if (!strcmp(name, "Adagrad")) {
    tg_adagrad_opts x = tg_adagrad_defaults();
    opt_f(o, "lr", &x.lr), opt_f(o, "lr_decay", &x.lr_decay);
    opt_f(o, "weight_decay", &x.weight_decay);
    opt_f(o, "initial_accumulator_value", &x.initial_accumulator_value);
    opt_f(o, "eps", &x.eps), opt_b(o, "maximize", &x.maximize);
    opt = tg_adagrad_new(ps, n, x);
  } else if (!strcmp(name, "Adamax")) {
    tg_adamax_opts x = tg_adamax_defaults();
    OPT_ADAM_LIKE(o, x), opt_b(o, "maximize", &x.maximize);
    opt = tg_adamax_new(ps, n, x);
  } else if (!strcmp(name, "Adadelta")) {
    tg_adadelta_opts x = tg_adadelta_defaults();
    opt_f(o, "lr", &x.lr), opt_f(o, "rho", &x.rho), opt_f(o, "eps", &x.eps);
    opt_f(o, "weight_decay", &x.weight_decay), opt_b(o, "maximize", &x.maximize);
    opt = tg_adadelta_new(ps, n, x);
  } else if (!strcmp(name, "NAdam")) {
    tg_nadam_opts x = tg_nadam_defaults();
    OPT_ADAM_LIKE(o, x), opt_f(o, "momentum_decay", &x.momentum_decay);
    opt = tg_nadam_new(ps, n, x);
  } else if (!strcmp(name, "RAdam")) {
    tg_radam_opts x = tg_radam_defaults();
    OPT_ADAM_LIKE(o, x);
    opt = tg_radam_new(ps, n, x);
  } else {
    die("unknown optimizer");
  }
  for (int i = 0; i < o->n; i++) /* an option this optimizer has not got: the driver's bug */
    if (!o->o[i].used) {
      snprintf(tok_buf, sizeof tok_buf, "%s", o->o[i].key);
      die("option unknown to the optimizer");
    }
  return opt;
}

typedef struct step_grads {
  double lr;
  int n;
  int idx[MAX_PARAMS];
  double *g[MAX_PARAMS];
} step_grads;

typedef struct optim_case {
  char id[TOK_MAX], name[TOK_MAX], sched[TOK_MAX];
  opt_options opts;
  double sched_a, sched_b;
  int n_params;
  int ndim[MAX_PARAMS];
  size_t shape[MAX_PARAMS][TG_MAX_DIMS], numel[MAX_PARAMS];
  double *p0[MAX_PARAMS];
  long n_steps;
  step_grads *steps;
} optim_case;

static void read_optim_case(optim_case *c) {
  snprintf(c->id, sizeof c->id, "%s", tok());
  snprintf(c->name, sizeof c->name, "%s", tok());
  expect("opts");
  long k = inum();
  if (k < 0 || k > MAX_OPTS) die("too many options");
  c->opts.n = (int)k;
  for (int i = 0; i < c->opts.n; i++) {
    snprintf(c->opts.o[i].key, sizeof c->opts.o[i].key, "%.31s", tok());
    c->opts.o[i].v = num();
  }
  expect("sched");
  snprintf(c->sched, sizeof c->sched, "%s", tok());
  c->sched_a = num();
  c->sched_b = num();
  expect("params");
  k = inum();
  if (k < 1 || k > MAX_PARAMS) die("bad parameter count");
  c->n_params = (int)k;
  for (int i = 0; i < c->n_params; i++) {
    c->numel[i] = read_shape(&c->ndim[i], c->shape[i]);
    c->p0[i] = nums(c->numel[i]);
  }
  expect("steps");
  c->n_steps = inum();
  if (c->n_steps < 0) die("bad step count");
  c->steps = calloc((size_t)c->n_steps + 1, sizeof *c->steps);
  if (!c->steps) die("out of memory");
  for (long t = 0; t < c->n_steps; t++) {
    step_grads *s = &c->steps[t];
    s->lr = num();
    long ng = inum();
    if (ng < 0 || ng > c->n_params) die("bad gradient count");
    s->n = (int)ng;
    for (int j = 0; j < s->n; j++) {
      long i = inum();
      if (i < 0 || i >= c->n_params) die("bad parameter index");
      s->idx[j] = (int)i;
      s->g[j] = nums(c->numel[i]);
    }
  }
}

static void free_optim_case(optim_case *c) {
  for (int i = 0; i < c->n_params; i++) free(c->p0[i]);
  for (long t = 0; t < c->n_steps; t++)
    for (int j = 0; j < c->steps[t].n; j++) free(c->steps[t].g[j]);
  free(c->steps);
}

/* Gives each listed parameter exactly the driver's gradient and every other
 * one none. tapegrad has no set_to_none: a gradient that must be absent is
 * freed and unlinked here (the runner owns these leaves). The present ones
 * come from backward of sum_i <p_i, G_i>, which accumulates G_i * 1 onto a
 * zeroed .grad: exact. */
static int set_grads(tg_tensor **ps, const optim_case *c, const step_grads *s) {
  for (int i = 0; i < c->n_params; i++) {
    bool listed = false;
    for (int j = 0; j < s->n; j++) listed = listed || s->idx[j] == i;
    if (!listed && ps[i]->grad) {
      tg_tensor *g = ps[i]->grad;
      ps[i]->grad = NULL;
      tg_free(g);
    } else if (listed && ps[i]->grad && tg_zero_grad(ps[i]) != 0) {
      return -1;
    }
  }
  if (s->n == 0) return 0;
  tg_scope_begin();
  tg_tensor *loss = NULL;
  for (int j = 0; j < s->n; j++) {
    int i = s->idx[j];
    tg_tensor *g = tg_from_f64(c->ndim[i], c->shape[i], s->g[j]);
    tg_tensor *term = tg_sum(tg_mul(ps[i], g));
    loss = loss ? tg_add(loss, term) : term;
  }
  int rc = loss ? tg_backward(loss, NULL, false) : -1;
  tg_scope_end();
  return rc;
}

/* KIND A B as the sched case reads them; NULL with tg_last_error on refusal */
static tg_lr_scheduler *make_scheduler(tg_optimizer *opt, const char *kind, double a, double b) {
  if (!strcmp(kind, "step")) return tg_step_lr_new(opt, (long)a, b);
  if (!strcmp(kind, "exponential")) return tg_exponential_lr_new(opt, a);
  if (!strcmp(kind, "cosine")) return tg_cosine_annealing_lr_new(opt, (long)a, b);
  die("unknown scheduler");
  return NULL;
}

static void run_optim_case(void) {
  optim_case c = {0};
  read_optim_case(&c);
  tg_tensor *ps[MAX_PARAMS] = {0};
  for (int i = 0; i < c.n_params; i++) {
    ps[i] = persistent_leaf(c.ndim[i], c.shape[i], c.p0[i]);
    if (!ps[i]) die("cannot make a parameter");
  }
  tg_clear_error();
  tg_optimizer *opt = make_optimizer(c.name, &c.opts, ps, c.n_params);
  tg_lr_scheduler *sched = NULL;
  if (opt && strcmp(c.sched, "none") != 0 &&
      !(sched = make_scheduler(opt, c.sched, c.sched_a, c.sched_b))) {
    tg_optim_free(opt);
    opt = NULL;
  }
  if (!opt) {
    printf("res %s err ", c.id);
    print_msg("");
  } else {
    printf("res %s ok\n", c.id);
    bool failed = false;
    for (long t = 0; t < c.n_steps && !failed; t++) {
      const step_grads *s = &c.steps[t];
      failed = (!isnan(s->lr) && tg_optim_set_lr(opt, s->lr) != 0) ||
               set_grads(ps, &c, s) != 0 || tg_optim_step(opt) != 0 ||
               (sched && tg_scheduler_step(sched) != 0);
      if (failed) {
        print_msg("fail ");
        break;
      }
      for (int i = 0; i < c.n_params; i++) {
        char tag[48];
        snprintf(tag, sizeof tag, "p %ld %d", t, i);
        print_values(tag, ps[i]);
      }
    }
    for (size_t e = 0; !failed && e < tg_optim_state_count(opt); e++) {
      const char *name;
      tg_tensor *st = tg_optim_state_at(opt, e, &name);
      char tag[64];
      snprintf(tag, sizeof tag, "state %s", name);
      print_values(tag, st);
    }
    printf("end\n");
    tg_scheduler_free(sched);
    tg_optim_free(opt);
  }
  for (int i = 0; i < c.n_params; i++) tg_free(ps[i]);
  free_optim_case(&c);
}

/* -------------------------------------------------------- schedulers */

static void run_sched_case(void) {
  char id[TOK_MAX], kind[TOK_MAX];
  snprintf(id, sizeof id, "%s", tok());
  snprintf(kind, sizeof kind, "%s", tok());
  double lr0 = num();
  long steps = inum();
  double a = num(), b = num();
  tg_tensor *p = persistent_leaf(0, NULL, (double[]){0});
  tg_sgd_opts o = tg_sgd_defaults();
  o.lr = lr0;
  tg_optimizer *opt = p ? tg_sgd_new(&p, 1, o) : NULL;
  if (!opt) die("cannot make the optimizer of a scheduler case");
  tg_clear_error();
  tg_lr_scheduler *s = make_scheduler(opt, kind, a, b);
  if (!s) {
    printf("res %s err ", id);
    print_msg("");
  } else {
    printf("res %s ok\nlrs %.17g", id, tg_optim_get_lr(opt));
    for (long t = 0; t < steps; t++) {
      if (tg_scheduler_step(s) != 0) die("scheduler step failed");
      printf(" %.17g", tg_optim_get_lr(opt));
    }
    printf("\nend\n");
  }
  tg_scheduler_free(s);
  tg_optim_free(opt);
  tg_free(p);
}

/* --------------------------------------------------------- BatchNorm */

typedef struct bn_step {
  bool train, transposed;
  int ndim;
  size_t shape[TG_MAX_DIMS], numel;
  double *x, *g;
} bn_step;

static void print_grad(const char *tag, const tg_tensor *t) {
  if (t && t->grad) print_values(tag, t->grad);
  else printf("%s none\n", tag);
}

/* one step in its own scope; -1 with tg_last_error set on failure */
static int run_bn_step(tg_module *m, const bn_step *s) {
  tg_module_train(m, s->train);
  tg_scope_begin();
  tg_tensor *x = tg_requires_grad_(tg_from_f64(s->ndim, s->shape, s->x), true);
  tg_tensor *v = s->transposed && x ? tg_transpose(x, -2, -1) : x;
  tg_tensor *y = v ? tg_module_forward(m, v) : NULL;
  tg_tensor *g = y ? tg_from_f64(y->ndim, y->shape, s->g) : NULL;
  int rc = -1;
  if (g && g->numel == s->numel && tg_backward(tg_sum(tg_mul(y, g)), NULL, false) == 0) {
    print_values("y", y);
    print_grad("gx", x);
    print_grad("gw", tg_module_get(m, "weight"));
    print_grad("gb", tg_module_get(m, "bias"));
    print_values("rm", tg_module_get(m, "running_mean"));
    print_values("rv", tg_module_get(m, "running_var"));
    printf("nbt %.17g\n", tg_get_flat(tg_module_get(m, "num_batches_tracked"), 0));
    rc = tg_module_zero_grad(m);
  }
  tg_scope_end();
  return rc;
}

static void run_bn_case(void) {
  char id[TOK_MAX];
  snprintf(id, sizeof id, "%s", tok());
  long c = inum();
  double eps = num(), momentum = num();
  bool affine = inum() != 0;
  long steps = inum();
  if (c < 1 || steps < 0) die("bad BatchNorm case");
  double *w = affine ? nums((size_t)c) : NULL, *b = affine ? nums((size_t)c) : NULL;
  bn_step *st = calloc((size_t)steps + 1, sizeof *st);
  if (!st) die("out of memory");
  for (long t = 0; t < steps; t++) {
    st[t].train = inum() != 0;
    st[t].numel = read_shape(&st[t].ndim, st[t].shape);
    st[t].transposed = !strcmp(tok(), "t");
    st[t].x = nums(st[t].numel);
    st[t].g = nums(st[t].numel);
  }
  tg_clear_error();
  tg_module *m = tg_nn_batchnorm1d((size_t)c, eps, momentum, affine);
  if (m && tg_module_to_(m, TG_FLOAT64) != 0) {
    tg_module_free(m);
    m = NULL;
  }
  if (m && affine) {
    tg_tensor *wt = tg_from_f64(1, (size_t[]){(size_t)c}, w);
    tg_tensor *bt = tg_from_f64(1, (size_t[]){(size_t)c}, b);
    if (!wt || !bt || tg_copy_(tg_module_get(m, "weight"), wt) != 0 ||
        tg_copy_(tg_module_get(m, "bias"), bt) != 0)
      die("cannot load the BatchNorm weight");
    tg_free(wt);
    tg_free(bt);
  }
  if (!m) {
    printf("res %s err ", id);
    print_msg("");
  } else {
    printf("res %s ok\n", id);
    for (long t = 0; t < steps; t++)
      if (run_bn_step(m, &st[t]) != 0) {
        print_msg("fail ");
        break;
      }
    printf("end\n");
    tg_module_free(m);
  }
  for (long t = 0; t < steps; t++) {
    free(st[t].x);
    free(st[t].g);
  }
  free(st);
  free(w);
  free(b);
}

int main(void) {
  char cmd[TOK_MAX];
  while (scanf("%127s", cmd) == 1) {
    if (!strcmp(cmd, "optim")) run_optim_case();
    else if (!strcmp(cmd, "sched")) run_sched_case();
    else if (!strcmp(cmd, "bn")) run_bn_case();
    else {
      snprintf(tok_buf, sizeof tok_buf, "%s", cmd);
      die("unknown case kind");
    }
    fflush(stdout);
  }
  tg_release_cached();
  return 0;
}
