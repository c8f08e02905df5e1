/* jacobian, gradcheck and gradgradcheck: the analytic Jacobian row by row
 * (one-hot grad_outputs through tg_grad) against central differences. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tg_extension.h"
#include "tg_internal.h"

static tg_tensor *one_hot_like(const tg_tensor *y, size_t i) {
  tg_tensor *g = tg_zeros(y->dtype, y->ndim, y->shape);
  if (g) {
    if (y->dtype == TG_FLOAT32) ((float *)g->storage->data)[i] = 1.0f;
    else ((double *)g->storage->data)[i] = 1.0;
  }
  return g;
}

/* Analytic Jacobian of y = f(inputs) w.r.t. inputs[which]: jac[r*n + c]. */
static int analytic_jacobian(tg_fn f, int n_in, tg_tensor **inputs, void *ctx, int which,
                             double *jac, size_t m, size_t n) {
  int rc = 0;
  if (tg_scope_begin() != 0) return -1;
  tg_tensor *y = f(inputs, ctx);
  if (!y) rc = -1;
  else if (!y->requires_grad) memset(jac, 0, m * n * sizeof *jac); /* y does not depend on x */
  for (size_t r = 0; rc == 0 && y && y->requires_grad && r < m; r++) {
    if (tg_scope_begin() != 0) {
      rc = -1;
      break;
    }
    tg_tensor *g = one_hot_like(y, r), *dx = NULL;
    tg_grad_opts o = {.retain_graph = true, .allow_unused = true};
    if (!g || tg_grad(1, &y, &g, 1, &inputs[which], &dx, o) != 0) rc = -1;
    for (size_t c = 0; rc == 0 && c < n; c++) jac[r * n + c] = dx ? tg_get_flat(dx, c) : 0.0;
    tg_scope_end();
  }
  (void)n_in;
  tg_scope_end();
  return rc;
}

/* f's output as doubles, evaluated without recording */
static int eval_flat(tg_fn f, tg_tensor **inputs, void *ctx, double *out, size_t m) {
  int rc = 0;
  if (tg_scope_begin() != 0) return -1;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *y = f(inputs, ctx);
  tg_set_grad_enabled(prev);
  if (!y || y->numel != m || tg_to_f64_array(y, out) != 0) rc = -1;
  tg_scope_end();
  return rc;
}

static int numeric_jacobian(tg_fn f, tg_tensor **inputs, void *ctx, int which, double *jac,
                            size_t m, size_t n) {
  tg_tensor *x = inputs[which];
  double eps = x->dtype == TG_FLOAT32 ? FLT_EPSILON : DBL_EPSILON;
  double *plus = malloc(m * sizeof *plus), *minus = malloc(m * sizeof *minus);
  size_t idx[TG_MAX_DIMS];
  int rc = plus && minus ? 0 : -1;
  for (size_t c = 0; rc == 0 && c < n; c++) {
    size_t r = c;
    for (int d = x->ndim - 1; d >= 0; d--) idx[d] = r % x->shape[d], r /= x->shape[d];
    double x0 = tg_get(x, idx);
    double h = sqrt(eps) * fmax(fabs(x0), 1.0);
    uint32_t version = x->storage->version;
    tg_set(x, idx, x0 + h);
    double hp = tg_get(x, idx) - x0; /* the step actually taken after rounding */
    rc = eval_flat(f, inputs, ctx, plus, m);
    tg_set(x, idx, x0 - h);
    double hm = x0 - tg_get(x, idx);
    if (rc == 0) rc = eval_flat(f, inputs, ctx, minus, m);
    tg_set(x, idx, x0);
    x->storage->version = version; /* the probe leaves x as it was */
    for (size_t k = 0; rc == 0 && k < m; k++) jac[k * n + c] = (plus[k] - minus[k]) / (hp + hm);
  }
  free(plus);
  free(minus);
  if (rc != 0 && !tg_has_error()) tg_error("gradcheck: out of memory");
  return rc;
}

tg_tensor *tg_jacobian(tg_fn f, tg_tensor *x, void *ctx) {
  if (!f) {
    tg_error("jacobian: function is NULL");
    return NULL;
  }
  if (!tg_tensor_check(x, "jacobian", 2)) return NULL;
  if (!x->requires_grad) {
    tg_error("jacobian: x must require grad");
    return NULL;
  }
  /* tg_jacobians' block (f(x).shape ++ x.shape, row-major) seen as (m, n) */
  tg_tensor *J = NULL;
  if (tg_jacobians(f, ctx, &x, 1, &J, (tg_jacobian_opts){0}) != 0) return NULL;
  size_t shape[2] = {tg_shape_numel(J->ndim - x->ndim, J->shape), x->numel};
  ptrdiff_t strides[2] = {(ptrdiff_t)shape[1], 1};
  return tg_tensor_view(J, 2, shape, strides, 0);
}

tg_gradcheck_result tg_gradcheck(tg_fn f, int n_in, tg_tensor **inputs, void *ctx,
                                 tg_gradcheck_opts opts) {
  tg_gradcheck_result res = {.ok = true, .max_error = -INFINITY, .input = -1};
  double atol = opts.atol > 0 ? opts.atol : 1e-5, rtol = opts.rtol > 0 ? opts.rtol : 1e-3;
  if (!f || n_in <= 0 || !inputs) {
    tg_error("gradcheck: need a function and at least one input");
    res.ok = false;
    snprintf(res.message, sizeof res.message, "%s", tg_last_error());
    return res;
  }
  size_t m = 0;
  tg_tensor *y = NULL;
  if (tg_scope_begin() == 0) {
    y = f(inputs, ctx);
    if (y) m = y->numel;
    tg_scope_end();
  }
  if (!y) {
    res.ok = false;
    snprintf(res.message, sizeof res.message, "gradcheck: the function failed: %s", tg_last_error());
    return res;
  }
  for (int k = 0; k < n_in && res.ok; k++) {
    if (!tg_tensor_check(inputs[k], "gradcheck", k + 1)) {
      res.ok = false;
      snprintf(res.message, sizeof res.message, "%s", tg_last_error());
      break;
    }
    if (!inputs[k]->requires_grad) continue;
    size_t n = inputs[k]->numel;
    size_t cells = m * n > 0 ? m * n : 1;
    double *ja = malloc(cells * sizeof *ja), *jn = malloc(cells * sizeof *jn);
    int rc = ja && jn ? analytic_jacobian(f, n_in, inputs, ctx, k, ja, m, n) : -1;
    if (rc == 0) rc = numeric_jacobian(f, inputs, ctx, k, jn, m, n);
    if (rc != 0) {
      res.ok = false;
      snprintf(res.message, sizeof res.message, "gradcheck: input %d: %s", k, tg_last_error());
    }
    for (size_t e = 0; rc == 0 && e < m * n; e++) {
      double err = fabs(ja[e] - jn[e]) - rtol * fabs(jn[e]);
      if (err > res.max_error || isnan(ja[e]) != isnan(jn[e])) {
        res.max_error = isnan(err) ? INFINITY : err;
        res.input = k;
        res.out_index = e / n;
        res.in_index = e % n;
        res.analytic = ja[e];
        res.numeric = jn[e];
      }
    }
    free(ja);
    free(jn);
    if (res.ok && res.max_error > atol) res.ok = false;
  }
  if (!res.ok && res.message[0] == '\0')
    snprintf(res.message, sizeof res.message,
             "gradcheck: Jacobian mismatch for input %d at output %zu, input element %zu: "
             "analytic %.10g vs numeric %.10g (error %.3g > atol %.3g + rtol %.3g*|numeric|)",
             res.input, res.out_index, res.in_index, res.analytic, res.numeric,
             res.max_error + rtol * fabs(res.numeric), atol, rtol);
  if (!res.ok && !opts.quiet) fprintf(stderr, "%s\n", res.message);
  return res;
}

/* x -> d<f(x), v>/d x_which, recorded so it can itself be differentiated */
typedef struct gg_ctx {
  tg_fn f;
  void *ctx;
  int n_in, which;
  tg_tensor *v; /* fixed random grad_output */
} gg_ctx;

static tg_tensor *first_derivative(tg_tensor **inputs, void *p) {
  gg_ctx *g = p;
  /* the numeric pass calls this with grad mode off, but the derivative
   * itself needs f's graph: record it regardless of the caller's mode */
  bool prev = tg_set_grad_enabled(true);
  tg_tensor *y = g->f(inputs, g->ctx), *dx = NULL;
  tg_grad_opts o = {.create_graph = true, .allow_unused = true};
  if (!y) dx = NULL;
  else if (!y->requires_grad) dx = tg_zeros_like(inputs[g->which]);
  else if (tg_grad(1, &y, &g->v, 1, &inputs[g->which], &dx, o) != 0) y = dx = NULL;
  else if (!dx) dx = tg_zeros_like(inputs[g->which]);
  tg_set_grad_enabled(prev);
  return y ? dx : NULL;
}

tg_gradcheck_result tg_gradgradcheck(tg_fn f, int n_in, tg_tensor **inputs, void *ctx,
                                     tg_gradcheck_opts opts) {
  tg_gradcheck_result res = {.ok = true};
  if (!f || n_in <= 0 || !inputs) {
    tg_error("gradgradcheck: need a function and at least one input");
    res.ok = false;
    snprintf(res.message, sizeof res.message, "%s", tg_last_error());
    return res;
  }
  for (int k = 0; k < n_in; k++)
    if (!tg_tensor_check(inputs[k], "gradgradcheck", k + 1)) {
      res.ok = false;
      snprintf(res.message, sizeof res.message, "%s", tg_last_error());
      return res;
    }
  if (tg_scope_begin() != 0) {
    res.ok = false;
    snprintf(res.message, sizeof res.message, "%s", tg_last_error());
    return res;
  }
  tg_tensor *y = f(inputs, ctx);
  if (!y) {
    res.ok = false;
    snprintf(res.message, sizeof res.message, "gradgradcheck: the function failed: %s", tg_last_error());
    tg_scope_end();
    return res;
  }
  tg_tensor *v = tg_randn(NULL, y->dtype, y->ndim, y->shape);
  for (int k = 0; k < n_in && res.ok; k++) {
    if (!inputs[k]->requires_grad) continue;
    gg_ctx g = {f, ctx, n_in, k, v};
    res = tg_gradcheck(first_derivative, n_in, inputs, &g, opts);
  }
  tg_scope_end();
  return res;
}
