/* Modules of sequence models: Embedding and RMSNorm, PyTorch's names,
 * shapes and initialisation. */
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

static tg_tensor *embedding_forward(tg_module *m, tg_tensor *indices) {
  return tg_embedding(m->params[0].tensor, indices, m->cfg_i[0] < 0 ? TG_NO_PADDING_IDX : m->cfg_i[0],
                      NAN, 2.0);
}

tg_module *tg_nn_embedding(size_t num_embeddings, size_t embedding_dim, int64_t padding_idx, tg_rng *rng) {
  int64_t V = (int64_t)num_embeddings;
  if (padding_idx != TG_NO_PADDING_IDX && (padding_idx >= V || padding_idx < -V)) {
    tg_error("nn_embedding: padding_idx %lld must be within num_embeddings (%zu)", (long long)padding_idx,
             num_embeddings);
    return NULL;
  }
  if (padding_idx < 0 && padding_idx != TG_NO_PADDING_IDX) padding_idx += V;
  tg_module *m = nn_stateless("Embedding", embedding_forward, 0,
                              padding_idx == TG_NO_PADDING_IDX ? -1 : (int)padding_idx, 0);
  tg_tensor *w = m ? tg_module_add_parameter(m, "weight", TG_FLOAT32, TG_SHAPE(num_embeddings, embedding_dim))
                   : NULL;
  /* torch's reset_parameters: N(0, 1), then the padding row zeroed */
  if (!w || !tg_init_normal_(w, rng, 0.0, 1.0)) {
    tg_module_free(m);
    return NULL;
  }
  if (padding_idx != TG_NO_PADDING_IDX)
    memset(tg_ptr(w) + (size_t)padding_idx * embedding_dim * sizeof(float), 0, embedding_dim * sizeof(float));
  return padding_idx == TG_NO_PADDING_IDX ? nn_with_repr(m, "%zu, %zu", num_embeddings, embedding_dim)
                                          : nn_with_repr(m, "%zu, %zu, padding_idx=%lld", num_embeddings,
                                                         embedding_dim, (long long)padding_idx);
}

typedef struct rmsnorm_cfg {
  int ndim;
  size_t shape[TG_MAX_DIMS];
  double eps;
} rmsnorm_cfg;

static tg_tensor *rmsnorm_forward(tg_module *m, tg_tensor *x) {
  const rmsnorm_cfg *c = m->ctx;
  return tg_rms_norm(x, c->ndim, c->shape, m->n_params ? m->params[0].tensor : NULL, c->eps);
}

tg_module *tg_nn_rmsnorm(int ndim, const size_t *normalized_shape, double eps, bool elementwise_affine) {
  if (!tg_shape_given("rmsnorm", ndim, normalized_shape)) return NULL;
  if (ndim < 1 || ndim > TG_MAX_DIMS || eps < 0) {
    tg_error("rmsnorm: normalized_shape must have 1 to %d dims (got %d) and eps %g be >= 0 (or NAN)",
             TG_MAX_DIMS, ndim, eps);
    return NULL;
  }
  rmsnorm_cfg *c = calloc(1, sizeof *c);
  tg_module *m = c ? tg_module_new("RMSNorm", rmsnorm_forward) : NULL;
  if (!m) {
    if (!c) tg_error("rmsnorm: out of memory");
    free(c);
    return NULL;
  }
  c->ndim = ndim;
  c->eps = eps;
  memcpy(c->shape, normalized_shape, (size_t)ndim * sizeof *c->shape);
  m->ctx = c;
  m->ctx_free = free;
  /* torch's reset_parameters: weight 1 */
  if (elementwise_affine && !tg_init_ones_(tg_module_add_parameter(m, "weight", TG_FLOAT32, ndim, normalized_shape))) {
    tg_module_free(m);
    return NULL;
  }
  return nn_with_repr(m, "%s, eps=%s, elementwise_affine=%s", nn_pyshape(ndim, normalized_shape),
                      isnan(eps) ? "None" : nn_pyfloat(eps), nn_pybool(elementwise_affine));
}
