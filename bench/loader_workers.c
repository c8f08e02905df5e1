/* What DataLoader workers hide: epochs of the Fashion-MNIST training set
 * (bytes -> floats, flattened, shuffled, batch 100 as mlp_mnist) through a
 * loader with 0, 1, ... workers, each step followed by --step-us of busy
 * work standing in for the training step. Prints, per worker count, the
 * median epoch time and the median time the loop spent inside
 * tg_loader_next (waiting for or preparing batches).
 *
 *   build-bench/bench/loader_workers [--workers 0,1] [--repeats 3] [--threads 1]
 *                                    [--step-us 400] [--batch 100] [--data DIR] */
#include "bench_util.h"
#include "tapegrad.h"

static void spin_us(double us) {
  double end = bench_now() + 1e-6 * us;
  while (bench_now() < end) {
  }
}

int main(int argc, char **argv) {
  long repeats = 3, step_us = 400, batch = 100, threads = 1;
  const char *data = NULL, *workers = "0,1";
  for (int i = 1; i < argc; i++)
    if (!bench_flag_long(argc, argv, &i, "--repeats", &repeats) &&
        !bench_flag_long(argc, argv, &i, "--step-us", &step_us) &&
        !bench_flag_long(argc, argv, &i, "--batch", &batch) &&
        !bench_flag_long(argc, argv, &i, "--threads", &threads) &&
        !bench_flag_str(argc, argv, &i, "--data", &data) &&
        !bench_flag_str(argc, argv, &i, "--workers", &workers)) {
      fprintf(stderr, "usage: %s [--workers 0,1] [--repeats N] [--step-us N] [--batch N] "
                      "[--threads N] [--data DIR]\n", argv[0]);
      return 2;
    }
  if (repeats < 1 || repeats > 64 || batch < 1 || step_us < 0) {
    fprintf(stderr, "%s: --repeats 1..64, --batch >= 1, --step-us >= 0\n", argv[0]);
    return 2;
  }
  tg_set_num_threads((int)threads);
  tg_dataset *ds = NULL;
  if (tg_mnist_load(data, true, &ds) || tg_dataset_set_transform(ds, &(tg_transform){.flatten = true})) {
    fprintf(stderr, "%s: %s\n", argv[0], tg_last_error());
    tg_dataset_free(ds);
    return 1;
  }
  printf("samples=%zu batch=%ld step_us=%ld repeats=%ld\n", ds->length, batch, step_us, repeats);
  for (const char *w = workers; *w;) {
    char *end;
    long nw = strtol(w, &end, 10);
    if (end == w) break;
    w = *end == ',' ? end + 1 : end;
    tg_loader *l = tg_loader_new_workers(ds, (size_t)batch, true, false, 1, (int)nw);
    if (!l) {
      fprintf(stderr, "%s: %s\n", argv[0], tg_last_error());
      tg_dataset_free(ds);
      return 1;
    }
    double epoch_s[64], next_s[64];
    for (long r = 0; r < repeats; r++) {
      tg_tensor *x, *y;
      double t0 = bench_now(), in_next = 0;
      for (;;) {
        double a = bench_now();
        bool more = tg_loader_next(l, &x, &y);
        in_next += bench_now() - a;
        if (!more) break;
        spin_us((double)step_us);
      }
      epoch_s[r] = bench_now() - t0;
      next_s[r] = in_next;
    }
    char key[64];
    snprintf(key, sizeof key, "workers%ld_epoch_s", nw);
    bench_print_stat(key, epoch_s, (int)repeats, "%.3f");
    snprintf(key, sizeof key, "workers%ld_in_next_s", nw);
    bench_print_stat(key, next_s, (int)repeats, "%.3f");
    tg_loader_free(l);
  }
  tg_dataset_free(ds);
  return 0;
}
