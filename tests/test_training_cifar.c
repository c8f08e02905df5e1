/* The CIFAR-10 CNN example cnn_cifar, run end to end as a program on the
 * tiny learnable CIFAR-10 fixture of training_fixture.h (5 batches of 20
 * records, a test batch of 50): it trains (the loss falls, the accuracy is
 * far above guessing), its checkpoint holds PyTorch's state-dict names and
 * shapes for the same nn.Sequential (BatchNorm2d's buffers included), the
 * same seed gives the same fingerprint at 1 thread, a loaded checkpoint
 * evaluates to the accuracy at the end of training, the sample grid holds
 * the first 32 training images with their class names, it explains where to
 * get the data when none is given, and bad data, checkpoints and flags fail
 * cleanly. */
#define _XOPEN_SOURCE 700
#include "training_fixture.h"
#include "png_read.h"

#define BATCHES_PER_EPOCH (5 * CIFAR_PER_BATCH / 20) /* --batch 20 */
/* the sample grid: 8 columns of cells 64 wide (32 pixels zoomed twice, wider
 * than "automobile", 59 pixels in the 6-pixel-advance font) and 64 + 10 high
 * (the caption band: 2 rows, 7 of text, 1), 2 pixels of padding */
#define CELL_W 64
#define CELL_H 74
#define GRID_PAD 2
#define GRID_W (8 * (CELL_W + GRID_PAD) + GRID_PAD)
#define GRID_H (4 * (CELL_H + GRID_PAD) + GRID_PAD)

static const char *const CLASS_NAMES[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                            "dog",      "frog",       "horse", "ship", "truck"};

static trained cnn_seed1 = {.model = "cnn_cifar", .tag = "cifar_cnn1"};

static void run_cifar(const char *dir, const char *seed, const char *epochs, const char *out) {
  run("cnn_cifar", "--cifar", dir, "--epochs", epochs, "--batch", BATCH_STR, "--seed", seed,
      "--threads", "1", "--out", out, (char *)NULL);
}

static trained *ensure_cnn(void) {
  trained *t = &cnn_seed1;
  if (t->stdout_text) return t;
  make_dir(t->out_dir, sizeof t->out_dir, t->tag);
  run_cifar(cifar_dir, "1", EPOCHS_STR, t->out_dir);
  return record_trained(t, CIFAR_TEST);
}

static tg_tensor *assert_entry(tg_checkpoint *ck, const char *name, tg_dtype dt, int ndim,
                               const size_t *shape) {
  tg_tensor *t = tg_checkpoint_find(ck, name);
  if (!t) fail_msg("checkpoint has no '%s'", name);
  assert_int_equal(t->dtype, dt);
  assert_int_equal(t->ndim, ndim);
  for (int d = 0; d < ndim; d++) assert_int_equal(t->shape[d], shape[d]);
  return t;
}

static void test_cnn_cifar_trains(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  if (!(t->last_epoch.test_acc >= 50))
    fail_msg("test accuracy %.2f%% after %d epochs on the learnable fixture", t->last_epoch.test_acc,
             EPOCHS);
  /* 3*32*9 + 32*64*9 + 64*128*9 convolution weights, 2 * (32 + 64 + 128)
   * BatchNorm affine, 2048*10 + 10 linear */
  assert_non_null(strstr(t->stdout_text, "CNN model, 113962 parameters, 100 train / 50 test"));
  assert_non_null(strstr(t->stdout_text, "normalised per channel: mean "));
  char p[256];
  check_csv(path_in(p, sizeof p, t->out_dir, "cnn_cifar_metrics.csv"),
            "epoch,train_loss,train_accuracy,test_errors,test_accuracy,seconds", EPOCHS);
  /* PyTorch's names for the same nn.Sequential: 0/4/8 Conv2d(bias=False),
   * 1/5/9 BatchNorm2d, 13 Linear */
  tg_checkpoint *ck = tg_checkpoint_read(t->ckpt);
  if (!ck) fail_msg("%s", tg_last_error());
  assert_int_equal(tg_checkpoint_count(ck), 3 + 3 * 5 + 2);
  assert_true(tg_checkpoint_verified(ck));
  const size_t in[3] = {3, 32, 64}, out[3] = {32, 64, 128};
  for (int b = 0; b < 3; b++) {
    char name[64];
    snprintf(name, sizeof name, "%d.weight", 4 * b);
    assert_entry(ck, name, TG_FLOAT32, 4, (size_t[]){out[b], in[b], 3, 3});
    snprintf(name, sizeof name, "%d.bias", 4 * b);
    assert_null(tg_checkpoint_find(ck, name));
    static const char *const bn[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4; k++) {
      snprintf(name, sizeof name, "%d.%s", 4 * b + 1, bn[k]);
      tg_tensor *v = assert_entry(ck, name, TG_FLOAT32, 1, (size_t[]){out[b]});
      if (k == 3) { /* moved away from its initial ones by training */
        const float *var = tg_data(v);
        bool moved = false;
        for (size_t c = 0; c < out[b]; c++) moved |= var[c] != 1.0f;
        assert_true(moved);
      }
    }
    snprintf(name, sizeof name, "%d.num_batches_tracked", 4 * b + 1);
    tg_tensor *nbt = assert_entry(ck, name, TG_INT64, 0, NULL);
    assert_int_equal(*(const int64_t *)tg_data(nbt), EPOCHS * BATCHES_PER_EPOCH);
  }
  assert_entry(ck, "13.weight", TG_FLOAT32, 2, (size_t[]){10, 2048});
  assert_entry(ck, "13.bias", TG_FLOAT32, 1, (size_t[]){10});
  tg_checkpoint_free(ck);
}

static void test_cnn_cifar_deterministic_and_adam(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  char again[128], fp[17];
  run_cifar(cifar_dir, "1", EPOCHS_STR, make_dir(again, sizeof again, "cifar_cnn1b"));
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
  run_cifar(cifar_dir, "2", "1", make_dir(again, sizeof again, "cifar_cnn2"));
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_not_equal(fp, t->fp);
  run("cnn_cifar", "--cifar", cifar_dir, "--adam", "--epochs", "2", "--batch", BATCH_STR, "--out",
      make_dir(again, sizeof again, "cifar_cnn_adam"), (char *)NULL);
  expect_exit(&last, 0);
  assert_non_null(strstr(last.out, "Adam lr 0.001"));
  epoch_line e[16];
  check_progress("cnn_cifar", last.out, 2, CIFAR_TEST, e);
}

static void test_cnn_cifar_load_evaluates(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  char dir[128], want[64], fp[17], p[256];
  run("cnn_cifar", "--cifar", cifar_dir, "--epochs", "0", "--load", t->ckpt, "--out",
      make_dir(dir, sizeof dir, "cifar_cnn_eval"), (char *)NULL);
  expect_exit(&last, 0);
  snprintf(want, sizeof want, "test errors %zu/%zu (acc %.2f%%)",
           t->last_epoch.test_total - t->last_epoch.test_correct, t->last_epoch.test_total,
           t->last_epoch.test_acc);
  if (!strstr(last.out, want)) fail_msg("expected \"%s\" in:\n%s", want, last.out);
  /* the fingerprint covers the running statistics, which evaluation keeps */
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
  assert_false(exists(path_in(p, sizeof p, dir, "cnn_cifar.safetensors")));
}

/* ------------------------------------------------------------ the sample grid */

/* training record k of the fixture (k < 100): its label and 3072 pixels */
static int read_record(int k, uint8_t rec[CIFAR_RECORD]) {
  char p[256], name[64];
  snprintf(name, sizeof name, "data_batch_%d.bin", k / CIFAR_PER_BATCH + 1);
  FILE *f = fopen(path_in(p, sizeof p, cifar_dir, name), "rb");
  assert_non_null(f);
  bool ok = fseek(f, (long)(k % CIFAR_PER_BATCH) * CIFAR_RECORD, SEEK_SET) == 0 &&
            fread(rec, 1, CIFAR_RECORD, f) == CIFAR_RECORD;
  fclose(f);
  assert_true(ok);
  return rec[0];
}

static const unsigned char *grid_px(const png_read *r, int k, size_t y, size_t x) {
  size_t gy = GRID_PAD + (size_t)(k / 8) * (CELL_H + GRID_PAD) + y;
  size_t gx = GRID_PAD + (size_t)(k % 8) * (CELL_W + GRID_PAD) + x;
  return r->px + 3 * (gy * GRID_W + gx);
}

/* the caption band of cell k as 0/1 (white) pixels; asserts the text is
 * centred: black outside its box, some white inside */
static void caption_band(const png_read *r, int k, const char *caption, uint8_t band[10][CELL_W]) {
  size_t tw = 6 * strlen(caption) - 1, x0 = (CELL_W - tw) / 2;
  size_t lit = 0;
  for (size_t y = 0; y < 10; y++)
    for (size_t x = 0; x < CELL_W; x++) {
      const unsigned char *p = grid_px(r, k, 64 + y, x);
      bool white = p[0] == 255 && p[1] == 255 && p[2] == 255;
      bool black = p[0] == 0 && p[1] == 0 && p[2] == 0;
      if (!white && !black) fail_msg("cell %d caption pixel (%zu, %zu) is neither black nor white", k, y, x);
      if (white && (y < 2 || y >= 9 || x < x0 || x >= x0 + tw))
        fail_msg("cell %d: a white pixel at (%zu, %zu), outside \"%s\"", k, y, x, caption);
      band[y][x] = white;
      lit += white;
    }
  if (lit < strlen(caption) * 5) fail_msg("cell %d: only %zu lit pixels for \"%s\"", k, lit, caption);
}

static void test_cnn_cifar_sample_grid(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  char p[256];
  png_read r;
  read_png(path_in(p, sizeof p, t->out_dir, "cnn_cifar_samples.png"), &r);
  assert_int_equal(r.img.width, GRID_W);
  assert_int_equal(r.img.height, GRID_H);
  assert_int_equal(r.img.format, PNG_FORMAT_RGB);
  assert_non_null(strstr(t->stdout_text, "cnn_cifar_samples.png (the first 32 training images)"));
  uint8_t rec[CIFAR_RECORD], bands[32][10][CELL_W];
  int labels[32];
  for (int k = 0; k < 32; k++) {
    labels[k] = read_record(k, rec);
    /* the raw (unnormalised) pixels, each repeated 2x2 */
    for (size_t y = 0; y < 64; y++)
      for (size_t x = 0; x < 64; x++)
        for (int c = 0; c < 3; c++)
          if (grid_px(&r, k, y, x)[c] != rec[1 + (size_t)c * 1024 + (y / 2) * 32 + x / 2])
            fail_msg("cell %d pixel (%zu, %zu) channel %d: %d, the record has %d", k, y, x, c,
                     grid_px(&r, k, y, x)[c], rec[1 + (size_t)c * 1024 + (y / 2) * 32 + x / 2]);
    caption_band(&r, k, CLASS_NAMES[labels[k]], bands[k]);
  }
  /* the same class name draws the same caption; different ones differ */
  int same = 0, different = 0;
  for (int a = 0; a < 32; a++)
    for (int b = a + 1; b < 32; b++) {
      bool eq = memcmp(bands[a], bands[b], sizeof bands[a]) == 0;
      if (eq != (labels[a] == labels[b]))
        fail_msg("cells %d (%s) and %d (%s): captions %s", a, CLASS_NAMES[labels[a]], b,
                 CLASS_NAMES[labels[b]], eq ? "equal" : "differ");
      *(labels[a] == labels[b] ? &same : &different) += 1;
    }
  assert_true(same > 0 && different > 0);
  /* the padding between cells is black */
  const unsigned char *pad = grid_px(&r, 0, 0, CELL_W);
  assert_true(pad[0] == 0 && pad[1] == 0 && pad[2] == 0);
  free(r.px);
}

/* ------------------------------------------------------------ without data, bad input */

static void test_cnn_cifar_without_data_explains(void **state) {
  (void)state;
  char dir[128], p[256];
  run("cnn_cifar", "--out", make_dir(dir, sizeof dir, "cifar_none"), (char *)NULL);
  expect_exit(&last, 0);
  static const char *const want[] = {"--cifar DIR", "cifar-10-binary.tar.gz", "data_batch_1.bin",
                                     "data_batch_5.bin", "test_batch.bin"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    if (!strstr(last.out, want[i])) fail_msg("expected \"%s\" in:\n%s", want[i], last.out);
  assert_string_equal(last.err, "");
  assert_false(exists(path_in(p, sizeof p, dir, "cnn_cifar_samples.png")));
}

static void test_cnn_cifar_bad_data(void **state) {
  (void)state;
  char dir[128], src[256], dst[256], name[64], p[256];
  make_dir(dir, sizeof dir, "cifar_cnn_bad");
  /* a training batch cut inside a record */
  for (int b = 1; b <= 5; b++) {
    snprintf(name, sizeof name, "data_batch_%d.bin", b);
    copy_damaged(path_in(src, sizeof src, cifar_dir, name), path_in(dst, sizeof dst, dir, name),
                 b == 2 ? CIFAR_RECORD * 3 + 10 : SIZE_MAX, SIZE_MAX);
  }
  path_in(src, sizeof src, cifar_dir, "test_batch.bin");
  copy_damaged(src, path_in(dst, sizeof dst, dir, "test_batch.bin"), SIZE_MAX, SIZE_MAX);
  run_cifar(dir, "1", "1", dir);
  expect_failure(&last, path_in(dst, sizeof dst, dir, "data_batch_2.bin"), "record", (char *)NULL);
  assert_false(exists(path_in(p, sizeof p, dir, "cnn_cifar_samples.png")));
  /* a test label of 10 */
  copy_damaged(path_in(src, sizeof src, cifar_dir, "data_batch_2.bin"), dst, SIZE_MAX, SIZE_MAX);
  path_in(dst, sizeof dst, dir, "test_batch.bin");
  FILE *f = fopen(dst, "r+b");
  assert_non_null(f);
  uint8_t ten = 10;
  bool wrote = fseek(f, 4L * CIFAR_RECORD, SEEK_SET) == 0 && fwrite(&ten, 1, 1, f) == 1;
  assert_int_equal(fclose(f), 0);
  assert_true(wrote);
  run_cifar(dir, "1", "1", dir);
  expect_failure(&last, dst, "label 10", (char *)NULL);
  /* a directory without the batches, and one that does not exist */
  run_cifar(mnist_dir, "1", "1", dir);
  expect_failure(&last, "data_batch_1.bin", (char *)NULL);
  path_in(p, sizeof p, root, "no_such_dir");
  run_cifar(p, "1", "1", dir);
  expect_failure(&last, "no_such_dir", (char *)NULL);
}

static void test_cnn_cifar_bad_checkpoints_and_flags(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  char dir[128], p[256], other[128], ck[256];
  make_dir(dir, sizeof dir, "cifar_cnn_badck");
  /* corrupted: one byte of the first tensor's data ("0.weight") */
  path_in(p, sizeof p, dir, "corrupted.safetensors");
  copy_damaged(t->ckpt, p, SIZE_MAX, data_start(t->ckpt) + 7);
  run("cnn_cifar", "--cifar", cifar_dir, "--epochs", "0", "--load", p, "--out", dir, (char *)NULL);
  expect_failure(&last, p, "'0.weight'", "checksum", (char *)NULL);
  /* truncated */
  path_in(p, sizeof p, dir, "truncated.safetensors");
  copy_damaged(t->ckpt, p, file_size(t->ckpt) - 100, SIZE_MAX);
  run("cnn_cifar", "--cifar", cifar_dir, "--epochs", "0", "--load", p, "--out", dir, (char *)NULL);
  expect_failure(&last, p, "truncated", (char *)NULL);
  /* cifar_mlp's checkpoint: its 0.weight is Linear(1024, 32)'s */
  run("cifar_mlp", "--cifar", cifar_dir, "--epochs", "1", "--max-steps", "1", "--batch", BATCH_STR,
      "--out", make_dir(other, sizeof other, "cifar_mlp_other"), (char *)NULL);
  expect_exit(&last, 0);
  path_in(ck, sizeof ck, other, "cifar_mlp.safetensors");
  run("cnn_cifar", "--cifar", cifar_dir, "--epochs", "0", "--load", ck, "--out", dir, (char *)NULL);
  expect_failure(&last, ck, "'0.weight'", (char *)NULL);
  /* flags: MNIST's, a missing value, an unknown one */
  run("cnn_cifar", "--cifar", cifar_dir, "--data", mnist_dir, (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "--data belongs to"));
  run("cnn_cifar", "--cifar", cifar_dir, "--linear", (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "--linear belongs to mlp_mnist"));
  run("cnn_cifar", "--epochs", "1", "--cifar", (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "--cifar needs a value"));
  run("cnn_cifar", "--cifar", cifar_dir, "--no-such-flag", (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "unknown flag --no-such-flag"));
  assert_non_null(strstr(last.err, "usage:"));
}

static int group_setup(void **state) {
  (void)state;
  return fixture_setup();
}

static int group_teardown(void **state) {
  (void)state;
  free(cnn_seed1.stdout_text);
  cnn_seed1.stdout_text = NULL;
  return fixture_teardown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TRAINING_TEST(test_cnn_cifar_trains),
      TRAINING_TEST(test_cnn_cifar_deterministic_and_adam),
      TRAINING_TEST(test_cnn_cifar_load_evaluates),
      TRAINING_TEST(test_cnn_cifar_sample_grid),
      TRAINING_TEST(test_cnn_cifar_without_data_explains),
      TRAINING_TEST(test_cnn_cifar_bad_data),
      TRAINING_TEST(test_cnn_cifar_bad_checkpoints_and_flags),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
