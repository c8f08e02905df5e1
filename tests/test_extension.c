/* The extension API (autograd/tg_extension.h): tg_record_op's contract and
 * the derived-tensor rule for double backward. Expected values are the
 * closed forms of swish, y = x sigmoid(b x):
 *   y'  = s + b x s (1 - s)
 *   y'' = b s (1 - s) (2 + b x (1 - 2 s))          (s = sigmoid(b x)) */
#include "tg_test.h"

#define BETA 1.5

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }
static double d1(double x) {
  double s = sig(BETA * x);
  return s + BETA * x * s * (1 - s);
}
static double d2(double x) {
  double s = sig(BETA * x);
  return BETA * s * (1 - s) * (2 + BETA * x * (1 - 2 * s));
}

/* the forward of both variants: y and s with no history */
static tg_tensor *forward_nograd(tg_tensor *x, tg_tensor **s_out) {
  tg_no_grad_begin();
  tg_tensor *s = tg_sigmoid(tg_mul_scalar(x, BETA));
  tg_tensor *y = tg_mul(x, s);
  tg_no_grad_end();
  if (s_out) *s_out = s;
  return y;
}

/* recomputes s from n->in[0]: differentiable in a create_graph backward */
static void swish_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *s = tg_sigmoid(tg_mul_scalar(x, tg_node_f(n)[0]));
  gi[0] = tg_mul(g, tg_add(s, tg_mul_scalar(tg_mul(x, tg_mul(s, tg_rsub_scalar(s, 1.0))), tg_node_f(n)[0])));
}
TG_DEFINE_OP(OP_SWISH, "SwishBackward", swish_backward, TG_SAVES_IN(0) | TG_NODE_F);

/* reads the s the forward saved: a constant to a create_graph backward */
static void swish_saved_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *s = tg_node_saved(n);
  gi[0] = tg_mul(g, tg_add(s, tg_mul_scalar(tg_mul(x, tg_mul(s, tg_rsub_scalar(s, 1.0))), BETA)));
}
TG_DEFINE_OP(OP_SWISH_SAVED, "SwishSavedBackward", swish_saved_backward, TG_SAVES_IN(0) | TG_NODE_SAVED);
/* the same, declaring the (wrong) claim that s is a constant */
TG_DEFINE_OP(OP_SWISH_CONST, "SwishConstBackward", swish_saved_backward,
             TG_SAVES_IN(0) | TG_NODE_SAVED | TG_SAVED_CONST);

static tg_tensor *swish(tg_tensor *x) {
  tg_node *n;
  tg_tensor *y = forward_nograd(x, NULL);
  if (!y || tg_record_op(y, &OP_SWISH, 1, &x, &n) != 0) return NULL;
  if (n) tg_node_f(n)[0] = BETA;
  return y;
}
static tg_tensor *swish_saving(tg_tensor *x, const tg_op *op) {
  tg_node *n;
  tg_tensor *s, *y = forward_nograd(x, &s);
  if (!y || tg_record_op(y, op, 1, &x, &n) != 0) return NULL;
  if (n && tg_node_save(n, s) != 0) return NULL;
  return y;
}
static tg_tensor *swish_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return swish(in[0]);
}
static tg_tensor *swish_const_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return swish_saving(in[0], &OP_SWISH_CONST);
}

static tg_tensor *leaf(void) {
  return tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (const double[]){-1.5, -0.3, 0.4, 2.0}), true);
}

/* d/dx and d2/dx2 of sum(f(x)), elementwise */
static void derivatives(tg_fn f, tg_tensor *x, double *g1, double *g2) {
  tg_tensor *g = NULL, *gg = NULL;
  assert_int_equal(tg_grad(1, (tg_tensor *[]){tg_sum(f(&x, NULL))}, NULL, 1, &x, &g,
                           (tg_grad_opts){.create_graph = true}),
                   0);
  assert_int_equal(tg_grad(1, &g, (tg_tensor *[]){tg_ones_like(g)}, 1, &x, &gg, (tg_grad_opts){0}), 0);
  for (size_t i = 0; i < 4; i++) {
    g1[i] = tg_get_flat(g, i);
    g2[i] = tg_get_flat(gg, i);
  }
}

static void test_recomputing_backward_is_twice_differentiable(void **state) {
  (void)state;
  tg_tensor *x = leaf();
  double g1[4], g2[4];
  derivatives(swish_fn, x, g1, g2);
  for (size_t i = 0; i < 4; i++) {
    assert_close(g1[i], d1(tg_get_flat(x, i)), 1e-12);
    assert_close(g2[i], d2(tg_get_flat(x, i)), 1e-12);
  }
  assert_gradcheck(swish_fn, 1, &x, NULL);
  assert_gradgradcheck(swish_fn, 1, &x, NULL);
}

/* the trap itself: first derivatives right, second ones silently wrong */
static void test_saved_derived_tensor_breaks_double_backward(void **state) {
  (void)state;
  tg_tensor *x = leaf();
  double g1[4], g2[4];
  derivatives(swish_const_fn, x, g1, g2);
  double worst = 0;
  for (size_t i = 0; i < 4; i++) {
    assert_close(g1[i], d1(tg_get_flat(x, i)), 1e-12);
    worst = fmax(worst, fabs(g2[i] - d2(tg_get_flat(x, i))));
  }
  assert_true(worst > 0.1);
  tg_gradcheck_result r = tg_gradgradcheck(swish_const_fn, 1, &x, NULL, (tg_gradcheck_opts){.quiet = true});
  assert_false(r.ok);
  tg_clear_error();
}

/* ... which tg_node_save refuses unless the op says TG_SAVED_CONST */
static void test_node_save_refuses_derived_tensor(void **state) {
  (void)state;
  tg_tensor *x = leaf();
  assert_null(swish_saving(x, &OP_SWISH_SAVED));
  assert_non_null(strstr(tg_last_error(), "node_save: SwishSavedBackward saves a float tensor without history"));
  tg_clear_error();
  /* inputs, outputs and tensors with history are fine; so are indices */
  tg_tensor *y = tg_mul(x, x);
  tg_node *n;
  assert_int_equal(tg_record_op(tg_empty(TG_FLOAT64, TG_SHAPE(4)), &OP_SWISH_SAVED, 1, &x, &n), 0);
  assert_non_null(n);
  assert_int_equal(tg_node_save(n, x), 0);
  assert_int_equal(tg_node_save(n, y), 0);
  assert_ptr_equal(tg_node_saved(n), y);
  assert_int_equal(tg_node_save(n, tg_from_i64(TG_SHAPE(1), (const int64_t[]){2})), 0);
  assert_int_equal(tg_node_save(n, tg_detach(y)), -1);
  assert_int_equal(tg_node_save(n, NULL), 0);
  assert_null(tg_node_saved(n));
  tg_clear_error();
}

/* the no_grad trap: `if (tg_record_op(...)) return NULL;` still returns y */
static void test_record_op_under_no_grad(void **state) {
  (void)state;
  tg_tensor *x = leaf();
  tg_no_grad_begin();
  tg_tensor *y = swish(x);
  tg_no_grad_end();
  assert_non_null(y);
  assert_null(y->grad_fn);
  assert_close(tg_get_flat(y, 3), 2.0 * sig(BETA * 2.0), 1e-15);
  /* no input requires grad: nothing recorded, not an error */
  tg_tensor *c = tg_from_f64(TG_SHAPE(1), (const double[]){1});
  tg_node *n = (tg_node *)1;
  assert_int_equal(tg_record_op(tg_zeros_like(c), &OP_SWISH, 1, &c, &n), 0);
  assert_null(n);
  assert_false(tg_has_error());
}

static void test_record_op_errors(void **state) {
  (void)state;
  tg_tensor *x = leaf(), *y = tg_mul(x, x);
  tg_node *n;
  assert_int_equal(tg_record_op(y, &OP_SWISH, 1, &x, &n), -1);
  assert_non_null(strstr(tg_last_error(), "already has a grad_fn (MulBackward)"));
  assert_null(n);
  assert_int_equal(tg_record_op(tg_zeros(TG_INT64, TG_SHAPE(4)), &OP_SWISH, 1, &x, &n), -1);
  assert_non_null(strstr(tg_last_error(), "SwishBackward: the result is int64"));
  assert_int_equal(tg_record_op(tg_zeros_like(x), &OP_SWISH, -1, &x, &n), -1);
  assert_non_null(strstr(tg_last_error(), "n_in < 0"));
  static const tg_op nameless = {NULL, swish_backward, 0, NULL};
  assert_int_equal(tg_record_op(tg_zeros_like(x), &nameless, 1, &x, &n), -1);
  assert_non_null(strstr(tg_last_error(), "no name or backward"));
  tg_clear_error();
}

/* tg_error is exported for user code; tg_verror is its va_list form */
static void wrapped_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tg_verror(fmt, ap);
  va_end(ap);
}
static void test_error_exported(void **state) {
  (void)state;
  tg_error("myop: %d is %s", 3, "odd");
  assert_string_equal(tg_last_error(), "myop: 3 is odd");
  wrapped_error("myop: %.1f", 2.5);
  assert_string_equal(tg_last_error(), "myop: 2.5");
  tg_clear_error();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_recomputing_backward_is_twice_differentiable),
      TG_TEST(test_saved_derived_tensor_breaks_double_backward),
      TG_TEST(test_node_save_refuses_derived_tensor),
      TG_TEST(test_record_op_under_no_grad),
      TG_TEST(test_record_op_errors),
      TG_TEST(test_error_exported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
