/* Embedding lookup as one node: the output rows are weight rows picked by
 * int64 indices of any shape. Its backward adds each gradient row into the
 * weight row it came from, straight into a leaf weight's .grad when the
 * engine allows, so a step over a large vocabulary never builds a dense
 * V x D gradient of its own. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

/* dst (V, D) += rows of g (N, D), both contiguous, but the padding rows */
static void add_rows(tg_tensor *dst, const tg_tensor *g, const int64_t *ix, size_t N, size_t D,
                     int64_t pad) {
  for (size_t i = 0; i < N; i++) {
    if (ix[i] == pad) continue;
    if (g->dtype == TG_FLOAT32) {
      float *restrict d = (float *)tg_ptr(dst) + (size_t)ix[i] * D;
      const float *restrict s = (const float *)tg_ptr(g) + i * D;
      for (size_t j = 0; j < D; j++) d[j] += s[j];
    } else {
      double *restrict d = (double *)tg_ptr(dst) + (size_t)ix[i] * D;
      const double *restrict s = (const double *)tg_ptr(g) + i * D;
      for (size_t j = 0; j < D; j++) d[j] += s[j];
    }
  }
}

/* gW = index_add(0, idx, g rows with the padding rows zeroed): linear in g,
 * so under create_graph it is written with tg_ ops (double backward w.r.t. g) */
static void embedding_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *w = n->in[0], *idx = tg_node_saved(n);
  int64_t pad = tg_node_i(n)[0];
  size_t N = idx->numel, D = w->shape[1];
  const int64_t *ix = (const int64_t *)tg_ptr(idx);
  if (ops_fused_backward()) {
    tg_tensor *gc = tg_is_contiguous(g) ? g : tg_contiguous(g);
    tg_tensor *dst = tg_node_grad_sink(n, 0);
    if (!dst) dst = gi[0] = tg_zeros(w->dtype, 2, w->shape);
    if (gc && dst) add_rows(dst, gc, ix, N, D, pad);
    return;
  }
  tg_tensor *rows = tg_reshape(g, TG_SHAPE(N, D));
  if (pad >= 0) {
    tg_tensor *keep = tg_tensor_alloc(w->dtype, TG_SHAPE(N, 1));
    if (!keep) return;
    for (size_t i = 0; i < N; i++) {
      if (w->dtype == TG_FLOAT32) ((float *)tg_ptr(keep))[i] = ix[i] != pad;
      else ((double *)tg_ptr(keep))[i] = ix[i] != pad;
    }
    rows = tg_mul(rows, keep);
  }
  gi[0] = tg_index_add(tg_zeros(w->dtype, 2, w->shape), 0, tg_reshape(idx, TG_SHAPE(N)), rows);
}
/* tangent: the tangent's rows at idx, the padding rows zeroed as in the
 * backward (J is the backward's transpose) */
static tg_tensor *embedding_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *idx = tg_node_saved(n);
  int64_t pad = tg_node_i(n)[0];
  size_t N = idx->numel;
  const int64_t *ix = (const int64_t *)tg_ptr(idx);
  tg_tensor *rows = tg_index_select(t[0], 0, tg_reshape(idx, TG_SHAPE(N)));
  if (pad >= 0) {
    tg_tensor *keep = tg_tensor_alloc(t[0]->dtype, TG_SHAPE(N, 1));
    if (!keep) return NULL;
    for (size_t i = 0; i < N; i++) {
      if (keep->dtype == TG_FLOAT32) ((float *)tg_ptr(keep))[i] = ix[i] != pad;
      else ((double *)tg_ptr(keep))[i] = ix[i] != pad;
    }
    rows = tg_mul(rows, keep);
  }
  return tg_reshape(rows, n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_EMBEDDING, "EmbeddingBackward", embedding_backward, embedding_jvp, TG_NODE_I | TG_NODE_SAVED);

static double row_norm(const tg_tensor *w, size_t r, double p) {
  double acc = 0;
  for (size_t j = 0; j < w->shape[1]; j++) {
    ptrdiff_t off = (ptrdiff_t)w->offset + (ptrdiff_t)r * w->strides[0] + (ptrdiff_t)j * w->strides[1];
    double v = fabs(w->dtype == TG_FLOAT32 ? (double)((const float *)w->storage->data)[off]
                                           : ((const double *)w->storage->data)[off]);
    if (isinf(p)) acc = p > 0 ? fmax(acc, v) : (j ? fmin(acc, v) : v);
    else if (p == 0) acc += v != 0;
    else acc += pow(v, p);
  }
  return isinf(p) || p == 0 ? acc : pow(acc, 1.0 / p);
}

/* torch's embedding_renorm_: every row used (once each) whose norm exceeds
 * max_norm is scaled, in place and unrecorded, to max_norm / (norm + 1e-7) */
static bool renorm_rows(tg_tensor *w, const int64_t *ix, size_t N, double max_norm, double p) {
  if (!tg_dtype_is_float(w->dtype)) {
    tg_error("embedding: max_norm needs a float weight, got %s", tg_dtype_name(w->dtype));
    return false;
  }
  unsigned char *seen = calloc(w->shape[0] ? w->shape[0] : 1, 1);
  if (!seen) {
    tg_error("embedding: out of memory");
    return false;
  }
  for (size_t i = 0; i < N; i++) {
    size_t r = (size_t)ix[i];
    if (seen[r]) continue;
    seen[r] = 1;
    double norm = row_norm(w, r, p);
    if (!(norm > max_norm)) continue;
    double scale = max_norm / (norm + 1e-7);
    for (size_t j = 0; j < w->shape[1]; j++) {
      ptrdiff_t off = (ptrdiff_t)w->offset + (ptrdiff_t)r * w->strides[0] + (ptrdiff_t)j * w->strides[1];
      if (w->dtype == TG_FLOAT32) ((float *)w->storage->data)[off] *= (float)scale;
      else ((double *)w->storage->data)[off] *= scale;
    }
  }
  free(seen);
  w->storage->version++;
  return true;
}

/* padding_idx in [-V, V) counted from the end when negative, as torch; -1
 * after normalising means none */
static bool norm_padding(const tg_tensor *w, int64_t *pad) {
  if (*pad == TG_NO_PADDING_IDX) {
    *pad = -1;
    return true;
  }
  int64_t V = (int64_t)w->shape[0];
  if (*pad >= V || *pad < -V) {
    tg_error("embedding: padding_idx %lld must be within num_embeddings (%lld)", (long long)*pad,
             (long long)V);
    return false;
  }
  if (*pad < 0) *pad += V;
  return true;
}

tg_tensor *tg_embedding(tg_tensor *weight, tg_tensor *indices, int64_t padding_idx, double max_norm,
                        double norm_type) {
  char b[96];
  if (!ops_check_numeric("embedding", weight, 1) || !tg_tensor_check(indices, "embedding", 2)) return NULL;
  if (indices->dtype != TG_INT64) {
    tg_error("embedding: expected indices (argument 2) to have one of the following scalar types: "
             "Long, Int; but got %s", tg_dtype_name(indices->dtype));
    return NULL;
  }
  if (weight->ndim != 2) {
    tg_error("embedding: 'weight' must be 2-D, got %s", tg_shape_str(weight, b, sizeof b));
    return NULL;
  }
  if (indices->ndim + 1 > TG_MAX_DIMS) {
    tg_error("embedding: indices of %d dims give more than %d dims", indices->ndim, TG_MAX_DIMS);
    return NULL;
  }
  if (!norm_padding(weight, &padding_idx)) return NULL;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *idx = tg_is_contiguous(indices) ? indices : tg_contiguous(indices);
  tg_set_grad_enabled(prev);
  if (!idx) return NULL;
  size_t N = idx->numel, V = weight->shape[0], D = weight->shape[1];
  const int64_t *ix = (const int64_t *)tg_ptr(idx);
  for (size_t i = 0; i < N; i++)
    if (ix[i] < 0 || (uint64_t)ix[i] >= V) {
      tg_error("embedding: index %lld out of range for a weight of %zu rows", (long long)ix[i], V);
      return NULL;
    }
  if (!isnan(max_norm) && max_norm != 0 && !renorm_rows(weight, ix, N, max_norm, norm_type)) return NULL;
  size_t shape[TG_MAX_DIMS];
  memcpy(shape, indices->shape, (size_t)indices->ndim * sizeof *shape);
  shape[indices->ndim] = D;
  tg_tensor *out = tg_tensor_alloc(weight->dtype, indices->ndim + 1, shape);
  if (!out) return NULL;
  size_t es = tg_elem_bytes(weight->dtype);
  const char *wd = weight->storage->data;
  char *od = tg_ptr(out);
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < D; j++) {
      ptrdiff_t off = (ptrdiff_t)weight->offset + ix[i] * weight->strides[0] + (ptrdiff_t)j * weight->strides[1];
      memcpy(od + (i * D + j) * es, wd + off * (ptrdiff_t)es, es);
    }
  tg_node *n = ops_record(out, &OP_EMBEDDING, 1, &weight);
  if (n) {
    tg_node_i(n)[0] = padding_idx;
    tg_node_save(n, idx);
  }
  return out;
}
