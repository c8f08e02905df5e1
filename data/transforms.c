/* Per-sample transforms on planar float buffers ([C,H,W], row-major).
 * Each matches the PyTorch/torchvision operation it is named after, so a
 * model trained here sees the numbers it would see there. */
#include <math.h>
#include <string.h>

#include "data_internal.h"

/* the buffers are the caller's: a NULL one is reported, never touched */
static bool buffers_given(const char *op, const void *in, const void *out) {
  if (in && out) return true;
  tg_error("%s: %s buffer is NULL", op, in ? "the output" : "the input");
  return false;
}

void tg_tf_bytes_to_floats(const uint8_t *in, size_t n, bool scale, float *out) {
  if (!buffers_given("tf_bytes_to_floats", in, out)) return;
  /* division, not multiplication by 1/255: bit-identical to ToTensor's div(255) */
  if (scale)
    for (size_t i = 0; i < n; i++) out[i] = (float)in[i] / 255.0f;
  else
    for (size_t i = 0; i < n; i++) out[i] = (float)in[i];
}

void tg_tf_grayscale(const float *rgb, size_t h, size_t w, float *gray) {
  if (!buffers_given("tf_grayscale", rgb, gray)) return;
  size_t hw = h * w;
  const float *r = rgb, *g = rgb + hw, *b = rgb + 2 * hw;
  for (size_t i = 0; i < hw; i++) gray[i] = 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
}

static void resize_nearest(const float *in, size_t h, size_t w, float *out, size_t oh, size_t ow) {
  /* PyTorch's 'nearest': src = floor(dst * in / out) */
  double sy = (double)h / (double)oh, sx = (double)w / (double)ow;
  for (size_t y = 0; y < oh; y++) {
    size_t iy = (size_t)floor((double)y * sy);
    if (iy > h - 1) iy = h - 1;
    for (size_t x = 0; x < ow; x++) {
      size_t ix = (size_t)floor((double)x * sx);
      if (ix > w - 1) ix = w - 1;
      out[y * ow + x] = in[iy * w + ix];
    }
  }
}

/* source coordinate of output pixel d with half-pixel centres
 * (align_corners=False), clamped at 0 as PyTorch does */
static void bilinear_src(size_t d, double scale, size_t n, size_t *i0, size_t *i1, double *t) {
  double s = ((double)d + 0.5) * scale - 0.5;
  if (s < 0) s = 0;
  *i0 = (size_t)s;
  if (*i0 > n - 1) *i0 = n - 1;
  *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
  *t = s - (double)*i0;
}

static void resize_bilinear(const float *in, size_t h, size_t w, float *out, size_t oh, size_t ow) {
  double sy = (double)h / (double)oh, sx = (double)w / (double)ow;
  for (size_t y = 0; y < oh; y++) {
    size_t y0, y1, x0, x1;
    double ty, tx;
    bilinear_src(y, sy, h, &y0, &y1, &ty);
    for (size_t x = 0; x < ow; x++) {
      bilinear_src(x, sx, w, &x0, &x1, &tx);
      double top = (1 - tx) * in[y0 * w + x0] + tx * in[y0 * w + x1];
      double bot = (1 - tx) * in[y1 * w + x0] + tx * in[y1 * w + x1];
      out[y * ow + x] = (float)((1 - ty) * top + ty * bot);
    }
  }
}

void tg_tf_resize(const float *in, size_t c, size_t h, size_t w, float *out, size_t oh,
                  size_t ow, tg_resize_mode mode) {
  if (!buffers_given("tf_resize", in, out) || !h || !w || !oh || !ow) return;
  for (size_t k = 0; k < c; k++) {
    if (mode == TG_RESIZE_BILINEAR) resize_bilinear(in + k * h * w, h, w, out + k * oh * ow, oh, ow);
    else resize_nearest(in + k * h * w, h, w, out + k * oh * ow, oh, ow);
  }
}

int tg_tf_pad(const float *in, size_t c, size_t h, size_t w, float *out, size_t oh, size_t ow) {
  if (!buffers_given("tf_pad", in, out)) return -1;
  if (oh < h || ow < w) {
    tg_error("pad: target %zux%zu is smaller than the %zux%zu image", oh, ow, h, w);
    return -1;
  }
  size_t top = (oh - h) / 2, left = (ow - w) / 2;
  memset(out, 0, c * oh * ow * sizeof *out);
  for (size_t k = 0; k < c; k++)
    for (size_t y = 0; y < h; y++)
      memcpy(out + (k * oh + top + y) * ow + left, in + (k * h + y) * w, w * sizeof *in);
  return 0;
}

void tg_tf_normalize(float *x, size_t c, size_t hw, const float *mean, const float *std,
                     size_t n_stats) {
  if (!x || !mean || !std) {
    tg_error("tf_normalize: %s is NULL", !x ? "the buffer" : !mean ? "mean" : "std");
    return;
  }
  for (size_t k = 0; k < c; k++) {
    size_t s = n_stats == 1 ? 0 : k;
    float m = mean[s], sd = std[s];
    for (size_t i = 0; i < hw; i++) x[k * hw + i] = (x[k * hw + i] - m) / sd;
  }
}
