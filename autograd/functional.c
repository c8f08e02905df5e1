/* Functional transforms, as torch.autograd.functional: vjp, jvp, hvp, vhp,
 * hessian and per-input jacobians of a tg_fn, all built on tg_grad.
 *
 * f is called on fresh leaves holding the inputs' values (so the caller's
 * tensors need not require grad and their .grad is never touched); with
 * create_graph an input that already requires grad is used itself, so the
 * results stay differentiable w.r.t. it. Forward-mode products (jvp, the
 * forward-mode jacobian) use the double-backward trick: with a dummy
 * cotangent u, g = Jᵀu is linear in u, and the gradient of <g, v> w.r.t. u
 * is J v. Jacobians and Hessians are assembled row by row (or column by
 * column), one backward each over one retained graph: the ops have no
 * batched backward (no vmap), so there is no vectorised mode. */
#include <stdlib.h>
#include <string.h>

#include "fwad_internal.h"
#include "tg_extension.h"
#include "tg_internal.h"

static bool check_args(const char *op, tg_fn f, tg_tensor **inputs, int n) {
  if (!f) {
    tg_error("%s: argument 1 (the function) is NULL", op);
    return false;
  }
  if (!inputs || n <= 0) {
    tg_error("%s: need at least one input (inputs is %s, n = %d)", op, inputs ? "given" : "NULL", n);
    return false;
  }
  for (int i = 0; i < n; i++) {
    if (!inputs[i]) {
      tg_error("%s: input %d is NULL", op, i);
      return false;
    }
    if (!tg_tensor_check(inputs[i], op, 3)) return false;
    if (!tg_dtype_is_float(inputs[i]->dtype)) {
      tg_error("%s: input %d is %s; the transforms need float inputs", op, i, tg_dtype_name(inputs[i]->dtype));
      return false;
    }
  }
  return true;
}

/* the leaves f is called on (in the current scope) */
static int prepare(tg_tensor **inputs, int n, tg_tensor **x, bool create_graph) {
  for (int i = 0; i < n; i++) {
    if (create_graph && inputs[i]->requires_grad) {
      x[i] = inputs[i];
      continue;
    }
    x[i] = tg_requires_grad_(tg_detach(inputs[i]), true);
    if (!x[i]) return -1;
  }
  return 0;
}

/* f(x) with grad mode on, checked */
static tg_tensor *call(const char *op, tg_fn f, tg_tensor **x, void *ctx) {
  bool prev = tg_set_grad_enabled(true);
  tg_tensor *y = f(x, ctx);
  tg_set_grad_enabled(prev);
  if (!y) {
    if (!tg_has_error()) tg_error("%s: the function returned NULL", op);
    return NULL;
  }
  if (!tg_tensor_check(y, op, 1)) return NULL;
  if (!tg_dtype_is_float(y->dtype)) {
    tg_error("%s: the function returned a %s tensor; a float output is needed", op, tg_dtype_name(y->dtype));
    return NULL;
  }
  return y;
}

/* v must be shaped like `like` (what) */
static bool check_like(const char *op, const char *what, int k, const tg_tensor *v, const tg_tensor *like) {
  char a[96], b[96], name[24] = "v";
  if (!tg_tensor_check(v, op, 5)) return false;
  if (k >= 0) snprintf(name, sizeof name, "v[%d]", k);
  if (!tg_same_shape(v, like) || v->dtype != like->dtype) {
    tg_error("%s: %s is %s %s but %s is %s %s", op, name, tg_dtype_name(v->dtype), tg_shape_str(v, a, sizeof a),
             what, tg_dtype_name(like->dtype), tg_shape_str(like, b, sizeof b));
    return false;
  }
  return true;
}

/* gradients that are NULL (unused inputs) become zeros; without
 * create_graph nothing keeps history */
static int finish(tg_tensor **g, tg_tensor **like, int n, bool create_graph) {
  for (int i = 0; i < n; i++) {
    if (!g[i]) g[i] = tg_zeros_like(like[i]);
    else if (!create_graph && g[i]->requires_grad) g[i] = tg_detach(g[i]);
    if (!g[i]) return -1;
  }
  return 0;
}

static tg_tensor *result_out(tg_tensor *y, bool create_graph) {
  return create_graph || !y->requires_grad ? y : tg_detach(y);
}

/* scratch arrays of tensor pointers from the pool */
static tg_tensor **ptrs(size_t n) {
  tg_tensor **p = tg_pool_alloc((n ? n : 1) * sizeof *p);
  if (p) memset(p, 0, (n ? n : 1) * sizeof *p);
  return p;
}

int tg_vjp(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor *v, tg_tensor **out, tg_tensor **vjp,
           tg_functional_opts o) {
  const char *op = "vjp";
  if (!check_args(op, f, inputs, n)) return -1;
  if (!vjp) {
    tg_error("vjp: argument 7 (the vjp array) is NULL");
    return -1;
  }
  tg_tensor **x = ptrs((size_t)n);
  if (!x) return -1;
  int rc = -1;
  tg_tensor *y = prepare(inputs, n, x, o.create_graph) == 0 ? call(op, f, x, ctx) : NULL;
  if (!y) goto done;
  if (!v && y->numel != 1) {
    tg_error("vjp: v can be NULL only when the function returns one element; it returned %zu", y->numel);
    goto done;
  }
  if (v && !check_like(op, "the function's output", -1, v, y)) goto done;
  for (int i = 0; i < n; i++) vjp[i] = NULL;
  if (y->requires_grad) {
    tg_grad_opts go = {.create_graph = o.create_graph, .allow_unused = true};
    tg_tensor *vv = v;
    if (tg_grad(1, &y, v ? &vv : NULL, n, x, vjp, go) != 0) goto done;
  }
  if (finish(vjp, x, n, o.create_graph) != 0) goto done;
  if (out && !(*out = result_out(y, o.create_graph))) goto done;
  rc = 0;
done:
  tg_pool_free(x);
  return rc;
}

/* The double-backward trick's first half: u (a zero leaf shaped like y) and
 * g[i] = J_iᵀ u, recorded. k: how many g[i] depend on u (the others are
 * NULL). */
static int transpose_graph(tg_tensor *y, tg_tensor **x, int n, tg_tensor **u, tg_tensor **g, int *k) {
  *u = tg_requires_grad_(tg_zeros_like(y), true);
  if (!*u) return -1;
  tg_grad_opts go = {.create_graph = true, .allow_unused = true};
  if (tg_grad(1, &y, u, n, x, g, go) != 0) return -1;
  *k = 0;
  for (int i = 0; i < n; i++)
    if (g[i] && !g[i]->requires_grad) g[i] = NULL; /* constant in u: J_i is 0 */
  for (int i = 0; i < n; i++) *k += g[i] != NULL;
  return 0;
}

/* Σ_i J_i v_i = d/du Σ_i <g_i, v_i>; zeros like y when no g_i depends on u */
static int forward_product(tg_tensor *y, tg_tensor *u, tg_tensor **g, tg_tensor **v, int n, tg_tensor **res,
                           bool create_graph, bool retain) {
  tg_tensor **gs = ptrs((size_t)n), **vs = ptrs((size_t)n);
  int k = 0, rc = -1;
  if (!gs || !vs) goto done;
  for (int i = 0; i < n; i++)
    if (g[i]) gs[k] = g[i], vs[k] = v[i], k++;
  *res = NULL;
  tg_grad_opts go = {.create_graph = create_graph, .retain_graph = retain || create_graph, .allow_unused = true};
  if (k > 0 && tg_grad(k, gs, vs, 1, &u, res, go) != 0) goto done;
  rc = finish(res, &y, 1, create_graph);
done:
  tg_pool_free(gs);
  tg_pool_free(vs);
  return rc;
}

/* tg_jvp by dual numbers: f runs once on dual inputs (without create_graph
 * under no_grad: no tape at all) and the output's tangent is the product */
static int jvp_dual(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **v, tg_tensor **out,
                    tg_tensor **jvp, tg_functional_opts o) {
  bool entered = !tg_fwad_on_;
  if (entered && tg_fwad_enter_dual_level() != 0) return -1;
  tg_tensor **d = ptrs((size_t)n), *y = NULL, *t = NULL;
  int rc = -1;
  if (!d) goto done;
  for (int i = 0; i < n; i++) {
    tg_tensor *x = o.create_graph && inputs[i]->requires_grad ? inputs[i] : tg_detach(inputs[i]);
    tg_tensor *vi = v ? v[i] : tg_ones_like(inputs[i]);
    if (!x || !vi || !(d[i] = tg_make_dual(x, vi))) goto done;
  }
  bool prev = tg_set_grad_enabled(o.create_graph);
  y = f(d, ctx);
  tg_set_grad_enabled(prev);
  if (!y) {
    if (!tg_has_error()) tg_error("jvp: the function returned NULL");
    goto done;
  }
  if (!tg_tensor_check(y, "jvp", 1) || tg_unpack_dual(y, &y, &t) != 0) goto done;
  *jvp = t;
  if (finish(jvp, &y, 1, o.create_graph) != 0) goto done;
  if (out && !(*out = result_out(y, o.create_graph))) goto done;
  rc = 0;
done:
  tg_pool_free(d);
  if (entered) tg_fwad_exit_dual_level();
  return rc;
}

int tg_jvp(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **v, tg_tensor **out, tg_tensor **jvp,
           tg_functional_opts o) {
  const char *op = "jvp";
  if (!check_args(op, f, inputs, n)) return -1;
  if (!jvp) {
    tg_error("jvp: argument 7 (the jvp slot) is NULL");
    return -1;
  }
  if (!v && (n != 1 || inputs[0]->numel != 1)) {
    tg_error("jvp: v can be NULL only for one input of one element");
    return -1;
  }
  for (int i = 0; v && i < n; i++)
    if (!v[i] ? (tg_error("jvp: v[%d] is NULL", i), true) : !check_like(op, "its input", i, v[i], inputs[i]))
      return -1;
  if (o.forward_mode) return jvp_dual(f, ctx, inputs, n, v, out, jvp, o);
  tg_tensor **x = ptrs((size_t)n), **g = ptrs((size_t)n), *one = NULL;
  int rc = -1, k = 0;
  if (!x || !g) goto done;
  tg_tensor *y = prepare(inputs, n, x, o.create_graph) == 0 ? call(op, f, x, ctx) : NULL, *u = NULL;
  if (!y) goto done;
  if (!v && !(one = tg_ones_like(inputs[0]))) goto done;
  *jvp = NULL;
  if (y->requires_grad && transpose_graph(y, x, n, &u, g, &k) != 0) goto done;
  if (k > 0 && forward_product(y, u, g, v ? v : &one, n, jvp, o.create_graph, false) != 0) goto done;
  if (finish(jvp, &y, 1, o.create_graph) != 0) goto done;
  if (out && !(*out = result_out(y, o.create_graph))) goto done;
  rc = 0;
done:
  tg_pool_free(x);
  tg_pool_free(g);
  return rc;
}

/* f's value and gradient (recorded) for hvp, vhp and hessian: f must
 * return one element */
static tg_tensor *scalar_and_grad(const char *op, tg_fn f, void *ctx, tg_tensor **x, int n, tg_tensor **g) {
  tg_tensor *y = call(op, f, x, ctx);
  if (!y) return NULL;
  if (y->numel != 1) {
    tg_error("%s: the function must return a single-element tensor; it returned %zu elements", op, y->numel);
    return NULL;
  }
  for (int i = 0; i < n; i++) g[i] = NULL;
  tg_grad_opts go = {.create_graph = true, .allow_unused = true};
  if (y->requires_grad && tg_grad(1, &y, NULL, n, x, g, go) != 0) return NULL;
  for (int i = 0; i < n; i++)
    if (g[i] && !g[i]->requires_grad) g[i] = NULL; /* constant gradient: H rows are 0 */
  return y;
}

static int check_vs(const char *op, tg_tensor **v, tg_tensor **inputs, int n) {
  if (!v) {
    tg_error("%s: argument 5 (v) is NULL", op);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (!v[i]) {
      tg_error("%s: v[%d] is NULL", op, i);
      return -1;
    }
    if (!check_like(op, "its input", i, v[i], inputs[i])) return -1;
  }
  return 0;
}

/* vhp[j] = Σ_i v_iᵀ ∂g_i/∂x_j: one backward through the gradient */
static int vhp_of(tg_tensor **g, tg_tensor **v, tg_tensor **x, int n, tg_tensor **res, bool create_graph) {
  tg_tensor **gs = ptrs((size_t)n), **vs = ptrs((size_t)n);
  int k = 0, rc = -1;
  if (!gs || !vs) goto done;
  for (int i = 0; i < n; i++)
    if (g[i]) gs[k] = g[i], vs[k] = v[i], k++;
  for (int i = 0; i < n; i++) res[i] = NULL;
  tg_grad_opts go = {.create_graph = create_graph, .allow_unused = true};
  if (k > 0 && tg_grad(k, gs, vs, n, x, res, go) != 0) goto done;
  rc = finish(res, x, n, create_graph);
done:
  tg_pool_free(gs);
  tg_pool_free(vs);
  return rc;
}

static int second_order(const char *op, bool hvp, tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **v,
                        tg_tensor **out, tg_tensor **res, tg_functional_opts o) {
  if (!check_args(op, f, inputs, n) || check_vs(op, v, inputs, n) != 0) return -1;
  if (!res) {
    tg_error("%s: argument 7 (the result array) is NULL", op);
    return -1;
  }
  tg_tensor **x = ptrs((size_t)n), **g = ptrs((size_t)n), **gj = ptrs((size_t)n), **u = ptrs((size_t)n);
  int rc = -1;
  if (!x || !g || !gj || !u) goto done;
  tg_tensor *y = prepare(inputs, n, x, o.create_graph) == 0 ? scalar_and_grad(op, f, ctx, x, n, g) : NULL;
  if (!y) goto done;
  if (!hvp) {
    rc = vhp_of(g, v, x, n, res, o.create_graph);
  } else {
    /* H v exactly (torch's way, for a Hessian that is not symmetric):
     * d = Hᵀu recorded for zero leaves u, then d/du <d, v> = H v */
    for (int i = 0; i < n; i++)
      if (!(u[i] = tg_requires_grad_(tg_zeros_like(x[i]), true))) goto done;
    rc = vhp_of(g, u, x, n, gj, true);
    tg_tensor **gs = ptrs((size_t)n), **vs = ptrs((size_t)n);
    int k = 0;
    if (rc == 0 && (!gs || !vs)) rc = -1;
    for (int j = 0; rc == 0 && j < n; j++)
      if (gj[j]->requires_grad) gs[k] = gj[j], vs[k] = v[j], k++;
    for (int i = 0; i < n; i++) res[i] = NULL;
    tg_grad_opts go = {.create_graph = o.create_graph, .allow_unused = true};
    if (rc == 0 && k > 0) rc = tg_grad(k, gs, vs, n, u, res, go);
    if (rc == 0) rc = finish(res, x, n, o.create_graph);
    tg_pool_free(gs);
    tg_pool_free(vs);
  }
  if (rc == 0 && out && !(*out = result_out(y, o.create_graph))) rc = -1;
done:
  tg_pool_free(x);
  tg_pool_free(g);
  tg_pool_free(gj);
  tg_pool_free(u);
  return rc;
}

int tg_hvp(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **v, tg_tensor **out, tg_tensor **hvp,
           tg_functional_opts o) {
  return second_order("hvp", true, f, ctx, inputs, n, v, out, hvp, o);
}

int tg_vhp(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **v, tg_tensor **out, tg_tensor **vhp,
           tg_functional_opts o) {
  return second_order("vhp", false, f, ctx, inputs, n, v, out, vhp, o);
}

/* ---------------------------------------------------- jacobians, hessian */

/* a zero tensor of shape a.shape ++ b.shape in dtype dt, in the scope
 * around the current one (the caller's: the work runs in an inner scope) */
static tg_tensor *block(const char *op, tg_dtype dt, const tg_tensor *a, const tg_tensor *b) {
  if (a->ndim + b->ndim > TG_MAX_DIMS) {
    tg_error("%s: the result would have %d dims (%d + %d); at most %d are supported", op, a->ndim + b->ndim,
             a->ndim, b->ndim, TG_MAX_DIMS);
    return NULL;
  }
  size_t shape[TG_MAX_DIMS];
  memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
  memcpy(shape + a->ndim, b->shape, (size_t)b->ndim * sizeof *shape);
  tg_tensor *z = tg_tensor_alloc_in(tg_ctx.depth - 1, dt, a->ndim + b->ndim, shape);
  if (z) memset(z->storage->data, 0, z->storage->nbytes);
  return z;
}

/* J's entries [first + k*stride] for k < numel(part) = part's values */
static void put(tg_tensor *J, size_t first, size_t stride, const tg_tensor *part) {
  for (size_t k = 0; k < part->numel; k++) {
    double val = tg_get_flat(part, k);
    size_t at = first + k * stride;
    if (J->dtype == TG_FLOAT32) ((float *)J->storage->data)[at] = (float)val;
    else ((double *)J->storage->data)[at] = val;
  }
}

/* one-hot of t's shape at flat index i */
static tg_tensor *one_hot(const tg_tensor *t, size_t i) {
  tg_tensor *e = tg_zeros(t->dtype, t->ndim, t->shape);
  if (e && t->dtype == TG_FLOAT32) ((float *)e->storage->data)[i] = 1.0f;
  else if (e) ((double *)e->storage->data)[i] = 1.0;
  return e;
}

/* rows r of J[i] (out.shape ++ x_i.shape) via one-hot cotangents on y */
static int rows_reverse(tg_tensor *y, tg_tensor **x, int n, tg_tensor **J) {
  tg_tensor **row = ptrs((size_t)n);
  int rc = row ? 0 : -1;
  for (size_t r = 0; rc == 0 && y->requires_grad && r < y->numel; r++) {
    if (tg_scope_begin() != 0) {
      rc = -1;
      break;
    }
    tg_tensor *e = one_hot(y, r);
    tg_grad_opts go = {.retain_graph = true, .allow_unused = true};
    rc = e ? tg_grad(1, &y, &e, n, x, row, go) : -1;
    for (int i = 0; rc == 0 && i < n; i++)
      if (row[i]) put(J[i], r * x[i]->numel, 1, row[i]);
    tg_scope_end();
  }
  tg_pool_free(row);
  return rc;
}

/* columns (i, c) of J via the double-backward trick, one-hot tangents */
static int columns_forward(tg_tensor *y, tg_tensor **x, int n, tg_tensor **J) {
  tg_tensor **g = ptrs((size_t)n), **v = ptrs((size_t)n), *u = NULL;
  int k = 0, rc = g && v ? 0 : -1;
  if (rc == 0 && y->requires_grad) rc = transpose_graph(y, x, n, &u, g, &k);
  for (int i = 0; rc == 0 && k > 0 && i < n; i++) {
    if (!g[i]) continue; /* J_i = 0 */
    for (size_t c = 0; rc == 0 && c < x[i]->numel; c++) {
      if (tg_scope_begin() != 0) {
        rc = -1;
        break;
      }
      for (int j = 0; j < n; j++) v[j] = j == i ? one_hot(x[j], c) : tg_zeros_like(x[j]);
      tg_tensor *col = NULL;
      rc = forward_product(y, u, g, v, n, &col, false, true);
      if (rc == 0) put(J[i], c, x[i]->numel, col);
      tg_scope_end();
    }
  }
  tg_pool_free(g);
  tg_pool_free(v);
  return rc;
}

/* columns (i, c) of J from the ops' JVPs: f once per column on dual inputs
 * with one-hot tangents (tg_jvp's forward mode: no tape, no backward) */
static int columns_dual(tg_fn f, void *ctx, tg_tensor **x, int n, tg_tensor **J) {
  tg_tensor **v = ptrs((size_t)n);
  int rc = v ? 0 : -1;
  for (int i = 0; rc == 0 && i < n; i++)
    for (size_t c = 0; rc == 0 && c < x[i]->numel; c++) {
      if (tg_scope_begin() != 0) {
        rc = -1;
        break;
      }
      for (int j = 0; j < n; j++) v[j] = j == i ? one_hot(x[j], c) : tg_zeros_like(x[j]);
      tg_tensor *col = NULL;
      rc = tg_jvp(f, ctx, x, n, v, NULL, &col, (tg_functional_opts){.forward_mode = true});
      if (rc == 0 && col->numel * x[i]->numel != J[i]->numel) {
        tg_error("jacobians: the function's output changed shape between calls");
        rc = -1;
      }
      if (rc == 0) put(J[i], c, x[i]->numel, col);
      tg_scope_end();
    }
  tg_pool_free(v);
  return rc;
}

int tg_jacobians(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **jac, tg_jacobian_opts o) {
  const char *op = "jacobians";
  if (!check_args(op, f, inputs, n)) return -1;
  if (!jac) {
    tg_error("jacobians: argument 5 (the result array) is NULL");
    return -1;
  }
  for (int i = 0; i < n; i++) jac[i] = NULL;
  tg_tensor **x = ptrs((size_t)n), **J = ptrs((size_t)n);
  int rc = -1;
  /* the work in an inner scope, the results in the caller's */
  if (!x || !J || tg_scope_begin() != 0) goto done;
  tg_tensor *y = prepare(inputs, n, x, false) == 0 ? call(op, f, x, ctx) : NULL;
  for (int i = 0; y && i < n; i++)
    if (!(J[i] = block(op, y->dtype, y, x[i]))) y = NULL;
  if (y && o.forward_mode && o.jvp_columns) rc = columns_dual(f, ctx, x, n, J);
  else if (y) rc = o.forward_mode ? columns_forward(y, x, n, J) : rows_reverse(y, x, n, J);
  for (int i = 0; rc != 0 && i < n; i++)
    if (J[i]) tg_tensor_destroy(J[i]);
  tg_scope_end();
  for (int i = 0; rc == 0 && i < n; i++) jac[i] = J[i];
done:
  tg_pool_free(x);
  tg_pool_free(J);
  return rc;
}

int tg_hessian(tg_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **hess) {
  const char *op = "hessian";
  if (!check_args(op, f, inputs, n)) return -1;
  if (!hess) {
    tg_error("hessian: argument 5 (the result array) is NULL");
    return -1;
  }
  for (int i = 0; i < n * n; i++) hess[i] = NULL;
  tg_tensor **x = ptrs((size_t)n), **g = ptrs((size_t)n), **row = ptrs((size_t)n), **H = ptrs((size_t)n * n);
  int rc = -1;
  if (!x || !g || !row || !H || tg_scope_begin() != 0) goto done;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      if (!(H[i * n + j] = block(op, inputs[i]->dtype, inputs[i], inputs[j]))) goto fail;
  rc = prepare(inputs, n, x, false) == 0 && scalar_and_grad(op, f, ctx, x, n, g) ? 0 : -1;
  /* row r of H[i][*]: the gradient of g_i's element r */
  for (int i = 0; rc == 0 && i < n; i++) {
    for (size_t r = 0; rc == 0 && g[i] && r < x[i]->numel; r++) {
      if (tg_scope_begin() != 0) {
        rc = -1;
        break;
      }
      tg_tensor *e = one_hot(g[i], r);
      tg_grad_opts go = {.retain_graph = true, .allow_unused = true};
      rc = e ? tg_grad(1, &g[i], &e, n, x, row, go) : -1;
      for (int j = 0; rc == 0 && j < n; j++)
        if (row[j]) put(H[i * n + j], r * x[j]->numel, 1, row[j]);
      tg_scope_end();
    }
  }
fail:
  for (int k = 0; rc != 0 && k < n * n; k++)
    if (H[k]) tg_tensor_destroy(H[k]);
  tg_scope_end();
  for (int k = 0; rc == 0 && k < n * n; k++) hess[k] = H[k];
done:
  tg_pool_free(x);
  tg_pool_free(g);
  tg_pool_free(row);
  tg_pool_free(H);
  return rc;
}
