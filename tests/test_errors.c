/* Error paths: every failure returns NULL (or -1, or NaN) with a message
 * that names the op and what was wrong, and the program goes on. */
#include <string.h>

#include "tg_test.h"

/* the last error contains each of the given fragments */
#define assert_error_has(...)                                                  \
  do {                                                                         \
    const char *frags_[] = {__VA_ARGS__};                                      \
    assert_true(tg_has_error());                                               \
    for (size_t k_ = 0; k_ < sizeof frags_ / sizeof frags_[0]; k_++)           \
      if (!strstr(tg_last_error(), frags_[k_]))                                \
        fail_msg("error \"%s\" does not mention \"%s\"", tg_last_error(), frags_[k_]); \
  } while (0)

/* after an error, a normal computation still works */
static void assert_goes_on(void) {
  tg_clear_error();
  tg_tensor *a = tg_full(TG_FLOAT32, TG_SHAPE(2), 3);
  tg_tensor *s = tg_sum(tg_mul(a, a));
  assert_non_null(s);
  assert_close(tg_item(s), 18, 0);
  assert_false(tg_has_error());
}

static void test_matmul_inner_dims(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
  tg_tensor *b = tg_ones(TG_FLOAT32, TG_SHAPE(4, 5));
  assert_null(tg_matmul(a, b));
  assert_error_has("matmul: [2,3] @ [4,5]: inner dimensions 3 and 4 differ");
  tg_clear_error();
  /* batched and vector forms */
  assert_null(tg_matmul(tg_ones(TG_FLOAT32, TG_SHAPE(7, 2, 3)), tg_ones(TG_FLOAT32, TG_SHAPE(2, 5))));
  assert_error_has("matmul", "[7,2,3]", "[2,5]", "3 and 2");
  tg_clear_error();
  assert_null(tg_matmul(tg_ones(TG_FLOAT32, TG_SHAPE(3)), tg_ones(TG_FLOAT32, TG_SHAPE(4))));
  assert_error_has("matmul", "3", "4");
  tg_clear_error();
  assert_null(tg_dot(a, b));
  assert_error_has("dot", "1D");
  assert_goes_on();
}

static void test_broadcast_mismatch(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
  tg_tensor *b = tg_ones(TG_FLOAT32, TG_SHAPE(4));
  assert_null(tg_add(a, b));
  assert_error_has("add", "[2,3]", "[4]", "broadcast");
  tg_clear_error();
  assert_null(tg_mul(tg_ones(TG_FLOAT32, TG_SHAPE(5, 1, 2)), tg_ones(TG_FLOAT32, TG_SHAPE(3, 3))));
  assert_error_has("mul", "[5,1,2]", "[3,3]");
  tg_clear_error();
  /* shapes that do broadcast work */
  tg_tensor *ok = tg_add(a, tg_ones(TG_FLOAT32, TG_SHAPE(3)));
  assert_non_null(ok);
  assert_int_equal(ok->shape[0], 2);
  assert_goes_on();
}

static void test_dtype_errors(void **state) {
  (void)state;
  tg_tensor *f = tg_ones(TG_FLOAT32, TG_SHAPE(3));
  tg_tensor *d = tg_ones(TG_FLOAT64, TG_SHAPE(3));
  tg_tensor *i = tg_from_i64(TG_SHAPE(3), (int64_t[]){1, 2, 3});
  /* arithmetic promotes (tests/test_promotion.c); matmul, as PyTorch's, does not */
  assert_null(tg_matmul(d, f));
  assert_error_has("matmul", "float64", "float32");
  tg_clear_error();
  /* int64 into float-only ops */
  assert_null(tg_elu(i, 1.0));
  assert_error_has("elu", "int64");
  tg_clear_error();
  /* matmul takes int64 pairs, as PyTorch's; bool it refuses */
  tg_tensor *bl = tg_zeros(TG_BOOL, TG_SHAPE(3));
  assert_null(tg_matmul(bl, bl));
  assert_error_has("matmul", "bool");
  tg_clear_error();
  assert_null(tg_matmul(i, d));
  assert_error_has("matmul", "int64", "float64");
  tg_clear_error();
  assert_null(tg_mean(i));
  assert_error_has("mean", "int64");
  tg_clear_error();
  assert_null(tg_softmax(i, 0));
  assert_error_has("softmax", "int64");
  tg_clear_error();
  assert_null(tg_requires_grad_(i, true));
  assert_error_has("requires_grad_", "int64");
  tg_clear_error();
  assert_null(tg_linspace(TG_INT64, 0, 1, 3));
  assert_error_has("linspace", "int64");
  assert_goes_on();
}

static void test_null_arguments(void **state) {
  (void)state;
  tg_tensor *x = tg_ones(TG_FLOAT64, TG_SHAPE(2, 2));
  tg_tensor *idx = tg_from_i64(TG_SHAPE(2, 1), (int64_t[]){0, 1});
  int n = 0;
  /* each op family: NULL back, and a message naming the op and the argument */
#define NULL_CASE(expr, opname, argname)                                       \
  do {                                                                         \
    tg_clear_error();                                                          \
    assert_null(expr);                                                         \
    assert_error_has(opname ": " argname, "NULL");                             \
    n++;                                                                       \
  } while (0)
  NULL_CASE(tg_add(NULL, x), "add", "argument 1");          /* binary */
  NULL_CASE(tg_div(x, NULL), "div", "argument 2");
  NULL_CASE(tg_mul_scalar(NULL, 2.0), "mul_scalar", "argument 1"); /* with a number */
  NULL_CASE(tg_tanh(NULL), "tanh", "argument 1");           /* unary */
  NULL_CASE(tg_mean(NULL), "mean", "argument 1");           /* reductions */
  NULL_CASE(tg_max_dim(NULL, 0, false, NULL), "max", "argument 1");
  NULL_CASE(tg_matmul(x, NULL), "matmul", "argument 2");    /* linear algebra */
  NULL_CASE(tg_log_softmax(NULL, 1), "log_softmax", "argument 1");
  NULL_CASE(tg_gather(x, 1, NULL), "gather", "argument 3"); /* indexing */
  NULL_CASE(tg_index_select(NULL, 0, idx), "index_select", "argument 1");
  NULL_CASE(tg_reshape(NULL, TG_SHAPE(4)), "reshape", "argument 1"); /* shape */
  NULL_CASE(tg_transpose(NULL, 0, 1), "transpose", "argument 1");
  NULL_CASE(tg_cat(2, (tg_tensor *[]){x, NULL}, 0), "cat", "argument 2");
  NULL_CASE(tg_clone(NULL), "clone", "argument 1");
  NULL_CASE(tg_detach(NULL), "detach", "argument 1"); /* autograd */
#undef NULL_CASE
  assert_int_equal(n, 15);
  tg_clear_error();
  assert_int_equal(tg_backward(NULL, NULL, false), -1);
  assert_error_has("backward", "argument 1", "NULL");
  tg_clear_error();
  assert_true(isnan(tg_item(NULL)));
  assert_error_has("item", "NULL");
  tg_clear_error();
  assert_int_equal(tg_set(NULL, (size_t[]){0}, 1), -1);
  assert_error_has("set", "NULL");
  assert_goes_on();
}

static void test_null_propagation_keeps_first_error(void **state) {
  (void)state;
  tg_tensor *x = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
  tg_tensor *bad = tg_ones(TG_FLOAT32, TG_SHAPE(4));
  tg_tensor *z = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
  tg_clear_error();
  tg_tensor *r = tg_mul(tg_add(x, bad), z);
  assert_null(r);
  /* the message is add's, not "mul: argument 1 is NULL" */
  assert_error_has("add", "[2,3]", "[4]");
  assert_null(strstr(tg_last_error(), "mul"));
  /* a longer chain, checked once at the end */
  tg_clear_error();
  tg_tensor *loss = tg_sum(tg_exp(tg_tanh(tg_matmul(x, x))));
  assert_null(loss);
  assert_error_has("matmul", "inner dimensions 3 and 2 differ");
  assert_int_equal(tg_backward(loss, NULL, false), -1);
  assert_error_has("matmul");
  assert_goes_on();
}

static void test_backward_errors(void **state) {
  (void)state;
  tg_tensor *c = tg_full(TG_FLOAT32, TG_SHAPE(2), 2);
  tg_tensor *y = tg_sum(tg_mul(c, c));
  assert_int_equal(tg_backward(y, NULL, false), -1);
  assert_error_has("backward", "does not require grad");
  tg_clear_error();

  tg_tensor *x = tg_requires_grad_(tg_from_f32(TG_SHAPE(2), (float[]){1, 2}), true);
  tg_tensor *v = tg_mul(x, x);
  assert_int_equal(tg_backward(v, NULL, false), -1);
  assert_error_has("backward", "grad can be implicitly created only for scalar outputs", "[2]");
  assert_null(x->grad);
  tg_clear_error();

  tg_tensor *wrong = tg_ones(TG_FLOAT32, TG_SHAPE(3));
  assert_int_equal(tg_backward(v, wrong, false), -1);
  assert_error_has("backward", "grad_output", "[3]", "[2]");
  tg_clear_error();
  tg_tensor *wrong_dtype = tg_ones(TG_FLOAT64, TG_SHAPE(2));
  assert_int_equal(tg_backward(v, wrong_dtype, false), -1);
  assert_error_has("backward", "float64", "float32");
  assert_null(x->grad);
  tg_clear_error();

  /* the right grad_output works: d/dx sum(g * x^2) = 2 g x */
  tg_tensor *g = tg_from_f32(TG_SHAPE(2), (float[]){1, -1});
  assert_int_equal(tg_backward(v, g, false), 0);
  assert_close(tg_get_flat(x->grad, 0), 2, 0);
  assert_close(tg_get_flat(x->grad, 1), -4, 0);
  assert_goes_on();
}

static void test_second_backward(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT64, 3), true);
  tg_tensor *y = tg_mul(tg_exp(x), x); /* x e^x, derivative (1 + x) e^x */
  double d = 4 * exp(3.0);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_close(tg_item(x->grad), d, 1e-9);
  assert_int_equal(tg_backward(y, NULL, false), -1);
  assert_error_has("backward", "second time", "retain_graph");
  assert_close(tg_item(x->grad), d, 1e-9); /* untouched by the failed call */
  tg_clear_error();
  /* a new graph that reuses a released part is an error too */
  tg_tensor *e = tg_exp(x);
  tg_tensor *y1 = tg_mul_scalar(e, 2.0);
  assert_int_equal(tg_backward(y1, NULL, false), 0);
  tg_tensor *y2 = tg_mul_scalar(e, 3.0);
  assert_int_equal(tg_backward(y2, NULL, false), -1);
  assert_error_has("second time", "ExpBackward");
  tg_clear_error();

  /* with retain_graph the second call works and accumulates */
  tg_tensor *w = tg_requires_grad_(tg_scalar(TG_FLOAT64, 3), true);
  tg_tensor *z = tg_mul(tg_exp(w), w);
  assert_int_equal(tg_backward(z, NULL, true), 0);
  assert_close(tg_item(w->grad), d, 1e-9);
  assert_int_equal(tg_backward(z, NULL, true), 0);
  assert_close(tg_item(w->grad), 2 * d, 1e-9);
  assert_int_equal(tg_backward(z, NULL, false), 0); /* last use releases */
  assert_close(tg_item(w->grad), 3 * d, 1e-9);
  assert_int_equal(tg_backward(z, NULL, false), -1);
  assert_goes_on();
}

static void test_scope_end_without_begin(void **state) {
  (void)state;
  while (tg_scope_depth() > 0) assert_int_equal(tg_scope_end(), 0);
  tg_clear_error();
  assert_int_equal(tg_scope_end(), -1);
  assert_error_has("scope_end", "no scope is open");
  assert_int_equal(tg_scope_depth(), 0);
  tg_scope_begin();
  assert_int_equal(tg_scope_depth(), 1);
  assert_goes_on();
}

static void test_shape_errors(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
  assert_null(tg_reshape(a, TG_SHAPE(4, 2)));
  assert_error_has("reshape", "[4,2]", "[2,3]", "6");
  tg_clear_error();
  assert_null(tg_reshape_infer(a, 2, (const long[]){-1, 4}));
  assert_error_has("reshape", "6", "4");
  tg_clear_error();

  assert_null(tg_view(tg_t(a), TG_SHAPE(6)));
  assert_error_has("view", "[3,2]", "not compatible", "[6]", "tg_reshape");
  tg_clear_error();

  assert_null(tg_expand(a, TG_SHAPE(4, 3)));
  assert_error_has("expand", "[2,3]", "[4,3]", "size 2");
  tg_clear_error();
  assert_null(tg_expand(a, TG_SHAPE(3)));
  assert_error_has("expand", "[2,3]");
  tg_clear_error();

  assert_null(tg_narrow(a, 1, 2, 3));
  assert_error_has("narrow", "start 2", "length 3", "size 3");
  tg_clear_error();
  assert_null(tg_narrow(a, 0, 3, 0));
  assert_error_has("narrow");
  tg_clear_error();
  assert_null(tg_select(a, 0, 2));
  assert_error_has("select", "index 2", "size 2");
  tg_clear_error();
  assert_null(tg_slice(a, 1, 0, 3, 0));
  assert_error_has("slice", "step");
  tg_clear_error();

  assert_null(tg_permute(a, (const int[]){0, 0}));
  assert_error_has("permute", "more than once");
  tg_clear_error();
  assert_null(tg_t(tg_ones(TG_FLOAT32, TG_SHAPE(2, 2, 2))));
  assert_error_has("t:", "3");
  assert_goes_on();
}

static void test_dim_out_of_range(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
  assert_null(tg_sum_dims(a, 1, (const int[]){2}, false));
  assert_error_has("sum", "dim 2", "out of range", "2-d");
  tg_clear_error();
  assert_null(tg_transpose(a, 0, -3));
  assert_error_has("transpose", "dim -3");
  tg_clear_error();
  assert_null(tg_softmax(a, 5));
  assert_error_has("softmax", "dim 5");
  tg_clear_error();
  assert_null(tg_unsqueeze(a, 4));
  assert_error_has("unsqueeze", "dim 4");
  tg_clear_error();
  assert_null(tg_cat(1, &a, 2));
  assert_error_has("cat", "dim 2");
  tg_clear_error();
  assert_null(tg_max_dim(a, -3, false, NULL));
  assert_error_has("max", "dim -3");
  tg_clear_error();
  assert_null(tg_sum_dims(a, 2, (const int[]){1, -1}, false));
  assert_error_has("sum", "dim 1 appears multiple times in the list of dims");
  assert_goes_on();
}

/* a 0-d tensor has one dim for reductions (0 or -1), listed once, as PyTorch */
static void test_reduce_0d_duplicate_dims(void **state) {
  (void)state;
  tg_tensor *s = tg_scalar(TG_FLOAT64, 2);
  const int d00[] = {0, 0}, d0m[] = {0, -1};
  assert_null(tg_sum_dims(s, 2, d00, false));
  assert_error_has("sum", "dim 0 appears multiple times in the list of dims");
  tg_clear_error();
  assert_null(tg_mean_dims(s, 2, d0m, true));
  assert_error_has("mean", "dim 0 appears multiple times");
  tg_clear_error();
  assert_null(tg_var_dims(s, 2, d00, false, false));
  assert_error_has("var", "dim 0 appears multiple times");
  tg_clear_error();
  assert_null(tg_logsumexp(s, 2, d00, false));
  assert_error_has("logsumexp", "dim 0 appears multiple times");
  tg_clear_error();
  assert_null(tg_sum_dims(s, 1, (const int[]){1}, false));
  assert_error_has("sum", "dim 1");
  tg_clear_error();
  assert_close(tg_item(tg_sum_dims(s, 1, (const int[]){-1}, true)), 2, 0);
  assert_goes_on();
}

static void test_index_errors(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT64, TG_SHAPE(2, 3));
  tg_tensor *idx = tg_from_i64(TG_SHAPE(2, 1), (int64_t[]){1, 5});
  assert_null(tg_gather(a, 1, idx));
  assert_error_has("gather", "index 5", "out of bounds", "size 3");
  tg_clear_error();
  tg_tensor *neg = tg_from_i64(TG_SHAPE(2, 1), (int64_t[]){-1, 0});
  assert_null(tg_gather(a, 1, neg));
  assert_error_has("gather", "index -1");
  tg_clear_error();
  tg_tensor *fidx = tg_from_f32(TG_SHAPE(2, 1), (float[]){0, 1});
  assert_null(tg_gather(a, 1, fidx));
  assert_error_has("gather", "int64", "float32");
  tg_clear_error();
  assert_null(tg_index_select(a, 0, tg_from_f64(TG_SHAPE(1), (double[]){0})));
  assert_error_has("index_select", "int64", "float64");
  tg_clear_error();
  assert_null(tg_index_select(a, 0, tg_from_i64(TG_SHAPE(2), (int64_t[]){0, 2})));
  assert_error_has("index_select", "index 2", "size 2");
  tg_clear_error();
  assert_null(tg_scatter_add(a, 0, tg_from_i64(TG_SHAPE(1, 3), (int64_t[]){0, 1, 9}),
                             tg_ones(TG_FLOAT64, TG_SHAPE(1, 3))));
  assert_error_has("scatter_add", "index 9");
  tg_clear_error();
  /* an index of the wrong rank */
  assert_null(tg_gather(a, 1, tg_from_i64(TG_SHAPE(2), (int64_t[]){0, 1})));
  assert_error_has("gather", "[2]", "[2,3]");
  /* in-range works */
  tg_clear_error();
  tg_tensor *good = tg_gather(a, 1, tg_from_i64(TG_SHAPE(2, 1), (int64_t[]){2, 0}));
  assert_non_null(good);
  assert_goes_on();
}

static void test_cat_stack_errors(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT32, TG_SHAPE(2, 2));
  tg_tensor *b = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
  assert_null(tg_cat(2, (tg_tensor *[]){a, b}, 0));
  assert_error_has("cat", "[2,2]", "[2,3]", "dim 0");
  tg_clear_error();
  assert_non_null(tg_cat(2, (tg_tensor *[]){a, b}, 1)); /* differ only along dim 1: fine */
  assert_null(tg_cat(2, (tg_tensor *[]){a, tg_ones(TG_FLOAT64, TG_SHAPE(2, 2))}, 0));
  assert_error_has("cat", "float64", "float32");
  tg_clear_error();
  assert_null(tg_cat(0, NULL, 0));
  assert_error_has("cat", "empty");
  tg_clear_error();
  assert_null(tg_cat(1, (tg_tensor *[]){tg_scalar(TG_FLOAT32, 1)}, 0));
  assert_error_has("cat", "zero-dimensional");
  tg_clear_error();
  assert_null(tg_stack(2, (tg_tensor *[]){a, b}, 0));
  assert_error_has("stack", "[2,3]", "[2,2]");
  assert_goes_on();
}

static void test_item_and_creation_errors(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
  assert_true(isnan(tg_item(a)));
  assert_error_has("item", "6 elements", "[2,3]");
  tg_clear_error();
  assert_null(tg_arange(TG_FLOAT32, 0, 5, 0));
  assert_error_has("arange");
  tg_clear_error();
  assert_null(tg_arange(TG_FLOAT32, 0, 5, -1));
  assert_error_has("arange", "-1");
  tg_clear_error();
  assert_null(tg_zeros(TG_FLOAT32, TG_MAX_DIMS + 1, (const size_t[TG_MAX_DIMS + 1]){1}));
  assert_error_has("dimensions");
  tg_clear_error();
  assert_null(tg_from_f32(TG_SHAPE(2), NULL));
  assert_error_has("from_data", "NULL");
  tg_clear_error();
  assert_null(tg_data_f64(a));
  assert_error_has("data_f64", "float32");
  assert_goes_on();
}

static void test_autograd_misuse(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(2)), true);
  tg_tensor *y = tg_mul_scalar(x, 2);
  assert_null(tg_requires_grad_(y, false));
  assert_error_has("requires_grad_", "leaf", "MulBackward");
  assert_true(y->requires_grad); /* unchanged */
  tg_clear_error();
  /* turning it on for a non-leaf is refused just the same */
  assert_null(tg_requires_grad_(y, true));
  assert_error_has("requires_grad_", "leaf");
  tg_clear_error();
  assert_null(tg_retain_grad(tg_ones(TG_FLOAT32, TG_SHAPE(2))));
  assert_error_has("retain_grad", "does not require grad");
  tg_clear_error();
  tg_no_grad_end(); /* without a matching begin */
  assert_error_has("no_grad_end");
  assert_true(tg_grad_enabled());
  tg_clear_error();

  /* tg_grad: an input that does not require grad, or is unreachable */
  tg_tensor *c = tg_ones(TG_FLOAT32, TG_SHAPE(2));
  tg_tensor *s = tg_sum(y), *g[2];
  assert_int_equal(tg_grad(1, &s, NULL, 1, &c, g, (tg_grad_opts){0}), -1);
  assert_error_has("grad", "input 0", "does not require grad");
  tg_clear_error();
  tg_tensor *u = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(2)), true);
  assert_int_equal(tg_grad(1, &s, NULL, 2, (tg_tensor *[]){x, u}, g, (tg_grad_opts){0}), -1);
  assert_error_has("grad", "input 1", "not reachable", "allow_unused");
  tg_clear_error();
  assert_int_equal(tg_grad(0, &s, NULL, 1, &x, g, (tg_grad_opts){0}), -1);
  assert_error_has("grad");
  tg_clear_error();
  assert_null(tg_jacobian(NULL, x, NULL));
  assert_error_has("jacobian", "NULL");
  tg_clear_error();
  assert_int_equal(tg_graph_dot(s, NULL), -1);
  assert_error_has("graph_dot", "NULL");
  assert_goes_on();
}

static void test_clear_error(void **state) {
  (void)state;
  tg_clear_error();
  assert_false(tg_has_error());
  assert_string_equal(tg_last_error(), "");
  assert_null(tg_exp(NULL));
  assert_true(tg_has_error());
  assert_true(strlen(tg_last_error()) > 0);
  tg_clear_error();
  assert_false(tg_has_error());
  assert_string_equal(tg_last_error(), "");
  /* a success does not clear a pending error: it stays until cleared */
  assert_null(tg_log(NULL));
  assert_non_null(tg_ones(TG_FLOAT32, TG_SHAPE(1)));
  assert_error_has("log");
  tg_clear_error();
  assert_string_equal(tg_last_error(), "");
}

/* An in-place write to a value a backward reads is caught when backward
 * runs (PyTorch's version counter); writes to values no backward reads are
 * fine. y = x*x; z = y*w; changing w before backward would otherwise give
 * dz/dy = new w: a silently wrong gradient. */
static void test_inplace_modification_detected(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(2), 3.0), true);
  tg_tensor *w = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(2), 2.0), true);
  tg_tensor *z = tg_sum(tg_mul(tg_mul(x, x), w));
  assert_non_null(z);
  assert_int_equal(tg_set(w, (size_t[]){0}, 100.0), 0);
  assert_int_equal(tg_backward(z, NULL, false), -1);
  assert_non_null(strstr(tg_last_error(), "MulBackward"));
  assert_non_null(strstr(tg_last_error(), "in-place"));

  /* the output of exp is what its backward reads */
  tg_tensor *e = tg_exp(x);
  tg_tensor *s = tg_sum(e);
  tg_fill_(e, 0.0);
  assert_int_equal(tg_backward(s, NULL, false), -1);
  assert_non_null(strstr(tg_last_error(), "ExpBackward"));
  assert_non_null(strstr(tg_last_error(), "output"));

  /* add reads no values: changing its input afterwards is allowed */
  tg_tensor *a = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(2), 1.0), true);
  tg_tensor *t = tg_sum(tg_add_scalar(a, 1.0));
  tg_fill_(a, 5.0);
  tg_clear_error();
  assert_int_equal(tg_backward(t, NULL, false), 0);
  assert_close(tg_get_flat(a->grad, 0), 1.0, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_inplace_modification_detected),
      TG_TEST(test_matmul_inner_dims),
      TG_TEST(test_broadcast_mismatch),
      TG_TEST(test_dtype_errors),
      TG_TEST(test_null_arguments),
      TG_TEST(test_null_propagation_keeps_first_error),
      TG_TEST(test_backward_errors),
      TG_TEST(test_second_backward),
      TG_TEST(test_scope_end_without_begin),
      TG_TEST(test_shape_errors),
      TG_TEST(test_dim_out_of_range),
      TG_TEST(test_reduce_0d_duplicate_dims),
      TG_TEST(test_index_errors),
      TG_TEST(test_cat_stack_errors),
      TG_TEST(test_item_and_creation_errors),
      TG_TEST(test_autograd_misuse),
      TG_TEST(test_clear_error),
  };
  int rc = cmocka_run_group_tests_name("errors", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
