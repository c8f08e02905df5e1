/* The lectures' worked examples of issue 16, run as programs: each test
 * runs TG_BUILD_DIR/examples/<name>, captures what it prints, and checks it
 * against values worked out here (closed forms, hand loops), never copied
 * from the program's output. Printed inputs (random draws) are read back
 * and fed to the test's own computation. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <unistd.h>

#include "tg_test.h"
#include "example_util.h"

/* ------------------------------------------------------------ param_count */

static void check_mlp_count(const char *out, size_t d, size_t p, size_t k) {
  char head[64];
  snprintf(head, sizeof head, "MLP %zu-%zu-%zu", d, p, k);
  const char *s = example_line_after(out, head);
  size_t want = (d * p + p) + (p * k + k);
  assert_int_equal((size_t)example_number(s, "  parameters = "), want);
  /* each tensor: W1 p x d, b1 p, W2 k x p, b2 k */
  char row[96];
  snprintf(row, sizeof row, "  weight   [%zu, %zu] = %zu", p, d, p * d);
  example_line_after(s, row);
  snprintf(row, sizeof row, "  bias     [%zu] = %zu", k, k);
  example_line_after(s, row);
  snprintf(row, sizeof row, "  formula: (d*p + p) + (p*k + k) = (%zu + %zu) + (%zu + %zu) = ", d * p,
           p, p * k, k);
  assert_int_equal((size_t)example_number(s, row), d * p + p);
}

static void test_param_count(void **state) {
  (void)state;
  char *out = example_run("param_count", NULL, NULL);
  check_mlp_count(out, 100, 2000, 10);
  assert_int_equal((100 * 2000 + 2000) + (2000 * 10 + 10), 222010); /* the exam's answer */
  check_mlp_count(out, 784, 200, 10);
  assert_int_equal((784 * 200 + 200) + (200 * 10 + 10), 159010);
}

/* ------------------------------------------------------------ chain_composition */

static void test_chain_composition(void **state) {
  (void)state;
  char *out = example_run("chain_composition", NULL, NULL);
  for (int trial = 1; trial <= 3; trial++) {
    char head[32];
    snprintf(head, sizeof head, "trial %d", trial);
    const char *s = example_line_after(out, head);
    double w[6], u[2], grad[2], closed[2];
    example_numbers(s, "  W (row-major):", w, 6);
    example_numbers(s, "  u:", u, 2);
    example_numbers(s, "  closed form 4 u_k sum_j w_jk g_j(u):", closed, 2);
    example_numbers(s, "  autograd:", grad, 2);
    /* g_p = sum_q w_pq u_q^2, f = sum_p g_p^2, and by the chain rule
     * df/du_k = sum_p 2 g_p * 2 w_pk u_k */
    double g[3], f = 0;
    for (int p = 0; p < 3; p++) {
      g[p] = w[2 * p] * u[0] * u[0] + w[2 * p + 1] * u[1] * u[1];
      f += g[p] * g[p];
    }
    assert_rel_close(example_number(s, "  f(g(u)):"), f, 1e-14);
    for (int k = 0; k < 2; k++) {
      double want = 0;
      for (int p = 0; p < 3; p++) want += 2 * g[p] * 2 * w[2 * p + k] * u[k];
      assert_rel_close(grad[k], want, 1e-12);
      assert_rel_close(closed[k], want, 1e-12);
    }
    /* and central differences of f(u) agree with it */
    for (int k = 0; k < 2; k++) {
      double fd[2];
      for (int sgn = 0; sgn < 2; sgn++) {
        double v[2] = {u[0], u[1]}, acc = 0;
        v[k] += sgn ? -1e-6 : 1e-6;
        for (int p = 0; p < 3; p++) {
          double gp = w[2 * p] * v[0] * v[0] + w[2 * p + 1] * v[1] * v[1];
          acc += gp * gp;
        }
        fd[sgn] = acc;
      }
      assert_true(fabs((fd[0] - fd[1]) / 2e-6 - grad[k]) <= 1e-6 * fmax(1, fabs(grad[k])));
    }
  }
}

/* ------------------------------------------------------------ rate_of_change */

static double roc_f(double t) { return 10 + 5 * sin(M_PI * t / 2) + 5 * sin(M_PI * t); }

static void test_rate_of_change(void **state) {
  (void)state;
  char *out = example_run("rate_of_change", NULL, NULL);
  for (int t = 0; t <= 4; t++) {
    char prefix[16];
    snprintf(prefix, sizeof prefix, "t=%d ", t);
    double v[4];
    example_numbers(out, prefix, v, 4);
    double df = 5 * M_PI / 2 * cos(M_PI * t / 2) + 5 * M_PI * cos(M_PI * t);
    assert_true(fabs(v[0] - roc_f(t)) <= 1e-9);
    assert_true(fabs(v[1] - (roc_f(t + 1) - roc_f(t))) <= 1e-9);
    /* the small step: truncation h |f''|/2 <= h * 5 pi^2 (1/4 + 1)/2, plus
     * rounding, far below the 1e-4 allowed here */
    assert_true(fabs(v[2] - df) <= 1e-4);
    assert_true(fabs(v[3] - df) <= 1e-9);
  }
  /* t = 0: f' = 15 pi / 2 = 23.56 but the unit step sees f(1) - f(0) = 5 */
  assert_true(fabs(roc_f(1) - roc_f(0) - 5) < 1e-12);
}

/* ------------------------------------------------------------ numerical_gradient */

static void test_numerical_gradient(void **state) {
  (void)state;
  char *out = example_run("numerical_gradient", NULL, NULL);
  /* (4*3 + 4) + (2*4 + 2) parameters */
  assert_int_equal((int)example_number(out, "parameters: "), 4 * 3 + 4 + 2 * 4 + 2);
  double one64 = example_number(out, "relative error, one-sided float64: ");
  double one32 = example_number(out, "relative error, one-sided float32: ");
  double central = example_number(out, "relative error, central float64: ");
  const double eps = 1e-5, u64 = 0x1p-53, u32 = 0x1p-24;
  /* one-sided: truncation eps |L''| / 2 dominates, O(eps) relative, and is
   * not zero (the loss is not linear in the parameters) */
  assert_true(one64 < 100 * eps && one64 > 1e-3 * eps);
  /* central: O(eps^2) truncation plus u64 |L| / eps rounding */
  assert_true(central < 100 * (eps * eps + u64 / eps));
  assert_true(central < one64 / 100);
  /* float32: rounding u32 |L| / eps ~ 4e-3 per entry dominates truncation */
  assert_true(one32 > (u32 / eps) / 100 && one32 < 1);
  assert_true(one32 > 100 * one64);
  /* the first table row is the backprop gradient and the same entry's estimates */
  double row[4];
  example_numbers(out, "W1[0] ", row, 4);
  assert_true(fabs(row[3] - row[0]) < 1e-8 && fabs(row[1] - row[0]) < 1e-5);
}

/* ------------------------------------------------------------ init_symmetry */

static void test_init_symmetry(void **state) {
  (void)state;
  char *out = example_run("init_symmetry", NULL, NULL);
  /* zeros: h = tanh(0) = 0 and the logits are 0, so the loss is ln 2 for two
   * classes and dL/dW1 = ((delta W2) * tanh') x = 0 because W2 = 0. A
   * constant c: W2's rows are equal, so both logits are equal (loss ln 2)
   * and dL/dh = sum_c delta_c c = 0 because delta sums to 0 over classes. */
  const char *lines[2] = {"zeros: loss ", "constant 0.5: loss "};
  for (int i = 0; i < 2; i++) {
    assert_true(fabs(example_number(out, lines[i]) - log(2.0)) < 1e-6);
    const char *s = example_line_after(out, lines[i]);
    assert_true(fabs(example_number(strstr(s, "max |W1.grad| = "), "max |W1.grad| = ")) == 0);
  }
  const char *spread = "largest difference between hidden units' gradients = ";
  const char *after = "largest difference between hidden units' weights = ";
  const char *who[3] = {"zeros: ", "constant 0.5: ", "random: "};
  for (int i = 0; i < 3; i++) {
    const char *g = strstr(example_line_after(out, who[i]), spread);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%safter one epoch", who[i]);
    const char *w = strstr(example_line_after(out, prefix), after);
    assert_non_null(g);
    assert_non_null(w);
    double dg = example_number(g, spread), dw = example_number(w, after);
    if (i < 2) { /* symmetric: identical units stay identical, exactly */
      assert_true(dg == 0 && dw == 0);
    } else {
      assert_true(dg > 1e-3 && dw > 1e-3);
    }
  }
}

/* ------------------------------------------------------------ minibatch_epochs */

/* the loader's shuffle as the slide describes it: Fisher-Yates from the
 * top, j uniform in [0, i) without modulo bias, from a generator seeded 42 */
static size_t below(tg_rng *r, size_t bound) {
  uint64_t b = bound, reject = (0 - b) % b, v;
  do v = tg_rng_next(r);
  while (v < reject);
  return (size_t)(v % b);
}

static void test_minibatch_epochs(void **state) {
  (void)state;
  char *out = example_run("minibatch_epochs", NULL, NULL);
  tg_rng rng;
  tg_rng_seed(&rng, 42);
  const char *s = out;
  double w = 0; /* w <- w - 0.1 * 2 (w - mean(batch)) */
  assert_true(example_number(out, "10 items, batch size 3, ") == 3); /* floor(10 / 3) steps */
  for (int e = 1; e <= 3; e++) {
    int order[10];
    for (int i = 0; i < 10; i++) order[i] = i;
    for (size_t i = 10; i > 1; i--) {
      size_t j = below(&rng, i);
      int t = order[i - 1];
      order[i - 1] = order[j];
      order[j] = t;
    }
    char want[64];
    snprintf(want, sizeof want, "[Epoch %d]", e);
    s = example_line_after(s, want);
    for (int b = 0; b < 3; b++) { /* 10 / 3 = 3 full batches; item order[9] is dropped */
      const int *it = order + 3 * b;
      w -= 0.1 * 2 * (w - (it[0] + it[1] + it[2]) / 3.0);
      snprintf(want, sizeof want, "SGD step taken over [%d, %d, %d] -> w = ", it[0], it[1], it[2]);
      assert_true(fabs(example_number(s, want) - w) < 2e-6);
      s = example_line_after(s, want);
    }
    snprintf(want, sizeof want, "dropped this epoch: [%d]", order[9]);
    s = example_line_after(s, want);
  }
}

/* ------------------------------------------------------------ ema_momentum */

static double valley_loss(const double p[2]) { return 0.5 * (p[0] * p[0] + 50 * p[1] * p[1]); }

static void test_ema_momentum(void **state) {
  (void)state;
  char dir[] = "/tmp/tg_ema_momentum_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char arg[64], csv[128], png[128];
  snprintf(arg, sizeof arg, "'%s'", dir);
  snprintf(csv, sizeof csv, "%s/ema_momentum.csv", dir);
  snprintf(png, sizeof png, "%s/ema_momentum.png", dir);
  char *out = example_run("ema_momentum", NULL, arg);

  /* the averages, from the same seeded draws */
  tg_rng rng;
  tg_rng_seed(&rng, 1);
  double x[201], sum = 0, m = 0;
  for (int t = 1; t <= 200; t++) {
    x[t] = sin(2 * M_PI * t / 100) + 0.5 * tg_rng_normal(&rng);
    sum += x[t];
    m = 0.9 * m + 0.1 * x[t];
    if (t == 1 || t == 2 || t % 25 == 0) {
      char prefix[16];
      snprintf(prefix, sizeof prefix, "t=%-3d ", t);
      double v[4];
      example_numbers(out, prefix, v, 4);
      assert_true(fabs(v[0] - x[t]) < 1e-8);
      assert_true(fabs(v[2] - sum / t) < 1e-8); /* the running mean is the mean so far */
      assert_true(fabs(v[3] - m) < 1e-8);
    }
  }
  /* the m_t closed form: sum_s (1 - a) a^(t-s) x_s */
  double closed = 0;
  for (int s = 1; s <= 200; s++) closed += 0.1 * pow(0.9, 200 - s) * x[s];
  assert_true(fabs(closed - m) < 1e-12);

  /* the three descents by hand, in PyTorch's SGD rules */
  double p[3][2], buf[3][2], loss[3][101];
  for (int k = 0; k < 3; k++) p[k][0] = 10, p[k][1] = 1;
  for (int s = 0; s <= 100; s++)
    for (int k = 0; k < 3; k++) {
      loss[k][s] = valley_loss(p[k]);
      double g[2] = {p[k][0], 50 * p[k][1]};
      for (int i = 0; i < 2; i++) {
        double d = g[i];
        if (k > 0) {
          double damp = k == 2 ? 0.9 : 0;
          buf[k][i] = s == 0 ? g[i] : 0.9 * buf[k][i] + (1 - damp) * g[i];
          d = buf[k][i];
        }
        p[k][i] -= 0.03 * d;
      }
    }
  for (int s = 0; s <= 100; s += 10) {
    char prefix[16];
    snprintf(prefix, sizeof prefix, "step=%-3d ", s);
    double v[3];
    example_numbers(out, prefix, v, 3);
    for (int k = 0; k < 3; k++) assert_rel_close(v[k], loss[k][s], 1e-6);
  }
  assert_true(loss[1][100] < loss[2][100] && loss[2][100] < loss[0][100]);

  /* the log: a header and 101 rows, written exactly */
  FILE *f = fopen(csv, "r");
  assert_non_null(f);
  char line[256];
  int rows = 0;
  double last[4] = {0};
  assert_non_null(fgets(line, sizeof line, f));
  assert_string_equal(line, "step,plain,momentum,ema_momentum\n");
  while (fgets(line, sizeof line, f)) {
    assert_int_equal(sscanf(line, "%lf,%lf,%lf,%lf", &last[0], &last[1], &last[2], &last[3]), 4);
    rows++;
  }
  fclose(f);
  assert_int_equal(rows, 101);
  assert_true(last[0] == 100);
  for (int k = 0; k < 3; k++) assert_rel_close(last[k + 1], loss[k][100], 1e-12);
  assert_non_null(strstr(out, "plot written to ")); /* drawn by the library: never skipped */
  assert_int_equal(access(png, F_OK), 0);
  unlink(png);
  unlink(csv);
  assert_int_equal(rmdir(dir), 0);
}

/* ------------------------------------------------------------ fprop_bprop */

static void test_fprop_bprop(void **state) {
  (void)state;
  char *out = example_run("fprop_bprop", NULL, NULL);
  /* the hand-written bprops and the tape compute the same sums in a
   * different order: equal to a few ulps of values of order 1 */
  const char *diffs[] = {"Linear1 grad_W: max |bprop - tape| = ", "Linear1 grad_b: max |bprop - tape| = ",
                         "Linear2 grad_W: max |bprop - tape| = ", "Linear2 grad_b: max |bprop - tape| = ",
                         "grad_input: max |bprop - tape| = "};
  for (int i = 0; i < 5; i++) assert_true(example_number(out, diffs[i]) < 1e-14);
  /* softmax - onehot sums to 0 over the classes */
  assert_true(fabs(example_number(out, "sum of grad_b2 over the classes = ")) < 1e-15);
  assert_true(fabs(example_number(out, "largest row sum of grad_W2 = ")) < 1e-15);
  double loss = example_number(out, "loss = ");
  assert_true(loss > 0 && isfinite(loss));

  /* the Jacobian of tanh(x W + b) in closed form: J_ji = (1 - tanh(z_j)^2) W_ij */
  double W[12], b[4], x[3];
  example_numbers(out, "Linear1 W (3 x 4, row-major):", W, 12);
  example_numbers(out, "Linear1 b:", b, 4);
  example_numbers(out, "item 0:", x, 3);
  double worst_fd = 0;
  for (int j = 0; j < 4; j++) {
    double z = b[j];
    for (int i = 0; i < 3; i++) z += x[i] * W[i * 4 + j];
    double row[6], th = tanh(z);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "  J[%d]:", j);
    const char *s = example_line_after(out, prefix);
    for (int i = 0; i < 6; i++) {
      char *end;
      row[i] = strtod(s, &end);
      assert_true(end != s);
      s = end;
      if (i == 2) {
        s = strchr(s, '|');
        assert_non_null(s);
        s++;
      }
    }
    for (int i = 0; i < 3; i++) {
      double want = (1 - th * th) * W[i * 4 + j];
      assert_true(fabs(row[i] - want) < 1e-8);     /* bprop, printed to 8 places */
      assert_true(fabs(row[3 + i] - want) < 2e-8); /* the difference quotient too */
      worst_fd = fmax(worst_fd, fabs(row[3 + i] - want));
    }
  }
  /* central differences with h ~ 1.5e-8: rounding eps |f| / h ~ 1e-8 dominates */
  double check = example_number(out, "gradient check: max |J_fd - J_bprop| = ");
  assert_true(check < 1e-7 && check <= worst_fd + 1e-8);
}

#define EXAMPLE_TEST(fn) cmocka_unit_test_setup_teardown(fn, test_setup, example_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      EXAMPLE_TEST(test_param_count),
      EXAMPLE_TEST(test_chain_composition),
      EXAMPLE_TEST(test_rate_of_change),
      EXAMPLE_TEST(test_numerical_gradient),
      EXAMPLE_TEST(test_init_symmetry),
      EXAMPLE_TEST(test_minibatch_epochs),
      EXAMPLE_TEST(test_ema_momentum),
      EXAMPLE_TEST(test_fprop_bprop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
