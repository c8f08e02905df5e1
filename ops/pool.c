/* Max and average pooling (torch.nn.functional.max_pool1d/2d,
 * avg_pool1d/2d) and the plan engine of ops/pool_internal.h that the
 * adaptive pools and interpolation share. Kernels run over contiguous
 * (planes, H, W) data; a strided input is copied first. */
#include <math.h>
#include <string.h>

#include "pool_internal.h"

enum { PLAN_HDR = 6 };

tg_tensor *pool_plan_new(size_t ih, size_t iw, size_t oh, size_t ow, double divisor, bool weighted,
                         pool_plan *p) {
  size_t n = PLAN_HDR + 6 * (oh + ow);
  tg_tensor *t = tg_empty(TG_FLOAT64, 1, &n);
  if (!t) return NULL;
  double *d = (double *)tg_ptr(t);
  d[0] = (double)ih, d[1] = (double)iw, d[2] = (double)oh, d[3] = (double)ow;
  d[4] = divisor, d[5] = weighted;
  *p = (pool_plan){ih, iw, oh, ow, divisor, weighted, (pool_win *)(d + PLAN_HDR),
                   (pool_win *)(d + PLAN_HDR) + oh};
  return t;
}

static pool_plan plan_read(const tg_tensor *t) {
  const double *d = (const double *)tg_ptr(t);
  pool_win *rows = (pool_win *)(d + PLAN_HDR);
  return (pool_plan){(size_t)d[0], (size_t)d[1], (size_t)d[2], (size_t)d[3], d[4], d[5] != 0, rows,
                     rows + (size_t)d[2]};
}

static tg_tensor *contig(tg_tensor *a) {
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *c = tg_contiguous(a);
  tg_set_grad_enabled(prev);
  return c;
}

/* the product of a's last sd dims */
static size_t plane_size(const tg_tensor *a, int sd) {
  size_t n = 1;
  for (int d = a->ndim - sd; d < a->ndim; d++) n *= a->shape[d];
  return n;
}

/* a's shape with the last sd dims replaced by (h, w), or (w) when sd == 1 */
static int spatial_shape(const tg_tensor *a, int sd, size_t h, size_t w, size_t *shape) {
  memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
  if (sd == 2) shape[a->ndim - 2] = h;
  shape[a->ndim - 1] = w;
  return a->ndim;
}

#define TAP_W(p, win, j) ((p)->weighted ? ((j) ? (win)->w1 : (win)->w0) : 1.0)

/* out = the plan applied to x, or gx += its adjoint applied to g */
#define LINEAR_LOOPS(SUF, T)                                                   \
  static void linear_fwd_##SUF(const pool_plan *p, size_t planes, const T *x, T *o) { \
    for (size_t pl = 0; pl < planes; pl++, x += p->ih * p->iw)                 \
      for (size_t r = 0; r < p->oh; r++) {                                     \
        const pool_win *R = &p->rows[r];                                       \
        long rs = (long)R->start, rn = (long)R->n, rst = (long)R->step;        \
        for (size_t c = 0; c < p->ow; c++, o++) {                              \
          const pool_win *C = &p->cols[c];                                     \
          long cs = (long)C->start, cn = (long)C->n, cst = (long)C->step;      \
          double acc = 0;                                                      \
          for (long a = 0; a < rn; a++) {                                      \
            const T *xr = x + (size_t)(rs + a * rst) * p->iw;                  \
            double inner = 0;                                                  \
            for (long b = 0; b < cn; b++) inner += TAP_W(p, C, b) * xr[cs + b * cst]; \
            acc += TAP_W(p, R, a) * inner;                                     \
          }                                                                    \
          *o = (T)(acc / (p->divisor != 0 ? p->divisor : R->div * C->div));   \
        }                                                                      \
      }                                                                        \
  }                                                                            \
  static void linear_adj_##SUF(const pool_plan *p, size_t planes, const T *g, T *gx) { \
    for (size_t pl = 0; pl < planes; pl++, gx += p->ih * p->iw)               \
      for (size_t r = 0; r < p->oh; r++) {                                     \
        const pool_win *R = &p->rows[r];                                       \
        long rs = (long)R->start, rn = (long)R->n, rst = (long)R->step;        \
        for (size_t c = 0; c < p->ow; c++, g++) {                              \
          const pool_win *C = &p->cols[c];                                     \
          long cs = (long)C->start, cn = (long)C->n, cst = (long)C->step;      \
          double v = *g / (p->divisor != 0 ? p->divisor : R->div * C->div);    \
          for (long a = 0; a < rn; a++) {                                      \
            T *gr = gx + (size_t)(rs + a * rst) * p->iw;                       \
            double va = TAP_W(p, R, a) * v;                                    \
            for (long b = 0; b < cn; b++) gr[cs + b * cst] += (T)(TAP_W(p, C, b) * va); \
          }                                                                    \
        }                                                                      \
      }                                                                        \
  }
LINEAR_LOOPS(f32, float)
LINEAR_LOOPS(f64, double)

static void linear_backward(tg_node *n, tg_tensor *g, tg_tensor **gi);
static tg_tensor *linear_jvp(tg_node *n, tg_tensor *const *t);
#define LINEAR_OP(V, NAME)                                                     \
  TG_DEFINE_OP_JVP(V, NAME "Backward", linear_backward, linear_jvp, TG_NODE_I | TG_NODE_SAVED); \
  TG_DEFINE_OP_JVP(V##_ADJ, NAME "BackwardBackward", linear_backward, linear_jvp, TG_NODE_I | TG_NODE_SAVED);
LINEAR_OP(OP_AVG1D, "AvgPool1D")
LINEAR_OP(OP_AVG2D, "AvgPool2D")
LINEAR_OP(OP_AAVG1D, "AdaptiveAvgPool1D")
LINEAR_OP(OP_AAVG2D, "AdaptiveAvgPool2D")
LINEAR_OP(OP_NEAR1D, "UpsampleNearest1D")
LINEAR_OP(OP_NEAR2D, "UpsampleNearest2D")
LINEAR_OP(OP_LIN1D, "UpsampleLinear1D")
LINEAR_OP(OP_BILIN2D, "UpsampleBilinear2D")
static const tg_op *const LINEAR_OPS[2][POOL_LINEAR_KINDS] = {
    {&OP_AVG1D, &OP_AVG2D, &OP_AAVG1D, &OP_AAVG2D, &OP_NEAR1D, &OP_NEAR2D, &OP_LIN1D, &OP_BILIN2D},
    {&OP_AVG1D_ADJ, &OP_AVG2D_ADJ, &OP_AAVG1D_ADJ, &OP_AAVG2D_ADJ, &OP_NEAR1D_ADJ, &OP_NEAR2D_ADJ,
     &OP_LIN1D_ADJ, &OP_BILIN2D_ADJ}};

static tg_tensor *linear_apply(tg_tensor *a, tg_tensor *plan, int sd, pool_linear_kind kind,
                               bool adjoint) {
  pool_plan p = plan_read(plan);
  size_t in_h = adjoint ? p.oh : p.ih, in_w = adjoint ? p.ow : p.iw;
  size_t out_h = adjoint ? p.ih : p.oh, out_w = adjoint ? p.iw : p.ow;
  if (plane_size(a, sd) != in_h * in_w) {
    tg_error("pool: internal error: input of %zu elements a plane for a plan of %zu", plane_size(a, sd),
             in_h * in_w);
    return NULL;
  }
  size_t shape[TG_MAX_DIMS];
  int nd = spatial_shape(a, sd, out_h, out_w, shape);
  size_t planes = in_h * in_w != 0 ? a->numel / (in_h * in_w) : 0;
  tg_tensor *x = contig(a), *out = x ? tg_zeros(a->dtype, nd, shape) : NULL;
  if (!out) return NULL;
  if (a->dtype == TG_FLOAT32)
    (adjoint ? linear_adj_f32 : linear_fwd_f32)(&p, planes, (const float *)tg_ptr(x), (float *)tg_ptr(out));
  else
    (adjoint ? linear_adj_f64 : linear_fwd_f64)(&p, planes, (const double *)tg_ptr(x), (double *)tg_ptr(out));
  tg_node *n = ops_record(out, LINEAR_OPS[adjoint][kind], 1, &a);
  if (n) {
    int64_t *i = tg_node_i(n);
    i[0] = kind, i[1] = sd, i[2] = adjoint;
    tg_node_save(n, plan);
  }
  return out;
}

/* the adjoint's adjoint is the op itself: each direction's backward is the other */
static void linear_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  const int64_t *i = tg_node_i(n);
  gi[0] = linear_apply(g, tg_node_saved(n), (int)i[1], (pool_linear_kind)i[0], !i[2]);
}

/* linear with fixed weights: the same direction applied to the tangent */
static tg_tensor *linear_jvp(tg_node *n, tg_tensor *const *t) {
  const int64_t *i = tg_node_i(n);
  return linear_apply(t[0], tg_node_saved(n), (int)i[1], (pool_linear_kind)i[0], i[2]);
}

tg_tensor *pool_linear(tg_tensor *a, tg_tensor *plan, int sd, pool_linear_kind kind) {
  return linear_apply(a, plan, sd, kind, false);
}

/* ---------------------------------------------------------------- max */

/* torch's rule: the first maximum of the window in row-major order, a NaN
 * wins (the last one seen); an empty window gives -inf at its first index.
 * The windows come as integers (iw[4 (oh + ow)]: start, n, step per row,
 * then per column), read once per call rather than converted per tap; the
 * 2 x 2 windows of stride-2 pools have their own unrolled loop. The taps
 * select by bit masks, not branches: on real data which one wins is
 * unpredictable (the branchy loop showed in a LeNet step's profile). */
#define MAX_TAP(T, U, k)                                                       \
  do {                                                                         \
    long k_ = (k);                                                             \
    T v_ = x[k_];                                                              \
    U vb_, mb_, take_ = (U)0 - (U)((v_ > m) | (v_ != v_));                     \
    memcpy(&vb_, &v_, sizeof vb_);                                             \
    memcpy(&mb_, &m, sizeof mb_);                                              \
    mb_ ^= (mb_ ^ vb_) & take_;                                                \
    memcpy(&m, &mb_, sizeof m);                                                \
    best ^= (best ^ k_) & (long)take_;                                         \
  } while (0)
#define MAX_LOOP(SUF, T, U)                                                     \
  static void max_fwd_##SUF(const pool_plan *p, const long *w, size_t planes, const T *x, T *o, \
                            int64_t *ix) {                                     \
    const long *cw = w + 3 * p->oh, iwl = (long)p->iw;                         \
    for (size_t pl = 0; pl < planes; pl++, x += p->ih * p->iw)                 \
      for (size_t r = 0; r < p->oh; r++) {                                     \
        long rs = w[3 * r], rn = w[3 * r + 1], rst = w[3 * r + 2];             \
        for (size_t c = 0; c < p->ow; c++) {                                   \
          long cs = cw[3 * c], cn = cw[3 * c + 1], cst = cw[3 * c + 2];        \
          long best = rs * iwl + cs;                                           \
          T m = -INFINITY;                                                     \
          if (rn == 2 && cn == 2 && rst == 1 && cst == 1) {                    \
            MAX_TAP(T, U, best);                                                     \
            MAX_TAP(T, U, rs * iwl + cs + 1);                                        \
            MAX_TAP(T, U, (rs + 1) * iwl + cs);                                      \
            MAX_TAP(T, U, (rs + 1) * iwl + cs + 1);                                  \
          } else                                                               \
            for (long a = 0; a < rn; a++)                                      \
              for (long b = 0; b < cn; b++) MAX_TAP(T, U, (rs + a * rst) * iwl + cs + b * cst); \
          *o++ = m;                                                            \
          *ix++ = best;                                                        \
        }                                                                      \
      }                                                                        \
  }
MAX_LOOP(f32, float, uint32_t)
MAX_LOOP(f64, double, uint64_t)

/* the same rule for MaxPool2d(2)'s windows (2 x 2, stride 2, inside the
 * plane): no window table, the four taps of a window as selects the
 * compiler turns into vector blends */
#define MAX2_TAKE(v, k)                                                        \
  do {                                                                         \
    bool t_ = (v) > m || (v) != (v);                                           \
    m = t_ ? (v) : m;                                                          \
    best = t_ ? (k) : best;                                                    \
  } while (0)
#define MAX2_LOOP(SUF, T)                                                      \
  static void max2_fwd_##SUF(const pool_plan *p, size_t planes, const T *x, T *o, int64_t *ix) { \
    size_t oh = p->oh, ow = p->ow, iw = p->iw;                                 \
    for (size_t pl = 0; pl < planes; pl++, x += p->ih * iw)                    \
      for (size_t r = 0; r < oh; r++) {                                        \
        const T *x0 = x + 2 * r * iw, *x1 = x0 + iw;                           \
        int64_t i0 = (int64_t)(2 * r * iw), i1 = i0 + (int64_t)iw;             \
        for (size_t c = 0; c < ow; c++, o++, ix++) {                           \
          T m = x0[2 * c], v1 = x0[2 * c + 1], v2 = x1[2 * c], v3 = x1[2 * c + 1]; \
          int64_t best = i0 + (int64_t)(2 * c);                                \
          MAX2_TAKE(v1, i0 + (int64_t)(2 * c + 1));                            \
          MAX2_TAKE(v2, i1 + (int64_t)(2 * c));                                \
          MAX2_TAKE(v3, i1 + (int64_t)(2 * c + 1));                            \
          *o = m;                                                              \
          *ix = best;                                                          \
        }                                                                      \
      }                                                                        \
  }
MAX2_LOOP(f32, float)
MAX2_LOOP(f64, double)

/* dst[plane, idx[plane, o]] += src[plane, o] (scatter) or dst[plane, o] =
 * src[plane, idx[plane, o]] (gather); an index off the plane (torch's
 * empty window) moves nothing */
#define MOVE_LOOP(SUF, T)                                                      \
  static void move_##SUF(bool scatter, size_t planes, size_t big, size_t small, const int64_t *ix, \
                         const T *src, T *dst) {                               \
    for (size_t pl = 0; pl < planes; pl++, ix += small) {                      \
      for (size_t o = 0; o < small; o++) {                                     \
        if (ix[o] < 0 || (size_t)ix[o] >= big) continue;                       \
        if (scatter) dst[ix[o]] += src[o];                                     \
        else dst[o] = src[ix[o]];                                              \
      }                                                                        \
      if (scatter) src += small, dst += big;                                   \
      else src += big, dst += small;                                           \
    }                                                                          \
  }
MOVE_LOOP(f32, float)
MOVE_LOOP(f64, double)

static void gather_backward(tg_node *n, tg_tensor *g, tg_tensor **gi);
static void scatter_backward(tg_node *n, tg_tensor *g, tg_tensor **gi);
static tg_tensor *gather_jvp(tg_node *n, tg_tensor *const *t);
static tg_tensor *scatter_jvp(tg_node *n, tg_tensor *const *t);
#define MAX_OP(V, NAME) TG_DEFINE_OP_JVP(V, NAME, gather_backward, gather_jvp, TG_NODE_I | TG_NODE_SAVED)
MAX_OP(OP_MAX1D, "MaxPool1DWithIndicesBackward");
MAX_OP(OP_MAX2D, "MaxPool2DWithIndicesBackward");
MAX_OP(OP_AMAX1D, "AdaptiveMaxPool1DBackward");
MAX_OP(OP_AMAX2D, "AdaptiveMaxPool2DBackward");
MAX_OP(OP_MAX_GATHER, "MaxPoolDoubleBackward");
TG_DEFINE_OP_JVP(OP_MAX_SCATTER, "MaxPoolWithIndicesBackwardBackward", scatter_backward, scatter_jvp,
                 TG_NODE_I | TG_NODE_SAVED);
static const tg_op *const MAX_OPS[POOL_MAX_KINDS] = {&OP_MAX1D, &OP_MAX2D, &OP_AMAX1D, &OP_AMAX2D};

static void record_move(tg_tensor *out, tg_tensor *in, tg_tensor *idx, int sd, const tg_op *op) {
  tg_node *n = ops_record(out, op, 1, &in);
  if (n) {
    tg_node_i(n)[0] = sd;
    tg_node_save(n, idx);
  }
}

/* src (planes, small) moved through idx (planes, small) to or from the
 * planes of `big` elements; out shaped like `shape_of` */
static tg_tensor *move(bool scatter, tg_tensor *src, tg_tensor *idx, const tg_tensor *shape_of,
                       size_t big, int sd) {
  size_t small = plane_size(idx, sd), planes = small ? idx->numel / small : 0;
  tg_tensor *s = contig(src), *out = s ? tg_zeros(src->dtype, shape_of->ndim, shape_of->shape) : NULL;
  if (!out) return NULL;
  const int64_t *ix = (const int64_t *)tg_ptr(idx);
  if (src->dtype == TG_FLOAT32)
    move_f32(scatter, planes, big, small, ix, (const float *)tg_ptr(s), (float *)tg_ptr(out));
  else
    move_f64(scatter, planes, big, small, ix, (const double *)tg_ptr(s), (double *)tg_ptr(out));
  record_move(out, src, idx, sd, scatter ? &OP_MAX_SCATTER : &OP_MAX_GATHER);
  return out;
}

/* gradient of a max pool: g scattered into zeros shaped as the input */
static void gather_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int sd = (int)tg_node_i(n)[0];
  gi[0] = move(true, g, tg_node_saved(n), n->in[0], plane_size(n->in[0], sd), sd);
}
static void scatter_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int sd = (int)tg_node_i(n)[0];
  tg_tensor *idx = tg_node_saved(n);
  gi[0] = move(false, g, idx, idx, plane_size(g, sd), sd);
}

/* with the indices fixed, a max pool gathers and its adjoint scatters: the
 * tangent moves the same way */
static tg_tensor *gather_jvp(tg_node *n, tg_tensor *const *t) {
  int sd = (int)tg_node_i(n)[0];
  tg_tensor *idx = tg_node_saved(n);
  return move(false, t[0], idx, idx, plane_size(n->in[0], sd), sd);
}
static tg_tensor *scatter_jvp(tg_node *n, tg_tensor *const *t) {
  int sd = (int)tg_node_i(n)[0];
  return move(true, t[0], tg_node_saved(n), n->out, plane_size(n->out, sd), sd);
}

tg_tensor *pool_max(tg_tensor *a, tg_tensor *plan, int sd, pool_max_kind kind, tg_tensor **indices) {
  pool_plan p = plan_read(plan);
  size_t shape[TG_MAX_DIMS], in_plane = p.ih * p.iw;
  int nd = spatial_shape(a, sd, p.oh, p.ow, shape);
  size_t planes = in_plane ? a->numel / in_plane : 0;
  tg_tensor *x = contig(a), *out = x ? tg_empty(a->dtype, nd, shape) : NULL;
  tg_tensor *idx = out ? tg_empty(TG_INT64, nd, shape) : NULL;
  long *w = idx ? tg_pool_alloc(3 * (p.oh + p.ow) * sizeof *w + 1) : NULL;
  if (!w) return NULL;
  for (size_t i = 0; i < p.oh + p.ow; i++) {
    const pool_win *win = i < p.oh ? &p.rows[i] : &p.cols[i - p.oh];
    w[3 * i] = (long)win->start, w[3 * i + 1] = (long)win->n, w[3 * i + 2] = (long)win->step;
  }
  bool two = true; /* every window 2 x 2 at (2 r, 2 c) */
  for (size_t i = 0; i < p.oh + p.ow; i++) {
    size_t at = i < p.oh ? i : i - p.oh;
    two = two && w[3 * i] == (long)(2 * at) && w[3 * i + 1] == 2 && w[3 * i + 2] == 1;
  }
  if (two && a->dtype == TG_FLOAT32)
    max2_fwd_f32(&p, planes, (const float *)tg_ptr(x), (float *)tg_ptr(out), (int64_t *)tg_ptr(idx));
  else if (two)
    max2_fwd_f64(&p, planes, (const double *)tg_ptr(x), (double *)tg_ptr(out), (int64_t *)tg_ptr(idx));
  else if (a->dtype == TG_FLOAT32)
    max_fwd_f32(&p, w, planes, (const float *)tg_ptr(x), (float *)tg_ptr(out), (int64_t *)tg_ptr(idx));
  else
    max_fwd_f64(&p, w, planes, (const double *)tg_ptr(x), (double *)tg_ptr(out), (int64_t *)tg_ptr(idx));
  tg_pool_free(w);
  record_move(out, a, idx, sd, MAX_OPS[kind]);
  if (indices) *indices = idx;
  return out;
}

/* ------------------------------------------------------- input checks */

bool pool_check_float(const char *op, const tg_tensor *a) {
  if (!tg_tensor_ok(a, op, 1)) return false;
  if (!tg_dtype_is_float(a->dtype)) {
    tg_error("%s: \"%s\" not implemented for '%s'", op, op,
             a->dtype == TG_INT64 ? "Long" : "Bool");
    return false;
  }
  return true;
}

bool pool_check_input(const char *op, const tg_tensor *a, int sd, int free) {
  char buf[96];
  if (a->ndim != sd + 1 && a->ndim != sd + 2) {
    tg_error("%s: Expected %dD or %dD (batch mode) tensor for input, but got a %d-d tensor %s", op,
             sd + 1, sd + 2, a->ndim, tg_shape_str(a, buf, sizeof buf));
    return false;
  }
  if (free < 0) free = a->ndim == sd + 2;
  for (int d = free; d < a->ndim; d++)
    if (a->shape[d] == 0) {
      tg_error("%s: Expected %dD or %dD (batch mode) tensor with optional 0 dim batch size for "
               "input, but got: %s", op, sd + 1, sd + 2, tg_shape_str(a, buf, sizeof buf));
      return false;
    }
  return true;
}

/* ------------------------------------------------- max_pool, avg_pool */

typedef struct pool_args {
  size_t k[2], s[2], p[2], d[2];
  bool ceil;
} pool_args;

/* torch's pooling_output_shape: floor (or ceil) division, and with
 * ceil_mode no window that starts in the right padding */
static long out_size(size_t in, size_t k, size_t s, size_t p, size_t d, bool ceil) {
  long num = (long)(in + 2 * p) - (long)(d * (k - 1)) - 1 + (ceil ? (long)s - 1 : 0);
  long o = (num >= 0 ? num / (long)s : -((-num + (long)s - 1) / (long)s)) + 1;
  if (ceil && (o - 1) * (long)s >= (long)(in + p)) o--;
  return o;
}

/* the checks of torch's pool2d_shape_check; fills the output sizes */
static bool check_args(const char *op, const tg_tensor *a, int sd, const pool_args *g, size_t *oh,
                       size_t *ow) {
  for (int i = 0; i < 2; i++)
    if (g->p[i] > g->k[i] / 2) {
      tg_error("%s: pad should be at most half of kernel size, but got pad=%zu and kernel_size=%zu",
               op, g->p[i], g->k[i]);
      return false;
    }
  if (!pool_check_input(op, a, sd, -1)) return false;
  size_t ih = sd == 2 ? a->shape[a->ndim - 2] : 1, iw = a->shape[a->ndim - 1];
  long h = out_size(ih, g->k[0], g->s[0], g->p[0], g->d[0], g->ceil);
  long w = out_size(iw, g->k[1], g->s[1], g->p[1], g->d[1], g->ceil);
  if (h < 1 || w < 1) {
    tg_error("%s: Given input size: (%zux%zu). Calculated output size: (%ldx%ld). Output size is "
             "too small", op, ih, iw, h, w);
    return false;
  }
  *oh = (size_t)h, *ow = (size_t)w;
  return true;
}

/* max windows: taps start + j*d inside the input, start moved past the padding */
static void max_axis(pool_win *w, size_t out, size_t in, size_t k, size_t s, size_t p, size_t d) {
  for (size_t o = 0; o < out; o++) {
    long h0 = (long)(o * s) - (long)p, h1 = h0 + (long)((k - 1) * d) + 1;
    if (h1 > (long)in) h1 = (long)in;
    while (h0 < 0) h0 += (long)d;
    long n = h0 < h1 ? (h1 - h0 + (long)d - 1) / (long)d : 0;
    w[o] = (pool_win){(double)h0, (double)n, (double)d, 1, 1, 1};
  }
}

/* average windows: the divisor counts the padding up to in + p when
 * count_include_pad (torch's pool_size), else the taps inside */
static void avg_axis(pool_win *w, size_t out, size_t in, size_t k, size_t s, size_t p, bool incl) {
  for (size_t o = 0; o < out; o++) {
    long h0 = (long)(o * s) - (long)p, h1 = h0 + (long)k;
    if (h1 > (long)(in + p)) h1 = (long)(in + p);
    long size = h1 - h0;
    if (h0 < 0) h0 = 0;
    if (h1 > (long)in) h1 = (long)in;
    long n = h1 > h0 ? h1 - h0 : 0;
    w[o] = (pool_win){(double)h0, (double)n, 1, incl ? (double)size : (double)(n ? n : 1), 1, 1};
  }
}

static tg_tensor *max_pool(const char *op, tg_tensor *a, int sd, const pool_args *g, tg_tensor **indices) {
  if (indices) *indices = NULL;
  size_t oh, ow;
  if (!pool_check_float(op, a) || !check_args(op, a, sd, g, &oh, &ow)) return NULL;
  size_t ih = sd == 2 ? a->shape[a->ndim - 2] : 1, iw = a->shape[a->ndim - 1];
  pool_plan p;
  tg_tensor *plan = pool_plan_new(ih, iw, oh, ow, 0, false, &p);
  if (!plan) return NULL;
  max_axis(p.rows, oh, ih, g->k[0], g->s[0], g->p[0], g->d[0]);
  max_axis(p.cols, ow, iw, g->k[1], g->s[1], g->p[1], g->d[1]);
  return pool_max(a, plan, sd, sd == 2 ? POOL_MAX2D : POOL_MAX1D, indices);
}

/* int64 averages as torch 1.13's: the integer sum divided with truncation, no gradient */
static tg_tensor *avg_int64(tg_tensor *a, const pool_plan *p, int sd) {
  size_t shape[TG_MAX_DIMS], in_plane = p->ih * p->iw;
  int nd = spatial_shape(a, sd, p->oh, p->ow, shape);
  tg_tensor *x = contig(a), *out = x ? tg_empty(TG_INT64, nd, shape) : NULL;
  if (!out) return NULL;
  const int64_t *xp = (const int64_t *)tg_ptr(x);
  int64_t *o = (int64_t *)tg_ptr(out);
  for (size_t pl = 0, planes = in_plane ? a->numel / in_plane : 0; pl < planes; pl++, xp += in_plane)
    for (size_t r = 0; r < p->oh; r++)
      for (size_t c = 0; c < p->ow; c++) {
        const pool_win *R = &p->rows[r], *C = &p->cols[c];
        size_t r0 = (size_t)R->start, c0 = (size_t)C->start, rn = (size_t)R->n, cn = (size_t)C->n;
        int64_t sum = 0;
        for (size_t i = 0; i < rn; i++)
          for (size_t j = 0; j < cn; j++) sum += xp[(r0 + i) * p->iw + c0 + j];
        *o++ = sum / (int64_t)(p->divisor != 0 ? p->divisor : R->div * C->div);
      }
  return out;
}

static tg_tensor *avg_pool(const char *op, tg_tensor *a, int sd, const pool_args *g, bool incl,
                           long divisor) {
  size_t oh, ow;
  bool ints = a && tg_tensor_ok(a, op, 1) && a->dtype == TG_INT64;
  if ((!ints && !pool_check_float(op, a)) || !check_args(op, a, sd, g, &oh, &ow)) return NULL;
  size_t ih = sd == 2 ? a->shape[a->ndim - 2] : 1, iw = a->shape[a->ndim - 1];
  pool_plan p;
  tg_tensor *plan = pool_plan_new(ih, iw, oh, ow, (double)divisor, false, &p);
  if (!plan) return NULL;
  avg_axis(p.rows, oh, ih, g->k[0], g->s[0], g->p[0], incl);
  avg_axis(p.cols, ow, iw, g->k[1], g->s[1], g->p[1], incl);
  if (ints) return avg_int64(a, &p, sd);
  return pool_linear(a, plan, sd, sd == 2 ? POOL_AVG2D : POOL_AVG1D);
}

/* torch's checks of the window parameters (negatives included), then the
 * sizes; 1-d calls pass a height of one row of one tap */
static bool window_args(const char *op, const int64_t k[2], const int64_t s[2], const int64_t p[2],
                        const int64_t d[2], bool ceil, pool_args *g) {
  if (k[0] <= 0 || k[1] <= 0) {
    tg_error("%s: kernel size should be greater than zero, but got kH: %lld kW: %lld", op,
             (long long)k[0], (long long)k[1]);
    return false;
  }
  if (s[0] == 0 || s[1] == 0) {
    tg_error("%s: stride should not be zero", op);
    return false;
  }
  if (s[0] < 0 || s[1] < 0) {
    tg_error("%s: stride should be greater than zero, but got dH: %lld dW: %lld", op, (long long)s[0],
             (long long)s[1]);
    return false;
  }
  if (p[0] < 0 || p[1] < 0) {
    tg_error("%s: pad must be non-negative, but got pad: %lld", op, (long long)(p[0] < 0 ? p[0] : p[1]));
    return false;
  }
  if (d[0] <= 0 || d[1] <= 0) {
    tg_error("%s: dilation should be greater than zero, but got dilationH: %lld dilationW: %lld", op,
             (long long)d[0], (long long)d[1]);
    return false;
  }
  for (int i = 0; i < 2; i++)
    if (k[i] >= (1LL << 31) || s[i] >= (1LL << 31) || p[i] >= (1LL << 31) || d[i] >= (1LL << 31)) {
      tg_error("%s: kernel_size, stride, padding and dilation must be below 2^31", op);
      return false;
    }
  *g = (pool_args){{(size_t)k[0], (size_t)k[1]}, {(size_t)s[0], (size_t)s[1]},
                   {(size_t)p[0], (size_t)p[1]}, {(size_t)d[0], (size_t)d[1]}, ceil};
  return true;
}

/* 2-d arguments: stride NULL = kernel, padding NULL = 0, dilation NULL = 1 */
static bool args_2d(const char *op, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                    const int64_t *dilation, bool ceil, pool_args *g) {
  if (!kernel) {
    tg_error("%s: kernel_size is NULL", op);
    return false;
  }
  const int64_t zero[2] = {0, 0}, one[2] = {1, 1};
  return window_args(op, kernel, stride ? stride : kernel, padding ? padding : zero,
                     dilation ? dilation : one, ceil, g);
}

static bool args_1d(const char *op, int64_t kernel, const int64_t *stride, int64_t padding,
                    int64_t dilation, bool ceil, pool_args *g) {
  return window_args(op, (const int64_t[]){1, kernel}, (const int64_t[]){1, stride ? *stride : kernel},
                     (const int64_t[]){0, padding}, (const int64_t[]){1, dilation}, ceil, g);
}

tg_tensor *tg_max_pool1d(tg_tensor *a, int64_t kernel, const int64_t *stride, int64_t padding,
                         int64_t dilation, bool ceil_mode, tg_tensor **indices) {
  pool_args g;
  if (indices) *indices = NULL;
  if (!args_1d("max_pool1d", kernel, stride, padding, dilation, ceil_mode, &g)) return NULL;
  return max_pool("max_pool1d", a, 1, &g, indices);
}

tg_tensor *tg_max_pool2d(tg_tensor *a, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], const int64_t dilation[2], bool ceil_mode,
                         tg_tensor **indices) {
  pool_args g;
  if (indices) *indices = NULL;
  if (!args_2d("max_pool2d", kernel, stride, padding, dilation, ceil_mode, &g)) return NULL;
  return max_pool("max_pool2d", a, 2, &g, indices);
}

tg_tensor *tg_avg_pool1d(tg_tensor *a, int64_t kernel, const int64_t *stride, int64_t padding,
                         bool ceil_mode, bool count_include_pad) {
  pool_args g;
  if (!args_1d("avg_pool1d", kernel, stride, padding, 1, ceil_mode, &g)) return NULL;
  return avg_pool("avg_pool1d", a, 1, &g, count_include_pad, 0);
}

tg_tensor *tg_avg_pool2d(tg_tensor *a, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], bool ceil_mode, bool count_include_pad,
                         int64_t divisor_override) {
  pool_args g;
  if (!args_2d("avg_pool2d", kernel, stride, padding, NULL, ceil_mode, &g)) return NULL;
  return avg_pool("avg_pool2d", a, 2, &g, count_include_pad, (long)divisor_override);
}
