/* The dist layer in one process (no launcher): errors before tg_dist_init,
 * NULL arguments, the DistributedSampler's index arithmetic against
 * torch.utils.data.DistributedSampler, and the DataLoader's sampler hook.
 * The collectives and the DDP wrapper across processes: test_dist_mpi.c. */
#include "tg_test.h"

static void test_before_init(void **state) {
  (void)state;
  /* a program not started by mpirun (this test) may still be told so */
  assert_false(tg_dist_is_initialized());
  const char *why = tg_dist_available() ? "tg_dist_init has not been called" : "without MPI";
  assert_int_equal(tg_dist_rank(), -1);
  test_expect_error("dist_rank", why);
  assert_int_equal(tg_dist_world_size(), -1);
  test_expect_error("dist_world_size", why);
  assert_int_equal(tg_dist_barrier(), -1);
  test_expect_error("dist_barrier", why);
  assert_int_equal(tg_dist_finalize(), -1);
  test_expect_error("dist_finalize", why);
  tg_tensor *t = tg_ones(TG_FLOAT32, TG_SHAPE(3));
  assert_int_equal(tg_dist_all_reduce_(t, TG_REDUCE_SUM), -1);
  test_expect_error("dist_all_reduce_", why);
  assert_int_equal(tg_dist_broadcast_(t, 0), -1);
  test_expect_error("dist_broadcast_", why);
  assert_null(tg_dist_all_gather(t));
  test_expect_error("dist_all_gather", why);
  tg_module *m = tg_nn_linear(2, 2, true, NULL);
  assert_null(tg_ddp_new(m, tg_ddp_defaults()));
  test_expect_error("ddp_new", why);
  tg_module_free(m);
  /* the sampler's defaults come from the group */
  assert_null(tg_dist_sampler_new(10, 0, 0, false, 0, false));
  test_expect_error("dist_world_size", why);
  assert_null(tg_dist_sampler_new(10, 2, -1, false, 0, false));
  test_expect_error("dist_rank", why);
  tg_ddp_opts o = tg_ddp_defaults();
  assert_int_equal(o.bucket_bytes, (size_t)25 << 20);
  assert_true(o.broadcast_buffers);
}

static void test_null_arguments(void **state) {
  (void)state;
  assert_int_equal(tg_dist_all_reduce_(NULL, TG_REDUCE_SUM), -1);
  test_expect_error("dist_all_reduce_", NULL);
  assert_int_equal(tg_dist_broadcast_(NULL, 0), -1);
  test_expect_error("dist_broadcast_", NULL);
  assert_null(tg_dist_all_gather(NULL));
  test_expect_error("dist_all_gather", NULL);
  assert_null(tg_ddp_new(NULL, tg_ddp_defaults()));
  test_expect_error("ddp_new", NULL);
  assert_int_equal(tg_ddp_sync_grads(NULL), -1);
  test_expect_error("ddp_sync_grads", "NULL");
  assert_int_equal(tg_ddp_set_no_sync(NULL, true), -1);
  test_expect_error("ddp_set_no_sync", "NULL");
  assert_int_equal(tg_ddp_num_buckets(NULL), 0);
  test_expect_error("ddp_num_buckets", "NULL");
  assert_int_equal(tg_ddp_num_synced(NULL), 0);
  test_expect_error("ddp_num_synced", "NULL");
  assert_int_equal(tg_ddp_bytes_per_sync(NULL), 0);
  test_expect_error("ddp_bytes_per_sync", "NULL");
  tg_ddp_free(NULL);
  assert_int_equal(tg_dist_sampler_set_epoch(NULL, 1), -1);
  test_expect_error("dist_sampler_set_epoch", "NULL");
  assert_int_equal(tg_dist_sampler_len(NULL), 0);
  test_expect_error("dist_sampler_len", "NULL");
  size_t out[4];
  assert_int_equal(tg_dist_sampler_indices(NULL, out), -1);
  test_expect_error("dist_sampler_indices", "sampler is NULL");
  tg_dist_sampler *s = tg_dist_sampler_new(4, 2, 0, false, 0, false);
  assert_int_equal(tg_dist_sampler_indices(s, NULL), -1);
  test_expect_error("dist_sampler_indices", "output is NULL");
  assert_int_equal(tg_dist_sampler_fill(NULL, out), -1);
  test_expect_error("dist_sampler_indices", "NULL");
  tg_dist_sampler_free(s);
  tg_dist_sampler_free(NULL);
}

static void expect_shard(size_t len, int replicas, int rank, bool drop_last, const size_t *want,
                         size_t n) {
  tg_dist_sampler *s = tg_dist_sampler_new(len, replicas, rank, false, 0, drop_last);
  assert_non_null(s);
  assert_int_equal(tg_dist_sampler_len(s), n);
  size_t got[16];
  assert_int_equal(tg_dist_sampler_indices(s, got), 0);
  for (size_t i = 0; i < n; i++) assert_int_equal(got[i], want[i]);
  tg_dist_sampler_free(s);
}

/* list(DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False,
 * drop_last=d)) in torch 1.13 */
static void test_sampler_matches_torch(void **state) {
  (void)state;
  expect_shard(10, 3, 0, false, (size_t[]){0, 3, 6, 9}, 4);
  expect_shard(10, 3, 1, false, (size_t[]){1, 4, 7, 0}, 4);
  expect_shard(10, 3, 2, false, (size_t[]){2, 5, 8, 1}, 4);
  expect_shard(10, 3, 0, true, (size_t[]){0, 3, 6}, 3);
  expect_shard(10, 3, 1, true, (size_t[]){1, 4, 7}, 3);
  expect_shard(10, 3, 2, true, (size_t[]){2, 5, 8}, 3);
  /* padding longer than the data set: the head repeated, [0] */
  expect_shard(2, 5, 4, false, (size_t[]){0}, 1);
  expect_shard(0, 2, 1, false, NULL, 0);
  /* torch's message for a bad rank */
  assert_null(tg_dist_sampler_new(10, 3, 3, false, 0, false));
  test_expect_error("dist_sampler_new", "Invalid rank 3, rank should be in the interval [0, 2]");
  assert_null(tg_dist_sampler_new(10, -2, 0, false, 0, false));
  test_expect_error("dist_sampler_new", "num_replicas is -2");
  assert_null(tg_dist_sampler_new(2, 3, 0, false, 0, true));
  test_expect_error("dist_sampler_new", "leaves none");
}

/* with shuffle: the shards of one epoch partition a permutation; the same
 * seed and epoch give the same order, another epoch another one */
static void test_sampler_shuffle_epochs(void **state) {
  (void)state;
  enum { N = 12, R = 3 };
  size_t order[2][N];
  for (uint64_t e = 0; e < 2; e++) {
    int seen[N] = {0};
    for (int r = 0; r < R; r++) {
      tg_dist_sampler *s = tg_dist_sampler_new(N, R, r, true, 42, false);
      assert_int_equal(tg_dist_sampler_set_epoch(s, e), 0);
      size_t got[N / R], again[N / R];
      assert_int_equal(tg_dist_sampler_indices(s, got), 0);
      assert_int_equal(tg_dist_sampler_indices(s, again), 0);
      for (size_t i = 0; i < N / R; i++) {
        assert_int_equal(got[i], again[i]);
        assert_true(got[i] < N);
        seen[got[i]]++;
        order[e][i * R + (size_t)r] = got[i];
      }
      tg_dist_sampler_free(s);
    }
    for (int v = 0; v < N; v++) assert_int_equal(seen[v], 1);
  }
  assert_true(memcmp(order[0], order[1], sizeof order[0]) != 0);
  bool moved = false;
  for (size_t i = 0; i < N; i++) moved |= order[0][i] != i;
  assert_true(moved);
}

/* a fill that visits the samples backwards, or fails, or overflows */
typedef struct fake {
  size_t n;
  int mode; /* 0 reverse, 1 fail, 2 out of range */
} fake;
static int fake_fill(void *ctx, size_t *order) {
  fake *f = ctx;
  if (f->mode == 1) {
    tg_dataset_error("fake sampler: no order today");
    return -1;
  }
  for (size_t i = 0; i < f->n; i++) order[i] = f->n - 1 - i;
  if (f->mode == 2) order[1] = 1000;
  return 0;
}

static void test_loader_sampler_hook(void **state) {
  (void)state;
  tg_scope_end();
  enum { N = 7 };
  float xs[N];
  int64_t ys[N];
  for (int i = 0; i < N; i++) xs[i] = (float)(10 * i), ys[i] = i;
  tg_dataset *ds = tg_dataset_from_floats(N, TG_SHAPE(1), xs, ys);
  for (int workers = 0; workers < 3; workers += 2) {
    fake f = {.n = 5};
    tg_loader *l = tg_loader_new_sampler(ds, 2, false, (tg_sampler){5, fake_fill, &f}, workers);
    assert_non_null(l);
    assert_int_equal(tg_loader_num_batches(l), 3);
    for (int epoch = 0; epoch < 2; epoch++) {
      tg_tensor *x, *y;
      size_t k = 0;
      while (tg_loader_next(l, &x, &y))
        for (size_t i = 0; i < x->shape[0]; i++, k++) {
          assert_int_equal(tg_get_flat(y, i), 4 - (int64_t)k); /* the sampler's order */
          assert_int_equal(tg_get_flat(x, i), 10 * (4 - (double)k));
        }
      assert_int_equal(k, 5);
      assert_false(tg_loader_failed(l));
    }
    tg_loader_free(l);
    /* drop_last drops the sampler's short tail */
    l = tg_loader_new_sampler(ds, 2, true, (tg_sampler){5, fake_fill, &f}, workers);
    assert_int_equal(tg_loader_num_batches(l), 2);
    tg_loader_free(l);
    /* failures surface at the epoch's first batch */
    f.mode = 1;
    l = tg_loader_new_sampler(ds, 2, false, (tg_sampler){5, fake_fill, &f}, workers);
    assert_false(tg_loader_next(l, NULL, NULL));
    assert_true(tg_loader_failed(l));
    test_expect_error("loader_next: the sampler failed", "no order today");
    f.mode = 2;
    assert_false(tg_loader_next(l, NULL, NULL));
    assert_true(tg_loader_failed(l));
    test_expect_error("loader_next", "index 1000 at 1; the dataset has 7 samples");
    f.mode = 0; /* and it recovers */
    assert_true(tg_loader_next(l, NULL, NULL));
    tg_loader_free(l);
  }
  /* the DistributedSampler plugged in: rank 1 of 3 */
  tg_dist_sampler *s = tg_dist_sampler_new(N, 3, 1, false, 0, false);
  tg_loader *l = tg_loader_new_sampler(ds, 8, false,
                                       (tg_sampler){tg_dist_sampler_len(s), tg_dist_sampler_fill, s}, 0);
  tg_tensor *x, *y;
  assert_true(tg_loader_next(l, &x, &y));
  assert_int_equal(y->shape[0], 3);
  assert_int_equal(tg_get_flat(y, 0), 1);
  assert_int_equal(tg_get_flat(y, 1), 4);
  assert_int_equal(tg_get_flat(y, 2), 0); /* padded: 0..6 then 0, 1 */
  assert_false(tg_loader_next(l, &x, &y));
  tg_loader_free(l);
  tg_dist_sampler_free(s);
  tg_dataset_free(ds);
  tg_scope_begin();
}

/* Without a process group a SyncBatchNorm is BatchNorm (torch falls back
 * to F.batch_norm): the same bits as BatchNorm2d in training (output,
 * gradients, running stats) and in eval, on (N, C, H, W) */
static void test_sync_batchnorm_alone_is_batchnorm(void **state) {
  (void)state;
  tg_module *a = tg_nn_batchnorm2d(3, 1e-5, 0.1, true, true), *b = tg_nn_sync_batchnorm(3, 1e-5, 0.1, true, true);
  assert_non_null(b);
  assert_string_equal(b->type, "SyncBatchNorm");
  tg_rng r = test_seeded(3);
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(4, 3, 2, 2));
  tg_tensor *xa = tg_requires_grad_(tg_clone(x), true), *xb = tg_requires_grad_(tg_clone(x), true);
  tg_tensor *c = tg_randn(&r, TG_FLOAT32, TG_SHAPE(4, 3, 2, 2));
  tg_tensor *ya = tg_module_forward(a, xa), *yb = tg_module_forward(b, xb);
  test_assert_identical(yb, ya);
  assert_int_equal(tg_backward(tg_sum(tg_mul(ya, c)), NULL, false), 0);
  assert_int_equal(tg_backward(tg_sum(tg_mul(yb, c)), NULL, false), 0);
  test_assert_identical(xb->grad, xa->grad);
  test_assert_identical(b->params[0].tensor->grad, a->params[0].tensor->grad);
  for (size_t k = 0; k < 3; k++) test_assert_identical(b->buffers[k].tensor, a->buffers[k].tensor);
  assert_int_equal(tg_item(b->buffers[2].tensor), 1);
  tg_module_eval(a);
  tg_module_eval(b);
  test_assert_identical(tg_module_forward(b, x), tg_module_forward(a, x));
  tg_module_free(a);
  tg_module_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_before_init),           TG_TEST(test_null_arguments),
      TG_TEST(test_sampler_matches_torch), TG_TEST(test_sampler_shuffle_epochs),
      TG_TEST(test_loader_sampler_hook),   TG_TEST(test_sync_batchnorm_alone_is_batchnorm),
  };
  int rc = cmocka_run_group_tests_name("dist", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
