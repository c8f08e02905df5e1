/* examples/char_lstm, run as a program on a small part of the word list
 * (or on word files written here): what it prints is checked against
 * counts worked out here (the split, the parameter count of the model) and
 * against properties a trained model must have (losses below the uniform
 * ln 27, falling; samples made of a-z), and two runs with one seed must
 * print the same losses and samples. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <unistd.h>

#include "tg_test.h"
#include "example_util.h"

#define WORDS "/usr/share/dict/words"
#define SMALL "--max-words 1500 --epochs 2 --max-steps 15 --batch 16 --embed 8 --hidden 16"

/* Embedding(27, e) + LSTM(e, h, 2 layers) + Linear(h, 27), counted by hand:
 * a layer has 4h x in + 4h x h weights and two 4h biases */
static size_t char_lstm_params(size_t e, size_t h) {
  size_t lstm = (4 * h * e + 4 * h * h + 8 * h) + (4 * h * h + 4 * h * h + 8 * h);
  return 27 * e + lstm + (h * 27 + 27);
}

static bool have_words(void) {
  if (access(WORDS, R_OK) == 0) return true;
  print_message("skipped: %s is missing (apt-get install wamerican)\n", WORDS);
  return false;
}

/* everything but the timing fields (words/s, elapsed), for comparing runs */
static void strip_timing(char *s) {
  for (char *p = strstr(s, "  "); p; p = strstr(p + 1, "  "))
    if (strncmp(p, "  val loss", 10) == 0) {
      char *end = strchr(p + 10, '\n');
      char *cut = strstr(p + 10, "  ");
      if (cut && end && cut < end) memmove(cut, end, strlen(end) + 1);
    }
}

static void test_char_lstm_trains(void **state) {
  (void)state;
  if (!have_words()) return;
  char *out = example_run("char_lstm", NULL, SMALL " --seed 3");
  /* word i is held out when i % 10 == 9: 150 of the first 1500 */
  const char *s = example_line_after(out, "char_lstm: ");
  assert_int_equal((long)strtol(s, NULL, 10), 1350);
  assert_int_equal((size_t)example_number(out, "char_lstm: 1350 train words, "), 150);
  assert_int_equal((size_t)example_number(out, "char_lstm: 1350 train words, 150 val words, "),
                   char_lstm_params(8, 16));
  double loss[2][2];
  for (int e = 0; e < 2; e++) {
    char head[96];
    snprintf(head, sizeof head, "epoch %d/2  train loss", e + 1);
    example_numbers(out, head, &loss[e][0], 1);
    snprintf(head, sizeof head, "epoch %d/2  train loss %.4f  val loss", e + 1, loss[e][0]);
    example_numbers(out, head, &loss[e][1], 1);
    assert_true(loss[e][0] > 0 && loss[e][1] > 0);
  }
  /* learning: below the uniform guess's ln 27 = 3.2958 and falling */
  assert_true(loss[1][1] < log(27.0));
  assert_true(loss[1][0] < loss[0][0]);
  assert_true(loss[1][1] < loss[0][1]);
  /* 20 samples of a-z letters, each at most 20 long */
  const char *line = example_line_after(out, "samples (temperature 0.80):");
  int words = 0, len = 0;
  for (const char *p = line; *p && *p != '\n'; p++) {
    if (*p == ' ') {
      assert_true(len <= 20);
      words++, len = 0;
    } else {
      assert_true(*p >= 'a' && *p <= 'z');
      len++;
    }
  }
  assert_int_equal(words, 20);
}

static void test_char_lstm_deterministic(void **state) {
  (void)state;
  if (!have_words()) return;
  char *first = strdup(example_run("char_lstm", NULL, SMALL " --epochs 1 --seed 5"));
  assert_non_null(first);
  char *second = example_run("char_lstm", NULL, SMALL " --epochs 1 --seed 5");
  strip_timing(first);
  strip_timing(second);
  int same = strcmp(first, second);
  if (same) print_message("first:\n%s\nsecond:\n%s\n", first, second);
  free(first);
  assert_int_equal(same, 0);
}

static void test_char_lstm_bad_input(void **state) {
  (void)state;
  char err[4096], path[] = "/tmp/tg-char-lstm-XXXXXX";
  assert_int_equal(example_status("char_lstm", "--epochs 0", err, sizeof err), 2);
  assert_non_null(strstr(err, "--epochs needs a number >= 1"));
  assert_int_equal(example_status("char_lstm", "--bogus", err, sizeof err), 2);
  assert_non_null(strstr(err, "unknown or incomplete flag \"--bogus\""));
  assert_int_equal(example_status("char_lstm", "--words /nonexistent/words", err, sizeof err), 1);
  assert_non_null(strstr(err, "cannot open /nonexistent/words"));
  /* a file without enough a-z words is refused by name */
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char text[] = "Apple\nit's\ncafé\n\nok\n";
  assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
  close(fd);
  char args[128];
  snprintf(args, sizeof args, "--words %s", path);
  assert_int_equal(example_status("char_lstm", args, err, sizeof err), 1);
  unlink(path);
  assert_non_null(strstr(err, "has 1 a-z words; 10 are needed"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_char_lstm_trains, example_teardown),
      cmocka_unit_test_teardown(test_char_lstm_deterministic, example_teardown),
      cmocka_unit_test_teardown(test_char_lstm_bad_input, example_teardown),
  };
  return cmocka_run_group_tests_name("examples_char_lstm", tests, NULL, NULL);
}
