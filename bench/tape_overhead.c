/* Tape overhead: N iterations of y = y*1.0001 + 0.5 on a one-element tensor
 * that requires grad (2N recorded ops), as PyTorch eager would run it.
 * Prints key=value pairs: medians over --repeats, minimums as <key>_min.
 *   build/bench/tape_overhead [--n N] [--repeats R] [--threads T] */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double minimum(const double *v, int n) {
  double m = v[0];
  for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
  return m;
}

static tg_tensor *chain(tg_tensor *x, long n) {
  tg_tensor *y = x;
  for (long i = 0; i < n && y; i++) y = tg_add_scalar(tg_mul_scalar(y, 1.0001), 0.5);
  return y;
}

int main(int argc, char **argv) {
  long n = 1000000;
  int repeats = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--n")) n = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--repeats")) repeats = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) (void)atoi(argv[i + 1]); /* single-threaded path */
    else {
      fprintf(stderr, "tape_overhead: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (n <= 0 || repeats <= 0) {
    fprintf(stderr, "tape_overhead: --n and --repeats must be positive\n");
    return 2;
  }
  double *rec = calloc((size_t)repeats, sizeof *rec), *bwd = calloc((size_t)repeats, sizeof *bwd),
         *ng = calloc((size_t)repeats, sizeof *ng);
  double bytes_per_node = 0, grad = 0;
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT32, 1.0), true);
  for (int r = 0; r < repeats; r++) {
    tg_zero_grad(x);
    size_t before = tg_memory_get_stats().bytes_reserved;
    tg_scope_begin();
    double t0 = now_ns();
    tg_tensor *y = chain(x, n);
    double t1 = now_ns();
    if (!y || tg_backward(y, NULL, false) != 0) {
      fprintf(stderr, "tape_overhead: %s\n", tg_last_error());
      return 1;
    }
    double t2 = now_ns();
    if (r == 0) bytes_per_node = (double)(tg_memory_get_stats().bytes_reserved - before) / (2.0 * (double)n);
    tg_scope_end();
    tg_scope_begin();
    tg_no_grad_begin();
    double t3 = now_ns();
    chain(x, n);
    double t4 = now_ns();
    tg_no_grad_end();
    tg_scope_end();
    rec[r] = (t1 - t0) / (2.0 * (double)n);
    bwd[r] = (t2 - t1) / (2.0 * (double)n);
    ng[r] = (t4 - t3) / (2.0 * (double)n);
    grad = tg_item(x->grad);
  }
  printf("n=%ld\n", n);
  printf("record_ns_per_op=%.1f\nrecord_ns_per_op_min=%.1f\n", median(rec, repeats), minimum(rec, repeats));
  printf("backward_ns_per_node=%.1f\nbackward_ns_per_node_min=%.1f\n", median(bwd, repeats), minimum(bwd, repeats));
  printf("nograd_ns_per_op=%.1f\nnograd_ns_per_op_min=%.1f\n", median(ng, repeats), minimum(ng, repeats));
  printf("bytes_per_node=%.0f\n", bytes_per_node);
  printf("grad=%.6g\n", grad);
  free(rec);
  free(bwd);
  free(ng);
  tg_free(x);
  tg_release_cached();
  return 0;
}
