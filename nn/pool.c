/* Pooling and resampling modules with PyTorch's type names (MaxPool2d,
 * AvgPool2d, AdaptiveAvgPool2d, Upsample, PixelShuffle, PixelUnshuffle):
 * no parameters; the settings are copied into ctx at construction and
 * checked, as in PyTorch, when the module runs. */
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

typedef struct pool_cfg {
  size_t kernel[2], stride[2], padding[2], dilation[2], size[2];
  bool has_stride, ceil_mode, count_include_pad, align_corners, has_size;
  long divisor_override;
  double scale[2];
  int n; /* Upsample: spatial dims of size / scale */
  tg_interp_mode mode;
} pool_cfg;

static void copy2(size_t *dst, const size_t *src, size_t def) {
  dst[0] = src ? src[0] : def;
  dst[1] = src ? src[1] : def;
}

static tg_module *with_cfg(const char *type, tg_forward_fn fwd, const pool_cfg *c) {
  pool_cfg *copy = malloc(sizeof *copy);
  if (!copy) {
    tg_error("nn_%s: out of memory", type);
    return NULL;
  }
  *copy = *c;
  tg_module *m = tg_module_new(type, fwd);
  if (!m) {
    free(copy);
    return NULL;
  }
  m->ctx = copy;
  m->ctx_free = free;
  return m;
}

static bool given(const char *fn, const void *p, const char *what) {
  if (!p) tg_error("%s: %s is NULL", fn, what);
  return p != NULL;
}

static tg_tensor *maxpool_forward(tg_module *m, tg_tensor *x) {
  const pool_cfg *c = m->ctx;
  return tg_max_pool2d(x, c->kernel, c->has_stride ? c->stride : NULL, c->padding, c->dilation,
                       c->ceil_mode, NULL);
}
tg_module *tg_nn_maxpool2d(const size_t *kernel, const size_t *stride, const size_t *padding,
                           const size_t *dilation, bool ceil_mode) {
  if (!given("nn_maxpool2d", kernel, "kernel_size")) return NULL;
  pool_cfg c = {.has_stride = stride != NULL, .ceil_mode = ceil_mode};
  copy2(c.kernel, kernel, 0), copy2(c.stride, stride, 0), copy2(c.padding, padding, 0);
  copy2(c.dilation, dilation, 1);
  return with_cfg("MaxPool2d", maxpool_forward, &c);
}

static tg_tensor *avgpool_forward(tg_module *m, tg_tensor *x) {
  const pool_cfg *c = m->ctx;
  return tg_avg_pool2d(x, c->kernel, c->has_stride ? c->stride : NULL, c->padding, c->ceil_mode,
                       c->count_include_pad, c->divisor_override);
}
tg_module *tg_nn_avgpool2d(const size_t *kernel, const size_t *stride, const size_t *padding,
                           bool ceil_mode, bool count_include_pad, long divisor_override) {
  if (!given("nn_avgpool2d", kernel, "kernel_size")) return NULL;
  pool_cfg c = {.has_stride = stride != NULL, .ceil_mode = ceil_mode,
                .count_include_pad = count_include_pad, .divisor_override = divisor_override};
  copy2(c.kernel, kernel, 0), copy2(c.stride, stride, 0), copy2(c.padding, padding, 0);
  return with_cfg("AvgPool2d", avgpool_forward, &c);
}

static tg_tensor *adaptive_forward(tg_module *m, tg_tensor *x) {
  return tg_adaptive_avg_pool2d(x, ((const pool_cfg *)m->ctx)->size);
}
tg_module *tg_nn_adaptive_avgpool2d(const size_t *output_size) {
  if (!given("nn_adaptive_avgpool2d", output_size, "output_size")) return NULL;
  pool_cfg c = {0};
  copy2(c.size, output_size, 0);
  return with_cfg("AdaptiveAvgPool2d", adaptive_forward, &c);
}

static tg_tensor *upsample_forward(tg_module *m, tg_tensor *x) {
  const pool_cfg *c = m->ctx;
  if (x && x->ndim - 2 != c->n) {
    tg_error("nn_upsample: built for %d spatial dims, got a %d-d input", c->n, x->ndim);
    return NULL;
  }
  return tg_interpolate(x, c->has_size ? c->size : NULL, c->has_size ? NULL : c->scale, c->mode,
                        c->align_corners);
}
tg_module *tg_nn_upsample(int n, const size_t *size, const double *scale_factor, tg_interp_mode mode,
                          bool align_corners) {
  const char *fn = "nn_upsample";
  if (n < 1 || n > 2) {
    tg_error("%s: %d spatial dims (1 or 2 supported)", fn, n);
    return NULL;
  }
  if (!size == !scale_factor) {
    tg_error("%s: %s", fn, size ? "only one of size or scale_factor should be defined"
                                 : "either size or scale_factor should be defined");
    return NULL;
  }
  pool_cfg c = {.n = n, .mode = mode, .align_corners = align_corners, .has_size = size != NULL};
  for (int i = 0; i < n; i++) {
    if (size) c.size[i] = size[i];
    else c.scale[i] = scale_factor[i];
  }
  return with_cfg("Upsample", upsample_forward, &c);
}

static tg_tensor *shuffle_forward(tg_module *m, tg_tensor *x) { return tg_pixel_shuffle(x, m->cfg_i[0]); }
static tg_tensor *unshuffle_forward(tg_module *m, tg_tensor *x) {
  return tg_pixel_unshuffle(x, m->cfg_i[0]);
}
/* the factor must fit the module's int setting; PyTorch checks its sign when run */
static tg_module *shuffle_module(const char *type, tg_forward_fn fwd, long r) {
  if (r > 1 << 20 || r < -(1 << 20)) {
    tg_error("nn_%s: factor %ld out of range", type, r);
    return NULL;
  }
  return nn_stateless(type, fwd, 0, (int)r, 0);
}
tg_module *tg_nn_pixel_shuffle(long upscale_factor) {
  return shuffle_module("PixelShuffle", shuffle_forward, upscale_factor);
}
tg_module *tg_nn_pixel_unshuffle(long downscale_factor) {
  return shuffle_module("PixelUnshuffle", unshuffle_forward, downscale_factor);
}
