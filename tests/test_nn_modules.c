/* The module API beyond one tensor in, one out (nn/module.c): modules whose
 * forward takes and returns several tensors, called through either entry
 * point, with NULL inputs standing for documented defaults. */
#include "tg_internal.h" /* tg_error, for a custom module's own message */
#include "tg_test.h"

/* (x, h) -> (x + h, x * h); h NULL means zeros, as a cell's initial state */
static int add_mul_forward(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out) {
  if (n_in < 1 || n_in > 2 || max_out < 2) {
    tg_error("%s: takes (x, h) and gives two outputs", m->type);
    return -1;
  }
  tg_tensor *x = in[0], *h = n_in > 1 && in[1] ? in[1] : tg_zeros_like(in[0]);
  out[0] = tg_add(x, h);
  out[1] = tg_mul(x, h);
  return out[0] && out[1] ? 2 : -1;
}

static tg_tensor *double_forward(tg_module *m, tg_tensor *x) {
  (void)m;
  return tg_mul_scalar(x, 2.0);
}

static void test_multi_forward_both_calls(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 3);
  tg_tensor *x = test_leaf(&r, 2, (size_t[]){2, 3}), *h = test_leaf(&r, 2, (size_t[]){2, 3});
  tg_module *m = tg_module_new_multi("AddMul", add_mul_forward);
  assert_non_null(m);
  assert_null(m->forward);
  tg_tensor *out[2] = {0};
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, h}, 2, out, 2), 2);
  test_assert_identical(out[0], tg_add(x, h));
  test_assert_identical(out[1], tg_mul(x, h));
  /* gradients flow through both outputs */
  assert_int_equal(tg_backward(tg_add(tg_sum(out[0]), tg_sum(out[1])), NULL, false), 0);
  assert_close(tg_item(tg_sum(x->grad)), tg_item(tg_sum(tg_add_scalar(h, 1.0))), 1e-12);
  /* a NULL input is the module's default (zeros): x + 0 */
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, NULL}, 2, out, 2), 2);
  test_assert_identical(out[0], x);
  /* tg_module_forward passes {x} and keeps the first output */
  test_assert_identical(tg_module_forward(m, x), x);
  /* the module's own error reaches the caller */
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, h}, 2, out, 1), -1);
  test_expect_error("AddMul", "two outputs");
  tg_module_free(m);
}

static void test_single_module_through_multi(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 4);
  tg_tensor *x = test_leaf(&r, 1, (size_t[]){5});
  tg_module *m = tg_module_new("Double", double_forward);
  tg_tensor *out[1] = {0};
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x}, 1, out, 1), 1);
  test_assert_identical(out[0], tg_mul_scalar(x, 2.0));
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, x}, 2, out, 1), -1);
  test_expect_error("Double", "takes one input, got 2");
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x}, 1, out, 0), -1);
  test_expect_error("max_out 0", NULL);
  tg_module *box = tg_module_new("Box", NULL);
  assert_int_equal(tg_module_forward_multi(box, (tg_tensor *[]){x}, 1, out, 1), -1);
  test_expect_error("Box", "no forward function");
  tg_module_free(box);
  tg_module_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_multi_forward_both_calls),
      TG_TEST(test_single_module_through_multi),
  };
  int rc = cmocka_run_group_tests_name("nn_modules", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
