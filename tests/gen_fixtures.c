/* Writes tiny data sets for quick runs of the training examples (scripts/test.sh
 * runs mlp_mnist, cifar_mlp and vae_mnist on them under valgrind):
 *
 *   DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
 *       TRAIN and TEST 28x28 images in MNIST's IDX format, gzip
 *   DIR/cifar/data_batch_{1..5}.bin, DIR/cifar/test_batch.bin
 *       CIFAR-10 binary records (label, then 32x32 R, G, B planes)
 *
 * usage: gen_fixtures DIR [TRAIN [TEST]]   (defaults 200 and 100; the CIFAR
 * batches hold TRAIN/5 records each and the test batch TEST)
 *
 * Class k is a bright block in cell k of a 4x4 grid on a noisy background
 * (the pattern tests/test_training.c uses), from a fixed generator, so the
 * files are the same on every run. Exits 0, or 1 with a message. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define SIDE 28
#define CIFAR_SIDE 32
#define CIFAR_RECORD (1 + 3 * CIFAR_SIDE * CIFAR_SIDE)

static uint32_t next_rand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*s >> 33);
}

static void draw_image(uint8_t *img, size_t side, int k, uint64_t *s) {
  size_t cell = side / 4, r0 = (size_t)(k / 4) * cell, c0 = (size_t)(k % 4) * cell;
  for (size_t i = 0; i < side * side; i++) img[i] = (uint8_t)(next_rand(s) % 60);
  for (size_t r = r0; r < r0 + cell - 1; r++)
    for (size_t c = c0; c < c0 + cell - 1; c++) img[r * side + c] = (uint8_t)(200 + next_rand(s) % 56);
}

static void put_be32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

static int write_file(const char *path, const void *data, size_t n, int gz) {
  int ok;
  if (gz) {
    gzFile f = gzopen(path, "wb");
    if (!f) {
      fprintf(stderr, "gen_fixtures: cannot create %s\n", path);
      return -1;
    }
    ok = gzwrite(f, data, (unsigned)n) == (int)n;
    ok = (gzclose(f) == Z_OK) && ok;
  } else {
    FILE *f = fopen(path, "wb");
    if (!f) {
      fprintf(stderr, "gen_fixtures: cannot create %s: %s\n", path, strerror(errno));
      return -1;
    }
    ok = fwrite(data, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
  }
  if (!ok) fprintf(stderr, "gen_fixtures: writing %s failed\n", path);
  return ok ? 0 : -1;
}

static int make_dir(const char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
  fprintf(stderr, "gen_fixtures: cannot create %s: %s\n", path, strerror(errno));
  return -1;
}

static int write_idx_split(const char *dir, const char *split, size_t n, uint64_t seed) {
  size_t img_bytes = 16 + n * SIDE * SIDE;
  uint8_t *img = malloc(img_bytes), *lab = malloc(8 + n);
  int rc = -1;
  if (img && lab) {
    put_be32(img, 0x803), put_be32(img + 4, (uint32_t)n), put_be32(img + 8, SIDE);
    put_be32(img + 12, SIDE);
    put_be32(lab, 0x801), put_be32(lab + 4, (uint32_t)n);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
      int k = (int)(next_rand(&s) % 10);
      lab[8 + i] = (uint8_t)k;
      draw_image(img + 16 + i * SIDE * SIDE, SIDE, k, &s);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, split);
    rc = write_file(path, img, img_bytes, 1);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    if (rc == 0) rc = write_file(path, lab, 8 + n, 1);
  }
  free(img);
  free(lab);
  return rc;
}

static int write_cifar_file(const char *path, size_t n, uint64_t seed) {
  uint8_t *rec = malloc(n * CIFAR_RECORD + 1), gray[CIFAR_SIDE * CIFAR_SIDE];
  if (!rec) return -1;
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) {
    uint8_t *r = rec + i * CIFAR_RECORD;
    int k = (int)(next_rand(&s) % 10);
    r[0] = (uint8_t)k;
    draw_image(gray, CIFAR_SIDE, k, &s);
    for (int c = 0; c < 3; c++)
      for (size_t j = 0; j < CIFAR_SIDE * CIFAR_SIDE; j++)
        r[1 + (size_t)c * CIFAR_SIDE * CIFAR_SIDE + j] = c == k % 3 ? gray[j] : (uint8_t)(gray[j] / 2);
  }
  int rc = write_file(path, rec, n * CIFAR_RECORD, 0);
  free(rec);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s DIR [TRAIN [TEST]]\n", argv[0]);
    return 1;
  }
  long n_train = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
  long n_test = argc > 3 ? strtol(argv[3], NULL, 10) : 100;
  if (n_train < 5 || n_test < 1 || n_train > 1000000 || n_test > 1000000) {
    fprintf(stderr, "gen_fixtures: TRAIN must be 5..10^6 and TEST 1..10^6\n");
    return 1;
  }
  char mnist[4096], cifar[4096], path[4200];
  snprintf(mnist, sizeof mnist, "%s/mnist", argv[1]);
  snprintf(cifar, sizeof cifar, "%s/cifar", argv[1]);
  if (make_dir(argv[1]) || make_dir(mnist) || make_dir(cifar)) return 1;
  if (write_idx_split(mnist, "train", (size_t)n_train, 12345u) ||
      write_idx_split(mnist, "t10k", (size_t)n_test, 777u))
    return 1;
  for (int b = 1; b <= 5; b++) {
    snprintf(path, sizeof path, "%s/data_batch_%d.bin", cifar, b);
    if (write_cifar_file(path, (size_t)n_train / 5, 100 + (uint64_t)b)) return 1;
  }
  snprintf(path, sizeof path, "%s/test_batch.bin", cifar);
  if (write_cifar_file(path, (size_t)n_test, 200)) return 1;
  return 0;
}
