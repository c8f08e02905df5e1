/* The conv modules (nn/conv.c): PyTorch's parameter names and shapes,
 * its default initialisation bounds, forward equal to the functional op
 * with the module's parameters, gradients reaching the parameters, and the
 * constructor's errors. */
#include <string.h>

#include "tg_test.h"

/* |t| within bound everywhere, and filling it (the largest above 0.7 of it) */
static void assert_uniform_within(const tg_tensor *t, double bound) {
  double top = 0;
  for (size_t i = 0; i < t->numel; i++) {
    double v = fabs(tg_get_flat(t, i));
    if (v > bound) fail_msg("element %zu = %g beyond the bound %g", i, v, bound);
    top = v > top ? v : top;
  }
  if (top < 0.7 * bound) fail_msg("largest |element| %g, far below the bound %g", top, bound);
}

static void assert_shape(const tg_tensor *t, int ndim, const size_t *shape) {
  assert_non_null(t);
  assert_int_equal(t->ndim, ndim);
  for (int d = 0; d < ndim; d++) assert_int_equal(t->shape[d], shape[d]);
}

static void assert_same_values(const tg_tensor *a, const tg_tensor *b) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->numel, b->numel);
  for (size_t i = 0; i < a->numel; i++) assert_close(tg_get_flat(a, i), tg_get_flat(b, i), 0);
}

static void test_nn_conv2d(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 31);
  const int64_t k[2] = {5, 5}, pad[2] = {2, 2};
  tg_module *m = tg_nn_conv2d(3, 6, k, NULL, pad, NULL, 1, true, &r);
  assert_non_null(m);
  assert_string_equal(m->type, "Conv2d");
  tg_state_dict *sd = tg_module_state_dict(m);
  assert_int_equal(sd->n, 2);
  assert_string_equal(sd->entries[0].name, "weight");
  assert_string_equal(sd->entries[1].name, "bias");
  tg_state_dict_free(sd);
  tg_tensor *w = tg_module_get(m, "weight"), *b = tg_module_get(m, "bias");
  assert_shape(w, 4, (size_t[]){6, 3, 5, 5});
  assert_shape(b, 1, (size_t[]){6});
  assert_int_equal(w->dtype, TG_FLOAT32);
  assert_uniform_within(w, 1 / sqrt(75.0)); /* fan_in 3 * 5 * 5 */
  for (size_t i = 0; i < b->numel; i++) assert_true(fabs(tg_get_flat(b, i)) <= 1 / sqrt(75.0));
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, 4, (size_t[]){2, 3, 8, 8});
  tg_tensor *y = tg_module_forward(m, x);
  assert_shape(y, 4, (size_t[]){2, 6, 8, 8});
  assert_same_values(y, tg_conv2d(x, w, b, NULL, pad, NULL, 1));
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  assert_non_null(w->grad);
  /* d sum(y) / d b = the number of output positions per channel */
  assert_close(tg_get_flat(b->grad, 0), 2 * 8 * 8, 1e-3);
  tg_module_free(m);
  /* depthwise, strided, no bias */
  m = tg_nn_conv2d(4, 8, (int64_t[]){3, 1}, (int64_t[]){2, 1}, NULL, (int64_t[]){1, 1}, 4, false, &r);
  assert_non_null(m);
  assert_int_equal(m->n_params, 1);
  assert_null(tg_module_get(m, "bias"));
  assert_shape(tg_module_get(m, "weight"), 4, (size_t[]){8, 1, 3, 1});
  assert_uniform_within(tg_module_get(m, "weight"), 1 / sqrt(3.0));
  assert_shape(tg_module_forward(m, tg_randn(&r, TG_FLOAT32, 4, (size_t[]){1, 4, 7, 5})), 4, (size_t[]){1, 8, 3, 5});
  tg_module_free(m);
}

/* Conv2d/Conv1d(padding="same" | "valid"): the op with the same string,
 * "same" keeping the size for an even kernel and dilation (torch puts the
 * odd padding on the right), the modes' errors as torch's */
static void test_nn_conv_padding_modes(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 37);
  const int64_t k[2] = {4, 3}, d[2] = {2, 1};
  tg_module *m = tg_nn_conv2d_padding(3, 5, k, NULL, "same", d, 1, true, &r);
  assert_non_null(m);
  assert_string_equal(m->type, "Conv2d");
  tg_tensor *w = tg_module_get(m, "weight"), *b = tg_module_get(m, "bias");
  assert_shape(w, 4, (size_t[]){5, 3, 4, 3});
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, 4, (size_t[]){2, 3, 9, 7});
  tg_tensor *y = tg_module_forward(m, x);
  assert_shape(y, 4, (size_t[]){2, 5, 9, 7});
  assert_same_values(y, tg_conv2d_padding(x, w, b, NULL, "same", d, 1));
  tg_module_free(m);
  m = tg_nn_conv1d_padding(2, 4, 3, 2, "valid", 1, 1, false, &r);
  assert_non_null(m);
  tg_tensor *x1 = tg_randn(&r, TG_FLOAT32, 3, (size_t[]){1, 2, 11});
  y = tg_module_forward(m, x1);
  assert_shape(y, 3, (size_t[]){1, 4, 5});
  assert_same_values(y, tg_conv1d(x1, tg_module_get(m, "weight"), NULL, 2, 0, 1, 1));
  tg_module_free(m);
  m = tg_nn_conv1d_padding(2, 4, 4, 1, "same", 1, 1, true, &r);
  assert_shape(tg_module_forward(m, x1), 3, (size_t[]){1, 4, 11});
  tg_module_free(m);
  assert_null(tg_nn_conv2d_padding(3, 5, k, NULL, "full", NULL, 1, true, &r));
  assert_non_null(strstr(tg_last_error(), "Invalid padding string 'full'"));
  assert_null(tg_nn_conv1d_padding(2, 4, 3, 2, "same", 1, 1, true, &r));
  assert_non_null(strstr(tg_last_error(), "padding='same' is not supported for strided convolutions"));
}

static void test_nn_conv1d_transpose(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 32);
  tg_module *m = tg_nn_conv1d(4, 6, 3, 2, 1, 1, 2, true, &r);
  assert_non_null(m);
  assert_string_equal(m->type, "Conv1d");
  tg_tensor *w = tg_module_get(m, "weight"), *b = tg_module_get(m, "bias");
  assert_shape(w, 3, (size_t[]){6, 2, 3});
  assert_uniform_within(w, 1 / sqrt(6.0));
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, 2, (size_t[]){4, 9}); /* unbatched */
  tg_tensor *y = tg_module_forward(m, x);
  assert_shape(y, 2, (size_t[]){6, 5});
  assert_same_values(y, tg_conv1d(x, w, b, 2, 1, 1, 2));
  tg_module_free(m);
  /* ConvTranspose2d: weight (in, out / groups, k), fan_in from its dim 1 */
  m = tg_nn_conv_transpose2d(4, 6, (int64_t[]){3, 3}, (int64_t[]){2, 2}, (int64_t[]){1, 1}, (int64_t[]){1, 1}, 2,
                             true, NULL, &r);
  assert_non_null(m);
  assert_string_equal(m->type, "ConvTranspose2d");
  w = tg_module_get(m, "weight"), b = tg_module_get(m, "bias");
  assert_shape(w, 4, (size_t[]){4, 3, 3, 3});
  assert_shape(b, 1, (size_t[]){6});
  assert_uniform_within(w, 1 / sqrt(27.0));
  tg_tensor *x2 = tg_randn(&r, TG_FLOAT32, 4, (size_t[]){2, 4, 5, 6});
  y = tg_module_forward(m, x2);
  assert_shape(y, 4, (size_t[]){2, 6, 10, 12}); /* (H - 1) 2 - 2 + 3 + 1 */
  assert_same_values(y, tg_conv_transpose2d(x2, w, b, (int64_t[]){2, 2}, (int64_t[]){1, 1}, (int64_t[]){1, 1}, 2, NULL));
  tg_module_free(m);
}

static void test_nn_conv_errors(void **s) {
  (void)s;
  const int64_t k[2] = {3, 3};
  assert_fails(tg_nn_conv2d(3, 4, k, NULL, NULL, NULL, 2, true, NULL), "in_channels must be divisible by groups");
  assert_fails(tg_nn_conv2d(4, 3, k, NULL, NULL, NULL, 2, true, NULL), "out_channels must be divisible by groups");
  assert_fails(tg_nn_conv2d(4, 4, k, NULL, NULL, NULL, 0, true, NULL), "groups must be a positive integer");
  assert_fails(tg_nn_conv2d(4, 4, (int64_t[]){3, 0}, NULL, NULL, NULL, 1, true, NULL), "kernel_size must be positive");
  assert_fails(tg_nn_conv1d(4, 4, 0, 1, 0, 1, 1, true, NULL), "kernel_size must be positive");
  assert_fails(tg_nn_conv_transpose2d(4, 4, NULL, NULL, NULL, NULL, 1, true, NULL, NULL), "kernel_size is NULL");
  /* a bad input fails in the forward, naming the op */
  tg_module *m = tg_nn_conv2d(4, 4, k, NULL, NULL, NULL, 1, true, NULL);
  assert_fails(tg_module_forward(m, tg_zeros(TG_FLOAT32, 4, (size_t[]){1, 3, 5, 5})), "conv2d");
  tg_module_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_nn_conv2d),
      TG_TEST(test_nn_conv_padding_modes),
      TG_TEST(test_nn_conv1d_transpose),
      TG_TEST(test_nn_conv_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
