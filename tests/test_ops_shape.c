/* The shape ops of ops/shape_split.c and ops/shape_copy.c: values against
 * loops written here, float64 gradchecks and gradgradchecks on random
 * shapes through transposed views taken inside the function under test,
 * and PyTorch's errors (messages of torch 1.13). */
#include <stdio.h>
#include <string.h>

#include "tg_test.h"

enum { O_SPLIT, O_SPLIT_SIZE, O_CHUNK, O_UNBIND, O_FLIP, O_TRIL, O_TRIU, O_ROLL, O_REPEAT, O_TILE,
       O_DIAGONAL, O_DIAG, O_TRACE, O_PAD, O_RI, O_RI_TENSOR, O_MESHGRID, N_OPS };

typedef struct {
  int op, dim, dim2, n, dims[4];
  size_t arg, sizes[4];
  long shifts[4], pads[6];
  tg_pad_mode mode;
  long diag;
  bool nc; /* transpose the input's first and last dims first */
  bool flat; /* repeat_interleave over the flattened input (dim NULL) */
  tg_tensor *reps; /* repeat_interleave_tensor's counts */
} fctx;

/* the parts weighted 1, 2, 3... and flattened into one vector, so that a
 * gradient sent to the wrong part shows */
static tg_tensor *join(tg_tensor **parts, int n) {
  if (n < 0) return NULL;
  tg_tensor *flat[64];
  for (int k = 0; k < n; k++) flat[k] = tg_reshape(tg_mul_scalar(parts[k], k + 1), TG_SHAPE((size_t)-1));
  return tg_cat(n, flat, 0);
}

static tg_tensor *f_op(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *x = in[0], *parts[64];
  if (c->nc && x->ndim > 1) x = tg_transpose(x, 0, -1);
  switch (c->op) {
  case O_SPLIT: return join(parts, tg_split(x, (size_t)c->n, c->sizes, c->dim, parts));
  case O_SPLIT_SIZE: return join(parts, tg_split_size(x, c->arg, c->dim, 64, parts));
  case O_CHUNK: return join(parts, tg_chunk(x, c->arg, c->dim, parts));
  case O_UNBIND: return join(parts, tg_unbind(x, c->dim, 64, parts));
  case O_FLIP: return tg_flip(x, c->n, c->dims);
  case O_TRIL: return tg_tril(x, c->diag);
  case O_TRIU: return tg_triu(x, c->diag);
  case O_ROLL: return tg_roll(x, c->n ? c->n : 1, c->shifts, c->n, c->dims);
  case O_REPEAT: return tg_repeat(x, c->n, c->sizes);
  case O_TILE: return tg_tile(x, c->n, c->sizes);
  case O_DIAGONAL: return tg_diagonal(x, c->diag, c->dim, c->dim2);
  case O_DIAG: return tg_diag(tg_select(x, 0, 0), c->diag); /* 1-d: the matrix */
  case O_TRACE: return tg_trace(tg_select(x, -1, 0)); /* the first two dims of a 3-d x */
  case O_RI: return tg_repeat_interleave(x, c->arg, c->flat ? NULL : &c->dim);
  case O_RI_TENSOR: return tg_repeat_interleave_tensor(x, c->reps, c->flat ? NULL : &c->dim);
  case O_MESHGRID: { /* a 1-d, a 1-d and a 0-d tensor, all from x */
    tg_tensor *ts[3] = {tg_reshape(x, TG_SHAPE((size_t)-1)),
                        tg_reshape(tg_select(x, 0, 0), TG_SHAPE((size_t)-1)), tg_sum(x)};
    return join(parts, tg_meshgrid(c->n, ts, c->dim % 2 ? "xy" : c->dim % 3 ? "ij" : NULL, parts));
  }
  default: return tg_pad(x, 2 * c->n, c->pads, c->mode, -0.5);
  }
}

static void check(tg_tensor *x, fctx *c) {
  tg_gradcheck_opts o = {.quiet = true};
  tg_gradcheck_result r = tg_gradcheck(f_op, 1, &x, c, o);
  if (!r.ok) fail_msg("gradcheck op %d dim %d: %s", c->op, c->dim, r.message);
  r = tg_gradgradcheck(f_op, 1, &x, c, o);
  if (!r.ok) fail_msg("gradgradcheck op %d dim %d: %s", c->op, c->dim, r.message);
}

static void test_grads_random(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 10);
  for (int it = 0; it < 8 * N_OPS; it++) {
    size_t shape[3];
    int nd = (int)rand_int(&r, 2, 3);
    for (int d = 0; d < nd; d++) shape[d] = rand_int(&r, 1, 4);
    tg_scope_begin();
    tg_tensor *x = test_leaf(&r, nd, shape);
    fctx c = {.op = it % N_OPS, .nc = it % 2 == 0};
    size_t vs[3]; /* the shape f_op sees */
    memcpy(vs, shape, sizeof vs);
    if (c.nc) vs[0] = shape[nd - 1], vs[nd - 1] = shape[0];
    c.dim = (int)rand_int(&r, 0, (size_t)nd - 1);
    size_t len = vs[c.dim];
    if (rand_int(&r, 0, 1)) c.dim -= nd;
    switch (c.op) {
    case O_SPLIT: {
      size_t left = len;
      c.n = 0;
      while (left > 0 && c.n < 3) {
        c.sizes[c.n] = c.n == 2 ? left : rand_int(&r, 0, left);
        left -= c.sizes[c.n++];
      }
      if (left) c.sizes[c.n - 1] += left;
      break;
    }
    case O_SPLIT_SIZE: c.arg = rand_int(&r, 1, len + 1); break;
    case O_CHUNK: c.arg = rand_int(&r, 1, len + 1); break;
    case O_FLIP:
      c.n = (int)rand_int(&r, 0, (size_t)nd);
      for (int k = 0; k < c.n; k++) c.dims[k] = (k + it) % nd - (k % 2 ? nd : 0);
      break;
    case O_TRIL: case O_TRIU: case O_DIAG: c.diag = (long)rand_int(&r, 0, 6) - 3; break;
    case O_ROLL:
      c.n = (int)rand_int(&r, 0, (size_t)nd);
      for (int k = 0; k < 4; k++) c.dims[k] = (k + it) % nd, c.shifts[k] = (long)rand_int(&r, 0, 10) - 5;
      break;
    case O_REPEAT: case O_TILE:
      c.n = (int)rand_int(&r, c.op == O_TILE ? 0 : (size_t)nd, (size_t)nd + 1);
      for (int k = 0; k < c.n; k++) c.sizes[k] = rand_int(&r, 0, 3);
      break;
    case O_DIAGONAL:
      c.diag = (long)rand_int(&r, 0, 6) - 3;
      c.dim2 = (c.dim + nd + 1) % nd - (it % 3 ? 0 : nd);
      break;
    case O_PAD:
      c.mode = (tg_pad_mode)(it / N_OPS % 4);
      c.n = c.mode == TG_PAD_CONSTANT ? (int)rand_int(&r, 1, (size_t)nd) : nd - (c.mode == TG_PAD_CIRCULAR ? 2 : 1);
      if (c.n == 0) c.mode = TG_PAD_CONSTANT, c.n = 1;
      for (int k = 0; k < c.n; k++) {
        long sz = (long)vs[nd - 1 - k];
        for (int j = 0; j < 2; j++)
          c.pads[2 * k + j] = (long)rand_int(&r, 0, (size_t)(c.mode == TG_PAD_REFLECT ? sz - 1 : sz));
      }
      break;
    case O_RI: c.arg = rand_int(&r, 0, 3), c.flat = it % 3 == 0; break;
    case O_RI_TENSOR: {
      c.flat = it % 3 == 0;
      size_t m = c.flat ? vs[0] * vs[1] * (nd > 2 ? vs[2] : 1) : len;
      if (rand_int(&r, 0, 3) == 0) m = 1; /* one count for every entry */
      c.reps = tg_zeros(TG_INT64, 1, &m);
      for (size_t i = 0; i < m; i++) ((int64_t *)tg_data(c.reps))[i] = (int64_t)rand_int(&r, 0, 2);
      break;
    }
    case O_MESHGRID: c.n = (int)rand_int(&r, 1, 3); break;
    case O_TRACE:
      if (nd < 3) { /* trace wants a matrix: a 3-d input, its last dim selected */
        tg_scope_end();
        continue;
      }
      break;
    default: break;
    }
    check(x, &c);
    tg_scope_end();
  }
}

static void test_split_values_and_views(void **state) {
  (void)state;
  tg_tensor *a = tg_reshape(tg_arange(TG_FLOAT64, 0, 12, 1), TG_SHAPE(3, 4));
  tg_tensor *p[8];
  assert_int_equal(tg_split(a, 3, (const size_t[]){1, 0, 3}, 1, p), 3);
  assert_int_equal(p[0]->shape[1], 1);
  assert_int_equal(p[1]->shape[1], 0);
  assert_int_equal(p[2]->shape[1], 3);
  assert_ptr_equal(p[2]->storage, a->storage); /* a view */
  assert_close(tg_get_flat(p[2], 4), 6, 0);    /* row 1, col 2 */
  /* 4 = 2 + 2 after ceil(4 / 3) = 2: two parts, not three (PyTorch's chunk) */
  assert_int_equal(tg_chunk(a, 3, -1, p), 2);
  assert_close(tg_get_flat(p[1], 0), 2, 0);
  assert_int_equal(tg_split_size(a, 3, 1, 8, p), 2);
  assert_int_equal(p[1]->shape[1], 1);
  assert_int_equal(tg_unbind(a, 0, 8, p), 3);
  assert_int_equal(p[2]->ndim, 1);
  assert_close(tg_get_flat(p[2], 3), 11, 0);
  /* an empty dim: chunk gives `chunks` empty parts, split_size(0) one */
  tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(0, 2));
  assert_int_equal(tg_chunk(e, 3, 0, p), 3);
  assert_int_equal(tg_split_size(e, 0, 0, 8, p), 1);
  assert_int_equal(tg_unbind(e, 0, 8, p), 0);
}

static void test_flip_tril_values(void **state) {
  (void)state;
  tg_tensor *a = tg_reshape(tg_arange(TG_FLOAT64, 0, 6, 1), TG_SHAPE(2, 3));
  tg_tensor *f = tg_flip(a, 2, (const int[]){-1, 0});
  const double want[] = {5, 4, 3, 2, 1, 0};
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(f, i), want[i], 0);
  tg_tensor *c = tg_flip(a, 0, NULL);
  assert_ptr_not_equal(c->storage, a->storage); /* a copy */
  assert_close(tg_item(tg_flip(tg_scalar(TG_FLOAT64, 2), 1, (const int[]){0})), 2, 0);
  tg_tensor *l = tg_tril(a, 0), *u = tg_triu(a, 1);
  const double wl[] = {0, 0, 0, 3, 4, 0}, wu[] = {0, 1, 2, 0, 0, 5};
  for (size_t i = 0; i < 6; i++) {
    assert_close(tg_get_flat(l, i), wl[i], 0);
    assert_close(tg_get_flat(u, i), wu[i], 0);
  }
  /* inf above the diagonal is zeroed, not inf * 0 */
  tg_tensor *inf = tg_from_f64(TG_SHAPE(2, 2), (const double[]){1, INFINITY, 2, 3});
  assert_close(tg_get_flat(tg_tril(inf, 0), 1), 0, 0);
  tg_tensor *i64 = tg_from_i64(TG_SHAPE(2, 2), (const int64_t[]){1, 2, 3, 4});
  assert_int_equal(tg_triu(i64, 0)->dtype, TG_INT64);
  /* int64 and bool flip too, as PyTorch (no gradient to carry) */
  tg_tensor *fi = tg_flip(i64, 2, (const int[]){0, 1});
  assert_non_null(fi);
  assert_int_equal(fi->dtype, TG_INT64);
  for (size_t i = 0; i < 4; i++) assert_close(tg_get_flat(fi, i), (double)(4 - i), 0);
  tg_tensor *fb = tg_flip(tg_gt_scalar(a, 2.5), 1, (const int[]){1}); /* [[0 0 0] [1 1 1]] -> same */
  assert_int_equal(fb->dtype, TG_BOOL);
  assert_close(tg_get_flat(fb, 3), 1, 0);
}

static void test_roll_repeat_diag_values(void **state) {
  (void)state;
  tg_tensor *a = tg_reshape(tg_arange(TG_FLOAT64, 0, 6, 1), TG_SHAPE(2, 3));
  const double w_roll[] = {5, 3, 4, 2, 0, 1}, w_flat[] = {5, 0, 1, 2, 3, 4};
  tg_tensor *r = tg_roll(a, 2, (const long[]){1, -2}, 2, (const int[]){0, -1});
  tg_tensor *f = tg_roll(a, 1, (const long[]){7}, 0, NULL);
  for (size_t i = 0; i < 6; i++) {
    assert_close(tg_get_flat(r, i), w_roll[i], 0);
    assert_close(tg_get_flat(f, i), w_flat[i], 0);
  }
  tg_tensor *v = tg_arange(TG_FLOAT64, 1, 3, 1); /* [1, 2] */
  tg_tensor *rep = tg_repeat(v, 2, (const size_t[]){2, 2});
  assert_int_equal(rep->shape[0], 2);
  assert_int_equal(rep->shape[1], 4);
  const double w_rep[] = {1, 2, 1, 2, 1, 2, 1, 2};
  for (size_t i = 0; i < 8; i++) assert_close(tg_get_flat(rep, i), w_rep[i], 0);
  tg_tensor *one = tg_repeat(tg_scalar(TG_FLOAT64, 3), 1, (const size_t[]){4});
  assert_int_equal(one->shape[0], 4);
  assert_int_equal(tg_tile(a, 1, (const size_t[]){2})->shape[1], 6); /* reps pad in front */
  tg_tensor *d = tg_diagonal(a, 1, 0, 1); /* [1, 5] */
  assert_int_equal(d->shape[0], 2);
  assert_ptr_equal(d->storage, a->storage);
  assert_close(tg_get_flat(d, 1), 5, 0);
  assert_int_equal(tg_diagonal(a, 3, 0, 1)->shape[0], 0);
  assert_int_equal(tg_diag(a, 5)->shape[0], 0); /* torch 1.13: integer multiplication overflow */
  tg_tensor *m = tg_diag(v, -1);
  assert_int_equal(m->shape[0], 3);
  assert_close(tg_get_flat(m, 3), 1, 0);
  assert_close(tg_get_flat(m, 7), 2, 0);
  assert_close(tg_item(tg_trace(a)), 4, 0);
  /* a tall matrix: d trace / dA is the identity's part (torch 1.13 puts a
   * 1 at [3][0] of a 4x2 matrix) */
  tg_tensor *t = tg_requires_grad_(tg_zeros(TG_FLOAT64, TG_SHAPE(4, 2)), true);
  assert_int_equal(tg_backward(tg_trace(t), NULL, false), 0);
  const double w_g[] = {1, 0, 0, 1, 0, 0, 0, 0};
  for (size_t i = 0; i < 8; i++) assert_close(tg_get_flat(t->grad, i), w_g[i], 0);
}

static void test_pad_values(void **state) {
  (void)state;
  tg_tensor *a = tg_reshape(tg_arange(TG_FLOAT64, 1, 4, 1), TG_SHAPE(1, 3)); /* [[1, 2, 3]] */
  const long p[] = {2, 1};
  const double w_c[] = {9, 9, 1, 2, 3, 9}, w_r[] = {3, 2, 1, 2, 3, 2}, w_e[] = {1, 1, 1, 2, 3, 3};
  tg_tensor *c = tg_pad(a, 2, p, TG_PAD_CONSTANT, 9), *r = tg_pad(a, 2, p, TG_PAD_REFLECT, 0);
  tg_tensor *e = tg_pad(a, 2, p, TG_PAD_REPLICATE, 0);
  tg_tensor *ci = tg_pad(tg_unsqueeze(a, 0), 2, p, TG_PAD_CIRCULAR, 0);
  const double w_ci[] = {2, 3, 1, 2, 3, 1};
  for (size_t i = 0; i < 6; i++) {
    assert_close(tg_get_flat(c, i), w_c[i], 0);
    assert_close(tg_get_flat(r, i), w_r[i], 0);
    assert_close(tg_get_flat(e, i), w_e[i], 0);
    assert_close(tg_get_flat(ci, i), w_ci[i], 0);
  }
  tg_tensor *crop = tg_pad(a, 2, (const long[]){-1, 1}, TG_PAD_CONSTANT, 0); /* [2, 3, 0] */
  assert_int_equal(crop->shape[1], 3);
  assert_close(tg_get_flat(crop, 0), 2, 0);
  /* an empty dim padded in another dim, as PyTorch */
  assert_int_equal(tg_pad(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3)), 2, p, TG_PAD_CONSTANT, 0)->shape[1], 6);
}

static void test_interleave_onehot_meshgrid_values(void **state) {
  (void)state;
  tg_tensor *a = tg_reshape(tg_arange(TG_FLOAT64, 0, 6, 1), TG_SHAPE(2, 3));
  tg_tensor *f = tg_repeat_interleave(a, 2, NULL); /* flattened: 0 0 1 1 ... */
  assert_int_equal(f->ndim, 1);
  assert_int_equal(f->shape[0], 12);
  for (size_t i = 0; i < 12; i++) assert_close(tg_get_flat(f, i), (double)(i / 2), 0);
  const int m1 = -1, z = 0;
  tg_tensor *d = tg_repeat_interleave(a, 2, &m1);
  assert_int_equal(d->shape[1], 6);
  const double w_d[] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
  for (size_t i = 0; i < 12; i++) assert_close(tg_get_flat(d, i), w_d[i], 0);
  assert_int_equal(tg_repeat_interleave(a, 0, &z)->shape[0], 0);
  assert_int_equal(tg_repeat_interleave(tg_scalar(TG_FLOAT64, 3), 2, NULL)->shape[0], 2);
  tg_tensor *ri = tg_repeat_interleave(tg_from_i64(TG_SHAPE(2), (const int64_t[]){4, 7}), 2, &z);
  assert_int_equal(ri->dtype, TG_INT64);
  const double w_ri[] = {4, 4, 7, 7};
  for (size_t i = 0; i < 4; i++) assert_close(tg_get_flat(ri, i), w_ri[i], 0);
  tg_tensor *rb = tg_repeat_interleave(tg_gt_scalar(a, 0.5), 2, &m1); /* row 0: 0 0 1 1 1 1 */
  assert_int_equal(rb->dtype, TG_BOOL);
  assert_close(tg_get_flat(rb, 1), 0, 0);
  assert_close(tg_get_flat(rb, 2), 1, 0);
  tg_tensor *t = tg_repeat_interleave_tensor(a, tg_from_i64(TG_SHAPE(3), (const int64_t[]){2, 0, 1}), &m1);
  assert_int_equal(t->shape[1], 3);
  const double w_t[] = {0, 0, 2, 3, 3, 5};
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(t, i), w_t[i], 0);
  tg_tensor *t0 = tg_repeat_interleave_tensor(a, tg_from_i64(TG_SHAPE(1), (const int64_t[]){3}), &z);
  assert_int_equal(t0->shape[0], 6); /* one count for all rows */
  assert_close(tg_get_flat(t0, 3 * 3), 3, 0);
  tg_tensor *ts = tg_repeat_interleave_tensor(a, tg_full(TG_INT64, 0, NULL, 2), NULL); /* 0-d */
  assert_int_equal(ts->shape[0], 12);
  tg_tensor *tf = tg_repeat_interleave_tensor(
      a, tg_from_i64(TG_SHAPE(6), (const int64_t[]){0, 1, 0, 0, 0, 2}), NULL);
  assert_int_equal(tf->shape[0], 3);
  assert_close(tg_get_flat(tf, 0), 1, 0);
  assert_close(tg_get_flat(tf, 2), 5, 0);
  /* an empty dim takes empty or single counts */
  tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 0));
  const int one = 1;
  assert_int_equal(tg_repeat_interleave_tensor(e, tg_zeros(TG_INT64, TG_SHAPE(0)), &one)->shape[1], 0);
  /* a -1 for an empty dim is never used, so torch takes it */
  assert_int_equal(tg_repeat_interleave_tensor(e, tg_from_i64(TG_SHAPE(1), (const int64_t[]){-1}), &one)->shape[1], 0);
  assert_int_equal(tg_repeat_interleave(e, (size_t)-1, NULL)->shape[0], 0);

  tg_tensor *oh = tg_one_hot(tg_from_i64(TG_SHAPE(3), (const int64_t[]){1, 0, 2}), -1);
  assert_int_equal(oh->dtype, TG_INT64);
  assert_int_equal(oh->shape[1], 3);
  const double w_oh[] = {0, 1, 0, 1, 0, 0, 0, 0, 1};
  for (size_t i = 0; i < 9; i++) assert_close(tg_get_flat(oh, i), w_oh[i], 0);
  tg_tensor *o5 = tg_one_hot(tg_from_i64(TG_SHAPE(2, 1), (const int64_t[]){4, 0}), 5);
  assert_int_equal(o5->ndim, 3);
  assert_int_equal(o5->shape[2], 5);
  assert_close(tg_get_flat(o5, 4), 1, 0);
  assert_close(tg_get_flat(o5, 5), 1, 0);
  tg_tensor *os = tg_one_hot(tg_full(TG_INT64, 0, NULL, 2), -1);
  assert_int_equal(os->ndim, 1);
  assert_int_equal(os->shape[0], 3);
  assert_int_equal(tg_one_hot(tg_zeros(TG_INT64, TG_SHAPE(0)), 3)->shape[1], 3);

  tg_tensor *x = tg_arange(TG_FLOAT64, 0, 2, 1), *y = tg_arange(TG_FLOAT64, 10, 13, 1), *g[3];
  tg_tensor *in[3] = {x, y, tg_scalar(TG_FLOAT64, 7)};
  assert_int_equal(tg_meshgrid(2, in, "ij", g), 2);
  assert_int_equal(g[0]->shape[0], 2);
  assert_int_equal(g[0]->shape[1], 3);
  assert_ptr_equal(g[1]->storage, y->storage); /* views, as PyTorch */
  for (size_t i = 0; i < 6; i++) {
    assert_close(tg_get_flat(g[0], i), (double)(i / 3), 0);
    assert_close(tg_get_flat(g[1], i), 10.0 + (double)(i % 3), 0);
  }
  assert_int_equal(tg_meshgrid(3, in, "xy", g), 3);
  assert_int_equal(g[2]->ndim, 3);
  assert_int_equal(g[2]->shape[0], 3); /* xy: the first two dims swapped */
  assert_int_equal(g[2]->shape[1], 2);
  assert_int_equal(g[2]->shape[2], 1);
  assert_close(tg_get_flat(g[0], 3), 1, 0); /* g[0][1][1] = x[1] */
  assert_close(tg_get_flat(g[1], 4), 12, 0); /* g[1][2][0] = y[2] */
  assert_close(tg_get_flat(g[2], 5), 7, 0);
  assert_int_equal(tg_meshgrid(1, in, "xy", g), 1);
  assert_int_equal(g[0]->shape[0], 2);
}

static void test_errors(void **state) {
  (void)state;
  tg_tensor *a = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4)), *s = tg_scalar(TG_FLOAT64, 1), *p[4];
  assert_int_equal(tg_split(a, 2, (const size_t[]){1, 1}, 0, p), -1);
  assert_non_null(strstr(tg_last_error(), "sum exactly to 3"));
  assert_int_equal(tg_split(s, 1, (const size_t[]){1}, 0, p), -1);
  assert_non_null(strstr(tg_last_error(), "at least a 1-dimensional"));
  assert_int_equal(tg_split(a, 1, (const size_t[]){4}, 2, p), -1);
  assert_non_null(strstr(tg_last_error(), "out of range"));
  assert_int_equal(tg_split_size(a, 0, 0, 4, p), -1);
  assert_non_null(strstr(tg_last_error(), "split_size can only be 0"));
  assert_int_equal(tg_split_size(a, 1, 1, 3, p), -1);
  assert_non_null(strstr(tg_last_error(), "max_out"));
  assert_int_equal(tg_chunk(a, 0, 0, p), -1);
  assert_non_null(strstr(tg_last_error(), "greater than 0"));
  assert_int_equal(tg_unbind(s, 0, 4, p), -1);
  assert_non_null(strstr(tg_last_error(), "no dimensions"));
  assert_int_equal(tg_unbind(a, -3, 4, p), -1);
  assert_non_null(strstr(tg_last_error(), "out of range"));
  tg_clear_error();
  assert_fails(tg_flip(a, 2, (const int[]){0, -2}), "appears multiple times");
  assert_fails(tg_flip(a, 1, (const int[]){2}), "out of range");
  assert_fails(tg_flip(a, 1, NULL), "dims is NULL");
  assert_fails(tg_tril(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), 0), "at least 2 dimensions");
  assert_fails(tg_triu(s, 0), "at least 2 dimensions");
  const long sh[] = {1, 2};
  assert_fails(tg_roll(a, 2, sh, 1, (const int[]){0}), "must align");
  assert_fails(tg_roll(a, 0, sh, 0, NULL), "`shifts` required");
  assert_fails(tg_roll(s, 1, sh, 1, (const int[]){0}), "no dimensions");
  assert_fails(tg_roll(a, 1, sh, 1, (const int[]){2}), "out of range");
  assert_fails(tg_repeat(a, 1, (const size_t[]){2}), "can not be smaller");
  assert_fails(tg_repeat(a, 2, (const size_t[]){2, (size_t)-1}), "negative dimension");
  assert_fails(tg_diagonal(a, 0, 1, -1), "cannot be identical");
  assert_fails(tg_diagonal(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), 0, 0, 1), "Dimension out of range");
  assert_fails(tg_diagonal(a, 0, 0, 2), "out of range");
  assert_fails(tg_diag(s, 0), "matrix or a vector expected");
  assert_fails(tg_trace(tg_zeros(TG_FLOAT64, TG_SHAPE(3))), "expected a matrix");
  const long pd[] = {1, 1, 1, 1, 1, 1};
  assert_fails(tg_pad(a, 3, pd, TG_PAD_CONSTANT, 0), "divisible by 2");
  assert_fails(tg_pad(a, 6, pd, TG_PAD_CONSTANT, 0), "too large");
  assert_fails(tg_pad(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), 2, pd, TG_PAD_REFLECT, 0), "Only 2D, 3D, 4D, 5D");
  assert_fails(tg_pad(a, 2, pd, TG_PAD_CIRCULAR, 0), "Invalid padding size");
  assert_fails(tg_pad(a, 2, (const long[]){4, 0}, TG_PAD_REFLECT, 0), "should be less than");
  assert_fails(tg_pad(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 3, 4)), 2, (const long[]){5, 0}, TG_PAD_CIRCULAR, 0),
               "wrapping around more than once");
  assert_fails(tg_pad(a, 2, (const long[]){-3, -2}, TG_PAD_CONSTANT, 0), "negative output size");
  assert_fails(tg_pad(a, 2, (const long[]){-5, 1}, TG_PAD_CONSTANT, 0), "negative output size");
  assert_fails(tg_pad(a, 2, pd, (tg_pad_mode)7, 0), "unknown padding mode");
  const int z = 0, d1 = 1, d2 = 2;
  tg_tensor *r3 = tg_from_i64(TG_SHAPE(3), (const int64_t[]){1, 2, 3});
  assert_fails(tg_repeat_interleave(s, 2, &z), "Dimension specified as 0 but tensor has no dimensions");
  assert_fails(tg_repeat_interleave(a, (size_t)-1, NULL), "can not be negative");
  assert_fails(tg_repeat_interleave(a, 2, &d2), "out of range");
  assert_fails(tg_repeat_interleave_tensor(a, r3, NULL), "same size as input along dim");
  assert_fails(tg_repeat_interleave_tensor(a, r3, &d1), "same size as input along dim");
  assert_fails(tg_repeat_interleave_tensor(a, tg_zeros(TG_INT64, TG_SHAPE(0)), &z), "same size");
  assert_fails(tg_repeat_interleave_tensor(a, tg_from_i64(TG_SHAPE(1), (const int64_t[]){-1}), &z),
               "can not be negative");
  assert_fails(tg_repeat_interleave_tensor(a, tg_zeros(TG_FLOAT64, TG_SHAPE(3)), &z), "int64");
  assert_fails(tg_repeat_interleave_tensor(a, tg_zeros(TG_INT64, TG_SHAPE(1, 3)), &z), "0-d or 1-d");
  assert_fails(tg_repeat_interleave_tensor(s, r3, &z), "no dimensions");
  assert_fails(tg_one_hot(a, -1), "only applicable to index tensor");
  assert_fails(tg_one_hot(tg_from_i64(TG_SHAPE(2), (const int64_t[]){1, -2}), 3), "non-negative");
  assert_fails(tg_one_hot(r3, 3), "smaller than num_classes");
  assert_fails(tg_one_hot(r3, -2), "smaller than num_classes");
  assert_fails(tg_one_hot(tg_zeros(TG_INT64, TG_SHAPE(0)), -1), "Can not infer");
  assert_fails(tg_one_hot(tg_zeros(TG_INT64, TG_SHAPE(2, 0)), 0), "Can not infer");
  tg_tensor *g[2], *two[2] = {r3, a};
  assert_int_equal(tg_meshgrid(0, two, "ij", g), -1);
  assert_non_null(strstr(tg_last_error(), "non-empty"));
  assert_int_equal(tg_meshgrid(2, two, "ij", g), -1);
  assert_non_null(strstr(tg_last_error(), "Expected 0D or 1D tensor"));
  two[1] = tg_zeros(TG_FLOAT64, TG_SHAPE(2));
  assert_int_equal(tg_meshgrid(2, two, NULL, g), -1);
  assert_non_null(strstr(tg_last_error(), "same dtype"));
  two[0] = s;
  assert_int_equal(tg_meshgrid(2, two, "ab", g), -1);
  assert_non_null(strstr(tg_last_error(), "indexing must be one of"));
  assert_int_equal(tg_meshgrid(2, two, "xy", NULL), -1);
  tg_clear_error();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_grads_random),
      TG_TEST(test_split_values_and_views),
      TG_TEST(test_flip_tril_values),
      TG_TEST(test_roll_repeat_diag_values),
      TG_TEST(test_pad_values),
      TG_TEST(test_interleave_onehot_meshgrid_values),
      TG_TEST(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
