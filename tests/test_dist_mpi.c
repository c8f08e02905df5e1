/* The dist layer across processes: run under
 *   mpirun --allow-run-as-root --oversubscribe -np 2 (and -np 3) test_dist_mpi
 * (scripts/test.sh). Without a launcher it skips. Every rank runs every
 * test; a condition that may differ between ranks is checked with
 * assert_all, which all ranks evaluate together (so a failure on one rank
 * fails the test on all of them, and rank 0 prints it, instead of the
 * ranks drifting apart into different collectives). Only rank 0 writes to
 * stdout. Expected values come from formulas in the test or from a
 * single-process run of the same training, never from the dist layer. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tg_test.h"

static int rank, world;

/* true on every rank if cond holds on every rank */
static bool all_true(bool cond) {
  tg_scope_begin();
  tg_tensor *t = tg_scalar(TG_INT64, cond ? 0 : 1);
  int rc = tg_dist_all_reduce_(t, TG_REDUCE_MAX);
  bool all = rc == 0 && tg_item(t) == 0;
  tg_scope_end();
  if (rc) fail_msg("all_true: %s", tg_last_error());
  return all;
}
#define assert_all(cond)                                                       \
  do {                                                                         \
    bool c_ = (cond);                                                          \
    if (!all_true(c_)) fail_msg("%s is false on %s rank", #cond, c_ ? "another" : "this"); \
  } while (0)

/* ---------------------------------------------------------------- collectives */

/* rank r's element i: small integers, exact in every dtype */
static double val(int r, size_t i) { return (double)(((r + 1) * (int)(i + 3)) % 17 - 5); }
static bool bval(int r, size_t i) { return (r + (int)i) % 3 == 0; }

static tg_tensor *rank_tensor(tg_dtype dt, int r, size_t n, bool strided) {
  /* strided: the transpose of a (2, n) tensor's first row, a non-contiguous view */
  tg_tensor *t = strided ? tg_empty(dt, TG_SHAPE(n, 2)) : tg_empty(dt, TG_SHAPE(n));
  for (size_t i = 0; i < t->numel; i++) {
    size_t idx[2] = {strided ? i / 2 : i, i % 2};
    double v = dt == TG_BOOL ? (double)bval(r, strided ? i / 2 : i) : val(r, strided ? i / 2 : i);
    tg_set(t, idx, v);
  }
  return strided ? tg_select(tg_transpose(t, 0, 1), 0, 0) : t;
}

static void test_world(void **state) {
  (void)state;
  assert_true(tg_dist_available());
  assert_true(tg_dist_is_initialized());
  assert_true(world >= 2);
  tg_tensor *r = tg_scalar(TG_INT64, rank);
  tg_tensor *all = tg_dist_all_gather(r);
  assert_non_null(all);
  assert_int_equal(all->ndim, 1);
  assert_int_equal(all->shape[0], (size_t)world);
  for (int k = 0; k < world; k++) assert_int_equal(tg_get_flat(all, (size_t)k), k);
  assert_int_equal(tg_dist_barrier(), 0);
}

static void check_reduce(tg_dtype dt, size_t n, bool strided, tg_reduce_op op) {
  tg_tensor *t = rank_tensor(dt, rank, n, strided);
  assert_all(tg_dist_all_reduce_(t, op) == 0);
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    double want;
    if (dt == TG_BOOL) { /* sum and max: logical or */
      want = 0;
      for (int r = 0; r < world; r++) want = want || bval(r, i);
    } else {
      double sum = 0, mx = -1e300;
      for (int r = 0; r < world; r++) sum += val(r, i), mx = fmax(mx, val(r, i));
      want = op == TG_REDUCE_SUM ? sum : op == TG_REDUCE_MAX ? mx
             : dt == TG_FLOAT32 ? (double)((float)sum / (float)world) : sum / world;
    }
    if (tg_get_flat(t, i) != want) {
      print_message("%s n=%zu op=%d element %zu: %g, expected %g\n", tg_dtype_name(dt), n, (int)op,
                    i, tg_get_flat(t, i), want);
      ok = false;
    }
  }
  assert_all(ok);
}

static void test_all_reduce_every_dtype(void **state) {
  (void)state;
  const size_t sizes[] = {1, 7, 1001, 8193};
  for (int dt = 0; dt < 4; dt++)
    for (size_t s = 0; s < 4; s++)
      for (int strided = 0; strided < 2; strided++)
        for (int op = 0; op < 3; op++) {
          if (op == TG_REDUCE_MEAN && (dt == TG_INT64 || dt == TG_BOOL)) continue;
          tg_scope_begin();
          check_reduce((tg_dtype)dt, sizes[s], strided, (tg_reduce_op)op);
          tg_scope_end();
        }
  /* the strided result was written through the view into its base */
  tg_tensor *base = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 2));
  tg_tensor *col = tg_select(base, 1, 1);
  tg_fill_(col, rank + 1);
  assert_int_equal(tg_dist_all_reduce_(col, TG_REDUCE_SUM), 0);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(tg_get(base, (size_t[]){i, 1}), world * (world + 1) / 2);
    assert_int_equal(tg_get(base, (size_t[]){i, 0}), 0);
  }
}

static void test_broadcast_and_gather_every_dtype(void **state) {
  (void)state;
  const size_t sizes[] = {1, 3, 999};
  for (int dt = 0; dt < 4; dt++)
    for (size_t s = 0; s < 3; s++)
      for (int strided = 0; strided < 2; strided++) {
        tg_scope_begin();
        size_t n = sizes[s];
        int root = world - 1;
        tg_tensor *t = rank_tensor((tg_dtype)dt, rank, n, strided);
        assert_all(tg_dist_broadcast_(t, root) == 0);
        tg_tensor *want = rank_tensor((tg_dtype)dt, root, n, false);
        bool same = true;
        for (size_t i = 0; i < n; i++) same &= tg_get_flat(t, i) == tg_get_flat(want, i);
        assert_all(same);
        tg_tensor *mine = rank_tensor((tg_dtype)dt, rank, n, strided);
        tg_tensor *all = tg_dist_all_gather(mine);
        assert_all(all != NULL);
        assert_int_equal(all->dtype, dt);
        assert_int_equal(all->shape[0], (size_t)world);
        assert_int_equal(all->shape[1], n);
        for (int r = 0; r < world; r++) {
          tg_tensor *ref = rank_tensor((tg_dtype)dt, r, n, false);
          for (size_t i = 0; i < n; i++) same &= tg_get_flat(all, (size_t)r * n + i) == tg_get_flat(ref, i);
        }
        assert_all(same);
        tg_scope_end();
      }
}

/* a bad argument on one rank fails the call on every rank, and nobody hangs */
static void test_collective_errors(void **state) {
  (void)state;
  tg_tensor *t = tg_ones(TG_FLOAT32, TG_SHAPE(4));
  assert_int_equal(tg_dist_all_reduce_(rank == 1 ? NULL : t, TG_REDUCE_SUM), -1);
  test_expect_error("dist_all_reduce_", rank == 1 ? "rank 1" : "another rank");
  /* shapes that differ between ranks */
  tg_tensor *u = tg_ones(TG_FLOAT32, TG_SHAPE((size_t)(3 + (rank == 1))));
  assert_int_equal(tg_dist_all_reduce_(u, TG_REDUCE_SUM), -1);
  test_expect_error("dist_all_reduce_", "differ");
  assert_null(tg_dist_all_gather(u));
  test_expect_error("dist_all_gather", "differ");
  tg_tensor *dt = rank == 0 ? tg_ones(TG_FLOAT64, TG_SHAPE(4)) : t;
  assert_int_equal(tg_dist_broadcast_(dt, 0), -1);
  test_expect_error("dist_broadcast_", "differ");
  assert_int_equal(tg_dist_broadcast_(t, world), -1);
  test_expect_error("dist_broadcast_", "root");
  /* MEAN of integers, on every rank */
  tg_tensor *i = tg_ones(TG_INT64, TG_SHAPE(2));
  assert_int_equal(tg_dist_all_reduce_(i, TG_REDUCE_MEAN), -1);
  test_expect_error("dist_all_reduce_", "MEAN needs a float tensor");
  /* an expanded view cannot be written */
  tg_tensor *e = tg_expand(tg_ones(TG_FLOAT32, TG_SHAPE(1)), TG_SHAPE(3));
  assert_int_equal(tg_dist_all_reduce_(e, TG_REDUCE_SUM), -1);
  test_expect_error("dist_all_reduce_", "expanded");
  /* and the group still works afterwards */
  assert_int_equal(tg_dist_all_reduce_(t, TG_REDUCE_SUM), 0);
  assert_int_equal(tg_get_flat(t, 0), world);
  assert_int_equal(tg_dist_init(NULL), -1);
  test_expect_error("dist_init", "already");
}

/* ---------------------------------------------------------------- DDP */

enum { IN = 5, HID = 7, OUT = 3, B = 4 /* rows per rank per step */ };

static tg_module *mlp(uint64_t seed, size_t hidden) {
  tg_rng r = test_seeded(seed);
  tg_module *m = tg_nn_sequential(3, tg_nn_linear(IN, hidden, true, &r), tg_nn_tanh(),
                                  tg_nn_linear(hidden, OUT, true, &r));
  assert_non_null(m);
  return m;
}

/* the global data: rows of every step, the same on every rank */
typedef struct data {
  tg_tensor *x, *y; /* (rows, IN), (rows) */
} data;
static data make_data(size_t rows) {
  tg_rng r = test_seeded(99);
  data d = {tg_randn(&r, TG_FLOAT32, TG_SHAPE(rows, IN)), tg_empty(TG_INT64, TG_SHAPE(rows))};
  for (size_t i = 0; i < rows; i++) tg_set(d.y, (size_t[]){i}, (double)(tg_rng_next(&r) % OUT));
  return d;
}

static tg_optimizer *sgd_of(tg_module *m) {
  size_t n;
  tg_tensor **p = tg_module_parameters(m, &n), *train[8];
  int k = 0;
  for (size_t i = 0; i < n; i++)
    if (p[i]->requires_grad) train[k++] = p[i];
  tg_optimizer *o = tg_sgd_new(train, k, (tg_sgd_opts){.lr = 0.5, .momentum = 0.9});
  assert_non_null(o);
  return o;
}

/* backward of mean CE over rows [lo, lo+n) of d, scaled */
static void backward_rows(tg_module *m, const data *d, size_t lo, size_t n, double scale) {
  tg_scope_begin();
  tg_tensor *x = tg_narrow(d->x, 0, (long)lo, n), *y = tg_narrow(d->y, 0, (long)lo, n);
  tg_tensor *loss = tg_mul_scalar(tg_cross_entropy(tg_module_forward(m, x), y, TG_REDUCTION_MEAN), scale);
  assert_non_null(loss);
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  tg_scope_end();
}

/* max |a - b| / max |b| over each parameter is below tol, on every rank */
static void assert_params_close(tg_module *a, tg_module *b, double tol) {
  size_t n, nb;
  tg_tensor **pa = tg_module_parameters(a, &n), **pb = tg_module_parameters(b, &nb);
  assert_int_equal(n, nb);
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    double diff = 0, mag = 0;
    for (size_t k = 0; k < pa[i]->numel; k++) {
      diff = fmax(diff, fabs(tg_get_flat(pa[i], k) - tg_get_flat(pb[i], k)));
      mag = fmax(mag, fabs(tg_get_flat(pb[i], k)));
    }
    if (!(diff <= tol * mag)) {
      print_message("parameter %zu: max difference %g, max magnitude %g\n", i, diff, mag);
      ok = false;
    }
  }
  assert_all(ok);
}

/* every rank's parameters are bitwise rank 0's */
static void assert_params_identical_across_ranks(tg_module *m) {
  size_t n;
  tg_tensor **p = tg_module_parameters(m, &n);
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    tg_scope_begin();
    tg_tensor *all = tg_dist_all_gather(p[i]);
    assert_non_null(all);
    const char *base = tg_data(all);
    size_t bytes = p[i]->numel * tg_dtype_size(p[i]->dtype);
    for (int r = 1; r < world; r++) ok &= memcmp(base, base + (size_t)r * bytes, bytes) == 0;
    tg_scope_end();
  }
  assert_all(ok);
}

/* k steps of DDP (rank r takes rows [r B, (r+1) B) of each global batch)
 * against one process taking all world*B rows, from rank 0's weights */
static void ddp_matches_single(size_t bucket_bytes, bool freeze_first_bias) {
  enum { STEPS = 4 };
  size_t G = (size_t)world * B;
  data d = make_data(STEPS * G);
  tg_module *ref = mlp(1, HID), *m = mlp(1 + (uint64_t)rank * 1000, HID); /* ranks start apart */
  if (freeze_first_bias) {
    tg_requires_grad_(tg_module_get(ref, "0.bias"), false);
    tg_requires_grad_(tg_module_get(m, "0.bias"), false);
  }
  tg_ddp *ddp = tg_ddp_new(m, (tg_ddp_opts){.bucket_bytes = bucket_bytes, .broadcast_buffers = true});
  assert_all(ddp != NULL);
  assert_params_identical_across_ranks(m);
  size_t synced = freeze_first_bias ? 3 : 4, elems = HID * IN + (freeze_first_bias ? 0 : HID) + OUT * HID + OUT;
  assert_int_equal(tg_ddp_num_synced(ddp), synced);
  assert_int_equal(tg_ddp_bytes_per_sync(ddp), elems * sizeof(float));
  size_t cap = bucket_bytes ? bucket_bytes / sizeof(float) : elems;
  assert_int_equal(tg_ddp_num_buckets(ddp), (elems + cap - 1) / cap);
  tg_optimizer *o_ref = sgd_of(ref), *o = sgd_of(m);
  for (size_t s = 0; s < STEPS; s++) {
    backward_rows(ref, &d, s * G, G, 1.0);
    assert_int_equal(tg_optim_step(o_ref), 0);
    assert_int_equal(tg_optim_zero_grad(o_ref), 0);
    backward_rows(m, &d, s * G + (size_t)rank * B, B, 1.0);
    assert_all(tg_ddp_sync_grads(ddp) == 0);
    assert_int_equal(tg_optim_step(o), 0);
    assert_int_equal(tg_optim_zero_grad(o), 0);
  }
  assert_params_close(m, ref, 1e-6);
  assert_params_identical_across_ranks(m);
  if (freeze_first_bias) assert_null(tg_module_get(m, "0.bias")->grad);
  tg_optim_free(o_ref);
  tg_optim_free(o);
  tg_ddp_free(ddp);
  tg_module_free(ref);
  tg_module_free(m);
  tg_free(d.x);
  tg_free(d.y);
}

static void test_ddp_equals_single_process(void **state) {
  (void)state;
  tg_scope_end(); /* data and modules persistent; no scope left open */
  ddp_matches_single(0, false);
  tg_scope_begin();
}

/* 10-float buckets: the (7, 5) weight and every other parameter straddle
 * bucket boundaries */
static void test_ddp_bucket_boundary_inside_parameter(void **state) {
  (void)state;
  tg_scope_end();
  ddp_matches_single(10 * sizeof(float), false);
  ddp_matches_single(3 * sizeof(float), true); /* and a frozen parameter skipped */
  tg_scope_begin();
}

/* K micro-batches under no_sync, the last one synchronised, equal one step
 * of the whole world*K*B batch */
static void test_ddp_no_sync_accumulation(void **state) {
  (void)state;
  tg_scope_end();
  enum { K = 3, STEPS = 2 };
  size_t G = (size_t)world * K * B;
  data d = make_data(STEPS * G);
  tg_module *ref = mlp(7, HID), *m = mlp(7, HID);
  tg_ddp *ddp = tg_ddp_new(m, tg_ddp_defaults());
  assert_all(ddp != NULL);
  tg_optimizer *o_ref = sgd_of(ref), *o = sgd_of(m);
  for (size_t s = 0; s < STEPS; s++) {
    backward_rows(ref, &d, s * G, G, 1.0);
    assert_int_equal(tg_optim_step(o_ref), 0);
    assert_int_equal(tg_optim_zero_grad(o_ref), 0);
    for (size_t k = 0; k < K; k++) {
      assert_int_equal(tg_ddp_set_no_sync(ddp, k + 1 < K), 0);
      backward_rows(m, &d, s * G + (k * (size_t)world + (size_t)rank) * B, B, 1.0 / K);
      assert_all(tg_ddp_sync_grads(ddp) == 0);
    }
    assert_int_equal(tg_optim_step(o), 0);
    assert_int_equal(tg_optim_zero_grad(o), 0);
  }
  assert_params_close(m, ref, 1e-6);
  assert_params_identical_across_ranks(m);
  tg_optim_free(o_ref);
  tg_optim_free(o);
  tg_ddp_free(ddp);
  tg_module_free(ref);
  tg_module_free(m);
  tg_free(d.x);
  tg_free(d.y);
  tg_scope_begin();
}

static int noop_hook(tg_tensor *leaf, void *ctx) {
  (void)leaf, (void)ctx;
  return 0;
}

/* the hooks start buckets during backward: the same bits as packing every
 * bucket after backward (no_overlap), with and without no_sync micro-batches.
 * b's parameters get a hook that does nothing: a hooked leaf's gradient is
 * summed before it reaches .grad (the engine writes an unhooked one in
 * place), and only the wrapper's part is compared here. */
static void test_ddp_overlap_bit_identical(void **state) {
  (void)state;
  tg_scope_end();
  enum { STEPS = 3, K = 2 };
  size_t G = (size_t)world * K * B;
  data d = make_data(STEPS * G);
  tg_module *a = mlp(11, HID), *b = mlp(11, HID);
  tg_ddp *da = tg_ddp_new(a, (tg_ddp_opts){.bucket_bytes = 12 * sizeof(float)});
  tg_ddp *db = tg_ddp_new(b, (tg_ddp_opts){.bucket_bytes = 12 * sizeof(float), .no_overlap = true});
  assert_all(da && db);
  assert_true(tg_ddp_num_buckets(da) > 2);
  size_t np_b;
  tg_tensor **pb0 = tg_module_parameters(b, &np_b);
  for (size_t i = 0; i < np_b; i++) assert_true(tg_register_post_accumulate_grad_hook(pb0[i], noop_hook, NULL).id != 0);
  tg_optimizer *oa = sgd_of(a), *ob = sgd_of(b);
  for (size_t s = 0; s < STEPS; s++) {
    for (size_t k = 0; k < K; k++) {
      size_t lo = s * G + (k * (size_t)world + (size_t)rank) * B;
      bool acc = s == 1 && k + 1 < K; /* step 1 accumulates under no_sync */
      assert_int_equal(tg_ddp_set_no_sync(da, acc), 0);
      assert_int_equal(tg_ddp_set_no_sync(db, acc), 0);
      backward_rows(a, &d, lo, B, 1.0 / K);
      assert_all(tg_ddp_sync_grads(da) == 0);
      backward_rows(b, &d, lo, B, 1.0 / K);
      assert_all(tg_ddp_sync_grads(db) == 0);
      if (acc) continue;
      /* buckets were under way before the sync with the hooks, none without */
      assert_true(tg_ddp_overlap_seconds(da) > 0);
      assert_true(tg_ddp_overlap_seconds(db) == 0);
      if (s != 1) { /* a step without accumulation: step now, else after k = 1 */
        assert_int_equal(tg_optim_step(oa), 0), assert_int_equal(tg_optim_zero_grad(oa), 0);
        assert_int_equal(tg_optim_step(ob), 0), assert_int_equal(tg_optim_zero_grad(ob), 0);
        break;
      }
      assert_int_equal(tg_optim_step(oa), 0), assert_int_equal(tg_optim_zero_grad(oa), 0);
      assert_int_equal(tg_optim_step(ob), 0), assert_int_equal(tg_optim_zero_grad(ob), 0);
    }
  }
  size_t n;
  tg_tensor **pa = tg_module_parameters(a, &n), **pb = tg_module_parameters(b, &n);
  bool same = true;
  for (size_t i = 0; i < n; i++)
    same &= memcmp(tg_data(pa[i]), tg_data(pb[i]), pa[i]->numel * sizeof(float)) == 0;
  assert_all(same);
  assert_params_identical_across_ranks(a);
  /* a second backward before the sync fails in its hook, naming the fix */
  backward_rows(a, &d, 0, B, 1.0);
  tg_scope_begin();
  tg_tensor *x = tg_narrow(d.x, 0, 0, B), *y = tg_narrow(d.y, 0, 0, B);
  tg_tensor *loss = tg_cross_entropy(tg_module_forward(a, x), y, TG_REDUCTION_MEAN);
  assert_int_equal(tg_backward(loss, NULL, false), -1);
  test_expect_error("second backward", "no_sync");
  tg_scope_end();
  assert_all(tg_ddp_sync_grads(da) == 0); /* the buckets the first one started */
  tg_optim_free(oa);
  tg_optim_free(ob);
  tg_ddp_free(da);
  tg_ddp_free(db);
  tg_module_free(a);
  tg_module_free(b);
  tg_free(d.x);
  tg_free(d.y);
  tg_scope_begin();
}

/* tg_ddp_free removes its hooks: a later backward leaves each rank's own
 * gradient (the ranks' data differ), and touches no freed wrapper */
static void test_ddp_free_removes_hooks(void **state) {
  (void)state;
  tg_scope_end();
  data d = make_data((size_t)world * B);
  tg_module *m = mlp(5, HID), *ref = mlp(5, HID);
  tg_ddp *ddp = tg_ddp_new(m, (tg_ddp_opts){.bucket_bytes = 8 * sizeof(float)});
  assert_all(ddp != NULL);
  tg_ddp_free(ddp);
  backward_rows(m, &d, (size_t)rank * B, B, 1.0);
  backward_rows(ref, &d, (size_t)rank * B, B, 1.0);
  size_t n;
  tg_tensor **pm = tg_module_parameters(m, &n), **pr = tg_module_parameters(ref, &n);
  bool same = true;
  for (size_t i = 0; i < n; i++)
    same &= memcmp(tg_data(pm[i]->grad), tg_data(pr[i]->grad), pm[i]->numel * sizeof(float)) == 0;
  assert_all(same);
  tg_module_free(m);
  tg_module_free(ref);
  tg_free(d.x);
  tg_free(d.y);
  tg_scope_begin();
}

/* float32 and float64 parameters (two groups of buckets), buckets of 8
 * bytes (2 floats or 1 double), and a parameter rank 0's backward never
 * reached: it counts as zeros there and gets a .grad */
static void test_ddp_mixed_dtypes_and_missing_grad(void **state) {
  (void)state;
  tg_scope_end();
  tg_module *m = tg_module_new("Custom", NULL);
  tg_tensor *a = tg_module_add_parameter(m, "a", TG_FLOAT32, TG_SHAPE(5));
  tg_tensor *b = tg_module_add_parameter(m, "b", TG_FLOAT64, TG_SHAPE(3));
  tg_tensor *c = tg_module_add_parameter(m, "c", TG_FLOAT32, TG_SHAPE(2));
  tg_ddp *ddp = tg_ddp_new(m, (tg_ddp_opts){.bucket_bytes = 8});
  assert_all(ddp != NULL);
  /* float32: c then a (reverse order), 7 floats in 4 buckets; float64: b in 3 */
  assert_int_equal(tg_ddp_num_buckets(ddp), 7);
  assert_int_equal(tg_ddp_bytes_per_sync(ddp), 7 * sizeof(float) + 3 * sizeof(double));
  for (int step = 0; step < 2; step++) {
    tg_scope_begin();
    double w = rank + 1 + step;
    tg_tensor *loss = tg_add(tg_sum(tg_mul_scalar(a, w)), tg_sum(tg_mul_scalar(b, w)));
    if (rank != 0) loss = tg_add(loss, tg_sum(tg_mul_scalar(c, w)));
    assert_int_equal(tg_backward(loss, NULL, false), 0);
    tg_scope_end();
    assert_all(tg_ddp_sync_grads(ddp) == 0);
    double sum = 0, sum_c = 0;
    for (int r = 0; r < world; r++) sum += r + 1 + step, sum_c += r ? r + 1 + step : 0;
    assert_non_null(c->grad);
    bool ok = true;
    for (size_t i = 0; i < 5; i++) ok &= tg_get_flat(a->grad, i) == (double)((float)sum / (float)world);
    for (size_t i = 0; i < 3; i++) ok &= tg_get_flat(b->grad, i) == sum / world;
    for (size_t i = 0; i < 2; i++) ok &= tg_get_flat(c->grad, i) == (double)((float)sum_c / (float)world);
    assert_all(ok);
    tg_module_zero_grad(m);
  }
  tg_ddp_free(ddp);
  tg_module_free(m);
  tg_scope_begin();
}

/* rank 1 built a wider hidden layer: every rank fails at start, naming it */
static void test_ddp_shape_mismatch_named(void **state) {
  (void)state;
  tg_scope_end();
  tg_module *m = mlp(3, rank == 1 ? HID + 1 : HID);
  assert_null(tg_ddp_new(m, tg_ddp_defaults()));
  test_expect_error("'0.weight'", "rank 1");
  tg_module_free(m);
  /* one parameter too many on the last rank */
  m = mlp(3, HID);
  if (rank == world - 1)
    assert_non_null(tg_module_add_parameter(tg_module_child(m, "2"), "extra", TG_FLOAT32, TG_SHAPE(2)));
  assert_null(tg_ddp_new(m, tg_ddp_defaults()));
  test_expect_error("'2.extra'", "is extra");
  tg_module_free(m);
  /* BatchNorm with running statistics on rank 1 only: one buffer more there */
  m = tg_nn_sequential(2, tg_nn_linear(IN, HID, true, NULL),
                       tg_nn_batchnorm2d(HID, 1e-5, 0.1, true, rank != 1));
  assert_null(tg_ddp_new(m, tg_ddp_defaults()));
  test_expect_error("buffer '1.running_mean'", "rank 1");
  tg_module_free(m);
    /* a NULL module on rank 0 only */
  m = mlp(3, HID);
  assert_null(tg_ddp_new(rank == 0 ? NULL : m, tg_ddp_defaults()));
  test_expect_error("ddp_new", rank == 0 ? "NULL" : "another rank");
  tg_module_free(m);
  tg_scope_begin();
}

/* SyncBatchNorm: each rank normalising its 3 rows with statistics over all
 * ranks equals tg_batch_norm over the whole batch (its rows, their
 * gradients, the summed weight and bias gradients, the running stats) */
static void test_sync_batch_norm_equals_whole_batch(void **state) {
  (void)state;
  enum { R = 3, C = 4, L = 5 };
  size_t N = (size_t)world * R;
  tg_rng r = test_seeded(42);
  tg_tensor *xw = test_leaf(&r, TG_SHAPE(N, C, L));
  tg_tensor *cw = tg_randn(&r, TG_FLOAT64, TG_SHAPE(N, C, L));
  tg_tensor *w = test_leaf(&r, TG_SHAPE(C));
  tg_tensor *b = test_leaf(&r, TG_SHAPE(C));
  tg_tensor *w2 = tg_requires_grad_(tg_clone(tg_detach(w)), true), *b2 = tg_requires_grad_(tg_clone(tg_detach(b)), true);
  tg_tensor *rm = tg_zeros(TG_FLOAT64, TG_SHAPE(C)), *rv = tg_ones(TG_FLOAT64, TG_SHAPE(C));
  tg_tensor *rm2 = tg_zeros(TG_FLOAT64, TG_SHAPE(C)), *rv2 = tg_ones(TG_FLOAT64, TG_SHAPE(C));
  tg_tensor *yw = tg_batch_norm(xw, rm, rv, w, b, true, 0.1, 1e-5);
  assert_int_equal(tg_backward(tg_sum(tg_mul(yw, cw)), NULL, false), 0);
  /* this rank's rows, a leaf of its own */
  tg_tensor *x = tg_requires_grad_(tg_clone(tg_narrow(tg_detach(xw), 0, (long)rank * R, R)), true);
  tg_tensor *c = tg_narrow(cw, 0, (long)rank * R, R);
  tg_tensor *y = tg_sync_batch_norm(x, rm2, rv2, w2, b2, 0.1, 1e-5);
  assert_all(y != NULL);
  assert_all(tg_backward(tg_sum(tg_mul(y, c)), NULL, false) == 0);
  assert_all(tg_dist_all_reduce_(w2->grad, TG_REDUCE_SUM) == 0);
  assert_all(tg_dist_all_reduce_(b2->grad, TG_REDUCE_SUM) == 0);
  double err = 0;
  tg_tensor *ys = tg_narrow(yw, 0, (long)rank * R, R), *gs = tg_narrow(xw->grad, 0, (long)rank * R, R);
  for (size_t i = 0; i < y->numel; i++) {
    err = fmax(err, fabs(tg_get_flat(y, i) - tg_get_flat(ys, i)));
    err = fmax(err, fabs(tg_get_flat(x->grad, i) - tg_get_flat(gs, i)));
  }
  for (size_t i = 0; i < C; i++) {
    err = fmax(err, fabs(tg_get_flat(w2->grad, i) - tg_get_flat(w->grad, i)));
    err = fmax(err, fabs(tg_get_flat(b2->grad, i) - tg_get_flat(b->grad, i)));
    err = fmax(err, fabs(tg_get_flat(rm2, i) - tg_get_flat(rm, i)));
    err = fmax(err, fabs(tg_get_flat(rv2, i) - tg_get_flat(rv, i)));
  }
  if (err > 1e-6) print_message("sync_batch_norm: max difference %g\n", err);
  assert_all(err <= 1e-6);
  /* a bad input on one rank fails every rank */
  assert_null(tg_sync_batch_norm(rank == 0 ? NULL : x, NULL, NULL, NULL, NULL, 0.1, 1e-5));
  test_expect_error("sync_batch_norm", rank == 0 ? "x must be" : "another rank");
}

/* the largest difference relative to max(1, |b|) between a and b */
static double rel_err(const tg_tensor *a, const tg_tensor *b) {
  double e = 0;
  if (a->numel != b->numel) return INFINITY;
  for (size_t i = 0; i < a->numel; i++) {
    double x = tg_get_flat(a, i), y = tg_get_flat(b, i);
    e = fmax(e, fabs(x - y) / fmax(1.0, fabs(y)));
  }
  return e;
}

/* Linear(IN, C) -> BatchNorm (momentum NAN: the cumulative average) -> Tanh,
 * float64; twod: the linear's output viewed as (N, C/4, 2, 2) for BatchNorm2d */
enum { SBN_C = 8 };
static tg_tensor *sbn_forward(tg_module *lin, tg_module *bn, tg_tensor *x, bool twod) {
  tg_tensor *h = tg_module_forward(lin, x);
  if (twod) h = tg_reshape(h, 4, (size_t[]){x->shape[0], SBN_C / 4, 2, 2});
  return tg_tanh(tg_module_forward(bn, h));
}

/* The SyncBatchNorm module (tg_ddp_convert_sync_batchnorm of a BatchNorm1d
 * and a BatchNorm2d) on each rank's rows equals the same BatchNorm in one
 * process on the whole batch, over two training steps and an eval pass:
 * outputs, input and parameter gradients (summed over the ranks), running
 * stats and num_batches_tracked, to 1e-6 relative; state-dict names kept */
static void check_sync_bn_module(bool twod, double momentum) {
  enum { R = 3 };
  size_t N = (size_t)world * R, C = twod ? SBN_C / 4 : SBN_C;
  tg_rng r1 = test_seeded(71), r2 = test_seeded(71);
  tg_module *lin_ref = tg_nn_linear(IN, SBN_C, true, &r1), *lin = tg_nn_linear(IN, SBN_C, true, &r2);
  tg_module *bn_ref = twod ? tg_nn_batchnorm2d(C, 1e-5, momentum, true, true) : tg_nn_batchnorm1d(C, 1e-5, momentum, true);
  tg_module *bn = twod ? tg_nn_batchnorm2d(C, 1e-5, momentum, true, true) : tg_nn_batchnorm1d(C, 1e-5, momentum, true);
  assert_int_equal(tg_ddp_convert_sync_batchnorm(bn), 1);
  assert_string_equal(bn->type, "SyncBatchNorm");
  assert_int_equal(tg_ddp_convert_sync_batchnorm(bn), 0); /* nothing left to convert */
  tg_module *mods[4] = {lin_ref, lin, bn_ref, bn};
  for (int k = 0; k < 4; k++) assert_int_equal(tg_module_to_(mods[k], TG_FLOAT64), 0);
  tg_state_dict *sa = tg_module_state_dict(bn_ref), *sb = tg_module_state_dict(bn);
  assert_int_equal(sa->n, sb->n);
  for (size_t k = 0; k < sa->n; k++) assert_string_equal(sa->entries[k].name, sb->entries[k].name);
  tg_state_dict_free(sa);
  tg_state_dict_free(sb);
  tg_rng rd = test_seeded(72);
  double err = 0;
  for (int step = 0; step < 3; step++) {
    bool train = step < 2;
    tg_scope_begin();
    tg_tensor *xw = tg_requires_grad_(tg_randn(&rd, TG_FLOAT64, TG_SHAPE(N, IN)), true);
    tg_tensor *cw = tg_randn(&rd, TG_FLOAT64, TG_SHAPE(N, SBN_C));
    if (twod) cw = tg_reshape(cw, 4, (size_t[]){N, C, 2, 2});
    tg_tensor *x = tg_requires_grad_(tg_clone(tg_narrow(tg_detach(xw), 0, (long)rank * R, R)), true);
    tg_tensor *c = tg_narrow(cw, 0, (long)rank * R, R);
    tg_module_train(bn_ref, train);
    tg_module_train(bn, train);
    tg_tensor *yw = sbn_forward(lin_ref, bn_ref, xw, twod);
    tg_tensor *y = sbn_forward(lin, bn, x, twod);
    assert_all(y != NULL && yw != NULL);
    err = fmax(err, rel_err(y, tg_narrow(yw, 0, (long)rank * R, R)));
    if (train) {
      assert_int_equal(tg_backward(tg_sum(tg_mul(yw, cw)), NULL, false), 0);
      assert_all(tg_backward(tg_sum(tg_mul(y, c)), NULL, false) == 0);
      err = fmax(err, rel_err(x->grad, tg_narrow(xw->grad, 0, (long)rank * R, R)));
      size_t np, npr;
      tg_tensor **p = tg_module_parameters(lin, &np), **pr = tg_module_parameters(lin_ref, &npr);
      tg_tensor **q = tg_module_parameters(bn, &np), **qr = tg_module_parameters(bn_ref, &npr);
      tg_tensor *pairs[4][2] = {{p[0], pr[0]}, {p[1], pr[1]}, {q[0], qr[0]}, {q[1], qr[1]}};
      for (int k = 0; k < 4; k++) {
        assert_all(tg_dist_all_reduce_(pairs[k][0]->grad, TG_REDUCE_SUM) == 0);
        err = fmax(err, rel_err(pairs[k][0]->grad, pairs[k][1]->grad));
        tg_zero_grad(pairs[k][0]);
        tg_zero_grad(pairs[k][1]);
      }
    }
    for (size_t k = 0; k < 3; k++) err = fmax(err, rel_err(bn->buffers[k].tensor, bn_ref->buffers[k].tensor));
    tg_scope_end();
  }
  assert_int_equal(tg_item(bn->buffers[2].tensor), 2);
  if (err > 1e-6) print_message("SyncBatchNorm%s: max relative difference %g\n", twod ? "2d" : "1d", err);
  assert_all(err <= 1e-6);
  for (int k = 0; k < 4; k++) tg_module_free(mods[k]);
}

static void test_sync_batchnorm_module(void **state) {
  (void)state;
  check_sync_bn_module(false, 0.1);
  check_sync_bn_module(true, 0.1);
  check_sync_bn_module(false, NAN);
  /* inside a tree, with its parameters and buffers kept (the same tensors) */
  tg_module *m = tg_nn_sequential(3, tg_nn_linear(IN, HID, true, NULL), tg_nn_batchnorm1d(HID, 1e-5, 0.1, true),
                                  tg_nn_sequential(1, tg_nn_batchnorm2d(HID, 1e-5, 0.1, false, false)));
  tg_module *bn = m->children[1].module;
  tg_tensor *w = bn->params[0].tensor, *rm = bn->buffers[0].tensor;
  assert_int_equal(tg_ddp_convert_sync_batchnorm(m), 2);
  assert_ptr_equal(bn->params[0].tensor, w);
  assert_ptr_equal(bn->buffers[0].tensor, rm);
  assert_string_equal(m->children[2].module->children[0].module->type, "SyncBatchNorm");
  tg_module_free(m);
  tg_module *s = tg_nn_sync_batchnorm(HID, 1e-5, 0.1, true, true);
  assert_non_null(s);
  assert_string_equal(s->type, "SyncBatchNorm");
  assert_int_equal(s->n_params, 2);
  assert_int_equal(s->n_buffers, 3);
  tg_scope_begin();
  assert_null(tg_module_forward(s, tg_zeros(TG_FLOAT32, TG_SHAPE(HID))));
  test_expect_error("SyncBatchNorm", "at least 2D");
  tg_scope_end();
  tg_module_free(s);
  assert_int_equal(tg_ddp_convert_sync_batchnorm(NULL), -1);
  test_expect_error("ddp_convert_sync_batchnorm", "NULL");
}

/* broadcast_buffers: before every forward in grad mode each rank's buffers
 * become rank 0's (torch's DDP), not under no_grad or no_sync, and never
 * with broadcast_buffers off */
static void fill_buffers(tg_module *bn, double v) {
  tg_fill_(bn->buffers[0].tensor, v);
  tg_fill_(bn->buffers[1].tensor, v + 0.5);
  tg_fill_(bn->buffers[2].tensor, 10 * v);
}

static bool buffers_are(tg_module *bn, double v) {
  bool ok = true;
  for (size_t i = 0; i < HID; i++)
    ok &= tg_get_flat(bn->buffers[0].tensor, i) == v && tg_get_flat(bn->buffers[1].tensor, i) == v + 0.5;
  return ok && tg_item(bn->buffers[2].tensor) == 10 * v;
}

static void test_ddp_broadcasts_buffers(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    tg_rng r = test_seeded(5);
    tg_module *m = tg_nn_sequential(2, tg_nn_linear(IN, HID, true, &r), tg_nn_batchnorm1d(HID, 1e-5, 0.1, true));
    tg_module *bn = m->children[1].module;
    tg_ddp_opts o = tg_ddp_defaults();
    o.broadcast_buffers = on;
    tg_ddp *d = tg_ddp_new(m, o);
    assert_all(d != NULL);
    tg_module_eval(m); /* forward reads the running stats and leaves them */
    tg_scope_begin();
    tg_tensor *x = tg_ones(TG_FLOAT32, TG_SHAPE(2, IN));
    fill_buffers(bn, rank + 1);
    assert_all(tg_module_forward(m, x) != NULL);
    assert_all(buffers_are(bn, on ? 1 : rank + 1));
    fill_buffers(bn, rank + 2);
    tg_no_grad_begin();
    assert_all(tg_module_forward(m, x) != NULL);
    tg_no_grad_end();
    assert_all(buffers_are(bn, rank + 2));
    tg_ddp_set_no_sync(d, true);
    assert_all(tg_module_forward(m, x) != NULL);
    assert_all(buffers_are(bn, rank + 2));
    tg_ddp_set_no_sync(d, false);
    assert_all(tg_ddp_broadcast_buffers(d) == 0);
    assert_all(buffers_are(bn, 2));
    tg_scope_end();
    tg_ddp_free(d);
    /* the hook went with the wrapper */
    fill_buffers(bn, rank + 3);
    tg_scope_begin();
    assert_all(tg_module_forward(m, tg_ones(TG_FLOAT32, TG_SHAPE(2, IN))) != NULL);
    tg_scope_end();
    assert_all(buffers_are(bn, rank + 3));
    tg_module_free(m);
  }
  assert_int_equal(tg_ddp_broadcast_buffers(NULL), -1);
  test_expect_error("ddp_broadcast_buffers", "NULL");
}

/* ---------------------------------------------------------------- sampler */

/* each rank's shard through the DataLoader; together one epoch, padded */
static void test_sampler_shards_through_loader(void **state) {
  (void)state;
  tg_scope_end();
  enum { N = 23 };
  float xs[N];
  for (int i = 0; i < N; i++) xs[i] = (float)i;
  tg_dataset *ds = tg_dataset_from_floats(N, TG_SHAPE(1), xs, NULL);
  tg_dist_sampler *s = tg_dist_sampler_new(N, 0, -1, true, 5, false);
  assert_non_null(s);
  size_t per = (N + (size_t)world - 1) / (size_t)world;
  assert_int_equal(tg_dist_sampler_len(s), per);
  tg_loader *l = tg_loader_new_sampler(ds, 4, false, (tg_sampler){per, tg_dist_sampler_fill, s}, 1);
  assert_non_null(l);
  for (uint64_t epoch = 0; epoch < 2; epoch++) {
    assert_int_equal(tg_dist_sampler_set_epoch(s, epoch), 0);
    tg_scope_begin();
    tg_tensor *mine = tg_empty(TG_INT64, TG_SHAPE(per)), *x;
    size_t k = 0;
    while (tg_loader_next(l, &x, NULL))
      for (size_t i = 0; i < x->shape[0]; i++) tg_set(mine, (size_t[]){k++}, tg_get_flat(x, i));
    assert_int_equal(k, per);
    tg_tensor *all = tg_dist_all_gather(mine);
    /* padded order position k of rank r: all[r][i] with k = i * world + r */
    int seen[N] = {0};
    size_t total = per * (size_t)world;
    for (size_t pos = 0; pos < total; pos++) {
      size_t r = pos % (size_t)world, i = pos / (size_t)world;
      int v = (int)tg_get_flat(all, r * per + i);
      assert_true(v >= 0 && v < N);
      if (pos < N) seen[v]++;
      else assert_int_equal(v, (int)tg_get_flat(all, ((pos - N) % (size_t)world) * per + (pos - N) / (size_t)world));
    }
    for (int v = 0; v < N; v++) assert_int_equal(seen[v], 1); /* a permutation, then its head */
    tg_scope_end();
  }
  tg_loader_free(l);
  tg_dist_sampler_free(s);
  tg_dataset_free(ds);
  tg_scope_begin();
}

/* --fault-exit: the last rank dies after two steps, as a crashed machine
 * would; the others keep training. scripts/test.sh expects mpirun to end
 * the whole job with an error (not a hang) well within its timeout. */
static int fault_exit(void) {
  data d = make_data(64 * (size_t)world * B);
  tg_module *m = mlp(1, HID);
  tg_ddp *ddp = tg_ddp_new(m, tg_ddp_defaults());
  tg_optimizer *o = ddp ? sgd_of(m) : NULL;
  for (size_t s = 0; o && s < 64; s++) {
    if (s == 2 && rank == world - 1) {
      fprintf(stderr, "test_dist_mpi: rank %d exits at step 2\n", rank);
      _exit(3);
    }
    backward_rows(m, &d, (s * (size_t)world + (size_t)rank) * B, B, 1.0);
    if (tg_ddp_sync_grads(ddp) != 0) {
      fprintf(stderr, "test_dist_mpi: rank %d: %s\n", rank, tg_last_error());
      return 1;
    }
    tg_optim_step(o);
    tg_optim_zero_grad(o);
  }
  fprintf(stderr, "test_dist_mpi: rank %d finished 64 steps without noticing\n", rank);
  return 0;
}

int main(int argc, char **argv) {
  if (!tg_dist_launched() || !tg_dist_available()) {
    printf("test_dist_mpi: %s; skipped (scripts/test.sh runs it with -np 2 and 3)\n",
           tg_dist_available() ? "not started by mpirun" : "tapegrad was built without MPI");
    return 0;
  }
  if (tg_dist_init(NULL) != 0) {
    fprintf(stderr, "test_dist_mpi: %s\n", tg_last_error());
    return 1;
  }
  rank = tg_dist_rank();
  world = tg_dist_world_size();
  if (argc > 1 && !strcmp(argv[1], "--fault-exit")) return fault_exit();
  if (rank != 0 && !freopen("/dev/null", "w", stdout)) return 1;
  const struct CMUnitTest tests[] = {
      TG_TEST(test_world),
      TG_TEST(test_all_reduce_every_dtype),
      TG_TEST(test_broadcast_and_gather_every_dtype),
      TG_TEST(test_collective_errors),
      TG_TEST(test_ddp_equals_single_process),
      TG_TEST(test_ddp_bucket_boundary_inside_parameter),
      TG_TEST(test_ddp_no_sync_accumulation),
      TG_TEST(test_ddp_overlap_bit_identical),
      TG_TEST(test_ddp_free_removes_hooks),
      TG_TEST(test_ddp_mixed_dtypes_and_missing_grad),
      TG_TEST(test_ddp_shape_mismatch_named),
      TG_TEST(test_sync_batch_norm_equals_whole_batch),
      TG_TEST(test_sync_batchnorm_module),
      TG_TEST(test_ddp_broadcasts_buffers),
      TG_TEST(test_sampler_shards_through_loader),
  };
  char name[32];
  snprintf(name, sizeof name, "dist_mpi_np%d", world);
  int rc = cmocka_run_group_tests_name(name, tests, NULL, NULL);
  tg_dist_finalize();
  tg_release_cached();
  return rc;
}
