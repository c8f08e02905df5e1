/* Tensor hooks (autograd/hooks.c): tg_register_hook,
 * tg_register_post_accumulate_grad_hook, tg_remove_hook. The expected values
 * are PyTorch 1.13's, from the torch lines quoted in each test's comment
 * (post-accumulate hooks are PyTorch 2.1's: worked out by hand). */
#include <stdlib.h>

#include "tg_test.h"

static tg_tensor *leaf(int ndim, const size_t *shape, const double *v) {
  return tg_requires_grad_(tg_from_f64(ndim, shape, v), true);
}

static void assert_values(const tg_tensor *t, const double *expect, size_t n, double tol) {
  assert_non_null(t);
  assert_int_equal(t->numel, n);
  for (size_t i = 0; i < n; i++)
    if (!(fabs(tg_get_flat(t, i) - expect[i]) <= tol))
      fail_msg("element %zu = %.17g, expected %.17g", i, tg_get_flat(t, i), expect[i]);
}

/* a hook that records what it saw (up to 4 calls of up to 4 values) and
 * returns grad * scale (scale 0: grad itself) */
typedef struct spy {
  int calls;
  double seen[4][4];
  size_t shape0[4];
  int ndim[4];
  bool had_history[4];
  double scale;
} spy;

static tg_tensor *spy_hook(tg_tensor *g, void *ctx) {
  spy *s = ctx;
  if (s->calls < 4) {
    for (size_t i = 0; i < g->numel && i < 4; i++) s->seen[s->calls][i] = tg_get_flat(g, i);
    s->ndim[s->calls] = g->ndim;
    s->shape0[s->calls] = g->ndim ? g->shape[0] : 1;
    s->had_history[s->calls] = g->grad_fn != NULL;
  }
  s->calls++;
  return s->scale != 0 ? tg_mul_scalar(g, s->scale) : g;
}

static tg_tensor *plus_one(tg_tensor *g, void *ctx) {
  (void)ctx;
  return tg_add_scalar(g, 1.0);
}
static tg_tensor *times_three(tg_tensor *g, void *ctx) {
  (void)ctx;
  return tg_mul_scalar(g, 3.0);
}
static tg_tensor *squared(tg_tensor *g, void *ctx) {
  spy *s = ctx;
  s->had_history[s->calls < 4 ? s->calls : 3] = g->grad_fn != NULL;
  s->calls++;
  return tg_mul(g, g);
}

/* x = [1,2,3]; x.register_hook(lambda g: g*2); ((x*x).sum() + (3*x).sum()).backward()
 * -> the hook runs once, on the total [5,7,9]; x.grad = [10,14,18] */
static void test_leaf_hook_once_on_total(void **state) {
  (void)state;
  tg_tensor *x = leaf(TG_SHAPE(3), (const double[]){1, 2, 3});
  spy s = {.scale = 2};
  assert_int_not_equal(tg_register_hook(x, spy_hook, &s).id, 0);
  tg_tensor *y = tg_add(tg_sum(tg_mul(x, x)), tg_sum(tg_mul_scalar(x, 3)));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_int_equal(s.calls, 1);
  const double want[3] = {5, 7, 9};
  for (int i = 0; i < 3; i++) assert_close(s.seen[0][i], want[i], 1e-15);
  assert_values(x->grad, (const double[]){10, 14, 18}, 3, 1e-15);
  /* a second backward accumulates the hooked gradient again: 2 * [10,14,18] */
  y = tg_add(tg_sum(tg_mul(x, x)), tg_sum(tg_mul_scalar(x, 3)));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_int_equal(s.calls, 2);
  assert_values(x->grad, (const double[]){20, 28, 36}, 3, 1e-15);
}

/* z = [1,2]; z.register_hook(lambda g: g+1); z.register_hook(lambda g: g*3);
 * (z*z).sum().backward() -> z.grad = [9, 15] (registration order) */
static void test_hooks_in_registration_order(void **state) {
  (void)state;
  tg_tensor *z = leaf(TG_SHAPE(2), (const double[]){1, 2});
  assert_int_not_equal(tg_register_hook(z, plus_one, NULL).id, 0);
  assert_int_not_equal(tg_register_hook(z, times_three, NULL).id, 0);
  assert_int_equal(tg_backward(tg_sum(tg_mul(z, z)), NULL, false), 0);
  assert_values(z->grad, (const double[]){9, 15}, 2, 1e-15);
}

/* a = [1,2]; h = a*3; h.retain_grad(); h.register_hook(lambda g: g*10);
 * (h*h).sum().backward() -> h.grad = [6,12] (retained before the hook),
 * a.grad = [180, 360] */
static void test_non_leaf_hook(void **state) {
  (void)state;
  tg_tensor *a = leaf(TG_SHAPE(2), (const double[]){1, 2});
  tg_tensor *h = tg_mul_scalar(a, 3);
  assert_non_null(tg_retain_grad(h));
  spy s = {.scale = 10};
  assert_int_not_equal(tg_register_hook(h, spy_hook, &s).id, 0);
  assert_int_equal(tg_backward(tg_sum(tg_mul(h, h)), NULL, false), 0);
  assert_int_equal(s.calls, 1);
  assert_values(h->grad, (const double[]){6, 12}, 2, 1e-15);
  assert_values(a->grad, (const double[]){180, 360}, 2, 1e-12);
}

/* a = [1,2]; h = a*3; h.register_hook(spy); (h*h + h.sin()).sum().backward()
 * -> the hook runs once on [5.0100, 12.9602] (= 2h + cos h), a.grad = 3x that */
static void test_non_leaf_hook_once_over_two_uses(void **state) {
  (void)state;
  tg_tensor *a = leaf(TG_SHAPE(2), (const double[]){1, 2});
  tg_tensor *h = tg_mul_scalar(a, 3);
  spy s = {0};
  assert_int_not_equal(tg_register_hook(h, spy_hook, &s).id, 0);
  assert_int_equal(tg_backward(tg_sum(tg_add(tg_mul(h, h), tg_sin(h))), NULL, false), 0);
  assert_int_equal(s.calls, 1);
  assert_close(s.seen[0][0], 6 + cos(3.0), 1e-14);
  assert_close(s.seen[0][1], 12 + cos(6.0), 1e-14);
  assert_close(s.seen[0][0], 5.0100, 1e-4); /* torch's print */
  assert_values(a->grad, (const double[]){3 * (6 + cos(3.0)), 3 * (12 + cos(6.0))}, 2, 1e-13);
}

/* r = (a*a).sum(); r.register_hook(lambda g: g*5); r.backward() -> a.grad = [10,20];
 * a.register_hook(lambda g: g*7); a.backward(ones) -> a.grad = [7,7] */
static void test_hook_on_roots(void **state) {
  (void)state;
  tg_tensor *a = leaf(TG_SHAPE(2), (const double[]){1, 2});
  tg_tensor *r = tg_sum(tg_mul(a, a));
  spy s5 = {.scale = 5};
  assert_int_not_equal(tg_register_hook(r, spy_hook, &s5).id, 0);
  assert_int_equal(tg_backward(r, NULL, false), 0);
  assert_values(a->grad, (const double[]){10, 20}, 2, 1e-15);
  tg_tensor *b = leaf(TG_SHAPE(2), (const double[]){1, 2});
  spy s7 = {.scale = 7};
  assert_int_not_equal(tg_register_hook(b, spy_hook, &s7).id, 0);
  assert_int_equal(tg_backward(b, tg_ones(TG_FLOAT64, TG_SHAPE(2)), false), 0);
  assert_values(b->grad, (const double[]){7, 7}, 2, 0);
}

/* x = [1,-1,2]; M (2,3); ((x + M)**2).sum().backward(): the hook sees shape
 * (3,), the broadcast gradient summed down first; x.grad = [14, 10, 26] */
static void test_leaf_hook_sees_leaf_shape(void **state) {
  (void)state;
  tg_tensor *x = leaf(TG_SHAPE(3), (const double[]){1, -1, 2});
  tg_tensor *M = tg_from_f64(TG_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
  spy s = {0};
  assert_int_not_equal(tg_register_hook(x, spy_hook, &s).id, 0);
  tg_tensor *d = tg_add(x, M);
  assert_int_equal(tg_backward(tg_sum(tg_mul(d, d)), NULL, false), 0);
  assert_int_equal(s.calls, 1);
  assert_int_equal(s.ndim[0], 1);
  assert_int_equal(s.shape0[0], 3);
  assert_values(x->grad, (const double[]){14, 10, 26}, 3, 1e-15);
}

/* h = z.register_hook(lambda g: g*100); h.remove(); h.remove();
 * (z*2).sum().backward() -> z.grad = [2] */
static void test_remove_hook(void **state) {
  (void)state;
  tg_tensor *z = leaf(TG_SHAPE(1), (const double[]){1});
  spy s = {.scale = 100};
  tg_hook_handle h = tg_register_hook(z, spy_hook, &s);
  assert_true(tg_remove_hook(h));
  assert_false(tg_remove_hook(h)); /* twice: nothing, no error */
  assert_false(tg_has_error());
  assert_false(tg_remove_hook((tg_hook_handle){0}));
  assert_false(tg_remove_hook((tg_hook_handle){UINT64_MAX}));
  assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(z, 2)), NULL, false), 0);
  assert_int_equal(s.calls, 0);
  assert_values(z->grad, (const double[]){2}, 1, 0);
  /* one of two removed: the other stays */
  spy a = {.scale = 2}, b = {.scale = 3};
  tg_hook_handle ha = tg_register_hook(z, spy_hook, &a);
  tg_register_hook(z, spy_hook, &b);
  assert_true(tg_remove_hook(ha));
  assert_int_equal(tg_zero_grad(z), 0);
  assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(z, 2)), NULL, false), 0);
  assert_int_equal(a.calls, 0);
  assert_int_equal(b.calls, 1);
  assert_values(z->grad, (const double[]){6}, 1, 0);
}

/* torch.autograd.grad (1.13): hooks of the leaf inputs do not run (x:
 * captured [2,4,6] unhooked), hooks of a non-leaf on the way do
 * (a = [1,2], h = 3a hooked g*10: grad((h*h).sum(), a) = [180, 360]) */
static void test_grad_runs_non_leaf_hooks_only(void **state) {
  (void)state;
  tg_tensor *x = leaf(TG_SHAPE(3), (const double[]){1, 2, 3}), *g = NULL;
  spy sx = {.scale = 2};
  tg_register_hook(x, spy_hook, &sx);
  tg_tensor *y = tg_sum(tg_mul(x, x));
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x, &g, (tg_grad_opts){0}), 0);
  assert_int_equal(sx.calls, 0);
  assert_values(g, (const double[]){2, 4, 6}, 3, 0);
  assert_null(x->grad);
  tg_tensor *a = leaf(TG_SHAPE(2), (const double[]){1, 2});
  tg_tensor *h = tg_mul_scalar(a, 3);
  spy sh = {.scale = 10};
  tg_register_hook(h, spy_hook, &sh);
  y = tg_sum(tg_mul(h, h));
  assert_int_equal(tg_grad(1, &y, NULL, 1, &a, &g, (tg_grad_opts){0}), 0);
  assert_int_equal(sh.calls, 1);
  assert_values(g, (const double[]){180, 360}, 2, 1e-12);
}

/* Under create_graph the hook gets a differentiable gradient and may return
 * one: x = [1,2]; h = x*1; h.register_hook(lambda g: g*g);
 * g, = grad((h**3).sum(), x, create_graph=True) -> [9, 144] (the hook saw
 * [3,12] with requires_grad=True); gg, = grad(g.sum(), x) -> [1296, 82944]:
 * that backward passes h again, so the hook runs again (requires_grad=False) */
static void test_hook_under_create_graph(void **state) {
  (void)state;
  tg_tensor *x = leaf(TG_SHAPE(2), (const double[]){1, 2}), *g = NULL, *gg = NULL;
  tg_tensor *h = tg_mul_scalar(x, 1.0);
  spy s = {0};
  tg_register_hook(h, squared, &s);
  tg_tensor *y = tg_sum(tg_pow_scalar(h, 3));
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x, &g, (tg_grad_opts){.create_graph = true}), 0);
  assert_int_equal(s.calls, 1);
  assert_true(s.had_history[0]);
  assert_values(g, (const double[]){9, 144}, 2, 1e-12);
  tg_tensor *sg = tg_sum(g);
  assert_int_equal(tg_grad(1, &sg, NULL, 1, &x, &gg, (tg_grad_opts){0}), 0);
  assert_values(gg, (const double[]){1296, 82944}, 2, 1e-9);
  assert_int_equal(s.calls, 2);
  assert_false(s.had_history[1]);
}

/* PyTorch's refusals: "cannot register a hook on a tensor that doesn't
 * require gradient"; "hook '<lambda>' has changed the size of value" */
static tg_tensor *to_sum(tg_tensor *g, void *ctx) {
  (void)ctx;
  return tg_sum(g);
}
static tg_tensor *to_f32(tg_tensor *g, void *ctx) {
  (void)ctx;
  return tg_to_dtype(g, TG_FLOAT32);
}
/* NULL without a message, or an op's failure inside the hook (its message) */
static tg_tensor *fails(tg_tensor *g, void *ctx) {
  return ctx ? tg_transpose(g, 0, 5) : NULL;
}
static int post_fails(tg_tensor *t, void *ctx) {
  (void)t;
  (void)ctx;
  return -1;
}

static void test_hook_errors(void **state) {
  (void)state;
  tg_tensor *c = tg_from_f64(TG_SHAPE(2), (const double[]){1, 2});
  assert_int_equal(tg_register_hook(c, plus_one, NULL).id, 0);
  test_expect_error("register_hook", "cannot register a hook on a tensor that doesn't require gradient");
  tg_tensor *z = leaf(TG_SHAPE(2), (const double[]){1, 2});
  assert_int_equal(tg_register_post_accumulate_grad_hook(tg_mul(z, z), post_fails, NULL).id, 0);
  test_expect_error("post accumulate grad hooks cannot be registered on non-leaf tensors", "MulBackward");
  assert_int_equal(tg_register_post_accumulate_grad_hook(c, post_fails, NULL).id, 0);
  test_expect_error("doesn't require gradient", NULL);
  struct {
    tg_hook_fn fn;
    void *ctx;
    const char *a, *b;
  } bad[] = {
      {to_sum, NULL, "hook has changed the size of value", "[2]"},
      {to_f32, NULL, "hook has changed the type of value", "float32"},
      {fails, NULL, "a hook returned NULL", NULL},
      {fails, "", "transpose", NULL},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    /* on a leaf, and on a non-leaf: the backward fails, nothing is accumulated */
    tg_tensor *x = leaf(TG_SHAPE(2), (const double[]){1, 2});
    tg_hook_handle h = tg_register_hook(x, bad[k].fn, bad[k].ctx);
    assert_int_equal(tg_backward(tg_sum(tg_mul(x, x)), NULL, false), -1);
    test_expect_error(bad[k].a, bad[k].b);
    assert_null(x->grad);
    assert_true(tg_remove_hook(h));
    tg_tensor *m = tg_mul_scalar(x, 2);
    tg_register_hook(m, bad[k].fn, bad[k].ctx);
    assert_int_equal(tg_backward(tg_sum(tg_mul(m, m)), NULL, false), -1);
    test_expect_error(bad[k].a, bad[k].b);
    assert_null(x->grad);
    /* the next backward over the same leaf is not disturbed */
    assert_int_equal(tg_backward(tg_sum(tg_mul(x, x)), NULL, false), 0);
    assert_values(x->grad, (const double[]){2, 4}, 2, 0);
  }
  tg_tensor *x = leaf(TG_SHAPE(2), (const double[]){1, 2});
  tg_register_post_accumulate_grad_hook(x, post_fails, NULL);
  assert_int_equal(tg_backward(tg_sum(tg_mul(x, x)), NULL, false), -1);
  test_expect_error("post-accumulate-grad hook failed", NULL);
}

/* post-accumulate hooks (PyTorch 2.1): an optimizer step inside backward.
 * p = [1,2]: loss sum(p*p), the hook sees p.grad = 2p = [2,4] already
 * accumulated, steps p -= 0.1 p.grad -> [0.8, 1.6] and zeroes p.grad; the
 * hook runs after each of two leaves' accumulation, once per backward */
typedef struct sgd_ctx {
  int calls;
  double seen_grad[2];
} sgd_ctx;

static int sgd_in_backward(tg_tensor *p, void *c) {
  sgd_ctx *s = c;
  s->calls++;
  double *w = tg_data_f64(p), *g = tg_data_f64(p->grad);
  for (size_t i = 0; i < p->numel; i++) {
    if (i < 2) s->seen_grad[i] = g[i];
    w[i] -= 0.1 * g[i];
  }
  return tg_zero_grad(p);
}

static void test_post_accumulate_grad_hook(void **state) {
  (void)state;
  tg_tensor *p = leaf(TG_SHAPE(2), (const double[]){1, 2});
  tg_tensor *q = leaf(TG_SHAPE(1), (const double[]){3});
  sgd_ctx sp = {0}, sq = {0};
  assert_int_not_equal(tg_register_post_accumulate_grad_hook(p, sgd_in_backward, &sp).id, 0);
  assert_int_not_equal(tg_register_post_accumulate_grad_hook(q, sgd_in_backward, &sq).id, 0);
  /* loss = sum(p*p) + sum(p)*q: dp = 2p + q = [5,7], dq = sum(p) = 3 */
  tg_tensor *loss = tg_add(tg_sum(tg_mul(p, p)), tg_mul(tg_sum(p), tg_sum(q)));
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  assert_int_equal(sp.calls, 1);
  assert_int_equal(sq.calls, 1);
  assert_close(sp.seen_grad[0], 5, 0);
  assert_close(sp.seen_grad[1], 7, 0);
  assert_close(sq.seen_grad[0], 3, 0);
  assert_values(p, (const double[]){0.5, 1.3}, 2, 1e-15);
  assert_values(q, (const double[]){2.7}, 1, 1e-15);
  assert_values(p->grad, (const double[]){0, 0}, 2, 0);
  /* a gradient hook on the same leaf runs first: the post hook sees its result */
  spy s = {.scale = 10};
  tg_register_hook(p, spy_hook, &s);
  assert_int_equal(tg_backward(tg_sum(p), NULL, false), 0);
  assert_close(sp.seen_grad[0], 10, 0);
  /* tg_grad accumulates nothing: no post hook */
  tg_tensor *y = tg_sum(q), *g = NULL;
  assert_int_equal(tg_grad(1, &y, NULL, 1, &q, &g, (tg_grad_opts){0}), 0);
  assert_int_equal(sq.calls, 1);
}

/* A hook that removes itself (and another) while hooks run, and hooks that
 * die with their tensor's scope (ASan: nothing leaks, no stale record) */
typedef struct self_remove {
  tg_hook_handle self, other;
  int calls;
} self_remove;
static tg_tensor *remove_both(tg_tensor *g, void *c) {
  self_remove *s = c;
  s->calls++;
  tg_remove_hook(s->self);
  tg_remove_hook(s->other);
  return g;
}

static void test_hook_lifetimes(void **state) {
  (void)state;
  tg_tensor *x = leaf(TG_SHAPE(2), (const double[]){1, 2});
  self_remove sr = {0};
  spy other = {.scale = 100};
  sr.self = tg_register_hook(x, remove_both, &sr);
  sr.other = tg_register_hook(x, spy_hook, &other);
  assert_int_equal(tg_backward(tg_sum(x), NULL, false), 0);
  assert_int_equal(sr.calls, 1);
  assert_int_equal(other.calls, 0); /* removed before its turn */
  assert_int_equal(tg_backward(tg_sum(x), NULL, false), 0);
  assert_int_equal(sr.calls, 1);
  assert_values(x->grad, (const double[]){2, 2}, 2, 0);
  /* hooks on tensors of an inner scope go with it; their slots are reused */
  tg_hook_handle dead;
  for (int round = 0; round < 3; round++) {
    tg_scope_begin();
    tg_tensor *t = leaf(TG_SHAPE(2), (const double[]){1, 2});
    spy s = {.scale = 2};
    dead = tg_register_hook(t, spy_hook, &s);
    tg_register_hook(tg_mul_scalar(t, 2), spy_hook, &s);
    assert_int_equal(tg_backward(tg_sum(t), NULL, false), 0);
    assert_int_equal(s.calls, 1);
    tg_scope_end();
    assert_false(tg_remove_hook(dead)); /* its tensor is gone */
  }
  /* a persistent leaf freed by hand */
  int depth = tg_scope_depth();
  while (tg_scope_depth() > 0) tg_scope_end();
  tg_tensor *p = leaf(TG_SHAPE(1), (const double[]){1});
  spy sp = {0};
  tg_hook_handle hp = tg_register_hook(p, spy_hook, &sp);
  tg_free(p);
  assert_false(tg_remove_hook(hp));
  while (tg_scope_depth() < depth) tg_scope_begin();
}

/* Hooks leave gradients bit-identical when they return grad unchanged, on an
 * MLP whose matmul backward would otherwise write straight into .grad */
static void test_identity_hooks_change_nothing(void **state) {
  (void)state;
  tg_rng r = test_seeded(13);
  tg_tensor *xb = tg_randn(&r, TG_FLOAT64, TG_SHAPE(5, 4));
  tg_tensor *w1 = test_leaf(&r, TG_SHAPE(4, 6)), *w2 = test_leaf(&r, TG_SHAPE(6, 1));
  tg_tensor *loss = tg_sum(tg_matmul(tg_tanh(tg_matmul(xb, w1)), w2));
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  tg_tensor *g1 = tg_clone(w1->grad), *g2 = tg_clone(w2->grad);
  tg_zero_grad(w1);
  tg_zero_grad(w2);
  spy s1 = {0}, s2 = {0};
  tg_register_hook(w1, spy_hook, &s1);
  tg_register_hook(w2, spy_hook, &s2);
  loss = tg_sum(tg_matmul(tg_tanh(tg_matmul(xb, w1)), w2));
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  assert_int_equal(s1.calls + s2.calls, 2);
  test_assert_identical(w1->grad, g1);
  test_assert_identical(w2->grad, g2);
}

/* ------------------------------------------------- dist15: early delivery */

/* a post-accumulate hook that counts its calls and checks, for the leaf it
 * watches, that .grad is already final when it runs (compared later) */
typedef struct post_spy {
  int calls;
  tg_tensor *seen; /* a copy of .grad at the last call */
  const bool *flag; /* if set: what *flag was at the first call */
  bool flag_at_call;
  int order, *clock;
} post_spy;

static int post_spy_hook(tg_tensor *leaf, void *ctx) {
  post_spy *s = ctx;
  if (s->calls == 0 && s->flag) s->flag_at_call = *s->flag;
  if (s->clock) s->order = ++*s->clock;
  s->calls++;
  s->seen = tg_clone(leaf->grad);
  return s->seen ? 0 : -1;
}

typedef struct mlp2 {
  tg_tensor *x, *w, *b, *v; /* x (600,32); w (32,32) used twice; b (32); v (32,4) */
} mlp2;

static mlp2 mlp2_new(uint64_t seed) {
  tg_rng r = test_seeded(seed);
  mlp2 m = {tg_randn(&r, TG_FLOAT32, TG_SHAPE(600, 32)), tg_randn(&r, TG_FLOAT32, TG_SHAPE(32, 32)),
            tg_randn(&r, TG_FLOAT32, TG_SHAPE(32)), tg_randn(&r, TG_FLOAT32, TG_SHAPE(32, 4))};
  tg_requires_grad_(m.w, true);
  tg_requires_grad_(m.b, true);
  tg_requires_grad_(m.v, true);
  return m;
}

/* loss = sum(tanh(tanh(x @ w + b) @ w) @ v): w has two consumers, b is
 * broadcast over the batch, and the weight gradients are float32 matmuls
 * over a batch of 600 (where the in-place write into .grad rounds
 * differently from a product added afterwards) */
static int mlp2_backward(const mlp2 *m) {
  tg_tensor *h = tg_tanh(tg_add(tg_matmul(m->x, m->w), m->b));
  tg_tensor *loss = tg_sum(tg_matmul(tg_tanh(tg_matmul(h, m->w)), m->v));
  return loss ? tg_backward(loss, NULL, false) : -1;
}

/* The same model with and without a no-op post-accumulate hook on every
 * leaf: bit-identical .grad after one backward and after a second one
 * accumulating into it; each hook runs once per backward, on the final
 * .grad of that backward */
static void test_post_hook_keeps_bits(void **state) {
  (void)state;
  mlp2 a = mlp2_new(151), b = mlp2_new(151);
  assert_int_equal(mlp2_backward(&a), 0);
  post_spy sw = {0}, sb = {0}, sv = {0};
  assert_true(tg_register_post_accumulate_grad_hook(b.w, post_spy_hook, &sw).id != 0);
  assert_true(tg_register_post_accumulate_grad_hook(b.b, post_spy_hook, &sb).id != 0);
  assert_true(tg_register_post_accumulate_grad_hook(b.v, post_spy_hook, &sv).id != 0);
  assert_int_equal(mlp2_backward(&b), 0);
  test_assert_identical(b.w->grad, a.w->grad);
  test_assert_identical(b.b->grad, a.b->grad);
  test_assert_identical(b.v->grad, a.v->grad);
  test_assert_identical(sw.seen, a.w->grad);
  assert_int_equal(mlp2_backward(&a), 0);
  assert_int_equal(mlp2_backward(&b), 0);
  test_assert_identical(b.w->grad, a.w->grad);
  test_assert_identical(b.b->grad, a.b->grad);
  test_assert_identical(b.v->grad, a.v->grad);
  assert_int_equal(sw.calls, 2);
  assert_int_equal(sb.calls, 2);
  assert_int_equal(sv.calls, 2);
  test_assert_identical(sw.seen, b.w->grad);
  test_assert_identical(sb.seen, b.b->grad);
  test_assert_identical(sv.seen, b.v->grad);
}

static tg_tensor *note_hook(tg_tensor *g, void *ctx) {
  *(bool *)ctx = true;
  return g;
}

/* A hooked leaf is delivered as soon as the last node consuming it has
 * run, not after the whole walk: v's post hook runs before the backward
 * reaches the hidden activation (a gradient hook on it notes when), w's
 * and b's after; w (two consumers) gets its hook once, on the total. */
static void test_hooked_leaf_delivered_early(void **state) {
  (void)state;
  mlp2 a = mlp2_new(152), m = mlp2_new(152);
  assert_int_equal(mlp2_backward(&a), 0);
  bool h_reached = false;
  int clock = 0;
  post_spy sw = {.flag = &h_reached, .clock = &clock}, sb = {.flag = &h_reached, .clock = &clock},
           sv = {.flag = &h_reached, .clock = &clock};
  tg_register_post_accumulate_grad_hook(m.w, post_spy_hook, &sw);
  tg_register_post_accumulate_grad_hook(m.b, post_spy_hook, &sb);
  tg_register_post_accumulate_grad_hook(m.v, post_spy_hook, &sv);
  tg_tensor *h = tg_tanh(tg_add(tg_matmul(m.x, m.w), m.b));
  assert_true(tg_register_hook(h, note_hook, &h_reached).id != 0);
  tg_tensor *loss = tg_sum(tg_matmul(tg_tanh(tg_matmul(h, m.w)), m.v));
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  assert_true(h_reached);
  assert_false(sv.flag_at_call); /* before the walk reached h */
  assert_true(sw.flag_at_call);  /* w's first consumer comes after h */
  assert_true(sb.flag_at_call);
  assert_int_equal(sv.order, 1);
  assert_int_equal(sw.calls, 1);
  test_assert_identical(m.w->grad, a.w->grad);
  test_assert_identical(sw.seen, a.w->grad);
}

/* A leaf with a gradient hook and three uses in two nodes: its hook once,
 * on the total: x = [1,2,3]; x.register_hook(lambda g: g*2);
 * (x*x*x).sum().backward() -> the hook sees 3x^2 = [3,12,27], x.grad = [6,24,54] */
static void test_grad_hook_leaf_total(void **state) {
  (void)state;
  tg_tensor *x = leaf(TG_SHAPE(3), (const double[]){1, 2, 3});
  spy sp = {.scale = 2};
  tg_register_hook(x, spy_hook, &sp);
  tg_tensor *z = tg_sum(tg_mul(tg_mul(x, x), x));
  assert_int_equal(tg_backward(z, NULL, false), 0);
  assert_int_equal(sp.calls, 1);
  assert_values(x->grad, (const double[]){6, 24, 54}, 3, 1e-12);
  for (int i = 0; i < 3; i++) assert_true(sp.seen[0][i] == 3.0 * (i + 1) * (i + 1));
}

/* ---- saved-tensor hooks (tg_saved_tensors_hooks_push/pop) */

/* pack returns the tensor itself; counts the calls */
typedef struct counts {
  int packed, unpacked, released;
} counts;
static void *pack_same(tg_tensor *t, void *ctx) {
  ((counts *)ctx)->packed++;
  return t;
}
static tg_tensor *unpack_same(void *p, void *ctx) {
  ((counts *)ctx)->unpacked++;
  return p;
}
static void release_count(void *p, void *ctx) {
  (void)p;
  ((counts *)ctx)->released++;
}

/* offload: the values go to a malloc'd side buffer (host memory in a real
 * offloader) and come back as a new tensor; in cast, they are stored as
 * float32 (compression) and come back as the saved dtype */
typedef struct side {
  tg_dtype dtype;
  int ndim;
  size_t shape[8];
  size_t numel;
  void *data;
} side;
typedef struct offloader {
  counts c;
  bool to_f32;
  tg_tensor *seen[64]; /* the tensors packed, to poison their own memory */
  int n_seen;
} offloader;
static void *pack_offload(tg_tensor *t, void *ctx) {
  offloader *o = ctx;
  o->c.packed++;
  if (o->n_seen < 64) o->seen[o->n_seen++] = t;
  side *b = malloc(sizeof *b);
  b->dtype = o->to_f32 ? TG_FLOAT32 : t->dtype;
  b->ndim = t->ndim;
  memcpy(b->shape, t->shape, (size_t)t->ndim * sizeof(size_t));
  b->numel = t->numel;
  b->data = malloc((b->numel ? b->numel : 1) * 8);
  for (size_t i = 0; i < t->numel; i++) {
    double v = tg_get_flat(t, i); /* strided read: views pack too */
    if (b->dtype == TG_FLOAT32) ((float *)b->data)[i] = (float)v;
    else ((double *)b->data)[i] = v;
  }
  return b;
}
static tg_tensor *unpack_offload(void *p, void *ctx) {
  offloader *o = ctx;
  side *b = p;
  o->c.unpacked++;
  tg_tensor *u = tg_from_data(b->dtype, b->ndim, b->shape, b->data);
  return o->to_f32 ? tg_to_dtype(u, TG_FLOAT64) : u;
}
static void release_offload(void *p, void *ctx) {
  side *b = p;
  ((offloader *)ctx)->c.released++;
  free(b->data);
  free(b);
}
/* overwrite the packed tensors' own memory without a version bump, as if it
 * had been handed back: a backward that still read it would see NaN */
static void poison_seen(offloader *o) {
  for (int i = 0; i < o->n_seen; i++) {
    tg_tensor *t = o->seen[i];
    for (size_t k = 0; k < t->storage->nbytes / sizeof(double); k++) ((double *)t->storage->data)[k] = NAN;
  }
}

/* a small MLP loss on fixed data: matmul, tanh, sigmoid, exp, mul, mean */
static tg_tensor *mlp_loss(tg_tensor *xb, tg_tensor *w1, tg_tensor *w2) {
  tg_tensor *h = tg_tanh(tg_matmul(xb, w1));
  tg_tensor *o = tg_sigmoid(tg_matmul(h, w2));
  return tg_mean(tg_mul(o, tg_exp(h)));
}

/* identity pack/unpack: the same gradients to the bit; every pack is
 * unpacked once and released once after a backward without retain_graph */
static void test_saved_hooks_identity_bit_identical(void **state) {
  (void)state;
  tg_rng r = test_seeded(7);
  tg_tensor *xb = tg_randn(&r, TG_FLOAT64, TG_SHAPE(5, 4));
  tg_tensor *w1 = test_leaf(&r, TG_SHAPE(4, 6)), *w2 = test_leaf(&r, TG_SHAPE(6, 6));
  if (tg_backward(mlp_loss(xb, w1, w2), NULL, false) != 0) fail_msg("%s", tg_last_error());
  tg_tensor *g1 = tg_clone(w1->grad), *g2 = tg_clone(w2->grad);
  tg_zero_grad(w1);
  tg_zero_grad(w2);
  counts c = {0};
  assert_int_equal(tg_saved_tensors_hooks_push(pack_same, unpack_same, release_count, &c), 0);
  assert_int_equal(tg_saved_tensors_hooks_depth(), 1);
  tg_tensor *loss = mlp_loss(xb, w1, w2);
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  /* matmul 2+2, tanh 1 (out), sigmoid 1, exp 1, mul 2: 9 saved values */
  assert_int_equal(c.packed, 9);
  assert_int_equal(c.unpacked, 0);
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  assert_int_equal(c.unpacked, 9);
  assert_int_equal(c.released, 9);
  test_assert_identical(w1->grad, g1);
  test_assert_identical(w2->grad, g2);
}

/* offload: the backward reads only the side buffers (the originals are
 * poisoned with NaN after the forward) and still gets the gradients of a
 * run without hooks, to the bit; handles freed (ASan: no leak) */
static void test_saved_hooks_offload(void **state) {
  (void)state;
  tg_rng r = test_seeded(8);
  tg_tensor *xb = tg_randn(&r, TG_FLOAT64, TG_SHAPE(5, 4));
  tg_tensor *w1 = test_leaf(&r, TG_SHAPE(4, 6)), *w2 = test_leaf(&r, TG_SHAPE(6, 6));
  if (tg_backward(mlp_loss(xb, w1, w2), NULL, false) != 0) fail_msg("%s", tg_last_error());
  tg_tensor *g1 = tg_clone(w1->grad), *g2 = tg_clone(w2->grad);
  tg_tensor *w1c = tg_clone(w1), *w2c = tg_clone(w2), *xc = tg_clone(xb);
  tg_tensor *v1 = test_leaf(&r, TG_SHAPE(4, 6)), *v2 = test_leaf(&r, TG_SHAPE(6, 6));
  tg_copy_(v1, w1c); /* the weights' values, in leaves whose memory we may poison */
  tg_copy_(v2, w2c);
  offloader o = {0};
  assert_int_equal(tg_saved_tensors_hooks_push(pack_offload, unpack_offload, release_offload, &o), 0);
  tg_tensor *loss = mlp_loss(xc, v1, v2);
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  assert_int_equal(o.c.packed, 9);
  poison_seen(&o);
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  assert_int_equal(o.c.unpacked, 9);
  assert_int_equal(o.c.released, 9);
  test_assert_identical(v1->grad, g1);
  test_assert_identical(v2->grad, g2);
}

/* compression: L = sum(exp(x) * w) with float64 saved as float32. The mul's
 * backward reads exp(x) and w, exp's reads its output, all rounded:
 * dL/dw = f32(exp x), dL/dx = f32(w) * f32(exp x) (computed here in C) */
static void test_saved_hooks_compress_to_f32(void **state) {
  (void)state;
  const double xv[4] = {0.1, -1.3, 0.7, 2.2}, wv[4] = {1.0 / 3, -2.7, 0.45, 1.1};
  tg_tensor *x = leaf(TG_SHAPE(4), xv), *w = leaf(TG_SHAPE(4), wv);
  offloader o = {.to_f32 = true};
  assert_int_equal(tg_saved_tensors_hooks_push(pack_offload, unpack_offload, release_offload, &o), 0);
  tg_tensor *loss = tg_sum(tg_mul(tg_exp(x), w));
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  assert_int_equal(o.c.packed, 3); /* exp's output twice (exp, mul), w */
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  for (int i = 0; i < 4; i++) {
    double e = (double)(float)exp(xv[i]), wr = (double)(float)wv[i];
    assert_true(fabs(tg_get_flat(w->grad, (size_t)i) - e) <= 1e-15 * fabs(e));
    assert_true(fabs(tg_get_flat(x->grad, (size_t)i) - wr * e) <= 1e-15 * fabs(wr * e));
    /* and not the uncompressed gradient */
    assert_true(fabs(tg_get_flat(x->grad, (size_t)i) - wv[i] * exp(xv[i])) > 1e-12);
  }
  assert_int_equal(o.c.released, 3);
}

/* double backward under hooks: y = sum(x*x*x), g = dy/dx = 3x^2 with
 * create_graph (hooks still pushed, so the backward's own nodes are packed
 * too), then sum(g).backward: x.grad = 6x */
static void test_saved_hooks_double_backward(void **state) {
  (void)state;
  const double xv[3] = {0.5, -1.5, 2.0};
  tg_tensor *x = leaf(TG_SHAPE(3), xv);
  offloader o = {0};
  assert_int_equal(tg_saved_tensors_hooks_push(pack_offload, unpack_offload, release_offload, &o), 0);
  tg_tensor *y = tg_sum(tg_mul(tg_mul(x, x), x)), *g = NULL;
  tg_grad_opts go = {.create_graph = true};
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x, &g, go), 0);
  int packed_forward = 4;
  assert_true(o.c.packed > packed_forward); /* the recorded backward saved values too */
  assert_int_equal(tg_backward(tg_sum(g), NULL, false), 0);
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  for (int i = 0; i < 3; i++) {
    assert_true(fabs(tg_get_flat(g, (size_t)i) - 3 * xv[i] * xv[i]) <= 1e-12);
    assert_true(fabs(tg_get_flat(x->grad, (size_t)i) - 6 * xv[i]) <= 1e-12);
  }
  tg_scope_end(); /* the first graph (retained by create_graph) goes: all handles freed */
  tg_scope_begin();
  assert_int_equal(o.c.released, o.c.packed);
}

/* nesting: only the innermost pair applies; popping restores the outer */
static void test_saved_hooks_nesting(void **state) {
  (void)state;
  tg_tensor *x = leaf(TG_SHAPE(2), (const double[]){1, 2});
  counts outer = {0}, inner = {0};
  assert_int_equal(tg_saved_tensors_hooks_push(pack_same, unpack_same, release_count, &outer), 0);
  tg_tensor *a = tg_exp(x); /* 1 saved (out) -> outer */
  assert_int_equal(tg_saved_tensors_hooks_push(pack_same, unpack_same, release_count, &inner), 0);
  assert_int_equal(tg_saved_tensors_hooks_depth(), 2);
  tg_tensor *b = tg_mul(a, x); /* 2 saved -> inner */
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  tg_tensor *c = tg_tanh(b); /* 1 saved -> outer */
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  tg_tensor *d = tg_sum(tg_sigmoid(c)); /* none */
  assert_int_equal(outer.packed, 2);
  assert_int_equal(inner.packed, 2);
  assert_int_equal(tg_backward(d, NULL, false), 0);
  assert_int_equal(outer.unpacked, 2);
  assert_int_equal(inner.unpacked, 2);
  assert_int_equal(outer.released + inner.released, 4);
  /* d/dx sum(sigmoid(tanh(x e^x))) = s(1-s) (1-t^2) (e^x + x e^x) */
  for (int i = 0; i < 2; i++) {
    double xi = i + 1, t = tanh(xi * exp(xi)), s = 1 / (1 + exp(-t));
    double expect = s * (1 - s) * (1 - t * t) * (1 + xi) * exp(xi);
    assert_true(fabs(tg_get_flat(x->grad, (size_t)i) - expect) <= 1e-12 * fabs(expect) + 1e-300);
  }
}

static tg_tensor *unpack_null(void *p, void *ctx) {
  (void)p;
  (void)ctx;
  return NULL;
}
static void *pack_null(tg_tensor *t, void *ctx) {
  (void)t;
  (void)ctx;
  return NULL;
}
static tg_tensor *unpack_wrong_shape(void *p, void *ctx) {
  (void)p;
  (void)ctx;
  return tg_zeros(TG_FLOAT64, TG_SHAPE(5));
}

/* errors: pop without push, unpack returning NULL or a tensor of another
 * shape, pack returning NULL, an in-place change after the save (the
 * version check sees the original) */
static void test_saved_hooks_errors(void **state) {
  (void)state;
  assert_int_equal(tg_saved_tensors_hooks_pop(), -1);
  assert_non_null(strstr(tg_last_error(), "saved_tensors_hooks_pop: no hook pair is pushed"));
  tg_tensor *x = leaf(TG_SHAPE(2), (const double[]){1, 2});
  counts c = {0};
  assert_int_equal(tg_saved_tensors_hooks_push(pack_same, unpack_null, release_count, &c), 0);
  tg_tensor *y = tg_sum(tg_exp(x));
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  assert_int_equal(tg_backward(y, NULL, false), -1);
  assert_non_null(strstr(tg_last_error(), "unpack hook returned NULL for the output of ExpBackward"));

  assert_int_equal(tg_saved_tensors_hooks_push(pack_same, unpack_wrong_shape, release_count, &c), 0);
  y = tg_sum(tg_mul(x, x));
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  assert_int_equal(tg_backward(y, NULL, false), -1);
  assert_non_null(strstr(tg_last_error(), "returned float64 [5] for input 0 of MulBackward"));

  assert_int_equal(tg_saved_tensors_hooks_push(pack_null, unpack_same, NULL, &c), 0);
  y = tg_sum(tg_tanh(x));
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  assert_int_equal(tg_backward(y, NULL, false), -1);
  assert_non_null(strstr(tg_last_error(), "pack hook returned NULL for the output of TanhBackward"));

  assert_int_equal(tg_saved_tensors_hooks_push(pack_same, unpack_same, release_count, &c), 0);
  tg_tensor *e = tg_exp(x);
  y = tg_sum(e);
  assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
  tg_fill_(e, 3.0);
  assert_int_equal(tg_backward(y, NULL, false), -1);
  assert_non_null(strstr(tg_last_error(), "modified by an in-place operation"));
  assert_int_equal(tg_saved_tensors_hooks_depth(), 0);
  tg_scope_end(); /* the failed graphs go with their handles */
  tg_scope_begin();
  assert_int_equal(c.released, c.packed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_leaf_hook_once_on_total),
      TG_TEST(test_hooks_in_registration_order),
      TG_TEST(test_non_leaf_hook),
      TG_TEST(test_non_leaf_hook_once_over_two_uses),
      TG_TEST(test_hook_on_roots),
      TG_TEST(test_leaf_hook_sees_leaf_shape),
      TG_TEST(test_remove_hook),
      TG_TEST(test_grad_runs_non_leaf_hooks_only),
      TG_TEST(test_hook_under_create_graph),
      TG_TEST(test_hook_errors),
      TG_TEST(test_post_accumulate_grad_hook),
      TG_TEST(test_hook_lifetimes),
      TG_TEST(test_identity_hooks_change_nothing),
      TG_TEST(test_post_hook_keeps_bits),
      TG_TEST(test_hooked_leaf_delivered_early),
      TG_TEST(test_grad_hook_leaf_total),
      TG_TEST(test_saved_hooks_identity_bit_identical),
      TG_TEST(test_saved_hooks_offload),
      TG_TEST(test_saved_hooks_compress_to_f32),
      TG_TEST(test_saved_hooks_double_backward),
      TG_TEST(test_saved_hooks_nesting),
      TG_TEST(test_saved_hooks_errors),
  };
  int rc = cmocka_run_group_tests_name("hooks", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
