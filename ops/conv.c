/* Convolutions as torch.nn.functional's conv1d, conv2d, conv_transpose1d
 * and conv_transpose2d: torch's argument checks and messages, "same" /
 * "valid" padding, unbatched and int64 input, here; the products are
 * ops/conv_gemm.c's nodes (a convolution is the weight, per group, times the
 * im2col columns of the input; the transposed one col2im of the weight's
 * transpose times the input), whose backwards are written with unfold/fold
 * (ops/unfold.c), matmul and the convolutions themselves, so the double
 * backward comes with them. A 1-d convolution is the 2-d one over a height
 * of 1. */
#include <stdio.h>
#include <string.h>

#include "conv_internal.h"

/* a call, its parameters in spatial order (sd of them) */
typedef struct conv_spec {
  const char *op;
  int sd; /* spatial dims: 1 or 2 */
  bool transposed, same;
  int64_t stride[2], pad[2], dilation[2], out_pad[2], groups;
} conv_spec;

/* "(2 x 3)" or "(2)" */
static const char *dims_str(int sd, const int64_t *v, char *buf, size_t len) {
  if (sd == 1) snprintf(buf, len, "(%lld)", (long long)v[0]);
  else snprintf(buf, len, "(%lld x %lld)", (long long)v[0], (long long)v[1]);
  return buf;
}

static bool check_dtypes(const conv_spec *c, const tg_tensor *x, const tg_tensor *w, const tg_tensor *b) {
  if (x->dtype != w->dtype || (b && b->dtype != x->dtype)) {
    const tg_tensor *o = x->dtype != w->dtype ? w : b;
    tg_error("%s: input (%s) and %s (%s) should have the same dtype", c->op, tg_dtype_name(x->dtype),
             o == w ? "weight" : "bias", tg_dtype_name(o->dtype));
    return false;
  }
  if (x->dtype == TG_BOOL) {
    tg_error("%s: not implemented for bool (float32, float64 or int64)", c->op);
    return false;
  }
  return true;
}

static bool check_params(const conv_spec *c) {
  for (int i = 0; i < c->sd; i++) {
    const char *bad = c->stride[i] <= 0      ? "non-positive stride is not supported"
                      : c->pad[i] < 0        ? "negative padding is not supported"
                      : c->out_pad[i] < 0    ? "negative output_padding is not supported"
                      : c->dilation[i] <= 0  ? "dilation should be greater than zero"
                                             : NULL;
    if (bad) {
      tg_error("%s: %s", c->op, bad);
      return false;
    }
    if (c->stride[i] >= (1LL << 31) || c->pad[i] >= (1LL << 31) || c->dilation[i] >= (1LL << 31)) {
      tg_error("%s: stride, padding and dilation must be below 2^31", c->op);
      return false;
    }
  }
  if (c->groups <= 0) {
    tg_error("%s: non-positive groups is not supported", c->op);
    return false;
  }
  if (c->same && (c->stride[0] != 1 || (c->sd == 2 && c->stride[1] != 1))) {
    tg_error("%s: padding='same' is not supported for strided convolutions", c->op);
    return false;
  }
  return true;
}

/* weight and bias against the input, torch's checks (ConvParams) */
static bool check_shapes(const conv_spec *c, const tg_tensor *x, const tg_tensor *w, const tg_tensor *b) {
  char bw[96], bx[96], bb[96], b1[48], b2[48];
  int sd = c->sd;
  tg_shape_str(w, bw, sizeof bw);
  tg_shape_str(x, bx, sizeof bx);
  if (w->ndim != sd + 2) {
    tg_error("%s: expected a %d-d weight (out_channels, in_channels / groups, kernel...), but got "
             "weight of size %s", c->op, sd + 2, bw);
    return false;
  }
  if (w->shape[0] < (size_t)c->groups) {
    tg_error("%s: Given groups=%lld, expected weight to be at least %lld at dimension 0, but got "
             "weight of size %s instead", c->op, (long long)c->groups, (long long)c->groups, bw);
    return false;
  }
  if (w->shape[0] % (size_t)c->groups) {
    tg_error("%s: Given groups=%lld, expected weight to be divisible by %lld at dimension 0, but "
             "got weight of size %s instead", c->op, (long long)c->groups, (long long)c->groups, bw);
    return false;
  }
  int cd = x->ndim - sd - 1; /* the channel dim */
  size_t want_c = c->transposed ? w->shape[0] : w->shape[1] * (size_t)c->groups;
  if (x->shape[cd] != want_c) {
    tg_error("%s: Given %s=%lld, weight of size %s, expected input%s to have %zu channels, but "
             "got %zu channels instead", c->op, c->transposed ? "transposed" : "groups",
             c->transposed ? 1LL : (long long)c->groups, bw, bx, want_c, x->shape[cd]);
    return false;
  }
  size_t out_c = c->transposed ? w->shape[1] * (size_t)c->groups : w->shape[0];
  if (b && (b->ndim != 1 || b->shape[0] != out_c)) {
    tg_error("%s: Given %sweight of size %s, expected bias to be 1-dimensional with %zu elements, "
             "but got bias of size %s instead", c->op, c->transposed ? "transposed=1, " : "", bw,
             out_c, tg_shape_str(b, bb, sizeof bb));
    return false;
  }
  int64_t k[2], in[2], padded[2], dk[2];
  bool kernel_zero = false, too_big = false, too_big_geom = false;
  for (int i = 0; i < sd; i++) {
    k[i] = (int64_t)w->shape[2 + i];
    in[i] = (int64_t)x->shape[cd + 1 + i];
    kernel_zero |= k[i] == 0;
    too_big_geom |= k[i] >= (1LL << 31);
    dk[i] = c->dilation[i] * (k[i] - 1) + 1;
    padded[i] = in[i] + 2 * c->pad[i];
    if (c->same) padded[i] = in[i] + c->dilation[i] * (k[i] - 1);
    too_big |= padded[i] < dk[i];
  }
  if (c->transposed && w->numel == 0) {
    tg_error("%s: non-empty %dD or %dD weight tensor expected, but got: %s", c->op, 2, sd + 2, bw);
    return false;
  }
  if (kernel_zero || too_big_geom) {
    tg_error("%s: kernel size should be greater than zero (and below 2^31), but got weight of size %s",
             c->op, bw);
    return false;
  }
  if (!c->transposed) {
    if (too_big) {
      tg_error("%s: Calculated padded input size per channel: %s. Kernel size: %s. Kernel size "
               "can't be greater than actual input size", c->op, dims_str(sd, padded, b1, sizeof b1),
               dims_str(sd, dk, b2, sizeof b2));
      return false;
    }
    return true;
  }
  int64_t out[2];
  bool small = false;
  for (int i = 0; i < sd; i++) {
    if (c->out_pad[i] >= c->stride[i] && c->out_pad[i] >= c->dilation[i]) {
      tg_error("%s: output padding must be smaller than either stride or dilation, but got "
               "output_padding %lld, stride %lld, dilation %lld in spatial dim %d", c->op,
               (long long)c->out_pad[i], (long long)c->stride[i], (long long)c->dilation[i], i);
      return false;
    }
    out[i] = (in[i] - 1) * c->stride[i] - 2 * c->pad[i] + dk[i] + c->out_pad[i];
    small |= out[i] < 1;
  }
  if (x->shape[cd + 1] == 0 || (sd == 2 && x->shape[cd + 2] == 0)) {
    if (cd == 0 || x->shape[0] != 0) { /* unbatched: a batch of one */
      tg_error("%s: Only zero batch or zero channel inputs are supported, but got input shape: %s",
               c->op, bx);
      return false;
    }
  } else if (small) {
    tg_error("%s: Given input size per channel: %s. Calculated output size per channel: %s. "
             "Output size is too small", c->op, dims_str(sd, in, b1, sizeof b1),
             dims_str(sd, out, b2, sizeof b2));
    return false;
  }
  return true;
}

static tg_tensor *reshape(tg_tensor *t, int nd, const size_t *shape) { return t ? tg_reshape(t, nd, shape) : NULL; }

/* y + bias along the channel dim 1 of a 4-d y */
static tg_tensor *add_bias(tg_tensor *y, tg_tensor *b) {
  if (!b || !y) return y;
  return tg_add(y, tg_reshape(b, 3, (const size_t[]){b->shape[0], 1, 1}));
}

/* 4-d x (N, Cin, H, W), w (Cin, Cout / G, kH, kW): col2im of each group's
 * transposed weight times its input channels */
static tg_tensor *conv_transpose_forward(tg_tensor *x, tg_tensor *w, tg_tensor *b, const ops_conv_geom *g,
                                         size_t G, const int64_t *out_pad) {
  size_t N = x->shape[0], cin = x->shape[1], kk = w->shape[2] * w->shape[3];
  size_t K = w->shape[1] * kk, hw = x->shape[2] * x->shape[3], cout = w->shape[1] * G;
  int64_t out[2], full[2];
  bool direct = true;
  for (int i = 0; i < 2; i++) {
    full[i] = ((int64_t)x->shape[2 + i] - 1) * g->s[i] + g->d[i] * (g->k[i] - 1) + 1;
    out[i] = full[i] - 2 * g->p[i] + out_pad[i];
    direct &= ops_conv_blocks(g, i, out[i]) == (int64_t)x->shape[2 + i];
  }
  if (direct) return ops_conv_transpose2d_gemm(x, w, b, g, G, out[0], out[1]);
  /* with output_padding >= stride (allowed below the dilation) col2im's
   * block count would not match: col2im unpadded, then crop and zero-pad */
  tg_tensor *cols;
  if (G == 1) {
    cols = tg_matmul(tg_t(reshape(w, 2, (const size_t[]){cin, K})), reshape(x, 3, (const size_t[]){N, cin, hw}));
  } else {
    tg_tensor *wt = reshape(w, 3, (const size_t[]){G, cin / G, K});
    cols = tg_matmul(wt ? tg_transpose(wt, 1, 2) : NULL, reshape(x, 4, (const size_t[]){N, G, cin / G, hw}));
    cols = reshape(cols, 3, (const size_t[]){N, cout * kk, hw});
  }
  if (!cols) return NULL;
  ops_conv_geom g0 = *g;
  g0.p[0] = g0.p[1] = 0;
  tg_tensor *y = ops_fold3(cols, full[0], full[1], &g0);
  const long pads[4] = {(long)-g->p[1], (long)(out_pad[1] - g->p[1]), (long)-g->p[0],
                        (long)(out_pad[0] - g->p[0])};
  return add_bias(y ? tg_pad(y, 4, pads, TG_PAD_CONSTANT, 0.0) : NULL, b);
}

static tg_tensor *to_dtype(tg_tensor *t, tg_dtype dt) { return t ? tg_to_dtype(t, dt) : NULL; }

static tg_tensor *conv_run(const conv_spec *c0, tg_tensor *x, tg_tensor *w, tg_tensor *b) {
  conv_spec c = *c0;
  const tg_tensor *b0 = b;
  const char *op = c.op;
  if (!tg_tensor_ok(x, op, 1) || !tg_tensor_ok(w, op, 2) || (b && !tg_tensor_ok(b, op, 3))) return NULL;
  int sd = c.sd;
  if (x->ndim != sd + 1 && x->ndim != sd + 2) {
    char bx[96];
    tg_error("%s: Expected %dD (unbatched) or %dD (batched) input to %s, but got input of size: %s",
             op, sd + 1, sd + 2, op, tg_shape_str(x, bx, sizeof bx));
    return NULL;
  }
  if (!check_dtypes(&c, x, w, b) || !check_params(&c) || !check_shapes(&c, x, w, b)) return NULL;
  /* "same": torch pads d (k - 1) in all, the odd one on the right */
  int64_t extra[2] = {0, 0};
  for (int i = 0; c.same && i < sd; i++) {
    int64_t total = c.dilation[i] * ((int64_t)w->shape[2 + i] - 1);
    c.pad[i] = total / 2;
    extra[i] = total - 2 * c.pad[i];
  }
  /* integers: exact in float64 below 2^53, as torch's integer convolution */
  bool ints = x->dtype == TG_INT64;
  if (ints) {
    x = to_dtype(x, TG_FLOAT64);
    w = to_dtype(w, TG_FLOAT64);
    b = b ? to_dtype(b, TG_FLOAT64) : NULL;
  }
  bool nobatch = x && x->ndim == sd + 1;
  if (nobatch) x = tg_unsqueeze(x, 0);
  if (x && (extra[0] || extra[1])) {
    const long pads[4] = {0, (long)extra[sd - 1], 0, sd == 2 ? (long)extra[0] : 0};
    x = tg_pad(x, 2 * sd, pads, TG_PAD_CONSTANT, 0.0);
  }
  ops_conv_geom g = {{1, 1}, {1, 1}, {0, 0}, {1, 1}};
  int64_t out_pad[2] = {0, 0};
  for (int i = 0; i < sd; i++) {
    int j = i + 2 - sd; /* 1-d: the width of a 1-high image */
    g.k[j] = (int64_t)w->shape[2 + i];
    g.d[j] = c.dilation[i];
    g.p[j] = c.pad[i];
    g.s[j] = c.stride[i];
    out_pad[j] = c.out_pad[i];
  }
  if (sd == 1) {
    x = x ? tg_unsqueeze(x, 2) : NULL;
    w = w ? tg_unsqueeze(w, 2) : NULL;
  }
  if (!x || !w || (b0 && !b)) return NULL;
  tg_tensor *y = c.transposed ? conv_transpose_forward(x, w, b, &g, (size_t)c.groups, out_pad)
                              : ops_conv2d_gemm(x, w, b, &g, (size_t)c.groups);
  if (y && sd == 1) y = tg_squeeze(y, 2);
  if (y && nobatch) y = tg_squeeze(y, 0);
  return ints ? to_dtype(y, TG_INT64) : y;
}

/* NULL arrays: torch's defaults */
static void fill(int64_t *dst, const int64_t *src, int n, int64_t def) {
  for (int i = 0; i < n; i++) dst[i] = src ? src[i] : def;
}

static conv_spec spec2(const char *op, bool transposed, const int64_t *stride, const int64_t *padding,
                       const int64_t *dilation, const int64_t *out_pad, int64_t groups) {
  conv_spec c = {.op = op, .sd = 2, .transposed = transposed, .groups = groups};
  fill(c.stride, stride, 2, 1);
  fill(c.pad, padding, 2, 0);
  fill(c.dilation, dilation, 2, 1);
  fill(c.out_pad, out_pad, 2, 0);
  return c;
}

static conv_spec spec1(const char *op, bool transposed, int64_t stride, int64_t padding, int64_t dilation,
                       int64_t out_pad, int64_t groups) {
  return (conv_spec){.op = op, .sd = 1, .transposed = transposed, .groups = groups, .stride = {stride},
                     .pad = {padding}, .dilation = {dilation}, .out_pad = {out_pad}};
}

/* "same" or "valid" (NULL: "valid") into c; false with torch's error */
static bool padding_mode(conv_spec *c, const char *padding) {
  if (!padding || !strcmp(padding, "valid")) return true;
  if (!strcmp(padding, "same")) {
    c->same = true;
    return true;
  }
  tg_error("%s: Invalid padding string: '%s'", c->op, padding);
  return false;
}

tg_tensor *tg_conv2d(tg_tensor *x, tg_tensor *w, tg_tensor *bias, const int64_t stride[2],
                     const int64_t padding[2], const int64_t dilation[2], int64_t groups) {
  conv_spec c = spec2("conv2d", false, stride, padding, dilation, NULL, groups);
  return conv_run(&c, x, w, bias);
}

tg_tensor *tg_conv2d_padding(tg_tensor *x, tg_tensor *w, tg_tensor *bias, const int64_t stride[2],
                             const char *padding, const int64_t dilation[2], int64_t groups) {
  conv_spec c = spec2("conv2d", false, stride, NULL, dilation, NULL, groups);
  return padding_mode(&c, padding) ? conv_run(&c, x, w, bias) : NULL;
}

tg_tensor *tg_conv1d(tg_tensor *x, tg_tensor *w, tg_tensor *bias, int64_t stride, int64_t padding,
                     int64_t dilation, int64_t groups) {
  conv_spec c = spec1("conv1d", false, stride, padding, dilation, 0, groups);
  return conv_run(&c, x, w, bias);
}

tg_tensor *tg_conv1d_padding(tg_tensor *x, tg_tensor *w, tg_tensor *bias, int64_t stride,
                             const char *padding, int64_t dilation, int64_t groups) {
  conv_spec c = spec1("conv1d", false, stride, 0, dilation, 0, groups);
  return padding_mode(&c, padding) ? conv_run(&c, x, w, bias) : NULL;
}

tg_tensor *tg_conv_transpose2d(tg_tensor *x, tg_tensor *w, tg_tensor *bias, const int64_t stride[2],
                               const int64_t padding[2], const int64_t output_padding[2], int64_t groups,
                               const int64_t dilation[2]) {
  conv_spec c = spec2("conv_transpose2d", true, stride, padding, dilation, output_padding, groups);
  return conv_run(&c, x, w, bias);
}

tg_tensor *tg_conv_transpose1d(tg_tensor *x, tg_tensor *w, tg_tensor *bias, int64_t stride, int64_t padding,
                               int64_t output_padding, int64_t groups, int64_t dilation) {
  conv_spec c = spec1("conv_transpose1d", true, stride, padding, dilation, output_padding, groups);
  return conv_run(&c, x, w, bias);
}
