/* The pooling and resampling modules (nn/pool.c): PyTorch's type names, no
 * parameters or buffers, forward identical to the functional op with the
 * module's hyper-parameters (stride NULL = the kernel, as torch), gradients
 * through a module, and the constructor's errors. */
#include "tg_test.h"

static tg_tensor *image(tg_rng *r, size_t n, size_t c, size_t h, size_t w) {
  return test_leaf(r, 4, (size_t[]){n, c, h, w});
}

static void assert_stateless(tg_module *m, const char *type) {
  assert_non_null(m);
  assert_string_equal(m->type, type);
  assert_int_equal(m->n_params, 0);
  assert_int_equal(m->n_buffers, 0);
  tg_state_dict *sd = tg_module_state_dict(m);
  assert_int_equal(sd->n, 0);
  tg_state_dict_free(sd);
}

static void test_nn_maxpool(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 5);
  tg_tensor *x = image(&r, 2, 3, 9, 8);
  const int64_t k[2] = {3, 2}, st[2] = {2, 1}, pad[2] = {1, 1}, dil[2] = {1, 2};
  tg_module *m = tg_nn_maxpool2d(k, st, pad, dil, true);
  assert_stateless(m, "MaxPool2d");
  test_assert_identical(tg_module_forward(m, x), tg_max_pool2d(x, k, st, pad, dil, true, NULL));
  tg_module_free(m);
  /* torch's MaxPool2d(2): stride = kernel */
  m = tg_nn_maxpool2d((const int64_t[]){2, 2}, NULL, NULL, NULL, false);
  tg_tensor *y = tg_module_forward(m, x);
  assert_int_equal(y->shape[2], 4);
  assert_int_equal(y->shape[3], 4);
  test_assert_identical(y, tg_max_pool2d(x, (const int64_t[]){2, 2}, (const int64_t[]){2, 2}, NULL,
                                         NULL, false, NULL));
  /* the gradient reaches the input: one 1 per window at its maximum */
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  double total = 0;
  for (size_t i = 0; i < x->grad->numel; i++) total += tg_get_flat(x->grad, i);
  assert_close(total, (double)y->numel, 0);
  tg_module_free(m);
  tg_tensor *x1 = test_leaf(&r, 3, (size_t[]){2, 3, 11});
  m = tg_nn_maxpool1d(3, (const int64_t[]){2}, 1, 2, false);
  assert_stateless(m, "MaxPool1d");
  test_assert_identical(tg_module_forward(m, x1), tg_max_pool1d(x1, 3, (const int64_t[]){2}, 1, 2, false, NULL));
  tg_module_free(m);
}

static void test_nn_avgpool(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 6);
  tg_tensor *x = image(&r, 2, 2, 7, 9);
  const int64_t k[2] = {3, 3}, pad[2] = {1, 0};
  tg_module *m = tg_nn_avgpool2d(k, NULL, pad, true, false, 0);
  assert_stateless(m, "AvgPool2d");
  test_assert_identical(tg_module_forward(m, x), tg_avg_pool2d(x, k, k, pad, true, false, 0));
  tg_module_free(m);
  m = tg_nn_avgpool2d(k, (const int64_t[]){2, 1}, NULL, false, true, 5);
  test_assert_identical(tg_module_forward(m, x),
                        tg_avg_pool2d(x, k, (const int64_t[]){2, 1}, NULL, false, true, 5));
  tg_module_free(m);
  tg_tensor *x1 = test_leaf(&r, 3, (size_t[]){1, 2, 10});
  m = tg_nn_avgpool1d(4, NULL, 2, false, true);
  assert_stateless(m, "AvgPool1d");
  test_assert_identical(tg_module_forward(m, x1), tg_avg_pool1d(x1, 4, NULL, 2, false, true));
  tg_module_free(m);
}

static void test_nn_adaptive_and_resampling(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 7);
  tg_tensor *x = image(&r, 2, 4, 7, 5);
  tg_module *m = tg_nn_adaptive_avgpool2d((const int64_t[]){3, 2});
  assert_stateless(m, "AdaptiveAvgPool2d");
  test_assert_identical(tg_module_forward(m, x), tg_adaptive_avg_pool2d(x, (const int64_t[]){3, 2}));
  tg_module_free(m);
  m = tg_nn_adaptive_maxpool2d((const int64_t[]){1, 1});
  assert_stateless(m, "AdaptiveMaxPool2d");
  test_assert_identical(tg_module_forward(m, x), tg_adaptive_max_pool2d(x, (const int64_t[]){1, 1}, NULL));
  tg_module_free(m);
  m = tg_nn_upsample(NULL, (const double[]){2, 3}, TG_INTERP_BILINEAR, true);
  assert_stateless(m, "Upsample");
  test_assert_identical(tg_module_forward(m, x),
                        tg_interpolate(x, NULL, (const double[]){2, 3}, TG_INTERP_BILINEAR, true));
  tg_module_free(m);
  m = tg_nn_upsample((const int64_t[]){9, 4}, NULL, TG_INTERP_NEAREST, false);
  test_assert_identical(tg_module_forward(m, x),
                        tg_interpolate(x, (const int64_t[]){9, 4}, NULL, TG_INTERP_NEAREST, false));
  tg_module_free(m);
  /* 1-d input (N, C, L): the first entry of size / scale_factor, as
   * nn.Upsample(scale_factor=2.5, mode="linear") on (2, 4, 5) -> (2, 4, 12) */
  tg_tensor *x1 = tg_randn(&r, TG_FLOAT32, 3, (size_t[]){2, 4, 5});
  m = tg_nn_upsample(NULL, (const double[]){2.5, 2.5}, TG_INTERP_LINEAR, false);
  tg_tensor *y1 = tg_module_forward(m, x1);
  assert_non_null(y1);
  assert_int_equal(y1->shape[2], 12);
  test_assert_identical(y1, tg_interpolate(x1, NULL, (const double[]){2.5}, TG_INTERP_LINEAR, false));
  tg_module_free(m);
  m = tg_nn_upsample((const int64_t[]){7, 7}, NULL, TG_INTERP_NEAREST, false);
  test_assert_identical(tg_module_forward(m, x1), tg_interpolate(x1, (const int64_t[]){7}, NULL, TG_INTERP_NEAREST, false));
  tg_module_free(m);
  m = tg_nn_pixel_shuffle(2);
  assert_stateless(m, "PixelShuffle");
  tg_tensor *y = tg_module_forward(m, x);
  test_assert_identical(y, tg_pixel_shuffle(x, 2));
  tg_module_free(m);
  m = tg_nn_pixel_unshuffle(2);
  assert_stateless(m, "PixelUnshuffle");
  test_assert_identical(tg_module_forward(m, y), x); /* the inverse */
  tg_module_free(m);
}

static void test_nn_pool_errors(void **s) {
  (void)s;
  const int64_t k[2] = {2, 2};
  assert_fails(tg_nn_maxpool2d(NULL, NULL, NULL, NULL, false), "kernel_size is NULL");
  assert_fails(tg_nn_maxpool2d((const int64_t[]){0, 2}, NULL, NULL, NULL, false),
                    "kernel_size must be positive, got 0");
  assert_fails(tg_nn_maxpool2d(k, (const int64_t[]){1, -1}, NULL, NULL, false),
                    "stride must be positive, got -1");
  assert_fails(tg_nn_maxpool2d(k, NULL, (const int64_t[]){-1, 0}, NULL, false),
                    "padding must be non-negative, got -1");
  assert_fails(tg_nn_maxpool2d(k, NULL, NULL, (const int64_t[]){0, 1}, false),
                    "dilation must be positive, got 0");
  assert_fails(tg_nn_maxpool1d(-3, NULL, 0, 1, false), "nn_maxpool1d: kernel_size must be positive");
  assert_fails(tg_nn_avgpool1d(2, (const int64_t[]){0}, 0, false, true), "stride must be positive");
  assert_fails(tg_nn_adaptive_avgpool2d(NULL), "output_size is NULL");
  assert_fails(tg_nn_adaptive_maxpool2d((const int64_t[]){2, -1}), "output_size must be non-negative");
  assert_fails(tg_nn_upsample(NULL, NULL, TG_INTERP_NEAREST, false), "either size or scale_factor");
  assert_fails(tg_nn_upsample(k, (const double[]){2, 2}, TG_INTERP_NEAREST, false), "not both");
  assert_fails(tg_nn_upsample(NULL, (const double[]){2, 0}, TG_INTERP_BILINEAR, false),
                    "scale_factor must be positive");
  assert_fails(tg_nn_upsample(k, NULL, TG_INTERP_NEAREST, true), "align_corners");
  assert_fails(tg_nn_pixel_shuffle(0), "nn_pixel_shuffle: the factor must be positive");
  assert_fails(tg_nn_pixel_unshuffle(-2), "nn_pixel_unshuffle");
  /* a module built fine still reports the op's errors at forward */
  tg_module *m = tg_nn_maxpool2d((const int64_t[]){5, 5}, NULL, NULL, NULL, false);
  assert_fails(tg_module_forward(m, tg_zeros(TG_FLOAT32, TG_SHAPE(1, 1, 3, 3))), "max_pool2d");
  tg_module_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_nn_maxpool),
      TG_TEST(test_nn_avgpool),
      TG_TEST(test_nn_adaptive_and_resampling),
      TG_TEST(test_nn_pool_errors),
  };
  int rc = cmocka_run_group_tests_name("nn_pool", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
