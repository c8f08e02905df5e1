/* Helpers shared by the benchmark programs: a monotonic clock, median and
 * minimum of repeats, flag parsing, and (bench/malloc_count.c) counters of
 * the calls this process makes to the system allocator and to cblas_sgemm.
 * Benchmarks only: nothing here is part of the library. */
#ifndef TG_BENCH_UTIL_H
#define TG_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void) { /* seconds */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* median of v[0..n) (v is left sorted) */
static inline double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static inline double bench_min(const double *v, int n) {
  double m = v[0];
  for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
  return m;
}

static inline double bench_max(const double *v, int n) {
  double m = v[0];
  for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
  return m;
}

/* key=median and key_min=min over the n repeats in v (v gets sorted) */
static inline void bench_print_stat(const char *key, double *v, int n, const char *fmt) {
  double mn = bench_min(v, n), md = bench_median(v, n);
  printf("%s=", key);
  printf(fmt, md);
  printf("\n%s_min=", key);
  printf(fmt, mn);
  printf("\n");
}

/* a rate (higher is better): median, the minimum and the maximum */
static inline void bench_print_rate(const char *key, double *v, int n, const char *fmt) {
  double mx = bench_max(v, n);
  bench_print_stat(key, v, n, fmt);
  printf("%s_max=", key);
  printf(fmt, mx);
  printf("\n");
}

/* VmHWM of /proc/self/status in MB: the peak RSS of this process image only
 * (Linux carries the parent's high-water mark into ru_maxrss across exec) */
static inline double bench_vm_hwm_mb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  double kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %lf", &kb) == 1) break;
  if (f) fclose(f);
  return kb < 0 ? -1 : kb / 1024.0;
}

/* "--flag VALUE" parsing: true and *out set when argv[*i] is flag */
static inline bool bench_flag_long(int argc, char **argv, int *i, const char *flag, long *out) {
  if (strcmp(argv[*i], flag) != 0) return false;
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s needs a value\n", flag);
    exit(2);
  }
  char *end;
  *out = strtol(argv[++*i], &end, 10);
  if (*end) {
    fprintf(stderr, "%s: not a whole number: %s\n", flag, argv[*i]);
    exit(2);
  }
  return true;
}

static inline bool bench_flag_str(int argc, char **argv, int *i, const char *flag, const char **out) {
  if (strcmp(argv[*i], flag) != 0) return false;
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s needs a value\n", flag);
    exit(2);
  }
  *out = argv[++*i];
  return true;
}

/* ---- bench/malloc_count.c: every call this process makes to malloc,
 * calloc, realloc, posix_memalign, aligned_alloc and memalign (any thread,
 * libc and BLAS included) is counted, by wrappers that forward to the next
 * definition (dlsym RTLD_NEXT). */
uint64_t bench_malloc_calls(void);
/* "interposed", or what counts instead (sanitizer builds) */
const char *bench_malloc_counter(void);
/* the part of those made by the calling thread while inside cblas_sgemm
 * (OpenBLAS's threaded GEMM driver allocates per call) */
uint64_t bench_blas_malloc_calls(void);

/* cblas_sgemm is wrapped the same way: while recording, the arguments of
 * each call are appended to a list; while timing, the time spent inside the
 * real cblas_sgemm is summed. */
typedef struct bench_gemm_call {
  int order, ta, tb; /* CBLAS enum values */
  int m, n, k, lda, ldb, ldc;
  float alpha, beta;
} bench_gemm_call;
void bench_gemm_record(bool on); /* clears the list when turned on */
size_t bench_gemm_recorded(const bench_gemm_call **calls);
void bench_gemm_timing(bool on); /* resets the sum when turned on */
double bench_gemm_seconds(void);
uint64_t bench_gemm_calls(void); /* calls since the program started */
/* the real cblas_sgemm (not the wrapper), for reference timings */
void bench_real_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc);

#endif
