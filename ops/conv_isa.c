/* Which build of ops/conv_direct.c runs: the kernel file is compiled once
 * per instruction set (ops/meson.build), so the default portable build has
 * the AVX-512 and AVX2 kernels too and picks one here, once, by what the CPU
 * runs. Their 16- and 8-lane tiles fit the registers of those sets; the
 * generic build (the compiler's baseline, SSE2 on x86-64) has 4-lane tiles
 * and is off by default, where im2col + OpenBLAS (which picks its own
 * kernels at run time) is the faster path. avx2 and avx512 give the same
 * bits (both fuse multiply-adds); generic and im2col differ from them, and
 * from each other, in the last bits.
 *   TG_CONV_DIRECT=0 / 1  the direct kernels off / on (on: the best variant)
 *   TG_CONV_ISA=avx512|avx2|generic  that variant, and the kernels on
 *     (unless TG_CONV_DIRECT=0); one the CPU cannot run, or an unknown
 *     name, is said on stderr and the best one taken instead. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"

typedef bool (*direct_fn)(const tg_tensor *, const tg_tensor *, const tg_tensor *, tg_tensor *,
                          const ops_conv_geom *, size_t);
typedef tg_tensor *(*direct_dw_fn)(const tg_tensor *, const tg_tensor *, const tg_tensor *,
                                   const ops_conv_geom *);

typedef struct conv_isa {
  const char *name;
  direct_fn fwd;
  direct_dw_fn dw;
  bool by_default; /* on without TG_CONV_DIRECT / TG_CONV_ISA */
} conv_isa;

/* best first */
static const conv_isa isas[] = {
#if defined(__x86_64__) || defined(__i386__)
    {"avx512", ops_conv2d_direct_avx512, ops_conv2d_direct_dw_avx512, true},
    {"avx2", ops_conv2d_direct_avx2, ops_conv2d_direct_dw_avx2, true},
#endif
    {"generic", ops_conv2d_direct_generic, ops_conv2d_direct_dw_generic, false},
};
#define N_ISAS (sizeof isas / sizeof isas[0])

static bool cpu_runs(const conv_isa *v) {
#if defined(__x86_64__) || defined(__i386__)
  if (!strcmp(v->name, "avx512")) return __builtin_cpu_supports("avx512f");
  if (!strcmp(v->name, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return true;
}

static struct {
  pthread_once_t once;
  const conv_isa *isa; /* NULL: the kernels off */
} sel = {.once = PTHREAD_ONCE_INIT};

static void conv_isa_pick(void) {
  const conv_isa *best = NULL, *named = NULL;
  for (size_t i = 0; i < N_ISAS && !best; i++)
    if (cpu_runs(&isas[i])) best = &isas[i];
  const char *want = getenv("TG_CONV_ISA"), *direct = getenv("TG_CONV_DIRECT");
  if (want && *want) {
    for (size_t i = 0; i < N_ISAS; i++)
      if (!strcmp(want, isas[i].name)) named = &isas[i];
    if (!named || !cpu_runs(named))
      fprintf(stderr, "tapegrad: TG_CONV_ISA=%s %s; using %s\n", want,
              named ? "is not supported by this CPU" : "is not one of avx512, avx2, generic", best->name);
    else best = named;
  }
  bool on = direct && !strcmp(direct, "1") ? true
            : direct && !strcmp(direct, "0") ? false
                                             : named || best->by_default;
  sel.isa = on ? best : NULL;
}

static const conv_isa *conv_isa_get(void) {
  pthread_once(&sel.once, conv_isa_pick);
  return sel.isa;
}

bool ops_conv2d_direct(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, tg_tensor *y,
                       const ops_conv_geom *g, size_t G) {
  const conv_isa *v = conv_isa_get();
  return v && v->fwd(x, w, b, y, g, G);
}

tg_tensor *ops_conv2d_direct_dw(const tg_tensor *x, const tg_tensor *g, const tg_tensor *w,
                                const ops_conv_geom *geo) {
  const conv_isa *v = conv_isa_get();
  return v ? v->dw(x, g, w, geo) : NULL;
}
