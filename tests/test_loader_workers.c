/* The DataLoader with worker threads: bitwise the batches of num_workers 0
 * (shuffle, drop_last, transforms, several epochs), the handed-out tensors
 * unchanged until the next call, fetch errors reported at the batch that
 * holds them, reset and free mid-epoch, no allocation per batch. Also run
 * under ThreadSanitizer by scripts/test.sh. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tg_test.h"

/* counts system allocations on every thread (HAVE_MALLOC_HOOK: tg_test.h) */
static atomic_int probe_on;
static atomic_size_t probe_count;
#ifdef HAVE_MALLOC_HOOK
static void on_malloc(const volatile void *p, size_t n) {
  (void)p, (void)n;
  if (atomic_load(&probe_on)) atomic_fetch_add(&probe_count, 1);
}
static void on_free(const volatile void *p) { (void)p; }
#endif

static void nap(long us) {
  struct timespec t = {0, us * 1000};
  nanosleep(&t, NULL);
}

/* A custom dataset computed from the index, optionally slow, failing at
 * item `bad` (SIZE_MAX: never); counts its fetches. */
typedef struct {
  size_t bad;
  long delay_us;
  atomic_size_t fetches;
} calc_impl;

static int calc_fetch(tg_dataset *ds, size_t i, float *x, int64_t *y) {
  calc_impl *c = ds->impl;
  atomic_fetch_add(&c->fetches, 1);
  if (c->delay_us) nap(c->delay_us);
  if (i == c->bad) return tg_dataset_error("calc dataset: item %zu is unreadable", i);
  for (size_t j = 0; j < ds->sample_numel; j++) x[j] = (float)(i * 10 + j) / 7.0f;
  if (y) *y = (int64_t)(i % 5);
  return 0;
}

static tg_dataset calc_dataset(size_t n, calc_impl *c) {
  return (tg_dataset){.length = n, .ndim = 2, .shape = {2, 3}, .sample_numel = 6,
                      .has_labels = true, .num_classes = 5, .fetch = calc_fetch, .impl = c};
}

/* 23 byte images [1,4,4] with a normalise-and-pad transform to [1,6,6] */
static tg_dataset *image_dataset(void) {
  enum { N = 23, P = 16 };
  uint8_t px[N * P];
  int64_t lab[N];
  for (size_t i = 0; i < N * P; i++) px[i] = (uint8_t)((i * 37 + 11) % 251);
  for (size_t i = 0; i < N; i++) lab[i] = (int64_t)(i % 10);
  tg_dataset *ds = tg_dataset_from_bytes(N, TG_SHAPE(1, 4, 4), px, lab);
  assert_non_null(ds);
  tg_transform tf = {.pad_h = 6, .pad_w = 6, .n_norm = 1, .mean = {0.25f}, .std = {0.5f}};
  assert_int_equal(tg_dataset_set_transform(ds, &tf), 0);
  return ds;
}

/* Everything a run of epochs hands out, in order: per batch its row count,
 * then the x floats and y labels, as raw bytes for a bitwise comparison. */
typedef struct {
  unsigned char *bytes;
  size_t len, cap;
  size_t batches;
} trace;

static void put(trace *t, const void *p, size_t n) {
  if (t->len + n > t->cap) {
    t->cap = 2 * (t->len + n);
    t->bytes = realloc(t->bytes, t->cap);
    assert_non_null(t->bytes);
  }
  memcpy(t->bytes + t->len, p, n);
  t->len += n;
}

static void record(trace *t, const tg_tensor *x, const tg_tensor *y) {
  assert_int_equal(x->shape[0], y->shape[0]);
  put(t, &x->shape[0], sizeof x->shape[0]);
  put(t, tg_data_f32(x), x->numel * sizeof(float));
  put(t, tg_data(y), y->numel * sizeof(int64_t));
  t->batches++;
}

/* `epochs` epochs; with reset_at > 0 each epoch is abandoned after that
 * many batches. Returns the trace (free its bytes). */
static trace run(tg_dataset *ds, size_t batch, bool shuffle, bool drop_last, int workers,
                 int epochs, size_t reset_at) {
  tg_loader *l = tg_loader_new_workers(ds, batch, shuffle, drop_last, 1234, workers);
  assert_non_null(l);
  trace t = {0};
  tg_tensor *x, *y;
  for (int e = 0; e < epochs; e++) {
    size_t k = 0;
    while (tg_loader_next(l, &x, &y)) {
      record(&t, x, y);
      if (reset_at && ++k == reset_at) {
        tg_loader_reset(l);
        break;
      }
    }
    assert_false(tg_loader_failed(l));
    assert_int_equal(tg_loader_epoch(l), (size_t)e + 1);
  }
  tg_loader_free(l);
  return t;
}

static void assert_same_trace(const trace *a, const trace *b) {
  assert_int_equal(a->batches, b->batches);
  assert_int_equal(a->len, b->len);
  assert_memory_equal(a->bytes, b->bytes, a->len);
}

static void check_configs(tg_dataset *ds, size_t reset_at) {
  const size_t batches[] = {1, 4, 5, 23, 30};
  for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++)
    for (int sh = 0; sh < 2; sh++)
      for (int dl = 0; dl < 2; dl++) {
        trace ref = run(ds, batches[bi], sh, dl, 0, 3, reset_at);
        for (int w = 1; w <= 3; w++) {
          trace t = run(ds, batches[bi], sh, dl, w, 3, reset_at);
          assert_same_trace(&ref, &t);
          free(t.bytes);
        }
        free(ref.bytes);
      }
}

static void test_workers_identical_batches(void **state) {
  (void)state;
  tg_dataset *img = image_dataset();
  check_configs(img, 0);
  tg_dataset_free(img);
  calc_impl c = {.bad = SIZE_MAX};
  tg_dataset calc = calc_dataset(23, &c);
  check_configs(&calc, 0);
  /* with shuffle the epochs differ, and the batches do cover the dataset */
  trace t = run(&calc, 23, true, false, 2, 2, 0);
  assert_int_equal(t.batches, 2);
  size_t epoch_bytes = t.len / 2;
  assert_true(memcmp(t.bytes, t.bytes + epoch_bytes, epoch_bytes) != 0);
  free(t.bytes);
}

static void test_workers_reset_mid_epoch(void **state) {
  (void)state;
  calc_impl c = {.bad = SIZE_MAX, .delay_us = 20};
  tg_dataset calc = calc_dataset(23, &c);
  check_configs(&calc, 2); /* every epoch abandoned after its second batch */
  /* reset before any batch, and twice in a row */
  tg_loader *l = tg_loader_new_workers(&calc, 4, true, false, 9, 2);
  tg_loader *ref = tg_loader_new(&calc, 4, true, false, 9);
  tg_loader_reset(l);
  tg_loader_reset(l);
  tg_tensor *x, *y, *rx, *ry;
  assert_true(tg_loader_next(l, &x, &y));
  assert_true(tg_loader_next(ref, &rx, &ry));
  test_assert_identical(x, rx);
  test_assert_identical(y, ry);
  tg_loader_free(l);
  tg_loader_free(ref);
}

/* the tensors of one call keep their contents while the workers fill the
 * next batches, and the next call hands out another buffer */
static void test_workers_batch_stays_valid(void **state) {
  (void)state;
  calc_impl c = {.bad = SIZE_MAX};
  tg_dataset calc = calc_dataset(40, &c);
  tg_loader *l = tg_loader_new_workers(&calc, 4, false, false, 0, 1);
  tg_tensor *x, *y, *prev = NULL;
  float first[24];
  for (int k = 0; k < 10; k++) {
    assert_true(tg_loader_next(l, &x, &y));
    assert_true(x != prev); /* double buffered */
    assert_int_equal(x->obj.scope, 0);
    memcpy(first, tg_data_f32(x), sizeof first);
    nap(2000); /* time for the worker to fill ahead */
    assert_memory_equal(first, tg_data_f32(x), sizeof first);
    /* hand-computed: item 4k + r, element j is ((4k + r) * 10 + j) / 7 */
    for (size_t r = 0; r < 4; r++)
      for (size_t j = 0; j < 6; j++)
        assert_true(first[r * 6 + j] == (float)((4 * (size_t)k + r) * 10 + j) / 7.0f);
    prev = x;
  }
  assert_false(tg_loader_next(l, &x, &y));
  assert_false(tg_loader_failed(l));
  /* every item fetched exactly once: nothing fetched twice or beyond the epoch */
  assert_int_equal(atomic_load(&c.fetches), 40);
  tg_loader_free(l);
}

static void test_workers_fetch_error(void **state) {
  (void)state;
  for (int w = 0; w <= 2; w++) {
    calc_impl c = {.bad = 5};
    tg_dataset calc = calc_dataset(8, &c);
    tg_loader *l = tg_loader_new_workers(&calc, 4, false, false, 0, w);
    tg_tensor *x, *y;
    assert_true(tg_loader_next(l, &x, &y));
    assert_false(tg_loader_failed(l));
    assert_false(tg_loader_next(l, &x, &y)); /* rows 4..7 hold item 5 */
    assert_null(x);
    assert_true(tg_loader_failed(l));
    assert_string_equal(tg_last_error(),
                        "loader_next: sample 5: calc dataset: item 5 is unreadable");
    /* the next call starts a new epoch, which fails at the same batch */
    assert_true(tg_loader_next(l, &x, &y));
    assert_int_equal(tg_loader_epoch(l), 2);
    assert_true(tg_get_flat(x, 6) == 10.0f / 7.0f);
    assert_false(tg_loader_next(l, &x, &y));
    assert_true(tg_loader_failed(l));
    tg_loader_free(l);
  }
  /* shuffled: the failure comes at the same batch as without workers */
  calc_impl c = {.bad = 17};
  tg_dataset calc = calc_dataset(40, &c);
  size_t fail_at[3];
  for (int w = 0; w <= 2; w++) {
    tg_loader *l = tg_loader_new_workers(&calc, 3, true, true, 77, w);
    tg_tensor *x, *y;
    size_t k = 0;
    while (tg_loader_next(l, &x, &y)) k++;
    assert_true(tg_loader_failed(l));
    assert_non_null(strstr(tg_last_error(), "sample 17: calc dataset: item 17"));
    fail_at[w] = k;
    tg_loader_free(l);
  }
  assert_true(fail_at[0] < 13);
  assert_int_equal(fail_at[1], fail_at[0]);
  assert_int_equal(fail_at[2], fail_at[0]);
}

/* free while the workers are busy with slow fetches: they are joined, and
 * ASan sees no leak and no use after free */
static void test_workers_free_mid_epoch(void **state) {
  (void)state;
  calc_impl c = {.bad = SIZE_MAX, .delay_us = 200};
  tg_dataset calc = calc_dataset(64, &c);
  for (int w = 1; w <= 3; w++) {
    tg_loader *l = tg_loader_new_workers(&calc, 4, true, false, 3, w);
    tg_tensor *x, *y;
    assert_true(tg_loader_next(l, &x, &y));
    tg_loader_free(l);
    /* never started an epoch */
    tg_loader_free(tg_loader_new_workers(&calc, 4, true, false, 3, w));
  }
  size_t after = atomic_load(&c.fetches);
  nap(2000);
  assert_int_equal(atomic_load(&c.fetches), after); /* no thread is left running */
}

/* two loaders with workers over one transformed dataset (one scratch
 * buffer), stepped in turn: each gives its own batches, with no race */
static void test_workers_shared_dataset(void **state) {
  (void)state;
  tg_dataset *img = image_dataset();
  trace ref_a = run(img, 4, true, false, 0, 1, 0), ref_b = run(img, 3, false, true, 0, 1, 0);
  tg_loader *a = tg_loader_new_workers(img, 4, true, false, 1234, 1);
  tg_loader *b = tg_loader_new_workers(img, 3, false, true, 1234, 2);
  trace ta = {0}, tb = {0};
  tg_tensor *x, *y;
  bool more_a = true, more_b = true;
  while (more_a || more_b) {
    if (more_a && (more_a = tg_loader_next(a, &x, &y))) record(&ta, x, y);
    if (more_b && (more_b = tg_loader_next(b, &x, &y))) record(&tb, x, y);
  }
  assert_same_trace(&ref_a, &ta);
  assert_same_trace(&ref_b, &tb);
  free(ref_a.bytes), free(ref_b.bytes), free(ta.bytes), free(tb.bytes);
  tg_loader_free(a);
  tg_loader_free(b);
  tg_dataset_free(img);
}

static void test_workers_no_alloc_per_batch(void **state) {
  (void)state;
  tg_dataset *img = image_dataset();
  tg_loader *l = tg_loader_new_workers(img, 4, true, false, 5, 2);
  tg_tensor *x, *y;
  while (tg_loader_next(l, &x, &y)) {
  }
  size_t mallocs = tg_memory_get_stats().mallocs, live = tg_memory_get_stats().live_objects;
  size_t steps = 0;
  atomic_store(&probe_count, 0);
  atomic_store(&probe_on, 1);
  for (int e = 0; e < 3; e++)
    while (tg_loader_next(l, &x, &y)) steps++;
  atomic_store(&probe_on, 0);
  assert_int_equal(steps, 18);
  assert_int_equal(tg_memory_get_stats().mallocs, mallocs);
  assert_int_equal(tg_memory_get_stats().live_objects, live);
#ifdef HAVE_MALLOC_HOOK
  assert_int_equal(atomic_load(&probe_count), 0);
#endif
  tg_loader_free(l);
  tg_dataset_free(img);
}

static void test_workers_bad_input(void **state) {
  (void)state;
  calc_impl c = {.bad = SIZE_MAX};
  tg_dataset calc = calc_dataset(8, &c);
  assert_null(tg_loader_new_workers(&calc, 4, false, false, 0, -1));
  assert_non_null(strstr(tg_last_error(), "loader_new: num_workers is -1"));
  assert_null(tg_loader_new_workers(&calc, 4, false, false, 0, 65));
  assert_non_null(strstr(tg_last_error(), "num_workers is 65"));
  assert_null(tg_loader_new_workers(NULL, 4, false, false, 0, 2));
  assert_non_null(strstr(tg_last_error(), "the dataset is NULL"));
  assert_null(tg_loader_new_workers(&calc, 0, false, false, 0, 2));
  assert_non_null(strstr(tg_last_error(), "batch_size is 0"));
  /* an empty dataset: no batches, no error */
  tg_dataset empty = calc_dataset(0, &c);
  tg_loader *l = tg_loader_new_workers(&empty, 4, true, false, 0, 2);
  assert_non_null(l);
  tg_tensor *x, *y;
  assert_false(tg_loader_next(l, &x, &y));
  assert_false(tg_loader_failed(l));
  tg_loader_free(l);
  /* the sample shape changed between epochs: refused, as without workers */
  const uint8_t px[4] = {1, 2, 3, 4};
  tg_dataset *img = tg_dataset_from_bytes(1, TG_SHAPE(1, 2, 2), px, NULL);
  l = tg_loader_new_workers(img, 1, false, false, 0, 1);
  assert_int_equal(tg_dataset_set_transform(img, &(tg_transform){.pad_h = 4, .pad_w = 4}), 0);
  assert_false(tg_loader_next(l, &x, &y));
  assert_true(tg_loader_failed(l));
  assert_non_null(strstr(tg_last_error(), "sample shape changed"));
  tg_loader_free(l);
  tg_dataset_free(img);
}

static int group_setup(void **state) {
  (void)state;
#ifdef HAVE_MALLOC_HOOK
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_workers_identical_batches), TG_TEST(test_workers_reset_mid_epoch),
      TG_TEST(test_workers_batch_stays_valid), TG_TEST(test_workers_fetch_error),
      TG_TEST(test_workers_free_mid_epoch),    TG_TEST(test_workers_no_alloc_per_batch),
      TG_TEST(test_workers_bad_input),        TG_TEST(test_workers_shared_dataset),
  };
  int rc = cmocka_run_group_tests_name("loader_workers", tests, group_setup, NULL);
  tg_release_cached();
  return rc;
}
