/* The pooling and resampling modules of nn/pool.c: PyTorch's type names,
 * no parameters, the same results as the functions of ops/ they wrap
 * (checked against values worked out by hand), train/eval alike, inside
 * Sequential with a backward, and their errors. */
#include <string.h>

#include "tg_test.h"

static void assert_same(const tg_tensor *a, const tg_tensor *b) {
  assert_non_null(a);
  assert_non_null(b);
  assert_true(tg_same_shape(a, b));
  for (size_t i = 0; i < a->numel; i++) assert_close(tg_get_flat(a, i), tg_get_flat(b, i), 0);
}

static void test_modules_match_functions(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 9);
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(2, 4, 6, 5));
  const size_t k[] = {3, 2}, st[] = {2, 1}, p[] = {1, 1}, d[] = {1, 2}, o[] = {2, 3}, sz[] = {7, 4};
  const double sf[] = {1.5, 2};
  struct {
    tg_module *m;
    const char *type;
    tg_tensor *want;
  } cases[] = {
      {tg_nn_maxpool2d(k, st, p, d, true), "MaxPool2d", tg_max_pool2d(x, k, st, p, d, true, NULL)},
      {tg_nn_maxpool2d(k, NULL, NULL, NULL, false), "MaxPool2d", tg_max_pool2d(x, k, k, NULL, NULL, false, NULL)},
      {tg_nn_avgpool2d(k, st, p, true, false, 0), "AvgPool2d", tg_avg_pool2d(x, k, st, p, true, false, 0)},
      {tg_nn_avgpool2d(k, NULL, NULL, false, true, 4), "AvgPool2d", tg_avg_pool2d(x, k, NULL, NULL, false, true, 4)},
      {tg_nn_adaptive_avgpool2d(o), "AdaptiveAvgPool2d", tg_adaptive_avg_pool2d(x, o)},
      {tg_nn_upsample(2, sz, NULL, TG_INTERP_BILINEAR, true), "Upsample", tg_interpolate(x, sz, NULL, TG_INTERP_BILINEAR, true)},
      {tg_nn_upsample(2, NULL, sf, TG_INTERP_NEAREST, false), "Upsample", tg_interpolate(x, NULL, sf, TG_INTERP_NEAREST, false)},
      {tg_nn_pixel_shuffle(2), "PixelShuffle", tg_pixel_shuffle(x, 2)},
      {tg_nn_pixel_unshuffle(1), "PixelUnshuffle", tg_pixel_unshuffle(x, 1)},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tg_module *m = cases[i].m;
    assert_non_null(m);
    assert_string_equal(m->type, cases[i].type);
    size_t n = 99;
    assert_non_null(tg_module_parameters(m, &n));
    assert_int_equal(n, 0);
    assert_same(tg_module_forward(m, x), cases[i].want);
    tg_module_eval(m);
    assert_same(tg_module_forward(m, x), cases[i].want);
    tg_module_free(m);
  }
}

/* values by hand: 2x2 max pool, then 2x nearest upsampling, then a mean */
static void test_in_sequential(void **s) {
  (void)s;
  tg_tensor *x = tg_requires_grad_(
      tg_from_f64(TG_SHAPE(1, 1, 2, 4), (double[]){1, 5, 2, 0, 3, 4, 8, 6}), true);
  tg_module *net = tg_nn_sequential(3, tg_nn_maxpool2d((const size_t[]){2, 2}, NULL, NULL, NULL, false),
                                    tg_nn_upsample(2, NULL, (const double[]){2, 2}, TG_INTERP_NEAREST, false),
                                    tg_nn_adaptive_avgpool2d((const size_t[]){1, 1}));
  assert_non_null(net);
  tg_tensor *y = tg_module_forward(net, x);
  assert_non_null(y);
  assert_int_equal(y->numel, 1);
  assert_close(tg_item(y), 6.5, 1e-15); /* mean of 5 and 8 */
  assert_int_equal(tg_backward(y, NULL, false), 0);
  const double want[] = {0, 0.5, 0, 0, 0, 0, 0.5, 0};
  for (size_t i = 0; i < 8; i++) assert_close(tg_get_flat(x->grad, i), want[i], 1e-15);
  tg_module_free(net);
}

static void test_module_errors(void **s) {
  (void)s;
  const size_t k[] = {2, 2}, big[] = {9, 9};
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 4, 4));
  assert_null(tg_nn_maxpool2d(NULL, NULL, NULL, NULL, false));
  assert_non_null(strstr(tg_last_error(), "kernel_size is NULL"));
  assert_null(tg_nn_avgpool2d(NULL, NULL, NULL, false, true, 0));
  assert_null(tg_nn_adaptive_avgpool2d(NULL));
  assert_non_null(strstr(tg_last_error(), "output_size is NULL"));
  assert_null(tg_nn_upsample(2, NULL, NULL, TG_INTERP_NEAREST, false));
  assert_non_null(strstr(tg_last_error(), "either size or scale_factor"));
  assert_null(tg_nn_upsample(2, k, (const double[]){2, 2}, TG_INTERP_NEAREST, false));
  assert_non_null(strstr(tg_last_error(), "only one of size or scale_factor"));
  assert_null(tg_nn_upsample(3, k, NULL, TG_INTERP_NEAREST, false));
  assert_null(tg_nn_pixel_shuffle(1L << 40));
  tg_clear_error();
  /* settings are checked when run, as PyTorch */
  tg_module *m = tg_nn_maxpool2d(big, NULL, NULL, NULL, false);
  assert_non_null(m);
  assert_null(tg_module_forward(m, x));
  assert_non_null(strstr(tg_last_error(), "Output size is too small"));
  tg_module_free(m);
  m = tg_nn_upsample(1, (const size_t[]){3}, NULL, TG_INTERP_LINEAR, false);
  assert_null(tg_module_forward(m, x));
  assert_non_null(strstr(tg_last_error(), "built for 1 spatial dims"));
  tg_module_free(m);
  m = tg_nn_pixel_shuffle(0);
  assert_null(tg_module_forward(m, x));
  assert_non_null(strstr(tg_last_error(), "positive upscale_factor"));
  tg_module_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_modules_match_functions),
      TG_TEST(test_in_sequential),
      TG_TEST(test_module_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
