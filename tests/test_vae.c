/* examples/vae_mnist run as a program on a tiny IDX fixture written here
 * (256 train / 64 test 28x28 images, gzip, MNIST file names): it must exit
 * 0, print finite per-sample losses that fall from epoch 1 to 2, write valid
 * PNG grids of the size torchvision's layout gives, a metrics CSV and a
 * checkpoint that reloads to the same test loss; the fingerprint must
 * repeat for the same seed and change with another; --epochs 0 --load must
 * evaluate a good checkpoint and reject a corrupted one by name. The
 * example runs under the same sanitizers as this test, so a leak or UB
 * report fails the run. */
#define _GNU_SOURCE /* nftw's FTW_DEPTH | FTW_PHYS, popen */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "tg_test.h"

#ifndef TG_BUILD_DIR
#error "TG_BUILD_DIR must name the meson build root"
#endif

#define N_TRAIN 256
#define N_TEST 64
#define SIDE 28
#define PAD 2 /* the example's grid padding (torchvision's default) */

static char g_dir[256];      /* fixture and outputs of this run */
static char *g_train_out;    /* output of the seed-1 training run (group setup) */
static char g_train_dir[300]; /* its --out */

/* ------------------------------------------------------------ helpers */

static void dpath(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", g_dir, name); }

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* big-endian 32-bit */
static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static int write_gz(const char *name, const uint8_t *data, size_t n) {
  char path[512];
  dpath(path, sizeof path, name);
  gzFile f = gzopen(path, "wb");
  if (!f) return -1;
  int ok = gzwrite(f, data, (unsigned)n) == (int)n;
  return gzclose(f) == Z_OK && ok ? 0 : -1;
}

/* n images of class i % 10 (a bright bar whose place and direction depend
 * on the class, over a dim noisy background) and their labels, as IDX */
static int write_split(const char *prefix, size_t n, uint32_t seed) {
  size_t img_len = 16 + n * SIDE * SIDE, lab_len = 8 + n;
  uint8_t *img = malloc(img_len), *lab = malloc(lab_len);
  if (!img || !lab) {
    free(img);
    free(lab);
    return -1;
  }
  be32(img, 0x803), be32(img + 4, (uint32_t)n), be32(img + 8, SIDE), be32(img + 12, SIDE);
  be32(lab, 0x801), be32(lab + 4, (uint32_t)n);
  uint32_t s = seed;
  for (size_t i = 0; i < n; i++) {
    int k = (int)(i % 10), at = 3 + 2 * k;
    lab[8 + i] = (uint8_t)k;
    for (int r = 0; r < SIDE; r++)
      for (int c = 0; c < SIDE; c++) {
        s = s * 1664525u + 1013904223u; /* LCG noise */
        int on = k % 2 ? (c >= at && c < at + 4) : (r >= at && r < at + 4);
        img[16 + (i * SIDE + (size_t)r) * SIDE + (size_t)c] =
            (uint8_t)(on ? 200 + (s >> 27) : (s >> 26));
      }
  }
  char iname[64], lname[64];
  snprintf(iname, sizeof iname, "%s-images-idx3-ubyte.gz", prefix);
  snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte.gz", prefix);
  int rc = write_gz(iname, img, img_len) || write_gz(lname, lab, lab_len) ? -1 : 0;
  free(img);
  free(lab);
  return rc;
}

/* Run vae_mnist on the fixture with extra arguments (stdout and stderr
 * together); *status receives its exit status (-1 if it did not exit).
 * Returns the output (malloc'd), or NULL if it could not be run. */
static char *run_vae(const char *args, int *status) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s/examples/vae_mnist' --data '%s' --batch 32 %s 2>&1", TG_BUILD_DIR,
           g_dir, args);
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  size_t cap = 8192, len = 0, got;
  char *out = malloc(cap);
  while (out && (got = fread(out + len, 1, cap - len - 1, p)) > 0) {
    len += got;
    if (cap - len - 1 == 0) {
      char *bigger = realloc(out, cap *= 2);
      if (!bigger) free(out);
      out = bigger;
    }
  }
  int st = pclose(p);
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (out) out[len] = '\0';
  return out;
}

/* the output of a run that must succeed; the caller frees it */
static char *run_ok(const char *args) {
  int status;
  char *out = run_vae(args, &status);
  if (!out) fail_msg("could not run vae_mnist %s: %s", args, strerror(errno));
  if (status != 0) {
    fprintf(stderr, "---- vae_mnist %s ----\n%s----\n", args, out);
    free(out);
    fail_msg("vae_mnist %s exited with status %d", args, status);
  }
  return out;
}

/* the number after the k-th (0-based) occurrence of prefix at a line
 * start; fails unless it is there and finite */
static double number_after(const char *out, const char *prefix, int k) {
  size_t n = strlen(prefix);
  for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (strncmp(l, prefix, n) != 0 || k-- > 0) continue;
    char *end;
    double v = strtod(l + n, &end);
    if (end == l + n || !isfinite(v)) fail_msg("\"%s\" is not followed by a finite number", prefix);
    return v;
  }
  fail_msg("no line %d starting with \"%s\" in:\n%s", k, prefix, out);
  return NAN;
}

static int count_lines(const char *out, const char *prefix) {
  int c = 0;
  size_t n = strlen(prefix);
  for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    c += strncmp(l, prefix, n) == 0;
  return c;
}

/* the 16 hex digits after "fingerprint=" */
static void fingerprint(const char *out, char fp[17]) {
  const char *p = strstr(out, "fingerprint=");
  assert_non_null(p);
  p += strlen("fingerprint=");
  for (int i = 0; i < 16; i++) assert_true(isxdigit((unsigned char)p[i]));
  assert_false(isxdigit((unsigned char)p[16]));
  memcpy(fp, p, 16);
  fp[16] = '\0';
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  unsigned char *buf = malloc((size_t)len + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  buf[len] = '\0';
  *n = (size_t)len;
  return buf;
}

static uint32_t rd_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* a PNG file whose IHDR says width x height, 8-bit gray */
static void check_png(const char *path, uint32_t width, uint32_t height) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  size_t n;
  unsigned char *b = slurp(path, &n);
  bool ok = n > 8 + 8 + 13 + 4 + 12 && memcmp(b, sig, 8) == 0 && rd_be32(b + 8) == 13 &&
            memcmp(b + 12, "IHDR", 4) == 0;
  uint32_t w = ok ? rd_be32(b + 16) : 0, h = ok ? rd_be32(b + 20) : 0;
  int depth = ok ? b[24] : -1, color = ok ? b[25] : -1;
  bool ends = n >= 12 && memcmp(b + n - 8, "IEND", 4) == 0;
  free(b);
  if (!ok) fail_msg("%s is not a PNG with an IHDR chunk first", path);
  assert_true(ends);
  if (w != width || h != height) fail_msg("%s is %ux%u, expected %ux%u", path, w, h, width, height);
  assert_int_equal(depth, 8);
  assert_int_equal(color, 0); /* gray */
}

/* torchvision's make_grid: ncols (w + pad) + pad by nrows (h + pad) + pad */
static uint32_t grid_side(uint32_t cells) { return cells * (SIDE + PAD) + PAD; }

/* ------------------------------------------------------------ fixture */

static int group_setup(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/tg-vae-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) return -1;
  if (write_split("train", N_TRAIN, 12345u) || write_split("t10k", N_TEST, 777u)) return -1;
  /* the training run most tests look at */
  dpath(g_train_dir, sizeof g_train_dir, "seed1");
  char args[512];
  snprintf(args, sizeof args, "--epochs 2 --seed 1 --out '%s'", g_train_dir);
  int status;
  g_train_out = run_vae(args, &status);
  if (!g_train_out || status != 0) {
    fprintf(stderr, "vae_mnist %s exited with status %d:\n%s\n", args, status,
            g_train_out ? g_train_out : "(no output)");
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  free(g_train_out);
  g_train_out = NULL;
  if (getenv("TG_VAE_KEEP")) return 0; /* keep the fixture and outputs for a look */
  return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------ tests */

/* PyTorch's lines, per sample, finite; the train loss falls; the loss starts
 * near the untrained model's 784 ln 2 and stays positive */
static void test_losses(void **state) {
  (void)state;
  const char *out = g_train_out;
  assert_int_equal(count_lines(out, "====> Epoch: "), 2);
  assert_int_equal(count_lines(out, "====> Test set loss: "), 2);
  assert_non_null(strstr(out, "====> Epoch: 1 Average loss: "));
  assert_non_null(strstr(out, "====> Epoch: 2 Average loss: "));
  double tr1 = number_after(out, "====> Epoch: 1 Average loss: ", 0);
  double tr2 = number_after(out, "====> Epoch: 2 Average loss: ", 0);
  double te1 = number_after(out, "====> Test set loss: ", 0);
  double te2 = number_after(out, "====> Test set loss: ", 1);
  if (!(tr2 < tr1)) fail_msg("train loss rose from %g (epoch 1) to %g (epoch 2)", tr1, tr2);
  /* BCE of 784 pixels starts about 784 ln 2 = 543 and the KL is >= 0 */
  assert_true(tr1 > 0 && tr1 < 784 * 0.7 + 50);
  assert_true(te1 > 0 && te2 > 0 && te2 < 784 * 0.7 + 50);
  /* progress lines with throughput and elapsed time */
  assert_int_equal(count_lines(out, "epoch 1/2 "), 1);
  assert_int_equal(count_lines(out, "epoch 2/2 "), 1);
  assert_non_null(strstr(out, "samples/s"));
  assert_non_null(strstr(out, "elapsed"));
}

static void test_pngs(void **state) {
  (void)state;
  char path[512];
  /* 64 samples: 8 x 8 cells */
  snprintf(path, sizeof path, "%s/vae_samples.png", g_train_dir);
  check_png(path, grid_side(8), grid_side(8));
  /* 8 originals over 8 reconstructions: 8 x 2 cells */
  snprintf(path, sizeof path, "%s/vae_reconstruction.png", g_train_dir);
  check_png(path, grid_side(8), grid_side(2));
}

static void test_metrics_csv(void **state) {
  (void)state;
  char path[512];
  snprintf(path, sizeof path, "%s/vae_mnist_metrics.csv", g_train_dir);
  size_t n;
  char *csv = (char *)slurp(path, &n);
  bool header = strncmp(csv, "epoch,train_loss,test_loss,seconds\n", 35) == 0;
  int rows = 0, epoch2 = 0;
  double loss1 = NAN;
  for (char *l = strchr(csv, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
    double e, tr, te, s;
    if (sscanf(l + 1, "%lf,%lf,%lf,%lf", &e, &tr, &te, &s) == 4 && e == rows + 1 && isfinite(tr) &&
        isfinite(te) && s >= 0) {
      if (rows == 0) loss1 = tr;
      else epoch2 = tr < loss1;
      rows++;
    }
  }
  free(csv);
  assert_true(header);
  assert_int_equal(rows, 2);
  assert_true(epoch2);
}

static void test_reload_check(void **state) {
  (void)state;
  const char *l = strstr(g_train_out, "reload check: ");
  assert_non_null(l);
  const char *eol = strchr(l, '\n');
  assert_non_null(eol);
  char line[512];
  snprintf(line, sizeof line, "%.*s", (int)(eol - l), l);
  if (!strstr(line, ": identical")) fail_msg("%s", line);
  assert_null(strstr(line, "differs"));
  char ckpt[512];
  snprintf(ckpt, sizeof ckpt, "%s/vae_mnist.safetensors", g_train_dir);
  assert_non_null(strstr(line, ckpt));
  struct stat st;
  assert_int_equal(stat(ckpt, &st), 0);
  /* 652824 float32 parameters and a header */
  assert_true((size_t)st.st_size > 652824u * 4);
}

static void test_fingerprint_repeats(void **state) {
  (void)state;
  char args[512], fp1[17], fp_same[17], fp_other[17];
  fingerprint(g_train_out, fp1);
  char dir[300];
  dpath(dir, sizeof dir, "seed1-again");
  snprintf(args, sizeof args, "--epochs 2 --seed 1 --out '%s'", dir);
  char *out = run_ok(args);
  fingerprint(out, fp_same);
  /* the same numbers, line for line, up to the timings */
  double a = number_after(out, "====> Epoch: 2 Average loss: ", 0);
  free(out);
  assert_string_equal(fp_same, fp1);
  assert_close(a, number_after(g_train_out, "====> Epoch: 2 Average loss: ", 0), 0);

  dpath(dir, sizeof dir, "seed2");
  snprintf(args, sizeof args, "--epochs 2 --seed 2 --out '%s'", dir);
  out = run_ok(args);
  fingerprint(out, fp_other);
  free(out);
  assert_string_not_equal(fp_other, fp1);
}

/* --epochs 0 --load: evaluates the checkpoint (same parameters, so the same
 * fingerprint), trains nothing, writes no new checkpoint */
static void test_eval_only(void **state) {
  (void)state;
  char args[1024], dir[300], ckpt[512], fp_train[17], fp_eval[17];
  snprintf(ckpt, sizeof ckpt, "%s/vae_mnist.safetensors", g_train_dir);
  dpath(dir, sizeof dir, "eval");
  snprintf(args, sizeof args, "--epochs 0 --load '%s' --out '%s'", ckpt, dir);
  char *out = run_ok(args);
  int epochs = count_lines(out, "====> Epoch: ");
  double te = number_after(out, "====> Test set loss: ", 0);
  bool identical = strstr(out, "reload check: ") && strstr(out, ": identical\n");
  fingerprint(out, fp_eval);
  fingerprint(g_train_out, fp_train);
  free(out);
  assert_int_equal(epochs, 0);
  assert_true(te > 0);
  assert_true(identical);
  assert_string_equal(fp_eval, fp_train);
  char path[512];
  struct stat st;
  snprintf(path, sizeof path, "%s/vae_mnist.safetensors", dir);
  assert_int_not_equal(stat(path, &st), 0);
  snprintf(path, sizeof path, "%s/vae_samples.png", dir);
  check_png(path, grid_side(8), grid_side(8));
}

/* one flipped byte in the tensor data: the checksum catches it, the load
 * fails and the message names the file */
static void test_corrupt_checkpoint(void **state) {
  (void)state;
  char ckpt[512], bad[512], args[1024], dir[300];
  snprintf(ckpt, sizeof ckpt, "%s/vae_mnist.safetensors", g_train_dir);
  dpath(bad, sizeof bad, "corrupt.safetensors");
  size_t n;
  unsigned char *b = slurp(ckpt, &n);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
  size_t data = 8 + (size_t)hlen;
  assert_true(data + 1000 < n);
  b[data + (n - data) / 2] ^= 0x40; /* a byte in the middle of the data section */
  FILE *f = fopen(bad, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  free(b);

  dpath(dir, sizeof dir, "corrupt-out");
  snprintf(args, sizeof args, "--epochs 0 --load '%s' --out '%s'", bad, dir);
  int status;
  char *out = run_vae(args, &status);
  assert_non_null(out);
  bool named = strstr(out, bad) != NULL, fp = strstr(out, "fingerprint=") != NULL;
  if (status == 0 || !named) fprintf(stderr, "---- vae_mnist %s ----\n%s----\n", args, out);
  free(out);
  assert_int_not_equal(status, 0);
  assert_true(named);
  assert_false(fp);
}

/* a bad flag is a usage error, before any work */
static void test_bad_flags(void **state) {
  (void)state;
  int status;
  char *out = run_vae("--epochs 1 --batch 0", &status); /* the later --batch wins */
  assert_non_null(out);
  bool usage = strstr(out, "--batch") != NULL;
  free(out);
  assert_int_equal(status, 2);
  assert_true(usage);
  out = run_vae("--epochs 1 --bogus 3", &status);
  assert_non_null(out);
  usage = strstr(out, "unknown flag --bogus") != NULL;
  free(out);
  assert_int_equal(status, 2);
  assert_true(usage);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_losses),           TG_TEST(test_pngs),
      TG_TEST(test_metrics_csv),      TG_TEST(test_reload_check),
      TG_TEST(test_fingerprint_repeats), TG_TEST(test_eval_only),
      TG_TEST(test_corrupt_checkpoint), TG_TEST(test_bad_flags),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
