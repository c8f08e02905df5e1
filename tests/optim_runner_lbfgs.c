/* The L-BFGS part of tests/optim_runner (tests/oracle/optim_oracle_lbfgs.py):
 *
 *   lbfgs ID PROBLEM LR MAX_ITER MAX_EVAL TOL_GRAD TOL_CHANGE HISTORY LS
 *         data K (NDIM S.. VALUES..)*K  params P (NDIM S.. VALUES..)*P  steps T
 *       PROBLEM rosen: Rosenbrock over the parameters flattened and
 *       concatenated in order (no data); linear: sum(w * x) of them (data
 *       w); mlp: mean((tanh(X W1^T + b1) W2^T +
 *       b2 - Y)^2) with data X, Y and parameters W1, b1, W2, b2. LS 0 none,
 *       1 strong_wolfe (anything else is passed on, to be refused).
 *       T steps of tg_lbfgs_step with a closure that zeroes the gradients,
 *       evaluates the loss and backpropagates it.
 *   -> "res ID ok", per step t "loss t V" and "p t I V.." per parameter, at
 *      the end "state NAME V.." per state entry, then "end"; a failed step
 *      prints "fail MESSAGE" and ends the case. A refused constructor gives
 *      "res ID err MESSAGE". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim_runner.h"

#define LBFGS_MAX_TENSORS 16

typedef enum { P_ROSEN, P_LINEAR, P_MLP } problem_kind;

typedef struct lbfgs_case {
  char id[TOK_MAX];
  problem_kind problem;
  tg_lbfgs_opts o;
  int n_data, n_params;
  tg_tensor *data[LBFGS_MAX_TENSORS], *ps[LBFGS_MAX_TENSORS];
  tg_optimizer *opt;
} lbfgs_case;

/* K tensors, each NDIM S.. VALUES..; leaves that require grad when params */
static int read_tensors(tg_tensor **out, bool params) {
  long k = inum();
  if (k < 0 || k > LBFGS_MAX_TENSORS) die("bad tensor count");
  for (int i = 0; i < (int)k; i++) {
    int ndim;
    size_t shape[TG_MAX_DIMS];
    size_t n = read_shape(&ndim, shape);
    double *v = nums(n);
    out[i] = params ? persistent_leaf(ndim, shape, v) : tg_from_f64(ndim, shape, v);
    free(v);
    if (!out[i]) die("cannot make a tensor");
  }
  return (int)k;
}

/* the parameters flattened and concatenated, (n,) */
static tg_tensor *flat_params(const lbfgs_case *c) {
  tg_tensor *flat[LBFGS_MAX_TENSORS];
  for (int i = 0; i < c->n_params; i++)
    flat[i] = tg_reshape(c->ps[i], 1, (size_t[]){c->ps[i]->numel});
  return c->n_params == 1 ? flat[0] : tg_cat(c->n_params, flat, 0);
}

/* sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2; x (n,) */
static tg_tensor *rosenbrock(const lbfgs_case *c) {
  tg_tensor *x = flat_params(c);
  if (!x) return NULL;
  size_t n = x->numel;
  tg_tensor *lo = tg_narrow(x, 0, 0, n - 1), *hi = tg_narrow(x, 0, 1, n - 1);
  return tg_sum(tg_add(tg_mul_scalar(tg_square(tg_sub(hi, tg_square(lo))), 100),
                       tg_square(tg_rsub_scalar(lo, 1))));
}

/* mean((tanh(X W1^T + b1) W2^T + b2 - Y)^2); X (R,4), W1 (8,4), W2 (1,8), Y (R,1) */
static tg_tensor *mlp_loss(const lbfgs_case *c) {
  tg_tensor *const *p = c->ps;
  tg_tensor *h = tg_tanh(tg_add(tg_matmul(c->data[0], tg_t(p[0])), p[1]));
  tg_tensor *out = tg_add(tg_matmul(h, tg_t(p[2])), p[3]);
  return tg_mean(tg_square(tg_sub(out, c->data[1])));
}

static double closure(void *ctx) {
  lbfgs_case *c = ctx;
  if (tg_optim_zero_grad(c->opt) != 0) return NAN;
  tg_scope_begin();
  tg_tensor *loss = c->problem == P_MLP      ? mlp_loss(c)
                    : c->problem == P_LINEAR ? tg_sum(tg_mul(flat_params(c), c->data[0])) /* sum(w*x) */
                                             : rosenbrock(c);
  double v = loss && tg_backward(loss, NULL, false) == 0 ? tg_item(loss) : NAN;
  tg_scope_end();
  return v;
}

static void print_state(const tg_optimizer *opt) {
  for (size_t e = 0; e < tg_optim_state_count(opt); e++) {
    const char *name;
    tg_tensor *st = tg_optim_state_at(opt, e, &name);
    char tag[64];
    snprintf(tag, sizeof tag, "state %s", name);
    print_values(tag, st);
  }
}

void run_lbfgs_case(void) {
  lbfgs_case c = {0};
  snprintf(c.id, sizeof c.id, "%s", tok());
  const char *problem = tok();
  if (!strcmp(problem, "mlp")) c.problem = P_MLP;
  else if (!strcmp(problem, "linear")) c.problem = P_LINEAR;
  else if (strcmp(problem, "rosen")) die("unknown L-BFGS problem");
  c.o.lr = num();
  c.o.max_iter = (int)inum();
  c.o.max_eval = (int)inum();
  c.o.tolerance_grad = num();
  c.o.tolerance_change = num();
  c.o.history_size = (int)inum();
  c.o.line_search_fn = (tg_lbfgs_line_search)inum();
  expect("data");
  c.n_data = read_tensors(c.data, false);
  expect("params");
  c.n_params = read_tensors(c.ps, true);
  expect("steps");
  long steps = inum();
  if (c.problem == P_MLP && (c.n_data != 2 || c.n_params != 4)) die("mlp needs X, Y and W1, b1, W2, b2");
  if (c.problem == P_LINEAR && c.n_data != 1) die("linear needs w");
  if (c.n_params < 1) die("no parameters");
  tg_clear_error();
  c.opt = tg_lbfgs_new(c.ps, c.n_params, c.o);
  if (!c.opt) {
    printf("res %s err ", c.id);
    print_msg("");
  } else {
    printf("res %s ok\n", c.id);
    bool failed = false;
    for (long t = 0; t < steps && !failed; t++) {
      double loss = tg_lbfgs_step(c.opt, closure, &c);
      if ((failed = isnan(loss))) {
        print_msg("fail ");
        break;
      }
      printf("loss %ld %.17g\n", t, loss);
      for (int i = 0; i < c.n_params; i++) {
        char tag[48];
        snprintf(tag, sizeof tag, "p %ld %d", t, i);
        print_values(tag, c.ps[i]);
      }
    }
    if (!failed) print_state(c.opt);
    printf("end\n");
    tg_optim_free(c.opt);
  }
  for (int i = 0; i < c.n_params; i++) tg_free(c.ps[i]);
  for (int i = 0; i < c.n_data; i++) tg_free(c.data[i]);
}
