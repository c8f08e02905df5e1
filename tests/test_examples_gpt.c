/* examples/gpt_mini: the parameter count by hand, the loss falling from
 * ln(65) on the word list and on a tiny repetitive text, the same output
 * twice for a seed, the sample's length and characters, and clear errors
 * for bad flags. */
#include <unistd.h>

#include "tg_test.h"
#include "example_util.h"

#include "../examples/gpt_model.h"

/* the output without its timing line */
static char *without_time(const char *s) {
  char *c = strdup(s), *t = strstr(c, "\ntime: ");
  assert_non_null(c);
  if (t) {
    char *nl = strchr(t + 1, '\n');
    memmove(t, nl ? nl : t + strlen(t), strlen(nl ? nl : t + strlen(t)) + 1);
  }
  return c;
}

static void test_parameter_count(void **state) {
  (void)state;
  /* by hand: tok 65*24 + pos 8*24; per block ln1 2*24, q/k/v 6 heads *
   * 3 * (24*4), proj 24*24+24, ln2 2*24, ffwd 24*96+96 and 96*24+24;
   * lm_head 24*65+65 */
  size_t block = 48 + 6 * 3 * 96 + 600 + 48 + 2400 + 2328;
  size_t by_hand = 1560 + 192 + 6 * block + 1625;
  assert_int_equal(by_hand, 46289);
  tg_rng r = test_seeded(0);
  gpt_model g;
  assert_int_equal(gpt_build(&g, &r), 0);
  assert_int_equal(tg_module_num_parameters(g.root, false), by_hand);
  assert_int_equal(tg_module_num_parameters(g.root, true), by_hand);
  assert_non_null(tg_module_get(g.root, "blocks.5.sa.qkv.weight"));
  assert_non_null(tg_module_get(g.root, "blocks.0.ffwd.net.2.bias"));
  assert_non_null(tg_module_get(g.root, "lm_head.weight"));
  assert_null(tg_module_get(g.root, "ln_f.weight")); /* no final LayerNorm */
  gpt_free(&g);
  char *out = example_run("gpt_mini", NULL, "--steps 0 --sample 0 --eval-iters 1");
  assert_int_equal(strtol(example_line_after(out, "parameters: "), NULL, 10), 46289);
  assert_int_equal(strtol(example_line_after(out, "vocab: "), NULL, 10), 65);
}

/* the step losses printed: "step S: train loss A, val loss B" */
static int read_losses(const char *out, double *train, double *val, int max) {
  int n = 0;
  for (const char *l = strstr(out, "step "); l && n < max; l = strstr(l + 1, "\nstep ")) {
    long s;
    if (sscanf(l[0] == '\n' ? l + 1 : l, "step %ld: train loss %lf, val loss %lf", &s, &train[n], &val[n]) == 3)
      n++;
  }
  return n;
}

static void test_words_loss_falls(void **state) {
  (void)state;
  char *out = example_run("gpt_mini", NULL, "--steps 300 --batch 16 --eval-every 150 --eval-iters 10 --sample 40");
  double tr[8], va[8];
  int n = read_losses(out, tr, va, 8);
  assert_int_equal(n, 3);
  assert_close(tr[0], log(65.0), 0.05); /* N(0, 0.02) weights: logits near 0 */
  assert_close(va[0], log(65.0), 0.05);
  assert_true(tr[2] < tr[0] - 1.0);
  assert_true(va[2] < va[0] - 0.8);
  assert_non_null(strstr(out, "(the 6 rarest share token 64, '?')"));
}

static char sample_out[1 << 14];

static void test_deterministic_and_sample(void **state) {
  (void)state;
  char path[] = "/tmp/tg_gpt_textXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  for (int i = 0; i < 400; i++) fputs("hello world\n", f);
  fclose(f);
  char args[512];
  snprintf(args, sizeof args, "--text %s --steps 150 --batch 8 --eval-every 50 --eval-iters 4 --sample 120 --seed 5", path);
  char *a = without_time(example_run("gpt_mini", NULL, args));
  char *b = without_time(example_run("gpt_mini", NULL, args));
  snprintf(args, sizeof args, "--text %s --steps 150 --batch 8 --eval-every 50 --eval-iters 4 --sample 120 --seed 6", path);
  char *c = without_time(example_run("gpt_mini", NULL, args));
  remove(path);
  bool same = !strcmp(a, b), differs = strcmp(a, c) != 0;
  free(b);
  free(c);
  snprintf(sample_out, sizeof sample_out, "%s", a);
  free(a);
  a = sample_out;
  assert_true(same);    /* same seed: the same losses and sample */
  assert_true(differs); /* another seed: another run */
  assert_non_null(strstr(a, "9 distinct\n")); /* h e l o w r d, space and newline */
  double tr[8], va[8];
  int n = read_losses(a, tr, va, 8);
  assert_int_equal(n, 4);
  assert_true(tr[3] < 1.0); /* a 12-character cycle is nearly certain after a few steps */
  const char *s = strstr(a, "sample:\n");
  assert_non_null(s);
  s += strlen("sample:\n");
  size_t len = strlen(s);
  assert_true(len > 0 && s[len - 1] == '\n');
  assert_int_equal(len - 1, 120); /* ASCII text: one byte a character */
  for (size_t i = 0; i + 1 < len; i++)
    if (!strchr("helo wrd\n?", s[i])) fail_msg("sample character %zu '%c' not in the text", i, s[i]);
}

static void test_bad_flags(void **state) {
  (void)state;
  char out[4096];
  assert_int_equal(example_status("gpt_mini", "--bogus", out, sizeof out), 2);
  assert_non_null(strstr(out, "unknown flag --bogus"));
  assert_non_null(strstr(out, "usage:"));
  assert_int_equal(example_status("gpt_mini", "--steps ten", out, sizeof out), 2);
  assert_non_null(strstr(out, "--steps expects a number, got 'ten'"));
  assert_int_equal(example_status("gpt_mini", "--batch 0", out, sizeof out), 2);
  assert_non_null(strstr(out, "--batch"));
  assert_int_equal(example_status("gpt_mini", "--lr -1", out, sizeof out), 2);
  assert_non_null(strstr(out, "--lr"));
  assert_int_equal(example_status("gpt_mini", "--lr", out, sizeof out), 2);
  assert_non_null(strstr(out, "--lr needs a value"));
  assert_int_equal(example_status("gpt_mini", "--text /nonexistent/tg_gpt.txt", out, sizeof out), 1);
  assert_non_null(strstr(out, "cannot open /nonexistent/tg_gpt.txt"));
  char path[] = "/tmp/tg_gpt_shortXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "abc\n", 4), 4);
  close(fd);
  char args[256];
  snprintf(args, sizeof args, "--text %s", path);
  assert_int_equal(example_status("gpt_mini", args, out, sizeof out), 1);
  remove(path);
  assert_non_null(strstr(out, "has 4 characters; at least"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_parameter_count, test_setup, example_teardown),
      cmocka_unit_test_setup_teardown(test_words_loss_falls, test_setup, example_teardown),
      cmocka_unit_test_setup_teardown(test_deterministic_and_sample, test_setup, example_teardown),
      TG_TEST(test_bad_flags),
  };
  int rc = cmocka_run_group_tests_name("examples_gpt", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
