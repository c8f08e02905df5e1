/* The shape ops of ops/shape_split.c and ops/shape_copy.c: values against
 * loops written here, float64 gradchecks and gradgradchecks on random
 * shapes through transposed views taken inside the function under test,
 * and PyTorch's errors (messages of torch 1.13). */
#include <stdio.h>
#include <string.h>

#include "tg_test.h"

static size_t rand_int(tg_rng *r, size_t lo, size_t hi) {
  size_t v = lo + (size_t)(tg_rng_uniform(r) * (double)(hi - lo + 1));
  return v > hi ? hi : v;
}

static void assert_fails(const void *r, const char *frag) {
  assert_null(r);
  if (!strstr(tg_last_error(), frag)) fail_msg("error \"%s\" lacks \"%s\"", tg_last_error(), frag);
  tg_clear_error();
}

enum { O_SPLIT, O_SPLIT_SIZE, O_CHUNK, O_UNBIND, O_FLIP, O_TRIL, O_TRIU, O_ROLL, O_REPEAT, O_TILE,
       O_DIAGONAL, O_DIAG, O_TRACE, O_PAD, N_OPS };

typedef struct {
  int op, dim, dim2, n, dims[4];
  size_t arg, sizes[4];
  long shifts[4], pads[6];
  tg_pad_mode mode;
  long diag;
  bool nc; /* transpose the input's first and last dims first */
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
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_grads_random),
      TG_TEST(test_split_values_and_views),
      TG_TEST(test_flip_tril_values),
      TG_TEST(test_roll_repeat_diag_values),
      TG_TEST(test_pad_values),
      TG_TEST(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
