/* Module hooks (nn/module_hooks.c): forward pre-hooks, forward hooks and
 * full backward hooks. Expected values are PyTorch 1.13's, from the torch
 * lines in each comment, with
 *   lin = nn.Linear(3, 2); lin.weight = [[1,2,3],[4,5,6]]; lin.bias = [0.5,-0.5]
 *   x = [[1,-1,2]] */
#define _POSIX_C_SOURCE 200809L /* popen */
#include <stdio.h>

#include "tg_test.h"

static tg_module *torch_linear(void) {
  tg_module *lin = test_to_f64(tg_nn_linear(3, 2, true, NULL));
  const double w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {0.5, -0.5};
  memcpy(tg_data_f64(lin->params[0].tensor), w, sizeof w);
  memcpy(tg_data_f64(lin->params[1].tensor), b, sizeof b);
  return lin;
}

static tg_tensor *x_row(bool rg) {
  tg_tensor *x = tg_from_f64(TG_SHAPE(1, 3), (const double[]){1, -1, 2});
  return rg ? tg_requires_grad_(x, true) : x;
}

static void assert_values(const tg_tensor *t, const double *expect, size_t n) {
  assert_non_null(t);
  assert_int_equal(t->numel, n);
  for (size_t i = 0; i < n; i++) assert_close(tg_get_flat(t, i), expect[i], 1e-12);
}

typedef struct seen {
  int calls;
  double gi[3], go[2];
  bool gi_null;
  tg_module *m;
} seen;

/* return (gi[0]*2,) if gi[0] is not None else None */
static tg_tensor *double_grad_input(tg_module *m, tg_tensor *gi, tg_tensor *go, void *ctx) {
  seen *s = ctx;
  s->calls++;
  s->m = m;
  s->gi_null = gi == NULL;
  for (size_t i = 0; gi && i < 3; i++) s->gi[i] = tg_get_flat(gi, i);
  for (size_t i = 0; i < 2; i++) s->go[i] = tg_get_flat(go, i);
  return gi ? tg_mul_scalar(gi, 2) : NULL;
}

/* lin.register_full_backward_hook(bh); y = lin(x); (y*y).sum().backward()
 * -> gi = [[95,127,159]], go = [[11,21]]; x.grad = [[190,254,318]],
 * w.grad = [[11,-11,22],[21,-21,42]] (the hook changes grad_input only).
 * With an x that does not require grad: gi = (None,), go as before. */
static void test_full_backward_hook(void **state) {
  (void)state;
  tg_module *lin = torch_linear();
  seen s = {0};
  assert_int_not_equal(tg_module_register_full_backward_hook(lin, double_grad_input, &s).id, 0);
  tg_tensor *x = x_row(true);
  tg_tensor *y = tg_module_forward(lin, x);
  assert_string_equal(tg_grad_fn_name(y), "BackwardHookFunctionBackward");
  assert_int_equal(tg_backward(tg_sum(tg_mul(y, y)), NULL, false), 0);
  assert_int_equal(s.calls, 1);
  assert_ptr_equal(s.m, lin);
  assert_values(tg_from_f64(TG_SHAPE(3), s.gi), (const double[]){95, 127, 159}, 3);
  assert_values(tg_from_f64(TG_SHAPE(2), s.go), (const double[]){11, 21}, 2);
  assert_values(x->grad, (const double[]){190, 254, 318}, 3);
  assert_values(lin->params[0].tensor->grad, (const double[]){11, -11, 22, 21, -21, 42}, 6);
  tg_module_zero_grad(lin);
  y = tg_module_forward(lin, x_row(false));
  assert_int_equal(tg_backward(tg_sum(tg_mul(y, y)), NULL, false), 0);
  assert_int_equal(s.calls, 2);
  assert_true(s.gi_null);
  assert_values(tg_from_f64(TG_SHAPE(2), s.go), (const double[]){11, 21}, 2);
  assert_values(lin->params[0].tensor->grad, (const double[]){11, -11, 22, 21, -21, 42}, 6);
  /* no grad mode: no identity nodes, no hook */
  tg_no_grad_begin();
  y = tg_module_forward(lin, x_row(true));
  tg_no_grad_end();
  assert_null(y->grad_fn);
  tg_module_free(lin);
}

static tg_tensor *times_ten(tg_module *m, tg_tensor *x, void *ctx) {
  (void)m, (void)ctx;
  return tg_mul_scalar(x, 10);
}
static tg_tensor *plus_one(tg_module *m, tg_tensor *x, tg_tensor *y, void *ctx) {
  (void)m, (void)x, (void)ctx;
  return tg_add_scalar(y, 1);
}

/* lin.register_forward_pre_hook(lambda m, a: (a[0]*10,));
 * lin.register_forward_hook(lambda m, a, o: o+1); lin(x) -> [[51.5, 110.5]];
 * both removed: lin(x) -> [[5.5, 10.5]] */
static void test_forward_hooks(void **state) {
  (void)state;
  tg_module *lin = torch_linear();
  tg_hook_handle pre = tg_module_register_forward_pre_hook(lin, times_ten, NULL);
  tg_hook_handle fwd = tg_module_register_forward_hook(lin, plus_one, NULL);
  assert_values(tg_module_forward(lin, x_row(false)), (const double[]){51.5, 110.5}, 2);
  /* through tg_module_forward_multi too (a one-tensor module) */
  tg_tensor *in = x_row(false), *out = NULL;
  assert_int_equal(tg_module_forward_multi(lin, &in, 1, &out, 1), 1);
  assert_values(out, (const double[]){51.5, 110.5}, 2);
  assert_true(tg_module_remove_hook(pre));
  assert_false(tg_module_remove_hook(pre));
  assert_false(tg_module_remove_hook((tg_hook_handle){1})); /* not a module hook's id */
  assert_values(tg_module_forward(lin, x_row(false)), (const double[]){6.5, 11.5}, 2);
  assert_true(tg_module_remove_hook(fwd));
  assert_values(tg_module_forward(lin, x_row(false)), (const double[]){5.5, 10.5}, 2);
  tg_module_free(lin);
}

/* the use: a forward hook on every layer of a Sequential records
 * each activation's mean, in the order the layers run */
typedef struct stats {
  int n;
  const char *type[8];
  double mean[8];
} stats;
static tg_tensor *record_mean(tg_module *m, tg_tensor *x, tg_tensor *y, void *ctx) {
  (void)x;
  stats *s = ctx;
  s->type[s->n] = m->type;
  s->mean[s->n++] = tg_item(tg_mean(y));
  return y;
}

static void test_hooks_on_children(void **state) {
  (void)state;
  tg_rng r = test_seeded(3);
  tg_module *net = tg_nn_sequential(3, tg_nn_linear(3, 4, true, &r), tg_nn_tanh(), tg_nn_linear(4, 2, true, &r));
  assert_non_null(net);
  stats s = {0};
  for (size_t k = 0; k < net->n_children; k++)
    assert_int_not_equal(tg_module_register_forward_hook(net->children[k].module, record_mean, &s).id, 0);
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(5, 3));
  tg_tensor *y = tg_module_forward(net, x);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.type[0], "Linear");
  assert_string_equal(s.type[1], "Tanh");
  assert_string_equal(s.type[2], "Linear");
  /* the last one recorded is the network's output */
  assert_close(s.mean[2], tg_item(tg_mean(y)), 1e-6);
  /* the same activations without hooks: the hooks changed nothing */
  tg_tensor *h = tg_module_forward(net->children[0].module, x);
  assert_close(s.mean[0], tg_item(tg_mean(h)), 1e-6);
  tg_module_free(net); /* with its children's hooks (ASan: nothing leaks) */
}

static tg_tensor *fail_pre(tg_module *m, tg_tensor *x, void *ctx) {
  (void)m, (void)x, (void)ctx;
  return NULL;
}
static tg_tensor *fail_bwd(tg_module *m, tg_tensor *gi, tg_tensor *go, void *ctx) {
  (void)m, (void)gi, (void)go, (void)ctx;
  return NULL;
}
static tg_tensor *resize_bwd(tg_module *m, tg_tensor *gi, tg_tensor *go, void *ctx) {
  (void)m, (void)gi, (void)ctx;
  return go;
}
static int two_out(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out) {
  (void)m, (void)n_in, (void)max_out;
  out[0] = in[0];
  return 1;
}

static void test_module_hook_errors(void **state) {
  (void)state;
  tg_module *lin = torch_linear();
  tg_hook_handle h = tg_module_register_forward_pre_hook(lin, fail_pre, NULL);
  assert_null(tg_module_forward(lin, x_row(false)));
  test_expect_error("forward pre-hook of Linear returned NULL", NULL);
  tg_module_remove_hook(h);
  h = tg_module_register_full_backward_hook(lin, fail_bwd, NULL);
  tg_tensor *x = x_row(true);
  assert_int_equal(tg_backward(tg_sum(tg_module_forward(lin, x)), NULL, false), -1);
  test_expect_error("full backward hook of Linear returned NULL", NULL);
  assert_null(x->grad);
  tg_module_remove_hook(h);
  tg_module_register_full_backward_hook(lin, resize_bwd, NULL);
  assert_int_equal(tg_backward(tg_sum(tg_module_forward(lin, x)), NULL, false), -1);
  test_expect_error("hook has changed the size of value", NULL);
  /* a forward in a scope that ends before any backward frees its records */
  tg_scope_begin();
  assert_non_null(tg_module_forward(lin, x));
  tg_scope_end();
  tg_module_free(lin);
  tg_module *multi = tg_module_new_multi("Pair", two_out);
  assert_int_equal(tg_module_register_forward_hook(multi, plus_one, NULL).id, 0);
  test_expect_error("Pair", "one-tensor module");
  tg_module_free(multi);
}

/* the example: per-layer statistics through forward and backward hooks */
static void test_activation_stats_example(void **state) {
  (void)state;
  FILE *p = popen(TG_BUILD_DIR "/examples/activation_stats", "r");
  assert_non_null(p);
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  buf[n] = '\0';
  assert_int_equal(pclose(p), 0);
  /* 2 runs x 12 layer lines, gain 5/3 keeps the spread, 0.5 shrinks it */
  assert_non_null(strstr(buf, "(1.667/sqrt(64))^2"));
  assert_non_null(strstr(buf, "(keeps its spread)"));
  assert_non_null(strstr(buf, "(0.500/sqrt(64))^2"));
  assert_non_null(strstr(buf, "(shrinks)"));
  int lines = 0;
  for (const char *q = buf; (q = strstr(q, "  Tanh ")) != NULL; q++) lines++;
  assert_int_equal(lines, 12);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_full_backward_hook),
      TG_TEST(test_forward_hooks),
      TG_TEST(test_hooks_on_children),
      TG_TEST(test_module_hook_errors),
      TG_TEST(test_activation_stats_example),
  };
  int rc = cmocka_run_group_tests_name("module_hooks", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
