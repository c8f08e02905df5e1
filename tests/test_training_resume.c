/* --save-state and --resume of the training examples, run as programs on
 * the tiny fixture data: a run of 2 epochs straight and a run of 1 epoch,
 * stopped, then resumed for the second end with the same fingerprint (bit
 * for bit at 1 thread), with and without --max-steps and DataLoader
 * workers; the metrics CSV of a resumed run goes on (rows 1, 2) while a
 * plain re-run starts it afresh; bad state files fail cleanly. */
#include "training_fixture.h"

static const char *const HEADER =
    "epoch,train_loss,train_accuracy,test_errors,test_accuracy,seconds";

/* the fingerprint of model trained for epochs in `dir` (extra: more flags, then NULL) */
static void train_fp(const char *model, const char *dir, const char *epochs, const char *extra1,
                     const char *extra2, const char *extra3, const char *extra4, char fp[17]) {
  run(model, "--data", mnist_dir, "--epochs", epochs, "--batch", BATCH_STR, "--seed", "1",
      "--threads", "1", "--out", dir, extra1, extra2, extra3, extra4, (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp);
}

/* straight vs 1 + resume 1, both with the flags a, b (or NULLs) */
static void check_split_run(const char *model, const char *tag, const char *a, const char *b) {
  char straight[128], split[128], state[256], fp1[17], fp2[17], fp3[17], csv[256];
  make_dir(straight, sizeof straight, tag);
  char tag2[64];
  snprintf(tag2, sizeof tag2, "%s-split", tag);
  make_dir(split, sizeof split, tag2);
  path_in(state, sizeof state, split, "state.safetensors");
  train_fp(model, straight, "2", a, b, NULL, NULL, fp1);
  train_fp(model, split, "1", "--save-state", state, a, b, fp2);
  assert_true(exists(state));
  if (strcmp(fp1, fp2) == 0) fail_msg("%s: 1 epoch and 2 epochs gave the same fingerprint", tag);
  train_fp(model, split, "2", "--resume", state, a, b, fp3);
  assert_non_null(strstr(last.out, "resumed from"));
  assert_non_null(strstr(last.out, "after epoch 1"));
  assert_null(strstr(last.out, "epoch 1/2")); /* only the second epoch ran */
  assert_non_null(strstr(last.out, "epoch 2/2"));
  assert_string_equal(fp1, fp3);
  char name[64];
  snprintf(name, sizeof name, "%s_metrics.csv", model);
  check_csv(path_in(csv, sizeof csv, split, name), HEADER, 2); /* appended: rows 1, 2 */
  check_csv(path_in(csv, sizeof csv, straight, name), HEADER, 2);
}

static void test_mlp_resume_bit_identical(void **state) {
  (void)state;
  check_split_run("mlp_mnist", "mlp-resume", NULL, NULL);
}

static void test_mlp_resume_max_steps_and_workers(void **state) {
  (void)state;
  check_split_run("mlp_mnist", "mlp-resume-steps", "--max-steps", "4");
  check_split_run("mlp_mnist", "mlp-resume-workers", "--workers", "2");
}

static void test_cnn_resume_bit_identical(void **state) {
  (void)state;
  check_split_run("cnn_mnist", "cnn-resume", "--max-steps", "3");
}

static void test_metrics_fresh_per_run(void **state) {
  (void)state;
  char dir[128], csv[256], fp[17];
  make_dir(dir, sizeof dir, "mlp-rerun");
  train_fp("mlp_mnist", dir, "2", NULL, NULL, NULL, NULL, fp);
  train_fp("mlp_mnist", dir, "1", NULL, NULL, NULL, NULL, fp);
  /* the second run's log alone: one row, not 1, 2, 1 */
  check_csv(path_in(csv, sizeof csv, dir, "mlp_mnist_metrics.csv"), HEADER, 1);
}

static void test_resume_bad_states(void **state) {
  (void)state;
  char dir[128], st[256], cut[256], fp[17];
  make_dir(dir, sizeof dir, "mlp-resume-bad");
  path_in(st, sizeof st, dir, "linear.safetensors");
  train_fp("mlp_mnist", dir, "1", "--linear", "--save-state", st, NULL, fp);
  /* a state of the linear model into the 784-200-10 one: the entry is named */
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "2", "--out", dir, "--resume", st,
      (char *)NULL);
  expect_failure(&last, "train_state_load", "model.", (char *)NULL);
  /* missing and truncated files */
  path_in(cut, sizeof cut, dir, "cut.safetensors");
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "2", "--out", dir, "--resume", cut,
      (char *)NULL);
  expect_failure(&last, "cut.safetensors", (char *)NULL);
  copy_damaged(st, cut, file_size(st) / 2, (size_t)-1);
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "2", "--linear", "--out", dir, "--resume",
      cut, (char *)NULL);
  expect_failure(&last, "cut.safetensors", (char *)NULL);
  /* the examples with their own loops refuse the flags */
  run("vae_mnist", "--data", mnist_dir, "--epochs", "1", "--out", dir, "--resume", st,
      (char *)NULL);
  expect_exit(&last, 2);
  assert_non_null(strstr(last.err, "--resume"));
}

static int group_setup(void **state) {
  (void)state;
  return fixture_setup();
}

static int group_teardown(void **state) {
  (void)state;
  return fixture_teardown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TRAINING_TEST(test_mlp_resume_bit_identical),
      TRAINING_TEST(test_mlp_resume_max_steps_and_workers),
      TRAINING_TEST(test_cnn_resume_bit_identical),
      TRAINING_TEST(test_metrics_fresh_per_run),
      TRAINING_TEST(test_resume_bad_states),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
