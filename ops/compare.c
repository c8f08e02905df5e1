/* Comparisons, float classification, logical ops and any/all. Results are
 * bool and have no gradient: they never record a node nor require grad,
 * whatever their inputs (as in PyTorch). */
#include <math.h>
#include <string.h>

#include "ops_internal.h"

void ops_apply_mixed(tg_tensor *out, int n_in, const tg_tensor *const *in, tg_loop_fn fn,
                     const void *arg) {
  ptrdiff_t st[TG_ITER_MAX_OPS][TG_MAX_DIMS];
  char *base[TG_ITER_MAX_OPS] = {tg_ptr(out)};
  tg_broadcast_strides(out, out->ndim, out->shape, st[0]);
  for (int i = 0; i < n_in; i++) {
    base[i + 1] = tg_ptr(in[i]);
    tg_broadcast_strides(in[i], out->ndim, out->shape, st[i + 1]);
  }
  tg_iter(n_in + 1, base, out->ndim, out->shape, st, fn, arg);
}

tg_tensor *ops_as_bool(tg_tensor *a) {
  if (a->dtype == TG_BOOL) return a;
  tg_tensor *b = tg_tensor_alloc(TG_BOOL, a->ndim, a->shape);
  if (b && tg_copy_(b, a) != 0) {
    tg_tensor_destroy(b);
    return NULL;
  }
  return b;
}

void ops_drop_temp(tg_tensor *t, const tg_tensor *kept) {
  if (t && t != kept) tg_tensor_destroy(t);
}

/* ------------------------------------------------------- comparisons */

/* out (bool) = x OP y, both of type T */
#define CMP_TT(NAME, T, OP)                                                    \
  static void NAME(char **p, const ptrdiff_t *s, size_t n, const void *arg) {  \
    (void)arg;                                                                 \
    for (size_t i = 0; i < n; i++)                                             \
      *(uint8_t *)(p[0] + (ptrdiff_t)i * s[0]) =                               \
          *(const T *)(p[1] + (ptrdiff_t)i * s[1]) OP * (const T *)(p[2] + (ptrdiff_t)i * s[2]); \
  }
/* out (bool) = (U)x OP the scalar held as U */
#define CMP_TS(NAME, T, U, FIELD, OP)                                          \
  static void NAME(char **p, const ptrdiff_t *s, size_t n, const void *arg) {  \
    const cmp_scalar *c = arg;                                                 \
    for (size_t i = 0; i < n; i++)                                             \
      *(uint8_t *)(p[0] + (ptrdiff_t)i * s[0]) = (U) * (const T *)(p[1] + (ptrdiff_t)i * s[1]) OP c->FIELD; \
  }

typedef struct cmp_scalar {
  float f;
  double d;
  int64_t i;
} cmp_scalar;

/* the four tensor-tensor loops (by dtype) and five tensor-scalar ones
 * (float32, float64, int64 vs an integral scalar, int64 vs any other, bool) */
#define CMP_FAMILY(KIND, OP)                                                   \
  CMP_TT(KIND##_f32, float, OP)                                                \
  CMP_TT(KIND##_f64, double, OP)                                               \
  CMP_TT(KIND##_i64, int64_t, OP)                                              \
  CMP_TT(KIND##_b, uint8_t, OP)                                                \
  CMP_TS(KIND##_s_f32, float, float, f, OP)                                    \
  CMP_TS(KIND##_s_f64, double, double, d, OP)                                  \
  CMP_TS(KIND##_s_i64, int64_t, int64_t, i, OP)                                \
  CMP_TS(KIND##_s_i64d, int64_t, double, d, OP)                                \
  CMP_TS(KIND##_s_b, uint8_t, double, d, OP)
CMP_FAMILY(eq, ==)
CMP_FAMILY(ne, !=)
CMP_FAMILY(lt, <)
CMP_FAMILY(le, <=)
CMP_FAMILY(gt, >)
CMP_FAMILY(ge, >=)

typedef struct cmp_loops {
  const char *name;
  tg_loop_fn tt[4]; /* by dtype */
  tg_loop_fn ts[5];
} cmp_loops;
#define CMP_LOOPS(KIND)                                                        \
  {#KIND,                                                                      \
   {KIND##_f32, KIND##_f64, KIND##_i64, KIND##_b},                             \
   {KIND##_s_f32, KIND##_s_f64, KIND##_s_i64, KIND##_s_i64d, KIND##_s_b}}
static const cmp_loops CMP_EQ = CMP_LOOPS(eq), CMP_NE = CMP_LOOPS(ne), CMP_LT = CMP_LOOPS(lt),
                       CMP_LE = CMP_LOOPS(le), CMP_GT = CMP_LOOPS(gt), CMP_GE = CMP_LOOPS(ge);

static tg_tensor *compare(const cmp_loops *k, tg_tensor *a, tg_tensor *b) {
  if (!tg_tensor_ok(a, k->name, 1) || !tg_tensor_ok(b, k->name, 2)) return NULL;
  if (a->dtype != b->dtype && !ops_promote_to_common(&a, &b)) return NULL;
  size_t shape[TG_MAX_DIMS];
  int nd;
  if (tg_broadcast_shapes(k->name, a->ndim, a->shape, b->ndim, b->shape, &nd, shape)) return NULL;
  tg_tensor *out = tg_tensor_alloc(TG_BOOL, nd, shape);
  if (out) ops_apply_mixed(out, 2, (const tg_tensor *[]){a, b}, k->tt[a->dtype], NULL);
  return out;
}

/* A number meets a tensor in the tensor's dtype where PyTorch keeps it
 * (a float32 tensor compares with (float)s); an int64 or bool tensor
 * compares exactly with an integral s and as double otherwise. */
static tg_tensor *compare_scalar(const cmp_loops *k, tg_tensor *a, double s) {
  if (!tg_tensor_ok(a, k->name, 1)) return NULL;
  cmp_scalar c = {(float)s, s, 0};
  int which = a->dtype == TG_FLOAT32 ? 0 : a->dtype == TG_FLOAT64 ? 1 : a->dtype == TG_BOOL ? 4 : 3;
  /* 2^63 itself does not fit: the bound is exclusive */
  if (a->dtype == TG_INT64 && s == floor(s) && s >= -9223372036854775808.0 && s < 9223372036854775808.0) {
    c.i = (int64_t)s;
    which = 2;
  }
  tg_tensor *out = tg_tensor_alloc(TG_BOOL, a->ndim, a->shape);
  if (out) ops_apply_mixed(out, 1, (const tg_tensor *[]){a}, k->ts[which], &c);
  return out;
}

tg_tensor *tg_eq(tg_tensor *a, tg_tensor *b) { return compare(&CMP_EQ, a, b); }
tg_tensor *tg_ne(tg_tensor *a, tg_tensor *b) { return compare(&CMP_NE, a, b); }
tg_tensor *tg_lt(tg_tensor *a, tg_tensor *b) { return compare(&CMP_LT, a, b); }
tg_tensor *tg_le(tg_tensor *a, tg_tensor *b) { return compare(&CMP_LE, a, b); }
tg_tensor *tg_gt(tg_tensor *a, tg_tensor *b) { return compare(&CMP_GT, a, b); }
tg_tensor *tg_ge(tg_tensor *a, tg_tensor *b) { return compare(&CMP_GE, a, b); }
tg_tensor *tg_eq_scalar(tg_tensor *a, double s) { return compare_scalar(&CMP_EQ, a, s); }
tg_tensor *tg_ne_scalar(tg_tensor *a, double s) { return compare_scalar(&CMP_NE, a, s); }
tg_tensor *tg_lt_scalar(tg_tensor *a, double s) { return compare_scalar(&CMP_LT, a, s); }
tg_tensor *tg_le_scalar(tg_tensor *a, double s) { return compare_scalar(&CMP_LE, a, s); }
tg_tensor *tg_gt_scalar(tg_tensor *a, double s) { return compare_scalar(&CMP_GT, a, s); }
tg_tensor *tg_ge_scalar(tg_tensor *a, double s) { return compare_scalar(&CMP_GE, a, s); }

/* ------------------------------------------------ float classification */

#define CLASSIFY(NAME, T, EXPR)                                                \
  static void NAME(char **p, const ptrdiff_t *s, size_t n, const void *arg) {  \
    (void)arg;                                                                 \
    for (size_t i = 0; i < n; i++) {                                           \
      const T x = *(const T *)(p[1] + (ptrdiff_t)i * s[1]);                    \
      *(uint8_t *)(p[0] + (ptrdiff_t)i * s[0]) = (EXPR) != 0;                  \
    }                                                                          \
  }
CLASSIFY(isnan_f32, float, isnan(x))
CLASSIFY(isnan_f64, double, isnan(x))
CLASSIFY(isinf_f32, float, isinf(x))
CLASSIFY(isinf_f64, double, isinf(x))
CLASSIFY(isfinite_f32, float, isfinite(x))
CLASSIFY(isfinite_f64, double, isfinite(x))

/* integers and bools are always finite: the result is a constant */
static tg_tensor *classify(const char *op, tg_tensor *a, tg_loop_fn f32, tg_loop_fn f64,
                           bool int_value) {
  if (!tg_tensor_ok(a, op, 1)) return NULL;
  if (!tg_dtype_is_float(a->dtype)) return tg_full(TG_BOOL, a->ndim, a->shape, int_value);
  tg_tensor *out = tg_tensor_alloc(TG_BOOL, a->ndim, a->shape);
  if (out) ops_apply_mixed(out, 1, (const tg_tensor *[]){a}, a->dtype == TG_FLOAT32 ? f32 : f64, NULL);
  return out;
}

tg_tensor *tg_isnan(tg_tensor *a) { return classify("isnan", a, isnan_f32, isnan_f64, false); }
tg_tensor *tg_isinf(tg_tensor *a) { return classify("isinf", a, isinf_f32, isinf_f64, false); }
tg_tensor *tg_isfinite(tg_tensor *a) {
  return classify("isfinite", a, isfinite_f32, isfinite_f64, true);
}

/* ------------------------------------------------------- logical ops */

/* bool bytes are 0 or 1, so bitwise operators give 0 or 1 */
#define LOGICAL(NAME, EXPR)                                                    \
  static void NAME(char **p, const ptrdiff_t *s, size_t n, const void *arg) {  \
    bool binary = arg != NULL;                                                 \
    for (size_t i = 0; i < n; i++) {                                           \
      uint8_t x = *(const uint8_t *)(p[1] + (ptrdiff_t)i * s[1]);              \
      uint8_t y = binary ? *(const uint8_t *)(p[2] + (ptrdiff_t)i * s[2]) : 0; \
      (void)y;                                                                 \
      *(uint8_t *)(p[0] + (ptrdiff_t)i * s[0]) = (uint8_t)(EXPR);              \
    }                                                                          \
  }
LOGICAL(logical_and_loop, x & y)
LOGICAL(logical_or_loop, x | y)
LOGICAL(logical_xor_loop, x ^ y)
LOGICAL(logical_not_loop, x ^ 1)

/* inputs of any dtype, each read as nonzero = true (NaN is true); b is
 * NULL for logical_not */
static tg_tensor *logical(const char *op, tg_tensor *a, tg_tensor *b, bool binary, tg_loop_fn fn) {
  if (!tg_tensor_ok(a, op, 1) || (binary && !tg_tensor_ok(b, op, 2))) return NULL;
  size_t shape[TG_MAX_DIMS];
  int nd = a->ndim;
  memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
  if (binary && tg_broadcast_shapes(op, a->ndim, a->shape, b->ndim, b->shape, &nd, shape)) return NULL;
  tg_tensor *ta = ops_as_bool(a), *tb = binary ? ops_as_bool(b) : NULL;
  tg_tensor *out = ta && (!binary || tb) ? tg_tensor_alloc(TG_BOOL, nd, shape) : NULL;
  /* a non-NULL arg tells the loop it has a second operand */
  if (out) ops_apply_mixed(out, binary ? 2 : 1, (const tg_tensor *[]){ta, tb}, fn, binary ? out : NULL);
  ops_drop_temp(ta, a);
  ops_drop_temp(tb, b);
  return out;
}

tg_tensor *tg_logical_and(tg_tensor *a, tg_tensor *b) {
  return logical("logical_and", a, b, true, logical_and_loop);
}
tg_tensor *tg_logical_or(tg_tensor *a, tg_tensor *b) {
  return logical("logical_or", a, b, true, logical_or_loop);
}
tg_tensor *tg_logical_xor(tg_tensor *a, tg_tensor *b) {
  return logical("logical_xor", a, b, true, logical_xor_loop);
}
tg_tensor *tg_logical_not(tg_tensor *a) { return logical("logical_not", a, NULL, false, logical_not_loop); }

/* ------------------------------------------------------------ any/all */

static void any_loop(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  for (size_t i = 0; i < n; i++) *(uint8_t *)(p[0] + (ptrdiff_t)i * s[0]) |= *(const uint8_t *)(p[1] + (ptrdiff_t)i * s[1]);
}
static void all_loop(char **p, const ptrdiff_t *s, size_t n, const void *arg) {
  (void)arg;
  for (size_t i = 0; i < n; i++) *(uint8_t *)(p[0] + (ptrdiff_t)i * s[0]) &= *(const uint8_t *)(p[1] + (ptrdiff_t)i * s[1]);
}

/* the result starts at the identity (false for any, true for all: an
 * empty reduction gives it) and each element is folded in at its place,
 * the reduced dims having stride 0 in the result */
static tg_tensor *any_all(const char *op, tg_tensor *a, int n_dims, const int *dims, bool keepdim,
                          bool all) {
  unsigned mask;
  if (!tg_tensor_ok(a, op, 1) || !ops_dims_mask(op, a, n_dims, dims, &mask)) return NULL;
  size_t shape[TG_MAX_DIMS];
  int nd = ops_reduced_shape(a, mask, keepdim, shape);
  tg_tensor *out = tg_full(TG_BOOL, nd, shape, all);
  tg_tensor *ta = out ? ops_as_bool(a) : NULL;
  if (!ta) return NULL;
  /* bool elements are one byte: element strides are the byte strides */
  ptrdiff_t ost[TG_MAX_DIMS], st[2][TG_MAX_DIMS];
  tg_contiguous_strides(nd, shape, ost);
  for (int d = 0, j = 0; d < a->ndim; d++) {
    bool reduced = mask & (1u << d);
    st[0][d] = reduced ? 0 : ost[j];
    st[1][d] = ta->strides[d];
    if (!reduced || keepdim) j++;
  }
  char *base[2] = {tg_ptr(out), tg_ptr(ta)};
  tg_iter(2, base, a->ndim, a->shape, st, all ? all_loop : any_loop, NULL);
  ops_drop_temp(ta, a);
  return out;
}

tg_tensor *tg_any(tg_tensor *a) { return any_all("any", a, 0, NULL, false, false); }
tg_tensor *tg_all(tg_tensor *a) { return any_all("all", a, 0, NULL, false, true); }
tg_tensor *tg_any_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim) {
  return any_all("any", a, n_dims, dims, keepdim, false);
}
tg_tensor *tg_all_dims(tg_tensor *a, int n_dims, const int *dims, bool keepdim) {
  return any_all("all", a, n_dims, dims, keepdim, true);
}
