/* examples/custom_op (the extension API's worked example), run as a program
 * and its output checked against values computed here from the closed
 * forms of swish, y = x s with s = sigmoid(beta x):
 *   dy/dx   = s + beta x s (1 - s)
 *   d2y/dx2 = beta s (1 - s) (2 + beta x (1 - 2 s))
 * and, for the training steps, the same SGD loop in plain double
 * arithmetic with those derivatives (no tapegrad). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "tg_test.h"
#include "example_util.h"

#define BETA 1.5

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }
static double f0(double x) { return x * sig(BETA * x); }
static double f1(double x) {
  double s = sig(BETA * x);
  return s + BETA * x * s * (1 - s);
}
static double f2(double x) {
  double s = sig(BETA * x);
  return BETA * s * (1 - s) * (2 + BETA * x * (1 - 2 * s));
}

static void test_custom_op_derivatives(void **state) {
  (void)state;
  const char *out = example_run("custom_op", NULL, NULL);
  const double x[5] = {-2, -0.5, 0, 1, 3};
  double v[5];
  example_numbers(out, "x       =", v, 5);
  for (int i = 0; i < 5; i++) assert_close(v[i], x[i], 0);
  example_numbers(out, "y       =", v, 5);
  for (int i = 0; i < 5; i++) assert_close(v[i], f0(x[i]), 1e-15);
  example_numbers(out, "dy/dx   =", v, 5);
  for (int i = 0; i < 5; i++) assert_close(v[i], f1(x[i]), 1e-14);
  example_numbers(out, "d2y/dx2 =", v, 5);
  for (int i = 0; i < 5; i++) assert_close(v[i], f2(x[i]), 1e-14);
  /* the first derivative has history of its own: the backward was recorded */
  assert_non_null(strstr(out, "grad_fn of y: SwishBackward, of dy/dx: MulBackward\n"));
  assert_non_null(strstr(out, "gradcheck (float64, 3x4 non-contiguous): ok\n"));
  assert_non_null(strstr(out, "gradgradcheck (float64): ok\n"));
  assert_close(example_number(out, "under no_grad: y = "), f0(2.0), 1e-15);
  assert_non_null(strstr(out, ", grad_fn None\n"));
}

static void test_custom_op_training(void **state) {
  (void)state;
  const char *out = example_run("custom_op", NULL, NULL);
  double xs[8], ts[8], w = 0.5, b = 0.1;
  for (int i = 0; i < 8; i++) {
    xs[i] = i / 4.0 - 1.0;
    ts[i] = 0.5 * xs[i] * xs[i];
  }
  const char *at = out;
  for (int step = 0; step <= 20; step++) {
    double loss = 0, gw = 0, gb = 0;
    for (int i = 0; i < 8; i++) {
      double z = w * xs[i] + b, r = f0(z) - ts[i];
      loss += r * r / 8;
      gw += 2 * r * f1(z) * xs[i] / 8;
      gb += 2 * r * f1(z) / 8;
    }
    if (step % 5 == 0) {
      char head[32];
      snprintf(head, sizeof head, "step %2d: loss ", step);
      double v[5];
      /* "loss L  w W  b B": the words between are skipped by hand */
      const char *s = example_line_after(at, head);
      char *end;
      v[0] = strtod(s, &end);
      assert_true(sscanf(end, "  w %lf  b %lf", &v[1], &v[2]) == 2);
      assert_rel_close(v[0], loss, 1e-10);
      assert_rel_close(v[1], w, 1e-10);
      assert_rel_close(v[2], b, 1e-10);
      at = s;
    }
    w -= 0.5 * gw;
    b -= 0.5 * gb;
  }
  /* the fit improves: 0.078 at the start (the line above checks the value) */
  assert_true(example_number(out, "step 20: loss ") < 0.5 * example_number(out, "step  0: loss "));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_custom_op_derivatives, test_setup, example_teardown),
      cmocka_unit_test_setup_teardown(test_custom_op_training, test_setup, example_teardown),
  };
  int rc = cmocka_run_group_tests_name("examples_custom_op", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
