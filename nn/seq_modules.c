/* Modules of sequence models: Embedding and RMSNorm, PyTorch's names,
 * shapes and initialisation. */
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
  return m;
}
