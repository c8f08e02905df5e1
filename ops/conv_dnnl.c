/* conv2d's float32 forward through oneDNN (Debian's libdnnl 2.6, the
 * version PyTorch 1.13 calls), built with -Ddnnl=auto|enabled. At LeNet's
 * shapes (bench/RESULTS.md "oneDNN"): its direct AVX-512 kernel in
 * blocked layouts does conv2's forward faster than im2col + OpenBLAS,
 * the reorders to and from NCHW included; ops/conv_direct.c's kernels are
 * faster still and go first, so this runs only where they are off
 * (TG_CONV_DIRECT=0) or do not take the case. ops_conv2d_gemm calls it only
 * where no columns are kept for a weight gradient (inference, frozen
 * weights): in a training step the backward then rebuilt the columns and
 * the step was no faster, and each execute call mallocs inside oneDNN,
 * which a steady step must not. Its backward kernels did not win clearly,
 * so the backward stays im2col. It runs on one thread (see below) and
 * takes more than one input channel. One cache entry per shape holds the
 * primitives, the blocked buffers and the scratchpad (created once);
 * TG_DNNL=0 in the environment turns the backend off (for A/B runs). */
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"

void omp_set_num_threads(int n); /* libgomp: oneDNN's threads (its CPU runtime is OpenMP) */

#define DNNL_CACHE_SIZE 16

typedef struct dnnl_key {
  int64_t n, c, h, w, o, k[2], d[2], p[2], s[2], bias; /* no padding bytes: compared by memcmp */
} dnnl_key;

typedef struct dnnl_entry {
  dnnl_key key;
  bool ok; /* creation succeeded; a failed shape stays im2col */
  dnnl_primitive_t conv, rx, rw, ry; /* the reorders NULL where the layout is already plain */
  dnnl_memory_t ux, uw, ub, uy; /* the caller's plain buffers (handles set per call) */
  dnnl_memory_t ix, iw, iy; /* the primitive's layouts (= the plain ones where no reorder) */
  dnnl_memory_t pad; /* the convolution's scratchpad, or NULL */
} dnnl_entry;

static struct {
  pthread_mutex_t lock;
  int state; /* 0 untried, 1 usable, -1 off (TG_DNNL=0 or no engine) */
  dnnl_engine_t eng;
  dnnl_stream_t st;
  dnnl_entry e[DNNL_CACHE_SIZE];
  int used;
} dn = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void entry_destroy(dnnl_entry *e) {
  dnnl_primitive_t p[] = {e->conv, e->rx, e->rw, e->ry};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
    if (p[i]) dnnl_primitive_destroy(p[i]);
  dnnl_memory_t m[] = {e->ux, e->uw, e->ub, e->uy, e->ix, e->iw, e->iy, e->pad};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) /* ix etc. may alias ux etc. */
    if (m[i] && (i < 4 || (m[i] != e->ux && m[i] != e->uw && m[i] != e->uy))) dnnl_memory_destroy(m[i]);
  memset(e, 0, sizeof *e);
}

/* at exit, so that leak checkers see the cache returned */
__attribute__((destructor)) static void dnnl_cache_free(void) {
  for (int i = 0; i < dn.used; i++) entry_destroy(&dn.e[i]);
  if (dn.st) dnnl_stream_destroy(dn.st);
  if (dn.eng) dnnl_engine_destroy(dn.eng);
  dn.used = 0, dn.st = NULL, dn.eng = NULL;
}

/* the primitive's layout md: the plain memory itself, or a new buffer and a
 * reorder between it and the plain one (to it for inputs, from it for dst) */
static bool layout(const dnnl_memory_desc_t *want, dnnl_memory_t user, bool to_want, dnnl_memory_t *mem,
                   dnnl_primitive_t *reorder) {
  const dnnl_memory_desc_t *have;
  if (dnnl_memory_get_memory_desc(user, &have) != dnnl_success) return false;
  if (dnnl_memory_desc_equal(want, have)) {
    *mem = user;
    return true;
  }
  dnnl_primitive_desc_t rpd;
  if (dnnl_memory_create(mem, want, dn.eng, DNNL_MEMORY_ALLOCATE) != dnnl_success) return false;
  if (dnnl_reorder_primitive_desc_create(&rpd, to_want ? have : want, dn.eng, to_want ? want : have, dn.eng,
                                         NULL) != dnnl_success)
    return false;
  /* a reorder that wants a scratchpad would allocate it per call */
  const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(rpd, dnnl_query_scratchpad_md, 0);
  bool ok = (!sp || !dnnl_memory_desc_get_size(sp)) && dnnl_primitive_create(reorder, rpd) == dnnl_success;
  dnnl_primitive_desc_destroy(rpd);
  return ok;
}

static bool scratchpad(const_dnnl_primitive_desc_t pd, dnnl_memory_t *pad) {
  const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  if (!sp || !dnnl_memory_desc_get_size(sp)) return true;
  return dnnl_memory_create(pad, sp, dn.eng, DNNL_MEMORY_ALLOCATE) == dnnl_success;
}

static bool entry_create(dnnl_entry *e, const dnnl_key *k) {
  ops_conv_geom g = {{k->k[0], k->k[1]}, {k->d[0], k->d[1]}, {k->p[0], k->p[1]}, {k->s[0], k->s[1]}};
  int64_t ho = ops_conv_blocks(&g, 0, k->h), wo = ops_conv_blocks(&g, 1, k->w);
  dnnl_dims_t xd = {k->n, k->c, k->h, k->w}, wd = {k->o, k->c, k->k[0], k->k[1]}, bd = {k->o},
              yd = {k->n, k->o, ho, wo}, st = {k->s[0], k->s[1]}, dil = {k->d[0] - 1, k->d[1] - 1},
              pad = {k->p[0], k->p[1]};
  dnnl_memory_desc_t x, w, b, y, xa, wa, ya;
  dnnl_convolution_desc_t cd;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  e->key = *k;
  bool ok = dnnl_memory_desc_init_by_tag(&x, 4, xd, dnnl_f32, dnnl_nchw) == dnnl_success &&
            dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_f32, dnnl_oihw) == dnnl_success &&
            dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_f32, dnnl_x) == dnnl_success &&
            dnnl_memory_desc_init_by_tag(&y, 4, yd, dnnl_f32, dnnl_nchw) == dnnl_success &&
            dnnl_memory_desc_init_by_tag(&xa, 4, xd, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
            dnnl_memory_desc_init_by_tag(&wa, 4, wd, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
            dnnl_memory_desc_init_by_tag(&ya, 4, yd, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
            dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &xa,
                                                       &wa, k->bias ? &b : NULL, &ya, st, dil, pad,
                                                       pad) == dnnl_success &&
            dnnl_primitive_attr_create(&attr) == dnnl_success &&
            /* a scratchpad of our own, allocated once with the entry */
            dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success &&
            dnnl_primitive_desc_create(&pd, &cd, attr, dn.eng, NULL) == dnnl_success &&
            dnnl_primitive_create(&e->conv, pd) == dnnl_success &&
            scratchpad(pd, &e->pad) &&
            dnnl_memory_create(&e->ux, &x, dn.eng, DNNL_MEMORY_NONE) == dnnl_success &&
            dnnl_memory_create(&e->uw, &w, dn.eng, DNNL_MEMORY_NONE) == dnnl_success &&
            dnnl_memory_create(&e->ub, &b, dn.eng, DNNL_MEMORY_NONE) == dnnl_success &&
            dnnl_memory_create(&e->uy, &y, dn.eng, DNNL_MEMORY_NONE) == dnnl_success &&
            layout(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), e->ux, true, &e->ix, &e->rx) &&
            layout(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), e->uw, true, &e->iw, &e->rw) &&
            layout(dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), e->uy, false, &e->iy, &e->ry);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (attr) dnnl_primitive_attr_destroy(attr);
  if (!ok) {
    entry_destroy(e);
    e->key = *k;
  }
  e->ok = ok;
  return ok;
}

static bool reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to) {
  if (!r) return true;
  dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  return dnnl_primitive_execute(r, dn.st, 2, a) == dnnl_success;
}

static bool entry_run(dnnl_entry *e, const float *x, const float *w, const float *b, float *y) {
  if (dnnl_memory_set_data_handle(e->ux, (void *)x) != dnnl_success ||
      dnnl_memory_set_data_handle(e->uw, (void *)w) != dnnl_success ||
      (b && dnnl_memory_set_data_handle(e->ub, (void *)b) != dnnl_success) ||
      dnnl_memory_set_data_handle(e->uy, y) != dnnl_success)
    return false;
  dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, e->ix}, {DNNL_ARG_WEIGHTS, e->iw}, {DNNL_ARG_DST, e->iy}};
  int na = 3;
  if (e->pad) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->pad};
  if (b) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->ub};
  return reorder(e->rx, e->ux, e->ix) && reorder(e->rw, e->uw, e->iw) &&
         dnnl_primitive_execute(e->conv, dn.st, na, a) == dnnl_success && reorder(e->ry, e->iy, e->uy) &&
         dnnl_stream_wait(dn.st) == dnnl_success;
}

static bool backend_on(void) {
  if (dn.state == 0) {
    const char *env = getenv("TG_DNNL");
    dn.state = -1;
    if ((!env || strcmp(env, "0") != 0) && dnnl_engine_create(&dn.eng, dnnl_cpu, 0) == dnnl_success) {
      if (dnnl_stream_create(&dn.st, dn.eng, dnnl_stream_default_flags) == dnnl_success) dn.state = 1;
      else dnnl_engine_destroy(dn.eng), dn.eng = NULL;
    }
  }
  return dn.state == 1;
}

bool ops_conv2d_dnnl(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, tg_tensor *y,
                     const ops_conv_geom *g, size_t G) {
  /* one input channel: no faster than im2col at 1 thread, slower at 2 */
  if (x->shape[1] < 2 || G != 1 || x->dtype != TG_FLOAT32 || !x->numel || !y->numel || !tg_contiguous_(x) || !tg_contiguous_(w) ||
      (b && !tg_contiguous_(b)))
    return false;
  dnnl_key k = {(int64_t)x->shape[0], (int64_t)x->shape[1], (int64_t)x->shape[2], (int64_t)x->shape[3],
                (int64_t)w->shape[0], {g->k[0], g->k[1]}, {g->d[0], g->d[1]}, {g->p[0], g->p[1]},
                {g->s[0], g->s[1]}, b != NULL};
  pthread_mutex_lock(&dn.lock);
  bool done = false;
  if (backend_on()) {
    /* One OpenMP thread, whatever tapegrad's count (on this thread's ICV,
     * before any creation: a kernel sizes its split then). At 2, its
     * threads (spinning at barriers) beside tapegrad's workers ran slower
     * than 1 under load and faster only when quiet; on 1 it still beats
     * im2col on 2 (bench/RESULTS.md). */
    omp_set_num_threads(1);
    dnnl_entry *e = NULL;
    for (int i = 0; i < dn.used && !e; i++)
      if (!memcmp(&dn.e[i].key, &k, sizeof k)) e = &dn.e[i];
    if (!e) { /* a new shape: the oldest entry makes room once the cache is full */
      if (dn.used == DNNL_CACHE_SIZE) {
        entry_destroy(&dn.e[0]);
        memmove(&dn.e[0], &dn.e[1], (DNNL_CACHE_SIZE - 1) * sizeof dn.e[0]);
        dn.used--;
      }
      e = &dn.e[dn.used++];
      memset(e, 0, sizeof *e);
      entry_create(e, &k);
    }
    done = e->ok && entry_run(e, (const float *)tg_ptr(x), (const float *)tg_ptr(w),
                              b ? (const float *)tg_ptr(b) : NULL, (float *)tg_ptr(y));
  }
  pthread_mutex_unlock(&dn.lock);
  return done;
}
