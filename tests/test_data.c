/* data/: the IDX, CIFAR-10 and CSV readers against fixtures written here
 * (plain and gzip), every malformed input they must reject, the DataLoader
 * (coverage, shuffling, reuse of its tensors, no allocation per step), the
 * transforms against hand-computed values, and Fashion-MNIST when the
 * Debian package is installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "tg_test.h"

/* ------------------------------------------------------- allocation probe
 * (HAVE_MALLOC_HOOK: tg_test.h) */
static volatile int probe_on;
static volatile size_t probe_count, probe_max;

#ifdef HAVE_MALLOC_HOOK
static void on_malloc(const volatile void *p, size_t n) {
  (void)p;
  if (!probe_on) return;
  probe_count = probe_count + 1;
  if (n > probe_max) probe_max = n;
}
static void on_free(const volatile void *p) { (void)p; }
#endif

static void probe_start(void) {
  probe_count = probe_max = 0;
  probe_on = 1;
}
static void probe_stop(void) { probe_on = 0; }

/* ------------------------------------------------------------- fixtures */

static char tmpdir[64];
#define MAX_FIXTURES 128
static char fixtures[MAX_FIXTURES][256]; /* files, then removed in reverse order */
static size_t n_fixtures;

static const char *track(const char *name) {
  assert_true(n_fixtures < MAX_FIXTURES);
  char *p = fixtures[n_fixtures++];
  snprintf(p, sizeof fixtures[0], "%s/%s", tmpdir, name);
  return p;
}

/* write n bytes to tmpdir/name, through gzip when gz; returns the path */
static const char *write_fixture(const char *name, const void *data, size_t n, bool gz) {
  const char *path = track(name);
  if (gz) {
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
  }
  return path;
}

static const char *make_subdir(const char *name) {
  const char *path = track(name);
  assert_int_equal(mkdir(path, 0700), 0);
  return path;
}

static int group_setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/tg_test_data_XXXXXX");
  if (!mkdtemp(tmpdir)) return -1;
#ifdef HAVE_MALLOC_HOOK
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  while (n_fixtures) remove(fixtures[--n_fixtures]); /* files before their subdirs */
  return rmdir(tmpdir);
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An IDX file in buf: magic, dims, then `data_len` bytes of data (not
 * necessarily what the dims claim, for the malformed cases). */
static size_t idx_bytes(uint8_t *buf, uint32_t magic, int ndim, const uint32_t *dims,
                        const uint8_t *data, size_t data_len) {
  put_be32(buf, magic);
  for (int d = 0; d < ndim; d++) put_be32(buf + 4 + 4 * d, dims[d]);
  size_t h = 4 + 4 * (size_t)ndim;
  if (data_len) memcpy(buf + h, data, data_len);
  return h + data_len;
}

/* the fixture images: 3 images of 2x3, pixel (i, r, c) = 40 i + 3 r + c + 200 (mod 256) */
enum { FX_N = 3, FX_ROWS = 2, FX_COLS = 3 };
static uint8_t fx_pixel(size_t i, size_t r, size_t c) {
  return (uint8_t)(40 * i + 3 * r + c + 200);
}
static const uint8_t fx_labels[FX_N] = {0, 7, 12}; /* 12: a label >= 10 is allowed */

static const char *write_images(const char *name, bool gz, uint32_t n_claimed, size_t n_data) {
  uint8_t px[FX_N * FX_ROWS * FX_COLS], buf[64];
  for (size_t i = 0; i < FX_N; i++)
    for (size_t r = 0; r < FX_ROWS; r++)
      for (size_t c = 0; c < FX_COLS; c++) px[(i * FX_ROWS + r) * FX_COLS + c] = fx_pixel(i, r, c);
  uint32_t dims[3] = {n_claimed, FX_ROWS, FX_COLS};
  return write_fixture(name, buf, idx_bytes(buf, 0x803, 3, dims, px, n_data), gz);
}

static const char *write_labels(const char *name, bool gz, uint32_t n) {
  uint8_t buf[32];
  uint32_t dims[1] = {n};
  return write_fixture(name, buf, idx_bytes(buf, 0x801, 1, dims, fx_labels, n < FX_N ? n : FX_N), gz);
}

/* the last error mentions every one of the given strings */
static void assert_error_has(const char *a, const char *b, const char *c) {
  const char *e = tg_last_error();
  if (!strstr(e, a) || (b && !strstr(e, b)) || (c && !strstr(e, c)))
    fail_msg("error \"%s\" should mention \"%s\", \"%s\", \"%s\"", e, a, b ? b : "", c ? c : "");
  tg_clear_error();
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ IDX */

static void check_fixture_dataset(tg_dataset *ds) {
  assert_non_null(ds);
  assert_int_equal(ds->length, FX_N);
  assert_int_equal(ds->ndim, 3);
  assert_int_equal(ds->shape[0], 1);
  assert_int_equal(ds->shape[1], FX_ROWS);
  assert_int_equal(ds->shape[2], FX_COLS);
  assert_int_equal(ds->sample_numel, FX_ROWS * FX_COLS);
  assert_true(ds->has_labels);
  assert_int_equal(ds->num_classes, 13); /* largest label 12, plus one */
  float x[FX_ROWS * FX_COLS];
  for (size_t i = 0; i < FX_N; i++) {
    int64_t y = -5;
    assert_int_equal(tg_dataset_get(ds, i, x, &y), 0);
    assert_int_equal(y, fx_labels[i]);
    for (size_t r = 0; r < FX_ROWS; r++)
      for (size_t c = 0; c < FX_COLS; c++)
        assert_close(x[r * FX_COLS + c], fx_pixel(i, r, c) / 255.0, 1e-7);
  }
}

static void test_idx_plain(void **state) {
  (void)state;
  const char *img = write_images("plain-images", false, FX_N, sizeof(uint8_t) * FX_N * 6);
  const char *lab = write_labels("plain-labels", false, FX_N);
  tg_dataset *ds = NULL;
  assert_int_equal(tg_idx_load(img, lab, &ds), 0);
  check_fixture_dataset(ds);
  tg_dataset_free(ds);
}

static void test_idx_gz(void **state) {
  (void)state;
  const char *img = write_images("gz-images.gz", true, FX_N, FX_N * 6);
  const char *lab = write_labels("gz-labels.gz", true, FX_N);
  tg_dataset *ds = NULL;
  assert_int_equal(tg_idx_load(img, lab, &ds), 0);
  check_fixture_dataset(ds);
  tg_dataset_free(ds);
}

static void test_idx_bad_magic(void **state) {
  (void)state;
  uint8_t buf[64];
  uint32_t dims[2] = {FX_N, 4};
  /* an idx2 file where images (idx3) are expected */
  const char *img = write_fixture("magic-images", buf, idx_bytes(buf, 0x802, 2, dims, NULL, 0), false);
  const char *lab = write_labels("magic-labels", false, FX_N);
  tg_dataset *ds = (tg_dataset *)&ds;
  assert_int_equal(tg_idx_load(img, lab, &ds), -1);
  assert_null(ds);
  assert_error_has(img, "magic", "0x00000803");
  /* images and labels given the wrong way round */
  const char *good = write_images("magic-good-images", false, FX_N, FX_N * 6);
  assert_int_equal(tg_idx_load(lab, good, &ds), -1);
  assert_error_has(good, "0x00000803, expected 0x00000801", "swapped");
}

static void test_idx_truncated_header(void **state) {
  (void)state;
  const uint8_t half[6] = {0, 0, 8, 3, 0, 0}; /* magic, then half of the first size */
  const char *img = write_fixture("short-header", half, sizeof half, false);
  const char *lab = write_labels("short-header-labels", false, FX_N);
  const char *lab2 = write_fixture("two-bytes", half, 2, false);
  tg_dataset *ds = NULL;
  assert_int_equal(tg_idx_load(img, lab, &ds), -1);
  assert_null(ds);
  assert_error_has(img, "truncated at byte offset 6", "header");
  assert_int_equal(tg_idx_load(img, lab2, &ds), -1);
  assert_error_has(lab2, "truncated at byte offset 2", "magic");
}

static void test_idx_truncated_data(void **state) {
  (void)state;
  /* 18 pixel bytes claimed, 10 present */
  const char *lab = write_labels("trunc-labels", false, FX_N);
  for (int gz = 0; gz < 2; gz++) {
    const char *img = write_images(gz ? "trunc-images.gz" : "trunc-images", gz, FX_N, 10);
    tg_dataset *ds = NULL;
    assert_int_equal(tg_idx_load(img, lab, &ds), -1);
    assert_null(ds);
    assert_error_has(img, "truncated at byte offset 26", "18 bytes of pixel data from offset 16");
  }
  /* and the labels: 3 claimed, 2 present */
  uint8_t buf[32];
  uint32_t dims[1] = {FX_N};
  const char *short_lab = write_fixture("trunc-labels.gz", buf, idx_bytes(buf, 0x801, 1, dims, fx_labels, 2), true);
  tg_dataset *ds = NULL;
  assert_int_equal(tg_idx_load("unused", short_lab, &ds), -1);
  assert_error_has(short_lab, "truncated at byte offset 10", "labels");
}

static void test_idx_trailing_data(void **state) {
  (void)state;
  const char *lab = write_labels("trail-labels", false, FX_N);
  uint8_t buf[64], px[FX_N * 6 + 2] = {0};
  uint32_t dims[3] = {FX_N, FX_ROWS, FX_COLS};
  const char *img = write_fixture("trail-images", buf, idx_bytes(buf, 0x803, 3, dims, px, sizeof px), false);
  tg_dataset *ds = NULL;
  assert_int_equal(tg_idx_load(img, lab, &ds), -1);
  assert_error_has(img, "byte offset 34", "end of the file");
}

/* A header claiming 2^32 - 1 items fails at once, without a big malloc. */
static void test_idx_huge_header(void **state) {
  (void)state;
  const char *lab = write_labels("huge-ok-labels", false, FX_N);
  uint8_t buf[64], px[4] = {1, 2, 3, 4};
  uint32_t big28[3] = {0xFFFFFFFFu, 28, 28}, big1[3] = {0xFFFFFFFFu, 1, 1}, lab_dims[1] = {0xFFFFFFFFu};
  const char *over = write_fixture("huge-28.gz", buf, idx_bytes(buf, 0x803, 3, big28, px, 4), true);
  const char *plain = write_fixture("huge-1", buf, idx_bytes(buf, 0x803, 3, big1, px, 4), false);
  const char *gz = write_fixture("huge-1.gz", buf, idx_bytes(buf, 0x803, 3, big1, px, 4), true);
  const char *hl = write_fixture("huge-labels.gz", buf, idx_bytes(buf, 0x801, 1, lab_dims, px, 4), true);
  tg_dataset *ds = NULL;
  double t0 = now();
  probe_start();
  assert_int_equal(tg_idx_load(over, lab, &ds), -1);
  probe_stop();
  assert_error_has(over, "4294967295 items", "limit");
  probe_start();
  assert_int_equal(tg_idx_load(plain, lab, &ds), -1);
  probe_stop();
  /* the plain file is measured before anything is allocated for it */
  assert_error_has(plain, "4294967295 bytes of pixel data", "the file has 20 bytes");
  probe_start();
  assert_int_equal(tg_idx_load(gz, lab, &ds), -1);
  assert_error_has(gz, "truncated at byte offset 20", "(decompressed)");
  assert_int_equal(tg_idx_load(lab, hl, &ds), -1);
  probe_stop();
  assert_error_has(hl, "truncated at byte offset 12", "4294967295 bytes of labels");
  assert_null(ds);
  assert_true(now() - t0 < 2.0);
#ifdef HAVE_MALLOC_HOOK
  /* the probe saw zlib's buffers; the gzip streams got the first chunk
   * (1 MiB), never gigabytes */
  assert_true(probe_count > 0);
  assert_true(probe_max <= ((size_t)1 << 21));
#endif
}

static void test_idx_count_mismatch(void **state) {
  (void)state;
  const char *img = write_images("count-images", false, FX_N, FX_N * 6);
  const char *lab = write_labels("count-labels", false, FX_N - 1);
  tg_dataset *ds = NULL;
  assert_int_equal(tg_idx_load(img, lab, &ds), -1);
  assert_null(ds);
  assert_error_has(img, lab, "3 images but");
}

static void test_missing_files(void **state) {
  (void)state;
  char missing[300];
  snprintf(missing, sizeof missing, "%s/does-not-exist", tmpdir);
  const char *lab = write_labels("missing-labels", false, FX_N);
  tg_dataset *ds = NULL;
  assert_int_equal(tg_idx_load(missing, lab, &ds), -1);
  assert_error_has(missing, "No such file", NULL);
  assert_int_equal(tg_idx_load(NULL, lab, &ds), -1);
  assert_error_has("NULL", NULL, NULL);
  const char *one[1] = {missing};
  assert_int_equal(tg_cifar10_load(1, one, &ds), -1);
  assert_error_has("cifar10", missing, "No such file");
  assert_int_equal(tg_csv_load(missing, NULL, &ds), -1);
  assert_error_has("csv", missing, "No such file");
  assert_int_equal(tg_mnist_load(missing, true, &ds), -1);
  assert_error_has(missing, "train-images-idx3-ubyte", "not found");
  assert_int_equal(tg_cifar10_load_dir(missing, false, &ds), -1);
  assert_error_has(missing, "test_batch.bin", NULL);
  assert_null(ds);
}

/* MNIST's file names, gzip and plain, dashes and Kaggle's dots */
static void test_mnist_dir(void **state) {
  (void)state;
  const char *dir = make_subdir("mnist");
  assert_non_null(write_images("mnist/train-images-idx3-ubyte.gz", true, FX_N, FX_N * 6));
  assert_non_null(write_labels("mnist/train-labels-idx1-ubyte.gz", true, FX_N));
  assert_non_null(write_images("mnist/t10k-images.idx3-ubyte", false, FX_N, FX_N * 6));
  assert_non_null(write_labels("mnist/t10k-labels.idx1-ubyte", false, FX_N));
  tg_dataset *train = NULL, *test = NULL;
  assert_int_equal(tg_mnist_load(dir, true, &train), 0);
  check_fixture_dataset(train);
  assert_int_equal(tg_mnist_load(dir, false, &test), 0);
  check_fixture_dataset(test);
  tg_dataset_free(train);
  tg_dataset_free(test);
}

/* ---------------------------------------------------------------- CIFAR */

enum { CIFAR_REC = 3073 };
static uint8_t cifar_pixel(size_t rec, size_t ch, size_t r, size_t c) {
  return (uint8_t)(7 * rec + 50 * ch + r + 2 * c);
}

/* records first..first+n-1 of the fixture, labels[k] = (3 k + 1) mod 10 */
static size_t cifar_bytes(uint8_t *buf, size_t first, size_t n) {
  for (size_t k = first; k < first + n; k++) {
    uint8_t *rec = buf + (k - first) * CIFAR_REC;
    rec[0] = (uint8_t)((3 * k + 1) % 10);
    for (size_t ch = 0; ch < 3; ch++)
      for (size_t r = 0; r < 32; r++)
        for (size_t c = 0; c < 32; c++) rec[1 + ch * 1024 + r * 32 + c] = cifar_pixel(k, ch, r, c);
  }
  return n * CIFAR_REC;
}

static void test_cifar_batches(void **state) {
  (void)state;
  static uint8_t buf[3 * CIFAR_REC];
  const char *a = write_fixture("data_batch_a.bin", buf, cifar_bytes(buf, 0, 2), false);
  const char *b = write_fixture("data_batch_b.bin.gz", buf, cifar_bytes(buf, 2, 1), true);
  const char *paths[2] = {a, b};
  tg_dataset *ds = NULL;
  assert_int_equal(tg_cifar10_load(2, paths, &ds), 0);
  assert_int_equal(ds->length, 3);
  assert_int_equal(ds->ndim, 3);
  assert_int_equal(ds->shape[0], 3);
  assert_int_equal(ds->shape[1], 32);
  assert_int_equal(ds->shape[2], 32);
  assert_int_equal(ds->num_classes, 10);
  static float x[3072];
  for (size_t k = 0; k < 3; k++) {
    int64_t y;
    assert_int_equal(tg_dataset_get(ds, k, x, &y), 0);
    assert_int_equal(y, (3 * k + 1) % 10);
    /* channel-major: G plane, row 3, column 4; B plane, last pixel */
    assert_close(x[1024 + 3 * 32 + 4], cifar_pixel(k, 1, 3, 4) / 255.0, 1e-7);
    assert_close(x[3071], cifar_pixel(k, 2, 31, 31) / 255.0, 1e-7);
    assert_close(x[0], cifar_pixel(k, 0, 0, 0) / 255.0, 1e-7);
  }
  tg_dataset_free(ds);
}

static void test_cifar_dir(void **state) {
  (void)state;
  static uint8_t buf[CIFAR_REC];
  make_subdir("cifar");
  char name[64];
  for (int i = 1; i <= 5; i++) {
    snprintf(name, sizeof name, "cifar/data_batch_%d.bin", i);
    write_fixture(name, buf, cifar_bytes(buf, (size_t)i, 1), false);
  }
  write_fixture("cifar/test_batch.bin", buf, cifar_bytes(buf, 9, 1), false);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/cifar", tmpdir);
  tg_dataset *train = NULL, *test = NULL;
  assert_int_equal(tg_cifar10_load_dir(dir, true, &train), 0);
  assert_int_equal(tg_cifar10_load_dir(dir, false, &test), 0);
  assert_int_equal(train->length, 5);
  assert_int_equal(test->length, 1);
  int64_t y;
  static float x[3072];
  assert_int_equal(tg_dataset_get(train, 4, x, &y), 0); /* from data_batch_5 = record 5 */
  assert_int_equal(y, (3 * 5 + 1) % 10);
  assert_int_equal(tg_dataset_get(test, 0, x, &y), 0);
  assert_int_equal(y, (3 * 9 + 1) % 10);
  tg_dataset_free(train);
  tg_dataset_free(test);
}

static void test_cifar_malformed(void **state) {
  (void)state;
  static uint8_t buf[2 * CIFAR_REC];
  cifar_bytes(buf, 0, 2);
  const char *short_plain = write_fixture("cifar-short.bin", buf, 2 * CIFAR_REC - 1, false);
  const char *short_gz = write_fixture("cifar-short.bin.gz", buf, CIFAR_REC + 100, true);
  const char *empty = write_fixture("cifar-empty.bin", buf, 0, false);
  buf[CIFAR_REC] = 10; /* record 1's label */
  const char *bad_label = write_fixture("cifar-label.bin", buf, 2 * CIFAR_REC, false);
  const char *good = write_fixture("cifar-good.bin", buf, CIFAR_REC, false);
  tg_dataset *ds = NULL;
  assert_int_equal(tg_cifar10_load(1, &short_plain, &ds), -1);
  assert_error_has(short_plain, "size 6145 bytes", "not a multiple of the 3073-byte record");
  assert_int_equal(tg_cifar10_load(1, &short_gz, &ds), -1);
  assert_error_has(short_gz, "not a multiple of the 3073", "byte offset 3073 has 100 bytes");
  assert_int_equal(tg_cifar10_load(1, &empty, &ds), -1);
  assert_error_has(empty, "empty", NULL);
  assert_int_equal(tg_cifar10_load(1, &bad_label, &ds), -1);
  assert_error_has(bad_label, "byte offset 3073 (record 1): label 10", "expected 0..9");
  /* a bad file after a good one: still an error, and nothing leaks */
  const char *pair[2] = {good, short_plain};
  assert_int_equal(tg_cifar10_load(2, pair, &ds), -1);
  assert_error_has(short_plain, "not a multiple", NULL);
  assert_null(ds);
}

/* ------------------------------------------------------------------ CSV */

static void test_csv_header_and_label(void **state) {
  (void)state;
  const char text[] = "f1,f2,label\n1,2,0\n3.5,-4,2\n\n 5e-1 , 6 ,1\r\n";
  const char *path = write_fixture("with-header.csv", text, strlen(text), false);
  const char *gzp = write_fixture("with-header.csv.gz", text, strlen(text), true);
  const float want[3][2] = {{1, 2}, {3.5f, -4}, {0.5f, 6}};
  const int64_t want_y[3] = {0, 2, 1};
  for (int k = 0; k < 2; k++) {
    tg_dataset *ds = NULL;
    tg_csv_opts o = {.header = k ? TG_CSV_HEADER_YES : TG_CSV_HEADER_AUTO, .label_column = 2};
    assert_int_equal(tg_csv_load(k ? gzp : path, &o, &ds), 0);
    assert_int_equal(ds->length, 3);
    assert_int_equal(ds->ndim, 1);
    assert_int_equal(ds->shape[0], 2);
    assert_int_equal(ds->num_classes, 3);
    for (size_t i = 0; i < 3; i++) {
      float x[2];
      int64_t y;
      assert_int_equal(tg_dataset_get(ds, i, x, &y), 0);
      assert_close(x[0], want[i][0], 0);
      assert_close(x[1], want[i][1], 0);
      assert_int_equal(y, want_y[i]);
    }
    tg_dataset_free(ds);
  }
}

static void test_csv_no_header_no_label(void **state) {
  (void)state;
  const char text[] = "1;2;3\n-4;5.25;6\n";
  const char *path = write_fixture("plain.csv", text, strlen(text), false);
  tg_dataset *ds = NULL;
  tg_csv_opts o = {.label_column = TG_CSV_NO_LABEL, .delimiter = ';'};
  assert_int_equal(tg_csv_load(path, &o, &ds), 0);
  assert_int_equal(ds->length, 2);
  assert_int_equal(ds->shape[0], 3);
  assert_false(ds->has_labels);
  assert_int_equal(ds->num_classes, 0);
  float x[3];
  assert_int_equal(tg_dataset_get(ds, 1, x, NULL), 0);
  assert_close(x[0], -4, 0);
  assert_close(x[1], 5.25, 0);
  assert_close(x[2], 6, 0);
  /* an unlabelled dataset gives a loader with no y */
  tg_loader *l = tg_loader_new(ds, 2, false, false, 0);
  tg_tensor *bx, *by = (tg_tensor *)l;
  assert_true(tg_loader_next(l, &bx, &by));
  assert_null(by);
  assert_close(tg_get(bx, (size_t[]){0, 2}), 3, 0);
  tg_loader_free(l);
  tg_dataset_free(ds);
}

static void test_csv_malformed(void **state) {
  (void)state;
  const char ragged[] = "1,2,3\n4,5,6\n7,8\n";
  const char word[] = "a,b,c\n1,2,3\n4,abc,6\n";
  const char empty_field[] = "1,2,3\n1,,3\n";
  const char label[] = "1,2.5\n";
  const char only_header[] = "x,y\n";
  const char *p_ragged = write_fixture("ragged.csv", ragged, strlen(ragged), false);
  const char *p_word = write_fixture("word.csv", word, strlen(word), false);
  const char *p_empty = write_fixture("empty-field.csv", empty_field, strlen(empty_field), false);
  const char *p_label = write_fixture("label.csv", label, strlen(label), false);
  const char *p_header = write_fixture("only-header.csv", only_header, strlen(only_header), false);
  tg_dataset *ds = NULL;
  tg_csv_opts none = {.label_column = TG_CSV_NO_LABEL};
  assert_int_equal(tg_csv_load(p_ragged, &none, &ds), -1);
  assert_error_has(p_ragged, "line 3", "2 fields, expected 3");
  assert_int_equal(tg_csv_load(p_word, &none, &ds), -1);
  assert_error_has(p_word, "line 3, column 2 (byte offset 14)", "'abc' is not a number");
  /* told there is no header, the header line itself is the bad row */
  tg_csv_opts no_header = {.header = TG_CSV_HEADER_NO, .label_column = TG_CSV_NO_LABEL};
  assert_int_equal(tg_csv_load(p_word, &no_header, &ds), -1);
  assert_error_has(p_word, "line 1, column 1", "'a' is not a number");
  assert_int_equal(tg_csv_load(p_empty, &none, &ds), -1);
  assert_error_has(p_empty, "line 2, column 2", "empty");
  tg_csv_opts lab1 = {.label_column = 1};
  assert_int_equal(tg_csv_load(p_label, &lab1, &ds), -1);
  assert_error_has(p_label, "line 1, column 2", "class label");
  tg_csv_opts lab5 = {.label_column = 5};
  assert_int_equal(tg_csv_load(p_label, &lab5, &ds), -1);
  assert_error_has(p_label, "label column 5 does not exist", NULL);
  assert_int_equal(tg_csv_load(p_header, &none, &ds), -1);
  assert_error_has(p_header, "no data rows", NULL);
  assert_null(ds);
}

/* ------------------------------------------------------------ DataLoader */

/* n samples of shape [2]: x = (i, -i), label i */
static tg_dataset *index_dataset(size_t n) {
  float *x = malloc(2 * n * sizeof *x);
  int64_t *y = malloc(n * sizeof *y);
  assert_non_null(x);
  assert_non_null(y);
  for (size_t i = 0; i < n; i++) x[2 * i] = (float)i, x[2 * i + 1] = -(float)i, y[i] = (int64_t)i;
  tg_dataset *ds = tg_dataset_from_floats(n, TG_SHAPE(2), x, y);
  free(x);
  free(y);
  assert_non_null(ds);
  return ds;
}

/* One epoch's labels in visiting order into order[]; returns the count and
 * checks each batch: shapes, dtypes, and x rows that match their labels. */
static size_t run_epoch(tg_loader *l, size_t batch, int64_t *order, size_t *n_batches) {
  tg_tensor *x, *y;
  size_t seen = 0;
  *n_batches = 0;
  while (tg_loader_next(l, &x, &y)) {
    size_t b = x->shape[0];
    assert_true(b >= 1 && b <= batch);
    assert_int_equal(x->ndim, 2);
    assert_int_equal(x->shape[1], 2);
    assert_int_equal(x->dtype, TG_FLOAT32);
    assert_int_equal(y->dtype, TG_INT64);
    assert_int_equal(y->ndim, 1);
    assert_int_equal(y->shape[0], b);
    const float *xs = tg_data_f32(x);
    const int64_t *ys = tg_data(y);
    for (size_t k = 0; k < b; k++) {
      assert_close(xs[2 * k], (double)ys[k], 0);
      assert_close(xs[2 * k + 1], -(double)ys[k], 0);
      order[seen++] = ys[k];
    }
    (*n_batches)++;
  }
  assert_false(tg_loader_failed(l));
  assert_null(x);
  return seen;
}

static void assert_permutation(const int64_t *order, size_t n) {
  int seen[64] = {0};
  for (size_t i = 0; i < n; i++) {
    assert_true(order[i] >= 0 && order[i] < (int64_t)n);
    assert_int_equal(seen[order[i]]++, 0);
  }
}

static void test_loader_shuffle_epochs(void **state) {
  (void)state;
  enum { N = 10 };
  tg_dataset *ds = index_dataset(N);
  tg_loader *a = tg_loader_new(ds, 3, true, false, 42);
  tg_loader *b = tg_loader_new(ds, 3, true, false, 42);
  tg_loader *c = tg_loader_new(ds, 3, true, false, 43);
  int64_t oa[3][N], ob[N], oc[N];
  size_t nb;
  for (int e = 0; e < 3; e++) {
    assert_int_equal(run_epoch(a, 3, oa[e], &nb), N);
    assert_int_equal(nb, 4); /* 3 + 3 + 3 + 1 */
    assert_int_equal(tg_loader_epoch(a), (size_t)e + 1);
    assert_permutation(oa[e], N);
    /* the same seed visits the same sequence of permutations */
    assert_int_equal(run_epoch(b, 3, ob, &nb), N);
    assert_memory_equal(oa[e], ob, sizeof ob);
  }
  /* a new permutation every epoch, not the identity, and another seed differs */
  assert_memory_not_equal(oa[0], oa[1], sizeof oa[0]);
  assert_memory_not_equal(oa[1], oa[2], sizeof oa[0]);
  int64_t ident[N];
  for (int i = 0; i < N; i++) ident[i] = i;
  assert_memory_not_equal(oa[0], ident, sizeof ident);
  assert_int_equal(run_epoch(c, 3, oc, &nb), N);
  assert_memory_not_equal(oa[0], oc, sizeof oc);
  tg_loader_free(a);
  tg_loader_free(b);
  tg_loader_free(c);
  tg_dataset_free(ds);
}

/* Fisher-Yates with unbiased draws: all 6 orders of 3 items about equally often */
static void test_loader_shuffle_uniform(void **state) {
  (void)state;
  tg_dataset *ds = index_dataset(3);
  tg_loader *l = tg_loader_new(ds, 3, true, false, 7);
  int counts[6] = {0};
  const int epochs = 6000;
  for (int e = 0; e < epochs; e++) {
    int64_t o[3];
    size_t nb;
    assert_int_equal(run_epoch(l, 3, o, &nb), 3);
    /* the permutation's index: first item (3 ways) x whether the rest are in order */
    counts[o[0] * 2 + (o[1] < o[2])]++;
  }
  /* expected 1000 each; sd = sqrt(6000 * 1/6 * 5/6) = 28.9, allow 5 sd */
  for (int k = 0; k < 6; k++) assert_true(counts[k] > 1000 - 145 && counts[k] < 1000 + 145);
  tg_loader_free(l);
  tg_dataset_free(ds);
}

static void test_loader_drop_last(void **state) {
  (void)state;
  tg_dataset *ds = index_dataset(10);
  int64_t o[10];
  size_t nb;
  tg_loader *keep = tg_loader_new(ds, 4, false, false, 0);
  tg_loader *drop = tg_loader_new(ds, 4, false, true, 0);
  assert_int_equal(tg_loader_num_batches(keep), 3);
  assert_int_equal(tg_loader_num_batches(drop), 2);
  /* without shuffle: 0..9 in order, the last batch of 2 */
  assert_int_equal(run_epoch(keep, 4, o, &nb), 10);
  assert_int_equal(nb, 3);
  for (int i = 0; i < 10; i++) assert_int_equal(o[i], i);
  assert_int_equal(run_epoch(drop, 4, o, &nb), 8);
  assert_int_equal(nb, 2);
  tg_tensor *x, *y;
  for (int i = 0; i < 3; i++) assert_true(tg_loader_next(keep, &x, &y));
  assert_int_equal(x->shape[0], 2);
  assert_int_equal(y->shape[0], 2);
  assert_int_equal(tg_get_flat(y, 1), 9);
  assert_false(tg_loader_next(keep, &x, &y));
  /* reset abandons an epoch: the next call starts over */
  assert_true(tg_loader_next(drop, &x, &y));
  tg_loader_reset(drop);
  assert_true(tg_loader_next(drop, &x, &y));
  assert_int_equal(tg_get_flat(y, 0), 0);
  assert_int_equal(tg_loader_epoch(drop), 3);
  /* a batch larger than the dataset: one short batch, or none with drop_last */
  tg_loader *big = tg_loader_new(ds, 64, true, false, 1);
  tg_loader *big_drop = tg_loader_new(ds, 64, true, true, 1);
  assert_int_equal(run_epoch(big, 64, o, &nb), 10);
  assert_int_equal(nb, 1);
  assert_permutation(o, 10);
  assert_int_equal(run_epoch(big_drop, 64, o, &nb), 0);
  assert_int_equal(tg_loader_num_batches(big_drop), 0);
  tg_loader_free(keep);
  tg_loader_free(drop);
  tg_loader_free(big);
  tg_loader_free(big_drop);
  tg_dataset_free(ds);
}

/* The batch tensors are the same two pairs every step, and after the first
 * epoch nothing calls an allocator (pool or system). */
static void test_loader_reuses_tensors(void **state) {
  (void)state;
  tg_dataset *ds = index_dataset(10);
  tg_loader *l = tg_loader_new(ds, 4, true, false, 5);
  tg_tensor *x, *y, *full_x = NULL, *full_y = NULL, *tail_x = NULL, *tail_y = NULL;
  while (tg_loader_next(l, &x, &y)) {
    if (x->shape[0] == 4) {
      if (!full_x) full_x = x, full_y = y;
      assert_ptr_equal(x, full_x);
      assert_ptr_equal(y, full_y);
    } else {
      tail_x = x, tail_y = y;
    }
  }
  assert_non_null(full_x);
  assert_non_null(tail_x);
  /* the short batch is a view of the full batch's first rows: no second buffer */
  assert_ptr_equal(tail_x->storage, full_x->storage);
  assert_ptr_equal(tail_y->storage, full_y->storage);
  size_t mallocs = tg_memory_get_stats().mallocs, live = tg_memory_get_stats().live_objects;
  size_t steps = 0;
  probe_start();
  for (int e = 0; e < 3; e++)
    while (tg_loader_next(l, &x, &y)) {
      steps++;
      assert_true(x == full_x || x == tail_x);
      assert_ptr_equal(y, x == full_x ? full_y : tail_y);
    }
  probe_stop();
  assert_int_equal(steps, 9);
  assert_int_equal(tg_memory_get_stats().mallocs, mallocs);
  assert_int_equal(tg_memory_get_stats().live_objects, live);
#ifdef HAVE_MALLOC_HOOK
  assert_int_equal(probe_count, 0);
#endif
  /* the tensors are persistent: they survive the test's scope until freed */
  assert_int_equal(full_x->obj.scope, 0);
  assert_int_equal(tail_x->obj.scope, 0);
  tg_loader_free(l);
  assert_int_equal(tg_memory_get_stats().live_objects, live - 4);
  tg_dataset_free(ds);
}

static int failing_fetch(tg_dataset *ds, size_t i, float *x, int64_t *y) {
  (void)ds;
  if (i == 5) return tg_dataset_error("test dataset: sample %zu is unreadable", i);
  x[0] = (float)i;
  if (y) *y = 0;
  return 0;
}

static void test_loader_errors(void **state) {
  (void)state;
  tg_dataset *ds = index_dataset(4);
  assert_null(tg_loader_new(NULL, 4, false, false, 0));
  assert_error_has("loader_new", "NULL", NULL);
  assert_null(tg_loader_new(ds, 0, false, false, 0));
  assert_error_has("batch_size is 0", NULL, NULL);
  tg_tensor *x = (tg_tensor *)ds, *y = (tg_tensor *)ds;
  assert_false(tg_loader_next(NULL, &x, &y));
  assert_null(x);
  assert_error_has("loader_next", NULL, NULL);
  /* a custom dataset whose fetch fails: next reports it, the next epoch works again */
  tg_dataset custom = {.length = 8, .ndim = 1, .shape = {1}, .sample_numel = 1,
                       .has_labels = true, .num_classes = 1, .fetch = failing_fetch};
  tg_loader *l = tg_loader_new(&custom, 4, false, false, 0);
  assert_non_null(l);
  assert_true(tg_loader_next(l, &x, &y));
  assert_false(tg_loader_next(l, &x, &y)); /* rows 4..7 include sample 5 */
  assert_true(tg_loader_failed(l));
  assert_error_has("loader_next: sample 5: test dataset: sample 5 is unreadable", NULL, NULL);
  assert_true(tg_loader_next(l, &x, &y));
  assert_false(tg_loader_failed(l));
  assert_close(tg_get_flat(x, 3), 3, 0);
  tg_loader_free(l);
  /* a transform that changes the sample shape under a live loader is refused */
  tg_loader *l2 = tg_loader_new(ds, 2, false, false, 0);
  assert_int_equal(tg_dataset_set_transform(ds, &(tg_transform){.n_norm = 1, .std = {1}}), 0);
  assert_true(tg_loader_next(l2, &x, &y)); /* the same shape: fine */
  const uint8_t px[4] = {1, 2, 3, 4};
  tg_dataset *img = tg_dataset_from_bytes(1, TG_SHAPE(1, 2, 2), px, NULL);
  tg_loader *l3 = tg_loader_new(img, 1, false, false, 0);
  assert_int_equal(tg_dataset_set_transform(img, &(tg_transform){.pad_h = 4, .pad_w = 4}), 0);
  assert_false(tg_loader_next(l3, &x, &y));
  assert_true(tg_loader_failed(l3));
  assert_error_has("sample shape changed", NULL, NULL);
  tg_loader_free(l2);
  tg_loader_free(l3);
  tg_dataset_free(img);
  /* out-of-range sample and set_transform on a custom dataset */
  float buf[2];
  assert_int_equal(tg_dataset_get(ds, 4, buf, NULL), -1);
  assert_error_has("index 4 is out of range", NULL, NULL);
  assert_int_equal(tg_dataset_set_transform(&custom, &(tg_transform){.flatten = true}), -1);
  assert_error_has("in-memory", NULL, NULL);
  tg_dataset_free(ds);
}

/* ------------------------------------------------------------ transforms */

static void test_tf_grayscale_weights(void **state) {
  (void)state;
  /* [3,1,4]: pure red, green, blue, and a mix */
  const float rgb[12] = {1, 0, 0, 0.2f, /* R */ 0, 1, 0, 0.4f, /* G */ 0, 0, 1, 0.6f /* B */};
  float g[4];
  tg_tf_grayscale(rgb, 1, 4, g);
  assert_close(g[0], 0.299, 1e-7);
  assert_close(g[1], 0.587, 1e-7);
  assert_close(g[2], 0.114, 1e-7);
  assert_close(g[3], 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6, 1e-6);
}

static void test_tf_pad_placement(void **state) {
  (void)state;
  const float in[2 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}; /* 2 channels of 2x2 */
  float out[2 * 5 * 5];
  /* 2x2 -> 5x5: top = left = 1, the odd row and column at the bottom/right */
  assert_int_equal(tg_tf_pad(in, 2, 2, 2, out, 5, 5), 0);
  for (size_t k = 0; k < 2; k++)
    for (size_t r = 0; r < 5; r++)
      for (size_t c = 0; c < 5; c++) {
        bool inside = r >= 1 && r <= 2 && c >= 1 && c <= 2;
        double want = inside ? in[k * 4 + (r - 1) * 2 + (c - 1)] : 0;
        assert_close(out[(k * 5 + r) * 5 + c], want, 0);
      }
  /* 2x2 -> 4x6: top = (4-2)/2 = 1 row above, left = (6-2)/2 = 2 columns */
  float o2[4 * 6];
  assert_int_equal(tg_tf_pad(in, 1, 2, 2, o2, 4, 6), 0);
  assert_close(o2[0 * 6 + 2], 0, 0);
  assert_close(o2[1 * 6 + 1], 0, 0);
  assert_close(o2[1 * 6 + 2], 1, 0);
  assert_close(o2[2 * 6 + 3], 4, 0);
  assert_close(o2[2 * 6 + 4], 0, 0);
  assert_close(o2[3 * 6 + 2], 0, 0);
  assert_int_equal(tg_tf_pad(in, 1, 2, 2, o2, 1, 6), -1);
  assert_error_has("pad", "smaller", NULL);
}

static void test_tf_normalize_resize(void **state) {
  (void)state;
  float x[2 * 2] = {0, 1, 0.5f, 0.25f}; /* 2 channels of 2 */
  const float mean[2] = {0.5f, 0.25f}, std[2] = {0.5f, 0.25f};
  tg_tf_normalize(x, 2, 2, mean, std, 2);
  assert_close(x[0], -1, 1e-7);
  assert_close(x[1], 1, 1e-7);
  assert_close(x[2], 1, 1e-7);
  assert_close(x[3], 0, 1e-7);
  /* bilinear 2x2 -> 4x4 with half-pixel centres, edges clamped (PyTorch's
   * F.interpolate(scale_factor=2, mode='bilinear') of [[0,1],[2,3]]) */
  const float in[4] = {0, 1, 2, 3};
  const double want[16] = {0,   0.25, 0.75, 1,   0.5, 0.75, 1.25, 1.5,
                           1.5, 1.75, 2.25, 2.5, 2,   2.25, 2.75, 3};
  float out[16];
  tg_tf_resize(in, 1, 2, 2, out, 4, 4, TG_RESIZE_BILINEAR);
  for (int i = 0; i < 16; i++) assert_close(out[i], want[i], 1e-6);
  /* nearest: up 2x2 -> 4x4 repeats each pixel; down 4x4 -> 2x2 takes rows/cols 0 and 2 */
  tg_tf_resize(in, 1, 2, 2, out, 4, 4, TG_RESIZE_NEAREST);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) assert_close(out[r * 4 + c], in[(r / 2) * 2 + c / 2], 0);
  const float big[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  float small[4];
  tg_tf_resize(big, 1, 4, 4, small, 2, 2, TG_RESIZE_NEAREST);
  assert_close(small[0], 0, 0);
  assert_close(small[1], 2, 0);
  assert_close(small[2], 8, 0);
  assert_close(small[3], 10, 0);
  /* bilinear 4x4 -> 2x2: each output the mean of a 2x2 block (source 0.5, 2.5) */
  tg_tf_resize(big, 1, 4, 4, small, 2, 2, TG_RESIZE_BILINEAR);
  assert_close(small[0], (0 + 1 + 4 + 5) / 4.0, 1e-6);
  assert_close(small[3], (10 + 11 + 14 + 15) / 4.0, 1e-6);
}

/* A byte dataset with the full pipeline: grayscale, pad, normalise, flatten. */
static void test_dataset_transform_pipeline(void **state) {
  (void)state;
  /* 2 samples of [3,2,2]: sample s, channel k, pixel p = 10 s + 60 k + p */
  uint8_t bytes[2 * 12];
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < 3; k++)
      for (int p = 0; p < 4; p++) bytes[s * 12 + k * 4 + p] = (uint8_t)(10 * s + 60 * k + p);
  const int64_t labels[2] = {1, 0};
  tg_dataset *ds = tg_dataset_from_bytes(2, TG_SHAPE(3, 2, 2), bytes, labels);
  assert_non_null(ds);
  assert_int_equal(ds->num_classes, 2);
  /* no transform: bytes / 255 */
  float x[16];
  assert_int_equal(tg_dataset_get(ds, 1, x, NULL), 0);
  assert_close(x[5], (10 + 60 + 1) / 255.0, 1e-7);
  tg_transform tf = {.grayscale = true, .pad_h = 4, .pad_w = 4, .n_norm = 1, .mean = {0.5f},
                     .std = {0.25f}, .flatten = true};
  assert_int_equal(tg_dataset_set_transform(ds, &tf), 0);
  assert_int_equal(ds->ndim, 1);
  assert_int_equal(ds->shape[0], 16);
  assert_int_equal(ds->sample_numel, 16);
  int64_t y;
  assert_int_equal(tg_dataset_get(ds, 1, x, &y), 0);
  assert_int_equal(y, 0);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) {
      double v = 0; /* zero padding, normalised like every pixel */
      if (r >= 1 && r <= 2 && c >= 1 && c <= 2) {
        int p = (r - 1) * 2 + (c - 1);
        v = (0.299 * (10 + p) + 0.587 * (70 + p) + 0.114 * (130 + p)) / 255.0;
      }
      assert_close(x[r * 4 + c], (v - 0.5) / 0.25, 1e-5);
    }
  /* no_scale keeps 0..255, per-channel statistics, bilinear resize to 1x1 */
  tg_transform raw = {.no_scale = true, .resize_h = 1, .resize_w = 1,
                      .resize_mode = TG_RESIZE_BILINEAR, .n_norm = 3,
                      .mean = {1, 2, 3}, .std = {2, 4, 8}};
  assert_int_equal(tg_dataset_set_transform(ds, &raw), 0);
  assert_int_equal(ds->ndim, 3);
  assert_int_equal(ds->shape[0], 3);
  assert_int_equal(ds->shape[1], 1);
  assert_int_equal(tg_dataset_get(ds, 0, x, NULL), 0);
  /* the 1x1 bilinear sample sits at the centre: the mean of the 4 pixels (p = 1.5) */
  assert_close(x[0], (0 + 1.5 - 1) / 2, 1e-5);
  assert_close(x[1], (60 + 1.5 - 2) / 4, 1e-5);
  assert_close(x[2], (120 + 1.5 - 3) / 8, 1e-5);
  /* removing the transform restores the raw samples */
  assert_int_equal(tg_dataset_set_transform(ds, NULL), 0);
  assert_int_equal(ds->sample_numel, 12);
  tg_dataset_free(ds);
}

static void test_dataset_transform_errors(void **state) {
  (void)state;
  uint8_t px[4] = {0, 1, 2, 3};
  tg_dataset *gray = tg_dataset_from_bytes(1, TG_SHAPE(1, 2, 2), px, NULL);
  tg_dataset *flat = tg_dataset_from_bytes(1, TG_SHAPE(4), px, NULL);
  assert_non_null(gray);
  assert_non_null(flat);
  assert_false(gray->has_labels);
  assert_int_equal(tg_dataset_set_transform(gray, &(tg_transform){.grayscale = true}), -1);
  assert_error_has("grayscale", "3,H,W", NULL);
  assert_int_equal(tg_dataset_set_transform(gray, &(tg_transform){.pad_h = 1, .pad_w = 4}), -1);
  assert_error_has("pad to 1x4 is smaller than the 2x2 image", NULL, NULL);
  assert_int_equal(tg_dataset_set_transform(gray, &(tg_transform){.resize_h = 3}), -1);
  assert_error_has("resize", "both", NULL);
  assert_int_equal(tg_dataset_set_transform(gray, &(tg_transform){.n_norm = 3, .std = {1, 1, 1}}), -1);
  assert_error_has("3 mean/std pairs for 1 channels", NULL, NULL);
  assert_int_equal(tg_dataset_set_transform(gray, &(tg_transform){.n_norm = 1}), -1);
  assert_error_has("std 0 must be positive", NULL, NULL);
  assert_int_equal(tg_dataset_set_transform(flat, &(tg_transform){.pad_h = 4, .pad_w = 4}), -1);
  assert_error_has("pad needs image samples", NULL, NULL);
  /* a failed set_transform leaves the dataset as it was */
  assert_int_equal(gray->sample_numel, 4);
  const int64_t neg[1] = {-1};
  assert_null(tg_dataset_from_bytes(1, TG_SHAPE(4), px, neg));
  assert_error_has("negative", NULL, NULL);
  assert_null(tg_dataset_from_bytes(1, TG_SHAPE(0), px, NULL));
  assert_error_has("dim 0 has size 0", NULL, NULL);
  tg_dataset_free(gray);
  tg_dataset_free(flat);
}

static void test_dataset_stats_and_tensor(void **state) {
  (void)state;
  /* 2 samples of [2,1,2]: channel 0 holds 0, 51, 102, 153; channel 1 all 255 */
  const uint8_t px[8] = {0, 51, 255, 255, 102, 153, 255, 255};
  tg_dataset *ds = tg_dataset_from_bytes(2, TG_SHAPE(2, 1, 2), px, (int64_t[]){3, 4});
  float mean[2], std[2];
  assert_int_equal(tg_dataset_channel_stats(ds, mean, std), 0);
  /* channel 0: 0, .2, .4, .6 -> mean .3, population variance .05 */
  assert_close(mean[0], 0.3, 1e-6);
  assert_close(std[0], sqrt(0.05), 1e-6);
  assert_close(mean[1], 1, 1e-6);
  assert_close(std[1], 0, 1e-3);
  int64_t y;
  tg_tensor *t = tg_dataset_tensor(ds, 1, &y);
  assert_non_null(t);
  assert_int_equal(y, 4);
  assert_int_equal(t->ndim, 3);
  assert_int_equal(t->shape[0], 2);
  assert_close(tg_get(t, (size_t[]){0, 0, 1}), 0.6, 1e-7);
  assert_int_equal(t->obj.scope, tg_scope_depth()); /* an ordinary scoped tensor */
  assert_null(tg_dataset_tensor(ds, 2, &y));
  assert_error_has("out of range", NULL, NULL);
  tg_dataset_free(ds);
}

/* --------------------------------------------------------- Fashion-MNIST */

static void check_fashion(tg_dataset *ds, size_t n) {
  assert_int_equal(ds->length, n);
  assert_int_equal(ds->ndim, 3);
  assert_int_equal(ds->shape[0], 1);
  assert_int_equal(ds->shape[1], 28);
  assert_int_equal(ds->shape[2], 28);
  assert_int_equal(ds->num_classes, 10);
  /* a balanced data set: n/10 of each class */
  tg_loader *l = tg_loader_new(ds, 100, true, false, 1);
  size_t counts[10] = {0}, batches = 0;
  tg_tensor *x, *y;
  while (tg_loader_next(l, &x, &y)) {
    batches++;
    assert_int_equal(x->shape[0], 100);
    const int64_t *ys = tg_data(y);
    for (size_t k = 0; k < 100; k++) {
      assert_true(ys[k] >= 0 && ys[k] <= 9);
      counts[ys[k]]++;
    }
  }
  assert_int_equal(batches, n / 100);
  for (int k = 0; k < 10; k++) assert_int_equal(counts[k], n / 10);
  tg_loader_free(l);
}

static void test_fashion_mnist(void **state) {
  (void)state;
  struct stat st;
  if (stat(TG_FASHION_MNIST_DIR, &st) != 0) {
    skip();
    return;
  }
  tg_dataset *train = NULL, *test = NULL;
  if (tg_mnist_load(NULL, true, &train) != 0 || tg_mnist_load(NULL, false, &test) != 0)
    fail_msg("%s", tg_last_error());
  check_fashion(train, 60000);
  check_fashion(test, 10000);
  /* the MLP's view: [B,784] floats in [0,1] */
  assert_int_equal(tg_dataset_set_transform(train, &(tg_transform){.flatten = true}), 0);
  tg_loader *l = tg_loader_new(train, 100, true, true, 0);
  tg_tensor *x, *y;
  assert_true(tg_loader_next(l, &x, &y));
  assert_int_equal(x->ndim, 2);
  assert_int_equal(x->shape[0], 100);
  assert_int_equal(x->shape[1], 784);
  double lo = 1, hi = 0;
  const float *xs = tg_data_f32(x);
  for (size_t i = 0; i < x->numel; i++) lo = fmin(lo, xs[i]), hi = fmax(hi, xs[i]);
  assert_true(lo >= 0 && hi <= 1 && hi > 0.5);
  /* the first training image is an ankle boot (class 9) */
  int64_t label;
  float first[784];
  assert_int_equal(tg_dataset_get(train, 0, first, &label), 0);
  assert_int_equal(label, 9);
  tg_loader_free(l);
  tg_dataset_free(train);
  tg_dataset_free(test);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_idx_plain),
      TG_TEST(test_idx_gz),
      TG_TEST(test_idx_bad_magic),
      TG_TEST(test_idx_truncated_header),
      TG_TEST(test_idx_truncated_data),
      TG_TEST(test_idx_trailing_data),
      TG_TEST(test_idx_huge_header),
      TG_TEST(test_idx_count_mismatch),
      TG_TEST(test_missing_files),
      TG_TEST(test_mnist_dir),
      TG_TEST(test_cifar_batches),
      TG_TEST(test_cifar_dir),
      TG_TEST(test_cifar_malformed),
      TG_TEST(test_csv_header_and_label),
      TG_TEST(test_csv_no_header_no_label),
      TG_TEST(test_csv_malformed),
      TG_TEST(test_loader_shuffle_epochs),
      TG_TEST(test_loader_shuffle_uniform),
      TG_TEST(test_loader_drop_last),
      TG_TEST(test_loader_reuses_tensors),
      TG_TEST(test_loader_errors),
      TG_TEST(test_tf_grayscale_weights),
      TG_TEST(test_tf_pad_placement),
      TG_TEST(test_tf_normalize_resize),
      TG_TEST(test_dataset_transform_pipeline),
      TG_TEST(test_dataset_transform_errors),
      TG_TEST(test_dataset_stats_and_tensor),
      TG_TEST(test_fashion_mnist),
  };
  int rc = cmocka_run_group_tests_name("data", tests, group_setup, group_teardown);
  tg_release_cached();
  return rc;
}
