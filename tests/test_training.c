/* The training examples mlp_mnist and cifar_mlp, run end to end as
 * programs (TG_BUILD_DIR/examples/<name>) on tiny data sets written here:
 * 300 training and 100 test 28x28 IDX images (gzip, MNIST file names) and
 * a few CIFAR-10 binary records. The images are learnable: each class is a
 * bright block in its own place on a noisy background, so a few epochs
 * reach an accuracy far above the 10 % of guessing.
 *
 * Checked: exit status, the progress lines, falling loss, accuracy, the
 * metrics CSV, the checkpoint, bit-identical fingerprints for the same seed
 * at 1 thread, with and without DataLoader workers (and different ones for
 * another seed), evaluation of a loaded
 * checkpoint, and clean failures (exit 1 with a message naming the file,
 * never a signal or a hang) on corrupted, truncated and mismatched
 * checkpoints and malformed data files; exit 2 on an unknown flag.
 * Every program run has a time limit, and the programs run under the same
 * sanitizers as this test, so a leak (even on an error path) changes the
 * exit status and fails the test. */
#include "training_fixture.h"
#include "png_read.h"

static trained mlp_seed1 = {.model = "mlp_mnist", .tag = "mlp1"};
static trained cifar_seed1 = {.model = "cifar_mlp", .tag = "cifar1"};

/* ------------------------------------------------------------ mlp_mnist */

static void test_mlp_mnist_trains(void **state) {
  (void)state;
  trained *t = ensure_trained(&mlp_seed1);
  /* the class blocks are easy: far above the 10 % of guessing */
  if (!(t->last_epoch.test_acc >= 60))
    fail_msg("test accuracy %.2f%% after %d epochs on the learnable fixture", t->last_epoch.test_acc,
             EPOCHS);
  assert_true(t->last_epoch.train_acc >= 50);
  assert_non_null(strstr(t->stdout_text, "300 train / 100 test samples"));
  char p[256];
  check_csv(path_in(p, sizeof p, t->out_dir, "mlp_mnist_metrics.csv"),
            "epoch,train_loss,train_accuracy,test_errors,test_accuracy,seconds", EPOCHS);
  /* its curves, always drawn: loss, accuracy (train and test), errors and
   * seconds panels, 600x400 each, two a row, under the 40-pixel title */
  assert_non_null(strstr(t->stdout_text, "curves: "));
  png_read r;
  read_png(path_in(p, sizeof p, t->out_dir, "mlp_mnist_curves.png"), &r);
  assert_int_equal(r.img.width, 1200);
  assert_int_equal(r.img.height, 40 + 2 * 400);
  free(r.px);
  /* the checkpoint holds the two Linear layers, checksummed */
  tg_checkpoint *ck = tg_checkpoint_read(t->ckpt);
  if (!ck) fail_msg("%s", tg_last_error());
  bool ok = tg_checkpoint_count(ck) == 4 && tg_checkpoint_verified(ck);
  tg_tensor *w0 = tg_checkpoint_find(ck, "0.weight"), *b2 = tg_checkpoint_find(ck, "2.bias");
  ok = ok && w0 && w0->ndim == 2 && w0->shape[0] == 200 && w0->shape[1] == 784;
  ok = ok && b2 && b2->ndim == 1 && b2->shape[0] == 10;
  tg_checkpoint_free(ck);
  assert_true(ok);
}

static void test_mlp_mnist_deterministic(void **state) {
  (void)state;
  trained *t = ensure_trained(&mlp_seed1);
  char again[128], other[128], fp[17];
  run("mlp_mnist", "--data", mnist_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--seed",
      "1", "--threads", "1", "--out", make_dir(again, sizeof again, "mlp1b"), (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
  epoch_line e[16];
  check_progress("mlp_mnist", last.out, EPOCHS, N_TEST, e);
  assert_true(e[EPOCHS - 1].loss == t->last_epoch.loss);
  assert_true(e[EPOCHS - 1].test_correct == t->last_epoch.test_correct);
  /* DataLoader workers prepare the same batches: bit-identical parameters */
  char workers[128];
  run("mlp_mnist", "--data", mnist_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--seed",
      "1", "--threads", "1", "--workers", "2", "--out", make_dir(workers, sizeof workers, "mlp1w"),
      (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
  run("mlp_mnist", "--data", mnist_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--seed",
      "2", "--threads", "1", "--out", make_dir(other, sizeof other, "mlp2"), (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_not_equal(fp, t->fp);
}

/* --epochs 0 --load: the accuracy at the end of training, the same parameters */
static void test_mlp_mnist_load_evaluates(void **state) {
  (void)state;
  trained *t = ensure_trained(&mlp_seed1);
  char dir[128], want[64], fp[17];
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "0", "--load", t->ckpt, "--out",
      make_dir(dir, sizeof dir, "mlp_eval"), (char *)NULL);
  expect_exit(&last, 0);
  assert_int_equal(parse_epochs("mlp_mnist", last.out, (epoch_line[1]){0}, 1), 0);
  snprintf(want, sizeof want, "test errors %zu/%zu (acc %.2f%%)",
           t->last_epoch.test_total - t->last_epoch.test_correct, t->last_epoch.test_total,
           t->last_epoch.test_acc);
  if (!strstr(last.out, want)) fail_msg("expected \"%s\" in:\n%s", want, last.out);
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
}

/* ------------------------------------------------------------ cifar_mlp */

static void test_cifar_mlp_trains(void **state) {
  (void)state;
  trained *t = ensure_trained(&cifar_seed1);
  assert_true(t->last_epoch.test_acc >= 40);
  assert_non_null(strstr(t->stdout_text, "SGD momentum 0.9 lr 0.01, batch 20"));
  assert_non_null(strstr(t->stdout_text, "300 train / 100 test samples"));
  assert_non_null(strstr(t->stdout_text, "padded to 32x32"));
  char p[256];
  check_csv(path_in(p, sizeof p, t->out_dir, "cifar_mlp_metrics.csv"),
            "epoch,train_loss,train_accuracy,test_loss,test_accuracy,samples_per_second,seconds",
            EPOCHS);
  /* the state dict, BatchNorm's buffers included: 15 steps per epoch */
  tg_checkpoint *ck = tg_checkpoint_read(t->ckpt);
  if (!ck) fail_msg("%s", tg_last_error());
  static const char *const names[] = {"0.weight", "0.bias", "1.weight", "1.bias",
                                      "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked", "3.weight", "3.bias"};
  bool ok = tg_checkpoint_count(ck) == 9 && tg_checkpoint_verified(ck);
  for (size_t i = 0; ok && i < 9; i++)
    ok = tg_checkpoint_name(ck, i) && !strcmp(tg_checkpoint_name(ck, i), names[i]);
  tg_tensor *w0 = tg_checkpoint_find(ck, "0.weight"), *nbt = tg_checkpoint_find(ck, "1.num_batches_tracked");
  tg_tensor *rv = tg_checkpoint_find(ck, "1.running_var");
  ok = ok && w0 && w0->shape[0] == 32 && w0->shape[1] == 1024;
  double batches = nbt ? tg_item(nbt) : -1, var0 = rv ? tg_get_flat(rv, 0) : 1;
  tg_checkpoint_free(ck);
  assert_true(ok);
  assert_close(batches, EPOCHS * (N_TRAIN / 20), 0);
  assert_true(var0 != 1.0); /* the running variance moved from its start */
}

static void test_cifar_mlp_adam(void **state) {
  (void)state;
  char dir[128];
  run("cifar_mlp", "--data", mnist_dir, "--adam", "--epochs", EPOCHS_STR, "--batch", BATCH_STR,
      "--out", make_dir(dir, sizeof dir, "cifar_adam"), (char *)NULL);
  expect_exit(&last, 0);
  assert_non_null(strstr(last.out, "Adam lr 0.001, batch 20"));
  epoch_line e[16];
  check_progress("cifar_mlp", last.out, EPOCHS, N_TEST, e);
  assert_true(e[EPOCHS - 1].test_acc >= 40);
}

static void test_cifar_mlp_deterministic(void **state) {
  (void)state;
  trained *t = ensure_trained(&cifar_seed1);
  char again[128], other[128], fp[17];
  run("cifar_mlp", "--data", mnist_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--seed",
      "1", "--threads", "1", "--out", make_dir(again, sizeof again, "cifar1b"), (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
  epoch_line e[16];
  check_progress("cifar_mlp", last.out, EPOCHS, N_TEST, e);
  assert_true(e[EPOCHS - 1].loss == t->last_epoch.loss);
  run("cifar_mlp", "--data", mnist_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--seed",
      "2", "--threads", "1", "--out", make_dir(other, sizeof other, "cifar2"), (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_not_equal(fp, t->fp);
}

/* --epochs 0 --load: the same accuracy (BatchNorm's running statistics
 * restored), the same state, and nothing written */
static void test_cifar_mlp_load_evaluates(void **state) {
  (void)state;
  trained *t = ensure_trained(&cifar_seed1);
  char dir[128], want[96], fp[17], p[256];
  run("cifar_mlp", "--data", mnist_dir, "--epochs", "0", "--load", t->ckpt, "--out",
      make_dir(dir, sizeof dir, "cifar_eval"), (char *)NULL);
  expect_exit(&last, 0);
  assert_int_equal(parse_epochs("cifar_mlp", last.out, (epoch_line[1]){0}, 1), 0);
  snprintf(want, sizeof want, "test acc %.2f%% (%zu/%zu)", t->last_epoch.test_acc,
           t->last_epoch.test_correct, t->last_epoch.test_total);
  if (!strstr(last.out, want)) fail_msg("expected \"%s\" in:\n%s", want, last.out);
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
  assert_false(exists(path_in(p, sizeof p, dir, "cifar_mlp.safetensors")));
  assert_false(exists(path_in(p, sizeof p, dir, "cifar_mlp_metrics.csv")));
}

/* --cifar DIR: CIFAR-10 binary batches as grayscale */
static void test_cifar_mlp_cifar10(void **state) {
  (void)state;
  char dir[128], p[256];
  run("cifar_mlp", "--cifar", cifar_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--out",
      make_dir(dir, sizeof dir, "cifar10"), (char *)NULL);
  expect_exit(&last, 0);
  assert_non_null(strstr(last.out, "100 train / 50 test samples"));
  assert_non_null(strstr(last.out, "CIFAR-10 as grayscale"));
  epoch_line e[16];
  check_progress("cifar_mlp", last.out, EPOCHS, CIFAR_TEST, e);
  check_csv(path_in(p, sizeof p, dir, "cifar_mlp_metrics.csv"),
            "epoch,train_loss,train_accuracy,test_loss,test_accuracy,samples_per_second,seconds",
            EPOCHS);
  assert_true(file_size(path_in(p, sizeof p, dir, "cifar_mlp.safetensors")) > 32 * 1024 * 4);
}

static void test_mlp_mnist_bad_checkpoints(void **state) {
  (void)state;
  check_bad_checkpoints(ensure_trained(&mlp_seed1), ensure_trained(&cifar_seed1));
}

static void test_cifar_mlp_bad_checkpoints(void **state) {
  (void)state;
  check_bad_checkpoints(ensure_trained(&cifar_seed1), ensure_trained(&mlp_seed1));
}

/* a copy of the MNIST fixture in dir/<name> with `file` replaced by bytes */
static char *broken_mnist(char *out, size_t len, const char *name, const char *file,
                          const void *bytes, size_t n, bool gz) {
  make_dir(out, len, name);
  static const char *const files[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  char src[256], dst[256];
  for (int i = 0; i < 4; i++)
    copy_damaged(path_in(src, sizeof src, mnist_dir, files[i]),
                 path_in(dst, sizeof dst, out, files[i]), SIZE_MAX, SIZE_MAX);
  write_file(path_in(dst, sizeof dst, out, file), bytes, n, gz);
  return out;
}

static void check_bad_idx(const char *model) {
  char dir[128], file[256], name[64];
  /* images with the labels' magic number */
  uint8_t header[16];
  put_be32(header, 0x801), put_be32(header + 4, N_TRAIN), put_be32(header + 8, SIDE);
  put_be32(header + 12, SIDE);
  snprintf(name, sizeof name, "%s_magic", model);
  broken_mnist(dir, sizeof dir, name, "train-images-idx3-ubyte.gz", header, 16, true);
  run(model, "--data", dir, "--epochs", "1", "--out", dir, (char *)NULL);
  expect_failure(&last, path_in(file, sizeof file, dir, "train-images-idx3-ubyte.gz"), "magic",
                 (char *)NULL);
  /* a header that promises 300 images, and the pixels of 10 */
  size_t n = 16 + 10 * SIDE * SIDE;
  uint8_t *short_images = calloc(n, 1);
  assert_non_null(short_images);
  memcpy(short_images, header, 16);
  put_be32(short_images, 0x803);
  snprintf(name, sizeof name, "%s_short", model);
  broken_mnist(dir, sizeof dir, name, "train-images-idx3-ubyte.gz", short_images, n, true);
  free(short_images);
  run(model, "--data", dir, "--epochs", "1", "--out", dir, (char *)NULL);
  expect_failure(&last, path_in(file, sizeof file, dir, "train-images-idx3-ubyte.gz"), "truncated",
                 (char *)NULL);
  /* test labels cut off inside the header */
  snprintf(name, sizeof name, "%s_cut", model);
  broken_mnist(dir, sizeof dir, name, "t10k-labels-idx1-ubyte.gz", header, 6, false);
  run(model, "--data", dir, "--epochs", "1", "--out", dir, (char *)NULL);
  expect_failure(&last, path_in(file, sizeof file, dir, "t10k-labels-idx1-ubyte.gz"), "truncated",
                 (char *)NULL);
}

static void test_mlp_mnist_bad_data(void **state) {
  (void)state;
  check_bad_idx("mlp_mnist");
}

static void test_cifar_mlp_bad_data(void **state) {
  (void)state;
  check_bad_idx("cifar_mlp");
  /* a CIFAR-10 batch cut inside a record, and one with a label of 10 */
  char dir[128], src[256], dst[256], name[64];
  make_dir(dir, sizeof dir, "cifar_bad");
  for (int b = 1; b <= 5; b++) {
    snprintf(name, sizeof name, "data_batch_%d.bin", b);
    copy_damaged(path_in(src, sizeof src, cifar_dir, name), path_in(dst, sizeof dst, dir, name),
                 b == 3 ? CIFAR_RECORD * 4 + 1000 : SIZE_MAX, SIZE_MAX);
  }
  path_in(src, sizeof src, cifar_dir, "test_batch.bin");
  copy_damaged(src, path_in(dst, sizeof dst, dir, "test_batch.bin"), SIZE_MAX, SIZE_MAX);
  run("cifar_mlp", "--cifar", dir, "--epochs", "1", "--out", dir, (char *)NULL);
  expect_failure(&last, path_in(dst, sizeof dst, dir, "data_batch_3.bin"), "record", (char *)NULL);
  path_in(dst, sizeof dst, dir, "data_batch_3.bin");
  copy_damaged(path_in(src, sizeof src, cifar_dir, "data_batch_3.bin"), dst, SIZE_MAX, SIZE_MAX);
  uint8_t ten = 10;
  FILE *f = fopen(path_in(dst, sizeof dst, dir, "test_batch.bin"), "r+b");
  assert_non_null(f);
  bool wrote = fseek(f, 2L * CIFAR_RECORD, SEEK_SET) == 0 && fwrite(&ten, 1, 1, f) == 1;
  assert_int_equal(fclose(f), 0);
  assert_true(wrote);
  run("cifar_mlp", "--cifar", dir, "--epochs", "1", "--out", dir, (char *)NULL);
  expect_failure(&last, dst, "label 10", (char *)NULL);
  /* a directory without the batches */
  run("cifar_mlp", "--cifar", mnist_dir, "--epochs", "1", "--out", dir, (char *)NULL);
  expect_failure(&last, "data_batch_1.bin", (char *)NULL);
}

static void test_unknown_flags(void **state) {
  (void)state;
  static const char *const models[] = {"mlp_mnist", "cifar_mlp"};
  for (int i = 0; i < 2; i++) {
    run(models[i], "--data", mnist_dir, "--no-such-flag", "1", "--epochs", "1", (char *)NULL);
    expect_exit(&last, 2);
    assert_non_null(strstr(last.err, "unknown flag --no-such-flag"));
    assert_non_null(strstr(last.err, "usage:"));
    assert_int_equal(last.out[0], '\0');
    run(models[i], "--epochs", "three", (char *)NULL);
    expect_exit(&last, 2);
    assert_non_null(strstr(last.err, "--epochs expects a number"));
    run(models[i], "--workers", "-1", (char *)NULL);
    expect_exit(&last, 2);
    assert_non_null(strstr(last.err, "--workers must be in 0..64"));
  }
  /* cifar_mlp's own flags: --cifar needs its directory; --linear is mlp_mnist's */
  run("cifar_mlp", "--epochs", "1", "--cifar", (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "--cifar needs a value"));
  run("cifar_mlp", "--linear", "--epochs", "1", (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "unknown flag --linear"));
  run("cifar_mlp", "--batch", "1", (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "--batch"));
}

/* ------------------------------------------------------------ main */

static int group_setup(void **state) {
  (void)state;
  return fixture_setup();
}

static int group_teardown(void **state) {
  (void)state;
  free(mlp_seed1.stdout_text);
  free(cifar_seed1.stdout_text);
  mlp_seed1.stdout_text = cifar_seed1.stdout_text = NULL;
  return fixture_teardown();
}


int main(void) {
  const struct CMUnitTest tests[] = {
      TRAINING_TEST(test_mlp_mnist_trains),
      TRAINING_TEST(test_mlp_mnist_deterministic),
      TRAINING_TEST(test_mlp_mnist_load_evaluates),
      TRAINING_TEST(test_cifar_mlp_trains),
      TRAINING_TEST(test_cifar_mlp_adam),
      TRAINING_TEST(test_cifar_mlp_deterministic),
      TRAINING_TEST(test_cifar_mlp_load_evaluates),
      TRAINING_TEST(test_cifar_mlp_cifar10),
      TRAINING_TEST(test_mlp_mnist_bad_checkpoints),
      TRAINING_TEST(test_cifar_mlp_bad_checkpoints),
      TRAINING_TEST(test_mlp_mnist_bad_data),
      TRAINING_TEST(test_cifar_mlp_bad_data),
      TRAINING_TEST(test_unknown_flags),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
