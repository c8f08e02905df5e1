/* Selection by a bool mask: where, masked_fill, masked_select (and the
 * masked scatter that is its backward), nonzero. The kernels only move
 * elements, so they are written by element size, not dtype. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ops_internal.h"

static bool check_mask(const char *op, const tg_tensor *m, int argno, const char *what) {
  if (!tg_tensor_ok(m, op, argno)) return false;
  if (m->dtype != TG_BOOL) {
    tg_error("%s: expected %s to be a bool tensor, but got %s (compare with tg_ne_scalar(t, 0) "
             "to make one)", op, what, tg_dtype_name(m->dtype));
    return false;
  }
  return true;
}

/* ------------------------------------------------------------- where */

#define WHERE_LOOP(NAME, T)                                                    \
  static void NAME(char **p, const ptrdiff_t *s, size_t n, const void *arg) {  \
    (void)arg;                                                                 \
    for (size_t i = 0; i < n; i++) {                                           \
      bool c = *(const uint8_t *)(p[1] + (ptrdiff_t)i * s[1]);                 \
      *(T *)(p[0] + (ptrdiff_t)i * s[0]) = c ? *(const T *)(p[2] + (ptrdiff_t)i * s[2]) \
                                             : *(const T *)(p[3] + (ptrdiff_t)i * s[3]); \
    }                                                                          \
  }
WHERE_LOOP(where_1, uint8_t)
WHERE_LOOP(where_4, uint32_t)
WHERE_LOOP(where_8, uint64_t)

static tg_loop_fn by_size(tg_dtype dt, tg_loop_fn f1, tg_loop_fn f4, tg_loop_fn f8) {
  size_t es = tg_elem_bytes(dt);
  return es == 1 ? f1 : es == 4 ? f4 : f8;
}

/* the gradient goes where the forward took it from: g where cond to a,
 * g elsewhere to b (itself a where, so the backward has one too) */
static void where_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *cond = n->in[0], *zero = tg_zeros(g->dtype, 0, NULL);
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_where(cond, g, zero);
  if (tg_node_needs_grad(n, 2)) gi[2] = tg_where(cond, zero, g);
}
/* tangent: where(cond, ta, tb), a zero for the side without one */
static tg_tensor *where_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *zero = tg_zeros(n->out->dtype, 0, NULL);
  return tg_where(n->in[0], t[1] ? t[1] : zero, t[2] ? t[2] : zero);
}
TG_DEFINE_OP_JVP(OP_WHERE, "WhereBackward", where_backward, where_jvp, TG_SAVES_IN(0));

tg_tensor *tg_where(tg_tensor *cond, tg_tensor *a, tg_tensor *b) {
  if (!check_mask("where", cond, 1, "the condition") || !tg_tensor_ok(a, "where", 2) ||
      !tg_tensor_ok(b, "where", 3))
    return NULL;
  if (a->dtype != b->dtype && !ops_promote_to_common(&a, &b)) return NULL;
  size_t s1[TG_MAX_DIMS], shape[TG_MAX_DIMS];
  int n1, nd;
  if (tg_broadcast_shapes("where", cond->ndim, cond->shape, a->ndim, a->shape, &n1, s1) ||
      tg_broadcast_shapes("where", n1, s1, b->ndim, b->shape, &nd, shape))
    return NULL;
  tg_tensor *out = tg_tensor_alloc(a->dtype, nd, shape);
  if (!out) return NULL;
  ops_apply_mixed(out, 3, (const tg_tensor *[]){cond, a, b},
                  by_size(a->dtype, where_1, where_4, where_8), NULL);
  ops_record(out, &OP_WHERE, 3, (tg_tensor *[]){cond, a, b});
  return out;
}

/* ------------------------------------------------------- masked_fill */

#define FILL_LOOP(NAME, T)                                                     \
  static void NAME(char **p, const ptrdiff_t *s, size_t n, const void *arg) {  \
    const T v = *(const T *)arg;                                               \
    for (size_t i = 0; i < n; i++) {                                           \
      bool m = *(const uint8_t *)(p[2] + (ptrdiff_t)i * s[2]);                 \
      *(T *)(p[0] + (ptrdiff_t)i * s[0]) = m ? v : *(const T *)(p[1] + (ptrdiff_t)i * s[1]); \
    }                                                                          \
  }
FILL_LOOP(fill_1, uint8_t)
FILL_LOOP(fill_4, uint32_t)
FILL_LOOP(fill_8, uint64_t)

static void masked_fill_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_masked_fill(g, n->in[1], 0.0);
}
static tg_tensor *masked_fill_jvp(tg_node *n, tg_tensor *const *t) {
  return t[0] ? tg_masked_fill(t[0], n->in[1], 0.0) : NULL;
}
TG_DEFINE_OP_JVP(OP_MASKED_FILL, "MaskedFillBackward", masked_fill_backward, masked_fill_jvp, TG_SAVES_IN(1));

/* value in dt's representation, in an 8-byte buffer */
static bool value_bits(const char *op, tg_dtype dt, double value, uint64_t *bits) {
  *bits = 0;
  switch (dt) {
  case TG_FLOAT32: {
    if (isfinite(value) && fabs(value) > FLT_MAX) { /* PyTorch refuses, not rounds to inf */
      tg_error("%s: value %g cannot be converted to float32 without overflow", op, value);
      return false;
    }
    float f = (float)value;
    memcpy(bits, &f, sizeof f);
    return true;
  }
  case TG_FLOAT64: memcpy(bits, &value, sizeof value); return true;
  case TG_BOOL: *(uint8_t *)bits = value != 0; return true;
  case TG_INT64: {
    if (!(value >= -9223372036854775808.0 && value < 9223372036854775808.0)) {
      tg_error("%s: value %g cannot be converted to int64 without overflow", op, value);
      return false;
    }
    int64_t i = (int64_t)value; /* truncates, as PyTorch */
    memcpy(bits, &i, sizeof i);
    return true;
  }
  }
  return false;
}

tg_tensor *tg_masked_fill(tg_tensor *a, tg_tensor *mask, double value) {
  if (!tg_tensor_ok(a, "masked_fill", 1) || !check_mask("masked_fill", mask, 2, "the mask"))
    return NULL;
  uint64_t bits;
  size_t shape[TG_MAX_DIMS];
  int nd;
  if (!value_bits("masked_fill", a->dtype, value, &bits) ||
      tg_broadcast_shapes("masked_fill", a->ndim, a->shape, mask->ndim, mask->shape, &nd, shape))
    return NULL;
  tg_tensor *out = tg_tensor_alloc(a->dtype, nd, shape);
  if (!out) return NULL;
  ops_apply_mixed(out, 2, (const tg_tensor *[]){a, mask}, by_size(a->dtype, fill_1, fill_4, fill_8),
                  &bits);
  ops_record(out, &OP_MASKED_FILL, 2, (tg_tensor *[]){a, mask});
  return out;
}

/* ------------------------------------- masked_select and its scatter */

/* a cursor over a 1-D tensor: the packed side of select and scatter */
typedef struct packed {
  char *p;
  ptrdiff_t step;
} packed;

#define SELECT_LOOP(NAME, T)                                                   \
  static void NAME(char **p, const ptrdiff_t *s, size_t n, const void *arg) {  \
    packed *c = *(packed *const *)arg;                                         \
    for (size_t i = 0; i < n; i++)                                             \
      if (*(const uint8_t *)(p[1] + (ptrdiff_t)i * s[1])) {                    \
        *(T *)c->p = *(const T *)(p[0] + (ptrdiff_t)i * s[0]);                 \
        c->p += c->step;                                                       \
      }                                                                        \
  }
#define SCATTER_LOOP(NAME, T)                                                  \
  static void NAME(char **p, const ptrdiff_t *s, size_t n, const void *arg) {  \
    packed *c = *(packed *const *)arg;                                         \
    for (size_t i = 0; i < n; i++)                                             \
      if (*(const uint8_t *)(p[1] + (ptrdiff_t)i * s[1])) {                    \
        *(T *)(p[0] + (ptrdiff_t)i * s[0]) = *(const T *)c->p;                 \
        c->p += c->step;                                                       \
      }                                                                        \
  }
SELECT_LOOP(select_1, uint8_t)
SELECT_LOOP(select_4, uint32_t)
SELECT_LOOP(select_8, uint64_t)
SCATTER_LOOP(scatter_1, uint8_t)
SCATTER_LOOP(scatter_4, uint32_t)
SCATTER_LOOP(scatter_8, uint64_t)

/* run fn over (full, mask) both broadcast to shape, in row-major order,
 * with the packed 1-D tensor's cursor */
static void masked_walk(tg_tensor *full, const tg_tensor *mask, int nd, const size_t *shape,
                        tg_tensor *flat, tg_loop_fn fn) {
  ptrdiff_t st[2][TG_MAX_DIMS];
  tg_broadcast_strides(full, nd, shape, st[0]);
  tg_broadcast_strides(mask, nd, shape, st[1]);
  packed c = {tg_ptr(flat), flat->ndim ? flat->strides[0] * (ptrdiff_t)tg_elem_bytes(flat->dtype) : 0};
  packed *cp = &c;
  char *base[2] = {tg_ptr(full), tg_ptr(mask)};
  tg_iter(2, base, nd, shape, st, fn, &cp);
}

static void masked_scatter_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_masked_select(g, n->in[1]);
}
static tg_tensor *masked_scatter_zeros(tg_tensor *src, tg_tensor *mask, int nd, const size_t *shape);
/* linear in src: the tangent placed the same way */
static tg_tensor *masked_scatter_jvp(tg_node *n, tg_tensor *const *t) {
  return masked_scatter_zeros(t[0], n->in[1], n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_MASKED_SCATTER, "MaskedScatterBackward", masked_scatter_backward, masked_scatter_jvp, TG_SAVES_IN(1));

/* zeros of shape (which mask broadcasts to) with the elements of the 1-D
 * src placed, in order, where mask is true: masked_select's backward */
static tg_tensor *masked_scatter_zeros(tg_tensor *src, tg_tensor *mask, int nd, const size_t *shape) {
  tg_tensor *out = tg_zeros(src->dtype, nd, shape);
  if (!out) return NULL;
  masked_walk(out, mask, nd, shape, src, by_size(src->dtype, scatter_1, scatter_4, scatter_8));
  ops_record(out, &OP_MASKED_SCATTER, 2, (tg_tensor *[]){src, mask});
  return out;
}

static void masked_select_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *a = n->in[0], *mask = n->in[1];
  size_t shape[TG_MAX_DIMS];
  int nd;
  if (tg_broadcast_shapes("masked_select", a->ndim, a->shape, mask->ndim, mask->shape, &nd, shape))
    return;
  gi[0] = masked_scatter_zeros(g, mask, nd, shape);
}
static tg_tensor *masked_select_jvp(tg_node *n, tg_tensor *const *t) {
  return t[0] ? tg_masked_select(t[0], n->in[1]) : NULL;
}
TG_DEFINE_OP_JVP(OP_MASKED_SELECT, "MaskedSelectBackward", masked_select_backward, masked_select_jvp, TG_SAVES_IN(1));

static void count_loop(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  size_t *count = *(size_t *const *)arg;
  for (size_t i = 0; i < n; i++) *count += *(const uint8_t *)(p[0] + (ptrdiff_t)i * s[0]);
}

static size_t count_true(const tg_tensor *mask, int nd, const size_t *shape) {
  ptrdiff_t st[1][TG_MAX_DIMS];
  tg_broadcast_strides(mask, nd, shape, st[0]);
  size_t count = 0, *cp = &count;
  char *base[1] = {tg_ptr(mask)};
  tg_iter(1, base, nd, shape, st, count_loop, &cp);
  return count;
}

tg_tensor *tg_masked_select(tg_tensor *a, tg_tensor *mask) {
  if (!tg_tensor_ok(a, "masked_select", 1) || !check_mask("masked_select", mask, 2, "the mask"))
    return NULL;
  size_t shape[TG_MAX_DIMS];
  int nd;
  if (tg_broadcast_shapes("masked_select", a->ndim, a->shape, mask->ndim, mask->shape, &nd, shape))
    return NULL;
  size_t n = count_true(mask, nd, shape);
  tg_tensor *out = tg_tensor_alloc(a->dtype, 1, &n);
  if (!out) return NULL;
  masked_walk(a, mask, nd, shape, out, by_size(a->dtype, select_1, select_4, select_8));
  ops_record(out, &OP_MASKED_SELECT, 2, (tg_tensor *[]){a, mask});
  return out;
}

/* ----------------------------------------------------------- nonzero */

/* the multi-index of every true element of t (bool), in row-major order */
static void nonzero_fill(const tg_tensor *t, int64_t *o) {
  const uint8_t *data = t->storage->data;
  size_t idx[TG_MAX_DIMS] = {0}, k = 0;
  for (size_t i = 0; i < t->numel; i++) {
    ptrdiff_t off = (ptrdiff_t)t->offset;
    for (int d = 0; d < t->ndim; d++) off += (ptrdiff_t)idx[d] * t->strides[d];
    if (data[off])
      for (int d = 0; d < t->ndim; d++) o[k++] = (int64_t)idx[d];
    for (int d = t->ndim - 1; d >= 0 && ++idx[d] == t->shape[d]; d--) idx[d] = 0;
  }
}

tg_tensor *tg_nonzero(tg_tensor *a) {
  if (!tg_tensor_ok(a, "nonzero", 1)) return NULL;
  tg_tensor *ta = ops_as_bool(a);
  if (!ta) return NULL;
  size_t n = count_true(ta, ta->ndim, ta->shape);
  tg_tensor *out = tg_tensor_alloc(TG_INT64, TG_SHAPE(n, (size_t)a->ndim));
  if (out) nonzero_fill(ta, (int64_t *)tg_ptr(out));
  ops_drop_temp(ta, a);
  return out;
}
