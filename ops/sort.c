/* Sorting along a dim: sort, topk (values differentiable, the gradient
 * scattered back to the source positions), and unique (no gradient).
 * Orders are stable and put NaN above every number, as torch.sort(stable=True). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

typedef struct keyed {
  double v;
  int64_t iv; /* the value itself for int64 input (unique) */
  size_t i;   /* position in the lane: the tie-break that makes qsort stable */
} keyed;

static int cmp_values(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
  return (a > b) - (a < b);
}
static int cmp_asc(const void *pa, const void *pb) {
  const keyed *a = pa, *b = pb;
  int c = cmp_values(a->v, b->v);
  return c ? c : (a->i > b->i) - (a->i < b->i);
}
static int cmp_desc(const void *pa, const void *pb) {
  const keyed *a = pa, *b = pb;
  int c = cmp_values(b->v, a->v);
  return c ? c : (a->i > b->i) - (a->i < b->i);
}
static int cmp_int(const void *pa, const void *pb) {
  const keyed *a = pa, *b = pb;
  int c = (a->iv > b->iv) - (a->iv < b->iv);
  return c ? c : (a->i > b->i) - (a->i < b->i);
}

/* element i (logical order) of an int64 tensor, exactly */
static int64_t int_at(const tg_tensor *a, size_t i) {
  ptrdiff_t off = (ptrdiff_t)a->offset;
  for (int d = a->ndim - 1; d >= 0; d--) {
    off += (ptrdiff_t)(i % a->shape[d]) * a->strides[d];
    i /= a->shape[d];
  }
  return ((const int64_t *)a->storage->data)[off];
}

static int cmp_int_desc(const void *pa, const void *pb) {
  const keyed *a = pa, *b = pb;
  int c = (b->iv > a->iv) - (b->iv < a->iv);
  return c ? c : (a->i > b->i) - (a->i < b->i);
}

static void put(tg_tensor *t, size_t k, double v) {
  if (t->dtype == TG_FLOAT32) ((float *)tg_ptr(t))[k] = (float)v;
  else if (t->dtype == TG_FLOAT64) ((double *)tg_ptr(t))[k] = v;
  else if (t->dtype == TG_BOOL) ((bool *)tg_ptr(t))[k] = v != 0; /* one byte, not eight */
  else ((int64_t *)tg_ptr(t))[k] = (int64_t)v;
}

/* the gradient goes back to the positions the values came from */
static void pick_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *idx = tg_node_saved(n);
  if (x->ndim == 0) gi[0] = tg_reshape(g, 0, NULL);
  else gi[0] = tg_scatter_add(tg_zeros_like(x), (int)tg_node_i(n)[0], idx, g);
}
/* tangent: the tangent at the picked positions */
static tg_tensor *pick_jvp(tg_node *n, tg_tensor *const *t) {
  if (n->in[0]->ndim == 0) return tg_reshape(t[0], n->out->ndim, n->out->shape);
  return tg_reshape(tg_gather(t[0], (int)tg_node_i(n)[0], tg_node_saved(n)), n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_SORT, "SortBackward", pick_backward, pick_jvp, TG_NODE_I | TG_NODE_SAVED);
TG_DEFINE_OP_JVP(OP_TOPK, "TopkBackward", pick_backward, pick_jvp, TG_NODE_I | TG_NODE_SAVED);

/* the first k of each lane of a sorted along d (k <= len); values and
 * int64 indices shaped as a with k along d */
static tg_tensor *sorted_prefix(const char *name, tg_tensor *a, int d, size_t k, bool descending,
                                const tg_op *op, tg_tensor **indices) {
  size_t shape[TG_MAX_DIMS], len = a->ndim ? a->shape[d] : 1, outer = 1, inner = 1;
  memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
  if (a->ndim) shape[d] = k;
  for (int q = 0; q < d; q++) outer *= a->shape[q];
  for (int q = d + 1; q < a->ndim; q++) inner *= a->shape[q];
  tg_tensor *out = tg_tensor_alloc(a->dtype, a->ndim, shape);
  tg_tensor *idx = tg_tensor_alloc(TG_INT64, a->ndim, shape);
  double *v = malloc((a->numel ? a->numel : 1) * sizeof *v);
  keyed *lane = malloc((len ? len : 1) * sizeof *lane);
  bool ok = out && idx && v && lane && tg_to_f64_array(a, v) == 0;
  bool ints = a->dtype == TG_INT64; /* exactly, past 2^53 too */
  int (*cmp)(const void *, const void *) = ints ? (descending ? cmp_int_desc : cmp_int)
                                                : (descending ? cmp_desc : cmp_asc);
  for (size_t o = 0; ok && o < outer; o++)
    for (size_t i = 0; i < inner; i++) {
      for (size_t j = 0; j < len; j++) {
        size_t at = (o * len + j) * inner + i;
        lane[j] = (keyed){v[at], ints ? int_at(a, at) : 0, j};
      }
      qsort(lane, len, sizeof *lane, cmp);
      for (size_t j = 0; j < k; j++) {
        if (ints) ((int64_t *)tg_ptr(out))[(o * k + j) * inner + i] = lane[j].iv;
        else put(out, (o * k + j) * inner + i, lane[j].v);
        put(idx, (o * k + j) * inner + i, (double)lane[j].i);
      }
    }
  free(v), free(lane);
  if (!ok) {
    tg_error("%s: out of memory", name);
    return NULL;
  }
  tg_node *n = ops_record(out, op, 1, &a);
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, idx);
  }
  if (indices) *indices = idx;
  return out;
}

tg_tensor *tg_sort(tg_tensor *a, int dim, bool descending, tg_tensor **indices) {
  if (indices) *indices = NULL;
  if (!tg_tensor_ok(a, "sort", 1)) return NULL; /* every dtype, as PyTorch */
  int d = tg_norm_dim("sort", dim, a->ndim);
  if (d < 0) return NULL;
  return sorted_prefix("sort", a, d, a->ndim ? a->shape[d] : 1, descending, &OP_SORT, indices);
}

tg_tensor *tg_topk(tg_tensor *a, long k, int dim, bool largest, bool sorted, tg_tensor **indices) {
  (void)sorted; /* the values always come sorted, which sorted = false allows */
  if (indices) *indices = NULL;
  if (!ops_check_float("topk", a, 1)) return NULL;
  int d = tg_norm_dim("topk", dim, a->ndim);
  if (d < 0) return NULL;
  size_t len = a->ndim ? a->shape[d] : 1;
  if (k < 0 || (size_t)k > len) {
    tg_error("topk: k = %ld is out of range for dim %d of size %zu", k, d, len);
    return NULL;
  }
  if (a->ndim == 0) k = 1; /* PyTorch: a 0-d input gives itself for k = 0 too */
  return sorted_prefix("topk", a, d, (size_t)k, largest, &OP_TOPK, indices);
}

/* ---------------------------------------------------------------- unique */

static bool same_key(const keyed *a, const keyed *b, bool ints) {
  return ints ? a->iv == b->iv : a->v == b->v; /* NaN != NaN: each its own value */
}

tg_tensor *tg_unique(tg_tensor *a, bool sorted, tg_tensor **inverse, tg_tensor **counts) {
  (void)sorted; /* always sorted, which sorted = false allows */
  if (inverse) *inverse = NULL;
  if (counts) *counts = NULL;
  if (!tg_tensor_ok(a, "unique", 1)) return NULL;
  bool ints = a->dtype == TG_INT64;
  size_t n = a->numel, n_u = 0;
  keyed *k = malloc((n ? n : 1) * sizeof *k);
  double *v = malloc((n ? n : 1) * sizeof *v);
  size_t *group = malloc((n ? n : 1) * sizeof *group);
  tg_tensor *inv = tg_tensor_alloc(TG_INT64, a->ndim, a->shape), *out = NULL, *cnt = NULL;
  bool ok = k && v && group && inv && tg_to_f64_array(a, v) == 0;
  if (ok) {
    for (size_t i = 0; i < n; i++) k[i] = (keyed){v[i], ints ? int_at(a, i) : 0, i};
    qsort(k, n, sizeof *k, ints ? cmp_int : cmp_asc);
    for (size_t i = 0; i < n; i++) {
      if (i == 0 || !same_key(&k[i], &k[i - 1], ints)) n_u++;
      group[i] = n_u - 1;
      ((int64_t *)tg_ptr(inv))[k[i].i] = (int64_t)(n_u - 1);
    }
    out = tg_tensor_alloc(a->dtype, 1, (size_t[]){n_u});
    cnt = tg_tensor_alloc(TG_INT64, 1, (size_t[]){n_u});
    ok = out && cnt;
    if (ok) memset(tg_ptr(cnt), 0, n_u * sizeof(int64_t));
    for (size_t i = 0; ok && i < n; i++) {
      if (ints) ((int64_t *)tg_ptr(out))[group[i]] = k[i].iv;
      else put(out, group[i], k[i].v);
      ((int64_t *)tg_ptr(cnt))[group[i]]++;
    }
  }
  free(k), free(v), free(group);
  if (!ok) {
    tg_error("unique: out of memory for %zu elements", n);
    return NULL;
  }
  if (inverse) *inverse = inv;
  if (counts) *counts = cnt;
  return out;
}
