/* conv2d as one node: im2col per batch item into a pool block and one GEMM
 * per group (OpenBLAS), the batch split over tapegrad's workers for large
 * convolutions; the backward likewise without create_graph, and with it
 * written with differentiable ops (ops/conv.c's pieces). */
#include <cblas.h>
#include <string.h>

#include "conv_internal.h"

static tg_tensor *reshape(tg_tensor *t, int nd, const size_t *shape) { return t ? tg_reshape(t, nd, shape) : NULL; }

/* ---- conv2d's node. The forward fuses im2col and the products: per
 * batch item, the columns go into one pool block, reused item to item, and
 * one GEMM per group multiplies them by the weight; only when the weight's
 * gradient will be wanted are the columns of the whole batch kept (saved in
 * the node for the fused backward's dw). The backward with create_graph is
 * written with differentiable ops (the columns recomputed by unfold for the
 * weight's gradient), so the double backward comes with it. */

/* the node's parameters: dilation, padding as int32 pairs, groups; strides
 * in the double slots (the kernel is the weight's shape) */
static void conv_store(tg_node *n, const ops_conv_geom *g, int64_t groups) {
  int64_t *iv = tg_node_i(n);
  double *fv = tg_node_f(n);
  iv[0] = g->d[0] | (g->d[1] << 32);
  iv[1] = g->p[0] | (g->p[1] << 32);
  iv[2] = groups;
  fv[0] = (double)g->s[0];
  fv[1] = (double)g->s[1];
}
static ops_conv_geom conv_load(const tg_node *n, const tg_tensor *w) {
  const int64_t *iv = tg_node_i(n);
  const double *fv = tg_node_f(n);
  ops_conv_geom g = {{(int64_t)w->shape[2], (int64_t)w->shape[3]},
                     {iv[0] & 0xffffffff, iv[0] >> 32},
                     {iv[1] & 0xffffffff, iv[1] >> 32},
                     {(int64_t)fv[0], (int64_t)fv[1]}};
  return g;
}

/* The backward when nothing is recorded (no create_graph): per batch item,
 * dx's columns w_g^T g_g go into one pool block and are added back by
 * col2im, and dw accumulates g_g cols_g^T (GEMM with beta 1) from x's
 * columns rebuilt in the same block: no batch-sized temporaries. */
/* below this many flops a convolution runs on one thread (as matmul's split) */
#define CONV_SPLIT_MIN_FLOP 4e6

typedef struct conv_grads {
  const tg_tensor *x, *dx, *dw;
  const char *w, *g;
  const char *saved; /* the forward's columns of the whole batch, or NULL */
  char *scratch; /* per part: its columns, then (parts 1...) its own dw */
  const ops_conv_geom *geo;
  size_t G, O, K, L, ho, wo, cols_elems, dw_elems;
} conv_grads;

/* batch items [lo, hi): dx of each item, and their dw summed into dw */
#define CONV_GRADS(T, GEMM)                                                    \
  static void conv_grads_##T(const conv_grads *j, size_t lo, size_t hi, T *cols, T *dw) { \
    const tg_tensor *x = j->x;                                                 \
    size_t og = j->O / j->G, one[4] = {1, x->shape[1], x->shape[2], x->shape[3]}; \
    const T *w = (const T *)j->w;                                              \
    for (size_t n = lo; n < hi; n++) {                                         \
      const T *gn = (const T *)j->g + n * j->O * j->L;                         \
      if (j->dx) {                                                             \
        for (size_t g = 0; g < j->G; g++)                                      \
          GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)j->K, (int)j->L, (int)og, 1, \
               w + g * og * j->K, (int)j->K, gn + g * og * j->L, (int)j->L, 0, \
               cols + g * j->K * j->L, (int)j->L);                             \
        T *dxn = (T *)tg_ptr(j->dx) + n * one[1] * one[2] * one[3];            \
        ops_im2col_##T(dxn, j->dx->strides, cols, one, j->geo, j->ho, j->wo, true); \
      }                                                                        \
      if (dw) {                                                                \
        const T *c = j->saved ? (const T *)j->saved + n * j->cols_elems : cols; \
        T *xn = (T *)tg_ptr(x) + (ptrdiff_t)n * x->strides[0];                 \
        if (!j->saved) ops_im2col_##T(xn, x->strides, cols, one, j->geo, j->ho, j->wo, false); \
        for (size_t g = 0; g < j->G; g++)                                      \
          GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)og, (int)j->K, (int)j->L, 1, \
               gn + g * og * j->L, (int)j->L, c + g * j->K * j->L, (int)j->L, 1, \
               dw + g * og * j->K, (int)j->K);                                 \
      }                                                                        \
    }                                                                          \
  }
CONV_GRADS(float, cblas_sgemm)
CONV_GRADS(double, cblas_dgemm)

static void conv_grads_part(void *arg, int part, int n_parts) {
  const conv_grads *j = arg;
  size_t nb = j->x->shape[0], es = tg_elem_bytes(j->x->dtype);
  size_t lo = nb * (size_t)part / (size_t)n_parts, hi = nb * (size_t)(part + 1) / (size_t)n_parts;
  char *cols = j->scratch + (size_t)part * j->cols_elems * es;
  char *dw = !j->dw ? NULL
             : part == 0 ? tg_ptr(j->dw)
                         : j->scratch + ((size_t)n_parts * j->cols_elems + (size_t)(part - 1) * j->dw_elems) * es;
  if (j->x->dtype == TG_FLOAT32) conv_grads_float(j, lo, hi, (float *)cols, (float *)dw);
  else conv_grads_double(j, lo, hi, (double *)cols, (double *)dw);
}

/* dx of a stride-1 conv2d as the direct forward of g: a convolution of g,
 * padded by d (k - 1) - p, with the weight's taps flipped and its in and
 * out channels swapped, w'[c][o][i][j] = w[o][c][kH-1-i][kW-1-j]; NULL
 * where that does not apply (stride, padding past d (k - 1)) */
static tg_tensor *conv_dx_direct(const tg_tensor *x, const tg_tensor *w, tg_tensor *g, const ops_conv_geom *geo) {
  ops_conv_geom t = *geo;
  for (int i = 0; i < 2; i++) {
    if (geo->s[i] != 1 || geo->p[i] > geo->d[i] * (geo->k[i] - 1)) return NULL;
    t.p[i] = geo->d[i] * (geo->k[i] - 1) - geo->p[i];
  }
  size_t O = w->shape[0], C = w->shape[1], kh = w->shape[2], kw = w->shape[3];
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *gc = tg_contiguous(g), *wc = tg_contiguous((tg_tensor *)w);
  tg_set_grad_enabled(prev);
  tg_tensor *wt = gc && wc ? tg_empty(TG_FLOAT32, 4, (const size_t[]){C, O, kh, kw}) : NULL;
  tg_tensor *dx = wt ? tg_empty(TG_FLOAT32, 4, x->shape) : NULL;
  if (!dx) return NULL;
  const float *src = (const float *)tg_ptr(wc);
  float *dst = (float *)tg_ptr(wt);
  for (size_t o = 0; o < O; o++)
    for (size_t c = 0; c < C; c++)
      for (size_t i = 0; i < kh; i++)
        for (size_t j = 0; j < kw; j++)
          dst[((c * O + o) * kh + kh - 1 - i) * kw + kw - 1 - j] = src[((o * C + c) * kh + i) * kw + j];
  return ops_conv2d_direct(gc, wt, NULL, dx, &t, 1) ? dx : NULL;
}

static void conv_backward_fused(tg_node *n, tg_tensor *g, tg_tensor **gi, const ops_conv_geom *geo, size_t G) {
  tg_tensor *x = n->in[0], *w = n->in[1];
  bool need_x = tg_node_needs_grad(n, 0), need_w = tg_node_needs_grad(n, 1);
  if (!need_x && !need_w) return;
  if (need_x && G == 1 && x->dtype == TG_FLOAT32) { /* dx by the direct forward kernel */
    gi[0] = conv_dx_direct(x, w, g, geo);
    if (gi[0]) need_x = false;
    if (!need_x && !need_w) return;
  }
  if (need_w && G == 1) { /* the direct kernel, no columns; dx below alone */
    tg_tensor *gc = tg_contiguous(g);
    gi[1] = gc ? ops_conv2d_direct_dw(x, gc, w, geo) : NULL;
    if (gi[1]) need_w = false;
    if (!need_x && !need_w) return;
  }
  conv_grads j = {.x = x, .geo = geo, .G = G, .O = w->shape[0], .ho = g->shape[2], .wo = g->shape[3]};
  j.K = w->shape[1] * w->shape[2] * w->shape[3];
  j.L = j.ho * j.wo;
  j.cols_elems = G * j.K * j.L;
  j.dw_elems = need_w ? w->numel : 0;
  tg_tensor *gc = tg_contiguous(g), *wc = tg_contiguous(w);
  tg_tensor *dx = need_x ? tg_zeros(x->dtype, 4, x->shape) : NULL;
  tg_tensor *dw = need_w ? tg_zeros(w->dtype, 4, w->shape) : NULL;
  size_t N = x->shape[0], es = tg_elem_bytes(x->dtype);
  /* the forward's rule: split the batch once the products are large */
  int parts = 1, threads = ops_blas_threads();
  if (2.0 * (double)N * (double)j.O * (double)j.K * (double)j.L * (need_x + need_w) >= CONV_SPLIT_MIN_FLOP)
    parts = threads < (int)N ? threads : (int)N;
  if (parts < 1) parts = 1;
  size_t elems = (size_t)parts * j.cols_elems + (size_t)(parts - 1) * j.dw_elems;
  j.scratch = elems ? tg_pool_alloc(elems * es) : NULL;
  if (!gc || !wc || (need_x && !dx) || (need_w && !dw) || (elems && !j.scratch)) {
    tg_pool_free(j.scratch);
    return; /* the engine reports the missing gradient */
  }
  j.dx = dx, j.dw = dw, j.w = tg_ptr(wc), j.g = tg_ptr(gc);
  tg_tensor *saved = tg_node_saved(n);
  j.saved = saved && saved->numel == N * j.cols_elems ? tg_ptr(saved) : NULL;
  if (j.K && N) {
    char *acc = j.scratch + (size_t)parts * j.cols_elems * es;
    if (j.dw_elems) memset(acc, 0, (size_t)(parts - 1) * j.dw_elems * es);
    if (parts > 1) tg_parallel_run(parts, conv_grads_part, &j);
    else conv_grads_part(&j, 0, 1);
    for (int p = 1; dw && p < parts; p++) { /* the parts' dw into dw */
      const char *src = acc + (size_t)(p - 1) * j.dw_elems * es;
      for (size_t e = 0; e < j.dw_elems; e++) {
        if (x->dtype == TG_FLOAT32) ((float *)tg_ptr(dw))[e] += ((const float *)src)[e];
        else ((double *)tg_ptr(dw))[e] += ((const double *)src)[e];
      }
    }
  }
  tg_pool_free(j.scratch);
  if (dx) gi[0] = dx;
  if (dw) gi[1] = dw;
}

/* db[o] = the sum of g[n, o, :] over n: per row eight float partial sums
 * (a single running sum is a dependency chain the compiler may not
 * reorder; through tg_sum_dims it showed in a LeNet step's profile), rows summed in
 * double */
#define BIAS_GRAD(T)                                                           \
  static void bias_grad_##T(const T *g, size_t N, size_t O, size_t L, T *db) { \
    for (size_t o = 0; o < O; o++) {                                           \
      double s = 0;                                                            \
      for (size_t n = 0; n < N; n++) {                                         \
        const T *p = g + (n * O + o) * L;                                      \
        T a[8] = {0};                                                          \
        size_t i = 0;                                                          \
        for (; i + 8 <= L; i += 8)                                             \
          for (int k = 0; k < 8; k++) a[k] += p[i + k];                        \
        for (; i < L; i++) a[0] += p[i];                                       \
        s += (double)((a[0] + a[1]) + (a[2] + a[3])) + (double)((a[4] + a[5]) + (a[6] + a[7])); \
      }                                                                        \
      db[o] = (T)s;                                                            \
    }                                                                          \
  }
BIAS_GRAD(float)
BIAS_GRAD(double)

static tg_tensor *bias_grad(tg_tensor *g) {
  tg_tensor *gc = tg_contiguous(g), *db = gc ? tg_tensor_alloc(g->dtype, 1, &g->shape[1]) : NULL;
  if (!db) return NULL;
  size_t L = g->shape[2] * g->shape[3];
  if (g->dtype == TG_FLOAT32) /* the fused backward is float32 or float64 */
    bias_grad_float((const float *)tg_ptr(gc), g->shape[0], g->shape[1], L, (float *)tg_ptr(db));
  else
    bias_grad_double((const double *)tg_ptr(gc), g->shape[0], g->shape[1], L, (double *)tg_ptr(db));
  return db;
}

/* y = w * x: dx = col2im(w_g^T g_g), dw = sum_n g_g cols_g^T, db = sum of g
 * over all but the channel dim */
static void conv_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *w = n->in[1];
  ops_conv_geom geo = conv_load(n, w);
  size_t G = (size_t)tg_node_i(n)[2], N = x->shape[0], O = w->shape[0];
  size_t K = w->shape[1] * w->shape[2] * w->shape[3], L = g->shape[2] * g->shape[3];
  if (ops_fused_backward()) {
    conv_backward_fused(n, g, gi, &geo, G);
    if (tg_node_needs_grad(n, 2)) gi[2] = bias_grad(g);
    return;
  }
  tg_tensor *gr = tg_reshape(g, 4, (const size_t[]){N, G, O / G, L});
  if (tg_node_needs_grad(n, 0)) {
    tg_tensor *wt = tg_transpose(tg_reshape(w, 3, (const size_t[]){G, O / G, K}), 1, 2);
    tg_tensor *cols = reshape(tg_matmul(wt, gr), 3, (const size_t[]){N, G * K, L});
    gi[0] = cols ? ops_fold3(cols, (int64_t)x->shape[2], (int64_t)x->shape[3], &geo) : NULL;
  }
  if (tg_node_needs_grad(n, 1)) {
    tg_tensor *cols = reshape(ops_unfold4(x, &geo), 4, (const size_t[]){N, G, K, L});
    tg_tensor *gw = tg_matmul(gr, cols ? tg_transpose(cols, 2, 3) : NULL);
    gi[1] = reshape(gw ? tg_sum_dims(gw, 1, (const int[]){0}, false) : NULL, 4, w->shape);
  }
  if (tg_node_needs_grad(n, 2)) gi[2] = tg_sum_dims(g, 3, (const int[]){0, 2, 3}, false);
}
/* bilinear in (x, w), affine in b: conv(tx, w) + conv(x, tw) + tb */
static tg_tensor *add_terms(tg_tensor *acc, tg_tensor *term) {
  if (!term) return acc;
  return acc ? tg_add(acc, term) : term;
}
static tg_tensor *bias_tangent(tg_tensor *tb) {
  return tb ? tg_reshape(tb, 3, (const size_t[]){tb->shape[0], 1, 1}) : NULL;
}
static tg_tensor *conv_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0], *w = n->in[1], *acc = NULL;
  ops_conv_geom geo = conv_load(n, w);
  size_t G = (size_t)tg_node_i(n)[2];
  if (t[0]) acc = ops_conv2d_gemm(t[0], w, NULL, &geo, G);
  if (t[1]) acc = add_terms(acc, ops_conv2d_gemm(x, t[1], NULL, &geo, G));
  if (n->n_in > 2) acc = add_terms(acc, bias_tangent(t[2]));
  return acc;
}
TG_DEFINE_OP_JVP(OP_CONV2D, "ConvolutionBackward", conv_backward, conv_jvp,
             TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_NODE_F | TG_NODE_I | TG_NODE_SAVED);

/* the forward of batch items [lo, hi) of one part, with its own columns */
typedef struct conv_job {
  const tg_tensor *x;
  const char *w, *b;
  ptrdiff_t b_stride;
  char *y, *cols;
  const ops_conv_geom *g;
  size_t G, O, K, L, ho, wo, cols_elems;
  size_t item_cols; /* cols_elems when every item keeps its columns (for the backward), else 0 */
  bool direct; /* 1x1, stride 1, no padding, contiguous x: x is its own columns */
} conv_job;

#define CONV_ITEMS(T, GEMM)                                                    \
  static void conv_items_##T(const conv_job *j, size_t lo, size_t hi, T *cols) { \
    const tg_tensor *x = j->x;                                                 \
    size_t og = j->O / j->G, one[4] = {1, x->shape[1], x->shape[2], x->shape[3]}; \
    for (size_t n = lo; n < hi; n++) {                                         \
      T *xn = (T *)tg_ptr(x) + (ptrdiff_t)n * x->strides[0];                   \
      T *yn = (T *)j->y + n * j->O * j->L;                                     \
      T *c = cols + n * j->item_cols;                                          \
      if (j->direct) c = xn;                                                   \
      else ops_im2col_##T(xn, x->strides, c, one, j->g, j->ho, j->wo, false);  \
      for (size_t g = 0; g < j->G; g++) {                                      \
        T *yg = yn + g * og * j->L;                                            \
        if (j->K == 0) {                                                       \
          memset(yg, 0, og * j->L * sizeof(T));                                \
          continue;                                                            \
        }                                                                      \
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)og, (int)j->L, (int)j->K, 1, \
             (const T *)j->w + g * og * j->K, (int)j->K, c + g * j->K * j->L, (int)j->L, 0, yg, \
             (int)j->L);                                                       \
      }                                                                        \
      for (size_t o = 0; j->b && o < j->O; o++) {                              \
        T bo = ((const T *)j->b)[(ptrdiff_t)o * j->b_stride], *yo = yn + o * j->L; \
        for (size_t l = 0; l < j->L; l++) yo[l] += bo;                         \
      }                                                                        \
    }                                                                          \
  }
CONV_ITEMS(float, cblas_sgemm)
CONV_ITEMS(double, cblas_dgemm)

static void conv_part(void *arg, int part, int n_parts) {
  const conv_job *j = arg;
  size_t nb = j->x->shape[0];
  size_t lo = nb * (size_t)part / (size_t)n_parts, hi = nb * (size_t)(part + 1) / (size_t)n_parts;
  size_t es = tg_elem_bytes(j->x->dtype);
  char *cols = j->cols + (j->item_cols ? 0 : (size_t)part * j->cols_elems * es);
  if (j->x->dtype == TG_FLOAT32) conv_items_float(j, lo, hi, (float *)cols);
  else conv_items_double(j, lo, hi, (double *)cols);
}

/* im2col of batch items [lo, hi) of one part into the kept columns */
typedef struct cols_job {
  const tg_tensor *x;
  float *cols;
  const ops_conv_geom *g;
  size_t ho, wo, item;
} cols_job;

static void cols_part(void *arg, int part, int n_parts) {
  const cols_job *j = arg;
  const tg_tensor *x = j->x;
  size_t N = x->shape[0], lo = N * (size_t)part / (size_t)n_parts, hi = N * (size_t)(part + 1) / (size_t)n_parts;
  size_t one[4] = {1, x->shape[1], x->shape[2], x->shape[3]};
  for (size_t n = lo; n < hi; n++)
    ops_im2col_float((float *)tg_ptr(x) + (ptrdiff_t)n * x->strides[0], x->strides, j->cols + n * j->item, one,
                     j->g, j->ho, j->wo, false);
}

/* After the direct forward, where the weight's gradient will be wanted and
 * the direct dw kernel does not take the case (12+ output channels, or a
 * stride): the columns of every item, saved in the node for the fused
 * backward's GEMMs, which would otherwise rebuild them item by item
 * between its calls (LeNet's conv2: its dw in about half the time). False
 * out of memory. */
static bool keep_columns(tg_node *n, const tg_tensor *x, const tg_tensor *w, const ops_conv_geom *g, size_t ho,
                         size_t wo) {
  size_t N = x->shape[0], O = w->shape[0], K = w->shape[1] * w->shape[2] * w->shape[3];
  bool direct_dw = O < CONV_DIRECT_MIN_O && g->s[0] == 1 && g->s[1] == 1;
  if (!N || direct_dw || !tg_grad_enabled() || !w->requires_grad) return true;
  tg_tensor *kept = tg_empty(TG_FLOAT32, 1, (const size_t[]){N * K * ho * wo});
  if (!kept) return false;
  cols_job j = {.x = x, .cols = (float *)tg_ptr(kept), .g = g, .ho = ho, .wo = wo, .item = K * ho * wo};
  int parts = 1, threads = ops_blas_threads();
  if (2.0 * (double)N * (double)O * (double)K * (double)(ho * wo) >= CONV_SPLIT_MIN_FLOP)
    parts = threads < (int)N ? threads : (int)N;
  if (parts > 1) tg_parallel_run(parts, cols_part, &j);
  else cols_part(&j, 0, 1);
  tg_node_save(n, kept);
  return true;
}

tg_tensor *ops_conv2d_gemm(tg_tensor *x, tg_tensor *w, tg_tensor *b, const ops_conv_geom *g, size_t G) {
  size_t N = x->shape[0], O = w->shape[0], K = w->shape[1] * w->shape[2] * w->shape[3];
  size_t ho = (size_t)ops_conv_blocks(g, 0, (int64_t)x->shape[2]);
  size_t wo = (size_t)ops_conv_blocks(g, 1, (int64_t)x->shape[3]);
  if (K > INT32_MAX || ho * wo > INT32_MAX || O > INT32_MAX) {
    tg_error("conv: dimensions above 2^31 are not supported by BLAS");
    return NULL;
  }
  tg_tensor *y = tg_tensor_alloc(x->dtype, 4, (const size_t[]){N, O, ho, wo});
  /* BLAS reads the weight as rows of K: a copy (no history) if it is not */
  tg_tensor *wc = w;
  if (y && !tg_contiguous_(w)) {
    bool prev = tg_set_grad_enabled(false);
    wc = tg_contiguous(w);
    tg_set_grad_enabled(prev);
  }
  if (!y || !wc) return NULL;
  if (ops_conv2d_direct(x, wc, b, y, g, G)) {
    tg_node *n = ops_record(y, &OP_CONV2D, b ? 3 : 2, (tg_tensor *[]){x, w, b});
    if (n) {
      conv_store(n, g, (int64_t)G);
      if (!keep_columns(n, x, w, g, ho, wo)) return NULL;
    }
    return y;
  }
  conv_job j = {.x = x, .w = tg_ptr(wc), .b = b ? tg_ptr(b) : NULL, .b_stride = b ? b->strides[0] : 0,
                .y = tg_ptr(y), .g = g, .G = G, .O = O, .K = K, .L = ho * wo, .ho = ho, .wo = wo};
  j.direct = g->k[0] == 1 && g->k[1] == 1 && g->s[0] == 1 && g->s[1] == 1 && g->p[0] == 0 &&
             g->p[1] == 0 && tg_contiguous_(x);
  j.cols_elems = j.direct ? 0 : G * K * j.L;
  int threads = ops_blas_threads(), parts = 1;
  if (2.0 * (double)N * (double)O * (double)K * (double)j.L >= CONV_SPLIT_MIN_FLOP)
    parts = threads < (int)N ? threads : (int)N;
  if (parts < 1) parts = 1;
  /* When the weight's gradient will be wanted, the columns of every item
   * are kept for the backward (which would otherwise rebuild them): two of a
   * LeNet step's five im2col passes, for N K L elements held until the
   * scope ends. */
  tg_tensor *kept = NULL;
  if (j.cols_elems && N && tg_grad_enabled() && w->requires_grad) {
    kept = tg_empty(x->dtype, 1, (const size_t[]){N * j.cols_elems});
    if (!kept) return NULL;
    j.item_cols = j.cols_elems;
  }
  size_t bytes = kept ? 0 : (size_t)parts * j.cols_elems * tg_elem_bytes(x->dtype);
  j.cols = kept ? tg_ptr(kept) : bytes ? tg_pool_alloc(bytes) : NULL;
  if (bytes && !j.cols) {
    tg_error("conv: out of memory for the columns (%zu bytes)", bytes);
    return NULL;
  }
  if (N) {
    if (parts > 1) tg_parallel_run(parts, conv_part, &j);
    else conv_part(&j, 0, 1);
  }
  if (!kept) tg_pool_free(j.cols);
  tg_node *n = ops_record(y, &OP_CONV2D, b ? 3 : 2, (tg_tensor *[]){x, w, b});
  if (n) {
    conv_store(n, g, (int64_t)G);
    if (kept) tg_node_save(n, kept);
  }
  return y;
}

/* ---- conv_transpose2d's node (the case where col2im's blocks are the
 * input's positions, output_padding < stride): per item, the columns
 * w_g^T x_g in one pool block, added into the output by col2im. Backward,
 * differentiable: dx is conv2d of g with the same weight (its shape
 * (C_in, C_out / G, k) is a conv2d weight from C_out to C_in channels), dw
 * sums x_g unfold(g)_g^T over the batch, db sums g. */
static void conv_t_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *w = n->in[1];
  ops_conv_geom geo = conv_load(n, w);
  size_t G = (size_t)tg_node_i(n)[2], N = x->shape[0], cin = x->shape[1];
  size_t K = w->shape[1] * w->shape[2] * w->shape[3], hw = x->shape[2] * x->shape[3];
  if (tg_node_needs_grad(n, 0)) gi[0] = ops_conv2d_gemm(g, w, NULL, &geo, G);
  if (tg_node_needs_grad(n, 1)) {
    tg_tensor *cols = reshape(ops_unfold4(g, &geo), 4, (const size_t[]){N, G, K, hw});
    tg_tensor *xr = reshape(x, 4, (const size_t[]){N, G, cin / G, hw});
    tg_tensor *gw = cols && xr ? tg_matmul(xr, tg_transpose(cols, 2, 3)) : NULL;
    gi[1] = reshape(gw ? tg_sum_dims(gw, 1, (const int[]){0}, false) : NULL, 4, w->shape);
  }
  if (tg_node_needs_grad(n, 2)) gi[2] = tg_sum_dims(g, 3, (const int[]){0, 2, 3}, false);
}
static tg_tensor *conv_t_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0], *w = n->in[1], *acc = NULL;
  ops_conv_geom geo = conv_load(n, w);
  size_t G = (size_t)tg_node_i(n)[2];
  int64_t oh = (int64_t)n->out->shape[2], ow = (int64_t)n->out->shape[3];
  if (t[0]) acc = ops_conv_transpose2d_gemm(t[0], w, NULL, &geo, G, oh, ow);
  if (t[1]) acc = add_terms(acc, ops_conv_transpose2d_gemm(x, t[1], NULL, &geo, G, oh, ow));
  if (n->n_in > 2) acc = add_terms(acc, bias_tangent(t[2]));
  return acc;
}
TG_DEFINE_OP_JVP(OP_CONV_T2D, "ConvolutionBackward", conv_t_backward, conv_t_jvp,
             TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_NODE_F | TG_NODE_I);

#define CONV_T_ITEMS(T, GEMM)                                                  \
  static void conv_t_items_##T(const T *x, const T *w, const T *b, ptrdiff_t bs, T *y, T *cols, \
                               const size_t *xs, const size_t *ys, size_t G, size_t K, \
                               const ops_conv_geom *g) {                       \
    size_t cg = xs[1] / G, hw = xs[2] * xs[3], L = ys[2] * ys[3], one[4] = {1, ys[1], ys[2], ys[3]}; \
    const ptrdiff_t yst[4] = {(ptrdiff_t)(ys[1] * L), (ptrdiff_t)L, (ptrdiff_t)ys[3], 1}; \
    for (size_t n = 0; n < xs[0]; n++) {                                       \
      const T *xn = x + n * xs[1] * hw;                                        \
      T *yn = y + n * ys[1] * L;                                               \
      for (size_t grp = 0; grp < G; grp++)                                     \
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)hw, (int)cg, 1, \
             w + grp * cg * K, (int)K, xn + grp * cg * hw, (int)hw, 0, cols + grp * K * hw, (int)hw); \
      ops_im2col_##T(yn, yst, cols, one, g, xs[2], xs[3], true);              \
      for (size_t o = 0; b && o < ys[1]; o++)                                  \
        for (size_t l = 0; l < L; l++) yn[o * L + l] += b[(ptrdiff_t)o * bs];  \
    }                                                                          \
  }
CONV_T_ITEMS(float, cblas_sgemm)
CONV_T_ITEMS(double, cblas_dgemm)

tg_tensor *ops_conv_transpose2d_gemm(tg_tensor *x, tg_tensor *w, tg_tensor *b, const ops_conv_geom *g,
                                     size_t G, int64_t out_h, int64_t out_w) {
  size_t K = w->shape[1] * w->shape[2] * w->shape[3], hw = x->shape[2] * x->shape[3];
  if (K > INT32_MAX || hw > INT32_MAX || x->shape[1] > INT32_MAX) {
    tg_error("conv_transpose: dimensions above 2^31 are not supported by BLAS");
    return NULL;
  }
  size_t ys[4] = {x->shape[0], w->shape[1] * G, (size_t)out_h, (size_t)out_w};
  tg_tensor *y = tg_zeros(x->dtype, 4, ys), *xc = x, *wc = w;
  /* BLAS reads x's items and the weight as rows: copies (no history) if not */
  bool prev = tg_set_grad_enabled(false);
  if (!tg_contiguous_(x)) xc = tg_contiguous(x);
  if (!tg_contiguous_(w)) wc = tg_contiguous(w);
  tg_set_grad_enabled(prev);
  size_t bytes = G * K * hw * tg_elem_bytes(x->dtype);
  void *cols = y && xc && wc && bytes && y->numel ? tg_pool_alloc(bytes) : NULL;
  if (!y || !xc || !wc) return NULL;
  if (cols) {
    ptrdiff_t bs = b ? b->strides[0] : 0;
    if (x->dtype == TG_FLOAT32)
      conv_t_items_float((const float *)tg_ptr(xc), (const float *)tg_ptr(wc), b ? (const float *)tg_ptr(b) : NULL,
                         bs, (float *)tg_ptr(y), cols, x->shape, ys, G, K, g);
    else
      conv_t_items_double((const double *)tg_ptr(xc), (const double *)tg_ptr(wc),
                          b ? (const double *)tg_ptr(b) : NULL, bs, (double *)tg_ptr(y), cols, x->shape, ys,
                          G, K, g);
    tg_pool_free(cols);
  }
  tg_node *n = ops_record(y, &OP_CONV_T2D, b ? 3 : 2, (tg_tensor *[]){x, w, b});
  if (n) conv_store(n, g, (int64_t)G);
  return y;
}
