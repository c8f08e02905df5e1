/* Minimising f(x) = (x^T A x + b^T x + c)^2 by gradient descent, in float32,
 * as the lecture's PyTorch script does:
 *
 *   A = torch.tensor([[0., 2.], [2., 0.]])
 *   b = torch.tensor([[-0.5], [0.5]])
 *   c = torch.tensor([-2.])
 *   x = torch.tensor([1., 1.], requires_grad=True)
 *   f = lambda x: (x @ A @ x + b.T @ x + c) ** 2
 *   for epoch in range(200):
 *       if x.grad is not None: x.grad.zero_()
 *       v = f(x)
 *       v.backward()
 *       with torch.no_grad():
 *           x += -1e-3 * x.grad
 *       ...print every 20 epochs...
 *
 * Numbers are printed the way numpy prints float32: the fewest digits that
 * read back as the same float32 (4.0, 3.5006707), arrays as [1. 1.]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

#define EPOCHS 200
#define LR 1e-3

static void die(const char *what) {
  fprintf(stderr, "quadratic_form: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

/* ------------------------------------------------ printing like numpy */

/* The fewest significant digits p for which "%.{p-1}e" (that is, %.{p}g
 * written in scientific form) reads back as the same float32; 9 always
 * does. *exp10 receives the decimal exponent of that representation. */
static int shortest_digits(float v, int *exp10) {
  char s[32];
  int p = 1;
  for (; p < 9; p++) {
    snprintf(s, sizeof s, "%.*e", p - 1, (double)v);
    if (strtof(s, NULL) == v) break;
  }
  snprintf(s, sizeof s, "%.*e", p - 1, (double)v);
  *exp10 = atoi(strchr(s, 'e') + 1);
  return p;
}

/* str(np.float32(v)): positional in [1e-4, 1e16) with at least one decimal
 * ("4.0"), scientific outside ("3.235069e-06") */
static const char *fmt_scalar(float v, char *buf, size_t len) {
  int e, p = shortest_digits(v, &e);
  float a = fabsf(v);
  if (!isfinite(v)) snprintf(buf, len, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
  else if (a != 0 && (a < 1e-4f || a >= 1e16f)) snprintf(buf, len, "%.*e", p - 1, (double)v);
  else snprintf(buf, len, "%.*f", p - 1 - e > 1 ? p - 1 - e : 1, (double)v);
  return buf;
}

/* str(np.array(v, dtype=np.float32)) for a short vector of moderate values
 * (numpy's default "maxprec" mode, at most 8 decimals): "[1. 1.]",
 * "[0.986 0.982]", "[1.   0.99]" (the decimals are padded with spaces). */
static void print_array(const float *v, int n) {
  char s[8][48];
  int int_len[8], frac_len[8], pad_left = 0, pad_right = 0;
  for (int i = 0; i < n && i < 8; i++) {
    int e, p = shortest_digits(v[i], &e);
    int frac = p - 1 - e < 0 ? 0 : p - 1 - e;
    if (frac > 8) frac = 8;
    snprintf(s[i], sizeof s[i], "%.*f.", frac, (double)v[i]); /* "1." when frac == 0 */
    char *dot = strchr(s[i], '.');
    if (frac > 0) { /* drop the extra '.', and zeros left by rounding to 8 decimals */
      size_t l = strlen(s[i]) - 1;
      s[i][l] = '\0';
      while (l > 0 && s[i][l - 1] == '0' && &s[i][l - 1] > dot + 1) s[i][--l] = '\0';
    }
    int_len[i] = (int)(dot - s[i]);
    frac_len[i] = (int)strlen(dot + 1);
    if (int_len[i] > pad_left) pad_left = int_len[i];
    if (frac_len[i] > pad_right) pad_right = frac_len[i];
  }
  printf("[");
  for (int i = 0; i < n && i < 8; i++)
    printf("%s%*s%s%*s", i ? " " : "", pad_left - int_len[i], "", s[i], pad_right - frac_len[i], "");
  printf("]");
}

static void print_epoch(int epoch, const char *when, float y, const float *x) {
  char buf[48];
  printf("%d) y %s SGD = %s input x= ", epoch, when, fmt_scalar(y, buf, sizeof buf));
  print_array(x, 2);
  printf("\n");
}

/* ------------------------------------------------ the function */

typedef struct problem {
  tg_tensor *A, *b, *c;
  bool detach_bx; /* treat b^T x as a constant: no gradient flows through it */
} problem;

/* x^T A x + b^T x + c, evaluated left to right as the script does:
 * x @ A @ x is a 0-d scalar, b.T @ x has shape [1], so the sum has shape [1] */
static tg_tensor *inner(const problem *P, tg_tensor *x) {
  tg_tensor *xAx = tg_matmul(tg_matmul(x, P->A), x);
  tg_tensor *bx = tg_matmul(tg_t(P->b), x);
  if (P->detach_bx) bx = tg_detach(bx);
  return tg_add(tg_add(xAx, bx), P->c);
}

static tg_tensor *f(const problem *P, tg_tensor *x) { return tg_pow_scalar(inner(P, x), 2); }

/* EPOCHS steps of x += -LR * x.grad; prints every 20 epochs when verbose */
static void sgd(const problem *P, tg_tensor *x, bool verbose) {
  float *xd = tg_data_f32(x);
  for (int epoch = 0; epoch < EPOCHS; epoch++) {
    tg_scope_begin(); /* this epoch's graph and temporaries */
    const float x_before[2] = {xd[0], xd[1]};
    if (tg_zero_grad(x) != 0) die("zero_grad");
    tg_tensor *v = f(P, x);
    if (!v || tg_backward(v, NULL, false) != 0) die("forward/backward");

    tg_no_grad_begin(); /* the update itself is not recorded: x stays a leaf */
    tg_tensor *step = tg_mul_scalar(x->grad, -LR);
    if (!step || tg_accumulate_(x, step) != 0) die("the SGD step");
    tg_tensor *y_after = f(P, x);
    tg_no_grad_end();
    if (!y_after) die("evaluating f after the step");

    if (verbose && epoch % 20 == 0) {
      print_epoch(epoch, "before", (float)tg_item(v), x_before);
      print_epoch(epoch, "after", (float)tg_item(y_after), xd);
    }
    tg_scope_end();
  }
}

int main(void) {
  tg_scope_begin();
  const float A_data[] = {0, 2, 2, 0}, b_data[] = {-0.5f, 0.5f}, c_data[] = {-2};
  problem P = {.A = tg_from_f32(TG_SHAPE(2, 2), A_data),
               .b = tg_from_f32(TG_SHAPE(2, 1), b_data),
               .c = tg_from_f32(TG_SHAPE(1), c_data)};
  tg_tensor *x = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(2)), true);
  if (!P.A || !P.b || !P.c || !x) die("creating the tensors");
  printf("A = ");
  tg_print(P.A);
  printf("b = ");
  tg_print(P.b);
  printf("c = ");
  tg_print(P.c);
  printf("x = ");
  tg_print(x);
  printf("f(x) = (x^T A x + b^T x + c)^2; %d epochs of x += -%g * x.grad\n", EPOCHS, LR);

  sgd(&P, x, true);

  tg_tensor *fx = f(&P, x), *g = inner(&P, x);
  if (!fx || !g) die("the final evaluation");
  printf("final f(x) = ");
  tg_print(fx);
  printf("final x^T A x + b^T x + c = ");
  tg_print(g);
  printf("final x = ");
  tg_print(x);

  /* under no_grad nothing is recorded: the result is a plain tensor */
  tg_no_grad_begin();
  tg_tensor *fx_ng = f(&P, x);
  tg_no_grad_end();
  if (!fx_ng) die("the no_grad evaluation");
  printf("f(x) under no_grad = ");
  tg_print(fx_ng);
  printf("  requires_grad = %s, grad_fn = %s\n", fx_ng->requires_grad ? "True" : "False",
         tg_grad_fn_name(fx_ng) ? tg_grad_fn_name(fx_ng) : "None");

  /* the same descent with b^T x detached: its gradient b no longer reaches x,
   * so each step moves x along (A + A^T) x only and x0, x1 stay equal */
  P.detach_bx = true;
  if (!tg_fill_(x, 1.0) || tg_zero_grad(x) != 0) die("resetting x");
  sgd(&P, x, false);
  tg_no_grad_begin();
  tg_tensor *fx_det = f(&P, x);
  tg_no_grad_end();
  if (!fx_det) die("evaluating f");
  char buf[48];
  printf("b^T x detached: after %d epochs from x = [1. 1.]: y = %s input x= ", EPOCHS,
         fmt_scalar((float)tg_item(fx_det), buf, sizeof buf));
  print_array(tg_data_f32(x), 2);
  printf("\n");

  tg_scope_end();
  tg_release_cached();
  return 0;
}
