/* The normalisation modules with PyTorch's names, defaults, parameter and
 * buffer order: BatchNorm1d/2d, InstanceNorm2d, GroupNorm, LayerNorm. Each
 * forward checks the rank as its PyTorch class does and calls the function
 * of nn/norm.c or nn/norm_layer.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"


enum { BN_1D = 1, BN_2D = 2 };

static bool check_rank(const tg_module *m, const tg_tensor *x) {
  bool ok = m->cfg_i[0] == BN_2D ? x->ndim == 4 : m->cfg_i[0] == BN_1D ? (x->ndim == 2 || x->ndim == 3)
                                                                     : (x->ndim == 3 || x->ndim == 4);
  if (!ok) {
    const char *want = m->cfg_i[0] == BN_2D ? "4D" : m->cfg_i[0] == BN_1D ? "2D or 3D" : "3D or 4D";
    tg_error("%s: expected %s input (got %dD input)", m->type, want, x->ndim);
  }
  return ok;
}

static tg_tensor *batchnorm_forward(tg_module *m, tg_tensor *x) {
  if (!check_rank(m, x)) return NULL;
  bool affine = m->n_params == 2;
  tg_tensor *w = affine ? m->params[0].tensor : NULL, *b = affine ? m->params[1].tensor : NULL;
  if (m->n_buffers == 0) /* track_running_stats false: batch statistics in both modes */
    return tg_batch_norm(x, NULL, NULL, w, b, true, 0.0, m->cfg_f[0]);
  tg_tensor *nbt = m->buffers[2].tensor;
  int64_t *count = (int64_t *)tg_ptr(nbt);
  /* momentum NAN: cumulative average, factor 1 / batches seen (this one included) */
  double f = isnan(m->cfg_f[1]) ? 1.0 / (double)(*count + 1) : m->cfg_f[1];
  tg_tensor *y = tg_batch_norm(x, m->buffers[0].tensor, m->buffers[1].tensor, w, b, m->training, f,
                               m->cfg_f[0]);
  if (y && m->training) {
    (*count)++;
    nbt->storage->version++;
  }
  return y;
}

/* PyTorch's order and starting values: weight 1, bias 0, running_mean 0,
 * running_var 1, num_batches_tracked 0 */
static tg_module *norm_module(const char *type, tg_forward_fn fwd, int kind, size_t c, double eps,
                              double momentum, bool affine, bool track) {
  tg_module *m = nn_stateless(type, fwd, eps, kind, 0);
  if (!m) return NULL;
  m->cfg_f[1] = momentum;
  bool ok = true;
  if (affine) {
    ok = tg_init_ones_(tg_module_add_parameter(m, "weight", TG_FLOAT32, TG_SHAPE(c))) != NULL;
    ok = ok && tg_module_add_parameter(m, "bias", TG_FLOAT32, TG_SHAPE(c)) != NULL;
  }
  if (track) {
    ok = ok && tg_module_add_buffer(m, "running_mean", TG_FLOAT32, TG_SHAPE(c)) != NULL;
    ok = ok && tg_init_ones_(tg_module_add_buffer(m, "running_var", TG_FLOAT32, TG_SHAPE(c))) != NULL;
    ok = ok && tg_module_add_buffer(m, "num_batches_tracked", TG_INT64, 0, NULL) != NULL;
  }
  if (!ok) {
    tg_module_free(m);
    return NULL;
  }
  return nn_with_repr(m, "%zu, eps=%s, momentum=%s, affine=%s, track_running_stats=%s", c, nn_pyfloat(eps),
                      isnan(momentum) ? "None" : nn_pyfloat(momentum), nn_pybool(affine), nn_pybool(track));
}

static bool check_eps_momentum(const char *op, double eps, double momentum, bool nan_ok) {
  if (!(eps >= 0) || !((nan_ok && isnan(momentum)) || (momentum >= 0 && momentum <= 1))) {
    tg_error("%s: eps %g must be >= 0 and momentum %g in [0, 1]%s", op, eps, momentum,
             nan_ok ? " (or NAN)" : "");
    return false;
  }
  return true;
}

tg_module *tg_nn_batchnorm1d(size_t num_features, double eps, double momentum, bool affine) {
  if (!check_eps_momentum("batchnorm1d", eps, momentum, true)) return NULL;
  return norm_module("BatchNorm1d", batchnorm_forward, BN_1D, num_features, eps, momentum, affine, true);
}

tg_module *tg_nn_batchnorm2d(size_t num_features, double eps, double momentum, bool affine,
                             bool track_running_stats) {
  if (!check_eps_momentum("batchnorm2d", eps, momentum, true)) return NULL;
  return norm_module("BatchNorm2d", batchnorm_forward, BN_2D, num_features, eps, momentum, affine,
                     track_running_stats);
}

static tg_tensor *instancenorm_forward(tg_module *m, tg_tensor *x) {
  if (!check_rank(m, x)) return NULL;
  bool affine = m->n_params == 2, track = m->n_buffers > 0, batched = x->ndim == 4;
  /* (C, H, W): one instance */
  tg_tensor *xb = batched ? x : tg_unsqueeze(x, 0);
  tg_tensor *y = tg_instance_norm(xb, track ? m->buffers[0].tensor : NULL,
                                  track ? m->buffers[1].tensor : NULL,
                                  affine ? m->params[0].tensor : NULL, affine ? m->params[1].tensor : NULL,
                                  m->training || !track, m->cfg_f[1], m->cfg_f[0]);
  return batched ? y : tg_squeeze(y, 0);
}

tg_module *tg_nn_instancenorm2d(size_t num_features, double eps, double momentum, bool affine,
                                bool track_running_stats) {
  if (!check_eps_momentum("instancenorm2d", eps, momentum, false)) return NULL;
  return norm_module("InstanceNorm2d", instancenorm_forward, 0, num_features, eps, momentum, affine,
                     track_running_stats);
}


static tg_tensor *groupnorm_forward(tg_module *m, tg_tensor *x) {
  bool affine = m->n_params == 2;
  return tg_group_norm(x, m->cfg_i[0], affine ? m->params[0].tensor : NULL,
                       affine ? m->params[1].tensor : NULL, m->cfg_f[0]);
}

/* weight 1 and bias 0 of the given shape, as PyTorch's reset_parameters */
static bool add_affine(tg_module *m, int ndim, const size_t *shape) {
  return tg_init_ones_(tg_module_add_parameter(m, "weight", TG_FLOAT32, ndim, shape)) &&
         tg_module_add_parameter(m, "bias", TG_FLOAT32, ndim, shape);
}

tg_module *tg_nn_groupnorm(int num_groups, size_t num_channels, double eps, bool affine) {
  if (num_groups <= 0 || num_channels % (size_t)num_groups != 0 || !(eps >= 0)) {
    tg_error("groupnorm: num_channels (%zu) must be divisible by num_groups (%d), which must be "
             "positive, and eps %g >= 0", num_channels, num_groups, eps);
    return NULL;
  }
  tg_module *m = nn_stateless("GroupNorm", groupnorm_forward, eps, num_groups, 0);
  if (m && affine && !add_affine(m, TG_SHAPE(num_channels))) {
    tg_module_free(m);
    return NULL;
  }
  return nn_with_repr(m, "%d, %zu, eps=%s, affine=%s", num_groups, num_channels, nn_pyfloat(eps),
                      nn_pybool(affine));
}

typedef struct layernorm_cfg {
  int ndim;
  size_t shape[TG_MAX_DIMS];
} layernorm_cfg;

static tg_tensor *layernorm_forward(tg_module *m, tg_tensor *x) {
  const layernorm_cfg *c = m->ctx;
  bool affine = m->n_params == 2;
  return tg_layer_norm(x, c->ndim, c->shape, affine ? m->params[0].tensor : NULL,
                       affine ? m->params[1].tensor : NULL, m->cfg_f[0]);
}

tg_module *tg_nn_layernorm(int ndim, const size_t *normalized_shape, double eps, bool elementwise_affine) {
  if (!tg_shape_given("layernorm", ndim, normalized_shape)) return NULL;
  if (ndim < 1 || ndim > TG_MAX_DIMS || !(eps >= 0)) {
    tg_error("layernorm: normalized_shape must have 1 to %d dims (got %d) and eps %g be >= 0",
             TG_MAX_DIMS, ndim, eps);
    return NULL;
  }
  layernorm_cfg *c = calloc(1, sizeof *c);
  tg_module *m = c ? nn_stateless("LayerNorm", layernorm_forward, eps, 0, 0) : NULL;
  if (!m) {
    if (!c) tg_error("layernorm: out of memory");
    free(c);
    return NULL;
  }
  c->ndim = ndim;
  memcpy(c->shape, normalized_shape, (size_t)ndim * sizeof *c->shape);
  m->ctx = c;
  m->ctx_free = free;
  if (elementwise_affine && !add_affine(m, ndim, normalized_shape)) {
    tg_module_free(m);
    return NULL;
  }
  return nn_with_repr(m, "%s, eps=%s, elementwise_affine=%s", nn_pyshape(ndim, normalized_shape),
                      nn_pyfloat(eps), nn_pybool(elementwise_affine));
}
