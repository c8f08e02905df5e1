/* Early stopping in the training examples (examples/train_util.h, issue
 * 16): --val-fraction F holds out round(F n) training samples, --patience N
 * stops once the validation loss has not improved for N epochs and
 * restores the best epoch's weights. Run on the tiny fixture MNIST with a
 * learning rate high enough that the validation loss turns up within a few
 * epochs. The stopping rule and the restored epoch are worked out here from
 * the printed validation losses; that the restored weights are the best
 * epoch's is checked by evaluating the saved checkpoint again (--epochs 0
 * --load), whose test errors must be those printed after that epoch.
 * Stopped and resumed (--save-state, --resume), a run stops after the same
 * epoch and restores the same weights as the uninterrupted one. */
#include "training_fixture.h"

#define MAX_E 30

static void test_mlp_mnist_early_stopping(void **state) {
  (void)state;
  char dir[256], ckpt[320];
  make_dir(dir, sizeof dir, "early");
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "30", "--batch", BATCH_STR, "--seed", "1",
      "--threads", "1", "--lr", "5", "--val-fraction", "0.2", "--patience", "2", "--out", dir,
      (char *)NULL);
  expect_exit(&last, 0);
  const char *out = last.out;
  /* round(0.2 * 300) = 60 held out, 240 left to train on */
  char want[128];
  snprintf(want, sizeof want, "validation: %d of the %d training samples held out", 60, N_TRAIN);
  assert_non_null(strstr(out, want));
  snprintf(want, sizeof want, "%d train / %d test samples", N_TRAIN - 60, N_TEST);
  assert_non_null(strstr(out, want));

  epoch_line e[MAX_E];
  int n = parse_epochs("mlp_mnist", out, e, MAX_E);
  double v[MAX_E];
  int nv = 0;
  for (const char *l = strstr(out, "\nvalidation loss "); l; l = strstr(l + 1, "\nvalidation loss ")) {
    assert_true(nv < MAX_E);
    assert_int_equal(sscanf(l, "\nvalidation loss %lf", &v[nv]), 1);
    nv++;
  }
  assert_int_equal(nv, n); /* one validation loss per epoch */
  /* the rule: stop after the first epoch that is `patience` epochs past the
   * lowest validation loss so far (epochs count from 1) */
  int best = 0, stop = 0;
  for (int k = 0; k < n && !stop; k++) {
    if (v[k] < v[best]) best = k;
    if (k - best >= 2) stop = k + 1;
  }
  assert_true(stop > 0 && stop < MAX_E); /* this learning rate does stop early */
  assert_int_equal(n, stop);
  snprintf(want, sizeof want, "early stopping after epoch %d: no lower validation loss for 2 epochs",
           stop);
  assert_non_null(strstr(out, want));
  snprintf(want, sizeof want, "restored epoch %d (validation loss ", best + 1);
  const char *r = strstr(out, want);
  assert_non_null(r);
  double vr;
  size_t errors, total;
  assert_int_equal(sscanf(r + strlen(want), "%lf): test errors %zu/%zu", &vr, &errors, &total), 3);
  assert_true(fabs(vr - v[best]) <= 1e-6 * fabs(v[best]));
  assert_int_equal(total, N_TEST);
  /* the best epoch's own test errors, measured right after it */
  assert_int_equal(errors, e[best].test_total - e[best].test_correct);

  /* the checkpoint holds the restored weights */
  path_in(ckpt, sizeof ckpt, dir, "mlp_mnist.safetensors");
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "0", "--load", ckpt, "--out", dir, (char *)NULL);
  expect_exit(&last, 0);
  snprintf(want, sizeof want, "test errors %zu/%d", errors, N_TEST);
  assert_non_null(strstr(last.out, want));
}

/* --val-fraction alone validates every epoch and never stops early */
static void test_mlp_mnist_validation_only(void **state) {
  (void)state;
  char dir[256];
  make_dir(dir, sizeof dir, "val_only");
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "3", "--batch", BATCH_STR, "--seed", "1",
      "--threads", "1", "--val-fraction", "0.5", "--out", dir, (char *)NULL);
  expect_exit(&last, 0);
  assert_non_null(strstr(last.out, "validation: 150 of the 300 training samples held out"));
  epoch_line e[MAX_E];
  assert_int_equal(parse_epochs("mlp_mnist", last.out, e, MAX_E), 3);
  assert_null(strstr(last.out, "early stopping"));
  assert_null(strstr(last.out, "restored epoch"));
}

static void test_early_stopping_bad_flags(void **state) {
  (void)state;
  const char *bad[][4] = {{"--patience", "2", NULL, NULL},          /* no validation set */
                          {"--val-fraction", "1", NULL, NULL},      /* nothing left to train on */
                          {"--val-fraction", "-0.1", NULL, NULL},
                          {"--val-fraction", "x", NULL, NULL},
                          {"--val-fraction", "0.2", "--patience", "-1"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    run("mlp_mnist", "--data", mnist_dir, "--epochs", "1", bad[i][0], bad[i][1],
        bad[i][2] ? bad[i][2] : (char *)NULL, bad[i][3], (char *)NULL);
    expect_exit(&last, 2);
    assert_true(strstr(last.err, "--val-fraction") || strstr(last.err, "expects a number"));
  }
  /* a fraction that rounds to every sample: a clean failure, not a crash */
  run("mlp_mnist", "--data", mnist_dir, "--epochs", "1", "--val-fraction", "0.999", (char *)NULL);
  expect_failure(&last, "validation", (char *)NULL);
}

/* the epoch a run stopped after and the epoch it restored, from its output */
static void stop_and_restore(const char *out, int *stop, int *restored) {
  const char *s = strstr(out, "early stopping after epoch ");
  const char *r = strstr(out, "restored epoch ");
  assert_non_null(s);
  assert_non_null(r);
  assert_int_equal(sscanf(s, "early stopping after epoch %d", stop), 1);
  assert_int_equal(sscanf(r, "restored epoch %d", restored), 1);
}

/* Early stopping across --save-state/--resume: the run is stopped after
 * epoch k (--epochs k) and resumed with the uninterrupted run's flags, for
 * every k from one epoch past the best (the patience counter running) to
 * the stop itself (a resumed run that had already stopped trains no more).
 * Each ends with the uninterrupted run's stopping epoch, restored epoch and
 * its test errors, and fingerprint: the best weights and the counter came
 * back from the file. */
static void test_early_stopping_resumed(void **state) {
  (void)state;
  char dir[256], st[320], fp_straight[17], fp[17];
  make_dir(dir, sizeof dir, "early-resume");
  path_in(st, sizeof st, dir, "state.safetensors");
#define EARLY_FLAGS "--data", mnist_dir, "--batch", BATCH_STR, "--seed", "1", "--threads", "1", \
                    "--lr", "5", "--val-fraction", "0.2", "--patience", "2", "--out", dir
  run("mlp_mnist", EARLY_FLAGS, "--epochs", "30", (char *)NULL);
  expect_exit(&last, 0);
  fingerprint_of(last.out, fp_straight);
  int stop, best;
  stop_and_restore(last.out, &stop, &best);
  assert_true(best < stop); /* patience 2: the stop is 2 epochs past the best */
  const char *r = strstr(last.out, "restored epoch ");
  char restored_line[160];
  assert_int_equal(sscanf(r, "%159[^\n]", restored_line), 1);
  for (int k = best + 1; k <= stop; k++) {
    char ks[16];
    snprintf(ks, sizeof ks, "%d", k);
    run("mlp_mnist", EARLY_FLAGS, "--epochs", ks, "--save-state", st, (char *)NULL);
    expect_exit(&last, 0);
    run("mlp_mnist", EARLY_FLAGS, "--epochs", "30", "--resume", st, (char *)NULL);
    expect_exit(&last, 0);
    char want[64];
    snprintf(want, sizeof want, "after epoch %d", k);
    assert_non_null(strstr(last.out, want));
    if (k < stop) {
      int s2, b2;
      stop_and_restore(last.out, &s2, &b2);
      assert_int_equal(s2, stop);
      assert_int_equal(b2, best);
    } else {
      assert_null(strstr(last.out, "epoch 30/30")); /* no epoch after the stop */
      snprintf(want, sizeof want, "epoch %d/30", stop + 1);
      assert_null(strstr(last.out, want));
    }
    assert_non_null(strstr(last.out, restored_line));
    fingerprint_of(last.out, fp);
    if (strcmp(fp, fp_straight) != 0)
      fail_msg("stopped after epoch %d and resumed: fingerprint %s, uninterrupted %s", k, fp,
               fp_straight);
  }
  /* a state saved without a validation set does not resume one with it */
  run("mlp_mnist", "--data", mnist_dir, "--batch", BATCH_STR, "--epochs", "1", "--out", dir,
      "--save-state", st, (char *)NULL);
  expect_exit(&last, 0);
  run("mlp_mnist", EARLY_FLAGS, "--epochs", "2", "--resume", st, (char *)NULL);
  expect_failure(&last, "train_state_load", "early stopping", (char *)NULL);
#undef EARLY_FLAGS
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
      TRAINING_TEST(test_mlp_mnist_early_stopping),
      TRAINING_TEST(test_mlp_mnist_validation_only),
      TRAINING_TEST(test_early_stopping_bad_flags),
      TRAINING_TEST(test_early_stopping_resumed),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
