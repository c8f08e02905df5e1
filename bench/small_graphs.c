/* Small scalar graphs (issue 17), the benchmarks of BurTorch's paper: float64
 * 0-d tensors; every iteration creates the two leaves, builds the graph,
 * runs the backward, reads g, a.grad and b.grad and frees everything (one
 * scope). bench/small_graphs_torch.py is the PyTorch twin, op for op.
 *
 *   tiny  (10 nodes): a = -41, b = 2; c = a + b; d = a*b + b^3; e = c - d;
 *         f = e^2; g = f / 2
 *   small (micrograd's README graph, 34 nodes): a = -4, b = 2, ... g += 10 / f
 *
 * Prints key=value pairs: <graph>_g, <graph>_a_grad, <graph>_b_grad, and
 * <graph>_ns_per_iter (median over --repeats blocks of --iters iterations)
 * with <graph>_ns_per_iter_min, <graph>_cpu_ns_per_iter (the same in this
 * thread's CPU time, for shared machines), <graph>_nodes (ops + leaves),
 * <graph>_mallocs_per_iter (system allocator calls, after a warm-up).
 * Then the physical limits: the same arithmetic, forward and backward, in a
 * plain C loop on doubles (<graph>_plain_ns_per_iter), and writing 296 bytes
 * per node, a node and its result as on the long chain, into cached memory
 * (<graph>_write_ns_per_iter).
 *
 *   build/bench/small_graphs [--iters N] [--repeats R] */
#include "bench_util.h"
#include "tapegrad.h"

typedef struct result {
  double g, a_grad, b_grad;
  long nodes;
} result;

/* the graph's nodes: results that have history */
static long nodes_of(tg_tensor *const *t, int n) {
  long k = 0;
  for (int i = 0; i < n; i++) k += t[i] && tg_grad_fn_name(t[i]) != NULL;
  return k;
}

static tg_tensor *leaf(double v) { return tg_requires_grad_(tg_scalar(TG_FLOAT64, v), true); }

/* the leaves' gradients and g after the backward; -1 on any error */
static int finish(tg_tensor *a, tg_tensor *b, tg_tensor *g, result *r) {
  if (!g || tg_backward(g, NULL, false) != 0 || !a->grad || !b->grad) return -1;
  r->g = tg_item(g);
  r->a_grad = tg_item(a->grad);
  r->b_grad = tg_item(b->grad);
  return 0;
}

static int tiny(result *r) {
  tg_scope_begin();
  tg_tensor *a = leaf(-41.0), *b = leaf(2.0);
  tg_tensor *c = tg_add(a, b);
  tg_tensor *ab = tg_mul(a, b), *b3 = tg_pow_scalar(b, 3.0);
  tg_tensor *d = tg_add(ab, b3);
  tg_tensor *e = tg_sub(c, d);
  tg_tensor *f = tg_pow_scalar(e, 2.0);
  tg_tensor *g = tg_div_scalar(f, 2.0);
  r->nodes = nodes_of((tg_tensor *[]){c, ab, b3, d, e, f, g}, 7) + 2; /* + the leaves */
  int rc = finish(a, b, g, r);
  tg_scope_end();
  return rc;
}

/* remembers each result, to count the nodes (a call: sequenced, unlike k++) */
static tg_tensor *push(tg_tensor **t, int *k, tg_tensor *x) {
  if (*k < 40) t[(*k)++] = x;
  return x;
}

/* micrograd's README example; `x += y` is x = x + y, as there */
static int small(result *r) {
  tg_tensor *t[40];
  int k = 0;
#define T(expr) push(t, &k, (expr))
  tg_scope_begin();
  tg_tensor *a = leaf(-4.0), *b = leaf(2.0);
  tg_tensor *c = T(tg_add(a, b));
  tg_tensor *d = T(tg_add(T(tg_mul(a, b)), T(tg_pow_scalar(b, 3.0))));
  c = T(tg_add(c, T(tg_add_scalar(c, 1.0))));                       /* c += c + 1 */
  c = T(tg_add(c, T(tg_add(T(tg_add_scalar(c, 1.0)), T(tg_neg(a)))))); /* c += 1 + c + (-a) */
  d = T(tg_add(d, T(tg_add(T(tg_mul_scalar(d, 2.0)), T(tg_relu(T(tg_add(b, a))))))));
  d = T(tg_add(d, T(tg_add(T(tg_mul_scalar(d, 3.0)), T(tg_relu(T(tg_sub(b, a))))))));
  tg_tensor *e = T(tg_sub(c, d));
  tg_tensor *f = T(tg_pow_scalar(e, 2.0));
  tg_tensor *g = T(tg_div_scalar(f, 2.0));
  g = T(tg_add(g, T(tg_mul_scalar(T(tg_reciprocal(f)), 10.0)))); /* g += 10 / f, as PyTorch's rtruediv */
#undef T
  r->nodes = nodes_of(t, k) + 2;
  int rc = finish(a, b, g, r);
  tg_scope_end();
  return rc;
}

/* The same arithmetic with no tape: the forward values, then the adjoints
 * in reverse, on doubles in registers. volatile inputs keep the compiler
 * from folding it to constants. */
static void plain_tiny(result *r) {
  volatile double va = -41.0, vb = 2.0;
  double a = va, b = vb;
  double c = a + b, ab = a * b, b3 = b * b * b, d = ab + b3, e = c - d, f = e * e, g = f / 2.0;
  double gf = 1.0 / 2.0, ge = gf * 2.0 * e, gc = ge, gd = -ge;
  double ga = gc + gd * b, gb = gc + gd * a + gd * 3.0 * b * b;
  r->g = g;
  r->a_grad = ga;
  r->b_grad = gb;
}

static void plain_small(result *r) {
  volatile double va = -4.0, vb = 2.0;
  double a = va, b = vb;
  double c0 = a + b, d0 = a * b + b * b * b;
  double c1 = c0 + (c0 + 1.0), c2 = c1 + (c1 + 1.0 + -a);
  double r1 = b + a > 0 ? b + a : 0, d1 = d0 + (d0 * 2.0 + r1);
  double r2 = b - a > 0 ? b - a : 0, d2 = d1 + (d1 * 3.0 + r2);
  double e = c2 - d2, f = e * e, g = f / 2.0 + 10.0 / f;
  double gf = 0.5 - 10.0 / (f * f), ge = gf * 2.0 * e;
  double gc2 = ge, gd2 = -ge;
  double gd1 = gd2 * 4.0, gr2 = gd2 * (b - a > 0);
  double gd0 = gd1 * 3.0, gr1 = gd1 * (b + a > 0);
  double gc1 = gc2 * 2.0, ga = -gc2;
  double gc0 = gc1 * 2.0;
  ga += gc0 + gd0 * b + gr1 - gr2;
  double gb = gc0 + gd0 * (a + 3.0 * b * b) + gr1 + gr2;
  r->g = g;
  r->a_grad = ga;
  r->b_grad = gb;
}

/* CPU time of this thread (seconds): on a shared machine the wall clock
 * also counts the time other processes held the core */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef int (*graph_fn)(result *r);
typedef void (*plain_fn)(result *r);

static int bench(const char *name, graph_fn fn, plain_fn plain, long iters, int repeats) {
  result r = {0}, p = {0};
  for (long i = 0; i < 1000; i++) /* warm-up: the pool reaches its steady state */
    if (fn(&r)) {
      fprintf(stderr, "small_graphs: %s: %s\n", name, tg_last_error());
      return -1;
    }
  double *ns = calloc((size_t)repeats, sizeof *ns), *pns = calloc((size_t)repeats, sizeof *pns);
  double *cns = calloc((size_t)repeats, sizeof *cns);
  if (!ns || !pns || !cns) return -1;
  uint64_t m0 = bench_malloc_calls();
  for (int k = 0; k < repeats; k++) {
    double t0 = bench_now(), c0 = cpu_now();
    for (long i = 0; i < iters; i++)
      if (fn(&r)) {
        fprintf(stderr, "small_graphs: %s: %s\n", name, tg_last_error());
        return -1;
      }
    ns[k] = (bench_now() - t0) * 1e9 / (double)iters;
    cns[k] = (cpu_now() - c0) * 1e9 / (double)iters;
  }
  double mallocs = (double)(bench_malloc_calls() - m0) / ((double)iters * repeats);
  double sink = 0;
  for (int k = 0; k < repeats; k++) {
    double t0 = bench_now();
    for (long i = 0; i < iters; i++) {
      plain(&p);
      sink += p.a_grad;
    }
    pns[k] = (bench_now() - t0) * 1e9 / (double)iters;
  }
  /* the other floor: writing the graph's bytes, 296 a node as on the long
   * chain (node + result tensor), into the same (cached) memory each time */
  static unsigned char wbuf[64 * 296];
  double *wns = calloc((size_t)repeats, sizeof *wns);
  if (!wns) return -1;
  size_t wbytes = (size_t)r.nodes * 296 < sizeof wbuf ? (size_t)r.nodes * 296 : sizeof wbuf;
  for (int k = 0; k < repeats; k++) {
    double t0 = bench_now();
    for (long i = 0; i < iters; i++)
      for (size_t off = 0; off < wbytes; off += 296) memset(wbuf + off, (int)i, 296);
    wns[k] = (bench_now() - t0) * 1e9 / (double)iters;
  }
  printf("%s_g=%.4f\n%s_a_grad=%.4f\n%s_b_grad=%.4f\n", name, r.g, name, r.a_grad, name, r.b_grad);
  printf("%s_nodes=%ld\n", name, r.nodes);
  char key[64];
  snprintf(key, sizeof key, "%s_ns_per_iter", name);
  bench_print_stat(key, ns, repeats, "%.1f");
  snprintf(key, sizeof key, "%s_cpu_ns_per_iter", name);
  bench_print_stat(key, cns, repeats, "%.1f");
  printf("%s_mallocs_per_iter=%.4f\n", name, mallocs);
  printf("%s_plain_g=%.4f\n%s_plain_a_grad=%.4f\n%s_plain_b_grad=%.4f\n", name, p.g, name,
         p.a_grad, name, p.b_grad);
  snprintf(key, sizeof key, "%s_plain_ns_per_iter", name);
  bench_print_stat(key, pns, repeats, "%.2f");
  snprintf(key, sizeof key, "%s_write_ns_per_iter", name);
  bench_print_stat(key, wns, repeats, "%.2f");
  if (sink == 12345.0 || wbuf[1] == 7) printf("\n"); /* keeps the plain loops */
  free(wns);
  free(ns);
  free(pns);
  free(cns);
  return 0;
}

int main(int argc, char **argv) {
  long iters = 200000, repeats = 7;
  for (int i = 1; i < argc; i++) {
    if (bench_flag_long(argc, argv, &i, "--iters", &iters) ||
        bench_flag_long(argc, argv, &i, "--repeats", &repeats))
      continue;
    fprintf(stderr, "small_graphs: unknown flag %s\nusage: small_graphs [--iters N] [--repeats N]\n",
            argv[i]);
    return 2;
  }
  if (iters <= 0 || repeats <= 0) {
    fprintf(stderr, "small_graphs: --iters and --repeats must be positive\n");
    return 2;
  }
  tg_set_num_threads(1);
  printf("malloc_counter=%s\niters=%ld\nrepeats=%ld\n", bench_malloc_counter(), iters, repeats);
  int rc = bench("tiny", tiny, plain_tiny, iters, (int)repeats) ||
           bench("small", small, plain_small, iters / 3 + 1, (int)repeats);
  tg_release_cached();
  return rc ? 1 : 0;
}
