/* Pooling and resampling (ops/pool.c, pool_adaptive.c, resample.c): values
 * worked out by hand from torch's formulas, float64 gradchecks on random
 * shapes and parameters through transposed (non-contiguous) inputs, the
 * double backward checked as a gradcheck of (x, g) -> grad(f(x), x, g),
 * unbatched inputs, and torch 1.13's errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tg_test.h"

static void assert_values(const tg_tensor *t, size_t n, const double *want) {
  assert_non_null(t);
  assert_int_equal(t->numel, n);
  for (size_t i = 0; i < n; i++) {
    double v = tg_get_flat(t, i);
    if (isnan(want[i])) assert_true(isnan(v));
    else if (isinf(want[i])) assert_true(v == want[i]);
    else assert_close(v, want[i], 1e-12);
  }
}

static tg_tensor *arange4(size_t n, size_t c, size_t h, size_t w) {
  return tg_reshape(tg_arange(TG_FLOAT64, 0, (double)(n * c * h * w), 1), TG_SHAPE(n, c, h, w));
}

/* ---------------------------------------------------------- values */

static void test_max_pool_values(void **s) {
  (void)s;
  tg_tensor *idx, *x = arange4(1, 1, 4, 4);
  tg_tensor *y = tg_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, &idx);
  assert_values(y, 4, (double[]){5, 7, 13, 15});
  assert_int_equal(idx->dtype, TG_INT64);
  assert_values(idx, 4, (double[]){5, 7, 13, 15});
  /* kernel 3, stride 2, padding 1: windows start at -1 and 1 */
  y = tg_max_pool2d(x, (int64_t[]){3, 3}, (int64_t[]){2, 2}, (int64_t[]){1, 1}, NULL, false, &idx);
  assert_values(y, 4, (double[]){5, 7, 13, 15});
  /* dilation 2: taps 0 and 2 */
  y = tg_max_pool2d(x, (int64_t[]){2, 2}, (int64_t[]){1, 1}, NULL, (int64_t[]){2, 2}, false, NULL);
  assert_values(y, 4, (double[]){10, 11, 14, 15});
  /* 1-d ceil_mode: L 5, kernel 2 -> 3 windows, the last one tap long */
  tg_tensor *v = tg_from_f64(TG_SHAPE(1, 1, 5), (double[]){3, 1, 4, 1, 5});
  assert_values(tg_max_pool1d(v, 2, NULL, 0, 1, true, NULL), 3, (double[]){3, 4, 5});
  assert_values(tg_max_pool1d(v, 2, NULL, 0, 1, false, NULL), 2, (double[]){3, 4});
  /* padding 1 with ceil_mode: windows at -1, 1, 3 */
  tg_tensor *w = tg_from_f64(TG_SHAPE(1, 4), (double[]){2, 7, 1, 8});
  assert_values(tg_max_pool1d(w, 2, (int64_t[]){2}, 1, 1, true, &idx), 3, (double[]){2, 7, 8});
  assert_values(idx, 3, (double[]){0, 1, 3});
  /* ties: the first; NaN wins */
  tg_tensor *t = tg_from_f64(TG_SHAPE(1, 6), (double[]){1, 1, NAN, 2, 4, NAN});
  assert_values(tg_max_pool1d(t, 2, NULL, 0, 1, false, &idx), 3, (double[]){1, NAN, NAN});
  assert_values(idx, 3, (double[]){0, 2, 5});
  /* kernel 2, padding 1, dilation 3 over L 2: the window at -1 has no tap inside (torch: -inf) */
  tg_tensor *e = tg_from_f64(TG_SHAPE(1, 1, 2), (double[]){1, 2});
  assert_values(tg_max_pool1d(e, 2, (int64_t[]){2}, 1, 3, false, &idx), 1, (double[]){-INFINITY});
  assert_values(idx, 1, (double[]){2});
}

/* MaxPool2d(2)'s own loop (windows 2 x 2 at (2 r, 2 c)) against torch's
 * rule written out: the first maximum in row-major order, the last NaN;
 * values drawn from a few levels (ties), NaN and -inf, odd sizes (the last
 * row and column of the input unused), both dtypes, several planes */
static void test_max_pool_2x2(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 41);
  const double levels[] = {-INFINITY, -1, 0, 0, 2, 2, 3, NAN};
  for (int t = 0; t < 8; t++) {
    tg_scope_begin();
    size_t n = 2, c = 3, h = 4 + (size_t)(t % 3), w = 5 + (size_t)(t % 2) * 2, numel = n * c * h * w;
    tg_tensor *x64 = tg_empty(TG_FLOAT64, 4, (size_t[]){n, c, h, w});
    double *xv = tg_data(x64);
    for (size_t e = 0; e < numel; e++) xv[e] = levels[tg_rng_next(&r) % 8];
    tg_tensor *x = t % 2 ? tg_to_dtype(x64, TG_FLOAT32) : x64, *idx = NULL;
    tg_tensor *y = tg_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, &idx);
    assert_non_null(y);
    assert_int_equal(y->dtype, x->dtype);
    size_t oh = h / 2, ow = w / 2;
    assert_int_equal(y->numel, n * c * oh * ow);
    for (size_t pl = 0; pl < n * c; pl++)
      for (size_t i = 0; i < oh; i++)
        for (size_t j = 0; j < ow; j++) {
          size_t best = 2 * i * w + 2 * j;
          double m = xv[pl * h * w + best];
          for (size_t a = 0; a < 2; a++)
            for (size_t b = 0; b < 2; b++) {
              size_t k = (2 * i + a) * w + 2 * j + b;
              double v = xv[pl * h * w + k];
              if (v > m || isnan(v)) m = v, best = k;
            }
          size_t e = (pl * oh + i) * ow + j;
          double got = tg_get_flat(y, e);
          if (isnan(m)) assert_true(isnan(got));
          else assert_true(got == m);
          assert_int_equal((size_t)tg_get_flat(idx, e), best);
        }
    tg_scope_end();
  }
}

static void test_avg_pool_values(void **s) {
  (void)s;
  tg_tensor *x = arange4(1, 1, 3, 3);
  assert_values(tg_avg_pool2d(x, (int64_t[]){2, 2}, (int64_t[]){1, 1}, NULL, false, true, 0), 4,
                (double[]){2, 3, 5, 6});
  tg_tensor *q = tg_from_f64(TG_SHAPE(1, 2, 2), (double[]){1, 2, 3, 4});
  const int64_t k2[] = {2, 2}, p1[] = {1, 1};
  /* unbatched (C, H, W); padding 1: corner windows hold one element */
  assert_values(tg_avg_pool2d(q, k2, NULL, p1, false, true, 0), 4, (double[]){0.25, 0.5, 0.75, 1});
  assert_values(tg_avg_pool2d(q, k2, NULL, p1, false, false, 0), 4, (double[]){1, 2, 3, 4});
  assert_values(tg_avg_pool2d(q, k2, NULL, p1, false, true, 3), 4, (double[]){1.0 / 3, 2.0 / 3, 1, 4.0 / 3});
  assert_values(tg_avg_pool2d(q, k2, NULL, NULL, false, true, -2), 1, (double[]){-5});
  /* ceil_mode: L 5, kernel 2 -> the last window holds x4; counted as 1 (past in + p) */
  tg_tensor *v = tg_from_f64(TG_SHAPE(1, 5), (double[]){1, 3, 5, 7, 9});
  assert_values(tg_avg_pool1d(v, 2, NULL, 0, true, true), 3, (double[]){2, 6, 9});
  /* padding 1, ceil: windows -1..0, 1..2, 3..4; the pads at -1 and 4 count */
  tg_tensor *w = tg_from_f64(TG_SHAPE(1, 1, 4), (double[]){2, 4, 6, 8});
  assert_values(tg_avg_pool1d(w, 2, (int64_t[]){2}, 1, true, true), 3, (double[]){1, 5, 4});
  assert_values(tg_avg_pool1d(w, 2, (int64_t[]){2}, 1, true, false), 3, (double[]){2, 5, 8});
  /* int64: truncating division (torch 1.13's values) */
  tg_tensor *n = tg_from_i64(TG_SHAPE(1, 1, 5), (int64_t[]){-1, -2, 3, 4, -7});
  tg_tensor *na = tg_avg_pool1d(n, 2, NULL, 0, true, true);
  assert_int_equal(na->dtype, TG_INT64);
  assert_values(na, 3, (double[]){-1, 3, -7});
  assert_values(tg_avg_pool1d(n, 2, (int64_t[]){2}, 1, false, true), 3, (double[]){0, 0, -1});
  assert_values(tg_avg_pool2d(n, (int64_t[]){1, 2}, NULL, NULL, false, true, -3), 2, (double[]){1, -2});
}

static void test_adaptive_values(void **s) {
  (void)s;
  /* in 5 -> out 3: [0, 2), [1, 4), [3, 5) */
  tg_tensor *v = tg_from_f64(TG_SHAPE(1, 5), (double[]){1, 2, 4, 8, 16});
  assert_values(tg_adaptive_avg_pool1d(v, 3), 3, (double[]){1.5, 14.0 / 3, 12});
  tg_tensor *idx;
  assert_values(tg_adaptive_max_pool1d(v, 3, &idx), 3, (double[]){2, 8, 16});
  assert_values(idx, 3, (double[]){1, 3, 4});
  tg_tensor *x = arange4(2, 1, 4, 4);
  tg_tensor *y = tg_adaptive_avg_pool2d(x, (int64_t[]){1, 1});
  assert_values(y, 2, (double[]){7.5, 23.5});
  assert_values(tg_adaptive_max_pool2d(x, (int64_t[]){2, 1}, &idx), 4, (double[]){7, 15, 23, 31});
  assert_values(idx, 4, (double[]){7, 15, 7, 15});
  /* larger than the input: windows repeat */
  assert_values(tg_adaptive_avg_pool1d(tg_from_f64(TG_SHAPE(1, 2), (double[]){1, 3}), 3), 3,
                (double[]){1, 2, 3});
  /* output size 0: an empty result, as torch */
  y = tg_adaptive_avg_pool2d(x, (int64_t[]){0, 2});
  assert_non_null(y);
  assert_int_equal(y->numel, 0);
}

static void test_resample_values(void **s) {
  (void)s;
  tg_tensor *v = tg_from_f64(TG_SHAPE(1, 1, 3), (double[]){1, 2, 3});
  /* nearest 3 -> 5: floor(o * 0.6) = 0 0 1 1 2 */
  assert_values(tg_interpolate(v, (int64_t[]){5}, NULL, TG_INTERP_NEAREST, false), 5, (double[]){1, 1, 2, 2, 3});
  /* scale_factor 1.2: out 3, scale 1/1.2: floor(0, 0.83, 1.67) = 0 0 1 */
  assert_values(tg_interpolate(v, NULL, (double[]){1.2}, TG_INTERP_NEAREST, false), 3, (double[]){1, 1, 2});
  /* linear 2 -> 4: sources 0 (clamped), 0.25, 0.75, 1.25 (the last edge tap) */
  tg_tensor *l = tg_from_f64(TG_SHAPE(1, 1, 2), (double[]){0, 4});
  assert_values(tg_interpolate(l, (int64_t[]){4}, NULL, TG_INTERP_LINEAR, false), 4, (double[]){0, 1, 3, 4});
  assert_values(tg_interpolate(l, (int64_t[]){3}, NULL, TG_INTERP_LINEAR, true), 3, (double[]){0, 2, 4});
  tg_tensor *q = tg_from_f64(TG_SHAPE(1, 1, 2, 2), (double[]){0, 2, 4, 6});
  assert_values(tg_interpolate(q, (int64_t[]){3, 3}, NULL, TG_INTERP_BILINEAR, true), 9,
                (double[]){0, 1, 2, 2, 3, 4, 4, 5, 6});
  assert_values(tg_interpolate(q, NULL, (double[]){2, 0.5}, TG_INTERP_NEAREST, false), 4, (double[]){0, 0, 4, 4});
  tg_tensor *p = tg_from_f64(TG_SHAPE(1, 4, 1, 1), (double[]){0, 1, 2, 3});
  tg_tensor *ps = tg_pixel_shuffle(p, 2);
  assert_values(ps, 4, (double[]){0, 1, 2, 3});
  assert_int_equal(ps->shape[1], 1);
  assert_int_equal(ps->shape[2], 2);
  /* (1, 2, 4) r 2: channel c*4 + i*2 + j takes [c, h*2 + i, w*2 + j] */
  tg_tensor *u = tg_pixel_unshuffle(tg_reshape(tg_arange(TG_FLOAT64, 0, 8, 1), TG_SHAPE(1, 2, 4)), 2);
  assert_values(u, 8, (double[]){0, 2, 1, 3, 4, 6, 5, 7});
  assert_int_equal(u->shape[0], 4);
  /* integers shuffle too */
  tg_tensor *pi = tg_pixel_shuffle(tg_from_i64(TG_SHAPE(4, 1, 1), (int64_t[]){0, 1, 2, 3}), 2);
  assert_int_equal(pi->dtype, TG_INT64);
  assert_values(pi, 4, (double[]){0, 1, 2, 3});
}

/* ---------------------------------------------------- gradients */

enum { O_MAX1, O_MAX2, O_AVG1, O_AVG2, O_AAVG1, O_AAVG2, O_AMAX1, O_AMAX2, O_NEAR1, O_NEAR2, O_LIN1,
       O_BILIN, O_SHUF, O_UNSHUF, N_OPS };

typedef struct {
  int op;
  int64_t k[2], st[2], pd[2], dl[2], out[2];
  bool ceil, incl, align, use_scale, nc;
  int64_t div;
  double sf[2];
} pctx;

static tg_tensor *run(const pctx *c, tg_tensor *x) {
  if (c->nc) x = tg_transpose(x, -1, -2); /* built transposed: a strided view */
  switch (c->op) {
  case O_MAX1: return tg_max_pool1d(x, c->k[1], &c->st[1], c->pd[1], c->dl[1], c->ceil, NULL);
  case O_MAX2: return tg_max_pool2d(x, c->k, c->st, c->pd, c->dl, c->ceil, NULL);
  case O_AVG1: return tg_avg_pool1d(x, c->k[1], &c->st[1], c->pd[1], c->ceil, c->incl);
  case O_AVG2: return tg_avg_pool2d(x, c->k, c->st, c->pd, c->ceil, c->incl, c->div);
  case O_AAVG1: return tg_adaptive_avg_pool1d(x, c->out[1]);
  case O_AAVG2: return tg_adaptive_avg_pool2d(x, c->out);
  case O_AMAX1: return tg_adaptive_max_pool1d(x, c->out[1], NULL);
  case O_AMAX2: return tg_adaptive_max_pool2d(x, c->out, NULL);
  case O_NEAR1: case O_LIN1:
    return tg_interpolate(x, c->use_scale ? NULL : c->out + 1, c->use_scale ? c->sf + 1 : NULL,
                          c->op == O_LIN1 ? TG_INTERP_LINEAR : TG_INTERP_NEAREST, c->align);
  case O_NEAR2: case O_BILIN:
    return tg_interpolate(x, c->use_scale ? NULL : c->out, c->use_scale ? c->sf : NULL,
                          c->op == O_BILIN ? TG_INTERP_BILINEAR : TG_INTERP_NEAREST, c->align);
  case O_SHUF: return tg_pixel_shuffle(x, (long)c->k[0]);
  default: return tg_pixel_unshuffle(x, (long)c->k[0]);
  }
}

static tg_tensor *f_op(tg_tensor **in, void *p) { return run(p, in[0]); }

/* (x, g) -> grad(f(x), x, g) with create_graph: its gradient in g is the
 * backward's own backward (the double backward), in x that of max's indices */
static tg_tensor *f_grad(tg_tensor **in, void *p) {
  bool prev = tg_set_grad_enabled(true); /* the numeric pass runs without grad mode */
  tg_tensor *y = run(p, in[0]), *gx = NULL;
  tg_grad_opts o = {.create_graph = true};
  int rc = y ? tg_grad(1, &y, &in[1], 1, &in[0], &gx, o) : -1;
  tg_set_grad_enabled(prev);
  return rc ? NULL : gx;
}

static bool one_d(int op) { return op == O_MAX1 || op == O_AVG1 || op == O_AAVG1 || op == O_AMAX1 || op == O_NEAR1 || op == O_LIN1; }

/* random parameters valid for the op and an input size for each spatial dim */
static void draw(tg_rng *r, pctx *c, size_t *in) {
  bool avg = c->op == O_AVG1 || c->op == O_AVG2;
  for (int i = 0; i < 2; i++) {
    c->k[i] = rand_int(r, 1, 3);
    c->st[i] = rand_int(r, 1, 3);
    c->pd[i] = rand_int(r, 0, (size_t)c->k[i] / 2);
    c->dl[i] = avg ? 1 : rand_int(r, 1, 2);
    in[i] = c->dl[i] * (c->k[i] - 1) + 1 + rand_int(r, 0, 3);
    c->out[i] = rand_int(r, 1, 5);
    c->sf[i] = 0.6 + 1.9 * tg_rng_uniform(r);
  }
  c->ceil = rand_int(r, 0, 1);
  c->incl = rand_int(r, 0, 1);
  c->div = rand_int(r, 0, 3) == 0 ? (int64_t)rand_int(r, 1, 5) : 0;
  c->align = (c->op == O_LIN1 || c->op == O_BILIN) && rand_int(r, 0, 1);
  c->use_scale = rand_int(r, 0, 2) == 0;
  if (c->op == O_SHUF || c->op == O_UNSHUF) {
    c->k[0] = rand_int(r, 1, 3);
    in[0] = c->k[0] * rand_int(r, 1, 2), in[1] = c->k[0] * rand_int(r, 1, 3);
  }
}

static void test_gradients(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 11);
  for (int it = 0; it < 6 * N_OPS; it++) {
    tg_scope_begin();
    pctx c = {.op = it % N_OPS, .nc = it % 3 == 1};
    size_t in[2];
    draw(&r, &c, in);
    bool batched = rand_int(&r, 0, 2) > 0 || c.op >= O_NEAR1; /* interpolate needs a batch dim */
    size_t shape[5], ch = rand_int(&r, 1, 2) * (c.op == O_SHUF ? c.k[0] * c.k[0] : 1);
    int nd = 0;
    if (batched) shape[nd++] = rand_int(&r, 1, 2);
    shape[nd++] = ch;
    if (!one_d(c.op)) shape[nd++] = in[0];
    shape[nd++] = in[1];
    if (c.nc && nd >= 2) { /* created as (.., W, H), seen as (.., H, W) */
      size_t t = shape[nd - 1];
      shape[nd - 1] = shape[nd - 2], shape[nd - 2] = t;
    }
    tg_tensor *x = test_leaf(&r, nd, shape);
    tg_tensor *y = run(&c, x);
    if (!y) fail_msg("op %d: %s", c.op, tg_last_error());
    tg_gradcheck_result g = tg_gradcheck(f_op, 1, &x, &c, (tg_gradcheck_opts){.quiet = true});
    if (!g.ok) fail_msg("gradcheck op %d (it %d): %s", c.op, it, g.message);
    tg_tensor *pair[2] = {x, test_leaf(&r, y->ndim, y->shape)};
    g = tg_gradcheck(f_grad, 2, pair, &c, (tg_gradcheck_opts){.quiet = true});
    if (!g.ok) fail_msg("double backward op %d (it %d): %s", c.op, it, g.message);
    g = tg_gradgradcheck(f_op, 1, &x, &c, (tg_gradcheck_opts){.quiet = true});
    if (!g.ok) fail_msg("gradgradcheck op %d (it %d): %s", c.op, it, g.message);
    tg_scope_end();
  }
}

/* max pool's gradient lands on the argmax only; float32 agrees with float64 */
static void test_max_grad_and_f32(void **s) {
  (void)s;
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(1, 1, 2, 2), (double[]){1, 5, 3, 2}), true);
  tg_tensor *y = tg_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
  assert_string_equal(tg_grad_fn_name(y), "MaxPool2DWithIndicesBackward");
  assert_int_equal(tg_backward(tg_mul_scalar(y, 3), NULL, false), 0);
  assert_values(x->grad, 4, (double[]){0, 3, 0, 0});
  tg_rng r;
  tg_rng_seed(&r, 5);
  tg_tensor *a = tg_randn(&r, TG_FLOAT64, TG_SHAPE(2, 3, 7, 6)), *a32 = tg_to_dtype(a, TG_FLOAT32);
  const int64_t k[] = {3, 2}, st[] = {2, 1}, p[] = {1, 1};
  tg_tensor *m = tg_max_pool2d(a, k, st, p, NULL, true, NULL), *m32 = tg_max_pool2d(a32, k, st, p, NULL, true, NULL);
  tg_tensor *v = tg_avg_pool2d(a, k, st, p, true, false, 0), *v32 = tg_avg_pool2d(a32, k, st, p, true, false, 0);
  tg_tensor *b = tg_interpolate(a, (int64_t[]){9, 4}, NULL, TG_INTERP_BILINEAR, false);
  tg_tensor *b32 = tg_interpolate(a32, (int64_t[]){9, 4}, NULL, TG_INTERP_BILINEAR, false);
  assert_non_null(m32);
  assert_int_equal(m32->dtype, TG_FLOAT32);
  for (size_t i = 0; i < m->numel; i++) {
    assert_close(tg_get_flat(m32, i), tg_get_flat(m, i), 1e-6);
    assert_close(tg_get_flat(v32, i), tg_get_flat(v, i), 1e-5);
  }
  for (size_t i = 0; i < b->numel; i++) assert_close(tg_get_flat(b32, i), tg_get_flat(b, i), 1e-5);
}

/* (C, H, W) pools as (1, C, H, W) and keeps its 3 dims */
static void test_unbatched(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 3);
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(2, 5, 4)), *x4 = tg_unsqueeze(x, 0);
  const int64_t k[] = {2, 3}, p[] = {1, 1};
  tg_tensor *pairs[][2] = {
      {tg_max_pool2d(x, k, NULL, p, NULL, true, NULL), tg_max_pool2d(x4, k, NULL, p, NULL, true, NULL)},
      {tg_avg_pool2d(x, k, NULL, p, true, false, 0), tg_avg_pool2d(x4, k, NULL, p, true, false, 0)},
      {tg_adaptive_avg_pool2d(x, (int64_t[]){3, 2}), tg_adaptive_avg_pool2d(x4, (int64_t[]){3, 2})},
      {tg_adaptive_max_pool2d(x, (int64_t[]){3, 2}, NULL), tg_adaptive_max_pool2d(x4, (int64_t[]){3, 2}, NULL)},
      {tg_max_pool1d(tg_select(x, 1, 0), 2, (int64_t[]){1}, 1, 1, false, NULL), tg_max_pool1d(tg_select(x4, 2, 0), 2, (int64_t[]){1}, 1, 1, false, NULL)},
      {tg_pixel_unshuffle(x, 1), tg_pixel_unshuffle(x4, 1)},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    assert_non_null(pairs[i][0]);
    assert_int_equal(pairs[i][0]->ndim, pairs[i][1]->ndim - 1);
    assert_int_equal(pairs[i][0]->numel, pairs[i][1]->numel);
    for (size_t j = 0; j < pairs[i][0]->numel; j++)
      assert_close(tg_get_flat(pairs[i][0], j), tg_get_flat(pairs[i][1], j), 0);
  }
  /* an empty batch pools to an empty batch */
  tg_tensor *e = tg_max_pool2d(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 2, 4, 4)), k, NULL, NULL, NULL, false, NULL);
  assert_non_null(e);
  assert_int_equal(e->shape[0], 0);
}

static void test_errors(void **s) {
  (void)s;
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 5, 5)), *i;
  const int64_t k2[] = {2, 2}, k6[] = {6, 6}, z[] = {0, 0}, p2[] = {2, 2};
  assert_fails(tg_max_pool2d(NULL, k2, NULL, NULL, NULL, false, NULL), "max_pool2d");
  assert_fails(tg_max_pool2d(x, NULL, NULL, NULL, NULL, false, NULL), "kernel_size is NULL");
  assert_fails(tg_max_pool2d(x, z, NULL, NULL, NULL, false, NULL), "kernel size should be greater than zero");
  assert_fails(tg_max_pool2d(x, k2, NULL, NULL, z, false, NULL), "dilation should be greater than zero");
  assert_fails(tg_max_pool2d(x, k2, NULL, p2, NULL, false, NULL), "pad should be at most half of kernel size");
  /* sizes are int64, as torch's: negatives and a zero stride get its messages */
  assert_fails(tg_max_pool2d(x, (int64_t[]){-1, 2}, NULL, NULL, NULL, false, NULL),
               "kernel size should be greater than zero, but got kH: -1 kW: 2");
  assert_fails(tg_max_pool2d(x, k2, z, NULL, NULL, false, NULL), "stride should not be zero");
  assert_fails(tg_avg_pool2d(x, k2, (int64_t[]){1, -2}, NULL, false, true, 0),
               "stride should be greater than zero, but got dH: 1 dW: -2");
  assert_fails(tg_avg_pool2d(x, k2, NULL, (int64_t[]){0, -1}, false, true, 0),
               "pad must be non-negative, but got pad: -1");
  assert_fails(tg_max_pool1d(x, 2, NULL, 0, -1, false, NULL), "dilation should be greater than zero");
  assert_fails(tg_adaptive_avg_pool2d(x, (int64_t[]){-1, 2}), "must be greater than or equal to 0");
  assert_fails(tg_interpolate(x, (int64_t[]){-1, 3}, NULL, TG_INTERP_NEAREST, false),
               "sizes should be greater than 0");
  assert_fails(tg_pixel_shuffle(x, -1), "pixel_shuffle");
  assert_fails(tg_max_pool2d(x, k6, NULL, NULL, NULL, false, &i), "Output size is too small");
  assert_null(i);
  assert_fails(tg_max_pool2d(tg_zeros(TG_FLOAT64, TG_SHAPE(5, 5)), k2, NULL, NULL, NULL, false, NULL),
               "Expected 3D or 4D");
  assert_fails(tg_max_pool2d(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 0, 5, 5)), k2, NULL, NULL, NULL, false, NULL),
               "optional 0 dim batch size");
  assert_fails(tg_max_pool2d(tg_zeros(TG_INT64, TG_SHAPE(1, 5, 5)), k2, NULL, NULL, NULL, false, NULL),
               "not implemented for 'Long'");
  assert_fails(tg_max_pool1d(tg_zeros(TG_FLOAT64, TG_SHAPE(5)), 2, NULL, 0, 1, false, NULL), "Expected 2D or 3D");
  assert_fails(tg_avg_pool2d(tg_zeros(TG_BOOL, TG_SHAPE(1, 5, 5)), k2, NULL, NULL, false, true, 0),
               "not implemented for 'Bool'");
  assert_fails(tg_max_pool1d(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 5)), 6, NULL, 0, 1, false, NULL), "too small");
  assert_fails(tg_avg_pool1d(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 5)), 2, (int64_t[]){1}, 2, false, true), "at most half");
  assert_fails(tg_avg_pool2d(x, NULL, NULL, NULL, false, true, 0), "kernel_size is NULL");
  assert_fails(tg_avg_pool2d(x, k6, NULL, NULL, false, true, 0), "too small");
  assert_fails(tg_adaptive_avg_pool2d(x, NULL), "output_size is NULL");
  assert_fails(tg_adaptive_avg_pool2d(tg_zeros(TG_FLOAT64, TG_SHAPE(5, 5)), k2), "Expected 3D or 4D");
  assert_fails(tg_adaptive_avg_pool2d(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 0, 5)), k2), "non-zero size");
  assert_fails(tg_adaptive_max_pool2d(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 0, 5, 5)), k2, NULL), "non-zero size");
  assert_non_null(tg_adaptive_avg_pool2d(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 0, 5, 5)), k2));
  assert_fails(tg_adaptive_max_pool1d(tg_zeros(TG_INT64, TG_SHAPE(1, 5)), 2, NULL), "not implemented");
  assert_fails(tg_interpolate(NULL, k2, NULL, TG_INTERP_NEAREST, false), "interpolate");
  assert_fails(tg_interpolate(x, k2, (double[]){2, 2}, TG_INTERP_NEAREST, false), "only one of size or scale_factor");
  assert_fails(tg_interpolate(x, NULL, NULL, TG_INTERP_NEAREST, false), "either size or scale_factor");
  assert_fails(tg_interpolate(x, k2, NULL, TG_INTERP_NEAREST, true), "align_corners option");
  assert_fails(tg_interpolate(x, k2, NULL, TG_INTERP_LINEAR, false), "linear mode needs 3D input");
  assert_fails(tg_interpolate(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 5, 5)), k2, NULL, TG_INTERP_BILINEAR, false),
               "bilinear mode needs 4D input");
  assert_fails(tg_interpolate(tg_zeros(TG_FLOAT64, TG_SHAPE(5, 5)), k2, NULL, TG_INTERP_NEAREST, false),
               "Only 3D, 4D and 5D");
  assert_fails(tg_interpolate(x, z, NULL, TG_INTERP_NEAREST, false), "should be greater than 0");
  assert_fails(tg_interpolate(x, NULL, (double[]){0.1, 1}, TG_INTERP_BILINEAR, false), "should be greater than 0");
  assert_fails(tg_interpolate(x, NULL, (double[]){-2, -2}, TG_INTERP_NEAREST, false), "should be greater than 0");
  assert_fails(tg_interpolate(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 0, 3, 3)), k2, NULL, TG_INTERP_NEAREST, false),
               "Non-empty 4D data tensor");
  assert_fails(tg_interpolate(x, k2, NULL, (tg_interp_mode)7, false), "unknown mode");
  assert_fails(tg_interpolate(tg_zeros(TG_INT64, TG_SHAPE(1, 1, 5)), k2, NULL, TG_INTERP_NEAREST, false),
               "not implemented for 'Long'");
  assert_fails(tg_pixel_shuffle(NULL, 2), "pixel_shuffle");
  assert_fails(tg_pixel_shuffle(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 3, 2, 2)), 2), "divisible by the square");
  assert_fails(tg_pixel_shuffle(tg_zeros(TG_FLOAT64, TG_SHAPE(4, 2)), 2), "at least 3 dimensions");
  assert_fails(tg_pixel_shuffle(x, 0), "positive upscale_factor");
  assert_fails(tg_pixel_unshuffle(x, -1), "positive downscale_factor");
  assert_fails(tg_pixel_unshuffle(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 3, 4)), 2), "height to be divisible");
  assert_fails(tg_pixel_unshuffle(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 4, 3)), 2), "width to be divisible");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_max_pool_values), TG_TEST(test_max_pool_2x2), TG_TEST(test_avg_pool_values), TG_TEST(test_adaptive_values),
      TG_TEST(test_resample_values), TG_TEST(test_gradients),       TG_TEST(test_max_grad_and_f32),
      TG_TEST(test_unbatched),       TG_TEST(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
