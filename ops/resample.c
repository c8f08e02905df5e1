/* Resampling as torch 1.13: F.interpolate in the modes nearest, linear and
 * bilinear (ops/pool.c's plans: each is linear, its backward the adjoint),
 * and pixel_shuffle / pixel_unshuffle (a reshape, a permute, a reshape). */
#include <math.h>
#include <string.h>

#include "pool_internal.h"

/* torch's compute_scales_value: 1/scale_factor when one was given, else in/out
 * (computed in the input's float type, as torch) */
static double scale_of(double sf, size_t in, size_t out, bool f32) {
  double s = sf > 0 ? 1.0 / sf : (f32 ? (double)((float)in / (float)out) : (double)in / (double)out);
  return f32 ? (double)(float)s : s;
}

/* nearest: src = min(floor(dst * scale), in - 1) in float, as torch 1.13's
 * nearest_neighbor_compute_source_index */
static void nearest_axis(pool_win *w, size_t out, size_t in, double sf) {
  float scale = sf > 0 ? (float)(1.0 / sf) : (float)in / (float)out;
  for (size_t o = 0; o < out; o++) {
    long s = (long)floorf((float)o * scale);
    if (s > (long)in - 1) s = (long)in - 1;
    w[o] = (pool_win){(double)s, 1, 1, 1, 1, 0};
  }
}

/* linear: two taps i0 and i0 + (i0 < in - 1) weighted 1 - l and l, where the
 * source position is scale*dst (align_corners) or scale*(dst + 0.5) - 0.5
 * clamped at 0; a dim of the same size in and out is copied */
static void linear_axis(pool_win *w, size_t out, size_t in, double sf, bool align, bool f32) {
  double scale = align ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0) : scale_of(sf, in, out, f32);
  if (f32) scale = (double)(float)scale;
  for (size_t o = 0; o < out; o++) {
    if (out == in) { /* torch 1.13 copies such a dim, whatever the scale_factor */
      w[o] = (pool_win){(double)o, 1, 1, 1, 1, 0};
      continue;
    }
    double real = align ? scale * (double)o : scale * ((double)o + 0.5) - 0.5;
    if (!align && real < 0) real = 0;
    if (f32) real = (double)(float)real;
    long i0 = (long)real;
    double l = real - (double)i0;
    l = l < 0 ? 0 : l > 1 ? 1 : l;
    if (f32) l = (double)(float)l;
    w[o] = (pool_win){(double)i0, 2, i0 < (long)in - 1 ? 1 : 0, 1, 1 - l, l};
  }
}

static const char *const MODE[] = {"nearest", "linear", "bilinear"};

tg_tensor *tg_interpolate(tg_tensor *a, const int64_t *size, const double *scale_factor,
                          tg_interp_mode mode, bool align_corners) {
  const char *op = "interpolate";
  if (!tg_tensor_ok(a, op, 1)) return NULL;
  if ((unsigned)mode > TG_INTERP_BILINEAR) {
    tg_error("%s: unknown mode %d", op, (int)mode);
    return NULL;
  }
  if (mode == TG_INTERP_NEAREST && align_corners) {
    tg_error("%s: align_corners option can only be set with the interpolating modes: linear | "
             "bilinear | bicubic | trilinear", op);
    return NULL;
  }
  if (a->ndim < 3 || a->ndim > 5) {
    tg_error("%s: Input Error: Only 3D, 4D and 5D input Tensors supported (got %dD) for the modes: "
             "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got %s)",
             op, a->ndim, MODE[mode]);
    return NULL;
  }
  int sd = a->ndim - 2;
  if (size && scale_factor) {
    tg_error("%s: only one of size or scale_factor should be defined", op);
    return NULL;
  }
  if (!size && !scale_factor) {
    tg_error("%s: either size or scale_factor should be defined", op);
    return NULL;
  }
  if ((mode == TG_INTERP_LINEAR && sd != 1) || (mode == TG_INTERP_BILINEAR && sd != 2)) {
    tg_error("%s: Got %dD input, but %s mode needs %dD input", op, a->ndim, MODE[mode],
             mode == TG_INTERP_LINEAR ? 3 : 4);
    return NULL;
  }
  if (sd == 3) {
    tg_error("%s: 5-d (volumetric) input is not supported", op);
    return NULL;
  }
  if (!pool_check_float(op, a)) return NULL;
  size_t in[2] = {1, 1}, out[2] = {1, 1};
  double sf[2] = {0, 0};
  for (int k = 0; k < sd; k++) {
    int i = 2 - sd + k; /* 1-d: the width axis */
    in[i] = a->shape[2 + k];
    double o = size ? (double)size[k] : (double)in[i] * scale_factor[k];
    if (scale_factor) sf[i] = scale_factor[k];
    if (!(o >= 1) || in[i] == 0) {
      tg_error("%s: Input and output sizes should be greater than 0, but got input size %zu and "
               "output size %.0f in spatial dim %d", op, in[i], o > -1e18 && o < 1e18 ? trunc(o) : 0.0, k);
      return NULL;
    }
    out[i] = (size_t)o;
  }
  if (a->shape[1] == 0) {
    char buf[96];
    tg_error("%s: Non-empty %dD data tensor expected but got a tensor with sizes %s", op, a->ndim,
             tg_shape_str(a, buf, sizeof buf));
    return NULL;
  }
  bool f32 = a->dtype == TG_FLOAT32, nearest = mode == TG_INTERP_NEAREST;
  pool_plan p;
  tg_tensor *plan = pool_plan_new(in[0], in[1], out[0], out[1], 0, !nearest, &p);
  if (!plan) return NULL;
  for (int i = 0; i < 2; i++) {
    pool_win *w = i ? p.cols : p.rows;
    if (nearest) nearest_axis(w, out[i], in[i], sf[i]);
    else linear_axis(w, out[i], in[i], sf[i], align_corners, f32);
  }
  pool_linear_kind kind = nearest ? (sd == 2 ? POOL_NEAREST2D : POOL_NEAREST1D)
                                  : (sd == 2 ? POOL_BILINEAR2D : POOL_LINEAR1D);
  return pool_linear(a, plan, sd, kind);
}

/* ------------------------------------------------ pixel (un)shuffle */

static bool shuffle_checks(const char *op, tg_tensor *a, long r, bool up) {
  if (!tg_tensor_ok(a, op, 1)) return false;
  if (a->ndim < 3) {
    tg_error("%s: %s expects input to have at least 3 dimensions, but got input with %d dimension(s)",
             op, op, a->ndim);
    return false;
  }
  if (r <= 0) {
    tg_error("%s: %s expects a positive %s, but got %ld", op, op,
             up ? "upscale_factor" : "downscale_factor", r);
    return false;
  }
  size_t c = a->shape[a->ndim - 3], h = a->shape[a->ndim - 2], w = a->shape[a->ndim - 1], f = (size_t)r;
  if (up && c % (f * f)) {
    tg_error("%s: pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
             "square of upscale_factor, but input.size(-3)=%zu is not divisible by %zu", op, c, f * f);
    return false;
  }
  if (!up && (h % f || w % f)) {
    bool bad_h = h % f != 0;
    tg_error("%s: pixel_unshuffle expects %s to be divisible by downscale_factor, but "
             "input.size(%d)=%zu is not divisible by %zu", op, bad_h ? "height" : "width",
             bad_h ? -2 : -1, bad_h ? h : w, f);
    return false;
  }
  return true;
}

/* the leading dims flattened to one, so the 6-d permuted view fits TG_MAX_DIMS */
static tg_tensor *shuffle(tg_tensor *a, long r, bool up) {
  const char *op = up ? "pixel_shuffle" : "pixel_unshuffle";
  if (!shuffle_checks(op, a, r, up)) return NULL;
  size_t f = (size_t)r, lead = 1;
  int nd = a->ndim;
  for (int d = 0; d < nd - 3; d++) lead *= a->shape[d];
  size_t c = a->shape[nd - 3], h = a->shape[nd - 2], w = a->shape[nd - 1];
  size_t split[6], shape[TG_MAX_DIMS];
  static const int TO_SPACE[6] = {0, 1, 4, 2, 5, 3}, TO_DEPTH[6] = {0, 1, 3, 5, 2, 4};
  for (int d = 0; d < nd - 3; d++) shape[d] = a->shape[d];
  if (up) {
    memcpy(split, (size_t[]){lead, c / (f * f), f, f, h, w}, sizeof split);
    shape[nd - 3] = c / (f * f), shape[nd - 2] = h * f, shape[nd - 1] = w * f;
  } else {
    memcpy(split, (size_t[]){lead, c, h / f, f, w / f, f}, sizeof split);
    shape[nd - 3] = c * f * f, shape[nd - 2] = h / f, shape[nd - 1] = w / f;
  }
  tg_tensor *x = tg_reshape(a, 6, split);
  x = x ? tg_permute(x, up ? TO_SPACE : TO_DEPTH) : NULL;
  return x ? tg_reshape(tg_contiguous(x), nd, shape) : NULL;
}

tg_tensor *tg_pixel_shuffle(tg_tensor *a, int64_t upscale_factor) { return shuffle(a, upscale_factor, true); }
tg_tensor *tg_pixel_unshuffle(tg_tensor *a, int64_t downscale_factor) {
  return shuffle(a, downscale_factor, false);
}
