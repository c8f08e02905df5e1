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

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_scope_begin_at_the_limit),
  };
  int rc = cmocka_run_group_tests_name("scope_begin", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
