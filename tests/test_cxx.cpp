// tapegrad.h from C++ (README "Installing"): compiled as C++11 with -Wall
// -Wextra -Werror -pedantic and linked against the shared library, so a
// missing extern "C" (a mangled name the library does not have), a C-only
// construct in a header or an unexported symbol fails the build. Each layer
// is called once; the expected values come from arithmetic done here.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cmath>
#include <cstdint>

extern "C" {
#include <cmocka.h>
}

#include "tapegrad.h"

static int teardown(void **state) {
  (void)state;
  tg_release_cached();
  return 0;
}

// L = (x + y) * z at x = -2, y = 5, z = -4: L = -12, dL/dx = dL/dy = z, dL/dz = x + y
static void test_tensor_and_backward(void **state) {
  (void)state;
  assert_int_equal(tg_scope_begin(), 0);
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT64, -2), true);
  tg_tensor *y = tg_requires_grad_(tg_scalar(TG_FLOAT64, 5), true);
  tg_tensor *z = tg_requires_grad_(tg_scalar(TG_FLOAT64, -4), true);
  tg_tensor *L = tg_mul(tg_add(x, y), z);
  assert_non_null(L);
  assert_int_equal(tg_backward(L, NULL, false), 0);
  assert_true(tg_item(L) == -12.0);
  assert_true(tg_item(x->grad) == -4.0);
  assert_true(tg_item(y->grad) == -4.0);
  assert_true(tg_item(z->grad) == 3.0);
  assert_int_equal(tg_scope_end(), 0);
  // an error from C++: the message names the function
  assert_null(tg_add(NULL, NULL));
  assert_true(tg_has_error());
  tg_clear_error();
}

// Linear(3, 2) with weights set here, sum of its output, one SGD step:
// out = W x + b, dL/dW[o][i] = x[i], dL/db[o] = 1, p <- p - lr * grad
static void test_module_and_sgd(void **state) {
  (void)state;
  tg_rng rng;
  tg_rng_seed(&rng, 1);
  tg_module *lin = tg_nn_linear(3, 2, true, &rng);
  assert_non_null(lin);
  size_t n = 0;
  tg_tensor **p = tg_module_parameters(lin, &n);
  assert_non_null(p);
  assert_int_equal(n, 2);
  const float w[6] = {0.5f, -1.0f, 2.0f, 0.25f, 0.0f, -0.5f}, b[2] = {1.0f, -2.0f};
  float *pw = tg_data_f32(p[0]), *pb = tg_data_f32(p[1]);
  for (int i = 0; i < 6; i++) pw[i] = w[i];
  for (int i = 0; i < 2; i++) pb[i] = b[i];

  tg_sgd_opts o = tg_sgd_defaults();
  o.lr = 0.5;
  tg_optimizer *opt = tg_sgd_new(p, (int)n, o);
  assert_non_null(opt);
  const float xs[3] = {1.0f, 2.0f, 3.0f};
  const size_t xshape[2] = {1, 3};
  assert_int_equal(tg_scope_begin(), 0);
  tg_tensor *x = tg_from_f32(2, xshape, xs);
  tg_tensor *out = tg_module_forward(lin, x);
  assert_non_null(out);
  for (int j = 0; j < 2; j++) {
    double want = b[j];
    for (int i = 0; i < 3; i++) want += (double)w[j * 3 + i] * xs[i];
    assert_true(std::fabs(tg_get_flat(out, (size_t)j) - want) < 1e-6);
  }
  assert_int_equal(tg_backward(tg_sum(out), NULL, false), 0);
  assert_int_equal(tg_optim_step(opt), 0);
  assert_int_equal(tg_scope_end(), 0);
  for (int j = 0; j < 2; j++) {
    for (int i = 0; i < 3; i++) assert_true(std::fabs(pw[j * 3 + i] - (w[j * 3 + i] - 0.5f * xs[i])) < 1e-6);
    assert_true(std::fabs(pb[j] - (b[j] - 0.5f)) < 1e-6);
  }
  tg_optim_free(opt);
  tg_module_free(lin);
}

// 4 samples of shape [2] in order through a loader of batch 2
static void test_dataset_and_loader(void **state) {
  (void)state;
  const float data[8] = {0, 1, 10, 11, 20, 21, 30, 31};
  const int64_t labels[4] = {3, 1, 4, 1};
  const size_t shape[1] = {2};
  tg_dataset *ds = tg_dataset_from_floats(4, 1, shape, data, labels);
  assert_non_null(ds);
  tg_loader *l = tg_loader_new(ds, 2, false, false, 0);
  assert_non_null(l);
  assert_int_equal(tg_loader_num_batches(l), 2);
  tg_tensor *x = NULL, *y = NULL;
  for (int batch = 0; batch < 2; batch++) {
    assert_true(tg_loader_next(l, &x, &y));
    assert_int_equal(x->shape[0], 2);
    for (size_t k = 0; k < 4; k++) assert_true(tg_get_flat(x, k) == data[batch * 4 + k]);
    for (size_t k = 0; k < 2; k++) assert_true(tg_get_flat(y, k) == (double)labels[batch * 2 + k]);
  }
  assert_false(tg_loader_next(l, &x, &y));
  assert_false(tg_loader_failed(l));
  tg_loader_free(l);
  tg_dataset_free(ds);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_tensor_and_backward, teardown),
      cmocka_unit_test_teardown(test_module_and_sgd, teardown),
      cmocka_unit_test_teardown(test_dataset_and_loader, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
