/* Helpers shared by the cmocka tests. */
#ifndef TG_TEST_H
#define TG_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tapegrad.h"

/* assert |a - b| <= tol, printing both */
#define assert_close(a, b, tol)                                                \
  do {                                                                         \
    double a_ = (a), b_ = (b);                                                 \
    if (!(fabs(a_ - b_) <= (tol))) fail_msg("%s = %.12g, expected %.12g (tol %g)", #a, a_, b_, (double)(tol)); \
  } while (0)

/* run tg_gradcheck and fail with its report */
#define assert_gradcheck(f, n, inputs, ctx)                                    \
  do {                                                                         \
    tg_gradcheck_result r_ = tg_gradcheck((f), (n), (inputs), (ctx), (tg_gradcheck_opts){.quiet = true}); \
    if (!r_.ok) fail_msg("%s", r_.message);                                   \
  } while (0)

#define assert_gradgradcheck(f, n, inputs, ctx)                                \
  do {                                                                         \
    tg_gradcheck_result r_ = tg_gradgradcheck((f), (n), (inputs), (ctx), (tg_gradcheck_opts){.quiet = true}); \
    if (!r_.ok) fail_msg("%s", r_.message);                                   \
  } while (0)

/* a uniform integer in [lo, hi] */
static inline size_t rand_int(tg_rng *r, size_t lo, size_t hi) {
  size_t v = lo + (size_t)(tg_rng_uniform(r) * (double)(hi - lo + 1));
  return v > hi ? hi : v;
}

/* r is NULL and the error names frag; clears it */
static inline void assert_fails(const void *r, const char *frag) {
  assert_null(r);
  if (!strstr(tg_last_error(), frag)) fail_msg("error \"%s\" lacks \"%s\"", tg_last_error(), frag);
  tg_clear_error();
}

/* float64 leaf with N(0,1) entries that requires grad, in the current scope */
static inline tg_tensor *test_leaf(tg_rng *r, int ndim, const size_t *shape) {
  return tg_requires_grad_(tg_randn(r, TG_FLOAT64, ndim, shape), true);
}

/* a one-tensor op under test, and a tg_fn (ctx: a test_op1_ctx) that hands
 * it the transpose of its input: non-contiguous */
typedef tg_tensor *(*test_op1)(tg_tensor *);
typedef struct {
  test_op1 f;
} test_op1_ctx;
static inline tg_tensor *test_through_t(tg_tensor **in, void *c) {
  return ((test_op1_ctx *)c)->f(tg_transpose(in[0], 0, 1));
}

/* a generator seeded with seed */
static inline tg_rng test_seeded(uint64_t seed) {
  tg_rng r;
  tg_rng_seed(&r, seed);
  return r;
}

/* the last error mentions a (and b, when not NULL); then it is cleared */
static inline void test_expect_error(const char *a, const char *b) {
  const char *e = tg_last_error();
  if (!strstr(e, a) || (b && !strstr(e, b)))
    fail_msg("error \"%s\" should mention \"%s\"%s%s", e, a, b ? " and " : "", b ? b : "");
  tg_clear_error();
}

/* m converted to float64 in place */
static inline tg_module *test_to_f64(tg_module *m) {
  assert_non_null(m);
  assert_int_equal(tg_module_to_(m, TG_FLOAT64), 0);
  return m;
}

/* the same shape and bitwise the same values (NaNs equal) */
static inline void test_assert_identical(const tg_tensor *a, const tg_tensor *b) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->ndim, b->ndim);
  for (int d = 0; d < a->ndim; d++) assert_int_equal(a->shape[d], b->shape[d]);
  assert_int_equal(a->dtype, b->dtype);
  for (size_t i = 0; i < a->numel; i++) {
    double x = tg_get_flat(a, i), y = tg_get_flat(b, i);
    if (!(x == y || (isnan(x) && isnan(y)))) fail_msg("element %zu: %.17g vs %.17g", i, x, y);
  }
}

/* Under AddressSanitizer a malloc hook sees every system allocation, so a
 * test can assert "no malloc at all" or bound the largest one directly. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_MALLOC_HOOK 1
#endif
#endif
#ifdef HAVE_MALLOC_HOOK
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *));
#endif

/* every test starts and ends with no open scope and no pending error */
static inline int test_setup(void **state) {
  (void)state;
  tg_clear_error();
  tg_scope_begin();
  return 0;
}
static inline int test_teardown(void **state) {
  (void)state;
  while (tg_scope_depth() > 0) tg_scope_end();
  return 0;
}

#define TG_TEST(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)

#endif
