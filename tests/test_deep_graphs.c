/* Deep and wide graphs (issue 5, "Reliability"): backward through a long
 * chain of ops and through a wide fan-in without overflowing the stack, with
 * memory linear in the size of the graph.
 *
 *   chain:  y = y * 1.0001 + 0.5 on a one-element float64 leaf, two
 *           recorded ops per step, TG_DEEP_OPS ops (default 2*10^5;
 *           scripts/test.sh also runs 10^7 in the plain build);
 *           dy/dx = 1.0001^(ops/2), about 1e217 at 10^7 ops (float32 would
 *           overflow past 1.8*10^6 ops).
 *   fan-in: s = sum(cat(x_1*w_1, ..., x_n*w_n)) with n = TG_FANIN products
 *           (default 10^5; scripts/test.sh also runs 10^6): one CatBackward
 *           node with n edges; the same with one tensor x used n times
 *           (x*w_i, and cat(x, x, ..., x)); and the chain form
 *           s = s + x_i*w_i. Every gradient is checked: d/dw_i = x_i.
 *
 * Memory is the pool's (tg_memory_get_stats: bytes obtained from the system
 * less bytes cached for reuse) before and after recording, divided by the
 * number of recorded nodes; the pool's cache is emptied first, so every
 * block is a fresh one and its 16-byte header is counted (a reused block's
 * header is not in that difference). The pool reserves small blocks a 64 KiB
 * slab at a time, so the figure moves in slab steps on small graphs: sizes
 * below 2*10^4 are refused. Each graph is built at size n/4 and n:
 * the two figures must agree within 10 % (linear growth) and stay below
 * 2048 bytes, for recording and for what backward adds. A `bytes_per_node=`
 * line per graph is printed for the CI log. Everything is built in a scope
 * and freed at its end (ASan's leak check in CI). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tg_test.h"

#define DEFAULT_DEEP_OPS 200000
#define DEFAULT_FANIN 100000
#define MAX_BYTES_PER_NODE 2048.0
#define LINEARITY_TOL 0.10

static size_t env_size(const char *name, size_t dflt, size_t min) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  char *end = NULL;
  unsigned long long n = strtoull(v, &end, 10);
  if (*end || n < min) fail_msg("%s=%s: expected a whole number >= %zu", name, v, min);
  return (size_t)n;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* pool bytes handed out and not yet returned */
static size_t pool_in_use(void) {
  tg_memory_stats s = tg_memory_get_stats();
  return s.bytes_reserved - s.bytes_cached;
}

typedef struct measure {
  size_t nodes;          /* recorded ops */
  double record_bpn;     /* pool bytes per node after recording */
  double backward_bpn;   /* extra pool bytes per node made by backward */
  double record_s, backward_s, free_s; /* free_s: scope_end and tg_release_cached */
} measure;

static void report(const char *kind, size_t size, const measure *m) {
  print_message("[          ] %s n=%zu nodes=%zu bytes_per_node=%.0f backward_bytes_per_node=%.0f "
                "record_s=%.3f backward_s=%.3f free_s=%.3f\n",
                kind, size, m->nodes, m->record_bpn, m->backward_bpn, m->record_s, m->backward_s,
                m->free_s);
}

/* the same graph at n/4 and n: bytes per node within 10 %, below the bound */
static void check_linear(const char *kind, const measure *quarter, const measure *full) {
  double ratio = full->record_bpn / quarter->record_bpn;
  if (fabs(ratio - 1) > LINEARITY_TOL)
    fail_msg("%s: %.0f bytes per node at %zu nodes but %.0f at %zu: memory is not linear in "
             "graph size",
             kind, quarter->record_bpn, quarter->nodes, full->record_bpn, full->nodes);
  if (!(full->record_bpn < MAX_BYTES_PER_NODE))
    fail_msg("%s: %.0f bytes per recorded node (bound %.0f)", kind, full->record_bpn,
             MAX_BYTES_PER_NODE);
  double bratio = full->backward_bpn / quarter->backward_bpn;
  if (fabs(bratio - 1) > LINEARITY_TOL || !(full->backward_bpn < MAX_BYTES_PER_NODE))
    fail_msg("%s: backward made %.0f bytes per node at %zu nodes and %.0f at %zu", kind,
             quarter->backward_bpn, quarter->nodes, full->backward_bpn, full->nodes);
}

/* ------------------------------------------------------------------ chain */

/* y = y * 1.0001 + 0.5 for ops/2 steps from x = 1, in float64: in float32
 * the value and the gradient (1.0001^(5*10^6) ~ 1e217 at 10^7 ops) would
 * overflow. Returns the measurements; everything is freed again. */
static measure run_chain(size_t ops) {
  measure m = {.nodes = ops};
  size_t live = tg_memory_get_stats().live_objects;
  tg_release_cached(); /* every block below is a fresh one: comparable figures */
  tg_scope_begin();
  tg_tensor *x = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(1), 1.0), true);
  assert_non_null(x);
  size_t before = pool_in_use();
  double t0 = now_s();
  tg_tensor *y = x;
  for (size_t i = 0; i < ops / 2 && y; i++) y = tg_add_scalar(tg_mul_scalar(y, 1.0001), 0.5);
  m.record_s = now_s() - t0;
  if (!y) fail_msg("recording failed after a chain: %s", tg_last_error());
  size_t recorded = pool_in_use();
  m.record_bpn = (double)(recorded - before) / (double)ops;
  assert_int_equal(tg_memory_get_stats().live_objects, live + 1 + 2 * ops); /* tensor + node per op */

  t0 = now_s();
  if (tg_backward(y, NULL, false) != 0) fail_msg("backward: %s", tg_last_error());
  m.backward_s = now_s() - t0;
  m.backward_bpn = (double)(pool_in_use() - recorded) / (double)ops;

  /* dy/dx = a^k (k = ops/2, a = 1.0001 as a double): k roundings of 2^-53
   * each, so 1e-9 relative is far above the error and far below a wrong
   * step (a factor 1.0001) */
  double k = (double)(ops / 2), expect = pow(1.0001, k);
  assert_non_null(x->grad);
  double got = tg_item(x->grad);
  if (!(fabs(got / expect - 1) <= 1e-9))
    fail_msg("dy/dx after %zu ops = %.17g, expected 1.0001^%.0f = %.17g", ops, got, k, expect);
  /* the value too: y_k = a^k + 0.5 (a^k - 1) / (a - 1) */
  double yk = expect + 0.5 * (expect - 1) / (1.0001 - 1);
  if (!(fabs(tg_item(y) / yk - 1) <= 1e-6)) fail_msg("y = %.17g, expected %.17g", tg_item(y), yk);
  t0 = now_s();
  tg_scope_end();
  tg_release_cached();
  m.free_s = now_s() - t0;
  assert_int_equal(tg_memory_get_stats().live_objects, live);
  return m;
}

static void test_deep_chain(void **state) {
  (void)state;
  size_t ops = env_size("TG_DEEP_OPS", DEFAULT_DEEP_OPS, 20000);
  ops -= ops % 2;
  measure q = run_chain(ops / 4 - (ops / 4) % 2), f = run_chain(ops);
  report("chain", ops / 4 - (ops / 4) % 2, &q);
  report("chain", ops, &f);
  check_linear("chain", &q, &f);
}

/* ----------------------------------------------------------------- fan-in */

/* exact in float32, so every gradient compares with == */
static float x_val(size_t i) { return (float)((int)(i % 17) - 8) * 0.25f; }
static float w_val(size_t i) { return (float)((int)(i % 13) - 6) * 0.5f + 0.125f; }

typedef enum {
  FAN_CAT,        /* sum(cat(x_i * w_i)): one node with n edges */
  FAN_CAT_SHARED, /* sum(cat(x * w_i)): x used n times, then one n-edge node */
  FAN_CAT_SAME,   /* sum(cat(x, x, ..., x)): n edges to the same tensor */
  FAN_CHAIN,      /* s = s + x_i * w_i */
} fan_kind;

static const char *fan_name(fan_kind k) {
  switch (k) {
  case FAN_CAT: return "fan-in cat(x_i*w_i)";
  case FAN_CAT_SHARED: return "fan-in cat(x*w_i)";
  case FAN_CAT_SAME: return "fan-in cat(x,...,x)";
  case FAN_CHAIN: return "fan-in s+=x_i*w_i";
  }
  return "?";
}

/* the leaf and product arrays; also freed by the teardown when a check
 * fails half way */
static tg_tensor **fan_x, **fan_w, **fan_p;
static void free_fan_arrays(void) {
  free(fan_x), free(fan_w), free(fan_p);
  fan_x = fan_w = fan_p = NULL;
}
static int fan_teardown(void **state) {
  free_fan_arrays();
  return test_teardown(state);
}

static measure run_fan(fan_kind kind, size_t n) {
  measure m = {0};
  size_t live = tg_memory_get_stats().live_objects;
  tg_release_cached(); /* every block below is a fresh one: comparable figures */
  tg_scope_begin();
  /* one-element leaves (made before the baseline: only the graph is counted) */
  tg_tensor **x = fan_x = malloc(n * sizeof *x), **w = fan_w = malloc(n * sizeof *w),
            **p = fan_p = malloc(n * sizeof *p);
  assert_true(x && w && p);
  size_t n_x = kind == FAN_CAT || kind == FAN_CHAIN ? n : 1;
  size_t n_w = kind == FAN_CAT_SAME ? 0 : n;
  for (size_t i = 0; i < n_x; i++) {
    x[i] = tg_requires_grad_(tg_full(TG_FLOAT32, TG_SHAPE(1), x_val(i)), true);
    assert_non_null(x[i]);
  }
  for (size_t i = 0; i < n_w; i++) {
    w[i] = tg_requires_grad_(tg_full(TG_FLOAT32, TG_SHAPE(1), w_val(i)), true);
    assert_non_null(w[i]);
  }
  size_t before = pool_in_use();
  double t0 = now_s();
  tg_tensor *s = NULL;
  switch (kind) {
  case FAN_CAT:
  case FAN_CAT_SHARED:
    for (size_t i = 0; i < n; i++) p[i] = tg_mul(n_x == 1 ? x[0] : x[i], w[i]);
    s = tg_sum(tg_cat((int)n, p, 0));
    m.nodes = n + 2;
    break;
  case FAN_CAT_SAME:
    for (size_t i = 0; i < n; i++) p[i] = x[0];
    s = tg_sum(tg_cat((int)n, p, 0));
    m.nodes = 2;
    break;
  case FAN_CHAIN:
    s = tg_mul(x[0], w[0]);
    for (size_t i = 1; i < n && s; i++) s = tg_add(s, tg_mul(x[i], w[i]));
    m.nodes = 2 * n - 1;
    break;
  }
  m.record_s = now_s() - t0;
  if (!s) fail_msg("%s, n=%zu: %s", fan_name(kind), n, tg_last_error());
  size_t recorded = pool_in_use();
  /* FAN_CAT_SAME has two nodes whatever n is: per edge instead */
  double per = kind == FAN_CAT_SAME ? (double)n : (double)m.nodes;
  m.record_bpn = (double)(recorded - before) / per;

  /* the forward value, in double: float32 summation order may differ */
  double expect = 0, mag = 0;
  for (size_t i = 0; i < n; i++) {
    double term = kind == FAN_CAT_SAME ? x_val(0)
                  : (double)x_val(n_x == 1 ? 0 : i) * (double)w_val(i);
    expect += term, mag += fabs(term);
  }
  if (!(fabs(tg_item(s) - expect) <= 1e-5 * mag + 1e-6))
    fail_msg("%s, n=%zu: s = %.9g, expected %.9g", fan_name(kind), n, tg_item(s), expect);

  t0 = now_s();
  if (tg_backward(s, NULL, false) != 0) fail_msg("%s: backward: %s", fan_name(kind), tg_last_error());
  m.backward_s = now_s() - t0;
  m.backward_bpn = (double)(pool_in_use() - recorded) / per;

  /* d s / d w_i = x_i, d s / d x_i = w_i: products of exact values, exact */
  for (size_t i = 0; i < n_w; i++) {
    float want = x_val(n_x == 1 ? 0 : i);
    if (!w[i]->grad || tg_item(w[i]->grad) != want)
      fail_msg("%s, n=%zu: dw_%zu = %.9g, expected %.9g", fan_name(kind), n, i,
               w[i]->grad ? tg_item(w[i]->grad) : NAN, (double)want);
  }
  if (n_x == n) {
    for (size_t i = 0; i < n; i++) {
      if (!x[i]->grad || tg_item(x[i]->grad) != w_val(i))
        fail_msg("%s, n=%zu: dx_%zu = %.9g, expected %.9g", fan_name(kind), n, i,
                 x[i]->grad ? tg_item(x[i]->grad) : NAN, (double)w_val(i));
    }
  } else {
    /* x used n times: the sum of its n gradients (multiples of 1/8 with
     * small partial sums: exact in float32) */
    double want = 0;
    for (size_t i = 0; i < n; i++) want += kind == FAN_CAT_SAME ? 1.0 : (double)w_val(i);
    assert_non_null(x[0]->grad);
    if (tg_item(x[0]->grad) != want)
      fail_msg("%s, n=%zu: dx = %.9g, expected %.9g", fan_name(kind), n, tg_item(x[0]->grad), want);
  }
  free_fan_arrays();
  t0 = now_s();
  tg_scope_end();
  tg_release_cached();
  m.free_s = now_s() - t0;
  assert_int_equal(tg_memory_get_stats().live_objects, live);
  return m;
}

static void fan_test(fan_kind kind) {
  size_t n = env_size("TG_FANIN", DEFAULT_FANIN, 20000);
  if (n > (size_t)2147483647) fail_msg("TG_FANIN=%zu: tg_cat takes an int count", n);
  measure q = run_fan(kind, n / 4), f = run_fan(kind, n);
  report(fan_name(kind), n / 4, &q);
  report(fan_name(kind), n, &f);
  check_linear(fan_name(kind), &q, &f);
}

static void test_fan_in_cat(void **state) {
  (void)state;
  fan_test(FAN_CAT);
}
static void test_fan_in_cat_shared(void **state) {
  (void)state;
  fan_test(FAN_CAT_SHARED);
}
static void test_fan_in_cat_same_tensor(void **state) {
  (void)state;
  fan_test(FAN_CAT_SAME);
}
static void test_fan_in_chain(void **state) {
  (void)state;
  fan_test(FAN_CHAIN);
}

/* The fan-in's backward on a thread with a 512 KiB stack (threads made by
 * other runtimes often get less than the main thread's 8 MiB). Tensors are
 * per thread, so the thread builds its own graph and reports a status; no
 * cmocka assertion runs off the main thread. (The engine once kept a node's
 * input gradients in a variable-length array on the stack, 8 bytes per
 * edge: 10^5 edges overflowed this stack with SIGSEGV.) */
typedef struct small_stack_job {
  size_t n;
  int status; /* 0 ok, 1 op or backward error, 2 wrong gradient */
  double grad;
} small_stack_job;

static void *small_stack_fan_in(void *arg) {
  small_stack_job *job = arg;
  tg_scope_begin();
  tg_tensor *x = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(1)), true);
  tg_tensor **xs = malloc(job->n * sizeof *xs);
  job->status = 1;
  if (x && xs) {
    for (size_t i = 0; i < job->n; i++) xs[i] = x;
    tg_tensor *s = tg_sum(tg_cat((int)job->n, xs, 0));
    if (s && tg_backward(s, NULL, false) == 0 && x->grad) {
      job->grad = tg_item(x->grad);
      job->status = job->grad == (double)job->n ? 0 : 2;
    }
  }
  free(xs);
  tg_scope_end();
  tg_release_cached();
  return NULL;
}

static void test_fan_in_small_stack(void **state) {
  (void)state;
  small_stack_job job = {.n = 100000};
  pthread_attr_t attr;
  pthread_t th;
  assert_int_equal(pthread_attr_init(&attr), 0);
  assert_int_equal(pthread_attr_setstacksize(&attr, 512 * 1024), 0);
  assert_int_equal(pthread_create(&th, &attr, small_stack_fan_in, &job), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  pthread_attr_destroy(&attr);
  if (job.status != 0)
    fail_msg("cat of %zu edges on a 512 KiB stack: status %d, dx = %.9g", job.n, job.status, job.grad);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_deep_chain),
      cmocka_unit_test_setup_teardown(test_fan_in_cat, test_setup, fan_teardown),
      cmocka_unit_test_setup_teardown(test_fan_in_cat_shared, test_setup, fan_teardown),
      cmocka_unit_test_setup_teardown(test_fan_in_cat_same_tensor, test_setup, fan_teardown),
      cmocka_unit_test_setup_teardown(test_fan_in_chain, test_setup, fan_teardown),
      TG_TEST(test_fan_in_small_stack),
  };
  int rc = cmocka_run_group_tests_name("deep_graphs", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
