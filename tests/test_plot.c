/* tg_metrics_plot: metrics curves drawn into a PNG by the library itself.
 * The PNGs are read back and checked by what tg_data.h promises: the image
 * size from the panel count, each line in its documented colour in the
 * right panel, axes drawn in black, and clear errors for bad CSVs. */
#define _GNU_SOURCE /* nftw's FTW_DEPTH | FTW_PHYS */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "png_read.h"
#include "tg_test.h"

static char g_dir[256];

static void tpath(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", g_dir, name); }

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int group_setup(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/tg-plot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* the documented colours: tab10's first three (train_, test_, val_) */
static const unsigned char BLUE[3] = {0x1f, 0x77, 0xb4}, ORANGE[3] = {0xff, 0x7f, 0x0e},
                           GREEN[3] = {0x2c, 0xa0, 0x2c}, BLACK[3] = {0, 0, 0};

/* pixels of colour c in the rectangle [x0, x1) x [y0, y1) of an RGB image */
static size_t count(const png_read *r, const unsigned char c[3], unsigned x0, unsigned y0,
                    unsigned x1, unsigned y1) {
  size_t n = 0;
  for (unsigned y = y0; y < y1; y++)
    for (unsigned x = x0; x < x1; x++)
      n += !memcmp(r->px + ((size_t)y * r->img.width + x) * 3, c, 3);
  return n;
}

/* the longest run of black down one column / along one row of a rectangle:
 * a drawn axis is a long straight black line */
static unsigned longest_black(const png_read *r, bool vertical, unsigned x0, unsigned y0,
                              unsigned x1, unsigned y1) {
  unsigned best = 0;
  for (unsigned a = vertical ? x0 : y0; a < (vertical ? x1 : y1); a++) {
    unsigned run = 0;
    for (unsigned b = vertical ? y0 : x0; b < (vertical ? y1 : x1); b++) {
      unsigned x = vertical ? a : b, y = vertical ? b : a;
      run = !memcmp(r->px + ((size_t)y * r->img.width + x) * 3, BLACK, 3) ? run + 1 : 0;
      if (run > best) best = run;
    }
  }
  return best;
}

/* a panel of 600x400 at (x0, y0) has both axes drawn */
static void assert_axes(const png_read *r, unsigned x0, unsigned y0) {
  assert_true(longest_black(r, true, x0, y0, x0 + 600, y0 + 400) >= 200);
  assert_true(longest_black(r, false, x0, y0, x0 + 600, y0 + 400) >= 300);
}

static void read_rgb(const char *path, png_read *r, unsigned w, unsigned h) {
  read_png(path, r);
  assert_int_equal(r->img.width, w);
  assert_int_equal(r->img.height, h);
  assert_int_equal(r->img.format, PNG_FORMAT_RGB);
}

/* mlp_mnist's columns: loss, accuracy (train and test together), errors,
 * seconds: four panels, two a row, under the title band */
static void test_classifier_curves(void **state) {
  (void)state;
  char csv[300], png[300];
  tpath(csv, sizeof csv, "mlp.csv");
  tpath(png, sizeof png, "mlp.png");
  tg_metrics *m = tg_metrics_open(csv, "epoch,train_loss,train_accuracy,test_errors,test_accuracy,seconds");
  assert_non_null(m);
  for (int e = 1; e <= 5; e++)
    assert_int_equal(tg_metrics_row(m, (const double[]){e, 0.6 / e, 0.8 + 0.01 * e, 1700 - 60 * e,
                                                         0.83 + 0.005 * e, 2.1 * e}),
                     0);
  assert_int_equal(tg_metrics_close(m), 0);
  assert_int_equal(tg_metrics_plot(csv, png, "mlp_mnist"), 0);
  png_read r;
  read_rgb(png, &r, 1200, 40 + 2 * 400);
  assert_true(count(&r, BLACK, 0, 0, 1200, 40) > 50); /* the title */
  assert_int_equal(count(&r, BLUE, 0, 0, 1200, 40), 0);
  /* loss (top left): train_loss alone, blue */
  assert_true(count(&r, BLUE, 0, 40, 600, 440) > 300);
  assert_int_equal(count(&r, ORANGE, 0, 40, 600, 440), 0);
  /* accuracy (top right): train blue, test orange */
  assert_true(count(&r, BLUE, 600, 40, 1200, 440) > 300);
  assert_true(count(&r, ORANGE, 600, 40, 1200, 440) > 300);
  /* errors (bottom left): test_errors, orange as every test_ line */
  assert_true(count(&r, ORANGE, 0, 440, 600, 840) > 300);
  assert_int_equal(count(&r, BLUE, 0, 440, 600, 840), 0);
  /* seconds (bottom right): no prefix, the first colour */
  assert_true(count(&r, BLUE, 600, 440, 1200, 840) > 300);
  for (unsigned k = 0; k < 4; k++) assert_axes(&r, k % 2 * 600, 40 + k / 2 * 400);
  assert_int_equal(count(&r, GREEN, 0, 0, 1200, 840), 0);
  free(r.px);
}

/* a rerun of the same CSV gives the same bytes: nothing depends on the machine */
static void test_same_pixels_twice(void **state) {
  (void)state;
  char csv[300], a[300], b[300];
  tpath(csv, sizeof csv, "twice.csv");
  tpath(a, sizeof a, "twice_a.png");
  tpath(b, sizeof b, "twice_b.png");
  write_text(csv, "epoch,train_loss,val_loss,test_loss\n1,1,1.1,1.2\n2,0.5,0.6,0.7\n3,0.25,0.4,0.5\n");
  assert_int_equal(tg_metrics_plot(csv, a, NULL), 0);
  assert_int_equal(tg_metrics_plot(csv, b, NULL), 0);
  png_read ra, rb;
  read_rgb(a, &ra, 600, 400); /* one quantity: one panel; no title: no band */
  read_rgb(b, &rb, 600, 400);
  assert_memory_equal(ra.px, rb.px, 600 * 400 * 3);
  assert_true(count(&ra, BLUE, 0, 0, 600, 400) > 300);
  assert_true(count(&ra, ORANGE, 0, 0, 600, 400) > 300);
  assert_true(count(&ra, GREEN, 0, 0, 600, 400) > 300);
  assert_axes(&ra, 0, 0);
  free(ra.px);
  free(rb.px);
}

/* one column: against the row number; one point: still a visible mark */
static void test_one_column_one_point(void **state) {
  (void)state;
  char csv[300], png[300];
  tpath(csv, sizeof csv, "one.csv");
  tpath(png, sizeof png, "one.png");
  write_text(csv, "loss\n0.5\n");
  assert_int_equal(tg_metrics_plot(csv, png, ""), 0); /* "" is no title */
  png_read r;
  read_rgb(png, &r, 600, 400);
  size_t blue = count(&r, BLUE, 0, 0, 600, 400);
  free(r.px);
  tpath(csv, sizeof csv, "one_x.csv");
  write_text(csv, "epoch,loss\n3,0.5\n");
  assert_int_equal(tg_metrics_plot(csv, png, NULL), 0);
  read_rgb(png, &r, 600, 400);
  /* the legend's sample alone is 26x3 = 78 pixels: the mark adds more */
  assert_true(blue > 78 + 20);
  assert_true(count(&r, BLUE, 0, 0, 600, 400) > 78 + 20);
  assert_axes(&r, 0, 0);
  free(r.px);
}

/* nan and inf are gaps; a column with no finite value gets an empty panel */
static void test_nan_values(void **state) {
  (void)state;
  char csv[300], png[300];
  tpath(csv, sizeof csv, "nan.csv");
  tpath(png, sizeof png, "nan.png");
  tg_metrics *m = tg_metrics_open(csv, "step,loss,broken");
  assert_non_null(m);
  double rows[5][3] = {{1, NAN, NAN}, {2, 0.5, INFINITY}, {3, NAN, NAN}, {4, 0.3, -INFINITY},
                       {5, 0.25, NAN}};
  for (int i = 0; i < 5; i++) assert_int_equal(tg_metrics_row(m, rows[i]), 0);
  assert_int_equal(tg_metrics_close(m), 0);
  assert_int_equal(tg_metrics_plot(csv, png, "gaps"), 0);
  png_read r;
  read_rgb(png, &r, 1200, 440);
  assert_true(count(&r, BLUE, 0, 40, 600, 440) > 150);
  /* "broken": the legend's sample only, no line */
  assert_true(count(&r, BLUE, 600, 40, 1200, 440) <= 78);
  assert_axes(&r, 0, 40);
  assert_axes(&r, 600, 40);
  free(r.px);
}

/* ranges doubles can barely hold, or whose ticks are lost in rounding:
 * drawn, in bounds, without hanging */
static void test_extreme_ranges(void **state) {
  (void)state;
  const char *cases[] = {"step,loss\n1,-1e308\n2,1e308\n3,0\n",
                         "step,loss\n1,1e16\n2,10000000000000002\n",
                         "step,loss\n1e300,1.7976931348623157e308\n-1e300,1.7976931348623157e308\n",
                         "step,loss\n1,1e-300\n2,2e-300\n"};
  char csv[300], png[300];
  tpath(csv, sizeof csv, "extreme.csv");
  tpath(png, sizeof png, "extreme.png");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_text(csv, cases[i]);
    assert_int_equal(tg_metrics_plot(csv, png, "x"), 0);
    png_read r;
    read_rgb(png, &r, 600, 440);
    assert_true(count(&r, BLUE, 0, 40, 600, 440) > 78);
    assert_axes(&r, 0, 40);
    free(r.px);
  }
}

static void expect_fail(const char *name, const char *text, const char *what) {
  char csv[300], png[300];
  tpath(csv, sizeof csv, name);
  tpath(png, sizeof png, "bad.png");
  if (text) write_text(csv, text);
  tg_clear_error();
  assert_int_equal(tg_metrics_plot(csv, png, "t"), -1);
  test_expect_error("metrics_plot", what);
  assert_false(file_exists(png));
}

static void test_bad_csv(void **state) {
  (void)state;
  expect_fail("missing.csv", NULL, "cannot open");
  expect_fail("empty.csv", "", "is empty");
  expect_fail("blank.csv", "\n1,2\n", "no header");
  expect_fail("header.csv", "epoch,loss\n", "no rows");
  expect_fail("text.csv", "epoch,loss\n1,0.5\n2,abc\n", "line 3");
  expect_fail("text2.csv", "epoch,loss\n1,0.5x\n", "not a number");
  expect_fail("short.csv", "epoch,loss\n1\n", "wrong number of values");
  expect_fail("long.csv", "epoch,loss\n1,2,3\n", "wrong number of values");
  char csv[300], png[300];
  tpath(csv, sizeof csv, "ok.csv");
  write_text(csv, "epoch,loss\n1,0.5\n");
  tpath(png, sizeof png, "no-such-dir/x.png");
  assert_int_equal(tg_metrics_plot(csv, png, "t"), -1);
  test_expect_error("cannot write", "no-such-dir/x.png");
  assert_int_equal(tg_metrics_plot(csv, "", "t"), -1);
  test_expect_error("metrics_plot", "empty");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_classifier_curves), TG_TEST(test_same_pixels_twice),
      TG_TEST(test_one_column_one_point), TG_TEST(test_nan_values), TG_TEST(test_extreme_ranges),
      TG_TEST(test_bad_csv),
  };
  return cmocka_run_group_tests_name("plot", tests, group_setup, group_teardown);
}
