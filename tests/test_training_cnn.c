/* The CNN training example cnn_mnist, run end to end as a program on the
 * tiny learnable MNIST fixture of training_fixture.h: it trains (the loss
 * falls, the accuracy is far above guessing), its checkpoint holds PyTorch's
 * state-dict names and shapes for the same nn.Sequential, the same seed
 * gives the same fingerprint at 1 thread, a loaded checkpoint evaluates to
 * the accuracy at the end of training, and bad checkpoints and flags fail
 * cleanly. */
#define _XOPEN_SOURCE 700
#include "training_fixture.h"

/* lr 0.05: the fixture is 15 batches an epoch, too few for lr 0.01 */
#define CNN_LR "0.05"

static trained cnn_seed1 = {.model = "cnn_mnist", .tag = "cnn1"};
static trained mlp_other = {.model = "mlp_mnist", .tag = "mlp_other"};

static trained *ensure_cnn(void) {
  trained *t = &cnn_seed1;
  if (t->stdout_text) return t;
  make_dir(t->out_dir, sizeof t->out_dir, t->tag);
  run(t->model, "--data", mnist_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--lr", CNN_LR,
      "--seed", "1", "--threads", "1", "--out", t->out_dir, (char *)NULL);
  return record_trained(t, N_TEST);
}

static void assert_entry(tg_checkpoint *ck, const char *name, int ndim, const size_t *shape) {
  tg_tensor *t = tg_checkpoint_find(ck, name);
  if (!t) fail_msg("checkpoint has no '%s'", name);
  assert_int_equal(t->ndim, ndim);
  for (int d = 0; d < ndim; d++) assert_int_equal(t->shape[d], shape[d]);
}

static void test_cnn_mnist_trains(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  if (!(t->last_epoch.test_acc >= 50))
    fail_msg("test accuracy %.2f%% after %d epochs on the learnable fixture", t->last_epoch.test_acc,
             EPOCHS);
  assert_non_null(strstr(t->stdout_text, "LeNet-5 model, 61706 parameters, 300 train / 100 test"));
  char p[256];
  check_csv(path_in(p, sizeof p, t->out_dir, "cnn_mnist_metrics.csv"),
            "epoch,train_loss,train_accuracy,test_errors,test_accuracy,seconds", EPOCHS);
  /* PyTorch's names for the same nn.Sequential: 0 conv, 3 conv, 7/9/11 linear */
  tg_checkpoint *ck = tg_checkpoint_read(t->ckpt);
  if (!ck) fail_msg("%s", tg_last_error());
  assert_int_equal(tg_checkpoint_count(ck), 10);
  assert_true(tg_checkpoint_verified(ck));
  assert_entry(ck, "0.weight", 4, (size_t[]){6, 1, 5, 5});
  assert_entry(ck, "0.bias", 1, (size_t[]){6});
  assert_entry(ck, "3.weight", 4, (size_t[]){16, 6, 5, 5});
  assert_entry(ck, "7.weight", 2, (size_t[]){120, 400});
  assert_entry(ck, "9.weight", 2, (size_t[]){84, 120});
  assert_entry(ck, "11.weight", 2, (size_t[]){10, 84});
  assert_entry(ck, "11.bias", 1, (size_t[]){10});
  tg_checkpoint_free(ck);
}

static void test_cnn_mnist_deterministic(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  char again[128], fp[17];
  run("cnn_mnist", "--data", mnist_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--lr", CNN_LR,
      "--seed", "1", "--threads", "1", "--out", make_dir(again, sizeof again, "cnn1b"), (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
  run("cnn_mnist", "--data", mnist_dir, "--epochs", "1", "--batch", BATCH_STR, "--seed", "2",
      "--threads", "1", "--out", make_dir(again, sizeof again, "cnn2"), (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
  assert_string_not_equal(fp, t->fp);
}

static void test_cnn_mnist_load_evaluates(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  char dir[128], want[64], fp[17];
  run("cnn_mnist", "--data", mnist_dir, "--epochs", "0", "--load", t->ckpt, "--out",
      make_dir(dir, sizeof dir, "cnn_eval"), (char *)NULL);
  expect_exit(&last, 0);
  snprintf(want, sizeof want, "test errors %zu/%zu (acc %.2f%%)",
           t->last_epoch.test_total - t->last_epoch.test_correct, t->last_epoch.test_total,
           t->last_epoch.test_acc);
  if (!strstr(last.out, want)) fail_msg("expected \"%s\" in:\n%s", want, last.out);
  fingerprint_of(last.out, fp);
  assert_string_equal(fp, t->fp);
}

static void test_cnn_mnist_bad_checkpoints_and_flags(void **state) {
  (void)state;
  trained *t = ensure_cnn();
  make_dir(mlp_other.out_dir, sizeof mlp_other.out_dir, mlp_other.tag);
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "1", "--max-steps", "2", "--out", mlp_other.out_dir,
      (char *)NULL);
  expect_exit(&last, 0);
  snprintf(mlp_other.ckpt, sizeof mlp_other.ckpt, "%s/mlp_mnist.safetensors", mlp_other.out_dir);
  check_bad_checkpoints(t, &mlp_other);
  run("cnn_mnist", "--data", mnist_dir, "--linear", "--epochs", "1", (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "--linear"));
  run("cnn_mnist", "--no-such-flag", (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "unknown flag --no-such-flag"));
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
      TRAINING_TEST(test_cnn_mnist_trains),
      TRAINING_TEST(test_cnn_mnist_deterministic),
      TRAINING_TEST(test_cnn_mnist_load_evaluates),
      TRAINING_TEST(test_cnn_mnist_bad_checkpoints_and_flags),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
