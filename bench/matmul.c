/* Matrix products of a Linear layer, tapegrad against the BLAS it calls.
 * For a layer shape batch x in x out (m x k x n): x [m,k], W [n,k] and the
 * output gradient g [m,n]; B = W^T is the transposed view tg_linear uses.
 *   fwd    tg_matmul(x, tg_t(W))                         [m,n]  BLAS N,T
 *   bwd_a  tg_matmul(g, tg_transpose(B, -1, -2)) = g@B^T [m,k]  BLAS N,N
 *   bwd_b  tg_matmul(tg_transpose(x, -1, -2), g) = x^T@g [k,n]  BLAS T,N
 * exactly as ops/linalg.c's backward forms them (transposed views, never
 * copies). Each tapegrad call runs in its own scope (result allocation and
 * scope end included; nothing requires grad, so nothing is recorded). The
 * reference is cblas_sgemm with the same transposes into a fixed buffer.
 *
 * One line per shape and op, key=value pairs:
 *   m= n= k= op= blas=<trans flags> gflops= gflops_min= gflops_max=
 *   ref_gflops= ref_gflops_min= ref_gflops_max= ratio= ratio_best=
 * GFLOP/s are the median (min, max) over --repeats blocks of at least
 * --min-time seconds each, tapegrad and reference blocks alternating; ratio
 * is the median over repeats of tapegrad/reference in the same repeat (drift
 * cancels), ratio_best is gflops_max / ref_gflops_max.
 *
 *   build/bench/matmul [--threads 1] [--repeats 7] [--min-time 0.1]
 *                      [--shapes "100x784x200,1024x1024x1024"]   (m x k x n) */
#include <cblas.h>

#include "bench_util.h"
#include "tapegrad.h"

typedef enum { OP_FWD, OP_BWD_A, OP_BWD_B } op_kind;
static const char *op_names[] = {"fwd", "bwd_a", "bwd_b"};

typedef struct operands {
  size_t m, k, n;
  tg_tensor *x, *w, *g, *bt; /* bt = tg_t(w), persistent */
  float *c;                  /* reference output, max(m*n, m*k, k*n) floats */
} operands;

static int tg_call(const operands *o, op_kind op) {
  tg_scope_begin();
  tg_tensor *r = op == OP_FWD     ? tg_matmul(o->x, tg_t(o->w))
                 : op == OP_BWD_A ? tg_matmul(o->g, tg_transpose(o->bt, -1, -2))
                                  : tg_matmul(tg_transpose(o->x, -1, -2), o->g);
  tg_scope_end();
  return r ? 0 : -1;
}

static void ref_call(const operands *o, op_kind op) {
  int m = (int)o->m, k = (int)o->k, n = (int)o->n;
  const float *x = tg_data_f32(o->x), *w = tg_data_f32(o->w), *g = tg_data_f32(o->g);
  if (op == OP_FWD) /* [m,k] @ [n,k]^T */
    bench_real_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, o->c, n);
  else if (op == OP_BWD_A) /* [m,n] @ [n,k] */
    bench_real_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0f, g, n, w, k, 0.0f, o->c, k);
  else /* [m,k]^T @ [m,n] */
    bench_real_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1.0f, x, k, g, n, 0.0f, o->c, n);
}

static int ref_threads = 1;

/* seconds per call of `iters` calls. The reference is raw OpenBLAS at
 * --threads threads; tapegrad keeps OpenBLAS at one thread and splits large
 * products over its own workers, so OpenBLAS's count is put back after. */
static double time_block(const operands *o, op_kind op, bool ref, long iters) {
#ifdef OPENBLAS_VERSION
  if (ref) openblas_set_num_threads(ref_threads);
#endif
  double t0 = bench_now();
  for (long i = 0; i < iters; i++) {
    if (ref) ref_call(o, op);
    else if (tg_call(o, op)) {
      fprintf(stderr, "matmul: %s\n", tg_last_error());
      exit(1);
    }
  }
  double t = (bench_now() - t0) / (double)iters;
#ifdef OPENBLAS_VERSION
  if (ref) openblas_set_num_threads(1);
#endif
  return t;
}

static char tch(int t) { return t == CblasTrans ? 'T' : 'N'; }

static int bench_shape(size_t m, size_t k, size_t n, long repeats, double min_time, tg_rng *rng) {
  operands o = {.m = m, .k = k, .n = n};
  o.x = tg_uniform(rng, TG_FLOAT32, TG_SHAPE(m, k), -1, 1);
  o.w = tg_uniform(rng, TG_FLOAT32, TG_SHAPE(n, k), -1, 1);
  o.g = tg_uniform(rng, TG_FLOAT32, TG_SHAPE(m, n), -1, 1);
  o.bt = o.w ? tg_t(o.w) : NULL;
  size_t cn = m * n > m * k ? m * n : m * k;
  cn = cn > k * n ? cn : k * n;
  o.c = malloc(cn * sizeof *o.c);
  double *tg = calloc((size_t)repeats, sizeof *tg), *ref = calloc((size_t)repeats, sizeof *ref);
  double *ratio = calloc((size_t)repeats, sizeof *ratio);
  if (!o.x || !o.w || !o.g || !o.bt || !o.c || !tg || !ref || !ratio) {
    fprintf(stderr, "matmul: %s\n", tg_has_error() ? tg_last_error() : "out of memory");
    return -1;
  }
  double flop = 2.0 * (double)m * (double)n * (double)k;
  for (op_kind op = OP_FWD; op <= OP_BWD_B; op++) {
    /* the transposes tapegrad hands to BLAS */
    bench_gemm_record(true);
    if (tg_call(&o, op)) {
      fprintf(stderr, "matmul: %s\n", tg_last_error());
      return -1;
    }
    bench_gemm_record(false);
    const bench_gemm_call *calls;
    char blas[8] = "?";
    if (bench_gemm_recorded(&calls) == 1) {
      blas[0] = tch(calls[0].ta);
      blas[1] = tch(calls[0].tb);
      blas[2] = '\0';
    }
    /* iterations per block: enough for min_time */
    ref_call(&o, op);
    double one = time_block(&o, op, false, 1);
    long iters = one > 0 ? (long)(min_time / one) + 1 : 1000;
    if (iters > 1000000) iters = 1000000;
    time_block(&o, op, true, iters < 10 ? iters : 10); /* warm */
    for (long r = 0; r < repeats; r++) { /* alternate so drift hits both */
      tg[r] = flop / time_block(&o, op, false, iters) / 1e9;
      ref[r] = flop / time_block(&o, op, true, iters) / 1e9;
      ratio[r] = tg[r] / ref[r];
    }
    double mx = bench_max(tg, (int)repeats), mn = bench_min(tg, (int)repeats);
    double rmx = bench_max(ref, (int)repeats), rmn = bench_min(ref, (int)repeats);
    double md = bench_median(tg, (int)repeats), rmd = bench_median(ref, (int)repeats);
    printf("m=%zu n=%zu k=%zu op=%s blas=%s gflops=%.2f gflops_min=%.2f gflops_max=%.2f "
           "ref_gflops=%.2f ref_gflops_min=%.2f ref_gflops_max=%.2f ratio=%.3f ratio_best=%.3f\n",
           m, n, k, op_names[op], blas, md, mn, mx, rmd, rmn, rmx, bench_median(ratio, (int)repeats),
           mx / rmx);
    fflush(stdout);
  }
  free(tg);
  free(ref);
  free(ratio);
  free(o.c);
  tg_free(o.bt);
  tg_free(o.x);
  tg_free(o.w);
  tg_free(o.g);
  return 0;
}

int main(int argc, char **argv) {
  long threads = 1, repeats = 7;
  const char *min_time_s = "0.1";
  const char *shapes = "100x784x200,100x200x10,128x784x400,128x400x20,128x20x400,128x400x784,"
                       "1024x1024x1024";
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--threads", &threads) ||
        bench_flag_long(argc, argv, &i, "--repeats", &repeats) ||
        bench_flag_str(argc, argv, &i, "--min-time", &min_time_s) ||
        bench_flag_str(argc, argv, &i, "--shapes", &shapes))
      continue;
    fprintf(stderr, "matmul: unknown flag %s\n"
                    "usage: matmul [--threads N] [--repeats N] [--min-time SECONDS] "
                    "[--shapes MxKxN,...]\n", argv[i]);
    return 2;
  }
  double min_time = atof(min_time_s);
  if (threads <= 0 || repeats <= 0 || !(min_time > 0)) {
    fprintf(stderr, "matmul: --threads, --repeats and --min-time must be positive\n");
    return 2;
  }
  tg_set_num_threads((int)threads);
  ref_threads = (int)threads;
  tg_rng rng;
  tg_rng_seed(&rng, 1);
  printf("workload=matmul\nthreads=%ld\nrepeats=%ld\n", threads, repeats);
  for (const char *p = shapes; *p;) {
    unsigned long m, k, n;
    int used = 0;
    if (sscanf(p, "%lux%lux%lu%n", &m, &k, &n, &used) != 3 || !m || !k || !n) {
      fprintf(stderr, "matmul: bad shape at \"%s\" (want MxKxN, comma separated)\n", p);
      return 2;
    }
    if (bench_shape(m, k, n, repeats, min_time, &rng)) return 1;
    p += used;
    if (*p == ',') p++;
    else if (*p) {
      fprintf(stderr, "matmul: bad shape list at \"%s\"\n", p);
      return 2;
    }
  }
  tg_release_cached();
  return 0;
}
