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

enum { O_SPLIT, O_SPLIT_SIZE, O_CHUNK, O_UNBIND, O_FLIP, O_TRIL, O_TRIU };

typedef struct {
  int op, dim, n, dims[4];
  size_t arg, sizes[4];
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
  default: return tg_triu(x, c->diag);
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
  for (int it = 0; it < 70; it++) {
    size_t shape[3];
    int nd = (int)rand_int(&r, 2, 3);
    for (int d = 0; d < nd; d++) shape[d] = rand_int(&r, 1, 4);
    tg_scope_begin();
    tg_tensor *x = test_leaf(&r, nd, shape);
    fctx c = {.op = it % 7, .nc = it % 2};
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
    case O_TRIL: case O_TRIU: c.diag = (long)rand_int(&r, 0, 6) - 3; break;
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
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_grads_random),
      TG_TEST(test_split_values_and_views),
      TG_TEST(test_flip_tril_values),
      TG_TEST(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
