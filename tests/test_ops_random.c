/* Sampling (ops/random.c): ranges, frequencies against the probabilities
 * (bounds many standard deviations wide, for a fixed seed), determinism,
 * the without-replacement rule, and errors. */
#include <stdio.h>
#include <string.h>

#include "tg_test.h"

static void expect_error(const char *needle) {
  if (!strstr(tg_last_error(), needle)) fail_msg("error '%s' does not mention '%s'", tg_last_error(), needle);
  tg_clear_error();
}

static tg_rng seeded(uint64_t seed) {
  tg_rng r;
  tg_rng_seed(&r, seed);
  return r;
}

static void test_randint_range_and_spread(void **state) {
  (void)state;
  tg_rng r = seeded(1);
  tg_tensor *t = tg_randint(&r, -3, 4, TG_SHAPE(70000));
  assert_non_null(t);
  assert_int_equal(t->dtype, TG_INT64);
  size_t count[7] = {0};
  for (size_t i = 0; i < t->numel; i++) {
    double v = tg_get_flat(t, i);
    assert_true(v >= -3 && v < 4);
    count[(int)v + 3]++;
  }
  for (int k = 0; k < 7; k++) assert_true(count[k] > 9400 && count[k] < 10600); /* 10000 +- 6 sd */
  assert_null(tg_randint(&r, 2, 2, TG_SHAPE(3)));
  expect_error("randint: high (2) must be greater than low (2)");
}

static void test_randperm_is_a_permutation(void **state) {
  (void)state;
  tg_rng r = seeded(2);
  tg_tensor *p = tg_randperm(&r, 1000);
  bool seen[1000] = {0};
  size_t fixed = 0;
  for (size_t i = 0; i < 1000; i++) {
    size_t v = (size_t)tg_get_flat(p, i);
    assert_true(v < 1000 && !seen[v]);
    seen[v] = true;
    fixed += v == i;
  }
  assert_true(fixed < 10); /* about 1 expected */
  assert_int_equal(tg_randperm(&r, 0)->numel, 0);
  /* the same seed, the same permutation */
  tg_rng a = seeded(9), b = seeded(9);
  tg_tensor *pa = tg_randperm(&a, 50), *pb = tg_randperm(&b, 50);
  for (size_t i = 0; i < 50; i++) assert_true(tg_get_flat(pa, i) == tg_get_flat(pb, i));
}

static void test_bernoulli_frequencies(void **state) {
  (void)state;
  tg_rng r = seeded(3);
  tg_tensor *p = tg_full(TG_FLOAT32, TG_SHAPE(40000), 0.3);
  tg_tensor *s = tg_bernoulli(&r, p);
  assert_int_equal(s->dtype, TG_FLOAT32);
  double ones = 0;
  for (size_t i = 0; i < s->numel; i++) {
    double v = tg_get_flat(s, i);
    assert_true(v == 0 || v == 1);
    ones += v;
  }
  assert_true(fabs(ones / 40000 - 0.3) < 0.014); /* 6 sd */
  assert_null(tg_bernoulli(&r, tg_full(TG_FLOAT64, TG_SHAPE(2), 1.5)));
  expect_error("bernoulli: probability 1.5");
  tg_tensor *lp = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(3), 0.5), true);
  assert_false(tg_bernoulli(&r, lp)->requires_grad);
}

static void test_normal_uniform_with_tensors(void **state) {
  (void)state;
  tg_rng r = seeded(4);
  /* means (2, 1) and stds (3): samples (2, 3); column stats per cell */
  tg_tensor *mean = tg_from_f64(TG_SHAPE(2, 1), (double[]){-5, 10});
  tg_tensor *std = tg_from_f64(TG_SHAPE(3), (double[]){0, 1, 2});
  double sum[6] = {0}, sq[6] = {0};
  int n = 4000;
  for (int k = 0; k < n; k++) {
    tg_scope_begin();
    tg_tensor *s = tg_normal_tensor(&r, mean, std);
    assert_int_equal(s->ndim, 2);
    for (size_t i = 0; i < 6; i++) {
      double v = tg_get_flat(s, i);
      sum[i] += v;
      sq[i] += v * v;
    }
    tg_scope_end();
  }
  for (size_t i = 0; i < 6; i++) {
    double m = sum[i] / n, sd = sqrt(fmax(sq[i] / n - m * m, 0)), want_sd = (double)(i % 3);
    assert_true(fabs(m - (i < 3 ? -5 : 10)) < 6 * (want_sd + 1e-9) / sqrt(n) + 1e-9);
    assert_true(fabs(sd - want_sd) < 0.1 * want_sd + 1e-6);
  }
  tg_tensor *u = tg_uniform_tensor(&r, tg_from_f64(TG_SHAPE(2), (double[]){0, 5}), tg_from_f64(TG_SHAPE(2), (double[]){1, 6}));
  assert_true(tg_get_flat(u, 0) >= 0 && tg_get_flat(u, 0) < 1);
  assert_true(tg_get_flat(u, 1) >= 5 && tg_get_flat(u, 1) < 6);
  assert_null(tg_normal_tensor(&r, mean, tg_from_f64(TG_SHAPE(1), (double[]){-1})));
  expect_error("normal: std -1");
  assert_null(tg_normal_tensor(&r, tg_zeros(TG_FLOAT64, TG_SHAPE(2)), tg_zeros(TG_FLOAT64, TG_SHAPE(3))));
  assert_true(tg_has_error());
  tg_clear_error();
}

static void test_multinomial_with_replacement(void **state) {
  (void)state;
  tg_rng r = seeded(5);
  double w[] = {1, 0, 3, 6}; /* unnormalised, one impossible category */
  tg_tensor *probs = tg_from_f64(TG_SHAPE(4), w);
  tg_tensor *s = tg_multinomial(&r, probs, 50000, true);
  assert_int_equal(s->ndim, 1);
  size_t count[4] = {0};
  for (size_t i = 0; i < s->numel; i++) count[(size_t)tg_get_flat(s, i)]++;
  assert_int_equal(count[1], 0);
  for (int c = 0; c < 4; c++) {
    double f = (double)count[c] / 50000, want = w[c] / 10;
    assert_true(fabs(f - want) < 6 * sqrt(want * (1 - want) / 50000) + 1e-12);
  }
}

static void test_multinomial_without_replacement(void **state) {
  (void)state;
  tg_rng r = seeded(6);
  tg_tensor *probs = tg_from_f64(TG_SHAPE(2, 5), (double[]){1, 1, 1, 1, 1, 0, 5, 0, 1, 1});
  size_t first_is_1 = 0;
  for (int k = 0; k < 2000; k++) {
    tg_scope_begin();
    tg_tensor *s = tg_multinomial(&r, probs, 3, false);
    assert_int_equal(s->ndim, 2);
    for (size_t row = 0; row < 2; row++) {
      int64_t a = (int64_t)tg_get(s, (size_t[]){row, 0}), b = (int64_t)tg_get(s, (size_t[]){row, 1}),
              c = (int64_t)tg_get(s, (size_t[]){row, 2});
      assert_true(a != b && b != c && a != c);
      if (row == 1) {
        assert_true(a != 0 && a != 2 && b != 0 && b != 2 && c != 0 && c != 2);
        first_is_1 += a == 1;
      }
    }
    tg_scope_end();
  }
  /* the first draw of row 1 is category 1 with probability 5/7 */
  assert_true(fabs((double)first_is_1 / 2000 - 5.0 / 7) < 0.06);
  assert_null(tg_multinomial(&r, probs, 4, false));
  expect_error("without replacement from 3 categories");
  assert_null(tg_multinomial(&r, tg_zeros(TG_FLOAT64, TG_SHAPE(3)), 1, true));
  expect_error("no positive probability");
  assert_null(tg_multinomial(&r, tg_from_f64(TG_SHAPE(2), (double[]){1, -1}), 1, true));
  expect_error("negative");
  assert_null(tg_multinomial(&r, tg_zeros(TG_FLOAT64, TG_SHAPE(1, 1, 1)), 1, true));
  expect_error("1-D (C) or 2-D");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_randint_range_and_spread),
      TG_TEST(test_randperm_is_a_permutation),
      TG_TEST(test_bernoulli_frequencies),
      TG_TEST(test_normal_uniform_with_tensors),
      TG_TEST(test_multinomial_with_replacement),
      TG_TEST(test_multinomial_without_replacement),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
