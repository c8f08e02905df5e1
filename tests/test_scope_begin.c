/* tg_scope_begin's error return (tensor/memory.c): at the depth limit of
 * 2^20 open scopes (README "Memory: scopes") it returns -1 with an error
 * naming it and opens nothing, so the caller's scopes stay as they were. */
#include "tg_test.h"

#define MAX_DEPTH (1 << 20) /* the documented limit */

static void test_scope_begin_at_the_limit(void **state) {
  (void)state;
  int start = tg_scope_depth(); /* test_setup opened one */
  assert_int_equal(start, 1);
  int opened = 0;
  while (opened <= MAX_DEPTH && tg_scope_begin() == 0) opened++;
  assert_int_equal(opened, MAX_DEPTH - start);
  assert_int_equal(tg_scope_depth(), MAX_DEPTH);
  assert_non_null(strstr(tg_last_error(), "scope_begin"));
  /* the failed call opened nothing: a tensor made now is in the deepest
   * scope and goes with it */
  tg_clear_error();
  tg_tensor *t = tg_scalar(TG_FLOAT32, 1);
  assert_non_null(t);
  assert_int_equal(t->obj.scope, MAX_DEPTH);
  size_t live = tg_memory_get_stats().live_objects;
  assert_int_equal(tg_scope_end(), 0);
  assert_int_equal(tg_memory_get_stats().live_objects, live - 1);
  /* and below the limit it opens again */
  assert_int_equal(tg_scope_begin(), 0);
  assert_int_equal(tg_scope_depth(), MAX_DEPTH);
  while (tg_scope_depth() > start) assert_int_equal(tg_scope_end(), 0);
  assert_false(tg_has_error());
}

static tg_tensor *square_sum(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_sum(tg_mul(in[0], in[0]));
}

/* The library's own scopes at the limit: each call fails with the error
 * instead of going on without its scope (and then ending the caller's) */
static void test_library_scopes_at_the_limit(void **state) {
  (void)state;
  int start = tg_scope_depth();
  const double v[3] = {1, 2, 3};
  tg_tensor *x = tg_requires_grad_(tg_from_f64(1, (const size_t[]){3}, v), true);
  assert_non_null(x);
  tg_keep(x); /* out of test_setup's scope: persistent */
  assert_int_equal(x->obj.scope, 0);
  while (tg_scope_depth() < MAX_DEPTH) assert_int_equal(tg_scope_begin(), 0);
  tg_clear_error();

  tg_gradcheck_result r = tg_gradcheck(square_sum, 1, &x, NULL, (tg_gradcheck_opts){.quiet = true});
  assert_false(r.ok);
  assert_non_null(strstr(r.message, "scope_begin"));
  assert_int_equal(tg_scope_depth(), MAX_DEPTH);
  r = tg_gradgradcheck(square_sum, 1, &x, NULL, (tg_gradcheck_opts){.quiet = true});
  assert_false(r.ok);
  assert_int_equal(tg_scope_depth(), MAX_DEPTH);
  tg_tensor *jac = NULL, *hess = NULL;
  assert_int_equal(tg_jacobians(square_sum, NULL, &x, 1, &jac, (tg_jacobian_opts){0}), -1);
  assert_null(jac);
  assert_int_equal(tg_scope_depth(), MAX_DEPTH);
  assert_int_equal(tg_hessian(square_sum, NULL, &x, 1, &hess), -1);
  assert_null(hess);
  assert_int_equal(tg_scope_depth(), MAX_DEPTH);
  tg_clear_error();
  assert_null(tg_activation_checkpoint(square_sum, NULL, &x, 1));
  assert_non_null(strstr(tg_last_error(), "scope_begin"));
  assert_int_equal(tg_scope_depth(), MAX_DEPTH);
  tg_clear_error();

  while (tg_scope_depth() > start) assert_int_equal(tg_scope_end(), 0);
  /* one scope free again: the same calls work */
  r = tg_gradcheck(square_sum, 1, &x, NULL, (tg_gradcheck_opts){.quiet = true});
  assert_true(r.ok);
  tg_free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_scope_begin_at_the_limit),
      TG_TEST(test_library_scopes_at_the_limit),
  };
  int rc = cmocka_run_group_tests_name("scope_begin", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
