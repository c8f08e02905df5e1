/* The autograd layer: grad mode, leaves, accumulation over fan-out and
 * diamonds, functional grad, higher derivatives, jacobian, deep graphs,
 * graph export and gradcheck. Expected derivatives are worked out by hand
 * in the comments and computed here in plain C. */
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

static tg_tensor *leaf64(int ndim, const size_t *shape, const double *v) {
  return tg_requires_grad_(tg_from_f64(ndim, shape, v), true);
}

static void assert_values(const tg_tensor *t, const double *expect, size_t n, double tol) {
  assert_non_null(t);
  assert_int_equal(t->numel, n);
  for (size_t i = 0; i < n; i++) {
    double g = tg_get_flat(t, i);
    if (!(fabs(g - expect[i]) <= tol)) fail_msg("element %zu = %.17g, expected %.17g (tol %g)", i, g, expect[i], tol);
  }
}

static void test_retain_grad(void **state) {
  (void)state;
  const double xv[3] = {1, -2, 0.5};
  tg_tensor *x = leaf64(TG_SHAPE(3), xv);
  tg_tensor *h = tg_mul_scalar(x, 3);
  assert_ptr_equal(tg_retain_grad(h), h);
  assert_true(h->retains_grad);
  tg_tensor *q = tg_mul(h, h); /* not retained */
  tg_tensor *y = tg_sum(q);
  assert_ptr_equal(tg_retain_grad(x), x); /* a leaf: nothing to do */
  assert_false(x->retains_grad);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  /* y = sum(h^2): dy/dh = 2h = 6x; dy/dx = 18x */
  double dh[3], dx[3];
  for (int i = 0; i < 3; i++) dh[i] = 6 * xv[i], dx[i] = 18 * xv[i];
  assert_values(h->grad, dh, 3, 1e-12);
  assert_values(x->grad, dx, 3, 1e-12);
  assert_null(q->grad);
  assert_null(y->grad);
}

static void test_no_grad(void **state) {
  (void)state;
  tg_tensor *x = leaf64(TG_SHAPE(2), (double[]){1, 2});
  assert_true(tg_grad_enabled());
  tg_no_grad_begin();
  assert_false(tg_grad_enabled());
  tg_tensor *y = tg_exp(tg_mul(x, x));
  assert_non_null(y);
  assert_null(y->grad_fn);
  assert_false(y->requires_grad);
  assert_true(tg_is_leaf(y));
  assert_close(tg_get_flat(y, 1), exp(4.0), 1e-12); /* values are still computed */
  /* nesting: the inner end restores the outer no_grad */
  tg_no_grad_begin();
  assert_false(tg_grad_enabled());
  tg_no_grad_end();
  assert_false(tg_grad_enabled());
  tg_no_grad_end();
  assert_true(tg_grad_enabled());
  tg_tensor *z = tg_mul(x, x);
  assert_non_null(z->grad_fn);
  assert_true(z->requires_grad);

  /* no_grad restores whatever mode was set before it */
  assert_true(tg_set_grad_enabled(false));
  tg_no_grad_begin();
  tg_no_grad_end();
  assert_false(tg_grad_enabled());
  assert_false(tg_set_grad_enabled(true));
  /* switching grad on inside no_grad lasts until its end */
  tg_no_grad_begin();
  tg_set_grad_enabled(true);
  assert_non_null(tg_mul(x, x)->grad_fn);
  tg_no_grad_end();
  assert_true(tg_grad_enabled());

  /* a result made under no_grad cannot be backpropagated */
  tg_clear_error();
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), -1);
  assert_null(x->grad);
  tg_clear_error();
}

static void test_detach(void **state) {
  (void)state;
  const double xv[3] = {0.5, 1, 2};
  tg_tensor *x = leaf64(TG_SHAPE(3), xv);
  tg_tensor *h = tg_mul_scalar(x, 2);
  tg_tensor *d = tg_detach(h);
  assert_non_null(d);
  assert_ptr_equal(d->storage, h->storage);
  assert_null(d->grad_fn);
  assert_false(d->requires_grad);
  assert_true(tg_is_leaf(d));
  tg_set(d, (size_t[]){0}, 10); /* shares storage both ways */
  assert_close(tg_get_flat(h, 0), 10, 0);
  tg_set(d, (size_t[]){0}, 1);
  /* y = sum(d * x): d is a constant, so dy/dx = d = 2x (not 4x) */
  tg_tensor *y = tg_sum(tg_mul(d, x));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_values(x->grad, (double[]){1, 2, 4}, 3, 0);
  assert_null(d->grad);
  /* detaching a transposed view keeps its geometry */
  tg_tensor *m = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(2, 3)), true);
  tg_tensor *dt = tg_detach(tg_t(m));
  assert_int_equal(dt->shape[0], 3);
  assert_int_equal(dt->strides[0], 1);
  assert_ptr_equal(dt->storage, m->storage);
}

static void test_requires_grad_false_freezes(void **state) {
  (void)state;
  const double wv[2] = {3, -1}, xv[2] = {2, 5};
  tg_tensor *w = leaf64(TG_SHAPE(2), wv);
  tg_tensor *x = leaf64(TG_SHAPE(2), xv);
  assert_ptr_equal(tg_requires_grad_(w, false), w);
  assert_false(w->requires_grad);
  tg_tensor *y = tg_sum(tg_mul(w, x));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_null(w->grad);
  assert_values(x->grad, wv, 2, 0);
  /* with every input frozen there is nothing to differentiate */
  tg_requires_grad_(x, false);
  tg_tensor *y2 = tg_sum(tg_mul(w, x));
  assert_null(y2->grad_fn);
  assert_false(y2->requires_grad);
  /* and unfreezing works */
  tg_requires_grad_(w, true);
  tg_tensor *y3 = tg_sum(tg_mul(w, x));
  assert_int_equal(tg_backward(y3, NULL, false), 0);
  assert_values(w->grad, xv, 2, 0);
}

static void test_zero_grad(void **state) {
  (void)state;
  tg_tensor *x = leaf64(TG_SHAPE(2), (double[]){1, 3});
  assert_int_equal(tg_zero_grad(x), 0); /* no grad yet: nothing to do */
  assert_null(x->grad);
  assert_int_equal(tg_backward(tg_sum(tg_mul(x, x)), NULL, false), 0);
  tg_tensor *g = x->grad;
  assert_values(g, (double[]){2, 6}, 2, 0);
  assert_int_equal(tg_zero_grad(x), 0);
  assert_ptr_equal(x->grad, g);
  assert_values(g, (double[]){0, 0}, 2, 0);
  assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(x, 5)), NULL, false), 0);
  assert_ptr_equal(x->grad, g);
  assert_values(g, (double[]){5, 5}, 2, 0);
}

static void test_fan_out_accumulates(void **state) {
  (void)state;
  const double xv[3] = {0.3, -1.2, 2};
  tg_tensor *x = leaf64(TG_SHAPE(3), xv);
  /* x used three times: y = sum(2x + e^x + sin x), dy/dx = 2 + e^x + cos x */
  tg_tensor *y = tg_sum(tg_add(tg_add(tg_mul_scalar(x, 2), tg_exp(x)), tg_sin(x)));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  double want[3];
  for (int i = 0; i < 3; i++) want[i] = 2 + exp(xv[i]) + cos(xv[i]);
  assert_values(x->grad, want, 3, 1e-12);

  /* the same tensor as both operands: d/dx sum(x*x) = 2x */
  tg_tensor *u = leaf64(TG_SHAPE(3), xv);
  assert_int_equal(tg_backward(tg_sum(tg_mul(u, u)), NULL, false), 0);
  for (int i = 0; i < 3; i++) want[i] = 2 * xv[i];
  assert_values(u->grad, want, 3, 1e-12);

  /* a scalar leaf fanned out over a broadcast: y = sum(s * v), dy/ds = sum(v) */
  tg_tensor *s = tg_requires_grad_(tg_scalar(TG_FLOAT64, 2), true);
  tg_tensor *v = tg_from_f64(TG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
  assert_int_equal(tg_backward(tg_sum(tg_add(tg_mul(s, v), s)), NULL, false), 0);
  assert_close(tg_item(s->grad), 10 + 4, 1e-12); /* sum(v) + 4 uses of s in the add */
}

static void test_diamond(void **state) {
  (void)state;
  const double xv[2] = {0.25, -0.7};
  tg_tensor *x = leaf64(TG_SHAPE(2), xv);
  /* a = 2x; y = sum(e^a * sin a); dy/dx = 2 e^a (sin a + cos a) */
  tg_tensor *a = tg_mul_scalar(x, 2);
  tg_tensor *y = tg_sum(tg_mul(tg_exp(a), tg_sin(a)));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  double want[2];
  for (int i = 0; i < 2; i++) {
    double ai = 2 * xv[i];
    want[i] = 2 * exp(ai) * (sin(ai) + cos(ai));
  }
  assert_values(x->grad, want, 2, 1e-12);

  /* two diamonds stacked: b = x*x, c = b + b, y = sum(c * b) = sum(2 x^4), dy/dx = 8 x^3 */
  tg_tensor *z = leaf64(TG_SHAPE(2), xv);
  tg_tensor *b = tg_mul(z, z);
  tg_tensor *c = tg_add(b, b);
  assert_int_equal(tg_backward(tg_sum(tg_mul(c, b)), NULL, false), 0);
  for (int i = 0; i < 2; i++) want[i] = 8 * pow(xv[i], 3);
  assert_values(z->grad, want, 2, 1e-12);
}

static void test_grad_functional(void **state) {
  (void)state;
  const double xv[3] = {1, 2, -1};
  tg_tensor *x = leaf64(TG_SHAPE(3), xv);
  tg_tensor *u = leaf64(TG_SHAPE(3), xv); /* not used by y */
  tg_tensor *h = tg_retain_grad(tg_mul_scalar(x, 3));
  tg_tensor *y = tg_sum(tg_mul(h, h)); /* 9 sum(x^2) */
  tg_tensor *g[3] = {NULL, NULL, NULL};
  tg_grad_opts opts = {.retain_graph = true, .allow_unused = true};
  assert_int_equal(tg_grad(1, &y, NULL, 3, (tg_tensor *[]){x, u, h}, g, opts), 0);
  double dx[3], dh[3];
  for (int i = 0; i < 3; i++) dx[i] = 18 * xv[i], dh[i] = 6 * xv[i];
  assert_values(g[0], dx, 3, 1e-12);
  assert_null(g[1]);              /* unreachable, allowed */
  assert_values(g[2], dh, 3, 1e-12); /* a non-leaf input */
  /* .grad is not touched, not even a retained one */
  assert_null(x->grad);
  assert_null(u->grad);
  assert_null(h->grad);

  /* with an existing .grad, tg_grad leaves it as it was */
  assert_int_equal(tg_backward(y, NULL, true), 0);
  tg_tensor *before = x->grad;
  assert_values(before, dx, 3, 1e-12);
  assert_values(h->grad, dh, 3, 1e-12); /* backward fills the retained one */
  tg_tensor *g2 = NULL;
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x, &g2, (tg_grad_opts){.retain_graph = true}), 0);
  assert_ptr_equal(x->grad, before);
  assert_ptr_not_equal(g2, before);
  assert_values(x->grad, dx, 3, 1e-12);
  assert_values(g2, dx, 3, 1e-12);
  assert_values(h->grad, dh, 3, 1e-12);

  /* tg_grad with create_graph in an inner scope: afterwards every .grad is
   * still valid and a backward accumulates into them as before */
  tg_tensor *hgrad = h->grad;
  tg_scope_begin();
  tg_tensor *g4 = NULL;
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x, &g4, (tg_grad_opts){.create_graph = true}), 0);
  assert_values(g4, dx, 3, 1e-12);
  tg_scope_end();
  assert_ptr_equal(h->grad, hgrad);
  assert_true(tg_tensor_check(h->grad, "test", 1));
  assert_int_equal(tg_backward(y, NULL, true), 0);
  double dh2[3], dx2[3];
  for (int i = 0; i < 3; i++) dh2[i] = 2 * dh[i], dx2[i] = 2 * dx[i];
  assert_values(h->grad, dh2, 3, 1e-12);
  assert_values(x->grad, dx2, 3, 1e-12);

  /* several outputs with weights: d/dx (2 sum(x^2) - sum(sin x)) = 4x - cos x */
  tg_tensor *y1 = tg_sum(tg_mul(x, x)), *y2 = tg_sum(tg_sin(x));
  tg_tensor *w1 = tg_scalar(TG_FLOAT64, 2), *w2 = tg_scalar(TG_FLOAT64, -1);
  tg_tensor *g3 = NULL;
  assert_int_equal(tg_grad(2, (tg_tensor *[]){y1, y2}, (tg_tensor *[]){w1, w2}, 1, &x, &g3,
                           (tg_grad_opts){0}),
                   0);
  double want[3];
  for (int i = 0; i < 3; i++) want[i] = 4 * xv[i] - cos(xv[i]);
  assert_values(g3, want, 3, 1e-12);
  /* without create_graph the result has no history */
  assert_null(g3->grad_fn);
}

/* f(t) = t1^2 - t2^2 = sum(t^2 * [1, -1]) */
static tg_tensor *saddle(tg_tensor *t) {
  tg_tensor *c = tg_from_f64(TG_SHAPE(2), (double[]){1, -1});
  return tg_sum(tg_mul(tg_pow_scalar(t, 2), c));
}

static void test_hessian_create_graph(void **state) {
  (void)state;
  tg_tensor *t = leaf64(TG_SHAPE(2), (double[]){0, 0});
  tg_tensor *f = saddle(t);
  tg_tensor *g = NULL;
  assert_int_equal(tg_grad(1, &f, NULL, 1, &t, &g, (tg_grad_opts){.create_graph = true}), 0);
  assert_non_null(g);
  assert_non_null(g->grad_fn); /* the gradient has history */
  assert_true(g->requires_grad);
  assert_values(g, (double[]){0, 0}, 2, 0); /* grad = (2 t1, -2 t2) = 0 at the saddle */
  /* rows of the Hessian: d(g . e_i)/dt */
  const double H[2][2] = {{2, 0}, {0, -2}};
  for (size_t i = 0; i < 2; i++) {
    tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(2));
    tg_set(e, (size_t[]){i}, 1);
    tg_tensor *row = NULL;
    assert_int_equal(tg_grad(1, &g, &e, 1, &t, &row, (tg_grad_opts){.retain_graph = true}), 0);
    assert_values(row, H[i], 2, 1e-12);
  }
  assert_null(t->grad);

  /* away from the origin the gradient changes but the Hessian does not */
  tg_tensor *t2 = leaf64(TG_SHAPE(2), (double[]){1.5, -3});
  tg_tensor *f2 = saddle(t2), *g2 = NULL;
  assert_int_equal(tg_grad(1, &f2, NULL, 1, &t2, &g2, (tg_grad_opts){.create_graph = true}), 0);
  assert_values(g2, (double[]){3, 6}, 2, 1e-12);
  tg_tensor *row0 = NULL;
  assert_int_equal(tg_grad(1, &g2, (tg_tensor *[]){tg_from_f64(TG_SHAPE(2), (double[]){1, 0})}, 1,
                           &t2, &row0, (tg_grad_opts){0}),
                   0);
  assert_values(row0, H[0], 2, 1e-12);
}

static void test_hessian_vector_product(void **state) {
  (void)state;
  /* f(x) = sum(x^3) + (sum x)^2
   * grad f = 3 x^2 + 2 sum(x)
   * H = diag(6x) + 2 * ones, so H v = 6 x * v + 2 sum(v) */
  const double xv[3] = {1, -2, 0.5}, vv[3] = {0.3, -1, 2};
  tg_tensor *x = leaf64(TG_SHAPE(3), xv);
  tg_tensor *v = tg_from_f64(TG_SHAPE(3), vv);
  tg_tensor *f = tg_add(tg_sum(tg_pow_scalar(x, 3)), tg_pow_scalar(tg_sum(x), 2));
  tg_tensor *g = NULL;
  assert_int_equal(tg_grad(1, &f, NULL, 1, &x, &g, (tg_grad_opts){.create_graph = true}), 0);
  double sx = xv[0] + xv[1] + xv[2], sv = vv[0] + vv[1] + vv[2], want_g[3], want_hv[3];
  for (int i = 0; i < 3; i++) {
    want_g[i] = 3 * xv[i] * xv[i] + 2 * sx;
    want_hv[i] = 6 * xv[i] * vv[i] + 2 * sv;
  }
  assert_values(g, want_g, 3, 1e-12);
  /* Hv = d(g . v)/dx */
  tg_tensor *gv = tg_sum(tg_mul(g, v));
  tg_tensor *hv = NULL;
  assert_int_equal(tg_grad(1, &gv, NULL, 1, &x, &hv, (tg_grad_opts){0}), 0);
  assert_values(hv, want_hv, 3, 1e-12);
  /* the same product through tg_backward into .grad */
  tg_tensor *f2 = tg_add(tg_sum(tg_pow_scalar(x, 3)), tg_pow_scalar(tg_sum(x), 2)), *g2 = NULL;
  assert_int_equal(tg_grad(1, &f2, NULL, 1, &x, &g2, (tg_grad_opts){.create_graph = true}), 0);
  assert_int_equal(tg_backward(tg_sum(tg_mul(g2, v)), NULL, false), 0);
  assert_values(x->grad, want_hv, 3, 1e-12);
}

/* y = (x1^2 + x2^2, x2^2 + x3^2 x2) */
static tg_tensor *jac_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  tg_tensor *x = in[0];
  tg_tensor *x1 = tg_select(x, 0, 0), *x2 = tg_select(x, 0, 1), *x3 = tg_select(x, 0, 2);
  tg_tensor *y1 = tg_add(tg_mul(x1, x1), tg_mul(x2, x2));
  tg_tensor *y2 = tg_add(tg_mul(x2, x2), tg_mul(tg_mul(x3, x3), x2));
  return tg_stack(2, (tg_tensor *[]){y1, y2}, 0);
}

static void test_jacobian(void **state) {
  (void)state;
  tg_tensor *x = leaf64(TG_SHAPE(3), (double[]){1, 2, 3});
  tg_tensor *J = tg_jacobian(jac_fn, x, NULL);
  assert_non_null(J);
  assert_int_equal(J->ndim, 2);
  assert_int_equal(J->shape[0], 2);
  assert_int_equal(J->shape[1], 3);
  assert_int_equal(J->dtype, TG_FLOAT64);
  /* [[2 x1, 2 x2, 0], [0, 2 x2 + x3^2, 2 x3 x2]] at (1, 2, 3) */
  assert_values(J, (double[]){2, 4, 0, 0, 13, 12}, 6, 1e-12);
  assert_null(x->grad);
}

static void test_deep_chain(void **state) {
  (void)state;
  const int N = 200000;
  tg_scope_begin();
  size_t base = tg_memory_get_stats().live_objects;
  tg_tensor *x = leaf64(TG_SHAPE(1), (double[]){1});
  tg_tensor *y = x;
  /* built in an inner scope and kept out of it: tg_keep walks the whole
   * chain (iteratively) */
  tg_scope_begin();
  for (int i = 0; i < N && y; i++) y = tg_add_scalar(tg_mul_scalar(y, 1.0001), 0.5);
  assert_non_null(y);
  assert_ptr_equal(tg_keep(y), y);
  tg_scope_end();
  /* x, and per step two tensors and two nodes */
  assert_int_equal(tg_memory_get_stats().live_objects, base + 1 + 4 * (size_t)N);
  /* y_N = a^N x + 0.5 (a^N - 1) / (a - 1) and dy_N/dx = a^N, a = 1.0001 */
  double aN = 1, yN = 1;
  for (int i = 0; i < N; i++) {
    aN *= 1.0001;
    yN = yN * 1.0001 + 0.5;
  }
  assert_close(aN / pow(1.0001, N), 1, 1e-9);
  assert_close(tg_item(y) / yN, 1, 1e-9);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_close(tg_item(x->grad) / aN, 1, 1e-9);
  tg_scope_end();
}

static void test_graph_dot(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(3)), true);
  tg_tensor *w = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(3)), true);
  tg_tensor *c = tg_ones(TG_FLOAT32, TG_SHAPE(3)); /* a constant: not drawn */
  tg_set_name(x, "input_x");
  tg_set_name(w, "weight_w");
  tg_set_name(c, "constant_c");
  tg_tensor *loss = tg_sum(tg_tanh(tg_add(tg_mul(x, w), c)));
  tg_set_name(loss, "loss");
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_int_equal(tg_graph_dot(loss, f), 0);
  fclose(f);
  assert_non_null(text);
  const char *must[] = {"digraph", "SumBackward", "TanhBackward", "AddBackward", "MulBackward",
                        "input_x", "weight_w", "loss", "[3]"};
  for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
    if (!strstr(text, must[i])) fail_msg("graph has no \"%s\":\n%s", must[i], text);
  assert_null(strstr(text, "constant_c"));
  /* edges: sum->out, tanh->sum, add->tanh, mul->add, x->mul, w->mul */
  int edges = 0;
  for (const char *p = text; (p = strstr(p, "->")) != NULL; p += 2) edges++;
  assert_int_equal(edges, 6);
  free(text);
  /* export leaves the graph usable */
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  assert_non_null(x->grad);
  /* a leaf exports as just the output box */
  text = NULL;
  f = open_memstream(&text, &len);
  assert_int_equal(tg_graph_dot(x, f), 0);
  fclose(f);
  assert_null(strstr(text, "->"));
  assert_non_null(strstr(text, "digraph"));
  free(text);
}

static void test_grad_fn_names(void **state) {
  (void)state;
  tg_tensor *a = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(2, 2)), true);
  tg_tensor *b = tg_ones(TG_FLOAT32, TG_SHAPE(2, 2));
  assert_null(tg_grad_fn_name(a)); /* leaf */
  assert_null(tg_grad_fn_name(b));
  assert_true(tg_is_leaf(a));
  assert_string_equal(tg_grad_fn_name(tg_add(a, b)), "AddBackward");
  assert_string_equal(tg_grad_fn_name(tg_sub(a, b)), "SubBackward");
  assert_string_equal(tg_grad_fn_name(tg_mul(a, b)), "MulBackward");
  assert_string_equal(tg_grad_fn_name(tg_div(a, b)), "DivBackward");
  assert_string_equal(tg_grad_fn_name(tg_exp(a)), "ExpBackward");
  assert_string_equal(tg_grad_fn_name(tg_tanh(a)), "TanhBackward");
  assert_string_equal(tg_grad_fn_name(tg_sigmoid(a)), "SigmoidBackward");
  assert_string_equal(tg_grad_fn_name(tg_relu(a)), "ReluBackward");
  assert_string_equal(tg_grad_fn_name(tg_sum(a)), "SumBackward");
  assert_string_equal(tg_grad_fn_name(tg_mean(a)), "MeanBackward");
  assert_string_equal(tg_grad_fn_name(tg_matmul(a, b)), "MmBackward");
  assert_string_equal(tg_grad_fn_name(tg_softmax(a, 1)), "SoftmaxBackward");
  assert_string_equal(tg_grad_fn_name(tg_log_softmax(a, 1)), "LogSoftmaxBackward");
  assert_string_equal(tg_grad_fn_name(tg_reshape(a, TG_SHAPE(4))), "ViewBackward");
  assert_string_equal(tg_grad_fn_name(tg_clone(a)), "CloneBackward");
  assert_string_equal(tg_grad_fn_name(tg_cat(2, (tg_tensor *[]){a, b}, 0)), "CatBackward");
  assert_false(tg_is_leaf(tg_exp(a)));
  /* an op on tensors that need no grad records nothing */
  assert_null(tg_grad_fn_name(tg_mul(b, b)));
}

/* sum(sin(x0)) + sum(relu(x1)) */
static tg_tensor *kinked(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_add(tg_sum(tg_sin(in[0])), tg_sum(tg_relu(in[1])));
}

/* sum(tanh(x0 @ x1)) */
static tg_tensor *smooth(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_sum(tg_tanh(tg_matmul(in[0], in[1])));
}

static void test_gradcheck_reports(void **state) {
  (void)state;
  /* relu at 0: the analytic derivative is 0, central differences give
   * (h - 0) / 2h = 1/2. (abs at 0 would not do: its central difference is
   * 0, equal to the sign(0) = 0 that the backward uses.) */
  tg_tensor *x0 = leaf64(TG_SHAPE(2), (double[]){0.3, -1});
  tg_tensor *x1 = leaf64(TG_SHAPE(3), (double[]){0.7, 0, -0.4});
  tg_gradcheck_result r = tg_gradcheck(kinked, 2, (tg_tensor *[]){x0, x1}, NULL,
                                       (tg_gradcheck_opts){.quiet = true});
  assert_false(r.ok);
  assert_int_equal(r.input, 1);
  assert_int_equal(r.in_index, 1);
  assert_int_equal(r.out_index, 0);
  assert_close(r.analytic, 0, 0);
  assert_close(r.numeric, 0.5, 1e-6);
  assert_true(r.max_error > 0.4);
  if (!strstr(r.message, "input 1")) fail_msg("message does not name input 1: %s", r.message);
  /* the probe leaves inputs and .grad as they were */
  assert_close(tg_get_flat(x1, 1), 0, 0);
  assert_close(tg_get_flat(x1, 0), 0.7, 0);
  assert_null(x0->grad);
  assert_null(x1->grad);

  /* away from the kink it passes */
  tg_set(x1, (size_t[]){1}, 0.2);
  r = tg_gradcheck(kinked, 2, (tg_tensor *[]){x0, x1}, NULL, (tg_gradcheck_opts){.quiet = true});
  if (!r.ok) fail_msg("%s", r.message);

  tg_rng rng;
  tg_rng_seed(&rng, 8);
  tg_tensor *a = test_leaf(&rng, TG_SHAPE(3, 4)), *b = test_leaf(&rng, TG_SHAPE(4, 2));
  r = tg_gradcheck(smooth, 2, (tg_tensor *[]){a, b}, NULL, (tg_gradcheck_opts){.quiet = true});
  if (!r.ok) fail_msg("%s", r.message);
  assert_true(r.max_error <= 1e-5);
}

static void test_backward_on_leaf_and_scalar_seed(void **state) {
  (void)state;
  /* backward from a leaf gives it a gradient of ones */
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT32, 4), true);
  assert_int_equal(tg_backward(x, NULL, false), 0);
  assert_close(tg_item(x->grad), 1, 0);
  /* a one-element non-scalar root needs no grad_output either */
  tg_tensor *v = leaf64(TG_SHAPE(1, 1), (double[]){3});
  assert_int_equal(tg_backward(tg_mul(v, v), NULL, false), 0);
  assert_close(tg_item(v->grad), 6, 0);
  assert_int_equal(v->grad->ndim, 2);
}

/* Anomaly mode names the node and the caller's line for a NaN in a forward
 * output, and fails a backward whose gradient is not finite; off, nothing is
 * checked. */
static void test_anomaly_mode(void **state) {
  (void)state;
  char where[64];
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (double[]){-1.0, 4.0}), true);
  tg_set_detect_anomaly(true);
  assert_true(tg_detect_anomaly());
  tg_clear_error();
  tg_tensor *y = tg_log(x); int log_line = __LINE__;
  assert_non_null(y); /* reported, not fatal */
  snprintf(where, sizeof where, "test_autograd.c:%d", log_line);
  assert_non_null(strstr(tg_last_error(), "LogBackward"));
  assert_non_null(strstr(tg_last_error(), where));
  assert_non_null(strstr(tg_last_error(), "NaN"));

  tg_tensor *z = tg_requires_grad_(tg_zeros(TG_FLOAT64, TG_SHAPE(2)), true);
  tg_tensor *s = tg_sum(tg_sqrt(z)); int sqrt_line = __LINE__;
  assert_int_equal(tg_backward(s, NULL, true), -1); /* d sqrt / dz at 0 is inf */
  snprintf(where, sizeof where, "test_autograd.c:%d", sqrt_line);
  assert_non_null(strstr(tg_last_error(), "SqrtBackward"));
  assert_non_null(strstr(tg_last_error(), where));
  assert_null(z->grad);

  tg_set_detect_anomaly(false);
  tg_clear_error();
  assert_int_equal(tg_backward(s, NULL, false), 0);
  assert_true(isinf(tg_get_flat(z->grad, 0)));
  assert_false(tg_has_error());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_anomaly_mode),
      TG_TEST(test_retain_grad),
      TG_TEST(test_no_grad),
      TG_TEST(test_detach),
      TG_TEST(test_requires_grad_false_freezes),
      TG_TEST(test_zero_grad),
      TG_TEST(test_fan_out_accumulates),
      TG_TEST(test_diamond),
      TG_TEST(test_grad_functional),
      TG_TEST(test_hessian_create_graph),
      TG_TEST(test_hessian_vector_product),
      TG_TEST(test_jacobian),
      TG_TEST(test_deep_chain),
      TG_TEST(test_graph_dot),
      TG_TEST(test_grad_fn_names),
      TG_TEST(test_gradcheck_reports),
      TG_TEST(test_backward_on_leaf_and_scalar_seed),
  };
  int rc = cmocka_run_group_tests_name("autograd", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
