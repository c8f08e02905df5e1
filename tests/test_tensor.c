/* The tensor layer: creation, the random number generator, views and
 * strides, copies, element access and PyTorch-style printing. Expected
 * values come from the mathematical definition of each function (or, for
 * the generator, from an independent implementation of the published
 * algorithms); printed forms are what PyTorch's _tensor_str gives for the
 * same tensors. */
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

/* every element of t, in logical order, equals expect[i] within tol */
static void assert_values(const tg_tensor *t, const double *expect, size_t n, double tol) {
  assert_non_null(t);
  assert_int_equal(t->numel, n);
  double *got = malloc((n ? n : 1) * sizeof *got);
  assert_non_null(got);
  assert_int_equal(tg_to_f64_array(t, got), 0);
  size_t bad = 0;
  while (bad < n && fabs(got[bad] - expect[bad]) <= tol) bad++;
  double g = bad < n ? got[bad] : 0;
  free(got);
  if (bad < n) fail_msg("element %zu = %.17g, expected %.17g (tol %g)", bad, g, expect[bad], tol);
}

static void assert_shape(const tg_tensor *t, int ndim, const size_t *shape) {
  assert_non_null(t);
  assert_int_equal(t->ndim, ndim);
  for (int d = 0; d < ndim; d++) assert_int_equal(t->shape[d], shape[d]);
}

static void assert_strides(const tg_tensor *t, int ndim, const ptrdiff_t *strides) {
  assert_int_equal(t->ndim, ndim);
  for (int d = 0; d < ndim; d++) assert_int_equal(t->strides[d], strides[d]);
}

/* ------------------------------------------------------------ creation */

static void test_zeros_ones_full(void **state) {
  (void)state;
  tg_tensor *z = tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3));
  assert_shape(z, 2, (size_t[]){2, 3});
  assert_int_equal(z->numel, 6);
  assert_int_equal(z->dtype, TG_FLOAT32);
  assert_strides(z, 2, (ptrdiff_t[]){3, 1});
  assert_true(tg_is_contiguous(z));
  assert_false(z->requires_grad);
  assert_null(z->grad);
  assert_null(z->grad_fn);
  assert_values(z, (double[]){0, 0, 0, 0, 0, 0}, 6, 0);

  tg_tensor *o = tg_ones(TG_FLOAT64, TG_SHAPE(4));
  assert_int_equal(o->dtype, TG_FLOAT64);
  assert_values(o, (double[]){1, 1, 1, 1}, 4, 0);

  tg_tensor *f = tg_full(TG_FLOAT32, TG_SHAPE(2, 2), 2.5);
  assert_values(f, (double[]){2.5, 2.5, 2.5, 2.5}, 4, 0);

  tg_tensor *fi = tg_full(TG_INT64, TG_SHAPE(3), 7);
  assert_int_equal(fi->dtype, TG_INT64);
  assert_values(fi, (double[]){7, 7, 7}, 3, 0);

  tg_tensor *s = tg_scalar(TG_FLOAT64, -3.25);
  assert_int_equal(s->ndim, 0);
  assert_int_equal(s->numel, 1);
  assert_close(tg_item(s), -3.25, 0);

  tg_tensor *zl = tg_zeros_like(f), *ol = tg_ones_like(fi);
  assert_shape(zl, 2, (size_t[]){2, 2});
  assert_int_equal(zl->dtype, TG_FLOAT32);
  assert_values(zl, (double[]){0, 0, 0, 0}, 4, 0);
  assert_int_equal(ol->dtype, TG_INT64);
  assert_values(ol, (double[]){1, 1, 1}, 3, 0);

  /* an empty dim gives an empty tensor */
  tg_tensor *e = tg_zeros(TG_FLOAT32, TG_SHAPE(2, 0));
  assert_non_null(e);
  assert_int_equal(e->numel, 0);
  assert_false(tg_has_error());
}

static void test_from_data(void **state) {
  (void)state;
  const float f32[6] = {1.5f, -2, 3, 0.25f, 5, 6};
  tg_tensor *a = tg_from_f32(TG_SHAPE(2, 3), f32);
  assert_int_equal(a->dtype, TG_FLOAT32);
  assert_values(a, (double[]){1.5, -2, 3, 0.25, 5, 6}, 6, 0);
  assert_close(tg_get(a, (size_t[]){1, 0}), 0.25, 0);
  /* the data were copied: changing the source does not change the tensor */
  float src[2] = {1, 2};
  tg_tensor *b = tg_from_f32(TG_SHAPE(2), src);
  src[0] = 100;
  assert_close(tg_get_flat(b, 0), 1.0, 0);
  assert_ptr_equal(tg_data_f32(b), tg_data(b));
  assert_float_equal(tg_data_f32(b)[1], 2.0f, 0);

  const double f64[3] = {0.1, 1e-300, -1e300};
  tg_tensor *c = tg_from_f64(TG_SHAPE(3), f64);
  assert_int_equal(c->dtype, TG_FLOAT64);
  assert_true(tg_data_f64(c)[0] == 0.1);
  assert_true(tg_get_flat(c, 1) == 1e-300);
  assert_true(tg_get_flat(c, 2) == -1e300);

  const int64_t i64[4] = {-3, 0, 42, (int64_t)1 << 40};
  tg_tensor *d = tg_from_i64(TG_SHAPE(2, 2), i64);
  assert_int_equal(d->dtype, TG_INT64);
  assert_values(d, (double[]){-3, 0, 42, 1099511627776.0}, 4, 0);
  assert_int_equal(((int64_t *)tg_data(d))[3], (int64_t)1 << 40);

  tg_tensor *g = tg_from_data(TG_FLOAT64, 0, NULL, (double[]){9.5});
  assert_int_equal(g->ndim, 0);
  assert_close(tg_item(g), 9.5, 0);
}

static void test_arange(void **state) {
  (void)state;
  tg_tensor *a = tg_arange(TG_FLOAT32, 0, 5, 1);
  assert_shape(a, 1, (size_t[]){5});
  assert_values(a, (double[]){0, 1, 2, 3, 4}, 5, 0);

  /* end is exclusive; the count is ceil((end - start) / step) */
  tg_tensor *b = tg_arange(TG_FLOAT64, 1, 2, 0.25);
  assert_values(b, (double[]){1, 1.25, 1.5, 1.75}, 4, 0);
  tg_tensor *c = tg_arange(TG_FLOAT64, 0, 1, 0.3);
  assert_values(c, (double[]){0, 0.3, 0.6, 0.9}, 4, 1e-15);

  tg_tensor *d = tg_arange(TG_FLOAT32, 5, 0, -2);
  assert_values(d, (double[]){5, 3, 1}, 3, 0);

  tg_tensor *e = tg_arange(TG_INT64, -2, 3, 1);
  assert_int_equal(e->dtype, TG_INT64);
  assert_values(e, (double[]){-2, -1, 0, 1, 2}, 5, 0);

  tg_tensor *empty = tg_arange(TG_FLOAT32, 3, 3, 1);
  assert_non_null(empty);
  assert_int_equal(empty->numel, 0);
  assert_false(tg_has_error());
}

static void test_linspace(void **state) {
  (void)state;
  tg_tensor *a = tg_linspace(TG_FLOAT32, 0, 1, 5);
  assert_shape(a, 1, (size_t[]){5});
  assert_values(a, (double[]){0, 0.25, 0.5, 0.75, 1}, 5, 0);

  tg_tensor *b = tg_linspace(TG_FLOAT64, -1, 1, 4);
  assert_values(b, (double[]){-1, -1.0 / 3, 1.0 / 3, 1}, 4, 1e-15);

  /* PyTorch's endpoint behaviour: both ends are exact. The first half is
   * start + i*step and the second half end - (steps-1-i)*step, so the last
   * value is end itself (start + 10*step gives 0.9000000000000001). */
  const double start = 0.3, end = 0.9;
  const size_t n = 11;
  tg_tensor *c = tg_linspace(TG_FLOAT64, start, end, n);
  assert_non_null(c);
  double step = (end - start) / (double)(n - 1);
  assert_true(start + 10 * step != end); /* the naive formula misses the end */
  assert_true(tg_get_flat(c, 0) == start);
  assert_true(tg_get_flat(c, n - 1) == end);
  for (size_t i = 0; i < n; i++) {
    double want = i < n / 2 ? start + step * (double)i : end - step * (double)(n - 1 - i);
    assert_true(tg_get_flat(c, i) == want);
    assert_close(tg_get_flat(c, i), 0.3 + 0.06 * (double)i, 1e-15);
  }

  /* one step gives start; zero steps an empty tensor */
  tg_tensor *one = tg_linspace(TG_FLOAT32, 2, 7, 1);
  assert_values(one, (double[]){2}, 1, 0);
  tg_tensor *none = tg_linspace(TG_FLOAT32, 2, 7, 0);
  assert_non_null(none);
  assert_int_equal(none->numel, 0);

  /* decreasing */
  tg_tensor *dn = tg_linspace(TG_FLOAT64, 10, -10, 5);
  assert_values(dn, (double[]){10, 5, 0, -5, -10}, 5, 0);
}

static void test_eye(void **state) {
  (void)state;
  tg_tensor *e = tg_eye(TG_FLOAT64, 3);
  assert_shape(e, 2, (size_t[]){3, 3});
  assert_values(e, (double[]){1, 0, 0, 0, 1, 0, 0, 0, 1}, 9, 0);
  tg_tensor *e1 = tg_eye(TG_FLOAT32, 1);
  assert_values(e1, (double[]){1}, 1, 0);
}

/* ------------------------------------------------------------------ RNG */

/* Reference implementations, written from Vigna's published C code:
 * splitmix64 (for seeding) and xoshiro256** 1.0. */
static uint64_t ref_splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

typedef struct ref_rng {
  uint64_t s[4];
} ref_rng;

static void ref_seed(ref_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = ref_splitmix64(&seed);
}

static uint64_t ref_next(ref_rng *r) {
  uint64_t *s = r->s;
  const uint64_t result = ref_rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = ref_rotl(s[3], 45);
  return result;
}

static void test_rng_matches_reference(void **state) {
  (void)state;
  /* the well-known first splitmix64 output for seed 0 pins the reference */
  uint64_t x = 0;
  assert_true(ref_splitmix64(&x) == UINT64_C(0xe220a8397b1dcdaf));

  tg_rng r;
  tg_rng_seed(&r, 0);
  assert_true(r.s[0] == UINT64_C(0xe220a8397b1dcdaf));
  assert_true(r.s[1] == UINT64_C(0x6e789e6aa1b965f4));
  assert_true(r.s[2] == UINT64_C(0x06c45d188009454f));
  assert_true(r.s[3] == UINT64_C(0xf88bb8a8724c81ec));
  /* first xoshiro256** outputs for seed 0 (computed independently) */
  assert_true(tg_rng_next(&r) == UINT64_C(0x99ec5f36cb75f2b4));
  assert_true(tg_rng_next(&r) == UINT64_C(0xbf6e1f784956452a));
  assert_true(tg_rng_next(&r) == UINT64_C(0x1a5f849d4933e6e0));
  assert_true(tg_rng_next(&r) == UINT64_C(0x6aa594f1262d2d2c));

  /* and the reference implementation over long streams and several seeds */
  const uint64_t seeds[] = {0, 1, 42, 12345, UINT64_MAX};
  for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
    ref_rng ref;
    ref_seed(&ref, seeds[k]);
    tg_rng_seed(&r, seeds[k]);
    for (int i = 0; i < 4; i++) assert_true(r.s[i] == ref.s[i]);
    for (int i = 0; i < 1000; i++) {
      uint64_t want = ref_next(&ref);
      if (tg_rng_next(&r) != want) fail_msg("seed %llu output %d differs", (unsigned long long)seeds[k], i);
    }
  }

  /* uniform: the top 53 bits of the next output, scaled to [0, 1) */
  ref_rng ref;
  ref_seed(&ref, 7);
  tg_rng_seed(&r, 7);
  for (int i = 0; i < 100; i++) {
    double want = (double)(ref_next(&ref) >> 11) / 9007199254740992.0; /* 2^53 */
    double u = tg_rng_uniform(&r);
    assert_true(u == want);
    assert_true(u >= 0 && u < 1);
  }
}

static void test_rng_reproducible(void **state) {
  (void)state;
  tg_rng r1, r2, r3;
  tg_rng_seed(&r1, 2024);
  tg_rng_seed(&r2, 2024);
  tg_rng_seed(&r3, 2025);
  tg_tensor *a = tg_randn(&r1, TG_FLOAT64, TG_SHAPE(50));
  tg_tensor *b = tg_randn(&r2, TG_FLOAT64, TG_SHAPE(50));
  tg_tensor *c = tg_randn(&r3, TG_FLOAT64, TG_SHAPE(50));
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  size_t same_ab = 0, same_ac = 0;
  for (size_t i = 0; i < 50; i++) {
    same_ab += tg_get_flat(a, i) == tg_get_flat(b, i);
    same_ac += tg_get_flat(a, i) == tg_get_flat(c, i);
  }
  assert_int_equal(same_ab, 50);
  assert_int_equal(same_ac, 0);

  /* the default generator: tg_manual_seed restarts its stream */
  tg_manual_seed(99);
  tg_tensor *d = tg_rand(NULL, TG_FLOAT32, TG_SHAPE(20));
  tg_manual_seed(99);
  tg_tensor *e = tg_rand(NULL, TG_FLOAT32, TG_SHAPE(20));
  tg_manual_seed(100);
  tg_tensor *f = tg_rand(NULL, TG_FLOAT32, TG_SHAPE(20));
  size_t same_de = 0, same_df = 0;
  for (size_t i = 0; i < 20; i++) {
    same_de += tg_get_flat(d, i) == tg_get_flat(e, i);
    same_df += tg_get_flat(d, i) == tg_get_flat(f, i);
  }
  assert_int_equal(same_de, 20);
  assert_true(same_df < 20);

  /* tg_rand draws the same uniforms as tg_rng_uniform on the default stream */
  tg_manual_seed(5);
  tg_tensor *g = tg_rand(NULL, TG_FLOAT64, TG_SHAPE(8));
  tg_rng ref;
  tg_rng_seed(&ref, 5);
  for (size_t i = 0; i < 8; i++) assert_true(tg_get_flat(g, i) == tg_rng_uniform(&ref));
  assert_ptr_not_equal(tg_default_rng(), NULL);
}

static void test_random_distributions(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 31337);
  const size_t n = 100000;
  tg_tensor *z = tg_randn(&r, TG_FLOAT64, TG_SHAPE(n));
  assert_non_null(z);
  double sum = 0, sq = 0, within1 = 0;
  for (size_t i = 0; i < n; i++) {
    double v = tg_get_flat(z, i);
    assert_true(isfinite(v));
    sum += v;
    sq += v * v;
    within1 += fabs(v) < 1.0;
  }
  double mean = sum / (double)n, std = sqrt(sq / (double)n - mean * mean);
  /* standard errors: 1/sqrt(n) = 0.0032 for the mean, ~0.0022 for the std */
  assert_close(mean, 0.0, 0.02);
  assert_close(std, 1.0, 0.02);
  /* P(|Z| < 1) = erf(1/sqrt(2)) */
  assert_close(within1 / (double)n, erf(1.0 / sqrt(2.0)), 0.01);

  /* rand: [0, 1), mean 1/2, variance 1/12 */
  tg_tensor *u = tg_rand(&r, TG_FLOAT32, TG_SHAPE(n));
  double us = 0, uq = 0;
  for (size_t i = 0; i < n; i++) {
    double v = tg_get_flat(u, i);
    assert_true(v >= 0 && v < 1);
    us += v;
    uq += v * v;
  }
  assert_close(us / (double)n, 0.5, 0.01);
  assert_close(uq / (double)n - (us / n) * (us / n), 1.0 / 12, 0.005);

  /* uniform(lo, hi) and normal(mean, std) */
  tg_tensor *w = tg_uniform(&r, TG_FLOAT64, TG_SHAPE(200, 50), -2, 3);
  assert_shape(w, 2, (size_t[]){200, 50});
  double ws = 0;
  for (size_t i = 0; i < w->numel; i++) {
    double v = tg_get_flat(w, i);
    assert_true(v >= -2 && v < 3);
    ws += v;
  }
  assert_close(ws / (double)w->numel, 0.5, 0.05);

  tg_tensor *m = tg_normal(&r, TG_FLOAT64, TG_SHAPE(n), 5, 0.1);
  double ms = 0, mq = 0;
  for (size_t i = 0; i < n; i++) {
    double v = tg_get_flat(m, i);
    ms += v;
    mq += v * v;
  }
  double mm = ms / (double)n;
  assert_close(mm, 5.0, 0.002);
  assert_close(sqrt(mq / (double)n - mm * mm), 0.1, 0.002);

  /* in-place fills, also through a non-contiguous view */
  tg_tensor *t = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4));
  assert_ptr_equal(tg_uniform_(t, &r, 10, 11), t);
  for (size_t i = 0; i < 12; i++) assert_true(tg_get_flat(t, i) >= 10 && tg_get_flat(t, i) < 11);
  assert_ptr_equal(tg_fill_(t, -1), t);
  tg_tensor *col = tg_narrow(t, 1, 1, 1); /* [3,1] view, stride 4 */
  assert_ptr_equal(tg_normal_(col, &r, 100, 1), col);
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < 4; j++) {
      double v = tg_get(t, (size_t[]){i, j});
      if (j == 1) assert_true(v > 90 && v < 110);
      else assert_close(v, -1, 0);
    }

  /* random creation needs a float dtype */
  tg_clear_error();
  assert_null(tg_randn(&r, TG_INT64, TG_SHAPE(2)));
  assert_non_null(strstr(tg_last_error(), "randn"));
  tg_clear_error();
}

/* --------------------------------------------------------------- views */

static void test_reshape_view_shares_storage(void **state) {
  (void)state;
  tg_tensor *a = tg_arange(TG_FLOAT32, 0, 6, 1);
  tg_tensor *v = tg_reshape(a, TG_SHAPE(2, 3));
  assert_shape(v, 2, (size_t[]){2, 3});
  assert_strides(v, 2, (ptrdiff_t[]){3, 1});
  assert_ptr_equal(v->storage, a->storage);
  assert_ptr_equal(tg_data(v), tg_data(a));
  assert_int_equal(a->storage->refs, 2);
  assert_int_equal(tg_set(a, (size_t[]){4}, 40), 0);
  assert_close(tg_get(v, (size_t[]){1, 1}), 40, 0);
  assert_int_equal(tg_set(v, (size_t[]){0, 2}, -2), 0);
  assert_close(tg_get(a, (size_t[]){2}), -2, 0);

  tg_tensor *w = tg_view(v, TG_SHAPE(3, 2));
  assert_ptr_equal(w->storage, a->storage);
  assert_close(tg_get(w, (size_t[]){2, 0}), 40, 0);

  tg_tensor *inf = tg_reshape_infer(a, 3, (const long[]){-1, 1, 2});
  assert_shape(inf, 3, (size_t[]){3, 1, 2});
  assert_ptr_equal(inf->storage, a->storage);

  tg_tensor *fl = tg_flatten(tg_reshape(a, TG_SHAPE(1, 2, 3)), 1, 2);
  assert_shape(fl, 2, (size_t[]){1, 6});
  assert_ptr_equal(fl->storage, a->storage);

  /* reshape of a non-contiguous tensor must copy */
  tg_tensor *t = tg_t(v);
  tg_tensor *r = tg_reshape(t, TG_SHAPE(6));
  assert_ptr_not_equal(r->storage, a->storage);
  /* v = [[0,1,-2],[3,40,5]], so t = [[0,3],[1,40],[-2,5]] */
  assert_values(r, (double[]){0, 3, 1, 40, -2, 5}, 6, 0);
}

static void test_transpose_permute(void **state) {
  (void)state;
  tg_tensor *a = tg_arange(TG_FLOAT64, 0, 6, 1);
  tg_tensor *m = tg_reshape(a, TG_SHAPE(2, 3));
  tg_tensor *t = tg_transpose(m, 0, 1);
  assert_shape(t, 2, (size_t[]){3, 2});
  assert_strides(t, 2, (ptrdiff_t[]){1, 3});
  assert_ptr_equal(t->storage, a->storage);
  assert_false(tg_is_contiguous(t));
  for (size_t i = 0; i < 2; i++)
    for (size_t j = 0; j < 3; j++)
      assert_close(tg_get(t, (size_t[]){j, i}), (double)(3 * i + j), 0);
  tg_set(m, (size_t[]){1, 2}, 77);
  assert_close(tg_get(t, (size_t[]){2, 1}), 77, 0);
  /* logical order of the transposed view */
  assert_values(t, (double[]){0, 3, 1, 4, 2, 77}, 6, 0);

  /* tg_t of a 1-D tensor is the tensor's own shape; negative dims count from the end */
  tg_tensor *t1 = tg_t(a);
  assert_shape(t1, 1, (size_t[]){6});
  tg_tensor *tn = tg_transpose(m, -1, -2);
  assert_strides(tn, 2, (ptrdiff_t[]){1, 3});

  tg_tensor *b = tg_reshape(tg_arange(TG_FLOAT32, 0, 24, 1), TG_SHAPE(2, 3, 4));
  assert_strides(b, 3, (ptrdiff_t[]){12, 4, 1});
  tg_tensor *p = tg_permute(b, (const int[]){2, 0, 1});
  assert_shape(p, 3, (size_t[]){4, 2, 3});
  assert_strides(p, 3, (ptrdiff_t[]){1, 12, 4});
  assert_ptr_equal(p->storage, b->storage);
  /* p[k][i][j] = b[i][j][k] = 12i + 4j + k */
  for (size_t i = 0; i < 2; i++)
    for (size_t j = 0; j < 3; j++)
      for (size_t k = 0; k < 4; k++)
        assert_close(tg_get(p, (size_t[]){k, i, j}), (double)(12 * i + 4 * j + k), 0);
  tg_set(b, (size_t[]){1, 2, 3}, -5);
  assert_close(tg_get(p, (size_t[]){3, 1, 2}), -5, 0);
}

static void test_expand(void **state) {
  (void)state;
  tg_tensor *a = tg_from_f32(TG_SHAPE(3, 1), (float[]){1, 2, 3});
  tg_tensor *e = tg_expand(a, TG_SHAPE(3, 4));
  assert_shape(e, 2, (size_t[]){3, 4});
  assert_strides(e, 2, (ptrdiff_t[]){1, 0});
  assert_ptr_equal(e->storage, a->storage);
  assert_false(tg_is_contiguous(e));
  assert_values(e, (double[]){1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}, 12, 0);
  tg_set(a, (size_t[]){1, 0}, 20);
  for (size_t j = 0; j < 4; j++) assert_close(tg_get(e, (size_t[]){1, j}), 20, 0);

  /* new leading dims get stride 0 */
  tg_tensor *e3 = tg_expand(a, TG_SHAPE(2, 3, 5));
  assert_shape(e3, 3, (size_t[]){2, 3, 5});
  assert_strides(e3, 3, (ptrdiff_t[]){0, 1, 0});
  assert_close(tg_get(e3, (size_t[]){1, 1, 4}), 20, 0);
  assert_ptr_equal(e3->storage, a->storage);
}

static void test_narrow_slice_select(void **state) {
  (void)state;
  tg_tensor *a = tg_reshape(tg_arange(TG_FLOAT64, 0, 12, 1), TG_SHAPE(3, 4));
  /* columns 1..2 */
  tg_tensor *n = tg_narrow(a, 1, 1, 2);
  assert_shape(n, 2, (size_t[]){3, 2});
  assert_strides(n, 2, (ptrdiff_t[]){4, 1});
  assert_int_equal(n->offset, 1);
  assert_ptr_equal(n->storage, a->storage);
  assert_false(tg_is_contiguous(n));
  assert_values(n, (double[]){1, 2, 5, 6, 9, 10}, 6, 0);
  tg_set(a, (size_t[]){2, 2}, -10);
  assert_close(tg_get(n, (size_t[]){2, 1}), -10, 0);

  /* rows 1..2 of a contiguous matrix stay contiguous */
  tg_tensor *rows = tg_narrow(a, 0, 1, 2);
  assert_int_equal(rows->offset, 4);
  assert_true(tg_is_contiguous(rows));

  /* Python's a[:, 0:4:2] and a[:, -3:] */
  tg_tensor *s = tg_slice(a, 1, 0, 4, 2);
  assert_shape(s, 2, (size_t[]){3, 2});
  assert_strides(s, 2, (ptrdiff_t[]){4, 2});
  assert_values(s, (double[]){0, 2, 4, 6, 8, -10}, 6, 0);
  tg_tensor *s2 = tg_slice(a, -1, -3, 100, 1);
  assert_shape(s2, 2, (size_t[]){3, 3});
  assert_int_equal(s2->offset, 1);
  assert_values(s2, (double[]){1, 2, 3, 5, 6, 7, 9, -10, 11}, 9, 0);
  /* a[1:2:5] along dim 0 -> one row; an empty slice is allowed */
  tg_tensor *s3 = tg_slice(a, 0, 1, 2, 5);
  assert_values(s3, (double[]){4, 5, 6, 7}, 4, 0);
  tg_tensor *s4 = tg_slice(a, 0, 2, 1, 1);
  assert_non_null(s4);
  assert_int_equal(s4->numel, 0);

  /* select drops the dim */
  tg_tensor *col = tg_select(a, 1, 3);
  assert_shape(col, 1, (size_t[]){3});
  assert_strides(col, 1, (ptrdiff_t[]){4});
  assert_int_equal(col->offset, 3);
  assert_values(col, (double[]){3, 7, 11}, 3, 0);
  tg_set(col, (size_t[]){0}, 33);
  assert_close(tg_get(a, (size_t[]){0, 3}), 33, 0);
}

static void test_squeeze_unsqueeze(void **state) {
  (void)state;
  tg_tensor *a = tg_arange(TG_FLOAT32, 0, 6, 1);
  tg_tensor *u0 = tg_unsqueeze(a, 0);
  assert_shape(u0, 2, (size_t[]){1, 6});
  assert_strides(u0, 2, (ptrdiff_t[]){6, 1});
  assert_ptr_equal(u0->storage, a->storage);
  tg_tensor *u1 = tg_unsqueeze(a, -1);
  assert_shape(u1, 2, (size_t[]){6, 1});
  assert_strides(u1, 2, (ptrdiff_t[]){1, 1});
  tg_set(a, (size_t[]){5}, 50);
  assert_close(tg_get(u0, (size_t[]){0, 5}), 50, 0);
  assert_close(tg_get(u1, (size_t[]){5, 0}), 50, 0);

  tg_tensor *b = tg_reshape(a, TG_SHAPE(1, 2, 1, 3));
  tg_tensor *sq = tg_squeeze(b, 2);
  assert_shape(sq, 3, (size_t[]){1, 2, 3});
  assert_strides(sq, 3, (ptrdiff_t[]){6, 3, 1});
  assert_ptr_equal(sq->storage, a->storage);
  /* squeezing a dim that is not 1 leaves the shape alone, as PyTorch */
  tg_tensor *same = tg_squeeze(b, 1);
  assert_shape(same, 4, (size_t[]){1, 2, 1, 3});
  tg_tensor *all = tg_squeeze_all(b);
  assert_shape(all, 2, (size_t[]){2, 3});
  assert_strides(all, 2, (ptrdiff_t[]){3, 1});
  tg_set(all, (size_t[]){0, 1}, -1);
  assert_close(tg_get(a, (size_t[]){1}), -1, 0);

  /* a 0-d tensor unsqueezes to [1] */
  tg_tensor *s = tg_scalar(TG_FLOAT32, 4);
  tg_tensor *s1 = tg_unsqueeze(s, 0);
  assert_shape(s1, 1, (size_t[]){1});
  assert_close(tg_item(s1), 4, 0);
}

static void test_is_contiguous_and_contiguous(void **state) {
  (void)state;
  tg_tensor *a = tg_reshape(tg_arange(TG_FLOAT32, 0, 6, 1), TG_SHAPE(2, 3));
  assert_true(tg_is_contiguous(a));
  assert_true(tg_is_contiguous(tg_scalar(TG_FLOAT32, 1)));
  /* size-1 dims may have any stride */
  assert_true(tg_is_contiguous(tg_unsqueeze(a, 1)));
  assert_true(tg_is_contiguous(tg_narrow(a, 0, 1, 1)));

  tg_tensor *c = tg_contiguous(a);
  assert_ptr_equal(c, a); /* already contiguous: the same tensor */

  tg_tensor *t = tg_t(a);
  assert_false(tg_is_contiguous(t));
  tg_tensor *tc = tg_contiguous(t);
  assert_ptr_not_equal(tc, t);
  assert_ptr_not_equal(tc->storage, a->storage);
  assert_true(tg_is_contiguous(tc));
  assert_shape(tc, 2, (size_t[]){3, 2});
  assert_strides(tc, 2, (ptrdiff_t[]){2, 1});
  assert_values(tc, (double[]){0, 3, 1, 4, 2, 5}, 6, 0);
  /* the storage itself is in row-major order of the transpose */
  const float *p = tg_data_f32(tc);
  assert_float_equal(p[1], 3.0f, 0);
  assert_float_equal(p[2], 1.0f, 0);
  /* a copy: later writes to the base do not reach it */
  tg_set(a, (size_t[]){0, 0}, 100);
  assert_close(tg_get(tc, (size_t[]){0, 0}), 0, 0);

  tg_tensor *e = tg_expand(tg_reshape(a, TG_SHAPE(1, 6)), TG_SHAPE(2, 6));
  tg_tensor *ec = tg_contiguous(e);
  assert_true(tg_is_contiguous(ec));
  assert_int_equal(ec->storage->nbytes, 12 * sizeof(float));
  assert_close(tg_get(ec, (size_t[]){1, 0}), 100, 0);
}

static void test_cat_stack(void **state) {
  (void)state;
  tg_tensor *a = tg_from_f64(TG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
  tg_tensor *b = tg_from_f64(TG_SHAPE(1, 2), (double[]){5, 6});
  tg_tensor *c0 = tg_cat(2, (tg_tensor *[]){a, b}, 0);
  assert_shape(c0, 2, (size_t[]){3, 2});
  assert_values(c0, (double[]){1, 2, 3, 4, 5, 6}, 6, 0);
  assert_ptr_not_equal(c0->storage, a->storage);

  tg_tensor *col = tg_from_f64(TG_SHAPE(2, 1), (double[]){7, 8});
  tg_tensor *c1 = tg_cat(3, (tg_tensor *[]){a, col, a}, -1);
  assert_shape(c1, 2, (size_t[]){2, 5});
  assert_values(c1, (double[]){1, 2, 7, 1, 2, 3, 4, 8, 3, 4}, 10, 0);

  /* non-contiguous inputs are read in logical order */
  tg_tensor *ct = tg_cat(2, (tg_tensor *[]){tg_t(a), a}, 0);
  assert_values(ct, (double[]){1, 3, 2, 4, 1, 2, 3, 4}, 8, 0);

  tg_tensor *x = tg_from_f64(TG_SHAPE(3), (double[]){1, 2, 3});
  tg_tensor *y = tg_from_f64(TG_SHAPE(3), (double[]){4, 5, 6});
  tg_tensor *s0 = tg_stack(2, (tg_tensor *[]){x, y}, 0);
  assert_shape(s0, 2, (size_t[]){2, 3});
  assert_values(s0, (double[]){1, 2, 3, 4, 5, 6}, 6, 0);
  tg_tensor *s1 = tg_stack(2, (tg_tensor *[]){x, y}, 1);
  assert_shape(s1, 2, (size_t[]){3, 2});
  assert_values(s1, (double[]){1, 4, 2, 5, 3, 6}, 6, 0);
  tg_tensor *sl = tg_stack(2, (tg_tensor *[]){x, y}, -1);
  assert_shape(sl, 2, (size_t[]){3, 2});
  assert_values(sl, (double[]){1, 4, 2, 5, 3, 6}, 6, 0);
  /* stacking 0-d tensors gives a vector */
  tg_tensor *sv = tg_stack(3, (tg_tensor *[]){tg_scalar(TG_FLOAT64, 1), tg_scalar(TG_FLOAT64, -1),
                                               tg_scalar(TG_FLOAT64, 9)}, 0);
  assert_shape(sv, 1, (size_t[]){3});
  assert_values(sv, (double[]){1, -1, 9}, 3, 0);
}

static void test_to_dtype_and_clone(void **state) {
  (void)state;
  tg_tensor *a = tg_from_f32(TG_SHAPE(4), (float[]){1.5f, -2.75f, 2.7f, -2.7f});
  tg_tensor *d = tg_to_dtype(a, TG_FLOAT64);
  assert_int_equal(d->dtype, TG_FLOAT64);
  assert_ptr_not_equal(d->storage, a->storage);
  assert_values(d, (double[]){1.5, -2.75, (double)2.7f, (double)-2.7f}, 4, 0);
  /* float -> int64 truncates toward zero, as PyTorch */
  tg_tensor *i = tg_to_dtype(a, TG_INT64);
  assert_int_equal(i->dtype, TG_INT64);
  assert_values(i, (double[]){1, -2, 2, -2}, 4, 0);
  tg_tensor *back = tg_to_dtype(i, TG_FLOAT32);
  assert_int_equal(back->dtype, TG_FLOAT32);
  assert_values(back, (double[]){1, -2, 2, -2}, 4, 0);
  /* float64 -> float32 rounds to nearest float */
  tg_tensor *f = tg_to_dtype(tg_from_f64(TG_SHAPE(1), (double[]){0.1}), TG_FLOAT32);
  assert_true(tg_item(f) == (double)0.1f);
  /* same dtype: the tensor itself */
  assert_ptr_equal(tg_to_dtype(a, TG_FLOAT32), a);

  tg_tensor *m = tg_reshape(tg_arange(TG_FLOAT64, 0, 6, 1), TG_SHAPE(2, 3));
  tg_tensor *c = tg_clone(m);
  assert_ptr_not_equal(c->storage, m->storage);
  assert_values(c, (double[]){0, 1, 2, 3, 4, 5}, 6, 0);
  tg_set(m, (size_t[]){0, 0}, 9);
  assert_close(tg_get(c, (size_t[]){0, 0}), 0, 0);
  /* a clone of a view is a contiguous copy in logical order */
  tg_tensor *ct = tg_clone(tg_t(m));
  assert_true(tg_is_contiguous(ct));
  assert_values(ct, (double[]){9, 3, 1, 4, 2, 5}, 6, 0);
}

static void test_item_get_set(void **state) {
  (void)state;
  tg_tensor *s = tg_scalar(TG_FLOAT32, 2.5);
  assert_close(tg_item(s), 2.5, 0);
  tg_tensor *one = tg_full(TG_FLOAT64, TG_SHAPE(1, 1, 1), -7);
  assert_close(tg_item(one), -7, 0);
  assert_int_equal(tg_set(s, NULL, 3.5), 0); /* 0-d needs no index */
  assert_close(tg_get(s, NULL), 3.5, 0);

  tg_tensor *m = tg_zeros(TG_INT64, TG_SHAPE(2, 3));
  uint32_t v0 = m->storage->version;
  assert_int_equal(tg_set(m, (size_t[]){1, 2}, 41.9), 0);
  assert_true(m->storage->version != v0); /* writes bump the version */
  assert_close(tg_get(m, (size_t[]){1, 2}), 41, 0);
  assert_close(tg_get_flat(m, 5), 41, 0);
  assert_close(tg_get_flat(tg_t(m), 5), 41, 0);
  assert_close(tg_get_flat(tg_t(m), 4), 0, 0);
  tg_set(m, (size_t[]){0, 1}, 8);
  /* t(m) = [[0,0],[8,0],[0,41]]: flat 2 is m[0][1] */
  assert_close(tg_get_flat(tg_t(m), 2), 8, 0);

  /* errors: out-of-range index, leave the tensor alone */
  tg_clear_error();
  assert_int_equal(tg_set(m, (size_t[]){2, 0}, 1), -1);
  assert_non_null(strstr(tg_last_error(), "set"));
  assert_true(isnan(tg_get(m, (size_t[]){0, 3})));
  assert_non_null(strstr(tg_last_error(), "get"));
  assert_true(isnan(tg_get_flat(m, 6)));
  tg_clear_error();

  char buf[32];
  assert_string_equal(tg_shape_str(m, buf, sizeof buf), "[2,3]");
  assert_string_equal(tg_shape_str(s, buf, sizeof buf), "[]");
  assert_true(tg_same_shape(m, tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3))));
  assert_false(tg_same_shape(m, tg_t(m)));
  assert_int_equal(tg_dtype_size(TG_FLOAT32), 4);
  assert_int_equal(tg_dtype_size(TG_FLOAT64), 8);
  assert_int_equal(tg_dtype_size(TG_INT64), 8);
  assert_string_equal(tg_dtype_name(TG_FLOAT64), "float64");

  tg_set_name(m, "counts");
  assert_string_equal(m->name, "counts");
}

static void test_copy_and_accumulate(void **state) {
  (void)state;
  tg_tensor *dst = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3));
  tg_tensor *src = tg_t(tg_reshape(tg_arange(TG_FLOAT32, 0, 6, 1), TG_SHAPE(3, 2)));
  assert_int_equal(tg_copy_(dst, src), 0); /* any strides, converting dtype */
  assert_values(dst, (double[]){0, 2, 4, 1, 3, 5}, 6, 0);

  /* accumulate sums the source down over the destination's size-1 dims */
  tg_tensor *acc = tg_ones(TG_FLOAT64, TG_SHAPE(1, 3));
  assert_int_equal(tg_accumulate_(acc, dst), 0);
  assert_values(acc, (double[]){2, 6, 10}, 3, 0);
  tg_tensor *total = tg_zeros(TG_FLOAT64, 0, NULL);
  assert_int_equal(tg_accumulate_(total, dst), 0);
  assert_close(tg_item(total), 15, 0);
}

/* ------------------------------------------------------------ printing */

static void assert_prints(const tg_tensor *t, const char *want) {
  char buf[8192];
  size_t n = tg_format(t, buf, sizeof buf);
  if (strcmp(buf, want) != 0) fail_msg("printed\n%s\nexpected\n%s", buf, want);
  assert_int_equal(n, strlen(want));
}

static void test_print_basic(void **state) {
  (void)state;
  tg_tensor *a = tg_requires_grad_(tg_from_f32(TG_SHAPE(1, 2), (float[]){1, 2}), true);
  assert_prints(a, "tensor([[1., 2.]], requires_grad=True)");

  /* the chain rule example: L = (x + y) * z = -12 */
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT32, -2), true);
  tg_tensor *y = tg_requires_grad_(tg_scalar(TG_FLOAT32, 5), true);
  tg_tensor *z = tg_requires_grad_(tg_scalar(TG_FLOAT32, -4), true);
  tg_tensor *L = tg_mul(tg_add(x, y), z);
  assert_prints(L, "tensor(-12., grad_fn=<MulBackward>)");

  assert_prints(tg_from_f32(TG_SHAPE(2), (float[]){0.5f, 0.25f}), "tensor([0.5000, 0.2500])");
  assert_prints(tg_from_f32(TG_SHAPE(2, 2), (float[]){1, 2, 3, 4}),
                "tensor([[1., 2.],\n        [3., 4.]])");
  assert_prints(tg_from_f64(TG_SHAPE(2), (double[]){1.5, 2}), "tensor([1.5000, 2.0000], dtype=float64)");
  assert_prints(tg_from_f32(TG_SHAPE(2), (float[]){1e-5f, 1}), "tensor([1.0000e-05, 1.0000e+00])");
  assert_prints(tg_from_i64(TG_SHAPE(3), (int64_t[]){1, 2, 3}), "tensor([1, 2, 3])");
  assert_prints(tg_scalar(TG_FLOAT32, 3.14159), "tensor(3.1416)");
  assert_prints(tg_scalar(TG_FLOAT64, 0), "tensor(0., dtype=float64)");
}

static void test_print_widths_and_modes(void **state) {
  (void)state;
  /* every entry is right-aligned to the widest */
  assert_prints(tg_from_f32(TG_SHAPE(2), (float[]){-1, 2}), "tensor([-1.,  2.])");
  assert_prints(tg_from_f32(TG_SHAPE(2), (float[]){1.5f, -10.25f}), "tensor([  1.5000, -10.2500])");
  assert_prints(tg_from_i64(TG_SHAPE(2), (int64_t[]){-1, 20}), "tensor([-1, 20])");
  assert_prints(tg_from_f32(TG_SHAPE(2, 2), (float[]){1, -2, 300, 4}),
                "tensor([[  1.,  -2.],\n        [300.,   4.]])");
  /* integers above 1e8, or spanning more than 1000x, switch to scientific */
  assert_prints(tg_from_f64(TG_SHAPE(2), (double[]){1, 1e9}),
                "tensor([1.0000e+00, 1.0000e+09], dtype=float64)");
  assert_prints(tg_from_f32(TG_SHAPE(2), (float[]){1, 2000}), "tensor([1.0000e+00, 2.0000e+03])");
  assert_prints(tg_from_f32(TG_SHAPE(2), (float[]){1, 1000}), "tensor([   1., 1000.])");
  assert_prints(tg_from_f32(TG_SHAPE(2), (float[]){-0.5f, 0}), "tensor([-0.5000,  0.0000])");
  /* zeros, nan and inf do not set the column width */
  assert_prints(tg_zeros(TG_FLOAT32, TG_SHAPE(3)), "tensor([0., 0., 0.])");
  assert_prints(tg_from_f32(TG_SHAPE(2), (float[]){1, NAN}), "tensor([1., nan])");
  assert_prints(tg_from_f32(TG_SHAPE(3), (float[]){1.5f, INFINITY, -INFINITY}),
                "tensor([1.5000,    inf,   -inf])");
  /* 3-D: sub-matrices are separated by a blank line */
  assert_prints(tg_reshape(tg_arange(TG_FLOAT32, 0, 8, 1), TG_SHAPE(2, 2, 2)),
                "tensor([[[0., 1.],\n"
                "         [2., 3.]],\n"
                "\n"
                "        [[4., 5.],\n"
                "         [6., 7.]]])");
  /* views print in logical order */
  assert_prints(tg_t(tg_from_f32(TG_SHAPE(2, 2), (float[]){1, 2, 3, 4})),
                "tensor([[1., 3.],\n        [2., 4.]])");
  /* empty tensors */
  assert_prints(tg_zeros(TG_FLOAT32, TG_SHAPE(0)), "tensor([])");
  assert_prints(tg_zeros(TG_FLOAT32, TG_SHAPE(2, 0)), "tensor([], size=(2, 0))");
  assert_prints(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3)), "tensor([], size=(0, 3), dtype=float64)");
  /* an empty int64 tensor has no values to show its dtype, so it is named */
  assert_prints(tg_zeros(TG_INT64, TG_SHAPE(0)), "tensor([], dtype=int64)");
}

static void test_print_line_wrapping(void **state) {
  (void)state;
  /* rows wrap at 80 columns: 14 entries of width 3 fit after "tensor([" */
  assert_prints(tg_arange(TG_FLOAT32, 0, 20, 1),
                "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
                "        14., 15., 16., 17., 18., 19.])");
  /* rows of a matrix wrap one column further in */
  assert_prints(tg_reshape(tg_arange(TG_FLOAT32, 0, 40, 1), TG_SHAPE(2, 20)),
                "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
                "         14., 15., 16., 17., 18., 19.],\n"
                "        [20., 21., 22., 23., 24., 25., 26., 27., 28., 29., 30., 31., 32., 33.,\n"
                "         34., 35., 36., 37., 38., 39.]])");
  /* a suffix that would pass the line width goes on its own line */
  assert_prints(tg_requires_grad_(tg_arange(TG_FLOAT32, 0, 14, 1), true),
                "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.],\n"
                "       requires_grad=True)");
  assert_prints(tg_requires_grad_(tg_arange(TG_FLOAT64, 0, 14, 1), true),
                "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.],\n"
                "       dtype=float64, requires_grad=True)");
}

static void test_print_summarised(void **state) {
  (void)state;
  /* more than 1000 elements: 3 per edge and "..." */
  assert_prints(tg_arange(TG_INT64, 0, 10000, 1), "tensor([   0,    1,    2,  ..., 9997, 9998, 9999])");
  /* 1000 exactly is printed in full */
  char buf[16384];
  size_t n = tg_format(tg_arange(TG_INT64, 0, 1000, 1), buf, sizeof buf);
  assert_true(n < sizeof buf);
  assert_null(strstr(buf, "..."));
  assert_non_null(strstr(buf, "999])"));
  /* the column width comes from the shown entries only */
  assert_prints(tg_arange(TG_FLOAT32, 0, 2000, 1),
                "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
                "        1.9990e+03])");
  assert_prints(tg_zeros(TG_FLOAT32, TG_SHAPE(100, 100)),
                "tensor([[0., 0., 0.,  ..., 0., 0., 0.],\n"
                "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
                "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
                "        ...,\n"
                "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
                "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
                "        [0., 0., 0.,  ..., 0., 0., 0.]])");
  const char *block = "[[0., 0., 0.,  ..., 0., 0., 0.],\n"
                      "         [0., 0., 0.,  ..., 0., 0., 0.]]";
  char want[2048];
  snprintf(want, sizeof want,
           "tensor([%s,\n\n        %s,\n\n        %s,\n\n        ...,\n\n        %s,\n\n        %s,\n\n        %s])",
           block, block, block, block, block, block);
  assert_prints(tg_zeros(TG_FLOAT32, TG_SHAPE(7, 2, 100)), want);
}

static void test_print_buffer_and_stream(void **state) {
  (void)state;
  tg_tensor *t = tg_from_f32(TG_SHAPE(2), (float[]){0.5f, 0.25f});
  const char *full = "tensor([0.5000, 0.2500])";
  char small[10];
  size_t n = tg_format(t, small, sizeof small);
  assert_int_equal(n, strlen(full)); /* the length it wanted */
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_memory_equal(small, full, sizeof small - 1);
  assert_int_equal(tg_format(t, NULL, 0), strlen(full)); /* measure only */

  char *mem = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&mem, &len);
  assert_non_null(f);
  assert_true(tg_fprint(f, t) > 0);
  fclose(f);
  assert_string_equal(mem, "tensor([0.5000, 0.2500])\n");
  free(mem);

  /* NULL prints without crashing */
  char buf[64];
  tg_format(NULL, buf, sizeof buf);
  assert_string_equal(buf, "tensor(NULL)");
}

/* ---------------------------------------------------------------- bool */

static void test_bool_creation_and_access(void **state) {
  (void)state;
  assert_int_equal(TG_BOOL, 3); /* appended: the other dtypes keep their numbers */
  assert_int_equal(tg_dtype_size(TG_BOOL), 1);
  assert_string_equal(tg_dtype_name(TG_BOOL), "bool");
  tg_tensor *z = tg_zeros(TG_BOOL, TG_SHAPE(2, 3)), *o = tg_ones(TG_BOOL, TG_SHAPE(2, 3));
  tg_tensor *f = tg_full(TG_BOOL, TG_SHAPE(4), -0.5), *e = tg_empty(TG_BOOL, TG_SHAPE(5));
  assert_non_null(e);
  assert_int_equal(e->storage->nbytes, 5);
  for (size_t i = 0; i < 6; i++) {
    assert_true(tg_get_flat(z, i) == 0.0);
    assert_true(tg_get_flat(o, i) == 1.0);
  }
  for (size_t i = 0; i < 4; i++) assert_true(tg_get_flat(f, i) == 1.0); /* nonzero -> true */
  assert_true(tg_item(tg_full(TG_BOOL, 0, NULL, NAN)) == 1.0);          /* NaN is true too */
  assert_true(tg_item(tg_full(TG_BOOL, 0, NULL, -0.0)) == 0.0);
  assert_true(tg_item(tg_scalar(TG_BOOL, 7)) == 1.0);
  /* from data: any nonzero byte reads as true and is stored as 1 */
  const unsigned char bytes[4] = {0, 1, 2, 255};
  tg_tensor *d = tg_from_data(TG_BOOL, TG_SHAPE(2, 2), bytes);
  const unsigned char *raw = tg_data(d);
  assert_true(raw[0] == 0 && raw[1] == 1 && raw[2] == 1 && raw[3] == 1);
  tg_tensor *b = tg_from_bool(TG_SHAPE(3), (const bool[]){true, false, true});
  double out[3];
  assert_int_equal(tg_to_f64_array(b, out), 0);
  assert_true(out[0] == 1 && out[1] == 0 && out[2] == 1);
  assert_true(tg_get(d, (const size_t[]){1, 0}) == 1.0);
  assert_int_equal(tg_set(b, (const size_t[]){1}, 0.25), 0);
  assert_true(tg_get_flat(b, 1) == 1.0);
  assert_int_equal(tg_set(b, (const size_t[]){1}, 0.0), 0);
  assert_true(tg_get_flat(b, 1) == 0.0);
  assert_ptr_equal(tg_fill_(b, 3.0), b);
  assert_true(tg_get_flat(b, 0) == 1.0 && tg_get_flat(b, 1) == 1.0);
  assert_non_null(tg_fill_(tg_slice(b, 0, 0, 3, 2), 0.0)); /* a strided fill */
  assert_true(tg_get_flat(b, 0) == 0.0 && tg_get_flat(b, 1) == 1.0 && tg_get_flat(b, 2) == 0.0);
  tg_tensor *eye = tg_eye(TG_BOOL, 3);
  for (size_t i = 0; i < 9; i++) assert_true(tg_get_flat(eye, i) == (i % 4 == 0));
  tg_tensor *zl = tg_zeros_like(b);
  assert_int_equal(zl->dtype, TG_BOOL);
  /* what bool cannot be */
  assert_null(tg_arange(TG_BOOL, 0, 3, 1));
  assert_non_null(strstr(tg_last_error(), "arange"));
  assert_null(tg_linspace(TG_BOOL, 0, 1, 3));
  assert_non_null(strstr(tg_last_error(), "linspace"));
  assert_null(tg_rand(NULL, TG_BOOL, TG_SHAPE(2)));
  assert_null(tg_uniform_(b, NULL, 0, 1));
  assert_non_null(strstr(tg_last_error(), "uniform_"));
  assert_null(tg_data_f32(b));
  assert_null(tg_empty((tg_dtype)4, TG_SHAPE(2)));
  assert_non_null(strstr(tg_last_error(), "unknown dtype"));
  assert_int_equal(tg_accumulate_(tg_ones(TG_BOOL, TG_SHAPE(2)), tg_ones(TG_BOOL, TG_SHAPE(2))), -1);
  assert_non_null(strstr(tg_last_error(), "accumulate_"));
  tg_clear_error();
}

static void test_bool_copy_conversions(void **state) {
  (void)state;
  const double v[6] = {0.0, -0.0, 0.5, -2.0, NAN, INFINITY};
  const double truth[6] = {0, 0, 1, 1, 1, 1};
  tg_tensor *src64 = tg_from_f64(TG_SHAPE(2, 3), v);
  const tg_dtype dts[2] = {TG_FLOAT32, TG_FLOAT64};
  for (int k = 0; k < 2; k++) {
    tg_tensor *src = tg_zeros(dts[k], TG_SHAPE(2, 3));
    assert_int_equal(tg_copy_(src, src64), 0);
    tg_tensor *b = tg_zeros(TG_BOOL, TG_SHAPE(2, 3));
    assert_int_equal(tg_copy_(b, src), 0);
    assert_values(b, truth, 6, 0);
    /* and back: true is 1 */
    tg_tensor *back = tg_full(dts[k], TG_SHAPE(2, 3), 9);
    assert_int_equal(tg_copy_(back, b), 0);
    assert_values(back, truth, 6, 0);
  }
  tg_tensor *ints = tg_from_i64(TG_SHAPE(3), (const int64_t[]){0, -5, INT64_MAX});
  tg_tensor *b = tg_zeros(TG_BOOL, TG_SHAPE(3));
  assert_int_equal(tg_copy_(b, ints), 0);
  assert_values(b, (double[]){0, 1, 1}, 3, 0);
  tg_tensor *i2 = tg_full(TG_INT64, TG_SHAPE(3), 4);
  assert_int_equal(tg_copy_(i2, b), 0);
  assert_values(i2, (double[]){0, 1, 1}, 3, 0);
  /* strided both ways, a reshaping copy, bool to bool */
  tg_tensor *bt = tg_t(tg_from_bool(TG_SHAPE(2, 3), (const bool[]){1, 0, 0, 1, 1, 0}));
  tg_tensor *dst = tg_zeros(TG_BOOL, TG_SHAPE(3, 2));
  assert_int_equal(tg_copy_(dst, bt), 0);
  assert_values(dst, (double[]){1, 1, 0, 1, 0, 0}, 6, 0);
  tg_tensor *flat = tg_zeros(TG_FLOAT64, TG_SHAPE(6));
  assert_int_equal(tg_copy_(flat, bt), 0);
  assert_values(flat, (double[]){1, 1, 0, 1, 0, 0}, 6, 0);
  tg_tensor *c = tg_clone(bt);
  assert_true(tg_is_contiguous(c));
  assert_values(c, (double[]){1, 1, 0, 1, 0, 0}, 6, 0);
}

/* PyTorch refuses an in-place write where several elements of the
 * destination share one memory location (the last write would win):
 * copy_, random fills and accumulate_. A constant fill writes one value
 * everywhere, so PyTorch allows that one. */
static void test_write_into_overlapping_refused(void **state) {
  (void)state;
  const char *msg = "more than one element of the written-to tensor refers to a single memory location";
  tg_tensor *row = tg_zeros(TG_FLOAT64, TG_SHAPE(3));
  tg_tensor *wide = tg_expand(tg_unsqueeze(row, 0), TG_SHAPE(2, 3));
  tg_tensor *src = tg_from_f64(TG_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
  assert_int_equal(tg_copy_(wide, src), -1);
  assert_non_null(strstr(tg_last_error(), msg));
  assert_non_null(strstr(tg_last_error(), "copy_"));
  assert_non_null(strstr(tg_last_error(), "clone()"));
  assert_values(row, (double[]){0, 0, 0}, 3, 0); /* nothing written */
  assert_null(tg_uniform_(wide, NULL, 0, 1));
  assert_non_null(strstr(tg_last_error(), msg));
  assert_null(tg_normal_(wide, NULL, 0, 1));
  assert_non_null(strstr(tg_last_error(), "normal_"));
  assert_int_equal(tg_accumulate_(wide, src), -1);
  assert_non_null(strstr(tg_last_error(), msg));
  /* a bool destination, a scalar expanded over a reshaping copy */
  tg_tensor *one = tg_expand(tg_reshape(tg_zeros(TG_BOOL, TG_SHAPE(1)), TG_SHAPE(1, 1)), TG_SHAPE(2, 2));
  assert_int_equal(tg_copy_(one, tg_ones(TG_BOOL, TG_SHAPE(4))), -1);
  assert_non_null(strstr(tg_last_error(), msg));
  tg_clear_error();
  /* allowed: a constant fill, the clone, and views without aliasing */
  assert_ptr_equal(tg_fill_(wide, 2.5), wide);
  assert_values(row, (double[]){2.5, 2.5, 2.5}, 3, 0);
  tg_tensor *own = tg_clone(wide);
  assert_int_equal(tg_copy_(own, src), 0);
  assert_values(own, (double[]){1, 2, 3, 4, 5, 6}, 6, 0);
  tg_tensor *base = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 6));
  tg_tensor *sl = tg_transpose(tg_slice(tg_slice(base, 1, 1, 6, 2), 0, 0, 4, 3), 0, 1); /* [3,2] */
  assert_int_equal(tg_copy_(sl, tg_ones(TG_FLOAT64, TG_SHAPE(3, 2))), 0);
  assert_close(tg_item(tg_sum(base)), 6, 0);
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(3));
  tg_tensor *one_elem = tg_expand(tg_select(x, 0, 1), TG_SHAPE(1, 1)); /* size 1: no alias */
  assert_int_equal(tg_copy_(one_elem, tg_ones(TG_FLOAT64, TG_SHAPE(1, 1))), 0);
  assert_values(x, (double[]){0, 1, 0}, 3, 0);
  assert_int_equal(tg_set(wide, (const size_t[]){1, 2}, 9.0), 0); /* one element: allowed */
  assert_values(row, (double[]){2.5, 2.5, 9}, 3, 0);
}

/* A source sharing memory with the destination: refused where both are
 * dense and in different places or layouts (x[1:] = x[:-1], x = x.t()),
 * as PyTorch; disjoint halves, interleaved slices and the same layout copy. */
static void test_copy_from_overlapping_source(void **state) {
  (void)state;
  const char *msg = "some elements of the input tensor and the written-to tensor refer to a single memory location";
  tg_tensor *x = tg_arange(TG_FLOAT64, 0, 5, 1);
  assert_int_equal(tg_copy_(tg_slice(x, 0, 1, 5, 1), tg_slice(x, 0, 0, 4, 1)), -1);
  assert_non_null(strstr(tg_last_error(), msg));
  assert_non_null(strstr(tg_last_error(), "copy_"));
  assert_values(x, (double[]){0, 1, 2, 3, 4}, 5, 0);
  tg_tensor *sq = tg_reshape(tg_arange(TG_FLOAT64, 0, 4, 1), TG_SHAPE(2, 2));
  assert_int_equal(tg_copy_(sq, tg_t(sq)), -1);
  assert_non_null(strstr(tg_last_error(), msg));
  tg_clear_error();
  tg_tensor *y = tg_arange(TG_FLOAT64, 0, 6, 1);
  assert_int_equal(tg_copy_(tg_slice(y, 0, 0, 6, 2), tg_slice(y, 0, 1, 6, 2)), 0);
  assert_values(y, (double[]){1, 1, 3, 3, 5, 5}, 6, 0);
  tg_tensor *z = tg_arange(TG_FLOAT64, 0, 6, 1);
  assert_int_equal(tg_copy_(tg_narrow(z, 0, 0, 3), tg_narrow(z, 0, 3, 3)), 0);
  assert_values(z, (double[]){3, 4, 5, 3, 4, 5}, 6, 0);
  assert_int_equal(tg_copy_(tg_reshape(z, TG_SHAPE(2, 3)), tg_reshape(z, TG_SHAPE(3, 2))), 0);
  assert_int_equal(tg_copy_(z, z), 0);
  assert_int_equal(tg_copy_(tg_t(tg_reshape(z, TG_SHAPE(2, 3))), tg_t(tg_reshape(z, TG_SHAPE(2, 3)))), 0);
  assert_values(z, (double[]){3, 4, 5, 3, 4, 5}, 6, 0);
}

static void test_print_bool(void **state) {
  (void)state;
  /* each expected string is PyTorch 1.13's repr with "torch." dropped from the dtype */
  assert_prints(tg_from_bool(TG_SHAPE(2), (const bool[]){true, false}), "tensor([ True, False])");
  assert_prints(tg_scalar(TG_BOOL, 1), "tensor(True)");
  assert_prints(tg_scalar(TG_BOOL, 0), "tensor(False)");
  assert_prints(tg_from_bool(TG_SHAPE(2, 3), (const bool[]){1, 0, 1, 0, 0, 1}),
                "tensor([[ True, False,  True],\n        [False, False,  True]])");
  assert_prints(tg_ones(TG_BOOL, TG_SHAPE(2, 2)), "tensor([[True, True],\n        [True, True]])");
  assert_prints(tg_ones(TG_BOOL, TG_SHAPE(1, 1, 1)), "tensor([[[True]]])");
  assert_prints(tg_zeros(TG_BOOL, TG_SHAPE(0, 3)), "tensor([], size=(0, 3), dtype=bool)");
  assert_prints(tg_zeros(TG_BOOL, TG_SHAPE(0)), "tensor([], dtype=bool)");
  assert_prints(tg_ones(TG_BOOL, TG_SHAPE(30)),
                "tensor([True, True, True, True, True, True, True, True, True, True, True, True,\n"
                "        True, True, True, True, True, True, True, True, True, True, True, True,\n"
                "        True, True, True, True, True, True])");
  assert_prints(tg_zeros(TG_BOOL, TG_SHAPE(2, 20)),
                "tensor([[False, False, False, False, False, False, False, False, False, False,\n"
                "         False, False, False, False, False, False, False, False, False, False],\n"
                "        [False, False, False, False, False, False, False, False, False, False,\n"
                "         False, False, False, False, False, False, False, False, False, False]])");
  assert_prints(tg_expand(tg_from_bool(TG_SHAPE(2, 1), (const bool[]){1, 0}), TG_SHAPE(2, 3)),
                "tensor([[ True,  True,  True],\n        [False, False, False]])");
  /* summarised: the width comes from the shown entries only */
  tg_tensor *big = tg_ones(TG_BOOL, TG_SHAPE(2000));
  assert_int_equal(tg_set(big, (const size_t[]){1000}, 0), 0);
  assert_prints(big, "tensor([True, True, True,  ..., True, True, True])");
  tg_tensor *big2 = tg_zeros(TG_BOOL, TG_SHAPE(1001));
  assert_int_equal(tg_set(big2, (const size_t[]){0}, 1), 0);
  assert_prints(big2, "tensor([ True, False, False,  ..., False, False, False])");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_zeros_ones_full),
      TG_TEST(test_from_data),
      TG_TEST(test_arange),
      TG_TEST(test_linspace),
      TG_TEST(test_eye),
      TG_TEST(test_rng_matches_reference),
      TG_TEST(test_rng_reproducible),
      TG_TEST(test_random_distributions),
      TG_TEST(test_reshape_view_shares_storage),
      TG_TEST(test_transpose_permute),
      TG_TEST(test_expand),
      TG_TEST(test_narrow_slice_select),
      TG_TEST(test_squeeze_unsqueeze),
      TG_TEST(test_is_contiguous_and_contiguous),
      TG_TEST(test_cat_stack),
      TG_TEST(test_to_dtype_and_clone),
      TG_TEST(test_item_get_set),
      TG_TEST(test_copy_and_accumulate),
      TG_TEST(test_print_basic),
      TG_TEST(test_print_widths_and_modes),
      TG_TEST(test_print_line_wrapping),
      TG_TEST(test_print_summarised),
      TG_TEST(test_print_buffer_and_stream),
      TG_TEST(test_bool_creation_and_access),
      TG_TEST(test_bool_copy_conversions),
      TG_TEST(test_write_into_overlapping_refused),
      TG_TEST(test_copy_from_overlapping_source),
      TG_TEST(test_print_bool),
  };
  int rc = cmocka_run_group_tests_name("tensor", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
