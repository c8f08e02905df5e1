/* Pooling and resampling modules as torch.nn's: MaxPool1d/2d, AvgPool1d/2d,
 * AdaptiveAvgPool2d, AdaptiveMaxPool2d, Upsample, PixelShuffle and
 * PixelUnshuffle. None has parameters or buffers; each forward calls the op
 * of ops/pool.c or ops/resample.c with the hyper-parameters kept in ctx,
 * checked once here so a bad module fails at construction. */
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

typedef struct pool_cfg {
  int64_t kernel[2], stride[2], padding[2], dilation[2], out_size[2];
  bool ceil_mode, count_include_pad;
  int64_t divisor_override;
  int64_t factor; /* PixelShuffle / PixelUnshuffle */
  bool has_size, has_scale;
  double scale[2];
  tg_interp_mode mode;
  bool align_corners;
} pool_cfg;

/* dst[i] = src[i] (or def when src is NULL); min is the least value allowed */
static bool values(const char *fn, const char *what, int64_t *dst, const int64_t *src, int n,
                   int64_t def, int64_t min) {
  for (int i = 0; i < n; i++) {
    int64_t v = src ? src[i] : def;
    if (v < min) {
      tg_error("%s: %s must be %s, got %lld", fn, what, min > 0 ? "positive" : "non-negative",
               (long long)v);
      return false;
    }
    dst[i] = v;
  }
  return true;
}

static tg_module *pool_module(const char *type, const char *fn, tg_forward_fn forward,
                              const pool_cfg *cfg) {
  pool_cfg *c = malloc(sizeof *c);
  tg_module *m = c ? tg_module_new(type, forward) : NULL;
  if (!m) {
    free(c);
    tg_error("%s: out of memory", fn);
    return NULL;
  }
  *c = *cfg;
  m->ctx = c;
  m->ctx_free = free;
  return m;
}

/* kernel (required), stride (NULL: the kernel), padding (NULL: 0) and
 * dilation (NULL: 1) of an n-d window */
static bool window(const char *fn, pool_cfg *c, int n, const int64_t *kernel, const int64_t *stride,
                   const int64_t *padding, const int64_t *dilation) {
  if (!kernel) {
    tg_error("%s: kernel_size is NULL", fn);
    return false;
  }
  if (!values(fn, "kernel_size", c->kernel, kernel, n, 0, 1) ||
      !values(fn, "padding", c->padding, padding, n, 0, 0) ||
      !values(fn, "dilation", c->dilation, dilation, n, 1, 1))
    return false;
  if (stride) return values(fn, "stride", c->stride, stride, n, 0, 1);
  memcpy(c->stride, c->kernel, sizeof c->stride);
  return true;
}

/* ---- max pooling */
static tg_tensor *maxpool1d_forward(tg_module *m, tg_tensor *x) {
  const pool_cfg *c = m->ctx;
  return tg_max_pool1d(x, c->kernel[0], c->stride, c->padding[0], c->dilation[0], c->ceil_mode, NULL);
}
static tg_tensor *maxpool2d_forward(tg_module *m, tg_tensor *x) {
  const pool_cfg *c = m->ctx;
  return tg_max_pool2d(x, c->kernel, c->stride, c->padding, c->dilation, c->ceil_mode, NULL);
}

tg_module *tg_nn_maxpool1d(int64_t kernel_size, const int64_t *stride, int64_t padding,
                           int64_t dilation, bool ceil_mode) {
  pool_cfg c = {.ceil_mode = ceil_mode};
  if (!window("nn_maxpool1d", &c, 1, &kernel_size, stride, &padding, &dilation)) return NULL;
  return nn_with_repr(pool_module("MaxPool1d", "nn_maxpool1d", maxpool1d_forward, &c),
                      "kernel_size=%lld, stride=%lld, padding=%lld, dilation=%lld, ceil_mode=%s",
                      (long long)c.kernel[0], (long long)c.stride[0], (long long)c.padding[0],
                      (long long)c.dilation[0], nn_pybool(ceil_mode));
}

tg_module *tg_nn_maxpool2d(const int64_t kernel_size[2], const int64_t stride[2],
                           const int64_t padding[2], const int64_t dilation[2], bool ceil_mode) {
  pool_cfg c = {.ceil_mode = ceil_mode};
  if (!window("nn_maxpool2d", &c, 2, kernel_size, stride, padding, dilation)) return NULL;
  return nn_with_repr(pool_module("MaxPool2d", "nn_maxpool2d", maxpool2d_forward, &c),
                      "kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s",
                      nn_pysize2(c.kernel), nn_pysize2(c.stride), nn_pysize2(c.padding),
                      nn_pysize2(c.dilation), nn_pybool(ceil_mode));
}

/* ---- average pooling */
static tg_tensor *avgpool1d_forward(tg_module *m, tg_tensor *x) {
  const pool_cfg *c = m->ctx;
  return tg_avg_pool1d(x, c->kernel[0], c->stride, c->padding[0], c->ceil_mode, c->count_include_pad);
}
static tg_tensor *avgpool2d_forward(tg_module *m, tg_tensor *x) {
  const pool_cfg *c = m->ctx;
  return tg_avg_pool2d(x, c->kernel, c->stride, c->padding, c->ceil_mode, c->count_include_pad,
                       c->divisor_override);
}

tg_module *tg_nn_avgpool1d(int64_t kernel_size, const int64_t *stride, int64_t padding,
                           bool ceil_mode, bool count_include_pad) {
  pool_cfg c = {.ceil_mode = ceil_mode, .count_include_pad = count_include_pad};
  if (!window("nn_avgpool1d", &c, 1, &kernel_size, stride, &padding, NULL)) return NULL;
  return nn_with_repr(pool_module("AvgPool1d", "nn_avgpool1d", avgpool1d_forward, &c),
                      "kernel_size=%s, stride=%s, padding=%s", nn_pytuple(1, c.kernel),
                      nn_pytuple(1, c.stride), nn_pytuple(1, c.padding));
}

tg_module *tg_nn_avgpool2d(const int64_t kernel_size[2], const int64_t stride[2],
                           const int64_t padding[2], bool ceil_mode, bool count_include_pad,
                           int64_t divisor_override) {
  pool_cfg c = {.ceil_mode = ceil_mode, .count_include_pad = count_include_pad,
                .divisor_override = divisor_override};
  if (!window("nn_avgpool2d", &c, 2, kernel_size, stride, padding, NULL)) return NULL;
  return nn_with_repr(pool_module("AvgPool2d", "nn_avgpool2d", avgpool2d_forward, &c),
                      "kernel_size=%s, stride=%s, padding=%s", nn_pysize2(c.kernel), nn_pysize2(c.stride),
                      nn_pysize2(c.padding));
}

/* ---- adaptive pooling */
static tg_tensor *adaptive_avg_forward(tg_module *m, tg_tensor *x) {
  return tg_adaptive_avg_pool2d(x, ((const pool_cfg *)m->ctx)->out_size);
}
static tg_tensor *adaptive_max_forward(tg_module *m, tg_tensor *x) {
  return tg_adaptive_max_pool2d(x, ((const pool_cfg *)m->ctx)->out_size, NULL);
}

static tg_module *adaptive(const char *type, const char *fn, tg_forward_fn fwd, const int64_t *out) {
  pool_cfg c = {0};
  if (!out) {
    tg_error("%s: output_size is NULL", fn);
    return NULL;
  }
  if (!values(fn, "output_size", c.out_size, out, 2, 0, 0)) return NULL;
  return nn_with_repr(pool_module(type, fn, fwd, &c), "output_size=%s", nn_pytuple(2, c.out_size));
}

tg_module *tg_nn_adaptive_avgpool2d(const int64_t output_size[2]) {
  return adaptive("AdaptiveAvgPool2d", "nn_adaptive_avgpool2d", adaptive_avg_forward, output_size);
}
tg_module *tg_nn_adaptive_maxpool2d(const int64_t output_size[2]) {
  return adaptive("AdaptiveMaxPool2d", "nn_adaptive_maxpool2d", adaptive_max_forward, output_size);
}

/* ---- resampling */
static tg_tensor *upsample_forward(tg_module *m, tg_tensor *x) {
  const pool_cfg *c = m->ctx;
  return tg_interpolate(x, c->has_size ? c->out_size : NULL, c->has_scale ? c->scale : NULL, c->mode,
                        c->align_corners);
}

tg_module *tg_nn_upsample(const int64_t size[2], const double scale_factor[2], tg_interp_mode mode,
                          bool align_corners) {
  const char *fn = "nn_upsample";
  pool_cfg c = {.has_size = size != NULL, .has_scale = scale_factor != NULL, .mode = mode,
                .align_corners = align_corners};
  if (c.has_size == c.has_scale) {
    tg_error("%s: either size or scale_factor should be defined, not both", fn);
    return NULL;
  }
  if (size && !values(fn, "size", c.out_size, size, 2, 0, 1)) return NULL;
  for (int i = 0; scale_factor && i < 2; i++) {
    if (!(scale_factor[i] > 0)) {
      tg_error("%s: scale_factor must be positive, got %g", fn, scale_factor[i]);
      return NULL;
    }
    c.scale[i] = scale_factor[i];
  }
  if (align_corners && mode == TG_INTERP_NEAREST) {
    tg_error("%s: align_corners option can only be set with the interpolating modes: linear | bilinear", fn);
    return NULL;
  }
  return nn_with_repr(pool_module("Upsample", fn, upsample_forward, &c), "%s=%s, mode=%s",
                      size ? "size" : "scale_factor", size ? nn_pysize2(c.out_size) : nn_pyscale2(c.scale),
                      mode == TG_INTERP_NEAREST  ? "nearest"
                      : mode == TG_INTERP_LINEAR ? "linear"
                                                 : "bilinear");
}

static tg_tensor *pixel_shuffle_forward(tg_module *m, tg_tensor *x) {
  return tg_pixel_shuffle(x, ((const pool_cfg *)m->ctx)->factor);
}
static tg_tensor *pixel_unshuffle_forward(tg_module *m, tg_tensor *x) {
  return tg_pixel_unshuffle(x, ((const pool_cfg *)m->ctx)->factor);
}

static tg_module *shuffle(const char *type, const char *fn, tg_forward_fn fwd, int64_t factor) {
  if (factor <= 0) {
    tg_error("%s: the factor must be positive, got %lld", fn, (long long)factor);
    return NULL;
  }
  pool_cfg c = {.factor = factor};
  return nn_with_repr(pool_module(type, fn, fwd, &c), "%s_factor=%lld",
                      strcmp(type, "PixelShuffle") == 0 ? "upscale" : "downscale", (long long)factor);
}

tg_module *tg_nn_pixel_shuffle(int64_t upscale_factor) {
  return shuffle("PixelShuffle", "nn_pixel_shuffle", pixel_shuffle_forward, upscale_factor);
}
tg_module *tg_nn_pixel_unshuffle(int64_t downscale_factor) {
  return shuffle("PixelUnshuffle", "nn_pixel_unshuffle", pixel_unshuffle_forward, downscale_factor);
}
