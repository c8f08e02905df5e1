/* The lecture examples, run as programs: each test runs
 * TG_BUILD_DIR/examples/<name>, captures what it prints, and checks the
 * numbers against values worked out here from the mathematics (never
 * copied from the program's output). The examples run under the same
 * sanitizers as the test, so a leak or UB report fails the run. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tg_test.h"
#include "example_util.h"

/* ------------------------------------------------------------ running */

/* Run the example (from directory cwd when given, with one argument when
 * given); returns its stdout and fails the test unless it exits 0. The
 * buffer stays valid until the next run or the end of the test. */
static char *run_example(const char *name, const char *cwd, const char *arg) {
  char quoted[2048];
  int n = snprintf(quoted, sizeof quoted, "'%s'", arg ? arg : "");
  assert_true(n > 0 && (size_t)n < sizeof quoted);
  return example_run(name, cwd, arg ? quoted : NULL);
}

/* ------------------------------------------------------------ parsing */

/* The rest of the line that starts with prefix (the first such line). */
static const char *line_after(const char *out, const char *prefix) {
  return example_line_after(out, prefix);
}

/* Whether the line that starts with prefix contains needle. */
static bool line_has(const char *out, const char *prefix, const char *needle) {
  const char *s = line_after(out, prefix), *nl = strchr(s, '\n');
  const char *hit = strstr(s, needle);
  return hit && (!nl || hit < nl);
}

/* The number right after prefix at the start of a line. */
static double number_after(const char *out, const char *prefix) {
  const char *s = line_after(out, prefix);
  char *end;
  double v = strtod(s, &end);
  if (end == s) fail_msg("no number after \"%s\": %.60s", prefix, s);
  return v;
}

/* The entries of the tensor printed (tg_print style, possibly over several
 * lines) after the line prefix: "tensor(-12., grad_fn=<...>)",
 * "tensor([[ 2., 4.],\n [ 0., 1.]])". Returns how many were read. */
static int tensor_after(const char *out, const char *prefix, double *vals, int max) {
  const char *s = strstr(line_after(out, prefix), "tensor(");
  if (!s) fail_msg("no tensor( after \"%s\"", prefix);
  int n = 0, depth = 0;
  for (const char *p = s + strlen("tensor("); *p;) {
    if (*p == '[') depth++;
    else if (*p == ']') depth--;
    else if (depth == 0 && (*p == ')' || *p == ',')) break; /* the data ends here */
    else if (isdigit((unsigned char)*p) || *p == '-' || *p == '.') {
      char *end;
      double v = strtod(p, &end);
      if (end != p) {
        if (n >= max) fail_msg("tensor after \"%s\" has more than %d entries", prefix, max);
        vals[n++] = v;
        p = end;
        continue;
      }
    }
    p++;
  }
  return n;
}

static void expect_tensor(const char *out, const char *prefix, const double *expected, int n,
                          double tol) {
  double got[64];
  int k = tensor_after(out, prefix, got, 64);
  if (k != n) fail_msg("\"%s\": %d entries printed, expected %d", prefix, k, n);
  for (int i = 0; i < n; i++)
    if (!(fabs(got[i] - expected[i]) <= tol))
      fail_msg("\"%s\" entry %d = %.9g, expected %.9g (tol %g)", prefix, i, got[i], expected[i], tol);
}

#define assert_rel(got, want, rel)                                             \
  do {                                                                         \
    double g_ = (got), w_ = (want);                                            \
    if (!(fabs(g_ - w_) <= (rel) * fabs(w_)))                                  \
      fail_msg("%s = %.9g, expected %.9g (relative tol %g)", #got, g_, w_, (double)(rel)); \
  } while (0)

/* ------------------------------------------------------------ chain_rule */

static void check_chain_rule_output(const char *out) {
  const double x = -2, y = 5, z = -4;
  expect_tensor(out, "x = ", &x, 1, 0);
  expect_tensor(out, "y = ", &y, 1, 0);
  expect_tensor(out, "z = ", &z, 1, 0);
  const double L = (x + y) * z, dLdx = z, dLdy = z, dLdz = x + y;
  expect_tensor(out, "L = ", &L, 1, 0);
  expect_tensor(out, "dL/dx = ", &dLdx, 1, 0);
  expect_tensor(out, "dL/dy = ", &dLdy, 1, 0);
  expect_tensor(out, "dL/dz = ", &dLdz, 1, 0);
  assert_true(line_has(out, "graph written to ", "dot -Tpng"));
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("%s was not written: %s", path, strerror(errno));
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int count(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* the graph of L = (x + y) * z: an add and a mul node, the three named
 * leaves, and 5 edges (x, y -> add; add, z -> mul; mul -> output) */
static void check_chain_rule_dot(const char *path) {
  const char *dot = read_file(path);
  assert_non_null(strstr(dot, "digraph"));
  assert_int_equal(count(dot, "label=\"AddBackward\""), 1);
  assert_int_equal(count(dot, "label=\"MulBackward\""), 1);
  assert_non_null(strstr(dot, "label=\"x\\n"));
  assert_non_null(strstr(dot, "label=\"y\\n"));
  assert_non_null(strstr(dot, "label=\"z\\n"));
  assert_non_null(strstr(dot, "label=\"L\\n"));
  assert_int_equal(count(dot, "->"), 5);
  assert_int_equal(count(dot, "{"), count(dot, "}"));
}

static void test_chain_rule(void **state) {
  (void)state;
  char dir[] = "/tmp/tg_chain_rule_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char def[512], given[512];
  snprintf(def, sizeof def, "%s/chain_rule.dot", dir);
  snprintf(given, sizeof given, "%s/graph.dot", dir);

  /* default: chain_rule.dot in the current directory */
  char *out = run_example("chain_rule", dir, NULL);
  check_chain_rule_output(out);
  assert_non_null(strstr(out, "chain_rule.dot"));
  check_chain_rule_dot(def);

  /* or the path given as argv[1] */
  out = run_example("chain_rule", NULL, given);
  check_chain_rule_output(out);
  assert_non_null(strstr(out, given));
  check_chain_rule_dot(given);

  unlink(def);
  unlink(given);
  assert_int_equal(rmdir(dir), 0);
}

/* ------------------------------------------------------------ dot */

static void test_dot(void **state) {
  (void)state;
  char *out = run_example("dot", NULL, NULL);
  double x[5], grad[5], f = 0;
  for (int i = 0; i < 5; i++) {
    x[i] = i + 1;
    f += x[i] * x[i]; /* f = sum x_i^2 */
    grad[i] = 2 * x[i];
  }
  expect_tensor(out, "x = ", x, 5, 0);
  expect_tensor(out, "f = x . x = ", &f, 1, 0);
  assert_close(f, 55, 0);
  expect_tensor(out, "x.grad = ", grad, 5, 0);
}

/* ------------------------------------------------------------ quadratic_form */

/* The problem, and an independent float32 replay of the descent. Each
 * product and sum is rounded to float32 on its own, as the library's
 * kernels do: no fused multiply-add (clang would contract a*b + c by
 * default when the target has FMA; GCC does not in ISO C mode). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
static const float QA[2][2] = {{0, 2}, {2, 0}}, QB[2] = {-0.5f, 0.5f}, QC = -2.0f;

/* v = x^T A x + b^T x + c in float32, in the script's order: (x A) x, then
 * + b^T x, then + c */
static float qf_inner(const float x[2]) {
  float xA[2];
  for (int j = 0; j < 2; j++) xA[j] = x[0] * QA[0][j] + x[1] * QA[1][j];
  float xAx = xA[0] * x[0] + xA[1] * x[1];
  float bx = QB[0] * x[0] + QB[1] * x[1];
  return (xAx + bx) + QC;
}

static float qf_value(const float x[2]) {
  float v = qf_inner(x);
  return v * v;
}

/* x -= 1e-3 * grad, with grad of v^2 = 2v ((A + A^T) x + b). The sum is
 * formed term by term as reverse mode forms it (x enters x^T A x twice,
 * giving 2v (xA)_i and 2v (Ax)_i, and b^T x once, giving 2v b_i): near the
 * minimum y = v^2 comes from a v formed by cancellation, where a single
 * float32 rounding difference would already exceed 1e-5 relative. With
 * b^T x detached its term is absent. */
static void qf_step(float x[2], bool with_b) {
  float g = 2 * qf_inner(x), grad[2];
  for (int i = 0; i < 2; i++) {
    float xA_i = x[0] * QA[0][i] + x[1] * QA[1][i];
    float Ax_i = QA[i][0] * x[0] + QA[i][1] * x[1];
    grad[i] = g * xA_i + g * Ax_i;
    if (with_b) grad[i] = grad[i] + g * QB[i];
  }
  for (int i = 0; i < 2; i++) x[i] = x[i] - 1e-3f * grad[i];
}

static void check_epoch_line(const char *out, int epoch, const char *when, float y, const float x[2]) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, "%d) y %s SGD = ", epoch, when);
  double py, px0, px1;
  if (sscanf(line_after(out, prefix), "%lf input x= [%lf %lf]", &py, &px0, &px1) != 3)
    fail_msg("cannot parse the line \"%s...\"", prefix);
  assert_rel(py, y, 1e-5);
  assert_rel(px0, x[0], 1e-5);
  assert_rel(px1, x[1], 1e-5);
}

static void test_quadratic_form(void **state) {
  (void)state;
  char *out = run_example("quadratic_form", NULL, NULL);

  /* at x = [1, 1]: x^T A x = 4, b^T x = 0, c = -2, so y = 2^2 = 4 */
  const char *first = strstr(out, "\n0) ");
  assert_non_null(first);
  const char *want = "0) y before SGD = 4.0 input x= [1. 1.]\n";
  if (strncmp(first + 1, want, strlen(want)) != 0)
    fail_msg("first epoch line is \"%.50s\", expected \"%s\"", first + 1, want);
  /* one step: grad = 2*2*((A + A^T)[1,1] + b) = 4*[3.5, 4.5] = [14, 18] */
  assert_non_null(strstr(out, "0) y after SGD = "));

  float x[2] = {1, 1};
  int lines = 0;
  for (int epoch = 0; epoch < 200; epoch++) {
    float before[2] = {x[0], x[1]}, y_before = qf_value(x);
    qf_step(x, true);
    if (epoch % 20 == 0) {
      check_epoch_line(out, epoch, "before", y_before, before);
      check_epoch_line(out, epoch, "after", qf_value(x), x);
      lines += 2;
    }
  }
  assert_int_equal(count(out, " SGD = "), lines);
  assert_int_equal(lines, 20);
  /* the descent decreases y: 4 at the start, far smaller after 200 steps */
  assert_true(qf_value(x) < 1e-5f);

  /* the final value and the inner sum, as tg_print shows them (4 decimals
   * or 5 significant digits) */
  double fx, inner;
  assert_int_equal(tensor_after(out, "final f(x) = ", &fx, 1), 1);
  assert_rel(fx, qf_value(x), 1e-4);
  assert_int_equal(tensor_after(out, "final x^T A x + b^T x + c = ", &inner, 1), 1);
  assert_close(inner, qf_inner(x), 5e-5);
  assert_true(line_has(out, "final f(x) = ", "grad_fn=<"));
  assert_true(line_has(out, "final x^T A x + b^T x + c = ", "grad_fn=<"));
  double fx_ng;
  assert_int_equal(tensor_after(out, "f(x) under no_grad = ", &fx_ng, 1), 1);
  assert_rel(fx_ng, qf_value(x), 1e-4);
  /* evaluated under no_grad: no history */
  assert_false(line_has(out, "f(x) under no_grad = ", "grad_fn"));
  assert_non_null(strstr(out, "requires_grad = False, grad_fn = None"));

  /* b^T x detached: the gradient is 2v (A + A^T) x, symmetric in x0, x1, so
   * from [1, 1] they stay equal */
  float xd[2] = {1, 1};
  for (int epoch = 0; epoch < 200; epoch++) qf_step(xd, false);
  double py, px0, px1;
  if (sscanf(line_after(out, "b^T x detached: after 200 epochs from x = [1. 1.]: "),
             "y = %lf input x= [%lf %lf]", &py, &px0, &px1) != 3)
    fail_msg("cannot parse the detached line");
  assert_rel(py, qf_value(xd), 1e-5);
  assert_rel(px0, xd[0], 1e-5);
  assert_rel(px1, xd[1], 1e-5);
  assert_true(px0 == px1);
  /* a different end point from the full gradient's */
  assert_true(fabs(px0 - x[0]) > 1e-2);
}

/* ------------------------------------------------------------ sigmoid_gate */

static void expect_row(const char *out, const char *node, double value, double grad) {
  const char *s = strstr(out, "\nnode ");
  assert_non_null(s);
  size_t n = strlen(node);
  for (s = strchr(s + 1, '\n'); s; s = strchr(s + 1, '\n')) {
    if (strncmp(s + 1, node, n) != 0 || s[1 + n] != ' ') continue;
    char computes[32];
    double v, g;
    if (sscanf(s + 1 + n, "%31s %lf %lf", computes, &v, &g) != 3) fail_msg("bad row for %s", node);
    if (!(fabs(v - value) <= 2e-6)) fail_msg("%s = %.7f, expected %.7f", node, v, value);
    if (!(fabs(g - grad) <= 2e-6)) fail_msg("df/d%s = %.7f, expected %.7f", node, g, grad);
    return;
  }
  fail_msg("no table row for node %s", node);
}

static void test_sigmoid_gate(void **state) {
  (void)state;
  char *out = run_example("sigmoid_gate", NULL, NULL);
  const double w0 = 2, x0 = -1, w1 = -3, x1 = -2, b = -3;
  /* forward */
  double a0 = w0 * x0, a1 = w1 * x1, s = a0 + a1, z = s + b, nz = -z, e = exp(nz), d = 1 + e,
         f = 1 / d;
  /* backward, gate by gate: d(1/d) = -1/d^2; +1 passes it on; exp multiplies
   * by e; negation flips the sign; add gates pass it on; mul gates swap */
  double df_dd = -1 / (d * d), df_de = df_dd, df_dnz = df_de * e, df_dz = -df_dnz;
  assert_close(df_dz, f * (1 - f), 1e-12); /* the sigmoid's local gradient */
  expect_row(out, "f", f, 1);
  expect_row(out, "d", d, df_dd);
  expect_row(out, "e", e, df_de);
  expect_row(out, "nz", nz, df_dnz);
  expect_row(out, "z", z, df_dz);
  expect_row(out, "s", s, df_dz);
  expect_row(out, "a0", a0, df_dz);
  expect_row(out, "a1", a1, df_dz);
  expect_row(out, "w0", w0, x0 * df_dz);
  expect_row(out, "x0", x0, w0 * df_dz);
  expect_row(out, "w1", w1, x1 * df_dz);
  expect_row(out, "x1", x1, w1 * df_dz);
  expect_row(out, "b", b, df_dz);
  /* CS231n's rounded numbers */
  assert_close(x0 * df_dz, -0.20, 5e-3);
  assert_close(w1 * df_dz, -0.59, 5e-3);

  /* the fused sigmoid: one node, the same gradients */
  const char *names[5] = {"w0", "x0", "w1", "x1", "b"};
  const double grads[5] = {x0 * df_dz, w0 * df_dz, x1 * df_dz, w1 * df_dz, df_dz};
  for (int k = 0; k < 5; k++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "fused: df/d%-2s = ", names[k]);
    double fused, gates;
    if (sscanf(line_after(out, prefix), "%lf (gates: %lf)", &fused, &gates) != 2)
      fail_msg("cannot parse \"%s\"", prefix);
    assert_close(fused, grads[k], 2e-6);
    assert_close(gates, grads[k], 2e-6);
  }
  assert_close(number_after(out, "fused: local gradient f (1 - f) = "), f * (1 - f), 2e-6);
  expect_tensor(out, "fused: f = ", &f, 1, 1e-4);
  assert_true(line_has(out, "fused: f = ", "SigmoidBackward"));
}

/* ------------------------------------------------------------ softmax_ce */

static void test_softmax_ce(void **state) {
  (void)state;
  char *out = run_example("softmax_ce", NULL, NULL);
  const double p[3] = {0.2, 0.7, 0.1};
  double z[3], sm[3], grad[3], sum = 0;
  for (int i = 0; i < 3; i++) sum += exp(log(p[i]));
  for (int i = 0; i < 3; i++) {
    z[i] = log(p[i]);
    sm[i] = exp(z[i]) / sum;           /* softmax(log p) = p since sum p = 1 */
    grad[i] = sm[i] - (i == 1 ? 1 : 0); /* softmax - onehot(target 1) */
  }
  const double loss = -log(sm[1]);
  expect_tensor(out, "p = ", p, 3, 1e-4);
  expect_tensor(out, "z = log(p) = ", z, 3, 1e-4);
  expect_tensor(out, "loss = ", &loss, 1, 1e-4);
  expect_tensor(out, "softmax(z) = ", sm, 3, 1e-4);
  expect_tensor(out, "dL/dz = ", grad, 3, 1e-4);
  expect_tensor(out, "softmax(z) - onehot = ", grad, 3, 1e-4);
  assert_close(grad[1], -0.3, 1e-12);
}

/* ------------------------------------------------------------ jacobian */

static void test_jacobian(void **state) {
  (void)state;
  char *out = run_example("jacobian", NULL, NULL);
  const double x1 = 1, x2 = 2, x3 = 3;
  const double y[2] = {x1 * x1 + x2 * x2, x2 * x2 + x3 * x3 * x2};
  const double J[6] = {2 * x1, 2 * x2, 0, 0, 2 * x2 + x3 * x3, 2 * x3 * x2};
  expect_tensor(out, "y = ", y, 2, 0);
  expect_tensor(out, "J = dy/dx =", J, 6, 0);
  assert_close(J[4], 13, 0);
  assert_close(J[5], 12, 0);
}

/* ------------------------------------------------------------ hessian_saddle */

static void test_hessian_saddle(void **state) {
  (void)state;
  char *out = run_example("hessian_saddle", NULL, NULL);
  /* f = t1^2 - t2^2: grad = [2 t1, -2 t2] = 0 at 0, H = diag(2, -2) */
  const double grad[2] = {0, 0}, H[4] = {2, 0, 0, -2}, f = 0;
  expect_tensor(out, "f = ", &f, 1, 0);
  expect_tensor(out, "gradient = ", grad, 2, 0);
  expect_tensor(out, "Hessian =", H, 4, 0);
  double l1, l2;
  if (sscanf(line_after(out, "eigenvalues = "), "%lf, %lf", &l1, &l2) != 2)
    fail_msg("cannot parse the eigenvalues");
  assert_close(l1, 2, 1e-12); /* H is diagonal: its eigenvalues are 2 and -2 */
  assert_close(l2, -2, 1e-12);
  assert_true(strncmp(line_after(out, "verdict: "), "saddle point\n", 13) == 0);
}

/* The README's training program: XOR is learned when every prediction
 * lands on the right side of 1/2 and the loss has fallen. */
static void test_quickstart(void **state) {
  (void)state;
  const char *out = run_example("quickstart", NULL, NULL);
  double first = number_after(out, "step   0  loss "), last = number_after(out, "step 300  loss ");
  assert_true(first > 0.5 && first < 0.9); /* near log 2 for an untrained net */
  assert_true(last < 0.05);
  double p[4];
  assert_int_equal(tensor_after(out, "predictions for", p, 4), 4);
  const double target[4] = {0, 1, 1, 0};
  for (int i = 0; i < 4; i++) assert_true(fabs(p[i] - target[i]) < 0.5);
}

/* ------------------------------------------------------------ complex_cell */

/* the simple cell by hand: relu(cross-correlation with zero padding 1 + bias)
 * of a (h, w) image with a 3x3 (or, h = 1, a 1x3) filter, after rolling the
 * image by (dy, dx) */
static void cell_by_hand(const double *img, int h, int w, const double *filt, double bias, int dy,
                         int dx, double *out) {
  int kh = h == 1 ? 1 : 3;
  for (int i = 0; i < h; i++)
    for (int j = 0; j < w; j++) {
      double acc = bias;
      for (int a = 0; a < kh; a++)
        for (int b = 0; b < 3; b++) {
          int y = i + a - (kh == 3), x = j + b - 1;
          if (y < 0 || y >= h || x < 0 || x >= w) continue;
          acc += filt[a * 3 + b] * img[((y - dy + h) % h) * w + (x - dx + w) % w];
        }
      out[i * w + j] = acc > 0 ? acc : 0;
    }
}

/* max over k x k windows (k x 1 rows when h == 1) */
static void pool_by_hand(const double *in, int h, int w, int k, double *out) {
  int kh = h == 1 ? 1 : k, oh = h / kh, ow = w / k;
  for (int i = 0; i < oh; i++)
    for (int j = 0; j < ow; j++) {
      double m = -INFINITY;
      for (int a = 0; a < kh; a++)
        for (int b = 0; b < k; b++) m = fmax(m, in[(i * kh + a) * w + j * k + b]);
      out[i * ow + j] = m;
    }
}

static void test_complex_cell(void **state) {
  (void)state;
  const char *out = run_example("complex_cell", NULL, NULL);
  /* 1-D: [1, 2, 1] at the start of 12 samples, filter [1, 2, 1], bias -5 */
  double x[12] = {1, 2, 1}, w1[3] = {1, 2, 1}, y[12], p0[3], p[3];
  cell_by_hand(x, 1, 12, w1, 0, 0, 0, y);
  expect_tensor(out, "conv1d(x, w)      = ", y, 12, 0);
  cell_by_hand(x, 1, 12, w1, -5, 0, 0, y);
  expect_tensor(out, "cell(x)           = ", y, 12, 0);
  cell_by_hand(x, 1, 12, w1, -5, 0, 5, y);
  expect_tensor(out, "cell(shift(x, 5)) = ", y, 12, 0);
  assert_true(line_has(out, "equivariance: cell(shift(x, 5))", ": yes"));
  cell_by_hand(x, 1, 12, w1, -5, 0, 0, y);
  pool_by_hand(y, 1, 12, 4, p0);
  for (int s = 0; s <= 3; s++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "  s = %d: ", s);
    cell_by_hand(x, 1, 12, w1, -5, 0, s, y);
    pool_by_hand(y, 1, 12, 4, p);
    expect_tensor(out, prefix, p, 3, 0);
    bool same = memcmp(p, p0, sizeof p) == 0;
    assert_true(same == (s < 3)); /* the lecture's point: small shifts stay in the window */
    assert_true(line_has(out, prefix, same ? "(invariant)" : "moved to the next window"));
  }
  /* 2-D: an L of 5 pixels in the corner of 8x8, the L as filter, bias -4 */
  double img[64] = {0}, c[64], q0[4], q[4];
  const double L[9] = {1, 0, 0, 1, 0, 0, 1, 1, 1};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) img[i * 8 + j] = L[i * 3 + j];
  cell_by_hand(img, 8, 8, L, -4, 0, 0, c);
  expect_tensor(out, "cell(x) = ", c, 64, 0);
  assert_true(c[1 * 8 + 1] == 1); /* fires at the centre of the L only */
  cell_by_hand(img, 8, 8, L, -4, 3, 2, c);
  expect_tensor(out, "cell(shift(x, (3, 2))) = ", c, 64, 0);
  assert_true(line_has(out, "equivariance: cell(shift(x, (3, 2)))", ": yes"));
  cell_by_hand(img, 8, 8, L, -4, 0, 0, c);
  pool_by_hand(c, 8, 8, 4, q0);
  const int shifts[4][2] = {{0, 0}, {1, 2}, {2, 1}, {3, 0}};
  for (int s = 0; s < 4; s++) {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "  (dy, dx) = (%d, %d): ", shifts[s][0], shifts[s][1]);
    cell_by_hand(img, 8, 8, L, -4, shifts[s][0], shifts[s][1], c);
    pool_by_hand(c, 8, 8, 4, q);
    bool same = memcmp(q, q0, sizeof q) == 0;
    assert_true(same == (s < 3));
    assert_true(line_has(out, prefix, same ? "(invariant)" : "moved to the next window"));
    /* the pooled tensor is printed on the lines after the verdict */
    const char *after = strchr(line_after(out, prefix), '\n') + 1;
    expect_tensor(after, "", q, 4, 0);
  }
}

#define EXAMPLE_TEST(fn) cmocka_unit_test_setup_teardown(fn, test_setup, example_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      EXAMPLE_TEST(test_chain_rule),   EXAMPLE_TEST(test_dot),
      EXAMPLE_TEST(test_quadratic_form), EXAMPLE_TEST(test_sigmoid_gate),
      EXAMPLE_TEST(test_softmax_ce),     EXAMPLE_TEST(test_jacobian),
      EXAMPLE_TEST(test_hessian_saddle), EXAMPLE_TEST(test_quickstart),
      EXAMPLE_TEST(test_complex_cell),
  };
  int rc = cmocka_run_group_tests_name("examples", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
