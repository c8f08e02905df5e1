/* The lecture's first graph, by hand: L = (x + y) * z. */
#include "tg_test.h"

static void test_chain_rule_gradients(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT32, -2), true);
  tg_tensor *y = tg_requires_grad_(tg_scalar(TG_FLOAT32, 5), true);
  tg_tensor *z = tg_requires_grad_(tg_scalar(TG_FLOAT32, -4), true);
  tg_tensor *L = tg_mul(tg_add(x, y), z);
  assert_non_null(L);
  assert_close(tg_item(L), -12.0, 0);
  assert_int_equal(tg_backward(L, NULL, false), 0);
  assert_close(tg_item(x->grad), -4.0, 0); /* dL/dx = z */
  assert_close(tg_item(y->grad), -4.0, 0); /* dL/dy = z */
  assert_close(tg_item(z->grad), 3.0, 0);  /* dL/dz = x + y */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_chain_rule_gradients),
  };
  int rc = cmocka_run_group_tests_name("core", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
