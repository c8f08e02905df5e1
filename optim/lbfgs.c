/* L-BFGS as torch.optim.LBFGS 1.13 (torch/optim/lbfgs.py), with its
 * strong-Wolfe line search and cubic interpolation ported line by line, in
 * the same order of floating-point operations, so float64 runs agree with
 * torch's to the rounding of its dot products.
 *
 * All parameters are seen as one flat vector x of N elements (torch's
 * _gather_flat_grad and _add_grad, in the parameters' order). Every buffer
 * is allocated by tg_lbfgs_new: the state entries (public, see tg_optim.h)
 * and a scratch tensor of six rows of N (the gradient, the line search's
 * start point and three gradients it keeps, the step's start point), so a
 * step allocates nothing itself. torch's lists old_dirs/old_stps/ro are a
 * ring of history_size rows here: popping the oldest pair moves old_first. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"

/* the state entries, in the order tg_lbfgs_new appends them */
enum {
  S_FUNC_EVALS, S_N_ITER, S_D, S_T, S_OLD_DIRS, S_OLD_STPS, S_RO, S_AL, S_H_DIAG,
  S_PREV_FLAT_GRAD, S_PREV_LOSS, S_N_OLD, S_OLD_FIRST, S_COUNT
};
static const char *const state_names[S_COUNT] = {
    "0.func_evals", "0.n_iter", "0.d", "0.t", "0.old_dirs", "0.old_stps", "0.ro", "0.al",
    "0.H_diag", "0.prev_flat_grad", "0.prev_loss", "0.n_old", "0.old_first"};

/* rows of the scratch tensor */
enum { R_FLAT_GRAD, R_X_INIT, R_G_PREV, R_G_BRACKET, R_G_NEW, R_X_STEP, R_COUNT };

typedef struct lbfgs {
  tg_tensor *scratch; /* (R_COUNT, N) float64, persistent */
  size_t N;
} lbfgs;

/* One step's view of the optimizer: raw pointers into the state and scratch. */
typedef struct run {
  tg_optimizer *opt;
  const tg_lbfgs_opts *o;
  tg_lbfgs_closure closure;
  void *ctx;
  size_t N;
  int H;
  double *st[S_COUNT]; /* each entry's data */
  double *row[R_COUNT];
} run;

/* ------------------------------------------------------ vector helpers */

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* max |a_i * scale|, NaN when any is NaN (torch's max propagates it) */
static double max_abs_scaled(const double *a, double scale, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double v = fabs(a[i] * scale);
    if (isnan(v)) return v;
    if (v > m) m = v;
  }
  return m;
}

static double sum_abs(const double *a, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += fabs(a[i]);
  return s;
}

/* y += alpha * x as torch's y.add_(x, alpha=alpha), whose CPU kernels
 * (AVX2 and up) round it once: a fused multiply-add */
static void axpy(double *y, double alpha, const double *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = fma(alpha, x[i], y[i]);
}

/* Python's max(a, b) and min(a, b): the second only when strictly beyond
 * the first, which decides the NaN cases as torch's code does */
static double py_max(double a, double b) { return b > a ? b : a; }
static double py_min(double a, double b) { return b < a ? b : a; }

/* ------------------------------------------------- parameters <-> flat */

static void params_to(const run *r, double *x) {
  size_t off = 0;
  for (int i = 0; i < r->opt->n; i++) {
    const tg_tensor *p = r->opt->params[i];
    if (p->dtype == TG_FLOAT64) memcpy(x + off, tg_ptr(p), p->numel * sizeof *x);
    else
      for (size_t j = 0; j < p->numel; j++) x[off + j] = ((const float *)tg_ptr(p))[j];
    off += p->numel;
  }
}

/* p = x + t*d per element (t 0 and d NULL: p = x); in-place writes bump the
 * storage version, as the other optimizers' steps do */
static void params_from(const run *r, const double *x, double t, const double *d) {
  size_t off = 0;
  for (int i = 0; i < r->opt->n; i++) {
    tg_tensor *p = r->opt->params[i];
    for (size_t j = 0; j < p->numel; j++) {
      double v = d ? x[off + j] + t * d[off + j] : x[off + j];
      if (p->dtype == TG_FLOAT64) ((double *)tg_ptr(p))[j] = v;
      else ((float *)tg_ptr(p))[j] = (float)v;
    }
    p->storage->version++;
    off += p->numel;
  }
}

/* p += t*d: torch's _add_grad */
static void add_grad(const run *r, double t, const double *d) {
  size_t off = 0;
  for (int i = 0; i < r->opt->n; i++) {
    tg_tensor *p = r->opt->params[i];
    if (p->dtype == TG_FLOAT64)
      axpy((double *)tg_ptr(p), t, d + off, p->numel);
    else
      for (size_t j = 0; j < p->numel; j++) {
        float *v = (float *)tg_ptr(p) + j;
        *v = (float)fma(t, d[off + j], (double)*v);
      }
    p->storage->version++;
    off += p->numel;
  }
}

/* Every parameter's .grad into g (zeros for none, as torch), after checking
 * that each still matches its parameter. */
static bool gather_flat_grad(const run *r, double *g) {
  size_t off = 0;
  for (int i = 0; i < r->opt->n; i++) {
    const tg_tensor *p = r->opt->params[i], *gr = p->grad;
    const char *why = NULL;
    if (p->obj.magic != TG_MAGIC_TENSOR) {
      tg_error("lbfgs_step: parameter %d was freed after the optimizer was made", i);
      return false;
    }
    if (!gr) memset(g + off, 0, p->numel * sizeof *g);
    else if (gr->obj.magic != TG_MAGIC_TENSOR) why = "was freed or its scope has ended";
    else if (gr->dtype != p->dtype) why = "has a different dtype from the parameter";
    else if (!tg_same_shape(gr, p)) why = "has a different shape from the parameter";
    else if (!tg_is_contiguous(gr)) why = "is not contiguous";
    else if (gr->dtype == TG_FLOAT64) memcpy(g + off, tg_ptr(gr), p->numel * sizeof *g);
    else
      for (size_t j = 0; j < p->numel; j++) g[off + j] = ((const float *)tg_ptr(gr))[j];
    if (why) {
      tg_error("lbfgs_step: the gradient of parameter %d %s", i, why);
      return false;
    }
    off += p->numel;
  }
  return true;
}

/* the closure's loss and the gradient it left, into *loss and g */
static bool evaluate(const run *r, double *loss, double *g) {
  tg_clear_error();
  double v = r->closure(r->ctx);
  if (isnan(v)) {
    char why[256];
    snprintf(why, sizeof why, "%s", tg_last_error());
    tg_error("lbfgs_step: the closure returned NaN%s%s", *why ? " after: " : "", why);
    return false;
  }
  *r->st[S_FUNC_EVALS] += 1; /* torch counts per step in bulk; the sum is the same */
  *loss = v;
  return gather_flat_grad(r, g);
}

/* torch's _directional_evaluate: the loss and gradient at x + t*d, the
 * parameters back at x after it */
static bool directional_evaluate(const run *r, const double *x, double t, const double *d,
                                 double *f, double *g) {
  add_grad(r, t, d);
  bool ok = evaluate(r, f, g);
  params_from(r, x, 0, NULL);
  return ok;
}

/* ------------------------------------------------------- line search */

/* torch's _cubic_interpolate: the minimiser of the cubic through (x1, f1)
 * and (x2, f2) with slopes g1, g2, clamped to the bounds (the points'
 * interval when has_bounds is false) */
static double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                                bool has_bounds, double lo, double hi) {
  double xmin_bound = has_bounds ? lo : (x1 <= x2 ? x1 : x2);
  double xmax_bound = has_bounds ? hi : (x1 <= x2 ? x2 : x1);
  double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    double d2 = sqrt(d2_square), min_pos;
    if (x1 <= x2) min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
    else min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return py_min(py_max(min_pos, xmin_bound), xmax_bound);
  }
  return (xmin_bound + xmax_bound) / 2.;
}

/* the bracket of the zoom phase: torch's bracket, bracket_f, bracket_g
 * (pointers into scratch rows, swapped where torch aliases), bracket_gtd */
typedef struct bracket {
  double t[2], f[2], gtd[2];
  double *g[2];
  int n;
} bracket;

typedef struct ls_result {
  double f, t;
  const double *g;
  int evals;
} ls_result;

/* torch's _strong_wolfe from x along d, starting at step t with loss f,
 * gradient g (the flat-gradient row, which the zoom may overwrite: torch's
 * clone of it is needed only through the bracket) and slope gtd. */
static bool strong_wolfe(const run *r, const double *x, double t, const double *d, double f,
                         double *g, double gtd, ls_result *out) {
  const double c1 = 1e-4, c2 = 0.9, tolerance_change = r->o->tolerance_change;
  const int max_ls = 25;
  const size_t N = r->N;
  double *g_new = r->row[R_G_NEW], *g_prev_buf = r->row[R_G_PREV], *g_spare = r->row[R_G_BRACKET];
  double d_norm = max_abs_scaled(d, 1, N);
  double f_new;
  if (!directional_evaluate(r, x, t, d, &f_new, g_new)) return false;
  int ls_func_evals = 1;
  double gtd_new = dot(g_new, d, N);

  /* bracket an interval containing a point satisfying the Wolfe criteria */
  double t_prev = 0, f_prev = f, gtd_prev = gtd;
  double *g_prev = g;
  bool done = false;
  int ls_iter = 0;
  bracket b = {0};
  while (ls_iter < max_ls) {
    /* check conditions: a bracket when the Armijo condition fails, the
     * loss stopped falling or the slope turned; done on strong Wolfe */
    bool armijo_fail = f_new > (f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev);
    if (!armijo_fail && fabs(gtd_new) <= -c2 * gtd) {
      b = (bracket){.t = {t}, .f = {f_new}, .g = {g_new}, .n = 1};
      done = true;
      break;
    }
    if (armijo_fail || gtd_new >= 0) {
      memcpy(g_spare, g_new, N * sizeof *g_new);
      b = (bracket){.t = {t_prev, t}, .f = {f_prev, f_new}, .gtd = {gtd_prev, gtd_new},
                    .g = {g_prev, g_spare}, .n = 2};
      break;
    }
    /* interpolate */
    double min_step = t + 0.01 * (t - t_prev), max_step = t * 10, tmp = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, true, min_step, max_step);
    /* next step */
    t_prev = tmp;
    f_prev = f_new;
    memcpy(g_prev_buf, g_new, N * sizeof *g_new);
    g_prev = g_prev_buf;
    gtd_prev = gtd_new;
    if (!directional_evaluate(r, x, t, d, &f_new, g_new)) return false;
    ls_func_evals++;
    gtd_new = dot(g_new, d, N);
    ls_iter++;
  }
  /* reached max number of iterations? (the zoom below then does not run) */
  if (ls_iter == max_ls) b = (bracket){.t = {0, t}, .f = {f, f_new}, .g = {g, g_new}, .n = 2};

  /* zoom phase: refine the bracket until a point satisfies the criteria */
  bool insuf_progress = false;
  int low = b.f[0] <= b.f[b.n - 1] ? 0 : 1, high = 1 - low;
  while (!done && ls_iter < max_ls) {
    /* line-search bracket is so small */
    if (fabs(b.t[1] - b.t[0]) * d_norm < tolerance_change) break;
    t = cubic_interpolate(b.t[0], b.f[0], b.gtd[0], b.t[1], b.f[1], b.gtd[1], false, 0, 0);
    /* too close to a boundary: after insufficient progress, or at one,
     * move 0.1 of the bracket away from the nearest end */
    double bmax = py_max(b.t[0], b.t[1]), bmin = py_min(b.t[0], b.t[1]);
    double eps = 0.1 * (bmax - bmin);
    if (py_min(bmax - t, t - bmin) < eps) {
      if (insuf_progress || t >= bmax || t <= bmin) {
        t = fabs(t - bmax) < fabs(t - bmin) ? bmax - eps : bmin + eps;
        insuf_progress = false;
      } else {
        insuf_progress = true;
      }
    } else {
      insuf_progress = false;
    }
    if (!directional_evaluate(r, x, t, d, &f_new, g_new)) return false;
    ls_func_evals++;
    gtd_new = dot(g_new, d, N);
    ls_iter++;
    if (f_new > (f + c1 * t * gtd) || f_new >= b.f[low]) {
      /* Armijo condition not satisfied or not lower than lowest point */
      b.t[high] = t, b.f[high] = f_new, b.gtd[high] = gtd_new;
      memcpy(b.g[high], g_new, N * sizeof *g_new);
      low = b.f[0] <= b.f[1] ? 0 : 1, high = 1 - low;
    } else {
      if (fabs(gtd_new) <= -c2 * gtd) {
        done = true; /* Wolfe conditions satisfied */
      } else if (gtd_new * (b.t[high] - b.t[low]) >= 0) {
        /* old high becomes new low: torch aliases the low gradient, so the
         * high's buffer is free for the new low */
        double *freed = b.g[high];
        b.t[high] = b.t[low], b.f[high] = b.f[low], b.gtd[high] = b.gtd[low];
        b.g[high] = b.g[low];
        b.g[low] = freed;
      }
      /* new point becomes new low */
      b.t[low] = t, b.f[low] = f_new, b.gtd[low] = gtd_new;
      memcpy(b.g[low], g_new, N * sizeof *g_new);
    }
  }
  *out = (ls_result){.f = b.f[low], .t = b.t[low], .g = b.g[low], .evals = ls_func_evals};
  return true;
}

/* ------------------------------------------------------------ the step */

/* d = -H g by the two-loop recursion over the history, after adding the
 * pair (s, y) of the last iteration when y.s > 1e-10 */
static void direction(const run *r, const double *g) {
  const size_t N = r->N;
  const int H = r->H;
  double *d = r->st[S_D], *prev = r->st[S_PREV_FLAT_GRAD], t = *r->st[S_T];
  double *dirs = r->st[S_OLD_DIRS], *stps = r->st[S_OLD_STPS], *ro = r->st[S_RO], *al = r->st[S_AL];
  int n_old = (int)*r->st[S_N_OLD], first = (int)*r->st[S_OLD_FIRST];
  /* y = g - prev_flat_grad, s = d*t, ys = y.s */
  double ys = 0;
  for (size_t i = 0; i < N; i++) ys += (g[i] - prev[i]) * (d[i] * t);
  if (ys > 1e-10) {
    if (n_old == H) { /* shift history by one (limited memory) */
      first = (first + 1) % H;
      n_old--;
    }
    size_t slot = (size_t)((first + n_old) % H);
    double *y = dirs + slot * N, *s = stps + slot * N;
    for (size_t i = 0; i < N; i++) y[i] = g[i] - prev[i], s[i] = d[i] * t;
    ro[slot] = 1. / ys;
    n_old++;
    *r->st[S_H_DIAG] = ys / dot(y, y, N); /* scale of the initial Hessian */
  }
  *r->st[S_N_OLD] = n_old, *r->st[S_OLD_FIRST] = first;
  /* q = -g, in d's buffer (the old d was needed only for s) */
  for (size_t i = 0; i < N; i++) d[i] = -g[i];
  for (int i = n_old - 1; i >= 0; i--) {
    size_t k = (size_t)((first + i) % H);
    al[i] = dot(stps + k * N, d, N) * ro[k];
    axpy(d, -al[i], dirs + k * N, N);
  }
  double h = *r->st[S_H_DIAG];
  for (size_t i = 0; i < N; i++) d[i] = d[i] * h;
  for (int i = 0; i < n_old; i++) {
    size_t k = (size_t)((first + i) % H);
    double be_i = dot(dirs + k * N, d, N) * ro[k];
    axpy(d, al[i] - be_i, stps + k * N, N);
  }
}

/* torch's LBFGS.step after the first evaluation: loss and flat_grad hold it */
static bool iterate(const run *r, double loss) {
  const tg_lbfgs_opts *o = r->o;
  const size_t N = r->N;
  const double lr = r->opt->groups[0].lr;
  const long long max_eval = o->max_eval ? o->max_eval : (long long)o->max_iter * 5 / 4;
  double *flat_grad = r->row[R_FLAT_GRAD], *d = r->st[S_D], *t = r->st[S_T];
  double *const *st = r->st;
  long long current_evals = 1;
  bool opt_cond = max_abs_scaled(flat_grad, 1, N) <= o->tolerance_grad;
  if (opt_cond) return true;
  for (int n_iter = 1; n_iter <= o->max_iter; n_iter++) {
    *st[S_N_ITER] += 1;
    /* the descent direction */
    if (*st[S_N_ITER] == 1) {
      for (size_t i = 0; i < N; i++) d[i] = -flat_grad[i];
      *st[S_N_OLD] = 0, *st[S_OLD_FIRST] = 0, *st[S_H_DIAG] = 1;
    } else {
      direction(r, flat_grad);
    }
    memcpy(st[S_PREV_FLAT_GRAD], flat_grad, N * sizeof *flat_grad);
    double prev_loss = *st[S_PREV_LOSS] = loss;
    /* the step length: its first guess */
    *t = *st[S_N_ITER] == 1 ? py_min(1., 1. / sum_abs(flat_grad, N)) * lr : lr;
    double gtd = dot(flat_grad, d, N); /* directional derivative */
    if (gtd > -o->tolerance_change) break;
    int ls_func_evals = 0;
    if (o->line_search_fn == TG_LBFGS_STRONG_WOLFE) {
      double *x_init = r->row[R_X_INIT];
      params_to(r, x_init);
      ls_result ls;
      if (!strong_wolfe(r, x_init, *t, d, loss, flat_grad, gtd, &ls)) return false;
      loss = ls.f, *t = ls.t, ls_func_evals = ls.evals;
      if (ls.g != flat_grad) memcpy(flat_grad, ls.g, N * sizeof *flat_grad);
      add_grad(r, *t, d);
      opt_cond = max_abs_scaled(flat_grad, 1, N) <= o->tolerance_grad;
    } else {
      /* a fixed step; the loss is re-evaluated except after the last
       * iteration (in a stochastic setting it would be of no use) */
      add_grad(r, *t, d);
      if (n_iter != o->max_iter) {
        if (!evaluate(r, &loss, flat_grad)) return false;
        opt_cond = max_abs_scaled(flat_grad, 1, N) <= o->tolerance_grad;
        ls_func_evals = 1;
      }
    }
    current_evals += ls_func_evals;
    /* the conditions to stop */
    if (n_iter == o->max_iter || current_evals >= max_eval || opt_cond) break;
    if (max_abs_scaled(d, *t, N) <= o->tolerance_change) break; /* lack of progress */
    if (fabs(loss - prev_loss) < o->tolerance_change) break;
  }
  return true;
}

/* the counters a checkpoint may have loaded: whole numbers in range, so the
 * ring is never indexed outside its rows */
static bool state_valid(const run *r) {
  const struct {
    int e;
    double hi;
  } rules[] = {{S_N_ITER, 9007199254740992.0}, {S_FUNC_EVALS, 9007199254740992.0},
               {S_N_OLD, r->H}, {S_OLD_FIRST, r->H - 1}};
  for (size_t k = 0; k < sizeof rules / sizeof *rules; k++) {
    double v = *r->st[rules[k].e];
    if (!(v >= 0 && v <= rules[k].hi && v == floor(v))) {
      tg_error("lbfgs_step: state \"%s\" is %g; it must be a whole number in [0, %.17g]",
               state_names[rules[k].e], v, rules[k].hi);
      return false;
    }
  }
  return true;
}

static void lbfgs_free_ext(void *ext) {
  lbfgs *L = ext;
  tg_free(L->scratch);
  free(L);
}

static bool lbfgs_setup(const char *op, const optim_opts *opts, optim_layout *lay) {
  const tg_lbfgs_opts *o = &opts->lbfgs;
  if (!optim_check_nonneg(op, "learning rate", o->lr) ||
      !optim_check_nonneg(op, "tolerance_grad", o->tolerance_grad) ||
      !optim_check_nonneg(op, "tolerance_change", o->tolerance_change))
    return false;
  const char *bad = o->max_iter < 1 ? "max_iter" : o->history_size < 1 ? "history_size" : NULL;
  if (bad) {
    tg_error("%s: invalid %s %d: must be >= 1", op, bad,
             o->max_iter < 1 ? o->max_iter : o->history_size);
    return false;
  }
  if (o->max_eval < 0) {
    tg_error("%s: invalid max_eval %d: must be >= 1, or 0 for max_iter*5/4", op, o->max_eval);
    return false;
  }
  if (o->line_search_fn != TG_LBFGS_NO_LINE_SEARCH && o->line_search_fn != TG_LBFGS_STRONG_WOLFE) {
    tg_error("%s: only 'strong_wolfe' is supported as line_search_fn (got %d)", op,
             (int)o->line_search_fn);
    return false;
  }
  *lay = (optim_layout){.lr = o->lr};
  return true;
}

static const optim_kind lbfgs_kind = {.name = "LBFGS", .op = "lbfgs", .opts_type = "tg_lbfgs_opts",
                                      .update = NULL, .setup = lbfgs_setup,
                                      .no_weight_decay = true, .no_param_state = true,
                                      .free_ext = lbfgs_free_ext};

tg_lbfgs_opts tg_lbfgs_defaults(void) {
  return (tg_lbfgs_opts){.lr = 1, .max_iter = 20, .max_eval = 0, .tolerance_grad = 1e-7,
                         .tolerance_change = 1e-9, .history_size = 100,
                         .line_search_fn = TG_LBFGS_NO_LINE_SEARCH};
}

/* a persistent float64 tensor of zeros, whatever scope is open */
static tg_tensor *zeros_f64(int ndim, const size_t *shape) {
  tg_tensor *t = tg_tensor_alloc_in(0, TG_FLOAT64, ndim, shape);
  if (t && !tg_fill_(t, 0.0)) {
    tg_free(t);
    return NULL;
  }
  return t;
}

tg_optimizer *tg_lbfgs_new(tg_tensor **params, int n, tg_lbfgs_opts o) {
  tg_optimizer *opt = optim_create(&lbfgs_kind, params, n, &(optim_opts){.lbfgs = o});
  if (!opt) return NULL;
  size_t N = 0;
  for (int i = 0; i < n; i++) N += params[i]->numel;
  size_t H = (size_t)o.history_size;
  if (N > 0 && H > SIZE_MAX / sizeof(double) / N / 2) {
    tg_error("lbfgs: a history of %zu pairs of %zu elements does not fit in memory", H, N);
    tg_optim_free(opt);
    return NULL;
  }
  lbfgs *L = calloc(1, sizeof *L);
  if (!L) {
    tg_error("lbfgs: out of memory");
    tg_optim_free(opt);
    return NULL;
  }
  opt->ext = L;
  L->N = N;
  L->scratch = zeros_f64(2, (size_t[]){R_COUNT, N});
  bool ok = L->scratch != NULL;
  for (int e = 0; ok && e < S_COUNT; e++) {
    size_t shape[2] = {H, N};
    int ndim = 0;
    if (e == S_D || e == S_PREV_FLAT_GRAD) ndim = 1, shape[0] = N;
    else if (e == S_OLD_DIRS || e == S_OLD_STPS) ndim = 2;
    else if (e == S_RO || e == S_AL) ndim = 1;
    ok = optim_add_state(opt, state_names[e], zeros_f64(ndim, shape)) == 0;
  }
  if (ok) *(double *)tg_ptr(opt->state[S_H_DIAG]) = 1;
  if (!ok) {
    tg_optim_free(opt);
    return NULL;
  }
  return opt;
}

double tg_lbfgs_step(tg_optimizer *opt, tg_lbfgs_closure closure, void *ctx) {
  if (!opt || !closure) {
    tg_error("lbfgs_step: %s is NULL", opt ? "closure" : "optimizer");
    return NAN;
  }
  if (opt->kind != &lbfgs_kind) {
    tg_error("lbfgs_step: the optimizer is %s, not LBFGS", opt->kind->name);
    return NAN;
  }
  lbfgs *L = opt->ext;
  run r = {.opt = opt, .o = &opt->groups[0].opts.lbfgs, .closure = closure, .ctx = ctx,
           .N = L->N, .H = opt->groups[0].opts.lbfgs.history_size};
  for (int e = 0; e < S_COUNT; e++) r.st[e] = (double *)tg_ptr(opt->state[e]);
  for (int k = 0; k < R_COUNT; k++) r.row[k] = (double *)tg_ptr(L->scratch) + (size_t)k * L->N;
  if (!state_valid(&r)) return NAN;
  for (int i = 0; i < opt->n; i++)
    if (opt->params[i]->obj.magic != TG_MAGIC_TENSOR) {
      tg_error("lbfgs_step: parameter %d was freed after the optimizer was made", i);
      return NAN;
    }
  params_to(&r, r.row[R_X_STEP]);
  double orig_loss;
  if (evaluate(&r, &orig_loss, r.row[R_FLAT_GRAD]) && iterate(&r, orig_loss)) return orig_loss;
  /* a failure: back to where the step began, the history forgotten */
  params_from(&r, r.row[R_X_STEP], 0, NULL);
  *r.st[S_N_ITER] = 0, *r.st[S_N_OLD] = 0, *r.st[S_OLD_FIRST] = 0;
  return NAN;
}
