/* Shared by the convolution family (ops/unfold.c, ops/conv.c): the sliding
 * window geometry and the im2col/col2im ops on checked arguments. */
#ifndef TG_CONV_INTERNAL_H
#define TG_CONV_INTERNAL_H

#include "ops_internal.h"

/* per spatial dim (H, W): kernel, dilation, padding, stride */
typedef struct ops_conv_geom {
  int64_t k[2], d[2], p[2], s[2];
} ops_conv_geom;

/* sliding blocks along spatial dim i of an input of that size (may be <= 0) */
static inline int64_t ops_conv_blocks(const ops_conv_geom *g, int i, int64_t size) {
  int64_t span = size + 2 * g->p[i] - g->d[i] * (g->k[i] - 1) - 1;
  return span < 0 ? 0 : span / g->s[i] + 1;
}

/* the kernels (ops/unfold.c): x (shape xshape, element strides xs) to its
 * columns col (C kH kW rows of ho wo), or with add the columns summed back
 * into x (contiguous) */
void ops_im2col_float(float *x, const ptrdiff_t *xs, float *col, const size_t *xshape,
                      const ops_conv_geom *g, size_t ho, size_t wo, bool add);
void ops_im2col_double(double *x, const ptrdiff_t *xs, double *col, const size_t *xshape,
                       const ops_conv_geom *g, size_t ho, size_t wo, bool add);

/* im2col of a 4-d x (N, C, H, W; any strides, C may be 0) with at least
 * one block each way: (N, C kH kW, L) */
tg_tensor *ops_unfold4(tg_tensor *x, const ops_conv_geom *g);
/* col2im of a 3-d x (N, C kH kW, L) whose L matches out_h, out_w: (N, C, out_h, out_w) */
tg_tensor *ops_fold3(tg_tensor *x, int64_t out_h, int64_t out_w, const ops_conv_geom *g);

/* conv2d of a checked 4-d float x (N, C, H, W) with w (O, C / G, kH, kW)
 * and bias (O) or NULL (ops/conv_gemm.c) */
tg_tensor *ops_conv2d_gemm(tg_tensor *x, tg_tensor *w, tg_tensor *b, const ops_conv_geom *g, size_t G);
/* ops/conv_direct.c: from this many output channels the forward puts the
 * channels in the vector lanes; below it (where lanes would idle) it reads
 * the plane "wide", at stride 1 only, and has a weight-gradient kernel */
#define CONV_DIRECT_MIN_O 12
/* y (N, O, ho, wo, allocated) = conv2d of x by the contiguous w (+ b) by
 * the direct kernel; false (y untouched) where it does not take the case or
 * the kernels are off (ops/conv_isa.c: on by default where the CPU has
 * AVX2 + FMA or AVX-512; TG_CONV_DIRECT 1 / 0 forces them on / off,
 * TG_CONV_ISA=avx512|avx2|generic picks a variant) */
bool ops_conv2d_direct(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, tg_tensor *y,
                       const ops_conv_geom *g, size_t G);
/* dw (w's shape) = the weight's gradient of conv2d(x, w) (groups 1) for
 * the contiguous output gradient g, without columns; NULL where the direct
 * kernels do not take the case (the forward's wide kernel's: fewer than
 * CONV_DIRECT_MIN_O channels, stride 1, float32) or out of memory */
tg_tensor *ops_conv2d_direct_dw(const tg_tensor *x, const tg_tensor *g, const tg_tensor *w,
                                const ops_conv_geom *geo);
/* the kernels of ops/conv_direct.c as compiled for one instruction set
 * (ops/meson.build), without the on/off switch; avx2 and avx512 give the
 * same bits */
#define CONV_DIRECT_VARIANT(isa)                                                                    \
  bool ops_conv2d_direct_##isa(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, tg_tensor *y, \
                               const ops_conv_geom *g, size_t G);                                  \
  tg_tensor *ops_conv2d_direct_dw_##isa(const tg_tensor *x, const tg_tensor *g, const tg_tensor *w,  \
                                        const ops_conv_geom *geo);
CONV_DIRECT_VARIANT(generic)
#if defined(__x86_64__) || defined(__i386__)
CONV_DIRECT_VARIANT(avx2)
CONV_DIRECT_VARIANT(avx512)
#endif
/* conv_transpose2d of a checked 4-d float x (N, C_in, H, W) with w (C_in,
 * C_out / G, kH, kW) to (N, C_out, out_h, out_w), where col2im's blocks of
 * that size are x's H x W positions (ops/conv_gemm.c) */
tg_tensor *ops_conv_transpose2d_gemm(tg_tensor *x, tg_tensor *w, tg_tensor *b, const ops_conv_geom *g,
                                     size_t G, int64_t out_h, int64_t out_w);

#endif
