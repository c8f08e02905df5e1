/* tg_unfold / tg_fold as torch.nn.functional.unfold/fold (im2col and
 * col2im). The two are linear and each other's adjoint, so each one's
 * backward is the other and the double backward comes with them. The
 * convolutions (ops/conv.c) are built on them. */
#include <string.h>

#include "conv_internal.h"

/* Column row r = (c kH + i) kW + j, column l = oh Wo + ow holds
 * x[n, c, oh s0 - p0 + i d0, ow s1 - p1 + j d1] (0 outside x). im2col
 * writes the columns contiguously from a strided x; col2im adds strided
 * columns into a contiguous, zeroed x. Per kernel column j the output
 * columns [lo, hi) that land inside x are found once, so the inner loop has
 * no bounds test (a plain copy for stride 1 over a contiguous row). */
static void inside(int64_t iw0, int64_t s, int64_t w, size_t wo, size_t *lo, size_t *hi) {
  int64_t l = iw0 < 0 ? (-iw0 + s - 1) / s : 0, h = iw0 >= w ? 0 : (w - 1 - iw0) / s + 1;
  if (h > (int64_t)wo) h = (int64_t)wo;
  if (l > h) l = h;
  *lo = (size_t)l;
  *hi = (size_t)h;
}

#define IM2COL(T)                                                              \
  void ops_im2col_##T(T *x, const ptrdiff_t *xs, T *col, const size_t *xshape, \
                      const ops_conv_geom *g, size_t ho, size_t wo, bool add) { \
    size_t nb = xshape[0], nc = xshape[1];                                     \
    int64_t h = (int64_t)xshape[2], w = (int64_t)xshape[3], s1 = g->s[1];      \
    size_t L = ho * wo;                                                        \
    ptrdiff_t sw = xs[3];                                                      \
    bool copy = s1 == 1 && sw == 1;                                            \
    T *restrict cp = col;                                                      \
    for (size_t n = 0; n < nb; n++)                                            \
      for (size_t c = 0; c < nc; c++) {                                        \
        T *xc = x + (ptrdiff_t)n * xs[0] + (ptrdiff_t)c * xs[1];               \
        for (int64_t i = 0; i < g->k[0]; i++)                                  \
          for (int64_t j = 0; j < g->k[1]; j++, cp += L) {                     \
            int64_t iw0 = j * g->d[1] - g->p[1];                               \
            size_t lo, hi;                                                     \
            inside(iw0, s1, w, wo, &lo, &hi);                                  \
            for (size_t oh = 0; oh < ho; oh++) {                               \
              int64_t ih = (int64_t)oh * g->s[0] - g->p[0] + i * g->d[0];      \
              T *restrict row = cp + oh * wo;                                  \
              if (ih < 0 || ih >= h) {                                         \
                if (!add) memset(row, 0, wo * sizeof(T));                      \
                continue;                                                      \
              }                                                                \
              T *restrict xr = xc + (ptrdiff_t)ih * xs[2] + (ptrdiff_t)iw0 * sw; \
              if (add) {                                                       \
                if (copy)                                                      \
                  for (size_t ow = lo; ow < hi; ow++) xr[ow] += row[ow];       \
                else                                                           \
                  for (size_t ow = lo; ow < hi; ow++) xr[(ptrdiff_t)ow * s1 * sw] += row[ow]; \
                continue;                                                      \
              }                                                                \
              /* a whole row inside x: 8-element copies, the last one overlapping \
               * (no scalar tail; rows of 10 to 28 are LeNet's) */            \
              if (copy && lo == 0 && hi == wo && wo >= 8) {                    \
                size_t ow = 0;                                                 \
                for (; ow + 8 <= wo; ow += 8) memcpy(row + ow, xr + ow, 8 * sizeof(T)); \
                if (ow < wo) memcpy(row + wo - 8, xr + wo - 8, 8 * sizeof(T)); \
                continue;                                                      \
              }                                                                \
              /* rows are short (a few to tens of elements): loops, not calls */ \
              for (size_t ow = 0; ow < lo; ow++) row[ow] = 0;                  \
              if (copy)                                                        \
                for (size_t ow = lo; ow < hi; ow++) row[ow] = xr[ow];          \
              else                                                             \
                for (size_t ow = lo; ow < hi; ow++) row[ow] = xr[(ptrdiff_t)ow * s1 * sw]; \
              for (size_t ow = hi; ow < wo; ow++) row[ow] = 0;                 \
            }                                                                  \
          }                                                                    \
      }                                                                        \
  }
IM2COL(float)
IM2COL(double)

/* the geometry travels in the node: kernel, dilation, padding as int32
 * pairs in the three int64 slots, strides in the two double slots (all
 * below 2^31, checked by the callers) */
static void geom_store(tg_node *n, const ops_conv_geom *g) {
  int64_t *iv = tg_node_i(n);
  double *fv = tg_node_f(n);
  const int64_t *pairs[3] = {g->k, g->d, g->p};
  for (int k = 0; k < 3; k++) iv[k] = pairs[k][0] | (pairs[k][1] << 32);
  fv[0] = (double)g->s[0];
  fv[1] = (double)g->s[1];
}
static ops_conv_geom geom_load(const tg_node *n) {
  const int64_t *iv = tg_node_i(n);
  const double *fv = tg_node_f(n);
  ops_conv_geom g;
  int64_t *pairs[3] = {g.k, g.d, g.p};
  for (int k = 0; k < 3; k++) {
    pairs[k][0] = iv[k] & 0xffffffff;
    pairs[k][1] = iv[k] >> 32;
  }
  g.s[0] = (int64_t)fv[0];
  g.s[1] = (int64_t)fv[1];
  return g;
}

static void unfold_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  ops_conv_geom geo = geom_load(n);
  const tg_tensor *x = n->in[0];
  gi[0] = ops_fold3(g, (int64_t)x->shape[2], (int64_t)x->shape[3], &geo);
}
/* unfold and fold are linear: applied to the tangent */
static tg_tensor *unfold_jvp(tg_node *n, tg_tensor *const *t) {
  ops_conv_geom geo = geom_load(n);
  return ops_unfold4(t[0], &geo);
}
TG_DEFINE_OP_JVP(OP_UNFOLD, "Im2ColBackward", unfold_backward, unfold_jvp, TG_NODE_F | TG_NODE_I);

static void fold_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  ops_conv_geom geo = geom_load(n);
  gi[0] = ops_unfold4(g, &geo);
}
static tg_tensor *fold_jvp(tg_node *n, tg_tensor *const *t) {
  ops_conv_geom geo = geom_load(n);
  return ops_fold3(t[0], (int64_t)n->out->shape[2], (int64_t)n->out->shape[3], &geo);
}
TG_DEFINE_OP_JVP(OP_FOLD, "Col2ImBackward", fold_backward, fold_jvp, TG_NODE_F | TG_NODE_I);

tg_tensor *ops_unfold4(tg_tensor *x, const ops_conv_geom *g) {
  size_t ho = (size_t)ops_conv_blocks(g, 0, (int64_t)x->shape[2]);
  size_t wo = (size_t)ops_conv_blocks(g, 1, (int64_t)x->shape[3]);
  size_t shape[3] = {x->shape[0], 0, 0}, total;
  if (__builtin_mul_overflow(x->shape[1], (size_t)g->k[0], &shape[1]) ||
      __builtin_mul_overflow(shape[1], (size_t)g->k[1], &shape[1]) ||
      __builtin_mul_overflow(ho, wo, &shape[2]) || __builtin_mul_overflow(shape[1], shape[2], &total) ||
      __builtin_mul_overflow(total, shape[0], &total)) {
    tg_error("unfold: the columns (%zu channels, kernel %lld x %lld, %zu x %zu blocks) are too large",
             x->shape[1], (long long)g->k[0], (long long)g->k[1], ho, wo);
    return NULL;
  }
  tg_tensor *out = tg_tensor_alloc(x->dtype, 3, shape);
  if (!out) return NULL;
  if (out->numel) {
    if (x->dtype == TG_FLOAT32)
      ops_im2col_float((float *)tg_ptr(x), x->strides, (float *)tg_ptr(out), x->shape, g, ho, wo, false);
    else
      ops_im2col_double((double *)tg_ptr(x), x->strides, (double *)tg_ptr(out), x->shape, g, ho, wo,
                    false);
  }
  tg_node *n = ops_record(out, &OP_UNFOLD, 1, &x);
  if (n) geom_store(n, g);
  return out;
}

tg_tensor *ops_fold3(tg_tensor *x, int64_t out_h, int64_t out_w, const ops_conv_geom *g) {
  size_t kk = (size_t)(g->k[0] * g->k[1]);
  size_t shape[4] = {x->shape[0], x->shape[1] / kk, (size_t)out_h, (size_t)out_w};
  size_t ho = (size_t)ops_conv_blocks(g, 0, out_h), wo = (size_t)ops_conv_blocks(g, 1, out_w);
  tg_tensor *cols = x;
  /* col2im walks the columns in order: make them contiguous (no history) */
  if (!tg_contiguous_(x)) {
    bool prev = tg_set_grad_enabled(false);
    cols = tg_contiguous(x);
    tg_set_grad_enabled(prev);
  }
  tg_tensor *out = cols ? tg_zeros(x->dtype, 4, shape) : NULL;
  if (!out) return NULL;
  if (x->numel) {
    if (x->dtype == TG_FLOAT32)
      ops_im2col_float((float *)tg_ptr(out), out->strides, (float *)tg_ptr(cols), shape, g, ho, wo, true);
    else
      ops_im2col_double((double *)tg_ptr(out), out->strides, (double *)tg_ptr(cols), shape, g, ho, wo,
                    true);
  }
  tg_node *n = ops_record(out, &OP_FOLD, 1, &x);
  if (n) geom_store(n, g);
  return out;
}

/* ---- the public ops: torch's argument checks */

#define GEOM_MAX ((int64_t)1 << 31)

static bool pair_ok(const char *op, const int64_t *v, const char *what, int64_t lo) {
  if (v[0] < lo || v[1] < lo) {
    tg_error("%s: %s should be %s, but got %s_height: %lld %s_width: %lld", op, what,
             lo ? "greater than zero" : "non-negative", what, (long long)v[0], what, (long long)v[1]);
    return false;
  }
  if (v[0] >= GEOM_MAX || v[1] >= GEOM_MAX) {
    tg_error("%s: %s (%lld, %lld) is too large (at most 2^31 - 1)", op, what, (long long)v[0],
             (long long)v[1]);
    return false;
  }
  return true;
}

/* the geometry from the arguments (NULL: torch's default: dilation 1,
 * padding 0, stride 1), checked as torch */
static bool geom_from(const char *op, ops_conv_geom *g, const int64_t *kernel, const int64_t *dilation,
                      const int64_t *padding, const int64_t *stride) {
  if (!kernel) {
    tg_error("%s: kernel_size is NULL", op);
    return false;
  }
  static const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
  memcpy(g->k, kernel, sizeof g->k);
  memcpy(g->d, dilation ? dilation : one, sizeof g->d);
  memcpy(g->p, padding ? padding : zero, sizeof g->p);
  memcpy(g->s, stride ? stride : one, sizeof g->s);
  return pair_ok(op, g->k, "kernel", 1) && pair_ok(op, g->s, "stride", 1) &&
         pair_ok(op, g->p, "pad", 0) && pair_ok(op, g->d, "dilation", 1);
}

static void geom_str(const ops_conv_geom *g, char *buf, size_t len) {
  snprintf(buf, len, "kernel_size=(%lld, %lld), dilation=(%lld, %lld), padding=(%lld, %lld), "
           "stride=(%lld, %lld)", (long long)g->k[0], (long long)g->k[1], (long long)g->d[0],
           (long long)g->d[1], (long long)g->p[0], (long long)g->p[1], (long long)g->s[0],
           (long long)g->s[1]);
}

/* a 3-d (unbatched) or 4-d x, from n_unbatched dims without the batch dim */
static bool batch_dims_ok(const char *op, const tg_tensor *x, int n_unbatched) {
  bool ok = x->ndim == n_unbatched || x->ndim == n_unbatched + 1;
  for (int d = x->ndim == n_unbatched ? 0 : 1; ok && d < x->ndim; d++) ok = x->shape[d] > 0;
  if (!ok) {
    char b[96];
    tg_error("%s: Expected %dD or %dD (batch mode) tensor with possibly 0 batch size and other "
             "non-zero dimensions for input, but got: %s", op, n_unbatched, n_unbatched + 1,
             tg_shape_str(x, b, sizeof b));
  }
  return ok;
}

/* unbatched input: a batch of one, dropped again after (views, differentiable) */
static tg_tensor *unbatched(tg_tensor *y, bool was) { return was ? tg_squeeze(y, 0) : y; }

tg_tensor *tg_unfold(tg_tensor *x, const int64_t kernel[2], const int64_t dilation[2],
                     const int64_t padding[2], const int64_t stride[2]) {
  ops_conv_geom g;
  if (!ops_check_float("unfold", x, 1) || !batch_dims_ok("unfold", x, 3) ||
      !geom_from("unfold", &g, kernel, dilation, padding, stride))
    return NULL;
  bool nobatch = x->ndim == 3;
  int64_t h = (int64_t)x->shape[x->ndim - 2], w = (int64_t)x->shape[x->ndim - 1];
  int64_t ho = ops_conv_blocks(&g, 0, h), wo = ops_conv_blocks(&g, 1, w);
  if (ho < 1 || wo < 1) {
    char b[192];
    geom_str(&g, b, sizeof b);
    tg_error("unfold: Given input with spatial size (%lld, %lld), %s, calculated shape of the "
             "array of sliding blocks as (%lld, %lld), but its components must be at least one.",
             (long long)h, (long long)w, b, (long long)ho, (long long)wo);
    return NULL;
  }
  return unbatched(ops_unfold4(nobatch ? tg_unsqueeze(x, 0) : x, &g), nobatch);
}

tg_tensor *tg_fold(tg_tensor *x, const int64_t output_size[2], const int64_t kernel[2],
                   const int64_t dilation[2], const int64_t padding[2], const int64_t stride[2]) {
  ops_conv_geom g;
  if (!ops_check_float("fold", x, 1) || !batch_dims_ok("fold", x, 2) ||
      !geom_from("fold", &g, kernel, dilation, padding, stride))
    return NULL;
  if (!output_size) {
    tg_error("fold: output_size is NULL");
    return NULL;
  }
  if (!pair_ok("fold", output_size, "output_size", 1)) return NULL;
  bool nobatch = x->ndim == 2;
  size_t rows = x->shape[x->ndim - 2], L = x->shape[x->ndim - 1];
  size_t kk = (size_t)(g.k[0] * g.k[1]);
  if (rows % kk) {
    tg_error("fold: Expected size of input's dimension %d to be divisible by the product of "
             "kernel_size, but got input.size(%d)=%zu and kernel_size=(%lld, %lld).",
             x->ndim - 2, x->ndim - 2, rows, (long long)g.k[0], (long long)g.k[1]);
    return NULL;
  }
  int64_t ho = ops_conv_blocks(&g, 0, output_size[0]), wo = ops_conv_blocks(&g, 1, output_size[1]);
  if (ho < 1 || wo < 1 || (size_t)(ho * wo) != L) {
    char b[192];
    geom_str(&g, b, sizeof b);
    tg_error("fold: Given output_size=(%lld, %lld), %s, expected size of input's dimension %d to "
             "match the calculated number of sliding blocks %lld * %lld = %lld, but got "
             "input.size(%d)=%zu.", (long long)output_size[0], (long long)output_size[1], b,
             x->ndim - 1, (long long)ho, (long long)wo, (long long)(ho * wo), x->ndim - 1, L);
    return NULL;
  }
  return unbatched(ops_fold3(nobatch ? tg_unsqueeze(x, 0) : x, output_size[0], output_size[1], &g),
                   nobatch);
}
