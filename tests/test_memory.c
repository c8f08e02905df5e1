/* Memory: scopes own what is made inside them, tg_keep moves a tensor (and
 * its graph) out, persistent tensors are freed by hand, and a steady
 * training loop runs from the block pool without calling the system
 * allocator again. Each test runs inside one scope (TG_TEST). */
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>

#include "tg_test.h"

static size_t live(void) { return tg_memory_get_stats().live_objects; }
static size_t mallocs(void) { return tg_memory_get_stats().mallocs; }

static void test_scope_frees_everything(void **state) {
  (void)state;
  size_t base = live();
  int depth = tg_scope_depth();
  tg_scope_begin();
  assert_int_equal(tg_scope_depth(), depth + 1);
  tg_rng r;
  tg_rng_seed(&r, 3);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(4, 5));
  tg_tensor *w = test_leaf(&r, TG_SHAPE(5, 2));
  tg_tensor *y = tg_sum(tg_exp(tg_transpose(tg_matmul(x, w), 0, 1)));
  assert_non_null(y);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_non_null(x->grad);
  /* tensors, their grads and graph nodes are all counted */
  assert_true(live() >= base + 10);
  assert_int_equal(tg_scope_end(), 0);
  assert_int_equal(tg_scope_depth(), depth);
  assert_int_equal(live(), base);
  /* the blocks went back to the pool, not to the system */
  assert_true(tg_memory_get_stats().bytes_cached > 0);
}

static void test_nested_scopes(void **state) {
  (void)state;
  size_t base = live();
  tg_scope_begin();
  tg_tensor *outer = tg_full(TG_FLOAT32, TG_SHAPE(3), 2);
  size_t after_outer = live();
  assert_int_equal(after_outer, base + 1);
  tg_scope_begin();
  tg_tensor *inner = tg_mul(outer, tg_full(TG_FLOAT32, TG_SHAPE(3), 3));
  assert_non_null(inner);
  assert_int_equal(inner->obj.scope, tg_scope_depth());
  assert_int_equal(outer->obj.scope, tg_scope_depth() - 1);
  tg_scope_begin();
  tg_tensor *innermost = tg_add(inner, outer);
  assert_close(tg_get_flat(innermost, 0), 8, 0);
  tg_scope_end();
  assert_false(tg_tensor_check(innermost, "test", 1));
  assert_true(tg_tensor_check(inner, "test", 1));
  tg_scope_end();
  tg_clear_error();
  /* the inner scope's tensors are gone, the outer one is not */
  assert_int_equal(live(), after_outer);
  assert_false(tg_tensor_check(inner, "test", 1));
  assert_true(tg_tensor_check(outer, "test", 1));
  assert_close(tg_get_flat(outer, 2), 2, 0);
  tg_scope_end();
  assert_int_equal(live(), base);
  tg_clear_error();
}

static void test_keep_moves_out_of_scope(void **state) {
  (void)state;
  size_t base = live();
  int depth = tg_scope_depth();
  tg_scope_begin(); /* depth + 1 */
  tg_scope_begin(); /* depth + 2 */
  tg_tensor *gone = tg_ones(TG_FLOAT64, TG_SHAPE(2));
  tg_tensor *t = tg_mul_scalar(tg_arange(TG_FLOAT64, 0, 4, 1), 2.0);
  assert_ptr_equal(tg_keep(t), t);
  assert_int_equal(t->obj.scope, depth + 1);
  /* keeping a tensor that is already outside the current scope is a no-op */
  assert_ptr_equal(tg_keep(t), t);
  assert_int_equal(t->obj.scope, depth + 1);
  tg_scope_end();
  assert_int_equal(live(), base + 1);
  assert_false(tg_tensor_check(gone, "test", 1));
  tg_clear_error();
  /* t is usable after its scope of birth ended */
  assert_true(tg_tensor_check(t, "test", 1));
  tg_tensor *u = tg_add_scalar(t, 1.0);
  assert_non_null(u);
  for (size_t i = 0; i < 4; i++) assert_close(tg_get_flat(u, i), 2.0 * (double)i + 1, 0);
  /* and freed by the enclosing scope */
  tg_scope_end();
  assert_int_equal(live(), base);
  assert_false(tg_tensor_check(t, "test", 1));
  tg_clear_error();
}

static void test_keep_persistent_then_free(void **state) {
  (void)state;
  size_t base = live();
  assert_int_equal(tg_scope_depth(), 1);
  tg_tensor *p = tg_keep(tg_full(TG_FLOAT32, TG_SHAPE(2, 2), 4));
  assert_non_null(p);
  assert_int_equal(p->obj.scope, 0); /* persistent */
  /* survives every scope, including the one it was made in */
  tg_scope_end();
  assert_int_equal(tg_scope_depth(), 0);
  tg_scope_begin();
  assert_true(tg_tensor_check(p, "test", 1));
  assert_close(tg_item(tg_sum(p)), 16, 0);
  tg_scope_end();
  tg_scope_begin();
  assert_int_equal(live(), base + 1);
  tg_free(p);
  assert_false(tg_has_error());
  assert_int_equal(live(), base);
  assert_false(tg_tensor_check(p, "test", 1));
  tg_clear_error();
}

static void test_keep_view_outlives_base(void **state) {
  (void)state;
  tg_scope_begin();
  tg_tensor *base = tg_reshape(tg_arange(TG_FLOAT64, 0, 6, 1), TG_SHAPE(2, 3));
  tg_tensor *v = tg_keep(tg_transpose(base, 0, 1));
  assert_int_equal(v->storage->refs, 3); /* arange, reshape, transpose */
  tg_scope_end();
  /* the storage lives as long as a view of it */
  assert_int_equal(v->storage->refs, 1);
  tg_tensor *noise = tg_full(TG_FLOAT64, TG_SHAPE(2, 3), -1); /* may reuse freed blocks */
  assert_non_null(noise);
  const double want[6] = {0, 3, 1, 4, 2, 5};
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(v, i), want[i], 0);
}

static void test_keep_with_history(void **state) {
  (void)state;
  size_t base = live();
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){1, -2, 0.5}), true);
  tg_scope_begin();
  /* a leaf of the inner scope and intermediates that only the graph holds */
  tg_tensor *c = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(3), 3), true);
  tg_tensor *y = tg_sum(tg_mul(tg_mul(x, x), c)); /* sum(3 x^2) */
  tg_tensor *unrelated = tg_exp(x);
  assert_ptr_equal(tg_keep(y), y);
  assert_int_equal(c->obj.scope, y->obj.scope); /* the leaf moved with the graph */
  tg_scope_end();
  tg_clear_error();
  assert_false(tg_tensor_check(unrelated, "test", 1));
  tg_clear_error();
  assert_true(tg_tensor_check(c, "test", 1));
  assert_string_equal(tg_grad_fn_name(y), "SumBackward");
  /* x, y, c, x*x, (x*x)*c and three nodes */
  assert_int_equal(live(), base + 8);
  assert_close(tg_item(y), 3 * (1 + 4 + 0.25), 1e-12);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  const double xs[3] = {1, -2, 0.5};
  for (size_t i = 0; i < 3; i++) {
    assert_close(tg_get_flat(x->grad, i), 6 * xs[i], 1e-12);  /* d/dx 3x^2 */
    assert_close(tg_get_flat(c->grad, i), xs[i] * xs[i], 1e-12); /* d/dc c x^2 */
  }
}

/* y = sum(tanh(x @ W + b)): dy/dz = 1 - tanh(z)^2, dW = x^T dz, db = colsum dz */
static void expected_grads(const double *x, const double *W, const double *b, double *dW,
                           double *db) {
  memset(dW, 0, 12 * sizeof *dW);
  memset(db, 0, 3 * sizeof *db);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 3; j++) {
      double z = b[j];
      for (int k = 0; k < 4; k++) z += x[i * 4 + k] * W[k * 3 + j];
      double dz = 1 - tanh(z) * tanh(z);
      db[j] += dz;
      for (int k = 0; k < 4; k++) dW[k * 3 + j] += x[i * 4 + k] * dz;
    }
}

static tg_tensor *model_loss(tg_tensor *x, tg_tensor *W, tg_tensor *b) {
  return tg_sum(tg_tanh(tg_add(tg_matmul(x, W), b)));
}

static void test_training_loop_allocates_nothing_new(void **state) {
  (void)state;
  size_t base = live();
  tg_rng r;
  tg_rng_seed(&r, 11);
  tg_tensor *W = tg_keep(test_leaf(&r, TG_SHAPE(4, 3)));
  tg_tensor *b = tg_keep(test_leaf(&r, TG_SHAPE(3)));
  assert_int_equal(W->obj.scope, 0);
  assert_int_equal(b->obj.scope, 0);
  size_t after_first = 0, reserved = 0;
  tg_tensor *gW = NULL, *gb = NULL;
  for (int it = 0; it <= 100; it++) {
    tg_scope_begin();
    tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(5, 4));
    tg_tensor *y = model_loss(x, W, b);
    assert_non_null(y);
    assert_int_equal(tg_backward(y, NULL, false), 0);
    tg_scope_end();
    assert_int_equal(live(), base + 4); /* W, b and their grads */
    if (it == 0) {
      after_first = mallocs();
      reserved = tg_memory_get_stats().bytes_reserved;
      gW = W->grad;
      gb = b->grad;
      assert_non_null(gW);
      assert_non_null(gb);
      assert_int_equal(gW->obj.scope, 0);
    } else {
      if (mallocs() != after_first)
        fail_msg("iteration %d: %zu calls to the system allocator, %zu after the first iteration", it,
                 mallocs(), after_first);
      assert_int_equal(tg_memory_get_stats().bytes_reserved, reserved);
      assert_ptr_equal(W->grad, gW);
      assert_ptr_equal(b->grad, gb);
    }
  }
  tg_free(W);
  tg_free(b);
  assert_false(tg_has_error());
  assert_int_equal(live(), base);
}

static void test_grad_allocated_once_and_accumulates(void **state) {
  (void)state;
  size_t base = live();
  tg_rng r;
  tg_rng_seed(&r, 12);
  tg_tensor *W = tg_keep(test_leaf(&r, TG_SHAPE(4, 3)));
  tg_tensor *b = tg_keep(test_leaf(&r, TG_SHAPE(3)));
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(5, 4));
  double xv[20], Wv[12], bv[3], dW[12], db[3];
  tg_to_f64_array(x, xv);
  tg_to_f64_array(W, Wv);
  tg_to_f64_array(b, bv);
  expected_grads(xv, Wv, bv, dW, db);

  tg_tensor *gW = NULL;
  for (int k = 1; k <= 2; k++) {
    tg_scope_begin();
    assert_int_equal(tg_backward(model_loss(x, W, b), NULL, false), 0);
    tg_scope_end();
    if (k == 1) gW = W->grad;
    assert_ptr_equal(W->grad, gW);
    /* += across calls: k times the gradient of one */
    for (int i = 0; i < 12; i++) assert_close(tg_get_flat(W->grad, (size_t)i), k * dW[i], 1e-12);
    for (int i = 0; i < 3; i++) assert_close(tg_get_flat(b->grad, (size_t)i), k * db[i], 1e-12);
  }
  /* zero_grad keeps the buffer */
  assert_int_equal(tg_zero_grad(W), 0);
  assert_int_equal(tg_zero_grad(b), 0);
  assert_ptr_equal(W->grad, gW);
  for (int i = 0; i < 12; i++) assert_close(tg_get_flat(W->grad, (size_t)i), 0, 0);
  tg_scope_begin();
  assert_int_equal(tg_backward(model_loss(x, W, b), NULL, false), 0);
  tg_scope_end();
  for (int i = 0; i < 12; i++) assert_close(tg_get_flat(W->grad, (size_t)i), dW[i], 1e-12);
  tg_free(W);
  tg_free(b);
  assert_int_equal(live(), base + 1); /* x, freed by the test's scope */
}

static void test_use_after_scope_end(void **state) {
  (void)state;
  tg_tensor *ok = tg_ones(TG_FLOAT32, TG_SHAPE(2));
  tg_scope_begin();
  tg_tensor *t = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(2)), true);
  tg_tensor *y = tg_sum(tg_mul(t, ok));
  tg_scope_end();
  tg_clear_error();

  assert_null(tg_add(ok, t));
  assert_non_null(strstr(tg_last_error(), "add"));
  assert_non_null(strstr(tg_last_error(), "argument 2"));
  assert_non_null(strstr(tg_last_error(), "scope"));
  tg_clear_error();
  assert_null(tg_exp(y));
  assert_non_null(strstr(tg_last_error(), "exp"));
  assert_non_null(strstr(tg_last_error(), "scope"));
  tg_clear_error();
  assert_true(isnan(tg_item(y)));
  assert_non_null(strstr(tg_last_error(), "scope"));
  tg_clear_error();
  assert_int_equal(tg_backward(y, NULL, false), -1);
  assert_non_null(strstr(tg_last_error(), "backward"));
  assert_non_null(strstr(tg_last_error(), "scope"));
  tg_clear_error();
  assert_null(tg_keep(t));
  assert_non_null(strstr(tg_last_error(), "scope"));
  tg_clear_error();
  assert_null(tg_grad_fn_name(y));
  char buf[64];
  tg_format(t, buf, sizeof buf);
  assert_non_null(strstr(buf, "scope"));

  /* the program goes on */
  tg_tensor *z = tg_add(ok, ok);
  assert_non_null(z);
  assert_close(tg_get_flat(z, 1), 2, 0);
  tg_clear_error();
}

static void test_free_errors(void **state) {
  (void)state;
  tg_tensor *t = tg_full(TG_FLOAT32, TG_SHAPE(2), 5);
  size_t n = live();
  tg_clear_error();
  tg_free(t); /* scoped: the scope frees it */
  assert_true(tg_has_error());
  assert_non_null(strstr(tg_last_error(), "free"));
  assert_non_null(strstr(tg_last_error(), "scope"));
  assert_int_equal(live(), n);
  assert_true(tg_tensor_check(t, "test", 1));
  assert_close(tg_get_flat(t, 1), 5, 0);
  tg_clear_error();

  tg_free(NULL); /* like free(NULL) */
  assert_false(tg_has_error());

  tg_tensor *p = tg_keep(tg_ones(TG_FLOAT32, TG_SHAPE(2)));
  tg_free(p);
  assert_false(tg_has_error());
  tg_free(p); /* a second free is reported, not a double free */
  assert_true(tg_has_error());
  assert_non_null(strstr(tg_last_error(), "already freed"));
  assert_int_equal(live(), n);
  tg_clear_error();
}

static void test_free_persistent_with_grads(void **state) {
  (void)state;
  size_t base = live();
  tg_rng r;
  tg_rng_seed(&r, 5);
  tg_tensor *W = tg_keep(test_leaf(&r, TG_SHAPE(3, 3)));
  tg_tensor *v = tg_keep(test_leaf(&r, TG_SHAPE(3)));
  tg_scope_begin();
  tg_tensor *y = tg_sum(tg_sigmoid(tg_matmul(W, v)));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  tg_scope_end();
  assert_non_null(W->grad);
  assert_non_null(v->grad);
  assert_int_equal(W->grad->obj.scope, 0);
  assert_int_equal(live(), base + 4);
  tg_free(W);
  tg_free(v);
  assert_false(tg_has_error());
  assert_int_equal(live(), base);
}

static void test_release_cached(void **state) {
  (void)state;
  tg_scope_begin();
  for (int i = 0; i < 10; i++) assert_non_null(tg_zeros(TG_FLOAT64, TG_SHAPE(64, (size_t)(i + 1))));
  tg_scope_end();
  tg_memory_stats before = tg_memory_get_stats();
  assert_true(before.bytes_cached > 0);
  tg_release_cached();
  tg_memory_stats after = tg_memory_get_stats();
  /* what stays cached are free blocks of slabs that still hold a live
   * (persistent) object of an earlier test */
  assert_true(after.bytes_cached < before.bytes_cached);
  assert_true(after.frees > before.frees);
  assert_true(after.bytes_reserved + (before.bytes_cached - after.bytes_cached) <= before.bytes_reserved);
  assert_int_equal(after.live_objects, before.live_objects);
  /* allocating again goes back to the system (a 4 KB storage is its own
   * block, not a slab's), and works */
  tg_tensor *t = tg_ones(TG_FLOAT32, TG_SHAPE(1000));
  assert_non_null(t);
  assert_true(tg_memory_get_stats().mallocs > after.mallocs);
  assert_close(tg_item(tg_sum(t)), 1000, 0);

  /* with no scope open and nothing alive, everything goes back to the
   * system: every block obtained was returned (this also checks that no
   * earlier test left a persistent object behind) */
  while (tg_scope_depth() > 0) tg_scope_end();
  assert_int_equal(live(), 0);
  tg_release_cached();
  tg_memory_stats all = tg_memory_get_stats();
  assert_int_equal(all.bytes_reserved, 0);
  assert_int_equal(all.bytes_cached, 0);
  assert_int_equal(all.mallocs, all.frees);
  tg_release_cached(); /* again, with nothing left at all */
  assert_int_equal(tg_memory_get_stats().frees, all.frees);
  /* and the library starts over from nothing */
  tg_scope_begin();
  tg_tensor *u = tg_full(TG_FLOAT64, TG_SHAPE(3), 1.5);
  assert_close(tg_item(tg_sum(u)), 4.5, 0);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Running out of memory is an error, not a crash: a 16 TiB tensor cannot be
 * had, and the process goes on. (Under ASan this needs
 * allocator_may_return_null=1, which scripts/test.sh sets.) */
static void test_out_of_memory_is_an_error(void **state) {
  (void)state;
  tg_memory_stats before = tg_memory_get_stats();
  tg_tensor *t = tg_zeros(TG_FLOAT32, TG_SHAPE((size_t)1 << 42));
  assert_null(t);
  assert_non_null(strstr(tg_last_error(), "out of memory"));
  assert_int_equal(tg_memory_get_stats().live_objects, before.live_objects);
  tg_clear_error();
  assert_non_null(tg_ones(TG_FLOAT32, TG_SHAPE(4))); /* and the library still works */
}

/* Sizes far beyond memory never come back as a small cached block: a request
 * whose size shares its low bits with a small class (2^42 + 160 bytes of
 * storage vs the 160-byte class of a 0-d tensor) must still fail, and one
 * whose byte count would wrap size_t is refused up front. */
static void test_huge_sizes_never_get_small_blocks(void **state) {
  (void)state;
  tg_scope_begin();
  for (int i = 0; i < 4; i++) assert_non_null(tg_scalar(TG_FLOAT32, i)); /* fill the small classes */
  tg_scope_end();
  tg_clear_error();
  assert_null(tg_empty(TG_FLOAT32, TG_SHAPE(((size_t)1 << 40) + 32)));
  assert_non_null(strstr(tg_last_error(), "out of memory"));
  tg_clear_error();
  assert_null(tg_empty(TG_FLOAT64, TG_SHAPE(((size_t)1 << 61) - 1)));
  assert_non_null(strstr(tg_last_error(), "too large"));
  tg_clear_error();
  assert_null(tg_zeros(TG_FLOAT32, TG_SHAPE((size_t)1 << 30, (size_t)1 << 30)));
  assert_non_null(strstr(tg_last_error(), "too large"));
  tg_clear_error();
}

/* The same under a lowered address-space limit (setrlimit in a child): a
 * training-sized loop hits the limit and stops with an error message.
 * Sanitizers reserve terabytes of address space, so this runs only in the
 * plain build (scripts/test.sh runs it from build-clang). */
static void test_rlimit_child(void **state) {
  (void)state;
  if (UNDER_ASAN) skip();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit lim = {256u << 20, 256u << 20};
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(3);
    for (int i = 0; i < 64; i++) { /* 64 x 16 MiB persistent tensors > 256 MiB */
      if (!tg_zeros(TG_FLOAT32, TG_SHAPE(4u << 20)))
        _exit(strstr(tg_last_error(), "out of memory") ? 0 : 4);
    }
    _exit(5); /* the limit was never hit */
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_out_of_memory_is_an_error),
      TG_TEST(test_huge_sizes_never_get_small_blocks),
      TG_TEST(test_rlimit_child),
      TG_TEST(test_scope_frees_everything),
      TG_TEST(test_nested_scopes),
      TG_TEST(test_keep_moves_out_of_scope),
      TG_TEST(test_keep_persistent_then_free),
      TG_TEST(test_keep_view_outlives_base),
      TG_TEST(test_keep_with_history),
      TG_TEST(test_training_loop_allocates_nothing_new),
      TG_TEST(test_grad_allocated_once_and_accumulates),
      TG_TEST(test_use_after_scope_end),
      TG_TEST(test_free_errors),
      TG_TEST(test_free_persistent_with_grads),
      TG_TEST(test_release_cached),
  };
  int rc = cmocka_run_group_tests_name("memory", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
