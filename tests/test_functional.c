/* Functional transforms (autograd/functional.c) against central
 * differences of the function itself, on a random function of three inputs
 * with broadcasting and non-contiguous views; the PyTorch comparison is the
 * oracle family tests/oracle/family_functional.py. */
#include <stdlib.h>

#include "tg_test.h"

/* f(x, w, b) = sigmoid(xᵀ @ w + b) * sum(x^2), x given as (D,B) and used
 * transposed, b (K,) broadcast over rows: output (B,K) */
static tg_tensor *f3(tg_tensor **in, void *ctx) {
  (void)ctx;
  tg_tensor *xt = tg_transpose(in[0], 0, 1);
  return tg_mul(tg_sigmoid(tg_add(tg_matmul(xt, in[1]), in[2])), tg_sum(tg_mul(in[0], in[0])));
}

/* the scalar g(x, w, b) = sum(f3(x, w, b)^2) + sum(tanh(w)) * sum(b) */
static tg_tensor *g3(tg_tensor **in, void *ctx) {
  tg_tensor *y = f3(in, ctx);
  return tg_add(tg_sum(tg_mul(y, y)), tg_mul(tg_sum(tg_tanh(in[1])), tg_sum(in[2])));
}

#define NIN 3
typedef struct fixture {
  tg_tensor *in[NIN]; /* x (D,B) a transposed view, w (D,K) strided, b (K,) */
} fixture;

/* a (r,c) view of a (c, 2r) base: transposed and strided (not contiguous) */
static tg_tensor *odd_view(tg_rng *r, size_t rows, size_t cols) {
  tg_tensor *base = tg_randn(r, TG_FLOAT64, TG_SHAPE(cols, 2 * rows));
  return tg_transpose(tg_slice(base, 1, 0, (int64_t)(2 * rows), 2), 0, 1);
}

static fixture make(uint64_t seed) {
  tg_rng r = test_seeded(seed);
  size_t B = rand_int(&r, 1, 3), D = rand_int(&r, 1, 4), K = rand_int(&r, 1, 3);
  fixture fx;
  fx.in[0] = odd_view(&r, D, B);
  fx.in[1] = odd_view(&r, D, K);
  fx.in[2] = tg_randn(&r, TG_FLOAT64, TG_SHAPE(K));
  for (int i = 0; i < NIN; i++) {
    assert_non_null(fx.in[i]);
    assert_false(fx.in[i]->requires_grad); /* the transforms make their own leaves */
  }
  assert_false(tg_is_contiguous(fx.in[0]) && D > 1 && B > 1);
  return fx;
}

/* f at inputs[i] + h * dir (the others as given), flattened into out */
static void eval_shifted(tg_fn f, tg_tensor **inputs, int i, const tg_tensor *dir, double h, double *out) {
  tg_scope_begin();
  tg_tensor *x[NIN];
  for (int k = 0; k < NIN; k++) x[k] = tg_clone(inputs[k]);
  if (dir) assert_int_equal(tg_accumulate_(x[i], tg_mul_scalar(tg_clone((tg_tensor *)dir), h)), 0);
  tg_no_grad_begin();
  tg_tensor *y = f(x, NULL);
  tg_no_grad_end();
  assert_non_null(y);
  assert_int_equal(tg_to_f64_array(y, out), 0);
  tg_scope_end();
}

/* d/dh f(inputs[i] + h dir) at h = 0, central differences (y numel m) */
static void directional(tg_fn f, tg_tensor **inputs, int i, const tg_tensor *dir, size_t m, double *out) {
  const double h = 1e-6;
  double *p = malloc(m * sizeof *p), *q = malloc(m * sizeof *q);
  eval_shifted(f, inputs, i, dir, h, p);
  eval_shifted(f, inputs, i, dir, -h, q);
  for (size_t k = 0; k < m; k++) out[k] = (p[k] - q[k]) / (2 * h);
  free(p);
  free(q);
}

static tg_tensor *onehot(const tg_tensor *like, size_t c) {
  tg_tensor *e = tg_zeros(TG_FLOAT64, like->ndim, like->shape);
  tg_data_f64(e)[c] = 1;
  return e;
}

static size_t out_numel(tg_fn f, tg_tensor **in) {
  tg_scope_begin();
  size_t m = f(in, NULL)->numel;
  tg_scope_end();
  return m;
}

/* vjp_i[c] = Σ_r v_r ∂f_r/∂x_ic, each column by differences */
static void test_vjp_vs_differences(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 4; seed++) {
    fixture fx = make(seed);
    tg_tensor *out = NULL, *vjp[NIN];
    tg_scope_begin();
    tg_tensor *y = f3(fx.in, NULL);
    tg_rng r = test_seeded(seed + 100);
    tg_tensor *v = tg_keep(tg_randn(&r, TG_FLOAT64, y->ndim, y->shape));
    tg_scope_end();
    assert_int_equal(tg_vjp(f3, NULL, fx.in, NIN, v, &out, vjp, (tg_functional_opts){0}), 0);
    assert_null(out->grad_fn);
    size_t m = out->numel;
    double *col = malloc(m * sizeof *col);
    for (int i = 0; i < NIN; i++) {
      assert_true(tg_same_shape(vjp[i], fx.in[i]));
      assert_null(vjp[i]->grad_fn);
      for (size_t c = 0; c < fx.in[i]->numel; c++) {
        directional(f3, fx.in, i, onehot(fx.in[i], c), m, col);
        double want = 0;
        for (size_t k = 0; k < m; k++) want += tg_get_flat(v, k) * col[k];
        assert_close(tg_get_flat(vjp[i], c), want, 1e-7 * (1 + fabs(want)));
      }
      assert_null(fx.in[i]->grad);
    }
    free(col);
  }
}

/* jvp = Σ_i J_i v_i: the directional derivative along (v_0, v_1, v_2) */
static void test_jvp_vs_differences(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 4; seed++) {
    fixture fx = make(seed);
    tg_rng r = test_seeded(seed + 200);
    tg_tensor *v[NIN], *out = NULL, *jvp = NULL;
    for (int i = 0; i < NIN; i++) v[i] = tg_randn(&r, TG_FLOAT64, fx.in[i]->ndim, fx.in[i]->shape);
    assert_int_equal(tg_jvp(f3, NULL, fx.in, NIN, v, &out, &jvp, (tg_functional_opts){0}), 0);
    size_t m = out->numel;
    assert_true(tg_same_shape(jvp, out));
    double *want = calloc(m, sizeof *want), *d = malloc(m * sizeof *d);
    for (int i = 0; i < NIN; i++) {
      directional(f3, fx.in, i, v[i], m, d);
      for (size_t k = 0; k < m; k++) want[k] += d[k];
    }
    for (size_t k = 0; k < m; k++) assert_close(tg_get_flat(jvp, k), want[k], 1e-7 * (1 + fabs(want[k])));
    free(want);
    free(d);
  }
}

/* the gradient of g3 w.r.t. input j, flattened into out (analytic) */
static void grad_at(tg_tensor **inputs, int i, const tg_tensor *dir, double h, int j, double *out) {
  tg_scope_begin();
  tg_tensor *x[NIN];
  for (int k = 0; k < NIN; k++) x[k] = tg_requires_grad_(tg_clone(inputs[k]), true);
  if (dir) {
    tg_tensor *s = tg_mul_scalar(tg_clone((tg_tensor *)dir), h);
    x[i] = tg_requires_grad_(tg_add(tg_clone(inputs[i]), s), true);
  }
  tg_tensor *y = g3(x, NULL), *gr = NULL;
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x[j], &gr, (tg_grad_opts){.allow_unused = true}), 0);
  assert_int_equal(tg_to_f64_array(gr, out), 0);
  tg_scope_end();
}

/* H v by differences of the gradient along v; hvp, vhp and the Hessian
 * blocks contracted with v all agree with it */
static void test_second_order_vs_differences(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 3; seed++) {
    fixture fx = make(seed);
    tg_rng r = test_seeded(seed + 300);
    tg_tensor *v[NIN], *out = NULL, *hvp[NIN], *vhp[NIN], *H[NIN * NIN];
    for (int i = 0; i < NIN; i++) v[i] = tg_randn(&r, TG_FLOAT64, fx.in[i]->ndim, fx.in[i]->shape);
    assert_int_equal(tg_hvp(g3, NULL, fx.in, NIN, v, &out, hvp, (tg_functional_opts){0}), 0);
    assert_int_equal(out->numel, 1);
    assert_int_equal(tg_vhp(g3, NULL, fx.in, NIN, v, NULL, vhp, (tg_functional_opts){0}), 0);
    assert_int_equal(tg_hessian(g3, NULL, fx.in, NIN, H), 0);
    for (int j = 0; j < NIN; j++) {
      size_t nj = fx.in[j]->numel;
      double *want = calloc(nj, sizeof *want), *p = malloc(nj * sizeof *p), *q = malloc(nj * sizeof *q);
      const double h = 1e-6;
      for (int i = 0; i < NIN; i++) { /* (H v)_j = Σ_i d/dh grad_j(x_i + h v_i) */
        grad_at(fx.in, i, v[i], h, j, p);
        grad_at(fx.in, i, v[i], -h, j, q);
        for (size_t c = 0; c < nj; c++) want[c] += (p[c] - q[c]) / (2 * h);
      }
      for (size_t c = 0; c < nj; c++) {
        double tol = 1e-6 * (1 + fabs(want[c]));
        assert_close(tg_get_flat(hvp[j], c), want[c], tol);
        assert_close(tg_get_flat(vhp[j], c), want[c], tol);
        double hv = 0; /* Σ_i H[j][i] v_i */
        for (int i = 0; i < NIN; i++) {
          assert_int_equal(H[j * NIN + i]->ndim, fx.in[j]->ndim + fx.in[i]->ndim);
          for (size_t e = 0; e < fx.in[i]->numel; e++)
            hv += tg_get_flat(H[j * NIN + i], c * fx.in[i]->numel + e) * tg_get_flat(v[i], e);
        }
        assert_close(hv, want[c], tol);
      }
      free(want);
      free(p);
      free(q);
    }
    /* the Hessian is symmetric: H[i][j] = H[j][i]ᵀ */
    for (int i = 0; i < NIN; i++)
      for (int j = 0; j < NIN; j++)
        for (size_t a = 0; a < fx.in[i]->numel; a++)
          for (size_t b = 0; b < fx.in[j]->numel; b++)
            assert_close(tg_get_flat(H[i * NIN + j], a * fx.in[j]->numel + b),
                         tg_get_flat(H[j * NIN + i], b * fx.in[i]->numel + a), 1e-10);
  }
}

static tg_tensor *one_input(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_mul(tg_sigmoid(in[0]), tg_sum(tg_mul(in[0], in[0])));
}

/* Jacobian blocks: reverse (rows) and forward (columns) agree with each
 * other and with differences; tg_jacobian's 2-D form is the same numbers */
static void test_jacobians(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 4; seed++) {
    fixture fx = make(seed);
    tg_tensor *Jr[NIN], *Jf[NIN], *Jd[NIN];
    assert_int_equal(tg_jacobians(f3, NULL, fx.in, NIN, Jr, (tg_jacobian_opts){0}), 0);
    assert_int_equal(tg_jacobians(f3, NULL, fx.in, NIN, Jf, (tg_jacobian_opts){.forward_mode = true}), 0);
    assert_int_equal(
        tg_jacobians(f3, NULL, fx.in, NIN, Jd, (tg_jacobian_opts){.forward_mode = true, .jvp_columns = true}), 0);
    size_t m = out_numel(f3, fx.in);
    double *col = malloc(m * sizeof *col);
    for (int i = 0; i < NIN; i++) {
      size_t n = fx.in[i]->numel;
      assert_int_equal(Jr[i]->ndim, 2 + fx.in[i]->ndim);
      assert_int_equal(Jr[i]->numel, m * n);
      for (size_t c = 0; c < n; c++) {
        directional(f3, fx.in, i, onehot(fx.in[i], c), m, col);
        for (size_t k = 0; k < m; k++) {
          assert_close(tg_get_flat(Jr[i], k * n + c), col[k], 1e-7 * (1 + fabs(col[k])));
          assert_close(tg_get_flat(Jf[i], k * n + c), tg_get_flat(Jr[i], k * n + c), 1e-12);
          assert_close(tg_get_flat(Jd[i], k * n + c), tg_get_flat(Jr[i], k * n + c), 1e-12);
          assert_close(tg_get_flat(Jd[i], k * n + c), col[k], 1e-7 * (1 + fabs(col[k])));
        }
      }
    }
    free(col);
    /* tg_jacobian (one input that requires grad, 2-D) gives the same numbers */
    tg_tensor *w = tg_requires_grad_(tg_clone(fx.in[1]), true), *J1 = NULL;
    tg_tensor *J2 = tg_jacobian(one_input, w, NULL);
    assert_int_equal(tg_jacobians(one_input, NULL, &w, 1, &J1, (tg_jacobian_opts){0}), 0);
    assert_int_equal(J2->ndim, 2);
    assert_int_equal(J2->numel, J1->numel);
    for (size_t k = 0; k < J1->numel; k++) assert_close(tg_get_flat(J2, k), tg_get_flat(J1, k), 0);
  }
}

/* create_graph: the results are differentiable; gradcheck of the map
 * x -> hvp(g3)(x) (a third derivative) and of x -> vjp */
typedef struct fixed {
  tg_tensor *w, *b, *v[NIN], *vo;
  int which; /* 0: hvp w.r.t. x, 1: vjp */
} fixed;

static tg_tensor *through_transform(tg_tensor **x, void *c) {
  fixed *p = c;
  tg_tensor *in[NIN] = {x[0], p->w, p->b}, *res[NIN], *out = NULL;
  int rc = p->which == 0 ? tg_hvp(g3, NULL, in, NIN, p->v, &out, res, (tg_functional_opts){.create_graph = true})
                         : tg_vjp(f3, NULL, in, NIN, p->vo, &out, res, (tg_functional_opts){.create_graph = true});
  return rc == 0 ? tg_add(tg_sum(res[0]), tg_sum(tg_mul(res[1], res[1]))) : NULL;
}

static void test_create_graph_gradcheck(void **state) {
  (void)state;
  fixture fx = make(7);
  tg_rng r = test_seeded(77);
  fixed p = {.w = fx.in[1], .b = fx.in[2]};
  for (int i = 0; i < NIN; i++) p.v[i] = tg_randn(&r, TG_FLOAT64, fx.in[i]->ndim, fx.in[i]->shape);
  tg_tensor *y = f3(fx.in, NULL);
  p.vo = tg_randn(&r, TG_FLOAT64, y->ndim, y->shape);
  tg_tensor *x = tg_requires_grad_(tg_clone(fx.in[0]), true);
  for (p.which = 0; p.which < 2; p.which++) {
    tg_tensor *res = through_transform(&x, &p);
    assert_non_null(res);
    assert_non_null(res->grad_fn);
    assert_gradcheck(through_transform, 1, &x, &p);
  }
  assert_null(x->grad);
}

/* inputs a function ignores get zeros; a constant function gets zeros */
static tg_tensor *only_first(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_sum(tg_mul(in[0], in[0]));
}
static tg_tensor *constant(tg_tensor **in, void *ctx) {
  (void)ctx;
  (void)in;
  return tg_full(TG_FLOAT64, TG_SHAPE(2), 3.0);
}

static void test_unused_inputs(void **state) {
  (void)state;
  tg_tensor *in[2] = {tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), tg_ones(TG_FLOAT64, TG_SHAPE(3))};
  tg_tensor *v[2] = {tg_ones(TG_FLOAT64, TG_SHAPE(2)), tg_ones(TG_FLOAT64, TG_SHAPE(3))}, *r[4], *out;
  assert_int_equal(tg_vjp(only_first, NULL, in, 2, NULL, &out, r, (tg_functional_opts){0}), 0);
  assert_close(tg_get_flat(r[0], 1), 4, 0);
  for (int k = 0; k < 3; k++) assert_close(tg_get_flat(r[1], k), 0, 0);
  assert_int_equal(tg_hvp(only_first, NULL, in, 2, v, NULL, r, (tg_functional_opts){0}), 0);
  assert_close(tg_get_flat(r[0], 0), 2, 0); /* H = 2I on x */
  assert_close(tg_get_flat(r[1], 2), 0, 0);
  assert_int_equal(tg_hessian(only_first, NULL, in, 2, r), 0);
  assert_close(tg_get_flat(r[0], 3), 2, 0);
  assert_close(tg_get_flat(r[3], 4), 0, 0);
  tg_tensor *jvp = NULL;
  assert_int_equal(tg_jvp(constant, NULL, in, 2, v, &out, &jvp, (tg_functional_opts){0}), 0);
  assert_int_equal(jvp->numel, 2);
  assert_close(tg_get_flat(jvp, 0), 0, 0);
  assert_int_equal(tg_jacobians(constant, NULL, in, 2, r, (tg_jacobian_opts){.forward_mode = true}), 0);
  assert_int_equal(r[1]->numel, 6);
  assert_int_equal(
      tg_jacobians(only_first, NULL, in, 2, r, (tg_jacobian_opts){.forward_mode = true, .jvp_columns = true}), 0);
  for (size_t k = 0; k < r[1]->numel; k++) assert_close(tg_get_flat(r[1], k), 0, 0);
}

/* the inputs' own .grad is never touched, and leaves that require grad are
 * used as values only unless create_graph */
static void test_inputs_untouched(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), true), *g, *out;
  assert_int_equal(tg_vjp(only_first, NULL, &x, 1, NULL, &out, &g, (tg_functional_opts){0}), 0);
  assert_null(x->grad);
  assert_null(g->grad_fn);
  assert_null(out->grad_fn);
  assert_int_equal(tg_vjp(only_first, NULL, &x, 1, NULL, &out, &g, (tg_functional_opts){.create_graph = true}), 0);
  assert_non_null(g->grad_fn); /* 2x, w.r.t. x itself */
  assert_int_equal(tg_backward(tg_sum(g), NULL, false), 0);
  assert_close(tg_get_flat(x->grad, 0), 2, 0);
}

static tg_tensor *returns_null(tg_tensor **in, void *ctx) {
  (void)in, (void)ctx;
  return NULL;
}
static tg_tensor *returns_int(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_argmax(in[0]);
}

static void test_errors(void **state) {
  (void)state;
  tg_tensor *x = tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), *r[4] = {0}, *out = NULL;
  tg_tensor *bad = tg_ones(TG_FLOAT64, TG_SHAPE(3)), *ok = tg_ones(TG_FLOAT64, TG_SHAPE(2));
  tg_functional_opts o = {0};
  assert_int_equal(tg_vjp(f3, NULL, &x, 0, NULL, &out, r, o), -1);
  test_expect_error("vjp", "at least one input");
  assert_int_equal(tg_vjp(returns_null, NULL, &x, 1, NULL, &out, r, o), -1);
  test_expect_error("vjp", "the function returned NULL");
  assert_int_equal(tg_vjp(returns_int, NULL, &x, 1, NULL, &out, r, o), -1);
  test_expect_error("vjp", "int64");
  tg_tensor *idx = tg_from_i64(TG_SHAPE(1), (const int64_t[]){1});
  assert_int_equal(tg_vjp(only_first, NULL, &idx, 1, NULL, &out, r, o), -1);
  test_expect_error("vjp", "float inputs");
  /* v must match the output (vjp) or the inputs (jvp, hvp, vhp) */
  assert_int_equal(tg_vjp(constant, NULL, &x, 1, NULL, &out, r, o), -1);
  test_expect_error("vjp", "v can be NULL only when the function returns one element");
  assert_int_equal(tg_vjp(constant, NULL, &x, 1, bad, &out, r, o), -1);
  test_expect_error("vjp", "[3]");
  assert_int_equal(tg_jvp(only_first, NULL, &x, 1, &bad, &out, r, o), -1);
  test_expect_error("jvp: v[0]", "[3]");
  assert_int_equal(tg_jvp(only_first, NULL, &x, 1, NULL, &out, r, o), -1);
  test_expect_error("jvp", "v can be NULL only");
  assert_int_equal(tg_hvp(only_first, NULL, &x, 1, &bad, &out, r, o), -1);
  test_expect_error("hvp: v[0]", "[3]");
  assert_int_equal(tg_vhp(constant, NULL, &x, 1, &ok, &out, r, o), -1);
  test_expect_error("vhp", "single-element");
  assert_int_equal(tg_hessian(constant, NULL, &x, 1, r), -1);
  test_expect_error("hessian", "single-element");
  /* too many dims for a block */
  tg_tensor *big = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 1, 1, 1, 1));
  assert_int_equal(tg_hessian(only_first, NULL, &big, 1, r), -1);
  test_expect_error("hessian", "at most 8");
  assert_int_equal(tg_scope_depth(), 1); /* every inner scope closed */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_vjp_vs_differences),     TG_TEST(test_jvp_vs_differences),
      TG_TEST(test_second_order_vs_differences), TG_TEST(test_jacobians),
      TG_TEST(test_create_graph_gradcheck), TG_TEST(test_unused_inputs),
      TG_TEST(test_inputs_untouched),       TG_TEST(test_errors),
  };
  int rc = cmocka_run_group_tests_name("functional", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
