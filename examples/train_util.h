/* Shared by the training examples: the common flags, timing, progress lines
 * and the parameter fingerprint. Header-only so each example stays one file. */
#ifndef TRAIN_UTIL_H
#define TRAIN_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

#include "tapegrad.h"

typedef struct train_flags {
  const char *data; /* dataset directory */
  const char *out;  /* where PNGs, CSV logs and checkpoints go */
  const char *load; /* checkpoint to start from */
  int epochs, threads;
  size_t batch;
  double lr;
  uint64_t seed;
  bool linear; /* mlp_mnist: the linear model */
  bool adam;   /* cifar_mlp: Adam instead of SGD+momentum */
  long max_steps; /* stop each epoch after this many steps (0 = all): quick runs */
} train_flags;

static void train_usage(const char *prog, const char *extra) {
  fprintf(stderr,
          "usage: %s [--data DIR] [--epochs N] [--batch N] [--lr X] [--seed N] [--threads N]\n"
          "          [--out DIR] [--load FILE] [--max-steps N]%s\n",
          prog, extra ? extra : "");
}

/* returns 0, or 2 after printing usage on a bad flag */
static int train_parse(int argc, char **argv, train_flags *f, const char *extra_usage) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    bool takes = true;
    static const char *const valued[] = {"--data", "--out", "--load", "--epochs", "--batch",
                                         "--lr", "--seed", "--threads", "--max-steps"};
    bool known = false;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(a, valued[k]);
    if (!strcmp(a, "--linear")) f->linear = true, takes = false;
    else if (!strcmp(a, "--adam")) f->adam = true, takes = false;
    else if (!known) {
      fprintf(stderr, "%s: unknown flag %s\n", argv[0], a);
      train_usage(argv[0], extra_usage);
      return 2;
    } else if (!v) {
      fprintf(stderr, "%s: %s needs a value\n", argv[0], a);
      train_usage(argv[0], extra_usage);
      return 2;
    } else if (!strcmp(a, "--data")) f->data = v;
    else if (!strcmp(a, "--out")) f->out = v;
    else if (!strcmp(a, "--load")) f->load = v;
    else if (!strcmp(a, "--epochs")) f->epochs = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--batch")) f->batch = (size_t)strtoul(v, &end, 10);
    else if (!strcmp(a, "--lr")) f->lr = strtod(v, &end);
    else if (!strcmp(a, "--seed")) f->seed = strtoull(v, &end, 10);
    else if (!strcmp(a, "--threads")) f->threads = (int)strtol(v, &end, 10);
    else f->max_steps = strtol(v, &end, 10); /* --max-steps */
    if (end && *end) {
      fprintf(stderr, "%s: %s expects a number, got '%s'\n", argv[0], a, v);
      return 2;
    }
    if (takes) i++;
  }
  if (f->epochs < 0 || f->batch == 0 || !(f->lr > 0)) {
    fprintf(stderr, "%s: --epochs must be >= 0, --batch > 0 and --lr > 0\n", argv[0]);
    return 2;
  }
  if (mkdir(f->out, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "%s: cannot create output directory %s: %s\n", argv[0], f->out, strerror(errno));
    return 2;
  }
  tg_set_num_threads(f->threads);
  return 0;
}

static double train_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *train_path(char *buf, size_t len, const char *dir, const char *file) {
  snprintf(buf, len, "%s/%s", dir, file);
  return buf;
}

/* XXH3-64 over every parameter's bytes in order: equal fingerprints mean
 * bit-identical parameters */
static uint64_t train_fingerprint(tg_tensor **params, size_t n) {
  XXH3_state_t *st = XXH3_createState();
  if (!st) return 0;
  XXH3_64bits_reset(st);
  for (size_t i = 0; i < n; i++) {
    const tg_tensor *p = params[i];
    XXH3_64bits_update(st, tg_data(p), p->numel * tg_dtype_size(p->dtype));
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

#endif
