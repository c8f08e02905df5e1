/* Minibatch SGD as the slide's pseudo-code puts it, on 10 items with batch
 * size k = 3:
 *
 *   for each epoch:
 *     shuffle the data
 *     for i = 0, k, 2k, ... while i + k <= n:   (the remainder is dropped)
 *       take an SGD step over items i .. i+k-1
 *
 * written with tapegrad's DataLoader (shuffle, drop_last, seed 42): every
 * epoch draws a new permutation, and the same seed gives the same order on
 * every run and machine. The step fits one number w to the items by
 * minimising the batch's mean of (w - x)^2: w <- w - lr * 2 (w - mean(batch)). */
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

#define N 10
#define K 3
#define EPOCHS 3

static void die(const char *what) {
  fprintf(stderr, "minibatch_epochs: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

int main(void) {
  float items[N];
  int64_t labels[N];
  for (int i = 0; i < N; i++) items[i] = (float)i, labels[i] = i; /* item i is the number i */
  tg_dataset *ds = tg_dataset_from_floats(N, 1, (const size_t[]){1}, items, labels);
  tg_loader *loader = ds ? tg_loader_new(ds, K, true, true, 42) : NULL;
  if (!loader) die("the dataset and its loader");
  tg_tensor *w = tg_requires_grad_(tg_zeros(TG_FLOAT32, TG_SHAPE(1)), true);
  tg_optimizer *opt = w ? tg_sgd_new(&w, 1, (tg_sgd_opts){.lr = 0.1}) : NULL;
  if (!opt) die("the parameter and its optimizer");
  printf("%d items, batch size %d, %zu steps per epoch (drop_last), seed 42\n", N, K,
         tg_loader_num_batches(loader));

  for (int e = 1; e <= EPOCHS; e++) {
    printf("[Epoch %d]\n", e);
    bool seen[N] = {false};
    tg_tensor *x, *y;
    while (tg_loader_next(loader, &x, &y)) {
      tg_scope_begin();
      tg_tensor *loss = tg_mean(tg_pow_scalar(tg_sub(w, tg_flatten(x, 0, -1)), 2));
      if (!loss || tg_backward(loss, NULL, false) != 0 || tg_optim_step(opt) != 0 ||
          tg_optim_zero_grad(opt) != 0)
        die("an SGD step");
      tg_scope_end();
      printf("SGD step taken over [");
      for (size_t i = 0; i < y->numel; i++) {
        int64_t item = (int64_t)tg_get(y, (size_t[]){i});
        seen[item] = true;
        printf("%s%lld", i ? ", " : "", (long long)item);
      }
      printf("] -> w = %.6f\n", tg_get(w, (size_t[]){0}));
    }
    if (tg_loader_failed(loader)) die("fetching a batch");
    printf("dropped this epoch: [");
    for (int i = 0, first = 1; i < N; i++)
      if (!seen[i]) printf("%s%d", first ? "" : ", ", i), first = 0;
    printf("]\n");
  }
  tg_optim_free(opt);
  tg_free(w);
  tg_loader_free(loader);
  tg_dataset_free(ds);
  tg_release_cached();
  return 0;
}
