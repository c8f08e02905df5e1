/* The lecture's "complex cell" slide in numbers: shift -> convolution,
 * size -> pooling.
 *
 * A simple cell is a convolution filter followed by a threshold: here the
 * filter is the pattern itself and the bias keeps only a full match, so the
 * cell fires exactly where the pattern is. Convolution is equivariant to
 * shifts: shifting the input shifts the response by the same amount. A
 * complex cell max-pools simple cells: a shift that stays inside one pooling
 * window leaves its output unchanged (invariance), a larger one moves it to
 * the next window. Both claims are checked, not assumed, and printed with
 * the tensors, first in 1-D and then in 2-D.
 *
 *   build/examples/complex_cell */
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

#define LEN 12   /* the 1-D signal */
#define SIDE 8   /* the 2-D image is SIDE x SIDE */
#define POOL1 4  /* pooling windows */
#define POOL2 4

static tg_tensor *check(tg_tensor *t, const char *what) {
  if (!t) {
    fprintf(stderr, "complex_cell: %s: %s\n", what, tg_last_error());
    exit(1);
  }
  return t;
}

static void show(const char *label, tg_tensor *t) {
  printf("%s", label);
  tg_print(t);
}

static bool same(tg_tensor *a, tg_tensor *b) {
  return tg_item(check(tg_all(check(tg_eq(a, b), "eq")), "all")) != 0;
}

/* a rolled by (dy, dx) over its last two dims, or by dx over its last dim */
static tg_tensor *shift(tg_tensor *a, long dy, long dx) {
  if (a->ndim == 2) return check(tg_roll(a, 1, (const long[]){dx}, 1, (const int[]){-1}), "roll");
  return check(tg_roll(a, 2, (const long[]){dy, dx}, 2, (const int[]){-2, -1}), "roll");
}

/* ---- 1-D: the pattern [1, 2, 1], as (C=1, L) unbatched signals */
static tg_tensor *simple_cell_1d(tg_tensor *x, tg_tensor *w, tg_tensor *b) {
  return check(tg_relu(check(tg_conv1d(x, w, b, 1, 1, 1, 1), "conv1d")), "relu");
}

static tg_tensor *complex_cell_1d(tg_tensor *x, tg_tensor *w, tg_tensor *b) {
  return check(tg_max_pool1d(simple_cell_1d(x, w, b), POOL1, NULL, 0, 1, false, NULL), "max_pool1d");
}

static void one_d(void) {
  float xs[LEN] = {1, 2, 1};
  tg_tensor *x = check(tg_from_f32(TG_SHAPE(1, LEN), xs), "x");
  tg_tensor *w = check(tg_from_f32(TG_SHAPE(1, 1, 3), (const float[]){1, 2, 1}), "w");
  tg_tensor *b = check(tg_from_f32(TG_SHAPE(1), (const float[]){-5}), "b");
  printf("== 1-D: the pattern [1, 2, 1]; filter w = [1, 2, 1], bias -5, ReLU (a simple cell)\n");
  show("x                 = ", x);
  show("conv1d(x, w)      = ", check(tg_conv1d(x, w, NULL, 1, 1, 1, 1), "conv1d"));
  show("cell(x)           = ", simple_cell_1d(x, w, b));
  tg_tensor *x5 = shift(x, 0, 5);
  show("shift(x, 5)       = ", x5);
  show("cell(shift(x, 5)) = ", simple_cell_1d(x5, w, b));
  printf("equivariance: cell(shift(x, 5)) == shift(cell(x), 5): %s\n",
         same(simple_cell_1d(x5, w, b), shift(simple_cell_1d(x, w, b), 0, 5)) ? "yes" : "no");
  printf("complex cell: max_pool1d(cell(shift(x, s)), kernel %d)\n", POOL1);
  tg_tensor *pooled0 = complex_cell_1d(x, w, b);
  for (long s = 0; s <= 3; s++) {
    tg_tensor *p = complex_cell_1d(shift(x, 0, s), w, b);
    char buf[128];
    tg_format(p, buf, sizeof buf);
    printf("  s = %ld: %s  %s\n", s, buf,
           same(p, pooled0) ? "the same as s = 0 (invariant)" : "moved to the next window");
  }
}

/* ---- 2-D: an "L" of 5 pixels, as (C=1, H, W) unbatched images */
static tg_tensor *simple_cell_2d(tg_tensor *x, tg_tensor *w, tg_tensor *b) {
  tg_tensor *y = tg_conv2d(x, w, b, NULL, (const int64_t[]){1, 1}, NULL, 1);
  return check(tg_relu(check(y, "conv2d")), "relu");
}

static tg_tensor *complex_cell_2d(tg_tensor *x, tg_tensor *w, tg_tensor *b) {
  const int64_t k[2] = {POOL2, POOL2};
  return check(tg_max_pool2d(simple_cell_2d(x, w, b), k, NULL, NULL, NULL, false, NULL), "max_pool2d");
}

static void two_d(void) {
  const float l_shape[9] = {1, 0, 0, 1, 0, 0, 1, 1, 1};
  float img[SIDE * SIDE] = {0};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) img[i * SIDE + j] = l_shape[i * 3 + j];
  tg_tensor *x = check(tg_from_f32(TG_SHAPE(1, SIDE, SIDE), img), "x");
  tg_tensor *w = check(tg_from_f32(TG_SHAPE(1, 1, 3, 3), l_shape), "w");
  tg_tensor *b = check(tg_from_f32(TG_SHAPE(1), (const float[]){-4}), "b");
  printf("\n== 2-D: an L of 5 pixels; the filter is the L, bias -4, ReLU\n");
  show("x = ", x);
  show("cell(x) = ", simple_cell_2d(x, w, b));
  tg_tensor *x32 = shift(x, 3, 2);
  show("cell(shift(x, (3, 2))) = ", simple_cell_2d(x32, w, b));
  printf("equivariance: cell(shift(x, (3, 2))) == shift(cell(x), (3, 2)): %s\n",
         same(simple_cell_2d(x32, w, b), shift(simple_cell_2d(x, w, b), 3, 2)) ? "yes" : "no");
  printf("complex cell: max_pool2d(cell(shift(x, (dy, dx))), kernel %dx%d)\n", POOL2, POOL2);
  tg_tensor *pooled0 = complex_cell_2d(x, w, b);
  const long shifts[4][2] = {{0, 0}, {1, 2}, {2, 1}, {3, 0}};
  for (int s = 0; s < 4; s++) {
    tg_tensor *p = complex_cell_2d(shift(x, shifts[s][0], shifts[s][1]), w, b);
    printf("  (dy, dx) = (%ld, %ld): %s\n", shifts[s][0], shifts[s][1],
           same(p, pooled0) ? "the same as (0, 0) (invariant)" : "moved to the next window");
    tg_print(p);
  }
}

int main(void) {
  tg_scope_begin();
  one_d();
  two_d();
  tg_scope_end();
  tg_release_cached();
  return 0;
}
