/* The engine behind pooling and resampling (ops/pool.c): every such op
 * works on planes (all dims but the last one or two, flattened) and is
 * described by a plan, one window per output row and column. Linear ops
 * (average pools, interpolation) apply the plan or its adjoint, and their
 * backward is the other direction, so every derivative is again the same
 * op; max pools pick an argmax per window and move gradients with a
 * gather/scatter pair over those indices. */
#ifndef TG_POOL_INTERNAL_H
#define TG_POOL_INTERNAL_H

#include "ops_internal.h"

/* the taps of one output row (or column): n inputs start, start + step, ...
 * with weights w0, w1 (weighted plans, n <= 2) or 1, and the divisor */
typedef struct pool_win {
  double start, n, step, div, w0, w1;
} pool_win;

typedef struct pool_plan {
  size_t ih, iw, oh, ow;
  double divisor; /* nonzero: every window's sum divided by it (divisor_override) */
  bool weighted;
  pool_win *rows, *cols;
} pool_plan;

/* which public op a node belongs to (its name in the graph) */
typedef enum {
  POOL_AVG1D, POOL_AVG2D, POOL_ADAPTIVE_AVG1D, POOL_ADAPTIVE_AVG2D, POOL_NEAREST1D,
  POOL_NEAREST2D, POOL_LINEAR1D, POOL_BILINEAR2D, POOL_LINEAR_KINDS
} pool_linear_kind;
typedef enum { POOL_MAX1D, POOL_MAX2D, POOL_ADAPTIVE_MAX1D, POOL_ADAPTIVE_MAX2D, POOL_MAX_KINDS } pool_max_kind;

/* a float64 tensor holding the plan; p's rows and cols point into it to be filled */
tg_tensor *pool_plan_new(size_t ih, size_t iw, size_t oh, size_t ow, double divisor, bool weighted,
                         pool_plan *p);
/* a's dims but the last sd (1 or 2) times the plan: out (.., oh, ow) */
tg_tensor *pool_linear(tg_tensor *a, tg_tensor *plan, int sd, pool_linear_kind kind);
/* the max of every window, and its flat index in the plane (int64, into
 * *indices when not NULL) */
tg_tensor *pool_max(tg_tensor *a, tg_tensor *plan, int sd, pool_max_kind kind, tg_tensor **indices);

/* "Expected 3D or 4D ... tensor": a has sd + 1 or sd + 2 dims, none empty
 * from dim `free` on (free < 0: all but a batch dim) */
bool pool_check_input(const char *op, const tg_tensor *a, int sd, int free);
/* float input (int64 refused as "not implemented for 'Long'") */
bool pool_check_float(const char *op, const tg_tensor *a);

#endif
