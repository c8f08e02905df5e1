/* Conv1d, Conv2d and ConvTranspose2d as torch.nn's: parameters "weight"
 * (out, in / groups, k...) or, transposed, (in, out / groups, k...), and
 * "bias" (out); PyTorch's reset_parameters: kaiming_uniform(a = sqrt 5) on
 * the weight, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from
 * the same bound, fan_in taken from the weight as torch does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* the hyper-parameters a forward reads (the module's ctx) */
typedef struct conv_cfg {
  int sd;
  bool transposed;
  int64_t stride[2], padding[2], dilation[2], out_pad[2], groups;
  const char *pad_mode; /* "same" or "valid" (tg_nn_conv*d_padding), else NULL */
} conv_cfg;

static tg_tensor *conv_module_forward(tg_module *m, tg_tensor *x) {
  const conv_cfg *c = m->ctx;
  tg_tensor *w = m->params[0].tensor, *b = m->n_params > 1 ? m->params[1].tensor : NULL;
  if (c->pad_mode)
    return c->sd == 1 ? tg_conv1d_padding(x, w, b, c->stride[0], c->pad_mode, c->dilation[0], c->groups)
                      : tg_conv2d_padding(x, w, b, c->stride, c->pad_mode, c->dilation, c->groups);
  if (c->sd == 1)
    return c->transposed ? tg_conv_transpose1d(x, w, b, c->stride[0], c->padding[0], c->out_pad[0],
                                               c->groups, c->dilation[0])
                         : tg_conv1d(x, w, b, c->stride[0], c->padding[0], c->dilation[0], c->groups);
  return c->transposed ? tg_conv_transpose2d(x, w, b, c->stride, c->padding, c->out_pad, c->groups, c->dilation)
                       : tg_conv2d(x, w, b, c->stride, c->padding, c->dilation, c->groups);
}

static bool conv_init(tg_tensor *w, tg_tensor *b, tg_rng *rng) {
  size_t fan_in = 0, fan_out = 0;
  if (!tg_init_kaiming_uniform_(w, rng, sqrt(5.0), TG_FAN_IN, TG_NL_LEAKY_RELU) ||
      tg_init_fans(w, &fan_in, &fan_out) != 0)
    return false;
  double bound = fan_in ? 1.0 / sqrt((double)fan_in) : 0.0;
  return !b || tg_init_uniform_(b, rng, -bound, bound);
}

/* NULL arrays: torch's defaults; a 1-d call passes one-entry arrays */
static void fill(int64_t *dst, const int64_t *src, int n, int64_t def) {
  for (int i = 0; i < n; i++) dst[i] = src ? src[i] : def;
}

static tg_module *conv_module(const char *type, const char *fn, conv_cfg cfg, size_t in, size_t out,
                              const int64_t *kernel, bool bias, tg_rng *rng) {
  if (!kernel) {
    tg_error("%s: kernel_size is NULL", fn);
    return NULL;
  }
  if (cfg.groups <= 0) {
    tg_error("%s: groups must be a positive integer", fn);
    return NULL;
  }
  if (in % (size_t)cfg.groups || out % (size_t)cfg.groups) {
    tg_error("%s: %s must be divisible by groups", fn, in % (size_t)cfg.groups ? "in_channels" : "out_channels");
    return NULL;
  }
  if (cfg.pad_mode && strcmp(cfg.pad_mode, "same") != 0 && strcmp(cfg.pad_mode, "valid") != 0) {
    tg_error("%s: Invalid padding string '%s', should be one of {'valid', 'same'}", fn, cfg.pad_mode);
    return NULL;
  }
  for (int i = 0; cfg.pad_mode && cfg.pad_mode[0] == 's' && i < cfg.sd; i++)
    if (cfg.stride[i] != 1) {
      tg_error("%s: padding='same' is not supported for strided convolutions", fn);
      return NULL;
    }
  size_t shape[4] = {cfg.transposed ? in : out, (cfg.transposed ? out : in) / (size_t)cfg.groups};
  for (int i = 0; i < cfg.sd; i++) {
    if (kernel[i] <= 0) {
      tg_error("%s: kernel_size must be positive, got %lld", fn, (long long)kernel[i]);
      return NULL;
    }
    shape[2 + i] = (size_t)kernel[i];
  }
  conv_cfg *c = malloc(sizeof *c);
  tg_module *m = c ? tg_module_new(type, conv_module_forward) : NULL;
  if (!m) {
    free(c);
    tg_error("%s: out of memory", fn);
    return NULL;
  }
  /* the mode as a literal of ours (the caller's string may not live on);
   * the repr shows "same"'s symmetric part d (k - 1) / 2 as the padding */
  if (cfg.pad_mode) {
    bool same = cfg.pad_mode[0] == 's';
    cfg.pad_mode = same ? "same" : "valid";
    for (int i = 0; i < cfg.sd; i++) cfg.padding[i] = same ? cfg.dilation[i] * (kernel[i] - 1) / 2 : 0;
  }
  *c = cfg;
  m->ctx = c;
  m->ctx_free = free;
  tg_tensor *w = tg_module_add_parameter(m, "weight", TG_FLOAT32, cfg.sd + 2, shape);
  tg_tensor *b = w && bias ? tg_module_add_parameter(m, "bias", TG_FLOAT32, 1, (const size_t[]){out}) : NULL;
  if (!w || (bias && !b) || !conv_init(w, b, rng)) {
    tg_module_free(m);
    return NULL;
  }
  return nn_conv_repr(m, in, out, cfg.sd, kernel, cfg.stride, cfg.padding, cfg.dilation, cfg.out_pad,
                      cfg.groups, bias);
}

tg_module *tg_nn_conv1d(size_t in_channels, size_t out_channels, int64_t kernel_size, int64_t stride,
                        int64_t padding, int64_t dilation, int64_t groups, bool bias, tg_rng *rng) {
  conv_cfg c = {.sd = 1, .stride = {stride}, .padding = {padding}, .dilation = {dilation}, .groups = groups};
  return conv_module("Conv1d", "nn_conv1d", c, in_channels, out_channels, &kernel_size, bias, rng);
}

tg_module *tg_nn_conv2d(size_t in_channels, size_t out_channels, const int64_t kernel_size[2],
                        const int64_t stride[2], const int64_t padding[2], const int64_t dilation[2],
                        int64_t groups, bool bias, tg_rng *rng) {
  conv_cfg c = {.sd = 2, .groups = groups};
  fill(c.stride, stride, 2, 1);
  fill(c.padding, padding, 2, 0);
  fill(c.dilation, dilation, 2, 1);
  return conv_module("Conv2d", "nn_conv2d", c, in_channels, out_channels, kernel_size, bias, rng);
}

tg_module *tg_nn_conv1d_padding(size_t in_channels, size_t out_channels, int64_t kernel_size, int64_t stride,
                                const char *padding, int64_t dilation, int64_t groups, bool bias, tg_rng *rng) {
  conv_cfg c = {.sd = 1, .stride = {stride}, .dilation = {dilation}, .groups = groups,
                .pad_mode = padding ? padding : "valid"};
  return conv_module("Conv1d", "nn_conv1d_padding", c, in_channels, out_channels, &kernel_size, bias, rng);
}

tg_module *tg_nn_conv2d_padding(size_t in_channels, size_t out_channels, const int64_t kernel_size[2],
                                const int64_t stride[2], const char *padding, const int64_t dilation[2],
                                int64_t groups, bool bias, tg_rng *rng) {
  conv_cfg c = {.sd = 2, .groups = groups, .pad_mode = padding ? padding : "valid"};
  fill(c.stride, stride, 2, 1);
  fill(c.dilation, dilation, 2, 1);
  return conv_module("Conv2d", "nn_conv2d_padding", c, in_channels, out_channels, kernel_size, bias, rng);
}

tg_module *tg_nn_conv_transpose2d(size_t in_channels, size_t out_channels, const int64_t kernel_size[2],
                                  const int64_t stride[2], const int64_t padding[2],
                                  const int64_t output_padding[2], int64_t groups, bool bias,
                                  const int64_t dilation[2], tg_rng *rng) {
  conv_cfg c = {.sd = 2, .transposed = true, .groups = groups};
  fill(c.stride, stride, 2, 1);
  fill(c.padding, padding, 2, 0);
  fill(c.dilation, dilation, 2, 1);
  fill(c.out_pad, output_padding, 2, 0);
  return conv_module("ConvTranspose2d", "nn_conv_transpose2d", c, in_channels, out_channels, kernel_size,
                     bias, rng);
}
