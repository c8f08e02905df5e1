/* The convolution family (ops/conv.c, ops/unfold.c): values against direct
 * loops written here, unfold/fold as each other's adjoint, float64
 * gradchecks and gradgradchecks on random geometries (stride, padding,
 * dilation, groups, depthwise, no bias, a transposed input), unbatched
 * input, int64, and torch 1.13's errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tg_test.h"

/* FNV-1a over the float32 results of the direct kernels' test, so that
 * variants of ops/conv_direct.c (one process each, main) can be compared
 * bit for bit */
static uint64_t digest = 14695981039346656037ull;
static void digest_add(const tg_tensor *t) {
  for (size_t e = 0; e < t->numel; e++) {
    float f = (float)tg_get_flat(t, e);
    unsigned char b[sizeof f];
    memcpy(b, &f, sizeof f);
    for (size_t i = 0; i < sizeof f; i++) digest = (digest ^ b[i]) * 1099511628211ull;
  }
}

/* a random geometry for an sd-d convolution */
typedef struct {
  int sd;
  bool transposed, bias, nc, same;
  int64_t n, groups, cin_g, cout_g, k[2], s[2], p[2], d[2], op[2], in[2];
} geo;

static geo rand_geo(tg_rng *r, int sd, bool transposed) {
  geo g = {.sd = sd, .transposed = transposed};
  g.n = rand_int(r, 1, 2);
  g.groups = rand_int(r, 1, 3);
  g.cin_g = rand_int(r, 1, 2);
  g.cout_g = rand_int(r, 1, 2);
  if (!transposed && tg_rng_uniform(r) < 0.25) g.cin_g = 1; /* depthwise */
  g.bias = tg_rng_uniform(r) < 0.6;
  g.nc = tg_rng_uniform(r) < 0.5;
  for (int i = 0; i < sd; i++) {
    g.k[i] = rand_int(r, 1, 3);
    g.s[i] = rand_int(r, 1, 2);
    g.d[i] = rand_int(r, 1, 2);
    g.p[i] = rand_int(r, 0, 1);
    int64_t dk = g.d[i] * (g.k[i] - 1) + 1;
    g.in[i] = transposed ? rand_int(r, 1, 3) : rand_int(r, dk - 2 * g.p[i] > 1 ? dk - 2 * g.p[i] : 1, dk + 2);
    g.op[i] = transposed ? rand_int(r, 0, (g.s[i] > g.d[i] ? g.s[i] : g.d[i]) - 1) : 0;
    int64_t room = ((g.in[i] - 1) * g.s[i] + dk - 1 + g.op[i]) / 2; /* an output of at least 1 */
    if (transposed && g.p[i] > room) g.p[i] = room;
  }
  return g;
}

static size_t xch(const geo *g) { return (size_t)(g->cin_g * g->groups); }
static size_t ych(const geo *g) { return (size_t)(g->cout_g * g->groups); }

/* x as the transpose of its last two dims when nc (2-d; 1-d: of N and C) */
static tg_tensor *view_x(const geo *g, tg_tensor *x) {
  if (!g->nc) return x;
  return g->sd == 2 ? tg_transpose(x, 2, 3) : tg_transpose(x, 0, 1);
}

static tg_tensor *f_conv(tg_tensor **in, void *p) {
  const geo *g = p;
  tg_tensor *x = view_x(g, in[0]), *b = g->bias ? in[2] : NULL;
  if (g->sd == 2) {
    if (g->transposed) return tg_conv_transpose2d(x, in[1], b, g->s, g->p, g->op, g->groups, g->d);
    if (g->same) return tg_conv2d_padding(x, in[1], b, NULL, "same", g->d, g->groups);
    return tg_conv2d(x, in[1], b, g->s, g->p, g->d, g->groups);
  }
  if (g->transposed) return tg_conv_transpose1d(x, in[1], b, g->s[0], g->p[0], g->op[0], g->groups, g->d[0]);
  if (g->same) return tg_conv1d_padding(x, in[1], b, 1, "same", g->d[0], g->groups);
  return tg_conv1d(x, in[1], b, g->s[0], g->p[0], g->d[0], g->groups);
}

/* the leaves of a case: x stored so that view_x gives (N, C, spatial) */
static int make_inputs(tg_rng *r, const geo *g, tg_tensor **in) {
  size_t xs[4] = {(size_t)g->n, xch(g), (size_t)g->in[0], (size_t)g->in[1]};
  if (g->nc) {
    size_t t = g->sd == 2 ? 2 : 0, u = g->sd == 2 ? 3 : 1, v = xs[t];
    xs[t] = xs[u];
    xs[u] = v;
  }
  size_t ws[4] = {g->transposed ? xch(g) : ych(g), (size_t)(g->transposed ? g->cout_g : g->cin_g),
                  (size_t)g->k[0], (size_t)g->k[1]};
  in[0] = test_leaf(r, g->sd + 2, xs);
  in[1] = test_leaf(r, g->sd + 2, ws);
  in[2] = test_leaf(r, 1, (size_t[]){ych(g)});
  return g->bias ? 3 : 2;
}

/* the direct definition: y[n, o, oh, ow] = b[o] + sum_{c in o's group, i, j}
 * x[n, c, oh s - p + i d, ...] w[o, c', i, j]; transposed: each x[n, c, h, w]
 * scattered with w[c, o', i, j] to (h s - p + i d, w s - p + j d) */
static double at4(const double *t, const size_t *sh, size_t a, size_t b, size_t c, size_t d) {
  return t[((a * sh[1] + b) * sh[2] + c) * sh[3] + d];
}

static void check_values(const geo *g0, tg_tensor **in) {
  geo g = *g0;
  if (g.sd == 1) { /* as a 2-d convolution of height 1, in place of dim 0 */
    g.k[1] = g.k[0], g.s[1] = g.s[0], g.p[1] = g.p[0], g.d[1] = g.d[0], g.op[1] = g.op[0], g.in[1] = g.in[0];
    g.k[0] = g.s[0] = g.d[0] = g.in[0] = 1;
    g.p[0] = g.op[0] = 0;
  }
  tg_tensor *y = tg_contiguous(f_conv(in, (void *)g0));
  tg_tensor *x = tg_contiguous(view_x(g0, in[0])), *w = tg_contiguous(in[1]);
  assert_non_null(y);
  size_t xs[4] = {(size_t)g.n, xch(&g), (size_t)g.in[0], (size_t)g.in[1]};
  size_t ws[4] = {w->shape[0], w->shape[1], (size_t)g.k[0], (size_t)g.k[1]};
  int64_t out[2];
  for (int i = 0; i < 2; i++)
    out[i] = g.transposed ? (g.in[i] - 1) * g.s[i] - 2 * g.p[i] + g.d[i] * (g.k[i] - 1) + g.op[i] + 1
                          : (g.in[i] + 2 * g.p[i] - g.d[i] * (g.k[i] - 1) - 1) / g.s[i] + 1;
  size_t oc = ych(&g), ys[4] = {(size_t)g.n, oc, (size_t)out[0], (size_t)out[1]};
  assert_int_equal(y->numel, g.n * (int64_t)oc * out[0] * out[1]);
  double *want = calloc(y->numel, sizeof *want);
  const double *xd = tg_data_f64(x), *wd = tg_data_f64(w);
  for (size_t n = 0; n < xs[0]; n++)
    for (size_t c = 0; c < xs[1]; c++)
      for (int64_t h = 0; h < (g.transposed ? g.in[0] : out[0]); h++)
        for (int64_t v = 0; v < (g.transposed ? g.in[1] : out[1]); v++)
          for (int64_t i = 0; i < g.k[0]; i++)
            for (int64_t j = 0; j < g.k[1]; j++) {
              int64_t a = h * g.s[0] - g.p[0] + i * g.d[0], bb = v * g.s[1] - g.p[1] + j * g.d[1];
              size_t grp = c / (size_t)g.cin_g, cc = c % (size_t)g.cin_g;
              if (a < 0 || bb < 0 || a >= (g.transposed ? out[0] : g.in[0]) ||
                  bb >= (g.transposed ? out[1] : g.in[1]))
                continue;
              for (size_t o2 = 0; o2 < (size_t)g.cout_g; o2++) {
                size_t o = grp * (size_t)g.cout_g + o2;
                if (g.transposed)
                  want[((n * oc + o) * ys[2] + (size_t)a) * ys[3] + (size_t)bb] +=
                      at4(xd, xs, n, c, (size_t)h, (size_t)v) * at4(wd, ws, c, o2, (size_t)i, (size_t)j);
                else
                  want[((n * oc + o) * ys[2] + (size_t)h) * ys[3] + (size_t)v] +=
                      at4(xd, xs, n, c, (size_t)a, (size_t)bb) * at4(wd, ws, o, cc, (size_t)i, (size_t)j);
              }
            }
  const double *yd = tg_data_f64(y);
  for (size_t e = 0; e < y->numel; e++) {
    double b = g.bias ? tg_data_f64(in[2])[(e / (ys[2] * ys[3])) % oc] : 0;
    assert_close(yd[e], want[e] + b, 1e-12);
  }
  free(want);
}

static void run_cases(int sd, bool transposed, uint64_t seed, int n_cases) {
  tg_rng r;
  tg_rng_seed(&r, seed);
  for (int t = 0; t < n_cases; t++) {
    tg_scope_begin();
    geo g = rand_geo(&r, sd, transposed);
    tg_tensor *in[3];
    int n_in = make_inputs(&r, &g, in);
    check_values(&g, in);
    assert_gradcheck(f_conv, n_in, in, &g);
    if (t % 2 == 0) assert_gradgradcheck(f_conv, n_in, in, &g);
    tg_scope_end();
  }
}

static void test_conv2d(void **s) { (void)s; run_cases(2, false, 11, 14); }
static void test_conv1d(void **s) { (void)s; run_cases(1, false, 12, 14); }
static void test_conv_transpose2d(void **s) { (void)s; run_cases(2, true, 13, 14); }
static void test_conv_transpose1d(void **s) { (void)s; run_cases(1, true, 14, 12); }

/* "same": output as large as the input, the odd padding on the right:
 * the same as an explicit pad (0 left, 1 right) and a valid convolution */
static void test_conv_same(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 15);
  tg_tensor *x = test_leaf(&r, 4, (size_t[]){2, 2, 4, 5}), *w = test_leaf(&r, 4, (size_t[]){3, 2, 2, 3});
  tg_tensor *y = tg_conv2d_padding(x, w, NULL, NULL, "same", NULL, 1);
  assert_non_null(y);
  assert_int_equal(y->shape[2], 4);
  assert_int_equal(y->shape[3], 5);
  tg_tensor *want = tg_conv2d(tg_pad(x, 4, (long[]){1, 1, 0, 1}, TG_PAD_CONSTANT, 0), w, NULL, NULL, NULL, NULL, 1);
  for (size_t e = 0; e < y->numel; e++) assert_close(tg_get_flat(y, e), tg_get_flat(want, e), 1e-12);
  tg_tensor *v = tg_conv2d_padding(x, w, NULL, NULL, "valid", NULL, 1);
  assert_int_equal(v->shape[2], 3);
  for (int t = 0; t < 4; t++) { /* gradients, odd and even totals, dilation */
    geo g = rand_geo(&r, 1 + t % 2, false);
    g.same = true;
    g.s[0] = g.s[1] = 1;
    for (int i = 0; i < 2; i++) g.in[i] = rand_int(&r, 1, 4);
    tg_tensor *in[3];
    int n_in = make_inputs(&r, &g, in);
    assert_gradcheck(f_conv, n_in, in, &g);
    assert_gradgradcheck(f_conv, n_in, in, &g);
  }
}

/* unbatched input: the batched result of a batch of one; int64: exact */
static void test_conv_unbatched_int(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 16);
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, 3, (size_t[]){2, 4, 4}), *w = tg_randn(&r, TG_FLOAT64, 4, (size_t[]){3, 2, 2, 2});
  tg_tensor *b = tg_randn(&r, TG_FLOAT64, 1, (size_t[]){3});
  tg_tensor *y = tg_conv2d(x, w, b, (int64_t[]){2, 1}, (int64_t[]){1, 0}, NULL, 1);
  tg_tensor *y4 = tg_conv2d(tg_unsqueeze(x, 0), w, b, (int64_t[]){2, 1}, (int64_t[]){1, 0}, NULL, 1);
  assert_int_equal(y->ndim, 3);
  for (size_t e = 0; e < y->numel; e++) assert_close(tg_get_flat(y, e), tg_get_flat(y4, e), 0);
  tg_tensor *wt = tg_randn(&r, TG_FLOAT64, 3, (size_t[]){2, 3, 2});
  tg_tensor *u = tg_conv_transpose1d(tg_select(x, 2, 0), wt, NULL, 2, 0, 1, 1, 1);
  assert_int_equal(u->ndim, 2);
  assert_int_equal(u->shape[1], (4 - 1) * 2 + 1 + 1 + 1);
  /* int64: 1 2 / 3 4 against the kernel 1 -1 gives -1 each */
  tg_tensor *xi = tg_from_i64(4, (size_t[]){1, 1, 2, 2}, (int64_t[]){1, 2, 3, 4});
  tg_tensor *wi = tg_from_i64(4, (size_t[]){1, 1, 1, 2}, (int64_t[]){1, -1});
  tg_tensor *yi = tg_conv2d(xi, wi, NULL, NULL, NULL, NULL, 1);
  assert_int_equal(yi->dtype, TG_INT64);
  assert_int_equal(yi->numel, 2);
  assert_close(tg_get_flat(yi, 0), -1, 0);
  assert_close(tg_get_flat(yi, 1), -1, 0);
}

/* the fused forward (columns per item, batch split over threads, the
 * pointwise case without columns) against unfold + matmul at sizes that
 * split, in float32 and float64, and pointwise gradients */
static void test_conv_fused_paths(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 19);
  tg_set_num_threads(2);
  for (int t = 0; t < 4; t++) {
    tg_dtype dt = t % 2 ? TG_FLOAT32 : TG_FLOAT64;
    bool pointwise = t >= 2;
    /* at least 4e6 flop: the batch is split */
    size_t k = pointwise ? 1 : 3, G = pointwise ? 1 : 2, C = pointwise ? 32 : 16, O = 2 * C;
    tg_tensor *x = tg_randn(&r, dt, 4, (size_t[]){4, C, 20, 20});
    tg_tensor *w = tg_randn(&r, dt, 4, (size_t[]){O, C / G, k, k}), *b = tg_randn(&r, dt, 1, (size_t[]){O});
    const int64_t kk[2] = {(int64_t)k, (int64_t)k};
    tg_tensor *y = tg_conv2d(x, w, b, NULL, NULL, NULL, (int64_t)G);
    tg_tensor *cols = tg_reshape(tg_unfold(x, kk, NULL, NULL, NULL), 4, (size_t[]){4, G, C / G * k * k, (21 - k) * (21 - k)});
    tg_tensor *want = tg_matmul(tg_reshape(w, 3, (size_t[]){G, O / G, C / G * k * k}), cols);
    want = tg_add(tg_reshape(want, 4, y->shape), tg_reshape(b, 3, (size_t[]){O, 1, 1}));
    assert_int_equal(y->numel, want->numel);
    double tol = dt == TG_FLOAT32 ? 1e-3 : 1e-11;
    for (size_t e = 0; e < y->numel; e++) assert_close(tg_get_flat(y, e), tg_get_flat(want, e), tol);
    /* the gradients (batch split over the threads, dw summed over the
     * parts) against those through unfold + matmul */
    tg_tensor *leaves[3] = {x, w, b}, *mine[3], *ref[3];
    tg_tensor *rw = tg_randn(&r, dt, 4, y->shape);
    for (int i = 0; i < 3; i++) tg_requires_grad_(leaves[i], true);
    y = tg_conv2d(x, w, b, NULL, NULL, NULL, (int64_t)G);
    cols = tg_reshape(tg_unfold(x, kk, NULL, NULL, NULL), 4, (size_t[]){4, G, C / G * k * k, (21 - k) * (21 - k)});
    want = tg_matmul(tg_reshape(w, 3, (size_t[]){G, O / G, C / G * k * k}), cols);
    want = tg_add(tg_reshape(want, 4, y->shape), tg_reshape(b, 3, (size_t[]){O, 1, 1}));
    tg_tensor *l1 = tg_sum(tg_mul(y, rw)), *l2 = tg_sum(tg_mul(want, rw));
    assert_int_equal(tg_grad(1, &l1, NULL, 3, leaves, mine, (tg_grad_opts){0}), 0);
    assert_int_equal(tg_grad(1, &l2, NULL, 3, leaves, ref, (tg_grad_opts){0}), 0);
    for (int i = 0; i < 3; i++)
      for (size_t e = 0; e < mine[i]->numel; e++)
        assert_close(tg_get_flat(mine[i], e), tg_get_flat(ref[i], e), tol * (i == 1 ? 100 : 10));
  }
  tg_set_num_threads(1);
  for (int t = 0; t < 3; t++) {
    geo g = rand_geo(&r, 2, false);
    g.k[0] = g.k[1] = g.s[0] = g.s[1] = 1;
    g.p[0] = g.p[1] = 0;
    g.nc = t == 2;
    tg_tensor *in[3];
    int n_in = make_inputs(&r, &g, in);
    check_values(&g, in);
    assert_gradcheck(f_conv, n_in, in, &g);
    assert_gradgradcheck(f_conv, n_in, in, &g);
  }
}

/* the float32 forward without a weight gradient (ops/conv_direct.c's for
 * groups 1, im2col's under TG_CONV_DIRECT=0; at 1 thread) against the
 * float64 one of the same values (im2col): LeNet's shapes,
 * stride/dilation/padding, no bias, a transposed input, a shape called
 * again with new values, and groups (not taken by the direct kernels) */
static void test_conv_float32_forward(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 23);
  tg_set_num_threads(1);
  const struct {
    size_t n, c, o, h, k;
    int64_t p, st, d, groups;
    bool bias, nc;
  } cs[] = {{64, 1, 6, 28, 5, 2, 1, 1, 1, true, false}, {64, 6, 16, 14, 5, 0, 1, 1, 1, true, false},
            {3, 4, 5, 11, 3, 1, 2, 2, 1, false, false}, {2, 3, 4, 9, 3, 1, 1, 1, 1, true, true},
            {64, 6, 16, 14, 5, 0, 1, 1, 1, true, false}, {2, 4, 6, 8, 3, 1, 1, 1, 2, true, false}};
  for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
    tg_tensor *x = tg_randn(&r, TG_FLOAT64, 4, (size_t[]){cs[t].n, cs[t].c, cs[t].h, cs[t].h});
    tg_tensor *w = tg_randn(&r, TG_FLOAT64, 4, (size_t[]){cs[t].o, cs[t].c / (size_t)cs[t].groups, cs[t].k, cs[t].k});
    tg_tensor *b = cs[t].bias ? tg_randn(&r, TG_FLOAT64, 1, (size_t[]){cs[t].o}) : NULL;
    if (cs[t].nc) x = tg_transpose(tg_contiguous(tg_transpose(x, 2, 3)), 2, 3);
    const int64_t p[2] = {cs[t].p, cs[t].p}, st[2] = {cs[t].st, cs[t].st}, d[2] = {cs[t].d, cs[t].d};
    tg_tensor *want = tg_conv2d(x, w, b, st, p, d, cs[t].groups);
    tg_tensor *y = tg_conv2d(tg_to_dtype(x, TG_FLOAT32), tg_to_dtype(w, TG_FLOAT32),
                             b ? tg_to_dtype(b, TG_FLOAT32) : NULL, st, p, d, cs[t].groups);
    assert_non_null(y);
    assert_int_equal(y->dtype, TG_FLOAT32);
    assert_int_equal(y->ndim, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(y->shape[i], want->shape[i]);
    for (size_t e = 0; e < y->numel; e++) assert_close(tg_get_flat(y, e), tg_get_flat(want, e), 1e-4);
  }
}

/* ops/conv_direct.c's float32 kernels against the float64 im2col + GEMM
 * path on the same values: the forward (the 16-lane channel tiles for 12+
 * output channels, the wide kernel for fewer) and the weight's gradient
 * without columns (a first layer: x needs no gradient), at 1 and 2 threads,
 * over rectangular inputs, stride, dilation, padding, no bias, a transposed
 * input, and output channels past one vector (17, 33) */
static void test_conv_float32_direct(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 29);
  const struct {
    size_t n, c, o, h, w, kh, kw;
    int64_t p0, p1, st, d;
    bool bias, nc;
  } cs[] = {{64, 1, 6, 28, 28, 5, 5, 2, 2, 1, 1, true, false}, {64, 6, 16, 14, 14, 5, 5, 0, 0, 1, 1, true, false},
            {3, 2, 5, 9, 13, 3, 2, 1, 0, 1, 2, false, false},  {2, 3, 17, 11, 7, 3, 3, 1, 2, 2, 1, true, false},
            {5, 4, 33, 6, 19, 2, 4, 0, 1, 1, 1, true, true},   {4, 3, 7, 10, 41, 3, 5, 2, 1, 1, 1, true, true},
            {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, true, false},    {2, 5, 12, 8, 8, 3, 3, 1, 1, 3, 2, false, false}};
  for (int threads = 1; threads <= 2; threads++) {
    tg_set_num_threads(threads);
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
      tg_scope_begin();
      tg_tensor *x = tg_randn(&r, TG_FLOAT64, 4, (size_t[]){cs[t].n, cs[t].c, cs[t].h, cs[t].w});
      tg_tensor *w = tg_randn(&r, TG_FLOAT64, 4, (size_t[]){cs[t].o, cs[t].c, cs[t].kh, cs[t].kw});
      tg_tensor *b = cs[t].bias ? tg_randn(&r, TG_FLOAT64, 1, (size_t[]){cs[t].o}) : NULL;
      if (cs[t].nc) x = tg_transpose(tg_contiguous(tg_transpose(x, 2, 3)), 2, 3);
      const int64_t p[2] = {cs[t].p0, cs[t].p1}, st[2] = {cs[t].st, cs[t].st}, d[2] = {cs[t].d, cs[t].d};
      tg_tensor *xf = tg_to_dtype(x, TG_FLOAT32), *wf = tg_requires_grad_(tg_to_dtype(w, TG_FLOAT32), true);
      tg_tensor *bf = b ? tg_to_dtype(b, TG_FLOAT32) : NULL;
      tg_requires_grad_(w, true);
      tg_tensor *want = tg_conv2d(x, w, b, st, p, d, 1), *y = tg_conv2d(xf, wf, bf, st, p, d, 1);
      assert_non_null(y);
      assert_int_equal(y->dtype, TG_FLOAT32);
      for (int i = 0; i < 4; i++) assert_int_equal(y->shape[i], want->shape[i]);
      for (size_t e = 0; e < y->numel; e++) assert_close(tg_get_flat(y, e), tg_get_flat(want, e), 1e-4);
      tg_tensor *g = tg_randn(&r, TG_FLOAT64, 4, want->shape), *gf = tg_to_dtype(g, TG_FLOAT32);
      tg_tensor *dw = NULL, *dwf = NULL;
      assert_int_equal(tg_grad(1, &want, &g, 1, &w, &dw, (tg_grad_opts){0}), 0);
      assert_int_equal(tg_grad(1, &y, &gf, 1, &wf, &dwf, (tg_grad_opts){0}), 0);
      assert_non_null(dwf);
      assert_int_equal(dwf->dtype, TG_FLOAT32);
      for (size_t e = 0; e < dw->numel; e++) /* sums of up to 50k terms: relative */
        assert_close(tg_get_flat(dwf, e), tg_get_flat(dw, e), 1e-4 * (1 + fabs(tg_get_flat(dw, e))));
      /* both gradients: dw by the direct kernel where it takes the case, dx by col2im */
      tg_requires_grad_(xf, true);
      tg_tensor *y2 = tg_conv2d(xf, wf, bf, st, p, d, 1), *both[2] = {NULL, NULL}, *dx = NULL;
      assert_int_equal(tg_grad(1, &y2, &gf, 2, (tg_tensor *[]){xf, wf}, both, (tg_grad_opts){0}), 0);
      tg_tensor *xd = tg_requires_grad_(tg_contiguous(x), true);
      tg_tensor *yd = tg_conv2d(xd, w, b, st, p, d, 1);
      assert_int_equal(tg_grad(1, &yd, &g, 1, &xd, &dx, (tg_grad_opts){0}), 0);
      assert_non_null(both[0]);
      assert_non_null(both[1]);
      for (size_t e = 0; e < dx->numel; e++) assert_close(tg_get_flat(both[0], e), tg_get_flat(dx, e), 1e-4);
      for (size_t e = 0; e < dw->numel; e++)
        assert_close(tg_get_flat(both[1], e), tg_get_flat(dw, e), 1e-4 * (1 + fabs(tg_get_flat(dw, e))));
      digest_add(y);
      digest_add(dwf);
      digest_add(both[0]);
      digest_add(both[1]);
      tg_scope_end();
    }
  }
  tg_set_num_threads(1);
}

/* im2col's whole-row copies (rows of 8+ inside x, the last 8-block
 * overlapping): unfold of rows 9 to 17 long against its definition, both
 * dtypes, with a padded case mixing whole and clipped rows */
static void test_unfold_long_rows(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 43);
  for (int t = 0; t < 6; t++) {
    tg_scope_begin();
    size_t h = 5, w = 10 + (size_t)t, kh = 2, kw = 3, p = t % 3 == 2 ? 1 : 0;
    tg_tensor *x = tg_randn(&r, t % 2 ? TG_FLOAT32 : TG_FLOAT64, 4, (size_t[]){2, 3, h, w});
    const int64_t k[2] = {(int64_t)kh, (int64_t)kw}, pd[2] = {(int64_t)p, (int64_t)p};
    tg_tensor *u = tg_unfold(x, k, NULL, pd, NULL);
    assert_non_null(u);
    size_t ho = h + 2 * p - kh + 1, wo = w + 2 * p - kw + 1;
    assert_int_equal(u->shape[2], ho * wo);
    for (size_t e = 0; e < u->numel; e++) {
      size_t l = e % (ho * wo), row = e / (ho * wo) % (3 * kh * kw), n = e / (ho * wo * 3 * kh * kw);
      size_t c = row / (kh * kw), i = row / kw % kh, j = row % kw;
      long ih = (long)(l / wo + i) - (long)p, iw = (long)(l % wo + j) - (long)p;
      double want = ih < 0 || iw < 0 || ih >= (long)h || iw >= (long)w
                        ? 0
                        : tg_get_flat(x, ((n * 3 + c) * h + (size_t)ih) * w + (size_t)iw);
      assert_true(tg_get_flat(u, e) == want);
    }
    tg_scope_end();
  }
}

/* unfold against its definition; fold as its adjoint: <unfold x, c> = <x, fold c> */
typedef struct {
  int64_t k[2], d[2], p[2], s[2], out[2];
  bool fold, nc;
} wctx;

static tg_tensor *f_window(tg_tensor **in, void *p) {
  const wctx *c = p;
  tg_tensor *x = c->nc ? tg_transpose(in[0], -1, -2) : in[0];
  return c->fold ? tg_fold(x, c->out, c->k, c->d, c->p, c->s) : tg_unfold(x, c->k, c->d, c->p, c->s);
}

static void test_unfold_fold(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 17);
  for (int t = 0; t < 12; t++) {
    tg_scope_begin();
    wctx c = {.nc = t % 2};
    size_t hw[2];
    for (int i = 0; i < 2; i++) {
      c.k[i] = rand_int(&r, 1, 3), c.d[i] = rand_int(&r, 1, 2), c.p[i] = rand_int(&r, 0, 1), c.s[i] = rand_int(&r, 1, 2);
      int64_t dk = c.d[i] * (c.k[i] - 1) + 1;
      hw[i] = (size_t)rand_int(&r, dk - 2 * c.p[i] > 1 ? dk - 2 * c.p[i] : 1, dk + 2);
      c.out[i] = (int64_t)hw[i];
    }
    size_t n = (size_t)rand_int(&r, 1, 2), ch = (size_t)rand_int(&r, 1, 3);
    tg_tensor *x = test_leaf(&r, 4, c.nc ? (size_t[]){n, ch, hw[1], hw[0]} : (size_t[]){n, ch, hw[0], hw[1]});
    tg_tensor *u = f_window(&x, &c), *xv = c.nc ? tg_contiguous(tg_transpose(x, -1, -2)) : x;
    assert_non_null(u);
    size_t wo = (size_t)((hw[1] + 2 * (size_t)c.p[1] - (size_t)(c.d[1] * (c.k[1] - 1)) - 1) / (size_t)c.s[1] + 1);
    for (size_t e = 0; e < u->numel; e++) {
      size_t l = e % u->shape[2], row = (e / u->shape[2]) % u->shape[1], b = e / (u->shape[1] * u->shape[2]);
      size_t cc = row / (size_t)(c.k[0] * c.k[1]), i = row / (size_t)c.k[1] % (size_t)c.k[0], j = row % (size_t)c.k[1];
      int64_t h = (int64_t)(l / wo) * c.s[0] - c.p[0] + (int64_t)i * c.d[0];
      int64_t v = (int64_t)(l % wo) * c.s[1] - c.p[1] + (int64_t)j * c.d[1];
      bool in = h >= 0 && v >= 0 && h < (int64_t)hw[0] && v < (int64_t)hw[1];
      double want = in ? tg_get_flat(xv, ((b * ch + cc) * hw[0] + (size_t)h) * hw[1] + (size_t)v) : 0;
      assert_close(tg_get_flat(u, e), want, 0);
    }
    tg_tensor *col = test_leaf(&r, 3, u->shape);
    wctx cf = c;
    cf.fold = true;
    cf.nc = false;
    tg_tensor *f = f_window(&col, &cf);
    assert_non_null(f);
    assert_close(tg_item(tg_sum(tg_mul(u, col))), tg_item(tg_sum(tg_mul(xv, f))), 1e-10);
    assert_gradcheck(f_window, 1, &x, &c);
    assert_gradgradcheck(f_window, 1, &x, &c);
    assert_gradcheck(f_window, 1, &col, &cf);
    assert_gradgradcheck(f_window, 1, &col, &cf);
    /* unbatched */
    tg_tensor *u3 = tg_unfold(tg_select(xv, 0, 0), c.k, c.d, c.p, c.s);
    assert_int_equal(u3->ndim, 2);
    assert_int_equal(tg_fold(u3, c.out, c.k, c.d, c.p, c.s)->ndim, 3);
    tg_scope_end();
  }
}

static void test_conv_errors(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 18);
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, 4, (size_t[]){1, 4, 5, 5});
  tg_tensor *w = tg_randn(&r, TG_FLOAT64, 4, (size_t[]){4, 2, 3, 3});
  tg_tensor *x1 = tg_randn(&r, TG_FLOAT64, 3, (size_t[]){1, 2, 5}), *w1 = tg_randn(&r, TG_FLOAT64, 3, (size_t[]){3, 2, 3});
  assert_null(tg_conv2d(NULL, w, NULL, NULL, NULL, NULL, 1));
  tg_clear_error();
  assert_null(tg_conv2d(x, NULL, NULL, NULL, NULL, NULL, 1));
  tg_clear_error();
  assert_fails(tg_conv2d(x, w, NULL, NULL, NULL, NULL, 1), "expected input[1,4,5,5] to have 2 channels, but got 4");
  assert_fails(tg_conv2d(x, w, NULL, NULL, NULL, NULL, 3), "expected weight to be divisible by 3");
  assert_fails(tg_conv2d(x, w, NULL, NULL, NULL, NULL, 0), "non-positive groups");
  assert_fails(tg_conv2d(x, w, NULL, (int64_t[]){0, 1}, NULL, NULL, 2), "non-positive stride");
  assert_fails(tg_conv2d(x, w, NULL, NULL, (int64_t[]){-1, 0}, NULL, 2), "negative padding");
  assert_fails(tg_conv2d(x, w, NULL, NULL, NULL, (int64_t[]){0, 1}, 2), "dilation should be greater than zero");
  assert_fails(tg_conv2d(x, w, NULL, NULL, NULL, (int64_t[]){3, 1}, 2), "Kernel size can't be greater than actual input size");
  assert_fails(tg_conv2d(x, w, tg_zeros(TG_FLOAT64, 1, (size_t[]){3}), NULL, NULL, NULL, 2),
               "expected bias to be 1-dimensional with 4 elements");
  assert_fails(tg_conv2d(tg_select(x, 0, 0), w1, NULL, NULL, NULL, NULL, 1), "expected a 4-d weight");
  assert_fails(tg_conv2d(tg_select(x1, 0, 0), w, NULL, NULL, NULL, NULL, 1), "Expected 3D (unbatched) or 4D (batched) input to conv2d");
  assert_fails(tg_conv2d(tg_to_dtype(x, TG_FLOAT32), w, NULL, NULL, NULL, NULL, 2), "same dtype");
  assert_fails(tg_conv2d(tg_to_dtype(x, TG_BOOL), tg_to_dtype(w, TG_BOOL), NULL, NULL, NULL, NULL, 2), "bool");
  assert_fails(tg_conv2d_padding(x, w, NULL, (int64_t[]){2, 2}, "same", NULL, 2), "padding='same' is not supported for strided");
  assert_fails(tg_conv2d_padding(x, w, NULL, NULL, "full", NULL, 2), "Invalid padding string: 'full'");
  assert_fails(tg_conv1d(x1, w1, NULL, 1, 0, 1, 2), "expected weight to be divisible by 2");
  assert_fails(tg_conv1d(tg_narrow(x1, 2, 0, 2), w1, NULL, 1, 0, 1, 1), "Kernel size can't be greater");
  assert_fails(tg_conv1d_padding(x1, w1, NULL, 2, "same", 1, 1), "strided");
  /* transposed: weight (C_in, C_out / groups, k...) */
  tg_tensor *wt = tg_randn(&r, TG_FLOAT64, 4, (size_t[]){4, 3, 3, 3});
  assert_non_null(tg_conv_transpose2d(x, wt, NULL, (int64_t[]){2, 2}, NULL, (int64_t[]){1, 1}, 1, NULL));
  assert_fails(tg_conv_transpose2d(x, wt, NULL, NULL, NULL, (int64_t[]){1, 0}, 1, NULL),
               "output padding must be smaller than either stride or dilation");
  assert_fails(tg_conv_transpose2d(tg_narrow(x, 1, 0, 3), wt, NULL, NULL, NULL, NULL, 1, NULL),
               "to have 4 channels, but got 3");
  assert_fails(tg_conv_transpose2d(x, wt, tg_zeros(TG_FLOAT64, 1, (size_t[]){4}), NULL, NULL, NULL, 1, NULL),
               "expected bias to be 1-dimensional with 3 elements");
  assert_fails(tg_conv_transpose2d(x, wt, NULL, NULL, (int64_t[]){4, 4}, NULL, 1, NULL), "Output size is too small");
  assert_fails(tg_conv_transpose2d(x, wt, NULL, NULL, NULL, (int64_t[]){-1, 0}, 1, NULL), "negative output_padding");
  assert_fails(tg_conv_transpose1d(x1, w1, NULL, 1, 0, 0, 1, 1), "to have 3 channels, but got 2");
  /* unfold / fold */
  const int64_t k2[2] = {2, 2};
  assert_fails(tg_unfold(x, (int64_t[]){6, 1}, NULL, NULL, NULL), "its components must be at least one");
  assert_fails(tg_unfold(x, (int64_t[]){0, 1}, NULL, NULL, NULL), "kernel should be greater than zero");
  assert_fails(tg_unfold(x, k2, NULL, NULL, (int64_t[]){1, 0}), "stride should be greater than zero");
  assert_fails(tg_unfold(x, k2, NULL, (int64_t[]){-1, 0}, NULL), "pad should be non-negative");
  assert_fails(tg_unfold(x, NULL, NULL, NULL, NULL), "kernel_size is NULL");
  assert_fails(tg_unfold(tg_select(tg_select(x, 0, 0), 0, 0), k2, NULL, NULL, NULL), "Expected 3D or 4D");
  assert_fails(tg_unfold(tg_narrow(x, 1, 0, 0), k2, NULL, NULL, NULL), "non-zero dimensions");
  tg_tensor *c = tg_randn(&r, TG_FLOAT64, 3, (size_t[]){1, 8, 16});
  assert_non_null(tg_fold(c, (int64_t[]){5, 5}, k2, NULL, NULL, NULL));
  assert_fails(tg_fold(c, (int64_t[]){5, 6}, k2, NULL, NULL, NULL), "calculated number of sliding blocks 4 * 5 = 20");
  assert_fails(tg_fold(c, (int64_t[]){5, 5}, (int64_t[]){3, 1}, NULL, NULL, NULL), "divisible by the product of kernel_size");
  assert_fails(tg_fold(c, NULL, k2, NULL, NULL, NULL), "output_size is NULL");
  assert_fails(tg_fold(tg_to_dtype(c, TG_INT64), (int64_t[]){5, 5}, k2, NULL, NULL, NULL), "float32 or float64");
  assert_fails(tg_fold(x, (int64_t[]){5, 5}, k2, NULL, NULL, NULL), "Expected 2D or 3D");
}

/* the whole group under the default choice of kernels */
static int run_all(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_conv2d),          TG_TEST(test_conv1d),     TG_TEST(test_conv_transpose2d),
      TG_TEST(test_conv_transpose1d), TG_TEST(test_conv_same), TG_TEST(test_conv_unbatched_int),
      TG_TEST(test_unfold_fold),     TG_TEST(test_conv_fused_paths),     TG_TEST(test_conv_errors),
      TG_TEST(test_conv_float32_forward),
      TG_TEST(test_conv_float32_direct),
      TG_TEST(test_unfold_long_rows),
  };
  return cmocka_run_group_tests_name("conv (default kernels)", tests, NULL, NULL);
}

/* the float32 tests, the ones the kernel variant decides */
static int run_float32(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_conv_float32_forward), TG_TEST(test_conv_float32_direct), TG_TEST(test_conv_fused_paths),
  };
  return cmocka_run_group_tests_name("conv float32", tests, NULL, NULL);
}

/* one child process with env name=value (NULL: none): its failures, or 1
 * if it died; *d its digest */
static int run_child(const char *name, const char *value, int (*group)(void), uint64_t *d) {
  int fd[2];
  if (pipe(fd)) return 1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    close(fd[0]);
    if (name) setenv(name, value, 1);
    if (name) printf("-- %s=%s\n", name, value);
    else printf("-- the default kernels\n");
    int failed = group();
    ssize_t wrote = write(fd[1], &digest, sizeof digest);
    _exit(failed || wrote != (ssize_t)sizeof digest ? 1 : 0);
  }
  close(fd[1]);
  ssize_t got = read(fd[0], d, sizeof *d);
  close(fd[0]);
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return 1;
  return WEXITSTATUS(st) || got != (ssize_t)sizeof *d;
}

/* Every variant of ops/conv_direct.c this CPU runs (ops/conv_isa.c,
 * TG_CONV_ISA), each in its own process (the choice is made once), against
 * the float64 reference, and the FMA ones (avx2, avx512) against each other
 * bit for bit (they are meant to agree exactly); the im2col path
 * (TG_CONV_DIRECT=0); and the whole group under the default choice. */
int main(void) {
  const char *isas[3] = {"generic"};
  int n = 1;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isas[n++] = "avx2";
  if (__builtin_cpu_supports("avx512f")) isas[n++] = "avx512";
#endif
#if defined(__clang__)
#define TG_TEST_CLANG 1
#else
#define TG_TEST_CLANG 0
#endif
  int failed = 0;
  uint64_t d0 = 0, d = 0;
  for (int i = 0; i < n; i++) {
    failed += run_child("TG_CONV_ISA", isas[i], run_float32, &d);
    /* avx2: the FMA variants agree under gcc; generic (no FMA) may not, and
     * clang contracts and orders the two variants' loops differently, so
     * there each variant is only checked against the reference */
    if (i == 1) d0 = d;
    else if (i > 1 && d != d0 && !TG_TEST_CLANG) {
      fprintf(stderr, "test_ops_conv: the %s kernels' results differ from the avx2 ones\n", isas[i]);
      failed++;
    }
  }
  failed += run_child("TG_CONV_DIRECT", "0", run_float32, &d);
  failed += run_child(NULL, NULL, run_all, &d);
  printf("test_ops_conv: %d kernel variants run, %d failed\n", n, failed);
  return failed ? 1 : 0;
}
