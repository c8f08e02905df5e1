/* conv2d's float32 kernels for groups 1 without im2col columns or BLAS
 * calls (ops_conv2d_gemm and its fused backward call them first):
 *  - 12+ output channels (CONV_DIRECT_MIN_O): the output channels are the
 *    vector lanes (VL a vector, the weight packed as wt[k][o] with
 *    k = (c kH + i) kW + j), a tile up to 12 positions of one output row,
 *    each an accumulator vector, every tap one weight vector times a
 *    broadcast input element (any stride, dilation, padding);
 *  - fewer channels, stride 1: the "wide" kernel below (VL positions a
 *    vector), and the weight's gradient by the same reading;
 *  - the input gradient of a stride-1 conv is either kernel run on the
 *    padded output gradient (ops/conv_gemm.c).
 * Small products such as LeNet's conv2 (16 x 100 x 150 per item) are where
 * a per-item GEMM spends its time packing; here the only copy is the padded
 * input plane.
 *
 * This file is compiled once per instruction set (ops/meson.build): with
 * CONV_ISA=avx512 and CONV_VL=16, avx2 (+ FMA) and 8, generic (the
 * compiler's baseline, SSE2 on x86-64) and 4, so that a tile's
 * accumulators fit the registers of each (32 zmm, 16 ymm, 16 xmm);
 * ops/conv_isa.c picks one at run time. Every variant computes each output
 * element by the same operations in the same order: the lane count only
 * decides which elements share a vector, and the weight gradient's
 * accumulators are 16 lanes in every variant (pairs or quadruples of
 * registers below AVX-512), summed across in the same order. The avx2 and
 * avx512 builds fuse each multiply-add (-ffp-contract=fast: conv2's input
 * gradient in 0.8x the time), so those two give the same bits; the generic
 * one rounds the products separately and differs in the last bits. */
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"

#ifndef CONV_ISA
#define CONV_ISA generic
#endif
#ifndef CONV_VL
#define CONV_VL 4
#endif
#define ISA_CAT_(a, b) a##_##b
#define ISA_CAT(a, b) ISA_CAT_(a, b)
#define ISA_FN(name) ISA_CAT(name, CONV_ISA)

#define VL CONV_VL /* lanes: the output channels (or positions) of one vector */
#define TILE 12 /* output positions a tile (accumulators in registers) */
#define WIDE_PV 4 /* the wide kernel's most vectors of positions a tile (wide_acc4's 4) */

typedef float vec __attribute__((vector_size(VL * sizeof(float))));
/* the weight gradient's accumulators: 16 lanes whatever VL is (same bits) */
#define DW_VL 16
/* its tile, output channels by taps, sized to the registers: DW_OB DW_TB
 * accumulators of DW_VL / VL registers each, plus the loaded vectors;
 * its loop runs over the DW_VL / VL registers inside, so fewer are live */
#if CONV_VL >= 16
#define DW_OB 2
#define DW_TB 5
#elif CONV_VL >= 8
#define DW_OB 2
#define DW_TB 3
#else
#define DW_OB 1
#define DW_TB 3
#endif

typedef struct direct_job {
  const tg_tensor *x;
  const float *wt, *bias; /* wt (K, opad); bias (opad), zeros past O */
  float *y, *pad; /* pad: per part a padded input (C, hp, wp) + slack, or NULL */
  const float *w; /* (O, K), for the wide kernel */
  float *wide; /* per part the wide output (O, ho wp) + slack (wide kernel) */
  const ops_conv_geom *g;
  size_t C, O, opad, K, ho, wo, hp, wp, plane_elems, wide_elems;
} direct_job;

/* tile[p] = bias + sum over taps of wt[k] * x[k's tap at position p]; xr is
 * the input at the tile's first position, s1 the step between positions */
static inline __attribute__((always_inline)) void tile_acc(const direct_job *j, const float *xr, const float *wt,
                                                         const float *bias, size_t s1, float *out, const int P) {
  vec acc[TILE];
  for (int p = 0; p < P; p++) memcpy(&acc[p], bias, sizeof(vec));
  size_t plane = j->hp * j->wp, kh = (size_t)j->g->k[0], kw = (size_t)j->g->k[1];
  size_t d0 = (size_t)j->g->d[0] * j->wp, d1 = (size_t)j->g->d[1];
  for (size_t c = 0; c < j->C; c++)
    for (size_t i = 0; i < kh; i++) {
      const float *xi = xr + c * plane + i * d0;
      const float *wk = wt + (c * kh + i) * kw * j->opad;
      for (size_t t = 0; t < kw; t++, wk += j->opad) {
        vec wv;
        memcpy(&wv, wk, sizeof wv);
        const float *xt = xi + t * d1;
        for (int p = 0; p < P; p++) acc[p] += wv * xt[(size_t)p * s1];
      }
    }
  for (int p = 0; p < P; p++) memcpy(out + p * VL, &acc[p], sizeof(vec));
}

/* one tile of P positions, specialised for unit stride (the common case) */
#define TILE_CASE(P)                                                           \
  case P:                                                                      \
    if (s1 == 1) tile_acc(j, xr, wt, bias, 1, out, P);                         \
    else tile_acc(j, xr, wt, bias, s1, out, P);                                \
    break;
static void tile_run(const direct_job *j, const float *xr, const float *wt, const float *bias, size_t s1,
                     float *out, size_t np) {
  switch (np) {
    TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
    TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
    default: break;
  }
}

/* x[n] (C, H, W; any strides) into the zero-padded plane pad (C, hp, wp) */
static const float *padded(const direct_job *j, size_t n, float *pad) {
  const tg_tensor *x = j->x;
  const float *xn = (const float *)tg_ptr(x) + (ptrdiff_t)n * x->strides[0];
  size_t H = x->shape[2], W = x->shape[3], p0 = (size_t)j->g->p[0], p1 = (size_t)j->g->p[1];
  if (!pad) return xn; /* contiguous, no padding: x is its own plane */
  for (size_t c = 0; c < j->C; c++) {
    float *pc = pad + c * j->hp * j->wp;
    memset(pc, 0, p0 * j->wp * sizeof *pc);
    for (size_t h = 0; h < H; h++) {
      float *row = pc + (p0 + h) * j->wp;
      const float *xr = xn + (ptrdiff_t)c * x->strides[1] + (ptrdiff_t)h * x->strides[2];
      memset(row, 0, p1 * sizeof *row);
      for (size_t w = 0; w < W; w++) row[p1 + w] = xr[(ptrdiff_t)w * x->strides[3]];
      memset(row + p1 + W, 0, (j->wp - p1 - W) * sizeof *row);
    }
    memset(pc + (p0 + H) * j->wp, 0, (j->hp - p0 - H) * j->wp * sizeof *pc);
  }
  return pad;
}

/* batch items [lo, hi) of one part: y[n, o, oh, ow] from tiles of
 * (VL channels) x (up to 12 positions of a row) */
static void direct_part(void *arg, int part, int n_parts) {
  const direct_job *j = arg;
  size_t N = j->x->shape[0], lo = N * (size_t)part / (size_t)n_parts, hi = N * (size_t)(part + 1) / (size_t)n_parts;
  float *pad = j->pad ? j->pad + (size_t)part * j->plane_elems : NULL;
  size_t s0 = (size_t)j->g->s[0], s1 = (size_t)j->g->s[1], L = j->ho * j->wo;
  float out[TILE * VL];
  for (size_t n = lo; n < hi; n++) {
    const float *xp = padded(j, n, pad);
    float *yn = j->y + n * j->O * L;
    for (size_t ob = 0; ob < j->opad; ob += VL) {
      size_t on = j->O - ob < VL ? j->O - ob : VL;
      for (size_t oh = 0; oh < j->ho; oh++)
        for (size_t ow = 0; ow < j->wo; ow += TILE) {
          size_t np = j->wo - ow < TILE ? j->wo - ow : TILE;
          tile_run(j, xp + oh * s0 * j->wp + ow * s1, j->wt + ob, j->bias + ob, s1, out, np);
          float *yt = yn + ob * L + oh * j->wo + ow; /* out is (np, VL): y's channels strided by L */
          for (size_t o = 0; o < on; o++)
            for (size_t p = 0; p < np; p++) yt[o * L + p] = out[p * VL + o];
        }
    }
  }
}

/* ---- the wide kernel, for few output channels and stride 1: the output
 * computed at every column of the padded width wp (the columns past wo
 * thrown away), so that a position l = oh wp + ow reads the padded plane at
 * l + (i d0) wp + j d1 for every tap and consecutive positions are
 * consecutive floats: the lanes are VL positions, a tile 2 vectors by up to
 * 6 output channels (WIDE_PV vectors for 1 or 2), each tap one broadcast
 * weight per channel. */
/* up to MO channels by PV vectors */
#define WIDE_ACC(NAME, MO, PV)                                                 \
  static inline __attribute__((always_inline)) void NAME(const direct_job *j, const float *xp, const float *w, \
                                                         size_t l, size_t o0, float *out, const int OB) { \
    vec acc[MO][PV];                                                           \
    for (int o = 0; o < OB; o++)                                               \
      for (int v = 0; v < PV; v++) acc[o][v] = (vec){0};                       \
    size_t plane = j->hp * j->wp, kh = (size_t)j->g->k[0], kw = (size_t)j->g->k[1]; \
    size_t d0 = (size_t)j->g->d[0] * j->wp, d1 = (size_t)j->g->d[1];          \
    for (size_t c = 0; c < j->C; c++)                                          \
      for (size_t i = 0; i < kh; i++)                                          \
        for (size_t t = 0; t < kw; t++) {                                      \
          const float *xt = xp + c * plane + i * d0 + t * d1 + l;              \
          size_t k = (c * kh + i) * kw + t;                                    \
          vec xv[PV];                                                          \
          for (int v = 0; v < PV; v++) memcpy(&xv[v], xt + v * VL, sizeof(vec)); \
          for (int o = 0; o < OB; o++) {                                       \
            float wv = w[(o0 + (size_t)o) * j->K + k];                         \
            for (int v = 0; v < PV; v++) acc[o][v] += xv[v] * wv;              \
          }                                                                    \
        }                                                                      \
    size_t L = j->ho * j->wp + WIDE_PV * VL;                                   \
    for (int o = 0; o < OB; o++)                                               \
      for (int v = 0; v < PV; v++)                                             \
        memcpy(out + (o0 + (size_t)o) * L + l + (size_t)v * VL, &acc[o][v], sizeof(vec)); \
  }
WIDE_ACC(wide_acc2, 6, 2)

/* 1 or 2 channels by 4 vectors, the accumulators named: as an array GCC
 * kept them on the stack in the AVX2 build (conv1's input gradient 7x
 * slower) */
static inline __attribute__((always_inline)) void wide_acc4(const direct_job *j, const float *xp, const float *w,
                                                          size_t l, size_t o0, float *out, const int OB) {
  vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
  size_t plane = j->hp * j->wp, kh = (size_t)j->g->k[0], kw = (size_t)j->g->k[1];
  size_t d0 = (size_t)j->g->d[0] * j->wp, d1 = (size_t)j->g->d[1];
  const float *w0 = w + o0 * j->K, *w1 = w0 + (OB > 1 ? j->K : 0);
  for (size_t c = 0; c < j->C; c++)
    for (size_t i = 0; i < kh; i++)
      for (size_t t = 0; t < kw; t++) {
        const float *xt = xp + c * plane + i * d0 + t * d1 + l;
        size_t k = (c * kh + i) * kw + t;
        vec x0, x1, x2, x3;
        memcpy(&x0, xt, sizeof x0);
        memcpy(&x1, xt + VL, sizeof x1);
        memcpy(&x2, xt + 2 * VL, sizeof x2);
        memcpy(&x3, xt + 3 * VL, sizeof x3);
        float u = w0[k];
        a0 += x0 * u, a1 += x1 * u, a2 += x2 * u, a3 += x3 * u;
        if (OB > 1) {
          float v = w1[k];
          b0 += x0 * v, b1 += x1 * v, b2 += x2 * v, b3 += x3 * v;
        }
      }
  float *y = out + o0 * (j->ho * j->wp + WIDE_PV * VL) + l;
  memcpy(y, &a0, sizeof a0);
  memcpy(y + VL, &a1, sizeof a1);
  memcpy(y + 2 * VL, &a2, sizeof a2);
  memcpy(y + 3 * VL, &a3, sizeof a3);
  if (OB > 1) {
    y += j->ho * j->wp + WIDE_PV * VL;
    memcpy(y, &b0, sizeof b0);
    memcpy(y + VL, &b1, sizeof b1);
    memcpy(y + 2 * VL, &b2, sizeof b2);
    memcpy(y + 3 * VL, &b3, sizeof b3);
  }
}

/* up to 6 channels by 2 vectors; 1 or 2 channels by WIDE_PV vectors, so
 * that enough independent sums are in flight to hide the add latency */
#define WIDE_CASE(B, PV)                                                       \
  case B:                                                                      \
    for (size_t l = 0; l < Lw; l += PV * VL) wide_acc##PV(j, xp, j->w, l, o0, out, B); \
    break;
static void wide_item(const direct_job *j, const float *xp, float *out) {
  size_t Lw = j->ho * j->wp;
  for (size_t o0 = 0; o0 < j->O; o0 += 6) {
    size_t ob = j->O - o0 < 6 ? j->O - o0 : 6;
    switch (ob) {
      WIDE_CASE(1, 4) WIDE_CASE(2, 4) WIDE_CASE(3, 2) WIDE_CASE(4, 2) WIDE_CASE(5, 2) WIDE_CASE(6, 2)
      default: break;
    }
  }
}

static void wide_part(void *arg, int part, int n_parts) {
  const direct_job *j = arg;
  size_t N = j->x->shape[0], lo = N * (size_t)part / (size_t)n_parts, hi = N * (size_t)(part + 1) / (size_t)n_parts;
  float *pad = j->pad + (size_t)part * j->plane_elems, *out = j->wide + (size_t)part * j->wide_elems;
  size_t L = j->ho * j->wo, Lw = j->ho * j->wp + WIDE_PV * VL;
  const float *bias = j->bias;
  for (size_t n = lo; n < hi; n++) {
    const float *xp = padded(j, n, pad);
    wide_item(j, xp, out);
    float *yn = j->y + n * j->O * L;
    for (size_t o = 0; o < j->O; o++)
      for (size_t oh = 0; oh < j->ho; oh++) {
        const float *src = out + o * Lw + oh * j->wp;
        float *dst = yn + o * L + oh * j->wo;
        for (size_t ow = 0; ow < j->wo; ow++) dst[ow] = src[ow] + bias[o];
      }
  }
}

/* below this many flops one thread (conv_gemm.c's rule) */
#define DIRECT_SPLIT_MIN_FLOP 4e6

bool ISA_FN(ops_conv2d_direct)(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, tg_tensor *y,
                       const ops_conv_geom *g, size_t G) {
  size_t N = x->shape[0], C = x->shape[1], O = w->shape[0];
  if (x->dtype != TG_FLOAT32 || G != 1 || !N || !C || !tg_contiguous_(w))
    return false;
  direct_job j = {.x = x, .g = g, .y = (float *)tg_ptr(y), .C = C, .O = O, .ho = y->shape[2], .wo = y->shape[3]};
  j.opad = (O + VL - 1) / VL * VL;
  j.K = C * (size_t)g->k[0] * (size_t)g->k[1];
  j.hp = x->shape[2] + 2 * (size_t)g->p[0];
  j.wp = x->shape[3] + 2 * (size_t)g->p[1];
  /* the wide kernel reads past the plane's last row: always its own copy */
  bool wide = O < CONV_DIRECT_MIN_O && g->s[0] == 1 && g->s[1] == 1;
  bool own_plane = wide || g->p[0] || g->p[1] || !tg_contiguous_(x);
  size_t L = j.ho * j.wo;
  int parts = 1, threads = ops_blas_threads();
  if (2.0 * (double)N * (double)O * (double)j.K * (double)L >= DIRECT_SPLIT_MIN_FLOP)
    parts = threads < (int)N ? threads : (int)N;
  if (parts < 1) parts = 1;
  /* slack past the plane: the wide kernel's last tile reads up to WIDE_PV
   * VL positions past the last row, at taps up to wp - 1 to the right */
  size_t slack = wide ? WIDE_PV * VL + j.wp : 0, plane = own_plane ? C * j.hp * j.wp + slack : 0;
  j.plane_elems = plane;
  j.wide_elems = wide ? O * (j.ho * j.wp + WIDE_PV * VL) : 0;
  size_t elems = (j.K + 1) * j.opad + (size_t)parts * (plane + j.wide_elems);
  float *scratch = tg_pool_alloc(elems * sizeof(float));
  if (!scratch) return false; /* the GEMM path reports it */
  /* wt[k][o] = w[o][k], zero past O; then the bias row */
  float *wt = scratch, *bias = scratch + j.K * j.opad;
  const float *wp = (const float *)tg_ptr(w);
  memset(wt, 0, (j.K + 1) * j.opad * sizeof *wt);
  for (size_t o = 0; o < O; o++)
    for (size_t k = 0; k < j.K; k++) wt[k * j.opad + o] = wp[o * j.K + k];
  for (size_t o = 0; b && o < O; o++) bias[o] = ((const float *)tg_ptr(b))[(ptrdiff_t)o * b->strides[0]];
  j.wt = wt, j.bias = bias, j.pad = plane ? bias + j.opad : NULL, j.w = wp;
  j.wide = wide ? j.pad + (size_t)parts * plane : NULL;
  /* the slack is read by lanes thrown away: zeros, never uninitialised */
  for (int p = 0; wide && p < parts; p++)
    memset(j.pad + (size_t)p * plane + C * j.hp * j.wp, 0, slack * sizeof(float));
  tg_part_fn fn = wide ? wide_part : direct_part;
  if (parts > 1) tg_parallel_run(parts, fn, &j);
  else fn(&j, 0, 1);
  tg_pool_free(scratch);
  return true;
}

/* ---- the weight's gradient of the wide case, without columns: with g
 * laid out wide (gw[o][oh wp + ow], zeros past wo), dw[o][(c kH + i) kW + t]
 * is the dot product of gw[o] with the padded plane of channel c shifted by
 * (i d0) wp + t d1, over all wide positions and items. A tile is up to 2
 * output channels by up to 5 taps of one kernel row, one accumulator vector
 * each, summed across lanes at the end of a row of taps. */
typedef struct dw_job {
  direct_job d;
  const float *g; /* (N, O, ho, wo) contiguous */
  const float *gw;
  float *acc; /* per part: the wide gradient (O, lw16), and its dw (O, K) */
  size_t lw16; /* wide positions rounded up to whole vectors */
} dw_job;

/* the DW_VL lanes of an accumulator as DW_VL / VL vectors of the variant's
 * width (a wider generic vector type, GCC lowers through memory) */
#define DW_NV (DW_VL / VL)
static inline __attribute__((always_inline)) void dw_acc(const dw_job *j, const float *xi, size_t o0, size_t t0,
                                                       float *dw, const int OB, const int TB) {
  const direct_job *d = &j->d;
  vec acc[DW_OB][DW_TB][DW_NV];
  for (int o = 0; o < OB; o++)
    for (int t = 0; t < TB; t++)
      for (int u = 0; u < DW_NV; u++) acc[o][t][u] = (vec){0};
  size_t d1 = (size_t)d->g->d[1];
  for (size_t l = 0; l < j->lw16; l += DW_VL)
    for (int u = 0; u < DW_NV; u++) {
      vec gv[DW_OB], xv;
      size_t lu = l + (size_t)u * VL;
      for (int o = 0; o < OB; o++) memcpy(&gv[o], j->gw + (o0 + (size_t)o) * j->lw16 + lu, sizeof(vec));
      for (int t = 0; t < TB; t++) {
        memcpy(&xv, xi + (t0 + (size_t)t) * d1 + lu, sizeof xv);
        for (int o = 0; o < OB; o++) acc[o][t][u] += gv[o] * xv;
      }
    }
  for (int o = 0; o < OB; o++)
    for (int t = 0; t < TB; t++) {
      float s = 0;
      for (int v = 0; v < DW_VL; v++) s += acc[o][t][v / VL][v % VL];
      dw[(o0 + (size_t)o) * d->K + t0 + (size_t)t] += s;
    }
}

#define DW_CASE(OB, TB)                                                        \
  case TB:                                                                     \
    dw_acc(j, xi, o0, t0, dw, OB, TB);                                         \
    break;
#if DW_TB == 5
#define DW_CASES(OB) DW_CASE(OB, 1) DW_CASE(OB, 2) DW_CASE(OB, 3) DW_CASE(OB, 4) DW_CASE(OB, 5)
#else
#define DW_CASES(OB) DW_CASE(OB, 1) DW_CASE(OB, 2) DW_CASE(OB, 3)
#endif
#define DW_SWITCH(OB)                                                          \
  switch (tb) {                                                                \
    DW_CASES(OB)                                                               \
    default: break;                                                            \
  }
/* dw (O, K) += one item's contribution, from its padded plane xp */
static void dw_item(const dw_job *j, const float *xp, float *dwk) {
  const direct_job *d = &j->d;
  size_t kh = (size_t)d->g->k[0], kw = (size_t)d->g->k[1], plane = d->hp * d->wp;
  for (size_t c = 0; c < d->C; c++)
    for (size_t i = 0; i < kh; i++) {
      const float *xi = xp + c * plane + i * (size_t)d->g->d[0] * d->wp;
      float *dw = dwk + (c * kh + i) * kw; /* the taps of this kernel row */
      for (size_t o0 = 0; o0 < d->O; o0 += DW_OB)
        for (size_t t0 = 0; t0 < kw; t0 += DW_TB) {
          size_t tb = kw - t0 < DW_TB ? kw - t0 : DW_TB;
#if DW_OB == 2
          if (d->O - o0 >= 2) DW_SWITCH(2) else DW_SWITCH(1)
#else
          DW_SWITCH(1)
#endif
        }
    }
}

static void dw_part(void *arg, int part, int n_parts) {
  const dw_job *j = arg;
  const direct_job *d = &j->d;
  size_t N = d->x->shape[0], lo = N * (size_t)part / (size_t)n_parts, hi = N * (size_t)(part + 1) / (size_t)n_parts;
  float *pad = d->pad + (size_t)part * d->plane_elems;
  float *gw = (float *)j->gw + (size_t)part * d->O * j->lw16, *acc = j->acc + (size_t)part * d->O * d->K;
  size_t L = d->ho * d->wo;
  memset(gw, 0, d->O * j->lw16 * sizeof *gw); /* the columns past wo stay 0 */
  memset(acc, 0, d->O * d->K * sizeof *acc);
  dw_job mine = *j;
  mine.gw = gw;
  for (size_t n = lo; n < hi; n++) {
    const float *xp = padded(d, n, pad);
    for (size_t o = 0; o < d->O; o++)
      for (size_t oh = 0; oh < d->ho; oh++)
        memcpy(gw + o * j->lw16 + oh * d->wp, j->g + (n * d->O + o) * L + oh * d->wo, d->wo * sizeof *gw);
    dw_item(&mine, xp, acc);
  }
}

tg_tensor *ISA_FN(ops_conv2d_direct_dw)(const tg_tensor *x, const tg_tensor *g, const tg_tensor *w,
                                const ops_conv_geom *geo) {
  size_t N = x->shape[0], C = x->shape[1], O = w->shape[0];
  if (x->dtype != TG_FLOAT32 || !N || !C || w->shape[1] != C || O >= CONV_DIRECT_MIN_O ||
      geo->s[0] != 1 || geo->s[1] != 1 || !tg_contiguous_(g))
    return NULL;
  tg_tensor *dw = tg_empty(TG_FLOAT32, 4, w->shape);
  if (!dw) return NULL;
  dw_job j = {.d = {.x = x, .g = geo, .C = C, .O = O, .ho = g->shape[2], .wo = g->shape[3]}, .g = (const float *)tg_ptr(g)};
  direct_job *d = &j.d;
  d->K = C * (size_t)geo->k[0] * (size_t)geo->k[1];
  d->hp = x->shape[2] + 2 * (size_t)geo->p[0];
  d->wp = x->shape[3] + 2 * (size_t)geo->p[1];
  j.lw16 = (d->ho * d->wp + DW_VL - 1) / DW_VL * DW_VL;
  /* slack: a vector past the last wide position, at taps up to wp - 1 */
  size_t slack = 2 * DW_VL + d->wp, plane = C * d->hp * d->wp + slack;
  d->plane_elems = plane;
  int parts = 1, threads = ops_blas_threads();
  if (2.0 * (double)N * (double)O * (double)d->K * (double)(d->ho * d->wo) >= DIRECT_SPLIT_MIN_FLOP)
    parts = threads < (int)N ? threads : (int)N;
  if (parts < 1) parts = 1;
  size_t per = plane + O * j.lw16 + O * d->K;
  float *scratch = tg_pool_alloc((size_t)parts * per * sizeof(float));
  if (!scratch) return NULL;
  d->pad = scratch;
  j.gw = scratch + (size_t)parts * plane;
  j.acc = (float *)j.gw + (size_t)parts * O * j.lw16;
  for (int p = 0; p < parts; p++) memset(d->pad + (size_t)p * plane + C * d->hp * d->wp, 0, slack * sizeof(float));
  if (parts > 1) tg_parallel_run(parts, dw_part, &j);
  else dw_part(&j, 0, 1);
  float *out = (float *)tg_ptr(dw); /* the parts' sums, in part order */
  for (size_t e = 0; e < O * d->K; e++) {
    float s = 0;
    for (int p = 0; p < parts; p++) s += j.acc[(size_t)p * O * d->K + e];
    out[e] = s;
  }
  tg_pool_free(scratch);
  return dw;
}
