/* The fixture of the training-example tests (test_training.c,
 * test_training_cnn.c): tiny learnable MNIST (IDX) and CIFAR-10 files in a
 * temporary directory, running an example as a program with a time limit,
 * parsing its progress lines, and damaging its checkpoint. */
#ifndef TRAINING_FIXTURE_H
#define TRAINING_FIXTURE_H

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "tg_test.h"

#ifndef TG_BUILD_DIR
#error "TG_BUILD_DIR must name the meson build root"
#endif

#define N_TRAIN 300
#define N_TEST 100
#define SIDE 28
#define CIFAR_PER_BATCH 20 /* records in each data_batch_k.bin */
#define CIFAR_TEST 50
#define CIFAR_RECORD 3073
#define RUN_TIMEOUT_S 120
#define EPOCHS 3
#define EPOCHS_STR "3"
#define BATCH_STR "20"

/* ------------------------------------------------------------ fixture */

static char root[64]; /* the temporary directory everything goes into */
static char mnist_dir[128], cifar_dir[128];

static inline char *path_in(char *buf, size_t len, const char *dir, const char *name) {
  int n = snprintf(buf, len, "%s/%s", dir, name);
  assert_true(n > 0 && (size_t)n < len);
  return buf;
}

static inline char *make_dir(char *buf, size_t len, const char *name) {
  path_in(buf, len, root, name);
  if (mkdir(buf, 0777) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", buf, strerror(errno));
  return buf;
}

/* a small deterministic generator for the fixture's noise */
static inline uint32_t fixture_rand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*s >> 33);
}

/* class k: a bright block in cell k of a 4x4 grid (cells of side/4 pixels),
 * shifted by up to one pixel, on noise of 0..59 */
static inline void draw_image(uint8_t *img, size_t side, int k, uint64_t *s) {
  size_t cell = side / 4, r0 = (size_t)(k / 4) * cell, c0 = (size_t)(k % 4) * cell;
  size_t dr = fixture_rand(s) % 2, dc = fixture_rand(s) % 2;
  for (size_t i = 0; i < side * side; i++) img[i] = (uint8_t)(fixture_rand(s) % 60);
  for (size_t r = r0 + dr; r < r0 + cell - 1 + dr && r < side; r++)
    for (size_t c = c0 + dc; c < c0 + cell - 1 + dc && c < side; c++)
      img[r * side + c] = (uint8_t)(200 + fixture_rand(s) % 56);
}

static inline void put_be32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

static inline void write_file(const char *path, const void *data, size_t n, bool gz) {
  if (gz) {
    gzFile f = gzopen(path, "wb");
    if (!f) fail_msg("gzopen %s", path);
    int put = n ? gzwrite(f, data, (unsigned)n) : 0;
    int closed = gzclose(f);
    if ((size_t)put != n || closed != Z_OK) fail_msg("writing %s failed", path);
  } else {
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("fopen %s: %s", path, strerror(errno));
    size_t put = fwrite(data, 1, n, f);
    if (fclose(f) != 0 || put != n) fail_msg("writing %s failed", path);
  }
}

/* dir/<split>-images-idx3-ubyte.gz and dir/<split>-labels-idx1-ubyte.gz */
static inline void write_idx_split(const char *dir, const char *split, size_t n, uint64_t seed) {
  size_t img_bytes = 16 + n * SIDE * SIDE;
  uint8_t *img = malloc(img_bytes), *lab = malloc(8 + n);
  assert_true(img && lab);
  put_be32(img, 0x803), put_be32(img + 4, (uint32_t)n), put_be32(img + 8, SIDE);
  put_be32(img + 12, SIDE);
  put_be32(lab, 0x801), put_be32(lab + 4, (uint32_t)n);
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) {
    int k = (int)(fixture_rand(&s) % 10);
    lab[8 + i] = (uint8_t)k;
    draw_image(img + 16 + i * SIDE * SIDE, SIDE, k, &s);
  }
  char p[256], name[64];
  snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", split);
  write_file(path_in(p, sizeof p, dir, name), img, img_bytes, true);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", split);
  write_file(path_in(p, sizeof p, dir, name), lab, 8 + n, true);
  free(img);
  free(lab);
}

/* n CIFAR-10 records: label, then R, G, B planes of 32x32; the block of
 * class k is bright in one colour plane (k % 3) and dimmer in the others */
static inline void write_cifar_file(const char *path, size_t n, uint64_t seed) {
  uint8_t *rec = malloc(n * CIFAR_RECORD), gray[32 * 32];
  assert_non_null(rec);
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) {
    uint8_t *r = rec + i * CIFAR_RECORD;
    int k = (int)(fixture_rand(&s) % 10);
    r[0] = (uint8_t)k;
    draw_image(gray, 32, k, &s);
    for (int c = 0; c < 3; c++)
      for (size_t j = 0; j < 32 * 32; j++)
        r[1 + (size_t)c * 1024 + j] = c == k % 3 ? gray[j] : (uint8_t)(gray[j] / 2);
  }
  write_file(path, rec, n * CIFAR_RECORD, false);
  free(rec);
}

static inline void write_cifar_dir(const char *dir) {
  char p[256], name[64];
  for (int b = 1; b <= 5; b++) {
    snprintf(name, sizeof name, "data_batch_%d.bin", b);
    write_cifar_file(path_in(p, sizeof p, dir, name), CIFAR_PER_BATCH, 100 + (uint64_t)b);
  }
  write_cifar_file(path_in(p, sizeof p, dir, "test_batch.bin"), CIFAR_TEST, 200);
}

static inline int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* ------------------------------------------------------------ running */

typedef struct run_result {
  int status; /* as waitpid reports it */
  char *out, *err;
} run_result;

/* the last run's output; freed by the next run and by the teardown, so a
 * failing assertion (which leaves the test by longjmp) does not leak it */
static run_result last;

static inline void free_last(void) {
  free(last.out);
  free(last.err);
  last = (run_result){0};
}

static inline char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("%s: %s", path, strerror(errno));
  size_t cap = 4096, len = 0, got;
  char *buf = malloc(cap);
  assert_non_null(buf);
  while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += got;
    if (len + 1 == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger) free(buf);
      assert_non_null(bigger);
      buf = bigger;
    }
  }
  fclose(f);
  buf[len] = '\0';
  return buf;
}

/* Run example `name` with the NULL-terminated arguments; stdout and stderr
 * go to files and are read back into `last`. A run that outlives the time
 * limit is killed and fails the test. */
static inline run_result *run(const char *name, ...) {
  free_last();
  const char *argv[48];
  char exe[512], out_path[256], err_path[256];
  snprintf(exe, sizeof exe, "%s/examples/%s", TG_BUILD_DIR, name);
  argv[0] = exe;
  int argc = 1;
  va_list ap;
  va_start(ap, name);
  for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
    assert_true(argc < 46);
    argv[argc++] = a;
  }
  va_end(ap);
  argv[argc] = NULL;
  path_in(out_path, sizeof out_path, root, "run.stdout");
  path_in(err_path, sizeof err_path, root, "run.stderr");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) fail_msg("fork: %s", strerror(errno));
  if (pid == 0) {
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
    close(o), close(e);
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  int status = 0;
  struct timespec nap = {0, 5 * 1000 * 1000};
  for (long waited = 0;; waited++) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) fail_msg("waitpid: %s", strerror(errno));
    if (waited * 5 > RUN_TIMEOUT_S * 1000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fail_msg("%s did not finish within %d s (a hang?)", exe, RUN_TIMEOUT_S);
    }
    nanosleep(&nap, NULL);
  }
  last.status = status;
  last.out = slurp(out_path);
  last.err = slurp(err_path);
  if (WIFSIGNALED(status))
    fail_msg("%s was killed by signal %d\nstdout:\n%s\nstderr:\n%s", exe, WTERMSIG(status),
             last.out, last.err);
  assert_true(WIFEXITED(status));
  return &last;
}

static inline void expect_exit(const run_result *r, int code) {
  if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != code)
    fail_msg("exit status %d, expected %d\nstdout:\n%s\nstderr:\n%s",
             WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1, code, r->out, r->err);
}

/* the run failed as a program should: exit 1 and a message holding each
 * of the (NULL-terminated) strings, and no sanitizer report */
static inline void expect_failure(const run_result *r, ...) {
  expect_exit(r, 1);
  if (strstr(r->err, "Sanitizer")) fail_msg("sanitizer report:\n%s", r->err);
  va_list ap;
  va_start(ap, r);
  for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
    if (!strstr(r->err, s)) fail_msg("the error message lacks \"%s\":\n%s", s, r->err);
  va_end(ap);
}

/* ------------------------------------------------------------ parsing */

typedef struct epoch_line {
  int epoch, of;
  double loss, train_acc, test_acc, rate, elapsed;
  size_t test_correct, test_total;
} epoch_line;

/* every "epoch " line of a run of `model`; returns how many (at most max) */
static inline int parse_epochs(const char *model, const char *out, epoch_line *e, int max) {
  bool cifar = !strcmp(model, "cifar_mlp");
  int n = 0;
  for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (strncmp(l, "epoch ", 6) != 0) continue;
    if (n == max) fail_msg("more than %d epoch lines:\n%s", max, out);
    epoch_line *p = &e[n++];
    int got;
    if (cifar) {
      double test_loss;
      got = sscanf(l, "epoch %d/%d train loss %lf train acc %lf%% test loss %lf test acc %lf%% "
                      "(%zu/%zu) %lf samples/s elapsed %lfs",
                   &p->epoch, &p->of, &p->loss, &p->train_acc, &test_loss, &p->test_acc,
                   &p->test_correct, &p->test_total, &p->rate, &p->elapsed);
      if (got == 10 && !(test_loss > 0)) fail_msg("test loss %g in: %.200s", test_loss, l);
      got -= got == 10 ? 10 : 0;
    } else {
      size_t errors;
      got = sscanf(l, "epoch %d/%d loss %lf train acc %lf%% test errors %zu/%zu (acc %lf%%) "
                      "%lf samples/s elapsed %lfs",
                   &p->epoch, &p->of, &p->loss, &p->train_acc, &errors, &p->test_total,
                   &p->test_acc, &p->rate, &p->elapsed);
      p->test_correct = p->test_total - errors;
      got -= got == 9 ? 9 : 0;
    }
    if (got != 0) fail_msg("cannot parse the progress line: %.200s", l);
  }
  return n;
}

/* the checks every training run must pass: `epochs` progress lines in
 * order with sane numbers, falling loss, test accuracy consistent with its
 * count out of n_test */
static inline void check_progress(const char *model, const char *out, int epochs, size_t n_test,
                           epoch_line *e) {
  int n = parse_epochs(model, out, e, 16);
  if (n != epochs) fail_msg("%d progress lines, expected %d:\n%s", n, epochs, out ? out : "(no output)");
  for (int i = 0; i < n; i++) {
    assert_int_equal(e[i].epoch, i + 1);
    assert_int_equal(e[i].of, epochs);
    assert_true(e[i].loss > 0 && isfinite(e[i].loss));
    assert_true(e[i].train_acc >= 0 && e[i].train_acc <= 100);
    assert_int_equal(e[i].test_total, n_test);
    assert_true(e[i].test_correct <= n_test);
    assert_close(e[i].test_acc, 100.0 * (double)e[i].test_correct / (double)n_test, 0.005);
    assert_true(e[i].rate > 0);
    assert_true(e[i].elapsed >= (i ? e[i - 1].elapsed : 0));
  }
  if (!(e[n - 1].loss < e[0].loss))
    fail_msg("the training loss did not fall: %.4f after epoch 1, %.4f after epoch %d",
             e[0].loss, e[n - 1].loss, n);
}

/* the 16 hex digits of "fingerprint=..." */
static inline void fingerprint_of(const char *out, char fp[17]) {
  const char *s = strstr(out, "fingerprint=");
  if (!s) fail_msg("no fingerprint line in:\n%s", out);
  s += strlen("fingerprint=");
  for (int i = 0; i < 16; i++) {
    if (!strchr("0123456789abcdef", s[i]) || !s[i]) fail_msg("bad fingerprint: %.30s", s);
    fp[i] = s[i];
  }
  if (s[16] != '\n') fail_msg("fingerprint is not 16 hex digits: %.30s", s);
  fp[16] = '\0';
}

/* the CSV at path: exactly `header`, then one row per epoch (1, 2, ...)
 * with as many fields as the header */
static inline void check_csv(const char *path, const char *header, int epochs) {
  char *csv = slurp(path);
  size_t hl = strlen(header);
  bool header_ok = strncmp(csv, header, hl) == 0 && csv[hl] == '\n';
  int cols = 1, rows = 0;
  for (const char *c = header; *c; c++) cols += *c == ',';
  bool rows_ok = true;
  for (const char *l = header_ok ? csv + hl + 1 : ""; *l; l = strchr(l, '\n') + 1) {
    if (!strchr(l, '\n')) {
      rows_ok = false;
      break;
    }
    int fields = 1;
    for (const char *c = l; *c != '\n'; c++) fields += *c == ',';
    rows++;
    rows_ok = rows_ok && fields == cols && strtol(l, NULL, 10) == rows;
  }
  if (!header_ok || !rows_ok || rows != epochs) {
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", csv);
    free(csv);
    fail_msg("%s: expected the header \"%s\" and %d rows of %d fields, got:\n%s", path, header,
             epochs, cols, copy);
  }
  free(csv);
}

static inline size_t file_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) fail_msg("%s: %s", path, strerror(errno));
  return (size_t)st.st_size;
}

static inline bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* ------------------------------------------------------------ trained runs */

/* A training run, done once and shared by the tests that look at it. */
typedef struct trained {
  const char *model, *tag;
  char out_dir[128], ckpt[160];
  char *stdout_text;
  char fp[17];
  epoch_line last_epoch;
} trained;


/* after t's training run: its progress, last epoch, fingerprint and checkpoint */
static inline trained *record_trained(trained *t, size_t n_test) {
  expect_exit(&last, 0);
  epoch_line e[16];
  check_progress(t->model, last.out, EPOCHS, n_test, e);
  t->last_epoch = e[EPOCHS - 1];
  fingerprint_of(last.out, t->fp);
  snprintf(t->ckpt, sizeof t->ckpt, "%.127s/%.16s.safetensors", t->out_dir, t->model);
  t->stdout_text = strdup(last.out);
  assert_non_null(t->stdout_text);
  return t;
}

static inline trained *ensure_trained(trained *t) {
  if (t->stdout_text) return t;
  make_dir(t->out_dir, sizeof t->out_dir, t->tag);
  run(t->model, "--data", mnist_dir, "--epochs", EPOCHS_STR, "--batch", BATCH_STR, "--seed", "1",
      "--threads", "1", "--out", t->out_dir, (char *)NULL);
  return record_trained(t, N_TEST);
}


/* ------------------------------------------------------------ failures */

/* a copy of the file at src with `keep` bytes (all when keep is SIZE_MAX)
 * and, when flip is below that, byte `flip` inverted */
static inline void copy_damaged(const char *src, const char *dst, size_t keep, size_t flip) {
  FILE *f = fopen(src, "rb");
  if (!f) fail_msg("%s: %s", src, strerror(errno));
  size_t n = file_size(src);
  uint8_t *b = malloc(n ? n : 1);
  assert_non_null(b);
  size_t got = fread(b, 1, n, f);
  fclose(f);
  if (got != n) free(b);
  assert_int_equal(got, n);
  if (keep > n) keep = n;
  if (flip < keep) b[flip] ^= 0xff;
  write_file(dst, b, keep, false);
  free(b);
}

/* the byte where a safetensors file's data section starts */
static inline size_t data_start(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("%s: %s", path, strerror(errno));
  uint8_t b[8] = {0};
  size_t got = fread(b, 1, 8, f);
  fclose(f);
  assert_int_equal(got, 8);
  uint64_t len = 0;
  for (int i = 7; i >= 0; i--) len = len << 8 | b[i];
  return 8 + (size_t)len;
}

static inline void check_bad_checkpoints(trained *self, trained *other) {
  char dir[128], p[256], name[64];
  snprintf(name, sizeof name, "%s_bad", self->tag); /* not the trained run's directory */
  make_dir(dir, sizeof dir, name);
  /* corrupted: one byte of the first tensor's data ("0.weight") */
  path_in(p, sizeof p, dir, "corrupted.safetensors");
  copy_damaged(self->ckpt, p, SIZE_MAX, data_start(self->ckpt) + 7);
  run(self->model, "--data", mnist_dir, "--epochs", "0", "--load", p, "--out", dir, (char *)NULL);
  expect_failure(&last, p, "'0.weight'", "checksum", (char *)NULL);
  /* truncated: the last 100 bytes cut off, and then everything after the header length */
  path_in(p, sizeof p, dir, "truncated.safetensors");
  copy_damaged(self->ckpt, p, file_size(self->ckpt) - 100, SIZE_MAX);
  run(self->model, "--data", mnist_dir, "--epochs", "0", "--load", p, "--out", dir, (char *)NULL);
  expect_failure(&last, p, "truncated", "tensor '", (char *)NULL);
  copy_damaged(self->ckpt, p, 12, SIZE_MAX);
  run(self->model, "--data", mnist_dir, "--epochs", "0", "--load", p, "--out", dir, (char *)NULL);
  expect_failure(&last, p, "truncated", (char *)NULL);
  /* the other model's checkpoint: 0.weight has another shape */
  run(self->model, "--data", mnist_dir, "--epochs", "0", "--load", other->ckpt, "--out", dir,
      (char *)NULL);
  expect_failure(&last, other->ckpt, "'0.weight'", (char *)NULL);
  /* a missing one */
  path_in(p, sizeof p, dir, "missing.safetensors");
  run(self->model, "--data", mnist_dir, "--epochs", "0", "--load", p, "--out", dir, (char *)NULL);
  expect_failure(&last, p, (char *)NULL);
}


/* the fixture's files, written once per test program */
static inline int fixture_setup(void) {
  snprintf(root, sizeof root, "/tmp/tg_training_XXXXXX");
  if (!mkdtemp(root)) return -1;
  snprintf(mnist_dir, sizeof mnist_dir, "%s/mnist", root);
  snprintf(cifar_dir, sizeof cifar_dir, "%s/cifar", root);
  if (mkdir(mnist_dir, 0777) != 0 || mkdir(cifar_dir, 0777) != 0) return -1;
  write_idx_split(mnist_dir, "train", N_TRAIN, 1);
  write_idx_split(mnist_dir, "t10k", N_TEST, 2);
  write_cifar_dir(cifar_dir);
  return 0;
}

static inline int fixture_teardown(void) {
  free_last();
  int rc = root[0] ? nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS) : 0;
  tg_release_cached();
  return rc;
}

static inline int training_teardown(void **state) {
  free_last();
  return test_teardown(state);
}

#define TRAINING_TEST(fn) cmocka_unit_test_setup_teardown(fn, test_setup, training_teardown)

#endif
