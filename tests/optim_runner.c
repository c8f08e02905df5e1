/* The tapegrad half of tests/oracle/optim_oracle.py: optimizers, learning-rate
 * schedulers and BatchNorm1d run over many steps and compared with
 * torch.optim / torch.nn at float64.
 *
 * Reads whitespace-separated tokens from stdin, one case after another, and
 * answers each on stdout. Every case is read whole before it runs, so a case
 * that fails early still leaves the stream in step. Numbers are written by
 * Python's repr and printed here with %.17g: both round-trip exactly.
 *
 *   optim ID NAME  opts K (KEY VALUE)*K  sched SPEC  params P (NDIM S.. VALUES..)*P
 *         steps T (LR NG (I VALUES..)*NG)*T
 *       sched: a scheduler (SPEC below; "0" for none) stepped after each
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
 *   sched ID OPT NG (LR MOM)*NG T SPEC (G_1..G_NG METRIC)*T
 *       An optimizer OPT (SGD, Adam or Adagrad) of NG groups, each one
 *       0-d parameter (starting at 1) with lr LR and momentum MOM (SGD's
 *       momentum, Adam's beta1; unused by Adagrad), a scheduler from SPEC,
 *       then T steps: gradients G set, the optimizer stepped, the scheduler
 *       stepped (ReduceLROnPlateau with METRIC).
 *   -> "res ID ok", then per t = 0 (after construction) .. T "slr t V.." and
 *      "smom t V.." (every group's; NaN without momentum), for t >= 1 "sp t
 *      V.." (the parameters after that step's optimizer step), for
 *      ReduceLROnPlateau "spl t BEST NBAD COOLDOWN"; a failed step prints
 *      "sfail t MESSAGE" and ends the case; then "end". Or "res ID err
 *      MESSAGE".
 *
 *   SPEC: N then N tokens, read by build_sched:
 *     step STEP_SIZE GAMMA | exponential GAMMA | cosine T_MAX ETA_MIN
 *     | linear START END TOTAL | multistep K M.. GAMMA | constant FACTOR TOTAL
 *     | lambda FN A  (FN 0: A^e, 1: 1/(1+A*e), 2: min((e+1)^-.5, (e+1)*A^-1.5))
 *     | onecycle MAX_LR K V.. TOTAL EPOCHS SPE PCT LINEAR CYCLE BASE_M MAX_M DIV
 *       FINAL_DIV THREE  (K per-group max_lrs, or 0 for MAX_LR everywhere)
 *     | plateau MAX FACTOR PATIENCE THRESHOLD ABS COOLDOWN MIN_LR K V.. EPS
 *     | sequential N CHILD.. K M..   (each CHILD a kind as above, made in order)
 *
 *   lbfgs ID ...: L-BFGS with a closure (tests/optim_runner_lbfgs.c)
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

#include "optim_runner.h"

#define MAX_OPTS 16
#define MAX_PARAMS 8

/* ------------------------------------------------------------- tokens */

static char tok_buf[TOK_MAX];

void die(const char *what) {
  fprintf(stderr, "optim_runner: malformed input: %s (at \"%s\")\n", what, tok_buf);
  exit(2);
}

const char *tok(void) {
  if (scanf("%127s", tok_buf) != 1) die("unexpected end of input");
  return tok_buf;
}

double num(void) {
  const char *s = tok();
  char *end;
  double v = strtod(s, &end);
  if (*end) die("expected a number");
  return v;
}

long inum(void) {
  double v = num();
  if (v != floor(v) || fabs(v) > 1e15) die("expected an integer");
  return (long)v;
}

void expect(const char *word) {
  if (strcmp(tok(), word) != 0) die(word);
}

double *nums(size_t n) {
  double *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) die("out of memory");
  for (size_t i = 0; i < n; i++) v[i] = num();
  return v;
}

/* a shape: NDIM then the sizes; returns numel */
size_t read_shape(int *ndim, size_t *shape) {
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

void print_msg(const char *prefix) {
  printf("%s", prefix);
  for (const char *s = tg_last_error(); *s; s++) putchar(*s == '\n' ? ' ' : *s);
  if (!*tg_last_error()) printf("(no message)");
  printf("\n");
}

void print_values(const char *tag, const tg_tensor *t) {
  printf("%s", tag);
  for (size_t i = 0; i < t->numel; i++) printf(" %.17g", tg_get_flat(t, i));
  printf("\n");
}

/* a persistent float64 leaf that requires grad */
tg_tensor *persistent_leaf(int ndim, const size_t *shape, const double *v) {
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

/* ------------------------------------------------ scheduler specs */

/* a scheduler written as tokens (see SPEC above), kept until it is built */
typedef struct sched_spec {
  int n;
  char (*t)[TOK_MAX];
} sched_spec;

static void read_spec(sched_spec *sp) {
  long n = inum();
  if (n < 0 || n > 4096) die("bad spec length");
  sp->n = (int)n;
  sp->t = calloc((size_t)n + 1, sizeof *sp->t);
  if (!sp->t) die("out of memory");
  for (int i = 0; i < sp->n; i++) snprintf(sp->t[i], TOK_MAX, "%s", tok());
}

static void free_spec(sched_spec *sp) { free(sp->t); }

static bool spec_is(const sched_spec *sp, const char *kind) {
  return sp->n > 0 && !strcmp(sp->t[0], kind);
}

typedef struct spec_cursor {
  const sched_spec *sp;
  int i;
} spec_cursor;

static const char *sc_tok(spec_cursor *c) {
  if (c->i >= c->sp->n) die("spec too short");
  return c->sp->t[c->i++];
}

static double sc_num(spec_cursor *c) {
  const char *s = sc_tok(c);
  char *end;
  double v = strtod(s, &end);
  if (*end) die("expected a number in a spec");
  return v;
}

static long sc_int(spec_cursor *c) {
  double v = sc_num(c);
  if (v != floor(v) || fabs(v) > 1e15) die("expected an integer in a spec");
  return (long)v;
}

/* K then K values (K <= MAX_PARAMS) */
static int sc_list(spec_cursor *c, double *v) {
  long k = sc_int(c);
  if (k < 0 || k > MAX_PARAMS) die("bad list length in a spec");
  for (long i = 0; i < k; i++) v[i] = sc_num(c);
  return (int)k;
}

/* LambdaLR's factors, torch's lambdas in tests/oracle/optim_oracle_sched.py */
typedef struct lambda_ctx {
  int fn;
  double a;
} lambda_ctx;

static double lambda_factor(long epoch, void *ctx) {
  const lambda_ctx *l = ctx;
  double e = (double)epoch;
  if (l->fn == 0) return pow(l->a, e);
  if (l->fn == 1) return 1 / (1 + l->a * e);
  return fmin(pow(e + 1, -0.5), (e + 1) * pow(l->a, -1.5));
}

#define MAX_LAMBDAS 16
static lambda_ctx lambdas[MAX_LAMBDAS];
static int n_lambdas;

static tg_lr_scheduler *build_sched(tg_optimizer *opt, spec_cursor *c);

static tg_lr_scheduler *build_sequential(tg_optimizer *opt, spec_cursor *c) {
  long n = sc_int(c);
  if (n < 0 || n > MAX_PARAMS) die("bad child count");
  tg_lr_scheduler *ch[MAX_PARAMS];
  bool ok = true;
  for (long i = 0; i < n; i++) { /* every child read, even after a refusal */
    ch[i] = build_sched(opt, c);
    ok = ok && ch[i];
  }
  double mv[MAX_PARAMS];
  int k = sc_list(c, mv);
  long ms[MAX_PARAMS];
  for (int i = 0; i < k; i++) ms[i] = (long)mv[i];
  tg_lr_scheduler *s = ok ? tg_sequential_lr_new(opt, ch, (int)n, ms, k) : NULL;
  if (!s)
    for (long i = 0; i < n; i++) tg_scheduler_free(ch[i]); /* still ours on failure */
  return s;
}

static tg_lr_scheduler *build_one_cycle(tg_optimizer *opt, spec_cursor *c) {
  tg_one_cycle_opts o = tg_one_cycle_defaults();
  double max_lrs[MAX_PARAMS];
  o.max_lr = sc_num(c);
  o.n_max_lrs = sc_list(c, max_lrs);
  o.max_lrs = o.n_max_lrs ? max_lrs : NULL;
  o.total_steps = sc_int(c), o.epochs = sc_int(c), o.steps_per_epoch = sc_int(c);
  o.pct_start = sc_num(c);
  o.anneal_strategy = sc_int(c) ? TG_ANNEAL_LINEAR : TG_ANNEAL_COS;
  o.cycle_momentum = sc_int(c) != 0;
  o.base_momentum = sc_num(c), o.max_momentum = sc_num(c);
  o.div_factor = sc_num(c), o.final_div_factor = sc_num(c);
  o.three_phase = sc_int(c) != 0;
  return tg_one_cycle_lr_new(opt, o);
}

static tg_lr_scheduler *build_plateau(tg_optimizer *opt, spec_cursor *c) {
  tg_plateau_opts o = tg_plateau_defaults();
  double min_lrs[MAX_PARAMS];
  o.mode = sc_int(c) ? TG_PLATEAU_MAX : TG_PLATEAU_MIN;
  o.factor = sc_num(c);
  o.patience = sc_int(c);
  o.threshold = sc_num(c);
  o.threshold_mode = sc_int(c) ? TG_THRESHOLD_ABS : TG_THRESHOLD_REL;
  o.cooldown = sc_int(c);
  o.min_lr = sc_num(c);
  o.n_min_lrs = sc_list(c, min_lrs);
  o.min_lrs = o.n_min_lrs ? min_lrs : NULL;
  o.eps = sc_num(c);
  return tg_reduce_lr_on_plateau_new(opt, o);
}

/* NULL with tg_last_error on refusal */
static tg_lr_scheduler *build_sched(tg_optimizer *opt, spec_cursor *c) {
  const char *kind = sc_tok(c);
  if (!strcmp(kind, "step")) {
    long a = sc_int(c);
    return tg_step_lr_new(opt, a, sc_num(c));
  }
  if (!strcmp(kind, "exponential")) return tg_exponential_lr_new(opt, sc_num(c));
  if (!strcmp(kind, "cosine")) {
    long a = sc_int(c);
    return tg_cosine_annealing_lr_new(opt, a, sc_num(c));
  }
  if (!strcmp(kind, "linear")) {
    double a = sc_num(c), b = sc_num(c);
    return tg_linear_lr_new(opt, a, b, sc_int(c));
  }
  if (!strcmp(kind, "multistep")) {
    double mv[MAX_PARAMS];
    long ms[MAX_PARAMS];
    int k = sc_list(c, mv);
    for (int i = 0; i < k; i++) ms[i] = (long)mv[i];
    return tg_multi_step_lr_new(opt, ms, k, sc_num(c));
  }
  if (!strcmp(kind, "constant")) {
    double f = sc_num(c);
    return tg_constant_lr_new(opt, f, sc_int(c));
  }
  if (!strcmp(kind, "lambda")) {
    if (n_lambdas == MAX_LAMBDAS) die("too many lambdas");
    lambda_ctx *l = &lambdas[n_lambdas++];
    l->fn = (int)sc_int(c);
    l->a = sc_num(c);
    return tg_lambda_lr_new(opt, lambda_factor, l);
  }
  if (!strcmp(kind, "onecycle")) return build_one_cycle(opt, c);
  if (!strcmp(kind, "plateau")) return build_plateau(opt, c);
  if (!strcmp(kind, "sequential")) return build_sequential(opt, c);
  die("unknown scheduler");
  return NULL;
}

static tg_lr_scheduler *make_scheduler(tg_optimizer *opt, const sched_spec *sp) {
  n_lambdas = 0;
  spec_cursor c = {sp, 0};
  tg_lr_scheduler *s = build_sched(opt, &c);
  if (c.i != sp->n) die("spec too long");
  return s;
}

/* NG groups of one parameter each, with their own lr and momentum (beta1) */
static tg_optimizer *make_group_optimizer(const char *name, tg_tensor **ps, int ng,
                                          const double *lr, const double *mom) {
  tg_optimizer *opt = NULL;
  for (int g = 0; g < ng; g++) {
    int rc = 0;
    if (!strcmp(name, "SGD")) {
      tg_sgd_opts o = {.lr = lr[g], .momentum = mom[g]};
      rc = g ? tg_sgd_add_param_group(opt, &ps[g], 1, o) : ((opt = tg_sgd_new(ps, 1, o)) ? 0 : -1);
    } else if (!strcmp(name, "Adam")) {
      tg_adam_opts o = tg_adam_defaults();
      o.lr = lr[g], o.beta1 = mom[g];
      rc = g ? tg_adam_add_param_group(opt, &ps[g], 1, o) : ((opt = tg_adam_new(ps, 1, o)) ? 0 : -1);
    } else if (!strcmp(name, "Adagrad")) {
      tg_adagrad_opts o = tg_adagrad_defaults();
      o.lr = lr[g];
      rc = g ? tg_adagrad_add_param_group(opt, &ps[g], 1, o) : ((opt = tg_adagrad_new(ps, 1, o)) ? 0 : -1);
    } else {
      die("unknown optimizer of a scheduler case");
    }
    if (rc != 0) die("cannot make the optimizer of a scheduler case");
  }
  return opt;
}

static void print_row(const char *tag, long t, int n, const double *v) {
  printf("%s %ld", tag, t);
  for (int i = 0; i < n; i++) printf(" %.17g", v[i]);
  printf("\n");
}

/* every group's lr and momentum (NaN where there is none), the parameters
 * (ps non-NULL), ReduceLROnPlateau's state */
static void print_sched_state(const tg_optimizer *opt, const tg_lr_scheduler *s, long t,
                              tg_tensor *const *ps) {
  int ng = tg_optim_num_groups(opt);
  double v[MAX_PARAMS];
  for (int g = 0; g < ng; g++) v[g] = tg_optim_get_group_lr(opt, g);
  print_row("slr", t, ng, v);
  for (int g = 0; g < ng; g++) v[g] = tg_optim_get_group_momentum(opt, g);
  tg_clear_error();
  print_row("smom", t, ng, v);
  if (ps) {
    for (int g = 0; g < ng; g++) v[g] = tg_get_flat(ps[g], 0);
    print_row("sp", t, ng, v);
  }
  tg_plateau_state st;
  if (tg_reduce_lr_on_plateau_state(s, &st) == 0)
    printf("spl %ld %.17g %ld %ld\n", t, st.best, st.num_bad_epochs, st.cooldown_counter);
  tg_clear_error();
}

typedef struct step_grads {
  double lr;
  int n;
  int idx[MAX_PARAMS];
  double *g[MAX_PARAMS];
} step_grads;

typedef struct optim_case {
  char id[TOK_MAX], name[TOK_MAX];
  opt_options opts;
  sched_spec sched;
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
  read_spec(&c->sched);
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
  free_spec(&c->sched);
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
  if (opt && c.sched.n > 0 && !(sched = make_scheduler(opt, &c.sched))) {
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
  char id[TOK_MAX], name[TOK_MAX];
  snprintf(id, sizeof id, "%s", tok());
  snprintf(name, sizeof name, "%s", tok());
  long ng = inum();
  if (ng < 1 || ng > MAX_PARAMS) die("bad group count");
  double lr[MAX_PARAMS], mom[MAX_PARAMS];
  for (long g = 0; g < ng; g++) lr[g] = num(), mom[g] = num();
  long steps = inum();
  if (steps < 0) die("bad step count");
  sched_spec spec;
  read_spec(&spec);
  double *vals = nums((size_t)steps * (size_t)(ng + 1)); /* per step: ng gradients, the metric */
  tg_tensor *ps[MAX_PARAMS];
  for (long g = 0; g < ng; g++)
    if (!(ps[g] = persistent_leaf(0, NULL, (double[]){1}))) die("cannot make a parameter");
  tg_clear_error();
  tg_optimizer *opt = make_group_optimizer(name, ps, (int)ng, lr, mom);
  if (!opt) die("cannot make the optimizer of a scheduler case");
  tg_lr_scheduler *s = make_scheduler(opt, &spec);
  if (!s) {
    printf("res %s err ", id);
    print_msg("");
  } else {
    printf("res %s ok\n", id);
    print_sched_state(opt, s, 0, NULL);
    for (long t = 0; t < steps; t++) {
      const double *v = vals + t * (ng + 1);
      int rc = 0;
      for (long g = 0; g < ng && rc == 0; g++) {
        tg_scope_begin();
        if (ps[g]->grad) rc = tg_zero_grad(ps[g]);
        tg_tensor *gt = tg_from_f64(0, NULL, &v[g]);
        rc = rc ? rc : tg_backward(tg_mul(ps[g], gt), NULL, false);
        tg_scope_end();
      }
      rc = rc ? rc : tg_optim_step(opt);
      if (rc == 0)
        rc = spec_is(&spec, "plateau") ? tg_reduce_lr_on_plateau_step(s, v[ng]) : tg_scheduler_step(s);
      if (rc != 0) {
        printf("sfail %ld ", t + 1);
        print_msg("");
        break;
      }
      print_sched_state(opt, s, t + 1, ps);
    }
  }
  printf("end\n");
  tg_scheduler_free(s);
  tg_optim_free(opt);
  for (long g = 0; g < ng; g++) tg_free(ps[g]);
  free(vals);
  free_spec(&spec);
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
    else if (!strcmp(cmd, "lbfgs")) run_lbfgs_case();
    else {
      snprintf(tok_buf, sizeof tok_buf, "%s", cmd);
      die("unknown case kind");
    }
    fflush(stdout);
  }
  tg_release_cached();
  return 0;
}
